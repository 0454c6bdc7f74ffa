//! `vitals run`: serves valid Prometheus metrics and stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Workspace, free_port, http_get, promtool};

#[test]
fn run_serves_metrics_that_promtool_accepts_and_stops_on_sigterm() {
    let promtool = promtool();
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    let port = free_port();
    let config = std::fs::read_to_string(ws.path("config.toml")).unwrap();
    ws.write(
        "config.toml",
        &format!("{config}\n[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
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
    let (status, metrics) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);

    let mut check = Command::new(promtool)
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
