"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- A call on a detector that is gone (deleted and re-created) is refused with 400: look the detector up again
- As the organization's delegated administrator, CreateMembers alone enables an organization account (`Enabled`): no invitation
- An account already a member comes back in `unprocessedAccounts`, not as an error
- An account that belongs to another administrator is refused for that account only
- A per-account `Internal error` in `unprocessedAccounts` is passing: the run is retried
- The administrator's member limit answers per account
- A Removed member added through Organizations is associated again only with CreateMembers
- As delegated administrator, CreateMembers enables GuardDuty in the added accounts
- CreateMembers on a Removed member outside the organization (or by an administrator that is not the delegated administrator) does not associate it: "already a member"; the code then invites it
- One refused account does not fail the others of the call: refusals come per account in unprocessedAccounts
- Organization accounts need no invitation: an `Enabled` member is not invited
- Only an account first added with CreateMembers can be invited
- An account already invited or enabled comes back in `unprocessedAccounts`: a replay invites nobody twice
- With `disableEmailNotification` the member shows `Invited`; with email, `EmailVerificationInProgress` first, and an email is sent per region
- A per-account `Internal error` is passing
- InviteMembers refuses an organization member that was disassociated
- A member added by invitation and disassociated is invited again without CreateMembers
- 1 to 50 account ids; an account that is not a member comes back in `unprocessedAccounts`
- A read right after a write can show the old status (read-after-write lag)
- relationshipStatus is free text ("The status of the relationship between the member and the administrator."); values handled: Created, Invited, EmailVerificationInProgress, EmailVerificationFailed, Enabled, Disabled, Removed, Resigned
- Members not yet invited or disassociated are listed only with `onlyAssociated=false`
- Only an associated (`Enabled`) member's features can be set; any other comes back unprocessed "not an associated member"
- 1 to 50 ids; each associated member's features, the others unprocessed; a plan GuardDuty does not return is not protected
- The member accepts only with a detector of its own: the role creates one where there is none
- Tells a member which administrator it has accepted; after acceptance the invitation is gone from ListInvitations
- The member's pending invitations, paginated; each carries the administrator's `accountId` and the `invitationId` the acceptance needs
- While EmailVerificationInProgress there is no invitation to accept yet; accept only once Invited
- Accepted with the member's own detector, the administrator's id and the invitation id
- An account accepts only one administrator
- Only the organization's delegated administrator may read it; any other account gets 400
- `autoEnableOrganizationMembers` `NEW`, `ALL` or `NONE`; `ALL` may take up to 24 hours
- `memberAccountLimitReached` says the administrator has as many members as allowed; check reports it
- A Disabled member (monitoring stopped by the administrator) is monitored again with StartMonitoringMembers
- StopMonitoringMembers leaves the member Disabled (what the code starts again)
- Right after the acceptance, UpdateMemberDetectors can answer "not an associated member": transient for an account this run accepted
- GetMembers can show the status before a write
- GetUsageStatistics: `usageCriteria.accountIds` 1 to 50 ids of 12 digits, `maxResults` 1 to 50, `unit` USD, `usageStatisticsType` and `features` from the model's enums, else 400 BadRequestException; the totals are the last 30 days' cost in USD, `amount` as text, paginated with `nextToken`

