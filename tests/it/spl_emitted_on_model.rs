//! The SPL detc emits, executed on the SPL model (tests/it/support/spl_model.rs, written from
//! Splunk's documentation, not from our backend). Expected alerts are computed by hand from each
//! rule's IR semantics: thresholds at minus one / exactly / plus one, window edges, case variants,
//! missing fields, file name vs full path, IPv4 and IPv6.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::rules;
use crate::support::spl_model;

use detc::targets;
use spl_model::Row;

fn query(rule: &detc::ir::Rule, target: &str) -> String {
    let p = targets::profile(target).expect("profile");
    match targets::compile_rule(rule, &p) {
        Ok(e) => e.text,
        Err(d) => panic!("{target} refused {}: {d:?}", rule.name),
    }
}

/// A Sysmon EventCode=3 event as Splunk's add-on extracts it; `None` values are absent fields.
fn sysmon(t: i64, kv: &[(&str, Option<&str>)]) -> Row {
    let mut r = Row::new();
    r.insert("sourcetype".into(), "XmlWinEventLog".into());
    r.insert(
        "source".into(),
        "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational".into(),
    );
    r.insert("EventCode".into(), "3".into());
    r.insert("_time".into(), t.to_string());
    let defaults = [
        ("Computer", "WS01"),
        ("User", "CORP\\alice"),
        ("Image", "C:\\Tools\\evil.exe"),
        ("Initiated", "true"),
        ("DestinationIp", "198.18.0.1"),
        ("DestinationPort", "25"),
    ];
    for (k, v) in defaults {
        r.insert(k.into(), v.into());
    }
    for (k, v) in kv {
        match v {
            Some(v) => r.insert(k.to_string(), v.to_string()),
            None => r.remove(*k),
        };
    }
    r
}

fn run(q: &str, rows: &[Row]) -> Vec<Row> {
    spl_model::run(q, rows).unwrap_or_else(|e| panic!("model rejected the query: {e}\n{q}"))
}

#[test]
fn scripting_host_per_event_alerts() {
    let q = query(&rules::scripting_host_mail(), "spl-sysmon");
    let ev = vec![
        // 0: alerts, image name case differs from the list (in~ is case-insensitive)
        sysmon(
            1,
            &[(
                "Image",
                Some("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\PowerShell.EXE"),
            )],
        ),
        // 1: inbound: no
        sysmon(
            2,
            &[
                ("Image", Some("C:\\Windows\\System32\\cmd.exe")),
                ("Initiated", Some("false")),
            ],
        ),
        // 2: port 80: no
        sysmon(
            3,
            &[
                ("Image", Some("C:\\Windows\\System32\\cmd.exe")),
                ("DestinationPort", Some("80")),
            ],
        ),
        // 3: a file name that merely ends with a listed name: no (name equality, not suffix)
        sysmon(4, &[("Image", Some("C:\\x\\notcmd.exe"))]),
        // 4: missing port: no
        sysmon(
            5,
            &[
                ("Image", Some("C:\\Windows\\System32\\cmd.exe")),
                ("DestinationPort", None),
            ],
        ),
        // 5: missing image: no
        sysmon(6, &[("Image", None)]),
        // 6: alerts: submission port, mshta
        sysmon(
            7,
            &[
                ("Image", Some("C:\\Windows\\SysWOW64\\mshta.exe")),
                ("DestinationPort", Some("587")),
            ],
        ),
        // 7: a folder named like a listed binary does not make the process one: no
        sysmon(8, &[("Image", Some("C:\\cmd.exe\\helper.exe"))]),
        // 8: a `/` path: the file name follows the last separator either way: alert
        sysmon(9, &[("Image", Some("/usr/local/bin/pwsh.exe"))]),
        // 9: `True` is outbound too (the evaluator's sysmon schema maps both spellings): alert
        sysmon(
            10,
            &[
                ("Image", Some("C:\\x\\cmd.exe")),
                ("Initiated", Some("True")),
            ],
        ),
    ];
    let r = run(&q, &ev);
    let times: Vec<&str> = r.iter().map(|x| x["_time"].as_str()).collect();
    assert_eq!(times, vec!["1", "7", "9", "10"], "{q}");
}

