//! Running a pack over event files: schema choice per file, streaming reads, worker threads.
//!
//! Files (a folder given is walked: [`crate::load::event_files`]) are read by up to `threads`
//! reader threads at once, one file each (gzip is decompressed and CSV quoting resolved on the
//! file's reader), which hand chunks of [`CHUNK`] rows or [`BLOCK`] bytes to `threads` workers
//! over one bounded channel, so at most `2 * threads` chunks are in flight. Each worker parses,
//! maps through the input schema and feeds every rule of the file's source into its own
//! [`RuleState`]s; the states are merged at the end (exactly: see `engine`). Memory is bounded
//! by the aggregation state, never by the input size nor by the number of alerts: workers pass
//! the alerts of rules without aggregation on as they go, and every alert goes through an
//! [`AlertSink`] that spills sorted runs to temporary files past its buffer (see `spill`; the
//! output order does not depend on it, nor on which file finishes first).
//!
//! The aggregation state itself is bounded by releasing windows (issue 9), and the result must
//! not depend on how the reads of several files interleave, so lateness is decided per file
//! (docs/SEMANTICS.md, "Allowed lateness"). After every [`RunOptions::release_every`] chunks of a
//! file (the last of them sent in [`PIECES`]) comes a barrier: once every chunk of the file
//! before it is done (the chunks after it wait for it, while the file's reader reads on), the
//! worker that finished the last one sets the file's *watermark*: the latest time counted in
//! the file, capped by the first event time of every file after it on the command line (peeked
//! before the run). An event is late when its window ends at least the allowed lateness before
//! its own file's watermark at the file's last barrier: this depends only on the file and the
//! first times of later files, never on thread timing or on other files' progress. Windows are
//! *released* (alerts final, memory freed) at the smallest watermark over the files not
//! finished: no file can still add a counted event to such a window, so when a release happens
//! changes memory, never the output.
//!
//! Every row ends up in exactly one of: an event, *not applicable* (a row of another event type
//! in a mixed file), or a bad line (reported with file:line and reason).

use super::correlate::{CorrBinding, CorrState, Correlator};
use super::engine::{share_key_fields, Binding, CompiledRule, EventKeys, Fed, RuleState};
use super::index::RuleIndex;
use super::ops::Cell;
use super::prefilter::Prefilter;
use super::read::Row;
use super::read::{self, JsonRecord, Layout, LiteRecord, Rows, TableRecord};
use super::schema::{self, InputSchema, Mapped};
use super::shared::{Memo, SharedFilters};
use super::spill::{
    AlertSink, Batch, JsonWriter, Merge, Pending, Rec, DEFAULT_ALERT_BUFFER, PENDING_BYTES,
};
use super::{Alert, Event};
use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{Rule, Source, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};

/// Rows per work unit (CSV, read row by row because a quoted cell may span lines).
pub const CHUNK: usize = 4096;

/// Bytes per work unit for line formats (JSON lines, Zeek TSV), cut at a newline.
pub const BLOCK: usize = 1 << 20;

/// The chunks the readers' queue holds with `threads` threads: two a thread, and as many again
/// up to 16 more. The queue has to last while a reader that was woken waits for a core (all
/// busy with workers): at two a worker it ran dry, and the workers waited, whenever a reader
/// waited a couple of milliseconds, and the slowest reader, a gzip file's, lost that time
/// outright (row (g), 2M events, 8 interleaved rounds: median 0.615 -> 0.555 s). The extra is
/// capped so that a machine with many cores holds at most 16 more blocks (16 MiB). Since readers
/// process chunks when their queue is full, a reader no longer waits for room, and the depth
/// matters less: 3, 4 or 8 chunks with two threads gave the same (f) and (g) times in
/// interleaved rounds (session 21), so it was left as it was.
pub fn queue_chunks(threads: usize) -> usize {
    threads * 2 + (threads * 2).min(16)
}

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

/// Default chunks between two window releases (16 MiB of JSON lines): between two barriers the
/// workers add at most this much input's worth of groups. A barrier costs a worker the wait for
/// the other's last chunk before it (see [`Settler::barrier`], and [`PIECES`]).
pub const RELEASE_EVERY: u64 = 16;

/// The last of a file's [`RunOptions::release_every`] chunks before each barrier, when it is a
/// block, is sent as this many pieces (cut at line breaks, see [`pieces`]), so that the worker
/// that runs out of chunks before the barrier waits for the other's last piece, not its last
/// whole block: the chunks after a barrier wait until every chunk before it is done. With whole
/// blocks, one core of two idled for about half a block's work (0.2-1 ms) at each of row (f)'s
/// 47 barriers, 20 ms of 740 core-ms (perf sched, 2M events; issue 15). Which chunks are
/// pieces depends on their number in the file only, so where the barriers fall, and with them
/// which events are late, still depends on the file alone.
const PIECES: u64 = 8;

/// The chunks of a file between two of its barriers: `release_every - 1` whole ones and the
/// last one in [`PIECES`].
fn chunks_per_release(release_every: u64) -> u64 {
    release_every.max(1) - 1 + PIECES
}

/// Whether the next chunk of the file of `clock` is where the pieces of the last block before
/// a barrier go (`per`: [`chunks_per_release`]; `None`, no barriers).
fn at_pieces(clock: &FileClock, per: Option<u64>) -> bool {
    per.is_some_and(|per| clock.sent.load(Ordering::Relaxed) % per == per - PIECES)
}

/// Rows read to find a file's first event time before the run.
const PEEK_ROWS: usize = 1000;

/// Threads rendering alerts as JSON lines at the end of a run ([`AlertStream::write_json_lines`]):
/// two share the rendering that one did, while the merge feeding them takes about a seventh of
/// a thread (row (f)); the workers are done by then.
const RENDERERS: usize = 2;

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
    /// Most aggregation groups held at once (at a release or at the end): a thread's part of a
    /// group not released yet counts as one (docs/SEMANTICS.md, "Cap").
    pub peak_groups: usize,
    /// Sorted runs of alerts written to temporary files (more alerts than the buffer).
    pub alert_runs: usize,
    /// Rules not run, in pack order: `--schema` gives events of one source, not theirs.
    pub skipped: Vec<SkippedRule>,
}

/// A rule a run left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRule {
    pub rule: String,
    pub reason: String,
}

/// A progress callback: (bytes read so far in this file, file size, file name), called from
/// the file's reader (several files at once); a file's last call has bytes equal to size.
pub type Progress<'a> = dyn Fn(u64, u64, &str) + Sync + 'a;

/// Where alerts may be written while the run goes on, as JSON lines: each call is whole lines,
/// in the output's order, all before any alert the run's [`AlertStream`] gives (see
/// [`RunOptions::early`]).
pub type Early<'a> = dyn Fn(&[u8]) + Sync + 'a;

pub struct RunOptions<'a> {
    /// Where the alerts of the rule first in the output's order may be written as its windows
    /// are released, instead of at the end (`None`: every alert comes from the run's
    /// [`AlertStream`]). Only a rule that aggregates, without `suppress`, whose id no other
    /// rule of the run has or sorts before, and not with `strict`; see [`Head`].
    pub early: Option<&'a Early<'a>>,
    /// Input schema name for every file; `None`: detect per file.
    pub schema: Option<String>,
    /// Stop at the first bad line (an error naming it). Implies parsing every line.
    pub strict: bool,
    /// Skip JSON lines that provably cannot match (see `prefilter`); such lines are counted
    /// as `prefiltered`, not parsed. Also maps a table row from the columns the rules read
    /// first, the others only when some filter holds (`FileCtx::lean`).
    pub prefilter: bool,
    pub threads: usize,
    /// The longest line (or CSV row) read, in bytes; a longer one is a bad line, skipped
    /// without being buffered (see [`DEFAULT_MAX_LINE`]).
    pub max_line: usize,
    /// Called now and then with (bytes read so far in this file, file size, file name).
    pub progress: Option<&'a Progress<'a>>,
    /// Allowed lateness in seconds: a window is released once the watermark is past its end
    /// plus this. `None`: windows are kept to the end (exact for any input order).
    pub lateness: Option<u64>,
    /// Most live aggregation groups (all rules) before the run fails with E0806.
    pub max_groups: usize,
    /// Bytes per work unit for line formats (tests make it small).
    pub block: usize,
    /// Chunks between two releases (tests make it 1).
    pub release_every: u64,
    /// Alerts held in memory before a sorted run is spilled (tests make it small).
    pub alert_buffer: usize,
}

impl RunOptions<'_> {
    /// These options without the caller's callbacks (`early`, `progress`), owned: for a pass
    /// on a thread of its own that outlives the borrow.
    fn without_callbacks(&self) -> RunOptions<'static> {
        RunOptions {
            early: None,
            schema: self.schema.clone(),
            strict: self.strict,
            prefilter: self.prefilter,
            threads: self.threads,
            max_line: self.max_line,
            progress: None,
            lateness: self.lateness,
            max_groups: self.max_groups,
            block: self.block,
            release_every: self.release_every,
            alert_buffer: self.alert_buffer,
        }
    }
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            early: None,
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
            alert_buffer: DEFAULT_ALERT_BUFFER,
        }
    }
}

pub struct RunOutput {
    pub alerts: Vec<Alert>,
    pub summary: Summary,
    /// See [`RunStream::buffers_made`].
    pub buffers_made: usize,
}

/// A finished run whose alerts are read in order as they are printed (memory bounded by the
/// sink's buffer, not by the number of alerts).
pub struct RunStream {
    pub alerts: AlertStream,
    pub summary: Summary,
    /// Read buffers (blocks, batches) the run made: at most the pipeline's depth, those the
    /// queue holds, 1 per thread processing a chunk and 1 per reader, whatever the number of files or
    /// their size (each is a megabyte for line formats). It depends on thread timing, so it
    /// is not in the [`Summary`].
    pub buffers_made: usize,
}

/// The alerts of a run in order, after each rule's `suppress` clause; an error when a spilled run
/// cannot be read back. The merged order puts each rule's alerts together (rule id first), so
/// a rule with suppression holds only its own alerts at once ([`super::suppress::apply`]).
pub struct AlertStream {
    merge: Merge,
    /// Rules with `suppress`, by id, with their run period.
    suppress: BTreeMap<String, (Rule, u64)>,
    pending: std::collections::VecDeque<Alert>,
    peeked: Option<Result<Rec, String>>,
    suppressed: usize,
    json: JsonWriter,
    /// The buffer the next encoded alert is merged into, kept from alert to alert.
    slot: Rec,
}

/// The next alert of an [`AlertStream`]: still encoded (a rule without suppression), or
/// decoded (kept by its rule's suppression).
enum Next {
    Rec(Rec),
    Alert(Alert),
}

impl AlertStream {
    fn new(merge: Merge, rules: &[Rule]) -> AlertStream {
        AlertStream {
            merge,
            suppress: rules
                .iter()
                .filter(|r| r.suppress.is_some())
                .map(|r| (r.id.clone(), (r.clone(), super::run_period(r))))
                .collect(),
            pending: std::collections::VecDeque::new(),
            peeked: None,
            suppressed: 0,
            json: JsonWriter::default(),
            slot: Rec::default(),
        }
    }

    /// How many alerts suppression has dropped so far (all of them once the stream is read).
    pub fn suppressed(&self) -> usize {
        self.suppressed
    }

    /// Appends the next alert's JSON line to `out` (what `serde_json` writes for the alert
    /// [`Iterator::next`] returns, and a newline); `None` at the end. Alerts of rules without
    /// suppression go from their encoding to the text, with no [`Alert`] in between.
    pub fn next_json(&mut self, out: &mut Vec<u8>) -> Option<Result<(), Diagnostic>> {
        let mut slot = std::mem::take(&mut self.slot);
        let r = match self.next_item_into(&mut slot)? {
            Ok(None) => self
                .merge
                .write_json(&mut self.json, &slot, out)
                .map_err(spill_err),
            Ok(Some(a)) => {
                alert_json_line(&a, out);
                Ok(())
            }
            Err(e) => Err(e),
        };
        self.slot = slot;
        Some(r)
    }

    /// Writes the JSON line of every alert left through `write`, in order (what
    /// [`AlertStream::next_json`] appends one by one), in chunks of whole lines; at an error,
    /// after the lines before it. This thread merges while [`RENDERERS`] others render, each
    /// every so many chunk, and one more writes the text in order: at the end of a run the
    /// workers are done, and rendering was the longest part of the serial end (issue 15, the
    /// unselective row's 90,841 alerts: 241M instructions rendering beside 36M merging).
    pub fn write_json_lines(&mut self, write: impl FnMut(&[u8]) + Send) -> Result<(), Diagnostic> {
        // Per renderer: chunks to render (1 queued: 2 in all, as with one renderer), rendered
        // text to write (1 waiting: memory stays bounded when the output is slow), and the
        // text's buffer back to fill again.
        let mut to_render = Vec::with_capacity(RENDERERS);
        let mut rendered = Vec::with_capacity(RENDERERS);
        let mut ends = Vec::with_capacity(RENDERERS);
        for _ in 0..RENDERERS {
            let (full_tx, full_rx) = mpsc::sync_channel::<Pending>(1);
            let (done_tx, done_rx) = mpsc::sync_channel::<(Vec<u8>, Result<(), String>)>(1);
            let (back_tx, back_rx) = mpsc::channel::<Vec<u8>>();
            to_render.push(full_tx);
            rendered.push((done_rx, back_tx));
            ends.push((full_rx, done_tx, back_rx));
        }
        let (empty_tx, empty_rx) = mpsc::channel::<Pending>();
        let render = self.merge.render();
        std::thread::scope(|scope| {
            for (full_rx, done_tx, back_rx) in ends {
                let mut render = render.clone();
                let empty_tx = empty_tx.clone();
                scope.spawn(move || {
                    for mut p in full_rx {
                        let mut out = back_rx
                            .try_recv()
                            .unwrap_or_else(|_| Vec::with_capacity(PENDING_BYTES * 2));
                        let r = render.lines(&p, &mut out);
                        let failed = r.is_err();
                        // The writer gone (it stopped at an error), or this chunk's error: no
                        // chunk after it is written.
                        if done_tx.send((out, r)).is_err() || failed {
                            return;
                        }
                        p.clear();
                        // Back for the merge to fill again (gone once the merge is done).
                        let _ = empty_tx.send(p);
                    }
                });
            }
            drop(empty_tx);
            // Chunk k is rendered by renderer k % RENDERERS, each in the order it gets them,
            // so the writer takes them in turn: the output's order. A renderer whose chunks
            // ended has no chunk k, and so none after it.
            let writer = scope.spawn(move || -> Result<(), String> {
                let mut write = write;
                for k in 0.. {
                    let Some((done_rx, back_tx)) = rendered.get(k % RENDERERS) else {
                        break;
                    };
                    let Ok((mut out, r)) = done_rx.recv() else {
                        break;
                    };
                    write(&out);
                    r?;
                    out.clear();
                    let _ = back_tx.send(out);
                }
                Ok(())
            });
            let merged = self.send_pending(&to_render, &empty_rx);
            drop(to_render);
            let written = writer
                .join()
                .map_err(|_| Diagnostic::new(Code::E0803, "an evaluator thread failed"))?;
            // The renderers' error is about an alert before any the merge failed at.
            written.map_err(spill_err)?;
            merged
        })
    }

    /// Fills [`Pending`]s with the alerts left, in order, and sends each full one to `tx`;
    /// stops early (with no error of its own) when the renderer has stopped.
    fn send_pending(
        &mut self,
        renderers: &[mpsc::SyncSender<Pending>],
        recycled: &mpsc::Receiver<Pending>,
    ) -> Result<(), Diagnostic> {
        let mut slot = std::mem::take(&mut self.slot);
        // Chunk k to renderer k % renderers.len() (see `write_json_lines`).
        let mut turn = renderers.iter().cycle();
        let r = loop {
            let mut p = recycled.try_recv().unwrap_or_default();
            let mut end = None;
            while end.is_none() && p.bytes() < PENDING_BYTES {
                match self.next_item_into(&mut slot) {
                    None => end = Some(Ok(())),
                    Some(Ok(None)) => p.push_rec(&slot),
                    Some(Ok(Some(a))) => p.push_line(|out| alert_json_line(&a, out)),
                    Some(Err(e)) => end = Some(Err(e)),
                }
            }
            if !p.is_empty() && turn.next().is_none_or(|tx| tx.send(p).is_err()) {
                break Ok(());
            }
            if let Some(r) = end {
                break r;
            }
        };
        self.slot = slot;
        r
    }

