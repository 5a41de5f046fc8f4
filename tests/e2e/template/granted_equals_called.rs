//! Granted equals called: the functions' role grants every AWS call the function makes.
//!
//! The other IAM tests hold the template to the code's own list of actions (`aws::iam_actions`);
//! a call missing from that list would pass them. Here the list is what the emulator saw: under
//! each configuration that changes the role's policy, the function's environment is the one the
//! template gives it (`environment_under`), the real binary runs every sample in `events/`, a
//! reconcile and `check` against the emulator, and every operation in the emulator's call log
//! must be granted by the template under those parameter values: the calls made with the
//! function's own credentials by the functions' role, the calls made in a member account with
//! the assumed role by `deploy/member-role.yaml`'s role. The actions granted and never called
//! are printed per configuration.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{
    defaults_of, environment_under, granted_actions_under, load, only_resource_of_type,
    refusing_rule, role_name, template, with, Params, MEMBER_ROLE,
};
use crate::support::{self, Emulator, ADMIN_ACCOUNT};

/// The IAM prefix of a SigV4 signing name where they differ (the emulator's `IAM_PREFIXES`).
const IAM_PREFIXES: &[(&str, &str)] = &[("monitoring", "cloudwatch"), ("email", "ses")];

/// Actions a call needs besides its own: CreateSchedule passes the scheduler's execution role
/// (AWS's AmazonEventBridgeSchedulerFullAccess grants `iam:PassRole` with it), and the first
/// CreateDetector in an account creates GuardDuty's service-linked role (AmazonGuardDutyFullAccess
/// grants `iam:CreateServiceLinkedRole` with it).
const IMPLIED: &[(&str, &str)] = &[
    ("scheduler:CreateSchedule", "iam:PassRole"),
    ("guardduty:CreateDetector", "iam:CreateServiceLinkedRole"),
];

/// Calls that need no permission. GetCallerIdentity (STS API Reference): "No permissions are
/// required to perform this operation."
const NEEDS_NO_PERMISSION: &[&str] = &["sts:GetCallerIdentity"];

const DEMO_REGIONS: &str = "us-east-1,eu-west-1";
const OPT_IN: &str = "af-south-1";
const ROLE: &str = "GuardDutyInviteMember";
const POLICY_PARAMETER: &str = "/guardduty-invite/protection-policy";
const EXISTING_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:security-alerts";
/// The demo world's accounts the scenario changes by hand: one that joined by invitation and
/// one outside the organization that the manual request invites.
const JOINED: &str = "333344445555";
const PARTNER: &str = "555566667777";
const NEW: &str = "111122223333";
/// An account that joined two minutes ago, whose member role is not deployed yet.
const LATE: &str = "666677778888";

/// What a configuration turns on, so that the scenario can be shown to exercise it.
#[derive(Default)]
struct Exercises {
    member_role: bool,
    plans: bool,
    policy: bool,
    security_hub: bool,
    coverage: bool,
    opt_in: bool,
}

