//! Aggregation memory (issue 9, item 12): windows are released once the input is past their end
//! plus the allowed lateness; results do not depend on input order within that lateness; a
//! later event is counted and reported with its file and line; `--allowed-lateness unbounded`
//! is exact for any order; a cap on live groups fails with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use detc::eval::run::{run_files, RunOptions, RunOutput};
use detc::ir::Rule;
use std::path::{Path, PathBuf};

pub fn an0379() -> Vec<Rule> {
    let files = detc::load::load_sources(&[
        PathBuf::from("rules/lists.detc"),
        PathBuf::from("rules/an0379_mail_protocol_unexpected_process.detc"),
    ])
    .unwrap();
    detc::frontend(&files).pack.unwrap().rules
}

fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-lateness-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fixed-seed generator (xorshift64*), so every run sees the same events and shuffles.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// 2026-11-20T00:00:00Z
pub const DAY: i64 = 1_763_596_800;

/// (time, Sysmon JSON line): 24 hours of SMTP connections from rundll32.exe on 60 hosts, a few
/// per host and hour (so some groups reach the rule's threshold of 3 and some do not), sorted.
pub fn events() -> Vec<(i64, String)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for hour in 0..24i64 {
        for host in 0..60 {
            for _ in 0..rng.below(5) {
                let t = DAY + hour * 3600 + rng.below(3600) as i64;
                out.push((t, host));
            }
        }
    }
    out.sort();
    out.into_iter()
        .map(|(t, host)| {
            let secs = t - DAY;
            let line = format!(
                r#"{{"EventID": 3, "UtcTime": "2026-11-20 {:02}:{:02}:{:02}.000", "Hostname": "WS{host:02}", "User": "CORP\\alice", "Image": "C:\\Windows\\System32\\rundll32.exe", "Initiated": "true", "DestinationIp": "93.184.216.{}", "DestinationPort": "25"}}"#,
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                host % 7
            );
            (t, line)
        })
        .collect()
}

pub fn write(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Small blocks and a release after every block, so that a small file exercises releases.
fn opts(lateness: Option<u64>) -> RunOptions<'static> {
    RunOptions {
        lateness,
        block: 2048,
        release_every: 1,
        threads: 2,
        ..RunOptions::default()
    }
}

fn run(files: &[PathBuf], o: &RunOptions<'_>) -> RunOutput {
    run_files(&an0379(), files, o).unwrap()
}

fn sorted_file(d: &Path) -> PathBuf {
    let p = d.join("sorted.jsonl");
    let lines: Vec<String> = events().into_iter().map(|(_, l)| l).collect();
    write(&p, &lines);
    p
}

#[test]
fn releases_windows_and_keeps_alerts_of_sorted_input() {
    let d = dir("sorted");
    let p = sorted_file(&d);
    let exact = run(std::slice::from_ref(&p), &opts(None));
    let released = run(std::slice::from_ref(&p), &opts(Some(3600)));
    assert!(exact.alerts.len() > 50, "{}", exact.alerts.len());
    assert_eq!(released.alerts, exact.alerts);
    assert_eq!(released.summary.late_events, 0);
    // 24 windows of up to 60 groups each; with 1 h of lateness at most a few windows are live.
    assert!(
        exact.summary.peak_groups > 1000,
        "{}",
        exact.summary.peak_groups
    );
    assert!(
        released.summary.peak_groups < 60 * 4,
        "{}",
        released.summary.peak_groups
    );
}

/// The lines of [`events`] cut into blocks of 10 minutes, the blocks shuffled within each run
/// of `run` (fixed `seed`), and the events within each block too when `within`.
fn shuffled_blocks(run: usize, seed: u64, within: bool) -> Vec<String> {
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for (t, l) in events() {
        let b = ((t - DAY) / 600) as usize;
        if blocks.len() <= b {
            blocks.resize(b + 1, Vec::new());
        }
        blocks[b].push(l);
    }
    let mut rng = Rng(seed);
    let mut lines = Vec::new();
    for part in blocks.chunks_mut(run) {
        rng.shuffle(part);
        for b in part.iter_mut() {
            if within {
                rng.shuffle(b);
            }
            lines.extend(b.iter().cloned());
        }
    }
    lines
}

