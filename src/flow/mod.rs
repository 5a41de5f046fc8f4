//! The flow for a set of accounts: a sequence of named stages, per region and batch of 50.
//!
//! Each stage takes the slots (one account in one region) of a batch and returns them with
//! their step carried forward; a stage acts only on the slots at its step and passes the others
//! through. A new capability is a new stage in [`run_batch`], not a branch in an old one.
//!
//! ```text
//! find detector → read statuses → skip opt-in regions not enabled → add members
//!   → read statuses of the added organization accounts → invite
//!   → read the added accounts InviteMembers refused → accept (member side)
//!   → observe (statuses after the writes) → plans
//! ```
//!
//! Every status a slot reports is one GuardDuty returned: the writes are followed by a read
//! of the batch (one call per batch of 50, not per account), and a replay of a finished
//! account reads and writes nothing. Between CreateMembers and InviteMembers an account
//! outside the organization is not read: CreateMembers' own answer says it was added, and
//! only an organization account can come out of it other than `Created`.
//!
//! Every AWS call goes through `Aws`, which caps the calls in flight, so the batches of every
//! region simply run together.
//!
//! A flow with a cut-off (the Lambda deadline less the time kept to publish) starts no batch
//! from then on, and leaves a batch still under way then: their accounts are `NotReached`,
//! so that the run publishes what it found in time and says what it did not reach.

pub mod accept;
pub mod features;
pub mod members;
pub mod opt_in;
pub mod resolve;
pub mod retry;
pub mod tally;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::stream::{self, Stream, StreamExt};
use tokio::sync::OnceCell;

use crate::account::{AccountId, Email};
use crate::aws::{Assumed, Aws, Unprocessed};
use crate::config::Config;
use crate::decision::is_service_failure;
use crate::error::{AwsError, FailureKind, Service};
use crate::plan::{FeatureState, Plan};
use crate::policy::Exception;
use crate::report::{Observed, Outcome, Problem, RegionReport};

/// The features GuardDuty lists as offered in a region.
type Offered = Arc<[String]>;

/// A batch's result (`None`: not run, or not finished, before the cut-off), beside its slots
/// as they started (kept for when it fails whole or is not reached).
type BatchRun<'a> = (Option<Result<Vec<Slot<'a>>, AwsError>>, Vec<Slot<'a>>);

/// GuardDuty's limit on accounts per member call.
pub const BATCH_SIZE: usize = 50;
/// Batches under way at once: twice the calls allowed in flight, so that a batch between two
/// calls leaves no permit idle.
const BATCHES_AT_ONCE: usize = 2 * crate::aws::MAX_CONCURRENT_CALLS;

/// A member's answer to GetMemberDetectors, read ahead of its batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadAhead {
    /// The features it returned (those any plan names).
    Features(Arc<[FeatureState]>),
    /// GuardDuty left the account unprocessed, with this `result`.
    Unprocessed(String),
}

/// An account ready for the flow: its email is known and valid.
#[derive(Clone, Debug)]
pub struct Target {
    pub account_id: AccountId,
    pub email: Email,
    /// What `{account_name}` renders as: the name given or looked up, else the account id.
    pub name: String,
    /// When the account joined the organization, as Organizations says (`None`: not known,
    /// e.g. an account outside the organization).
    pub joined_at: Option<std::time::SystemTime>,
    /// The plans the protection policy gives it.
    pub plan: Arc<Plan>,
    /// An exception of the policy that holds: the account is left alone.
    pub exception: Option<Arc<Exception>>,
}

impl Target {
    /// Organizations knows the account (it gave the joining time): an organization account,
    /// which GuardDuty associates through the organization rather than by invitation.
    pub fn in_organization(&self) -> bool {
        self.joined_at.is_some()
    }

    /// An account with a plan and no exception (tests and tools).
    pub fn new(account_id: AccountId, email: Email, name: String, plan: Arc<Plan>) -> Self {
        Self {
            account_id,
            email,
            name,
            joined_at: None,
            plan,
            exception: None,
        }
    }
}

