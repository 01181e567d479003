//! docs/DIAGNOSTICS.md documents every code: each variant of `detc::diag::Code` has a
//! `### E0123` entry, every entry is for a variant (once), and every example taken from the
//! error corpus is the corpus's current output (its snapshot).

use detc::diag::{code, Code};
use std::collections::BTreeSet;

const DOC: &str = include_str!("../../docs/DIAGNOSTICS.md");

#[test]
fn every_code_is_documented_and_no_other() {
    let undocumented: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| c.doc_entry().is_none())
        .map(|c| c.as_str())
        .collect();
    assert!(
        undocumented.is_empty(),
        "codes of detc::diag::Code not documented in docs/DIAGNOSTICS.md (add a `### CODE` \
         section with meaning, example and fix): {undocumented:?}"
    );
    let documented = code::documented();
    let stale: Vec<&str> = documented
        .iter()
        .copied()
        .filter(|c| Code::parse(c).is_none())
        .collect();
    assert!(
        stale.is_empty(),
        "docs/DIAGNOSTICS.md documents codes that src/diag/code.rs does not declare: {stale:?}"
    );
    let distinct: BTreeSet<&str> = documented.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        documented.len(),
        "a code has two entries in docs/DIAGNOSTICS.md"
    );
    // The enum is declared in document order, section by section.
    let declared: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(declared, documented);
}

#[test]
fn corpus_examples_match_the_corpus_snapshots() {
    let mut checked = 0;
    let mut rest = DOC;
    while let Some(at) = rest.find("```text\n") {
        let body_start = at + "```text\n".len();
        let Some(len) = rest[body_start..].find("\n```") else {
            break;
        };
        let body = &rest[body_start..body_start + len];
        rest = &rest[body_start + len..];
        let Some(file) = body
            .strip_prefix("tests/errors/")
            .and_then(|b| b.split_once(':'))
            .map(|(f, _)| f)
        else {
            continue;
        };
        let snap = format!("snapshots/errors/diagnostic@{file}.snap");
        let text = std::fs::read_to_string(&snap)
            .unwrap_or_else(|e| unreachable!("{snap} (named by DIAGNOSTICS.md): {e}"));
        let rendered = text.splitn(3, "---\n").nth(2).unwrap_or_default();
        assert_eq!(
            body.trim_end(),
            rendered.trim_end(),
            "the DIAGNOSTICS.md example for {file} is not the current output"
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} corpus examples found");
}
