"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- At most 100 findings per call, 240 KB per finding
- Required attributes; a finding that lacks one fails alone (`FailedFindings`)
- The customer's workflow fields cannot be changed by the provider
- Security Hub not enabled in the region answers 401 `InvalidAccessException`: lasting, one problem
- With the default product ARN, every finding's `AwsAccountId` must be the caller's own account (only an allow-listed partner imports for other accounts)
- A finding of another account refuses the whole call with 403 `AccessDeniedException` "User: … is not authorized to perform: securityhub:BatchImportFindings on resource: <product ARN>" (not a per-finding FailedFindings entry)
- The member a finding is about is named in its resource (`Type: AwsAccount`, `Id: AWS::::Account:<member>`), title and id
- Required top-level attributes: AwsAccountId, CreatedAt, Description, GeneratorId, Id, ProductArn, Resources, SchemaVersion, Severity, Title, Types, UpdatedAt
- Severity and Types are given in `FindingProviderFields` (preferred: without the top-level ones); for a new finding Security Hub fills the top level from them; the top level is the customer's (BatchUpdateFindings)
- An update whose `UpdatedAt` is not later than the stored one is ignored; each update carries a later `UpdatedAt` (stored + 1 ms when the stored one is not earlier than the clock)
- A new finding has `CreatedAt` = `UpdatedAt`; an update keeps the first `CreatedAt`
- A provider resolves its own finding by importing it again with `RecordState: ARCHIVED`; Note, UserDefinedFields, VerificationState and Workflow are the customer's and not sent
- Security Hub not enabled in the region: 401 `InvalidAccessException` "Account … is not subscribed to AWS Security Hub"
- At most 100 findings a page; string filters `EQUALS` on `ProductArn`, `GeneratorId`, `RecordState`
- Filters take up to 10 attributes and up to 20 values per attribute (an event reads its findings by Id, 20 a call)
- GetFindings without a RecordState filter returns archived findings too (so a returning problem keeps its first CreatedAt while Security Hub still holds the archived finding)
- MaxResults at most 100 and an opaque NextToken

Security Hub over moto's findings: subscription per account and region, BatchImportFindings'
ASFF checks and update rules, GetFindings' filters and paging (its rate: emu.throttle), BatchUpdateFindings'
customer-owned attributes.
"""

import json
import threading
from datetime import datetime

from moto.securityhub.models import Finding, securityhub_backends

from emu.common import aws_error, caller_arn, json_response, now_iso, page


# "Account ACCOUNT is not subscribed to AWS Security Hub": the real service's wording (public
# code and issue threads match on it); 401 InvalidAccessException as the model says.
NOT_SUBSCRIBED_HUB = "Account {} is not subscribed to AWS Security Hub"
# FailedFindings ErrorMessage of a finding that lacks a required attribute, in the form the
# real service answers ("Finding does not adhere to Amazon Finding Format. data should have
# required property 'FindingProviderFields', ..." and "... data.X should NOT be shorter than
# 1 characters." are seen in public issue threads).
ASFF_REQUIRED = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types",
                 "CreatedAt", "UpdatedAt", "Severity", "Title", "Description", "Resources")
# Required, but a finding provider gives them in FindingProviderFields ("(Preferred)
# BatchImportFindings provides a value for an attribute in FindingProviderFields, but does not
# provide a value for the corresponding top-level attribute", user guide, BatchImportFindings
# for finding providers): either place satisfies the requirement.
ASFF_PROVIDER_FIELDS = ("Severity", "Types")
# AwsSecurityFindingFilters: "You can filter by up to ten finding attributes. For each
# attribute, you can provide up to 20 filter values." (past it: InvalidInputException, inferred)
FILTER_ATTRIBUTES_MAX = 10
FILTER_VALUES_MAX = 20
ASFF_MISSING = "Finding does not adhere to Amazon Finding Format. data should have required property '{}'."
ASFF_NO_RESOURCE = ("Finding does not adhere to Amazon Finding Format. data.Resources should NOT "
                    "have fewer than 1 items.")
# Attributes the customer owns (BatchUpdateFindings): a re-import that lacks them keeps them.
CUSTOMER_OWNED = ("Workflow", "WorkflowState", "Note", "UserDefinedFields", "VerificationState")


def timestamp(value):
    """An ASFF timestamp as an aware datetime, or None if it is not one."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def later(new, stored):
    """Whether UpdatedAt `new` is strictly later than `stored` (no stored value: yes)."""
    old = timestamp(stored)
    fresh = timestamp(new)
    return old is None or (fresh is not None and fresh > old)


