//! Reading objects from S3 (or an S3-compatible endpoint) through the AWS SDK.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use tokio::io::AsyncWriteExt;

use crate::aws::{AwsFailure, AwsSettings};
use crate::error::CollectError;
use crate::remote::RemoteObject;

#[derive(Debug, Clone)]
pub struct S3 {
    client: Client,
}

impl S3 {
    /// A client from the AWS settings. With an `endpoint_url` (moto, MinIO,
    /// VPC endpoints), buckets are addressed by path, not by host name.
    pub async fn connect(settings: &AwsSettings) -> S3 {
        let sdk = settings.sdk_config().await;
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(settings.endpoint_url.is_some())
            .build();
        S3 {
            client: Client::from_conf(config),
        }
    }

    /// Every object under `prefix`, at any depth, in key order.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<RemoteObject>, CollectError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| failure("listing", &format!("s3://{bucket}/{prefix}"), &e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    out.push(RemoteObject {
                        key: key.to_string(),
                        size: object.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) && !t.is_empty() => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// A small object's bytes (a manifest), or `None` if there is no such key.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, CollectError> {
        let Some(response) = self.get_object("reading", bucket, key).await? else {
            return Ok(None);
        };
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|e| CollectError::Remote {
                operation: "reading",
                target: format!("s3://{bucket}/{key}"),
                message: e.to_string(),
                retryable: true,
            })?;
        Ok(Some(bytes.to_vec()))
    }

    /// Streams an object into `file`; returns the bytes written.
    pub async fn download(
        &self,
        bucket: &str,
        key: &str,
        file: &mut tokio::fs::File,
    ) -> Result<u64, CollectError> {
        let url = format!("s3://{bucket}/{key}");
        let broken = |message: String| CollectError::Remote {
            operation: "downloading",
            target: url.clone(),
            message,
            retryable: true,
        };
        let Some(mut response) = self.get_object("downloading", bucket, key).await? else {
            return Err(CollectError::Remote {
                operation: "downloading",
                target: url,
                message: "no such object (deleted since it was listed?)".to_string(),
                retryable: false,
            });
        };
        let mut written = 0u64;
        while let Some(chunk) = response.body.next().await {
            let chunk = chunk.map_err(|e| broken(e.to_string()))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| broken(format!("writing the local copy: {e}")))?;
            written += chunk.len() as u64;
        }
        file.flush()
            .await
            .map_err(|e| broken(format!("writing the local copy: {e}")))?;
        Ok(written)
    }

    /// `GetObject`; `None` if there is no such key.
    async fn get_object(
        &self,
        operation: &'static str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<GetObjectOutput>, CollectError> {
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(failure(operation, &format!("s3://{bucket}/{key}"), &e)),
        }
    }
}

fn failure<E>(
    operation: &'static str,
    target: &str,
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> CollectError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let f = AwsFailure::from_sdk(e);
    if f.credentials {
        return CollectError::Credentials {
            api: "S3",
            message: format!("{operation} `{target}`: {}", f.message),
        };
    }
    CollectError::Remote {
        operation,
        target: target.to_string(),
        message: f.message,
        retryable: f.retryable,
    }
}
