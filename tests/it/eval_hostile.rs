//! Hostile and odd event input (issue 9, items 10, 11, 13, 14, 16): endless lines, stray CSV
//! quotes, concatenated Zeek logs, fractional integers, epoch units, duplicate keys, a file given
//! twice. Each test failed before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules;

use detc::eval::run::{read_events, run_files, RunOptions};
use detc::eval::testing::run_test;
use detc::ir::{Expectation, RuleTest, TestEvents, Value};
use rules::*;
use std::io::Write;
use std::path::PathBuf;

fn file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detc-hostile-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn sysmon(port: &str, sec: u32) -> String {
    format!(
        "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:{sec:02}\",\"Image\":\"a.exe\",\"Initiated\":\"true\",\"DestinationIp\":\"203.0.113.9\",\"DestinationPort\":{port}}}\n"
    )
}

fn capped(n: usize) -> RunOptions<'static> {
    RunOptions {
        max_line: n,
        ..RunOptions::default()
    }
}

// Item 10: a line longer than the cap is one bad line (with its number), skipped without being
// buffered; the lines after it are read. In every reader path: JSON lines in blocks (gzip),
// the first line of a file (before the layout is known), CSV rows and Zeek TSV.
#[test]
fn an_endless_line_is_one_bad_line_and_reading_goes_on() {
    let with = |long: &str| {
        let mut text = sysmon("25", 1);
        text.push_str(long);
        text.push_str(&sysmon("25", 2));
        text.push_str(long);
        text.push_str(&sysmon("\"25\"", 3));
        text
    };
    let long = format!("{{\"EventID\":3,\"Message\":\"{}\n", "A".repeat(5 << 20));
    let gz = file("long", "bomb.jsonl.gz", &gzip(with(&long).as_bytes()));
    let out = run_files(&pack(), &[gz], &capped(64 << 10)).unwrap();
    let s = &out.summary;
    assert_eq!((s.rows, s.events, s.bad_lines), (5, 3, 2), "{s:?}");
    assert_eq!(s.bad.iter().map(|b| b.line).collect::<Vec<_>>(), [2, 4]);
    assert!(
        s.bad[0].reason.contains("longer than 65536 bytes"),
        "{}",
        s.bad[0].reason
    );
    // A cap below the block size also applies to lines that fit in a block.
    let short = format!("{{\"EventID\":3,\"Message\":\"{}\n", "A".repeat(3000));
    let small = file("long", "small.jsonl", with(&short).as_bytes());
    let s = run_files(&pack(), &[small], &capped(1000)).unwrap().summary;
    assert_eq!((s.events, s.bad_lines), (3, 2), "{s:?}");
    // The very first line: it cannot tell the layout, so it is skipped and the next decides.
    let first = file(
        "long",
        "first.jsonl.gz",
        &gzip(format!("{long}{}", sysmon("25", 1)).as_bytes()),
    );
    let s = run_files(&pack(), &[first], &capped(64 << 10))
        .unwrap()
        .summary;
    assert_eq!((s.rows, s.events, s.bad_lines), (2, 1, 1), "{s:?}");
    assert_eq!(s.bad[0].line, 1);
    // CSV rows are read one by one (quoted cells may span lines): same rule.
    let csv = format!(
        "Timestamp,DeviceName,ActionType,RemotePort,RemoteIP\n2026-11-20T10:00:00Z,d,ConnectionSuccess,25,203.0.113.9\n{}\n2026-11-20T10:00:01Z,d,ConnectionSuccess,25,203.0.113.9\n",
        "x".repeat(200_000)
    );
    let p = file("long", "d.csv.gz", &gzip(csv.as_bytes()));
    let s = run_files(&pack(), &[p], &capped(64 << 10)).unwrap().summary;
    assert_eq!((s.rows, s.events, s.bad_lines), (3, 2, 1), "{s:?}");
    assert_eq!(s.bad[0].line, 3);
    assert!(
        s.bad[0].reason.contains("longer than"),
        "{}",
        s.bad[0].reason
    );
}

