//! `slo`: per-service objectives, their compliance per day and over the
//! period, breach findings, and error-budget burn rates.
//!
//! Objectives (defaults, each overridable per service): P95 below 500 ms,
//! Apdex at least 0.94, error rate below 1 %. The figures are
//! `latency_summary`'s (same merging rules: quantiles never averaged).
//! A period whose figure misses its target is a breach finding listing the
//! days that missed it; a low-traffic span is shown but never a breach.
//!
//! Burn rate is the error rate over a window divided by the error-rate
//! objective, at the end of each service's data. Multi-window alerting as in
//! Google's SRE Workbook ("Alerting on SLOs"): a fast burn (1 h and 5 min
//! windows both at least 14.4, two percent of a 30-day budget in an hour)
//! is a critical finding; a slow burn (6 h and 30 min both at least 6) a
//! warning. The short window confirms the burn is still going on, so an
//! alert stops soon after the errors do.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::{BurnEvidence, MissedObjective, SloEvidence};
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::summary::{BurnRate, LatencyStats, SloStatus, SloSummary, Summary};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;
use crate::latency_summary::{IntervalRow, LatencySummaryConfig, scan_rows, summarize};

/// Burn rate at which both fast windows page.
pub const FAST_BURN: f64 = 14.4;
/// Burn rate at which both slow windows open a ticket.
pub const SLOW_BURN: f64 = 6.0;

/// `[analyzers.NAME] type = "slo"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// P95 must stay below this, in seconds. Default 0.5.
    #[serde(default = "default_p95_s")]
    pub p95_s: f64,
    /// Apdex must be at least this. Default 0.94.
    #[serde(default = "default_apdex")]
    pub apdex: f64,
    /// The error rate must stay below this (0..1); also the error budget
    /// burn rates are measured against. Default 0.01.
    #[serde(default = "default_error_rate")]
    pub error_rate: f64,
    /// Apdex T in seconds. Default 0.5.
    #[serde(default = "default_apdex_t_s")]
    pub apdex_t_s: f64,
    /// Per-service overrides of the four settings above, e.g.
    /// `{ reports = { p95_s = 2.0, apdex_t_s = 2.0 } }`.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceTargets>,
    /// Spans with fewer requests are low traffic: shown, never a breach.
    /// Default 100.
    #[serde(default = "default_min_requests")]
    pub min_requests: f64,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTargets {
    pub p95_s: Option<f64>,
    pub apdex: Option<f64>,
    pub error_rate: Option<f64>,
    pub apdex_t_s: Option<f64>,
}

fn default_p95_s() -> f64 {
    0.5
}
fn default_apdex() -> f64 {
    0.94
}
fn default_error_rate() -> f64 {
    0.01
}
fn default_apdex_t_s() -> f64 {
    0.5
}
fn default_min_requests() -> f64 {
    100.0
}

/// One service's targets, overrides applied.
#[derive(Debug, Clone, Copy)]
struct Targets {
    p95_s: f64,
    apdex: f64,
    error_rate: f64,
}

impl SloConfig {
    fn targets(&self, service: &str) -> Targets {
        let o = self.services.get(service).copied().unwrap_or_default();
        Targets {
            p95_s: o.p95_s.unwrap_or(self.p95_s),
            apdex: o.apdex.unwrap_or(self.apdex),
            error_rate: o.error_rate.unwrap_or(self.error_rate),
        }
    }
}

#[derive(Debug)]
pub struct Slo {
    name: String,
    config: SloConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let c: SloConfig = config.parse()?;
    let check = |key: &str, v: f64, ok: bool, what: &str| {
        if ok && v.is_finite() {
            Ok(())
        } else {
            Err(config.error(Some(key), format!("{v} is not {what}")))
        }
    };
    let each = |prefix: &str, t: &ServiceTargets| -> Result<(), ConfigErrors> {
        if let Some(v) = t.p95_s {
            check(
                &format!("{prefix}p95_s"),
                v,
                v > 0.0,
                "a positive number of seconds",
            )?;
        }
        if let Some(v) = t.apdex {
            check(
                &format!("{prefix}apdex"),
                v,
                (0.0..=1.0).contains(&v),
                "between 0 and 1",
            )?;
        }
        if let Some(v) = t.error_rate {
            check(
                &format!("{prefix}error_rate"),
                v,
                v > 0.0 && v < 1.0,
                "between 0 and 1 (exclusive)",
            )?;
        }
        if let Some(v) = t.apdex_t_s {
            check(
                &format!("{prefix}apdex_t_s"),
                v,
                v > 0.0,
                "a positive number of seconds",
            )?;
        }
        Ok(())
    };
    each(
        "",
        &ServiceTargets {
            p95_s: Some(c.p95_s),
            apdex: Some(c.apdex),
            error_rate: Some(c.error_rate),
            apdex_t_s: Some(c.apdex_t_s),
        },
    )?;
    for (service, t) in &c.services {
        each(&format!("services.{service}."), t)?;
    }
    check(
        "min_requests",
        c.min_requests,
        c.min_requests >= 0.0,
        "a number ≥ 0",
    )?;
    Ok(Box::new(Slo {
        name: config.name.clone(),
        config: c,
    }))
}

