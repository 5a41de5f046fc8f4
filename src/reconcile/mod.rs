//! Reconcile: the organization against the members of every region, so that an account whose
//! event was missed, that joined by invitation, or that drifted (resigned, removed, a plan
//! turned off) is found and protected; and the coverage of the whole organization, as
//! GuardDuty returns it, per account, region and plan.
//!
//! ```text
//! walk the organization (its OUs, then pages of accounts as they come: organize)
//!   ∥ list every region's members, reading the Enabled ones' plans (read.rs)
//!     → each block of 50 listed accounts, planned in every region (plan.rs), through the
//!       flow's stages, each batch kept as coverage rows (coverage.rs)   (work)
//!   → drift, problems (a region-level one said once) → publish → one summary
//! ```

pub mod cost;
pub mod coverage;
pub mod plan;
mod read;
mod summary;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use futures::channel::{mpsc, oneshot};
use futures::stream::{self, Stream, StreamExt};
use serde::Serialize;
use tracing::warn;
use typed_arena::Arena;

use crate::aws::{Aws, ListedAccount, Tree};
use crate::config::Config;
use crate::error::{AwsError, HandlerError, Published};
use crate::event::EventMeta;
use crate::flow::tally::{tally, Logging, Tally};
use crate::flow::{Flow, Slot, Step, Target, BATCH_SIZE};
use crate::logging::Progress;
use crate::policy::{Date, Policy};
use crate::policy_store::PolicyStore;
use crate::publish;
use crate::report::{Drift, DriftKind, Outcome, OutcomeLabel, RegionOutcomes};
use coverage::{RegionCoverage, Row};
use plan::{Expiring, Organization, RegionPlan};

/// The time a reconcile may take when nobody set a deadline (by hand, from a terminal).
pub const RECONCILE_BUDGET: Duration = Duration::from_secs(15 * 60);

/// How a reconcile runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Read calls only: nothing is changed or published.
    pub dry_run: bool,
    /// Keep the coverage report as CSV in the result (`reconcile --coverage`).
    pub coverage_csv: bool,
    /// Keep the coverage report as HTML in the result (`reconcile --report`); it reads what
    /// protection costs, as the scheduled reconcile with a coverage bucket does.
    pub report_html: bool,
    /// From this moment no batch starts: the run publishes what it has and fails, naming the
    /// accounts it did not reach (`None`: no limit).
    pub cutoff: Option<Instant>,
}

/// The protection policy a reconcile applies, and where it came from (to check the OUs it
/// names against the organization's).
#[derive(Clone, Copy)]
pub struct Protection<'p> {
    pub policy: &'p Policy,
    pub store: &'p PolicyStore,
}

/// One region's line of the summary.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionSummary {
    pub region: String,
    pub organization_accounts: usize,
    /// The members' relationship statuses as ListMembers returned them at the start of the
    /// run, before this run changed any.
    pub members_by_status: BTreeMap<String, usize>,
    pub outside_organization: usize,
    pub invited_now: usize,
    pub accepted_now: usize,
    pub plans_enabled_now: usize,
    pub problems: usize,
    pub drift: usize,
    pub unprotected_accounts: usize,
    /// Opt-in regions accounts have not enabled: skipped, not in the coverage's count.
    pub region_not_enabled: usize,
    /// Opt-in regions accounts are still enabling (`ENABLING`): skipped until enabled, not
    /// in the coverage's count.
    pub region_enabling: usize,
    /// Accounts the protection policy excepts: left alone, not in the coverage's count.
    pub excepted: usize,
    /// Accounts the run did not reach before its deadline: not in the coverage's count; the
    /// run fails so that it is retried.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_reached: usize,
    /// Plans of the policy GuardDuty does not offer in this region (the administrator's own
    /// detector does not list them): not wanted here, so not written nor counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_offered: Vec<String>,
    #[serde(flatten)]
    pub coverage: RegionCoverage,
    /// Dry run: the accounts it would invite, accept, or turn plans on for; associate again
    /// with CreateMembers (organization members found `Removed`), or monitor again with
    /// StartMonitoringMembers (`Disabled`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_invite: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_accept: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_enable_plans: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_associate: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_start_monitoring: Vec<String>,
}