    fn next_item(&mut self) -> Option<Result<Next, Diagnostic>> {
        let mut r = Rec::default();
        Some(match self.next_item_into(&mut r)? {
            Ok(None) => Ok(Next::Rec(r)),
            Ok(Some(a)) => Ok(Next::Alert(a)),
            Err(e) => Err(e),
        })
    }

    /// The next alert: `Ok(None)` when it is left encoded in `slot` (a rule without
    /// suppression; the slot's buffer reused, no allocation per alert), else decoded.
    fn next_item_into(&mut self, slot: &mut Rec) -> Option<Result<Option<Alert>, Diagnostic>> {
        loop {
            if let Some(a) = self.pending.pop_front() {
                return Some(Ok(Some(a)));
            }
            match self.peeked.take() {
                Some(Ok(r)) => *slot = r,
                Some(Err(e)) => return Some(Err(spill_err(e))),
                None => {
                    if let Err(e) = self.merge.next_rec_into(slot)? {
                        return Some(Err(spill_err(e)));
                    }
                }
            }
            let rule_id = match self.merge.rule_id(slot) {
                Ok(id) => id,
                Err(e) => return Some(Err(spill_err(e))),
            };
            let Some((rule, period)) = self.suppress.get(rule_id) else {
                return Some(Ok(None));
            };
            let first = std::mem::take(slot);
            let mut same = Vec::new();
            let mut next = Some(Ok(first));
            while let Some(r) = next.take() {
                match r.and_then(|r| {
                    let id = self.merge.rule_id(&r)?;
                    if id == rule.id {
                        self.merge.decode(&r).map(Some)
                    } else {
                        self.peeked = Some(Ok(r));
                        Ok(None)
                    }
                }) {
                    Ok(Some(a)) => {
                        same.push(a);
                        next = self.merge.next_rec();
                    }
                    Ok(None) => {}
                    Err(e) => {
                        if same.is_empty() {
                            return Some(Err(spill_err(e)));
                        }
                        // Reported after the alerts before it, as the stream reaches it.
                        self.peeked = Some(Err(e));
                    }
                }
            }
            let n = same.len();
            let kept = super::suppress::apply(rule, *period, same);
            self.suppressed += n - kept.len();
            self.pending.extend(kept);
        }
    }
}

impl Iterator for AlertStream {
    type Item = Result<Alert, Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.next_item()? {
            Ok(Next::Rec(r)) => self.merge.decode(&r).map_err(spill_err),
            Ok(Next::Alert(a)) => Ok(a),
            Err(e) => Err(e),
        })
    }
}

/// Appends `a`'s JSON line (serde_json's text and a newline) to `out`; nothing when it cannot
/// be serialized.
fn alert_json_line(a: &Alert, out: &mut Vec<u8>) {
    let len = out.len();
    if serde_json::to_writer(&mut *out, a).is_ok() {
        out.push(b'\n');
    } else {
        out.truncate(len);
    }
}