/// The configurations tried: each optional part of the role's policy on in at least one, off
/// in at least one, with and without a member role.
fn configurations() -> Vec<(&'static str, Params, Exercises)> {
    let d = with(
        &defaults_of(template()),
        &[("GuardDutyRegions", DEMO_REGIONS)],
    );
    let role = [
        ("MemberRoleName", ROLE),
        ("OrganizationId", "o-exampleorg1"),
    ];
    let opt_in_regions = format!("{DEMO_REGIONS},{OPT_IN}");
    vec![
        (
            "the defaults",
            d.clone(),
            Exercises {
                coverage: true,
                ..Default::default()
            },
        ),
        (
            "nothing optional, an existing topic",
            with(
                &d,
                &[
                    ("CoverageReports", "false"),
                    ("ExistingTopicArn", EXISTING_TOPIC),
                ],
            ),
            Exercises::default(),
        ),
        (
            "member role with retries, plans, Security Hub, coverage, an opt-in region",
            with(
                &with(&d, &role),
                &[
                    ("MemberFeatures", "S3_DATA_EVENTS,RUNTIME_MONITORING"),
                    ("SecurityHubFindings", "true"),
                    ("GuardDutyRegions", &opt_in_regions),
                ],
            ),
            Exercises {
                member_role: true,
                plans: true,
                security_hub: true,
                coverage: true,
                opt_in: true,
                ..Default::default()
            },
        ),
        (
            "member role with retries, protection policy",
            with(
                &with(&d, &role),
                &[
                    ("ProtectionPolicyParameter", POLICY_PARAMETER),
                    ("CoverageReports", "false"),
                ],
            ),
            Exercises {
                member_role: true,
                plans: true,
                policy: true,
                ..Default::default()
            },
        ),
        (
            "plans without a member role, Security Hub, an opt-in region",
            with(
                &d,
                &[
                    ("MemberFeatures", "S3_DATA_EVENTS"),
                    ("SecurityHubFindings", "true"),
                    ("CoverageReports", "false"),
                    ("GuardDutyRegions", &opt_in_regions),
                ],
            ),
            Exercises {
                plans: true,
                security_hub: true,
                opt_in: true,
                ..Default::default()
            },
        ),
        (
            "protection policy without a member role, coverage",
            with(&d, &[("ProtectionPolicyParameter", POLICY_PARAMETER)]),
            Exercises {
                plans: true,
                policy: true,
                coverage: true,
                ..Default::default()
            },
        ),
    ]
}

fn variable<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn iso_minutes_ago(minutes: u64) -> String {
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(minutes * 60);
    aws_sdk_guardduty::primitives::DateTime::from(t)
        .fmt(aws_sdk_guardduty::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default()
}

/// The demo world, plus what the environment names (the topic, the coverage bucket, the
/// schedule group, the policy, a detector in each region) and the cases that make the rarer
/// calls: a late member role (a retry schedule), an account with its own suspended detector
/// and an account that enabled the opt-in region.
async fn prepare(emu: &Emulator, env: &[(String, String)]) -> support::Seeded {
    emu.control("POST", "/_emulator/reset", None);
    let seeded = emu.seed_demo_world();
    let sdk = emu.sdk_config().await;
    if let Some(arn) = variable(env, "SNS_TOPIC_ARN") {
        let name = arn.rsplit(':').next().unwrap_or_default();
        let sns = aws_sdk_sns::Client::new(&sdk);
        sns.create_topic().name(name).send().await.expect("topic");
    }
    if let Some(bucket) = variable(env, "COVERAGE_BUCKET") {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("bucket");
    }
    if let Some(group) = variable(env, "RETRY_SCHEDULE_GROUP") {
        let scheduler = aws_sdk_scheduler::Client::new(&sdk);
        let created = scheduler.create_schedule_group().name(group).send().await;
        created.expect("schedule group");
    }
    if let Some(name) = variable(env, "PROTECTION_POLICY_PARAMETER") {
        put_policy(&sdk, name).await;
    }
    let regions = variable(env, "GUARDDUTY_REGIONS").unwrap_or_default();
    if regions.split(',').any(|r| r == OPT_IN) {
        let config = aws_sdk_guardduty::config::Builder::from(&sdk)
            .region(aws_sdk_guardduty::config::Region::new(OPT_IN))
            .build();
        let guardduty = aws_sdk_guardduty::Client::from_conf(config);
        let created = guardduty.create_detector().enable(true).send().await;
        created.expect("detector in the opt-in region");
        emu.control(
            "POST",
            "/_emulator/account/regions",
            Some(json!({"accountId": NEW, "regions": {OPT_IN: "ENABLED"}})),
        );
    }
    suspended_detector(&sdk, NEW).await;
    emu.control(
        "POST",
        "/_emulator/organizations/accounts",
        Some(
            json!({"accountId": LATE, "email": "late@example.com", "name": "Late",
                    "joinedAt": iso_minutes_ago(2)}),
        ),
    );
    emu.control(
        "POST",
        "/_emulator/sts/deny-assume-role",
        Some(json!({"accountIds": [LATE]})),
    );
    emu.clear_calls();
    seeded
}

/// A detector of the account's own in us-east-1, suspended: the member role resumes it.
async fn suspended_detector(sdk: &aws_config::SdkConfig, account: &str) {
    let assumed = aws_sdk_sts::Client::new(sdk)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{ROLE}"))
        .role_session_name("tests")
        .send()
        .await
        .expect("AssumeRole");
    let c = assumed.credentials().expect("credentials");
    let conf = aws_sdk_guardduty::config::Builder::from(sdk)
        .credentials_provider(aws_sdk_guardduty::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "tests",
        ))
        .build();
    let created = aws_sdk_guardduty::Client::from_conf(conf)
        .create_detector()
        .enable(false)
        .send()
        .await;
    created.expect("CreateDetector");
}

