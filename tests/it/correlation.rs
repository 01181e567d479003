//! Correlation of several events (issue 12 point 4): the test rules of tests/data/correlation/
//! and the pack's AN0379 correlation (rules/)
//! (window edge and one second past it, out of order, ordered and not) pass on the evaluator;
//! `detc run` gives the same alerts in any order of the input within the lateness; the state is
//! bounded by the window plus the lateness; KQL and spl-sysmon emit it, Sigma lowers it to
//! temporal correlation rules (tests/it/sigma_correlate.rs) and spl-cim has no table for its
//! sources (E0901).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::oracle;
use detc::eval::correlate::{CorrState, Correlator};
use detc::eval::run::{run_files, RunOptions};
use detc::eval::Event;
use detc::ir::{Pack, Source, Value};

fn pack() -> Pack {
    crate::support::rules::correlations()
}

#[test]
fn the_correlation_test_rules_pass_at_the_window_edges_and_out_of_order() {
    let p = pack();
    assert_eq!(p.rules.len(), 3);
    let loader = crate::support::rules::correlations_loader();
    let outcomes = detc::eval::testing::run_pack(&p, &loader);
    assert!(outcomes.len() >= 19, "{} tests", outcomes.len());
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| format!("{} :: {}: {}\n{}", o.rule, o.test, o.message, o.actual))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn kql_spl_and_sigma_emit_a_correlation_and_spl_cim_refuses_it_by_name() {
    let p = pack();
    for r in &p.rules {
        for target in ["kql-defender", "kql-sentinel", "spl-sysmon", "sigma"] {
            let profile = detc::targets::profile(target).expect("profile");
            let out = detc::targets::compile_rule(r, &profile)
                .unwrap_or_else(|e| panic!("{target} {}: {e:#?}", r.name));
            // Both steps' tables (or event codes) are read by the one query.
            let both = if target == "sigma" {
                out.text.contains("category: 'process_creation'")
                    && out.text.contains("category: 'network_connection'")
            } else if target == "spl-sysmon" {
                out.text.contains("EventCode=1") && out.text.contains("EventCode=3")
            } else if target == "kql-sentinel" {
                // ASIM's TargetProcessId is decimal text: joined as the number it holds.
                out.text.contains("_Im_ProcessCreate")
                    && out.text.contains("DeviceNetworkEvents")
                    && out.text.contains("process_id = tolong(TargetProcessId)")
            } else {
                out.text.contains("DeviceProcessEvents") && out.text.contains("DeviceNetworkEvents")
            };
            assert!(both, "{target} {}:\n{}", r.name, out.text);
        }
        // spl-cim has no table for raw connection events (E0901), its Endpoint.Processes is a
        // tstats search, not events (E0917), and holds process ids as strings (E0916).
        {
            let target = "spl-cim";
            let profile = detc::targets::profile(target).expect("profile");
            let errs = detc::targets::compile_rule(r, &profile).expect_err(&r.name);
            for code in ["E0901", "E0916", "E0917"] {
                assert!(
                    errs.iter().any(|e| e.code == code
                        && e.message.contains(&format!("rule `{}`", r.name))
                        && e.message.contains(&format!("target `{target}`"))),
                    "{target} {}: no {code} in {errs:#?}",
                    r.name
                );
            }
        }
    }
}

