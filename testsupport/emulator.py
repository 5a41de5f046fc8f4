#!/usr/bin/env python3
"""Loopback AWS emulator for guardduty-invite's end-to-end tests and README demo.

One process, one port: the real moto server (pinned in requirements.txt) serves SNS, SQS,
Organizations, STS and GuardDuty detectors; a WSGI middleware in front of it adds

* the GuardDuty member API that moto lacks (CreateMembers, InviteMembers, GetMembers,
  ListMembers, DeleteMembers, DisassociateMembers), rest-json as in botocore's model, with
  the UnprocessedAccounts `result` strings of shared/aws-facts.md;
* fault injection (5xx, throttling, delays, hangs) for every AWS request, moto's too;
* a log of every AWS request;
* a plain-JSON control API under /_emulator/ (no auth):

  POST   /_emulator/reset                      clear everything below and moto's own state
  GET    /_emulator/health                     {"ok": true}
  POST   /_emulator/faults                     add a rule: {"operation": "InviteMembers"|"*",
                                               "kind": "error500"|"throttle"|"delay"|"hang",
                                               "times": N (default unlimited), "delay_ms": N
                                               (delay; hang defaults to 300000), "region": ...,
                                               "service": ...}; first matching rule with
                                               times left wins, one use per request
  GET    /_emulator/faults                     {"faults": [rule + "remaining"]}
  DELETE /_emulator/faults                     remove all rules (and wake hung requests)
  GET    /_emulator/calls                      {"calls": [{"service", "operation", "region",
                                               "status", "accountIds" (member ops only),
                                               "fault" (if injected), "ts", "duration_ms"
                                               (server-side serving time)}]}, arrival order
  DELETE /_emulator/calls                      empty the log
  POST   /_emulator/guardduty/foreign-accounts      {"accountIds": [...]}: members of
                                                    another administrator
  POST   /_emulator/guardduty/organization-accounts {"accountIds": [...]}: CreateMembers
                                                    makes them Enabled at once
  POST   /_emulator/guardduty/member-status    {"region", "detectorId", "accountId",
                                               "relationshipStatus", "email"?}: force a status
  GET    /_emulator/guardduty/members          {"members": {region: {detectorId: {accountId:
                                               member}}}, "foreignAccounts", "organizationAccounts"}
  POST   /_emulator/organizations/accounts     {"accountId", "email", "name"}: an account with
                                               that id in the caller's organization

The caller is moto's default account 123456789012 (any access key).

    python testsupport/emulator.py [--host 127.0.0.1] [--port 0] [--verbose] [--ignore-stdin]

prints `READY http://HOST:PORT` on stdout once listening; everything else goes to stderr.
It exits when its stdin reaches EOF (unless --ignore-stdin), so a dead test runner never
leaves it behind, and on SIGTERM/SIGINT.
"""

import argparse
import base64
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs

import botocore.loaders
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_input_stream

from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
# Imported here, before any request thread exists: importing them lazily from a request while
# another thread builds the same moto modules can race into a circular-import error.
from moto.guardduty.models import guardduty_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.organizations.models import organizations_backends

CALLER = DEFAULT_ACCOUNT_ID

# UnprocessedAccounts[].result texts (shared/aws-facts.md).
SELF_MEMBER = "The request is rejected because the current account cannot become a member of itself."
FOREIGN = ("The request is rejected because the given account ID is already an associated "
           "member of another master account.")
ALREADY_MEMBER = ("The request is rejected because the given account ID is already a member "
                  "or associated member of the current account.")
NO_EMAIL = "The request is rejected because the email address is missing."
NOT_MEMBER = ("The request is rejected because the given account ID is not an associated "
              "member of account the current account.")
ALREADY_INVITED = ("The request is rejected because the current account has already invited "
                   "or is already the GuardDuty master of the given member account ID.")
SELF_INVITE = "The request is rejected because the current account cannot invite itself."
BAD_INPUT = ("The request is rejected because an invalid or out-of-range value is specified "
             "as an input parameter.")
NO_DETECTOR = "The request is rejected because the input detectorId is not owned by the current account."

MEMBER_OPS = {"CreateMembers", "InviteMembers", "GetMembers", "ListMembers", "DeleteMembers",
              "DisassociateMembers"}
ACCOUNT_ID = re.compile(r"[0-9]{12}")
FAULT_KINDS = {"error500", "throttle", "delay", "hang"}


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def json_response(payload, status=200, headers=None):
    return Response(json.dumps(payload), status, headers=headers, content_type="application/json")


