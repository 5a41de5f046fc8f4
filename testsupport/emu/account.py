"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- A suspended or closed account is still listed (and still in the organization) until it leaves; a GuardDuty member that Organizations lists in any state is not "outside the organization"
- Another account's regions need the management or delegated administrator account and trusted access
- The management account cannot name itself
- Pages of at most 50; statuses `ENABLED`, `ENABLING`, `DISABLING`, `DISABLED`, `ENABLED_BY_DEFAULT`
- With `AccountId`, only member accounts can be named: the management account's regions cannot be read from another account (the delegated administrator)
- The management account names itself only in the standalone context (no `AccountId`)
- Cross-account ListRegions needs the management account or the Account Management delegated administrator, with trusted access; a check that asks about its own account proves none of that, so `check` asks about a member account

Account Management ListRegions: the commercial regions, their opt-in statuses per account,
and the refusals of AccountId for the management account, a delegated administrator and
accounts outside the organization.
"""

import json
import threading

from moto.organizations.models import organizations_backends

from emu.common import DEFAULT_ACCOUNT, aws_error, caller_arn, is_account_id, json_response, page


# The commercial regions (botocore 1.44.8's "aws" partition). The opt-in ones are disabled for
# every account until enabled: those launched since 2019 (ap-east-2 and ap-southeast-6, in
# botocore's list, are opt-in regions too).
REGIONS = ("af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
           "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
           "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6",
           "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2",
           "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
           "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1",
           "us-east-1", "us-east-2", "us-west-1", "us-west-2")
OPT_IN_REGIONS = {"af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3",
                  "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
                  "ca-west-1", "eu-south-1", "eu-south-2", "eu-central-2", "il-central-1",
                  "me-south-1", "me-central-1", "mx-central-1"}
REGION_OPT_STATUSES = ("ENABLED", "ENABLING", "DISABLING", "DISABLED", "ENABLED_BY_DEFAULT")
# AccessDeniedException reasons of ListRegions with an AccountId, after "User: ARN is not
# authorized to perform: account:ListRegions" (TRUSTED_ACCESS_OFF and STANDALONE_ONLY as seen
# from the real service in public issue threads; the other two are guesses).
TRUSTED_ACCESS_OFF = " (Your organization must first enable trusted access with AWS Account Management.)"
STANDALONE_ONLY = (" (The management account can only be managed using the standalone context "
                   "from the management account)")
NOT_MANAGEMENT = ""
NOT_IN_ORGANIZATION = " (The account is not a member of your organization.)"
# The Account Management delegated administrator naming the management account: the API
# reference says "The specified account ID must be a member account in the same
# organization"; the code (AccessDeniedException, as for the management account naming
# itself) and this wording are inferred from that sentence, not seen from the service.
MEMBER_ACCOUNT_ONLY = " (The specified account ID must be a member account in the same organization.)"


def validation_error(message):
    return aws_error("rest-json", 400, "ValidationException", message)


class AccountRegions:
    """Account Management ListRegions (moto lacks it): region opt-in status per account."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.statuses = {}  # account -> {region: status}, where set through the control API
            self.trusted_access = True
            self.delegated_admin = None  # the Account Management delegated administrator

    def status(self, account, region):
        default = "DISABLED" if region in OPT_IN_REGIONS else "ENABLED_BY_DEFAULT"
        return self.statuses.get(account, {}).get(region, default)

    def list_regions(self, req, organizations):
        try:
            body = json.loads(req.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return validation_error("The request body is not valid JSON.")
        target = body.get("AccountId")
        if target is not None:
            if not is_account_id(target):
                return validation_error(f"1 validation error detected: Value '{target}' at 'accountId' "
                                        "failed to satisfy constraint: Member must satisfy regular "
                                        "expression pattern: \\d{12}")
            reason = self.delegation_refused(req.account, target, organizations)
            if reason is not None:
                return aws_error("rest-json", 403, "AccessDeniedException",
                                 f"User: {caller_arn(req.account)} is not authorized to perform: "
                                 f"account:ListRegions{reason}")
        wanted = body.get("RegionOptStatusContains")
        if wanted is not None and (not isinstance(wanted, list)
                                   or not all(w in REGION_OPT_STATUSES for w in wanted)):
            return validation_error("1 validation error detected: Value at 'regionOptStatusContains' "
                                    "failed to satisfy constraint: Member must satisfy enum value set: "
                                    f"[{', '.join(REGION_OPT_STATUSES)}]")
        limit = body.get("MaxResults", 20)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
            return validation_error(f"1 validation error detected: Value '{limit}' at 'maxResults' "
                                    "failed to satisfy constraint: Member must have value between 1 and 50")
        account = target or req.account
        with self.lock:
            regions = [{"RegionName": r, "RegionOptStatus": self.status(account, r)} for r in REGIONS]
        if wanted:
            regions = [r for r in regions if r["RegionOptStatus"] in wanted]
        try:
            chosen, next_token = page(regions, body.get("NextToken"), limit)
        except (ValueError, TypeError, UnicodeDecodeError):
            return validation_error("The NextToken is not valid.")
        out = {"Regions": chosen}
        if next_token:
            out["NextToken"] = next_token
        return json_response(out)

    def delegation_refused(self, caller, target, organizations):
        """Why `caller` may not read `target`'s regions (an AccessDenied reason), or None."""
        with self.lock:
            delegated = self.delegated_admin
        if caller != DEFAULT_ACCOUNT and caller != delegated:
            return NOT_MANAGEMENT
        if target == DEFAULT_ACCOUNT:
            # Only member accounts can be named: the management account reads its own
            # regions in the standalone context, and nobody else can read them.
            return STANDALONE_ONLY if caller == DEFAULT_ACCOUNT else MEMBER_ACCOUNT_ONLY
        with self.lock:
            if not self.trusted_access:
                return TRUSTED_ACCESS_OFF
        backend = organizations_backends[DEFAULT_ACCOUNT]["aws"]
        if backend.org is None or target not in organizations.index(backend).accounts:
            return NOT_IN_ORGANIZATION
        return None

    # ---- control

    def set_regions(self, account, regions):
        if not isinstance(regions, dict) or not regions:
            raise ValueError("regions must be an object {region: status}")
        for region, status in regions.items():
            if region not in REGIONS:
                raise ValueError(f"{region} is not a commercial region")
            if status not in REGION_OPT_STATUSES:
                raise ValueError(f"status must be one of {list(REGION_OPT_STATUSES)}")
        with self.lock:
            self.statuses.setdefault(account, {}).update(regions)
            return {"accountId": account, "regions": {r: self.status(account, r) for r in REGIONS}}

    def snapshot(self):
        with self.lock:
            return {"trustedAccess": self.trusted_access,
                    "accounts": {a: dict(r) for a, r in self.statuses.items()}}
