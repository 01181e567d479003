//! Meaning-preserving rewrites of IR expressions that backends share: the normal form
//! ([`simplify`]) and predicates on computed fields spelt out over their inputs
//! ([`inline_computed`]).

use crate::ir::{self, Expr, FieldRef, Rule};

/// Removes trivially true/false operands (`And([])`, `Or([])`) and flattens nested And/Or, so
/// every emitter sees the same normal form. The meaning is unchanged.
pub(crate) fn simplify(e: &Expr) -> Expr {
    match e {
        Expr::And(v) => {
            let mut out = Vec::new();
            for x in v.iter().map(simplify) {
                match x {
                    Expr::And(inner) => out.extend(inner), // true operands vanish here too
                    Expr::Or(ref o) if o.is_empty() => return Expr::Or(Vec::new()),
                    o => out.push(o),
                }
            }
            if out.len() == 1 {
                out.remove(0)
            } else {
                Expr::And(out)
            }
        }
        Expr::Or(v) => {
            let mut out = Vec::new();
            for x in v.iter().map(simplify) {
                match x {
                    Expr::Or(inner) => out.extend(inner),
                    Expr::And(ref a) if a.is_empty() => return Expr::And(Vec::new()),
                    o => out.push(o),
                }
            }
            if out.len() == 1 {
                out.remove(0)
            } else {
                Expr::Or(out)
            }
        }
        Expr::Not(x) => match simplify(x) {
            Expr::Not(y) => *y,
            y => Expr::Not(Box::new(y)),
        },
        p => p.clone(),
    }
}

/// Rewrites predicates on computed fields into predicates on the fields they are computed from,
/// for targets that cannot compute (Sigma, tstats): `protocol == "SMTP"` becomes "the first arm
/// whose value is SMTP holds and no earlier arm does" (or-ed over such arms, plus "no arm holds"
/// when the default satisfies it). A missing value (no arm, no default) satisfies nothing, so
/// `not` stays true on it, as the IR says. `None` when a predicate cannot be decided on a value.
pub(crate) fn inline_computed(rule: &Rule, e: &Expr) -> Option<Expr> {
    Some(match e {
        Expr::And(v) => Expr::And(
            v.iter()
                .map(|x| inline_computed(rule, x))
                .collect::<Option<_>>()?,
        ),
        Expr::Or(v) => Expr::Or(
            v.iter()
                .map(|x| inline_computed(rule, x))
                .collect::<Option<_>>()?,
        ),
        Expr::Not(x) => Expr::Not(Box::new(inline_computed(rule, x)?)),
        // (a comparison of values never reads a computed field: the checker refuses it)
        Expr::Compare(_) => e.clone(),
        Expr::Pred(p) => match &p.field {
            FieldRef::Computed(n) => {
                let l = rule.lets.iter().find(|l| &l.name == n)?;
                let mut alts = Vec::new();
                let mut earlier: Vec<Expr> = Vec::new();
                for (cond, v) in &l.arms {
                    if const_holds(&p.op, v)? {
                        let mut conj = vec![cond.clone()];
                        conj.extend(earlier.iter().map(|c| Expr::Not(Box::new(c.clone()))));
                        alts.push(Expr::And(conj));
                    }
                    earlier.push(cond.clone());
                }
                if let Some(d) = &l.default {
                    if const_holds(&p.op, d)? {
                        alts.push(Expr::And(
                            earlier
                                .iter()
                                .map(|c| Expr::Not(Box::new(c.clone())))
                                .collect(),
                        ));
                    }
                }
                simplify(&Expr::Or(alts))
            }
            _ => e.clone(),
        },
    })
}

/// Whether a predicate holds on a constant (the value of a computed field), by the IR's own value
/// semantics (`ir::semantics`, shared with the evaluator). `None`: not decidable here.
fn const_holds(op: &ir::Op, v: &ir::Value) -> Option<bool> {
    use ir::semantics::{compare, is_missing, simple_lower, values_equal};
    use ir::{Case, Op, StrOp, Value};
    // A missing constant (the empty string) makes every operator false, `Exists` included.
    if is_missing(Some(v)) {
        return Some(false);
    }
    let fold = |s: &str, c: Case| match c {
        Case::Sensitive => s.to_string(),
        Case::Insensitive => simple_lower(s),
    };
    Some(match op {
        Op::Exists => true,
        Op::Eq { value, case } => values_equal(v, value, *case),
        Op::In { values, case, .. } => values.iter().any(|x| values_equal(v, x, *case)),
        Op::Str {
            kind,
            needles,
            case,
        } => {
            let Value::Str(s) = v else { return None };
            let s = fold(s, *case);
            needles.iter().any(|n| {
                let n = fold(n, *case);
                match kind {
                    StrOp::StartsWith => s.starts_with(&n),
                    StrOp::EndsWith => s.ends_with(&n),
                    StrOp::Contains => s.contains(&n),
                }
            })
        }
        Op::Regex { pattern, case } => {
            let Value::Str(s) = v else { return None };
            // A pattern that does not compile (the checker rejects it) is "not decidable": the
            // caller then refuses the rule, it never drops the predicate.
            let pat = ir::semantics::ascii_fold_regex(pattern, *case == Case::Insensitive).ok()?;
            regex::Regex::new(&pat).ok()?.is_match(s)
        }
        Op::Cmp { op, value } => compare(v, *op, value),
        Op::InCidr { .. } | Op::IpClass { .. } => return None,
    })
}