/// How far an account has come in one region.
#[derive(Clone, Debug)]
pub enum Step {
    /// Whether it is a member is not known yet: its status is read first.
    Unknown,
    /// Not a member of this administrator: to be added.
    ToCreate,
    /// A member, its status to be read: `created_now` when this run's CreateMembers added it
    /// (so an `Enabled` status means the organization enabled it at once).
    Member { created_now: bool },
    /// Its relationship status calls for an invitation.
    ToInvite,
    /// Disabled: the administrator stopped monitoring it; to be monitored again.
    ToStartMonitoring,
    /// An outcome; a later stage may carry it further.
    Done(Outcome),
    /// A transient failure for this account alone: the run must be retried.
    Retry(Box<AwsError>),
    /// Its batch did not start, or did not finish, before the run's cut-off: the run stops
    /// to publish what it found, and must be retried for this account.
    NotReached,
}

/// One account in one region.
#[derive(Clone, Debug)]
pub struct Slot<'a> {
    pub target: &'a Target,
    pub region: &'a str,
    pub detector_id: Option<String>,
    pub step: Step,
    /// The relationship status GuardDuty last returned for the member (GetMembers or
    /// ListMembers); `None` until one was read.
    pub status: Option<String>,
    /// The member's features as GetMemberDetectors last returned them; `None` until read.
    pub features: Option<Arc<[FeatureState]>>,
    /// What GetMemberDetectors answered for the member before its batch (a reconcile reads
    /// the plans while the listings go on); the plans stage uses it instead of reading.
    pub read_ahead: Option<ReadAhead>,
    /// This run resumed the member's suspended detector.
    pub detector_resumed: bool,
    /// This run's CreateMembers was asked for the account (so a Removed member it left
    /// Removed is invited instead of asked again).
    pub create_tried: bool,
    /// This run's StartMonitoringMembers monitors the (Disabled) member again.
    pub monitoring_started: bool,
    /// The wanted plans (and agent settings) the first read found off, before any change.
    pub plans_found_off: Vec<String>,
    /// This run changed the member's features (and read them back).
    pub plans_set: bool,
    /// Plans this run turned off, as the account's plan says (`off`).
    pub plans_turned_off: Vec<String>,
    /// A problem beside the outcome: the plans GuardDuty refused for an accepted member.
    pub side_problem: Option<Box<Problem>>,
    /// A passing failure beside the outcome: the run must be retried, the outcome stands.
    pub pending: Option<Box<AwsError>>,
    /// The account's plan in this region where it differs from the target's: without the
    /// features GuardDuty does not offer here (`None`: the target's plan).
    pub plan_here: Option<Arc<Plan>>,
}

impl<'a> Slot<'a> {
    pub fn new(target: &'a Target, region: &'a str, step: Step) -> Self {
        Self {
            target,
            region,
            detector_id: None,
            step,
            status: None,
            features: None,
            read_ahead: None,
            detector_resumed: false,
            create_tried: false,
            monitoring_started: false,
            plans_found_off: Vec::new(),
            plans_set: false,
            plans_turned_off: Vec::new(),
            side_problem: None,
            pending: None,
            plan_here: None,
        }
    }

    pub fn account_id(&self) -> &AccountId {
        &self.target.account_id
    }

    /// A Removed member is to be associated again with CreateMembers: an organization account
    /// CreateMembers has not been asked for in this run.
    pub fn associates_again(&self) -> bool {
        self.target.in_organization() && !self.create_tried
    }

    /// The slot as its batch started: account, region and the status read before the run.
    pub fn as_started(&self) -> Self {
        Self {
            status: self.status.clone(),
            ..Self::new(self.target, self.region, Step::Unknown)
        }
    }

    /// The plan wanted in this region: the target's, less what the region does not offer.
    pub fn plan(&self) -> &Plan {
        self.plan_here.as_deref().unwrap_or(&self.target.plan)
    }

