#!/usr/bin/env python3
"""Loopback AWS emulator for guardduty-invite's end-to-end tests and README demo.

One process, one port: the real moto server (pinned in requirements.txt) serves SNS, SQS,
Organizations, STS, GuardDuty detectors, S3, SSM and Security Hub (and moto's other
services); a WSGI middleware in front of it tells each request's service and region from its
SigV4 credential scope (as moto routes it) and adds

* the GuardDuty member API that moto lacks, rest-json as in botocore's model, with the
  UnprocessedAccounts `result` strings in the real service's wording where it is known
  (constants below):
  administrator side CreateMembers, InviteMembers, GetMembers, ListMembers, DeleteMembers,
  DisassociateMembers, UpdateMemberDetectors, GetMemberDetectors,
  DescribeOrganizationConfiguration; member side
  ListInvitations, AcceptAdministratorInvitation (and the deprecated AcceptInvitation),
  GetAdministratorAccount (and the deprecated GetMasterAccount);
* Organizations listings paged like the real service, OUs checked as it checks them (below);
* Account Management ListRegions (moto lacks it; below);
* EventBridge Scheduler CreateSchedule checked as the service checks it where moto does not:
  the name and group name patterns, the required members, the `at()` expression's form, the
  ActionAfterCompletion values, a group that does not exist (404 ResourceNotFoundException)
  and a name already taken (409 ConflictException, moto answers 400);
* Security Hub BatchImportFindings and GetFindings as the real service answers them, regions
  where Security Hub is not enabled, findings that fail to import (below);
* fault injection (5xx, throttling, delays, hangs, lost responses) for every AWS request,
  moto's too; access-denial rules; member-account switches (denied AssumeRole, disabled
  regions, not ready, a concurrent run's detector);
* STS AssumeRole of a role that does not exist in the target account refused as STS refuses
  it (below);
* a log of every AWS request and a count of the requests in flight;
* a plain-JSON control API under /_emulator/ (no auth);
* connections kept open between requests (HTTP/1.1 keep-alive), as AWS endpoints keep them.

Accounts. Every AWS request acts as the account of its credentials, the way moto decides it:
the access key of credentials from STS AssumeRole maps to the role's account (moto's
`get_account_id_from`), any other key (e.g. "testing") to the default account 123456789012,
the administrator and organization management account of the tests. So the member side is
reached by assuming a role in the member account and calling with those credentials.

STS AssumeRole needs the role to exist in the target account, as in IAM: one created through
POST /_emulator/iam/roles (path "/", trusting every caller; `emuctl.py seed` creates the
member role GuardDutyInviteMember in every organization account it seeds), or one created
with IAM CreateRole in moto with that account's credentials (its exact ARN, path included).
Any other RoleArn (another name, case included: "Role names are case sensitive when you
assume a role", IAM User Guide, Troubleshoot IAM roles) answers 403 AccessDenied
(query-protocol XML error) "User: arn:aws:iam::CALLER:user/emulator is not authorized to
perform: sts:AssumeRole on resource: ROLE_ARN", the bare form STS gives for a role that does
not exist or does not trust the caller; logged with "switch": "missing-role". Moto alone
lets any role be assumed. GuardDuty detectors are moto's, per account and region; member
relationships live here, per (administrator account, region, administrator detectorId), so
any account can be an administrator. Foreign and organization account sets are global.

GuardDuty behaviour (beyond the request shapes):
* detectors (CreateDetector, GetDetector, UpdateDetector, ListDetectors, ...) are moto's, one
  per account and region: a second CreateDetector by the same account in the same region
  answers 400 BadRequestException "The request is rejected because a detector already exists
  for the current account." (checked here; moto alone would create another). GetDetector's
  status is "ENABLED" or "DISABLED": CreateDetector with enable=false creates a suspended
  detector, UpdateDetector enable=true resumes it and enable=false suspends it (moto's own
  handling, checked by the self-check);
* every detector-scoped operation needs the caller's own detector in that region, else 400
  BadRequestException NO_DETECTOR (below);
* CreateMembers: 1-50 accountDetails of 12-digit ids, else 400; an email that is present but
  not 6-64 characters of 7-bit ASCII with exactly one '@' fails the whole request with 400
  BadRequestException; per account, in this order: itself -> SELF_MEMBER, a foreign account
  -> FOREIGN, already a member -> ALREADY_MEMBER, no email -> NO_EMAIL, the detector already
  has `member-limit` members (default 5000, every member counts) -> MEMBER_LIMIT; else
  created "Created", or "Enabled" at once for an organization account; an organization
  account whose member is Removed is associated again ("Enabled", processed: "You can create
  an association with these member accounts again only by calling the CreateMembers API"),
  any other existing member -> ALREADY_MEMBER (a Removed member outside the organization:
  inferred, AWS documents nothing);
* StartMonitoringMembers / StopMonitoringMembers (`POST /detector/{id}/member/start|stop`,
  1-50 accountIds): an associated member (Enabled or Disabled) becomes "Enabled" /
  "Disabled"; any other account -> NOT_MEMBER (inferred);
* InviteMembers: itself -> SELF_INVITE, not a member -> NOT_MEMBER, an organization account
  whose member status is Removed (disassociated) -> ORG_NO_REINVITE, status Invited,
  EmailVerificationInProgress or Enabled -> ALREADY_INVITED; else "Invited" (email disabled)
  or "EmailVerificationInProgress", invitedAt = now, invitations += 1; the member keeps one
  invitationId (32 hex digits) from its first invitation on;
* GetMembers / DeleteMembers / DisassociateMembers: unknown account -> NOT_MEMBER;
  DisassociateMembers sets "Removed";
* ListMembers: maxResults 1-50 (default 50, else 400), opaque nextToken (bad -> 400),
  onlyAssociated "true" (default: only Enabled members) or "false" (all); the members chosen
  are kept until a member changes, so a page costs O(page) even with 50,000 members;
* UpdateMemberDetectors: features[].name must be one of FEATURES and status ENABLED or
  DISABLED, RUNTIME_MONITORING and EKS_RUNTIME_MONITORING not together; a feature's optional
  additionalConfiguration must be a list of {name, status} with name one of the model's
  OrgFeatureAdditionalConfiguration (EKS_ADDON_MANAGEMENT, ECS_FARGATE_AGENT_MANAGEMENT,
  EC2_AGENT_MANAGEMENT, RDS_DATA_RISK; which names go with which feature is not checked) and
  status ENABLED or DISABLED; else 400 BadRequestException. dataSources is accepted and
  ignored. An Enabled member gets each feature's status, and its additional configuration
  merged by name (names not given keep their value; a feature given without
  additionalConfiguration keeps all of it); any other account -> NOT_MEMBER;
* plans a region does not offer (`unoffered`, (feature, region) pairs; by default the one the
  GuardDuty "Regions and endpoints" page names: "RDS Protection is not supported in Asia
  Pacific (Taipei) (ap-east-2) Region.", i.e. RDS_LOGIN_EVENTS there): GetDetector of any
  detector lists every feature the region offers (FLOW_LOGS, CLOUD_TRAIL, DNS_LOGS ENABLED,
  the others as UpdateDetector/CreateDetector set them, else DISABLED) and never an unoffered
  one; GetMemberDetectors never returns one; UpdateMemberDetectors naming one fails the whole
  call with 400 BadRequestException NOT_OFFERED (inferred: AWS documents no answer; the
  strict one is chosen);
* GetMemberDetectors: Enabled members -> members[] {accountId, dataSources (cloudTrail,
  dnsLogs, flowLogs ENABLED, s3Logs = S3_DATA_EVENTS or DISABLED), features [{name, status,
  updatedAt (epoch seconds), additionalConfiguration [{name, status, updatedAt}] (only when
  the feature has some)}], empty until set}, any other account -> NOT_MEMBER;
* ListInvitations (member side, no detector needed): the invitations to the caller in the
  request's region from every administrator where the caller's status is Invited or
  EmailVerificationInProgress, except a member forced to EmailVerificationInProgress with the
  member-status / members controls, whose email GuardDuty is still verifying (no invitation
  reaches the account until then; AcceptAdministratorInvitation -> NO_INVITATION; forcing
  "Invited" finishes the verification; InviteMembers itself finishes it at once):
  {"invitations": [{accountId (administrator), invitationId,
  relationshipStatus, invitedAt}]}, maxResults 1-50 (default 50) and nextToken as ListMembers;
* AcceptAdministratorInvitation {administratorId, invitationId} / AcceptInvitation
  {masterId, invitationId} (member side, its own detector in the path): no such invitation
  (not a member of that administrator in this region, or not Invited/EmailVerification*)
  -> 400 NO_INVITATION; another invitationId -> 400 BAD_INVITATION; Enabled under another
  administrator in the region -> 400 OTHER_ADMINISTRATOR; else the administrator's member
  record becomes "Enabled" with acceptedAt and memberDetectorId (GetMembers then shows it
  as detectorId), answer {}; accepting an already accepted invitation again is a no-op {};
* GetAdministratorAccount / GetMasterAccount (member side): {"administrator"|"master":
  {accountId, invitationId, relationshipStatus, invitedAt}} for the administrator whose
  invitation the caller accepted (or that enabled it through the organization), else {};
* DescribeOrganizationConfiguration (`GET /detector/{detectorId}/admin`, maxResults 1-50 and
  nextToken paging the features as ListMembers pages): the caller's own detector (else
  NO_DETECTOR); unless the caller is 123456789012 and POST
  /_emulator/guardduty/organization-configuration made it the delegated administrator in
  that region, 400 BadRequestException "The request failed because you do not have required
  AWS Organization master permission." (a GuardDuty organization-configuration error seen
  from the real service, for UpdateOrganizationConfiguration; its wording for this case is
  not confirmed). Else {autoEnableOrganizationMembers, autoEnable (deprecated: true unless
  NONE), memberAccountLimitReached (the administrator detector's members >= member-limit),
  features [{name, autoEnable, additionalConfiguration? [{name, autoEnable}]}] as set,
  dataSources (deprecated: s3Logs, kubernetes.auditLogs, malwareProtection.
  scanEc2InstanceWithFindings.ebsVolumes autoEnable = the S3_DATA_EVENTS, EKS_AUDIT_LOGS,
  EBS_MALWARE_PROTECTION feature's autoEnable is not NONE)}. The configuration changes
  nothing else: CreateMembers enables at once only the organization-accounts set;
* per-account "Internal error" on demand (control API below).

Organizations: the organization, its root, OUs and accounts are moto's; moto keeps the
management account 123456789012 in the organization (it is listed, name "master", email
master@example.com, in the root). Accounts report Id, Arn, Email, Name, Status and State (the
same value; the model retires Status on 2026-09-09), JoinedMethod ("CREATED" or "INVITED")
and JoinedTimestamp. When the caller manages an organization, the middleware serves these
operations itself over moto's objects, from an index of the organization rebuilt after any
change (any Organizations call but List*/Describe*, or the control API), so a page costs
O(page), not O(accounts), even with 50,000 accounts:
* ListAccounts (all accounts, creation order, management account first),
  ListAccountsForParent, ListOrganizationalUnitsForParent and ListChildren (ChildType
  ACCOUNT or ORGANIZATIONAL_UNIT, else InvalidInputException "You specified an invalid
  value."), each in creation order and paged as the real service pages: MaxResults default
  20, larger values capped at 20, below 1 -> 400 InvalidInputException, opaque NextToken (bad
  -> 400 InvalidInputException "You provided a value that does not match the required
  pattern."). moto paged with up to 100 per page, its own token errors, and O(accounts) work
  per page;
* ListParents: [{Id, Type: "ROOT"|"ORGANIZATIONAL_UNIT"}]; an unknown child (or a root) ->
  ChildNotFoundException;
* DescribeAccount: {Account}; unknown -> AccountNotFoundException "You specified an account
  that doesn't exist." (moto's wording, kept); DescribeOrganizationalUnit: {OrganizationalUnit:
  {Id, Arn, Name}}; unknown, deleted or a root -> OrganizationalUnitNotFoundException;
* CreateOrganizationalUnit: a parent that is neither the root nor an existing OU ->
  ParentNotFoundException (moto created the OU anyway); a sibling OU of the same name ->
  DuplicateOrganizationalUnitException; then moto creates it;
* DeleteOrganizationalUnit: unknown -> OrganizationalUnitNotFoundException; an OU that still
  holds accounts or OUs -> OrganizationalUnitNotEmptyException (moto deleted it anyway); then
  moto deletes it;
* MoveAccount: unknown account -> AccountNotFoundException; a SourceParentId that does not
  exist or is not the account's parent -> SourceParentNotFoundException; an unknown
  destination -> DestinationParentNotFoundException; destination = source ->
  DuplicateAccountException; else the account moves, answer {};
* a ParentId that does not exist (never did, or an OU deleted meanwhile) answers
  ParentNotFoundException in every operation that takes one.
All errors are 400 with the json protocol's x-amzn-ErrorType header and {"__type",
"message"}; the messages are the API model's description of each error ("We can't find a
root or OU with the ParentId that you specified.", "The specified OU is not empty. Move all
accounts to another root or to other OUs, remove all child OUs, and try the operation
again.", "We can't find an OU with the OrganizationalUnitId that you specified.", "We can't
find an organizational unit (OU) or Amazon Web Services account with the ChildId that you
specified.", "We can't find a source root or OU with the ParentId that you specified.", "We
can't find the destination container (a root or OU) with the ParentId that you specified.",
"That account is already present in the specified destination.", "An OU with the same name
already exists."): the real service's runtime wording is not known; match on the code.
ListRoots, CreateAccount and the rest are moto's own; a caller that manages no organization
(a member account) gets moto's answers throughout.

Accounts put through the control API are built directly (moto's create_account would draw a
random id and build an IAM backend per account: ~9 ms each), so no IAM role is created in
them (the member role comes from POST /_emulator/iam/roles). 50,000 accounts take a couple
of seconds.

Account Management (service "account", rest-json; requests signed for "account" reach the
middleware's handler): ListRegions, `POST /listRegions` {AccountId?, RegionOptStatusContains?,
MaxResults?, NextToken?} -> {"Regions": [{"RegionName", "RegionOptStatus"}], "NextToken"?}.
The regions are the 34 commercial ones of botocore's "aws" partition, in name order; the
opt-in ones (af-south-1, ap-east-1, ap-east-2, ap-south-2, ap-southeast-3, ap-southeast-4,
ap-southeast-5, ap-southeast-6, ap-southeast-7, ca-west-1, eu-south-1, eu-south-2,
eu-central-2, il-central-1, me-south-1, me-central-1, mx-central-1) are DISABLED for every
account until the control API says otherwise, the others ENABLED_BY_DEFAULT. Without
AccountId the caller's own regions; with AccountId (12 digits, else 400 ValidationException)
the caller must be the management account 123456789012 (or the Account Management delegated
administrator set through the control API), the account must be in its organization and
trusted access must be on (POST /_emulator/account/trusted-access, default
on), else 403 AccessDeniedException "User: arn:aws:sts::CALLER:assumed-role/emulator/session
is not authorized to perform: account:ListRegions" followed by the reason: trusted access
off -> " (Your organization must first enable trusted access with AWS Account
Management.)"; the management account naming itself -> " (The management account can only
be managed using the standalone context from the management account)" (both as the real
service words them in public issue threads); an account outside the organization -> " (The
account is not a member of your organization.)" and a caller that is not the management
account -> nothing more (both guesses); the delegated administrator naming the management
account -> " (The specified account ID must be a member account in the same organization.)"
(the API reference's sentence; code and wording inferred). RegionOptStatusContains filters by status (an
unknown status -> 400 ValidationException); MaxResults 1-50, default 20 (else 400
ValidationException); NextToken opaque (bad -> 400 ValidationException). The
ValidationException messages follow AWS's usual "1 validation error detected: ..." form but
are not confirmed for this operation. The fault rules (throttle: 429 TooManyRequestsException,
error500: 500 InternalServerException) and deny rules apply to it like to any request. The
disabled-regions switch of GuardDuty is independent of these statuses.

Security Hub (rest-json): every account counts as subscribed in every region except those
POST /_emulator/securityhub/not-subscribed names; there every Security Hub request answers
401 InvalidAccessException "Account CALLER is not subscribed to AWS Security Hub" (the real
wording; the status is the model's), logged with "switch": "not-subscribed". Elsewhere the
middleware enables moto's hub for the caller before serving (so moto's DescribeHub answers a
hub; moto's EnableSecurityHub/DisableSecurityHub are moto's own, and the next request enables
it again). Findings live in moto's backend, per account and region; the middleware serves:
* BatchImportFindings (`POST /findings/import`): Findings must be a list of 1-100 (else 400
  InvalidInputException); a finding whose AwsAccountId is not the caller's account refuses the
  whole call: 403 AccessDeniedException "User: CALLER_ARN is not authorized to perform:
  securityhub:BatchImportFindings on resource: PRODUCT_ARN" (the default product ARN's rule
  in the API reference; the whole-call AccessDeniedException as AWS Support described it in a
  public issue thread); per finding, in this order: a failed-findings rule names its Id ->
  FailedFindings {Id, ErrorCode, ErrorMessage} of the rule, not imported; a missing required
  attribute (SchemaVersion, Id, ProductArn, GeneratorId, AwsAccountId, Types, CreatedAt,
  UpdatedAt, Severity, Title, Description, Resources; Severity and Types count as given when
  FindingProviderFields has them) -> ErrorCode "InvalidInput",
  ErrorMessage "Finding does not adhere to Amazon Finding Format. data should have required
  property 'X'." and an empty Resources -> "... data.Resources should NOT have fewer than 1
  items." (the real service's form, seen in public issue threads; its checks go further);
  else imported: an update of an existing (ProductArn, Id) whose UpdatedAt is not strictly
  later than the stored one is ignored (counted a success, the stored finding unchanged);
  FindingProviderFields Severity/Types fill the top level of a new finding and, later, unless
  the top level differs from the stored provider value (a customer's BatchUpdateFindings); a
  top-level value alone fills FindingProviderFields; CreatedAt is kept as imported; a new
  (ProductArn, Id) is created with RecordState ACTIVE, Workflow
  {Status: NEW} and WorkflowState NEW unless given; an existing one is replaced by the new
  finding (so RecordState, Compliance.Status, UpdatedAt, ... take the new values), keeping
  the customer's Workflow, WorkflowState, Note, UserDefinedFields and VerificationState when
  the re-import lacks them. ProcessedAt is set. Answers {FailedCount, SuccessCount,
  FailedFindings}; /calls logs "failedFindings" {Id: ErrorCode};
* GetFindings (`POST /findings`): Filters with string filters ({Value, Comparison}:
  EQUALS, PREFIX, CONTAINS, CONTAINS_WORD, NOT_EQUALS, PREFIX_NOT_EQUALS, NOT_CONTAINS;
  positive ones OR-ed and negative ones AND-ed within an attribute, attributes AND-ed) on Id,
  ProductArn, GeneratorId, AwsAccountId, Title, Description, Region, ProductName,
  CompanyName, RecordState, WorkflowState, VerificationState, SourceUrl, AwsAccountName,
  ComplianceStatus, WorkflowStatus, SeverityLabel, NoteText, RecommendationText, Type,
  ResourceId, ResourceType, ResourcePartition, ResourceRegion; more than 10 attributes or 20
  values in one attribute -> 400 InvalidInputException (the limits are AWS's; the answer is
  inferred); a token bucket per caller account and region (rate 3/s, burst 6, AWS's GetFindings
  quota; POST /_emulator/securityhub/rate changes it) answers past it 429
  TooManyRequestsException "Too Many Requests" (logged with "switch": "rate-limit");
  any other filter -> 400
  InvalidInputException "The emulator does not support the GetFindings filter X." (the
  emulator's own limit). SortCriteria is ignored (import order). MaxResults 1-100, default
  100, opaque NextToken (bad -> 400 InvalidInputException). The InvalidInputException
  messages are the emulator's own.

S3, SSM and SNS are moto's alone: PutObject with SSE-KMS headers (path-style requests, as an
SDK sends them to an IP endpoint; the AWS SDK for Rust's aws-chunked bodies included),
GetParameter (SecureString too) and a topic's KmsMasterKeyId attribute (alias/aws/sns) work
and are checked by the self-check. moto builds a service on its first request; the services
the tests use most (GuardDuty, SNS, STS, SQS, Organizations) are built before READY, the
others on first use (SSM takes seconds), one request at a time until built (two threads
building the same moto modules can fail). rest-xml operations sharing a path (S3's PutObject,
CopyObject, UploadPart) are told apart by their query literals and required headers and
query members, as the model defines them, for the log, fault and deny rules. An
UpdateMemberDetectors entry also has "features": [{name, status}] as requested.

Control API:

  POST   /_emulator/reset                      clear everything below and moto's own state
                                               (the in-flight peak drops to the current count)
  GET    /_emulator/health                     {"ok": true}
  GET    /_emulator/inflight                   {"current": n, "peak": n}: AWS requests being
                                               served at once, each from its arrival until
                                               its answer is ready (injected delays and
                                               hangs included, control requests not)
  DELETE /_emulator/inflight                   reset peak to current; answers the new counts
  POST   /_emulator/faults                     add a rule: {"operation": "InviteMembers"|"*",
                                               "kind": "error500"|"throttle"|"delay"|"hang"|
                                               "lost_response", "times": N (default
                                               unlimited), "delay_ms": N (delay; hang
                                               defaults to 300000), "region": ...,
                                               "service": ...}; first matching rule with
                                               times left wins, one use per request.
                                               error500 and lost_response answer 500
                                               InternalServerErrorException (json, rest-json)
                                               or InternalError (query, rest-xml); throttle
                                               answers Throttling (query, 400),
                                               TooManyRequestsException (json, 400) or
                                               ThrottlingException (rest-json, 429); services
                                               whose model names other errors answer those:
                                               account 429 TooManyRequestsException / 500
                                               InternalServerException, s3 503 SlowDown / 500
                                               InternalError. lost_response first serves the
                                               request for real (it takes effect), then
                                               answers the 500
  GET    /_emulator/faults                     {"faults": [rule + "remaining"]}
  DELETE /_emulator/faults                     remove all rules (and wake hung requests)
  GET    /_emulator/calls                      {"calls": [{"service", "operation", "region",
                                               "account" (the caller), "status", "accountIds"
                                               (GuardDuty operations served here; from the
                                               body's accountIds/accountDetails, else []),
                                               "fault" (if injected), "servedStatus" (status
                                               of the real answer a lost_response replaced),
                                               "unprocessed" ({accountId: result} of the
                                               answer, GuardDuty operations served here
                                               that answer unprocessedAccounts, even when a
                                               lost_response replaced it),
                                               "switch" (the switch or rule that answered or
                                               acted: "deny-assume-role", "disabled-region",
                                               "not-ready", "hidden-invitations",
                                               "detector-race", "denied",
                                               "not-subscribed", "missing-role"),
                                               "failedFindings"
                                               (BatchImportFindings: {Id: ErrorCode}),
                                               "accountId" (Account Management: the
                                               body's AccountId, null for the caller's
                                               own), "roleArn" (STS AssumeRole: the
                                               RoleArn asked for, refused or not), "ts",
                                               "duration_ms" (server-side serving time)}]},
                                               arrival order
  DELETE /_emulator/calls                      empty the log
  POST   /_emulator/deny                       {"accountId": ID | "*", "operations": [names,
                                               or "*" for all], "service"?: SigV4 signing name
                                               as in /calls (e.g. "guardduty"; default any),
                                               "code"?, "status"? (400-599, default 403),
                                               "message"?}: adds an access-denial rule: a
                                               request of one of those operations whose caller
                                               is that account (any account for "*") answers
                                               the error in its protocol's shape (query and
                                               rest-xml: XML ErrorResponse, S3 a bare <Error>;
                                               json and rest-json: x-amzn-ErrorType header and
                                               {"message", "__type"}), by default 403
                                               AccessDeniedException (query and rest-xml:
                                               AccessDenied) with the message "User:
                                               arn:aws:sts::ACCOUNT:assumed-role/emulator/
                                               session is not authorized to perform:
                                               PREFIX:Operation" (ACCOUNT the caller, PREFIX
                                               the IAM service prefix, e.g.
                                               guardduty:UpdateDetector). The request is not
                                               served. Rules never run out; the first matching
                                               one answers; logged with "switch": "denied".
                                               Answers {"rules": [...]}
  GET    /_emulator/deny                       {"rules": [{"accountId", "operations",
                                               "service"?, "code"?, "status"?, "message"?}]}
  DELETE /_emulator/deny                       remove every deny rule
  POST   /_emulator/guardduty/detector         {"accountId", "region", "enable"?: bool}:
                                               creates that account's moto detector in that
                                               region (enable defaults to true) or, if it has
                                               one, sets its enable state (when "enable" is
                                               given); any account, 123456789012 too. Answers
                                               {"accountId", "region", "detectorId", "status"
                                               ("ENABLED"|"DISABLED"), "created": bool}
  POST   /_emulator/guardduty/foreign-accounts      {"accountIds": [...]}: members of
                                                    another administrator (added to the set)
  POST   /_emulator/guardduty/organization-accounts {"accountIds": [...]}: CreateMembers
                                                    makes them Enabled at once; no re-invite
                                                    once Removed (added to the set)
  POST   /_emulator/guardduty/member-status    {"region", "detectorId", "accountId",
                                               "relationshipStatus", "email"?, "invitedAt"?
                                               (ISO 8601, e.g. "2020-01-02T03:04:05Z", kept
                                               as "2020-01-02T03:04:05.000Z"),
                                               "administratorId"?, "features"? (as
                                               member-features)}: force a status (and set
                                               those features), creating the member if
                                               absent; Invited and
                                               EmailVerificationInProgress also give it an
                                               invitationId and invitedAt (now) if it has
                                               none. The administrator defaults to the
                                               account owning that detector (moto), else
                                               123456789012. Answers the member record
  POST   /_emulator/guardduty/members          bulk form of member-status: {"region",
                                               "detectorId", "administratorId"?, "members":
                                               [{"accountId", "email", "relationshipStatus",
                                               "invitedAt"?, "features"?}], "features"?};
                                               ignores member-limit; answers {"count": n}.
                                               "features" (the list member-features takes)
                                               sets the plans in bulk, as member-features
                                               does for one member (validated first, merged,
                                               whatever the status): the top-level list for
                                               every member of the request, then a member's
                                               own list over it. 50,000 members with two
                                               features and three agent settings take a few
                                               seconds
  GET    /_emulator/guardduty/members          {"members": {region: {detectorId: {accountId:
                                               member}}}, "foreignAccounts",
                                               "organizationAccounts", "memberLimit",
                                               "organizationConfiguration" {region: {
                                               "autoEnableOrganizationMembers", "features"}}};
                                               a member
                                               is {"accountId", "email", "relationshipStatus",
                                               "invitedAt", "updatedAt", "invitations",
                                               "invitationId", "acceptedAt",
                                               "memberDetectorId", "features" {name: status},
                                               "featuresUpdatedAt" {name: epoch},
                                               "additionalConfiguration" {feature: {name:
                                               status}}, "additionalConfigurationUpdatedAt"
                                               {feature: {name: epoch}},
                                               "lastMessage", "lastDisableEmailNotification",
                                               "administratorId"}
  POST   /_emulator/guardduty/member-features  {"region", "accountId", "features": [{"name",
                                               "status", "additionalConfiguration"?: [{"name",
                                               "status"}]}], "detectorId"?,
                                               "administratorId"?}: sets a member's features
                                               directly, as someone changing a plan in the
                                               console would (validated and merged as
                                               UpdateMemberDetectors does, whatever the
                                               member's status). The member is found among
                                               the administrators' tables of that region
                                               (narrowed by detectorId / administratorId; 400
                                               if none or several). Answers the member record
  POST   /_emulator/guardduty/organization-configuration
                                               {"region", "autoEnableOrganizationMembers":
                                               "NEW"|"ALL"|"NONE", "features"?: [{"name" (an
                                               OrgFeature), "autoEnable": "NEW"|"ALL"|"NONE",
                                               "additionalConfiguration"?: [{"name",
                                               "autoEnable"}]}]}: makes 123456789012 the
                                               organization's GuardDuty delegated
                                               administrator in that region with that
                                               configuration (replacing any before), as
                                               DescribeOrganizationConfiguration reports it;
                                               moto's ListOrganizationAdminAccounts in that
                                               region lists it too. Answers {"region",
                                               "administratorId", "autoEnableOrganizationMembers",
                                               "features"}
  POST   /_emulator/guardduty/unoffered        {"features": [{"name", "region"}]}: the plans
                                               regions do not offer (replaces the set; reset
                                               restores the default); GET lists them
  POST   /_emulator/guardduty/member-limit     {"limit": N}: members per administrator
                                               detector before CreateMembers answers
                                               MEMBER_LIMIT (default 5000)
  POST   /_emulator/guardduty/internal-error   {"accountIds": [...], "operation":
                                               "CreateMembers"|"InviteMembers"|"GetMembers"|
                                               "UpdateMemberDetectors"|"GetMemberDetectors"|
                                               "DeleteMembers"|"DisassociateMembers",
                                               "times": N (default 1)}: the next N calls of
                                               that operation that include any of those
                                               accounts report them unprocessed with result
                                               "Internal error" (listed first) and leave them
                                               untouched; answers {"rules": [...]}
  GET    /_emulator/guardduty/internal-error   {"rules": [{"operation", "accountIds",
                                               "remaining", "result"}]}
  POST   /_emulator/guardduty/unprocessed      the same with any result text: {"accountIds",
                                               "operation", "times" (default 1), "result"}:
                                               those accounts are reported unprocessed with
                                               that result and left untouched. With
                                               operation GetMembers and the NOT_MEMBER text
                                               it is read-after-write lag: GetMembers does
                                               not return a member CreateMembers has just
                                               added. Shares the rules (and the GET) of
                                               internal-error
  POST   /_emulator/guardduty/stale-status     {"accountIds", "status", "times" (default 1)}:
                                               read-after-write lag: the next N GetMembers
                                               answers that include one of those accounts
                                               show it with that relationshipStatus (e.g.
                                               "Invited" right after an acceptance); the
                                               member itself is unchanged; answers
                                               {"rules": [...]}
  POST   /_emulator/organizations/accounts     {"accountId", "email", "name"?, "status"?,
                                               "joinedAt"?, "joinedMethod"?, "parentId"?} or
                                               {"accounts": [such objects, ...]}: accounts
                                               with those ids in the default account's
                                               organization (created on first use, feature
                                               set ALL). status "ACTIVE" (default),
                                               "SUSPENDED" or "PENDING_CLOSURE" is what
                                               ListAccounts and DescribeAccount report
                                               (Status and State); joinedAt (ISO 8601, naive
                                               = UTC; default now) their JoinedTimestamp;
                                               joinedMethod "CREATED" (default) or "INVITED"
                                               their JoinedMethod; parentId the root (default)
                                               or an OU the account is in. An existing
                                               account is updated: email, name and status
                                               always, joinedAt, joinedMethod and parentId
                                               only when given (a new parentId moves it).
                                               Every entry is checked (an unknown parentId
                                               too) before any change. Answers {"accountId",
                                               "email", "name", "status", "joinedAt",
                                               "joinedMethod", "parentId", "organizationId"},
                                               or for the list form {"count": n,
                                               "organizationId"}
  POST   /_emulator/organizations/ous          {"name", "parentId"? (default the root)}: the
                                               OU of that name under that parent in the
                                               default account's organization, created (by
                                               moto, so moto's own OU operations see it) if
                                               there is none. Answers {"id", "name",
                                               "parentId", "arn", "created": bool}
  POST   /_emulator/account/regions            {"accountId", "regions": {"af-south-1":
                                               "ENABLED", ...}}: set region opt-in statuses
                                               (ENABLED, ENABLING, DISABLING, DISABLED,
                                               ENABLED_BY_DEFAULT) of that account as
                                               ListRegions reports them (merged; unknown
                                               regions or statuses -> 400). Answers
                                               {"accountId", "regions": {region: status}} with
                                               every region
  GET    /_emulator/account/regions            {"trustedAccess": bool, "accounts": {account:
                                               {region: status}}} (the statuses set)
  POST   /_emulator/account/trusted-access     {"enabled": bool}: trusted access for AWS
                                               Account Management in the organization
                                               (default on); answers {"enabled"}
  POST   /_emulator/account/delegated-administrator
                                               {"accountId": id or null}: the Account
                                               Management delegated administrator (default
                                               none; moto's RegisterDelegatedAdministrator
                                               does not know account.amazonaws.com); it may
                                               name member accounts in ListRegions like the
                                               management account, never the management
                                               account; answers {"accountId"}
  POST   /_emulator/securityhub/not-subscribed {"regions": [...]}: Security Hub requests (any
                                               account) in those regions answer 401
                                               InvalidAccessException "Account CALLER is not
                                               subscribed to AWS Security Hub"; replaces the
                                               list ([] clears it); answers {"regions"}
  POST   /_emulator/securityhub/failed-findings {"ids": [finding Ids], "errorCode"?
                                               (default "InternalException"),
                                               "errorMessage"? (default "Internal service
                                               failure"; both defaults the emulator's own),
                                               "times": N (default 1)}: the next N
                                               BatchImportFindings calls that include any of
                                               those Ids report them in FailedFindings (and
                                               FailedCount) and do not import them; answers
                                               the GET below
  POST   /_emulator/securityhub/rate           {"rate"?: per second (default 3), "burst"?:
                                               (default 6)}: GetFindings' token bucket (per
                                               account and region; refilled); answers the
                                               values. Reset restores AWS's 3 and 6
  GET    /_emulator/securityhub/findings       {"findings": [each stored finding as imported,
                                               plus "_account" and "_region" that hold it]}
  GET    /_emulator/securityhub                {"notSubscribed": [...], "failedFindings":
                                               [{"ids", "errorCode", "errorMessage",
                                               "remaining"}]}
  POST   /_emulator/sts/deny-assume-role       {"accountIds": [...], "reason"?: "trust"
                                               (default) | "identity-policy" |
                                               "explicit-deny"}: STS AssumeRole of any role in
                                               those accounts answers 403 AccessDenied
                                               (query-protocol XML error) with the message
                                               "User: arn:aws:iam::CALLER:user/emulator is not
                                               authorized to perform: sts:AssumeRole on
                                               resource: ROLE_ARN" and, per reason, nothing
                                               more (trust: the role does not trust the
                                               caller, or does not exist), " because no
                                               identity-based policy allows the sts:AssumeRole
                                               action" (identity-policy: the caller's own IAM
                                               policy does not allow it) or " with an explicit
                                               deny in an identity-based policy"
                                               (explicit-deny). Wording: the "User: X is not
                                               authorized to perform: A on resource: R" form
                                               and both suffixes are the IAM User Guide's
                                               ("Troubleshoot access denied error messages");
                                               the bare form is the one public issue threads
                                               show for an untrusting or missing role. Added
                                               to the set (an account named again takes the
                                               new reason); answers {"accountIds", "reasons":
                                               {account: reason}}
  DELETE /_emulator/sts/deny-assume-role       allow them all again
  POST   /_emulator/iam/roles                  {"accountId" | "accountIds": [...],
                                               "roleName"}: creates the role (path "/",
                                               trusting every caller) in those accounts, so
                                               STS AssumeRole of
                                               arn:aws:iam::ACCOUNT:role/NAME succeeds
                                               (unless a switch or rule refuses it); a name
                                               must be 1-64 characters of [\w+=,.@-].
                                               Answers {"roles": {account: [names]}}
  GET    /_emulator/iam/roles                  {"roles": {account: [names]}} (the control
                                               API's; roles made with IAM CreateRole are
                                               moto's)
  DELETE /_emulator/iam/roles                  delete every role the control API created
  POST   /_emulator/member/disabled-regions    {"accountId", "regions": [...]}: every
                                               GuardDuty request with that account's
                                               credentials in those regions answers 403
                                               UnrecognizedClientException "The security
                                               token included in the request is invalid."
                                               (an opt-in region the account has not
                                               enabled); replaces that account's list ([]
                                               clears it)
  POST   /_emulator/member/not-ready           {"accountId", "times": N (default 1)}: that
                                               account's next N GuardDuty CreateDetector or
                                               ListDetectors calls (any region) answer 400
                                               SubscriptionRequiredException "The AWS Access
                                               Key Id needs a subscription for the service",
                                               as a brand-new account does for a while;
                                               replaces the count
  POST   /_emulator/member/hidden-invitations  {"accountId"}: that account's ListInvitations
                                               answers no invitation at all (one declined or
                                               deleted in the account)
  POST   /_emulator/member/detector-race       {"accountId", "times": N (default 1)}: that
                                               account's next N GuardDuty CreateDetector calls
                                               (any region) first create the account's
                                               detector in the request's region themselves
                                               (enabled, as a concurrent run of the function
                                               would have a moment earlier; nothing if it has
                                               one), then are served normally, so each answers
                                               400 "a detector already exists"; logged with
                                               "switch": "detector-race"; replaces the count;
                                               answers {"accountId", "remaining"}
  GET    /_emulator/member/switches            {"denyAssumeRole": [...],
                                               "denyAssumeRoleReasons": {account: reason},
                                               "disabledRegions": {account: [...]},
                                               "notReady": {account: n}, "hiddenInvitations":
                                               [...], "detectorRace": {account: n}, "deny":
                                               [deny rules, as GET /_emulator/deny]}

Control requests answer 200 with JSON, 400 {"error": ...} for a bad body and 404 for an
unknown route; reset clears every rule, switch and state they set.

An AWS request meets, in this order (the first that answers ends it; each is logged in
/calls):
  1. the first matching fault rule with uses left (throttle, error500 and hang answer without
     serving; delay waits, then continues; lost_response continues and replaces the answer);
  2. the disabled-region switch (the credentials are not valid in that region: authentication
     comes before authorization);
  3. the deny rules (authorization);
  4. the other switches: deny-assume-role (STS AssumeRole), not-ready, then detector-race
     (GuardDuty CreateDetector; detector-race acts, then lets the request through),
     hidden-invitations (ListInvitations), then Security Hub not-subscribed;
  5. the service: the input checks moto lacks, then STS AssumeRole's missing role, then the
     middleware's handlers (GuardDuty members, CreateDetector's one-detector check,
     Organizations listings and OU checks, Account ListRegions, Security Hub findings) or
     moto.

    python testsupport/emulator.py [--host 127.0.0.1] [--port 0] [--verbose] [--ignore-stdin]

prints `READY http://HOST:PORT` on stdout once listening; everything else goes to stderr.
It exits when its stdin reaches EOF (unless --ignore-stdin), so a dead test runner never
leaves it behind, and on SIGTERM/SIGINT.
"""

