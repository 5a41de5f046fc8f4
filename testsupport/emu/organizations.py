"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- Read every page until `NextToken` is absent; a page may be empty while more follow
- `Status` `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE` and the newer `State`
- An OU deleted during the walk answers `ParentNotFoundException`: its accounts are listed again from the root
- Same refusal for a parent that is gone; pages as ListAccounts
- A child has one parent; the walk up ends at the root, a few levels up
- An OU the organization does not have answers `OrganizationalUnitNotFoundException`
- No event carries the email; DescribeAccount gives it
- An account not in the organization answers `AccountNotFoundException`: an answer, not a failure
- An OU deleted while the organization is walked loses none of its accounts

Organizations served over moto's objects when the caller manages an organization: paged
listings from an index, OUs and moves with the API model's error codes, accounts put
through the control API.
"""

import json
import threading
from datetime import datetime, timezone

from moto.core.utils import utcnow
from moto.organizations import utils as organizations_utils
from moto.organizations.models import FakeAccount, organizations_backends

from emu.common import DEFAULT_ACCOUNT, aws_error, is_account_id, iso_utc, json_response, page


ACCOUNT_STATUSES = {"ACTIVE", "SUSPENDED", "PENDING_CLOSURE"}

# Error messages: the API model's description of each error (the real service's runtime
# wording is not known), except ACCOUNT_GONE and BAD_ORG_INPUT, moto's and this emulator's
# wording kept from before.
PARENT_NOT_FOUND = "We can't find a root or OU with the ParentId that you specified."
OU_NOT_FOUND = "We can't find an OU with the OrganizationalUnitId that you specified."
OU_NOT_EMPTY = ("The specified OU is not empty. Move all accounts to another root or to other "
                "OUs, remove all child OUs, and try the operation again.")
CHILD_NOT_FOUND = ("We can't find an organizational unit (OU) or Amazon Web Services account "
                   "with the ChildId that you specified.")
SOURCE_NOT_FOUND = "We can't find a source root or OU with the ParentId that you specified."
DESTINATION_NOT_FOUND = ("We can't find the destination container (a root or OU) with the "
                         "ParentId that you specified.")
DUPLICATE_ACCOUNT = "That account is already present in the specified destination."
DUPLICATE_OU = "An OU with the same name already exists."
ACCOUNT_GONE = "You specified an account that doesn't exist."
BAD_ORG_INPUT = "You provided a value that does not match the required pattern."
INVALID_VALUE = "You specified an invalid value."
JOINED_METHODS = ("CREATED", "INVITED")
ORG_JSON = "application/x-amz-json-1.1"
# Organizations operations served here (when the caller manages an organization).
ORG_SERVED = {"ListAccounts", "ListAccountsForParent", "ListOrganizationalUnitsForParent",
              "ListChildren", "ListParents", "DescribeAccount", "DescribeOrganizationalUnit",
              "CreateOrganizationalUnit", "DeleteOrganizationalUnit", "MoveAccount"}


def management_backend():
    """The default account's Organizations backend, with an organization (ALL features)."""
    backend = organizations_backends[DEFAULT_ACCOUNT]["aws"]
    if backend.org is None:
        backend.create_organization(region="us-east-1", FeatureSet="ALL")
    return backend


def new_fake_account(backend, account_id, parent_id, joined_at, joined_method):
    """A moto FakeAccount with our id, built without FakeAccount.__init__ (which draws a
    random id and builds an IAM backend for it: ~9 ms each, too slow for thousands).
    The attributes are those of moto 5.2.5's FakeAccount.__init__."""
    org = backend.org
    account = FakeAccount.__new__(FakeAccount)
    account.__dict__.update(
        type="ACCOUNT", region=org.region, organization_id=org.id,
        master_account_id=org.master_account_id,
        # "car-" and 8-32 lower-case letters or digits, like moto's random one but derived
        # from the id (drawing 8 random characters costs more than the rest of the account)
        create_account_status_id=f"car-{int(account_id):010x}",
        id=account_id, name=account_id, email="", create_time=joined_at, status="ACTIVE",
        state="ACTIVE", joined_method=joined_method, parent_id=parent_id, attached_policies=[],
        tags={})
    for policy in backend.policies:  # what create_account attaches, without its O(n) lookups
        if policy.id in (organizations_utils.DEFAULT_SCP_POLICY_ID, organizations_utils.DEFAULT_RCP_POLICY_ID):
            account.attached_policies.append(policy)
            policy.attachments.append(account)
    backend.accounts.append(account)
    organizations_backends.master_accounts[account_id] = (DEFAULT_ACCOUNT, backend.partition)
    return account


