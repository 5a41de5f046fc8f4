//! Event parsing: an EventBridge event (as JSON) into a typed [`Request`]. Pure: no I/O.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde_json::Value;

use crate::account::{cap_chars, clean_name, sanitize_name, AccountId, Email};

pub const MANUAL_DETAIL_TYPE: &str = "GuardDuty Invite Request";
pub const RECONCILE_DETAIL_TYPE: &str = "GuardDuty Reconcile Request";
pub const CHECK_DETAIL_TYPE: &str = "GuardDuty Invite Check";
pub const SERVICE_EVENT: &str = "AWS Service Event via CloudTrail";
pub const API_CALL: &str = "AWS API Call via CloudTrail";
pub const ORGANIZATIONS_SOURCE: &str = "aws.organizations";
pub const CONTROL_TOWER_SOURCE: &str = "aws.controltower";
/// Logged by Organizations (since 2026-05-28) when an account joins, created or invited.
pub const ACCOUNT_JOINED: &str = "AccountJoinedOrganization";

/// A manual request may list many accounts; the cap keeps one invocation's work bounded.
pub const MAX_ACCOUNTS_PER_REQUEST: usize = 1000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("the event is not JSON: {0}")]
    NotJson(String),
    #[error("the event is not an EventBridge event: {0}")]
    Envelope(String),
    #[error("missing field {0}")]
    Missing(String),
    #[error("field {path} must be {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    #[error("field {path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("unsupported event: source {event_source:?}, detail-type {detail_type:?}{name} (expected an Organizations CreateAccountResult or AccountJoinedOrganization, a Control Tower CreateManagedAccount/UpdateManagedAccount, or detail-type \"GuardDuty Invite Request\", \"GuardDuty Reconcile Request\" or \"GuardDuty Invite Check\")")]
    Unsupported {
        event_source: String,
        detail_type: String,
        name: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum EventKind {
    CreateAccountResult,
    CreateAccountApiCall,
    CreateManagedAccount,
    UpdateManagedAccount,
    ManualRequest,
    ReconcileRequest,
    /// Organizations' `AccountJoinedOrganization`: AWS documents its `joinedMethod` field
    /// (`Created` or `Invited`) but not where in the event it sits, so the field is looked for
    /// anywhere in `detail`; only an account that did not join `Created` runs a reconcile.
    AccountJoinedOrganization,
    InviteCheck,
}

/// The envelope fields that identify the triggering event in responses and notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMeta {
    pub id: String,
    pub source: String,
    pub detail_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRequest {
    pub account_id: AccountId,
    /// Given only by manual requests; otherwise looked up in Organizations.
    pub email: Option<Email>,
    /// Sanitized; `None` when absent or masked.
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Invite(Vec<AccountRequest>),
    Skip {
        reason: String,
    },
    /// The whole organization against the members; `dry_run` makes read calls only.
    Reconcile {
        dry_run: bool,
    },
    /// The preflight, with the deployed role; `account` to try the member role in.
    Check {
        account: Option<AccountId>,
        /// List the protection policy's rules with the accounts they match.
        policy: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub meta: EventMeta,
    pub kind: EventKind,
    pub action: Action,
}

/// Parses raw bytes (the `invoke` path), reporting invalid JSON as a typed error.
pub fn parse_bytes(raw: &[u8]) -> Result<Request, EventError> {
    parse(json_from_bytes(raw)?)
}

/// Raw bytes to JSON, reporting invalid JSON as a typed error.
pub fn json_from_bytes(raw: &[u8]) -> Result<Value, EventError> {
    serde_json::from_slice(raw).map_err(|e| EventError::NotJson(e.to_string()))
}

pub fn parse(value: Value) -> Result<Request, EventError> {
    let envelope = envelope(value)?;
    let meta = EventMeta {
        id: envelope.id.clone().unwrap_or_default(),
        source: envelope.source.clone(),
        detail_type: envelope.detail_type.clone(),
    };
    let (kind, action) = classify(&meta, &envelope.detail)?;
    Ok(Request { meta, kind, action })
}

fn envelope(value: Value) -> Result<EventBridgeEvent<Value>, EventError> {
    if !value.is_object() {
        return Err(EventError::Envelope(format!(
            "expected a JSON object, got {}",
            kind_of(&value)
        )));
    }
    serde_json::from_value(value).map_err(|e| EventError::Envelope(cap_chars(&e.to_string(), 200)))
}

/// `detail-type` and `source` (and, for CloudTrail events, `eventName`) decide the kind.
fn classify(meta: &EventMeta, detail: &Value) -> Result<(EventKind, Action), EventError> {
    let name = detail
        .get("eventName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let unsupported = || EventError::Unsupported {
        event_source: cap_chars(&meta.source, 60),
        detail_type: cap_chars(&meta.detail_type, 60),
        name: if name.is_empty() {
            String::new()
        } else {
            format!(", eventName {:?}", cap_chars(name, 60))
        },
    };
    let kind = match (meta.source.as_str(), meta.detail_type.as_str(), name) {
        (_, MANUAL_DETAIL_TYPE, _) => EventKind::ManualRequest,
        (_, RECONCILE_DETAIL_TYPE, _) => EventKind::ReconcileRequest,
        (_, CHECK_DETAIL_TYPE, _) => EventKind::InviteCheck,
        (ORGANIZATIONS_SOURCE, SERVICE_EVENT, "CreateAccountResult") => {
            EventKind::CreateAccountResult
        }
        (ORGANIZATIONS_SOURCE, API_CALL, "CreateAccount") => EventKind::CreateAccountApiCall,
        (CONTROL_TOWER_SOURCE, SERVICE_EVENT, "CreateManagedAccount") => {
            EventKind::CreateManagedAccount
        }
        (CONTROL_TOWER_SOURCE, SERVICE_EVENT, "UpdateManagedAccount") => {
            EventKind::UpdateManagedAccount
        }
        (ORGANIZATIONS_SOURCE, _, ACCOUNT_JOINED) => EventKind::AccountJoinedOrganization,
        _ => return Err(unsupported()),
    };
    let action = match kind {
        EventKind::CreateAccountResult => parse_status(detail, "createAccountStatus", |status, path| {
            Ok(NamedAccount {
                id: required_str(status, "accountId", path)?,
                id_path: format!("{path}.accountId"),
                name: optional_str(status, "accountName", path)?,
            })
        })?,
        // Account creation is asynchronous: the API call has no account id yet, and the
        // CreateAccountResult event that follows is the one to act on.
        EventKind::CreateAccountApiCall => Action::Skip {
            reason: "CreateAccount API call: creation is asynchronous, the CreateAccountResult event carries the account".into(),
        },
        EventKind::CreateManagedAccount => parse_status(detail, "createManagedAccountStatus", managed_account)?,
        EventKind::UpdateManagedAccount => parse_status(detail, "updateManagedAccountStatus", managed_account)?,
        EventKind::ManualRequest => Action::Invite(parse_manual(detail)?),
        EventKind::AccountJoinedOrganization => joined_action(detail),
        EventKind::ReconcileRequest => Action::Reconcile {
            dry_run: optional_bool(object_detail(detail)?, "dryRun", "detail")?.unwrap_or(false),
        },
        EventKind::InviteCheck => Action::Check {
            policy: optional_bool(object_detail(detail)?, "policy", "detail")?.unwrap_or(false),
            account: optional_str(object_detail(detail)?, "accountId", "detail")?
                .map(|raw| {
                    AccountId::parse(&raw).map_err(|reason| EventError::Invalid {
                        path: "detail.accountId".into(),
                        reason,
                    })
                })
                .transpose()?,
        },
    };
    Ok((kind, action))
}

/// What an `AccountJoinedOrganization` event calls for. An account created in the
/// organization (`joinedMethod` `Created`) also produces a `CreateAccountResult` (or a Control
/// Tower event) that brings it to the invite function, so its joining starts nothing: a
/// reconcile then would race that invitation before the member role exists. An account that
/// joined by invitation has no other event, and one whose method cannot be read is treated
/// the same, so that no invited account waits for the daily run.
fn joined_action(detail: &Value) -> Action {
    match find_key(detail, "joinedMethod", 4).and_then(Value::as_str) {
        Some(method) if method.eq_ignore_ascii_case("created") => Action::Skip {
            reason: "AccountJoinedOrganization of an account created in the organization (joinedMethod Created): \
                     its creation event brings it to the invite function"
                .into(),
        },
        _ => Action::Reconcile { dry_run: false },
    }
}

/// The first value under `key` in `value`, searched breadth first down to `depth` levels.
fn find_key<'a>(value: &'a Value, key: &str, depth: usize) -> Option<&'a Value> {
    let Value::Object(map) = value else {
        return None;
    };
    if let Some(found) = map.get(key) {
        return Some(found);
    }
    if depth == 0 {
        return None;
    }
    map.values().find_map(|v| find_key(v, key, depth - 1))
}

