//! Sending one HTTP request to a JSON API with retries: connection failures,
//! timeouts, 429 and 5xx are retried with jittered exponential backoff; 401
//! and 403 are credential errors; other statuses fail at once.

use std::time::Duration;

use reqwest::StatusCode;

use crate::error::CollectError;

/// An HTTP client that gives up connecting after 10 s and waits at most
/// `read_timeout` for each read.
pub fn client(read_timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(read_timeout)
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))
}

/// Sends the request `build` makes (anew for each attempt) up to
/// `max_attempts` times; `page` numbers the request in messages.
pub async fn send(
    max_attempts: u32,
    api: &'static str,
    page: usize,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, CollectError> {
    let mut attempt = 1;
    loop {
        let failure = match build().send().await {
            Ok(r) if r.status().is_success() => return Ok(r),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                let message = match error_text(&body) {
                    Some(detail) => format!("HTTP {status}: {detail}"),
                    None => format!("HTTP {status}"),
                };
                if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    return Err(CollectError::Credentials { api, message });
                }
                CollectError::Api {
                    api,
                    page,
                    message,
                    retryable: status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::REQUEST_TIMEOUT
                        || status.is_server_error(),
                }
            }
            Err(e) => {
                let mut message = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    message.push_str(&format!(": {s}"));
                    source = s.source();
                }
                CollectError::Api {
                    api,
                    page,
                    message,
                    retryable: true,
                }
            }
        };
        if !failure.is_retryable() || attempt >= max_attempts.max(1) {
            return Err(failure);
        }
        tracing::debug!(api, page, attempt, "retrying: {failure}");
        tokio::time::sleep(crate::backoff::delay(attempt)).await;
        attempt += 1;
    }
}

/// What an error body says: its JSON `error` (a string, or an object's
/// `message`), else the text itself, cut short; `None` if empty.
fn error_text(body: &str) -> Option<String> {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| match &v["error"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string),
            _ => None,
        });
    let text = from_json.unwrap_or_else(|| body.trim().chars().take(300).collect());
    (!text.trim().is_empty()).then_some(text)
}
