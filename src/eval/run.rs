//! Running a pack over event files: schema choice per file, streaming reads, worker threads.
//!
//! The calling thread reads rows (the reader is sequential: gzip and CSV quoting need it) and
//! hands chunks of [`CHUNK`] rows to `threads` workers over a bounded channel, so at most
//! `2 * threads` chunks are in flight. Each worker parses, maps through the input schema and
//! feeds every rule of the file's source into its own [`RuleState`]s; the states are merged at
//! the end (exactly: see `engine`). Memory is bounded by the aggregation state plus the alerts
//! of rules without aggregation, never by the input size.
//!
//! The aggregation state itself is bounded by releasing windows (issue 9): every
//! [`RunOptions::release_every`] chunks the reader waits until every chunk sent so far is done
//! (a barrier), merges the workers' states into one, and releases every window that ends at
//! least the allowed lateness before the *watermark*. Because the barrier falls after a fixed
//! number of chunks, the watermark, the windows released and which events are late depend only
//! on the input, never on thread timing: the output is the same byte for byte. The watermark is
//! defined in docs/SEMANTICS.md ("Allowed lateness"): the smallest, over the files not finished,
//! of the latest time seen in that file (for a file not started: its first event's time, peeked
//! before the run), so files covering the same period may be given in any order.
//!
//! Every row ends up in exactly one of: an event, *not applicable* (a row of another event type
//! in a mixed file), or a bad line (reported with file:line and reason).

use super::engine::{Binding, CompiledRule, Fed, RuleState};
use super::ops::Cell;
use super::prefilter::Prefilter;
use super::read::Row;
use super::read::{self, JsonRecord, Layout, LiteRecord, Rows, TableRecord};
use super::schema::{self, InputSchema, Mapped};
use super::{Alert, Event};
use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{Rule, Source, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};

/// Rows per work unit (CSV, read row by row because a quoted cell may span lines).
pub const CHUNK: usize = 4096;

/// Bytes per work unit for line formats (JSON lines, Zeek TSV), cut at a newline.
pub const BLOCK: usize = 1 << 20;

/// The default line cap: 16 MiB. The largest real events are a few hundred KiB (a Windows event
/// with a long PowerShell script block; EVTX records are capped at 64 KiB by the format, and
/// exporters that inline several stay far below), so this is far above any real line while
/// keeping a hostile one (a gzip bomb without a newline) to a bounded buffer per reader and
/// worker.
pub const DEFAULT_MAX_LINE: usize = 16 << 20;

/// At most this many bad lines are kept with their reasons (all are counted); the same for
/// late events.
pub const MAX_BAD_REPORTED: usize = 1000;

/// Default allowed lateness: 6 hours (why: docs/SEMANTICS.md, "Allowed lateness").
pub const DEFAULT_LATENESS: u64 = 6 * 3600;

/// Default cap on live aggregation groups (about 200 bytes each, more with long keys or
/// `distinct` sets: docs/SEMANTICS.md).
pub const DEFAULT_MAX_GROUPS: usize = 4_000_000;

/// Default chunks between two window releases (16 MiB of JSON lines): a barrier this often costs
/// nothing measurable on the benchmark, and between two of them the workers add at most this
/// much input's worth of groups.
pub const RELEASE_EVERY: u64 = 16;

/// Rows read to find a file's first event time before the run.
const PEEK_ROWS: usize = 1000;

/// An event whose aggregation window was already released when it was read: reported, and not
/// counted (docs/SEMANTICS.md, "Allowed lateness").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LateEvent {
    pub file: String,
    pub line: u64,
    /// The first rule (in pack order) whose window was released.
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BadLine {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

/// What a run saw, for the summary on stderr.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Input schema chosen per file (absent for an empty file).
    pub schemas: BTreeMap<String, String>,
    /// Data rows read (every row is an event, not applicable, or bad).
    pub rows: u64,
    pub events: u64,
    pub not_applicable: u64,
    pub bad_lines: u64,
    /// Rows the prefilter skipped unparsed: provably no rule can match them.
    pub prefiltered: u64,
    /// Events for which at least one rule's filter held.
    pub matched: u64,
    /// Matching events per rule name.
    pub matched_by_rule: BTreeMap<String, u64>,
    pub alerts: usize,
    /// The first [`MAX_BAD_REPORTED`] bad lines, sorted by file and line.
    pub bad: Vec<BadLine>,
    pub bytes: u64,
    /// Files given more than once (the same file after resolving the path): read once,
    /// and each repeat named here.
    pub duplicates: Vec<String>,
    /// Allowed lateness of the run in seconds (`None`: unbounded).
    pub lateness: Option<u64>,
    /// Events not counted because their window was already released.
    pub late_events: u64,
    /// The first [`MAX_BAD_REPORTED`] late events, sorted by file and line.
    pub late: Vec<LateEvent>,
    /// Late events per file (files with none are absent).
    pub late_by_file: BTreeMap<String, u64>,
    /// Most aggregation groups held at once (at a release or at the end).
    pub peak_groups: usize,
}

/// A progress callback: (bytes read so far in this file, file size, file name).
pub type Progress = dyn Fn(u64, u64, &str) + Sync;

pub struct RunOptions<'a> {
    /// Input schema name for every file; `None`: detect per file.
    pub schema: Option<String>,
    /// Stop at the first bad line (an error naming it). Implies parsing every line.
    pub strict: bool,
    /// Skip JSON lines that provably cannot match (see `prefilter`); such lines are counted
    /// as `prefiltered`, not parsed.
    pub prefilter: bool,
    pub threads: usize,
    /// The longest line (or CSV row) read, in bytes; a longer one is a bad line, skipped
    /// without being buffered (see [`DEFAULT_MAX_LINE`]).
    pub max_line: usize,
    /// Called now and then with (bytes read so far in this file, file size, file name).
    pub progress: Option<&'a Progress>,
    /// Allowed lateness in seconds: a window is released once the watermark is past its end
    /// plus this. `None`: windows are kept to the end (exact for any input order).
    pub lateness: Option<u64>,
    /// Most live aggregation groups (all rules) before the run fails with E0806.
    pub max_groups: usize,
    /// Bytes per work unit for line formats (tests make it small).
    pub block: usize,
    /// Chunks between two releases (tests make it 1).
    pub release_every: u64,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            schema: None,
            strict: false,
            prefilter: true,
            // When the platform cannot tell, two workers: the count changes speed, never output.
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_line: DEFAULT_MAX_LINE,
            progress: None,
            lateness: Some(DEFAULT_LATENESS),
            max_groups: DEFAULT_MAX_GROUPS,
            block: BLOCK,
            release_every: RELEASE_EVERY,
        }
    }
}

