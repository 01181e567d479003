//! Rules indexed by a discriminating literal (issue 15, point 3: many rules over one file).
//!
//! A rule whose filter is a conjunction with `field == V` or `field in [V, ...]` (an integer
//! such as a port or an EventID, a string, an enum value) can only match an event whose value
//! of that field is one of those values: a missing value, another type or another value makes
//! the predicate, and so the whole conjunction, false (src/eval/ops.rs). So an event tests only
//! the rules listed under its value plus the rules without such a literal; the others are not
//! matched, exactly as if they had been evaluated (an unmatched rule changes no state). With
//! 1,000 rules each pinned to one of 8 mail ports, an event on a mail port tests ~1/8 of them
//! and any other event none; rules pinned to process names (`process.name in~ [...]`) are
//! found by one hash lookup of the event's name, lowered once.
//!
//! Values are keyed as `ops` compares them: integers and enum values exactly, strings exactly
//! under `==` / `in` and ASCII-lowered under `=~` / `in~` (an event's text probes both).
//! One field is indexed per file: the one the most rules can be indexed on.

use super::engine::{Binding, CompiledRule};
use super::ops::{simple_lower, with_lower, Cell};
use crate::ir::{Case, Op, Value};
use std::collections::HashMap;

/// Below this many rules of a file, every event tests every rule (the lookup would not pay).
const MIN_RULES: usize = 4;

/// A literal a rule pins a field to, as the index looks it up (see the module comment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Int(i64),
    /// Text compared exactly.
    Str(String),
    /// Text compared ASCII-case-insensitively: lowered.
    Lower(String),
    Enum(String),
}

/// The values an `==` or `in` operator holds on, as keys, when all are integers, strings or
/// enum values: what `ops` compares them by (ASCII-lowered text for `=~` / `in~` on strings;
/// integers and enum values exactly, whatever the case; `in~` lowers only a list of strings,
/// a mixed list compares exactly). `None` for any other operator or value.
pub fn literal_keys(op: &Op) -> Option<Vec<Key>> {
    let key = |v: &Value, case: Case| match v {
        Value::Int(i) => Some(Key::Int(*i)),
        Value::Str(s) if case == Case::Sensitive => Some(Key::Str(s.clone())),
        Value::Str(s) => Some(Key::Lower(simple_lower(s))),
        Value::Enum(s) => Some(Key::Enum(s.clone())),
        _ => None,
    };
    match op {
        Op::Eq { value, case } => Some(vec![key(value, *case)?]),
        Op::In { values, case, .. } => {
            let case = if values.iter().all(|v| matches!(v, Value::Str(_))) {
                *case
            } else {
                Case::Sensitive
            };
            values.iter().map(|v| key(v, case)).collect()
        }
        _ => None,
    }
}

/// Positions (rules, predicates) listed by key, looked up with an event's cell without
/// allocating.
#[derive(Debug, Clone, Default)]
pub struct KeyMap {
    ints: HashMap<i64, Vec<usize>>,
    strs: HashMap<String, Vec<usize>>,
    lower: HashMap<String, Vec<usize>>,
    enums: HashMap<String, Vec<usize>>,
}

impl KeyMap {
    /// Lists `pos` under `k` (once, when positions are added in order).
    pub fn add(&mut self, k: &Key, pos: usize) {
        let list = match k {
            Key::Int(i) => self.ints.entry(*i).or_default(),
            Key::Str(s) => self.strs.entry(s.clone()).or_default(),
            Key::Lower(s) => self.lower.entry(s.clone()).or_default(),
            Key::Enum(s) => self.enums.entry(s.clone()).or_default(),
        };
        if list.last() != Some(&pos) {
            list.push(pos);
        }
    }

    /// The positions listed under a cell's value: text exactly, then lowered. A missing value
    /// (none, or empty text) has none: no `==` or `in` holds on it.
    pub fn get(&self, cell: Option<&Cell<'_>>) -> [&[usize]; 2] {
        match cell {
            Some(Cell::Int(v)) => [self.ints.get(v).map_or(&[], Vec::as_slice), &[]],
            Some(Cell::Str(s)) if !s.is_empty() => [
                get(&self.strs, s),
                if self.lower.is_empty() {
                    &[]
                } else {
                    with_lower(s, |l| get(&self.lower, l))
                },
            ],
            Some(Cell::Enum(s)) if !s.is_empty() => [get(&self.enums, s), &[]],
            _ => [&[], &[]],
        }
    }
}

/// The rules of one file (positions in its rule list) by the value of one event cell.
#[derive(Debug, Clone)]
pub struct RuleIndex {
    /// The event cell tested (an input schema's field number).
    cell: usize,
    by_value: KeyMap,
    /// Rules without a literal on that cell: tested on every event.
    always: Vec<usize>,
}

impl RuleIndex {
    /// Indexes `rules` (compiled rule number and binding, as a file holds them) when enough of
    /// them have a literal on one common cell; `None` otherwise.
    pub fn new(compiled: &[CompiledRule], rules: &[(usize, Binding)]) -> Option<RuleIndex> {
        if rules.len() < MIN_RULES {
            return None;
        }
        // Per rule: (cell, literals) of each usable conjunct.
        let lits: Vec<Vec<(usize, Vec<Key>)>> = rules
            .iter()
            .map(|(i, bind)| {
                compiled
                    .get(*i)
                    .map(CompiledRule::literals)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(slot, vals)| Some((bind.get(slot).copied().flatten()?, vals)))
                    .collect()
            })
            .collect();
        let mut votes: HashMap<usize, usize> = HashMap::new();
        for l in &lits {
            let mut cells: Vec<usize> = l.iter().map(|(c, _)| *c).collect();
            cells.sort_unstable();
            cells.dedup();
            for c in cells {
                *votes.entry(c).or_default() += 1;
            }
        }
        // The most voted cell, ties to the lowest number (deterministic).
        let (cell, n) = votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
        if n < MIN_RULES {
            return None;
        }
        let mut ix = RuleIndex {
            cell,
            by_value: KeyMap::default(),
            always: Vec::new(),
        };
        for (pos, l) in lits.iter().enumerate() {
            // Several conjuncts on the cell: any one bounds the values (the smallest set).
            match l
                .iter()
                .filter(|(c, _)| *c == cell)
                .min_by_key(|(_, v)| v.len())
            {
                Some((_, vals)) => {
                    for v in vals {
                        ix.by_value.add(v, pos);
                    }
                }
                None => ix.always.push(pos),
            }
        }
        Some(ix)
    }

    /// The positions of the rules an event with these `cells` may match: those under its
    /// value (text: exactly, then lowered), and those always tested (together not in rule
    /// order; no position twice, as a rule is listed under one conjunct's values).
    pub fn candidates(&self, cells: &[Option<Cell<'_>>]) -> [&[usize]; 3] {
        let [exact, lowered] = self
            .by_value
            .get(cells.get(self.cell).and_then(Option::as_ref));
        [exact, lowered, &self.always]
    }
}

/// The rules listed under `k` in `m`.
fn get<'m>(m: &'m HashMap<String, Vec<usize>>, k: &str) -> &'m [usize] {
    m.get(k).map_or(&[], Vec::as_slice)
}