impl Slo {
    fn statuses(&self, stats: &[LatencyStats]) -> Vec<SloStatus> {
        let mut out = Vec::new();
        for s in stats.iter().filter(|s| s.endpoint.is_none()) {
            let t = self.config.targets(&s.service);
            for (objective, target, actual, ok) in [
                ("p95", t.p95_s, s.p95_s, s.p95_s.map(|v| v < t.p95_s)),
                ("apdex", t.apdex, s.apdex, s.apdex.map(|v| v >= t.apdex)),
                (
                    "error_rate",
                    t.error_rate,
                    s.error_rate,
                    s.error_rate.map(|v| v < t.error_rate),
                ),
            ] {
                out.push(SloStatus {
                    source: s.source.clone(),
                    service: s.service.clone(),
                    day: s.day,
                    objective: objective.to_string(),
                    target,
                    actual,
                    compliant: ok,
                    low_traffic: s.low_traffic,
                });
            }
        }
        out
    }

    /// Burn rates at the end of each (source, service)'s rows.
    fn burn_rates(&self, rows: &[IntervalRow]) -> Vec<BurnRate> {
        let mut by_service: BTreeMap<(&str, &str), Vec<&IntervalRow>> = BTreeMap::new();
        for r in rows {
            by_service
                .entry((r.source.as_str(), r.service.as_str()))
                .or_default()
                .push(r);
        }
        let mut out = Vec::new();
        for ((source, service), rows) in by_service {
            let Some(end_us) = rows
                .iter()
                .map(|r| r.ts_us + r.interval_s * 1_000_000)
                .max()
            else {
                continue;
            };
            let budget = self.config.targets(service).error_rate;
            // Rows wholly inside the window ending at `end_us`.
            let burn = |window_s: i64| -> Option<f64> {
                let start_us = end_us - window_s * 1_000_000;
                let (mut requests, mut errors) = (0.0, 0.0);
                for r in rows.iter().filter(|r| r.ts_us >= start_us) {
                    requests += r.requests;
                    errors += r.errors;
                }
                (requests > 0.0).then(|| errors / requests / budget)
            };
            let (b1h, b5m, b6h, b30m) = (burn(3_600), burn(300), burn(21_600), burn(1_800));
            let both = |a: Option<f64>, b: Option<f64>, at: f64| {
                a.is_some_and(|a| a >= at) && b.is_some_and(|b| b >= at)
            };
            out.push(BurnRate {
                source: source.to_string(),
                service: service.to_string(),
                at: DateTime::from_timestamp_micros(end_us).unwrap_or_default(),
                burn_1h: b1h,
                burn_5m: b5m,
                burn_6h: b6h,
                burn_30m: b30m,
                fast_burn: both(b1h, b5m, FAST_BURN),
                slow_burn: both(b6h, b30m, SLOW_BURN),
            });
        }
        out
    }

    fn finding(
        &self,
        subject: &[&str],
        service: &str,
        severity: Severity,
        title: String,
        evidence: SloEvidence,
        now: DateTime<Utc>,
    ) -> Finding {
        Finding {
            finding_id: finding_id("slo", &self.name, subject),
            kind: "slo".to_string(),
            severity,
            provider: None,
            account_id: None,
            service: Some(service.to_string()),
            resource_id: None,
            title,
            evidence: Finding::evidence_json(&evidence),
            monthly_savings: None,
            currency: None,
            first_seen: now,
            last_seen: now,
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        }
    }
}

