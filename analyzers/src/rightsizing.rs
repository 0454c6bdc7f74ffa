//! `rightsizing`: instance types too large or too small for what runs on
//! them, decided as AWS Compute Optimizer does by default:
//!
//! - at least `min_hours` (30) hours of CPU data in the `lookback_days`
//!   (14); fewer is "insufficient data" (the coverage summary lists it);
//! - CPU need = the 99.5th percentile (linear, as numpy's default) of the
//!   hourly maximum CPU × the current vCPUs × (1 + 20 % headroom); memory
//!   need likewise from the CloudWatch agent's `memory_utilization` where
//!   it has as many hours, else memory is "not considered" and the proposed
//!   type has at least the current memory;
//! - the proposal is the cheapest type of the catalog that fits both needs,
//!   of the same family, a newer generation of it or the current
//!   generation, the same architecture, GPUs (model and
//!   count) and burstable kind, looked for first in the same family, then in
//!   a newer generation of it (`m5` → `m6i`, `m7i`), then in any family;
//! - **over-provisioned** when such a type is cheaper; **under-provisioned**
//!   when the percentile is above `under_percent` (90) for CPU or memory:
//!   the finding proposes the cheapest type that fits and states the cost
//!   increase (it is not a saving); otherwise optimized (no finding).
//!
//! Instances of one Auto Scaling group with one type are judged as the
//! group: their hourly values pooled, one finding for all of them, the
//! saving times their number. Prices are the on-demand prices of the
//! `prices` dataset; a type without one is compared by the normalization
//! factors of its family's sizes (AWS prices sizes of a family in
//! proportion to them). The saving is the instance's billed cost scaled by
//! the price ratio where the store has it, else the price difference × 730.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::catalog::{Catalog, Generation, InstanceType, family_class};
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::{RightsizingEvidence, SizingVerdict};
use vitals_core::finding::{Finding, FindingStatus, Severity, finding_id};
use vitals_core::summary::{SavingsCoverage, Summary};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;
use crate::fleet::{self, Inventory, Percentile, PriceBook, Resource};

/// `[analyzers.NAME] type = "rightsizing"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RightsizingConfig {
    /// Days of metrics judged. Default 14.
    #[serde(default = "default_lookback_days")]
    lookback_days: u32,
    /// Hours of data needed in them. Default 30.
    #[serde(default = "default_min_hours")]
    min_hours: u32,
    /// Percentile of the hourly maximum judged. Default 99.5.
    #[serde(default = "default_percentile")]
    percentile: f64,
    /// Headroom over the percentile, as a fraction. Default 0.2.
    #[serde(default = "default_headroom")]
    cpu_headroom: f64,
    #[serde(default = "default_headroom")]
    memory_headroom: f64,
    /// Above this percentile, percent, an instance is under-provisioned.
    /// Default 90.
    #[serde(default = "default_under_percent")]
    under_percent: f64,
}

fn default_lookback_days() -> u32 {
    14
}
fn default_min_hours() -> u32 {
    30
}
fn default_percentile() -> f64 {
    99.5
}
fn default_headroom() -> f64 {
    0.2
}
fn default_under_percent() -> f64 {
    90.0
}

#[derive(Debug)]
pub struct Rightsizing {
    name: String,
    config: RightsizingConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let parsed: RightsizingConfig = config.parse()?;
    let checks = [
        (
            "lookback_days",
            (1..=93).contains(&parsed.lookback_days),
            "must be 1 to 93",
        ),
        (
            "min_hours",
            parsed.min_hours >= 1 && parsed.min_hours <= parsed.lookback_days * 24,
            "must be 1 to `lookback_days` × 24",
        ),
        (
            "percentile",
            parsed.percentile > 0.0 && parsed.percentile <= 100.0,
            "must be above 0 and at most 100",
        ),
        (
            "cpu_headroom",
            (0.0..=1.0).contains(&parsed.cpu_headroom),
            "must be 0 to 1",
        ),
        (
            "memory_headroom",
            (0.0..=1.0).contains(&parsed.memory_headroom),
            "must be 0 to 1",
        ),
        (
            "under_percent",
            parsed.under_percent > 0.0 && parsed.under_percent <= 100.0,
            "must be above 0 and at most 100",
        ),
    ];
    for (key, ok, message) in checks {
        if !ok {
            return Err(config.error(Some(key), message));
        }
    }
    Ok(Box::new(Rightsizing {
        name: config.name.clone(),
        config: parsed,
    }))
}

