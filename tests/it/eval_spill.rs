//! Alerts in bounded memory (issue 15, point 3): past the in-memory buffer, sorted runs are
//! spilled to temporary files and merged; the output is the same alert for alert as a run whose
//! alerts all fit, whatever the threads, blocks and releases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules::{hand_rule, pack};
use detc::eval::run::{run_files, RunOptions};
use detc::ir::Rule;
use std::path::PathBuf;

/// Sysmon network connections over 40 hours, out of order within each hour, from processes the
/// pack's rules without aggregation report (script hosts, browsers) and others.
fn events() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detc-spill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let images = [
        r"C:\\Windows\\System32\\wscript.exe",
        r"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        r"C:\\Users\\u\\evil.exe",
        r"C:\\Windows\\System32\\cscript.exe",
    ];
    let mut text = String::new();
    for i in 0..600u32 {
        let (day, hour) = (20 + i / 15 / 24, i / 15 % 24);
        text.push_str(&format!(
            "{{\"EventID\":3,\"UtcTime\":\"2026-11-{day} {hour:02}:{:02}:{:02}\",\"Computer\":\"h{}\",\"User\":\"u{}\",\"Image\":\"{}\",\"Initiated\":\"true\",\"Protocol\":\"tcp\",\"DestinationIp\":\"203.0.113.{}\",\"DestinationPort\":{}}}\n",
            (i * 7) % 60,
            (i * 13) % 60,
            i % 5,
            i % 3,
            images[(i % 4) as usize],
            i % 50,
            [25, 587, 993, 110][(i % 4) as usize],
        ));
    }
    let p = dir.join("s.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

/// The pack plus an aggregating rule matching every connection, so that released windows and
/// the final windows go through the sink too.
fn rules() -> Vec<Rule> {
    let mut rules = pack();
    rules.push(hand_rule(
        "spill_count.detc",
        "spill_count",
        [
            "5b5b5b5b-1111-4222-8333-444455556666",
            "Connections per host and hour",
            "Every connection counted per host and hour. Hand-built test rule.",
            "2026-12-02",
        ],
        "  source network_connection
  where remote.port exists
  window 1h
  group by host
  aggregate connections = count()",
    ));
    rules
}

/// Options that release windows as the run goes (small blocks, a release after each, an hour's
/// lateness), with a sink buffer of `buffer` alerts, on `threads` workers.
fn releasing(buffer: usize, threads: usize) -> RunOptions<'static> {
    RunOptions {
        alert_buffer: buffer,
        threads,
        block: 4096,
        release_every: 1,
        lateness: Some(3600),
        ..RunOptions::default()
    }
}

#[test]
fn spilled_alerts_come_out_as_those_that_fit() {
    let f = events();
    let rules = rules();
    let fits = run_files(&rules, std::slice::from_ref(&f), &RunOptions::default()).unwrap();
    assert_eq!(fits.summary.alert_runs, 0);
    let names: std::collections::BTreeSet<&str> =
        fits.alerts.iter().map(|a| a.rule_name.as_str()).collect();
    assert!(
        names.contains("spill_count") && names.contains("an0379_scripting_host_mail"),
        "{names:?}"
    );
    // More runs than the merge keeps open (a buffer of one alert), or a few runs; windows
    // released as the run goes (small blocks, a release after each); one or several workers.
    for (buffer, threads) in [(1, 3), (7, 1), (50, 2)] {
        let opts = releasing(buffer, threads);
        let spilled = run_files(&rules, std::slice::from_ref(&f), &opts).unwrap();
        let small = run_files(
            &rules,
            std::slice::from_ref(&f),
            &RunOptions {
                alert_buffer: 1 << 20,
                ..opts
            },
        )
        .unwrap();
        assert!(
            spilled.summary.alert_runs >= spilled.alerts.len() / buffer / 2,
            "buffer {buffer}: {} runs for {} alerts",
            spilled.summary.alert_runs,
            spilled.alerts.len()
        );
        assert_eq!(small.summary.alert_runs, 0);
        let json = |a: &[detc::eval::Alert]| serde_json::to_string(a).unwrap();
        assert_eq!(
            json(&spilled.alerts),
            json(&small.alerts),
            "buffer {buffer}"
        );
        assert_eq!(spilled.alerts, small.alerts, "buffer {buffer}");
    }
    // Without releases (unbounded lateness) too, against the default run.
    let spilled = run_files(
        &rules,
        std::slice::from_ref(&f),
        &RunOptions {
            alert_buffer: 3,
            threads: 2,
            block: 4096,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert!(spilled.summary.alert_runs > 0);
    assert_eq!(spilled.alerts, fits.alerts);
    assert_eq!(spilled.summary.alerts, fits.alerts.len());
}

/// `write_json_lines` (the merge on one thread, the text rendered on two others in turn and
/// written in order by a fourth, as `detc run` prints) writes exactly the lines `next_json`
/// appends one by one, which are serde_json's text of the library's alerts: over spilled runs (a
/// buffer of 7 alerts), with enough alerts that the merge hands over several batches to each
/// renderer and reuses them, and with chunks cut at whole lines only, in order.
#[test]
fn json_lines_written_on_a_second_thread_are_those_of_next_json() {
    use detc::eval::run::run_files_streamed;
    let f = events();
    // The same events many times over, and a rule with an alert per event: a few megabytes of
    // alerts (several renderer batches).
    let files: Vec<PathBuf> = (0..12)
        .map(|i| {
            let copy = f.with_file_name(format!("copy-{i}.jsonl"));
            std::fs::copy(&f, &copy).unwrap();
            copy
        })
        .collect();
    let mut rules = rules();
    rules.push(hand_rule(
        "spill_each.detc",
        "spill_each",
        [
            "6c6c6c6c-1111-4222-8333-444455556666",
            "Every connection",
            "An alert per connection. Hand-built test rule.",
            "2026-12-03",
        ],
        "  source network_connection
  where remote.port exists",
    ));
    let opts = RunOptions {
        alert_buffer: 7,
        threads: 2,
        block: 4096,
        ..RunOptions::default()
    };
    let lib = run_files(&rules, &files, &opts).unwrap();
    assert!(lib.summary.alert_runs > 0);
    let want: String = lib
        .alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap() + "\n")
        .collect();
    assert!(want.len() > 2 << 20, "{} bytes of alerts", want.len());
    let mut one_by_one = Vec::new();
    let mut stream = run_files_streamed(&rules, &files, &opts).unwrap();
    while let Some(r) = stream.alerts.next_json(&mut one_by_one) {
        r.unwrap();
    }
    assert_eq!(String::from_utf8(one_by_one).unwrap(), want);
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut stream = run_files_streamed(&rules, &files, &opts).unwrap();
    stream
        .alerts
        .write_json_lines(|b| chunks.push(b.to_vec()))
        .unwrap();
    assert!(chunks.len() > 2, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| c.ends_with(b"\n")));
    assert_eq!(String::from_utf8(chunks.concat()).unwrap(), want);
    // Nothing left after the stream is read.
    assert!(stream.alerts.next_json(&mut Vec::new()).is_none());
}