GuardDuty's member relationships (GuardDutyMembers), per (administrator account, region,
administrator detectorId): the administrator's member operations (CreateMembers,
InviteMembers, GetMembers, ListMembers, DeleteMembers, DisassociateMembers,
UpdateMemberDetectors, GetMemberDetectors, Start/StopMonitoringMembers), the organization
configuration, and the member side served from the same relationships (ListInvitations,
AcceptAdministratorInvitation, GetAdministratorAccount), and the usage statistics
(GetUsageStatistics) of the seeded costs per account and feature.
"""

import json
import threading

from moto.guardduty.models import guardduty_backends

from emu.common import DEFAULT_ACCOUNT, bad_request, is_account_id, now_iso, page
from emu.guardduty import (ADDITIONAL_CONFIGURATIONS, ALREADY_INVITED, ALREADY_MEMBER,
    AUTO_ENABLE, BAD_INVITATION, DEFAULT_MEMBER_LIMIT, DEFAULT_UNOFFERED, DETECTOR_LOCK, FEATURES,
    FOREIGN, INTERNAL_ERROR, INVITED, MEMBER_LIMIT, MEMBER_SIDE_OPS, NOT_DELEGATED_ADMIN,
    NOT_MEMBER, NO_DETECTOR, NO_EMAIL, NO_INVITATION, ORG_NO_REINVITE, OTHER_ADMINISTRATOR,
    READ_OPS, SELF_INVITE, SELF_MEMBER, account_ids, detector_owner, guardduty_page,
    issue_invitation, new_member, owns_detector, set_features, status_of, unprocessed_json,
    validate_features)
from emu.guardduty_member import invitation_json, member_copy, member_detector


class GuardDutyMembers:
    """Member state per (administrator, region, detectorId); detectors themselves are moto's."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.members = {}  # (administrator, region, detectorId) -> {accountId: member}
            self.foreign = set()
            self.organization = set()
            self.member_limit = DEFAULT_MEMBER_LIMIT
            self.internal_errors = []  # {"operation", "accountIds", "remaining", "result"}
            self.stale_statuses = []  # {"accountIds", "status", "remaining"}: read-after-write lag
            self.org_configs = {}  # region -> organization configuration of DEFAULT_ACCOUNT
            self.unoffered = set(DEFAULT_UNOFFERED)  # (feature, region) a region does not offer
            self.version = 0  # bumped by every change of a member's status or presence
            self.listed = {}  # (id of a member table, onlyAssociated) -> (version, members)
            self.usage = {}  # (administrator, region) -> {accountId: {usage feature: USD}}

    # ---- serving

    def handle(self, caller, operation, region, detector_id, query, body):
        if not isinstance(body, dict):
            raise bad_request()
        if operation != "ListInvitations" and not owns_detector(caller, region, detector_id):
            raise bad_request(NO_DETECTOR)
        with self.lock:
            if operation not in READ_OPS:
                self.version += 1  # the members may change: ListMembers lists afresh
            if operation in MEMBER_SIDE_OPS:
                return self.member_side(operation, caller, region, detector_id, query, body)
            members = self.members.setdefault((caller, region, detector_id), {})
            if operation == "ListMembers":
                return self.list_members(caller, members, query)
            ids = account_ids(operation, body)
            features = (validate_features(body, region, self.unoffered)
                        if operation == "UpdateMemberDetectors" else None)
            if operation == "GetMemberDetectors":
                body = dict(body, hidden={f for f, r in self.unoffered if r == region})
            failed = self.take_internal_errors(operation, ids)
            handler = {"CreateMembers": self.create_members, "InviteMembers": self.invite_members,
                       "GetMembers": self.get_members, "DeleteMembers": self.delete_members,
                       "DisassociateMembers": self.disassociate_members,
                       "UpdateMemberDetectors": self.update_member_detectors,
                       "GetMemberDetectors": self.get_member_detectors,
                       "StartMonitoringMembers": self.start_monitoring_members,
                       "StopMonitoringMembers": self.stop_monitoring_members}[operation]
            out = handler(caller, members, [a for a in ids if a not in failed], body, features)
            out["unprocessedAccounts"] = (unprocessed_json((a, failed[a]) for a in ids if a in failed)
                                          + out["unprocessedAccounts"])
            return out

    def describe_organization_configuration(self, caller, region, detector_id, query):
        if not owns_detector(caller, region, detector_id):
            raise bad_request(NO_DETECTOR)
        with self.lock:
            config = self.org_configs.get(region) if caller == DEFAULT_ACCOUNT else None
            if config is None:
                raise bad_request(NOT_DELEGATED_ADMIN)
            members = self.members.get((caller, region, detector_id), {})
            limit_reached = len(members) >= self.member_limit
            features = [dict(f, additionalConfiguration=[dict(c) for c in f["additionalConfiguration"]])
                        if "additionalConfiguration" in f else dict(f) for f in config["features"]]
            auto_members = config["autoEnableOrganizationMembers"]
        out = guardduty_page(features, query, "features")
        auto = {f["name"]: f["autoEnable"] != "NONE" for f in features}
        out.update(autoEnable=auto_members != "NONE", autoEnableOrganizationMembers=auto_members,
                   memberAccountLimitReached=limit_reached,
                   dataSources={"s3Logs": {"autoEnable": auto.get("S3_DATA_EVENTS", False)},
                                "kubernetes": {"auditLogs": {"autoEnable": auto.get("EKS_AUDIT_LOGS", False)}},
                                "malwareProtection": {"scanEc2InstanceWithFindings": {"ebsVolumes": {
                                    "autoEnable": auto.get("EBS_MALWARE_PROTECTION", False)}}}})
        return out

    def usage_statistics(self, caller, region, detector_id, body):
        """GetUsageStatistics of the seeded costs: SUM_BY_ACCOUNT and SUM_BY_FEATURES over
        the accounts named (all when none); the model's other types answer empty lists."""
        if not owns_detector(caller, region, detector_id):
            raise bad_request(NO_DETECTOR)
        kind, criteria = body.get("usageStatisticsType"), body.get("usageCriteria")
        if kind not in USAGE_TYPES or not isinstance(criteria, dict) or body.get("unit", "USD") != "USD":
            raise bad_request()
        ids = criteria.get("accountIds")
        if ids is not None and (not isinstance(ids, list) or not 1 <= len(ids) <= 50
                                or not all(is_account_id(a) for a in ids)):
            raise bad_request()
        features = criteria.get("features")
        if features is not None and (not isinstance(features, list)
                                     or not all(f in USAGE_FEATURES for f in features)):
            raise bad_request()
        limit = body.get("maxResults", 50)
        if not isinstance(limit, int) or not 1 <= limit <= 50:
            raise bad_request()
        with self.lock:
            costs = self.usage.get((caller, region), {})
            named = {a: c for a, c in costs.items() if ids is None or a in ids}
        items, key = usage_items(kind, named, features)
        try:
            chosen, token = page(items, body.get("nextToken"), limit)
        except (ValueError, UnicodeDecodeError):
            raise bad_request()
        out = {"usageStatistics": {key: chosen} if key else {}}
        if token:
            out["nextToken"] = token
        return out

    def set_usage(self, region, costs, administrator=DEFAULT_ACCOUNT):
        """Seed the last 30 days' cost per account and usage feature in a region."""
        if not isinstance(costs, dict) or not all(
                is_account_id(a) and isinstance(c, dict) and all(
                    f in USAGE_FEATURES and isinstance(v, (int, float)) and v >= 0 for f, v in c.items())
                for a, c in costs.items()):
            raise ValueError("costs must be {accountId: {usage feature: USD}}")
        with self.lock:
            self.usage.setdefault((administrator, region), {}).update(
                {a: dict(c) for a, c in costs.items()})
            return {"region": region, "accounts": len(self.usage[(administrator, region)])}

    def set_organization_configuration(self, region, body):
        auto_members = body.get("autoEnableOrganizationMembers")
        if auto_members not in AUTO_ENABLE:
            raise ValueError(f"autoEnableOrganizationMembers must be one of {list(AUTO_ENABLE)}")
        features = body.get("features", [])
        if not isinstance(features, list):
            raise ValueError("features must be a list")
        kept = []
        for feature in features:
            if not isinstance(feature, dict) or feature.get("name") not in FEATURES \
                    or feature.get("autoEnable") not in AUTO_ENABLE:
                raise ValueError(f"each feature needs a name of {sorted(FEATURES)} "
                                 f"and autoEnable of {list(AUTO_ENABLE)}")
            entry = {"name": feature["name"], "autoEnable": feature["autoEnable"]}
            configs = feature.get("additionalConfiguration")
            if configs is not None:
                if not isinstance(configs, list) or not all(
                        isinstance(c, dict) and c.get("name") in ADDITIONAL_CONFIGURATIONS
                        and c.get("autoEnable") in AUTO_ENABLE for c in configs):
                    raise ValueError("additionalConfiguration must be a list of {name, autoEnable} with name "
                                     f"one of {sorted(ADDITIONAL_CONFIGURATIONS)}")
                entry["additionalConfiguration"] = [{"name": c["name"], "autoEnable": c["autoEnable"]}
                                                    for c in configs]
            kept.append(entry)
        config = {"autoEnableOrganizationMembers": auto_members, "features": kept}
        with self.lock:
            self.org_configs[region] = config
        with DETECTOR_LOCK:  # ListOrganizationAdminAccounts (moto's) names the administrator too
            admins = guardduty_backends[DEFAULT_ACCOUNT][region].admin_account_ids
            if DEFAULT_ACCOUNT not in admins:
                admins.append(DEFAULT_ACCOUNT)
        return {"region": region, "administratorId": DEFAULT_ACCOUNT, **config}

    def take_internal_errors(self, operation, ids):
        """{account: result} of the accounts a rule reports unprocessed in this call."""
        failed = {}
        for rule in self.internal_errors:
            hit = set(rule["accountIds"]) & set(ids)
            if rule["operation"] == operation and rule["remaining"] > 0 and hit:
                rule["remaining"] -= 1
                for account in hit:
                    failed.setdefault(account, rule["result"])
        return failed

    def create_members(self, caller, members, ids, body, _):
        unprocessed = []
        for detail in body["accountDetails"]:
            account, email = detail.get("accountId"), detail.get("email")
            if account not in ids:
                continue
            if account == caller:
                unprocessed.append((account, SELF_MEMBER))
            elif account in self.foreign:
                unprocessed.append((account, FOREIGN))
            elif account in members and account in self.organization \
                    and status_of(members[account]) == "removed":
                # "You can create an association with these member accounts again only by
                # calling the CreateMembers API" (CreateMembers reference).
                members[account]["relationshipStatus"] = "Enabled"
                members[account]["updatedAt"] = now_iso()
            elif account in members:
                unprocessed.append((account, ALREADY_MEMBER))
            elif not email:
                unprocessed.append((account, NO_EMAIL))
            elif len(members) >= self.member_limit:
                unprocessed.append((account, MEMBER_LIMIT))
            else:
                org = account in self.organization
                members[account] = new_member(account, email, "Enabled" if org else "Created")
        return {"unprocessedAccounts": unprocessed_json(unprocessed)}

    def invite_members(self, caller, members, ids, body, _):
        disable = bool(body.get("disableEmailNotification", False))
        unprocessed = []
        for account in ids:
            member = members.get(account)
            if account == caller:
                unprocessed.append((account, SELF_INVITE))
            elif member is None:
                unprocessed.append((account, NOT_MEMBER))
            elif account in self.organization and status_of(member) == "removed":
                unprocessed.append((account, ORG_NO_REINVITE))
            elif status_of(member) in INVITED + ("enabled",):
                unprocessed.append((account, ALREADY_INVITED))
            else:
                member["relationshipStatus"] = "Invited" if disable else "EmailVerificationInProgress"
                member["invitedAt"] = member["updatedAt"] = now_iso()
                member["acceptedAt"] = None
                issue_invitation(member)
                member["invitations"] += 1
                member["lastMessage"] = body.get("message")
                member["lastDisableEmailNotification"] = disable
        return {"unprocessedAccounts": unprocessed_json(unprocessed)}

    def get_members(self, caller, members, ids, body, _):
        found = [self.stale(self.public(caller, members[a])) for a in ids if a in members]
        missing = [(a, NOT_MEMBER) for a in ids if a not in members]
        return {"members": found, "unprocessedAccounts": unprocessed_json(missing)}

    def delete_members(self, caller, members, ids, body, _):
        missing = [(a, NOT_MEMBER) for a in ids if a not in members]
        for a in ids:
            members.pop(a, None)
        return {"unprocessedAccounts": unprocessed_json(missing)}

    def disassociate_members(self, caller, members, ids, body, _):
        missing = [(a, NOT_MEMBER) for a in ids if a not in members]
        for a in ids:
            if a in members:
                members[a]["relationshipStatus"] = "Removed"
                members[a]["updatedAt"] = now_iso()
        return {"unprocessedAccounts": unprocessed_json(missing)}

    def start_monitoring_members(self, caller, members, ids, body, _):
        return self.set_monitoring(members, ids, ("disabled", "enabled"), "Enabled")

    def stop_monitoring_members(self, caller, members, ids, body, _):
        return self.set_monitoring(members, ids, ("enabled", "disabled"), "Disabled")

    @staticmethod
    def set_monitoring(members, ids, associated, status):
        """Start/StopMonitoringMembers: an associated member (Enabled or Disabled) takes
        `status`; any other account -> NOT_MEMBER (inferred: GuardDuty's answer for an account
        that is not an associated member)."""
        unprocessed = []
        for account in ids:
            member = members.get(account)
            if member is None or status_of(member) not in associated:
                unprocessed.append((account, NOT_MEMBER))
            elif status_of(member) != status.lower():
                member["relationshipStatus"], member["updatedAt"] = status, now_iso()
        return {"unprocessedAccounts": unprocessed_json(unprocessed)}

    @staticmethod
    def associated(members, ids):
        """(Enabled members, [(account, NOT_MEMBER)] for the others)."""
        enabled = [members[a] for a in ids if a in members and status_of(members[a]) == "enabled"]
        found = {m["accountId"] for m in enabled}
        return enabled, [(a, NOT_MEMBER) for a in ids if a not in found]

    def update_member_detectors(self, caller, members, ids, body, features):
        enabled, unprocessed = self.associated(members, ids)
        for member in enabled:
            set_features(member, features)
        return {"unprocessedAccounts": unprocessed_json(unprocessed)}

    def get_member_detectors(self, caller, members, ids, body, _):
        enabled, unprocessed = self.associated(members, ids)
        return {"members": [member_detector(m, body.get("hidden", ())) for m in enabled],
                "unprocessedAccounts": unprocessed_json(unprocessed)}

    def list_members(self, caller, members, query):
        # onlyAssociated defaults to "true": then only the associated (Enabled) members.
        only_associated = query.get("onlyAssociated", "true").lower() != "false"
        # The chosen members are kept until the next change, so that paging through 50,000
        # members costs O(page) a page, not O(members).
        key = (id(members), only_associated)
        cached = self.listed.get(key)
        if cached is None or cached[0] != self.version:
            chosen = [m for m in members.values() if not only_associated or status_of(m) == "enabled"]
            cached = self.listed[key] = (self.version, chosen)
        out = guardduty_page(cached[1], query, "members")
        out["members"] = [self.public(caller, m) for m in out["members"]]
        return out

    @staticmethod
    def public(administrator, member):
        out = {k: member[k] for k in ("accountId", "email", "relationshipStatus", "updatedAt")}
        out.update(masterId=administrator, administratorId=administrator)
        if member["invitedAt"]:
            out["invitedAt"] = member["invitedAt"]
        if member["memberDetectorId"]:
            out["detectorId"] = member["memberDetectorId"]
        return out

    # ---- the member side

    def member_side(self, operation, caller, region, detector_id, query, body):
        if operation == "ListInvitations":
            # No invitation reaches the account while GuardDuty still verifies the email.
            invitations = [invitation_json(admin, m) for admin, m in self.relationships(caller, region)
                           if status_of(m) in INVITED and not m.get("verifying")]
            return guardduty_page(invitations, query, "invitations")
        if operation in ("AcceptAdministratorInvitation", "AcceptInvitation"):
            key = "administratorId" if operation == "AcceptAdministratorInvitation" else "masterId"
            return self.accept(caller, region, detector_id, body.get(key), body.get("invitationId"))
        key = "administrator" if operation == "GetAdministratorAccount" else "master"
        for admin, member in self.relationships(caller, region):
            if member["acceptedAt"] or status_of(member) == "enabled":
                return {key: invitation_json(admin, member)}
        return {}

    def relationships(self, account, region):
        """(administrator, member record) of each administrator `account` is a member of in `region`."""
        for (admin, r, _), members in self.members.items():
            if r == region and account in members:
                yield admin, members[account]

    def accept(self, caller, region, detector_id, administrator, invitation_id):
        if not is_account_id(administrator) or not isinstance(invitation_id, str) or not invitation_id:
            raise bad_request()
        member = next((m for a, m in self.relationships(caller, region) if a == administrator), None)
        if member is None or status_of(member) not in INVITED + ("enabled",) or member.get("verifying"):
            raise bad_request(NO_INVITATION)
        if member["invitationId"] != invitation_id:
            raise bad_request(BAD_INVITATION)
        if status_of(member) == "enabled":
            return {}  # accepted already
        if any(a != administrator and status_of(m) == "enabled" for a, m in self.relationships(caller, region)):
            raise bad_request(OTHER_ADMINISTRATOR)
        member["relationshipStatus"] = "Enabled"
        member["updatedAt"] = member["acceptedAt"] = now_iso()
        member["memberDetectorId"] = detector_id
        return {}

    # ---- control

    def administrator_of(self, region, detector_id, given=None):
        if given:
            return given
        known = next((a for a, r, d in self.members if r == region and d == detector_id), None)
        return known or detector_owner(region, detector_id) or DEFAULT_ACCOUNT

    def put_members(self, region, detector_id, entries, administrator=None, records=False):
        """Force members into statuses: entries of (accountId, status, email, invitedAt,
        features), features a validated list or None. Returns the control-API member records
        if `records`, else how many."""
        with self.lock:
            self.version += 1
            admin = self.administrator_of(region, detector_id, administrator)
            members = self.members.setdefault((admin, region, detector_id), {})
            out, stamp = [], now_iso()
            for account, status, email, invited_at, features in entries:
                member = members.get(account)
                if member is None:
                    member = members[account] = new_member(account, email or "", status, stamp)
                member["relationshipStatus"], member["updatedAt"] = status, stamp
                if email:
                    member["email"] = email
                if invited_at:
                    member["invitedAt"] = invited_at
                if status.lower() in INVITED:
                    issue_invitation(member)
                member["verifying"] = status.lower() == "emailverificationinprogress"
                for listed in features or ():
                    set_features(member, listed)
                out.append(member)
            return [member_copy(m, admin) for m in out] if records else len(out)

    def set_member_features(self, region, account, features, detector_id=None, administrator=None):
        """Set a member's features directly (validated); returns its control-API record."""
        with self.lock:
            found = [(key, members[account]) for key, members in self.members.items()
                     if key[1] == region and account in members
                     and (detector_id is None or key[2] == detector_id)
                     and (administrator is None or key[0] == administrator)]
            if not found:
                raise ValueError(f"{account} is not a member of that administrator in {region}")
            if len(found) > 1:
                raise ValueError(f"{account} is a member of several administrators in {region}: "
                                 "give detectorId or administratorId")
            (admin, _, _), member = found[0]
            set_features(member, features)
            return member_copy(member, admin)

    def stale(self, member):
        """A GetMembers answer as a lagging read shows it: the old status (a stale-status rule)."""
        for rule in self.stale_statuses:
            if rule["remaining"] > 0 and member["accountId"] in rule["accountIds"]:
                rule["remaining"] -= 1
                return {**member, "relationshipStatus": rule["status"]}
        return member

    def add_stale_status(self, ids, status, times):
        with self.lock:
            self.stale_statuses.append({"accountIds": ids, "status": status, "remaining": times})
            return {"rules": [dict(r) for r in self.stale_statuses]}

    def add_internal_error(self, operation, ids, times, result=INTERNAL_ERROR):
        with self.lock:
            self.internal_errors.append({"operation": operation, "accountIds": ids, "remaining": times,
                                         "result": result})
            return self.internal_error_rules()

    def internal_error_rules(self):
        return {"rules": [dict(r) for r in self.internal_errors]}

    def snapshot(self):
        with self.lock:
            out = {}
            for (admin, region, detector_id), members in self.members.items():
                out.setdefault(region, {})[detector_id] = {
                    a: member_copy(m, admin) for a, m in members.items()}
            return {"members": out, "foreignAccounts": sorted(self.foreign),
                    "organizationAccounts": sorted(self.organization),
                    "memberLimit": self.member_limit,
                    "organizationConfiguration": json.loads(json.dumps(self.org_configs))}


