//! The external oracles themselves, on hand-written inputs: proof that each one is installed,
//! answers, and tells a good query or rule from a bad one. The emitted-query tests call the same
//! helpers (tests/it/support/oracle.rs). A missing oracle fails these tests with an install hint.
// Test code: a failed expectation is meant to panic (the no-unwrap rule is for library code).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::oracle;

use oracle::{kql_schema_from_yaml, kusto_check, sigma_check, sigma_convert, SigmaBackend};
use std::path::PathBuf;

fn data(p: &str) -> PathBuf {
    oracle::repo_root().join("tests/data/oracles").join(p)
}

fn device_network_events() -> (String, String) {
    kql_schema_from_yaml(&data("kql-DeviceNetworkEvents.yaml")).expect("schema copy")
}

// --- Kusto.Language ---------------------------------------------------------------------------

#[test]
fn kusto_flags_the_seed_query_columns_that_devicenetworkevents_lacks() {
    let (table, schema) = device_network_events();
    assert_eq!(table, "DeviceNetworkEvents");
    let seed = std::fs::read_to_string(data("seed-T1071.003.kql")).expect("seed copy");
    let results = kusto_check(&[(&table, &schema)], &[("seed", &seed)]).expect("kusto oracle");
    assert_eq!(results.len(), 1);
    let (name, diags) = &results[0];
    assert_eq!(name, "seed");
    let mut flagged: Vec<(&str, &str)> = diags
        .iter()
        .map(|d| (d.code.as_str(), d.snippet.as_str()))
        .collect();
    flagged.sort();
    assert_eq!(
        flagged,
        vec![("KS142", "AccountName"), ("KS142", "SentBytes")],
        "{diags:#?}"
    );
    // The offsets point into the text we sent.
    for d in diags {
        assert_eq!(&seed[d.start..d.end], d.snippet);
        assert_eq!(d.severity, "Error");
    }
}

#[test]
fn kusto_accepts_the_corrected_seed_and_rejects_broken_syntax() {
    let (table, schema) = device_network_events();
    // The seed done right: the columns that exist (InitiatingProcessAccountName), no
    // SentBytes, and a computed column that does not overwrite the table's own Protocol.
    let corrected = r#"DeviceNetworkEvents
| where Timestamp > ago(24h)
| where RemotePort in (25, 465, 587, 110, 995, 143, 993)
| where ActionType == "ConnectionSuccess"
| where InitiatingProcessFileName !in~ ("outlook.exe", "thunderbird.exe", "MailClient.exe", "eM Client.exe", "msedge.exe", "chrome.exe")
| extend MailProtocol = case(RemotePort in (25, 465, 587), "SMTP", RemotePort in (110, 995), "POP3", RemotePort in (143, 993), "IMAP", "Unknown")
| summarize ConnectionCount = count(), UniqueRemoteIPs = dcount(RemoteIP), FirstSeen = min(Timestamp), LastSeen = max(Timestamp)
    by DeviceName, InitiatingProcessAccountName, InitiatingProcessFileName, RemoteIP, RemotePort, MailProtocol, bin(Timestamp, 24h)
| where ConnectionCount > 2"#;
    let unbalanced = "DeviceNetworkEvents | where (RemotePort == 25";
    let unknown_table = "DeviceNetworkEventz | take 1";
    // Note: `RemotePort == "25"` and `RemotePort in ("25")` get NO diagnostic from
    // Kusto.Language 12.4.1, so this oracle cannot catch a port emitted as a string; an int where
    // a string is expected is caught (KS107).
    let bad_type = r#"DeviceNetworkEvents | where ipv4_is_in_range(RemotePort, "10.0.0.0/8")"#;
    let results = kusto_check(
        &[(&table, &schema)],
        &[
            ("corrected", corrected),
            ("unbalanced", unbalanced),
            ("unknown_table", unknown_table),
            ("bad_type", bad_type),
        ],
    )
    .expect("kusto oracle");
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["corrected", "unbalanced", "unknown_table", "bad_type"]
    );
    assert!(results[0].1.is_empty(), "{:#?}", results[0].1);
    for (name, diags) in &results[1..] {
        assert!(
            diags.iter().any(|d| d.severity == "Error"),
            "{name}: expected an error, got {diags:#?}"
        );
    }
    assert!(results[2]
        .1
        .iter()
        .any(|d| d.snippet == "DeviceNetworkEventz"));
    assert!(results[3].1.iter().any(|d| d.code == "KS107"));
}

