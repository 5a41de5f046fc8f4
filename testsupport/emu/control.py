"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- A caller that may not read the organization gets `AccessDeniedException` or `AWSOrganizationsNotInUseException`

The control API (/_emulator/...): its routes and handlers (ControlApi, a base of the
middleware), and the switches they set that are not one service's: deny rules (DenyRules)
and the fault kinds.
"""

import threading

from moto.guardduty.models import guardduty_backends

from emu.common import (ApiError, DEFAULT_ACCOUNT, account_id_list, aws_error, caller_arn,
    is_account_id, json_response, parse_iso)
from emu.guardduty import FEATURES, INTERNAL_ERROR_OPS, put_detector, validate_features
from emu.organizations import account_json, organization_account_spec
from emu.sns import DELIVERIES
from emu.sts_iam import ASSUME_ROLE_REASONS, ROLE_NAME


# SigV4 signing name -> IAM action prefix, where they differ (they agree for every service
# this emulator serves).
IAM_PREFIXES = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "execute-api"}

FAULT_KINDS = {"error500", "throttle", "delay", "hang", "lost_response"}


def iam_prefix(service):
    """The IAM action prefix of a SigV4 signing name (they agree for the services here)."""
    return IAM_PREFIXES.get(service, service)


class DenyRules:
    """Requests of given operations by given accounts answer an access-denied error."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.rules = []

    def add(self, body):
        account = body.get("accountId")
        if account != "*" and not is_account_id(account):
            raise ValueError('accountId must be 12 digits or "*"')
        operations = body.get("operations")
        if (not isinstance(operations, list) or not operations
                or not all(isinstance(o, str) and o for o in operations)):
            raise ValueError("operations must be a non-empty list of operation names")
        rule = {"accountId": account, "operations": list(operations)}
        for key in ("service", "code", "message"):
            if body.get(key) is not None:
                if not isinstance(body[key], str) or not body[key]:
                    raise ValueError(f"{key} must be a non-empty text")
                rule[key] = body[key]
        if body.get("status") is not None:
            status = int(body["status"])
            if not 400 <= status <= 599:
                raise ValueError("status must be 400-599")
            rule["status"] = status
        with self.lock:
            self.rules.append(rule)
            return self.snapshot_locked()

    def check(self, req):
        """The error response of the first rule matching this request, else None."""
        with self.lock:
            rule = next((r for r in self.rules
                         if r["accountId"] in ("*", req.account)
                         and ("*" in r["operations"] or req.operation in r["operations"])
                         and r.get("service") in (None, req.service)), None)
        if rule is None:
            return None
        code = rule.get("code") or ("AccessDenied" if req.protocol in ("query", "rest-xml")
                                    else "AccessDeniedException")
        message = rule.get("message") or (
            f"User: {caller_arn(req.account)} is not authorized to perform: "
            f"{iam_prefix(req.service)}:{req.operation}")
        return aws_error(req.protocol, rule.get("status", 403), code, message, service=req.service)

    def snapshot_locked(self):
        return {"rules": [dict(r, operations=list(r["operations"])) for r in self.rules]}

    def snapshot(self):
        with self.lock:
            return self.snapshot_locked()


def member_entry(spec):
    """(accountId, status, email, invitedAt, features or None) of a control-API member,
    validated."""
    if not isinstance(spec, dict) or not is_account_id(spec.get("accountId")):
        raise ValueError("each member needs a 12-digit accountId")
    status = spec.get("relationshipStatus")
    if not isinstance(status, str) or not status:
        raise ValueError(f"relationshipStatus of {spec['accountId']} missing")
    invited_at = parse_iso(spec["invitedAt"]) if spec.get("invitedAt") else None
    features = control_features(spec) if "features" in spec else None
    return spec["accountId"], status, spec.get("email"), invited_at, features


def control_features(body):
    """A control request's "features", validated as UpdateMemberDetectors validates them
    (lower-case keys), at least one."""
    try:
        features = validate_features(body)
    except ApiError as e:
        raise ValueError(e.message)
    if not features:
        raise ValueError("features must list at least one feature")
    return features