/// What a reconcile reports: one summary per run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub event_id: String,
    pub dry_run: bool,
    pub organization_accounts: usize,
    /// Organization account-regions counted, and those protected as GuardDuty returned them.
    pub account_regions: usize,
    pub protected_account_regions: usize,
    pub coverage_percent: f64,
    pub regions: Vec<RegionSummary>,
    pub problems: usize,
    pub drift: usize,
    /// "N of M account-regions protected (P%); X problem(s), Y drift".
    pub summary: String,
    /// Dry run: the problems and drift it sees, one line each (nothing is published).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problem_lines: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift_lines: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_message_ids: Vec<String>,
    /// Exceptions of the protection policy that end within 30 days.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expiring: Vec<Expiring>,
    /// Rules of the protection policy that matched no account: a typo there excepts nobody,
    /// or sets no plan, while seeming to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched_rules: Vec<String>,
    /// Where the coverage report was written (S3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage_report: Option<String>,
    /// The coverage report as CSV, when asked for.
    #[serde(skip)]
    pub coverage_csv: Option<String>,
    /// The coverage report as one HTML page, when asked for.
    #[serde(skip)]
    pub coverage_html: Option<String>,
}

/// The stages of a reconcile, in order. The organization is listed and worked on at once:
/// each batch of accounts goes through the flow as soon as it is listed (and every region's
/// members are read), so that the run takes about as long as the listing's chain of pages.
pub async fn run(
    aws: &Aws,
    config: &Config,
    protection: Protection<'_>,
    meta: &EventMeta,
    options: Options,
) -> Result<ReconcileReport, HandlerError> {
    // The coverage report's date: the day the run started, however long it runs.
    let started = SystemTime::now();
    let progress = Progress::start("reconcile");
    let admin = aws.admin_account().await.map_err(failed)?;
    progress.stage(if options.dry_run {
        "listing the organization and every region's members, reading the members' plans"
    } else {
        "listing the organization and every region's members, inviting, accepting and turning plans on"
    });
    let policy = protection.policy;
    let arena = Arena::new();
    let (targets, listed_targets) = mpsc::unbounded();
    let listing = Listing {
        protection,
        admin: &admin,
        options,
        progress: &progress,
    };
    let (listed, worked) = tokio::join!(
        list(aws, config, listing, targets),
        work(aws, config, policy, listed_targets, &arena, options)
    );
    let listed = listed?;
    let (mut plans, ran) = worked.map_err(failed)?;
    for p in &mut plans {
        p.count_outside(&listed.org);
    }
    let sum = |count: fn(&RegionOutcomes) -> u64| -> usize {
        ran.tally.per_region.values().map(count).sum::<u64>() as usize
    };
    progress.say(format!(
        "{} sent, {} accepted",
        plural(sum(RegionOutcomes::invitations_sent), "invitation"),
        sum(|c| c.count(OutcomeLabel::Accepted))
    ));
    progress.stage("publishing");
    let concluding = Concluding {
        policy,
        meta,
        org: &listed.org,
        plans: &plans,
        started,
        ou_of: &listed.ou_of,
        costs: listed.costs,
    };
    let report = conclude(aws, config, concluding, ran, options).await?;
    progress.finish(report.summary.clone());
    Ok(report)
}

/// A call that failed the run before anything was published.
fn failed(e: AwsError) -> HandlerError {
    HandlerError::Incomplete {
        failures: vec![e],
        published: Published::nothing(),
    }
}

/// What the listing side of a run needs.
struct Listing<'r> {
    protection: Protection<'r>,
    admin: &'r str,
    options: Options,
    progress: &'r Progress,
}

/// The organization as listed, and what its protection costs (when a report is made).
struct Listed {
    org: Organization,
    /// Account id → its OU's name.
    ou_of: HashMap<String, String>,
    costs: Option<cost::Costs>,
}

