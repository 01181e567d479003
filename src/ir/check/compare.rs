//! Value expressions and comparisons of two values: AST -> typed IR ([`crate::ir::value`]).
//!
//! Types are quantities: a plain number (integers, counts, a ratio), bytes, seconds (durations)
//! and ports. Arithmetic keeps the quantity when it can mean something (bytes + bytes, 20 *
//! bytes, bytes / 2) and makes a plain number of a ratio (bytes / bytes); anything else (bytes +
//! seconds, bytes * bytes, 1 / bytes, any arithmetic on a port, which is a label, not an amount)
//! is an error. Two values compare only when they are the same quantity; a bare integer
//! literal takes the quantity of the other side (`bytes.sent - bytes.received > 1000`), as it
//! does in `field > 1000`.
//!
//! `hour(time)` is an hour of the day (compared with a bare integer); `weekday(time)` is a
//! weekday, compared only with `==`, `!=` or `in` against the symbols `mon` .. `sun`, so no
//! rule depends on which day starts the week. Neither takes part in arithmetic. Both read the
//! rule's `timezone` clause, which a rule using them must have.

use super::expr::Scope;
use super::values::a_type;
use super::Checker;
use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{
    catalogue, ArithOp, Comparison, Expr, FieldRef, FieldType, RelOp, TimeFunc, ValueExpr, WEEKDAYS,
};
use crate::syntax::ast::{self, Literal, PredOp, Spanned};

/// What a value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantity {
    Number,
    Bytes,
    Seconds,
    Port,
    /// `hour(time)`: 0 to 23.
    Hour,
    /// `weekday(time)` or a weekday symbol.
    Weekday,
}

impl Quantity {
    fn of(ty: &FieldType) -> Option<Quantity> {
        match ty {
            FieldType::Int => Some(Quantity::Number),
            FieldType::Bytes => Some(Quantity::Bytes),
            FieldType::Duration => Some(Quantity::Seconds),
            FieldType::Port => Some(Quantity::Port),
            _ => None,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Quantity::Number => "a plain number",
            Quantity::Bytes => "a byte count",
            Quantity::Seconds => "a duration",
            Quantity::Port => "a port",
            Quantity::Hour => "an hour of the day",
            Quantity::Weekday => "a weekday",
        }
    }
}

/// A checked value: the IR node, its quantity, and whether it is a bare integer literal.
struct Typed {
    ir: ValueExpr,
    q: Quantity,
    bare_int: bool,
}

