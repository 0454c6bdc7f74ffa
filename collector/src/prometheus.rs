//! `prometheus`: latency histograms from a Prometheus server's HTTP API.
//!
//! Each day of the window is read in parts of `query_hours` (so that an
//! answer holds a bounded number of points however many series there are),
//! each with three `query_range` calls at the interval as step, each for raw
//! series (not summed), so that every series is differenced on its own:
//!
//! 1. the histogram: the classic `_bucket` series and the native-histogram
//!    series (named as the metric itself);
//! 2. the classic `_count` series;
//! 3. the error requests: the classic `_count` and the native series that
//!    match the error selector.
//!
//! The increase of a series over an interval is the difference of its
//! values at the interval's two ends; a value below the one before is a
//! counter reset, after which the new value is the increase (as
//! `increase()` reads resets). Unlike `increase()`, nothing is extrapolated
//! to the window's edges, so the intervals of a day add up exactly to the
//! day, and the days to the week. Native histograms are differenced bucket by
//! bucket, through resolution changes ([`native`]).
//!
//! A series missing at a step (no sample within Prometheus's lookback) or
//! whose value is NaN resumes at its next value: the increase across the gap
//! is counted in the interval in which the series comes back. Each series'
//! latest value is carried from one part of the day to the next, so the parts
//! change nothing. A series' first value of the day has nothing before it and
//! counts nothing.
//!
//! Per interval, service and endpoint (the grouping labels), the bucket
//! increases of all series are added into one histogram: classic buckets
//! per `le` (made monotonic as `histogram_quantile` does), native buckets on
//! their own boundaries. Requests come from `_count` (or the native count),
//! errors from the error selector. A target exposing both kinds (which
//! Prometheus keeps when told to scrape classic histograms too) counts once,
//! from the native histogram: its classic series are left out. Targets on
//! classic histograms beside targets on native ones (a rollout) all count,
//! their buckets merged onto the union of bounds. Apdex at
//! `apdex_t_s` is read off the histogram; where T or 4T is not a bucket
//! bound it is interpolated inside the bucket as `histogram_quantile` would,
//! and the row says so.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate};
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors, Secret};
use vitals_core::latency::Histogram;

use crate::aws;
use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::error::CollectError;
use crate::http_retry;
use crate::latency_rows::{self, LatencyFrameBuilder, LatencyRow, last_complete_interval_end};

mod native;

use native::{Native, NativeJson, NativeSum};

const API: &str = "Prometheus query_range";

/// `[collectors.NAME] type = "prometheus"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// The server's base URL, e.g. `http://prometheus:9090`.
    pub endpoint_url: String,
    /// The histogram's name: a native histogram's, or a classic one's
    /// without `_bucket`. Default `http_request_duration_seconds`.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The label that names the service. Default `service`.
    #[serde(default = "default_service_label")]
    pub service_label: String,
    /// A label that names the endpoint (e.g. `handler`, `route`); without
    /// it, rows are per service.
    pub endpoint_label: Option<String>,
    /// Extra label matchers for every query, e.g. `job="api", env="prod"`.
    pub selector: Option<String>,
    /// Matchers that pick the error requests among `_count`'s (or the
    /// native histogram's) series. Default `code=~"5.."`.
    #[serde(default = "default_error_selector")]
    pub error_selector: String,
    /// The interval (and query step), e.g. `1m`, `5m` (default); it must
    /// divide a day and be at least 8 s (a day in one query).
    #[serde(default = "latency_rows::default_interval")]
    pub interval: String,
    /// Hours of a day per query (1, 2, 3, 4, 6, 8, 12 or 24): each series'
    /// points of that many hours arrive in one answer, so this bounds the
    /// answers' size for high-cardinality histograms. Results do not depend
    /// on it. Default 6.
    #[serde(default = "default_query_hours")]
    pub query_hours: u32,
    /// Apdex threshold T in seconds. Default 0.5.
    #[serde(default = "latency_rows::default_apdex_t_s")]
    pub apdex_t_s: f64,
    /// Days read per run without `--since`/`--until`, today (to its last
    /// complete interval) included. Default 2.
    #[serde(default = "latency_rows::default_lookback_days")]
    pub lookback_days: u32,
    /// Sent as `Authorization: Bearer …` (managed Prometheus, proxies).
    pub bearer_token: Option<Secret>,
    /// Attempts per request, the first included; connection failures, 429
    /// and 5xx are retried with jittered backoff. Default 5.
    #[serde(default = "aws::default_max_attempts")]
    pub max_attempts: u32,
}

