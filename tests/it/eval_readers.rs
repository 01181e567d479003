//! Readers and input schemas: every format, conversions, detection, bad lines, errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules;

use detc::eval::run::{read_events, run_files, RunOptions};
use detc::eval::schema;
use detc::ir::Value;
use rules::*;
use std::io::Write;
use std::path::PathBuf;

/// A fresh file under the target dir's temp area (unique per test and name).
fn file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detc-eval-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn builtin_schemas_parse_and_use_catalogue_fields() {
    let all = schema::builtin().unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, detc::registry::INPUT_NAMES);
    // A field name outside the catalogue is rejected with the name.
    let bad = "name: x\ndescription: d\nsource: network_flow\ndetect: [[a]]\nfields:\n  remote.port: {from: [p]}\n";
    let e = schema::InputSchema::parse("x.yaml", bad).unwrap_err();
    assert!(
        e.contains("`remote.port` is not a field of network_flow"),
        "{e}"
    );
}

#[test]
fn sysmon_conversions_and_inbound_swap() {
    let lines = concat!(
        r#"{"EventID":3,"Channel":"Microsoft-Windows-Sysmon/Operational","UtcTime":"2021-03-14 06:39:39.023","Hostname":"H","User":"NT AUTHORITY\\SYSTEM","Image":"C:\\Program Files\\X\\Foo.EXE","Protocol":"tcp","Initiated":"true","SourceIp":"192.168.2.5","SourcePort":"30009","DestinationIp":"192.168.2.6","DestinationPort":"25","DestinationHostname":"-"}"#,
        "\n",
        r#"{"EventID":3,"Channel":"Microsoft-Windows-Sysmon/Operational","UtcTime":"2021-03-14 06:39:39.023","Hostname":"H","Image":"/usr/bin/nc","Protocol":"UDP","Initiated":"false","SourceIp":"192.168.2.5","SourcePort":30009,"DestinationIp":"192.168.2.6","DestinationPort":25}"#,
        "\n",
        r#"{"EventID":3,"SourceName":"Microsoft-Exchange-ActiveMonitoring","Channel":"Microsoft-Exchange-ActiveMonitoring/ProbeResult","UtcTime":"2021-03-14 06:39:39.023"}"#,
        "\n",
        r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","UtcTime":"2021-03-14 06:39:39.023"}"#,
        "\n"
    );
    let p = file("sysmon", "s.jsonl", lines.as_bytes());
    let (evs, sum) =
        detc::eval::run::read_events_for(&p, None, &[detc::ir::Source::NetworkConnection]).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("sysmon")
    );
    assert_eq!((sum.events, sum.not_applicable, sum.bad_lines), (2, 2, 0));
    let out = &evs[0];
    assert_eq!(out["time"], Value::Timestamp(1_615_703_979));
    assert_eq!(out["process.name"], s("Foo.EXE"));
    assert_eq!(out["process.path"], s("C:\\Program Files\\X\\Foo.EXE"));
    assert_eq!(out["remote.port"], Value::Int(25));
    assert_eq!(out["local.port"], Value::Int(30009));
    assert_eq!(out["direction"], en("outbound"));
    assert_eq!(out["transport"], en("tcp"));
    assert!(!out.contains_key("remote.host"), "`-` is unset");
    let inb = &evs[1];
    // Initiated=false: Sysmon's Destination is the local side.
    assert_eq!(inb["direction"], en("inbound"));
    assert_eq!(inb["local.port"], Value::Int(25));
    assert_eq!(inb["remote.port"], Value::Int(30009));
    assert_eq!(inb["remote.ip"], ip("192.168.2.5"));
    assert_eq!(inb["process.name"], s("nc"));
    assert_eq!(inb["transport"], en("udp"));
    // Initiated in any case (winlogbeat writes True/False).
    for (init, dir, rport) in [("False", "inbound", 30009), ("TRUE", "outbound", 25)] {
        let line = format!(
            r#"{{"EventID":3,"UtcTime":"2021-03-14 06:39:39","Image":"a.exe","Initiated":"{init}","SourcePort":"30009","DestinationPort":"25"}}"#
        );
        let p = file("sysmon", &format!("{init}.jsonl"), line.as_bytes());
        let (evs, _) = read_events(&p, Some("sysmon")).unwrap();
        assert_eq!(evs[0]["direction"], en(dir), "{init}");
        assert_eq!(evs[0]["remote.port"], Value::Int(rport), "{init}");
    }
}

