//! osquery's results log (JSON lines, differential "event" format): `process_events` and
//! `es_process_events` rows read as process_creation (`osquery-process`), `socket_events` rows as
//! network_connection (`osquery-socket`), the other rows of the same log not applicable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules::*;

use detc::eval::run::read_events_for;
use detc::eval::schema;
use detc::ir::{Source, Value};
use std::path::PathBuf;

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detc-osquery-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A results-log line as osqueryd writes it (every column a string).
fn row(name: &str, action: &str, columns: &str) -> String {
    format!(
        r#"{{"name":"{name}","hostIdentifier":"mbp-7","calendarTime":"Tue Mar  3 22:15:00 2026 UTC","unixTime":1772576100,"epoch":0,"counter":3,"numerics":false,"decorations":{{"username":"ann"}},"columns":{{{columns}}},"action":"{action}"}}"#
    )
}

#[test]
fn process_rows_of_process_events_and_es_process_events() {
    let lines = [
        // EndpointSecurity exec: the event's own time, the user's name, parent pid.
        row(
            "pack_mac_es_process_events",
            "added",
            r#""event_type":"exec","pid":"4242","parent":"501","path":"/usr/bin/curl","cmdline":"curl --url smtps://smtp.example.com:465 --mail-rcpt x@example.com","cwd":"/Users/ann","username":"ann","time":"1772575201","signing_id":"com.apple.curl","platform_binary":"1""#,
        ),
        // fork and exit start no program.
        row(
            "pack_mac_es_process_events",
            "added",
            r#""event_type":"fork","pid":"4243","parent":"4242","path":"/usr/bin/curl","cmdline":"curl","time":"1772575202""#,
        ),
        row(
            "pack_mac_es_process_events",
            "added",
            r#""event_type":"exit","pid":"4242","parent":"501","path":"/usr/bin/curl","cmdline":"curl","time":"1772575203","exit_code":"0""#,
        ),
        // OpenBSM process_events: no event_type; parent -1 is "unknown"; no time column: unixTime.
        row(
            "process_events",
            "added",
            r#""pid":"77","parent":"-1","path":"/usr/bin/osascript","cmdline":"osascript -e tell application \"Mail\"","cwd":"","uid":"501""#,
        ),
        // A row that left the result set is no new process.
        row(
            "process_events",
            "removed",
            r#""pid":"78","parent":"1","path":"/bin/ls","cmdline":"ls","time":"1772575204""#,
        ),
        // Another query of the same log.
        row(
            "socket_events",
            "added",
            r#""action":"connect","pid":"4242","path":"/usr/bin/curl","remote_address":"192.0.2.25","remote_port":"465","family":"2","time":"1772575205""#,
        ),
    ];
    let p = file("process.jsonl", &(lines.join("\n") + "\n"));
    let (evs, sum) = read_events_for(&p, None, &[Source::ProcessCreation]).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("osquery-process")
    );
    assert_eq!((sum.events, sum.not_applicable, sum.bad_lines), (2, 4, 0));
    let e = &evs[0];
    assert_eq!(e["time"], Value::Timestamp(1_772_575_201));
    assert_eq!(e["host"], s("mbp-7"));
    assert_eq!(e["user"], s("ann"));
    assert_eq!(e["process.name"], s("curl"));
    assert_eq!(e["process.path"], s("/usr/bin/curl"));
    assert_eq!(e["process.id"], Value::Int(4242));
    assert_eq!(e["process.parent.id"], Value::Int(501));
    assert_eq!(e["process.current_directory"], s("/Users/ann"));
    assert_eq!(
        e["process.command_line"],
        s("curl --url smtps://smtp.example.com:465 --mail-rcpt x@example.com")
    );
    let b = &evs[1];
    assert_eq!(b["time"], Value::Timestamp(1_772_576_100), "unixTime");
    assert_eq!(b["process.name"], s("osascript"));
    assert!(!b.contains_key("process.parent.id"), "-1 is unknown");
    assert!(
        !b.contains_key("process.current_directory"),
        "\"\" is unset"
    );
    assert!(!b.contains_key("user"), "a uid is not an account name");
}

