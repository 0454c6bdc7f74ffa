//! `slo_safe_savings`: which savings the latency objectives leave room for,
//! the second answer only a tool holding both the bill and the latencies
//! can give.
//!
//! Every right-sizing and spot saving of a resource that serves a service
//! (its `service` tag, mapped through `services` where the tag's value and
//! the latency dataset's name differ) is judged against that service's
//! objectives over the period, as the `slo` analyzer judged them (the
//! configured `slo_analyzer`, else the only one): a service that missed
//! its P95, Apdex or error-rate objective, or whose P95 is above
//! `p95_margin` (default 0.8) of its objective, makes the saving **not
//! safe**: downsizing or interruption would lengthen the wait of the
//! people the service serves. The finding's `slo_safety` says which, with
//! the objectives it read. A saving without latency evidence for its
//! service is left not judged; an idle resource's saving is safe by nature
//! (it serves nothing). Low-traffic objectives are never evidence.
//!
//! It reads nothing from the store: it runs after the other analyzers
//! ([`Analyzer::refine`]), over their findings and the `slo` summary.

use std::collections::BTreeMap;

use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::{Evidence, RightsizingEvidence, SpotCandidateEvidence};
use vitals_core::finding::Finding;
use vitals_core::savings::{ObjectiveCheck, SloSafety};
use vitals_core::summary::{SloSummary, Summary};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SloSafeConfig {
    /// A P95 above this share of its objective is too close to cut
    /// capacity under. Default 0.8.
    #[serde(default = "default_p95_margin")]
    p95_margin: f64,
    /// Tag value → the latency dataset's service name, where they differ.
    #[serde(default)]
    services: BTreeMap<String, String>,
    /// Which `slo` analyzer's verdicts to read; needed only if there are
    /// several.
    slo_analyzer: Option<String>,
}

fn default_p95_margin() -> f64 {
    0.8
}

#[derive(Debug)]
pub struct SloSafeSavings {
    name: String,
    config: SloSafeConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let parsed: SloSafeConfig = config.parse()?;
    if !(parsed.p95_margin > 0.0 && parsed.p95_margin <= 1.0) {
        return Err(config.error(
            Some("p95_margin"),
            "must be above 0 and at most 1 (0.8: a P95 above 80 % of its objective is too close)",
        ));
    }
    Ok(Box::new(SloSafeSavings {
        name: config.name.clone(),
        config: parsed,
    }))
}

impl SloSafeSavings {
    /// The judgement of `service` from the period's verdicts; `None`
    /// without any that are not low traffic.
    fn judge(&self, slo: &SloSummary, service: &str) -> Option<SloSafety> {
        let objectives: Vec<ObjectiveCheck> = slo
            .statuses
            .iter()
            .filter(|s| s.day.is_none() && s.service == service && !s.low_traffic)
            .filter(|s| s.actual.is_some())
            .map(|s| ObjectiveCheck {
                source: s.source.clone(),
                objective: s.objective.clone(),
                target: s.target,
                actual: s.actual,
                compliant: s.compliant,
            })
            .collect();
        if objectives.is_empty() {
            return None;
        }
        let mut reasons = Vec::new();
        for o in &objectives {
            let Some(actual) = o.actual else { continue };
            let (shown, target) = match o.objective.as_str() {
                "p95" => (
                    format!("{:.0} ms", actual * 1e3),
                    format!("{:.0} ms", o.target * 1e3),
                ),
                "error_rate" => (
                    format!("{:.2} %", actual * 100.0),
                    format!("{:.2} %", o.target * 100.0),
                ),
                _ => (format!("{actual:.3}"), format!("{:.3}", o.target)),
            };
            if o.compliant == Some(false) {
                reasons.push(format!(
                    "{} {shown} misses its objective {target} ({})",
                    o.objective, o.source
                ));
            } else if o.objective == "p95" && actual > self.config.p95_margin * o.target {
                reasons.push(format!(
                    "p95 {shown} is {:.0} % of its objective {target}, above the {:.0} % margin ({})",
                    actual / o.target * 100.0,
                    self.config.p95_margin * 100.0,
                    o.source
                ));
            }
        }
        Some(SloSafety {
            safe: reasons.is_empty(),
            service: service.to_string(),
            reasons,
            objectives,
        })
    }
}

