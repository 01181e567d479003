use super::{Exit, Format};
use crate::diag::shown;
use crate::eval::run::{run_files_streamed, RunOptions, Summary, DEFAULT_MAX_GROUPS};
use crate::eval::Alert;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Rule files or folders. Default: rules/
    pub rules: Vec<PathBuf>,
    /// Event files or folders: JSON lines, CSV with a header, Zeek TSV or JSON, EVTX exported to JSON; `.gz` is decompressed. A folder is read whole: every *.json, *.jsonl, *.ndjson, *.log, *.csv, *.tsv (or .gz of them) under it, sorted by path, hidden files skipped; several files are read at once.
    #[arg(long, short, required = true, num_args = 1..)]
    pub events: Vec<PathBuf>,
    /// Input schema (one of targets/inputs/); auto-detected when omitted.
    #[arg(long, help = format!(
        "Input schema ({}, or one of the inputs of detc.yaml); auto-detected when omitted",
        crate::registry::INPUT_NAMES.join(", ")
    ))]
    pub schema: Option<String>,
    /// Output format for alerts: json (JSON lines) or table.
    #[arg(long, value_enum, default_value_t = RunFormat::Json)]
    pub format: RunFormat,
    /// Summary on stderr: text (lines for people) or json (one JSON object: the counts, the
    /// schema of each file, bad and late lines, the rules skipped and why).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub summary: SummaryFormat,
    /// Treat a malformed line or row as fatal (exit 2) instead of reporting and counting it.
    #[arg(long)]
    pub strict: bool,
    /// Parse every line, and every field some rule reads, even on lines the prefilter proves
    /// no rule can match (full accounting of events and malformed lines; the alerts are the
    /// same; implied by --strict, which reads every field).
    #[arg(long)]
    pub no_prefilter: bool,
    /// The longest line (or CSV row) read, in bytes, with an optional K, M or G suffix (powers
    /// of 1024). A longer line is reported as a bad line and skipped without being held in
    /// memory. Default 16M.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "16M")]
    pub max_line: usize,
    /// How far behind the latest event time an event may come and still be counted: a window
    /// is released (its alerts final, its memory freed) once the input is this far past its
    /// end. A duration (`90s`, `30m`, `6h`, `2d`) or `unbounded` (keep every window to the end:
    /// exact for any input order). An event later than this is reported and not counted.
    /// Default: defaults.run.allowed_lateness of detc.yaml, else 6h.
    #[arg(long, value_name = "DURATION", value_parser = parse_lateness)]
    pub allowed_lateness: Option<Lateness>,
    /// Most aggregation groups held at once (all rules); more is an error (exit 2) instead of
    /// running out of memory.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_GROUPS)]
    pub max_groups: usize,
    /// Threads that read and evaluate events, and files read at once (default: the number of
    /// cores; 1: everything on one thread). The output does not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Bytes per work unit (tests: small blocks to exercise window release on small files).
    #[arg(long, hide = true)]
    pub block_bytes: Option<usize>,
    /// Work units between two window releases (tests).
    #[arg(long, hide = true)]
    pub release_every: Option<u64>,
    /// Alerts held in memory before a sorted run is spilled to a temporary file (tests).
    #[arg(long, hide = true)]
    pub alert_buffer: Option<usize>,
}

use crate::config::{parse_lateness, Lateness};

/// A byte size: digits with an optional `K`, `M` or `G` (binary multiples, `KiB` and `k` too).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "`{s}` is not a size (expected e.g. 65536, 64K, 16M)"
            ))
        }
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a size (expected e.g. 65536, 64K, 16M)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunFormat {
    Json,
    Table,
}

/// The progress of the files being read (several at once), drawn as one line.
#[derive(Default)]
struct Board {
    /// Bytes read and size of each file in flight.
    active: std::collections::BTreeMap<String, (u64, u64)>,
    finished: usize,
}

impl Board {
    /// Notes (bytes read, size) of a file; the line to draw, if any: nothing while only small
    /// files (under 16 MiB in all) are in flight, where a line would only flicker.
    fn update(&mut self, done: u64, total: u64, file: &str) -> Option<String> {
        if done >= total {
            self.active.remove(file);
            self.finished += 1;
        } else {
            self.active.insert(file.to_string(), (done, total));
        }
        let (read, size) = self
            .active
            .values()
            .fold((0u64, 0u64), |(r, s), (d, t)| (r + d, s + t));
        if size < (16 << 20) {
            return None;
        }
        Some(progress_line(read, size, self.finished, &self.active))
    }
}

