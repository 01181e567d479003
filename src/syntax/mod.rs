//! Parsing: rule text -> spanned AST. The only module that sees pest.
//!
//! `parse` runs the grammar (`grammar/detc.pest`), then lowers each pest pair to an AST node with
//! one small function per grammar rule. Literal errors (a bad escape, an integer out of range, an
//! IP address like `300.1.1.1`) are collected while lowering, so one file can report several.

use crate::diag::Diagnostic;
use pest::Parser as _;

pub mod ast;
mod errors;
pub mod fmt;
mod lower;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/detc.pest"]
pub(crate) struct DetcParser;

/// Parses one rule file. A syntax error stops the file (pest reports the furthest point it
/// reached, which is where the text stops making sense); literal errors are all reported.
///
/// The file is read one declaration at a time (`first_item`, then `next_item` from where the
/// last one ended, until `EOI`), each lowered before the next is parsed: pest's token queue then
/// holds one declaration instead of the whole file (for a 10 MB file, hundreds of MB grown by
/// copying). A syntax error anywhere parses the whole `file` again for pest's full report.
pub fn parse(path: &str, text: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let mut lowerer = lower::Lowerer::new(path, text);
    let mut file = lowerer.empty_file();
    let mut at = 0;
    loop {
        let rule = if at == 0 {
            Rule::first_item
        } else {
            Rule::next_item
        };
        // One `first_item` or `next_item` pair, holding a declaration or the end of the file.
        let item = parse_fast(rule, &text[at..])
            .ok()
            .and_then(|mut pairs| pairs.next());
        // A declaration is never empty: an empty item that is not the end cannot happen, but
        // would loop forever; the full parse then reports it.
        let Some(item) = item.filter(|i| i.as_span().end() > 0 || at == text.len()) else {
            return Err(vec![errors::syntax_error(
                path,
                text,
                &parse_detailed(text),
            )]);
        };
        let end = item.as_span().end();
        let last = item.clone().into_inner().any(|p| p.as_rule() == Rule::EOI);
        lowerer.items(&mut file, std::iter::once(item), at);
        if last {
            break;
        }
        at += end;
    }
    if lowerer.diagnostics.iter().any(Diagnostic::is_error) {
        Err(lowerer.diagnostics)
    } else {
        file.warnings = lowerer.diagnostics;
        Ok(file)
    }
}

/// pest's error detail (the literal tokens wanted at the error, which its positives lack) is a
/// process-wide switch that slows every parse by about 2.5x. So a file is parsed without it, and
/// only a file with a syntax error is parsed again with it. The lock keeps the switch off for
/// every fast parse while a detailed one runs on another thread.
static DETAIL: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn parse_fast(
    rule: Rule,
    text: &str,
) -> Result<pest::iterators::Pairs<'_, Rule>, pest::error::Error<Rule>> {
    let _shared = DETAIL
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    DetcParser::parse(rule, text)
}

fn parse_detailed(text: &str) -> pest::error::Error<Rule> {
    let _exclusive = DETAIL
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    pest::set_error_detail(true);
    let result = DetcParser::parse(Rule::file, text);
    pest::set_error_detail(false);
    match result {
        Err(e) => e,
        // Unreachable: the same text failed a moment ago; say so rather than panic.
        Ok(_) => pest::error::Error::new_from_pos(
            pest::error::ErrorVariant::CustomError {
                message: "the parser disagreed with itself".into(),
            },
            pest::Position::from_start(text),
        ),
    }
}

