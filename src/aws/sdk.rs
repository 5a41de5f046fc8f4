//! The shared SDK configuration: retry and timeout policy, and the HTTPS trust store.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Retry and timeout policy shared by every client. The SDK's defaults have no operation
/// timeout, so one hung call could outlive the Lambda; these bound a call to
/// `OPERATION_TIMEOUT` including retries, well inside a 60 s function timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);
pub const MAX_ATTEMPTS: u32 = 4;

/// Loads the shared SDK configuration (region, credentials, `AWS_ENDPOINT_URL*`) with the
/// retry and timeout policy above: throttling, 5xx and connection errors are retried with
/// exponential backoff, validation errors are not.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The loader behind [`load_sdk_config`], for callers (tests) that set more on it.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let loader = match trust_store() {
        TrustChoice::AmazonRoots(client) => loader.http_client(client),
        TrustChoice::System => loader,
    };
    loader
        .retry_config(retry_config())
        .timeout_config(timeout_config())
}

/// The retry policy of every client: standard mode (full jitter), `MAX_ATTEMPTS` attempts,
/// backoff from 100 ms doubling, at most 4 s. Not adaptive mode: its rate limiter is one per
/// service for the whole process and, once throttled, held later calls past the operation
/// timeout (measured); calls are paced per API instead (`rate`).
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(4))
}

/// The timeouts of every client (see the constants above).
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(ATTEMPT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The roots of Amazon Trust Services, which issues the certificates of the AWS service
/// endpoints (copied from Debian's ca-certificates; SHA-256 fingerprints in the README).
pub const AMAZON_ROOTS_PEM: &str = include_str!("amazon-trust-services-roots.pem");

pub enum TrustChoice {
    /// An HTTPS client that trusts only the Amazon Trust Services roots.
    AmazonRoots(aws_sdk_sns::config::SharedHttpClient),
    /// The SDK's default client with the system's roots.
    System,
}

/// Which certificates the HTTPS client trusts. Loading the system's ~150 roots costs about
/// 4 ms of CPU at every cold start (measured, bench/RESULTS.md) and AWS endpoints need only
/// Amazon's; setting `SSL_CERT_FILE` or `SSL_CERT_DIR` (a TLS-inspecting proxy, a partition
/// whose endpoints use other CAs) switches back to the system's store.
pub fn trust_store() -> TrustChoice {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        return TrustChoice::System;
    }
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    match TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(AMAZON_ROOTS_PEM.as_bytes()))
        .build()
    {
        Ok(context) => TrustChoice::AmazonRoots(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(context)
                .build_https(),
        ),
        Err(_) => TrustChoice::System,
    }
}
