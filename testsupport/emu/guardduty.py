"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- 1 to 50 accounts per call: the flow sends batches of 50
- The email is 6 to 64 characters of 7-bit ASCII with exactly one `@`; AWS lists further rules (local name without whitespace, quotes, parentheses, angle or square brackets, colon, comma, backslash, pipe, percent or ampersand, not starting with a dot; domain of letters, digits, `-` and `.`, not starting or ending with `.` or `-`, with at least one dot), which the code checks before CreateMembers and the emulator refuses
- The administrator's member limit answers per account
- `relationshipStatus` is free text (compare case-insensitively): `Created`, `Invited`, `EmailVerificationInProgress`, `EmailVerificationFailed`, `Enabled`, `Disabled`, `Removed`, `Resigned`
- At most 50 members a page
- `RUNTIME_MONITORING` and `EKS_RUNTIME_MONITORING` are never in one call
- Feature names and statuses are the model's enums
- Runtime Monitoring's agents are GuardDuty-managed through `additionalConfiguration`
- RUNTIME_MONITORING and EKS_RUNTIME_MONITORING are never in one call, whatever their statuses (the whole call fails, 400 BadRequestException)
- Migration order: Runtime Monitoring on (with its EKS add-on management) first, then EKS Runtime Monitoring off; the second call only for members the first processed
- Both runtime plans may be turned off (two calls): that is what stops both being billed
- A call naming a feature the region does not offer is refused whole (400 BadRequestException)
- A detector can exist suspended: `status` `DISABLED`
- `enable: true` resumes a suspended detector; accepting an invitation does not
- 1-50 accountIds a call; refusals per account in unprocessedAccounts
- RDS Protection (RDS_LOGIN_EVENTS) is not offered in ap-east-2; a plan a region does not offer is not wanted there, not counted against coverage, said once per region (`notOffered`, summary line, one log line), never a problem per account
- GuardDuty members per delegated administrator and region: 50,000, invited members included (no separate 5,000 limit for invitations was found in AWS's pages)

GuardDuty's shared rules: the UnprocessedAccounts and error wordings, the feature names and
statuses, email and account-id validation, the one detector per account and region, and the
logged fields of the member operations.
"""

import json
import threading
import time
import uuid
from datetime import datetime

from moto.guardduty.models import guardduty_backends

from emu.common import bad_request, is_account_id, now_iso, page


# UnprocessedAccounts[].result texts, as the real service words them (MEMBER_LIMIT and
# ORG_NO_REINVITE: documented cases whose exact wording is not known; match by substring).
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
MEMBER_LIMIT = ("The request is rejected because the current account has reached the maximum "
                "number of member accounts.")
INTERNAL_ERROR = "Internal error"
ORG_NO_REINVITE = ("The request is rejected because the account was added through the "
                   "organization and cannot be invited.")
# Error messages (400 BadRequestException unless noted).
NO_DETECTOR = "The request is rejected because the input detectorId is not owned by the current account."
NO_INVITATION = ("The request is rejected because no invitation from the given administrator "
                 "account was found.")
BAD_INVITATION = "The request is rejected because the input invitationId is not valid."
OTHER_ADMINISTRATOR = ("The request is rejected because the current account is already "
                       "associated with another administrator account.")
# A plan the region does not offer (inferred wording: AWS documents no answer).
NOT_OFFERED = ("The request is rejected because {feature} is not supported in the current "
               "region.")
# The plans GuardDuty's "Regions and endpoints" page says a region does not offer.
DEFAULT_UNOFFERED = frozenset({("RDS_LOGIN_EVENTS", "ap-east-2")})
# The features GetDetector lists beside FEATURES: the foundational data sources, always on.
FOUNDATIONAL = ("FLOW_LOGS", "CLOUD_TRAIL", "DNS_LOGS")
RUNTIME_TOGETHER = ("The request is rejected because RUNTIME_MONITORING and "
                    "EKS_RUNTIME_MONITORING cannot be specified together.")
# DescribeOrganizationConfiguration by an account that is not the delegated administrator:
# a GuardDuty organization-configuration error seen from the real service (for
# UpdateOrganizationConfiguration); its wording for this case is not confirmed.
NOT_DELEGATED_ADMIN = ("The request failed because you do not have required AWS Organization "
                       "master permission.")
AUTO_ENABLE = ("NEW", "ALL", "NONE")

DETECTOR_EXISTS = "The request is rejected because a detector already exists for the current account."

ADMIN_OPS = {"CreateMembers", "InviteMembers", "GetMembers", "ListMembers", "DeleteMembers",
             "DisassociateMembers", "UpdateMemberDetectors", "GetMemberDetectors",
             "StartMonitoringMembers", "StopMonitoringMembers"}
MEMBER_SIDE_OPS = {"ListInvitations", "AcceptAdministratorInvitation", "AcceptInvitation",
                   "GetAdministratorAccount", "GetMasterAccount"}
MEMBER_OPS = ADMIN_OPS | MEMBER_SIDE_OPS  # the GuardDuty operations served here, not by moto
INTERNAL_ERROR_OPS = ADMIN_OPS - {"ListMembers"}
READ_OPS = {"ListMembers", "GetMembers", "GetMemberDetectors", "ListInvitations",
            "GetAdministratorAccount", "GetMasterAccount"}
FEATURES = {"S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS",
            "LAMBDA_NETWORK_LOGS", "EKS_RUNTIME_MONITORING", "RUNTIME_MONITORING", "AI_PROTECTION"}
# OrgFeatureAdditionalConfiguration of the API model (botocore 1.44.8).
ADDITIONAL_CONFIGURATIONS = {"EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT",
                             "EC2_AGENT_MANAGEMENT", "RDS_DATA_RISK"}
FEATURE_STATUSES = ("ENABLED", "DISABLED")
INVITED = ("invited", "emailverificationinprogress")

DEFAULT_MEMBER_LIMIT = 5000


def owns_detector(account, region, detector_id):
    try:
        return detector_id in guardduty_backends[account][region].detectors
    except KeyError:
        return False


def detector_owner(region, detector_id):
    """The account whose moto detector this is, or None (looks without creating backends)."""
    for account, regions in list(guardduty_backends.items()):
        backend = dict.get(regions, region)
        if backend is not None and detector_id in backend.detectors:
            return account
    return None


DETECTOR_LOCK = threading.Lock()  # one GuardDuty detector per account and region


def put_detector(account, region, enable, only_if_missing=False):
    """Create `account`'s detector in `region` in moto (or, unless only_if_missing, set the
    enable state of the one it has); returns (detectorId, created)."""
    with DETECTOR_LOCK:
        backend = guardduty_backends[account][region]
        if backend.detectors:
            detector = next(iter(backend.detectors.values()))
            if not only_if_missing and enable is not None:
                detector.enabled = bool(enable)
                detector.updated_at = datetime.now()
            return detector.id, False
        return backend.create_detector(True if enable is None else bool(enable), None, None, None, None), True


def new_member(account, email, status, stamp=None):
    return {"accountId": account, "email": email, "relationshipStatus": status,
            "invitedAt": None, "updatedAt": stamp or now_iso(), "invitations": 0, "invitationId": None,
            "acceptedAt": None, "memberDetectorId": None, "features": {},
            "featuresUpdatedAt": {}, "additionalConfiguration": {},
            "additionalConfigurationUpdatedAt": {}, "lastMessage": None,
            "lastDisableEmailNotification": None}


def status_of(member):
    return member["relationshipStatus"].lower()


def issue_invitation(member):
    """Give an invited member its invitation id (kept from the first invitation on)."""
    member["invitationId"] = member["invitationId"] or uuid.uuid4().hex
    member["invitedAt"] = member["invitedAt"] or now_iso()


def unprocessed_json(pairs):
    return [{"accountId": a, "result": r} for a, r in pairs]


# GuardDuty API Reference, AccountDetail (email): 6-64 7-bit ASCII characters, one @; the local
# name holds no whitespace nor " ' ( ) < > [ ] : , \\ | % & and does not begin with a dot; the
# domain is [A-Za-z0-9.-], has a dot, and does not begin or end with a dot or hyphen.
EMAIL_LOCAL_REFUSED = set("\"'()<>[]:,\\|%&")


def valid_email(email):
    if not (isinstance(email, str) and 6 <= len(email) <= 64 and email.isascii()
            and email.count("@") == 1):
        return False
    local, domain = email.split("@")
    if not local or local.startswith(".") or any(c.isspace() or c in EMAIL_LOCAL_REFUSED for c in local):
        return False
    return (bool(domain) and "." in domain and domain[0] not in ".-" and domain[-1] not in ".-"
            and all(c.isalnum() or c in ".-" for c in domain))


def account_ids(operation, body):
    """The request's account ids, validated: 1-50 of them, each 12 digits, else 400."""
    if operation == "CreateMembers":
        items = body.get("accountDetails")
        if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
            raise bad_request()
        if any(d.get("email") not in (None, "") and not valid_email(d["email"]) for d in items):
            raise bad_request()
        ids = [d.get("accountId") for d in items]
    else:
        ids = body.get("accountIds")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 50 or not all(is_account_id(a) for a in ids):
        raise bad_request()
    return ids


