//! The weekly report's Savings section: what the savings analyzers
//! (`idle_resource`, `rightsizing`, `spot_candidate`) found, read through
//! their typed evidence.
//!
//! Totals count each resource once (`vitals_core::savings`): an idle
//! instance that is also oversized adds its larger saving only. A finding
//! left out of the totals for that reason says so.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use vitals_core::evidence::{
    Evidence, IdleReason, IdleResourceEvidence, RightsizingEvidence, Saving, SavingBasis,
    SizingVerdict, SpotCandidateEvidence,
};
use vitals_core::finding::Finding;
use vitals_core::savings::{Safety, SavingsLine, counted_savings, savings_by};
use vitals_core::summary::{SavingsCoverage, Summary};

/// Savings are stated to the cent whatever the report's money decimals.
const CENTS: usize = 2;

/// The kinds this section reads.
pub(crate) const KINDS: [&str; 3] = [
    IdleResourceEvidence::KIND,
    RightsizingEvidence::KIND,
    SpotCandidateEvidence::KIND,
];

/// The section, formatted; `None` without savings analyzers.
#[derive(Debug, Serialize)]
pub(crate) struct SavingsView {
    pub by_kind: Vec<TotalLine>,
    pub by_account: Vec<TotalLine>,
    /// The grand total per currency.
    pub totals: Vec<TotalLine>,
    /// The totals split by safety for the latency objectives (safe, not
    /// safe, not judged); empty without `slo_safe_savings`.
    pub by_safety: Vec<TotalLine>,
    pub top: Vec<SavingRow>,
    pub more: usize,
    /// Under-provisioned instances: a cost, not a saving.
    pub increases: Vec<SavingRow>,
    /// Resources not judged, per analyzer, in words.
    pub not_judged: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TotalLine {
    pub label: String,
    pub detail: String,
    pub monthly: String,
    pub currency: String,
    pub findings: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct SavingRow {
    pub kind: String,
    pub resource: String,
    pub account: String,
    pub region: String,
    /// What was found and the figures it rests on.
    pub finding: String,
    /// `m5.2xlarge → m5.large`, `remove`, `on-demand → spot`.
    pub change: String,
    /// How the saving was computed.
    pub basis: String,
    pub monthly: String,
    pub currency: String,
    /// Left out of the totals: another finding covers the resource with a
    /// larger saving.
    pub counted: bool,
    /// `slo_safe_savings` found it not safe: why.
    pub not_safe: String,
}

/// The findings of the section's kinds, and the coverage summaries.
pub(crate) fn findings(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| KINDS.contains(&f.kind.as_str()))
        .collect()
}

fn coverages(summaries: &[Summary]) -> Vec<&SavingsCoverage> {
    summaries
        .iter()
        .filter_map(|s| match s {
            Summary::Savings(c) => Some(c.as_ref()),
            _ => None,
        })
        .collect()
}

/// The saving each counted finding of `savings` (savings kinds only)
/// adds to the totals, by finding id.
fn counted_of(savings: &[Finding]) -> BTreeMap<String, f64> {
    counted_savings(savings)
        .into_iter()
        .filter_map(|f| Some((f.finding_id.clone(), f.monthly_savings?)))
        .collect()
}

/// The saving each finding of `all` adds to the report's savings totals
/// (each resource once, savings kinds only), by finding id: what the
/// JSON report's `counted` lists.
pub fn counted(all: &[Finding]) -> BTreeMap<String, f64> {
    let owned: Vec<Finding> = findings(all).into_iter().cloned().collect();
    counted_of(&owned)
}

/// The JSON report's `savings` object.
#[derive(Debug, Serialize)]
pub(crate) struct SavingsJson<'a> {
    /// Counted savings (each resource once) per kind, account and in all.
    pub by_kind: Vec<SavingsLine>,
    pub by_account: Vec<SavingsLine>,
    pub totals: Vec<SavingsLine>,
    /// Counted savings by `safe`, `unsafe` and `not_judged` for the
    /// latency objectives; absent without `slo_safe_savings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_safety: Option<Vec<SavingsLine>>,
    /// Every savings finding, largest saving first, with its evidence.
    pub findings: Vec<&'a Finding>,
    /// The ids of the findings the totals count.
    pub counted: Vec<&'a str>,
    pub coverage: Vec<&'a SavingsCoverage>,
}

