//! `cost_anomaly`: days on which a cost series breaks from its own recent
//! behaviour.
//!
//! A series is one (provider, sub-account, service, currency) daily cost. For
//! each day under analysis the expectation comes from the `baseline_days`
//! before it, robustly and with weekday effects:
//!
//! - level = median of the baseline; weekday factor = median of that
//!   weekday's values / level (so weekends may be cheaper);
//! - expected = level × factor of the day's weekday;
//! - scale = 1.4826 × MAD of the baseline's residuals from their own
//!   expectations (a robust standard deviation), floored at 2 % of the
//!   expectation so that flat series do not alarm on cents.
//!
//! Medians and MAD ignore the odd spike in the baseline. A day is anomalous
//! when it is at least `min_impact` above expected *and* `threshold` robust
//! standard deviations above it. Series with fewer than `min_history_days`
//! of history stay quiet (new services ramp up). Consecutive anomalous days of
//! a series are one finding. Drops are not reported: they are rarely a
//! problem, and a stopped service is the inventory analyzers' business.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::{AnomalyDay, Contributor, CostAnomalyEvidence};
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::period::DayRange;

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;

/// `[analyzers.NAME] type = "cost_anomaly"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostAnomalyConfig {
    /// Smallest excess over the expectation worth a finding, per day, in the
    /// billing currency. Default 50.
    #[serde(default = "default_min_impact")]
    min_impact: f64,
    /// Days of history a series needs before it is judged. Default 14.
    #[serde(default = "default_min_history_days")]
    min_history_days: usize,
    /// Days before each judged day that form its baseline. Default 28.
    #[serde(default = "default_baseline_days")]
    baseline_days: usize,
    /// Robust standard deviations above expected that make a day anomalous.
    /// Default 5.
    #[serde(default = "default_threshold")]
    threshold: f64,
    /// `billed` (invoiced) or `effective` (amortized) cost. Default `billed`.
    #[serde(default)]
    metric: Metric,
    /// Contributors (SKU × resource) listed per finding. Default 5.
    #[serde(default = "default_top_contributors")]
    top_contributors: usize,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Metric {
    #[default]
    Billed,
    Effective,
}

impl Metric {
    fn column(self) -> &'static str {
        match self {
            Metric::Billed => "billed_cost",
            Metric::Effective => "effective_cost",
        }
    }
}

fn default_min_impact() -> f64 {
    50.0
}
fn default_min_history_days() -> usize {
    14
}
fn default_baseline_days() -> usize {
    28
}
fn default_threshold() -> f64 {
    5.0
}
fn default_top_contributors() -> usize {
    5
}

/// The detection parameters, separate from the store so they can be
/// evaluated on synthetic series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub min_impact: f64,
    pub min_history_days: usize,
    pub baseline_days: usize,
    pub threshold: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_impact: default_min_impact(),
            min_history_days: default_min_history_days(),
            baseline_days: default_baseline_days(),
            threshold: default_threshold(),
        }
    }
}

#[derive(Debug)]
pub struct CostAnomaly {
    name: String,
    config: CostAnomalyConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let parsed: CostAnomalyConfig = config.parse()?;
    let checks = [
        (
            "min_impact",
            parsed.min_impact.is_finite() && parsed.min_impact >= 0.0,
            "must be 0 or more",
        ),
        (
            "min_history_days",
            parsed.min_history_days >= 7,
            "must be at least 7 (one of each weekday)",
        ),
        (
            "baseline_days",
            parsed.baseline_days >= parsed.min_history_days && parsed.baseline_days <= 366,
            "must be between `min_history_days` and 366",
        ),
        (
            "threshold",
            parsed.threshold.is_finite() && parsed.threshold > 0.0,
            "must be above 0",
        ),
    ];
    for (key, ok, message) in checks {
        if !ok {
            return Err(config.error(Some(key), message));
        }
    }
    Ok(Box::new(CostAnomaly {
        name: config.name.clone(),
        config: parsed,
    }))
}

/// What a day was expected to cost, and how much it may wobble.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    pub expected: f64,
    /// Robust standard deviation of the baseline around its expectations.
    pub scale: f64,
    /// Days of history the expectation rests on.
    pub history_days: usize,
}

impl Expectation {
    /// Robust standard deviations `actual` is above expected.
    pub fn score(&self, actual: f64) -> f64 {
        (actual - self.expected) / self.scale
    }