fn spill_err(e: String) -> Diagnostic {
    Diagnostic::new(Code::E0800, e).hint(
        "alerts past the in-memory buffer are spilled to the temporary folder; point TMPDIR at \
         a folder with room",
    )
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
    same_source_tie_break(&mut hits, layout, first);
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

/// How many times a CSV file's blocks go on after a row that spans lines (see
/// [`open_rows`]) before the row reader reads the rest of it: each time wraps the file's
/// reader in one more (the bytes read ahead first), so their number is bounded.
const MAX_CSV_RESUMES: usize = 64;

/// The rows `rows` reads from a row that may span lines on (its first line at the reader's
/// start) until no line waits to be read again: that row, and after a stray quote (a bad
/// line whose following lines are read again) the rows of those lines, so that blocks of
/// whole rows can go on from where the reader stands.
fn open_rows(rows: &mut Rows) -> Result<Vec<read::Row>, String> {
    let mut open = Vec::new();
    while let Some(r) = rows.next_row()? {
        open.push(r);
        if !rows.has_queued() {
            break;
        }
    }
    Ok(open)
}

/// Two schemas of one source that both detect a file (Sysmon EventID 1 and Security 4688 as
/// Winlogbeat ships them share `winlog.event_data.CommandLine`) are told apart by the first
/// record: a schema whose `applies` rejects it (another event ID) gives way to one that takes it.
/// Only within one source: schemas of different sources read different lines of one file, and
/// choosing between them is the caller's (`want`, or an error naming both).
fn same_source_tie_break(hits: &mut Vec<&InputSchema>, layout: &Layout, first: Option<&str>) {
    let Some(line) = first else { return };
    // Whether each schema takes the first record (a malformed value still takes it).
    let takes: Vec<(Source, bool)> = hits
        .iter()
        .map(|s| {
            let rejects = matches!(map_row(layout, s, line), Ok(Mapped::NotApplicable));
            (s.source, !rejects)
        })
        .collect();
    let mut i = 0;
    hits.retain(|_| {
        let (src, took) = takes[i];
        i += 1;
        took || !takes.iter().any(|(o, t)| *o == src && *t)
    });
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
    with_some_cells(layout, schema, schema.keys(), cols, None, text, None, f)
}

/// [`with_cells`] mapping only the cells `want` marks (see [`InputSchema::map_some_into`]),
/// a JSON line read for the values of `keys` only (the schema's, or [`schema::Keys::only`]
/// those of the cells wanted), into a worker's buffers when given (`json`, JSON lines and table
/// rows alike), else the thread's.
#[allow(clippy::too_many_arguments)]
fn with_some_cells<'c, R>(
    layout: &Layout,
    schema: &InputSchema,
    keys: &schema::Keys,
    cols: &[Option<usize>],
    want: Option<&[bool]>,
    text: &'c str,
    json: Option<&mut LineScratch<'c>>,
    f: impl FnOnce(&[Option<Cell<'_>>]) -> R,
) -> Result<Option<R>, String> {
    if let Some(sc) = json {
        let cells = std::mem::take(&mut sc.cells);
        let (r, cells) = match layout {
            Layout::JsonLines => match sc.bufs.read(text, keys) {
                Ok(rec) => map_cells(schema, &rec, cells, want, f),
                Err(e) => (Err(e), cells),
            },
            // A table row's cells and raw cells from the worker's scratch too: through the
            // thread's (`SCRATCH`, taken and put back, and `reuse` on the way in) they were
            // about 120 instructions a row of Zeek's TSV.
            Layout::Table(h) => {
                match TableRecord::parse_in(text, h, schema.keys(), cols, &mut sc.table) {
                    Ok(rec) => map_cells(schema, &rec, cells, want, f),
                    Err(e) => (Err(e), cells),
                }
            }
        };
        sc.cells = cells;
        return r;
    }
    // The row's vectors come from the thread's scratch and go back to it (taken, so a nested
    // call just allocates): no allocation per row.
    let (cells, table) = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let (r, cells, table) = match layout {
        Layout::JsonLines => match LiteRecord::parse(text, keys) {
            Ok(rec) => {
                let (r, cells) = map_cells(schema, &rec, cells, want, f);
                (r, cells, table)
            }
            Err(e) => (Err(e), cells, table),
        },
        Layout::Table(h) => {
            let mut table = table;
            let (r, cells) = match TableRecord::parse_in(text, h, schema.keys(), cols, &mut table) {
                Ok(rec) => {
                    let mut out = read::reuse(cells);
                    let r = schema
                        .map_some_into(&rec, &mut out, want)
                        .map(|a| a.then(|| f(&out)));
                    (r, read::reuse(out))
                }
                Err(e) => (Err(e), cells),
            };
            (r, cells, table)
        }
    };
    SCRATCH.with(|s| *s.borrow_mut() = (cells, table));
    r
}

/// `rec` mapped into `cells` (the cells `want` marks) and read by `f`: the cells given back
/// emptied, for the next row.
fn map_cells<'r, R>(
    schema: &'r InputSchema,
    rec: &'r (impl schema::Record + ?Sized),
    cells: Vec<Option<Cell<'static>>>,
    want: Option<&[bool]>,
    f: impl FnOnce(&[Option<Cell<'_>>]) -> R,
) -> (Result<Option<R>, String>, Vec<Option<Cell<'static>>>) {
    // The spare cells (`'static`, empty) are cells of this row as they are (`Cell` is
    // covariant), without `reuse`'s in-place collect (about 60 instructions a line of (b)
    // --no-prefilter); only the way back needs it.
    let mut out: Vec<Option<Cell<'r>>> = cells;
    let r = schema
        .map_some_into(rec, &mut out, want)
        .map(|a| a.then(|| f(&out)));
    (r, read::reuse(out))
}

/// A worker's buffers for JSON lines, lent to each line of a chunk (of lifetime `'c`): the
/// line's values and the scanner's scratch ([`read::LineBufs`]), and the event's cells.
#[derive(Default)]
struct LineScratch<'c> {
    bufs: read::LineBufs<'c>,
    cells: Vec<Option<Cell<'static>>>,
    /// A table row's raw cells.
    table: read::TableBuf,
}

impl LineScratch<'_> {
    /// The same buffers for lines of another lifetime (see [`read::LineBufs::relife`]): once a
    /// chunk, not once a line.
    fn relife<'b>(self) -> LineScratch<'b> {
        LineScratch {
            bufs: self.bufs.relife(),
            cells: self.cells,
            table: self.table,
        }
    }
}

/// What became of a row mapped in two stages (see [`FileCtx::lean`]).
enum Staged<R> {
    NotApplicable,
    /// An event on which no rule's filter holds (its other cells not mapped).
    Unmatched,
    Fed(R),
}

/// A JSON line's two stages from one parse (for the values of `ctx.keys`): the cells
/// `lean.want` marks are mapped and `holds` tells whether some filter holds on them; only then
/// are the cells of `lean.more` mapped too and `f` reads them all. Both closures get `state`
/// (what they both change). A bad value among the first cells is named as mapping the full
/// stage's cells (`ctx.want`) names it: the first bad one in field order.
fn with_json_stages<'c, S, R>(
    ctx: &FileCtx,
    lean: &Lean,
    text: &'c str,
    json: &mut LineScratch<'c>,
    state: &mut S,
    holds: impl FnOnce(&[Option<Cell<'_>>], &mut S) -> bool,
    f: impl FnOnce(&[Option<Cell<'_>>], &mut S) -> R,
) -> Result<Staged<R>, String> {
    let (schema, want) = (&ctx.schema, ctx.want.as_deref());
    // The worker's buffers, lent (the thread-local scratch and spare buffers taken and given
    // back were about 210 instructions a line of (f)).
    let cells = std::mem::take(&mut json.cells);
    let (r, cells) = match json.bufs.read(text, &ctx.keys) {
        Ok(rec) => {
            // The spare cells (`'static`, empty) are cells of this line as they are (`Cell`
            // is covariant), without `reuse`'s in-place collect; only the way back needs it.
            let mut out: Vec<Option<Cell<'_>>> = cells;
            let r = (|| {
                match schema.map_first_into(&rec, &mut out, Some(&lean.want)) {
                    Ok(None) => return Ok(Staged::NotApplicable),
                    Ok(Some(_)) if !holds(&out, state) => return Ok(Staged::Unmatched),
                    Ok(Some(applied)) => {
                        schema.map_more_into(&rec, &mut out, &lean.more, applied)?
                    }
                    Err(_) => {
                        if !schema.map_some_into(&rec, &mut out, want)? {
                            return Ok(Staged::NotApplicable);
                        }
                    }
                }
                Ok(Staged::Fed(f(&out, state)))
            })();
            (r, read::reuse(out))
        }
        Err(e) => (Err(e), cells),
    };
    json.cells = cells;
    r
}

/// A vector of cells, and a table row's raw cells, kept per thread between rows.
type Scratch = (Vec<Option<Cell<'static>>>, read::TableBuf);

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new((Vec::new(), read::TableBuf::new()))
    };
}

struct FileCtx {
    path: String,
    layout: Layout,
    schema: InputSchema,
    /// Indexes of the compiled rules whose source is the schema's, each with where the fields
    /// it reads are among the schema's cells.
    rules: Vec<(usize, Binding)>,
    /// `rules` by a literal they pin a field to, when that pays (see `index`).
    index: Option<RuleIndex>,
    /// `rules`' filters over the distinct predicates of the file (each evaluated once per
    /// event, see `shared`).
    filters: SharedFilters,
    /// A table's columns the full stage reads (see [`read::columns`]): the schema's, or with
    /// `want` only those of the cells wanted.
    cols: Vec<Option<usize>>,
    /// The raw keys a JSON line is read for on the full stage: the schema's, or with `want`
    /// ([`schema::Keys::only`]) only those of the cells wanted.
    keys: schema::Keys,
    /// The cells the full stage maps, unless `--strict` (with or without the prefilter, so
    /// that the alerts do not depend on it) and when the file's rules do not read every
    /// field: those some rule reads (its filter, computed fields, group keys and aggregates:
    /// [`CompiledRule::bind`]) and `time`. A rule without aggregation reads every field (its
    /// alert holds them). `None`: every cell, so a bad value anywhere makes a bad line.
    want: Option<Vec<bool>>,
    /// The cells the file's rules' filters read (with what decides applicability, and `time`),
    /// when lines may be skipped and that is fewer than the full stage: a row is first mapped
    /// from these alone, and mapped in full only when some rule's filter holds on it (or a
    /// value is bad), so a row no rule matches never converts the other cells.
    lean: Option<Lean>,
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
    /// Position among the files read (command-line order, folders expanded): which error or
    /// strict bad line is reported when several files fail.
    index: usize,
    /// Latest time of an event an aggregating rule counted in this file (or the file's first
    /// event time, peeked).
    max_time: AtomicI64,
    /// The first event time of every file after this one (`i64::MAX`: none): caps the
    /// watermark, so that nothing a later file starts in is released.
    later: i64,
    /// The file's watermark at its last barrier (at the start: its first event time, capped by
    /// `later`); events of the file into windows it releases are late.
    watermark: AtomicI64,
    late: AtomicU64,
    /// Chunks of this file sent to the workers (by its reader).
    sent: AtomicU64,
    /// Chunks of this file the workers finished, for the file's barrier.
    done: Done,
    /// Barriers of this file met so far: a chunk after barrier `e` waits until it is.
    met: Done,
    /// Every chunk of the file is done (or the file is not read): it no longer holds the run's
    /// release back.
    finished: AtomicBool,
    /// A JSON lines file's blocks are numbered (`seq`), not counted by its reader: each worker
    /// writes here the lines of the block it read, and the line numbers it reported in a block
    /// (bad lines, late events) are made the file's at the end ([`resolve_lines`]). Counting
    /// every block on the reader was a pass over every byte (row (f): ~0.02 s of 0.57 s CPU).
    block_lines: Mutex<Vec<u64>>,
    /// The line number of the first numbered block's first line.
    first_block_line: AtomicU64,
}

impl FileClock {
    /// Records that numbered block `seq` holds `n` lines.
    fn set_block_lines(&self, seq: usize, n: u64) {
        let mut lines = self.block_lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() <= seq {
            lines.resize(seq + 1, 0);
        }
        if let Some(l) = lines.get_mut(seq) {
            *l = n;
        }
    }

    /// The line number of numbered block `seq`'s first line, once the blocks before it are
    /// read.
    fn block_start(&self, seq: usize) -> u64 {
        let lines = self.block_lines.lock().unwrap_or_else(|e| e.into_inner());
        self.first_block_line.load(Ordering::Relaxed) + lines.iter().take(seq).sum::<u64>()
    }
}

/// What a row is first mapped from (see [`FileCtx::lean`]).
struct Lean {
    /// A table's columns kept, as [`read::columns`] gives them (`None`: not read).
    cols: Vec<Option<usize>>,
    /// The cells mapped, by field.
    want: Vec<bool>,
    /// The full stage's cells that are not among `want`: what a JSON line, parsed once,
    /// maps next when some filter holds.
    more: Vec<bool>,
}

enum Work {
    Rows(Vec<Row>),
    /// Rows' texts one after another in `text`, each row with its place there (or why its line
    /// is unreadable): one string per chunk, not per row.
    Lines {
        text: String,
        rows: Vec<read::SpanRow>,
    },
    /// Whole lines, from `start` on.
    Block {
        start: BlockStart,
        data: Bytes,
    },
}

/// A block's bytes: a buffer of its own, or its part of a block read whole and sent in
/// [`PIECES`] (see [`pieces`]), which share the buffer: no piece is copied, and no buffer read
/// for a piece is grown back to a block's size with zeros when it comes back for reuse.
enum Bytes {
    Own(Vec<u8>),
    Piece(Arc<Vec<u8>>, std::ops::Range<usize>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Own(v) => v,
            Bytes::Piece(v, r) => v.get(r.clone()).unwrap_or_default(),
        }
    }

    /// The buffer, to be read into again: a piece's from the last of its pieces to be done
    /// (`Arc::into_inner`: of pieces done at the same moment, exactly one gets it, where
    /// `try_unwrap` could fail for both and the buffer be lost to the pool).
    fn into_spare(self) -> Vec<u8> {
        match self {
            Bytes::Own(v) => v,
            Bytes::Piece(v, _) => Arc::into_inner(v).unwrap_or_default(),
        }
    }
}

/// `data` in [`PIECES`] pieces of whole lines ([`pieces`]) sharing its buffer. No other
/// reference is kept (the last piece holds the first one made), so the buffer goes back to the
/// reader's pool however the pieces' threads finish: with the reader's own reference kept until
/// it had sent every piece, a piece done before that gave nothing back, and the reader made a
/// new buffer (`eval_folders::read_buffers_are_bounded_by_the_pipeline_not_by_the_number_of_files`
/// saw 14 made where the pipeline holds 12).
fn shared_pieces(data: Vec<u8>) -> Vec<Bytes> {
    let mut ranges = pieces(&data, PIECES as usize);
    let last = ranges.pop().unwrap_or(0..0);
    let data = Arc::new(data);
    let mut out: Vec<Bytes> = ranges
        .into_iter()
        .map(|r| Bytes::Piece(data.clone(), r))
        .collect();
    out.push(Bytes::Piece(data, last));
    out
}

/// Cuts `data` (whole lines) into exactly `n` ranges of whole lines, one after another and of
/// about the same length (some may be empty: a chunk each all the same, so that a file's
/// barriers fall after the same chunks).
fn pieces(data: &[u8], n: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::with_capacity(n);
    let mut from = 0;
    for k in 1..=n {
        let to = if k == n {
            data.len()
        } else {
            let aim = (data.len() * k / n).max(from);
            match data.get(aim..).and_then(|rest| memchr::memchr(b'\n', rest)) {
                Some(i) => aim + i + 1,
                None => data.len(),
            }
        };
        out.push(from..to);
        from = to;
    }
    out
}

/// Where a block's lines start in its file.
#[derive(Debug, Clone, Copy)]
enum BlockStart {
    /// At this line (counted by the reader).
    Line(u64),
    /// After the lines of the file's numbered blocks before this one (a JSON lines file's
    /// blocks, counted by the workers: see [`FileClock::block_lines`]).
    Numbered(usize),
}

/// A block that starts at line `first_line`.
fn counted(first_line: u64, data: Vec<u8>) -> Work {
    Work::Block {
        start: BlockStart::Line(first_line),
        data: Bytes::Own(data),
    }
}

struct Chunk {
    ctx: Arc<FileCtx>,
    work: Work,
    /// The file's barriers before this chunk: it is read once the last of them is met (see
    /// [`Settler::barrier`]).
    epoch: u64,
}

/// A chunk's buffers once a worker is done with it, back to the reader for the next chunk: a
/// block's bytes (or a batch's text), and a batch's rows. Fresh megabyte buffers per chunk were
/// faulted in page by page each time (glibc maps and unmaps blocks that large).
#[derive(Default)]
struct Spare {
    data: Vec<u8>,
    rows: Vec<read::SpanRow>,
}

impl Spare {
    /// The buffers a finished chunk leaves (none from a chunk of owned rows).
    fn of(work: Work) -> Spare {
        match work {
            Work::Rows(_) => Spare::default(),
            Work::Lines { text, rows } => Spare {
                data: text.into_bytes(),
                rows,
            },
            Work::Block { data, .. } => Spare {
                data: data.into_spare(),
                rows: Vec::new(),
            },
        }
    }

    /// Emptied, as a batch's text and rows.
    fn into_lines(self) -> (String, Vec<read::SpanRow>) {
        let (mut data, mut rows) = (self.data, self.rows);
        data.clear();
        rows.clear();
        // Empty bytes are UTF-8: the allocation is kept.
        (String::from_utf8(data).unwrap_or_default(), rows)
    }
}

/// A thread's slot. Aligned to 128 bytes (a pair of cache lines, which Intel's adjacent-line
/// prefetcher fetches together) so that two threads' slots, side by side in one vector, never
/// share a line: the counters each thread bumps per event made the two cores pass lines back
/// and forth (false sharing). With [`RuleState`]'s alignment, row (f)'s two-thread CPU time
/// came down to its one-thread CPU time (see RuleState).
#[derive(Default)]
#[repr(align(128))]
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
    /// Alerts held in `states` (rules without aggregation), passed to the sink past a bound.
    held: usize,
    /// The predicates evaluated on the event at hand (see `shared`).
    memo: Memo,
    /// The group keys of the event at hand, shared by the rules that group it alike.
    keys: EventKeys,
    /// Alerts being encoded for the sink (see [`flush_alerts`]).
    batch: Batch,
    /// The bad lines and late events this worker reported in numbered blocks, with their lines
    /// counted from the block's start (see [`FileClock::block_lines`]).
    numbered: Vec<Numbered>,
}

/// One slot per thread, each with a state per rule: made one after the other by one thread,
/// so that only their alignment keeps one thread's from sharing a cache line with another's.
fn worker_slots(threads: usize, rules: usize) -> Vec<Mutex<WorkerOut>> {
    (0..threads)
        .map(|_| {
            Mutex::new(WorkerOut {
                states: (0..rules).map(|_| RuleState::default()).collect(),
                ..WorkerOut::default()
            })
        })
        .collect()
}

/// Bad lines (`bad`, indexes into [`WorkerOut::bad`]) and late events (`late`) reported in
/// block `seq` of the file of `clock`, their lines numbered from 1 in the block.
struct Numbered {
    clock: Arc<FileClock>,
    seq: usize,
    bad: std::ops::Range<usize>,
    late: std::ops::Range<usize>,
}

/// Makes the lines of the bad lines and late events `out` reported in numbered blocks the
/// file's: a block's first line follows the lines of the file's blocks before it.
fn resolve_lines(out: &mut WorkerOut) {
    for n in std::mem::take(&mut out.numbered) {
        let base = n.clock.block_start(n.seq) - 1;
        for b in out.bad.get_mut(n.bad).into_iter().flatten() {
            b.line += base;
        }
        for l in out.late.get_mut(n.late).into_iter().flatten() {
            l.line += base;
        }
    }
}

/// A count that only grows, waited for: chunks finished by the workers (for the reader's end
/// of a file and a file's barriers), or barriers met.
#[derive(Default)]
struct Done {
    n: Mutex<Count>,
    cv: Condvar,
}

/// A [`Done`]'s count, and the count it ends at once known (a file's chunks once it is read).
#[derive(Default)]
struct Count {
    n: u64,
    end: Option<u64>,
}

impl Done {
    fn lock(&self) -> std::sync::MutexGuard<'_, Count> {
        self.n.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one more: the count, and whether it is the end ([`Done::end_at`]).
    fn add(&self) -> (u64, bool) {
        let mut c = self.lock();
        c.n += 1;
        self.cv.notify_all();
        (c.n, c.end == Some(c.n))
    }

    /// Sets the count's end: whether the count is there already (if not, the [`Done::add`]
    /// that gets there says so).
    fn end_at(&self, end: u64) -> bool {
        let mut c = self.lock();
        c.end = Some(end);
        c.n >= end
    }

    /// Raises the count to `to` (a count that only grows).
    fn raise(&self, to: u64) {
        let mut c = self.lock();
        c.n = c.n.max(to);
        self.cv.notify_all();
    }

    fn wait_for(&self, sent: u64) {
        let mut c = self.lock();
        while c.n < sent {
            c = self.cv.wait(c).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn row<'c>(
    sh: &Shared<'_>,
    ctx: &FileCtx,
    line: u64,
    text: Result<&'c str, String>,
    out: &mut WorkerOut,
    json: &mut LineScratch<'c>,
) {
    out.rows += 1;
    let fed = text.and_then(|t| map_and_feed(sh, ctx, t, out, json));
    match fed {
        Ok(Staged::Fed((any, late))) => {
            out.events += 1;
            out.matched += u64::from(any);
            if let Some(rule) = late.and_then(|i| sh.rules.get(i)) {
                out.late_events += 1;
                ctx.clock.late.fetch_add(1, Ordering::Relaxed);
                if out.late.len() < MAX_BAD_REPORTED {
                    out.late.push(LateEvent {
                        file: ctx.path.clone(),
                        line,
                        rule: rule.rule.name.clone(),
                    });
                }
            }
        }
        Ok(Staged::Unmatched) => out.events += 1,
        Ok(Staged::NotApplicable) => out.not_applicable += 1,
        Err(reason) => {
            out.bad_lines += 1;
            if out.bad.len() < MAX_BAD_REPORTED {
                out.bad.push(BadLine {
                    file: ctx.path.clone(),
                    line,
                    reason,
                });
            }
            if sh.strict {
                sh.stop(ctx.clock.index);
            }
        }
    }
    if out.held >= sh.flush_at {
        flush_alerts(sh, out);
    }
}

/// Maps one row (in two stages with [`FileCtx::lean`]) and feeds the event to the rules:
/// whether some rule matched it, and the first rule (in pack order) it was late for.
fn map_and_feed<'c>(
    sh: &Shared<'_>,
    ctx: &FileCtx,
    text: &'c str,
    out: &mut WorkerOut,
    json: &mut LineScratch<'c>,
) -> Result<Staged<(bool, Option<usize>)>, String> {
    match (&ctx.lean, &ctx.layout) {
        (None, _) => {}
        // One parse: the filters' cells, then the others when some filter holds (the memo of
        // the predicates evaluated on the first cells stays valid: they are not mapped again).
        (Some(lean), Layout::JsonLines) => {
            return with_json_stages(
                ctx,
                lean,
                text,
                json,
                out,
                |cells, out| some_filter_holds(sh, ctx, cells, &mut out.memo),
                |cells, out| feed_event(sh, ctx, cells, out, false),
            )
        }
        (Some(lean), Layout::Table(_)) => match with_some_cells(
            &ctx.layout,
            &ctx.schema,
            &ctx.keys,
            &lean.cols,
            Some(&lean.want),
            text,
            Some(&mut *json),
            |cells| some_filter_holds(sh, ctx, cells, &mut out.memo),
        ) {
            Ok(Some(false)) => return Ok(Staged::Unmatched),
            Ok(None) => return Ok(Staged::NotApplicable),
            // Some filter holds, or a value is bad: the full mapping decides (and names the
            // first bad value in field order, as without this step).
            Ok(Some(true)) | Err(_) => {}
        },
    }
    Ok(
        match with_some_cells(
            &ctx.layout,
            &ctx.schema,
            &ctx.keys,
            &ctx.cols,
            ctx.want.as_deref(),
            text,
            Some(json),
            |cells| feed_event(sh, ctx, cells, out, true),
        )? {
            Some(r) => Staged::Fed(r),
            None => Staged::NotApplicable,
        },
    )
}

/// Whether the filter of some rule of the file holds on `cells` (the predicates' `memo` reset
/// first).
fn some_filter_holds(
    sh: &Shared<'_>,
    ctx: &FileCtx,
    cells: &[Option<Cell<'_>>],
    memo: &mut Memo,
) -> bool {
    ctx.filters.reset(memo);
    let holds = |pos: usize| {
        ctx.filters.holds(pos, cells, memo).unwrap_or_else(|| {
            ctx.rules
                .get(pos)
                .and_then(|(i, bind)| Some(sh.rules.get(*i)?.holds(cells, bind)))
                .unwrap_or(false)
        })
    };
    // Without an index every rule is a candidate: a plain range, not the chain of
    // `candidates` (its three empty lists tested at each step).
    match &ctx.index {
        None => (0..ctx.rules.len()).any(holds),
        Some(_) => candidates(ctx, cells).any(holds),
    }
}

/// Feeds an event's `cells` to the rules of the file that may match it: whether some rule
/// matched, and the first rule (its number, in pack order) the event was late for. `fresh`:
/// no predicate was evaluated on these cells yet (otherwise the memo of
/// [`some_filter_holds`] on the same values is kept).
fn feed_event(
    sh: &Shared<'_>,
    ctx: &FileCtx,
    cells: &[Option<Cell<'_>>],
    out: &mut WorkerOut,
    fresh: bool,
) -> (bool, Option<usize>) {
    let time_slot = ctx.schema.time_slot();
    let names = ctx.schema.field_names();
    let mut any = false;
    // The first late rule in pack order (candidates come in any order).
    let mut late: Option<usize> = None;
    if fresh {
        ctx.filters.reset(&mut out.memo);
    }
    out.keys.clear();
    let mut feed = |pos: usize| {
        let Some((i, bind)) = ctx.rules.get(pos) else {
            return;
        };
        if let (Some(r), Some(st)) = (sh.rules.get(*i), out.states.get_mut(*i)) {
            let fed = match ctx.filters.holds(pos, cells, &mut out.memo) {
                Some(false) => Fed::Unmatched,
                Some(true) => r.feed_matched(names, cells, bind, st, &mut out.keys),
                None => r.feed_cells(names, cells, bind, st, &mut out.keys),
            };
            match fed {
                Fed::Unmatched => {}
                Fed::Matched => {
                    any = true;
                    out.held += usize::from(!r.aggregates());
                    if let (true, Some(Some(Cell::Timestamp(t)))) =
                        (r.aggregates(), time_slot.and_then(|s| cells.get(s)))
                    {
                        out.chunk_max = out.chunk_max.max(*t);
                    }
                }
                Fed::Late => {
                    any = true;
                    late = Some(late.map_or(*i, |l| l.min(*i)));
                }
            }
        }
    };
    // Without an index every rule is a candidate: a plain range, as in `some_filter_holds`.
    match &ctx.index {
        None => (0..ctx.rules.len()).for_each(&mut feed),
        Some(_) => candidates(ctx, cells).for_each(&mut feed),
    }
    (any, late)
}

/// The positions (in `ctx.rules`) of the rules an event may match: those the index lists for
/// its cells, or every rule of the file (not in rule order).
fn candidates<'c>(ctx: &'c FileCtx, cells: &[Option<Cell<'_>>]) -> Candidates<'c> {
    match &ctx.index {
        Some(ix) => Candidates {
            lists: ix.candidates(cells),
            every: 0..0,
        },
        None => Candidates {
            lists: [&[]; 3],
            every: 0..ctx.rules.len(),
        },
    }
}

/// See [`candidates`]: the index's lists one after another, then `every`. A chain of the
/// flattened lists and an optional range cost about 40 instructions a row of (f) (one rule, no
/// index, two walks a row) in its state's tests.
struct Candidates<'c> {
    lists: [&'c [usize]; 3],
    every: std::ops::Range<usize>,
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        for l in &mut self.lists {
            if let Some((&p, rest)) = l.split_first() {
                *l = rest;
                return Some(p);
            }
        }
        self.every.next()
    }
}

/// Passes the alerts a worker holds to the sink (a failed spill stops the run): encoded first
/// into the worker's batch, so that the sink's lock is held only to copy them.
fn flush_alerts(sh: &Shared<'_>, out: &mut WorkerOut) {
    out.held = 0;
    let pass = |batch: &mut Batch| {
        let mut sink = sh.sink.lock().unwrap_or_else(|e| e.into_inner());
        sink.add_batch(batch);
        if sink.failed() {
            sh.stop(0);
        }
    };
    for st in &mut out.states {
        st.move_alerts(&mut out.batch, pass);
    }
    pass(&mut out.batch);
}

/// What a worker shares with the reader (see [`work`]).
struct Shared<'s> {
    rules: &'s [CompiledRule],
    rx: Mutex<mpsc::Receiver<Chunk>>,
    strict: bool,
    /// Files at this position or later stop being read (`usize::MAX`: none): a file that fails
    /// stops the files after it, while those before it go on, so that the error reported is
    /// the first in file order whatever the timing (0: a failure of the whole run).
    stop_at: AtomicUsize,
    /// The allowed lateness when some rule aggregates (`None`: no window is released).
    lateness: Option<u64>,
    max_groups: usize,
    over_cap: AtomicBool,
    /// Every alert of the run.
    sink: Mutex<AlertSink>,
    /// Alerts a worker holds before passing them to the sink.
    flush_at: usize,
    /// Chunks of a file between two of its barriers ([`chunks_per_release`]), when some rule
    /// aggregates (`None`: no barrier): see [`Settler::barrier`].
    barrier_every: Option<u64>,
}

impl Shared<'_> {
    fn stop(&self, file: usize) {
        self.stop_at.fetch_min(file, Ordering::Relaxed);
    }

    fn stopped(&self, file: usize) -> bool {
        self.stop_at.load(Ordering::Relaxed) <= file
    }
}

/// A worker: takes chunks until the channel closes (see [`Hand::process`]).
fn work(mut hand: Hand<'_, '_, '_, '_>) {
    loop {
        let chunk = match hand.sh.rx.lock() {
            Ok(g) => g.recv(),
            Err(_) => break,
        };
        let Ok(chunk) = chunk else { break };
        hand.process(chunk);
    }
}

/// What a thread needs to process chunks: the run's shared state, its own slot, the way back
/// for spent buffers and the settler. A worker has one, and so has each reader: a reader
/// whose queue is full processes the oldest queued chunk itself instead of waiting (see
/// [`Reader::file`]), and once its files are read it works the queue down as a worker.
struct Hand<'h, 's, 'a, 'b> {
    sh: &'h Shared<'s>,
    slot: &'h Mutex<WorkerOut>,
    pool: mpsc::Sender<Spare>,
    settle: Settler<'h, 'a, 'b>,
    /// The thread's buffers for JSON lines, kept from chunk to chunk: lent to each line of a
    /// chunk as buffers of its lines' lifetime.
    kept: LineScratch<'static>,
}

impl Hand<'_, '_, '_, '_> {
    /// Feeds `chunk` into this thread's slot (locked for the chunk, so that a barrier can take
    /// the states between two chunks), then meets the file's barrier if the chunk completes
    /// one, and settles what a barrier took if nothing else does.
    fn process(&mut self, chunk: Chunk) {
        let (sh, slot, settle) = (self.sh, self.slot, self.settle);
        // A chunk after one of its file's barriers waits until the barrier is met (before
        // taking its slot, which the barrier's take locks).
        chunk.ctx.clock.met.wait_for(chunk.epoch);
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        let out = &mut *guard;
        out.chunk_max = i64::MIN;
        let ctx = &chunk.ctx;
        if let Some(lateness) = sh.lateness {
            // The windows this file released so far (its watermark at its last barrier, which
            // came before this chunk was sent): events into them are late.
            let wm = ctx.clock.watermark.load(Ordering::Relaxed);
            for (i, _) in &ctx.rules {
                if let (Some(r), Some(st)) = (sh.rules.get(*i), out.states.get_mut(*i)) {
                    st.set_released_before(r.open_from(wm, lateness));
                }
            }
        }
        let mut json = std::mem::take(&mut self.kept).relife();
        match &chunk.work {
            Work::Rows(rows) => {
                for (line, text) in rows {
                    let text = text.as_ref().map(String::as_str).map_err(String::clone);
                    row(sh, ctx, *line, text, out, &mut json);
                }
            }
            Work::Lines { text, rows } => {
                for (line, r) in rows {
                    let t = match r {
                        Ok(at) => Ok(text.get(at.clone()).unwrap_or_default()),
                        Err(e) => Err(e.clone()),
                    };
                    row(sh, ctx, *line, t, out, &mut json);
                }
            }
            Work::Block {
                start: begins,
                data,
            } => {
                let data = data.as_slice();
                // Lines are read as `Rows` reads them (`read::line_body`, `read::is_blank`);
                // Zeek's `#` lines are directives.
                let zeek = matches!(&ctx.layout, Layout::Table(h) if !h.quoted);
                // Without a prefilter every line is read: the block is checked as UTF-8 a
                // piece of lines at a time (its lines, cut at line breaks, are then UTF-8 too),
                // not line by line, each piece just before its lines are read, while it is in
                // this core's cache (see [`utf8_piece`]).
                let mut piece = Utf8Piece::EMPTY;
                let mut line = match begins {
                    BlockStart::Line(l) => *l,
                    BlockStart::Numbered(_) => 1,
                };
                let reported = (out.bad.len(), out.late.len());
                let mut start = 0;
                while start < data.len() {
                    let end = memchr::memchr(b'\n', &data[start..])
                        .map(|i| start + i)
                        .unwrap_or(data.len());
                    let bytes = &data[start..end];
                    let from = start;
                    let no = line;
                    start = end + 1;
                    line += 1;
                    if bytes.len() > ctx.max_line {
                        row(
                            sh,
                            ctx,
                            no,
                            Err(read::too_long(ctx.max_line)),
                            out,
                            &mut json,
                        );
                        continue;
                    }
                    let bytes = read::line_body(bytes);
                    if read::is_blank(bytes) || (zeek && bytes.first() == Some(&b'#')) {
                        continue;
                    }
                    if let Some(p) = &ctx.prefilter {
                        if !p.keep(bytes) {
                            out.rows += 1;
                            out.prefiltered += 1;
                            continue;
                        }
                    }
                    if ctx.prefilter.is_none() && from >= piece.end {
                        piece = utf8_piece(data, from);
                    }
                    let at = from.wrapping_sub(piece.start);
                    let text = match piece.text.and_then(|w| w.get(at..at + bytes.len())) {
                        Some(t) => Ok(t),
                        None => std::str::from_utf8(bytes).map_err(|e| {
                            format!(
                                "not UTF-8 text (invalid byte at column {})",
                                e.valid_up_to() + 1
                            )
                        }),
                    };
                    row(sh, ctx, no, text, out, &mut json);
                }
                if let BlockStart::Numbered(seq) = *begins {
                    ctx.clock.set_block_lines(seq, line - 1);
                    let (bad, late) = reported;
                    if out.bad.len() > bad || out.late.len() > late {
                        out.numbered.push(Numbered {
                            clock: ctx.clock.clone(),
                            seq,
                            bad: bad..out.bad.len(),
                            late: late..out.late.len(),
                        });
                    }
                }
            }
        }
        self.kept = json.relife();
        ctx.clock
            .max_time
            .fetch_max(out.chunk_max, Ordering::Relaxed);
        // A worker's groups are a subset of those merged at the next barrier (or at the end),
        // so over the cap here means over the cap there: stop now, before memory runs out.
        if out.states.iter().map(RuleState::groups).sum::<usize>() > sh.max_groups {
            sh.over_cap.store(true, Ordering::Relaxed);
            sh.stop(0);
        }
        drop(guard);
        let Chunk { ctx, work, .. } = chunk;
        // Back to the reader for reuse; a closed pool (reader done) just drops them. A chunk of
        // owned rows leaves nothing: sent back, its empty spare would be taken in place of a
        // block waiting behind it, a new block made, and the waiting one held to the end (the
        // first row of every file is such a chunk: 14 blocks of a megabyte for 8 files read two
        // at a time, where 8 are ever in use; issue 15, (k)'s memory).
        let spare = Spare::of(work);
        if spare.data.capacity() > 0 || spare.rows.capacity() > 0 {
            let _ = self.pool.send(spare);
        }
        let (done, last) = ctx.clock.done.add();
        if let Some(every) = sh.barrier_every.filter(|e| done.is_multiple_of(*e)) {
            // The file's chunks before its barrier are all done (those after it wait for
            // it): this worker meets it.
            settle.barrier(&ctx.clock, done / every);
        }
        if last {
            // The file's last chunk, the file read: it no longer holds releases back.
            ctx.clock.finished.store(true, Ordering::Release);
        }
        settle.now();
    }
}

/// Bytes of a block checked as UTF-8 at once (see [`utf8_piece`]): well within a core's
/// first-level data cache (48 KiB here), so the line reads that follow find them there.
const UTF8_PIECE: usize = 32 << 10;

/// A piece of a block, `start..end`, cut after a line break (or at the block's end), and its
/// text when it is UTF-8.
struct Utf8Piece<'d> {
    start: usize,
    end: usize,
    text: Option<&'d str>,
}

impl Utf8Piece<'_> {
    const EMPTY: Utf8Piece<'static> = Utf8Piece {
        start: 0,
        end: 0,
        text: None,
    };
}

