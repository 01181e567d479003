//! The language's words, read from its one definition, the grammar (`grammar/detc.pest`), so that
//! completion and the editor grammar's test cannot drift from what the parser accepts.

use std::collections::BTreeSet;

/// The grammar's text, as compiled into the parser.
const GRAMMAR: &str = include_str!("../../grammar/detc.pest");

/// Every reserved word and clause keyword: the words of the grammar's `keyword` rule (reserved:
/// never a field or list name), of its `kw_*` rules (declarations, clauses and their parts), of
/// its `*_key` rules (metadata clauses) and of `alert_word`.
pub fn keywords() -> BTreeSet<String> {
    keywords_of(GRAMMAR)
}

/// [`keywords`] of a grammar text.
pub fn keywords_of(grammar: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut current: Option<&str> = None;
    for line in grammar.lines() {
        let code = line.split("//").next().unwrap_or("");
        // A rule starts at the beginning of a line: `name = ...`; its body may go on over lines
        // that start with blanks.
        if !code.starts_with([' ', '\t']) {
            current = code.split_once('=').map(|(name, _)| name.trim());
        }
        let Some(rule) = current else { continue };
        let wanted = rule == "keyword"
            || rule == "alert_word"
            || rule.starts_with("kw_")
            || rule.ends_with("_key");
        if !wanted {
            continue;
        }
        let body = code
            .split_once('=')
            .map_or(code, |(l, r)| if l.trim() == rule { r } else { code });
        for (i, quoted) in body.split('"').enumerate() {
            if i % 2 == 1 && !quoted.is_empty() && quoted.chars().all(|c| c.is_ascii_lowercase()) {
                out.insert(quoted.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_come_from_the_rules_that_define_them() {
        let k = keywords();
        for w in [
            "and",
            "or",
            "not",
            "case",
            "else",
            "list",
            "file",
            "rule",
            "where",
            "source",
            "title",
            "status",
            "references",
            "attack",
            "timezone",
            "alerts",
            "expect",
        ] {
            assert!(k.contains(w), "{w} missing from {k:?}");
        }
        // Words of other rules are not keywords: units, JSON literals, IP classes.
        for w in ["true", "null", "s", "h", "private"] {
            assert!(!k.contains(w), "{w} is not a keyword");
        }
        let g = "keyword = _{\n    \"and\" | \"or\"\n  | \"new\"\n}\nkw_x = @{ \"x\" ~ !ident_char }\nother = { \"y\" }\n";
        assert_eq!(
            keywords_of(g).into_iter().collect::<Vec<_>>(),
            ["and", "new", "or", "x"]
        );
    }
}
