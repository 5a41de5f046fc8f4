//! Shapes the SNS notification of an invocation's problems: one Publish per part with a
//! message per kind of subscriber (`MessageStructure: json`): `default` (and so `sqs`,
//! `lambda`, `email-json`, `http`) the JSON document, `email` plain text for a person, `https`
//! the custom notification of a chat channel. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::{chat, email};
use crate::aws::{Fifo, SnsBody, SnsMessage};
use crate::event::EventMeta;
use crate::report::{Drift, Problem};

/// SNS takes at most 262,144 bytes of message plus attributes, the whole JSON structure of a
/// per-protocol message counted once (not per protocol).
pub const SNS_MAX_BYTES: usize = 262_144;
/// What the problems and drift of one part may take in the structure, both forms (the JSON
/// document's and the email's), escaped as they are in it. The rest of the limit holds the
/// summaries, the event, the chat notification (its fields are capped: a few KB), the
/// structure's keys and the attributes (7, each capped at 256 characters).
pub const ITEMS_MAX_BYTES: usize = SNS_MAX_BYTES - 48_000;
/// SNS: "less than 100 characters", ASCII, no line breaks.
pub const SUBJECT_MAX_CHARS: usize = 99;
const ATTRIBUTE_MAX_CHARS: usize = 256;

/// The protocols that get their own message; every other one gets `default`.
pub const EMAIL: &str = "email";
pub const CHAT: &str = "https";
pub const DEFAULT: &str = "default";

/// One SNS Publish request, and what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Its attributes are at most 10, so raw delivery to SQS keeps them.
    pub message: SnsMessage,
    /// How many problems this part carries.
    pub problems: usize,
}

impl Notification {
    /// The message of one protocol's subscribers, as SNS delivers it.
    pub fn for_protocol(&self, protocol: &str) -> String {
        match &self.message.body {
            SnsBody::Text(text) => text.clone(),
            SnsBody::PerProtocol(m) => m
                .get(protocol)
                .or_else(|| m.get(DEFAULT))
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// What one part says, for each of its forms.
pub struct Part<'a> {
    pub summary: String,
    /// The triggering event's envelope, capped like the attributes.
    pub event: EventMeta,
    pub part: usize,
    pub parts: usize,
    pub problems: &'a [Problem],
    pub drift: &'a [Drift],
    /// Where the day's coverage report is, when this run wrote one.
    pub coverage_report: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    summary: &'a str,
    event: serde_json::Value,
    part: usize,
    parts: usize,
    problems: &'a [Problem],
    /// Members that left this administrator or had plans turned off (a reconcile's finding,
    /// reported even when repaired).
    #[serde(skip_serializing_if = "<[Drift]>::is_empty")]
    drift: &'a [Drift],
}

/// One notification per invocation; more only when the problems and drift would not fit
/// SNS's size limit in one message (each part says "part i of n"), so nothing is cut.
pub fn notifications(
    topic_arn: &str,
    meta: &EventMeta,
    problems: &[Problem],
    drift: &[Drift],
    coverage_report: Option<&str>,
) -> Vec<Notification> {
    let chunks = split_by_size(problems, drift);
    let parts = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, (problems, drift))| {
            let part = Part {
                summary: summary(problems, drift),
                event: EventMeta {
                    id: attribute_text(&meta.id),
                    source: attribute_text(&meta.source),
                    detail_type: attribute_text(&meta.detail_type),
                },
                part: i + 1,
                parts,
                problems,
                drift,
                coverage_report,
            };
            build(topic_arn, &part)
        })
        .collect()
}

/// Bytes a text takes in the structure: JSON-escaped, without its quotes.
fn escaped_len(text: &str) -> usize {
    serde_json::to_string(text).map_or(text.len() * 6, |s| s.len() - 2)
}

/// What an item adds to a part: its JSON in the document (with the comma after it) and its
/// lines in the email, each escaped as a value of the structure.
fn cost<T: Serialize>(item: &T, email_len: usize) -> usize {
    let json = serde_json::to_string(item).unwrap_or_default();
    // The JSON document is itself a string of the structure: escaped twice over in effect.
    escaped_len(&json) + 1 + email_len
}