/// `[#####---------------]  25% 2 file(s) done; a.json.gz 40%, b.json.gz 10%`: the bar over
/// the files in flight.
fn progress_line(
    read: u64,
    size: u64,
    finished: usize,
    active: &std::collections::BTreeMap<String, (u64, u64)>,
) -> String {
    let pct = |d: u64, t: u64| (d.saturating_mul(100) / t.max(1)).min(100);
    let all = pct(read, size);
    let filled = (all / 5) as usize;
    let files: Vec<String> = active
        .iter()
        .map(|(f, (d, t))| format!("{} {}%", shown(f), pct(*d, *t)))
        .collect();
    format!(
        "[{}{}] {all:>3}% {finished} file(s) done; {}",
        "#".repeat(filled),
        "-".repeat(20 - filled),
        files.join(", ")
    )
}

/// Bad lines printed in the summary; all are counted.
const BAD_SHOWN: usize = 20;

/// Alerts on stdout (JSON lines or a table), the summary on stderr. Exit 0 when the run
/// completed (alerts or not), 1 when the rules do not check, 2 on an I/O or usage error
/// (including more live aggregation groups than `--max-groups`).
pub fn run(args: &RunArgs) -> Exit {
    let start = Instant::now();
    // The built-in input schemas (~10M instructions of YAML) parse while the pack loads.
    crate::eval::schema::preload();
    let (_fe, pack) = match super::load_pack(&args.rules, Format::Human, false) {
        Ok(p) => p,
        Err(e) => return e,
    };
    // Progress only on a terminal, and not with --quiet.
    let tty = std::io::stderr().is_terminal() && !super::quiet();
    let board = std::sync::Mutex::new(Board::default());
    let progress = |done: u64, total: u64, file: &str| {
        let mut b = board.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(line) = b.update(done, total, file) {
            super::err(&format!("\r\x1b[2K{line}"));
        }
    };
    let defaults = RunOptions::default();
    let lateness = super::config::run_allowed_lateness(args.allowed_lateness).value;
    // JSON lines: the first rule's alerts may be written as its windows are released. On a
    // terminal the progress line is cleared first (it is redrawn at its next change), so that
    // an alert does not start after it.
    let early_out = |b: &[u8]| {
        if tty {
            super::err("\r\x1b[2K");
        }
        super::out_bytes(b);
    };
    let early: &crate::eval::run::Early<'_> = &early_out;
    let opts = RunOptions {
        early: matches!(args.format, RunFormat::Json).then_some(early),
        schema: super::config::run_schema(args.schema.clone()).value,
        strict: super::config::run_strict(args.strict).value,
        prefilter: !args.no_prefilter,
        threads: args.threads.unwrap_or(defaults.threads),
        max_line: args.max_line,
        progress: if tty { Some(&progress) } else { None },
        lateness: lateness.0,
        max_groups: args.max_groups,
        block: args.block_bytes.unwrap_or(defaults.block),
        release_every: args.release_every.unwrap_or(defaults.release_every),
        alert_buffer: args.alert_buffer.unwrap_or(defaults.alert_buffer),
    };
    let result = run_files_streamed(&pack.rules, &args.events, &opts);
    if tty {
        super::err("\r\x1b[2K");
    }
    let mut out = match result {
        Ok(o) => o,
        Err(d) => {
            super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), Format::Human);
            return Exit::Failure;
        }
    };
    // JSON lines stream in order as the sink merges them (bounded memory); a table needs every
    // row for its column widths.
    let failed = |d| {
        super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), Format::Human);
        Exit::Failure
    };
    match args.format {
        RunFormat::Json => {
            // Each alert written from its encoding (no `Alert`, and no String per alert or
            // field), on another thread than the merge; the lines before an error are out.
            if let Err(d) = out.alerts.write_json_lines(super::out_bytes) {
                return failed(d);
            }
        }
        RunFormat::Table => match out.alerts.by_ref().collect::<Result<Vec<_>, _>>() {
            Ok(alerts) => super::out(&table(&alerts)),
            Err(d) => return failed(d),
        },
    }
    // The summary counted alerts before each rule's suppression, applied as they streamed.
    out.summary.alerts -= out.alerts.suppressed();
    if !super::quiet() {
        let secs = start.elapsed().as_secs_f64();
        super::err(&match args.summary {
            SummaryFormat::Text => summary_text(&out.summary, secs),
            SummaryFormat::Json => summary_json(&out.summary, secs),
        });
    }
    Exit::Ok
}

