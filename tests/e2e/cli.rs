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

/// The environment of a run by hand that forgot something: no profile (an empty HOME), no
/// instance metadata, and the variables given less `without`.
fn env_without(without: &[&str], home: &std::path::Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env()
        .into_iter()
        .filter(|(k, _)| !without.contains(&k.as_str()))
        .collect();
    env.push(("HOME".into(), home.display().to_string()));
    env
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// GUARDDUTY_REGIONS set and AWS_REGION not: the clients outside those regions (STS,
/// Organizations, SSM) would have no signing region. Said at start, for every command, as a
/// configuration error naming the variable, with no AWS call and no instance-metadata wait.
#[test]
fn a_missing_region_is_a_configuration_error_naming_aws_region_before_any_call() {
    let home = tempfile::tempdir().expect("temp dir");
    let env = env_without(&["AWS_REGION"], home.path());
    let event = invalid_event();
    let event_path = event.display().to_string();
    for args in [
        vec!["reconcile"],
        vec!["check"],
        vec!["invoke", event_path.as_str()],
    ] {
        let out = run_binary(&env, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "guardduty-invite: configuration: AWS_REGION: is not set, nor AWS_DEFAULT_REGION, \
             nor a region in the AWS profile: set it to the function's region (the calls \
             outside GUARDDUTY_REGIONS are signed for it)\n",
            "{args:?}"
        );
        assert_eq!(stdout(&out), "", "{args:?}");
    }
}

/// No credentials anywhere: said as such, with where the SDK looked and what to set, not as
/// a network fault, and not as something a retry fixes.
#[test]
fn missing_credentials_are_said_with_where_the_sdk_looked() {
    let home = tempfile::tempdir().expect("temp dir");
    let env = env_without(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], home.path());
    let out = run_binary(&env, &["reconcile"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        first_line(&stderr(&out)),
        "reconcile: STS.GetCallerIdentity.Rejected: STS GetCallerIdentity failed: \
         CredentialsNotLoaded: no AWS credentials found; the SDK looked in the variables \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (environment variable not set), the AWS \
         profile (AWS_PROFILE, else default) in ~/.aws, a web identity token file \
         ($AWS_WEB_IDENTITY_TOKEN_FILE was not set), the container credentials endpoint (ECS \
         provider not configured), the EC2 instance metadata service (IMDS disabled by \
         AWS_EC2_METADATA_DISABLED env var set to `true`): set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where a role provides them; run \
         reconcile again once the cause is fixed (it redoes only what is still missing)"
    );

    let out = run_binary(&env, &["check", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let detector = &report["checks"][0];
    assert_eq!(detector["check"], "detector", "{report}");
    assert_eq!(
        detector["fix"],
        "give the command credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
         AWS_PROFILE), then run check again"
    );
}

/// The email mask hides addresses, not the `'@'` quoted in the sentence that says what is
/// wrong with one.
#[test]
fn an_invalid_email_is_said_with_the_rule_readable_and_the_value_masked() {
    let event = event_file(&manual_request(
        "bad-email",
        serde_json::json!([{"accountId": "111122223333", "email": "not-an-email"}]),
    ));
    let out = invoke(&env(), &[&event]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "{}: InvalidEvent: field detail.accounts[0].email: email *** must contain exactly \
             one '@' between a local name and a domain; fix the event: a retry will not help\n",
            event.display()
        )
    );
}

/// An event error says "InvalidEvent" once: the type, then what is wrong.
#[test]
fn an_invalid_event_is_named_once_not_invalid_event_invalid_event() {
    let event = invalid_event();
    let out = invoke(&env(), &[&event]);
    assert_eq!(
        first_line(&stderr(&out)),
        format!(
            "{}: InvalidEvent: unsupported event: source \"aws.ec2\", detail-type \"EC2 \
             Instance State-change Notification\" (expected an Organizations \
             CreateAccountResult or AccountJoinedOrganization, a Control Tower \
             CreateManagedAccount/UpdateManagedAccount, or detail-type \"GuardDuty Invite \
             Request\", \"GuardDuty Reconcile Request\" or \"GuardDuty Invite Check\"); fix the \
             event: a retry will not help",
            event.display()
        )
    );
}

/// A missing event file is a file to fix, not a command to look up in --help.
#[test]
fn a_missing_event_file_is_named_without_pointing_at_help() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-event.json");
    let out = invoke(&env(), &[&missing]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "guardduty-invite: {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// A failed reconcile's stderr line says what to do, as a failed invoke's does.
#[test]
fn a_failed_reconcile_says_what_to_do() {
    let out = run_binary(&env(), &["reconcile"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "reconcile: STS.GetCallerIdentity.Transient: STS GetCallerIdentity failed: could not \
         connect to http://127.0.0.1:9 (connection refused); run reconcile again once the \
         cause is fixed (it redoes only what is still missing)\n"
    );
}
