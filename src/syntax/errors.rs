//! Syntax errors in words: pest's "expected rule_x" becomes "expected a clause (title, where,
//! ...)", with what was found at that point and a hint where one can be guessed.

use super::Rule;
use crate::diag::{nearest, Code, Diagnostic, Span};
use pest::error::{ErrorVariant, InputLocation};
use std::borrow::Cow;

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
    "targets",
    "platform",
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
pub fn describe(rule: Rule) -> Option<Cow<'static, str>> {
    use Rule::*;
    if rule == schema_name {
        return Some(Cow::Owned(format!(
            "an input schema name ({})",
            crate::registry::INPUT_NAMES.join(", ")
        )));
    }
    Some(Cow::Borrowed(match rule {
        file | EOI => "end of file",
        list_decl => "a list declaration (`list name: type = [...]`)",
        rule_decl => "a rule (`rule name { ... }`)",
        kw_list => "`list`",
        kw_rule => "`rule`",
        list_type => "a list type (port, int, string, cidr or ip)",
        list_file => "`file(\"path\")`",
        kw_file => "`file(\"path\")`",
        meta_str | meta_str_key | meta_list | meta_list_key | meta_sym | meta_sym_key
        | meta_attack | kw_attack | source_clause | kw_source | targets_clause | kw_targets
        | platform_clause | kw_platform
        | where_clause | kw_where
        | let_clause | kw_let | window_clause | kw_window | group_clause | kw_group
        | aggregate_clause | kw_aggregate | having_clause | kw_having | test_clause | kw_test | timezone_clause | kw_timezone
        | correlate_clause | kw_correlate | entities_clause | kw_entities | schedule_clause | kw_schedule | suppress_clause | kw_suppress => {
            "a clause (id, title, description, author, date, status, severity, confidence, attack, \
             references, falsepositives, tags, source, platform, targets, where, let, window, group by, \
             aggregate, having, timezone, correlate, entities, schedule, suppress, test)"
        }
        entity_binding => "an entity (`kind: field`, e.g. `host: host`)",
        schedule_part | kw_every | kw_delay => "`every DURATION` or `delay DURATION`",
        target_name => "a target name (see `detc targets`)",
        corr_within | kw_within => "`within DURATION`",
        corr_by => "`by field, ...`",
        kw_ordered => "`ordered`",
        corr_step => "a correlation step (`name: source where condition`)",
        attack_id => "an ATT&CK id such as T1071.003 or AN0379",
        case_arm => "a case arm (`condition => value`)",
        else_arm | kw_else => "`else => value`",
        kw_case => "`case`",
        kw_by => "`by`",
        agg_def => "an aggregate (`name = count()`)",
        schema_ref | kw_schema => "`schema NAME`",
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
        comparison => "a comparison of two values (`bytes.sent > 20 * bytes.received`)",
        rel_op => "a comparison operator (==, !=, <, <=, >, >=)",
        value_sum | value_product | value_atom => {
            "a value (a numeric field, an aggregate, a number, a size or a duration)"
        }
        add_op | mul_op => "an arithmetic operator (+, -, *, /)",
        utc_offset => "a UTC offset (`+02:00`, `-05:00`)",
        time_call => "a time function (`hour(time)`, `weekday(time)`)",
        value_in => "a value in a list (`weekday(time) in [sat, sun]`)",
        kw_in => "`in`",
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
    }))
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

const VALUE_WORDS: &str = "a value (a string, number, size like 50MB, duration like 1h, IP \
                           address, CIDR block, or a word like `outbound`)";

/// Punctuation worth naming in "expected ...": closers and separators a user forgets.
const PUNCTUATION: &[&str] = &["}", ")", "]", "=>", ":", "=", ","];

