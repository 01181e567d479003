//! `detc run` and `detc test` end to end: stdout, stderr, exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn tmp(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn run_prints_alerts_as_json_lines_and_a_summary() {
    let (code, out, err) = detc(&[
        "run",
        "rules",
        "--events",
        "rules/fixtures/an0379/rundll32_smtp.jsonl",
        "rules/fixtures/t1071_003/python_smtp.csv",
    ]);
    assert_eq!(code, 0, "{err}");
    let alerts: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 1 AN0379 group, 1 Defender group, and 6 per-event alerts of the scripting-host rule:
    // rundll32.exe is a scripting host, and the fixture has 6 outbound rundll32 connections to
    // mail ports (the 3 beacons and the 3 to loopback; `grep rundll32 | grep -v 8080 | grep -c
    // '"Initiated": "true"'` = 6; the 3 inbound ones have a remote port of 4000x). And 3 of the
    // browser rule: the Defender file's 3 chrome.exe connections to IMAPS 993 (`grep -c
    // ',993,.*chrome' python_smtp.csv` = 3), which the Defender query allows by name.
    assert_eq!(alerts.len(), 11, "{out}");
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a["rule_name"] == "an0379_browser_mail_port")
            .count(),
        3
    );
    let scripting = alerts
        .iter()
        .filter(|a| a["rule_name"] == "an0379_scripting_host_mail")
        .count();
    assert_eq!(scripting, 6);
    let a = alerts
        .iter()
        .find(|a| a["rule_name"] == "an0379_mail_protocol_unexpected_process")
        .unwrap();
    assert_eq!(a["group"]["host"], "WS01");
    assert_eq!(a["group"]["protocol"], "SMTP");
    assert_eq!(a["aggregates"]["connections"], 3);
    assert_eq!(a["window_start"], "2026-11-20T10:00:00Z");
    assert_eq!(a["window_end"], "2026-11-20T11:00:00Z");
    assert_eq!(a["analytics"][0], "AN0379");
    assert_eq!(a["events"], 3);
    assert!(a["rule_id"].as_str().unwrap().len() == 36);
    let d = alerts
        .iter()
        .find(|a| a["rule_name"] == "t1071_003_defender_mail_ports")
        .unwrap();
    assert_eq!(d["group"]["remote.port"], 25);
    assert_eq!(d["aggregates"]["first_seen"], "2026-11-20T08:00:01Z");
    // The prefilter skipped the three port-8080 lines unparsed.
    assert!(err.contains("3 skipped unparsed by the prefilter"), "{err}");
    // Full accounting without the prefilter; the same alerts byte for byte.
    let (code, full_out, err) = detc(&[
        "run",
        "rules",
        "--no-prefilter",
        "--events",
        "rules/fixtures/an0379/rundll32_smtp.jsonl",
        "rules/fixtures/t1071_003/python_smtp.csv",
    ]);
    assert_eq!(code, 0);
    assert_eq!(full_out, out);
    assert!(!err.contains("prefilter"), "{err}");
    // Summary on stderr: 19 sysmon rows (18 connections + 1 EventID 1, not applicable) and 9
    // defender rows (one spans two lines; the FileCreated row is not applicable).
    assert!(err.contains("rundll32_smtp.jsonl: schema sysmon"), "{err}");
    assert!(err.contains("python_smtp.csv: schema defender"), "{err}");
    assert!(
        err.contains("28 row(s) read")
            && err.contains("26 event(s), 2 not applicable, 0 bad line(s)"),
        "{err}"
    );
    assert!(err.contains("; 11 alert(s)"), "{err}");
    // Deterministic: the same run prints the same bytes.
    let (_, again, _) = detc(&[
        "run",
        "rules",
        "--events",
        "rules/fixtures/an0379/rundll32_smtp.jsonl",
        "rules/fixtures/t1071_003/python_smtp.csv",
    ]);
    assert_eq!(out, again);
}

