"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- Throttling answers `TooManyRequestsException`: passing, retried
- Throttling is passing: retried by the SDK, then the run fails. AWS names the code `ThrottlingException` ("Rate exceeded"), and the API reference also lists `ThrottledException` (code `Throttled`, 429). The emulator answers `ThrottlingException` (400), as AWS's article shows it; the SDK retries it. `Throttled` is not among the SDK's throttling codes, so it would not be retried by the SDK: its 429 still makes the run fail as transient (`kind_of`), so Lambda retries it
- GuardDuty publishes no per-operation rate: calls in flight are capped (8) and throttling is retried
- Organizations throttles with `TooManyRequestsException` and publishes no rate

Shared by every module of the emulator: moto's imports (in one place, before any request thread), the error
and wire formats (json, rest-json, query, rest-xml), paging, and how a request is recognised
(service, operation, region, calling account).
"""

import base64
import json
import os
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.loaders
from werkzeug.wrappers import Response
# All of moto that the emulator uses, in one place and in this order, imported by the entry
# point first (every other module imports its moto names again, already loaded).
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow  # noqa: F401
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app  # noqa: F401
# Imported here, before any request thread exists: importing them lazily from a request while
# another thread builds the same moto modules can race into a circular-import error.
from moto.guardduty.models import guardduty_backends  # noqa: F401
from moto.scheduler.models import scheduler_backends  # noqa: F401
from moto.iam.models import get_account_id_from, iam_backends  # noqa: F401
from moto.moto_api._internal.models import moto_api_backend  # noqa: F401
from moto.organizations import utils as organizations_utils  # noqa: F401
from moto.organizations.models import FakeAccount, organizations_backends  # noqa: F401
from moto.securityhub.models import Finding, securityhub_backends  # noqa: F401


DEFAULT_ACCOUNT = DEFAULT_ACCOUNT_ID  # the administrator / management account of the tests

# GuardDuty's message for a bad value (400 BadRequestException), also the default of bad_request.
BAD_INPUT = ("The request is rejected because an invalid or out-of-range value is specified "
             "as an input parameter.")

# Per service, the modelled throttling and 5xx errors the fault rules answer with:
# ((status, code) of throttle, code of error500/lost_response).
SERVICE_FAULT_CODES = {
    "account": ((429, "TooManyRequestsException"), "InternalServerException"),
    "s3": ((503, "SlowDown"), "InternalError"),
    # SNS's throttle as AWS's knowledge center shows it: ThrottlingException "Rate exceeded".
    "sns": ((400, "ThrottlingException"), "InternalError"),
}
REST_XML_SERVICES = {"s3", "s3control", "route53", "cloudfront"}

ACCOUNT_ID = re.compile(r"[0-9]{12}")
ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message=BAD_INPUT):
    return ApiError(400, "BadRequestException", message)


def now_iso():
    return iso_utc(datetime.now(timezone.utc))


def iso_utc(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(value):
    """An ISO 8601 timestamp (naive = UTC) in the form the service uses, else ValueError."""
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return iso_utc(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


def json_response(payload, status=200, headers=None, content_type="application/json"):
    return Response(json.dumps(payload), status, headers=headers, content_type=content_type)


def aws_error(protocol, status, code, message, sender=True, service=None):
    """An error response the way the service's protocol shapes it (SDKs key on `code`):
    query: <ErrorResponse> XML; rest-xml: S3's bare <Error> XML (other rest-xml services the
    <ErrorResponse> form); json and rest-json: x-amzn-ErrorType + {"__type", "message"}."""
    request_id = str(uuid.uuid4())
    if protocol in ("query", "rest-xml"):
        error = f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        if protocol == "rest-xml" and service == "s3":
            body = f"<Error>{error}<RequestId>{request_id}</RequestId></Error>"
        else:
            body = (f"<ErrorResponse><Error><Type>{'Sender' if sender else 'Receiver'}</Type>"
                    f"{error}</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return Response(body, status, headers={"x-amzn-RequestId": request_id},
                        content_type="text/xml")
    return json_response({"__type": code, "message": message}, status,
                         {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id})


def server_error(protocol, service=None):
    if service in SERVICE_FAULT_CODES:
        return aws_error(protocol, 500, SERVICE_FAULT_CODES[service][1], "injected fault", False, service)
    if protocol in ("query", "rest-xml"):
        return aws_error(protocol, 500, "InternalError", "injected fault", False, service)
    return aws_error(protocol, 500, "InternalServerErrorException", "injected fault")


def throttle_error(protocol, service=None):
    if service in SERVICE_FAULT_CODES:
        status, code = SERVICE_FAULT_CODES[service][0]
        return aws_error(protocol, status, code, "Rate exceeded", service=service)
    if protocol == "query":
        return aws_error(protocol, 400, "Throttling", "Rate exceeded")
    if protocol == "json":
        return aws_error(protocol, 400, "TooManyRequestsException", "Rate exceeded")
    return aws_error(protocol, 429, "ThrottlingException", "Rate exceeded")


def caller_arn(account):
    """The principal ARN the emulator's access-denied messages name for a caller."""
    return f"arn:aws:sts::{account}:assumed-role/emulator/session"