impl Analyzer for SloSafeSavings {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "slo_safe_savings"
    }

    /// About the savings (it judges theirs), reading the latency verdicts.
    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Inventory, Dataset::Latency]
    }

    fn analyze(&self, _ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        Ok(AnalysisOutput::default())
    }

    fn refine(&self, findings: &mut [Finding], summaries: &[Summary]) {
        let wanted = self.config.slo_analyzer.as_deref();
        let Some(slo) = summaries.iter().find_map(|s| match s {
            Summary::Slo(slo) if wanted.is_none_or(|w| w == slo.analyzer) => Some(slo.as_ref()),
            _ => None,
        }) else {
            return;
        };
        let judged = [RightsizingEvidence::KIND, SpotCandidateEvidence::KIND];
        for f in findings.iter_mut().filter(|f| {
            judged.contains(&f.kind.as_str()) && f.monthly_savings.is_some_and(|s| s > 0.0)
        }) {
            let Some(tag) = f.service.as_deref() else {
                continue;
            };
            let service = self.config.services.get(tag).map_or(tag, String::as_str);
            f.slo_safety = self.judge(slo, service);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};
    use vitals_core::config::ComponentKind;
    use vitals_core::finding::{FindingStatus, Severity};
    use vitals_core::period::DayRange;
    use vitals_core::summary::SloStatus;

    use super::*;

    fn status(service: &str, objective: &str, target: f64, actual: f64, ok: bool) -> SloStatus {
        SloStatus {
            source: "logs".into(),
            service: service.into(),
            day: None,
            objective: objective.into(),
            target,
            actual: Some(actual),
            compliant: Some(ok),
            low_traffic: false,
        }
    }

    fn finding(kind: &str, service: &str, saving: f64) -> Finding {
        Finding {
            finding_id: format!("{kind}-{service}"),
            kind: kind.into(),
            severity: Severity::Warning,
            provider: Some("AWS".into()),
            account_id: None,
            service: Some(service.into()),
            owner: None,
            slo_safety: None,
            resource_id: Some(format!("i-{service}")),
            title: "t".into(),
            evidence: serde_json::Value::Null,
            monthly_savings: Some(saving),
            currency: Some("USD".into()),
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            status: FindingStatus::Open,
        }
    }

    #[test]
    fn breaches_and_a_p95_near_its_objective_make_a_saving_not_safe() {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Analyzer,
            "safe",
            "type = \"slo_safe_savings\"\nservices = { web-frontend = \"web\" }",
        )
        .unwrap();
        let analyzer = build(&cfg).unwrap();
        let day = NaiveDate::from_ymd_opt(2024, 9, 29).unwrap();
        let mut quiet = status("quiet", "p95", 0.5, 0.49, true);
        quiet.low_traffic = true;
        let slo = Summary::Slo(Box::new(SloSummary {
            analyzer: "slo".into(),
            period: DayRange::single(day),
            statuses: vec![
                status("web", "p95", 0.5, 0.2, true),
                status("web", "apdex", 0.94, 0.97, true),
                status("near", "p95", 0.5, 0.41, true),
                status("erring", "p95", 0.5, 0.1, true),
                status("erring", "error_rate", 0.01, 0.02, false),
                quiet,
            ],
            burn_rates: Vec::new(),
        }));
        let mut found = vec![
            finding("rightsizing", "web-frontend", 10.0),
            finding("spot_candidate", "near", 20.0),
            finding("rightsizing", "erring", 30.0),
            finding("rightsizing", "quiet", 40.0),
            finding("idle_resource", "near", 50.0),
            // An upsizing costs, it saves nothing: not judged.
            finding("rightsizing", "near", -5.0),
        ];
        analyzer.refine(&mut found, &[slo]);
        let safety: Vec<Option<(bool, Vec<String>)>> = found
            .iter()
            .map(|f| f.slo_safety.as_ref().map(|s| (s.safe, s.reasons.clone())))
            .collect();
        assert_eq!(safety[0], Some((true, vec![])), "mapped to `web`, healthy");
        assert_eq!(
            safety[1],
            Some((
                false,
                vec![
                    "p95 410 ms is 82 % of its objective 500 ms, above the 80 % margin (logs)"
                        .to_string()
                ]
            ))
        );
        assert_eq!(
            safety[2],
            Some((
                false,
                vec!["error_rate 2.00 % misses its objective 1.00 % (logs)".to_string()]
            ))
        );
        assert_eq!(safety[3], None, "low traffic is no evidence");
        assert_eq!(
            safety[4], None,
            "idle savings are not judged (safe by nature)"
        );
        assert_eq!(safety[5], None);
        assert!(
            build(
                &ComponentConfig::from_toml(
                    ComponentKind::Analyzer,
                    "safe",
                    "type = \"slo_safe_savings\"\np95_margin = 1.5"
                )
                .unwrap()
            )
            .is_err()
        );
    }
}
