//! What the AWS collectors share: one way to load the SDK's config (the
//! standard credential chain, a named profile or an assumed role; an
//! endpoint override; retries with jittered backoff) and one way to read an
//! SDK error.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_costexplorer::config::http::HttpResponse;
use aws_sdk_costexplorer::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::config::SharedCredentialsProvider;
use serde::Deserialize;
use vitals_core::config::{ComponentConfig, ConfigErrors};

/// The AWS connection keys every AWS component's table has, declared once:
/// each reads them with `ComponentConfig::parse_shared::<AwsConnection, _>`
/// beside its own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConnection {
    /// The region of the API or bucket. Default `us-east-1` (where Cost
    /// Explorer lives).
    #[serde(default = "default_region")]
    pub region: String,
    /// A named profile of the shared AWS config files, instead of the
    /// standard credential chain.
    pub profile: Option<String>,
    /// A role to assume (with the credentials found) before calling AWS.
    pub role_arn: Option<String>,
    /// Override of the service endpoint (tests, VPC endpoints).
    pub endpoint_url: Option<String>,
    /// Attempts per API call, the first included (throttling, 5xx,
    /// timeouts). Default 5.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

impl AwsConnection {
    /// Checks what needs no I/O: the attempts and the endpoint's form.
    pub fn check(&self, config: &ComponentConfig) -> Result<(), ConfigErrors> {
        check(config, self.endpoint_url.as_deref(), self.max_attempts)
    }

    /// The SDK settings of the component `name`.
    pub fn settings(&self, name: &str) -> AwsSettings {
        AwsSettings {
            region: self.region.clone(),
            profile: self.profile.clone(),
            role_arn: self.role_arn.clone(),
            endpoint_url: self.endpoint_url.clone(),
            max_attempts: self.max_attempts,
            session_name: format!("vitals-{name}"),
        }
    }
}

/// The connection settings the SDK is loaded with.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: String,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per API call, the first included.
    pub max_attempts: u32,
    /// Names the assumed-role session (`vitals-<collector>`).
    pub session_name: String,
}

pub fn default_region() -> String {
    "us-east-1".to_string()
}

pub fn default_max_attempts() -> u32 {
    5
}

/// Checks the settings that need no I/O.
pub fn check(
    config: &ComponentConfig,
    endpoint_url: Option<&str>,
    max_attempts: u32,
) -> Result<(), ConfigErrors> {
    if !(1..=10).contains(&max_attempts) {
        return Err(config.error(Some("max_attempts"), "must be between 1 and 10"));
    }
    check_endpoint_url(config, endpoint_url)
}

/// An `endpoint_url` must be an http(s) URL.
pub fn check_endpoint_url(
    config: &ComponentConfig,
    endpoint_url: Option<&str>,
) -> Result<(), ConfigErrors> {
    match endpoint_url {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(config
            .error(
                Some("endpoint_url"),
                format!("`{url}` is not an http(s) URL"),
            )),
        _ => Ok(()),
    }
}

impl AwsSettings {
    /// The SDK config: credentials from the standard chain (or `profile`),
    /// then `role_arn` assumed with them if set. Loading does no network I/O;
    /// credentials are resolved on the first call.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts));
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        match &self.role_arn {
            None => sdk,
            Some(role) => {
                let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                    .session_name(&self.session_name)
                    .configure(&sdk)
                    .build()
                    .await;
                sdk.into_builder()
                    .credentials_provider(SharedCredentialsProvider::new(provider))
                    .build()
            }
        }
    }
}

/// What an SDK error means for the run.
#[derive(Debug)]
pub struct AwsFailure {
    /// The error with its whole cause chain.
    pub message: String,
    /// No usable credentials: none found, expired or refused.
    pub credentials: bool,
    /// Throttling, timeouts, 5xx: the next run may succeed.
    pub retryable: bool,
}

impl AwsFailure {
    /// The run's error for a failed call of `api` on `page`: a credentials
    /// error, or an API error that says whether a later run may succeed.
    pub fn into_error(self, api: &'static str, page: usize) -> crate::error::CollectError {
        if self.credentials {
            return crate::error::CollectError::Credentials {
                api,
                message: self.message,
            };
        }
        crate::error::CollectError::Api {
            api,
            page,
            message: self.message,
            retryable: self.retryable,
        }
    }

    /// Reads an error of any AWS SDK crate (they share the response type).
    pub fn from_sdk<E>(e: &SdkError<E, HttpResponse>) -> AwsFailure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = DisplayErrorContext(e).to_string();
        let code = match e {
            SdkError::ServiceError(s) => s.err().code().map(str::to_string),
            _ => None,
        };
        let lower = message.to_lowercase();
        let credentials = lower.contains("credential")
            || (lower.contains("identity") && lower.contains("resolve"))
            || matches!(
                code.as_deref(),
                Some(
                    "UnrecognizedClientException"
                        | "ExpiredTokenException"
                        | "ExpiredToken"
                        | "InvalidClientTokenId"
                        | "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "AccessDeniedException"
                        | "AccessDenied"
                )
            );
        let retryable = matches!(
            e,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ) || matches!(
            code.as_deref(),
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "LimitExceededException"
                    | "RequestLimitExceeded"
                    | "SlowDown"
            )
        ) || matches!(e, SdkError::ServiceError(s) if s.raw().status().is_server_error());
        AwsFailure {
            message,
            credentials,
            retryable,
        }
    }
}