#[test]
fn shuffled_blocks_within_the_lateness_give_the_alerts_of_sorted_input() {
    let d = dir("blocks");
    let sorted = sorted_file(&d);
    let expected = run(std::slice::from_ref(&sorted), &opts(None)).alerts;
    // Shuffle the blocks of 10 minutes within each run of three (so no event moves by more
    // than 30 minutes) and the events within each block.
    let lines = shuffled_blocks(3, 42, true);
    let p = d.join("shuffled.jsonl");
    write(&p, &lines);
    for threads in [1, 2, 3] {
        let o = RunOptions {
            threads,
            ..opts(Some(3600))
        };
        let out = run(std::slice::from_ref(&p), &o);
        assert_eq!(out.summary.late_events, 0, "threads {threads}");
        assert_eq!(out.alerts, expected, "threads {threads}");
        assert!(
            out.summary.peak_groups < 60 * 5,
            "{}",
            out.summary.peak_groups
        );
    }
}

#[test]
fn a_later_event_is_reported_with_its_line_and_excluded() {
    let d = dir("late");
    let mut lines: Vec<String> = events().into_iter().map(|(_, l)| l).collect();
    let sorted = d.join("sorted.jsonl");
    write(&sorted, &lines);
    let expected = run(std::slice::from_ref(&sorted), &opts(Some(3600))).alerts;
    // An event of hour 0 after the whole day: its window was released long ago.
    let first = lines[0].clone();
    lines.push(first);
    let p = d.join("late.jsonl");
    write(&p, &lines);
    let out = run(std::slice::from_ref(&p), &opts(Some(3600)));
    assert_eq!(out.summary.late_events, 1);
    let late = &out.summary.late[0];
    assert_eq!(late.file, p.to_string_lossy().replace('\\', "/"));
    assert_eq!(late.line, lines.len() as u64);
    assert_eq!(late.rule, "an0379_mail_protocol_unexpected_process");
    assert_eq!(out.summary.late_by_file.get(&late.file), Some(&1));
    // Excluded: the alerts are those without the late event, not a second partial window.
    assert_eq!(out.alerts, expected);
    // Unbounded lateness counts it (its group's window has one more event).
    let exact = run(std::slice::from_ref(&p), &opts(None));
    assert_eq!(exact.summary.late_events, 0);
    assert_ne!(exact.alerts, expected);
}

#[test]
fn unbounded_lateness_is_exact_for_any_order() {
    let d = dir("random");
    let sorted = sorted_file(&d);
    let expected = run(std::slice::from_ref(&sorted), &opts(None)).alerts;
    let mut lines: Vec<String> = events().into_iter().map(|(_, l)| l).collect();
    Rng(7).shuffle(&mut lines);
    let p = d.join("random.jsonl");
    write(&p, &lines);
    assert_eq!(run(std::slice::from_ref(&p), &opts(None)).alerts, expected);
    // With a bounded lateness, a random order of a whole day is mostly late, and says so.
    let bounded = run(std::slice::from_ref(&p), &opts(Some(3600)));
    assert!(
        bounded.summary.late_events > 100,
        "{}",
        bounded.summary.late_events
    );
    assert!(!bounded.summary.late.is_empty());
}