/// One Sysmon line: EventID 1 (a PowerShell start) or 3 (its SMTP connection) of `pid` on WS01 at
/// `t` seconds past 10:00:00.
fn line(event_id: u8, pid: u32, t: u32) -> String {
    let (h, m, s) = (10 + t / 3600, (t / 60) % 60, t % 60);
    let common = format!(
        r#""EventID": {event_id}, "Channel": "Microsoft-Windows-Sysmon/Operational", "UtcTime": "2026-11-20 {h:02}:{m:02}:{s:02}.000", "Hostname": "WS01", "ProcessId": "{pid}", "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe""#
    );
    if event_id == 1 {
        format!(r#"{{{common}, "CommandLine": "powershell.exe -c x"}}"#)
    } else {
        format!(
            r#"{{{common}, "Initiated": "true", "Protocol": "tcp", "SourceIp": "10.0.0.5", "SourcePort": "50123", "DestinationIp": "203.0.113.7", "DestinationPort": "587"}}"#
        )
    }
}

fn run_lines(lines: &[String], name: &str) -> Vec<detc::eval::Alert> {
    let dir = std::env::temp_dir().join(format!("detc-corr-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("sysmon.jsonl");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let p = pack();
    let opts = RunOptions {
        threads: 1,
        ..RunOptions::default()
    };
    let out = run_files(&p.rules, &[f], &opts).expect("run");
    std::fs::remove_dir_all(&dir).ok();
    out.alerts
}

#[test]
fn a_pack_with_a_correlation_gives_the_same_run_with_any_number_of_threads() {
    // With more than one thread the correlation's pass runs beside the one-source rules' pass
    // (eval::run::run_files_streamed): its alerts, its matched count and its late events must
    // join the run's as when it ran after it, on one thread.
    // A connection first: the file is then the network schema's for the pack's one-source
    // rules (a process start first would make it both schemas', an error for a mixed pack).
    let mut lines = vec![line(3, 1, 0)];
    for i in 0..40u32 {
        let start = i * 90;
        lines.push(line(1, 1000 + i, start));
        lines.push(line(3, 1000 + i, start + [0, 60, 61][(i % 3) as usize]));
    }
    // An hour behind the watermark with a lateness of ten minutes: late for the correlation.
    lines.push(line(1, 9999, 0));
    let dir = std::env::temp_dir().join(format!("detc-corr-{}-threads", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("sysmon.jsonl");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let p = crate::support::rules::rule_pack();
    let run = |threads| {
        let opts = RunOptions {
            threads,
            lateness: Some(600),
            ..RunOptions::default()
        };
        run_files(&p.rules, std::slice::from_ref(&f), &opts).expect("run")
    };
    let one = run(1);
    let corr = "an0379_process_start_then_mail_port";
    let n_corr = one.alerts.iter().filter(|a| a.rule_name == corr).count();
    assert!(n_corr > 0 && n_corr < one.alerts.len(), "{:#?}", one.alerts);
    assert!(one
        .summary
        .matched_by_rule
        .get(corr)
        .is_some_and(|&n| n > 0));
    assert!(one.summary.late_events > 0, "{:#?}", one.summary);
    for threads in [2, 4] {
        let n = run(threads);
        assert_eq!(n.alerts, one.alerts, "{threads} threads");
        assert_eq!(
            (
                &n.summary.matched_by_rule,
                n.summary.late_events,
                n.summary.alerts,
                n.summary.rows,
                n.summary.events
            ),
            (
                &one.summary.matched_by_rule,
                one.summary.late_events,
                one.summary.alerts,
                one.summary.rows,
                one.summary.events
            ),
            "{threads} threads"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn detc_run_gives_the_same_alerts_in_any_order_within_the_lateness() {
    // 40 processes, each started at 90 s intervals, each connecting 0, 60 (the edge) or 61 s
    // (past it) after its start.
    let mut lines = Vec::new();
    for i in 0..40u32 {
        let start = i * 90;
        lines.push(line(1, 1000 + i, start));
        lines.push(line(3, 1000 + i, start + [0, 60, 61][(i % 3) as usize]));
    }
    let sorted = run_lines(&lines, "sorted");
    // Ordered: offsets 0 and 60 alert (27 of 40), 61 does not; unordered: 0 alerts twice (the
    // start and the connection are both latest), 60 once, 61 never.
    let ordered = sorted
        .iter()
        .filter(|a| a.rule_name == "corr_ordered")
        .count();
    let unordered = sorted
        .iter()
        .filter(|a| a.rule_name == "corr_unordered")
        .count();
    assert_eq!((ordered, unordered), (27, 14 * 2 + 13), "{sorted:#?}");
    // Reversed, then interleaved from both ends: every event at most an hour out of order.
    let mut reversed = lines.clone();
    reversed.reverse();
    assert_eq!(run_lines(&reversed, "reversed"), sorted);
    let mut mixed = Vec::new();
    let (mut a, mut b) = (0, lines.len());
    while a < b {
        mixed.push(lines[a].clone());
        a += 1;
        if a < b {
            b -= 1;
            mixed.push(lines[b].clone());
        }
    }
    assert_eq!(run_lines(&mixed, "mixed"), sorted);
}

fn event(t: i64, pid: i64) -> Event {
    [
        ("time".to_string(), Value::Timestamp(t)),
        ("host".to_string(), Value::Str("WS01".into())),
        ("process.id".to_string(), Value::Int(pid)),
        (
            "process.name".to_string(),
            Value::Str("powershell.exe".into()),
        ),
        ("remote.port".to_string(), Value::Int(587)),
    ]
    .into_iter()
    .collect()
}

#[test]
fn the_state_is_bounded_by_the_window_and_the_lateness() {
    let p = pack();
    let rule = p.rules.iter().find(|r| r.name == "corr_ordered").unwrap();
    // A one-minute window, a lateness of ten minutes: at one event per second (a new process
    // id each time), the events of the last 661 seconds are held, plus at most the 4096 events
    // fed between two sweeps of other keys, whatever the length of the input.
    let c = Correlator::new(rule, 600).unwrap();
    let mut st = CorrState::default();
    for t in 0..100_000i64 {
        c.feed(Source::ProcessCreation, &event(t, t), &mut st);
    }
    assert!(st.peak <= 661 + 4096, "peak {} events held", st.peak);
    assert!(st.peak >= 600, "peak {}: the lateness is held", st.peak);
    // An event older than the lateness is late: counted, not correlated.
    c.feed(Source::NetworkConnection, &event(1_000, 1_000), &mut st);
    assert_eq!(st.late, 1);
    assert!(c.finish(st).is_empty());
}

/// What duckdb-kql (the KQL oracle) can run of a correlation's KQL form, for the lowering that
/// remains (docs/TARGETS.md, "Correlation"): an inner join of two steps on the keys, then the
/// window as two comparisons, keeps a connection exactly one minute after its start and drops
/// one a second later (the IR's inclusive edge); `between (a .. a + 1m)` with an unparenthesised
/// sum does not parse in duckdb-kql 0.x, so a lowering must write the bounds as comparisons (or
/// parenthesise the sum).
#[test]
fn duckdb_kql_runs_an_inner_join_within_the_window() {
    let cols = [
        ("Host", "string"),
        ("Pid", "long"),
        ("EventID", "int"),
        ("Timestamp", "datetime"),
    ];
    let rows = [
        (4242, 1, "10:00:00"),
        (4242, 3, "10:01:00"),
        (4243, 1, "10:00:00"),
        (4243, 3, "10:01:01"),
    ]
    .iter()
    .map(|(pid, id, t)| {
        format!(
            r#"{{"Host": "WS01", "Pid": {pid}, "EventID": {id}, "Timestamp": "2026-11-20T{t}Z"}}"#
        )
    })
    .collect::<Vec<_>>()
    .join("\n");
    let join = "T | where EventID == 1 | join kind=inner (T | where EventID == 3 | project Host, Pid, T2 = Timestamp) on Host, Pid";
    let kql = format!("{join} | where T2 >= Timestamp and T2 <= Timestamp + 1m | project Pid, T2");
    let got = oracle::duckdb_kql("T", &cols, &rows, &kql).expect("duckdb-kql oracle");
    assert_eq!(
        got,
        vec![serde_json::json!({"Pid": 4242, "T2": "2026-11-20T10:01:00Z"})]
    );
    let between = format!("{join} | where T2 between (Timestamp .. Timestamp + 1m)");
    let err = oracle::duckdb_kql("T", &cols, &rows, &between).expect_err("between with a sum");
    assert!(err.contains("KqlSyntaxError"), "{err}");
    let parenthesised =
        format!("{join} | where T2 between (Timestamp .. (Timestamp + 1m)) | project Pid, T2");
    assert_eq!(
        oracle::duckdb_kql("T", &cols, &rows, &parenthesised).expect("duckdb-kql oracle"),
        got
    );
}

/// A key the targets cannot compare as the evaluator does (an address) is E0916 for every KQL
/// and SPL target; steps over spl-cim's tstats data model are E0917; each refusal once (two steps
/// give the same), naming rule and target.
#[test]
fn a_correlation_a_target_cannot_compare_or_search_is_refused_by_name() {
    let files =
        detc::load::load_sources(&[oracle::repo_root().join("tests/data/correlation_refused")])
            .expect("loads");
    let pack = detc::frontend(&files).pack.expect("checks");
    let rule = |n: &str| pack.rules.iter().find(|r| r.name == n).expect(n);
    for target in ["kql-defender", "kql-sentinel", "spl-sysmon"] {
        let profile = detc::targets::profile(target).expect("profile");
        let errs = detc::targets::compile_rule(rule("corr_by_ip"), &profile).expect_err(target);
        assert_eq!(errs.len(), 1, "{target}: {errs:#?}");
        assert_eq!(errs[0].code, "E0916", "{target}: {errs:#?}");
        assert!(
            errs[0].message.contains("`remote.ip`")
                && errs[0].message.contains(&format!("target `{target}`")),
            "{errs:#?}"
        );
    }
    let cim = detc::targets::profile("spl-cim").expect("profile");
    let errs = detc::targets::compile_rule(rule("corr_flows"), &cim).expect_err("spl-cim");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].code, "E0917", "{errs:#?}");
    assert!(errs[0].message.contains("rule `corr_flows`") && errs[0].message.contains("tstats"));
}

/// A Linux correlation reads each step through the Linux entry of every target (one source
/// lookup that applies the platform, `driver::source_entry`): Sigma `product: linux`, Sysmon for
/// Linux in spl-sysmon, Defender's and Sentinel's tables of every platform. A step whose source a
/// target reads on Windows only is refused naming rule, source and platform (E0308).
#[test]
fn a_linux_correlation_reads_the_linux_entries_or_is_refused_by_name() {
    let files =
        detc::load::load_sources(&[oracle::repo_root().join("tests/data/correlation_linux")])
            .expect("loads");
    let pack = detc::frontend(&files).pack.expect("checks");
    let r = &pack.rules[0];
    let text = |t: &str| {
        let p = detc::targets::profile(t).expect("profile");
        detc::targets::compile_rule(r, &p)
            .unwrap_or_else(|e| panic!("{t}: {e:#?}"))
            .text
    };
    let sigma = text("sigma");
    assert_eq!(sigma.matches("product: 'linux'").count(), 2, "{sigma}");
    assert!(!sigma.contains("windows"), "{sigma}");
    let spl = text("spl-sysmon");
    assert!(
        spl.starts_with("sourcetype=\"sysmon:linux\" EventID=1") && !spl.contains("XmlWinEventLog"),
        "{spl}"
    );
    assert!(text("kql-defender").contains("DeviceProcessEvents"));
    // Sentinel reads process starts through ASIM, whose ActingProcessId is decimal text: the
    // join is by the number it holds (`tolong`), both steps keyless where it is no number.
    let sentinel = text("kql-sentinel");
    assert_eq!(
        sentinel
            .matches("process_parent_id = tolong(ActingProcessId)")
            .count(),
        2,
        "{sentinel}"
    );
    assert_eq!(
        sentinel
            .matches("isnotempty(tolong(ActingProcessId))")
            .count(),
        2,
        "{sentinel}"
    );
    let files =
        detc::load::load_sources(&[oracle::repo_root().join("tests/data/correlation_refused")])
            .expect("loads");
    let pack = detc::frontend(&files).pack.expect("checks");
    let mixed = pack
        .rules
        .iter()
        .find(|r| r.name == "corr_linux_connection")
        .expect("rule");
    for t in ["sigma", "spl-sysmon"] {
        let p = detc::targets::profile(t).expect("profile");
        let errs = detc::targets::compile_rule(mixed, &p).expect_err(t);
        assert_eq!(errs.len(), 1, "{t}: {errs:#?}");
        assert_eq!(errs[0].code, "E0308", "{t}: {errs:#?}");
        assert!(
            errs[0].message.contains("rule `corr_linux_connection`")
                && errs[0].message.contains(&format!("target `{t}`"))
                && errs[0]
                    .message
                    .contains("`network_connection` on platform linux"),
            "{errs:#?}"
        );
    }
    let p = detc::targets::profile("kql-defender").expect("profile");
    detc::targets::compile_rule(mixed, &p).unwrap_or_else(|e| panic!("kql-defender: {e:#?}"));
    // Sentinel's tables hold every platform too; ASIM's process id is read as a number.
    let p = detc::targets::profile("kql-sentinel").expect("profile");
    let out = detc::targets::compile_rule(mixed, &p).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(
        out.text.contains("process_id = tolong(TargetProcessId)"),
        "{}",
        out.text
    );
}

/// The events of `events` that meet some step of `c`.
fn st_matched(c: &Correlator, events: &[(Source, Event)]) -> u64 {
    let mut st = CorrState::default();
    for (s, e) in events {
        c.feed(*s, e, &mut st);
    }
    st.matched
}

/// `detc run` feeds a correlation an input schema's cells, skips the lines no step can match
/// and tries a source's schemas only on lines that may hold their keys; the tests' path feeds it
/// whole events read from every line (`read_sources_from` + `correlate::evaluate`). Both give the
/// same alerts and the same step matches over lines with awkward values: empty, missing and
/// `-` keys, an id that is not a number (a bad line), other ports (skipped unparsed), a key
/// written with a `\u` escape, a non-ASCII host, and events out of order; and Defender CSV
/// connections of the same processes with bad values in read and unread columns; with the
/// prefilter on and off.
#[test]
fn detc_run_reads_cells_as_the_event_path_reads_events() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut lines = Vec::new();
    for _ in 0..600 {
        let pid = 1000 + next(12) as u32;
        let t = next(900) as u32;
        let mut l = line(if next(2) == 0 { 1 } else { 3 }, pid, t);
        match next(10) {
            0 => l = l.replace(&format!("\"ProcessId\": \"{pid}\""), "\"ProcessId\": \"\""),
            1 => l = l.replace(&format!("\"ProcessId\": \"{pid}\""), "\"ProcessId\": \"-\""),
            2 => l = l.replace("\"Hostname\": \"WS01\", ", ""),
            3 => {
                l = l.replace(
                    &format!("\"ProcessId\": \"{pid}\""),
                    "\"ProcessId\": \"x1\"",
                )
            }
            4 => l = l.replace("\"587\"", "\"443\""),
            5 => l = l.replace("\"ProcessId\"", "\"\\u0050rocessId\""),
            6 => l = l.replace("WS01", "WS-Ü1"),
            _ => {}
        }
        lines.push(l);
    }
    // Defender connections of the same processes, read from the columns the steps read first
    // (a bad value in another column is found on matching rows only, and those are mapped in
    // full): the SMTP ones meet the `conn` step.
    let mut csv = vec![
        "Timestamp,DeviceName,ActionType,RemoteIP,RemotePort,LocalIP,LocalPort,\
                        Protocol,InitiatingProcessFileName,InitiatingProcessId"
            .to_string(),
    ];
    for _ in 0..400 {
        let pid = 1000 + next(12);
        let t = next(900);
        let port = ["587", "443", "25x", ""][next(4) as usize];
        let local_port = ["50123", "x", ""][next(3) as usize];
        let action = ["ConnectionSuccess", "InboundConnectionAccepted", "Nope"][next(3) as usize];
        let pid = ["", "-", "7e1", &pid.to_string()][next(4) as usize].to_string();
        csv.push(format!(
            "2026-11-20T10:{:02}:{:02}Z,WS01,{action},203.0.113.7,{port},10.0.0.5,{local_port},Tcp,x.exe,{pid}",
            t / 60,
            t % 60
        ));
    }
    let dir = std::env::temp_dir().join(format!("detc-corr-cells-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("sysmon.jsonl");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let g = dir.join("defender.csv");
    std::fs::write(&g, csv.join("\n") + "\n").unwrap();
    let files = [f.clone(), g.clone()];
    let p = pack();
    for prefilter in [true, false] {
        let opts = RunOptions {
            threads: 1,
            prefilter,
            ..RunOptions::default()
        };
        let out = run_files(&p.rules, &files, &opts).expect("run");
        for r in p.rules.iter().filter(|r| r.correlation.is_some()) {
            let c = Correlator::new(r, detc::eval::run::DEFAULT_LATENESS).unwrap();
            let mut events = Vec::new();
            for f in &files {
                detc::eval::run::read_sources_from(
                    f,
                    Box::new(std::fs::File::open(f).unwrap()),
                    &c.sources(),
                    &mut |s, e| events.push((s, e)),
                )
                .unwrap();
            }
            let mut st = CorrState::default();
            for (s, e) in &events {
                c.feed(*s, e, &mut st);
            }
            let want = c.finish(st);
            let got: Vec<_> = out
                .alerts
                .iter()
                .filter(|a| a.rule_name == r.name)
                .cloned()
                .collect();
            assert!(!want.is_empty(), "{}: no alerts to compare", r.name);
            assert_eq!(got, want, "{} (prefilter {prefilter})", r.name);
            assert_eq!(
                out.summary.matched_by_rule.get(&r.name),
                Some(&st_matched(&c, &events)),
                "{}",
                r.name
            );
        }
        assert!(out.summary.prefiltered > 0 || !prefilter);
        assert!(out.summary.bad_lines > 0);
        // Both files were read, each through its schema.
        let schemas: Vec<&str> = out.summary.schemas.values().map(String::as_str).collect();
        assert_eq!(schemas, ["defender", "sysmon, sysmon-process"]);
    }
    std::fs::remove_dir_all(&dir).ok();
}
