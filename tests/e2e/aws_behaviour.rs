//! The register of AWS behaviour (`docs/aws-behaviour.md`) cannot fall behind the code: every
//! operation the code calls has its `### <Service> <Operation>` heading, every test the
//! register names exists, every source file it names exists, and every emulator rule it names
//! is defined in the emulator (`testsupport/emulator.py` and its modules, `testsupport/emu/`).
//!
//! The operations are found twice, independently: from the names the code gives its calls
//! (`Service::X, "Operation"` and the GuardDuty helpers that name the operation), and from the
//! SDK calls themselves (the builder method a `.send()` chain starts with).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const REGISTER: &str = "docs/aws-behaviour.md";
const EMULATOR: &str = "testsupport/emulator.py";
/// The emulator's modules, one by service; the rules live there.
const EMULATOR_MODULES: &str = "testsupport/emu";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each file of `src/` without its unit tests and comment lines: the code that runs.
fn production_sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = read(&path);
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            // Comment lines blanked, so that line numbers stay the file's.
            let kept: Vec<&str> = code
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("//") {
                        ""
                    } else {
                        l
                    }
                })
                .collect();
            (path, kept.join("\n"))
        })
        .collect()
}

/// The register's name of each `Service` variant.
fn service_heading(variant: &str) -> &'static str {
    match variant {
        "GuardDuty" => "GuardDuty",
        "Organizations" => "Organizations",
        "Sns" => "SNS",
        "Sts" => "STS",
        "SecurityHub" => "Security Hub",
        "S3" => "S3",
        "Ssm" => "SSM",
        "Account" => "Account",
        "Scheduler" => "Scheduler",
        other => panic!("Service::{other} has no register section: add it to service_heading"),
    }
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn ident_at(s: &[u8], i: usize) -> (String, usize) {
    let mut j = i;
    while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
        j += 1;
    }
    (String::from_utf8_lossy(&s[i..j]).into_owned(), j)
}

/// The string literal starting at `i` (a `"`), if there is one.
fn literal_at(s: &[u8], i: usize) -> Option<String> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let end = s[i + 1..].iter().position(|&c| c == b'"')? + i + 1;
    Some(String::from_utf8_lossy(&s[i + 1..end]).into_owned())
}