fn default_metric() -> String {
    "http_request_duration_seconds".into()
}

fn default_service_label() -> String {
    "service".into()
}

fn default_query_hours() -> u32 {
    6
}

fn default_error_selector() -> String {
    "code=~\"5..\"".into()
}

#[derive(Debug)]
pub struct Prometheus {
    name: String,
    config: PrometheusConfig,
    step_s: i64,
    /// Seconds per query: `query_hours`, a whole number of steps.
    chunk_s: i64,
    http: reqwest::Client,
}

/// Builds a `prometheus` collector from its config table (no I/O).
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let c: PrometheusConfig = config.parse()?;
    aws::check(config, Some(&c.endpoint_url), c.max_attempts)?;
    // Prometheus answers at most 11,000 points per series: a day's steps
    // must fit in one query.
    let step_s = config.seconds_dividing_day("interval", &c.interval, 8)?;
    if !(c.apdex_t_s > 0.0 && c.apdex_t_s.is_finite()) {
        return Err(config.error(Some("apdex_t_s"), "must be a positive number of seconds"));
    }
    if c.query_hours == 0 || 24 % c.query_hours != 0 {
        return Err(config.error(
            Some("query_hours"),
            "must divide a day: 1, 2, 3, 4, 6, 8, 12 or 24",
        ));
    }
    let chunk_s = (i64::from(c.query_hours) * 3600 / step_s).max(1) * step_s;
    if !(1..=60).contains(&c.lookback_days) {
        return Err(config.error(Some("lookback_days"), "must be between 1 and 60"));
    }
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
    };
    if !name_ok(&c.metric) {
        return Err(config.error(
            Some("metric"),
            format!("`{}` is not a metric name", c.metric),
        ));
    }
    for (key, label) in [
        ("service_label", Some(&c.service_label)),
        ("endpoint_label", c.endpoint_label.as_ref()),
    ] {
        if let Some(l) = label
            && (!name_ok(l) || l.contains(':'))
        {
            return Err(config.error(Some(key), format!("`{l}` is not a label name")));
        }
    }
    let http = http_retry::client(Duration::from_secs(120)).map_err(|e| config.error(None, e))?;
    Ok(Box::new(Prometheus {
        name: config.name.clone(),
        step_s,
        chunk_s,
        config: c,
        http,
    }))
}

/// `metric{a, b}` from the non-empty matcher lists.
fn selector(metric: &str, matchers: &[Option<&str>]) -> String {
    let parts: Vec<&str> = matchers
        .iter()
        .flatten()
        .map(|m| m.trim().trim_matches(',').trim())
        .filter(|m| !m.is_empty())
        .collect();
    format!("{metric}{{{}}}", parts.join(", "))
}

#[derive(Debug, Deserialize)]
struct Response {
    status: String,
    data: Option<Data>,
    error: Option<String>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Series>,
}

#[derive(Debug, Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    histograms: Vec<(f64, NativeJson)>,
}

