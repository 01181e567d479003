//! The filters of a file's rules over one table of distinct predicates (issue 15, point 3:
//! many rules over one file).
//!
//! Packs repeat predicates: `direction == outbound`, `not remote.ip is loopback`, a process-name
//! list, the same port test. Each rule's filter is compiled here to a tree over predicate
//! numbers, and a predicate is numbered once per file context: two predicates are the same when
//! they read the same event cell with the same operator, operands, case and list-ness (so
//! `=~` and `==` on a field, or one test on two fields, stay apart). While an event is
//! evaluated, each predicate's truth value is computed at most once ([`Memo`]) and read by every
//! rule that has it. A predicate is a pure function of its cell (src/eval/ops.rs), so reading
//! it from the memo gives the value evaluating it again would: each rule's filter still holds
//! exactly when it held alone, and `and` / `or` still stop at the first deciding operand.
//!
//! A filter that reads a computed field (`let`) or compares two values is not compiled here:
//! the rule evaluates it itself ([`SharedFilters::holds`] returns `None`).

use super::engine::{Binding, CompiledRule};
use super::ops::{Cell, Matcher};
use crate::ir::{Expr, FieldRef};
use std::collections::HashMap;

/// A filter over predicate numbers.
#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Pred(usize),
    /// A predicate on a field the input schema does not have: its value is always missing, so
    /// the predicate is false (every operator, `exists` included, is false on a missing value).
    False,
}

/// The distinct predicates of a file's rules and each rule's filter over them.
#[derive(Debug, Clone, Default)]
pub struct SharedFilters {
    /// Each distinct predicate: the event cell it reads and its prepared operator.
    preds: Vec<(usize, Matcher)>,
    /// Per rule of the file (its position in the file's rule list): its filter, or `None` when
    /// the rule evaluates its filter itself.
    filters: Vec<Option<Node>>,
}

/// The truth values of the predicates evaluated so far on the current event: 0 not yet,
/// 1 false, 2 true. Reused from event to event (see [`SharedFilters::reset`]).
pub type Memo = Vec<u8>;

impl SharedFilters {
    /// Compiles the filters of `rules` (compiled rule number and binding, as a file holds them).
    pub fn new(compiled: &[CompiledRule], rules: &[(usize, Binding)]) -> SharedFilters {
        let mut ids: HashMap<(usize, String), usize> = HashMap::new();
        let mut preds: Vec<(usize, Matcher)> = Vec::new();
        let filters = rules
            .iter()
            .map(|(i, bind)| {
                let c = compiled.get(*i)?;
                if c.filter_reads_lets() {
                    return None;
                }
                let mut pred = |p: &crate::ir::Predicate| -> Option<Node> {
                    let FieldRef::Field(_) = &p.field else {
                        return None;
                    };
                    let Some(cell) = bind.get(c.slot_of(&p.field)?).copied().flatten() else {
                        return Some(Node::False);
                    };
                    // The operator with everything that decides its meaning (Debug prints every
                    // operand, the case and the list name), read on this cell.
                    let key = (cell, format!("{:?}|{}|{:?}", p.op, p.each, p.ty));
                    if let Some(id) = ids.get(&key) {
                        return Some(Node::Pred(*id));
                    }
                    let m = Matcher::of_pred(p).ok()?;
                    preds.push((cell, m));
                    ids.insert(key, preds.len() - 1);
                    Some(Node::Pred(preds.len() - 1))
                };
                node(&c.rule.filter, &mut pred)
            })
            .collect();
        SharedFilters { preds, filters }
    }

    /// Number of distinct predicates.
    pub fn len(&self) -> usize {
        self.preds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.preds.is_empty()
    }

    /// Readies `memo` for a new event.
    pub fn reset(&self, memo: &mut Memo) {
        memo.clear();
        memo.resize(self.preds.len(), 0);
    }

    /// Whether the filter of the rule at `pos` holds on `cells` (`memo` reset for this event),
    /// or `None` when the rule evaluates its filter itself.
    pub fn holds(&self, pos: usize, cells: &[Option<Cell<'_>>], memo: &mut Memo) -> Option<bool> {
        let f = self.filters.get(pos)?.as_ref()?;
        Some(self.eval(f, cells, memo))
    }

    fn eval(&self, n: &Node, cells: &[Option<Cell<'_>>], memo: &mut Memo) -> bool {
        match n {
            Node::And(xs) => xs.iter().all(|x| self.eval(x, cells, memo)),
            Node::Or(xs) => xs.iter().any(|x| self.eval(x, cells, memo)),
            Node::Not(x) => !self.eval(x, cells, memo),
            Node::False => false,
            Node::Pred(id) => match memo.get(*id) {
                Some(1) => false,
                Some(2) => true,
                _ => {
                    let v = self.preds.get(*id).is_some_and(|(cell, m)| {
                        m.matches_ref(cells.get(*cell).and_then(Option::as_ref).map(Cell::get))
                    });
                    if let Some(s) = memo.get_mut(*id) {
                        *s = 1 + u8::from(v);
                    }
                    v
                }
            },
        }
    }
}

/// `e` over predicate numbers from `pred`; `None` when some part cannot be shared.
fn node(e: &Expr, pred: &mut dyn FnMut(&crate::ir::Predicate) -> Option<Node>) -> Option<Node> {
    Some(match e {
        Expr::And(xs) => Node::And(xs.iter().map(|x| node(x, pred)).collect::<Option<_>>()?),
        Expr::Or(xs) => Node::Or(xs.iter().map(|x| node(x, pred)).collect::<Option<_>>()?),
        Expr::Not(x) => Node::Not(Box::new(node(x, pred)?)),
        Expr::Pred(p) => pred(p)?,
        Expr::Compare(_) => return None,
    })
}