    pub fn is_anomalous(&self, actual: f64, params: &Params) -> bool {
        actual - self.expected >= params.min_impact && self.score(actual) >= params.threshold
    }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The expectation for `day` from `history`: the series' daily values before
/// it, oldest first, ending the day before, with days without cost as 0.
/// `None` when the history is shorter than `min_history_days`.
pub fn expect(
    history: &[(NaiveDate, f64)],
    day: NaiveDate,
    params: &Params,
) -> Option<Expectation> {
    let window: Vec<(NaiveDate, f64)> = history
        .iter()
        .copied()
        .filter(|(d, _)| *d < day && (day - *d).num_days() <= params.baseline_days as i64)
        .collect();
    if window.len() < params.min_history_days {
        return None;
    }
    let level = median(&mut window.iter().map(|(_, v)| *v).collect::<Vec<_>>());
    let mut by_weekday: [Vec<f64>; 7] = Default::default();
    for (d, v) in &window {
        by_weekday[d.weekday().num_days_from_monday() as usize].push(*v);
    }
    let factors: Vec<f64> = by_weekday
        .iter_mut()
        .map(|values| {
            if level <= 0.0 || values.len() < 2 {
                1.0
            } else {
                (median(values) / level).clamp(0.1, 10.0)
            }
        })
        .collect();
    let expected_on = |d: NaiveDate| level * factors[d.weekday().num_days_from_monday() as usize];
    // Residuals out of sample: each baseline day against the median of the
    // other days of its weekday. In-sample residuals of a median fitted to
    // four values are too small and would make ordinary days look anomalous.
    let mut residuals: Vec<f64> = window
        .iter()
        .enumerate()
        .map(|(i, (d, v))| {
            let mut others: Vec<f64> = window
                .iter()
                .enumerate()
                .filter(|(j, (o, _))| *j != i && o.weekday() == d.weekday())
                .map(|(_, (_, x))| *x)
                .collect();
            let expected = if level > 0.0 && others.len() >= 2 {
                level * (median(&mut others) / level).clamp(0.1, 10.0)
            } else {
                level
            };
            v - expected
        })
        .collect();
    let center = median(&mut residuals);
    let mut deviations: Vec<f64> = residuals.iter().map(|r| (r - center).abs()).collect();
    let expected = expected_on(day);
    let scale = (1.4826 * median(&mut deviations))
        .max(0.02 * expected.abs())
        .max(0.01);
    Some(Expectation {
        expected,
        scale,
        history_days: window.len(),
    })
}

/// One (provider, sub-account, service, currency) series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    provider: String,
    account: Option<String>,
    service: Option<String>,
    currency: String,
}

/// An anomalous day of a series, as judged.
#[derive(Debug, Clone)]
struct Flagged {
    day: NaiveDate,
    actual: f64,
    expectation: Expectation,
}

impl Analyzer for CostAnomaly {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "cost_anomaly"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Cost]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let params = self.params();
        let scan = DayRange {
            start: ctx.period.start - Duration::days(params.baseline_days as i64),
            end: ctx.period.end,
        };
        let frame_error = |what: &str, e: PolarsError| AnalyzeError::Frame {
            analyzer: self.name.clone(),
            message: format!("{what} for {scan}: {e}"),
        };
        let store_error = |source| AnalyzeError::Store {
            analyzer: self.name.clone(),
            source,
        };
        let lazy = ctx
            .store
            .scan(Dataset::Cost, Some(scan))
            .map_err(store_error)?;
        let series = daily_series(lazy.clone(), scan, self.config.metric)
            .map_err(|e| frame_error("daily series", e))?;
        let mut findings = Vec::new();
        for (key, values) in &series {
            let runs = flag_runs(values, ctx.period, &params);
            for run in runs {
                let contributors = contributors(
                    lazy.clone(),
                    key,
                    &run,
                    &params,
                    self.config.metric,
                    self.config.top_contributors,
                )
                .map_err(|e| frame_error("contributors", e))?;
                findings.push(self.finding(key, &run, contributors, &params));
            }
        }
        Ok(AnalysisOutput {
            findings,
            summaries: Vec::new(),
        })
    }
}

impl CostAnomaly {
    fn params(&self) -> Params {
        Params {
            min_impact: self.config.min_impact,
            min_history_days: self.config.min_history_days,
            baseline_days: self.config.baseline_days,
            threshold: self.config.threshold,
        }
    }

