//! The plain text an `email` subscriber of the topic reads: the summary first, then each
//! account and region on its own line, each problem's reason in words and its fix as a command
//! or a console step, the drift apart, the event that caused it and the coverage report.
//! Pure: no I/O.

use std::fmt::Write;

use super::notify::{Part, CHECK_PREFIX};
use crate::report::{Drift, DriftKind, Problem, WHOLE_REGION};

/// The email of one part. Braces are never in it: it is read by people, not parsed (AWS's
/// own texts keep their words; a brace in them reads as a parenthesis).
pub fn text(part: &Part<'_>) -> String {
    let mut out = String::new();
    out.push_str(&part.summary);
    out.push_str("\n\n");
    if !part.problems.is_empty() {
        let checks = part
            .problems
            .iter()
            .all(|p| p.operation.starts_with(CHECK_PREFIX));
        out.push_str(if checks {
            "Where (account, region):\n"
        } else {
            "Not protected (account, region):\n"
        });
        for p in part.problems {
            let _ = writeln!(out, "  {}", where_line(p));
        }
        out.push('\n');
        let _ = writeln!(out, "Problems ({}):", part.problems.len());
        for (i, p) in part.problems.iter().enumerate() {
            problem(&mut out, i + 1, p);
        }
        out.push('\n');
    }
    if !part.drift.is_empty() {
        let _ = writeln!(
            out,
            "Drift ({}): members that left this administrator or had protection plans turned off.",
            part.drift.len()
        );
        for (i, d) in part.drift.iter().enumerate() {
            drift(&mut out, i + 1, d);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Caused by: event {} from {} ({}).",
        part.event.id, part.event.source, part.event.detail_type
    );
    if let Some(report) = part.coverage_report {
        let _ = writeln!(
            out,
            "Coverage report of the day: {report} (to read it: aws s3 cp {report} -)"
        );
    }
    if part.parts > 1 {
        let _ = writeln!(
            out,
            "This is part {} of {}; each part lists its own accounts.",
            part.part, part.parts
        );
    }
    out.replace('{', "(").replace('}', ")")
}

/// What one problem adds to the email: the lines [`text`] writes for it, for the size split.
pub fn problem_len(p: &Problem) -> usize {
    let mut out = String::new();
    problem(&mut out, 1, p);
    where_line(p).len() + 3 + out.len()
}

/// What one drift adds to the email.
pub fn drift_len(d: &Drift) -> usize {
    let mut out = String::new();
    drift(&mut out, 1, d);
    out.len()
}

fn where_line(p: &Problem) -> String {
    let who = match p.affected_accounts {
        Some(n) if p.account_id == WHOLE_REGION => format!("{n} accounts"),
        None if p.account_id == WHOLE_REGION => "the deployment".to_owned(),
        _ => p.account_id.clone(),
    };
    match &p.region {
        Some(r) => format!("{who} in {r}"),
        None => format!("{who} (every region)"),
    }
}

fn problem(out: &mut String, n: usize, p: &Problem) {
    let _ = writeln!(out, "\n{n}. {} ({})", where_line(p), p.operation);
    let _ = writeln!(out, "   Why: {}", p.reason);
    if let Some(result) = &p.result {
        let _ = writeln!(out, "   AWS said: {result}");
    }
    if let Some(status) = &p.relationship_status {
        let _ = writeln!(out, "   Relationship status: {status}");
    }
    let _ = writeln!(out, "   Fix: {}", fix(p));
}

fn drift(out: &mut String, n: usize, d: &Drift) {
    let _ = writeln!(out, "\n{n}. {} in {}: {}", d.account_id, d.region, d.found);
    let _ = writeln!(out, "   Done: {}", d.action);
    let _ = writeln!(out, "   Fix: {}", drift_fix(d));
}

/// The fix of a problem as a command or a console step, by the operation that failed.
pub fn fix(p: &Problem) -> String {
    if let Some(fix) = &p.fix {
        return fix.clone();
    }
    let region = p.region.as_deref().unwrap_or("REGION");
    let account = if p.account_id == WHOLE_REGION {
        "ACCOUNT_ID"
    } else {
        p.account_id.as_str()
    };
    let detector = p.detector_id.as_deref().unwrap_or("DETECTOR_ID");
    match p.operation.as_str() {
        "ListDetectors" => format!(
            "turn GuardDuty on for the administrator in {region}: aws guardduty create-detector --enable --region {region}"
        ),
        "CreateMembers" | "InviteMembers" | "GetMembers" | "StartMonitoringMembers" => format!(
            "act on the reason, then replay the event; the member as GuardDuty sees it: GuardDuty console, {region}, \
             Settings > Accounts, {account}; or aws guardduty get-members --region {region} --detector-id {detector} \
             --account-ids {account}"
        ),
        "AssumeRole" => format!(
            "deploy the member role in {account} (deploy/member-role.yaml, as a StackSet: docs/deployment.md), then check it: \
             guardduty-invite check --account {account}"
        ),
        "DescribeAccount" => format!(
            "aws organizations describe-account --account-id {account} (from the management or delegated administrator account)"
        ),
        "UpdateMemberDetectors" | "GetMemberDetectors" => format!(
            "aws guardduty get-member-detectors --region {region} --detector-id {detector} --account-ids {account}"
        ),
        "ListInvitations" | "AcceptAdministratorInvitation" | "CreateDetector" | "UpdateDetector"
        | "GetAdministratorAccount" | "ListRegions" => format!(
            "in {account}: GuardDuty console, {region}, Settings > Accounts, accept the administrator's invitation; \
             or guardduty-invite check --account {account} says what the member role lacks"
        ),
        "BatchImportFindings" | "GetFindings" => format!(
            "enable Security Hub for the function's account: aws securityhub enable-security-hub --region {region}"
        ),
        "ProtectionPolicy" => {
            "correct the protection policy (docs/policy.md), then: guardduty-invite check --policy".to_owned()
        }
        _ => format!("guardduty-invite check --account {account} says what is missing; then replay the event"),
    }
}

fn drift_fix(d: &Drift) -> String {
    match d.kind {
        DriftKind::LeftAdministrator => format!(
            "find who took {} from this administrator: CloudTrail in {} (DisassociateFromAdministratorAccount, \
             DisassociateMembers, StopMonitoringMembers)",
            d.account_id, d.region
        ),
        DriftKind::PlansOff => format!(
            "find who turned the plans off: CloudTrail in {} (UpdateDetector, UpdateMemberDetectors) for {}",
            d.region, d.account_id
        ),
        DriftKind::PlansTurnedOff => {
            "the protection policy turns these plans off: if that is not meant, correct it (docs/policy.md)".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventMeta;

    fn part<'a>(problems: &'a [Problem], drift: &'a [Drift], report: Option<&'a str>) -> Part<'a> {
        Part {
            summary: "1 problem(s) left 1 account(s) without GuardDuty protection.".into(),
            event: EventMeta {
                id: "evt-1".into(),
                source: "aws.organizations".into(),
                detail_type: "AWS Service Event via CloudTrail".into(),
            },
            part: 1,
            parts: 1,
            problems,
            drift,
            coverage_report: report,
        }
    }

    #[test]
    fn drift_comes_apart_from_problems_and_the_coverage_report_is_named() {
        let problems = [
            Problem::new("111122223333", "AssumeRole", "the role is missing")
                .in_region("eu-west-1", None),
        ];
        let drift = [Drift {
            account_id: "222233334444".into(),
            region: "us-east-1".into(),
            kind: DriftKind::LeftAdministrator,
            found: "relationship status Resigned".into(),
            action: "invited again".into(),
        }];
        let text = text(&part(
            &problems,
            &drift,
            Some("s3://bucket/coverage/2026-12-05.csv"),
        ));
        let problems_at = text.find("Problems (1):").unwrap();
        let drift_at = text.find("Drift (1):").unwrap();
        assert!(problems_at < drift_at, "{text}");
        assert!(text.contains("Fix: deploy the member role in 111122223333"));
        assert!(text.contains("Done: invited again"));
        assert!(text.contains("Coverage report of the day: s3://bucket/coverage/2026-12-05.csv"));
        assert!(text.contains("Caused by: event evt-1 from aws.organizations"));
    }

    #[test]
    fn braces_in_aws_texts_do_not_reach_the_email_and_a_checks_own_fix_wins() {
        let problems = [Problem::new("*", "check: topic", "no topic {x}").with_fix("create it")];
        let text = text(&part(&problems, &[], None));
        assert!(!text.contains(['{', '}']), "{text}");
        assert!(text.contains("  the deployment (every region)\n"), "{text}");
        assert!(text.contains("Fix: create it"), "{text}");
    }
}