#[test]
fn defender_csv_quoting_and_action_types() {
    let csv = "\u{feff}Timestamp,DeviceName,ActionType,RemoteIP,RemotePort,InitiatingProcessFileName,InitiatingProcessCommandLine,InitiatingProcessAccountDomain,InitiatingProcessAccountName\r\n\
2021-08-02T13:11:39.7724491Z,dev1,ConnectionSuccess,2001:db8::1,\"25\",a.exe,\"a.exe \"\"x, y\"\"\",corp,bob\r\n\
2021-08-02T13:11:40Z,dev1,InboundConnectionAccepted,10.0.0.1,993,b.exe,\"multi\nline\",,alice\r\n\
2021-08-02T13:11:41Z,dev1,ConnectionFailed,10.0.0.1,notaport,c.exe,c,,\r\n\
2021-08-02T13:11:42Z,dev1,ProcessCreated,,,d.exe,d,,\r\n\
2021-08-02T13:11:43Z,dev1,ConnectionSuccess,10.0.0.1\r\n";
    let p = file("defender", "d.csv", csv.as_bytes());
    let (evs, sum) = read_events(&p, None).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("defender")
    );
    assert_eq!((sum.events, sum.not_applicable, sum.bad_lines), (2, 1, 2));
    assert_eq!(evs[0]["process.command_line"], s("a.exe \"x, y\""));
    assert_eq!(evs[0]["user"], s("corp\\bob"));
    assert_eq!(evs[0]["remote.ip"], ip("2001:db8::1"));
    assert_eq!(evs[0]["outcome"], en("succeeded"));
    assert_eq!(evs[0]["direction"], en("outbound"));
    assert_eq!(evs[0]["time"], Value::Timestamp(1_627_909_899));
    assert_eq!(evs[1]["process.command_line"], s("multi\nline"));
    assert_eq!(evs[1]["user"], s("alice"));
    assert_eq!(evs[1]["direction"], en("inbound"));
    // Bad rows carry their first line number and a reason; the multi-line row took lines 3-4.
    let bad: Vec<(u64, &str)> = sum
        .bad
        .iter()
        .map(|b| (b.line, b.reason.as_str()))
        .collect();
    assert_eq!(bad[0].0, 5);
    assert!(
        bad[0].1.contains("`notaport` is not a port"),
        "{}",
        bad[0].1
    );
    assert_eq!(bad[1].0, 7);
    assert!(
        bad[1].1.contains("4 cells where the header has 9"),
        "{}",
        bad[1].1
    );
}

#[test]
fn zeek_tsv_json_and_gzip() {
    let tsv = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\n\
1692161643.549491\tC1\t192.168.1.41\t55213\t10.0.5.13\t25\ttcp\tsmtp,ssl\t1.201128\t0\t403\n\
1692161644.0\tC2\t192.168.1.41\t55214\t10.0.5.13\t25\ttcp\t(empty)\t-\t-\t-\n\
XXXXXXXXXX.XXXXXX\tC3\t192.168.1.41\t55215\t10.0.5.13\t25\ttcp\t-\t-\t-\t-\n\
#close\t2023-08-16-01-28-55\n";
    let p = file("zeek", "conn.log", tsv.as_bytes());
    let (evs, sum) = read_events(&p, None).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("zeek-conn")
    );
    assert_eq!((sum.events, sum.bad_lines), (2, 1));
    assert_eq!(sum.bad[0].line, 10);
    assert!(sum.bad[0].reason.contains("XXXXXXXXXX.XXXXXX"));
    assert_eq!(evs[0]["time"], Value::Timestamp(1_692_161_643));
    assert_eq!(evs[0]["src.ip"], ip("192.168.1.41"));
    assert_eq!(evs[0]["dst.port"], Value::Int(25));
    assert_eq!(evs[0]["bytes.sent"], Value::Int(0));
    assert_eq!(evs[0]["bytes.received"], Value::Int(403));
    assert_eq!(evs[0]["duration"], Value::Int(1));
    assert_eq!(evs[0]["app.protocol"], s("smtp,ssl"));
    assert!(!evs[1].contains_key("app.protocol") && !evs[1].contains_key("bytes.sent"));

    // JSON with either key style, and a nested `id` object; gzip of the same; a BOM first.
    let json = concat!(
        "\u{feff}",
        r#"{"ts":1588205198.89971,"id_orig_h":"10.0.1.4","id_orig_p":64842,"id_resp_h":"8.8.8.8","id_resp_p":"53","proto":"udp","orig_bytes":39}"#,
        "\n",
        r#"{"ts":"1588205199","id.orig_h":"10.0.1.4","id.orig_p":1,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","orig_bytes":null}"#,
        "\n",
        r#"{"ts":1588205200,"id":{"orig_h":"10.0.1.5","orig_p":1,"resp_h":"8.8.8.8","resp_p":53},"proto":"tcp","service":"dns"}"#,
        "\n",
        "not json\n",
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes()).unwrap();
    let gzp = file("zeek", "conn.json.gz", &gz.finish().unwrap());
    for p in [file("zeek", "conn.json", json.as_bytes()), gzp] {
        let (evs, sum) = read_events(&p, Some("zeek-conn")).unwrap();
        assert_eq!((sum.events, sum.bad_lines), (3, 1), "{}", p.display());
        assert_eq!(sum.bad[0].line, 4);
        assert!(sum.bad[0].reason.starts_with("invalid JSON"));
        assert_eq!(evs[0]["src.ip"], ip("10.0.1.4"));
        assert_eq!(evs[0]["dst.port"], Value::Int(53));
        assert_eq!(evs[0]["time"], Value::Timestamp(1_588_205_198));
        assert_eq!(evs[1]["time"], Value::Timestamp(1_588_205_199));
        assert!(!evs[1].contains_key("bytes.sent"));
        assert_eq!(evs[2]["src.ip"], ip("10.0.1.5"));
    }
}

