//! The deployment template (`template.yaml`) held to the code: both functions' environment is
//! exactly the variables the code reads, their role grants the AWS actions the code calls and
//! little else, the EventBridge rules invoke the invite function for the account-creation
//! samples in `events/` and for nothing else there, the schedule hands the reconcile function
//! a reconcile request, and the dashboard shows only metrics the code writes.
//!
//! The YAML is read by cfn-lint's own decoder (`testsupport/template_json.py`, run with the
//! Python of `GUARDDUTY_INVITE_PYTHON`, default `.venv/bin/python` made by `scripts/setup-venv`),
//! so `!Ref`, `!GetAtt`, `!If` ... arrive in their long JSON form.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;
use support::repo;

use guardduty_invite::aws::{IAM_ACTIONS, MEMBER_ROLE_ACTIONS};
use guardduty_invite::config::{Config, FUNCTION_VARIABLES, SNS_TOPIC_ARN};
use guardduty_invite::metrics::{METRIC_NAMES, NAMESPACE};
use serde_json::{json, Value};

/// The two functions, from the same binary: account events (fail fast) and the reconcile of
/// the whole organization (minutes).
const INVITE_FUNCTION: &str = "InviteFunction";
const RECONCILE_FUNCTION: &str = "ReconcileFunction";

/// The event kind the reconcile function acts on (any source).
const RECONCILE_DETAIL_TYPE: &str = "GuardDuty Reconcile Request";

/// Actions granted on `Resource: "*"`, each because it has no resource type in the Service
/// Authorization Reference, so "*" is the only Resource IAM accepts for it.
const ACTIONS_WITHOUT_A_RESOURCE_TYPE: &[&str] = &[
    // GuardDuty's member calls act on the caller's own detector in the requested region
    // (narrowed by aws:RequestedRegion instead).
    "guardduty:ListDetectors",
    "guardduty:CreateMembers",
    "guardduty:GetMembers",
    "guardduty:InviteMembers",
    "guardduty:ListMembers",
    "guardduty:GetMemberDetectors",
    "guardduty:UpdateMemberDetectors",
    // Lists every account of the organization (the reconcile).
    "organizations:ListAccounts",
    // The organization's id and management account (the check).
    "organizations:DescribeOrganization",
];

/// The per-region metrics the dashboard must show.
const DASHBOARD_METRICS: &[&str] = &[
    "AccountsInvited",
    "AccountsAccepted",
    "Problems",
    "UnprotectedAccounts",
];

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

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(load_template)
}

fn load_template() -> Value {
    let python = support::python();
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

/// The Lambda functions: exactly the invite and the reconcile function, as (logical id,
/// Properties).
fn functions() -> Vec<(&'static str, &'static Value)> {
    let mut functions: Vec<_> = resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|(n, r)| (n, &r["Properties"]))
        .collect();
    functions.sort_by_key(|(n, _)| *n);
    let mut names: Vec<&str> = functions.iter().map(|(n, _)| *n).collect();
    names.sort();
    let mut expected = vec![INVITE_FUNCTION, RECONCILE_FUNCTION];
    expected.sort();
    assert_eq!(names, expected, "the AWS::Serverless::Function resources");
    functions
}

/// The function that answers account events: (logical id, Properties).
fn function() -> (&'static str, &'static Value) {
    (INVITE_FUNCTION, &resource(INVITE_FUNCTION)["Properties"])
}

fn reconcile_function() -> (&'static str, &'static Value) {
    (
        RECONCILE_FUNCTION,
        &resource(RECONCILE_FUNCTION)["Properties"],
    )
}

fn environment_of(function: &Value) -> &serde_json::Map<String, Value> {
    function["Environment"]["Variables"]
        .as_object()
        .expect("Environment.Variables is a mapping")
}

/// The invite function's environment (the reconcile function's is the same, tested below).
fn environment() -> &'static serde_json::Map<String, Value> {
    environment_of(function().1)
}

