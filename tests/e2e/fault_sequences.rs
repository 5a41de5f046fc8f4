//! Precise fault sequences with aws-smithy-mocks: which failures are retried, how often, and
//! which Lambda error type each one maps to. The clients have the function's own retry and
//! timeout policy (`aws::retry_config`, `aws::timeout_config`, what `aws::sdk_config_loader`
//! sets), and the attempts and backoff are held to what docs/operations.md states.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_guardduty::operation::create_members::{CreateMembersError, CreateMembersOutput};
use aws_sdk_guardduty::operation::get_members::GetMembersOutput;
use aws_sdk_guardduty::operation::invite_members::InviteMembersOutput;
use aws_sdk_guardduty::operation::list_detectors::ListDetectorsOutput;
use aws_sdk_guardduty::types::error::BadRequestException;
use aws_sdk_guardduty::types::Member;
use aws_sdk_organizations::operation::describe_account::{
    DescribeAccountError, DescribeAccountOutput,
};
use aws_sdk_organizations::types::error::AccessDeniedException;
use aws_sdk_organizations::types::Account;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use guardduty_invite::aws::{retry_config, timeout_config, Aws, MAX_ATTEMPTS};
use guardduty_invite::config::Config;
use guardduty_invite::error::HandlerError;
use guardduty_invite::handler::App;
use guardduty_invite::report::{OutcomeLabel, Status};
use serde_json::{json, Value};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:problems";
const REGION: &str = "us-east-1";

fn list_detectors() -> Rule {
    mock!(aws_sdk_guardduty::Client::list_detectors)
        .then_output(|| ListDetectorsOutput::builder().detector_ids("det-1").build())
}

fn create_members_ok() -> Rule {
    mock!(aws_sdk_guardduty::Client::create_members)
        .then_output(|| CreateMembersOutput::builder().build())
}

/// GetMembers of a new account: not a member on the first read, `Created` once added.
fn get_members_created() -> Rule {
    mock!(aws_sdk_guardduty::Client::get_members)
        .sequence()
        .output(|| {
            GetMembersOutput::builder()
                .unprocessed_accounts(
                    aws_sdk_guardduty::types::UnprocessedAccount::builder()
                        .account_id("111122223333")
                        .result("The request is rejected because the given account ID is not an associated member of account the current account.")
                        .build(),
                )
                .build()
        })
        .output(|| {
            GetMembersOutput::builder()
                .members(
                    Member::builder()
                        .account_id("111122223333")
                        .relationship_status("Created")
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build()
}

fn invite_ok() -> Rule {
    mock!(aws_sdk_guardduty::Client::invite_members)
        .then_output(|| InviteMembersOutput::builder().build())
}

fn describe_ok() -> Rule {
    mock!(aws_sdk_organizations::Client::describe_account).then_output(|| {
        DescribeAccountOutput::builder()
            .account(
                Account::builder()
                    .id("111122223333")
                    .email("new.account@example.com")
                    .name("Payments")
                    .build(),
            )
            .build()
    })
}

fn publish_ok() -> Rule {
    mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("m-1").build())
}

fn app(guardduty: &[&Rule], organizations: &[&Rule], sns: &[&Rule]) -> App {
    let gd = mock_client!(aws_sdk_guardduty, RuleMode::MatchAny, guardduty, |b| b
        .retry_config(retry_config())
        .timeout_config(timeout_config()));
    let org = mock_client!(
        aws_sdk_organizations,
        RuleMode::MatchAny,
        organizations,
        |b| b
            .retry_config(retry_config())
            .timeout_config(timeout_config())
    );
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, sns, |b| b
        .retry_config(retry_config())
        .timeout_config(timeout_config()));
    let config = Config::from_pairs(&[("SNS_TOPIC_ARN", TOPIC), ("GUARDDUTY_REGIONS", REGION)])
        .expect("config");
    App::new(
        config,
        Aws::from_clients(
            &aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(REGION))
                .build(),
            HashMap::from([(REGION.to_owned(), gd)]),
            org,
            sns,
        ),
    )
}

