//! `p95_regression`: the moment a service got slower (or faster), and
//! whether it still is.
//!
//! For each source and service, a P95 series at `resolution` (default one
//! hour) over the `history_days` up to the end of the period: each point the
//! P95 of that hour's merged histograms (or the source's own P95 where one
//! stored interval is exactly one point), points with fewer than
//! `min_requests` requests left out. The Apdex series is built the same way.
//! Change points come from [`crate::changepoint`] (rank-based binary
//! segmentation with one-cut, two-cut and last-points tests, adjusted
//! p-values, median levels), with the daily season taken out where it is
//! strong (resolutions under a day). A rise of P95 or a fall of Apdex is a
//! regression (warning, or critical from 50 %), the opposite an improvement
//! (info).
//!
//! A regression followed by a change back to within `min_magnitude` of the
//! old level is one finding with both times, `recovered: true` (a warning at
//! most: it is over), reported when it overlaps the period; an improvement
//! that did not last likewise (so its end is not a regression of its own). An open one has
//! only a start; `points_after` and `p_value` in its evidence say how much
//! evidence it has, and one still within the last
//! [`changepoint::FRESH_POINTS_MAX`] points is `fresh` ("new, 4 h of
//! evidence"). A one-point spike is never a change: a level must hold on
//! both sides for `min_points` points.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::{Direction, LatencyMetric, P95RegressionEvidence};
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::period::DayRange;

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::changepoint::{self, ChangePoint, Params, Season};
use crate::error::AnalyzeError;
use crate::latency_summary::{IntervalRow, apdex_counts, merged_histogram, scan_rows};

/// `[analyzers.NAME] type = "p95_regression"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P95RegressionConfig {
    /// Smallest relative change of level worth a finding. Default 0.10.
    #[serde(default = "default_min_magnitude")]
    pub min_magnitude: f64,
    /// Largest Bonferroni-adjusted p-value of a change. Default 0.01.
    #[serde(default = "default_p_value")]
    pub p_value: f64,
    /// Fewest points a level must hold on each side of a change. Default 3.
    #[serde(default = "default_min_points")]
    pub min_points: usize,
    /// Length of one point of the series, e.g. `1h` (default), `15m`, `1d`.
    #[serde(default = "default_resolution")]
    pub resolution: String,
    /// Days of history searched, ending with the period. Default 14.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// Points with fewer requests are left out of the series. Default 20.
    #[serde(default = "default_min_requests")]
    pub min_requests: f64,
    /// Apdex threshold T in seconds for the Apdex series. Default 0.5.
    #[serde(default = "default_apdex_t_s")]
    pub apdex_t_s: f64,
}

fn default_min_magnitude() -> f64 {
    0.10
}
fn default_p_value() -> f64 {
    0.01
}
fn default_min_points() -> usize {
    3
}
fn default_resolution() -> String {
    "1h".into()
}
fn default_history_days() -> u32 {
    14
}
fn default_min_requests() -> f64 {
    20.0
}
fn default_apdex_t_s() -> f64 {
    0.5
}

#[derive(Debug)]
pub struct P95Regression {
    name: String,
    config: P95RegressionConfig,
    resolution_s: i64,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    Ok(Box::new(P95Regression::new(config)?))
}

impl P95Regression {
    fn new(config: &ComponentConfig) -> Result<Self, ConfigErrors> {
        let c: P95RegressionConfig = config.parse()?;
        if !(c.min_magnitude >= 0.0 && c.min_magnitude.is_finite()) {
            return Err(config.error(Some("min_magnitude"), "must be a number ≥ 0"));
        }
        if !(c.p_value > 0.0 && c.p_value < 1.0) {
            return Err(config.error(Some("p_value"), "must be between 0 and 1"));
        }
        if c.min_points < 2 {
            return Err(config.error(Some("min_points"), "must be at least 2"));
        }
        if !(1..=366).contains(&c.history_days) {
            return Err(config.error(Some("history_days"), "must be between 1 and 366"));
        }
        if !(c.apdex_t_s > 0.0 && c.apdex_t_s.is_finite()) {
            return Err(config.error(Some("apdex_t_s"), "must be a positive number of seconds"));
        }
        let resolution_s = config.seconds_dividing_day("resolution", &c.resolution, 60)?;
        Ok(P95Regression {
            name: config.name.clone(),
            config: c,
            resolution_s,
        })
    }
}

