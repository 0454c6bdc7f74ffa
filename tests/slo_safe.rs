//! `slo_safe_savings` end to end: the sample fleet's oversized `reports`
//! instance (m5.2xlarge → m5.large) under a `reports` service whose P95 is
//! 95 % of its 500 ms objective is not safe to downsize; under the same
//! service at 150 ms it is safe; and the report's totals split by safety
//! add up to its total, the downsizing's saving moving between them.

use serde_json::Value;

use crate::harness::{Workspace, copy_sample_dir, repo};

/// The root config (which runs `slo_safe_savings`) and a request log of
/// `reports` over the sample's last week, every request taking `ms`.
fn workspace(ms: f64) -> Workspace {
    let ws = Workspace::new();
    copy_sample_dir(&ws);
    let mut csv = String::from("timestamp,service,endpoint,duration_ms,status\n");
    // 2024-09-23 00:00 UTC, 300 requests a day for 7 days.
    let start = 1_727_049_600_i64;
    for i in 0..7 * 300 {
        csv.push_str(&format!("{},reports,/r,{ms},200\n", start + i * 288));
    }
    ws.write("reports_logs/requests.csv", &csv);
    let config = std::fs::read_to_string(repo().join("config.toml")).unwrap()
        + "\n[collectors.reports_logs]\ntype = \"request_log\"\npath = \"reports_logs/*.csv\"\n";
    ws.write("config.toml", &config);
    ws.run(&["run", "--once"]).success();
    ws
}

fn report(ws: &Workspace) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(ws.path("reports-out/weekly-2024-W39.json")).unwrap(),
    )
    .unwrap()
}

/// The counted savings of the line keyed `key` (0 if none).
fn line(json: &Value, key: &str) -> f64 {
    json["savings"]["by_safety"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["key"] == key)
        .map(|l| l["monthly"].as_f64().unwrap())
        .sum()
}

fn downsizing(json: &Value) -> Value {
    json["savings"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "rightsizing" && f["resource_id"] == "i-0d44reports000001")
        .expect("the sample's oversized reports instance")
        .clone()
}

#[test]
fn a_downsizing_under_a_service_near_its_p95_objective_is_not_safe() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample/fleet/expected.json")).unwrap(),
    )
    .unwrap();
    let saving = expected
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource_id"] == "i-0d44reports000001")
        .unwrap()["monthly_savings"]
        .as_f64()
        .unwrap();

    let near = report(&workspace(475.0));
    let f = downsizing(&near);
    let safety = &f["slo_safety"];
    assert_eq!(safety["safe"], false, "{f}");
    assert_eq!(safety["service"], "reports");
    let why = safety["reasons"][0].as_str().unwrap();
    assert!(
        why.starts_with("p95 ") && why.contains("above the 80 % margin"),
        "{why}"
    );
    let p95 = safety["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["objective"] == "p95")
        .unwrap();
    let ratio = p95["actual"].as_f64().unwrap() / p95["target"].as_f64().unwrap();
    assert!(
        (ratio - 0.95).abs() < 0.01,
        "P95 at 95 % of 500 ms: {ratio}"
    );
    // The split: the downsizing is the not-safe line; the three add up.
    let total: f64 = near["savings"]["totals"][0]["monthly"].as_f64().unwrap();
    assert!((line(&near, "unsafe") - saving).abs() < 0.005, "{near:#}");
    let sum = line(&near, "safe") + line(&near, "unsafe") + line(&near, "not_judged");
    assert!((sum - total).abs() < 0.005, "{sum} vs {total}");

    let healthy = report(&workspace(150.0));
    let f = downsizing(&healthy);
    assert_eq!(f["slo_safety"]["safe"], true, "{f}");
    assert_eq!(f["slo_safety"]["reasons"], serde_json::json!([]));
    assert_eq!(line(&healthy, "unsafe"), 0.0);
    assert!(
        (line(&healthy, "safe") - line(&near, "safe") - saving).abs() < 0.005,
        "the saving moved from not safe to safe"
    );
    // Savings no latency data speaks for (`etl`'s spot, the EU
    // downsizing) are not judged, in both.
    assert!(line(&healthy, "not_judged") > 0.0);
    assert!((line(&healthy, "not_judged") - line(&near, "not_judged")).abs() < 0.005);
}
