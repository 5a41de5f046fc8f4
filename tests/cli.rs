//! The command line as a person meets it: help, version, and errors said once.

mod support;

use support::*;

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
            "check [--json] [--account ID]",
            "SNS_TOPIC_ARN",
            "MEMBER_ROLE_NAME",
            "MEMBER_FEATURES",
            "STALE_INVITATION_DAYS",
            "exit status",
            "README.md",
        ] {
            assert!(
                help.contains(needed),
                "{flag} does not mention {needed}:\n{help}"
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
