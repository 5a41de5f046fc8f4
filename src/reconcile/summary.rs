//! What a reconcile found, as its summary says it: the coverage, the problems (a region-level
//! one said once), the drift, and a line per region. Pure: no I/O.

use std::collections::HashMap;

use super::coverage::{self, Coverage, Row};
use super::plan::{Organization, RegionPlan};
use super::{ReconcileReport, RegionSummary};
use crate::event::EventMeta;
use crate::flow::tally::Tally;
use crate::policy::Policy;
use crate::publish;
use crate::report::{
    fold_region_problems, Drift, OutcomeLabel, Problem, RegionCoverage, RegionOutcomes,
};

pub struct Findings<'a> {
    pub coverage: Coverage<'a>,
    /// Sorted, region-level ones folded.
    pub problems: Vec<Problem>,
    /// Sorted by account and region.
    pub drift: Vec<Drift>,
    /// Every feature any plan wants.
    features: Vec<String>,
}

impl<'a> Findings<'a> {
    /// Takes the tally's problems (the organization's first).
    pub fn new(
        policy: &Policy,
        org_problems: &[Problem],
        rows: Vec<Row<'a>>,
        tally: &mut Tally,
        tried: &HashMap<(String, String), usize>,
        mut drift: Vec<Drift>,
    ) -> Self {
        let mut problems = org_problems.to_vec();
        problems.extend(std::mem::take(&mut tally.problems));
        let mut problems = fold_region_problems(problems, tried);
        publish::sort(&mut problems);
        drift.sort_by(|a, b| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)));
        Self {
            coverage: Coverage {
                columns: policy.columns(),
                rows,
                costs: None,
            },
            problems,
            drift,
            features: policy.wanted_features(),
        }
    }

    /// One region's line; its coverage also goes with what the run came to there (`outcomes`).
    pub fn region(
        &self,
        p: &RegionPlan<'_>,
        organization_accounts: usize,
        outcomes: &mut RegionOutcomes,
        [would_invite, would_accept, would_enable_plans, would_associate, would_start_monitoring]: [Vec<
            String,
        >; 5],
    ) -> RegionSummary {
        let region = p.region;
        let cov = self.coverage.region(region, &self.features);
        let drift = self.drift.iter().filter(|d| d.region == region).count();
        let unprotected = cov.accounts - cov.protected_accounts;
        outcomes.coverage = Some(RegionCoverage {
            unprotected: unprotected as u64,
            protected: cov.protected_accounts as u64,
            percent: cov.coverage_percent,
            drift: drift as u64,
        });
        RegionSummary {
            region: region.to_owned(),
            organization_accounts,
            members_by_status: p.members_by_status.clone(),
            outside_organization: p.outside_organization,
            invited_now: outcomes.invitations_sent() as usize,
            accepted_now: outcomes.count(OutcomeLabel::Accepted) as usize,
            plans_enabled_now: self
                .coverage
                .rows
                .iter()
                .filter(|r| r.region == region && r.did.plans_enabled)
                .count(),
            problems: self
                .problems
                .iter()
                .filter(|pr| pr.region.as_deref() == Some(region))
                .map(|pr| pr.affected_accounts.unwrap_or(1))
                .sum(),
            drift,
            unprotected_accounts: unprotected,
            region_not_enabled: outcomes.count(OutcomeLabel::RegionNotEnabled) as usize,
            region_enabling: outcomes.count(OutcomeLabel::RegionEnabling) as usize,
            excepted: outcomes.count(OutcomeLabel::Excepted) as usize,
            not_reached: outcomes.not_reached as usize,
            not_offered: Vec::new(),
            coverage: cov,
            would_invite,
            would_accept,
            would_enable_plans,
            would_associate,
            would_start_monitoring,
        }
    }

    /// The run's summary (a dry run lists its problems and drift; a real run publishes them).
    pub fn report(
        &self,
        meta: &EventMeta,
        dry_run: bool,
        org: &Organization,
        policy: &Policy,
        regions: Vec<RegionSummary>,
    ) -> ReconcileReport {
        let (counted, protected) = self.coverage.totals();
        let lines = |on: bool, v: Vec<String>| if on { v } else { Vec::new() };
        ReconcileReport {
            event_id: meta.id.clone(),
            dry_run,
            organization_accounts: org.targets.len() + org.problems.len(),
            account_regions: counted,
            protected_account_regions: protected,
            coverage_percent: coverage::percent(protected, counted),
            regions,
            problems: self.problems.len(),
            drift: self.drift.len(),
            summary: format!(
                "{}; {} problem(s), {} drift",
                self.coverage.summary(),
                self.problems.len(),
                self.drift.len()
            ),
            problem_lines: lines(
                dry_run,
                self.problems.iter().map(Problem::one_line).collect(),
            ),
            drift_lines: lines(dry_run, self.drift.iter().map(Drift::one_line).collect()),
            notification_message_ids: Vec::new(),
            expiring: org.expiring.clone(),
            unmatched_rules: org
                .rule_matches
                .iter()
                .enumerate()
                .filter(|(_, n)| **n == 0)
                .map(|(i, _)| policy.rules[i].describe(i))
                .collect(),
            coverage_report: None,
            coverage_csv: None,
            coverage_html: None,
        }
    }
}