#[test]
fn socket_rows_connect_accept_and_outcomes() {
    let lines = [
        // macOS (OpenBSM): success 1, family 2.
        row(
            "socket_events",
            "added",
            r#""action":"connect","pid":"900","path":"/usr/bin/python3","fd":"5","auid":"501","family":"2","local_address":"","local_port":"0","remote_address":"192.0.2.25","remote_port":"587","success":"1","time":"1772575300""#,
        ),
        // accept: a peer opened it; IPv6 (osquery writes 10 on macOS too); failed.
        row(
            "socket_events",
            "added",
            r#""action":"accept","pid":"901","path":"/usr/sbin/sshd","family":"10","remote_address":"2001:db8::7","success":"0","time":"1772575301""#,
        ),
        // Linux: status, protocol; in_progress says neither succeeded nor failed.
        row(
            "socket_events",
            "added",
            r#""action":"connect","pid":"902","path":"/usr/bin/curl","family":"2","protocol":"6","remote_address":"192.0.2.26","remote_port":"25","status":"in_progress","time":"1772575302""#,
        ),
        // bind names no peer; a UNIX domain socket has no address.
        row(
            "socket_events",
            "added",
            r#""action":"bind","pid":"903","path":"/usr/sbin/httpd","family":"2","local_address":"0.0.0.0","local_port":"80","time":"1772575303""#,
        ),
        row(
            "socket_events",
            "added",
            r#""action":"connect","pid":"904","path":"/usr/bin/ssh","family":"1","remote_address":"","time":"1772575304""#,
        ),
        // A process row of the same log.
        row(
            "process_events",
            "added",
            r#""pid":"77","parent":"1","path":"/usr/bin/osascript","cmdline":"osascript","time":"1772575305""#,
        ),
        // A port that is not one is a bad line, located.
        row(
            "socket_events",
            "added",
            r#""action":"connect","pid":"905","path":"/usr/bin/nc","family":"2","remote_address":"192.0.2.27","remote_port":"70000","time":"1772575306""#,
        ),
    ];
    let p = file("socket.jsonl", &(lines.join("\n") + "\n"));
    let (evs, sum) = read_events_for(&p, None, &[Source::NetworkConnection]).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("osquery-socket")
    );
    assert_eq!((sum.events, sum.not_applicable, sum.bad_lines), (3, 3, 1));
    assert_eq!(sum.bad[0].line, 7);
    assert!(sum.bad[0].reason.contains("`70000` is not a port"));
    let c = &evs[0];
    assert_eq!(c["direction"], en("outbound"));
    assert_eq!(c["outcome"], en("succeeded"));
    assert_eq!(c["remote.ip"], ip("192.0.2.25"));
    assert_eq!(c["remote.port"], Value::Int(587));
    assert_eq!(c["local.port"], Value::Int(0));
    assert!(!c.contains_key("local.ip"));
    assert!(!c.contains_key("transport"), "no protocol column");
    assert_eq!(c["process.path"], s("/usr/bin/python3"));
    assert_eq!(c["process.name"], s("python3"));
    assert_eq!(c["process.id"], Value::Int(900));
    assert_eq!(c["time"], Value::Timestamp(1_772_575_300));
    let a = &evs[1];
    assert_eq!(a["direction"], en("inbound"));
    assert_eq!(a["outcome"], en("failed"));
    assert_eq!(a["remote.ip"], ip("2001:db8::7"));
    let l = &evs[2];
    assert_eq!(l["transport"], en("tcp"));
    assert!(!l.contains_key("outcome"), "in_progress");
}

/// An `applies` condition says which values hold (`in`) or that any does (`present: true`):
/// both, or neither, is refused with the key.
#[test]
fn an_applies_condition_needs_in_or_present() {
    for cond in ["{field: [a], in: [x], present: true}", "{field: [a]}"] {
        let text = format!(
            "name: x\ndescription: d\nsource: network_flow\ndetect: [[a]]\napplies:\n  - {cond}\nfields:\n  time: {{from: [t]}}\n"
        );
        let e = schema::InputSchema::parse("x.yaml", &text).unwrap_err();
        assert!(
            e.contains("the condition on `a` needs `in` or `present: true`"),
            "{cond}: {e}"
        );
    }
}