    fn finding(
        &self,
        key: &SeriesKey,
        run: &[Flagged],
        contributors: Vec<Contributor>,
        params: &Params,
    ) -> Finding {
        let first = &run[0];
        let last = &run[run.len() - 1];
        let actual: f64 = run.iter().map(|f| f.actual).sum();
        let expected: f64 = run.iter().map(|f| f.expectation.expected).sum();
        let impact = actual - expected;
        let service = key.service.as_deref().unwrap_or("(no service)");
        let account = key.account.as_deref().unwrap_or("-");
        let days = if run.len() == 1 {
            first.day.to_string()
        } else {
            format!("{} to {}", first.day, last.day)
        };
        let severity = if impact >= 10.0 * params.min_impact && actual >= 2.0 * expected {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let at = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
        Finding {
            finding_id: finding_id(
                "cost_anomaly",
                &self.name,
                &[
                    &key.provider,
                    account,
                    service,
                    &key.currency,
                    &first.day.to_string(),
                ],
            ),
            kind: "cost_anomaly".to_string(),
            severity,
            provider: Some(key.provider.clone()),
            account_id: key.account.clone(),
            service: key.service.clone(),
            resource_id: None,
            title: format!(
                "{} {service} ({account}): {actual:.2} {} on {days}, expected {expected:.2} (+{impact:.2})",
                key.provider, key.currency
            ),
            evidence: Finding::evidence_json(&CostAnomalyEvidence {
                first_day: first.day,
                last_day: last.day,
                days: run
                    .iter()
                    .map(|f| AnomalyDay {
                        day: f.day,
                        actual: f.actual,
                        expected: f.expectation.expected,
                        robust_sd: f.expectation.scale,
                        score: f.expectation.score(f.actual),
                        history_days: f.expectation.history_days,
                    })
                    .collect(),
                actual,
                expected,
                impact,
                metric: self.config.metric.column().to_string(),
                top_contributors: contributors,
            }),
            monthly_savings: None,
            currency: Some(key.currency.clone()),
            first_seen: at(first.day),
            last_seen: at(last.day),
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        }
    }
}

/// Daily cost per series over `range`, with days without rows after a
/// series' first day filled with 0.
fn daily_series(
    frame: LazyFrame,
    range: DayRange,
    metric: Metric,
) -> PolarsResult<BTreeMap<SeriesKey, Vec<(NaiveDate, f64)>>> {
    let keys = [
        "provider",
        "sub_account_id",
        "service_name",
        "billing_currency",
        "day",
    ];
    let plan = in_range(frame, range)
        .group_by(keys.map(col))
        .agg([vitals_core::frames::exact_sum(col(metric.column())).alias("cost")])
        .sort(keys, SortMultipleOptions::default().with_nulls_last(true));
    let df = vitals_core::frames::collect_streaming(plan)?;
    let text = |name: &str| -> PolarsResult<StringChunked> { Ok(df.column(name)?.str()?.clone()) };
    let (provider, account, service, currency) = (
        text("provider")?,
        text("sub_account_id")?,
        text("service_name")?,
        text("billing_currency")?,
    );
    let days = df.column("day")?.date()?.physical().clone();
    let cost = df.column("cost")?.f64()?.clone();
    let mut out: BTreeMap<SeriesKey, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for i in 0..df.height() {
        let Some(day) = days.get(i).and_then(day_from_epoch) else {
            continue;
        };
        let key = SeriesKey {
            provider: provider.get(i).unwrap_or_default().to_string(),
            account: account.get(i).map(str::to_string),
            service: service.get(i).map(str::to_string),
            currency: currency.get(i).unwrap_or_default().to_string(),
        };
        *out.entry(key).or_default().entry(day).or_default() += cost.get(i).unwrap_or(0.0);
    }
    Ok(out
        .into_iter()
        .map(|(key, days)| {
            let first = *days.keys().next().expect("a series has a day");
            let filled = DayRange {
                start: first,
                end: range.end,
            }
            .days()
            .map(|d| (d, days.get(&d).copied().unwrap_or(0.0)))
            .collect();
            (key, filled)
        })
        .collect())
}

/// Rows with their day in `range`, with a `day` column.
fn in_range(frame: LazyFrame, range: DayRange) -> LazyFrame {
    let time = Dataset::Cost.time_column();
    frame
        .filter(vitals_core::frames::on_days(time, range))
        .with_column(col(time).dt().date().alias("day"))
}

fn day_from_epoch(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(Duration::days(i64::from(days)))
}

/// The anomalous days of a series within `period`, grouped into runs of
/// consecutive days. Each day is judged against the days before it, flagged
/// ones included (their weight in a median is small, and a lasting shift
/// should become the new normal).
fn flag_runs(values: &[(NaiveDate, f64)], period: DayRange, params: &Params) -> Vec<Vec<Flagged>> {
    let mut runs: Vec<Vec<Flagged>> = Vec::new();
    for (i, (day, actual)) in values.iter().enumerate() {
        if !period.contains(*day) {
            continue;
        }
        let Some(expectation) = expect(&values[..i], *day, params) else {
            continue;
        };
        if !expectation.is_anomalous(*actual, params) {
            continue;
        }
        let flagged = Flagged {
            day: *day,
            actual: *actual,
            expectation,
        };
        match runs.last_mut() {
            Some(run)
                if run
                    .last()
                    .is_some_and(|f| f.day + Duration::days(1) == *day) =>
            {
                run.push(flagged)
            }
            _ => runs.push(vec![flagged]),
        }
    }
    runs
}

/// The SKU × resource pairs that grew most on the run's days against their
/// daily mean over the baseline before it.
fn contributors(
    frame: LazyFrame,
    key: &SeriesKey,
    run: &[Flagged],
    params: &Params,
    metric: Metric,
    top: usize,
) -> PolarsResult<Vec<Contributor>> {
    let first = run[0].day;
    let last = run[run.len() - 1].day;
    let baseline = DayRange {
        start: first - Duration::days(params.baseline_days as i64),
        end: first - Duration::days(1),
    };
    let eq = |name: &str, value: &Option<String>| match value {
        Some(v) => col(name).eq(lit(v.clone())),
        None => col(name).is_null(),
    };
    let df = in_range(
        frame,
        DayRange {
            start: baseline.start,
            end: last,
        },
    )
    .filter(
        col("provider")
            .eq(lit(key.provider.clone()))
            .and(eq("sub_account_id", &key.account))
            .and(eq("service_name", &key.service))
            .and(col("billing_currency").eq(lit(key.currency.clone()))),
    )
    .with_column(col("day").gt_eq(lit(first)).alias("in_run"))
    .group_by([col("sku_id"), col("resource_id"), col("in_run")])
    .agg([vitals_core::frames::exact_sum(col(metric.column())).alias("cost")]);
    let df = vitals_core::frames::collect_streaming(df)?;
    let (sku, resource) = (
        df.column("sku_id")?.str()?.clone(),
        df.column("resource_id")?.str()?.clone(),
    );
    let (in_run, cost) = (
        df.column("in_run")?.bool()?.clone(),
        df.column("cost")?.f64()?.clone(),
    );
    let mut by_pair: BTreeMap<(Option<String>, Option<String>), (f64, f64)> = BTreeMap::new();
    for i in 0..df.height() {
        let entry = by_pair
            .entry((
                sku.get(i).map(str::to_string),
                resource.get(i).map(str::to_string),
            ))
            .or_default();
        if in_run.get(i).unwrap_or(false) {
            entry.0 += cost.get(i).unwrap_or(0.0);
        } else {
            entry.1 += cost.get(i).unwrap_or(0.0);
        }
    }
    let run_days = run.len() as f64;
    let baseline_days = baseline.len_days() as f64;
    let mut rows: Vec<Contributor> = by_pair
        .into_iter()
        .map(|((sku_id, resource_id), (run_cost, base_cost))| {
            let daily_cost = run_cost / run_days;
            let baseline_daily_cost = base_cost / baseline_days;
            Contributor {
                sku_id,
                resource_id,
                daily_cost,
                baseline_daily_cost,
                increase: daily_cost - baseline_daily_cost,
            }
        })
        .filter(|c| c.increase > 0.0)
        .collect();
    rows.sort_by(|a, b| b.increase.total_cmp(&a.increase));
    rows.truncate(top);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn series(start: &str, values: &[f64]) -> Vec<(NaiveDate, f64)> {
        let start = d(start);
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (start + Duration::days(i as i64), *v))
            .collect()
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    /// 42 days of an EC2 bill of two instances and a small S3 bill; on the last
    /// two days one instance's cost jumps. The findings come from the store.
    #[test]
    fn finds_a_spike_in_the_store_with_its_contributor() {
        use crate::test_store::{Row, store_with};
        let start = d("2024-08-19");
        let mut rows = Vec::new();
        for i in 0..42 {
            let day = leak((start + Duration::days(i)).to_string());
            let wobble = [0.0, 3.0, -2.0, 1.0, -1.0, 2.0, -3.0][i as usize % 7];
            let row = |resource, sku, service, billed: f64| Row {
                day,
                provider: "AWS",
                account: Some("111122223333"),
                service,
                sku: Some(sku),
                resource: Some(resource),
                billed,
                effective: billed,
                ..Row::default()
            };
            let spike = if i >= 40 { 400.0 } else { 0.0 };
            rows.push(row(
                "i-aaa",
                "BoxUsage:m5.large",
                "Amazon EC2",
                100.0 + wobble + spike,
            ));
            rows.push(row(
                "i-bbb",
                "BoxUsage:m5.large",
                "Amazon EC2",
                100.0 - wobble,
            ));
            rows.push(row("bucket", "TimedStorage", "Amazon S3", 20.0 + wobble));
        }
        let (_dir, store) = store_with(&rows);
        let cfg = ComponentConfig::from_toml(
            vitals_core::config::ComponentKind::Analyzer,
            "anomalies",
            "type = \"cost_anomaly\"",
        )
        .unwrap();
        let analyzer = build(&cfg).unwrap();
        let period = DayRange::new(d("2024-09-23"), d("2024-09-29")).unwrap();
        let out = analyzer
            .analyze(&AnalysisContext::new(
                &store,
                period,
                d("2026-11-23").and_hms_opt(12, 0, 0).unwrap().and_utc(),
            ))
            .unwrap();
        assert_eq!(out.findings.len(), 1, "{:#?}", out.findings);
        let f = &out.findings[0];
        assert_eq!(f.kind, "cost_anomaly");
        assert_eq!(f.service.as_deref(), Some("Amazon EC2"));
        assert_eq!(f.account_id.as_deref(), Some("111122223333"));
        let e = &f.evidence;
        assert_eq!(e["first_day"], "2024-09-28");
        assert_eq!(e["last_day"], "2024-09-29");
        // Both days are expected at their weekday's usual 200 and cost ~600.
        assert!((e["impact"].as_f64().unwrap() - 800.0).abs() < 10.0, "{e}");
        let top = &e["top_contributors"][0];
        assert_eq!(top["resource_id"], "i-aaa");
        assert!(
            (top["increase"].as_f64().unwrap() - 400.0).abs() < 5.0,
            "{top}"
        );
        // 800 over is 16× the minimum impact, and the days cost 3× the usual.
        assert_eq!(f.severity, Severity::Critical);
        // The same store judged again gives the same finding id.
        let again = analyzer
            .analyze(&AnalysisContext::new(
                &store,
                period,
                d("2026-11-24").and_hms_opt(12, 0, 0).unwrap().and_utc(),
            ))
            .unwrap();
        assert_eq!(again.findings[0].finding_id, f.finding_id);
    }

    #[test]
    fn config_is_checked() {
        let cfg = ComponentConfig::from_toml(
            vitals_core::config::ComponentKind::Analyzer,
            "a",
            "type = \"cost_anomaly\"\nbaseline_days = 10\nmetric = \"list\"",
        )
        .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(err.contains("`analyzers.a.metric`"), "{err}");
        let cfg = ComponentConfig::from_toml(
            vitals_core::config::ComponentKind::Analyzer,
            "a",
            "type = \"cost_anomaly\"\nbaseline_days = 10",
        )
        .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("`analyzers.a.baseline_days`: must be between"),
            "{err}"
        );
    }

