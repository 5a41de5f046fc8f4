//! The command line: the Lambda runtime loop, `invoke`, help and version, and exit codes.

use std::io::{IsTerminal, Read, Write};
use std::time::SystemTime;

use lambda_runtime::Diagnostic;
use serde_json::{json, Value};

use crate::account::AccountId;
use crate::error::HandlerError;
use crate::event::{self, EventMeta, CHECK_DETAIL_TYPE, RECONCILE_DETAIL_TYPE};
use crate::handler::{now_ms, App, Reply, DEFAULT_BUDGET};
use crate::reconcile::{self, RECONCILE_BUDGET};

/// Exit status: done (problems, if any, published).
pub const EXIT_OK: u8 = 0;
/// A failed run (retry the event), an invalid event (fix it: a retry will not help) or a
/// failed check: the Lambda error object on stdout, its type and message once on stderr.
pub const EXIT_FAILURE: u8 = 1;
/// A usage or configuration error, named on stderr before any AWS call.
pub const EXIT_USAGE: u8 = 2;

pub const HELP: &str = "\
guardduty-invite: makes every AWS account of an organization a GuardDuty member of this
administrator, and publishes every account it could not protect to an SNS topic.

usage:
  guardduty-invite                 inside Lambda (AWS_LAMBDA_RUNTIME_API set): the runtime loop
  guardduty-invite invoke FILE...  the handler once per EventBridge event file (- = stdin);
                                   one JSON response per event on stdout, logs on stderr
  guardduty-invite reconcile [--dry-run] [--coverage FILE] [--report FILE.html]
                                   every active account of the organization against the members
                                   of every region; --dry-run makes read calls only; --coverage
                                   writes one CSV row per account and region (- = stdout);
                                   --report writes the coverage and what it costs as one HTML
                                   page (and prints its path on stderr)
  guardduty-invite check [--json] [--policy] [--account ID]
                                   preflight, read calls only: what the deployment still lacks;
                                   --account tries the member role in that account;
                                   --policy lists the protection policy's rules with the
                                   accounts each matches
  guardduty-invite --help | -h | help
  guardduty-invite --version

environment (validated at start; a bad value is named before any AWS call):
  SNS_TOPIC_ARN               where problems are published (required)
  INVITE_MESSAGE_TEMPLATE     invitation message; {account_id} {account_name} {region} {detector_id}
  DISABLE_EMAIL_NOTIFICATION  true/false (default false)
  GUARDDUTY_REGIONS           comma-separated regions (default: the function's region)
  INVITATION_EMAIL_REGION     the one region whose invitation emails the account (default: the first)
  MEMBER_ROLE_NAME            role assumed in member accounts to enable GuardDuty and accept (default: off)
  MEMBER_FEATURES             comma-separated GuardDuty features for every Enabled member (default: off)
  MEMBER_AGENT_MANAGEMENT     GuardDuty agent management with a runtime plan, or none (default: all that apply)
  MEMBER_ROLE_GRACE_MINUTES   a member role not there yet is passing for accounts this young (default 30)
  PROTECTION_POLICY_PARAMETER SSM parameter with plans per OU and account, and exceptions (not with MEMBER_FEATURES)
  STALE_INVITATION_DAYS       reconcile reports members invited longer ago (default 7)
  SECURITY_HUB_FINDINGS       true: problems and drift also as Security Hub findings (default false)
  COVERAGE_BUCKET             S3 bucket for the reconcile's daily coverage CSV (default: none)
  RETRY_SCHEDULE_GROUP        EventBridge Scheduler group where a member role not there yet is
                              retried on a one-time schedule (default: none, Lambda retries)
  RETRY_SCHEDULE_ROLE_ARN     the role EventBridge Scheduler assumes to invoke the function
  RETRY_FUNCTION_ARN          the invite function the retry schedules invoke (the three together)
  AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE ...  the standard AWS SDK settings

output (not function settings):
  RUST_LOG                    log level on stderr (default info; any value also shows the
                              failures the final error sums up); AWS_LAMBDA_LOG_FORMAT=JSON
  GUARDDUTY_INVITE_EMF        stderr: also write the CloudWatch metric lines (EMF JSON) on
                              stderr outside Lambda; off: never (default: only inside Lambda)

exit status:
  0  done: every event handled (problems, if any, published)
  1  a failed run: the event should be retried (Lambda retries it; so can you), or
     an invalid event: fix the event, a retry will not help (stderr says which), or
     a check that failed
  2  a usage or configuration error, named before any AWS call

See README.md in the source repository for events, configuration and deployment, and
docs/development.md for running it by hand (cargo lambda too) and what it prints where.";

/// The source of the events the subcommands stand for.
pub const CLI_SOURCE: &str = "guardduty-invite.cli";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Lambda,
    Invoke(Vec<String>),
    Reconcile {
        dry_run: bool,
        /// `--coverage FILE`: where the coverage CSV goes (`-`: stdout).
        coverage: Option<String>,
        /// `--report FILE.html`: where the HTML report goes.
        report: Option<String>,
    },
    Check {
        json: bool,
        account: Option<AccountId>,
        /// `--policy`: the protection policy's rules with the accounts they match.
        policy: bool,
    },
    Help,
    Version,
}