def switch_account(body):
    if not is_account_id(body.get("accountId")):
        raise ValueError("accountId must be 12 digits")
    return body["accountId"]


class ControlApi:
    """The control API (/_emulator/...): each route's handler, a method of the middleware
    (Emulator inherits it), over the state the middleware holds."""

    def control(self, method, path, request):
        handler = CONTROL_ROUTES.get((method, path.rstrip("/")))
        if handler is None:
            return json_response({"error": f"no control route {method} {path}"}, 404)
        body = request.get_json(force=True, silent=True) if method in ("POST", "PUT") else None
        if not isinstance(body, dict):
            body = {}
        return json_response(handler(self, body))

    def c_health(self, body):
        return {"ok": True}

    def c_reset(self, body):
        self.reset()
        return {"reset": True}

    def c_inflight(self, body):
        return self.inflight.snapshot()

    def c_inflight_reset(self, body):
        return self.inflight.reset_peak()

    def c_add_fault(self, body):
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
        return rule

    def c_faults(self, body):
        with self.lock:
            return {"faults": [dict(r) for r in self.faults]}

    def c_clear_faults(self, body):
        with self.lock:
            self.faults = []
            self.release_hung()
        return {"faults": []}

    def c_calls(self, body):
        with self.lock:
            return {"calls": [dict(c) for c in self.calls]}

    def c_clear_calls(self, body):
        with self.lock:
            self.calls = []
        return {"calls": []}

    def c_foreign_accounts(self, body):
        return self.add_account_set(self.guardduty.foreign, body)

    def c_organization_accounts(self, body):
        return self.add_account_set(self.guardduty.organization, body)

    def add_account_set(self, target, body):
        ids = account_id_list(body.get("accountIds"))
        with self.guardduty.lock:
            target.update(ids)
            return {"accountIds": sorted(target)}

    def c_member_status(self, body):
        if not is_account_id(body.get("accountId")) or not body.get("relationshipStatus"):
            raise ValueError("need region, detectorId, a 12-digit accountId and relationshipStatus")
        account, status, email, invited_at, features = member_entry(body)
        entry = (account, status, email, invited_at, [features] if features else None)
        return self.guardduty.put_members(body["region"], body["detectorId"], [entry],
                                          body.get("administratorId"), records=True)[0]

    def c_put_members(self, body):
        if not isinstance(body.get("members"), list):
            raise ValueError("members must be a list")
        common = control_features(body) if "features" in body else None
        entries = []
        for m in body["members"]:
            account, status, email, invited_at, own = member_entry(m)
            entries.append((account, status, email, invited_at, [f for f in (common, own) if f]))
        self.guardduty.put_members(body["region"], body["detectorId"], entries, body.get("administratorId"))
        return {"count": len(entries)}

    def c_members(self, body):
        return self.guardduty.snapshot()

    def c_member_features(self, body):
        account = switch_account(body)
        if not isinstance(body.get("region"), str):
            raise ValueError("region must be a region name")
        features = control_features(body)
        for key in ("detectorId", "administratorId"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise ValueError(f"{key} must be a text")
        return self.guardduty.set_member_features(body["region"], account, features,
                                                  body.get("detectorId"), body.get("administratorId"))

    def c_usage(self, body):
        """POST {region, costs: {accountId: {usage feature: USD}}, administratorId?}: the
        cost GetUsageStatistics answers for the last 30 days."""
        if not isinstance(body.get("region"), str) or not body["region"]:
            raise ValueError("region must be a region name")
        return self.guardduty.set_usage(body["region"], body.get("costs"),
                                        body.get("administratorId") or DEFAULT_ACCOUNT)

    def c_organization_configuration(self, body):
        if not isinstance(body.get("region"), str) or not body["region"]:
            raise ValueError("region must be a region name")
        return self.guardduty.set_organization_configuration(body["region"], body)

    def c_unoffered(self, body):
        pairs = {(f["name"], f["region"]) for f in body["features"]}
        if not all(name in FEATURES and isinstance(region, str) for name, region in pairs):
            raise ValueError("features: [{name (a feature), region}]")
        with self.guardduty.lock:
            self.guardduty.unoffered = pairs
        return self.c_unoffered_list({})

    def c_unoffered_list(self, _body):
        with self.guardduty.lock:
            return {"features": [{"name": f, "region": r} for f, r in sorted(self.guardduty.unoffered)]}

    def c_member_limit(self, body):
        limit = int(body["limit"])
        if limit < 0:
            raise ValueError("limit must be 0 or more")
        with self.guardduty.lock:
            self.guardduty.member_limit = limit
        return {"limit": limit}

    def c_add_internal_error(self, body):
        if body.get("operation") not in INTERNAL_ERROR_OPS:
            raise ValueError(f"operation must be one of {sorted(INTERNAL_ERROR_OPS)}")
        times = int(body.get("times", 1))
        return self.guardduty.add_internal_error(body["operation"], account_id_list(body.get("accountIds")), times)

    def c_add_unprocessed(self, body):
        if body.get("operation") not in INTERNAL_ERROR_OPS:
            raise ValueError(f"operation must be one of {sorted(INTERNAL_ERROR_OPS)}")
        if not isinstance(body.get("result"), str) or not body["result"]:
            raise ValueError("result must be a non-empty text")
        times = int(body.get("times", 1))
        return self.guardduty.add_internal_error(body["operation"], account_id_list(body.get("accountIds")),
                                                 times, body["result"])

    def c_stale_status(self, body):
        if not isinstance(body.get("status"), str) or not body["status"]:
            raise ValueError("status must be a relationship status")
        return self.guardduty.add_stale_status(account_id_list(body.get("accountIds")), body["status"],
                                               int(body.get("times", 1)))

    def c_internal_errors(self, body):
        with self.guardduty.lock:
            return self.guardduty.internal_error_rules()

    def c_organization_account(self, body):
        bulk = "accounts" in body
        given = body["accounts"] if bulk else [body]
        if not isinstance(given, list):
            raise ValueError("accounts must be a list")
        specs = [organization_account_spec(s) for s in given]  # all valid before any change
        backend, accounts = self.organizations.put_accounts(specs)
        if bulk:
            return {"count": len(specs), "organizationId": backend.org.id}
        return account_json(accounts[0])

    def c_organizational_unit(self, body):
        name, parent_id = body.get("name"), body.get("parentId")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise ValueError("name must be 1-128 characters")
        if parent_id is not None and not isinstance(parent_id, str):
            raise ValueError("parentId must be a root or OU id")
        ou, created = self.organizations.put_ou(name, parent_id)
        return {"id": ou.id, "name": ou.name, "parentId": ou.parent_id, "arn": ou.arn, "created": created}

    def c_deny_assume_role(self, body):
        ids = account_id_list(body.get("accountIds"))
        reason = body.get("reason") or "trust"
        if reason not in ASSUME_ROLE_REASONS:
            raise ValueError(f"reason must be one of {sorted(ASSUME_ROLE_REASONS)}")
        with self.switches.lock:
            self.switches.deny_assume_role.update((a, reason) for a in ids)
            return {"accountIds": sorted(self.switches.deny_assume_role),
                    "reasons": dict(sorted(self.switches.deny_assume_role.items()))}

    def c_allow_assume_role(self, body):
        with self.switches.lock:
            self.switches.deny_assume_role.clear()
        return {"accountIds": [], "reasons": {}}

    def c_add_roles(self, body):
        accounts = account_id_list(body.get("accountIds")) if "accountIds" in body else [switch_account(body)]
        name = body.get("roleName")
        if not isinstance(name, str) or not ROLE_NAME.fullmatch(name):
            raise ValueError("roleName must be 1-64 characters of letters, digits and _+=,.@-")
        self.roles.add(accounts, name)
        return self.roles.snapshot()

    def c_roles(self, body):
        return self.roles.snapshot()

    def c_clear_roles(self, body):
        self.roles.reset()
        return self.roles.snapshot()

    def c_disabled_regions(self, body):
        account, regions = switch_account(body), body.get("regions")
        if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
            raise ValueError("regions must be a list of region names")
        with self.switches.lock:
            self.switches.disabled_regions[account] = set(regions)
        return {"accountId": account, "regions": sorted(set(regions))}

    def c_not_ready(self, body):
        account, times = switch_account(body), int(body.get("times", 1))
        with self.switches.lock:
            self.switches.not_ready[account] = times
        return {"accountId": account, "remaining": times}

    def c_hidden_invitations(self, body):
        account = switch_account(body)
        with self.switches.lock:
            self.switches.hidden_invitations.add(account)
        return {"accountIds": sorted(self.switches.hidden_invitations)}

    def c_detector_race(self, body):
        account, times = switch_account(body), int(body.get("times", 1))
        if times < 0:
            raise ValueError("times must be 0 or more")
        with self.switches.lock:
            self.switches.detector_race[account] = times
        return {"accountId": account, "remaining": times}

    def c_switches(self, body):
        return dict(self.switches.snapshot(), deny=self.denials.snapshot()["rules"])

    def c_deny(self, body):
        return self.denials.add(body)

    def c_deny_list(self, body):
        return self.denials.snapshot()

    def c_allow(self, body):
        self.denials.reset()
        return {"rules": []}

    def c_account_regions(self, body):
        return self.account_regions.set_regions(switch_account(body), body.get("regions"))

    def c_account_regions_list(self, body):
        return self.account_regions.snapshot()

    def c_account_delegated_admin(self, body):
        account = body.get("accountId")
        if account is not None and not is_account_id(account):
            raise ValueError("accountId must be 12 digits or null")
        if account == DEFAULT_ACCOUNT:
            raise ValueError("the management account cannot be its own delegated administrator")
        with self.account_regions.lock:
            self.account_regions.delegated_admin = account
        return {"accountId": account}

    def c_trusted_access(self, body):
        if not isinstance(body.get("enabled"), bool):
            raise ValueError("enabled must be true or false")
        with self.account_regions.lock:
            self.account_regions.trusted_access = body["enabled"]
        return {"enabled": body["enabled"]}

    def c_not_subscribed(self, body):
        return self.securityhub.set_not_subscribed(body.get("regions"))

    def c_failed_findings(self, body):
        return self.securityhub.add_failure(body)

    def c_securityhub(self, body):
        return self.securityhub.snapshot()

    def c_securityhub_rate(self, body):
        """GetFindings' rate alone (see /_emulator/throttle for every API's)."""
        rate, burst = body.get("rate", 3.0), body.get("burst", 6)
        self.throttle.set_one("securityhub", "GetFindings", rate, burst)
        return {"rate": float(rate), "burst": burst}

    def c_throttle(self, body):
        return self.throttle.configure(body)

    def c_throttle_state(self, body):
        return dict(self.throttle.snapshot(), rates=self.throttle.table())

    def c_securityhub_findings(self, body):
        return self.securityhub.stored_findings()

    def c_sns_deliveries(self, body):
        return DELIVERIES.snapshot()

    def c_detector(self, body):
        account = switch_account(body)
        region = body.get("region")
        if not isinstance(region, str) or not region:
            raise ValueError("region must be a region name")
        enable = body.get("enable")
        if enable is not None and not isinstance(enable, bool):
            raise ValueError("enable must be true or false")
        detector_id, created = put_detector(account, region, enable)
        detector = guardduty_backends[account][region].detectors[detector_id]
        return {"accountId": account, "region": region, "detectorId": detector_id,
                "status": "ENABLED" if detector.enabled else "DISABLED", "created": created}


CONTROL_ROUTES = {
    ("GET", "/_emulator/health"): ControlApi.c_health,
    ("POST", "/_emulator/reset"): ControlApi.c_reset,
    ("GET", "/_emulator/inflight"): ControlApi.c_inflight,
    ("DELETE", "/_emulator/inflight"): ControlApi.c_inflight_reset,
    ("POST", "/_emulator/faults"): ControlApi.c_add_fault,
    ("GET", "/_emulator/faults"): ControlApi.c_faults,
    ("DELETE", "/_emulator/faults"): ControlApi.c_clear_faults,
    ("GET", "/_emulator/calls"): ControlApi.c_calls,
    ("DELETE", "/_emulator/calls"): ControlApi.c_clear_calls,
    ("POST", "/_emulator/guardduty/foreign-accounts"): ControlApi.c_foreign_accounts,
    ("POST", "/_emulator/guardduty/organization-accounts"): ControlApi.c_organization_accounts,
    ("POST", "/_emulator/guardduty/member-status"): ControlApi.c_member_status,
    ("POST", "/_emulator/guardduty/members"): ControlApi.c_put_members,
    ("GET", "/_emulator/guardduty/members"): ControlApi.c_members,
    ("POST", "/_emulator/guardduty/member-features"): ControlApi.c_member_features,
    ("POST", "/_emulator/guardduty/organization-configuration"): ControlApi.c_organization_configuration,
    ("POST", "/_emulator/guardduty/usage"): ControlApi.c_usage,
    ("POST", "/_emulator/guardduty/member-limit"): ControlApi.c_member_limit,
    ("POST", "/_emulator/guardduty/unoffered"): ControlApi.c_unoffered,
    ("GET", "/_emulator/guardduty/unoffered"): ControlApi.c_unoffered_list,
    ("POST", "/_emulator/guardduty/internal-error"): ControlApi.c_add_internal_error,
    ("GET", "/_emulator/guardduty/internal-error"): ControlApi.c_internal_errors,
    ("POST", "/_emulator/guardduty/unprocessed"): ControlApi.c_add_unprocessed,
    ("POST", "/_emulator/guardduty/stale-status"): ControlApi.c_stale_status,
    ("GET", "/_emulator/guardduty/unprocessed"): ControlApi.c_internal_errors,
    ("POST", "/_emulator/organizations/accounts"): ControlApi.c_organization_account,
    ("POST", "/_emulator/organizations/ous"): ControlApi.c_organizational_unit,
    ("POST", "/_emulator/sts/deny-assume-role"): ControlApi.c_deny_assume_role,
    ("DELETE", "/_emulator/sts/deny-assume-role"): ControlApi.c_allow_assume_role,
    ("POST", "/_emulator/iam/roles"): ControlApi.c_add_roles,
    ("GET", "/_emulator/iam/roles"): ControlApi.c_roles,
    ("DELETE", "/_emulator/iam/roles"): ControlApi.c_clear_roles,
    ("POST", "/_emulator/member/disabled-regions"): ControlApi.c_disabled_regions,
    ("POST", "/_emulator/member/not-ready"): ControlApi.c_not_ready,
    ("POST", "/_emulator/member/hidden-invitations"): ControlApi.c_hidden_invitations,
    ("GET", "/_emulator/member/switches"): ControlApi.c_switches,
    ("POST", "/_emulator/member/detector-race"): ControlApi.c_detector_race,
    ("POST", "/_emulator/deny"): ControlApi.c_deny,
    ("GET", "/_emulator/deny"): ControlApi.c_deny_list,
    ("DELETE", "/_emulator/deny"): ControlApi.c_allow,
    ("POST", "/_emulator/guardduty/detector"): ControlApi.c_detector,
    ("POST", "/_emulator/account/regions"): ControlApi.c_account_regions,
    ("GET", "/_emulator/account/regions"): ControlApi.c_account_regions_list,
    ("POST", "/_emulator/account/trusted-access"): ControlApi.c_trusted_access,
    ("POST", "/_emulator/account/delegated-administrator"): ControlApi.c_account_delegated_admin,
    ("POST", "/_emulator/securityhub/not-subscribed"): ControlApi.c_not_subscribed,
    ("POST", "/_emulator/securityhub/failed-findings"): ControlApi.c_failed_findings,
    ("GET", "/_emulator/securityhub"): ControlApi.c_securityhub,
    ("POST", "/_emulator/securityhub/rate"): ControlApi.c_securityhub_rate,
    ("POST", "/_emulator/throttle"): ControlApi.c_throttle,
    ("GET", "/_emulator/throttle"): ControlApi.c_throttle_state,
    ("GET", "/_emulator/securityhub/findings"): ControlApi.c_securityhub_findings,
    ("GET", "/_emulator/sns/deliveries"): ControlApi.c_sns_deliveries,
}
