//! `detc run -e DIR` (issue 15 point 4): a folder is read whole (recursively, sorted, hidden
//! and non-event files skipped, link loops safe), several files at once, with the same alerts
//! and the same late events whatever the number of threads and however the reads interleave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::eval_lateness::{an0379, events, write, DAY};
use detc::eval::run::{run_files, RunOptions, RunOutput};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-folders-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_gz(path: &Path, lines: &[String]) {
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all((lines.join("\n") + "\n").as_bytes()).unwrap();
    gz.finish().unwrap();
}

/// Small blocks and a release after every block, so that small files exercise releases.
fn opts(threads: usize, lateness: Option<u64>) -> RunOptions<'static> {
    RunOptions {
        lateness,
        block: 2048,
        release_every: 1,
        threads,
        ..RunOptions::default()
    }
}

fn run(files: &[PathBuf], o: &RunOptions<'_>) -> RunOutput {
    run_files(&an0379(), files, o).unwrap()
}

/// The day's events in six slices cut at half past every fourth hour, so that the windows of
/// 04:00, 08:00, ... hold events of two files. Slice k goes to `NAMES[k]`: in path order the
/// files are slices 3, 1, 5, 0, 4, 2, unlike their time order; odd slices are gzipped and one
/// is in a subfolder. A note and a hidden file beside them are not events.
const NAMES: [&str; 6] = [
    "d.jsonl",
    "b.jsonl.gz",
    "f.jsonl",
    "a.jsonl.gz",
    "sub/e.jsonl",
    "c.jsonl.gz",
];

fn slices() -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); 6];
    for (t, l) in events() {
        let k = ((t - DAY - 1800).max(0) / (4 * 3600)).min(5) as usize;
        out[k].push(l);
    }
    out
}

fn folder(d: &Path, slices: &[Vec<String>]) -> PathBuf {
    let f = d.join("logs");
    std::fs::create_dir_all(f.join("sub")).unwrap();
    for (name, lines) in NAMES.iter().zip(slices) {
        if name.ends_with(".gz") {
            write_gz(&f.join(name), lines);
        } else {
            write(&f.join(name), lines);
        }
    }
    std::fs::write(f.join("notes.txt"), "not an event\n").unwrap();
    std::fs::write(f.join(".partial.jsonl"), "{not json\n").unwrap();
    f
}

