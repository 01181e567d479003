//! The engine adapters of the differential harness, on hand-written queries and events:
//! duckdb-kql (tests/it/support/oracle.rs `duckdb_kql`) and rsigma (tests/it/support/rsigma.rs).
//! Expected answers are worked out by hand from KQL's and Sigma's documented semantics.
// Test code: a failed expectation is meant to panic (the no-unwrap rule is for library code).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support::oracle;
use crate::support::rsigma;

use oracle::{duckdb_kql, duckdb_kql_at};
use rsigma::{collapse_tumbling, epoch_seconds, rsigma_eval, Window};
use serde_json::{json, Value};

// --- duckdb-kql -------------------------------------------------------------------------------

const DNE: &[(&str, &str)] = &[
    ("Timestamp", "datetime"),
    ("DeviceName", "string"),
    ("InitiatingProcessFileName", "string"),
    ("RemoteIP", "string"),
    ("RemotePort", "int"),
    ("ActionType", "string"),
];

/// Connections from two hosts around the hour boundary 01:00.
const ROWS: &str = r#"{"Timestamp":"2026-03-01T00:10:00Z","DeviceName":"WS01","InitiatingProcessFileName":"PowerShell.exe","RemoteIP":"203.0.113.5","RemotePort":25,"ActionType":"ConnectionSuccess"}
{"Timestamp":"2026-03-01T00:20:00Z","DeviceName":"WS01","InitiatingProcessFileName":"powershell.exe","RemoteIP":"203.0.113.6","RemotePort":587,"ActionType":"ConnectionSuccess"}
{"Timestamp":"2026-03-01T00:59:59.999Z","DeviceName":"WS01","InitiatingProcessFileName":"powershell.exe","RemoteIP":"203.0.113.5","RemotePort":465,"ActionType":"ConnectionSuccess"}
{"Timestamp":"2026-03-01T01:00:00Z","DeviceName":"WS01","InitiatingProcessFileName":"powershell.exe","RemoteIP":"203.0.113.5","RemotePort":25,"ActionType":"ConnectionSuccess"}
{"Timestamp":"2026-03-01T00:30:00+01:00","DeviceName":"WS02","InitiatingProcessFileName":"OUTLOOK.EXE","RemoteIP":"198.51.100.1","RemotePort":993,"ActionType":"ConnectionSuccess"}
{"Timestamp":"2026-03-01T00:40:00Z","DeviceName":"WS02","InitiatingProcessFileName":"rundll32.exe","RemoteIP":"198.51.100.2","RemotePort":110,"ActionType":"ConnectionFailed"}
{"Timestamp":"2026-03-01T00:45:00Z","DeviceName":"WS02","RemoteIP":"198.51.100.2","RemotePort":143}
"#;

#[test]
fn duckdb_kql_summarize_by_bin_aligns_windows_to_the_hour() {
    let kql = r#"DeviceNetworkEvents
| where RemotePort in (25, 465, 587, 2525, 110, 995, 143, 993)
| where InitiatingProcessFileName !in~ ("outlook.exe", "thunderbird.exe")
| summarize connections = count(), destinations = dcount(RemoteIP),
    first_seen = min(Timestamp), last_seen = max(Timestamp)
    by DeviceName, window_start = bin(Timestamp, 1h)
| where connections >= 3"#;
    let rows = duckdb_kql("DeviceNetworkEvents", DNE, ROWS, kql).expect("duckdb-kql oracle");
    // WS01 has 3 connections in [00:00, 01:00) (00:59:59.999 is inside) and 1 at 01:00 exactly,
    // which starts the next bin. WS02's outlook (23:30 UTC the day before, via the +01:00 offset)
    // is filtered out; its other two rows (00:40, 00:45; one with no process name, which KQL
    // treats as "" and so not in the list) make 2 < 3.
    assert_eq!(
        rows,
        vec![json!({
            "DeviceName": "WS01",
            "window_start": "2026-03-01T00:00:00Z",
            "connections": 3,
            "destinations": 2,
            "first_seen": "2026-03-01T00:10:00Z",
            "last_seen": "2026-03-01T00:59:59.999000Z",
        })]
    );
}