/// A policy with a rule on the demo world's OU, so that accounts are placed in their OU.
async fn put_policy(sdk: &aws_config::SdkConfig, name: &str) {
    let organizations = aws_sdk_organizations::Client::new(sdk);
    let roots = organizations.list_roots().send().await.expect("ListRoots");
    let root = roots.roots()[0].id().unwrap_or_default().to_owned();
    let ous = organizations
        .list_organizational_units_for_parent()
        .parent_id(root)
        .send()
        .await
        .expect("ListOrganizationalUnitsForParent");
    let ou = ous.organizational_units()[0].id().unwrap_or_default();
    let policy = format!(
        "default:\n  plans: [S3_DATA_EVENTS]\nrules:\n  - match: {{ou: {ou}}}\n    plans: [S3_DATA_EVENTS, EBS_MALWARE_PROTECTION]\n"
    );
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(name)
        .value(policy)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("PutParameter");
}

/// Every sample in `events/` and a manual request for the late account through `invoke`; a
/// member whose monitoring was stopped and one enabled outside the function; a reconcile that
/// starts the first and sets the plans on the second; `check`. Each run's exit status, named.
fn run_scenario(
    emu: &Emulator,
    seeded: &support::Seeded,
    env: &[(String, String)],
) -> Vec<(&'static str, Option<i32>, String)> {
    let mut files: Vec<std::path::PathBuf> = support::samples()
        .into_iter()
        .map(|(name, _)| support::sample(&name))
        .collect();
    let late = support::event_file(&support::manual_request(
        "late-member-role",
        json!([{"accountId": LATE}]),
    ));
    files.push(late.to_path_buf());
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let invoked = support::invoke(env, &paths);
    let detector = seeded.detector("us-east-1");
    emu.set_member_status("us-east-1", &detector, JOINED, "Disabled");
    emu.set_member_status("us-east-1", &detector, PARTNER, "Enabled");
    let (reconciled, _) = support::reconcile(env, false);
    let checked = support::run_binary(env, &["check"]);
    [
        ("invoke", invoked),
        ("reconcile", reconciled),
        ("check", checked),
    ]
    .into_iter()
    .map(|(what, out)| (what, out.status.code(), support::stderr(&out)))
    .collect()
}

/// The IAM action of a logged call.
/// Operations whose IAM action has another name. ListObjectsV2 (S3 API Reference): "you must
/// have permission to perform the s3:ListBucket action."
const ACTION_OF_OPERATION: &[(&str, &str)] = &[("s3:ListObjectsV2", "s3:ListBucket")];

fn action(call: &Value) -> String {
    let named = operation_action(call);
    ACTION_OF_OPERATION
        .iter()
        .find(|(op, _)| *op == named)
        .map_or(named.clone(), |(_, a)| (*a).to_owned())
}

fn operation_action(call: &Value) -> String {
    let service = call["service"].as_str().unwrap_or_default();
    let prefix = IAM_PREFIXES
        .iter()
        .find(|(s, _)| *s == service)
        .map_or(service, |(_, p)| *p);
    format!(
        "{prefix}:{}",
        call["operation"].as_str().unwrap_or_default()
    )
}

/// The actions these calls need: their own and those they imply.
fn needed(calls: &[&Value]) -> BTreeSet<String> {
    let mut actions: BTreeSet<String> = calls
        .iter()
        .map(|c| action(c))
        .filter(|a| !NEEDS_NO_PERMISSION.contains(&a.as_str()))
        .collect();
    for (call, implied) in IMPLIED {
        if actions.contains(*call) {
            actions.insert((*implied).to_owned());
        }
    }
    actions
}