/// A Prometheus sample value: a float, `NaN`, `+Inf` or `-Inf`.
fn sample_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Increase per interval of one series sampled at the steps of a day:
/// `(interval index, increase)`. `read` gives a sample's value (`None`: no
/// value at this step), `since(value, previous)` the increase between two.
/// `last` is the series' latest value before these samples (from the day's
/// earlier queries), and is left at the latest value after them.
fn step_increases<S, V>(
    samples: &[(f64, S)],
    (start_s, step_s): (i64, i64),
    last: &mut Option<V>,
    read: impl Fn(&S) -> Result<Option<V>, String>,
    since: impl Fn(&V, &V) -> V,
) -> Result<Vec<(usize, V)>, String> {
    let mut out = Vec::new();
    for (ts, sample) in samples {
        let Some(v) = read(sample)? else {
            continue;
        };
        let k = ((ts - start_s as f64) / step_s as f64).round() as i64;
        if k > 0
            && let Some(prev) = last.as_ref()
        {
            out.push(((k - 1) as usize, since(&v, prev)));
        }
        *last = Some(v);
    }
    Ok(out)
}

/// Increase per interval of one counter series; a value below the one
/// before is a reset, after which the value is the increase.
fn increases(
    values: &[(f64, String)],
    day: (i64, i64),
    last: &mut Option<f64>,
) -> Result<Vec<(usize, f64)>, String> {
    let read = |raw: &String| {
        let v = sample_value(raw).ok_or_else(|| format!("sample value `{raw}` is not a number"))?;
        Ok(v.is_finite().then_some(v))
    };
    step_increases(values, day, last, read, |&v, &prev| {
        if v >= prev { v - prev } else { v }
    })
}

/// A series' labels but its name and `le`: what a classic series and a
/// native one from the same target have in common.
fn target(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| *k != "__name__" && *k != "le")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Adds `(interval, increase)` pairs of a group to per-interval sums.
fn add_up(
    sums: &mut BTreeMap<(GroupKey, usize), f64>,
    key: &GroupKey,
    increases: impl IntoIterator<Item = (usize, f64)>,
) {
    for (k, inc) in increases {
        *sums.entry((key.clone(), k)).or_default() += inc;
    }
}

/// A series' labels, its name included.
type Labels = BTreeMap<String, String>;

type GroupKey = (String, Option<String>);

/// The queries of a day, in order: histograms, requests, errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Query {
    Histograms,
    Requests,
    Errors,
}

/// Increases of one day, per group and interval, and what was left out.
#[derive(Default)]
struct DayTally {
    /// Per `le` (as its text and value), the summed cumulative increase.
    buckets: BTreeMap<(GroupKey, usize), HashMap<String, f64>>,
    requests: BTreeMap<(GroupKey, usize), f64>,
    errors: BTreeMap<(GroupKey, usize), f64>,
    bounds: BTreeMap<GroupKey, BTreeSet<String>>,
    native: BTreeMap<(GroupKey, usize), NativeSum>,
    native_errors: BTreeMap<(GroupKey, usize), f64>,
    /// Each series' latest value, per query, carried from one part of the
    /// day to the next.
    last_float: HashMap<(Query, Labels), Option<f64>>,
    last_native: HashMap<(Query, Labels), Option<Native>>,
    /// Targets that expose the native histogram: their classic series, if
    /// Prometheus keeps those too, count the same requests again.
    native_targets: HashSet<Labels>,
    unlabeled: HashSet<Labels>,
    not_histograms: HashSet<Labels>,
    twice: HashSet<Labels>,
}

impl Prometheus {
    fn group(&self, labels: &BTreeMap<String, String>) -> Option<GroupKey> {
        let service = labels.get(&self.config.service_label)?.clone();
        let endpoint = self
            .config
            .endpoint_label
            .as_ref()
            .and_then(|l| labels.get(l).cloned());
        Some((service, endpoint))
    }

