//! The binary inside a (fake) Lambda Runtime API: the same responses as `invoke`, and
//! handler errors reported to Lambda with their stable error type.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::*;
use serde_json::{json, Value};

/// What the function posted back for an invocation.
#[derive(Debug)]
struct Reply {
    request_id: String,
    kind: String,
    body: Value,
}

/// What the fake runtime sends as `Lambda-Runtime-Deadline-Ms`.
#[derive(Clone, Copy)]
enum Deadline {
    /// A minute from now, in milliseconds since the epoch, as Lambda sends it.
    InAMinute,
    /// `cargo lambda watch`'s constant 600000: not an epoch time, so long past.
    Constant(u64),
    /// This many seconds from when the event is handed out.
    InSeconds(u64),
}

/// A minimal Runtime API: hands out `events` in order, then closes the next poll (the test
/// has its replies by then and stops the function).
fn fake_runtime(events: Vec<Value>, deadline: Deadline) -> (String, Receiver<Reply>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = channel();
    let queue = Arc::new(Mutex::new(
        events.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (queue, tx) = (queue.clone(), tx.clone());
            std::thread::spawn(move || serve(stream, queue, tx, deadline));
        }
    });
    (addr, rx)
}

fn serve(
    stream: TcpStream,
    queue: Arc<Mutex<VecDeque<(usize, Value)>>>,
    tx: Sender<Reply>,
    deadline: Deadline,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap_or(0);
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            headers.push(line);
        }
        let header = |name: &str| {
            headers.iter().find_map(|h| {
                h.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_owned())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap_or(());
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if path.ends_with("/invocation/next") {
            let next = { queue.lock().expect("lock").pop_front() };
            let Some((i, event)) = next else {
                return;
            };
            let deadline = match deadline {
                Deadline::InAMinute => {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .expect("time")
                        .as_millis()
                        + 60_000
                }
                Deadline::Constant(ms) => u128::from(ms),
                Deadline::InSeconds(secs) => {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .expect("time")
                        .as_millis()
                        + u128::from(secs) * 1000
                }
            };
            let payload = event.to_string();
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-{i}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:guardduty-invite\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
                payload.len()
            );
        } else {
            let parts: Vec<&str> = path.split('/').collect();
            let reply = Reply {
                request_id: parts
                    .get(parts.len().saturating_sub(2))
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                kind: parts.last().copied().unwrap_or_default().to_owned(),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            };
            let _ = tx.send(reply);
            let _ = write!(
                out,
                "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{{}}"
            );
        }
        let _ = out.flush();
    }
}

/// Runs the function on a fake Runtime API until it has answered every event.
fn run_in_lambda(
    emu: &Emulator,
    seeded: &Seeded,
    events: Vec<Value>,
    deadline: Deadline,
) -> Vec<Reply> {
    run_in_lambda_with_log(emu, seeded, events, deadline).0
}

/// The same, with what the function wrote on stdout and stderr (its log, as CloudWatch
/// would have it).
fn run_in_lambda_with_log(
    emu: &Emulator,
    seeded: &Seeded,
    events: Vec<Value>,
    deadline: Deadline,
) -> (Vec<Reply>, String) {
    run_in_lambda_in(emu, seeded, &["us-east-1"], events, deadline)
}

/// The same, with the function configured for `regions`.
fn run_in_lambda_in(
    emu: &Emulator,
    seeded: &Seeded,
    regions: &[&str],
    events: Vec<Value>,
    deadline: Deadline,
) -> (Vec<Reply>, String) {
    run_in_lambda_with_env(&emu.env(seeded, regions), events, deadline)
}

