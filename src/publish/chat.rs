//! The custom notification a chat channel shows through Amazon Q Developer in chat
//! applications: its documented event format (`version` 1.0, `source` custom, `content` with
//! a title, a markdown description, next steps and keywords), within its limits. Pure.

use serde::Serialize;

use super::email::fix;
use super::notify::{Part, CHECK_PREFIX};
use crate::report::{Problem, WHOLE_REGION};

/// The service's limits for a custom notification's content.
pub const TITLE_MAX_CHARS: usize = 250;
pub const DESCRIPTION_MAX_CHARS: usize = 8_000;
pub const NEXT_STEP_MAX_CHARS: usize = 350;
pub const KEYWORD_MAX_CHARS: usize = 75;
/// How many next steps and keywords a card shows: a few, the rest is in the email.
const NEXT_STEPS: usize = 5;
const KEYWORDS: usize = 10;

#[derive(Serialize)]
pub struct Notification {
    version: &'static str,
    source: &'static str,
    id: String,
    content: Content,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    text_type: &'static str,
    title: String,
    description: String,
    next_steps: Vec<String>,
    keywords: Vec<String>,
}

/// The notification of one part, as JSON.
pub fn payload(part: &Part<'_>) -> String {
    let n = Notification {
        version: "1.0",
        source: "custom",
        id: format!("{}-{}", part.event.id, part.part),
        content: Content {
            text_type: "client-markdown",
            title: capped(&title(part), TITLE_MAX_CHARS),
            description: description(part),
            next_steps: next_steps(part.problems),
            keywords: keywords(part),
        },
    };
    serde_json::to_string(&n).unwrap_or_default()
}

/// The regions a part's problems and drift are in, sorted, each once.
fn regions_of<'p>(part: &Part<'p>) -> Vec<&'p str> {
    let mut regions: Vec<&str> = part
        .problems
        .iter()
        .filter_map(|p| p.region.as_deref())
        .chain(part.drift.iter().map(|d| d.region.as_str()))
        .collect();
    regions.sort_unstable();
    regions.dedup();
    regions
}

fn title(part: &Part<'_>) -> String {
    let regions = regions_of(part);
    let place = match regions.as_slice() {
        [one] => format!(" in {one}"),
        [] => String::new(),
        many => format!(" in {} regions", many.len()),
    };
    let accounts = unprotected_accounts(part.problems);
    let checks = part
        .problems
        .iter()
        .filter(|p| p.operation.starts_with(CHECK_PREFIX))
        .count();
    let what = match (accounts, part.drift.len()) {
        _ if checks == part.problems.len() && checks > 0 => {
            format!("the check found {checks} problem(s)")
        }
        (0, d) => format!("{d} drift"),
        (1, 0) => "1 account not protected".to_owned(),
        (a, 0) => format!("{a} accounts not protected"),
        (a, d) => format!("{a} account(s) not protected, {d} drift"),
    };
    let part_of = if part.parts > 1 {
        format!(" (part {}/{})", part.part, part.parts)
    } else {
        String::new()
    };
    format!("GuardDuty: {what}{place}{part_of}")
}

fn unprotected_accounts(problems: &[Problem]) -> usize {
    let mut ids: Vec<&str> = Vec::new();
    let mut whole = 0;
    for p in problems {
        match p.affected_accounts {
            Some(n) if p.account_id == WHOLE_REGION => whole += n,
            _ => ids.push(&p.account_id),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids.len() + whole
}

/// The summary, then a line per problem and drift while they fit; the rest is counted.
fn description(part: &Part<'_>) -> String {
    let lines: Vec<String> = part
        .problems
        .iter()
        .map(|p| {
            let region = p.region.as_deref().unwrap_or("every region");
            let who = match p.affected_accounts {
                Some(n) if p.account_id == WHOLE_REGION => format!("{n} accounts"),
                _ => format!("`{}`", p.account_id),
            };
            capped(
                &format!("• {who} in {region} ({}): {}", p.operation, p.reason),
                600,
            )
        })
        .chain(part.drift.iter().map(|d| {
            capped(
                &format!(
                    "• drift: `{}` in {}: {}; {}",
                    d.account_id, d.region, d.found, d.action
                ),
                600,
            )
        }))
        .collect();
    let mut out = capped(&part.summary, 1_500);
    let reserve = 200; // the "and N more" line
    for (i, line) in lines.iter().enumerate() {
        if out.chars().count() + line.chars().count() + 1 > DESCRIPTION_MAX_CHARS - reserve {
            out.push_str(&format!(
                "\n…and {} more: the email and the JSON message on the topic list every one.",
                lines.len() - i
            ));
            return out;
        }
        out.push('\n');
        out.push_str(line);
    }
    out
}

fn next_steps(problems: &[Problem]) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    for p in problems {
        let step = capped(&fix(p), NEXT_STEP_MAX_CHARS);
        if !steps.contains(&step) {
            steps.push(step);
        }
        if steps.len() == NEXT_STEPS {
            break;
        }
    }
    steps
}

fn keywords(part: &Part<'_>) -> Vec<String> {
    let mut words = vec!["GuardDuty".to_owned(), "guardduty-invite".to_owned()];
    if !part.drift.is_empty() {
        words.push("drift".to_owned());
    }
    let regions = regions_of(part);
    words.extend(regions.iter().map(|r| (*r).to_owned()));
    words
        .into_iter()
        .map(|w| capped(&w, KEYWORD_MAX_CHARS))
        .take(KEYWORDS)
        .collect()
}

/// At most `max` characters, with an ellipsis when cut.
fn capped(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventMeta;

    #[test]
    fn a_card_stays_within_the_services_limits_however_many_and_long_the_problems() {
        let problems: Vec<Problem> = (0..500)
            .map(|i| {
                Problem::new(&format!("{i:012}"), "CreateMembers", "ü".repeat(2_000))
                    .in_region(&format!("region-{}-{}", i % 20, "r".repeat(100)), None)
            })
            .collect();
        let part = Part {
            summary: "s".repeat(10_000),
            event: EventMeta {
                id: "e".into(),
                source: "s".into(),
                detail_type: "d".into(),
            },
            part: 2,
            parts: 3,
            problems: &problems,
            drift: &[],
            coverage_report: None,
        };
        let card: serde_json::Value = serde_json::from_str(&payload(&part)).unwrap();
        let content = &card["content"];
        let chars = |v: &serde_json::Value| v.as_str().unwrap().chars().count();
        assert!(chars(&content["title"]) <= TITLE_MAX_CHARS);
        assert!(chars(&content["description"]) <= DESCRIPTION_MAX_CHARS);
        assert!(content["description"]
            .as_str()
            .unwrap()
            .contains("more: the email and the JSON message"));
        for s in content["nextSteps"].as_array().unwrap() {
            assert!(chars(s) <= NEXT_STEP_MAX_CHARS);
        }
        for k in content["keywords"].as_array().unwrap() {
            assert!(chars(k) <= KEYWORD_MAX_CHARS);
        }
        assert!(payload(&part).len() < 40_000, "within the part's reserve");
    }
}
