//! The real pack (rules/) over every real third-party file copied into rules/fixtures/realdata,
//! with the alert counts, row accounting and bad-line reports determined by inspection. Each
//! expectation says how it was checked independently of detc (shell counts on the files).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules;

use detc::eval::run::{run_files, RunOptions, RunOutput};
use detc::ir::{Rule, Value};
use std::path::PathBuf;

const DIR: &str = "rules/fixtures/realdata";

fn pack() -> Vec<Rule> {
    let files = detc::load::load_sources(&[PathBuf::from("rules")]).unwrap();
    let fe = detc::frontend(&files);
    let pack = fe
        .pack
        .unwrap_or_else(|| panic!("rules/ does not check: {:?}", fe.diagnostics));
    assert_eq!(pack.rules.len(), 14);
    pack.rules
}

/// Runs with full accounting (no prefilter), and checks the prefiltered run raises the same
/// alerts and accounts for the same rows.
fn run(rules: &[Rule], file: &str) -> RunOutput {
    let path = [PathBuf::from(DIR).join(file)];
    let full = RunOptions {
        prefilter: false,
        ..RunOptions::default()
    };
    let out = run_files(rules, &path, &full).unwrap();
    let fast = run_files(rules, &path, &RunOptions::default()).unwrap();
    assert_eq!(fast.alerts, out.alerts, "{file}");
    let s = &fast.summary;
    assert_eq!(
        s.events + s.not_applicable + s.bad_lines + s.prefiltered,
        out.summary.rows,
        "{file}"
    );
    assert_eq!(s.matched, out.summary.matched, "{file}");
    assert_eq!(s.bad, out.summary.bad, "{file}");
    out
}

/// (rows, events, not applicable, bad lines, alerts, schema)
fn counts(o: &RunOutput) -> (u64, u64, u64, u64, usize, String) {
    let s = &o.summary;
    (
        s.rows,
        s.events,
        s.not_applicable,
        s.bad_lines,
        s.alerts,
        s.schemas.values().next().cloned().unwrap_or_default(),
    )
}

#[test]
fn every_copied_file_is_covered() {
    // A new file in the folder must get its own expectation below.
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl") || n.ends_with(".log"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "apt29_day2_scranton_conn.jsonl",
            "covenant_dns_query.jsonl",
            "covenant_process_creation.jsonl", // eval_readers::a_mixed_sysmon_file_is_read_through_the_schema_of_the_rules_source
            "covenant_psremoting_grunt.jsonl",
            "lsass_campaign_01_conn.log",
            "m365d_goldensaml_defender_events.jsonl",
            "osquery_docs_process_socket_events.jsonl",
            "proxylogon_mail_port_events.jsonl",
            "zeek_imap_starttls_conn.log",
            "zeek_netcontrol_packetfilter_conn.log",
            "zeek_netcontrol_packetfilter_conn.unmasked.log",
            "zeek_pop3_basic_conn.log",
            "zeek_pop3_basic_conn.unmasked.log",
            "zeek_smtp_attachment_files_smtp.log",
            "zeek_smtp_attachment_files_smtp.unmasked.log",
            "zeek_smtp_basic_smtp.log",
            "zeek_smtp_basic_smtp.unmasked.log",
        ]
    );
}

#[test]
fn proxylogon_exchange_smtp_is_a_mail_server_not_an_alert() {
    // 10 lines; `grep -c '"SourceName":"Microsoft-Windows-Sysmon".*"EventID":3'` = 6 Sysmon
    // network connections, the other 4 are Security 5156 (not applicable). The 3 outbound ones
    // are MSExchangeHMWorker.exe (on mail_servers), the 3 inbound are the frontend accepting.
    let o = run(&pack(), "proxylogon_mail_port_events.jsonl");
    assert_eq!(counts(&o), (10, 6, 4, 0, 0, "sysmon".into()));
    // Defender rule: no `outcome` in Sysmon, so `outcome == succeeded` never holds.
    assert_eq!(o.summary.matched, 0);
}

#[test]
fn covenant_dns_queries_resolve_no_mail_service() {
    // `wc -l` = 20 Sysmon EventID 22 lines; QueryName values (jq -r .QueryName | sort -u):
    // localhost, HFDC01.shire.com, HR001, ctldl.windowsupdate.com, v10.events.data.microsoft.com
    // and three in-addr.arpa names (two with status 9003): none is a mail service's name.
    // A Windows file that starts with an EventID 22 line is both `sysmon`'s and `sysmon-dns`'s:
    // the rules' source chooses, so the pack's dns_query rules read it.
    let dns: Vec<Rule> = pack()
        .into_iter()
        .filter(|r| r.source == detc::ir::Source::DnsQuery)
        .collect();
    assert_eq!(dns.len(), 1);
    let o = run(&dns, "covenant_dns_query.jsonl");
    assert_eq!(counts(&o), (20, 20, 0, 0, 0, "sysmon-dns".into()));
    assert_eq!(o.summary.matched, 0);
}