/// The account of a lifecycle event, as the event names it.
struct NamedAccount {
    id: String,
    /// Where the id is, for errors.
    id_path: String,
    name: Option<String>,
}

/// Control Tower's `...ManagedAccountStatus.account`.
fn managed_account(status: &Value, path: &str) -> Result<NamedAccount, EventError> {
    let account_path = format!("{path}.account");
    let account = required(status, "account", path)?;
    if !account.is_object() {
        return Err(EventError::WrongType {
            path: account_path,
            expected: "an object",
        });
    }
    Ok(NamedAccount {
        id: required_str(account, "accountId", &account_path)?,
        id_path: format!("{account_path}.accountId"),
        name: optional_str(account, "accountName", &account_path)?,
    })
}

/// The lifecycle events share one shape: `serviceEventDetails.<status_field>.state`, and the
/// account only once the state is SUCCEEDED.
fn parse_status(
    detail: &Value,
    status_field: &str,
    account: impl Fn(&Value, &str) -> Result<NamedAccount, EventError>,
) -> Result<Action, EventError> {
    let details = required(detail, "serviceEventDetails", "detail")?;
    let path = format!("detail.serviceEventDetails.{status_field}");
    let status = required(details, status_field, "detail.serviceEventDetails")?;
    if !status.is_object() {
        return Err(EventError::WrongType {
            path,
            expected: "an object",
        });
    }
    let state = required_str(status, "state", &path)?;
    match state.as_str() {
        "SUCCEEDED" => {
            let found = account(status, &path)?;
            let account_id = AccountId::parse(&found.id).map_err(|reason| EventError::Invalid {
                path: found.id_path,
                reason,
            })?;
            Ok(Action::Invite(vec![AccountRequest {
                account_id,
                email: None,
                name: clean_name(found.name),
            }]))
        }
        "FAILED" | "IN_PROGRESS" => {
            let reason = optional_str(status, "failureReason", &path)?
                .map(|r| format!(" ({})", sanitize_name(&r)))
                .unwrap_or_default();
            Ok(Action::Skip {
                reason: format!(
                    "account creation state is {state}{reason}; only SUCCEEDED is acted on"
                ),
            })
        }
        other => Err(EventError::Invalid {
            path: format!("{path}.state"),
            reason: format!(
                "unknown state {:?} (expected SUCCEEDED, FAILED or IN_PROGRESS)",
                cap_chars(other, 40)
            ),
        }),
    }
}

