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
