//! Group keys shared across rules (issue 15, point 3): the rules fed one event share the key of
//! their common `group by` fields (`eval::engine::EventKeys`). A pack of rules grouping by the
//! same fields, by the same fields in another order, by other fields whose values look alike,
//! over other windows and by a computed field must give each rule the alerts it gives alone,
//! with barriers and releases between every chunk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules::{connection_rule, pack_equals_alone};
use detc::eval::run::RunOptions;
use detc::ir::Rule;
use std::path::PathBuf;

/// Sysmon connections over eight hours, in time order; hosts and users take their values from
/// one set (`x0`..`x4`), so a key made for `host` would also fit a rule grouping by `user`.
fn events() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detc-group-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ips = ["203.0.113.7", "127.0.0.1", "10.1.2.3", "198.51.100.20"];
    let ports = ["25", "587", "110", "443"];
    let mut text = String::new();
    for i in 0..800u32 {
        text.push_str(&format!(
            "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 {:02}:{:02}:{:02}\",\"Computer\":\"x{}\",\"User\":\"x{}\",\"Image\":\"C:\\\\Windows\\\\p{}.exe\",\"Initiated\":\"{}\",\"Protocol\":\"tcp\",\"DestinationIp\":\"{}\",\"DestinationPort\":{}}}\n",
            i / 100,
            (i * 7) % 60,
            (i * 13) % 60,
            i % 5,
            i % 3,
            i % 4,
            if i % 7 == 0 { "false" } else { "true" },
            ips[((i / 4) % 4) as usize],
            ports[((i / 3) % 4) as usize],
        ));
    }
    let p = dir.join("keys.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

fn rule(name: &str, n: u32, body: &str) -> Rule {
    connection_rule(name, "6b6b6b6b", n, body)
}

fn rules() -> Vec<Rule> {
    vec![
        rule(
            "host_count",
            1,
            "  where remote.port in [25, 587, 110, 443]\n  window 1h\n  group by host\n  aggregate connections = count()\n  having connections >= 2",
        ),
        // The same grouping, another filter and other aggregates.
        rule(
            "host_distinct_max",
            2,
            "  where direction == outbound\n  window 1h\n  group by host\n  aggregate connections = count(), destinations = distinct(remote.ip), last_seen = max(time)\n  having destinations >= 2",
        ),
        // The same grouping over another window.
        rule(
            "host_2h",
            3,
            "  where direction == outbound\n  window 2h\n  group by host\n  aggregate connections = count()",
        ),
        // Other fields with values alike: must not take the `host` key.
        rule(
            "user_count",
            4,
            "  where remote.port in [25, 587, 110, 443]\n  window 1h\n  group by user\n  aggregate connections = count()",
        ),
        // Two fields, in both orders.
        rule(
            "host_user",
            5,
            "  where not remote.ip is loopback\n  window 1h\n  group by host, user\n  aggregate connections = count(), destinations = distinct(remote.ip)",
        ),
        rule(
            "user_host",
            6,
            "  where not remote.ip is loopback\n  window 1h\n  group by user, host\n  aggregate destinations = distinct(remote.ip), connections = count()",
        ),
        // A computed key (never shared) beside the event fields.
        rule(
            "computed_key",
            7,
            "  where direction == outbound\n  let proto = case remote.port in [25, 587] => \"smtp\",\n    else => \"other\"\n  window 1h\n  group by proto, host\n  aggregate connections = count()",
        ),
        // No aggregation, between the others.
        rule("plain", 8, "  where remote.port == 25 and process.name == \"p1.exe\""),
    ]
}

#[test]
fn rules_grouping_alike_share_keys_without_mixing_groups() {
    let f = events();
    let rules = rules();
    for threads in [1, 3] {
        for lateness in [Some(1800), None] {
            let opts = RunOptions {
                threads,
                lateness,
                // A barrier (merge, release) after every chunk of about ten lines.
                block: 1024,
                release_every: 1,
                alert_buffer: 7,
                ..RunOptions::default()
            };
            let pack = pack_equals_alone(&rules, &f, &opts);
            // Not vacuous: every rule fires.
            for r in &rules {
                let n = pack.alerts.iter().filter(|a| a.rule_name == r.name).count();
                assert!(n > 0, "{}: no alert (threads {threads})", r.name);
            }
        }
    }
}
