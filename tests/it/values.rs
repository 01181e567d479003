//! Comparisons of values (issue 12, points 1 and 2): arithmetic `+ - * /` over numeric fields,
//! aggregates and literals, and a field against another field, end to end: the checker's types
//! (a ratio of two byte counts is a plain number, a port is not an amount), the emitted text of
//! every target (or its named refusal), Microsoft's Kusto.Language on the emitted KQL, and the
//! test rules' own tests. The meaning on every engine is proved by tests/differential.rs
//! (`comparisons_of_values_mean_the_same_on_every_engine`).
// Test code: a failed expectation is meant to panic (the no-unwrap rule is for library code).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::oracle;

use detc::diag::Diagnostic;
use detc::ir::Pack;
use detc::SourceFile;

fn frontend(text: &str) -> (Option<Pack>, Vec<Diagnostic>) {
    let fe = detc::frontend(&[SourceFile {
        path: "t.detc".into(),
        text: text.into(),
    }]);
    (fe.pack, fe.diagnostics)
}

/// A rule of `source` with `body`, checked: the error codes (empty when it checks).
fn codes(source: &str, body: &str) -> Vec<&'static str> {
    let text = format!(
        "rule r {{\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\"\n  title \"t\"\n  severity low\n  source {source}\n{body}\n}}\n"
    );
    let (_, diags) = frontend(&text);
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect()
}

const AGG: &str = "  window 1h\n  group by src.ip\n  aggregate sent = sum(bytes.sent), received = sum(bytes.received), n = count(), longest = max(duration), port = min(dst.port)\n";

#[test]
fn the_issue_examples_check() {
    // The engineer's first try, a parse error before.
    assert_eq!(
        codes("network_flow", "  where bytes.received > bytes.sent"),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes("network_connection", "  where local.port == remote.port"),
        Vec::<&str>::new()
    );
    // `rx / tx > 20` parses now; the names are simply not fields (a located E0220 each).
    assert_eq!(
        codes("network_flow", "  where rx / tx > 20"),
        vec!["E0220", "E0220"]
    );
    for having in [
        "sent > 20 * received",
        "sent / received > 20",
        "sent > received",
    ] {
        assert_eq!(
            codes("network_flow", &format!("{AGG}  having {having}")),
            Vec::<&str>::new(),
            "having {having}"
        );
    }
}

#[test]
fn values_are_typed_as_quantities() {
    let ok = [
        // bytes / bytes is a plain number; bytes * int is bytes; bytes + bytes is bytes.
        "bytes.sent / bytes.received > 20",
        "bytes.sent > 20 * bytes.received",
        "bytes.sent + bytes.received > 1MB",
        "bytes.sent - bytes.received > 1000",
        // durations likewise
        "duration / 2 > 30s",
        "duration * 3 >= 1h",
        "(duration + duration) / duration == 2",
        // ports compare with ports
        "src.port < dst.port",
        "not src.port != dst.port",
    ];
    for w in ok {
        assert_eq!(
            codes("network_flow", &format!("  where {w}")),
            Vec::<&str>::new(),
            "{w}"
        );
    }
    let bad = [
        ("bytes.sent / app.protocol > 2", "E0270"),
        ("bytes.sent > src.ip", "E0270"),
        ("bytes.sent + duration > 100", "E0271"),
        ("bytes.sent * bytes.received > 100", "E0271"),
        ("100 / bytes.sent > 2", "E0271"),
        ("dst.port + bytes.sent > 0", "E0271"),
        ("dst.port - src.port < 10", "E0271"),
        ("bytes.sent + 5 > 1MB", "E0271"),
        ("dst.port > bytes.sent", "E0272"),
        ("bytes.sent / bytes.received > 20MB", "E0272"),
        ("duration > bytes.sent", "E0272"),
        ("2 * 1MB > 1MB + 1MB", "E0273"),
    ];
    for (w, code) in bad {
        assert_eq!(
            codes("network_flow", &format!("  where {w}")),
            vec![code],
            "{w}"
        );
    }
    // In `having`, over aggregates: a count is a number, a sum of bytes is bytes.
    assert_eq!(
        codes("network_flow", &format!("{AGG}  having sent / n > 1MB")),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes("network_flow", &format!("{AGG}  having sent > n")),
        vec!["E0272"]
    );
    assert_eq!(
        codes("network_flow", &format!("{AGG}  having longest / n > port")),
        vec!["E0272"]
    );
    // An event field in `having` and an aggregate in `where` are the usual scope errors.
    assert_eq!(
        codes(
            "network_flow",
            &format!("{AGG}  having sent > bytes.received")
        ),
        vec!["E0251"]
    );
    assert_eq!(
        codes(
            "network_flow",
            &format!("  where bytes.sent > sent.total\n{AGG}")
        ),
        vec!["E0220"]
    );
}

