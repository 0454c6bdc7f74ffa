//! `prometheus` against a real Prometheus: two days of a classic histogram
//! (`tests/fixtures/prometheus_history.py`) backfilled with `promtool`,
//! collected by `vitals collect`. Quantiles of each interval and of a whole
//! day must equal Prometheus's own `histogram_quantile` over the same
//! buckets and window to 1e-9; request and error counts must equal the
//! generator's truth, across a counter reset and a scrape gap too.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use vitals_core::latency::Histogram;
use vitals_core::period::DayRange;
use vitals_core::{Dataset, Store};

use crate::harness::{Workspace, fixture_json, free_port, service_stats};
use crate::peers::{Fault, FaultProxy, PrometheusServer};

/// Per service and interval start (epoch seconds): requests, errors, and the
/// service's histogram (its endpoints merged), from the store.
pub(crate) type Stored = BTreeMap<(String, i64), (f64, f64, Histogram, bool)>;

pub(crate) fn stored(ws: &Workspace) -> Stored {
    let store = Store::open(ws.path("store")).unwrap();
    let days = DayRange::new(
        NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
    );
    let df = store
        .scan(Dataset::Latency, days)
        .unwrap()
        .collect()
        .unwrap();
    let service = df.column("service").unwrap().str().unwrap().clone();
    let ts = df
        .column("ts")
        .unwrap()
        .datetime()
        .unwrap()
        .physical()
        .clone();
    let requests = df.column("requests").unwrap().f64().unwrap().clone();
    let errors = df.column("errors").unwrap().f64().unwrap().clone();
    let interpolated = df
        .column("apdex_interpolated")
        .unwrap()
        .bool()
        .unwrap()
        .clone();
    let bounds = df.column("hist_bounds_s").unwrap().list().unwrap().clone();
    let counts = df.column("hist_counts").unwrap().list().unwrap().clone();
    let floats = |s: Series| -> Vec<f64> { s.f64().unwrap().into_no_null_iter().collect() };
    let mut out: Stored = BTreeMap::new();
    for i in 0..df.height() {
        let key = (
            service.get(i).unwrap().to_string(),
            ts.get(i).unwrap() / 1_000_000,
        );
        let h = Histogram::new(
            floats(bounds.get_as_series(i).unwrap()),
            floats(counts.get_as_series(i).unwrap()),
        )
        .unwrap();
        let entry = out
            .entry(key)
            .or_insert_with(|| (0.0, 0.0, Histogram::default(), false));
        entry.0 += requests.get(i).unwrap();
        entry.1 += errors.get(i).unwrap();
        entry.2 = if entry.2.bounds().is_empty() {
            h
        } else {
            Histogram::merge([&entry.2, &h])
        };
        entry.3 |= interpolated.get(i).unwrap_or(false);
    }
    out
}

/// Prometheus's `histogram_quantile` of the service's buckets over
/// `(time - window, time]`, by plain difference of the counters.
fn prometheus_quantiles(
    prom: &PrometheusServer,
    q: f64,
    window: &str,
    time: i64,
) -> BTreeMap<String, f64> {
    let promql = format!(
        "histogram_quantile({q}, sum by (le, service) (http_request_duration_seconds_bucket \
         - http_request_duration_seconds_bucket offset {window}))"
    );
    prom.query(&promql, time)
        .into_iter()
        .map(|r| {
            (
                r["metric"]["service"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().parse::<f64>().unwrap(),
            )
        })
        .collect()
}

/// A workspace whose `prom` collector reads `url`.
pub(crate) fn prom_workspace(url: &str, extra: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        &format!(
            r#"
[store]
path = "store"

[collectors.prom]
type = "prometheus"
endpoint_url = "{url}"
endpoint_label = "endpoint"
{extra}

[analyzers.latency]
type = "latency_summary"
"#
        ),
    );
    ws
}

const TWO_DAYS: [&str; 5] = ["collect", "--since", "2026-11-02", "--until", "2026-11-03"];

