//! The evaluator over abstract events (`detc::eval::try_evaluate`): the normative semantics of
//! src/ir/mod.rs, one behaviour per test, on the pack's rules (rules/).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules;

use detc::eval::engine::{CompiledRule, RuleState};
use detc::eval::Event;

/// The rule's alerts; a rule the evaluator cannot prepare fails the test.
fn evaluate(rule: &detc::ir::Rule, events: Vec<Event>) -> Vec<detc::eval::Alert> {
    detc::eval::try_evaluate(rule, events).unwrap_or_else(|d| panic!("{d:?}"))
}
use detc::ir::Value;
use rules::*;

/// 2026-11-20T10:00:00Z
const T0: i64 = 1_763_632_800;

fn conn(t: i64, host: &str, proc_: &str, port: i64, rip: &str) -> Event {
    event(&[
        ("time", Value::Timestamp(t)),
        ("host", s(host)),
        ("user", s("CORP\\alice")),
        ("process.name", s(proc_)),
        ("remote.ip", ip(rip)),
        ("remote.port", Value::Int(port)),
        ("direction", en("outbound")),
        ("outcome", en("succeeded")),
    ])
}

#[test]
fn an0379_alerts_at_three_with_all_aggregates() {
    let evs = vec![
        conn(T0 + 5, "WS01", "rundll32.exe", 25, "93.184.216.34"),
        conn(T0 + 900, "WS01", "rundll32.exe", 587, "93.184.216.35"),
        conn(T0 + 3599, "WS01", "RUNDLL32.EXE", 25, "93.184.216.34"),
        conn(T0 + 3599, "WS01", "rundll32.exe", 2525, "93.184.216.34"),
    ];
    let alerts = evaluate(&an0379(), evs);
    // process.name is a group key compared as a value: RUNDLL32.EXE is its own group (1 event).
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.aggregates["connections"], Value::Int(3));
    assert_eq!(a.aggregates["destinations"], Value::Int(2));
    assert_eq!(a.aggregates["first_seen"], Value::Timestamp(T0 + 5));
    assert_eq!(a.aggregates["last_seen"], Value::Timestamp(T0 + 3599));
    assert_eq!(a.group["protocol"], s("SMTP"));
    assert_eq!(a.group["process.name"], s("rundll32.exe"));
    assert_eq!(a.window_start.as_deref(), Some("2025-11-20T10:00:00Z"));
    assert_eq!(a.window_end.as_deref(), Some("2025-11-20T11:00:00Z"));
    assert_eq!(a.events, 3);
}

#[test]
fn an0379_near_misses_stay_quiet() {
    let mut evs = Vec::new();
    for i in 0..3 {
        evs.push(conn(T0 + i, "WS01", "rundll32.exe", 8080, "93.184.216.34"));
        // A mail client counts as one only from its install folder (a missing path alerts).
        let mut outlook = conn(T0 + i, "WS01", "OUTLOOK.EXE", 587, "93.184.216.34");
        outlook.insert(
            "process.path".into(),
            s("C:\\PROGRAM FILES\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"),
        );
        evs.push(outlook);
        evs.push(conn(
            T0 + i,
            "MX01",
            "msexchangehmworker.exe",
            25,
            "93.184.216.34",
        ));
        evs.push(conn(T0 + i, "WS01", "rundll32.exe", 25, "127.0.0.1"));
        let mut inbound = conn(T0 + i, "WS02", "rundll32.exe", 25, "93.184.216.34");
        inbound.insert("direction".into(), en("inbound"));
        evs.push(inbound);
    }
    evs.push(conn(T0, "WS03", "rundll32.exe", 25, "93.184.216.34"));
    evs.push(conn(T0 + 1, "WS03", "rundll32.exe", 25, "93.184.216.34"));
    assert_eq!(evaluate(&an0379(), evs), vec![]);
}

#[test]
fn windows_are_epoch_aligned_not_sliding() {
    // Three connections within 3 minutes, straddling 11:00: windows [10,11) and [11,12).
    let evs = vec![
        conn(T0 + 3480, "WS01", "rundll32.exe", 25, "93.184.216.34"),
        conn(T0 + 3599, "WS01", "rundll32.exe", 25, "93.184.216.34"),
        conn(T0 + 3600, "WS01", "rundll32.exe", 25, "93.184.216.34"),
    ];
    assert!(evaluate(&an0379(), evs.clone()).is_empty());
    // The same three inside one window alert.
    let shifted: Vec<Event> = evs
        .into_iter()
        .map(|mut e| {
            if let Some(Value::Timestamp(t)) = e.get("time").cloned() {
                e.insert("time".into(), Value::Timestamp(t - 120));
            }
            e
        })
        .collect();
    assert_eq!(evaluate(&an0379(), shifted).len(), 1);
}

