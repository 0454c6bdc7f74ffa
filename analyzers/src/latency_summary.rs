//! `latency_summary`: how fast each service was for its users, per day and
//! over the period.
//!
//! Per source, service and endpoint (and per service over all its
//! endpoints): requests and their rate, errors and the error rate,
//! P50/P95/P99 and Apdex with the service's T and its rating band.
//!
//! Quantiles are never averaged. A span that is exactly one stored interval
//! takes the source's own quantiles (exact for raw requests); a longer one
//! merges the intervals' histograms and reads the quantiles off the merged
//! histogram with Prometheus's rule; intervals without histograms cannot be
//! combined and leave the quantiles unavailable. Apdex sums the stored
//! counts when they were counted with the service's T, else reads them off
//! the merged histogram, interpolated and flagged as such.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::Store;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::latency::{Apdex, ApdexBand, Histogram};
use vitals_core::period::DayRange;
use vitals_core::summary::{LatencyStats, LatencySummary, QuantileOrigin, Summary};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;

/// `[analyzers.NAME] type = "latency_summary"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummaryConfig {
    /// Apdex threshold T in seconds for services not in `apdex_t_s_by_service`.
    /// Default 0.5.
    #[serde(default = "default_apdex_t_s")]
    pub apdex_t_s: f64,
    /// Per-service T, e.g. `{ checkout = 0.3, reports = 2.0 }`.
    #[serde(default)]
    pub apdex_t_s_by_service: BTreeMap<String, f64>,
    /// Spans with fewer requests are marked low-traffic. Default 100.
    #[serde(default = "default_min_requests")]
    pub min_requests: f64,
}

fn default_apdex_t_s() -> f64 {
    0.5
}

fn default_min_requests() -> f64 {
    100.0
}

impl LatencySummaryConfig {
    pub fn apdex_t(&self, service: &str) -> f64 {
        self.apdex_t_s_by_service
            .get(service)
            .copied()
            .unwrap_or(self.apdex_t_s)
    }
}

#[derive(Debug)]
pub struct LatencySummaryAnalyzer {
    name: String,
    config: LatencySummaryConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let c: LatencySummaryConfig = config.parse()?;
    let positive = |t: f64| t > 0.0 && t.is_finite();
    if !positive(c.apdex_t_s) {
        return Err(config.error(Some("apdex_t_s"), "must be a positive number of seconds"));
    }
    if let Some((s, _)) = c.apdex_t_s_by_service.iter().find(|(_, t)| !positive(**t)) {
        return Err(config.error(
            Some("apdex_t_s_by_service"),
            format!("`{s}`: must be a positive number of seconds"),
        ));
    }
    if !(c.min_requests >= 0.0 && c.min_requests.is_finite()) {
        return Err(config.error(Some("min_requests"), "must be a number ≥ 0"));
    }
    Ok(Box::new(LatencySummaryAnalyzer {
        name: config.name.clone(),
        config: c,
    }))
}

impl Analyzer for LatencySummaryAnalyzer {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "latency_summary"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Latency]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let store_error = |source| AnalyzeError::Store {
            analyzer: self.name.clone(),
            source,
        };
        let data_through = ctx
            .store
            .latest_day(Dataset::Latency)
            .map_err(store_error)?;
        let rows = scan_rows(ctx.store, ctx.period, &self.name)?;
        let (period_stats, daily) = summarize(&rows, &self.config);
        Ok(AnalysisOutput {
            findings: Vec::new(),
            summaries: vec![Summary::Latency(Box::new(LatencySummary {
                analyzer: self.name.clone(),
                period: ctx.period,
                data_through,
                min_requests: self.config.min_requests,
                period_stats,
                daily,
            }))],
        })
    }
}

/// One stored interval.
#[derive(Debug, Clone, Default)]
pub struct IntervalRow {
    pub source: String,
    pub service: String,
    pub endpoint: Option<String>,
    pub ts_us: i64,
    pub interval_s: i64,
    pub requests: f64,
    pub errors: f64,
    /// T and (satisfied, tolerating, frustrated, interpolated).
    pub apdex: Option<(f64, [f64; 3], bool)>,
    pub histogram: Option<Histogram>,
    pub quantiles: Option<[f64; 3]>,
}