fn kv(m: &std::collections::BTreeMap<String, crate::ir::Value>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={}", crate::eval::plain_json(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A plain text table: one alert per row.
pub fn table(alerts: &[Alert]) -> String {
    let mut rows = vec![[
        "rule".to_string(),
        "severity".into(),
        "window".into(),
        "events".into(),
        "group".into(),
        "aggregates".into(),
    ]];
    for a in alerts {
        rows.push([
            a.rule_name.clone(),
            format!("{:?}", a.severity).to_lowercase(),
            a.window_start.clone().unwrap_or_else(|| "-".into()),
            a.events.to_string(),
            shown(&kv(&a.group)).into_owned(),
            shown(&kv(&a.aggregates)).into_owned(),
        ]);
    }
    let mut w = [0usize; 6];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}

/// The stderr summary: bad lines (file:line: reason), then the counts.
pub fn summary_text(s: &Summary, secs: f64) -> String {
    let mut t = String::new();
    for b in s.bad.iter().take(BAD_SHOWN) {
        t.push_str(&format!(
            "{}:{}: bad line: {}\n",
            shown(&b.file),
            b.line,
            shown(&b.reason)
        ));
    }
    if s.bad_lines as usize > BAD_SHOWN {
        t.push_str(&format!(
            "... and {} more bad line(s)\n",
            s.bad_lines as usize - BAD_SHOWN
        ));
    }
    for d in &s.duplicates {
        t.push_str(&format!("{}\n", shown(d)));
    }
    let lateness = s
        .lateness
        .map_or("unbounded".to_string(), crate::targets::duration_text);
    for l in s.late.iter().take(BAD_SHOWN) {
        t.push_str(&format!(
            "{}:{}: late event: its window of rule `{}` was already released (allowed lateness {lateness}); not counted\n",
            shown(&l.file),
            l.line,
            l.rule
        ));
    }
    if s.late_events as usize > BAD_SHOWN {
        t.push_str(&format!(
            "... and {} more late event(s)\n",
            s.late_events as usize - BAD_SHOWN
        ));
    }
    for (f, n) in &s.late_by_file {
        t.push_str(&format!("{}: {n} late event(s) not counted\n", shown(f)));
    }
    for (f, sc) in &s.schemas {
        t.push_str(&format!("{}: schema {sc}\n", shown(f)));
    }
    for k in &s.skipped {
        t.push_str(&format!("rule `{}` skipped: {}\n", k.rule, k.reason));
    }
    let mb = s.bytes as f64 / 1e6;
    t.push_str(&format!(
        "{} row(s) read ({mb:.1} MB) in {secs:.2}s: {} event(s), {} not applicable, {} bad line(s){}; {} matched; {} alert(s)\n",
        s.rows,
        s.events,
        s.not_applicable,
        s.bad_lines,
        if s.prefiltered > 0 {
            format!(
                ", {} skipped unparsed by the prefilter (no rule can match them)",
                s.prefiltered
            )
        } else {
            String::new()
        },
        s.matched,
        s.alerts
    ));
    if s.late_events > 0 {
        t.push_str(&format!(
            "{} late event(s) not counted: they came more than {lateness} after a later event, once their window was released; rerun with a larger --allowed-lateness, or `--allowed-lateness unbounded` for exact results in any order\n",
            s.late_events
        ));
    }
    t
}

/// The summary as one JSON object (its fields, and the run's seconds) on one line.
pub fn summary_json(s: &Summary, secs: f64) -> String {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert("seconds".into(), serde_json::json!(secs));
    }
    format!("{v}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_shows_every_file_in_flight_and_stays_quiet_for_small_ones() {
        let mut b = Board::default();
        assert_eq!(b.update(100, 1000, "small.json"), None);
        let big = 32 << 20;
        let line = b.update(big / 2, big, "a.json.gz").unwrap_or_default();
        assert!(line.contains("a.json.gz 50%"), "{line}");
        let line = b.update(big / 4, big, "b.json.gz").unwrap_or_default();
        assert!(line.contains("a.json.gz 50%, b.json.gz 25%"), "{line}");
        assert!(line.contains("0 file(s) done"), "{line}");
        let line = b.update(big, big, "a.json.gz").unwrap_or_default();
        assert!(line.contains("1 file(s) done; b.json.gz 25%"), "{line}");
        assert!(!line.contains("a.json.gz"), "{line}");
    }
}
