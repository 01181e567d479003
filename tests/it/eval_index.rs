//! Rules indexed by a port they are pinned to (issue 15, point 3): a pack run tests each event
//! only against the rules its port may match, and gives every rule the alerts and match count it
//! has when run alone (one rule: no index), whatever the rule's filter shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules::{connection_rule, pack_equals_alone};
use detc::eval::run::RunOptions;
use detc::ir::Rule;
use std::path::PathBuf;

/// Sysmon connections over six hours on mail and other ports, some without a port.
fn events() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detc-index-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let images = [
        r"C:\\Windows\\System32\\wscript.exe",
        r"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        r"C:\\Users\\u\\evil.exe",
    ];
    let ports = ["25", "587", "993", "110", "443", "\"25\"", "null", "80"];
    let mut text = String::new();
    for i in 0..480u32 {
        text.push_str(&format!(
            "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 {:02}:{:02}:{:02}\",\"Computer\":\"h{}\",\"User\":\"u{}\",\"Image\":\"{}\",\"Initiated\":\"{}\",\"Protocol\":\"tcp\",\"DestinationIp\":\"203.0.113.{}\",\"DestinationPort\":{}}}\n",
            i / 80,
            (i * 7) % 60,
            (i * 13) % 60,
            i % 5,
            i % 3,
            images[(i % 3) as usize],
            if i % 7 == 0 { "false" } else { "true" },
            i % 50,
            ports[(i % 8) as usize],
        ));
    }
    let p = dir.join("index.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

fn rule(name: &str, n: u32, body: &str) -> Rule {
    connection_rule(name, "6c6c6c6c", n, body)
}

/// Pinned by `==`, by `in`, twice, to a port no event has, and not pinned at all (`or`, `not`,
/// no port test): only some of them can be indexed.
fn rules() -> Vec<Rule> {
    vec![
        rule("pin_eq", 1, "  where remote.port == 25"),
        rule(
            "pin_in_agg",
            2,
            "  where remote.port in [587, 993] and direction == outbound\n  window 1h\n  group by host\n  aggregate connections = count()",
        ),
        rule(
            "pin_twice",
            3,
            "  where remote.port in [25, 110] and remote.port == 110 and process.name =~ \"chrome.exe\"",
        ),
        rule("pin_none", 4, "  where remote.port == 9999"),
        rule(
            "free_or",
            5,
            "  where remote.port == 110 or process.name =~ \"evil.exe\"",
        ),
        rule("free_not", 6, "  where not remote.port == 25 and direction == outbound"),
        rule(
            "free_agg",
            7,
            "  where direction == outbound\n  window 1h\n  group by remote.port\n  aggregate connections = count()",
        ),
        rule("pin_empty_list", 8, "  where remote.port in [443] and remote.port in [80]"),
    ]
}

/// Runs `rules` as a pack and each alone, at 1 and 2 threads: same alerts and match counts;
/// each of `fire` has alerts.
fn pack_and_alone(rules: &[Rule], fire: &[&str]) {
    let f = events();
    for threads in [1, 2] {
        let opts = RunOptions {
            threads,
            block: 4096,
            ..RunOptions::default()
        };
        let pack = pack_equals_alone(rules, &f, &opts);
        // Not vacuous: the pinned, the unpinned and the aggregating rules all fire.
        for name in fire {
            assert!(
                pack.alerts.iter().any(|a| a.rule_name == *name),
                "{name} has no alert"
            );
        }
    }
}

#[test]
fn a_pack_gives_each_rule_its_own_alerts() {
    pack_and_alone(
        &rules(),
        &[
            "pin_eq",
            "pin_in_agg",
            "pin_twice",
            "free_or",
            "free_not",
            "free_agg",
        ],
    );
}

/// Rules pinned to text (exactly and case-insensitively) and to an enum value: the index is
/// on `process.name` (most rules pin it), probed with the event's name as is and lowered.
#[test]
fn rules_pinned_to_names_and_enums() {
    let rules = vec![
        rule("name_eq", 11, "  where process.name == \"evil.exe\""),
        rule("name_eq_case", 12, "  where process.name == \"Evil.exe\""),
        rule("name_ci", 13, "  where process.name =~ \"EVIL.EXE\" and remote.port == 25"),
        rule(
            "name_in_ci",
            14,
            "  where process.name in~ [\"Chrome.EXE\", \"WScript.exe\"]\n  window 1h\n  group by host\n  aggregate connections = count()",
        ),
        rule(
            "name_in",
            15,
            "  where process.name in [\"chrome.exe\", \"CHROME.EXE\"] and direction == outbound",
        ),
        rule("dir_only", 16, "  where direction == inbound"),
        rule("dir_in", 17, "  where direction in [outbound] and remote.port == 993"),
        rule(
            "free_or",
            18,
            "  where process.name =~ \"evil.exe\" or remote.port == 110",
        ),
    ];
    // The index is on the names (five rules pin one), not on the direction (two) or a port.
    let compiled: Vec<_> = rules
        .iter()
        .map(|r| detc::eval::engine::CompiledRule::new(r).unwrap())
        .collect();
    let lits: Vec<_> = compiled.iter().map(|c| c.literals().len()).collect();
    assert_eq!(lits, [1, 1, 2, 1, 2, 1, 2, 0]);
    pack_and_alone(
        &rules,
        &[
            "name_eq",
            "name_ci",
            "name_in_ci",
            "name_in",
            "dir_only",
            "free_or",
        ],
    );
}
