//! End to end over loopback: Security Hub findings as Security Hub accepts them. A finding
//! belongs to the function's own account and names the member in its resource; each batch
//! stands alone; an archive update is later than the stored finding and keeps its first
//! CreatedAt; GetFindings is read no more than needed, under its rate.

use crate::support::*;
use aws_sdk_securityhub::primitives::{DateTime, DateTimeFormat};
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, FindingProviderFields, FindingProviderSeverity, Resource, SeverityLabel,
};
use serde_json::{json, Value};

const REGION: &str = "us-east-1";
const STALE: &str = "333300000001";
const OTHER: &str = "333300000002";

fn id_of(account: &str) -> String {
    format!("guardduty-invite/{account}/{REGION}/ListMembers")
}

/// An invitation nobody accepted for months: a per-account problem (and so a finding).
fn stale(emu: &Emulator, seeded: &Seeded, account: &str) {
    emu.put_member(
        seeded,
        REGION,
        account,
        "Invited",
        Some("2026-01-02T03:04:05Z"),
    );
}

fn resolved(emu: &Emulator, seeded: &Seeded, account: &str) {
    emu.put_member(seeded, REGION, account, "Enabled", None);
}

fn world(accounts: &[&str]) -> (Emulator, Seeded, Vec<(String, String)>) {
    let emu = Emulator::start();
    let listed: Vec<(&str, &str, &str)> = accounts
        .iter()
        .map(|a| (*a, "s@example.com", "Stale"))
        .collect();
    let seeded = emu.seed(&[REGION], &listed, &[]);
    let mut env = emu.env(&seeded, &[REGION]);
    env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
    (emu, seeded, env)
}