pub struct RunOutput {
    pub alerts: Vec<Alert>,
    pub summary: Summary,
}

fn io_err(path: &str, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Code::E0800, format!("`{path}` {}", msg.into())).at(Span::file(path))
}

/// Picks the schema for a file from `--schema` or its first record. A Windows event file holds
/// several sources (Sysmon EventID 1 and 3 lines alike): when several schemas detect it, those of
/// the sources in `want` (the sources of the rules that read the file) are kept, so that a
/// `process_creation` rule reads the file through `sysmon-process` and a `network_connection`
/// rule through `sysmon`, each schema's `applies` taking only its own EventID.
pub fn choose_schema<'s>(
    path: &str,
    schemas: &'s [InputSchema],
    forced: Option<&str>,
    layout: &Layout,
    first: Option<&str>,
    want: &[Source],
) -> Result<&'s InputSchema, Diagnostic> {
    if let Some(name) = forced {
        return schemas.iter().find(|s| s.name == name).ok_or_else(|| {
            Diagnostic::new(Code::E0801, format!("unknown input schema `{name}`"))
                .expected(format!("one of: {}", schema::names().join(", ")))
        });
    }
    let (mut hits, zeek_path) = detecting(schemas, layout, first);
    if hits.len() > 1 && hits.iter().any(|s| want.contains(&s.source)) {
        hits.retain(|s| want.contains(&s.source));
    }
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(io_err(path, "matches no input schema")
            .found(match zeek_path {
                Some(p) => format!("a Zeek `{p}` log"),
                None => "a first record without the keys of any schema".into(),
            })
            .expected(format!(
                "a file of one of the schemas {} (see targets/inputs/*.yaml)",
                schema::names().join(", ")
            ))
            .hint("name the schema with `--schema NAME` if the file is one of them")),
        many => Err(io_err(path, "matches several input schemas")
            .found(
                many.iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .hint(
                "choose one with `--schema NAME` (a file holding several sources is read once \
                 per source: run the rules of each source separately)",
            )),
    }
}

/// The schemas that detect a file from its layout (a table's header) or its first JSON record,
/// with the Zeek log path when the file is one.
fn detecting<'s, 'l>(
    schemas: &'s [InputSchema],
    layout: &'l Layout,
    first: Option<&str>,
) -> (Vec<&'s InputSchema>, Option<&'l str>) {
    type KeyTest<'k> = Box<dyn Fn(&str) -> bool + 'k>;
    let (keys_of, zeek_path): (KeyTest<'_>, Option<&str>) = match layout {
        Layout::Table(h) => (Box::new(|k: &str| h.has(k)), h.zeek_path.as_deref()),
        Layout::JsonLines => {
            // A first line that is not JSON identifies no schema here; it is reported as a bad
            // line when it is read.
            let rec = first.map(JsonRecord::parse).transpose().ok().flatten();
            (
                Box::new(move |k: &str| rec.as_ref().is_some_and(|r| r.has(k))),
                None,
            )
        }
    };
    let hits = schemas
        .iter()
        .filter(|s| s.detects(&*keys_of, zeek_path))
        .collect();
    (hits, zeek_path)
}

/// Maps one row of a file to an event.
pub fn map_row(layout: &Layout, schema: &InputSchema, text: &str) -> Result<Mapped, String> {
    let cols = match layout {
        Layout::Table(h) => read::columns(h, schema.keys()),
        Layout::JsonLines => Vec::new(),
    };
    Ok(
        match with_cells(layout, schema, &cols, text, |c| schema.event_of(c))? {
            Some(ev) => Mapped::Event(ev),
            None => Mapped::NotApplicable,
        },
    )
}