def is_account_id(value):
    return isinstance(value, str) and ACCOUNT_ID.fullmatch(value) is not None


def account_id_list(value, what="accountIds"):
    if not isinstance(value, list) or not all(is_account_id(a) for a in value):
        raise ValueError(f"{what} must be a list of 12-digit ids")
    return value


def page(items, token, limit):
    """One page of `items` from an opaque offset token: (page, next token or None)."""
    start = int(base64.b64decode(token, validate=True).decode()) if token else 0
    if start < 0 or start > len(items):
        raise ValueError("token out of range")
    end = start + limit
    return items[start:end], (base64.b64encode(str(end).encode()).decode() if end < len(items) else None)


_rest_routes = {}
_rest_routes_lock = threading.Lock()


def rest_routes(model):
    """(specificity, method, path regex, name, query literals {key: value or None}, required
    header names, required query keys) of each operation of a rest model, most specific first."""
    routes = []
    for name, op in model["operations"].items():
        uri, _, query = op["http"]["requestUri"].partition("?")
        parts = re.split(r"(\{[^}]+\})", uri.rstrip("/"))
        pattern = "".join((".+" if p.endswith("+}") else "[^/]+") if p.startswith("{")
                          else re.escape(p) for p in parts)
        literal = sum(len(p) for p in parts if not p.startswith("{"))
        literals = {k: (v or None) for k, _, v in (q.partition("=") for q in query.split("&") if q)}
        headers, queries = set(), set()
        shape = model["shapes"].get(op.get("input", {}).get("shape"), {})
        for member in shape.get("required", []):
            spec = shape["members"].get(member, {})
            if spec.get("location") == "header":
                headers.add(spec.get("locationName", member).lower())
            elif spec.get("location") == "querystring":
                queries.add(spec.get("locationName", member))
        routes.append(((len(literals) + len(headers) + len(queries), literal), op["http"]["method"],
                       re.compile(pattern + "/?"), name, literals, headers, queries))
    routes.sort(key=lambda r: (-r[0][0], -r[0][1]))
    return routes


def rest_operation(service, method, path, query=None, headers=None):
    """Operation name of a rest-json/rest-xml request, from botocore's model routes: the most
    specific route whose method and path match and whose query literals (S3's "?location")
    and required header and query-string members (CopyObject's x-amz-copy-source, UploadPart's
    partNumber) the request has; failing that, the first route matching method and path."""
    with _rest_routes_lock:
        if service not in _rest_routes:
            try:
                model = botocore.loaders.create_loader().load_service_model(service, "service-2")
            except Exception:
                model = {"operations": {}, "shapes": {}}
            _rest_routes[service] = rest_routes(model)
    query, headers = query or {}, headers or set()
    fallback = None
    for _, route_method, regex, name, literals, needed_headers, needed_queries in _rest_routes[service]:
        if route_method != method or not regex.fullmatch(path):
            continue
        if (all(k in query and (v is None or query[k] == v) for k, v in literals.items())
                and needed_headers <= headers and needed_queries <= query.keys()):
            return name
        if fallback is None and not literals:
            fallback = name
    return fallback or "Unknown"


def form_params(environ, body):
    """Query-string and form-body parameters (first value of each)."""
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qs(body.decode("utf-8", "replace")))
    return {k: v[0] for k, v in params.items()}


def describe(environ, body):
    """(service, region, operation, protocol) of an AWS request."""
    scope = re.search(r"Credential=[^/,\s]+/[0-9]{8}/([^/]+)/([^/]+)/aws4_request",
                      environ.get("HTTP_AUTHORIZATION", ""))
    region, service = scope.groups() if scope else ("us-east-1", "unknown")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, region, target.rsplit(".", 1)[-1], "json"
    action = form_params(environ, body).get("Action")
    if action:
        return service, region, action, "query"
    protocol = "rest-xml" if service in REST_XML_SERVICES else "rest-json"
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
    headers = {k[5:].replace("_", "-").lower() for k in environ if k.startswith("HTTP_")}
    operation = rest_operation(service, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), query, headers)
    return service, region, operation, protocol


def calling_account(environ):
    """The account the request acts as, decided as moto decides it (env, header, access key)."""
    if os.environ.get("MOTO_ACCOUNT_ID"):
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    key = ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    return get_account_id_from(key.group(1)) if key else DEFAULT_ACCOUNT


@dataclass
class AwsRequest:
    service: str
    region: str
    operation: str
    protocol: str
    account: str
    path: str
    body: bytes
    params: dict  # query string (+ form body for the query protocol)