pub(crate) fn json<'a>(all: &'a [Finding], summaries: &'a [Summary]) -> Option<SavingsJson<'a>> {
    let coverage = coverages(summaries);
    let mut found = findings(all);
    if coverage.is_empty() && found.is_empty() {
        return None;
    }
    let owned: Vec<Finding> = found.iter().map(|f| (*f).clone()).collect();
    found.sort_by(|a, b| by_saving(a, b));
    let counted = counted_of(&owned);
    Some(SavingsJson {
        by_kind: savings_by(&owned, |f| Some(f.kind.clone())),
        by_account: savings_by(&owned, |f| f.account_id.clone()),
        totals: savings_by(&owned, |_| None),
        by_safety: judged(&owned)
            .then(|| savings_by(&owned, |f| Some(Safety::of(f).as_str().to_string()))),
        counted: found
            .iter()
            .filter(|f| counted.contains_key(&f.finding_id))
            .map(|f| f.finding_id.as_str())
            .collect(),
        findings: found,
        coverage,
    })
}

fn by_saving(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    let s = |f: &Finding| f.monthly_savings.unwrap_or(f64::NEG_INFINITY);
    s(b).total_cmp(&s(a))
        .then_with(|| a.finding_id.cmp(&b.finding_id))
}

pub(crate) fn view(all: &[Finding], summaries: &[Summary], max_rows: usize) -> Option<SavingsView> {
    let coverage = coverages(summaries);
    let found: Vec<Finding> = findings(all).into_iter().cloned().collect();
    if coverage.is_empty() && found.is_empty() {
        return None;
    }
    let counted: BTreeSet<&str> = counted_savings(&found)
        .iter()
        .map(|f| f.finding_id.as_str())
        .collect();
    let total = |lines: Vec<SavingsLine>, label: &dyn Fn(&SavingsLine) -> String| {
        lines
            .into_iter()
            .map(|l| TotalLine {
                label: label(&l),
                detail: l.provider.clone().unwrap_or_default(),
                monthly: amount(l.monthly),
                currency: l.currency,
                findings: l.findings,
            })
            .collect::<Vec<_>>()
    };
    let mut sorted: Vec<&Finding> = found.iter().collect();
    sorted.sort_by(|a, b| by_saving(a, b));
    let (savings, increases): (Vec<&Finding>, Vec<&Finding>) = sorted
        .into_iter()
        .partition(|f| f.monthly_savings.is_some());
    let not_judged = coverage
        .iter()
        .flat_map(|c| {
            let mut lines = Vec::new();
            let list = |ids: &[String]| {
                let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
                let more = ids.len().saturating_sub(5);
                if more > 0 {
                    format!("{} and {more} more", shown.join(", "))
                } else {
                    shown.join(", ")
                }
            };
            if !c.insufficient_data.is_empty() {
                lines.push(format!(
                    "{}: too little data to judge {}",
                    c.analyzer,
                    list(&c.insufficient_data)
                ));
            }
            if !c.unknown_types.is_empty() {
                lines.push(format!(
                    "{}: instance types not in the catalog: {}",
                    c.analyzer,
                    list(&c.unknown_types)
                ));
            }
            if !c.unpriced.is_empty() {
                lines.push(format!(
                    "{}: no billed cost or price for {}",
                    c.analyzer,
                    list(&c.unpriced)
                ));
            }
            lines
        })
        .collect();
    Some(SavingsView {
        by_kind: total(savings_by(&found, |f| Some(f.kind.clone())), &|l| {
            kind_label(l.key.as_deref().unwrap_or_default()).to_string()
        }),
        by_account: total(savings_by(&found, |f| f.account_id.clone()), &|l| {
            l.key.clone().unwrap_or_else(|| "(no account)".into())
        }),
        totals: total(savings_by(&found, |_| None), &|_| "Total".to_string()),
        by_safety: if judged(&found) {
            let mut lines = savings_by(&found, |f| Some(Safety::of(f).as_str().to_string()));
            lines.sort_by_key(|l| safety_order(l.key.as_deref()));
            total(lines, &|l| safety_label(l.key.as_deref()).to_string())
        } else {
            Vec::new()
        },
        more: savings.len().saturating_sub(max_rows),
        top: savings
            .iter()
            .take(max_rows)
            .map(|f| row(f, counted.contains(f.finding_id.as_str())))
            .collect(),
        increases: increases.iter().map(|f| row(f, false)).collect(),
        not_judged,
    })
}