def valid_additional_configuration(value):
    return value is None or (isinstance(value, list) and all(
        isinstance(c, dict) and c.get("name") in ADDITIONAL_CONFIGURATIONS
        and c.get("status") in FEATURE_STATUSES for c in value))


def validate_features(body, region=None, unoffered=frozenset()):
    features = body.get("features", [])
    if not isinstance(features, list) or not all(
            isinstance(f, dict) and f.get("name") in FEATURES and f.get("status") in FEATURE_STATUSES
            and valid_additional_configuration(f.get("additionalConfiguration"))
            for f in features):
        raise bad_request()
    # Whatever their statuses: AWS refuses the two named together in one call.
    if {"RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"} <= {f["name"] for f in features}:
        raise bad_request(RUNTIME_TOGETHER)
    for f in features:
        if (f["name"], region) in unoffered:
            raise bad_request(NOT_OFFERED.format(feature=f["name"]))
    return features


def set_features(member, features):
    """Apply validated features [{name, status, additionalConfiguration?}] to a member:
    each feature's status, and its additional configuration merged by name."""
    stamp = round(time.time(), 3)
    for feature in features:
        name = feature["name"]
        member["features"][name] = feature["status"]
        member["featuresUpdatedAt"][name] = stamp
        for config in feature.get("additionalConfiguration") or []:
            member["additionalConfiguration"].setdefault(name, {})[config["name"]] = config["status"]
            member["additionalConfigurationUpdatedAt"].setdefault(name, {})[config["name"]] = stamp