/// The same, with the function's environment given.
fn run_in_lambda_with_env(
    env: &[(String, String)],
    events: Vec<Value>,
    deadline: Deadline,
) -> (Vec<Reply>, String) {
    let n = events.len();
    let (runtime_api, replies) = fake_runtime(events, deadline);
    // The function's logs, shown only if the test fails.
    let log = ChildLog::new("the function");
    let mut child = Command::new(env!("CARGO_BIN_EXE_guardduty-invite"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "guardduty-invite")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/guardduty-invite")
        .stdout(log.stdio())
        .stderr(log.stdio())
        .spawn()
        .expect("start the function");
    let got: Result<Vec<Reply>, _> = (0..n)
        .map(|_| replies.recv_timeout(Duration::from_secs(30)))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let got = got.unwrap_or_else(|e| panic!("the function did not answer: {e}"));
    (got, log.text())
}

#[test]
fn a_deadline_already_past_as_cargo_lambda_sends_it_is_taken_as_unknown_and_the_event_runs() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "new.account@example.com", "Payments")],
        &[],
    );
    let events = vec![sample_json(
        "organizations-create-account-result-succeeded.json",
    )];
    let got = run_in_lambda(&emu, &seeded, events, Deadline::Constant(600_000));
    assert_eq!(got[0].kind, "response", "{:?}", got[0]);
    assert_eq!(
        outcome(&got[0].body, "111122223333", "us-east-1")["outcome"],
        "invited"
    );
    assert_eq!(emu.calls_of("InviteMembers", None).len(), 1);
}

#[test]
fn inside_lambda_the_handler_answers_like_invoke_and_reports_errors_with_their_type() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "new.account@example.com", "Payments")],
        &[],
    );
    let events = vec![
        sample_json("organizations-create-account-result-succeeded.json"),
        json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}),
        sample_json("organizations-create-account-result-failed.json"),
    ];
    let got = run_in_lambda(&emu, &seeded, events, Deadline::InAMinute);

    assert_eq!(got[0].request_id, "req-0");
    assert_eq!(got[0].kind, "response");
    assert_eq!(got[0].body["status"], "processed");
    assert_eq!(
        outcome(&got[0].body, "111122223333", "us-east-1")["outcome"],
        "invited"
    );

    assert_eq!(got[1].kind, "error");
    assert_eq!(got[1].body["errorType"], "InvalidEvent");
    assert!(
        got[1].body["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("unsupported event"),
        "{:?}",
        got[1]
    );

    assert_eq!(got[2].kind, "response");
    assert_eq!(got[2].body["status"], "skipped");

    // The same event through invoke gives the identical response.
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[&sample("organizations-create-account-result-failed.json")],
    );
    assert_eq!(responses(&out)[0], got[2].body);
}

/// A handler error is logged once, by the runtime, as one line naming its type and message:
/// not the `Diagnostic { error_type: .. }` dump the runtime prints of the error's Debug form.
/// Inside Lambda the metric lines are written for CloudWatch.
#[test]
fn inside_lambda_a_handler_error_is_logged_as_one_readable_line_and_metrics_are_written() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "new.account@example.com", "Payments")],
        &[],
    );
    let events = vec![
        json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}),
        sample_json("organizations-create-account-result-succeeded.json"),
    ];
    let (got, log) = run_in_lambda_with_log(&emu, &seeded, events, Deadline::InAMinute);
    assert_eq!(got[0].kind, "error", "{:?}", got[0]);
    assert_eq!(got[1].kind, "response", "{:?}", got[1]);

    let error_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("unsupported event"))
        .collect();
    assert_eq!(error_lines.len(), 1, "the error is logged once:\n{log}");
    assert!(
        error_lines[0].contains("InvalidEvent: unsupported event"),
        "the runtime logs the error as `type: message`:\n{log}"
    );
    for shape in ["Diagnostic", "error_type", " { ", "Some("] {
        assert!(!log.contains(shape), "{shape:?} in the log:\n{log}");
    }
    let metrics: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(metrics.len(), 1, "one metric line for the region:\n{log}");
    assert_eq!(metrics[0]["AccountsInvited"], 1);
}

/// The Lambda deadline of the runs below: the work in eu-west-1 cannot meet it.
const SHORT_DEADLINE_S: u64 = 18;

/// Two regions: in us-east-1 GuardDuty refuses to add the account (a problem, found at once);
/// in eu-west-1 every CreateMembers takes a minute, longer than the invocation has.
fn a_region_too_slow_for_the_deadline() -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", "eu-west-1"],
        &[("111122223333", "new.account@example.com", "Payments")],
        &[],
    );
    emu.fault(json!({"operation": "CreateMembers", "kind": "delay", "delay_ms": 60_000, "region": "eu-west-1"}));
    emu.unprocessed(
        "CreateMembers",
        &["111122223333"],
        "The request is rejected because the given account ID is not valid.",
        10,
    );
    (emu, seeded)
}

