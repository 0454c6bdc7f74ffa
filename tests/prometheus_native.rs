//! `prometheus` on native histograms, against a real Prometheus with native
//! histograms on. promtool cannot backfill them, so a day of history as
//! Prometheus would have scraped it every 15 s is pushed through the
//! remote-write receiver, then collected by `vitals collect`. Each interval's
//! and the whole day's quantiles must equal Prometheus's own
//! `histogram_quantile` over the same window to 1e-9; request and error
//! counts must equal the generator's truth, across a counter reset, a scrape
//! gap and a drop in resolution, with a target exposing both kinds counted
//! once and a service half on classic, half on native buckets counted whole.

use std::collections::BTreeMap;

use vitals_analyzers::test_rng::Rng;

use crate::harness::service_stats;
use crate::peers::{FaultProxy, NativeSample, PrometheusServer, WriteSeries};
use crate::prometheus::{prom_workspace, stored};

const START: i64 = 1_793_577_600; // 2026-11-02T00:00:00Z
const DAY: i64 = 86_400;
const SCRAPE: i64 = 15;
const STEP: i64 = 300;
const METRIC: &str = "http_request_duration_seconds";
/// checkout /pay 200 restarts: its counts start again from zero.
const RESET_AT: i64 = START + 10 * 3600 + 5;
/// search is not scraped from 05:58 to 06:12 (inclusive): the steps at
/// 06:05 and 06:10, where the collector's second six-hour query starts, have
/// no value.
const GAP: (i64, i64) = (START + 5 * 3600 + 58 * 60, START + 6 * 3600 + 12 * 60);
/// upload drops from schema 3 to 2 (a client at its bucket limit).
const COARSER_AT: i64 = START + 12 * 3600 + 150;
/// 2^-10 s, a boundary at schemas 3 and 2.
const ZERO_THRESHOLD: f64 = 0.000_976_562_5;
/// The classic buckets of the targets that expose them.
const CLASSIC: [f64; 8] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What a target exposes.
#[derive(Clone, Copy, PartialEq)]
enum Kinds {
    Native,
    Classic,
    Both,
}

/// One instrumented handler of one process: what it has observed so far.
struct Exporter {
    service: &'static str,
    endpoint: &'static str,
    code: &'static str,
    instance: &'static str,
    kinds: Kinds,
    per_scrape: f64,
    median_s: f64,
    /// Schema-3 bucket counts.
    buckets: BTreeMap<i32, u64>,
    zero: u64,
    count: u64,
    sum: f64,
    classic: [u64; CLASSIC.len()],
}

