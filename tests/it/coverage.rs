//! `detc coverage` and the ATT&CK Navigator layers: a technique or analytic counts on a target
//! only when a rule naming it is emitted for the target; table and JSON; layers written by
//! `coverage --navigator` and by `compile --target all` (drift-checked), each loaded by
//! mitreattack-python's navlayers (the oracle; missing, the test fails).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::{oracle, rules};

use detc::coverage::{coverage, Row};
use detc::targets;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-cov-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn detc(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_detc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run detc");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn target_names() -> Vec<String> {
    targets::load_profiles()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect()
}

fn on<'a>(row: &'a Row, target: &str) -> Vec<&'a str> {
    row.targets[target].iter().map(String::as_str).collect()
}

/// The Defender mail-port rule reads `outcome`, which Sysmon's network event lacks: sigma and
/// spl-sysmon have the rule's source but refuse the rule (W0900), so it covers nothing there. A
/// coverage read off the profiles' source lists would count it.
#[test]
fn a_refused_rule_covers_nothing_on_its_target() {
    let pack = rules::rule_pack();
    let res = targets::compile_pack(&pack, "all");
    assert!(!res.has_errors(), "{:#?}", res.diagnostics);
    let cov = coverage(&pack, &res, &target_names());
    let rule = rules::t1071_003();
    let profiles = targets::load_profiles().unwrap();
    for t in ["sigma", "spl-sysmon"] {
        let p = profiles.iter().find(|p| p.name == t).unwrap();
        assert!(
            p.sources.contains_key(rule.source.name()),
            "{t} has the source"
        );
        assert!(res
            .diagnostics
            .iter()
            .any(|d| d.code == "W0900" && d.message.contains(&rule.name) && d.message.contains(t)));
    }
    let tech = cov.techniques.iter().find(|r| r.id == "T1071.003").unwrap();
    assert_eq!(tech.name, "Mail Protocols");
    assert_eq!(tech.rules.len(), pack.rules.len());
    assert!(tech.rules.contains(&rule.name));
    for t in ["sigma", "spl-sysmon"] {
        assert!(!on(tech, t).contains(&rule.name.as_str()), "{t}: {tech:?}");
    }
    assert!(on(tech, "kql-defender").contains(&rule.name.as_str()));
    // The flow rules have no Defender table and AN0379's endpoint rules no CIM one.
    assert!(!on(tech, "kql-defender").contains(&"an0382_external_mail_volume"));
    assert!(on(tech, "spl-cim").contains(&"an0382_external_mail_volume"));
    assert!(!on(tech, "spl-cim").contains(&"an0379_mail_protocol_unexpected_process"));
}

/// DET0135's four analytics are listed, the one no rule names (AN0380) with no target; AN0381's
/// macOS rules only where a table holds macOS events (Defender, Sentinel).
#[test]
fn det0135_analytics_against_targets() {
    let pack = rules::rule_pack();
    let res = targets::compile_pack(&pack, "all");
    let cov = coverage(&pack, &res, &target_names());
    let ids: Vec<&str> = cov.analytics.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["AN0379", "AN0380", "AN0381", "AN0382"]);
    for a in &cov.analytics {
        assert_eq!(a.name, "DET0135");
    }
    let get = |id: &str| cov.analytics.iter().find(|a| a.id == id).unwrap();
    // AN0380 reads Linux processes: Defender, Sigma (product linux) and Sysmon for Linux in
    // Splunk; CIM has no process table here.
    assert_eq!(get("AN0380").rules, ["an0380_linux_mail_tool"]);
    for t in ["kql-defender", "kql-sentinel", "sigma", "spl-sysmon"] {
        assert!(!on(get("AN0380"), t).is_empty(), "{t}");
    }
    // AN0381 is macOS: Defender's and Sentinel's tables hold every platform; Sysmon and Sigma's
    // Sysmon entries have no macOS entry (E0308), CIM no endpoint source.
    assert_eq!(get("AN0381").rules.len(), 2);
    for t in ["kql-defender", "kql-sentinel"] {
        assert_eq!(on(get("AN0381"), t).len(), 2, "{t}");
    }
    for t in ["sigma", "spl-sysmon", "spl-cim"] {
        assert!(on(get("AN0381"), t).is_empty(), "{t}");
    }
    assert!(on(get("AN0380"), "spl-cim").is_empty());
    // AN0382's rules read flows: none on Defender (no flow table) nor Sysmon's profile.
    assert!(on(get("AN0382"), "kql-defender").is_empty());
    assert!(on(get("AN0382"), "spl-sysmon").is_empty());
    assert!(!on(get("AN0382"), "spl-cim").is_empty());
    assert!(on(get("AN0379"), "spl-cim").is_empty());
    assert!(!on(get("AN0379"), "kql-defender").is_empty());
}