#[test]
fn detection_errors_and_strict() {
    let rules = pack();
    let opts = RunOptions::default();
    // Ambiguous: keys of both sysmon and defender, and a record both take (a Sysmon EventID 3
    // on the Sysmon channel; with another channel only defender takes it, and is chosen).
    let amb = file(
        "errors",
        "amb.jsonl",
        br#"{"EventID":3,"Channel":"Microsoft-Windows-Sysmon/Operational","ActionType":"ConnectionSuccess","DeviceName":"d","Timestamp":"2021-01-01T00:00:00Z"}"#,
    );
    let e = run_files(&rules, std::slice::from_ref(&amb), &opts)
        .err()
        .unwrap();
    assert!(
        e.message.contains("matches several input schemas"),
        "{}",
        e.message
    );
    assert_eq!(e.found.as_deref(), Some("defender, sysmon"));
    // --schema settles it.
    let forced = RunOptions {
        schema: Some("defender".into()),
        ..RunOptions::default()
    };
    assert_eq!(
        run_files(&rules, &[amb], &forced).unwrap().summary.events,
        1
    );
    // Unknown schema, missing file, binary file, a folder, a JSON array.
    let bogus = RunOptions {
        schema: Some("sysmonn".into()),
        ..RunOptions::default()
    };
    let any = file("errors", "one.jsonl", b"{\"a\":1}\n");
    let e = run_files(&rules, std::slice::from_ref(&any), &bogus)
        .err()
        .unwrap();
    assert!(e.message.contains("unknown input schema `sysmonn`"));
    let e = run_files(&rules, &[PathBuf::from("/nonexistent/x.jsonl")], &opts)
        .err()
        .unwrap();
    assert!(e.message.contains("cannot open"), "{}", e.message);
    let bin = file("errors", "b.jsonl", b"{\x00\x01\x02");
    let e = run_files(&rules, &[bin], &opts).err().unwrap();
    assert!(e.message.contains("binary"), "{}", e.message);
    let dir = any.parent().unwrap().to_path_buf();
    assert!(run_files(&rules, &[dir], &opts).is_err());
    let arr = file("errors", "arr.json", b"[{\"a\":1}]\n");
    let e = run_files(&rules, &[arr], &opts).err().unwrap();
    assert!(e.message.contains("jq -c"), "{}", e.message);
    // Undetectable.
    let e = run_files(&rules, &[any], &opts).err().unwrap();
    assert!(e.message.contains("matches no input schema"));
    // Strict: the first bad line (by position) is fatal and named.
    let mut text = String::new();
    for i in 0..10_000 {
        if i == 7000 || i == 9000 {
            text.push_str("{broken\n");
        } else {
            text.push_str(&format!(
                "{{\"EventID\":3,\"UtcTime\":\"2021-01-01 00:00:{:02}\",\"Image\":\"a.exe\",\"DestinationPort\":\"25\"}}\n",
                i % 60
            ));
        }
    }
    let big = file("errors", "big.jsonl", text.as_bytes());
    let strict = RunOptions {
        strict: true,
        ..RunOptions::default()
    };
    let e = run_files(&rules, std::slice::from_ref(&big), &strict)
        .err()
        .unwrap();
    assert!(e.message.contains(":7001: malformed line"), "{}", e.message);
    let out = run_files(&rules, &[big], &opts).unwrap();
    assert_eq!(out.summary.bad_lines, 2);
    assert_eq!(out.summary.events, 9998);
    assert_eq!(
        out.summary.bad.iter().map(|b| b.line).collect::<Vec<_>>(),
        [7001, 9001]
    );
}

