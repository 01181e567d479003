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
//! Memberships are shared further: every `==` / `in` of integers, strings or enum values on one
//! cell (a pack's process-name lists, its port lists) joins that cell's [`Family`], one hash
//! map from value to the predicates holding on it (`index::KeyMap`, keyed as `ops` compares).
//! The first of them an event needs looks its value up once and settles them all: those listed
//! under the value hold, the others do not (a missing value holds none), which is each one's
//! own truth value. A family of one predicate is evaluated by its own matcher (a bitset for
//! ports) instead.
//!
//! A filter that reads a computed field (`let`) or compares two values is not compiled here:
//! the rule evaluates it itself ([`SharedFilters::holds`] returns `None`).

use super::engine::{Binding, CompiledRule};
use super::index::{literal_keys, Key, KeyMap};
use super::ops::{Cell, Matcher};
use crate::ir::{Expr, FieldRef};
use std::collections::HashMap;

/// A filter over predicate numbers.
#[derive(Debug, Clone)]
enum Node {
    /// `and` of its operands, in order.
    All(Vec<Operand>),
    /// `or` of its operands, in order.
    Any(Vec<Operand>),
    Not(Box<Node>),
    Pred(usize),
    /// A predicate on a field the input schema does not have: its value is always missing, so
    /// the predicate is false (every operator, `exists` included, is false on a missing value).
    False,
}

/// An operand of an `and` or `or`: a literal (a predicate and whether it is negated), evaluated
/// in the operands' loop with no call, or a deeper node. Row (f)'s `a and not b` walked as
/// nodes, a call each, was ~230 of the ~380 instructions of its filter per event; AN0379's
/// `a and b and not (c and d) and not e and not f` has its literals in place beside the one
/// nested node.
#[derive(Debug, Clone)]
enum Operand {
    Lit(usize, bool),
    Node(Node),
}

impl Operand {
    fn of(n: Node) -> Operand {
        match n {
            Node::Pred(id) => Operand::Lit(id, false),
            Node::Not(inner) => match *inner {
                Node::Pred(id) => Operand::Lit(id, true),
                other => Operand::Node(Node::Not(Box::new(other))),
            },
            other => Operand::Node(other),
        }
    }
}

/// How one distinct predicate is evaluated.
#[derive(Debug, Clone)]
enum Pred {
    /// Its own operator on an event cell.
    Own(usize, Matcher),
    /// With the other memberships of its family (a number into `families`).
    Member(usize),
}

/// The memberships (`==` / `in` on integers, strings, enum values) of one cell.
#[derive(Debug, Clone)]
struct Family {
    cell: usize,
    /// Predicate numbers by the values they hold on.
    by_value: KeyMap,
    /// Every predicate of the family.
    members: Vec<usize>,
}

/// The distinct predicates of a file's rules and each rule's filter over them.
#[derive(Debug, Clone, Default)]
pub struct SharedFilters {
    preds: Vec<Pred>,
    families: Vec<Family>,
    /// Per rule of the file (its position in the file's rule list): its filter, or `None` when
    /// the rule evaluates its filter itself.
    filters: Vec<Option<Node>>,
}

/// The truth values of the predicates evaluated so far on the current event, then of the
/// rules' filters (one per rule, after the predicates'): 0 not yet, 1 false, 2 true. Reused
/// from event to event (see [`SharedFilters::reset`]). A filter's own entry spares evaluating
/// its tree again when the filters are first asked whether some rule matches a row and then
/// the event is fed to each rule (row (f): the second walk was 2% of its instructions).
///
/// At least [`SMALL`] entries are held (those past the last in use are never read), so that a
/// new event zeroes a file's few entries with one fixed-size store, no call: zeroing the exact
/// entries was a `memset` call, about 25 instructions a row of (f) for its three.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    /// The marks, [`LINE`] to a block; `len` of them in use.
    lines: Vec<Marks>,
    len: usize,
}

const SMALL: usize = 16;

/// Bytes in a block of a [`Memo`]'s marks: two 64-byte cache lines, the pair the adjacent-line
/// prefetcher fetches together.
const LINE: usize = 128;

/// A block of marks, aligned to and as long as [`LINE`], so that no other allocation shares its
/// cache lines. Each worker writes its memo on every event: as a 16-byte `Vec<u8>`, a worker's
/// marks could share a cache line with another thread's (glibc's per-thread cache hands a
/// chunk freed on one thread to the next allocation on another), and then the two cores took
/// the line from each other on every event. Row (d) with two workers took 0.31 s (0.56 CPU s)
/// in five runs of six and 0.21 s (0.37 CPU s, as with one worker) in the sixth; in the slow
/// runs a quarter of the samples were the load of a mark.
#[derive(Debug, Clone, Copy)]
#[repr(align(128))]
struct Marks([u8; LINE]);