/// One point of a series: its start (epoch seconds), P95 and Apdex.
#[derive(Debug, Clone, Copy)]
struct Point {
    start_s: i64,
    p95: Option<f64>,
    apdex: Option<f64>,
}

impl P95Regression {
    fn params(&self) -> Params {
        Params {
            alpha: self.config.p_value,
            min_magnitude: self.config.min_magnitude,
            min_points: self.config.min_points,
        }
    }

    /// Per (source, service), the points of the series, in time order.
    fn series(&self, rows: &[IntervalRow]) -> BTreeMap<(String, String), Vec<Point>> {
        let mut buckets: BTreeMap<(String, String, i64), Vec<&IntervalRow>> = BTreeMap::new();
        for r in rows {
            let start_s = (r.ts_us / 1_000_000).div_euclid(self.resolution_s) * self.resolution_s;
            buckets
                .entry((r.source.clone(), r.service.clone(), start_s))
                .or_default()
                .push(r);
        }
        let mut out: BTreeMap<(String, String), Vec<Point>> = BTreeMap::new();
        for ((source, service, start_s), members) in buckets {
            let requests: f64 = members.iter().map(|r| r.requests).sum();
            if requests < self.config.min_requests {
                continue;
            }
            let merged = merged_histogram(&members);
            let p95 = match (members.as_slice(), &merged) {
                ([one], _) if one.interval_s == self.resolution_s && one.quantiles.is_some() => {
                    one.quantiles.map(|q| q[1])
                }
                (_, Some(h)) => h.quantile(0.95),
                _ => None,
            };
            let apdex = apdex_counts(&members, merged.as_ref(), self.config.apdex_t_s)
                .and_then(|a| a.score());
            out.entry((source, service)).or_default().push(Point {
                start_s,
                p95,
                apdex,
            });
        }
        out
    }

