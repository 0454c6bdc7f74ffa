//! `request_log` against DuckDB: the same requests, written by DuckDB as
//! gzipped CSV, JSON lines and Parquet, collected by `vitals collect`, and
//! read back from the store by DuckDB. Per interval, service and endpoint the
//! counts and Apdex counts must be equal and the quantiles equal DuckDB's
//! `quantile_cont` to 1e-9; each service's two-day P95 from `vitals
//! analyze` (`latency_summary` merging the histograms) must be within the
//! histograms' 1 % of the exact one.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::{Workspace, duckdb_rows, f64_of as f, fixture_json, service_stats};

const CONFIG: &str = r#"
[store]
path = "store"

[collectors.logs]
type = "request_log"
path = "logs"

[analyzers.latency]
type = "latency_summary"
"#;

type Key = (String, String, String);

#[test]
fn quantiles_counts_and_apdex_equal_duckdb_over_three_formats() {
    let ws = Workspace::new();
    ws.write("config.toml", CONFIG);
    let expected = fixture_json("request_logs.py", &[ws.dir.path().as_os_str()]);
    let run = ws.run(&["collect"]);
    run.success();
    assert!(run.stdout.contains("from 3 file(s)"), "{}", run.stdout);

    let stored = duckdb_rows(&format!(
        "SELECT strftime(ts, '%Y-%m-%d %H:%M:%S'), service, endpoint, requests, errors, \
                apdex_satisfied, apdex_tolerating, apdex_frustrated, apdex_t_s, interval_s, \
                p50_s, p95_s, p99_s \
         FROM read_parquet('{}/latency/**/*.parquet') ORDER BY ALL",
        ws.path("store").display()
    ));
    let actual: BTreeMap<Key, &Value> = stored
        .iter()
        .map(|r| {
            let s = |i: usize| r[i].as_str().unwrap().to_string();
            ((s(0), s(1), s(2)), r)
        })
        .collect();
    let intervals = expected["intervals"].as_array().unwrap();
    assert_eq!(actual.len(), intervals.len(), "the same groups");
    let mut checked = 0;
    for e in intervals {
        let key = (
            e[0].as_str().unwrap().to_string(),
            e[1].as_str().unwrap().to_string(),
            e[2].as_str().unwrap().to_string(),
        );
        let a = actual
            .get(&key)
            .unwrap_or_else(|| panic!("vitals has no row for {key:?}"));
        let (requests, errors, satisfied, tolerating) = (f(&e[3]), f(&e[4]), f(&e[5]), f(&e[6]));
        assert_eq!(f(&a[3]), requests, "{key:?} requests");
        assert_eq!(f(&a[4]), errors, "{key:?} errors");
        assert_eq!(f(&a[5]), satisfied, "{key:?} satisfied");
        assert_eq!(f(&a[6]), tolerating, "{key:?} tolerating");
        assert_eq!(
            f(&a[7]),
            requests - satisfied - tolerating,
            "{key:?} frustrated"
        );
        assert_eq!((f(&a[8]), f(&a[9])), (0.5, 300.0), "{key:?} T and interval");
        for (i, q) in [(10, "p50"), (11, "p95"), (12, "p99")] {
            let (v, want) = (f(&a[i]), f(&e[i - 3]));
            assert!(
                (v - want).abs() <= 1e-9,
                "{key:?} {q}: vitals {v}, DuckDB quantile_cont {want}"
            );
        }
        checked += 1;
    }
    println!("request_log: {checked} intervals equal DuckDB's counts, Apdex counts and quantiles");

    // Two days merged from 5-minute histograms, per service, by
    // `latency_summary`.
    let doc = ws.analyze("2026-11-02", "2026-11-03");
    let service_p95 = |service: &str| {
        let stats = service_stats(&doc, service);
        assert_eq!(stats["quantiles_from"], "histogram");
        assert_eq!(stats["apdex_interpolated"], false);
        (
            stats["p95_s"].as_f64().unwrap(),
            stats["apdex"].as_f64().unwrap(),
        )
    };
    // Apdex over both days from the summed counts: DuckDB's counts again.
    let mut counts: BTreeMap<String, [f64; 3]> = BTreeMap::new();
    for e in intervals {
        let c = counts
            .entry(e[1].as_str().unwrap().to_string())
            .or_default();
        for (x, i) in c.iter_mut().zip([3, 5, 6]) {
            *x += f(&e[i]);
        }
    }
    for (service, exact) in expected["service_p95"].as_object().unwrap() {
        let (p95, apdex) = service_p95(service);
        let [requests, satisfied, tolerating] = counts[service];
        let want = (satisfied + tolerating / 2.0) / requests;
        assert!(
            (apdex - want).abs() < 1e-12,
            "{service} Apdex {apdex} vs {want}"
        );
        let exact = exact.as_f64().unwrap();
        let error = (p95 - exact).abs() / exact;
        println!(
            "request_log: {service} two-day P95 (latency_summary, merged histograms) {p95:.6} s, exact {exact:.6} s, \
             relative error {:.4} %",
            error * 100.0
        );
        assert!(error <= 0.01, "{service}: {p95} vs {exact}");
    }
}

#[test]
fn bad_records_are_reported_with_their_line_and_field_and_the_rest_load() {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        &CONFIG.replace(
            "path = \"logs\"",
            "path = \"logs\"\nmax_bad_row_fraction = 0.5",
        ),
    );
    let mut csv = String::from("timestamp,service,endpoint,duration_ms,status\n");
    for i in 0..8 {
        csv.push_str(&format!("2026-11-02T10:0{i}:00Z,api,/x,{},200\n", 100 + i));
    }
    csv.push_str("yesterday,api,/x,100,200\n");
    csv.push_str("2026-11-02T10:00:00Z,api,/x,-5,200\n");
    csv.push_str("2026-11-02T10:00:00Z,api,/x,fast,200\n");
    ws.write("logs/a.csv", &csv);
    let run = ws.run(&["collect"]);
    run.success();
    for (line, field) in [(10, "timestamp"), (11, "duration_ms"), (12, "duration_ms")] {
        assert!(
            run.stderr.contains(&format!("a.csv:{line}: `{field}`")),
            "line {line} ({field}) reported:\n{}",
            run.stderr
        );
    }
    let rows = duckdb_rows(&format!(
        "SELECT sum(requests) FROM read_parquet('{}/latency/**/*.parquet')",
        ws.path("store").display()
    ));
    assert_eq!(f(&rows[0][0]), 8.0);
}

#[test]
fn a_file_without_a_duration_column_fails_and_stores_nothing() {
    let ws = Workspace::new();
    ws.write("config.toml", CONFIG);
    ws.write(
        "logs/a.csv",
        "timestamp,service,latency\n2026-11-02T10:00:00Z,api,12\n",
    );
    let run = ws.run(&["collect"]);
    ws.assert_collect_failed(
        &run,
        "logs",
        "is not a request log: no `duration_ms` column",
    );
    assert!(ws.store_files().is_empty());
}