def provider_fields(data, stored):
    """Severity and Types between FindingProviderFields and the top level, as the user guide
    (Using FindingProviderFields) says: a provider's FindingProviderFields value wins for a new
    finding and is replicated to the top level unless the customer changed the top level
    (BatchUpdateFindings, seen here as a top level that differs from the stored provider
    value); a top-level value alone fills FindingProviderFields."""
    given = data.get("FindingProviderFields") or {}
    old_given = (stored or {}).get("FindingProviderFields") or {}
    merged = dict(old_given, **given)
    for key in ASFF_PROVIDER_FIELDS:
        if key not in given and key in data:
            merged[key] = data[key]
        if key not in merged:
            continue
        customer = stored is not None and key in stored and stored.get(key) != old_given.get(key)
        if stored is None and key in given:
            data[key] = merged[key]
        elif customer:
            data[key] = stored[key]
        elif key in given:
            data[key] = merged[key]
    if merged:
        data["FindingProviderFields"] = merged


def finding_values(finding, key):
    """The values of a finding a GetFindings string filter compares, or None if the emulator
    does not support that filter."""
    simple = {"Id", "ProductArn", "GeneratorId", "AwsAccountId", "Title", "Description", "Region",
              "ProductName", "CompanyName", "RecordState", "WorkflowState", "VerificationState",
              "SourceUrl", "AwsAccountName"}
    if key in simple:
        value = finding.get(key)
        return [value] if isinstance(value, str) else []
    nested = {"ComplianceStatus": ("Compliance", "Status"), "WorkflowStatus": ("Workflow", "Status"),
              "SeverityLabel": ("Severity", "Label"), "NoteText": ("Note", "Text"),
              "RecommendationText": ("Remediation", "Recommendation", "Text")}
    if key in nested:
        value = finding
        for part in nested[key]:
            value = value.get(part) if isinstance(value, dict) else None
        return [value] if isinstance(value, str) else []
    if key == "Type":
        return [t for t in finding.get("Types") or [] if isinstance(t, str)]
    resource_keys = {"ResourceId": "Id", "ResourceType": "Type", "ResourcePartition": "Partition",
                     "ResourceRegion": "Region"}
    if key in resource_keys:
        return [r.get(resource_keys[key]) for r in finding.get("Resources") or []
                if isinstance(r, dict) and isinstance(r.get(resource_keys[key]), str)]
    return None


def string_match(value, comparison, wanted):
    if comparison in ("EQUALS", "NOT_EQUALS"):
        return value == wanted
    if comparison in ("PREFIX", "PREFIX_NOT_EQUALS"):
        return value.startswith(wanted)
    if comparison == "CONTAINS_WORD":
        return wanted in value.split()
    return wanted in value  # CONTAINS, NOT_CONTAINS


NEGATIVE_COMPARISONS = ("NOT_EQUALS", "PREFIX_NOT_EQUALS", "NOT_CONTAINS")
STRING_COMPARISONS = ("EQUALS", "PREFIX", "CONTAINS", "CONTAINS_WORD") + NEGATIVE_COMPARISONS


def finding_matches(finding, filters):
    """GetFindings string filters: within an attribute the positive comparisons (EQUALS,
    PREFIX, CONTAINS, CONTAINS_WORD) are OR-ed and the negative ones (NOT_EQUALS,
    PREFIX_NOT_EQUALS, NOT_CONTAINS) AND-ed; attributes are AND-ed."""
    for key, conditions in filters.items():
        values = finding_values(finding, key)
        positive = [c for c in conditions if c["Comparison"] not in NEGATIVE_COMPARISONS]
        negative = [c for c in conditions if c["Comparison"] in NEGATIVE_COMPARISONS]
        if positive and not any(string_match(v, c["Comparison"], c["Value"]) for c in positive for v in values):
            return False
        if any(string_match(v, c["Comparison"], c["Value"]) for c in negative for v in values):
            return False
    return True


