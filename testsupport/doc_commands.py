#!/usr/bin/env python3
"""Every command in the docs works when pasted: each fenced `sh` block of README.md and
docs/*.md is shell syntax (`bash -n`), and each `aws`, `sam` and `cargo lambda` command in it
is parsed by the CLI itself, without calling AWS.

  .venv-docs/bin/python testsupport/doc_commands.py [FILE.md ...]

Run with the docs venv (`scripts/setup-venv testsupport/requirements-docs.txt .venv-docs`,
which scripts/test makes), whose `aws`, `sam` and `cargo-lambda` are pinned there. How each
command is parsed:

- aws: run for real against a loopback port nothing listens on (`--endpoint-url`), with
  dummy credentials, one attempt and no region configured. The CLI parses the arguments,
  refuses an unknown option or a missing required one, loads every `file://` parameter
  (a path with a directory must exist in the repository; a bare name, the reader's own file,
  is given as a stub) and validates the parameters, and only then fails to connect: that
  failure ("Could not connect to the endpoint URL") is the one success. So a command
  without `--region` fails too ("You must specify a region"). Every `--option` must also be
  the option's full name: argparse would take an abbreviation, which AWS CLI v2 may not.
  PyPI has only AWS CLI v1 (the `awscli` package; v2 ships as an installer), so v1 parses;
  `--cli-binary-format`, which only v2 has, is checked for a v2 value and left out.
- sam: the SAM CLI's own click command builds its context from the arguments (unknown
  options, and `--parameter-overrides` through SAM's own parser), without running it.
- cargo lambda: cargo-lambda's argument parser with `--help` appended (it refuses an unknown
  option before it prints the help).

Shell variables and command substitutions become a placeholder value; the commands run in a
scratch directory. Exit 0 when everything parses; otherwise each failure is named with its
file and line, and the exit status is 1. A self-check first feeds each parser commands it
must refuse, so that a parser that accepts everything cannot pass.
"""

