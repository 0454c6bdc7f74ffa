//! `spot_candidate`: on-demand instances whose work survives an
//! interruption, so they could run as spot capacity.
//!
//! A candidate is a running on-demand instance that has run for at least
//! `min_running_days` (7), of a type the catalog says is offered as spot,
//! and either belongs to an Auto Scaling group of at least `min_group_size`
//! (2) running instances (the group replaces an interrupted one) or carries
//! the tag `tag_key` with one of `tag_values` (`stateless`, `batch`).
//!
//! The saving is (on-demand − spot) × 730 hours, or, where the store has
//! the instance's own billed cost, that cost × (1 − spot / on-demand). The
//! spot price is the latest in the instance's availability zone, or where
//! that is unknown the highest of its region's zones. A type without a spot
//! or on-demand price is not a candidate (the coverage summary lists it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::catalog::Catalog;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::SpotCandidateEvidence;
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::summary::{SavingsCoverage, Summary};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;
use crate::fleet::{self, Inventory, PriceBook, Resource};

/// `[analyzers.NAME] type = "spot_candidate"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpotConfig {
    /// Days an instance must have run. Default 7.
    #[serde(default = "default_min_running_days")]
    min_running_days: u32,
    /// Running instances an Auto Scaling group needs. Default 2.
    #[serde(default = "default_min_group_size")]
    min_group_size: u32,
    /// The tag that marks interruptible work. Default `workload`.
    #[serde(default = "default_tag_key")]
    tag_key: String,
    /// Its values that do. Default `["stateless", "batch"]`.
    #[serde(default = "default_tag_values")]
    tag_values: Vec<String>,
    /// Days of billed cost the saving reads. Default 14.
    #[serde(default = "default_cost_days")]
    cost_days: u32,
}

fn default_min_running_days() -> u32 {
    7
}
fn default_min_group_size() -> u32 {
    2
}
fn default_tag_key() -> String {
    "workload".into()
}
fn default_tag_values() -> Vec<String> {
    vec!["stateless".into(), "batch".into()]
}
fn default_cost_days() -> u32 {
    14
}

#[derive(Debug)]
pub struct SpotCandidate {
    name: String,
    config: SpotConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let parsed: SpotConfig = config.parse()?;
    let checks = [
        (
            "min_running_days",
            parsed.min_running_days <= 365,
            "must be 0 to 365",
        ),
        (
            "min_group_size",
            parsed.min_group_size >= 1,
            "must be 1 or more",
        ),
        ("tag_key", !parsed.tag_key.is_empty(), "must not be empty"),
        (
            "cost_days",
            (1..=93).contains(&parsed.cost_days),
            "must be 1 to 93",
        ),
    ];
    for (key, ok, message) in checks {
        if !ok {
            return Err(config.error(Some(key), message));
        }
    }
    Ok(Box::new(SpotCandidate {
        name: config.name.clone(),
        config: parsed,
    }))
}

