//! The evaluator of a correlation (`ir::Correlation`): events of several steps that share keys
//! within a window, optionally ordered.
//!
//! State is per key: the times of the events that met a step (with the steps they met), sorted
//! by time. An event is fed with the source it was read as; it is held while a later event could
//! still complete a match with it: until the watermark (the latest time seen) minus the allowed
//! lateness passes its time plus the window. Then it is evicted, so memory is bounded by the
//! events of `window + lateness`, never by the input. An event older than the watermark minus
//! the lateness is *late*: counted, not correlated (as an aggregation's late event).
//!
//! Alerts follow the IR's definition: one per event that is the latest of some match. When an
//! event arrives out of order it may complete matches of events already held (those at or after
//! its time, within the window), so those are tested again; each event alerts at most once, and
//! an alert already raised gets the later `first_seen` such an event may give its match.

use super::engine::{event_cells, Binding, CompiledRule};
use super::ops::Cell;
use super::prefilter::Prefilter;
use super::schema::InputSchema;
use super::{Alert, Event};
use crate::diag::Diagnostic;
use crate::ir::{Correlation, Rule, Source, Value};
use std::collections::HashMap;

/// Where a correlation reads its inputs among one input schema's cells ([`Correlator::bind`]).
#[derive(Debug, Clone)]
pub struct CorrBinding {
    /// Per step: its filter's binding, or `None` when the step reads another source.
    steps: Vec<Option<Binding>>,
    /// Per key: its cell.
    keys: Vec<Option<usize>>,
    time: Option<usize>,
}