fn created_event() -> Value {
    let path = format!(
        "{}/events/organizations-create-account-result-succeeded.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json")
}

fn deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn service_unavailable_twice_then_success_invites_after_three_attempts() {
    let invite = mock!(aws_sdk_guardduty::Client::invite_members)
        .sequence()
        .http_status(503, None)
        .times(2)
        .output(|| InviteMembersOutput::builder().build())
        .build();
    let app = app(
        &[
            &list_detectors(),
            &create_members_ok(),
            &get_members_created(),
            &invite,
        ],
        &[&describe_ok()],
        &[],
    );
    let response = app
        .handle(created_event(), deadline())
        .await
        .expect("invited after retries");
    assert_eq!(
        response.accounts[0].regions[0].outcome,
        OutcomeLabel::Invited
    );
    assert_eq!(invite.num_calls(), 3);
}

#[tokio::test]
async fn validation_error_is_not_retried_and_fails_as_rejected() {
    let create = mock!(aws_sdk_guardduty::Client::create_members)
        .then_error(|| CreateMembersError::BadRequestException(BadRequestException::builder().message("The request is rejected because an invalid or out-of-range value is specified as an input parameter.").build()));
    let invite = invite_ok();
    let app = app(
        &[&list_detectors(), &create, &get_members_created(), &invite],
        &[&describe_ok()],
        &[],
    );
    let err = app
        .handle(created_event(), deadline())
        .await
        .expect_err("must fail");
    assert_eq!(err.error_type(), "GuardDuty.CreateMembers.Rejected");
    assert!(err.to_string().contains("out-of-range"), "{err}");
    assert_eq!(create.num_calls(), 1, "a 400 is not retried");
    assert_eq!(invite.num_calls(), 0);
}

#[tokio::test]
async fn access_denied_on_describe_account_fails_before_any_guardduty_call() {
    let describe = mock!(aws_sdk_organizations::Client::describe_account).then_error(|| {
        DescribeAccountError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("not the management account")
                .build(),
        )
    });
    let detectors = list_detectors();
    let create = create_members_ok();
    let app = app(&[&detectors, &create], &[&describe], &[]);
    let err = app
        .handle(created_event(), deadline())
        .await
        .expect_err("must fail");
    assert_eq!(
        err.error_type(),
        "Organizations.DescribeAccount.AccessDenied"
    );
    assert_eq!(describe.num_calls(), 1);
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn internal_errors_beyond_the_retry_budget_fail_as_transient() {
    let detectors = mock!(aws_sdk_guardduty::Client::list_detectors)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let app = app(&[&detectors], &[&describe_ok()], &[]);
    let err = app
        .handle(created_event(), deadline())
        .await
        .expect_err("must fail");
    assert_eq!(err.error_type(), "GuardDuty.ListDetectors.Transient");
    assert_eq!(detectors.num_calls(), MAX_ATTEMPTS as usize);
    assert!(matches!(err, HandlerError::Incomplete { .. }));
}

