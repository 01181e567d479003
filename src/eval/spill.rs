//! The alerts of a run, in bounded memory whatever a pack matches (issue 15, point 3).
//!
//! Alerts arrive in any order (workers flush the alerts of rules without aggregation as they
//! go; the reader adds released windows; the end adds the rest). They are held in a buffer of
//! at most [`AlertSink::new`]'s `cap` alerts; a full buffer is sorted and written to a temporary
//! file as one *run*. At the end the buffer and the runs are merged k-way into the output.
//!
//! The order is [`super::alert_order`]: rule id, window start, group keys, aggregates, events.
//! Two alerts equal under it have the same rule and the same values, so they print the same:
//! the output is the same byte for byte whether or not anything was spilled, whatever the
//! arrival order. At most [`FAN_IN`] runs are kept; more are merged into one first, so the
//! merge holds one alert per run and a bounded number of open files.

use super::Alert;
use crate::ir::{Level, Value};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Default buffer: alerts held in memory before a sorted run is written (a few hundred bytes
/// each, more for rules without aggregation, which carry the whole event).
pub const DEFAULT_ALERT_BUFFER: usize = 1 << 16;

/// Most runs kept before they are merged into one.
pub const FAN_IN: usize = 32;

/// What every alert of one rule repeats: shared by the rule's held alerts (one `Arc` clone per
/// alert instead of a copy of each string), written in full to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMeta {
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Level,
    pub techniques: Vec<String>,
    pub analytics: Vec<String>,
}

/// An alert as the sink holds it and writes it to a run: every value with its type (the
/// output's plain JSON would lose the difference between a string and an enum symbol), the
/// rule's metadata shared, and the group and aggregates as vectors in key order, not maps: a map
/// of one or two entries allocates a node for eleven, about 1.4 KB per alert, which made the
/// buffer most of a run's memory (issue 15: 96 of 204 MiB on the unselective benchmark row).
/// Aggregating rules build these directly ([`super::engine::CompiledRule::release`]), with no
/// [`Alert`] and its maps in between.
#[derive(Debug, Serialize, Deserialize)]
pub struct Held {
    pub meta: Arc<AlertMeta>,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// In key order (as the alert's map iterates).
    pub group: Vec<(String, Value)>,
    /// In key order.
    pub aggregates: Vec<(String, Value)>,
    pub events: u64,
}

type Spilled = Held;

impl From<Alert> for Spilled {
    fn from(a: Alert) -> Spilled {
        Spilled {
            meta: Arc::new(AlertMeta {
                rule_id: a.rule_id,
                rule_name: a.rule_name,
                severity: a.severity,
                techniques: a.techniques,
                analytics: a.analytics,
            }),
            window_start: a.window_start,
            window_end: a.window_end,
            group: a.group.into_iter().collect(),
            aggregates: a.aggregates.into_iter().collect(),
            events: a.events,
        }
    }
}

impl From<Spilled> for Alert {
    fn from(a: Spilled) -> Alert {
        let meta = Arc::try_unwrap(a.meta).unwrap_or_else(|m| (*m).clone());
        Alert {
            rule_id: meta.rule_id,
            rule_name: meta.rule_name,
            severity: meta.severity,
            techniques: meta.techniques,
            analytics: meta.analytics,
            window_start: a.window_start,
            window_end: a.window_end,
            group: a.group.into_iter().collect(),
            aggregates: a.aggregates.into_iter().collect(),
            events: a.events,
        }
    }
}

/// [`super::alert_order`] on held alerts: a map compares as its entries in key order, which is what
/// the vectors hold.
fn order(a: &Spilled, b: &Spilled) -> std::cmp::Ordering {
    a.meta
        .rule_id
        .cmp(&b.meta.rule_id)
        .then_with(|| a.window_start.cmp(&b.window_start))
        .then_with(|| a.group.cmp(&b.group))
        .then_with(|| a.aggregates.cmp(&b.aggregates))
        .then_with(|| a.events.cmp(&b.events))
}