#[test]
fn interleaving_files_give_the_same_alerts_in_any_order() {
    // Two files covering the same day (hosts split by parity), each sorted: whatever their
    // order on the command line, the alerts are those of one merged file and nothing is late.
    let d = dir("files");
    let sorted = sorted_file(&d);
    let expected = run(std::slice::from_ref(&sorted), &opts(None)).alerts;
    let (mut even, mut odd) = (Vec::new(), Vec::new());
    for (_, l) in events() {
        let at = l.find("\"WS").unwrap() + 3;
        if l[at..at + 2].parse::<u32>().unwrap() % 2 == 0 {
            even.push(l);
        } else {
            odd.push(l);
        }
    }
    let (a, b) = (d.join("a.jsonl"), d.join("b.jsonl"));
    write(&a, &even);
    write(&b, &odd);
    for files in [[a.clone(), b.clone()], [b.clone(), a.clone()]] {
        let out = run(&files, &opts(Some(3600)));
        assert_eq!(out.summary.late_events, 0);
        assert_eq!(out.alerts, expected);
    }
}

#[test]
fn live_groups_over_the_cap_are_an_error() {
    let d = dir("cap");
    let p = sorted_file(&d);
    for lateness in [None, Some(3600)] {
        let o = RunOptions {
            max_groups: 100,
            ..opts(lateness)
        };
        let e = match run_files(&an0379(), std::slice::from_ref(&p), &o) {
            Err(e) => e,
            Ok(_) => panic!("over the cap"),
        };
        assert_eq!(e.code, "E0806");
        assert!(e.message.contains("100"), "{}", e.message);
    }
    // Released windows do not count: 1 h of lateness keeps well under 1000 live groups.
    let o = RunOptions {
        max_groups: 1000,
        ..opts(Some(3600))
    };
    assert!(run_files(&an0379(), std::slice::from_ref(&p), &o).is_ok());
}

/// An abstract event AN0379 matches: rundll32.exe to a public address on port 25, at `t`.
fn mail_event(t: i64, host: &str) -> detc::eval::Event {
    use detc::ir::Value;
    let mut e = detc::eval::Event::new();
    e.insert("time".into(), Value::Timestamp(t));
    e.insert("host".into(), Value::Str(host.into()));
    e.insert("process.name".into(), Value::Str("rundll32.exe".into()));
    e.insert(
        "remote.ip".into(),
        Value::Ip("93.184.216.34".parse().unwrap()),
    );
    e.insert("remote.port".into(), Value::Int(25));
    e.insert("direction".into(), Value::Enum("outbound".into()));
    e
}

#[test]
fn a_drained_state_still_calls_events_into_released_windows_late() {
    // The runner moves the workers' groups into one state at every release; the emptied
    // worker states must still know which windows are gone, or a late event would re-create
    // a released window and alert twice.
    use detc::eval::engine::{CompiledRule, Fed, RuleState};
    let rules = an0379();
    let rule = rules.iter().find(|r| r.aggregation.is_some()).unwrap();
    let c = CompiledRule::new(rule).unwrap();
    let ev = |t: i64| mail_event(t, "WS01");
    let mut st = RuleState::default();
    assert_eq!(c.feed(&ev(DAY + 10), &mut st), Fed::Matched);
    let open_from = c.open_from(DAY + 3 * 3600, 3600).unwrap();
    // Windows [DAY, DAY+1h) and [DAY+1h, DAY+2h) end at least 1 h before DAY+3h.
    assert_eq!(open_from, DAY + 7200);
    let mut live = RuleState::default();
    live.merge(st.drain());
    assert!(c.release(&mut live, open_from).is_empty());
    st.close_before(open_from);
    let mut drained = st.drain();
    assert_eq!(drained.groups(), 0);
    assert_eq!(c.feed(&ev(DAY + 20), &mut st), Fed::Late);
    assert_eq!(c.feed(&ev(DAY + 20), &mut drained), Fed::Late);
    assert_eq!(c.feed(&ev(DAY + 7199), &mut st), Fed::Late);
    assert_eq!(c.feed(&ev(DAY + 7200), &mut st), Fed::Matched);
}

