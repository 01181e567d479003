//! The meaning of values, stated once for every consumer: the evaluator (`eval::ops` builds its
//! compiled matchers on these) and the backends (which fold literals and decide predicates on
//! constants, e.g. a condition on a computed field, with them). The normative text is in the
//! module docs of `src/ir/mod.rs`.

use super::{Case, CmpOp, Value};

/// The IR's case folding: ASCII-only. `A`-`Z` become `a`-`z`; every other character, non-ASCII
/// letters included (`İ`, `ı`, the Kelvin sign, `ß`, `Σ`, `É`), stays as it is. This is the
/// folding Kusto documents for its case-insensitive operators ("Case-insensitive operators are
/// currently supported only for ASCII-text", `=~`, `in~`), the strictest of the engines detc
/// targets; the backends spell it out where an engine would fold more (docs/SEMANTICS.md).
pub fn simple_lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// A [`Value`] borrowed: what the evaluator's matchers read (its full path hands out views of
/// the text of a line, no `String` per field per event); owned values view as themselves.
/// Variants are declared in [`Value`]'s order, so the derived order is [`Value`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValRef<'a> {
    Str(&'a str),
    Int(i64),
    Ip(std::net::IpAddr),
    Enum(&'a str),
    Timestamp(i64),
}

impl<'a> ValRef<'a> {
    pub fn of(v: &'a Value) -> ValRef<'a> {
        match v {
            Value::Str(s) => ValRef::Str(s),
            Value::Int(i) => ValRef::Int(*i),
            Value::Ip(ip) => ValRef::Ip(*ip),
            Value::Enum(s) => ValRef::Enum(s),
            Value::Timestamp(t) => ValRef::Timestamp(*t),
        }
    }

    pub fn to_value(self) -> Value {
        match self {
            ValRef::Str(s) => Value::Str(s.to_string()),
            ValRef::Int(i) => Value::Int(i),
            ValRef::Ip(ip) => Value::Ip(ip),
            ValRef::Enum(s) => Value::Enum(s.to_string()),
            ValRef::Timestamp(t) => Value::Timestamp(t),
        }
    }

    /// [`is_missing`] of a present value: the empty string.
    pub fn is_missing(self) -> bool {
        matches!(self, ValRef::Str("") | ValRef::Enum(""))
    }
}

/// Whether a value counts as missing (the normative rule: absent, null or the empty string).
pub fn is_missing(v: Option<&Value>) -> bool {
    v.is_none_or(|v| ValRef::of(v).is_missing())
}

/// Typed equality under `case`. Different types are never equal.
pub fn values_equal(a: &Value, b: &Value, case: Case) -> bool {
    equal_ref(ValRef::of(a), ValRef::of(b), case)
}

/// [`values_equal`] on borrowed values: the one definition.
pub fn equal_ref(a: ValRef<'_>, b: ValRef<'_>, case: Case) -> bool {
    match (a, b) {
        (ValRef::Str(x), ValRef::Str(y)) => match case {
            Case::Sensitive => x == y,
            // [`simple_lower`] on both sides, without lowering either.
            Case::Insensitive => x.eq_ignore_ascii_case(y),
        },
        _ => a == b,
    }
}

/// Numeric ordering of integers and timestamps (the two share the i64 axis only with their own
/// kind: an `Int` never compares with a `Timestamp`).
pub fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    compare_ref(ValRef::of(a), op, ValRef::of(b))
}

/// [`compare`] on borrowed values: the one definition.
pub fn compare_ref(a: ValRef<'_>, op: CmpOp, b: ValRef<'_>) -> bool {
    let ord = match (a, b) {
        (ValRef::Int(x), ValRef::Int(y)) | (ValRef::Timestamp(x), ValRef::Timestamp(y)) => {
            x.cmp(&y)
        }
        _ => return false,
    };
    match op {
        CmpOp::Lt => ord.is_lt(),
        CmpOp::Le => ord.is_le(),
        CmpOp::Gt => ord.is_gt(),
        CmpOp::Ge => ord.is_ge(),
    }
}

/// A case-sensitive regex that means `pattern` under the IR's case-insensitivity (ASCII-only
/// folding): every ASCII letter a literal or a class can match is joined by its other case; no
/// `(?i)` flag is left for an engine to apply with its own (Unicode) folding, so the emitted
/// pattern means the same in RE2, PCRE, Python `re` and Rust `regex`. With `fold` false the
/// pattern is only checked. Errors: an inline `i` flag (each engine folds differently under it),
/// and, when folding, a Unicode class (`\p{Lu}`: which ASCII letters it gains is not obvious).
pub fn ascii_fold_regex(pattern: &str, fold: bool) -> Result<String, String> {
    use regex_syntax::ast::{self, Ast};
    let parsed = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|e| e.kind().to_string())?;
    fn no_i(f: &ast::Flags) -> Result<(), String> {
        if f.flag_state(ast::Flag::CaseInsensitive) == Some(true) {
            return Err("an inline `i` flag: engines fold non-ASCII letters differently under it; write `matches~`, which folds ASCII letters only".into());
        }
        Ok(())
    }
    fn lit(span: ast::Span, c: char) -> ast::Literal {
        ast::Literal {
            span,
            kind: ast::LiteralKind::Verbatim,
            c,
        }
    }
    fn other_case(c: char) -> Option<char> {
        if c.is_ascii_lowercase() {
            Some(c.to_ascii_uppercase())
        } else if c.is_ascii_uppercase() {
            Some(c.to_ascii_lowercase())
        } else {
            None
        }
    }
    /// The items to add to a class holding `item` so that it is closed under ASCII folding.
    fn fold_item(item: &mut ast::ClassSetItem) -> Result<(), String> {
        use ast::ClassSetItem as I;
        let extra: Vec<I> = match item {
            I::Literal(l) => match other_case(l.c) {
                Some(o) => vec![I::Literal(lit(l.span, o))],
                None => return Ok(()),
            },
            I::Range(r) => {
                let (a, b) = (r.start.c, r.end.c);
                let mut v = Vec::new();
                for (lo, hi, shift) in [('a', 'z', -32i32), ('A', 'Z', 32)] {
                    let (s, e) = (a.max(lo), b.min(hi));
                    if s <= e {
                        let m = |c: char| char::from_u32((c as i32 + shift) as u32).unwrap_or(c);
                        v.push(I::Range(ast::ClassSetRange {
                            span: r.span,
                            start: lit(r.span, m(s)),
                            end: lit(r.span, m(e)),
                        }));
                    }
                }
                v
            }
            I::Ascii(a) => {
                if matches!(a.kind, ast::ClassAsciiKind::Upper | ast::ClassAsciiKind::Lower) {
                    a.kind = ast::ClassAsciiKind::Alpha;
                }
                return Ok(());
            }
            I::Unicode(_) => {
                return Err("a Unicode class (`\\p{..}`) in a case-insensitive pattern: list the cases it should match instead".into())
            }
            I::Bracketed(b) => return fold_set(&mut b.kind),
            I::Union(u) => {
                for i in u.items.iter_mut() {
                    fold_item(i)?;
                }
                return Ok(());
            }
            I::Empty(_) | I::Perl(_) => return Ok(()),
        };
        let span = *item.span();
        let old = std::mem::replace(item, I::Empty(span));
        let mut items = vec![old];
        items.extend(extra);
        *item = I::Union(ast::ClassSetUnion { span, items });
        Ok(())
    }
    fn fold_set(set: &mut ast::ClassSet) -> Result<(), String> {
        match set {
            ast::ClassSet::Item(i) => fold_item(i),
            ast::ClassSet::BinaryOp(op) => {
                fold_set(&mut op.lhs)?;
                fold_set(&mut op.rhs)
            }
        }
    }
    fn walk(a: &mut Ast, fold: bool) -> Result<(), String> {
        match a {
            Ast::Flags(f) => no_i(&f.flags),
            Ast::Group(g) => {
                if let ast::GroupKind::NonCapturing(f) = &g.kind {
                    no_i(f)?;
                }
                walk(&mut g.ast, fold)
            }
            Ast::Repetition(r) => walk(&mut r.ast, fold),
            Ast::Alternation(x) => x.asts.iter_mut().try_for_each(|y| walk(y, fold)),
            Ast::Concat(x) => x.asts.iter_mut().try_for_each(|y| walk(y, fold)),
            Ast::Literal(l) if fold => {
                if let Some(o) = other_case(l.c) {
                    let span = l.span;
                    let items = vec![
                        ast::ClassSetItem::Literal(lit(span, l.c)),
                        ast::ClassSetItem::Literal(lit(span, o)),
                    ];
                    *a = Ast::class_bracketed(ast::ClassBracketed {
                        span,
                        negated: false,
                        kind: ast::ClassSet::Item(ast::ClassSetItem::Union(
                            ast::ClassSetUnion { span, items },
                        )),
                    });
                }
                Ok(())
            }
            Ast::ClassBracketed(b) if fold => fold_set(&mut b.kind),
            Ast::ClassUnicode(_) if fold => Err("a Unicode class (`\\p{..}`) in a case-insensitive pattern: list the cases it should match instead".into()),
            _ => Ok(()),
        }
    }
    let mut tree = parsed;
    walk(&mut tree, fold)?;
    if !fold {
        return Ok(pattern.to_string());
    }
    let mut out = String::new();
    ast::print::Printer::new()
        .print(&tree, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(p: &str) -> String {
        ascii_fold_regex(p, true).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn case_insensitive_patterns_spell_out_ascii_cases_only() {
        assert_eq!(folded("ab1"), "[aA][bB]1");
        assert_eq!(folded("[a-c]x"), "[a-cA-C][xX]");
        assert_eq!(folded("[^k]"), "[^kK]");
        assert_eq!(folded("é+"), "é+");
        assert_eq!(
            folded("(smtp|IMAP)\\.exe$"),
            "([sS][mM][tT][pP]|[Ii][Mm][Aa][Pp])\\.[eE][xX][eE]$"
        );
        assert_eq!(folded("[[:upper:]]"), "[[:alpha:]]");
        for (p, yes, no) in [
            ("certutil", "CERTUTIL", "certut\u{130}l"),
            ("outlook", "OutLook", "OUTLOO\u{212A}"),
            ("stra[s]se", "STRASSE", "STRA\u{17F}SE"),
        ] {
            let re = regex::Regex::new(&folded(p));
            assert!(re.as_ref().is_ok_and(|r| r.is_match(yes)), "{p} ~ {yes}");
            assert!(re.as_ref().is_ok_and(|r| !r.is_match(no)), "{p} !~ {no}");
        }
    }

    #[test]
    fn inline_case_flags_and_unicode_classes_are_refused() {
        assert!(ascii_fold_regex("(?i)abc", false).is_err());
        assert!(ascii_fold_regex("a(?i:b)", true).is_err());
        assert!(ascii_fold_regex("(?-i)abc", false).is_ok());
        assert!(ascii_fold_regex("\\p{Lu}", true).is_err());
        assert!(ascii_fold_regex("\\p{Lu}", false).is_ok());
    }
}
