//! Shapes the SNS notification of an invocation's problems. Pure: no I/O.

use serde::Serialize;
use serde_json::json;

use crate::aws::{Fifo, SnsBody, SnsMessage};
use crate::event::EventMeta;
use crate::report::{Drift, Problem};

/// SNS takes at most 262,144 bytes of message plus attributes; the margin covers the
/// attributes and the JSON envelope around the problems.
pub const BODY_MAX_BYTES: usize = 240_000;
/// SNS: "less than 100 characters", ASCII, no line breaks.
pub const SUBJECT_MAX_CHARS: usize = 99;
const ATTRIBUTE_MAX_CHARS: usize = 256;

/// One SNS Publish request, and what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Its attributes are at most 10, so raw delivery to SQS keeps them.
    pub message: SnsMessage,
    /// How many problems this part carries.
    pub problems: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    summary: String,
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
) -> Vec<Notification> {
    let chunks = split_by_size(problems, drift);
    let parts = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, (p, d))| build(topic_arn, meta, p, d, (i + 1, parts)))
        .collect()
}

fn json_len<T: Serialize>(item: &T) -> usize {
    serde_json::to_string(item)
        .map(|s| s.len() + 1)
        .unwrap_or(BODY_MAX_BYTES)
}

/// The problems, then the drift, cut into parts that fit one message each.
fn split_by_size<'a>(
    problems: &'a [Problem],
    drift: &'a [Drift],
) -> Vec<(&'a [Problem], &'a [Drift])> {
    let sizes = problems
        .iter()
        .map(json_len)
        .chain(drift.iter().map(json_len));
    let mut cuts = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, len) in sizes.enumerate() {
        if i > start && size + len > BODY_MAX_BYTES - 4_000 {
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

fn build(
    topic_arn: &str,
    meta: &EventMeta,
    problems: &[Problem],
    drift: &[Drift],
    (part, parts): (usize, usize),
) -> Notification {
    let accounts = distinct(
        problems
            .iter()
            .map(|p| p.account_id.as_str())
            .chain(drift.iter().map(|d| d.account_id.as_str())),
    );
    let regions = distinct(
        problems
            .iter()
            .filter_map(|p| p.region.as_deref())
            .chain(drift.iter().map(|d| d.region.as_str())),
    );
    let operations = distinct(problems.iter().map(|p| p.operation.as_str()));

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
    let body = Body {
        summary,
        // Capped like the attributes: a manual request's envelope fields can be of any size,
        // and the split budgets only the problems.
        event: json!({
            "id": attribute_text(&meta.id),
            "source": attribute_text(&meta.source),
            "detailType": attribute_text(&meta.detail_type),
        }),
        part,
        parts,
        problems,
        drift,
    };
    let body = serde_json::to_string(&body).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));

    let attributes = vec![
        ("eventSource", "String", attribute_text(&meta.source)),
        ("detailType", "String", attribute_text(&meta.detail_type)),
        ("eventId", "String", attribute_text(&meta.id)),
        ("problemCount", "Number", problems.len().to_string()),
        ("driftCount", "Number", drift.len().to_string()),
        ("operations", "String.Array", json_array(&operations)),
        ("regions", "String.Array", json_array(&regions)),
    ]
    .into_iter()
    .filter(|(_, _, v)| !v.is_empty())
    .collect();

    let fifo = fifo(topic_arn, &meta.id, part, &body);

    Notification {
        message: SnsMessage {
            subject: subject(&accounts, problems.len(), drift.len(), (part, parts)),
            body: SnsBody::Text(body),
            attributes,
            fifo,
        },
        problems: problems.len(),
    }
}

