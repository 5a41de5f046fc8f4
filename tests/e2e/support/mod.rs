//! Test support: the loopback AWS emulator (testsupport/emulator.py: real moto plus the
//! GuardDuty member API), seeding, the real binary through `invoke`, and SNS messages read
//! back from an SQS queue subscribed to the topic.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// The member role the README recommends, which `seed` creates in its organization accounts.
pub const MEMBER_ROLE: &str = "GuardDutyInviteMember";
pub const ADMIN_ACCOUNT: &str = "123456789012";

/// How long a test server may take to start (moto imports take a few seconds on a busy CI).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn python() -> PathBuf {
    let p = std::env::var_os("GUARDDUTY_INVITE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "no Python at {} — run scripts/setup-venv (scripts/test does it)",
        p.display()
    );
    p
}

pub struct Emulator {
    _server: EmulatorProcess,
    pub endpoint: String,
}

/// What serves an [`Emulator`]: a world forked for it by the binary's fork server, or a
/// process of its own.
enum EmulatorProcess {
    World(World),
    Own(PythonServer),
}

/// One warm emulator per test binary (`emulator.py --fork-server`), started by the first test
/// that asks: moto is imported once, and each test's emulator is a fork of it, a process of
/// its own whose state starts empty (a fork of a process that never served a request). So no
/// test can see another's calls, members, messages, faults or settings, and tests still run
/// in parallel. A fork takes about 10 ms; a new process, about 1.4 s of CPU.
struct ForkServer {
    server: PythonServer,
}

fn fork_server() -> std::sync::MutexGuard<'static, ForkServer> {
    static SERVER: std::sync::OnceLock<std::sync::Mutex<ForkServer>> = std::sync::OnceLock::new();
    SERVER
        .get_or_init(|| {
            let server = PythonServer::start("emulator.py", &["--fork-server"]);
            std::sync::Mutex::new(ForkServer { server })
        })
        .lock()
        // A test that panicked while asking for a world leaves the server as it was.
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A forked emulator: killed (through the fork server) when the test drops it.
struct World {
    pid: String,
    /// Dropped after the world is killed (fields drop after `Drop::drop`), so it is whole.
    _log: ChildLog,
}

impl World {
    /// A fresh world and its URL.
    fn fork() -> (Self, String) {
        let log = ChildLog::new("emulator.py (forked)");
        let mut server = fork_server();
        writeln!(server.server._stdin, "fork {}", log.file.path().display())
            .expect("ask for a world");
        let mut line = String::new();
        server
            .server
            .stdout
            .read_line(&mut line)
            .expect("the fork server's reply");
        let mut words = line.split_whitespace();
        let (Some("READY"), Some(url), Some(pid)) = (words.next(), words.next(), words.next())
        else {
            panic!(
                "the fork server said {line:?}; its log: {}",
                server.server.log_text()
            );
        };
        let world = Self {
            pid: pid.to_owned(),
            _log: log,
        };
        (world, url.to_owned())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = writeln!(fork_server().server._stdin, "kill {}", self.pid);
    }
}

#[derive(Debug, Clone)]
pub struct Seeded {
    pub topic_arn: String,
    pub queue_url: String,
    pub detectors: Value,
}

impl Seeded {
    pub fn detector(&self, region: &str) -> String {
        self.detectors[region]
            .as_str()
            .unwrap_or_else(|| panic!("no detector seeded in {region}"))
            .to_owned()
    }
}

/// A child process's output kept in a temporary file, out of the test run's output, and
/// printed (into the failing test's captured output) only when the test fails.
pub struct ChildLog {
    what: String,
    file: tempfile::NamedTempFile,
}

impl ChildLog {
    pub fn new(what: &str) -> Self {
        Self {
            what: what.to_owned(),
            file: tempfile::Builder::new()
                .prefix("guardduty-invite-child-")
                .suffix(".log")
                .tempfile()
                .expect("temp file for a child's output"),
        }
    }

    /// A handle for the child's stderr or stdout (both may share the file: it appends).
    pub fn stdio(&self) -> Stdio {
        Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .open(self.file.path())
                .expect("open the child's log"),
        )
    }

    /// What the child has written so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(self.file.path()).unwrap_or_default()
    }
}

