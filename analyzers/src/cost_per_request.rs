//! `cost_per_request`: what each service costs per request, the answer
//! only a tool holding both the bill and the latencies can give.
//!
//! Cost: the cost dataset's `effective_cost` (amortized, after discounts:
//! what a request really costs) of the rows whose `tag_key` tag names a
//! service, mapped through `services` (tag value → the latency dataset's
//! service name; a value not in the map is the name itself). Requests: the
//! latency dataset's `requests` of that service, from one source (the
//! configured `latency_source`, else the source that counted the most
//! requests for it over the two periods: two sources watching one service
//! count the same requests, so they are never added). Per service,
//! currency and day of the period, and over the period against the one
//! before it. Cost whose rows carry no such tag is shown as unattributed,
//! with its share of the period's cost.
//!
//! A finding when a service's cost per 1,000 requests rose by more than
//! `rise_ratio` (default 1.25: 25 %) over the previous period while its
//! requests did not rise as much, both periods with at least
//! `min_requests` requests.
//!
//! The sums run in Polars over the store (cost a day at a time per tag
//! value, requests per service, source and day); only those small
//! aggregates reach Rust.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::CostPerRequestEvidence;
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::frames::{collect_streaming, exact_sum, on_days};
use vitals_core::period::DayRange;
use vitals_core::summary::{
    CostPerRequestSummary, ServiceDayCost, ServiceUnitCost, Summary, UnattributedCost, UnitCost,
};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::cost_summary::with_tag_column;
use crate::error::AnalyzeError;

const COST_COLUMN: &str = "effective_cost";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostPerRequestConfig {
    /// The tag (or label) naming a cost row's service. Default `service`.
    #[serde(default = "default_tag_key")]
    tag_key: String,
    /// Tag value → the latency dataset's service name, where they differ.
    #[serde(default)]
    services: BTreeMap<String, String>,
    /// The latency source whose requests count; default: per service, the
    /// source with the most requests.
    latency_source: Option<String>,
    /// A rise of the cost per 1,000 requests above this ratio (with
    /// traffic rising less) is a finding. Default 1.25.
    #[serde(default = "default_rise_ratio")]
    rise_ratio: f64,
    /// Requests each period needs before a rise is judged. Default 1,000.
    #[serde(default = "default_min_requests")]
    min_requests: f64,
}

fn default_tag_key() -> String {
    "service".to_string()
}

fn default_rise_ratio() -> f64 {
    1.25
}

fn default_min_requests() -> f64 {
    1000.0
}

#[derive(Debug)]
pub struct CostPerRequest {
    name: String,
    config: CostPerRequestConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let parsed: CostPerRequestConfig = config.parse()?;
    if parsed.tag_key.trim().is_empty() || parsed.tag_key.contains(['\'', '\\']) {
        return Err(config.error(
            Some("tag_key"),
            "must be a tag name without `'` or `\\` (it is read with a JSON path)",
        ));
    }
    if !(parsed.rise_ratio > 1.0 && parsed.rise_ratio.is_finite()) {
        return Err(config.error(
            Some("rise_ratio"),
            "must be a number above 1 (1.25: a rise of 25 %)",
        ));
    }
    if !(parsed.min_requests >= 0.0 && parsed.min_requests.is_finite()) {
        return Err(config.error(Some("min_requests"), "must be a number ≥ 0"));
    }
    Ok(Box::new(CostPerRequest {
        name: config.name.clone(),
        config: parsed,
    }))
}

/// Cost per (day, currency, tag value); a null tag is unattributed cost.
type CostRows = Vec<(NaiveDate, String, Option<String>, f64)>;
/// Requests per (day, service, source).
type RequestRows = Vec<(NaiveDate, String, String, f64)>;

impl CostPerRequest {
    fn store_error(&self, source: vitals_core::Error) -> AnalyzeError {
        AnalyzeError::Store {
            analyzer: self.name.clone(),
            source,
        }
    }

    fn frame_error(&self, e: PolarsError) -> AnalyzeError {
        AnalyzeError::Frame {
            analyzer: self.name.clone(),
            message: format!("joining cost and requests: {e}"),
        }
    }