#[test]
fn run_table_format() {
    let (code, out, _) = detc(&[
        "run",
        "rules",
        "--events",
        "rules/fixtures/an0382/exfil.jsonl",
        "--format",
        "table",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("rule") && lines[0].contains("aggregates"));
    assert!(lines[1].contains("an0382_external_mail_volume") && lines[1].contains("sent=60000000"));
}

#[test]
fn run_reports_bad_lines_with_location_and_strict_fails() {
    let d = tmp("bad");
    let f = d.join("mixed.jsonl");
    std::fs::write(
        &f,
        "{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00\",\"Image\":\"a.exe\",\"DestinationPort\":\"25\"}\n{oops\n{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00\",\"Image\":\"a.exe\",\"DestinationPort\":\"99999\"}\n",
    )
    .unwrap();
    let p = f.to_string_lossy().into_owned();
    let (code, _, err) = detc(&["run", "rules", "--events", &p]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("{p}:2: bad line: invalid JSON")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:3: bad line: field `DestinationPort` (remote.port): `99999` is not a port"
        )),
        "{err}"
    );
    assert!(
        err.contains("1 event(s), 0 not applicable, 2 bad line(s)"),
        "{err}"
    );
    let (code, out, err) = detc(&["run", "rules", "--events", &p, "--strict"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains(":2: malformed line"), "{err}");
}

