//! `gcp_monitoring` against a local server replaying Cloud Monitoring's
//! documented `projects.timeSeries.list` answers (no peer exists:
//! PEERS.md; shape of
//! https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list
//! and its `TimeSeries`/`Point` objects, errors as
//! https://cloud.google.com/apis/design/errors). Two VMs of `proj-alpha`
//! over two days, one with the Ops Agent's memory metric, CPU paged in two
//! after a 429;
//! `proj-beta` refuses access; a malformed page fails the run.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::{Workspace, duckdb_rows};
use crate::peers::{Fault, FaultProxy, Request};

fn ok(body: Value) -> Fault {
    (
        200,
        vec![("Content-Type", "application/json")],
        body.to_string(),
    )
}

/// 2024-09-28 00:00 UTC.
const START: i64 = 1_727_481_600;

/// The hourly value of `metric` for `vm` in hour `h` (0..48).
fn value(metric: &str, aligner: &str, vm: &str, h: i64) -> f64 {
    let base = if vm == "web-1" { 0.40 } else { 0.01 };
    match (metric, aligner) {
        ("cpu", "ALIGN_MEAN") => base + (h % 4) as f64 * 0.01,
        ("cpu", _) => base + 0.2,
        ("memory", "ALIGN_MEAN") => 55.0 + (h % 3) as f64,
        ("memory", _) => 70.0,
        ("received", _) => {
            if vm == "web-1" {
                25_000.0
            } else {
                120.5
            }
        }
        _ => {
            if vm == "web-1" {
                9_000.0
            } else {
                60.25
            }
        }
    }
}

fn series(metric: &str, aligner: &str, vm: &str, hours: std::ops::Range<i64>) -> Value {
    let points: Vec<Value> = hours
        .rev()
        .map(|h| {
            let end = chrono::DateTime::from_timestamp(START + (h + 1) * 3600, 0).unwrap();
            let start = end - chrono::Duration::hours(1);
            json!({
                "interval": {"startTime": start.to_rfc3339(), "endTime": end.to_rfc3339()},
                "value": {"doubleValue": value(metric, aligner, vm, h)},
            })
        })
        .collect();
    json!({
        "metric": {"type": metric, "labels": {"instance_name": vm}},
        "resource": {"type": "gce_instance", "labels": {"project_id": "proj-alpha", "instance_id": "1", "zone": "us-central1-a"}},
        "metricKind": "GAUGE", "valueType": "DOUBLE",
        "points": points,
    })
}

fn answer(r: &Request, malformed: bool) -> Fault {
    let line = &r.line;
    if r.n == 0 {
        return (
            429,
            vec![("Content-Type", "application/json")],
            json!({"error": {"code": 429, "message": "Quota exceeded for quota metric 'Time series queries'", "status": "RESOURCE_EXHAUSTED"}}).to_string(),
        );
    }
    if line.contains("/projects/proj-beta/") {
        return (
            403,
            vec![("Content-Type", "application/json")],
            json!({"error": {"code": 403, "message": "Permission monitoring.timeSeries.list denied (or the resource may not exist).", "status": "PERMISSION_DENIED"}}).to_string(),
        );
    }
    let aligner = ["ALIGN_MEAN", "ALIGN_MAX", "ALIGN_RATE"]
        .into_iter()
        .find(|a| line.contains(a))
        .unwrap_or("none");
    assert!(
        line.contains("aggregation.alignmentPeriod=3600s") && line.contains("gce_instance"),
        "{line}"
    );
    let metric = if line.contains("cpu%2Futilization") {
        "cpu"
    } else if line.contains("memory%2Fpercent_used") {
        "memory"
    } else if line.contains("received_bytes_count") {
        "received"
    } else {
        "sent"
    };
    if malformed && metric == "received" {
        return ok(
            json!({"timeSeries": [{"metric": {"labels": {"instance_name": "web-1"}}, "points": "soon"}]}),
        );
    }
    let vms: &[&str] = if metric == "memory" {
        &["web-1"]
    } else {
        &["web-1", "idle-1"]
    };
    if metric == "cpu" && aligner == "ALIGN_MEAN" {
        // Two pages: one VM each.
        return if line.contains("pageToken=p2") {
            ok(json!({"timeSeries": [series(metric, aligner, "idle-1", 0..48)]}))
        } else {
            ok(
                json!({"timeSeries": [series(metric, aligner, "web-1", 0..48)], "nextPageToken": "p2"}),
            )
        };
    }
    ok(
        json!({"timeSeries": vms.iter().map(|vm| series(metric, aligner, vm, 0..48)).collect::<Vec<_>>()}),
    )
}