#[test]
fn missing_fields_follow_the_ir() {
    // process.name missing: `not (process.name in~ clients)` is true, so the event matches;
    // the missing key forms its own group ("missing"), absent from the alert's group map.
    let mut evs = Vec::new();
    for i in 0..3 {
        let mut e = conn(T0 + i, "WS01", "x", 25, "93.184.216.34");
        e.remove("process.name");
        evs.push(e);
    }
    let alerts = evaluate(&an0379(), evs);
    assert_eq!(alerts.len(), 1);
    assert!(!alerts[0].group.contains_key("process.name"));
    // An empty string is missing too, and groups with the absent value.
    let mut evs = Vec::new();
    for i in 0..2 {
        let mut e = conn(T0 + i, "WS01", "x", 25, "93.184.216.34");
        e.remove("process.name");
        evs.push(e);
    }
    evs.push(conn(T0 + 2, "WS01", "", 25, "93.184.216.34"));
    assert_eq!(evaluate(&an0379(), evs).len(), 1);
    // direction missing: `direction == outbound` is false.
    let mut evs = Vec::new();
    for i in 0..3 {
        let mut e = conn(T0 + i, "WS01", "rundll32.exe", 25, "93.184.216.34");
        e.remove("direction");
        evs.push(e);
    }
    assert!(evaluate(&an0379(), evs).is_empty());
    // remote.ip missing: `not remote.ip is loopback` is true.
    let mut evs = Vec::new();
    for i in 0..3 {
        let mut e = conn(T0 + i, "WS01", "rundll32.exe", 25, "93.184.216.34");
        e.remove("remote.ip");
        evs.push(e);
    }
    let alerts = evaluate(&an0379(), evs);
    assert_eq!(alerts.len(), 1);
    // distinct counts non-missing values only.
    assert_eq!(alerts[0].aggregates["destinations"], Value::Int(0));
}

#[test]
fn filter_only_rule_alerts_per_event_with_event_fields() {
    let evs = vec![
        conn(T0, "WS02", "PowerShell.EXE", 587, "203.0.113.7"),
        conn(T0 + 1, "WS02", "powershell.exe", 443, "203.0.113.7"),
        conn(T0 + 2, "WS02", "pwsh.exe", 993, "203.0.113.7"),
        conn(T0 + 3, "WS02", "powershell.exe.old", 25, "203.0.113.7"),
    ];
    let alerts = evaluate(&scripting_host_mail(), evs);
    assert_eq!(alerts.len(), 2);
    assert!(alerts
        .iter()
        .all(|a| a.window_start.is_none() && a.events == 1));
    let names: Vec<&Value> = alerts.iter().map(|a| &a.group["process.name"]).collect();
    assert!(names.contains(&&s("PowerShell.EXE")) && names.contains(&&s("pwsh.exe")));
    assert!(alerts.iter().all(|a| a.group.contains_key("time")));
}

fn flow(t: i64, src: &str, dst: &str, port: i64, sent: Option<i64>) -> Event {
    let mut e = event(&[
        ("time", Value::Timestamp(t)),
        ("src.ip", ip(src)),
        ("dst.ip", ip(dst)),
        ("dst.port", Value::Int(port)),
    ]);
    if let Some(b) = sent {
        e.insert("bytes.sent".into(), Value::Int(b));
    }
    e
}