/// The findings the emulator holds, as imported.
fn stored(emu: &Emulator) -> Vec<Value> {
    emu.control("GET", "/_emulator/securityhub/findings", None)["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn stored_one(emu: &Emulator, id: &str) -> Value {
    stored(emu)
        .into_iter()
        .find(|f| f["Id"] == id)
        .unwrap_or_else(|| panic!("no finding {id} in {:?}", stored(emu)))
}

fn time(v: &Value) -> DateTime {
    let s = v.as_str().unwrap_or_default();
    DateTime::from_str(s, DateTimeFormat::DateTime).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn ok(out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

fn product_arn() -> String {
    format!("arn:aws:securityhub:{REGION}:{ADMIN_ACCOUNT}:product/{ADMIN_ACCOUNT}/default")
}

/// A finding of this function's kind, imported by the test as the administrator.
fn own_finding(id: &str, created_at: &str, updated_at: &str) -> AwsSecurityFinding {
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(id)
        .product_arn(product_arn())
        .generator_id("guardduty-invite")
        .aws_account_id(ADMIN_ACCOUNT)
        .created_at(created_at)
        .updated_at(updated_at)
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .label(SeverityLabel::High)
                        .build(),
                )
                .types("Software and Configuration Checks/AWS Security Best Practices")
                .build(),
        )
        .title("GuardDuty does not protect an account")
        .description("seeded by the test")
        .resources(
            Resource::builder()
                .r#type("AwsAccount")
                .id(format!("AWS::::Account:{STALE}"))
                .build(),
        )
        .build()
}

async fn import_as_admin(emu: &Emulator, findings: Vec<AwsSecurityFinding>) {
    let hub = aws_sdk_securityhub::Client::new(&emu.sdk_config().await);
    for batch in findings.chunks(100) {
        let out = hub
            .batch_import_findings()
            .set_findings(Some(batch.to_vec()))
            .send()
            .await
            .expect("BatchImportFindings");
        assert_eq!(out.failed_count(), Some(0), "{out:?}");
    }
}

fn hub_problems(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .flat_map(|m| {
            sns_body(m)["problems"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p.to_string().contains("Security Hub"))
        .collect()
}

#[tokio::test]
async fn findings_belong_to_the_function_s_account_and_name_the_member_in_resources() {
    let (emu, seeded, env) = world(&[STALE]);
    stale(&emu, &seeded, STALE);
    let (out, _) = reconcile(&env, false);
    ok(&out);
    assert_eq!(
        hub_problems(&emu.received_sns(&seeded.queue_url).await),
        Vec::<Value>::new(),
        "Security Hub must take the findings"
    );
    let f = stored_one(&emu, &id_of(STALE));
    assert_eq!(f["AwsAccountId"], ADMIN_ACCOUNT, "{f}");
    assert_eq!(f["_account"], ADMIN_ACCOUNT, "{f}");
    assert_eq!(f["Resources"][0]["Type"], "AwsAccount", "{f}");
    assert_eq!(
        f["Resources"][0]["Id"],
        format!("AWS::::Account:{STALE}"),
        "{f}"
    );
    assert!(
        f["Title"].as_str().unwrap_or_default().contains(STALE),
        "{f}"
    );
    // Severity and types as a finding provider gives them.
    assert_eq!(
        f["FindingProviderFields"]["Severity"]["Label"], "HIGH",
        "{f}"
    );
    assert_eq!(
        f["FindingProviderFields"]["Types"],
        json!(["Software and Configuration Checks/AWS Security Best Practices"]),
        "{f}"
    );
    // A new finding: CreatedAt and UpdatedAt the same, as AWS asks.
    assert_eq!(f["CreatedAt"], f["UpdatedAt"], "{f}");
}

#[tokio::test]
async fn a_refused_import_batch_still_lets_the_archives_through() {
    let (emu, seeded, env) = world(&[STALE, OTHER]);
    stale(&emu, &seeded, STALE);
    resolved(&emu, &seeded, OTHER);
    let (out, _) = reconcile(&env, false);
    ok(&out);
    assert_eq!(stored_one(&emu, &id_of(STALE))["RecordState"], "ACTIVE");

    // STALE is resolved and OTHER is a new problem; every attempt of the first call fails.
    resolved(&emu, &seeded, STALE);
    stale(&emu, &seeded, OTHER);
    emu.fault(
        json!({"operation": "BatchImportFindings", "kind": "error500",
                     "times": guardduty_invite::aws::MAX_ATTEMPTS}),
    );
    let (out, _) = reconcile(&env, false);
    // A passing failure still fails the run, to be retried ...
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        error["errorType"], "SecurityHub.BatchImportFindings.Transient",
        "{error}"
    );
    // ... but only after the archive went through.
    let f = stored_one(&emu, &id_of(STALE));
    assert_eq!(
        (&f["RecordState"], &f["Compliance"]["Status"]),
        (&json!("ARCHIVED"), &json!("PASSED")),
        "{f}"
    );
}

#[tokio::test]
async fn each_refused_finding_is_reported_once_and_a_transient_one_is_retried() {
    let (emu, seeded, env) = world(&[STALE, OTHER]);
    stale(&emu, &seeded, STALE);
    stale(&emu, &seeded, OTHER);
    emu.control(
        "POST",
        "/_emulator/securityhub/failed-findings",
        Some(json!({"ids": [id_of(STALE)], "errorCode": "InvalidInput",
                    "errorMessage": "Finding does not adhere to Amazon Finding Format.", "times": 10})),
    );
    emu.control(
        "POST",
        "/_emulator/securityhub/failed-findings",
        Some(json!({"ids": [id_of(OTHER)], "errorCode": "InternalException", "times": 1})),
    );
    let (out, _) = reconcile(&env, false);
    ok(&out);
    // The transient refusal was tried again, in a later call, and taken.
    assert_eq!(stored_one(&emu, &id_of(OTHER))["RecordState"], "ACTIVE");
    assert_eq!(emu.calls_of("BatchImportFindings", None).len(), 2);
    // The lasting one is one problem that says what Security Hub answered.
    let problems = hub_problems(&emu.received_sns(&seeded.queue_url).await);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let text = problems[0].to_string();
    assert!(
        text.contains("InvalidInput") && text.contains(&id_of(STALE)),
        "{text}"
    );
}

#[test]
fn an_event_with_nothing_to_import_reads_no_findings() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &[REGION],
        &[("111122223333", "new.account@example.com", "Payments-Prod")],
        &[],
    );
    let mut env = emu.env(&seeded, &[REGION]);
    env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
    let out = invoke(
        &env,
        &[&sample(
            "organizations-create-account-result-succeeded.json",
        )],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], "111122223333", REGION)["outcome"],
        "invited"
    );
    assert_eq!(emu.calls_of("GetFindings", None), Vec::<Value>::new());
    assert_eq!(
        emu.calls_of("BatchImportFindings", None),
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn an_archive_update_carries_our_created_at_and_a_later_updated_at() {
    let (emu, seeded, env) = world(&[STALE]);
    stale(&emu, &seeded, STALE);
    let (out, _) = reconcile(&env, false);
    ok(&out);
    let first = stored_one(&emu, &id_of(STALE));
    // The stored finding says it was updated an hour from now (a clock ahead, say): an update
    // at "now" would be ignored.
    let ahead = DateTime::from_secs(time(&first["UpdatedAt"]).secs() + 3600)
        .fmt(DateTimeFormat::DateTime)
        .expect("format");
    let created = first["CreatedAt"].as_str().unwrap_or_default().to_owned();
    import_as_admin(&emu, vec![own_finding(&id_of(STALE), &created, &ahead)]).await;

    resolved(&emu, &seeded, STALE);
    let (out, _) = reconcile(&env, false);
    ok(&out);
    let f = stored_one(&emu, &id_of(STALE));
    assert_eq!(f["RecordState"], "ARCHIVED", "{f}");
    assert_eq!(f["CreatedAt"], first["CreatedAt"], "{f}");
    assert!(
        time(&f["UpdatedAt"]) > time(&json!(ahead)),
        "{} not after {ahead}",
        f["UpdatedAt"]
    );
}

#[tokio::test]
async fn a_problem_that_comes_back_after_its_finding_was_archived_keeps_its_first_created_at() {
    let (emu, seeded, env) = world(&[STALE]);
    stale(&emu, &seeded, STALE);
    let (out, _) = reconcile(&env, false);
    ok(&out);
    let first = stored_one(&emu, &id_of(STALE));

    resolved(&emu, &seeded, STALE);
    let (out, _) = reconcile(&env, false);
    ok(&out);
    let archived = stored_one(&emu, &id_of(STALE));
    assert_eq!(archived["RecordState"], "ARCHIVED", "{archived}");

    stale(&emu, &seeded, STALE);
    let (out, _) = reconcile(&env, false);
    ok(&out);
    let back = stored_one(&emu, &id_of(STALE));
    assert_eq!(back["RecordState"], "ACTIVE", "{back}");
    assert_eq!(back["CreatedAt"], first["CreatedAt"], "{back}");
    assert!(
        time(&back["UpdatedAt"]) > time(&archived["UpdatedAt"]),
        "{back}"
    );
}

#[tokio::test]
async fn a_reconcile_reads_its_findings_once_under_the_get_findings_rate() {
    let (emu, seeded, env) = world(&[STALE]);
    resolved(&emu, &seeded, STALE);
    // 700 findings of earlier runs, all resolved now: seven pages of GetFindings.
    let findings = (0..700)
        .map(|i| {
            own_finding(
                &format!("guardduty-invite/old-{i:03}"),
                "2026-11-01T00:00:00Z",
                "2026-11-01T00:00:00Z",
            )
        })
        .collect();
    import_as_admin(&emu, findings).await;
    emu.clear_calls();

    let (out, _) = reconcile(&env, false);
    ok(&out);
    let reads = emu.calls_of("GetFindings", None);
    assert_eq!(reads.len(), 7, "one read of every page");
    assert!(
        reads.iter().all(|c| c["status"] == 200),
        "throttled: {reads:?}"
    );
    assert!(stored(&emu).iter().all(|f| f["RecordState"] == "ARCHIVED"));
}

/// Each stored finding's severity label (FindingProviderFields), by id.
fn severities(emu: &Emulator) -> std::collections::BTreeMap<String, String> {
    stored(emu)
        .iter()
        .map(|f| {
            (
                f["Id"].as_str().unwrap_or_default().to_owned(),
                f["FindingProviderFields"]["Severity"]["Label"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_kind_of_finding_has_the_severity_of_the_docs_table_and_keeps_its_created_at() {
    const LEFT: &str = "333300000003";
    const PLANS_OFF: &str = "333300000004";
    let emu = Emulator::start();
    let listed: Vec<(&str, &str, &str)> = [STALE, LEFT, PLANS_OFF]
        .iter()
        .map(|a| (*a, "s@example.com", "Member"))
        .collect();
    // No detector in eu-west-1: a problem of the whole region.
    let seeded = emu.seed(&[REGION], &listed, &[]);
    stale(&emu, &seeded, STALE);
    emu.put_member(&seeded, REGION, LEFT, "Resigned", None);
    emu.put_member(&seeded, REGION, PLANS_OFF, "Enabled", None);
    emu.set_plan(REGION, PLANS_OFF, "S3_DATA_EVENTS", "DISABLED");
    let mut env = emu.env(&seeded, &[REGION, "eu-west-1"]);
    env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
    env.push(("MEMBER_FEATURES".into(), "S3_DATA_EVENTS".into()));
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let found = severities(&emu);
    let label = |id: &str| {
        found
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id}: {found:?}"))
    };
    assert_eq!(label(&id_of(STALE)), "HIGH");
    assert_eq!(
        label(&format!(
            "guardduty-invite/{LEFT}/{REGION}/drift-left-administrator"
        )),
        "HIGH"
    );
    assert_eq!(
        label(&format!(
            "guardduty-invite/{PLANS_OFF}/{REGION}/drift-plans-off"
        )),
        "MEDIUM"
    );
    let region: Vec<&String> = found
        .iter()
        .filter(|(id, _)| id.starts_with("guardduty-invite/region/eu-west-1/"))
        .map(|(_, label)| label)
        .collect();
    assert_eq!(region, ["HIGH"], "{found:?}");

    // The same problem at the next run: the finding is updated and keeps its CreatedAt.
    let first = stored_one(&emu, &id_of(STALE));
    let (out, _) = reconcile(&env, false);
    ok(&out);
    let again = stored_one(&emu, &id_of(STALE));
    assert_eq!(again["RecordState"], "ACTIVE", "{again}");
    assert_eq!(again["CreatedAt"], first["CreatedAt"], "{again}");
    assert!(
        time(&again["UpdatedAt"]) > time(&first["UpdatedAt"]),
        "{again}"
    );
}

#[tokio::test]
async fn neither_an_event_nor_a_failed_reconcile_archives_a_finding_only_a_complete_one() {
    let (emu, seeded, env) = world(&[STALE]);
    stale(&emu, &seeded, STALE);
    let (out, _) = reconcile(&env, false);
    ok(&out);
    assert_eq!(stored_one(&emu, &id_of(STALE))["RecordState"], "ACTIVE");
    resolved(&emu, &seeded, STALE);

    // An event with a finding of its own to import (an account Organizations does not
    // know) leaves the resolved account's finding alone.
    let unknown = "999900000009";
    let event = event_file(&manual_request(
        "sh-event",
        json!([{"accountId": unknown, "email": "u@example.com"}, {"accountId": STALE}]),
    ));
    let out = invoke(&env, &[&event]);
    ok(&out);
    assert!(
        !emu.calls_of("BatchImportFindings", None).is_empty(),
        "the event imported nothing"
    );
    assert_eq!(stored_one(&emu, &id_of(STALE))["RecordState"], "ACTIVE");

    // A reconcile that could not read the region's members fails, and archives nothing.
    emu.fault(json!({"operation": "ListMembers", "kind": "error500",
                     "times": guardduty_invite::aws::MAX_ATTEMPTS}));
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stored_one(&emu, &id_of(STALE))["RecordState"], "ACTIVE");

    // A reconcile that fails for one account, after the others were done, still imports
    // what it found (another administrator's member), but archives nothing: it did not see
    // everything.
    emu.clear_faults();
    let (late, foreign) = ("999900000010", "999900000011");
    for (id, name) in [(late, "Late"), (foreign, "Foreign")] {
        emu.control(
            "POST",
            "/_emulator/organizations/accounts",
            Some(json!({"accountId": id, "email": format!("{id}@example.com"), "name": name})),
        );
    }
    emu.control(
        "POST",
        "/_emulator/guardduty/foreign-accounts",
        Some(json!({ "accountIds": [foreign] })),
    );
    emu.internal_error("CreateMembers", &[late], 1);
    emu.clear_calls();
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        !emu.calls_of("BatchImportFindings", None).is_empty(),
        "the failed run imported its problem"
    );
    let refused = format!("guardduty-invite/{foreign}/{REGION}/CreateMembers");
    assert_eq!(stored_one(&emu, &refused)["RecordState"], "ACTIVE");
    assert_eq!(stored_one(&emu, &id_of(STALE))["RecordState"], "ACTIVE");

    // A complete one does.
    emu.clear_faults();
    let (out, _) = reconcile(&env, false);
    ok(&out);
    assert_eq!(stored_one(&emu, &id_of(STALE))["RecordState"], "ARCHIVED");
}
