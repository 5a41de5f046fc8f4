"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- A brand-new account answers `SubscriptionRequiredException` for a while: passing, retried
- An opt-in region the account has not enabled answers 403 `UnrecognizedClientException`: lasting for that account and region, not transient
- 1 to 50 ids; each associated member's features, the others unprocessed; a plan GuardDuty does not return is not protected
- The administrator's own detector lists, in `features`, every feature the region offers (with its status); a feature it leaves out is not offered there. Read once per region per run, only where a member lacks a wanted feature; an empty list takes nothing out
- The member's pending invitations, paginated; each carries the administrator's `accountId` and the `invitationId` the acceptance needs
- A refusal names whose policy refused it (the role's trust policy, or the caller's own identity policy)
- The member role of a brand-new account may not exist yet (its StackSet instance or Control Tower's role comes later): wait a grace period

The member account's view of GuardDuty: a member as the member sees it, its invitation, its
detector's features, and the switches of member accounts (denied roles, disabled regions,
not yet subscribed, a detector created by a concurrent run).
"""

import threading
import time

from emu.common import aws_error, json_response
from emu.guardduty import FEATURES, FOUNDATIONAL, put_detector
from emu.sts_iam import ASSUME_ROLE_REASONS, ROLE_ACCOUNT, assume_role_denied


# Member-account switches.
INVALID_TOKEN = "The security token included in the request is invalid."  # 403 UnrecognizedClientException
NOT_SUBSCRIBED = "The AWS Access Key Id needs a subscription for the service"  # 400 SubscriptionRequiredException


def member_copy(member, administrator):
    """A member record for the control API, safe to serialise outside the lock."""
    return dict(member, features=dict(member["features"]),
                featuresUpdatedAt=dict(member["featuresUpdatedAt"]),
                additionalConfiguration={f: dict(c) for f, c in member["additionalConfiguration"].items()},
                additionalConfigurationUpdatedAt={
                    f: dict(c) for f, c in member["additionalConfigurationUpdatedAt"].items()},
                administratorId=administrator)


def invitation_json(administrator, member):
    out = {"accountId": administrator, "invitationId": member["invitationId"],
           "relationshipStatus": member["relationshipStatus"]}
    if member["invitedAt"]:
        out["invitedAt"] = member["invitedAt"]
    return out


def detector_features(configured, hidden):
    """GetDetector's features: the foundational sources ENABLED, then every feature of
    FEATURES not in `hidden`, with the status CreateDetector/UpdateDetector gave it (else
    DISABLED)."""
    given = {f.get("name") or f.get("Name"): f.get("status") or f.get("Status")
             for f in configured or () if isinstance(f, dict)}
    stamp = round(time.time(), 3)
    listed = [{"name": n, "status": "ENABLED", "updatedAt": stamp} for n in FOUNDATIONAL]
    listed += [{"name": n, "status": given.get(n) or "DISABLED", "updatedAt": stamp}
               for n in sorted(FEATURES - set(hidden))]
    return listed


def member_detector(member, hidden=()):
    """A member's detector as GetMemberDetectors returns it; features in `hidden` (those the
    region does not offer) are never returned."""
    features = member["features"]
    enabled = {"status": "ENABLED"}
    return {"accountId": member["accountId"],
            "dataSources": {"cloudTrail": enabled, "dnsLogs": enabled, "flowLogs": enabled,
                            "s3Logs": {"status": features.get("S3_DATA_EVENTS", "DISABLED")}},
            "features": [feature_result(member, name) for name in features if name not in hidden]}


def feature_result(member, name):
    """A MemberFeaturesConfigurationResult of GetMemberDetectors."""
    out = {"name": name, "status": member["features"][name],
           "updatedAt": member["featuresUpdatedAt"][name]}
    configs = member["additionalConfiguration"].get(name)
    if configs:
        stamps = member["additionalConfigurationUpdatedAt"][name]
        out["additionalConfiguration"] = [{"name": c, "status": status, "updatedAt": stamps[c]}
                                          for c, status in configs.items()]
    return out


class MemberSwitches:
    """Behaviour of member accounts the tests switch on: denied roles, disabled regions,
    accounts not yet subscribed to GuardDuty, detectors created by a concurrent run."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.deny_assume_role = {}  # account -> reason (ASSUME_ROLE_REASONS)
            self.disabled_regions = {}  # account -> set of regions
            self.not_ready = {}  # account -> remaining CreateDetector/ListDetectors failures
            self.hidden_invitations = set()  # accounts whose ListInvitations shows none
            self.detector_race = {}  # account -> remaining CreateDetector calls that race

    def check_region(self, req):
        """("disabled-region", error response) for a GuardDuty request in a region the
        caller has not enabled, else None (authentication: before any deny rule)."""
        with self.lock:
            if req.service == "guardduty" and req.region in self.disabled_regions.get(req.account, ()):
                return "disabled-region", aws_error(req.protocol, 403, "UnrecognizedClientException", INVALID_TOKEN)
        return None

    def check(self, req):
        """(switch name, error response or None) if a switch acts on this request, else None.
        A None response means: the switch did its part, now serve the request."""
        with self.lock:
            if req.service == "sts" and req.operation == "AssumeRole":
                return self.check_assume_role(req)
            if req.service != "guardduty":
                return None
            if req.operation in ("CreateDetector", "ListDetectors") and self.not_ready.get(req.account, 0) > 0:
                self.not_ready[req.account] -= 1
                return "not-ready", aws_error(req.protocol, 400, "SubscriptionRequiredException", NOT_SUBSCRIBED)
            if req.operation == "CreateDetector" and self.detector_race.get(req.account, 0) > 0:
                self.detector_race[req.account] -= 1
                put_detector(req.account, req.region, True, only_if_missing=True)
                return "detector-race", None
            if req.operation == "ListInvitations" and req.account in self.hidden_invitations:
                return "hidden-invitations", json_response({"invitations": []})
            return None

    def check_assume_role(self, req):
        role = req.params.get("RoleArn", "")
        target = ROLE_ACCOUNT.match(role)
        if not target or target.group(1) not in self.deny_assume_role:
            return None
        reason = ASSUME_ROLE_REASONS[self.deny_assume_role[target.group(1)]]
        return "deny-assume-role", assume_role_denied(req, role, reason)

    def snapshot(self):
        with self.lock:
            return {"denyAssumeRole": sorted(self.deny_assume_role),
                    "denyAssumeRoleReasons": dict(sorted(self.deny_assume_role.items())),
                    "disabledRegions": {a: sorted(r) for a, r in self.disabled_regions.items()},
                    "notReady": dict(self.not_ready),
                    "hiddenInvitations": sorted(self.hidden_invitations),
                    "detectorRace": dict(self.detector_race)}