#[test]
fn threads_do_not_change_results() {
    // 30,000 events over many hosts (several chunks): 1 thread and 4 threads agree exactly.
    let mut text = String::new();
    for i in 0..30_000u64 {
        let host = format!("WS{:03}", i % 97);
        let port = [25, 587, 443, 110][(i % 4) as usize];
        let image = ["rundll32.exe", "outlook.exe", "powershell.exe"][(i % 3) as usize];
        text.push_str(&format!(
            "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 {:02}:{:02}:{:02}.000\",\"Computer\":\"{host}\",\"User\":\"u\",\"Image\":\"C:\\\\w\\\\{image}\",\"Initiated\":\"true\",\"DestinationIp\":\"93.184.216.{}\",\"DestinationPort\":\"{port}\"}}\n",
            (i / 3600) % 24, (i / 60) % 60, i % 60, i % 5
        ));
    }
    let p = file("threads", "many.jsonl", text.as_bytes());
    let rules = pack();
    let one = run_files(
        &rules,
        std::slice::from_ref(&p),
        &RunOptions {
            threads: 1,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let four = run_files(
        &rules,
        std::slice::from_ref(&p),
        &RunOptions {
            threads: 4,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(one.alerts, four.alerts);
    assert_eq!(one.summary, four.summary);
    assert!(one.alerts.len() > 50);
    // A quarter of the lines (port 443) cannot match any rule: the prefilter skips them.
    assert_eq!(one.summary.prefiltered, 7_500);
    assert_eq!(one.summary.events, 22_500);
    let full = run_files(
        &rules,
        std::slice::from_ref(&p),
        &RunOptions {
            prefilter: false,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(full.alerts, one.alerts);
    assert_eq!(full.summary.events, 30_000);
}

#[test]
fn lines_longer_than_a_block_and_block_boundaries() {
    // A 3 MiB line (longer than the 1 MiB read block), then many short lines spanning several
    // blocks, with bad lines whose numbers must survive the block cuts.
    let ok = |i: usize| {
        format!(
            "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:{:02}\",\"Image\":\"a.exe\",\"DestinationPort\":\"25\"}}\n",
            i % 60
        )
    };
    let mut text = format!(
        "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00\",\"Image\":\"a.exe\",\"DestinationPort\":\"25\",\"Message\":\"{}\"}}\n",
        "x".repeat(3 << 20)
    );
    for i in 2..=40_000 {
        if i % 9_999 == 0 {
            text.push_str("{\"EventID\":3,\"UtcTime\":\"nope\",\"DestinationPort\":\"25\"}\n");
        } else {
            text.push_str(&ok(i));
        }
    }
    let p = file("blocks", "long.jsonl", text.as_bytes());
    let out = run_files(&pack(), &[p], &RunOptions::default()).unwrap();
    assert_eq!(out.summary.rows, 40_000);
    assert_eq!(out.summary.bad_lines, 4);
    assert_eq!(
        out.summary.bad.iter().map(|b| b.line).collect::<Vec<_>>(),
        [9_999, 19_998, 29_997, 39_996]
    );
    assert_eq!(out.summary.events, 39_996);
}

/// The full path keeps only the columns a mapping reads, but still counts every cell and
/// unescapes or unquotes the cells it keeps: escapes and quotes in read and unread columns,
/// and a cell too many in an unread column (a bad line, not a silently shifted row).
#[test]
fn table_rows_keep_the_columns_read_and_count_every_one() {
    let tsv = "#separator \\x09\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\n\
1692161643.5\tC\\x09x\t10.0.0.1\t1\t10.0.0.2\t25\ttcp\tSMTP\\x2cssl\n\
1692161644.5\tC2\textra\t10.0.0.1\t1\t10.0.0.2\t25\ttcp\tsmtp\n\
1692161645.5\tC3\t10.0.0.1\t1\t10.0.0.2\t587\ttcp\t-\n";
    let p = file("columns", "conn.log", tsv.as_bytes());
    let (evs, sum) = read_events(&p, None).unwrap();
    assert_eq!((sum.events, sum.bad_lines), (2, 1));
    assert_eq!(sum.bad[0].line, 5);
    assert!(
        sum.bad[0].reason.contains("9 cells where the header has 8"),
        "{}",
        sum.bad[0].reason
    );
    assert_eq!(evs[0]["app.protocol"], s("smtp,ssl"));
    assert_eq!(evs[1]["dst.port"], Value::Int(587));
    assert!(!evs[1].contains_key("app.protocol"));

    let csv = "Timestamp,DeviceName,ActionType,RemotePort,Unread\n\
2021-08-02T13:11:39Z,dev1,ConnectionSuccess,25,\"a,\"\"b\"\"\"\n\
2021-08-02T13:11:40Z,dev1,ConnectionSuccess,26,plain\n\
2021-08-02T13:11:41Z,dev1,ConnectionSuccess,27,x,y\n\
2021-08-02T13:11:42Z,\"dev,2\",ConnectionSuccess,\"28\",\n";
    let p = file("columns", "d.csv", csv.as_bytes());
    let (evs, sum) = read_events(&p, None).unwrap();
    assert_eq!((sum.events, sum.bad_lines), (3, 1));
    assert_eq!(sum.bad[0].line, 4);
    assert!(
        sum.bad[0].reason.contains("6 cells where the header has 5"),
        "{}",
        sum.bad[0].reason
    );
    let ports: Vec<&Value> = evs.iter().map(|e| &e["remote.port"]).collect();
    assert_eq!(ports, [&Value::Int(25), &Value::Int(26), &Value::Int(28)]);
    assert_eq!(evs[2]["host"], s("dev,2"));
}

/// A Sysmon file mixes EventIDs 1 and 3. One that starts with an EventID 1 line is detected by
/// both `sysmon` and `sysmon-process`: the rules' source picks the schema, and each takes only its
/// own EventID. A file that starts with EventID 3 lines (OTRF's Covenant file: 276 connections, 1
/// process creation) is `sysmon`'s; `--schema sysmon-process` reads its one EventID 1 line and
/// none of its EventID 3 lines.
#[test]
fn a_mixed_sysmon_file_is_read_through_the_schema_of_the_rules_source() {
    use detc::eval::run::read_events_for;
    use detc::ir::Source;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/fixtures/realdata");
    let eid1 = dir.join("covenant_process_creation.jsonl");
    let (procs, sum) = read_events_for(&eid1, None, &[Source::ProcessCreation]).unwrap();
    assert_eq!(procs.len(), 17);
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("sysmon-process")
    );
    let (conns, sum) = read_events_for(&eid1, None, &[Source::NetworkConnection]).unwrap();
    assert_eq!(
        (conns.len(), sum.not_applicable),
        (0, 17),
        "no EventID 1 line is a connection"
    );
    let err = read_events(&eid1, None)
        .err()
        .map(|d| d.message)
        .unwrap_or_default();
    assert!(err.contains("matches several input schemas"), "{err}");

    let mixed = dir.join("covenant_psremoting_grunt.jsonl");
    let (procs, sum) = read_events(&mixed, Some("sysmon-process")).unwrap();
    assert_eq!(procs.len(), 1, "the one EventID 1 line");
    assert_eq!(sum.bad_lines, 0);
    assert_eq!(
        procs[0].get("process.name"),
        Some(&Value::Str("gpupdate.exe".into()))
    );
    assert_eq!(
        procs[0].get("process.parent.name"),
        Some(&Value::Str("svchost.exe".into()))
    );
    let (conns, _) = read_events(&mixed, None).unwrap();
    assert_eq!(conns.len(), 276, "the EventID 3 lines, read as sysmon");
}

/// EVTX exported to JSON (SigmaHQ's regression data): pretty-printed documents one after
/// another are read as events at the line where each document starts; a truncated document is a
/// bad line at its first line and does not swallow the document after it.
#[test]
fn evtx_json_documents_are_events_and_bad_documents_are_located() {
    use detc::eval::run::read_events_for;
    use detc::ir::Source;
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("rules/fixtures/realdata/sigmahq_dtrace_kernel_dump.evtx.json");
    let (evs, sum) = read_events_for(&p, None, &[Source::ProcessCreation]).unwrap();
    assert_eq!((evs.len(), sum.bad_lines), (2, 0));
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("sysmon-process")
    );
    assert_eq!(
        evs[0].get("process.name"),
        Some(&Value::Str("dtrace.exe".into()))
    );
    assert_eq!(
        evs[0].get("host"),
        Some(&Value::Str("ar-win-dc.attackrange.local".into()))
    );

    let good = std::fs::read_to_string(&p).unwrap();
    let second = good.find("\n{").unwrap() + 1;
    // Documents 1, 2 cut 40 bytes before its end, then 1 again.
    let (first, rest) = good.split_at(second);
    let cut = &rest[..rest.len() - 40];
    let text = format!("{first}{cut}\n{first}");
    let q = file("evtx", "t.json", text.as_bytes());
    let (evs, sum) = read_events_for(&q, None, &[Source::ProcessCreation]).unwrap();
    assert_eq!(evs.len(), 2, "the intact documents");
    assert_eq!(sum.bad_lines, 1);
    let line2 = first.lines().count() as u64 + 1;
    assert_eq!(sum.bad[0].line, line2, "{:?}", sum.bad);
    assert!(sum.bad[0].reason.contains("invalid JSON"), "{:?}", sum.bad);
}

/// Zeek's dns.log, TSV and JSON lines: the wire's addresses, the name, the record type, the
/// answers as Zeek writes them (TSV: comma-separated), and `outcome` from `rcode_name` (NOERROR
/// succeeded, another code failed, no reply missing). JSON writes `answers` as an array, which is
/// no scalar value: missing there.
#[test]
fn zeek_dns_log_tsv_and_json_lines() {
    use detc::eval::run::read_events_for;
    use detc::ir::Source;
    let tsv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/fixtures/an0379/dns_wire.log");
    let (evs, sum) = read_events_for(&tsv, None, &[Source::DnsQuery]).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("zeek-dns")
    );
    assert_eq!((evs.len(), sum.bad_lines), (3, 0));
    let get = |i: usize, k: &str| evs[i].get(k).cloned();
    assert_eq!(
        get(0, "query.name"),
        Some(Value::Str("smtp.gmail.com".into()))
    );
    assert_eq!(get(0, "query.type"), Some(Value::Str("A".into())));
    assert_eq!(get(0, "outcome"), Some(Value::Enum("succeeded".into())));
    assert_eq!(
        get(0, "answers"),
        Some(Value::Str("142.250.27.108,142.250.27.109".into()))
    );
    assert_eq!(
        get(0, "client.ip"),
        Some(Value::Ip("10.0.0.21".parse().unwrap()))
    );
    assert_eq!(
        get(0, "server.ip"),
        Some(Value::Ip("10.0.0.2".parse().unwrap()))
    );
    assert_eq!(get(1, "outcome"), Some(Value::Enum("failed".into())));
    assert_eq!(get(2, "outcome"), None, "no reply: no rcode_name");
    assert_eq!(get(2, "query.type"), Some(Value::Str("MX".into())));

    let json = file(
        "zeek_dns",
        "dns.jsonl",
        br#"{"ts":1763632800.0,"uid":"C1","id_orig_h":"10.0.0.21","id_orig_p":53124,"id_resp_h":"10.0.0.2","id_resp_p":53,"proto":"udp","query":"imap.gmail.com","qtype_name":"A","rcode_name":"NOERROR","answers":["142.250.27.108"]}
{"ts":1763632801.0,"uid":"C2","id.orig_h":"10.0.0.22","id.orig_p":53125,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","query":"nosuch.example","qtype_name":"AAAA","rcode_name":"NXDOMAIN"}
"#,
    );
    let (evs, sum) = read_events_for(&json, None, &[Source::DnsQuery]).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("zeek-dns")
    );
    assert_eq!((evs.len(), sum.bad_lines), (2, 0));
    assert_eq!(
        evs[0].get("query.name"),
        Some(&Value::Str("imap.gmail.com".into()))
    );
    assert_eq!(evs[0].get("answers"), None, "a JSON array is not a scalar");
    assert_eq!(
        evs[1].get("client.ip"),
        Some(&Value::Ip("10.0.0.22".parse().unwrap()))
    );
    assert_eq!(evs[1].get("outcome"), Some(&Value::Enum("failed".into())));
}

/// Sysmon EventID 22 (OTRF's Covenant lines): the image, the name as Sysmon writes it (a reverse
/// name keeps its final dot), and QueryStatus 0 succeeded, 9003 failed.
#[test]
fn sysmon_dns_queries_from_real_lines() {
    use detc::eval::run::read_events_for;
    use detc::ir::Source;
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("rules/fixtures/realdata/covenant_dns_query.jsonl");
    let (evs, sum) = read_events_for(&p, None, &[Source::DnsQuery]).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("sysmon-dns")
    );
    assert_eq!((evs.len(), sum.bad_lines), (20, 0));
    let failed: Vec<&Value> = evs
        .iter()
        .filter(|e| e.get("outcome") == Some(&Value::Enum("failed".into())))
        .filter_map(|e| e.get("query.name"))
        .collect();
    assert_eq!(
        failed,
        vec![
            &Value::Str("25.32.114.52.in-addr.arpa.".into()),
            &Value::Str("25.32.114.52.in-addr.arpa.".into())
        ]
    );
    assert!(evs.iter().all(|e| e.get("process.path").is_some()));
    assert!(evs
        .iter()
        .any(|e| e.get("process.name") == Some(&Value::Str("powershell.exe".into()))));
}

/// CSV is read in blocks of lines split by the workers, and by the row reader from the first
/// quoted cell that spans lines on: whatever the block size (a row on a block's edge), threads
/// and prefilter, a run counts the rows, events, rows not applicable and bad lines (numbers and
/// reasons) that the row reader alone reads, and raises one alert per matching event. Awkward
/// rows throughout: CRLF and several `\r`, blank and whitespace-only lines (one of a Unicode
/// space), quoted separators and `""`, bad cells, a byte that is not UTF-8, a stray quote (one
/// bad line, the lines after it read again), multi-line cells, the last line without a break.
#[test]
fn csv_blocks_agree_with_the_row_reader() {
    let header = "Timestamp,DeviceName,ActionType,RemoteIP,RemotePort,InitiatingProcessFileName,InitiatingProcessCommandLine\r\n";
    let row = |i: usize, port: &str, cmd: &str, end: &str| {
        format!(
            "2021-08-02T13:{:02}:{:02}Z,dev{},ConnectionSuccess,10.0.{}.1,{port},a.exe,{cmd}{end}",
            (i / 60) % 60,
            i % 60,
            i % 7,
            i % 250
        )
    };
    let plain = |i: usize| -> Vec<u8> {
        let port = ["25", "443", "\"587\"", "x25"][i % 4];
        let cmd = ["a.exe", "\"a.exe --to \"\"x, y\"\"\"", "\"\"", ""][(i / 4) % 4];
        let end = ["\n", "\r\n", "\r\r\n"][(i / 16) % 3];
        row(i, port, cmd, end).into_bytes()
    };
    let odd = |i: usize| -> Vec<u8> {
        match i % 8 {
            0 => b"\n".to_vec(),
            1 => " \t\r\n".as_bytes().to_vec(),
            2 => "\u{3000}\n".as_bytes().to_vec(),
            3 => {
                let mut b = row(i, "25", "caf", "");
                b.push_str("\u{e9}\n");
                let mut v = b.into_bytes();
                let at = v.len() - 3;
                v[at] = 0xff;
                v
            }
            4 => row(i, "25", "a,b", "\n").into_bytes(),
            5 => row(i, "110", "x\"y", "\n").into_bytes(),
            6 => row(i, "25", "\"two\nlines, \"\"quoted\"\"\"", "\r\n").into_bytes(),
            _ => row(i, "993", "\"stray", "\n").into_bytes(),
        }
    };
    // Files: rows that are lines only; odd rows early, in the middle (on block edges for the
    // small blocks) and last; and the last line without a line break.
    let mut files = Vec::new();
    for (name, odd_at) in [
        ("plain", usize::MAX),
        ("early", 3),
        ("middle", 37),
        ("late", 1200),
    ] {
        let mut b = header.as_bytes().to_vec();
        for i in 0..1500 {
            b.extend(plain(i));
            if i >= odd_at && (i - odd_at) % 5 == 0 {
                b.extend(odd(i / 5));
            }
        }
        b.extend(row(9999, "25", "last", "").into_bytes());
        files.push(file("csvblocks", &format!("{name}.csv"), &b));
    }
    let rule = connection_rule("mail", "6b6b6b6b", 1, "  where remote.port in [25, 587]");
    blocks_agree_with_the_row_reader(&files, &rule, "remote.port", BLOCK_MODES);
}

/// Threads and prefilter of the block tests. The prefilter never skips a table row (every
/// column is parsed anyway), so for CSV and TSV the counts agree with it on too.
const BLOCK_MODES: &[(usize, bool)] = &[(1, true), (2, true), (2, false)];

/// Zeek TSV is read in blocks of lines split by the workers: whatever the block size, threads
/// and prefilter, a run counts the rows, events, rows not applicable and bad lines (numbers and
/// reasons) that the row reader reads, and raises one alert per matching event. One blank-line
/// rule for both: a line of whitespace (an ASCII space and tab, a vertical tab, a Unicode
/// space) is skipped, not a row with one cell; every `\r` before the line break is dropped.
/// Also `#` lines midway, a row with too few cells, a byte that is not UTF-8, a bad port.
#[test]
fn zeek_blocks_agree_with_the_row_reader() {
    let head = "#separator \\x09\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\n";
    let row = |i: usize, port: &str, end: &str| {
        format!(
            "{}.5\tC{i}\t10.0.{}.1\t5{:04}\t198.51.100.{}\t{port}\ttcp\t{}{end}",
            1_692_161_643 + i,
            i % 7,
            i % 10_000,
            i % 250,
            i * 3
        )
    };
    let plain = |i: usize| -> Vec<u8> {
        let port = ["25", "443", "587", "-"][i % 4];
        let end = ["\n", "\r\n", "\r\r\n"][(i / 4) % 3];
        row(i, port, end).into_bytes()
    };
    let odd = |i: usize| -> Vec<u8> {
        match i % 9 {
            0 => b"\n".to_vec(),
            1 => b" \t\r\n".to_vec(),
            2 => "\u{3000}\n".as_bytes().to_vec(),
            3 => "\u{a0}\t \u{2003}\r\r\n".as_bytes().to_vec(),
            4 => b"\x0b\n".to_vec(),
            5 => b"#close\t2023-08-16-01-28-55\n".to_vec(),
            6 => {
                let mut v = row(i, "25", "\n").into_bytes();
                v[3] = 0xff;
                v
            }
            7 => b"1692161643.5\tC\t10.0.0.1\n".to_vec(),
            _ => row(i, "x25", "\n").into_bytes(),
        }
    };
    let mut files = Vec::new();
    for (name, odd_at) in [("early", 3), ("middle", 37)] {
        let mut b = head.as_bytes().to_vec();
        for i in 0..1500 {
            b.extend(plain(i));
            if i >= odd_at && (i - odd_at) % 5 == 0 {
                b.extend(odd(i / 5));
            }
        }
        b.extend(row(9999, "25", "").into_bytes());
        files.push(file("zeekblocks", &format!("{name}.log"), &b));
    }
    let text = "rule mail {\n  id \"6c6c6c6c-0000-4000-8000-000000000001\"\n  title \"t\"\n  \
                severity low\n  source network_flow\n  where dst.port in [25, 587]\n}\n";
    let rule = text_rule("mail.detc", text);
    blocks_agree_with_the_row_reader(&files, &rule, "dst.port", BLOCK_MODES);
}

/// Sysmon JSON lines are read in blocks of lines split by the workers: whatever the block size
/// and threads, a run without the prefilter counts what the row reader reads. A line starting with `#`
/// midway is a bad line for both (JSON lines have no comments; the row reader used to skip it
/// while the blocks counted it bad); blank and whitespace-only lines are skipped by both; a
/// line that is not JSON, a bad port, a `\r\r\n` ending.
#[test]
fn json_blocks_agree_with_the_row_reader() {
    let row = |i: usize, port: &str, end: &str| {
        format!(
            "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 00:{:02}:{:02}.5\",\"Hostname\":\"h{}\",\
             \"Image\":\"C:\\\\a.exe\",\"Initiated\":\"true\",\"SourceIp\":\"10.0.0.{}\",\
             \"DestinationIp\":\"198.51.100.1\",\"DestinationPort\":{port}}}{end}",
            (i / 60) % 60,
            i % 60,
            i % 7,
            i % 250
        )
    };
    let plain = |i: usize| -> Vec<u8> {
        let port = ["25", "443", "\"587\"", "\"x25\""][i % 4];
        let end = ["\n", "\r\n", "\r\r\n"][(i / 4) % 3];
        row(i, port, end).into_bytes()
    };
    let odd = |i: usize| -> Vec<u8> {
        match i % 6 {
            0 => b"# a comment\n".to_vec(),
            1 => b" \t\r\n".to_vec(),
            2 => "\u{3000}\n".as_bytes().to_vec(),
            3 => b"{\"EventID\":3,\n".to_vec(),
            4 => b"#{\"EventID\":3}\n".to_vec(),
            _ => b"\n".to_vec(),
        }
    };
    let mut files = Vec::new();
    for (name, odd_at) in [("early", 3), ("middle", 37)] {
        let mut b = Vec::new();
        for i in 0..1500 {
            b.extend(plain(i));
            if i >= odd_at && (i - odd_at) % 5 == 0 {
                b.extend(odd(i / 5));
            }
        }
        b.extend(row(9999, "25", "").into_bytes());
        files.push(file("jsonblocks", &format!("{name}.jsonl"), &b));
    }
    let rule = connection_rule("mail", "6d6d6d6d", 1, "  where remote.port in [25, 587]");
    // Without the prefilter: with it, the lines it skips unparsed are neither events nor bad
    // lines (eval_prefilter holds the alerts equal in both modes).
    blocks_agree_with_the_row_reader(&files, &rule, "remote.port", &[(1, false), (2, false)]);
}

/// Runs `rule` (its filter: `port` in [25, 587]) over each of `files` with blocks of several
/// sizes, one and two threads, with and without the prefilter: every run counts the rows,
/// events, rows not applicable and bad lines (numbers and reasons) the row reader reads
/// (`read_events_from`), and raises one alert per event on port 25 or 587.
fn blocks_agree_with_the_row_reader(
    files: &[PathBuf],
    rule: &detc::ir::Rule,
    port: &str,
    modes: &[(usize, bool)],
) {
    for p in files {
        let (evs, want, _) = detc::eval::run::read_events_from(
            p,
            Box::new(std::fs::File::open(p).unwrap()),
            None,
            &[],
        )
        .unwrap();
        let matching = evs
            .iter()
            .filter(|e| matches!(e.get(port), Some(Value::Int(25 | 587))))
            .count();
        assert!(matching > 100 && want.bad_lines > 50, "{p:?}: {want:?}");
        for block in [64, 300, 4096, 1 << 20] {
            for &(threads, prefilter) in modes {
                let opts = RunOptions {
                    threads,
                    block,
                    prefilter,
                    ..RunOptions::default()
                };
                let got =
                    run_files(std::slice::from_ref(rule), std::slice::from_ref(p), &opts).unwrap();
                let what = format!("{p:?} block {block} threads {threads} prefilter {prefilter}");
                let s = &got.summary;
                assert_eq!(
                    (s.rows, s.events, s.not_applicable, s.bad_lines),
                    (want.rows, want.events, want.not_applicable, want.bad_lines),
                    "{what}"
                );
                let lines = |b: &[detc::eval::run::BadLine]| {
                    let mut v: Vec<(u64, String)> =
                        b.iter().map(|b| (b.line, b.reason.clone())).collect();
                    v.sort();
                    v
                };
                assert_eq!(lines(&s.bad), lines(&want.bad), "{what}");
                assert_eq!(got.alerts.len(), matching, "{what}");
            }
        }
    }
}

/// A source that no schema detects under a table's header is not tried again on the rows
/// under it, but is under the next Zeek header: concatenated conn and dns logs (conn first,
/// then dns, then conn again) read for the DNS source, for the flow source and for both give
/// each log's rows to its source, and count the rows no source reads as not applicable.
#[test]
fn sources_are_detected_again_under_each_zeek_header() {
    use detc::eval::run::read_sources_from;
    use detc::ir::Source;
    let conn = "#separator \\x09\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n\
1692161643.5\tC1\t10.0.0.1\t50000\t198.51.100.1\t25\ttcp\n\
1692161644.5\tC2\t10.0.0.2\t50001\t198.51.100.2\t587\ttcp\n";
    let dns = "#separator \\x09\n#path\tdns\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\n\
1692161645.5\tC3\t10.0.0.3\t50002\t198.51.100.53\t53\tudp\texample.com\n";
    let p = file(
        "zeekagain",
        "conn_dns_conn.log",
        format!("{conn}{dns}{conn}").as_bytes(),
    );
    for (sources, flows, queries) in [
        (vec![Source::DnsQuery], 0, 1),
        (vec![Source::NetworkFlow], 4, 0),
        (vec![Source::DnsQuery, Source::NetworkFlow], 4, 1),
    ] {
        let (mut got_flows, mut got_queries) = (0, 0);
        let f = std::fs::File::open(&p).unwrap();
        let sum = read_sources_from(&p, Box::new(f), &sources, &mut |src, ev| match src {
            Source::NetworkFlow => got_flows += 1,
            Source::DnsQuery => {
                assert_eq!(
                    ev.get("query.name"),
                    Some(&Value::Str("example.com".into()))
                );
                got_queries += 1
            }
            _ => panic!("{src:?}"),
        })
        .unwrap();
        assert_eq!((got_flows, got_queries), (flows, queries), "{sources:?}");
        assert_eq!(
            (sum.rows, sum.events, sum.not_applicable, sum.bad_lines),
            (5, (flows + queries) as u64, (5 - flows - queries) as u64, 0),
            "{sources:?}"
        );
    }
}
