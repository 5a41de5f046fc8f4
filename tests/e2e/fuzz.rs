//! Property tests over untrusted input: the event parser, the template and the SNS shaping
//! never panic, and always give a value or a typed error within the API limits.
//! `PROPTEST_CASES` sets the number of cases per property (a quarter of it for the SNS
//! subject and body, a hundredth of it, at least 24, for the property with thousands of
//! problems); CI runs the defaults below.

use guardduty_invite::event::{
    self, Action, EventError, EventKind, API_CALL, CONTROL_TOWER_SOURCE, MANUAL_DETAIL_TYPE,
    MAX_ACCOUNTS_PER_REQUEST, ORGANIZATIONS_SOURCE, SERVICE_EVENT,
};
use guardduty_invite::publish::notify::{notifications, Notification, SUBJECT_MAX_CHARS};
use guardduty_invite::report::Problem;
use guardduty_invite::template::{MessageTemplate, Values, MESSAGE_MAX_CHARS};
use proptest::prelude::*;
use serde_json::Value;

const CASES: u32 = 2_000;

/// `PROPTEST_CASES`, else `default`. (A config built with `with_cases` ignores the variable,
/// so it is read here.)
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn samples() -> &'static [Value] {
    static SAMPLES: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    SAMPLES.get_or_init(|| {
        crate::support::samples()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    })
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

/// The path an error names, for the errors about a field.
fn field_path(e: &EventError) -> Option<&str> {
    match e {
        EventError::Missing(path)
        | EventError::WrongType { path, .. }
        | EventError::Invalid { path, .. } => Some(path),
        _ => None,
    }
}

fn check_parse(v: Value) {
    match event::parse(v) {
        Ok(req) => {
            if let Action::Invite(accounts) = req.action {
                assert!(!accounts.is_empty());
                for a in accounts {
                    assert_eq!(a.account_id.as_str().len(), 12);
                    assert!(a.account_id.as_str().bytes().all(|b| b.is_ascii_digit()));
                    assert!(a
                        .name
                        .as_deref()
                        .is_none_or(|n| !n.chars().any(char::is_control)));
                }
            }
        }
        // A JSON value is never "not JSON"; a field error names a field of the detail.
        Err(e @ EventError::NotJson(_)) => panic!("{e:?}"),
        Err(EventError::Envelope(_) | EventError::Unsupported { .. }) => {}
        Err(e) => {
            let path = field_path(&e).unwrap_or_default();
            assert!(path.starts_with("detail"), "{e:?}");
        }
    }
}

// ---- structured events: the real sources, detail-types and event names, with every field
// present, absent, null, of another type or of another value.

fn sometimes(valid: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        12 => valid.prop_map(Some),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => arb_json().prop_map(Some),
    ]
    .boxed()
}

fn rarely_wrong(valid: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![40 => valid.prop_map(Some), 1 => sometimes(arb_json())].boxed()
}

fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect(),
    )
}

fn text(s: &'static str) -> Value {
    Value::String(s.to_owned())
}

fn arb_account_id() -> BoxedStrategy<Value> {
    prop_oneof![
        // A few fixed ids, so that a manual request repeats an account now and then.
        2 => prop_oneof![Just(text("111122223333")), Just(text("444455556666"))],
        6 => "[0-9]{12}".prop_map(Value::String),
        1 => "[0-9]{10,14}".prop_map(Value::String),
        1 => "[0-9a-z ]{12}".prop_map(Value::String),
    ]
    .boxed()
}

fn arb_name() -> BoxedStrategy<Value> {
    prop_oneof![Just(text("****")), "\\PC{0,60}".prop_map(Value::String)].boxed()
}

fn arb_state() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(text("SUCCEEDED")),
        Just(text("FAILED")),
        Just(text("IN_PROGRESS")),
        "[A-Z_]{0,12}".prop_map(Value::String),
    ]
    .boxed()
}

