//! An AWS call that gets no usable answer is said in one line of words, through the real
//! binary: what failed, where (the endpoint), and why (connection refused, no answer within
//! the operation timeout, a certificate not trusted, no such host, a closed connection),
//! with no SDK type's debug dump on stdout or stderr.

use std::net::TcpListener;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::{json, Value};

/// What a debug dump of the SDK's and hyper's error types looks like.
const DEBUG_SHAPES: &[&str] = &[
    "DispatchFailure",
    "ConnectorError",
    "Some(",
    " { ",
    "Os {",
    "kind:",
    "Error(",
];

fn env_for(endpoint: &str, home: &std::path::Path) -> Vec<(String, String)> {
    let mut env = function_env(
        endpoint,
        "arn:aws:sns:us-east-1:123456789012:problems",
        &["us-east-1"],
    );
    env.push(("HOME".into(), home.display().to_string()));
    env
}

/// A manual request with the email given: no Organizations call, so the first call is
/// GuardDuty ListDetectors.
fn request() -> tempfile::TempPath {
    event_file(&manual_request(
        "readable-1",
        json!([{"accountId": "111122223333", "email": "a@example.com"}]),
    ))
}

fn invoke_at(endpoint: &str) -> Output {
    let home = tempfile::tempdir().expect("temp dir");
    invoke(&env_for(endpoint, home.path()), &[&request()])
}

fn assert_no_debug_shape(text: &str) {
    for shape in DEBUG_SHAPES {
        assert!(!text.contains(shape), "{shape:?} in:\n{text}");
    }
}

/// The failed invocation's message, after checking it is said once, on one line of stderr,
/// as on stdout, with no debug dump anywhere.
fn failure_said_once(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let r = &responses(out)[0];
    assert_eq!(r["errorType"], "GuardDuty.ListDetectors.Transient", "{r}");
    let message = r["errorMessage"].as_str().unwrap_or_default().to_owned();
    assert_eq!(err.lines().count(), 1, "one line on stderr:\n{err}");
    assert!(err.contains(&message), "stderr says the message:\n{err}");
    assert_no_debug_shape(&err);
    assert_no_debug_shape(&String::from_utf8_lossy(&out.stdout));
    message
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn a_refused_connection_names_the_endpoint_and_says_connection_refused() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let message = failure_said_once(&invoke_at(&endpoint));
    assert_eq!(
        message,
        format!("GuardDuty ListDetectors in us-east-1 failed: could not connect to {endpoint} (connection refused)")
    );

    // check says the same in each failed check's detail, and nothing on stderr.
    let home = tempfile::tempdir().expect("temp dir");
    let out = run_binary(&env_for(&endpoint, home.path()), &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let report: Value = serde_json::from_slice(&out.stdout).expect("check JSON");
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["verdict"] == "failed")
        .collect();
    assert!(!failed.is_empty(), "{report}");
    for c in failed {
        let detail = c["detail"].as_str().unwrap_or_default();
        assert!(
            detail.ends_with(&format!(
                "could not connect to {endpoint} (connection refused)"
            )),
            "{detail}"
        );
    }
    assert_no_debug_shape(&report.to_string());
}

/// A server that accepts the connection and never answers: every attempt is cut at the
/// attempt timeout and the call at the operation timeout (20 s, src/aws/sdk.rs), which the
/// message names. This is the one slow test: it takes the operation timeout.
#[test]
fn a_server_that_never_answers_is_said_to_time_out_with_the_timeout_named() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    // Accept and hold every connection, reading nothing and answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let out = invoke_at(&endpoint);
    let took = started.elapsed();
    let message = failure_said_once(&out);
    assert_eq!(
        message,
        format!("GuardDuty ListDetectors in us-east-1 failed: no answer from {endpoint} within the 20 s operation timeout (up to 4 attempts of at most 5 s each)")
    );
    assert!(
        took >= Duration::from_secs(20) && took < Duration::from_secs(40),
        "the operation timeout bounds the call: {took:?}"
    );
}

/// A self-signed certificate, as a local TLS-inspecting proxy or test server has: the
/// handshake fails, and the message says so in words and what is trusted instead.
#[test]
fn an_untrusted_certificate_is_a_tls_failure_in_words() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = PythonServer::start(
        "tls_server.py",
        &[&cert.display().to_string(), &key.display().to_string()],
    );
    let endpoint = format!("https://localhost:{}", server.ready);
    let message = failure_said_once(&invoke_at(&endpoint));
    assert!(
        message.starts_with(&format!(
            "GuardDuty ListDetectors in us-east-1 failed: the TLS handshake with {endpoint} failed: the server's certificate is not trusted: "
        )),
        "{message}"
    );
    assert!(
        message.contains("self-signed") && message.contains("Amazon Trust Services roots"),
        "{message}"
    );
}

/// A host name that does not resolve (`.invalid` never does) and a server that closes the
/// connection at once: each cause in words.
#[test]
fn no_such_host_and_a_closed_connection_are_said_in_words() {
    let message = failure_said_once(&invoke_at("http://guardduty-invite.invalid"));
    assert!(
        message.contains("could not resolve the host name of http://guardduty-invite.invalid ("),
        "{message}"
    );

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            drop(stream);
        }
    });
    let message = failure_said_once(&invoke_at(&endpoint));
    assert!(
        message.ends_with(&format!(
            "{endpoint} closed the connection without answering"
        )) || message.ends_with(&format!("{endpoint} reset the connection before answering"))
            || message.ends_with(&format!(
                "{endpoint} closed the connection before answering"
            )),
        "{message}"
    );
}