#[test]
fn covenant_powershell_on_non_mail_ports() {
    // `grep -c '"EventID":3,'` = 276 Sysmon network connections + 24 other lines; the
    // powershell.exe ones go to 5985 and 80 (jq on Image/DestinationPort): nothing matches.
    let o = run(&pack(), "covenant_psremoting_grunt.jsonl");
    assert_eq!(counts(&o), (300, 276, 24, 0, 0, "sysmon".into()));
    assert_eq!(o.summary.matched, 0);
}

#[test]
fn osquery_docs_rows_curl_to_a_web_server_is_no_mail() {
    // osquery's two sample rows (SOURCE.md): line 1 a process_events row (`curl google.com`),
    // line 2 a socket_events row (curl connecting to 172.217.164.110:80). Each schema reads its
    // own row and finds the other not applicable; nothing is mail.
    let path = [PathBuf::from(DIR).join("osquery_docs_process_socket_events.jsonl")];
    for (source, schema) in [
        (detc::ir::Source::ProcessCreation, "osquery-process"),
        (detc::ir::Source::NetworkConnection, "osquery-socket"),
    ] {
        let rules: Vec<Rule> = pack().into_iter().filter(|r| r.source == source).collect();
        assert!(!rules.is_empty());
        let opts = RunOptions {
            prefilter: false,
            schema: Some(schema.into()),
            ..RunOptions::default()
        };
        let o = run_files(&rules, &path, &opts).unwrap();
        assert_eq!(counts(&o), (2, 1, 1, 0, 0, schema.into()));
        assert_eq!(o.summary.matched, 0);
    }
    let (evs, _) = detc::eval::run::read_events(&path[0], Some("osquery-socket")).unwrap();
    assert_eq!(evs[0]["remote.port"], Value::Int(80));
    assert_eq!(evs[0]["process.path"], Value::Str("/usr/bin/curl".into()));
}

#[test]
fn apt29_conn_has_no_mail_traffic() {
    // `wc -l` = 53 rows; `grep -cE '"id_resp_p":(25|465|587|2525|110|995|143|993),'` = 0.
    let o = run(&pack(), "apt29_day2_scranton_conn.jsonl");
    assert_eq!(counts(&o), (53, 53, 0, 0, 0, "zeek-conn".into()));
    assert_eq!(o.summary.matched, 0);
}

#[test]
fn lsass_campaign_zeek_tsv() {
    // `grep -vc '^#'` = 112 data rows; awk on column 6 (id.resp_p) finds no mail port.
    let o = run(&pack(), "lsass_campaign_01_conn.log");
    assert_eq!(counts(&o), (112, 112, 0, 0, 0, "zeek-conn".into()));
}

#[test]
fn defender_export_without_network_rows() {
    // 9 rows; ActionType values (jq '.ActionType'): LdapSearch x5, Directory Services
    // replication x2, MailItemsAccessed, Add delegated permission grant: none is a network action.
    let o = run(&pack(), "m365d_goldensaml_defender_events.jsonl");
    assert_eq!(counts(&o), (9, 0, 9, 0, 0, "defender".into()));
}

#[test]
fn masked_zeek_timestamps_are_located_bad_lines() {
    // btest masks `ts` as XXXXXXXXXX.XXXXXX: such a row cannot be placed in a window, so each
    // is a bad line. `grep -n . | grep -v ':#'` gives data lines 10..=20 (11 rows) for POP3 and
    // line 10 for IMAP.
    let o = run(&pack(), "zeek_pop3_basic_conn.log");
    assert_eq!(counts(&o), (11, 0, 0, 11, 0, "zeek-conn".into()));
    let lines: Vec<u64> = o.summary.bad.iter().map(|b| b.line).collect();
    assert_eq!(lines, (10..=20).collect::<Vec<u64>>());
    assert!(o
        .summary
        .bad
        .iter()
        .all(|b| b.file.ends_with("zeek_pop3_basic_conn.log")
            && b.reason.contains("`XXXXXXXXXX.XXXXXX` is not a timestamp")));
    let o = run(&pack(), "zeek_imap_starttls_conn.log");
    assert_eq!(counts(&o), (1, 0, 0, 1, 0, "zeek-conn".into()));
    assert_eq!(o.summary.bad[0].line, 10);
    // --strict makes the first one fatal.
    let strict = RunOptions {
        strict: true,
        ..RunOptions::default()
    };
    let e = run_files(
        &pack(),
        &[PathBuf::from(DIR).join("zeek_pop3_basic_conn.log")],
        &strict,
    )
    .err()
    .unwrap();
    assert!(
        e.message
            .contains("zeek_pop3_basic_conn.log:10: malformed line"),
        "{}",
        e.message
    );
}