/// The lines of `data` from `from` (a line's start) up to about [`UTF8_PIECE`] bytes (at least
/// one whole line), checked as UTF-8 together. The whole block (1 MiB) checked first was then
/// read again line by line from the shared cache: a second pass of misses over every byte
/// (cachegrind with a 1 MiB last level, row (f), 300,000 lines: `from_utf8` and the line
/// search each missed on every line of the block). Checked by `simdutf8` (AVX2 where the CPU has
/// it; see Cargo.toml); a piece that fails is `None`, and each of its lines is checked alone by
/// std's check, which says where it fails.
fn utf8_piece(data: &[u8], from: usize) -> Utf8Piece<'_> {
    let rest = data.get(from..).unwrap_or_default();
    let end = if rest.len() <= UTF8_PIECE {
        data.len()
    } else {
        let head = rest.get(..UTF8_PIECE).unwrap_or_default();
        match memchr::memrchr(b'\n', head) {
            Some(i) => from + i + 1,
            None => memchr::memchr(b'\n', rest.get(UTF8_PIECE..).unwrap_or_default())
                .map_or(data.len(), |i| from + UTF8_PIECE + i + 1),
        }
    };
    Utf8Piece {
        start: from,
        end,
        text: data
            .get(from..end)
            .and_then(|b| simdutf8::basic::from_utf8(b).ok()),
    }
}

/// What a thread processing chunks needs to meet a file's barrier ([`Settler::barrier`]) and
/// to settle what a barrier took (see [`Release::settle`]): the first thread free after a
/// barrier merges and releases, any thread between two chunks (a worker, or a reader that
/// processed one while its queue was full), so that no thread waits on the merge.
#[derive(Clone, Copy)]
struct Settler<'r, 'a, 'b> {
    rel: &'r Mutex<Release<'a>>,
    clocks: &'r [Arc<FileClock>],
    /// Set when a barrier took groups, cleared when they are settled.
    unsettled: &'r AtomicBool,
    errors: &'r Mutex<Vec<(usize, Diagnostic)>>,
    sh: &'r Shared<'b>,
}

impl Settler<'_, '_, '_> {
    /// Meets barrier `epoch` of the file of `clock`, once every chunk of the file before it is
    /// done and none after it has started (they wait for it): the file's watermark moves to
    /// its latest counted time (capped by the files after it), and the run takes the workers'
    /// groups, to merge, check the cap and release on the first thread free (see
    /// [`Release::take`]); what an earlier barrier took is settled first, if no thread has
    /// yet. Then the chunks after it go on. Met by the worker that finished the barrier's last
    /// chunk, not by the file's reader waiting for it: the reader goes on reading (or
    /// inflating) meanwhile, and the chunks it sends wait here instead (issue 15: the reader's
    /// wait, about 23 times over rows (f) and (g), left both cores idle at each, and (g)'s
    /// reader, the slowest stage, lost its time outright). The watermark is the same: the
    /// chunks before the barrier are done, and none after it has started.
    fn barrier(&self, clock: &FileClock, epoch: u64) {
        if self.sh.lateness.is_some() {
            let wm = clock.max_time.load(Ordering::Relaxed).min(clock.later);
            clock.watermark.fetch_max(wm, Ordering::Release);
        }
        let taken = {
            let mut rel = self.rel.lock().unwrap_or_else(|e| e.into_inner());
            rel.settle().map(|()| {
                rel.take(self.clocks, clock.index);
                self.unsettled.store(true, Ordering::Release);
            })
        };
        if let Err(d) = taken {
            self.sh.stop(clock.index);
            self.errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((clock.index, d));
        }
        clock.met.raise(epoch);
    }

    /// Settles what the last barrier took, unless nothing is waiting or another thread is at
    /// it (a worker meeting a barrier, or another settling). An error is the error of the
    /// file whose barrier took the groups, as if its reader had met it.
    fn now(&self) {
        if !self.unsettled.load(Ordering::Acquire) {
            return;
        }
        let mut rel = match self.rel.try_lock() {
            Ok(rel) => rel,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        self.unsettled.store(false, Ordering::Release);
        let file = rel.taken_by;
        if let Err(d) = rel.settle() {
            self.sh.stop(file);
            self.errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((file, d));
        }
    }
}

/// The number of lines of `b` (whole lines of a file, the last one maybe without its line
/// break): the line numbers a block of them takes up.
fn line_count(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64 + read::unbroken_end(b)
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

/// What [`Release::take_all`] gives [`merge_windows`].
struct EndStates {
    /// Per rule: the states the last settle would have merged, and the workers' states.
    rules: Vec<(Vec<RuleState>, Vec<RuleState>)>,
    /// Per rule: the first window that settle would not have released.
    released_before: Vec<Option<i64>>,
    /// The groups the threads kept at the last barrier, when its take was not settled yet
    /// (the settle's count of the cap adds them to the merged groups).
    settled_held: Option<usize>,
}

/// The run's side of window release, shared by the readers: the merged live state and the
/// alerts of released windows.
struct Release<'r> {
    compiled: &'r [CompiledRule],
    slots: &'r [Mutex<WorkerOut>],
    /// The lateness when windows are released (some rule aggregates, lateness bounded).
    lateness: Option<u64>,
    max_groups: usize,
    /// Every group of every rule, merged at the last barrier.
    live: Vec<RuleState>,
    /// Where released windows' alerts go.
    sink: &'r Mutex<AlertSink>,
    /// Released windows' alerts, encoded before they are added to the sink (kept empty).
    batch: Batch,
    peak: usize,
    /// Worker states taken at a barrier and not merged yet, with the watermark read at that
    /// barrier (see [`Release::take`]).
    pending: Vec<Vec<RuleState>>,
    release_at: Option<i64>,
    /// The groups the threads kept at the last take (windows not released yet), each thread's
    /// part of a group counted as one: with `live`, what the cap counts.
    held: usize,
    /// The file whose barrier made the last take (its error, should settling it fail).
    taken_by: usize,
    /// The rule whose released windows' alerts are written at once, if any.
    head: Option<Head>,
    /// Alerts written early (see [`Head`]).
    early: usize,
}

/// The rule first in the output's order (`alert_order`: rule id first), when it aggregates,
/// has no `suppress`, and no other rule of the run has its id: its alerts are written as its
/// windows are released (issue 15: row (f) spilled 13 MB of them to temporary files, read them
/// back and wrote 28 MB of JSON at the end, on one core, while DuckDB's twin prints a count).
/// That is the output's order: windows are released in order of their start (a window a
/// release leaves open starts at or after its `open_from`, which never decreases, and no event
/// can open a window once one before it is released: it is late), each window once, its alerts
/// sorted as the sink sorts them; every alert of another rule, and this rule's windows released
/// at the end, come after them from the sink.
struct Head {
    rule: usize,
    /// To the early writer ([`EarlyWriter`]): each release's alerts, in the order of release.
    out: mpsc::SyncSender<Batch>,
    /// Batches the writer is done with, for the next releases (their buffers kept).
    spare: mpsc::Receiver<Batch>,
    /// The alerts of one release, encoded, then sorted and written together by the writer.
    batch: Batch,
    /// Alerts of one release held before they go to the sink instead: the sink's buffer
    /// ([`RunOptions::alert_buffer`]).
    cap: usize,
}

/// Encoded bytes of one release of the head rule held before its alerts go to the sink instead
/// (from then on, every alert of the run does): the sink's own bound on memory.
const HEAD_BYTES: usize = super::spill::DEFAULT_ALERT_BYTES;

/// Releases of the head rule sent to the early writer and not yet written: with those being
/// written and made, at most four releases' alerts (each at most [`HEAD_BYTES`]) are held.
const EARLY_QUEUE: usize = 2;

/// The thread that sorts each release of the head rule ([`Head`]) and writes it, in the order
/// the releases were sent. Off the release's lock: sorted, rendered and written there, a
/// release held the lock about 1 ms (row (f), 2M events: 41 releases, 15-20 ms rendering and
/// 5-22 ms writing in all), while the threads settling or meeting a barrier waited for it.
struct EarlyWriter<'r> {
    write: &'r Early<'r>,
    batches: mpsc::Receiver<Batch>,
    back: mpsc::Sender<Batch>,
}

impl EarlyWriter<'_> {
    /// Writes every batch sent until the head's sender is dropped; stops at the first that
    /// cannot be read back (a damaged encoding), which the run reports.
    fn run(self) -> Result<(), String> {
        let (mut json, mut text) = (JsonWriter::default(), Vec::new());
        for mut batch in self.batches {
            text.clear();
            batch.drain_json_sorted(&mut json, &mut text)?;
            (self.write)(&text);
            // A closed return (the run done with the head) just drops it.
            let _ = self.back.send(batch);
        }
        Ok(())
    }
}

