//! The deployment template (`template.yaml`) held to the code: the function's environment is
//! exactly the variables the code reads, its role grants the AWS actions the code calls and
//! little else, and the EventBridge rules invoke it for the account-creation samples in
//! `events/` and for nothing else there.
//!
//! The YAML is read by cfn-lint's own decoder (`testsupport/template_json.py`, run with the
//! Python of `GUARDDUTY_INVITE_PYTHON`, default `.venv/bin/python` made by `scripts/setup-venv`),
//! so `!Ref`, `!GetAtt`, `!If` ... arrive in their long JSON form.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use guardduty_invite::aws::IAM_ACTIONS;
use guardduty_invite::config::{Config, FUNCTION_VARIABLES, SNS_TOPIC_ARN};
use serde_json::{json, Value};

/// Actions the role needs beyond the code's own calls: Lambda writes the logs and sends failed
/// events to the on-failure destination with the function's role, and SNS needs a publisher's
/// KMS permissions when the topic is encrypted with a customer managed key.
const LOG_ACTIONS: &[&str] = &["logs:CreateLogStream", "logs:PutLogEvents"];
const DESTINATION_ACTIONS: &[&str] = &["sqs:SendMessage"];
const TOPIC_KEY_ACTIONS: &[&str] = &["kms:GenerateDataKey", "kms:Decrypt"];

/// The samples a rule must match; every other file in `events/` must match no rule.
const SAMPLES_TO_MATCH: &[&str] = &[
    "organizations-create-account-result-succeeded.json",
    "controltower-create-managed-account.json",
    "controltower-update-managed-account.json",
];

// ------------------------------------------------------------------ loading

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(load_template)
}

fn load_template() -> Value {
    let python = std::env::var_os("GUARDDUTY_INVITE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    let output = Command::new(&python)
        .arg(repo().join("testsupport/template_json.py"))
        .arg(repo().join("template.yaml"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run scripts/setup-venv to create the venv with cfn-lint, \
                 or set GUARDDUTY_INVITE_PYTHON to a Python that has it",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "testsupport/template_json.py template.yaml failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("template_json.py prints JSON")
}

fn resources() -> &'static serde_json::Map<String, Value> {
    template()["Resources"]
        .as_object()
        .expect("Resources is a mapping")
}

fn resources_of_type(kind: &str) -> Vec<(&'static str, &'static Value)> {
    resources()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(n, r)| (n.as_str(), r))
        .collect()
}

fn resource(name: &str) -> &'static Value {
    resources()
        .get(name)
        .unwrap_or_else(|| panic!("no resource {name}"))
}

/// The one Lambda function: (logical id, Properties).
fn function() -> (&'static str, &'static Value) {
    let functions = resources_of_type("AWS::Serverless::Function");
    assert_eq!(functions.len(), 1, "expected one AWS::Serverless::Function");
    (functions[0].0, &functions[0].1["Properties"])
}

fn environment() -> &'static serde_json::Map<String, Value> {
    function().1["Environment"]["Variables"]
        .as_object()
        .expect("Environment.Variables is a mapping")
}

/// The logical id in `{"Fn::GetAtt": [id, attribute]}`.
fn get_att<'a>(value: &'a Value, attribute: &str) -> Option<&'a str> {
    let parts = value.get("Fn::GetAtt")?.as_array()?;
    (parts.len() == 2 && parts[1] == attribute)
        .then(|| parts[0].as_str())
        .flatten()
}

/// The name in `{"Ref": name}`.
fn reference(value: &Value) -> Option<&str> {
    value.get("Ref")?.as_str()
}

/// The values a property can take: both branches of `Fn::If`, none for `AWS::NoValue`, and the
/// elements of a list (each expanded the same way).
fn alternatives(value: &Value) -> Vec<&Value> {
    if let Some([_, yes, no]) = value
        .get("Fn::If")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return [alternatives(yes), alternatives(no)].concat();
    }
    if reference(value) == Some("AWS::NoValue") {
        return vec![];
    }
    match value {
        Value::Array(items) => items.iter().flat_map(alternatives).collect(),
        other => vec![other],
    }
}

fn strings(value: &Value) -> Vec<String> {
    alternatives(value)
        .into_iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string: {v}"))
                .to_owned()
        })
        .collect()
}

// ------------------------------------------------------------------ IAM

struct Statement {
    sid: String,
    actions: Vec<String>,
    resources: Vec<Value>,
    condition: Value,
}

