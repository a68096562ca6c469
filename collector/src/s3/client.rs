//! S3 and SQS clients: the standard AWS sources (`aws-config`: `AWS_ENDPOINT_URL`,
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, profiles) with the `[s3]` keys
//! on top, and an HTTP client of our own (hyper + rustls over ring), so no C toolchain beyond
//! what `ring` needs is required to build.
//!
//! Nothing here logs or formats a credential: errors are turned into text by [`describe`],
//! which names the service's error code and message only.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::config::S3Config;

/// Region used when neither `[s3] region` nor the AWS sources name one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Longest wait for a connection to S3 or SQS.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest wait for the next bytes of a response.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Where to connect, for one scan or one CLI run.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `[s3] endpoint`, or the CLI's `--endpoint`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub force_path_style: bool,
    /// An AWS profile name (the scan's credentials reference); `None` = default chain.
    pub profile: Option<String>,
}

impl Target {
    /// The collector's `[s3]` keys with a scan's credentials reference.
    pub fn from_config(cfg: &S3Config, profile: Option<String>) -> Target {
        Target {
            endpoint: cfg.endpoint.clone(),
            region: cfg.region.clone(),
            force_path_style: cfg.force_path_style,
            profile,
        }
    }
}

/// The shared AWS configuration for `target`.
pub async fn sdk_config(target: &Target) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts);
    if let Some(p) = &target.profile {
        loader = loader.profile_name(p);
    }
    if let Some(e) = &target.endpoint {
        loader = loader.endpoint_url(e);
    }
    let mut cfg = loader.load().await;
    if let Some(r) = &target.region {
        cfg = cfg.into_builder().region(Region::new(r.clone())).build();
    } else if cfg.region().is_none() {
        cfg = cfg
            .into_builder()
            .region(Region::new(FALLBACK_REGION))
            .build();
    }
    cfg
}

/// An S3 client for `target`.
pub async fn s3(target: &Target) -> aws_sdk_s3::Client {
    let sdk = sdk_config(target).await;
    s3_from(&sdk, target)
}

/// An S3 client from a loaded configuration.
pub fn s3_from(sdk: &SdkConfig, target: &Target) -> aws_sdk_s3::Client {
    // Path style by default for custom endpoints: also when AWS_ENDPOINT_URL set it.
    let path_style =
        target.force_path_style || (target.endpoint.is_none() && sdk.endpoint_url().is_some());
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An SQS client from a loaded configuration.
pub fn sqs_from(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(sdk)
}

/// A one-line description of an SDK error: the service's code and message (`NoSuchBucket:
/// The specified bucket does not exist`), or the transport failure. Never a credential.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R>(
    err: &SdkError<E, R>,
) -> String {
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => code_text(c).to_owned(),
                (None, Some(m)) => m.to_owned(),
                (None, None) => "the S3 service refused the request".to_owned(),
            }
        }
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                "timed out connecting to S3".to_owned()
            } else {
                "could not connect to S3 (check s3.endpoint / AWS_ENDPOINT_URL)".to_owned()
            }
        }
        SdkError::TimeoutError(_) => "the S3 request timed out".to_owned(),
        SdkError::ConstructionFailure(_) => {
            "the S3 request could not be built (check region and credentials)".to_owned()
        }
        SdkError::ResponseError(_) => "S3 sent a response that could not be read".to_owned(),
        _ => "S3 request failed".to_owned(),
    }
}

/// Text for an error code without a message (HEAD requests carry none).
fn code_text(code: &str) -> &str {
    match code {
        "NoSuchBucket" | "NotFound" => "NoSuchBucket: the bucket does not exist",
        "AccessDenied" | "Forbidden" => "AccessDenied: the credentials may not read this bucket",
        "PermanentRedirect" | "AuthorizationHeaderMalformed" => {
            "wrong region: the bucket lives in another region (set s3.region)"
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_without_messages_get_words() {
        assert!(code_text("NoSuchBucket").contains("does not exist"));
        assert!(code_text("AccessDenied").contains("may not read"));
        assert!(code_text("PermanentRedirect").contains("region"));
        assert_eq!(code_text("SlowDown"), "SlowDown");
    }
}