fn workspace(url: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        &format!(
            "[store]\npath = \"store\"\n\n[collectors.gmon]\ntype = \"gcp_monitoring\"\n\
             projects = [\"proj-alpha\", \"proj-beta\"]\nanonymous = true\nendpoint_url = \"{url}\"\n"
        ),
    );
    ws
}

const DAYS: [&str; 5] = ["collect", "--since", "2024-09-28", "--until", "2024-09-29"];

#[test]
fn hourly_utilization_of_two_vms_with_one_project_refused() {
    let server = FaultProxy::start(0, Box::new(|r: &Request| Some(answer(r, false))));
    let ws = workspace(&server.url());
    let run = ws.run(&DAYS);
    run.success();
    assert!(
        run.stderr
            .contains("project `proj-beta`: access refused, skipped"),
        "{}",
        run.stderr
    );
    let rows = duckdb_rows(&format!(
        "SELECT resource_id, metric, epoch(ts)::BIGINT, avg, max, samples \
         FROM read_parquet('{}/utilization/**/*.parquet') ORDER BY ALL",
        ws.path("store").display()
    ));
    let mut count: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in &rows {
        let s = |i: usize| r[i].as_str().unwrap().to_string();
        let (vm, metric) = (s(0), s(1));
        let h = (s(2).parse::<i64>().unwrap() - START) / 3600;
        assert!((0..48).contains(&h), "{r:?}");
        let f = |i: usize| r[i].as_str().map(|v| v.parse::<f64>().unwrap());
        let (want_avg, want_max) = match metric.as_str() {
            "cpu_utilization" => (
                value("cpu", "ALIGN_MEAN", &vm, h) * 100.0,
                Some(value("cpu", "ALIGN_MAX", &vm, h) * 100.0),
            ),
            "memory_utilization" => (
                value("memory", "ALIGN_MEAN", &vm, h),
                Some(value("memory", "ALIGN_MAX", &vm, h)),
            ),
            "network_in_bytes" => (value("received", "ALIGN_RATE", &vm, h), None),
            "network_out_bytes" => (value("sent", "ALIGN_RATE", &vm, h), None),
            other => panic!("unexpected metric {other}"),
        };
        assert!((f(3).unwrap() - want_avg).abs() < 1e-9, "{r:?}");
        match want_max {
            Some(m) => assert!((f(4).unwrap() - m).abs() < 1e-9, "{r:?}"),
            None => assert!(f(4).is_none(), "{r:?}"),
        }
        assert_eq!(s(5), "1");
        *count.entry((vm, metric)).or_default() += 1;
    }
    let want: BTreeMap<(String, String), usize> = [
        ("idle-1", "cpu_utilization"),
        ("idle-1", "network_in_bytes"),
        ("idle-1", "network_out_bytes"),
        ("web-1", "cpu_utilization"),
        ("web-1", "memory_utilization"),
        ("web-1", "network_in_bytes"),
        ("web-1", "network_out_bytes"),
    ]
    .into_iter()
    .map(|(v, m)| ((v.to_string(), m.to_string()), 48))
    .collect();
    assert_eq!(count, want, "every hour of both days, per VM and metric");
}

#[test]
fn a_malformed_monitoring_page_fails_the_run_and_stores_nothing() {
    let server = FaultProxy::start(0, Box::new(|r: &Request| Some(answer(r, true))));
    let ws = workspace(&server.url());
    let run = ws.run(&DAYS);
    ws.assert_collect_failed(&run, "gmon", "series of `web-1`: `points` is not a list");
}