/// At a release point a thread gives up only the windows being released: its open windows
/// stay with it (their groups are not made again for its next events), the counts and the
/// released windows go to the merge, and what it takes later merges to the alerts of one state
/// fed everything.
#[test]
fn a_thread_keeps_its_open_windows_past_a_release_point() {
    use detc::eval::engine::{CompiledRule, Fed, RuleState};
    let rules = an0379();
    let rule = rules.iter().find(|r| r.aggregation.is_some()).unwrap();
    let c = CompiledRule::new(rule).unwrap();
    let ev = mail_event;
    // Three events in each of three hours, two hosts in the last.
    let first: Vec<_> = [10, 20, 30, 3610, 3620, 3630, 7210, 7220]
        .iter()
        .map(|&s| ev(DAY + s, "WS01"))
        .chain([ev(DAY + 7230, "WS02")])
        .collect();
    let later: Vec<_> = [7240, 7250].iter().map(|&s| ev(DAY + s, "WS01")).collect();
    let mut whole = RuleState::default();
    for e in first.iter().chain(&later) {
        assert_eq!(c.feed(e, &mut whole), Fed::Matched);
    }
    let mut st = RuleState::default();
    for e in &first {
        c.feed(e, &mut st);
    }
    let cut = c.open_from(DAY + 3 * 3600, 3600);
    assert_eq!(cut, Some(DAY + 7200));
    let mut live = st.drain_before(cut);
    // The first two hours (one group each) are taken, with every count; the third stays.
    assert_eq!((live.groups(), live.matched), (2, 9));
    assert_eq!((st.groups(), st.matched), (2, 0));
    for e in &later {
        assert_eq!(c.feed(e, &mut st), Fed::Matched);
    }
    assert_eq!(st.groups(), 2);
    // Nothing before the cut left: taking again gives the new counts and no window.
    let again = st.drain_before(cut);
    assert_eq!((again.groups(), again.matched, st.groups()), (0, 2, 2));
    live.merge(again);
    live.merge(st.drain());
    assert_eq!(live.matched, whole.matched);
    assert_eq!(c.finish(live), c.finish(whole));
}

fn an0382() -> Vec<Rule> {
    let files = detc::load::load_sources(&[
        PathBuf::from("rules/lists.detc"),
        PathBuf::from("rules/an0382_external_mail_volume.detc"),
    ])
    .unwrap();
    detc::frontend(&files).pack.unwrap().rules
}

/// One Zeek conn.log (its own header, then rows), as `cat a.log b.log` concatenates them.
fn zeek_conn_log(fields: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2026-11-20-00-00-00\n",
    );
    t.push_str(&format!("#fields\t{}\n", fields.join("\t")));
    for r in rows {
        t.push_str(&r.join("\t"));
        t.push('\n');
    }
    t.push_str("#close\t2026-11-21-00-00-00\n");
    t
}

