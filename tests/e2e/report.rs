//! End to end over loopback: the HTML coverage report (`reconcile --report FILE.html`, and
//! beside the CSV in S3 with the day's summary the trend is drawn from), GuardDuty's 30-day
//! cost per account in the CSV and per OU and plan on the page, a refused or throttled usage
//! read leaving the cost unknown without failing the run; and the page loaded in headless
//! Chromium: the CSV's numbers, every unprotected account-region, markup in names shown as
//! text, no console error, a screenshot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::*;
use guardduty_invite::policy::Date;
use serde_json::json;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const PROTECTED: &str = "111100000001";
const SCRIPTED: &str = "111100000002";
const MISSING: &str = "111100000003";
const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const PLAN: &str = "S3_DATA_EVENTS";

/// Three accounts in two regions: one protected, one named like a script with its plan off,
/// one never added; each with a cost in us-east-1, one in eu-west-1 too.
fn world() -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &REGIONS,
        &[
            (PROTECTED, "p@example.com", "Payments & \"Prod\""),
            (SCRIPTED, "s@example.com", SCRIPT_NAME),
            (MISSING, "m@example.com", "Missing <b>bold</b>"),
        ],
        &[],
    );
    for region in REGIONS {
        emu.put_member(&seeded, region, PROTECTED, "Enabled", None);
        emu.put_member(&seeded, region, SCRIPTED, "Enabled", None);
        emu.set_plan(region, PROTECTED, PLAN, "ENABLED");
        emu.set_plan(region, SCRIPTED, PLAN, "DISABLED");
    }
    emu.seed_usage(
        "us-east-1",
        json!({PROTECTED: {"S3_DATA_EVENTS": 1.25, "EC2_RUNTIME_MONITORING": 2.0, "CLOUD_TRAIL": 0.5},
               SCRIPTED: {"S3_DATA_EVENTS": 3.0}}),
    );
    emu.seed_usage("eu-west-1", json!({PROTECTED: {"S3_DATA_EVENTS": 0.75}}));
    emu.clear_calls();
    (emu, seeded)
}

fn env_for(emu: &Emulator, seeded: &Seeded) -> Vec<(String, String)> {
    let mut env = emu.env(seeded, &REGIONS);
    env.push(("MEMBER_FEATURES".into(), PLAN.into()));
    env
}

/// `reconcile --dry-run --coverage CSV --report HTML`: (the run, the CSV, the page, its path).
fn report(env: &[(String, String)], dir: &Path) -> (Output, String, String, PathBuf) {
    let (csv, html) = (dir.join("coverage.csv"), dir.join("coverage.html"));
    let out = run_binary(
        env,
        &[
            "reconcile".as_ref(),
            "--dry-run".as_ref(),
            "--coverage".as_ref(),
            csv.as_os_str(),
            "--report".as_ref(),
            html.as_os_str(),
        ],
    );
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (out, read(&csv), read(&html), html)
}

/// The CSV's records (header first).
fn records(csv: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(|r| r.expect("a CSV record"))
        .collect()
}

fn column(csv: &str, name: &str) -> usize {
    let header = csv.lines().next().unwrap_or_default();
    header
        .split(',')
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no {name} in {header}"))
}

/// (counted, protected, the unprotected (account, region)) as the CSV says.
fn csv_numbers(csv: &str) -> (usize, usize, BTreeSet<(String, String)>) {
    let p = column(csv, "protected");
    let rows = records(csv);
    let counted = rows.iter().filter(|r| &r[p] != "not counted").count();
    let protected = rows.iter().filter(|r| &r[p] == "yes").count();
    let unprotected = rows
        .iter()
        .filter(|r| &r[p] == "no")
        .map(|r| (r[0].to_owned(), r[2].to_owned()))
        .collect();
    (counted, protected, unprotected)
}

/// The text of the element with `id` in an HTML page (or a DOM dump).
fn by_id<'h>(html: &'h str, id: &str) -> &'h str {
    let open = format!("id=\"{id}\">");
    let start = html
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let len = html[start..].find('<').unwrap_or(0);
    &html[start..start + len]
}

/// The `<li>` of an account among the unprotected, as markup.
fn account_item<'h>(html: &'h str, account: &str) -> &'h str {
    let open = format!("<li data-account=\"{account}\">");
    let start = html
        .find(&open)
        .unwrap_or_else(|| panic!("{account} is not among the unprotected"));
    let len = html[start..].find("</li>").unwrap_or(0);
    &html[start..start + len]
}

/// Every unprotected account-region of the CSV is listed on the page.
fn assert_lists_every_unprotected(page: &str, unprotected: &BTreeSet<(String, String)>) {
    for (account, region) in unprotected {
        assert!(
            account_item(page, account).contains(region.as_str()),
            "{account} in {region} is not on the page"
        );
    }
}

