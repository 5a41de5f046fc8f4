#!/usr/bin/env python3
"""Print a CloudFormation template as JSON, for tests/template.rs.

    .venv/bin/python testsupport/template_json.py template.yaml > template.json

Uses cfn-lint's own decoder (cfnlint.decode), so the short intrinsic tags (!Ref, !Sub,
!GetAtt, !If, ...) come out in their long JSON form ({"Ref": ...}, {"Fn::GetAtt": [...]})
exactly as CloudFormation and cfn-lint read them. Exit status 1 with the decoder's messages
on stderr when the file cannot be read or parsed; 2 on a usage error.
"""

import json
import sys

from cfnlint.decode import decode


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: template_json.py TEMPLATE", file=sys.stderr)
        return 2
    template, matches = decode(argv[1])
    if matches or template is None:
        for match in matches:
            print(f"template_json.py: {match}", file=sys.stderr)
        return 1
    json.dump(template, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
