//! Every Grafana panel query parses as PromQL (each dashboard expression
//! becomes a recording rule that `promtool check rules`, Prometheus's own
//! parser, must accept) and answers with data from a real Prometheus that
//! scraped `vitals run`. That the queries name only vitals' metrics is also
//! checked in `src/metrics.rs`.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::daemon::{LATENCY_CONFIG, start_daemon, stop, two_services_request_log};
use crate::harness::{Workspace, free_port, http_get, promtool, repo};
use crate::peers::PrometheusServer;

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| exprs(i, out)),
        _ => {}
    }
}

/// Every panel query of every dashboard.
fn dashboard_queries() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(repo().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        exprs(&json, &mut found);
    }
    found
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let ws = Workspace::new();
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut count = 0;
    for expr in dashboard_queries() {
        count += 1;
        // A YAML double-quoted scalar: JSON's string escaping is valid in it.
        rules.push_str(&format!(
            "      - record: vitals:dashboard_query_{count}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    assert!(count >= 20, "only {count} dashboard queries found");
    ws.write("rules.yml", &rules);
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(ws.path("rules.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("dashboards: {count} queries parse as PromQL");
}

/// A sink whose receiver is never there: the delivery panels show its
/// outbox filling and its attempts failing.
const SINK_CONFIG: &str = r#"
[sinks.hooks]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
kinds = ["idle_resource"]
"#;

/// The sample fleet's inventory, utilization and prices (`fleet/`), the
/// three savings analyzers, their safety for the SLOs, commitments, and
/// the FOCUS sample's `BrightPathMatrix` application's cost per request
/// (the `api` requests of `logs/w39.csv`).
const SAVINGS_CONFIG: &str = r#"
[collectors.inventory]
type = "table_file"
dataset = "inventory"
path = "fleet/inventory.csv"

[collectors.utilization]
type = "table_file"
dataset = "utilization"
path = "fleet/utilization.csv.gz"

[collectors.prices]
type = "table_file"
dataset = "prices"
path = "fleet/prices.csv"

[analyzers.idle]
type = "idle_resource"

[analyzers.rightsizing]
type = "rightsizing"

[analyzers.spot]
type = "spot_candidate"

[analyzers.safe]
type = "slo_safe_savings"
services = { web = "api" }

[analyzers.commitments]
type = "commitment"
lookback_days = 7
discounts = { AWS = 0.28 }

[analyzers.unit_cost]
type = "cost_per_request"
tag_key = "application"
services = { BrightPathMatrix = "api" }
"#;

/// The daemon on cost (the FOCUS sample) and latency (request logs) data,
/// scraped every second by a real Prometheus: every panel's query answers
/// with at least one series. Only the report's age waits for a weekly report
/// run, which the test does not make. The daemon ran each analyzer only for
/// the figures of its own dataset.
#[test]
fn every_dashboard_query_answers_from_a_prometheus_that_scraped_the_daemon() {
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    ws.write("logs/requests.csv", &two_services_request_log());
    // Requests in the FOCUS sample's latest complete week, for the cost
    // per request.
    let mut w39 = String::from("timestamp,service,endpoint,duration_ms,status\n");
    for i in 0..500 {
        w39.push_str(&format!("{},api,/x,120,200\n", 1_727_222_400 + i * 60));
    }
    ws.write("logs/w39.csv", &w39);
    for f in ["inventory.csv", "utilization.csv.gz", "prices.csv"] {
        let to = ws.path(&format!("fleet/{f}"));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join("sample/fleet").join(f), to).unwrap();
    }
    let port = free_port();
    let config = std::fs::read_to_string(ws.path("config.toml")).unwrap();
    ws.write(
        "config.toml",
        &format!(
            r#"{config}
[server]
listen = "127.0.0.1:{port}"
{LATENCY_CONFIG}
{SAVINGS_CONFIG}
{SINK_CONFIG}"#
        ),
    );
    let daemon = start_daemon(&ws, port);
    let prom = PrometheusServer::start_scraping(&format!("127.0.0.1:{port}"));
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    // Three good scrapes: rates and increases need two samples.
    let scrapes = "sum_over_time(up{job=\"vitals\"}[1m])";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let good = prom
            .query(scrapes, now())
            .first()
            .and_then(|r| r["value"][1].as_str()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        if good >= 3.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape vitals 3 times in 60 s ({good})"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let queries: Vec<String> = dashboard_queries()
        .into_iter()
        .filter(|q| !q.contains("vitals_report_last_success"))
        .collect();
    let time = now();
    let empty: Vec<&String> = queries
        .iter()
        .filter(|q| prom.query(q, time).is_empty())
        .collect();
    assert!(empty.is_empty(), "panels without data: {empty:#?}");
    assert!(queries.len() >= 20, "only {} queries", queries.len());
    println!(
        "dashboards: {} queries answer from a Prometheus that scraped vitals",
        queries.len()
    );

    // One collect cycle refreshes the cost figures (latest week, latest
    // day) and the latency figures (7 days), each with only the analyzers
    // that read that dataset.
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    for (analyzer, runs) in [
        ("cost", 2),
        ("anomalies", 2),
        ("latency", 1),
        ("regressions", 1),
        ("slo", 1),
        ("idle", 1),
        ("rightsizing", 1),
        ("spot", 1),
        ("safe", 1),
        ("commitments", 2),
        ("unit_cost", 2),
    ] {
        let line = format!("vitals_analyzer_runs_total{{analyzer=\"{analyzer}\"}} {runs}\n");
        assert!(metrics.contains(&line), "missing {line:?} in:\n{metrics}");
    }
    stop(daemon);
}

/// The alert rules for vitals itself parse, and `promtool test rules`
/// (Prometheus's own rule evaluation) fires each on series where it should
/// and not where it should not (tests/fixtures/vitals_alerts_test.yml).
#[test]
fn the_alert_rules_fire_where_they_should() {
    let rules = repo().join("dashboards/vitals-alerts.yml");
    for args in [
        vec!["check".into(), "rules".into(), rules.display().to_string()],
        vec![
            "test".into(),
            "rules".into(),
            repo()
                .join("tests/fixtures/vitals_alerts_test.yml")
                .display()
                .to_string(),
        ],
    ] {
        let out = Command::new(promtool())
            .args(&args)
            .output()
            .expect("running promtool");
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
