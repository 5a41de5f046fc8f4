"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- The session name is 2 to 64 characters of letters, digits and `_+=,.@-`, and shows in the member account's CloudTrail
- A message may be as large as the topic's `MaximumMessageSize`, its attributes included: 262,144 bytes unless the topic sets another value (1,024 to 1,048,576); the code splits problems at 262,144 bytes, so a topic set below that can refuse a message
- A subject is under 100 characters, with no line break

The input rules moto lacks for SNS Publish (size in bytes, attributes included; subject
length) and STS AssumeRole's RoleSessionName.
"""

from emu.common import aws_error
from emu.sts_iam import ROLE_SESSION_NAME


# SNS Publish (API reference, Publish): a subject is "less than 100 characters"; "messages must
# be UTF-8 encoded strings and at most 256 KB in size (262,144 bytes, not 262,144 characters)",
# and "all parts of the message attribute, including name, type, and value, are included in the
# message size restriction" (MessageAttributeValue). moto counts characters and no attributes.
SNS_MAX_BYTES = 262_144
SNS_SUBJECT_MAX_CHARS = 99


def sns_publish_size(params):
    """Bytes SNS counts for a Publish: the message and every attribute's name, type and value."""
    size = len(params.get("Message", "").encode())
    for key, value in params.items():
        if key.startswith("MessageAttributes.entry.") and key.endswith(
                (".Name", ".Value.DataType", ".Value.StringValue")):
            size += len(value.encode())
    return size


def input_refusal(req):
    """The error AWS answers for input moto accepts (SNS Publish size and subject, STS session
    name), else None."""
    if req.service == "sns" and req.operation == "Publish":
        subject = req.params.get("Subject")
        if subject is not None and (len(subject) > SNS_SUBJECT_MAX_CHARS
                                    or any(c in subject for c in "\r\n")):
            return aws_error(req.protocol, 400, "InvalidParameter", "Invalid parameter: Subject")
        if sns_publish_size(req.params) > SNS_MAX_BYTES:
            return aws_error(req.protocol, 400, "InvalidParameter", "Invalid parameter: Message too long")
    if req.service == "sts" and req.operation == "AssumeRole":
        name = req.params.get("RoleSessionName", "")
        if not ROLE_SESSION_NAME.fullmatch(name):
            return aws_error(req.protocol, 400, "ValidationError",
                             f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to "
                             "satisfy constraint: Member must satisfy regular expression pattern: "
                             "[\\w+=,.@-]{2,64}")
    return None