    fn costs(&self, ctx: &AnalysisContext<'_>, range: DayRange) -> Result<CostRows, AnalyzeError> {
        let ts = Dataset::Cost.time_column();
        let rows = ctx
            .store
            .scan(Dataset::Cost, Some(range))
            .map_err(|e| self.store_error(e))?
            .filter(on_days(ts, range));
        let plan = with_tag_column(rows, &self.config.tag_key)
            .map_err(|e| self.frame_error(e))?
            .with_column(col(ts).dt().date().alias("day"))
            .group_by([col("day"), col("billing_currency"), col("tag")])
            .agg([exact_sum(col(COST_COLUMN)).alias("cost")]);
        let df = collect_streaming(plan).map_err(|e| self.frame_error(e))?;
        let read = || -> PolarsResult<CostRows> {
            let day: Vec<Option<NaiveDate>> = df.column("day")?.date()?.as_date_iter().collect();
            let currency = df.column("billing_currency")?.str()?;
            let tag = df.column("tag")?.str()?;
            let cost = df.column("cost")?.f64()?;
            Ok((0..df.height())
                .filter_map(|i| {
                    Some((
                        day[i]?,
                        currency.get(i)?.to_string(),
                        tag.get(i).map(str::to_string),
                        cost.get(i).unwrap_or(0.0),
                    ))
                })
                .collect())
        };
        read().map_err(|e| self.frame_error(e))
    }

    fn requests(
        &self,
        ctx: &AnalysisContext<'_>,
        range: DayRange,
    ) -> Result<RequestRows, AnalyzeError> {
        let ts = Dataset::Latency.time_column();
        let plan = ctx
            .store
            .scan(Dataset::Latency, Some(range))
            .map_err(|e| self.store_error(e))?
            .filter(on_days(ts, range))
            .group_by([
                col(ts).dt().date().alias("day"),
                col("service"),
                col("source"),
            ])
            .agg([col("requests").sum().alias("requests")]);
        let df = collect_streaming(plan).map_err(|e| self.frame_error(e))?;
        let read = || -> PolarsResult<RequestRows> {
            let day: Vec<Option<NaiveDate>> = df.column("day")?.date()?.as_date_iter().collect();
            let service = df.column("service")?.str()?;
            let source = df.column("source")?.str()?;
            let requests = df.column("requests")?.f64()?;
            Ok((0..df.height())
                .filter_map(|i| {
                    Some((
                        day[i]?,
                        service.get(i)?.to_string(),
                        source.get(i)?.to_string(),
                        requests.get(i).unwrap_or(0.0),
                    ))
                })
                .collect())
        };
        read().map_err(|e| self.frame_error(e))
    }

    /// The source counted for each service: the configured one, else the
    /// one with the most requests (ties: the first name).
    fn sources(&self, requests: &RequestRows) -> BTreeMap<String, String> {
        let mut totals: BTreeMap<(String, String), f64> = BTreeMap::new();
        for (_, service, source, n) in requests {
            if self
                .config
                .latency_source
                .as_ref()
                .is_none_or(|s| s == source)
            {
                *totals.entry((service.clone(), source.clone())).or_default() += n;
            }
        }
        let mut best: BTreeMap<String, (String, f64)> = BTreeMap::new();
        for ((service, source), n) in totals {
            let e = best.entry(service).or_insert((source.clone(), n));
            if n > e.1 {
                *e = (source, n);
            }
        }
        best.into_iter().map(|(k, (s, _))| (k, s)).collect()
    }

    fn service_of(&self, tag: &str) -> String {
        self.config
            .services
            .get(tag)
            .cloned()
            .unwrap_or_else(|| tag.to_string())
    }
}