/// The head rule among `compiled` ([`Head`]) and its writer, if `opts` take early alerts and
/// some rule qualifies; `correlations` are the run's other rules (their ids count).
fn head_rule<'r>(
    compiled: &[CompiledRule],
    correlations: &[Rule],
    opts: &RunOptions<'r>,
    lateness: Option<u64>,
) -> Option<(Head, EarlyWriter<'r>)> {
    let write = opts.early.filter(|_| !opts.strict && lateness.is_some())?;
    let ids = compiled
        .iter()
        .map(|c| c.rule.id.as_str())
        .chain(correlations.iter().map(|r| r.id.as_str()));
    let first = ids.clone().min()?;
    if ids.filter(|id| *id == first).count() != 1 {
        return None;
    }
    let rule = compiled.iter().position(|c| c.rule.id == first)?;
    let c = compiled.get(rule)?;
    if !c.aggregates() || c.rule.suppress.is_some() {
        return None;
    }
    let (out, batches) = mpsc::sync_channel(EARLY_QUEUE);
    let (back, spare) = mpsc::channel();
    Some((
        Head {
            rule,
            out,
            spare,
            batch: Batch::default(),
            cap: opts.alert_buffer,
        },
        EarlyWriter {
            write,
            batches,
            back,
        },
    ))
}