/// `serviceEventDetails.<status field>` of an Organizations or Control Tower event: the
/// account at the top (Organizations) and under `account` (Control Tower), either may be
/// missing.
fn arb_status() -> BoxedStrategy<Value> {
    let account = (sometimes(arb_account_id()), sometimes(arb_name()))
        .prop_map(|(id, name)| object(vec![("accountId", id), ("accountName", name)]));
    (
        sometimes(arb_state()),
        sometimes(arb_account_id()),
        sometimes(arb_name()),
        sometimes(account),
        sometimes("[A-Z_]{0,20}".prop_map(Value::String)),
    )
        .prop_map(|(state, id, name, account, reason)| {
            object(vec![
                ("state", state),
                ("accountId", id),
                ("accountName", name),
                ("account", account),
                ("failureReason", reason),
            ])
        })
        .boxed()
}

/// Mostly `value`, now and then any other text.
fn usually(value: &'static str) -> BoxedStrategy<String> {
    prop_oneof![9 => Just(value.to_owned()), 1 => ".{0,30}"].boxed()
}

/// A lifecycle event whose source, detail-type, event name and status field usually agree.
fn arb_lifecycle(
    source: &'static str,
    detail_type: &'static str,
    name: &'static str,
    field: &'static str,
) -> BoxedStrategy<(String, String, Value)> {
    let name =
        prop_oneof![9 => Just(Some(text(name))), 1 => sometimes(".{0,20}".prop_map(Value::String))];
    (
        usually(source),
        usually(detail_type),
        name,
        usually(field),
        sometimes(arb_status()),
        prop_oneof![9 => Just(true), 1 => Just(false)],
    )
        .prop_map(|(source, detail_type, name, field, status, wrapped)| {
            let details = if wrapped {
                status.map(|s| Value::Object([(field, s)].into_iter().collect()))
            } else {
                Some(Value::Null)
            };
            let detail = object(vec![("eventName", name), ("serviceEventDetails", details)]);
            (source, detail_type, detail)
        })
        .boxed()
}

fn arb_manual_detail() -> BoxedStrategy<Value> {
    let email = prop_oneof![
        8 => "[a-z.+]{1,10}@[a-z]{1,10}\\.(com|net)".prop_map(Value::String),
        1 => ".{0,70}".prop_map(Value::String),
    ];
    // Entries are mostly right, so that whole lists of them parse now and then.
    let entry = (
        rarely_wrong(arb_account_id()),
        rarely_wrong(email),
        rarely_wrong(arb_name()),
    )
        .prop_map(|(id, email, name)| {
            object(vec![("accountId", id), ("email", email), ("name", name)])
        });
    let accounts = prop_oneof![
        6 => prop::collection::vec(entry, 0..6).prop_map(Value::Array),
        1 => arb_json(),
    ];
    sometimes(accounts)
        .prop_map(|accounts| object(vec![("accounts", accounts)]))
        .boxed()
}

/// A well-formed EventBridge envelope around a detail: (source, detail-type, event). Each
/// kind of event the parser knows, with its fields usually right, and anything else.
fn arb_event() -> impl Strategy<Value = (String, String, Value)> {
    let manual = (
        usually("security.manual"),
        usually(MANUAL_DETAIL_TYPE),
        arb_manual_detail(),
    );
    let other = (".{0,20}", ".{0,30}", arb_json());
    prop_oneof![
        arb_lifecycle(
            ORGANIZATIONS_SOURCE,
            SERVICE_EVENT,
            "CreateAccountResult",
            "createAccountStatus"
        ),
        arb_lifecycle(
            CONTROL_TOWER_SOURCE,
            SERVICE_EVENT,
            "CreateManagedAccount",
            "createManagedAccountStatus"
        ),
        arb_lifecycle(
            CONTROL_TOWER_SOURCE,
            SERVICE_EVENT,
            "UpdateManagedAccount",
            "updateManagedAccountStatus"
        ),
        arb_lifecycle(
            ORGANIZATIONS_SOURCE,
            API_CALL,
            "CreateAccount",
            "createAccountStatus"
        ),
        manual,
        other,
    ]
    .prop_map(|(source, detail_type, detail)| {
        let event = serde_json::json!({
            "version": "0", "id": "fuzz", "detail-type": detail_type, "source": source,
            "account": "123456789012", "time": "2026-11-26T09:00:00Z", "region": "us-east-1",
            "resources": [], "detail": detail
        });
        (source, detail_type, event)
    })
}

