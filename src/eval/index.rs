//! Rules indexed by a discriminating literal (issue 15, point 3: many rules over one file).
//!
//! A rule whose filter is a conjunction with `field == N` or `field in [N, ...]` on an integer
//! field (a port, an EventID) can only match an event whose value of that field is one of those
//! integers: a missing value, another type or another number makes the predicate, and so the
//! whole conjunction, false (src/eval/ops.rs). So an event tests only the rules listed under its
//! value plus the rules without such a literal; the others are not matched, exactly as if they
//! had been evaluated (an unmatched rule changes no state). With 1,000 rules each pinned to one
//! of 8 mail ports, an event on a mail port tests ~1/8 of them and any other event none.
//!
//! One field is indexed per file: the one the most rules can be indexed on.

use super::engine::{Binding, CompiledRule};
use super::ops::Cell;
use std::collections::HashMap;

/// Below this many rules of a file, every event tests every rule (the lookup would not pay).
const MIN_RULES: usize = 4;

/// The rules of one file (positions in its rule list) by the value of one event cell.
#[derive(Debug, Clone)]
pub struct RuleIndex {
    /// The event cell tested (an input schema's field number).
    cell: usize,
    by_value: HashMap<i64, Vec<usize>>,
    /// Rules without a literal on that cell: tested on every event.
    always: Vec<usize>,
}

impl RuleIndex {
    /// Indexes `rules` (compiled rule number and binding, as a file holds them) when enough of
    /// them have an integer literal on one common cell; `None` otherwise.
    pub fn new(compiled: &[CompiledRule], rules: &[(usize, Binding)]) -> Option<RuleIndex> {
        if rules.len() < MIN_RULES {
            return None;
        }
        // Per rule: (cell, literals) of each usable conjunct.
        let lits: Vec<Vec<(usize, Vec<i64>)>> = rules
            .iter()
            .map(|(i, bind)| {
                compiled
                    .get(*i)
                    .map(CompiledRule::int_literals)
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
        let mut by_value: HashMap<i64, Vec<usize>> = HashMap::new();
        let mut always = Vec::new();
        for (pos, l) in lits.iter().enumerate() {
            // Several conjuncts on the cell: any one bounds the values (the smallest set).
            match l
                .iter()
                .filter(|(c, _)| *c == cell)
                .min_by_key(|(_, v)| v.len())
            {
                Some((_, vals)) => {
                    for v in vals {
                        let list = by_value.entry(*v).or_default();
                        if list.last() != Some(&pos) {
                            list.push(pos);
                        }
                    }
                }
                None => always.push(pos),
            }
        }
        Some(RuleIndex {
            cell,
            by_value,
            always,
        })
    }

    /// The positions of the rules an event with these `cells` may match: those under its
    /// value, and those always tested (together not in rule order).
    pub fn candidates(&self, cells: &[Option<Cell<'_>>]) -> (&[usize], &[usize]) {
        let hit: &[usize] = match cells.get(self.cell) {
            Some(Some(Cell::Int(v))) => self.by_value.get(v).map_or(&[], Vec::as_slice),
            _ => &[],
        };
        (hit, &self.always)
    }
}
