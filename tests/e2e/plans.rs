//! End to end over loopback: the two runtime plans are never in one UpdateMemberDetectors
//! call (GuardDuty refuses that), so AWS's recommended migration and turning both off work;
//! a batch GuardDuty refuses keeps its accounts in the coverage report, saying why; a plan a
//! region does not offer is not wanted there, and is said once for the region.

use crate::support::*;
use serde_json::{json, Value};

const REGION: &str = "us-east-1";
const PARAMETER: &str = "/guardduty-invite/policy";
const A: &str = "555500000001";
const B: &str = "555500000002";

/// Two organization accounts, Enabled members of the seeded administrator in `REGION`.
fn world() -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &[REGION],
        &[(A, "a@example.com", "A"), (B, "b@example.com", "B")],
        &[],
    );
    for id in [A, B] {
        emu.put_member(&seeded, REGION, id, "Enabled", None);
    }
    emu.clear_calls();
    (emu, seeded)
}

/// Sets `features` of a member in the one region.
fn set_features(emu: &Emulator, account: &str, features: Value) {
    emu.set_member_features(REGION, account, features);
}

fn features(emu: &Emulator, seeded: &Seeded, account: &str) -> Value {
    emu.member(REGION, &seeded.detector(REGION), account)["features"].clone()
}

async fn with_policy(emu: &Emulator, seeded: &Seeded, text: &str) -> Vec<(String, String)> {
    emu.put_parameter(PARAMETER, text, aws_sdk_ssm::types::ParameterType::String)
        .await;
    emu.clear_calls();
    let mut env = emu.env(seeded, &[REGION]);
    env.push(("PROTECTION_POLICY_PARAMETER".into(), PARAMETER.into()));
    env
}