/// Walks the organization, sending the accounts to protect to `targets` page by page; then
/// reads what protection costs (beside the flow's last batches).
async fn list(
    aws: &Aws,
    config: &Config,
    listing: Listing<'_>,
    targets: mpsc::UnboundedSender<Vec<Target>>,
) -> Result<Listed, HandlerError> {
    let (pages, listed_pages) = mpsc::unbounded();
    let (tree, walked_tree) = oneshot::channel();
    let (walked, organized) = tokio::join!(
        aws.walk_organization(pages, tree),
        organize(aws, &listing, listed_pages, walked_tree, targets)
    );
    walked.map_err(failed)?;
    let (org, ou_of) = organized?;
    listing.progress.say(format!(
        "{} and the members of {} listed",
        plural(org.targets.len(), "organization account"),
        plural(config.regions.len(), "region")
    ));
    warn_organization(listing.protection.policy, &org);
    let costs = read_costs(aws, config, listing.options, &org, &ou_of).await;
    Ok(Listed { org, ou_of, costs })
}

/// The organization's accounts to protect, page by page as the walk lists them, once the
/// tree shows that every OU the policy names exists (nothing is done under a policy that
/// names one the organization does not have).
async fn organize(
    aws: &Aws,
    listing: &Listing<'_>,
    mut pages: mpsc::UnboundedReceiver<Vec<ListedAccount>>,
    tree: oneshot::Receiver<Tree>,
    targets: mpsc::UnboundedSender<Vec<Target>>,
) -> Result<(Organization, HashMap<String, String>), HandlerError> {
    let policy = listing.protection.policy;
    let mut org = Organization::new(policy);
    let mut ou_of = HashMap::new();
    // The walk failed before the tree was whole: its error says why.
    let Ok(tree) = tree.await else {
        return Ok((org, ou_of));
    };
    listing.protection.store.check_ous(policy, &tree.ous)?;
    let today = Date::of(SystemTime::now());
    while let Some(mut page) = pages.next().await {
        // An account listed again (from the root, after an OU was deleted during the walk)
        // keeps its first listing: its OU path is not looked up.
        page.retain(|a| !org.listed.contains(&a.id));
        let page = with_ou_paths(aws, policy, page).await.map_err(failed)?;
        ou_of.extend(ou_names(&page, &tree.ou_names));
        let new = org.add(page, listing.admin, policy, today);
        // Not read any more: the work stopped (a region's members could not be read), and
        // says why.
        if !new.is_empty() && targets.unbounded_send(new).is_err() {
            break;
        }
    }
    org.finish();
    Ok((org, ou_of))
}

/// Every region's members read, then every account sent to `targets` put through the flow,
/// in batches of 50 of every region, as they come.
async fn work<'a>(
    aws: &'a Aws,
    config: &'a Config,
    policy: &Policy,
    targets: mpsc::UnboundedReceiver<Vec<Target>>,
    arena: &'a Arena<Target>,
    options: Options,
) -> Result<(Vec<RegionPlan<'a>>, Ran<'a>), AwsError> {
    let reads = read::read_regions(aws, &config.regions, &policy.named_features()).await?;
    let now = SystemTime::now();
    let plans: Vec<RegionPlan<'a>> = config
        .regions
        .iter()
        .zip(reads)
        .map(|(region, read)| RegionPlan::new(region, read.members, read.plans, config, now))
        .collect();
    // Every region's batch of one block of accounts, then the next block: GuardDuty throttles
    // per region, so the batches worked on at once draw on every region's buckets instead of
    // queueing on one region's while the others' stay unused.
    let batches = targets
        .flat_map(stream::iter)
        .chunks(BATCH_SIZE)
        .flat_map(|block| {
            let block: &'a [Target] = arena.alloc_extend(block);
            stream::iter(plans.iter().map(move |p| p.slots(block)))
        });
    let ran = run_plans(aws, config, policy, &plans, batches, options).await;
    Ok((plans, ran))
}

/// Rules that match no account, and accounts that cannot be members, each said in the log.
fn warn_organization(policy: &Policy, org: &Organization) {
    for (i, n) in org.rule_matches.iter().enumerate() {
        if *n == 0 {
            warn!(rule = %policy.rules[i].describe(i), "a rule of the protection policy matches no account");
        }
    }
    for p in &org.problems {
        warn!(account_id = %p.account_id, reason = %p.reason, "organization account that cannot be a member");
    }
}