impl Release<'_> {
    /// At file `file`'s barrier: takes from every worker its held alerts and the windows the
    /// watermark releases (under each slot's lock, so the workers go on at once) and reads the
    /// smallest watermark over the files not finished; [`Release::settle`] merges and releases
    /// later, on the first thread free (a worker between two chunks, see [`Settler`], or the
    /// reader when its channel is full), so that the workers are not idle while it does (issue
    /// 15); at the latest at the next barrier, so at most one take waits. The watermark is
    /// read first: each file's only grows,
    /// and a file's events still to come are late in any window it releases, so nothing taken
    /// or fed after it can belong to a window released at it; when the merge happens changes
    /// memory only.
    fn take(&mut self, clocks: &[Arc<FileClock>], file: usize) {
        let watermark = clocks
            .iter()
            .filter(|c| !c.finished.load(Ordering::Acquire))
            .map(|c| c.watermark.load(Ordering::Acquire))
            .min()
            .unwrap_or(i64::MAX);
        // Only the windows this watermark releases: no thread counts an event into them any
        // more (each file's are late there), while the others stay with their thread, to be
        // taken once when they are released (or at the end). Unbounded: every window, merged
        // at each release point as the cap's count was.
        let cuts: Vec<Option<i64>> = self
            .compiled
            .iter()
            .map(|c| c.open_from(watermark, self.lateness?))
            .collect();
        let mut held = 0;
        for slot in self.slots {
            let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
            g.held = 0;
            let taken = g
                .states
                .iter_mut()
                .zip(&cuts)
                .map(|(st, cut)| st.drain_before(*cut))
                .collect();
            held += g.states.iter().map(RuleState::groups).sum::<usize>();
            self.pending.push(taken);
        }
        self.held = held;
        self.taken_by = file;
        self.release_at = self.release_at.max(Some(watermark));
    }

    /// Merges what [`Release::take`] took, checks the cap, and releases every window that
    /// ends at least the lateness before the watermark read then.
    fn settle(&mut self) -> Result<(), Diagnostic> {
        let Some(watermark) = self.release_at.take() else {
            return Ok(());
        };
        for taken in std::mem::take(&mut self.pending) {
            for (acc, st) in self.live.iter_mut().zip(taken) {
                acc.merge(st);
                // The sink's lock only to add alerts, not over the merges: a worker passing
                // its alerts on waits for it while holding its slot.
                let mut alerts = acc.take_alerts();
                if !alerts.is_empty() {
                    let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
                    sink.add_batch(&mut alerts);
                }
            }
        }
        self.check_cap()?;
        let Some(lateness) = self.lateness else {
            return Ok(());
        };
        for (i, c) in self.compiled.iter().enumerate() {
            let Some(open_from) = c.open_from(watermark, lateness) else {
                continue;
            };
            if let (Some(st), Some(head)) = (self.live.get_mut(i), self.head.as_mut()) {
                if head.rule == i {
                    c.release_into(st, open_from, &mut |a| head.batch.add_ref(a));
                    if head.batch.len() <= head.cap && head.batch.bytes() <= HEAD_BYTES {
                        let n = head.batch.len();
                        if n > 0 {
                            let next = head.spare.try_recv().unwrap_or_default();
                            let batch = std::mem::replace(&mut head.batch, next);
                            // A writer gone (it failed) fails the run when it is joined.
                            let _ = head.out.send(batch);
                            self.early += n;
                        }
                    } else {
                        // Too many for memory: to the sink, as every later alert.
                        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
                        sink.add_batch(&mut head.batch);
                        if let Some(e) = sink.error() {
                            return Err(spill_err(e.to_string()));
                        }
                        drop(sink);
                        self.head = None;
                    }
                    continue;
                }
            }
            if let Some(st) = self.live.get_mut(i) {
                // Encoded here, then copied into the sink under its lock (as a worker's batch
                // is, a bounded piece at a time), with no held alert made per alert.
                let (batch, sink) = (&mut self.batch, self.sink);
                let pass =
                    |b: &mut Batch| sink.lock().unwrap_or_else(|e| e.into_inner()).add_batch(b);
                let mut any = false;
                c.release_into(st, open_from, &mut |a| {
                    any = true;
                    batch.add_ref_passing(a, pass);
                });
                if !any {
                    continue;
                }
                let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
                sink.add_batch(batch);
                if let Some(e) = sink.error() {
                    return Err(spill_err(e.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Every rule's states at the end of the run, unmerged, for [`merge_windows`] to merge
    /// window by window on several threads (merging them here, on one thread, was a third of
    /// row (f)'s end): what the last [`Release::settle`] would have merged (the live states and
    /// what the last barrier took), then each worker's. With the cap's count that settle would
    /// have checked, and the windows it would have released.
    fn take_all(&mut self) -> EndStates {
        let watermark = self.release_at.take();
        let mut rules: Vec<(Vec<RuleState>, Vec<RuleState>)> = std::mem::take(&mut self.live)
            .into_iter()
            .map(|st| (vec![st], Vec::new()))
            .collect();
        for taken in std::mem::take(&mut self.pending) {
            for (r, st) in rules.iter_mut().zip(taken) {
                r.0.push(st);
            }
        }
        let released_before = self
            .compiled
            .iter()
            .map(|c| c.open_from(watermark?, self.lateness?))
            .collect();
        let settled_held = watermark.map(|_| self.held);
        for slot in self.slots {
            let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
            g.held = 0;
            for (r, st) in rules.iter_mut().zip(g.states.iter_mut()) {
                r.1.push(st.drain());
            }
        }
        self.held = 0;
        EndStates {
            rules,
            released_before,
            settled_held,
        }
    }

    fn check_cap(&mut self) -> Result<(), Diagnostic> {
        let n = self.held + self.live.iter().map(RuleState::groups).sum::<usize>();
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

/// Runs `rules` over `files`, all alerts in memory (see [`run_files_streamed`]).
pub fn run_files(
    rules: &[Rule],
    files: &[PathBuf],
    opts: &RunOptions<'_>,
) -> Result<RunOutput, Diagnostic> {
    let mut run = run_files_streamed(rules, files, opts)?;
    let alerts = run.alerts.by_ref().collect::<Result<_, _>>()?;
    run.summary.alerts -= run.alerts.suppressed();
    Ok(RunOutput {
        alerts,
        summary: run.summary,
        buffers_made: run.buffers_made,
    })
}

/// With `--schema NAME` every file is read through that one schema, which gives events of one
/// source: the rules it can serve (their source is the schema's; a correlation's every step's
/// source is) run, and each other rule is skipped with the reason, as data for the summary
/// (not an error: a pack holds rules of many sources, and a correlation of several). Without
/// a schema every rule runs. An unknown schema name is E0801.
fn served_by_schema(
    rules: &[Rule],
    schemas: &[InputSchema],
    forced: Option<&str>,
) -> Result<(Vec<Rule>, Vec<SkippedRule>), Diagnostic> {
    let Some(name) = forced else {
        return Ok((rules.to_vec(), Vec::new()));
    };
    let schema = choose_schema("", schemas, Some(name), &Layout::JsonLines, None, &[])?;
    let mut served = Vec::new();
    let mut skipped = Vec::new();
    for r in rules {
        let sources: Vec<Source> = match &r.correlation {
            Some(c) => c.steps.iter().fold(Vec::new(), |mut v, s| {
                if !v.contains(&s.source) {
                    v.push(s.source);
                }
                v
            }),
            None => vec![r.source],
        };
        let missing: Vec<&str> = sources
            .iter()
            .filter(|s| **s != schema.source)
            .map(|s| s.name())
            .collect();
        if missing.is_empty() {
            served.push(r.clone());
            continue;
        }
        let reason = match &r.correlation {
            Some(_) => format!(
                "it correlates {}; schema `{name}` gives {} events only (run it without `--schema`: each step is read through its source's schema)",
                sources.iter().map(|s| s.name()).collect::<Vec<_>>().join(" and "),
                schema.source.name()
            ),
            None => format!(
                "it reads {}; schema `{name}` gives {} events",
                r.source.name(),
                schema.source.name()
            ),
        };
        skipped.push(SkippedRule {
            rule: r.name.clone(),
            reason,
        });
    }
    Ok((served, skipped))
}

/// Runs `rules` over `files` (a folder: every event file under it, see
/// [`crate::load::event_files`]); the alerts are read in order from the result. Errors (exit 2
/// in the CLI): a missing or binary file, a folder without event files, an unknown or
/// undetectable schema, a read error, or with `strict` the first bad line. When several files
/// fail, the error is that of the first in file order (a failing file stops the files after
/// it, not those before it).
pub fn run_files_streamed(
    rules: &[Rule],
    files: &[PathBuf],
    opts: &RunOptions<'_>,
) -> Result<RunStream, Diagnostic> {
    let files = &expand_folders(files)?;
    let schemas = schema::all().map_err(|e| Diagnostic::new(Code::E0802, e))?;
    let (served, skipped) = served_by_schema(rules, &schemas, opts.schema.as_deref())?;
    let (correlations, rules): (Vec<Rule>, Vec<Rule>) =
        served.into_iter().partition(|r| r.correlation.is_some());
    if rules.is_empty() && !correlations.is_empty() {
        // Only correlations: their own pass reads every file (and counts its rows).
        let mut summary = Summary {
            lateness: opts.lateness,
            skipped,
            ..Summary::default()
        };
        let mut sink = AlertSink::new(opts.alert_buffer);
        for (i, r) in correlations.iter().enumerate() {
            sink.add(run_correlation(r, files, opts, &mut summary, i == 0)?);
        }
        summary.alerts = sink.len();
        summary.alert_runs = sink.spilled();
        let alerts = AlertStream::new(sink.finish().map_err(spill_err)?, &correlations);
        return Ok(RunStream {
            alerts,
            summary,
            buffers_made: 0,
        });
    }
    let mut compiled: Vec<CompiledRule> = rules
        .iter()
        .map(CompiledRule::new)
        .collect::<Result<_, _>>()?;
    share_key_fields(&mut compiled);
    let threads = opts.threads.max(1);
    // Correlations read the files in a pass of their own (`run_correlation`: every event of a
    // key in input order). With more than one thread, that pass runs on a thread of its own
    // beside this one, instead of after it on one core (issue 15: the pack's correlation took
    // 0.67 of its 0.80 s over the Sysmon benchmark file, both cores busy only for the rest).
    // Its alerts and counts join the run's at the end, in the order they did after it; its
    // error is reported only when this pass has none, as when it ran second. On such an error
    // the thread is left to end on its own (the CLI exits).
    let beside = (threads > 1 && !correlations.is_empty()).then(|| {
        let (corrs, files) = (correlations.clone(), files.clone());
        let o = opts.without_callbacks();
        std::thread::spawn(move || correlation_pass(&corrs, &files, &o))
    });
    // Releasing windows needs a rule that aggregates and a bounded lateness.
    let aggregating = compiled.iter().any(CompiledRule::aggregates);
    let lateness = opts.lateness.filter(|_| aggregating);
    let mut summary = Summary {
        lateness: opts.lateness,
        skipped,
        ..Summary::default()
    };
    let plan = plan_files(files, &schemas, &compiled, opts, lateness, &mut summary);
    let (tx, rx) = mpsc::sync_channel::<Chunk>(queue_chunks(threads));
    let sh = Shared {
        rules: &compiled,
        rx: Mutex::new(rx),
        strict: opts.strict,
        stop_at: AtomicUsize::new(usize::MAX),
        lateness,
        max_groups: opts.max_groups,
        over_cap: AtomicBool::new(false),
        sink: Mutex::new(AlertSink::new(opts.alert_buffer)),
        // Each worker holds at most a share of the buffer before passing its alerts on.
        flush_at: (opts.alert_buffer / (2 * threads)).clamp(1, 4096),
        barrier_every: aggregating.then_some(chunks_per_release(opts.release_every)),
    };
    let slots = worker_slots(threads, compiled.len());
    let (head, early_writer) = head_rule(&compiled, &correlations, opts, lateness).unzip();
    let rel = Mutex::new(Release {
        compiled: &compiled,
        slots: &slots,
        lateness,
        max_groups: opts.max_groups,
        live: compiled.iter().map(|_| RuleState::default()).collect(),
        sink: &sh.sink,
        batch: Batch::default(),
        peak: 0,
        pending: Vec::new(),
        release_at: None,
        held: 0,
        taken_by: 0,
        head,
        early: 0,
    });
    let (pool_tx, pool_rx) = mpsc::channel::<Spare>();
    let unsettled = AtomicBool::new(false);
    let errors: Mutex<Vec<(usize, Diagnostic)>> = Mutex::new(Vec::new());
    let rd = Reader {
        files,
        schemas: &schemas,
        compiled: &compiled,
        opts,
        sh: &sh,
        clocks: &plan.clocks,
        rule_sources: &plan.sources,
        pool: Mutex::new(pool_rx),
        made: AtomicUsize::new(0),
        summary: Mutex::new(summary),
    };
    // One reader per file, up to `threads` files at once: decompression and parsing of several
    // files use several cores, and one reader is the sequential run.
    let next = AtomicUsize::new(0);
    let settler = Settler {
        rel: &rel,
        clocks: &plan.clocks,
        unsettled: &unsettled,
        errors: &errors,
        sh: &sh,
    };
    let n_readers = plan.read.len().clamp(1, threads);
    // Threads that only process chunks, beside the readers, which process chunks too whenever
    // their queue is full and once their files are read (see [`Hand`]): `threads` threads in
    // all, not a reader on top of them. With a reader and two workers on two cores, the
    // reader waited for a core whenever it was woken, and a gzip file's reader, the slowest
    // stage, got two thirds of one (issue 15, rows (f) and (g)).
    let n_workers = threads - n_readers;
    let (worker_slots, reader_slots) = slots.split_at(n_workers);
    let hand = |slot| Hand {
        sh: &sh,
        slot,
        pool: pool_tx.clone(),
        settle: settler,
        kept: LineScratch::default(),
    };
    let all_joined = std::thread::scope(|s| {
        let writer = early_writer.map(|w| s.spawn(move || w.run()));
        let workers: Vec<_> = worker_slots
            .iter()
            .map(|slot| {
                let h = hand(slot);
                s.spawn(move || work(h))
            })
            .collect();
        let readers: Vec<_> = reader_slots
            .iter()
            .map(|slot| {
                let tx = tx.clone();
                let mut h = hand(slot);
                let (rd, next, errors, read) = (&rd, &next, &errors, &plan.read);
                s.spawn(move || {
                    while let Some(&i) = read.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let result = if rd.sh.stopped(i) {
                            Ok(())
                        } else {
                            rd.file(i, &tx, &mut h)
                        };
                        if let Err(d) = result {
                            rd.sh.stop(i);
                            errors
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((i, d));
                        }
                        // Every chunk of the file done before it stops holding releases back: now,
                        // or when the worker that finishes its last chunk says so. The reader
                        // goes on to its next file at once (it waited for the chunks in flight,
                        // about 2-5 ms a file over (k)'s slices, while it could inflate).
                        let clock = &rd.clocks[i];
                        if clock.done.end_at(clock.sent.load(Ordering::Relaxed)) {
                            clock.finished.store(true, Ordering::Release);
                        }
                    }
                    // Its files read, the reader works the queue down with the others (the
                    // queue closes once every reader is done).
                    drop(tx);
                    work(h);
                })
            })
            .collect();
        drop(tx);
        let readers_ok = readers.into_iter().filter_map(|h| h.join().ok()).count() == n_readers;
        let workers_ok = workers.into_iter().filter_map(|h| h.join().ok()).count() == n_workers;
        // No release after the workers': the head's sender dropped, the writer writes what
        // it was sent and ends (before anything of the sink is written).
        rel.lock().unwrap_or_else(|e| e.into_inner()).head = None;
        let written = writer.map_or(Some(Ok(())), |h| h.join().ok());
        (readers_ok && workers_ok).then_some(written).flatten()
    });
    let Some(written) = all_joined else {
        return Err(Diagnostic::new(Code::E0803, "an evaluator thread failed"));
    };
    written.map_err(spill_err)?;
    let Reader {
        summary,
        pool,
        made,
        ..
    } = rd;
    drop(pool);
    let clocks = &plan.clocks;
    let mut summary = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    let buffers_made = made.into_inner();
    let mut rel = rel.into_inner().unwrap_or_else(|e| e.into_inner());
    let early = rel.early;
    for slot in &slots {
        let mut o = slot.lock().unwrap_or_else(|e| e.into_inner());
        resolve_lines(&mut o);
        summary.bad.extend(std::mem::take(&mut o.bad));
    }
    // The first failure in file order: an I/O error, or with --strict a bad line.
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for c in plan.read.iter().filter_map(|&i| clocks.get(i)) {
        index.entry(c.path.as_str()).or_insert(c.index);
    }
    let first_bad = summary
        .bad
        .iter()
        .filter(|_| opts.strict)
        .min_by_key(|b| (index.get(b.file.as_str()).copied().unwrap_or(0), b.line))
        .cloned();
    let first_err = errors
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .min_by_key(|(i, _)| *i);
    match (first_err, &first_bad) {
        (Some((i, _)), Some(b)) if index.get(b.file.as_str()).is_some_and(|&bi| bi <= i) => {
            return Err(strict_error(b))
        }
        (Some((_, d)), _) => return Err(d),
        _ => {}
    }
    if sh.over_cap.load(Ordering::Relaxed) {
        return Err(over_cap(opts.max_groups));
    }
    let end = rel.take_all();
    let matched: Vec<u64> = end
        .rules
        .iter()
        .map(|(a, b)| a.iter().chain(b).map(|st| st.matched).sum())
        .collect();
    let settled_held = end.settled_held;
    let (mut peak, max_groups) = (rel.peak, rel.max_groups);
    // The release borrows the sink: done with it.
    drop(rel);
    let sink = sh.sink.into_inner().unwrap_or_else(|e| e.into_inner());
    let (
        mut sink,
        Merged {
            settled,
            kept: groups,
        },
    ) = merge_and_finish(end, &compiled, sink, threads)?;
    // The cap as the last settle and the end's merge counted it.
    if let Some(held) = settled_held {
        peak = peak.max(held + settled);
        if held + settled > max_groups {
            return Err(over_cap(max_groups));
        }
    }
    let peak = peak.max(groups);
    if groups > max_groups {
        return Err(over_cap(max_groups));
    }
    for slot in slots {
        let o = slot.into_inner().unwrap_or_else(|e| e.into_inner());
        summary.rows += o.rows;
        summary.prefiltered += o.prefiltered;
        summary.events += o.events;
        summary.not_applicable += o.not_applicable;
        summary.matched += o.matched;
        summary.bad_lines += o.bad_lines;
        summary.late_events += o.late_events;
        summary.late.extend(o.late);
    }
    for c in clocks {
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
    if let Some(b) = &first_bad {
        return Err(strict_error(b));
    }
    for (c, n) in compiled.iter().zip(matched) {
        summary.matched_by_rule.insert(c.rule.name.clone(), n);
    }
    let (corr_alerts, corr) = match beside {
        Some(h) => h
            .join()
            .map_err(|_| Diagnostic::new(Code::E0803, "an evaluator thread failed"))?,
        None => correlation_pass(&correlations, files, opts),
    }?;
    for a in corr_alerts {
        sink.add(a);
    }
    summary.matched_by_rule.extend(corr.matched_by_rule);
    summary.late_events += corr.late_events;
    summary.alerts = sink.len() + early;
    summary.alert_runs = sink.spilled();
    let alerts = AlertStream::new(sink.finish().map_err(spill_err)?, &rules);
    Ok(RunStream {
        alerts,
        summary,
        buffers_made,
    })
}

/// Merges each rule's states at the end of a run (see [`Release::take_all`]) window by window
/// and turns each merged window into alerts at once (while its groups are in this core's
/// cache), adding them to `sink`, on `threads` threads (see [`on_threads`]). Every aggregate is
/// commutative (see `engine`), so which thread merges a window, and in which order, changes
/// nothing, nor does the order alerts reach the sink. Each thread encodes into a batch of its
/// own, added a bounded piece at a time ([`Batch::add_ref_passing`]: the sink's bound on memory
/// holds at the end too, give or take a batch per thread). Also gives the groups the last
/// settle's merge held, and those the whole merge holds in windows that settle would not have
/// released: the counts of the cap (a released window's groups are freed before the end's
/// count).
///
/// Merged and then finished in two passes, a window's groups were cold again for the second
/// (row (f), 2M events: 4-8 ms merging, then 8-11 ms finishing, each pass's two shares
/// uneven by a third).
fn merge_and_finish(
    end: EndStates,
    compiled: &[CompiledRule],
    sink: AlertSink,
    threads: usize,
) -> Result<(AlertSink, Merged), Diagnostic> {
    /// A rule's number, whether the window counts at the end, and its states (the settle's,
    /// then the workers').
    type Todo = (usize, bool, Vec<RuleState>, Vec<RuleState>);
    let mut todo: Vec<Todo> = Vec::new();
    for (i, (settled, workers)) in end.rules.into_iter().enumerate() {
        let cut = end.released_before.get(i).copied().flatten();
        let mut alerts = RuleState::default();
        let mut by_start: BTreeMap<i64, (Vec<RuleState>, Vec<RuleState>)> = BTreeMap::new();
        let tagged = settled
            .into_iter()
            .map(|st| (false, st))
            .chain(workers.into_iter().map(|st| (true, st)));
        for (worker, st) in tagged {
            for p in st.into_parts() {
                match p.first_start() {
                    Some(start) => {
                        let e = by_start.entry(start).or_default();
                        if worker { &mut e.1 } else { &mut e.0 }.push(p);
                    }
                    None => alerts.merge(p),
                }
            }
        }
        if !alerts.is_empty() {
            todo.push((i, false, vec![alerts], Vec::new()));
        }
        todo.extend(
            by_start
                .into_iter()
                .map(|(start, (s, w))| (i, cut.is_none_or(|c| start >= c), s, w)),
        );
    }
    let weight = |t: &Todo| t.2.iter().chain(&t.3).map(RuleState::weight).sum::<usize>();
    let sink = Mutex::new(sink);
    let add = |batch: &mut Batch| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .add_batch(batch)
    };
    let done = on_threads(
        todo,
        threads,
        weight,
        |(i, counts, s, w), mine: &mut (Batch, Merged)| {
            let (batch, n) = mine;
            let mut acc = RuleState::default();
            for st in s {
                acc.merge(st);
            }
            n.settled += acc.groups();
            for st in w {
                acc.merge(st);
            }
            if counts {
                n.kept += acc.groups();
            }
            if let (Some(c), false) = (compiled.get(i), acc.is_empty()) {
                c.finish_into(acc, batch, &mut |b| add(b));
            }
        },
    )?;
    let mut out = Merged::default();
    for (mut batch, n) in done {
        add(&mut batch);
        out.settled += n.settled;
        out.kept += n.kept;
    }
    Ok((sink.into_inner().unwrap_or_else(|e| e.into_inner()), out))
}

/// The groups of each count of the cap (see [`merge_and_finish`]).
#[derive(Default)]
struct Merged {
    settled: usize,
    kept: usize,
}

/// Runs `f` on each of `items` on at most `threads` threads (no more than there are items),
/// one of them this thread (one thread fewer to start: a new thread's allocator arena starts
/// empty, and what it takes adds to the run's peak memory), each with a state of its own
/// (`S::default()` at first), given back by thread. Items go heaviest first by `weight`, each
/// to the first thread free (the longest processing time rule): a run's last windows differ
/// in size (the last one holds the end of the input only), and a weight only estimates an
/// item's time. Dealt in shares before the threads started, row (f)'s 2M-event end merge had
/// one thread busy 8.3 ms and the other 4.4 ms.
fn on_threads<T: Send, S: Send + Default>(
    items: Vec<T>,
    threads: usize,
    weight: impl Fn(&T) -> usize,
    f: impl Fn(T, &mut S) + Sync,
) -> Result<Vec<S>, Diagnostic> {
    let threads = threads.clamp(1, items.len().max(1));
    let mut items: Vec<(usize, T)> = items.into_iter().map(|t| (weight(&t), t)).collect();
    // Stable: items of one weight keep their order.
    items.sort_by_key(|(w, _)| std::cmp::Reverse(*w));
    let queue = Mutex::new(items.into_iter().map(|(_, t)| t));
    let work = || {
        let mut state = S::default();
        loop {
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some(item) = next else { break };
            f(item, &mut state);
        }
        state
    };
    let work = &work;
    let out = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut out = vec![work()];
        for h in handles {
            out.push(h.join().ok()?);
        }
        Some(out)
    });
    out.ok_or_else(|| Diagnostic::new(Code::E0803, "an evaluator thread failed"))
}

fn strict_error(b: &BadLine) -> Diagnostic {
    Diagnostic::new(
        Code::E0804,
        format!("{}:{}: malformed line: {}", b.file, b.line, b.reason),
    )
    .at(Span::file(&b.file))
    .hint("without --strict, malformed lines are reported, counted and skipped")
}

/// The files to read: each path given, a folder replaced in place by the event files under it
/// (sorted by path). A folder without any is an error: most likely the wrong folder.
fn expand_folders(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostic> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let found = crate::load::event_files(p)?;
        if found.is_empty() {
            let path = p.to_string_lossy().replace('\\', "/");
            return Err(io_err(&path, "is a folder without event files")
                .expected(format!(
                    "files named *.{} (each may end in .gz), in it or in a folder under it",
                    crate::load::EVENT_EXTS.join(", *.")
                ))
                .hint(
                    "hidden files (a name starting with a dot) are skipped; give a file of \
                     another name directly",
                ));
        }
        out.extend(found);
    }
    Ok(out)
}

/// What is known of the files before the run.
struct Plan {
    /// One clock per file given, in order (a repeat's is finished from the start).
    clocks: Vec<Arc<FileClock>>,
    /// Positions of the files to read (repeats are not).
    read: Vec<usize>,
    /// The sources the rules read: the schema of a file holding several is chosen by them.
    sources: Vec<Source>,
}

/// Finds repeats (the same file by two paths: read once, noted in the summary) and, when
/// windows are released, each file's first event time: a file not started bounds the
/// watermark of the files before it.
fn plan_files(
    files: &[PathBuf],
    schemas: &[InputSchema],
    compiled: &[CompiledRule],
    opts: &RunOptions<'_>,
    lateness: Option<u64>,
    summary: &mut Summary,
) -> Plan {
    let mut seen: BTreeMap<PathBuf, String> = BTreeMap::new();
    let paths: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().replace('\\', "/"))
        .collect();
    let repeat: Vec<bool> = files
        .iter()
        .zip(&paths)
        .map(|(f, path)| {
            // Not canonical: not a repeat; opening the file reports why it cannot be read.
            let Ok(c) = std::fs::canonicalize(f) else {
                return false;
            };
            match seen.get(&c) {
                Some(first) => {
                    summary
                        .duplicates
                        .push(format!("`{path}` is the same file as `{first}`: read once"));
                    true
                }
                None => {
                    seen.insert(c, path.clone());
                    false
                }
            }
        })
        .collect();
    let mut sources: Vec<Source> = compiled.iter().map(|c| c.rule.source).collect();
    sources.sort();
    sources.dedup();
    let max_line = opts.max_line.max(1);
    let mut later = vec![i64::MAX; files.len() + 1];
    let mut firsts = vec![i64::MIN; files.len()];
    if lateness.is_some() {
        for (i, f) in files.iter().enumerate().rev() {
            firsts[i] = if repeat[i] {
                i64::MAX // not read: holds nothing back
            } else {
                first_time(f, schemas, opts.schema.as_deref(), max_line, &sources)
            };
            later[i] = later[i + 1].min(firsts[i]);
        }
    }
    let clocks = paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            Arc::new(FileClock {
                path,
                index: i,
                max_time: AtomicI64::new(firsts[i]),
                later: later[i + 1],
                watermark: AtomicI64::new(firsts[i].min(later[i + 1])),
                late: AtomicU64::new(0),
                sent: AtomicU64::new(0),
                done: Done::default(),
                finished: AtomicBool::new(repeat[i]),
                met: Done::default(),
                block_lines: Mutex::new(Vec::new()),
                first_block_line: AtomicU64::new(1),
            })
        })
        .collect();
    Plan {
        clocks,
        read: (0..files.len()).filter(|&i| !repeat[i]).collect(),
        sources,
    }
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
    // A field no rule reads is never converted (its value cannot change an alert), with or
    // without the prefilter, so that the alerts never depend on `--no-prefilter`; `--strict`
    // reads every field (README). The filter-first stage below goes with the prefilter: it
    // changes only which bad values of rows no filter holds on are reported.
    let want = (!opts.strict)
        .then(|| cells_read(schema, compiled, &rules))
        .flatten();
    let reduce = opts.prefilter && !opts.strict;
    let keep = want.as_deref().map(|w| schema.keys_for(&marked(w)));
    let keys = match &keep {
        Some(keep) => schema.keys().only(keep),
        None => schema.keys().clone(),
    };
    let cols = match &layout {
        Layout::Table(h) => kept_columns(read::columns(h, schema.keys()), keep.as_deref()),
        Layout::JsonLines => Vec::new(),
    };
    let lean = reduce
        .then(|| {
            let lean = filter_cells(schema, compiled, &rules);
            let lean_cols = kept_columns(cols.clone(), Some(&schema.keys_for(&marked(&lean))));
            let full = |k: usize| {
                want.as_ref()
                    .is_none_or(|w| w.get(k).copied().unwrap_or(false))
            };
            let more: Vec<bool> = lean
                .iter()
                .enumerate()
                .map(|(k, l)| full(k) && !l)
                .collect();
            // A JSON line is parsed once either way: a second stage that only copies strings
            // (row (f): the host) skips no work worth its cost (the cells mapped and the filters
            // evaluated in two calls: 2.4% of (f)'s instructions), and cannot fail, so mapping
            // every row in full reports the same bad values: one stage then.
            let only_strings = matches!(layout, Layout::JsonLines)
                && more
                    .iter()
                    .enumerate()
                    .all(|(k, m)| !m || schema.maps_infallibly(k));
            let pays = lean_cols != cols || (more.contains(&true) && !only_strings);
            pays.then_some(Lean {
                cols: lean_cols,
                want: lean,
                more,
            })
        })
        .flatten();
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
        index: RuleIndex::new(compiled, &rules),
        filters: SharedFilters::new(compiled, &rules),
        rules,
        cols,
        keys,
        want,
        lean,
        prefilter,
        max_line: opts.max_line,
        clock: clock.clone(),
    })
}

/// The cells (by field of `schema`) some rule of `rules` reads, and `time`; `None` when that is
/// every cell, or some rule reads every field (one without aggregation: its alert holds them).
fn cells_read(
    schema: &InputSchema,
    compiled: &[CompiledRule],
    rules: &[(usize, Binding)],
) -> Option<Vec<bool>> {
    let mut want = vec![false; schema.field_names().len()];
    if let Some(w) = schema.time_slot().and_then(|k| want.get_mut(k)) {
        *w = true;
    }
    for (i, bind) in rules {
        compiled.get(*i)?.rule.aggregation.as_ref()?;
        for &k in bind.iter().flatten() {
            if let Some(w) = want.get_mut(k) {
                *w = true;
            }
        }
    }
    want.contains(&false).then_some(want)
}

