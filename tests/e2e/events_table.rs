//! docs/events.md's table of the samples in events/ says what each sample does, and this test
//! holds the table to it: every sample is run through the real binary, with the demo's
//! configuration (read from scripts/demo), in a freshly seeded demo world
//! (`emuctl.py seed --demo-world`), and must end as its row's "ends" column says, for the
//! accounts its "accounts" column names. The table is parsed out of docs/events.md, so the
//! table and the samples cannot drift apart: a sample missing from the table, or a row naming
//! a file that does not exist, fails too.

use std::collections::BTreeSet;

use crate::support::*;
use serde_json::Value;

/// The values the "ends" column may take, and what each one asserts (see `check_row`).
const OUTCOMES: &[&str] = &[
    "invited",
    "already_invited",
    "accepted",
    "already_enabled",
    "enabled_by_organization",
    "region_not_enabled",
];
const OTHER_ENDS: &[&str] = &[
    "skipped",
    "problem on SNS",
    "reconcile",
    "reconcile, dry run",
    "check",
];

/// One row of the samples table.
#[derive(Debug)]
struct Row {
    line: usize,
    file: String,
    accounts: BTreeSet<String>,
    ends: String,
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_owned()).collect()
}

/// The text of every inline code span in a cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// Every 12-digit account id in a cell.
fn account_ids(cell: &str) -> BTreeSet<String> {
    cell.split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 12)
        .map(str::to_owned)
        .collect()
}

/// The samples table of docs/events.md: the table whose header has the columns "sample",
/// "accounts" and "ends".
fn table() -> Vec<Row> {
    let path = repo().join("docs/events.md");
    let text = std::fs::read_to_string(&path).expect("docs/events.md");
    let lines: Vec<&str> = text.lines().collect();
    let (header_at, header) = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i, cells(l)))
        .find(|(i, c)| {
            lines[*i].trim_start().starts_with('|')
                && ["sample", "accounts", "ends"]
                    .iter()
                    .all(|name| c.iter().any(|h| h == name))
        })
        .expect("docs/events.md has a table with the columns sample, accounts and ends");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_default();
    let (sample, accounts, ends) = (column("sample"), column("accounts"), column("ends"));
    let mut rows = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(header_at + 2) {
        if !line.trim_start().starts_with('|') {
            break;
        }
        let c = cells(line);
        let get = |n: usize| c.get(n).cloned().unwrap_or_default();
        let file = code_spans(&get(sample))
            .into_iter()
            .find(|s| s.ends_with(".json"))
            .unwrap_or_else(|| panic!("docs/events.md:{}: no sample file in {line}", i + 1));
        let ends_spans = code_spans(&get(ends));
        assert_eq!(
            ends_spans.len(),
            1,
            "docs/events.md:{}: the ends column must hold one `value`: {line}",
            i + 1
        );
        rows.push(Row {
            line: i + 1,
            file,
            accounts: account_ids(&get(accounts)),
            ends: ends_spans[0].clone(),
        });
    }
    assert!(!rows.is_empty(), "the samples table has no rows");
    rows
}

/// The sample files in events/.
fn sample_files() -> BTreeSet<String> {
    samples().into_iter().map(|(name, _)| name).collect()
}

/// The demo's configuration: the variables scripts/demo exports with SNS_TOPIC_ARN (the
/// topic itself comes from the seeded world).
fn demo_configuration() -> Vec<(String, String)> {
    let script = std::fs::read_to_string(repo().join("scripts/demo")).expect("scripts/demo");
    let mut statement = String::new();
    let mut inside = false;
    for line in script.lines() {
        if line.trim_start().starts_with("export SNS_TOPIC_ARN=") {
            inside = true;
        }
        if inside {
            statement.push_str(line.trim_end().trim_end_matches('\\'));
            statement.push(' ');
            if !line.trim_end().ends_with('\\') {
                break;
            }
        }
    }
    let vars: Vec<(String, String)> = statement
        .split_whitespace()
        .skip(1) // export
        .filter_map(|word| word.split_once('='))
        .filter(|(k, _)| *k != "SNS_TOPIC_ARN")
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect();
    assert!(
        vars.iter().any(|(k, _)| k == "GUARDDUTY_REGIONS"),
        "scripts/demo's `export SNS_TOPIC_ARN=...` statement sets no GUARDDUTY_REGIONS: {statement}"
    );
    vars
}

