//! `p95_regression` end to end: ten days of hourly request logs for two
//! services, one of which gets 40 % slower at a known hour; `vitals analyze`
//! must report that regression at that hour (±1), and nothing for the
//! steady service.

use std::fmt::Write;

use serde_json::Value;
use vitals_analyzers::test_rng::Rng;

use crate::harness::Workspace;

#[test]
fn a_step_in_p95_is_found_at_its_hour_and_a_steady_service_stays_quiet() {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        r#"
[store]
path = "store"

[collectors.logs]
type = "request_log"
path = "logs"

[analyzers.regressions]
type = "p95_regression"
"#,
    );
    let mut rng = Rng(42);
    let mut csv = String::from("timestamp,service,endpoint,duration_ms,status\n");
    // 2026-11-01 .. 2026-11-10; `api` is 40 % slower from 2026-11-08 14:00.
    let start = 1_793_491_200; // 2026-11-01T00:00:00Z
    let step_at = start + 7 * 86_400 + 14 * 3_600;
    for hour in 0..(10 * 24) {
        let t0 = start + hour * 3_600;
        for (service, median) in [("api", 120.0), ("search", 80.0)] {
            let slow = if service == "api" && t0 >= step_at {
                1.4
            } else {
                1.0
            };
            for i in 0..200 {
                let d = (f64::ln(median * slow) + 0.5 * rng.normal()).exp();
                let _ = writeln!(csv, "{},{service},/x,{d:.3},200", t0 + i * 17);
            }
        }
    }
    ws.write("logs/requests.csv", &csv);
    ws.run(&["collect"]).success();
    let doc = ws.analyze("2026-11-08", "2026-11-10");
    let findings: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "p95_regression")
        .collect();
    for f in &findings {
        println!("p95_regression: {}", f["title"]);
    }
    let p95: Vec<&&Value> = findings
        .iter()
        .filter(|f| f["evidence"]["metric"] == "p95")
        .collect();
    assert_eq!(p95.len(), 1, "{findings:#?}");
    let f = p95[0];
    assert_eq!(f["service"], "api");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["evidence"]["direction"], "regression");
    let at = chrono::DateTime::parse_from_rfc3339(f["evidence"]["at"].as_str().unwrap()).unwrap();
    assert!(
        (at.timestamp() - step_at).abs() <= 3_600,
        "change at {at}, step at {step_at}"
    );
    let magnitude = f["evidence"]["magnitude"].as_f64().unwrap();
    assert!((0.3..0.5).contains(&magnitude), "magnitude {magnitude}");
    assert!(f["evidence"]["p_value"].as_f64().unwrap() < 0.01);
    assert!(
        findings.iter().all(|f| f["service"] == "api"),
        "the steady service stays quiet: {findings:#?}"
    );
}

/// Hourly request logs of `api` (+40 % from `bad_from` until `bad_until`,
/// then back) and `search` (+40 % from `fresh_from` to the end), 200
/// log-normal requests an hour from 2024-09-16 to the end of 2024-09-29.
fn logs(bad_from: i64, bad_until: i64, fresh_from: i64) -> String {
    let mut rng = Rng(2024);
    let mut csv = String::from("timestamp,service,endpoint,duration_ms,status\n");
    let start = 1_726_444_800; // 2024-09-16T00:00:00Z
    for hour in 0..(14 * 24) {
        let t0 = start + hour * 3_600;
        for (service, median) in [("api", 120.0), ("search", 80.0)] {
            let slow = match service {
                "api" if (bad_from..bad_until).contains(&t0) => 1.4,
                "search" if t0 >= fresh_from => 1.4,
                _ => 1.0,
            };
            for i in 0..200 {
                let d = (f64::ln(median * slow) + 0.5 * rng.normal()).exp();
                let _ = writeln!(csv, "{},{service},/x,{d:.3},200", t0 + i * 17);
            }
        }
    }
    csv
}

/// A regression that was rolled back is one finding with both times, and
/// the weekly report shows it; one in the last hours is reported as new,
/// with the hours of evidence it has.
#[test]
fn a_recovered_regression_has_both_times_and_a_fresh_one_its_evidence() {
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    let config = std::fs::read_to_string(ws.path("config.toml")).unwrap();
    ws.write(
        "config.toml",
        &format!(
            "{config}
[collectors.logs]
type = \"request_log\"
path = \"logs\"

[analyzers.latency]
type = \"latency_summary\"

[analyzers.regressions]
type = \"p95_regression\"
"
        ),
    );
    // Tue 2024-09-24 10:00 to Wed 01:00 (15 hours); `search` from Sun 19:00.
    let bad_from = 1_727_172_000;
    let bad_until = bad_from + 15 * 3_600;
    let fresh_from = 1_727_636_400;
    ws.write("logs/requests.csv", &logs(bad_from, bad_until, fresh_from));
    ws.run(&["collect"]).success();
    let doc = ws.analyze("2024-09-23", "2024-09-29");
    let p95: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "p95_regression" && f["evidence"]["metric"] == "p95")
        .collect();
    for f in &p95 {
        println!("p95_regression: {}", f["title"]);
    }
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    let api: Vec<&&Value> = p95.iter().filter(|f| f["service"] == "api").collect();
    assert_eq!(
        api.len(),
        1,
        "one finding for the regression and its recovery: {p95:#?}"
    );
    let e = &api[0]["evidence"];
    assert_eq!(e["direction"], "regression");
    assert_eq!(e["recovered"], true);
    assert_eq!(api[0]["severity"], "warning");
    assert!((time(&e["at"]) - bad_from).abs() <= 3_600, "{e}");
    assert!((time(&e["recovered_at"]) - bad_until).abs() <= 3_600, "{e}");
    let title = api[0]["title"].as_str().unwrap();
    assert!(
        title.contains("from 2024-09-24 ")
            && title.contains(" to 2024-09-25 ")
            && title.contains("recovered"),
        "{title}"
    );

    let search: Vec<&&Value> = p95.iter().filter(|f| f["service"] == "search").collect();
    assert_eq!(search.len(), 1, "{p95:#?}");
    let e = &search[0]["evidence"];
    assert_eq!(e["recovered"], false);
    assert!(e["recovered_at"].is_null());
    assert_eq!(e["fresh"], true);
    assert!((time(&e["at"]) - fresh_from).abs() <= 3_600, "{e}");
    let after = e["points_after"].as_u64().unwrap();
    assert!((4..=6).contains(&after), "{e}");
    assert_eq!(e["evidence_s"].as_u64().unwrap(), after * 3_600);
    assert!(e["p_value"].as_f64().unwrap() <= 0.01);
    let title = search[0]["title"].as_str().unwrap();
    assert!(
        title.contains(&format!("new, {after} h of evidence")),
        "{title}"
    );

    // The weekly report lists both under their services.
    ws.run(&[
        "report", "weekly", "--week", "2024-W39", "--format", "md", "--out", "week.md",
    ])
    .success();
    let md = std::fs::read_to_string(ws.path("week.md")).unwrap();
    assert!(md.contains("recovered"), "{md}");
    assert!(md.contains(" to 2024-09-25 "), "{md}");
    assert!(md.contains("h of evidence"), "{md}");
}