import argparse
import base64
import gc
import http.client
import io
import json
import logging
import os
import re
import select
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.loaders
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_input_stream

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
# Imported here, before any request thread exists: importing them lazily from a request while
# another thread builds the same moto modules can race into a circular-import error.
from moto.guardduty.models import guardduty_backends
from moto.scheduler.models import scheduler_backends
from moto.iam.models import get_account_id_from, iam_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.organizations import utils as organizations_utils
from moto.organizations.models import FakeAccount, organizations_backends
from moto.securityhub.models import Finding, securityhub_backends

DEFAULT_ACCOUNT = DEFAULT_ACCOUNT_ID  # the administrator / management account of the tests

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
BAD_INPUT = ("The request is rejected because an invalid or out-of-range value is specified "
             "as an input parameter.")
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
# Member-account switches.
INVALID_TOKEN = "The security token included in the request is invalid."  # 403 UnrecognizedClientException
NOT_SUBSCRIBED = "The AWS Access Key Id needs a subscription for the service"  # 400 SubscriptionRequiredException

# STS AssumeRole denial reasons: the suffix real STS appends to "User: ... is not authorized
# to perform: sts:AssumeRole on resource: ROLE" (forms from the IAM User Guide, "Troubleshoot
# access denied error messages"; the bare form, a role that does not trust the caller or does
# not exist, as seen in public issue threads).
ASSUME_ROLE_REASONS = {
    "trust": "",
    "identity-policy": " because no identity-based policy allows the sts:AssumeRole action",
    "explicit-deny": " with an explicit deny in an identity-based policy",
}
# SigV4 signing name -> IAM action prefix, where they differ (they agree for every service
# this emulator serves).
IAM_PREFIXES = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "execute-api"}
# Per service, the modelled throttling and 5xx errors the fault rules answer with:
# ((status, code) of throttle, code of error500/lost_response).
SERVICE_FAULT_CODES = {
    "account": ((429, "TooManyRequestsException"), "InternalServerException"),
    "s3": ((503, "SlowDown"), "InternalError"),
    # SNS's throttle as AWS's knowledge center shows it: ThrottlingException "Rate exceeded".
    "sns": ((400, "ThrottlingException"), "InternalError"),
}
REST_XML_SERVICES = {"s3", "s3control", "route53", "cloudfront"}
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
ACCOUNT_STATUSES = {"ACTIVE", "SUSPENDED", "PENDING_CLOSURE"}
ACCOUNT_ID = re.compile(r"[0-9]{12}")
ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")
ROLE_ACCOUNT = re.compile(r"arn:[^:]+:iam::([0-9]{12}):role/")
# A role ARN: partition, account, path + name (IAM API reference, Role: RoleName
# "[\w+=,.@-]+", 1-64 characters).
ROLE_ARN = re.compile(r"arn:([^:]+):iam::([0-9]{12}):role/(?:.*/)?([\w+=,.@-]{1,64})", re.ASCII)
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
FAULT_KINDS = {"error500", "throttle", "delay", "hang", "lost_response"}
DEFAULT_MEMBER_LIMIT = 5000


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message=BAD_INPUT):
    return ApiError(400, "BadRequestException", message)


