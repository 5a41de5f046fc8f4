"""The loopback AWS emulator (entry point and its documentation: testsupport/emulator.py), one
module by service:

- common: moto's imports, errors, wire formats, request recognition, shared helpers
- guardduty: GuardDuty's shared rules, wordings, validation, detectors
- guardduty_admin: member relationships, the administrator's and the member's operations
- guardduty_member: the member account's view and its switches
- sts_iam: member roles and STS AssumeRole's refusal
- sns: SNS Publish and STS RoleSessionName input rules
- scheduler: EventBridge Scheduler input rules
- organizations: Organizations listings, OUs and accounts
- account: Account Management ListRegions
- security_hub: Security Hub findings
- control: the control API, deny rules, fault kinds
- middleware: the WSGI middleware (call log, faults, dispatch to the above or moto)
- server: the HTTP server, command line and fork server
"""