impl Checker<'_> {
    /// `field op word` where the word names a numeric field (or aggregate) of the scope and
    /// the field is numeric: the grammar reads a one-word right side as a value (an enum symbol),
    /// so `sent > received` in `having` arrives here. `None`: not such a predicate.
    pub(super) fn field_against_word(
        &mut self,
        p: &ast::Pred,
        scope: &Scope<'_>,
    ) -> Option<Option<Expr>> {
        let (op, word) = match &p.op {
            PredOp::Eq { op, value } => {
                let rel = match op {
                    ast::EqOp::Eq => ast::RelOp::Eq,
                    ast::EqOp::Ne => ast::RelOp::Ne,
                    _ => return None,
                };
                (rel, value)
            }
            PredOp::Cmp { op, value } => {
                let rel = match op {
                    ast::CmpOp::Lt => ast::RelOp::Lt,
                    ast::CmpOp::Le => ast::RelOp::Le,
                    ast::CmpOp::Gt => ast::RelOp::Gt,
                    ast::CmpOp::Ge => ast::RelOp::Ge,
                };
                (rel, value)
            }
            _ => return None,
        };
        let Literal::Symbol(name) = &word.node else {
            return None;
        };
        let numeric = |n: &str| {
            quiet_type(n, scope)
                .and_then(|t| Quantity::of(&t))
                .is_some()
        };
        if !numeric(&p.field.node) || !numeric(name) {
            return None;
        }
        // The operator's span is between the two names; the whole predicate's is good enough
        // for an error about the operator (there is none: both sides are numeric fields).
        let c = ast::Compare {
            left: ast::ValueExpr::Name(p.field.clone()),
            op: Spanned::new(op, p.span.clone()),
            right: ast::ValueExpr::Name(Spanned::new(name.clone(), word.span.clone())),
            span: p.span.clone(),
        };
        Some(self.compare(&c, scope))
    }

    pub(super) fn compare(&mut self, c: &ast::Compare, scope: &Scope<'_>) -> Option<Expr> {
        let l = self.value_expr(&c.left, scope);
        let r = self.value_expr(&c.right, scope);
        let (l, r) = (l?, r?);
        let compatible = l.q == r.q || l.bare_int || r.bare_int;
        if !compatible {
            self.diags.push(
                Diagnostic::new(
                    Code::E0272,
                    format!(
                        "`{}` compares {} with {}",
                        c.op.node.text(),
                        l.q.words(),
                        r.q.words()
                    ),
                )
                .at(c.span.clone())
                .found(format!("{} on the left, {} on the right", l.q.words(), r.q.words()))
                .expected("two values of the same kind (bytes with bytes, a duration with a duration, a port with a port, a number with a number)")
                .hint(mismatch_hint(l.q, r.q)),
            );
            return None;
        }
        let weekday = l.q == Quantity::Weekday || r.q == Quantity::Weekday;
        let ordered = !matches!(c.op.node, ast::RelOp::Eq | ast::RelOp::Ne);
        if weekday && (ordered || l.q != r.q) {
            self.diags.push(
                Diagnostic::new(
                    Code::E0276,
                    format!("a weekday compared with `{}`{}", c.op.node.text(), if l.q != r.q { " and a number" } else { "" }),
                )
                .at(c.span.clone())
                .found(if ordered {
                    format!("`{}` between weekdays", c.op.node.text())
                } else {
                    "a weekday compared with a number".to_string()
                })
                .expected("`weekday(time) == sat`, `!=`, or `weekday(time) in [sat, sun]`")
                .hint(if ordered {
                    "weeks start on different days in different places, so weekdays have no order here; list the days: `weekday(time) in [mon, tue, wed, thu, fri]`"
                } else {
                    "a weekday is one of the symbols mon, tue, wed, thu, fri, sat, sun: `weekday(time) == sat`"
                }),
            );
            return None;
        }
        if l.ir.refs().is_empty() && r.ir.refs().is_empty() {
            self.diags.push(
                Diagnostic::new(Code::E0273, "a comparison of two constants")
                    .at(c.span.clone())
                    .found("no field or aggregate on either side")
                    .expected("a comparison that reads at least one field or aggregate")
                    .hint("a constant comparison is always true or always false; remove it or compare a field"),
            );
            return None;
        }
        let op = match c.op.node {
            ast::RelOp::Eq | ast::RelOp::Ne => RelOp::Eq,
            ast::RelOp::Lt => RelOp::Lt,
            ast::RelOp::Le => RelOp::Le,
            ast::RelOp::Gt => RelOp::Gt,
            ast::RelOp::Ge => RelOp::Ge,
        };
        let e = Expr::Compare(Comparison {
            left: l.ir,
            op,
            right: r.ir,
            span: c.span.clone(),
        });
        Some(if c.op.node == ast::RelOp::Ne {
            Expr::Not(Box::new(e))
        } else {
            e
        })
    }

    fn value_expr(&mut self, v: &ast::ValueExpr, scope: &Scope<'_>) -> Option<Typed> {
        match v {
            ast::ValueExpr::Name(n) => {
                // A weekday symbol, unless the scope has a field of that name.
                if let Some(day) = WEEKDAYS.iter().position(|d| *d == n.node) {
                    if quiet_type(&n.node, scope).is_none() {
                        return Some(Typed {
                            ir: ValueExpr::Num { value: day as i64 },
                            q: Quantity::Weekday,
                            bare_int: false,
                        });
                    }
                }
                let (field, ty) = self.resolve_one(n, scope)?;
                let Some(q) = Quantity::of(&ty) else {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0270,
                            format!("`{}` is {} field, not a number", n.node, a_type(&ty)),
                        )
                        .at(n.span.clone())
                        .found(format!("{} field in arithmetic or a comparison of values", a_type(&ty)))
                        .expected("a numeric field or aggregate (an integer, a byte count, a duration or a port)")
                        .hint(match ty {
                            FieldType::String | FieldType::Enum(_) => "compare text with a quoted value: `field == \"text\"`",
                            FieldType::Ip => "test addresses with ==, in [blocks] or `is private`",
                            _ => "read the time of day with `hour(time)` and the day with `weekday(time)`",
                        }),
                    );
                    return None;
                };
                Some(Typed {
                    ir: ValueExpr::Ref { field, ty },
                    q,
                    bare_int: false,
                })
            }
            ast::ValueExpr::Lit(l) => {
                let (value, q, bare_int) = match &l.node {
                    Literal::Int(i) => (Some(*i), Quantity::Number, true),
                    Literal::Size(b) => (i64::try_from(*b).ok(), Quantity::Bytes, false),
                    Literal::Duration(s) => (i64::try_from(*s).ok(), Quantity::Seconds, false),
                    other => {
                        self.internal_value(&l.span, &other.describe());
                        return None;
                    }
                };
                // (the parser refuses a size or duration above 2^63 - 1 with E0103)
                let Some(value) = value else {
                    self.internal_value(&l.span, &l.node.describe());
                    return None;
                };
                Some(Typed {
                    ir: ValueExpr::Num { value },
                    q,
                    bare_int,
                })
            }
            ast::ValueExpr::Call(c) => self.time_call(&c.func, &c.arg, &c.span, scope),
            ast::ValueExpr::Arith {
                op,
                left,
                right,
                span,
            } => {
                let l = self.value_expr(left, scope);
                let r = self.value_expr(right, scope);
                let (l, r) = (l?, r?);
                let op_ir = match op.node {
                    ast::ArithOp::Add => ArithOp::Add,
                    ast::ArithOp::Sub => ArithOp::Sub,
                    ast::ArithOp::Mul => ArithOp::Mul,
                    ast::ArithOp::Div => ArithOp::Div,
                };
                let q = match arith_quantity(op_ir, l.q, r.q) {
                    Ok(q) => q,
                    Err(hint) => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0271,
                                format!(
                                    "`{}` of {} and {} has no meaning",
                                    op_ir.text(),
                                    l.q.words(),
                                    r.q.words()
                                ),
                            )
                            .at(span.clone())
                            .found(format!("{} {} {}", l.q.words(), op_ir.text(), r.q.words()))
                            .expected(expected_for(op_ir))
                            .hint(hint),
                        );
                        return None;
                    }
                };
                Some(Typed {
                    ir: ValueExpr::Arith {
                        op: op_ir,
                        left: Box::new(l.ir),
                        right: Box::new(r.ir),
                    },
                    q,
                    bare_int: false,
                })
            }
        }
    }

    /// `hour(field)`, `weekday(field)`: a known function (E0274) of a timestamp field of the
    /// event (E0275), in a rule with a `timezone` clause (E0277).
    fn time_call(
        &mut self,
        func: &Spanned<String>,
        arg: &Spanned<String>,
        span: &Span,
        scope: &Scope<'_>,
    ) -> Option<Typed> {
        let (f, q) = match func.node.as_str() {
            "hour" => (TimeFunc::Hour, Quantity::Hour),
            "weekday" => (TimeFunc::Weekday, Quantity::Weekday),
            other => {
                let mut d = Diagnostic::new(Code::E0274, format!("unknown function `{other}`"))
                    .at(func.span.clone())
                    .found(format!("`{other}(...)`"))
                    .expected("`hour(time)` or `weekday(time)`");
                if let Some(n) = crate::diag::nearest(other, ["hour", "weekday"]) {
                    d = d.hint(format!("did you mean `{n}`?"));
                } else {
                    d = d.hint("values are fields, aggregates, numbers, arithmetic, `hour(time)` and `weekday(time)`");
                }
                self.diags.push(d);
                return None;
            }
        };
        let (field, ty) = self.resolve_one(arg, scope)?;
        if !(matches!(field, FieldRef::Field(_)) && ty == FieldType::Timestamp) {
            self.diags.push(
                Diagnostic::new(
                    Code::E0275,
                    format!(
                        "`{}()` reads a timestamp, and `{}` is {}",
                        f.name(),
                        arg.node,
                        a_type(&ty)
                    ),
                )
                .at(arg.span.clone())
                .found(format!(
                    "{} {}",
                    a_type(&ty),
                    if matches!(field, FieldRef::Field(_)) {
                        "field"
                    } else {
                        "value"
                    }
                ))
                .expected("a timestamp field of the event (`time`)")
                .hint(format!("write `{}(time)`", f.name())),
            );
            return None;
        }
        // The rule's clause, else the pack's zone (detc.yaml): the IR holds only the offset, so
        // every target and the evaluator see the same rule either way.
        let Some(offset_minutes) = self.timezone else {
            if !self.timezone_given {
                self.diags.push(
                    Diagnostic::new(Code::E0277, format!("`{}()` in a rule without a `timezone`", f.name()))
                        .at(span.clone())
                        .found(format!("`{}({})` and no `timezone` clause", f.name(), arg.node))
                        .expected("a `timezone` clause giving the UTC offset the hour and day are read in")
                        .hint("add `timezone +00:00` for UTC, or the estate's offset (`timezone +02:00`), or give every rule of the pack one with `timezone:` in detc.yaml; named zones are not supported because their daylight-saving rules differ between engines"),
                );
            }
            return None;
        };
        Some(Typed {
            ir: ValueExpr::Time {
                func: f,
                field,
                offset_minutes,
            },
            q,
            bare_int: false,
        })
    }

    fn internal_value(&mut self, span: &Span, what: &str) {
        self.diags.push(
            Diagnostic::new(Code::E0199, format!("internal error: {what} in a value"))
                .at(span.clone())
                .hint("this is a bug in detc; please report it with this file"),
        );
    }
}