impl Analyzer for SpotCandidate {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "spot_candidate"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Inventory, Dataset::Cost, Dataset::Prices]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let c = &self.config;
        let range = fleet::lookback(ctx, c.cost_days);
        let inventory = Inventory::load(ctx.store, range, &self.name)?;
        let prices = PriceBook::load(ctx.store, range.end, &self.name)?;
        let at = fleet::reference_time(ctx, range);
        let catalog = Catalog::aws();
        let mut coverage = SavingsCoverage {
            analyzer: self.name.clone(),
            finding_kind: self.type_name().to_string(),
            ..Default::default()
        };
        let running: Vec<&Resource> = inventory
            .of_type("instance")
            .filter(|r| r.is_running() && r.provider == "AWS")
            .collect();
        let mut group_size: BTreeMap<(&str, Option<&str>, Option<&str>), u32> = BTreeMap::new();
        for r in &running {
            if let Some(g) = &r.group {
                *group_size
                    .entry((g, r.account_id.as_deref(), r.region_id.as_deref()))
                    .or_default() += 1;
            }
        }
        let mut candidates = Vec::new();
        let mut unknown = BTreeSet::new();
        for r in &running {
            if !matches!(r.lifecycle.as_deref(), None | Some("on_demand")) {
                continue;
            }
            let size = r.group.as_deref().map(|g| {
                group_size
                    .get(&(g, r.account_id.as_deref(), r.region_id.as_deref()))
                    .copied()
                    .unwrap_or(0)
            });
            let tagged = r
                .tags
                .get(&c.tag_key)
                .filter(|v| c.tag_values.iter().any(|t| t == *v));
            let reason = match (size, tagged) {
                (Some(n), _) if n >= c.min_group_size => "auto_scaling_group",
                (_, Some(_)) => "tagged",
                _ => continue,
            };
            let running_days = r
                .launched_at
                .map(|t| (at - t).num_seconds().max(0) / 86_400)
                .unwrap_or(0) as u32;
            if r.launched_at
                .is_none_or(|t| t > at - Duration::days(i64::from(c.min_running_days)))
            {
                continue;
            }
            let Some(type_name) = r.instance_type.as_deref() else {
                continue;
            };
            match catalog.get(type_name) {
                None => {
                    unknown.insert(type_name.to_string());
                    continue;
                }
                Some(t) if !t.spot => continue,
                Some(_) => {}
            }
            coverage.judged += 1;
            let region = r.region_id.as_deref().unwrap_or_default();
            let (Some(od), Some(spot)) = (
                prices.on_demand(&r.provider, region, type_name),
                prices.spot(&r.provider, region, type_name, r.availability_zone()),
            ) else {
                coverage.unpriced.push(r.resource_id.clone());
                continue;
            };
            if od.currency != spot.currency || spot.per_hour >= od.per_hour || od.per_hour <= 0.0 {
                continue;
            }
            candidates.push((*r, reason, size, tagged.cloned(), running_days, od, spot));
        }
        let subjects: Vec<(&Resource, String)> = candidates
            .iter()
            .map(|(r, ..)| (*r, r.resource_id.clone()))
            .collect();
        let billed = fleet::billed_costs(ctx.store, range, &subjects, &self.name)?;
        let mut findings = Vec::new();
        for (r, reason, size, tagged, running_days, od, spot) in candidates {
            let fraction = 1.0 - spot.per_hour / od.per_hour;
            let Some(saving) = fleet::saving(
                billed.get(&r.resource_id),
                Some((od.per_hour, od.currency.as_str(), od.source.as_str())),
                1,
                fraction,
                "prices",
                Some(spot.per_hour),
            ) else {
                continue;
            };
            let type_name = r.instance_type.clone().unwrap_or_default();
            let evidence = SpotCandidateEvidence {
                reason: reason.to_string(),
                group: r.group.clone().filter(|_| reason == "auto_scaling_group"),
                group_size: size,
                tag: tagged.map(|v| format!("{}={v}", self.config.tag_key)),
                region_id: r.region_id.clone(),
                availability_zone: spot.availability_zone.clone(),
                instance_type: type_name.clone(),
                running_days,
                on_demand_price_per_hour: od.per_hour,
                spot_price_per_hour: spot.per_hour,
                spot_price_source: spot.source.clone(),
                saving,
            };
            let why = match (&evidence.group, &evidence.tag) {
                (Some(g), _) => format!("in Auto Scaling group {g}"),
                (None, Some(t)) => format!("tagged {t}"),
                _ => String::new(),
            };
            let kind = self.type_name();
            findings.push(Finding {
                finding_id: finding_id(kind, &self.name, &[&r.provider, &r.resource_id]),
                kind: kind.to_string(),
                severity: Severity::Info,
                provider: Some(r.provider.clone()),
                account_id: r.account_id.clone(),
                service: r.tags.get("service").cloned(),
                resource_id: Some(r.resource_id.clone()),
                title: format!(
                    "instance {} ({type_name}, {why}) could run as spot: {:.2} {}/month",
                    r.resource_id, evidence.saving.monthly, evidence.saving.currency
                ),
                monthly_savings: Some(evidence.saving.monthly),
                currency: Some(evidence.saving.currency.clone()),
                evidence: Finding::evidence_json(&evidence),
                first_seen: ctx.now,
                last_seen: ctx.now,
                owner: r.tags.get(ctx.owner_tag).cloned(),
                slo_safety: None,
                status: FindingStatus::Open,
            });
        }
        coverage.unknown_types = unknown.into_iter().collect();
        Ok(AnalysisOutput {
            findings,
            summaries: vec![Summary::Savings(Box::new(coverage))],
        })
    }
}