/// Bytes one problem adds to a part.
pub fn problem_cost(p: &Problem) -> usize {
    // The email's lines hold the problem's texts; escaping them costs at most as much again
    // as their quotes and control characters (none, in AWS's texts as a rule).
    let email = email::problem_len(p);
    cost(p, email + (escaped_len(&p.reason) - p.reason.len()) * 2)
}

fn drift_cost(d: &Drift) -> usize {
    cost(d, email::drift_len(d))
}

/// The problems, then the drift, cut into parts that fit one message each.
fn split_by_size<'a>(
    problems: &'a [Problem],
    drift: &'a [Drift],
) -> Vec<(&'a [Problem], &'a [Drift])> {
    let sizes = problems
        .iter()
        .map(problem_cost)
        .chain(drift.iter().map(drift_cost));
    let mut cuts = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, len) in sizes.enumerate() {
        if i > start && size + len > ITEMS_MAX_BYTES {
            cuts.push(start..i);
            start = i;
            size = 0;
        }
        size += len;
    }
    // The rest: never empty unless there is nothing at all (`start` is always the index of
    // an item), and then the one part is empty.
    cuts.push(start..problems.len() + drift.len());
    let n = problems.len();
    cuts.into_iter()
        .map(|r| {
            let p = &problems[r.start.min(n)..r.end.min(n)];
            let d = &drift[r.start.max(n) - n..r.end.max(n) - n];
            (p, d)
        })
        .collect()
}

/// The operation of a check's failed line (`check: <line>`).
pub const CHECK_PREFIX: &str = "check: ";

fn summary(problems: &[Problem], drift: &[Drift]) -> String {
    let checks = problems
        .iter()
        .filter(|p| p.operation.starts_with(CHECK_PREFIX))
        .count();
    if checks > 0 && checks == problems.len() && drift.is_empty() {
        return format!(
            "The check found {checks} problem(s) in this deployment: until they are fixed, accounts can be left without \
             GuardDuty protection; a person must act."
        );
    }
    let mut summary = format!(
        "{} problem(s) left {} account(s) without GuardDuty protection in at least one region; retrying will not help, a person must act.",
        problems.len(),
        distinct(problems.iter().map(|p| p.account_id.as_str())).len()
    );
    if !drift.is_empty() {
        summary.push_str(&format!(
            " {} drift: members that left this administrator or had protection plans turned off, which someone in \
             those accounts (or with their credentials) did; see each one's action.",
            drift.len()
        ));
    }
    summary
}

fn build(topic_arn: &str, part: &Part<'_>) -> Notification {
    let (problems, drift) = (part.problems, part.drift);
    let accounts = distinct(
        problems
            .iter()
            .map(|p| p.account_id.as_str())
            .chain(drift.iter().map(|d| d.account_id.as_str())),
    );
    let body = Body {
        summary: &part.summary,
        event: json!({
            "id": part.event.id,
            "source": part.event.source,
            "detailType": part.event.detail_type,
        }),
        part: part.part,
        parts: part.parts,
        problems,
        drift,
    };
    let document =
        serde_json::to_string(&body).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    let fifo = fifo(topic_arn, &part.event.id, part.part, &document);
    let messages = BTreeMap::from([
        (EMAIL.to_owned(), email::text(part)),
        (CHAT.to_owned(), chat::payload(part)),
        (DEFAULT.to_owned(), document),
    ]);
    Notification {
        message: SnsMessage {
            subject: subject(
                &accounts,
                problems.len(),
                drift.len(),
                (part.part, part.parts),
            ),
            body: SnsBody::PerProtocol(messages),
            attributes: attributes(part),
            fifo,
        },
        problems: problems.len(),
    }
}

fn attributes(part: &Part<'_>) -> Vec<(&'static str, &'static str, String)> {
    let regions = distinct(
        part.problems
            .iter()
            .filter_map(|p| p.region.as_deref())
            .chain(part.drift.iter().map(|d| d.region.as_str())),
    );
    let operations = distinct(part.problems.iter().map(|p| p.operation.as_str()));
    vec![
        ("eventSource", "String", part.event.source.clone()),
        ("detailType", "String", part.event.detail_type.clone()),
        ("eventId", "String", part.event.id.clone()),
        ("problemCount", "Number", part.problems.len().to_string()),
        ("driftCount", "Number", part.drift.len().to_string()),
        ("operations", "String.Array", json_array(&operations)),
        ("regions", "String.Array", json_array(&regions)),
    ]
    .into_iter()
    .filter(|(_, _, v)| !v.is_empty())
    .collect()
}