/// True if `slo_safe_savings` judged any of `found`.
fn judged(found: &[Finding]) -> bool {
    found.iter().any(|f| f.slo_safety.is_some())
}

fn safety_order(key: Option<&str>) -> usize {
    ["safe", "unsafe", "not_judged"]
        .iter()
        .position(|k| Some(*k) == key)
        .unwrap_or(3)
}

fn safety_label(key: Option<&str>) -> &'static str {
    match key {
        Some("safe") => "Safe for the SLOs",
        Some("unsafe") => "Not safe (SLO at risk)",
        _ => "Not judged (no latency data)",
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "idle_resource" => "Idle resources",
        "rightsizing" => "Right-sizing",
        "spot_candidate" => "Spot",
        _ => "Other",
    }
}

fn amount(v: f64) -> String {
    crate::weekly_cost_report::Money(CENTS).amount(v)
}

fn basis(s: &Saving) -> String {
    let source = s
        .price_source
        .as_deref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    let base = match s.basis {
        SavingBasis::BilledCost => match (s.billed_cost, s.billed_days) {
            (Some(cost), Some(days)) => format!(
                "billed {} over {days} days → {}/month",
                amount(cost),
                amount(s.current_monthly)
            ),
            _ => format!("billed cost → {}/month", amount(s.current_monthly)),
        },
        SavingBasis::Price => match s.price_per_hour {
            Some(p) => format!("{p}/h × 730 h{source}"),
            None => format!("list prices{source}"),
        },
    };
    if (s.fraction - 1.0).abs() < 1e-12 {
        base
    } else {
        format!(
            "{base} × {:.1}% (from {})",
            s.fraction * 100.0,
            s.fraction_from
        )
    }
}

fn row(f: &Finding, counted: bool) -> SavingRow {
    let not_safe = match &f.slo_safety {
        Some(s) if !s.safe => format!("not safe for {}: {}", s.service, s.reasons.join("; ")),
        _ => String::new(),
    };
    SavingRow {
        not_safe,
        ..plain_row(f, counted)
    }
}