fn parse_manual(detail: &Value) -> Result<Vec<AccountRequest>, EventError> {
    if !detail.is_object() {
        return Err(EventError::WrongType {
            path: "detail".into(),
            expected: "an object with an accounts list",
        });
    }
    let accounts = required(detail, "accounts", "detail")?
        .as_array()
        .ok_or_else(|| EventError::WrongType {
            path: "detail.accounts".into(),
            expected: "a list",
        })?;
    if accounts.is_empty() {
        return Err(EventError::Invalid {
            path: "detail.accounts".into(),
            reason: "the list is empty".into(),
        });
    }
    if accounts.len() > MAX_ACCOUNTS_PER_REQUEST {
        return Err(EventError::Invalid {
            path: "detail.accounts".into(),
            reason: format!(
                "{} accounts, at most {MAX_ACCOUNTS_PER_REQUEST} per request",
                accounts.len()
            ),
        });
    }
    let mut out: Vec<AccountRequest> = Vec::with_capacity(accounts.len());
    for (i, entry) in accounts.iter().enumerate() {
        let path = format!("detail.accounts[{i}]");
        if !entry.is_object() {
            return Err(EventError::WrongType {
                path,
                expected: "an object",
            });
        }
        let raw_id = required_str(entry, "accountId", &path)?;
        let account_id = AccountId::parse(&raw_id).map_err(|reason| EventError::Invalid {
            path: format!("{path}.accountId"),
            reason,
        })?;
        let email = optional_str(entry, "email", &path)?
            .map(|e| {
                Email::parse(e.trim()).map_err(|reason| EventError::Invalid {
                    path: format!("{path}.email"),
                    reason,
                })
            })
            .transpose()?;
        let name = clean_name(optional_str(entry, "name", &path)?);
        // A repeated account is one account: the first entry with an email wins.
        match out.iter_mut().find(|a| a.account_id == account_id) {
            Some(existing) if existing.email.is_none() => {
                *existing = AccountRequest {
                    account_id,
                    email,
                    name,
                }
            }
            Some(_) => {}
            None => out.push(AccountRequest {
                account_id,
                email,
                name,
            }),
        }
    }
    Ok(out)
}