def hub_error(message):
    return aws_error("rest-json", 400, "InvalidInputException", message)


class SecurityHub:
    """Security Hub as a subscribed account sees it (findings kept in moto's backend), with
    regions switched to not subscribed and findings made to fail on demand."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.not_subscribed = set()
            self.failed_rules = []  # {"ids", "errorCode", "errorMessage", "remaining"}

    def check(self, req):
        """The not-subscribed answer of a Security Hub request in a switched-off region, else None."""
        with self.lock:
            off = req.service == "securityhub" and req.region in self.not_subscribed
        if off:
            return aws_error(req.protocol, 401, "InvalidAccessException", NOT_SUBSCRIBED_HUB.format(req.account))
        return None

    def app(self, req, moto, call):
        backend = securityhub_backends[req.account][req.region]
        with self.lock:
            if not backend.enabled and req.operation not in ("EnableSecurityHub", "DisableSecurityHub"):
                backend.enable_security_hub()  # subscribed outside the not-subscribed regions
        if req.operation not in ("BatchImportFindings", "GetFindings"):
            return moto
        try:
            body = json.loads(req.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return hub_error("The request body is not valid JSON.")
        if req.operation == "GetFindings":
            return self.get_findings(backend, body)
        return self.batch_import(backend, body, call, req.account)

    def batch_import(self, backend, body, call, caller):
        findings = body.get("Findings")
        if not isinstance(findings, list) or not 1 <= len(findings) <= 100:
            return hub_error("Findings must list 1 to 100 findings.")
        # BatchImportFindings: with the default product ARN "the identifier of the account that
        # you are calling BatchImportFindings from needs to be the same as the AwsAccountId
        # attribute for the finding"; the real service refuses the whole call (AWS Support, in
        # public issue threads: AccessDeniedException, "not authorized to perform").
        other = next((f for f in findings if isinstance(f, dict) and "AwsAccountId" in f
                      and f["AwsAccountId"] != caller), None)
        if other is not None:
            return aws_error("rest-json", 403, "AccessDeniedException",
                             f"User: {caller_arn(caller)} is not authorized to perform: "
                             f"securityhub:BatchImportFindings on resource: {other.get('ProductArn', '')}")
        ids = [f["Id"] for f in findings if isinstance(f, dict) and isinstance(f.get("Id"), str)]
        failed = []
        with self.lock:
            injected = self.take_failures(ids)
            for finding in findings:
                if not isinstance(finding, dict):
                    failed.append({"Id": "", "ErrorCode": "InvalidInput", "ErrorMessage":
                                   "Finding does not adhere to Amazon Finding Format. data should be object."})
                    continue
                finding_id = finding.get("Id") if isinstance(finding.get("Id"), str) else ""
                if finding_id in injected:
                    code, message = injected[finding_id]
                    failed.append({"Id": finding_id, "ErrorCode": code, "ErrorMessage": message})
                    continue
                missing = next((k for k in ASFF_REQUIRED if k not in finding and not (
                    k in ASFF_PROVIDER_FIELDS and k in (finding.get("FindingProviderFields") or {}))), None)
                if missing:
                    failed.append({"Id": finding_id, "ErrorCode": "InvalidInput",
                                   "ErrorMessage": ASFF_MISSING.format(missing)})
                elif not isinstance(finding["Resources"], list) or not finding["Resources"]:
                    failed.append({"Id": finding_id, "ErrorCode": "InvalidInput", "ErrorMessage": ASFF_NO_RESOURCE})
                else:
                    self.store(backend, finding)
        if failed:
            call["failedFindings"] = {f["Id"]: f["ErrorCode"] for f in failed}
        return json_response({"FailedCount": len(failed), "SuccessCount": len(findings) - len(failed),
                              "FailedFindings": failed})

    @staticmethod
    def store(backend, finding):
        """Create the finding or replace the one with the same ProductArn and Id; an update
        whose UpdatedAt is not later than the stored one is ignored (user guide, BatchImportFindings
        for finding providers: "If UpdatedAt on the update matches or occurs before UpdatedAt on
        the existing finding, then the update is ignored"). CreatedAt is kept as imported."""
        data = json.loads(json.dumps(finding))
        data["ProcessedAt"] = now_iso()
        existing = next((f for f in backend.findings
                         if f.id == data["Id"] and f.data.get("ProductArn") == data["ProductArn"]), None)
        if existing is not None and not later(data["UpdatedAt"], existing.data.get("UpdatedAt")):
            return
        provider_fields(data, existing.data if existing is not None else None)
        if existing is None:
            data.setdefault("RecordState", "ACTIVE")
            data.setdefault("Workflow", {"Status": "NEW"})
            data.setdefault("WorkflowState", "NEW")
            backend.findings.append(Finding(data["Id"], data))
            return
        for key in CUSTOMER_OWNED:
            if key not in data and key in existing.data:
                data[key] = existing.data[key]
        data.setdefault("RecordState", existing.data.get("RecordState", "ACTIVE"))
        existing.data = data

    def take_failures(self, ids):
        """{finding id: (code, message)} of the rules that fail findings of this call."""
        failed = {}
        for rule in self.failed_rules:
            hit = set(rule["ids"]) & set(ids)
            if rule["remaining"] > 0 and hit:
                rule["remaining"] -= 1
                for finding_id in hit:
                    failed.setdefault(finding_id, (rule["errorCode"], rule["errorMessage"]))
        return failed

    @staticmethod
    def get_findings(backend, body):
        filters = body.get("Filters") or {}
        if not isinstance(filters, dict):
            return hub_error("Filters must be an object.")
        if len(filters) > FILTER_ATTRIBUTES_MAX or any(
                isinstance(c, list) and len(c) > FILTER_VALUES_MAX for c in filters.values()):
            return hub_error(f"Filters allow up to {FILTER_ATTRIBUTES_MAX} attributes and "
                             f"{FILTER_VALUES_MAX} values per attribute.")
        for key, conditions in filters.items():
            if finding_values({}, key) is None:
                return hub_error(f"The emulator does not support the GetFindings filter {key}.")
            if not isinstance(conditions, list) or not all(
                    isinstance(c, dict) and isinstance(c.get("Value"), str)
                    and c.get("Comparison") in STRING_COMPARISONS for c in conditions):
                return hub_error(f"Invalid string filter for {key}.")
        limit = body.get("MaxResults", 100)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
            return hub_error("MaxResults must be a number between 1 and 100")
        chosen = [f.data for f in backend.findings if finding_matches(f.data, filters)]
        try:
            found, next_token = page(chosen, body.get("NextToken"), limit)
        except (ValueError, TypeError, UnicodeDecodeError):
            return hub_error("The NextToken is not valid.")
        out = {"Findings": json.loads(json.dumps(found))}
        if next_token:
            out["NextToken"] = next_token
        return json_response(out)

    # ---- control

    def set_not_subscribed(self, regions):
        if not isinstance(regions, list) or not all(isinstance(r, str) and r for r in regions):
            raise ValueError("regions must be a list of region names")
        with self.lock:
            self.not_subscribed = set(regions)
            return {"regions": sorted(self.not_subscribed)}

    def add_failure(self, body):
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise ValueError("ids must be a non-empty list of finding ids")
        rule = {"ids": list(ids), "errorCode": body.get("errorCode") or "InternalException",
                "errorMessage": body.get("errorMessage") or "Internal service failure",
                "remaining": int(body.get("times", 1))}
        if not isinstance(rule["errorCode"], str) or not isinstance(rule["errorMessage"], str):
            raise ValueError("errorCode and errorMessage must be texts")
        with self.lock:
            self.failed_rules.append(rule)
            return self.snapshot_locked()

    @staticmethod
    def stored_findings():
        """Every stored finding, with the account and region that hold it."""
        out = []
        for account, regions in list(securityhub_backends.items()):
            for region, backend in list(regions.items()):
                out.extend(dict(json.loads(json.dumps(f.data)), _account=account, _region=region)
                           for f in backend.findings)
        return {"findings": out}

    def snapshot_locked(self):
        return {"notSubscribed": sorted(self.not_subscribed),
                "failedFindings": [dict(r, ids=list(r["ids"])) for r in self.failed_rules]}

    def snapshot(self):
        with self.lock:
            return self.snapshot_locked()