/// What protection costs, when a report is made.
async fn read_costs(
    aws: &Aws,
    config: &Config,
    options: Options,
    org: &Organization,
    ou_of: &HashMap<String, String>,
) -> Option<cost::Costs> {
    if !wants_report(config, options) {
        return None;
    }
    let groups = by_ou(org, ou_of);
    let reading = cost::Reading::AccountsAndPlans;
    Some(cost::read(aws, &config.regions, &groups, reading, options.cutoff).await)
}

/// The HTML report is made (and the cost read) for `--report`, and by a scheduled run
/// that writes to the coverage bucket.
fn wants_report(config: &Config, options: Options) -> bool {
    options.report_html || (config.coverage_bucket.is_some() && !options.dry_run)
}

/// Account id → the name of its own OU ("Root" directly under the root).
fn ou_names(
    accounts: &[ListedAccount],
    names: &HashMap<String, String>,
) -> HashMap<String, String> {
    accounts
        .iter()
        .filter_map(|a| {
            let path = a.ous.as_deref()?;
            let name = match path.last() {
                None => "Root".to_owned(),
                Some(id) => names
                    .get(id)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(id)
                    .clone(),
            };
            Some((a.id.clone(), name))
        })
        .collect()
}

/// OU name → the organization's accounts in it.
fn by_ou(org: &Organization, ou_of: &HashMap<String, String>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &org.targets {
        let id = t.account_id.as_str();
        let ou = ou_of.get(id).map_or("(no OU known)", String::as_str);
        out.entry(ou.to_owned()).or_default().push(id.to_owned());
    }
    out
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// "1 region", "2 regions".
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Accounts the walk found only from the root (an OU deleted meanwhile) get their OU path
/// from ListParents, when the policy has OU rules.
async fn with_ou_paths(
    aws: &Aws,
    policy: &Policy,
    mut accounts: Vec<ListedAccount>,
) -> Result<Vec<ListedAccount>, AwsError> {
    if !policy.has_ou_rules() {
        return Ok(accounts);
    }
    for a in accounts.iter_mut().filter(|a| a.ous.is_none()) {
        a.ous = Some(aws.ou_path(&a.id).await?);
    }
    Ok(accounts)
}

/// What the flow left of a reconcile's batches.
#[derive(Default)]
struct Ran<'a> {
    rows: Vec<Row<'a>>,
    tally: Tally,
    drift: Vec<Drift>,
    /// (region, operation) → accounts the run tried it for (region-level problems).
    tried: HashMap<(String, String), usize>,
    /// Dry run, by region: would invite, accept, turn plans on, associate again, start
    /// monitoring again.
    would: BTreeMap<String, [Vec<String>; 5]>,
    /// By region, the plans of the policy GuardDuty does not offer there.
    not_offered: BTreeMap<String, Vec<String>>,
}

/// Puts every batch through the flow's stages, and keeps each finished batch as rows,
/// tally, drift.
async fn run_plans<'a>(
    aws: &'a Aws,
    config: &'a Config,
    policy: &Policy,
    plans: &[RegionPlan<'a>],
    batches: impl Stream<Item = Vec<Slot<'a>>>,
    options: Options,
) -> Ran<'a> {
    let dry_run = options.dry_run;
    let flow = Flow::new(aws, config).until(options.cutoff);
    let flow = if dry_run { flow.reading_only() } else { flow };
    let columns = policy.columns();
    let keep = |slots: Vec<Slot<'a>>| keep_batch(slots, plans, config, &columns, dry_run);
    // A batch that failed whole keeps its accounts as rows that say why.
    let (parts, failures) = flow.run_batches(batches, keep, keep).await;
    let mut ran = Ran::default();
    // Sized once: doubling a vector of every account-region's row would hold up to twice it.
    ran.rows
        .reserve_exact(parts.iter().map(|p| p.rows.len()).sum());
    for part in parts {
        ran.rows.extend(part.rows);
        ran.tally.merge(part.tally);
        ran.drift.extend(part.drift);
        for (k, v) in part.tried {
            *ran.tried.entry(k).or_default() += v;
        }
        for (region, lists) in part.would {
            let entry = ran.would.entry(region).or_default();
            for (all, these) in entry.iter_mut().zip(lists) {
                all.extend(these);
            }
        }
    }
    ran.tally.failures.extend(failures);
    ran.not_offered = not_offered(&flow.offered_read(), &policy.named_features());
    ran
}

