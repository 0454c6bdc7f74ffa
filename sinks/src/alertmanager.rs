//! `alertmanager`: Prometheus Alertmanager's API v2, `POST /api/v2/alerts`
//! (<https://prometheus.io/docs/alerting/latest/clients/>, "Sending alerts"),
//! the way Prometheus itself is a client of it:
//!
//! - labels `alertname` (the finding's kind), `severity`, `finding_id`,
//!   and `service`, `owner`, `provider`, `account_id`, `resource_id` where the
//!   finding has them; annotations `title`, `summary` (the evidence's
//!   scalar fields), `monthly_savings` (with its currency) where there is a
//!   saving; `startsAt` = when the finding was first seen, `generatorURL`
//!   = `report_url` where configured;
//! - an open finding is posted with `endsAt` = now + 4 × `resend_secs`
//!   and posted again every `resend_secs` while it stays open (Prometheus
//!   re-sends firing alerts the same way, with `endsAt` 4 evaluation
//!   intervals ahead), so Alertmanager keeps it firing as long as vitals
//!   runs and resolves it by itself if vitals stops for good;
//! - a resolved finding is posted with `endsAt` = the time it resolved,
//!   which Alertmanager turns into one `resolved` notification.
//!
//! Alertmanager deduplicates by the labels' fingerprint, so re-posting
//! is not re-notifying: its `repeat_interval` decides that. A severity
//! change is a new label set: the new alert fires and the old one expires
//! at its `endsAt`. With `vitals run --once` from cron, set `resend_secs`
//! to at least the cron interval, or open alerts expire between runs.
//!
//! ```toml
//! [sinks.am]
//! type = "alertmanager"
//! url = "http://alertmanager:9093"
//! resend_secs = 60
//! ```

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use vitals_core::config::{ComponentConfig, ConfigErrors, Secret};
use vitals_core::finding::Finding;

use crate::{Event, FindingChange, Notification, Route, SendError, Sink};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertmanagerConfig {
    /// Alertmanager's base URL (`/api/v2/alerts` is added).
    url: String,
    /// A bearer token, where Alertmanager sits behind an authenticating
    /// proxy.
    bearer_token: Option<Secret>,
    /// Seconds between re-posts of open findings. Default 60.
    #[serde(default = "default_resend")]
    resend_secs: u64,
    /// Where `generatorURL` points (the report's base URL), if anywhere.
    report_url: Option<String>,
    /// Seconds to wait for Alertmanager. Default 10.
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn default_resend() -> u64 {
    60
}

fn default_timeout() -> u64 {
    10
}

#[derive(Debug)]
pub struct Alertmanager {
    name: String,
    route: Route,
    /// The base URL, without a trailing `/`.
    url: String,
    bearer_token: Option<Secret>,
    resend: Duration,
    report_url: Option<String>,
    client: reqwest::Client,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Sink>, ConfigErrors> {
    let (route, own): (Route, AlertmanagerConfig) = config.parse_shared()?;
    crate::check_url(config, "url", &own.url)?;
    if own.resend_secs == 0 {
        return Err(config.error(Some("resend_secs"), "must be at least 1"));
    }
    let client = crate::http_client(config, own.timeout_secs)?;
    Ok(Box::new(Alertmanager {
        name: config.name.clone(),
        route,
        url: own.url.trim_end_matches('/').to_string(),
        bearer_token: own.bearer_token,
        resend: Duration::from_secs(own.resend_secs),
        report_url: own.report_url,
        client,
    }))
}

impl Alertmanager {
    /// One alert of `finding`, ending at `ends_at`.
    fn alert(&self, finding: &Finding, ends_at: DateTime<Utc>) -> serde_json::Value {
        let mut labels = serde_json::Map::new();
        let mut label = |k: &str, v: &str| {
            labels.insert(k.into(), v.into());
        };
        label("alertname", &finding.kind);
        label("severity", finding.severity.as_str());
        label("finding_id", &finding.finding_id);
        for (k, v) in [
            ("service", &finding.service),
            ("owner", &finding.owner),
            ("provider", &finding.provider),
            ("account_id", &finding.account_id),
            ("resource_id", &finding.resource_id),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                label(k, v);
            }
        }
        let mut annotations = serde_json::json!({
            "title": finding.title,
            "summary": crate::evidence_summary(finding),
        });
        if let Some(saving) = finding.monthly_savings {
            annotations["monthly_savings"] = format!(
                "{saving:.2} {}",
                finding.currency.as_deref().unwrap_or_default()
            )
            .trim_end()
            .into();
        }
        let mut alert = serde_json::json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": finding.first_seen.to_rfc3339(),
            "endsAt": ends_at.to_rfc3339(),
        });
        if let Some(url) = &self.report_url {
            alert["generatorURL"] = url.clone().into();
        }
        alert
    }

    /// When a firing alert posted now expires unless posted again.
    fn firing_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.resend * 4).unwrap_or_default()
    }

    async fn post(&self, alerts: &[serde_json::Value]) -> Result<(), SendError> {
        let mut request = self
            .client
            .post(format!("{}/api/v2/alerts", self.url))
            .json(alerts);
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        crate::exchange(request).await
    }
}