// Item 11: a stray quote in a CSV cell costs one bad line (the row where it opened), and
// reading resynchronises at the next line; the time is linear in the input.
#[test]
fn a_stray_csv_quote_costs_one_line() {
    let mut csv = String::from(
        "Timestamp,DeviceName,ActionType,RemotePort,RemoteIP,InitiatingProcessFileName\n",
    );
    let n = 5_000;
    for i in 0..n {
        let name = match i {
            10 => "\"stray.exe".to_string(),
            20 => "x\"y.exe".to_string(),
            30 => "\"ok, quoted\nover two lines\"".to_string(),
            100 => "\"stray to the end.exe".to_string(),
            4_990 => "\"unterminated.exe".to_string(),
            _ => "a.exe".to_string(),
        };
        csv.push_str(&format!(
            "2026-11-20T10:{:02}:00Z,d,ConnectionSuccess,25,203.0.113.9,{name}\n",
            i % 60
        ));
    }
    let p = file("csv", "stray.csv", csv.as_bytes());
    let start = std::time::Instant::now();
    let (evs, s) = read_events(&p, None).unwrap();
    // Row 10 (line 12) opens a quote that row 20's stray quote closes: the joined row has the
    // wrong number of cells, so line 12 is bad and reading resumes at line 13, where row 20's
    // quote, inside a cell, is literal (RFC 4180 readers differ; detc reads it as text). Row 30
    // is a legal two-line cell (so later rows are one line further down). Row 100 (line 103)
    // opens a quote no line closes within the bound; row 4990 (line 4993) one the end of the
    // file does not close.
    let bad: Vec<u64> = s.bad.iter().map(|b| b.line).collect();
    assert_eq!(bad, [12, 103, 4993], "{:?}", s.bad);
    assert!(
        s.bad[1].reason.contains("quoted cell"),
        "{}",
        s.bad[1].reason
    );
    assert_eq!(s.events as usize, n - 3);
    assert_eq!(evs.len(), n - 3);
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
    // Through `detc run` too (its CSV path is the same reader, in chunks).
    let s = run_files(&pack(), &[p], &RunOptions::default())
        .unwrap()
        .summary;
    assert_eq!((s.events as usize, s.bad_lines), (n - 3, 3));
}

fn conn_log(fields: &[&str], rows: &[Vec<&str>]) -> String {
    let mut t = String::from("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2026-11-20-10-00-00\n");
    t.push_str(&format!("#fields\t{}\n", fields.join("\t")));
    t.push_str(&format!(
        "#types\t{}\n",
        vec!["string"; fields.len()].join("\t")
    ));
    for r in rows {
        t.push_str(&r.join("\t"));
        t.push('\n');
    }
    t.push_str("#close\t2026-11-20-11-00-00\n");
    t
}

// Item 13: concatenated Zeek logs: each `#fields` header applies to the rows after it.
#[test]
fn a_second_zeek_header_is_honoured() {
    let a = conn_log(
        &[
            "ts",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "proto",
            "orig_bytes",
        ],
        &[vec![
            "1795168800.1",
            "10.0.0.4",
            "50000",
            "203.0.113.9",
            "443",
            "tcp",
            "5000",
        ]],
    );
    // The second log writes the ports in the other order.
    let b = conn_log(
        &[
            "ts",
            "id.orig_h",
            "id.resp_p",
            "id.resp_h",
            "id.orig_p",
            "proto",
            "orig_bytes",
        ],
        &[
            // 10.0.0.5 -> 203.0.113.9:25, 5000 bytes: must alert.
            vec![
                "1795168801.1",
                "10.0.0.5",
                "25",
                "203.0.113.9",
                "50000",
                "tcp",
                "5000",
            ],
            // 10.0.0.6 -> 203.0.113.9:50000 (from source port 25): must not.
            vec![
                "1795168802.1",
                "10.0.0.6",
                "50000",
                "203.0.113.9",
                "25",
                "tcp",
                "5000",
            ],
        ],
    );
    let text = format!("{a}{b}");
    let p = file("zeek", "conn.log", text.as_bytes());
    let (evs, s) = read_events(&p, None).unwrap();
    assert_eq!((s.events, s.bad_lines), (3, 0));
    assert_eq!(evs[1]["dst.port"], Value::Int(25));
    assert_eq!(evs[1]["src.port"], Value::Int(50000));
    assert_eq!(evs[2]["dst.port"], Value::Int(50000));
    let rules = vec![an0382_over(1000)];
    let gz = file("zeek", "conn.log.gz", &gzip(text.as_bytes()));
    for f in [p, gz] {
        let out = run_files(&rules, &[f], &RunOptions::default()).unwrap();
        let who: Vec<&Value> = out.alerts.iter().map(|a| &a.group["src.ip"]).collect();
        assert_eq!(who, [&ip("10.0.0.5")]);
        assert_eq!(out.summary.events, 3);
    }
    // The second header far into the file (many read blocks later), with a new `#path`.
    let row = vec![
        "1795168800.1",
        "10.0.0.4",
        "50000",
        "203.0.113.9",
        "443",
        "tcp",
        "5000",
    ];
    let many = conn_log(
        &[
            "ts",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "proto",
            "orig_bytes",
        ],
        &vec![row; 40_000],
    );
    let p = file("zeek", "big.log", format!("{many}{b}").as_bytes());
    let out = run_files(&rules, &[p], &RunOptions::default()).unwrap();
    let who: Vec<&Value> = out.alerts.iter().map(|a| &a.group["src.ip"]).collect();
    assert_eq!(who, [&ip("10.0.0.5")]);
    assert_eq!(out.summary.events, 40_002);
}