#[test]
fn an0379_threshold_window_case_and_missing_user() {
    let q = query(&rules::an0379(), "spl-sysmon");
    let mut ev = Vec::new();
    // Group 1: evil.exe, SMTP, exactly 3 in the hour [3600, 7200): alerts (>= 3).
    for (t, ip) in [
        (3600, "198.18.0.1"),
        (3700, "198.18.0.2"),
        (7199, "198.18.0.2"),
    ] {
        ev.push(sysmon(t, &[("DestinationIp", Some(ip))]));
    }
    // Group 2: same process on POP3: only 2 in the hour: no alert (threshold minus one).
    for t in [3600, 3601] {
        ev.push(sysmon(t, &[("DestinationPort", Some("995"))]));
    }
    // Group 3: 3 connections across a window edge (7199 | 7200, 7201): 1 + 2: no alert.
    for t in [7199, 7200, 7201] {
        ev.push(sysmon(t, &[("Computer", Some("WS02"))]));
    }
    // Group 4: a sanctioned client in upper case: excluded, however many.
    for t in 0..5 {
        ev.push(sysmon(
            3600 + t,
            &[
                ("Computer", Some("WS03")),
                (
                    "Image",
                    Some("C:\\Program Files\\Microsoft Office\\OUTLOOK.EXE"),
                ),
            ],
        ));
    }
    // Group 5: missing user: "missing" is its own group key: 3 connections alert.
    for t in [10, 20, 30] {
        ev.push(sysmon(
            t,
            &[
                ("Computer", Some("WS04")),
                ("User", None),
                ("DestinationPort", Some("143")),
            ],
        ));
    }
    // Group 6: loopback v4 and v6: excluded.
    for (t, ip) in [(10, "127.0.0.1"), (20, "::1"), (30, "127.5.5.5")] {
        ev.push(sysmon(
            t,
            &[("Computer", Some("WS05")), ("DestinationIp", Some(ip))],
        ));
    }
    // Group 7: no Image at all: `not process.name in~ [...]` is true on a missing name, so the
    // events pass the filter and form the "missing" process group: alert.
    for t in [40, 50, 60] {
        ev.push(sysmon(t, &[("Computer", Some("WS06")), ("Image", None)]));
    }
    let r = run(&q, &ev);
    assert_eq!(r.len(), 3, "{q}\n{r:#?}");
    let g7 = r
        .iter()
        .find(|x| x["Computer"] == "WS06")
        .expect("group 7 alerts");
    assert_eq!(g7["connections"], "3");
    let g1 = r
        .iter()
        .find(|x| x["Computer"] == "WS01")
        .expect("group 1 alerts");
    assert_eq!(g1["_time"], "3600");
    assert_eq!(g1["connections"], "3");
    assert_eq!(g1["destinations"], "2");
    assert_eq!(g1["first_seen"], "3600");
    assert_eq!(g1["last_seen"], "7199");
    assert!(g1.values().any(|v| v == "SMTP"), "protocol label: {g1:?}");
    assert!(
        g1.values().any(|v| v == "evil.exe"),
        "file name key: {g1:?}"
    );
    let g5 = r
        .iter()
        .find(|x| x["Computer"] == "WS04")
        .expect("group 5 alerts");
    assert_eq!(g5["User"], "");
    assert_eq!(g5["_time"], "0");
    assert!(g5.values().any(|v| v == "IMAP"));
}

#[test]
fn not_stays_true_on_missing_fields_and_case_sensitive_equality_holds() {
    let q = query(&rules::constructs(), "spl-sysmon");
    let base = [
        (
            "Image",
            Some("C:\\Users\\a\\AppData\\Local\\Temp\\PowerShell_x.exe"),
        ),
        ("DestinationIp", Some("8.8.8.8")),
    ];
    let with = |t: i64, extra: &[(&str, Option<&str>)]| {
        let mut kv: Vec<(&str, Option<&str>)> = base.to_vec();
        kv.extend_from_slice(extra);
        sysmon(t, &kv)
    };
    let ev = vec![
        with(1, &[("DestinationPort", None)]), // missing port: not(...) is true: alert
        with(2, &[]),                          // port 25 but public IP: inner and false: alert
        with(3, &[("User", None)]),            // user missing: exists fails
        with(4, &[("DestinationIp", Some("192.168.1.1"))]), // private
        with(5, &[("DestinationIp", Some("2606:4700::1111"))]), // public v6: alert
        with(6, &[("DestinationIp", Some("fd00::1"))]), // unique-local v6: not public
        with(7, &[("Image", Some("C:\\Temp\\rundll32.exe"))]), // case-sensitive eq fails
        with(8, &[("Image", Some("C:\\Temp\\Rundll32.exe"))]), // exact: alert
        with(9, &[("Image", Some("C:\\PowerShell\\x.exe"))]), // folder starts with power: no
        with(10, &[("DestinationIp", Some("100.64.1.1"))]), // CGNAT: not public
    ];
    let r = run(&q, &ev);
    let times: Vec<&str> = r.iter().map(|x| x["_time"].as_str()).collect();
    assert_eq!(times, vec!["1", "2", "5", "8"], "{q}");
}