/// What an instance (or group) needs, from its percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Needs {
    pub vcpu: f64,
    pub memory_gib: f64,
    pub memory_considered: bool,
    pub under: bool,
}

/// Sizing parameters, apart from the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizingRule {
    pub cpu_headroom: f64,
    pub memory_headroom: f64,
    pub under_percent: f64,
}

impl Default for SizingRule {
    fn default() -> Self {
        SizingRule {
            cpu_headroom: default_headroom(),
            memory_headroom: default_headroom(),
            under_percent: default_under_percent(),
        }
    }
}

impl SizingRule {
    /// The needs of `current` at the CPU and (optional) memory percentiles,
    /// in percent.
    pub fn needs(&self, current: &InstanceType, cpu: f64, memory: Option<f64>) -> Needs {
        let vcpu = cpu / 100.0 * f64::from(current.vcpu) * (1.0 + self.cpu_headroom);
        let memory_gib = match memory {
            Some(m) => m / 100.0 * current.memory_gib() * (1.0 + self.memory_headroom),
            None => current.memory_gib(),
        };
        Needs {
            vcpu,
            memory_gib,
            memory_considered: memory.is_some(),
            under: cpu > self.under_percent || memory.is_some_and(|m| m > self.under_percent),
        }
    }
}

/// Where a proposed type was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    SameFamily,
    NewerGeneration,
    OtherFamily,
}

impl Tier {
    fn key(self) -> &'static str {
        match self {
            Tier::SameFamily => "same_family",
            Tier::NewerGeneration => "newer_generation",
            Tier::OtherFamily => "other_family",
        }
    }
}

fn tier(current: &InstanceType, candidate: &InstanceType) -> Tier {
    if candidate.family == current.family {
        return Tier::SameFamily;
    }
    match (
        family_class(&current.family),
        family_class(&candidate.family),
    ) {
        (Some((a, g)), Some((b, h))) if a == b && h > g => Tier::NewerGeneration,
        _ => Tier::OtherFamily,
    }
}

/// Could `candidate` replace `current` without changing what runs on it:
/// the same family, a newer generation of it or a type the catalog calls
/// current (its flag alone is not trusted: moto's data calls `m5` and
/// `m6i` previous), an architecture in common, the same GPUs, the same
/// burstable kind, not bare metal.
fn compatible(current: &InstanceType, candidate: &InstanceType) -> bool {
    let shared_arch = current
        .architectures
        .iter()
        .filter(|a| a.as_str() != "i386")
        .any(|a| candidate.architectures.contains(a));
    candidate.instance_type != current.instance_type
        && (candidate.generation == Generation::Current
            || tier(current, candidate) != Tier::OtherFamily)
        && !candidate.bare_metal
        && candidate.burstable == current.burstable
        && candidate.has_gpu() == current.has_gpu()
        && (!current.has_gpu()
            || (candidate.gpu_model == current.gpu_model
                && candidate.gpu_count == current.gpu_count))
        && shared_arch
}

/// A proposed type and its cost relative to the current type's.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<'a> {
    pub to: &'a InstanceType,
    pub tier: Tier,
    /// Hourly price where known (from `prices`, or the current price
    /// scaled by normalization factors).
    pub price_per_hour: Option<f64>,
    /// `proposed cost / current cost`.
    pub ratio: f64,
    /// `prices` or `normalization factors`.
    pub ratio_from: &'static str,
}

/// The cheapest fitting type, by tier; for an over-provisioned instance
/// only one cheaper than the current type. `price_of` gives on-demand
/// prices where known.
pub fn propose<'a>(
    catalog: &'a Catalog,
    current: &InstanceType,
    needs: &Needs,
    price_of: &dyn Fn(&str) -> Option<f64>,
) -> Option<Proposal<'a>> {
    propose_among(
        &compatible_types(catalog, current),
        current,
        needs,
        price_of,
    )
}

/// The catalog's types that could replace `current` ([`compatible`]); a
/// run computes them once per type, not once per instance.
pub fn compatible_types<'a>(catalog: &'a Catalog, current: &InstanceType) -> Vec<&'a InstanceType> {
    catalog.iter().filter(|c| compatible(current, c)).collect()
}

