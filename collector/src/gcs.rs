//! Reading objects from Google Cloud Storage through its JSON API, with
//! credentials from `google-cloud-auth`. (The official storage crate lists
//! objects over gRPC only; the JSON API is what emulators and proxies serve.)

use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::error::CollectError;
use crate::gcp::auth_headers;
use crate::remote::RemoteObject;

const API: &str = "Cloud Storage";
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

#[derive(Debug, Clone)]
pub struct Gcs {
    http: reqwest::Client,
    endpoint: String,
    credentials: Credentials,
    max_attempts: u32,
}

impl Gcs {
    pub fn new(
        endpoint: Option<&str>,
        credentials: Credentials,
        max_attempts: u32,
    ) -> Result<Gcs, CollectError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CollectError::Task(format!("building the HTTP client: {e}")))?;
        Ok(Gcs {
            http,
            endpoint: endpoint
                .unwrap_or(DEFAULT_ENDPOINT)
                .trim_end_matches('/')
                .to_string(),
            credentials,
            max_attempts: max_attempts.max(1),
        })
    }

    /// Every object under `prefix`, at any depth, in name order.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<RemoteObject>, CollectError> {
        let target = format!("gs://{bucket}/{prefix}");
        let url = format!("{}/storage/v1/b/{}/o", self.endpoint, encode(bucket));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("prefix", prefix.to_string())];
            if let Some(t) = token.take() {
                query.push(("pageToken", t));
            }
            let response = self
                .send("listing", &target, || self.http.get(&url).query(&query))
                .await?;
            let body = response
                .bytes()
                .await
                .map_err(|e| transfer("listing", &target, &e))?;
            let page: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| CollectError::Remote {
                    operation: "listing",
                    target: target.clone(),
                    message: format!("the answer is not JSON: {e}"),
                    retryable: false,
                })?;
            for item in page["items"].as_array().into_iter().flatten() {
                let Some(name) = item["name"].as_str() else {
                    continue;
                };
                // The JSON API sends 64-bit integers as strings.
                let size = item["size"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| item["size"].as_u64())
                    .unwrap_or(0);
                out.push(RemoteObject {
                    key: name.to_string(),
                    size,
                });
            }
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Streams an object into `file`; returns the bytes written.
    pub async fn download(
        &self,
        bucket: &str,
        name: &str,
        file: &mut tokio::fs::File,
    ) -> Result<u64, CollectError> {
        let target = format!("gs://{bucket}/{name}");
        let url = format!(
            "{}/storage/v1/b/{}/o/{}",
            self.endpoint,
            encode(bucket),
            encode(name)
        );
        let mut response = self
            .send("downloading", &target, || {
                self.http.get(&url).query(&[("alt", "media")])
            })
            .await?;
        let mut written = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transfer("downloading", &target, &e))?
        {
            file.write_all(&chunk)
                .await
                .map_err(|e| CollectError::Remote {
                    operation: "downloading",
                    target: target.clone(),
                    message: format!("writing the local copy: {e}"),
                    retryable: true,
                })?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(|e| CollectError::Remote {
            operation: "downloading",
            target: target.clone(),
            message: format!("writing the local copy: {e}"),
            retryable: true,
        })?;
        Ok(written)
    }

    /// Sends a request with auth headers, retrying connection failures, 429
    /// and 5xx with jittered exponential backoff.
    async fn send(
        &self,
        operation: &'static str,
        target: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CollectError> {
        let mut attempt = 1;
        loop {
            let headers = auth_headers(&self.credentials, API).await?;
            let outcome = request().headers(headers).send().await;
            let failure = match outcome {
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    let detail = error_message(&body);
                    let message = if detail.trim().is_empty() {
                        format!("HTTP {status}")
                    } else {
                        format!("HTTP {status}: {detail}")
                    };
                    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        return Err(CollectError::Credentials {
                            api: API,
                            message: format!("{operation} `{target}`: {message}"),
                        });
                    }
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::REQUEST_TIMEOUT
                        || status.is_server_error();
                    CollectError::Remote {
                        operation,
                        target: target.to_string(),
                        message,
                        retryable,
                    }
                }
                Err(e) => transfer(operation, target, &e),
            };
            if !failure.is_retryable() || attempt >= self.max_attempts {
                return Err(failure);
            }
            tracing::debug!(%target, attempt, "retrying: {failure}");
            tokio::time::sleep(crate::backoff::delay(attempt)).await;
            attempt += 1;
        }
    }
}

/// A transport failure (connection, timeout, broken body): retryable.
fn transfer(operation: &'static str, target: &str, e: &reqwest::Error) -> CollectError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    CollectError::Remote {
        operation,
        target: target.to_string(),
        message,
        retryable: true,
    }
}

/// The `error.message` of a JSON API error body, or the body itself (cut short).
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect())
}

/// Percent-encodes one path segment (an object name may hold `/`).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_one_encoded_segment() {
        assert_eq!(
            encode("exports/2024-09/part 1.csv"),
            "exports%2F2024-09%2Fpart%201.csv"
        );
        assert_eq!(encode("a~b_c.d-e"), "a~b_c.d-e");
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(r#"{"error": {"code": 404, "message": "No such object: b/o"}}"#),
            "No such object: b/o"
        );
        assert_eq!(
            error_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }
}