def now_iso():
    return iso_utc(datetime.now(timezone.utc))


def iso_utc(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(value):
    """An ISO 8601 timestamp (naive = UTC) in the form the service uses, else ValueError."""
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return iso_utc(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


def json_response(payload, status=200, headers=None, content_type="application/json"):
    return Response(json.dumps(payload), status, headers=headers, content_type=content_type)


def aws_error(protocol, status, code, message, sender=True, service=None):
    """An error response the way the service's protocol shapes it (SDKs key on `code`):
    query: <ErrorResponse> XML; rest-xml: S3's bare <Error> XML (other rest-xml services the
    <ErrorResponse> form); json and rest-json: x-amzn-ErrorType + {"__type", "message"}."""
    request_id = str(uuid.uuid4())
    if protocol in ("query", "rest-xml"):
        error = f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        if protocol == "rest-xml" and service == "s3":
            body = f"<Error>{error}<RequestId>{request_id}</RequestId></Error>"
        else:
            body = (f"<ErrorResponse><Error><Type>{'Sender' if sender else 'Receiver'}</Type>"
                    f"{error}</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return Response(body, status, headers={"x-amzn-RequestId": request_id},
                        content_type="text/xml")
    return json_response({"__type": code, "message": message}, status,
                         {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id})


def server_error(protocol, service=None):
    if service in SERVICE_FAULT_CODES:
        return aws_error(protocol, 500, SERVICE_FAULT_CODES[service][1], "injected fault", False, service)
    if protocol in ("query", "rest-xml"):
        return aws_error(protocol, 500, "InternalError", "injected fault", False, service)
    return aws_error(protocol, 500, "InternalServerErrorException", "injected fault")


def throttle_error(protocol, service=None):
    if service in SERVICE_FAULT_CODES:
        status, code = SERVICE_FAULT_CODES[service][0]
        return aws_error(protocol, status, code, "Rate exceeded", service=service)
    if protocol == "query":
        return aws_error(protocol, 400, "Throttling", "Rate exceeded")
    if protocol == "json":
        return aws_error(protocol, 400, "TooManyRequestsException", "Rate exceeded")
    return aws_error(protocol, 429, "ThrottlingException", "Rate exceeded")


def caller_arn(account):
    """The principal ARN the emulator's access-denied messages name for a caller."""
    return f"arn:aws:sts::{account}:assumed-role/emulator/session"


def is_account_id(value):
    return isinstance(value, str) and ACCOUNT_ID.fullmatch(value) is not None


def account_id_list(value, what="accountIds"):
    if not isinstance(value, list) or not all(is_account_id(a) for a in value):
        raise ValueError(f"{what} must be a list of 12-digit ids")
    return value


def page(items, token, limit):
    """One page of `items` from an opaque offset token: (page, next token or None)."""
    start = int(base64.b64decode(token, validate=True).decode()) if token else 0
    if start < 0 or start > len(items):
        raise ValueError("token out of range")
    end = start + limit
    return items[start:end], (base64.b64encode(str(end).encode()).decode() if end < len(items) else None)


# ---------------------------------------------------------------- recognising a request

_rest_routes = {}
_rest_routes_lock = threading.Lock()


def rest_routes(model):
    """(specificity, method, path regex, name, query literals {key: value or None}, required
    header names, required query keys) of each operation of a rest model, most specific first."""
    routes = []
    for name, op in model["operations"].items():
        uri, _, query = op["http"]["requestUri"].partition("?")
        parts = re.split(r"(\{[^}]+\})", uri.rstrip("/"))
        pattern = "".join((".+" if p.endswith("+}") else "[^/]+") if p.startswith("{")
                          else re.escape(p) for p in parts)
        literal = sum(len(p) for p in parts if not p.startswith("{"))
        literals = {k: (v or None) for k, _, v in (q.partition("=") for q in query.split("&") if q)}
        headers, queries = set(), set()
        shape = model["shapes"].get(op.get("input", {}).get("shape"), {})
        for member in shape.get("required", []):
            spec = shape["members"].get(member, {})
            if spec.get("location") == "header":
                headers.add(spec.get("locationName", member).lower())
            elif spec.get("location") == "querystring":
                queries.add(spec.get("locationName", member))
        routes.append(((len(literals) + len(headers) + len(queries), literal), op["http"]["method"],
                       re.compile(pattern + "/?"), name, literals, headers, queries))
    routes.sort(key=lambda r: (-r[0][0], -r[0][1]))
    return routes


def rest_operation(service, method, path, query=None, headers=None):
    """Operation name of a rest-json/rest-xml request, from botocore's model routes: the most
    specific route whose method and path match and whose query literals (S3's "?location")
    and required header and query-string members (CopyObject's x-amz-copy-source, UploadPart's
    partNumber) the request has; failing that, the first route matching method and path."""
    with _rest_routes_lock:
        if service not in _rest_routes:
            try:
                model = botocore.loaders.create_loader().load_service_model(service, "service-2")
            except Exception:
                model = {"operations": {}, "shapes": {}}
            _rest_routes[service] = rest_routes(model)
    query, headers = query or {}, headers or set()
    fallback = None
    for _, route_method, regex, name, literals, needed_headers, needed_queries in _rest_routes[service]:
        if route_method != method or not regex.fullmatch(path):
            continue
        if (all(k in query and (v is None or query[k] == v) for k, v in literals.items())
                and needed_headers <= headers and needed_queries <= query.keys()):
            return name
        if fallback is None and not literals:
            fallback = name
    return fallback or "Unknown"


def form_params(environ, body):
    """Query-string and form-body parameters (first value of each)."""
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qs(body.decode("utf-8", "replace")))
    return {k: v[0] for k, v in params.items()}


def describe(environ, body):
    """(service, region, operation, protocol) of an AWS request."""
    scope = re.search(r"Credential=[^/,\s]+/[0-9]{8}/([^/]+)/([^/]+)/aws4_request",
                      environ.get("HTTP_AUTHORIZATION", ""))
    region, service = scope.groups() if scope else ("us-east-1", "unknown")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, region, target.rsplit(".", 1)[-1], "json"
    action = form_params(environ, body).get("Action")
    if action:
        return service, region, action, "query"
    protocol = "rest-xml" if service in REST_XML_SERVICES else "rest-json"
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
    headers = {k[5:].replace("_", "-").lower() for k in environ if k.startswith("HTTP_")}
    operation = rest_operation(service, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), query, headers)
    return service, region, operation, protocol


