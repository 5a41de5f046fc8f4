//! End to end over loopback: a reconcile's coverage is counted from what GuardDuty returns
//! (members' statuses and plans), dry run or not; the CSV report opens in a spreadsheet;
//! drift is reported even when repaired; a region-level problem is said once; findings go
//! to Security Hub and are archived when gone; the scheduled report lands in S3 (a partial
//! run's apart); opt-in regions being enabled, or unreadable (the management account's), are
//! said as such.

use std::collections::BTreeSet;

use crate::support::*;
use serde_json::{json, Value};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const PROTECTED: &str = "111100000001";
const PLAN_OFF: &str = "111100000002";
const RESIGNED: &str = "111100000003";
const MISSING: &str = "111100000004";
const PLAN: &str = "S3_DATA_EVENTS";

/// Four organization accounts in two regions: one protected, one Enabled with its plan off,
/// one that resigned, one never added.
fn world() -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &REGIONS,
        &[
            (PROTECTED, "p@example.com", "Acme, \"Prod\""),
            (PLAN_OFF, "o@example.com", "=cmd|' /C calc'!A0"),
            (RESIGNED, "r@example.com", "Resigned"),
            (MISSING, "m@example.com", "Missing"),
        ],
        &[],
    );
    for region in REGIONS {
        emu.put_member(&seeded, region, PROTECTED, "Enabled", None);
        emu.put_member(&seeded, region, PLAN_OFF, "Enabled", None);
        emu.put_member(&seeded, region, RESIGNED, "Resigned", None);
        emu.set_plan(region, PROTECTED, PLAN, "ENABLED");
        emu.set_plan(region, PLAN_OFF, PLAN, "DISABLED");
    }
    emu.clear_calls();
    (emu, seeded)
}