#[tokio::test]
async fn throttled_publish_is_retried_then_fails_the_invocation_saying_the_problem_is_not_published(
) {
    let throttled = r#"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
    let publish = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(400, Some(throttled.to_owned()))
        .repeatedly()
        .build();
    let create = mock!(aws_sdk_guardduty::Client::create_members).then_output(|| {
        CreateMembersOutput::builder()
            .unprocessed_accounts(
                aws_sdk_guardduty::types::UnprocessedAccount::builder()
                    .account_id("111122223333")
                    .result("The request is rejected because the given account ID is already an associated member of another master account.")
                    .build(),
            )
            .build()
    });
    let app = app(
        &[&list_detectors(), &get_members_created(), &create],
        &[&describe_ok()],
        &[&publish],
    );
    let err = app
        .handle(created_event(), deadline())
        .await
        .expect_err("must fail");
    assert_eq!(err.error_type(), "SNS.Publish.Transient");
    assert!(
        err.to_string()
            .contains("1 problem(s) could not be published"),
        "{err}"
    );
    assert_eq!(publish.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn an_empty_first_page_of_detectors_is_not_taken_for_no_detector() {
    let detectors = mock!(aws_sdk_guardduty::Client::list_detectors)
        .sequence()
        .output(|| {
            ListDetectorsOutput::builder()
                .set_detector_ids(Some(vec![]))
                .next_token("page-2")
                .build()
        })
        .output(|| ListDetectorsOutput::builder().detector_ids("det-1").build())
        .build();
    let app = app(
        &[
            &detectors,
            &create_members_ok(),
            &get_members_created(),
            &invite_ok(),
        ],
        &[&describe_ok()],
        &[&publish_ok()],
    );
    let response = app
        .handle(created_event(), deadline())
        .await
        .expect("invited");
    assert_eq!(
        response.accounts[0].regions[0].detector_id.as_deref(),
        Some("det-1")
    );
    assert_eq!(detectors.num_calls(), 2);
}

#[tokio::test]
async fn the_detector_is_looked_up_once_per_process() {
    let detectors = list_detectors();
    let app = app(
        &[
            &detectors,
            &create_members_ok(),
            &get_members_created(),
            &invite_ok(),
        ],
        &[&describe_ok()],
        &[],
    );
    for _ in 0..3 {
        app.handle(created_event(), deadline()).await.expect("ok");
    }
    assert_eq!(detectors.num_calls(), 1);
}

#[tokio::test]
async fn a_skipped_event_makes_no_call() {
    let detectors = list_detectors();
    let describe = describe_ok();
    let app = app(&[&detectors], &[&describe], &[]);
    let mut event = created_event();
    event["detail"]["serviceEventDetails"]["createAccountStatus"]["state"] = json!("FAILED");
    let response = app.handle(event, deadline()).await.expect("skip");
    assert_eq!(response.status, Status::Skipped);
    assert_eq!(detectors.num_calls() + describe.num_calls(), 0);
}

/// The error code and message, as the SDK reads them from a real error response.
fn error_code(code: &str, message: &str) -> aws_sdk_organizations::error::ErrorMetadata {
    aws_sdk_organizations::error::ErrorMetadata::builder()
        .code(code)
        .message(message)
        .build()
}

/// Organizations clients for the tree walk: root r-1 holds 111111111111 and ou-x; `ou_x` says
/// what listing ou-x's children answers; ListAccounts (the fallback) lists both accounts.
fn walk(ou_x: Vec<Rule>) -> Aws {
    use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
    use aws_sdk_organizations::operation::list_accounts_for_parent::ListAccountsForParentOutput;
    use aws_sdk_organizations::operation::list_organizational_units_for_parent::ListOrganizationalUnitsForParentOutput;
    use aws_sdk_organizations::operation::list_roots::ListRootsOutput;
    use aws_sdk_organizations::types::{OrganizationalUnit, Root};
    let account = |id: &str| Account::builder().id(id).build();
    let mut rules = vec![
        mock!(aws_sdk_organizations::Client::list_roots).then_output(|| {
            ListRootsOutput::builder()
                .roots(Root::builder().id("r-1").build())
                .build()
        }),
        mock!(aws_sdk_organizations::Client::list_organizational_units_for_parent)
            .match_requests(|r| r.parent_id() == Some("r-1"))
            .then_output(|| {
                ListOrganizationalUnitsForParentOutput::builder()
                    .organizational_units(OrganizationalUnit::builder().id("ou-x").build())
                    .build()
            }),
        mock!(aws_sdk_organizations::Client::list_accounts_for_parent)
            .match_requests(|r| r.parent_id() == Some("r-1"))
            .then_output(move || {
                ListAccountsForParentOutput::builder()
                    .accounts(account("111111111111"))
                    .build()
            }),
        mock!(aws_sdk_organizations::Client::list_accounts).then_output(move || {
            ListAccountsOutput::builder()
                .accounts(account("111111111111"))
                .accounts(account("222222222222"))
                .build()
        }),
    ];
    rules.extend(ou_x);
    let org = aws_smithy_mocks::mock_client!(
        aws_sdk_organizations,
        RuleMode::MatchAny,
        &rules.iter().collect::<Vec<_>>(),
        |b| b
            .retry_config(retry_config())
            .timeout_config(timeout_config())
    );
    Aws::from_clients(
        &aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .build(),
        HashMap::new(),
        org,
        aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::Config::builder()
                .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
                .region(aws_sdk_sns::config::Region::new(REGION))
                .build(),
        ),
    )
}

/// ou-x deleted before its listings are answered: both answer ParentNotFoundException.
fn ou_x_gone() -> Vec<Rule> {
    use aws_sdk_organizations::operation::list_accounts_for_parent::ListAccountsForParentError;
    use aws_sdk_organizations::operation::list_organizational_units_for_parent::ListOrganizationalUnitsForParentError;
    use aws_sdk_organizations::types::error::ParentNotFoundException;
    let gone = || {
        let message = "We can't find a root or OU with the ParentId that you specified.";
        ParentNotFoundException::builder()
            .message(message)
            .meta(error_code("ParentNotFoundException", message))
            .build()
    };
    vec![
        mock!(aws_sdk_organizations::Client::list_organizational_units_for_parent)
            .match_requests(|r| r.parent_id() == Some("ou-x"))
            .then_error(move || {
                ListOrganizationalUnitsForParentError::ParentNotFoundException(gone())
            }),
        mock!(aws_sdk_organizations::Client::list_accounts_for_parent)
            .match_requests(|r| r.parent_id() == Some("ou-x"))
            .then_error(move || ListAccountsForParentError::ParentNotFoundException(gone())),
    ]
}

#[tokio::test]
async fn an_ou_deleted_during_the_walk_has_its_accounts_listed_again_from_the_root() {
    let aws = walk(ou_x_gone());
    let listing = aws.list_organization().await.expect("the walk completes");
    let mut ids: Vec<&str> = listing.accounts.iter().map(|a| a.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["111111111111", "222222222222"],
        "listed once each, none lost"
    );
}

#[tokio::test]
async fn an_ou_deleted_during_the_walk_still_lets_the_tree_be_whole() {
    // A reconcile places no account before the tree is whole: an OU whose listing answers
    // that it is gone must count as listed, or the run would protect nobody.
    let aws = walk(ou_x_gone());
    let listing = aws.list_organization().await.expect("the walk completes");
    assert_eq!(listing.ous, ["ou-x"], "the tree as the walk found it");
}

#[tokio::test]
async fn organizations_throttling_during_the_walk_is_retried_and_loses_no_account() {
    use aws_sdk_organizations::operation::list_accounts_for_parent::ListAccountsForParentOutput;
    use aws_sdk_organizations::operation::list_organizational_units_for_parent::ListOrganizationalUnitsForParentOutput;
    // Organizations' throttling answer as it comes over the wire (JSON 1.1 protocol).
    let rate_exceeded = r#"{"__type":"TooManyRequestsException","Message":"Rate exceeded"}"#;
    let throttled = mock!(aws_sdk_organizations::Client::list_accounts_for_parent)
        .match_requests(|r| r.parent_id() == Some("ou-x"))
        .sequence()
        .http_status(400, Some(rate_exceeded.to_owned()))
        .times(2)
        .output(|| {
            ListAccountsForParentOutput::builder()
                .accounts(Account::builder().id("222222222222").build())
                .build()
        })
        .build();
    let aws = walk(vec![
        mock!(aws_sdk_organizations::Client::list_organizational_units_for_parent)
            .match_requests(|r| r.parent_id() == Some("ou-x"))
            .then_output(|| ListOrganizationalUnitsForParentOutput::builder().build()),
        throttled.clone(),
    ]);
    let listing = aws.list_organization().await.expect("the walk completes");
    let mut found: Vec<(&str, Vec<String>)> = listing
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a.ous.clone().unwrap_or_default()))
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        [
            ("111111111111", vec![]),
            ("222222222222", vec!["ou-x".to_owned()])
        ]
    );
    assert_eq!(
        throttled.num_calls(),
        3,
        "two throttled attempts, then the page"
    );
}

