//! Savings totals: every resource counted once.
//!
//! Several analyzers may propose a saving on one resource (an idle instance
//! is usually over-provisioned too, and an Auto Scaling group's members may
//! be both spot candidates and a right-sizing group). The alternatives do
//! not add up: a total counts each resource in the finding with the largest
//! saving that covers it, and leaves out the others.

use std::collections::BTreeSet;

use crate::evidence::{Evidence, RightsizingEvidence};
use crate::finding::Finding;

/// The resources a finding's saving is about: its own, and a group's
/// members.
pub fn covered_resources(finding: &Finding) -> Vec<String> {
    let mut covered: Vec<String> = finding.resource_id.iter().cloned().collect();
    if let Some(e) = finding.evidence_as::<RightsizingEvidence>() {
        covered.extend(e.instances);
    }
    covered
}

/// The findings whose savings count in a total: those with a positive
/// saving, largest first, each left out if a larger one already covers
/// one of its resources (ties go to the smaller finding id, so the choice
/// is the same every run).
pub fn counted_savings(findings: &[Finding]) -> Vec<&Finding> {
    let mut candidates: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.monthly_savings.is_some_and(|s| s > 0.0))
        .collect();
    candidates.sort_by(|a, b| {
        b.monthly_savings
            .unwrap_or(0.0)
            .total_cmp(&a.monthly_savings.unwrap_or(0.0))
            .then_with(|| a.finding_id.cmp(&b.finding_id))
    });
    let mut taken: BTreeSet<(Option<String>, String)> = BTreeSet::new();
    let mut counted = Vec::new();
    for f in candidates {
        let keys: Vec<(Option<String>, String)> = covered_resources(f)
            .into_iter()
            .map(|r| (f.provider.clone(), r))
            .collect();
        if keys.iter().any(|k| taken.contains(k)) {
            continue;
        }
        taken.extend(keys);
        counted.push(f);
    }
    counted
}

/// Whether a saving is safe for the latency objectives of the service its
/// resource serves (`slo_safe_savings`), and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SloSafety {
    pub safe: bool,
    /// The service judged (the latency dataset's name).
    pub service: String,
    /// Why it is not safe, one line per objective breached or near; empty
    /// when safe.
    pub reasons: Vec<String>,
    /// The service's objectives over the period, as the `slo` analyzer
    /// judged them.
    pub objectives: Vec<ObjectiveCheck>,
}

/// One objective of one latency source over the period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObjectiveCheck {
    pub source: String,
    /// `p95`, `apdex` or `error_rate`.
    pub objective: String,
    pub target: f64,
    pub actual: Option<f64>,
    pub compliant: Option<bool>,
}

/// How a saving stands against the latency objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Safety {
    /// Judged safe, or a resource that serves nothing (an idle one).
    Safe,
    Unsafe,
    /// A right-sizing or spot saving no latency evidence was found for.
    NotJudged,
}

impl Safety {
    pub fn of(f: &Finding) -> Safety {
        match &f.slo_safety {
            Some(s) if s.safe => Safety::Safe,
            Some(_) => Safety::Unsafe,
            None if f.kind == crate::evidence::IdleResourceEvidence::KIND => Safety::Safe,
            None => Safety::NotJudged,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Safety::Safe => "safe",
            Safety::Unsafe => "unsafe",
            Safety::NotJudged => "not_judged",
        }
    }
}

/// One line of a savings total.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SavingsLine {
    /// The kind, account or provider the line groups by.
    pub key: Option<String>,
    pub provider: Option<String>,
    pub currency: String,
    pub monthly: f64,
    pub findings: usize,
}

/// Counted savings ([`counted_savings`]) summed per `key` of a finding,
/// provider and currency, largest first.
pub fn savings_by(
    findings: &[Finding],
    key: impl Fn(&Finding) -> Option<String>,
) -> Vec<SavingsLine> {
    let mut lines: Vec<SavingsLine> = Vec::new();
    for f in counted_savings(findings) {
        let k = key(f);
        let currency = f.currency.clone().unwrap_or_default();
        let saving = f.monthly_savings.unwrap_or(0.0);
        match lines
            .iter_mut()
            .find(|l| l.key == k && l.provider == f.provider && l.currency == currency)
        {
            Some(line) => {
                line.monthly += saving;
                line.findings += 1;
            }
            None => lines.push(SavingsLine {
                key: k,
                provider: f.provider.clone(),
                currency,
                monthly: saving,
                findings: 1,
            }),
        }
    }
    lines.sort_by(|a, b| {
        b.monthly
            .total_cmp(&a.monthly)
            .then_with(|| a.key.cmp(&b.key))
    });
    lines
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::finding::{FindingStatus, Severity};

    fn finding(id: &str, kind: &str, resource: &str, saving: f64) -> Finding {
        Finding {
            finding_id: id.into(),
            kind: kind.into(),
            severity: Severity::Warning,
            provider: Some("AWS".into()),
            account_id: Some("111".into()),
            service: None,
            resource_id: Some(resource.into()),
            title: String::new(),
            evidence: serde_json::Value::Null,
            monthly_savings: Some(saving),
            currency: Some("USD".into()),
            first_seen: DateTime::UNIX_EPOCH,
            last_seen: DateTime::UNIX_EPOCH,
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        }
    }

    #[test]
    fn a_resource_counts_once_with_its_largest_saving() {
        let findings = [
            finding("a", "idle_resource", "i-1", 70.08),
            finding("b", "rightsizing", "i-1", 35.04),
            finding("c", "rightsizing", "i-2", 10.0),
            finding("d", "spot_candidate", "i-3", 0.0),
        ];
        let counted: Vec<&str> = counted_savings(&findings)
            .iter()
            .map(|f| f.finding_id.as_str())
            .collect();
        assert_eq!(counted, ["a", "c"]);
        let by_kind = savings_by(&findings, |f| Some(f.kind.clone()));
        assert_eq!(by_kind.len(), 2);
        assert_eq!(by_kind[0].key.as_deref(), Some("idle_resource"));
        assert_eq!(by_kind[0].monthly, 70.08);
        assert_eq!(by_kind[1].monthly, 10.0);
        let by_account = savings_by(&findings, |f| f.account_id.clone());
        assert_eq!(by_account[0].monthly, 80.08);
        assert_eq!(by_account[0].findings, 2);
    }
}