def calling_account(environ):
    """The account the request acts as, decided as moto decides it (env, header, access key)."""
    if os.environ.get("MOTO_ACCOUNT_ID"):
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    key = ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    return get_account_id_from(key.group(1)) if key else DEFAULT_ACCOUNT


@dataclass
class AwsRequest:
    service: str
    region: str
    operation: str
    protocol: str
    account: str
    path: str
    body: bytes
    params: dict  # query string (+ form body for the query protocol)


# ---------------------------------------------------------------- GuardDuty members

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


def member_copy(member, administrator):
    """A member record for the control API, safe to serialise outside the lock."""
    return dict(member, features=dict(member["features"]),
                featuresUpdatedAt=dict(member["featuresUpdatedAt"]),
                additionalConfiguration={f: dict(c) for f, c in member["additionalConfiguration"].items()},
                additionalConfigurationUpdatedAt={
                    f: dict(c) for f, c in member["additionalConfigurationUpdatedAt"].items()},
                administratorId=administrator)


def invitation_json(administrator, member):
    out = {"accountId": administrator, "invitationId": member["invitationId"],
           "relationshipStatus": member["relationshipStatus"]}
    if member["invitedAt"]:
        out["invitedAt"] = member["invitedAt"]
    return out


def detector_features(configured, hidden):
    """GetDetector's features: the foundational sources ENABLED, then every feature of
    FEATURES not in `hidden`, with the status CreateDetector/UpdateDetector gave it (else
    DISABLED)."""
    given = {f.get("name") or f.get("Name"): f.get("status") or f.get("Status")
             for f in configured or () if isinstance(f, dict)}
    stamp = round(time.time(), 3)
    listed = [{"name": n, "status": "ENABLED", "updatedAt": stamp} for n in FOUNDATIONAL]
    listed += [{"name": n, "status": given.get(n) or "DISABLED", "updatedAt": stamp}
               for n in sorted(FEATURES - set(hidden))]
    return listed


