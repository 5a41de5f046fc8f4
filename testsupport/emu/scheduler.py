"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- A one-time schedule is `at(yyyy-mm-ddThh:mm:ss)` in the schedule's time zone (UTC given), invoking its target once
- Targets are invoked with 60-second precision, without a flexible window: retry times are whole minutes (5-minute boundaries) and `FlexibleTimeWindow` is `OFF`
- `ActionAfterCompletion: DELETE` removes the schedule once it has invoked its target: no one-time schedule is left behind; values NONE or DELETE
- A schedule name (and a group name) is 1-64 of `[0-9a-zA-Z-_.]`: `retry-<account>-<yyyymmddThhmm>`
- A name already in the group answers 409 `ConflictException`: a replay's schedule is already there, not a failure
- A group that does not exist answers 404 `ResourceNotFoundException`
- A Lambda target's input must be well-formed JSON: the manual request for the account

EventBridge Scheduler CreateSchedule's input rules moto lacks: the schedule and group names,
the required members, the flexible window mode, ActionAfterCompletion, the target's input and
the at() expression.
"""

import json
import re
from datetime import datetime

from moto.scheduler.models import scheduler_backends

from emu.common import aws_error


SCHEDULE_NAME = re.compile(r"[0-9a-zA-Z\-_.]{1,64}")
AT_EXPRESSION = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")


def schedule_refusal(req):
    """EventBridge Scheduler CreateSchedule as botocore's model and the API reference
    constrain it, where moto accepts anything (or drops the connection: an unknown group),
    else None."""
    from urllib.parse import unquote
    name = unquote(req.path.rstrip("/").rsplit("/", 1)[-1])
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return aws_error(req.protocol, 400, "ValidationException", "Invalid request body")

    def invalid(member, value, constraint):
        return aws_error(req.protocol, 400, "ValidationException",
                         f"1 validation error detected: Value '{value}' at '{member}' failed to "
                         f"satisfy constraint: {constraint}")
    group = body.get("GroupName") or "default"
    for member, value in (("name", name), ("groupName", group)):
        if not SCHEDULE_NAME.fullmatch(value):
            return invalid(member, value, "Member must satisfy regular expression pattern: "
                                          "[0-9a-zA-Z-_.]+ and have length between 1 and 64")
    target = body.get("Target") if isinstance(body.get("Target"), dict) else {}
    window = body.get("FlexibleTimeWindow") if isinstance(body.get("FlexibleTimeWindow"), dict) else {}
    for member, value in (("scheduleExpression", body.get("ScheduleExpression")),
                          ("target.arn", target.get("Arn")), ("target.roleArn", target.get("RoleArn")),
                          ("flexibleTimeWindow.mode", window.get("Mode"))):
        if not value:
            return invalid(member, "null", "Member must not be null")
    if window.get("Mode") not in ("OFF", "FLEXIBLE"):
        return invalid("flexibleTimeWindow.mode", window.get("Mode"), "Member must satisfy enum value set: [OFF, FLEXIBLE]")
    after = body.get("ActionAfterCompletion")
    if after is not None and after not in ("NONE", "DELETE"):
        return invalid("actionAfterCompletion", after, "Member must satisfy enum value set: [NONE, DELETE]")
    if "Input" in target and not target["Input"]:
        return invalid("target.input", "", "Member must have length greater than or equal to 1")
    expression = body["ScheduleExpression"]
    if expression.startswith("at"):
        at = AT_EXPRESSION.fullmatch(expression)
        try:
            datetime.strptime(at.group(1), "%Y-%m-%dT%H:%M:%S") if at else None
        except ValueError:
            at = None
        if not at:
            return aws_error(req.protocol, 400, "ValidationException", f"Invalid Schedule Expression {expression}.")
    groups = scheduler_backends[req.account][req.region].schedule_groups
    if group not in groups:
        return aws_error(req.protocol, 404, "ResourceNotFoundException", f"Schedule group {group} does not exist.")
    if name in groups[group].schedules:
        return aws_error(req.protocol, 409, "ConflictException", f"Schedule {name} already exists.")
    return None
