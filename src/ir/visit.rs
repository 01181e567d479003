//! The one walk over an IR expression's leaves (predicates and comparisons of values), and what
//! backends and the checker ask of it: the catalogue fields read, whether a computed field is read.

use crate::diag::Span;
use crate::ir::{self, Expr, FieldRef, Predicate, Rule};
use std::collections::BTreeSet;

/// Calls `f` on every predicate of `e`, left to right.
pub fn for_each_pred<'e>(e: &'e Expr, f: &mut impl FnMut(&'e Predicate)) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| for_each_pred(x, f)),
        Expr::Not(x) => for_each_pred(x, f),
        Expr::Pred(p) => f(p),
        Expr::Compare(_) => {}
    }
}

/// Calls `f` on every field reference of `e` (a predicate's field, each reference of a comparison
/// of values), with the span of the leaf it is in, left to right.
pub fn for_each_ref<'e>(e: &'e Expr, f: &mut impl FnMut(&'e FieldRef, &'e Span)) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| for_each_ref(x, f)),
        Expr::Not(x) => for_each_ref(x, f),
        Expr::Pred(p) => f(&p.field, &p.span),
        Expr::Compare(c) => c.refs().into_iter().for_each(|r| f(r, &c.span)),
    }
}

/// Calls `f` on every comparison of values of `e`, left to right.
pub fn for_each_compare<'e>(e: &'e Expr, f: &mut impl FnMut(&'e ir::Comparison)) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| for_each_compare(x, f)),
        Expr::Not(x) => for_each_compare(x, f),
        Expr::Pred(_) => {}
        Expr::Compare(c) => f(c),
    }
}

/// The first comparison of the rule (filter, then computed fields) that reads the hour or the
/// weekday of a time.
pub fn first_time_compare(rule: &Rule) -> Option<&ir::Comparison> {
    let mut found = None;
    let mut look = |e| {
        for_each_compare(e, &mut |c| {
            if found.is_none() && c.reads_time() {
                found = Some(c);
            }
        })
    };
    look(&rule.filter);
    for l in &rule.lets {
        for (c, _) in &l.arms {
            look(c);
        }
    }
    found
}

/// Whether some predicate of `e` reads a computed field (`let`).
pub fn uses_computed(e: &Expr) -> bool {
    let mut any = false;
    for_each_ref(e, &mut |r, _| any |= matches!(r, FieldRef::Computed(_)));
    any
}

/// The catalogue fields the predicates of `e` read, added to `out`.
pub fn collect_fields(e: &Expr, out: &mut BTreeSet<String>) {
    for_each_ref(e, &mut |r, _| {
        if let FieldRef::Field(n) = r {
            out.insert(n.clone());
        }
    });
}

/// Every catalogue field the rule reads (filter, lets, group keys, aggregates), with a span.
pub fn fields_used(rule: &Rule, aggregates: bool) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    let mut walk = |e: &Expr| {
        for_each_ref(e, &mut |r, span| {
            if let FieldRef::Field(f) = r {
                out.push((f.clone(), span.clone()));
            }
        })
    };
    walk(&rule.filter);
    for l in &rule.lets {
        for (c, _) in &l.arms {
            walk(c);
        }
    }
    out.extend(aggregation_fields(rule, aggregates));
    out
}

/// The catalogue fields the rule groups by and, with `aggregates`, aggregates, with a span.
pub fn aggregation_fields(rule: &Rule, aggregates: bool) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    if let Some(a) = &rule.aggregation {
        for g in &a.group_by {
            if let FieldRef::Field(f) = g {
                out.push((f.clone(), a.span.clone()));
            }
        }
        for ag in a.aggregates.iter().filter(|_| aggregates) {
            if let ir::AggFunc::DistinctCount(FieldRef::Field(f))
            | ir::AggFunc::Sum(FieldRef::Field(f))
            | ir::AggFunc::Min(FieldRef::Field(f))
            | ir::AggFunc::Max(FieldRef::Field(f)) = &ag.func
            {
                out.push((f.clone(), ag.span.clone()));
            }
        }
    }
    out
}