/// What a run cut by its deadline must leave: the invocation failed before the deadline,
/// naming the region and the accounts not reached and that the problems were published; the
/// problem found in time on the topic; the metric lines written.
fn assert_reported_before_failing(
    emu: &Emulator,
    seeded: &Seeded,
    got: &[Reply],
    log: &str,
    took: Duration,
) {
    assert!(
        took < Duration::from_secs(SHORT_DEADLINE_S),
        "answered after the deadline: {took:?}"
    );
    assert_eq!(got[0].kind, "error", "{:?}", got[0]);
    assert_eq!(got[0].body["errorType"], "DeadlineReached", "{:?}", got[0]);
    let message = got[0].body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("1 account-region(s) were reached (1 in eu-west-1)"),
        "{message}"
    );
    assert!(
        message.contains("1 problem(s) found so far were published in SNS message(s)"),
        "{message}"
    );

    let problems = sns_entries(&emu.received_sns_blocking(&seeded.queue_url), "problems");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["accountId"], "111122223333");
    assert_eq!(problems[0]["region"], "us-east-1");
    assert_eq!(problems[0]["operation"], "CreateMembers");

    let metrics: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    let problems_metric = metrics
        .iter()
        .find(|m| m["Region"] == "us-east-1")
        .unwrap_or_else(|| panic!("no metric line for us-east-1:\n{log}"));
    assert_eq!(problems_metric["Problems"], 1, "{problems_metric}");
}

#[test]
fn an_event_that_runs_out_of_time_publishes_the_problems_found_and_fails_naming_what_it_did_not_reach(
) {
    let (emu, seeded) = a_region_too_slow_for_the_deadline();
    let events = vec![sample_json(
        "organizations-create-account-result-succeeded.json",
    )];
    let started = std::time::Instant::now();
    let (got, log) = run_in_lambda_in(
        &emu,
        &seeded,
        &["us-east-1", "eu-west-1"],
        events,
        Deadline::InSeconds(SHORT_DEADLINE_S),
    );
    assert_reported_before_failing(&emu, &seeded, &got, &log, started.elapsed());
}

#[test]
fn a_reconcile_that_runs_out_of_time_publishes_the_problems_found_and_fails_naming_what_it_did_not_reach(
) {
    let (emu, seeded) = a_region_too_slow_for_the_deadline();
    let events = vec![sample_json("reconcile-request.json")];
    let started = std::time::Instant::now();
    let (got, log) = run_in_lambda_in(
        &emu,
        &seeded,
        &["us-east-1", "eu-west-1"],
        events,
        Deadline::InSeconds(SHORT_DEADLINE_S),
    );
    assert_reported_before_failing(&emu, &seeded, &got, &log, started.elapsed());
    // Not a complete reconcile: the metric that says coverage was measured is not written.
    assert!(!log.contains("ReconcilesCompleted"), "{log}");
    assert!(
        log.contains("not reached before the deadline: 1 account(s) in eu-west-1"),
        "the summary names what was not reached:\n{log}"
    );
}

const LATE: &str = "111122223333";
const RETRY_GROUP: &str = "guardduty-invite-retries";

