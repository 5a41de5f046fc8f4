//! Turns an SDK error (after the SDK's own retries) into a typed [`AwsError`] whose message
//! a person can read: AWS's own code and message when the service answered, and otherwise
//! what went wrong in words (connection refused, no such host, a certificate not trusted, a
//! timeout and its value), with the endpoint it happened at. No SDK type's `Debug` output
//! reaches the message.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_guardduty::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::config::http::HttpResponse;

use super::sdk::{ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, MAX_ATTEMPTS, OPERATION_TIMEOUT};
use crate::account::mask_emails_in;
use crate::error::{AwsError, FailureKind, Service};

/// What a brand-new account answers while its GuardDuty subscription is still being set
/// up: it passes, so the run is retried.
const NOT_READY: &[&str] = &["SubscriptionRequiredException", "OptInRequired"];

/// How deep a chain of causes is followed (they are a handful deep; this only bounds a cycle).
const MAX_CAUSES: usize = 32;

/// Classifies an SDK error and keeps AWS's message (emails masked). The throttling and
/// transient codes are the SDK retry classifier's own lists, so what the SDK retried as
/// "slow down" is labelled transient here too.
pub fn aws_error<E>(
    service: Service,
    operation: &'static str,
    region: Option<&str>,
    err: &SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let missing_credentials = match err {
        SdkError::DispatchFailure(_) => no_credentials(&causes(err)),
        _ => None,
    };
    let code = match missing_credentials {
        Some(_) => Some(NO_CREDENTIALS.to_owned()),
        None => err.code().map(str::to_owned),
    };
    let kind = match err {
        SdkError::ServiceError(se) => kind_of(
            se.raw().status().as_u16(),
            code.as_deref().unwrap_or_default(),
        ),
        SdkError::ConstructionFailure(_) => FailureKind::Rejected,
        // No credentials: the same request fails the same way until someone gives some.
        _ if missing_credentials.is_some() => FailureKind::Rejected,
        // Timeouts, dispatch (connection) failures and unreadable responses.
        _ => FailureKind::Transient,
    };
    let message = match missing_credentials {
        Some(said) => said,
        None => said_of(err, Place::of(service, region)),
    };
    AwsError {
        service,
        operation,
        region: region.map(str::to_owned),
        kind,
        code,
        message: mask_emails_in(&one_line(&message)),
    }
}

/// What went wrong, in words: AWS's message, or the cause when no answer came.
fn said_of<E>(err: &SdkError<E, HttpResponse>, place: Place) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err {
        SdkError::ServiceError(se) => match err.message() {
            Some(said) => said.to_owned(),
            None => format!(
                "the answer of {place} (HTTP {}) could not be read: {}",
                se.raw().status().as_u16(),
                innermost(err)
            ),
        },
        SdkError::DispatchFailure(d) => {
            let place = match d
                .as_connector_error()
                .and_then(|c| c.connection_metadata())
                .and_then(|m| m.remote_addr())
            {
                Some(addr) => place.at(addr),
                None => place,
            };
            dispatch_failure(
                &place,
                d.is_timeout(),
                d.is_user(),
                &causes(err),
                &trust_store_note(),
            )
        }
        SdkError::TimeoutError(_) => timeout(&place, &causes(err)),
        SdkError::ResponseError(_) => format!(
            "the answer of {place} could not be read: {}",
            innermost(err)
        ),
        SdkError::ConstructionFailure(_) => {
            format!("the request could not be built: {}", innermost(err))
        }
        _ => format!("the request to {place} failed: {}", innermost(err)),
    }
}

/// The code an [`AwsError`] carries when the SDK found no credentials: the SDK's own name
/// for it (`CredentialsError::CredentialsNotLoaded`), since AWS never answered.
pub const NO_CREDENTIALS: &str = "CredentialsNotLoaded";

/// "no AWS credentials" and where the SDK looked, when the chain of causes holds the
/// credential chain's "no credentials found in chain. Attempted:" (one line per provider,
/// `Name: why`).
fn no_credentials(causes: &[Cause]) -> Option<String> {
    let text = causes.iter().find_map(|c| {
        c.text
            .find("no credentials found in chain")
            .map(|at| &c.text[at..])
    })?;
    let looked: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|line| line.trim().split_once(": "))
        .map(|(name, why)| {
            let why = why
                .strip_prefix("the credential provider was not enabled")
                .unwrap_or(why)
                .trim_start_matches(':')
                .trim();
            match why {
                "" => provider_place(name).to_owned(),
                _ => format!("{} ({why})", provider_place(name)),
            }
        })
        .collect();
    Some(format!(
        "no AWS credentials found; the SDK looked in {}: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where a role provides them",
        looked.join(", ")
    ))
}

