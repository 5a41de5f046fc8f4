"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- At most one detector per account and region: the first id listed is the detector
- The administrator's own detector lists, in `features`, every feature the region offers (with its status); a feature it leaves out is not offered there. Read once per region per run, only where a member lacks a wanted feature; an empty list takes nothing out
- A second CreateDetector in the same account and region is refused (a concurrent run created it): use that detector
- GuardDuty publishes no per-operation rate: calls in flight are capped (8) and throttling is retried
- A request past its API's rate is throttled before any other rule answers it (emu.throttle)

The WSGI middleware in front of moto (Emulator): each AWS request's recognition, the call
log, the fault, deny and member-account switches in their order, the handlers of the other
modules, then moto; plus the in-flight count and the warm-up of moto's services.
"""

import io
import json
import os
import threading
import time

from werkzeug.wrappers import Request
from werkzeug.wsgi import get_input_stream
from moto.server import DomainDispatcherApplication, create_backend_app
from moto.guardduty.models import guardduty_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.organizations.models import organizations_backends

from emu.account import AccountRegions
from emu.common import (ApiError, AwsRequest, BAD_INPUT, aws_error, calling_account, describe,
    form_params, json_response, server_error, throttle_error)
from emu.control import ControlApi, DenyRules
from emu.guardduty import (DETECTOR_EXISTS, DETECTOR_LOCK, MEMBER_OPS, logged_account_ids,
    logged_features, logged_target_account, owns_detector)
from emu.guardduty_admin import GuardDutyMembers
from emu.guardduty_member import MemberSwitches, detector_features
from emu.organizations import Organizations
from emu.scheduler import schedule_refusal
from emu.security_hub import SecurityHub
from emu.sns import DELIVERIES, input_refusal, install_offline_delivery
from emu.sts_iam import MemberRoles
from emu.throttle import Throttle


class InFlight:
    """AWS requests being served at once, and the most seen since the last reset."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = self.peak = 0

    def enter(self):
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def leave(self):
        with self.lock:
            self.current -= 1

    def reset_peak(self):
        with self.lock:
            self.peak = self.current
        return self.snapshot()

    def snapshot(self):
        with self.lock:
            return {"current": self.current, "peak": self.peak}


def buffer_body(environ):
    """Read a request's whole body (Content-Length or chunked) and hand the app a fresh
    stream of it; returns the body."""
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgi.input_terminated", None)
    return body


def drain(app, environ):
    """Serve `environ` with `app` and throw the answer away; returns its status."""
    return int(collect(app, environ)[0].split()[0])