#[test]
fn kusto_escaping_keeps_hostile_values_inside_one_literal() {
    // What an emitter's escaping must achieve: a value with quotes, backslashes, pipes and a
    // newline stays one string literal (the query still parses, with one where clause).
    let (table, schema) = device_network_events();
    let ok = r#"DeviceNetworkEvents | where InitiatingProcessFileName =~ "a\"b\\c|d\n' | take 1""#;
    let broken = r#"DeviceNetworkEvents | where InitiatingProcessFileName =~ "a"b\c|d" | take 1"#;
    let results =
        kusto_check(&[(&table, &schema)], &[("ok", ok), ("broken", broken)]).expect("kusto oracle");
    assert!(results[0].1.is_empty(), "{:#?}", results[0].1);
    assert!(!results[1].1.is_empty());
}

// --- Sigma ------------------------------------------------------------------------------------

#[test]
fn sigma_check_passes_a_rule_with_its_correlation() {
    let out = sigma_check(&data("sigma/valid")).expect("sigma oracle");
    assert!(out.passed, "{}", out.output);
    assert!(out
        .output
        .contains("Found 0 errors, 0 condition errors and 0 issues"));
}

#[test]
fn sigma_check_fails_each_invalid_rule_for_its_own_reason() {
    for (dir, reason) in [
        ("unknown_modifier", "Unknown modifier 'frobnicate'"),
        (
            "condition_unknown_identifier",
            "'filter_that_does_not_exist' not defined",
        ),
        ("correlation_unknown_rule", "Rule 'no_such_rule' not found"),
    ] {
        let out = sigma_check(&data(&format!("sigma/invalid/{dir}"))).expect("sigma oracle");
        assert!(!out.passed, "{dir} passed:\n{}", out.output);
        assert!(out.output.contains(reason), "{dir}: {}", out.output);
    }
}

#[test]
fn pysigma_kusto_backend_converts_the_detection_rule() {
    let results = sigma_convert(&data("sigma/valid"), SigmaBackend::KustoXdr).expect("oracle");
    let rules: Vec<_> = results.iter().filter(|r| r.kind == "rule").collect();
    assert_eq!(rules.len(), 1, "{results:#?}");
    let rule = rules[0];
    assert_eq!(rule.error, None);
    assert_eq!(
        rule.id.as_deref(),
        Some("6a0f3c1e-2b7d-4e58-9c41-0d7e5a3b9f12")
    );
    assert_eq!(rule.queries.len(), 1);
    // microsoft_xdr maps the Sysmon fields onto DeviceNetworkEvents columns.
    let q = &rule.queries[0];
    assert!(q.starts_with("DeviceNetworkEvents"), "{q}");
    assert!(
        q.contains("RemotePort") && q.contains("InitiatingProcessFolderPath"),
        "{q}"
    );
    // The kusto backend has no correlation support: reported, not hidden.
    let corr: Vec<_> = results.iter().filter(|r| r.kind == "correlation").collect();
    assert_eq!(corr.len(), 1);
    assert!(corr[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("does not support correlation")));
}

#[test]
fn pysigma_splunk_backend_converts_the_rule_and_its_correlation() {
    let results = sigma_convert(&data("sigma/valid"), SigmaBackend::SplunkWindows).expect("oracle");
    assert_eq!(results.len(), 2, "{results:#?}");
    for r in &results {
        assert_eq!(r.error, None, "{r:#?}");
        assert_eq!(r.queries.len(), 1, "{r:#?}");
    }
    let rule = results.iter().find(|r| r.kind == "rule").expect("rule");
    assert!(rule.queries[0].contains(r#"DestinationPort IN (25, 465, 587, 2525)"#));
    let corr = results
        .iter()
        .find(|r| r.kind == "correlation")
        .expect("correlation");
    let q = &corr.queries[0];
    assert!(q.contains("bin _time span=1h"), "{q}");
    assert!(
        q.contains("stats count as event_count by _time Computer Image"),
        "{q}"
    );
    assert!(q.contains("event_count >= 3"), "{q}");
}

#[test]
fn pysigma_conversion_reports_a_rule_that_does_not_parse() {
    let results = sigma_convert(
        &data("sigma/invalid/unknown_modifier"),
        SigmaBackend::SplunkWindows,
    )
    .expect("oracle");
    assert_eq!(results.len(), 1);
    assert!(results[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("frobnicate")));
}

#[test]
fn kusto_refuses_a_schema_it_would_silently_misread() {
    // ASIM's logical types ("IP address", "Integer") and capitalised names ("String") are not KQL
    // types: Kusto.Language would make such columns `unknown` and never report a misuse.
    for schema in ["(SrcIpAddr:IP address, DstPortNumber:int)", "(a:String)"] {
        let err = kusto_check(&[("_Im_NetworkSession", schema)], &[("q", "print 1")])
            .expect_err("a schema with non-KQL types must be refused");
        assert!(err.contains("not as declared"), "{err}");
    }
}
