//! The HTTPS client trusts the Amazon Trust Services roots only, unless `SSL_CERT_FILE` (or
//! `SSL_CERT_DIR`) points at another store: checked against a local HTTPS server whose
//! certificate comes from a throwaway CA, and against the known fingerprints of the five
//! roots.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use aws_lc_rs::digest::{digest, SHA256};
use guardduty_invite::aws::AMAZON_ROOTS_PEM;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::support::*;
use serde_json::json;

/// A throwaway CA and a localhost certificate it signed: (CA file, certificate, key).
fn test_ca(dir: &Path) -> (String, String, String) {
    let p = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                "/CN=guardduty-invite test CA",
                "-keyout",
                &p("ca.key"),
                "-out",
                &p("ca.pem"),
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                &p("key.pem"),
                "-out",
                &p("leaf.csr"),
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("leaf.ext"),
        "-out",
        &p("cert.pem"),
    ]);
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

fn tls_env(endpoint: &str, extra: &[(&str, &str)], home: &Path) -> Vec<(String, String)> {
    let mut env = function_env(
        endpoint,
        "arn:aws:sns:us-east-1:123456789012:problems",
        &["us-east-1"],
    );
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env.push(("HOME".into(), home.display().to_string()));
    env
}

fn tls_event() -> tempfile::TempPath {
    event_file(&manual_request(
        "tls-1",
        json!([{"accountId": "111122223333", "email": "a@example.com"}]),
    ))
}

/// The error the invocation failed with: the server answers ListDetectors and rejects the
/// rest, so an accepted certificate shows as `GuardDuty.GetMembers.Rejected`, a refused
/// one as `GuardDuty.ListDetectors.Transient`.
fn failure(out: &Output) -> (String, String) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let r = &responses(out)[0];
    (
        r["errorType"].as_str().unwrap_or_default().to_owned(),
        r["errorMessage"].as_str().unwrap_or_default().to_owned(),
    )
}

fn run(endpoint: &str, extra: &[(&str, &str)]) -> (String, String) {
    let home = tempfile::tempdir().expect("temp dir");
    failure(&invoke(
        &tls_env(endpoint, extra, home.path()),
        &[&tls_event()],
    ))
}

/// Runs the binary in a private mount namespace where `store` is mounted over
/// /etc/ssl/certs, the system store's standard place: what the system's roots would be if
/// an administrator had installed the test CA.
fn run_with_system_store(store: &Path, endpoint: &str, extra: &[(&str, &str)]) -> (String, String) {
    let home = tempfile::tempdir().expect("temp dir");
    let event = tls_event();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/ssl/certs && shift && exec "$@""#)
        .arg("sh")
        .arg(store)
        .arg(env!("CARGO_BIN_EXE_guardduty-invite"))
        .arg("invoke")
        .arg(&*event)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(tls_env(endpoint, extra, home.path()))
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    failure(&out)
}

#[test]
fn a_certificate_outside_amazon_trust_services_is_refused_unless_ssl_cert_file_trusts_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = test_ca(dir.path());
    let server = PythonServer::start("tls_server.py", &[&cert, &key]);
    let endpoint = format!("https://localhost:{}", server.ready);

    // Default: the test CA is not an Amazon root, the handshake fails.
    let (error_type, message) = run(&endpoint, &[]);
    assert_eq!(error_type, "GuardDuty.ListDetectors.Transient", "{message}");
    assert!(message.contains("UnknownIssuer"), "{message}");

    // SSL_CERT_FILE switches to that store: ListDetectors now succeeds over TLS and the
    // first failure is the server's own 400 on CreateMembers. So the certificate is sound
    // (name, dates, chain) and the refusal above was about trust alone.
    let (error_type, message) = run(&endpoint, &[("SSL_CERT_FILE", &ca)]);
    assert_eq!(error_type, "GuardDuty.GetMembers.Rejected", "{message}");

    // SSL_CERT_DIR does the same with a directory of certificates.
    let store = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&ca, store.path().join("guardduty-invite-test-ca.pem")).expect("copy CA");
    let (error_type, message) = run(
        &endpoint,
        &[("SSL_CERT_DIR", &store.path().display().to_string())],
    );
    assert_eq!(error_type, "GuardDuty.GetMembers.Rejected", "{message}");
}

/// A CA no store trusts is refused by any store, so the test above alone cannot tell
/// "Amazon's roots only" from "the system's roots". Here the system store itself, at its
/// standard path, trusts the test CA: the default still refuses the server, and the same
/// store accepts it as soon as the environment asks for the system's store.
#[test]
fn the_default_refuses_a_server_the_system_store_would_accept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = test_ca(dir.path());
    let server = PythonServer::start("tls_server.py", &[&cert, &key]);
    let endpoint = format!("https://localhost:{}", server.ready);

    // The system's roots plus the test CA, as a system store directory.
    let store = tempfile::tempdir().expect("temp dir");
    let mut bundle =
        std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").expect("system roots");
    let system_roots = bundle.matches("BEGIN CERTIFICATE").count();
    assert!(system_roots > 100, "{system_roots} system roots");
    bundle.push_str(&std::fs::read_to_string(&ca).expect("CA"));
    std::fs::write(store.path().join("ca-certificates.crt"), bundle).expect("bundle");

    let (error_type, message) = run_with_system_store(store.path(), &endpoint, &[]);
    assert_eq!(error_type, "GuardDuty.ListDetectors.Transient", "{message}");
    assert!(message.contains("UnknownIssuer"), "{message}");

    let (error_type, message) = run_with_system_store(
        store.path(),
        &endpoint,
        &[("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")],
    );
    assert_eq!(error_type, "GuardDuty.GetMembers.Rejected", "{message}");
}

/// Amazon Trust Services' roots (Debian's ca-certificates names them Amazon_Root_CA_1..4 and
/// Starfield_Services_Root_Certificate_Authority_-_G2), by SHA-256 of the DER certificate.
const AMAZON_ROOTS: [(&str, &str); 5] = [
    (
        "Amazon Root CA 1",
        "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E",
    ),
    (
        "Amazon Root CA 2",
        "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4",
    ),
    (
        "Amazon Root CA 3",
        "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4",
    ),
    (
        "Amazon Root CA 4",
        "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092",
    ),
    (
        "Starfield Services Root CA - G2",
        "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5",
    ),
];

fn fingerprint(der: &[u8]) -> String {
    digest(&SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[test]
fn the_embedded_trust_store_holds_the_five_amazon_trust_services_roots() {
    let embedded: Vec<String> = CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM.as_bytes())
        .map(|c| fingerprint(&c.expect("a PEM certificate")))
        .collect();
    let known: Vec<String> = AMAZON_ROOTS.iter().map(|(_, f)| f.to_string()).collect();
    assert_eq!(embedded, known, "exactly the five roots, in this order");
    assert_eq!(
        AMAZON_ROOTS_PEM.matches("-----BEGIN").count(),
        5,
        "nothing else in the PEM"
    );
    // The documented table of fingerprints is the store's.
    let doc =
        std::fs::read_to_string(repo().join("docs/operations.md")).expect("docs/operations.md");
    for (name, f) in AMAZON_ROOTS {
        assert!(
            doc.contains(&format!("| {name} | `{f}` |")),
            "docs/operations.md lacks {name}"
        );
    }
}