USAGE_TYPES = {"SUM_BY_ACCOUNT", "SUM_BY_DATA_SOURCE", "SUM_BY_RESOURCE", "TOP_RESOURCES",
               "SUM_BY_FEATURES", "TOP_ACCOUNTS_BY_FEATURE"}
USAGE_FEATURES = {"FLOW_LOGS", "CLOUD_TRAIL", "DNS_LOGS", "S3_DATA_EVENTS", "EKS_AUDIT_LOGS",
                  "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS", "LAMBDA_NETWORK_LOGS",
                  "EKS_RUNTIME_MONITORING", "FARGATE_RUNTIME_MONITORING", "EC2_RUNTIME_MONITORING",
                  "RDS_DBI_PROTECTION_PROVISIONED", "RDS_DBI_PROTECTION_SERVERLESS"}


def usd(amount):
    return {"amount": f"{amount:.2f}", "unit": "USD"}


def usage_items(kind, costs, features):
    """(the sums, their response key) of a usage type over {account: {feature: USD}}."""
    wanted = lambda f: features is None or f in features
    if kind == "SUM_BY_ACCOUNT":
        return ([{"accountId": a, "total": usd(sum(v for f, v in c.items() if wanted(f)))}
                 for a, c in sorted(costs.items())], "sumByAccount")
    if kind == "SUM_BY_FEATURES":
        sums = {}
        for c in costs.values():
            for f, v in c.items():
                if wanted(f):
                    sums[f] = sums.get(f, 0) + v
        return [{"feature": f, "total": usd(v)} for f, v in sorted(sums.items())], "sumByFeature"
    return [], None
