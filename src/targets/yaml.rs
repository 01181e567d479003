//! The YAML text of a Sigma document, written by hand so that every string scalar is quoted.
//!
//! pySigma loads rules with PyYAML (`yaml.safe_load_all`), a YAML 1.1 reader: a bare `on`, `yes`
//! or `n` is a boolean there, `1:20` is 80 (sexagesimal), `1_000` is 1000, `2001-12-14` a date,
//! `=` and `<<` fail to load; a YAML 1.2 reader resolves other bare words. serde_yaml quotes only
//! what YAML 1.2 would misread. So every string VALUE is written quoted
//! ([`escape::yaml_string`](super::escape::yaml_string): single quotes, or double quotes with
//! escapes when a character needs one): a quoted scalar is a string in every YAML version, never
//! resolved to another type, and the reader gets exactly the string back. Mapping KEYS (Sigma's own words,
//! selection names, `Column|modifier`) stay bare when they are plainly safe (a letter, then
//! letters, digits, `_ . | -`, and not a YAML 1.1 boolean or null word), else are quoted too.
//! Layout follows serde_yaml's block style (sequences at their key's indentation), so documents
//! read as before. tests/it/oracles_escaping.rs loads every emitted file with PyYAML and compares.

use super::escape::yaml_string;
use serde_yaml::Value as Y;

/// One YAML document (no `---`), ending with a newline.
pub(super) fn document(v: &Y) -> String {
    let mut out = String::new();
    match v {
        Y::Mapping(m) if !m.is_empty() => mapping(m, 0, &mut out),
        Y::Sequence(s) if !s.is_empty() => sequence(s, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn mapping(m: &serde_yaml::Mapping, indent: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&key(k));
        out.push(':');
        value_after(v, indent, out);
    }
}

fn sequence(s: &[Y], indent: usize, out: &mut String) {
    for v in s {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match v {
            Y::Mapping(m) if !m.is_empty() => {
                // `- k: v` then the other keys under `k`.
                let mut inner = String::new();
                mapping(m, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            Y::Sequence(x) if !x.is_empty() => {
                out.push('\n');
                sequence(x, indent + 2, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// What follows `key:` at `indent`.
fn value_after(v: &Y, indent: usize, out: &mut String) {
    match v {
        Y::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            mapping(m, indent + 2, out);
        }
        Y::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            sequence(s, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Y) -> String {
    match v {
        Y::Null => "null".into(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::String(s) => yaml_string(s),
        Y::Sequence(_) => "[]".into(),
        Y::Mapping(_) => "{}".into(),
        Y::Tagged(t) => scalar(&t.value),
    }
}

fn key(k: &Y) -> String {
    match k {
        Y::String(s) if bare_key(s) => s.clone(),
        other => scalar(other),
    }
}

/// A key every YAML 1.1 and 1.2 reader reads back as this string when written bare.
fn bare_key(s: &str) -> bool {
    // YAML 1.1 bool (yaml.org/type/bool.html) and null words; every other resolver of either
    // version needs a digit, `.`, `+`, `-`, `~`, `<`, `=` or `:` first.
    const WORDS: [&str; 12] = [
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "Null", "NULL", "~",
    ];
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '|' | '-'))
        && !WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_and_keys_bare_when_safe() {
        let mut m = serde_yaml::Mapping::new();
        m.insert(Y::from("title"), Y::from("on"));
        m.insert(Y::from("on"), Y::from(1));
        let mut sel = serde_yaml::Mapping::new();
        sel.insert(
            Y::from("Image|endswith"),
            Y::Sequence(vec![Y::from("\\a"), Y::from("1:20")]),
        );
        m.insert(Y::from("detection"), Y::Mapping(sel));
        m.insert(Y::from("empty"), Y::Sequence(vec![]));
        m.insert(Y::from("missing"), Y::Null);
        assert_eq!(
            document(&Y::Mapping(m)),
            "title: 'on'\n'on': 1\ndetection:\n  Image|endswith:\n  - '\\a'\n  - '1:20'\nempty: []\nmissing: null\n"
        );
    }
}