/// What the parser must make of a well-formed envelope, by its source, detail-type and
/// `detail.eventName`.
fn check_structured(source: &str, detail_type: &str, v: Value) {
    let detail = v["detail"].clone();
    let name = v["detail"]["eventName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let result = event::parse(v);
    let field_error_under = |e: &EventError, prefix: &str| {
        assert!(
            field_path(e).is_some_and(|p| p.starts_with(prefix)),
            "{e:?} is not a field error under {prefix}"
        )
    };
    let lifecycle = match (source, detail_type, name.as_str()) {
        (_, MANUAL_DETAIL_TYPE, _) => None,
        (ORGANIZATIONS_SOURCE, SERVICE_EVENT, "CreateAccountResult") => {
            Some(("createAccountStatus", EventKind::CreateAccountResult))
        }
        (CONTROL_TOWER_SOURCE, SERVICE_EVENT, "CreateManagedAccount") => Some((
            "createManagedAccountStatus",
            EventKind::CreateManagedAccount,
        )),
        (CONTROL_TOWER_SOURCE, SERVICE_EVENT, "UpdateManagedAccount") => Some((
            "updateManagedAccountStatus",
            EventKind::UpdateManagedAccount,
        )),
        (ORGANIZATIONS_SOURCE, API_CALL, "CreateAccount") => {
            let req = result.expect("the CreateAccount API call is always skipped");
            assert_eq!(req.kind, EventKind::CreateAccountApiCall);
            assert!(matches!(req.action, Action::Skip { .. }));
            return;
        }
        _ => {
            let err = result.expect_err("unsupported");
            assert!(matches!(err, EventError::Unsupported { .. }), "{err:?}");
            return;
        }
    };
    let Some((field, kind)) = lifecycle else {
        match result {
            Ok(req) => {
                assert_eq!(req.kind, EventKind::ManualRequest);
                let Action::Invite(accounts) = req.action else {
                    panic!("a manual request is never skipped")
                };
                assert!((1..=MAX_ACCOUNTS_PER_REQUEST).contains(&accounts.len()));
                let mut ids: Vec<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(
                    ids.len(),
                    accounts.len(),
                    "a repeated account is one account"
                );
            }
            Err(e) => field_error_under(&e, "detail"),
        }
        return;
    };
    // What the event's fields call for, read the way the AWS documentation describes them.
    let expected = lifecycle_oracle(&detail, field, kind == EventKind::CreateAccountResult);
    match (result, expected) {
        (Ok(req), Ok(invited)) => {
            assert_eq!(req.kind, kind);
            match (req.action, invited) {
                (Action::Invite(accounts), Some(id)) => {
                    assert_eq!(accounts.len(), 1);
                    assert_eq!(accounts[0].account_id.as_str(), id);
                    assert!(
                        accounts[0].email.is_none(),
                        "no lifecycle event carries an email"
                    );
                }
                (Action::Skip { .. }, None) => {}
                (action, invited) => panic!("{action:?}, expected an invitation of {invited:?}"),
            }
        }
        (Err(e), Err(path)) => assert_eq!(field_path(&e), Some(path.as_str()), "{e:?}"),
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    }
}

/// `Ok(Some(id))`: the account to invite; `Ok(None)`: skipped; `Err(path)`: the field an error
/// must name, for a lifecycle event's detail whose status is under `field`.
fn lifecycle_oracle(
    detail: &Value,
    field: &str,
    account_at_top: bool,
) -> Result<Option<String>, String> {
    let present = |v: &Value, key: &str| v.get(key).filter(|x| !x.is_null()).cloned();
    let text_at = |v: &Value, key: &str, path: &str| -> Result<Option<String>, String> {
        match present(v, key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{path}.{key}")),
        }
    };
    let required = |v: &Value, key: &str, path: &str| -> Result<String, String> {
        text_at(v, key, path)?.ok_or_else(|| format!("{path}.{key}"))
    };
    let details =
        present(detail, "serviceEventDetails").ok_or("detail.serviceEventDetails".to_owned())?;
    let path = format!("detail.serviceEventDetails.{field}");
    let status = present(&details, field).ok_or(path.clone())?;
    if !status.is_object() {
        return Err(path);
    }
    match required(&status, "state", &path)?.as_str() {
        "SUCCEEDED" => {
            let (holder, holder_path) = if account_at_top {
                (status.clone(), path.clone())
            } else {
                let account_path = format!("{path}.account");
                let account = present(&status, "account").ok_or(account_path.clone())?;
                if !account.is_object() {
                    return Err(account_path);
                }
                (account, account_path)
            };
            let id = required(&holder, "accountId", &holder_path)?;
            text_at(&holder, "accountName", &holder_path)?;
            if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Some(id))
            } else {
                Err(format!("{holder_path}.accountId"))
            }
        }
        "FAILED" | "IN_PROGRESS" => {
            text_at(&status, "failureReason", &path)?;
            Ok(None)
        }
        _ => Err(format!("{path}.state")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(CASES)))]

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
    fn structured_events_of_every_kind_give_the_request_or_the_error_their_fields_call_for(
        (source, detail_type, v) in arb_event(),
    ) {
        check_structured(&source, &detail_type, v);
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
}