#[test]
fn an0382_sum_threshold_and_relays() {
    let rule = an0382();
    // Exactly 50 MB is not more than 50 MB; one byte more is.
    let at = vec![
        flow(T0, "10.0.0.23", "93.184.216.34", 25, Some(25_000_000)),
        flow(T0 + 1, "10.0.0.23", "93.184.216.34", 25, Some(25_000_000)),
        flow(T0 + 2, "10.0.0.23", "93.184.216.34", 25, None),
    ];
    assert!(evaluate(&rule, at.clone()).is_empty());
    let mut over = at;
    over.push(flow(T0 + 3, "10.0.0.23", "93.184.216.36", 993, Some(1)));
    let alerts = evaluate(&rule, over);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].aggregates["sent"], Value::Int(50_000_001));
    assert_eq!(alerts[0].aggregates["connections"], Value::Int(4));
    assert_eq!(alerts[0].aggregates["destinations"], Value::Int(2));
    // Relays (CIDR v4 /32, /28 and v6 /48) are excluded; the /28 ends at .15.
    let relay = vec![
        flow(T0, "10.0.0.23", "192.0.2.25", 25, Some(60_000_000)),
        flow(T0, "10.0.0.23", "198.51.100.15", 25, Some(60_000_000)),
        flow(T0, "fd00::23", "2001:db8:25::1", 25, Some(60_000_000)),
    ];
    assert!(evaluate(&rule, relay).is_empty());
    let outside = vec![flow(T0, "10.0.0.23", "198.51.100.16", 25, Some(60_000_000))];
    assert_eq!(evaluate(&rule, outside).len(), 1);
    // v6 private source (fc00::/7) counts as private; a v4-mapped v6 address is not v4.
    let v6 = vec![flow(
        T0,
        "fd00::23",
        "2606:4700::1111",
        465,
        Some(60_000_000),
    )];
    assert_eq!(evaluate(&rule, v6).len(), 1);
    let mapped = vec![flow(
        T0,
        "::ffff:10.0.0.23",
        "93.184.216.34",
        25,
        Some(60_000_000),
    )];
    assert!(evaluate(&rule, mapped).is_empty());
}

#[test]
fn sum_over_only_missing_values_has_no_value() {
    let rule = an0382_over(-1);
    let alerts = evaluate(
        &rule,
        vec![flow(T0, "10.0.0.23", "93.184.216.34", 25, None)],
    );
    // `sent > -1` would hold for 0, but the sum has no value, so `having` is false.
    assert!(alerts.is_empty());
}

#[test]
fn output_is_sorted_and_independent_of_input_order() {
    let mut evs = Vec::new();
    for h in 0..5 {
        for i in 0..4 {
            evs.push(conn(
                T0 + i * 700 + h,
                &format!("WS{h:02}"),
                "rundll32.exe",
                [25, 110, 143, 995][i as usize],
                "93.184.216.34",
            ));
            evs.push(conn(
                T0 + i,
                &format!("WS{h:02}"),
                "rundll32.exe",
                25,
                "93.184.216.34",
            ));
        }
    }
    let a = evaluate(&an0379(), evs.clone());
    evs.reverse();
    let b = evaluate(&an0379(), evs);
    assert_eq!(a, b);
    assert!(!a.is_empty());
    let keys: Vec<_> = a
        .iter()
        .map(|x| (x.window_start.clone(), x.group.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn merged_partial_states_equal_one_pass() {
    // The runner splits input across threads and merges states: same alerts as one pass.
    let rule = t1071_003();
    let mut evs = Vec::new();
    for i in 0..300i64 {
        let host = format!("H{}", i % 3);
        let port = [25, 110, 143, 993, 8080][(i % 5) as usize];
        let rip = format!("93.184.216.{}", i % 2);
        evs.push(conn(T0 + i * 911, &host, "python.exe", port, &rip));
    }
    let c = CompiledRule::new(&rule).unwrap();
    let one = evaluate(&rule, evs.clone());
    for parts in [2usize, 3, 7] {
        let mut states: Vec<RuleState> = (0..parts).map(|_| RuleState::default()).collect();
        for (i, e) in evs.iter().enumerate() {
            c.feed(e, &mut states[i % parts]);
        }
        let mut acc = RuleState::default();
        for st in states {
            acc.merge(st);
        }
        assert_eq!(c.finish(acc), one);
    }
    assert!(!one.is_empty());
}

#[test]
fn alerts_serialize_with_plain_values() {
    let evs: Vec<Event> = (0..3)
        .map(|i| conn(T0 + i, "WS01", "rundll32.exe", 25, "93.184.216.34"))
        .collect();
    let alerts = evaluate(&an0379(), evs);
    let j = serde_json::to_value(&alerts[0]).unwrap();
    assert_eq!(j["group"]["host"], "WS01");
    assert_eq!(j["aggregates"]["connections"], 3);
    assert_eq!(j["aggregates"]["first_seen"], "2025-11-20T10:00:00Z");
    assert_eq!(j["severity"], "medium");
    assert_eq!(j["techniques"][0], "T1071.003");
    assert_eq!(j["rule_name"], "an0379_mail_protocol_unexpected_process");
}