impl IntervalRow {
    pub fn day(&self) -> NaiveDate {
        chrono::DateTime::from_timestamp_micros(self.ts_us)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }
}

/// The store's rows, one [`IntervalRow`] each.
pub fn read_rows(frame: LazyFrame) -> PolarsResult<Vec<IntervalRow>> {
    let df = frame
        .sort(["ts"], SortMultipleOptions::default())
        .collect()?;
    let s = |n: &str| -> PolarsResult<StringChunked> { Ok(df.column(n)?.str()?.clone()) };
    let f = |n: &str| -> PolarsResult<Float64Chunked> { Ok(df.column(n)?.f64()?.clone()) };
    let (source, service, endpoint) = (s("source")?, s("service")?, s("endpoint")?);
    let ts = df.column("ts")?.datetime()?.physical().clone();
    let interval = df.column("interval_s")?.i64()?.clone();
    let (requests, errors) = (f("requests")?, f("errors")?);
    let (t, sat, tol, fru) = (
        f("apdex_t_s")?,
        f("apdex_satisfied")?,
        f("apdex_tolerating")?,
        f("apdex_frustrated")?,
    );
    let interpolated = df.column("apdex_interpolated")?.bool()?.clone();
    let (p50, p95, p99) = (f("p50_s")?, f("p95_s")?, f("p99_s")?);
    let bounds = df.column("hist_bounds_s")?.list()?.clone();
    let counts = df.column("hist_counts")?.list()?.clone();
    let floats = |s: Option<Series>| -> Option<Vec<f64>> {
        s.and_then(|s| s.f64().ok().map(|c| c.into_no_null_iter().collect()))
    };
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let histogram = match (
            floats(bounds.get_as_series(i)),
            floats(counts.get_as_series(i)),
        ) {
            (Some(b), Some(c)) => Histogram::new(b, c).ok(),
            _ => None,
        };
        let apdex = match (t.get(i), sat.get(i), tol.get(i), fru.get(i)) {
            (Some(t), Some(a), Some(b), Some(c)) => {
                Some((t, [a, b, c], interpolated.get(i).unwrap_or(false)))
            }
            _ => None,
        };
        let quantiles = match (p50.get(i), p95.get(i), p99.get(i)) {
            (Some(a), Some(b), Some(c)) => Some([a, b, c]),
            _ => None,
        };
        rows.push(IntervalRow {
            source: source.get(i).unwrap_or_default().to_string(),
            service: service.get(i).unwrap_or_default().to_string(),
            endpoint: endpoint.get(i).map(str::to_string),
            ts_us: ts.get(i).unwrap_or_default(),
            interval_s: interval.get(i).unwrap_or_default(),
            requests: requests.get(i).unwrap_or(0.0),
            errors: errors.get(i).unwrap_or(0.0),
            apdex,
            histogram,
            quantiles,
        });
    }
    Ok(rows)
}

/// The store's latency rows in `range`, for analyzer `analyzer`.
pub fn scan_rows(
    store: &Store,
    range: DayRange,
    analyzer: &str,
) -> Result<Vec<IntervalRow>, AnalyzeError> {
    let frame = store
        .scan(Dataset::Latency, Some(range))
        .map_err(|source| AnalyzeError::Store {
            analyzer: analyzer.to_string(),
            source,
        })?;
    read_rows(frame).map_err(|e| AnalyzeError::Frame {
        analyzer: analyzer.to_string(),
        message: format!("reading latency for {range}: {e}"),
    })
}

/// The intervals' histograms added up; `None` if any interval has none.
pub fn merged_histogram(members: &[&IntervalRow]) -> Option<Histogram> {
    members
        .iter()
        .all(|r| r.histogram.is_some())
        .then(|| Histogram::merge(members.iter().filter_map(|r| r.histogram.as_ref())))
}

