//! Predicates shared across a pack's rules (issue 15, point 3): a predicate several rules have
//! is evaluated once per event and read by each of them (`eval::shared`). Sharing must never mix
//! rules up: a pack gives every rule exactly the alerts and match count it has alone, when rules
//! repeat a predicate, negate it, reorder it, or have one that differs only in its case, its
//! field, its operands or its list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules::{connection_rule, pack_equals_alone};
use detc::eval::run::RunOptions;
use detc::ir::Rule;
use std::path::PathBuf;

/// Sysmon connections over six hours: process names in two cases, a loopback destination,
/// inbound and outbound, several ports and hosts.
fn events() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detc-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let images = [
        r"C:\\Windows\\System32\\wscript.exe",
        r"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        r"C:\\Program Files\\Google\\Chrome\\Application\\Chrome.EXE",
        r"C:\\Users\\u\\evil.exe",
    ];
    let ips = ["203.0.113.7", "127.0.0.1", "10.1.2.3", "198.51.100.20"];
    let ports = ["25", "587", "110", "443"];
    let mut text = String::new();
    for i in 0..600u32 {
        text.push_str(&format!(
            "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 {:02}:{:02}:{:02}\",\"Computer\":\"h{}\",\"User\":\"u{}\",\"Image\":\"{}\",\"Initiated\":\"{}\",\"Protocol\":\"tcp\",\"DestinationIp\":\"{}\",\"DestinationPort\":{}}}\n",
            i / 100,
            (i * 7) % 60,
            (i * 13) % 60,
            i % 5,
            i % 3,
            images[(i % 4) as usize],
            if i % 7 == 0 { "false" } else { "true" },
            ips[((i / 4) % 4) as usize],
            ports[((i / 3) % 4) as usize],
        ));
    }
    let p = dir.join("shared.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

fn rule(name: &str, n: u32, body: &str) -> Rule {
    connection_rule(name, "5a5a5a5a", n, body)
}

/// Pairs and groups of rules whose predicates are the same, or look alike but are not.
fn rules() -> Vec<Rule> {
    let agg = "\n  window 1h\n  group by host\n  aggregate connections = count()";
    vec![
        // The same two predicates, in both orders, negated, and under `or`.
        rule(
            "out_not_loop",
            1,
            "  where direction == outbound and not remote.ip is loopback",
        ),
        rule(
            "not_loop_out_agg",
            2,
            &format!("  where not remote.ip is loopback and direction == outbound{agg}"),
        ),
        rule(
            "negated",
            3,
            "  where not (direction == outbound and not remote.ip is loopback)",
        ),
        rule(
            "either",
            4,
            "  where direction == outbound or remote.ip is loopback",
        ),
        // Literals under `or` with a negated one first, and under `and` three of them.
        rule(
            "or_of_literals",
            20,
            "  where not direction == outbound or remote.ip is loopback or host == \"h1\"",
        ),
        rule(
            "and_of_three",
            21,
            "  where direction == outbound and not remote.ip is loopback and not host == \"h1\"",
        ),
        // Literals beside a nested node under `and` and under `or` (each literal evaluated in
        // place, the nested node walked), every predicate one of the rules' above.
        rule(
            "and_mixed",
            22,
            "  where direction == outbound and not (process.name in~ [\"wscript.exe\", \"evil.exe\"] and remote.port in [25, 110]) and not remote.ip is loopback",
        ),
        rule(
            "or_mixed",
            23,
            "  where host == \"h1\" or (direction == outbound and remote.port in [25, 587]) or not process.name == \"chrome.exe\"",
        ),
        // The same text but for case: `==` and `=~` on a name that comes in two cases.
        rule("name_exact", 5, "  where process.name == \"chrome.exe\""),
        rule("name_nocase", 6, "  where process.name =~ \"chrome.exe\""),
        // One value on two fields.
        rule("host_h1", 7, "  where host == \"h1\""),
        rule("user_h1", 8, "  where user == \"h1\""),
        // Lists that differ in one member; one port list under `not`.
        rule(
            "list_a",
            9,
            "  where process.name in~ [\"wscript.exe\", \"evil.exe\"] and remote.port in [25, 110]",
        ),
        rule(
            "list_b",
            10,
            "  where process.name in~ [\"wscript.exe\", \"chrome.exe\"] and remote.port in [25, 587]",
        ),
        rule(
            "list_b_not",
            11,
            &format!("  where not remote.port in [25, 587] and process.name in~ [\"wscript.exe\", \"chrome.exe\"]{agg}"),
        ),
        // One operand on two operators, and a computed field built from shared predicates.
        rule("path_starts", 12, "  where process.path startswith~ \"c:\\\\users\""),
        rule("path_contains", 13, "  where process.path contains~ \"c:\\\\users\""),
        rule(
            "with_let",
            14,
            "  where direction == outbound and not remote.ip is loopback\n\n  let kind = case remote.port in [25, 587] => \"smtp\",\n                  else => \"other\"\n  window 1h\n  group by host, kind\n  aggregate connections = count()",
        ),
    ]
}

#[test]
fn a_pack_with_shared_predicates_gives_each_rule_its_own_alerts() {
    let f = events();
    let rules = rules();
    for (threads, prefilter) in [(1, true), (2, true), (2, false)] {
        let opts = RunOptions {
            threads,
            block: 4096,
            prefilter,
            ..RunOptions::default()
        };
        let pack = pack_equals_alone(&rules, &f, &opts);
        // Not vacuous: every rule but `user_h1` (no user is `h1`) fires, and the look-alike
        // pairs fire differently.
        for r in &rules {
            let n = pack.alerts.iter().filter(|a| a.rule_name == r.name).count();
            assert_eq!(n == 0, r.name == "user_h1", "{}: {n} alerts", r.name);
        }
        let count = |name: &str| pack.alerts.iter().filter(|a| a.rule_name == name).count();
        assert!(count("name_exact") < count("name_nocase"));
        assert!(count("path_starts") <= count("path_contains"));
    }
}

/// The pack's 24 predicates are 12 distinct ones (the repeats above), each kept once; the
/// look-alikes (case, field, operands, operator) stay apart.
#[test]
fn repeated_predicates_are_kept_once() {
    use detc::eval::shared::SharedFilters;
    let (compiled, bound) = compiled_and_bound();
    assert_eq!(SharedFilters::new(&compiled, &bound).len(), 12);
}

/// The pack's rules compiled, each bound to the event fields they read (in this order).
const FIELDS: [&str; 8] = [
    "time",
    "direction",
    "remote.ip",
    "remote.port",
    "process.name",
    "process.path",
    "host",
    "user",
];

fn compiled_and_bound() -> (
    Vec<detc::eval::engine::CompiledRule>,
    Vec<(usize, detc::eval::engine::Binding)>,
) {
    use detc::eval::engine::CompiledRule;
    let compiled: Vec<CompiledRule> = rules()
        .iter()
        .map(|r| CompiledRule::new(r).unwrap())
        .collect();
    let bound = compiled
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.bind(&FIELDS)))
        .collect();
    (compiled, bound)
}