impl Analyzer for Slo {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "slo"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Latency]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let rows = scan_rows(ctx.store, ctx.period, &self.name)?;
        let latency_config = LatencySummaryConfig {
            apdex_t_s: self.config.apdex_t_s,
            apdex_t_s_by_service: self
                .config
                .services
                .iter()
                .filter_map(|(s, t)| t.apdex_t_s.map(|v| (s.clone(), v)))
                .collect(),
            min_requests: self.config.min_requests,
        };
        let (period_stats, daily) = summarize(&rows, &latency_config);
        let mut statuses = self.statuses(&period_stats);
        statuses.extend(self.statuses(&daily));
        let burn_rates = self.burn_rates(&rows);
        let now = ctx.now;
        let period = ctx.period.to_string();
        let mut findings = Vec::new();
        for s in statuses
            .iter()
            .filter(|s| s.day.is_none() && s.compliant == Some(false) && !s.low_traffic)
        {
            let days: Vec<String> = statuses
                .iter()
                .filter(|d| {
                    d.day.is_some()
                        && d.source == s.source
                        && d.service == s.service
                        && d.objective == s.objective
                        && d.compliant == Some(false)
                })
                .filter_map(|d| d.day.map(|x| x.to_string()))
                .collect();
            let actual = s.actual.unwrap_or(f64::NAN);
            let shown = |v: f64| match s.objective.as_str() {
                "p95" => format!("{:.0} ms", v * 1e3),
                "error_rate" => format!("{:.2} %", v * 100.0),
                _ => format!("{v:.3}"),
            };
            findings.push(self.finding(
                &[&s.source, &s.service, &s.objective, &period],
                &s.service,
                Severity::Warning,
                format!(
                    "{} missed its {} objective in {period}: {} against {}",
                    s.service,
                    s.objective,
                    shown(actual),
                    shown(s.target)
                ),
                SloEvidence::Missed(MissedObjective {
                    source: s.source.clone(),
                    objective: s.objective.clone(),
                    target: s.target,
                    actual: s.actual,
                    period: period.clone(),
                    days_breached: days,
                }),
                now,
            ));
        }
        for b in burn_rates.iter().filter(|b| b.fast_burn || b.slow_burn) {
            let (severity, kind, rate) = if b.fast_burn {
                (Severity::Critical, "fast", b.burn_1h)
            } else {
                (Severity::Warning, "slow", b.burn_6h)
            };
            findings.push(self.finding(
                &[&b.source, &b.service, "burn", kind, &b.at.to_rfc3339()],
                &b.service,
                severity,
                format!(
                    "{} is burning its error budget {:.1}× as fast as it allows ({kind} burn, at {})",
                    b.service,
                    rate.unwrap_or(f64::NAN),
                    b.at.format("%Y-%m-%d %H:%M UTC")
                ),
                SloEvidence::Burn(BurnEvidence {
                    source: b.source.clone(),
                    objective: "error_budget_burn".to_string(),
                    burn: kind.to_string(),
                    at: b.at,
                    burn_1h: b.burn_1h,
                    burn_5m: b.burn_5m,
                    burn_6h: b.burn_6h,
                    burn_30m: b.burn_30m,
                    error_rate_objective: self.config.targets(&b.service).error_rate,
                }),
                now,
            ));
        }
        Ok(AnalysisOutput {
            findings,
            summaries: vec![Summary::Slo(Box::new(SloSummary {
                analyzer: self.name.clone(),
                period: ctx.period,
                statuses,
                burn_rates,
            }))],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts_min: i64, requests: f64, errors: f64) -> IntervalRow {
        IntervalRow {
            source: "logs".into(),
            service: "api".into(),
            ts_us: ts_min * 60_000_000,
            interval_s: 300,
            requests,
            errors,
            ..Default::default()
        }
    }

    fn slo() -> Slo {
        Slo {
            name: "slo".into(),
            config: SloConfig {
                p95_s: 0.5,
                apdex: 0.94,
                error_rate: 0.01,
                apdex_t_s: 0.5,
                services: BTreeMap::new(),
                min_requests: 100.0,
            },
        }
    }

    #[test]
    fn a_burst_of_errors_burns_fast_and_a_long_trickle_burns_slow() {
        // Six hours at 0.5 % errors, then the last 5 minutes at 30 %.
        let mut rows: Vec<IntervalRow> = (0..72).map(|k| row(k * 5, 1000.0, 5.0)).collect();
        rows.push(row(72 * 5, 1000.0, 300.0));
        let b = &slo().burn_rates(&rows)[0];
        // 1 h: 12 intervals, (11 × 5 + 300) / 12,000 = 2.96 % → 2.96×.
        assert!((b.burn_1h.unwrap() - 355.0 / 12_000.0 / 0.01).abs() < 1e-9);
        assert!((b.burn_5m.unwrap() - 30.0).abs() < 1e-9);
        assert!(!b.fast_burn, "the hour has not burned 14.4× yet");
        // Now a whole hour at 20 %.
        let rows: Vec<IntervalRow> = (0..12).map(|k| row(k * 5, 1000.0, 200.0)).collect();
        let b = &slo().burn_rates(&rows)[0];
        assert!(b.fast_burn && b.slow_burn);
        // 6 % errors for six hours: slow, not fast.
        let rows: Vec<IntervalRow> = (0..72).map(|k| row(k * 5, 1000.0, 60.0)).collect();
        let b = &slo().burn_rates(&rows)[0];
        assert!(b.slow_burn && !b.fast_burn);
    }

    #[test]
    fn per_service_targets_override_the_defaults() {
        let mut s = slo();
        s.config.services.insert(
            "reports".into(),
            ServiceTargets {
                p95_s: Some(2.0),
                ..Default::default()
            },
        );
        assert_eq!(s.config.targets("reports").p95_s, 2.0);
        assert_eq!(s.config.targets("reports").apdex, 0.94);
        assert_eq!(s.config.targets("api").p95_s, 0.5);
    }
}