def aws_error(protocol, status, code, message, sender=True):
    """An error response the way the service's protocol shapes it (SDKs key on `code`)."""
    request_id = str(uuid.uuid4())
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>{'Sender' if sender else 'Receiver'}</Type>"
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return Response(body, status, headers={"x-amzn-RequestId": request_id},
                        content_type="text/xml")
    return json_response({"__type": code, "message": message}, status,
                         {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id})


# ---------------------------------------------------------------- recognising a request

_rest_routes = {}
_rest_routes_lock = threading.Lock()


def rest_operation(service, method, path):
    """Operation name of a rest-json/rest-xml request, from botocore's model routes."""
    with _rest_routes_lock:
        if service not in _rest_routes:
            try:
                model = botocore.loaders.create_loader().load_service_model(service, "service-2")
            except Exception:
                model = {"operations": {}}
            routes = []
            for name, op in model["operations"].items():
                uri = op["http"]["requestUri"].split("?")[0].rstrip("/")
                parts = re.split(r"(\{[^}]+\})", uri)
                pattern = "".join((".+" if p.endswith("+}") else "[^/]+") if p.startswith("{")
                                  else re.escape(p) for p in parts)
                literal = sum(len(p) for p in parts if not p.startswith("{"))
                routes.append((literal, op["http"]["method"], re.compile(pattern + "/?"), name))
            routes.sort(key=lambda r: -r[0])  # most specific first
            _rest_routes[service] = routes
    for _, route_method, regex, name in _rest_routes[service]:
        if route_method == method and regex.fullmatch(path):
            return name
    return "Unknown"


