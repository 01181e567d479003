//! Syntax errors in words: pest's "expected rule_x" becomes "expected a clause (title, where,
//! ...)", with what was found at that point and a hint where one can be guessed.

use super::Rule;
use crate::diag::{nearest, Diagnostic, Span};
use pest::error::{ErrorVariant, InputLocation};

/// Clause keywords, for did-you-mean on a misspelled clause.
pub const CLAUSE_WORDS: &[&str] = &[
    "id",
    "title",
    "description",
    "author",
    "date",
    "modified",
    "status",
    "severity",
    "confidence",
    "attack",
    "references",
    "falsepositives",
    "tags",
    "source",
    "where",
    "let",
    "window",
    "group",
    "aggregate",
    "having",
    "test",
];

const OPERATOR_WORDS: &[&str] = &[
    "in",
    "in~",
    "startswith",
    "startswith~",
    "endswith",
    "endswith~",
    "contains",
    "contains~",
    "matches",
    "matches~",
    "is",
    "exists",
    "missing",
    "not",
];

/// The human name of a grammar rule, as it appears in "expected ...".
pub fn describe(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        file | EOI => "end of file",
        list_decl => "a list declaration (`list name: type = [...]`)",
        rule_decl => "a rule (`rule name { ... }`)",
        kw_list => "`list`",
        kw_rule => "`rule`",
        list_type => "a list type (port, int, string, cidr or ip)",
        list_file => "`file(\"path\")`",
        kw_file => "`file(\"path\")`",
        meta_str | meta_str_key | meta_list | meta_list_key | meta_sym | meta_sym_key
        | meta_attack | kw_attack | source_clause | kw_source | where_clause | kw_where
        | let_clause | kw_let | window_clause | kw_window | group_clause | kw_group
        | aggregate_clause | kw_aggregate | having_clause | kw_having | test_clause | kw_test => {
            "a clause (id, title, description, author, date, status, severity, confidence, attack, \
             references, falsepositives, tags, source, where, let, window, group by, aggregate, \
             having, test)"
        }
        attack_id => "an ATT&CK id such as T1071.003 or AN0379",
        case_arm => "a case arm (`condition => value`)",
        else_arm | kw_else => "`else => value`",
        kw_case => "`case`",
        kw_by => "`by`",
        agg_def => "an aggregate (`name = count()`)",
        schema_ref | kw_schema => "`schema NAME`",
        schema_name => "an input schema name (sysmon, defender, zeek-conn)",
        kw_events => "`events \"file\"` or `events [ {...} ]`",
        kw_expect => "`expect`",
        expectation | no_alert | count_alerts | kw_no => {
            "an expectation (`no alert`, `1 alert`, `3 alerts`)"
        }
        alert_word => "`alert` or `alerts`",
        alert_map => "an expected alert (`{ key: value, ... }`)",
        alert_kv => "`key: value`",
        json_events => "a JSON array of event objects",
        json_object => "a JSON object",
        json_member => "a JSON member (`\"key\": value`)",
        json_value | json_array | json_number => "a JSON value",
        json_string => "a JSON string",
        expr | and_expr | not_expr => "a condition",
        predicate => "a condition (`field op value`)",
        kw_or => "`or`",
        kw_and => "`and`",
        kw_not | negation => "`not`",
        eq_pred | eq_op | in_pred | in_op | str_pred | str_op | regex_pred | regex_op | is_pred
        | kw_is | exists_pred | kw_exists | missing_pred | kw_missing | cmp_pred | cmp_op => {
            "an operator (==, =~, !=, !~, in, in~, not in, startswith, endswith, contains, matches, \
             is, exists, missing, <, <=, >, >=)"
        }
        field_path => "a field name (e.g. remote.port)",
        list_literal => "a list (`[a, b]`)",
        string_list => "a list of strings (`[\"a\", \"b\"]`)",
        string | str_inner | raw_inner => "a string (`\"text\"`)",
        cidr => "a CIDR block",
        ip | ipv4 | ipv6 => "an IP address",
        size => "a size (e.g. 50MB)",
        duration => "a duration (e.g. 1h)",
        integer => "an integer",
        symbol => "a value",
        ident => "a name",
        _ => return None,
    })
}

/// What is at `pos`: a word, a quoted string start, an operator, or end of file.
fn found_at(text: &str, pos: usize) -> String {
    let rest = &text[pos.min(text.len())..];
    let Some(c) = rest.chars().next() else {
        return "end of file".to_string();
    };
    if c == '\n' || c == '\r' {
        return "end of line".to_string();
    }
    let tok: String = if c.is_alphanumeric() || c == '_' {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '~'))
            .collect()
    } else if "=!<>~".contains(c) {
        rest.chars().take_while(|c| "=!<>~".contains(*c)).collect()
    } else {
        c.to_string()
    };
    format!("`{tok}`")
}

pub fn syntax_error(path: &str, text: &str, e: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let found = found_at(text, pos);
    let mut expected: Vec<&'static str> = Vec::new();
    let mut positives: Vec<Rule> = Vec::new();
    if let ErrorVariant::ParsingError { positives: p, .. } = &e.variant {
        positives = p.clone();
        for r in p {
            if let Some(d) = describe(*r) {
                if !expected.contains(&d) {
                    expected.push(d);
                }
            }
        }
    }
    let word = found.trim_matches('`');
    let end = (pos
        + if found.starts_with('`') {
            word.len()
        } else {
            0
        })
    .min(text.len());
    let mut d = Diagnostic::error("E0100", format!("unexpected {found}"))
        .at(Span::from_offsets(path, text, pos, end))
        .found(found.clone());
    if !expected.is_empty() {
        d = d.expected(join_or(&expected));
    }
    let wants_clause = positives.iter().any(|r| {
        matches!(
            r,
            Rule::meta_str_key | Rule::kw_where | Rule::kw_source | Rule::test_clause
        )
    });
    let wants_operator = positives
        .iter()
        .any(|r| matches!(r, Rule::eq_op | Rule::in_op | Rule::cmp_op));
    if wants_clause {
        if let Some(n) = nearest(word, CLAUSE_WORDS.iter().copied()) {
            d = d.hint(format!("did you mean `{n}`?"));
        }
    }
    if wants_operator {
        if let Some(n) = nearest(word, OPERATOR_WORDS.iter().copied()) {
            d = d.hint(format!("did you mean `{n}`?"));
        } else if word == "=" {
            d = d.hint("equality is `==` (exact case) or `=~` (any case)");
        }
    }
    if unclosed_quote_on_line(text, pos) {
        d = d.hint("a string is missing its closing quote on this line");
    }
    if found == "end of file" && text.matches('{').count() > text.matches('}').count() {
        d = d.hint("a `{` is not closed: add the missing `}`");
    }
    d
}

/// True when the line holding `pos` has an odd number of unescaped double quotes.
fn unclosed_quote_on_line(text: &str, pos: usize) -> bool {
    let pos = pos.min(text.len());
    let start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = text[pos..]
        .find('\n')
        .map(|i| pos + i)
        .unwrap_or(text.len());
    let line = &text[start..end];
    let mut n = 0;
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (true, _) => esc = false,
            (false, '\\') => esc = true,
            (false, '"') => n += 1,
            _ => {}
        }
    }
    n % 2 == 1
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        _ => {
            let (last, rest) = items.split_last().unwrap_or((&"", &[]));
            format!("{} or {}", rest.join(", "), last)
        }
    }
}
