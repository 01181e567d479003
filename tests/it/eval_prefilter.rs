//! The prefilter is sound: a line it skips is one no rule can match on the full path. Checked
//! line by line on adversarial encodings (escapes, exponents, duplicates, nesting, swaps,
//! missing markers, out-of-range values) and as whole runs (same alerts with and without it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::rules;

use detc::eval::engine::CompiledRule;
use detc::eval::prefilter::Prefilter;
use detc::eval::read::{JsonRecord, Layout};
use detc::eval::run::{map_row, run_files, RunOptions};
use detc::eval::schema::{self, Mapped};
use detc::ir::Rule;

/// Port encodings: (JSON text of the value, or None for "key absent").
const PORTS: [&str; 24] = [
    "\"25\"",
    "25",
    "\"025\"",
    "\" 25 \"",
    "25.0",
    "2.5e1",
    "\"2.5e1\"",
    "\"\\u0032\\u0035\"",
    "null",
    "\"-\"",
    "\"\"",
    "\"443\"",
    "443",
    "99999",
    "-25",
    "\"-25\"",
    "true",
    "{\"v\":25}",
    "[25]",
    "\"25x\"",
    "587",
    "\"993\"",
    "0",
    "\"\\\"25\"",
];

fn lines() -> Vec<String> {
    let images = [
        "C:\\\\w\\\\powershell.exe",
        "C:\\\\w\\\\rundll32.exe",
        "C:\\\\w\\\\OUTLOOK.EXE",
    ];
    let mut out = Vec::new();
    let mut i = 0u32;
    for port in PORTS {
        for img in images {
            for initiated in ["true", "false"] {
                for (sport, extra) in [
                    ("\"50000\"", ""),
                    ("\"25\"", ""),
                    ("\"50000\"", ",\"DestinationPort\":\"25\""),
                    ("\"50000\"", ",\"DestinationPort\":443"),
                    ("\"50000\"", ",\"x\":{\"DestinationPort\":25}"),
                    ("\"50000\"", ",\"Message\":\"DestinationPort\\\":25\""),
                    ("\"50000\"", ",\"y\":\"DestinationPort\""),
                    ("\"50000\"", ",\"Destination\\u0050ort\":\"25\""),
                    // An escaped backslash before `u` is not a \u escape; an odd run is.
                    ("\"50000\"", ",\"U\":\"CORP\\\\user\""),
                    ("\"50000\"", ",\"U\":\"CORP\\\\\\u0041\""),
                ] {
                    i += 1;
                    let t = format!("2026-11-20 10:{:02}:{:02}.000", (i / 60) % 60, i % 60);
                    out.push(format!(
                        "{{\"EventID\":3,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"UtcTime\":\"{t}\",\"Hostname\":\"H{}\",\"User\":\"u\",\"Image\":\"{img}\",\"Initiated\":\"{initiated}\",\"SourceIp\":\"10.0.0.1\",\"SourcePort\":{sport},\"DestinationIp\":\"93.184.216.34\",\"DestinationPort\" : {port}{extra}}}",
                        i % 3
                    ));
                    // The same without the key, and truncated.
                    if sport == "\"50000\"" && extra.is_empty() {
                        out.push(format!(
                            "{{\"EventID\":3,\"UtcTime\":\"{t}\",\"Hostname\":\"H\",\"Image\":\"{img}\",\"Initiated\":\"{initiated}\",\"SourcePort\":{port}}}"
                        ));
                        out.push(format!(
                            "{{\"EventID\":3,\"UtcTime\":\"{t}\",\"DestinationPort\":\"443\",\"Ima"
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The pack's rules of Sysmon's source.
fn sysmon_rules(sysmon: &schema::InputSchema) -> Vec<Rule> {
    rules::pack()
        .into_iter()
        .filter(|r| r.source == sysmon.source)
        .collect()
}

#[test]
fn skipped_lines_cannot_match_line_by_line() {
    let schemas = schema::builtin().unwrap();
    let sysmon = schemas.iter().find(|s| s.name == "sysmon").unwrap();
    let rules = sysmon_rules(sysmon);
    let refs: Vec<&Rule> = rules.iter().collect();
    let pf = Prefilter::new(&refs, sysmon).expect("every pack rule has a port conjunct");
    let compiled: Vec<CompiledRule> = rules
        .iter()
        .map(|r| CompiledRule::new(r).unwrap())
        .collect();
    let (mut skipped, mut matched) = (0, 0);
    for line in lines() {
        let full = map_row(&Layout::JsonLines, sysmon, &line);
        // The full path's lazy record (only the schema's keys) maps exactly like a whole
        // serde_json map of the line.
        let whole = JsonRecord::parse(&line).and_then(|r| sysmon.map(&r));
        match (&full, &whole) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{line}"),
            (Err(_), Err(_)) => {}
            // serde_json's map keeps the last of duplicate keys; the full path refuses them.
            (Err(e), Ok(_)) if e.starts_with("duplicate key") => {}
            _ => panic!("lazy and whole records disagree on {line}: {full:?} vs {whole:?}"),
        }
        let matches = match &full {
            Ok(Mapped::Event(e)) => compiled.iter().any(|c| c.filter_matches(e)),
            _ => false,
        };
        matched += usize::from(matches);
        if !pf.keep(line.as_bytes()) {
            skipped += 1;
            assert!(!matches, "prefilter skipped a matching line: {line}");
            // Malformed or not-applicable lines are parsed, never skipped, in this corpus:
            // every skip is an event whose port fields are plain.
            assert!(
                matches!(full, Ok(Mapped::Event(_))),
                "skipped a non-event: {line} -> {full:?}"
            );
        }
    }
    // The corpus exercises both sides.
    assert!(skipped > 100, "{skipped}");
    assert!(matched > 100, "{matched}");
}

/// A pack's prefilter keeps a line exactly when the prefilter of one of its rules alone would:
/// merging the rules' one-clause conjunctions on the same keys (the pack's port lists) into one
/// clause changes nothing, on every awkward encoding of the port.
#[test]
fn a_packs_prefilter_keeps_what_one_of_its_rules_would() {
    let schemas = schema::builtin().unwrap();
    let sysmon = schemas.iter().find(|s| s.name == "sysmon").unwrap();
    let rules = sysmon_rules(sysmon);
    let refs: Vec<&Rule> = rules.iter().collect();
    let pack = Prefilter::new(&refs, sysmon).expect("every pack rule has a port conjunct");
    let alone: Vec<Prefilter> = refs
        .iter()
        .map(|r| Prefilter::new(&[*r], sysmon).expect("a port conjunct"))
        .collect();
    assert!(alone.len() > 1, "the pack has several Sysmon rules");
    let (mut kept, mut skipped) = (0, 0);
    for line in lines() {
        let any = alone.iter().any(|p| p.keep(line.as_bytes()));
        assert_eq!(pack.keep(line.as_bytes()), any, "{line}");
        kept += usize::from(any);
        skipped += usize::from(!any);
    }
    assert!(kept > 100 && skipped > 100, "{kept} {skipped}");
}

#[test]
fn whole_runs_agree_with_and_without_prefilter() {
    let text = lines().join("\n") + "\n";
    let dir = std::env::temp_dir().join(format!("detc-prefilter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("adversarial.jsonl");
    std::fs::write(&p, text).unwrap();
    let rules = rules::pack();
    let on = run_files(&rules, std::slice::from_ref(&p), &RunOptions::default()).unwrap();
    let off = run_files(
        &rules,
        &[p],
        &RunOptions {
            prefilter: false,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(on.alerts, off.alerts);
    assert!(!on.alerts.is_empty());
    assert!(on.summary.prefiltered > 0);
    assert_eq!(on.summary.matched, off.summary.matched);
    assert_eq!(on.summary.rows, off.summary.rows);
    // Every bad line of the prefiltered run is one of the full run; the others are lines no
    // filter holds on with a bad value in a field no filter reads (the local port), which the
    // prefiltered run maps only on a line some filter holds on.
    let (on_bad, off_bad) = (bad_lines(&on), bad_lines(&off));
    assert!(on_bad.iter().all(|b| off_bad.contains(b)));
    let hidden: Vec<&(u64, String)> = off_bad.iter().filter(|b| !on_bad.contains(b)).collect();
    assert!(!hidden.is_empty());
    for (line, reason) in hidden {
        assert!(reason.contains("(local.port)"), "{line}: {reason}");
    }
}

#[test]
fn zeek_json_keys_dotted_underscored_and_nested() {
    let schemas = schema::builtin().unwrap();
    let zeek = schemas.iter().find(|s| s.name == "zeek-conn").unwrap();
    let rules: Vec<Rule> = rules::pack()
        .into_iter()
        .filter(|r| r.source == zeek.source)
        .collect();
    let refs: Vec<&Rule> = rules.iter().collect();
    let pf = Prefilter::new(&refs, zeek).expect("AN0382 has a port conjunct");
    let compiled: Vec<CompiledRule> = rules
        .iter()
        .map(|r| CompiledRule::new(r).unwrap())
        .collect();
    let mut lines = Vec::new();
    for port in ["25", "\"25\"", "443", "\"443\"", "null", "2.5e1", "\"-\""] {
        for shape in [
            "\"id.orig_h\":\"10.0.0.1\",\"id.resp_h\":\"93.184.216.34\",\"id.resp_p\":P",
            "\"id_orig_h\":\"10.0.0.1\",\"id_resp_h\":\"93.184.216.34\",\"id_resp_p\":P",
            "\"id\":{\"orig_h\":\"10.0.0.1\",\"resp_h\":\"93.184.216.34\",\"resp_p\":P}",
            "\"id\":{\"orig_h\":\"10.0.0.1\",\"resp_h\":\"93.184.216.34\",\"resp_p\":443},\"id.resp_p\":P",
            // The mapper reads `id.resp_p` first, found here only as the nested path; the
            // underscore key says 443. The nested value decides.
            "\"id\":{\"orig_h\":\"10.0.0.1\",\"resp_h\":\"93.184.216.34\",\"resp_p\":P},\"id_resp_p\":443",
        ] {
            lines.push(format!(
                "{{\"ts\":1763632800.5,{},\"proto\":\"tcp\",\"orig_bytes\":60000000}}",
                shape.replace('P', port)
            ));
        }
    }
    let (mut skipped, mut matched) = (0, 0);
    for line in &lines {
        let full = map_row(&Layout::JsonLines, zeek, line);
        let m = match &full {
            Ok(Mapped::Event(e)) => compiled.iter().any(|c| c.filter_matches(e)),
            _ => false,
        };
        matched += usize::from(m);
        if !pf.keep(line.as_bytes()) {
            skipped += 1;
            assert!(!m, "prefilter skipped a matching line: {line}");
        }
    }
    assert!(skipped >= 8 && matched >= 8, "{skipped} {matched}");
}

/// Runs `rules` over `text` (as file `name`) with `opts`.
fn run_text(
    rules: &[Rule],
    name: &str,
    text: &str,
    opts: &RunOptions<'_>,
) -> Result<detc::eval::run::RunOutput, detc::diag::Diagnostic> {
    let dir = std::env::temp_dir().join(format!("detc-lean-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    run_files(rules, &[p], opts)
}

/// Runs the pack over `text` as file `name` with and without the prefilter.
fn both_ways(name: &str, text: &str) -> (detc::eval::run::RunOutput, detc::eval::run::RunOutput) {
    let rules = rules::pack();
    let off = RunOptions {
        prefilter: false,
        ..RunOptions::default()
    };
    (
        run_text(&rules, name, text, &RunOptions::default()).unwrap(),
        run_text(&rules, name, text, &off).unwrap(),
    )
}

/// A run's bad lines as (line, reason).
fn bad_lines(o: &detc::eval::run::RunOutput) -> Vec<(u64, String)> {
    o.summary
        .bad
        .iter()
        .map(|b| (b.line, b.reason.clone()))
        .collect()
}

/// The numbers of a run's bad lines.
fn bad_line_numbers(o: &detc::eval::run::RunOutput) -> Vec<u64> {
    o.summary.bad.iter().map(|b| b.line).collect()
}

/// With the prefilter on, a table row is first mapped from the columns the rules' filters read
/// (and its timestamp) and then, only when a filter holds on it, from the columns some rule
/// reads: the same alerts and matches as the full path on rows whose columns no rule reads hold
/// good values; a bad value in a column some rule reads but no filter does is found on every
/// matching row (a bad line either way), and is not looked for on a row no rule matches (like
/// a line the prefilter skips); a bad value in a column no rule reads is not looked for; a row
/// without a valid timestamp is a bad line either way.
#[test]
fn table_rows_agree_with_and_without_prefilter() {
    let head = "#separator \\x09\n#unset_field\t-\n#empty_field\t(empty)\n#path\tconn\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t\
        orig_bytes\tresp_bytes\tconn_state\n";
    let row = |ts: &str, dport: &str, duration: &str, sent: &str| {
        format!("{ts}\tC1\t10.0.0.23\t40000\t93.184.216.34\t{dport}\ttcp\tsmtp\t{duration}\t{sent}\t10\tSF\n")
    };
    let text = [
        head.to_string(),
        row("1763632800.5", "25", "1.5", "20000000"),
        row("1763632801.5", "25", "1.5", "20000000"),
        row("1763632802.5", "587", "-", "20000000"),
        // Line 9: matches, bad `duration` (no rule reads it): not looked at either way, an
        // event counted as the row with a good duration.
        row("1763632803.5", "25", "abc", "20000000"),
        // Line 10: matches no rule, bad `duration`: not looked at either way.
        row("1763632804.5", "443", "abc", "20000000"),
        // Line 11: a bad port, which the rule reads: a bad line either way.
        row("1763632805.5", "2x5", "1.5", "20000000"),
        row("1763632806.5", "443", "1.5", "20000000"),
        // Line 13: matches no rule, a masked timestamp (no filter reads it): a bad line either
        // way (Zeek's test baselines mask `ts`).
        row("XXXXXXXXXX.XXXXXX", "443", "1.5", "20000000"),
        // Line 14: matches no rule, a bad byte count (AN0382 sums it; no filter reads it): a
        // bad line without the prefilter only.
        row("1763632807.5", "443", "1.5", "abc"),
        // Line 15: matches, no timestamp: a bad line either way.
        row("-", "25", "1.5", "20000000"),
    ]
    .concat();
    let (on, off) = both_ways("conn.log", &text);
    // Lines 9 and 10 with a good duration: the same alerts and matches, either way.
    let fixed = text.replace("\tabc\t20000000\t10\tSF\n", "\t1.5\t20000000\t10\tSF\n");
    assert_ne!(fixed, text);
    let (_, off_fixed) = both_ways("conn-fixed.log", &fixed);
    assert_eq!(on.alerts, off_fixed.alerts);
    assert_eq!(on.alerts, off.alerts);
    assert_eq!(on.alerts.len(), 1, "{:?}", on.alerts);
    assert_eq!(on.summary.matched, off.summary.matched);
    assert_eq!(on.summary.matched, off_fixed.summary.matched);
    assert_eq!(on.summary.matched, 4);
    assert_eq!(on.summary.rows, off.summary.rows);
    assert_eq!(bad_line_numbers(&off), [11, 13, 14, 15]);
    assert_eq!(bad_line_numbers(&on), [11, 13, 15]);
    assert_eq!(bad_lines(&off), bad_lines(&off_fixed));
    assert_eq!(on.summary.bad[0], off.summary.bad[0]);
    assert_eq!(on.summary.bad[1], off.summary.bad[1]);
    assert_eq!(on.summary.bad[2], off.summary.bad[3]);
    assert_eq!(on.summary.events, off.summary.events + 1);

    // Defender CSV: a matching row whose quoted command line spans two lines, a row of another
    // table (not applicable), and a bad process id (no rule reads it) on a matching and on a
    // non-matching row.
    let mut csv = String::from(
        "Timestamp,DeviceName,ActionType,RemoteIP,RemotePort,Protocol,InitiatingProcessFileName,\
         InitiatingProcessId,InitiatingProcessCommandLine,InitiatingProcessAccountDomain,\
         InitiatingProcessAccountName\n",
    );
    for (i, (action, port, pid, cmd)) in [
        ("ConnectionSuccess", "25", "10", "\"a.exe --to \"\"x\"\"\""),
        ("ConnectionSuccess", "25", "10", "\"a.exe\nsecond line\""),
        ("ConnectionSuccess", "25", "10", "a.exe"),
        ("ConnectionSuccess", "25", "x", "a.exe"),
        ("ConnectionSuccess", "443", "x", "a.exe"),
        ("FileCreated", "25", "x", "a.exe"),
        ("ConnectionSuccess", "587", "10", "a.exe"),
    ]
    .iter()
    .enumerate()
    {
        csv.push_str(&format!(
            "2026-11-20T00:00:0{i}Z,ws1,{action},93.184.216.34,{port},Tcp,a.exe,{pid},{cmd},corp,u1\n"
        ));
    }
    let (on, off) = both_ways("defender.csv", &csv);
    assert_eq!(on.alerts, off.alerts);
    // The Defender rule and AN0379's (both read network connections).
    assert_eq!(on.alerts.len(), 2, "{:?}", on.alerts);
    assert_eq!(on.summary.matched, off.summary.matched);
    assert_eq!(on.summary.matched, 4);
    assert_eq!(on.summary.not_applicable, off.summary.not_applicable);
    assert_eq!(on.summary.not_applicable, 1);
    // Rows start on lines 2, 3, 5, 6, 7, 8, 9 (the second row spans lines 3-4).
    assert_eq!(bad_line_numbers(&off), [6, 7]);
    assert_eq!(bad_line_numbers(&on), [6]);
    assert_eq!(on.summary.events, off.summary.events + 1);
}

/// The body of an aggregating rule that reads four fields (`direction`, `remote.ip`, `host`,
/// `time`), as the benchmark's unselective row: most lines match, so the prefilter skips none.
const OUTBOUND_BY_HOST: &str = "  where direction == outbound and not remote.ip is loopback
  window 1h
  group by host
  aggregate connections = count(), destinations = distinct(remote.ip)
  having connections >= 2";

/// Sysmon lines for [`OUTBOUND_BY_HOST`], with bad values in fields it does not read (the
/// local port, a duplicate `User`, an inbound line's local port) unless `fixed`, which puts good
/// values there instead. The other awkward lines are the same either way.
fn sysmon_lines(fixed: bool) -> String {
    let line = |min: u32, host: &str, initiated: &str, dip: &str, sport: &str, extra: &str| {
        format!(
            "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:{min:02}:00.000\"{host},\"User\":\"CORP\\\\u1\",\"Image\":\"C:\\\\p.exe\",\"Initiated\":\"{initiated}\",\"SourceIp\":\"10.0.0.1\",\"SourcePort\":{sport},\"DestinationIp\":\"{dip}\",\"DestinationPort\":25{extra}}}"
        )
    };
    let (h1, h2) = (",\"Hostname\":\"H1\"", ",\"Hostname\":\"Hé\"");
    let bad_port = if fixed { "\"50000\"" } else { "\"x5\"" };
    let dup_user = if fixed {
        ""
    } else {
        ",\"User\":\"CORP\\\\u2\""
    };
    [
        // 1, 2: match.
        line(1, h1, "true", "93.184.216.34", "50000", ""),
        line(2, h1, "true", "93.184.216.35", "50000", ""),
        // 3: matches; a bad local port (unread).
        line(3, h1, "true", "93.184.216.36", bad_port, ""),
        // 4: matches; `User` (unread) twice.
        line(4, h1, "true", "93.184.216.37", "50000", dup_user),
        // 5: `Hostname` (read) twice: a bad line either way.
        line(
            5,
            h1,
            "true",
            "93.184.216.38",
            "50000",
            ",\"Hostname\":\"H9\"",
        ),
        // 6: a bad remote address (read): a bad line either way.
        line(6, h1, "true", "999.1.1.1", "50000", ""),
        // 7: inbound (swapped: the local port is `DestinationPort`'s, the remote address
        // `SourceIp`), no match; a bad `SourcePort`, the remote port (unread).
        line(7, h1, "false", "93.184.216.39", bad_port, ""),
        // 8: another event type with a bad port: not applicable either way.
        line(8, h1, "true", "93.184.216.34", "\"x5\"", "")
            .replace("\"EventID\":3", "\"EventID\":1"),
        // 9, 10: no `Hostname` (a missing group key): match.
        line(9, "", "true", "93.184.216.34", "50000", ""),
        line(10, "", "true", "93.184.216.34", "50000", ""),
        // 11: cut short; 12: bad JSON in a value no rule reads: bad lines either way.
        "{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:11:00.000\",\"Host".to_string(),
        line(12, h1, "true", "93.184.216.34", "50000", ",\"Extra\":tru"),
        // 13: loopback, no match; a bad local port (unread).
        line(13, h1, "true", "127.0.0.1", bad_port, ""),
        // 14, 15: non-ASCII host, the second with CRLF and an escaped key (serde_json's
        // reader decides it): match.
        line(14, h2, "true", "93.184.216.34", "50000", ""),
        line(
            15,
            ",\"Hostn\\u0061me\":\"Hé\"",
            "true",
            "93.184.216.34",
            "50000",
            "",
        ) + "\r",
        // 16: no timestamp: a bad line either way.
        line(16, h1, "true", "93.184.216.34", "50000", "").replace("UtcTime", "Utc"),
    ]
    .join("\n")
        + "\n"
}

/// A JSON line is read for the fields the file's rules read (and what decides applicability
/// and the swap), with the prefilter its filter's cells first: a bad value or a duplicate key
/// in a field no rule reads is not looked for, with or without the prefilter, so such a line is
/// an event, counted as the line with a good value there would be; with `--strict` (which reads
/// every field) it is a malformed line. Everything else (bad values of read fields, bad JSON
/// anywhere in the line, missing keys, not-applicable rows, swapped rows, escaped keys) reads
/// the same either way, and the alerts never depend on the prefilter.
#[test]
fn json_lines_read_only_the_fields_the_rules_read() {
    let rules = [rules::connection_rule(
        "outbound_by_host",
        "7e7e7e7e",
        1,
        OUTBOUND_BY_HOST,
    )];
    let on = RunOptions::default();
    let off = RunOptions {
        prefilter: false,
        ..RunOptions::default()
    };
    let run = |fixed: bool, opts: &RunOptions<'_>| {
        run_text(
            &rules,
            &format!("sysmon-{fixed}.jsonl"),
            &sysmon_lines(fixed),
            opts,
        )
        .unwrap()
    };
    let (on_bad, off_bad, off_fixed, on_fixed) = (
        run(false, &on),
        run(false, &off),
        run(true, &off),
        run(true, &on),
    );
    // The alerts of the line with good values in the fields no rule reads, either way.
    assert_eq!(on_bad.alerts, off_bad.alerts);
    assert_eq!(on_bad.alerts, off_fixed.alerts);
    assert_eq!(on_bad.alerts, on_fixed.alerts);
    assert_eq!(on_bad.alerts.len(), 3, "{:?}", on_bad.alerts);
    assert_eq!(bad_line_numbers(&on_bad), [5, 6, 11, 12, 16]);
    for o in [&off_bad, &off_fixed, &on_fixed] {
        assert_eq!(bad_lines(&on_bad), bad_lines(o));
    }
    assert!(on_bad.summary.bad[0]
        .reason
        .contains("duplicate key `Hostname`"));
    for o in [&off_bad, &off_fixed] {
        assert_eq!(o.summary.prefiltered, 0);
    }
    assert_eq!(on_bad.summary.events, off_bad.summary.events);
    assert_eq!(on_bad.summary.matched, off_bad.summary.matched);
    assert_eq!(on_bad.summary.matched, off_fixed.summary.matched);
    assert_eq!(on_bad.summary.matched, 8);
    assert_eq!(on_bad.summary.not_applicable, 1);
    assert_eq!(off_bad.summary.not_applicable, 1);
    // `--strict` reads every field: the first bad line is the unread bad port's.
    let strict = RunOptions {
        strict: true,
        ..RunOptions::default()
    };
    let Err(e) = run_text(&rules, "strict.jsonl", &sysmon_lines(false), &strict) else {
        panic!("--strict read a bad unread value");
    };
    assert!(e.message.contains(":3: malformed line"), "{}", e.message);
}

/// The whole pack (rules without aggregation among them: their alerts hold every field) reads
/// every field of a line some filter holds on: a bad value anywhere is a bad line, as without
/// the prefilter.
#[test]
fn a_rule_without_aggregation_reads_every_field() {
    let text = sysmon_lines(false)
        .replace(
            "\"DestinationPort\":25",
            "\"DestinationPort\":25,\"Image\":\"C:\\\\w\\\\powershell.exe\"",
        )
        .replace("\"Image\":\"C:\\\\p.exe\",", "");
    let (on, off) = both_ways("pack.jsonl", &text);
    assert_eq!(on.alerts, off.alerts);
    assert!(!on.alerts.is_empty());
    // Lines 3 and 4 (a scripting host's outbound SMTP: every pack rule of the source that
    // matches it is AN0379's filter-only rule) are bad lines with the prefilter too.
    assert!(bad_line_numbers(&on)
        .iter()
        .all(|l| bad_line_numbers(&off).contains(l)));
    for l in [3, 4, 5, 6, 12, 16] {
        assert!(
            bad_line_numbers(&on).contains(&l),
            "line {l}: {:?}",
            bad_line_numbers(&on)
        );
    }
}
