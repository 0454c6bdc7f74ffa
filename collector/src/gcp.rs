//! What the GCP collectors share: credentials from a key file, from
//! Application Default Credentials, or none (emulators, public buckets).

use std::path::{Path, PathBuf};

use google_cloud_auth::credentials::{
    self, Credentials, anonymous, external_account, service_account, user_account,
};
use vitals_core::config::{ComponentConfig, ConfigErrors};

use crate::error::CollectError;

/// Read-only access is all vitals needs, but BigQuery runs queries as jobs,
/// which the read-only scope does not allow.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Where a collector's GCP credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcpCredentials {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`,
    /// gcloud's user credentials, or the metadata server on GCP.
    Default,
    /// A JSON key file: service account, authorized user or external account
    /// (workload identity federation).
    File(PathBuf),
    /// No credentials at all.
    Anonymous,
}

impl GcpCredentials {
    /// From the `credentials_file` and `anonymous` keys, which exclude each other.
    pub fn from_config(
        config: &ComponentConfig,
        credentials_file: Option<&str>,
        anonymous: bool,
    ) -> Result<GcpCredentials, ConfigErrors> {
        match (credentials_file, anonymous) {
            (Some(_), true) => Err(config.error(
                Some("anonymous"),
                "`anonymous = true` and `credentials_file` exclude each other",
            )),
            (Some(f), false) if f.trim().is_empty() => {
                Err(config.error(Some("credentials_file"), "must not be empty"))
            }
            (Some(f), false) => Ok(GcpCredentials::File(config.resolve_path(Path::new(f)))),
            (None, true) => Ok(GcpCredentials::Anonymous),
            (None, false) => Ok(GcpCredentials::Default),
        }
    }

    /// Builds the credentials. Reads the key file, if any; fetching a token
    /// waits for the first request.
    pub fn build(&self, api: &'static str) -> Result<Credentials, CollectError> {
        let refused = |message: String| CollectError::Credentials { api, message };
        match self {
            GcpCredentials::Anonymous => Ok(anonymous::Builder::new().build()),
            GcpCredentials::Default => credentials::Builder::default()
                .with_scopes([SCOPE])
                .build()
                .map_err(|e| refused(format!("application default credentials: {e}"))),
            GcpCredentials::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| refused(format!("reading `{}`: {e}", path.display())))?;
                let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    refused(format!("`{}` is not a JSON key file: {e}", path.display()))
                })?;
                let kind = json
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default();
                let built = match kind {
                    "service_account" => service_account::Builder::new(json)
                        .with_access_specifier(service_account::AccessSpecifier::from_scopes([
                            SCOPE,
                        ]))
                        .build(),
                    "authorized_user" => user_account::Builder::new(json)
                        .with_scopes([SCOPE])
                        .build(),
                    "external_account" => external_account::Builder::new(json)
                        .with_scopes([SCOPE])
                        .build(),
                    other => {
                        return Err(refused(format!(
                            "`{}` has `type` `{other}`; expected `service_account`, `authorized_user` or `external_account`",
                            path.display()
                        )));
                    }
                };
                built.map_err(|e| refused(format!("`{}`: {e}", path.display())))
            }
        }
    }
}

/// The `Authorization` (and quota project) headers for one request.
pub async fn auth_headers(
    credentials: &Credentials,
    api: &'static str,
) -> Result<reqwest::header::HeaderMap, CollectError> {
    use google_cloud_auth::credentials::CacheableResource;
    match credentials.headers(Default::default()).await {
        Ok(CacheableResource::New { data, .. }) => Ok(data),
        Ok(CacheableResource::NotModified) => Ok(Default::default()),
        Err(e) => Err(CollectError::Credentials {
            api,
            message: e.to_string(),
        }),
    }
}

/// A Google REST API as the plain-REST collectors call it: one client,
/// the credentials, the API's name for messages, and attempts per page.
pub struct RestApi {
    pub client: reqwest::Client,
    pub credentials: Credentials,
    pub api: &'static str,
    pub max_attempts: u32,
}

impl RestApi {
    /// One GET of a page as a JSON object, with the credentials' headers
    /// and `http_retry`'s retries; `what` (the project and call) prefixes
    /// every message. 401 and 403 are [`CollectError::Credentials`].
    pub async fn get_json(
        &self,
        page: usize,
        what: &str,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<serde_json::Value, CollectError> {
        get_json(self, page, what, url, query).await
    }
}

async fn get_json(
    rest: &RestApi,
    page: usize,
    what: &str,
    url: &str,
    query: &[(&str, String)],
) -> Result<serde_json::Value, CollectError> {
    let api = rest.api;
    let headers = auth_headers(&rest.credentials, api).await?;
    let response = crate::http_retry::send(rest.max_attempts, api, page, || {
        rest.client.get(url).headers(headers.clone()).query(query)
    })
    .await
    .map_err(|e| match e {
        CollectError::Api {
            api,
            page,
            message,
            retryable,
        } => CollectError::Api {
            api,
            page,
            message: format!("{what}: {message}"),
            retryable,
        },
        CollectError::Credentials { api, message } => CollectError::Credentials {
            api,
            message: format!("{what}: {message}"),
        },
        other => other,
    })?;
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| CollectError::BadResponse {
            api,
            page,
            message: format!("{what}: not JSON: {e}"),
        })?;
    if !body.is_object() {
        return Err(CollectError::BadResponse {
            api,
            page,
            message: format!("{what}: not a JSON object"),
        });
    }
    Ok(body)
}

/// One project's failure: refused (skip it, warn, collect the others) or
/// broken (fail the run).
pub enum ProjectError {
    Denied(String),
    Failed(CollectError),
}

impl From<CollectError> for ProjectError {
    fn from(e: CollectError) -> Self {
        match e {
            CollectError::Credentials { message, .. } => ProjectError::Denied(message),
            other => ProjectError::Failed(other),
        }
    }
}

impl RestApi {
    /// The API `api` with `credentials`, waiting `timeout_secs` for each
    /// answer and trying each page `max_attempts` times.
    pub fn new(
        api: &'static str,
        credentials: &GcpCredentials,
        timeout_secs: u64,
        max_attempts: u32,
    ) -> Result<RestApi, CollectError> {
        Ok(RestApi {
            credentials: credentials.build(api)?,
            client: crate::http_retry::client(std::time::Duration::from_secs(timeout_secs.max(1)))
                .map_err(|message| CollectError::Api {
                    api,
                    page: 0,
                    message,
                    retryable: false,
                })?,
            api,
            max_attempts,
        })
    }
}

/// The keys every plain-REST GCP collector checks: each endpoint override
/// (key, value) an http(s) URL, and `max_attempts` at least 1.
pub fn check_rest(
    config: &ComponentConfig,
    endpoints: &[(&str, &Option<String>)],
    max_attempts: u32,
) -> Result<(), ConfigErrors> {
    for (key, url) in endpoints {
        if let Some(u) = url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(config.error(Some(key), "must be an http:// or https:// URL"));
        }
    }
    if max_attempts == 0 {
        return Err(config.error(Some("max_attempts"), "must be at least 1"));
    }
    Ok(())
}
