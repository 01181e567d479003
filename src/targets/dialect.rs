//! What KQL, SPL and Sigma share in writing an `ir::Expr`: one walker over the and/or/not
//! skeleton, parameterised by a small per-language [`Dialect`] (how the language writes `and`,
//! `or`, `not`, the constants, a comparison operator), and the pieces their predicates share
//! (an address as a host block, the comparison symbols). Each language lowers a predicate itself
//! ([`Dialect::predicate`] calls into its module): that is where the languages differ.

use crate::ir::{Cidr, CmpOp, Comparison, Expr, Predicate};
use std::net::IpAddr;

pub(crate) trait Dialect {
    /// What joins the operands of an `and` (` and `, ` AND `).
    const AND: &'static str;
    /// What joins the operands of an `or`.
    const OR: &'static str;
    /// `not` applied to its operand, already written.
    fn not(&self, operand: String) -> String;
    /// `And([])` (true) or `Or([])` (false); a language without constants refuses here.
    fn constant(&mut self, value: bool) -> String;
    /// A predicate under `neg` enclosing `not`s (odd: negated), in the language's own lowering.
    fn predicate(&mut self, p: &Predicate, neg: bool) -> String;
    /// A comparison of two values (`ir::value`), in the language's own lowering (or its refusal).
    fn comparison(&mut self, c: &Comparison) -> String;

    /// A comparison operator (`<`, `<=`, `>`, `>=`; Sigma names them as modifiers).
    fn cmp_op(&self, op: CmpOp) -> &'static str {
        cmp_op(op)
    }

    /// `e` as a condition; `neg` counts the enclosing `not`s (the languages whose `not` is not
    /// two-valued guard a predicate under one).
    fn expr(&mut self, e: &Expr, neg: bool) -> String {
        match e {
            Expr::And(v) if v.is_empty() => self.constant(true),
            Expr::Or(v) if v.is_empty() => self.constant(false),
            Expr::And(v) => {
                let parts: Vec<String> = v.iter().map(|x| self.operand(x, neg)).collect();
                parts.join(Self::AND)
            }
            Expr::Or(v) => {
                let parts: Vec<String> = v.iter().map(|x| self.operand(x, neg)).collect();
                parts.join(Self::OR)
            }
            Expr::Not(x) => {
                let operand = self.expr(x, !neg);
                self.not(operand)
            }
            Expr::Pred(p) => self.predicate(p, neg),
            Expr::Compare(c) => self.comparison(c),
        }
    }

    /// An operand of `and` / `or`: parenthesised when it is itself an `and` or `or` of several
    /// (always, whatever the language's precedence: mixed and/or is never left to it).
    fn operand(&mut self, e: &Expr, neg: bool) -> String {
        let s = self.expr(e, neg);
        match e {
            Expr::And(v) | Expr::Or(v) if v.len() > 1 => format!("({s})"),
            _ => s,
        }
    }
}

/// The comparison operators of KQL and SPL `where` / `eval` (and SPL search terms).
pub(crate) fn cmp_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

/// One address as the block holding only it (`/32`, `/128`): equality with an IP is a block test.
pub(crate) fn host_block(a: IpAddr) -> Cidr {
    Cidr {
        addr: a,
        prefix: if a.is_ipv4() { 32 } else { 128 },
    }
}
