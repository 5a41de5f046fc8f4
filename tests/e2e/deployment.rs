//! End to end over loopback, the deployment AWS recommends: events forwarded from the
//! management account, accounts that join by invitation, a member role that reaches a new
//! account minutes after it exists, and opt-in regions a new account has not enabled.

use crate::support::*;
use serde_json::{json, Value};

const NEW: &str = "111122223333";
const JOINED: &str = "333344445555";
const ROLE: &str = "GuardDutyInviteMember";
const OPT_IN: &str = "af-south-1";
const CREATED: &str = "organizations-create-account-result-succeeded.json";
/// Where forwarded events come from: the organization's management account, not this one.
const MANAGEMENT: &str = "999900001111";

fn with(env: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env;
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn opt_in_world() -> (Emulator, Seeded, Vec<(String, String)>) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", OPT_IN],
        &[(NEW, "new.account@example.com", "Payments")],
        &[],
    );
    let env = emu.env(&seeded, &["us-east-1", OPT_IN]);
    (emu, seeded, env)
}

#[tokio::test]
async fn an_opt_in_region_the_account_has_not_enabled_is_skipped_not_a_problem() {
    let (emu, seeded, env) = opt_in_world();
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = &responses(&out)[0];
    assert_eq!(outcome(r, NEW, "us-east-1")["outcome"], "invited");
    assert_eq!(outcome(r, NEW, OPT_IN)["outcome"], "region_not_enabled");
    assert!(emu.calls_of("CreateMembers", Some(OPT_IN)).is_empty());
    assert!(emu.calls_of("InviteMembers", Some(OPT_IN)).is_empty());
    assert_eq!(
        emu.calls_of("ListRegions", None).len(),
        1,
        "once per account"
    );
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());

    // In a reconcile it is not in the coverage's count either.
    let (_, summary) = reconcile(&env, true);
    let af = region_summary(&summary, OPT_IN);
    assert_eq!(af["regionNotEnabled"], 1, "{af}");
    assert_eq!(af["accounts"], 0, "{af}");

    // Once the account enables the region, it is invited there.
    emu.control(
        "POST",
        "/_emulator/account/regions",
        Some(json!({"accountId": NEW, "regions": {OPT_IN: "ENABLED"}})),
    );
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, OPT_IN)["outcome"],
        "invited"
    );
}

#[test]
fn without_an_opt_in_region_list_regions_is_never_asked() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[(NEW, "n@example.com", "n")], &[]);
    let out = invoke(&emu.env(&seeded, &["us-east-1"]), &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(emu.calls_of("ListRegions", None).is_empty());
}

#[test]
fn where_list_regions_is_not_allowed_every_region_is_tried_with_one_warning() {
    let (emu, _, env) = opt_in_world();
    emu.control(
        "POST",
        "/_emulator/account/trusted-access",
        Some(json!({"enabled": false})),
    );
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, OPT_IN)["outcome"],
        "invited",
        "today's behaviour"
    );
    assert_eq!(
        stderr(&out).matches("ListRegions is not allowed").count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn list_regions_throttled_fails_the_run_to_be_retried() {
    let (emu, _, env) = opt_in_world();
    emu.fault(json!({"operation": "ListRegions", "kind": "throttle"}));
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        responses(&out)[0]["errorType"],
        "Account.ListRegions.Transient"
    );
    assert!(emu.calls_of("CreateMembers", Some(OPT_IN)).is_empty());
}

/// A world where NEW, once put in the organization, has no member role yet: AssumeRole of it
/// is refused, as STS refuses a role that does not exist.
fn role_world() -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &[]);
    (emu, seeded)
}

/// The StackSet reaches NEW: its member role exists from now on.
fn deploy_member_role(emu: &Emulator) {
    emu.control(
        "POST",
        "/_emulator/iam/roles",
        Some(json!({"accountId": NEW, "roleName": ROLE})),
    );
}