/// `const NAME: &str = "value";` in a file.
fn const_value(code: &str, name: &str) -> Option<String> {
    let at = code.find(&format!("const {name}: &str = \""))?;
    let rest = &code[at..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')? + start;
    Some(rest[start..end].to_owned())
}

/// (register service, operation) of every call the code names: `Service::X, "Op"` (or a
/// constant holding it), and the GuardDuty helpers `on_detector`, `gd` and `member_gd`, which
/// name the operation as their string argument.
fn named_operations(sources: &[(PathBuf, String)]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (_, code) in sources {
        let s = code.as_bytes();
        for (at, _) in code.match_indices("Service::") {
            let (variant, after) = ident_at(s, at + "Service::".len());
            let comma = skip_ws(s, after);
            if s.get(comma) != Some(&b',') {
                continue;
            }
            let arg = skip_ws(s, comma + 1);
            let op = literal_at(s, arg).or_else(|| {
                let (name, _) = ident_at(s, arg);
                const_value(code, &name)
            });
            if let Some(op) = op {
                out.insert((service_heading(&variant).to_owned(), op));
            }
        }
        for helper in ["on_detector(", "self.gd(", "member_gd("] {
            for (at, _) in code.match_indices(helper) {
                let close = code[at..].find(')').map(|e| at + e).unwrap_or(at);
                // The operation is the call's only string literal before its first `)`.
                let args = &code[at + helper.len()..close];
                let mut quoted = args.split('"');
                if let (Some(_), Some(op), Some(_)) = (quoted.next(), quoted.next(), quoted.next())
                {
                    out.insert(("GuardDuty".to_owned(), op.to_owned()));
                }
            }
        }
    }
    out
}

/// Index of the `(` matching the `)` at `close`, skipping string literals.
fn matching_open(s: &[u8], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = close + 1;
    let mut in_string = false;
    while i > 0 {
        i -= 1;
        let c = s[i];
        if in_string {
            if c == b'"' && (i == 0 || s[i - 1] != b'\\') {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The methods of the chain ending at `end` (exclusive), rightmost first, and the receiver
/// identifier where the chain starts with a bare variable.
fn chain_before(s: &[u8], end: usize) -> (Vec<String>, String) {
    let mut methods = Vec::new();
    let mut i = end;
    loop {
        while i > 0 && s[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        let called = i > 0 && s[i - 1] == b')';
        if called {
            match matching_open(s, i - 1) {
                Some(open) => i = open,
                None => break,
            }
        }
        let mut start = i;
        while start > 0 && (s[start - 1].is_ascii_alphanumeric() || s[start - 1] == b'_') {
            start -= 1;
        }
        let name = String::from_utf8_lossy(&s[start..i]).into_owned();
        let mut dot = start;
        while dot > 0 && s[dot - 1].is_ascii_whitespace() {
            dot -= 1;
        }
        if !called || dot == 0 || s[dot - 1] != b'.' {
            return (methods, if called { String::new() } else { name });
        }
        methods.push(name);
        i = dot - 1;
    }
    (methods, String::new())
}

/// The first method called after `let [mut] var =` (the last such binding before `before`).
fn first_call_of_binding(code: &str, var: &str, before: usize) -> Option<String> {
    let head = &code[..before];
    let at = [format!("let mut {var} ="), format!("let {var} =")]
        .iter()
        .filter_map(|p| head.rfind(p.as_str()))
        .max()?;
    let s = code.as_bytes();
    let mut i = at + head[at..].find('=')? + 1;
    while i < before {
        if s[i] == b'.' {
            let (name, after) = ident_at(s, i + 1);
            if s.get(after) == Some(&b'(') && !name.is_empty() {
                return Some(name);
            }
            i = after.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The operation of every SDK call: the first builder method of each `.send()` chain.
fn sdk_operations(sources: &[(PathBuf, String)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, code) in sources {
        let s = code.as_bytes();
        for (at, _) in code.match_indices(".send()") {
            let (methods, receiver) = chain_before(s, at);
            // `client.op().x(..).send()`: the leftmost call is the operation; `req.send()`:
            // the first call of the binding `req`.
            let first = methods
                .last()
                .cloned()
                .or_else(|| first_call_of_binding(code, &receiver, at));
            let line = code[..at].lines().count();
            let file = path.strip_prefix(root()).unwrap_or(path);
            let place = format!("{}:{line}", file.display());
            let op = first.unwrap_or_else(|| panic!("{place}: no operation found for .send()"));
            out.entry(camel(&op)).or_default().push(place);
        }
    }
    out
}

fn headings(register: &str) -> BTreeSet<String> {
    register
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| h.trim().to_owned())
        .collect()
}

#[test]
fn every_operation_the_code_calls_has_its_heading_in_the_register() {
    let sources = production_sources();
    let register = read(&root().join(REGISTER));
    let heads = headings(&register);

    let named = named_operations(&sources);
    let called = sdk_operations(&sources);
    // Not vacuous: both readings find the calls that are known to be there.
    for op in [
        "CreateMembers",
        "InviteMembers",
        "AcceptAdministratorInvitation",
        "AssumeRole",
        "Publish",
        "ListRegions",
        "BatchImportFindings",
        "DescribeAccount",
    ] {
        assert!(named.iter().any(|(_, o)| o == op), "{op} not found by name");
        assert!(called.contains_key(op), "{op} not found as an SDK call");
    }
    assert!(named.len() >= 30, "only {} named calls found", named.len());
    assert!(
        called.len() >= 28,
        "only {} SDK operations found",
        called.len()
    );

    let mut missing = Vec::new();
    for (service, op) in &named {
        let heading = format!("{service} {op}");
        if !heads.contains(&heading) {
            missing.push(format!("### {heading}"));
        }
    }
    for (op, places) in &called {
        if !heads.iter().any(|h| h.ends_with(&format!(" {op}"))) {
            missing.push(format!(
                "### <Service> {op} (called at {})",
                places.join(", ")
            ));
        }
        // Each SDK call is also named for its errors, so both readings agree.
        assert!(
            named.iter().any(|(_, o)| o == op),
            "{op} is called at {} but never named with its Service",
            places.join(", ")
        );
    }
    assert!(
        missing.is_empty(),
        "{REGISTER} lacks the headings of operations the code calls:\n{}",
        missing.join("\n")
    );
}

/// The cells of every table row of the register (header and separator rows left out).
fn rows(register: &str) -> Vec<Vec<String>> {
    register
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| Rule") && !l.starts_with("|---"))
        .map(|l| {
            let inner = l.trim().trim_start_matches('|').trim_end_matches('|');
            // `\|` inside a cell is a literal bar, not a column break.
            inner
                .replace("\\|", "\u{1}")
                .split('|')
                .map(|c| c.trim().replace('\u{1}', "|"))
                .collect()
        })
        .collect()
}

fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

#[test]
fn every_test_file_and_emulator_rule_the_register_names_exists() {
    let register = read(&root().join(REGISTER));
    let emulator = emulator_sources();
    let rows = rows(&register);
    assert!(rows.len() >= 60, "only {} rows read", rows.len());
    let mut problems = Vec::new();
    for row in &rows {
        assert_eq!(row.len(), 5, "a row without 5 cells: {row:?}");
        let (code, emulated, test) = (&row[2], &row[3], &row[4]);
        for span in code_spans(code) {
            if span.starts_with("src/") && !root().join(&span).exists() {
                problems.push(format!("code {span} does not exist"));
            }
        }
        for span in code_spans(emulated) {
            if let Some(missing) = undefined_in_emulator(&emulator, &span) {
                problems.push(format!(
                    "emulator rule {missing} is not in {EMULATOR} nor {EMULATOR_MODULES}/"
                ));
            }
        }
        let spans = code_spans(test);
        if test != "none yet" && spans.len() < 2 {
            problems.push(format!("test cell {test:?} names no `file` `test`"));
        }
        for pair in spans.chunks(2) {
            if let [file, name] = pair {
                let path = root().join(file);
                // A Rust test (`fn name(`) or an emulator self-check (`def name(`).
                let defines = path.exists() && {
                    let text = read(&path);
                    text.contains(&format!("fn {name}(")) || text.contains(&format!("def {name}("))
                };
                if !defines {
                    problems.push(format!("test {file} {name} does not exist"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{REGISTER}:\n{}", problems.join("\n"));
}

/// The text of each Python file of the emulator: its entry point and every module.
fn emulator_sources() -> Vec<String> {
    let dir = root().join(EMULATOR_MODULES);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "py"))
        .collect();
    paths.sort();
    assert!(paths.len() > 1, "no emulator modules in {EMULATOR_MODULES}");
    paths.insert(0, root().join(EMULATOR));
    paths.iter().map(|path| read(path)).collect()
}

/// `Class.method`, `function`, `CONSTANT` or `Class` of the emulator, when not defined there
/// (a method in the same file as its class).
fn undefined_in_emulator(emulator: &[String], span: &str) -> Option<String> {
    let defined = |needle: String| emulator.iter().any(|file| file.contains(&needle));
    let name_like = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    let ok = match span.split_once('.') {
        Some((class, method)) if name_like(class) && name_like(method) => {
            let (class, method) = (format!("class {class}"), format!("def {method}("));
            emulator
                .iter()
                .any(|file| file.contains(&class) && file.contains(&method))
        }
        _ if !name_like(span) => return None, // an expression, e.g. a dict lookup
        _ if span
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
        {
            defined(format!("\n{span} = "))
        }
        _ if span.starts_with(|c: char| c.is_ascii_uppercase()) => defined(format!("class {span}")),
        _ => defined(format!("def {span}(")),
    };
    (!ok).then(|| span.to_owned())
}