/// By region, the `named` features GuardDuty does not offer there, of the regions whose
/// offer this run read; each said once in the log.
fn not_offered(
    read: &[(String, std::sync::Arc<[String]>)],
    named: &[String],
) -> BTreeMap<String, Vec<String>> {
    read.iter()
        .filter(|(_, offered)| !offered.is_empty())
        .filter_map(|(region, offered)| {
            let missing: Vec<String> = named
                .iter()
                .filter(|f| !offered.contains(f))
                .cloned()
                .collect();
            if missing.is_empty() {
                return None;
            }
            warn!(region = %region, plans = %missing.join(", "), "GuardDuty does not offer these plans in this region: not wanted there, not counted");
            Some((region.clone(), missing))
        })
        .collect()
}

/// What a finished batch leaves: its rows, its tally (each decision that changed something
/// logged), the drift it found, and what a dry run would do.
fn keep_batch<'a>(
    slots: Vec<Slot<'a>>,
    plans: &[RegionPlan<'a>],
    config: &Config,
    columns: &[String],
    dry_run: bool,
) -> Ran<'a> {
    let mut part = Ran {
        tally: tally(&slots, Logging::Changes),
        ..Ran::default()
    };
    for s in &slots {
        let row = Row::of(s, columns);
        let left = plans
            .iter()
            .find(|p| p.region == s.region)
            .and_then(|p| p.left(s.target));
        part.drift.extend(drift_of(s, &row, left, dry_run));
        if s.plans_set
            || s.side_problem
                .as_ref()
                .is_some_and(|p| p.operation == "UpdateMemberDetectors")
        {
            *part
                .tried
                .entry((s.region.to_owned(), "UpdateMemberDetectors".to_owned()))
                .or_default() += 1;
        }
        if dry_run {
            let would = part.would.entry(s.region.to_owned()).or_default();
            let id = s.account_id().to_string();
            match &s.step {
                // A member found Removed that CreateMembers is to associate again.
                Step::ToCreate if s.status.is_some() => would[3].push(id),
                Step::ToCreate | Step::ToInvite => would[0].push(id),
                Step::ToStartMonitoring => would[4].push(id),
                Step::Done(Outcome::AlreadyInvited | Outcome::InvitationPending)
                    if config.member_role.is_some() =>
                {
                    would[1].push(id)
                }
                Step::Done(_) if !s.plans_found_off.is_empty() => would[2].push(id),
                _ => {}
            }
        }
        part.rows.push(row);
    }
    part
}

/// The drift a slot shows: a member found gone from the administrator, or with wanted
/// plans off, and what the run did about it.
fn drift_of(s: &Slot<'_>, row: &Row<'_>, left: Option<&str>, dry_run: bool) -> Option<Drift> {
    let failed = |what: &str| match s.step {
        // Found in the listing, before the deadline cut the run.
        Step::NotReached => format!("{what} not tried: not reached before the deadline"),
        _ => format!(
            "{what} failed: {}",
            row.note.as_deref().unwrap_or("see the problem")
        ),
    };
    if let Some(status) = left {
        let action = left_action(s, row, status, dry_run).unwrap_or_else(failed);
        return Some(Drift {
            account_id: s.account_id().to_string(),
            region: s.region.to_owned(),
            kind: DriftKind::LeftAdministrator,
            found: format!("relationship status {status}"),
            action,
        });
    }
    if !s.plans_turned_off.is_empty() {
        return Some(Drift {
            account_id: s.account_id().to_string(),
            region: s.region.to_owned(),
            kind: DriftKind::PlansTurnedOff,
            found: format!(
                "its plan under the protection policy turns off {}",
                s.plans_turned_off.join(", ")
            ),
            action: "turned off".into(),
        });
    }
    let was_enabled = matches!(s.step, Step::Done(Outcome::AlreadyEnabled));
    if !was_enabled || s.plans_found_off.is_empty() {
        return None;
    }
    let action = if dry_run {
        "would turn them on again".into()
    } else if s.plans_set && row.protected {
        "plans re-enabled".into()
    } else {
        failed("re-enabling")
    };
    Some(Drift {
        account_id: s.account_id().to_string(),
        region: s.region.to_owned(),
        kind: DriftKind::PlansOff,
        found: format!("plans off: {}", s.plans_found_off.join(", ")),
        action,
    })
}

