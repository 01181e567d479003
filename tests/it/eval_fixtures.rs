//! The rule pack's tests (as written in rules/*.detc) run by the rule-test runner on the
//! fixtures under rules/fixtures, on the pack's rules as the frontend checks them (with each test
//! restated here, so a test edited in the pack does not silently change this one); plus the
//! runner's own behaviour: matching, diffs, JUnit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules;

use detc::eval::testing::{self, run_test};
use detc::ir::{Expectation, Rule, RuleTest, TestEvents, Value};
use rules::*;

/// The file-system loader `detc test rules/` uses: fixtures confined to `rules/`.
fn rules_loader() -> detc::load::FsLoader {
    detc::load::FsLoader::for_paths(&["rules".into()])
}

fn at(mut r: Rule, file: &str) -> Rule {
    r.span.path = format!("rules/{file}").into();
    r
}

fn t(
    name: &str,
    file: &str,
    schema: Option<&str>,
    count: usize,
    alerts: Vec<Vec<(&str, Value)>>,
) -> RuleTest {
    RuleTest {
        name: name.into(),
        events: TestEvents::File(file.into()),
        schema: schema.map(str::to_string),
        expect: Expectation {
            count: Some(count),
            alerts: alerts
                .into_iter()
                .map(|a| a.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                .collect(),
        },
        span: span(),
    }
}

fn assert_passes(rule: &Rule, test: &RuleTest) -> testing::TestOutcome {
    let o = run_test(rule, test, &rules_loader());
    assert!(
        o.passed,
        "{} :: {}: {}\nexpected:\n{}actual:\n{}",
        o.rule, o.test, o.message, o.expected, o.actual
    );
    o
}

#[test]
fn an0379_fixtures() {
    let r = at(an0379(), "an0379_mail_protocol_unexpected_process.detc");
    let o = assert_passes(
        &r,
        &t(
            "rundll32 beacons over SMTP",
            "fixtures/an0379/rundll32_smtp.jsonl",
            None,
            1,
            vec![vec![
                ("host", s("WS01")),
                ("process.name", s("rundll32.exe")),
                ("protocol", s("SMTP")),
                ("connections", Value::Int(3)),
                ("destinations", Value::Int(2)),
            ]],
        ),
    );
    // The EventID 1 row of the fixture is not applicable, not an error.
    assert_eq!(o.not_applicable, 1);
    assert!(o.bad.is_empty());
    for f in ["below_threshold.jsonl", "mail_clients.jsonl"] {
        assert_passes(&r, &t(f, &format!("fixtures/an0379/{f}"), None, 0, vec![]));
    }
    // Real data: Exchange's MSExchangeHMWorker.exe makes outbound SMTP to itself (25 twice, 587
    // once; `grep -c MSExchangeHMWorker` on the EID 3 rows = 3). It is on the mail_servers
    // allowlist, so no alert; 4 Security 5156 rows are not applicable.
    let o = assert_passes(
        &r,
        &t(
            "Exchange's own SMTP probes",
            "fixtures/realdata/proxylogon_mail_port_events.jsonl",
            Some("sysmon"),
            0,
            vec![],
        ),
    );
    assert_eq!(o.not_applicable, 4);
}

#[test]
fn an0379_real_exchange_alerts_without_the_server_allowlist() {
    // Proof that the allowlist (not something else) silences the proxylogon file: drop the
    // `not process.name in~ mail_servers` conjunct and lower the threshold to 1. HMWorker's
    // outbound connections: 192.168.2.5:25, 192.168.2.5:587 and 127.0.0.1:25 (loopback,
    // excluded) -> one SMTP group with 2 connections.
    let mut r = at(an0379(), "x.detc");
    if let detc::ir::Expr::And(v) = &mut r.filter {
        v.remove(3);
    }
    if let Some(a) = &mut r.aggregation {
        a.having = Some(having("connections", detc::ir::CmpOp::Ge, 1));
    }
    assert_passes(
        &r,
        &t(
            "without allowlist",
            "fixtures/realdata/proxylogon_mail_port_events.jsonl",
            Some("sysmon"),
            1,
            vec![vec![
                ("process.name", s("MSExchangeHMWorker.exe")),
                ("host", s("MXS01.azsentinel.local")),
                ("user", s("NT AUTHORITY\\SYSTEM")),
                ("connections", Value::Int(2)),
                ("destinations", Value::Int(1)),
            ]],
        ),
    );
}

#[test]
fn scripting_host_fixtures() {
    let r = at(scripting_host_mail(), "an0379_scripting_host_mail.detc");
    // covenant: 276 Sysmon EID 3 rows, 4 from powershell.exe, on 5985 and 80 (checked with
    // `jq 'select(.EventID==3) | select(.Image|test("powershell";"i")) | .DestinationPort'`).
    let o = assert_passes(
        &r,
        &t(
            "covenant",
            "fixtures/realdata/covenant_psremoting_grunt.jsonl",
            Some("sysmon"),
            0,
            vec![],
        ),
    );
    assert_eq!(o.not_applicable, 24);
    // Inline events as in the rule file, through the sysmon schema (no Channel key).
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"EventID": 3, "UtcTime": "2026-11-20 10:00:00.000", "Computer": "WS02", "User": "CORP\\bob",
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\PowerShell.exe", "Initiated": "true",
            "Protocol": "tcp", "SourceIp": "10.0.0.5", "SourcePort": "50123",
            "DestinationIp": "203.0.113.7", "DestinationPort": "587"}"#,
    )
    .unwrap();
    let mut test = t(
        "inline",
        "-",
        Some("sysmon"),
        1,
        vec![vec![
            ("host", s("WS02")),
            ("process.name", s("PowerShell.exe")),
            ("remote.port", Value::Int(587)),
        ]],
    );
    test.events = TestEvents::Inline(vec![obj.clone()]);
    assert_passes(&r, &test);
    let mut https = obj;
    https.insert("DestinationPort".into(), "443".into());
    test.events = TestEvents::Inline(vec![https]);
    test.expect = Expectation {
        count: Some(0),
        alerts: vec![],
    };
    assert_passes(&r, &test);
}

