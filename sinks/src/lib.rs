//! Sinks: where vitals delivers what changed. A sink takes typed
//! notifications (never Polars, never the store) and sends one; everything
//! else is shared by every sink, as the OpenTelemetry Collector's exporter
//! helper shares it:
//!
//! - [`outbox`]: every notification is written to a durable outbox before
//!   it is sent and removed only once the receiver accepted it, so it
//!   survives a crash or restart and is sent after it (at least once);
//! - [`delivery`]: retries with jittered backoff that honour `Retry-After`,
//!   a per-sink rate limit, and routing (`kinds`, minimum `severity`,
//!   `services`, `owners`);
//! - each notification carries an idempotency key, the same on every
//!   attempt, so a receiver can drop duplicates.
//!
//! One file per sink type, plus one line in [`registry`].

mod alertmanager;
pub mod delivery;
mod email;
pub mod outbox;
mod pagerduty;
pub mod registry;
mod slack;
mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vitals_core::finding::{Finding, Severity};

/// One notification, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The idempotency key: kept through every attempt.
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub event: Event,
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A finding changed state.
    Finding {
        change: FindingChange,
        finding: Box<Finding>,
    },
    /// Every change one run made that a digest sink takes, in one message.
    Digest { changes: Vec<DigestItem> },
    /// A report a run wrote, for the sinks that send reports.
    Report(Box<ReportMessage>),
    /// `vitals notify test`: proves the path works.
    Test,
}

impl Event {
    /// Sent at most once ever under its key, even when recorded again
    /// after it was sent (a report re-rendered for the same week).
    pub fn once(&self) -> bool {
        matches!(self, Event::Report(_))
    }
}

/// A rendered report as the sinks that send reports take it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportMessage {
    /// The report's config name (`weekly`).
    pub report: String,
    /// The period it covers, as its file names say it (`2024-W39`).
    pub period: String,
    /// For an owner's digest: the owner, whose findings alone it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A one-line title (the email's subject).
    pub title: String,
    /// The HTML rendering (charts as `data:` images).
    pub html: String,
    /// The plain-text (Markdown) rendering.
    pub text: String,
    /// Every finding the report read, without evidence.
    pub findings: Vec<ReportFinding>,
}

/// A finding of a report, with its saving as the report's totals count it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFinding {
    pub finding: Finding,
    /// The saving counted in the report's total: its own, or `None` where
    /// a larger finding already counts its resource.
    pub counted_savings: Option<f64>,
}

/// One change in a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestItem {
    pub change: FindingChange,
    pub finding: Finding,
}

/// The finding events sinks tell of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingChange {
    /// New, or back after resolving.
    Opened,
    /// Its severity changed.
    Updated,
    Resolved,
}

impl FindingChange {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingChange::Opened => "opened",
            FindingChange::Updated => "updated",
            FindingChange::Resolved => "resolved",
        }
    }
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt (connection failure, timeout, 429, 5xx),
    /// after `after` if the receiver said (`Retry-After`).
    #[error("{message}")]
    Retry {
        message: String,
        after: Option<Duration>,
    },
    /// The receiver refused it (another 4xx): retrying would not help.
    #[error("{message}")]
    Permanent { message: String },
}

/// Which findings a sink takes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Finding kinds (e.g. `idle_resource`); default every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The least severity sent (`info`, `warning`, `critical`). Default `info`.
    pub severity: Option<Severity>,
    /// Services; default every service (and findings without one).
    #[serde(default)]
    pub services: Vec<String>,
    /// Owners (values of `[findings] owner_tag`); default every owner (and
    /// findings without one).
    #[serde(default)]
    pub owners: Vec<String>,
    /// Notifications sent per minute at most. Default 60.
    pub rate_per_minute: Option<u32>,
    /// Attempts per notification before it is set aside as dead. Default 10.
    pub max_attempts: Option<u32>,
}

/// True if `list` is empty (every value) or holds `value`.
fn listed(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
}

impl Route {
    pub fn takes(&self, f: &Finding) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&f.kind))
            && self.severity.is_none_or(|s| f.severity >= s)
            && listed(&self.services, f.service.as_deref())
            && listed(&self.owners, f.owner.as_deref())
    }

    pub fn min_interval(&self) -> Duration {
        Duration::from_secs_f64(60.0 / f64::from(self.rate_per_minute.unwrap_or(60).max(1)))
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts.unwrap_or(10).max(1)
    }
}

/// A place notifications go.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// The instance's config name.
    fn name(&self) -> &str;
    fn type_name(&self) -> &'static str;
    fn route(&self) -> &Route;
    /// True for a sink that takes one message per run with every change
    /// in it ([`Event::Digest`]) rather than one per change.
    fn digest(&self) -> bool {
        false
    }
    /// False for a sink that is told of no finding changes (email sends
    /// reports).
    fn takes_findings(&self) -> bool {
        true
    }
    /// True for a sink that sends the report named `report`.
    fn takes_report(&self, _report: &str) -> bool {
        false
    }
    /// The owners this sink sends their own digest of the report named
    /// `report` ([`ReportMessage::owner`]).
    fn report_owners(&self, _report: &str) -> Vec<String> {
        Vec::new()
    }
    /// Sends one notification; the outbox keeps it until this succeeds.
    async fn send(&self, notification: &Notification) -> Result<(), SendError>;
    /// For a receiver that forgets what it was told unless told again
    /// (Alertmanager expires an alert at its `endsAt`): how often
    /// [`Sink::refresh`] runs. `None` (the default): never.
    fn refresh_interval(&self) -> Option<Duration> {
        None
    }
    /// Reaches the receiver without sending anything (`vitals check
    /// --connect`) and says how far it got.
    async fn connect(&self) -> Result<String, SendError>;
    /// Tells the receiver again of every open finding the route takes.
    /// Not a notification (nothing new is said, nothing is recorded): a
    /// failure waits for the next interval.
    async fn refresh(&self, _open: &[Finding]) -> Result<(), SendError> {
        Ok(())
    }
}