def member_detector(member, hidden=()):
    """A member's detector as GetMemberDetectors returns it; features in `hidden` (those the
    region does not offer) are never returned."""
    features = member["features"]
    enabled = {"status": "ENABLED"}
    return {"accountId": member["accountId"],
            "dataSources": {"cloudTrail": enabled, "dnsLogs": enabled, "flowLogs": enabled,
                            "s3Logs": {"status": features.get("S3_DATA_EVENTS", "DISABLED")}},
            "features": [feature_result(member, name) for name in features if name not in hidden]}


def feature_result(member, name):
    """A MemberFeaturesConfigurationResult of GetMemberDetectors."""
    out = {"name": name, "status": member["features"][name],
           "updatedAt": member["featuresUpdatedAt"][name]}
    configs = member["additionalConfiguration"].get(name)
    if configs:
        stamps = member["additionalConfigurationUpdatedAt"][name]
        out["additionalConfiguration"] = [{"name": c, "status": status, "updatedAt": stamps[c]}
                                          for c, status in configs.items()]
    return out


# ---------------------------------------------------------------- member-account switches

class MemberSwitches:
    """Behaviour of member accounts the tests switch on: denied roles, disabled regions,
    accounts not yet subscribed to GuardDuty, detectors created by a concurrent run."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.deny_assume_role = {}  # account -> reason (ASSUME_ROLE_REASONS)
            self.disabled_regions = {}  # account -> set of regions
            self.not_ready = {}  # account -> remaining CreateDetector/ListDetectors failures
            self.hidden_invitations = set()  # accounts whose ListInvitations shows none
            self.detector_race = {}  # account -> remaining CreateDetector calls that race

    def check_region(self, req):
        """("disabled-region", error response) for a GuardDuty request in a region the
        caller has not enabled, else None (authentication: before any deny rule)."""
        with self.lock:
            if req.service == "guardduty" and req.region in self.disabled_regions.get(req.account, ()):
                return "disabled-region", aws_error(req.protocol, 403, "UnrecognizedClientException", INVALID_TOKEN)
        return None

    def check(self, req):
        """(switch name, error response or None) if a switch acts on this request, else None.
        A None response means: the switch did its part, now serve the request."""
        with self.lock:
            if req.service == "sts" and req.operation == "AssumeRole":
                return self.check_assume_role(req)
            if req.service != "guardduty":
                return None
            if req.operation in ("CreateDetector", "ListDetectors") and self.not_ready.get(req.account, 0) > 0:
                self.not_ready[req.account] -= 1
                return "not-ready", aws_error(req.protocol, 400, "SubscriptionRequiredException", NOT_SUBSCRIBED)
            if req.operation == "CreateDetector" and self.detector_race.get(req.account, 0) > 0:
                self.detector_race[req.account] -= 1
                put_detector(req.account, req.region, True, only_if_missing=True)
                return "detector-race", None
            if req.operation == "ListInvitations" and req.account in self.hidden_invitations:
                return "hidden-invitations", json_response({"invitations": []})
            return None

    def check_assume_role(self, req):
        role = req.params.get("RoleArn", "")
        target = ROLE_ACCOUNT.match(role)
        if not target or target.group(1) not in self.deny_assume_role:
            return None
        reason = ASSUME_ROLE_REASONS[self.deny_assume_role[target.group(1)]]
        return "deny-assume-role", assume_role_denied(req, role, reason)

    def snapshot(self):
        with self.lock:
            return {"denyAssumeRole": sorted(self.deny_assume_role),
                    "denyAssumeRoleReasons": dict(sorted(self.deny_assume_role.items())),
                    "disabledRegions": {a: sorted(r) for a, r in self.disabled_regions.items()},
                    "notReady": dict(self.not_ready),
                    "hiddenInvitations": sorted(self.hidden_invitations),
                    "detectorRace": dict(self.detector_race)}


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


# ---------------------------------------------------------------- input rules moto lacks

# SNS Publish (API reference, Publish): a subject is "less than 100 characters"; "messages must
# be UTF-8 encoded strings and at most 256 KB in size (262,144 bytes, not 262,144 characters)",
# and "all parts of the message attribute, including name, type, and value, are included in the
# message size restriction" (MessageAttributeValue). moto counts characters and no attributes.
SNS_MAX_BYTES = 262_144
SNS_SUBJECT_MAX_CHARS = 99
# STS AssumeRole RoleSessionName: 2-64 characters of [\w+=,.@-] (API reference); moto checks
# only the upper bound.
ROLE_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


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


# ---------------------------------------------------------------- access denial

def iam_prefix(service):
    """The IAM action prefix of a SigV4 signing name (they agree for the services here)."""
    return IAM_PREFIXES.get(service, service)


class DenyRules:
    """Requests of given operations by given accounts answer an access-denied error."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.rules = []

    def add(self, body):
        account = body.get("accountId")
        if account != "*" and not is_account_id(account):
            raise ValueError('accountId must be 12 digits or "*"')
        operations = body.get("operations")
        if (not isinstance(operations, list) or not operations
                or not all(isinstance(o, str) and o for o in operations)):
            raise ValueError("operations must be a non-empty list of operation names")
        rule = {"accountId": account, "operations": list(operations)}
        for key in ("service", "code", "message"):
            if body.get(key) is not None:
                if not isinstance(body[key], str) or not body[key]:
                    raise ValueError(f"{key} must be a non-empty text")
                rule[key] = body[key]
        if body.get("status") is not None:
            status = int(body["status"])
            if not 400 <= status <= 599:
                raise ValueError("status must be 400-599")
            rule["status"] = status
        with self.lock:
            self.rules.append(rule)
            return self.snapshot_locked()

    def check(self, req):
        """The error response of the first rule matching this request, else None."""
        with self.lock:
            rule = next((r for r in self.rules
                         if r["accountId"] in ("*", req.account)
                         and ("*" in r["operations"] or req.operation in r["operations"])
                         and r.get("service") in (None, req.service)), None)
        if rule is None:
            return None
        code = rule.get("code") or ("AccessDenied" if req.protocol in ("query", "rest-xml")
                                    else "AccessDeniedException")
        message = rule.get("message") or (
            f"User: {caller_arn(req.account)} is not authorized to perform: "
            f"{iam_prefix(req.service)}:{req.operation}")
        return aws_error(req.protocol, rule.get("status", 403), code, message, service=req.service)

    def snapshot_locked(self):
        return {"rules": [dict(r, operations=list(r["operations"])) for r in self.rules]}

    def snapshot(self):
        with self.lock:
            return self.snapshot_locked()


# ---------------------------------------------------------------- Organizations

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


# ---------------------------------------------------------------- Account Management

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