/// The full path of one row: parsed keeping only the raw keys the schema reads (`cols` from
/// [`read::columns`] for a table), mapped to the event's cells, which `f` reads while they
/// borrow the line. `Ok(None)`: the row is not applicable.
pub fn with_cells<R>(
    layout: &Layout,
    schema: &InputSchema,
    cols: &[Option<usize>],
    text: &str,
    f: impl FnOnce(&[Option<Cell<'_>>]) -> R,
) -> Result<Option<R>, String> {
    match layout {
        Layout::JsonLines => {
            let rec = LiteRecord::parse(text, schema.keys())?;
            Ok(schema.map_cells(&rec)?.map(|c| f(&c)))
        }
        Layout::Table(h) => {
            let rec = TableRecord::parse(text, h, schema.keys(), cols)?;
            Ok(schema.map_cells(&rec)?.map(|c| f(&c)))
        }
    }
}

struct FileCtx {
    path: String,
    layout: Layout,
    schema: InputSchema,
    /// Indexes of the compiled rules whose source is the schema's, each with where the fields
    /// it reads are among the schema's cells.
    rules: Vec<(usize, Binding)>,
    /// A table's columns the schema reads (see [`read::columns`]).
    cols: Vec<Option<usize>>,
    prefilter: Option<Prefilter>,
    max_line: usize,
    /// The file's part of the watermark, shared by every context of the file (a Zeek header
    /// midway makes a new context, not a new clock).
    clock: Arc<FileClock>,
}

/// One file's part of the watermark and its late events, shared by every [`FileCtx`] of the
/// file, so that a Zeek header midway (a new context) neither resets nor splits them.
struct FileClock {
    path: String,
    /// Latest time of an event an aggregating rule counted in this file (or the file's first
    /// event time, peeked).
    max_time: AtomicI64,
    late: AtomicU64,
}

enum Work {
    Rows(Vec<Row>),
    /// Whole lines; the first is line `first_line`.
    Block {
        first_line: u64,
        data: Vec<u8>,
    },
}

struct Chunk {
    ctx: Arc<FileCtx>,
    work: Work,
}

#[derive(Default)]
struct WorkerOut {
    states: Vec<RuleState>,
    rows: u64,
    prefiltered: u64,
    events: u64,
    not_applicable: u64,
    matched: u64,
    bad_lines: u64,
    bad: Vec<BadLine>,
    late_events: u64,
    late: Vec<LateEvent>,
    /// Latest time counted by an aggregating rule in the chunk being processed.
    chunk_max: i64,
}

/// Chunks finished by the workers, for the reader's barrier.
#[derive(Default)]
struct Done {
    n: Mutex<u64>,
    cv: Condvar,
}

impl Done {
    fn add(&self) {
        *self.n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cv.notify_all();
    }

    fn wait_for(&self, sent: u64) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        while *n < sent {
            n = self.cv.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn row(
    rules: &[CompiledRule],
    ctx: &FileCtx,
    line: u64,
    text: Result<&str, String>,
    out: &mut WorkerOut,
    strict: bool,
    stop: &AtomicBool,
) {
    out.rows += 1;
    let states = &mut out.states;
    let chunk_max = &mut out.chunk_max;
    let time_slot = ctx.schema.time_slot();
    let names = ctx.schema.field_names();
    let fed = text.and_then(|t| {
        with_cells(&ctx.layout, &ctx.schema, &ctx.cols, t, |cells| {
            let mut any = false;
            let mut late: Option<&str> = None;
            for (i, bind) in &ctx.rules {
                if let (Some(r), Some(st)) = (rules.get(*i), states.get_mut(*i)) {
                    match r.feed_cells(names, cells, bind, st) {
                        Fed::Unmatched => {}
                        Fed::Matched => {
                            any = true;
                            if let (true, Some(Some(Cell::Timestamp(t)))) =
                                (r.aggregates(), time_slot.and_then(|s| cells.get(s)))
                            {
                                *chunk_max = (*chunk_max).max(*t);
                            }
                        }
                        Fed::Late => {
                            any = true;
                            late = late.or(Some(&r.rule.name));
                        }
                    }
                }
            }
            (any, late)
        })
    });
    match fed {
        Ok(Some((any, late))) => {
            out.events += 1;
            out.matched += u64::from(any);
            if let Some(rule) = late {
                out.late_events += 1;
                ctx.clock.late.fetch_add(1, Ordering::Relaxed);
                if out.late.len() < MAX_BAD_REPORTED {
                    out.late.push(LateEvent {
                        file: ctx.path.clone(),
                        line,
                        rule: rule.to_string(),
                    });
                }
            }
        }
        Ok(None) => out.not_applicable += 1,
        Err(reason) => {
            out.bad_lines += 1;
            if out.bad.len() < MAX_BAD_REPORTED {
                out.bad.push(BadLine {
                    file: ctx.path.clone(),
                    line,
                    reason,
                });
            }
            if strict {
                stop.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// What a worker shares with the reader (see [`work`]).
struct Shared<'s> {
    rules: &'s [CompiledRule],
    rx: Mutex<mpsc::Receiver<Chunk>>,
    strict: bool,
    stop: AtomicBool,
    done: Done,
    max_groups: usize,
    over_cap: AtomicBool,
}

/// A worker: takes chunks until the channel closes, feeding them into its slot (locked per
/// chunk, so the reader can take the states at a barrier).
fn work(sh: &Shared<'_>, slot: &Mutex<WorkerOut>, pool: mpsc::Sender<Vec<u8>>) {
    let (rules, strict, stop) = (sh.rules, sh.strict, &sh.stop);
    loop {
        let chunk = match sh.rx.lock() {
            Ok(g) => g.recv(),
            Err(_) => break,
        };
        let Ok(chunk) = chunk else { break };
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        let out = &mut *guard;
        out.chunk_max = i64::MIN;
        let ctx = &chunk.ctx;
        match &chunk.work {
            Work::Rows(rows) => {
                for (line, text) in rows {
                    let text = text.as_ref().map(String::as_str).map_err(String::clone);
                    row(rules, ctx, *line, text, out, strict, stop);
                }
            }
            Work::Block { first_line, data } => {
                let zeek = matches!(&ctx.layout, Layout::Table(_));
                let mut line = *first_line;
                let mut start = 0;
                while start < data.len() {
                    let end = memchr::memchr(b'\n', &data[start..])
                        .map(|i| start + i)
                        .unwrap_or(data.len());
                    let bytes = &data[start..end];
                    let no = line;
                    start = end + 1;
                    line += 1;
                    if bytes.len() > ctx.max_line {
                        row(
                            rules,
                            ctx,
                            no,
                            Err(read::too_long(ctx.max_line)),
                            out,
                            strict,
                            stop,
                        );
                        continue;
                    }
                    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
                    if bytes.trim_ascii().is_empty() || (zeek && bytes.first() == Some(&b'#')) {
                        continue;
                    }
                    if let Some(p) = &ctx.prefilter {
                        if !p.keep(bytes) {
                            out.rows += 1;
                            out.prefiltered += 1;
                            continue;
                        }
                    }
                    let text = std::str::from_utf8(bytes).map_err(|e| {
                        format!(
                            "not UTF-8 text (invalid byte at column {})",
                            e.valid_up_to() + 1
                        )
                    });
                    row(rules, ctx, no, text, out, strict, stop);
                }
            }
        }
        ctx.clock
            .max_time
            .fetch_max(out.chunk_max, Ordering::Relaxed);
        // A worker's groups are a subset of those merged at the next barrier (or at the end),
        // so over the cap here means over the cap there: stop now, before memory runs out.
        if out.states.iter().map(RuleState::groups).sum::<usize>() > sh.max_groups {
            sh.over_cap.store(true, Ordering::Relaxed);
            stop.store(true, Ordering::Relaxed);
        }
        drop(guard);
        if let Work::Block { data, .. } = chunk.work {
            // Back to the reader for reuse; a closed pool (reader done) just drops it.
            let _ = pool.send(data);
        }
        sh.done.add();
    }
}

fn over_cap(max: usize) -> Diagnostic {
    Diagnostic::new(
        Code::E0806,
        format!("more than {max} aggregation groups are live at once"),
    )
    .hint(
        "raise the cap with `--max-groups N` (each group takes a few hundred bytes), or lower \
         `--allowed-lateness` so that finished windows are released sooner",
    )
}

/// The reader's side of window release: the merged live state, the alerts of released windows,
/// and the watermark's inputs.
struct Release<'r> {
    compiled: &'r [CompiledRule],
    slots: &'r [Mutex<WorkerOut>],
    lateness: Option<u64>,
    /// Some rule aggregates: barriers merge the groups and check the cap (and release windows
    /// when `lateness` is bounded).
    aggregating: bool,
    every: u64,
    max_groups: usize,
    /// Chunks sent so far.
    sent: u64,
    /// Every group of every rule, merged at the last barrier.
    live: Vec<RuleState>,
    alerts: Vec<Alert>,
    peak: usize,
}

impl Release<'_> {
    /// Counts a chunk sent; at every `every`-th, a barrier: the groups merged, the cap checked
    /// on them (exactly, whatever the number of threads), and a release at the watermark
    /// `min(current file's latest time, first time of every file not started)`.
    fn sent(&mut self, done: &Done, current: &FileClock, later: i64) -> Result<(), Diagnostic> {
        self.sent += 1;
        if !self.aggregating || self.sent % self.every.max(1) != 0 {
            return Ok(());
        }
        done.wait_for(self.sent);
        self.merge_slots();
        self.check_cap()?;
        let Some(lateness) = self.lateness else {
            return Ok(());
        };
        let watermark = current.max_time.load(Ordering::Relaxed).min(later);
        for (i, c) in self.compiled.iter().enumerate() {
            let Some(open_from) = c.open_from(watermark, lateness) else {
                continue;
            };
            if let Some(st) = self.live.get_mut(i) {
                self.alerts.extend(c.release(st, open_from));
            }
            for slot in self.slots {
                let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(st) = g.states.get_mut(i) {
                    st.close_before(open_from);
                }
            }
        }
        Ok(())
    }

    /// Moves every worker's groups into `live` (the workers are idle: all chunks are done).
    fn merge_slots(&mut self) {
        for slot in self.slots {
            let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
            for (acc, st) in self.live.iter_mut().zip(g.states.iter_mut()) {
                acc.merge(st.drain());
            }
        }
    }

    fn check_cap(&mut self) -> Result<(), Diagnostic> {
        let n: usize = self.live.iter().map(RuleState::groups).sum();
        self.peak = self.peak.max(n);
        if n > self.max_groups {
            return Err(over_cap(self.max_groups));
        }
        Ok(())
    }
}

/// The schema of a file read row by row: chosen at the first row (from `text`, the row's text
/// when readable), and again after each new Zeek header (`rows.header_gen`). Returns the layout
/// and schema of the current row and whether they were just chosen; `None` before any layout.
fn schema_at<'c, 's>(
    current: &'c mut Option<(u64, Layout, &'s InputSchema)>,
    rows: &Rows,
    path: &str,
    schemas: &'s [InputSchema],
    forced: Option<&str>,
    text: Option<&str>,
    want: &[Source],
) -> Result<Option<(&'c Layout, &'s InputSchema, bool)>, Diagnostic> {
    let Some(layout) = &rows.layout else {
        return Ok(None);
    };
    let fresh = current
        .as_ref()
        .is_none_or(|(g, _, _)| *g != rows.header_gen);
    if fresh {
        let schema = choose_schema(path, schemas, forced, layout, text, want)?;
        *current = Some((rows.header_gen, layout.clone(), schema));
    }
    Ok(current.as_ref().map(|(_, l, s)| (l, *s, fresh)))
}

/// The time of a file's first event (within [`PEEK_ROWS`] rows), or `i64::MIN` when unknown:
/// the lower bound the watermark uses for a file not started yet. Read as the run reads it:
/// lines capped at `max_line`, and the schema chosen again after each Zeek header.
fn first_time(
    f: &Path,
    schemas: &[InputSchema],
    forced: Option<&str>,
    max_line: usize,
    want: &[Source],
) -> i64 {
    let path = f.to_string_lossy().replace('\\', "/");
    let Ok(input) = read::open(f) else {
        return i64::MIN;
    };
    let Ok(mut rows) = Rows::new(input, max_line) else {
        return i64::MIN;
    };
    if rows.layout.is_none() {
        return i64::MAX; // empty: contributes nothing
    }
    let mut current = None;
    for _ in 0..PEEK_ROWS {
        let text = match rows.next_row() {
            Ok(Some((_, Ok(text)))) => text,
            Ok(Some((_, Err(_)))) => continue,
            Ok(None) | Err(_) => break,
        };
        let (layout, sc) = match schema_at(
            &mut current,
            &rows,
            &path,
            schemas,
            forced,
            Some(&text),
            want,
        ) {
            Ok(Some((layout, sc, _))) => (layout, sc),
            Ok(None) => break,
            Err(_) => return i64::MIN,
        };
        if let Ok(Mapped::Event(ev)) = map_row(layout, sc, &text) {
            if let Some(Value::Timestamp(t)) = ev.get("time") {
                return *t;
            }
        }
    }
    i64::MIN
}

/// Runs `rules` over `files`. Errors (exit 2 in the CLI): a missing or binary file, an unknown
/// or undetectable schema, a read error, or with `strict` the first bad line.
pub fn run_files(
    rules: &[Rule],
    files: &[PathBuf],
    opts: &RunOptions<'_>,
) -> Result<RunOutput, Diagnostic> {
    let schemas = schema::builtin().map_err(|e| Diagnostic::new(Code::E0802, e))?;
    let (correlations, rules): (Vec<Rule>, Vec<Rule>) =
        rules.iter().cloned().partition(|r| r.correlation.is_some());
    if rules.is_empty() && !correlations.is_empty() {
        // Only correlations: their own pass reads every file (and counts its rows).
        let mut summary = Summary {
            lateness: opts.lateness,
            ..Summary::default()
        };
        let mut alerts = Vec::new();
        for (i, r) in correlations.iter().enumerate() {
            alerts.extend(run_correlation(r, files, opts, &mut summary, i == 0)?);
        }
        super::sort_alerts(&mut alerts);
        summary.alerts = alerts.len();
        return Ok(RunOutput { alerts, summary });
    }
    let compiled: Vec<CompiledRule> = rules
        .iter()
        .map(CompiledRule::new)
        .collect::<Result<_, _>>()?;
    let threads = opts.threads.max(1);
    let mut summary = Summary {
        lateness: opts.lateness,
        ..Summary::default()
    };
    let (tx, rx) = mpsc::sync_channel::<Chunk>(threads * 2);
    let sh = Shared {
        rules: &compiled,
        rx: Mutex::new(rx),
        strict: opts.strict,
        stop: AtomicBool::new(false),
        done: Done::default(),
        max_groups: opts.max_groups,
        over_cap: AtomicBool::new(false),
    };
    let slots: Vec<Mutex<WorkerOut>> = (0..threads)
        .map(|_| {
            Mutex::new(WorkerOut {
                states: compiled.iter().map(|_| RuleState::default()).collect(),
                ..WorkerOut::default()
            })
        })
        .collect();
    // Releasing windows needs a rule that aggregates and a bounded lateness.
    let aggregating = compiled.iter().any(CompiledRule::aggregates);
    let mut rel = Release {
        compiled: &compiled,
        slots: &slots,
        lateness: opts.lateness.filter(|_| aggregating),
        aggregating,
        every: opts.release_every,
        max_groups: opts.max_groups,
        sent: 0,
        live: compiled.iter().map(|_| RuleState::default()).collect(),
        alerts: Vec::new(),
        peak: 0,
    };
    let mut clocks = Vec::new();
    let (pool_tx, pool_rx) = mpsc::channel::<Vec<u8>>();
    let (joined, read_result) = std::thread::scope(|s| {
        let handles: Vec<_> = slots
            .iter()
            .map(|slot| {
                let pool = pool_tx.clone();
                let sh = &sh;
                s.spawn(move || work(sh, slot, pool))
            })
            .collect();
        let read_result = feed_files(
            files,
            &schemas,
            &compiled,
            opts,
            (&tx, &pool_rx),
            (&sh, &mut rel, &mut clocks),
            &mut summary,
        );
        drop(tx);
        let joined = handles.into_iter().filter_map(|h| h.join().ok()).count();
        (joined, read_result)
    });
    read_result?;
    if joined != threads {
        return Err(Diagnostic::new(Code::E0803, "an evaluator thread failed"));
    }
    if sh.over_cap.load(Ordering::Relaxed) {
        return Err(over_cap(opts.max_groups));
    }
    rel.merge_slots();
    rel.check_cap()?;
    let Release {
        live: states,
        mut alerts,
        peak,
        ..
    } = rel;
    for slot in slots {
        let o = slot.into_inner().unwrap_or_else(|e| e.into_inner());
        summary.rows += o.rows;
        summary.prefiltered += o.prefiltered;
        summary.events += o.events;
        summary.not_applicable += o.not_applicable;
        summary.matched += o.matched;
        summary.bad_lines += o.bad_lines;
        summary.bad.extend(o.bad);
        summary.late_events += o.late_events;
        summary.late.extend(o.late);
    }
    for c in &clocks {
        let n = c.late.load(Ordering::Relaxed);
        if n > 0 {
            *summary.late_by_file.entry(c.path.clone()).or_default() += n;
        }
    }
    summary.late.sort();
    summary.late.truncate(MAX_BAD_REPORTED);
    summary.peak_groups = peak;
    summary.bad.sort();
    summary.bad.truncate(MAX_BAD_REPORTED);
    if opts.strict {
        if let Some(b) = summary.bad.first() {
            return Err(Diagnostic::new(
                Code::E0804,
                format!("{}:{}: malformed line: {}", b.file, b.line, b.reason),
            )
            .at(Span::file(&b.file))
            .hint("without --strict, malformed lines are reported, counted and skipped"));
        }
    }
    for (c, st) in compiled.iter().zip(states) {
        summary
            .matched_by_rule
            .insert(c.rule.name.clone(), st.matched);
        alerts.extend(c.finish(st));
    }
    for r in &correlations {
        alerts.extend(run_correlation(r, files, opts, &mut summary, false)?);
    }
    super::sort_alerts(&mut alerts);
    summary.alerts = alerts.len();
    Ok(RunOutput { alerts, summary })
}

/// Counts and keeps one bad line found by the reader itself (a line over the cap).
fn reader_bad(summary: &mut Summary, file: &str, line: u64, reason: String) {
    summary.rows += 1;
    summary.bad_lines += 1;
    if summary.bad.len() < MAX_BAD_REPORTED {
        summary.bad.push(BadLine {
            file: file.to_string(),
            line,
            reason,
        });
    }
}

/// The evaluation context of a file under one header (Zeek logs may change it midway).
fn file_ctx(
    path: &str,
    layout: Layout,
    schema: &InputSchema,
    compiled: &[CompiledRule],
    opts: &RunOptions<'_>,
    clock: &Arc<FileClock>,
) -> Arc<FileCtx> {
    let rules: Vec<(usize, Binding)> = compiled
        .iter()
        .enumerate()
        .filter(|(_, c)| c.rule.source == schema.source)
        .map(|(i, c)| (i, c.bind(schema.field_names())))
        .collect();
    let cols = match &layout {
        Layout::Table(h) => read::columns(h, schema.keys()),
        Layout::JsonLines => Vec::new(),
    };
    let prefilter = if opts.prefilter && !opts.strict && matches!(layout, Layout::JsonLines) {
        let rs: Vec<&Rule> = rules.iter().map(|(i, _)| &compiled[*i].rule).collect();
        Prefilter::new(&rs, schema)
    } else {
        None
    };
    Arc::new(FileCtx {
        path: path.to_string(),
        layout,
        schema: schema.clone(),
        rules,
        cols,
        prefilter,
        max_line: opts.max_line,
        clock: clock.clone(),
    })
}

/// Notes the schema read for a file (several, comma-separated, for concatenated Zeek logs of
/// different kinds).
fn note_schema(summary: &mut Summary, path: &str, name: &str) {
    let e = summary.schemas.entry(path.to_string()).or_default();
    if e.is_empty() {
        *e = name.to_string();
    } else if !e.split(", ").any(|n| n == name) {
        e.push_str(", ");
        e.push_str(name);
    }
}

fn feed_files(
    files: &[PathBuf],
    schemas: &[InputSchema],
    compiled: &[CompiledRule],
    opts: &RunOptions<'_>,
    (tx, pool): (&mpsc::SyncSender<Chunk>, &mpsc::Receiver<Vec<u8>>),
    (sh, rel, clocks): (&Shared<'_>, &mut Release<'_>, &mut Vec<Arc<FileClock>>),
    summary: &mut Summary,
) -> Result<(), Diagnostic> {
    let stop = &sh.stop;
    let max_line = opts.max_line.max(1);
    // Files by canonical path: the same file given twice (or by two paths) is read once. Found
    // before the run, so that a repeat skipped below holds no part of the watermark either.
    let mut seen: BTreeMap<PathBuf, String> = BTreeMap::new();
    let repeat_of: Vec<Option<String>> = files
        .iter()
        .map(|f| {
            let path = f.to_string_lossy().replace('\\', "/");
            // Not canonical: not a repeat; opening the file reports why it cannot be read.
            let c = std::fs::canonicalize(f).ok()?;
            match seen.get(&c) {
                Some(first) => Some(first.clone()),
                None => {
                    seen.insert(c, path);
                    None
                }
            }
        })
        .collect();
    // First event time of every file read, and the minimum over the files after each one: the
    // watermark's bound for files not started (only needed when windows are released).
    // The sources the rules read: the schema of a file holding several is chosen by them.
    let mut rule_sources: Vec<Source> = compiled.iter().map(|c| c.rule.source).collect();
    rule_sources.sort();
    rule_sources.dedup();
    let mut later = vec![i64::MAX; files.len() + 1];
    let mut firsts = vec![i64::MIN; files.len()];
    if rel.lateness.is_some() {
        for (i, f) in files.iter().enumerate().rev() {
            firsts[i] = match repeat_of[i] {
                Some(_) => i64::MAX, // not read: holds nothing back
                None => first_time(f, schemas, opts.schema.as_deref(), max_line, &rule_sources),
            };
            later[i] = later[i + 1].min(firsts[i]);
        }
    }
    for (fi, f) in files.iter().enumerate() {
        let later = later[fi + 1];
        let path = f.to_string_lossy().replace('\\', "/");
        if f.is_dir() {
            return Err(io_err(&path, "is a folder; give event files"));
        }
        if let Some(first) = &repeat_of[fi] {
            summary
                .duplicates
                .push(format!("`{path}` is the same file as `{first}`: read once"));
            continue;
        }
        let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        let input = read::open(f).map_err(|e| io_err(&path, e))?;
        let mut rows = Rows::new(input, max_line).map_err(|e| io_err(&path, e))?;
        for (line, reason) in std::mem::take(&mut rows.early_bad) {
            reader_bad(summary, &path, line, reason);
            if opts.strict {
                stop.store(true, Ordering::Relaxed);
            }
        }
        let Some(layout) = rows.layout.clone() else {
            continue;
        };
        let first = rows.next_row().map_err(|e| io_err(&path, e))?;
        let first_text = first
            .as_ref()
            .and_then(|(_, t)| t.as_ref().ok())
            .map(String::as_str);
        let schema = choose_schema(
            &path,
            schemas,
            opts.schema.as_deref(),
            &layout,
            first_text,
            &rule_sources,
        )?;
        note_schema(summary, &path, &schema.name);
        let (by_lines, zeek) = match &layout {
            Layout::JsonLines => (true, false),
            Layout::Table(h) => (!h.quoted, !h.quoted),
        };
        let clock = Arc::new(FileClock {
            path: path.clone(),
            max_time: AtomicI64::new(firsts[fi]),
            late: AtomicU64::new(0),
        });
        clocks.push(clock.clone());
        let mut ctx = file_ctx(&path, layout, schema, compiled, opts, &clock);
        let mut send = |ctx: &Arc<FileCtx>, work: Work| -> Result<(), Diagnostic> {
            tx.send(Chunk {
                ctx: ctx.clone(),
                work,
            })
            .map_err(|_| Diagnostic::new(Code::E0803, "an evaluator thread failed"))?;
            rel.sent(&sh.done, &ctx.clock, later)
        };
        let mut n = 0u64;
        if by_lines {
            let mut bytes = rows.bytes_read;
            let (input, mut line_no, mut zeek_meta) = rows.into_parts();
            if let Some(r) = first {
                send(&ctx, Work::Rows(vec![r]))?;
            }
            // Read straight from the file (or decoder) into recycled blocks: no second copy
            // through the BufReader, no fresh pages per block.
            let mut carry: Vec<u8> = input.buffer().to_vec();
            let mut inner = input.into_inner();
            let mut eof = false;
            while !eof || !carry.is_empty() {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                // A recycled block keeps its length, so only growth is zero-filled.
                // No block to recycle yet: a new one.
                let mut data = pool.try_recv().unwrap_or_default();
                let block = opts.block.max(1);
                // More buffered than a block (only with a small test block size): send whole
                // lines of it first, so that a block is never much larger than asked.
                let cut = match carry.get(..block) {
                    Some(head) if carry.len() > block => memchr::memrchr(b'\n', head),
                    _ => None,
                };
                let want = block.max(carry.len() * 2);
                if data.len() < want {
                    data.resize(want, 0);
                }
                data[..carry.len()].copy_from_slice(&carry);
                let mut filled = carry.len();
                carry.clear();
                if let Some(p) = cut {
                    carry.extend_from_slice(&data[p + 1..filled]);
                    filled = p + 1;
                }
                while cut.is_none() {
                    while !eof && filled < data.len() {
                        match inner.read(&mut data[filled..]) {
                            Ok(0) => eof = true,
                            Ok(n) => filled += n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(io_err(&path, format!("read error: {e}"))),
                        }
                    }
                    if let Some(p) = memchr::memrchr(b'\n', &data[..filled]) {
                        if !eof {
                            carry.extend_from_slice(&data[p + 1..filled]);
                            filled = p + 1;
                        }
                        break;
                    }
                    // No newline: `data` is the start of one line.
                    if filled > max_line {
                        // Over the cap: a bad line, read through to its newline keeping
                        // nothing (a gzip bomb of one endless line costs one block).
                        reader_bad(summary, &path, line_no + 1, read::too_long(max_line));
                        if opts.strict {
                            stop.store(true, Ordering::Relaxed);
                        }
                        line_no += 1;
                        bytes += filled as u64;
                        filled = 0;
                        while !eof {
                            match inner.read(&mut data) {
                                Ok(0) => eof = true,
                                Ok(k) => {
                                    bytes += k as u64;
                                    if let Some(i) = memchr::memchr(b'\n', &data[..k]) {
                                        carry.extend_from_slice(&data[i + 1..k]);
                                        break;
                                    }
                                }
                                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                                Err(e) => return Err(io_err(&path, format!("read error: {e}"))),
                            }
                        }
                        break;
                    }
                    if eof {
                        break;
                    }
                    // A line longer than the block but within the cap: grow the block.
                    data.resize((data.len() * 2).min(max_line + 1).max(data.len() + 1), 0);
                }
                data.truncate(filled);
                if data.is_empty() {
                    continue;
                }
                bytes += data.len() as u64;
                let lines = memchr::memchr_iter(b'\n', &data).count() as u64
                    + u64::from(data.last() != Some(&b'\n'));
                let mut first_line = line_no + 1;
                if zeek {
                    // Concatenated Zeek logs: each `#fields` header applies to the rows after
                    // it. The block is cut at each one (a copy only then).
                    let starts = (data.first() == Some(&b'#'))
                        .then_some(0)
                        .into_iter()
                        .chain(memchr::memmem::find_iter(&data, b"\n#").map(|i| i + 1));
                    let mut cuts: Vec<(usize, read::Header)> = Vec::new();
                    for ls in starts {
                        let le = memchr::memchr(b'\n', &data[ls..]).map_or(data.len(), |i| ls + i);
                        let line = String::from_utf8_lossy(&data[ls..le]);
                        if let Some(h) = zeek_meta.directive(line.trim_end_matches('\r')) {
                            cuts.push((ls, h));
                        }
                    }
                    let mut from = 0;
                    for (at, h) in cuts {
                        if at > from {
                            let piece = data[from..at].to_vec();
                            let k = memchr::memchr_iter(b'\n', &piece).count() as u64;
                            send(
                                &ctx,
                                Work::Block {
                                    first_line,
                                    data: piece,
                                },
                            )?;
                            first_line += k;
                        }
                        from = at;
                        let layout = Layout::Table(h);
                        let schema = choose_schema(
                            &path,
                            schemas,
                            opts.schema.as_deref(),
                            &layout,
                            None,
                            &rule_sources,
                        )?;
                        note_schema(summary, &path, &schema.name);
                        ctx = file_ctx(&path, layout, schema, compiled, opts, &clock);
                    }
                    if from > 0 {
                        data.drain(..from);
                    }
                }
                send(&ctx, Work::Block { first_line, data })?;
                line_no += lines;
                n += 1;
                if let (Some(p), true) = (opts.progress, n % 16 == 0) {
                    p(bytes, size, &path);
                }
            }
            summary.bytes += bytes;
        } else {
            let mut batch: Vec<Row> = Vec::with_capacity(CHUNK);
            if let Some(r) = first {
                batch.push(r);
            }
            while let Some(r) = rows.next_row().map_err(|e| io_err(&path, e))? {
                batch.push(r);
                if batch.len() == CHUNK {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    send(
                        &ctx,
                        Work::Rows(std::mem::replace(&mut batch, Vec::with_capacity(CHUNK))),
                    )?;
                    n += 1;
                    if let (Some(p), true) = (opts.progress, n % 16 == 0) {
                        p(rows.bytes_read, size, &path);
                    }
                }
            }
            if !batch.is_empty() {
                send(&ctx, Work::Rows(batch))?;
            }
            summary.bytes += rows.bytes_read;
        }
        if let Some(p) = opts.progress {
            p(size, size, &path);
        }
    }
    Ok(())
}

/// Reads every event of one file through a schema (for rule tests): events, and the summary
/// of what was not an event. Lines are capped at [`DEFAULT_MAX_LINE`].
pub fn read_events(
    path: &Path,
    forced_schema: Option<&str>,
) -> Result<(Vec<Event>, Summary), Diagnostic> {
    let p = path.to_string_lossy().replace('\\', "/");
    let f = std::fs::File::open(path).map_err(|e| io_err(&p, format!("cannot open: {e}")))?;
    let (events, summary, _) = read_events_from(path, Box::new(f), forced_schema, &[])?;
    Ok((events, summary))
}

/// [`read_events`] for rules of the sources `want`: a file several schemas detect (a Windows
/// event file holds Sysmon EventID 1 and 3 alike) is read through the schema of those sources.
pub fn read_events_for(
    path: &Path,
    forced_schema: Option<&str>,
    want: &[Source],
) -> Result<(Vec<Event>, Summary), Diagnostic> {
    let p = path.to_string_lossy().replace('\\', "/");
    let f = std::fs::File::open(path).map_err(|e| io_err(&p, format!("cannot open: {e}")))?;
    let (events, summary, _) = read_events_from(path, Box::new(f), forced_schema, want)?;
    Ok((events, summary))
}

/// [`read_events`] over a file already opened (a fixture opened by a confining loader), with
/// the sources of the schemas the file was read with (one, or several for concatenated Zeek
/// logs of different kinds; none for an empty file); `path` names it and says whether it is
/// gzip.
pub fn read_events_from(
    path: &Path,
    raw: Box<dyn std::io::Read + Send>,
    forced_schema: Option<&str>,
    want: &[Source],
) -> Result<(Vec<Event>, Summary, Vec<crate::ir::Source>), Diagnostic> {
    let schemas = schema::builtin().map_err(|e| Diagnostic::new(Code::E0802, e))?;
    let p = path.to_string_lossy().replace('\\', "/");
    let input = read::open_reader(path, raw).map_err(|e| io_err(&p, e))?;
    let mut rows = Rows::new(input, DEFAULT_MAX_LINE).map_err(|e| io_err(&p, e))?;
    let mut summary = Summary::default();
    let mut events = Vec::new();
    let mut sources = Vec::new();
    for (line, reason) in std::mem::take(&mut rows.early_bad) {
        reader_bad(&mut summary, &p, line, reason);
    }
    let mut current = None;
    while let Some((line, text)) = rows.next_row().map_err(|e| io_err(&p, e))? {
        let first = text.as_ref().ok().map(String::as_str);
        let Some((layout, schema, fresh)) = schema_at(
            &mut current,
            &rows,
            &p,
            &schemas,
            forced_schema,
            first,
            want,
        )?
        else {
            break;
        };
        if fresh {
            note_schema(&mut summary, &p, &schema.name);
            if !sources.contains(&schema.source) {
                sources.push(schema.source);
            }
        }
        summary.rows += 1;
        match text.and_then(|t| map_row(layout, schema, &t)) {
            Ok(Mapped::Event(e)) => {
                summary.events += 1;
                events.push(e);
            }
            Ok(Mapped::NotApplicable) => summary.not_applicable += 1,
            Err(reason) => {
                summary.bad_lines += 1;
                summary.bad.push(BadLine {
                    file: p.clone(),
                    line,
                    reason,
                });
            }
        }
    }
    Ok((events, summary, sources))
}

/// Maps inline JSON objects (a rule test's `events { ... }`) through a schema.
pub fn map_inline(
    objects: &[serde_json::Map<String, serde_json::Value>],
    forced_schema: Option<&str>,
    origin: &str,
) -> Result<Vec<Event>, Diagnostic> {
    map_inline_of(objects, forced_schema, origin, &[]).map(|(evs, _)| evs)
}

/// [`map_inline`], with the source of the schema the objects were read with (`None` when
/// there are no objects).
pub fn map_inline_of(
    objects: &[serde_json::Map<String, serde_json::Value>],
    forced_schema: Option<&str>,
    origin: &str,
    want: &[Source],
) -> Result<(Vec<Event>, Option<crate::ir::Source>), Diagnostic> {
    let schemas = schema::builtin().map_err(|e| Diagnostic::new(Code::E0802, e))?;
    let Some(first) = objects.first() else {
        return Ok((Vec::new(), None));
    };
    let first_text = serde_json::Value::Object(first.clone()).to_string();
    let schema = choose_schema(
        origin,
        &schemas,
        forced_schema,
        &Layout::JsonLines,
        Some(&first_text),
        want,
    )?;
    let mut out = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        match schema.map(&JsonRecord(o.clone())) {
            Ok(Mapped::Event(e)) => out.push(e),
            Ok(Mapped::NotApplicable) => {}
            Err(reason) => {
                return Err(Diagnostic::new(
                    Code::E0805,
                    format!("{origin}: inline event {} is malformed: {reason}", i + 1),
                ))
            }
        }
    }
    Ok((out, Some(schema.source)))
}

/// Reads one file once for several sources (a correlation's steps): each row is mapped through
/// the schema of each source (a Windows event file holds Sysmon EventID 1 and 3 alike:
/// `sysmon-process` takes the first, `sysmon` the second), and `f` gets every event with its
/// source, in file order, so that events keep the order they were written in. Each source's
/// schema is detected, among that source's schemas only, on the first row one of them detects
/// (a file may start with either EventID); before that row, and in a file none of them detects,
/// the source reads nothing. A row no source takes is not applicable; a row a schema cannot
/// read is a bad line.
pub fn read_sources_from(
    path: &Path,
    raw: Box<dyn std::io::Read + Send>,
    sources: &[Source],
    f: &mut dyn FnMut(Source, Event),
) -> Result<Summary, Diagnostic> {
    let schemas = schema::builtin().map_err(|e| Diagnostic::new(Code::E0802, e))?;
    let p = path.to_string_lossy().replace('\\', "/");
    let input = read::open_reader(path, raw).map_err(|e| io_err(&p, e))?;
    let mut rows = Rows::new(input, DEFAULT_MAX_LINE).map_err(|e| io_err(&p, e))?;
    let mut summary = Summary::default();
    for (line, reason) in std::mem::take(&mut rows.early_bad) {
        reader_bad(&mut summary, &p, line, reason);
    }
    let mut current: Vec<Option<(u64, Layout, &InputSchema)>> = vec![None; sources.len()];
    let own: Vec<Vec<InputSchema>> = sources
        .iter()
        .map(|s| schemas.iter().filter(|x| x.source == *s).cloned().collect())
        .collect();
    while let Some((line, text)) = rows.next_row().map_err(|e| io_err(&p, e))? {
        summary.rows += 1;
        let text = match text {
            Ok(t) => t,
            Err(reason) => {
                summary.bad_lines += 1;
                summary.bad.push(BadLine {
                    file: p.clone(),
                    line,
                    reason,
                });
                continue;
            }
        };
        let mut taken = false;
        let mut bad = None;
        for ((src, cur), mine) in sources.iter().zip(current.iter_mut()).zip(&own) {
            let Some(layout) = &rows.layout else { break };
            let fresh = cur.as_ref().is_none_or(|(g, _, _)| *g != rows.header_gen);
            if fresh {
                // No schema of the source detects this row: not this source's row (yet).
                // Several: the file is ambiguous, reported as `choose_schema` does.
                match detecting(mine, layout, Some(&text)).0.as_slice() {
                    [] => continue,
                    [one] => {
                        note_schema(&mut summary, &p, &one.name);
                        *cur = Some((rows.header_gen, layout.clone(), *one));
                    }
                    _ => {
                        return Err(choose_schema(&p, mine, None, layout, Some(&text), &[*src])
                            .err()
                            .unwrap_or_else(|| io_err(&p, "matches several input schemas")));
                    }
                }
            }
            let Some((_, layout, schema)) = cur.as_ref() else {
                continue;
            };
            match map_row(layout, schema, &text) {
                Ok(Mapped::Event(e)) => {
                    taken = true;
                    f(*src, e);
                }
                Ok(Mapped::NotApplicable) => {}
                Err(reason) => bad = bad.or(Some(reason)),
            }
        }
        match (taken, bad) {
            (true, _) => summary.events += 1,
            (false, Some(reason)) => {
                summary.bad_lines += 1;
                summary.bad.push(BadLine {
                    file: p.clone(),
                    line,
                    reason,
                });
            }
            (false, None) => summary.not_applicable += 1,
        }
    }
    Ok(summary)
}

/// Runs one correlation over `files`, in order, one pass per file (every step's source read
/// from each row: [`read_sources_from`]). Its state is bounded by the window plus the run's
/// allowed lateness; a run without a bound still evicts after [`DEFAULT_LATENESS`], so that a
/// correlation never holds the input (docs/SEMANTICS.md, "Correlation").
fn run_correlation(
    rule: &Rule,
    files: &[PathBuf],
    opts: &RunOptions<'_>,
    summary: &mut Summary,
    count_rows: bool,
) -> Result<Vec<Alert>, Diagnostic> {
    use super::correlate::{CorrState, Correlator};
    if opts.schema.is_some() {
        return Err(Diagnostic::new(
            Code::E0801,
            format!(
                "rule `{}` correlates several sources, so its files cannot be read through one `--schema`",
                rule.name
            ),
        )
        .at(rule.span.clone())
        .hint("run correlations without `--schema`: each step's events are read through its source's schema"));
    }
    let c = Correlator::new(rule, opts.lateness.unwrap_or(DEFAULT_LATENESS))?;
    let sources = c.sources();
    let mut st = CorrState::default();
    for f in files {
        let p = f.to_string_lossy().replace('\\', "/");
        let raw = std::fs::File::open(f).map_err(|e| io_err(&p, format!("cannot open: {e}")))?;
        let read = read_sources_from(f, Box::new(raw), &sources, &mut |s, e| {
            c.feed(s, &e, &mut st)
        })?;
        // The first correlation's pass counts the rows when no other pass read the files.
        if count_rows {
            summary.rows += read.rows;
            summary.events += read.events;
            summary.not_applicable += read.not_applicable;
            summary.bad_lines += read.bad_lines;
            summary.bad.extend(read.bad);
            for (k, v) in read.schemas {
                summary.schemas.entry(k).or_insert(v);
            }
        }
    }
    summary
        .matched_by_rule
        .insert(rule.name.clone(), st.matched);
    summary.late_events += st.late;
    Ok(c.finish(st))
}
