//! Findings: what analyzers flag, with a stable identity across runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The name config and labels use (`info`, `warning`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Open,
    Resolved,
}

/// The tag naming a resource's owner when `[findings] owner_tag` is not set.
pub const DEFAULT_OWNER_TAG: &str = "owner";

/// One finding; `kind` equals the analyzer's type name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub finding_id: String,
    pub kind: String,
    pub severity: Severity,
    pub provider: Option<String>,
    pub account_id: Option<String>,
    pub service: Option<String>,
    /// Who owns what it is about: the resource's owner tag
    /// (`[findings] owner_tag`), else its service's owner
    /// (`[findings.service_owners]`). Sinks route on it and email digests
    /// are sent per owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// For a saving that changes what serves a service (right-sizing,
    /// spot): whether that service's latency objectives leave room for it
    /// (`slo_safe_savings`). `None`: not judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_safety: Option<crate::savings::SloSafety>,
    pub resource_id: Option<String>,
    pub title: String,
    pub evidence: serde_json::Value,
    pub monthly_savings: Option<f64>,
    pub currency: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub status: FindingStatus,
}

/// A stable id for a finding: FNV-1a (64 bit) of its kind, the analyzer
/// instance's name (its config key: two instances of one analyzer type must
/// not collide) and subject parts, as 16 hex digits. The same kind, instance
/// and subject give the same id in every version and on every machine, so a
/// finding can be followed across runs.
pub fn finding_id(kind: &str, analyzer: &str, subject: &[&str]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for part in [kind, analyzer].into_iter().chain(subject.iter().copied()) {
        // A separator byte that cannot occur in UTF-8 keeps ("ab","c") and
        // ("a","bc") apart.
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_separate_their_parts() {
        assert_ne!(
            finding_id("k", "i", &["ab", "c"]),
            finding_id("k", "i", &["a", "bc"])
        );
        assert_ne!(finding_id("k1", "i", &["x"]), finding_id("k2", "i", &["x"]));
        // Two instances of one analyzer, the same subject: two findings.
        assert_ne!(
            finding_id("k", "prod", &["x"]),
            finding_id("k", "staging", &["x"])
        );
        // Pinned (FNV-1a of b"a\xffx\xff", computed independently): a change
        // of algorithm would orphan every stored finding, so it must fail here.
        assert_eq!(finding_id("a", "x", &[]), "d2c7718192a8a294");
    }
}
