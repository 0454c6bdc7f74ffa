//! `commitment`: Savings Plans, Reserved Instances and committed use
//! discounts, read from the bill, whichever cloud it comes from.
//!
//! Eligible spend: the cost dataset's compute usage (`service_category`
//! `Compute`, `charge_category` `Usage`), per provider and currency, over
//! the `lookback_days` (7, 30 or 60; default 30) ending with the period.
//! Usage at on-demand rates is `pricing_category` `Standard` (its effective
//! cost); usage commitments covered is `Committed` (its list cost, the
//! on-demand value it replaced; the effective cost where a source has no
//! list cost). A row spanning several hours (a daily row) is spread evenly
//! over them. Coverage = covered / (covered + on-demand).
//!
//! The recommendation, as Cost Explorer's "maximize savings": with the
//! hourly on-demand spend s_h of every hour of the lookback (hours without
//! spend count as 0) and the commitment's discount d (`discounts`, per
//! provider, from your own rate: 0.28 for 28 % off), a commitment covering
//! x of on-demand spend an hour saves Σ_h min(s_h, x) − H·x·(1 − d). That
//! is concave in x and largest at the spend level exceeded in a fraction
//! 1 − d of hours; it is found exactly among the hours' own values (ties
//! to the smaller commitment), and stated as the hourly commitment
//! x·(1 − d), the monthly saving (per 730 hours), the utilization it would
//! have had, and the break-even months of an all-upfront purchase. It is on
//! top of what is held: held commitments' usage is not on-demand spend.
//!
//! Two sums run in Polars over the store: the eligible rows grouped by
//! provider, currency, pricing and charge period; only those aggregates
//! (at most one per hour and kind) reach Rust.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime, Timelike};
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::CommitmentEvidence;
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::frames::{collect_streaming, exact_sum, on_days};
use vitals_core::period::DayRange;
use vitals_core::summary::{CommitmentRecommendation, CommitmentSummary, CommitmentView, Summary};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;

const HOURS_PER_MONTH: f64 = 730.0;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitmentConfig {
    /// Days of usage the recommendation reads: 7, 30 or 60. Default 30.
    #[serde(default = "default_lookback_days")]
    lookback_days: i64,
    /// The commitment's discount off on-demand per provider (the cost
    /// dataset's `provider`, e.g. `AWS`, `Google Cloud`); a provider
    /// without one gets coverage but no recommendation.
    #[serde(default)]
    discounts: BTreeMap<String, f64>,
    /// 1 or 3. Default 1.
    #[serde(default = "default_term_years")]
    term_years: u32,
    /// A recommendation saving less a month is not a finding. Default 10.
    #[serde(default = "default_min_monthly_saving")]
    min_monthly_saving: f64,
}

fn default_lookback_days() -> i64 {
    30
}

fn default_term_years() -> u32 {
    1
}

fn default_min_monthly_saving() -> f64 {
    10.0
}

#[derive(Debug)]
pub struct Commitment {
    name: String,
    config: CommitmentConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let parsed: CommitmentConfig = config.parse()?;
    if ![7, 30, 60].contains(&parsed.lookback_days) {
        return Err(config.error(
            Some("lookback_days"),
            "must be 7, 30 or 60 (the lookbacks Cost Explorer offers)",
        ));
    }
    if ![1, 3].contains(&parsed.term_years) {
        return Err(config.error(Some("term_years"), "must be 1 or 3"));
    }
    if let Some((provider, d)) = parsed
        .discounts
        .iter()
        .find(|(_, d)| !(**d > 0.0 && **d < 1.0))
    {
        return Err(config.error(
            Some("discounts"),
            format!("`{provider}`: {d} is not a discount between 0 and 1 (0.28: 28 % off)"),
        ));
    }
    if !(parsed.min_monthly_saving >= 0.0 && parsed.min_monthly_saving.is_finite()) {
        return Err(config.error(Some("min_monthly_saving"), "must be a number ≥ 0"));
    }
    Ok(Box::new(Commitment {
        name: config.name.clone(),
        config: parsed,
    }))
}

/// The commitment level x (on-demand spend covered per hour) that
/// maximizes Σ min(s_h, x) − H·x·(1 − d) over `hourly`, with its saving;
/// `None` if no level saves anything.
pub(crate) fn best_level(hourly: &[f64], discount: f64) -> Option<(f64, f64)> {
    let mut sorted: Vec<f64> = hourly.to_vec();
    sorted.sort_by(f64::total_cmp);
    let h = sorted.len() as f64;
    let mut below = 0.0;
    let mut best: Option<(f64, f64)> = None;
    for (k, &x) in sorted.iter().enumerate() {
        // Hours at or above x (from index k) are covered up to x.
        let saving = below + (h - k as f64) * x - h * x * (1.0 - discount);
        if x > 0.0 && saving > best.map_or(0.0, |b| b.1) {
            best = Some((x, saving));
        }
        below += x;
    }
    best
}