proptest! {
    // A quarter of the cases: each builds and parses every form of every part of up to 40
    // problems, the slowest property per case; a subject or body over a limit shows in any
    // case with a long source, detail-type or result, which most cases have.
    #![proptest_config(ProptestConfig::with_cases(cases(CASES) / 4))]

    #[test]
    fn sns_subject_and_body_stay_within_limits(
        source in "\\PC{0,300}",
        detail_type in ".{0,300}",
        ids in prop::collection::vec("[0-9]{12}", 1..40),
        result in "\\PC{0,500}",
    ) {
        let meta = event::EventMeta { id: "e".into(), source, detail_type };
        let problems: Vec<Problem> = ids.iter().map(|id| Problem::new(id, "CreateMembers", "r").with_result(result.clone())).collect();
        for n in notifications("arn:aws:sns:us-east-1:123456789012:t", &meta, &problems, &[], None) {
            prop_assert!(n.message.subject.chars().count() <= SUBJECT_MAX_CHARS);
            prop_assert!(n.message.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{:?}", n.message.subject);
            prop_assert!(n.message.attributes.len() <= 10);
            prop_assert!(serde_json::from_str::<Value>(&n.message.body.message()).is_ok());
            prop_assert!(serde_json::from_str::<Value>(&n.for_protocol("default")).is_ok());
            let braced = n.for_protocol("email").contains(['{', '}']);
            prop_assert!(!braced, "an email has no braces");
        }
    }
}

/// What SNS counts against its 262,144-byte limit: the message and every attribute's name,
/// type and value.
fn sns_size(n: &Notification) -> usize {
    n.message.body.message().len()
        + n.message
            .attributes
            .iter()
            .map(|(k, t, v)| k.len() + t.len() + v.len())
            .sum::<usize>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases((cases(2_400) / 100).max(24)))]

    /// Thousands of problems with long AWS answers, and envelope fields of any size (a
    /// manual request can carry a 100 KB id): every message stays within SNS's limit, and
    /// every problem is sent exactly once.
    #[test]
    fn every_message_stays_within_snss_size_limit_whatever_the_event_and_the_problems(
        id in prop_oneof![Just("x".repeat(100_000)), Just("\u{1}".repeat(100_000)), "\\PC{0,40}"],
        source in prop_oneof![Just("ü".repeat(50_000)), "\\PC{0,40}"],
        detail_type in prop_oneof![Just("\"".repeat(50_000)), "\\PC{0,40}"],
        count in 1_000usize..2_000,
        result in "\\PC{0,600}",
    ) {
        let meta = event::EventMeta { id, source, detail_type };
        let problems: Vec<Problem> = (0..count)
            .map(|i| {
                Problem::new(&format!("{:012}", i), "CreateMembers", "r")
                    .in_region(["us-east-1", "eu-west-1"][i % 2], Some("det-1"))
                    .with_result(result.clone())
            })
            .collect();
        let parts = notifications("arn:aws:sns:us-east-1:123456789012:t", &meta, &problems, &[], None);
        let mut sent = 0;
        for n in &parts {
            prop_assert!(sns_size(n) <= 262_144, "{} bytes in a part of {}", sns_size(n), parts.len());
            let body: Value = serde_json::from_str(&n.for_protocol("default")).expect("JSON body");
            sent += body["problems"].as_array().map_or(0, Vec::len);
        }
        prop_assert_eq!(sent, count);
    }
}