class Emulator(ControlApi):
    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.guardduty = GuardDutyMembers()
        self.switches = MemberSwitches()
        self.roles = MemberRoles()
        self.denials = DenyRules()
        self.organizations = Organizations()
        self.account_regions = AccountRegions()
        self.securityhub = SecurityHub()
        # Off unless GUARDDUTY_INVITE_EMULATOR_THROTTLE=on (POST /_emulator/throttle switches it).
        self.throttle = Throttle(os.environ.get("GUARDDUTY_INVITE_EMULATOR_THROTTLE", "off") == "on")
        self.warmed = {service for service, _ in WARM_UP}  # services moto has built
        self.first_use_lock = threading.Lock()
        self.inflight = InFlight()
        self.lock = threading.Lock()
        self.calls, self.faults = [], []
        self.wake = threading.Event()  # set to release hung requests
        install_offline_delivery()

    def reset(self):
        moto_api_backend.reset()
        organizations_backends.master_accounts.clear()  # moto's reset leaves this map behind
        self.guardduty.reset()
        self.switches.reset()
        self.roles.reset()
        self.denials.reset()
        self.organizations.reset()
        self.account_regions.reset()
        self.securityhub.reset()
        DELIVERIES.reset()
        self.throttle.reset()
        self.inflight.reset_peak()
        with self.lock:
            self.calls, self.faults = [], []
            self.release_hung()

    def release_hung(self):
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
        # In flight from the request's arrival until its answer is ready, before any byte of it
        # is written: the client cannot have the answer (and send its next call) earlier, so
        # the count never exceeds the client's own concurrency.
        self.inflight.enter()
        try:
            body = self.serve_aws(environ, start_response)
            try:
                answer = b"".join(body)
            finally:
                getattr(body, "close", lambda: None)()
        finally:
            self.inflight.leave()
        return [answer]

    def serve_aws(self, environ, start_response):
        started = time.perf_counter()
        req = self.read_request(environ)
        call = {"service": req.service, "operation": req.operation, "region": req.region,
                "account": req.account, "status": None, "ts": time.time()}
        if req.service == "guardduty" and req.operation in MEMBER_OPS:
            call["accountIds"] = logged_account_ids(req.operation, req.body)
        if req.service == "guardduty" and req.operation == "GetUsageStatistics":
            call["usage"] = logged_usage(req.body)
        if req.service == "guardduty" and req.operation == "UpdateMemberDetectors":
            call["features"] = logged_features(req.body)
        if req.service == "sts" and req.operation == "AssumeRole":
            call["roleArn"] = req.params.get("RoleArn")
        if req.service == "account":
            # Whose regions were asked about: None = the caller's own (standalone context).
            call["accountId"] = logged_target_account(req.body)
        with self.lock:
            self.calls.append(call)
            rule = self.take_fault(req.service, req.region, req.operation)
            wake = self.wake

        def recording_start_response(status, headers, exc_info=None):
            call["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        try:
            if rule:
                call["fault"] = rule["kind"]
                response = self.apply_fault(rule, req, wake)
                if response is not None:
                    return response(environ, recording_start_response)
            app = self.dispatch(req, call)
            if rule and rule["kind"] == "lost_response":
                call["servedStatus"] = drain(app, environ)
                app = server_error(req.protocol, req.service)
            return app(environ, recording_start_response)
        finally:
            # Server-side time to serve the request (body read to response built, injected
            # delays included; the HTTP parsing and socket writes of the server are not).
            call["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)

    @staticmethod
    def read_request(environ):
        body = buffer_body(environ)
        service, region, operation, protocol = describe(environ, body)
        return AwsRequest(service, region, operation, protocol, calling_account(environ),
                          environ.get("PATH_INFO", ""), body, form_params(environ, body))

    def dispatch(self, req, call):
        """The WSGI app that answers an AWS request once no fault rule stopped it: the
        disabled-region switch, the deny rules, the other switches, then the service; a
        request past its API's rate is throttled before any of them."""
        throttled = self.throttle.check(req)
        if throttled is not None:
            call["switch"] = "rate-limit"
            return throttled
        switched = self.switches.check_region(req)
        if switched:
            call["switch"], response = switched
            return response
        denied = self.denials.check(req)
        if denied is not None:
            call["switch"] = "denied"
            return denied
        switched = self.switches.check(req)
        if switched:
            call["switch"], response = switched
            if response is not None:
                return response
        off = self.securityhub.check(req)
        if off is not None:
            call["switch"] = "not-subscribed"
            return off
        return self.service_app(req, call)

    def service_app(self, req, call):
        """The middleware's own handler of this request, or moto."""
        refused = input_refusal(req)
        if refused is not None:
            return refused
        refused = self.roles.refusal(req)
        if refused is not None:
            call["switch"] = "missing-role"
            return refused
        if req.service == "scheduler" and req.operation == "CreateSchedule":
            refused = schedule_refusal(req)
            if refused is not None:
                return refused
        if req.service == "guardduty":
            if req.operation in MEMBER_OPS:
                return self.serve_members(req, call)
            if req.operation == "CreateDetector":
                return self.create_detector(req)
            if req.operation == "GetDetector":
                return self.get_detector(req)
            if req.operation == "DescribeOrganizationConfiguration":
                return self.serve_guardduty(req, self.guardduty.describe_organization_configuration)
            if req.operation == "GetUsageStatistics":
                return self.serve_guardduty_body(req, self.guardduty.usage_statistics)
        if req.service == "organizations":
            return self.organizations.app(req, self.moto)
        if req.service == "account" and req.operation == "ListRegions":
            return self.account_regions.list_regions(req, self.organizations)
        if req.service == "securityhub":
            return self.securityhub.app(req, self.first_use(req.service), call)
        return self.first_use(req.service)

    def first_use(self, service):
        """moto's app; until moto has served `service` once, one request at a time: moto
        builds a service's modules and backends on first use, and two threads doing that at
        once can fail with a circular import. Services warmed up at start need no wait; the
        others (SSM takes seconds to build) are built on their first request instead."""
        if service in self.warmed:
            return self.moto

        def app(environ, start_response):
            with self.first_use_lock:
                out = list(self.moto(environ, start_response))
                self.warmed.add(service)
                return out
        return app

    def create_detector(self, req):
        """GuardDuty CreateDetector: moto's, but one detector per account and region."""
        def app(environ, start_response):
            with DETECTOR_LOCK:
                if guardduty_backends[req.account][req.region].detectors:
                    response = aws_error(req.protocol, 400, "BadRequestException", DETECTOR_EXISTS)
                    return response(environ, start_response)
                return list(self.moto(environ, start_response))
        return app

    def get_detector(self, req):
        """GuardDuty GetDetector: moto's detector, with `features` as GuardDuty lists them:
        every feature the region offers with its status, never one it does not offer."""
        parts = req.path.split("/")
        detector_id = parts[2] if len(parts) > 2 else None
        if not owns_detector(req.account, req.region, detector_id):
            return self.moto  # moto's own answer for a detector it does not have
        detector = guardduty_backends[req.account][req.region].detectors[detector_id]
        out = detector.to_json()
        with self.guardduty.lock:
            hidden = {f for f, r in self.guardduty.unoffered if r == req.region}
        out["features"] = detector_features(detector.features, hidden)
        return json_response(out)

    def take_fault(self, service, region, operation):
        for rule in self.faults:
            if (rule["operation"] in ("*", operation) and rule["remaining"] != 0
                    and rule.get("region") in (None, region) and rule.get("service") in (None, service)):
                if rule["remaining"] is not None:
                    rule["remaining"] -= 1
                return dict(rule)
        return None

    @staticmethod
    def apply_fault(rule, req, wake):
        """The response a fault answers with before serving, or None to serve (delay, and
        lost_response, whose answer is replaced after serving)."""
        kind = rule["kind"]
        if kind == "lost_response":
            return None
        if kind == "delay":
            wake.wait(rule.get("delay_ms", 0) / 1000)
            return None
        if kind == "hang":
            wake.wait(rule.get("delay_ms", 300_000) / 1000)
        if kind == "throttle":
            return throttle_error(req.protocol, req.service)
        return server_error(req.protocol, req.service)

    @staticmethod
    def serve_guardduty(req, handler):
        """A GuardDuty operation served here: handler(caller, region, detectorId, query)."""
        parts = req.path.split("/")
        detector_id = parts[2] if len(parts) > 2 and parts[1] == "detector" else None
        try:
            return json_response(handler(req.account, req.region, detector_id, req.params))
        except ApiError as e:
            return aws_error("rest-json", e.status, e.code, e.message)

    @staticmethod
    def serve_guardduty_body(req, handler):
        """A GuardDuty operation with a JSON body: handler(caller, region, detectorId, body)."""
        parts = req.path.split("/")
        detector_id = parts[2] if len(parts) > 2 and parts[1] == "detector" else None
        try:
            body = json.loads(req.body) if req.body.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return json_response(handler(req.account, req.region, detector_id, body))
        except ValueError:
            return aws_error("rest-json", 400, "BadRequestException", BAD_INPUT)
        except ApiError as e:
            return aws_error("rest-json", e.status, e.code, e.message)

    def serve_members(self, req, call):
        parts = req.path.split("/")
        detector_id = parts[2] if len(parts) > 2 and parts[1] == "detector" else None
        try:
            payload = json.loads(req.body) if req.body.strip() else {}
            out = self.guardduty.handle(req.account, req.operation, req.region, detector_id,
                                        req.params, payload)
            if isinstance(out.get("unprocessedAccounts"), list):
                call["unprocessed"] = {u["accountId"]: u["result"] for u in out["unprocessedAccounts"]}
            return json_response(out)
        except ValueError:
            return aws_error("rest-json", 400, "BadRequestException", BAD_INPUT)
        except ApiError as e:
            return aws_error("rest-json", e.status, e.code, e.message)


WARM_UP = [  # one harmless request per service the tests use: moto builds each lazily
    # (GuardDuty's with its JSON content type: moto builds its REST router per protocol)
    ("guardduty", {"method": "GET", "path": "/detector", "content_type": "application/json"}),
    ("sns", {"data": "Action=ListTopics&Version=2010-03-31"}),
    ("sts", {"data": "Action=GetCallerIdentity&Version=2011-06-15"}),
    ("sqs", {"data": "{}", "headers": {"X-Amz-Target": "AmazonSQS.ListQueues"}}),
    ("organizations", {"data": "{}", "headers": {"X-Amz-Target": "AWSOrganizationsV20161128.ListRoots"}}),
    # SSM (the policy parameter) imports moto's EC2 models: about a second in every world.
    ("ssm", {"data": "{}", "headers": {"X-Amz-Target": "AmazonSSM.DescribeParameters"},
             "content_type": "application/x-amz-json-1.1"}),
    ("s3", {"method": "GET", "path": "/"}),
    ("scheduler", {"method": "GET", "path": "/schedules", "content_type": "application/json"}),
]


def collect(app, environ):
    """(status, headers, body bytes) of a WSGI app's answer."""
    seen = {}
    chunks = []

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        getattr(result, "close", lambda: None)()
    return seen["status"], seen["headers"], b"".join(chunks)


def logged_usage(body):
    """{type, accountIds} of a GetUsageStatistics request, for the call log."""
    try:
        data = json.loads(body or b"{}")
        return {"type": data.get("usageStatisticsType"),
                "accountIds": list((data.get("usageCriteria") or {}).get("accountIds") or [])}
    except (ValueError, AttributeError, TypeError):
        return {}