/// Parses the arguments (without the program name); `Err` is a usage error to print.
pub fn parse(args: &[String], in_lambda: bool) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        None if in_lambda => Ok(Command::Lambda),
        None => Err(
            "not inside Lambda (AWS_LAMBDA_RUNTIME_API is not set); use the invoke subcommand"
                .into(),
        ),
        Some("invoke") if args.len() == 1 => {
            Err("invoke needs at least one event file (or - for stdin)".into())
        }
        Some("invoke") => Ok(Command::Invoke(args[1..].to_vec())),
        Some("reconcile") => parse_reconcile(&args[1..]),
        Some("check") => parse_check(&args[1..]),
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("-V" | "--version") => Ok(Command::Version),
        Some(other) => Err(format!("unknown command {other:?}")),
    }
}

fn parse_reconcile(args: &[String]) -> Result<Command, String> {
    let (mut dry_run, mut coverage, mut report) = (false, None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--dry-run" => dry_run = true,
            "--coverage" => {
                coverage = Some(
                    rest.next()
                        .ok_or("--coverage needs a file (or - for stdout)")?
                        .clone(),
                )
            }
            "--report" => {
                report = Some(rest.next().ok_or("--report needs a file")?.clone());
            }
            other => {
                return Err(format!(
                "reconcile takes --dry-run, --coverage FILE and --report FILE.html, not {other:?}"
            ))
            }
        }
    }
    Ok(Command::Reconcile {
        dry_run,
        coverage,
        report,
    })
}

fn parse_check(args: &[String]) -> Result<Command, String> {
    let (mut json, mut account, mut policy) = (false, None, false);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--policy" => policy = true,
            "--account" => {
                let raw = rest.next().ok_or("--account needs an account id")?;
                account = Some(AccountId::parse(raw)?);
            }
            other => {
                return Err(format!(
                    "check takes --json, --policy and --account ID, not {other:?}"
                ))
            }
        }
    }
    Ok(Command::Check {
        json,
        account,
        policy,
    })
}

/// Prints a usage error and the short usage on stderr.
pub fn usage_error(message: &str) -> u8 {
    eprintln!("guardduty-invite: {message}\n(guardduty-invite --help lists the commands)");
    EXIT_USAGE
}

/// Prints a file that cannot be read or written (an event file, `--coverage FILE`): the
/// commands are right, so no pointer to `--help`.
pub fn file_error(message: &str) -> u8 {
    eprintln!("guardduty-invite: {message}");
    EXIT_USAGE
}

/// Reads every file first, so a missing file is a usage error before any event is handled.
pub fn read_inputs(files: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    if files.is_empty() {
        return Err("invoke needs at least one event file (or - for stdin)".into());
    }
    let mut stdin_used = false;
    files
        .iter()
        .map(|f| {
            let mut buf = Vec::new();
            if f == "-" {
                if stdin_used {
                    return Err("- (stdin) can be given only once".to_owned());
                }
                stdin_used = true;
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("stdin: {e}"))?;
            } else {
                buf = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
            }
            Ok((f.clone(), buf))
        })
        .collect()
}