/// [`propose`] among `candidates`, compatible types of `current`.
pub fn propose_among<'a>(
    candidates: &[&'a InstanceType],
    current: &InstanceType,
    needs: &Needs,
    price_of: &dyn Fn(&str) -> Option<f64>,
) -> Option<Proposal<'a>> {
    let current_price = price_of(&current.instance_type);
    let mut best: BTreeMap<Tier, Proposal<'a>> = BTreeMap::new();
    for &candidate in candidates {
        if f64::from(candidate.vcpu) < needs.vcpu
            || candidate.memory_gib() < needs.memory_gib - 1e-9
        {
            continue;
        }
        let t = tier(current, candidate);
        let by_factor = candidate.normalization_factor / current.normalization_factor;
        let (price, ratio, ratio_from) = match (current_price, price_of(&candidate.instance_type)) {
            (Some(p0), Some(p)) if p0 > 0.0 => (Some(p), p / p0, "prices"),
            (p0, _) if t == Tier::SameFamily => (
                p0.map(|p| p * by_factor),
                by_factor,
                "normalization factors",
            ),
            _ => continue,
        };
        if !needs.under && ratio >= 1.0 {
            continue;
        }
        let proposal = Proposal {
            to: candidate,
            tier: t,
            price_per_hour: price,
            ratio,
            ratio_from,
        };
        let better = best.get(&t).is_none_or(|b| {
            ratio
                .total_cmp(&b.ratio)
                .then_with(|| candidate.instance_type.cmp(&b.to.instance_type))
                .is_lt()
        });
        if better {
            best.insert(t, proposal);
        }
    }
    best.into_values().next()
}

/// One instance, or an Auto Scaling group's instances of one type.
#[derive(Debug)]
struct Subject<'a> {
    key: String,
    group: Option<String>,
    members: Vec<&'a Resource>,
}

impl Analyzer for Rightsizing {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "rightsizing"
    }

    fn datasets(&self) -> &'static [Dataset] {
        &[
            Dataset::Inventory,
            Dataset::Utilization,
            Dataset::Cost,
            Dataset::Prices,
        ]
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let c = &self.config;
        let range = fleet::lookback(ctx, c.lookback_days);
        let inventory = Inventory::load(ctx.store, range, &self.name)?;
        let prices = PriceBook::load(ctx.store, range.end, &self.name)?;
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
        let subjects = subjects(&running);
        let mut subject_of = BTreeMap::new();
        let mut billed_of = Vec::new();
        for s in &subjects {
            for m in &s.members {
                subject_of.insert(m.resource_id.clone(), s.key.clone());
                billed_of.push((*m, s.key.clone()));
            }
        }
        let q = c.percentile / 100.0;
        let cpu = fleet::hourly_percentile(
            ctx.store,
            range,
            "cpu_utilization",
            q,
            &subject_of,
            &self.name,
        )?;
        let memory = fleet::hourly_percentile(
            ctx.store,
            range,
            "memory_utilization",
            q,
            &subject_of,
            &self.name,
        )?;
        let billed = fleet::billed_costs(ctx.store, range, &billed_of, &self.name)?;
        let rule = SizingRule {
            cpu_headroom: c.cpu_headroom,
            memory_headroom: c.memory_headroom,
            under_percent: c.under_percent,
        };
        let mut findings = Vec::new();
        let mut unknown = BTreeSet::new();
        let mut compatible_of: std::collections::HashMap<String, Vec<&InstanceType>> =
            Default::default();
        for s in &subjects {
            let first = s.members[0];
            let Some(type_name) = first.instance_type.as_deref() else {
                continue;
            };
            let Some(current) = catalog.get(type_name) else {
                unknown.insert(type_name.to_string());
                continue;
            };
            coverage.judged += 1;
            let enough = |p: Option<&Percentile>| p.copied().filter(|p| p.hours >= c.min_hours);
            let Some(cpu_p) = enough(cpu.get(&s.key)) else {
                coverage.insufficient_data.push(s.key.clone());
                continue;
            };
            let memory_p = enough(memory.get(&s.key));
            let needs = rule.needs(current, cpu_p.value, memory_p.map(|m| m.value));
            let region = first.region_id.clone().unwrap_or_default();
            let price_of = |t: &str| {
                prices
                    .on_demand(&first.provider, &region, t)
                    .map(|p| p.per_hour)
            };
            let candidates = compatible_of
                .entry(type_name.to_string())
                .or_insert_with(|| compatible_types(catalog, current));
            let Some(proposal) = propose_among(candidates, current, &needs, &price_of) else {
                continue;
            };
            let current_price = prices.on_demand(&first.provider, &region, type_name);
            let count = s.members.len() as u32;
            let Some(saving) = fleet::saving(
                billed.get(&s.key),
                current_price.map(|p| (p.per_hour, p.currency.as_str(), p.source.as_str())),
                count,
                1.0 - proposal.ratio,
                proposal.ratio_from,
                proposal.price_per_hour,
            ) else {
                coverage.unpriced.push(s.key.clone());
                continue;
            };
            let verdict = if needs.under {
                SizingVerdict::UnderProvisioned
            } else {
                SizingVerdict::OverProvisioned
            };
            let evidence = RightsizingEvidence {
                verdict,
                group: s.group.clone(),
                instances: s.members.iter().map(|m| m.resource_id.clone()).collect(),
                region_id: first.region_id.clone(),
                current_type: type_name.to_string(),
                proposed_type: proposal.to.instance_type.clone(),
                current_vcpu: current.vcpu,
                proposed_vcpu: proposal.to.vcpu,
                current_memory_gib: current.memory_gib(),
                proposed_memory_gib: proposal.to.memory_gib(),
                hours: cpu_p.hours,
                percentile: c.percentile,
                cpu_percentile_percent: cpu_p.value,
                cpu_need_vcpu: needs.vcpu,
                memory_considered: needs.memory_considered,
                memory_percentile_percent: memory_p.map(|m| m.value),
                memory_need_gib: needs.memory_gib,
                headroom: c.cpu_headroom,
                choice: proposal.tier.key().to_string(),
                saving,
            };
            findings.push(self.finding(ctx, first, s, evidence));
        }
        coverage.unknown_types = unknown.into_iter().collect();
        for t in &coverage.unknown_types {
            tracing::warn!(
                analyzer = self.name,
                "instance type `{t}` is not in the catalog: its instances are not right-sized \
                 (refresh the catalog with scripts/catalog_aws.py)"
            );
        }
        Ok(AnalysisOutput {
            findings,
            summaries: vec![Summary::Savings(Box::new(coverage))],
        })
    }
}

