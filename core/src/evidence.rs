//! The typed evidence of each finding kind.
//!
//! A [`Finding`] carries its evidence as JSON (that is what the JSON report
//! prints and what a store of findings keeps), but nothing reads it by key:
//! analyzers build one of these structs and [`Finding::evidence_json`] turns
//! it into the JSON; reports and metrics read it back with
//! [`Finding::evidence_as`], which checks the kind. Renaming a field is a
//! compile error on both sides, not a silent 0.

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::finding::Finding;

/// The evidence of one finding kind.
pub trait Evidence: Serialize + DeserializeOwned {
    /// The `kind` of the findings that carry it.
    const KIND: &'static str;
}

impl Finding {
    /// The evidence as `E`: `None` if the finding is of another kind, or its
    /// JSON does not have `E`'s shape.
    pub fn evidence_as<E: Evidence>(&self) -> Option<E> {
        if self.kind != E::KIND {
            return None;
        }
        serde_json::from_value(self.evidence.clone()).ok()
    }

    /// `evidence` serialized for a finding's `evidence` field.
    pub fn evidence_json<E: Evidence>(evidence: &E) -> serde_json::Value {
        // Structs of numbers, strings and dates always serialize.
        serde_json::to_value(evidence).unwrap_or_default()
    }
}

/// `cost_anomaly`: a run of days whose cost broke from the series' own
/// recent behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostAnomalyEvidence {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Each day of the run.
    pub days: Vec<AnomalyDay>,
    /// Sums over the run's days.
    pub actual: f64,
    pub expected: f64,
    /// `actual - expected`.
    pub impact: f64,
    /// The cost column judged (`billed_cost`, `effective_cost`, `list_cost`).
    pub metric: String,
    /// The SKU × resource pairs that grew most, largest first.
    pub top_contributors: Vec<Contributor>,
}

impl Evidence for CostAnomalyEvidence {
    const KIND: &'static str = "cost_anomaly";
}

/// One day of a cost anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyDay {
    pub day: NaiveDate,
    pub actual: f64,
    pub expected: f64,
    pub robust_sd: f64,
    pub score: f64,
    pub history_days: usize,
}

/// A SKU × resource pair's part in a cost anomaly, per day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    pub sku_id: Option<String>,
    pub resource_id: Option<String>,
    pub daily_cost: f64,
    pub baseline_daily_cost: f64,
    pub increase: f64,
}

/// Which latency series changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyMetric {
    P95,
    Apdex,
}

/// Worse or better for the service's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Regression,
    Improvement,
}

/// `p95_regression`: a change of level in a service's P95 or Apdex series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct P95RegressionEvidence {
    pub source: String,
    pub metric: LatencyMetric,
    pub direction: Direction,
    /// Start of the first point at the new level.
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// The level came back to within `min_magnitude` of `before`.
    pub recovered: bool,
    /// Start of the first point back at the old level.
    #[serde(with = "rfc3339_opt")]
    pub recovered_at: Option<DateTime<Utc>>,
    pub before: f64,
    pub after: f64,
    /// `(after - before) / |before|`.
    pub magnitude: f64,
    /// Adjusted p-value of the change.
    pub p_value: f64,
    pub resolution_s: i64,
    /// Points in the series searched.
    pub points: usize,
    /// Points from the change to the next change or the end of the series.
    pub points_after: usize,
    /// `points_after` as seconds.
    pub evidence_s: i64,
    /// Still open and within the last few points of the series: new.
    pub fresh: bool,
}

impl Evidence for P95RegressionEvidence {
    const KIND: &'static str = "p95_regression";
}

/// `cost_per_request`: a service's cost per request rose more than its
/// traffic explains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPerRequestEvidence {
    pub currency: String,
    pub source: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub cost: f64,
    pub requests: f64,
    pub per_1k_requests: f64,
    pub previous_cost: f64,
    pub previous_requests: f64,
    pub previous_per_1k_requests: f64,
    /// `per_1k_requests / previous_per_1k_requests`.
    pub ratio: f64,
    /// `requests / previous_requests`.
    pub requests_ratio: f64,
}

impl Evidence for CostPerRequestEvidence {
    const KIND: &'static str = "cost_per_request";
}

/// `commitment`: a commitment that would have saved over the lookback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitmentEvidence {
    pub provider: String,
    pub currency: String,
    pub lookback_start: NaiveDate,
    pub lookback_end: NaiveDate,
    pub coverage: Option<f64>,
    pub recommendation: crate::summary::CommitmentRecommendation,
}