impl Exporter {
    fn new(
        (service, endpoint, code): (&'static str, &'static str, &'static str),
        (instance, kinds): (&'static str, Kinds),
        per_scrape: f64,
        median_s: f64,
    ) -> Exporter {
        Exporter {
            service,
            endpoint,
            code,
            instance,
            kinds,
            per_scrape,
            median_s,
            buckets: BTreeMap::new(),
            zero: 0,
            count: 0,
            sum: 0.0,
            classic: [0; CLASSIC.len()],
        }
    }

    fn restart(&mut self) {
        *self = Exporter::new(
            (self.service, self.endpoint, self.code),
            (self.instance, self.kinds),
            self.per_scrape,
            self.median_s,
        );
    }

    /// Observes a scrape interval's requests; returns how many.
    fn observe(&mut self, rng: &mut Rng) -> u64 {
        let n = if self.per_scrape < 1.0 {
            u64::from(rng.uniform() < self.per_scrape)
        } else {
            let x = self.per_scrape + self.per_scrape.sqrt() * rng.normal();
            x.round().max(0.0) as u64
        };
        for _ in 0..n {
            // One in a hundred is a cache hit, below the zero threshold.
            let d = if rng.uniform() < 0.01 {
                0.0004
            } else {
                self.median_s * (0.6 * rng.normal()).exp()
            };
            if d <= ZERO_THRESHOLD {
                self.zero += 1;
            } else {
                *self
                    .buckets
                    .entry((d.log2() * 8.0).ceil() as i32)
                    .or_default() += 1;
            }
            for (c, b) in self.classic.iter_mut().zip(CLASSIC) {
                *c += u64::from(d <= b);
            }
            self.count += 1;
            self.sum += d;
        }
        n
    }

    fn labels(&self, name: &str) -> Vec<(String, String)> {
        [
            ("__name__", name),
            ("service", self.service),
            ("endpoint", self.endpoint),
            ("code", self.code),
            ("instance", self.instance),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The native histogram as exposed at time `t`.
    fn sample(&self, t: i64) -> NativeSample {
        let coarser = self.service == "upload" && t >= COARSER_AT;
        let mut buckets = BTreeMap::new();
        for (&i, &c) in &self.buckets {
            // Schema 2's bucket j is schema 3's 2j - 1 and 2j.
            let j = if coarser { (i + 1).div_euclid(2) } else { i };
            *buckets.entry(j).or_default() += c;
        }
        NativeSample {
            t_ms: t * 1000,
            count: self.count,
            sum: self.sum,
            schema: if coarser { 2 } else { 3 },
            zero_threshold: ZERO_THRESHOLD,
            zero_count: self.zero,
            buckets,
        }
    }

    /// This scrape's series for remote write: the native histogram, the
    /// classic one, or both.
    fn scrape(&self, t: i64, out: &mut Vec<WriteSeries>) {
        if self.kinds != Kinds::Classic {
            out.push(WriteSeries {
                labels: self.labels(METRIC),
                histograms: vec![self.sample(t)],
                ..WriteSeries::default()
            });
        }
        if self.kinds == Kinds::Native {
            return;
        }
        let float = |name: &str, le: Option<String>, v: u64| {
            let mut labels = self.labels(name);
            labels.extend(le.map(|le| ("le".to_string(), le)));
            WriteSeries {
                labels,
                floats: vec![(t * 1000, v as f64)],
                ..WriteSeries::default()
            }
        };
        for (b, c) in CLASSIC.iter().zip(self.classic) {
            out.push(float(&format!("{METRIC}_bucket"), Some(b.to_string()), c));
        }
        out.push(float(
            &format!("{METRIC}_bucket"),
            Some("+Inf".into()),
            self.count,
        ));
        out.push(float(&format!("{METRIC}_count"), None, self.count));
    }
}

/// Per service and interval start: (requests, errors).
type Truth = BTreeMap<(String, i64), (f64, f64)>;

/// Generates the day, pushes it into `prom` in time order, returns the truth.
fn push_day(prom: &PrometheusServer) -> Truth {
    let native = ("a", Kinds::Native);
    let mut exporters = vec![
        Exporter::new(("checkout", "/pay", "200"), native, 10.0, 0.18),
        Exporter::new(("checkout", "/pay", "503"), native, 0.2, 0.18),
        Exporter::new(("checkout", "/cart", "200"), native, 6.0, 0.06),
        Exporter::new(("checkout", "/cart", "503"), native, 0.15, 0.06),
        Exporter::new(("search", "/q", "200"), native, 15.0, 0.09),
        Exporter::new(("search", "/q", "503"), native, 0.3, 0.09),
        // A client exposing both kinds, both kept by Prometheus.
        Exporter::new(("upload", "/put", "200"), ("a", Kinds::Both), 3.0, 0.7),
        // A rollout: the old instance on classic buckets, the new on native.
        Exporter::new(
            ("billing", "/invoice", "200"),
            ("old", Kinds::Classic),
            2.0,
            0.3,
        ),
        Exporter::new(
            ("billing", "/invoice", "503"),
            ("old", Kinds::Classic),
            0.1,
            0.3,
        ),
        Exporter::new(
            ("billing", "/invoice", "200"),
            ("new", Kinds::Native),
            2.0,
            0.3,
        ),
        Exporter::new(
            ("billing", "/invoice", "503"),
            ("new", Kinds::Native),
            0.1,
            0.3,
        ),
    ];
    let mut rng = Rng(20_261_102);
    let mut truth = Truth::new();
    let mut batch = Vec::new();
    for t in (START..=START + DAY).step_by(SCRAPE as usize) {
        for e in &mut exporters {
            let restarts = e.service == "checkout" && e.endpoint == "/pay" && e.code == "200";
            if restarts && t - SCRAPE < RESET_AT && RESET_AT <= t {
                e.restart();
            }
            if t > START {
                let n = e.observe(&mut rng) as f64;
                let interval = START + (t - SCRAPE - START) / STEP * STEP;
                let entry = truth.entry((e.service.to_string(), interval)).or_default();
                entry.0 += n;
                if e.code == "503" {
                    entry.1 += n;
                }
            }
            let gap = e.service == "search" && (GAP.0..=GAP.1).contains(&t);
            if !gap {
                e.scrape(t, &mut batch);
            }
        }
        // Half an hour per request keeps each within the head's window.
        if (t - START) % 1800 == 0 {
            prom.push(&std::mem::take(&mut batch));
        }
    }
    assert!(batch.is_empty(), "the day ends on a push");
    truth
}

/// Prometheus's `histogram_quantile` per service over each `window` ending
/// at the steps from `first` to `last`: (service, window end) → quantile.
fn prometheus_quantiles(
    prom: &PrometheusServer,
    q: f64,
    window: &str,
    (first, last, step): (i64, i64, i64),
) -> BTreeMap<(String, i64), f64> {
    let promql =
        format!("histogram_quantile({q}, sum by (service) (increase({METRIC}[{window}])))");
    let mut out = BTreeMap::new();
    for series in prom.query_range(&promql, first, last, step) {
        let service = series["metric"]["service"].as_str().unwrap().to_string();
        for v in series["values"].as_array().unwrap() {
            let value: f64 = v[1].as_str().unwrap().parse().unwrap();
            if value.is_finite() {
                out.insert((service.clone(), v[0].as_i64().unwrap()), value);
            }
        }
    }
    out
}

#[test]
fn native_histograms_equal_prometheus_histogram_quantile_and_counts_equal_the_truth() {
    let prom = PrometheusServer::start_receiving();
    let truth = push_day(&prom);
    let ws = prom_workspace(&prom.url(), "");
    let run = ws.run(&["collect", "--since", "2026-11-02", "--until", "2026-11-02"]);
    run.success();
    // Four six-hour parts, three queries each.
    assert!(run.stdout.contains("from 12 API page(s)"), "{}", run.stdout);
    // upload exposes a classic histogram too: counted once, not twice
    // (its 9 `_bucket` series and its `_count`).
    assert!(
        run.stderr.contains(
            "10 classic series of `http_request_duration_seconds` left out: their targets expose it as a native histogram too"
        ),
        "{}",
        run.stderr
    );
    // Hour by hour (24 parts, each series' last value carried from one to
    // the next), the same rows.
    let hourly = prom_workspace(&prom.url(), "query_hours = 1");
    hourly
        .run(&["collect", "--since", "2026-11-02", "--until", "2026-11-02"])
        .success();
    let by_hour = stored(&hourly);
    let stored = stored(&ws);
    assert!(stored == by_hour, "hourly queries differ");
    // The intervals from 05:55 to 06:15: a plain difference of samples five
    // minutes apart does not measure them one by one.
    let gap_interval = |service: &str, t: i64| {
        service == "search" && (GAP.0 / STEP * STEP..GAP.1 / STEP * STEP + STEP).contains(&t)
    };

    // Every interval: vitals' histogram (endpoints and codes merged) against
    // Prometheus's own answer for the same five minutes. Prometheus's sum of
    // native histograms leaves billing's classic half out; vitals does not.
    let mut compared = 0;
    for q in [0.005, 0.5, 0.95, 0.99] {
        let oracle = prometheus_quantiles(&prom, q, "5m", (START + STEP, START + DAY, STEP));
        for ((service, end), want) in oracle {
            let t = end - STEP;
            if gap_interval(&service, t) || service == "billing" {
                continue;
            }
            let (_, _, h, interpolated) = stored
                .get(&(service.clone(), t))
                .unwrap_or_else(|| panic!("no row for {service} at {t}"));
            // T = 0.5 s and 4T = 2 s are boundaries at schemas 3 and 2.
            assert!(!interpolated, "{service} at {t}: Apdex interpolated");
            let got = h.quantile(q).unwrap();
            assert!(
                (got - want).abs() <= 1e-9,
                "{service} at {t} q={q}: vitals {got}, Prometheus {want}"
            );
            compared += 1;
        }
    }
    assert!(
        compared >= 4 * 3 * 285,
        "only {compared} quantiles compared"
    );

    // Counts against the truth: the reset, the gap (whose requests land in
    // the interval the series comes back in) and the schema change included.
    let mut gap = (0.0, 0.0);
    for ((service, t), (requests, errors)) in &truth {
        let row = stored.get(&(service.clone(), *t));
        if gap_interval(service, *t) {
            let (r, e) = row.map_or((0.0, 0.0), |x| (x.0, x.1));
            gap.0 += requests - r;
            gap.1 += errors - e;
            continue;
        }
        let (r, e, h, _) = row.unwrap_or_else(|| panic!("no row for {service} at {t}"));
        assert_eq!((*r, *e), (*requests, *errors), "{service} at {t}");
        assert_eq!(h.total(), *requests, "{service} at {t}: histogram total");
    }
    assert_eq!(gap, (0.0, 0.0), "search: requests across the scrape gap");

    // The whole day: `latency_summary` merges 288 intervals; Prometheus
    // takes the day's increase. upload changed resolution at noon: vitals
    // keeps the morning's finer buckets, where Prometheus lowers the whole
    // day to the coarser schema, so its quantiles differ inside a bucket.
    let doc = ws.analyze("2026-11-02", "2026-11-02");
    for (q, field) in [(0.5, "p50_s"), (0.95, "p95_s"), (0.99, "p99_s")] {
        let oracle = prometheus_quantiles(&prom, q, "1d", (START + DAY, START + DAY, DAY));
        assert_eq!(oracle.len(), 4, "{oracle:?}");
        for ((service, _), want) in oracle {
            if service == "billing" {
                continue;
            }
            let got = service_stats(&doc, &service)[field].as_f64().unwrap();
            println!(
                "prometheus native: {service} 2026-11-02 {field} vitals {got:.9} s, Prometheus histogram_quantile {want:.9} s"
            );
            let tolerance = if service == "upload" {
                want * (2f64.powf(0.25) - 1.0)
            } else {
                1e-9
            };
            assert!(
                (got - want).abs() <= tolerance,
                "{service} day {field}: vitals {got}, Prometheus {want}"
            );
        }
    }
    for service in ["checkout", "search", "upload", "billing"] {
        let want: f64 = truth
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|(_, (r, _))| r)
            .sum();
        let got = service_stats(&doc, service)["requests"].as_f64().unwrap();
        assert_eq!(got, want, "{service}: requests of the day");
    }
    println!("prometheus native: {compared} interval quantiles equal Prometheus's");

    // A native sample that is not a number fails the run and stores nothing.
    let junk = FaultProxy::garbling(prom.port, 0, "\"count\":\"", "\"count\":\"lots");
    let ws = prom_workspace(&junk.url(), "");
    let run = ws.run(&["collect", "--since", "2026-11-02", "--until", "2026-11-02"]);
    ws.assert_collect_failed(&run, "prom", "native histogram count `lots");
}