    /// One finding: a change at `at_s`, or with `recovered_at_s` a regression
    /// that came back to its old level then.
    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        source: &str,
        service: &str,
        metric: &str,
        cp: &ChangePoint,
        at_s: i64,
        recovered_at_s: Option<i64>,
        points: usize,
        now: DateTime<Utc>,
    ) -> Finding {
        let worse = is_worse(metric, cp.magnitude);
        let direction = if worse { "regression" } else { "improvement" };
        let severity = match (worse, cp.magnitude.abs() >= 0.5, recovered_at_s) {
            (false, _, _) => Severity::Info,
            (true, _, Some(_)) | (true, false, None) => Severity::Warning,
            (true, true, None) => Severity::Critical,
        };
        let time = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let at = time(at_s);
        let recovered_at = recovered_at_s.map(time);
        let verb = if cp.magnitude > 0.0 { "rose" } else { "fell" };
        let level = match metric {
            "p95" => format!("{:.0} ms → {:.0} ms", cp.before * 1e3, cp.after * 1e3),
            _ => format!("{:.3} → {:.3}", cp.before, cp.after),
        };
        let label = if metric == "p95" { "P95" } else { "Apdex" };
        let fresh = recovered_at.is_none() && cp.points_after <= changepoint::FRESH_POINTS_MAX;
        let evidence_s = cp.points_after as i64 * self.resolution_s;
        let when = match recovered_at {
            Some(end) => format!(
                "from {} to {}, {}",
                at.format("%Y-%m-%d %H:%M"),
                end.format("%Y-%m-%d %H:%M UTC"),
                if worse { "recovered" } else { "then back" }
            ),
            None => format!("at {}", at.format("%Y-%m-%d %H:%M UTC")),
        };
        let note = if fresh {
            format!("; new, {} of evidence", span(evidence_s))
        } else {
            String::new()
        };
        Finding {
            finding_id: finding_id(
                "p95_regression",
                &self.name,
                &[source, service, metric, &at_s.to_string()],
            ),
            kind: "p95_regression".to_string(),
            severity,
            provider: None,
            account_id: None,
            service: Some(service.to_string()),
            resource_id: None,
            title: format!(
                "{service} {label} {verb} {:.0} % ({level}) {when} ({direction}{note})",
                cp.magnitude.abs() * 100.0,
            ),
            evidence: Finding::evidence_json(&P95RegressionEvidence {
                source: source.to_string(),
                metric: if metric == "p95" {
                    LatencyMetric::P95
                } else {
                    LatencyMetric::Apdex
                },
                direction: if worse {
                    Direction::Regression
                } else {
                    Direction::Improvement
                },
                at,
                recovered: recovered_at.is_some(),
                recovered_at,
                before: cp.before,
                after: cp.after,
                magnitude: cp.magnitude,
                p_value: cp.p_value,
                resolution_s: self.resolution_s,
                points,
                points_after: cp.points_after,
                evidence_s,
                fresh,
            }),
            monthly_savings: None,
            currency: None,
            first_seen: now,
            last_seen: now,
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        }
    }

    /// The findings of one series: each change, a change and its return to
    /// the old level paired into one; those that touch the period (from
    /// `period_start`) are kept.
    #[allow(clippy::too_many_arguments)]
    fn series_findings(
        &self,
        source: &str,
        service: &str,
        metric: &str,
        starts: &[i64],
        cps: &[ChangePoint],
        period_start: i64,
        now: DateTime<Utc>,
        out: &mut Vec<Finding>,
    ) {
        let worse = |c: &ChangePoint| is_worse(metric, c.magnitude);
        let mut i = 0;
        while i < cps.len() {
            let cp = &cps[i];
            // A change undone by the next one: a regression that recovered,
            // or an improvement that did not last (one finding, so the way
            // back is not reported as a change of its own).
            let back = cps.get(i + 1).filter(|next| {
                worse(cp) != worse(next)
                    && (next.after - cp.before).abs() <= self.config.min_magnitude * cp.before.abs()
            });
            let at_s = starts[cp.index];
            let recovered_at_s = back.map(|next| starts[next.index]);
            if recovered_at_s.unwrap_or(at_s) >= period_start {
                out.push(self.finding(
                    source,
                    service,
                    metric,
                    cp,
                    at_s,
                    recovered_at_s,
                    starts.len(),
                    now,
                ));
            }
            i += if back.is_some() { 2 } else { 1 };
        }
    }
}

/// Whether a change of `magnitude` in `metric` is bad for users: P95 up,
/// Apdex down.
fn is_worse(metric: &str, magnitude: f64) -> bool {
    if metric == "p95" {
        magnitude > 0.0
    } else {
        magnitude < 0.0
    }
}

/// `4 h`, `90 min`, `2 d`: how long a span of evidence is.
fn span(seconds: i64) -> String {
    match seconds {
        s if s >= 2 * 86_400 && s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{} h", s / 3_600),
        s => format!("{} min", s / 60),
    }
}