impl Rightsizing {
    fn finding(
        &self,
        ctx: &AnalysisContext<'_>,
        first: &Resource,
        s: &Subject<'_>,
        e: RightsizingEvidence,
    ) -> Finding {
        let who = match &s.group {
            Some(g) => format!("Auto Scaling group {g} ({} instances)", s.members.len()),
            None => format!("instance {}", first.resource_id),
        };
        let (title, savings) = match e.verdict {
            SizingVerdict::OverProvisioned => (
                format!(
                    "{who} over-provisioned: {} -> {} (P{} CPU {:.1}%): {:.2} {}/month",
                    e.current_type,
                    e.proposed_type,
                    e.percentile,
                    e.cpu_percentile_percent,
                    e.saving.monthly,
                    e.saving.currency
                ),
                Some(e.saving.monthly),
            ),
            SizingVerdict::UnderProvisioned => (
                format!(
                    "{who} under-provisioned: {} -> {} (P{} CPU {:.1}%): +{:.2} {}/month",
                    e.current_type,
                    e.proposed_type,
                    e.percentile,
                    e.cpu_percentile_percent,
                    -e.saving.monthly,
                    e.saving.currency
                ),
                None,
            ),
        };
        let kind = self.type_name();
        Finding {
            finding_id: finding_id(kind, &self.name, &[&first.provider, &s.key]),
            kind: kind.to_string(),
            severity: Severity::Warning,
            provider: Some(first.provider.clone()),
            account_id: first.account_id.clone(),
            service: first.tags.get("service").cloned(),
            resource_id: Some(s.key.clone()),
            title,
            monthly_savings: savings,
            currency: Some(e.saving.currency.clone()),
            evidence: Finding::evidence_json(&e),
            first_seen: ctx.now,
            last_seen: ctx.now,
            owner: first.tags.get(ctx.owner_tag).cloned(),
            slo_safety: None,
            status: FindingStatus::Open,
        }
    }
}

/// A group's name, account and region.
type GroupKey = (String, Option<String>, Option<String>);