impl Evidence for CommitmentEvidence {
    const KIND: &'static str = "commitment";
}

/// `slo`: an objective missed over the period, or an error budget burning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SloEvidence {
    Burn(BurnEvidence),
    Missed(MissedObjective),
}

impl Evidence for SloEvidence {
    const KIND: &'static str = "slo";
}

/// An objective (`p95`, `apdex`, `error_rate`) missed over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissedObjective {
    pub source: String,
    pub objective: String,
    pub target: f64,
    pub actual: Option<f64>,
    /// The period, `start..end`.
    pub period: String,
    /// The days that missed it.
    pub days_breached: Vec<String>,
}

/// The error budget burning fast (page) or slow (ticket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnEvidence {
    pub source: String,
    /// Always `error_budget_burn`.
    pub objective: String,
    /// `fast` or `slow`.
    pub burn: String,
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub burn_1h: Option<f64>,
    pub burn_5m: Option<f64>,
    pub burn_6h: Option<f64>,
    pub burn_30m: Option<f64>,
    pub error_rate_objective: f64,
}

/// How a finding's monthly saving was computed, so that a person can check it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saving {
    /// Per month (730 hours), in `currency`. Negative for a cost increase
    /// (an under-provisioned instance).
    pub monthly: f64,
    pub currency: String,
    pub basis: SavingBasis,
    /// The resource's own cost per month before the change: its billed
    /// cost scaled to 730 hours, or its hourly price × 730.
    pub current_monthly: f64,
    /// The share of `current_monthly` saved: 1 for a resource removed,
    /// `1 - proposed / current` for a cheaper type or purchase option.
    pub fraction: f64,
    /// Where `fraction` came from: `removed`, the two prices, or the two
    /// sizes' normalization factors.
    pub fraction_from: String,
    /// Billed basis: the days of cost read and their total.
    pub billed_days: Option<u32>,
    pub billed_cost: Option<f64>,
    /// Price basis, and the prices a fraction rests on.
    pub price_per_hour: Option<f64>,
    pub proposed_price_per_hour: Option<f64>,
    pub price_source: Option<String>,
}

/// What a saving is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SavingBasis {
    /// The resource's own cost in the cost dataset (resource-level
    /// billing), effective (amortized) cost.
    BilledCost,
    /// The price of what it is (from `prices`, or a list price the
    /// analyzer's config names), × 730 hours.
    Price,
}

/// `idle_resource`: a resource that bills but does no work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleResourceEvidence {
    /// `instance`, `volume`, `address`, `load_balancer`.
    pub resource_type: String,
    pub reason: IdleReason,
    pub region_id: Option<String>,
    pub instance_type: Option<String>,
    /// The rule, with its thresholds, in words.
    pub rule: String,
    /// Days with data in the lookback, and how many of them were low.
    pub days_with_data: u32,
    pub days_low: u32,
    /// The judged days' figures, oldest first (instances, volumes and load
    /// balancers judged by their metrics).
    pub days: Vec<IdleDay>,
    /// Volumes still billing for a stopped instance.
    pub volumes: Vec<String>,
    pub saving: Saving,
}

impl Evidence for IdleResourceEvidence {
    const KIND: &'static str = "idle_resource";
}

/// Why a resource is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdleReason {
    /// An instance with low CPU and network on enough days.
    LowUtilization,
    /// A stopped instance whose volumes still bill.
    StoppedWithVolumes,
    /// A volume attached to nothing.
    Unattached,
    /// A volume with next to no I/O.
    LowIops,
    /// An Elastic IP not associated with a running instance.
    Unassociated,
    /// A load balancer with no healthy targets.
    NoHealthyTargets,
    /// A load balancer with next to no requests.
    LowRequests,
}

/// One judged day of an idle resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleDay {
    pub day: NaiveDate,
    /// Instances: mean CPU (percent) and network in + out (bytes).
    pub cpu_percent: Option<f64>,
    pub network_bytes: Option<f64>,
    /// Volumes: mean read + write operations per second.
    pub iops: Option<f64>,
    /// Load balancers: requests.
    pub requests: Option<f64>,
    pub low: bool,
}

