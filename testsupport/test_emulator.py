#!/usr/bin/env python3
"""Self-check of the loopback AWS emulator: starts testsupport/emulator.py and drives it with
boto3 and its control API.

    .venv/bin/python testsupport/test_emulator.py [-v] [TestCase.test_name ...]
"""

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
ADMIN = "123456789012"
REGION = "us-east-1"
CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False)
SERVER = {}
NOT_DELEGATED_ADMIN = "The request failed because you do not have required AWS Organization master permission."
DETECTOR_EXISTS = "The request is rejected because a detector already exists for the current account."
NOT_MEMBER = ("The request is rejected because the given account ID is not an associated "
              "member of account the current account.")


def setUpModule():
    process = subprocess.Popen([sys.executable, str(HERE / "emulator.py"), "--port", "0"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("READY "), line
    SERVER.update(process=process, endpoint=line.split()[1])


def tearDownModule():
    SERVER["process"].stdin.close()
    SERVER["process"].wait(timeout=10)


def control(method, path, body=None, expect=200):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(SERVER["endpoint"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload = response.status, json.load(response)
    except urllib.error.HTTPError as e:
        status, payload = e.code, json.load(e)
    assert status == expect, (method, path, status, payload)
    return payload


# One boto3 session for every client: a session loads the service models once, so a new
# client (other credentials) costs milliseconds instead of a model load.
BOTO = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
CLIENTS = {}


def session(key="testing", secret="testing", token=None):
    """Credentials for client(): (access key, secret key, session token)."""
    return key, secret, token


def client(service, region=REGION, creds=None):
    creds = creds or session()
    if (service, region, creds) not in CLIENTS:
        CLIENTS[service, region, creds] = BOTO.client(
            service, region_name=region, endpoint_url=SERVER["endpoint"], config=CONFIG,
            aws_access_key_id=creds[0], aws_secret_access_key=creds[1], aws_session_token=creds[2])
    return CLIENTS[service, region, creds]


MEMBER_ROLE = "GuardDutyInviteMember"


def assume(account, role=MEMBER_ROLE):
    """Credentials of `role` in `account`, the role created first (AssumeRole needs it)."""
    control("POST", "/_emulator/iam/roles", {"accountId": account, "roleName": role})
    c = client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                                  RoleSessionName="selfcheck")["Credentials"]
    return session(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def error_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError(f"{call} succeeded")


def results(response):
    return {u["AccountId"]: u["Result"] for u in response["UnprocessedAccounts"]}


def detail(account):
    return {"AccountId": account, "Email": f"root+{account}@example.com"}


class EmulatorTest(unittest.TestCase):
    # The request-rate throttle (off by default but for GetFindings): on for its own checks.
    THROTTLED = False

    def setUp(self):
        control("POST", "/_emulator/reset")
        if self.THROTTLED:
            control("POST", "/_emulator/throttle", {"enabled": True})
        self.gd = client("guardduty")
        self.detector = self.gd.create_detector(Enable=True)["DetectorId"]

    def member(self, account, detector=None, region=REGION):
        return control("GET", "/_emulator/guardduty/members")["members"][region][detector or self.detector][account]


class InFlightAndFaults(EmulatorTest):
    def test_inflight_counts_delayed_requests(self):
        control("POST", "/_emulator/faults", {"operation": "ListTopics", "kind": "delay", "delay_ms": 3000, "times": 3})
        sns = client("sns")
        threads = [threading.Thread(target=sns.list_topics) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 2.5
        while (during := control("GET", "/_emulator/inflight"))["current"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        for t in threads:
            t.join()
        self.assertEqual(during, {"current": 3, "peak": 3})
        self.assertEqual(control("GET", "/_emulator/inflight"), {"current": 0, "peak": 3})
        self.assertEqual(control("DELETE", "/_emulator/inflight"), {"current": 0, "peak": 0})
        sns.list_topics()
        self.assertEqual(control("GET", "/_emulator/inflight")["peak"], 1)
        control("POST", "/_emulator/reset")
        self.assertEqual(control("GET", "/_emulator/inflight"), {"current": 0, "peak": 0})

    def test_lost_response_takes_effect_then_answers_500(self):
        self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail("111122223333")])
        control("POST", "/_emulator/faults", {"operation": "InviteMembers", "kind": "lost_response", "times": 1})
        status, code, _ = error_of(self.gd.invite_members, DetectorId=self.detector, AccountIds=["111122223333"])
        self.assertEqual((status, code), (500, "InternalServerErrorException"))
        m = self.member("111122223333")
        self.assertEqual((m["invitations"], m["relationshipStatus"]), (1, "EmailVerificationInProgress"))
        call = control("GET", "/_emulator/calls")["calls"][-1]
        self.assertEqual((call["fault"], call["status"], call["servedStatus"], call["account"]),
                         ("lost_response", 500, 200, ADMIN))
        again = self.gd.invite_members(DetectorId=self.detector, AccountIds=["111122223333"])
        self.assertIn("already invited", results(again)["111122223333"])
        # query protocol
        control("POST", "/_emulator/faults", {"operation": "CreateTopic", "kind": "lost_response", "times": 1})
        sns = client("sns")
        self.assertEqual(error_of(sns.create_topic, Name="t")[:2], (500, "InternalError"))
        self.assertEqual(len(sns.list_topics()["Topics"]), 1)


def signed(service):
    """An Authorization header the emulator reads the caller and the service from."""
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=0"}


class Connections(EmulatorTest):
    """A connection serves request after request, as AWS endpoints keep theirs open."""

    @staticmethod
    def address():
        host, port = SERVER["endpoint"].removeprefix("http://").split(":")
        return host, int(port)

    def connect(self):
        return http.client.HTTPConnection(*self.address(), timeout=10)

    def test_requests_share_one_connection(self):
        conn = self.connect()
        ports = set()
        for _ in range(3):
            conn.request("GET", "/detector", headers=signed("guardduty"))
            response = conn.getresponse()
            self.assertEqual(json.load(response)["detectorIds"], [self.detector])
            self.assertIsNone(response.getheader("Connection"))
            ports.add(conn.sock.getsockname()[1])
        conn.close()
        self.assertEqual(len(ports), 1, "each request came on a new connection")

    def test_a_chunked_body_ends_where_the_next_request_starts(self):
        conn = self.connect()
        body = json.dumps({"operation": "ListDetectors", "kind": "throttle", "times": 1}).encode()
        conn.request("POST", "/_emulator/faults", body=iter([body[:10], body[10:]]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        self.assertEqual(json.load(conn.getresponse())["kind"], "throttle")
        conn.request("GET", "/detector", headers=signed("guardduty"))
        throttled = conn.getresponse()
        self.assertEqual((throttled.status, json.load(throttled)["__type"]),
                         (429, "ThrottlingException"))  # the rule the chunked body set
        conn.request("GET", "/detector", headers=signed("guardduty"))
        self.assertEqual(json.load(conn.getresponse())["detectorIds"], [self.detector])
        conn.close()

    def test_head_answer_keeps_the_object_length_and_the_connection(self):
        s3 = client("s3")
        s3.create_bucket(Bucket="reports")
        s3.put_object(Bucket="reports", Key="a.csv", Body=b"12345")
        conn = self.connect()
        conn.request("HEAD", "/reports/a.csv", headers=signed("s3"))
        head = conn.getresponse()
        self.assertEqual((head.status, head.getheader("Content-Length"), head.read()), (200, "5", b""))
        conn.request("GET", "/reports/a.csv", headers=signed("s3"))
        self.assertEqual(conn.getresponse().read(), b"12345")
        conn.close()

    def test_connection_close_is_honoured(self):
        with socket.create_connection(self.address(), timeout=10) as sock:
            sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):  # ends only when the server closes
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertIn(b"Connection: close", head)
        self.assertEqual(json.loads(body), {"ok": True})


class GuardDutyAdmin(EmulatorTest):
    def test_email_validation(self):
        # AccountDetail's rules: the local name and the domain, beyond length, ASCII and one @.
        for bad in ["a@b.c", "x" * 60 + "@b.com", "a@@example.com", "no-at.example.com", "é@example.com",
                    ".dot@example.com", "a(b)@example.com", "per%cent@example.com", "sp ace@example.com",
                    "user@localhost", "user@-example.com", "user@example.com.", "user@exa_mple.com"]:
            status, code, _ = error_of(self.gd.create_members, DetectorId=self.detector,
                                       AccountDetails=[detail("111122223333"), {"AccountId": "222233334444", "Email": bad}])
            self.assertEqual((status, code), (400, "BadRequestException"), bad)
        self.assertEqual(control("GET", "/_emulator/guardduty/members")["members"][REGION][self.detector], {})
        r = self.gd.create_members(DetectorId=self.detector, AccountDetails=[{"AccountId": "222233334444", "Email": ""}])
        self.assertIn("email address is missing", results(r)["222233334444"])
        r = self.gd.create_members(DetectorId=self.detector, AccountDetails=[{"AccountId": "222233334444"}])
        self.assertIn("email address is missing", results(r)["222233334444"])

    def test_member_limit(self):
        self.assertEqual(control("GET", "/_emulator/guardduty/members")["memberLimit"], 5000)
        control("POST", "/_emulator/guardduty/member-limit", {"limit": 2})
        r = self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(f"10000000000{i}") for i in range(3)])
        self.assertEqual(list(results(r)), ["100000000002"])
        self.assertIn("maximum", results(r)["100000000002"])

    def test_internal_error(self):
        a, b = "111122223333", "222233334444"
        control("POST", "/_emulator/guardduty/internal-error", {"accountIds": [a], "operation": "CreateMembers"})
        r = self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(a), detail(b)])
        self.assertEqual(results(r), {a: "Internal error"})
        r = self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(a)])
        self.assertEqual(results(r), {})
        rules = control("POST", "/_emulator/guardduty/internal-error",
                        {"accountIds": [b], "operation": "InviteMembers", "times": 2})["rules"]
        self.assertEqual(rules[0]["remaining"], 0)
        self.assertEqual(results(self.gd.invite_members(DetectorId=self.detector, AccountIds=[a])), {})  # not included
        for _ in range(2):
            self.assertEqual(results(self.gd.invite_members(DetectorId=self.detector, AccountIds=[b])), {b: "Internal error"})
        self.assertEqual(self.member(b)["invitations"], 0)
        self.assertEqual(results(self.gd.invite_members(DetectorId=self.detector, AccountIds=[b])), {})
        control("POST", "/_emulator/guardduty/internal-error", {"accountIds": [a], "operation": "GetMembers"})
        r = self.gd.get_members(DetectorId=self.detector, AccountIds=[a, b])
        self.assertEqual(([m["AccountId"] for m in r["Members"]], results(r)), ([b], {a: "Internal error"}))

    def test_stale_status_is_a_lagging_read(self):
        a = "111122223333"
        self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(a)])
        control("POST", "/_emulator/guardduty/stale-status", {"accountIds": [a], "status": "Invited", "times": 1})
        status = lambda: self.gd.get_members(DetectorId=self.detector, AccountIds=[a])["Members"][0]["RelationshipStatus"]
        self.assertEqual(status(), "Invited")
        self.assertEqual(status(), "Created")
        self.assertEqual(self.member(a)["relationshipStatus"], "Created")

    def test_unprocessed_with_any_result_text(self):
        a, b = "111122223333", "222233334444"
        self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(a), detail(b)])
        control("POST", "/_emulator/guardduty/unprocessed",
                {"accountIds": [a], "operation": "GetMembers", "result": NOT_MEMBER, "times": 2})
        for _ in range(2):
            r = self.gd.get_members(DetectorId=self.detector, AccountIds=[a, b])
            self.assertEqual(([m["AccountId"] for m in r["Members"]], results(r)), ([b], {a: NOT_MEMBER}))
        r = self.gd.get_members(DetectorId=self.detector, AccountIds=[a, b])
        self.assertEqual(sorted(m["AccountId"] for m in r["Members"]), [a, b])
        rules = control("GET", "/_emulator/guardduty/unprocessed")["rules"]
        self.assertEqual([(x["result"], x["remaining"]) for x in rules], [(NOT_MEMBER, 0)])

    def test_no_reinvite_of_removed_organization_account(self):
        org, other = "111122223333", "222233334444"
        control("POST", "/_emulator/guardduty/organization-accounts", {"accountIds": [org]})
        self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(org), detail(other)])
        self.assertEqual(self.member(org)["relationshipStatus"], "Enabled")
        self.gd.disassociate_members(DetectorId=self.detector, AccountIds=[org, other])
        r = self.gd.invite_members(DetectorId=self.detector, AccountIds=[org, other])
        self.assertEqual(list(results(r)), [org])
        self.assertIn("organization", results(r)[org])

    def test_removed_organization_member_is_associated_again_by_create_members(self):
        org, other = "111122223333", "222233334444"
        control("POST", "/_emulator/guardduty/organization-accounts", {"accountIds": [org]})
        self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(org), detail(other)])
        self.gd.disassociate_members(DetectorId=self.detector, AccountIds=[org, other])
        r = self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(org), detail(other)])
        # The organization member is Enabled again; the one outside keeps "already a member".
        self.assertEqual(list(results(r)), [other])
        self.assertIn("already a member", results(r)[other])
        self.assertEqual(self.member(org)["relationshipStatus"], "Enabled")
        self.assertEqual(self.member(other)["relationshipStatus"], "Removed")
        r = self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(org)])
        self.assertIn("already a member", results(r)[org])  # Enabled: nothing to associate

    def test_start_and_stop_monitoring_members(self):
        a, b, invited = "111122223333", "222233334444", "333344445555"
        control("POST", "/_emulator/guardduty/organization-accounts", {"accountIds": [a, b]})
        self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(a), detail(b), detail(invited)])
        r = self.gd.stop_monitoring_members(DetectorId=self.detector, AccountIds=[a, invited, "444455556666"])
        self.assertEqual(sorted(results(r)), [invited, "444455556666"])
        self.assertIn("not an associated member", results(r)[invited])
        self.assertEqual(self.member(a)["relationshipStatus"], "Disabled")
        r = self.gd.start_monitoring_members(DetectorId=self.detector, AccountIds=[a, b, invited])
        self.assertEqual(list(results(r)), [invited])
        self.assertEqual([self.member(x)["relationshipStatus"] for x in (a, b, invited)],
                         ["Enabled", "Enabled", "Created"])
        for call in (self.gd.start_monitoring_members, self.gd.stop_monitoring_members):
            self.assertEqual(error_of(call, DetectorId=self.detector, AccountIds=[])[:2], (400, "BadRequestException"))
            self.assertEqual(error_of(call, DetectorId=self.detector,
                                      AccountIds=[f"1000000000{i:02d}" for i in range(51)])[:2],
                             (400, "BadRequestException"))

    def test_list_members_pages_and_only_associated(self):
        members = [{"accountId": f"2000000{i:05d}", "email": f"m{i}@example.com",
                    "relationshipStatus": "Enabled" if i % 2 else "Invited"} for i in range(120)]
        self.assertEqual(control("POST", "/_emulator/guardduty/members",
                                 {"region": REGION, "detectorId": self.detector, "members": members}), {"count": 120})
        for only, expected in ((None, 60), ("true", 60), ("false", 120)):
            seen, token, pages = [], None, 0
            while True:
                kwargs = {"DetectorId": self.detector}
                if only:
                    kwargs["OnlyAssociated"] = only
                if token:
                    kwargs["NextToken"] = token
                r = self.gd.list_members(**kwargs)
                self.assertLessEqual(len(r["Members"]), 50)
                seen += [m["AccountId"] for m in r["Members"]]
                pages += 1
                token = r.get("NextToken")
                if not token:
                    break
            self.assertEqual((len(seen), len(set(seen)), pages), (expected, expected, -(-expected // 50)), only)
        self.assertEqual(error_of(self.gd.list_members, DetectorId=self.detector, MaxResults=51)[:2], (400, "BadRequestException"))
        self.assertEqual(error_of(self.gd.list_members, DetectorId=self.detector, NextToken="nope")[:2], (400, "BadRequestException"))
        self.assertEqual(len(self.gd.list_members(DetectorId=self.detector, MaxResults=7)["Members"]), 7)

    def test_list_members_pages_stay_cheap(self):
        members = [{"accountId": f"7{i:011d}", "email": f"m{i}@example.com", "relationshipStatus": "Enabled"}
                   for i in range(50000)]
        control("POST", "/_emulator/guardduty/members", {"region": REGION, "detectorId": self.detector, "members": members})
        control("DELETE", "/_emulator/calls")
        token, seen = None, 0
        for _ in range(20):
            r = self.gd.list_members(DetectorId=self.detector, **({"NextToken": token} if token else {}))
            seen += len(r["Members"])
            token = r["NextToken"]
        self.assertEqual(seen, 1000)
        page_ms = sorted(c["duration_ms"] for c in control("GET", "/_emulator/calls")["calls"])
        self.assertLess(page_ms[len(page_ms) // 2], 5, page_ms)  # O(page), not O(members) (that: ~30 ms)

    def test_member_status_invited_at(self):
        m = control("POST", "/_emulator/guardduty/member-status",
                    {"region": REGION, "detectorId": self.detector, "accountId": "111122223333",
                     "relationshipStatus": "Invited", "email": "a@example.com", "invitedAt": "2020-01-02T03:04:05Z"})
        self.assertEqual((m["invitedAt"], m["administratorId"], len(m["invitationId"])),
                         ("2020-01-02T03:04:05.000Z", ADMIN, 32))
        r = self.gd.get_members(DetectorId=self.detector, AccountIds=["111122223333"])["Members"][0]
        self.assertEqual((r["InvitedAt"], r["RelationshipStatus"]), ("2020-01-02T03:04:05.000Z", "Invited"))
        control("POST", "/_emulator/guardduty/member-status",
                {"region": REGION, "detectorId": self.detector, "accountId": "111122223333",
                 "relationshipStatus": "Invited", "invitedAt": "not a date"}, expect=400)
        # the administrator defaults to the account owning the detector
        other = client("guardduty", creds=assume("999988887777")).create_detector(Enable=True)["DetectorId"]
        m = control("POST", "/_emulator/guardduty/member-status",
                    {"region": REGION, "detectorId": other, "accountId": "111122223333", "relationshipStatus": "Created"})
        self.assertEqual((m["administratorId"], m["invitationId"], m["invitedAt"]), ("999988887777", None, None))

    def test_update_and_get_member_detectors(self):
        enabled, created = "111122223333", "222233334444"
        control("POST", "/_emulator/guardduty/members", {"region": REGION, "detectorId": self.detector, "members": [
            {"accountId": enabled, "email": "a@example.com", "relationshipStatus": "Enabled"},
            {"accountId": created, "email": "b@example.com", "relationshipStatus": "Created"}]})
        update = self.gd.update_member_detectors
        for features in ([{"Name": "NOPE", "Status": "ENABLED"}], [{"Name": "S3_DATA_EVENTS", "Status": "ON"}],
                         [{"Name": "RUNTIME_MONITORING", "Status": "ENABLED"},
                          {"Name": "EKS_RUNTIME_MONITORING", "Status": "ENABLED"}]):
            self.assertEqual(error_of(update, DetectorId=self.detector, AccountIds=[enabled], Features=features)[:2],
                             (400, "BadRequestException"))
        r = update(DetectorId=self.detector, AccountIds=[enabled, created],
                   Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"},
                             {"Name": "RUNTIME_MONITORING", "Status": "DISABLED",
                              "AdditionalConfiguration": [{"Name": "EKS_ADDON_MANAGEMENT", "Status": "ENABLED"}]}])
        self.assertEqual(list(results(r)), [created])
        self.assertIn("not an associated member", results(r)[created])
        self.assertEqual(self.member(enabled)["features"], {"S3_DATA_EVENTS": "ENABLED", "RUNTIME_MONITORING": "DISABLED"})
        got = self.gd.get_member_detectors(DetectorId=self.detector, AccountIds=[enabled, created])
        config = got["MemberDataSourceConfigurations"]
        self.assertEqual([c["AccountId"] for c in config], [enabled])
        self.assertEqual({f["Name"]: f["Status"] for f in config[0]["Features"]},
                         {"S3_DATA_EVENTS": "ENABLED", "RUNTIME_MONITORING": "DISABLED"})
        self.assertEqual(config[0]["DataSources"]["S3Logs"]["Status"], "ENABLED")
        self.assertEqual(list(results(got)), [created])
        control("POST", "/_emulator/guardduty/internal-error", {"accountIds": [enabled], "operation": "UpdateMemberDetectors"})
        r = update(DetectorId=self.detector, AccountIds=[enabled], Features=[{"Name": "S3_DATA_EVENTS", "Status": "DISABLED"}])
        self.assertEqual(results(r), {enabled: "Internal error"})
        self.assertEqual(self.member(enabled)["features"]["S3_DATA_EVENTS"], "ENABLED")


    def test_additional_configuration(self):
        enabled = "111122223333"
        control("POST", "/_emulator/guardduty/members", {"region": REGION, "detectorId": self.detector, "members": [
            {"accountId": enabled, "email": "a@example.com", "relationshipStatus": "Enabled"}]})
        update = self.gd.update_member_detectors
        for bad in ([{"Name": "NOPE", "Status": "ENABLED"}], [{"Name": "EKS_ADDON_MANAGEMENT", "Status": "ON"}],
                    [{"Name": "EKS_ADDON_MANAGEMENT"}]):
            self.assertEqual(error_of(update, DetectorId=self.detector, AccountIds=[enabled], Features=[
                {"Name": "RUNTIME_MONITORING", "Status": "ENABLED", "AdditionalConfiguration": bad}])[:2],
                (400, "BadRequestException"), bad)
        self.assertEqual(self.member(enabled)["features"], {})
        update(DetectorId=self.detector, AccountIds=[enabled], Features=[
            {"Name": "RUNTIME_MONITORING", "Status": "ENABLED", "AdditionalConfiguration": [
                {"Name": "EKS_ADDON_MANAGEMENT", "Status": "ENABLED"},
                {"Name": "ECS_FARGATE_AGENT_MANAGEMENT", "Status": "ENABLED"}]},
            {"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}])
        # merged by name: EKS_ADDON_MANAGEMENT keeps its value; a feature without the list keeps it all
        update(DetectorId=self.detector, AccountIds=[enabled], Features=[
            {"Name": "RUNTIME_MONITORING", "Status": "ENABLED", "AdditionalConfiguration": [
                {"Name": "ECS_FARGATE_AGENT_MANAGEMENT", "Status": "DISABLED"},
                {"Name": "EC2_AGENT_MANAGEMENT", "Status": "ENABLED"}]}])
        update(DetectorId=self.detector, AccountIds=[enabled], Features=[{"Name": "RUNTIME_MONITORING", "Status": "ENABLED"}])
        expected = {"EKS_ADDON_MANAGEMENT": "ENABLED", "ECS_FARGATE_AGENT_MANAGEMENT": "DISABLED",
                    "EC2_AGENT_MANAGEMENT": "ENABLED"}
        self.assertEqual(self.member(enabled)["additionalConfiguration"], {"RUNTIME_MONITORING": expected})
        got = self.gd.get_member_detectors(DetectorId=self.detector, AccountIds=[enabled])
        features = {f["Name"]: f for f in got["MemberDataSourceConfigurations"][0]["Features"]}
        self.assertNotIn("AdditionalConfiguration", features["S3_DATA_EVENTS"])
        configs = features["RUNTIME_MONITORING"]["AdditionalConfiguration"]
        self.assertEqual({c["Name"]: c["Status"] for c in configs}, expected)
        self.assertTrue(all(c["UpdatedAt"] for c in configs))
        # someone turns the ECS agent off in the console, and EKS_AUDIT_LOGS on
        r = control("POST", "/_emulator/guardduty/member-features", {"region": REGION, "accountId": enabled, "features": [
            {"name": "RUNTIME_MONITORING", "status": "ENABLED",
             "additionalConfiguration": [{"name": "EKS_ADDON_MANAGEMENT", "status": "DISABLED"}]},
            {"name": "EKS_AUDIT_LOGS", "status": "ENABLED"}]})
        self.assertEqual((r["administratorId"], r["features"]["EKS_AUDIT_LOGS"],
                          r["additionalConfiguration"]["RUNTIME_MONITORING"]["EKS_ADDON_MANAGEMENT"]),
                         (ADMIN, "ENABLED", "DISABLED"))
        got = self.gd.get_member_detectors(DetectorId=self.detector, AccountIds=[enabled])
        features = {f["Name"]: f for f in got["MemberDataSourceConfigurations"][0]["Features"]}
        self.assertEqual({c["Name"]: c["Status"] for c in features["RUNTIME_MONITORING"]["AdditionalConfiguration"]},
                         dict(expected, EKS_ADDON_MANAGEMENT="DISABLED"))
        for bad in ({"region": REGION, "accountId": "222233334444", "features": [{"name": "S3_DATA_EVENTS", "status": "ENABLED"}]},
                    {"region": REGION, "accountId": enabled, "features": [{"name": "S3_DATA_EVENTS", "status": "ON"}]},
                    {"region": REGION, "accountId": enabled, "detectorId": "nope",
                     "features": [{"name": "S3_DATA_EVENTS", "status": "ENABLED"}]},
                    {"region": REGION, "accountId": enabled, "features": []}):
            control("POST", "/_emulator/guardduty/member-features", bad, expect=400)


    def test_bulk_members_with_features(self):
        runtime = {"name": "RUNTIME_MONITORING", "status": "ENABLED", "additionalConfiguration": [
            {"name": n, "status": "ENABLED"}
            for n in ("EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT")]}
        common = [{"name": "S3_DATA_EVENTS", "status": "ENABLED"}, runtime]
        members = [{"accountId": f"8{i:011d}", "email": f"m{i}@example.com", "relationshipStatus": "Enabled"}
                   for i in range(2000)]
        # a member's own list goes over the common one
        members[1]["features"] = [{"name": "S3_DATA_EVENTS", "status": "DISABLED"}]
        started = time.perf_counter()
        r = control("POST", "/_emulator/guardduty/members",
                    {"region": REGION, "detectorId": self.detector, "members": members, "features": common})
        seconds = time.perf_counter() - started
        self.assertEqual(r, {"count": 2000})
        got = self.gd.get_member_detectors(DetectorId=self.detector, AccountIds=["800000000000", "800000000001"])
        plans = {c["AccountId"]: {f["Name"]: (f["Status"], {a["Name"]: a["Status"] for a in f.get("AdditionalConfiguration", [])})
                                  for f in c["Features"]} for c in got["MemberDataSourceConfigurations"]}
        agents = {"EKS_ADDON_MANAGEMENT": "ENABLED", "ECS_FARGATE_AGENT_MANAGEMENT": "ENABLED", "EC2_AGENT_MANAGEMENT": "ENABLED"}
        self.assertEqual(plans["800000000000"], {"S3_DATA_EVENTS": ("ENABLED", {}), "RUNTIME_MONITORING": ("ENABLED", agents)})
        self.assertEqual(plans["800000000001"]["S3_DATA_EVENTS"], ("DISABLED", {}))
        # member-status takes the same list; bad lists are refused before any change
        m = control("POST", "/_emulator/guardduty/member-status",
                    {"region": REGION, "detectorId": self.detector, "accountId": "111122223333",
                     "relationshipStatus": "Enabled", "features": [{"name": "S3_DATA_EVENTS", "status": "ENABLED"}]})
        self.assertEqual(m["features"], {"S3_DATA_EVENTS": "ENABLED"})
        for bad in ({"features": [{"name": "NOPE", "status": "ENABLED"}]}, {"features": []},
                    {"members": [{"accountId": "222233334444", "relationshipStatus": "Enabled",
                                  "features": [{"name": "S3_DATA_EVENTS", "status": "ON"}]}]}):
            control("POST", "/_emulator/guardduty/members",
                    dict({"region": REGION, "detectorId": self.detector,
                          "members": [{"accountId": "222233334444", "relationshipStatus": "Enabled"}]}, **bad),
                    expect=400)
        self.assertNotIn("222233334444", control("GET", "/_emulator/guardduty/members")["members"][REGION][self.detector])
        print(f"\n  2000 members with their plans seeded in {seconds:.2f} s", file=sys.stderr)

    def test_organization_configuration(self):
        describe = self.gd.describe_organization_configuration
        self.assertEqual(error_of(describe, DetectorId=self.detector),
                         (400, "BadRequestException", NOT_DELEGATED_ADMIN))
        r = control("POST", "/_emulator/guardduty/organization-configuration", {
            "region": REGION, "autoEnableOrganizationMembers": "ALL", "features": [
                {"name": "S3_DATA_EVENTS", "autoEnable": "NEW"},
                {"name": "RUNTIME_MONITORING", "autoEnable": "ALL", "additionalConfiguration": [
                    {"name": "EKS_ADDON_MANAGEMENT", "autoEnable": "ALL"},
                    {"name": "ECS_FARGATE_AGENT_MANAGEMENT", "autoEnable": "NONE"}]},
                {"name": "EBS_MALWARE_PROTECTION", "autoEnable": "NONE"}]})
        self.assertEqual(r["administratorId"], ADMIN)
        got = describe(DetectorId=self.detector)
        self.assertEqual((got["AutoEnableOrganizationMembers"], got["AutoEnable"], got["MemberAccountLimitReached"]),
                         ("ALL", True, False))
        self.assertEqual([(f["Name"], f["AutoEnable"]) for f in got["Features"]],
                         [("S3_DATA_EVENTS", "NEW"), ("RUNTIME_MONITORING", "ALL"), ("EBS_MALWARE_PROTECTION", "NONE")])
        self.assertEqual(got["Features"][1]["AdditionalConfiguration"],
                         [{"Name": "EKS_ADDON_MANAGEMENT", "AutoEnable": "ALL"},
                          {"Name": "ECS_FARGATE_AGENT_MANAGEMENT", "AutoEnable": "NONE"}])
        self.assertEqual(got["DataSources"], {"S3Logs": {"AutoEnable": True}, "Kubernetes": {"AuditLogs": {"AutoEnable": False}},
                                              "MalwareProtection": {"ScanEc2InstanceWithFindings": {"EbsVolumes": {"AutoEnable": False}}}})
        first = describe(DetectorId=self.detector, MaxResults=2)
        rest = describe(DetectorId=self.detector, MaxResults=2, NextToken=first["NextToken"])
        self.assertEqual(len(first["Features"]) + len(rest["Features"]), 3)
        self.assertEqual(error_of(describe, DetectorId="0" * 32)[2], "The request is rejected because the input "
                         "detectorId is not owned by the current account.")
        self.assertEqual(client("guardduty").list_organization_admin_accounts()["AdminAccounts"],
                         [{"AdminAccountId": ADMIN, "AdminStatus": "ENABLED"}])
        self.assertEqual(control("GET", "/_emulator/guardduty/members")["organizationConfiguration"][REGION]
                         ["autoEnableOrganizationMembers"], "ALL")
        # another region, another account: not the delegated administrator
        other = client("guardduty", "eu-west-1")
        self.assertEqual(error_of(other.describe_organization_configuration,
                                  DetectorId=other.create_detector(Enable=True)["DetectorId"])[2], NOT_DELEGATED_ADMIN)
        member_gd = client("guardduty", creds=assume("111122223333"))
        self.assertEqual(error_of(member_gd.describe_organization_configuration,
                                  DetectorId=member_gd.create_detector(Enable=True)["DetectorId"])[2], NOT_DELEGATED_ADMIN)
        for bad in ({"region": REGION, "autoEnableOrganizationMembers": "SOME"},
                    {"region": REGION, "autoEnableOrganizationMembers": "NEW", "features": [{"name": "NOPE", "autoEnable": "NEW"}]},
                    {"region": REGION, "autoEnableOrganizationMembers": "NEW", "features": [
                        {"name": "RUNTIME_MONITORING", "autoEnable": "NEW", "additionalConfiguration": [{"name": "X", "autoEnable": "NEW"}]}]}):
            control("POST", "/_emulator/guardduty/organization-configuration", bad, expect=400)


class RuntimePlansAndRegions(EmulatorTest):
    """Both runtime plans in one UpdateMemberDetectors are refused whatever their statuses;
    a plan a region does not offer is not listed, not returned and not accepted."""

    def enabled_member(self, account="111122223333"):
        control("POST", "/_emulator/guardduty/members", {"region": REGION, "detectorId": self.detector, "members": [
            {"accountId": account, "email": "a@example.com", "relationshipStatus": "Enabled"}]})
        return account

    def test_both_runtime_plans_in_one_call_are_refused_for_any_status_combination(self):
        account = self.enabled_member()
        for first in ("ENABLED", "DISABLED"):
            for second in ("ENABLED", "DISABLED"):
                features = [{"Name": "RUNTIME_MONITORING", "Status": first},
                            {"Name": "EKS_RUNTIME_MONITORING", "Status": second}]
                status, code, message = error_of(self.gd.update_member_detectors, DetectorId=self.detector,
                                                 AccountIds=[account], Features=features)
                self.assertEqual((status, code), (400, "BadRequestException"), (first, second))
                self.assertIn("cannot be specified together", message)
        self.assertEqual(self.member(account)["features"], {}, "nothing of a refused call is applied")
        for name in ("RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"):
            self.gd.update_member_detectors(DetectorId=self.detector, AccountIds=[account],
                                            Features=[{"Name": name, "Status": "DISABLED"}])
        self.assertEqual(self.member(account)["features"],
                         {"RUNTIME_MONITORING": "DISABLED", "EKS_RUNTIME_MONITORING": "DISABLED"})

    def test_a_plan_the_region_does_not_offer_is_not_listed_returned_or_accepted(self):
        self.assertEqual(control("GET", "/_emulator/guardduty/unoffered")["features"],
                         [{"name": "RDS_LOGIN_EVENTS", "region": "ap-east-2"}], "the default, from AWS's page")
        account = self.enabled_member()
        listed = {f["Name"] for f in self.gd.get_detector(DetectorId=self.detector)["Features"]}
        self.assertIn("RDS_LOGIN_EVENTS", listed)
        self.assertIn("CLOUD_TRAIL", listed)
        self.gd.update_member_detectors(DetectorId=self.detector, AccountIds=[account],
                                        Features=[{"Name": "RDS_LOGIN_EVENTS", "Status": "ENABLED"}])
        control("POST", "/_emulator/guardduty/unoffered", {"features": [{"name": "RDS_LOGIN_EVENTS", "region": REGION}]})
        listed = {f["Name"] for f in self.gd.get_detector(DetectorId=self.detector)["Features"]}
        self.assertNotIn("RDS_LOGIN_EVENTS", listed)
        self.assertIn("S3_DATA_EVENTS", listed)
        got = self.gd.get_member_detectors(DetectorId=self.detector, AccountIds=[account])
        self.assertEqual(got["MemberDataSourceConfigurations"][0]["Features"], [])
        status, code, message = error_of(self.gd.update_member_detectors, DetectorId=self.detector, AccountIds=[account],
                                         Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"},
                                                   {"Name": "RDS_LOGIN_EVENTS", "Status": "ENABLED"}])
        self.assertEqual((status, code), (400, "BadRequestException"))
        self.assertIn("RDS_LOGIN_EVENTS", message)
        self.assertNotIn("S3_DATA_EVENTS", self.member(account)["features"], "the whole call is refused")
        control("POST", "/_emulator/reset")
        self.assertEqual(control("GET", "/_emulator/guardduty/unoffered")["features"],
                         [{"name": "RDS_LOGIN_EVENTS", "region": "ap-east-2"}])


class MemberSide(EmulatorTest):
    MEMBER = "111122223333"

    def test_detectors_are_per_account(self):
        creds = assume(self.MEMBER)
        member_gd = client("guardduty", creds=creds)
        theirs = member_gd.create_detector(Enable=True)["DetectorId"]
        self.assertEqual(member_gd.list_detectors()["DetectorIds"], [theirs])
        self.assertEqual(self.gd.list_detectors()["DetectorIds"], [self.detector])
        # the administrator's member operations see only its own detectors, and vice versa
        self.assertIn("not owned", error_of(self.gd.list_members, DetectorId=theirs)[2])
        self.assertIn("not owned", error_of(member_gd.list_members, DetectorId=self.detector)[2])
        accounts = {c["operation"]: c["account"] for c in control("GET", "/_emulator/calls")["calls"]}
        self.assertEqual(accounts["AssumeRole"], ADMIN)
        calls = control("GET", "/_emulator/calls")["calls"]
        self.assertEqual([c["account"] for c in calls if c["operation"] == "CreateDetector"], [ADMIN, self.MEMBER])

    def test_no_invitation_while_the_email_is_verified(self):
        creds = assume(self.MEMBER)
        member_gd = client("guardduty", creds=creds)
        theirs = member_gd.create_detector(Enable=True)["DetectorId"]
        set_status = lambda status: control("POST", "/_emulator/guardduty/member-status", {
            "region": REGION, "detectorId": self.detector, "accountId": self.MEMBER,
            "relationshipStatus": status})
        member = set_status("EmailVerificationInProgress")
        self.assertEqual(member_gd.list_invitations()["Invitations"], [])
        self.assertIn("no invitation", error_of(member_gd.accept_administrator_invitation, DetectorId=theirs,
                                                AdministratorId=ADMIN, InvitationId=member["invitationId"])[2])
        set_status("Invited")  # verification done: the invitation reaches the account
        invitations = member_gd.list_invitations()["Invitations"]
        self.assertEqual([i["InvitationId"] for i in invitations], [member["invitationId"]])

    def test_invitation_accept_flow(self):
        creds = assume(self.MEMBER)
        member_gd = client("guardduty", creds=creds)
        theirs = member_gd.create_detector(Enable=True)["DetectorId"]
        self.assertEqual(member_gd.list_invitations()["Invitations"], [])
        self.assertEqual(member_gd.get_administrator_account(DetectorId=theirs).get("Administrator"), None)
        self.gd.create_members(DetectorId=self.detector, AccountDetails=[detail(self.MEMBER)])
        self.assertEqual(member_gd.list_invitations()["Invitations"], [])  # Created: not invited yet
        self.gd.invite_members(DetectorId=self.detector, AccountIds=[self.MEMBER], DisableEmailNotification=True)
        invitations = member_gd.list_invitations()["Invitations"]
        self.assertEqual(len(invitations), 1)
        inv = invitations[0]
        self.assertEqual((inv["AccountId"], inv["RelationshipStatus"]), (ADMIN, "Invited"))
        self.assertEqual(client("guardduty", "eu-west-1", creds).list_invitations()["Invitations"], [])

        accept = member_gd.accept_administrator_invitation
        self.assertIn("not owned", error_of(accept, DetectorId=self.detector, AdministratorId=ADMIN,
                                            InvitationId=inv["InvitationId"])[2])
        self.assertEqual(error_of(accept, DetectorId=theirs, AdministratorId=ADMIN, InvitationId="0" * 32)[:2],
                         (400, "BadRequestException"))
        self.assertIn("no invitation", error_of(accept, DetectorId=theirs, AdministratorId="210987654321",
                                                InvitationId=inv["InvitationId"])[2])
        self.assertEqual(self.member(self.MEMBER)["relationshipStatus"], "Invited")
        accept(DetectorId=theirs, AdministratorId=ADMIN, InvitationId=inv["InvitationId"])
        m = self.member(self.MEMBER)
        self.assertEqual((m["relationshipStatus"], m["memberDetectorId"], m["invitationId"]),
                         ("Enabled", theirs, inv["InvitationId"]))
        self.assertTrue(m["acceptedAt"])
        accept(DetectorId=theirs, AdministratorId=ADMIN, InvitationId=inv["InvitationId"])  # again: no-op
        got = self.gd.get_members(DetectorId=self.detector, AccountIds=[self.MEMBER])["Members"][0]
        self.assertEqual((got["RelationshipStatus"], got["DetectorId"]), ("Enabled", theirs))
        admin = member_gd.get_administrator_account(DetectorId=theirs)["Administrator"]
        self.assertEqual((admin["AccountId"], admin["InvitationId"], admin["RelationshipStatus"]),
                         (ADMIN, inv["InvitationId"], "Enabled"))
        self.assertEqual(member_gd.get_master_account(DetectorId=theirs)["Master"]["AccountId"], ADMIN)
        self.assertEqual(member_gd.list_invitations()["Invitations"], [])
        self.assertEqual([m["AccountId"] for m in self.gd.list_members(DetectorId=self.detector)["Members"]], [self.MEMBER])
        calls = [c for c in control("GET", "/_emulator/calls")["calls"] if c["operation"] == "AcceptAdministratorInvitation"]
        self.assertEqual({c["account"] for c in calls}, {self.MEMBER})

    def test_deprecated_accept_and_invitations_from_several_administrators(self):
        other_admin = assume("999988887777")
        other_gd = client("guardduty", creds=other_admin)
        other_detector = other_gd.create_detector(Enable=True)["DetectorId"]
        for gd, det in ((self.gd, self.detector), (other_gd, other_detector)):
            gd.create_members(DetectorId=det, AccountDetails=[detail(self.MEMBER)])
            gd.invite_members(DetectorId=det, AccountIds=[self.MEMBER])
        snapshot = control("GET", "/_emulator/guardduty/members")["members"][REGION]
        self.assertEqual(snapshot[other_detector][self.MEMBER]["administratorId"], "999988887777")
        member_gd = client("guardduty", creds=assume(self.MEMBER))
        theirs = member_gd.create_detector(Enable=True)["DetectorId"]
        first = member_gd.list_invitations(MaxResults=1)
        second = member_gd.list_invitations(MaxResults=1, NextToken=first["NextToken"])
        self.assertNotIn("NextToken", second)
        both = {i["AccountId"]: i for i in first["Invitations"] + second["Invitations"]}
        self.assertEqual(set(both), {ADMIN, "999988887777"})
        self.assertEqual(both[ADMIN]["RelationshipStatus"], "EmailVerificationInProgress")
        member_gd.accept_invitation(DetectorId=theirs, MasterId="999988887777",
                                    InvitationId=both["999988887777"]["InvitationId"])
        self.assertIn("another administrator", error_of(
            member_gd.accept_administrator_invitation, DetectorId=theirs, AdministratorId=ADMIN,
            InvitationId=both[ADMIN]["InvitationId"])[2])
        self.assertEqual(member_gd.get_administrator_account(DetectorId=theirs)["Administrator"]["AccountId"], "999988887777")


class Detectors(EmulatorTest):
    def test_one_detector_per_account_and_region(self):
        status, code, message = error_of(self.gd.create_detector, Enable=True)
        self.assertEqual((status, code, message), (400, "BadRequestException", DETECTOR_EXISTS))
        call = control("GET", "/_emulator/calls")["calls"][-1]
        self.assertEqual((call["operation"], call["status"]), ("CreateDetector", 400))
        self.assertEqual(self.gd.list_detectors()["DetectorIds"], [self.detector])
        client("guardduty", "eu-west-1").create_detector(Enable=True)  # another region
        member_gd = client("guardduty", creds=assume("111122223333"))
        member_gd.create_detector(Enable=True)  # another account
        self.assertEqual(error_of(member_gd.create_detector, Enable=True)[2], DETECTOR_EXISTS)

    def test_suspended_and_resumed(self):
        member_gd = client("guardduty", creds=assume("111122223333"))
        theirs = member_gd.create_detector(Enable=False)["DetectorId"]
        self.assertEqual(member_gd.get_detector(DetectorId=theirs)["Status"], "DISABLED")
        member_gd.update_detector(DetectorId=theirs, Enable=True)
        self.assertEqual(member_gd.get_detector(DetectorId=theirs)["Status"], "ENABLED")
        member_gd.update_detector(DetectorId=theirs, Enable=False)
        self.assertEqual(member_gd.get_detector(DetectorId=theirs)["Status"], "DISABLED")

    def test_detector_control(self):
        member = "111122223333"
        made = control("POST", "/_emulator/guardduty/detector", {"accountId": member, "region": "eu-west-1", "enable": False})
        self.assertEqual((made["status"], made["created"]), ("DISABLED", True))
        member_gd = client("guardduty", "eu-west-1", assume(member))
        self.assertEqual(member_gd.list_detectors()["DetectorIds"], [made["detectorId"]])
        self.assertEqual(member_gd.get_detector(DetectorId=made["detectorId"])["Status"], "DISABLED")
        again = control("POST", "/_emulator/guardduty/detector", {"accountId": member, "region": "eu-west-1", "enable": True})
        self.assertEqual((again["detectorId"], again["status"], again["created"]), (made["detectorId"], "ENABLED", False))
        self.assertEqual(member_gd.get_detector(DetectorId=made["detectorId"])["Status"], "ENABLED")
        self.assertEqual(error_of(member_gd.create_detector, Enable=True)[2], DETECTOR_EXISTS)
        # the default account's own detector (created in setUp)
        mine = control("POST", "/_emulator/guardduty/detector", {"accountId": ADMIN, "region": REGION, "enable": False})
        self.assertEqual((mine["detectorId"], mine["status"]), (self.detector, "DISABLED"))
        self.assertEqual(self.gd.get_detector(DetectorId=self.detector)["Status"], "DISABLED")
        control("POST", "/_emulator/guardduty/detector", {"accountId": ADMIN, "region": REGION, "enable": "yes"}, expect=400)
        control("POST", "/_emulator/guardduty/detector", {"accountId": "1", "region": REGION}, expect=400)

    def test_detector_race(self):
        member = "111122223333"
        self.assertEqual(control("POST", "/_emulator/member/detector-race", {"accountId": member, "times": 1}),
                         {"accountId": member, "remaining": 1})
        member_gd = client("guardduty", "eu-west-1", assume(member))
        self.assertEqual(error_of(member_gd.create_detector, Enable=True), (400, "BadRequestException", DETECTOR_EXISTS))
        detectors = member_gd.list_detectors()["DetectorIds"]
        self.assertEqual(len(detectors), 1)
        self.assertEqual(member_gd.get_detector(DetectorId=detectors[0])["Status"], "ENABLED")
        call = [c for c in control("GET", "/_emulator/calls")["calls"] if c["operation"] == "CreateDetector"][-1]
        self.assertEqual((call["switch"], call["status"], call["account"]), ("detector-race", 400, member))
        self.assertEqual(control("GET", "/_emulator/member/switches")["detectorRace"], {member: 0})
        # used up: the next CreateDetector in a region without a detector is served normally
        client("guardduty", "us-west-2", assume(member)).create_detector(Enable=True)


class Switches(EmulatorTest):
    def test_deny_assume_role(self):
        role = f"arn:aws:iam::111122223333:role/{MEMBER_ROLE}"
        r = control("POST", "/_emulator/sts/deny-assume-role", {"accountIds": ["111122223333"]})
        self.assertEqual(r, {"accountIds": ["111122223333"], "reasons": {"111122223333": "trust"}})
        status, code, message = error_of(client("sts").assume_role, RoleArn=role, RoleSessionName="selfcheck")
        self.assertEqual((status, code), (403, "AccessDenied"))
        self.assertTrue(message.endswith(f"sts:AssumeRole on resource: {role}"), message)
        assume("222233334444")
        self.assertEqual(control("GET", "/_emulator/calls")["calls"][-2]["switch"], "deny-assume-role")
        for reason, suffix in (("identity-policy", " because no identity-based policy allows the sts:AssumeRole action"),
                               ("explicit-deny", " with an explicit deny in an identity-based policy")):
            control("POST", "/_emulator/sts/deny-assume-role", {"accountIds": ["111122223333"], "reason": reason})
            message = error_of(client("sts").assume_role, RoleArn=role, RoleSessionName="selfcheck")[2]
            self.assertEqual(message, "User: arn:aws:iam::123456789012:user/emulator is not authorized to perform: "
                                      f"sts:AssumeRole on resource: {role}{suffix}")
        self.assertEqual(control("GET", "/_emulator/member/switches")["denyAssumeRoleReasons"],
                         {"111122223333": "explicit-deny"})
        control("POST", "/_emulator/sts/deny-assume-role", {"accountIds": ["111122223333"], "reason": "nope"}, expect=400)
        control("DELETE", "/_emulator/sts/deny-assume-role")
        assume("111122223333")

    def test_deny_rules(self):
        member = "111122223333"
        creds = assume(member)
        member_gd = client("guardduty", creds=creds)
        theirs = member_gd.create_detector(Enable=False)["DetectorId"]
        r = control("POST", "/_emulator/deny", {"accountId": member, "operations": ["UpdateDetector"]})
        self.assertEqual(r["rules"], [{"accountId": member, "operations": ["UpdateDetector"]}])
        status, code, message = error_of(member_gd.update_detector, DetectorId=theirs, Enable=True)
        self.assertEqual((status, code, message), (403, "AccessDeniedException",
                         f"User: arn:aws:sts::{member}:assumed-role/emulator/session is not authorized to perform: "
                         "guardduty:UpdateDetector"))
        self.assertEqual(member_gd.get_detector(DetectorId=theirs)["Status"], "DISABLED")  # not served
        self.gd.update_detector(DetectorId=self.detector, Enable=True)  # another account: served
        call = [c for c in control("GET", "/_emulator/calls")["calls"] if c["operation"] == "UpdateDetector"][0]
        self.assertEqual((call["switch"], call["status"], call["account"]), ("denied", 403, member))
        # query protocol, any account, a chosen code/status/message, limited to one service
        control("POST", "/_emulator/deny", {"accountId": "*", "operations": ["Publish", "ListTopics"], "service": "sns",
                                            "code": "AuthorizationError", "status": 403, "message": "no"})
        self.assertEqual(error_of(client("sns").list_topics), (403, "AuthorizationError", "no"))
        control("POST", "/_emulator/deny", {"accountId": "*", "operations": ["ListQueues"]})
        self.assertEqual(error_of(client("sqs").list_queues)[:2], (403, "AccessDeniedException"))  # json protocol
        control("POST", "/_emulator/deny", {"accountId": ADMIN, "operations": ["GetCallerIdentity"]})
        status, code, message = error_of(client("sts").get_caller_identity)
        self.assertEqual((status, code), (403, "AccessDenied"))
        self.assertTrue(message.endswith("is not authorized to perform: sts:GetCallerIdentity"), message)
        self.assertEqual(len(control("GET", "/_emulator/member/switches")["deny"]), 4)
        # the order: a fault rule first, then the deny rules
        control("POST", "/_emulator/faults", {"operation": "UpdateDetector", "kind": "throttle", "times": 1})
        self.assertEqual(error_of(member_gd.update_detector, DetectorId=theirs, Enable=True)[:2], (429, "ThrottlingException"))
        # the disabled-region switch (authentication) comes before the deny rules
        control("POST", "/_emulator/member/disabled-regions", {"accountId": member, "regions": [REGION]})
        self.assertEqual(error_of(member_gd.update_detector, DetectorId=theirs, Enable=True)[1], "UnrecognizedClientException")
        control("POST", "/_emulator/deny", {"accountId": "12", "operations": ["X"]}, expect=400)
        control("POST", "/_emulator/deny", {"accountId": "*", "operations": []}, expect=400)
        self.assertEqual(control("DELETE", "/_emulator/deny"), {"rules": []})
        control("POST", "/_emulator/member/disabled-regions", {"accountId": member, "regions": []})
        member_gd.update_detector(DetectorId=theirs, Enable=True)
        client("sns").list_topics()

    def test_disabled_regions_and_not_ready(self):
        member = "111122223333"
        creds = assume(member)
        control("POST", "/_emulator/member/disabled-regions", {"accountId": member, "regions": ["af-south-1"]})
        for op in (lambda gd: gd.list_detectors(), lambda gd: gd.list_invitations()):
            status, code, message = error_of(op, client("guardduty", "af-south-1", creds))
            self.assertEqual((status, code, message),
                             (403, "UnrecognizedClientException", "The security token included in the request is invalid."))
        client("guardduty", "af-south-1").list_detectors()  # the administrator is not affected
        control("POST", "/_emulator/member/not-ready", {"accountId": member, "times": 2})
        gd = client("guardduty", creds=creds)
        self.assertEqual(error_of(gd.create_detector, Enable=True)[:2], (400, "SubscriptionRequiredException"))
        self.assertEqual(error_of(gd.list_detectors)[:2], (400, "SubscriptionRequiredException"))
        self.assertEqual(control("GET", "/_emulator/member/switches"),
                         {"denyAssumeRole": [], "denyAssumeRoleReasons": {}, "disabledRegions": {member: ["af-south-1"]},
                          "notReady": {member: 0}, "hiddenInvitations": [], "detectorRace": {}, "deny": []})
        gd.create_detector(Enable=True)
        control("POST", "/_emulator/member/not-ready", {"accountId": member, "times": 1})
        control("POST", "/_emulator/reset")
        self.assertEqual(control("GET", "/_emulator/member/switches"),
                         {"denyAssumeRole": [], "denyAssumeRoleReasons": {}, "disabledRegions": {}, "notReady": {},
                          "hiddenInvitations": [], "detectorRace": {}, "deny": []})
        client("guardduty", "af-south-1", assume(member)).list_detectors()


class Organizations(EmulatorTest):
    def test_bulk_accounts_paging_and_status(self):
        accounts = [{"accountId": f"3{i:011d}", "email": f"a{i}@example.com", "name": f"acct {i}",
                     **({"status": "SUSPENDED"} if i % 1000 == 7 else {})} for i in range(5000)]
        started = time.perf_counter()
        r = control("POST", "/_emulator/organizations/accounts", {"accounts": accounts})
        seconds = time.perf_counter() - started
        self.assertEqual(r["count"], 5000)
        self.assertLess(seconds, 5, seconds)
        org = client("organizations")
        seen, token, pages = [], None, 0
        while True:
            r = org.list_accounts(**({"NextToken": token} if token else {}))
            self.assertLessEqual(len(r["Accounts"]), 20)
            seen += r["Accounts"]
            pages += 1
            token = r.get("NextToken")
            if not token:
                break
        self.assertEqual((len(seen), pages), (5001, 251))
        self.assertEqual((seen[0]["Id"], seen[0]["Name"], seen[0]["Email"]), (ADMIN, "master", "master@example.com"))
        self.assertEqual(sum(a["Status"] == "SUSPENDED" for a in seen), 5)
        self.assertEqual(len(org.list_accounts(MaxResults=50)["Accounts"]), 20)
        self.assertEqual(len(org.list_accounts(MaxResults=3)["Accounts"]), 3)
        self.assertEqual(error_of(org.list_accounts, NextToken="bogus")[:2], (400, "InvalidInputException"))
        self.assertEqual(org.describe_account(AccountId="300000000007")["Account"]["Status"], "SUSPENDED")
        one = control("POST", "/_emulator/organizations/accounts",
                      {"accountId": "300000000007", "email": "x@example.com", "name": "X", "status": "PENDING_CLOSURE"})
        self.assertEqual(one["status"], "PENDING_CLOSURE")
        described = org.describe_account(AccountId="300000000007")["Account"]
        self.assertEqual((described["Email"], described["Status"], described["State"]),
                         ("x@example.com", "PENDING_CLOSURE", "PENDING_CLOSURE"))
        control("POST", "/_emulator/organizations/accounts", {"accountId": "1", "email": "x@example.com"}, expect=400)
        control("POST", "/_emulator/organizations/accounts",
                {"accountId": "400000000000", "email": "x@example.com", "status": "GONE"}, expect=400)
        # a member account sees its organization (moto's own handling of the id we gave it)
        member_org = client("organizations", creds=assume("300000000001"))
        self.assertEqual(member_org.describe_organization()["Organization"]["MasterAccountId"], ADMIN)
        print(f"\n  5000 organization accounts seeded in {seconds:.2f} s", file=sys.stderr)


    def test_joined_timestamp_method_and_state(self):
        control("POST", "/_emulator/organizations/accounts", {"accounts": [
            {"accountId": "111122223333", "email": "a@example.com"},
            {"accountId": "333344445555", "email": "j@example.com", "name": "Acquired", "joinedMethod": "INVITED",
             "joinedAt": "2021-03-04T05:06:07Z", "status": "SUSPENDED"}]})
        org = client("organizations")
        joined = org.describe_account(AccountId="333344445555")["Account"]
        self.assertEqual((joined["JoinedMethod"], joined["JoinedTimestamp"].isoformat(), joined["State"], joined["Status"]),
                         ("INVITED", "2021-03-04T05:06:07+00:00", "SUSPENDED", "SUSPENDED"))
        created = org.describe_account(AccountId="111122223333")["Account"]
        self.assertEqual((created["JoinedMethod"], created["State"]), ("CREATED", "ACTIVE"))
        self.assertLess(abs(time.time() - created["JoinedTimestamp"].timestamp()), 60)
        listed = {a["Id"]: a for a in org.list_accounts()["Accounts"]}
        self.assertEqual((listed["333344445555"]["JoinedMethod"], listed["333344445555"]["State"]), ("INVITED", "SUSPENDED"))
        # an update keeps what it does not give
        one = control("POST", "/_emulator/organizations/accounts", {"accountId": "333344445555", "email": "j2@example.com"})
        self.assertEqual((one["joinedAt"], one["joinedMethod"], one["status"]), ("2021-03-04T05:06:07.000Z", "INVITED", "ACTIVE"))
        control("POST", "/_emulator/organizations/accounts",
                {"accountId": "333344445555", "email": "j@example.com", "joinedMethod": "ADOPTED"}, expect=400)
        control("POST", "/_emulator/organizations/accounts",
                {"accountId": "333344445555", "email": "j@example.com", "joinedAt": "yesterday"}, expect=400)

    def test_organizational_units(self):
        org = client("organizations")
        workloads = control("POST", "/_emulator/organizations/ous", {"name": "Workloads"})
        root = org.list_roots()["Roots"][0]["Id"]
        self.assertEqual((workloads["parentId"], workloads["created"]), (root, True))
        prod = control("POST", "/_emulator/organizations/ous", {"name": "Prod", "parentId": workloads["id"]})["id"]
        self.assertEqual(control("POST", "/_emulator/organizations/ous", {"name": "Workloads"})["id"], workloads["id"])
        control("POST", "/_emulator/organizations/ous", {"name": "X", "parentId": "ou-none-12345678"}, expect=400)
        sandbox = org.create_organizational_unit(ParentId=root, Name="Sandbox")["OrganizationalUnit"]["Id"]
        self.assertEqual(error_of(org.create_organizational_unit, ParentId=root, Name="Sandbox")[:2],
                         (400, "DuplicateOrganizationalUnitException"))
        self.assertEqual(error_of(org.create_organizational_unit, ParentId="ou-none-12345678", Name="Y")[:2],
                         (400, "ParentNotFoundException"))
        self.assertEqual(org.describe_organizational_unit(OrganizationalUnitId=prod)["OrganizationalUnit"]["Name"], "Prod")
        control("POST", "/_emulator/organizations/accounts", {"accounts": [
            {"accountId": f"4000000000{i:02d}", "email": f"p{i}@example.com", "parentId": prod} for i in range(45)]
            + [{"accountId": "111122223333", "email": "a@example.com"}]})
        control("POST", "/_emulator/organizations/accounts",
                {"accountId": "222233334444", "email": "b@example.com", "parentId": "ou-none-12345678"}, expect=400)
        # paging of ListAccountsForParent: 20 at most, opaque token, bad token -> InvalidInputException
        seen, token, pages = [], None, 0
        while True:
            r = org.list_accounts_for_parent(ParentId=prod, MaxResults=50, **({"NextToken": token} if token else {}))
            self.assertLessEqual(len(r["Accounts"]), 20)
            seen += [a["Id"] for a in r["Accounts"]]
            pages += 1
            token = r.get("NextToken")
            if not token:
                break
        self.assertEqual((len(set(seen)), pages), (45, 3))
        self.assertEqual(len(org.list_accounts_for_parent(ParentId=prod, MaxResults=7)["Accounts"]), 7)
        self.assertEqual(error_of(org.list_accounts_for_parent, ParentId=prod, NextToken="bogus")[:2],
                         (400, "InvalidInputException"))
        self.assertEqual(error_of(org.list_accounts_for_parent, ParentId=prod, MaxResults=0)[:2],
                         (400, "InvalidInputException"))
        self.assertEqual(sorted(a["Id"] for a in org.list_accounts_for_parent(ParentId=root)["Accounts"]),
                         ["111122223333", ADMIN])
        ous = org.list_organizational_units_for_parent(ParentId=root, MaxResults=1)
        more = org.list_organizational_units_for_parent(ParentId=root, NextToken=ous["NextToken"])
        self.assertEqual(sorted(o["Name"] for o in ous["OrganizationalUnits"] + more["OrganizationalUnits"]),
                         ["Sandbox", "Workloads"])
        self.assertNotIn("NextToken", more)
        children = org.list_children(ParentId=workloads["id"], ChildType="ORGANIZATIONAL_UNIT")["Children"]
        self.assertEqual(children, [{"Id": prod, "Type": "ORGANIZATIONAL_UNIT"}])
        self.assertEqual(len(org.list_children(ParentId=prod, ChildType="ACCOUNT")["Children"]), 20)
        self.assertEqual(org.list_parents(ChildId="400000000000")["Parents"], [{"Id": prod, "Type": "ORGANIZATIONAL_UNIT"}])
        self.assertEqual(org.list_parents(ChildId=workloads["id"])["Parents"], [{"Id": root, "Type": "ROOT"}])
        self.assertEqual(error_of(org.list_parents, ChildId="999999999999")[:2], (400, "ChildNotFoundException"))
        # moving: moto's MoveAccount and the control API agree
        org.move_account(AccountId="111122223333", SourceParentId=root, DestinationParentId=sandbox)
        self.assertEqual(org.list_parents(ChildId="111122223333")["Parents"][0]["Id"], sandbox)
        self.assertEqual(error_of(org.move_account, AccountId="111122223333", SourceParentId=root,
                                  DestinationParentId=prod)[:2], (400, "SourceParentNotFoundException"))
        self.assertEqual(error_of(org.move_account, AccountId="111122223333", SourceParentId=sandbox,
                                  DestinationParentId="ou-none-12345678")[:2], (400, "DestinationParentNotFoundException"))
        self.assertEqual(error_of(org.move_account, AccountId="111122223333", SourceParentId=sandbox,
                                  DestinationParentId=sandbox)[:2], (400, "DuplicateAccountException"))
        moved = control("POST", "/_emulator/organizations/accounts",
                        {"accountId": "111122223333", "email": "a@example.com", "parentId": workloads["id"]})
        self.assertEqual(moved["parentId"], workloads["id"])
        self.assertEqual([a["Id"] for a in org.list_accounts_for_parent(ParentId=workloads["id"])["Accounts"]],
                         ["111122223333"])
        self.assertEqual(org.list_accounts_for_parent(ParentId=sandbox)["Accounts"], [])
        # deleting: only an empty OU; a deleted OU is a parent that does not exist
        self.assertEqual(error_of(org.delete_organizational_unit, OrganizationalUnitId=workloads["id"])[:2],
                         (400, "OrganizationalUnitNotEmptyException"))
        org.delete_organizational_unit(OrganizationalUnitId=sandbox)
        for call in (lambda: org.list_accounts_for_parent(ParentId=sandbox),
                     lambda: org.list_organizational_units_for_parent(ParentId=sandbox),
                     lambda: org.list_children(ParentId=sandbox, ChildType="ACCOUNT")):
            self.assertEqual(error_of(call)[:2], (400, "ParentNotFoundException"))
        self.assertEqual(error_of(org.describe_organizational_unit, OrganizationalUnitId=sandbox)[:2],
                         (400, "OrganizationalUnitNotFoundException"))
        self.assertEqual(error_of(org.delete_organizational_unit, OrganizationalUnitId=sandbox)[:2],
                         (400, "OrganizationalUnitNotFoundException"))
        control("POST", "/_emulator/organizations/ous", {"name": "Z", "parentId": sandbox}, expect=400)

    def test_fifty_thousand_accounts_in_ous(self):
        ous = [control("POST", "/_emulator/organizations/ous", {"name": f"OU {i}"})["id"] for i in range(10)]
        accounts = [{"accountId": f"6{i:011d}", "email": f"a{i}@example.com", "parentId": ous[i % 10]}
                    for i in range(50000)]
        started = time.perf_counter()
        r = control("POST", "/_emulator/organizations/accounts", {"accounts": accounts})
        seconds = time.perf_counter() - started
        self.assertEqual(r["count"], 50000)
        self.assertLess(seconds, 15, seconds)
        org = client("organizations")
        control("DELETE", "/_emulator/calls")
        seen, token = 0, None
        while True:
            r = org.list_accounts_for_parent(ParentId=ous[3], **({"NextToken": token} if token else {}))
            seen += len(r["Accounts"])
            token = r.get("NextToken")
            if not token:
                break
        page_ms = sorted(c["duration_ms"] for c in control("GET", "/_emulator/calls")["calls"])
        self.assertEqual((seen, len(page_ms)), (5000, 250))
        first = org.list_accounts()
        later = org.list_accounts(NextToken=first["NextToken"])
        self.assertEqual(len(first["Accounts"]) + len(later["Accounts"]), 40)
        self.assertEqual(org.describe_account(AccountId="600000049999")["Account"]["Email"], "a49999@example.com")
        median = page_ms[len(page_ms) // 2]
        self.assertLess(median, 5, page_ms)  # O(page), not O(accounts), per page (moto's own: ~15 ms)
        print(f"\n  50000 organization accounts in 10 OUs seeded in {seconds:.2f} s; "
              f"ListAccountsForParent median {median:.1f} ms a page", file=sys.stderr)



OPT_IN = {"af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
          "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-south-1", "eu-south-2", "eu-central-2", "il-central-1",
          "me-south-1", "me-central-1", "mx-central-1"}


class AccountManagement(EmulatorTest):
    def all_regions(self, account=None, creds=None, **kwargs):
        acct, regions, token = client("account", creds=creds), {}, None
        while True:
            r = acct.list_regions(**kwargs, **({"AccountId": account} if account else {}),
                                  **({"NextToken": token} if token else {}))
            self.assertLessEqual(len(r["Regions"]), kwargs.get("MaxResults", 20))
            regions.update((x["RegionName"], x["RegionOptStatus"]) for x in r["Regions"])
            token = r.get("NextToken")
            if not token:
                return regions

    def test_list_regions(self):
        member = "111122223333"
        control("POST", "/_emulator/organizations/accounts", {"accountId": member, "email": "a@example.com"})
        mine = self.all_regions()
        self.assertEqual({r for r, s in mine.items() if s == "DISABLED"}, OPT_IN)
        self.assertEqual({s for r, s in mine.items() if r not in OPT_IN}, {"ENABLED_BY_DEFAULT"})
        self.assertIn("us-east-1", mine)
        self.assertEqual(len(client("account").list_regions(MaxResults=50)["Regions"]), len(mine))
        r = control("POST", "/_emulator/account/regions", {"accountId": member, "regions": {"af-south-1": "ENABLED",
                                                                                            "me-south-1": "ENABLING"}})
        self.assertEqual((r["regions"]["af-south-1"], r["regions"]["eu-west-1"]), ("ENABLED", "ENABLED_BY_DEFAULT"))
        theirs = self.all_regions(member, MaxResults=7)
        self.assertEqual((theirs["af-south-1"], theirs["me-south-1"], theirs["ap-east-1"]), ("ENABLED", "ENABLING", "DISABLED"))
        self.assertEqual(self.all_regions(creds=assume(member)), theirs)  # the account itself, no AccountId
        self.assertEqual(self.all_regions()["af-south-1"], "DISABLED")  # per account
        only = self.all_regions(member, RegionOptStatusContains=["ENABLED", "ENABLING"])
        self.assertEqual(only, {"af-south-1": "ENABLED", "me-south-1": "ENABLING"})
        acct = client("account")
        for kwargs in ({"MaxResults": 51}, {"MaxResults": 0}, {"NextToken": "bogus"},
                       {"RegionOptStatusContains": ["ON"]}, {"AccountId": "12"}):
            self.assertEqual(error_of(acct.list_regions, **kwargs)[:2], (400, "ValidationException"), kwargs)
        call = control("GET", "/_emulator/calls")["calls"][-1]
        self.assertEqual((call["service"], call["operation"]), ("account", "ListRegions"))

    def test_list_regions_of_another_account(self):
        member = "111122223333"
        control("POST", "/_emulator/organizations/accounts", {"accountId": member, "email": "a@example.com"})
        acct = client("account")
        acct.list_regions(AccountId=member)
        self.assertEqual(control("POST", "/_emulator/account/trusted-access", {"enabled": False}), {"enabled": False})
        status, code, message = error_of(acct.list_regions, AccountId=member)
        self.assertEqual((status, code), (403, "AccessDeniedException"))
        self.assertEqual(message, f"User: arn:aws:sts::{ADMIN}:assumed-role/emulator/session is not authorized to perform: "
                                  "account:ListRegions (Your organization must first enable trusted access with "
                                  "AWS Account Management.)")
        self.assertEqual(control("GET", "/_emulator/account/regions"), {"trustedAccess": False, "accounts": {}})
        control("POST", "/_emulator/account/trusted-access", {"enabled": True})
        self.assertIn("standalone context", error_of(acct.list_regions, AccountId=ADMIN)[2])
        self.assertEqual(error_of(acct.list_regions, AccountId="999999999999")[:2], (403, "AccessDeniedException"))
        member_acct = client("account", creds=assume(member))
        self.assertEqual(error_of(member_acct.list_regions, AccountId="222233334444")[:2], (403, "AccessDeniedException"))
        # the generic deny and the fault rules
        control("POST", "/_emulator/deny", {"accountId": ADMIN, "operations": ["ListRegions"], "service": "account"})
        self.assertEqual(error_of(acct.list_regions)[2],
                         f"User: arn:aws:sts::{ADMIN}:assumed-role/emulator/session is not authorized to perform: "
                         "account:ListRegions")
        control("DELETE", "/_emulator/deny")
        control("POST", "/_emulator/faults", {"operation": "ListRegions", "kind": "throttle", "times": 1})
        self.assertEqual(error_of(acct.list_regions)[:2], (429, "TooManyRequestsException"))
        control("POST", "/_emulator/faults", {"operation": "ListRegions", "kind": "error500", "times": 1})
        self.assertEqual(error_of(acct.list_regions)[:2], (500, "InternalServerException"))
        acct.list_regions()
        control("POST", "/_emulator/account/regions", {"accountId": member, "regions": {"xx-east-9": "ENABLED"}}, expect=400)
        control("POST", "/_emulator/account/regions", {"accountId": member, "regions": {"af-south-1": "ON"}}, expect=400)
        control("POST", "/_emulator/account/trusted-access", {"enabled": "yes"}, expect=400)

    def test_list_regions_refuses_the_management_account_to_its_delegated_administrator(self):
        member, delegated = "111122223333", "222233334444"
        for account in (member, delegated):
            control("POST", "/_emulator/organizations/accounts", {"accountId": account, "email": f"{account}@example.com"})
        as_delegated = client("account", creds=assume(delegated))
        # Not yet the delegated administrator: no other account can be named.
        self.assertEqual(error_of(as_delegated.list_regions, AccountId=member)[:2], (403, "AccessDeniedException"))
        control("POST", "/_emulator/account/delegated-administrator", {"accountId": delegated})
        self.assertIn("af-south-1", {r["RegionName"] for r in as_delegated.list_regions(AccountId=member)["Regions"]})
        status, code, message = error_of(as_delegated.list_regions, AccountId=ADMIN)
        self.assertEqual((status, code), (403, "AccessDeniedException"))
        self.assertTrue(message.endswith("(The specified account ID must be a member account in the same organization.)"),
                        message)
        # The management account still reads only its own regions, in the standalone context.
        self.assertIn("standalone context", error_of(client("account").list_regions, AccountId=ADMIN)[2])
        control("POST", "/_emulator/account/delegated-administrator", {"accountId": ADMIN}, expect=400)
        control("POST", "/_emulator/account/delegated-administrator", {"accountId": None})
        self.assertEqual(error_of(as_delegated.list_regions, AccountId=member)[:2], (403, "AccessDeniedException"))



def finding(finding_id, account=ADMIN, region=REGION, **changes):
    """A finding in the shape guardduty-invite imports (all the required attributes)."""
    out = {"SchemaVersion": "2018-10-08", "Id": finding_id,
           "ProductArn": f"arn:aws:securityhub:{region}:{account}:product/{account}/default",
           "GeneratorId": "guardduty-invite", "AwsAccountId": account,
           "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
           "CreatedAt": "2026-11-26T06:00:00Z", "UpdatedAt": "2026-11-26T06:00:00Z",
           "Severity": {"Label": "HIGH"}, "Title": "GuardDuty not enabled", "Description": "d",
           "Resources": [{"Type": "AwsAccount", "Id": f"AWS::::Account:{account}"}],
           "Compliance": {"Status": "FAILED"}, "RecordState": "ACTIVE"}
    out.update(changes)
    return out


class SecurityHubFindings(EmulatorTest):
    def test_import_update_and_filter(self):
        control("POST", "/_emulator/securityhub/rate", {"rate": 1000, "burst": 1000})  # many reads here
        hub = client("securityhub")
        r = hub.batch_import_findings(Findings=[finding("a"), finding("b")])
        self.assertEqual((r["FailedCount"], r["SuccessCount"], r["FailedFindings"]), (0, 2, []))
        calls = control("GET", "/_emulator/calls")["calls"]
        self.assertEqual([(c["operation"], c["status"]) for c in calls[-1:]], [("BatchImportFindings", 200)])
        # re-importing the same Id updates it
        hub.batch_import_findings(Findings=[finding("a", RecordState="ARCHIVED", Compliance={"Status": "PASSED"},
                                                    UpdatedAt="2026-11-27T06:00:00Z")])
        found = hub.get_findings(Filters={"Id": [{"Value": "a", "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual(len(found), 1)
        self.assertEqual((found[0]["RecordState"], found[0]["Compliance"]["Status"], found[0]["UpdatedAt"],
                          found[0]["Workflow"]["Status"]), ("ARCHIVED", "PASSED", "2026-11-27T06:00:00Z", "NEW"))
        active = hub.get_findings(Filters={"RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual([f["Id"] for f in active], ["b"])
        both = hub.get_findings(Filters={"Id": [{"Value": "a", "Comparison": "EQUALS"},
                                                {"Value": "b", "Comparison": "EQUALS"}],
                                         "RecordState": [{"Value": "ARCHIVED", "Comparison": "NOT_EQUALS"}]})["Findings"]
        self.assertEqual([f["Id"] for f in both], ["b"])
        self.assertEqual(len(hub.get_findings()["Findings"]), 2)
        page = hub.get_findings(MaxResults=1)
        self.assertEqual(len(page["Findings"]) + len(hub.get_findings(NextToken=page["NextToken"])["Findings"]), 2)
        self.assertEqual(hub.get_findings(Filters={"Id": [{"Value": "a", "Comparison": "EQUALS"}]},
                                          MaxResults=1).get("NextToken"), None)
        self.assertEqual(client("securityhub", "eu-west-1").get_findings()["Findings"], [])  # per region
        self.assertEqual(error_of(hub.get_findings, MaxResults=101)[:2], (400, "InvalidInputException"))
        self.assertEqual(error_of(hub.get_findings, Filters={"UpdatedAt": [{"DateRange": {"Value": 1, "Unit": "DAYS"}}]})[:2],
                         (400, "InvalidInputException"))
        self.assertIn("HubArn", hub.describe_hub())
        # a finding that lacks a required attribute fails, the others are imported
        bad = finding("c")
        del bad["Severity"]
        r = hub.batch_import_findings(Findings=[bad, finding("d", Resources=[]), finding("e")])
        self.assertEqual((r["FailedCount"], r["SuccessCount"]), (2, 1))
        self.assertEqual([(f["Id"], f["ErrorCode"]) for f in r["FailedFindings"]], [("c", "InvalidInput"), ("d", "InvalidInput")])
        self.assertIn("required property 'Severity'", r["FailedFindings"][0]["ErrorMessage"])
        self.assertEqual(error_of(hub.batch_import_findings, Findings=[finding(str(i)) for i in range(101)])[:2],
                         (400, "InvalidInputException"))

    def test_not_subscribed_and_failed_findings(self):
        hub = client("securityhub")
        self.assertEqual(control("POST", "/_emulator/securityhub/not-subscribed", {"regions": ["eu-west-1"]}),
                         {"regions": ["eu-west-1"]})
        off = client("securityhub", "eu-west-1")
        for call in (lambda: off.batch_import_findings(Findings=[finding("a", region="eu-west-1")]),
                     lambda: off.get_findings(), lambda: off.describe_hub()):
            self.assertEqual(error_of(call), (401, "InvalidAccessException",
                                              f"Account {ADMIN} is not subscribed to AWS Security Hub"))
        member_off = client("securityhub", "eu-west-1", assume("111122223333"))
        self.assertIn("Account 111122223333 is", error_of(member_off.get_findings)[2])
        self.assertEqual(control("GET", "/_emulator/calls")["calls"][-1]["switch"], "not-subscribed")
        hub.get_findings()  # another region
        r = control("POST", "/_emulator/securityhub/failed-findings",
                    {"ids": ["b"], "errorCode": "LimitExceeded", "errorMessage": "too many", "times": 1})
        self.assertEqual(r["failedFindings"][0]["remaining"], 1)
        r = hub.batch_import_findings(Findings=[finding("a"), finding("b")])
        self.assertEqual((r["FailedCount"], r["SuccessCount"], r["FailedFindings"]),
                         (1, 1, [{"Id": "b", "ErrorCode": "LimitExceeded", "ErrorMessage": "too many"}]))
        self.assertEqual([f["Id"] for f in hub.get_findings()["Findings"]], ["a"])
        self.assertEqual(control("GET", "/_emulator/calls")["calls"][-2]["failedFindings"], {"b": "LimitExceeded"})
        self.assertEqual(hub.batch_import_findings(Findings=[finding("b")])["FailedCount"], 0)  # used up
        self.assertEqual(control("GET", "/_emulator/securityhub"),
                         {"notSubscribed": ["eu-west-1"], "failedFindings": [
                             {"ids": ["b"], "errorCode": "LimitExceeded", "errorMessage": "too many", "remaining": 0}]})
        control("POST", "/_emulator/securityhub/not-subscribed", {"regions": []})
        off.get_findings()
        control("POST", "/_emulator/securityhub/failed-findings", {"ids": []}, expect=400)
        control("POST", "/_emulator/reset")
        self.assertEqual(control("GET", "/_emulator/securityhub"), {"notSubscribed": [], "failedFindings": []})



class StorageAndTopics(EmulatorTest):
    def test_s3_put_object_with_sse_kms(self):
        s3 = client("s3")  # path-style, as an SDK addresses an IP endpoint
        s3.create_bucket(Bucket="guardduty-invite-reports")
        r = s3.put_object(Bucket="guardduty-invite-reports", Key="runs/1.json", Body=b"{}",
                          ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/aws/s3")
        self.assertEqual((r["ServerSideEncryption"], r["SSEKMSKeyId"]), ("aws:kms", "alias/aws/s3"))
        head = s3.head_object(Bucket="guardduty-invite-reports", Key="runs/1.json")
        self.assertEqual((head["ServerSideEncryption"], head["ContentLength"]), ("aws:kms", 2))
        call = control("GET", "/_emulator/calls")["calls"][-2]
        self.assertEqual((call["service"], call["operation"], call["status"]), ("s3", "PutObject", 200))
        control("POST", "/_emulator/deny", {"accountId": ADMIN, "operations": ["PutObject"], "service": "s3"})
        self.assertEqual(error_of(s3.put_object, Bucket="guardduty-invite-reports", Key="runs/2.json", Body=b"{}")[:2],
                         (403, "AccessDenied"))  # an S3 <Error> document
        control("POST", "/_emulator/faults", {"operation": "GetObject", "kind": "throttle", "times": 1})
        self.assertEqual(error_of(s3.get_object, Bucket="guardduty-invite-reports", Key="runs/1.json")[:2],
                         (503, "SlowDown"))

    def test_ssm_get_parameter(self):
        ssm = client("ssm")
        # moto builds SSM on its first request (seconds): concurrent first requests wait for it
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(error_of(ssm.get_parameter, Name="/nope")[1]))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(answers, ["ParameterNotFound"] * 4)
        ssm.put_parameter(Name="/guardduty-invite/config", Value="secret", Type="SecureString")
        self.assertEqual(ssm.get_parameter(Name="/guardduty-invite/config", WithDecryption=True)["Parameter"]["Value"],
                         "secret")
        self.assertEqual(error_of(ssm.get_parameter, Name="/nope")[:2], (400, "ParameterNotFound"))

    def test_sns_topic_with_kms_key(self):
        sns = client("sns")
        arn = sns.create_topic(Name="guardduty-invite-problems", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
        self.assertEqual(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["KmsMasterKeyId"], "alias/aws/sns")



class InputRules(EmulatorTest):
    """Input AWS refuses and moto accepts: SNS Publish's subject and size, STS's session name."""

    def test_sns_publish_refuses_a_long_subject_and_counts_bytes_and_attributes(self):
        sns = client("sns")
        arn = sns.create_topic(Name="rules")["TopicArn"]
        sns.publish(TopicArn=arn, Subject="s" * 99, Message="m")
        self.assertEqual(error_of(sns.publish, TopicArn=arn, Subject="s" * 100, Message="m")[:2],
                         (400, "InvalidParameter"))
        sns.publish(TopicArn=arn, Message="m" * 262_144)
        # 131,073 two-byte characters: under moto's character count, over AWS's byte count
        self.assertEqual(error_of(sns.publish, TopicArn=arn, Message="\u00e9" * 131_073)[:2],
                         (400, "InvalidParameter"))
        attribute = {"kind": {"DataType": "String", "StringValue": "x"}}  # 4 + 6 + 1 bytes
        self.assertEqual(error_of(sns.publish, TopicArn=arn, Message="m" * (262_144 - 10),
                                  MessageAttributes=attribute)[:2], (400, "InvalidParameter"))
        sns.publish(TopicArn=arn, Message="m" * (262_144 - 11), MessageAttributes=attribute)

    def test_sns_publish_refuses_a_message_structure_without_a_default_string(self):
        sns = client("sns")
        arn = sns.create_topic(Name="structured")["TopicArn"]
        # No subscriber: SNS checks the structure at Publish all the same (moto only on delivery).
        for message, text in (('{"email": "x"}', "No default entry"), ('{"default": 1}', "No default entry"),
                              ("not json", "failed to parse"), ('["default"]', "failed to parse")):
            status, code, said = error_of(sns.publish, TopicArn=arn, Message=message, MessageStructure="json")
            self.assertEqual((status, code), (400, "InvalidParameter"), message)
            self.assertIn(text, said, message)
        sns.publish(TopicArn=arn, Message='{"default": "d", "email": "e"}', MessageStructure="json")

    def test_each_subscriber_gets_its_protocols_entry_and_email_gets_plain_text(self):
        sns, sqs = client("sns"), client("sqs")
        arn = sns.create_topic(Name="per-protocol")["TopicArn"]
        queue = sqs.create_queue(QueueName="per-protocol-q")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for protocol, endpoint in (("sqs", queue_arn), ("email", "secops@example.com"),
                                   ("email-json", "robot@example.com"), ("https", "https://chat.example.com/")):
            sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
        structure = {"default": '{"doc": 1}', "email": "Plain words.", "https": '{"version": "1.0"}'}
        sns.publish(TopicArn=arn, Subject="s", Message=json.dumps(structure), MessageStructure="json")
        got = {d["protocol"]: d for d in control("GET", "/_emulator/sns/deliveries")["deliveries"]}
        self.assertEqual((got["email"]["body"], got["email"]["subject"]), ("Plain words.", "s"))
        self.assertEqual(json.loads(got["email-json"]["body"])["Message"], '{"doc": 1}')
        self.assertEqual(json.loads(got["https"]["body"])["Message"], '{"version": "1.0"}')
        received = sqs.receive_message(QueueUrl=queue)["Messages"]
        self.assertEqual(json.loads(received[0]["Body"])["Message"], '{"doc": 1}')

    def test_assume_role_refuses_a_session_name_outside_the_pattern(self):
        sts = client("sts")
        role = f"arn:aws:iam::{ADMIN}:role/member"
        control("POST", "/_emulator/iam/roles", {"accountId": ADMIN, "roleName": "member"})
        sts.assume_role(RoleArn=role, RoleSessionName="guardduty-invite")
        for name in ("x", "has space", "a" * 65, "slash/name"):
            self.assertEqual(error_of(sts.assume_role, RoleArn=role, RoleSessionName=name)[:2],
                             (400, "ValidationError"), name)

class SchedulerRules(EmulatorTest):
    """EventBridge Scheduler CreateSchedule refuses what the service refuses, where moto does not."""

    TARGET = {"Arn": f"arn:aws:lambda:{REGION}:{ADMIN}:function:invite",
              "RoleArn": f"arn:aws:iam::{ADMIN}:role/scheduler", "Input": "{}"}

    def create(self, **changes):
        args = dict(Name="retry-1", GroupName="retries", ScheduleExpression="at(2030-01-02T03:04:05)",
                    FlexibleTimeWindow={"Mode": "OFF"}, Target=self.TARGET, ActionAfterCompletion="DELETE")
        args.update(changes)
        return client("scheduler").create_schedule(**{k: v for k, v in args.items() if v is not None})

    def test_create_schedule_checks_names_expression_group_and_conflict(self):
        scheduler = client("scheduler")
        self.assertEqual(error_of(self.create)[:2], (404, "ResourceNotFoundException"), "no such group")
        scheduler.create_schedule_group(Name="retries")
        self.create()
        got = scheduler.get_schedule(Name="retry-1", GroupName="retries")
        self.assertEqual((got["ScheduleExpression"], got["ActionAfterCompletion"], got["Target"]["Input"]),
                         ("at(2030-01-02T03:04:05)", "DELETE", "{}"))
        self.assertEqual(error_of(self.create)[:2], (409, "ConflictException"), "name taken")
        for changes in ({"Name": "has space"}, {"Name": "a" * 65}, {"Name": "slash:colon"},
                        {"ScheduleExpression": "at(2030-01-02 03:04)"}, {"ScheduleExpression": "at(2030-13-02T03:04:05)"},
                        {"ActionAfterCompletion": "REMOVE"}, {"FlexibleTimeWindow": None},
                        {"Target": {"Arn": self.TARGET["Arn"]}}, {"Target": dict(self.TARGET, Input="")}):
            self.assertEqual(error_of(self.create, **dict({"Name": "retry-2"}, **changes))[:2],
                             (400, "ValidationException"), changes)
        self.create(Name="retry-2.a_b-C")


def account_ids_in(value):
    """Every 12-digit "accountId" value in a JSON document."""
    if isinstance(value, dict):
        return {v for k, v in value.items() if k == "accountId" and isinstance(v, str) and len(v) == 12} | {
            a for v in value.values() for a in account_ids_in(v)}
    if isinstance(value, list):
        return {a for v in value for a in account_ids_in(v)}
    return set()


class MemberRoles(EmulatorTest):
    """STS AssumeRole needs the role to exist in the target account, as IAM does."""

    MEMBER = "111122223333"

    def assume_call(self, arn):
        return client("sts").assume_role(RoleArn=arn, RoleSessionName="selfcheck")

    def test_assume_role_of_a_role_that_does_not_exist_is_refused_and_logged(self):
        arn = f"arn:aws:iam::{self.MEMBER}:role/{MEMBER_ROLE}"
        status, code, message = error_of(self.assume_call, arn)
        self.assertEqual((status, code, message), (403, "AccessDenied",
                         f"User: arn:aws:iam::{ADMIN}:user/emulator is not authorized to perform: "
                         f"sts:AssumeRole on resource: {arn}"))
        call = control("GET", "/_emulator/calls")["calls"][-1]
        self.assertEqual((call["operation"], call["status"], call["roleArn"], call["switch"]),
                         ("AssumeRole", 403, arn, "missing-role"))

    def test_a_created_role_is_assumed_and_only_by_its_exact_name_and_account(self):
        r = control("POST", "/_emulator/iam/roles", {"accountId": self.MEMBER, "roleName": MEMBER_ROLE})
        self.assertEqual(r, {"roles": {self.MEMBER: [MEMBER_ROLE]}})
        arn = f"arn:aws:iam::{self.MEMBER}:role/{MEMBER_ROLE}"
        creds = self.assume_call(arn)["Credentials"]
        me = client("sts", creds=session(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]))
        self.assertEqual(me.get_caller_identity()["Account"], self.MEMBER)
        call = [c for c in control("GET", "/_emulator/calls")["calls"] if c["operation"] == "AssumeRole"][-1]
        self.assertEqual((call["status"], call["roleArn"]), (200, arn))
        self.assertNotIn("switch", call)
        for other in (f"arn:aws:iam::{self.MEMBER}:role/guarddutyinvitemember",  # names are case sensitive
                      f"arn:aws:iam::{self.MEMBER}:role/OrganizationAccountAccessRole",
                      f"arn:aws:iam::{self.MEMBER}:role/team/{MEMBER_ROLE}",  # another path
                      f"arn:aws:iam::222233334444:role/{MEMBER_ROLE}"):  # another account
            self.assertEqual(error_of(self.assume_call, other)[:2], (403, "AccessDenied"), other)
            self.assertEqual(control("GET", "/_emulator/calls")["calls"][-1]["roleArn"], other)
        control("POST", "/_emulator/iam/roles", {"accountIds": ["222233334444", "333344445555"], "roleName": "Other"})
        self.assertEqual(control("GET", "/_emulator/iam/roles")["roles"],
                         {self.MEMBER: [MEMBER_ROLE], "222233334444": ["Other"], "333344445555": ["Other"]})
        self.assume_call("arn:aws:iam::333344445555:role/Other")
        for bad in ({"accountId": "12", "roleName": "x"}, {"accountId": self.MEMBER},
                    {"accountId": self.MEMBER, "roleName": "has space"}, {"accountId": self.MEMBER, "roleName": "r" * 65}):
            control("POST", "/_emulator/iam/roles", bad, expect=400)
        control("DELETE", "/_emulator/iam/roles")
        self.assertEqual(error_of(self.assume_call, arn)[:2], (403, "AccessDenied"))

    def test_a_role_created_with_iam_in_the_account_is_assumed(self):
        member_iam = client("iam", creds=assume(self.MEMBER))
        created = member_iam.create_role(RoleName="Created", Path="/team/", AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{ADMIN}:root"}}]}))
        self.assertEqual(created["Role"]["Arn"], f"arn:aws:iam::{self.MEMBER}:role/team/Created")
        self.assume_call(created["Role"]["Arn"])
        self.assertEqual(error_of(self.assume_call, f"arn:aws:iam::{self.MEMBER}:role/Created")[:2],
                         (403, "AccessDenied"))  # its path is part of its ARN

    def test_reset_deletes_the_roles(self):
        control("POST", "/_emulator/iam/roles", {"accountId": self.MEMBER, "roleName": MEMBER_ROLE})
        control("POST", "/_emulator/reset")
        self.assertEqual(control("GET", "/_emulator/iam/roles"), {"roles": {}})


class DemoWorld(EmulatorTest):
    def seed(self):
        out = subprocess.run([sys.executable, str(HERE / "emuctl.py"), "--endpoint", SERVER["endpoint"], "seed",
                              "--demo-world"], capture_output=True, text=True, timeout=60, check=True).stdout
        return json.loads(out)

    def test_seed_demo_world(self):
        control("POST", "/_emulator/reset")
        seeded = self.seed()
        self.assertEqual(set(seeded), {"topicArn", "queueUrl", "detectors"})
        self.assertEqual(sorted(seeded["detectors"]), ["eu-west-1", "us-east-1"])
        self.assertEqual(self.seed(), seeded)  # again: the same world, nothing doubled
        # the member role in every organization account, none in the foreign one
        self.assertEqual(control("GET", "/_emulator/iam/roles")["roles"],
                         {a: [MEMBER_ROLE] for a in ("111122223333", "222233334444", "333344445555", "555566667777")})
        org = client("organizations")
        snapshot = control("GET", "/_emulator/guardduty/members")
        foreign = set(snapshot["foreignAccounts"])
        self.assertEqual(foreign, {"444455556666"})
        samples = sorted((HERE.parent / "events").glob("*.json"))
        self.assertTrue(samples)
        named = set()
        for sample in samples:
            named |= account_ids_in(json.loads(sample.read_text()))
        self.assertTrue({"111122223333", "222233334444", "444455556666", "555566667777"} <= named, named)
        for account in named - foreign:
            described = org.describe_account(AccountId=account)["Account"]
            self.assertIn("@", described["Email"], account)
        self.assertEqual(error_of(org.describe_account, AccountId="444455556666")[1], "AccountNotFoundException")
        listed = {a["Id"]: a for a in org.list_accounts()["Accounts"]}
        self.assertEqual(listed["333344445555"]["JoinedMethod"], "INVITED")
        workloads = [o for o in org.list_organizational_units_for_parent(ParentId=org.list_roots()["Roots"][0]["Id"])
                     ["OrganizationalUnits"] if o["Name"] == "Workloads"]
        self.assertEqual([a["Id"] for a in org.list_accounts_for_parent(ParentId=workloads[0]["Id"])["Accounts"]],
                         ["222233334444"])
        for region, detector in seeded["detectors"].items():
            self.assertEqual(client("guardduty", region).list_detectors()["DetectorIds"], [detector])
        sns = client("sns")
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=seeded["topicArn"])["Subscriptions"]
        # the queue, and the people's email and chat channel: each once, though seeded twice
        self.assertEqual(sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions if s["Protocol"] != "sqs"),
                         [("email", "security-team@example.com"), ("https", "https://chat.example.com/guardduty")])
        self.assertEqual([s["Protocol"] for s in subscriptions].count("sqs"), 1)


    def test_seed_names_another_member_role_or_none(self):
        def seed(*extra):
            subprocess.run([sys.executable, str(HERE / "emuctl.py"), "--endpoint", SERVER["endpoint"], "seed",
                            "--account", "111122223333:a@example.com:A", *extra],
                           capture_output=True, text=True, timeout=60, check=True)
            return control("GET", "/_emulator/iam/roles")["roles"]
        self.assertEqual(seed(), {"111122223333": [MEMBER_ROLE]})
        control("POST", "/_emulator/reset")
        self.assertEqual(seed("--member-role", "AWSControlTowerExecution"), {"111122223333": ["AWSControlTowerExecution"]})
        control("POST", "/_emulator/reset")
        self.assertEqual(seed("--no-member-role"), {})


class EmuctlWithoutEmulator(unittest.TestCase):
    """emuctl against an endpoint where nothing listens: one line that says so, no traceback."""

    def test_members_against_a_stopped_emulator_is_one_line(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
        for command in (["members"], ["calls"], ["seed", "--demo-world"]):
            done = subprocess.run([sys.executable, str(HERE / "emuctl.py"), "--endpoint", endpoint, *command],
                                  capture_output=True, text=True, timeout=60)
            self.assertEqual(done.returncode, 1, done.stderr)
            self.assertEqual(done.stderr.splitlines()[0],
                             f"emuctl: no emulator answers at {endpoint} ([Errno 111] Connection refused); "
                             "start one with: eval \"$(.venv/bin/python testsupport/emuctl.py start)\"")
            self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)


class SecurityHubRules(EmulatorTest):
    def test_a_finding_of_another_account_refuses_the_whole_call(self):
        hub = client("securityhub")
        code, kind, message = error_of(hub.batch_import_findings,
                                       Findings=[finding("mine"), finding("theirs", AwsAccountId="111122223333")])
        self.assertEqual((code, kind), (403, "AccessDeniedException"))
        self.assertIn("is not authorized to perform: securityhub:BatchImportFindings on resource: "
                      f"arn:aws:securityhub:{REGION}:{ADMIN}:product/{ADMIN}/default", message)
        self.assertEqual(control("GET", "/_emulator/securityhub/findings")["findings"], [])  # nothing imported
        member = client("securityhub", REGION, assume("111122223333"))
        r = member.batch_import_findings(Findings=[finding("own", account="111122223333")])
        self.assertEqual(r["SuccessCount"], 1)  # each account imports its own

    def test_provider_fields_satisfy_severity_and_types_and_fill_the_top_level(self):
        hub = client("securityhub")
        provided = finding("p", FindingProviderFields={"Severity": {"Label": "HIGH"}, "Types": ["T/a"]})
        del provided["Severity"], provided["Types"]
        neither = finding("n")
        del neither["Types"]
        r = hub.batch_import_findings(Findings=[provided, neither])
        self.assertEqual([(f["Id"], f["ErrorCode"]) for f in r["FailedFindings"]], [("n", "InvalidInput")])
        self.assertIn("required property 'Types'", r["FailedFindings"][0]["ErrorMessage"])
        stored, = control("GET", "/_emulator/securityhub/findings")["findings"]
        self.assertEqual((stored["Severity"], stored["Types"], stored["_account"], stored["_region"]),
                         ({"Label": "HIGH"}, ["T/a"], ADMIN, REGION))

    def test_an_update_not_later_than_the_stored_one_is_ignored_and_created_at_is_kept(self):
        hub = client("securityhub")
        hub.batch_import_findings(Findings=[finding("a", UpdatedAt="2026-11-26T06:00:00.500Z")])
        for stale in ("2026-11-26T06:00:00.500Z", "2026-11-26T06:00:00Z"):
            r = hub.batch_import_findings(Findings=[finding("a", UpdatedAt=stale, RecordState="ARCHIVED",
                                                            CreatedAt="2026-11-27T00:00:00Z")])
            self.assertEqual((r["SuccessCount"], r["FailedCount"]), (1, 0))  # ignored, not refused
        stored, = control("GET", "/_emulator/securityhub/findings")["findings"]
        self.assertEqual((stored["RecordState"], stored["CreatedAt"]), ("ACTIVE", "2026-11-26T06:00:00Z"))
        hub.batch_import_findings(Findings=[finding("a", UpdatedAt="2026-11-26T06:00:00.501Z", RecordState="ARCHIVED")])
        stored, = control("GET", "/_emulator/securityhub/findings")["findings"]
        self.assertEqual((stored["RecordState"], stored["CreatedAt"], stored["UpdatedAt"]),
                         ("ARCHIVED", "2026-11-26T06:00:00Z", "2026-11-26T06:00:00.501Z"))

    def test_get_findings_past_its_rate_is_throttled_and_the_rate_can_be_raised(self):
        hub = client("securityhub")
        for _ in range(6):  # the burst
            hub.get_findings()
        self.assertEqual(error_of(hub.get_findings), (429, "TooManyRequestsException", "Too Many Requests"))
        self.assertEqual(control("GET", "/_emulator/calls")["calls"][-1]["switch"], "rate-limit")
        client("securityhub", "eu-west-1").get_findings()  # per region
        time.sleep(0.4)  # 3 a second: one more token
        hub.get_findings()
        self.assertEqual(control("POST", "/_emulator/securityhub/rate", {"rate": 100, "burst": 50}),
                         {"rate": 100.0, "burst": 50})
        for _ in range(20):
            hub.get_findings()
        control("POST", "/_emulator/securityhub/rate", {"rate": 0}, expect=400)

    def test_get_findings_filters_at_most_ten_attributes_of_twenty_values(self):
        hub = client("securityhub")
        ids = [{"Value": str(i), "Comparison": "EQUALS"} for i in range(21)]
        self.assertEqual(error_of(hub.get_findings, Filters={"Id": ids})[:2], (400, "InvalidInputException"))
        self.assertEqual(hub.get_findings(Filters={"Id": ids[:20]})["Findings"], [])


class Throttling(EmulatorTest):
    """Every API has a token bucket per account and region (Organizations: per organization);
    past it, the service's own throttling error."""
    THROTTLED = True

    def until_throttled(self, call, *args, **kwargs):
        """Calls until one is throttled: (calls answered, seconds taken, the error)."""
        started = time.monotonic()
        for answered in range(1000):
            try:
                call(*args, **kwargs)
            except ClientError as e:
                r = e.response
                if r["Error"]["Code"] in ("TooManyRequestsException", "Throttling", "ThrottlingException"):
                    error = r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]
                    return answered, time.monotonic() - started, error
        raise AssertionError("never throttled")

    def assert_bucket(self, answered, seconds, rate, burst):
        """As many answered as the burst plus what the rate refilled meanwhile, no more."""
        self.assertGreaterEqual(answered, burst)
        self.assertLessEqual(answered, burst + rate * seconds + 1)

    def test_guardduty_past_its_burst_answers_429_too_many_requests_per_account_and_region(self):
        answered, seconds, error = self.until_throttled(self.gd.list_members, DetectorId=self.detector)
        self.assert_bucket(answered, seconds, 5, 10)  # assumed: 5 a second, burst 10
        self.assertEqual(error[:2], (429, "TooManyRequestsException"))
        self.assertEqual(control("GET", "/_emulator/calls")["calls"][-1]["switch"], "rate-limit")
        client("guardduty", "eu-west-1").list_detectors()  # another region: its own bucket
        self.gd.list_detectors()  # another API: its own bucket
        time.sleep(0.25)  # 5 a second: one more token
        self.gd.list_members(DetectorId=self.detector)
        state = control("GET", "/_emulator/throttle")
        self.assertEqual(state["throttled"], {"guardduty:ListMembers": 1})
        self.assertIn({"service": "*", "operation": "*", "rate": 5.0, "burst": 10, "source": "assumed"},
                      state["rates"])

    def test_organizations_is_throttled_per_organization_with_too_many_requests(self):
        org = client("organizations")
        org.create_organization(FeatureSet="ALL")
        answered, seconds, error = self.until_throttled(org.list_roots)
        self.assert_bucket(answered, seconds, 5, 10)
        self.assertEqual(error[:2], (400, "TooManyRequestsException"))
        member = assume("111122223333")
        # another account of the organization draws on the same bucket
        self.assertEqual(error_of(client("organizations", creds=member).list_roots)[:2],
                         (400, "TooManyRequestsException"))

    def test_sts_throttles_with_throttling_and_sns_with_throttling_exception(self):
        sts, sns = client("sts"), client("sns")
        answered, seconds, error = self.until_throttled(sts.get_caller_identity)
        self.assert_bucket(answered, seconds, 5, 10)
        self.assertEqual(error, (400, "Throttling", "Rate exceeded"))
        answered, seconds, error = self.until_throttled(sns.list_topics)
        self.assert_bucket(answered, seconds, 5, 10)
        self.assertEqual(error, (400, "ThrottlingException", "Rate exceeded"))

    def test_security_hub_rates_are_aws_published_ones(self):
        hub = client("securityhub")
        answered, seconds, error = self.until_throttled(hub.get_findings)
        self.assert_bucket(answered, seconds, 3, 6)
        self.assertEqual(error, (429, "TooManyRequestsException", "Too Many Requests"))
        finding = {"SchemaVersion": "2018-10-08"}  # refused as invalid, but after the bucket
        answered, seconds, error = self.until_throttled(hub.batch_import_findings, Findings=[finding])
        self.assert_bucket(answered, seconds, 10, 30)
        self.assertEqual(error[:2], (429, "TooManyRequestsException"))

    def test_rates_are_set_and_throttling_turned_off_through_the_control(self):
        control("POST", "/_emulator/throttle", {"rates": [{"service": "guardduty", "operation": "ListMembers",
                                                           "rate": 2, "burst": 2}]})
        answered, seconds, _ = self.until_throttled(self.gd.list_members, DetectorId=self.detector)
        self.assert_bucket(answered, seconds, 2, 2)
        control("POST", "/_emulator/throttle", {"enabled": False})
        for _ in range(30):
            self.gd.list_members(DetectorId=self.detector)
        control("POST", "/_emulator/reset")  # a reset restores the default: off, AWS's rates
        self.assertEqual(control("GET", "/_emulator/throttle")["enabled"], False)
        hub = client("securityhub")  # but GetFindings' bucket is always kept
        answered, seconds, _ = self.until_throttled(hub.get_findings)
        self.assert_bucket(answered, seconds, 3, 6)
        control("POST", "/_emulator/throttle", {"rates": [{"service": "*", "rate": 0, "burst": 1}]}, expect=400)
        control("POST", "/_emulator/throttle", {"enabled": "no"}, expect=400)


class ForkServerTest(unittest.TestCase):
    """--fork-server (the Rust tests' one emulator per test binary): each world starts empty
    whatever another world holds, and EOF on the fork server's stdin ends every world."""

    def test_worlds_share_nothing_and_end_with_the_fork_server(self):
        import os, tempfile
        server = subprocess.Popen([sys.executable, str(HERE / "emulator.py"), "--fork-server"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.assertEqual(server.stdout.readline().strip(), "READY fork-server")
        worlds = []
        with tempfile.TemporaryDirectory() as logs:
            for i in range(2):
                server.stdin.write(f"fork {logs}/world{i}.log\n")
                server.stdin.flush()
                ready, url, pid = server.stdout.readline().split()
                self.assertEqual(ready, "READY")
                worlds.append((url, int(pid)))
            (first, _), (second, _) = worlds

            def ask(url, method, path, body=None):
                request = urllib.request.Request(url + path, method=method,
                                                 data=json.dumps(body).encode() if body else None,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.load(response)

            gd = boto3.client("guardduty", region_name=REGION, endpoint_url=first,
                              aws_access_key_id="testing", aws_secret_access_key="testing", config=CONFIG)
            gd.create_detector(Enable=True)
            ask(first, "POST", "/_emulator/faults", {"operation": "ListDetectors", "kind": "throttle"})
            self.assertEqual(len(ask(first, "GET", "/_emulator/calls")["calls"]), 1)
            self.assertEqual(ask(second, "GET", "/_emulator/calls")["calls"], [])
            gd2 = boto3.client("guardduty", region_name=REGION, endpoint_url=second,
                               aws_access_key_id="testing", aws_secret_access_key="testing", config=CONFIG)
            self.assertEqual(gd2.list_detectors()["DetectorIds"], [])  # no fault, no detector
            server.stdin.close()
            server.wait(timeout=10)
            server.stdout.close()
            deadline = time.time() + 5
            while any(os.path.exists(f"/proc/{pid}") for _, pid in worlds) and time.time() < deadline:
                time.sleep(0.1)
            self.assertFalse([pid for _, pid in worlds if os.path.exists(f"/proc/{pid}")])


class UsageStatistics(EmulatorTest):
    """GetUsageStatistics: the seeded cost per account and feature; AWS's limits refused."""

    def seed(self):
        control("POST", "/_emulator/guardduty/usage", {"region": REGION, "costs": {
            "111122223333": {"S3_DATA_EVENTS": 1.5, "EC2_RUNTIME_MONITORING": 2.25},
            "222233334444": {"S3_DATA_EVENTS": 4}}})

    def usage(self, kind, ids, **extra):
        return self.gd.get_usage_statistics(DetectorId=self.detector, UsageStatisticType=kind,
                                            UsageCriteria={"AccountIds": ids}, Unit="USD", **extra)

    def test_sums_by_account_and_by_feature_over_the_named_accounts(self):
        self.seed()
        by_account = self.usage("SUM_BY_ACCOUNT", ["111122223333", "222233334444", "999999999999"])
        self.assertEqual(by_account["UsageStatistics"]["SumByAccount"], [
            {"AccountId": "111122223333", "Total": {"Amount": "3.75", "Unit": "USD"}},
            {"AccountId": "222233334444", "Total": {"Amount": "4.00", "Unit": "USD"}}])
        by_feature = self.usage("SUM_BY_FEATURES", ["111122223333", "222233334444"])
        self.assertEqual(by_feature["UsageStatistics"]["SumByFeature"], [
            {"Feature": "EC2_RUNTIME_MONITORING", "Total": {"Amount": "2.25", "Unit": "USD"}},
            {"Feature": "S3_DATA_EVENTS", "Total": {"Amount": "5.50", "Unit": "USD"}}])

    def test_pages_with_next_token(self):
        self.seed()
        first = self.usage("SUM_BY_ACCOUNT", ["111122223333", "222233334444"], MaxResults=1)
        self.assertEqual(len(first["UsageStatistics"]["SumByAccount"]), 1)
        second = self.usage("SUM_BY_ACCOUNT", ["111122223333", "222233334444"], MaxResults=1,
                            NextToken=first["NextToken"])
        self.assertEqual(second["UsageStatistics"]["SumByAccount"][0]["AccountId"], "222233334444")
        self.assertNotIn("NextToken", second)

    def test_more_than_50_account_ids_or_a_bad_limit_is_refused(self):
        ids = [f"{i:012d}" for i in range(1, 52)]
        self.assertEqual(error_of(self.usage, "SUM_BY_ACCOUNT", ids)[:2], (400, "BadRequestException"))
        self.assertEqual(error_of(self.usage, "SUM_BY_ACCOUNT", [])[:2], (400, "BadRequestException"))
        self.assertEqual(error_of(self.usage, "SUM_BY_ACCOUNT", ids[:2], MaxResults=51)[:2],
                         (400, "BadRequestException"))
        self.assertEqual(error_of(self.gd.get_usage_statistics, DetectorId=self.detector,
                                  UsageStatisticType="SUM_BY_ACCOUNT", UsageCriteria={"AccountIds": ids[:1]},
                                  Unit="EUR")[:2], (400, "BadRequestException"))
        self.assertEqual(error_of(self.gd.get_usage_statistics, DetectorId=self.detector,
                                  UsageStatisticType="SUM_BY_ACCOUNT",
                                  UsageCriteria={"Features": ["NOT_A_FEATURE"]})[:2], (400, "BadRequestException"))

    def test_a_detector_not_the_caller_s_is_refused(self):
        status, code, message = error_of(self.gd.get_usage_statistics, DetectorId="0" * 32,
                                         UsageStatisticType="SUM_BY_ACCOUNT",
                                         UsageCriteria={"AccountIds": ["111122223333"]})
        self.assertEqual((status, code), (400, "BadRequestException"))
        self.assertIn("not owned by the current account", message)


if __name__ == "__main__":
    unittest.main()
