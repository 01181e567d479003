//! Parsing: rule text -> spanned AST. The only module that sees pest.
//!
//! `parse` runs the grammar (`grammar/detc.pest`), then lowers each pest pair to an AST node with
//! one small function per grammar rule. Literal errors (a bad escape, an integer out of range, an
//! IP address like `300.1.1.1`) are collected while lowering, so one file can report several.

use crate::diag::{Diagnostic, Span};
use pest::Parser as _;

pub mod ast;
mod errors;
mod lower;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/detc.pest"]
pub(crate) struct DetcParser;

/// Parses one rule file. A syntax error stops the file (pest reports the furthest point it
/// reached, which is where the text stops making sense); literal errors are all reported.
pub fn parse(path: &str, text: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let pairs = match DetcParser::parse(Rule::file, text) {
        Ok(p) => p,
        Err(e) => return Err(vec![errors::syntax_error(path, text, &e)]),
    };
    let mut lowerer = lower::Lowerer::new(path, text);
    let file = lowerer.file(pairs);
    if lowerer.diagnostics.is_empty() {
        Ok(file)
    } else {
        Err(lowerer.diagnostics)
    }
}

pub(crate) fn span_of(path: &str, text: &str, s: pest::Span<'_>) -> Span {
    Span::from_offsets(path, text, s.start(), s.end())
}

#[cfg(test)]
mod tests {
    use super::ast::*;
    use super::*;

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
        }
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
}
