#!/usr/bin/env python3
"""Drive the loopback AWS emulator (testsupport/emulator.py) for the demo and by hand.

  emuctl.py [--endpoint URL] seed [--region us-east-1] [--detector-regions us-east-1,us-west-2]
            [--account ID:EMAIL:NAME]... [--foreign ID]...
            [--member-role NAME | --no-member-role]
      Create a GuardDuty detector (Enable=true) in each detector region (reusing one that
      exists), put the accounts into the organization (DescribeAccount then answers with that
      email and name), create the member role (--member-role, default GuardDutyInviteMember,
      the name the README recommends; none with --no-member-role) in each of them, mark the
      foreign accounts as another administrator's (no role in them), and create the SNS topic
      guardduty-invite-problems with the SQS queue guardduty-invite-problems-q subscribed to
      it. Prints {"topicArn", "queueUrl", "detectors": {region: id}} on stdout.
  emuctl.py [--endpoint URL] seed --demo-world
      Seed the world scripts/demo uses (into the emulator as it is: a second seed keeps the
      members, members' plans and messages of earlier runs; stop and start the emulator for a
      fresh world), in which every sample in events/ does what its name
      says when run by hand (`guardduty-invite invoke events/X.json`, with MEMBER_ROLE_NAME
      the seeded member role, GuardDutyInviteMember unless --member-role says): the administrator
      123456789012 (the organization's management account) with detectors in us-east-1 and
      eu-west-1, the topic and queue above in us-east-1, and these accounts:
        111122223333  new.account@example.com, "Payments-Prod", in the root: the account of
                      organizations-create-account-result-succeeded.json and invite-check.json,
                      and the entry without an email of manual-invite-request.json
        222233334444  ct.account@example.com, "Workloads-Prod", in the OU "Workloads": the
                      account of controltower-create-managed-account.json and
                      controltower-update-managed-account.json
        333344445555  joined@example.com, "Acquired-Co", joined by invitation (INVITED,
                      2024-02-01): named by no event, found only by a reconcile
                      (reconcile-request.json, reconcile-dry-run.json)
        555566667777  partner-security@example.net, "Partner Audit", joined by invitation
                      (INVITED, 2025-06-01): the entry with an email of
                      manual-invite-request.json
        444455556666  outside the organization, already a member of another GuardDuty
                      administrator: manual-invite-foreign-account.json ends as a problem on
                      SNS
      and GuardDuty's last-30-days cost per account and usage feature in both regions
      (DEMO_USAGE, what GetUsageStatistics answers: the coverage report's cost).
      (organizations-create-account-result-failed.json and
      organizations-create-account-api-call.json name no account.) The topic also has the
      people's subscribers: the email security-team@example.com and the chat channel
      https://chat.example.com/guardduty (standing for Amazon Q Developer in chat
      applications); `deliveries` prints what they got. Prints the same JSON as seed. Cannot be combined with the other seed options but --member-role and
      --no-member-role.
  emuctl.py demo-world
      Print what seed --demo-world seeds, as JSON (region, detectorRegions, ous, accounts,
      foreign, usage, readers, memberRole), for callers that seed it themselves (the tests,
      without a boto3 process per world). Needs no emulator.
  emuctl.py receive --queue-url URL [--wait 2]
      Receive (and delete) every message on the queue; print each SNS envelope's Subject,
      MessageAttributes and the Message JSON, pretty.
  emuctl.py deliveries [--protocol email|email-json|https|http]
      Print what SNS delivered to the topic's email and HTTPS subscribers: each one's subject
      and body (email: the text a person reads; the others: the envelope's Message).
  emuctl.py calls
      Count the AWS calls the emulator has seen, per operation and region.
  emuctl.py members
      Print each administrator's GuardDuty member table per region: account, relationship
      status and the features set with UpdateMemberDetectors, each feature's additional
      configuration in parentheses, e.g.
      RUNTIME_MONITORING=ENABLED(EC2_AGENT_MANAGEMENT=ENABLED,EKS_ADDON_MANAGEMENT=ENABLED).
  emuctl.py start [--port 0] [--pid-file .venv/emulator.pid]
      Start the emulator in the background (its output goes to the pid file's name with
      .log), wait until /_emulator/health answers (30 s at most), write the pid file and print
      `export AWS_ENDPOINT_URL=http://127.0.0.1:PORT`, so `eval "$(emuctl.py start)"` points
      the shell at it. --port 0 picks a free port.
  emuctl.py stop [--pid-file .venv/emulator.pid]
      Stop the emulator that `start` started (SIGTERM, then SIGKILL after 10 s) and remove
      the pid file.

The endpoint is --endpoint or AWS_ENDPOINT_URL (not needed by start and stop); credentials
default to testing/testing; pid files are relative to the repository root.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import boto3
import botocore.exceptions

TOPIC = "guardduty-invite-problems"
MEMBER_ROLE = "GuardDutyInviteMember"  # the member role the README recommends
QUEUE = "guardduty-invite-problems-q"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_PID_FILE = ".venv/emulator.pid"
START_TIMEOUT = 30


def control(endpoint, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


# The demo world (see the docstring): what `seed --demo-world` seeds.
DEMO_REGION = "us-east-1"
DEMO_DETECTOR_REGIONS = "us-east-1,eu-west-1"
DEMO_OUS = ["Workloads"]
DEMO_ACCOUNTS = [
    {"accountId": "111122223333", "email": "new.account@example.com", "name": "Payments-Prod"},
    {"accountId": "222233334444", "email": "ct.account@example.com", "name": "Workloads-Prod", "ou": "Workloads"},
    {"accountId": "333344445555", "email": "joined@example.com", "name": "Acquired-Co",
     "joinedMethod": "INVITED", "joinedAt": "2024-02-01T00:00:00Z"},
    {"accountId": "555566667777", "email": "partner-security@example.net", "name": "Partner Audit",
     "joinedMethod": "INVITED", "joinedAt": "2025-06-01T00:00:00Z"},
]
DEMO_FOREIGN = ["444455556666"]
# The demo topic's people: an email and a chat channel (SNS does not subscribe one twice).
DEMO_READERS = [("email", "security-team@example.com"), ("https", "https://chat.example.com/guardduty")]
# What GetUsageStatistics answers in the demo world: region -> {account: {usage feature: USD}}.
DEMO_USAGE = {
    "us-east-1": {
        "111122223333": {"CLOUD_TRAIL": 4.10, "FLOW_LOGS": 6.35, "DNS_LOGS": 1.20,
                         "S3_DATA_EVENTS": 12.40, "EC2_RUNTIME_MONITORING": 18.75},
        "222233334444": {"CLOUD_TRAIL": 2.05, "FLOW_LOGS": 9.80, "DNS_LOGS": 0.95,
                         "S3_DATA_EVENTS": 3.30, "EKS_RUNTIME_MONITORING": 22.60},
        "333344445555": {"CLOUD_TRAIL": 1.15, "FLOW_LOGS": 0.80, "S3_DATA_EVENTS": 0.45},
        "555566667777": {"CLOUD_TRAIL": 0.35},
    },
    "eu-west-1": {
        "111122223333": {"CLOUD_TRAIL": 1.40, "FLOW_LOGS": 2.10, "S3_DATA_EVENTS": 4.25},
        "222233334444": {"CLOUD_TRAIL": 0.90, "FLOW_LOGS": 3.75, "EC2_RUNTIME_MONITORING": 7.10},
    },
}


def demo_world_spec(args, client):
    """demo-world: what seed --demo-world seeds, as one JSON document."""
    print(json.dumps({"region": DEMO_REGION, "detectorRegions": DEMO_DETECTOR_REGIONS.split(","),
                      "ous": DEMO_OUS, "accounts": DEMO_ACCOUNTS, "foreign": DEMO_FOREIGN,
                      "usage": DEMO_USAGE, "readers": DEMO_READERS, "memberRole": MEMBER_ROLE,
                      "topic": TOPIC, "queue": QUEUE}))


def demo_world(args):
    """Turn the seed arguments into the demo world's, and put its OUs and accounts."""
    if args.account or args.foreign or args.detector_regions or args.region != DEMO_REGION:
        sys.exit("emuctl: seed --demo-world takes no --account, --foreign, --region or --detector-regions")
    args.region, args.detector_regions, args.foreign = DEMO_REGION, DEMO_DETECTOR_REGIONS, DEMO_FOREIGN
    ous = {name: control(args.endpoint, "POST", "/_emulator/organizations/ous", {"name": name})["id"]
           for name in DEMO_OUS}
    accounts = []
    for spec in DEMO_ACCOUNTS:
        account = {k: v for k, v in spec.items() if k != "ou"}
        if "ou" in spec:
            account["parentId"] = ous[spec["ou"]]
        accounts.append(account)
    control(args.endpoint, "POST", "/_emulator/organizations/accounts", {"accounts": accounts})
    for region, costs in DEMO_USAGE.items():
        control(args.endpoint, "POST", "/_emulator/guardduty/usage", {"region": region, "costs": costs})
    return [spec["accountId"] for spec in DEMO_ACCOUNTS]