def describe(environ, body):
    """(service, region, operation, protocol) of an AWS request."""
    scope = re.search(r"Credential=[^/,\s]+/[0-9]{8}/([^/]+)/([^/]+)/aws4_request",
                      environ.get("HTTP_AUTHORIZATION", ""))
    region, service = scope.groups() if scope else ("us-east-1", "unknown")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, region, target.rsplit(".", 1)[-1], "json"
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if not action and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    if action:
        return service, region, action[0], "query"
    return service, region, rest_operation(service, environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")), "rest-json"


# ---------------------------------------------------------------- GuardDuty members

class GuardDutyMembers:
    """Member state per (region, detectorId); the detector itself lives in moto."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.members = {}  # (region, detectorId) -> {accountId: member}
            self.foreign = set()
            self.organization = set()

    @staticmethod
    def public(member):
        out = {k: member[k] for k in ("accountId", "email", "relationshipStatus", "updatedAt")}
        out.update(masterId=CALLER, administratorId=CALLER)
        if member["invitedAt"]:
            out["invitedAt"] = member["invitedAt"]
        return out

    def handle(self, operation, region, detector_id, query, body):
        try:
            exists = detector_id in guardduty_backends[CALLER][region].detectors
        except KeyError:
            exists = False
        if not exists:
            raise ApiError(400, "BadRequestException", NO_DETECTOR)
        with self.lock:
            members = self.members.setdefault((region, detector_id), {})
            if operation == "ListMembers":
                return self.list_members(members, query)
            handler = {"CreateMembers": self.create_members, "InviteMembers": self.invite_members,
                       "GetMembers": self.get_members, "DeleteMembers": self.delete_members,
                       "DisassociateMembers": self.disassociate_members}[operation]
            return handler(members, account_ids(operation, body), body)

    def create_members(self, members, ids, body):
        unprocessed = []
        for detail in body["accountDetails"]:
            account, email = detail.get("accountId"), detail.get("email")
            if account == CALLER:
                unprocessed.append((account, SELF_MEMBER))
            elif account in self.foreign:
                unprocessed.append((account, FOREIGN))
            elif account in members:
                unprocessed.append((account, ALREADY_MEMBER))
            elif not email:
                unprocessed.append((account, NO_EMAIL))
            else:
                org = account in self.organization
                members[account] = new_member(account, email, "Enabled" if org else "Created")
        return {"unprocessedAccounts": unprocessed_json(unprocessed)}

    def invite_members(self, members, ids, body):
        disable = bool(body.get("disableEmailNotification", False))
        unprocessed = []
        for account in ids:
            member = members.get(account)
            if account == CALLER:
                unprocessed.append((account, SELF_INVITE))
            elif member is None:
                unprocessed.append((account, NOT_MEMBER))
            elif member["relationshipStatus"].lower() in ("invited", "emailverificationinprogress", "enabled"):
                unprocessed.append((account, ALREADY_INVITED))
            else:
                member["relationshipStatus"] = "Invited" if disable else "EmailVerificationInProgress"
                member["invitedAt"] = member["updatedAt"] = now_iso()
                member["invitations"] += 1
                member["lastMessage"] = body.get("message")
                member["lastDisableEmailNotification"] = disable
        return {"unprocessedAccounts": unprocessed_json(unprocessed)}

    def get_members(self, members, ids, body):
        found = [self.public(members[a]) for a in ids if a in members]
        missing = [(a, NOT_MEMBER) for a in ids if a not in members]
        return {"members": found, "unprocessedAccounts": unprocessed_json(missing)}

    def delete_members(self, members, ids, body):
        missing = [(a, NOT_MEMBER) for a in ids if a not in members]
        for a in ids:
            members.pop(a, None)
        return {"unprocessedAccounts": unprocessed_json(missing)}

    def disassociate_members(self, members, ids, body):
        missing = [(a, NOT_MEMBER) for a in ids if a not in members]
        for a in ids:
            if a in members:
                members[a]["relationshipStatus"] = "Removed"
                members[a]["updatedAt"] = now_iso()
        return {"unprocessedAccounts": unprocessed_json(missing)}

    def list_members(self, members, query):
        # onlyAssociated defaults to "true": then only Enabled/Disabled members (the API doc).
        only_associated = query.get("onlyAssociated", "true").lower() != "false"
        try:
            limit = int(query.get("maxResults", "50"))
            start = int(base64.b64decode(query["nextToken"]).decode()) if "nextToken" in query else 0
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "BadRequestException", BAD_INPUT)
        if not 1 <= limit <= 50 or start < 0:
            raise ApiError(400, "BadRequestException", BAD_INPUT)
        chosen = [m for m in members.values()
                  if not only_associated or m["relationshipStatus"].lower() in ("enabled", "disabled")]
        out = {"members": [self.public(m) for m in chosen[start:start + limit]]}
        if start + limit < len(chosen):
            out["nextToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return out

    def force_status(self, region, detector_id, account, status, email):
        with self.lock:
            members = self.members.setdefault((region, detector_id), {})
            member = members.setdefault(account, new_member(account, email or "", status))
            member["relationshipStatus"], member["updatedAt"] = status, now_iso()
            if email:
                member["email"] = email
            return dict(member)

    def snapshot(self):
        with self.lock:
            out = {}
            for (region, detector_id), members in self.members.items():
                out.setdefault(region, {})[detector_id] = {a: dict(m) for a, m in members.items()}
            return {"members": out, "foreignAccounts": sorted(self.foreign),
                    "organizationAccounts": sorted(self.organization)}


def new_member(account, email, status):
    return {"accountId": account, "email": email, "relationshipStatus": status,
            "invitedAt": None, "updatedAt": now_iso(), "invitations": 0,
            "lastMessage": None, "lastDisableEmailNotification": None}


def unprocessed_json(pairs):
    return [{"accountId": a, "result": r} for a, r in pairs]


def account_ids(operation, body):
    """The request's account ids, validated: 1-50 of them, each 12 digits, else 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequestException", BAD_INPUT)
    if operation == "CreateMembers":
        items = body.get("accountDetails")
        if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
            raise ApiError(400, "BadRequestException", BAD_INPUT)
        ids = [d.get("accountId") for d in items]
    else:
        ids = body.get("accountIds")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 50:
        raise ApiError(400, "BadRequestException", BAD_INPUT)
    if not all(isinstance(a, str) and ACCOUNT_ID.fullmatch(a) for a in ids):
        raise ApiError(400, "BadRequestException", BAD_INPUT)
    return ids


def logged_account_ids(operation, body):
    try:
        data = json.loads(body or b"{}")
        if operation == "CreateMembers":
            return [d.get("accountId") for d in data.get("accountDetails") or []]
        return list(data.get("accountIds") or [])
    except (ValueError, AttributeError, TypeError):
        return []


# ---------------------------------------------------------------- Organizations

def put_organization_account(account_id, email, name):
    """An account with a fixed id in the default account's organization (ALL features)."""
    backend = organizations_backends[CALLER]["aws"]
    if backend.org is None:
        backend.create_organization(region="us-east-1", FeatureSet="ALL")
    account = next((a for a in backend.accounts if a.id == account_id), None)
    if account is None:
        # create_account draws a random id: register the new account under ours instead.
        status = backend.create_account(AccountName=name, Email=email)
        account = backend.get_account_by_attr("create_account_status_id",
                                              status["CreateAccountStatus"]["Id"])
        organizations_backends.master_accounts.pop(account.id, None)
        account.id = account_id
        organizations_backends.master_accounts[account_id] = (CALLER, backend.partition)
    account.email, account.name = email, name
    return {"accountId": account.id, "email": account.email, "name": account.name,
            "organizationId": backend.org.id}


# ---------------------------------------------------------------- the middleware

class Emulator:
    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.guardduty = GuardDutyMembers()
        self.lock = threading.Lock()
        self.calls, self.faults = [], []
        self.wake = threading.Event()  # set to release hung requests

    def reset(self):
        moto_api_backend.reset()
        self.guardduty.reset()
        with self.lock:
            self.calls, self.faults = [], []
            self.wake.set()
            self.wake = threading.Event()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            request = Request(environ)
            try:
                response = self.control(request.method, path, request)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                response = json_response({"error": f"{type(e).__name__}: {e}"}, 400)
            return response(environ, start_response)
        if path.startswith("/moto-api"):
            return self.moto(environ, start_response)

        started = time.perf_counter()
        # Read the body once and hand moto a fresh stream of it.
        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)

        service, region, operation, protocol = describe(environ, body)
        call = {"service": service, "operation": operation, "region": region, "status": None,
                "ts": time.time()}
        if operation in MEMBER_OPS:
            call["accountIds"] = logged_account_ids(operation, body)
        with self.lock:
            self.calls.append(call)
            rule = self.take_fault(service, region, operation)
            wake = self.wake

        def recording_start_response(status, headers, exc_info=None):
            call["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        try:
            if rule:
                call["fault"] = rule["kind"]
                response = self.apply_fault(rule, protocol, wake)
                if response is not None:
                    return response(environ, recording_start_response)
            if service == "guardduty" and operation in MEMBER_OPS:
                return self.serve_members(environ, operation, region, path, body)(environ, recording_start_response)
            return self.moto(environ, recording_start_response)
        finally:
            # Server-side time to serve the request (body read to response built, injected
            # delays included; the HTTP parsing and socket writes of the server are not).
            call["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)

    def take_fault(self, service, region, operation):
        for rule in self.faults:
            if (rule["operation"] in ("*", operation) and rule["remaining"] != 0
                    and rule.get("region") in (None, region) and rule.get("service") in (None, service)):
                if rule["remaining"] is not None:
                    rule["remaining"] -= 1
                return dict(rule)
        return None

    @staticmethod
    def apply_fault(rule, protocol, wake):
        kind = rule["kind"]
        if kind == "delay":
            wake.wait(rule.get("delay_ms", 0) / 1000)
            return None  # then serve normally
        if kind == "hang":
            wake.wait(rule.get("delay_ms", 300_000) / 1000)
        if kind == "throttle":
            if protocol == "query":
                return aws_error(protocol, 400, "Throttling", "Rate exceeded")
            if protocol == "json":
                return aws_error(protocol, 400, "TooManyRequestsException", "Rate exceeded")
            return aws_error(protocol, 429, "ThrottlingException", "Rate exceeded")
        if protocol == "query":
            return aws_error(protocol, 500, "InternalError", "injected fault", sender=False)
        return aws_error(protocol, 500, "InternalServerErrorException", "injected fault")

    def serve_members(self, environ, operation, region, path, body):
        detector_id = path.split("/")[2]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            payload = json.loads(body) if body.strip() else {}
            return json_response(self.guardduty.handle(operation, region, detector_id, query, payload))
        except ValueError:
            return aws_error("rest-json", 400, "BadRequestException", BAD_INPUT)
        except ApiError as e:
            return aws_error("rest-json", e.status, e.code, e.message)

    def control(self, method, path, request):
        route = (method, path.rstrip("/"))
        body = request.get_json(force=True, silent=True) if method in ("POST", "PUT") else None
        if method in ("POST", "PUT") and not isinstance(body, dict):
            body = {}
        if route == ("GET", "/_emulator/health"):
            return json_response({"ok": True})
        if route == ("POST", "/_emulator/reset"):
            self.reset()
            return json_response({"reset": True})
        if route == ("POST", "/_emulator/faults"):
            if body.get("kind") not in FAULT_KINDS or not isinstance(body.get("operation"), str):
                raise ValueError(f"need operation and kind in {sorted(FAULT_KINDS)}")
            rule = {"operation": body["operation"], "kind": body["kind"],
                    "remaining": int(body["times"]) if body.get("times") is not None else None}
            for key in ("region", "service"):
                if body.get(key):
                    rule[key] = body[key]
            if body.get("delay_ms") is not None:
                rule["delay_ms"] = int(body["delay_ms"])
            with self.lock:
                self.faults.append(rule)
            return json_response(rule)
        if route == ("GET", "/_emulator/faults"):
            with self.lock:
                return json_response({"faults": [dict(r) for r in self.faults]})
        if route == ("DELETE", "/_emulator/faults"):
            with self.lock:
                self.faults = []
                self.wake.set()
                self.wake = threading.Event()
            return json_response({"faults": []})
        if route == ("GET", "/_emulator/calls"):
            with self.lock:
                return json_response({"calls": [dict(c) for c in self.calls]})
        if route == ("DELETE", "/_emulator/calls"):
            with self.lock:
                self.calls = []
            return json_response({"calls": []})
        if route in (("POST", "/_emulator/guardduty/foreign-accounts"),
                     ("POST", "/_emulator/guardduty/organization-accounts")):
            ids = body.get("accountIds")
            if not isinstance(ids, list) or not all(isinstance(a, str) and ACCOUNT_ID.fullmatch(a) for a in ids):
                raise ValueError("accountIds must be a list of 12-digit ids")
            with self.guardduty.lock:
                target = self.guardduty.foreign if "foreign" in path else self.guardduty.organization
                target.update(ids)
                return json_response({"accountIds": sorted(target)})
        if route == ("POST", "/_emulator/guardduty/member-status"):
            if not ACCOUNT_ID.fullmatch(str(body.get("accountId"))) or not body.get("relationshipStatus"):
                raise ValueError("need region, detectorId, a 12-digit accountId and relationshipStatus")
            member = self.guardduty.force_status(body["region"], body["detectorId"], body["accountId"],
                                                 body["relationshipStatus"], body.get("email"))
            return json_response(member)
        if route == ("GET", "/_emulator/guardduty/members"):
            return json_response(self.guardduty.snapshot())
        if route == ("POST", "/_emulator/organizations/accounts"):
            if not ACCOUNT_ID.fullmatch(str(body.get("accountId"))):
                raise ValueError("accountId must be 12 digits")
            return json_response(put_organization_account(
                body["accountId"], body["email"], body.get("name") or body["accountId"]))
        return json_response({"error": f"no control route {method} {path}"}, 404)


# ---------------------------------------------------------------- CLI

WARM_UP = [  # one harmless request per service the project uses: moto builds each lazily
    ("guardduty", {"method": "GET", "path": "/detector"}),
    ("sns", {"data": "Action=ListTopics&Version=2010-03-31"}),
    ("sts", {"data": "Action=GetCallerIdentity&Version=2011-06-15"}),
    ("sqs", {"data": "{}", "headers": {"X-Amz-Target": "AmazonSQS.ListQueues"}}),
    ("organizations", {"data": "{}", "headers": {"X-Amz-Target": "AWSOrganizationsV20161128.ListRoots"}}),
]


def warm_up(emulator):
    """Build moto's per-service apps and botocore's GuardDuty routes ahead of the first test."""
    from werkzeug.test import EnvironBuilder
    rest_operation("guardduty", "GET", "/detector")
    for service, request in WARM_UP:
        headers = dict(request.get("headers", {}), Authorization=(
            f"AWS4-HMAC-SHA256 Credential=warmup/20260101/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0"))
        content_type = ("application/x-amz-json-1.0" if "X-Amz-Target" in headers
                        else "application/x-www-form-urlencoded")
        environ = EnvironBuilder(method=request.get("method", "POST"), path=request.get("path", "/"),
                                 data=request.get("data"), headers=headers,
                                 content_type=content_type).get_environ()
        b"".join(emulator.moto(environ, lambda *_: None))

class QuietHandler(MotoRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


def exit_on_stdin_eof():
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    os._exit(0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="keep running when stdin reaches EOF (manual runs in the background)")
    args = parser.parse_args(argv)

    ready_out, sys.stdout = sys.stdout, sys.stderr  # moto may print(): keep stdout for READY
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING)
    handler = MotoRequestHandler if args.verbose else QuietHandler
    server = make_server(args.host, args.port, Emulator(), threaded=True, request_handler=handler)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    if not args.ignore_stdin:
        threading.Thread(target=exit_on_stdin_eof, daemon=True).start()

    # Before READY, not beside the first requests: moto builds its services lazily, and two
    # threads importing the same moto modules at once can fail with a circular import.
    warm_up(server.app)
    ready_out.write(f"READY http://{args.host}:{server.server_port}\n")
    ready_out.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