#[test]
fn pop3_to_external_hosts_volume() {
    // With the masked time replaced (SOURCE.md): 11 POP3 connections from 192.168.0.4 (private)
    // to 212.227.15.{188,171,166} (public) on port 110, all matching AN0382's filter.
    // awk: sum of orig_bytes (column 10) = 344, 3 distinct responders. 344 B is far below 50 MB.
    let rules = pack();
    let o = run(&rules, "zeek_pop3_basic_conn.unmasked.log");
    assert_eq!(counts(&o), (11, 11, 0, 0, 0, "zeek-conn".into()));
    assert_eq!(o.summary.matched_by_rule["an0382_external_mail_volume"], 11);
    // The same rule with the threshold at 0 bytes alerts once, with the awk figures.
    let mut low: Rule = rules
        .iter()
        .find(|r| r.name == "an0382_external_mail_volume")
        .cloned()
        .unwrap();
    if let Some(a) = &mut low.aggregation {
        a.having = Some(rules::having("sent", detc::ir::CmpOp::Gt, 0));
    }
    let o = run(&[low], "zeek_pop3_basic_conn.unmasked.log");
    assert_eq!(o.alerts.len(), 1);
    let a = &o.alerts[0];
    assert_eq!(a.group["src.ip"], rules::ip("192.168.0.4"));
    assert_eq!(a.aggregates["sent"], Value::Int(344));
    assert_eq!(a.aggregates["connections"], Value::Int(11));
    assert_eq!(a.aggregates["destinations"], Value::Int(3));
    assert_eq!(a.window_start.as_deref(), Some("2020-09-13T12:00:00Z"));
}

#[test]
fn zeek_smtp_log_as_flows_without_bytes() {
    // `grep -vc '^#'` = 2 transactions, both masked: 2 located bad lines (lines 10 and 11).
    let o = run(&pack(), "zeek_smtp_basic_smtp.log");
    assert_eq!(counts(&o), (2, 0, 0, 2, 0, "zeek-smtp".into()));
    assert_eq!(
        o.summary.bad.iter().map(|b| b.line).collect::<Vec<_>>(),
        [10, 11]
    );
    // Unmasked: 10.10.1.4 -> 74.53.140.153:25 is private -> public on a mail port (AN0382's
    // filter holds); 192.168.133.100 -> 192.168.133.102 is private -> private (it does not).
    // smtp.log has no byte counts, so `sum(bytes.sent)` has no value and nothing alerts.
    let o = run(&pack(), "zeek_smtp_basic_smtp.unmasked.log");
    assert_eq!(counts(&o), (2, 2, 0, 0, 0, "zeek-smtp".into()));
    assert_eq!(o.summary.matched_by_rule["an0382_external_mail_volume"], 1);
}

#[test]
fn zeek_attachment_baseline_has_no_risky_attachment() {
    // files.log (4 rows) then smtp.log (2 transactions): the join gives the files rows back as
    // blank lines, so `grep -vc '^#'` = 6 lines make 2 rows, both masked: lines 24 and 25 bad.
    let o = run(&pack(), "zeek_smtp_attachment_files_smtp.log");
    assert_eq!(counts(&o), (2, 0, 0, 2, 0, "zeek-smtp-files".into()));
    assert_eq!(
        o.summary.bad.iter().map(|b| b.line).collect::<Vec<_>>(),
        [24, 25]
    );
    // Unmasked: 10.10.1.4 (private, no relay) sends 3 parts, `cut -f11,12` = text/plain,
    // text/html, text/plain NEWS.txt; 192.168.133.100 one text/plain body: no executable type,
    // no risky name, so the AN0379 attachment rule's filter never holds; every fuid is matched
    // (no files row left over: no bad line).
    let o = run(&pack(), "zeek_smtp_attachment_files_smtp.unmasked.log");
    assert_eq!(counts(&o), (2, 2, 0, 0, 0, "zeek-smtp-files".into()));
    assert_eq!(o.summary.matched, 0);
}

#[test]
fn netcontrol_trace_one_smtp_session_is_no_fan_out() {
    // `grep -vc '^#'` = 5 rows, all masked: 5 located bad lines (lines 10..=14).
    let o = run(&pack(), "zeek_netcontrol_packetfilter_conn.log");
    assert_eq!(counts(&o), (5, 0, 0, 5, 0, "zeek-conn".into()));
    // Unmasked: one session 10.10.1.4 -> 74.53.140.153:25 (private -> public, 0 payload bytes)
    // passes AN0382's flow filters: the volume rule and the fan-out rule each match it, and one
    // server is no fan-out; 192.168.133.100 -> 192.168.133.102:25 is private -> private.
    let o = run(&pack(), "zeek_netcontrol_packetfilter_conn.unmasked.log");
    assert_eq!(counts(&o), (5, 5, 0, 0, 0, "zeek-conn".into()));
    assert_eq!(o.summary.matched_by_rule["an0382_external_mail_volume"], 1);
    assert_eq!(o.summary.matched_by_rule["an0382_smtp_fanout"], 1);
}