fn required<'a>(obj: &'a Value, key: &str, path: &str) -> Result<&'a Value, EventError> {
    match obj.get(key) {
        Some(Value::Null) | None => Err(EventError::Missing(format!("{path}.{key}"))),
        Some(v) => Ok(v),
    }
}

fn required_str(obj: &Value, key: &str, path: &str) -> Result<String, EventError> {
    required(obj, key, path)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| EventError::WrongType {
            path: format!("{path}.{key}"),
            expected: "a string",
        })
}

fn optional_str(obj: &Value, key: &str, path: &str) -> Result<Option<String>, EventError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EventError::WrongType {
            path: format!("{path}.{key}"),
            expected: "a string",
        }),
    }
}

/// `detail`, which must be an object (an empty one is fine).
fn object_detail(detail: &Value) -> Result<&Value, EventError> {
    if detail.is_object() {
        Ok(detail)
    } else {
        Err(EventError::WrongType {
            path: "detail".into(),
            expected: "an object",
        })
    }
}

fn optional_bool(obj: &Value, key: &str, path: &str) -> Result<Option<bool>, EventError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(EventError::WrongType {
            path: format!("{path}.{key}"),
            expected: "true or false",
        }),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn invited_ids(req: &Request) -> Vec<&str> {
        match &req.action {
            Action::Invite(accounts) => accounts.iter().map(|a| a.account_id.as_str()).collect(),
            other => panic!("not an invitation: {other:?}"),
        }
    }

    fn manual(accounts: Value) -> Value {
        json!({"id": "m-1", "source": "me", "detail-type": MANUAL_DETAIL_TYPE, "detail": {"accounts": accounts}})
    }

    #[test]
    fn create_account_result_succeeded_names_the_new_account_and_hides_the_masked_name() {
        let req = parse(sample("organizations-create-account-result-succeeded.json")).unwrap();
        assert_eq!(req.kind, EventKind::CreateAccountResult);
        assert_eq!(invited_ids(&req), ["111122223333"]);
        let Action::Invite(accounts) = &req.action else {
            unreachable!()
        };
        assert_eq!(
            accounts[0].name, None,
            "the masked name **** must not be used"
        );
        assert_eq!(accounts[0].email, None);
        assert_eq!(req.meta.source, "aws.organizations");
        assert_eq!(req.meta.id, "0c6fd8c2-7a4c-4a5b-9a59-6c2f4b6d1e01");
    }

    #[test]
    fn create_account_result_failed_is_skipped() {
        let req = parse(sample("organizations-create-account-result-failed.json")).unwrap();
        match req.action {
            Action::Skip { reason } => assert!(
                reason.contains("FAILED") && reason.contains("EMAIL_ALREADY_EXISTS"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_account_in_progress_is_skipped() {
        let mut v = sample("organizations-create-account-result-succeeded.json");
        v["detail"]["serviceEventDetails"]["createAccountStatus"]["state"] = json!("IN_PROGRESS");
        assert!(matches!(parse(v).unwrap().action, Action::Skip { .. }));
    }

    #[test]
    fn create_account_api_call_is_skipped_because_creation_is_asynchronous() {
        let req = parse(sample("organizations-create-account-api-call.json")).unwrap();
        assert_eq!(req.kind, EventKind::CreateAccountApiCall);
        assert!(matches!(req.action, Action::Skip { .. }));
    }

    #[test]
    fn control_tower_create_and_update_carry_account_and_name() {
        for (file, kind) in [
            (
                "controltower-create-managed-account.json",
                EventKind::CreateManagedAccount,
            ),
            (
                "controltower-update-managed-account.json",
                EventKind::UpdateManagedAccount,
            ),
        ] {
            let req = parse(sample(file)).unwrap();
            assert_eq!(req.kind, kind);
            let Action::Invite(accounts) = &req.action else {
                panic!("{file} skipped")
            };
            assert_eq!(accounts[0].account_id.as_str(), "222233334444");
            assert_eq!(accounts[0].name.as_deref(), Some("Payments-Prod"));
        }
    }

    #[test]
    fn control_tower_failed_is_skipped() {
        let mut v = sample("controltower-create-managed-account.json");
        v["detail"]["serviceEventDetails"]["createManagedAccountStatus"]["state"] = json!("FAILED");
        assert!(matches!(parse(v).unwrap().action, Action::Skip { .. }));
    }

    #[test]
    fn manual_request_keeps_given_emails_and_leaves_the_rest_for_lookup() {
        let req = parse(sample("manual-invite-request.json")).unwrap();
        let Action::Invite(accounts) = &req.action else {
            panic!()
        };
        assert_eq!(
            accounts[0].email.as_ref().map(Email::as_str),
            Some("partner-security@example.net")
        );
        assert_eq!(accounts[0].name.as_deref(), Some("Partner Audit"));
        assert_eq!(accounts[1].email, None);
        assert_eq!(req.meta.source, "security.manual");
    }

    #[test]
    fn manual_request_merges_repeated_accounts() {
        let req = parse(manual(json!([
            {"accountId": "111122223333"},
            {"accountId": "111122223333", "email": "a@example.com"},
            {"accountId": "111122223333", "email": "b@example.com"}
        ])))
        .unwrap();
        let Action::Invite(accounts) = &req.action else {
            panic!()
        };
        assert_eq!(accounts.len(), 1);
        assert_eq!(
            accounts[0].email.as_ref().map(Email::as_str),
            Some("a@example.com")
        );
    }

    #[test]
    fn not_json_is_an_error_that_says_so() {
        assert!(matches!(
            parse_bytes(b"{not json"),
            Err(EventError::NotJson(_))
        ));
        assert!(matches!(
            parse_bytes(b"[1,2]"),
            Err(EventError::Envelope(_))
        ));
    }

    #[test]
    fn missing_detail_type_is_an_envelope_error() {
        let err = parse(json!({"source": "x", "detail": {}})).unwrap_err();
        assert!(
            matches!(&err, EventError::Envelope(why) if why.contains("detail-type")),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_detail_type_is_unsupported() {
        let err = parse(json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}})).unwrap_err();
        assert!(matches!(err, EventError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn unknown_event_name_is_unsupported_and_named() {
        let mut v = sample("controltower-create-managed-account.json");
        v["detail"]["eventName"] = json!("DeregisterOrganizationalUnit");
        let err = parse(v).unwrap_err();
        assert!(
            err.to_string().contains("DeregisterOrganizationalUnit"),
            "{err}"
        );
    }

    #[test]
    fn succeeded_without_account_id_names_the_missing_field() {
        let mut v = sample("organizations-create-account-result-succeeded.json");
        v["detail"]["serviceEventDetails"]["createAccountStatus"]
            .as_object_mut()
            .unwrap()
            .remove("accountId");
        assert_eq!(
            parse(v).unwrap_err(),
            EventError::Missing("detail.serviceEventDetails.createAccountStatus.accountId".into())
        );
    }

    #[test]
    fn account_id_that_is_not_twelve_digits_is_rejected_with_its_path() {
        let mut v = sample("controltower-update-managed-account.json");
        v["detail"]["serviceEventDetails"]["updateManagedAccountStatus"]["account"]["accountId"] =
            json!("12345");
        let err = parse(v).unwrap_err();
        assert!(
            err.to_string()
                .contains("updateManagedAccountStatus.account.accountId"),
            "{err}"
        );
        let err = parse(manual(json!([{"accountId": 111122223333u64}]))).unwrap_err();
        assert_eq!(
            err,
            EventError::WrongType {
                path: "detail.accounts[0].accountId".into(),
                expected: "a string"
            }
        );
    }

    #[test]
    fn manual_request_rejects_bad_emails_and_empty_lists() {
        let err = parse(manual(
            json!([{"accountId": "111122223333", "email": "not-an-email"}]),
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("detail.accounts[0].email"),
            "{err}"
        );
        assert!(
            !err.to_string().contains("not-an-email"),
            "email leaked: {err}"
        );
        assert!(matches!(
            parse(manual(json!([]))).unwrap_err(),
            EventError::Invalid { .. }
        ));
        assert!(matches!(
            parse(manual(json!("111122223333"))).unwrap_err(),
            EventError::WrongType { .. }
        ));
    }

    #[test]
    fn manual_request_over_the_cap_is_rejected() {
        let many: Vec<Value> = (0..=MAX_ACCOUNTS_PER_REQUEST)
            .map(|i| json!({"accountId": format!("{:012}", i)}))
            .collect();
        assert!(matches!(
            parse(manual(Value::Array(many))).unwrap_err(),
            EventError::Invalid { .. }
        ));
    }

    #[test]
    fn an_account_joining_runs_a_reconcile_whatever_its_detail_type_and_fields() {
        let sample = sample("organizations-account-joined.json");
        let r = parse(sample.clone()).unwrap();
        assert_eq!(r.kind, EventKind::AccountJoinedOrganization);
        assert_eq!(r.action, Action::Reconcile { dry_run: false });
        let mut other = sample;
        other["detail-type"] = json!("AWS API Call via CloudTrail");
        other["detail"] = json!({"eventName": "AccountJoinedOrganization"});
        assert_eq!(
            parse(other).unwrap().kind,
            EventKind::AccountJoinedOrganization
        );
        let not_org = json!({"id": "x", "source": "aws.controltower", "detail-type": SERVICE_EVENT, "detail": {"eventName": "AccountJoinedOrganization"}});
        assert!(matches!(
            parse(not_org).unwrap_err(),
            EventError::Unsupported { .. }
        ));
    }

    #[test]
    fn an_account_created_in_the_organization_joining_runs_no_reconcile() {
        let created = sample("organizations-account-joined-created.json");
        let r = parse(created.clone()).unwrap();
        assert_eq!(r.kind, EventKind::AccountJoinedOrganization);
        assert!(
            matches!(&r.action, Action::Skip { reason } if reason.contains("joinedMethod Created")),
            "{:?}",
            r.action
        );
        // Wherever the field sits, in whatever case: the path is not documented.
        let mut elsewhere = created;
        elsewhere["detail"] = json!({"eventName": "AccountJoinedOrganization", "additionalEventData": {"joinedMethod": "CREATED"}});
        assert!(matches!(
            parse(elsewhere).unwrap().action,
            Action::Skip { .. }
        ));
        // Invited, or no method to read: the reconcile runs, so no invited account waits.
        let mut invited = sample("organizations-account-joined.json");
        invited["detail"]["serviceEventDetails"]["joinedMethod"] = json!("INVITED");
        assert_eq!(
            parse(invited).unwrap().action,
            Action::Reconcile { dry_run: false }
        );
    }

    #[test]
    fn reconcile_request_takes_an_optional_dry_run_flag_from_any_source() {
        let event = |detail: Value| {
            parse(
                json!({"id": "r-1", "source": "guardduty-invite.schedule", "detail-type": RECONCILE_DETAIL_TYPE, "detail": detail}),
            )
        };
        assert_eq!(
            event(json!({})).unwrap().action,
            Action::Reconcile { dry_run: false }
        );
        assert_eq!(
            event(json!({"dryRun": true})).unwrap().action,
            Action::Reconcile { dry_run: true }
        );
        assert_eq!(
            event(json!({"dryRun": "yes"})).unwrap_err(),
            EventError::WrongType {
                path: "detail.dryRun".into(),
                expected: "true or false"
            }
        );
    }

    #[test]
    fn invite_check_may_name_an_account_to_try_the_member_role_in() {
        let event = |detail: Value| {
            parse(json!({"source": "ops", "detail-type": CHECK_DETAIL_TYPE, "detail": detail}))
        };
        assert_eq!(
            event(json!({})).unwrap().action,
            Action::Check {
                account: None,
                policy: false
            }
        );
        let Action::Check { account, .. } =
            event(json!({"accountId": "111122223333"})).unwrap().action
        else {
            panic!("not a check")
        };
        assert_eq!(
            account.map(|a| a.to_string()).as_deref(),
            Some("111122223333")
        );
        assert!(matches!(
            event(json!({"accountId": "42"})).unwrap_err(),
            EventError::Invalid { .. }
        ));
    }

    #[test]
    fn unknown_state_is_an_error() {
        let mut v = sample("organizations-create-account-result-succeeded.json");
        v["detail"]["serviceEventDetails"]["createAccountStatus"]["state"] =
            json!("PENDING_REVIEW");
        assert!(parse(v).unwrap_err().to_string().contains("PENDING_REVIEW"));
    }
}
