//! osquery's results log (JSON lines; the differential "event" format, and the batch and
//! snapshot formats, src/eval/osquery.rs): `process_events` and `es_process_events` rows read as
//! process_creation (`osquery-process`), `socket_events` rows as network_connection
//! (`osquery-socket`), the other rows of the same log not applicable.
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

/// osquery's sample process_events row (docs/wiki/deployment/process-auditing.md, as in
/// rules/fixtures/realdata/osquery_docs_process_socket_events.jsonl), its columns verbatim.
const DOC_ROW: &str = r#"{"uid":"0","time":"1527895541","pid":"30219","path":"/usr/bin/curl","auid":"1000","cmdline":"curl google.com","ctime":"1503452096","cwd":"","egid":"0","euid":"0","gid":"0","parent":""}"#;

/// The same row in the event format, as a batch line (`diffResults`, osquery's "Batch format")
/// and as a snapshot line ("Snapshot format", docs/wiki/deployment/logging.md): one event each,
/// equal field for field; a batch's removed row is not an event (it left the result set);
/// a row that is not an object is a bad line at its line, and the lines after it are read.
#[test]
fn batch_and_snapshot_lines_are_their_rows() {
    let head = r#""unixTime":1527895550,"hostIdentifier":"vagrant","name":"process_events","numerics":false"#;
    let event = format!(r#"{{"action":"added","columns":{DOC_ROW},{head}}}"#);
    let batch = format!(
        r#"{{"diffResults":{{"added":[{DOC_ROW},{}],"removed":[{}]}},{head}}}"#,
        DOC_ROW.replace("30219", "30300"),
        DOC_ROW.replace("30219", "30100")
    );
    let snapshot = format!(
        r#"{{"action":"snapshot","snapshot":[{DOC_ROW},"not a row",{}],{head}}}"#,
        DOC_ROW.replace("30219", "30400")
    );
    let p = file(
        "formats.jsonl",
        &format!("{event}\n{batch}\n{snapshot}\n{event}\n"),
    );
    let (evs, sum) = read_events_for(&p, None, &[Source::ProcessCreation]).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("osquery-process")
    );
    // events: line 1, two added rows of line 2, two rows of line 3, line 4; the removed row
    // of line 2 is not applicable; the string of line 3 is bad.
    assert_eq!((sum.events, sum.not_applicable, sum.bad_lines), (6, 1, 1));
    assert_eq!(sum.bad[0].line, 3);
    assert!(
        sum.bad[0]
            .reason
            .contains("row 2 of `snapshot` is a string"),
        "{:?}",
        sum.bad[0]
    );
    let pids: Vec<&Value> = evs.iter().map(|e| &e["process.id"]).collect();
    assert_eq!(
        pids,
        [30219, 30219, 30300, 30219, 30400, 30219]
            .iter()
            .map(|n| Value::Int(*n))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    for e in &evs[1..] {
        if e["process.id"] == Value::Int(30219) {
            assert_eq!(e, &evs[0], "the same row in every format is the same event");
        }
    }
    // A file whose first line is a snapshot line is detected from its first row.
    let p = file("snapshot-first.jsonl", &format!("{snapshot}\n"));
    let (evs, sum) = read_events_for(&p, None, &[Source::ProcessCreation]).unwrap();
    assert_eq!((evs.len(), sum.bad_lines), (2, 1));
}

/// osquery's documented snapshot example verbatim (a `processes` query: parent, path and pid,
/// no command line): four rows, none a process_events row, each counted, none dropped unseen.
#[test]
fn the_documented_snapshot_example_is_four_rows_not_applicable() {
    let doc = r#"{"action":"snapshot","snapshot":[{"parent":"0","path":"/sbin/launchd","pid":"1"},{"parent":"1","path":"/usr/sbin/syslogd","pid":"51"},{"parent":"1","path":"/usr/libexec/UserEventAgent","pid":"52"},{"parent":"1","path":"/usr/libexec/kextd","pid":"54"}],"name":"process_snapshot","hostIdentifier":"hostname.local","calendarTime":"Mon May  2 22:27:32 2016 UTC","unixTime":"1462228052","epoch":"314159265","counter":"1"}"#;
    let p = file("doc-snapshot.jsonl", &format!("{doc}\n"));
    let (evs, sum) =
        read_events_for(&p, Some("osquery-process"), &[Source::ProcessCreation]).unwrap();
    assert!(evs.is_empty());
    assert_eq!((sum.rows, sum.not_applicable, sum.bad_lines), (4, 4, 0));
}

/// `detc run` reads batch and snapshot lines wherever they are in a results log (not only
/// first, so not in raw blocks): an alert for each added or snapshot row that matches, none for
/// a removed row, and a bad row reported at its line.
#[test]
fn run_alerts_on_rows_of_batch_and_snapshot_lines() {
    let head = r#""unixTime":1527895550,"hostIdentifier":"vagrant","name":"process_events","numerics":false"#;
    let mail = |pid: &str| {
        DOC_ROW
            .replace(
                "curl google.com",
                "curl smtps://smtp.example.com --mail-rcpt a@example.com",
            )
            .replace("30219", pid)
    };
    let lines = [
        format!(r#"{{"action":"added","columns":{DOC_ROW},{head}}}"#),
        format!(
            r#"{{"diffResults":{{"added":[{DOC_ROW},{}],"removed":[{}]}},{head}}}"#,
            mail("30501"),
            mail("30502")
        ),
        format!(
            r#"{{"action":"snapshot","snapshot":[7,{}],{head}}}"#,
            mail("30601")
        ),
    ];
    let p = file("run.jsonl", &(lines.join("\n") + "\n"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_detc"))
        .args(["run", "rules", "--events", p.to_str().unwrap()])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    let pids: Vec<i64> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["rule_name"] == "an0380_linux_mail_tool")
        .map(|a| a["group"]["process.id"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(pids, [30501, 30601], "{out}{err}");
    assert!(
        err.contains("run.jsonl:3") && err.contains("row 1 of `snapshot` is a number"),
        "{err}"
    );
}
