#!/usr/bin/env python3
"""A minimal boto3 handler, kept ONLY for the benchmark's side-by-side comparison (bench/run).

It is not part of the product and is not deployed. It does what the public Python tools for
this job do, and the same AWS calls as guardduty-invite for a manual request
(`detail-type: "GuardDuty Invite Request"`, accounts with their email):

    per region and batch of 50: ListDetectors (once per process, cached like the Rust
    client), GetMembers (which accounts are members already), CreateMembers (only those that
    are not), GetMembers (the statuses of the added), InviteMembers (only for members whose
    status calls for it), GetMembers (the statuses after the invitations); then one SNS
    Publish if any account could not be processed.

It is written the way a Lambda function is: clients are built once at import (the "init"
phase), `handler(event, context)` does the calls. Regions are handled one after the other,
as in the usual Python scripts. No email lookup in Organizations (the benchmark's event gives
the emails), no message template beyond one fixed sentence, no retries beyond boto3's own.

    python bench/boto3_handler.py EVENT_FILE...

runs the handler once per file and prints one JSON response per line: the process start to
exit is the "cold" figure, like `guardduty-invite invoke EVENT_FILE`. Same environment as the
binary: SNS_TOPIC_ARN, GUARDDUTY_REGIONS (comma list, default AWS_REGION),
DISABLE_EMAIL_NOTIFICATION, AWS_ENDPOINT_URL and the standard AWS_* variables.
"""

import json
import os
import sys

import boto3

TOPIC_ARN = os.environ["SNS_TOPIC_ARN"]
# Lambda sets both; boto3 itself reads only AWS_DEFAULT_REGION.
HOME_REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
REGIONS = [r.strip() for r in os.environ.get("GUARDDUTY_REGIONS", HOME_REGION).split(",") if r.strip()]
DISABLE_EMAIL = os.environ.get("DISABLE_EMAIL_NOTIFICATION", "false").lower() == "true"
MESSAGE = "Your account {account_id} is invited to join the organization's GuardDuty in {region}."

ALREADY_MEMBER = "already a member or associated member of the current account"
NO_INVITE_NEEDED = {"invited", "emailverificationinprogress", "enabled"}

# Init phase: one client per region, built once (boto3 reads AWS_ENDPOINT_URL itself).
_session = boto3.session.Session()
GUARDDUTY = {r: _session.client("guardduty", region_name=r) for r in REGIONS}
SNS = _session.client("sns", region_name=HOME_REGION)
_detectors = {}


def detector(region):
    if region not in _detectors:
        ids = GUARDDUTY[region].list_detectors()["DetectorIds"]
        if not ids:
            return None
        _detectors[region] = ids[0]
    return _detectors[region]


def invite_in_region(region, accounts, problems):
    gd = GUARDDUTY[region]
    det = detector(region)
    if det is None:
        problems += [{"accountId": a["accountId"], "region": region, "operation": "ListDetectors",
                      "result": "no detector"} for a in accounts]
        return {}
    outcomes = {}
    for start in range(0, len(accounts), 50):
        batch = accounts[start:start + 50]
        known = {m["AccountId"] for m in gd.get_members(
            DetectorId=det, AccountIds=[a["accountId"] for a in batch])["Members"]}
        new = [a for a in batch if a["accountId"] not in known]
        members = [a["accountId"] for a in batch]
        if new:
            out = gd.create_members(DetectorId=det, AccountDetails=[
                {"AccountId": a["accountId"], "Email": a["email"]} for a in new])
            for u in out["UnprocessedAccounts"]:
                if ALREADY_MEMBER not in u["Result"]:
                    members.remove(u["AccountId"])
                    problems.append({"accountId": u["AccountId"], "region": region, "detectorId": det,
                                     "operation": "CreateMembers", "result": u["Result"]})
        if not members:
            continue
        status = {m["AccountId"]: m["RelationshipStatus"]
                  for m in gd.get_members(DetectorId=det, AccountIds=members)["Members"]}
        to_invite = []
        for account in members:
            s = status.get(account, "")
            if s.lower() in ("created", "removed", "resigned"):
                to_invite.append(account)
            elif s.lower() in NO_INVITE_NEEDED:
                outcomes[account] = "already-" + s
            else:
                problems.append({"accountId": account, "region": region, "detectorId": det,
                                 "operation": "GetMembers", "result": s or "not returned"})
        if to_invite:
            out = gd.invite_members(DetectorId=det, AccountIds=to_invite, DisableEmailNotification=DISABLE_EMAIL,
                                    Message=MESSAGE.format(account_id=",".join(to_invite), region=region))
            failed = {u["AccountId"]: u["Result"] for u in out["UnprocessedAccounts"]}
            for account in to_invite:
                if account in failed:
                    problems.append({"accountId": account, "region": region, "detectorId": det,
                                     "operation": "InviteMembers", "result": failed[account]})
                else:
                    outcomes[account] = "invited"
            # the statuses after the invitations, as GuardDuty returns them
            after = {m["AccountId"]: m["RelationshipStatus"]
                     for m in gd.get_members(DetectorId=det, AccountIds=to_invite)["Members"]}
            for account in to_invite:
                if outcomes.get(account) == "invited":
                    outcomes[account] = {"outcome": "invited", "status": after.get(account)}
    return outcomes


def handler(event, context=None):
    if event.get("detail-type") != "GuardDuty Invite Request":
        raise ValueError("only manual requests are handled by this comparison handler")
    accounts = event["detail"]["accounts"]
    problems, regions = [], {}
    for region in REGIONS:
        regions[region] = invite_in_region(region, accounts, problems)
    message_ids = []
    if problems:
        body = {"eventId": event.get("id"), "source": event.get("source"),
                "detailType": event.get("detail-type"), "problems": problems}
        message_ids.append(SNS.publish(TopicArn=TOPIC_ARN, Subject="GuardDuty invitations: problems",
                                       Message=json.dumps(body))["MessageId"])
    return {"eventId": event.get("id"), "regions": regions, "problems": len(problems),
            "notificationMessageIds": message_ids}


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path) as f:
            print(json.dumps(handler(json.load(f))), flush=True)