/// The Allow statements of every policy attached to the function's role, which must have no
/// managed policies (they would grant beyond what is checked here).
fn role_statements() -> Vec<Statement> {
    let (_, function) = function();
    assert!(
        function.get("Policies").is_none(),
        "the function must use its own role, not SAM's Policies"
    );
    let role_name = get_att(&function["Role"], "Arn").expect("Role is !GetAtt <role>.Arn");
    let role = resource(role_name);
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert!(
        role["Properties"].get("ManagedPolicyArns").is_none(),
        "the role must have no managed policies"
    );

    let mut documents: Vec<&Value> = alternatives(&role["Properties"]["Policies"])
        .into_iter()
        .map(|p| &p["PolicyDocument"])
        .collect();
    for kind in [
        "AWS::IAM::Policy",
        "AWS::IAM::RolePolicy",
        "AWS::IAM::ManagedPolicy",
    ] {
        for (_, policy) in resources_of_type(kind) {
            let props = &policy["Properties"];
            let roles = [
                alternatives(&props["Roles"]),
                alternatives(&props["RoleName"]),
            ]
            .concat();
            if roles.iter().any(|r| reference(r) == Some(role_name)) {
                documents.push(&props["PolicyDocument"]);
            }
        }
    }

    let mut statements = Vec::new();
    for document in documents {
        for s in alternatives(&document["Statement"]) {
            assert!(
                s.get("NotAction").is_none() && s.get("NotResource").is_none(),
                "NotAction/NotResource in {s}"
            );
            if s["Effect"] != "Allow" {
                continue;
            }
            statements.push(Statement {
                sid: s["Sid"].as_str().unwrap_or("(no Sid)").to_owned(),
                actions: strings(&s["Action"]),
                resources: alternatives(&s["Resource"]).into_iter().cloned().collect(),
                condition: s.get("Condition").cloned().unwrap_or(Value::Null),
            });
        }
    }
    assert!(!statements.is_empty(), "the function's role grants nothing");
    statements
}

fn granted_actions() -> BTreeSet<String> {
    role_statements()
        .into_iter()
        .flat_map(|s| s.actions)
        .collect()
}

fn statements_granting(action: &str) -> Vec<Statement> {
    role_statements()
        .into_iter()
        .filter(|s| s.actions.iter().any(|a| a == action))
        .collect()
}

/// Every object that looks like a policy statement, anywhere in the template.
fn all_policy_statements<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("Effect")
                && (map.contains_key("Action") || map.contains_key("NotAction"))
            {
                out.push(value);
            }
            map.values().for_each(|v| all_policy_statements(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| all_policy_statements(v, out)),
        _ => {}
    }
}

// ------------------------------------------------------------------ EventBridge

/// EventBridge matching for the subset the rules use: a pattern is an object whose leaves are
/// arrays of exact values; an event field matches when it (or, for an array field, one of its
/// elements) equals one of them. Anything fancier (prefix, anything-but, ...) is refused, so a
/// pattern this helper cannot judge fails the test rather than passing by accident.
fn pattern_matches(pattern: &Value, event: &Value) -> bool {
    let pattern = pattern
        .as_object()
        .unwrap_or_else(|| panic!("pattern must be an object: {pattern}"));
    pattern.iter().all(|(key, expected)| {
        let Some(actual) = event.get(key) else {
            return false;
        };
        match expected {
            Value::Object(_) => pattern_matches(expected, actual),
            Value::Array(values) => {
                assert!(
                    values.iter().all(|v| !v.is_object() && !v.is_array()),
                    "unsupported pattern operator in {expected}"
                );
                let actuals: Vec<&Value> = actual
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_else(|| vec![actual]);
                actuals.iter().any(|a| values.contains(a))
            }
            other => panic!("pattern leaves must be arrays, found {other} at {key}"),
        }
    })
}

/// Rules that invoke the function: (logical id, Properties).
fn function_rules() -> Vec<(&'static str, &'static Value)> {
    let (function_name, _) = function();
    let rules: Vec<_> = resources_of_type("AWS::Events::Rule")
        .into_iter()
        .filter(|(_, r)| {
            alternatives(&r["Properties"]["Targets"])
                .iter()
                .any(|t| get_att(&t["Arn"], "Arn") == Some(function_name))
        })
        .map(|(n, r)| (n, &r["Properties"]))
        .collect();
    assert!(
        !rules.is_empty(),
        "no AWS::Events::Rule targets the function"
    );
    rules
}