    async fn query_range(
        &self,
        query: &str,
        start_s: i64,
        end_s: i64,
        page: usize,
    ) -> Result<Vec<Series>, CollectError> {
        let url = format!(
            "{}/api/v1/query_range",
            self.config.endpoint_url.trim_end_matches('/')
        );
        let params = [
            ("query", query.to_string()),
            ("start", start_s.to_string()),
            ("end", end_s.to_string()),
            ("step", self.step_s.to_string()),
        ];
        let response = http_retry::send(self.config.max_attempts, API, page, || {
            let r = self.http.get(&url).query(&params);
            match &self.config.bearer_token {
                Some(t) => r.bearer_auth(t.expose()),
                None => r,
            }
        })
        .await?;
        let bad = |message: String| CollectError::BadResponse {
            api: API,
            page,
            message: format!("`{query}`: {message}"),
        };
        let body: Response = response
            .json()
            .await
            .map_err(|e| bad(format!("not the documented JSON: {e}")))?;
        if body.status != "success" {
            return Err(bad(format!(
                "{}: {}",
                body.error_type.as_deref().unwrap_or("error"),
                body.error.as_deref().unwrap_or("no message")
            )));
        }
        for w in &body.warnings {
            tracing::warn!(collector = %self.name, "Prometheus warns about `{query}`: {w}");
        }
        let data = body.data.ok_or_else(|| bad("no `data`".into()))?;
        if data.result_type != "matrix" {
            return Err(bad(format!(
                "expected a matrix, got a {}",
                data.result_type
            )));
        }
        Ok(data.result)
    }

    async fn collect_day(
        &self,
        day: NaiveDate,
        end_limit_s: i64,
        rows: &mut LatencyFrameBuilder,
        report: &mut CollectReport,
    ) -> Result<(), CollectError> {
        let start_s = day
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp();
        let end_s = (start_s + 86_400).min(end_limit_s);
        if end_s <= start_s {
            return Ok(());
        }
        let m = &self.config.metric;
        let base = self.config.selector.as_deref();
        let errors = Some(self.config.error_selector.as_str());
        let names = |classic: &str| format!("__name__=~\"{m}_{classic}|{m}\"");
        let queries = [
            selector("", &[Some(names("bucket").as_str()), base]),
            selector(&format!("{m}_count"), &[base]),
            selector("", &[Some(names("count").as_str()), base, errors]),
        ];
        let mut tally = DayTally::default();
        // The first part starts at midnight (the baseline); the next ones
        // a step after the part before ends.
        let mut from_s = start_s;
        while from_s <= end_s {
            let to_s =
                (start_s + ((from_s - start_s) / self.chunk_s + 1) * self.chunk_s).min(end_s);
            for (query, text) in [Query::Histograms, Query::Requests, Query::Errors]
                .into_iter()
                .zip(&queries)
            {
                let page = report.pages + 1;
                let series = self.query_range(text, from_s, to_s, page).await?;
                report.pages += 1;
                if query == Query::Histograms {
                    tally.native_targets.extend(
                        series
                            .iter()
                            .filter(|s| self.is_native(s))
                            .map(|s| target(&s.metric)),
                    );
                }
                for s in series {
                    self.tally_series(&mut tally, query, s, start_s)
                        .map_err(|message| CollectError::BadResponse {
                            api: API,
                            page,
                            message: format!("`{text}`: {message}"),
                        })?;
                }
            }
            from_s = to_s + self.step_s;
        }
        let (unlabeled, not_histograms, twice) = (
            tally.unlabeled.len(),
            tally.not_histograms.len(),
            tally.twice.len(),
        );
        if unlabeled > 0 {
            report.warnings.push(format!(
                "{day}: {unlabeled} series without the `{}` (or `le`) label left out",
                self.config.service_label
            ));
        }
        if twice > 0 {
            report.warnings.push(format!(
                "{day}: {twice} classic series of `{m}` left out: their targets expose it as a native histogram too, counted once from that"
            ));
        }
        if not_histograms > 0 {
            report.warnings.push(format!(
                "{day}: {not_histograms} series named `{m}` hold float samples, not native histograms; left out"
            ));
        }
        self.rows(day, start_s, tally, rows, report);
        Ok(())
    }

