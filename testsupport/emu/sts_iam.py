"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- A role that does not exist in the target account cannot be assumed: 403 `AccessDenied` "User: CALLER is not authorized to perform: sts:AssumeRole on resource: ROLE_ARN", with no reason after it (the same answer as a role that does not trust the caller); the function publishes it as a problem naming the role's ARN (or, within `MEMBER_ROLE_GRACE_MINUTES` of the account joining, waits for it)
- The role assumed is the exact ARN asked for, `arn:<partition>:iam::<account>:role/<path><name>`; its name is case sensitive, so only the configured `MEMBER_ROLE_NAME` (path `/`) in that account matches
- A member role deployed after the account joined (a StackSet reaches a new account minutes later) is refused until it exists, then assumed

STS and IAM for member accounts: the roles that exist in each account (MemberRoles) and
AssumeRole's refusal of any other, with STS's wording.
"""

import re
import threading

from moto.iam.models import iam_backends

from emu.common import aws_error


# STS AssumeRole denial reasons: the suffix real STS appends to "User: ... is not authorized
# to perform: sts:AssumeRole on resource: ROLE" (forms from the IAM User Guide, "Troubleshoot
# access denied error messages"; the bare form, a role that does not trust the caller or does
# not exist, as seen in public issue threads).
ASSUME_ROLE_REASONS = {
    "trust": "",
    "identity-policy": " because no identity-based policy allows the sts:AssumeRole action",
    "explicit-deny": " with an explicit deny in an identity-based policy",
}

ROLE_ACCOUNT = re.compile(r"arn:[^:]+:iam::([0-9]{12}):role/")
# A role ARN: partition, account, path + name (IAM API reference, Role: RoleName
# "[\w+=,.@-]+", 1-64 characters).
ROLE_ARN = re.compile(r"arn:([^:]+):iam::([0-9]{12}):role/(?:.*/)?([\w+=,.@-]{1,64})", re.ASCII)
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


def assume_role_denied(req, role, reason=""):
    """STS's 403 AccessDenied for an AssumeRole of `role` by the caller: "User: CALLER is not
    authorized to perform: sts:AssumeRole on resource: ROLE" and the reason's suffix."""
    message = (f"User: arn:aws:iam::{req.account}:user/emulator is not authorized to perform: "
               f"sts:AssumeRole on resource: {role}{reason}")
    return aws_error(req.protocol, 403, "AccessDenied", message)


class MemberRoles:
    """The IAM roles that exist in each account, for STS AssumeRole: one created through the
    control API (path "/", trusting every caller) or with IAM CreateRole in moto. Any other
    role does not exist, and AssumeRole of it is refused as STS refuses it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.roles = {}  # account -> set of role names

    def add(self, accounts, name):
        with self.lock:
            for account in accounts:
                self.roles.setdefault(account, set()).add(name)

    def exists(self, arn):
        target = ROLE_ARN.fullmatch(arn)
        if not target:
            return False
        partition, account, name = target.groups()
        with self.lock:
            # Role names are case sensitive (IAM User Guide, Troubleshoot IAM roles).
            if partition == "aws" and arn.endswith(f":role/{name}") and name in self.roles.get(account, ()):
                return True
        # moto's own roles; dict.get so that an account without IAM state gets none built
        # (moto builds an IAM backend per account on first use: ~9 ms).
        backend = dict.get(dict.get(iam_backends, account) or {}, partition)
        return backend is not None and any(r.arn == arn for r in list(backend.roles.values()))

    def refusal(self, req):
        """STS AssumeRole of a role that does not exist: 403 AccessDenied in the bare form
        (the one STS gives for a role that does not exist or does not trust the caller), else
        None."""
        if req.service != "sts" or req.operation != "AssumeRole":
            return None
        role = req.params.get("RoleArn", "")
        return None if self.exists(role) else assume_role_denied(req, role)

    def snapshot(self):
        with self.lock:
            return {"roles": {a: sorted(names) for a, names in sorted(self.roles.items())}}


# STS AssumeRole RoleSessionName: 2-64 characters of [\w+=,.@-] (API reference); moto checks
# only the upper bound.
ROLE_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