fn new_account(emu: &Emulator, joined_at: &str) {
    emu.control(
        "POST",
        "/_emulator/organizations/accounts",
        Some(json!({"accountId": NEW, "email": "new.account@example.com", "name": "Payments", "joinedAt": joined_at})),
    );
}

fn iso_minutes_ago(minutes: u64) -> String {
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(minutes * 60);
    aws_sdk_guardduty::primitives::DateTime::from(t)
        .fmt(aws_sdk_guardduty::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_member_role_not_deployed_yet_in_a_new_account_is_waited_for_and_the_retry_protects_it() {
    let (emu, seeded) = role_world();
    new_account(&emu, &iso_minutes_ago(2));
    let env = with(
        emu.env(&seeded, &["us-east-1"]),
        &[("MEMBER_ROLE_NAME", ROLE)],
    );
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(responses(&out)[0]["errorType"], "STS.AssumeRole.Transient");
    assert!(
        emu.received_sns(&seeded.queue_url).await.is_empty(),
        "not a problem"
    );

    // The StackSet reaches the account, and GuardDuty has verified the email: Lambda's retry
    // protects it.
    deploy_member_role(&emu);
    emu.set_member_status("us-east-1", &seeded.detector("us-east-1"), NEW, "Invited");
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = outcome(&responses(&out)[0], NEW, "us-east-1").clone();
    assert_eq!(r["outcome"], "accepted", "{r}");
    assert_eq!(r["relationshipStatus"], "Enabled", "{r}");
}

/// Where the stack's retries go: its schedule group, the role EventBridge Scheduler assumes,
/// and the invite function the schedules invoke.
const RETRY_GROUP: &str = "guardduty-invite-retries";
const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/guardduty-invite-scheduler";
const INVITE_FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:guardduty-invite";

/// The role world with retries on a schedule: the stack's schedule group exists.
async fn retry_world(
    joined_minutes_ago: u64,
) -> (
    Emulator,
    Seeded,
    Vec<(String, String)>,
    aws_sdk_scheduler::Client,
) {
    let (emu, seeded) = role_world();
    new_account(&emu, &iso_minutes_ago(joined_minutes_ago));
    let scheduler = aws_sdk_scheduler::Client::new(&emu.sdk_config().await);
    scheduler
        .create_schedule_group()
        .name(RETRY_GROUP)
        .send()
        .await
        .expect("schedule group");
    let env = with(
        emu.env(&seeded, &["us-east-1"]),
        &[
            ("MEMBER_ROLE_NAME", ROLE),
            ("RETRY_SCHEDULE_GROUP", RETRY_GROUP),
            ("RETRY_SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
            ("RETRY_FUNCTION_ARN", INVITE_FUNCTION),
        ],
    );
    (emu, seeded, env, scheduler)
}

/// Every schedule of the stack's group, as GetSchedule returns it.
async fn retry_schedules(
    scheduler: &aws_sdk_scheduler::Client,
) -> Vec<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
    let listed = scheduler
        .list_schedules()
        .group_name(RETRY_GROUP)
        .send()
        .await
        .expect("ListSchedules");
    let mut out = Vec::new();
    for s in listed.schedules() {
        let got = scheduler
            .get_schedule()
            .group_name(RETRY_GROUP)
            .name(s.name().unwrap_or_default())
            .send()
            .await
            .expect("GetSchedule");
        out.push(got);
    }
    out
}

/// The time of an `at(yyyy-mm-ddThh:mm:ss)` expression (UTC), in seconds since the epoch.
fn at_time(expression: &str) -> i64 {
    let inner = expression
        .strip_prefix("at(")
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not an at() expression: {expression}"));
    aws_sdk_scheduler::primitives::DateTime::from_str(
        &format!("{inner}Z"),
        aws_sdk_scheduler::primitives::DateTimeFormat::DateTime,
    )
    .unwrap_or_else(|e| panic!("{expression}: {e}"))
    .secs()
}

#[tokio::test]
async fn a_member_role_not_deployed_yet_is_pending_and_retried_on_a_one_time_schedule_that_protects_it(
) {
    let (emu, seeded, env, scheduler) = retry_world(2).await;
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "not a failure: {}",
        stderr(&out)
    );
    let r = outcome(&responses(&out)[0], NEW, "us-east-1").clone();
    assert_eq!(r["outcome"], "role_pending", "{r}");
    assert!(
        emu.received_sns(&seeded.queue_url).await.is_empty(),
        "not a problem"
    );

    // One schedule, a few minutes ahead, that invokes the invite function for that account
    // once and is then deleted; a replay of the event schedules nothing more.
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let schedules = retry_schedules(&scheduler).await;
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    let s = &schedules[0];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let at = at_time(s.schedule_expression().unwrap_or_default());
    assert!(
        (now + 60..=now + 10 * 60).contains(&at),
        "{:?} is not a few minutes after {now}",
        s.schedule_expression()
    );
    assert_eq!(s.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        s.action_after_completion(),
        Some(&aws_sdk_scheduler::types::ActionAfterCompletion::Delete)
    );
    assert_eq!(
        s.flexible_time_window().map(|w| w.mode()),
        Some(&aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
    );
    let target = s.target().expect("target");
    assert_eq!(target.arn(), INVITE_FUNCTION);
    assert_eq!(target.role_arn(), SCHEDULER_ROLE);
    let input: Value = serde_json::from_str(target.input().unwrap_or_default()).expect("input");
    assert_eq!(input["detail-type"], "GuardDuty Invite Request", "{input}");
    assert_eq!(
        input["detail"]["accounts"],
        json!([{"accountId": NEW}]),
        "{input}"
    );

    // The StackSet reaches the account and GuardDuty has verified the email; the schedule
    // fires: the function runs with its input.
    deploy_member_role(&emu);
    emu.set_member_status("us-east-1", &seeded.detector("us-east-1"), NEW, "Invited");
    let fired = event_file(target.input().unwrap_or_default());
    let out = invoke(&env, &[&fired]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = outcome(&responses(&out)[0], NEW, "us-east-1").clone();
    assert_eq!(r["outcome"], "accepted", "{r}");
    assert_eq!(r["relationshipStatus"], "Enabled", "{r}");
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());
}

#[tokio::test]
async fn past_the_grace_a_missing_member_role_is_a_problem_and_no_retry_is_scheduled() {
    let (emu, seeded, env, scheduler) = retry_world(31).await;
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, "us-east-1")["outcome"],
        "problem"
    );
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1);
    let reason = sns_body(&messages[0])["problems"][0]["reason"].to_string();
    assert!(reason.contains("deploy/member-role.yaml"), "{reason}");
    assert!(retry_schedules(&scheduler).await.is_empty());
    assert!(emu.calls_of("CreateSchedule", None).is_empty());
}