def moto_time(value):
    """An ISO 8601 timestamp (naive = UTC) as the naive UTC datetime moto keeps, else ValueError."""
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def organization_account_spec(spec):
    """A validated control-API account: {accountId, email, name, status, joinedAt (naive UTC
    datetime or None), joinedMethod (or None), parentId (or None)}."""
    if not isinstance(spec, dict) or not is_account_id(spec.get("accountId")):
        raise ValueError("accountId must be 12 digits")
    if not isinstance(spec.get("email"), str):
        raise ValueError(f"email of {spec['accountId']} must be a string")
    status = spec.get("status") or "ACTIVE"
    if status not in ACCOUNT_STATUSES:
        raise ValueError(f"status must be one of {sorted(ACCOUNT_STATUSES)}")
    method = spec.get("joinedMethod")
    if method is not None and method not in JOINED_METHODS:
        raise ValueError(f"joinedMethod must be one of {list(JOINED_METHODS)}")
    parent = spec.get("parentId")
    if parent is not None and not isinstance(parent, str):
        raise ValueError("parentId must be a root or OU id")
    return {"accountId": spec["accountId"], "email": spec["email"],
            "name": spec.get("name") or spec["accountId"], "status": status,
            "joinedAt": moto_time(spec["joinedAt"]) if spec.get("joinedAt") else None,
            "joinedMethod": method, "parentId": parent}


def account_json(account):
    """A control-API account."""
    return {"accountId": account.id, "email": account.email, "name": account.name,
            "status": account.status, "joinedAt": iso_utc(account.create_time.replace(tzinfo=timezone.utc)),
            "joinedMethod": account.joined_method, "parentId": account.parent_id,
            "organizationId": account.organization_id}


def org_error(code, message):
    return aws_error("json", 400, code, message)


class OrgIndex:
    """One pass over an organization's accounts and OUs: lookups by id and by parent."""

    def __init__(self, backend):
        self.backend = backend
        self.accounts = {}
        self.accounts_under = {}
        for account in backend.accounts:
            self.accounts[account.id] = account
            self.accounts_under.setdefault(account.parent_id, []).append(account)
        self.containers = {ou.id: ou for ou in backend.ou}  # the root and the OUs
        self.ous_under = {}
        for ou in backend.ou:
            if ou.type != "ROOT":
                self.ous_under.setdefault(ou.parent_id, []).append(ou)
        self.described = {}  # account id -> its Account shape (the index dies with any change)

    def describe(self, account):
        """An account's Account shape, built once per index: moto formats its timestamp on
        every call, which would dominate a page of 20."""
        out = self.described.get(account.id)
        if out is None:
            out = self.described[account.id] = account.describe()
        return out

    def root_id(self):
        return self.backend.org.root_id

    def children(self, parent_id, child_type):
        if child_type == "ACCOUNT":
            return self.accounts_under.get(parent_id, [])
        return self.ous_under.get(parent_id, [])