    /// Adds one series' increases over a part of the day to the tally.
    fn tally_series(
        &self,
        tally: &mut DayTally,
        query: Query,
        s: Series,
        start_s: i64,
    ) -> Result<(), String> {
        let day = (start_s, self.step_s);
        let Some(key) = self.group(&s.metric) else {
            tally.unlabeled.insert(s.metric);
            return Ok(());
        };
        let native = self.is_native(&s);
        if !native && tally.native_targets.contains(&target(&s.metric)) {
            tally.twice.insert(s.metric);
            return Ok(());
        }
        if native {
            // The metric itself: native-histogram samples; a float sample
            // there is some other kind of metric.
            if !s.values.is_empty() {
                tally.not_histograms.insert(s.metric.clone());
            }
            let last = tally.last_native.entry((query, s.metric)).or_default();
            let incs = native::increases(&s.histograms, day, last)?;
            if query == Query::Histograms {
                for (k, inc) in incs {
                    tally.native.entry((key.clone(), k)).or_default().add(&inc);
                }
            } else {
                let counts = incs.into_iter().map(|(k, inc)| (k, inc.count()));
                add_up(&mut tally.native_errors, &key, counts);
            }
            return Ok(());
        }
        let le = s.metric.get("le").cloned();
        if query == Query::Histograms && le.is_none() {
            tally.unlabeled.insert(s.metric);
            return Ok(());
        }
        let last = tally.last_float.entry((query, s.metric)).or_default();
        let incs = increases(&s.values, day, last)?;
        match (query, le) {
            (Query::Histograms, Some(le)) => {
                tally
                    .bounds
                    .entry(key.clone())
                    .or_default()
                    .insert(le.clone());
                for (k, inc) in incs {
                    *tally
                        .buckets
                        .entry((key.clone(), k))
                        .or_default()
                        .entry(le.clone())
                        .or_default() += inc;
                }
            }
            (Query::Requests, _) => add_up(&mut tally.requests, &key, incs),
            _ => add_up(&mut tally.errors, &key, incs),
        }
        Ok(())
    }

    /// A series of the metric itself: a native histogram.
    fn is_native(&self, s: &Series) -> bool {
        s.metric.get("__name__") == Some(&self.config.metric)
    }

    fn rows(
        &self,
        day: NaiveDate,
        start_s: i64,
        mut tally: DayTally,
        out: &mut LatencyFrameBuilder,
        report: &mut CollectReport,
    ) {
        let keys: BTreeSet<(GroupKey, usize)> = tally
            .buckets
            .keys()
            .chain(tally.requests.keys())
            .chain(tally.native.keys())
            .cloned()
            .collect();
        let mut bad_histograms = 0usize;
        for key in keys {
            let classic = tally.buckets.remove(&key).and_then(|by_le| {
                let les = tally.bounds.get(&key.0)?;
                let mut pairs: Vec<(f64, f64)> = les
                    .iter()
                    .filter_map(|le| {
                        sample_value(le).map(|b| (b, by_le.get(le).copied().unwrap_or(0.0)))
                    })
                    .collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (bounds, cumulative): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
                let h = Histogram::from_cumulative(bounds, &cumulative)
                    .ok()
                    .filter(|h| h.bounds().last() == Some(&f64::INFINITY));
                bad_histograms += usize::from(h.is_none());
                h
            });
            let mut requests = tally
                .requests
                .get(&key)
                .copied()
                .or_else(|| classic.as_ref().map(Histogram::total))
                .unwrap_or(0.0);
            let mut errors = tally.errors.get(&key).copied().unwrap_or(0.0);
            // Targets on native histograms beside targets on classic ones
            // (a rollout): both count, their buckets merged.
            let histogram = match tally.native.remove(&key) {
                Some(sum) => {
                    requests += sum.count();
                    errors += tally.native_errors.get(&key).copied().unwrap_or(0.0);
                    match (sum.histogram(), classic) {
                        (Some(n), Some(c)) => Some(Histogram::merge([&n, &c])),
                        (n, c) => n.or(c),
                    }
                }
                None => classic,
            };
            let ((service, endpoint), k) = key;
            let ts = DateTime::from_timestamp(start_s + k as i64 * self.step_s, 0)
                .unwrap_or_default()
                .naive_utc();
            let t = self.config.apdex_t_s;
            out.push(LatencyRow {
                ts,
                interval_s: self.step_s,
                service,
                endpoint,
                requests,
                errors,
                apdex: histogram
                    .as_ref()
                    .filter(|h| h.total() > 0.0)
                    .map(|h| (t, h.apdex(t))),
                histogram,
                p50_s: None,
                p95_s: None,
                p99_s: None,
            });
        }
        if bad_histograms > 0 {
            report.warnings.push(format!(
                "{day}: {bad_histograms} interval histogram(s) without a `+Inf` bucket or with bad `le` values stored without buckets"
            ));
        }
    }
}