#[test]
fn the_report_is_one_self_contained_page_whose_numbers_are_the_csv_s() {
    let (emu, seeded) = world();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (out, csv, html, path) = report(&env_for(&emu, &seeded), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("coverage report: {}", path.display())),
        "the path is said: {}",
        stderr(&out)
    );
    let (counted, protected, unprotected) = csv_numbers(&csv);
    assert_eq!((counted, protected), (6, 2), "{csv}");
    assert_eq!(by_id(&html, "counted"), counted.to_string());
    assert_eq!(by_id(&html, "protected"), protected.to_string());
    assert_eq!(by_id(&html, "percent"), "33.3");
    assert_eq!(
        by_id(&html, "unprotected-count"),
        unprotected.len().to_string()
    );
    assert_lists_every_unprotected(&html, &unprotected);
    // Markup in names is text: no element but the page's own.
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("<b>bold"),
        "{html}"
    );
    // Self-contained: nothing fetched from elsewhere.
    for outside in ["src=", "href=\"http", "@import", "url(", "<link"] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
    // Grouped, collapsed lists; the trend as inline SVG; the grid says it in text too.
    assert!(html.contains("<details") && html.contains("<svg id=\"trend\""));
    assert!(
        html.contains("<td class=\"part\">! 1 of 3 (33.3%)</td>"),
        "{html}"
    );
}