/// A sorted run on disk, deleted when dropped.
struct RunFile {
    path: PathBuf,
}

impl Drop for RunFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

fn run_file(alerts: impl Iterator<Item = Result<Spilled, String>>) -> Result<RunFile, String> {
    let dir = std::env::temp_dir();
    let name = format!(
        "detc-alerts-{}-{}.jsonl",
        std::process::id(),
        NEXT_RUN.fetch_add(1, Ordering::Relaxed)
    );
    let run = RunFile {
        path: dir.join(name),
    };
    let shown = run.path.display().to_string();
    let err = |e: std::io::Error| format!("cannot write the temporary alert file `{shown}`: {e}");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&run.path)
        .map_err(err)?;
    let mut w = BufWriter::new(f);
    for a in alerts {
        serde_json::to_writer(&mut w, &a?).map_err(|e| err(e.into()))?;
        w.write_all(b"\n").map_err(err)?;
    }
    w.flush().map_err(err)?;
    Ok(run)
}

/// Where a run's alerts are read back from.
struct RunReader {
    _file: RunFile,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    shown: String,
}

impl RunReader {
    fn open(file: RunFile) -> Result<RunReader, String> {
        let shown = file.path.display().to_string();
        let f = std::fs::File::open(&file.path)
            .map_err(|e| format!("cannot read the temporary alert file `{shown}`: {e}"))?;
        Ok(RunReader {
            _file: file,
            lines: BufReader::new(f).lines(),
            shown,
        })
    }

    fn next_alert(&mut self) -> Option<Result<Spilled, String>> {
        let line = self.lines.next()?;
        Some(
            line.map_err(|e| e.to_string())
                .and_then(|l| serde_json::from_str::<Spilled>(&l).map_err(|e| e.to_string()))
                .map_err(|e| format!("cannot read the temporary alert file `{}`: {e}", self.shown)),
        )
    }
}

/// Collects alerts; see the module doc.
pub struct AlertSink {
    cap: usize,
    buf: Vec<Spilled>,
    runs: Vec<RunFile>,
    count: usize,
    spilled: usize,
    error: Option<String>,
}

impl AlertSink {
    /// A sink holding at most `cap` alerts in memory (at least one).
    pub fn new(cap: usize) -> AlertSink {
        AlertSink {
            cap: cap.max(1),
            buf: Vec::new(),
            runs: Vec::new(),
            count: 0,
            spilled: 0,
            error: None,
        }
    }

    /// Adds alerts, spilling a sorted run when the buffer is full. After an error (reported by
    /// [`AlertSink::finish`]) alerts are dropped: the run is failing anyway.
    pub fn add(&mut self, alerts: impl IntoIterator<Item = Alert>) {
        self.add_held(alerts.into_iter().map(Held::from));
    }

    /// Adds held alerts (see [`AlertSink::add`]).
    pub fn add_held(&mut self, alerts: impl IntoIterator<Item = Held>) {
        for a in alerts {
            if self.error.is_some() {
                return;
            }
            self.count += 1;
            self.buf.push(a);
            if self.buf.len() >= self.cap {
                if let Err(e) = self.spill() {
                    self.error = Some(e);
                }
            }
        }
    }

    /// Alerts added so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sorted runs written so far.
    pub fn spilled(&self) -> usize {
        self.spilled
    }

    /// Whether writing a run failed (the run should stop).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Why writing a run failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn spill(&mut self) -> Result<(), String> {
        self.buf.sort_by(order);
        let buf = std::mem::take(&mut self.buf);
        self.runs.push(run_file(buf.into_iter().map(Ok))?);
        self.spilled += 1;
        if self.runs.len() >= FAN_IN {
            let runs = std::mem::take(&mut self.runs);
            let merged = Merge::new(Vec::new(), runs)?;
            self.runs.push(run_file(merged.held())?);
        }
        Ok(())
    }

    /// Every alert added, in order.
    pub fn finish(mut self) -> Result<Merge, String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.buf.sort_by(order);
        Merge::new(
            std::mem::take(&mut self.buf),
            std::mem::take(&mut self.runs),
        )
    }
}