/// The names a file that does not parse appears to declare lists under (`list NAME:` at the
/// start of a line), so that the checker does not call each use of them unknown.
pub fn declared_list_names(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix("list")?;
            if !rest.starts_with([' ', '\t']) {
                return None;
            }
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::ast::*;
    use super::*;
    use crate::diag::Span;

    fn where_of(src: &str) -> Expr {
        let text = format!("rule r {{ where {src} }}");
        let file = match parse("t.detc", &text) {
            Ok(f) => f,
            Err(d) => return Expr::And(vec![], Span::file(format!("{d:?}"))),
        };
        for c in &file.rules[0].clauses {
            if let Clause::Where(e) = &c.node {
                return e.clone();
            }
        }
        Expr::Or(vec![], Span::file("no where"))
    }

    /// Renders an expression with explicit parentheses, to test precedence.
    fn shape(e: &Expr) -> String {
        match e {
            Expr::And(xs, _) => format!(
                "({})",
                xs.iter().map(shape).collect::<Vec<_>>().join(" and ")
            ),
            Expr::Or(xs, _) => format!(
                "({})",
                xs.iter().map(shape).collect::<Vec<_>>().join(" or ")
            ),
            Expr::Not(x, _) => format!("not {}", shape(x)),
            Expr::Pred(p) => p.field.node.clone(),
            Expr::Compare(c) => format!("{}{}", c.op.node.text(), value_shape(&c.left)),
        }
    }

    fn value_shape(v: &ValueExpr) -> String {
        match v {
            ValueExpr::Name(n) => n.node.clone(),
            ValueExpr::Lit(l) => format!("{:?}", l.node),
            ValueExpr::Arith {
                op, left, right, ..
            } => {
                let o = match op.node {
                    ArithOp::Add => "+",
                    ArithOp::Sub => "-",
                    ArithOp::Mul => "*",
                    ArithOp::Div => "/",
                };
                format!("({} {o} {})", value_shape(left), value_shape(right))
            }
            ValueExpr::Call(c) => format!("{}({})", c.func.node, c.arg.node),
        }
    }

    fn compare_of(src: &str) -> String {
        match where_of(src) {
            Expr::Compare(c) => format!(
                "{} {} {}",
                value_shape(&c.left),
                c.op.node.text(),
                value_shape(&c.right)
            ),
            other => format!("not a comparison: {other:?}"),
        }
    }

    #[test]
    fn arithmetic_precedence_and_field_against_field() {
        assert_eq!(
            compare_of("bytes.sent > bytes.received"),
            "bytes.sent > bytes.received"
        );
        assert_eq!(
            compare_of("a - b - c * d / 2 >= (e + f) * 3"),
            "((a - b) - ((c * d) / Int(2))) >= ((e + f) * Int(3))"
        );
        assert_eq!(compare_of("rx / tx > 20"), "(rx / tx) > Int(20)");
        assert_eq!(
            compare_of("sent > 20 * received"),
            "sent > (Int(20) * received)"
        );
        assert_eq!(compare_of("a -5 == b"), "(a - Int(5)) == b");
        assert_eq!(compare_of("a != 1MB - b"), "a != (Size(1000000) - b)");
        // A plain `field op value` stays a predicate.
        assert!(matches!(where_of("a > 5"), Expr::Pred(_)));
        assert!(matches!(where_of("a > 5 /* c */"), Expr::Pred(_)));
        assert_eq!(
            shape(&where_of("not a.b > c.d or x == 1")),
            "(not >a.b or x)"
        );
    }

    #[test]
    fn precedence_not_binds_tighter_than_and_than_or() {
        assert_eq!(
            shape(&where_of("a == 1 or b == 2 and c == 3")),
            "(a or (b and c))"
        );
        assert_eq!(shape(&where_of("not a == 1 and b == 2")), "(not a and b)");
        assert_eq!(
            shape(&where_of("(a == 1 or b == 2) and not (c == 3 or d == 4)")),
            "((a or b) and not (c or d))"
        );
        assert_eq!(
            shape(&where_of("a == 1 or b == 2 or c == 3")),
            "(a or b or c)"
        );
    }

    #[test]
    fn literals_lower_to_typed_values() {
        let e = where_of(
            "a in [25, 50MB, 50MiB, 1h, 10.0.0.0/8, ::1, fe80::/10, \"x\\ty\", 'C:\\raw', ok]",
        );
        let Expr::Pred(p) = e else {
            unreachable!("not a predicate")
        };
        let PredOp::In {
            target: ListRef::Inline(vals, _),
            ..
        } = p.op
        else {
            unreachable!("not an inline in")
        };
        let got: Vec<Literal> = vals.into_iter().map(|v| v.node).collect();
        assert_eq!(
            got,
            vec![
                Literal::Int(25),
                Literal::Size(50_000_000),
                Literal::Size(50 * 1024 * 1024),
                Literal::Duration(3600),
                Literal::Cidr(
                    "10.0.0.0"
                        .parse()
                        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
                    8
                ),
                Literal::Ip(
                    "::1"
                        .parse()
                        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into())
                ),
                Literal::Cidr(
                    "fe80::"
                        .parse()
                        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
                    10
                ),
                Literal::Str("x\ty".into()),
                Literal::Str("C:\\raw".into()),
                Literal::Symbol("ok".into()),
            ]
        );
    }

    #[test]
    fn negated_operators_set_the_flag() {
        for (src, neg) in [
            ("a not in [1]", true),
            ("a in [1]", false),
            ("a not startswith~ \"x\"", true),
            ("a is not private", true),
            ("a not matches \"x\"", true),
        ] {
            let Expr::Pred(p) = where_of(src) else {
                unreachable!("{src}")
            };
            assert_eq!(p.negated, neg, "{src}");
        }
    }

    /// Deep nesting is an error, never a stack overflow: in pest (its stack guard), in lowering
    /// (the depth limit) or later in the checker and in dropping the tree.
    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for body in [
            format!("{}a == 1{}", "(".repeat(20_000), ")".repeat(20_000)),
            format!("{}a == 1", "not ".repeat(5_000)),
            format!("{}a == 1{}", "(".repeat(40), ")".repeat(40)),
        ] {
            let text = format!("rule r {{ where {body} }}");
            let codes: Vec<&str> = match parse("t.detc", &text) {
                Ok(_) => vec![],
                Err(ds) => ds.iter().map(|d| d.code.as_str()).collect(),
            };
            assert_eq!(codes, vec!["E0106"], "{}", &body[..20]);
        }
        // 31 parentheses plus the predicate itself: 32 levels, the most allowed. The whole
        // frontend must take it on a test thread's 2 MiB stack, in a debug build.
        let ok = format!(
            "rule r {{ id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\" title \"t\" severity low \
             source network_connection where {}remote.port == 1{} }}",
            "(".repeat(31),
            ")".repeat(31)
        );
        let fe = crate::frontend(&[crate::SourceFile {
            path: "t.detc".into(),
            text: ok,
        }]);
        assert!(fe.diagnostics.is_empty(), "{:?}", fe.diagnostics);
    }

    /// A syntax error names the punctuation that was expected (pest names rules only).
    #[test]
    fn syntax_errors_name_missing_punctuation() {
        let expected = |text: &str| match parse("t.detc", text) {
            Ok(_) => String::new(),
            Err(ds) => ds[0].expected.clone().unwrap_or_default(),
        };
        assert!(expected("rule r { where (a == 1 }").contains("`)`"));
        assert!(expected("list x = [1]").contains("`:`"));
        assert!(expected("rule r { let p = case a == 1 \"x\" }").contains("`=>`"));
        assert!(expected("rule r { where a == 1").contains("`}`"));
    }

    /// `\u{...}` takes 1 to 6 hex digits and nothing else.
    #[test]
    fn unicode_escapes_are_strict() {
        let lit = |src: &str| -> Result<Literal, Vec<&'static str>> {
            let text = format!("rule r {{ where a == \"{src}\" }}");
            match parse("t.detc", &text) {
                Ok(f) => match &f.rules[0].clauses[0].node {
                    Clause::Where(Expr::Pred(p)) => match &p.op {
                        PredOp::Eq { value, .. } => Ok(value.node.clone()),
                        _ => Err(vec![]),
                    },
                    _ => Err(vec![]),
                },
                Err(ds) => Err(ds.iter().map(|d| d.code.as_str()).collect()),
            }
        };
        assert_eq!(lit("caf\\u{e9}"), Ok(Literal::Str("café".into())));
        assert_eq!(lit("\\u{1F600}x"), Ok(Literal::Str("😀x".into())));
        for bad in [
            "\\u{+41}",
            "\\u{}",
            "\\u{1234567}",
            "\\u{D800}",
            "\\u{110000}",
            "\\u41",
        ] {
            assert_eq!(lit(bad), Err(vec!["E0102"]), "{bad}");
        }
    }

    /// A UTF-8 byte order mark (Notepad writes one) does not make a file unreadable.
    #[test]
    fn a_byte_order_mark_is_ignored() {
        let text = "\u{FEFF}rule r {\r\n  where a == 1\r\n}\r\n";
        assert!(parse("t.detc", text).is_ok());
        assert!(
            parse("t.detc", "rule r { \u{FEFF} }").is_err(),
            "only at the start"
        );
    }
}