impl Analyzer for CostPerRequest {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "cost_per_request"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Cost, Dataset::Latency]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let period = ctx.period;
        let previous = period.previous();
        let range = previous.union(&period);
        let costs = self.costs(ctx, range)?;
        let requests = self.requests(ctx, range)?;
        let sources = self.sources(&requests);

        // Requests per (service, day) from its source.
        let mut served: BTreeMap<(String, NaiveDate), f64> = BTreeMap::new();
        for (day, service, source, n) in &requests {
            if sources.get(service) == Some(source) {
                *served.entry((service.clone(), *day)).or_default() += n;
            }
        }
        // Cost per (service, currency, day); unattributed per currency.
        let mut cost: BTreeMap<(String, String, NaiveDate), f64> = BTreeMap::new();
        let mut unattributed: BTreeMap<String, f64> = BTreeMap::new();
        let mut period_total: BTreeMap<String, f64> = BTreeMap::new();
        for (day, currency, tag, amount) in &costs {
            if period.contains(*day) {
                *period_total.entry(currency.clone()).or_default() += amount;
            }
            match tag {
                Some(t) => {
                    *cost
                        .entry((self.service_of(t), currency.clone(), *day))
                        .or_default() += amount;
                }
                None if period.contains(*day) => {
                    *unattributed.entry(currency.clone()).or_default() += amount;
                }
                None => {}
            }
        }

        // Index 0: the previous period, 1: the period.
        let slot = |day: &NaiveDate| usize::from(period.contains(*day));
        let mut requests_of: BTreeMap<&str, [f64; 2]> = BTreeMap::new();
        for ((service, day), n) in &served {
            requests_of.entry(service.as_str()).or_default()[slot(day)] += n;
        }
        let mut days = Vec::new();
        let mut cost_of: BTreeMap<(String, String), [f64; 2]> = BTreeMap::new();
        for ((service, currency, day), amount) in &cost {
            cost_of
                .entry((service.clone(), currency.clone()))
                .or_default()[slot(day)] += amount;
            if period.contains(*day) {
                let n = served.get(&(service.clone(), *day)).copied().unwrap_or(0.0);
                days.push(ServiceDayCost {
                    service: service.clone(),
                    currency: currency.clone(),
                    day: *day,
                    unit: UnitCost::new(*amount, n),
                });
            }
        }
        let change = |cur: Option<f64>, prev: Option<f64>| match (cur, prev) {
            (Some(c), Some(p)) if p > 0.0 => Some(c / p - 1.0),
            _ => None,
        };
        let mut services: Vec<ServiceUnitCost> = cost_of
            .into_iter()
            .map(|((service, currency), [prev, cur])| {
                let n = requests_of
                    .get(service.as_str())
                    .copied()
                    .unwrap_or_default();
                let (current, previous) = (UnitCost::new(cur, n[1]), UnitCost::new(prev, n[0]));
                ServiceUnitCost {
                    source: sources.get(&service).cloned(),
                    per_1k_change: change(current.per_1k_requests, previous.per_1k_requests),
                    requests_change: change(Some(current.requests), Some(previous.requests)),
                    service,
                    currency,
                    current,
                    previous,
                }
            })
            .collect();
        services.sort_by(|a, b| {
            b.current
                .cost
                .total_cmp(&a.current.cost)
                .then_with(|| a.service.cmp(&b.service))
        });
        let findings = services
            .iter()
            .filter_map(|s| self.finding(ctx, s))
            .collect();
        let summary = CostPerRequestSummary {
            analyzer: self.name.clone(),
            tag_key: self.config.tag_key.clone(),
            cost_column: COST_COLUMN.to_string(),
            period,
            previous_period: previous,
            services,
            days,
            unattributed: unattributed
                .into_iter()
                .map(|(currency, cost)| UnattributedCost {
                    share: period_total
                        .get(&currency)
                        .filter(|t| **t != 0.0)
                        .map(|t| cost / t),
                    currency,
                    cost,
                })
                .collect(),
        };
        Ok(AnalysisOutput {
            findings,
            summaries: vec![Summary::CostPerRequest(Box::new(summary))],
        })
    }
}

impl CostPerRequest {
    /// A finding if `s`'s unit cost rose more than `rise_ratio` while its
    /// traffic rose less.
    fn finding(&self, ctx: &AnalysisContext<'_>, s: &ServiceUnitCost) -> Option<Finding> {
        let c = &self.config;
        let (cur, prev) = (s.current.per_1k_requests?, s.previous.per_1k_requests?);
        let enough = s.current.requests >= c.min_requests && s.previous.requests >= c.min_requests;
        let (ratio, requests_ratio) = (cur / prev, s.current.requests / s.previous.requests);
        if !(enough
            && prev > 0.0
            && ratio > c.rise_ratio
            && requests_ratio < ratio.min(c.rise_ratio))
        {
            return None;
        }
        let evidence = CostPerRequestEvidence {
            currency: s.currency.clone(),
            source: s.source.clone()?,
            period_start: ctx.period.start,
            period_end: ctx.period.end,
            cost: s.current.cost,
            requests: s.current.requests,
            per_1k_requests: cur,
            previous_cost: s.previous.cost,
            previous_requests: s.previous.requests,
            previous_per_1k_requests: prev,
            ratio,
            requests_ratio,
        };
        let kind = self.type_name();
        Some(Finding {
            finding_id: finding_id(kind, &self.name, &[&s.service, &s.currency]),
            kind: kind.to_string(),
            severity: Severity::Warning,
            provider: None,
            account_id: None,
            service: Some(s.service.clone()),
            owner: None,
            resource_id: None,
            title: format!(
                "{}: cost per 1,000 requests rose {:.0} % ({:.4} → {:.4} {}) while requests changed {:+.0} %",
                s.service,
                (ratio - 1.0) * 100.0,
                prev,
                cur,
                s.currency,
                (requests_ratio - 1.0) * 100.0
            ),
            evidence: Finding::evidence_json(&evidence),
            monthly_savings: None,
            currency: Some(s.currency.clone()),
            first_seen: ctx.now,
            last_seen: ctx.now,
            slo_safety: None,
            status: FindingStatus::Open,
        })
    }
}
