//! `webhook`: generic JSON, signed as the Standard Webhooks specification
//! says (<https://www.standardwebhooks.com/>, "Signature scheme"): each
//! request has `webhook-id` (the notification's idempotency key, the same
//! on every attempt), `webhook-timestamp` (Unix seconds of the attempt) and
//! `webhook-signature: v1,<base64 HMAC-SHA256>` over `id.timestamp.body`,
//! keyed by the secret (a `whsec_` secret is base64 after its prefix, as
//! the specification's libraries generate them; any other string is used
//! as its bytes). The body is `{"type", "timestamp", "data"}` with `type`
//! one of `finding.opened`, `finding.updated`, `finding.resolved` or
//! `vitals.test`, and `data` the finding.
//!
//! ```toml
//! [sinks.hooks]
//! type = "webhook"
//! url = "${WEBHOOK_URL}"
//! secret = "${WEBHOOK_SECRET}"
//! severity = "warning"           # routing keys: kinds, severity, services, owners
//! ```

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use vitals_core::config::{ComponentConfig, ConfigErrors, Secret};

use crate::{Event, Notification, Route, SendError, Sink};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookConfig {
    /// Where to POST (a secret: webhook URLs often carry a token).
    url: Secret,
    /// The signing secret.
    secret: Secret,
    /// Seconds to wait for the receiver. Default 10.
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn default_timeout() -> u64 {
    10
}

pub struct Webhook {
    name: String,
    route: Route,
    url: Secret,
    key: Vec<u8>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL and the signing key are secrets.
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("route", &self.route)
            .field("url", &self.url)
            .field("key", &"***")
            .finish_non_exhaustive()
    }
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Sink>, ConfigErrors> {
    let (route, own): (Route, WebhookConfig) = config.parse_shared()?;
    crate::check_url(config, "url", own.url.expose())?;
    let key = signing_key(own.secret.expose()).map_err(|e| config.error(Some("secret"), e))?;
    let client = crate::http_client(config, own.timeout_secs)?;
    Ok(Box::new(Webhook {
        name: config.name.clone(),
        route,
        url: own.url,
        key,
        client,
    }))
}

/// The HMAC key of a secret: base64 after `whsec_`, else the bytes.
fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    if secret.is_empty() {
        return Err("must not be empty".into());
    }
    match secret.strip_prefix("whsec_") {
        Some(b64) => STANDARD
            .decode(b64)
            .map_err(|e| format!("a `whsec_` secret must be base64 after its prefix ({e})")),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The JSON body of a notification.
fn body(n: &Notification) -> serde_json::Value {
    match &n.event {
        Event::Finding { change, finding } => serde_json::json!({
            "type": format!("finding.{}", change.as_str()),
            "timestamp": n.created_at,
            "data": finding,
        }),
        Event::Digest { changes } => serde_json::json!({
            "type": "finding.digest",
            "timestamp": n.created_at,
            "data": changes,
        }),
        // Never recorded for this sink (`takes_report` is false): named,
        // not sent whole.
        Event::Report(r) => serde_json::json!({
            "type": "report.written",
            "timestamp": n.created_at,
            "data": {"report": r.report, "period": r.period, "title": r.title},
        }),
        Event::Test => serde_json::json!({
            "type": "vitals.test",
            "timestamp": n.created_at,
            "data": {"message": "a test notification from vitals"},
        }),
    }
}

#[async_trait]
impl Sink for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "webhook"
    }

    fn route(&self) -> &Route {
        &self.route
    }

    async fn connect(&self) -> Result<String, SendError> {
        crate::reach(&self.client, self.url.expose()).await
    }

    async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = serde_json::to_vec(&body(n)).expect("notifications serialize");
        let timestamp = chrono::Utc::now().timestamp();
        crate::exchange(
            self.client
                .post(self.url.expose())
                .header("content-type", "application/json")
                .header("webhook-id", &n.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    signature(&self.key, &n.id, timestamp, &body),
                )
                .body(body),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_id_timestamp_and_body_with_the_decoded_secret() {
        // Computed independently with Python's standard `hmac` and `base64`
        // over the same secret (base64-decoded after `whsec_`), id,
        // timestamp and payload.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn config_is_checked_and_secrets_never_print() {
        let cfg = |extra: &str| {
            ComponentConfig::from_toml(
                vitals_core::config::ComponentKind::Sink,
                "hooks",
                &format!("type = \"webhook\"\n{extra}"),
            )
            .unwrap()
        };
        let e = build(&cfg("url = \"ftp://x\"\nsecret = \"s\"")).unwrap_err();
        assert!(e.to_string().contains("http:// or https://"), "{e}");
        let e = build(&cfg("url = \"http://x\"\nsecret = \"whsec_!!\"")).unwrap_err();
        assert!(e.to_string().contains("base64"), "{e}");
        let e = build(&cfg(
            "url = \"http://x\"\nsecret = \"s\"\nseverity = \"loud\"",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("severity"), "{e}");
        let sink = build(&cfg(
            "url = \"https://hooks.example/T0K3N\"\nsecret = \"hunter2\"\nkinds = [\"slo\"]",
        ))
        .unwrap();
        let shown = format!("{sink:?}");
        assert!(
            !shown.contains("T0K3N") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(sink.route().kinds, ["slo"]);
    }
}
