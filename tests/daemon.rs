//! `vitals run`: serves valid Prometheus metrics and stops cleanly on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Workspace, free_port, http_get, promtool, service_stats};

#[test]
fn run_serves_metrics_that_promtool_accepts_and_stops_on_sigterm() {
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    let port = free_port();
    let config = std::fs::read_to_string(ws.path("config.toml")).unwrap();
    ws.write(
        "config.toml",
        &format!("{config}\n[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let child = start_daemon(&ws, port);
    let (status, metrics) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);

    promtool_check(&metrics);
    for expected in [
        "vitals_build_info{version=",
        "vitals_collector_runs_total{collector=\"files\"} 1",
        "vitals_collector_failures_total{collector=\"files\"} 0",
        "vitals_collector_rows_total{collector=\"files\"} 1000",
        "vitals_collector_last_success_timestamp_seconds{collector=\"files\"}",
        "vitals_collector_duration_seconds_count{collector=\"files\"} 1",
        "vitals_ready 1",
        "vitals_cost_data_through_timestamp_seconds 1727654400",
        // The sample's cents are far below the anomaly minimum: quiet.
        "vitals_cost_anomalies{provider=\"AWS\",severity=\"warning\"} 0",
        "vitals_cost_anomalies{provider=\"AWS\",severity=\"critical\"} 0",
        "vitals_cost_week_credits{currency=\"USD\",provider=\"AWS\"}",
        "vitals_cost_week_usage_effective_by_pricing_category{currency=\"USD\",pricing_category=\"Standard\",provider=\"AWS\"}",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected:?} in:\n{metrics}"
        );
    }
    // The week gauges sum to the week's total (2024-W39 of the sample).
    let week_total: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("vitals_cost_week_billed{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(week_total > 0.0, "{metrics}");

    stop(child);
}

/// `request_log` over `logs/` and the three latency analyzers.
pub(crate) const LATENCY_CONFIG: &str = r#"
[collectors.logs]
type = "request_log"
path = "logs"

[analyzers.latency]
type = "latency_summary"

[analyzers.regressions]
type = "p95_regression"

[analyzers.slo]
type = "slo"
"#;

/// Ten hours of 2026-11-02 for `request_log`: `api` answers every minute
/// in 20 to 419 ms, all well; `search` every minute with a 503.
pub(crate) fn two_services_request_log() -> String {
    let mut csv = String::from("timestamp,service,endpoint,duration_ms,status\n");
    for i in 0..600 {
        let (h, m) = (i / 60 % 24, i % 60);
        let d = 20.0 + (i * 37 % 400) as f64;
        csv.push_str(&format!("2026-11-02T{h:02}:{m:02}:00Z,api,/x,{d},200\n"));
        csv.push_str(&format!(
            "2026-11-02T{h:02}:{m:02}:30Z,search,/q,{},503\n",
            d / 4.0
        ));
    }
    csv
}

/// Starts `vitals run` in `ws` and waits until `/readyz` says ready.
pub(crate) fn start_daemon(ws: &Workspace, port: u16) -> Child {
    let mut child = ws
        .command(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        match http_get(port, "/readyz") {
            Ok((200, _)) => break true,
            _ if Instant::now() > deadline => break false,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    if !ready {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("never ready: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(
        http_get(port, "/healthz").unwrap(),
        (200, "ok\n".to_string())
    );
    child
}

/// Asserts `promtool check metrics` accepts the exposition.
fn promtool_check(metrics: &str) {
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// Sends SIGTERM and asserts a clean stop within 20 s.
pub(crate) fn stop(mut child: Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped = Instant::now();
    let out = loop {
        if let Some(_status) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("SIGTERM received") && stderr.contains("stopped"),
        "{stderr}"
    );
}

#[test]
fn latency_gauges_equal_the_latest_days_summary() {
    let ws = Workspace::new();
    let port = free_port();
    ws.write(
        "config.toml",
        &format!(
            r#"
[store]
path = "store"

[server]
listen = "127.0.0.1:{port}"
{LATENCY_CONFIG}"#
        ),
    );
    ws.write("logs/requests.csv", &two_services_request_log());
    let child = start_daemon(&ws, port);
    let (status, metrics) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    promtool_check(&metrics);
    stop(child);

    let doc = ws.analyze("2026-11-02", "2026-11-02");
    let gauge = |line_start: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in:\n{metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    for service in ["api", "search"] {
        let stats = service_stats(&doc, service);
        let p95 = gauge(&format!(
            "vitals_latency_p95_seconds{{service=\"{service}\"}}"
        ));
        let apdex = gauge(&format!("vitals_apdex_ratio{{service=\"{service}\"}}"));
        assert!(
            (p95 - stats["p95_s"].as_f64().unwrap()).abs() < 1e-12,
            "{service} P95"
        );
        assert!(
            (apdex - stats["apdex"].as_f64().unwrap()).abs() < 1e-12,
            "{service} Apdex"
        );
        for metric in ["p95", "apdex"] {
            assert_eq!(
                gauge(&format!(
                    "vitals_latency_regressions_open{{metric=\"{metric}\",service=\"{service}\"}}"
                )),
                0.0
            );
        }
    }
    // Every search request is a 503: frustrated.
    assert_eq!(gauge("vitals_apdex_ratio{service=\"search\"}"), 0.0);
    // api: P95 of durations 20..419 ms is below 500 ms, no errors; search
    // fails its Apdex and error-rate objectives.
    for (service, objective, want) in [
        ("api", "p95", 1.0),
        ("api", "apdex", 1.0),
        ("api", "error_rate", 1.0),
        ("search", "p95", 1.0),
        ("search", "apdex", 0.0),
        ("search", "error_rate", 0.0),
    ] {
        assert_eq!(
            gauge(&format!(
                "vitals_slo_compliant{{objective=\"{objective}\",service=\"{service}\"}}"
            )),
            want,
            "{service} {objective}"
        );
    }
    // The breaches and the error-budget burn as findings.
    let slo: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "slo")
        .collect();
    let titles: Vec<&str> = slo.iter().map(|f| f["title"].as_str().unwrap()).collect();
    assert_eq!(slo.len(), 3, "{titles:#?}");
    assert!(slo.iter().all(|f| f["service"] == "search"), "{titles:#?}");
    let burn = slo
        .iter()
        .find(|f| f["evidence"]["objective"] == "error_budget_burn")
        .expect("a burn finding");
    assert_eq!(burn["severity"], "critical");
    assert_eq!(burn["evidence"]["burn"], "fast");
    // Every request an error against a 1 % budget: 100×.
    assert!((burn["evidence"]["burn_1h"].as_f64().unwrap() - 100.0).abs() < 1e-9);
}