/// A filter's truth value, remembered for the event at hand, is the rule's own on every event:
/// each rule asked twice, in two orders (a filter first decided inside another's walk, then
/// asked for itself), on events one after another with the memo reset between them (a value
/// left from the previous event would show on the next, whose answers differ), against the
/// rule evaluating its filter alone.
#[test]
fn a_filter_remembered_for_an_event_is_the_rules_own() {
    use detc::eval::ops::Cell;
    use detc::eval::shared::{Memo, SharedFilters};
    use detc::ir::Value;
    let (compiled, bound) = compiled_and_bound();
    let shared = SharedFilters::new(&compiled, &bound);
    let ips = ["203.0.113.7", "127.0.0.1", "10.1.2.3"];
    let procs = ["wscript.exe", "chrome.exe", "Chrome.EXE", "evil.exe"];
    let mut memo = Memo::new();
    let mut asked = 0;
    for i in 0..96usize {
        // Every fifth event lacks its direction, every seventh its port.
        let values: Vec<Option<Value>> = vec![
            Some(Value::Timestamp(1_700_000_000 + i as i64)),
            (i % 5 != 4).then(|| Value::Enum(["outbound", "inbound"][i % 2].to_string())),
            Some(Value::Ip(ips[i % 3].parse().unwrap())),
            (i % 7 != 6).then_some(Value::Int([25, 587, 443][i % 3])),
            Some(Value::Str(procs[i % 4].to_string())),
            Some(Value::Str(format!(r"C:\Users\u\{}", procs[(i / 4) % 4]))),
            Some(Value::Str(format!("h{}", i % 3))),
            Some(Value::Str(format!("u{}", i % 2))),
        ];
        let cells: Vec<Option<Cell<'_>>> =
            values.iter().map(|v| v.as_ref().map(Cell::of)).collect();
        shared.reset(&mut memo);
        let order: Vec<usize> = (0..bound.len()).rev().chain(0..bound.len()).collect();
        for pos in order {
            let (c, bind) = (&compiled[pos], &bound[pos].1);
            if let Some(h) = shared.holds(pos, &cells, &mut memo) {
                asked += 1;
                assert_eq!(h, c.holds(&cells, bind), "rule {} event {i}", c.rule.name);
            }
        }
    }
    assert!(asked > 96 * 20, "{asked}");
}