#[tokio::test]
async fn an_old_account_without_the_role_is_still_a_problem() {
    let (emu, seeded) = role_world();
    new_account(&emu, &iso_minutes_ago(31));
    let env = with(
        emu.env(&seeded, &["us-east-1"]),
        &[("MEMBER_ROLE_NAME", ROLE)],
    );
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, "us-east-1")["outcome"],
        "problem"
    );
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1);
    let reason = sns_body(&messages[0])["problems"][0]["reason"].to_string();
    assert!(reason.contains("deploy/member-role.yaml"), "{reason}");
}

#[tokio::test]
async fn a_role_refused_by_the_function_s_own_policy_is_a_problem_at_once_with_its_own_fix() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &[]);
    new_account(&emu, &iso_minutes_ago(1));
    emu.control(
        "POST",
        "/_emulator/sts/deny-assume-role",
        Some(json!({"accountIds": [NEW], "reason": "identity-policy"})),
    );
    let env = with(
        emu.env(&seeded, &["us-east-1"]),
        &[("MEMBER_ROLE_NAME", ROLE)],
    );
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let messages = emu.received_sns(&seeded.queue_url).await;
    let reason = sns_body(&messages[0])["problems"][0]["reason"].to_string();
    assert!(
        reason.contains("OWN policy") && reason.contains("OrganizationId"),
        "{reason}"
    );
}