/// Runs each event in order, one JSON line per event on stdout (the response, or the Lambda
/// error object); returns the exit status.
pub async fn invoke(app: &App, inputs: Vec<(String, Vec<u8>)>) -> u8 {
    let mut status = EXIT_OK;
    let stdout = std::io::stdout();
    for (name, bytes) in inputs {
        // The deployed function's timeout, so a local run has the same time budget.
        let deadline = SystemTime::now() + DEFAULT_BUDGET;
        let result = match event::json_from_bytes(&bytes) {
            Ok(value) => app.dispatch(value, deadline).await,
            Err(e) => Err(HandlerError::InvalidEvent(e)),
        };
        let (line, failed) = reply_line(&name, result, Some(RETRY_THE_EVENT));
        if failed {
            status = EXIT_FAILURE;
        }
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            // stdout closed (e.g. piped into head): nothing more can be reported there.
            return EXIT_FAILURE;
        }
    }
    status
}

/// What a failed run's stderr line adds, for an event a retry can get through.
const RETRY_THE_EVENT: &str = "the event should be retried (Lambda retries it)";
/// What a failed `reconcile`'s stderr line adds: the run is safe to repeat.
const RUN_RECONCILE_AGAIN: &str =
    "run reconcile again once the cause is fixed (it redoes only what is still missing)";
/// What it adds for an invalid event.
const FIX_THE_EVENT: &str = "fix the event: a retry will not help";

/// The JSON for a result, and whether it is a failure. A failure's type and message also go
/// to stderr, once, on one line, with what to do about it: fix an invalid event, or retry
/// (`retry`, where there is an event to retry).
fn reply_line(
    name: &str,
    result: Result<Reply, HandlerError>,
    retry: Option<&str>,
) -> (String, bool) {
    match result {
        Ok(reply) => (json_text(&reply), false),
        Err(e) => {
            let invalid = matches!(e, HandlerError::InvalidEvent(_));
            let d: Diagnostic = e.into();
            eprintln!("{}", failure_line(name, &d, invalid, retry));
            (
                json_text(&json!({"errorType": d.error_type, "errorMessage": d.error_message})),
                true,
            )
        }
    }
}

/// `name: ErrorType: message; what to do`, on one line whatever the message holds.
fn failure_line(name: &str, d: &Diagnostic, invalid: bool, retry: Option<&str>) -> String {
    let message = d
        .error_message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let advice = if invalid { Some(FIX_THE_EVENT) } else { retry };
    match advice {
        Some(advice) => format!("{name}: {}: {message}; {advice}", d.error_type),
        None => format!("{name}: {}: {message}", d.error_type),
    }
}

/// A result as JSON on stdout: one line for a pipe (scripts and tests read it line by line),
/// indented for a person when stdout is a terminal.
fn json_text<T: serde::Serialize>(value: &T) -> String {
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    text.unwrap_or_else(|e| {
        json!({"errorType": "Serialization", "errorMessage": e.to_string()}).to_string()
    })
}

