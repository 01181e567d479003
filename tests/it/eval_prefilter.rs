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

#[test]
fn skipped_lines_cannot_match_line_by_line() {
    let schemas = schema::builtin().unwrap();
    let sysmon = schemas.iter().find(|s| s.name == "sysmon").unwrap();
    let rules: Vec<Rule> = rules::pack()
        .into_iter()
        .filter(|r| r.source == sysmon.source)
        .collect();
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
    // Every bad line of the full run is also reported by the prefiltered run (none is of the
    // kind the prefilter may hide).
    assert_eq!(on.summary.bad, off.summary.bad);
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