#[test]
fn a_folder_gives_the_alerts_of_one_sorted_file_with_any_number_of_threads() {
    let d = dir("same");
    let all: Vec<String> = events().into_iter().map(|(_, l)| l).collect();
    let one = d.join("all.jsonl");
    write(&one, &all);
    let expected = run(std::slice::from_ref(&one), &opts(1, None)).alerts;
    // Windows that span two files raise alerts (else the test would not show they are joined).
    assert!(expected.iter().any(|a| a
        .window_start
        .as_deref()
        .is_some_and(|w| w.contains("T04:00") || w.contains("T08:00"))));
    let logs = folder(&d, &slices());
    for threads in 1..=4 {
        let out = run(std::slice::from_ref(&logs), &opts(threads, Some(3600)));
        assert_eq!(out.alerts, expected, "threads {threads}");
        assert_eq!(out.summary.events, all.len() as u64, "threads {threads}");
        assert_eq!(out.summary.bad_lines, 0, "{:?}", out.summary.bad);
        assert_eq!(out.summary.late_events, 0, "{:?}", out.summary.late);
        let read: Vec<&String> = out.summary.schemas.keys().collect();
        assert_eq!(read.len(), 6, "{read:?}");
        assert!(read
            .iter()
            .all(|p| !p.contains("notes") && !p.contains(".partial")));
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Memory over many files stays that of the pipeline: the read buffers are reused from file
/// to file, never made again per file (issue 15: (k), eight slices read two at a time, held 14
/// blocks of a megabyte where 8 are in use, because each file's first row went back to the
/// pool as an empty buffer that a reader took in place of a block).
#[test]
fn read_buffers_are_bounded_by_the_pipeline_not_by_the_number_of_files() {
    let d = dir("buffers");
    let all: Vec<String> = events().into_iter().map(|(_, l)| l).collect();
    let logs = d.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let files = 24;
    for (k, part) in all.chunks(all.len().div_ceil(files)).enumerate() {
        write(&logs.join(format!("part-{k:02}.jsonl")), part);
    }
    for threads in 1..=3 {
        let out = run(std::slice::from_ref(&logs), &opts(threads, Some(3600)));
        assert_eq!(out.summary.events, all.len() as u64);
        // Those queued, 1 per worker, 1 per reader (up to one reader per thread).
        let depth = detc::eval::run::queue_chunks(threads) + 2 * threads;
        assert!(
            out.buffers_made <= depth,
            "threads {threads}: {} buffers made for {files} files, pipeline depth {depth}",
            out.buffers_made
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn late_events_are_the_same_whatever_the_number_of_threads() {
    // One slice reversed: its events come up to four hours behind a later one of the same
    // file, so with a lateness of one hour many are late. Which ones depends only on that file
    // (and on the first times of the files after it), not on how the reads interleave.
    let d = dir("late");
    let mut s = slices();
    s[2].reverse();
    let logs = folder(&d, &s);
    let base = run(std::slice::from_ref(&logs), &opts(1, Some(3600)));
    assert!(base.summary.late_events > 0);
    assert_eq!(
        base.summary.late_by_file.len(),
        1,
        "{:?}",
        base.summary.late_by_file
    );
    for threads in [2, 3, 4, 4, 3, 2] {
        let out = run(std::slice::from_ref(&logs), &opts(threads, Some(3600)));
        assert_eq!(out.alerts, base.alerts, "threads {threads}");
        assert_eq!(out.summary.late, base.summary.late, "threads {threads}");
        assert_eq!(out.summary.late_events, base.summary.late_events);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_folder_with_a_link_loop_is_read_once_and_ends() {
    let d = dir("loop");
    let logs = d.join("logs");
    std::fs::create_dir_all(logs.join("sub")).unwrap();
    let lines: Vec<String> = events().into_iter().take(50).map(|(_, l)| l).collect();
    write(&logs.join("a.jsonl"), &lines);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(".", logs.join("again")).unwrap();
        std::os::unix::fs::symlink("..", logs.join("sub").join("up")).unwrap();
    }
    let out = run(std::slice::from_ref(&logs), &opts(2, Some(3600)));
    assert_eq!(out.summary.events, 50);
    assert_eq!(out.summary.schemas.len(), 1, "{:?}", out.summary.schemas);
    let _ = std::fs::remove_dir_all(&d);
}

fn detc(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_detc"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_folder_without_event_files_is_an_error() {
    let d = dir("empty");
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let other = d.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("README.md"), "notes\n").unwrap();
    std::fs::write(other.join(".hidden.jsonl"), "{}\n").unwrap();
    for f in [&empty, &other] {
        let (code, out, err) = detc(&["run", "rules", "-e", f.to_str().unwrap()]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("is a folder without event files"), "{err}");
        assert!(err.contains("*.jsonl"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_cli_prints_the_same_bytes_for_a_folder_with_any_number_of_threads_and_no_progress_when_piped(
) {
    let d = dir("cli");
    let logs = folder(&d, &slices());
    // A file big enough for a progress line on a terminal (16 MiB): none when piped.
    let line = events().remove(0).1;
    let big: Vec<String> = std::iter::repeat_n(line, (17 << 20) / 300).collect();
    write(&logs.join("big.jsonl"), &big);
    let args = |t: &'static str| {
        vec![
            "run".to_string(),
            "rules".into(),
            "-e".into(),
            logs.to_string_lossy().into_owned(),
            "--threads".into(),
            t.into(),
        ]
    };
    let mut outs = Vec::new();
    for t in ["1", "2", "3", "4"] {
        let a = args(t);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, out, err) = detc(&a);
        assert_eq!(code, 0, "{err}");
        assert!(!out.is_empty());
        assert!(!err.contains('\r') && !err.contains('#'), "{err}");
        outs.push(out);
    }
    assert!(outs.iter().all(|o| *o == outs[0]));
    let _ = std::fs::remove_dir_all(&d);
}