/// The sample as the management account's forwarding rule delivers it.
fn forwarded(name: &str) -> tempfile::TempPath {
    let mut event = sample_json(name);
    event["account"] = json!(MANAGEMENT);
    event_file(&event.to_string())
}

#[test]
fn forwarded_events_are_handled_as_the_originals_are() {
    for name in [
        CREATED,
        "controltower-create-managed-account.json",
        "controltower-update-managed-account.json",
        "organizations-create-account-result-failed.json",
    ] {
        let emu = Emulator::start();
        let seeded = emu.seed_demo_world();
        let env = emu.env(&seeded, &["us-east-1", "eu-west-1"]);
        let original = invoke(&env, &[&sample(name)]);
        assert_eq!(
            original.status.code(),
            Some(0),
            "{name}: {}",
            stderr(&original)
        );
        emu.control("POST", "/_emulator/reset", None);
        let seeded = emu.seed_demo_world();
        let env = emu.env(&seeded, &["us-east-1", "eu-west-1"]);
        let out = invoke(&env, &[&forwarded(name)]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        // The same, but for what differs between two emulators: event and detector ids.
        let strip = |v: &Value| {
            let mut v = v.clone();
            v["eventId"] = Value::Null;
            for a in v["accounts"].as_array_mut().into_iter().flatten() {
                for r in a["regions"].as_array_mut().into_iter().flatten() {
                    r["detectorId"] = Value::Null;
                }
            }
            v
        };
        assert_eq!(
            strip(&responses(&out)[0]),
            strip(&responses(&original)[0]),
            "{name}"
        );
    }
}

#[test]
fn an_account_that_joined_by_invitation_is_protected_by_the_reconcile_its_event_runs() {
    let emu = Emulator::start();
    let seeded = emu.seed_demo_world();
    let env = with(
        emu.env(&seeded, &["us-east-1", "eu-west-1"]),
        &[("MEMBER_ROLE_NAME", ROLE)],
    );
    let out = invoke(&env, &[&forwarded("organizations-account-joined.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = &responses(&out)[0];
    assert_eq!(summary["dryRun"], false, "a reconcile: {summary}");
    for region in ["us-east-1", "eu-west-1"] {
        let member = emu.member(region, &seeded.detector(region), JOINED);
        assert_eq!(
            member["relationshipStatus"], "Enabled",
            "{region}: {member}"
        );
    }
}

/// Whether an account is the organization's management account (whose regions ListRegions
/// cannot read) is asked of DescribeOrganization: throttling there on every attempt fails
/// the run to be retried, before anything is written in the opt-in region.
#[test]
fn describe_organization_throttled_fails_the_run_to_be_retried() {
    let (emu, _, env) = opt_in_world();
    emu.fault(json!({"operation": "DescribeOrganization", "kind": "throttle"}));
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        responses(&out)[0]["errorType"],
        "Organizations.DescribeOrganization.Transient"
    );
    assert!(emu.calls_of("CreateMembers", Some(OPT_IN)).is_empty());
}

/// DescribeOrganization refused for good (the role may not call it): the management account
/// is unknown, and the run goes on, checking the account's opt-in regions with ListRegions.
#[test]
fn describe_organization_refused_leaves_the_opt_in_regions_checked_and_the_run_going() {
    let (emu, _, env) = opt_in_world();
    emu.control(
        "POST",
        "/_emulator/deny",
        Some(json!({"accountId": "*", "service": "organizations", "operations": ["DescribeOrganization"]})),
    );
    let out = invoke(&env, &[&sample(CREATED)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = &responses(&out)[0];
    assert_eq!(outcome(r, NEW, "us-east-1")["outcome"], "invited");
    assert_eq!(outcome(r, NEW, OPT_IN)["outcome"], "region_not_enabled");
    assert_eq!(emu.calls_of("ListRegions", None).len(), 1);
}