/// The k-way merge of the sorted buffer and the runs: yields alerts in order (an error when a
/// run cannot be read back).
pub struct Merge {
    mem: std::iter::Peekable<std::vec::IntoIter<Spilled>>,
    runs: Vec<(Spilled, RunReader)>,
    failed: bool,
}

impl Merge {
    fn new(mem: Vec<Spilled>, files: Vec<RunFile>) -> Result<Merge, String> {
        let mut runs = Vec::with_capacity(files.len());
        for f in files {
            let mut r = RunReader::open(f)?;
            if let Some(a) = r.next_alert() {
                runs.push((a?, r));
            }
        }
        Ok(Merge {
            mem: mem.into_iter().peekable(),
            runs,
            failed: false,
        })
    }
}

impl Iterator for Merge {
    type Item = Result<Alert, String>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_held().map(|r| r.map(Alert::from))
    }
}

impl Merge {
    /// The merge as held alerts (merging runs into one run).
    fn held(self) -> impl Iterator<Item = Result<Spilled, String>> {
        let mut m = self;
        std::iter::from_fn(move || m.next_held())
    }

    fn next_held(&mut self) -> Option<Result<Spilled, String>> {
        if self.failed {
            return None;
        }
        // The smallest head among the runs (few: at most FAN_IN), then against the buffer's.
        let mut best: Option<usize> = None;
        for (i, (a, _)) in self.runs.iter().enumerate() {
            if best.is_none_or(|b| order(a, &self.runs[b].0).is_lt()) {
                best = Some(i);
            }
        }
        let from_run = match (best, self.mem.peek()) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(b), Some(m)) => order(&self.runs[b].0, m).is_lt(),
        };
        if !from_run {
            return self.mem.next().map(Ok);
        }
        let b = best?;
        let next = self.runs[b].1.next_alert();
        match next {
            None => Some(Ok(self.runs.swap_remove(b).0)),
            Some(Ok(n)) => Some(Ok(std::mem::replace(&mut self.runs[b].0, n))),
            Some(Err(e)) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn alert(
        rule: &str,
        start: Option<&str>,
        group: &[(&str, Value)],
        n: i64,
        events: u64,
    ) -> Alert {
        Alert {
            rule_id: rule.into(),
            rule_name: rule.into(),
            severity: Level::Low,
            techniques: Vec::new(),
            analytics: Vec::new(),
            window_start: start.map(String::from),
            window_end: None,
            group: group
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            aggregates: BTreeMap::from([("n".to_string(), Value::Int(n))]),
            events,
        }
    }

    /// Held alerts order exactly as alerts do, on every pair of a set that differs in each
    /// part of the order (group maps of different sizes, keys and value types included), and
    /// come back unchanged.
    #[test]
    fn held_alerts_order_as_alerts() {
        let s = |x: &str| Value::Str(x.into());
        let mut all = Vec::new();
        for rule in ["a", "b"] {
            for start in [
                None,
                Some("2026-01-01T00:00:00Z"),
                Some("2026-01-01T01:00:00Z"),
            ] {
                for group in [
                    vec![],
                    vec![("host", s("h1"))],
                    vec![("host", s("h2"))],
                    vec![("host", s("h1")), ("user", s("u"))],
                    vec![("host", Value::Int(1))],
                    vec![("a", s("z"))],
                ] {
                    for n in [1, 2] {
                        all.push(alert(rule, start, &group, n, 3));
                    }
                }
            }
        }
        all.push(alert("a", None, &[], 1, 4));
        for x in &all {
            for y in &all {
                let (hx, hy) = (Spilled::from(x.clone()), Spilled::from(y.clone()));
                assert_eq!(
                    order(&hx, &hy),
                    super::super::alert_order(x, y),
                    "{x:?} {y:?}"
                );
            }
            assert_eq!(&Alert::from(Spilled::from(x.clone())), x);
        }
    }
}
