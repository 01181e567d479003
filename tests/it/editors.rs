//! The editor support under editors/: the TextMate grammar is valid, its patterns compile, and
//! its keywords are exactly the language's (read from the grammar by `detc::lsp::words`, as the
//! language server completes them); the VS Code extension registers the language, the grammar
//! and the server.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn json(path: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid JSON: {e}"))
}

/// Every pattern object of a TextMate grammar, depth first.
fn patterns(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            if m.contains_key("match") || m.contains_key("begin") {
                out.push(v.clone());
            }
            m.values().for_each(|x| patterns(x, out));
        }
        Value::Array(xs) => xs.iter().for_each(|x| patterns(x, out)),
        _ => {}
    }
}

/// The words of a `\b(?:a|b|c)\b` alternation.
fn words(regex: &str) -> Vec<String> {
    let Some(inner) = regex
        .strip_prefix("\\b(?:")
        .and_then(|r| r.split_once(")\\b"))
        .map(|(w, _)| w)
    else {
        return Vec::new();
    };
    inner.split('|').map(str::to_string).collect()
}

#[test]
fn the_textmate_grammar_is_valid_and_has_the_languages_keywords() {
    let g = json("editors/vscode/syntaxes/detc.tmLanguage.json");
    assert_eq!(g["scopeName"], "source.detc");
    let mut all = Vec::new();
    patterns(&g["repository"], &mut all);
    assert!(all.len() > 10, "{all:?}");
    // Every include names a repository entry.
    let mut includes = Vec::new();
    for p in g["patterns"].as_array().expect("top-level patterns") {
        let name = p["include"].as_str().expect("an include");
        includes.push(name.to_string());
        assert!(
            g["repository"][name.trim_start_matches('#')].is_object(),
            "{name} is not in the repository"
        );
    }
    // Every regex compiles (the patterns use only what both Oniguruma and `regex` read), and
    // every pattern has a scope name or captures.
    let mut keywords = BTreeSet::new();
    for p in &all {
        for key in ["match", "begin", "end"] {
            if let Some(r) = p[key].as_str() {
                regex::Regex::new(r).unwrap_or_else(|e| panic!("{r}: {e}"));
            }
        }
        assert!(p["name"].is_string() || p["captures"].is_object(), "{p}");
        if p["name"].as_str().is_some_and(|n| n.starts_with("keyword")) {
            keywords.extend(words(p["match"].as_str().unwrap_or("")));
        }
    }
    let language: BTreeSet<String> = detc::lsp::words::keywords();
    let missing: Vec<_> = language.difference(&keywords).collect();
    let extra: Vec<_> = keywords.difference(&language).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the TextMate grammar's keywords differ from grammar/detc.pest's: missing {missing:?}, not keywords {extra:?}"
    );
}

#[test]
fn the_vscode_extension_registers_the_language_grammar_and_server() {
    let p = json("editors/vscode/package.json");
    let lang = &p["contributes"]["languages"][0];
    assert_eq!(lang["id"], "detc");
    assert_eq!(lang["extensions"][0], ".detc");
    let grammar = &p["contributes"]["grammars"][0];
    assert_eq!(grammar["language"], "detc");
    assert_eq!(grammar["scopeName"], "source.detc");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode");
    for file in [
        grammar["path"].as_str().unwrap_or(""),
        lang["configuration"].as_str().unwrap_or(""),
        p["main"].as_str().unwrap_or(""),
    ] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
    json("editors/vscode/language-configuration.json");
    assert!(p["dependencies"]["vscode-languageclient"].is_string());
    let main = std::fs::read_to_string(dir.join("extension.js")).expect("extension.js");
    assert!(main.contains("args: [\"lsp\"]") && main.contains("vscode-languageclient/node"));
}