/// The actions a configuration must have made the function call: each part it turns on.
fn markers(on: &Exercises) -> Vec<&'static str> {
    [
        (on.member_role, "sts:AssumeRole"),
        (on.member_role, "scheduler:CreateSchedule"),
        (on.plans, "guardduty:UpdateMemberDetectors"),
        (on.policy, "ssm:GetParameter"),
        (on.policy, "organizations:ListParents"),
        (on.security_hub, "securityhub:BatchImportFindings"),
        (on.coverage, "s3:PutObject"),
        (on.opt_in, "account:ListRegions"),
        (true, "guardduty:StartMonitoringMembers"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, a)| a)
    .collect()
}

fn member_role_grants() -> BTreeSet<String> {
    let t = load(MEMBER_ROLE);
    let role = only_resource_of_type(t, "AWS::IAM::Role").0;
    granted_actions_under(t, role, &defaults_of(t))
}

#[test]
fn every_call_the_function_makes_is_granted_by_the_template_under_each_configuration() {
    let member_granted = member_role_grants();
    // Each configuration in a world of its own, all at once: one after another they made
    // this one of the suite's longest tests.
    let examined: Vec<(Vec<String>, BTreeSet<String>)> = std::thread::scope(|scope| {
        let running: Vec<_> = configurations()
            .into_iter()
            .map(|(name, params, exercises)| {
                let member_granted = &member_granted;
                scope.spawn(move || examine(name, &params, &exercises, member_granted))
            })
            .collect();
        running
            .into_iter()
            .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut failures = Vec::new();
    let mut member_called = BTreeSet::new();
    for (failed, member_needed) in examined {
        failures.extend(failed);
        member_called.extend(member_needed);
    }
    let unused: Vec<&String> = member_granted.difference(&member_called).collect();
    eprintln!("member role: granted and never called: {unused:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// One configuration's scenario in a fresh world: what its calls need that the template does
/// not grant (or that it never called although it should have), and the member-side actions
/// it needed.
fn examine(
    name: &str,
    params: &Params,
    exercises: &Exercises,
    member_granted: &BTreeSet<String>,
) -> (Vec<String>, BTreeSet<String>) {
    let emu = Emulator::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut failures = Vec::new();
    assert_eq!(refusing_rule(template(), params), None, "{name}");
    let mut env = environment_under(params);
    env.extend(
        [
            ("AWS_ENDPOINT_URL", emu.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let seeded = runtime.block_on(prepare(&emu, &env));
    let ran = run_scenario(&emu, &seeded, &env);
    // A failed run is not this test's concern (the markers below show the scenario did its
    // work); it is shown, with its last lines, to explain a missing marker.
    for (what, code, stderr) in &ran {
        if *code != Some(0) {
            let errors: Vec<&str> = stderr
                .lines()
                .filter(|l| !["INFO", "WARN"].contains(&l.split_whitespace().next().unwrap_or("")))
                .collect();
            eprintln!("{name}: {what} exited {code:?}: {errors:?}");
        }
    }
    let calls = emu.calls();
    let (own, member): (Vec<&Value>, Vec<&Value>) =
        calls.iter().partition(|c| c["account"] == ADMIN_ACCOUNT);
    let called = needed(&own);
    let granted = granted_actions_under(template(), role_name(), params);
    let missing: Vec<&String> = called.difference(&granted).collect();
    if !missing.is_empty() {
        failures.push(format!(
            "{name}: the functions' role does not grant {missing:?}, which the function called"
        ));
    }
    let member_needed = needed(&member);
    let missing: Vec<&String> = member_needed.difference(member_granted).collect();
    if !missing.is_empty() {
        failures.push(format!(
            "{name}: the member role does not grant {missing:?}, which the function called in a member account"
        ));
    }
    let unexercised: Vec<&str> = markers(exercises)
        .into_iter()
        .filter(|a| !called.contains(*a))
        .collect();
    if !unexercised.is_empty() {
        failures.push(format!(
            "{name}: the scenario never called {unexercised:?}: it does not exercise the configuration"
        ));
    }
    let unused: Vec<&String> = granted.difference(&called).collect();
    eprintln!("{name}: granted and never called: {unused:?}");
    (failures, member_needed)
}