impl CorrBinding {
    /// The cells the correlation reads: its steps' fields, its keys and `time`.
    pub fn cells(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .steps
            .iter()
            .flatten()
            .flatten()
            .chain(&self.keys)
            .chain(std::iter::once(&self.time))
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// A correlation rule ready to take events.
#[derive(Debug, Clone)]
pub struct Correlator {
    pub rule: Rule,
    corr: Correlation,
    /// Per step: its source and its condition, compiled as a one-source rule.
    steps: Vec<(Source, CompiledRule)>,
    lateness: u64,
}

/// One held event of a key: its time, the steps it met (bit i: step i), and its alert (an index
/// into `CorrState::alerts`) once it is the latest event of a match.
#[derive(Debug, Clone)]
struct Seen {
    t: i64,
    steps: u64,
    alert: Option<usize>,
}

/// The run state of one correlation.
#[derive(Debug, Default)]
pub struct CorrState {
    held: HashMap<Box<[Value]>, Vec<Seen>>,
    /// The latest event time fed.
    watermark: Option<i64>,
    /// Events held now, and at most at once.
    live: usize,
    pub peak: usize,
    /// Events that met a step (late ones included).
    pub matched: u64,
    /// Events that met a step but came later than the allowed lateness: not correlated.
    pub late: u64,
    /// Events that met a step but lack a key: they join no group.
    pub keyless: u64,
    fed_since_sweep: u64,
    alerts: Vec<Alert>,
}

/// Events fed between two sweeps of evicted keys (each key is also trimmed when it is fed): the
/// events held exceed those of `window + lateness` by at most this many.
const SWEEP_EVERY: u64 = 4096;

impl Correlator {
    /// `lateness`: how far (seconds) behind the latest time an event may arrive and still be
    /// correlated.
    pub fn new(rule: &Rule, lateness: u64) -> Result<Correlator, Diagnostic> {
        let Some(corr) = rule.correlation.clone() else {
            return Err(Diagnostic::new(
                crate::diag::Code::E0900,
                format!("rule `{}` is not a correlation", rule.name),
            ));
        };
        let mut steps = Vec::new();
        for s in &corr.steps {
            let one = Rule {
                source: s.source,
                filter: s.filter.clone(),
                correlation: None,
                aggregation: None,
                lets: Vec::new(),
                tests: Vec::new(),
                ..rule.clone()
            };
            steps.push((s.source, CompiledRule::new(&one)?));
        }
        Ok(Correlator {
            rule: rule.clone(),
            corr,
            steps,
            lateness,
        })
    }

    /// The sources the steps read, each once, in step order.
    pub fn sources(&self) -> Vec<Source> {
        let mut out = Vec::new();
        for (s, _) in &self.steps {
            if !out.contains(s) {
                out.push(*s);
            }
        }
        out
    }

    /// What may skip a JSON line of `schema` unparsed: a line none of the steps reading its
    /// source can match (see `prefilter`). `None`: no step reads the source, or lines cannot be
    /// told apart unparsed.
    pub fn prefilter(&self, schema: &InputSchema) -> Option<Prefilter> {
        let steps: Vec<&Rule> = self
            .steps
            .iter()
            .filter(|(src, _)| *src == schema.source)
            .map(|(_, c)| &c.rule)
            .collect();
        if steps.is_empty() {
            return None;
        }
        Prefilter::new(&steps, schema)
    }

    /// The oldest time a held event may have and still matter once the watermark is `wm`.
    fn keep_from(&self, wm: i64) -> i64 {
        wm.saturating_sub(self.lateness as i64)
            .saturating_sub(self.corr.window as i64)
    }

    /// Where this correlation reads its inputs among the cells of an input schema of `source`
    /// (fields in `names` order): what [`Correlator::feed_cells`] takes for each row.
    pub fn bind<N: AsRef<str>>(&self, source: Source, names: &[N]) -> CorrBinding {
        let at = |f: &str| names.iter().position(|n| n.as_ref() == f);
        CorrBinding {
            steps: self
                .steps
                .iter()
                .map(|(src, c)| (*src == source).then(|| c.bind(names)))
                .collect(),
            keys: self.corr.keys.iter().map(|k| at(k)).collect(),
            time: at("time"),
        }
    }

    /// Feeds one event read as `source`.
    pub fn feed(&self, source: Source, ev: &Event, st: &mut CorrState) {
        // The event as cells under its own names: one path for both readers.
        let (names, cells) = event_cells(ev);
        self.feed_cells(&self.bind(source, &names), &cells, st);
    }

    /// [`Correlator::feed`] for an event given as an input schema's cells, with `b` from
    /// [`Correlator::bind`] over the same schema: no map of the event is built, and the key is
    /// read only when some step holds.
    pub fn feed_cells(&self, b: &CorrBinding, cells: &[Option<Cell<'_>>], st: &mut CorrState) {
        let mask = self.steps_met(b, cells);
        if mask == 0 {
            return;
        }
        let cell = |i: &Option<usize>| i.and_then(|i| cells.get(i)).and_then(Option::as_ref);
        let t = match cell(&b.time) {
            Some(Cell::Timestamp(t)) => Some(*t),
            _ => None,
        };
        let key = || {
            let key: Vec<Value> = b
                .keys
                .iter()
                .map_while(|k| match cell(k) {
                    Some(Cell::Str(s)) if s.is_empty() => None,
                    v => v.map(|c| c.clone().into_value()),
                })
                .collect();
            (key.len() == self.corr.keys.len()).then_some(key)
        };
        self.feed_at(mask, t, key, st);
    }

    /// The steps an event given as cells meets (bit i: step i).
    fn steps_met(&self, b: &CorrBinding, cells: &[Option<Cell<'_>>]) -> u64 {
        let mut mask = 0u64;
        for (i, ((_, c), bind)) in self.steps.iter().zip(&b.steps).enumerate() {
            if bind.as_ref().is_some_and(|bind| c.holds(cells, bind)) {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// Whether an event given as cells meets some step: only such events are fed.
    pub fn any_step_holds(&self, b: &CorrBinding, cells: &[Option<Cell<'_>>]) -> bool {
        self.steps_met(b, cells) != 0
    }

    /// Feeds an event that met the steps in `mask` (not 0), at time `t`, with its key values
    /// (`None`: a key is missing or empty).
    fn feed_at(
        &self,
        mask: u64,
        t: Option<i64>,
        key: impl FnOnce() -> Option<Vec<Value>>,
        st: &mut CorrState,
    ) {
        st.matched += 1;
        // Readers never produce an event without a time (a bad line instead).
        let Some(t) = t else {
            st.late += 1;
            return;
        };
        let Some(key) = key() else {
            st.keyless += 1;
            return;
        };
        if let Some(wm) = st.watermark {
            if t < wm.saturating_sub(self.lateness as i64) {
                st.late += 1;
                return;
            }
        }
        let wm = st.watermark.map_or(t, |w| w.max(t));
        st.watermark = Some(wm);
        let keep_from = self.keep_from(wm);
        let key: Box<[Value]> = key.into_boxed_slice();
        let list = st.held.entry(key.clone()).or_default();
        let before = list.len();
        list.retain(|s| s.t >= keep_from);
        let pos = list.partition_point(|s| s.t <= t);
        list.insert(
            pos,
            Seen {
                t,
                steps: mask,
                alert: None,
            },
        );
        st.live = st.live + list.len() - before;
        // The new event, and held events at or after it within the window, may now be the
        // latest of a match.
        let w = self.corr.window as i64;
        // An event that alerted already may now end a match that starts later (an out-of-order
        // event is a later choice for a step): its alert's `first_seen` is brought up to date, so
        // the alerts do not depend on the arrival order.
        let mut found = Vec::new();
        for i in 0..list.len() {
            let s = &list[i];
            if s.t < t || s.t > t.saturating_add(w) {
                continue;
            }
            if let Some(first) = self.match_ending(list, i) {
                found.push((i, first));
            }
        }
        for (i, first) in found {
            match list[i].alert {
                Some(a) => {
                    st.alerts[a]
                        .aggregates
                        .insert("first_seen".to_string(), Value::Timestamp(first));
                }
                None => {
                    list[i].alert = Some(st.alerts.len());
                    st.alerts.push(self.alert(&key, first, list[i].t));
                }
            }
        }
        st.peak = st.peak.max(st.live);
        st.fed_since_sweep += 1;
        if st.fed_since_sweep >= SWEEP_EVERY {
            st.fed_since_sweep = 0;
            self.sweep(st);
        }
    }

    /// Evicts every key's events too old to matter.
    fn sweep(&self, st: &mut CorrState) {
        let Some(wm) = st.watermark else { return };
        let keep_from = self.keep_from(wm);
        let mut live = 0;
        st.held.retain(|_, list| {
            list.retain(|s| s.t >= keep_from);
            live += list.len();
            !list.is_empty()
        });
        st.live = live;
    }

    /// Whether the event `list[e]` is the latest of a match; if so, the match's first time.
    /// Per step, the latest eligible event is the best choice: unordered, any event of the step
    /// in `[t - window, t]`; ordered, walking back from the last step, the latest event of each
    /// step at or before the one chosen after it (and not before `t - window`).
    fn match_ending(&self, list: &[Seen], e: usize) -> Option<i64> {
        let n = self.steps.len();
        let t = list[e].t;
        let lo = t.saturating_sub(self.corr.window as i64);
        // Events at or before `t` (ties included), latest last.
        let end = list.partition_point(|s| s.t <= t);
        let window = &list[..end];
        if !self.corr.ordered {
            let mut first = t;
            for step in 0..n {
                let bit = 1u64 << step;
                let at = window
                    .iter()
                    .rev()
                    .take_while(|s| s.t >= lo)
                    .find(|s| s.steps & bit != 0)?;
                first = first.min(at.t);
            }
            return Some(first);
        }
        if list[e].steps & (1 << (n - 1)) == 0 {
            return None;
        }
        let mut cur = t;
        for step in (0..n - 1).rev() {
            let bit = 1u64 << step;
            let at = window
                .iter()
                .rev()
                .filter(|s| s.t <= cur)
                .take_while(|s| s.t >= lo)
                .find(|s| s.steps & bit != 0)?;
            cur = at.t;
        }
        Some(cur)
    }

    fn alert(&self, key: &[Value], first: i64, last: i64) -> Alert {
        let r = &self.rule;
        Alert {
            rule_id: r.id.clone(),
            rule_name: r.name.clone(),
            severity: r.meta.severity,
            techniques: r.meta.techniques.clone(),
            analytics: r.meta.analytics.clone(),
            window_start: None,
            window_end: None,
            group: self
                .corr
                .keys
                .iter()
                .cloned()
                .zip(key.iter().cloned())
                .collect(),
            aggregates: [
                ("first_seen".to_string(), Value::Timestamp(first)),
                ("last_seen".to_string(), Value::Timestamp(last)),
            ]
            .into_iter()
            .collect(),
            events: self.steps.len() as u64,
        }
    }

    /// The alerts, sorted.
    pub fn finish(&self, st: CorrState) -> Vec<Alert> {
        let mut alerts = st.alerts;
        super::sort_alerts(&mut alerts);
        alerts
    }
}

/// Evaluates a correlation over events, each with the source it was read as, in arrival order.
pub fn evaluate(
    rule: &Rule,
    events: impl IntoIterator<Item = (Source, Event)>,
    lateness: u64,
) -> Result<Vec<Alert>, Diagnostic> {
    let c = Correlator::new(rule, lateness)?;
    let mut st = CorrState::default();
    for (src, ev) in events {
        c.feed(src, &ev, &mut st);
    }
    Ok(c.finish(st))
}