#[test]
fn the_csv_and_the_page_carry_guardduty_s_30_day_cost_per_account_ou_and_plan() {
    let (emu, seeded) = world();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (out, csv, html, _) = report(&env_for(&emu, &seeded), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cost = column(&csv, "cost_30d_usd");
    let costs: BTreeSet<(String, String, String)> = records(&csv)
        .iter()
        .map(|r| (r[0].to_owned(), r[2].to_owned(), r[cost].to_owned()))
        .collect();
    for expected in [
        (PROTECTED, "us-east-1", "3.75"),
        (PROTECTED, "eu-west-1", "0.75"),
        (SCRIPTED, "us-east-1", "3.00"),
        (SCRIPTED, "eu-west-1", "0.00"),
        (MISSING, "us-east-1", "0.00"),
    ] {
        let e = (expected.0.into(), expected.1.into(), expected.2.into());
        assert!(costs.contains(&e), "{expected:?} not in {costs:?}");
    }
    assert_eq!(by_id(&html, "cost-total"), "7.50");
    // Per plan: Runtime Monitoring's agent feature under its plan, the foundational apart.
    assert!(
        html.contains("<tr><td>S3_DATA_EVENTS</td><td>5.00</td></tr>"),
        "{html}"
    );
    assert!(
        html.contains("<tr><td>RUNTIME_MONITORING</td><td>2.00</td></tr>"),
        "{html}"
    );
    assert!(
        html.contains("<tr><td>FOUNDATIONAL</td><td>0.50</td></tr>"),
        "{html}"
    );
    // AWS's own words that it is an estimate.
    assert!(html.contains("This may differ from the cost metrics in the console"));
    // Once per region: per account in 50s, per OU's accounts in 50s.
    let calls = emu.calls_of("GetUsageStatistics", None);
    let kinds: BTreeSet<(String, String, usize)> = calls
        .iter()
        .map(|c| {
            (
                c["region"].as_str().unwrap_or_default().to_owned(),
                c["usage"]["type"].as_str().unwrap_or_default().to_owned(),
                c["usage"]["accountIds"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(kinds.contains(&("us-east-1".into(), "SUM_BY_ACCOUNT".into(), 3)));
    assert!(kinds.contains(&("eu-west-1".into(), "SUM_BY_FEATURES".into(), 3)));
}

#[test]
fn usage_is_read_in_batches_of_at_most_50_accounts() {
    let emu = Emulator::start();
    let accounts: Vec<(String, String)> = (1..=60)
        .map(|i| (format!("2222000000{i:02}"), format!("a{i}@example.com")))
        .collect();
    let listed: Vec<(&str, &str, &str)> = accounts
        .iter()
        .map(|(id, email)| (id.as_str(), email.as_str(), ""))
        .collect();
    let seeded = emu.seed(&["us-east-1"], &listed, &[]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (out, csv, _, _) = report(&emu.env(&seeded, &["us-east-1"]), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(csv.contains("cost_30d_usd"));
    let mut sizes: Vec<(String, usize)> = emu
        .calls_of("GetUsageStatistics", Some("us-east-1"))
        .iter()
        .map(|c| {
            (
                c["usage"]["type"].as_str().unwrap_or_default().to_owned(),
                c["usage"]["accountIds"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [
            ("SUM_BY_ACCOUNT".into(), 10),
            ("SUM_BY_ACCOUNT".into(), 50),
            ("SUM_BY_FEATURES".into(), 10),
            ("SUM_BY_FEATURES".into(), 50),
        ]
    );
}

#[test]
fn a_refused_or_throttled_usage_read_leaves_the_cost_unknown_and_the_reconcile_succeeds() {
    let (emu, seeded) = world();
    let env = env_for(&emu, &seeded);
    emu.control(
        "POST",
        "/_emulator/deny",
        Some(json!({"accountId": "*", "operations": ["GetUsageStatistics"]})),
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (out, csv, html, _) = report(&env, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cost = column(&csv, "cost_30d_usd");
    let cells: BTreeSet<String> = records(&csv).iter().map(|r| r[cost].to_owned()).collect();
    assert_eq!(cells, BTreeSet::from(["unknown".to_owned()]), "{csv}");
    assert!(
        html.contains("Cost in us-east-1: unknown (GetUsageStatistics AccessDeniedException"),
        "{html}"
    );
    // Coverage is not held back by cost.
    assert_eq!(by_id(&html, "protected"), "2");

    emu.control("DELETE", "/_emulator/deny", None);
    emu.fault(
        json!({"operation": "GetUsageStatistics", "kind": "throttle", "region": "eu-west-1"}),
    );
    let (out, csv, html, _) = report(&env, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = records(&csv);
    let by_region = |region: &str| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| &r[2] == region)
            .map(|r| r[cost].to_owned())
            .collect()
    };
    assert_eq!(
        by_region("eu-west-1"),
        BTreeSet::from(["unknown".to_owned()])
    );
    assert!(!by_region("us-east-1").contains("unknown"), "{csv}");
    assert!(html.contains("Cost in eu-west-1: unknown"), "{html}");
}

#[test]
fn without_a_report_no_usage_is_read() {
    let (emu, seeded) = world();
    let (out, _) = reconcile(&env_for(&emu, &seeded), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(emu.calls_of("GetUsageStatistics", None).is_empty());
}

#[tokio::test]
async fn the_scheduled_reconcile_writes_the_page_and_the_day_s_summary_and_draws_the_trend() {
    let (emu, seeded) = world();
    let s3 = emu.s3_with_bucket("coverage-reports").await;
    // Two earlier days' summaries, and one too old for the trend.
    let today = today();
    let earlier = |days: i64| date_of(today - days);
    for (days, pct) in [(2, 12.5), (1, 25.0), (40, 99.0)] {
        let body =
            json!({"date": earlier(days), "accountRegions": 8, "protected": 1, "percent": pct});
        s3.put_object()
            .bucket("coverage-reports")
            .key(format!("coverage/summary/{}.json", earlier(days)))
            .body(body.to_string().into_bytes().into())
            .send()
            .await
            .expect("PutObject");
    }
    let mut env = env_for(&emu, &seeded);
    env.push(("COVERAGE_BUCKET".into(), "coverage-reports".into()));
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let get = |key: String| {
        let s3 = s3.clone();
        async move {
            let o = s3
                .get_object()
                .bucket("coverage-reports")
                .key(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key}: {e:?}"));
            let bytes = o.body.collect().await.expect("body").into_bytes();
            (
                o.content_type.unwrap_or_default(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        }
    };
    let (kind, html) = get(format!("coverage/{}.html", date_of(today))).await;
    assert!(kind.starts_with("text/html"), "{kind}");
    let (_, csv) = get(format!("coverage/{}.csv", date_of(today))).await;
    let (counted, protected, _) = csv_numbers(&csv);
    assert_eq!(by_id(&html, "protected"), protected.to_string());
    let (_, summary) = get(format!("coverage/summary/{}.json", date_of(today))).await;
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("JSON");
    assert_eq!(summary["accountRegions"], counted);
    assert_eq!(summary["protected"], protected);
    // The trend: the two earlier days and today, not the day 40 days ago.
    assert!(html.contains("Trend (3 daily reports)"), "{html}");
    assert!(html.contains(&format!("{}: 12.5%", earlier(2))), "{html}");
    assert!(!html.contains(&earlier(40)), "{html}");
    assert!(
        html.contains(&format!("since the report of {}", earlier(1))),
        "{html}"
    );
}

/// Days since 1970-01-01, today (UTC).
fn today() -> i64 {
    Date::of(std::time::SystemTime::now()).days()
}

/// `YYYY-MM-DD` of days since 1970-01-01.
fn date_of(days: i64) -> String {
    Date::from_days(days).to_string()
}

// ------------------------------------------------------------------ in a real browser

/// Debian's Chromium (scripts/test installs it).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium on `page` with a fresh profile and none of its background
/// connections (the machine's network refuses them), plus `args`; stopped after 60 s (a page
/// whose script opens a dialog would hold it forever).
fn chromium(page: &Path, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().expect("a profile directory");
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    Command::new("timeout")
        .args(["60", CHROMIUM])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &profile_arg,
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{CHROMIUM}: {e} (scripts/test installs Debian's chromium)"))
}

/// The console messages Chromium logged (`:CONSOLE(` lines) that are errors or failed loads.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Failed to load resource"))
        .filter(|l| l.contains("ERROR") || l.contains("Uncaught") || l.contains("Failed"))
        .collect()
}

#[test]
fn the_report_renders_in_headless_chromium_with_the_csv_s_numbers_and_no_console_error() {
    let (emu, seeded) = world();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (out, csv, _, path) = report(&env_for(&emu, &seeded), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let dumped = chromium(&path, &["--dump-dom"]);
    assert!(dumped.status.success(), "{}", stderr(&dumped));
    let dom = String::from_utf8_lossy(&dumped.stdout).into_owned();
    let (counted, protected, unprotected) = csv_numbers(&csv);
    assert_eq!(by_id(&dom, "counted"), counted.to_string(), "{dom}");
    assert_eq!(by_id(&dom, "protected"), protected.to_string());
    assert_eq!(
        by_id(&dom, "unprotected-count"),
        unprotected.len().to_string()
    );
    assert_lists_every_unprotected(&dom, &unprotected);
    // The browser built no element from a name: it shows the name as text.
    assert!(
        !dom.contains("<script") && !dom.contains("<b>bold"),
        "{dom}"
    );
    assert!(
        account_item(&dom, SCRIPTED).contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    let errors = console_errors(&String::from_utf8_lossy(&dumped.stderr)).len();
    assert_eq!(errors, 0, "{}", String::from_utf8_lossy(&dumped.stderr));

    let shot = dir.path().join("coverage-report.png");
    let screenshot_arg = format!("--screenshot={}", shot.display());
    let taken = chromium(&path, &[&screenshot_arg, "--window-size=1200,1600"]);
    assert!(taken.status.success(), "{}", stderr(&taken));
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("coverage-report.png");
    let _ = std::fs::copy(&shot, kept);
}

#[tokio::test]
async fn check_policy_shows_what_each_rule_s_accounts_plans_cost_over_30_days() {
    let (emu, seeded) = world();
    let parameter = "/guardduty-invite/protection-policy";
    let policy = format!(
        "default: {{plans: [S3_DATA_EVENTS, RUNTIME_MONITORING]}}\nrules:\n  - match: {{account: \"{SCRIPTED}\"}}\n    plans: [S3_DATA_EVENTS]\n"
    );
    emu.put_parameter(
        parameter,
        &policy,
        aws_sdk_ssm::types::ParameterType::String,
    )
    .await;
    let mut env = emu.env(&seeded, &REGIONS);
    env.push(("PROTECTION_POLICY_PARAMETER".into(), parameter.into()));
    let out = run_binary(&env, &["check", "--json", "--policy"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let details: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["check"] == "policy rules")
        .map(|c| c["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    let text = details.join("\n");
    assert!(
        text.contains(&format!(
            "rules[0] (account {SCRIPTED}): 1 account(s): plans S3_DATA_EVENTS; 30-day cost USD 3.00 (S3_DATA_EVENTS 3.00)"
        )),
        "{text}"
    );
    assert!(
        text.contains("EC2_AGENT_MANAGEMENT); 30-day cost USD 4.50 (FOUNDATIONAL 0.50, RUNTIME_MONITORING 2.00, S3_DATA_EVENTS 2.00)"),
        "{text}"
    );
    assert!(
        text.contains("GuardDuty's estimate, not the bill"),
        "{text}"
    );
}

#[tokio::test]
async fn a_partial_run_writes_its_page_apart_and_leaves_no_summary_for_the_trend() {
    let (emu, seeded) = world();
    let s3 = emu.s3_with_bucket("coverage-reports").await;
    let mut env = env_for(&emu, &seeded);
    env.push(("COVERAGE_BUCKET".into(), "coverage-reports".into()));
    // The plan turned off cannot be turned on again in eu-west-1: the run fails in part.
    emu.fault(
        json!({"operation": "UpdateMemberDetectors", "kind": "error500", "region": "eu-west-1"}),
    );
    let (out, _) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let listed = s3
        .list_objects_v2()
        .bucket("coverage-reports")
        .send()
        .await
        .expect("ListObjectsV2");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let day = date_of(today());
    assert_eq!(
        keys,
        [
            format!("coverage/{day}.partial.csv"),
            format!("coverage/{day}.partial.html")
        ],
        "a partial run's page is kept apart, and its numbers do not join the trend"
    );
}
