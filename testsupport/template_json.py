#!/usr/bin/env python3
"""Print a CloudFormation template as JSON, or IAM actions' resource types, for tests/e2e/template.rs.

    .venv/bin/python testsupport/template_json.py template.yaml > template.json
    .venv/bin/python testsupport/template_json.py template.yaml deploy/*.yaml
    .venv/bin/python testsupport/template_json.py --resource-types guardduty:GetDetector ...

Uses cfn-lint's own decoder (cfnlint.decode), so the short intrinsic tags (!Ref, !Sub,
!GetAtt, !If, ...) come out in their long JSON form ({"Ref": ...}, {"Fn::GetAtt": [...]})
exactly as CloudFormation and cfn-lint read them; with several templates, one JSON object
of them by the paths given (one Python start for all). Exit status 1 with the decoder's
messages on stderr when a file cannot be read or parsed; 2 on a usage error.

--resource-types prints {action: [resource type, ...]} from cfn-lint's copy of the Service
Authorization Reference (cfnlint/data/AdditionalSpecs/Policies.json, the data its rule I3510
checks statements against): an empty list for an action without a resource type (only
Resource "*" matches it), null for an action the reference does not know.
"""

import json
import sys

from cfnlint.data import AdditionalSpecs
from cfnlint.decode import decode
from cfnlint.helpers import load_resource


def resource_types(actions: list[str]) -> dict[str, list[str] | None]:
    policies = load_resource(AdditionalSpecs, "Policies.json")
    out: dict[str, list[str] | None] = {}
    for action in actions:
        service, _, name = action.partition(":")
        entry = policies.get(service.lower(), {}).get("Actions", {}).get(name.lower())
        out[action] = None if entry is None else sorted(entry.get("Resources", []))
    return out


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "--resource-types":
        json.dump(resource_types(argv[2:]), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if len(argv) < 2:
        print("usage: template_json.py TEMPLATE... | --resource-types ACTION...", file=sys.stderr)
        return 2
    templates = {}
    for path in argv[1:]:
        template, matches = decode(path)
        if matches or template is None:
            for match in matches:
                print(f"template_json.py: {path}: {match}", file=sys.stderr)
            return 1
        templates[path] = template
    out = templates[argv[1]] if len(argv) == 2 else templates
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