impl Drop for ChildLog {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} wrote ---\n{}--- end of {} ---",
                self.what,
                self.text(),
                self.what
            );
        }
    }
}

/// A Python test server from `testsupport/`, up once it has printed `READY <what>`; its stdin
/// is held open because the servers exit when it closes, so none outlives the tests. Its
/// stderr is shown only if the test fails.
pub struct PythonServer {
    child: Child,
    _stdin: ChildStdin,
    /// The rest of its stdout, after `READY` (the fork server's replies).
    stdout: BufReader<std::process::ChildStdout>,
    /// What followed `READY `: the emulator's URL, the TLS server's port.
    pub ready: String,
    /// Dropped after the child is stopped (fields drop after `Drop::drop`), so it is whole.
    _log: ChildLog,
}

impl PythonServer {
    pub fn start(script: &str, args: &[&str]) -> Self {
        let log = ChildLog::new(script);
        let mut child = Command::new(python())
            .arg(repo().join("testsupport").join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.stdio())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        // Read on a thread, so that a server stuck before READY fails the test instead of
        // hanging the suite.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut stdout = BufReader::new(stdout);
            let _ = stdout.read_line(&mut line);
            let _ = tx.send((line, stdout));
        });
        let (line, stdout) = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(got) => got,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{script} did not print READY within {READY_TIMEOUT:?}");
            }
        };
        let Some(ready) = line.trim().strip_prefix("READY ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} said {line:?}");
        };
        Self {
            child,
            _stdin: stdin,
            stdout,
            ready,
            _log: log,
        }
    }
}

impl PythonServer {
    /// What the server has written on stderr so far.
    pub fn log_text(&self) -> String {
        self._log.text()
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// A private emulator for one test: a fresh world forked from the binary's fork server.
    pub fn start() -> Self {
        let (world, endpoint) = World::fork();
        Self {
            _server: EmulatorProcess::World(world),
            endpoint,
        }
    }

    /// A private emulator in a process of its own (what every test had before the fork
    /// server; kept to compare the two).
    pub fn start_process() -> Self {
        let server = PythonServer::start("emulator.py", &["--port", "0"]);
        let endpoint = server.ready.clone();
        Self {
            _server: EmulatorProcess::Own(server),
            endpoint,
        }
    }

    /// A plain HTTP/1.1 request to the control API.
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect to emulator");
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let (head, payload) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        assert!(head.contains(" 200 "), "{method} {path}: {head}\n{payload}");
        serde_json::from_str(payload).unwrap_or(Value::Null)
    }