/// Apdex counts at `t`: the stored counts summed when every interval was
/// counted at `t`, else read off `merged` (interpolated where `t` or `4t`
/// falls inside a bucket); `None` when neither is possible.
pub fn apdex_counts(members: &[&IntervalRow], merged: Option<&Histogram>, t: f64) -> Option<Apdex> {
    let counted_at_t = !members.is_empty()
        && members
            .iter()
            .all(|r| r.apdex.is_some_and(|(rt, _, _)| (rt - t).abs() < 1e-12));
    if counted_at_t {
        let mut a = Apdex::default();
        for (_, [s, tol, f], i) in members.iter().filter_map(|r| r.apdex) {
            a.satisfied += s;
            a.tolerating += tol;
            a.frustrated += f;
            a.interpolated |= i;
        }
        Some(a)
    } else {
        merged.map(|h| h.apdex(t))
    }
}

type Key = (String, String, Option<String>, Option<NaiveDate>);

/// Per-period and per-day stats of `rows`, sorted by source, service,
/// endpoint (service totals first) and day.
pub fn summarize(
    rows: &[IntervalRow],
    config: &LatencySummaryConfig,
) -> (Vec<LatencyStats>, Vec<LatencyStats>) {
    let mut groups: BTreeMap<Key, Vec<&IntervalRow>> = BTreeMap::new();
    for r in rows {
        let day = r.day();
        let endpoints = match &r.endpoint {
            Some(e) => vec![None, Some(e.clone())],
            None => vec![None],
        };
        for endpoint in endpoints {
            for span in [None, Some(day)] {
                groups
                    .entry((r.source.clone(), r.service.clone(), endpoint.clone(), span))
                    .or_default()
                    .push(r);
            }
        }
    }
    let (mut period, mut daily) = (Vec::new(), Vec::new());
    for ((source, service, endpoint, day), members) in groups {
        let t = config.apdex_t(&service);
        let stats = stats(
            source,
            service,
            endpoint,
            day,
            &members,
            t,
            config.min_requests,
        );
        match day {
            None => period.push(stats),
            Some(_) => daily.push(stats),
        }
    }
    (period, daily)
}