/// The definition of a CloudFormation condition.
fn condition(name: &str) -> &'static Value {
    let c = &template()["Conditions"][name];
    assert!(!c.is_null(), "no condition {name}");
    c
}

/// `{"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}`: the parameter is not empty.
fn not_empty(parameter: &str) -> Value {
    json!({"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]})
}

/// `{"Fn::If": [condition, value, {"Ref": "AWS::NoValue"}]}`: the value only under the condition.
fn only_if(condition: &str, value: Value) -> Value {
    json!({"Fn::If": [condition, value, {"Ref": "AWS::NoValue"}]})
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

/// Like [`alternatives`], with the `Fn::If` condition each value depends on: `(name, true)` for
/// the first branch, `(name, false)` for the second, `None` outside any `Fn::If`.
fn guarded_alternatives(value: &Value) -> Vec<(Option<(String, bool)>, &Value)> {
    fn walk<'a>(
        value: &'a Value,
        guard: &Option<(String, bool)>,
        out: &mut Vec<(Option<(String, bool)>, &'a Value)>,
    ) {
        if let Some([condition, yes, no]) = value
            .get("Fn::If")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            let name = condition
                .as_str()
                .expect("Fn::If condition name")
                .to_owned();
            walk(yes, &Some((name.clone(), true)), out);
            walk(no, &Some((name, false)), out);
        } else if reference(value) == Some("AWS::NoValue") {
        } else if let Value::Array(items) = value {
            items.iter().for_each(|v| walk(v, guard, out));
        } else {
            out.push((guard.clone(), value));
        }
    }
    let mut out = Vec::new();
    walk(value, &None, &mut out);
    out
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
    /// The template condition the statement is included under (`Fn::If`), if any.
    included_if: Option<(String, bool)>,
}

/// The one role both functions run with.
fn role_name() -> &'static str {
    let roles: BTreeSet<&str> = functions()
        .into_iter()
        .map(|(name, function)| {
            assert!(
                function.get("Policies").is_none(),
                "{name} must use the stack's role, not SAM's Policies"
            );
            get_att(&function["Role"], "Arn")
                .unwrap_or_else(|| panic!("{name}: Role is not !GetAtt <role>.Arn"))
        })
        .collect();
    assert_eq!(
        roles.len(),
        1,
        "both functions must use one role: {roles:?}"
    );
    roles.into_iter().next().unwrap()
}

/// The Allow statements of every policy attached to the functions' role, which must have no
/// managed policies (they would grant beyond what is checked here).
fn role_statements() -> Vec<Statement> {
    let role_name = role_name();
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
        for (included_if, s) in guarded_alternatives(&document["Statement"]) {
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
                included_if,
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

/// Rules that invoke a function: (logical id, the rule resource).
fn rules_targeting(function_name: &str) -> Vec<(&'static str, &'static Value)> {
    let rules: Vec<_> = resources_of_type("AWS::Events::Rule")
        .into_iter()
        .filter(|(_, r)| {
            alternatives(&r["Properties"]["Targets"])
                .iter()
                .any(|t| get_att(&t["Arn"], "Arn") == Some(function_name))
        })
        .collect();
    assert!(
        !rules.is_empty(),
        "no AWS::Events::Rule targets {function_name}"
    );
    rules
}

/// Rules that invoke the invite function: (logical id, Properties).
fn function_rules() -> Vec<(&'static str, &'static Value)> {
    rules_targeting(function().0)
        .into_iter()
        .map(|(n, r)| (n, &r["Properties"]))
        .collect()
}

fn samples() -> Vec<(String, Value)> {
    let samples = support::samples();
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
fn both_functions_have_the_same_environment() {
    let (_, reconcile) = reconcile_function();
    assert_eq!(
        environment_of(reconcile),
        environment(),
        "{RECONCILE_FUNCTION} and {INVITE_FUNCTION} must be configured alike"
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
        MEMBER_ROLE_ACTIONS,
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
fn only_actions_without_a_resource_type_are_granted_on_every_resource() {
    for s in role_statements() {
        if s.resources.iter().any(|r| r == "*") {
            let others: Vec<&String> = s
                .actions
                .iter()
                .filter(|a| !ACTIONS_WITHOUT_A_RESOURCE_TYPE.contains(&a.as_str()))
                .collect();
            assert!(
                others.is_empty(),
                "statement {} grants {others:?} on Resource \"*\"",
                s.sid
            );
        }
    }
}

#[test]
fn member_role_actions_are_granted_only_with_a_role_name_on_that_role_in_the_organization() {
    let granted = granted_actions();
    for action in MEMBER_ROLE_ACTIONS {
        assert!(
            granted.contains(*action),
            "{action} (aws::MEMBER_ROLE_ACTIONS) is not granted"
        );
    }
    // The role the code assumes is the one named by the parameter the grant uses.
    assert_eq!(
        environment()["MEMBER_ROLE_NAME"],
        json!({"Ref": "MemberRoleName"})
    );
    assert_eq!(template()["Parameters"]["MemberRoleName"]["Default"], "");
    let statements: Vec<Statement> = role_statements()
        .into_iter()
        .filter(|s| {
            s.actions
                .iter()
                .any(|a| MEMBER_ROLE_ACTIONS.contains(&a.as_str()))
        })
        .collect();
    assert!(!statements.is_empty());
    for s in statements {
        let Some((name, true)) = &s.included_if else {
            panic!(
                "{}: grants {:?} without a MemberRoleName condition",
                s.sid, s.actions
            )
        };
        assert_eq!(condition(name), &not_empty("MemberRoleName"), "{}", s.sid);
        assert!(
            s.actions
                .iter()
                .all(|a| MEMBER_ROLE_ACTIONS.contains(&a.as_str())),
            "{}: grants {:?} only when MemberRoleName is set",
            s.sid,
            s.actions
        );
        assert_eq!(
            s.resources,
            [json!({"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"})],
            "{}: that role name and no other",
            s.sid
        );
        assert_eq!(
            s.condition,
            json!({"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}),
            "{}: roles of accounts in the organization only",
            s.sid
        );
    }
}

#[test]
fn a_member_role_name_without_an_organization_id_is_refused_at_deployment() {
    let rules = template()["Rules"].as_object().expect("a Rules section");
    let refused = rules.values().any(|rule| {
        rule["RuleCondition"] == not_empty("MemberRoleName")
            && alternatives(&rule["Assertions"])
                .iter()
                .any(|a| a["Assert"] == not_empty("OrganizationId"))
    });
    assert!(
        refused,
        "no rule asserts OrganizationId is set whenever MemberRoleName is"
    );
    assert_eq!(
        template()["Parameters"]["OrganizationId"]["AllowedPattern"],
        "^$|^o-[a-z0-9]{10,32}$"
    );
}

#[test]
fn guardduty_actions_are_limited_to_this_accounts_detectors_in_the_configured_regions() {
    // The regions the function works in (GUARDDUTY_REGIONS, empty = the stack's region) are
    // exactly the regions the role may call GuardDuty in.
    assert_eq!(
        environment()["GUARDDUTY_REGIONS"],
        json!({"Ref": "GuardDutyRegions"})
    );
    assert_eq!(
        condition("HasGuardDutyRegions"),
        &not_empty("GuardDutyRegions")
    );
    let configured_regions = json!({"Fn::Split": [",", {"Fn::If": [
        "HasGuardDutyRegions", {"Ref": "GuardDutyRegions"}, {"Ref": "AWS::Region"}
    ]}]});
    for action in IAM_ACTIONS.iter().filter(|a| a.starts_with("guardduty:")) {
        for s in statements_granting(action) {
            assert_eq!(
                s.condition,
                json!({"StringEquals": {"aws:RequestedRegion": configured_regions}}),
                "{}: {action} must be limited to the configured regions",
                s.sid
            );
            if ACTIONS_WITHOUT_A_RESOURCE_TYPE.contains(action) {
                assert_eq!(
                    s.resources,
                    ["*"],
                    "{}: {action} has no resource type",
                    s.sid
                );
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
fn topic_actions_are_limited_to_the_topic_the_function_is_configured_with() {
    let topic = &environment()[SNS_TOPIC_ARN];
    for action in IAM_ACTIONS.iter().filter(|a| a.starts_with("sns:")) {
        for s in statements_granting(action) {
            assert_eq!(
                s.resources,
                alternatives(topic).into_iter().cloned().collect::<Vec<_>>(),
                "{}: {action}",
                s.sid
            );
        }
    }
}

/// The logical id of a function's log group (`LoggingConfig.LogGroup: !Ref <log group>`).
fn log_group_of(function: &Value) -> &str {
    reference(&function["LoggingConfig"]["LogGroup"])
        .expect("LoggingConfig.LogGroup is !Ref <log group>")
}

/// The logical id of a function's on-failure destination (`!GetAtt <queue>.Arn`).
fn failure_queue_of(function: &Value) -> &str {
    get_att(
        &function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"],
        "Arn",
    )
    .expect("the on-failure destination is !GetAtt <queue>.Arn")
}

#[test]
fn logs_queue_and_key_permissions_are_limited_to_the_stacks_own_resources() {
    let log_groups: BTreeSet<String> = functions()
        .into_iter()
        .map(|(_, f)| json!({"Fn::GetAtt": [log_group_of(f), "Arn"]}).to_string())
        .collect();
    assert_eq!(log_groups.len(), 2, "each function has its own log group");
    let queues: BTreeSet<String> = functions()
        .into_iter()
        .map(|(_, f)| json!({"Fn::GetAtt": [failure_queue_of(f), "Arn"]}).to_string())
        .collect();
    assert_eq!(queues.len(), 1, "both functions fail to the same queue");
    let only = |actions: &[&str], expected: &BTreeSet<String>| {
        for action in actions {
            for s in statements_granting(action) {
                assert_eq!(
                    &s.resources
                        .iter()
                        .map(Value::to_string)
                        .collect::<BTreeSet<_>>(),
                    expected,
                    "{}: {action}",
                    s.sid
                );
            }
        }
    };
    only(LOG_ACTIONS, &log_groups);
    only(DESTINATION_ACTIONS, &queues);
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
    let permissions = resources_of_type("AWS::Lambda::Permission");
    for (function_name, (rule, resource)) in functions()
        .into_iter()
        .flat_map(|(f, _)| rules_targeting(f).into_iter().map(move |r| (f, r)))
    {
        let props = &resource["Properties"];
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
            // A conditional rule's permission exists exactly when the rule does.
            let same_condition = p.get("Condition") == resource.get("Condition");
            let p = &p["Properties"];
            same_condition
                && p["Principal"] == "events.amazonaws.com"
                && p["Action"] == "lambda:InvokeFunction"
                && get_att(&p["SourceArn"], "Arn") == Some(rule)
                && (get_att(&p["FunctionName"], "Arn") == Some(function_name)
                    || reference(&p["FunctionName"]) == Some(function_name))
        });
        assert!(allowed, "{rule}: no AWS::Lambda::Permission for events.amazonaws.com with this rule as SourceArn");
    }
}

// ------------------------------------------------------------------ the reconcile

/// The rule that runs the reconcile: (logical id, the rule resource).
fn schedule_rule() -> (&'static str, &'static Value) {
    let rules = rules_targeting(RECONCILE_FUNCTION);
    assert_eq!(rules.len(), 1, "one rule invokes {RECONCILE_FUNCTION}");
    rules[0]
}

#[test]
fn reconcile_function_is_the_same_binary_and_role_with_a_longer_timeout() {
    let (_, invite) = function();
    let (_, reconcile) = reconcile_function();
    for property in ["CodeUri", "Runtime", "Handler", "Architectures", "Role"] {
        assert_eq!(
            reconcile[property], invite[property],
            "{RECONCILE_FUNCTION}.{property} differs from {INVITE_FUNCTION}'s"
        );
    }
    // sam build builds functions with equal Metadata (and code, runtime, architecture) once.
    assert_eq!(
        resource(RECONCILE_FUNCTION)["Metadata"],
        resource(INVITE_FUNCTION)["Metadata"],
        "both functions are built from the same binary, in one build"
    );
    let timeout = |f: &Value| f["Timeout"].as_u64().expect("Timeout is a number");
    assert!(
        timeout(invite) <= 60,
        "account events must fail fast so Lambda retries them: {INVITE_FUNCTION}.Timeout {}",
        timeout(invite)
    );
    assert!(
        timeout(reconcile) > timeout(invite) && timeout(reconcile) <= 900,
        "{RECONCILE_FUNCTION}.Timeout {} must be longer than {INVITE_FUNCTION}'s {} and at most Lambda's 900",
        timeout(reconcile),
        timeout(invite)
    );
    let retries = reconcile["EventInvokeConfig"]["MaximumRetryAttempts"]
        .as_u64()
        .expect("MaximumRetryAttempts");
    assert!(
        retries <= 1,
        "a failed reconcile is retried at most once (the next scheduled run is the retry): {retries}"
    );
}

#[test]
fn reserved_concurrency_is_conditional_so_zero_never_disables_a_function() {
    // ReservedConcurrentExecutions 0 would stop a function from running at all.
    assert_eq!(
        condition("HasReservedConcurrency"),
        &json!({"Fn::And": [not_empty("ReservedConcurrency"),
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, "0"]}]}]})
    );
    assert_eq!(
        function().1["ReservedConcurrentExecutions"],
        only_if(
            "HasReservedConcurrency",
            json!({"Ref": "ReservedConcurrency"})
        )
    );
    assert_eq!(
        reconcile_function().1["ReservedConcurrentExecutions"],
        only_if("HasReservedConcurrency", json!(1)),
        "one reconcile at a time"
    );
}

#[test]
fn reconcile_schedule_defaults_to_daily_and_is_off_when_empty() {
    let parameter = &template()["Parameters"]["ReconcileSchedule"];
    assert_eq!(parameter["Default"], "rate(1 day)");
    let (rule, resource) = schedule_rule();
    let props = &resource["Properties"];
    assert_eq!(
        props["ScheduleExpression"],
        json!({"Ref": "ReconcileSchedule"})
    );
    assert!(
        props.get("EventPattern").is_none(),
        "{rule}: a schedule only"
    );
    assert_eq!(props["State"], "ENABLED");
    let condition_name = resource["Condition"].as_str().unwrap_or_else(|| {
        panic!("{rule}: no Condition, so an empty ReconcileSchedule cannot turn it off")
    });
    assert_eq!(condition(condition_name), &not_empty("ReconcileSchedule"));
    // Everything that names the rule exists only with it: a resource under the same
    // condition, or the first branch of an Fn::If on it.
    for (name, other) in resources() {
        if name != rule && other.get("Condition") != Some(&json!(condition_name)) {
            assert!(
                !mentions_outside(other, rule, condition_name),
                "{name} names {rule} outside an Fn::If on {condition_name}"
            );
        }
    }
}

/// Whether `value` names the resource `id` (Ref, GetAtt, Sub) other than in the first branch
/// of an `Fn::If` on `condition`.
fn mentions_outside(value: &Value, id: &str, condition: &str) -> bool {
    match value {
        Value::Object(map) => match map.get("Fn::If").and_then(Value::as_array) {
            Some(branches) if branches.len() == 3 && branches[0] == condition => {
                mentions_outside(&branches[2], id, condition)
            }
            _ => map.values().any(|v| mentions_outside(v, id, condition)),
        },
        Value::Array(items) => items.iter().any(|v| mentions_outside(v, id, condition)),
        Value::String(s) => {
            s == id || s.contains(&format!("${{{id}}}")) || s.contains(&format!("${{{id}."))
        }
        _ => false,
    }
}

/// What EventBridge hands the target for `event` under an InputTransformer: each `<name>` of
/// the template replaced by the value at its path (`$.field` paths only); a string value in
/// quotes in the template is inserted as the string's content.
fn transform_input(transformer: &Value, event: &Value) -> String {
    let mut text = transformer["InputTemplate"]
        .as_str()
        .expect("InputTemplate is a string")
        .to_owned();
    let paths = transformer["InputPathsMap"]
        .as_object()
        .expect("InputPathsMap is a mapping");
    for (name, path) in paths {
        let field = path
            .as_str()
            .and_then(|p| p.strip_prefix("$."))
            .filter(|f| !f.contains('.') && !f.contains('['))
            .unwrap_or_else(|| panic!("unsupported InputPathsMap path {path}"));
        let value = &event[field];
        assert!(!value.is_null(), "the scheduled event has no {field}");
        let json = value.to_string();
        text = text.replace(&format!("\"<{name}>\""), &json);
        text = text.replace(&format!("<{name}>"), &json);
    }
    text
}

#[test]
fn the_schedule_hands_the_reconcile_function_a_reconcile_request() {
    // An EventBridge scheduled event, as the rule receives it.
    let scheduled = json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T03:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/guardduty-invite-ReconcileScheduleRule-1A2B3C"],
        "detail": {}
    });
    let (rule, resource) = schedule_rule();
    let targets = alternatives(&resource["Properties"]["Targets"]);
    assert_eq!(targets.len(), 1, "{rule}: one target");
    let target = targets[0];
    assert!(
        target.get("Input").is_none() && target.get("InputPath").is_none(),
        "{rule}: the target's input is shaped by an InputTransformer"
    );
    let text = transform_input(&target["InputTransformer"], &scheduled);
    let event: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{rule}: the transformed input is not JSON ({e}): {text}"));
    assert_eq!(event["detail-type"], RECONCILE_DETAIL_TYPE, "{text}");
    assert_eq!(event["source"], "guardduty-invite.schedule", "{text}");
    assert_eq!(
        event["detail"],
        json!({}),
        "a full run, not a dry run: {text}"
    );
    for kept in ["id", "time", "account", "region", "resources"] {
        assert_eq!(event[kept], scheduled[kept], "{kept} is kept: {text}");
    }
}

// ------------------------------------------------------------------ nothing lost

#[test]
fn failed_events_go_to_an_encrypted_queue_after_bounded_retries() {
    for (name, function) in functions() {
        let config = &function["EventInvokeConfig"];
        let retries = config["MaximumRetryAttempts"]
            .as_u64()
            .expect("MaximumRetryAttempts");
        assert!(retries <= 2, "{name}: MaximumRetryAttempts {retries}");
        assert!(
            config["MaximumEventAgeInSeconds"]
                .as_u64()
                .is_some_and(|s| (60..=21600).contains(&s)),
            "{name}: MaximumEventAgeInSeconds"
        );
        let on_failure = &config["DestinationConfig"]["OnFailure"];
        assert_eq!(on_failure["Type"], "SQS", "{name}");
        let queue = resource(failure_queue_of(function));
        assert_eq!(queue["Type"], "AWS::SQS::Queue");
        let props = &queue["Properties"];
        assert!(
            props["SqsManagedSseEnabled"] == true || !props["KmsMasterKeyId"].is_null(),
            "{name}: the failure queue is not encrypted"
        );
    }
}

#[test]
fn alarms_on_the_failure_queue_and_on_function_errors_notify_the_topic() {
    let queue = failure_queue_of(function().1);
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
    for (function_name, _) in functions() {
        for metric in ["Errors", "DestinationDeliveryFailures"] {
            alarm_on(
                "AWS/Lambda",
                metric,
                json!({"Name": "FunctionName", "Value": {"Ref": function_name}}),
            );
        }
    }
}

#[test]
fn alarms_on_the_functions_metrics_name_metrics_the_code_writes() {
    for (name, alarm) in resources_of_type("AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        if p["Namespace"] == NAMESPACE {
            let metric = p["MetricName"].as_str().unwrap_or_default();
            assert!(METRIC_NAMES.contains(&metric), "{name}: {metric}");
        }
        for query in alternatives(&p["Metrics"]) {
            let Some(expression) = query["Expression"].as_str() else {
                continue;
            };
            if !expression.contains(NAMESPACE) {
                continue;
            }
            // SELECT <stat>(<metric>) FROM SCHEMA(<namespace>, ...)
            let metric = expression
                .split_once('(')
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(metric, _)| metric.trim())
                .unwrap_or_else(|| panic!("{name}: cannot read {expression}"));
            assert!(
                METRIC_NAMES.contains(&metric),
                "{name}: {metric} is not in metrics::METRIC_NAMES"
            );
        }
    }
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
    for (name, function) in functions() {
        let props = &resource(log_group_of(function))["Properties"];
        assert!(
            !props["RetentionInDays"].is_null(),
            "{name}: the log group has no retention"
        );
        // FunctionName is !Ref <name> or !Sub "...": the log group is /aws/lambda/ + that.
        let function_name = reference(&function["FunctionName"])
            .map(|n| format!("${{{n}}}"))
            .or_else(|| {
                function["FunctionName"]["Fn::Sub"]
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("{name}: FunctionName is neither !Ref nor !Sub"));
        assert_eq!(
            props["LogGroupName"],
            json!({"Fn::Sub": format!("/aws/lambda/{function_name}")}),
            "{name}"
        );
        // Encrypted with LogKmsKeyArn when one is given.
        assert_eq!(
            props["KmsKeyId"],
            only_if("HasLogKmsKey", json!({"Ref": "LogKmsKeyArn"})),
            "{name}"
        );
        assert_eq!(condition("HasLogKmsKey"), &not_empty("LogKmsKeyArn"));
    }
}

// ------------------------------------------------------------------ the dashboard

/// `Fn::Sub` text with each `${name}` replaced by `value(name)` and `${!literal}` by
/// `${literal}`, as CloudFormation renders it.
fn render_sub(text: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            out.push_str("${");
            rest = literal;
            continue;
        }
        let end = after.find('}').expect("an unterminated ${ in Fn::Sub");
        out.push_str(&value(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A sample for a `${...}` of the dashboard: a pseudo parameter or a resource (attribute).
fn sample_value(name: &str) -> String {
    match name {
        "AWS::Region" => "us-east-1".into(),
        "AWS::StackName" => "guardduty-invite".into(),
        "AWS::AccountId" => "123456789012".into(),
        "AWS::Partition" => "aws".into(),
        _ => {
            let id = name.split('.').next().unwrap();
            assert!(
                resources().contains_key(id),
                "${{{name}}} is not a resource of the template"
            );
            format!("sample-{}", name.replace('.', "-"))
        }
    }
}

/// The dashboard's body as CloudFormation renders it with [`sample_value`]s.
fn dashboard() -> Value {
    let dashboards = resources_of_type("AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one AWS::CloudWatch::Dashboard");
    let (name, dashboard) = dashboards[0];
    let condition_name = dashboard["Condition"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no Condition"));
    assert_eq!(
        condition(condition_name),
        &json!({"Fn::Equals": [{"Ref": "CreateDashboard"}, "true"]})
    );
    let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: DashboardBody is not !Sub text"));
    let text = render_sub(body, sample_value);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: the rendered DashboardBody is not JSON ({e}): {text}"))
}

/// Every GuardDutyInvite metric the dashboard names: in SEARCH expressions
/// (`{GuardDutyInvite,Region} MetricName="..."`) and in metric rows (`["GuardDutyInvite", name, ...]`).
fn dashboard_metric_names(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) if s.contains(&format!("{{{NAMESPACE},")) => {
            let parts: Vec<&str> = s.split("MetricName=\"").skip(1).collect();
            assert!(
                !parts.is_empty(),
                "a {NAMESPACE} search without a MetricName shows every metric: {s}"
            );
            for part in parts {
                out.insert(part.split('"').next().unwrap().to_owned());
            }
        }
        Value::Array(items) => {
            if items.first() == Some(&json!(NAMESPACE)) {
                out.insert(items[1].as_str().expect("a metric name").to_owned());
            }
            items.iter().for_each(|v| dashboard_metric_names(v, out));
        }
        Value::Object(map) => map.values().for_each(|v| dashboard_metric_names(v, out)),
        _ => {}
    }
}

/// The metric rows of every widget: `[namespace, metric, dimension, value, ..., {options}]`.
fn dashboard_metric_rows(dashboard: &Value) -> Vec<Vec<String>> {
    let array = |v: &Value| v.as_array().cloned().unwrap_or_default();
    array(&dashboard["widgets"])
        .iter()
        .flat_map(|w| array(&w["properties"]["metrics"]))
        .filter_map(|row| row.as_array().cloned())
        .map(|row| {
            row.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .collect()
}

#[test]
fn dashboard_shows_the_required_metrics_and_only_metrics_the_code_writes() {
    let mut names = BTreeSet::new();
    dashboard_metric_names(&dashboard(), &mut names);
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !METRIC_NAMES.contains(&n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard shows {unknown:?}, which the code does not write (metrics::METRIC_NAMES)"
    );
    let missing: Vec<&str> = DASHBOARD_METRICS
        .iter()
        .copied()
        .filter(|n| !names.contains(*n))
        .collect();
    assert!(missing.is_empty(), "the dashboard lacks {missing:?}");
    for required in DASHBOARD_METRICS {
        assert!(
            METRIC_NAMES.contains(required),
            "{required} is not in metrics::METRIC_NAMES"
        );
    }
}

#[test]
fn dashboard_shows_both_functions_and_the_failed_events_queue() {
    let rows = dashboard_metric_rows(&dashboard());
    let has = |row: &[&str]| {
        rows.iter()
            .any(|r| r.iter().map(String::as_str).eq(row.iter().copied()))
    };
    for (name, _) in functions() {
        for metric in ["Errors", "Throttles", "Duration"] {
            assert!(
                has(&["AWS/Lambda", metric, "FunctionName", &sample_value(name)]),
                "the dashboard lacks {metric} of {name}"
            );
        }
    }
    let queue = format!("{}.QueueName", failure_queue_of(function().1));
    assert!(
        has(&[
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            &sample_value(&queue)
        ]),
        "the dashboard lacks the failed-events queue"
    );
}

// ------------------------------------------------------------------ security scan

#[test]
fn every_checkov_suppression_gives_its_reason() {
    for (name, r) in resources() {
        let skips = r["Metadata"]["checkov"]["skip"].as_array();
        for skip in skips.into_iter().flatten() {
            let id = skip["id"].as_str().unwrap_or_default();
            assert!(
                id.starts_with("CKV_"),
                "{name}: a checkov skip without a check id: {skip}"
            );
            let comment = skip["comment"].as_str().unwrap_or_default();
            assert!(
                comment.split_whitespace().count() >= 5,
                "{name}: {id} is suppressed without a reason"
            );
        }
    }
}