def seed(args, client):
    organization = demo_world(args) if args.demo_world else []
    detectors = {}
    for region in [r.strip() for r in (args.detector_regions or args.region).split(",") if r.strip()]:
        guardduty = client("guardduty", region)
        existing = guardduty.list_detectors()["DetectorIds"]
        detectors[region] = existing[0] if existing else guardduty.create_detector(Enable=True)["DetectorId"]
    for spec in args.account:
        account_id, email, name = (spec.split(":", 2) + ["", ""])[:3]
        control(args.endpoint, "POST", "/_emulator/organizations/accounts",
                {"accountId": account_id, "email": email, "name": name or account_id})
        organization.append(account_id)
    if organization and args.member_role:
        control(args.endpoint, "POST", "/_emulator/iam/roles",
                {"accountIds": organization, "roleName": args.member_role})
    if args.foreign:
        control(args.endpoint, "POST", "/_emulator/guardduty/foreign-accounts", {"accountIds": args.foreign})
    sns, sqs = client("sns", args.region), client("sqs", args.region)
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscribed = any(s["Endpoint"] == queue_arn for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"])
    if not subscribed:
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    if args.demo_world:
        for protocol, endpoint in DEMO_READERS:
            sns.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint)
    print(json.dumps({"topicArn": topic_arn, "queueUrl": queue_url, "detectors": detectors}))