    /// The demo's world (`emuctl.py seed --demo-world`): the one the README's by-hand steps
    /// and the samples in events/ are written for.
    /// Seeded from here, from what `emuctl.py demo-world` says it holds (asked once per test
    /// binary): a boto3 process per world cost about a second and a half of CPU.
    pub fn seed_demo_world(&self) -> Seeded {
        let spec = demo_world_spec();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let mut ous = std::collections::HashMap::new();
        for name in spec["ous"].as_array().into_iter().flatten() {
            let made = self.control(
                "POST",
                "/_emulator/organizations/ous",
                Some(json!({ "name": name })),
            );
            ous.insert(text(name), made["id"].clone());
        }
        let mut accounts = Vec::new();
        for spec_account in spec["accounts"].as_array().into_iter().flatten() {
            let mut account = spec_account.clone();
            if let Some(ou) = account.as_object_mut().and_then(|a| a.remove("ou")) {
                account["parentId"] = ous[&text(&ou)].clone();
            }
            accounts.push(account);
        }
        self.control(
            "POST",
            "/_emulator/organizations/accounts",
            Some(json!({ "accounts": accounts })),
        );
        for (region, costs) in spec["usage"].as_object().into_iter().flatten() {
            self.seed_usage(region, costs.clone());
        }
        let regions: Vec<String> = spec["detectorRegions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let regions: Vec<&str> = regions.iter().map(String::as_str).collect();
        let detectors = block_on(self.seed_detectors(&regions));
        let ids: Vec<String> = accounts.iter().map(|a| text(&a["accountId"])).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.create_member_role(&ids, &text(&spec["memberRole"]));
        self.control(
            "POST",
            "/_emulator/guardduty/foreign-accounts",
            Some(json!({ "accountIds": spec["foreign"] })),
        );
        let (topic_arn, queue_url) = block_on(self.subscribed_queue(
            &text(&spec["region"]),
            &text(&spec["topic"]),
            &text(&spec["queue"]),
        ));
        block_on(self.subscribe_readers(&text(&spec["region"]), &topic_arn, &spec["readers"]));
        self.clear_calls();
        Seeded {
            topic_arn,
            queue_url,
            detectors,
        }
    }

    /// The demo topic's people (`[[protocol, endpoint]]`), subscribed as `emuctl.py` does.
    async fn subscribe_readers(&self, region: &str, topic_arn: &str, readers: &Value) {
        let sdk = self.sdk_config().await;
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&sdk)
                .region(aws_config::Region::new(region.to_owned()))
                .build(),
        );
        for reader in readers.as_array().into_iter().flatten() {
            sns.subscribe()
                .topic_arn(topic_arn)
                .protocol(reader[0].as_str().unwrap_or_default())
                .endpoint(reader[1].as_str().unwrap_or_default())
                .send()
                .await
                .expect("Subscribe");
        }
    }

    /// What `emuctl.py seed` does (a detector in each region, the accounts in the
    /// organization with the member role the README recommends, the foreign accounts, the
    /// topic with its queue in us-east-1), done from here: a Python process with boto3 for
    /// each seed cost about 0.35 s of CPU per test.
    pub fn seed(
        &self,
        detector_regions: &[&str],
        accounts: &[(&str, &str, &str)],
        foreign: &[&str],
    ) -> Seeded {
        let regions: &[&str] = if detector_regions.is_empty() {
            &["us-east-1"]
        } else {
            detector_regions
        };
        let detectors = block_on(self.seed_detectors(regions));
        for (id, email, name) in accounts {
            let name = if name.is_empty() { id } else { name };
            self.control(
                "POST",
                "/_emulator/organizations/accounts",
                Some(json!({"accountId": id, "email": email, "name": name})),
            );
        }
        if !accounts.is_empty() {
            let ids: Vec<&str> = accounts.iter().map(|(id, _, _)| *id).collect();
            self.create_member_role(&ids, MEMBER_ROLE);
        }
        if !foreign.is_empty() {
            self.control(
                "POST",
                "/_emulator/guardduty/foreign-accounts",
                Some(json!({ "accountIds": foreign })),
            );
        }
        let (topic_arn, queue_url) = block_on(self.seed_topic());
        self.clear_calls();
        Seeded {
            topic_arn,
            queue_url,
            detectors,
        }
    }

    /// The administrator's detector in each region (one that exists is kept): {region: id}.
    async fn seed_detectors(&self, regions: &[&str]) -> Value {
        let sdk = self.sdk_config().await;
        let mut detectors = serde_json::Map::new();
        for region in regions {
            let guardduty = aws_sdk_guardduty::Client::from_conf(
                aws_sdk_guardduty::config::Builder::from(&sdk)
                    .region(aws_config::Region::new(region.to_string()))
                    .build(),
            );
            let existing = guardduty
                .list_detectors()
                .send()
                .await
                .expect("ListDetectors");
            let id = match existing.detector_ids().first() {
                Some(id) => id.clone(),
                None => guardduty
                    .create_detector()
                    .enable(true)
                    .send()
                    .await
                    .expect("CreateDetector")
                    .detector_id()
                    .unwrap_or_default()
                    .to_owned(),
            };
            detectors.insert(region.to_string(), Value::String(id));
        }
        Value::Object(detectors)
    }

    /// Writes (or overwrites) the SSM parameter `name` with `value`, of `kind` (String or
    /// SecureString): how a protection policy reaches the function.
    pub async fn put_parameter(
        &self,
        name: &str,
        value: &str,
        kind: aws_sdk_ssm::types::ParameterType,
    ) {
        aws_sdk_ssm::Client::new(&self.sdk_config().await)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(kind)
            .overwrite(true)
            .send()
            .await
            .expect("PutParameter");
    }

    /// An S3 client of this world (path-style, as the emulator serves buckets) and `bucket`
    /// created with it.
    pub async fn s3_with_bucket(&self, bucket: &str) -> aws_sdk_s3::Client {
        let sdk = self.sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("CreateBucket");
        s3
    }

    /// The last 30 days' cost GetUsageStatistics answers in `region`:
    /// `{accountId: {usage feature: USD}}`.
    pub fn seed_usage(&self, region: &str, costs: Value) {
        self.control(
            "POST",
            "/_emulator/guardduty/usage",
            Some(json!({"region": region, "costs": costs})),
        );
    }

    /// emuctl.py's topic and the queue subscribed to it, in us-east-1.
    async fn seed_topic(&self) -> (String, String) {
        self.subscribed_queue(
            "us-east-1",
            "guardduty-invite-problems",
            "guardduty-invite-problems-q",
        )
        .await
    }

    pub fn calls(&self) -> Vec<Value> {
        self.control("GET", "/_emulator/calls", None)["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn clear_calls(&self) {
        self.control("DELETE", "/_emulator/calls", None);
    }

    /// Calls of one operation (optionally in one region).
    pub fn calls_of(&self, operation: &str, region: Option<&str>) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["operation"] == operation && region.is_none_or(|r| c["region"] == r))
            .collect()
    }

    /// The operations of every call that is not a read (List*, Get*, Describe*), in order:
    /// what a dry run or a replay must leave empty.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter_map(|c| c["operation"].as_str())
            .filter(|o| !["List", "Get", "Describe"].iter().any(|p| o.starts_with(p)))
            .map(str::to_owned)
            .collect()
    }

    /// AWS calls made with a given account's credentials (the member side).
    pub fn calls_by(&self, account: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["account"] == account)
            .collect()
    }

    /// The most AWS calls the emulator has served at once since the last reset of the count.
    pub fn peak_in_flight(&self) -> u64 {
        self.control("GET", "/_emulator/inflight", None)["peak"]
            .as_u64()
            .unwrap_or_default()
    }

    pub fn reset_in_flight(&self) {
        self.control("DELETE", "/_emulator/inflight", None);
    }

    /// Creates a GuardDuty detector inside a member account, through the role assumed there.
    pub async fn create_member_detector(&self, account: &str, region: &str) -> String {
        let sdk = self.sdk_config().await;
        let sts = aws_sdk_sts::Client::new(&sdk);
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/GuardDutyInviteMember"))
            .role_session_name("tests")
            .send()
            .await
            .expect("AssumeRole");
        let c = out.credentials().expect("credentials");
        let conf = aws_sdk_guardduty::config::Builder::from(&sdk)
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_guardduty::config::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "tests",
            ))
            .build();
        aws_sdk_guardduty::Client::from_conf(conf)
            .create_detector()
            .enable(true)
            .send()
            .await
            .expect("CreateDetector")
            .detector_id()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn fault(&self, rule: Value) {
        self.control("POST", "/_emulator/faults", Some(rule));
    }

    pub fn clear_faults(&self) {
        self.control("DELETE", "/_emulator/faults", None);
    }

    pub fn mark_organization_accounts(&self, ids: &[&str]) {
        self.control(
            "POST",
            "/_emulator/guardduty/organization-accounts",
            Some(json!({ "accountIds": ids })),
        );
    }

    pub fn set_member_status(&self, region: &str, detector: &str, account: &str, status: &str) {
        self.control(
            "POST",
            "/_emulator/guardduty/member-status",
            Some(json!({"region": region, "detectorId": detector, "accountId": account, "relationshipStatus": status, "email": format!("{account}@example.com")})),
        );
    }

    /// Puts accounts in the organization: (id, status such as ACTIVE), email and name from
    /// the id.
    pub fn org_accounts(&self, ids: &[(&str, &str)]) {
        let accounts: Vec<Value> = ids
            .iter()
            .map(|(id, status)| {
                json!({"accountId": id, "email": format!("acct-{id}@example.com"), "name": format!("acct-{id}"), "status": status})
            })
            .collect();
        self.control(
            "POST",
            "/_emulator/organizations/accounts",
            Some(json!({ "accounts": accounts })),
        );
    }

    /// Creates the IAM role `role` in each account (the emulator's STS lets only an existing
    /// role be assumed; `seed` creates GuardDutyInviteMember in its organization accounts).
    pub fn create_member_role(&self, accounts: &[&str], role: &str) {
        self.control(
            "POST",
            "/_emulator/iam/roles",
            Some(json!({"accountIds": accounts, "roleName": role})),
        );
    }

    /// Makes `account` a member of the seeded administrator in `region` with `status`.
    pub fn put_member(
        &self,
        seeded: &Seeded,
        region: &str,
        account: &str,
        status: &str,
        invited_at: Option<&str>,
    ) {
        let mut body = json!({"region": region, "detectorId": seeded.detector(region), "accountId": account,
                              "relationshipStatus": status, "email": format!("acct-{account}@example.com")});
        if let Some(at) = invited_at {
            body["invitedAt"] = json!(at);
        }
        self.control("POST", "/_emulator/guardduty/member-status", Some(body));
    }

    /// Sets `features` ([{name, status, additionalConfiguration?}]) of a member in `region`,
    /// one at a time (the emulator refuses the two runtime plans together, as GuardDuty does).
    pub fn set_member_features(&self, region: &str, account: &str, features: Value) {
        for f in features.as_array().into_iter().flatten() {
            self.control(
                "POST",
                "/_emulator/guardduty/member-features",
                Some(json!({"region": region, "accountId": account, "features": [f]})),
            );
        }
    }

    /// Sets one plan (`name`) of a member in `region` to `status`.
    pub fn set_plan(&self, region: &str, account: &str, name: &str, status: &str) {
        self.set_member_features(region, account, json!([{"name": name, "status": status}]));
    }

    /// The emulator's record of one member, or Null.
    pub fn member(&self, region: &str, detector: &str, account: &str) -> Value {
        self.control("GET", "/_emulator/guardduty/members", None)["members"][region][detector]
            [account]
            .clone()
    }

    /// The environment `invoke` needs to reach this emulator.
    pub fn env(&self, seeded: &Seeded, regions: &[&str]) -> Vec<(String, String)> {
        function_env(&self.endpoint, &seeded.topic_arn, regions)
    }

    /// The function's own SDK configuration (retries, timeouts), pointed at this emulator.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        guardduty_invite::aws::sdk_config_loader()
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await
    }

    /// [`Emulator::received_sns`] for tests that are not async.
    pub fn received_sns_blocking(&self, queue_url: &str) -> Vec<Value> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(self.received_sns(queue_url))
    }

    /// SNS messages delivered to the subscribed queue: the SNS envelopes, deleted on receipt.
    pub async fn received_sns(&self, queue_url: &str) -> Vec<Value> {
        self.received_sns_in("us-east-1", queue_url).await
    }
}