// Issue 9 items 12 and 13 together: concatenated Zeek logs (a second `#fields` header, with the
// columns in another order, makes a new reading context midway) are one file for the watermark:
// windows keep being released after the header, and a late event after it is reported and
// counted for the file.
#[test]
fn concatenated_zeek_logs_keep_one_watermark_across_the_header() {
    let d = dir("zeek-concat");
    // Host 10.0.0.h in hour k: three 20 MB SMTP connections out when (h + k) % 3 == 0 (60 MB: an
    // alert), else one of 1 MB.
    let conns = |hours: std::ops::Range<i64>| -> Vec<(i64, u32, u64)> {
        let mut v = Vec::new();
        for k in hours {
            for h in 1..=20u32 {
                let (n, bytes) = if (h as i64 + k) % 3 == 0 {
                    (3, 20_000_000)
                } else {
                    (1, 1_000_000)
                };
                for i in 0..n {
                    v.push((DAY + k * 3600 + i64::from(h) * 60 + i, h, bytes));
                }
            }
        }
        v
    };
    let first = [
        "ts",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "orig_bytes",
    ];
    let a: Vec<Vec<String>> = conns(0..12)
        .into_iter()
        .map(|(t, h, b)| {
            let row = [
                &t.to_string(),
                &format!("10.0.0.{h}"),
                "50000",
                "203.0.113.9",
                "25",
                "tcp",
            ];
            row.iter()
                .map(|s| s.to_string())
                .chain([b.to_string()])
                .collect()
        })
        .collect();
    // The second log writes the ports and the byte count in another order.
    let second = [
        "ts",
        "orig_bytes",
        "id.orig_h",
        "id.resp_p",
        "id.resp_h",
        "id.orig_p",
        "proto",
    ];
    let mut b: Vec<Vec<String>> = conns(12..24)
        .into_iter()
        .map(|(t, h, b)| {
            vec![
                t.to_string(),
                b.to_string(),
                format!("10.0.0.{h}"),
                "25".into(),
                "203.0.113.9".into(),
                "50000".into(),
                "tcp".into(),
            ]
        })
        .collect();
    // Late: 60 MB from 10.0.0.2 at 02:30, written after hour 20 began (hour 2 of host 2 had
    // 1 MB, so counting it would add an alert).
    let late_at = b
        .iter()
        .position(|r| r[0].parse::<i64>().unwrap() >= DAY + 20 * 3600)
        .unwrap();
    b.insert(
        late_at,
        vec![
            (DAY + 2 * 3600 + 1800).to_string(),
            "60000000".into(),
            "10.0.0.2".into(),
            "25".into(),
            "203.0.113.9".into(),
            "50000".into(),
            "tcp".into(),
        ],
    );
    let log_a = zeek_conn_log(&first, &a);
    let text = format!("{log_a}{}", zeek_conn_log(&second, &b));
    // Its line: the first log's lines, the second's 7 directive lines, then its rows.
    let late_line = (log_a.lines().count() + 7 + late_at + 1) as u64;
    let p = d.join("conn.log");
    std::fs::write(&p, text).unwrap();
    let files = [p.clone()];
    let o = |lateness| RunOptions {
        block: 512,
        ..opts(lateness)
    };
    let exact = run_files(&an0382(), &files, &o(None)).unwrap();
    let released = run_files(&an0382(), &files, &o(Some(3600))).unwrap();
    // 24 hours x 20 hosts, one in three over 50 MB; unbounded also counts the late event.
    assert_eq!(released.alerts.len(), 24 * 20 / 3);
    assert_eq!(exact.alerts.len(), 24 * 20 / 3 + 1);
    assert!(released.alerts.iter().all(|a| exact.alerts.contains(a)));
    assert_eq!(released.summary.events, exact.summary.events);
    // Windows are released in both logs: a few hours of 20 groups live, never the day's 480.
    assert!(
        exact.summary.peak_groups >= 480,
        "{}",
        exact.summary.peak_groups
    );
    assert!(
        released.summary.peak_groups <= 4 * 20,
        "{}",
        released.summary.peak_groups
    );
    // The late event, after the second header, is the file's.
    let path = p.to_string_lossy().replace('\\', "/");
    assert_eq!(released.summary.late_events, 1);
    assert_eq!(released.summary.late[0].file, path);
    assert_eq!(released.summary.late[0].line, late_line);
    assert_eq!(released.summary.late_by_file.get(&path), Some(&1));
    assert_eq!(exact.summary.late_events, 0);
}

// A file given twice is read once (issue 9 item 16), so its repeat must not bound the
// watermark by its first event: the file between them is still released as it is read.
#[test]
fn a_repeated_file_does_not_hold_the_watermark_back() {
    let d = dir("repeat");
    let (mut morning, mut evening) = (Vec::new(), Vec::new());
    for (t, l) in events() {
        if t < DAY + 12 * 3600 {
            morning.push(l);
        } else {
            evening.push(l);
        }
    }
    let (a, b) = (d.join("a.jsonl"), d.join("b.jsonl"));
    write(&a, &morning);
    write(&b, &evening);
    // One file at a time: with several read at once, the groups live together depend on
    // how the reads interleave (the alerts do not).
    let o = RunOptions {
        threads: 1,
        ..opts(Some(3600))
    };
    let once = run(&[a.clone(), b.clone()], &o);
    let again = run(&[a.clone(), b.clone(), d.join(".").join("a.jsonl")], &o);
    assert_eq!(again.summary.duplicates.len(), 1, "{:?}", again.summary);
    assert_eq!(again.alerts, once.alerts);
    assert_eq!(again.summary.late_events, 0);
    // Held back by the repeat's 00:00 the evening's 12 hours of groups would all be live.
    assert_eq!(again.summary.peak_groups, once.summary.peak_groups);
    assert!(
        again.summary.peak_groups < 60 * 4,
        "{}",
        again.summary.peak_groups
    );
}