pub fn syntax_error(path: &str, text: &str, e: &pest::error::Error<Rule>) -> Diagnostic {
    let pest_pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    if let ErrorVariant::CustomError { message } = &e.variant {
        // pest's own guards: the native stack or call budget ran out (deep nesting).
        return Diagnostic::new(Code::E0106, "the file nests too deeply to parse")
            .at(Span::from_offsets(path, text, pest_pos, pest_pos))
            .found(format!("nesting deeper than the parser allows ({message})"))
            .expected("a condition with fewer nested parentheses, `not`s or JSON levels")
            .hint("flatten `((a))` to `a` and `not not x` to `x`");
    }
    let attempts = e.parse_attempts();
    let mut positives: Vec<Rule> = Vec::new();
    if let ErrorVariant::ParsingError { positives: p, .. } = &e.variant {
        positives = p.clone();
    }
    // A value can take any literal shape: one phrase says so, instead of seven.
    let wants_value = positives.contains(&Rule::symbol) && positives.contains(&Rule::integer);
    let wants_operator = positives.contains(&Rule::eq_op) || positives.contains(&Rule::eq_pred);
    let described = |rules: &[Rule]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if wants_value {
            out.push(VALUE_WORDS.to_string());
        }
        for r in rules {
            let literal = matches!(
                r,
                Rule::string
                    | Rule::cidr
                    | Rule::ip
                    | Rule::size
                    | Rule::duration
                    | Rule::integer
                    | Rule::symbol
            );
            if wants_value && literal {
                continue;
            }
            // A value expression is one more way to write a value or an operator: where the
            // predicate's own words are offered, they already say what fits.
            let value_expr = matches!(r, Rule::value_sum | Rule::value_product | Rule::value_atom);
            let value_op = matches!(r, Rule::rel_op | Rule::add_op | Rule::mul_op);
            if (wants_value && value_expr) || (wants_operator && value_op) {
                continue;
            }
            if let Some(d) = describe(*r) {
                if !out.iter().any(|x| *x == d) {
                    out.push(d.into_owned());
                }
            }
        }
        out
    };
    // The attempts record the furthest point any token was tried at, with the literal tokens
    // wanted there (pest's own positives name rules only). That point can be past the rule-level
    // position pest reports: for `list x = [...]` pest blames `list`, the attempts know a `:`
    // was wanted after `x`.
    let (attempt_pos, attempt_tokens) = match &attempts {
        Some(a) => (
            a.max_position,
            a.expected_tokens()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        ),
        None => (pest_pos, Vec::new()),
    };
    let tokens_in_words = |rule_words: &[String]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for token in &attempt_tokens {
            let keyword = token.len() > 1 && token.chars().all(|c| c.is_ascii_lowercase());
            // `:` inside a value is the start of an IPv6 address, not the separator.
            if token == ":" && rule_words.iter().any(|w| w == VALUE_WORDS) {
                continue;
            }
            let word =
                if PUNCTUATION.contains(&token.as_str()) || (keyword && rule_words.is_empty()) {
                    format!("`{token}`")
                } else if token == "\"" && rule_words.is_empty() {
                    "a closing `\"`".to_string()
                } else {
                    continue;
                };
            if !out.contains(&word) && !rule_words.iter().any(|d| d.contains(&word)) {
                out.push(word);
            }
        }
        out
    };
    let (pos, expected) = if attempt_pos == pest_pos {
        let mut words = described(&positives);
        let extra = tokens_in_words(&words);
        words.extend(extra);
        (pest_pos, words)
    } else {
        let words = tokens_in_words(&[]);
        if attempt_pos > pest_pos
            && attempt_pos <= text.len()
            && text.is_char_boundary(attempt_pos)
            && !words.is_empty()
        {
            positives.clear();
            (attempt_pos, words)
        } else {
            (pest_pos, described(&positives))
        }
    };
    let found = found_at(text, pos);
    let word = found.trim_matches('`');
    let end = (pos
        + if found.starts_with('`') {
            word.len()
        } else {
            0
        })
    .min(text.len());
    let mut d = Diagnostic::new(Code::E0100, format!("unexpected {found}"))
        .at(Span::from_offsets(path, text, pos, end))
        .found(found.clone());
    if !expected.is_empty() {
        let items: Vec<&str> = expected.iter().map(String::as_str).collect();
        d = d.expected(join_or(&items));
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
    if (positives.contains(&Rule::field_path) || positives.contains(&Rule::not_expr))
        && is_keyword(word)
    {
        d = d.hint(format!(
            "`{word}` is a reserved word and cannot name a field or list"
        ));
    }
    let before = text[..pos].trim_end();
    if let Some(op) = ["and", "or", "not"].into_iter().find(|w| {
        before.ends_with(w)
            && !before[..before.len() - w.len()]
                .ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
    }) {
        if positives
            .iter()
            .any(|r| matches!(r, Rule::expr | Rule::not_expr | Rule::predicate))
        {
            d = d.hint(format!("`{op}` must be followed by a condition"));
        }
    }
    if wants_operator && before.ends_with("not") {
        d = d.hint("`not` goes before the condition (`not remote.port == 25`), or use `!=`");
    }
    if text[pos.min(text.len())..].starts_with("/*") {
        d = d.hint("this `/*` comment is never closed: end it with `*/`");
    }
    if positives.contains(&Rule::kw_rule) {
        if let Some(n) = nearest(word, ["rule", "list"]).filter(|n| *n != word) {
            d = d.hint(format!("did you mean `{n}`?"));
        }
    }
    if positives.contains(&Rule::attack_id) {
        let upper = word.to_uppercase();
        if upper != word && upper.starts_with(['T', 'A']) {
            d = d.hint(format!("ATT&CK ids are written in upper case: `{upper}`"));
        }
    }
    if positives.contains(&Rule::kw_rule) && CLAUSE_WORDS.contains(&word) {
        d = d.hint(format!(
            "`{word}` is a clause of a rule: it goes inside `rule NAME {{ ... }}`"
        ));
    }
    if unclosed_quote_on_line(text, pos) {
        d = d.hint("a string is missing its closing quote on this line");
    }
    if found == "end of file" && text.matches('{').count() > text.matches('}').count() {
        d = d.hint("a `{` is not closed: add the missing `}`");
    }
    if positives.contains(&Rule::json_string) && word == "}" {
        d = d.hint("JSON allows no comma before `}` or `]`");
    }
    d
}

fn is_keyword(word: &str) -> bool {
    [
        "and",
        "or",
        "not",
        "in",
        "is",
        "matches",
        "startswith",
        "endswith",
        "contains",
        "exists",
        "missing",
        "case",
        "else",
    ]
    .contains(&word)
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