// ------------------------------------------------------------------ the documented policy

/// What docs/operations.md promises of every AWS call: "attempt timeout 5 s, operation timeout
/// 20 s, at most 4 attempts with exponential backoff (100 ms, at most 4 s)", read from the
/// document so that the two cannot drift apart.
struct Documented {
    attempt_timeout: Duration,
    operation_timeout: Duration,
    attempts: usize,
    initial_backoff: Duration,
    max_backoff: Duration,
}

fn documented() -> Documented {
    let path = format!("{}/docs/operations.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("docs/operations.md");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let promise = regex_lite::Regex::new(
        r"attempt timeout (\d+) s, operation timeout (\d+) s, at most (\d+) attempts with exponential backoff \((\d+) ms, at most (\d+) s\)",
    )
    .expect("regex");
    let c = promise
        .captures(&text)
        .expect("docs/operations.md states the timeouts, attempts and backoff of every AWS call");
    let n = |i: usize| c[i].parse::<u64>().expect("a number");
    Documented {
        attempt_timeout: Duration::from_secs(n(1)),
        operation_timeout: Duration::from_secs(n(2)),
        attempts: n(3) as usize,
        initial_backoff: Duration::from_millis(n(4)),
        max_backoff: Duration::from_secs(n(5)),
    }
}