fn flow(t: i64, src: &str, dst: &str, port: &str, bytes: Option<&str>) -> Row {
    let mut r = Row::new();
    r.insert("_time".into(), t.to_string());
    r.insert("All_Traffic.src_ip".into(), src.into());
    r.insert("All_Traffic.dest_ip".into(), dst.into());
    r.insert("All_Traffic.dest_port".into(), port.into());
    if let Some(b) = bytes {
        r.insert("All_Traffic.bytes_out".into(), b.into());
    }
    r
}

#[test]
fn an0382_tstats_sum_threshold_and_classes() {
    let q = query(&rules::an0382(), "spl-cim");
    // The pack's threshold is 50MB: 50,000,000 bytes.
    const MB: i64 = 1_000_000;
    let half = (25 * MB).to_string();
    let half_plus = (25 * MB + 1).to_string();
    let ev = vec![
        // 10.0.0.5: 25MB + 25MB+1 in one hour = 50MB+1 > 50MB: alert
        flow(3600, "10.0.0.5", "8.8.8.8", "25", Some(&half)),
        flow(3700, "10.0.0.5", "1.1.1.1", "587", Some(&half_plus)),
        // 10.0.0.6: exactly 50MB: no (> not >=)
        flow(3600, "10.0.0.6", "8.8.8.8", "25", Some(&half)),
        flow(3601, "10.0.0.6", "8.8.8.8", "25", Some(&half)),
        // 10.0.0.7: 60MB across an hour edge: 30 | 30: no
        flow(
            7199,
            "10.0.0.7",
            "8.8.8.8",
            "25",
            Some(&(30 * MB).to_string()),
        ),
        flow(
            7200,
            "10.0.0.7",
            "8.8.8.8",
            "25",
            Some(&(30 * MB).to_string()),
        ),
        // public source: no
        flow(
            3600,
            "8.8.4.4",
            "8.8.8.8",
            "25",
            Some(&(99 * MB).to_string()),
        ),
        // approved relay (v6 block) and documentation ranges are not public: no
        flow(
            3600,
            "10.0.0.9",
            "2001:db8:25::1",
            "25",
            Some(&(99 * MB).to_string()),
        ),
        // web port: no
        flow(
            3600,
            "10.0.0.10",
            "8.8.8.8",
            "443",
            Some(&(99 * MB).to_string()),
        ),
        // v6 private source to a public v6 destination: alert
        flow(
            3600,
            "fd12::5",
            "2606:4700::1111",
            "465",
            Some(&(51 * MB).to_string()),
        ),
        // no byte count: sum missing: no alert
        flow(3600, "10.0.0.11", "8.8.8.8", "25", None),
    ];
    let r = run(&q, &ev);
    let mut srcs: Vec<&str> = r.iter().map(|x| x["All_Traffic.src_ip"].as_str()).collect();
    srcs.sort();
    assert_eq!(srcs, vec!["10.0.0.5", "fd12::5"], "{q}\n{r:#?}");
    let a = r
        .iter()
        .find(|x| x["All_Traffic.src_ip"] == "10.0.0.5")
        .expect("alert");
    assert_eq!(a["sent"], (50 * MB + 1).to_string());
    assert_eq!(a["connections"], "2");
    assert_eq!(a["destinations"], "2");
    assert_eq!(a["_time"], "3600");
}