/// A FIFO topic's ids. A replay of the same event within SNS's five-minute window is dropped
/// by SNS itself; a part or a changed report is not.
fn fifo(topic_arn: &str, event_id: &str, part: usize, body: &str) -> Option<Fifo> {
    topic_arn.ends_with(".fifo").then(|| Fifo {
        group_id: "guardduty-invite".into(),
        deduplication_id: format!(
            "{}-{part}-{:016x}",
            dedup_safe(event_id),
            fnv1a(body.as_bytes())
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
        n.message.body.message()
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
        )[0];
        assert_eq!(
            n.message.subject,
            "GuardDuty invite: 1 problem(s) for 444455556666"
        );
        let many: Vec<Problem> = (0..30)
            .map(|i| other_admin(&format!("{:012}", i), "eu-west-1"))
            .collect();
        let n = &notifications(TOPIC, &meta(), &many, &[])[0];
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
        let n = &notifications(TOPIC, &meta(), &problems, &[])[0];
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
        let parts = notifications(TOPIC, &meta(), &many, &[]);
        assert!(parts.len() > 1);
        let mut seen = 0;
        for (i, n) in parts.iter().enumerate() {
            assert!(
                body(n).len() <= BODY_MAX_BYTES,
                "part {i} is {} bytes",
                body(n).len()
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

    /// What one problem adds to a part's budget: its JSON and the comma after it.
    fn cost(p: &Problem) -> usize {
        serde_json::to_string(p).unwrap().len() + 1
    }

    /// `n` problems whose costs add up to exactly `total` bytes (the last one padded).
    fn problems_costing(n: usize, total: usize) -> Vec<Problem> {
        let mut problems: Vec<Problem> = (0..n)
            .map(|i| {
                other_admin(&format!("{:012}", i), "us-east-1")
                    .with_result("x".repeat(total / n - 400))
            })
            .collect();
        let sum: usize = problems.iter().map(cost).sum();
        let last = problems.pop().unwrap();
        let pad = "x".repeat(total - sum + last.result.as_ref().unwrap().len());
        problems.push(last.with_result(pad));
        assert_eq!(problems.iter().map(cost).sum::<usize>(), total);
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

    /// The problems of one message may take BODY_MAX_BYTES less 4,000 bytes for the rest of
    /// the body; exactly that much still goes in one message.
    const PROBLEMS_BUDGET: usize = BODY_MAX_BYTES - 4_000;

    #[test]
    fn problems_that_exactly_fill_one_message_are_sent_in_one() {
        let problems = problems_costing(8, PROBLEMS_BUDGET);
        let parts = notifications(TOPIC, &meta(), &problems, &[]);
        assert_eq!(problems_per_part(&parts), [8]);
        let n = &parts[0];
        let attributes: usize = n
            .message
            .attributes
            .iter()
            .map(|(k, t, v)| k.len() + t.len() + v.len())
            .sum();
        assert!(body(n).len() <= BODY_MAX_BYTES, "{}", body(n).len());
        assert!(body(n).len() + attributes <= 262_144);
    }

    #[test]
    fn one_byte_over_one_message_moves_the_last_problem_to_a_second() {
        let problems = problems_costing(8, PROBLEMS_BUDGET + 1);
        let parts = notifications(TOPIC, &meta(), &problems, &[]);
        assert_eq!(problems_per_part(&parts), [7, 1]);
        assert!(
            parts[0].message.subject.ends_with("(part 1/2)"),
            "{}",
            parts[0].message.subject
        );
    }

    #[test]
    fn a_single_problem_larger_than_a_message_goes_alone_and_no_part_is_empty() {
        let huge = other_admin("444455556666", "us-east-1").with_result("x".repeat(BODY_MAX_BYTES));
        let parts = notifications(TOPIC, &meta(), std::slice::from_ref(&huge), &[]);
        assert_eq!(problems_per_part(&parts), [1]);
        let parts = notifications(
            TOPIC,
            &meta(),
            &[other_admin("111122223333", "us-east-1"), huge],
            &[],
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
        let a = notifications(fifo_topic, &meta(), &problems, &[]);
        let b = notifications(fifo_topic, &meta(), &problems, &[]);
        let fifo = a[0].message.fifo.as_ref().unwrap();
        assert_eq!(fifo.group_id, "guardduty-invite");
        assert!(fifo.deduplication_id.len() <= 128);
        assert_eq!(
            a[0].message.fifo, b[0].message.fifo,
            "a replay must carry the same deduplication id"
        );
    }
}