/// Where a provider of the SDK's default credential chain looks, by its name in the chain.
fn provider_place(name: &str) -> String {
    match name {
        "Environment" => "the variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_owned(),
        "Profile" => "the AWS profile (AWS_PROFILE, else default) in ~/.aws".to_owned(),
        "WebIdentityToken" => "a web identity token file".to_owned(),
        "EcsContainer" => "the container credentials endpoint".to_owned(),
        "Ec2InstanceMetadata" => "the EC2 instance metadata service".to_owned(),
        other => other.to_owned(),
    }
}

/// The kind of a service error from its HTTP status and error code.
pub fn kind_of(status: u16, code: &str) -> FailureKind {
    if status >= 500
        || status == 429
        || THROTTLING_ERRORS.contains(&code)
        || TRANSIENT_ERRORS.contains(&code)
        || NOT_READY.contains(&code)
    {
        FailureKind::Transient
    } else if status == 403 || code.contains("AccessDenied") || code == "AuthorizationError" {
        FailureKind::AccessDenied
    } else {
        FailureKind::Rejected
    }
}

/// Where a request went: the endpoint URL when the environment sets one (the client's
/// resolved endpoint is not on the error), else the service's endpoint in the region.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Place(String);

impl Place {
    fn of(service: Service, region: Option<&str>) -> Self {
        let configured = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self::from_parts(
            service,
            region,
            configured("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            configured(endpoint_variable(service)).or_else(|| configured("AWS_ENDPOINT_URL")),
        )
    }

    fn from_parts(
        service: Service,
        region: Option<&str>,
        ignore_configured: bool,
        configured: Option<String>,
    ) -> Self {
        match (configured, ignore_configured) {
            (Some(url), false) => Self(url.trim().to_owned()),
            _ => Self(match region {
                Some(r) => format!("the {service} endpoint of {r}"),
                None => format!("the {service} endpoint"),
            }),
        }
    }

    /// The same place with the address the connection reached.
    fn at(self, addr: std::net::SocketAddr) -> Self {
        Self(format!("{} ({addr})", self.0))
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SDK's service-specific endpoint variable (`AWS_ENDPOINT_URL_<SERVICE ID>`).
fn endpoint_variable(service: Service) -> &'static str {
    match service {
        Service::GuardDuty => "AWS_ENDPOINT_URL_GUARDDUTY",
        Service::Organizations => "AWS_ENDPOINT_URL_ORGANIZATIONS",
        Service::Sns => "AWS_ENDPOINT_URL_SNS",
        Service::Sts => "AWS_ENDPOINT_URL_STS",
        Service::SecurityHub => "AWS_ENDPOINT_URL_SECURITYHUB",
        Service::S3 => "AWS_ENDPOINT_URL_S3",
        Service::Ssm => "AWS_ENDPOINT_URL_SSM",
        Service::Account => "AWS_ENDPOINT_URL_ACCOUNT",
        Service::Scheduler => "AWS_ENDPOINT_URL_SCHEDULER",
    }
}

/// What the HTTPS client trusts, for a certificate it refused (see `sdk::trust_store`).
fn trust_store_note() -> String {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        "the store SSL_CERT_FILE or SSL_CERT_DIR names does not trust it".into()
    } else {
        "only the Amazon Trust Services roots are trusted (SSL_CERT_FILE or SSL_CERT_DIR selects another store)".into()
    }
}

/// One cause in the chain: its text, and its I/O error kind when it is an I/O error.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cause {
    text: String,
    io: Option<io::ErrorKind>,
}

