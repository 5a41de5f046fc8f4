"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- Every API is throttled by a token bucket (a rate and a burst) per calling account and region; Organizations' per organization
- Past the bucket each service answers its own throttling error: GuardDuty 429 `TooManyRequestsException`, Organizations `TooManyRequestsException`, Security Hub 429 `TooManyRequestsException` "Too Many Requests", STS `Throttling`, SNS `ThrottlingException`, Account 429 `TooManyRequestsException`, S3 503 `SlowDown`
- GetFindings is limited to 3 requests a second, burst 6 (per account and region); past it 429 `TooManyRequestsException` "Too Many Requests"
- Security Hub: BatchImportFindings and BatchUpdateFindings 10, burst 30; every other operation 10, burst 30 (documented)
- Account Management ListRegions: 5 requests a second, burst 5 (documented)
- Where AWS publishes no rate (GuardDuty, Organizations, STS, SNS, SSM, EventBridge Scheduler): 5 requests a second, burst 10 per API (assumed)

The request-rate throttle of the emulator (Throttle): one token bucket per (service,
operation, scope), where the scope is the calling account and region, or the organization
for Organizations. The rates are AWS's where AWS publishes them (RATES), else ASSUMED.
`POST /_emulator/throttle` turns it on or off and sets rates; `GET` reads the counts of
throttled requests. Off by default except for GetFindings (ALWAYS, enforced before every API
was): with every bucket on, back-to-back runs in one test world drew on each other's buckets
and a test's reconcile failed throttled (measured); the tests of the rates turn it on, and
GUARDDUTY_INVITE_EMULATOR_THROTTLE=on turns it on for every world.
"""

import threading
import time

from emu.common import aws_error, throttle_error

# (service, operation or "*") -> (rate per second, burst, source). "*" is the service's rate
# for every operation it does not name.
RATES = {
    # Security Hub API Reference, Welcome: "GetFindings - RateLimit of 3 requests per second.
    # BurstLimit of 6 requests per second."
    ("securityhub", "GetFindings"): (3.0, 6, "documented"),
    # Security Hub Partner Guide, BatchImportFindings: "The throttle rate limit is 10 TPS per
    # account per Region, with a burst of 30 TPS."
    ("securityhub", "BatchImportFindings"): (10.0, 30, "documented"),
    # Security Hub API Reference, Welcome: "BatchUpdateFindings - RateLimit of 10 requests per
    # second. BurstLimit of 30 requests per second." and "All other operations - RateLimit of
    # 10 requests per second. BurstLimit of 30 requests per second."
    ("securityhub", "BatchUpdateFindings"): (10.0, 30, "documented"),
    ("securityhub", "*"): (10.0, 30, "documented"),
    # Account Management reference, Quotas: "Rate of ListRegions requests per account: 5 per
    # second, burst to 5 per second"
    ("account", "ListRegions"): (5.0, 5, "documented"),
}
# The rate of every API AWS publishes none for (most of GuardDuty's and Organizations').
ASSUMED = (5.0, 10, "assumed")
# Enforced even when the throttle is off (the emulator enforced it before the others).
ALWAYS = {("securityhub", "GetFindings")}
# Services whose buckets are per organization (a global service: one bucket whoever calls).
PER_ORGANIZATION = {"organizations"}

# The throttling answer per service where throttle_error's protocol default is not AWS's.
THROTTLE_ANSWERS = {
    "guardduty": (429, "TooManyRequestsException", "Rate exceeded"),
    "securityhub": (429, "TooManyRequestsException", "Too Many Requests"),
    "organizations": (400, "TooManyRequestsException",
                      "You have sent too many requests in too short a period of time."),
    "ssm": (400, "ThrottlingException", "Rate exceeded"),
    "scheduler": (429, "ThrottlingException", "Rate exceeded"),
}


def rate_of(service, operation):
    """(rate, burst, source) AWS gives this API, or the assumed one."""
    return RATES.get((service, operation)) or RATES.get((service, "*")) or ASSUMED


def throttled(req):
    """AWS's throttling answer for this request's service, in its wire format."""
    answer = THROTTLE_ANSWERS.get(req.service)
    if answer is None:
        return throttle_error(req.protocol, req.service)
    status, code, message = answer
    return aws_error(req.protocol, status, code, message, service=req.service)


class Throttle:
    """Token buckets per (service, operation, scope); refused requests are counted."""

    def __init__(self, enabled=False):
        self.default_enabled = enabled
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.enabled = self.default_enabled
            self.overrides = {}  # (service, operation or "*") -> (rate, burst)
            self.buckets = {}  # (service, operation, scope) -> (tokens, monotonic time)
            self.refused = {}  # "service:Operation" -> count

    def limit(self, service, operation):
        """(rate, burst) of an API: the control's override, else AWS's or the assumed."""
        for key in ((service, operation), (service, "*"), ("*", "*")):
            if key in self.overrides:
                return self.overrides[key]
        rate, burst, _ = rate_of(service, operation)
        return rate, burst

    def take(self, req):
        """True when the request has a token; False (and counted) past the bucket."""
        scope = ("organization",) if req.service in PER_ORGANIZATION else (req.account, req.region)
        key = (req.service, req.operation) + scope
        with self.lock:
            if not self.enabled and (req.service, req.operation) not in ALWAYS:
                return True
            rate, burst = self.limit(req.service, req.operation)
            now = time.monotonic()
            tokens, then = self.buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - then) * rate)
            if tokens < 1.0:
                self.buckets[key] = (tokens, now)
                name = f"{req.service}:{req.operation}"
                self.refused[name] = self.refused.get(name, 0) + 1
                return False
            self.buckets[key] = (tokens - 1.0, now)
            return True

    def check(self, req):
        """The throttling answer of a request past its bucket, else None."""
        return None if self.take(req) else throttled(req)

    def configure(self, body):
        """`enabled` (bool), `default` (bool: what a reset restores) and `rates`: a list of
        {"service", "operation" (or "*", or absent: every operation), "rate", "burst"};
        service "*" sets every API's."""
        rates = []
        for r in body.get("rates") or []:
            rate, burst = r.get("rate"), r.get("burst")
            if (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0
                    or isinstance(burst, bool) or not isinstance(burst, int) or burst < 1):
                raise ValueError("rate must be a positive number and burst a positive integer")
            service, operation = r.get("service"), r.get("operation") or "*"
            if not isinstance(service, str) or not service or not isinstance(operation, str):
                raise ValueError('service must be a signing name or "*"')
            rates.append(((service, operation), (float(rate), burst)))
        for key in ("enabled", "default"):
            if key in body and not isinstance(body[key], bool):
                raise ValueError(f"{key} must be true or false")
        with self.lock:
            if "default" in body:
                self.default_enabled = body["default"]
            if "enabled" in body:
                self.enabled = body["enabled"]
            if rates:
                self.overrides.update(rates)
                self.buckets = {}
        return self.snapshot()

    def set_one(self, service, operation, rate, burst):
        """One API's rate (the older per-API controls)."""
        return self.configure({"rates": [{"service": service, "operation": operation,
                                          "rate": rate, "burst": burst}]})

    def snapshot(self):
        with self.lock:
            return {"enabled": self.enabled, "default": self.default_enabled,
                    "overrides": [{"service": s, "operation": o, "rate": r, "burst": b}
                                  for (s, o), (r, b) in sorted(self.overrides.items())],
                    "throttled": dict(sorted(self.refused.items())),
                    "throttledTotal": sum(self.refused.values())}

    @staticmethod
    def table():
        """Every rate AWS publishes and the assumed one (for the register and the bench)."""
        out = [{"service": s, "operation": o, "rate": r, "burst": b, "source": src}
               for (s, o), (r, b, src) in sorted(RATES.items())]
        out.append({"service": "*", "operation": "*", "rate": ASSUMED[0], "burst": ASSUMED[1],
                    "source": ASSUMED[2]})
        return out