/// The SDK's sleep on tokio, recording each wait it is asked for (`asked`: the backoffs, and the
/// timeouts it arms) and each wait that ran to its end (`waited`: the backoffs; a timeout is
/// dropped when the mock answers).
#[derive(Debug, Clone, Default)]
struct RecordingSleep {
    asked: std::sync::Arc<std::sync::Mutex<Vec<Duration>>>,
    waited: std::sync::Arc<std::sync::Mutex<Vec<Duration>>>,
}

impl aws_sdk_guardduty::config::AsyncSleep for RecordingSleep {
    fn sleep(&self, duration: Duration) -> aws_sdk_guardduty::config::Sleep {
        self.asked.lock().expect("sleeps").push(duration);
        let waited = self.waited.clone();
        aws_sdk_guardduty::config::Sleep::new(async move {
            tokio::time::sleep(duration).await;
            waited.lock().expect("sleeps").push(duration);
        })
    }
}

/// A GuardDuty client from the function's own SDK configuration (`aws::sdk_config_loader`),
/// its HTTP client replaced by the mocks' and its sleep by `sleep`.
async fn production_guardduty(
    region: &str,
    sleep: RecordingSleep,
    rule: &Rule,
) -> aws_sdk_guardduty::Client {
    let sdk = guardduty_invite::aws::sdk_config_loader()
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .sleep_impl(sleep)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_guardduty::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let mocks = aws_smithy_mocks::MockResponseInterceptor::new()
        .rule_mode(RuleMode::MatchAny)
        .with_rule(rule);
    aws_sdk_guardduty::Client::from_conf(
        aws_sdk_guardduty::config::Builder::from(&sdk)
            .interceptor(mocks)
            .build(),
    )
}

/// When each attempt is sent (an interceptor's view of the wire).
#[derive(Debug, Clone, Default)]
struct Arrivals(std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>);

