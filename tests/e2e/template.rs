//! The deployment templates held to the code.
//!
//! `template.yaml`: both functions' environment is exactly the variables the code reads, and
//! every value its parameters admit is one the code starts with; under every configuration
//! the role grants exactly the AWS actions the code calls (`aws::iam_actions`), "*" only for
//! actions without a resource type; the EventBridge rules invoke the invite function for the
//! account-creation samples in `events/`, the reconcile function for an account joining the
//! organization, and nothing for the other samples; the schedule hands the reconcile function
//! a reconcile request; the dashboard and alarms show only metrics the code writes.
//!
//! `deploy/member-role.yaml`: the member role grants exactly `aws::MEMBER_SIDE_ACTIONS` and
//! trusts only the functions' role. `deploy/forward-events.yaml`: the forwarding rule matches
//! exactly what the main template's rules match, and its role may only put events on the
//! administrator's bus.
//!
//! The YAML is read by cfn-lint's own decoder (`testsupport/template_json.py`, run with the
//! Python of `GUARDDUTY_INVITE_PYTHON`, default `.venv/bin/python` made by `scripts/setup-venv`),
//! so `!Ref`, `!GetAtt`, `!If` ... arrive in their long JSON form.

use crate::support::repo;

/// Every call the scenario makes is granted by the template (runs the binary on the emulator).
mod granted_equals_called;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::OnceLock;

use guardduty_invite::aws::{
    iam_actions, COVERAGE_ACTIONS, IAM_ACTIONS, MEMBER_ROLE_ACTIONS, MEMBER_SIDE_ACTIONS,
    PLAN_ACTIONS, POLICY_ACTIONS, RETRY_ACTIONS, SECURITY_HUB_ACTIONS,
};
use guardduty_invite::config::{
    Config, ConfigError, COVERAGE_BUCKET, FUNCTION_VARIABLES, SNS_TOPIC_ARN, STALE_INVITATION_DAYS,
};
use guardduty_invite::publish::metrics::{COMPLETED_METRIC, METRIC_NAMES, NAMESPACE};
use serde_json::{json, Map, Value};

const MAIN: &str = "template.yaml";
const MEMBER_ROLE: &str = "deploy/member-role.yaml";
const FORWARD: &str = "deploy/forward-events.yaml";

/// The two functions, from the same binary: account events (fail fast) and the reconcile of
/// the whole organization (minutes).
const INVITE_FUNCTION: &str = "InviteFunction";
const RECONCILE_FUNCTION: &str = "ReconcileFunction";

/// The event kind the reconcile function acts on (any source).
const RECONCILE_DETAIL_TYPE: &str = "GuardDuty Reconcile Request";

/// The per-region metrics the dashboard must show.
const DASHBOARD_METRICS: &[&str] = &[
    "AccountsInvited",
    "AccountsAccepted",
    "Problems",
    "UnprotectedAccounts",
    "ProtectedAccounts",
    "CoveragePercent",
    "Drift",
];

/// Actions the role needs beyond the code's own calls: Lambda writes the logs and sends failed
/// events to the on-failure destination with the function's role, and SNS and S3 need the
/// caller's KMS permissions for the stack key (the created topic, the coverage bucket).
const LOG_ACTIONS: &[&str] = &["logs:CreateLogStream", "logs:PutLogEvents"];
const DESTINATION_ACTIONS: &[&str] = &["sqs:SendMessage"];
const KEY_ACTIONS: &[&str] = &["kms:GenerateDataKey", "kms:Decrypt"];

/// The samples a rule must match, with the function that rule invokes; every other file in
/// `events/` must match no rule.
const SAMPLE_TARGETS: &[(&str, &str)] = &[
    (
        "organizations-create-account-result-succeeded.json",
        INVITE_FUNCTION,
    ),
    ("controltower-create-managed-account.json", INVITE_FUNCTION),
    ("controltower-update-managed-account.json", INVITE_FUNCTION),
    ("organizations-account-joined.json", RECONCILE_FUNCTION),
    // Delivered too: the path of joinedMethod is not documented, so the function skips it.
    (
        "organizations-account-joined-created.json",
        RECONCILE_FUNCTION,
    ),
];

/// What the tests substitute for the stack's pseudo parameters.
const ACCOUNT: &str = crate::support::ADMIN_ACCOUNT;
const REGION: &str = "us-east-1";
const STACK: &str = "guardduty-invite";

// ------------------------------------------------------------------ loading

/// The templates, read once by one run of `template_json.py`.
fn load(path: &str) -> &'static Value {
    static TEMPLATES: OnceLock<Value> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| template_json(&[MAIN, MEMBER_ROLE, FORWARD]));
    let t = &templates[path];
    assert!(t.is_object(), "not a template of the repository: {path}");
    t
}

/// `testsupport/template_json.py` with these arguments: its JSON output.
fn template_json(args: &[&str]) -> Value {
    let python = crate::support::python();
    let output = Command::new(&python)
        .arg(repo().join("testsupport/template_json.py"))
        .args(args)
        .current_dir(repo())
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
        "testsupport/template_json.py {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("template_json.py prints JSON")
}

/// The main template.
fn template() -> &'static Value {
    load(MAIN)
}

fn resources_in(t: &'static Value) -> &'static Map<String, Value> {
    t["Resources"].as_object().expect("Resources is a mapping")
}

fn resources() -> &'static Map<String, Value> {
    resources_in(template())
}

fn resources_of_type_in(t: &'static Value, kind: &str) -> Vec<(&'static str, &'static Value)> {
    resources_in(t)
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(n, r)| (n.as_str(), r))
        .collect()
}

fn resources_of_type(kind: &str) -> Vec<(&'static str, &'static Value)> {
    resources_of_type_in(template(), kind)
}

fn resource_in(t: &'static Value, name: &str) -> &'static Value {
    resources_in(t)
        .get(name)
        .unwrap_or_else(|| panic!("no resource {name}"))
}

fn resource(name: &str) -> &'static Value {
    resource_in(template(), name)
}

/// The one resource of a type: (logical id, resource).
fn only_resource_of_type(t: &'static Value, kind: &str) -> (&'static str, &'static Value) {
    let found = resources_of_type_in(t, kind);
    assert_eq!(found.len(), 1, "one {kind}: {found:?}");
    found[0]
}

fn parameter_in(t: &'static Value, name: &str) -> &'static Value {
    let p = &t["Parameters"][name];
    assert!(!p.is_null(), "no parameter {name}");
    p
}

fn parameter(name: &str) -> &'static Value {
    parameter_in(template(), name)
}

/// The Lambda functions: exactly the invite and the reconcile function, as (logical id,
/// Properties).
fn functions() -> Vec<(&'static str, &'static Value)> {
    let mut functions: Vec<_> = resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|(n, r)| (n, &r["Properties"]))
        .collect();
    functions.sort_by_key(|(n, _)| *n);
    let names: Vec<&str> = functions.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [INVITE_FUNCTION, RECONCILE_FUNCTION],
        "the AWS::Serverless::Function resources"
    );
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

fn environment_of(function: &Value) -> &Map<String, Value> {
    function["Environment"]["Variables"]
        .as_object()
        .expect("Environment.Variables is a mapping")
}

/// The invite function's environment (the reconcile function's is the same, tested below).
fn environment() -> &'static Map<String, Value> {
    environment_of(function().1)
}