    #[test]
    fn weekday_effects_are_expected_not_flagged() {
        // Weekdays 1000, weekends 400, 4 weeks (2024-09-02 is a Monday).
        let values: Vec<f64> = (0..28)
            .map(|i| if i % 7 >= 5 { 400.0 } else { 1000.0 })
            .collect();
        let history = series("2024-09-02", &values);
        let p = Params::default();
        let saturday = expect(&history, d("2024-09-28"), &p).unwrap();
        assert!((saturday.expected - 400.0).abs() < 1e-9, "{saturday:?}");
        assert!(!saturday.is_anomalous(400.0, &p));
        // A weekday price on a Saturday is a 600 excess over 400 expected.
        assert!(saturday.is_anomalous(1000.0, &p));
        let monday = expect(&history, d("2024-09-30"), &p).unwrap();
        assert!((monday.expected - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn a_spike_in_the_baseline_does_not_move_the_expectation() {
        let mut values = vec![500.0; 28];
        values[10] = 50_000.0;
        let e = expect(
            &series("2024-09-02", &values),
            d("2024-09-30"),
            &Params::default(),
        )
        .unwrap();
        assert_eq!(e.expected, 500.0);
        assert_eq!(e.scale, 10.0, "the floor, 2 % of 500, as the MAD is 0");
    }

    #[test]
    fn short_histories_and_small_excesses_stay_quiet() {
        let p = Params::default();
        assert!(expect(&series("2024-09-02", &[100.0; 13]), d("2024-09-15"), &p).is_none());
        let e = expect(&series("2024-09-02", &[100.0; 14]), d("2024-09-16"), &p).unwrap();
        // 40 above a flat 100 is 20 robust SDs but below the 50 minimum impact.
        assert!(!e.is_anomalous(140.0, &p));
        assert!(e.is_anomalous(150.0, &p));
    }

    /// Detection on realistic noisy series with injected spikes: 300 series of
    /// a year each (plus a baseline), levels from 100 to 10,000 a day, weekend
    /// dips, drift, 3-12 % noise with heavy tails and the odd outage day.
    /// Spikes are 6 noise SDs or more above the day's true cost (and at least
    /// 2× the minimum impact): the size a person would call an anomaly.
    #[test]
    fn detects_injected_spikes_with_few_false_alarms() {
        let params = Params::default();
        let mut rng = Rng(20261123);
        let (series_count, days) = (300, 365);
        let (mut injected, mut detected, mut false_alarms) = (0usize, 0usize, 0usize);
        let start = d("2024-01-01");
        for _ in 0..series_count {
            let level = 100.0 * 10f64.powf(2.0 * rng.uniform());
            let weekend = 0.5 + 0.5 * rng.uniform();
            let sd = 0.03 + 0.09 * rng.uniform();
            let drift = (rng.uniform() - 0.4) * 0.002;
            let total = days + params.baseline_days;
            let mut values = Vec::with_capacity(total);
            let mut spikes = std::collections::BTreeSet::new();
            for i in 0..total {
                let day = start + Duration::days(i as i64);
                let weekday = if day.weekday().num_days_from_monday() >= 5 {
                    weekend
                } else {
                    1.0
                };
                let truth = level * weekday * (1.0 + drift).powi(i as i32);
                let tail = if rng.uniform() < 0.05 { 2.0 } else { 1.0 };
                let mut v = truth * (1.0 + sd * tail * rng.normal()).max(0.0);
                if rng.uniform() < 0.01 {
                    v *= 0.3; // a partial outage or a late billing row
                }
                if i >= params.baseline_days && rng.uniform() < 6.0 / 365.0 {
                    let size = (truth * (6.0 * sd + rng.uniform())).max(2.0 * params.min_impact);
                    v += size;
                    spikes.insert(day);
                }
                values.push((day, v));
            }
            let period = DayRange {
                start: start + Duration::days(params.baseline_days as i64),
                end: start + Duration::days(total as i64 - 1),
            };
            let flagged: std::collections::BTreeSet<NaiveDate> =
                flag_runs(&values, period, &params)
                    .into_iter()
                    .flatten()
                    .map(|f| f.day)
                    .collect();
            injected += spikes.len();
            detected += spikes.iter().filter(|d| flagged.contains(d)).count();
            false_alarms += flagged.iter().filter(|d| !spikes.contains(d)).count();
        }
        let rate = detected as f64 / injected as f64;
        let per_series_year = false_alarms as f64 / series_count as f64 * 365.0 / days as f64;
        println!(
            "cost_anomaly on {series_count} series × {days} days: detected {detected} of {injected} injected spikes ({:.1} %), \
             {false_alarms} false alarm days = {per_series_year:.2} per series-year",
            rate * 100.0
        );
        assert!(rate >= 0.88, "detection rate {rate}");
        assert!(
            per_series_year <= 0.5,
            "false alarms per series-year {per_series_year}"
        );
    }
}