#[async_trait]
impl Collector for Prometheus {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "prometheus"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Latency
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let end_limit_s = last_complete_interval_end(self.step_s);
        let mut report = CollectReport::default();
        if let Some(range) = window.days_or_last_through_today(self.config.lookback_days) {
            // One batch a day.
            for day in range.days() {
                let mut builder = LatencyFrameBuilder::new();
                self.collect_day(day, end_limit_s, &mut builder, &mut report)
                    .await?;
                out.send(builder.finish(&self.name)?).await?;
            }
        }
        latency_rows::into_collected(LatencyFrameBuilder::new(), &self.name, report, out).await
    }
}

#[cfg(test)]
mod tests {
    use vitals_core::config::ComponentKind;

    use super::*;

    fn values(points: &[(i64, &str)]) -> Vec<(f64, String)> {
        points
            .iter()
            .map(|(t, v)| (*t as f64, v.to_string()))
            .collect()
    }

    #[test]
    fn increases_handle_resets_gaps_and_nan() {
        let v = values(&[
            (0, "10"),
            (300, "15"),
            (600, "3"), // reset: 3 new requests
            (900, "NaN"),
            // 1200 missing
            (1500, "9"), // 6 more across the gap, counted at (1200, 1500]
        ]);
        assert_eq!(
            increases(&v, (0, 300), &mut None).unwrap(),
            vec![(0, 5.0), (1, 3.0), (4, 6.0)]
        );
        assert!(increases(&values(&[(0, "x")]), (0, 300), &mut None).is_err());
        // In two parts, the second starting on a missing step: the value
        // carried from the first counts the gap.
        let mut last = None;
        let first = increases(&v[..2], (0, 300), &mut last).unwrap();
        let second = increases(&v[2..], (0, 300), &mut last).unwrap();
        assert_eq!([first, second].concat(), vec![(0, 5.0), (1, 3.0), (4, 6.0)]);
        let mut last = None;
        let first = increases(&v[..3], (0, 300), &mut last).unwrap();
        let second = increases(&v[4..], (0, 300), &mut last).unwrap();
        assert_eq!([first, second].concat(), vec![(0, 5.0), (1, 3.0), (4, 6.0)]);
    }

    #[test]
    fn config_is_checked() {
        let err = |extra: &str| {
            let text = format!("type = \"prometheus\"\nendpoint_url = \"http://p:9090\"\n{extra}");
            let cfg = ComponentConfig::from_toml(ComponentKind::Collector, "prom", &text).unwrap();
            build(&cfg).unwrap_err().to_string()
        };
        assert!(err("interval = \"5s\"").contains("at least 8 s, that divides a day"));
        assert!(err("interval = \"7m\"").contains("divides a day"));
        assert!(err("metric = \"http-latency\"").contains("is not a metric name"));
        assert!(err("endpoint_label = \"a:b\"").contains("is not a label name"));
        assert!(err("apdex_t_s = 0").contains("positive number of seconds"));
        assert!(err("query_hours = 5").contains("must divide a day"));
    }

    #[test]
    fn selectors_join_matchers() {
        assert_eq!(
            selector("m_count", &[Some("job=\"api\", "), Some("code=~\"5..\"")]),
            "m_count{job=\"api\", code=~\"5..\"}"
        );
        assert_eq!(selector("m_bucket", &[None]), "m_bucket{}");
    }
}