class Organizations:
    """The Organizations operations served here (ORG_SERVED), over moto's backend: paged as
    the real service pages, with the model's errors, in O(page) per request from an index
    rebuilt after any change (a write through moto or the control API)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.generation = 0
            self.built = {}  # management account -> (generation, OrgIndex)

    def changed(self):
        with self.lock:
            self.generation += 1

    def index(self, backend):
        with self.lock:
            cached = self.built.get(backend.account_id)
            if cached and cached[0] == self.generation and cached[1].backend is backend:
                return cached[1]
            index = OrgIndex(backend)
            self.built[backend.account_id] = (self.generation, index)
            return index

    def app(self, req, moto):
        """The WSGI app for an Organizations request: served here, or moto's (and then,
        for any operation but List*/Describe*, the index is rebuilt on next use)."""
        backend = organizations_backends[req.account]["aws"]
        if req.operation in ORG_SERVED and backend.org is not None:
            try:
                params = json.loads(req.body or b"{}")
                if not isinstance(params, dict):
                    raise ValueError("not an object")
            except ValueError:
                return org_error("InvalidInputException", BAD_ORG_INPUT)
            ids = ("ParentId", "ChildId", "AccountId", "OrganizationalUnitId", "SourceParentId",
                   "DestinationParentId", "ChildType", "Name")
            if any(key in params and not isinstance(params[key], str) for key in ids):
                return org_error("InvalidInputException", INVALID_VALUE)
            return getattr(self, "op_" + req.operation)(backend, params, moto)
        if req.operation.startswith(("List", "Describe")):
            return moto
        return self.then_changed(moto)

    def then_changed(self, app):
        def wrapped(environ, start_response):
            try:
                return list(app(environ, start_response))
            finally:
                self.changed()
        return wrapped

    @staticmethod
    def answer(payload):
        return json_response(payload, content_type=ORG_JSON)

    @staticmethod
    def paged(params, items, key, render):
        """One page as the real service pages: MaxResults default 20, larger capped at 20,
        below 1 -> InvalidInputException; an opaque NextToken (bad -> InvalidInputException)."""
        try:
            limit = min(int(params.get("MaxResults", 20)), 20)
            if limit < 1:
                raise ValueError("MaxResults below 1")
            chosen, next_token = page(items, params.get("NextToken"), limit)
        except (ValueError, TypeError, UnicodeDecodeError, AttributeError):
            return org_error("InvalidInputException", BAD_ORG_INPUT)
        out = {key: [render(item) for item in chosen]}
        if next_token:
            out["NextToken"] = next_token
        return Organizations.answer(out)

    def op_ListAccounts(self, backend, params, moto):
        return self.paged(params, backend.accounts, "Accounts", FakeAccount.describe)

    def op_ListAccountsForParent(self, backend, params, moto):
        index = self.index(backend)
        if params.get("ParentId") not in index.containers:
            return org_error("ParentNotFoundException", PARENT_NOT_FOUND)
        return self.paged(params, index.children(params["ParentId"], "ACCOUNT"), "Accounts",
                          index.describe)

    def op_ListOrganizationalUnitsForParent(self, backend, params, moto):
        index = self.index(backend)
        if params.get("ParentId") not in index.containers:
            return org_error("ParentNotFoundException", PARENT_NOT_FOUND)
        return self.paged(params, index.children(params["ParentId"], "ORGANIZATIONAL_UNIT"),
                          "OrganizationalUnits", lambda ou: ou.describe()["OrganizationalUnit"])

    def op_ListChildren(self, backend, params, moto):
        index = self.index(backend)
        child_type = params.get("ChildType")
        if child_type not in ("ACCOUNT", "ORGANIZATIONAL_UNIT"):
            return org_error("InvalidInputException", INVALID_VALUE)
        if params.get("ParentId") not in index.containers:
            return org_error("ParentNotFoundException", PARENT_NOT_FOUND)
        return self.paged(params, index.children(params["ParentId"], child_type), "Children",
                          lambda child: {"Id": child.id, "Type": child_type})

    def op_ListParents(self, backend, params, moto):
        index = self.index(backend)
        child_id = params.get("ChildId")
        child = index.accounts.get(child_id) or index.containers.get(child_id)
        if child is None or child.type == "ROOT":
            return org_error("ChildNotFoundException", CHILD_NOT_FOUND)
        parent = index.containers.get(child.parent_id)
        parents = [{"Id": parent.id, "Type": parent.type}] if parent is not None else []
        return self.answer({"Parents": parents})

    def op_DescribeAccount(self, backend, params, moto):
        account = self.index(backend).accounts.get(params.get("AccountId"))
        if account is None:
            return org_error("AccountNotFoundException", ACCOUNT_GONE)
        return self.answer({"Account": account.describe()})

    def op_DescribeOrganizationalUnit(self, backend, params, moto):
        ou = self.index(backend).containers.get(params.get("OrganizationalUnitId"))
        if ou is None or ou.type == "ROOT":
            return org_error("OrganizationalUnitNotFoundException", OU_NOT_FOUND)
        return self.answer(ou.describe())

    def op_CreateOrganizationalUnit(self, backend, params, moto):
        index = self.index(backend)
        parent_id, name = params.get("ParentId"), params.get("Name")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            return org_error("InvalidInputException", INVALID_VALUE)
        if parent_id not in index.containers:
            return org_error("ParentNotFoundException", PARENT_NOT_FOUND)
        if any(ou.name == name for ou in index.children(parent_id, "ORGANIZATIONAL_UNIT")):
            return org_error("DuplicateOrganizationalUnitException", DUPLICATE_OU)
        return self.then_changed(moto)

    def op_DeleteOrganizationalUnit(self, backend, params, moto):
        index = self.index(backend)
        ou_id = params.get("OrganizationalUnitId")
        ou = index.containers.get(ou_id)
        if ou is None or ou.type == "ROOT":
            return org_error("OrganizationalUnitNotFoundException", OU_NOT_FOUND)
        if index.children(ou_id, "ACCOUNT") or index.children(ou_id, "ORGANIZATIONAL_UNIT"):
            return org_error("OrganizationalUnitNotEmptyException", OU_NOT_EMPTY)
        return self.then_changed(moto)

    def op_MoveAccount(self, backend, params, moto):
        index = self.index(backend)
        account = index.accounts.get(params.get("AccountId"))
        source, destination = params.get("SourceParentId"), params.get("DestinationParentId")
        if account is None:
            return org_error("AccountNotFoundException", ACCOUNT_GONE)
        if source not in index.containers or account.parent_id != source:
            return org_error("SourceParentNotFoundException", SOURCE_NOT_FOUND)
        if destination not in index.containers:
            return org_error("DestinationParentNotFoundException", DESTINATION_NOT_FOUND)
        if destination == source:
            return org_error("DuplicateAccountException", DUPLICATE_ACCOUNT)
        account.parent_id = destination
        self.changed()
        return self.answer({})

    # ---- control

    def put_accounts(self, specs):
        """Put validated account specs (organization_account_spec) into the default
        account's organization; returns (backend, the accounts)."""
        backend = management_backend()
        index = self.index(backend)
        for spec in specs:
            if spec["parentId"] is not None and spec["parentId"] not in index.containers:
                raise ValueError(f"parentId {spec['parentId']} is neither the root nor an OU")
        accounts, known, now = [], dict(index.accounts), utcnow()
        try:
            for spec in specs:
                account = known.get(spec["accountId"])
                if account is None:
                    account = new_fake_account(backend, spec["accountId"], spec["parentId"] or index.root_id(),
                                               spec["joinedAt"] or now, spec["joinedMethod"] or "CREATED")
                    known[account.id] = account
                else:
                    if spec["parentId"] is not None:
                        account.parent_id = spec["parentId"]
                    if spec["joinedAt"] is not None:
                        account.create_time = spec["joinedAt"]
                    if spec["joinedMethod"] is not None:
                        account.joined_method = spec["joinedMethod"]
                account.email, account.name = spec["email"], spec["name"]
                account.status = account.state = spec["status"]
                accounts.append(account)
        finally:
            self.changed()
        return backend, accounts

    def put_ou(self, name, parent_id=None):
        """The OU named `name` under `parent_id` (default: the root), created if absent;
        returns (ou, created)."""
        backend = management_backend()
        index = self.index(backend)
        parent_id = parent_id or index.root_id()
        if parent_id not in index.containers:
            raise ValueError(f"parentId {parent_id} is neither the root nor an OU")
        existing = next((ou for ou in index.children(parent_id, "ORGANIZATIONAL_UNIT") if ou.name == name), None)
        if existing is not None:
            return existing, False
        try:
            created = backend.create_organizational_unit(Name=name, ParentId=parent_id)
        finally:
            self.changed()
        return index.backend.get_organizational_unit_by_id(created["OrganizationalUnit"]["Id"]), True