impl Memo {
    pub fn new() -> Memo {
        Memo::default()
    }

    /// The truth value of entry `i` on the current event, if decided.
    #[inline(always)]
    fn get(&self, i: usize) -> Option<bool> {
        if i >= self.len {
            return None;
        }
        match self.lines.get(i / LINE)?.0.get(i % LINE)? {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }

    #[inline(always)]
    fn set(&mut self, i: usize, v: bool) {
        if i >= self.len {
            return;
        }
        if let Some(s) = self
            .lines
            .get_mut(i / LINE)
            .and_then(|l| l.0.get_mut(i % LINE))
        {
            *s = 1 + u8::from(v);
        }
    }

    /// Readies the memo for a new event of `n` entries.
    #[inline]
    fn next_event(&mut self, n: usize) {
        let len = n.max(SMALL);
        if self.len != len {
            self.lines.clear();
            self.lines.resize(len.div_ceil(LINE), Marks([0; LINE]));
            self.len = len;
        } else if let Some(first) = self.lines.first_mut().filter(|_| len == SMALL) {
            // One fixed-size store, no call.
            if let Some(small) = first.0.first_chunk_mut::<SMALL>() {
                *small = [0; SMALL];
            }
        } else {
            self.lines.fill(Marks([0; LINE]));
        }
    }
}

impl SharedFilters {
    /// Compiles the filters of `rules` (compiled rule number and binding, as a file holds them).
    pub fn new(compiled: &[CompiledRule], rules: &[(usize, Binding)]) -> SharedFilters {
        let mut ids: HashMap<(usize, String), usize> = HashMap::new();
        let mut preds: Vec<(usize, Matcher)> = Vec::new();
        // Per predicate: its values as keys, when it may join a family.
        let mut keys: Vec<Option<Vec<Key>>> = Vec::new();
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
                    keys.push(if p.each { None } else { literal_keys(&p.op) });
                    ids.insert(key, preds.len() - 1);
                    Some(Node::Pred(preds.len() - 1))
                };
                node(&c.rule.filter, &mut pred)
            })
            .collect();
        // Families of the cells with at least two memberships, in order of first member.
        let mut count: HashMap<usize, usize> = HashMap::new();
        for ((cell, _), k) in preds.iter().zip(&keys) {
            if k.is_some() {
                *count.entry(*cell).or_default() += 1;
            }
        }
        let mut family_of: HashMap<usize, usize> = HashMap::new();
        let mut families: Vec<Family> = Vec::new();
        let preds = preds
            .into_iter()
            .zip(keys)
            .enumerate()
            .map(|(id, ((cell, m), k))| match k {
                Some(vals) if count.get(&cell).copied().unwrap_or(0) > 1 => {
                    let f = *family_of.entry(cell).or_insert_with(|| {
                        families.push(Family {
                            cell,
                            by_value: KeyMap::default(),
                            members: Vec::new(),
                        });
                        families.len() - 1
                    });
                    if let Some(fam) = families.get_mut(f) {
                        for v in &vals {
                            fam.by_value.add(v, id);
                        }
                        fam.members.push(id);
                    }
                    Pred::Member(f)
                }
                _ => Pred::Own(cell, m),
            })
            .collect();
        SharedFilters {
            preds,
            families,
            filters,
        }
    }

    /// Number of distinct predicates.
    pub fn len(&self) -> usize {
        self.preds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.preds.is_empty()
    }

    /// Readies `memo` for a new event.
    #[inline]
    pub fn reset(&self, memo: &mut Memo) {
        memo.next_event(self.preds.len() + self.filters.len());
    }

    /// Whether the filter of the rule at `pos` holds on `cells` (`memo` reset for this event),
    /// or `None` when the rule evaluates its filter itself.
    pub fn holds(&self, pos: usize, cells: &[Option<Cell<'_>>], memo: &mut Memo) -> Option<bool> {
        let f = self.filters.get(pos)?.as_ref()?;
        let at = self.preds.len() + pos;
        if let Some(v) = memo.get(at) {
            return Some(v);
        }
        let v = self.eval(f, cells, memo);
        memo.set(at, v);
        Some(v)
    }

    fn eval(&self, n: &Node, cells: &[Option<Cell<'_>>], memo: &mut Memo) -> bool {
        match n {
            Node::All(xs) => xs.iter().all(|x| self.operand(x, cells, memo)),
            Node::Any(xs) => xs.iter().any(|x| self.operand(x, cells, memo)),
            Node::Not(x) => !self.eval(x, cells, memo),
            Node::False => false,
            Node::Pred(id) => self.pred(*id, cells, memo),
        }
    }

    /// An operand's truth value: a literal in place, a deeper node by [`SharedFilters::eval`].
    #[inline(always)]
    fn operand(&self, x: &Operand, cells: &[Option<Cell<'_>>], memo: &mut Memo) -> bool {
        match x {
            Operand::Lit(id, neg) => self.pred(*id, cells, memo) != *neg,
            Operand::Node(n) => self.eval(n, cells, memo),
        }
    }

    /// The truth value of predicate `id` on `cells`, from the memo or computed into it.
    #[inline]
    fn pred(&self, id: usize, cells: &[Option<Cell<'_>>], memo: &mut Memo) -> bool {
        if let Some(v) = memo.get(id) {
            return v;
        }
        match self.preds.get(id) {
            Some(Pred::Own(cell, m)) => {
                let v = m.matches_cell(cells.get(*cell).and_then(Option::as_ref));
                memo.set(id, v);
                v
            }
            Some(Pred::Member(f)) => self.member(id, *f, cells, memo),
            None => false,
        }
    }

    /// The truth value of predicate `id`, a member of family `f`, with those of every member
    /// set in the memo. Out of line: `pred`, without its loops, is small enough to be inlined
    /// into a filter's walk (row (f)'s two predicates are its own).
    #[inline(never)]
    fn member(&self, id: usize, f: usize, cells: &[Option<Cell<'_>>], memo: &mut Memo) -> bool {
        if let Some(fam) = self.families.get(f) {
            for m in &fam.members {
                memo.set(*m, false);
            }
            let cell = cells.get(fam.cell).and_then(Option::as_ref);
            for m in fam.by_value.get(cell).into_iter().flatten() {
                memo.set(*m, true);
            }
        }
        memo.get(id) == Some(true)
    }
}

/// `e` over predicate numbers from `pred`; `None` when some part cannot be shared.
fn node(e: &Expr, pred: &mut dyn FnMut(&crate::ir::Predicate) -> Option<Node>) -> Option<Node> {
    Some(match e {
        Expr::And(xs) => Node::All(operands(xs, pred)?),
        Expr::Or(xs) => Node::Any(operands(xs, pred)?),
        Expr::Not(x) => Node::Not(Box::new(node(x, pred)?)),
        Expr::Pred(p) => pred(p)?,
        Expr::Compare(_) => return None,
    })
}

/// The operands of an `and` or `or`, in order (so the same short cut and the same predicates
/// evaluated as the expression's own walk).
fn operands(
    xs: &[Expr],
    pred: &mut dyn FnMut(&crate::ir::Predicate) -> Option<Node>,
) -> Option<Vec<Operand>> {
    xs.iter().map(|x| node(x, pred).map(Operand::of)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memo readied for a new event has no entry decided, whatever the previous event set
    /// and whatever its size before (at, under and over the fixed-size store's 16 entries,
    /// sizes changing from event to event); an entry set reads back, others stay undecided.
    #[test]
    fn a_new_event_forgets_every_entry() {
        let mut memo = Memo::new();
        let sizes = [
            3usize, 3, 16, 16, 17, 40, 40, 0, 1, 15, 16, 3, 64, 2, 127, 128, 129, 129, 300, 16, 257,
        ];
        for (e, &n) in sizes.iter().enumerate() {
            memo.next_event(n);
            for i in 0..n + 20 {
                assert_eq!(memo.get(i), None, "event {e}, size {n}, entry {i}");
            }
            for i in (0..n).filter(|i| (i + e) % 3 != 0) {
                memo.set(i, i % 2 == 0);
            }
            for i in 0..n {
                let want = ((i + e) % 3 != 0).then_some(i % 2 == 0);
                assert_eq!(memo.get(i), want, "event {e}, size {n}, entry {i}");
            }
        }
    }

    /// A memo's marks own their cache lines whatever their number: they start on a 128-byte
    /// boundary and fill whole 128-byte blocks, so no allocation of another thread sits beside
    /// them (two workers writing one line on every event slowed row (d) by half).
    #[test]
    fn a_memos_marks_share_no_cache_line() {
        let mut memo = Memo::new();
        for n in [1usize, 16, 100, 128, 129, 1000] {
            memo.next_event(n);
            let start = memo.lines.as_ptr() as usize;
            assert_eq!(start % 128, 0, "{n} entries start at {start:#x}");
            assert_eq!(std::mem::size_of_val(memo.lines.as_slice()) % 128, 0);
            assert!(std::mem::size_of_val(memo.lines.as_slice()) >= n);
        }
    }
}