#[test]
fn duckdb_kql_case_and_case_rules() {
    let kql = r#"DeviceNetworkEvents
| where InitiatingProcessFileName =~ "POWERSHELL.EXE" and InitiatingProcessFileName startswith "Power"
| extend MailProtocol = case(RemotePort in (25, 465, 587, 2525), "SMTP", RemotePort in (110, 995), "POP3", "IMAP")
| project DeviceName, RemotePort, MailProtocol"#;
    let rows = duckdb_kql("DeviceNetworkEvents", DNE, ROWS, kql).expect("duckdb-kql oracle");
    // `startswith` is case-insensitive in KQL, so all four powershell rows pass; `=~` too.
    let ports: Vec<(i64, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["RemotePort"].as_i64().unwrap(),
                r["MailProtocol"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [(25, "SMTP"), (25, "SMTP"), (465, "SMTP"), (587, "SMTP")]
    );
    let cs = duckdb_kql(
        "DeviceNetworkEvents",
        DNE,
        ROWS,
        r#"DeviceNetworkEvents | where InitiatingProcessFileName startswith_cs "Power" | project RemotePort"#,
    )
    .expect("duckdb-kql oracle");
    assert_eq!(cs, vec![json!({"RemotePort": 25})]);
}

#[test]
fn duckdb_kql_ago_uses_the_pinned_now() {
    let kql = "DeviceNetworkEvents | where Timestamp > ago(30m) | project RemotePort";
    let rows = duckdb_kql_at(
        "DeviceNetworkEvents",
        DNE,
        ROWS,
        kql,
        Some("2026-03-01T01:00:00Z"),
    )
    .expect("duckdb-kql oracle");
    // (00:30, 01:00]: 00:40 (110), 00:45 (143), 00:59:59.999 (465), 01:00 (25).
    let mut ports: Vec<i64> = rows
        .iter()
        .map(|r| r["RemotePort"].as_i64().unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, [25, 110, 143, 465]);
}

#[test]
fn duckdb_kql_refuses_what_it_cannot_run_and_bad_rows() {
    let err = duckdb_kql(
        "DeviceNetworkEvents",
        DNE,
        ROWS,
        r#"DeviceNetworkEvents | where ipv4_is_in_range(RemoteIP, "203.0.113.0/24")"#,
    )
    .unwrap_err();
    assert!(err.contains("ipv4_is_in_range"), "{err}");
    let err = duckdb_kql(
        "DeviceNetworkEvents",
        DNE,
        r#"{"Timestamp":"2026-03-01T00:00:00Z","Nope":1}"#,
        "DeviceNetworkEvents",
    )
    .unwrap_err();
    assert!(err.contains("Nope"), "{err}");
    let err = duckdb_kql(
        "DeviceNetworkEvents",
        DNE,
        r#"{"RemotePort":"25"}"#,
        "DeviceNetworkEvents",
    )
    .unwrap_err();
    assert!(err.contains("RemotePort"), "{err}");
}

#[test]
fn duckdb_kql_batch_runs_many_queries_over_one_load() {
    let out = oracle::duckdb_kql_batch(
        "DeviceNetworkEvents",
        DNE,
        ROWS,
        &[
            (
                "ws01",
                r#"DeviceNetworkEvents | where DeviceName == "WS01" | count"#,
            ),
            (
                "unsupported",
                "DeviceNetworkEvents | where ipv4_is_private(RemoteIP)",
            ),
            (
                "dcount",
                "DeviceNetworkEvents | summarize n = dcount(RemoteIP)",
            ),
        ],
        None,
        false,
    )
    .expect("duckdb-kql oracle");
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ws01", "unsupported", "dcount"]);
    assert_eq!(out[0].1, Ok(vec![json!({"Count": 4})]));
    assert!(out[1]
        .1
        .as_ref()
        .is_err_and(|e| e.contains("ipv4_is_private")));
    // 203.0.113.5, .6, 198.51.100.1, .2
    assert_eq!(out[2].1, Ok(vec![json!({"n": 4})]));
    // A bad row fails the whole batch (nothing half-loaded).
    assert!(oracle::duckdb_kql_batch(
        "DeviceNetworkEvents",
        DNE,
        "{\"RemotePort\": 1.5}",
        &[("q", "DeviceNetworkEvents")],
        None,
        false
    )
    .is_err());
}

#[test]
fn duckdb_kql_support_list_still_holds() {
    // oracles/duckdb/SUPPORT.md is this probe's output; a duckdb-kql that changes any answer
    // fails here.
    let python = oracle::repo_root().join(".oracles/venv/bin/python");
    let out = std::process::Command::new(&python)
        .arg(oracle::repo_root().join("oracles/duckdb/probe_support.py"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; {}", python.display(), oracle::INSTALL_HINT));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("0 differ from the recorded status"),
        "{stdout}"
    );
}

// --- rsigma -----------------------------------------------------------------------------------

const SIGMA: &str = r#"title: Mail connection from a scripting host
id: 6a0f3c1e-2b7d-4e58-9c41-0d7e5a3b9f12
name: mail_from_script_host
status: experimental
logsource:
    category: network_connection
    product: windows
detection:
    selection:
        Initiated: 'true'
        DestinationPort:
            - 25
            - 587
        Image|endswith: '\powershell.exe'
    filter_loopback:
        DestinationIp|cidr: '127.0.0.0/8'
    condition: selection and not filter_loopback
level: high
---
title: Repeated mail connections from a scripting host
id: 9b2e7d40-5c1a-4f36-8e0b-3a6d2c9e1f57
status: experimental
correlation:
    type: event_count
    rules:
        - mail_from_script_host
    group-by:
        - Computer
    timespan: 1h
    condition:
        gte: 3
level: high
"#;

fn conn(time: &str, computer: &str, image: &str, port: u16, ip: &str) -> Value {
    json!({"UtcTime": time, "Computer": computer, "Image": image, "Initiated": "true",
           "DestinationPort": port, "DestinationIp": ip})
}

#[test]
fn rsigma_detection_matches_like_sigma_says() {
    let events = vec![
        conn(
            "2026-03-01T00:00:00Z",
            "WS01",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\POWERSHELL.EXE",
            25,
            "203.0.113.5",
        ),
        conn(
            "2026-03-01T00:00:01Z",
            "WS01",
            r"C:\Tools\notpowershell.exe",
            25,
            "203.0.113.5",
        ),
        conn(
            "2026-03-01T00:00:02Z",
            "WS01",
            r"C:\Windows\powershell.exe",
            25,
            "127.0.0.1",
        ),
        conn(
            "2026-03-01T00:00:03Z",
            "WS01",
            r"C:\Windows\powershell.exe",
            443,
            "203.0.113.5",
        ),
        conn(
            "2026-03-01T00:00:04Z",
            "WS01",
            r"C:\Windows\powershell.exe",
            587,
            "203.0.113.9",
        ),
    ];
    let out = rsigma_eval(SIGMA, &events, "UtcTime", Window::AsWritten).expect("rsigma");
    // Sigma matching is case-insensitive (event 0); `endswith '\powershell.exe'` needs the
    // backslash (not event 1); the loopback filter (2) and the port list (3) exclude.
    let hits: Vec<usize> = out.detections.iter().map(|d| d.event_index).collect();
    assert_eq!(hits, [0, 4]);
    assert!(out
        .detections
        .iter()
        .all(|d| d.rule_id.as_deref() == Some("6a0f3c1e-2b7d-4e58-9c41-0d7e5a3b9f12")));
    assert!(out.correlations.is_empty());
    // Real Sysmon JSON carries ports as strings: rsigma matches `DestinationPort: 25` on "25".
    let mut as_text = events[4].clone();
    as_text["DestinationPort"] = json!("25");
    let out = rsigma_eval(SIGMA, &[as_text], "UtcTime", Window::AsWritten).expect("rsigma");
    assert_eq!(out.detections.len(), 1);
}

#[test]
fn rsigma_sliding_window_is_closed_and_differs_from_tumbling() {
    let ps = r"C:\Windows\powershell.exe";
    // Three matches in [00:00, 01:00] inclusive: the third is exactly one timespan after the
    // first. Events are passed out of order: the adapter sorts them by time.
    let events = vec![
        conn("2026-03-01T01:00:00Z", "WS01", ps, 25, "203.0.113.5"),
        conn("2026-03-01T00:00:00Z", "WS01", ps, 25, "203.0.113.5"),
        conn("2026-03-01T00:30:00Z", "WS01", ps, 587, "203.0.113.6"),
        conn("2026-03-01T00:30:00Z", "WS02", ps, 587, "203.0.113.6"),
    ];
    let sliding = rsigma_eval(SIGMA, &events, "UtcTime", Window::AsWritten).expect("rsigma");
    assert_eq!(sliding.correlations.len(), 1, "{sliding:#?}");
    let c = &sliding.correlations[0];
    assert_eq!(
        c.rule_id.as_deref(),
        Some("9b2e7d40-5c1a-4f36-8e0b-3a6d2c9e1f57")
    );
    assert_eq!(c.kind, "event_count");
    assert_eq!(c.group, vec![("Computer".to_string(), "WS01".to_string())]);
    assert_eq!(c.value, 3.0);
    assert_eq!(c.timespan_secs, 3600);
    assert_eq!(
        c.time,
        epoch_seconds(&json!("2026-03-01T01:00:00Z")).unwrap()
    );
    // Tumbling (epoch-aligned, like bin(Timestamp, 1h)): 01:00 opens a new bucket; 2 < 3.
    let tumbling = rsigma_eval(SIGMA, &events, "UtcTime", Window::Tumbling).expect("rsigma");
    assert!(tumbling.correlations.is_empty(), "{tumbling:#?}");
}

#[test]
fn rsigma_fires_on_every_event_past_the_threshold_and_collapse_keeps_the_total() {
    let ps = r"C:\Windows\powershell.exe";
    let events: Vec<Value> = (0..5)
        .map(|i| {
            conn(
                &format!("2026-03-01T02:0{i}:00Z"),
                "WS01",
                ps,
                25,
                "203.0.113.5",
            )
        })
        .chain([conn("2026-03-01T03:10:00Z", "WS01", ps, 25, "203.0.113.5")])
        .collect();
    let out = rsigma_eval(SIGMA, &events, "UtcTime", Window::Tumbling).expect("rsigma");
    let values: Vec<f64> = out.correlations.iter().map(|c| c.value).collect();
    assert_eq!(values, [3.0, 4.0, 5.0]);
    let collapsed = collapse_tumbling(&out.correlations);
    assert_eq!(collapsed.len(), 1);
    assert_eq!(collapsed[0].value, 5.0);
    assert_eq!(
        collapsed[0].bucket_start,
        epoch_seconds(&json!("2026-03-01T02:00:00Z")).unwrap()
    );
}

#[test]
fn rsigma_value_count_and_value_sum() {
    let yaml = r#"title: Flow to a mail port
id: 3d5f7a9b-1c2e-4f60-8a4b-6c8d0e2f4a61
name: mail_flow
status: experimental
logsource:
    category: network
    service: connection
detection:
    selection:
        dst_port: [25, 587]
    condition: selection
level: medium
---
title: Many destinations
id: 4e6a8b0c-2d3f-4a71-9b5c-7d9e1f3a5b72
correlation:
    type: value_count
    rules: [mail_flow]
    group-by: [src_ip]
    timespan: 1h
    condition:
        field: dst_ip
        gte: 2
level: medium
---
title: Much data
id: 5f7b9c1d-3e4a-4b82-8c6d-8e0f2a4b6c83
correlation:
    type: value_sum
    rules: [mail_flow]
    group-by: [src_ip]
    timespan: 1h
    condition:
        field: bytes_sent
        gt: 1000
level: medium
"#;
    let ev = |t: &str, dst: &str, bytes: u64| json!({"ts": t, "src_ip": "10.0.0.5", "dst_ip": dst, "dst_port": 25, "bytes_sent": bytes});
    let events = vec![
        ev("2026-03-01T00:00:00Z", "203.0.113.1", 600),
        ev("2026-03-01T00:10:00Z", "203.0.113.1", 400),
        ev("2026-03-01T00:20:00Z", "203.0.113.2", 1),
    ];
    let out = rsigma_eval(yaml, &events, "ts", Window::Tumbling).expect("rsigma");
    let got: Vec<(String, f64)> = out
        .correlations
        .iter()
        .map(|c| (c.kind.clone(), c.value))
        .collect();
    // value_count reaches 2 distinct dst_ip at the third event; value_sum is 1000 (not > 1000)
    // after the second and 1001 after the third.
    assert_eq!(
        got,
        [
            ("value_count".to_string(), 2.0),
            ("value_sum".to_string(), 1001.0)
        ]
    );
}

#[test]
fn rsigma_adapter_rejects_bad_input() {
    assert!(rsigma_eval("title: x\ndetection: [", &[], "t", Window::AsWritten).is_err());
    let err = rsigma_eval(
        SIGMA,
        &[json!({"Computer": "WS01"})],
        "UtcTime",
        Window::AsWritten,
    )
    .unwrap_err();
    assert!(err.contains("UtcTime"), "{err}");
    assert_eq!(epoch_seconds(&json!("1970-01-01T00:00:00Z")), Ok(0));
    assert_eq!(
        epoch_seconds(&json!("2000-03-01T00:00:00.75+01:00")),
        Ok(951_865_200)
    );
    assert_eq!(epoch_seconds(&json!(1_700_000_000)), Ok(1_700_000_000));
    assert!(epoch_seconds(&json!("2026-13-01T00:00:00Z")).is_err());
    assert!(epoch_seconds(&json!("yesterday")).is_err());
}

// --- the ipv4/ipv6 prelude (ours, not duckdb-kql's) -----------------------------------------

#[test]
fn ip_prelude_matches_kusto_documented_semantics() {
    // (ip, range, ipv4_is_in_range, ipv4_is_private, ipv6_is_in_range), worked out by hand from
    // the CIDR arithmetic and the Kusto reference (null when an address does not parse).
    let n = Value::Null;
    let t = Value::Bool(true);
    let f = Value::Bool(false);
    let cases: Vec<(&str, &str, Value, Value, Value)> = vec![
        ("10.1.2.3", "10.0.0.0/8", t.clone(), t.clone(), t.clone()),
        ("11.1.2.3", "10.0.0.0/8", f.clone(), f.clone(), f.clone()),
        (
            "172.31.255.255",
            "172.16.0.0/12",
            t.clone(),
            t.clone(),
            t.clone(),
        ),
        (
            "172.32.0.0",
            "172.16.0.0/12",
            f.clone(),
            f.clone(),
            f.clone(),
        ),
        (
            "192.168.0.1",
            "192.168.0.1",
            t.clone(),
            t.clone(),
            t.clone(),
        ),
        ("127.0.0.1", "0.0.0.0/0", t.clone(), f.clone(), t.clone()),
        ("2001:db8::1", "10.0.0.0/8", n.clone(), n.clone(), f.clone()),
        ("fe80::1", "fe80::/10", n.clone(), n.clone(), t.clone()),
        ("febf:ffff::1", "fe80::/10", n.clone(), n.clone(), t.clone()),
        ("fec0::1", "fe80::/10", n.clone(), n.clone(), f.clone()),
        ("fd00::5", "fc00::/7", n.clone(), n.clone(), t.clone()),
        ("fe00::5", "fc00::/7", n.clone(), n.clone(), f.clone()),
        ("::1", "::1/128", n.clone(), n.clone(), t.clone()),
        ("::2", "::1/128", n.clone(), n.clone(), f.clone()),
        ("not an ip", "10.0.0.0/8", n.clone(), n.clone(), n.clone()),
    ];
    let rows: String = cases
        .iter()
        .map(|(ip, r, ..)| json!({"IP": ip, "R": r}).to_string() + "\n")
        .collect();
    let kql = "T | project IP, R, in4 = ipv4_is_in_range(IP, R), private = ipv4_is_private(IP), \
               in6 = ipv6_is_in_range(IP, R)";
    let got = oracle::duckdb_kql_with(
        "T",
        &[("IP", "string"), ("R", "string")],
        &rows,
        kql,
        None,
        true,
    )
    .expect("duckdb-kql oracle");
    let mut want: Vec<Value> = cases
        .into_iter()
        .map(|(ip, r, a, b, c)| json!({"IP": ip, "R": r, "in4": a, "private": b, "in6": c}))
        .collect();
    want.sort_by_key(|v| v.to_string());
    let mut got_sorted = got.clone();
    got_sorted.sort_by_key(|v| v.to_string());
    assert_eq!(got_sorted, want);

    // `not(...)` of a null stays null: an IPv6 address is neither kept nor dropped by mistake.
    let kept = oracle::duckdb_kql_with(
        "T",
        &[("IP", "string")],
        "{\"IP\":\"2001:db8::1\"}\n{\"IP\":\"8.8.8.8\"}\n",
        "T | where not(ipv4_is_in_range(IP, \"10.0.0.0/8\")) | project IP",
        None,
        true,
    )
    .expect("duckdb-kql oracle");
    assert_eq!(kept, vec![json!({"IP": "8.8.8.8"})]);
}

#[test]
fn bin_at_prelude_matches_kusto_documented_semantics() {
    // The examples of the Kusto reference, bin_at() (learn.microsoft.com/kusto/query/
    // bin-at-function): noon-aligned days, Sunday-aligned weeks (the fixed point after the value),
    // and its datatable example (bins aligned to 2018-02-24 15:14); then epoch-aligned bins as
    // detc emits them: 7d bins start on Thursdays (1970-01-01 was one), 90m bins cross the hour.
    let cases = [
        (
            "2017-05-15T10:20:00Z",
            "1d",
            "1970-01-01T12:00:00Z",
            "2017-05-14T12:00:00Z",
        ),
        (
            "2017-05-17T10:20:00Z",
            "7d",
            "2017-06-04T00:00:00Z",
            "2017-05-14T00:00:00Z",
        ),
        (
            "2018-02-23T16:14:00Z",
            "1d",
            "2018-02-24T15:14:00Z",
            "2018-02-23T15:14:00Z",
        ),
        (
            "2018-02-26T15:14:00Z",
            "1d",
            "2018-02-24T15:14:00Z",
            "2018-02-26T15:14:00Z",
        ),
        (
            "2026-01-07T23:59:59Z",
            "7d",
            "1970-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
        ),
        (
            "2026-01-08T00:00:00Z",
            "7d",
            "1970-01-01T00:00:00Z",
            "2026-01-08T00:00:00Z",
        ),
        (
            "2026-01-01T00:59:59Z",
            "1h",
            "1970-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
        ),
        (
            "2026-01-01T01:00:00Z",
            "90m",
            "1970-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
        ),
        (
            "2026-01-01T01:30:00Z",
            "90m",
            "1970-01-01T00:00:00Z",
            "2026-01-01T01:30:00Z",
        ),
    ];
    for (t, w, at, want) in cases {
        let rows = json!({"T": t}).to_string() + "\n";
        let kql = format!("T | project b = bin_at(T, {w}, datetime({}))", &at[..19]);
        let got = oracle::duckdb_kql_with("T", &[("T", "datetime")], &rows, &kql, None, true)
            .expect("duckdb-kql oracle");
        assert_eq!(got, vec![json!({"b": want})], "bin_at({t}, {w}, {at})");
    }
}

/// oracles/duckdb/kusto_ip.py (ours): `ipv4_is_in_any_range`, `ipv6_is_in_any_range` and
/// `has_any_ipv4_prefix` on the Kusto reference's own examples, plus the edges detc relies on:
/// null for an address that does not parse (either family's text in the other's function is
/// null for IPv4 and the mapped address for IPv6), first/last addresses of a block.
#[test]
fn range_functions_match_kusto_documented_semantics() {
    let rows = "{\"IP\":\"x\"}\n";
    let kql = "T | project \
        doc1 = ipv4_is_in_any_range('192.168.1.6', '192.168.1.1/24', '10.0.0.1/8', '127.1.0.1/16'), \
        doc2 = ipv4_is_in_any_range('192.168.1.1', '192.168.2.1/24', '10.0.0.1/8', '127.1.0.1/16'), \
        doc3 = ipv6_is_in_any_range('a5e:f127:8a9d:146d:e102:b5d3:c755:abcd', 'a5e:f127:8a9d:146d:e102:b5d3:c755:f6cd/112', '0:0:0:0:0:ffff:c0a8:ac/60'), \
        doc4 = ipv6_is_in_any_range('a5e:f127:8a9d:146d:e102:b5d3:c756:abd1', 'a5e:f127:8a9d:146d:e102:b5d3:c755:f6cd/112', '0:0:0:0:0:ffff:c0a8:ac/60'), \
        doc5 = has_any_ipv4_prefix('05:04:54 127.0.0.1 GET /favicon.ico 404', dynamic(['127.0.', '192.168.'])), \
        doc6 = has_any_ipv4_prefix('05:04:54 127.0.0.1 GET /favicon.ico 404', dynamic(['127.0'])), \
        doc7 = has_any_ipv4_prefix('05:04:54127.0.0.1 GET /favicon.ico 404', dynamic(['127.0.', '192.'])), \
        doc8 = has_any_ipv4_prefix('05:04:54 127.0.0.256 GET /favicon.ico 404', dynamic(['127.0.'])), \
        last_in = ipv4_is_in_any_range('172.31.255.255', '172.16.0.0/12', '10.0.0.0/8'), \
        next_out = ipv4_is_in_any_range('172.32.0.0', '172.16.0.0/12', '10.0.0.0/8'), \
        v6text = ipv4_is_in_any_range('fd00::1', '10.0.0.0/8', '0.0.0.0/0'), \
        mapped = ipv4_is_in_any_range('::ffff:10.0.0.1', '10.0.0.0/8', '11.0.0.0/8'), \
        garbage = ipv4_is_in_any_range(IP, '10.0.0.0/8', '11.0.0.0/8'), \
        empty6 = ipv6_is_in_any_range('', 'fc00::/7', 'fe80::/10'), \
        v4in6 = ipv6_is_in_any_range('10.0.0.1', 'fc00::/7', '::ffff:0:0/96'), \
        v4out6 = ipv6_is_in_any_range('10.0.0.1', 'fc00::/7', 'fe80::/10'), \
        ula = ipv6_is_in_any_range('fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fc00::/7', 'fe80::/10'), \
        whole = has_any_ipv4_prefix('10.9.8.128', dynamic(['10.9.8.128'])), \
        partial = has_any_ipv4_prefix('10.9.8.1280', dynamic(['10.9.8.128']))";
    let got = oracle::duckdb_kql_with("T", &[("IP", "string")], rows, kql, None, true)
        .expect("duckdb-kql oracle");
    let want = json!({
        "doc1": true, "doc2": false, "doc3": true, "doc4": false,
        "doc5": true, "doc6": false, "doc7": false, "doc8": false,
        "last_in": true, "next_out": false, "v6text": null, "mapped": null, "garbage": null,
        "empty6": null, "v4in6": true, "v4out6": false, "ula": true,
        "whole": true, "partial": false,
    });
    assert_eq!(got, vec![want]);
}

#[test]
fn ip_prelude_is_valid_kql_for_kusto_language() {
    let prelude = std::fs::read_to_string(oracle::repo_root().join("oracles/duckdb/prelude.kql"))
        .expect("prelude");
    let q = format!(
        "{prelude}T | where ipv4_is_in_range(IP, \"10.0.0.0/8\") and not(ipv4_is_private(IP)) \
         and ipv6_is_in_range(IP, \"fe80::/10\") \
         and ipv4_is_in_any_range(IP, \"10.0.0.0/8\", \"192.0.2.0/24\") \
         and ipv6_is_in_any_range(IP, \"fe80::/10\", \"fc00::/7\") \
         and has_any_ipv4_prefix(IP, dynamic([\"10.\", \"192.0.2.\"]))"
    );
    let results =
        oracle::kusto_check(&[("T", "(IP:string)")], &[("prelude", &q)]).expect("kusto oracle");
    assert!(results[0].1.is_empty(), "{:#?}", results[0].1);
}

/// The tests send duckdb-kql requests to long-lived `run_kql.py --serve` processes; a one-shot
/// run (stdin JSON, exit code) must give the same code, rows and error for the same request,
/// including after a failed request on the same server.
#[test]
fn duckdb_kql_serve_mode_answers_as_a_one_shot_run() {
    let python = oracle::repo_root().join(".oracles/venv/bin/python");
    let table = |kql: &str, rows: &str| {
        serde_json::json!({
            "table": "T",
            "columns": [["a", "string"], ["n", "long"], ["t", "datetime"]],
            "rows_jsonl": rows,
            "kql": kql,
            "prelude": true,
        })
    };
    let rows =
        "{\"a\":\"x\",\"n\":1,\"t\":\"2026-01-01T00:00:00Z\"}\n{\"a\":\"é\",\"n\":null}\n{}\n";
    let requests = [
        table("T | where a == \"x\"", rows),
        table("T | summarize c = count() by a", rows),
        table("T | where nosuch == 1", rows),
        table("T | where a == \"x\"", "{\"b\":1}\n"),
        table("T | where ipv4_is_private(\"10.0.0.1\")", rows),
        table("T | where a == \"x\"", rows),
    ];
    let mut codes = Vec::new();
    for req in &requests {
        let mut child = std::process::Command::new(&python)
            .arg(oracle::repo_root().join("oracles/duckdb/run_kql.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}; {}", python.display(), oracle::INSTALL_HINT));
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(req.to_string().as_bytes())
                .expect("write request");
        }
        let out = child.wait_with_output().expect("one-shot run");
        let one_shot = (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        let served = oracle::kql_oracle(req).expect("served run");
        assert_eq!(served, one_shot, "request {req}");
        codes.push(one_shot.0);
    }
    // The requests cover a run, a failed query and bad input.
    assert_eq!(codes, [0, 0, 1, 2, 0, 0]);
}
