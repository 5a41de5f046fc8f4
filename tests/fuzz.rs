//! Property tests over untrusted input: the event parser, the template and the SNS shaping
//! never panic, and always give a value or a typed error within the API limits.
//! `PROPTEST_CASES` raises the number of cases (CI runs the defaults below).

mod support;

use guardduty_invite::event::{self, Action};
use guardduty_invite::notify::{notifications, SUBJECT_MAX_CHARS};
use guardduty_invite::report::Problem;
use guardduty_invite::template::{MessageTemplate, Values, MESSAGE_MAX_CHARS};
use proptest::prelude::*;
use serde_json::Value;

const CASES: u32 = 2_000;

fn samples() -> &'static [Value] {
    static SAMPLES: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    SAMPLES.get_or_init(|| support::samples().into_iter().map(|(_, v)| v).collect())
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[0-9]{10,14}".prop_map(Value::String),
        prop_oneof![
            Just("SUCCEEDED"),
            Just("FAILED"),
            Just("IN_PROGRESS"),
            Just("****")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("detail".to_string()),
                    Just("detail-type".to_string()),
                    Just("source".to_string()),
                    Just("accounts".to_string()),
                    Just("accountId".to_string()),
                    Just("email".to_string()),
                    ".{0,12}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a random path of `v` with `replacement` (or removes the key).
fn mutate(v: &mut Value, mut path: Vec<usize>, replacement: Option<Value>) {
    let Some(step) = path.pop() else { return };
    match v {
        Value::Object(map) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(step % map.len())
                .cloned()
                .unwrap_or_default();
            if path.is_empty() || !(map[&key].is_object() || map[&key].is_array()) {
                match replacement {
                    Some(r) => {
                        map.insert(key, r);
                    }
                    None => {
                        map.remove(&key);
                    }
                }
            } else if let Some(child) = map.get_mut(&key) {
                mutate(child, path, replacement);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = step % items.len();
            if path.is_empty() {
                items[i] = replacement.unwrap_or(Value::Null);
            } else {
                mutate(&mut items[i], path, replacement);
            }
        }
        _ => {}
    }
}

fn check_parse(v: Value) {
    match event::parse(v) {
        Ok(req) => {
            if let Action::Invite(accounts) = req.action {
                assert!(!accounts.is_empty());
                for a in accounts {
                    assert_eq!(a.account_id.as_str().len(), 12);
                    assert!(a
                        .name
                        .as_deref()
                        .is_none_or(|n| !n.chars().any(char::is_control)));
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = event::parse_bytes(&bytes);
    }

    #[test]
    fn arbitrary_json_gives_a_request_or_a_typed_error(v in arb_json()) {
        check_parse(v);
    }

    #[test]
    fn mutated_samples_give_a_request_or_a_typed_error(
        which in any::<usize>(),
        path in prop::collection::vec(any::<usize>(), 1..7),
        replacement in prop::option::of(arb_json()),
    ) {
        let all = samples();
        let mut v = all[which % all.len()].clone();
        mutate(&mut v, path, replacement);
        check_parse(v);
    }

    #[test]
    fn arbitrary_templates_parse_or_fail_without_panicking(raw in ".{0,200}") {
        if let Ok(t) = MessageTemplate::parse(&raw) {
            let _ = t.render(&Values { account_id: "111122223333", account_name: "n", region: "us-east-1", detector_id: "d" });
        }
    }

    #[test]
    fn hostile_account_names_never_break_the_invitation(name in "\\PC{0,30}[\\x00-\\x1f\\u{7f}\\u{200b}]{0,5}.{0,3000}") {
        let t = MessageTemplate::parse("Welcome {account_name} to GuardDuty in {region}.").expect("template");
        let msg = t.render(&Values { account_id: "111122223333", account_name: &name, region: "us-east-1", detector_id: "d" });
        prop_assert!(msg.chars().count() <= MESSAGE_MAX_CHARS);
        prop_assert!(!msg.chars().any(char::is_control), "{:?}", msg);
        prop_assert!(msg.starts_with("Welcome "));
    }

    #[test]
    fn sns_subject_and_body_stay_within_limits(
        source in "\\PC{0,300}",
        detail_type in ".{0,300}",
        ids in prop::collection::vec("[0-9]{12}", 1..40),
        result in "\\PC{0,500}",
    ) {
        let meta = event::EventMeta { id: "e".into(), source, detail_type };
        let problems: Vec<Problem> = ids.iter().map(|id| Problem::new(id, "CreateMembers", "r").with_result(result.clone())).collect();
        for n in notifications("arn:aws:sns:us-east-1:123456789012:t", &meta, &problems) {
            prop_assert!(n.subject.chars().count() <= SUBJECT_MAX_CHARS);
            prop_assert!(n.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{:?}", n.subject);
            prop_assert!(n.attributes.len() <= 10);
            prop_assert!(serde_json::from_str::<Value>(&n.body).is_ok());
        }
    }
}