fn env_for(emu: &Emulator, seeded: &Seeded, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = emu.env(seeded, &REGIONS);
    env.push(("MEMBER_FEATURES".into(), PLAN.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn coverage_is_counted_from_guardduty_and_a_dry_run_agrees_with_the_real_run() {
    let (emu, seeded) = world();
    let env = env_for(&emu, &seeded, &[("GUARDDUTY_INVITE_EMF", "stderr")]);

    let (out, before) = reconcile(&env, true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        emu.writes().is_empty(),
        "a dry run wrote: {:?}",
        emu.writes()
    );
    for region in REGIONS {
        let r = region_summary(&before, region);
        assert_eq!(r["accounts"], 4, "{r}");
        assert_eq!(r["protectedAccounts"], 1, "{r}");
        assert_eq!(r["plans"][PLAN], 1, "{r}");
        assert_eq!(r["coveragePercent"], 25.0, "{r}");
        assert_eq!(ids(&r["wouldEnablePlans"]), set(&[PLAN_OFF]), "{r}");
        assert_eq!(ids(&r["wouldInvite"]), set(&[RESIGNED, MISSING]), "{r}");
        assert_eq!(r["drift"], 2, "{r}");
    }
    assert_eq!(before["accountRegions"], 8);
    assert_eq!(before["protectedAccountRegions"], 2);
    assert_eq!(before["coveragePercent"], 25.0);
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());

    let (out, after) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for region in REGIONS {
        let r = region_summary(&after, region);
        assert_eq!(
            r["protectedAccounts"], 2,
            "the plan was turned on again: {r}"
        );
        assert_eq!(r["coveragePercent"], 50.0, "{r}");
        assert_eq!(r["plansEnabledNow"], 1, "{r}");
        assert_eq!(r["invitedNow"], 2, "{r}");
    }
    let emf: Vec<Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    let (regions, completed): (Vec<&Value>, Vec<&Value>) =
        emf.iter().partition(|v| v.get("Region").is_some());
    assert_eq!(regions.len(), 2, "one EMF line per region");
    // The complete run says so, once, for the alarm on a day without one.
    assert_eq!(completed.len(), 1, "{completed:?}");
    assert_eq!(completed[0]["ReconcilesCompleted"], 1);
    for line in regions {
        assert_eq!(line["ProtectedAccounts"], 2, "{line}");
        assert_eq!(line["CoveragePercent"], 50.0, "{line}");
        assert_eq!(line["Drift"], 2, "{line}");
    }

    // Read again: the coverage the real run reported is what GuardDuty holds now.
    let (_, again) = reconcile(&env, true);
    assert_eq!(
        again["protectedAccountRegions"],
        after["protectedAccountRegions"]
    );
    assert_eq!(again["coveragePercent"], after["coveragePercent"]);
    assert_eq!(
        again["drift"], 0,
        "re-invited members are Invited, not gone: {again}"
    );
}

#[tokio::test]
async fn drift_is_published_apart_from_problems_with_what_the_run_did() {
    let (emu, seeded) = world();
    let (out, summary) = reconcile(&env_for(&emu, &seeded, &[]), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["drift"], 4);
    assert!(
        summary["summary"]
            .as_str()
            .is_some_and(|s| s.contains("4 drift") && s.contains("0 problem(s)")),
        "{summary}"
    );
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1, "drift alone is published");
    let body = sns_body(&messages[0]);
    assert_eq!(body["problems"], json!([]));
    let drift = body["drift"].as_array().cloned().unwrap_or_default();
    assert_eq!(drift.len(), 4, "{body}");
    for d in &drift {
        let (kind, action) = (d["kind"].as_str(), d["action"].as_str());
        match d["accountId"].as_str() {
            Some(RESIGNED) => {
                assert_eq!(kind, Some("left_administrator"), "{d}");
                assert_eq!(action, Some("re-invited"), "{d}");
                assert!(d["found"].as_str().is_some_and(|f| f.contains("Resigned")));
            }
            Some(PLAN_OFF) => {
                assert_eq!(kind, Some("plans_off"), "{d}");
                assert_eq!(action, Some("plans re-enabled"), "{d}");
            }
            other => panic!("unexpected drift for {other:?}: {d}"),
        }
    }
    assert!(
        body["summary"]
            .as_str()
            .is_some_and(|s| s.contains("4 drift")),
        "{body}"
    );
    assert!(
        messages[0]["Subject"]
            .as_str()
            .is_some_and(|s| s.contains("4 drift")),
        "{}",
        messages[0]
    );
}

#[test]
fn the_coverage_csv_has_one_row_per_account_and_region_and_opens_in_a_spreadsheet() {
    let (emu, seeded) = world();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("coverage.csv");
    let env = env_for(&emu, &seeded, &[]);
    let out = run_binary(
        &env,
        &[
            "reconcile",
            "--dry-run",
            "--coverage",
            path.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = std::fs::read_to_string(&path).expect("the report");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "account_id,account_name,region,relationship_status,S3_DATA_EVENTS,protected,this_run,note,exception_owner,exception_reason,exception_until,cost_30d_usd"
    );
    assert_eq!(lines.len(), 1 + 4 * 2, "{csv}");
    // Sorted by account, then region (names may hold commas: the region is found by name).
    let keys: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let region = ["eu-west-1", "us-east-1"]
                .into_iter()
                .find(|r| l.contains(&format!(",{r},")))
                .unwrap_or_default();
            (&l[..12], region)
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "{csv}");
    assert!(
        csv.contains(
            "111100000001,\"Acme, \"\"Prod\"\"\",eu-west-1,Enabled,ENABLED,yes,nothing,,,,,\r\n"
        ),
        "{csv}"
    );
    assert!(
        csv.contains(",\"'=cmd|' /C calc'!A0\",") || csv.contains(",'=cmd|' /C calc'!A0,"),
        "a formula is not run by the spreadsheet: {csv}"
    );
    assert!(
        csv.contains("111100000004,Missing,us-east-1,,,no,nothing,"),
        "{csv}"
    );
    let rows_before = lines.len();

    // `-`: the CSV on stdout, the summary JSON on stderr.
    let out = run_binary(&env, &["reconcile", "--dry-run", "--coverage", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.split("\r\n").filter(|l| !l.is_empty()).count(),
        rows_before
    );
    assert!(
        stderr(&out).contains("\"coveragePercent\":25.0"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_coverage_file_that_cannot_be_written_is_a_usage_error_before_any_call() {
    let (emu, seeded) = world();
    let out = run_binary(
        &env_for(&emu, &seeded, &[]),
        &["reconcile", "--coverage", "/nonexistent-dir/coverage.csv"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--coverage /nonexistent-dir/coverage.csv"),
        "{}",
        stderr(&out)
    );
    assert!(emu.calls().is_empty(), "{:?}", emu.calls());
}

#[tokio::test]
async fn the_scheduled_reconcile_writes_the_report_to_s3_and_a_dry_run_does_not() {
    let (emu, seeded) = world();
    let s3 = emu.s3_with_bucket("coverage-reports").await;
    emu.clear_calls();
    let env = env_for(&emu, &seeded, &[("COVERAGE_BUCKET", "coverage-reports")]);
    let (out, _) = reconcile(&env, true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        emu.writes(),
        Vec::<String>::new(),
        "a dry run writes nothing, to S3 or anywhere"
    );

    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let uri = summary["coverageReport"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = uri
        .strip_prefix("s3://coverage-reports/")
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        key.starts_with("coverage/")
            && key.ends_with(".csv")
            && key.len() == "coverage/YYYY-MM-DD.csv".len(),
        "{key}"
    );
    let object = s3
        .get_object()
        .bucket("coverage-reports")
        .key(key)
        .send()
        .await
        .expect("GetObject");
    let body = object.body.collect().await.expect("body").into_bytes();
    let csv = String::from_utf8_lossy(&body);
    assert!(csv.starts_with("account_id,account_name,region,"), "{csv}");
    assert_eq!(csv.split("\r\n").filter(|l| !l.is_empty()).count(), 1 + 8);
}

#[tokio::test]
async fn a_region_without_a_detector_is_one_problem_and_every_row_says_why() {
    let emu = Emulator::start();
    let accounts = three_accounts("22220000000");
    let refs = as_refs(&accounts);
    // A detector in us-east-1 only.
    let seeded = emu.seed(&["us-east-1"], &refs, &[]);
    let env = emu.env(&seeded, &REGIONS);
    let out = run_binary(&env, &["reconcile", "--coverage", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1);
    let problems = sns_body(&messages[0])["problems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let west: Vec<&Value> = problems
        .iter()
        .filter(|p| p["region"] == "eu-west-1")
        .collect();
    assert_eq!(west.len(), 1, "said once: {problems:?}");
    assert_eq!(west[0]["accountId"], "*");
    assert_eq!(west[0]["affectedAccounts"], 3);
    assert_eq!(west[0]["operation"], "ListDetectors");
    let csv = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = csv.lines().filter(|l| l.contains(",eu-west-1,")).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    for row in rows {
        assert!(
            row.contains(",no,problem,") && row.contains("no GuardDuty detector in eu-west-1"),
            "{row}"
        );
    }
}

#[tokio::test]
async fn plans_guardduty_does_not_return_are_not_counted_protected_and_are_reported() {
    let (emu, seeded) = world();
    emu.unprocessed(
        "GetMemberDetectors",
        &[PROTECTED],
        "The request is rejected because the member's data is unavailable.",
        2,
    );
    let (out, summary) = reconcile(&env_for(&emu, &seeded, &[]), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for region in REGIONS {
        assert_eq!(
            region_summary(&summary, region)["protectedAccounts"],
            0,
            "unknown is not protected: {summary}"
        );
    }
    let lines = summary["problemLines"].to_string();
    assert!(
        lines.contains(PROTECTED) && lines.contains("GetMemberDetectors"),
        "{lines}"
    );

    // A passing failure of GuardDuty for one account fails the run, to be retried.
    emu.internal_error("GetMemberDetectors", &[PROTECTED], 1);
    let (out, _) = reconcile(&env_for(&emu, &seeded, &[]), false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

async fn findings(emu: &Emulator) -> Vec<(String, String, String)> {
    let sdk = emu.sdk_config().await;
    let hub = aws_sdk_securityhub::Client::new(&sdk);
    let out = hub.get_findings().send().await.expect("GetFindings");
    let mut all: Vec<(String, String, String)> = out
        .findings()
        .iter()
        .map(|f| {
            (
                f.id().unwrap_or_default().to_owned(),
                f.record_state()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                f.compliance()
                    .and_then(|c| c.status())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn problems_become_security_hub_findings_that_a_later_reconcile_archives_when_gone() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("333300000001", "s@example.com", "Stale")],
        &[],
    );
    emu.put_member(
        &seeded,
        "us-east-1",
        "333300000001",
        "Invited",
        Some("2026-01-02T03:04:05Z"),
    );
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = "guardduty-invite/333300000001/us-east-1/ListMembers".to_owned();
    assert_eq!(
        findings(&emu).await,
        [(id.clone(), "ACTIVE".into(), "FAILED".into())]
    );

    // The same problem again: the same finding, updated, not a second one.
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(findings(&emu).await.len(), 1);

    // Someone accepted the invitation: the next reconcile resolves the finding.
    emu.put_member(&seeded, "us-east-1", "333300000001", "Enabled", None);
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        findings(&emu).await,
        [(id, "ARCHIVED".into(), "PASSED".into())]
    );
}

#[tokio::test]
async fn security_hub_not_enabled_is_one_clear_problem_and_its_throttling_is_retried() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("333300000001", "s@example.com", "Stale")],
        &[],
    );
    emu.put_member(
        &seeded,
        "us-east-1",
        "333300000001",
        "Invited",
        Some("2026-01-02T03:04:05Z"),
    );
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
    emu.control(
        "POST",
        "/_emulator/securityhub/not-subscribed",
        Some(json!({"regions": ["us-east-1"]})),
    );
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let messages = emu.received_sns(&seeded.queue_url).await;
    let problems = sns_body(&messages[0])["problems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let hub: Vec<&Value> = problems
        .iter()
        .filter(|p| {
            p["reason"]
                .as_str()
                .is_some_and(|r| r.contains("Security Hub"))
        })
        .collect();
    assert_eq!(hub.len(), 1, "{problems:?}");

    emu.control(
        "POST",
        "/_emulator/securityhub/not-subscribed",
        Some(json!({"regions": []})),
    );
    emu.fault(json!({"operation": "BatchImportFindings", "kind": "throttle"}));
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        error["errorType"], "SecurityHub.BatchImportFindings.Transient",
        "{error}"
    );
}

/// Every CSV report under `coverage/` in the bucket, with its body (the HTML pages and the
/// daily summaries beside them aside).
async fn coverage_objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String)> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("coverage/")
        .send()
        .await
        .expect("ListObjectsV2");
    let mut out = Vec::new();
    for o in listed
        .contents()
        .iter()
        .filter(|o| o.key().is_some_and(|k| k.ends_with(".csv")))
    {
        let key = o.key().unwrap_or_default().to_owned();
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .expect("GetObject");
        let body = object.body.collect().await.expect("body").into_bytes();
        out.push((key, String::from_utf8_lossy(&body).into_owned()));
    }
    out
}

#[tokio::test]
async fn a_partial_reconcile_never_replaces_the_day_s_complete_report() {
    let (emu, seeded) = world();
    let s3 = emu.s3_with_bucket("coverage-reports").await;
    let env = env_for(&emu, &seeded, &[("COVERAGE_BUCKET", "coverage-reports")]);
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let complete = coverage_objects(&s3, "coverage-reports").await;
    assert_eq!(complete.len(), 1, "{complete:?}");
    let (complete_key, complete_csv) = complete[0].clone();
    assert_eq!(
        complete_csv.split("\r\n").filter(|l| !l.is_empty()).count(),
        1 + 8
    );

    // The second run's eu-west-1 batch fails (a plan turned off again cannot be turned on):
    // its accounts' rows say so.
    emu.set_plan("eu-west-1", PLAN_OFF, PLAN, "DISABLED");
    emu.fault(
        json!({"operation": "UpdateMemberDetectors", "kind": "error500", "region": "eu-west-1"}),
    );
    let out = run_binary(&env, &["reconcile"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let objects = coverage_objects(&s3, "coverage-reports").await;
    let partial_key = complete_key.replace(".csv", ".partial.csv");
    assert_eq!(
        objects.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        [complete_key.as_str(), partial_key.as_str()],
        "the partial report is kept apart, under the same day"
    );
    assert_eq!(
        objects[0].1, complete_csv,
        "the complete report is untouched"
    );
    let failed_rows: Vec<&str> = objects[1]
        .1
        .split("\r\n")
        .filter(|l| l.contains(",eu-west-1,"))
        .collect();
    assert_eq!(failed_rows.len(), 4, "{}", objects[1].1);
    for row in failed_rows {
        assert!(
            row.contains(",no,") && row.contains("not done: its batch failed"),
            "a failed batch's account is a row that says why, never left out: {row}"
        );
    }
    let error = serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null);
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("partial coverage report") && message.contains(&partial_key),
        "the failed run says where its partial report is: {error}"
    );
}

#[test]
fn a_suspended_account_that_is_still_a_member_is_not_outside_the_organization() {
    let (emu, seeded) = world();
    const SUSPENDED: &str = "111100000005";
    emu.control(
        "POST",
        "/_emulator/organizations/accounts",
        Some(json!({"accountId": SUSPENDED, "email": "s@example.com", "name": "Suspended", "status": "SUSPENDED"})),
    );
    for region in REGIONS {
        emu.put_member(&seeded, region, SUSPENDED, "Enabled", None);
    }
    let (out, summary) = reconcile(&env_for(&emu, &seeded, &[]), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for region in REGIONS {
        let r = region_summary(&summary, region);
        assert_eq!(r["outsideOrganization"], 0, "{r}");
        assert_eq!(r["accounts"], 4, "a suspended account is not counted: {r}");
    }
}

#[test]
fn a_region_the_account_is_still_enabling_is_counted_apart_not_silently_skipped() {
    const OPT_IN: &str = "af-south-1";
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", OPT_IN],
        &[
            ("222200000001", "e@example.com", "Enabling"),
            ("222200000002", "d@example.com", "Disabled"),
        ],
        &[],
    );
    emu.control(
        "POST",
        "/_emulator/account/regions",
        Some(json!({"accountId": "222200000001", "regions": {OPT_IN: "ENABLING"}})),
    );
    let (out, summary) = reconcile(&emu.env(&seeded, &["us-east-1", OPT_IN]), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let af = region_summary(&summary, OPT_IN);
    assert_eq!(af["regionEnabling"], 1, "{af}");
    assert_eq!(af["regionNotEnabled"], 1, "{af}");
    assert_eq!(af["accounts"], 0, "neither is counted yet: {af}");
}

#[tokio::test]
async fn the_management_account_s_regions_are_not_asked_from_the_delegated_administrator() {
    const DELEGATED: &str = "222233334444";
    const OPT_IN: &str = "af-south-1";
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", OPT_IN],
        &[
            (DELEGATED, "d@example.com", "Security"),
            ("222233335555", "m@example.com", "Member"),
        ],
        &[],
    );
    emu.control(
        "POST",
        "/_emulator/account/delegated-administrator",
        Some(json!({ "accountId": DELEGATED })),
    );
    for region in ["us-east-1", OPT_IN] {
        emu.create_member_detector(DELEGATED, region).await;
    }
    let sdk = emu.sdk_config().await;
    let assumed = aws_sdk_sts::Client::new(&sdk)
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{DELEGATED}:role/GuardDutyInviteMember"
        ))
        .role_session_name("tests")
        .send()
        .await
        .expect("AssumeRole");
    let c = assumed.credentials().expect("credentials");
    let mut env: Vec<(String, String)> = emu
        .env(&seeded, &["us-east-1", OPT_IN])
        .into_iter()
        .filter(|(k, _)| k != "AWS_ACCESS_KEY_ID" && k != "AWS_SECRET_ACCESS_KEY")
        .collect();
    env.extend([
        ("AWS_ACCESS_KEY_ID".into(), c.access_key_id().to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            c.secret_access_key().to_owned(),
        ),
        ("AWS_SESSION_TOKEN".into(), c.session_token().to_owned()),
    ]);
    // A manual request with emails: no Organizations lookup (the emulator lists the
    // organization only to its management account).
    let dir = tempfile::tempdir().expect("tempdir");
    let event = dir.path().join("request.json");
    std::fs::write(
        &event,
        json!({
            "version": "0", "id": "manual-1", "source": "security.manual",
            "detail-type": "GuardDuty Invite Request", "time": "2026-12-01T00:00:00Z",
            "region": "us-east-1", "resources": [], "account": DELEGATED,
            "detail": {"accounts": [
                {"accountId": "123456789012", "email": "root@example.com"},
                {"accountId": "222233335555", "email": "m@example.com"}
            ]}
        })
        .to_string(),
    )
    .expect("event");
    emu.clear_calls();
    let out = invoke(&env, &[event.as_path()]);
    let log = stderr(&out);
    assert_eq!(
        log.matches("management account's regions cannot be read")
            .count(),
        1,
        "{log}"
    );
    assert!(!log.contains("ListRegions is not allowed"), "{log}");
    let asked: Vec<Value> = emu.calls_of("ListRegions", None);
    assert!(
        asked.iter().all(|c| c["accountId"] != "123456789012"),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|c| c["accountId"] == "222233335555"),
        "the members are still asked about: {asked:?}"
    );
}

/// The problems published since the last read that name S3's PutObject (the coverage report).
async fn report_problems(emu: &Emulator, seeded: &Seeded) -> Vec<Value> {
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert!(!messages.is_empty(), "nothing published");
    sns_entries(&messages, "problems")
        .into_iter()
        .filter(|p| p.to_string().contains("PutObject"))
        .collect()
}

#[tokio::test]
async fn a_missing_bucket_and_a_refused_key_are_each_one_problem_and_an_s3_5xx_fails_the_run() {
    let (emu, seeded) = world();
    let env = env_for(&emu, &seeded, &[("COVERAGE_BUCKET", "coverage-reports")]);

    // No such bucket: the run completes, and says so once.
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let problems = report_problems(&emu, &seeded).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].to_string().contains("bucket does not exist"),
        "{problems:?}"
    );

    // The bucket is there but the role may not write the key: once again.
    emu.s3_with_bucket("coverage-reports").await;
    emu.control(
        "POST",
        "/_emulator/deny",
        Some(json!({"accountId": "*", "service": "s3", "operations": ["PutObject"]})),
    );
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let problems = report_problems(&emu, &seeded).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .to_string()
            .contains("not authorized to perform: s3:PutObject"),
        "{problems:?}"
    );
    emu.control("DELETE", "/_emulator/deny", None);

    // S3 failing in passing, on every attempt: the run fails as transient, to be retried.
    emu.fault(json!({"operation": "PutObject", "kind": "error500",
                     "times": guardduty_invite::aws::MAX_ATTEMPTS}));
    let (out, error) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(error["errorType"], "S3.PutObject.Transient", "{error}");
}