#[test]
fn an0382_fixtures() {
    let r = at(an0382(), "an0382_external_mail_volume.detc");
    assert_passes(
        &r,
        &t(
            "60 MB to an external SMTP server",
            "fixtures/an0382/exfil.jsonl",
            Some("zeek-conn"),
            1,
            vec![vec![
                ("src.ip", ip("10.0.0.23")),
                ("sent", Value::Int(60_000_000)),
                ("connections", Value::Int(3)),
                ("destinations", Value::Int(2)),
            ]],
        ),
    );
    for f in ["approved_relay.jsonl", "threshold.jsonl"] {
        assert_passes(
            &r,
            &t(
                f,
                &format!("fixtures/an0382/{f}"),
                Some("zeek-conn"),
                0,
                vec![],
            ),
        );
    }
    assert_passes(
        &r,
        &t(
            "apt29 day 2",
            "fixtures/realdata/apt29_day2_scranton_conn.jsonl",
            Some("zeek-conn"),
            0,
            vec![],
        ),
    );
}

#[test]
fn defender_fixtures() {
    let r = at(t1071_003(), "t1071_003_defender_mail_ports.detc");
    let o = assert_passes(
        &r,
        &t(
            "python smtplib loop",
            "fixtures/t1071_003/python_smtp.csv",
            Some("defender"),
            1,
            vec![vec![
                ("host", s("srv-app01")),
                ("process.name", s("python.exe")),
                ("user", s("corp\\svc_app")),
                ("remote.port", Value::Int(25)),
                ("protocol", s("SMTP")),
                ("connections", Value::Int(3)),
                ("first_seen", Value::Timestamp(1_795_161_601)),
                ("last_seen", Value::Timestamp(1_795_219_199)),
            ]],
        ),
    );
    // The FileCreated row is another table's; ListeningConnectionCreated is a network action.
    assert_eq!(o.not_applicable, 1);
    assert_passes(
        &r,
        &t(
            "failed",
            "fixtures/t1071_003/failed.csv",
            Some("defender"),
            0,
            vec![],
        ),
    );
}