import concurrent.futures
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^( *)```sh\n(.*?)^\1```", re.S | re.M)
# Words that may come before a command's name in a command position.
PREFIX_WORDS = {"while", "until", "if", "then", "do", "else", "elif", "!", "{", "time"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PUNCTUATION = set("();<>|&")
# AWS CLI v2's values of --cli-binary-format (v1 lacks the option).
BINARY_FORMATS = {"base64", "raw-in-base64-out"}
CONNECT_FAILED = "Could not connect to the endpoint URL"
PLACEHOLDER = "placeholder"


def blocks(paths):
    """Each fenced sh block: (file, first line of its body, body without the fence's indent)."""
    for path in paths:
        text = path.read_text()
        for m in FENCE.finditer(text):
            indent = len(m.group(1))
            body = "".join(line[indent:] if line[:indent].isspace() else line
                           for line in m.group(2).splitlines(keepends=True))
            yield path.relative_to(REPO), text[:m.start(2)].count("\n") + 1, body


def logical_lines(body, first_line):
    """Lines with their backslash-newline continuations joined, each with its line number."""
    number, pending, start = first_line, "", first_line
    for line in body.splitlines():
        if not pending:
            start = number
        number += 1
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def unquoted_comment_free(line):
    """The line without a trailing comment (a `#` at a word's start, outside quotes)."""
    quote, previous = None, " "
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (previous.isspace() or previous in "(;&|"):
            return line[:i]
        previous = c
    return line


def substituted(word):
    """A word with `$(...)`, `${...}` and `$NAME` replaced by a placeholder value."""
    previous = None
    while previous != word:
        previous = word
        word = re.sub(r"\$\([^()]*\)", PLACEHOLDER, word)
    word = re.sub(r"\$\{[^}]*\}", PLACEHOLDER, word)
    return re.sub(r"\$[A-Za-z_][A-Za-z0-9_]*", PLACEHOLDER, word)


def commands(line):
    """Each `aws`, `sam` or `cargo lambda` command of a line: (tool, arguments)."""
    lexer = shlex.shlex(unquoted_comment_free(line), posix=True, punctuation_chars=True)
    lexer.commenters = ""
    lexer.whitespace_split = True
    tokens = list(lexer)
    found, at_start, i = [], True, 0
    while i < len(tokens):
        token = tokens[i]
        if token and set(token) <= PUNCTUATION:
            at_start = not set(token) <= set("<>")
            i += 1
            continue
        if at_start and (token in PREFIX_WORDS or ASSIGNMENT.match(token)):
            # An assignment's value may itself hold `$(`: the command after `(` starts anew.
            i += 1
            continue
        if at_start and token in ("aws", "sam", "cargo"):
            end = i + 1
            while end < len(tokens) and not (tokens[end] and set(tokens[end]) <= PUNCTUATION):
                end += 1
            args = [substituted(t) for t in tokens[i + 1:end]]
            if token != "cargo":
                found.append((token, args))
            elif args[:1] == ["lambda"]:
                found.append(("cargo lambda", args[1:]))
            i = end
            continue
        at_start = False
        i += 1
    return found


def shell_syntax(body):
    done = subprocess.run(["bash", "-n"], input=body, capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip()


# One AWS CLI process parses many aws commands, each through a fresh driver (the CLI's own
# entry point): importing the CLI takes a second, a command a tenth of that.
AWS_PARSE = r"""
import contextlib, io, json, re, sys
from pathlib import Path
from awscli.clidriver import create_clidriver

endpoint, scratch, repo, formats, connect_failed, commands = sys.argv[1:7]
formats = set(json.loads(formats))


def option_names(driver, args):
    words = [a for a in args if not a.startswith("-")]
    table = driver._get_command_table().get(words[0]) if words else None
    operation = table._get_command_table().get(words[1]) if table and len(words) > 1 else None
    if operation is None:
        return None
    return {f"--{n}" for n in operation.arg_table} | {f"--{n}" for n in driver._get_argument_table()}


def problem(args):
    if "--cli-binary-format" in args:
        at = args.index("--cli-binary-format")
        value = args[at + 1] if at + 1 < len(args) else None
        if value not in formats:
            return f"--cli-binary-format {value}: AWS CLI v2 takes {sorted(formats)}"
        del args[at:at + 2]
    names = option_names(create_clidriver(), args)
    unknown = [a.split("=")[0] for a in args if names and a.startswith("--") and a.split("=")[0] not in names]
    if unknown:
        return f"not an option's full name: {', '.join(unknown)}"
    for arg in args:
        for path in re.findall(r"^fileb?://(.+)$", arg):
            if "/" not in path and not (Path(repo) / path).exists():
                (Path(scratch) / path).write_text("{}")
    said = io.StringIO()
    with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
        try:
            status = create_clidriver().main(["--endpoint-url", endpoint, "--cli-connect-timeout", "1", *args])
        except SystemExit as e:  # argparse's usage errors exit
            status = e.code
    said = said.getvalue().strip()
    if status == 255 and connect_failed in said:
        return None
    return " | ".join(line for line in said.splitlines()[-3:] if line.strip()) or f"exit {status}"


# The commands come in a file: a command may read stdin (the AWS CLI does for some options).
for args in json.loads(Path(commands).read_text()):
    print(json.dumps(problem(args)), flush=True)
"""


def aws_problems(arg_lists, scratch):
    """The problem of each aws command (None: it parsed), from one AWS CLI process."""
    if not arg_lists:
        return []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=PLACEHOLDER, AWS_SECRET_ACCESS_KEY=PLACEHOLDER,
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard", AWS_EC2_METADATA_DISABLED="true",
               AWS_PAGER="")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as listed:
        json.dump(arg_lists, listed)
    done = subprocess.run([sys.executable, "-c", AWS_PARSE, endpoint, str(scratch), str(REPO),
                           json.dumps(sorted(BINARY_FORMATS)), CONNECT_FAILED, listed.name],
                          cwd=scratch, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    os.unlink(listed.name)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    if len(answers) != len(arg_lists):
        return [f"the AWS CLI parser failed: {(done.stderr or done.stdout).strip()[-500:]}"] * len(arg_lists)
    return answers


SAM_PARSE = r"""
import json, sys
import click
from samcli.cli.main import cli
for line in sys.stdin:
    args = json.loads(line)
    try:
        ctx = cli.make_context("sam", list(args))
        name, cmd, rest = cli.resolve_command(ctx, ctx.protected_args + ctx.args)
        cmd.make_context(name, rest, parent=ctx)
        print(json.dumps(None))
    except click.exceptions.ClickException as e:
        print(json.dumps(f"{type(e).__name__}: {e.format_message()}"))
    except click.exceptions.Exit:
        print(json.dumps(None))
"""


def sam_problems(arg_lists):
    """One SAM CLI process parses every sam command (its import takes seconds)."""
    if not arg_lists:
        return []
    done = subprocess.run([sys.executable, "-c", SAM_PARSE], cwd=REPO, capture_output=True, text=True,
                          input="".join(json.dumps(a) + "\n" for a in arg_lists), timeout=120)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    if len(answers) != len(arg_lists):
        return [f"the SAM CLI parser failed: {done.stderr.strip()[-500:]}"] * len(arg_lists)
    return answers


def cargo_lambda_problem(args):
    done = subprocess.run([str(BIN / "cargo-lambda"), "lambda", *args, "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    if done.returncode == 0:
        return None
    return " | ".join(done.stderr.strip().splitlines()[:2]) or f"exit {done.returncode}"


def check(items, scratch):
    """items: (where, kind, payload) with kind bash / aws / sam / cargo lambda. The problems.
    The AWS CLI parses its commands in two processes, the SAM CLI in one, the rest alongside."""
    by_kind = {kind: [(where, payload) for where, k, payload in items if k == kind]
               for kind in ("aws", "sam")}
    # The repository's files, as a reader's clone has them beside the commands.
    for entry in REPO.iterdir():
        if entry.name != ".git":
            (scratch / entry.name).symlink_to(entry)
    problems = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        batches = []
        aws = by_kind["aws"]
        for entries in (aws[::2], aws[1::2]):
            batches.append(("aws", entries, pool.submit(aws_problems, [p for _, p in entries], scratch)))
        batches.append(("sam", by_kind["sam"], pool.submit(sam_problems, [p for _, p in by_kind["sam"]])))
        singles = []
        for where, kind, payload in items:
            run = {"bash": shell_syntax, "cargo lambda": cargo_lambda_problem}.get(kind)
            if run:
                singles.append((where, kind, payload, pool.submit(run, payload)))
        for where, kind, payload, future in singles:
            if future.result():
                problems.append((where, kind, payload, future.result()))
        for kind, entries, future in batches:
            for (where, payload), problem in zip(entries, future.result()):
                if problem:
                    problems.append((where, kind, payload, problem))
    return problems


def items_of(paths):
    items = []
    for path, first, body in blocks(paths):
        items.append((f"{path}:{first}", "bash", body))
        for number, line in logical_lines(body, first):
            for tool, args in commands(line):
                items.append((f"{path}:{number}", tool, args))
    return items


# Commands each parser must refuse: a misspelled option, a missing required option, an
# abbreviated option, a bad --parameter-overrides, a shell syntax error.
MUST_FAIL = [
    ("aws", ["cloudformation", "delete-stack-set", "--region", "us-east-1"]),
    ("aws", ["ssm", "put-parameter", "--regoin", "us-east-1", "--name", "/p", "--type", "String",
             "--value", "v"]),
    ("aws", ["cloudformation", "delete-stack-set", "--region", "us-east-1", "--stack-set-nam", "s"]),
    ("aws", ["cloudformation", "delete-stack-set", "--stack-set-name", "s"]),
    ("aws", ["lambda", "invoke", "--region", "us-east-1", "--function-name", "f",
             "--cli-binary-format", "raw", "out.json"]),
    ("sam", ["deploy", "--parameter-overrides", "GuardDutyRegions us-east-1"]),
    ("sam", ["deploy", "--stack-nmae", "s"]),
    ("cargo lambda", ["invoke", "guardduty-invite", "--data-fil", "e.json"]),
    ("bash", "aws lambda invoke --payload <FunctionRoleName output> out.json\nif true; then\n"),
]
MUST_PASS = [
    ("aws", ["cloudformation", "delete-stack-set", "--region", "us-east-1", "--stack-set-name", "s"]),
    ("sam", ["deploy", "--stack-name", "s", "--parameter-overrides", "A=1", "B=2"]),
    ("cargo lambda", ["invoke", "guardduty-invite", "--data-file", "e.json"]),
]


def main(argv):
    paths = [Path(p).resolve() for p in argv] or [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    items = items_of(paths)
    self_check = [(f"self-check #{i}", kind, payload) for i, (kind, payload) in enumerate(MUST_FAIL + MUST_PASS)]
    with tempfile.TemporaryDirectory() as scratch:
        problems = check(self_check + items, Path(scratch))
    refused = {where for where, *_ in problems}
    failed = 0
    for i, (kind, payload) in enumerate(MUST_FAIL + MUST_PASS):
        must_fail = i < len(MUST_FAIL)
        if (f"self-check #{i}" in refused) != must_fail:
            failed += 1
            print(f"self-check: the {kind} parser {'accepted' if must_fail else 'refused'} {payload}",
                  file=sys.stderr)
    for where, kind, payload, problem in problems:
        if not where.startswith("self-check"):
            failed += 1
            shown = payload if kind == "bash" else " ".join([kind, *map(shlex.quote, payload)])
            print(f"{where}: {shown[:300]}\n  -> {problem}", file=sys.stderr)
    counts = {kind: sum(1 for _, k, _ in items if k == kind) for kind in ("bash", "aws", "sam", "cargo lambda")}
    print(f"doc commands: {counts['bash']} sh blocks, {counts['aws']} aws, {counts['sam']} sam, "
          f"{counts['cargo lambda']} cargo lambda commands; {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
