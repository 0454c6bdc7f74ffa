//! `p95_regression`: the moment a service got slower (or faster) and stayed
//! so.
//!
//! For each source and service, a P95 series at `resolution` (default one
//! hour) over the `history_days` up to the end of the period: each point the
//! P95 of that hour's merged histograms (or the source's own P95 where one
//! stored interval is exactly one point), points with fewer than
//! `min_requests` requests left out. The Apdex series is built the same way.
//! Change points come from [`crate::changepoint`] (rank-based binary
//! segmentation, Bonferroni-adjusted p-values, median levels); a change
//! within the period is a finding: a rise of P95 or a fall of Apdex is a
//! regression (warning, or critical from 50 %), the opposite an improvement
//! (info). A one-point spike is never a change: a level must hold on both
//! sides for `min_points` points.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::period::DayRange;

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::changepoint::{self, ChangePoint, Params};
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
    Ok(Box::new(P95Regression {
        name: config.name.clone(),
        config: c,
        resolution_s,
    }))
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

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        source: &str,
        service: &str,
        metric: &str,
        cp: &ChangePoint,
        at_s: i64,
        points: usize,
        now: DateTime<Utc>,
    ) -> Finding {
        // P95 up is worse; Apdex down is worse.
        let worse = if metric == "p95" {
            cp.magnitude > 0.0
        } else {
            cp.magnitude < 0.0
        };
        let direction = if worse { "regression" } else { "improvement" };
        let severity = match (worse, cp.magnitude.abs() >= 0.5) {
            (false, _) => Severity::Info,
            (true, false) => Severity::Warning,
            (true, true) => Severity::Critical,
        };
        let at = DateTime::from_timestamp(at_s, 0).unwrap_or_default();
        let (verb, level) = match metric {
            "p95" => (
                if cp.magnitude > 0.0 { "rose" } else { "fell" },
                format!("{:.0} ms → {:.0} ms", cp.before * 1e3, cp.after * 1e3),
            ),
            _ => (
                if cp.magnitude > 0.0 { "rose" } else { "fell" },
                format!("{:.3} → {:.3}", cp.before, cp.after),
            ),
        };
        let label = if metric == "p95" { "P95" } else { "Apdex" };
        Finding {
            finding_id: finding_id(
                "p95_regression",
                &[source, service, metric, &at_s.to_string()],
            ),
            kind: "p95_regression".to_string(),
            severity,
            provider: None,
            account_id: None,
            service: Some(service.to_string()),
            resource_id: None,
            title: format!(
                "{service} {label} {verb} {:.0} % ({level}) at {} ({direction})",
                cp.magnitude.abs() * 100.0,
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            evidence: json!({
                "source": source,
                "metric": metric,
                "direction": direction,
                "at": at.to_rfc3339(),
                "before": cp.before,
                "after": cp.after,
                "magnitude": cp.magnitude,
                "p_value": cp.p_value,
                "resolution_s": self.resolution_s,
                "points": points,
            }),
            monthly_savings: None,
            currency: None,
            first_seen: now,
            last_seen: now,
            status: FindingStatus::Open,
        }
    }
}

impl Analyzer for P95Regression {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "p95_regression"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Latency
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
        let now = Utc::now();
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
                for cp in changepoint::detect(&values, &params) {
                    let at_s = starts[cp.index];
                    if at_s >= period_start {
                        findings.push(self.finding(
                            &source,
                            &service,
                            metric,
                            &cp,
                            at_s,
                            values.len(),
                            now,
                        ));
                    }
                }
            }
        }
        Ok(AnalysisOutput {
            findings,
            summaries: Vec::new(),
        })
    }
}