/// The chain of causes, outermost first. An I/O error's `source()` skips the error it wraps
/// (a rustls error inside, say), so that one is taken from `get_ref()`.
fn causes(top: &(dyn StdError + 'static)) -> Vec<Cause> {
    let mut out = Vec::new();
    let mut next = Some(top);
    while let Some(e) = next {
        let io_error = e.downcast_ref::<io::Error>();
        out.push(Cause {
            text: e.to_string(),
            io: io_error.map(io::Error::kind),
        });
        if out.len() >= MAX_CAUSES {
            break;
        }
        next = match io_error.and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

/// The deepest cause's text: the root of the failure, in the words of whoever found it.
fn innermost(top: &(dyn StdError + 'static)) -> String {
    causes(top)
        .last()
        .map(|c| plain(&c.text))
        .unwrap_or_default()
}

/// A cause's text without anything that looks like a value's debug dump (`X { .. }`).
fn plain(text: &str) -> String {
    let cut = text.split(" {").next().unwrap_or_default();
    cut.trim().trim_end_matches([':', ',']).trim().to_owned()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// A request that got no answer: refused, no such host, TLS refused, reset, closed.
fn dispatch_failure(
    place: &Place,
    is_timeout: bool,
    is_user: bool,
    causes: &[Cause],
    trust_note: &str,
) -> String {
    let has = |needle: &str| causes.iter().any(|c| c.text.contains(needle));
    let io_kind = causes.iter().find_map(|c| c.io);
    let last = causes.last().map(|c| plain(&c.text)).unwrap_or_default();
    if let Some(why) = tls_failure(causes, trust_note) {
        return format!("the TLS handshake with {place} failed: {why}");
    }
    if has("dns error") {
        return format!("could not resolve the host name of {place} ({last})");
    }
    if is_timeout {
        return if has("connect timeout") {
            format!(
                "could not connect to {place} within the {} connect timeout",
                seconds(CONNECT_TIMEOUT)
            )
        } else {
            format!(
                "no answer from {place} within the {} read timeout",
                seconds(ATTEMPT_TIMEOUT)
            )
        };
    }
    let refused = |why: &str| format!("could not connect to {place} ({why})");
    match io_kind {
        Some(io::ErrorKind::ConnectionRefused) => return refused("connection refused"),
        Some(io::ErrorKind::TimedOut) => return refused("timed out"),
        Some(io::ErrorKind::HostUnreachable) => return refused("host unreachable"),
        Some(io::ErrorKind::NetworkUnreachable) => return refused("network unreachable"),
        Some(io::ErrorKind::AddrNotAvailable) => return refused("address not available"),
        Some(io::ErrorKind::PermissionDenied) => return refused("permission denied"),
        Some(io::ErrorKind::ConnectionReset) => {
            return format!("{place} reset the connection before answering")
        }
        Some(io::ErrorKind::ConnectionAborted) => {
            return format!("the connection to {place} was aborted before an answer")
        }
        Some(io::ErrorKind::BrokenPipe) => {
            return format!("{place} closed the connection while the request was being sent")
        }
        Some(io::ErrorKind::UnexpectedEof) => {
            return format!("{place} closed the connection before answering")
        }
        _ => {}
    }
    if has("connection was not ready")
        || has("operation was canceled")
        || has("connection closed before message completed")
    {
        return format!("{place} closed the connection without answering");
    }
    if has("invalid HTTP") || has("parse") {
        return format!("{place} answered with something that is not HTTP ({last})");
    }
    if is_user {
        return format!("the request to {place} could not be sent ({last})");
    }
    format!("could not reach {place} ({last})")
}

/// A failed TLS handshake in words, when the chain holds one.
fn tls_failure(causes: &[Cause], trust_note: &str) -> Option<String> {
    if let Some(refused) = causes
        .iter()
        .find_map(|c| c.text.strip_prefix("invalid peer certificate: "))
    {
        let (why, about_trust) = certificate_refused(refused);
        return Some(if about_trust {
            format!("the server's certificate is not trusted: {why}; {trust_note}")
        } else {
            format!("the server's certificate was refused: {why}")
        });
    }
    if causes.iter().any(|c| c.text.contains("corrupt message")) {
        return Some(
            "the server does not speak TLS (is the endpoint http:// rather than https://?)".into(),
        );
    }
    let alert = causes
        .iter()
        .find_map(|c| c.text.strip_prefix("received fatal alert: "));
    if let Some(alert) = alert {
        return Some(format!(
            "the server ended the handshake with the alert {}",
            word(alert)
        ));
    }
    if causes
        .iter()
        .any(|c| c.text.contains("TLS handshake failed"))
    {
        let last = causes.last().map(|c| plain(&c.text)).unwrap_or_default();
        return Some(last);
    }
    None
}

/// Why rustls refused a certificate (the text after "invalid peer certificate: "), and
/// whether it is a matter of which authorities are trusted. The rustls name is kept in
/// parentheses, for a search.
fn certificate_refused(rustls_says: &str) -> (String, bool) {
    let name = word(rustls_says);
    let (why, about_trust) = match name.as_str() {
        "UnknownIssuer" => ("it was issued by an authority this client does not trust", true),
        "Other" if rustls_says.contains("CaUsedAsEndEntity") => (
            "it is a CA certificate presented as the server's own, as self-signed certificates usually are",
            true,
        ),
        "Expired" | "ExpiredContext" => ("it has expired", false),
        "NotValidYet" | "NotValidYetContext" => ("it is not valid yet", false),
        "Revoked" => ("it has been revoked", false),
        "BadSignature" => ("its signature does not verify", false),
        "BadEncoding" => ("it could not be parsed", false),
        "NotValidForName" | "NotValidForNameContext" => {
            ("it is not valid for the endpoint's host name", false)
        }
        "InvalidPurpose" | "InvalidPurposeContext" => ("it is not meant for a server", false),
        "UnhandledCriticalExtension" => ("it has a critical extension this client does not handle", false),
        "UnknownRevocationStatus" => ("its revocation status is unknown", false),
        _ if rustls_says.starts_with("certificate not valid for name") => {
            return (plain(rustls_says), false)
        }
        _ => ("it was refused", false),
    };
    let detail = if name == "Other" && rustls_says.contains("CaUsedAsEndEntity") {
        "CaUsedAsEndEntity".to_owned()
    } else {
        name
    };
    (format!("{why} ({detail})"), about_trust)
}

/// The leading identifier of a text: `UnknownIssuer` of `UnknownIssuer`, `Other` of
/// `Other(OtherError(..))`.
fn word(text: &str) -> String {
    text.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The SDK's own timeouts (`sdk.rs`), named with their values.
fn timeout(place: &Place, causes: &[Cause]) -> String {
    let has = |needle: &str| causes.iter().any(|c| c.text.contains(needle));
    if has("operation attempt timeout") {
        format!(
            "no answer from {place} within the {} attempt timeout",
            seconds(ATTEMPT_TIMEOUT)
        )
    } else if has("operation timeout") {
        format!(
            "no answer from {place} within the {} operation timeout (up to {MAX_ATTEMPTS} attempts of at most {} each)",
            seconds(OPERATION_TIMEOUT),
            seconds(ATTEMPT_TIMEOUT)
        )
    } else {
        format!(
            "no answer from {place} in time ({})",
            causes.last().map(|c| plain(&c.text)).unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_sdk_retries_as_throttling_is_transient() {
        for code in [
            "RequestThrottledException",
            "LimitExceededException",
            "ThrottlingException",
            "TooManyRequestsException",
            "RequestTimeout",
            "SubscriptionRequiredException",
            "OptInRequired",
        ] {
            assert_eq!(kind_of(400, code), FailureKind::Transient, "{code}");
        }
    }

    #[test]
    fn server_errors_are_transient_denials_and_validation_are_not() {
        assert_eq!(
            kind_of(500, "InternalServerErrorException"),
            FailureKind::Transient
        );
        assert_eq!(kind_of(503, ""), FailureKind::Transient);
        assert_eq!(
            kind_of(403, "AccessDeniedException"),
            FailureKind::AccessDenied
        );
        assert_eq!(kind_of(400, "AccessDenied"), FailureKind::AccessDenied);
        assert_eq!(kind_of(400, "BadRequestException"), FailureKind::Rejected);
    }

    fn chain(texts: &[&str]) -> Vec<Cause> {
        texts
            .iter()
            .map(|t| Cause {
                text: (*t).to_owned(),
                io: None,
            })
            .collect()
    }

    fn local() -> Place {
        Place("http://127.0.0.1:1".into())
    }

    #[test]
    fn the_place_is_the_configured_endpoint_or_the_service_in_its_region() {
        let url = Some("http://localhost:4566".to_owned());
        assert_eq!(
            Place::from_parts(Service::Sns, None, false, url.clone()).0,
            "http://localhost:4566"
        );
        assert_eq!(
            Place::from_parts(Service::GuardDuty, Some("eu-west-1"), true, url).0,
            "the GuardDuty endpoint of eu-west-1"
        );
        assert_eq!(
            Place::from_parts(Service::Organizations, None, false, None).0,
            "the Organizations endpoint"
        );
        assert_eq!(endpoint_variable(Service::Sts), "AWS_ENDPOINT_URL_STS");
    }

    #[test]
    fn a_refused_connection_is_said_in_words_with_the_endpoint() {
        let mut causes = chain(&[
            "dispatch failure",
            "io error",
            "client error (Connect)",
            "tcp connect error",
            "Connection refused (os error 111)",
        ]);
        causes[4].io = Some(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            dispatch_failure(&local(), false, false, &causes, ""),
            "could not connect to http://127.0.0.1:1 (connection refused)"
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_a_dns_failure() {
        let causes = chain(&[
            "dispatch failure",
            "client error (Connect)",
            "dns error",
            "failed to lookup address information: Name or service not known",
        ]);
        assert_eq!(
            dispatch_failure(&local(), false, false, &causes, ""),
            "could not resolve the host name of http://127.0.0.1:1 (failed to lookup address information: Name or service not known)"
        );
    }

    #[test]
    fn an_untrusted_certificate_names_the_trust_store_and_no_debug_shape() {
        for (rustls, words) in [
            (
                "invalid peer certificate: UnknownIssuer",
                "an authority this client does not trust (UnknownIssuer)",
            ),
            (
                "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
                "as self-signed certificates usually are (CaUsedAsEndEntity)",
            ),
        ] {
            let causes = chain(&["dispatch failure", "TLS handshake failed", rustls]);
            let said = dispatch_failure(&local(), false, false, &causes, "NOTE");
            assert!(said.starts_with("the TLS handshake with http://127.0.0.1:1 failed: the server's certificate is not trusted: "), "{said}");
            assert!(said.contains(words) && said.ends_with("; NOTE"), "{said}");
            assert!(!said.contains("Other("), "{said}");
        }
        let causes = chain(&[
            "TLS handshake failed",
            "invalid peer certificate: ExpiredContext { time: UnixTime(1), not_after: UnixTime(0) }",
        ]);
        assert_eq!(
            dispatch_failure(&local(), false, false, &causes, "NOTE"),
            "the TLS handshake with http://127.0.0.1:1 failed: the server's certificate was refused: it has expired (ExpiredContext)"
        );
    }

    #[test]
    fn a_server_that_closes_resets_or_stalls_is_said_so() {
        let closed = chain(&[
            "dispatch failure",
            "client error (Canceled)",
            "connection was not ready",
        ]);
        assert_eq!(
            dispatch_failure(&local(), false, false, &closed, ""),
            "http://127.0.0.1:1 closed the connection without answering"
        );
        let mut reset = chain(&[
            "dispatch failure",
            "Connection reset by peer (os error 104)",
        ]);
        reset[1].io = Some(io::ErrorKind::ConnectionReset);
        assert_eq!(
            dispatch_failure(&local(), false, false, &reset, ""),
            "http://127.0.0.1:1 reset the connection before answering"
        );
        let connect = chain(&[
            "timeout",
            "client error (Connect)",
            "HTTP connect timeout occurred after 2s",
        ]);
        assert_eq!(
            dispatch_failure(&local(), true, false, &connect, ""),
            "could not connect to http://127.0.0.1:1 within the 2 s connect timeout"
        );
        let operation = chain(&[
            "request has timed out",
            "operation timeout (all attempts including retries) occurred after 20s",
        ]);
        assert_eq!(
            timeout(&local(), &operation),
            "no answer from http://127.0.0.1:1 within the 20 s operation timeout (up to 4 attempts of at most 5 s each)"
        );
        let attempt = chain(&["operation attempt timeout (single attempt) occurred after 5s"]);
        assert_eq!(
            timeout(&local(), &attempt),
            "no answer from http://127.0.0.1:1 within the 5 s attempt timeout"
        );
    }

    #[test]
    fn an_answer_that_is_not_http_is_said_so() {
        let causes = chain(&[
            "dispatch failure",
            "other",
            "client error (SendRequest)",
            "invalid HTTP version parsed",
        ]);
        assert_eq!(
            dispatch_failure(&local(), false, false, &causes, ""),
            "http://127.0.0.1:1 answered with something that is not HTTP (invalid HTTP version parsed)"
        );
    }

    #[test]
    fn debug_shapes_are_cut_from_a_cause_and_messages_are_one_line() {
        assert_eq!(plain("bad thing: Struct { field: 1 }"), "bad thing: Struct");
        assert_eq!(one_line("two\n  lines"), "two lines");
        assert_eq!(seconds(Duration::from_millis(1500)), "1500 ms");
    }
}
