//! The command line as a person meets it: help, version, and errors said once.

use crate::support::*;

fn env() -> Vec<(String, String)> {
    function_env(
        "http://127.0.0.1:9",
        "arn:aws:sns:us-east-1:123456789012:problems",
        &["us-east-1"],
    )
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_goes_to_stdout_with_exit_0_and_lists_commands_variables_and_exit_codes() {
    for flag in ["--help", "-h", "help"] {
        // No configuration at all: help needs none.
        let out = run_binary(&[], &[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", stderr(&out));
        let help = stdout(&out);
        for needed in [
            "invoke FILE",
            "reconcile [--dry-run]",
            "check [--json] [--policy] [--account ID]",
            "exit status",
            "README.md",
        ] {
            assert!(
                help.contains(needed),
                "{flag} does not mention {needed}:\n{help}"
            );
        }
        for variable in guardduty_invite::config::FUNCTION_VARIABLES {
            assert!(
                help.contains(variable),
                "{flag} does not name the variable {variable}:\n{help}"
            );
        }
        assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    }
}

#[test]
fn version_prints_the_package_version() {
    let out = run_binary(&[], &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).trim(),
        format!("guardduty-invite {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_configuration_error_is_said_once_naming_the_variable() {
    let mut env = env();
    env.push((
        "MEMBER_FEATURES".into(),
        "S3_DATA_EVENTS,NO_SUCH_PLAN".into(),
    ));
    let out = run_binary(&env, &["reconcile"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.matches("MEMBER_FEATURES").count(), 1, "{err}");
    assert!(err.contains("NO_SUCH_PLAN"), "{err}");
}

#[test]
fn unknown_commands_and_flags_are_usage_errors_before_any_call() {
    for args in [
        &["frobnicate"][..],
        &["reconcile", "--force"],
        &["check", "--account", "42"],
    ] {
        let out = run_binary(&env(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--help"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

fn invalid_event() -> tempfile::TempPath {
    event_file(
        r#"{"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}"#,
    )
}

/// A rejected event: the error object once on stdout, and its message once on stderr, on
/// one line, saying that a retry will not help. (No AWS call is made: the endpoint is
/// unreachable anyway.)
#[test]
fn a_rejected_event_is_said_once_on_stderr_with_the_error_object_on_stdout() {
    let event = invalid_event();
    let out = invoke(&env(), &[&event]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = responses(&out);
    assert_eq!(r.len(), 1, "{}", stdout(&out));
    assert_eq!(r[0]["errorType"], "InvalidEvent");
    let message = r[0]["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("unsupported event"), "{message}");

    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line on stderr:\n{err}");
    assert_eq!(
        err.matches("unsupported event").count(),
        1,
        "the message once:\n{err}"
    );
    assert!(
        err.contains("InvalidEvent") && err.contains(message),
        "type and message:\n{err}"
    );
    assert!(err.contains("a retry will not help"), "{err}");
}

/// What `--help` says of exit status 1 is what the binary does: an invalid event exits 1
/// saying a retry will not help; a failed run (here, no endpoint to connect to) exits 1
/// saying the event should be retried; a configuration error exits 2.
#[test]
fn the_help_texts_exit_statuses_are_what_the_binary_does() {
    let help = stdout(&run_binary(&[], &["--help"]));
    let status_section = help
        .split("exit status:")
        .nth(1)
        .unwrap_or_else(|| panic!("no exit status section:\n{help}"));
    for claim in [
        "1 a failed run: the event should be retried",
        "an invalid event: fix the event, a retry will not help",
        "a check that failed",
        "2 a usage or configuration error",
    ] {
        let flat = status_section
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains(claim), "help lacks {claim:?}:\n{help}");
    }
    assert!(
        !help.contains("1 a failure (retry the event)"),
        "the old claim that every 1 means retry:\n{help}"
    );

    let invalid = invoke(&env(), &[&invalid_event()]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        stderr(&invalid).contains("a retry will not help"),
        "{}",
        stderr(&invalid)
    );

    let event = event_file(&manual_request(
        "help-1",
        serde_json::json!([{"accountId": "111122223333", "email": "a@example.com"}]),
    ));
    let failed = invoke(&env(), &[&event]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("the event should be retried"),
        "{}",
        stderr(&failed)
    );

    let mut bad = env();
    bad.push(("GUARDDUTY_INVITE_EMF".into(), "stdout".into()));
    let out = run_binary(&bad, &["invoke", "-"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("GUARDDUTY_INVITE_EMF"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_help_names_the_metrics_switch_and_the_development_notes_that_explain_it() {
    let help = stdout(&run_binary(&[], &["--help"]));
    assert!(
        help.contains("GUARDDUTY_INVITE_EMF") && help.contains("only inside Lambda"),
        "{help}"
    );
    assert!(help.contains("docs/development.md"), "{help}");
    let notes =
        std::fs::read_to_string(repo().join("docs/development.md")).expect("docs/development.md");
    assert!(
        notes.contains("GUARDDUTY_INVITE_EMF=stderr") && notes.contains("GUARDDUTY_INVITE_EMF=off"),
        "docs/development.md does not explain the metrics switch"
    );
}