/// Instances grouped: an Auto Scaling group whose running instances share
/// one type and region is one subject (keyed by the group's name), every
/// other instance its own.
fn subjects<'a>(running: &[&'a Resource]) -> Vec<Subject<'a>> {
    let mut groups: BTreeMap<GroupKey, Vec<&'a Resource>> = BTreeMap::new();
    let mut out = Vec::new();
    for r in running {
        match &r.group {
            Some(g) => groups
                .entry((g.clone(), r.account_id.clone(), r.region_id.clone()))
                .or_default()
                .push(r),
            None => out.push(Subject {
                key: r.resource_id.clone(),
                group: None,
                members: vec![r],
            }),
        }
    }
    for ((group, _, _), members) in groups {
        let one_type = members
            .iter()
            .all(|m| m.instance_type == members[0].instance_type);
        if one_type {
            out.push(Subject {
                key: group.clone(),
                group: Some(group),
                members,
            });
        } else {
            out.extend(members.into_iter().map(|m| Subject {
                key: m.resource_id.clone(),
                group: None,
                members: vec![m],
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(t: &str) -> &'static InstanceType {
        Catalog::aws().get(t).unwrap()
    }

    #[test]
    fn family_classes_and_tiers() {
        assert_eq!(family_class("m5"), Some(("m", 5)));
        assert_eq!(family_class("c7gn"), Some(("c", 7)));
        assert_eq!(family_class("u-6tb1"), None);
        assert_eq!(tier(aws("m5.large"), aws("m5.xlarge")), Tier::SameFamily);
        assert_eq!(
            tier(aws("m5.large"), aws("m7i.large")),
            Tier::NewerGeneration
        );
        assert_eq!(tier(aws("m5.large"), aws("c5.large")), Tier::OtherFamily);
        assert!(
            !compatible(aws("m5.large"), aws("m7g.large")),
            "arm64 vs x86_64"
        );
        assert!(!compatible(aws("m5.large"), aws("t3.large")), "burstable");
        assert!(compatible(aws("t3.large"), aws("t3.small")));
    }

    #[test]
    fn needs_follow_compute_optimizers_formula() {
        let rule = SizingRule::default();
        let m5 = aws("m5.2xlarge"); // 8 vCPU, 32 GiB
        let n = rule.needs(m5, 20.0, None);
        assert!((n.vcpu - 0.2 * 8.0 * 1.2).abs() < 1e-12);
        assert_eq!(n.memory_gib, 32.0);
        assert!(!n.memory_considered && !n.under);
        let n = rule.needs(m5, 50.0, Some(95.0));
        assert!(n.under && n.memory_considered);
        assert!((n.memory_gib - 0.95 * 32.0 * 1.2).abs() < 1e-12);
    }

    #[test]
    fn the_cheapest_fitting_type_of_the_same_family_first() {
        let rule = SizingRule::default();
        let current = aws("m5.2xlarge");
        // 1.92 vCPUs needed, memory kept at 32 GiB: m5.2xlarge is the
        // smallest m5 with 32 GiB, so by factors nothing in m5 is cheaper...
        let needs = rule.needs(current, 20.0, None);
        let none = |_: &str| None;
        assert_eq!(propose(Catalog::aws(), current, &needs, &none), None);
        // ... with memory judged at 10 % (3.84 GiB needed), m5.large fits.
        let needs = rule.needs(current, 20.0, Some(10.0));
        let p = propose(Catalog::aws(), current, &needs, &none).unwrap();
        assert_eq!(p.to.instance_type, "m5.large");
        assert_eq!(
            (p.tier, p.ratio, p.ratio_from),
            (Tier::SameFamily, 0.25, "normalization factors")
        );
        // With prices, a newer generation is only chosen when the family
        // has nothing cheaper that fits; other families need prices.
        let prices = |t: &str| match t {
            "m5.2xlarge" => Some(0.384),
            "m5.large" => Some(0.096),
            "m7i.large" => Some(0.1008),
            "c5.large" => Some(0.085),
            _ => None,
        };
        let p = propose(Catalog::aws(), current, &needs, &prices).unwrap();
        assert_eq!(p.to.instance_type, "m5.large");
        assert_eq!(p.ratio_from, "prices");
        assert!((p.ratio - 0.25).abs() < 1e-12);
    }

    #[test]
    fn an_under_provisioned_type_gets_the_next_that_fits() {
        let rule = SizingRule::default();
        let current = aws("m5.large"); // 2 vCPU
        let needs = rule.needs(current, 97.0, None); // 2.328 vCPUs
        let none = |_: &str| None;
        let p = propose(Catalog::aws(), current, &needs, &none).unwrap();
        assert_eq!(p.to.instance_type, "m5.xlarge");
        assert_eq!(p.ratio, 2.0);
    }
}
