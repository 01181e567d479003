//! The error corpus: every file under tests/errors/ holds exactly one problem and is named after
//! the code it must produce (`E0220_unknown_field.detc`). Each file goes through the frontend
//! alone; the human rendering of its diagnostic is an insta snapshot (snapshots/errors/), so a
//! change to any message is reviewed as a diff.
//!
//! Files that need a list file or a fixture find them under tests/errors/data/.

use detc::diag::{Code, Diagnostic, Severity};
use detc::SourceFile;
use std::collections::BTreeSet;

/// Names of the grammar's rules that must never reach a user: every rule with an underscore
/// (`kw_list`, `field_path`, `json_events`, ...) plus a few single words that are not English.
fn grammar_rule_names() -> Vec<String> {
    let grammar = include_str!("../../grammar/detc.pest");
    let mut names: Vec<String> = grammar
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once('=')?;
            let name = name.trim();
            let is_rule = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && rest.trim_start().starts_with(['{', '_', '@', '$']);
            (is_rule && name.contains('_')).then(|| name.to_string())
        })
        .collect();
    names.extend(["EOI", "SOI", "ident", "ipv4", "ipv6", "expr"].map(String::from));
    assert!(
        names.len() > 40,
        "the grammar's rule names were not found ({} names)",
        names.len()
    );
    names
}

/// True when `word` occurs in `text` as a whole word (identifier characters around it differ).
fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

fn texts_of(d: &Diagnostic) -> Vec<&str> {
    let mut v = vec![d.message.as_str()];
    v.extend(d.found.as_deref());
    v.extend(d.expected.as_deref());
    v.extend(d.hints.iter().map(String::as_str));
    v
}

#[test]
fn every_invalid_file_gives_exactly_its_one_located_diagnostic() {
    let rule_names = grammar_rule_names();
    let mut codes_seen = BTreeSet::new();
    let mut files = 0;
    insta::with_settings!({snapshot_path => "../../snapshots/errors", prepend_module_to_snapshot => false}, {
        insta::glob!("..", "errors/*.detc", |path| {
            files += 1;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let code = name.split('_').next().unwrap_or_default().to_string();
            let rel = format!("tests/errors/{name}");
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| unreachable!("cannot read {rel}: {e}"));
            let fe = detc::frontend(&[SourceFile {
                path: rel.clone(),
                text: text.clone(),
            }]);
            let ds = &fe.diagnostics;
            let rendered: String = ds
                .iter()
                .map(|d| detc::diag::render_human(d, &fe.sources))
                .collect::<Vec<_>>()
                .join("\n");

            // (a) at least one diagnostic; (b) exactly one, of the file's severity: one problem
            // per file means no follow-on errors and no stray warnings either.
            assert_eq!(ds.len(), 1, "{rel}: expected exactly one diagnostic, got:\n{rendered}");
            let d = &ds[0];
            let Some(want) = Code::parse(&code).map(Code::severity) else {
                unreachable!("{rel}: `{code}` is not a diagnostic code (name the file CODE_...)")
            };
            assert_eq!(d.severity, want, "{rel}: wrong severity:\n{rendered}");
            assert!(
                fe.pack.is_none() == (want == Severity::Error),
                "{rel}: a pack must be produced exactly when there is no error"
            );
            // A warning never drops a rule: the file's rule is in the pack.
            if let Some(pack) = &fe.pack {
                assert!(
                    !text.contains("\nrule ") || !pack.rules.is_empty(),
                    "{rel}: a warning dropped the file's rule"
                );
            }

            // (c) located inside the file.
            let Some(span) = &d.span else {
                unreachable!("{rel}: diagnostic without a span:\n{rendered}")
            };
            // In the file itself, or in the list file it reads (an error in a list entry).
            let text = if span.path == rel {
                text.clone()
            } else {
                assert!(
                    span.path.starts_with("tests/errors/data/"),
                    "{rel}: span names another file: {}",
                    span.path
                );
                std::fs::read_to_string(&span.path)
                    .unwrap_or_else(|e| unreachable!("{}: {e}", span.path))
            };
            let lines = text.lines().count() as u32 + 1;
            assert!(
                span.line >= 1 && span.col >= 1 && span.line <= lines,
                "{rel}: span {}:{} is not inside the file",
                span.line,
                span.col
            );
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "{rel}: span bytes {}..{} outside the file",
                span.start,
                span.end
            );
            let line_text = text.lines().nth(span.line as usize - 1).unwrap_or("");
            assert!(
                (span.col as usize) <= line_text.chars().count() + 1,
                "{rel}: column {} is past the end of line {}",
                span.col,
                span.line
            );

            // (d) the code the file is named after.
            assert_eq!(d.code.as_str(), code, "{rel}: wrong code:\n{rendered}");
            codes_seen.insert(code.clone());

            // (e) words for people: never a grammar rule name; always what was expected.
            for t in texts_of(d) {
                for r in &rule_names {
                    assert!(
                        !contains_word(t, r),
                        "{rel}: the text {t:?} names the grammar rule `{r}`"
                    );
                }
            }
            assert!(d.expected.is_some(), "{rel}: no `expected`:\n{rendered}");
            assert!(d.found.is_some(), "{rel}: no `found`:\n{rendered}");

            insta::assert_snapshot!("diagnostic", rendered);
        });
    });
    assert!(files >= 45, "the corpus has only {files} files");
    // Every code of a rule-text problem (syntax 01xx, rules 02xx: the numbering of
    // docs/DIAGNOSTICS.md) is in the corpus. Exempt: E0199, the internal-error code, unreachable
    // by construction; E0239, a list file over 8 MiB, which the repository does not carry
    // (src/load.rs tests it on a sparse file); E0107, which only `detc fmt` reports (the file
    // checks clean; tests/fmt.rs has its case); E0293, a correlation key of two types, which no
    // two sources of today's catalogue give one field name (the check guards future sources).
    let all: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| ("0100".."0300").contains(&&c[1..]))
        .collect();
    assert!(all.len() > 30, "rule-text codes: {all:?}");
    let missing: Vec<&str> = all
        .into_iter()
        .filter(|c| !codes_seen.contains(*c) && !["E0199", "E0239", "E0107", "E0293"].contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a corpus file: {missing:?}"
    );
}