#[test]
fn errors_are_located_and_say_what_was_found_and_expected() {
    let text = "rule r {\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\"\n  title \"t\"\n  severity low\n  source network_flow\n  where bytes.sent > 1 and dst.port > bytes.sent\n}\n";
    let (_, diags) = frontend(text);
    let d = diags.iter().find(|d| d.code == "E0272").expect("an E0272");
    let span = d.span.as_ref().expect("a span");
    assert_eq!((span.line, span.col), (6, 28));
    assert_eq!(
        d.found.as_deref(),
        Some("a port on the left, a byte count on the right")
    );
    assert!(d.expected.is_some() && !d.hints.is_empty());
}

/// The test rules (tests/data/values/), checked and compiled for `target`.
fn compiled(target: &str) -> (Pack, Vec<Result<detc::targets::Emitted, Vec<Diagnostic>>>) {
    let files = detc::load::load_sources(&[oracle::repo_root().join("tests/data/values")])
        .expect("tests/data/values loads");
    let fe = detc::frontend(&files);
    let pack = fe.pack.expect("tests/data/values checks");
    let profile = detc::targets::profile(target).expect("profile");
    let out = pack
        .rules
        .iter()
        .map(|r| detc::targets::compile_rule(r, &profile))
        .collect();
    (pack, out)
}

#[test]
fn sigma_refuses_every_comparison_of_values_by_name() {
    let (pack, out) = compiled("sigma");
    for (rule, res) in pack.rules.iter().zip(out) {
        let errs = res.expect_err(&rule.name);
        // hour() and weekday() are refused for that construct (E0912), before the field `time`
        // that Sigma cannot read (E0902) or the comparison (E0910).
        if rule.name.starts_with("mail_") {
            assert!(
                errs.len() == 1
                    && errs[0].code == "E0912"
                    && errs[0].message.contains(&format!("rule `{}`", rule.name))
                    && errs[0].message.contains("target `sigma`")
                    && errs[0].message.contains("hour or weekday"),
                "{}: {errs:#?}",
                rule.name
            );
            continue;
        }
        assert!(
            errs.iter().any(|d| d.code == "E0910"
                && d.message.contains(&format!("rule `{}`", rule.name))
                && d.message.contains("target `sigma`")
                && d.message.contains("comparison of two values")),
            "{}: {errs:#?}",
            rule.name
        );
    }
}

#[test]
fn spl_cim_refuses_a_comparison_in_the_filter_and_emits_one_in_having() {
    let (pack, out) = compiled("spl-cim");
    let by_name = |n: &str| {
        pack.rules
            .iter()
            .zip(&out)
            .find(|(r, _)| r.name == n)
            .map(|(_, o)| o.clone())
            .expect(n)
    };
    let ratio = by_name("group_ratio_over_20").expect("emitted");
    assert!(
        ratio.text.contains("| where (isnotnull(tonumber(sent)) AND isnotnull(tonumber(received)) AND tonumber(received)!=0 AND (tonumber(sent) / tonumber(received))>20)"),
        "{}",
        ratio.text
    );
    // A filter comparison on a rule tstats must aggregate.
    let text = "rule r {\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\"\n  title \"t\"\n  severity low\n  source network_flow\n  where bytes.sent > bytes.received\n  window 1h\n  aggregate n = count()\n}\n";
    let (pack, _) = frontend(text);
    let profile = detc::targets::profile("spl-cim").expect("profile");
    let errs = detc::targets::compile_rule(&pack.expect("checks").rules[0], &profile)
        .expect_err("refused");
    assert!(
        errs.iter()
            .any(|d| d.code == "E0911" && d.message.contains("rule `r`")),
        "{errs:#?}"
    );
}