def page_params(query):
    """(limit, nextToken) of a GuardDuty list request: maxResults 1-50, default 50."""
    try:
        limit = int(query.get("maxResults", "50"))
    except ValueError:
        raise bad_request()
    if not 1 <= limit <= 50:
        raise bad_request()
    return limit, query.get("nextToken")


def guardduty_page(items, query, key):
    limit, token = page_params(query)
    try:
        chosen, next_token = page(items, token, limit)
    except (ValueError, UnicodeDecodeError):
        raise bad_request()
    out = {key: chosen}
    if next_token:
        out["nextToken"] = next_token
    return out


def logged_account_ids(operation, body):
    try:
        data = json.loads(body or b"{}")
        if operation == "CreateMembers":
            return [d.get("accountId") for d in data.get("accountDetails") or []]
        return list(data.get("accountIds") or [])
    except (ValueError, AttributeError, TypeError):
        return []


def logged_features(body):
    """[{name, status}] of an UpdateMemberDetectors request, for the call log."""
    try:
        return [{"name": f.get("name"), "status": f.get("status")}
                for f in json.loads(body or b"{}").get("features") or []]
    except (ValueError, AttributeError, TypeError):
        return []


def logged_target_account(body):
    try:
        data = json.loads(body or b"{}")
        return data.get("AccountId") if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None