// Item 14: an integer field given a fraction is a bad value, like `0x19` and 70000; an
// integral float (`25.0`) is the integer. Durations are seconds with a fraction in Zeek and
// are floored (documented).
#[test]
fn fractional_integers_are_bad_values() {
    let mut text = String::new();
    for port in [
        "25.5", "25.999", "\"25.5\"", "\"0x19\"", "70000", "1e300", "-0.5", "25.0", "\"25\"",
    ] {
        text.push_str(&sysmon(port, 1));
    }
    let p = file("frac", "s.jsonl", text.as_bytes());
    let (evs, s) = read_events(&p, None).unwrap();
    let bad: Vec<u64> = s.bad.iter().map(|b| b.line).collect();
    assert_eq!(bad, [1, 2, 3, 4, 5, 6, 7], "{:?}", s.bad);
    assert!(
        s.bad[0].reason.contains("`25.5` is not a port"),
        "{}",
        s.bad[0].reason
    );
    assert_eq!(evs.len(), 2);
    assert!(evs.iter().all(|e| e["remote.port"] == Value::Int(25)));
    // Byte counts in Zeek TSV and JSON; the duration keeps its documented flooring.
    let tsv = conn_log(
        &[
            "ts",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "proto",
            "orig_bytes",
            "duration",
        ],
        &[
            vec![
                "1795168800.1",
                "10.0.0.4",
                "50000",
                "203.0.113.9",
                "25",
                "tcp",
                "10.5",
                "1.5",
            ],
            vec![
                "1795168800.1",
                "10.0.0.4",
                "50000.5",
                "203.0.113.9",
                "25",
                "tcp",
                "10",
                "1.5",
            ],
            vec![
                "1795168800.1",
                "10.0.0.4",
                "50000",
                "203.0.113.9",
                "25",
                "tcp",
                "10",
                "1.5",
            ],
        ],
    );
    let p = file("frac", "conn.log", tsv.as_bytes());
    let (evs, s) = read_events(&p, None).unwrap();
    assert_eq!(s.bad.iter().map(|b| b.line).collect::<Vec<_>>(), [9, 10]);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["duration"], Value::Int(1));
    let json = "{\"ts\":1795168800,\"id.orig_h\":\"10.0.0.4\",\"id.resp_h\":\"203.0.113.9\",\"id.resp_p\":25,\"proto\":\"tcp\",\"orig_bytes\":10.25}\n";
    let p = file("frac", "conn.json", json.as_bytes());
    let (_, s) = read_events(&p, None).unwrap();
    assert_eq!(s.bad_lines, 1);
}