#[test]
fn histograms_equal_prometheus_histogram_quantile_and_counts_equal_the_truth() {
    let history = Workspace::new();
    let expected = fixture_json("prometheus_history.py", &[history.dir.path().as_os_str()]);
    let prom = PrometheusServer::start_with_history(&history.path("history.om"));
    let ws = prom_workspace(&prom.url(), "");
    let run = ws.run(&TWO_DAYS);
    run.success();
    // Two days, four six-hour parts each, three queries per part.
    assert!(run.stdout.contains("from 24 API page(s)"), "{}", run.stdout);
    // A day per query: the same rows (the scrape gap's first missing step
    // starts the second six-hour part; the value carried across counts it).
    let whole_days = prom_workspace(&prom.url(), "query_hours = 24");
    whole_days.run(&TWO_DAYS).success();
    let by_day = stored(&whole_days);
    let stored = stored(&ws);
    assert!(stored == by_day, "daily queries differ");
    let start = expected["start"].as_i64().unwrap();
    let irregular = |service: &str, t: i64| {
        expected["irregular"][service]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_i64() == Some(t))
    };

    // Every regular interval of both days: vitals' merged histogram against
    // Prometheus's own answer for the same five minutes.
    let mut compared = 0;
    for k in 0..(2 * 288) {
        let t = start + k * 300;
        for q in [0.5, 0.95, 0.99] {
            let oracle = prometheus_quantiles(&prom, q, "5m", t + 300);
            for (service, want) in oracle {
                if irregular(&service, t) {
                    continue;
                }
                let (_, _, h, _) = &stored[&(service.clone(), t)];
                let got = h.quantile(q).unwrap();
                assert!(
                    (got - want).abs() <= 1e-9,
                    "{service} at {t} q={q}: vitals {got}, Prometheus {want}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 3000, "only {compared} quantiles compared");

    // Counts against the truth, the reset and the gap included.
    for (service, intervals) in expected["truth"].as_object().unwrap() {
        let mut gap = (0.0, 0.0);
        for (t, v) in intervals.as_object().unwrap() {
            let t: i64 = t.parse().unwrap();
            let (requests, errors) = (v[0].as_f64().unwrap(), v[1].as_f64().unwrap());
            let row = stored.get(&(service.clone(), t));
            if service == "search" && irregular(service, t) {
                // A step without a sample has no row.
                let (r, e) = row.map_or((0.0, 0.0), |x| (x.0, x.1));
                gap.0 += requests - r;
                gap.1 += errors - e;
                continue;
            }
            let (r, e, h, interpolated) = row
                .cloned()
                .unwrap_or_else(|| panic!("no row for {service} at {t}"));
            // T = 0.5 s is a bound; 4T = 2 s lies inside (1, 2.5]: the
            // counts are interpolated whenever that bucket holds requests.
            let i = h.bounds().iter().position(|b| *b == 2.5).unwrap();
            assert_eq!(interpolated, h.counts()[i] > 0.0, "{service} at {t}");
            assert_eq!((r, e), (requests, errors), "{service} at {t}");
        }
        // Across the gap, the requests land in the interval the series
        // comes back in: none are lost.
        assert_eq!(gap, (0.0, 0.0), "{service}: requests across the scrape gap");
    }

    // A whole day: `latency_summary` merges 288 intervals; Prometheus
    // differences the day's first and last samples.
    let day_end = start + 86_400;
    let doc = ws.analyze("2026-11-02", "2026-11-02");
    for (q, field) in [(0.5, "p50_s"), (0.95, "p95_s"), (0.99, "p99_s")] {
        for (service, want) in prometheus_quantiles(&prom, q, "1d", day_end) {
            let stats = service_stats(&doc, &service);
            let got = stats[field].as_f64().unwrap();
            println!(
                "prometheus: {service} 2026-11-02 {field} vitals {got:.9} s, Prometheus histogram_quantile {want:.9} s"
            );
            assert!(
                (got - want).abs() <= 1e-9,
                "{service} day {field}: vitals {got}, Prometheus {want}"
            );
        }
    }
    let day = DateTime::from_timestamp(start, 0).unwrap().date_naive();
    println!(
        "prometheus: {compared} interval quantiles equal Prometheus's from {day} over two days"
    );
    bad_answers_fail_clearly_or_are_retried(&prom);
}

/// Against the same Prometheus, through a fault-injecting proxy: a 503 is
/// retried; a 500 in the middle of the run, a query Prometheus refuses, a
/// sample that is not a number and a server that is not there each fail
/// the run with a clear message and store nothing.
fn bad_answers_fail_clearly_or_are_retried(prom: &PrometheusServer) {
    let unavailable = |status: u16| -> Fault {
        (
            status,
            vec![("Content-Type", "application/json")],
            r#"{"status":"error","errorType":"unavailable","error":"overloaded"}"#.to_string(),
        )
    };
    let throttled = FaultProxy::start(
        prom.port,
        Box::new(move |r| (r.n == 0).then(|| unavailable(503))),
    );
    let ws = prom_workspace(&throttled.url(), "");
    ws.run(&TWO_DAYS).success();
    assert_eq!(throttled.count(), 25, "24 queries and one retry");

    // Day 2's first query fails every time.
    let broken = FaultProxy::start(
        prom.port,
        Box::new(move |r| (r.n >= 12).then(|| unavailable(500))),
    );
    let ws = prom_workspace(&broken.url(), "max_attempts = 2");
    let run = ws.run(&TWO_DAYS);
    ws.assert_collect_failed(
        &run,
        "prom",
        "Prometheus query_range page 13: HTTP 500 Internal Server Error: overloaded",
    );

    let ws = prom_workspace(&prom.url(), "selector = 'job=~\"[\"'");
    let run = ws.run(&TWO_DAYS);
    ws.assert_collect_failed(&run, "prom", "HTTP 400 Bad Request");

    let junk = FaultProxy::garbling(prom.port, 1, ",\"0\"]", ",\"zero\"]");
    let ws = prom_workspace(&junk.url(), "");
    let run = ws.run(&TWO_DAYS);
    ws.assert_collect_failed(&run, "prom", "sample value `zero` is not a number");

    let nobody = format!("http://127.0.0.1:{}", free_port());
    let ws = prom_workspace(&nobody, "max_attempts = 1");
    let run = ws.run(&TWO_DAYS);
    ws.assert_collect_failed(&run, "prom", "Prometheus query_range page 1");
}