/// Inside Lambda, a new account whose member role is not there yet is pending, not a failure
/// (Lambda's two asynchronous retries come one and two minutes later, too soon for a
/// StackSet): the invocation succeeds, and a one-time schedule hands the function the account
/// again; when it fires, the role is there and the account is protected.
#[tokio::test]
async fn inside_lambda_a_late_member_role_is_pending_and_the_schedule_s_invocation_protects_the_account(
) {
    let emu = Emulator::start();
    // LATE joins with no member role: AssumeRole of it is refused until the StackSet deploys it.
    let seeded = emu.seed(&["us-east-1"], &[], &[]);
    let joined =
        aws_sdk_guardduty::primitives::DateTime::from(SystemTime::now() - Duration::from_secs(120))
            .fmt(aws_sdk_guardduty::primitives::DateTimeFormat::DateTime)
            .unwrap_or_default();
    emu.control(
        "POST",
        "/_emulator/organizations/accounts",
        Some(json!({"accountId": LATE, "email": "late@example.com", "name": "Late", "joinedAt": joined})),
    );
    let scheduler = aws_sdk_scheduler::Client::new(&emu.sdk_config().await);
    scheduler
        .create_schedule_group()
        .name(RETRY_GROUP)
        .send()
        .await
        .expect("schedule group");
    let mut env = emu.env(&seeded, &["us-east-1"]);
    for (k, v) in [
        ("MEMBER_ROLE_NAME", "GuardDutyInviteMember"),
        ("RETRY_SCHEDULE_GROUP", RETRY_GROUP),
        (
            "RETRY_SCHEDULE_ROLE_ARN",
            "arn:aws:iam::123456789012:role/guardduty-invite-scheduler",
        ),
        (
            "RETRY_FUNCTION_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:guardduty-invite",
        ),
    ] {
        env.push((k.into(), v.into()));
    }
    let created = sample_json("organizations-create-account-result-succeeded.json");
    let (got, log) = run_in_lambda_with_env(&env, vec![created], Deadline::InAMinute);
    assert_eq!(
        got[0].kind, "response",
        "not a failure: {:?}\n{log}",
        got[0]
    );
    assert_eq!(
        outcome(&got[0].body, LATE, "us-east-1")["outcome"],
        "role_pending"
    );
    assert!(
        emu.received_sns(&seeded.queue_url).await.is_empty(),
        "not a problem"
    );
    let listed = scheduler
        .list_schedules()
        .group_name(RETRY_GROUP)
        .send()
        .await
        .expect("ListSchedules");
    assert_eq!(listed.schedules().len(), 1, "{listed:?}");
    let schedule = scheduler
        .get_schedule()
        .group_name(RETRY_GROUP)
        .name(listed.schedules()[0].name().unwrap_or_default())
        .send()
        .await
        .expect("GetSchedule");
    let input: Value = serde_json::from_str(
        schedule
            .target()
            .and_then(|t| t.input())
            .unwrap_or_default(),
    )
    .expect("the schedule's input is an event");
    assert_eq!(input["detail"]["accounts"], json!([{"accountId": LATE}]));

    // The StackSet reaches the account; the schedule fires with its input.
    emu.create_member_role(&[LATE], "GuardDutyInviteMember");
    let (got, log) = run_in_lambda_with_env(&env, vec![input], Deadline::InAMinute);
    assert_eq!(got[0].kind, "response", "{:?}\n{log}", got[0]);
    let fired = outcome(&got[0].body, LATE, "us-east-1");
    assert_eq!(fired["outcome"], "accepted", "{fired}");
    assert_eq!(fired["relationshipStatus"], "Enabled", "{fired}");
}

/// One process handling invite events reads the protection policy once, and reads it again
/// for each reconcile: a changed policy reaches the next reconcile without a cold start.
#[tokio::test]
async fn one_process_reads_the_policy_once_for_its_events_and_again_for_every_reconcile() {
    const PARAMETER: &str = "/guardduty-invite/policy";
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "new.account@example.com", "Payments")],
        &[],
    );
    emu.put_parameter(
        PARAMETER,
        "default: {plans: [S3_DATA_EVENTS]}",
        aws_sdk_ssm::types::ParameterType::String,
    )
    .await;
    emu.clear_calls();
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("PROTECTION_POLICY_PARAMETER".into(), PARAMETER.into()));
    let invite = sample_json("organizations-create-account-result-succeeded.json");
    let reconcile = sample_json("reconcile-request.json");
    let events = vec![
        invite.clone(),
        invite.clone(),
        invite.clone(),
        reconcile.clone(),
        reconcile,
        invite,
    ];
    let (got, _) = run_in_lambda_with_env(&env, events, Deadline::InAMinute);
    for reply in &got {
        assert_eq!(reply.kind, "response", "{reply:?}");
    }
    // Once for the events (the first), once per reconcile; the last event reads nothing.
    let reads = emu.calls_of("GetParameter", None);
    assert_eq!(reads.len(), 3, "{reads:?}");
}