/// The features of each UpdateMemberDetectors call, in the order made: [(name, status)].
fn update_calls(emu: &Emulator) -> Vec<Vec<(String, String)>> {
    emu.calls_of("UpdateMemberDetectors", Some(REGION))
        .iter()
        .map(|c| {
            c["features"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    (
                        f["name"].as_str().unwrap_or_default().to_owned(),
                        f["status"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect()
}

#[tokio::test]
async fn runtime_migration_policy_turns_runtime_on_then_eks_runtime_off_in_two_calls() {
    let (emu, seeded) = world();
    for id in [A, B] {
        set_features(
            &emu,
            id,
            json!([{"name": "EKS_RUNTIME_MONITORING", "status": "ENABLED",
                    "additionalConfiguration": [{"name": "EKS_ADDON_MANAGEMENT", "status": "ENABLED"}]}]),
        );
    }
    let env = with_policy(
        &emu,
        &seeded,
        "default: {plans: [RUNTIME_MONITORING], off: [EKS_RUNTIME_MONITORING]}",
    )
    .await;
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{summary}\n{}", stderr(&out));
    assert_eq!(
        update_calls(&emu),
        [
            pairs(&[("RUNTIME_MONITORING", "ENABLED")]),
            pairs(&[("EKS_RUNTIME_MONITORING", "DISABLED")]),
        ],
        "Runtime Monitoring on first, then EKS Runtime Monitoring off, never together"
    );
    for id in [A, B] {
        assert_eq!(
            features(&emu, &seeded, id),
            json!({"EKS_RUNTIME_MONITORING": "DISABLED", "RUNTIME_MONITORING": "ENABLED"}),
            "{id}"
        );
    }
    assert_eq!(summary["protectedAccountRegions"], 2, "{summary}");
    // The next run finds nothing to do.
    emu.clear_calls();
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(update_calls(&emu).is_empty(), "{:?}", update_calls(&emu));
}

#[tokio::test]
async fn turning_both_runtime_plans_off_takes_two_calls() {
    let (emu, seeded) = world();
    set_features(
        &emu,
        A,
        json!([{"name": "RUNTIME_MONITORING", "status": "ENABLED"},
               {"name": "EKS_RUNTIME_MONITORING", "status": "ENABLED"}]),
    );
    let env = with_policy(
        &emu,
        &seeded,
        "default: {off: [RUNTIME_MONITORING, EKS_RUNTIME_MONITORING]}",
    )
    .await;
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{summary}\n{}", stderr(&out));
    let calls = update_calls(&emu);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.iter().all(|c| c.len() == 1), "{calls:?}");
    assert_eq!(
        features(&emu, &seeded, A),
        json!({"RUNTIME_MONITORING": "DISABLED", "EKS_RUNTIME_MONITORING": "DISABLED"}),
        "both off, so neither is billed"
    );
}

#[tokio::test]
async fn a_refused_plans_batch_keeps_its_accounts_in_the_coverage_rows_with_the_reason() {
    let (emu, seeded) = world();
    let s3 = emu.s3_with_bucket("coverage-reports").await;
    emu.control(
        "POST",
        "/_emulator/deny",
        Some(json!({"accountId": "*", "operations": ["UpdateMemberDetectors"], "service": "guardduty",
                    "status": 400, "code": "BadRequestException",
                    "message": "The request is rejected because an invalid or out-of-range value is specified as an input parameter."})),
    );
    let mut env = emu.env(&seeded, &[REGION]);
    env.push(("MEMBER_FEATURES".into(), "S3_DATA_EVENTS".into()));
    env.push(("COVERAGE_BUCKET".into(), "coverage-reports".into()));
    let (out, _) = reconcile(&env, false);
    assert_ne!(out.status.code(), Some(0), "a refused batch fails the run");
    let listed = s3
        .list_objects_v2()
        .bucket("coverage-reports")
        .prefix("coverage/")
        .send()
        .await
        .expect("ListObjectsV2");
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        // The CSV; the HTML page lies beside it.
        .filter(|k| k.ends_with(".csv"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let object = s3
        .get_object()
        .bucket("coverage-reports")
        .key(&keys[0])
        .send()
        .await
        .expect("GetObject");
    let body = object.body.collect().await.expect("body").into_bytes();
    let csv = String::from_utf8_lossy(&body).to_string();
    for id in [A, B] {
        let row = csv
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} dropped from the report:\n{csv}"));
        assert!(row.contains(REGION), "{row}");
        assert!(
            row.contains("UpdateMemberDetectors") && row.contains("BadRequestException"),
            "the row says why: {row}"
        );
        assert!(row.contains(",no,"), "not counted as protected: {row}");
    }
}

#[tokio::test]
async fn a_plan_the_region_does_not_offer_is_not_wanted_there_and_said_once() {
    let (emu, seeded) = world();
    let sqs_messages_before = emu.received_sns(&seeded.queue_url).await.len();
    emu.control(
        "POST",
        "/_emulator/guardduty/unoffered",
        Some(json!({"features": [{"name": "RDS_LOGIN_EVENTS", "region": REGION}]})),
    );
    for id in [A, B] {
        set_features(
            &emu,
            id,
            json!([{"name": "S3_DATA_EVENTS", "status": "ENABLED"}]),
        );
    }
    emu.clear_calls();
    let mut env = emu.env(&seeded, &[REGION]);
    env.push((
        "MEMBER_FEATURES".into(),
        "S3_DATA_EVENTS,RDS_LOGIN_EVENTS".into(),
    ));
    for run in 0..2 {
        let (out, summary) = reconcile(&env, false);
        assert_eq!(out.status.code(), Some(0), "{summary}\n{}", stderr(&out));
        assert!(
            update_calls(&emu).is_empty(),
            "run {run}: nothing to write: {:?}",
            update_calls(&emu)
        );
        let r = region_summary(&summary, REGION);
        assert_eq!(r["notOffered"], json!(["RDS_LOGIN_EVENTS"]), "{r}");
        assert_eq!(
            r["protectedAccounts"], 2,
            "not counted against coverage: {r}"
        );
        assert_eq!(r["problems"], 0, "no problem per account: {r}");
        assert_eq!(summary["problems"], 0, "{summary}");
        assert!(
            summary["summary"]
                .as_str()
                .unwrap_or_default()
                .contains("RDS_LOGIN_EVENTS not offered in us-east-1"),
            "{summary}"
        );
        assert_eq!(
            emu.calls_of("GetDetector", Some(REGION)).len(),
            1,
            "asked once per region per run"
        );
        emu.clear_calls();
    }
    assert_eq!(
        emu.received_sns(&seeded.queue_url).await.len(),
        sqs_messages_before,
        "nothing published"
    );
}

#[test]
fn check_lists_each_plan_and_region_that_is_not_offered() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1", "eu-west-1"], &[], &[]);
    emu.control(
        "POST",
        "/_emulator/guardduty/unoffered",
        Some(
            json!({"features": [{"name": "RDS_LOGIN_EVENTS", "region": "eu-west-1"},
                                 {"name": "LAMBDA_NETWORK_LOGS", "region": "eu-west-1"},
                                 {"name": "RDS_LOGIN_EVENTS", "region": "us-east-1"},
                                 {"name": "EKS_AUDIT_LOGS", "region": "us-east-1"}]}),
        ),
    );
    let mut env = emu.env(&seeded, &["us-east-1", "eu-west-1"]);
    env.push((
        "MEMBER_FEATURES".into(),
        "S3_DATA_EVENTS,RDS_LOGIN_EVENTS,LAMBDA_NETWORK_LOGS".into(),
    ));
    let out = run_binary(&env, &["check", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let mut listed: Vec<(String, String)> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["check"] == "plan offered" && c["verdict"] == "warning")
        .map(|c| {
            let detail = c["detail"].as_str().unwrap_or_default();
            let plan = detail.split_whitespace().next().unwrap_or_default();
            (
                c["region"].as_str().unwrap_or_default().to_owned(),
                plan.to_owned(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("eu-west-1".to_owned(), "LAMBDA_NETWORK_LOGS".to_owned()),
            ("eu-west-1".to_owned(), "RDS_LOGIN_EVENTS".to_owned()),
            ("us-east-1".to_owned(), "RDS_LOGIN_EVENTS".to_owned()),
        ],
        "each wanted plan x region not offered, and only those: {report}"
    );
    assert!(
        report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c["check"] != "plan offered" || c["verdict"] != "failed"),
        "not offered is not a failure: {report}"
    );
}

/// A region that does not offer one plan, and a batch whose accounts have different plans
/// (two OU rules): each account gets its own plan, cut to what the region offers, and not
/// the plan of another account of the batch.
#[tokio::test]
async fn accounts_of_one_batch_with_different_plans_each_get_their_own_where_a_plan_is_not_offered()
{
    let emu = Emulator::start();
    let seeded = emu.seed(&[REGION], &[], &[]);
    let mut ous = Vec::new();
    for (name, id) in [("small", A), ("large", B)] {
        let ou = emu.control(
            "POST",
            "/_emulator/organizations/ous",
            Some(json!({ "name": name })),
        )["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        emu.control(
            "POST",
            "/_emulator/organizations/accounts",
            Some(
                json!({"accountId": id, "email": format!("a{id}@example.com"),
                        "name": name, "parentId": ou}),
            ),
        );
        emu.put_member(&seeded, REGION, id, "Enabled", None);
        ous.push(ou);
    }
    emu.control(
        "POST",
        "/_emulator/guardduty/unoffered",
        Some(json!({"features": [{"name": "RDS_LOGIN_EVENTS", "region": REGION}]})),
    );
    let policy = format!(
        "default: {{plans: [LAMBDA_NETWORK_LOGS]}}\nrules:\n  - match: {{ou: {}}}\n    plans: [S3_DATA_EVENTS]\n  - match: {{ou: {}}}\n    plans: [S3_DATA_EVENTS, EBS_MALWARE_PROTECTION, RDS_LOGIN_EVENTS]\n",
        ous[0], ous[1]
    );
    let env = with_policy(&emu, &seeded, &policy).await;
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{summary}\n{}", stderr(&out));
    assert_eq!(
        features(&emu, &seeded, A),
        json!({"S3_DATA_EVENTS": "ENABLED"}),
        "the small plan, nothing of the large one"
    );
    assert_eq!(
        features(&emu, &seeded, B),
        json!({"S3_DATA_EVENTS": "ENABLED", "EBS_MALWARE_PROTECTION": "ENABLED"}),
        "the large plan but RDS_LOGIN_EVENTS, which the region does not offer"
    );
    let r = region_summary(&summary, REGION);
    assert_eq!(r["notOffered"], json!(["RDS_LOGIN_EVENTS"]), "{r}");
    assert_eq!(r["protectedAccounts"], 2, "{r}");
}