/// Which events are late depends on the file and its barriers only, never on thread timing: a
/// file shuffled far beyond the lateness (blocks of 10 minutes moved up to 3 hours), so that
/// many events are late, read in small blocks with a barrier after every one or every third,
/// by 1 to 4 threads, alone and after a second file, three times each: the same alerts and
/// the same late events (count and lines) as one thread. The workers meet the barriers (the
/// chunks after one wait for it), so this drives a barrier met while the next chunks are
/// already read and waiting, on every block.
#[test]
fn late_events_do_not_depend_on_threads_or_timing() {
    let d = dir("barriers");
    let lines = shuffled_blocks(18, 7, false);
    let p = d.join("far.jsonl");
    write(&p, &lines);
    let other = sorted_file(&d);
    for every in [1, 3] {
        let o = |threads| RunOptions {
            threads,
            release_every: every,
            ..opts(Some(1800))
        };
        // The second file after the sorted one: a file's watermark is capped by the first
        // event of the files after it, so the shuffled one first would release nothing.
        for files in [vec![p.clone()], vec![other.clone(), p.clone()]] {
            let one = run(&files, &o(1));
            assert!(one.summary.late_events > 20, "{}", one.summary.late_events);
            let late = |out: &RunOutput| {
                let mut v: Vec<(String, u64)> = out
                    .summary
                    .late
                    .iter()
                    .map(|l| (l.file.clone(), l.line))
                    .collect();
                v.sort();
                v
            };
            for threads in [1, 2, 3, 4] {
                for round in 0..3 {
                    let out = run(&files, &o(threads));
                    let what = format!(
                        "every {every}, {} file(s), threads {threads}, round {round}",
                        files.len()
                    );
                    assert_eq!(out.summary.late_events, one.summary.late_events, "{what}");
                    assert_eq!(late(&out), late(&one), "{what}");
                    assert_eq!(out.alerts, one.alerts, "{what}");
                }
            }
        }
    }
}

/// Which events are late does not depend on thread timing with a line longer than a block
/// either: that line grows the buffer it is read into, and the reader reuses buffers in the
/// order the threads give them back, so a buffer must be filled to a block's size, not to its
/// own length. The file of the test above with a 6 KB line near its start, by 1 to 4 threads,
/// three times each: the same late events and alerts as one thread.
#[test]
fn late_events_do_not_depend_on_which_buffer_comes_back() {
    let d = dir("regrown");
    let mut lines = shuffled_blocks(18, 7, false);
    let long = lines[1].replacen(
        '{',
        &format!("{{\"Padding\": \"{}\", ", "p".repeat(6000)),
        1,
    );
    lines.insert(1, long);
    let p = d.join("far.jsonl");
    write(&p, &lines);
    let o = |threads| RunOptions {
        threads,
        ..opts(Some(1800))
    };
    let files = [p];
    let one = run(&files, &o(1));
    assert!(one.summary.late_events > 20, "{}", one.summary.late_events);
    for threads in [2, 3, 4] {
        for round in 0..3 {
            let out = run(&files, &o(threads));
            let what = format!("threads {threads}, round {round}");
            assert_eq!(out.summary.late_events, one.summary.late_events, "{what}");
            assert_eq!(out.summary.late, one.summary.late, "{what}");
            assert_eq!(out.alerts, one.alerts, "{what}");
        }
    }
}