#[test]
fn cli_table_and_json() {
    let (code, table, err) = detc(&["coverage", "rules/"]);
    assert_eq!(code, 0, "{err}");
    let header = table.lines().nth(1).unwrap();
    for t in target_names() {
        assert!(header.contains(&t), "{header}");
    }
    let line = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in\n{table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // id, name, rules, then kql-defender, kql-sentinel, sigma, spl-cim, spl-sysmon.
    assert_eq!(line("AN0380")[2..], ["1", "1", "1", "1", "-", "1"]);
    // AN0381 is macOS: Defender and Sentinel only (Sysmon has no macOS entry).
    assert_eq!(line("AN0381")[2..], ["2", "2", "2", "-", "-", "-"]);
    assert_eq!(line("AN0382")[3], "-");
    let (code, json, err) = detc(&["coverage", "rules/", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["attack_version"], "18.1");
    assert_eq!(v["techniques"][0]["id"], "T1071.003");
    assert_eq!(v["analytics"].as_array().unwrap().len(), 4);
    let defender: Vec<&str> = v["techniques"][0]["targets"]["kql-defender"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(defender.contains(&"t1071_003_defender_mail_ports"));
    assert!(!defender.contains(&"an0382_smtp_fanout"));
}

/// A rule error is exit 1 with the error, a missing path exit 2 (the CLI contract).
#[test]
fn cli_exit_codes() {
    let dir = tmp("bad");
    std::fs::write(dir.join("bad.detc"), "rule broken {\n").unwrap();
    let (code, out, err) = detc(&["coverage", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("error["), "{err}");
    let (code, _, err) = detc(&["coverage", dir.join("absent").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn read_dir_sorted(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `--navigator DIR` writes one layer per target and pack.json, byte for byte what
/// `compile --target all` commits under queries/navigator/, the same on every run.
#[test]
fn navigator_layers_written_deterministic_and_committed() {
    let a = tmp("nav-a");
    let b = tmp("nav-b");
    for d in [&a, &b] {
        let (code, _, err) = detc(&["coverage", "rules/", "--navigator", d.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    let got = read_dir_sorted(&a);
    assert_eq!(got, read_dir_sorted(&b));
    let mut want: Vec<String> = target_names().iter().map(|t| format!("{t}.json")).collect();
    want.push("pack.json".into());
    want.sort();
    let names: Vec<&String> = got.iter().map(|(n, _)| n).collect();
    assert_eq!(names, want.iter().collect::<Vec<_>>());
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/navigator");
    assert_eq!(got, read_dir_sorted(&committed));
    let pack: Value =
        serde_json::from_str(&got.iter().find(|(n, _)| n == "pack.json").unwrap().1).unwrap();
    assert_eq!(pack["versions"]["layer"], "4.5");
    assert_eq!(pack["versions"]["attack"], "18");
    assert_eq!(pack["domain"], "enterprise-attack");
    let t = &pack["techniques"][0];
    assert_eq!(t["techniqueID"], "T1071.003");
    assert_eq!(t["tactic"], "command-and-control");
    // The score is the number of rules emitted for the technique: one `rule` entry each.
    let rules = t["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "rule")
        .count();
    assert!(rules > 0);
    assert_eq!(t["score"], rules);
    assert!(t["comment"]
        .as_str()
        .unwrap()
        .contains("AN0379, AN0380, AN0381, AN0382"));
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::remove_dir_all(&b).unwrap();
}

/// A layer edited or removed under --out is drift for `compile --check`, like a query.
#[test]
fn compile_check_covers_the_layers() {
    let out = tmp("compile");
    let o = out.to_str().unwrap();
    let (code, _, err) = detc(&["compile", "rules/", "--target", "all", "--out", o]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("navigator layers"), "{err}");
    let (code, _, err) = detc(&["compile", "rules/", "-t", "all", "-o", o, "--check"]);
    assert_eq!(code, 0, "{err}");
    let layer = out.join("navigator/spl-cim.json");
    let text = std::fs::read_to_string(&layer).unwrap();
    std::fs::write(&layer, text.replace("\"score\": 3", "\"score\": 4")).unwrap();
    std::fs::remove_file(out.join("navigator/pack.json")).unwrap();
    let (code, stdout, _) = detc(&["compile", "rules/", "-t", "all", "-o", o, "--check"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("drift (changed): navigator/spl-cim.json"),
        "{stdout}"
    );
    assert!(
        stdout.contains("drift (missing): navigator/pack.json"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// The oracle: navlayers loads every layer detc writes without a word, and reads back the
/// techniques, scores, comments and metadata detc wrote (so it parsed them, not skipped them).
#[test]
fn navlayers_loads_every_layer() {
    let dir = tmp("oracle");
    let (code, _, err) = detc(&["coverage", "rules/", "--navigator", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut files: Vec<PathBuf> = read_dir_sorted(&dir)
        .iter()
        .map(|(n, _)| dir.join(n))
        .collect();
    assert!(files.len() >= 2);
    // A layer navlayers refuses (an unknown technique property) must be seen as refused, or a
    // pass would prove nothing.
    let bad = dir.join("bad.layer");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    v["techniques"][0]["bogus"] = Value::from(1);
    std::fs::write(&bad, v.to_string()).unwrap();
    files.push(bad.clone());
    let loads = oracle::navlayers_load(&files).expect("navlayers oracle");
    assert_eq!(loads.len(), files.len());
    for l in &loads {
        if l.file == bad.to_string_lossy() {
            assert!(!l.loaded, "navlayers accepted a bad layer: {:?}", l.layer);
            continue;
        }
        assert!(l.loaded, "{}: {}", l.file, l.said);
        let ours: Value = serde_json::from_str(&std::fs::read_to_string(&l.file).unwrap()).unwrap();
        assert_eq!(l.layer["versions"], ours["versions"], "{}", l.file);
        assert_eq!(l.layer["name"], ours["name"]);
        let key = |t: &Value| {
            (
                t["techniqueID"].clone(),
                t["tactic"].clone(),
                t["score"].clone(),
                t["comment"].clone(),
                t["metadata"].clone(),
            )
        };
        let back: Vec<_> = l.layer["techniques"]
            .as_array()
            .unwrap()
            .iter()
            .map(key)
            .collect();
        let want: Vec<_> = ours["techniques"]
            .as_array()
            .unwrap()
            .iter()
            .map(key)
            .collect();
        assert!(!want.is_empty());
        assert_eq!(back, want, "{}", l.file);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// docs/COVERAGE.md's example is what `detc coverage rules/` prints.
#[test]
fn the_documented_example_is_the_output() {
    let (code, table, err) = detc(&["coverage", "rules/"]);
    assert_eq!(code, 0, "{err}");
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/COVERAGE.md"))
            .unwrap();
    assert!(
        doc.contains(&format!("$ detc coverage rules/\n{table}```")),
        "docs/COVERAGE.md's example differs from:\n{table}"
    );
}