// Item 16: epoch timestamps in milliseconds, microseconds and nanoseconds are read in their
// unit (by magnitude, thresholds in docs/SEMANTICS.md), not as seconds in year 55840.
#[test]
fn epoch_units_by_magnitude() {
    let t = 1_588_205_198;
    let mut text = String::new();
    for ts in [
        "1588205198",
        "1588205198.89971",
        "1588205198899",
        "\"1588205198899.5\"",
        "1588205198899712",
        "1588205198899712345",
    ] {
        text.push_str(&format!(
            "{{\"ts\":{ts},\"id.orig_h\":\"10.0.0.4\",\"id.resp_h\":\"203.0.113.9\",\"id.resp_p\":25,\"proto\":\"tcp\"}}\n"
        ));
    }
    let p = file("epoch", "conn.json", text.as_bytes());
    let (evs, s) = read_events(&p, None).unwrap();
    assert_eq!(s.bad_lines, 0, "{:?}", s.bad);
    for e in &evs {
        assert_eq!(e["time"], Value::Timestamp(t));
    }
}

// Item 16: a duplicate key that a mapping reads makes the line bad (readers disagree on which
// one wins); duplicates of keys nobody reads do not matter.
#[test]
fn duplicate_json_keys_are_bad_lines() {
    let text = concat!(
        "{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00\",\"Image\":\"a.exe\",\"DestinationPort\":80,\"DestinationPort\":25}\n",
        "{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00\",\"Image\":\"a.exe\",\"DestinationPort\":25,\"Other\":1,\"Other\":2}\n",
    );
    let p = file("dup", "s.jsonl", text.as_bytes());
    let (evs, s) = read_events(&p, None).unwrap();
    assert_eq!(s.bad.iter().map(|b| b.line).collect::<Vec<_>>(), [1]);
    assert!(
        s.bad[0].reason.contains("duplicate key `DestinationPort`"),
        "{}",
        s.bad[0].reason
    );
    assert_eq!(evs.len(), 1);
    let out = run_files(
        &pack(),
        &[p],
        &RunOptions {
            prefilter: false,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!((out.summary.events, out.summary.bad_lines), (1, 1));
}

// Item 16: the same file given twice (even by another path) is read once, and said so.
#[test]
fn the_same_file_twice_is_read_once() {
    let mut text = String::new();
    for i in 0..5 {
        text.push_str(&sysmon("25", i));
    }
    let p = file("twice", "s.jsonl", text.as_bytes());
    let again = p.parent().unwrap().join(".").join("s.jsonl");
    let out = run_files(&pack(), &[p.clone(), again, p], &RunOptions::default()).unwrap();
    assert_eq!(out.summary.events, 5);
    assert_eq!(
        out.summary.duplicates.len(),
        2,
        "{:?}",
        out.summary.duplicates
    );
    assert!(
        out.summary.duplicates[0].contains("same file as"),
        "{:?}",
        out.summary.duplicates
    );
}

// Item 15: a rule test whose events hold no event of the rule's source fails, whatever it
// expects: every line malformed, every row of another event type, or a file of another source.
#[test]
fn a_test_without_events_of_the_source_fails() {
    let dir = std::env::temp_dir().join(format!("detc-hostile-{}-vacuous", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "broken.jsonl",
        "{\"EventID\":3,\"UtcTime\":\"nope\",\"Image\":\"a.exe\",\"DestinationPort\":25}\n{oops\n",
    );
    write(
        "other.jsonl",
        "{\"EventID\":1,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"UtcTime\":\"2026-11-20 10:00:00\"}\n",
    );
    write(
        "zeek.json",
        "{\"ts\":1795168800,\"id.orig_h\":\"10.0.0.4\",\"id.resp_h\":\"203.0.113.9\",\"id.resp_p\":25,\"proto\":\"tcp\"}\n",
    );
    write("good.jsonl", &sysmon("443", 1));
    let mut rule = scripting_host_mail();
    rule.span = detc::ir::Span::file(dir.join("r.detc").to_string_lossy().into_owned());
    let loader = detc::load::FsLoader::for_paths(std::slice::from_ref(&dir));
    let quiet = Expectation {
        count: Some(0),
        alerts: vec![],
    };
    let test = |events: TestEvents| RuleTest {
        name: "quiet".into(),
        events,
        schema: None,
        expect: quiet.clone(),
        span: span(),
    };
    for f in ["broken.jsonl", "other.jsonl", "zeek.json"] {
        let o = run_test(&rule, &test(TestEvents::File(f.into())), &loader);
        assert!(!o.passed, "{f} passed vacuously");
        assert!(
            o.message.contains("no event of source network_connection"),
            "{f}: {}",
            o.message
        );
    }
    let mut inline = serde_json::Map::new();
    inline.insert("EventID".into(), 1.into());
    inline.insert("Channel".into(), "x".into());
    inline.insert("UtcTime".into(), "2026-11-20 10:00:00".into());
    let o = run_test(&rule, &test(TestEvents::Inline(vec![inline])), &loader);
    assert!(
        !o.passed && o.message.contains("no event of source"),
        "{}",
        o.message
    );
    // One real event of the source: the quiet test passes.
    let o = run_test(&rule, &test(TestEvents::File("good.jsonl".into())), &loader);
    assert!(o.passed, "{}", o.message);
}

// Item 7 for fixtures, at the runner: `detc test` opens a fixture through the loader, so the
// pack-root confinement holds even for a fixture that changed after the check (a link swapped
// in, a FIFO), and a library caller gets it too.
#[cfg(unix)]
#[test]
fn the_test_runner_reads_fixtures_only_inside_the_pack_root() {
    let dir = std::env::temp_dir().join(format!("detc-hostile-{}-confined", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pack = dir.join("pack");
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::write(dir.join("secret.jsonl"), sysmon("25", 1)).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(pack.join("pipe.jsonl"))
        .status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    let mut rule = scripting_host_mail();
    rule.span = detc::ir::Span::file(pack.join("r.detc").to_string_lossy().into_owned());
    let test = |file: &str| RuleTest {
        name: "t".into(),
        events: TestEvents::File(file.into()),
        schema: None,
        expect: Expectation {
            count: Some(0),
            alerts: vec![],
        },
        span: span(),
    };
    let in_pack = detc::load::FsLoader::for_paths(std::slice::from_ref(&pack));
    let o = run_test(&rule, &test("../secret.jsonl"), &in_pack);
    assert!(!o.passed, "read a fixture outside the pack");
    assert!(
        o.message.contains("outside the pack's folder"),
        "{}",
        o.message
    );
    // The same file is read when the pack root holds it: the refusal is the confinement's.
    let wider = detc::load::FsLoader::for_paths(std::slice::from_ref(&dir));
    let o = run_test(&rule, &test("../secret.jsonl"), &wider);
    assert!(o.passed, "{}", o.message);
    // A FIFO is refused by kind, never opened (opening it would block).
    let o = run_test(&rule, &test("pipe.jsonl"), &in_pack);
    assert!(o.message.contains("not a regular file"), "{}", o.message);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A JSON lines file's blocks are numbered and their lines counted by the workers: a bad line a
/// worker finds (not JSON) and one the reader skips (over the cap, between blocks) have the
/// file's line numbers, whatever the block size and the number of threads, as the row reader
/// numbers them.
#[test]
fn bad_lines_in_numbered_blocks_have_the_file_s_line_numbers() {
    let long = format!("{{\"EventID\":3,\"Message\":\"{}\"}}\n", "A".repeat(5000));
    let mut text = String::new();
    let mut want = Vec::new();
    for i in 1..=3000u64 {
        match i {
            2 | 1500 | 2999 => {
                text.push_str("not json\n");
                want.push(i);
            }
            700 | 701 | 2200 => {
                text.push_str(&long);
                want.push(i);
            }
            _ => text.push_str(&sysmon("25", (i % 60) as u32)),
        }
    }
    let p = file("numbered", "lines.jsonl", text.as_bytes());
    for block in [300, 4096, 1 << 20] {
        for threads in [1, 2] {
            let opts = RunOptions {
                max_line: 1000,
                block,
                threads,
                ..RunOptions::default()
            };
            let s = run_files(&pack(), std::slice::from_ref(&p), &opts)
                .unwrap()
                .summary;
            let got: Vec<u64> = s.bad.iter().map(|b| b.line).collect();
            assert_eq!(got, want, "block {block} threads {threads}");
            assert_eq!(s.rows, 3000, "block {block} threads {threads}");
        }
    }
}