/// What the run did about a member found `Disabled`, `Removed` or `Resigned`, or (`Err`) what
/// it tried and failed. A Disabled member is monitored again (StartMonitoringMembers); a
/// Removed organization account is associated again with CreateMembers (GuardDuty refuses to
/// invite it); the others are invited.
fn left_action(
    s: &Slot<'_>,
    row: &Row<'_>,
    status: &str,
    dry_run: bool,
) -> Result<String, &'static str> {
    let disabled = status.eq_ignore_ascii_case("disabled");
    let associate = status.eq_ignore_ascii_case("removed") && s.target.in_organization();
    let problem_at = match &s.step {
        Step::Done(Outcome::Problem(p)) => Some(p.operation.as_str()),
        _ => None,
    };
    Ok(match () {
        _ if dry_run && disabled => {
            "would start monitoring it again with StartMonitoringMembers".into()
        }
        _ if dry_run && associate => "would associate it again with CreateMembers".into(),
        _ if dry_run => "would re-invite".into(),
        _ if disabled
            && s.monitoring_started
            && row
                .status
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("enabled")) =>
        {
            "monitoring started again with StartMonitoringMembers".into()
        }
        _ if disabled => return Err("starting monitoring again with StartMonitoringMembers"),
        _ if matches!(s.step, Step::Done(Outcome::EnabledByOrganization)) => {
            "associated again with CreateMembers".into()
        }
        _ if row.did.accepted => "re-invited and accepted".into(),
        _ if row.did.invited => "re-invited".into(),
        _ if associate && problem_at == Some("CreateMembers") => {
            return Err("associating again with CreateMembers")
        }
        _ => return Err("re-inviting"),
    })
}

/// From what the flow left to the report: coverage, problems (region-level ones said once),
/// drift, metrics, and (unless a dry run) everything published.
async fn conclude(
    aws: &Aws,
    config: &Config,
    mut run: Concluding<'_, '_>,
    ran: Ran<'_>,
    options: Options,
) -> Result<ReconcileReport, HandlerError> {
    let Ran {
        rows,
        mut tally,
        drift,
        tried,
        mut would,
        mut not_offered,
    } = ran;
    let mut found = summary::Findings::new(
        run.policy,
        &run.org.problems,
        rows,
        &mut tally,
        &tried,
        drift,
    );
    found.coverage.costs = run.costs.take();
    let regions = run
        .plans
        .iter()
        .map(|p| {
            let counts = tally.per_region.entry(p.region.to_owned()).or_default();
            let lists = would.remove(p.region).unwrap_or_default();
            RegionSummary {
                not_offered: not_offered.remove(p.region).unwrap_or_default(),
                ..found.region(p, run.org.targets.len(), counts, lists)
            }
        })
        .collect::<Vec<_>>();
    let mut report = found.report(run.meta, options.dry_run, run.org, run.policy, regions);
    let not_reached = tally.not_reached();
    close_summary(&mut report, &not_reached);
    let csv = coverage_csv(config, options, &found.coverage);
    let html = report_html(aws, config, options, &run, &found).await;
    if options.dry_run {
        report.coverage_csv = csv;
        report.coverage_html = html.map(|(h, _)| h);
        return Ok(report);
    }
    let mut failures = std::mem::take(&mut tally.failures);
    let out = publish::Report {
        meta: run.meta,
        problems: &found.problems,
        drift: &found.drift,
        per_region: &tally.per_region,
        now: SystemTime::now(),
        coverage: csv.as_deref().map(|csv| publish::CoverageCsv {
            csv,
            started: run.started,
            html: html.as_ref().map(|(h, _)| h.as_str()),
            summary: html.as_ref().map(|(_, s)| s),
        }),
        coverage_report: None,
        // A run the deadline cut short saw only part: its report is partial, and what it did
        // not see is not gone.
        complete: failures.is_empty() && not_reached.is_empty(),
    };
    let delivered = publish::deliver_all(aws, config, &out).await;
    let published =
        publish::settle_in_time(&delivered, &found.problems, &mut failures, not_reached)?;
    report.notification_message_ids = published.message_ids;
    report.coverage_report = delivered
        .iter()
        .find(|d| d.destination == "s3")
        .and_then(|d| d.ids.first().cloned());
    if options.coverage_csv {
        report.coverage_csv = csv;
    }
    if options.report_html {
        report.coverage_html = html.map(|(h, _)| h);
    }
    Ok(report)
}