/// The cells (by field of `schema`) the filters of `rules` read (and the computed fields' arms
/// when a filter reads one), and `time`: a row without a (valid) timestamp is a bad line
/// whatever it matches.
fn filter_cells(
    schema: &InputSchema,
    compiled: &[CompiledRule],
    rules: &[(usize, Binding)],
) -> Vec<bool> {
    let mut names = std::collections::BTreeSet::new();
    for r in rules
        .iter()
        .filter_map(|(i, _)| compiled.get(*i))
        .map(|c| &c.rule)
    {
        crate::ir::visit::collect_fields(&r.filter, &mut names);
        if crate::ir::visit::uses_computed(&r.filter) {
            for (c, _) in r.lets.iter().flat_map(|l| &l.arms) {
                crate::ir::visit::collect_fields(c, &mut names);
            }
        }
    }
    names.insert("time".to_string());
    schema
        .field_names()
        .iter()
        .map(|f| names.contains(f))
        .collect()
}

/// The numbers of the cells `want` marks.
fn marked(want: &[bool]) -> Vec<usize> {
    want.iter()
        .enumerate()
        .filter(|(_, w)| **w)
        .map(|(k, _)| k)
        .collect()
}

/// A table's `cols` (from [`read::columns`]) less those whose key `keep` does not mark.
fn kept_columns(cols: Vec<Option<usize>>, keep: Option<&[bool]>) -> Vec<Option<usize>> {
    match keep {
        Some(keep) => read::trim_unread(
            cols.into_iter()
                .map(|c| c.filter(|k| keep.get(*k).copied().unwrap_or(false)))
                .collect(),
        ),
        None => cols,
    }
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

/// What the readers share: the files, the pack, the run's state and the summary they add to.
struct Reader<'r, 'a> {
    files: &'r [PathBuf],
    schemas: &'r [InputSchema],
    compiled: &'r [CompiledRule],
    opts: &'r RunOptions<'a>,
    sh: &'r Shared<'a>,
    clocks: &'r [Arc<FileClock>],
    rule_sources: &'r [Source],
    /// Buffers the workers are done with, for reuse.
    pool: Mutex<mpsc::Receiver<Spare>>,
    /// Buffers handed out without bytes, to be filled ([`RunStream::buffers_made`]).
    made: AtomicUsize,
    summary: Mutex<Summary>,
}

impl Reader<'_, '_> {
    /// Buffers a worker gave back, or new ones when none is waiting.
    fn spare(&self) -> Spare {
        let spare = self
            .pool
            .lock()
            .ok()
            .and_then(|p| p.try_recv().ok())
            .unwrap_or_default();
        // One without bytes is about to be filled: a buffer made.
        if spare.data.capacity() == 0 {
            self.made.fetch_add(1, Ordering::Relaxed);
        }
        spare
    }

    fn summary(&self) -> std::sync::MutexGuard<'_, Summary> {
        self.summary.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note_schema(&self, path: &str, name: &str) {
        note_schema(&mut self.summary(), path, name);
    }

    /// A bad line found by the reader itself (a line over the cap); with --strict it stops
    /// this file and those after it.
    fn bad(&self, path: &str, file: usize, line: u64, reason: String) {
        reader_bad(&mut self.summary(), path, line, reason);
        if self.opts.strict {
            self.sh.stop(file);
        }
    }

    /// Reads file `i`, sending its chunks to the workers (and processing some with `hand`
    /// while the queue is full).
    fn file(
        &self,
        i: usize,
        tx: &mpsc::SyncSender<Chunk>,
        hand: &mut Hand<'_, '_, '_, '_>,
    ) -> Result<(), Diagnostic> {
        let (f, clock) = (&self.files[i], &self.clocks[i]);
        let (schemas, compiled, opts) = (self.schemas, self.compiled, self.opts);
        let max_line = opts.max_line.max(1);
        let path = clock.path.clone();
        let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        let input = read::open(f).map_err(|e| io_err(&path, e))?;
        let mut rows = Rows::new(input, max_line).map_err(|e| io_err(&path, e))?;
        for (line, reason) in std::mem::take(&mut rows.early_bad) {
            self.bad(&path, i, line, reason);
        }
        let Some(layout) = rows.layout.clone() else {
            return Ok(());
        };
        let mut first = rows.next_row().map_err(|e| io_err(&path, e))?;
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
            self.rule_sources,
        )?;
        self.note_schema(&path, &schema.name);
        // CSV is read in blocks too while each line is a row of its own (nearly always): the
        // workers split the lines, and `Rows` reads a row whose quoted cell spans lines (see
        // `read::first_open_row`), the blocks going on after it (up to `MAX_CSV_RESUMES` times).
        let csv = match &layout {
            Layout::Table(h) if h.quoted && h.delim.is_ascii() && !rows.has_queued() => {
                Some(h.delim)
            }
            _ => None,
        };
        let (by_lines, zeek) = match &layout {
            // osquery's batch and snapshot lines are several rows each: read through `Rows`.
            Layout::JsonLines => (!schema.osquery_results, false),
            Layout::Table(h) => (!h.quoted || csv.is_some(), !h.quoted),
        };
        let mut ctx = file_ctx(&path, layout, schema, compiled, opts, clock);
        // One chunk into the queue, as chunk number `clock.sent` of the file.
        let mut enqueue = |ctx: &Arc<FileCtx>, work: Work| -> Result<(), Diagnostic> {
            let failed = || Diagnostic::new(Code::E0803, "an evaluator thread failed");
            // The file's barriers before this chunk (one after every `per` chunks).
            let epoch = match self.sh.barrier_every {
                Some(per) => clock.sent.load(Ordering::Relaxed) / per,
                None => 0,
            };
            let mut chunk = Chunk {
                ctx: ctx.clone(),
                work,
                epoch,
            };
            loop {
                match tx.try_send(chunk) {
                    Ok(()) => break,
                    Err(mpsc::TrySendError::Full(c)) => chunk = c,
                    Err(mpsc::TrySendError::Disconnected(_)) => return Err(failed()),
                }
                // The queue is full: this thread processes the oldest chunk queued instead of
                // waiting for room. The oldest: a chunk waits only for chunks of its file sent
                // before it (its barrier's), so it never waits for one queued behind it. Never
                // waiting for the queue's lock: a worker holds it while it waits for a chunk,
                // and the queue may have emptied since it was found full (then that worker
                // waits for this very chunk).
                match self.sh.rx.try_lock() {
                    Ok(rx) => {
                        let oldest = rx.try_recv().ok();
                        drop(rx);
                        if let Some(c) = oldest {
                            hand.process(c);
                        }
                    }
                    // A worker is taking a chunk: room is being made.
                    Err(std::sync::TryLockError::WouldBlock) => std::thread::yield_now(),
                    Err(std::sync::TryLockError::Poisoned(_)) => {
                        tx.send(chunk).map_err(|_| failed())?;
                        break;
                    }
                }
            }
            clock.sent.fetch_add(1, Ordering::Relaxed);
            Ok(())
        };
        // `piece`: one of the pieces a block is sent in before a barrier (see [`PIECES`]). Any
        // other chunk sent where those pieces go takes their places, the rest of them empty: a
        // file's barriers fall after the same chunks, the same lines, however its chunks came.
        let mut send = |ctx: &Arc<FileCtx>, work: Work, piece: bool| -> Result<(), Diagnostic> {
            let pad = !piece && at_pieces(clock, self.sh.barrier_every);
            enqueue(ctx, work)?;
            for _ in 1..if pad { PIECES } else { 1 } {
                enqueue(ctx, Work::Rows(Vec::new()))?;
            }
            Ok(())
        };
        let mut n = 0u64;
        // The row reader for the file's rest, and the bytes read before it.
        let rest = if by_lines {
            let mut rest = None;
            let mut bytes = rows.bytes_read;
            let (input, mut line_no, mut zeek_meta) = rows.into_parts();
            if let Some(r) = first.take() {
                send(&ctx, Work::Rows(vec![r]), false)?;
            }
            // Read straight from the file (or decoder) into recycled blocks: no second copy
            // through the BufReader, no fresh pages per block.
            let mut carry: Vec<u8> = input.buffer().to_vec();
            let mut inner = input.into_inner();
            let mut eof = false;
            // JSON lines: blocks numbered, their lines counted by the workers (see
            // `FileClock::block_lines`); `line_no` is then known only when made so.
            let numbered = !zeek && csv.is_none();
            let mut seq = 0usize;
            clock.first_block_line.store(line_no + 1, Ordering::Relaxed);
            // Rows that span lines read so far by the row reader, each then left for blocks.
            let mut resumes = 0;
            while !eof || !carry.is_empty() {
                if self.sh.stopped(i) {
                    return Ok(());
                }
                // A recycled block keeps its length, so only growth is zero-filled.
                // No block to recycle yet: a new one.
                let mut data = self.spare().data;
                let block = opts.block.max(1);
                // More buffered than a block (only with a small test block size): send whole
                // lines of it first, so that a block is never much larger than asked.
                let cut = match carry.get(..block) {
                    Some(head) if carry.len() > block => memchr::memrchr(b'\n', head),
                    _ => None,
                };
                // Read up to `limit`, not to the end of a recycled block (as long as the block
                // whose lines it last held): a block's lines, and so where the file's barriers
                // fall, depend on the file alone, whichever block comes back first.
                let mut limit = block.max(carry.len() * 2);
                if data.len() < limit {
                    data.resize(limit, 0);
                }
                data[..carry.len()].copy_from_slice(&carry);
                let mut filled = carry.len();
                carry.clear();
                if let Some(p) = cut {
                    carry.extend_from_slice(&data[p + 1..filled]);
                    filled = p + 1;
                }
                while cut.is_none() {
                    while !eof && filled < limit {
                        match inner.read(&mut data[filled..limit]) {
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
                        if numbered {
                            // Its number: after every line of the blocks sent (once they are
                            // read); it counts as a block of one line.
                            clock.done.wait_for(clock.sent.load(Ordering::Relaxed));
                            line_no = clock.block_start(seq) - 1;
                            clock.set_block_lines(seq, 1);
                            seq += 1;
                        }
                        self.bad(&path, i, line_no + 1, read::too_long(max_line));
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
                    limit = (limit * 2).min(max_line + 1).max(limit + 1);
                    if data.len() < limit {
                        data.resize(limit, 0);
                    }
                }
                data.truncate(filled);
                if data.is_empty() {
                    continue;
                }
                // CSV: where a row may span lines, and the lines before it, in one pass.
                let (open_row, csv_lines) = match csv {
                    Some(d) => {
                        let (s, k) = read::csv_block(&data, d, max_line);
                        (s, Some(k))
                    }
                    None => (None, None),
                };
                if let Some(s) = open_row {
                    // A row from line `s` on may span lines: the lines before it go as a block,
                    // and the row reader reads that row, then blocks go on after it.
                    let mut left = data.split_off(s);
                    left.append(&mut carry);
                    if !data.is_empty() {
                        bytes += data.len() as u64;
                        let lines = csv_lines.unwrap_or_else(|| line_count(&data));
                        let first_line = line_no + 1;
                        send(&ctx, counted(first_line, data), false)?;
                        line_no += lines;
                    }
                    let more: Box<dyn Read + Send> =
                        Box::new(std::io::Cursor::new(left).chain(inner));
                    let input = std::io::BufReader::with_capacity(1 << 20, more);
                    let mut resumed = Rows::resume(input, ctx.layout.clone(), line_no, max_line);
                    if resumes == MAX_CSV_RESUMES {
                        // The row reader reads the rest of the file.
                        rest = Some((resumed, bytes));
                        break;
                    }
                    resumes += 1;
                    let open = open_rows(&mut resumed).map_err(|e| io_err(&path, e))?;
                    if !open.is_empty() {
                        send(&ctx, Work::Rows(open), false)?;
                    }
                    bytes += resumed.bytes_read;
                    let (input, no, _) = resumed.into_parts();
                    line_no = no;
                    carry = input.buffer().to_vec();
                    inner = input.into_inner();
                    eof = false;
                    continue;
                }
                bytes += data.len() as u64;
                // The block that comes last before a barrier goes in pieces (see [`PIECES`]).
                let work = if numbered && at_pieces(clock, self.sh.barrier_every) {
                    for data in shared_pieces(data) {
                        seq += 1;
                        let start = BlockStart::Numbered(seq - 1);
                        send(&ctx, Work::Block { start, data }, true)?;
                    }
                    None
                } else if numbered {
                    seq += 1;
                    Some(Work::Block {
                        start: BlockStart::Numbered(seq - 1),
                        data: Bytes::Own(data),
                    })
                } else {
                    let lines = csv_lines.unwrap_or_else(|| line_count(&data));
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
                            let le =
                                memchr::memchr(b'\n', &data[ls..]).map_or(data.len(), |i| ls + i);
                            let line = String::from_utf8_lossy(&data[ls..le]);
                            if let Some(h) = zeek_meta.directive(line.trim_end_matches('\r')) {
                                cuts.push((ls, h));
                            }
                        }
                        let mut from = 0;
                        for (at, h) in cuts {
                            if at > from {
                                let piece = data[from..at].to_vec();
                                let k = line_count(&piece);
                                send(&ctx, counted(first_line, piece), false)?;
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
                                self.rule_sources,
                            )?;
                            self.note_schema(&path, &schema.name);
                            ctx = file_ctx(&path, layout, schema, compiled, opts, clock);
                        }
                        if from > 0 {
                            data.drain(..from);
                        }
                    }
                    line_no += lines;
                    if at_pieces(clock, self.sh.barrier_every) {
                        for data in shared_pieces(data) {
                            let k = line_count(data.as_slice());
                            let start = BlockStart::Line(first_line);
                            send(&ctx, Work::Block { start, data }, true)?;
                            first_line += k;
                        }
                        None
                    } else {
                        Some(counted(first_line, data))
                    }
                };
                if let Some(work) = work {
                    send(&ctx, work, false)?;
                }
                n += 1;
                if let (Some(p), true) = (opts.progress, n.is_multiple_of(16)) {
                    p(bytes.min(size.saturating_sub(1)), size, &path);
                }
            }
            self.summary().bytes += bytes;
            rest
        } else {
            Some((rows, 0))
        };
        if let Some((mut rows, base)) = rest {
            let (mut text, mut batch) = self.spare().into_lines();
            if let Some((no, r)) = first.take() {
                batch.push((
                    no,
                    r.map(|t| {
                        text.push_str(&t);
                        0..text.len()
                    }),
                ));
            }
            loop {
                let more = rows
                    .next_rows_into(&mut text, &mut batch, CHUNK)
                    .map_err(|e| io_err(&path, e))?;
                if !more {
                    break;
                }
                if batch.len() == CHUNK {
                    if self.sh.stopped(i) {
                        return Ok(());
                    }
                    let (next_text, next_rows) = self.spare().into_lines();
                    let work = Work::Lines {
                        text: std::mem::replace(&mut text, next_text),
                        rows: std::mem::replace(&mut batch, next_rows),
                    };
                    send(&ctx, work, false)?;
                    n += 1;
                    if let (Some(p), true) = (opts.progress, n.is_multiple_of(16)) {
                        let read = base + rows.bytes_read;
                        p(read.min(size.saturating_sub(1)), size, &path);
                    }
                }
            }
            if !batch.is_empty() {
                send(&ctx, Work::Lines { text, rows: batch }, false)?;
            }
            self.summary().bytes += rows.bytes_read;
        }
        if let Some(p) = opts.progress {
            p(size, size, &path);
        }
        Ok(())
    }
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
    let schemas = schema::all().map_err(|e| Diagnostic::new(Code::E0802, e))?;
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
    let schemas = schema::all().map_err(|e| Diagnostic::new(Code::E0802, e))?;
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
    struct Events<'f>(&'f mut dyn FnMut(Source, Event));
    impl SourceSink for Events<'_> {
        fn feed(&mut self, src: Source, schema: &InputSchema, cells: &[Option<Cell<'_>>]) {
            (self.0)(src, schema.event_of(cells))
        }
    }
    read_sources_through(path, raw, sources, None, &mut Events(f))
}

/// What takes the rows of [`read_sources_through`], each as its source, the schema it was read
/// through, and its cells (in that schema's field order); and what may skip work on a row.
trait SourceSink {
    /// What may skip a JSON line of `schema` unparsed (`None`: every line is parsed).
    fn prefilter(&self, _schema: &InputSchema) -> Option<Prefilter> {
        None
    }

    /// The cells of `schema` (read as `src`) that decide whether a row matters, when a table
    /// row may be mapped from their columns first (`None`: every row is mapped in full).
    fn decides(&mut self, _src: Source, _schema: &InputSchema) -> Option<Vec<usize>> {
        None
    }