    /// GuardDuty last returned `Enabled` for the member.
    pub fn reads_enabled(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("enabled"))
    }

    /// Protected as GuardDuty returned it: `Enabled`, and every plan and agent setting its
    /// plan wants `ENABLED` (an empty plan asks for nothing more). A suspended detector never
    /// gets here: it is resumed, or the slot is a problem.
    pub fn is_protected(&self) -> bool {
        let plan = self.plan();
        self.reads_enabled()
            && (plan.is_empty()
                || self
                    .features
                    .as_deref()
                    .is_some_and(|have| plan.is_met(have)))
    }

    /// What the response says of this slot, once it has an outcome: the outcome, and what
    /// GuardDuty returned (status, plans, protected).
    pub fn region_report(&self) -> Option<RegionReport> {
        let Step::Done(outcome) = &self.step else {
            return None;
        };
        let plan = self.plan();
        let plans = match (&self.features, plan.is_empty()) {
            (Some(have), false) => Some(plan.observed(have)),
            _ => None,
        };
        let seen = Observed {
            status: self.status.clone(),
            detector_resumed: self.detector_resumed,
            plans,
            protected: self.is_protected(),
            exception: self.target.exception.clone(),
            plans_problem: self.side_problem.as_ref().map(|p| p.detail().to_owned()),
        };
        Some(RegionReport::new(
            self.region,
            self.detector_id.as_deref(),
            outcome,
            seen,
        ))
    }

    pub fn with_step(self, step: Step) -> Self {
        Self { step, ..self }
    }

    /// A problem of this account in this region, at `operation`.
    pub fn problem(&self, operation: &str, reason: impl Into<String>) -> Problem {
        Problem::new(self.account_id().as_str(), operation, reason)
            .in_region(self.region, self.detector_id.as_deref())
    }

    pub fn done(self, outcome: Outcome) -> Self {
        self.with_step(Step::Done(outcome))
    }

    pub fn fail(self, problem: Problem) -> Self {
        self.done(Outcome::Problem(Box::new(problem)))
    }

    /// An account GuardDuty left unprocessed: a passing failure of the service retries the
    /// run, any other answer is a problem with `reason` and AWS's text.
    pub fn unprocessed(self, operation: &'static str, result: &str, reason: String) -> Self {
        if is_service_failure(result) {
            let e = per_account_failure(operation, &self, result);
            return self.retry(e);
        }
        let p = self.problem(operation, reason).with_result(result);
        self.fail(p)
    }

    pub fn retry(self, failure: AwsError) -> Self {
        self.with_step(Step::Retry(Box::new(failure)))
    }

    /// An account GuardDuty left unprocessed beside an outcome that stands (its plans): a
    /// passing failure retries the run, any other answer is a problem beside the outcome.
    pub fn unprocessed_beside(
        mut self,
        operation: &'static str,
        result: &str,
        reason: String,
    ) -> Self {
        if is_service_failure(result) {
            self.pending = Some(Box::new(per_account_failure(operation, &self, result)));
        } else {
            self.side_problem = Some(Box::new(
                self.problem(operation, reason).with_result(result),
            ));
        }
        self
    }
}

/// What the flow did: every slot at its last step, and the batches that failed as a whole.
#[derive(Debug, Default)]
pub struct Ran<'a> {
    pub slots: Vec<Slot<'a>>,
    pub failures: Vec<AwsError>,
}

/// Everything one run of the flow needs.
pub struct Flow<'a> {
    pub aws: &'a Aws,
    pub config: &'a Config,
    /// Read calls only: the stages that write are skipped (a reconcile's dry run).
    pub dry_run: bool,
    /// From this moment no batch starts, and a batch under way is left (`None`: no limit).
    pub cutoff: Option<Instant>,
    /// The member role assumed in each account, once per account per run, whichever of its
    /// regions asks first.
    sessions: Mutex<HashMap<AccountId, Arc<OnceCell<Arc<Assumed>>>>>,
    /// Each account's enabled regions, asked once per run (opt-in regions only).
    enabled_regions: opt_in::EnabledRegions,
    /// The features GuardDuty offers in each region, as the administrator's own detector
    /// lists them: read once per run, and only in a region where a member lacks a feature.
    offered: Mutex<HashMap<String, Arc<OnceCell<Offered>>>>,
}

impl<'a> Flow<'a> {
    pub fn new(aws: &'a Aws, config: &'a Config) -> Self {
        Self {
            aws,
            config,
            dry_run: false,
            cutoff: None,
            sessions: Mutex::new(HashMap::new()),
            enabled_regions: opt_in::EnabledRegions::default(),
            offered: Mutex::new(HashMap::new()),
        }
    }

    /// The features GuardDuty offers in `region` (GetDetector of the administrator's
    /// `detector`), read on first use in this run; empty when GuardDuty listed none.
    pub async fn offered(&self, region: &str, detector: &str) -> Result<Arc<[String]>, AwsError> {
        let cell = match self.offered.lock() {
            Ok(mut offered) => offered.entry(region.to_owned()).or_default().clone(),
            Err(_) => Arc::new(OnceCell::new()),
        };
        cell.get_or_try_init(|| async {
            let features = self.aws.offered_features(region, detector).await?;
            Ok::<_, AwsError>(Arc::from(features))
        })
        .await
        .cloned()
    }