/// The type of a name in a scope, without reporting anything.
fn quiet_type(name: &str, scope: &Scope<'_>) -> Option<FieldType> {
    match scope {
        Scope::Event { source, .. } => catalogue::field(*source, name).map(|d| d.ty),
        Scope::Group { aggregates } => aggregates.get(name).cloned(),
    }
}

/// The quantity of `l op r`, or a hint saying why it has none.
fn arith_quantity(op: ArithOp, l: Quantity, r: Quantity) -> Result<Quantity, &'static str> {
    use Quantity::*;
    if l == Port || r == Port {
        return Err("a port is a label, not an amount: compare ports with ==, !=, <, >, but do not compute with them");
    }
    if matches!(l, Hour | Weekday) || matches!(r, Hour | Weekday) {
        return Err("an hour or a weekday is compared, not computed with: `hour(time) >= 18`, `weekday(time) in [sat, sun]`");
    }
    match op {
        ArithOp::Add | ArithOp::Sub if l == r => Ok(l),
        ArithOp::Add | ArithOp::Sub => Err(
            "add or subtract values of one kind; give a literal its unit: `1000B`, `1MB`, `60s`",
        ),
        ArithOp::Mul => match (l, r) {
            (Number, q) | (q, Number) => Ok(q),
            _ => Err("multiply an amount by a plain number: `20 * bytes.received`"),
        },
        ArithOp::Div => match (l, r) {
            (a, b) if a == b => Ok(Number),
            (q, Number) => Ok(q),
            _ => Err("divide values of one kind for a ratio (`bytes.sent / bytes.received`), or an amount by a plain number"),
        },
    }
}

fn expected_for(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add | ArithOp::Sub => "two values of the same kind, neither a port",
        ArithOp::Mul => "an amount and a plain number, neither a port",
        ArithOp::Div => {
            "two values of the same kind, or an amount and a plain number, neither a port"
        }
    }
}

fn mismatch_hint(l: Quantity, r: Quantity) -> &'static str {
    use Quantity::*;
    match (l, r) {
        (Hour, _) | (_, Hour) => "compare an hour with a bare integer from 0 to 23: `hour(time) >= 18`",
        (Weekday, _) | (_, Weekday) => "compare a weekday with the symbols mon .. sun: `weekday(time) in [sat, sun]`",
        (Port, _) | (_, Port) => "a port is not an amount: compare it with another port or a port number",
        (Number, _) | (_, Number) => {
            "a ratio of two amounts is a plain number: compare it with a number (`sent / received > 20`), or scale the other side (`sent > 20 * received`)"
        }
        _ => "bytes and durations are different quantities; compare each with its own kind",
    }
}
