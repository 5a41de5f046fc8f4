//! The binary at a person's terminal, through `script` (a pseudo-terminal): the result is
//! indented JSON (piped, it stays one line: tests and scripts read it so), and during a
//! reconcile the log lines are written above the spinner, whose message follows the stages.

use std::process::{Command, Output};

use crate::support::*;

/// Runs the binary with `args` and exactly `env` (plus PATH) on a pseudo-terminal: stdout
/// and stderr both reach the terminal, so the output holds both, as a person sees them.
fn on_a_terminal(env: &[(String, String)], args: &str) -> Output {
    Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!("{} {args}", env!("CARGO_BIN_EXE_guardduty-invite")))
        .arg("/dev/null")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SHELL", "/bin/sh")
        // indicatif draws nothing for a terminal without TERM (or TERM=dumb).
        .env("TERM", "xterm")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("script (util-linux) runs the binary on a pseudo-terminal")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

#[test]
fn on_a_terminal_the_json_is_indented_and_piped_it_is_one_line() {
    let event = event_file(r#"{"source": "aws.ec2", "detail-type": "x", "detail": {}}"#);
    let env = function_env(
        "http://127.0.0.1:9",
        "arn:aws:sns:us-east-1:123456789012:problems",
        &["us-east-1"],
    );
    let shown = on_a_terminal(&env, &format!("invoke {}", event.display()));
    assert_eq!(shown.status.code(), Some(1), "{}", text(&shown));
    let shown = text(&shown);
    assert!(
        shown.contains("{\n  \"error") && shown.contains("\n  \"errorType\": \"InvalidEvent\""),
        "indented on a terminal:\n{shown}"
    );

    let piped = invoke(&env, &[&event]);
    let stdout = String::from_utf8_lossy(&piped.stdout).into_owned();
    assert_eq!(stdout.lines().count(), 1, "one line when piped:\n{stdout}");
}

#[test]
fn during_a_reconcile_log_lines_are_written_above_the_spinner_which_follows_the_stages() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[
            ("111122223333", "new.account@example.com", "Payments"),
            ("444455556666", "joined@example.com", "Joined"),
        ],
        &[],
    );
    let out = on_a_terminal(&emu.env(&seeded, &["us-east-1"]), "reconcile");
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{raw}");

    // Each log line starts on a line the spinner was cleared from (carriage return, erase
    // line), not after the spinner's text.
    let logged = raw.matches(" INFO decision").count();
    assert!(logged >= 2, "one decision per account:\n{raw:?}");
    assert_eq!(
        raw.matches("\r\u{1b}[2K INFO decision").count(),
        logged,
        "a log line written through the spinner:\n{raw:?}"
    );
    // The spinner's own message moves with the stages (the lines above it have no prefix).
    assert!(
        raw.contains("reconcile: 2 organization accounts and the members of 1 region listed"),
        "{raw:?}"
    );
    assert!(
        text(&out).contains("\n  \"organizationAccounts\": 2,\n"),
        "the summary indented:\n{raw}"
    );
}