fn plain_row(f: &Finding, counted: bool) -> SavingRow {
    let resource = f.resource_id.clone().unwrap_or_default();
    let (kind, finding, change, saving, region) =
        if let Some(e) = f.evidence_as::<IdleResourceEvidence>() {
            let text = idle_text(&e);
            let change = match e.reason {
                IdleReason::StoppedWithVolumes => "delete volumes (snapshot first)",
                IdleReason::Unassociated => "release",
                _ => "remove",
            };
            ("Idle", text, change.to_string(), e.saving, e.region_id)
        } else if let Some(e) = f.evidence_as::<RightsizingEvidence>() {
            let memory = match e.memory_percentile_percent {
                Some(m) => format!(
                    "; memory P{} {m:.1}% of {} GiB → {:.1} GiB",
                    e.percentile, e.current_memory_gib, e.memory_need_gib
                ),
                None => "; memory not considered (no agent metric), kept".to_string(),
            };
            let who = match &e.group {
                Some(g) => format!("group {g} ({} instances): ", e.instances.len()),
                None => String::new(),
            };
            let verdict = match e.verdict {
                SizingVerdict::OverProvisioned => "over-provisioned",
                SizingVerdict::UnderProvisioned => "under-provisioned",
            };
            let text = format!(
                "{who}{verdict}: P{} CPU {:.1}% of {} vCPU over {} h → needs {:.2} vCPU{memory}",
                e.percentile, e.cpu_percentile_percent, e.current_vcpu, e.hours, e.cpu_need_vcpu
            );
            let change = format!(
                "{} → {} ({})",
                e.current_type,
                e.proposed_type,
                e.choice.replace('_', " ")
            );
            ("Right-size", text, change, e.saving, e.region_id)
        } else if let Some(e) = f.evidence_as::<SpotCandidateEvidence>() {
            let why = match (&e.group, &e.tag) {
                (Some(g), _) => format!(
                    "in Auto Scaling group {g} ({} running)",
                    e.group_size.unwrap_or(0)
                ),
                (None, Some(t)) => format!("tagged {t}"),
                _ => String::new(),
            };
            let text = format!(
                "{} {why}, running {} days; on-demand {}/h, spot {}/h{}",
                e.instance_type,
                e.running_days,
                e.on_demand_price_per_hour,
                e.spot_price_per_hour,
                e.availability_zone
                    .as_deref()
                    .map(|z| format!(" in {z}"))
                    .unwrap_or_default()
            );
            (
                "Spot",
                text,
                "on-demand → spot".to_string(),
                e.saving,
                e.region_id,
            )
        } else {
            return SavingRow {
                kind: f.kind.clone(),
                resource,
                account: f.account_id.clone().unwrap_or_default(),
                region: String::new(),
                finding: f.title.clone(),
                change: String::new(),
                basis: String::new(),
                monthly: f.monthly_savings.map(amount).unwrap_or_default(),
                currency: f.currency.clone().unwrap_or_default(),
                counted,
                not_safe: String::new(),
            };
        };
    SavingRow {
        kind: kind.to_string(),
        resource,
        account: f.account_id.clone().unwrap_or_default(),
        region: region.unwrap_or_default(),
        finding,
        change,
        basis: basis(&saving),
        monthly: if saving.monthly < 0.0 {
            format!("+{}", amount(-saving.monthly))
        } else {
            amount(saving.monthly)
        },
        currency: saving.currency,
        counted,
        not_safe: String::new(),
    }
}

fn idle_text(e: &IdleResourceEvidence) -> String {
    let mean = |f: &dyn Fn(&vitals_core::evidence::IdleDay) -> Option<f64>| {
        let v: Vec<f64> = e.days.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let label = match e.resource_type.as_str() {
        "address" => "Elastic IP",
        "load_balancer" => "load balancer",
        other => other,
    };
    let ty = e
        .instance_type
        .as_deref()
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    match e.reason {
        IdleReason::LowUtilization => format!(
            "{label}{ty} idle: {} of {} days low (mean CPU {:.1}%, network {:.1} MB/day); rule: {}",
            e.days_low,
            e.days_with_data,
            mean(&|d| d.cpu_percent).unwrap_or(0.0),
            mean(&|d| d.network_bytes).unwrap_or(0.0) / 1e6,
            e.rule
        ),
        IdleReason::StoppedWithVolumes => format!(
            "{label}{ty} stopped, still billing for {}",
            e.volumes.join(", ")
        ),
        IdleReason::LowIops => format!(
            "volume with next to no I/O: mean {:.2} operations/s over {} days; rule: {}",
            mean(&|d| d.iops).unwrap_or(0.0),
            e.days_with_data,
            e.rule
        ),
        IdleReason::LowRequests => format!(
            "{label} with next to no traffic: mean {:.0} requests/day over {} days",
            mean(&|d| d.requests).unwrap_or(0.0),
            e.days_with_data
        ),
        IdleReason::Unattached | IdleReason::Unassociated | IdleReason::NoHealthyTargets => {
            format!("{label}: {}", e.rule)
        }
    }
}