# ---------------------------------------------------------------- Security Hub

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
# Security Hub API reference, Welcome: "GetFindings - RateLimit of 3 requests per second.
# BurstLimit of 6 requests per second." Past it: 429 TooManyRequestsException "Too Many
# Requests" (the real answer in public issue threads; the model does not name it).
GET_FINDINGS_RATE = 3.0
GET_FINDINGS_BURST = 6
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
            self.rate, self.burst = GET_FINDINGS_RATE, GET_FINDINGS_BURST
            self.buckets = {}  # (account, region) -> (tokens, monotonic time)

    def take_token(self, account, region):
        """One GetFindings request out of the token bucket of (account, region); False past
        the rate."""
        with self.lock:
            now = time.monotonic()
            tokens, then = self.buckets.get((account, region), (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self.buckets[(account, region)] = (tokens, now)
                return False
            self.buckets[(account, region)] = (tokens - 1.0, now)
            return True

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
        if req.operation == "GetFindings" and not self.take_token(req.account, req.region):
            call["switch"] = "rate-limit"
            return aws_error("rest-json", 429, "TooManyRequestsException", "Too Many Requests")
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

    def set_rate(self, body):
        rate, burst = body.get("rate", GET_FINDINGS_RATE), body.get("burst", GET_FINDINGS_BURST)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0 \
                or isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError("rate must be a positive number and burst a positive integer")
        with self.lock:
            self.rate, self.burst, self.buckets = float(rate), burst, {}
            return {"rate": self.rate, "burst": self.burst}

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


# ---------------------------------------------------------------- the middleware

class InFlight:
    """AWS requests being served at once, and the most seen since the last reset."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = self.peak = 0

    def enter(self):
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def leave(self):
        with self.lock:
            self.current -= 1

    def reset_peak(self):
        with self.lock:
            self.peak = self.current
        return self.snapshot()

    def snapshot(self):
        with self.lock:
            return {"current": self.current, "peak": self.peak}


def buffer_body(environ):
    """Read a request's whole body (Content-Length or chunked) and hand the app a fresh
    stream of it; returns the body."""
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgi.input_terminated", None)
    return body


def drain(app, environ):
    """Serve `environ` with `app` and throw the answer away; returns its status."""
    return int(collect(app, environ)[0].split()[0])


class Emulator:
    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.guardduty = GuardDutyMembers()
        self.switches = MemberSwitches()
        self.roles = MemberRoles()
        self.denials = DenyRules()
        self.organizations = Organizations()
        self.account_regions = AccountRegions()
        self.securityhub = SecurityHub()
        self.warmed = {service for service, _ in WARM_UP}  # services moto has built
        self.first_use_lock = threading.Lock()
        self.inflight = InFlight()
        self.lock = threading.Lock()
        self.calls, self.faults = [], []
        self.wake = threading.Event()  # set to release hung requests

    def reset(self):
        moto_api_backend.reset()
        organizations_backends.master_accounts.clear()  # moto's reset leaves this map behind
        self.guardduty.reset()
        self.switches.reset()
        self.roles.reset()
        self.denials.reset()
        self.organizations.reset()
        self.account_regions.reset()
        self.securityhub.reset()
        self.inflight.reset_peak()
        with self.lock:
            self.calls, self.faults = [], []
            self.release_hung()

    def release_hung(self):
        self.wake.set()
        self.wake = threading.Event()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            request = Request(environ)
            try:
                response = self.control(request.method, path, request)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                response = json_response({"error": f"{type(e).__name__}: {e}"}, 400)
            return response(environ, start_response)
        if path.startswith("/moto-api"):
            return self.moto(environ, start_response)
        # In flight from the request's arrival until its answer is ready, before any byte of it
        # is written: the client cannot have the answer (and send its next call) earlier, so
        # the count never exceeds the client's own concurrency.
        self.inflight.enter()
        try:
            body = self.serve_aws(environ, start_response)
            try:
                answer = b"".join(body)
            finally:
                getattr(body, "close", lambda: None)()
        finally:
            self.inflight.leave()
        return [answer]

    def serve_aws(self, environ, start_response):
        started = time.perf_counter()
        req = self.read_request(environ)
        call = {"service": req.service, "operation": req.operation, "region": req.region,
                "account": req.account, "status": None, "ts": time.time()}
        if req.service == "guardduty" and req.operation in MEMBER_OPS:
            call["accountIds"] = logged_account_ids(req.operation, req.body)
        if req.service == "guardduty" and req.operation == "UpdateMemberDetectors":
            call["features"] = logged_features(req.body)
        if req.service == "sts" and req.operation == "AssumeRole":
            call["roleArn"] = req.params.get("RoleArn")
        if req.service == "account":
            # Whose regions were asked about: None = the caller's own (standalone context).
            call["accountId"] = logged_target_account(req.body)
        with self.lock:
            self.calls.append(call)
            rule = self.take_fault(req.service, req.region, req.operation)
            wake = self.wake

        def recording_start_response(status, headers, exc_info=None):
            call["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        try:
            if rule:
                call["fault"] = rule["kind"]
                response = self.apply_fault(rule, req, wake)
                if response is not None:
                    return response(environ, recording_start_response)
            app = self.dispatch(req, call)
            if rule and rule["kind"] == "lost_response":
                call["servedStatus"] = drain(app, environ)
                app = server_error(req.protocol, req.service)
            return app(environ, recording_start_response)
        finally:
            # Server-side time to serve the request (body read to response built, injected
            # delays included; the HTTP parsing and socket writes of the server are not).
            call["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)

    @staticmethod
    def read_request(environ):
        body = buffer_body(environ)
        service, region, operation, protocol = describe(environ, body)
        return AwsRequest(service, region, operation, protocol, calling_account(environ),
                          environ.get("PATH_INFO", ""), body, form_params(environ, body))

    def dispatch(self, req, call):
        """The WSGI app that answers an AWS request once no fault rule stopped it: the
        disabled-region switch, the deny rules, the other switches, then the service."""
        switched = self.switches.check_region(req)
        if switched:
            call["switch"], response = switched
            return response
        denied = self.denials.check(req)
        if denied is not None:
            call["switch"] = "denied"
            return denied
        switched = self.switches.check(req)
        if switched:
            call["switch"], response = switched
            if response is not None:
                return response
        off = self.securityhub.check(req)
        if off is not None:
            call["switch"] = "not-subscribed"
            return off
        return self.service_app(req, call)

    def service_app(self, req, call):
        """The middleware's own handler of this request, or moto."""
        refused = input_refusal(req)
        if refused is not None:
            return refused
        refused = self.roles.refusal(req)
        if refused is not None:
            call["switch"] = "missing-role"
            return refused
        if req.service == "scheduler" and req.operation == "CreateSchedule":
            refused = schedule_refusal(req)
            if refused is not None:
                return refused
        if req.service == "guardduty":
            if req.operation in MEMBER_OPS:
                return self.serve_members(req, call)
            if req.operation == "CreateDetector":
                return self.create_detector(req)
            if req.operation == "GetDetector":
                return self.get_detector(req)
            if req.operation == "DescribeOrganizationConfiguration":
                return self.serve_guardduty(req, self.guardduty.describe_organization_configuration)
        if req.service == "organizations":
            return self.organizations.app(req, self.moto)
        if req.service == "account" and req.operation == "ListRegions":
            return self.account_regions.list_regions(req, self.organizations)
        if req.service == "securityhub":
            return self.securityhub.app(req, self.first_use(req.service), call)
        return self.first_use(req.service)

    def first_use(self, service):
        """moto's app; until moto has served `service` once, one request at a time: moto
        builds a service's modules and backends on first use, and two threads doing that at
        once can fail with a circular import. Services warmed up at start need no wait; the
        others (SSM takes seconds to build) are built on their first request instead."""
        if service in self.warmed:
            return self.moto

        def app(environ, start_response):
            with self.first_use_lock:
                out = list(self.moto(environ, start_response))
                self.warmed.add(service)
                return out
        return app

    def create_detector(self, req):
        """GuardDuty CreateDetector: moto's, but one detector per account and region."""
        def app(environ, start_response):
            with DETECTOR_LOCK:
                if guardduty_backends[req.account][req.region].detectors:
                    response = aws_error(req.protocol, 400, "BadRequestException", DETECTOR_EXISTS)
                    return response(environ, start_response)
                return list(self.moto(environ, start_response))
        return app

    def get_detector(self, req):
        """GuardDuty GetDetector: moto's detector, with `features` as GuardDuty lists them:
        every feature the region offers with its status, never one it does not offer."""
        parts = req.path.split("/")
        detector_id = parts[2] if len(parts) > 2 else None
        if not owns_detector(req.account, req.region, detector_id):
            return self.moto  # moto's own answer for a detector it does not have
        detector = guardduty_backends[req.account][req.region].detectors[detector_id]
        out = detector.to_json()
        with self.guardduty.lock:
            hidden = {f for f, r in self.guardduty.unoffered if r == req.region}
        out["features"] = detector_features(detector.features, hidden)
        return json_response(out)

    def take_fault(self, service, region, operation):
        for rule in self.faults:
            if (rule["operation"] in ("*", operation) and rule["remaining"] != 0
                    and rule.get("region") in (None, region) and rule.get("service") in (None, service)):
                if rule["remaining"] is not None:
                    rule["remaining"] -= 1
                return dict(rule)
        return None

    @staticmethod
    def apply_fault(rule, req, wake):
        """The response a fault answers with before serving, or None to serve (delay, and
        lost_response, whose answer is replaced after serving)."""
        kind = rule["kind"]
        if kind == "lost_response":
            return None
        if kind == "delay":
            wake.wait(rule.get("delay_ms", 0) / 1000)
            return None
        if kind == "hang":
            wake.wait(rule.get("delay_ms", 300_000) / 1000)
        if kind == "throttle":
            return throttle_error(req.protocol, req.service)
        return server_error(req.protocol, req.service)

    @staticmethod
    def serve_guardduty(req, handler):
        """A GuardDuty operation served here: handler(caller, region, detectorId, query)."""
        parts = req.path.split("/")
        detector_id = parts[2] if len(parts) > 2 and parts[1] == "detector" else None
        try:
            return json_response(handler(req.account, req.region, detector_id, req.params))
        except ApiError as e:
            return aws_error("rest-json", e.status, e.code, e.message)

    def serve_members(self, req, call):
        parts = req.path.split("/")
        detector_id = parts[2] if len(parts) > 2 and parts[1] == "detector" else None
        try:
            payload = json.loads(req.body) if req.body.strip() else {}
            out = self.guardduty.handle(req.account, req.operation, req.region, detector_id,
                                        req.params, payload)
            if isinstance(out.get("unprocessedAccounts"), list):
                call["unprocessed"] = {u["accountId"]: u["result"] for u in out["unprocessedAccounts"]}
            return json_response(out)
        except ValueError:
            return aws_error("rest-json", 400, "BadRequestException", BAD_INPUT)
        except ApiError as e:
            return aws_error("rest-json", e.status, e.code, e.message)

    # ---- the control API

    def control(self, method, path, request):
        handler = CONTROL_ROUTES.get((method, path.rstrip("/")))
        if handler is None:
            return json_response({"error": f"no control route {method} {path}"}, 404)
        body = request.get_json(force=True, silent=True) if method in ("POST", "PUT") else None
        if not isinstance(body, dict):
            body = {}
        return json_response(handler(self, body))

    def c_health(self, body):
        return {"ok": True}

    def c_reset(self, body):
        self.reset()
        return {"reset": True}

    def c_inflight(self, body):
        return self.inflight.snapshot()

    def c_inflight_reset(self, body):
        return self.inflight.reset_peak()

    def c_add_fault(self, body):
        if body.get("kind") not in FAULT_KINDS or not isinstance(body.get("operation"), str):
            raise ValueError(f"need operation and kind in {sorted(FAULT_KINDS)}")
        rule = {"operation": body["operation"], "kind": body["kind"],
                "remaining": int(body["times"]) if body.get("times") is not None else None}
        for key in ("region", "service"):
            if body.get(key):
                rule[key] = body[key]
        if body.get("delay_ms") is not None:
            rule["delay_ms"] = int(body["delay_ms"])
        with self.lock:
            self.faults.append(rule)
        return rule

    def c_faults(self, body):
        with self.lock:
            return {"faults": [dict(r) for r in self.faults]}

    def c_clear_faults(self, body):
        with self.lock:
            self.faults = []
            self.release_hung()
        return {"faults": []}

    def c_calls(self, body):
        with self.lock:
            return {"calls": [dict(c) for c in self.calls]}

    def c_clear_calls(self, body):
        with self.lock:
            self.calls = []
        return {"calls": []}

    def c_foreign_accounts(self, body):
        return self.add_account_set(self.guardduty.foreign, body)

    def c_organization_accounts(self, body):
        return self.add_account_set(self.guardduty.organization, body)

    def add_account_set(self, target, body):
        ids = account_id_list(body.get("accountIds"))
        with self.guardduty.lock:
            target.update(ids)
            return {"accountIds": sorted(target)}

    def c_member_status(self, body):
        if not is_account_id(body.get("accountId")) or not body.get("relationshipStatus"):
            raise ValueError("need region, detectorId, a 12-digit accountId and relationshipStatus")
        account, status, email, invited_at, features = member_entry(body)
        entry = (account, status, email, invited_at, [features] if features else None)
        return self.guardduty.put_members(body["region"], body["detectorId"], [entry],
                                          body.get("administratorId"), records=True)[0]

    def c_put_members(self, body):
        if not isinstance(body.get("members"), list):
            raise ValueError("members must be a list")
        common = control_features(body) if "features" in body else None
        entries = []
        for m in body["members"]:
            account, status, email, invited_at, own = member_entry(m)
            entries.append((account, status, email, invited_at, [f for f in (common, own) if f]))
        self.guardduty.put_members(body["region"], body["detectorId"], entries, body.get("administratorId"))
        return {"count": len(entries)}

    def c_members(self, body):
        return self.guardduty.snapshot()

    def c_member_features(self, body):
        account = switch_account(body)
        if not isinstance(body.get("region"), str):
            raise ValueError("region must be a region name")
        features = control_features(body)
        for key in ("detectorId", "administratorId"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise ValueError(f"{key} must be a text")
        return self.guardduty.set_member_features(body["region"], account, features,
                                                  body.get("detectorId"), body.get("administratorId"))

    def c_organization_configuration(self, body):
        if not isinstance(body.get("region"), str) or not body["region"]:
            raise ValueError("region must be a region name")
        return self.guardduty.set_organization_configuration(body["region"], body)

    def c_unoffered(self, body):
        pairs = {(f["name"], f["region"]) for f in body["features"]}
        if not all(name in FEATURES and isinstance(region, str) for name, region in pairs):
            raise ValueError("features: [{name (a feature), region}]")
        with self.guardduty.lock:
            self.guardduty.unoffered = pairs
        return self.c_unoffered_list({})

    def c_unoffered_list(self, _body):
        with self.guardduty.lock:
            return {"features": [{"name": f, "region": r} for f, r in sorted(self.guardduty.unoffered)]}

    def c_member_limit(self, body):
        limit = int(body["limit"])
        if limit < 0:
            raise ValueError("limit must be 0 or more")
        with self.guardduty.lock:
            self.guardduty.member_limit = limit
        return {"limit": limit}

    def c_add_internal_error(self, body):
        if body.get("operation") not in INTERNAL_ERROR_OPS:
            raise ValueError(f"operation must be one of {sorted(INTERNAL_ERROR_OPS)}")
        times = int(body.get("times", 1))
        return self.guardduty.add_internal_error(body["operation"], account_id_list(body.get("accountIds")), times)

    def c_add_unprocessed(self, body):
        if body.get("operation") not in INTERNAL_ERROR_OPS:
            raise ValueError(f"operation must be one of {sorted(INTERNAL_ERROR_OPS)}")
        if not isinstance(body.get("result"), str) or not body["result"]:
            raise ValueError("result must be a non-empty text")
        times = int(body.get("times", 1))
        return self.guardduty.add_internal_error(body["operation"], account_id_list(body.get("accountIds")),
                                                 times, body["result"])

    def c_stale_status(self, body):
        if not isinstance(body.get("status"), str) or not body["status"]:
            raise ValueError("status must be a relationship status")
        return self.guardduty.add_stale_status(account_id_list(body.get("accountIds")), body["status"],
                                               int(body.get("times", 1)))

    def c_internal_errors(self, body):
        with self.guardduty.lock:
            return self.guardduty.internal_error_rules()

    def c_organization_account(self, body):
        bulk = "accounts" in body
        given = body["accounts"] if bulk else [body]
        if not isinstance(given, list):
            raise ValueError("accounts must be a list")
        specs = [organization_account_spec(s) for s in given]  # all valid before any change
        backend, accounts = self.organizations.put_accounts(specs)
        if bulk:
            return {"count": len(specs), "organizationId": backend.org.id}
        return account_json(accounts[0])

    def c_organizational_unit(self, body):
        name, parent_id = body.get("name"), body.get("parentId")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise ValueError("name must be 1-128 characters")
        if parent_id is not None and not isinstance(parent_id, str):
            raise ValueError("parentId must be a root or OU id")
        ou, created = self.organizations.put_ou(name, parent_id)
        return {"id": ou.id, "name": ou.name, "parentId": ou.parent_id, "arn": ou.arn, "created": created}

    def c_deny_assume_role(self, body):
        ids = account_id_list(body.get("accountIds"))
        reason = body.get("reason") or "trust"
        if reason not in ASSUME_ROLE_REASONS:
            raise ValueError(f"reason must be one of {sorted(ASSUME_ROLE_REASONS)}")
        with self.switches.lock:
            self.switches.deny_assume_role.update((a, reason) for a in ids)
            return {"accountIds": sorted(self.switches.deny_assume_role),
                    "reasons": dict(sorted(self.switches.deny_assume_role.items()))}

    def c_allow_assume_role(self, body):
        with self.switches.lock:
            self.switches.deny_assume_role.clear()
        return {"accountIds": [], "reasons": {}}

    def c_add_roles(self, body):
        accounts = account_id_list(body.get("accountIds")) if "accountIds" in body else [switch_account(body)]
        name = body.get("roleName")
        if not isinstance(name, str) or not ROLE_NAME.fullmatch(name):
            raise ValueError("roleName must be 1-64 characters of letters, digits and _+=,.@-")
        self.roles.add(accounts, name)
        return self.roles.snapshot()

    def c_roles(self, body):
        return self.roles.snapshot()

    def c_clear_roles(self, body):
        self.roles.reset()
        return self.roles.snapshot()

    def c_disabled_regions(self, body):
        account, regions = switch_account(body), body.get("regions")
        if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
            raise ValueError("regions must be a list of region names")
        with self.switches.lock:
            self.switches.disabled_regions[account] = set(regions)
        return {"accountId": account, "regions": sorted(set(regions))}

    def c_not_ready(self, body):
        account, times = switch_account(body), int(body.get("times", 1))
        with self.switches.lock:
            self.switches.not_ready[account] = times
        return {"accountId": account, "remaining": times}

    def c_hidden_invitations(self, body):
        account = switch_account(body)
        with self.switches.lock:
            self.switches.hidden_invitations.add(account)
        return {"accountIds": sorted(self.switches.hidden_invitations)}

    def c_detector_race(self, body):
        account, times = switch_account(body), int(body.get("times", 1))
        if times < 0:
            raise ValueError("times must be 0 or more")
        with self.switches.lock:
            self.switches.detector_race[account] = times
        return {"accountId": account, "remaining": times}

    def c_switches(self, body):
        return dict(self.switches.snapshot(), deny=self.denials.snapshot()["rules"])

    def c_deny(self, body):
        return self.denials.add(body)

    def c_deny_list(self, body):
        return self.denials.snapshot()

    def c_allow(self, body):
        self.denials.reset()
        return {"rules": []}

    def c_account_regions(self, body):
        return self.account_regions.set_regions(switch_account(body), body.get("regions"))

    def c_account_regions_list(self, body):
        return self.account_regions.snapshot()

    def c_account_delegated_admin(self, body):
        account = body.get("accountId")
        if account is not None and not is_account_id(account):
            raise ValueError("accountId must be 12 digits or null")
        if account == DEFAULT_ACCOUNT:
            raise ValueError("the management account cannot be its own delegated administrator")
        with self.account_regions.lock:
            self.account_regions.delegated_admin = account
        return {"accountId": account}

    def c_trusted_access(self, body):
        if not isinstance(body.get("enabled"), bool):
            raise ValueError("enabled must be true or false")
        with self.account_regions.lock:
            self.account_regions.trusted_access = body["enabled"]
        return {"enabled": body["enabled"]}

    def c_not_subscribed(self, body):
        return self.securityhub.set_not_subscribed(body.get("regions"))

    def c_failed_findings(self, body):
        return self.securityhub.add_failure(body)

    def c_securityhub(self, body):
        return self.securityhub.snapshot()

    def c_securityhub_rate(self, body):
        return self.securityhub.set_rate(body)

    def c_securityhub_findings(self, body):
        return self.securityhub.stored_findings()

    def c_detector(self, body):
        account = switch_account(body)
        region = body.get("region")
        if not isinstance(region, str) or not region:
            raise ValueError("region must be a region name")
        enable = body.get("enable")
        if enable is not None and not isinstance(enable, bool):
            raise ValueError("enable must be true or false")
        detector_id, created = put_detector(account, region, enable)
        detector = guardduty_backends[account][region].detectors[detector_id]
        return {"accountId": account, "region": region, "detectorId": detector_id,
                "status": "ENABLED" if detector.enabled else "DISABLED", "created": created}


def member_entry(spec):
    """(accountId, status, email, invitedAt, features or None) of a control-API member,
    validated."""
    if not isinstance(spec, dict) or not is_account_id(spec.get("accountId")):
        raise ValueError("each member needs a 12-digit accountId")
    status = spec.get("relationshipStatus")
    if not isinstance(status, str) or not status:
        raise ValueError(f"relationshipStatus of {spec['accountId']} missing")
    invited_at = parse_iso(spec["invitedAt"]) if spec.get("invitedAt") else None
    features = control_features(spec) if "features" in spec else None
    return spec["accountId"], status, spec.get("email"), invited_at, features


def control_features(body):
    """A control request's "features", validated as UpdateMemberDetectors validates them
    (lower-case keys), at least one."""
    try:
        features = validate_features(body)
    except ApiError as e:
        raise ValueError(e.message)
    if not features:
        raise ValueError("features must list at least one feature")
    return features


def switch_account(body):
    if not is_account_id(body.get("accountId")):
        raise ValueError("accountId must be 12 digits")
    return body["accountId"]


CONTROL_ROUTES = {
    ("GET", "/_emulator/health"): Emulator.c_health,
    ("POST", "/_emulator/reset"): Emulator.c_reset,
    ("GET", "/_emulator/inflight"): Emulator.c_inflight,
    ("DELETE", "/_emulator/inflight"): Emulator.c_inflight_reset,
    ("POST", "/_emulator/faults"): Emulator.c_add_fault,
    ("GET", "/_emulator/faults"): Emulator.c_faults,
    ("DELETE", "/_emulator/faults"): Emulator.c_clear_faults,
    ("GET", "/_emulator/calls"): Emulator.c_calls,
    ("DELETE", "/_emulator/calls"): Emulator.c_clear_calls,
    ("POST", "/_emulator/guardduty/foreign-accounts"): Emulator.c_foreign_accounts,
    ("POST", "/_emulator/guardduty/organization-accounts"): Emulator.c_organization_accounts,
    ("POST", "/_emulator/guardduty/member-status"): Emulator.c_member_status,
    ("POST", "/_emulator/guardduty/members"): Emulator.c_put_members,
    ("GET", "/_emulator/guardduty/members"): Emulator.c_members,
    ("POST", "/_emulator/guardduty/member-features"): Emulator.c_member_features,
    ("POST", "/_emulator/guardduty/organization-configuration"): Emulator.c_organization_configuration,
    ("POST", "/_emulator/guardduty/member-limit"): Emulator.c_member_limit,
    ("POST", "/_emulator/guardduty/unoffered"): Emulator.c_unoffered,
    ("GET", "/_emulator/guardduty/unoffered"): Emulator.c_unoffered_list,
    ("POST", "/_emulator/guardduty/internal-error"): Emulator.c_add_internal_error,
    ("GET", "/_emulator/guardduty/internal-error"): Emulator.c_internal_errors,
    ("POST", "/_emulator/guardduty/unprocessed"): Emulator.c_add_unprocessed,
    ("POST", "/_emulator/guardduty/stale-status"): Emulator.c_stale_status,
    ("GET", "/_emulator/guardduty/unprocessed"): Emulator.c_internal_errors,
    ("POST", "/_emulator/organizations/accounts"): Emulator.c_organization_account,
    ("POST", "/_emulator/organizations/ous"): Emulator.c_organizational_unit,
    ("POST", "/_emulator/sts/deny-assume-role"): Emulator.c_deny_assume_role,
    ("DELETE", "/_emulator/sts/deny-assume-role"): Emulator.c_allow_assume_role,
    ("POST", "/_emulator/iam/roles"): Emulator.c_add_roles,
    ("GET", "/_emulator/iam/roles"): Emulator.c_roles,
    ("DELETE", "/_emulator/iam/roles"): Emulator.c_clear_roles,
    ("POST", "/_emulator/member/disabled-regions"): Emulator.c_disabled_regions,
    ("POST", "/_emulator/member/not-ready"): Emulator.c_not_ready,
    ("POST", "/_emulator/member/hidden-invitations"): Emulator.c_hidden_invitations,
    ("GET", "/_emulator/member/switches"): Emulator.c_switches,
    ("POST", "/_emulator/member/detector-race"): Emulator.c_detector_race,
    ("POST", "/_emulator/deny"): Emulator.c_deny,
    ("GET", "/_emulator/deny"): Emulator.c_deny_list,
    ("DELETE", "/_emulator/deny"): Emulator.c_allow,
    ("POST", "/_emulator/guardduty/detector"): Emulator.c_detector,
    ("POST", "/_emulator/account/regions"): Emulator.c_account_regions,
    ("GET", "/_emulator/account/regions"): Emulator.c_account_regions_list,
    ("POST", "/_emulator/account/trusted-access"): Emulator.c_trusted_access,
    ("POST", "/_emulator/account/delegated-administrator"): Emulator.c_account_delegated_admin,
    ("POST", "/_emulator/securityhub/not-subscribed"): Emulator.c_not_subscribed,
    ("POST", "/_emulator/securityhub/failed-findings"): Emulator.c_failed_findings,
    ("GET", "/_emulator/securityhub"): Emulator.c_securityhub,
    ("POST", "/_emulator/securityhub/rate"): Emulator.c_securityhub_rate,
    ("GET", "/_emulator/securityhub/findings"): Emulator.c_securityhub_findings,
}


# ---------------------------------------------------------------- CLI

WARM_UP = [  # one harmless request per service the tests use most: moto builds each lazily
    ("guardduty", {"method": "GET", "path": "/detector"}),
    ("sns", {"data": "Action=ListTopics&Version=2010-03-31"}),
    ("sts", {"data": "Action=GetCallerIdentity&Version=2011-06-15"}),
    ("sqs", {"data": "{}", "headers": {"X-Amz-Target": "AmazonSQS.ListQueues"}}),
    ("organizations", {"data": "{}", "headers": {"X-Amz-Target": "AWSOrganizationsV20161128.ListRoots"}}),
]


def warm_up(emulator):
    """Build moto's per-service apps and botocore's GuardDuty routes ahead of the first test."""
    from werkzeug.test import EnvironBuilder
    rest_operation("guardduty", "GET", "/detector")
    for service, request in WARM_UP:
        headers = dict(request.get("headers", {}), Authorization=(
            f"AWS4-HMAC-SHA256 Credential=warmup/20260101/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0"))
        content_type = ("application/x-amz-json-1.0" if "X-Amz-Target" in headers
                        else "application/x-www-form-urlencoded")
        environ = EnvironBuilder(method=request.get("method", "POST"), path=request.get("path", "/"),
                                 data=request.get("data"), headers=headers,
                                 content_type=content_type).get_environ()
        b"".join(emulator.moto(environ, lambda *_: None))


class KeepAliveHandler(MotoRequestHandler):
    """Serves many requests per connection, as AWS endpoints do (HTTP/1.1 keep-alive).

    Werkzeug's development server answers every request with `Connection: close`, because it
    cannot tell where a body it did not read ends. The client then pays a new connection, and
    this server a new thread, on every call: several milliseconds a call that AWS does not
    cost. Here the whole body is read before the app runs, so the next request starts where
    this one ended, and the answer is sent with its length."""

    timeout = 120  # an idle connection's thread ends (the SDK drops idle ones after 90 s)
    # Head and body go out in two writes: with Nagle's algorithm the body would wait for the
    # client's delayed ACK of the head (40 ms on Linux) on a connection that stays open.
    disable_nagle_algorithm = True

    def parse_request(self):
        """The request line and headers. The standard library runs the headers through the
        email package's general parser, a third of this server's time on a small call."""
        self.command, self.request_version = None, self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line {self.requestline!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = http.client.HTTPMessage()
        while (line := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, colon, value = str(line, "iso-8859-1").partition(":")
            if not colon or len(line) > 65536 or len(headers) >= 100:
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad header line")
                return False
            headers[name.strip()] = value.strip()
        self.headers = headers
        connection = headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive")
        if headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(HTTPStatus.CONTINUE)
            self.end_headers()
        return True

    def run_wsgi(self):
        environ = self.environ = self.make_environ()
        try:
            buffer_body(environ)  # to its end: the next request starts right after it
            status, headers, payload = collect(self.server.app, environ)
        except self.connection_dropped_errors:
            self.close_connection = True
            return
        except Exception:  # the app failed: a 500, and the traceback on stderr
            self.server.log("error", f"Error on request {environ.get('PATH_INFO')}:\n{traceback.format_exc()}")
            status, headers, payload = "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], b"error"
            self.close_connection = True
        try:
            self.send_answer(environ, status, headers, payload)
        except self.connection_dropped_errors:
            self.close_connection = True

    def send_answer(self, environ, status, headers, payload):
        code, _, reason = status.partition(" ")
        code = int(code)
        self.send_response(code, reason)
        head = environ["REQUEST_METHOD"] == "HEAD"
        for key, value in headers:
            # A HEAD answer keeps the length of the body it describes; others get their own.
            if key.lower() in ("transfer-encoding", "connection") or (key.lower() == "content-length" and not head):
                continue
            self.send_header(key, value)
        # These answers have no body by definition: a stray byte would start the next answer.
        bodiless = head or 100 <= code < 200 or code in (204, 304)
        if not bodiless:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless:
            self.wfile.write(payload)
        self.wfile.flush()


def collect(app, environ):
    """(status, headers, body bytes) of a WSGI app's answer."""
    seen = {}
    chunks = []

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        getattr(result, "close", lambda: None)()
    return seen["status"], seen["headers"], b"".join(chunks)


class QuietHandler(KeepAliveHandler):
    def log_request(self, code="-", size="-"):
        pass


def exit_on_stdin_eof():
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    os._exit(0)


def exit_with_parent(parent):
    """A forked world ends with the fork server that made it (a killed test run leaves none)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def fork_world(app, host, handler, log_path):
    """In a fresh fork: serve a new world on a free port, stderr to the test's log; returns
    only by exiting. The child starts from the fork server's state, which never served a
    request, so it shares nothing with any other world."""
    parent, (read_end, write_end) = os.getpid(), os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    try:
        os.close(read_end)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # the fork server's replies stay the fork server's
        os.dup2(log, 2)
        server = make_server(host, 0, app, threaded=True, request_handler=handler)
        threading.Thread(target=exit_with_parent, args=(parent,), daemon=True).start()
        os.write(write_end, f"{server.server_port}\n".encode())
        os.close(write_end)
        server.serve_forever()
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(1)


def serve_forks(args, handler, replies):
    """--fork-server: moto is imported and warmed up once (about 1.4 s of CPU), then every
    `fork LOG` line on stdin forks a new emulator, answered `READY <url> <pid>`; `kill PID`
    stops one. EOF on stdin stops them all. Tests get a private world each for the price
    of a fork."""
    app = Emulator()
    warm_up(app)
    sys.setswitchinterval(0.0005)  # inherited by each world: see main
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the worlds
    gc.collect()
    gc.freeze()  # the warm heap stays shared with the worlds instead of copied into each
    replies.write("READY fork-server\n")
    replies.flush()
    worlds = set()
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "fork":
            pid, port_pipe = fork_world(app, args.host, handler, arg)
            ready, _, _ = select.select([port_pipe], [], [], 60)
            port = os.read(port_pipe, 64).decode().strip() if ready else ""
            os.close(port_pipe)
            if port:
                worlds.add(pid)
                replies.write(f"READY http://{args.host}:{port} {pid}\n")
            else:
                replies.write(f"FAILED the world (pid {pid}) did not start: see its log\n")
            replies.flush()
        elif command == "kill" and arg.isdigit() and int(arg) in worlds:
            worlds.discard(int(arg))
            os.kill(int(arg), signal.SIGKILL)
    for pid in worlds:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="keep running when stdin reaches EOF (manual runs in the background)")
    parser.add_argument("--fork-server", action="store_true",
                        help="fork a fresh emulator per `fork LOG` line on stdin (the tests)")
    args = parser.parse_args(argv)

    ready_out, sys.stdout = sys.stdout, sys.stderr  # moto may print(): keep stdout for READY
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING)
    handler = KeepAliveHandler if args.verbose else QuietHandler
    if args.fork_server:
        return serve_forks(args, handler, ready_out)
    server = make_server(args.host, args.port, Emulator(), threaded=True, request_handler=handler)

    # One Python process serves every thread: a request woken from its delay waits for the
    # interpreter lock while others run. The default hand-over every 5 ms would add that wait
    # to calls that AWS answers in their own time, whatever else it serves.
    sys.setswitchinterval(0.0005)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    if not args.ignore_stdin:
        threading.Thread(target=exit_on_stdin_eof, daemon=True).start()

    # Before READY, not beside the first requests: moto builds its services lazily, and two
    # threads importing the same moto modules at once can fail with a circular import.
    warm_up(server.app)
    ready_out.write(f"READY http://{args.host}:{server.server_port}\n")
    ready_out.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
