//! The condition of an imported rule, between Sigma's detection and detc's text: a boolean tree
//! whose leaves are detc predicates, plus the two leaves whose exactness depends on their
//! neighbours (Sigma's `null` and `''`, and a field that Sysmon swaps on inbound connections).

/// A condition being built.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A detc predicate, as text (`process.path endswith~ '\cmd.exe'`).
    Pred(String),
    /// `field == symbol` on an enum field (known to [`Expr::eval_assuming`]).
    Enum {
        field: String,
        symbol: String,
    },
    /// Sigma's `field: null` (`null`) or `field: ''` (`empty`); detc's `missing` is both at once
    /// (absent, null or empty: docs/SEMANTICS.md), so a leaf that is only one of them is exact
    /// only next to the other (`merge_missing`).
    Missing {
        field: String,
        null: bool,
        empty: bool,
    },
    /// A Sigma field that is catalogue field `normal` except on the events where
    /// `when_field == when_symbol`, where it is `swapped` (`None`: no catalogue field).
    Swap {
        /// The Sigma field, for a refusal.
        sigma: String,
        when_field: String,
        when_symbol: String,
        normal: Box<Expr>,
        swapped: Option<Box<Expr>>,
    },
}

impl Expr {
    pub fn and(mut v: Vec<Expr>) -> Expr {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        }
    }

    pub fn or(mut v: Vec<Expr>) -> Expr {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        }
    }

    /// Nested `and`s (and `or`s) flattened into one node.
    pub fn flatten(self) -> Expr {
        match self {
            Expr::And(v) => {
                let mut out = Vec::new();
                for e in v.into_iter().map(Expr::flatten) {
                    match e {
                        Expr::And(inner) => out.extend(inner),
                        e => out.push(e),
                    }
                }
                Expr::and(out)
            }
            Expr::Or(v) => {
                let mut out = Vec::new();
                for e in v.into_iter().map(Expr::flatten) {
                    match e {
                        Expr::Or(inner) => out.extend(inner),
                        e => out.push(e),
                    }
                }
                Expr::or(out)
            }
            Expr::Not(e) => Expr::Not(Box::new(e.flatten())),
            Expr::Swap {
                sigma,
                when_field,
                when_symbol,
                normal,
                swapped,
            } => Expr::Swap {
                sigma,
                when_field,
                when_symbol,
                normal: Box::new(normal.flatten()),
                swapped: swapped.map(|s| Box::new(s.flatten())),
            },
            e => e,
        }
    }

    /// Merges `null` and `''` tests of one field that stand side by side: `F: null or F: ''` and
    /// `not F: null and not F: ''` are exactly detc's `F missing` and `F exists`. Run on a
    /// flattened tree.
    pub fn merge_missing(self) -> Expr {
        match self {
            Expr::Or(v) => Expr::or(merge_side(
                v.into_iter().map(Expr::merge_missing).collect(),
                false,
            )),
            Expr::And(v) => Expr::and(merge_side(
                v.into_iter().map(Expr::merge_missing).collect(),
                true,
            )),
            Expr::Not(e) => Expr::Not(Box::new(e.merge_missing())),
            e => e,
        }
    }

    /// The first `null` or `''` test left alone, if any: (field, the Sigma value).
    pub fn lone_missing(&self) -> Option<(String, &'static str)> {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().find_map(Expr::lone_missing),
            Expr::Not(e) => e.lone_missing(),
            Expr::Missing { field, null, empty } if null != empty => {
                Some((field.clone(), if *null { "null" } else { "''" }))
            }
            Expr::Swap {
                normal, swapped, ..
            } => normal
                .lone_missing()
                .or_else(|| swapped.as_ref().and_then(|s| s.lone_missing())),
            _ => None,
        }
    }

    /// The value on every event where `field == symbol`, in three-valued logic: `Some` when the
    /// rest of the condition does not matter, `None` when it does.
    pub fn eval_assuming(&self, field: &str, symbol: &str) -> Option<bool> {
        match self {
            Expr::And(v) => {
                let mut all = Some(true);
                for e in v {
                    match e.eval_assuming(field, symbol) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => all = None,
                    }
                }
                all
            }
            Expr::Or(v) => {
                let mut any = Some(false);
                for e in v {
                    match e.eval_assuming(field, symbol) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => any = None,
                    }
                }
                any
            }
            Expr::Not(e) => e.eval_assuming(field, symbol).map(|b| !b),
            Expr::Enum {
                field: f,
                symbol: s,
            } if f == field => Some(s == symbol),
            _ => None,
        }
    }

    /// Whether a swapped field without a catalogue field for its swapped side is left.
    pub fn has_unswappable(&self) -> bool {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().any(Expr::has_unswappable),
            Expr::Not(e) => e.has_unswappable(),
            Expr::Swap { swapped: None, .. } => true,
            _ => false,
        }
    }

    /// Swaps resolved: when the whole condition is false on every event where a swap's condition
    /// holds (`direction == inbound` for Sysmon's Destination* fields, when the rule asks for
    /// `Initiated: 'true'`), each swap is its normal side; otherwise each is spelled out as
    /// `(when and swapped) or (not when and normal)`.
    pub fn resolve_swaps(self, whole: &Expr) -> Expr {
        match self {
            Expr::And(v) => Expr::And(v.into_iter().map(|e| e.resolve_swaps(whole)).collect()),
            Expr::Or(v) => Expr::Or(v.into_iter().map(|e| e.resolve_swaps(whole)).collect()),
            Expr::Not(e) => Expr::Not(Box::new(e.resolve_swaps(whole))),
            Expr::Swap {
                when_field,
                when_symbol,
                normal,
                swapped,
                ..
            } => {
                if whole.eval_assuming(&when_field, &when_symbol) == Some(false) {
                    return *normal;
                }
                let when = Expr::Enum {
                    field: when_field,
                    symbol: when_symbol,
                };
                let swapped = swapped.map(|s| *s).unwrap_or(Expr::Or(Vec::new()));
                Expr::Or(vec![
                    Expr::And(vec![when.clone(), swapped]),
                    Expr::And(vec![Expr::Not(Box::new(when)), *normal]),
                ])
            }
            e => e,
        }
    }

    /// detc condition text. `or` binds loosest, then `and`, then `not`.
    pub fn render(&self) -> String {
        self.render_at(0)
    }

    /// `level`: 0 top, 1 inside `or`, 2 inside `and`, 3 under `not`. An `and` inside an `or` is
    /// parenthesised too: detc lints `and` and `or` mixed without parentheses (W0281).
    fn render_at(&self, level: u8) -> String {
        let wrap = |s: String, needs: bool| if needs { format!("({s})") } else { s };
        match self {
            Expr::Or(v) => wrap(
                v.iter()
                    .map(|e| e.render_at(1))
                    .collect::<Vec<_>>()
                    .join(" or "),
                level >= 2 && v.len() > 1,
            ),
            Expr::And(v) => wrap(
                v.iter()
                    .map(|e| e.render_at(2))
                    .collect::<Vec<_>>()
                    .join(" and "),
                (level == 1 || level == 3) && v.len() > 1,
            ),
            Expr::Not(e) => match &**e {
                Expr::Missing { field, .. } => format!("{field} exists"),
                inner => format!("not {}", inner.render_at(3)),
            },
            Expr::Pred(p) => p.clone(),
            Expr::Enum { field, symbol } => format!("{field} == {symbol}"),
            Expr::Missing { field, .. } => format!("{field} missing"),
            // Resolved before rendering (`resolve_swaps`).
            Expr::Swap { normal, .. } => normal.render_at(level),
        }
    }
}