/// The event the subcommands stand for, as the schedule or an operator would send it.
fn command_event(detail_type: &str, detail: Value) -> Value {
    let time = aws_sdk_guardduty::primitives::DateTime::from(SystemTime::now())
        .fmt(aws_sdk_guardduty::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default();
    json!({
        "version": "0", "id": format!("cli-{}", now_ms()), "source": CLI_SOURCE,
        "detail-type": detail_type, "time": time, "resources": [], "detail": detail,
    })
}

/// Where `reconcile --coverage` writes: opened before any AWS call, so that a path that
/// cannot be written is a usage error, not a lost report.
pub enum CoverageOut {
    Stdout,
    File(String, std::fs::File),
}

fn write_report(mut file: std::fs::File, html: &str) -> std::io::Result<()> {
    file.write_all(html.as_bytes())?;
    file.flush()
}

/// Where `reconcile --report` writes: a file, opened before any AWS call.
pub fn open_report(path: &str) -> Result<CoverageOut, String> {
    std::fs::File::create(path)
        .map(|f| CoverageOut::File(path.to_owned(), f))
        .map_err(|e| format!("--report {path}: {e}"))
}

pub fn open_coverage(path: &str) -> Result<CoverageOut, String> {
    if path == "-" {
        return Ok(CoverageOut::Stdout);
    }
    std::fs::File::create(path)
        .map(|f| CoverageOut::File(path.to_owned(), f))
        .map_err(|e| format!("--coverage {path}: {e}"))
}

/// `reconcile [--dry-run] [--coverage FILE]`: the summary on stdout (on stderr when the CSV
/// goes to stdout), progress on a terminal's stderr.
pub async fn reconcile(
    app: &App,
    dry_run: bool,
    coverage: Option<CoverageOut>,
    report_out: Option<CoverageOut>,
) -> u8 {
    let meta = EventMeta {
        id: format!("cli-{}", now_ms()),
        source: CLI_SOURCE.into(),
        detail_type: RECONCILE_DETAIL_TYPE.into(),
    };
    let options = reconcile::Options {
        dry_run,
        coverage_csv: coverage.is_some(),
        report_html: report_out.is_some(),
        cutoff: None,
    };
    let result = app.reconcile(&meta, options, RECONCILE_BUDGET).await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let (line, _) = reply_line("reconcile", Err(e), Some(RUN_RECONCILE_AGAIN));
            println!("{line}");
            return EXIT_FAILURE;
        }
    };
    let csv = report.coverage_csv.as_deref().unwrap_or_default();
    let json = json_text(&report);
    match coverage {
        Some(CoverageOut::Stdout) => {
            print!("{csv}");
            eprintln!("{json}");
        }
        Some(CoverageOut::File(path, mut file)) => {
            if let Err(e) = file.write_all(csv.as_bytes()).and_then(|()| file.flush()) {
                eprintln!("guardduty-invite: --coverage {path}: {e}");
                return EXIT_FAILURE;
            }
            println!("{json}");
        }
        None => println!("{json}"),
    }
    if let Some(CoverageOut::File(path, file)) = report_out {
        let html = report.coverage_html.as_deref().unwrap_or_default();
        if let Err(e) = write_report(file, html) {
            eprintln!("guardduty-invite: --report {path}: {e}");
            return EXIT_FAILURE;
        }
        eprintln!("coverage report: {path}");
    }
    if std::io::stderr().is_terminal() {
        eprintln!("{}", report.summary);
    }
    EXIT_OK
}

/// `check`: a table on a terminal, JSON with --json or when stdout is not a terminal.
pub async fn check(app: &App, json_out: bool, account: Option<AccountId>, policy: bool) -> u8 {
    let mut detail = json!({ "policy": policy });
    if let Some(a) = &account {
        detail["accountId"] = json!(a.as_str());
    }
    let result = app
        .dispatch(
            command_event(CHECK_DETAIL_TYPE, detail),
            SystemTime::now() + DEFAULT_BUDGET,
        )
        .await;
    match result {
        Ok(Reply::Check(report)) => {
            if json_out || !std::io::stdout().is_terminal() {
                println!("{}", json_text(&report));
            } else {
                print!("{}", report.table());
            }
            if report.passed {
                EXIT_OK
            } else {
                EXIT_FAILURE
            }
        }
        other => {
            let (line, _) = reply_line("check", other, None);
            println!("{line}");
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_argument_is_the_lambda_loop_only_inside_lambda() {
        assert_eq!(parse(&[], true), Ok(Command::Lambda));
        assert!(parse(&[], false).is_err());
    }

    #[test]
    fn a_failure_is_one_line_saying_whether_a_retry_helps() {
        let d = Diagnostic {
            error_type: "InvalidEvent".into(),
            error_message: "missing field detail\n  (twice)".into(),
        };
        assert_eq!(
            failure_line("e.json", &d, true, Some(RETRY_THE_EVENT)),
            "e.json: InvalidEvent: missing field detail (twice); fix the event: a retry will not help"
        );
        let d = Diagnostic {
            error_type: "Timeout".into(),
            error_message: "out of time".into(),
        };
        assert_eq!(
            failure_line("e.json", &d, false, Some(RETRY_THE_EVENT)),
            "e.json: Timeout: out of time; the event should be retried (Lambda retries it)"
        );
        assert_eq!(
            failure_line("reconcile", &d, false, None),
            "reconcile: Timeout: out of time"
        );
    }

    #[test]
    fn help_and_version_are_commands_not_usage_errors() {
        for h in ["-h", "--help", "help"] {
            assert_eq!(parse(&args(&[h]), false), Ok(Command::Help));
        }
        assert_eq!(parse(&args(&["--version"]), false), Ok(Command::Version));
        assert!(parse(&args(&["frobnicate"]), false).is_err());
    }
}