/// Runs a future to its end on a thread of its own, so that sync helpers can be called from
/// async tests as well (a runtime cannot block inside another).
fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(future)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `reconcile` (`--dry-run` when asked) through the real binary, and its JSON summary.
pub fn reconcile(env: &[(String, String)], dry_run: bool) -> (Output, Value) {
    let args: &[&str] = if dry_run {
        &["reconcile", "--dry-run"]
    } else {
        &["reconcile"]
    };
    let out = run_binary(env, args);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, summary)
}

/// One region's summary in a reconcile's.
pub fn region_summary<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["regions"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["region"] == name))
        .unwrap_or_else(|| panic!("no {name} in {summary}"))
}

/// The function's environment for an endpoint, a topic and regions, with dummy credentials.
pub fn function_env(endpoint: &str, topic_arn: &str, regions: &[&str]) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("SNS_TOPIC_ARN", topic_arn),
        ("GUARDDUTY_REGIONS", &regions.join(",")),
        // Unpaced, as the emulator's buckets are off by default: paced at AWS's rates, 81
        // tests of 9 areas took 137 s instead of 43 s. The tests of the rates set their own.
        ("API_RATE_LIMITS", "*=100000/100000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The real binary, through `invoke`, with exactly the given environment (plus PATH).
pub fn invoke(env: &[(String, String)], files: &[&Path]) -> Output {
    let mut args = vec![std::ffi::OsStr::new("invoke")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    run_binary(env, &args)
}

/// The real binary with these arguments and exactly the given environment (plus PATH).
pub fn run_binary<S: AsRef<std::ffi::OsStr>>(env: &[(String, String)], args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guardduty-invite"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("run guardduty-invite")
}

/// The JSON body of an SNS notification, from the envelope SQS received.
pub fn sns_body(envelope: &Value) -> Value {
    serde_json::from_str(envelope["Message"].as_str().unwrap_or_default()).expect("JSON body")
}

/// Every entry of `field` (`problems` or `drift`) over the bodies of SNS notifications.
pub fn sns_entries(messages: &[Value], field: &str) -> Vec<Value> {
    messages
        .iter()
        .flat_map(|m| sns_body(m)[field].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The JSON lines `invoke` printed on stdout.
pub fn responses(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line {l:?}: {e}")))
        .collect()
}

pub fn sample(name: &str) -> PathBuf {
    repo().join("events").join(name)
}

pub fn sample_json(name: &str) -> Value {
    let path = sample(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes an event to a temporary file, removed when the returned path is dropped.
pub fn event_file(contents: &str) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new()
        .prefix("guardduty-invite-event-")
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    file.write_all(contents.as_bytes()).expect("write event");
    file.into_temp_path()
}

/// Every sample in `events/`, by file name, in name order.
pub fn samples() -> Vec<(String, Value)> {
    let mut samples: Vec<(String, Value)> = std::fs::read_dir(repo().join("events"))
        .expect("events/ exists")
        .map(|e| e.expect("read events/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name.clone(), sample_json(&name))
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    samples
}

pub fn manual_request(id: &str, accounts: Value) -> String {
    json!({
        "version": "0", "id": id, "detail-type": "GuardDuty Invite Request", "source": "tests",
        "account": ADMIN_ACCOUNT, "time": "2026-11-26T09:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"accounts": accounts}
    })
    .to_string()
}

/// The outcome for an account in a region in a response.
pub fn outcome<'a>(response: &'a Value, account: &str, region: &str) -> &'a Value {
    response["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["accountId"] == account))
        .and_then(|a| a["regions"].as_array())
        .and_then(|r| r.iter().find(|x| x["region"] == region))
        .unwrap_or_else(|| panic!("no outcome for {account} in {region}: {response}"))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What the tests read from the call log and the switches beyond the basics above.
impl Emulator {
    /// The next `times` calls of `operation` that include any of `accounts` report them
    /// unprocessed with `result` and leave them untouched.
    pub fn unprocessed(&self, operation: &str, accounts: &[&str], result: &str, times: u32) {
        self.control(
            "POST",
            "/_emulator/guardduty/unprocessed",
            Some(json!({"operation": operation, "accountIds": accounts, "result": result, "times": times})),
        );
    }

    /// The same with GuardDuty's "Internal error".
    pub fn internal_error(&self, operation: &str, accounts: &[&str], times: u32) {
        self.control(
            "POST",
            "/_emulator/guardduty/internal-error",
            Some(json!({"operation": operation, "accountIds": accounts, "times": times})),
        );
    }

    /// Calls of `operation` in `region` whose request named `account`.
    pub fn calls_for(&self, operation: &str, region: &str, account: &str) -> Vec<Value> {
        self.calls_of(operation, Some(region))
            .into_iter()
            .filter(|c| {
                c["accountIds"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().any(|id| id == account))
            })
            .collect()
    }

    /// InviteMembers requests for `account` in `region` that GuardDuty acted on: see
    /// [`invitation_requests`].
    pub fn served_invites(&self, region: &str, account: &str) -> usize {
        invitation_requests(&self.calls())
            .get(&(account.to_owned(), region.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// An SNS topic with an SQS queue subscribed to it in `region`, both FIFO when `name`
    /// ends in `.fifo`: (topic ARN, queue URL).
    pub async fn topic_with_queue(&self, region: &str, name: &str) -> (String, String) {
        self.subscribed_queue(region, name, name).await
    }

    /// The topic `topic` and the queue `queue` in `region` (FIFO when the topic's name ends in
    /// `.fifo`), the queue subscribed to the topic once: seeding the same world again
    /// subscribes nothing more, as emuctl.py does.
    async fn subscribed_queue(&self, region: &str, topic: &str, queue: &str) -> (String, String) {
        let sdk = self.sdk_config().await;
        let region = aws_config::Region::new(region.to_owned());
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&sdk)
                .region(region.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .region(region)
                .build(),
        );
        let mut create_topic = sns.create_topic().name(topic);
        let mut create_queue = sqs.create_queue().queue_name(queue);
        if topic.ends_with(".fifo") {
            create_topic = create_topic.attributes("FifoTopic", "true");
            create_queue =
                create_queue.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        let topic_arn = create_topic
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn()
            .unwrap_or_default()
            .to_owned();
        let queue_url = create_queue
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        let queue_arn = queue_arn(&sqs, &queue_url).await;
        let subscribed = sns
            .list_subscriptions_by_topic()
            .topic_arn(&topic_arn)
            .send()
            .await
            .expect("ListSubscriptionsByTopic")
            .subscriptions()
            .iter()
            .any(|s| s.endpoint() == Some(queue_arn.as_str()));
        if !subscribed {
            sns.subscribe()
                .topic_arn(&topic_arn)
                .protocol("sqs")
                .endpoint(queue_arn)
                .send()
                .await
                .expect("Subscribe");
        }
        (topic_arn, queue_url)
    }

    /// [`Emulator::received_sns`] for a queue in another region.
    pub async fn received_sns_in(&self, region: &str, queue_url: &str) -> Vec<Value> {
        let sdk = self.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .region(aws_config::Region::new(region.to_owned()))
                .build(),
        );
        let mut out = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("ReceiveMessage");
            if got.messages().is_empty() {
                return out;
            }
            for m in got.messages() {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("SNS envelope"));
                if let Some(h) = m.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(h)
                        .send()
                        .await
                        .expect("DeleteMessage");
                }
            }
        }
    }
}

/// The text GuardDuty gives, in UnprocessedAccounts, for an account that is not its member.
pub const NOT_MEMBER: &str = "The request is rejected because the given account ID is not an associated member of account the current account.";

/// InviteMembers requests per (account, region) in a call log that GuardDuty acted on: all
/// but those an injected throttle or 500 answered before serving (a lost response was served:
/// it took effect) and those answered "Internal error" for the account (left untouched, so
/// asking again is right). A request refused as "already invited" counts: the function asked
/// to invite again, whether or not GuardDuty would have sent a second email.
pub fn invitation_requests(calls: &[Value]) -> std::collections::HashMap<(String, String), usize> {
    let mut out = std::collections::HashMap::new();
    for c in calls {
        let served = c["fault"].is_null() || c["fault"] == "lost_response";
        if c["operation"] != "InviteMembers" || !served {
            continue;
        }
        for id in c["accountIds"].as_array().into_iter().flatten() {
            let id = id.as_str().unwrap_or_default();
            if c["unprocessed"][id] == "Internal error" {
                continue;
            }
            let region = c["region"].as_str().unwrap_or_default();
            *out.entry((id.to_owned(), region.to_owned())).or_default() += 1;
        }
    }
    out
}

/// What `emuctl.py demo-world` prints: the demo world, as emuctl.py seeds it.
fn demo_world_spec() -> &'static Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let out = Command::new(python())
            .arg(repo().join("testsupport/emuctl.py"))
            .arg("demo-world")
            .output()
            .expect("run emuctl demo-world");
        assert!(
            out.status.success(),
            "emuctl demo-world failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("emuctl demo-world's JSON")
    })
}

/// A queue's ARN, as SQS gives it.
async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default()
}
