//! End to end over loopback: the protection policy in Parameter Store gives each account the
//! plans of its OU (or of a rule naming it), exceptions leave accounts alone until they end
//! and are then reported, every bad policy is one clear error before any change, and
//! `check --policy` shows how the policy applies.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::*;
use serde_json::{json, Value};

const REGION: &str = "us-east-1";
const PARAMETER: &str = "/guardduty-invite/policy";
const PROD: &str = "444400000001";
const SANDBOX: &str = "444400000002";
const SANDBOX_CHILD: &str = "444400000003";
const DEV: &str = "444400000004";
const ROOT: &str = "444400000005";
const EXCEPTED: &str = "444400000006";

/// The organization: prod, sandbox (with a child OU) and dev, and accounts in each; every
/// account an Enabled member with EKS audit logs on.
struct World {
    emu: Emulator,
    seeded: Seeded,
    ous: BTreeMap<&'static str, String>,
}

fn ou(emu: &Emulator, name: &str, parent: Option<&str>) -> String {
    let mut body = json!({ "name": name });
    if let Some(p) = parent {
        body["parentId"] = json!(p);
    }
    emu.control("POST", "/_emulator/organizations/ous", Some(body))["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn world() -> World {
    let emu = Emulator::start();
    let seeded = emu.seed(&[REGION], &[], &[]);
    let prod = ou(&emu, "prod", None);
    let sandbox = ou(&emu, "sandbox", None);
    let child = ou(&emu, "sandbox-child", Some(&sandbox));
    let dev = ou(&emu, "dev", None);
    let placed = [
        (PROD, Some(&prod)),
        (SANDBOX, Some(&sandbox)),
        (SANDBOX_CHILD, Some(&child)),
        (DEV, Some(&dev)),
        (ROOT, None),
        (EXCEPTED, Some(&prod)),
    ];
    for (id, parent) in placed {
        let mut a = json!({"accountId": id, "email": format!("a{id}@example.com"), "name": format!("n{id}")});
        if let Some(p) = parent {
            a["parentId"] = json!(p);
        }
        emu.control("POST", "/_emulator/organizations/accounts", Some(a));
        emu.put_member(&seeded, REGION, id, "Enabled", None);
        emu.set_plan(REGION, id, "EKS_AUDIT_LOGS", "ENABLED");
    }
    emu.clear_calls();
    let ous = BTreeMap::from([
        ("prod", prod),
        ("sandbox", sandbox),
        ("child", child),
        ("dev", dev),
    ]);
    World { emu, seeded, ous }
}

impl World {
    fn policy(&self, until: &str) -> String {
        format!(
            r#"
default:
  plans: [S3_DATA_EVENTS, RUNTIME_MONITORING]
rules:
  - match: {{account: "{EXCEPTED}"}}
    except: {{owner: payments-platform, reason: "vendor appliance", until: {until}}}
  - match: {{ou: {sandbox}}}
    plans: [S3_DATA_EVENTS]
    off: [EKS_AUDIT_LOGS]
  - match: {{ou: {dev}}}
    plans: [S3_DATA_EVENTS, EBS_MALWARE_PROTECTION]
"#,
            sandbox = self.ous["sandbox"],
            dev = self.ous["dev"],
        )
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.emu.env(&self.seeded, &[REGION]);
        env.push(("PROTECTION_POLICY_PARAMETER".into(), PARAMETER.into()));
        env
    }

    fn features(&self, account: &str) -> Value {
        self.emu
            .member(REGION, &self.seeded.detector(REGION), account)["features"]
            .clone()
    }
}

async fn put_policy(emu: &Emulator, text: &str) {
    emu.put_parameter(PARAMETER, text, aws_sdk_ssm::types::ParameterType::String)
        .await;
}

/// The UTC date `days` from today, as YYYY-MM-DD.
fn days_from_now(days: i64) -> String {
    let today = guardduty_invite::policy::Date::of(std::time::SystemTime::now());
    guardduty_invite::policy::Date::from_days(today.days() + days).to_string()
}

/// Drift entries by account: the kind of each (an account listed twice fails).
fn drift_by_account(drift: &[Value]) -> BTreeMap<String, String> {
    let mut by = BTreeMap::new();
    for d in drift {
        let account = d["accountId"].as_str().unwrap_or_default().to_owned();
        let kind = d["kind"].as_str().unwrap_or_default().to_owned();
        assert!(by.insert(account, kind).is_none(), "twice: {drift:?}");
    }
    by
}

async fn put_secure_policy(emu: &Emulator, text: &str) {
    emu.put_parameter(
        PARAMETER,
        text,
        aws_sdk_ssm::types::ParameterType::SecureString,
    )
    .await;
}

fn touched(emu: &Emulator) -> BTreeSet<String> {
    emu.calls()
        .iter()
        .filter(|c| c["operation"] != "GetMembers" && c["operation"] != "GetMemberDetectors")
        .flat_map(|c| c["accountIds"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn each_ou_gets_its_plans_and_off_plans_are_turned_off_only_where_on() {
    let w = world();
    put_policy(&w.emu, &w.policy(&days_from_now(90))).await;
    let (out, summary) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for id in [PROD, ROOT] {
        let f = w.features(id);
        assert_eq!(f["S3_DATA_EVENTS"], "ENABLED", "{id}: {f}");
        assert_eq!(f["RUNTIME_MONITORING"], "ENABLED", "{id}: {f}");
        assert_eq!(f["EKS_AUDIT_LOGS"], "ENABLED", "left alone: {f}");
    }
    for id in [SANDBOX, SANDBOX_CHILD] {
        let f = w.features(id);
        assert_eq!(f["S3_DATA_EVENTS"], "ENABLED", "{id}: {f}");
        assert_eq!(
            f["EKS_AUDIT_LOGS"], "DISABLED",
            "{id}, the OU or below: {f}"
        );
        assert!(f.get("RUNTIME_MONITORING").is_none(), "{id}: {f}");
    }
    let f = w.features(DEV);
    assert_eq!(f["EBS_MALWARE_PROTECTION"], "ENABLED", "{f}");
    let r = region_summary(&summary, REGION);
    assert_eq!(r["protectedAccounts"], 5, "{r}");
    assert_eq!(r["accounts"], 5, "the excepted account is not counted: {r}");
    assert_eq!(r["excepted"], 1, "{r}");
    // One UpdateMemberDetectors per distinct change in the batch: prod and root share one.
    assert_eq!(w.emu.calls_of("UpdateMemberDetectors", None).len(), 3);

    // Plans turned off by the policy are reported as drift (plans_turned_off) for each
    // account whose EKS audit logs the sandbox's plan turned off; the accounts whose plans
    // were off before this first run are drift of the other kind; the excepted one is none.
    let drift = sns_entries(&w.emu.received_sns(&w.seeded.queue_url).await, "drift");
    assert_eq!(summary["drift"], 5, "{summary} {drift:?}");
    let kinds = |ids: &[&str], kind: &str| {
        ids.iter()
            .map(|id| (id.to_string(), kind.to_owned()))
            .collect::<Vec<_>>()
    };
    let want: BTreeMap<String, String> = kinds(&[SANDBOX, SANDBOX_CHILD], "plans_turned_off")
        .into_iter()
        .chain(kinds(&[PROD, ROOT, DEV], "plans_off"))
        .collect();
    assert_eq!(drift_by_account(&drift), want, "{drift:?}");
    for d in drift.iter().filter(|d| d["kind"] == "plans_turned_off") {
        assert!(
            d["found"]
                .as_str()
                .is_some_and(|f| f.contains("EKS_AUDIT_LOGS")),
            "{d}"
        );
    }

    // A second run has nothing to change.
    w.emu.clear_calls();
    let (out, _) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(w.emu.writes().is_empty(), "{:?}", w.emu.writes());
}

#[tokio::test]
async fn an_account_moved_to_another_ou_gets_its_new_plan_and_the_plan_turned_off_is_drift() {
    let w = world();
    put_policy(&w.emu, &w.policy(&days_from_now(90))).await;
    let (out, _) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(w.features(PROD)["EKS_AUDIT_LOGS"], "ENABLED");
    let _ = w.emu.received_sns(&w.seeded.queue_url).await;

    // Someone moves the production account into the sandbox OU.
    let sdk = w.emu.sdk_config().await;
    aws_sdk_organizations::Client::new(&sdk)
        .move_account()
        .account_id(PROD)
        .source_parent_id(&w.ous["prod"])
        .destination_parent_id(&w.ous["sandbox"])
        .send()
        .await
        .expect("MoveAccount");
    w.emu.clear_calls();

    let (out, summary) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let f = w.features(PROD);
    assert_eq!(f["EKS_AUDIT_LOGS"], "DISABLED", "the sandbox's plan: {f}");
    assert_eq!(
        f["RUNTIME_MONITORING"], "ENABLED",
        "not named, left alone: {f}"
    );
    assert_eq!(touched(&w.emu), BTreeSet::from([PROD.to_owned()]));
    assert_eq!(summary["drift"], 1, "{summary}");
    let messages = w.emu.received_sns(&w.seeded.queue_url).await;
    let drift = sns_entries(&messages, "drift");
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["accountId"], PROD);
    assert_eq!(drift[0]["kind"], "plans_turned_off");
    assert!(
        drift[0]["found"]
            .as_str()
            .is_some_and(|f| f.contains("EKS_AUDIT_LOGS")),
        "{drift:?}"
    );
}

#[tokio::test]
async fn an_exception_leaves_the_account_alone_then_its_end_is_reported_to_its_owner() {
    let w = world();
    // The excepted account has left the administrator: any other account would be invited
    // again and reported as drift.
    let detector = w.seeded.detector(REGION);
    w.emu
        .set_member_status(REGION, &detector, EXCEPTED, "Resigned");
    put_policy(&w.emu, &w.policy(&days_from_now(10))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let csv_path = dir.path().join("c.csv");
    let out = run_binary(
        &w.env(),
        &[
            "reconcile",
            "--coverage",
            csv_path.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(!touched(&w.emu).contains(EXCEPTED), "{:?}", touched(&w.emu));
    assert_eq!(
        w.emu.member(REGION, &detector, EXCEPTED)["relationshipStatus"],
        "Resigned",
        "left alone"
    );
    assert_eq!(summary["expiring"][0]["accountId"], EXCEPTED, "{summary}");
    assert_eq!(summary["expiring"][0]["owner"], "payments-platform");
    let csv = std::fs::read_to_string(&csv_path).expect("csv");
    let row = csv
        .lines()
        .find(|l| l.starts_with(EXCEPTED))
        .unwrap_or_default()
        .to_owned();
    assert!(
        row.contains("not counted") && row.contains("payments-platform,vendor appliance,"),
        "{row}"
    );
    // The reconcile published drift for the others: the loop has messages to look through.
    let messages = w.emu.received_sns(&w.seeded.queue_url).await;
    assert!(!messages.is_empty(), "nothing published to look through");
    for m in messages {
        let body = sns_body(&m);
        assert!(!body["problems"].to_string().contains(EXCEPTED), "{body}");
        assert!(!body["drift"].to_string().contains(EXCEPTED), "{body}");
    }

    // An event for the excepted account leaves it alone too.
    w.emu.clear_calls();
    let event = event_file(&manual_request(
        "e-excepted",
        json!([{"accountId": EXCEPTED, "email": format!("a{EXCEPTED}@example.com")}]),
    ));
    let out = invoke(&w.env(), &[&event]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let response = responses(&out).into_iter().next().unwrap_or(Value::Null);
    assert_eq!(
        outcome(&response, EXCEPTED, REGION)["outcome"],
        "excepted",
        "{response}"
    );
    assert!(!touched(&w.emu).contains(EXCEPTED), "{:?}", touched(&w.emu));
    assert!(w.emu.received_sns(&w.seeded.queue_url).await.is_empty());

    // The exception has ended: a problem naming the owner, and the account gets its plans.
    w.emu
        .set_member_status(REGION, &detector, EXCEPTED, "Enabled");
    put_policy(&w.emu, &w.policy(&days_from_now(-1))).await;
    let (out, _) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let problems = sns_entries(&w.emu.received_sns(&w.seeded.queue_url).await, "problems");
    let ended: Vec<&Value> = problems
        .iter()
        .filter(|p| p["accountId"] == EXCEPTED)
        .collect();
    assert_eq!(ended.len(), 1, "{problems:?}");
    assert!(
        ended[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("owner payments-platform") && r.contains("ended")),
        "{}",
        ended[0]
    );
    assert_eq!(w.features(EXCEPTED)["S3_DATA_EVENTS"], "ENABLED");
}

#[tokio::test]
async fn every_bad_policy_is_one_clear_error_before_any_change() {
    let w = world();
    let sandbox = w.ous["sandbox"].clone();
    let cases = [
        ("default: {plans: [S3_DATA_EVENT]}", "default.plans"),
        ("default: {plans: [RUNTIME_MONITORING], agents: [EC2_AGENT]}", "default.agents"),
        ("rules:\n  - match: {ou: ou-zzzz-nonexist}\n    plans: [S3_DATA_EVENTS]\n", "rules[0].match.ou"),
        ("rules:\n  - match: {account: \"444400000006\"}\n    except: {owner: a, reason: b, until: soon}\n", "rules[0].except.until"),
        ("default: {plans: [RUNTIME_MONITORING, EKS_RUNTIME_MONITORING]}", "cannot be enabled together"),
        (&*format!("rules:\n  - match: {{ou: {sandbox}}}\n    plans: [S3_DATA_EVENTS]\n    color: red\n"), "unknown field `color`"),
    ];
    for (text, names) in cases {
        put_policy(&w.emu, text).await;
        w.emu.clear_calls();
        let (out, error) = reconcile(&w.env(), false);
        assert_eq!(out.status.code(), Some(1), "{text}: {}", stderr(&out));
        assert_eq!(error["errorType"], "InvalidPolicy", "{text}: {error}");
        let message = error["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains(names) && message.contains(PARAMETER),
            "{text}: {message}"
        );
        assert!(w.emu.writes().is_empty(), "{text}: {:?}", w.emu.writes());
        // An event fails the same way, before any call but reading the policy.
        let out = invoke(
            &w.env(),
            &[&sample(
                "organizations-create-account-result-succeeded.json",
            )],
        );
        assert_eq!(responses(&out)[0]["errorType"], "InvalidPolicy", "{text}");
    }
}

#[test]
fn a_policy_that_cannot_be_read_says_why_and_only_throttling_is_passing() {
    let w = world();
    let (out, error) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(error["errorType"], "PolicyUnreadable", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("no such parameter")),
        "{error}"
    );

    w.emu.control(
        "POST",
        "/_emulator/deny",
        Some(json!({"accountId": "*", "operations": ["GetParameter"]})),
    );
    let (_, error) = reconcile(&w.env(), false);
    assert_eq!(error["errorType"], "PolicyUnreadable", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("ssm:GetParameter")),
        "{error}"
    );
    w.emu.control("DELETE", "/_emulator/deny", None);
    w.emu.control(
        "POST",
        "/_emulator/deny",
        Some(json!({"accountId": "*", "operations": ["GetParameter"], "status": 400, "message": "User is not authorized to perform kms:Decrypt on the key"})),
    );
    let (_, error) = reconcile(&w.env(), false);
    assert_eq!(error["errorType"], "PolicyUnreadable", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("KMS key")),
        "{error}"
    );
    w.emu.control("DELETE", "/_emulator/deny", None);

    w.emu
        .fault(json!({"operation": "GetParameter", "kind": "throttle"}));
    let (_, error) = reconcile(&w.env(), false);
    assert_eq!(error["errorType"], "SSM.GetParameter.Transient", "{error}");

    let mut both = w.env();
    both.push(("MEMBER_FEATURES".into(), "S3_DATA_EVENTS".into()));
    let out = run_binary(&both, &["reconcile"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a start-up error: {}",
        stderr(&out)
    );
}

#[tokio::test]
async fn an_event_walks_the_account_s_ous_only_when_a_rule_names_an_ou() {
    let w = world();
    put_policy(&w.emu, &w.policy(&days_from_now(90))).await;
    let event = event_file(&manual_request(
        "one",
        json!([{"accountId": SANDBOX_CHILD, "email": format!("a{SANDBOX_CHILD}@example.com")}]),
    ));
    let out = invoke(&w.env(), &[&event]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!w.emu.calls_of("ListParents", None).is_empty());
    assert_eq!(w.features(SANDBOX_CHILD)["EKS_AUDIT_LOGS"], "DISABLED");

    put_policy(&w.emu, "default: {plans: [S3_DATA_EVENTS]}").await;
    w.emu.clear_calls();
    // A new process: the policy is read once per process.
    let out = invoke(&w.env(), &[&event]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(w.emu.calls_of("ListParents", None).is_empty());
}

#[tokio::test]
async fn an_account_outside_the_organization_gets_the_default_plan_under_ou_rules() {
    let w = world();
    put_policy(&w.emu, &w.policy(&days_from_now(90))).await;
    // Organizations does not know it (ListParents: ChildNotFoundException): no OU can match,
    // so the default plan applies; it is not a failure of the run.
    let outside = "777700000001";
    let event = event_file(&manual_request(
        "outside",
        json!([{"accountId": outside, "email": "outside@example.com"}]),
    ));
    let out = invoke(&w.env(), &[&event]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(w.emu.calls_of("ListParents", None).len(), 1);
    assert_eq!(
        outcome(&responses(&out)[0], outside, REGION)["outcome"],
        "invited"
    );
    assert!(w.emu.received_sns(&w.seeded.queue_url).await.is_empty());
}

#[tokio::test]
async fn check_policy_shows_each_rule_s_accounts_and_warns_of_a_rule_that_matches_none() {
    let w = world();
    let text = w.policy(&days_from_now(90))
        + "  - match: {account: \"999999999999\"}\n    plans: [S3_DATA_EVENTS]\n";
    put_policy(&w.emu, &text).await;
    let written = w.emu.writes();
    let out = run_binary(&w.env(), &["check", "--json", "--policy"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let lines: Vec<&Value> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["check"] == "policy rules")
        .collect();
    let details: Vec<String> = lines
        .iter()
        .map(|l| format!("{} {}", l["verdict"], l["detail"]))
        .collect();
    let text = details.join("\n");
    assert!(
        text.contains(&format!(
            "rules[1] (ou {}): 2 account(s): plans S3_DATA_EVENTS; off EKS_AUDIT_LOGS",
            w.ous["sandbox"]
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "rules[0] (account 444400000006): 1 account(s): excepted (owner payments-platform"
        ),
        "{text}"
    );
    assert!(
        text.contains("default: 2 account(s): plans S3_DATA_EVENTS, RUNTIME_MONITORING"),
        "{text}"
    );
    assert!(
        text.contains("\"warning\" \"rules[3] (account 999999999999): 0 account(s)"),
        "{text}"
    );
    assert_eq!(w.emu.writes(), written, "check --policy only reads");
}

#[tokio::test]
async fn five_thousand_accounts_under_ou_rules_in_calls_stated_per_region() {
    let emu = Emulator::start();
    let seeded = emu.seed(&[REGION], &[], &[]);
    let ous: Vec<String> = (0..5).map(|i| ou(&emu, &format!("ou{i}"), None)).collect();
    let accounts: Vec<Value> = (0..5000)
        .map(|i| {
            json!({"accountId": format!("{:012}", 600_000_000_000u64 + i), "email": format!("a{i}@example.com"),
                   "name": format!("n{i}"), "parentId": ous[i as usize % 5]})
        })
        .collect();
    emu.control(
        "POST",
        "/_emulator/organizations/accounts",
        Some(json!({ "accounts": accounts })),
    );
    emu.control(
        "POST",
        "/_emulator/guardduty/member-limit",
        Some(json!({"limit": 50000})),
    );
    let policy = format!(
        "default: {{plans: [S3_DATA_EVENTS]}}\nrules:\n  - match: {{ou: {}}}\n    plans: [EBS_MALWARE_PROTECTION]\n",
        ous[0]
    );
    put_policy(&emu, &policy).await;
    emu.clear_calls();
    let mut env = emu.env(&seeded, &[REGION]);
    env.push(("PROTECTION_POLICY_PARAMETER".into(), PARAMETER.into()));
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(region_summary(&summary, REGION)["invitedNow"], 5000);
    let calls = |op: &str| emu.calls_of(op, None).len();
    // The tree: one root and five OUs, each a page of OUs and 1,000 / 20 pages of accounts.
    assert_eq!(calls("ListOrganizationalUnitsForParent"), 6);
    assert_eq!(calls("ListAccountsForParent"), 1 + 5 * 50);
    // 100 batches of 50, none a member yet: add, read the added, invite, read after.
    assert_eq!(calls("CreateMembers"), 100);
    assert_eq!(calls("InviteMembers"), 100);
    assert_eq!(calls("GetMembers"), 200);
}

#[tokio::test]
async fn an_account_two_rules_match_gets_the_first_rule_s_plan() {
    let w = world();
    // DEV is named by an account rule and by its OU's rule; SANDBOX_CHILD is under both the
    // sandbox OU and its child OU. The rule written first wins, not the more specific one.
    let policy = format!(
        r#"
default:
  plans: [S3_DATA_EVENTS]
rules:
  - match: {{account: "{DEV}"}}
    plans: [LAMBDA_NETWORK_LOGS]
  - match: {{ou: {dev}}}
    plans: [EBS_MALWARE_PROTECTION]
  - match: {{ou: {sandbox}}}
    plans: [RDS_LOGIN_EVENTS]
  - match: {{ou: {child}}}
    plans: [EBS_MALWARE_PROTECTION]
"#,
        dev = w.ous["dev"],
        sandbox = w.ous["sandbox"],
        child = w.ous["child"],
    );
    put_policy(&w.emu, &policy).await;
    let (out, summary) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let f = w.features(DEV);
    assert_eq!(f["LAMBDA_NETWORK_LOGS"], "ENABLED", "the account rule: {f}");
    for other in ["EBS_MALWARE_PROTECTION", "S3_DATA_EVENTS"] {
        assert!(f.get(other).is_none(), "{other} is not DEV's plan: {f}");
    }
    let f = w.features(SANDBOX_CHILD);
    assert_eq!(f["RDS_LOGIN_EVENTS"], "ENABLED", "the sandbox rule: {f}");
    assert!(f.get("EBS_MALWARE_PROTECTION").is_none(), "{f}");
    // The dev OU's rule and the child OU's never matched first.
    assert_eq!(
        summary["unmatchedRules"],
        json!([
            format!("rules[1] (ou {})", w.ous["dev"]),
            format!("rules[3] (ou {})", w.ous["child"])
        ]),
        "{summary}"
    );
}

#[tokio::test]
async fn an_expired_exception_lets_the_later_rules_place_the_account_before_the_default() {
    let w = world();
    let policy = format!(
        r#"
default:
  plans: [S3_DATA_EVENTS]
rules:
  - match: {{account: "{EXCEPTED}"}}
    except: {{owner: payments-platform, reason: "vendor appliance", until: {ended}}}
  - match: {{ou: {prod}}}
    plans: [LAMBDA_NETWORK_LOGS]
"#,
        ended = days_from_now(-1),
        prod = w.ous["prod"],
    );
    put_policy(&w.emu, &policy).await;
    let (out, summary) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let f = w.features(EXCEPTED);
    assert_eq!(f["LAMBDA_NETWORK_LOGS"], "ENABLED", "the prod rule: {f}");
    assert!(f.get("S3_DATA_EVENTS").is_none(), "not the default: {f}");
    assert_eq!(w.features(ROOT)["S3_DATA_EVENTS"], "ENABLED");
    assert_eq!(region_summary(&summary, REGION)["excepted"], 0, "{summary}");
}

#[tokio::test]
async fn only_an_exception_ending_within_thirty_days_is_listed_as_expiring() {
    let w = world();
    for (days, listed) in [(90, false), (31, false), (30, true), (10, true)] {
        put_policy(&w.emu, &w.policy(&days_from_now(days))).await;
        let (out, summary) = reconcile(&w.env(), false);
        assert_eq!(out.status.code(), Some(0), "{days}: {}", stderr(&out));
        let expiring = summary["expiring"].as_array().cloned().unwrap_or_default();
        if listed {
            assert_eq!(expiring.len(), 1, "{days}: {summary}");
            assert_eq!(expiring[0]["accountId"], EXCEPTED, "{days}: {summary}");
            assert_eq!(expiring[0]["daysLeft"], days, "{days}: {summary}");
        } else {
            assert_eq!(expiring, Vec::<Value>::new(), "{days}: {summary}");
        }
    }
}

#[tokio::test]
async fn a_rule_that_matches_no_account_is_listed_in_the_reconcile_s_summary() {
    let w = world();
    let text = w.policy(&days_from_now(90))
        + "  - match: {account: \"999999999999\"}\n    plans: [S3_DATA_EVENTS]\n";
    put_policy(&w.emu, &text).await;
    let (out, summary) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        summary["unmatchedRules"],
        json!(["rules[3] (account 999999999999)"]),
        "{summary}"
    );
}

#[tokio::test]
async fn a_secure_string_policy_is_read_decrypted_and_applied() {
    let w = world();
    put_secure_policy(&w.emu, &w.policy(&days_from_now(90))).await;
    let (out, _) = reconcile(&w.env(), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(w.features(SANDBOX)["EKS_AUDIT_LOGS"], "DISABLED");
    assert_eq!(w.features(DEV)["EBS_MALWARE_PROTECTION"], "ENABLED");
    assert_eq!(w.emu.calls_of("GetParameter", None).len(), 1);
}