impl Analyzer for P95Regression {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "p95_regression"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Latency]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let history = DayRange::new(
            ctx.period.end - Duration::days(i64::from(self.config.history_days) - 1),
            ctx.period.end,
        )
        .map_or(ctx.period, |h| h.union(&ctx.period));
        let rows = scan_rows(ctx.store, history, &self.name)?;
        let period_start = ctx
            .period
            .start
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp();
        let now = ctx.now;
        let params = self.params();
        let mut findings = Vec::new();
        for ((source, service), points) in self.series(&rows) {
            for metric in ["p95", "apdex"] {
                let (starts, values): (Vec<i64>, Vec<f64>) = points
                    .iter()
                    .filter_map(|p| {
                        let v = if metric == "p95" { p.p95 } else { p.apdex };
                        v.filter(|v| v.is_finite()).map(|v| (p.start_s, v))
                    })
                    .unzip();
                let phase: Vec<usize> = starts
                    .iter()
                    .map(|s| (s.rem_euclid(86_400) / self.resolution_s) as usize)
                    .collect();
                let season = (self.resolution_s < 86_400).then_some(Season {
                    phase: &phase,
                    period: (86_400 / self.resolution_s) as usize,
                });
                let cps = changepoint::detect_seasonal(&values, season, &params);
                self.series_findings(
                    &source,
                    &service,
                    metric,
                    &starts,
                    &cps,
                    period_start,
                    now,
                    &mut findings,
                );
            }
        }
        Ok(AnalysisOutput {
            findings,
            summaries: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_core::config::ComponentKind;

    fn analyzer() -> P95Regression {
        let cfg =
            ComponentConfig::from_toml(ComponentKind::Analyzer, "r", "type = \"p95_regression\"")
                .unwrap();
        P95Regression::new(&cfg).unwrap()
    }

    fn change(index: usize, before: f64, after: f64, points_after: usize) -> ChangePoint {
        ChangePoint {
            index,
            before,
            after,
            magnitude: (after - before) / before,
            p_value: 1e-6,
            points_after,
        }
    }

    fn findings(metric: &str, cps: &[ChangePoint], period_start: i64) -> Vec<Finding> {
        let starts: Vec<i64> = (0..200).map(|i| i * 3_600).collect();
        let mut out = Vec::new();
        analyzer().series_findings(
            "logs",
            "api",
            metric,
            &starts,
            cps,
            period_start,
            Utc::now(),
            &mut out,
        );
        out
    }

    #[test]
    fn a_change_and_its_undoing_are_one_finding() {
        // P95 up 40 % at 50, back at 65: one regression, recovered.
        let f = findings(
            "p95",
            &[change(50, 0.2, 0.28, 15), change(65, 0.28, 0.205, 135)],
            0,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["recovered"], true);
        assert_eq!(f[0].evidence["direction"], "regression");
        assert_eq!(f[0].evidence["recovered_at"], "1970-01-03T17:00:00+00:00");
        assert_eq!(f[0].severity, Severity::Warning);
        // Apdex down then back: the same, for Apdex.
        let f = findings(
            "apdex",
            &[change(50, 0.95, 0.7, 15), change(65, 0.7, 0.94, 135)],
            0,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["direction"], "regression");
        // An improvement that did not last: one improvement, not a
        // regression when it ends.
        let f = findings(
            "p95",
            &[change(50, 0.2, 0.1, 15), change(65, 0.1, 0.2, 135)],
            0,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["direction"], "improvement");
        assert!(f[0].title.contains("then back"), "{}", f[0].title);
        // Back to a different level: two changes.
        let f = findings(
            "p95",
            &[change(50, 0.2, 0.3, 15), change(65, 0.3, 0.25, 135)],
            0,
        );
        assert_eq!(f.len(), 2, "{f:#?}");
        // A recovered regression that started before the period but ended
        // in it is the period's; one wholly before it is not.
        let cps = [change(50, 0.2, 0.28, 15), change(65, 0.28, 0.2, 135)];
        assert_eq!(findings("p95", &cps, 60 * 3_600).len(), 1);
        assert_eq!(findings("p95", &cps, 70 * 3_600).len(), 0);
    }

    #[test]
    fn a_fresh_change_says_how_much_evidence_it_has() {
        let f = findings("p95", &[change(196, 0.2, 0.3, 4)], 0);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["fresh"], true);
        assert_eq!(f[0].evidence["points_after"], 4);
        assert_eq!(f[0].evidence["evidence_s"], 4 * 3_600);
        assert!(
            f[0].title.ends_with("(regression; new, 4 h of evidence)"),
            "{}",
            f[0].title
        );
        assert!(f[0].evidence["recovered_at"].is_null());
        let f = findings("p95", &[change(100, 0.2, 0.3, 100)], 0);
        assert_eq!(f[0].evidence["fresh"], false);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(span(5_400), "90 min");
        assert_eq!(span(2 * 86_400), "2 d");
    }
}