#[test]
fn kql_and_spl_compute_in_doubles_behind_a_guard() {
    let (pack, out) = compiled("kql-sentinel");
    let i = pack
        .rules
        .iter()
        .position(|r| r.name == "flow_ratio_over_20")
        .expect("rule");
    let text = &out[i].as_ref().expect("emitted").text;
    assert!(
        text.contains("| where (isnotnull(todouble(SrcBytes)) and isnotnull(todouble(DstBytes)) and todouble(DstBytes) != 0.0 and (todouble(SrcBytes) / todouble(DstBytes)) > 20.0)"),
        "{text}"
    );
    let (pack, out) = compiled("spl-sysmon");
    let i = pack
        .rules
        .iter()
        .position(|r| r.name == "conn_same_ports")
        .expect("rule");
    let text = &out[i].as_ref().expect("emitted").text;
    assert!(
        text.contains("| where (isnotnull(tonumber(local_port)) AND isnotnull(tonumber(remote_port)) AND tonumber(local_port)>=tonumber(remote_port))"),
        "{text}"
    );
}

/// Kusto.Language (Microsoft's parser and analyser) finds nothing in the emitted comparisons,
/// with each profile's tables declared: `todouble` over the columns' types, real literals.
#[test]
fn kusto_language_finds_nothing_in_emitted_comparisons() {
    let mut queries = Vec::new();
    let mut databases = Vec::new();
    for profile in ["kql-defender", "kql-sentinel"] {
        databases.push((
            profile.to_string(),
            oracle::kql_profile_tables(profile).expect("profile tables"),
        ));
        let (pack, out) = compiled(profile);
        for (rule, res) in pack.rules.iter().zip(out) {
            if let Ok(e) = res {
                queries.push((profile.to_string(), rule.name.clone(), e.text));
            }
        }
    }
    assert!(queries.len() >= 6, "{} queries", queries.len());
    let batch: Vec<oracle::KustoQuery<'_>> = queries
        .iter()
        .map(|(db, name, text)| oracle::KustoQuery {
            database: db,
            name,
            text,
        })
        .collect();
    let results = oracle::kusto_check_in(&databases, &batch, true).expect("kusto oracle");
    let bad: Vec<String> = results
        .iter()
        .filter(|(_, d)| !d.is_empty())
        .map(|(n, d)| format!("{n}: {d:?}"))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The test rules' own tests pass on the evaluator (`detc test`): 41 / 2 alerts over 20, 40 / 2
/// does not, a zero or missing divisor never does, `not` is true over an undefined comparison.
#[test]
fn the_test_rules_pass_their_own_tests() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_detc"))
        .args(["test", "tests/data/values"])
        .current_dir(oracle::repo_root())
        .output()
        .expect("detc runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("28 passed, 0 failed"), "{stdout}");
}

/// `hour(time)` and `weekday(time)` (issue 12, point 3): typed, in a declared offset.
#[test]
fn time_functions_are_typed_and_read_a_declared_offset() {
    let ok = |body: &str| codes("network_flow", body);
    let none = Vec::<&str>::new();
    assert_eq!(
        ok("  timezone +02:00\n  where hour(time) < 8 or hour(time) >= 18"),
        none
    );
    assert_eq!(
        ok("  timezone -05:30\n  where weekday(time) in [sat, sun]"),
        none
    );
    assert_eq!(
        ok("  timezone +00:00\n  where weekday(time) not in [sat, sun] and weekday(time) != mon"),
        none
    );
    assert_eq!(
        ok("  timezone +14:00\n  where hour(time) in [0, 1, 2]"),
        none
    );
    assert_eq!(ok("  timezone +02:00\n  where hours(time) < 8"), ["E0274"]);
    assert_eq!(
        ok("  timezone +02:00\n  where hour(dst.port) < 8"),
        ["E0275"]
    );
    assert_eq!(
        ok("  timezone +02:00\n  where weekday(time) > fri"),
        ["E0276"]
    );
    assert_eq!(
        ok("  timezone +02:00\n  where weekday(time) == 6"),
        ["E0276"]
    );
    assert_eq!(
        ok("  timezone +02:00\n  where hour(time) == sat"),
        ["E0272"]
    );
    assert_eq!(
        ok("  timezone +02:00\n  where hour(time) + 1 > 8"),
        ["E0271"]
    );
    assert_eq!(ok("  where hour(time) < 8"), ["E0277"]);
    assert_eq!(ok("  timezone +15:00\n  where hour(time) < 8"), ["E0278"]);
    assert_eq!(ok("  timezone +02:60\n  where hour(time) < 8"), ["E0278"]);
    assert_eq!(
        ok("  timezone +02:00\n  timezone +03:00\n  where hour(time) < 8"),
        ["E0204"]
    );
    // A bad offset is one error, not a second one at each use.
    assert_eq!(
        ok("  timezone -13:00\n  where hour(time) < 8 and weekday(time) == sun"),
        ["E0278"]
    );
}

/// An event whose time is missing or unparsable never reaches `hour(time)`: it is reported as
/// malformed when read, as for every rule (docs/SEMANTICS.md).
#[test]
fn an_event_without_a_time_is_reported_not_matched() {
    let dir = std::env::temp_dir().join(format!("detc-time-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rule = "rule r {\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\"\n  title \"t\"\n  severity low\n  source network_flow\n  timezone +02:00\n  where hour(time) < 24\n}\n";
    std::fs::write(dir.join("r.detc"), rule).expect("rule written");
    let events = concat!(
        "{\"id.orig_h\": \"10.0.0.1\", \"id.orig_p\": 5000, \"id.resp_h\": \"192.0.2.1\", \"id.resp_p\": 25}\n",
        "{\"ts\": \"yesterday\", \"id.orig_h\": \"10.0.0.1\", \"id.orig_p\": 5000, \"id.resp_h\": \"192.0.2.1\", \"id.resp_p\": 25}\n",
        "{\"ts\": 1763963999, \"id.orig_h\": \"10.0.0.1\", \"id.orig_p\": 5000, \"id.resp_h\": \"192.0.2.1\", \"id.resp_p\": 25}\n",
    );
    std::fs::write(dir.join("e.jsonl"), events).expect("events written");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_detc"))
        .args([
            "run",
            "r.detc",
            "--schema",
            "zeek-conn",
            "--events",
            "e.jsonl",
        ])
        .current_dir(&dir)
        .output()
        .expect("detc runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::remove_dir_all(&dir).ok();
    // One alert (the event with a time; every hour is below 24), two bad lines reported.
    assert_eq!(stdout.lines().count(), 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("e.jsonl:1") && stderr.contains("e.jsonl:2"),
        "{stderr}"
    );
}

/// A long chain of operators is a deep tree for every later stage: bounded like a condition's
/// nesting (E0106), never a stack overflow (a 200,000-term sum crashed `detc check` before).
#[test]
fn a_value_is_bounded_in_depth() {
    let sum = |n: usize| vec!["bytes.sent"; n].join(" + ");
    assert_eq!(
        codes("network_flow", &format!("  where {} > 1", sum(32))),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes("network_flow", &format!("  where {} > 1", sum(33))),
        vec!["E0106"]
    );
    assert_eq!(
        codes("network_flow", &format!("  where {} > 1", sum(200_000))),
        vec!["E0106"]
    );
    let parens = |n: usize| format!("{}bytes.sent{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(
        codes("network_flow", &format!("  where {} > 1", parens(30))),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes("network_flow", &format!("  where {} > 1", parens(40))),
        vec!["E0106"]
    );
}
