//! Names and literal spellings the emitters share: case-folding regexes, window lengths, fresh
//! column names, one-line comment text.

use super::escape;
use crate::ir::{self, Rule};
use std::collections::BTreeMap;

/// A regex (RE2 / PCRE / Python `re` / Rust `regex` syntax alike) matching `lit` under the IR's
/// case-insensitivity, ASCII-only case folding ([`crate::ir::semantics::simple_lower`]): every
/// ASCII letter becomes the class of its two cases, every other character stands for itself. No
/// `(?i)` flag is involved, so no engine can fold a non-ASCII letter (`İ`, the Kelvin sign) into
/// an ASCII one: the meaning is the same in every engine.
pub fn ascii_ci_regex(lit: &str) -> String {
    let mut out = String::new();
    for c in lit.chars() {
        if c.is_ascii_alphabetic() {
            out.push('[');
            out.push(c.to_ascii_lowercase());
            out.push(c.to_ascii_uppercase());
            out.push(']');
        } else {
            out.push_str(&escape::regex_literal(&c.to_string()));
        }
    }
    out
}

/// A regex matching any non-ASCII character. Under ASCII-only folding a value that has one never
/// equals an all-ASCII literal, whatever an engine's own case-insensitive equality does with it.
pub const NON_ASCII_REGEX: &str = "[^\\x00-\\x7F]";

/// A window length in the largest whole unit: `1d`, `1h`, `5m`, `30s`.
pub(crate) fn duration_text(secs: u64) -> String {
    for (n, u) in [(86_400, "d"), (3_600, "h"), (60, "m")] {
        if secs >= n && secs.is_multiple_of(n) {
            return format!("{}{u}", secs / n);
        }
    }
    format!("{secs}s")
}

/// Column names for the rule's computed fields, each from [`fresh_name`], in declaration order
/// (every name chosen is added to `taken`).
pub(crate) fn name_lets(
    rule: &Rule,
    columns: &BTreeMap<String, String>,
    taken: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for l in &rule.lets {
        let n = fresh_name(&l.name, columns, taken);
        taken.push(n.clone());
        out.insert(l.name.clone(), n);
    }
    out
}

/// Picks a name for a computed column that no table column (case-insensitively) and no name in
/// `taken` already uses: `name`, else `name_computed`, `name_computed2`, ...
pub(crate) fn fresh_name(
    name: &str,
    columns: &BTreeMap<String, String>,
    taken: &[String],
) -> String {
    let clash = |n: &str| {
        columns.keys().any(|c| c.eq_ignore_ascii_case(n))
            || taken.iter().any(|t| t.eq_ignore_ascii_case(n))
    };
    if !clash(name) {
        return name.to_string();
    }
    let mut i = 1;
    loop {
        let cand = if i == 1 {
            format!("{name}_computed")
        } else {
            format!("{name}_computed{i}")
        };
        if !clash(&cand) {
            return cand;
        }
        i += 1;
    }
}

/// A one-line version of free text for comments: every character a reader could take as a line
/// break ([`ir::breaks_line`]: controls, U+0085, U+2028, U+2029) becomes a space, so nothing can
/// end a comment early. (The checker refuses such titles, E0208; this is defence in depth for an
/// IR built another way.)
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if ir::breaks_line(c) { ' ' } else { c })
        .collect()
}
