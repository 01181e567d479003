//! docs/DIAGNOSTICS.md documents every code: each `"E0123"` / `"W0123"` literal in src/ has a
//! `### E0123` section, no section is for a code that no longer exists, and every example taken
//! from the error corpus is the corpus's current output (its snapshot).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const DOC: &str = include_str!("../../docs/DIAGNOSTICS.md");

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `"E0123"` or `"W0123"` string literal in the sources.
fn codes_in_src() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    assert!(files.len() > 10, "src/ not found");
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let b = text.as_bytes();
        for i in 0..b.len().saturating_sub(6) {
            if b[i] == b'"'
                && matches!(b[i + 1], b'E' | b'W')
                && b[i + 2..i + 6].iter().all(u8::is_ascii_digit)
                && b[i + 6] == b'"'
            {
                out.insert(text[i + 1..i + 6].to_string());
            }
        }
    }
    out
}

fn codes_in_doc() -> BTreeSet<String> {
    DOC.lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn every_code_in_src_is_documented_and_no_other() {
    let src = codes_in_src();
    let doc = codes_in_doc();
    let undocumented: Vec<&String> = src.difference(&doc).collect();
    let stale: Vec<&String> = doc.difference(&src).collect();
    assert!(
        undocumented.is_empty(),
        "codes used in src/ but not documented in docs/DIAGNOSTICS.md (add a `### CODE` section \
         with meaning, example and fix): {undocumented:?}"
    );
    assert!(
        stale.is_empty(),
        "docs/DIAGNOSTICS.md documents codes that src/ no longer uses: {stale:?}"
    );
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