#[test]
fn expectations_match_distinct_alerts_and_diff() {
    // Two expected alerts that both fit one actual alert: only one can be matched.
    let r = at(scripting_host_mail(), "an0379_scripting_host_mail.detc");
    let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"EventID": 3, "UtcTime": "2026-11-20 10:00:00.000", "Computer": "WS02",
            "Image": "C:\\x\\cmd.exe", "Initiated": "true", "DestinationIp": "203.0.113.7",
            "DestinationPort": "25"}"#,
    )
    .unwrap();
    let mut test = t(
        "dup",
        "-",
        Some("sysmon"),
        1,
        vec![
            vec![("host", s("WS02"))],
            vec![("remote.port", Value::Int(25))],
        ],
    );
    test.expect.count = None;
    test.events = TestEvents::Inline(vec![obj.clone()]);
    let o = run_test(&r, &test, &rules_loader());
    assert!(!o.passed);
    assert!(
        o.message.contains("1 expected alert(s) not matched"),
        "{}",
        o.message
    );
    // With two events, the matching finds a distinct alert for each.
    obj.insert("UtcTime".into(), "2026-11-20 10:00:01.000".into());
    obj.insert("DestinationPort".into(), "26".into());
    let mut second = obj.clone();
    second.insert("DestinationPort".into(), "25".into());
    second.insert("Computer".into(), "WS09".into());
    let mut first = obj;
    first.insert("DestinationPort".into(), "587".into());
    test.events = TestEvents::Inline(vec![first, second]);
    let o = run_test(&r, &test, &rules_loader());
    assert!(o.passed, "{}\n{}\n{}", o.message, o.expected, o.actual);
    // A wrong count fails with both sides rendered.
    test.expect.count = Some(3);
    let o = run_test(&r, &test, &rules_loader());
    assert!(!o.passed);
    assert!(o.expected.starts_with("3 alert(s)") && o.actual.starts_with("2 alert(s)"));
}

#[test]
fn missing_fixture_is_a_failed_test_not_a_crash() {
    let r = at(scripting_host_mail(), "an0379_scripting_host_mail.detc");
    let o = run_test(
        &r,
        &t("gone", "fixtures/nope.jsonl", None, 0, vec![]),
        &rules_loader(),
    );
    assert!(!o.passed);
    assert!(o.message.contains("cannot read"), "{}", o.message);
}

#[test]
fn junit_escapes_everything() {
    let o = testing::TestOutcome {
        rule: "r<&>".into(),
        rule_file: "rules/\"q\".detc".into(),
        test: "it's \u{1} bad".into(),
        passed: false,
        message: "expected <1> & got 'two'".into(),
        expected: String::new(),
        actual: String::new(),
        alerts: vec![],
        bad: vec![],
        not_applicable: 0,
    };
    let x = testing::junit(&[o], &|_| "- a < b\n+ ]]> &".into(), &[]);
    assert!(x.contains("classname=\"r&lt;&amp;&gt;\""));
    assert!(x.contains("file=\"rules/&quot;q&quot;.detc\""));
    assert!(x.contains("name=\"it&apos;s \u{FFFD} bad\""));
    assert!(x.contains("- a &lt; b\n+ ]]&gt; &amp;"));
    assert!(!x.contains('\u{1}'));
}

#[test]
fn every_rule_needs_a_must_alert_and_a_must_not_test() {
    let quiet = t(
        "quiet",
        "fixtures/an0379/below_threshold.jsonl",
        None,
        0,
        vec![],
    );
    let loud = t(
        "loud",
        "fixtures/an0379/rundll32_smtp.jsonl",
        None,
        1,
        vec![],
    );
    let mut only_quiet = an0379();
    only_quiet.tests = vec![quiet.clone()];
    let mut both = scripting_host_mail();
    both.tests = vec![quiet, loud];
    let mut none = t1071_003();
    none.tests = vec![];
    let pack = detc::ir::Pack {
        rules: vec![only_quiet, both, none],
        lists: Default::default(),
    };
    assert_eq!(
        testing::coverage_gaps(&pack),
        [
            "rule `an0379_mail_protocol_unexpected_process` has no test that must alert",
            "rule `t1071_003_defender_mail_ports` has no test that must alert",
            "rule `t1071_003_defender_mail_ports` has no test that must not alert",
        ]
    );
}
