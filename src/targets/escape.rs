//! One escaping function per target language. Every value that reaches a query goes through one
//! of these, so a value with quotes, backslashes, pipes or newlines stays one literal.
//! tests/it/escaping.rs parses the literals back out of emitted queries for a hostile corpus.

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

/// A quoted YAML scalar holding exactly `s`, for YAML 1.1 (PyYAML) and YAML 1.2 readers alike: a
/// quoted scalar is a string in both, never resolved to a boolean, number, date or null.
/// Single-quoted (`'` doubled, nothing else special, so `\` reads as itself) when every
/// character stands for itself; else double-quoted, with `"` and `\` escaped and so every
/// character a reader would not keep as itself: controls (C0, DEL, C1 including U+0085, which
/// YAML 1.1 reads as a line break), the line and paragraph separators U+2028 / U+2029 (line
/// breaks in YAML 1.1, folded inside quotes), U+FEFF (a byte order mark) and U+FFFE / U+FFFF (not
/// printable for PyYAML's reader). Escapes are `\t \n \r`, `\xHH` and `\uHHHH`, which both
/// YAML versions define.
pub fn yaml_string(s: &str) -> String {
    let raw = |c: char| {
        let n = c as u32;
        (0x20..0x7f).contains(&n)
            || (n >= 0xa0
                && !matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ))
    };
    let mut out = String::with_capacity(s.len() + 2);
    if s.chars().all(raw) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
        return out;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if raw(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{:04x}", c as u32)),
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
/// Newlines and other controls are written as escapes, so the pattern stays on one line: the
/// two-digit `\xHH` form (every control character is below U+0100), which RE2, Rust, PCRE and
/// Python's `re` all accept (`re` rejects the braced `\x{1b}`).
pub fn regex_literal(s: &str) -> String {
    let mut out = String::new();
    for c in regex::escape(s).chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Every keyword of Kusto.Language 12.4.1 that has the shape of a plain identifier
/// (`SyntaxFacts.Keywords`, the list the oracle prints: oracles/kusto/check.js with
/// `"keywords": true`), plus the literals `true` / `false` and the words `not`, `case`, `iff`,
/// `matches`. Kusto's "Entity names" docs
/// (https://learn.microsoft.com/kusto/query/schema-entities/entity-names, "Reference identifiers
/// in queries"): an identifier that is a language keyword or a literal must be written `['...']`.
/// tests/it/oracles_escaping.rs checks that Kusto.Language accepts every one of them, bracketed, as
/// a computed-field and an aggregate name.
const KQL_KEYWORDS: &str = "
__contextual_datatable __crossCluster __crossDB __executeAndCache __id __isFuzzy
__noWithSource __packedColumn __partitionby __projectAway __sourceColumnIndex access
accumulate alias and anomalychart areachart as asc bagexpansion barchart best_effort
between bin bin_legacy bool boolean by byte cachingpolicy callout cancel card case char
columnchart consume contains contains_cs containscs count cycles database dataexport
dataformat datascope datatable date datetime datetime_pattern decimal declare decodeblocks
default desc distinct double dynamic earliest edges encodingpolicy endswith endswith_cs
entity_group evaluate expandoutput extend extent_tags_retention external_data externaldata
facet false filter find first flags float force_remote fork from getschema graph guid
harddelete hardretention has has_all has_any has_cs hasprefix hasprefix_cs hassuffix
hassuffix_cs hotcache id iff in inline_external_table int int16 int32 int64 int8 invoke
isfuzzy join journal kind ladderchart last latest let like likecs limit linechart long
lookup matches materialize mdm missing mvapply mvexpand nodes nooptimization not
notcontains notcontainscs notlike notlikecs null nulls of on optional or order others
output pack parse partition pathformat pattern piechart pivotchart plotly print project
queries query_parameters query_results range real reduce regex relaxed render restrict
restricted_view_access row_level_security rowstore rowstore_references rowstore_sealinfo
rowstorepolicy rowstores sample scan scatterchart seal seals search serialize set shards
simple softdelete softretention sort sql stackedareachart startswith startswith_cs
statistics step storedqueryresultcontainers string summarize tablepurge take time
timechart timeline timepivot timespan title to top toscalar totable treemap true typeof
uint uint16 uint32 uint64 uint8 ulong union uniqueid unrestrictedviewers uuid verbose view
viewers views where with with_itemindex with_match_id with_node_id with_source
with_step_name withsource writeaheadlog
";

/// A KQL identifier: bare when it is a plain name that is not a keyword ([`KQL_KEYWORDS`], any
/// case), else `['...']`.
pub fn kql_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain
        && !KQL_KEYWORDS
            .split_whitespace()
            .any(|k| k.eq_ignore_ascii_case(s))
    {
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
    fn yaml_strings_are_always_quoted() {
        assert_eq!(yaml_string("on"), "'on'");
        assert_eq!(yaml_string("it's \\a"), "'it''s \\a'");
        assert_eq!(
            yaml_string("a\"\n\u{85}\u{2028}\u{1b}\\"),
            "\"a\\\"\\n\\x85\\u2028\\x1b\\\\\""
        );
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