fn stats(
    source: String,
    service: String,
    endpoint: Option<String>,
    day: Option<NaiveDate>,
    members: &[&IntervalRow],
    t: f64,
    min_requests: f64,
) -> LatencyStats {
    let requests: f64 = members.iter().map(|r| r.requests).sum();
    let errors: f64 = members.iter().map(|r| r.errors).sum();
    // Endpoints of one service share intervals: count each interval once.
    let covered: i64 = members
        .iter()
        .map(|r| (r.ts_us, r.interval_s))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|(_, s)| s)
        .sum();
    let merged = merged_histogram(members);
    let (quantiles, quantiles_from) = match (members, &merged) {
        ([one], _) if one.quantiles.is_some() => (one.quantiles, QuantileOrigin::Source),
        (_, Some(h)) if h.total() > 0.0 => (
            Some([0.5, 0.95, 0.99].map(|q| h.quantile(q).unwrap_or(f64::NAN))),
            QuantileOrigin::Histogram,
        ),
        _ => (None, QuantileOrigin::Unavailable),
    };
    let counts = apdex_counts(members, merged.as_ref(), t);
    let interpolated = counts.is_some_and(|a| a.interpolated);
    let apdex = counts.and_then(|a| a.score());
    let q = |i: usize| quantiles.map(|q| q[i]).filter(|v| v.is_finite());
    LatencyStats {
        source,
        service,
        endpoint,
        day,
        requests,
        request_rate_per_s: (covered > 0).then(|| requests / covered as f64),
        errors,
        error_rate: (requests > 0.0).then(|| errors / requests),
        p50_s: q(0),
        p95_s: q(1),
        p99_s: q(2),
        quantiles_from,
        apdex_t_s: t,
        apdex,
        apdex_band: apdex.map(ApdexBand::of),
        apdex_interpolated: apdex.is_some() && interpolated,
        low_traffic: requests < min_requests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn row(ts_us: i64, endpoint: Option<&str>, counts: [f64; 3]) -> IntervalRow {
        let h = Histogram::new(
            vec![0.1, 0.5, 1.0, INF],
            vec![counts[0], counts[1], counts[2], 0.0],
        )
        .unwrap();
        IntervalRow {
            source: "prom".into(),
            service: "api".into(),
            endpoint: endpoint.map(str::to_string),
            ts_us,
            interval_s: 300,
            requests: h.total(),
            errors: 1.0,
            apdex: None,
            histogram: Some(h),
            quantiles: None,
        }
    }

    fn config() -> LatencySummaryConfig {
        LatencySummaryConfig {
            apdex_t_s: 0.5,
            apdex_t_s_by_service: BTreeMap::new(),
            min_requests: 100.0,
        }
    }

    #[test]
    fn intervals_merge_by_histogram_never_by_averaging_quantiles() {
        // Interval 1: 90 fast requests; interval 2: 10 slow ones.
        let rows = vec![
            row(0, Some("/a"), [90.0, 0.0, 0.0]),
            row(300_000_000, Some("/a"), [0.0, 0.0, 10.0]),
        ];
        let (period, daily) = summarize(&rows, &config());
        assert_eq!(period.len(), 2, "the service and its endpoint");
        assert_eq!(daily.len(), 2);
        let s = &period[0];
        assert_eq!(s.endpoint, None);
        assert_eq!(s.requests, 100.0);
        assert_eq!(s.error_rate, Some(0.02));
        assert_eq!(s.request_rate_per_s, Some(100.0 / 600.0));
        assert_eq!(s.quantiles_from, QuantileOrigin::Histogram);
        // Rank 95 of 100 is the 5th of 10 in (0.5, 1]: 0.75. Averaging the
        // intervals' P95s (0.095 and 0.975) would say 0.535.
        assert!((s.p95_s.unwrap() - 0.75).abs() < 1e-12);
        // 90 satisfied; the 10 slow ones are within 1 s ≤ 4T: tolerating.
        assert!((s.apdex.unwrap() - 0.95).abs() < 1e-12);
        assert_eq!(s.apdex_band, Some(ApdexBand::Excellent));
        // T = 0.5 is a bound, and nothing lies beyond 1 s where 4T falls.
        assert!(!s.apdex_interpolated);
        assert!(!s.low_traffic);
    }

    #[test]
    fn one_interval_keeps_the_sources_exact_quantiles_and_counts() {
        let mut r = row(0, None, [3.0, 1.0, 1.0]);
        r.quantiles = Some([0.05, 0.7, 0.9]);
        r.apdex = Some((0.5, [4.0, 0.0, 1.0], false));
        let (period, _) = summarize(&[r], &config());
        let s = &period[0];
        assert_eq!(s.quantiles_from, QuantileOrigin::Source);
        assert_eq!(s.p95_s, Some(0.7));
        assert!((s.apdex.unwrap() - 0.8).abs() < 1e-12);
        assert!(s.low_traffic);
    }

    #[test]
    fn another_t_reads_apdex_off_the_histogram_and_flags_it() {
        let mut r = row(0, None, [50.0, 50.0, 0.0]);
        r.apdex = Some((0.5, [100.0, 0.0, 0.0], false));
        let mut c = config();
        c.apdex_t_s_by_service.insert("api".into(), 0.3);
        let (period, _) = summarize(&[r], &c);
        let s = &period[0];
        // T = 0.3: 50 + 50 × 0.2/0.4 = 75 satisfied; 4T = 1.2 > 1: the
        // other 25 tolerating.
        assert!((s.apdex.unwrap() - (75.0 + 12.5) / 100.0).abs() < 1e-12);
        assert!(s.apdex_interpolated);
        assert_eq!(s.apdex_t_s, 0.3);
    }
}