/// The HTML report and the day's summary; the trend from the bucket's earlier summaries
/// (none when there is no bucket, or it cannot be read).
async fn report_html(
    aws: &Aws,
    config: &Config,
    options: Options,
    run: &Concluding<'_, '_>,
    found: &summary::Findings<'_>,
) -> Option<(String, publish::html::DaySummary)> {
    if !wants_report(config, options) {
        return None;
    }
    let date = Date::of(run.started);
    let trend = match &config.coverage_bucket {
        Some(bucket) => publish::s3::read_trend(aws, bucket, date).await,
        None => Vec::new(),
    };
    let csv_key = publish::s3::key_for(run.started, true);
    let page = publish::html::Page {
        date,
        coverage: &found.coverage,
        regions: &config.regions,
        ou_of: run.ou_of,
        drift: &found.drift,
        trend: &trend,
        csv_name: &csv_key,
    };
    Some((
        publish::html::render(&page),
        publish::html::day_summary(date, &found.coverage),
    ))
}

/// The coverage as CSV, when asked for or written to the bucket.
fn coverage_csv(
    config: &Config,
    options: Options,
    coverage: &coverage::Coverage,
) -> Option<String> {
    let wanted = options.coverage_csv || (config.coverage_bucket.is_some() && !options.dry_run);
    // Writing to memory does not fail; were it to, the run says so and goes on.
    wanted.then(|| coverage.csv()).and_then(|r| {
        r.map_err(|e| warn!(error = %e, "the coverage report could not be built"))
            .ok()
    })
}

/// The summary's closing lines: the plans a region does not offer, and the accounts the
/// deadline left.
fn close_summary(report: &mut ReconcileReport, not_reached: &BTreeMap<String, u64>) {
    let mut lines: Vec<String> = report
        .regions
        .iter()
        .filter(|r| !r.not_offered.is_empty())
        .map(|r| format!("{} not offered in {}", r.not_offered.join(", "), r.region))
        .collect();
    lines.extend(not_reached_line(not_reached));
    for line in lines {
        report.summary.push_str(&format!("; {line}"));
    }
    if !not_reached.is_empty() {
        // The invocation's error says it too; this line has the whole summary with it.
        warn!(summary = %report.summary, "the reconcile stopped at its deadline to publish what it found");
    }
}

/// "not reached before the deadline: 40 account(s) in eu-west-1, 3 in us-west-2", or `None`
/// when the run reached every account.
fn not_reached_line(not_reached: &BTreeMap<String, u64>) -> Option<String> {
    let mut by_region = not_reached.iter();
    let (first, n) = by_region.next()?;
    let mut line = format!("not reached before the deadline: {n} account(s) in {first}");
    for (region, n) in by_region {
        line.push_str(&format!(", {n} in {region}"));
    }
    Some(line)
}

/// What a reconcile concludes from, beside the flow's results.
struct Concluding<'r, 'a> {
    policy: &'r Policy,
    meta: &'r EventMeta,
    org: &'r Organization,
    plans: &'r [RegionPlan<'a>],
    started: SystemTime,
    /// Account id → its OU's name.
    ou_of: &'r HashMap<String, String>,
    costs: Option<cost::Costs>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_a_thing_is_singular_and_any_other_count_plural() {
        assert_eq!(plural(1, "region"), "1 region");
        assert_eq!(plural(0, "region"), "0 regions");
        assert_eq!(plural(2, "invitation"), "2 invitations");
    }

    #[test]
    fn the_not_reached_line_names_each_region_and_is_absent_when_all_were_reached() {
        assert_eq!(not_reached_line(&BTreeMap::new()), None);
        let not_reached =
            BTreeMap::from([("eu-west-1".to_owned(), 40), ("us-west-2".to_owned(), 3)]);
        assert_eq!(
            not_reached_line(&not_reached).as_deref(),
            Some("not reached before the deadline: 40 account(s) in eu-west-1, 3 in us-west-2")
        );
    }
}