def receive(args, client):
    sqs = client("sqs", args.region)
    wait = args.wait
    while True:
        messages = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=wait, MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return
        wait = 0  # the first receive waits; afterwards take only what is already there
        for message in messages:
            envelope = json.loads(message["Body"])
            try:
                body = json.loads(envelope.get("Message", ""))
            except ValueError:
                body = envelope.get("Message")
            print(f"Subject: {envelope.get('Subject')}")
            print(f"MessageAttributes: {json.dumps(envelope.get('MessageAttributes', {}), sort_keys=True)}")
            print("Message: " + json.dumps(body, indent=2, sort_keys=True))
            sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=message["ReceiptHandle"])


def deliveries(args, client):
    for d in control(args.endpoint, "GET", "/_emulator/sns/deliveries")["deliveries"]:
        if args.protocol and d["protocol"] != args.protocol:
            continue
        print(f"--- {d['protocol']} to {d['endpoint']}")
        print(f"Subject: {d['subject']}")
        if d["protocol"] == "email":
            print(d["body"])
            continue
        message = json.loads(d["body"]).get("Message", "")
        try:
            print(json.dumps(json.loads(message), indent=2, ensure_ascii=False))
        except ValueError:
            print(message)


def calls(args, client):
    log = control(args.endpoint, "GET", "/_emulator/calls")["calls"]
    for (operation, region), n in sorted(Counter((c["operation"], c["region"]) for c in log).items()):
        print(f"{n:5d}  {operation:32s} {region}")


def members(args, client):
    snapshot = control(args.endpoint, "GET", "/_emulator/guardduty/members")["members"]
    for region, detectors in sorted(snapshot.items()):
        for detector_id, table in sorted(detectors.items()):
            admin = next(iter(table.values()), {}).get("administratorId", "?")
            print(f"{region}  detector {detector_id}  administrator {admin}  ({len(table)} members)")
            for account, member in sorted(table.items()):
                print(f"  {account}  {member['relationshipStatus']:28s} {feature_text(member)}")


def feature_text(member):
    """S3_DATA_EVENTS=ENABLED,RUNTIME_MONITORING=ENABLED(EKS_ADDON_MANAGEMENT=ENABLED,...), or -."""
    extra = member.get("additionalConfiguration", {})
    parts = []
    for name, status in sorted(member.get("features", {}).items()):
        configs = ",".join(f"{k}={v}" for k, v in sorted(extra.get(name, {}).items()))
        parts.append(f"{name}={status}" + (f"({configs})" if configs else ""))
    return ",".join(parts) or "-"


def python():
    """The repository's venv Python (it has moto), else this one."""
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def pid_path(args):
    return REPO / args.pid_file


