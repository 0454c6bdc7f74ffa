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