/// GuardDuty refuses the plans of every member of a region with the same answer: one
/// problem of the whole region, with the number of accounts it leaves unprotected, not one
/// per account. (The reconcile counts the accounts it tried per region and operation; only
/// when every one of them met the answer is it said once.)
#[tokio::test]
async fn plans_refused_for_every_account_of_a_region_are_one_problem_of_the_region() {
    let emu = Emulator::start();
    let accounts = three_accounts("33330000000");
    let refs = as_refs(&accounts);
    let region = REGIONS[0];
    let seeded = emu.seed(&[region], &refs, &[]);
    let ids: Vec<&str> = refs.iter().map(|(id, _, _)| *id).collect();
    for id in &ids {
        emu.put_member(&seeded, region, id, "Enabled", None);
    }
    let refused = "The request is rejected because the feature cannot be updated for this member.";
    emu.unprocessed("UpdateMemberDetectors", &ids, refused, 1);
    emu.clear_calls();
    let mut env = emu.env(&seeded, &[region]);
    env.push(("MEMBER_FEATURES".into(), PLAN.into()));
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{summary}\n{}", stderr(&out));
    let calls = emu.calls_of("UpdateMemberDetectors", Some(region));
    assert_eq!(calls.len(), 1, "one write for the batch: {calls:?}");

    let problems = sns_entries(&emu.received_sns(&seeded.queue_url).await, "problems");
    assert_eq!(problems.len(), 1, "said once: {problems:?}");
    let p = &problems[0];
    assert_eq!(p["accountId"], "*", "{p}");
    assert_eq!(p["region"], region, "{p}");
    assert_eq!(p["operation"], "UpdateMemberDetectors", "{p}");
    assert_eq!(p["affectedAccounts"], 3, "{p}");
    assert_eq!(summary["problems"], 1, "{summary}");
    assert_eq!(
        region_summary(&summary, region)["problems"],
        3,
        "the region's line counts the accounts left unprotected: {summary}"
    );
}

/// Three organization accounts, `{prefix}0` to `{prefix}2`: (id, email, name).
fn three_accounts(prefix: &str) -> Vec<(String, String, String)> {
    (0..3)
        .map(|i| {
            let id = format!("{prefix}{i}");
            (id, format!("a{i}@example.com"), format!("n{i}"))
        })
        .collect()
}

/// The accounts as `Emulator::seed` takes them.
fn as_refs(accounts: &[(String, String, String)]) -> Vec<(&str, &str, &str)> {
    accounts
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect()
}