#[test]
fn run_input_errors_exit_2_with_one_message() {
    for (args, needle) in [
        (vec!["--events", "no/such/file.jsonl"], "cannot open"),
        (vec!["--events", env!("CARGO_BIN_EXE_detc")], "binary file"),
        (
            vec![
                "--events",
                "rules/fixtures/an0382/exfil.jsonl",
                "--schema",
                "zeek",
            ],
            "unknown input schema `zeek`",
        ),
        (
            vec!["--events", "rules/fixtures/realdata/SOURCE.md"],
            "matches no input schema",
        ),
    ] {
        let mut a = vec!["run", "rules"];
        a.extend(args);
        let (code, out, err) = detc(&a);
        assert_eq!(code, 2, "{a:?}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.matches("error[").count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

fn copy_pack(to: &Path) {
    for entry in ["rules/lists.detc", "rules/an0379_scripting_host_mail.detc"] {
        let dst = to.join(Path::new(entry).file_name().unwrap());
        std::fs::copy(entry, dst).unwrap();
    }
    let lists = to.join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    for f in std::fs::read_dir("rules/lists").unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, lists.join(f.file_name().unwrap())).unwrap();
    }
    let fx = to.join("fixtures/realdata");
    std::fs::create_dir_all(&fx).unwrap();
    std::fs::copy(
        "rules/fixtures/realdata/covenant_psremoting_grunt.jsonl",
        fx.join("covenant_psremoting_grunt.jsonl"),
    )
    .unwrap();
}

#[test]
fn test_command_passes_on_the_pack_and_fails_with_a_diff() {
    let (code, out, err) = detc(&["test", "rules"]);
    assert_eq!(code, 0, "{out}{err}");
    // As many tests as the rule files declare (counted from the text, independently of detc).
    let declared: usize = std::fs::read_dir("rules")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "detc"))
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .filter(|l| l.trim_start().starts_with("test \""))
                .count()
        })
        .sum();
    assert!(declared >= 14, "the pack declares {declared} tests");
    assert!(
        out.contains(&format!("{declared} test(s): {declared} passed, 0 failed")),
        "{out}"
    );

    // A broken expectation in a copy of one rule: exit 1, a diff of expected vs actual.
    let d = tmp("failing");
    copy_pack(&d);
    let rule = d.join("an0379_scripting_host_mail.detc");
    let text = std::fs::read_to_string(&rule).unwrap().replace(
        "expect 1 alert { host: \"WS02\", process.name: \"PowerShell.exe\", remote.port: 587 }",
        "expect 2 alerts { host: \"WS03\", process.name: \"PowerShell.exe\", remote.port: 587 }",
    );
    std::fs::write(&rule, text).unwrap();
    let junit = d.join("report.xml");
    let dir = d.to_string_lossy().into_owned();
    let (code, out, err) = detc(&["test", &dir, "--junit", &junit.to_string_lossy()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("FAILED  an0379_scripting_host_mail :: powershell sends mail"),
        "{out}"
    );
    assert!(out.contains("expected 2 alert(s), got 1"), "{out}");
    assert!(
        out.contains("\n-2 alert(s)\n") && out.contains("\n+1 alert(s)\n"),
        "{out}"
    );
    assert!(out.contains("-alert { host: \"WS03\""), "{out}");
    assert!(out.contains("+alert { host: \"WS02\""), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
    assert!(xml.contains("&quot;WS03&quot;"), "{xml}");
    // JSON output carries the same verdicts.
    let (code, out, _) = detc(&["test", &dir, "--format", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["failed"], 1);
    assert_eq!(v["passed"], 2);
}

#[test]
fn run_caps_lines_and_reads_a_file_given_twice_once() {
    let d = tmp("maxline");
    let line = "{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00\",\"Image\":\"a.exe\",\"DestinationPort\":25}\n";
    let text = format!("{line}{{\"Message\":\"{}\"}}\n{line}", "x".repeat(5000));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    let p = d.join("e.jsonl.gz");
    std::fs::write(&p, gz.finish().unwrap()).unwrap();
    let ps = p.to_string_lossy().into_owned();
    let (code, _, err) = detc(&["run", "rules", "--max-line", "1K", "--events", &ps, &ps]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("{ps}:2: bad line: line longer than 1024 bytes")),
        "{err}"
    );
    assert!(
        err.contains(&format!("`{ps}` is the same file as `{ps}`: read once")),
        "{err}"
    );
    assert!(err.contains("3 row(s) read"), "{err}");
    // Blocks smaller than the line and than the cap (the reader grows a block up to the cap,
    // then skips the rest of the line unbuffered): the same accounting.
    for block in ["64", "1023", "1025", "4096"] {
        let (code, _, err) = detc(&[
            "run",
            "rules",
            "--max-line",
            "1K",
            "--block-bytes",
            block,
            "--events",
            &ps,
        ]);
        assert_eq!(code, 0, "{block}: {err}");
        assert!(
            err.contains(&format!("{ps}:2: bad line: line longer than 1024 bytes")),
            "{block}: {err}"
        );
        assert!(err.contains("3 row(s) read"), "{block}: {err}");
        assert!(err.contains("1 bad line(s)"), "{block}: {err}");
    }
    // The default cap reads the line (and finds it is not an event).
    let (code, _, err) = detc(&["run", "rules", "--events", &ps]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("longer than"), "{err}");
    for bad in ["0", "12X", "-5"] {
        let opt = format!("--max-line={bad}");
        let (code, _, err) = detc(&["run", "rules", &opt, "--events", &ps]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("is not a size"), "{bad}: {err}");
    }
}

#[test]
fn run_reports_late_events_and_caps_live_groups() {
    let d = tmp("late");
    let line = |h: u32, m: u32| {
        format!(
            r#"{{"EventID": 3, "UtcTime": "2026-11-20 {h:02}:{m:02}:00.000", "Hostname": "WS01", "User": "CORP\\alice", "Image": "C:\\Windows\\System32\\rundll32.exe", "Initiated": "true", "DestinationIp": "93.184.216.34", "DestinationPort": "25"}}"#
        )
    };
    let mut lines: Vec<String> = (0..12).flat_map(|h| [line(h, 10), line(h, 20)]).collect();
    lines.push(line(0, 30)); // hours after its window ended
    let p = d.join("late.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let p = p.to_str().unwrap();
    let rules = [
        "run",
        "rules/lists.detc",
        "rules/an0379_mail_protocol_unexpected_process.detc",
        "--events",
        p,
    ];
    let small = ["--block-bytes", "1024", "--release-every", "1"];
    let (code, out, err) = detc(&[&rules[..], &small, &["--allowed-lateness", "1h"]].concat());
    assert_eq!(code, 0, "{err}");
    // Two events per hour: no group reaches 3, and the late one does not make a third.
    assert_eq!(out, "");
    assert!(
        err.contains(&format!(
            "{p}:25: late event: its window of rule `an0379_mail_protocol_unexpected_process` was already released (allowed lateness 1h); not counted"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{p}: 1 late event(s) not counted")),
        "{err}"
    );
    assert!(err.contains("1 late event(s) not counted"), "{err}");
    // Unbounded: counted, so hour 0 has three connections and alerts.
    let (code, out, err) =
        detc(&[&rules[..], &small, &["--allowed-lateness", "unbounded"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("\"window_start\":\"2026-11-20T00:00:00Z\""),
        "{out}"
    );
    assert!(!err.contains("late event"), "{err}");
    // The cap: an error, exit 2, not an abort.
    let (code, _, err) = detc(&[&rules[..], &["--max-groups", "1"]].concat());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error[E0806]: more than 1 aggregation groups"),
        "{err}"
    );
    // A bad duration is a usage error.
    let (code, _, err) = detc(&[&rules[..], &["--allowed-lateness", "6x"]].concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allowed-lateness"), "{err}");
}

/// `--schema NAME` reads every file as that schema's one source: the pack's rules of other
/// sources and its correlation (process_creation then network_connection) are not run, each
/// listed with the reason in the text and the JSON summary, and the rules the schema serves
/// alert as without the schema.
#[test]
fn run_with_a_schema_skips_other_sources_and_the_correlation_by_name() {
    let ev = "rules/fixtures/an0379/rundll32_smtp.jsonl";
    let (code, plain, _) = detc(&["run", "rules", "--events", ev]);
    assert_eq!(code, 0);
    let (code, out, err) = detc(&["run", "rules", "--schema", "sysmon", "--events", ev]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, plain, "the network_connection rules alert alike");
    assert!(!out.is_empty());
    assert!(
        err.contains(
            "rule `an0379_process_start_then_mail_port` skipped: it correlates process_creation and network_connection; schema `sysmon` gives network_connection events only"
        ),
        "{err}"
    );
    assert!(
        err.contains("rule `an0379_script_command_line_mail` skipped: it reads process_creation; schema `sysmon` gives network_connection events"),
        "{err}"
    );
    assert!(
        !err.contains("rule `an0379_scripting_host_mail` skipped"),
        "{err}"
    );
    let (code, _, err) = detc(&[
        "run",
        "rules",
        "--schema",
        "sysmon",
        "--summary",
        "json",
        "--events",
        ev,
    ]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    let skipped: Vec<&str> = s["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["rule"].as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&"an0379_process_start_then_mail_port"),
        "{skipped:?}"
    );
    assert!(
        !skipped.contains(&"an0379_scripting_host_mail"),
        "{skipped:?}"
    );
    assert!(s["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("schema `sysmon`"));
    assert_eq!(s["alerts"].as_u64(), Some(plain.lines().count() as u64));
}

/// A correlation whose every step reads the schema's source runs through `--schema` (its rows
/// read through that schema alone, undetected) and alerts as without it.
#[test]
fn run_with_a_schema_runs_a_correlation_of_that_source() {
    let d = tmp("corr-one-source");
    std::fs::write(
        d.join("two_ports.detc"),
        r#"rule smtp_then_imap {
  id "0b6f2a8e-3c1d-4e5f-9a7b-1c2d3e4f5a6b"
  title "SMTP then IMAP from one process"
  severity low
  correlate within 1m by host, process.id ordered {
    smtp: network_connection where remote.port == 25
    imap: network_connection where remote.port == 993
  }
}
"#,
    )
    .unwrap();
    let line = |t: &str, port: &str| {
        format!(
            r#"{{"EventID": 3, "Channel": "Microsoft-Windows-Sysmon/Operational", "UtcTime": "2026-11-20 10:00:{t}.000", "Hostname": "WS01", "ProcessId": "77", "Image": "C:\\x.exe", "Initiated": "true", "Protocol": "tcp", "SourceIp": "10.0.0.5", "SourcePort": "50000", "DestinationIp": "203.0.113.7", "DestinationPort": "{port}"}}"#
        )
    };
    let ev = d.join("ev.jsonl");
    std::fs::write(
        &ev,
        format!("{}\n{}\n", line("00", "25"), line("30", "993")),
    )
    .unwrap();
    let rules = d.join("two_ports.detc");
    let args = |schema: bool| {
        let mut a = vec![
            "run",
            rules.to_str().unwrap(),
            "--events",
            ev.to_str().unwrap(),
        ];
        if schema {
            a.extend(["--schema", "sysmon"]);
        }
        detc(&a)
    };
    let (code, plain, err) = args(false);
    assert_eq!(code, 0, "{err}");
    assert_eq!(plain.lines().count(), 1, "{plain}");
    let (code, forced, err) = args(true);
    assert_eq!(code, 0, "{err}");
    assert_eq!(forced, plain);
    assert!(!err.contains("skipped:"), "{err}");
}

/// `detc run` writes each alert's JSON line straight from its encoding (issue 15, point 3),
/// except for rules with `suppress`, whose alerts are decoded to be suppressed. Both give the
/// text serde_json writes for the alerts the library returns, in the same order, on a pack whose
/// suppressing rule sits between two that do not (alerts of all three interleave in the merge),
/// with values that need escaping (a quote and a backslash in a host name).
#[test]
fn run_json_lines_are_the_alerts_serialized_with_suppression_between() {
    let d = tmp("json-suppress");
    let rule = |id: char, name: &str, tail: &str| {
        format!(
            "rule {name} {{\n  id \"00000000-0000-4000-8000-00000000000{id}\"\n  title \"T\"\n  \
             description \"D\"\n  author \"A\"\n  date \"2026-12-03\"\n  status experimental\n  \
             severity low\n  confidence low\n\n  source network_connection\n  \
             where remote.port == 25\n{tail}}}\n"
        )
    };
    let agg = "  window 1h\n  group by host\n  aggregate n = count()\n  having n >= 1\n";
    let pack = [
        rule('a', "a_counts", agg),
        rule(
            'b',
            "b_suppressed",
            &format!("{agg}  suppress 4h by host\n"),
        ),
        rule('c', "c_each", ""),
    ]
    .concat();
    let rules = d.join("pack.detc");
    std::fs::write(&rules, &pack).unwrap();
    let lines: Vec<String> = crate::eval_lateness::events()
        .into_iter()
        .map(|(_, l)| l.replace("\"WS0", "\"W\\\"S\\\\0"))
        .collect();
    let events = d.join("events.jsonl");
    crate::eval_lateness::write(&events, &lines);
    let (code, out, err) = detc(&[
        "run",
        rules.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let files = detc::load::load_sources(std::slice::from_ref(&rules)).unwrap();
    let pack = detc::frontend(&files).pack.unwrap().rules;
    let lib = detc::eval::run::run_files(&pack, &[events], &Default::default()).unwrap();
    let want: String = lib
        .alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap() + "\n")
        .collect();
    assert_eq!(out, want);
    let count = |name: &str| lib.alerts.iter().filter(|a| a.rule_name == name).count();
    // Suppression dropped alerts of its rule only; every rule has alerts, with escapes.
    assert!(count("b_suppressed") > 0 && count("b_suppressed") < count("a_counts"));
    assert!(count("c_each") > count("a_counts"));
    assert!(
        out.contains(r#""host":"W\"S\\0"#),
        "{}",
        &out[..300.min(out.len())]
    );
}

/// Text read from the input reaches the human output escaped, never as the characters a
/// terminal acts on: a bad line's reason (a value it names), a file's name, a group's value in
/// `--format table`, the `--strict` error, and `detc test`'s diff and note. Before, an ESC, a C1
/// CSI (U+009B) or a bidi override (U+202E) in any of them reached the terminal raw. And a log
/// line `{"detc.bad_line":"\u001b[2J..."}` no longer passes for the bad-line marker the audit
/// converter writes: before, its own words were the reason, and they cleared the screen.
#[test]
fn input_text_reaches_the_terminal_escaped() {
    let d = tmp("escaped");
    let rule = d.join("r.detc");
    std::fs::write(
        &rule,
        "rule per_host {\n  id \"0b5f3c2e-6a1d-4c8e-9f27-3d4e5a6b7c8d\"\n  title \"Per host\"\n  description \"Connections per host.\"\n  author \"detc tests\"\n  date \"2026-12-05\"\n  status experimental\n  severity low\n  confidence low\n  source network_connection\n  where direction == outbound\n  window 1h\n  group by host\n  aggregate n = count()\n  having n >= 1\n}\n",
    )
    .unwrap();
    let f = d.join("logs\u{1b}[2J\u{9b}31m\u{202e}.jsonl");
    let ok = |host: &str| {
        format!(
            "{{\"EventID\":3,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"UtcTime\":\"2026-11-20 10:00:00\",\"Hostname\":\"{host}\",\"Initiated\":\"true\",\"DestinationIp\":\"203.0.113.9\",\"DestinationPort\":\"25\"}}\n"
        )
    };
    let mut text = ok("ws1\\u001b[31mred\\u009b\\u202e");
    text.push_str("{\"EventID\":3,\"UtcTime\":\"\\u001b[1m2026-11-20 10:00:01\",\"Hostname\":\"ws2\",\"Initiated\":\"true\"}\n");
    text.push_str("{\"detc.bad_line\":\"\\u001b[2J\\u001b[Hall clear \\u009b2J \\u202e\"}\n");
    std::fs::write(&f, text).unwrap();
    let (r, p) = (rule.to_string_lossy(), f.to_string_lossy());
    let acts = |s: &str| {
        s.chars()
            .any(|c| c == '\u{1b}' || c == '\u{9b}' || c == '\u{202e}')
    };
    for format in ["json", "table"] {
        let (code, out, err) = detc(&["run", &r, "--events", &p, "--format", format]);
        assert_eq!(code, 0, "{err}");
        assert!(!acts(&err), "{err:?}");
        assert!(err.contains(":2: bad line: field `UtcTime`"), "{err}");
        assert!(err.contains("`\\u{1b}[1m2026-11-20 10:00:01`"), "{err}");
        assert!(
            err.contains("logs\\u{1b}[2J\\u{9b}31m\\u{202e}.jsonl:2: bad line"),
            "{err}"
        );
        // The marker-like line is a line of the input like any other: no EventID, so not
        // an event of the schema, and its words are nowhere.
        assert!(err.contains("1 not applicable, 1 bad line(s)"), "{err}");
        assert!(!err.contains("Hall clear"), "{err}");
        if format == "table" {
            assert!(!acts(&out), "{out:?}");
            // The value as `kv` quotes it (JSON's `\u001b`), the rest as `shown` shows it.
            assert!(
                out.contains("host=\"ws1\\u001b[31mred\\u{9b}\\u{202e}\""),
                "{out}"
            );
        } else {
            // JSON escapes by its own rules: the value is the host as written.
            let a: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
            assert_eq!(a["group"]["host"], "ws1\u{1b}[31mred\u{9b}\u{202e}");
        }
    }
    let (code, _, err) = detc(&["run", &r, "--events", &p, "--strict"]);
    assert_eq!(code, 2, "{err}");
    assert!(!acts(&err), "{err:?}");
    assert!(err.contains("`\\u{1b}[1m2026-11-20 10:00:01`"), "{err}");
    // `detc test` over the same events: the failed test's diff and its bad-line note.
    std::fs::copy(&f, d.join("fixture.jsonl")).unwrap();
    let mut text = std::fs::read_to_string(&rule).unwrap();
    text.truncate(text.rfind('}').unwrap());
    text.push_str(
        "  test \"quiet\" events \"fixture.jsonl\" schema sysmon\n    expect no alert\n}\n",
    );
    std::fs::write(&rule, text).unwrap();
    let (code, out, err) = detc(&["test", &r]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!acts(&out) && !acts(&err), "{out:?}{err:?}");
    assert!(out.contains("FAILED  per_host :: quiet"), "{out}");
    assert!(out.contains("ws1\\u001b[31mred\\u{9b}\\u{202e}"), "{out}");
    assert!(out.contains("bad line(s) in the fixture"), "{out}");
    assert!(out.contains("`\\u{1b}[1m2026-11-20 10:00:01`"), "{out}");
}
