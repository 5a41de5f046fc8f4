//! The shared SDK configuration: retry and timeout policy, and the HTTPS trust store.

use std::time::Duration;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sns::config::{ConfigBag, RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};

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

/// The region the SDK would find without asking the instance metadata service:
/// `AWS_REGION`, `AWS_DEFAULT_REGION`, else the AWS profile's `region`. `None` means the SDK
/// would go on to IMDS, which off EC2 only times out, with long warnings, and then leaves the
/// clients with no signing region: a configuration error, said at start instead.
pub async fn region_without_imds() -> Option<String> {
    use aws_config::environment::EnvironmentVariableRegionProvider;
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::profile::ProfileFileRegionProvider;
    RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new())
        .region()
        .await
        .map(|r| r.to_string())
}

/// The loader behind [`load_sdk_config`], for callers (tests) that set more on it.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let loader = match trust_store() {
        TrustChoice::AmazonRoots(client) => loader.http_client(ConnectOnFirstCall(client)),
        TrustChoice::System => loader,
    };
    let loader = if credentials_in_environment() {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    };
    loader
        .retry_config(retry_config())
        .timeout_config(timeout_config())
}

/// Lambda gives the function its credentials in the environment, where the SDK's default
/// chain looks first. The chain itself is not built then: building it builds its web
/// identity (STS) and instance metadata clients, each with an HTTPS connector, at every cold
/// start, only to read the same variables.
fn credentials_in_environment() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|v| std::env::var_os(v).is_some_and(|value| !value.is_empty()))
}

/// The HTTPS client, without the check the SDK runs as each service client is built: that
/// check builds a whole connector (the TLS configuration, its trust store parsed) and throws
/// it away, so that a system trust store loads at start rather than at the first call. With
/// the embedded roots that was most of the cost of each client built. The connector is built
/// at the first call instead, once for all clients (they share one timeout configuration).
#[derive(Debug)]
struct ConnectOnFirstCall(SharedHttpClient);

impl HttpClient for ConnectOnFirstCall {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
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