/// A finding's evidence in one line: its scalar fields, `key: value`, in
/// key order (lists and tables left out), at most 500 characters.
pub fn evidence_summary(f: &Finding) -> String {
    let Some(fields) = f.evidence.as_object() else {
        return String::new();
    };
    let mut parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some(format!("{k}: {s}")),
            serde_json::Value::Number(n) => Some(format!("{k}: {n}")),
            serde_json::Value::Bool(b) => Some(format!("{k}: {b}")),
            _ => None,
        })
        .collect();
    parts.sort();
    let line = parts.join(", ");
    if line.chars().count() <= 500 {
        line
    } else {
        line.chars().take(499).chain(['…']).collect()
    }
}

/// A failed HTTP exchange as a [`SendError`]: 429, 408 and 5xx are worth
/// retrying (after `Retry-After` where given), other statuses are not.
pub(crate) fn http_error(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> SendError {
    let mut message = format!("HTTP {status}");
    let body = body.trim();
    if !body.is_empty() {
        message.push_str(": ");
        message.extend(body.chars().take(300));
    }
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        SendError::Retry {
            message,
            after: retry_after(headers, Utc::now()),
        }
    } else {
        SendError::Permanent { message }
    }
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    (at - now).to_std().ok().or(Some(Duration::ZERO))
}

/// Reaches an HTTP receiver without posting: any answer to a HEAD request
/// (405 included) proves DNS, TCP and TLS; a transport failure does not.
pub(crate) async fn reach(client: &reqwest::Client, url: &str) -> Result<String, SendError> {
    let response = client
        .head(url)
        .send()
        .await
        .map_err(|e| transport_error(&e.without_url()))?;
    Ok(format!(
        "HTTP {} to a HEAD request (nothing sent)",
        response.status()
    ))
}

/// Sends `request` (the URL left out of any error: it may be a secret)
/// and reads its answer: any 2xx is accepted, anything else is
/// [`http_error`].
pub(crate) async fn exchange(request: reqwest::RequestBuilder) -> Result<(), SendError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(&e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Err(http_error(status, &headers, &text))
}

/// The HTTP client of a sink: 10 s to connect, `timeout_secs` in all.
pub(crate) fn http_client(
    config: &vitals_core::config::ComponentConfig,
    timeout_secs: u64,
) -> Result<reqwest::Client, vitals_core::config::ConfigErrors> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .build()
        .map_err(|e| config.error(None, format!("building the HTTP client: {e}")))
}

/// Checks that `url` (at `key`) is an http(s) URL.
pub(crate) fn check_url(
    config: &vitals_core::config::ComponentConfig,
    key: &str,
    url: &str,
) -> Result<(), vitals_core::config::ConfigErrors> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(config.error(Some(key), "must be an http:// or https:// URL"))
    }
}

/// A transport failure, with its causes.
pub(crate) fn transport_error(e: &reqwest::Error) -> SendError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    SendError::Retry {
        message,
        after: None,
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 02 Dec 2026 08:00:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn statuses_decide_whether_to_retry() {
        let h = HeaderMap::new();
        let retry = |code: u16| {
            matches!(
                http_error(reqwest::StatusCode::from_u16(code).unwrap(), &h, ""),
                SendError::Retry { .. }
            )
        };
        assert!(retry(429) && retry(503) && retry(500) && retry(408));
        assert!(!retry(400) && !retry(401) && !retry(404) && !retry(410));
    }

    #[test]
    fn routes_take_kinds_severities_services_and_owners() {
        let now = Utc::now();
        let f = |service: Option<&str>, owner: Option<&str>| Finding {
            finding_id: "f".into(),
            kind: "idle_resource".into(),
            severity: Severity::Warning,
            provider: None,
            account_id: None,
            service: service.map(Into::into),
            owner: owner.map(Into::into),
            slo_safety: None,
            resource_id: None,
            title: "t".into(),
            evidence: serde_json::Value::Null,
            monthly_savings: None,
            currency: None,
            first_seen: now,
            last_seen: now,
            status: vitals_core::finding::FindingStatus::Open,
        };
        let all = Route::default();
        assert!(all.takes(&f(None, None)) && all.takes(&f(Some("api"), Some("platform"))));
        let owners = Route {
            owners: vec!["platform".into(), "data".into()],
            ..Default::default()
        };
        assert!(owners.takes(&f(None, Some("data"))));
        assert!(!owners.takes(&f(None, Some("it-ops"))));
        // A route naming owners leaves out findings nobody owns.
        assert!(!owners.takes(&f(Some("api"), None)));
        let both = Route {
            services: vec!["api".into()],
            severity: Some(Severity::Critical),
            ..owners
        };
        assert!(
            !both.takes(&f(Some("api"), Some("platform"))),
            "below critical"
        );
        let critical = Finding {
            severity: Severity::Critical,
            ..f(Some("api"), Some("platform"))
        };
        assert!(both.takes(&critical));
        assert!(!both.takes(&Finding {
            service: Some("web".into()),
            ..critical.clone()
        }));
    }
}