fn regions_of(config: &[(String, String)]) -> Vec<String> {
    config
        .iter()
        .find(|(k, _)| k == "GUARDDUTY_REGIONS")
        .map(|(_, v)| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn the_table_names_every_sample_once_and_nothing_else() {
    let rows = table();
    let files = sample_files();
    let mut named = BTreeSet::new();
    let mut wrong = Vec::new();
    for row in &rows {
        if !files.contains(&row.file) {
            wrong.push(format!(
                "docs/events.md:{}: {} is not a file in events/",
                row.line, row.file
            ));
        }
        if !named.insert(row.file.clone()) {
            wrong.push(format!(
                "docs/events.md:{}: {} has a second row",
                row.line, row.file
            ));
        }
        if !OUTCOMES.contains(&row.ends.as_str()) && !OTHER_ENDS.contains(&row.ends.as_str()) {
            wrong.push(format!(
                "docs/events.md:{}: ends `{}` is not one of {OUTCOMES:?} or {OTHER_ENDS:?}",
                row.line, row.ends
            ));
        }
    }
    for file in files.difference(&named) {
        wrong.push(format!(
            "events/{file} has no row in docs/events.md's table"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_sample_ends_in_the_demo_world_as_the_table_says() {
    let rows = table();
    let config = demo_configuration();
    let regions = regions_of(&config);
    let region_refs: Vec<&str> = regions.iter().map(String::as_str).collect();
    let files = sample_files();
    // The other test says which rows name no sample.
    let rows: Vec<&Row> = rows.iter().filter(|r| files.contains(&r.file)).collect();
    // Each row in a world of its own, a few at a time: one after another they took most of
    // the suite's longest minute, waiting on one binary and one emulator at a time.
    let mut failures = Vec::new();
    for batch in rows.chunks(ROWS_AT_ONCE) {
        let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let running: Vec<_> = batch
                .iter()
                .map(|row| scope.spawn(|| run_row(row, &config, &region_refs)))
                .collect();
            running
                .into_iter()
                .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        failures.extend(results.into_iter().filter_map(Result::err));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// How many of the table's rows run at once (each is a forked world and a run of the binary).
const ROWS_AT_ONCE: usize = 4;

/// One row's sample, run in a fresh demo world: what the table says, or why not.
fn run_row(row: &Row, config: &[(String, String)], regions: &[&str]) -> Result<(), String> {
    let emu = Emulator::start();
    let seeded = emu.seed_demo_world();
    let mut env = emu.env(&seeded, regions);
    env.retain(|(k, _)| !config.iter().any(|(c, _)| c == k));
    env.extend(config.iter().cloned());
    let out = invoke(&env, &[&sample(&row.file)]);
    let ran = Ran {
        code: out.status.code(),
        response: responses(&out).into_iter().next().unwrap_or(Value::Null),
        // Before the inbox is read: reading it is a call too.
        calls: emu.calls(),
        sns: emu.received_sns_blocking(&seeded.queue_url),
        stderr: stderr(&out),
    };
    check_row(row, &ran, &emu, &seeded, regions).map_err(|e| {
        format!(
            "docs/events.md:{} {} (ends `{}`): {e}\n  response: {}\n  stderr: {}",
            row.line, row.file, row.ends, ran.response, ran.stderr
        )
    })
}

/// The calls that are neither reads nor one of `also`.
fn writes<'a>(calls: &'a [Value], also: &[&str]) -> Vec<&'a str> {
    calls
        .iter()
        .filter_map(|c| c["operation"].as_str())
        .filter(|o| !["List", "Get", "Describe"].iter().any(|p| o.starts_with(p)))
        .filter(|o| !also.contains(o))
        .collect()
}

/// What one sample's run left.
struct Ran {
    code: Option<i32>,
    response: Value,
    /// The AWS calls the run made.
    calls: Vec<Value>,
    sns: Vec<Value>,
    stderr: String,
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

/// The account ids of an event's response.
fn response_accounts(response: &Value) -> BTreeSet<String> {
    response["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["accountId"].as_str().map(str::to_owned))
        .collect()
}

/// The response was processed for exactly the row's accounts, each ending `expected` in
/// every region.
fn every_outcome_is(r: &Value, row: &Row, regions: &[&str], expected: &str) -> Result<(), String> {
    ensure(r["status"] == "processed", || "not processed".into())?;
    ensure(response_accounts(r) == row.accounts, || {
        format!(
            "accounts {:?}, the table says {:?}",
            response_accounts(r),
            row.accounts
        )
    })?;
    for account in &row.accounts {
        for region in regions {
            let o = outcome(r, account, region);
            ensure(o["outcome"] == expected, || {
                format!("{account} in {region}: {}", o["outcome"])
            })?;
        }
    }
    Ok(())
}

fn check_row(
    row: &Row,
    ran: &Ran,
    emu: &Emulator,
    seeded: &Seeded,
    regions: &[&str],
) -> Result<(), String> {
    let r = &ran.response;
    ensure(ran.code == Some(0), || {
        format!("exit status {:?}, not 0", ran.code)
    })?;
    let ends = row.ends.as_str();
    if OUTCOMES.contains(&ends) {
        every_outcome_is(r, row, regions, ends)?;
        for account in &row.accounts {
            for region in regions {
                let o = outcome(r, account, region);
                if ["accepted", "already_enabled", "enabled_by_organization"].contains(&ends) {
                    ensure(
                        o["relationshipStatus"] == "Enabled" && o["protected"] == true,
                        || format!("{account} in {region} not protected: {o}"),
                    )?;
                }
            }
        }
        ensure(r["problems"] == 0, || "problems reported".into())?;
        return ensure(ran.sns.is_empty(), || {
            format!("{} SNS message(s)", ran.sns.len())
        });
    }
    match ends {
        "skipped" => {
            ensure(r["status"] == "skipped", || "not skipped".into())?;
            ensure(row.accounts.is_empty(), || {
                "a skipped sample names no account".into()
            })?;
            ensure(ran.calls.is_empty(), || {
                format!("AWS calls made: {:?}", ran.calls)
            })?;
            ensure(ran.sns.is_empty(), || "SNS message sent".into())
        }
        "problem on SNS" => {
            every_outcome_is(r, row, regions, "problem")?;
            ensure(
                r["problems"].as_u64().unwrap_or_default() > 0
                    && r["notificationMessageIds"]
                        .as_array()
                        .is_some_and(|ids| !ids.is_empty()),
                || "no problem published in the response".into(),
            )?;
            let on_sns: BTreeSet<String> = sns_entries(&ran.sns, "problems")
                .iter()
                .filter_map(|p| p["accountId"].as_str().map(str::to_owned))
                .collect();
            ensure(row.accounts.is_subset(&on_sns), || {
                format!("on SNS: {on_sns:?}, the table says {:?}", row.accounts)
            })
        }
        "reconcile" => {
            ensure(r["dryRun"] == false && r["summary"].is_string(), || {
                "not a reconcile summary".into()
            })?;
            ensure(r["problems"] == 0 && r["coveragePercent"] == 100.0, || {
                format!("not every account-region protected: {}", r["summary"])
            })?;
            for account in &row.accounts {
                for region in regions {
                    let member = emu.member(region, &seeded.detector(region), account);
                    ensure(member["relationshipStatus"] == "Enabled", || {
                        format!("{account} in {region} after the reconcile: {member}")
                    })?;
                }
            }
            Ok(())
        }
        "reconcile, dry run" => {
            ensure(r["dryRun"] == true, || "not a dry run".into())?;
            ensure(writes(&ran.calls, &[]).is_empty(), || {
                format!("a dry run wrote: {:?}", writes(&ran.calls, &[]))
            })?;
            for region in regions {
                let would: BTreeSet<String> = region_summary(r, region)["wouldInvite"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect();
                ensure(would == row.accounts, || {
                    format!(
                        "{region} would invite {would:?}, the table says {:?}",
                        row.accounts
                    )
                })?;
            }
            ensure(ran.sns.is_empty(), || "a dry run published".into())
        }
        "check" => {
            ensure(r["passed"] == true, || "the check did not pass".into())?;
            // Read calls only; assuming the member role is how it tries the role.
            let writes: Vec<&str> = ran
                .calls
                .iter()
                .filter_map(|c| c["operation"].as_str())
                .filter(|o| {
                    !["List", "Get", "Describe", "AssumeRole"]
                        .iter()
                        .any(|p| o.starts_with(p))
                })
                .collect();
            ensure(writes.is_empty(), || format!("the check wrote: {writes:?}"))?;
            for account in &row.accounts {
                let tried = r["checks"].as_array().into_iter().flatten().any(|c| {
                    c["check"] == "member role"
                        && c["verdict"] == "passed"
                        && c["detail"]
                            .as_str()
                            .is_some_and(|d| d.contains(account.as_str()))
                });
                ensure(tried, || {
                    format!("the member role was not assumed in {account}")
                })?;
            }
            Ok(())
        }
        other => Err(format!("unknown ends value `{other}`")),
    }
}
