//! `slack`: an incoming webhook
//! (<https://api.slack.com/messaging/webhooks>), one digest per run: a
//! Block Kit message (<https://api.slack.com/reference/block-kit/blocks>)
//! with a header, one section per change (the first 40; Slack allows 50
//! blocks) and a link back to the report where `report_url` is set, plus
//! the plain-text `text` fallback Slack shows in notifications. Slack
//! answers `200 ok`; `400 invalid_blocks`, `403 invalid_token`, `404
//! no_service` and `410 channel_is_archived` are refusals, 429 (with
//! `Retry-After`) and 5xx are retried.
//!
//! ```toml
//! [sinks.team]
//! type = "slack"
//! webhook_url = "${SLACK_WEBHOOK_URL}"
//! report_url = "https://vitals.example/reports/"
//! ```

use std::fmt::Write;

use async_trait::async_trait;
use serde::Deserialize;
use vitals_core::config::{ComponentConfig, ConfigErrors, Secret};
use vitals_core::finding::Severity;

use crate::{DigestItem, Event, FindingChange, Notification, Route, SendError, Sink};

/// Sections in one message; the rest are counted in a last line.
const MAX_SECTIONS: usize = 40;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackConfig {
    /// The incoming webhook's URL (a secret: it is the credential).
    webhook_url: Secret,
    /// Where the message's link points (the reports' base URL).
    report_url: Option<String>,
    /// Seconds to wait for Slack. Default 10.
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn default_timeout() -> u64 {
    10
}

pub struct Slack {
    name: String,
    route: Route,
    webhook_url: Secret,
    report_url: Option<String>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("name", &self.name)
            .field("route", &self.route)
            .field("webhook_url", &self.webhook_url)
            .finish_non_exhaustive()
    }
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Sink>, ConfigErrors> {
    let (route, own): (Route, SlackConfig) = config.parse_shared()?;
    crate::check_url(config, "webhook_url", own.webhook_url.expose())?;
    let client = crate::http_client(config, own.timeout_secs)?;
    Ok(Box::new(Slack {
        name: config.name.clone(),
        route,
        webhook_url: own.webhook_url,
        report_url: own.report_url,
        client,
    }))
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn badge(item: &DigestItem) -> &'static str {
    match (item.change, item.finding.severity) {
        (FindingChange::Resolved, _) => "resolved",
        (FindingChange::Updated, _) => "changed",
        (_, Severity::Critical) => "critical",
        (_, Severity::Warning) => "warning",
        (_, Severity::Info) => "info",
    }
}

impl Slack {
    /// The message of a digest: (fallback text, blocks).
    fn message(&self, items: &[DigestItem]) -> serde_json::Value {
        let count = |c: FindingChange| items.iter().filter(|i| i.change == c).count();
        let (opened, updated, resolved) = (
            count(FindingChange::Opened),
            count(FindingChange::Updated),
            count(FindingChange::Resolved),
        );
        let mut head = Vec::new();
        for (n, what) in [
            (opened, "new"),
            (updated, "changed"),
            (resolved, "resolved"),
        ] {
            if n > 0 {
                head.push(format!("{n} {what}"));
            }
        }
        let title = format!("vitals: {} finding(s) {}", items.len(), head.join(", "));
        let savings: f64 = items
            .iter()
            .filter(|i| i.change != FindingChange::Resolved)
            .filter_map(|i| i.finding.monthly_savings)
            .sum();
        let mut text = title.clone();
        let mut blocks = vec![serde_json::json!({
            "type": "header",
            "text": {"type": "plain_text", "text": title.chars().take(150).collect::<String>()},
        })];
        for item in items.iter().take(MAX_SECTIONS) {
            let f = &item.finding;
            let _ = write!(text, "\n[{}] {}", badge(item), f.title);
            let mut line = format!("*{}* · `{}` · {}", badge(item), f.kind, escape(&f.title));
            if let Some(service) = &f.service {
                let _ = write!(line, " · service `{}`", escape(service));
            }
            if let Some(owner) = &f.owner {
                let _ = write!(line, " · owner `{}`", escape(owner));
            }
            blocks.push(serde_json::json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": line.chars().take(3000).collect::<String>()},
            }));
        }
        if items.len() > MAX_SECTIONS {
            let more = format!("…and {} more", items.len() - MAX_SECTIONS);
            let _ = write!(text, "\n{more}");
            blocks.push(serde_json::json!({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": more}],
            }));
        }
        let mut context = Vec::new();
        if savings > 0.0 {
            context.push(format!("Monthly savings in these findings: {savings:.2}"));
        }
        if let Some(url) = &self.report_url {
            context.push(format!("<{url}|Open the report>"));
            let _ = write!(text, "\nReport: {url}");
        }
        if !context.is_empty() {
            blocks.push(serde_json::json!({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": context.join(" · ")}],
            }));
        }
        serde_json::json!({ "text": text, "blocks": blocks })
    }

    fn body(&self, n: &Notification) -> serde_json::Value {
        match &n.event {
            Event::Digest { changes } => self.message(changes),
            Event::Finding { change, finding } => self.message(&[DigestItem {
                change: *change,
                finding: (**finding).clone(),
            }]),
            // Never recorded for this sink (`takes_report` is false).
            Event::Report(r) => serde_json::json!({ "text": r.title }),
            Event::Test => serde_json::json!({
                "text": "vitals test notification",
                "blocks": [{
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "A test notification from *vitals*."},
                }],
            }),
        }
    }
}