fn samples() -> Vec<(String, Value)> {
    let mut samples: Vec<(String, Value)> = std::fs::read_dir(repo().join("events"))
        .expect("events/ exists")
        .map(|e| e.expect("read events/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let event =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), event)
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    for name in SAMPLES_TO_MATCH {
        assert!(
            samples.iter().any(|(n, _)| n == name),
            "events/{name} is missing"
        );
    }
    samples
}

fn rules_matching(event: &Value) -> Vec<&'static str> {
    function_rules()
        .into_iter()
        .filter(|(_, r)| pattern_matches(&r["EventPattern"], event))
        .map(|(n, _)| n)
        .collect()
}

// ------------------------------------------------------------------ environment

#[test]
fn environment_sets_every_variable_the_code_reads() {
    let missing: Vec<&str> = FUNCTION_VARIABLES
        .iter()
        .copied()
        .filter(|v| !environment().contains_key(*v))
        .collect();
    assert!(
        missing.is_empty(),
        "template.yaml does not set {missing:?} (config::FUNCTION_VARIABLES)"
    );
}

#[test]
fn environment_sets_no_variable_the_code_does_not_read() {
    let unknown: Vec<&String> = environment()
        .keys()
        .filter(|k| !FUNCTION_VARIABLES.contains(&k.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "template.yaml sets {unknown:?}, which the code does not read (config::FUNCTION_VARIABLES)"
    );
}

#[test]
fn parameter_defaults_configure_the_function_as_the_codes_defaults_do() {
    // Every variable but the topic comes straight from a parameter; with the parameters'
    // defaults the code must start and behave as with the variables unset.
    let parameters = &template()["Parameters"];
    let topic = "arn:aws:sns:us-east-1:123456789012:guardduty-invite";
    let lookup_defaults = |name: &str| -> Option<String> {
        match name {
            "AWS_REGION" => Some("us-east-1".into()),
            SNS_TOPIC_ARN => Some(topic.into()),
            _ => {
                let parameter = reference(environment().get(name)?)
                    .unwrap_or_else(|| panic!("{name} is not !Ref <parameter>"));
                let default = &parameters[parameter]["Default"];
                Some(
                    default
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| default.to_string()),
                )
            }
        }
    };
    let unset = |name: &str| match name {
        "AWS_REGION" => Some("us-east-1".to_owned()),
        SNS_TOPIC_ARN => Some(topic.to_owned()),
        _ => None,
    };
    let with_defaults = Config::from_lookup(lookup_defaults)
        .expect("the parameter defaults are a valid configuration");
    let code_defaults = Config::from_lookup(unset).expect("the code's defaults");
    assert_eq!(
        format!("{with_defaults:?}"),
        format!("{code_defaults:?}"),
        "the template's parameter defaults configure the function differently from the code's defaults \
         (e.g. InviteMessageTemplate must equal template::DEFAULT_TEMPLATE)"
    );
}

// ------------------------------------------------------------------ IAM

#[test]
fn role_grants_every_action_the_code_calls() {
    let granted = granted_actions();
    let missing: Vec<&str> = IAM_ACTIONS
        .iter()
        .copied()
        .filter(|a| !granted.contains(*a))
        .collect();
    assert!(
        missing.is_empty(),
        "the function's role does not grant {missing:?} (aws::IAM_ACTIONS)"
    );
}

#[test]
fn role_grants_nothing_beyond_the_code_its_logs_its_failure_queue_and_the_topic_key() {
    let allowed: BTreeSet<&str> = [
        IAM_ACTIONS,
        LOG_ACTIONS,
        DESTINATION_ACTIONS,
        TOPIC_KEY_ACTIONS,
    ]
    .concat()
    .into_iter()
    .collect();
    let extra: Vec<String> = granted_actions()
        .into_iter()
        .filter(|a| !allowed.contains(a.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "the function's role grants {extra:?}, which the code does not call (aws::IAM_ACTIONS)"
    );
}

#[test]
fn no_policy_statement_has_a_wildcard_action() {
    let mut statements = Vec::new();
    all_policy_statements(template(), &mut statements);
    assert!(!statements.is_empty());
    for s in statements {
        for action in [
            strings(&s["Action"]),
            s.get("NotAction").map(strings).unwrap_or_default(),
        ]
        .concat()
        {
            assert!(
                action != "*" && !action.ends_with(":*"),
                "wildcard action {action:?} in {s}"
            );
        }
    }
}

#[test]
fn only_list_detectors_is_granted_on_every_resource() {
    for s in role_statements() {
        if s.resources.iter().any(|r| r == "*") {
            assert_eq!(
                s.actions,
                ["guardduty:ListDetectors"],
                "statement {} grants on Resource \"*\"",
                s.sid
            );
        }
    }
}

#[test]
fn guardduty_actions_are_limited_to_this_accounts_detectors_in_the_configured_regions() {
    for action in IAM_ACTIONS.iter().filter(|a| a.starts_with("guardduty:")) {
        for s in statements_granting(action) {
            assert!(
                !s.condition["StringEquals"]["aws:RequestedRegion"].is_null(),
                "{}: no aws:RequestedRegion condition",
                s.sid
            );
            if *action == "guardduty:ListDetectors" {
                continue;
            }
            for r in &s.resources {
                let arn = r["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: resource {r} is not a !Sub ARN", s.sid));
                assert!(
                    arn.starts_with("arn:${AWS::Partition}:guardduty:")
                        && arn.ends_with(":${AWS::AccountId}:detector/*"),
                    "{}: {arn} is not this account's detectors",
                    s.sid
                );
            }
        }
    }
}

#[test]
fn publish_is_limited_to_the_topic_the_function_is_configured_with() {
    let topic = &environment()[SNS_TOPIC_ARN];
    for s in statements_granting("sns:Publish") {
        assert_eq!(
            s.resources,
            alternatives(topic).into_iter().cloned().collect::<Vec<_>>(),
            "{}",
            s.sid
        );
    }
}

#[test]
fn logs_queue_and_key_permissions_are_limited_to_the_stacks_own_resources() {
    let (_, function) = function();
    let log_group = reference(&function["LoggingConfig"]["LogGroup"])
        .expect("LoggingConfig.LogGroup is !Ref <log group>");
    let queue = get_att(
        &function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"],
        "Arn",
    )
    .expect("the on-failure destination is !GetAtt <queue>.Arn");
    let only = |actions: &[&str], expected: &Value| {
        for action in actions {
            for s in statements_granting(action) {
                assert_eq!(
                    s.resources,
                    std::slice::from_ref(expected),
                    "{}: {action}",
                    s.sid
                );
            }
        }
    };
    only(LOG_ACTIONS, &json!({"Fn::GetAtt": [log_group, "Arn"]}));
    only(DESTINATION_ACTIONS, &json!({"Fn::GetAtt": [queue, "Arn"]}));
    for action in TOPIC_KEY_ACTIONS {
        for s in statements_granting(action) {
            for r in &s.resources {
                let key = get_att(r, "Arn")
                    .unwrap_or_else(|| panic!("{}: {r} is not !GetAtt <key>.Arn", s.sid));
                assert_eq!(resource(key)["Type"], "AWS::KMS::Key");
            }
            assert!(
                !s.condition["StringEquals"]["kms:ViaService"].is_null(),
                "{}: the key must be usable through SNS only",
                s.sid
            );
        }
    }
}

// ------------------------------------------------------------------ triggers

#[test]
fn rules_invoke_the_function_for_each_successful_account_creation() {
    for (name, event) in samples() {
        if SAMPLES_TO_MATCH.contains(&name.as_str()) {
            assert_eq!(
                rules_matching(&event).len(),
                1,
                "events/{name} must match exactly one rule"
            );
        }
    }
}

#[test]
fn rules_ignore_failed_creations_api_calls_and_manual_requests() {
    for (name, event) in samples() {
        if !SAMPLES_TO_MATCH.contains(&name.as_str()) {
            assert_eq!(
                rules_matching(&event),
                Vec::<&str>::new(),
                "events/{name} must not invoke the function"
            );
        }
    }
}

#[test]
fn rules_ignore_in_progress_creations_and_other_services() {
    let mut in_progress = samples()
        .into_iter()
        .find(|(n, _)| n == SAMPLES_TO_MATCH[0])
        .unwrap()
        .1;
    in_progress["detail"]["serviceEventDetails"]["createAccountStatus"]["state"] =
        json!("IN_PROGRESS");
    assert!(
        rules_matching(&in_progress).is_empty(),
        "an IN_PROGRESS CreateAccountResult must not invoke the function"
    );
    for (name, mut event) in samples()
        .into_iter()
        .filter(|(n, _)| SAMPLES_TO_MATCH.contains(&n.as_str()))
    {
        event["source"] = json!("security.manual");
        assert!(
            rules_matching(&event).is_empty(),
            "events/{name} from another source must not invoke the function"
        );
    }
}

#[test]
fn every_rule_is_on_the_default_bus_with_a_dead_letter_queue_and_its_own_permission() {
    let (function_name, _) = function();
    let permissions = resources_of_type("AWS::Lambda::Permission");
    for (rule, props) in function_rules() {
        let bus = props.get("EventBusName");
        assert!(
            bus.is_none() || bus == Some(&json!("default")),
            "{rule}: not on the default bus"
        );
        for target in alternatives(&props["Targets"]) {
            assert!(
                get_att(&target["DeadLetterConfig"]["Arn"], "Arn").is_some(),
                "{rule}: target without a dead-letter queue"
            );
        }
        let allowed = permissions.iter().any(|(_, p)| {
            let p = &p["Properties"];
            p["Principal"] == "events.amazonaws.com"
                && p["Action"] == "lambda:InvokeFunction"
                && get_att(&p["SourceArn"], "Arn") == Some(rule)
                && (get_att(&p["FunctionName"], "Arn") == Some(function_name)
                    || reference(&p["FunctionName"]) == Some(function_name))
        });
        assert!(allowed, "{rule}: no AWS::Lambda::Permission for events.amazonaws.com with this rule as SourceArn");
    }
}

// ------------------------------------------------------------------ nothing lost

#[test]
fn failed_events_go_to_an_encrypted_queue_after_bounded_retries() {
    let config = &function().1["EventInvokeConfig"];
    let retries = config["MaximumRetryAttempts"]
        .as_u64()
        .expect("MaximumRetryAttempts");
    assert!(retries <= 2, "MaximumRetryAttempts {retries}");
    assert!(
        config["MaximumEventAgeInSeconds"]
            .as_u64()
            .is_some_and(|s| (60..=21600).contains(&s)),
        "MaximumEventAgeInSeconds"
    );
    let on_failure = &config["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    let queue = resource(
        get_att(&on_failure["Destination"], "Arn").expect("destination is !GetAtt <queue>.Arn"),
    );
    assert_eq!(queue["Type"], "AWS::SQS::Queue");
    let props = &queue["Properties"];
    assert!(
        props["SqsManagedSseEnabled"] == true || !props["KmsMasterKeyId"].is_null(),
        "the failure queue is not encrypted"
    );
}

#[test]
fn alarms_on_the_failure_queue_and_on_function_errors_notify_the_topic() {
    let (function_name, function) = function();
    let queue = get_att(
        &function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"],
        "Arn",
    )
    .unwrap();
    let topic = &environment()[SNS_TOPIC_ARN];
    let alarms = resources_of_type("AWS::CloudWatch::Alarm");
    let alarm_on = |namespace: &str, metric: &str, dimension: Value| {
        let found = alarms.iter().any(|(_, a)| {
            let p = &a["Properties"];
            p["Namespace"] == namespace
                && p["MetricName"] == metric
                && alternatives(&p["Dimensions"]).contains(&&dimension)
                && p["AlarmActions"] == json!([topic])
        });
        assert!(
            found,
            "no alarm on {namespace} {metric} {dimension} notifying the topic"
        );
    };
    alarm_on(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        json!({"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}),
    );
    alarm_on(
        "AWS/Lambda",
        "Errors",
        json!({"Name": "FunctionName", "Value": {"Ref": function_name}}),
    );
}

#[test]
fn topic_is_created_encrypted_unless_an_existing_one_is_given() {
    let topic = &environment()[SNS_TOPIC_ARN];
    let [condition, created, existing] = topic["Fn::If"]
        .as_array()
        .expect("SNS_TOPIC_ARN is !If")
        .as_slice()
    else {
        panic!("SNS_TOPIC_ARN: !If [condition, created, existing]")
    };
    let created = resource(reference(created).expect("created topic is !Ref <topic>"));
    assert_eq!(created["Type"], "AWS::SNS::Topic");
    assert_eq!(&created["Condition"], condition);
    assert!(
        !created["Properties"]["KmsMasterKeyId"].is_null(),
        "the created topic is not KMS-encrypted"
    );
    let parameter = reference(existing).expect("existing topic is !Ref <parameter>");
    assert_eq!(template()["Parameters"][parameter]["Default"], "");
    let policies = resources_of_type("AWS::SNS::TopicPolicy");
    assert!(policies
        .iter()
        .any(|(_, p)| alternatives(&p["Properties"]["Topics"])
            .iter()
            .any(|t| reference(t) == reference(&topic["Fn::If"][1]))));
}

#[test]
fn logs_go_to_a_log_group_with_retention_named_for_the_function() {
    let (_, function) = function();
    let log_group = resource(
        reference(&function["LoggingConfig"]["LogGroup"]).expect("LoggingConfig.LogGroup"),
    );
    let props = &log_group["Properties"];
    assert!(
        !props["RetentionInDays"].is_null(),
        "the log group has no retention"
    );
    let function_name = reference(&function["FunctionName"]).expect("FunctionName is !Ref <name>");
    assert_eq!(
        props["LogGroupName"],
        json!({"Fn::Sub": format!("/aws/lambda/${{{function_name}}}")})
    );
}
