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
* SNS Publish with `MessageStructure: json` checked as SNS checks it, and what SNS delivers to
  the subscribers it reaches over the network (email, email-json, http, https) kept for the
  tests instead of sent (emu/sns.py);
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
* GetUsageStatistics (`POST /detector/{detectorId}/usage/statistics`): the caller's own
  detector (else NO_DETECTOR); usageStatisticsType one of the model's six, usageCriteria an
  object whose accountIds (when given) are 1-50 ids of 12 digits and features the model's
  usage features, unit USD, maxResults 1-50 (else 400 BadRequestException); SUM_BY_ACCOUNT
  answers {usageStatistics: {sumByAccount: [{accountId, total: {amount (text), unit:
  "USD"}}]}} and SUM_BY_FEATURES {usageStatistics: {sumByFeature: [{feature, total}]}} over
  the named accounts' costs seeded with POST /_emulator/guardduty/usage (an account with
  none seeded is left out), nextToken paging; the other types answer empty;
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
  POST   /_emulator/guardduty/usage          {"region", "costs": {accountId: {usage feature
                                               (FLOW_LOGS, S3_DATA_EVENTS,
                                               EC2_RUNTIME_MONITORING ...): USD}},
                                               "administratorId"?}: the last 30 days' cost
                                               GetUsageStatistics answers (merged by account)
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
  GET    /_emulator/sns/deliveries             {"deliveries": [{"protocol", "endpoint",
                                               "topicArn", "subject", "body"}]}: what SNS
                                               delivered to email, email-json, http and https
                                               subscribers (email: the text; the others: the
                                               JSON envelope), in order
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

# The code lives in testsupport/emu/, one module by service (see its __init__). This file is
# the entry point: `python testsupport/emulator.py` puts testsupport/ on sys.path.
import emu.common  # noqa: F401  (first: all of moto is imported here, in the main thread)
from emu.server import main

if __name__ == "__main__":
    main()
