//! One escaping function per target language. Every value that reaches a query goes through one
//! of these, so a value with quotes, backslashes, pipes or newlines stays one literal.
//! tests/escaping.rs parses the literals back out of emitted queries for a hostile corpus.

/// A KQL double-quoted string literal. Kusto's string docs: the backslash escapes the enclosing
/// quote, `\t`, `\n` and itself; `\n` and `\r` must not appear raw in a quoted literal.
pub fn kql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An SPL double-quoted string (eval/where expressions and search values): backslash escapes
/// `"` and itself. Other characters, newlines included, stand for themselves inside quotes.
pub fn spl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Sigma string value for a plain, `contains`, `startswith` or `endswith` position: `*` and `?`
/// are wildcards and the backslash escapes them and itself (Sigma rules spec, "Escaping"), so each
/// is written escaped. YAML quoting is left to the YAML serializer.
pub fn sigma_plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '*' | '?' | '\\' => {
                out.push('\\');
                out.push(c)
            }
            c => out.push(c),
        }
    }
    out
}

/// A regular expression matching exactly `s` (RE2 / Rust syntax, also valid PCRE and Python re).
/// Newlines and other controls are written as escapes, so the pattern stays on one line.
pub fn regex_literal(s: &str) -> String {
    let mut out = String::new();
    for c in regex::escape(s).chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A KQL identifier: bare when it is a plain name that is not a keyword, else `['...']`.
pub fn kql_ident(s: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "not",
        "in",
        "by",
        "on",
        "let",
        "where",
        "count",
        "has",
        "contains",
        "between",
        "true",
        "false",
        "null",
        "case",
        "iff",
        "extend",
        "project",
        "summarize",
        "as",
        "with",
        "to",
        "of",
        "take",
        "limit",
        "sort",
        "order",
        "asc",
        "desc",
        "matches",
        "regex",
        "startswith",
        "endswith",
        "typeof",
        "datatable",
        "range",
        "print",
        "set",
        "declare",
    ];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain && !KEYWORDS.contains(&s.to_ascii_lowercase().as_str()) {
        s.to_string()
    } else {
        let mut out = String::from("['");
        for c in s.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push_str("']");
        out
    }
}

/// An SPL field name in eval/where: bare when plain, else in single quotes.
pub fn spl_field(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kql_escapes_quotes_backslashes_and_newlines() {
        assert_eq!(kql_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }

    #[test]
    fn sigma_escapes_wildcards() {
        assert_eq!(sigma_plain("a*b?c\\d"), "a\\*b\\?c\\\\d");
    }

    #[test]
    fn regex_literal_matches_only_itself() {
        let s = "a.b*c(d)|e\\f\ng";
        let re = regex::Regex::new(&format!("^{}$", regex_literal(s)));
        assert!(re.as_ref().is_ok_and(|r| r.is_match(s)));
        assert!(re.as_ref().is_ok_and(|r| !r.is_match("aXb*c(d)|e\\f\ng")));
    }

    #[test]
    fn identifiers() {
        assert_eq!(kql_ident("protocol"), "protocol");
        assert_eq!(kql_ident("count"), "['count']");
        assert_eq!(spl_field("All_Traffic.src"), "'All_Traffic.src'");
    }
}