/// A FIFO topic's ids. A replay of the same event within SNS's five-minute window is dropped
/// by SNS itself; a part or a changed report is not.
fn fifo(topic_arn: &str, event_id: &str, part: usize, document: &str) -> Option<Fifo> {
    topic_arn.ends_with(".fifo").then(|| Fifo {
        group_id: "guardduty-invite".into(),
        deduplication_id: format!(
            "{}-{part}-{:016x}",
            dedup_safe(event_id),
            fnv1a(document.as_bytes())
        ),
    })
}

fn subject(
    accounts: &[&str],
    problems: usize,
    drift: usize,
    (part, parts): (usize, usize),
) -> String {
    let who = match accounts {
        [] => String::new(),
        [one] => format!(" for {one}"),
        [first, rest @ ..] => format!(" for {first} and {} more", rest.len()),
    };
    let part = if parts > 1 {
        format!(" (part {part}/{parts})")
    } else {
        String::new()
    };
    let drift = if drift > 0 {
        format!(", {drift} drift")
    } else {
        String::new()
    };
    let s = format!("GuardDuty invite: {problems} problem(s){drift}{who}{part}");
    ascii_line(&s, SUBJECT_MAX_CHARS)
}

/// Keeps printable ASCII only and caps the length: SNS rejects anything else in a Subject.
pub fn ascii_line(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(max)
        .collect()
}

fn attribute_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(ATTRIBUTE_MAX_CHARS)
        .collect()
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = items.collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn json_array(items: &[&str]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        serde_json::to_string(items).unwrap_or_default()
    }
}

