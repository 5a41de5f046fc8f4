"""AWS rules enforced here (one a line, as docs/aws-behaviour.md words them):
- The session name is 2 to 64 characters of letters, digits and `_+=,.@-`, and shows in the member account's CloudTrail
- A message may be as large as the topic's `MaximumMessageSize`, its attributes included: 262,144 bytes unless the topic sets another value (1,024 to 1,048,576); the code splits problems at 262,144 bytes, so a topic set below that can refuse a message
- A subject is under 100 characters, with no line break
- With `MessageStructure: json` the message is a JSON object with a `default` string; each subscriber gets its protocol's entry, else `default`; the size limit is the whole structure's
- `sqs`, `lambda` and `email-json` subscribers, named by no key of the structure, get `default`: the JSON document, unchanged
- An `email` subscriber gets the plain text of its entry, with the Subject as the mail's subject; `email-json`, `http` and `https` get the JSON envelope whose `Message` is their entry
- Every subscription counts as confirmed (an email subscriber has clicked its confirmation link)

The input rules moto lacks for SNS Publish (size in bytes, attributes included; subject
length; a per-protocol message's structure) and STS AssumeRole's RoleSessionName; and the
deliveries moto does not make (email, email-json) or cannot make here (http, https: no
network): the emulator keeps what SNS would deliver to them, for the tests to read
(GET /_emulator/sns/deliveries). Every subscription counts as confirmed, as in moto.
"""

import json
import threading
import time

from moto.sns.models import Subscription

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


# SNS Publish (API reference, Publish, MessageStructure): "If you set MessageStructure to json,
# the value of the Message parameter must: be a syntactically valid JSON object; and contain at
# least a top-level JSON key of "default" with a value that is a string." The error texts are
# SNS's own answers.
NO_DEFAULT = "Invalid parameter: Message Structure - No default entry in JSON message body"
NOT_JSON = "Invalid parameter: Message Structure - JSON message body failed to parse"


def message_structure_refusal(params):
    """SNS's refusal of a per-protocol message without a `default` string, else None."""
    if params.get("MessageStructure") != "json":
        return None
    try:
        structure = json.loads(params.get("Message", ""))
    except ValueError:
        return NOT_JSON
    if not isinstance(structure, dict):
        return NOT_JSON
    if not isinstance(structure.get("default"), str):
        return NO_DEFAULT
    return None


# Protocols SNS delivers over the network (mail, HTTP POST): recorded here instead.
OFFLINE_PROTOCOLS = ("email", "email-json", "http", "https")


class Deliveries:
    """What SNS delivered to the offline protocols' subscribers, in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.items = []

    def add(self, item):
        with self.lock:
            self.items.append(item)

    def snapshot(self):
        with self.lock:
            return {"deliveries": [dict(i) for i in self.items]}


DELIVERIES = Deliveries()


def offline_delivery(sub, message, message_id, subject, message_attributes, message_structure):
    """What `sub` (an offline protocol's subscription) receives of one Publish, or None when
    its filter policy drops it: the entry of its protocol (else `default`), as plain text for
    `email`, in SNS's JSON envelope for the others."""
    if sub._filter_policy_matcher is not None and not sub._filter_policy_matcher.matches(
            message_attributes, message):
        return None
    if message_structure == "json":
        structure = json.loads(message)
        entry = structure.get(sub.protocol)
        message = entry if isinstance(entry, str) else structure["default"]
    if sub.protocol == "email":
        body = message
    else:
        envelope = {"Type": "Notification", "MessageId": message_id, "TopicArn": sub.topic.arn,
                    "Message": message,
                    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
        if subject:
            envelope["Subject"] = subject
        body = json.dumps(envelope)
    return {"protocol": sub.protocol, "endpoint": sub.endpoint, "topicArn": sub.topic.arn,
            "subject": subject, "body": body}


def install_offline_delivery():
    """Makes moto's subscriptions of the offline protocols record what SNS delivers to them
    (moto drops email and posts HTTP to the endpoint, which fails here)."""
    if getattr(Subscription.publish, "emulated", False):
        return
    moto_publish = Subscription.publish

    def publish(self, message, message_id, subject=None, message_attributes=None,
                group_id=None, deduplication_id=None, message_structure=None):
        if self.protocol not in OFFLINE_PROTOCOLS:
            return moto_publish(self, message, message_id, subject=subject,
                                message_attributes=message_attributes, group_id=group_id,
                                deduplication_id=deduplication_id,
                                message_structure=message_structure)
        delivered = offline_delivery(self, message, message_id, subject, message_attributes,
                                     message_structure)
        if delivered is not None:
            DELIVERIES.add(delivered)
        return None

    publish.emulated = True
    Subscription.publish = publish


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
        refused = message_structure_refusal(req.params)
        if refused is not None:
            return aws_error(req.protocol, 400, "InvalidParameter", refused)
    if req.service == "sts" and req.operation == "AssumeRole":
        name = req.params.get("RoleSessionName", "")
        if not ROLE_SESSION_NAME.fullmatch(name):
            return aws_error(req.protocol, 400, "ValidationError",
                             f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to "
                             "satisfy constraint: Member must satisfy regular expression pattern: "
                             "[\\w+=,.@-]{2,64}")
    return None