    /// The regions whose offered features this run read, with what GuardDuty listed.
    pub fn offered_read(&self) -> Vec<(String, Arc<[String]>)> {
        let Ok(offered) = self.offered.lock() else {
            return Vec::new();
        };
        offered
            .iter()
            .filter_map(|(region, cell)| Some((region.clone(), cell.get()?.clone())))
            .collect()
    }

    /// The same flow, starting no batch from `cutoff` on.
    pub fn until(self, cutoff: Option<Instant>) -> Self {
        Self { cutoff, ..self }
    }

    /// The same flow making read calls only.
    pub fn reading_only(self) -> Self {
        Self {
            dry_run: true,
            ..self
        }
    }

    /// The member role in `account`, assumed on first use in this run. A failed attempt is
    /// not kept, so another region may try again.
    pub async fn member_session(
        &self,
        account: &AccountId,
        role_arn: &str,
    ) -> Result<Arc<Assumed>, AwsError> {
        let cell = match self.sessions.lock() {
            Ok(mut sessions) => sessions.entry(account.clone()).or_default().clone(),
            // A poisoned map (a panic elsewhere): assume without sharing.
            Err(_) => Arc::new(OnceCell::new()),
        };
        cell.get_or_try_init(|| async {
            self.aws
                .assume_member_role(account, role_arn, accept::SESSION_NAME)
                .await
                .map(Arc::new)
        })
        .await
        .cloned()
    }