impl aws_sdk_guardduty::config::Intercept for Arrivals {
    fn name(&self) -> &'static str {
        "Arrivals"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_guardduty::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_guardduty::config::RuntimeComponents,
        _cfg: &mut aws_sdk_guardduty::config::ConfigBag,
    ) -> Result<(), aws_sdk_guardduty::error::BoxError> {
        self.0
            .lock()
            .expect("arrivals")
            .push(std::time::Instant::now());
        Ok(())
    }
}

/// What one call did: when each attempt was sent, the waits the SDK asked for, and those it
/// waited out.
struct Attempts {
    sent: Vec<std::time::Instant>,
    asked: Vec<Duration>,
    waited: Vec<Duration>,
}

/// One ListDetectors that GuardDuty answers with 500 every time.
async fn failing_call(region: &str) -> Attempts {
    let rule = mock!(aws_sdk_guardduty::Client::list_detectors)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let sleep = RecordingSleep::default();
    let arrivals = Arrivals::default();
    let client = production_guardduty(region, sleep.clone(), &rule).await;
    let result = client
        .list_detectors()
        .customize()
        .interceptor(arrivals.clone())
        .send()
        .await;
    assert!(result.is_err(), "500 every time must fail");
    let sent = arrivals.0.lock().expect("arrivals").clone();
    let asked = sleep.asked.lock().expect("sleeps").clone();
    let waited = sleep.waited.lock().expect("sleeps").clone();
    Attempts {
        sent,
        asked,
        waited,
    }
}

#[tokio::test]
async fn a_failing_call_is_tried_as_often_and_waits_as_long_as_the_docs_say() {
    let docs = documented();
    // Ten calls at once: their own retry partition (the region names it), and enough draws of
    // the jitter that the largest wait of each retry shows the backoff's base.
    let runs = futures::future::join_all((0..10).map(|_| failing_call("eu-north-1"))).await;
    let mut largest = vec![Duration::ZERO; docs.attempts - 1];
    for run in &runs {
        assert_eq!(run.sent.len(), docs.attempts, "attempts of one call");
        // The SDK arms one operation timeout, and one attempt timeout per attempt.
        let armed = |d: Duration| run.asked.iter().filter(|s| **s == d).count();
        assert_eq!(armed(docs.operation_timeout), 1, "{:?}", run.asked);
        assert_eq!(
            armed(docs.attempt_timeout),
            docs.attempts,
            "{:?}",
            run.asked
        );
        // The waits between attempts: one before each retry.
        assert_eq!(run.waited.len(), docs.attempts - 1, "{:?}", run.waited);
        for (retry, backoff) in run.waited.iter().enumerate() {
            // Full jitter: a draw between zero and base x 2^retry, capped.
            let bound = (docs.initial_backoff * 2u32.pow(retry as u32)).min(docs.max_backoff);
            assert!(
                *backoff <= bound,
                "retry {}: waited {backoff:?}, more than {bound:?}",
                retry + 1
            );
            let between = run.sent[retry + 1] - run.sent[retry];
            assert!(
                between >= *backoff,
                "retry {}: sent {between:?} after the attempt before it, within its wait of {backoff:?}",
                retry + 1
            );
            largest[retry] = largest[retry].max(*backoff);
        }
    }
    for (retry, wait) in largest.iter().enumerate() {
        // Each draw is uniform: ten all under a quarter of the bound happen once in a million.
        let bound = (docs.initial_backoff * 2u32.pow(retry as u32)).min(docs.max_backoff);
        assert!(
            *wait > bound / 4,
            "retry {}: the longest of ten waits is {wait:?}, the backoff's base is not {:?}",
            retry + 1,
            docs.initial_backoff
        );
    }
    // The cap is not reached in so few attempts; the policy must still carry the documented one.
    assert_eq!(retry_config().max_backoff(), docs.max_backoff);
}