/// `rightsizing`: an instance (or an Auto Scaling group's instances) whose
/// type is too large or too small for what it uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RightsizingEvidence {
    pub verdict: SizingVerdict,
    /// The Auto Scaling group judged as one, and its instances.
    pub group: Option<String>,
    pub instances: Vec<String>,
    pub region_id: Option<String>,
    pub current_type: String,
    pub proposed_type: String,
    pub current_vcpu: u32,
    pub proposed_vcpu: u32,
    pub current_memory_gib: f64,
    pub proposed_memory_gib: f64,
    /// Hours of CPU data in the lookback.
    pub hours: u32,
    /// The percentile of hourly maximum CPU judged (99.5) and its value.
    pub percentile: f64,
    pub cpu_percentile_percent: f64,
    /// vCPUs needed: the percentile × current vCPUs × (1 + headroom).
    pub cpu_need_vcpu: f64,
    /// Memory was judged (the agent's metric exists); else the proposed
    /// type has at least the current memory.
    pub memory_considered: bool,
    pub memory_percentile_percent: Option<f64>,
    pub memory_need_gib: f64,
    pub headroom: f64,
    /// `same_family`, `newer_generation` or `other_family`.
    pub choice: String,
    pub saving: Saving,
}

impl Evidence for RightsizingEvidence {
    const KIND: &'static str = "rightsizing";
}

/// Compute Optimizer's findings, less `optimized` (which is not one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizingVerdict {
    OverProvisioned,
    UnderProvisioned,
}

/// `spot_candidate`: on-demand capacity that could run as spot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpotCandidateEvidence {
    /// `auto_scaling_group` or `tagged` (`tag` says which).
    pub reason: String,
    pub group: Option<String>,
    pub group_size: Option<u32>,
    pub tag: Option<String>,
    pub region_id: Option<String>,
    pub availability_zone: Option<String>,
    pub instance_type: String,
    pub running_days: u32,
    pub on_demand_price_per_hour: f64,
    pub spot_price_per_hour: f64,
    pub spot_price_source: String,
    pub saving: Saving,
}

impl Evidence for SpotCandidateEvidence {
    const KIND: &'static str = "spot_candidate";
}

/// Times as `2026-11-08T14:00:00+00:00`, as findings have always shown them.
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        parse(&String::deserialize(d)?)
    }

    pub(super) fn parse<E: serde::de::Error>(s: &str) -> Result<DateTime<Utc>, E> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(E::custom)
    }
}

/// [`rfc3339`] for an optional time (`null` when absent).
mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::rfc3339::parse(&s))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{FindingStatus, Severity};

    fn finding(kind: &str, evidence: serde_json::Value) -> Finding {
        Finding {
            finding_id: "x".into(),
            kind: kind.into(),
            severity: Severity::Warning,
            provider: None,
            account_id: None,
            service: Some("api".into()),
            resource_id: None,
            title: String::new(),
            evidence,
            monthly_savings: None,
            currency: None,
            first_seen: DateTime::UNIX_EPOCH,
            last_seen: DateTime::UNIX_EPOCH,
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        }
    }

    #[test]
    fn evidence_keeps_its_json_and_is_read_back_by_kind() {
        let e = P95RegressionEvidence {
            source: "logs".into(),
            metric: LatencyMetric::P95,
            direction: Direction::Regression,
            at: DateTime::from_timestamp(1_727_172_000, 0).unwrap(),
            recovered: true,
            recovered_at: DateTime::from_timestamp(1_727_226_000, 0),
            before: 0.25,
            after: 0.36,
            magnitude: 0.44,
            p_value: 1e-9,
            resolution_s: 3_600,
            points: 336,
            points_after: 15,
            evidence_s: 54_000,
            fresh: false,
        };
        let json = Finding::evidence_json(&e);
        // The JSON a report prints: keys as before, times in RFC 3339.
        assert_eq!(json["direction"], "regression");
        assert_eq!(json["metric"], "p95");
        assert_eq!(json["at"], "2024-09-24T10:00:00+00:00");
        assert_eq!(json["recovered_at"], "2024-09-25T01:00:00+00:00");
        let f = finding("p95_regression", json);
        assert_eq!(f.evidence_as::<P95RegressionEvidence>(), Some(e));
        // Another kind's finding is not read as this one.
        assert_eq!(f.evidence_as::<CostAnomalyEvidence>(), None);
        let slo = finding(
            "slo",
            serde_json::json!({"source": "logs", "objective": "p95", "target": 0.5,
                "actual": 0.7, "period": "2024-09-23..2024-09-29", "days_breached": ["2024-09-24"]}),
        );
        assert!(matches!(
            slo.evidence_as::<SloEvidence>(),
            Some(SloEvidence::Missed(m)) if m.days_breached == ["2024-09-24"]
        ));
    }
}