#[async_trait]
impl Sink for Alertmanager {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "alertmanager"
    }

    fn route(&self) -> &Route {
        &self.route
    }

    async fn connect(&self) -> Result<String, SendError> {
        // Alertmanager's own readiness endpoint, beside the API.
        let mut request = self.client.get(format!("{}/-/ready", self.url));
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        crate::exchange(request).await?;
        Ok("ready (GET /-/ready)".into())
    }

    fn refresh_interval(&self) -> Option<Duration> {
        Some(self.resend)
    }

    async fn refresh(&self, open: &[Finding]) -> Result<(), SendError> {
        if open.is_empty() {
            return Ok(());
        }
        let until = self.firing_until(Utc::now());
        let alerts: Vec<_> = open.iter().map(|f| self.alert(f, until)).collect();
        // Alertmanager takes any number per request; batches keep each
        // body small.
        for batch in alerts.chunks(500) {
            self.post(batch).await?;
        }
        Ok(())
    }

    async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let alert = match &n.event {
            Event::Finding { change, finding } => match change {
                FindingChange::Opened | FindingChange::Updated => {
                    self.alert(finding, self.firing_until(Utc::now()))
                }
                // Resolved when it resolved, even if sent later.
                FindingChange::Resolved => self.alert(finding, n.created_at),
            },
            Event::Digest { .. } | Event::Report(_) => {
                return Err(SendError::Permanent {
                    message: "Alertmanager takes one alert per finding, not a digest or a report"
                        .into(),
                });
            }
            // A test alert that resolves by itself a minute later.
            Event::Test => serde_json::json!({
                "labels": {"alertname": "VitalsTest", "severity": "info", "notification": n.id},
                "annotations": {"title": "vitals test notification"},
                "startsAt": n.created_at.to_rfc3339(),
                "endsAt": (n.created_at + chrono::Duration::minutes(1)).to_rfc3339(),
            }),
        };
        self.post(&[alert]).await
    }
}

#[cfg(test)]
mod tests {
    use vitals_core::finding::{FindingStatus, Severity};

    use super::*;

    fn sink() -> Alertmanager {
        let cfg = ComponentConfig::from_toml(
            vitals_core::config::ComponentKind::Sink,
            "am",
            "type = \"alertmanager\"\nurl = \"http://127.0.0.1:9093/\"\nresend_secs = 30\n\
             bearer_token = \"T0KEN\"",
        )
        .unwrap();
        let built = build(&cfg).unwrap();
        assert!(!format!("{built:?}").contains("T0KEN"));
        Alertmanager {
            name: "am".into(),
            route: Route::default(),
            url: "http://127.0.0.1:9093".into(),
            bearer_token: None,
            resend: Duration::from_secs(30),
            report_url: Some("https://vitals.example/report".into()),
            client: reqwest::Client::new(),
        }
    }

    #[test]
    fn alerts_carry_the_documented_labels_and_end_ahead_while_open() {
        let now = Utc::now();
        let f = Finding {
            finding_id: "0123456789abcdef".into(),
            kind: "idle_resource".into(),
            severity: Severity::Warning,
            provider: Some("aws".into()),
            account_id: Some("123456789012".into()),
            service: None,
            resource_id: Some("i-0abc".into()),
            title: "i-0abc has been idle".into(),
            evidence: serde_json::json!({"low_days": 9, "cpu_percent": 1.5, "days": [1, 2]}),
            monthly_savings: Some(61.32),
            currency: Some("USD".into()),
            first_seen: now,
            last_seen: now,
            owner: Some("platform".into()),
            slo_safety: None,
            status: FindingStatus::Open,
        };
        let s = sink();
        let a = s.alert(&f, s.firing_until(now));
        assert_eq!(a["labels"]["alertname"], "idle_resource");
        assert_eq!(a["labels"]["severity"], "warning");
        assert_eq!(a["labels"]["finding_id"], "0123456789abcdef");
        assert_eq!(a["labels"]["resource_id"], "i-0abc");
        assert!(a["labels"].get("service").is_none());
        assert_eq!(a["labels"]["owner"], "platform");
        assert_eq!(a["annotations"]["monthly_savings"], "61.32 USD");
        assert_eq!(a["annotations"]["summary"], "cpu_percent: 1.5, low_days: 9");
        assert_eq!(a["generatorURL"], "https://vitals.example/report");
        let ends = DateTime::parse_from_rfc3339(a["endsAt"].as_str().unwrap()).unwrap();
        assert_eq!((ends.with_timezone(&Utc) - now).num_seconds(), 120);
        let bad = ComponentConfig::from_toml(
            vitals_core::config::ComponentKind::Sink,
            "am",
            "type = \"alertmanager\"\nurl = \"alertmanager:9093\"",
        )
        .unwrap();
        assert!(build(&bad).unwrap_err().to_string().contains("url"));
    }
}