fn dedup_safe(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(80)
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: &Notification) -> String {
        n.for_protocol(DEFAULT)
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:problems";

    fn meta() -> EventMeta {
        EventMeta {
            id: "evt-1".into(),
            source: "aws.organizations".into(),
            detail_type: "AWS Service Event via CloudTrail".into(),
        }
    }

    fn other_admin(account: &str, region: &str) -> Problem {
        Problem::new(account, "CreateMembers", "the account belongs to another GuardDuty administrator")
            .in_region(region, Some("det-1"))
            .with_result("The request is rejected because the given account ID is already an associated member of another master account.")
    }

    #[test]
    fn body_carries_each_problem_verbatim_and_the_triggering_event() {
        let n = &notifications(
            TOPIC,
            &meta(),
            &[other_admin("444455556666", "us-east-1")],
            &[],
            None,
        )[0];
        let body: serde_json::Value = serde_json::from_str(&body(n)).unwrap();
        assert_eq!(body["event"]["id"], "evt-1");
        assert_eq!(
            body["event"]["detailType"],
            "AWS Service Event via CloudTrail"
        );
        let p = &body["problems"][0];
        assert_eq!(p["accountId"], "444455556666");
        assert_eq!(p["region"], "us-east-1");
        assert_eq!(p["detectorId"], "det-1");
        assert_eq!(p["operation"], "CreateMembers");
        assert!(p["result"]
            .as_str()
            .unwrap()
            .contains("another master account"));
    }

    #[test]
    fn subject_is_short_ascii_and_names_the_account() {
        let n = &notifications(
            TOPIC,
            &meta(),
            &[other_admin("444455556666", "us-east-1")],
            &[],
            None,
        )[0];
        assert_eq!(
            n.message.subject,
            "GuardDuty invite: 1 problem(s) for 444455556666"
        );
        let many: Vec<Problem> = (0..30)
            .map(|i| other_admin(&format!("{:012}", i), "eu-west-1"))
            .collect();
        let n = &notifications(TOPIC, &meta(), &many, &[], None)[0];
        assert!(
            n.message.subject.len() < 100 && n.message.subject.is_ascii(),
            "{}",
            n.message.subject
        );
        assert!(n.message.subject.contains("and 29 more"));
        assert_eq!(ascii_line("ä\nb", 99), "??b");
    }

    #[test]
    fn attributes_allow_filtering_and_stay_within_sns_rules() {
        let problems = [
            other_admin("444455556666", "us-east-1"),
            other_admin("444455556666", "eu-west-1"),
        ];
        let n = &notifications(TOPIC, &meta(), &problems, &[], None)[0];
        assert!(n.message.attributes.len() <= 10);
        let get = |k: &str| {
            n.message
                .attributes
                .iter()
                .find(|(name, _, _)| *name == k)
                .map(|(_, t, v)| (*t, v.clone()))
        };
        assert_eq!(get("problemCount"), Some(("Number", "2".into())));
        assert_eq!(
            get("regions"),
            Some(("String.Array", r#"["eu-west-1","us-east-1"]"#.into()))
        );
        assert_eq!(
            get("eventSource"),
            Some(("String", "aws.organizations".into()))
        );
        for (name, _, _) in &n.message.attributes {
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        }
        assert!(n.message.fifo.is_none());
    }

    #[test]
    fn problems_beyond_the_size_limit_are_split_not_dropped() {
        let many: Vec<Problem> = (0..3000)
            .map(|i| other_admin(&format!("{:012}", i), "ap-southeast-2"))
            .collect();
        let parts = notifications(TOPIC, &meta(), &many, &[], None);
        assert!(parts.len() > 1);
        let mut seen = 0;
        for (i, n) in parts.iter().enumerate() {
            assert!(
                sns_size(n) <= SNS_MAX_BYTES,
                "part {i} is {} bytes",
                sns_size(n)
            );
            assert!(n
                .message
                .subject
                .contains(&format!("(part {}/{})", i + 1, parts.len())));
            let body: serde_json::Value = serde_json::from_str(&body(n)).unwrap();
            seen += body["problems"].as_array().unwrap().len();
        }
        assert_eq!(seen, many.len());
    }

    /// What SNS counts of a Publish: the whole structure and the attributes.
    fn sns_size(n: &Notification) -> usize {
        n.message.body.message().len()
            + n.message
                .attributes
                .iter()
                .map(|(k, t, v)| k.len() + t.len() + v.len())
                .sum::<usize>()
    }

    /// `n` problems whose costs add up to exactly `total` bytes: the last one padded (its
    /// result counts twice, in the JSON and in the email; its detector id once, as the fix of
    /// a member-side operation does not name it).
    fn problems_costing(n: usize, total: usize) -> Vec<Problem> {
        let mut problems: Vec<Problem> = (0..n - 1)
            .map(|i| {
                other_admin(&format!("{:012}", i), "us-east-1")
                    .with_result("x".repeat(total / n / 2 - 1_000))
            })
            .collect();
        let mut last = Problem::new("999999999999", "CreateDetector", "refused")
            .in_region("us-east-1", Some(""))
            .with_result("");
        let rest = total - problems.iter().map(problem_cost).sum::<usize>();
        let base = problem_cost(&last);
        last.result = Some("x".repeat((rest - base) / 2));
        last.detector_id = Some("d".repeat((rest - base) % 2));
        problems.push(last);
        assert_eq!(problems.iter().map(problem_cost).sum::<usize>(), total);
        problems
    }

    fn problems_per_part(parts: &[Notification]) -> Vec<usize> {
        parts
            .iter()
            .map(|n| {
                let body: serde_json::Value = serde_json::from_str(&body(n)).unwrap();
                body["problems"].as_array().unwrap().len()
            })
            .collect()
    }

    /// The problems of one message may take ITEMS_MAX_BYTES; exactly that much still goes in
    /// one message.
    const PROBLEMS_BUDGET: usize = ITEMS_MAX_BYTES;

    #[test]
    fn problems_that_exactly_fill_one_message_are_sent_in_one() {
        let problems = problems_costing(8, PROBLEMS_BUDGET);
        let parts = notifications(TOPIC, &meta(), &problems, &[], None);
        assert_eq!(problems_per_part(&parts), [8]);
        assert!(
            sns_size(&parts[0]) <= SNS_MAX_BYTES,
            "{}",
            sns_size(&parts[0])
        );
    }

    #[test]
    fn one_byte_over_one_message_moves_the_last_problem_to_a_second() {
        let problems = problems_costing(8, PROBLEMS_BUDGET + 1);
        let parts = notifications(TOPIC, &meta(), &problems, &[], None);
        assert_eq!(problems_per_part(&parts), [7, 1]);
        assert!(
            parts[0].message.subject.ends_with("(part 1/2)"),
            "{}",
            parts[0].message.subject
        );
    }

    #[test]
    fn a_single_problem_larger_than_a_message_goes_alone_and_no_part_is_empty() {
        let huge = other_admin("444455556666", "us-east-1").with_result("x".repeat(SNS_MAX_BYTES));
        let parts = notifications(TOPIC, &meta(), std::slice::from_ref(&huge), &[], None);
        assert_eq!(problems_per_part(&parts), [1]);
        let parts = notifications(
            TOPIC,
            &meta(),
            &[other_admin("111122223333", "us-east-1"), huge],
            &[],
            None,
        );
        assert_eq!(problems_per_part(&parts), [1, 1]);
    }

    fn fifo_id(event_id: &str, problems: &[Problem]) -> String {
        let meta = EventMeta {
            id: event_id.into(),
            ..meta()
        };
        let parts = notifications(
            "arn:aws:sns:us-east-1:123456789012:p.fifo",
            &meta,
            problems,
            &[],
            None,
        );
        parts[0]
            .message
            .fifo
            .as_ref()
            .unwrap()
            .deduplication_id
            .clone()
    }

    #[test]
    fn different_events_get_different_deduplication_ids() {
        let problems = [other_admin("444455556666", "us-east-1")];
        assert_ne!(fifo_id("evt-1", &problems), fifo_id("evt-2", &problems));
    }

    #[test]
    fn a_replay_whose_problems_changed_is_not_dropped_as_a_duplicate() {
        // The same event, retried after one region was fixed: SNS must deliver the new report.
        let before = [
            other_admin("444455556666", "us-east-1"),
            other_admin("444455556666", "eu-west-1"),
        ];
        let after = [other_admin("444455556666", "us-east-1")];
        assert_ne!(fifo_id("evt-1", &before), fifo_id("evt-1", &after));
        assert_ne!(
            fifo_id("evt-1", &[other_admin("111122223333", "us-east-1")]),
            fifo_id("evt-1", &[other_admin("111122223334", "us-east-1")])
        );
    }

    #[test]
    fn the_parts_of_one_report_have_different_deduplication_ids() {
        // SNS would drop a second part with the first one's id as a duplicate.
        let many = problems_costing(8, PROBLEMS_BUDGET + 1);
        let parts = notifications(
            "arn:aws:sns:us-east-1:123456789012:p.fifo",
            &meta(),
            &many,
            &[],
            None,
        );
        assert_eq!(parts.len(), 2);
        let ids: Vec<&str> = parts
            .iter()
            .map(|n| n.message.fifo.as_ref().unwrap().deduplication_id.as_str())
            .collect();
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn the_deduplication_hash_is_fnv1a_so_a_replay_in_another_process_or_release_matches() {
        // The published FNV-1a 64-bit test vectors: the id must not depend on the process
        // (a retry can land on a new Lambda instance) or the build.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_deduplication_id_names_the_event_within_snss_rules() {
        let problems = [other_admin("444455556666", "us-east-1")];
        assert!(fifo_id("0c6fd8c2-7a4c", &problems).starts_with("0c6fd8c2-7a4c-1-"));
        // SNS: at most 128 characters, from a restricted set; any event id must fit.
        for id in ["a/b c\u{e4}#{}\n\"'", &"7".repeat(100_000)] {
            let dedup = fifo_id(id, &problems);
            assert!(dedup.len() <= 128, "{}", dedup.len());
            assert!(
                dedup.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{dedup}"
            );
        }
        assert!(fifo_id("a/b c", &problems).starts_with("abc-1-"));
        assert!(
            fifo_id(&"7".repeat(1000), &problems).starts_with(&format!("{}-1-", "7".repeat(80)))
        );
    }

    #[test]
    fn fifo_topics_get_a_group_and_a_stable_deduplication_id() {
        let fifo_topic = "arn:aws:sns:us-east-1:123456789012:problems.fifo";
        let problems = [other_admin("444455556666", "us-east-1")];
        let a = notifications(fifo_topic, &meta(), &problems, &[], None);
        let b = notifications(fifo_topic, &meta(), &problems, &[], None);
        let fifo = a[0].message.fifo.as_ref().unwrap();
        assert_eq!(fifo.group_id, "guardduty-invite");
        assert!(fifo.deduplication_id.len() <= 128);
        assert_eq!(
            a[0].message.fifo, b[0].message.fifo,
            "a replay must carry the same deduplication id"
        );
    }
}