    /// Runs every target through the stages, in every configured region.
    pub async fn run(&self, targets: &'a [Target]) -> Ran<'a> {
        let slots = self
            .config
            .regions
            .iter()
            .flat_map(|region| new_slots(targets, region))
            .collect();
        self.run_slots(slots).await
    }

    /// Runs slots, whatever their step, through the stages in batches of one region.
    pub async fn run_slots(&self, slots: Vec<Slot<'a>>) -> Ran<'a> {
        let mut by_region: Vec<(&str, Vec<Slot<'a>>)> = Vec::new();
        for s in slots {
            match by_region.iter_mut().find(|(r, _)| *r == s.region) {
                Some((_, group)) => group.push(s),
                None => by_region.push((s.region, vec![s])),
            }
        }
        let batches = by_region.into_iter().flat_map(|(_, group)| {
            // Collected afresh, so that no batch keeps the capacity of its whole region.
            let mut slots = group.into_iter().peekable();
            let mut batches: Vec<Vec<Slot<'a>>> = Vec::new();
            while slots.peek().is_some() {
                batches.push(slots.by_ref().take(BATCH_SIZE).collect());
            }
            batches
        });
        // An event's response names each account's outcome; a failed batch fails the event.
        let (done, failures) = self
            .run_batches(stream::iter(batches), |slots| slots, |_| Vec::new())
            .await;
        Ran {
            slots: done.into_iter().flatten().collect(),
            failures,
        }
    }

    /// Runs batches (each of one region, at most `BATCH_SIZE` slots) through the stages and
    /// hands each finished batch to `keep`, so that a large run holds what it needs of a
    /// batch rather than the batch; beside them, the failures of batches that failed whole.
    /// The accounts of a batch that failed whole go to `lost`, each as it started (target,
    /// region, status) with the batch's failure as its `pending`, so that a report can say
    /// why they are not done rather than leave them out; those of a batch the cut-off stopped
    /// go to `keep` as `NotReached`. Batches are taken from `batches` only as permits free up.
    pub async fn run_batches<T>(
        &self,
        batches: impl Stream<Item = Vec<Slot<'a>>>,
        keep: impl Fn(Vec<Slot<'a>>) -> T,
        lost: impl Fn(Vec<Slot<'a>>) -> T,
    ) -> (Vec<T>, Vec<AwsError>) {
        // The in-flight cap is Aws's; this only bounds the batches held in memory at once
        // (a batch future is large), with enough of them to keep every permit busy.
        let results: Vec<BatchRun<'a>> = batches
            .map(|slots| {
                let started: Vec<Slot<'a>> = slots.iter().map(Slot::as_started).collect();
                async move { (self.run_batch_in_time(slots).await, started) }
            })
            .buffer_unordered(BATCHES_AT_ONCE)
            .collect()
            .await;
        let mut kept = Vec::with_capacity(results.len());
        let mut failures = Vec::new();
        for (result, started) in results {
            match result {
                Some(Ok(slots)) => kept.push(keep(slots)),
                // Slots with a step of their own, which every tally and row counts.
                None => kept.push(keep(not_reached(started))),
                Some(Err(e)) => {
                    let failed = Box::new(e.clone());
                    kept.push(lost(
                        started
                            .into_iter()
                            .map(|s| Slot {
                                pending: Some(failed.clone()),
                                ..s
                            })
                            .collect(),
                    ));
                    failures.push(e);
                }
            }
        }
        (kept, failures)
    }

    /// One batch, if it starts before the cut-off (its slots `NotReached` otherwise) and
    /// finishes by it (`None` otherwise: what it did is left for the retry, which reads the
    /// members again).
    async fn run_batch_in_time(
        &self,
        slots: Vec<Slot<'a>>,
    ) -> Option<Result<Vec<Slot<'a>>, AwsError>> {
        let Some(cutoff) = self.cutoff else {
            return Some(self.run_batch(slots).await);
        };
        if Instant::now() >= cutoff {
            // Not started: what was decided before any call (a problem the listing showed)
            // stands.
            return Some(Ok(not_reached(slots)));
        }
        let cutoff = tokio::time::Instant::from_std(cutoff);
        tokio::time::timeout_at(cutoff, self.run_batch(slots))
            .await
            .ok()
    }

    /// The stages, in order, for one batch of one region.
    async fn run_batch(&self, slots: Vec<Slot<'a>>) -> Result<Vec<Slot<'a>>, AwsError> {
        let slots = members::find_detector(self, slots).await?;
        if self.dry_run {
            // Read calls only: the regions accounts have enabled, the members' plans.
            let slots = opt_in::skip_not_enabled(self, slots).await?;
            return features::enable(self, slots).await;
        }
        let slots = members::read_statuses(self, slots).await?;
        let slots = opt_in::skip_not_enabled(self, slots).await?;
        let slots = members::add(self, slots).await?;
        let slots = members::read_statuses(self, slots).await?;
        let slots = members::invite(self, slots).await?;
        // The added accounts InviteMembers refused as already with this administrator.
        let slots = members::read_statuses(self, slots).await?;
        let slots = members::refused_invitations_read(slots);
        let slots = members::start_monitoring(self, slots).await?;
        let slots = accept::accept(self, slots).await?;
        let slots = members::observe(self, slots).await?;
        features::enable(self, slots).await
    }
}

pub fn new_slots<'a>(targets: &'a [Target], region: &'a str) -> Vec<Slot<'a>> {
    targets
        .iter()
        .map(|target| {
            // An exception that holds: the account is left alone.
            let step = match target.exception {
                Some(_) => Step::Done(Outcome::Excepted),
                None => Step::Unknown,
            };
            Slot::new(target, region, step)
        })
        .collect()
}

/// A batch's slots not reached before the cut-off. An account the policy excepts stays
/// excepted (nothing was to be done for it), and a problem decided before any call stays.
fn not_reached(slots: Vec<Slot<'_>>) -> Vec<Slot<'_>> {
    slots
        .into_iter()
        .map(|s| match (&s.step, &s.target.exception) {
            (Step::Done(Outcome::Problem(_) | Outcome::Excepted), _) => s,
            (_, Some(_)) => s.done(Outcome::Excepted),
            _ => s.with_step(Step::NotReached),
        })
        .collect()
}

/// Splits slots into those at the step `pick` selects and the rest.
pub fn take<'a>(
    slots: Vec<Slot<'a>>,
    pick: impl Fn(&Step) -> bool,
) -> (Vec<Slot<'a>>, Vec<Slot<'a>>) {
    slots.into_iter().partition(|s| pick(&s.step))
}

/// The region and detector shared by a batch's slots, if there are any.
pub fn batch_of<'s>(slots: &[Slot<'s>]) -> Option<(&'s str, String)> {
    let first = slots.first()?;
    Some((first.region, first.detector_id.clone()?))
}

pub fn find<'u>(list: &'u [Unprocessed], id: &AccountId) -> Option<&'u Unprocessed> {
    list.iter().find(|u| u.account_id == id.as_str())
}

/// A per-account answer that reports a passing failure of GuardDuty, not a fact about the
/// account: the run fails so that Lambda retries it.
pub fn per_account_failure(operation: &'static str, s: &Slot<'_>, said: &str) -> AwsError {
    AwsError {
        service: Service::GuardDuty,
        operation,
        region: Some(s.region.to_owned()),
        kind: FailureKind::Transient,
        code: None,
        message: format!("account {}: {}", s.account_id(), said.trim()),
    }
}