/// With `RunOptions::early`, the alerts of the rule first in the output's order are written as
/// its windows are released: those lines, then the run's stream, are exactly the lines of the
/// run without early alerts, whatever the threads; past the sink's buffer a release goes to
/// the sink instead (and every later one). No early alert when the first rule does not
/// aggregate, or with `strict`.
#[test]
fn early_alerts_then_the_stream_are_the_lines_of_the_run() {
    use detc::eval::run::run_files_streamed;
    use std::sync::Mutex;
    let f = events();
    let head = |id: &str, clause: &str| {
        hand_rule(
            "early_head.detc",
            "early_head",
            [
                id,
                "Connections per user and hour",
                "First in the output's order. Hand-built test rule.",
                "2026-12-04",
            ],
            clause,
        )
    };
    let counting = "  source network_connection
  where remote.port exists
  window 1h
  group by user
  aggregate connections = count()";
    let first = "00000000-0000-4000-8000-000000000001";
    let lines = |rules: &[Rule], opts: &RunOptions<'_>| -> (String, String, usize) {
        let early = Mutex::new(Vec::new());
        let write = |b: &[u8]| early.lock().unwrap().extend_from_slice(b);
        let opts = RunOptions {
            early: Some(&write),
            schema: opts.schema.clone(),
            ..*opts
        };
        let mut stream = run_files_streamed(rules, std::slice::from_ref(&f), &opts).unwrap();
        let mut rest = Vec::new();
        stream
            .alerts
            .write_json_lines(|b| rest.extend_from_slice(b))
            .unwrap();
        let early = String::from_utf8(early.into_inner().unwrap()).unwrap();
        (
            early,
            String::from_utf8(rest).unwrap(),
            stream.summary.alerts,
        )
    };
    // The run's lines without early alerts.
    let run_lines = |rules: &[Rule], opts: &RunOptions<'_>| -> String {
        run_files(rules, std::slice::from_ref(&f), opts)
            .unwrap()
            .alerts
            .iter()
            .map(|a| serde_json::to_string(a).unwrap() + "\n")
            .collect()
    };
    let mut rules = rules();
    rules.push(head(first, counting));
    for (buffer, threads) in [(1 << 20, 1), (1 << 20, 2), (1 << 20, 3), (1, 2), (3, 1)] {
        let opts = releasing(buffer, threads);
        let want = run_lines(&rules, &opts);
        let (early, rest, n) = lines(&rules, &opts);
        assert_eq!(
            early.clone() + &rest,
            want,
            "buffer {buffer}, {threads} threads"
        );
        assert_eq!(n, want.lines().count());
        assert!(early
            .lines()
            .all(|l| l.contains("\"rule_name\":\"early_head\"")));
        if buffer == 1 << 20 {
            // 40 hours, released an hour behind: most of the head rule's windows early.
            let head_lines = want
                .lines()
                .filter(|l| l.contains("\"early_head\""))
                .count();
            assert!(
                early.lines().count() * 2 > head_lines,
                "buffer {buffer}: {early}"
            );
        } else if buffer == 1 {
            // A release of more than one alert goes to the sink, and every later one.
            assert!(early.lines().count() < 3, "{early}");
        }
        // A first rule without aggregation, or --strict: nothing early.
        let mut filter_first = rules.clone();
        filter_first.push(head(
            "00000000-0000-4000-8000-000000000000",
            "  source network_connection
  where remote.port == 25",
        ));
        let (early, _, _) = lines(&filter_first, &opts);
        assert!(early.is_empty());
        // A correlation first (its alerts sort before the head rule's): nothing early either,
        // and the lines are still the run's.
        let mut corr_first = rules.clone();
        let mut corr = rules
            .iter()
            .find(|r| r.correlation.is_some())
            .expect("the pack's correlation")
            .clone();
        corr.id = "00000000-0000-4000-8000-000000000000".into();
        corr.name = "corr_first".into();
        corr_first.push(corr);
        let (early, rest, _) = lines(&corr_first, &opts);
        assert!(early.is_empty());
        assert_eq!(rest, run_lines(&corr_first, &opts));
        let (early, rest, _) = lines(
            &rules,
            &RunOptions {
                strict: true,
                ..opts
            },
        );
        assert!(early.is_empty());
        assert_eq!(rest, want);
    }
}