/// The `missing` leaf of a side of `merge_side`: the leaf itself under `or`, a negated one
/// under `and`.
fn missing_of(o: &mut Expr, under_and: bool) -> Option<&mut Expr> {
    match (o, under_and) {
        (Expr::Not(inner), true) => Some(&mut **inner),
        (o @ Expr::Missing { .. }, false) => Some(o),
        _ => None,
    }
}

/// One `or` (`under_and` false) or `and` (true, of negations) level: a `null` and a `''` test of
/// the same field become one `missing` test.
fn merge_side(v: Vec<Expr>, under_and: bool) -> Vec<Expr> {
    let mut out: Vec<Expr> = Vec::with_capacity(v.len());
    for e in v {
        let (field, null, empty) = match (&e, under_and) {
            (Expr::Missing { field, null, empty }, false) => (field.clone(), *null, *empty),
            (Expr::Not(inner), true) => match &**inner {
                Expr::Missing { field, null, empty } => (field.clone(), *null, *empty),
                _ => {
                    out.push(e);
                    continue;
                }
            },
            _ => {
                out.push(e);
                continue;
            }
        };
        let mut merged = false;
        for o in out.iter_mut() {
            if let Some(Expr::Missing {
                field: f,
                null: n,
                empty: em,
            }) = missing_of(o, under_and)
            {
                if *f == field {
                    *n |= null;
                    *em |= empty;
                    merged = true;
                    break;
                }
            }
        }
        if !merged {
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miss(f: &str, null: bool) -> Expr {
        Expr::Missing {
            field: f.into(),
            null,
            empty: !null,
        }
    }

    #[test]
    fn null_and_empty_side_by_side_are_missing_and_alone_are_not() {
        let p = || Expr::Pred("a".into());
        let or = Expr::Or(vec![p(), miss("f", true), miss("f", false)]).merge_missing();
        assert_eq!(or.lone_missing(), None);
        assert_eq!(or.render(), "a or f missing");
        let and = Expr::And(vec![
            p(),
            Expr::Not(Box::new(miss("f", true))),
            Expr::Not(Box::new(miss("f", false))),
        ])
        .merge_missing();
        assert_eq!(and.lone_missing(), None);
        assert_eq!(and.render(), "a and f exists");
        let alone = Expr::And(vec![p(), miss("f", true)]).merge_missing();
        assert_eq!(alone.lone_missing(), Some(("f".into(), "null")));
        // Two fields do not make one missing test.
        let two = Expr::Or(vec![miss("f", true), miss("g", false)]).merge_missing();
        assert_eq!(two.lone_missing(), Some(("f".into(), "null")));
    }

    #[test]
    fn a_swap_is_its_normal_side_only_where_the_rule_rules_out_the_swap() {
        let swap = || Expr::Swap {
            sigma: "DestinationPort".into(),
            when_field: "direction".into(),
            when_symbol: "inbound".into(),
            normal: Box::new(Expr::Pred("remote.port == 25".into())),
            swapped: Some(Box::new(Expr::Pred("local.port == 25".into()))),
        };
        let outbound = || Expr::Enum {
            field: "direction".into(),
            symbol: "outbound".into(),
        };
        let rule = Expr::And(vec![outbound(), swap()]);
        assert_eq!(
            rule.clone().resolve_swaps(&rule).render(),
            "direction == outbound and remote.port == 25"
        );
        let rule = Expr::Or(vec![outbound(), swap()]);
        assert_eq!(
            rule.clone().resolve_swaps(&rule).render(),
            "direction == outbound or (direction == inbound and local.port == 25) \
             or (not direction == inbound and remote.port == 25)"
        );
    }
}