/// The definition of a CloudFormation condition.
fn condition_in(t: &'static Value, name: &str) -> &'static Value {
    let c = &t["Conditions"][name];
    assert!(!c.is_null(), "no condition {name}");
    c
}

fn condition(name: &str) -> &'static Value {
    condition_in(template(), name)
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

/// The three parts of `{"Fn::If": [condition, then, else]}`.
fn fn_if(value: &Value) -> Option<(&str, &Value, &Value)> {
    match value.get("Fn::If")?.as_array()?.as_slice() {
        [c, yes, no] => Some((c.as_str()?, yes, no)),
        _ => None,
    }
}

/// The values a property can take: both branches of `Fn::If`, none for `AWS::NoValue`, and the
/// elements of a list (each expanded the same way).
fn alternatives(value: &Value) -> Vec<&Value> {
    if let Some((_, yes, no)) = fn_if(value) {
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
        if let Some((name, yes, no)) = fn_if(value) {
            walk(yes, &Some((name.to_owned(), true)), out);
            walk(no, &Some((name.to_owned(), false)), out);
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

// ------------------------------------------------------------------ evaluating a template

/// Parameter values by name.
type Params = BTreeMap<String, String>;

/// A parameter value or default as CloudFormation passes it on: a string.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Every parameter at its default ("" for a parameter without one).
fn defaults_of(t: &Value) -> Params {
    t["Parameters"]
        .as_object()
        .expect("Parameters")
        .iter()
        .map(|(name, p)| (name.clone(), scalar(&p["Default"]).unwrap_or_default()))
        .collect()
}

fn with(base: &Params, values: &[(&str, &str)]) -> Params {
    let mut p = base.clone();
    for (name, value) in values {
        assert!(p.contains_key(*name), "no parameter {name}");
        p.insert((*name).to_owned(), (*value).to_owned());
    }
    p
}

fn pseudo_parameter(name: &str) -> Option<&'static str> {
    match name {
        "AWS::Region" => Some(REGION),
        "AWS::AccountId" => Some(ACCOUNT),
        "AWS::Partition" => Some("aws"),
        "AWS::StackName" => Some(STACK),
        _ => None,
    }
}

/// A string operand of a condition or rule function: a literal, or `Ref` to a parameter or a
/// pseudo parameter.
fn operand(value: &Value, params: &Params) -> String {
    if let Some(name) = reference(value) {
        return params
            .get(name)
            .cloned()
            .or_else(|| pseudo_parameter(name).map(str::to_owned))
            .unwrap_or_else(|| panic!("Ref {name} is neither a parameter nor a pseudo parameter"));
    }
    scalar(value).unwrap_or_else(|| panic!("unsupported operand {value}"))
}

/// A condition (or rule assertion) under these parameter values: `Fn::Equals`, `Fn::Not`,
/// `Fn::And`, `Fn::Or` and `Condition`; anything else fails the test rather than guessing.
fn holds(t: &'static Value, expression: &Value, params: &Params) -> bool {
    let (function, args) = expression
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
        .unwrap_or_else(|| panic!("not a condition function: {expression}"));
    let list = || {
        args.as_array()
            .unwrap_or_else(|| panic!("{function}: {args}"))
    };
    match function.as_str() {
        "Fn::Equals" => operand(&list()[0], params) == operand(&list()[1], params),
        "Fn::Not" => !holds(t, &list()[0], params),
        "Fn::And" => list().iter().all(|c| holds(t, c, params)),
        "Fn::Or" => list().iter().any(|c| holds(t, c, params)),
        "Condition" => condition_holds(t, args.as_str().expect("condition name"), params),
        other => panic!("unsupported condition function {other}"),
    }
}

fn condition_holds(t: &'static Value, name: &str, params: &Params) -> bool {
    holds(t, condition_in(t, name), params)
}

/// `value` as CloudFormation renders it under these parameter values, as far as conditions
/// go: each `Fn::If` replaced by its branch, `AWS::NoValue` removed. `None`: no value.
fn resolve(t: &'static Value, value: &Value, params: &Params) -> Option<Value> {
    if let Some((name, yes, no)) = fn_if(value) {
        return resolve(
            t,
            if condition_holds(t, name, params) {
                yes
            } else {
                no
            },
            params,
        );
    }
    if reference(value) == Some("AWS::NoValue") {
        return None;
    }
    match value {
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| resolve(t, v, params).map(|r| (k.clone(), r)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|v| resolve(t, v, params)).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// The first rule of the `Rules` section that refuses these parameter values (its condition
/// holds and one of its assertions does not): CloudFormation refuses the deployment.
fn refusing_rule(t: &'static Value, params: &Params) -> Option<String> {
    let rules = t["Rules"].as_object()?;
    rules
        .iter()
        .find(|(_, rule)| {
            let applies = rule
                .get("RuleCondition")
                .is_none_or(|c| holds(t, c, params));
            applies
                && alternatives(&rule["Assertions"])
                    .iter()
                    .any(|a| !holds(t, &a["Assert"], params))
        })
        .map(|(name, _)| name.clone())
}

/// The parameters an expression depends on: `Ref`s to parameters, and the parameters of the
/// conditions its `Fn::If`s and `Condition`s name.
fn parameters_of(t: &'static Value, value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = reference(value) {
                if !t["Parameters"][name].is_null() {
                    out.insert(name.to_owned());
                }
            }
            if let Some((name, _, _)) = fn_if(value) {
                parameters_of(t, condition_in(t, name), out);
            }
            if let Some(name) = map.get("Condition").and_then(Value::as_str) {
                parameters_of(t, condition_in(t, name), out);
            }
            map.values().for_each(|v| parameters_of(t, v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| parameters_of(t, v, out)),
        _ => {}
    }
}

/// What a `Ref` to one of the main template's resources stands for in the environment.
fn sample_reference(id: &str) -> String {
    match resource(id)["Type"].as_str() {
        Some("AWS::SNS::Topic") => {
            format!("arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-{id}-1A2B3C4D5E6F")
        }
        Some("AWS::S3::Bucket") => format!("{STACK}-{}-1a2b3c4d5e6f", id.to_lowercase()),
        Some("AWS::Scheduler::ScheduleGroup") => format!("{STACK}-{id}-1A2B3C4D5E6F"),
        other => panic!("the environment names {id} ({other:?}): no sample for it"),
    }
}

/// The functions' environment under these parameter values, as the Lambda runtime gives it
/// (with `AWS_REGION`): each variable's `Fn::If` resolved, `Ref`s to parameters replaced by
/// their values and `Ref`s to resources by a sample of what they stand for.
fn environment_under(params: &Params) -> Vec<(String, String)> {
    let mut env = vec![("AWS_REGION".to_owned(), REGION.to_owned())];
    for (name, value) in environment() {
        let Some(value) = resolve(template(), value, params) else {
            continue;
        };
        let rendered = match reference(&value) {
            Some(r) => params
                .get(r)
                .cloned()
                .or_else(|| pseudo_parameter(r).map(str::to_owned))
                .unwrap_or_else(|| sample_reference(r)),
            None => scalar(&value)
                .or_else(|| intrinsic_sample(&value))
                .unwrap_or_else(|| panic!("{name}: unsupported value {value}")),
        };
        env.push((name.clone(), rendered));
    }
    env
}

/// What a role's `Fn::GetAtt` ARN, or an `Fn::Sub` of pseudo parameters only, stands for.
fn intrinsic_sample(value: &Value) -> Option<String> {
    if let Some([id, attribute]) = value
        .get("Fn::GetAtt")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        let id = id.as_str()?;
        return (attribute == "Arn" && resource(id)["Type"] == "AWS::IAM::Role")
            .then(|| format!("arn:aws:iam::{ACCOUNT}:role/{STACK}-{id}-1A2B3C4D5E6F"));
    }
    let mut out = value.get("Fn::Sub")?.as_str()?.to_owned();
    while let Some(start) = out.find("${") {
        let end = start + out[start..].find('}')?;
        out.replace_range(start..=end, pseudo_parameter(&out[start + 2..end])?);
    }
    Some(out)
}

/// The code's configuration from the environment these parameter values give.
fn config_under(params: &Params) -> Result<Config, ConfigError> {
    let env = environment_under(params);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Config::from_pairs(&pairs)
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

/// Every policy document attached to a role of a template: its inline policies and the
/// policy resources naming it. The role must have no managed policies (they would grant
/// beyond what is checked here).
fn policy_documents(t: &'static Value, role_name: &str) -> Vec<&'static Value> {
    let role = resource_in(t, role_name);
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert!(
        role["Properties"].get("ManagedPolicyArns").is_none(),
        "{role_name} must have no managed policies"
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
        for (_, policy) in resources_of_type_in(t, kind) {
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
    documents
}

/// The Allow statements of a role, in every branch of every `Fn::If`.
fn statements_of_role(t: &'static Value, role_name: &str) -> Vec<Statement> {
    let mut statements = Vec::new();
    for document in policy_documents(t, role_name) {
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
    assert!(!statements.is_empty(), "{role_name} grants nothing");
    statements
}

/// The Allow statements of the functions' role.
fn role_statements() -> Vec<Statement> {
    statements_of_role(template(), role_name())
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

/// The actions a role's Allow statements grant under these parameter values.
fn granted_actions_under(t: &'static Value, role_name: &str, params: &Params) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for document in policy_documents(t, role_name) {
        let statements = resolve(t, &document["Statement"], params).unwrap_or(Value::Null);
        let statements = match statements {
            Value::Array(items) => items,
            one => vec![one],
        };
        for s in statements.iter().filter(|s| s["Effect"] == "Allow") {
            actions.extend(strings(&s["Action"]));
        }
    }
    actions
}

/// Every object that looks like a policy statement, anywhere in a template.
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

/// The roles of the three templates whose permissions are identity policies: the functions'
/// role, the member role and the forwarding role, as (template, role).
fn identity_roles() -> Vec<(&'static Value, &'static str)> {
    vec![
        (template(), role_name()),
        (
            load(MEMBER_ROLE),
            only_resource_of_type(load(MEMBER_ROLE), "AWS::IAM::Role").0,
        ),
        (
            load(FORWARD),
            only_resource_of_type(load(FORWARD), "AWS::IAM::Role").0,
        ),
    ]
}

/// The resource types of every action the roles grant, from cfn-lint's copy of the Service
/// Authorization Reference: empty for an action without a resource type.
fn resource_types() -> &'static BTreeMap<String, Vec<String>> {
    static TYPES: OnceLock<BTreeMap<String, Vec<String>>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let actions: BTreeSet<String> = identity_roles()
            .into_iter()
            .flat_map(|(t, role)| statements_of_role(t, role))
            .flat_map(|s| s.actions)
            .collect();
        let mut args = vec!["--resource-types"];
        args.extend(actions.iter().map(String::as_str));
        let found = template_json(&args);
        actions
            .iter()
            .map(|a| {
                let types = found[a].as_array().unwrap_or_else(|| {
                    panic!("{a} is not in the Service Authorization Reference (cfn-lint's copy)")
                });
                let types = types
                    .iter()
                    .map(|t| t.as_str().unwrap_or_default().to_owned())
                    .collect();
                (a.clone(), types)
            })
            .collect()
    })
}

fn has_resource_type(action: &str) -> bool {
    !resource_types()[action].is_empty()
}

/// The region condition every GuardDuty statement of the functions' role carries: exactly the
/// configured regions (GUARDDUTY_REGIONS, empty = the stack's region).
fn configured_regions_condition() -> Value {
    json!({"StringEquals": {"aws:RequestedRegion": {"Fn::Split": [",", {"Fn::If": [
        "HasGuardDutyRegions", {"Ref": "GuardDutyRegions"}, {"Ref": "AWS::Region"}
    ]}]}}})
}

/// The parameters that change what the functions' role grants, with the values tried for
/// each: empty and set for the free-form ones, each allowed value for the others.
fn policy_parameter_values() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("MemberFeatures", vec!["", "S3_DATA_EVENTS"]),
        (
            "ProtectionPolicyParameter",
            vec!["", "/guardduty-invite/protection-policy"],
        ),
        ("SecurityHubFindings", vec!["false", "true"]),
        ("CoverageReports", vec!["true", "false"]),
        ("MemberRoleName", vec!["", "GuardDutyInviteMember"]),
        (
            "ExistingTopicArn",
            vec!["", "arn:aws:sns:us-east-1:123456789012:security-alerts"],
        ),
    ]
}

/// Every combination of [`policy_parameter_values`] over the defaults (with OrganizationId
/// when a member role is named, which the Rules require).
fn policy_configurations() -> Vec<Params> {
    let mut configurations = vec![defaults_of(template())];
    for (name, values) in policy_parameter_values() {
        configurations = configurations
            .iter()
            .flat_map(|p| values.iter().map(move |v| with(p, &[(name, v)])))
            .collect();
    }
    for p in &mut configurations {
        if !p["MemberRoleName"].is_empty() {
            p.insert("OrganizationId".into(), "o-exampleorg1".into());
        }
    }
    configurations
}

#[test]
fn role_grants_exactly_the_actions_the_code_calls_under_every_configuration() {
    let extras: BTreeSet<&str> = [LOG_ACTIONS, DESTINATION_ACTIONS, KEY_ACTIONS]
        .concat()
        .into_iter()
        .collect();
    let mut deployable = 0;
    for params in policy_configurations() {
        let both_plans =
            !params["MemberFeatures"].is_empty() && !params["ProtectionPolicyParameter"].is_empty();
        let refused = refusing_rule(template(), &params);
        if both_plans {
            assert!(
                refused.is_some(),
                "MemberFeatures with ProtectionPolicyParameter must be refused at deployment"
            );
            continue;
        }
        assert_eq!(refused, None, "{params:?}");
        let config = config_under(&params)
            .unwrap_or_else(|e| panic!("the function does not start with {params:?}: {e}"));
        let mut expected: BTreeSet<String> = iam_actions(&config)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if config.member_role.is_some() {
            expected.extend(MEMBER_ROLE_ACTIONS.iter().map(|a| (*a).to_owned()));
        }
        let granted: BTreeSet<String> = granted_actions_under(template(), role_name(), &params)
            .into_iter()
            .filter(|a| !extras.contains(a.as_str()))
            .collect();
        let missing: Vec<&String> = expected.difference(&granted).collect();
        let extra: Vec<&String> = granted.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "with {:?}: the role lacks {missing:?} and grants {extra:?} beyond aws::iam_actions",
            params
                .iter()
                .filter(|(k, _)| policy_parameter_values().iter().any(|(n, _)| n == k))
                .collect::<Vec<_>>()
        );
        deployable += 1;
    }
    // 2 x 2 x 2 x 2 x 2 x 2 combinations, less the 16 with both plans.
    assert_eq!(deployable, 48);
}

#[test]
fn the_configurations_tried_cover_every_parameter_the_roles_policy_depends_on() {
    // A conditional statement on a parameter outside policy_parameter_values would escape the
    // test above; so would a parameter feeding a condition of an included statement.
    let tried: BTreeSet<String> = policy_parameter_values()
        .into_iter()
        .map(|(n, _)| n.to_owned())
        .collect();
    for document in policy_documents(template(), role_name()) {
        for (guard, _) in guarded_alternatives(&document["Statement"]) {
            let Some((name, _)) = guard else { continue };
            let mut depends = BTreeSet::new();
            parameters_of(template(), condition(&name), &mut depends);
            let untried: Vec<&String> = depends.difference(&tried).collect();
            assert!(
                untried.is_empty(),
                "a statement under {name} depends on {untried:?}, which the configurations do not vary"
            );
        }
    }
}

#[test]
fn role_grants_every_action_the_code_calls_under_some_configuration() {
    let granted = granted_actions();
    let missing: Vec<&str> = [
        IAM_ACTIONS,
        PLAN_ACTIONS,
        POLICY_ACTIONS,
        SECURITY_HUB_ACTIONS,
        COVERAGE_ACTIONS,
        MEMBER_ROLE_ACTIONS,
        RETRY_ACTIONS,
    ]
    .concat()
    .into_iter()
    .filter(|a| !granted.contains(*a))
    .collect();
    assert!(
        missing.is_empty(),
        "the function's role never grants {missing:?} (aws)"
    );
}

#[test]
fn role_grants_nothing_beyond_the_code_its_logs_its_failure_queue_and_the_stack_key() {
    let allowed: BTreeSet<&str> = [
        IAM_ACTIONS,
        PLAN_ACTIONS,
        POLICY_ACTIONS,
        SECURITY_HUB_ACTIONS,
        COVERAGE_ACTIONS,
        MEMBER_ROLE_ACTIONS,
        RETRY_ACTIONS,
        LOG_ACTIONS,
        DESTINATION_ACTIONS,
        KEY_ACTIONS,
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
        "the function's role grants {extra:?}, which the code does not call (aws)"
    );
}

#[test]
fn no_policy_statement_allows_a_wildcard_action() {
    // A Deny may name every action of a service (the TLS-only statements do): it only narrows.
    for path in [MAIN, MEMBER_ROLE, FORWARD] {
        let mut statements = Vec::new();
        all_policy_statements(load(path), &mut statements);
        assert!(!statements.is_empty(), "{path}");
        for s in statements.into_iter().filter(|s| s["Effect"] == "Allow") {
            for action in [
                strings(&s["Action"]),
                s.get("NotAction").map(strings).unwrap_or_default(),
            ]
            .concat()
            {
                assert!(
                    action != "*" && !action.ends_with(":*"),
                    "{path}: wildcard action {action:?} in {s}"
                );
            }
        }
    }
}

#[test]
fn star_is_the_resource_exactly_of_the_actions_without_a_resource_type() {
    // An action without a resource type matches only Resource "*" (an ARN there would never
    // match, so the grant would silently deny); an action with one gets its resources named.
    for (t, role) in identity_roles() {
        for s in statements_of_role(t, role) {
            let star = s.resources.iter().any(|r| r == "*");
            if star {
                assert_eq!(s.resources.len(), 1, "{role} {}: \"*\" and ARNs", s.sid);
            }
            for action in &s.actions {
                assert_eq!(
                    star,
                    !has_resource_type(action),
                    "{role} {}: {action} has resource types {:?} but the statement's resources are {:?}",
                    s.sid,
                    resource_types()[action],
                    s.resources
                );
            }
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
    assert_eq!(parameter("MemberRoleName")["Default"], "");
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
fn the_member_role_parameter_points_to_the_member_role_template() {
    let description = parameter("MemberRoleName")["Description"]
        .as_str()
        .unwrap_or_default();
    let default_name = &parameter_in(load(MEMBER_ROLE), "RoleName")["Default"];
    assert_eq!(default_name, "GuardDutyInviteMember");
    for needed in [MEMBER_ROLE, "GuardDutyInviteMember"] {
        assert!(
            description.contains(needed),
            "MemberRoleName's description does not mention {needed}"
        );
    }
}

/// Whether some rule refuses a deployment with these values over the defaults.
fn refused(values: &[(&str, &str)]) -> bool {
    refusing_rule(template(), &with(&defaults_of(template()), values)).is_some()
}

#[test]
fn a_member_role_name_without_an_organization_id_is_refused_at_deployment() {
    assert!(refused(&[("MemberRoleName", "GuardDutyInviteMember")]));
    assert!(!refused(&[
        ("MemberRoleName", "GuardDutyInviteMember"),
        ("OrganizationId", "o-exampleorg1")
    ]));
    assert_eq!(
        parameter("OrganizationId")["AllowedPattern"],
        "^$|^o-[a-z0-9]{10,32}$"
    );
}

#[test]
fn a_protection_policy_with_member_features_is_refused_at_deployment() {
    let policy = ("ProtectionPolicyParameter", "/guardduty-invite/policy");
    assert!(refused(&[policy, ("MemberFeatures", "S3_DATA_EVENTS")]));
    assert!(!refused(&[policy]));
    assert!(!refused(&[("MemberFeatures", "S3_DATA_EVENTS")]));
}

#[test]
fn agent_settings_without_member_features_are_refused_at_deployment() {
    for agents in ["none", "EC2_AGENT_MANAGEMENT"] {
        assert!(refused(&[("MemberAgentManagement", agents)]), "{agents}");
        assert!(!refused(&[
            ("MemberAgentManagement", agents),
            ("MemberFeatures", "RUNTIME_MONITORING")
        ]));
    }
    // What Rules cannot see (no substring test) the description says.
    let description = parameter("MemberAgentManagement")["Description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains("CloudFormation cannot check"),
        "{description}"
    );
}

#[test]
fn guardduty_actions_are_limited_to_the_configured_regions_and_this_accounts_detectors() {
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
    let guardduty: Vec<&str> = [IAM_ACTIONS, PLAN_ACTIONS]
        .concat()
        .into_iter()
        .filter(|a| a.starts_with("guardduty:"))
        .collect();
    for action in guardduty {
        let statements = statements_granting(action);
        assert!(!statements.is_empty(), "{action} is not granted");
        for s in statements {
            assert_eq!(
                s.condition,
                configured_regions_condition(),
                "{}: {action} must be limited to the configured regions",
                s.sid
            );
            for r in s.resources.iter().filter(|r| *r != "*") {
                let arn = r["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: resource {r} is not a !Sub ARN", s.sid));
                assert_eq!(
                    arn, "arn:${AWS::Partition}:guardduty:*:${AWS::AccountId}:detector/*",
                    "{}: {arn} is not this account's detectors",
                    s.sid
                );
            }
        }
    }
}

#[test]
fn plan_and_optional_output_actions_are_granted_only_under_their_conditions() {
    // (group, the condition it is granted under, that condition's definition)
    let groups: [(&[&str], &str, Value); 4] = [
        (
            PLAN_ACTIONS,
            "HasPlan",
            json!({"Fn::Or": [{"Condition": "HasMemberFeatures"}, {"Condition": "HasPolicyParameter"}]}),
        ),
        (
            POLICY_ACTIONS,
            "HasPolicyParameter",
            not_empty("ProtectionPolicyParameter"),
        ),
        (
            SECURITY_HUB_ACTIONS,
            "HasSecurityHubFindings",
            json!({"Fn::Equals": [{"Ref": "SecurityHubFindings"}, "true"]}),
        ),
        (
            COVERAGE_ACTIONS,
            "HasCoverageReports",
            json!({"Fn::Equals": [{"Ref": "CoverageReports"}, "true"]}),
        ),
    ];
    assert_eq!(condition("HasMemberFeatures"), &not_empty("MemberFeatures"));
    for (group, name, definition) in groups {
        assert_eq!(condition(name), &definition, "{name}");
        for action in group {
            // An action of IAM_ACTIONS too (none today) would be granted unconditionally.
            if IAM_ACTIONS.contains(action) {
                continue;
            }
            for s in statements_granting(action) {
                assert_eq!(
                    s.included_if,
                    Some((name.to_owned(), true)),
                    "{}: {action} only under {name}",
                    s.sid
                );
            }
        }
    }
}

#[test]
fn optional_grants_name_exactly_their_resources() {
    let sub = |s: &str| json!({"Fn::Sub": s});
    let expect = |action: &str, resources: Vec<Value>| {
        for s in statements_granting(action) {
            assert_eq!(s.resources, resources, "{}: {action}", s.sid);
        }
    };
    // The protection policy's one parameter, in this account and region.
    assert_eq!(
        environment()["PROTECTION_POLICY_PARAMETER"],
        json!({"Ref": "ProtectionPolicyParameter"})
    );
    expect(
        "ssm:GetParameter",
        vec![sub(
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ProtectionPolicyParameter}",
        )],
    );
    // (The parameter name starts with "/", so the ARN is parameter/<path>.)
    assert!(parameter("ProtectionPolicyParameter")["AllowedPattern"]
        .as_str()
        .is_some_and(|p| p.contains("^(/")));
    // Security Hub: this account's default product; its hub.
    expect(
        "securityhub:BatchImportFindings",
        vec![sub(
            "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default",
        )],
    );
    expect(
        "securityhub:GetFindings",
        vec![sub(
            "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:hub/default",
        )],
    );
    // Coverage: under coverage/ of the stack's bucket, the one COVERAGE_BUCKET names.
    assert_eq!(
        environment()[COVERAGE_BUCKET],
        only_if("HasCoverageReports", json!({"Ref": "CoverageBucket"}))
    );
    expect(
        "s3:PutObject",
        vec![sub("${CoverageBucket.Arn}/coverage/*")],
    );
    // The report's trend: the daily summaries only, listed under their prefix only.
    expect(
        "s3:GetObject",
        vec![sub("${CoverageBucket.Arn}/coverage/summary/*")],
    );
    expect(
        "s3:ListBucket",
        vec![json!({"Fn::GetAtt": ["CoverageBucket", "Arn"]})],
    );
    for s in statements_granting("s3:ListBucket") {
        assert_eq!(
            s.condition,
            json!({"StringLike": {"s3:prefix": "coverage/summary/*"}}),
            "{}",
            s.sid
        );
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
    // The stack key, through SNS (the created topic) or S3 (the coverage bucket) only.
    for action in KEY_ACTIONS {
        for s in statements_granting(action) {
            for r in &s.resources {
                let key = get_att(r, "Arn")
                    .unwrap_or_else(|| panic!("{}: {r} is not !GetAtt <key>.Arn", s.sid));
                assert_eq!(resource(key)["Type"], "AWS::KMS::Key");
            }
            let via = &s.condition["StringEquals"]["kms:ViaService"]["Fn::Sub"];
            let (guard, service) = match via.as_str() {
                Some("sns.${AWS::Region}.amazonaws.com") => ("CreateTopic", "SNS"),
                Some("s3.${AWS::Region}.amazonaws.com") => ("HasCoverageReports", "S3"),
                _ => panic!("{}: the key must be usable through SNS or S3 only", s.sid),
            };
            assert_eq!(
                s.included_if,
                Some((guard.to_owned(), true)),
                "{}: the key through {service} only with what uses it",
                s.sid
            );
        }
    }
}

// ------------------------------------------------------------------ EventBridge

/// EventBridge matching for the subset the rules use: a pattern is an object whose leaves are
/// arrays of exact values; an event field matches when it (or, for an array field, one of its
/// elements) equals one of them; `$or` holds a list of patterns, one of which must match.
/// Anything fancier (prefix, anything-but, ...) is refused, so a pattern this helper cannot
/// judge fails the test rather than passing by accident.
fn pattern_matches(pattern: &Value, event: &Value) -> bool {
    let pattern = pattern
        .as_object()
        .unwrap_or_else(|| panic!("pattern must be an object: {pattern}"));
    pattern.iter().all(|(key, expected)| {
        if key == "$or" {
            let branches = expected
                .as_array()
                .unwrap_or_else(|| panic!("$or must be a list of patterns: {expected}"));
            return branches.iter().any(|b| pattern_matches(b, event));
        }
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

/// The main template's rules with an event pattern: (logical id, Properties, the function
/// its one target invokes).
fn event_rules() -> Vec<(&'static str, &'static Value, &'static str)> {
    resources_of_type("AWS::Events::Rule")
        .into_iter()
        .filter(|(_, r)| r["Properties"].get("EventPattern").is_some())
        .map(|(name, r)| {
            let props = &r["Properties"];
            let targets = alternatives(&props["Targets"]);
            assert_eq!(targets.len(), 1, "{name}: one target");
            let function = get_att(&targets[0]["Arn"], "Arn")
                .unwrap_or_else(|| panic!("{name}: the target is not !GetAtt <function>.Arn"));
            (name, props, function)
        })
        .collect()
}

/// The main template's rules matching `event`: (logical id, the function it invokes).
fn rules_matching(event: &Value) -> Vec<(&'static str, &'static str)> {
    event_rules()
        .into_iter()
        .filter(|(_, props, _)| pattern_matches(&props["EventPattern"], event))
        .map(|(name, _, function)| (name, function))
        .collect()
}

fn samples() -> Vec<(String, Value)> {
    let samples = crate::support::samples();
    for (name, _) in SAMPLE_TARGETS {
        assert!(
            samples.iter().any(|(n, _)| n == name),
            "events/{name} is missing"
        );
    }
    samples
}

fn sample(name: &str) -> Value {
    samples()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("events/{name} is missing"))
        .1
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
fn parameter_defaults_configure_the_function_as_the_codes_defaults_do_but_for_the_bucket() {
    // With the parameters' defaults the code must start and behave as with the variables
    // unset, except that CoverageReports is on by default: the stack's bucket, where the
    // code's own default is no report.
    let mut with_defaults = config_under(&defaults_of(template()))
        .expect("the parameter defaults are a valid configuration");
    assert_eq!(parameter("CoverageReports")["Default"], "true");
    assert_eq!(
        with_defaults.coverage_bucket.as_deref(),
        Some(sample_reference("CoverageBucket").as_str())
    );
    with_defaults.coverage_bucket = None;
    let topic = sample_reference("Topic");
    let code_defaults = Config::from_pairs(&[(SNS_TOPIC_ARN, &topic), ("AWS_REGION", REGION)])
        .expect("the code's defaults");
    assert_eq!(
        format!("{with_defaults:?}"),
        format!("{code_defaults:?}"),
        "the template's parameter defaults configure the function differently from the code's defaults \
         (e.g. InviteMessageTemplate must equal template::DEFAULT_TEMPLATE)"
    );
}

// ------------------------------------------------------------------ parameter values

/// Strings worth trying against any parameter's constraints: the edges of whole numbers and
/// their look-alikes, booleans, region names and lists of them, role and parameter names,
/// topic ARNs, message templates with good and bad braces. Each parameter's own constraints
/// decide which of them CloudFormation admits.
fn probe_strings() -> Vec<String> {
    let mut probes: Vec<String> = [
        "",
        " ",
        "\t",
        "\u{3000}",
        "0",
        "1",
        "2",
        "7",
        "7.5",
        "2.5",
        "-1",
        "01",
        "1e3",
        " 7",
        "9",
        "10",
        "29",
        "30",
        "59",
        "60",
        "99",
        "100",
        "365",
        "999",
        "1000",
        "1439",
        "1440",
        "1441",
        "3649",
        "3650",
        "3651",
        "4000",
        "9999",
        "10000",
        "99999",
        "true",
        "false",
        "TRUE",
        "yes",
        "none",
        "NONE",
        "all",
        "us-east-1",
        "eu-west-1",
        "us-gov-west-1",
        "cn-north-1",
        "ap-southeast-4",
        "eu-isoe-west-1",
        "US-EAST-1",
        "useast1",
        "x-y-1",
        "us-east-1,eu-west-1",
        "us-east-1,us-east-1",
        "us-east-1, eu-west-1",
        "us-east-1,,eu-west-1",
        "us-east-1;eu-west-1",
        "OrganizationAccountAccessRole",
        "AWSControlTowerExecution",
        "GuardDutyInviteMember",
        "a",
        "a+=,.@_-",
        "role/with/path",
        "has space",
        "/a",
        "/guardduty-invite/protection-policy",
        "/a/b.c_d-e",
        "a/b",
        "/a/",
        "//a",
        "/a b",
        "policy",
        "arn:aws:sns:us-east-1:123456789012:alerts",
        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts",
        "arn:aws:sns:x:123456789012:t",
        "arn:aws:sns:us-east-1:1234:t",
        "arn:aws:sqs:us-east-1:123456789012:q",
        "arn:aws:sns:us-east-1:123456789012:t.fifo",
        "{region}",
        "{ region }",
        "{account_id} {account_name} {region} {detector_id}",
        "{unknown}",
        "{}",
        "{ }",
        "{",
        "}",
        "{{",
        "}}",
        "{{region}}",
        "{region}}",
        "{{region}",
        "Welcome {region",
        "Hello",
        " {region} ",
        "o-exampleorg1",
        "123456789012",
    ]
    .map(String::from)
    .to_vec();
    probes.push("a".repeat(64));
    probes.push("a".repeat(65));
    probes.push(format!(
        "arn:aws:sns:us-east-1:123456789012:{}",
        "a".repeat(256)
    ));
    probes
}

/// Values built from the words of a pattern: each upper-case name alone, every ordered pair,
/// one twice, all of them, all but each one (comma-separated, as list parameters take them);
/// each lower-case word alone and in braces.
fn pattern_words(pattern: &str) -> Vec<String> {
    let words = |re: &str| -> Vec<String> {
        let re = regex_lite::Regex::new(re).unwrap();
        let found: BTreeSet<String> = re
            .find_iter(pattern)
            .map(|m| m.as_str().to_owned())
            .collect();
        found.into_iter().collect()
    };
    let upper = words(r"[A-Z][A-Z0-9_]{2,}");
    let mut out = Vec::new();
    for a in &upper {
        out.push(a.clone());
        for b in &upper {
            out.push(format!("{a},{b}"));
        }
        out.push(
            upper
                .iter()
                .filter(|w| *w != a)
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    out.push(upper.join(","));
    for w in words(r"[a-z][a-z0-9_]{2,}") {
        out.push(format!("{{{w}}}"));
        out.push(w);
    }
    out
}

/// Whether CloudFormation admits a value for a String parameter: its length bounds and its
/// AllowedPattern (which must match the whole value). regex-lite reads the patterns as
/// CloudFormation does here: `\s` and `\w` are ASCII, `\uXXXX` a code point.
fn string_admits(p: &Value) -> impl Fn(&str) -> bool {
    let min = p["MinLength"].as_u64().unwrap_or(0);
    let max = p["MaxLength"].as_u64().unwrap_or(u64::MAX);
    let pattern = p["AllowedPattern"].as_str().map(|pattern| {
        regex_lite::Regex::new(&format!("^(?:{pattern})$"))
            .unwrap_or_else(|e| panic!("AllowedPattern {pattern}: {e}"))
    });
    move |value| {
        let length = value.chars().count() as u64;
        (min..=max).contains(&length) && pattern.as_ref().is_none_or(|re| re.is_match(value))
    }
}

/// The edge values a parameter admits, derived from its own constraints: each of its
/// AllowedValues; for a Number, its bounds and their neighbours, its default and a fraction
/// beside it, and large probes where it has no upper bound; for a String, the
/// [`probe_strings`] and the [`pattern_words`] it admits, each also padded to its MaxLength.
fn edge_values(p: &Value) -> Vec<String> {
    if let Some(values) = p["AllowedValues"].as_array() {
        return values.iter().filter_map(scalar).collect();
    }
    let mut out: BTreeSet<String> = BTreeSet::new();
    match p["Type"].as_str() {
        Some("Number") => {
            let min = p["MinValue"].as_f64().unwrap_or(f64::MIN);
            let max = p["MaxValue"].as_f64().unwrap_or(f64::MAX);
            let default = scalar(&p["Default"]).and_then(|d| d.parse::<f64>().ok());
            let mut candidates = vec![
                0.0, 1.0, 2.0, 10.0, 100.0, 1000.0, 1440.0, 1441.0, 3650.0, 3651.0, 4000.0,
                86400.0, 1e6,
            ];
            for bound in [min, max].into_iter().filter(|b| b.abs() < 1e15) {
                candidates.extend([bound - 1.0, bound, bound + 0.5, bound + 1.0]);
            }
            if let Some(d) = default {
                candidates.extend([d, d + 0.5]);
            }
            for x in candidates.into_iter().filter(|x| (min..=max).contains(x)) {
                out.insert(if x.fract() == 0.0 {
                    format!("{}", x as i64)
                } else {
                    format!("{x}")
                });
            }
        }
        Some("String") => {
            let pattern = p["AllowedPattern"].as_str().unwrap_or_default();
            let mut pool = probe_strings();
            pool.extend(pattern_words(pattern));
            if let Some(min) = p["MinLength"].as_u64() {
                pool.push("a".repeat(min.max(1) as usize));
            }
            let max = p["MaxLength"].as_u64().map(|m| m as usize);
            let admits = string_admits(p);
            for value in pool.into_iter().filter(|v| admits(v)) {
                if let (Some(max), Some(last)) = (max, value.chars().last()) {
                    let padded = format!(
                        "{value}{}",
                        last.to_string()
                            .repeat(max.saturating_sub(value.chars().count()))
                    );
                    if admits(&padded) {
                        out.insert(padded);
                    }
                }
                out.insert(value);
            }
        }
        other => panic!("unsupported parameter type {other:?}"),
    }
    out.into_iter().collect()
}

/// What another parameter must hold for a value of `parameter` to be one the code starts with,
/// where the Rules require it or CloudFormation cannot check it at all; the parameter's
/// Description names that other parameter either way.
fn companions(parameter: &str, value: &str) -> Vec<(&'static str, String)> {
    match parameter {
        // Must be one of GuardDutyRegions (Rules have no list membership test on a string).
        "InvitationEmailRegion" => vec![("GuardDutyRegions", value.to_owned())],
        // Needs a runtime feature; RUNTIME_MONITORING takes every agent setting.
        "MemberAgentManagement" => vec![("MemberFeatures", "RUNTIME_MONITORING".to_owned())],
        // The Rules require an organization id with a role name.
        "MemberRoleName" => vec![("OrganizationId", "o-exampleorg1".to_owned())],
        _ => vec![],
    }
}

/// The parameters whose values reach the functions' environment.
fn parameters_feeding_the_environment() -> BTreeSet<String> {
    let mut feeding = BTreeSet::new();
    for (variable, value) in environment() {
        let mut these = BTreeSet::new();
        parameters_of(template(), value, &mut these);
        assert!(!these.is_empty(), "{variable} depends on no parameter");
        feeding.extend(these);
    }
    feeding
}

#[test]
fn every_value_a_parameter_admits_lets_the_function_start() {
    let defaults = defaults_of(template());
    let feeding = parameters_feeding_the_environment();
    let mut failures = Vec::new();
    for name in &feeding {
        let values = edge_values(parameter(name));
        let mut started = 0;
        for value in &values {
            let mut params = with(&defaults, &[(name, value)]);
            for (other, v) in companions(name, value) {
                params.insert(other.to_owned(), v);
            }
            if refusing_rule(template(), &params).is_some() {
                continue; // CloudFormation refuses the deployment
            }
            match config_under(&params) {
                Ok(_) => started += 1,
                Err(e) => failures.push(format!("{name}={value:?}: {e}")),
            }
        }
        assert!(
            started >= 2,
            "{name}: only {started} deployable values among {values:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "CloudFormation admits values the function refuses at start-up:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_edge_values_catch_a_number_parameter_the_code_refuses() {
    // StaleInvitationDays as it was: a Number with a lower bound only. Its edge values include
    // 7.5 (beside the default) and 4000 (beyond any bound the code could have): the test above
    // would have failed on both.
    let old = json!({"Type": "Number", "Default": 7, "MinValue": 1});
    let values = edge_values(&old);
    let topic = sample_reference("Topic");
    let refused: Vec<&String> = values
        .iter()
        .filter(|v| {
            Config::from_pairs(&[
                (SNS_TOPIC_ARN, &topic),
                ("AWS_REGION", REGION),
                (STALE_INVITATION_DAYS, v),
            ])
            .is_err()
        })
        .collect();
    for caught in ["7.5", "4000"] {
        assert!(
            refused.iter().any(|v| *v == caught),
            "{caught} not among the refused edge values {refused:?} of {values:?}"
        );
    }
    let now = edge_values(parameter("StaleInvitationDays"));
    for gone in ["7.5", "4000", "0", "3651"] {
        assert!(!now.contains(&gone.to_owned()), "{gone} in {now:?}");
    }
    for kept in ["1", "7", "3650"] {
        assert!(now.contains(&kept.to_owned()), "{kept} not in {now:?}");
    }
}

#[test]
fn cross_parameter_constraints_are_named_in_the_descriptions() {
    for name in parameters_feeding_the_environment() {
        for (other, _) in companions(&name, "x") {
            let description = parameter(&name)["Description"].as_str().unwrap_or_default();
            assert!(
                description.contains(other),
                "{name}'s description does not say it depends on {other}"
            );
        }
    }
}

// ------------------------------------------------------------------ triggers

#[test]
fn each_account_event_sample_invokes_its_function_through_exactly_one_rule() {
    for (name, function) in SAMPLE_TARGETS {
        let matching = rules_matching(&sample(name));
        assert_eq!(
            matching.len(),
            1,
            "events/{name} must match exactly one rule: {matching:?}"
        );
        assert_eq!(matching[0].1, *function, "events/{name}");
    }
}

#[test]
fn rules_ignore_failed_creations_api_calls_and_manual_requests() {
    for (name, event) in samples() {
        if !SAMPLE_TARGETS.iter().any(|(n, _)| *n == name) {
            assert_eq!(
                rules_matching(&event),
                Vec::<(&str, &str)>::new(),
                "events/{name} must not invoke a function"
            );
        }
    }
}

#[test]
fn rules_ignore_in_progress_creations_and_other_services() {
    let mut in_progress = sample(SAMPLE_TARGETS[0].0);
    in_progress["detail"]["serviceEventDetails"]["createAccountStatus"]["state"] =
        json!("IN_PROGRESS");
    assert!(
        rules_matching(&in_progress).is_empty(),
        "an IN_PROGRESS CreateAccountResult must not invoke the function"
    );
    for (name, _) in SAMPLE_TARGETS {
        let mut event = sample(name);
        event["source"] = json!("security.manual");
        assert!(
            rules_matching(&event).is_empty(),
            "events/{name} from another source must not invoke a function"
        );
    }
}

#[test]
fn an_account_joining_runs_a_reconcile_whatever_the_detail_type() {
    let joined = sample("organizations-account-joined.json");
    for detail_type in [
        "AWS Service Event via CloudTrail",
        "AWS API Call via CloudTrail",
        "Account Joined Organization",
    ] {
        let mut event = joined.clone();
        event["detail-type"] = json!(detail_type);
        let matching = rules_matching(&event);
        assert_eq!(matching.len(), 1, "{detail_type}: {matching:?}");
        assert_eq!(matching[0].1, RECONCILE_FUNCTION, "{detail_type}");
    }
    let mut departed = joined.clone();
    departed["detail"]["eventName"] = json!("AccountDepartedOrganization");
    assert!(rules_matching(&departed).is_empty());
    let mut other = joined;
    other["source"] = json!("aws.controltower");
    assert!(rules_matching(&other).is_empty());
}

/// Whether an event pattern (or one of its `$or` branches) matches on a top-level field.
fn pattern_names_field(pattern: &Value, field: &str) -> bool {
    pattern.get(field).is_some()
        || pattern["$or"]
            .as_array()
            .is_some_and(|branches| branches.iter().any(|b| pattern_names_field(b, field)))
}

#[test]
fn no_rule_matches_on_the_account_field() {
    // Events forwarded from the management account carry that account in `account`.
    for path in [MAIN, FORWARD] {
        for (name, rule) in resources_of_type_in(load(path), "AWS::Events::Rule") {
            let pattern = &rule["Properties"]["EventPattern"];
            assert!(
                !pattern_names_field(pattern, "account"),
                "{path} {name} matches on the account field"
            );
        }
    }
    for (name, function) in SAMPLE_TARGETS {
        let mut forwarded = sample(name);
        forwarded["account"] = json!("999988887777");
        assert_eq!(
            rules_matching(&forwarded)
                .into_iter()
                .map(|(_, f)| f)
                .collect::<Vec<_>>(),
            [*function],
            "events/{name} from the management account"
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
            assert!(
                target["RetryPolicy"]["MaximumEventAgeInSeconds"].is_u64(),
                "{rule}: target without a retry policy"
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

#[test]
fn the_management_account_may_put_only_the_events_the_rules_act_on() {
    assert_eq!(
        parameter("ManagementAccountId")["AllowedPattern"],
        "^$|^[0-9]{12}$"
    );
    let (name, policy) = only_resource_of_type(template(), "AWS::Events::EventBusPolicy");
    let guard = policy["Condition"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no Condition"));
    assert_eq!(condition(guard), &not_empty("ManagementAccountId"));
    let props = &policy["Properties"];
    assert_eq!(props["EventBusName"], "default", "{name}");
    let rule_sources: BTreeSet<String> = event_rules()
        .iter()
        .flat_map(|(_, p, _)| strings(&p["EventPattern"]["source"]))
        .collect();
    assert_eq!(
        props["Statement"],
        json!({
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ManagementAccountId}:root"}},
            "Action": "events:PutEvents",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"},
            "Condition": {"StringEquals": {"events:source": rule_sources.into_iter().collect::<Vec<_>>()}}
        }),
        "{name}"
    );
}

// ------------------------------------------------------------------ the reconcile

/// The rule that runs the reconcile on a schedule: (logical id, the rule resource).
fn schedule_rule() -> (&'static str, &'static Value) {
    let rules: Vec<_> = rules_targeting(RECONCILE_FUNCTION)
        .into_iter()
        .filter(|(_, r)| r["Properties"].get("ScheduleExpression").is_some())
        .collect();
    assert_eq!(rules.len(), 1, "one schedule invokes {RECONCILE_FUNCTION}");
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
fn no_concurrency_is_reserved_by_default_and_the_reconcile_may_ask_for_one() {
    // ReservedConcurrentExecutions 0 would stop a function from running at all; a reservation
    // needs 100 unreserved executions left, which accounts with a limit of 10 do not have.
    assert_eq!(parameter("ReservedConcurrency")["Default"], "");
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
    // Lambda keeps 100 executions unreserved, so a default reservation would fail the first
    // deploy in an account whose quota is 10.
    let reconcile = parameter("ReconcileReservedConcurrency");
    assert_eq!(reconcile["Default"], "0");
    assert_eq!(reconcile["AllowedValues"], json!(["1", "0"]));
    assert_eq!(
        condition("HasReconcileReservation"),
        &json!({"Fn::Equals": [{"Ref": "ReconcileReservedConcurrency"}, "1"]})
    );
    assert_eq!(
        reconcile_function().1["ReservedConcurrentExecutions"],
        only_if("HasReconcileReservation", json!(1)),
        "one reconcile at a time"
    );
}

#[test]
fn a_reconcile_throttled_by_its_reservation_waits_up_to_six_hours_then_goes_to_the_queue() {
    let config = &reconcile_function().1["EventInvokeConfig"];
    assert_eq!(config["MaximumEventAgeInSeconds"], 21600);
    assert_eq!(
        get_att(
            &config["DestinationConfig"]["OnFailure"]["Destination"],
            "Arn"
        ),
        Some(failure_queue_of(function().1))
    );
    let description = parameter("ReconcileReservedConcurrency")["Description"]
        .as_str()
        .unwrap_or_default();
    for said in ["6 hours", "idempotent", "failed-events queue", "overlap"] {
        assert!(description.contains(said), "{said}: {description}");
    }
}

#[test]
fn reconcile_schedule_defaults_to_daily_and_is_off_when_empty() {
    assert_eq!(parameter("ReconcileSchedule")["Default"], "rate(1 day)");
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
        Value::Object(map) => match fn_if(value) {
            Some((c, _, no)) if c == condition => mentions_outside(no, id, condition),
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

#[test]
fn the_account_joined_event_reaches_the_reconcile_function_as_it_is() {
    let (rule, props, _) = event_rules()
        .into_iter()
        .find(|(_, _, f)| *f == RECONCILE_FUNCTION)
        .expect("a rule with an event pattern invokes the reconcile function");
    let targets = alternatives(&props["Targets"]);
    for shaping in ["Input", "InputPath", "InputTransformer"] {
        assert!(targets[0].get(shaping).is_none(), "{rule}: {shaping}");
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
fn every_rule_may_write_its_dead_letters_to_the_queue() {
    let queue = failure_queue_of(function().1);
    let (_, policy) = resources_of_type("AWS::SQS::QueuePolicy")
        .into_iter()
        .find(|(_, p)| {
            alternatives(&p["Properties"]["Queues"])
                .iter()
                .any(|q| reference(q) == Some(queue))
        })
        .expect("a policy on the failed-events queue");
    let allowed: Vec<&Value> = alternatives(&policy["Properties"]["PolicyDocument"]["Statement"])
        .into_iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| alternatives(&s["Condition"]["ArnEquals"]["aws:SourceArn"]))
        .collect();
    for (rule, _) in resources_of_type("AWS::Events::Rule") {
        assert!(
            allowed.contains(&&json!({"Fn::GetAtt": [rule, "Arn"]})),
            "{rule} may not send to the failed-events queue"
        );
    }
}

#[test]
fn log_groups_are_retained_except_when_the_first_create_fails() {
    for (name, function) in functions() {
        let group = resource(log_group_of(function));
        assert_eq!(group["DeletionPolicy"], "RetainExceptOnCreate", "{name}");
        assert_eq!(group["UpdateReplacePolicy"], "Retain", "{name}");
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

/// The metric a Metrics Insights query selects: `SELECT <stat>(<metric>) FROM ...`.
fn queried_metric(expression: &str) -> Option<&str> {
    expression
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(metric, _)| metric.trim())
}

#[test]
fn alarms_on_the_functions_metrics_name_metrics_the_code_writes() {
    for (name, alarm) in resources_of_type("AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        if p["Namespace"] == NAMESPACE {
            let metric = p["MetricName"].as_str().unwrap_or_default();
            assert!(
                METRIC_NAMES.contains(&metric) || metric == COMPLETED_METRIC,
                "{name}: {metric}"
            );
        }
        for query in alternatives(&p["Metrics"]) {
            let Some(expression) = query["Expression"].as_str() else {
                continue;
            };
            if !expression.contains(NAMESPACE) {
                continue;
            }
            let metric = queried_metric(expression)
                .unwrap_or_else(|| panic!("{name}: cannot read {expression}"));
            assert!(
                METRIC_NAMES.contains(&metric),
                "{name}: {metric} is not in metrics::METRIC_NAMES"
            );
        }
    }
}

#[test]
fn drift_found_by_a_reconcile_raises_an_alarm_on_the_topic() {
    let topic = &environment()[SNS_TOPIC_ARN];
    let drift: Vec<_> = resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            alternatives(&a["Properties"]["Metrics"]).iter().any(|q| {
                q["Expression"].as_str().and_then(queried_metric) == Some("Drift")
                    && q["Expression"].as_str().is_some_and(|e| {
                        e.starts_with("SELECT SUM(Drift) FROM SCHEMA(GuardDutyInvite, Region)")
                    })
            })
        })
        .collect();
    assert_eq!(
        drift.len(),
        1,
        "one alarm on the sum of Drift over the regions"
    );
    let (name, alarm) = drift[0];
    assert!(alarm.get("Condition").is_none(), "{name}: always there");
    let p = &alarm["Properties"];
    assert_eq!(p["Threshold"], 0, "{name}");
    assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold", "{name}");
    assert_eq!(p["AlarmActions"], json!([topic]), "{name}");
    // A reconcile writes once; between runs the state stays.
    assert_eq!(p["TreatMissingData"], "ignore", "{name}");
}

#[test]
fn a_day_without_a_completed_reconcile_raises_an_alarm() {
    let topic = &environment()[SNS_TOPIC_ARN];
    let alarms: Vec<_> = resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| a["Properties"]["MetricName"] == COMPLETED_METRIC)
        .collect();
    assert_eq!(alarms.len(), 1, "one alarm on {COMPLETED_METRIC}");
    let (name, alarm) = alarms[0];
    assert!(alarm.get("Condition").is_none(), "{name}: always there");
    let p = &alarm["Properties"];
    assert_eq!(p["Namespace"], NAMESPACE, "{name}");
    assert!(p.get("Dimensions").is_none(), "{name}: the metric has none");
    assert_eq!(p["Statistic"], "Sum", "{name}");
    // No count at all for 26 hours: missing data must breach, or silence would read as OK.
    assert_eq!(p["TreatMissingData"], "breaching", "{name}");
    assert_eq!(p["ComparisonOperator"], "LessThanThreshold", "{name}");
    assert_eq!(p["Threshold"], 1, "{name}");
    let period = p["Period"].as_u64().unwrap_or_default();
    let periods = p["EvaluationPeriods"].as_u64().unwrap_or_default();
    assert_eq!(period * periods, 26 * 3600, "{name}");
    assert_eq!(p["DatapointsToAlarm"], p["EvaluationPeriods"], "{name}");
    // PutMetricAlarm: at most 7 days, and at most one day for a period under an hour.
    assert!(period >= 3600 && period * periods <= 604_800, "{name}");
    assert_eq!(p["AlarmActions"], json!([topic]), "{name}");
}

/// The alarms on an SQS queue's visible messages, in `t`.
fn queue_alarms_in(t: &'static Value) -> Vec<(&'static str, &'static Value)> {
    resources_of_type_in(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| a["Properties"]["Namespace"] == "AWS/SQS")
        .collect()
}

#[test]
fn queue_alarms_stay_on_while_the_queue_sleeps_with_an_event_in_it() {
    // SQS stops sending a queue's metrics after six hours without activity, while a failed
    // event stays 14 days: notBreaching (or breaching) would decide the state from silence.
    let alarms: Vec<_> = queue_alarms_in(template())
        .into_iter()
        .chain(queue_alarms_in(load(FORWARD)))
        .collect();
    assert_eq!(
        alarms.len(),
        2,
        "the failed-events and the dead-letter queue"
    );
    for (name, alarm) in alarms {
        let p = &alarm["Properties"];
        assert_eq!(
            p["MetricName"], "ApproximateNumberOfMessagesVisible",
            "{name}"
        );
        assert_eq!(p["TreatMissingData"], "ignore", "{name}");
    }
}

#[test]
fn topic_is_created_encrypted_unless_an_existing_one_is_given() {
    let topic = &environment()[SNS_TOPIC_ARN];
    let (condition_name, created, existing) =
        fn_if(topic).expect("SNS_TOPIC_ARN is !If [condition, created, existing]");
    let created = resource(reference(created).expect("created topic is !Ref <topic>"));
    assert_eq!(created["Type"], "AWS::SNS::Topic");
    assert_eq!(created["Condition"], condition_name);
    let key = get_att(&created["Properties"]["KmsMasterKeyId"], "Arn")
        .expect("the created topic is encrypted with !GetAtt <key>.Arn");
    assert_eq!(resource(key)["Type"], "AWS::KMS::Key");
    let parameter_name = reference(existing).expect("existing topic is !Ref <parameter>");
    assert_eq!(parameter(parameter_name)["Default"], "");
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

// ------------------------------------------------------------------ coverage reports

/// The coverage bucket: (logical id, resource), the one COVERAGE_BUCKET names.
fn coverage_bucket() -> (&'static str, &'static Value) {
    let (name, bucket) = only_resource_of_type(template(), "AWS::S3::Bucket");
    assert_eq!(
        environment()[COVERAGE_BUCKET],
        only_if("HasCoverageReports", json!({"Ref": name}))
    );
    assert_eq!(bucket["Condition"], "HasCoverageReports", "{name}");
    (name, bucket)
}

#[test]
fn the_coverage_bucket_is_encrypted_with_a_stack_key_that_exists_whenever_it_does() {
    let (name, bucket) = coverage_bucket();
    let rules = alternatives(
        &bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"],
    );
    assert_eq!(rules.len(), 1, "{name}");
    let sse = &rules[0]["ServerSideEncryptionByDefault"];
    assert_eq!(sse["SSEAlgorithm"], "aws:kms", "{name}");
    let key_id = get_att(&sse["KMSMasterKeyID"], "Arn").expect("!GetAtt <key>.Arn");
    let key = resource(key_id);
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    let key_condition = key["Condition"].as_str().expect("the key's condition");
    for existing in ["", "arn:aws:sns:us-east-1:123456789012:security-alerts"] {
        for coverage in ["true", "false"] {
            let params = with(
                &defaults_of(template()),
                &[
                    ("ExistingTopicArn", existing),
                    ("CoverageReports", coverage),
                ],
            );
            if condition_holds(template(), "HasCoverageReports", &params)
                || condition_holds(template(), "CreateTopic", &params)
            {
                assert!(
                    condition_holds(template(), key_condition, &params),
                    "no {key_id} for the bucket or the topic with {existing:?}/{coverage}"
                );
            }
        }
    }
    // Principals of this account may use it through S3, with the bucket (their IAM policies
    // decide who; the function role's allows exactly GenerateDataKey).
    let statements = alternatives(&key["Properties"]["KeyPolicy"]["Statement"]);
    assert!(statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"]).contains(&"kms:GenerateDataKey".to_owned())
            && s["Condition"]["StringEquals"]["kms:ViaService"]
                == json!({"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"})
            && s["Condition"]["StringEquals"]["kms:CallerAccount"]
                == json!({"Ref": "AWS::AccountId"})
    }));
    // The retained reports stay readable: the key outlives the stack as the bucket does.
    assert_eq!(key["DeletionPolicy"], bucket["DeletionPolicy"]);
}

#[test]
fn the_coverage_bucket_is_versioned_private_tls_only_and_expires_after_400_days() {
    let (name, bucket) = coverage_bucket();
    let props = &bucket["Properties"];
    assert_eq!(props["VersioningConfiguration"]["Status"], "Enabled");
    assert_eq!(
        props["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": true, "BlockPublicPolicy": true,
               "IgnorePublicAcls": true, "RestrictPublicBuckets": true})
    );
    let lifecycle = alternatives(&props["LifecycleConfiguration"]["Rules"]);
    assert!(
        lifecycle.iter().any(|r| r["Status"] == "Enabled"
            && r["ExpirationInDays"] == 400
            && r["NoncurrentVersionExpiration"]["NoncurrentDays"] == 400),
        "{name}: {lifecycle:?}"
    );
    let (policy_name, policy) = only_resource_of_type(template(), "AWS::S3::BucketPolicy");
    assert_eq!(policy["Condition"], bucket["Condition"], "{policy_name}");
    assert_eq!(policy["Properties"]["Bucket"], json!({"Ref": name}));
    let deny_without_tls = alternatives(&policy["Properties"]["PolicyDocument"]["Statement"])
        .into_iter()
        .any(|s| {
            s["Effect"] == "Deny"
                && s["Principal"] == "*"
                && strings(&s["Action"]) == ["s3:*"]
                && s["Condition"] == json!({"Bool": {"aws:SecureTransport": "false"}})
                && alternatives(&s["Resource"]).len() == 2
        });
    assert!(deny_without_tls, "{policy_name}: no TLS-only statement");
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
    if let Some(value) = pseudo_parameter(name) {
        return value.to_owned();
    }
    let id = name.split('.').next().unwrap();
    assert!(
        resources().contains_key(id),
        "${{{name}}} is not a resource of the template"
    );
    format!("sample-{}", name.replace('.', "-"))
}

/// The dashboard's body as CloudFormation renders it with [`sample_value`]s.
fn dashboard() -> Value {
    let (name, dashboard) = only_resource_of_type(template(), "AWS::CloudWatch::Dashboard");
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

// ------------------------------------------------------------------ the member role

fn member_role() -> (&'static str, &'static Value) {
    only_resource_of_type(load(MEMBER_ROLE), "AWS::IAM::Role")
}

#[test]
fn the_member_role_grants_exactly_the_member_side_actions() {
    let t = load(MEMBER_ROLE);
    let (role, _) = member_role();
    let statements = statements_of_role(t, role);
    let granted: BTreeSet<&str> = statements
        .iter()
        .flat_map(|s| s.actions.iter().map(String::as_str))
        .collect();
    let expected: BTreeSet<&str> = MEMBER_SIDE_ACTIONS.iter().copied().collect();
    assert_eq!(granted, expected, "{role} (aws::MEMBER_SIDE_ACTIONS)");
    for s in &statements {
        assert!(s.included_if.is_none(), "{}: unconditional", s.sid);
        // This account's detectors where the action has a resource type ("*" otherwise,
        // checked with the other roles).
        if s.actions.iter().any(|a| a.starts_with("guardduty:")) && s.resources != ["*"] {
            assert_eq!(
                s.resources,
                [
                    json!({"Fn::Sub": "arn:${AWS::Partition}:guardduty:*:${AWS::AccountId}:detector/*"})
                ],
                "{}",
                s.sid
            );
        }
    }
    // The service-linked roles: GuardDuty's two, and only for GuardDuty.
    let slr: Vec<&Statement> = statements
        .iter()
        .filter(|s| s.actions.iter().any(|a| a == "iam:CreateServiceLinkedRole"))
        .collect();
    assert_eq!(slr.len(), 1);
    let s = slr[0];
    assert_eq!(s.actions, ["iam:CreateServiceLinkedRole"], "{}", s.sid);
    assert_eq!(
        s.condition,
        json!({"StringEquals": {"iam:AWSServiceName": [
            "guardduty.amazonaws.com", "malware-protection.guardduty.amazonaws.com"]}}),
        "{}",
        s.sid
    );
    for r in &s.resources {
        let arn = r["Fn::Sub"].as_str().unwrap_or_default();
        assert!(
            arn.starts_with("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/")
                && (arn.contains("/guardduty.amazonaws.com/")
                    || arn.contains("/malware-protection.guardduty.amazonaws.com/")),
            "{}: {r}",
            s.sid
        );
    }
}

#[test]
fn the_member_role_trusts_only_the_functions_role_of_the_administrator_account() {
    let (role, resource) = member_role();
    let props = &resource["Properties"];
    assert_eq!(props["RoleName"], json!({"Ref": "RoleName"}));
    let t = load(MEMBER_ROLE);
    assert_eq!(
        parameter_in(t, "RoleName")["Default"],
        "GuardDutyInviteMember"
    );
    assert_eq!(
        parameter_in(t, "AdministratorAccountId")["AllowedPattern"],
        "^[0-9]{12}$"
    );
    let trust = alternatives(&props["AssumeRolePolicyDocument"]["Statement"]);
    assert_eq!(
        trust,
        [&json!({
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AdministratorAccountId}:root"}},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": {"Fn::Sub":
                "arn:${AWS::Partition}:iam::${AdministratorAccountId}:role/${FunctionRoleName}"}}}
        })],
        "{role}"
    );
    // The main stack gives the operator that name.
    assert_eq!(
        template()["Outputs"]["FunctionRoleName"]["Value"],
        json!({"Ref": role_name()})
    );
}

// ------------------------------------------------------------------ event forwarding

fn forward_rule() -> (&'static str, &'static Value) {
    only_resource_of_type(load(FORWARD), "AWS::Events::Rule")
}

/// The administrator account's default bus, as the forwarding template names it.
fn administrator_bus() -> Value {
    json!({"Fn::Sub": "arn:${AWS::Partition}:events:${AdministratorRegion}:${AdministratorAccountId}:event-bus/default"})
}

#[test]
fn the_forwarding_rule_matches_exactly_what_the_main_templates_rules_match() {
    let (name, rule) = forward_rule();
    let props = &rule["Properties"];
    assert_eq!(props["EventBusName"], "default", "{name}");
    let pattern = &props["EventPattern"];
    assert_eq!(
        pattern.as_object().map(|m| m.keys().collect::<Vec<_>>()),
        Some(vec![&"$or".to_owned()]),
        "{name}: one branch per rule of the main template"
    );
    let branches: BTreeSet<String> = alternatives(&pattern["$or"])
        .iter()
        .map(|b| b.to_string())
        .collect();
    let main: BTreeSet<String> = event_rules()
        .iter()
        .map(|(_, p, _)| p["EventPattern"].to_string())
        .collect();
    assert_eq!(branches, main, "{name}");
    for (sample_name, event) in samples() {
        assert_eq!(
            pattern_matches(pattern, &event),
            !rules_matching(&event).is_empty(),
            "{name}: events/{sample_name}"
        );
    }
}

#[test]
fn the_forwarding_role_may_only_put_events_on_the_administrators_bus() {
    let t = load(FORWARD);
    let (rule, resource) = forward_rule();
    let targets = alternatives(&resource["Properties"]["Targets"]);
    assert_eq!(targets.len(), 1, "{rule}");
    let target = targets[0];
    assert_eq!(target["Arn"], administrator_bus(), "{rule}");
    let role = get_att(&target["RoleArn"], "Arn").expect("RoleArn is !GetAtt <role>.Arn");
    let statements = statements_of_role(t, role);
    assert_eq!(statements.len(), 1, "{role}");
    assert_eq!(statements[0].actions, ["events:PutEvents"], "{role}");
    assert_eq!(statements[0].resources, [administrator_bus()], "{role}");
    let trust =
        alternatives(&resource_in(t, role)["Properties"]["AssumeRolePolicyDocument"]["Statement"]);
    assert_eq!(trust.len(), 1);
    assert_eq!(
        trust[0]["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );
    assert_eq!(
        trust[0]["Condition"],
        json!({"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}})
    );
}

#[test]
fn events_the_forwarding_rule_cannot_deliver_go_to_an_encrypted_queue_with_an_alarm() {
    let t = load(FORWARD);
    let (rule, resource) = forward_rule();
    let target = alternatives(&resource["Properties"]["Targets"])[0];
    assert!(
        target["RetryPolicy"]["MaximumEventAgeInSeconds"].is_u64(),
        "{rule}"
    );
    let queue = get_att(&target["DeadLetterConfig"]["Arn"], "Arn").expect("a dead-letter queue");
    let queue_props = &resource_in(t, queue)["Properties"];
    assert_eq!(queue_props["SqsManagedSseEnabled"], true, "{queue}");
    // Only this rule may write to it.
    let (_, policy) = only_resource_of_type(t, "AWS::SQS::QueuePolicy");
    let writers: Vec<&Value> = alternatives(&policy["Properties"]["PolicyDocument"]["Statement"])
        .into_iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(
        writers,
        [&json!({
            "Sid": writers[0]["Sid"],
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": [queue, "Arn"]},
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule, "Arn"]}}}
        })]
    );
    // An alarm while an event waits there, notifying the optional topic.
    let (alarm, a) = only_resource_of_type(t, "AWS::CloudWatch::Alarm");
    let p = &a["Properties"];
    assert_eq!(p["Namespace"], "AWS/SQS", "{alarm}");
    assert_eq!(
        p["MetricName"], "ApproximateNumberOfMessagesVisible",
        "{alarm}"
    );
    assert_eq!(
        p["Dimensions"],
        json!([{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}])
    );
    assert_eq!(p["Threshold"], 0);
    assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold");
    let (topic_condition, topics, none) = fn_if(&p["AlarmActions"]).expect("AlarmActions: !If");
    assert_eq!(
        condition_in(t, topic_condition),
        &not_empty("AlarmTopicArn")
    );
    assert_eq!(topics, &json!([{"Ref": "AlarmTopicArn"}]));
    assert_eq!(reference(none), Some("AWS::NoValue"));
}

// ------------------------------------------------------------------ security scan

#[test]
fn every_checkov_suppression_gives_its_reason() {
    for path in [MAIN, MEMBER_ROLE, FORWARD] {
        for (name, r) in resources_in(load(path)) {
            let skips = r["Metadata"]["checkov"]["skip"].as_array();
            for skip in skips.into_iter().flatten() {
                let id = skip["id"].as_str().unwrap_or_default();
                assert!(
                    id.starts_with("CKV_"),
                    "{path} {name}: a checkov skip without a check id: {skip}"
                );
                let comment = skip["comment"].as_str().unwrap_or_default();
                assert!(
                    comment.split_whitespace().count() >= 5,
                    "{path} {name}: {id} is suppressed without a reason"
                );
            }
        }
    }
}

#[test]
fn cloudwatch_may_use_the_key_only_for_this_account_s_alarms_as_the_topic_policy_says() {
    let key = resource("StackKey");
    let on_key: Vec<&Value> = alternatives(&key["Properties"]["KeyPolicy"]["Statement"])
        .into_iter()
        .filter(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
        .collect();
    let topic_policy = resource("TopicPolicy");
    let on_topic: Vec<&Value> =
        alternatives(&topic_policy["Properties"]["PolicyDocument"]["Statement"])
            .into_iter()
            .filter(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
            .collect();
    assert_eq!(on_key.len(), 1, "{on_key:?}");
    assert_eq!(on_topic.len(), 1, "{on_topic:?}");
    let condition = &on_key[0]["Condition"];
    assert_eq!(
        condition["StringEquals"]["aws:SourceAccount"],
        json!({"Ref": "AWS::AccountId"}),
        "{condition}"
    );
    assert_eq!(
        condition, &on_topic[0]["Condition"],
        "the key's and the topic's conditions differ"
    );
}