/// Sysmon names the initiator `Source*`: for an accepted (inbound) connection the remote side is
/// `Source*`. A rule on `remote.port` without `direction == outbound` reads the right column for
/// both directions (the evaluator's input schema swaps the same way).
#[test]
fn remote_fields_follow_the_direction_of_the_connection() {
    use detc::ir::{Case, Expr, IpClass, Op, Source, Value};
    let nc = Source::NetworkConnection;
    let mut rule = rules::scripting_host_mail();
    rule.filter = Expr::And(vec![
        rules::pred(
            nc,
            "remote.port",
            Op::Eq {
                value: Value::Int(25),
                case: Case::Sensitive,
            },
        ),
        rules::not(rules::pred(
            nc,
            "remote.ip",
            Op::IpClass {
                class: IpClass::Loopback,
            },
        )),
    ]);
    let q = query(&rule, "spl-sysmon");
    let ev = vec![
        // outbound to 25: alert
        sysmon(1, &[("SourcePort", Some("50000"))]),
        // inbound to the local port 25 from 30009: the remote port is 30009: no alert
        sysmon(
            2,
            &[
                ("Initiated", Some("false")),
                ("DestinationPort", Some("25")),
                ("SourcePort", Some("30009")),
                ("SourceIp", Some("198.18.0.9")),
            ],
        ),
        // inbound from a peer whose own port is 25: remote.port is 25: alert
        sysmon(
            3,
            &[
                ("Initiated", Some("false")),
                ("DestinationPort", Some("4000")),
                ("SourcePort", Some("25")),
                ("SourceIp", Some("198.18.0.9")),
            ],
        ),
        // inbound from loopback on 25: excluded by the remote address, read from SourceIp
        sysmon(
            4,
            &[
                ("Initiated", Some("false")),
                ("DestinationPort", Some("4000")),
                ("SourcePort", Some("25")),
                ("SourceIp", Some("127.0.0.1")),
                ("DestinationIp", Some("198.18.0.9")),
            ],
        ),
    ];
    let r = run(&q, &ev);
    let times: Vec<&str> = r.iter().map(|x| x["_time"].as_str()).collect();
    assert_eq!(times, vec!["1", "3"], "{q}");
}

/// tstats cannot compute fields: a filter on a computed field is rewritten over its inputs
/// (`kind == "submission"` is "dst.port in [25, 587]"; the else value is "other").
#[test]
fn a_filter_on_a_computed_field_is_rewritten_for_tstats() {
    use detc::ir::{Case, Expr, FieldType, Let, Op, Source, Value};
    let nf = Source::NetworkFlow;
    let mut rule = rules::an0382();
    rule.lets = vec![Let {
        name: "kind".into(),
        ty: FieldType::String,
        arms: vec![(
            rules::pred(nf, "dst.port", rules::port_in(&[25, 587])),
            Value::Str("submission".into()),
        )],
        default: Some(Value::Str("other".into())),
        depends_on: vec!["dst.port".into()],
        span: rules::span(),
    }];
    let kind_is = |v: &str| {
        rules::computed(
            "kind",
            Op::Eq {
                value: Value::Str(v.into()),
                case: Case::Insensitive,
            },
        )
    };
    rule.filter = Expr::And(vec![
        kind_is("SUBMISSION"),
        rules::pred(
            nf,
            "src.ip",
            Op::IpClass {
                class: detc::ir::IpClass::Private,
            },
        ),
    ]);
    let q = query(&rule, "spl-cim");
    const MB: i64 = 1024 * 1024;
    let big = (60 * MB).to_string();
    let ev = vec![
        flow(10, "10.0.0.1", "8.8.8.8", "25", Some(&big)),
        flow(10, "10.0.0.2", "8.8.8.8", "465", Some(&big)),
    ];
    let r = run(&q, &ev);
    let srcs: Vec<&str> = r.iter().map(|x| x["All_Traffic.src_ip"].as_str()).collect();
    assert_eq!(srcs, vec!["10.0.0.1"], "{q}");
    // and its negation: "other" is every event no arm holds for
    rule.filter = Expr::And(vec![rules::not(kind_is("submission"))]);
    let q = query(&rule, "spl-cim");
    let r = run(&q, &ev);
    let srcs: Vec<&str> = r.iter().map(|x| x["All_Traffic.src_ip"].as_str()).collect();
    assert_eq!(srcs, vec!["10.0.0.2"], "{q}");
}

/// The base search narrows the events Splunk fetches: the filter's string equalities that search
/// reads as one term (`Initiated="true"`) are search terms there, and the `where` still decides.
/// An event the base search drops must be one the `where` drops too: `True` passes both,
/// `truex` / a missing field neither.
#[test]
fn base_search_carries_the_terms_the_where_implies() {
    let q = query(&rules::scripting_host_mail(), "spl-sysmon");
    let first = q.lines().find(|l| !l.starts_with("//")).unwrap_or("");
    assert!(
        first.ends_with("EventCode=3 Initiated=\"true\""),
        "base search: {first}\n{q}"
    );
    assert!(q.contains("| where "), "the exact where stays: {q}");
    let img = ("Image", Some("C:\\x\\cmd.exe"));
    let ev = vec![
        sysmon(1, &[img, ("Initiated", Some("TRUE"))]),
        sysmon(2, &[img, ("Initiated", Some("truex"))]),
        sysmon(3, &[img, ("Initiated", None)]),
        sysmon(4, &[img, ("Initiated", Some("false"))]),
    ];
    let r = run(&q, &ev);
    let times: Vec<&str> = r.iter().map(|x| x["_time"].as_str()).collect();
    assert_eq!(times, vec!["1"], "{q}");
}