def running_pid(pid_file):
    """The pid in pid_file if that process is alive and is an emulator, else None."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"emulator.py" in cmdline else None


def healthy(endpoint):
    try:
        return control(endpoint, "GET", "/_emulator/health").get("ok") is True
    except (OSError, ValueError):
        return False


def start(args, client):
    pid_file = pid_path(args)
    pid = running_pid(pid_file)
    if pid:
        sys.exit(f"emuctl: an emulator is already running (pid {pid}, {pid_file}); stop it first")
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    log_file = pid_file.with_suffix(".log")
    with open(log_file, "w") as log:
        process = subprocess.Popen(
            [python(), str(REPO / "testsupport" / "emulator.py"), "--port", str(args.port),
             "--ignore-stdin"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    endpoint = None
    while time.monotonic() < deadline and process.poll() is None:
        if endpoint is None:
            ready = [l for l in log_file.read_text().splitlines() if l.startswith("READY ")]
            endpoint = ready[0].split()[1] if ready else None
        if endpoint and healthy(endpoint):
            pid_file.write_text(f"{process.pid}\n")
            print(f"export AWS_ENDPOINT_URL={endpoint}")
            print(f"emuctl: emulator pid {process.pid} at {endpoint}, log {log_file}", file=sys.stderr)
            return
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
        process.wait()
        sys.exit(f"emuctl: the emulator did not answer /_emulator/health within {START_TIMEOUT} s; see {log_file}")
    sys.exit(f"emuctl: the emulator exited with status {process.returncode}; see {log_file}")


def stop(args, client):
    pid_file = pid_path(args)
    pid = running_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        print(f"emuctl: no emulator running for {pid_file}", file=sys.stderr)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while running_pid(pid_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    if running_pid(pid_file):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    print(f"emuctl: stopped emulator pid {pid}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("seed", help="detectors, organization accounts, topic and queue")
    p.add_argument("--region", default="us-east-1", help="region of the topic and queue")
    p.add_argument("--detector-regions", default=None, help="comma-separated; default --region")
    p.add_argument("--account", action="append", default=[], metavar="ID:EMAIL:NAME")
    p.add_argument("--foreign", action="append", default=[], metavar="ID")
    roles = p.add_mutually_exclusive_group()
    roles.add_argument("--member-role", default=MEMBER_ROLE, metavar="NAME",
                       help=f"role created in every seeded organization account (default {MEMBER_ROLE})")
    roles.add_argument("--no-member-role", dest="member_role", action="store_const", const=None,
                       help="create no member role")
    p.add_argument("--demo-world", action="store_true",
                   help="seed the world of scripts/demo and events/ (see the module docstring)")
    p = commands.add_parser("receive", help="print and delete the queue's SNS messages")
    p.add_argument("--queue-url", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--wait", type=int, default=2, help="seconds the first receive waits")
    p = commands.add_parser("deliveries", help="print what the topic's email and HTTPS subscribers got")
    p.add_argument("--protocol", choices=["email", "email-json", "http", "https"], default=None)
    commands.add_parser("demo-world", help="print what seed --demo-world seeds, as JSON")
    commands.add_parser("calls", help="count the emulator's calls per operation and region")
    commands.add_parser("members", help="print the GuardDuty member tables per region")
    p = commands.add_parser("start", help="start the emulator in the background")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--pid-file", default=DEFAULT_PID_FILE)
    p = commands.add_parser("stop", help="stop the emulator that start started")
    p.add_argument("--pid-file", default=DEFAULT_PID_FILE)
    args = parser.parse_args(argv)
    if not args.endpoint and args.command not in ("start", "stop", "demo-world"):
        parser.error("no endpoint: pass --endpoint or set AWS_ENDPOINT_URL")

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"))

    def client(service, region):
        return session.client(service, region_name=region, endpoint_url=args.endpoint)

    command = {"seed": seed, "receive": receive, "deliveries": deliveries, "calls": calls, "members": members, "start": start,
               "stop": stop, "demo-world": demo_world_spec}[args.command]
    try:
        command(args, client)
    except (urllib.error.URLError, ConnectionError, botocore.exceptions.EndpointConnectionError) as e:
        # A stopped emulator is the usual cause: one line that says so, not a traceback.
        reason = getattr(e, "reason", None) or e
        sys.exit(f"emuctl: no emulator answers at {args.endpoint} ({reason}); "
                 f"start one with: eval \"$(.venv/bin/python testsupport/emuctl.py start)\"")


if __name__ == "__main__":
    sys.exit(main())
