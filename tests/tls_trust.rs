//! The HTTPS client trusts the Amazon Trust Services roots only, unless `SSL_CERT_FILE` (or
//! `SSL_CERT_DIR`) points at another store: checked against a local HTTPS server whose
//! certificate comes from a throwaway CA.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::json;
use support::*;

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

fn run(endpoint: &str, extra: &[(&str, &str)]) -> (String, String) {
    let mut env = function_env(
        endpoint,
        "arn:aws:sns:us-east-1:123456789012:problems",
        &["us-east-1"],
    );
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let home = tempfile::tempdir().expect("temp dir");
    env.push(("HOME".into(), home.path().display().to_string()));
    let event = manual_request(
        "tls-1",
        json!([{"accountId": "111122223333", "email": "a@example.com"}]),
    );
    let out = invoke(&env, &[&event_file(&event)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = &responses(&out)[0];
    (
        r["errorType"].as_str().unwrap_or_default().to_owned(),
        r["errorMessage"].as_str().unwrap_or_default().to_owned(),
    )
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
    // first failure is the server's own 400 on CreateMembers.
    let (error_type, message) = run(&endpoint, &[("SSL_CERT_FILE", &ca)]);
    assert_eq!(error_type, "GuardDuty.CreateMembers.Rejected", "{message}");
}