    /// Whether a row mapped from the [`SourceSink::decides`] cells alone matters: if so (or a
    /// value is bad) it is mapped in full and fed.
    fn matters(
        &mut self,
        _src: Source,
        _schema: &InputSchema,
        _cells: &[Option<Cell<'_>>],
    ) -> bool {
        true
    }

    fn feed(&mut self, src: Source, schema: &InputSchema, cells: &[Option<Cell<'_>>]);
}

/// [`read_sources_from`], or with `forced` (`--schema`, whose source is every one of
/// `sources`) every row read through that schema, undetected, as a one-source rule's are. Rows
/// come as cells, not events. `prefilter` gives, once per detected schema, what may skip a
/// JSON line unparsed: a line every source's prefilter skips is counted as `prefiltered`.
fn read_sources_through(
    path: &Path,
    raw: Box<dyn std::io::Read + Send>,
    sources: &[Source],
    forced: Option<&InputSchema>,
    sink: &mut dyn SourceSink,
) -> Result<Summary, Diagnostic> {
    /// A source's schema once detected: the header it was detected under, the layout, the
    /// schema, a table's columns it reads (all of them, and those that decide whether a row
    /// matters when fewer), and its prefilter.
    type Current<'s> = (u64, Layout, &'s InputSchema, Cols, Option<Prefilter>);
    type Cols = (Vec<Option<usize>>, Option<Vec<Option<usize>>>);
    let schemas = match forced {
        Some(s) => vec![s.clone()],
        None => schema::builtin().map_err(|e| Diagnostic::new(Code::E0802, e))?,
    };
    let p = path.to_string_lossy().replace('\\', "/");
    let input = read::open_reader(path, raw).map_err(|e| io_err(&p, e))?;
    let mut rows = Rows::new(input, DEFAULT_MAX_LINE).map_err(|e| io_err(&p, e))?;
    let mut summary = Summary::default();
    for (line, reason) in std::mem::take(&mut rows.early_bad) {
        reader_bad(&mut summary, &p, line, reason);
    }
    let mut current: Vec<Option<Current<'_>>> = sources.iter().map(|_| None).collect();
    // For each source, the table header (by `header_gen`) under which none of its schemas
    // detects the file: a table's schema follows from its header alone, so the rows under it
    // are not tried again (each row looked every key of every detect set up, about a tenth
    // of the whole pack's time over a Defender CSV, for the process source it does not hold).
    let mut undetected: Vec<Option<u64>> = sources.iter().map(|_| None).collect();
    let own: Vec<Vec<InputSchema>> = sources
        .iter()
        .map(|s| schemas.iter().filter(|x| x.source == *s).cloned().collect())
        .collect();
    let own_keys: Vec<schema::DetectKeys> = own.iter().map(schema::DetectKeys::new).collect();
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
        for ((((src, cur), mine), keys), none) in sources
            .iter()
            .zip(current.iter_mut())
            .zip(&own)
            .zip(&own_keys)
            .zip(&mut undetected)
        {
            let Some(layout) = &rows.layout else { break };
            let fresh = cur
                .as_ref()
                .is_none_or(|(g, _, _, _, _)| *g != rows.header_gen);
            let table = matches!(layout, Layout::Table(_));
            if fresh && !(table && *none == Some(rows.header_gen)) {
                // No schema of the source detects this row: not this source's row (yet).
                // Several: the file is ambiguous, reported as `choose_schema` does.
                let hits = match forced {
                    Some(_) => mine.iter().collect(),
                    // A JSON line whose text cannot hold a detect set is not parsed to see.
                    None if matches!(layout, Layout::JsonLines)
                        && !keys.may_detect(text.as_bytes()) =>
                    {
                        Vec::new()
                    }
                    None => detecting(mine, layout, Some(&text)).0,
                };
                match hits.as_slice() {
                    [] => {
                        if table {
                            *none = Some(rows.header_gen);
                        }
                        continue;
                    }
                    [one] => {
                        note_schema(&mut summary, &p, &one.name);
                        let (cols, pf) = match layout {
                            Layout::Table(h) => {
                                let cols = read::columns(h, one.keys());
                                let lean = sink.decides(*src, one).map(|cells| {
                                    let keep = one.keys_for(&cells);
                                    cols.iter()
                                        .map(|c| c.filter(|k| keep.get(*k) == Some(&true)))
                                        .collect::<Vec<_>>()
                                });
                                let lean = lean.filter(|l| *l != cols);
                                ((cols, lean), None)
                            }
                            Layout::JsonLines => ((Vec::new(), None), sink.prefilter(one)),
                        };
                        *cur = Some((rows.header_gen, layout.clone(), *one, cols, pf));
                    }
                    _ => {
                        return Err(choose_schema(&p, mine, None, layout, Some(&text), &[*src])
                            .err()
                            .unwrap_or_else(|| io_err(&p, "matches several input schemas")));
                    }
                }
            }
        }
        // Each source's schema for this row: detected under the current header (a source
        // that no schema detects under it reads nothing).
        let gen = rows.header_gen;
        let live = |c: &Option<Current<'_>>| c.as_ref().filter(|c| c.0 == gen).is_some();
        // Skipped unparsed when some source reads the row and the prefilter of every source
        // that does skips it (a source without a schema here reads nothing of it).
        if current.iter().any(live)
            && current.iter().all(|c| {
                !live(c)
                    || c.as_ref()
                        .and_then(|(_, _, _, _, pf)| pf.as_ref())
                        .is_some_and(|pf| !pf.keep(text.as_bytes()))
            })
        {
            summary.prefiltered += 1;
            continue;
        }
        for (src, cur) in sources.iter().zip(&current) {
            let (true, Some((_, layout, schema, (cols, lean), _))) = (live(cur), cur.as_ref())
            else {
                continue;
            };
            if let Some(lean) = lean {
                match with_cells(layout, schema, lean, &text, |c| {
                    sink.matters(*src, schema, c)
                }) {
                    Ok(Some(false)) => {
                        taken = true;
                        continue;
                    }
                    Ok(None) => continue,
                    // It matters, or a value is bad: the full mapping decides.
                    Ok(Some(true)) | Err(_) => {}
                }
            }
            match with_cells(layout, schema, cols, &text, |c| sink.feed(*src, schema, c)) {
                Ok(Some(())) => taken = true,
                Ok(None) => {}
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
    summary.bytes = rows.bytes_read;
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
    // With `--schema`, only a correlation whose every step reads the schema's source gets here
    // ([`served_by_schema`]): its rows are read through that schema alone.
    let forced = match opts.schema.as_deref() {
        Some(name) => {
            let all = schema::all().map_err(|e| Diagnostic::new(Code::E0802, e))?;
            Some(choose_schema("", &all, Some(name), &Layout::JsonLines, None, &[])?.clone())
        }
        None => None,
    };
    let c = Correlator::new(rule, opts.lateness.unwrap_or(DEFAULT_LATENESS))?;
    let sources = c.sources();
    let mut sink = CorrSink {
        c: &c,
        st: CorrState::default(),
        bindings: Vec::new(),
        // Lines no step can match are skipped unparsed, and table rows mapped from the columns
        // the steps read first, as the one-source rules' are.
        lean: opts.prefilter && !opts.strict,
    };
    for f in files {
        let p = f.to_string_lossy().replace('\\', "/");
        let raw = std::fs::File::open(f).map_err(|e| io_err(&p, format!("cannot open: {e}")))?;
        let read = read_sources_through(f, Box::new(raw), &sources, forced.as_ref(), &mut sink)?;
        // The first correlation's pass counts the rows when no other pass read the files.
        if count_rows {
            summary.rows += read.rows;
            summary.events += read.events;
            summary.not_applicable += read.not_applicable;
            summary.prefiltered += read.prefiltered;
            summary.bytes += read.bytes;
            summary.bad_lines += read.bad_lines;
            summary.bad.extend(read.bad);
            for (k, v) in read.schemas {
                summary.schemas.entry(k).or_insert(v);
            }
        }
    }
    let st = sink.st;
    summary
        .matched_by_rule
        .insert(rule.name.clone(), st.matched);
    summary.late_events += st.late;
    Ok(c.finish(st))
}

/// Runs `rules` (correlations) one after another over `files` when one-source rules read them
/// too (so their pass counted the rows): each correlation's alerts, and a summary holding only
/// what the correlations add to the run's (`matched_by_rule`, `late_events`).
fn correlation_pass(
    rules: &[Rule],
    files: &[PathBuf],
    opts: &RunOptions<'_>,
) -> Result<(Vec<Vec<Alert>>, Summary), Diagnostic> {
    let mut summary = Summary::default();
    let alerts = rules
        .iter()
        .map(|r| run_correlation(r, files, opts, &mut summary, false))
        .collect::<Result<_, _>>()?;
    Ok((alerts, summary))
}

/// A correlation's pass over the files ([`run_correlation`]): the correlation, its state, and
/// where it reads each schema's cells (by source and schema name).
struct CorrSink<'c> {
    c: &'c Correlator,
    st: CorrState,
    bindings: Vec<(Source, String, CorrBinding)>,
    /// Whether lines and columns that cannot matter may be skipped (the prefilter is on).
    lean: bool,
}

impl CorrSink<'_> {
    /// Where the correlation reads `schema`'s cells, bound once per source and schema.
    fn binding(&mut self, src: Source, schema: &InputSchema) -> usize {
        match self
            .bindings
            .iter()
            .position(|(s, n, _)| *s == src && *n == schema.name)
        {
            Some(i) => i,
            None => {
                let b = self.c.bind(src, schema.field_names());
                self.bindings.push((src, schema.name.clone(), b));
                self.bindings.len() - 1
            }
        }
    }
}

impl SourceSink for CorrSink<'_> {
    fn prefilter(&self, schema: &InputSchema) -> Option<Prefilter> {
        self.lean.then(|| self.c.prefilter(schema)).flatten()
    }

    fn decides(&mut self, src: Source, schema: &InputSchema) -> Option<Vec<usize>> {
        if !self.lean {
            return None;
        }
        let i = self.binding(src, schema);
        self.bindings.get(i).map(|(_, _, b)| b.cells())
    }

    fn matters(&mut self, src: Source, schema: &InputSchema, cells: &[Option<Cell<'_>>]) -> bool {
        let i = self.binding(src, schema);
        self.bindings
            .get(i)
            .is_some_and(|(_, _, b)| self.c.any_step_holds(b, cells))
    }

    fn feed(&mut self, src: Source, schema: &InputSchema, cells: &[Option<Cell<'_>>]) {
        let i = self.binding(src, schema);
        if let Some((_, _, b)) = self.bindings.get(i) {
            self.c.feed_cells(b, cells, &mut self.st);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{on_threads, pieces, utf8_piece, worker_slots, UTF8_PIECE};

    /// No two threads' slots, nor their rules' states, share a pair of cache lines (see
    /// [`super::WorkerOut`] and [`super::RuleState`]): the 128-byte blocks each one's bytes
    /// touch are its own, for every thread count and pack size the run makes them for.
    #[test]
    fn threads_share_no_cache_line() {
        let block = |p: usize, len: usize| (p / 128)..=((p + len.max(1) - 1) / 128);
        for threads in [2, 3, 8] {
            for rules in [1, 2, 5, 1000] {
                let slots = worker_slots(threads, rules);
                let mut owned: Vec<(usize, std::ops::RangeInclusive<usize>)> = Vec::new();
                for (t, s) in slots.iter().enumerate() {
                    let slot = std::ptr::from_ref(s) as usize;
                    owned.push((t, block(slot, std::mem::size_of_val(s))));
                    let g = s.lock().unwrap_or_else(|e| e.into_inner());
                    let states = g.states.as_ptr() as usize;
                    owned.push((t, block(states, std::mem::size_of_val(&g.states[..]))));
                }
                for (i, (t, a)) in owned.iter().enumerate() {
                    for (u, b) in owned.iter().skip(i + 1) {
                        let apart = a.end() < b.start() || b.end() < a.start();
                        assert!(
                            t == u || apart,
                            "{threads} threads, {rules} rules: thread {t} and thread {u} share blocks {a:?} and {b:?}"
                        );
                    }
                }
            }
        }
    }

    /// A block goes in exactly the number of pieces asked for, one after another from its start
    /// to its end, each ending just after a line break (or at the end), of about even size when
    /// the lines allow: short lines, one line longer than a piece, fewer lines than pieces, no
    /// line at all, no final line break.
    #[test]
    fn a_block_goes_in_pieces_of_whole_lines() {
        let short: Vec<u8> = (0..100)
            .flat_map(|i| format!("line {i:03}\n").into_bytes())
            .collect();
        let mut long = b"a\n".to_vec();
        long.extend(vec![b'x'; 500]);
        long.extend(b"\nb\nc");
        for (what, data) in [
            ("short lines", short.clone()),
            ("a long line", long),
            ("two lines", b"one\ntwo\n".to_vec()),
            ("empty", Vec::new()),
            ("no final break", b"one\ntwo".to_vec()),
        ] {
            let got = pieces(&data, 8);
            assert_eq!(got.len(), 8, "{what}");
            assert_eq!(got.first().map(|r| r.start), Some(0), "{what}");
            assert_eq!(got.last().map(|r| r.end), Some(data.len()), "{what}");
            for w in got.windows(2) {
                assert_eq!(w[0].end, w[1].start, "{what}: {got:?}");
                if !w[0].is_empty() && w[0].end < data.len() {
                    assert_eq!(data[w[0].end - 1], b'\n', "{what}: {got:?}");
                }
            }
        }
        // 900 bytes of 9-byte lines: every piece within a line of an eighth.
        for r in pieces(&short, 8) {
            assert!(r.len().abs_diff(short.len() / 8) <= 9, "{r:?}");
        }
    }

    /// Every item is processed once, on no more threads than there are items, heaviest
    /// first: with one thread, in order of weight (items of one weight in their order).
    #[test]
    fn items_go_heaviest_first_each_once() {
        let items = vec![(1usize, 'a'), (3, 'b'), (1, 'c'), (2, 'd'), (3, 'e')];
        let seen = |threads| {
            on_threads(
                items.clone(),
                threads,
                |t| t.0,
                |t, v: &mut Vec<char>| v.push(t.1),
            )
            .unwrap_or_default()
        };
        assert_eq!(seen(1), vec![vec!['b', 'e', 'd', 'a', 'c']]);
        for threads in [2, 3, 8] {
            let by_thread = seen(threads);
            assert_eq!(by_thread.len(), threads.min(items.len()));
            let mut all: Vec<char> = by_thread.into_iter().flatten().collect();
            all.sort_unstable();
            assert_eq!(all, vec!['a', 'b', 'c', 'd', 'e'], "{threads} threads");
        }
        let one = on_threads(vec![7usize], 4, |w| *w, |t, v: &mut Vec<usize>| v.push(t));
        assert_eq!(one.unwrap_or_default(), vec![vec![7]]);
    }

    /// A block's pieces follow one another from its start to its end, each cut just after a
    /// line break (or at the end), each at least one whole line and at most a piece's bytes
    /// when a line break allows, and each has text exactly when its bytes are UTF-8: lines
    /// short and long (one past a piece), a byte that is not UTF-8, a letter of two bytes
    /// across a piece's edge, no final line break.
    #[test]
    fn pieces_cover_the_block_at_line_breaks() {
        let mut data = Vec::new();
        for i in 0..4000 {
            match i % 500 {
                7 => data.extend(vec![b'x'; UTF8_PIECE + 3]),
                8 => data.extend(b"bad \xff byte"),
                _ => data.extend("é".repeat(i % 37).as_bytes()),
            }
            data.push(b'\n');
        }
        data.extend(b"last");
        let mut from = 0;
        let (mut bad, mut pieces) = (0, 0);
        while from < data.len() {
            let p = utf8_piece(&data, from);
            assert_eq!(p.start, from);
            assert!(p.end > from && p.end <= data.len());
            assert!(p.end == data.len() || data[p.end - 1] == b'\n');
            let first_break = data[from..].iter().position(|&c| c == b'\n');
            if p.end - from > UTF8_PIECE {
                assert_eq!(first_break.map(|i| from + i + 1), Some(p.end));
            }
            assert_eq!(p.text, std::str::from_utf8(&data[from..p.end]).ok());
            bad += usize::from(p.text.is_none());
            pieces += 1;
            from = p.end;
        }
        assert_eq!(from, data.len());
        assert!(pieces > 10 && bad > 0, "{pieces} pieces, {bad} not UTF-8");
    }
}
