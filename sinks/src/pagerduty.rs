//! `pagerduty`: PagerDuty's Events API v2
//! (<https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>,
//! "Send an Alert Event"): `trigger` when a finding opens or changes
//! severity, `resolve` when it resolves, with `dedup_key` = the finding id,
//! so PagerDuty itself never holds two incidents for one finding and a
//! re-sent event only updates the one it has. Severity maps `critical` →
//! `critical`, `warning` → `warning`, `info` → `info`. A 202 is accepted;
//! 429 and 5xx are retried (PagerDuty's documented answer to a burst is
//! 429); 400 (an invalid event) is a refusal.
//!
//! ```toml
//! [sinks.oncall]
//! type = "pagerduty"
//! routing_key = "${PAGERDUTY_ROUTING_KEY}"
//! severity = "critical"
//! ```

use async_trait::async_trait;
use serde::Deserialize;
use vitals_core::config::{ComponentConfig, ConfigErrors, Secret};

use crate::{Event, FindingChange, Notification, Route, SendError, Sink};

const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PagerDutyConfig {
    /// The integration's routing key (Events API v2).
    routing_key: Secret,
    /// Override of the Events API endpoint (tests; PagerDuty's EU service
    /// uses `https://events.eu.pagerduty.com/v2/enqueue`).
    #[serde(default = "default_url")]
    url: String,
    /// Where links in the incident point (the report's base URL), if any.
    report_url: Option<String>,
    /// Seconds to wait for PagerDuty. Default 10.
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn default_url() -> String {
    EVENTS_URL.to_string()
}

fn default_timeout() -> u64 {
    10
}

pub struct PagerDuty {
    name: String,
    route: Route,
    routing_key: Secret,
    url: String,
    report_url: Option<String>,
    client: reqwest::Client,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("name", &self.name)
            .field("route", &self.route)
            .field("routing_key", &self.routing_key)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Sink>, ConfigErrors> {
    let (route, own): (Route, PagerDutyConfig) = config.parse_shared()?;
    if own.routing_key.expose().trim().is_empty() {
        return Err(config.error(Some("routing_key"), "must not be empty"));
    }
    crate::check_url(config, "url", &own.url)?;
    let client = crate::http_client(config, own.timeout_secs)?;
    Ok(Box::new(PagerDuty {
        name: config.name.clone(),
        route,
        routing_key: own.routing_key,
        url: own.url,
        report_url: own.report_url,
        client,
    }))
}

impl PagerDuty {
    /// The event body of a notification.
    fn event(&self, n: &Notification) -> serde_json::Value {
        let key = self.routing_key.expose();
        match &n.event {
            Event::Finding { change, finding } => {
                let action = match change {
                    FindingChange::Opened | FindingChange::Updated => "trigger",
                    FindingChange::Resolved => "resolve",
                };
                let mut event = serde_json::json!({
                    "routing_key": key,
                    "event_action": action,
                    "dedup_key": finding.finding_id,
                });
                if action == "trigger" {
                    event["payload"] = serde_json::json!({
                        // PagerDuty truncates summaries at 1024 characters.
                        "summary": finding.title.chars().take(1024).collect::<String>(),
                        "source": finding.resource_id.clone()
                            .or_else(|| finding.service.clone())
                            .unwrap_or_else(|| "vitals".into()),
                        // PagerDuty's severities include ours by name.
                        "severity": finding.severity.as_str(),
                        "timestamp": finding.first_seen,
                        "component": finding.service,
                        "group": finding.account_id,
                        "class": finding.kind,
                        "custom_details": {
                            "owner": finding.owner,
                            "provider": finding.provider,
                            "monthly_savings": finding.monthly_savings,
                            "currency": finding.currency,
                            "evidence": finding.evidence,
                        },
                    });
                    if let Some(url) = &self.report_url {
                        event["links"] =
                            serde_json::json!([{ "href": url, "text": "vitals report" }]);
                    }
                }
                event
            }
            Event::Digest { .. } | Event::Report(_) => serde_json::Value::Null,
            Event::Test => serde_json::json!({
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": n.id,
                "payload": {
                    "summary": "vitals test notification",
                    "source": "vitals",
                    "severity": "info",
                    "timestamp": n.created_at,
                },
            }),
        }
    }
}

#[async_trait]
impl Sink for PagerDuty {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "pagerduty"
    }

    fn route(&self) -> &Route {
        &self.route
    }

    async fn connect(&self) -> Result<String, SendError> {
        crate::reach(&self.client, &self.url).await
    }

    async fn send(&self, n: &Notification) -> Result<(), SendError> {
        if matches!(n.event, Event::Digest { .. } | Event::Report(_)) {
            // Never recorded for this sink (`digest()` and `takes_report`
            // are false).
            return Err(SendError::Permanent {
                message: "PagerDuty takes one event per finding, not a digest or a report".into(),
            });
        }
        crate::exchange(self.client.post(&self.url).json(&self.event(n))).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use vitals_core::finding::{Finding, FindingStatus, Severity};

    use super::*;

    fn sink() -> PagerDuty {
        let cfg = ComponentConfig::from_toml(
            vitals_core::config::ComponentKind::Sink,
            "oncall",
            "type = \"pagerduty\"\nrouting_key = \"R0UT1NG\"\nreport_url = \"https://vitals.example/reports\"",
        )
        .unwrap();
        build(&cfg).unwrap();
        PagerDuty {
            name: "oncall".into(),
            route: Route::default(),
            routing_key: Secret::new("R0UT1NG"),
            url: EVENTS_URL.into(),
            report_url: Some("https://vitals.example/reports".into()),
            client: reqwest::Client::new(),
        }
    }

    fn n(change: FindingChange) -> Notification {
        Notification {
            id: "msg_1".into(),
            created_at: Utc::now(),
            event: Event::Finding {
                change,
                finding: Box::new(Finding {
                    finding_id: "0123456789abcdef".into(),
                    kind: "slo".into(),
                    severity: Severity::Critical,
                    provider: None,
                    account_id: None,
                    service: Some("checkout".into()),
                    resource_id: None,
                    title: "checkout misses its P95 objective".into(),
                    evidence: serde_json::json!({"p95_ms": 812}),
                    monthly_savings: None,
                    currency: None,
                    first_seen: Utc::now(),
                    last_seen: Utc::now(),
                    owner: None,
                    slo_safety: None,
                    status: FindingStatus::Open,
                }),
            },
        }
    }

    #[test]
    fn opening_triggers_and_resolving_resolves_the_same_dedup_key() {
        let s = sink();
        let t = s.event(&n(FindingChange::Opened));
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], "0123456789abcdef");
        assert_eq!(t["payload"]["severity"], "critical");
        assert_eq!(t["payload"]["source"], "checkout");
        assert_eq!(t["payload"]["class"], "slo");
        assert_eq!(t["links"][0]["href"], "https://vitals.example/reports");
        let r = s.event(&n(FindingChange::Resolved));
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(r["dedup_key"], t["dedup_key"]);
        assert!(r.get("payload").is_none());
        assert!(!format!("{s:?}").contains("R0UT1NG"));
    }
}
