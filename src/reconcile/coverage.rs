//! Coverage: every organization account in every region, protected or not as GuardDuty
//! returned it, the counts per region and in total, and the CSV report. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cost::Costs;
use crate::flow::{Slot, Step, Target};
use crate::plan::{Plan, ENABLED, MISSING};
use crate::report::Outcome;

/// A plan column's value in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Enabled,
    Disabled,
    /// GuardDuty returned no such feature or setting for the member.
    Missing,
    /// Not read: the member is not `Enabled`, or its plans could not be read.
    NotRead,
    /// Not in this account's plan.
    NotWanted,
}

impl Cell {
    fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => ENABLED,
            Self::Disabled => "DISABLED",
            Self::Missing => MISSING,
            Self::NotRead => "",
            // A word, not `-`: a cell that starts with `-` would need the formula guard.
            Self::NotWanted => "not_wanted",
        }
    }
}

/// What this run did for one account in one region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Did {
    pub invited: bool,
    pub accepted: bool,
    pub plans_enabled: bool,
    pub detector_resumed: bool,
    pub problem: bool,
}

impl Did {
    pub fn words(self) -> String {
        let parts: Vec<&str> = [
            (self.invited, "invited"),
            (self.accepted, "accepted"),
            (self.detector_resumed, "detector resumed"),
            (self.plans_enabled, "plans enabled"),
            (self.problem, "problem"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The note of an account-region the run stopped before (not in the coverage's count: this
/// run does not know).
pub const NOT_REACHED_NOTE: &str =
    "not reached before the deadline: the run stopped to publish what it found; the retry checks it";

/// One organization account in one region at the end of the run (as it stands, in a dry run).
#[derive(Clone, Debug)]
pub struct Row<'a> {
    pub target: &'a Target,
    pub region: &'a str,
    /// The relationship status GuardDuty last returned.
    pub status: Option<Box<str>>,
    /// One cell per plan column, in [`Coverage::columns`] order.
    pub plans: Box<[Cell]>,
    pub protected: bool,
    pub did: Did,
    /// Why it is not protected, when the run knows.
    pub note: Option<Box<str>>,
    /// In the coverage's count: not an opt-in region the account has not enabled, nor an
    /// account the policy excepts.
    pub counted: bool,
}

impl<'a> Row<'a> {
    /// The row of a slot the flow has finished with; `columns` are every plan's.
    pub fn of(s: &Slot<'a>, columns: &[String]) -> Self {
        // In this region: a plan the region does not offer is not wanted there.
        let plan = s.plan();
        let outcome = match &s.step {
            Step::Done(o) => Some(o),
            _ => None,
        };
        let problem = match outcome {
            Some(Outcome::Problem(p)) => Some(&**p),
            _ => None,
        };
        let have = s.features.as_deref();
        let plans = columns
            .iter()
            .map(|c| match have.and_then(|h| plan.observed_column(h, c)) {
                None if !plan.has_column(c) => Cell::NotWanted,
                None => Cell::NotRead,
                Some(v) if v.eq_ignore_ascii_case(ENABLED) => Cell::Enabled,
                Some(v) if v == MISSING => Cell::Missing,
                Some(_) => Cell::Disabled,
            })
            .collect();
        let not_enabled = matches!(outcome, Some(Outcome::RegionNotEnabled));
        let enabling = matches!(outcome, Some(Outcome::RegionEnabling));
        let note = problem
            .or(s.side_problem.as_deref())
            .map(|p| p.reason.as_str().into())
            .or_else(|| {
                s.pending.as_ref().map(|e| match outcome {
                    Some(_) => e.to_string().into(),
                    None => format!("not done: its batch failed ({e})").into(),
                })
            })
            .or_else(|| {
                not_enabled
                    .then(|| "an opt-in region the account has not enabled: not counted".into())
            })
            .or_else(|| {
                enabling.then(|| {
                    "an opt-in region the account is still enabling: not counted until enabled"
                        .into()
                })
            })
            .or_else(|| matches!(s.step, Step::NotReached).then(|| NOT_REACHED_NOTE.into()));
        Row {
            target: s.target,
            region: s.region,
            status: s.status.as_deref().map(Into::into),
            plans,
            protected: problem.is_none() && s.is_protected(),
            did: Did {
                invited: matches!(
                    outcome,
                    Some(
                        Outcome::Invited { .. }
                            | Outcome::Accepted {
                                email_sent: Some(_)
                            }
                            | Outcome::RolePending {
                                email_sent: Some(_)
                            }
                    )
                ),
                accepted: matches!(outcome, Some(Outcome::Accepted { .. })),
                plans_enabled: s.plans_set,
                detector_resumed: s.detector_resumed,
                problem: problem.is_some() || s.side_problem.is_some(),
            },
            note,
            // Not reached: what GuardDuty would say is not known, so not counted either way.
            counted: !not_enabled
                && !enabling
                && s.target.exception.is_none()
                && !matches!(s.step, Step::NotReached),
        }
    }
}

/// The coverage of one region.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionCoverage {
    /// Account-regions counted (the denominator).
    pub accounts: usize,
    pub protected_accounts: usize,
    /// For each wanted plan, how many accounts have it on (with its agent settings).
    pub plans: BTreeMap<String, usize>,
    pub coverage_percent: f64,
}

/// Every row of a run, and the plan columns they carry.
#[derive(Debug, Default)]
pub struct Coverage<'a> {
    pub columns: Vec<String>,
    pub rows: Vec<Row<'a>>,
    /// What protection cost over the last 30 days, when read (a report was asked for).
    pub costs: Option<Costs>,
}

/// Protected ÷ counted, in percent with one decimal; nothing to count is fully covered.
pub fn percent(protected: usize, counted: usize) -> f64 {
    if counted == 0 {
        return 100.0;
    }
    (protected as f64 * 1000.0 / counted as f64).round() / 10.0
}

impl Coverage<'_> {
    /// `features`: every feature any plan wants; an account counts for one only when its own
    /// plan wants it.
    pub fn region(&self, region: &str, features: &[String]) -> RegionCoverage {
        let rows: Vec<&Row<'_>> = self
            .rows
            .iter()
            .filter(|r| r.region == region && r.counted)
            .collect();
        let protected = rows.iter().filter(|r| r.protected).count();
        let plans = features
            .iter()
            .map(|f| {
                let idx = self.columns.iter().position(|c| c == f);
                let on = rows
                    .iter()
                    .filter(|r| {
                        idx.and_then(|i| r.plans.get(i)) == Some(&Cell::Enabled)
                            && plan_agents_on(r, f, &r.target.plan, &self.columns)
                    })
                    .count();
                (f.clone(), on)
            })
            .collect();
        RegionCoverage {
            accounts: rows.len(),
            protected_accounts: protected,
            plans,
            coverage_percent: percent(protected, rows.len()),
        }
    }

    /// (account-regions counted, protected) over every region.
    pub fn totals(&self) -> (usize, usize) {
        let counted = self.rows.iter().filter(|r| r.counted);
        (
            counted.clone().count(),
            counted.filter(|r| r.protected).count(),
        )
    }

    /// The report as CSV (RFC 4180 through the `csv` crate: a header, CRLF line ends, fields
    /// quoted where needed), one row per account and region, sorted by account and region.
    /// The free-text columns are guarded against formulas ([`guard`]); the others hold only
    /// values this code writes, none of which a spreadsheet reads as a formula.
    pub fn csv(&self) -> Result<String, csv::Error> {
        let mut rows: Vec<&Row<'_>> = self.rows.iter().collect();
        rows.sort_by(|a, b| {
            (&a.target.account_id, a.region).cmp(&(&b.target.account_id, b.region))
        });
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::with_capacity(64 * (rows.len() + 1)));
        let mut header: Vec<&str> = vec![
            "account_id",
            "account_name",
            "region",
            "relationship_status",
        ];
        header.extend(self.columns.iter().map(String::as_str));
        header.extend([
            "protected",
            "this_run",
            "note",
            "exception_owner",
            "exception_reason",
            "exception_until",
            "cost_30d_usd",
        ]);
        w.write_record(&header)?;
        for r in rows {
            write_row(&mut w, r, self.costs.as_ref())?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        String::from_utf8(bytes)
            .map_err(|e| csv::Error::from(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }

    /// "N of M account-regions protected (P%)".
    pub fn summary(&self) -> String {
        let (counted, protected) = self.totals();
        format!(
            "{protected} of {counted} account-regions protected ({}%)",
            percent(protected, counted)
        )
    }
}

/// Whether the agents of `feature` that `plan` wants read ENABLED in the row.
fn plan_agents_on(r: &Row<'_>, feature: &str, plan: &Plan, columns: &[String]) -> bool {
    plan.applicable_agents(feature).all(|a| {
        columns
            .iter()
            .position(|c| c == a)
            .and_then(|i| r.plans.get(i))
            == Some(&Cell::Enabled)
    })
}

/// One row's record, field by field in the header's order (no per-row vector).
fn write_row<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    r: &Row<'_>,
    costs: Option<&Costs>,
) -> Result<(), csv::Error> {
    let exception = r.target.exception.as_deref();
    w.write_field(r.target.account_id.as_str())?;
    w.write_field(guard(&r.target.name).as_ref())?;
    w.write_field(r.region)?;
    w.write_field(r.status.as_deref().unwrap_or(""))?;
    for c in r.plans.iter() {
        w.write_field(c.as_str())?;
    }
    w.write_field(match (r.counted, r.protected) {
        (false, _) => "not counted",
        (true, true) => "yes",
        (true, false) => "no",
    })?;
    w.write_field(r.did.words())?;
    w.write_field(guard(r.note.as_deref().unwrap_or("")).as_ref())?;
    w.write_field(guard(exception.map_or("", |e| e.owner.as_str())).as_ref())?;
    w.write_field(guard(exception.map_or("", |e| e.reason.as_str())).as_ref())?;
    w.write_field(exception.map(|e| e.until.to_string()).unwrap_or_default())?;
    w.write_field(Costs::of(costs, r.region, r.target.account_id.as_str()).cell())?;
    // The record's end.
    w.write_record(None::<&[u8]>)
}

/// A free-text field (an account's name, a note, an exception's owner or reason) that a
/// spreadsheet would read as a formula gets a leading apostrophe, as OWASP advises for
/// fields starting with `=`, `+`, `-`, `@`, a tab, a carriage return or NUL.
pub fn guard(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r', '\0']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{AccountId, Email};
    use crate::plan::FeatureState;

    fn target(id: &str, name: &str, plan: Plan) -> Target {
        Target::new(
            AccountId::parse(id).unwrap(),
            Email::parse("a@example.com").unwrap(),
            name.into(),
            std::sync::Arc::new(plan),
        )
    }

    fn plan() -> Plan {
        Plan {
            on: vec!["S3_DATA_EVENTS".into(), "RUNTIME_MONITORING".into()],
            agents: vec!["EKS_ADDON_MANAGEMENT".into()],
            off: vec![],
        }
    }

    fn enabled(name: &str) -> FeatureState {
        FeatureState {
            name: name.into(),
            status: "ENABLED".into(),
            additional: vec![],
        }
    }

    #[test]
    fn columns_are_each_feature_then_its_agents() {
        assert_eq!(
            plan().columns(),
            [
                "S3_DATA_EVENTS",
                "RUNTIME_MONITORING",
                "EKS_ADDON_MANAGEMENT"
            ]
        );
        assert!(Plan::default().columns().is_empty());
    }

    #[test]
    fn a_row_is_protected_only_when_enabled_with_every_plan_and_agent_on() {
        let p = plan();
        let t = target("111122223333", "a", p.clone());
        let columns = p.columns();
        let mut s = Slot::new(&t, "us-east-1", Step::Done(Outcome::AlreadyEnabled));
        s.status = Some("Enabled".into());
        let mut rm = enabled("RUNTIME_MONITORING");
        s.features = Some(vec![enabled("S3_DATA_EVENTS"), rm.clone()].into());
        let row = Row::of(&s, &columns);
        assert!(!row.protected, "the agent setting is missing");
        assert_eq!(&*row.plans, [Cell::Enabled, Cell::Enabled, Cell::Missing]);
        rm.additional = vec![("EKS_ADDON_MANAGEMENT".into(), "ENABLED".into())];
        s.features = Some(vec![enabled("S3_DATA_EVENTS"), rm].into());
        assert!(Row::of(&s, &columns).protected);
        s.status = Some("Invited".into());
        assert!(!Row::of(&s, &columns).protected);
    }

    #[test]
    fn the_csv_has_a_header_crlf_rfc4180_quoting_and_is_sorted_by_account_and_region() {
        let a = target("222222222222", "Acme, \"Prod\"", Plan::default());
        let b = target("111111111111", "=HYPERLINK(\"x\")", Plan::default());
        let mut rows = Vec::new();
        for (t, region) in [(&a, "us-east-1"), (&b, "us-east-1"), (&a, "eu-west-1")] {
            let mut s = Slot::new(t, region, Step::Done(Outcome::AlreadyEnabled));
            s.status = Some("Enabled".into());
            rows.push(Row::of(&s, &[]));
        }
        let c = Coverage {
            columns: vec![],
            rows,
            costs: None,
        };
        let csv = c.csv().unwrap();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "account_id,account_name,region,relationship_status,protected,this_run,note,exception_owner,exception_reason,exception_until,cost_30d_usd"
        );
        assert_eq!(
            lines[1],
            "111111111111,\"'=HYPERLINK(\"\"x\"\")\",us-east-1,Enabled,yes,nothing,,,,,"
        );
        assert_eq!(
            lines[2],
            "222222222222,\"Acme, \"\"Prod\"\"\",eu-west-1,Enabled,yes,nothing,,,,,"
        );
        assert!(lines[3].contains("us-east-1"));
        assert_eq!(lines[4], "", "the last record ends with CRLF");
        assert_eq!(c.summary(), "3 of 3 account-regions protected (100%)");
    }

    #[test]
    fn an_account_name_starting_with_minus_is_guarded_but_not_wanted_cells_are_plain() {
        let wants_s3 = Plan {
            on: vec!["S3_DATA_EVENTS".into()],
            ..Plan::default()
        };
        let names = ["-Ops", "+Ops", "@Ops", "=Ops", "Ops-1"];
        let targets: Vec<Target> = names
            .iter()
            .enumerate()
            .map(|(i, n)| target(&format!("11111111111{i}"), n, wants_s3.clone()))
            .collect();
        let columns = plan().columns();
        let rows = targets
            .iter()
            .map(|t| {
                let mut s = Slot::new(t, "us-east-1", Step::Done(Outcome::AlreadyEnabled));
                s.status = Some("Enabled".into());
                s.features = Some(vec![enabled("S3_DATA_EVENTS")].into());
                Row::of(&s, &columns)
            })
            .collect();
        let csv = Coverage {
            columns,
            rows,
            costs: None,
        }
        .csv()
        .unwrap();
        let mut read = csv::Reader::from_reader(csv.as_bytes());
        let records: Vec<csv::StringRecord> = read.records().map(Result::unwrap).collect();
        let got: Vec<(&str, &str, &str)> = records.iter().map(|r| (&r[1], &r[5], &r[6])).collect();
        assert_eq!(
            got,
            [
                ("'-Ops", "not_wanted", "not_wanted"),
                ("'+Ops", "not_wanted", "not_wanted"),
                ("'@Ops", "not_wanted", "not_wanted"),
                ("'=Ops", "not_wanted", "not_wanted"),
                ("Ops-1", "not_wanted", "not_wanted"),
            ],
            "{csv}"
        );
        assert_eq!(&records[0][4], "ENABLED");
    }

    #[test]
    fn an_account_not_reached_before_the_deadline_says_so_and_is_not_counted() {
        let t = target("111122223333", "a", plan());
        let mut s = Slot::new(&t, "us-east-1", Step::NotReached);
        s.status = Some("Enabled".into());
        let row = Row::of(&s, &plan().columns());
        assert_eq!(row.note.as_deref(), Some(NOT_REACHED_NOTE));
        assert!(row
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("not reached before the deadline")));
        assert!(!row.counted && !row.protected);
    }

    #[test]
    fn percent_has_one_decimal_and_nothing_to_count_is_covered() {
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(0, 5), 0.0);
        assert_eq!(percent(0, 0), 100.0);
        assert_eq!(percent(199, 200), 99.5);
    }

    #[test]
    fn what_the_run_did_is_said_in_words() {
        assert_eq!(Did::default().words(), "nothing");
        let d = Did {
            invited: true,
            accepted: true,
            plans_enabled: true,
            ..Did::default()
        };
        assert_eq!(d.words(), "invited, accepted, plans enabled");
    }
}
