//! The documentation's relative links resolve: every link in README.md and docs/*.md that is
//! not a URL points at a file or directory of the repository, and a link with an `#anchor`
//! points at a heading of that file (GitHub's heading ids).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every Markdown file in docs/.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![repo().join("README.md")];
    let mut in_docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("read docs/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    in_docs.sort();
    docs.extend(in_docs);
    docs
}

/// The text outside fenced code blocks and inline code, line by line (a link inside code is
/// an example, not a link).
fn prose_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop inline code spans: text between pairs of backticks.
        let mut kept = String::new();
        for (n, part) in line.split('`').enumerate() {
            if n % 2 == 0 {
                kept.push_str(part);
            }
        }
        out.push((i + 1, kept));
    }
    out
}

/// The targets of the inline links `[text](target)` and reference definitions `[x]: target`
/// in a line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        targets.push(target.trim_matches(['<', '>']).to_owned());
        rest = &after[end..];
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') {
        if let Some((_, target)) = trimmed.split_once("]: ") {
            if let Some(t) = target.split_whitespace().next() {
                targets.push(t.to_owned());
            }
        }
    }
    targets
}

fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

/// GitHub's id for a heading: lowercase; letters, digits, spaces, `-` and `_` kept, every
/// other character dropped; spaces become `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The ids of every heading of a Markdown file, with GitHub's `-1`, `-2` for repeats.
fn anchors(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let mut id = base.clone();
        let mut n = 0;
        while seen.contains(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        seen.insert(id);
    }
    seen
}

#[test]
fn every_relative_link_points_at_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("read a document");
        let name = doc
            .strip_prefix(repo())
            .unwrap_or(&doc)
            .display()
            .to_string();
        for (line_no, line) in prose_lines(&text) {
            for target in link_targets(&line) {
                if target.is_empty() || is_external(&target) {
                    continue;
                }
                checked += 1;
                let (path_part, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let file = if path_part.is_empty() {
                    doc.clone()
                } else {
                    doc.parent().unwrap_or(Path::new(".")).join(path_part)
                };
                if !file.exists() {
                    broken.push(format!("{name}:{line_no}: {target}: no such file"));
                    continue;
                }
                if let Some(anchor) = anchor {
                    if !anchors(&file).contains(anchor) {
                        broken.push(format!(
                            "{name}:{line_no}: {target}: no heading with the id {anchor:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 0, "no relative link found at all");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_sees_what_it_must() {
    assert_eq!(slug("The SNS message"), "the-sns-message");
    assert_eq!(slug("Deploy in five steps"), "deploy-in-five-steps");
    assert_eq!(
        slug("1. The main stack, in the security account"),
        "1-the-main-stack-in-the-security-account"
    );
    assert_eq!(slug("`check`: the preflight"), "check-the-preflight");
    assert_eq!(
        link_targets("see [a](docs/a.md#x) and [b](../b.md \"t\")"),
        ["docs/a.md#x", "../b.md"]
    );
    let prose = prose_lines("`[not](a link)`\n```\n[nor](this)\n```\n[but](this.md)");
    let targets: Vec<String> = prose.iter().flat_map(|(_, l)| link_targets(l)).collect();
    assert_eq!(targets, ["this.md"]);
}