/// Each hour of `lookback`, from its first.
fn hours_of(lookback: DayRange) -> Vec<NaiveDateTime> {
    let start = lookback
        .start
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    let days = (lookback.end - lookback.start).num_days() + 1;
    (0..days * 24).map(|i| start + Duration::hours(i)).collect()
}

/// Eligible spend per (provider, currency) and hour: [on-demand, covered].
type Hourly = BTreeMap<(String, String), BTreeMap<NaiveDateTime, [f64; 2]>>;

impl Commitment {
    fn frame_error(&self, e: PolarsError) -> AnalyzeError {
        AnalyzeError::Frame {
            analyzer: self.name.clone(),
            message: format!("summing eligible compute spend: {e}"),
        }
    }

    fn hourly(
        &self,
        ctx: &AnalysisContext<'_>,
        lookback: DayRange,
    ) -> Result<Hourly, AnalyzeError> {
        let ts = Dataset::Cost.time_column();
        let frame = ctx
            .store
            .scan(Dataset::Cost, Some(lookback))
            .map_err(|source| AnalyzeError::Store {
                analyzer: self.name.clone(),
                source,
            })?;
        let committed = col("pricing_category").eq(lit("Committed"));
        let plan = frame
            .filter(on_days(ts, lookback))
            .filter(
                col("service_category")
                    .eq(lit("Compute"))
                    .and(col("charge_category").eq(lit("Usage")))
                    .and(
                        committed
                            .clone()
                            .or(col("pricing_category").eq(lit("Standard"))),
                    ),
            )
            .with_column(
                when(committed.clone())
                    .then(coalesce(&[col("list_cost"), col("effective_cost")]))
                    .otherwise(col("effective_cost"))
                    .alias("on_demand_value"),
            )
            .group_by([
                col("provider"),
                col("billing_currency"),
                committed.alias("covered"),
                col(ts),
                col("charge_period_end"),
            ])
            .agg([exact_sum(col("on_demand_value")).alias("value")]);
        let df = collect_streaming(plan).map_err(|e| self.frame_error(e))?;
        let read = || -> PolarsResult<Hourly> {
            let provider = df.column("provider")?.str()?;
            let currency = df.column("billing_currency")?.str()?;
            let covered = df.column("covered")?.bool()?;
            let start: Vec<Option<NaiveDateTime>> =
                df.column(ts)?.datetime()?.as_datetime_iter().collect();
            let end: Vec<Option<NaiveDateTime>> = df
                .column("charge_period_end")?
                .datetime()?
                .as_datetime_iter()
                .collect();
            let value = df.column("value")?.f64()?;
            let lookback_start = lookback.start.and_hms_opt(0, 0, 0).expect("midnight");
            let lookback_end = (lookback.end + Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight");
            let mut out = Hourly::new();
            for i in 0..df.height() {
                let (Some(p), Some(c), Some(s)) = (provider.get(i), currency.get(i), start[i])
                else {
                    continue;
                };
                let slot = usize::from(covered.get(i).unwrap_or(false));
                let e = end[i].filter(|e| *e > s).unwrap_or(s + Duration::hours(1));
                // Spread over the row's hours (each hour it touches).
                let first = s.date().and_hms_opt(s.hour(), 0, 0).unwrap_or(s);
                let hours: Vec<NaiveDateTime> = (0..)
                    .map(|k| first + Duration::hours(k))
                    .take_while(|h| *h < e)
                    .filter(|h| *h >= lookback_start && *h < lookback_end)
                    .collect();
                let total_hours = ((e - first).num_minutes() as f64 / 60.0).ceil().max(1.0);
                let per_hour = value.get(i).unwrap_or(0.0) / total_hours;
                let series = out.entry((p.to_string(), c.to_string())).or_default();
                for h in hours {
                    series.entry(h).or_default()[slot] += per_hour;
                }
            }
            Ok(out)
        };
        read().map_err(|e| self.frame_error(e))
    }

    fn view(
        &self,
        provider: &str,
        currency: &str,
        hours: &[NaiveDateTime],
        series: &BTreeMap<NaiveDateTime, [f64; 2]>,
    ) -> CommitmentView {
        let on_demand: Vec<f64> = hours
            .iter()
            .map(|h| series.get(h).map_or(0.0, |v| v[0]))
            .collect();
        let covered: f64 = series.values().map(|v| v[1]).sum();
        let total: f64 = on_demand.iter().sum();
        let n = on_demand.len().max(1) as f64;
        let recommendation = self.config.discounts.get(provider).and_then(|&d| {
            let (x, saving) = best_level(&on_demand, d)?;
            let used: f64 = on_demand.iter().map(|s| s.min(x)).sum();
            let utilization = used / (n * x);
            Some(CommitmentRecommendation {
                discount: d,
                term_years: self.config.term_years,
                covered_hourly: x,
                hourly_commitment: x * (1.0 - d),
                lookback_saving: saving,
                monthly_saving: saving / n * HOURS_PER_MONTH,
                utilization,
                break_even_months: 12.0 * f64::from(self.config.term_years) * (1.0 - d)
                    / utilization,
            })
        });
        CommitmentView {
            provider: provider.to_string(),
            currency: currency.to_string(),
            hours: on_demand.len(),
            on_demand: total,
            covered,
            coverage: (covered + total > 0.0).then(|| covered / (covered + total)),
            hourly_min: on_demand.iter().copied().reduce(f64::min).unwrap_or(0.0),
            hourly_mean: total / n,
            hourly_max: on_demand.iter().copied().fold(0.0, f64::max),
            recommendation,
        }
    }

    fn finding(
        &self,
        ctx: &AnalysisContext<'_>,
        lookback: DayRange,
        v: &CommitmentView,
    ) -> Option<Finding> {
        let r = v.recommendation.clone()?;
        if r.monthly_saving < self.config.min_monthly_saving {
            return None;
        }
        let kind = self.type_name();
        let title = format!(
            "{}: commit {:.4} {}/hour for {} year(s) at {:.0} % off: saves {:.2} {}/month \
             ({:.1} % utilized over the last {} days)",
            v.provider,
            r.hourly_commitment,
            v.currency,
            r.term_years,
            r.discount * 100.0,
            r.monthly_saving,
            v.currency,
            r.utilization * 100.0,
            self.config.lookback_days
        );
        let evidence = CommitmentEvidence {
            provider: v.provider.clone(),
            currency: v.currency.clone(),
            lookback_start: lookback.start,
            lookback_end: lookback.end,
            coverage: v.coverage,
            recommendation: r.clone(),
        };
        Some(Finding {
            finding_id: finding_id(kind, &self.name, &[&v.provider, &v.currency]),
            kind: kind.to_string(),
            severity: Severity::Info,
            provider: Some(v.provider.clone()),
            account_id: None,
            service: None,
            owner: None,
            slo_safety: None,
            resource_id: None,
            title,
            evidence: Finding::evidence_json(&evidence),
            monthly_savings: Some(r.monthly_saving),
            currency: Some(v.currency.clone()),
            first_seen: ctx.now,
            last_seen: ctx.now,
            status: FindingStatus::Open,
        })
    }
}

impl Analyzer for Commitment {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "commitment"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Cost]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let end = ctx.period.end;
        let lookback = DayRange {
            start: end - Duration::days(self.config.lookback_days - 1),
            end,
        };
        let hourly = self.hourly(ctx, lookback)?;
        let hours = hours_of(lookback);
        let providers: Vec<CommitmentView> = hourly
            .iter()
            .map(|((p, c), series)| self.view(p, c, &hours, series))
            .collect();
        let findings = providers
            .iter()
            .filter_map(|v| self.finding(ctx, lookback, v))
            .collect();
        Ok(AnalysisOutput {
            findings,
            summaries: vec![Summary::Commitment(Box::new(CommitmentSummary {
                analyzer: self.name.clone(),
                lookback,
                providers,
            }))],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every level, the saving by the definition (brute force).
    fn brute(hourly: &[f64], d: f64) -> Option<(f64, f64)> {
        let h = hourly.len() as f64;
        let mut levels: Vec<f64> = hourly.to_vec();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        let mut best: Option<(f64, f64)> = None;
        for x in levels.into_iter().filter(|x| *x > 0.0) {
            let s: f64 = hourly.iter().map(|v| v.min(x)).sum::<f64>() - h * x * (1.0 - d);
            if s > best.map_or(1e-12, |b| b.1 + 1e-12) {
                best = Some((x, s));
            }
        }
        best
    }

    #[test]
    fn the_best_level_is_the_brute_force_one() {
        let series: Vec<f64> = (0..720)
            .map(|i| {
                let day = (i / 24) % 7;
                let hour = i % 24;
                let base = if day >= 5 { 2.0 } else { 5.0 };
                base + if (8..20).contains(&hour) { 3.5 } else { 0.0 } + (i % 7) as f64 * 0.125
            })
            .collect();
        for d in [0.1, 0.28, 0.37, 0.55, 0.72] {
            let (x, s) = best_level(&series, d).unwrap();
            let (bx, bs) = brute(&series, d).unwrap();
            assert_eq!(x, bx, "discount {d}");
            assert!((s - bs).abs() < 1e-9, "discount {d}: {s} vs {bs}");
        }
        // Nothing to commit to: no saving.
        assert_eq!(best_level(&[0.0; 48], 0.3), None);
        // A steady 1.0 an hour at 30 % off: commit to all of it.
        let (x, s) = best_level(&[1.0; 10], 0.3).unwrap();
        assert_eq!(x, 1.0);
        assert!((s - 3.0).abs() < 1e-12);
    }
}