#[async_trait]
impl Sink for Slack {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "slack"
    }

    fn route(&self) -> &Route {
        &self.route
    }

    fn digest(&self) -> bool {
        true
    }

    async fn connect(&self) -> Result<String, SendError> {
        crate::reach(&self.client, self.webhook_url.expose()).await
    }

    async fn send(&self, n: &Notification) -> Result<(), SendError> {
        crate::exchange(
            self.client
                .post(self.webhook_url.expose())
                .json(&self.body(n)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use vitals_core::finding::{Finding, FindingStatus};

    use super::*;

    fn item(i: usize, change: FindingChange) -> DigestItem {
        DigestItem {
            change,
            finding: Finding {
                finding_id: format!("{i:016x}"),
                kind: "idle_resource".into(),
                severity: Severity::Warning,
                provider: Some("AWS".into()),
                account_id: None,
                service: Some("a<b>".into()),
                resource_id: None,
                title: format!("volume vol-{i} unattached & billing"),
                evidence: serde_json::Value::Null,
                monthly_savings: Some(10.0),
                currency: Some("USD".into()),
                first_seen: Utc::now(),
                last_seen: Utc::now(),
                owner: None,
                slo_safety: None,
                status: FindingStatus::Open,
            },
        }
    }

    #[test]
    fn a_digest_is_one_message_with_a_fallback_and_bounded_blocks() {
        let s = Slack {
            name: "team".into(),
            route: Route::default(),
            webhook_url: Secret::new("https://hooks.slack.com/services/T/B/X"),
            report_url: Some("https://vitals.example/r".into()),
            client: reqwest::Client::new(),
        };
        let mut items: Vec<DigestItem> = (0..45).map(|i| item(i, FindingChange::Opened)).collect();
        items.push(item(99, FindingChange::Resolved));
        let m = s.message(&items);
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50, "{}", blocks.len());
        assert_eq!(
            blocks[0]["text"]["text"],
            "vitals: 46 finding(s) 45 new, 1 resolved"
        );
        assert!(
            blocks[1]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("unattached &amp; billing · service `a&lt;b&gt;`")
        );
        let text = m["text"].as_str().unwrap();
        assert!(text.contains("…and 6 more") && text.contains("https://vitals.example/r"));
        let last = blocks.last().unwrap()["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert!(
            last.contains("450.00") && last.contains("<https://vitals.example/r|"),
            "{last}"
        );
        assert!(!format!("{s:?}").contains("hooks.slack.com"));
    }
}
