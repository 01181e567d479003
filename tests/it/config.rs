//! The project config file `detc.yaml` end to end: found by walking up from the rule paths,
//! defaults that flags override (`detc config` says where each came from), the project's own
//! input schemas (the README's Argus CSV and Suricata eve.json steps), target overrides merged
//! over the built-in profiles, and located errors (E0030-E0034, exit 2, never a panic).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn detc_in(dir: &Path, args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_detc"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn detc(args: &[&str]) -> Run {
    detc_in(&root(), args)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    // A repository root of its own: the walk up for detc.yaml stops here.
    std::fs::create_dir_all(d.join(".git")).unwrap();
    d
}

/// A pack under `dir/rules/`: the repository's lists and the AN0382 volume rule.
fn pack(dir: &Path) {
    let rules = dir.join("rules");
    std::fs::create_dir_all(rules.join("lists")).unwrap();
    std::fs::copy(root().join("rules/lists.detc"), rules.join("lists.detc")).unwrap();
    for f in std::fs::read_dir(root().join("rules/lists")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, rules.join("lists").join(f.file_name().unwrap())).unwrap();
    }
    let text =
        std::fs::read_to_string(root().join("rules/an0382_external_mail_volume.detc")).unwrap();
    // Its tests read fixtures this copy does not have: keep the rule, and give it tests over
    // the README's sample files through the project's schemas.
    let cut = text.find("  test \"").unwrap();
    std::fs::write(
        rules.join("volume.detc"),
        format!(
            "{}  test \"Argus: 62 MB to two external SMTP servers\" events \"data/argus.csv\" schema argus-csv\n    expect 1 alert {{ src.ip: 10.0.0.23, sent: 62000000, connections: 3 }}\n  test \"eve.json: 60.5 MB over submission\" events \"data/eve.json\" schema suricata-flow\n    expect 1 alert {{ src.ip: 10.0.0.42, sent: 60500000, connections: 2 }}\n  test \"Argus: a small SMTP session\" events \"data/quiet.csv\"\n    expect no alert\n}}\n",
            &text[..cut]
        ),
    )
    .unwrap();
    std::fs::copy(
        root().join("examples/own-logs/suricata-flow.yaml"),
        dir.join("suricata-flow.yaml"),
    )
    .unwrap();
    std::fs::create_dir_all(rules.join("data")).unwrap();
    std::fs::write(
        rules.join("data/quiet.csv"),
        "StartTime,SrcAddr,Sport,DstAddr,Dport,Proto,SrcBytes,DstBytes,Dur\n1732609100.771300,10.0.0.40,51002,203.0.113.50,25,tcp,48000,3100,2.4\n",
    )
    .unwrap();
    for f in ["argus.csv", "eve.json"] {
        std::fs::copy(
            root().join("examples/own-logs").join(f),
            rules.join("data").join(f),
        )
        .unwrap();
    }
}

/// The README's detc.yaml: the `inputs:` of the Argus and Suricata schemas.
fn own_schemas() -> String {
    std::fs::read_to_string(root().join("examples/own-logs/detc.yaml")).unwrap()
}

/// The README's steps: `detc run` over an Argus CSV and a Suricata eve.json with the schemas of
/// examples/own-logs/detc.yaml, each detected from its first record, give the expected alerts.
#[test]
fn readme_own_logs_steps_give_the_expected_alerts() {
    for (file, schema, src, sent, window) in [
        (
            "argus.csv",
            "argus-csv",
            "10.0.0.23",
            62_000_000,
            "2024-11-26T08:00:00Z",
        ),
        (
            "eve.json",
            "suricata-flow",
            "10.0.0.42",
            60_500_000,
            "2024-11-26T09:00:00Z",
        ),
    ] {
        let events = format!("examples/own-logs/{file}");
        let r = detc(&[
            "run",
            "rules/",
            "--config",
            "examples/own-logs/detc.yaml",
            "--events",
            &events,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("{events}: schema {schema}\n")),
            "{}",
            r.stderr
        );
        let alerts: Vec<serde_json::Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(alerts.len(), 1, "{}", r.stdout);
        let a = &alerts[0];
        assert_eq!(a["rule_name"], "an0382_external_mail_volume");
        assert_eq!(a["group"]["src.ip"], src);
        assert_eq!(a["aggregates"]["sent"], sent);
        assert_eq!(a["window_start"], window);
        // Named explicitly, the same.
        let forced = detc(&[
            "run",
            "rules/",
            "--config",
            "examples/own-logs/detc.yaml",
            "--schema",
            schema,
            "--events",
            &events,
        ]);
        assert_eq!(forced.stdout, r.stdout);
    }
    // eve.json's `alert` event is not a flow: counted as not applicable, not a bad line.
    let r = detc(&[
        "run",
        "rules/",
        "--config",
        "examples/own-logs/detc.yaml",
        "--events",
        "examples/own-logs/eve.json",
    ]);
    assert!(
        r.stderr.contains("4 row(s) read (0.0 MB)")
            && r.stderr
                .contains("3 event(s), 1 not applicable, 0 bad line(s)"),
        "{}",
        r.stderr
    );
    // Without the config the files are of no known schema (exit 2).
    let r = detc(&["run", "rules/", "--events", "examples/own-logs/argus.csv"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("matches no input schema"), "{}", r.stderr);
}

/// detc.yaml at the pack's root is found from a rule path below it; a rule test names a
/// schema of the project; `detc test` passes over the README's files.
#[test]
fn the_config_is_found_from_the_rule_paths_and_its_schemas_serve_rule_tests() {
    let d = tmp("walk");
    pack(&d);
    // Without detc.yaml, `schema argus-csv` is no schema (E0264).
    let r = detc_in(&d, &["check", "rules/volume.detc", "rules/lists.detc"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("error[E0264]: unknown input schema `argus-csv`"),
        "{}",
        r.stderr
    );
    std::fs::write(d.join("detc.yaml"), own_schemas()).unwrap();
    let r = detc_in(&d, &["test", "rules"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("3 test(s): 3 passed, 0 failed"),
        "{}",
        r.stdout
    );
    // From another folder, through a rule path deep in the pack.
    let r = detc_in(
        &std::env::temp_dir(),
        &["test", &d.join("rules").to_string_lossy()],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = detc_in(&d.join("rules"), &["config", "--format", "json", "."]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["config"].as_str().unwrap().ends_with("detc.yaml"));
    let names: Vec<&str> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["argus-csv", "suricata-flow"]);
}

/// Defaults come from detc.yaml, flags override them, and `detc config` says which is which.
#[test]
fn defaults_from_the_file_flags_override_and_config_says_where() {
    let d = tmp("defaults");
    pack(&d);
    std::fs::write(
        d.join("detc.yaml"),
        own_schemas() + "defaults:\n  compile:\n    target: spl-cim\n    out: build/queries\n  test:\n    require_tests: warn\n  run:\n    allowed_lateness: 30m\n",
    )
    .unwrap();
    // The line of `target: spl-cim` in the file: where `detc config` says the value is from.
    let text = std::fs::read_to_string(d.join("detc.yaml")).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("target: spl-cim"))
        .unwrap()
        + 1;
    let r = detc_in(&d, &["config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("compile.target         spl-cim ")
                && l.ends_with(&format!("(file detc.yaml:{line}:5)"))),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("check.deny_warnings    false"),
        "{}",
        r.stdout
    );
    let r = detc_in(&d, &["config", "--format", "json", "--target", "sigma"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let get = |k: &str| {
        v["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(get("compile.target")["value"], "sigma");
    assert_eq!(get("compile.target")["origin"], "flag");
    assert_eq!(get("run.allowed_lateness")["value"], "30m");
    assert_eq!(get("run.allowed_lateness")["origin"], "file");
    assert_eq!(get("test.require_tests")["value"], "warn");
    assert_eq!(get("check.deny_warnings")["origin"], "default");
    assert!(get("compile.out")["value"]
        .as_str()
        .unwrap()
        .ends_with("build/queries"));

    // `detc compile` with neither --target nor --out: the file's, relative to detc.yaml.
    let r = detc_in(&d.join("rules"), &["compile", "."]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let q = d.join("build/queries/spl-cim/an0382_external_mail_volume.spl");
    assert!(q.is_file(), "{}", r.stderr);
    // A flag wins.
    let r = detc_in(&d, &["compile", "rules", "--target", "sigma"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(d.join("build/queries/sigma").is_dir());
}

/// Target overrides reach the emitted queries, merged over the built-in profiles.
#[test]
fn target_overrides_reach_the_queries() {
    let d = tmp("targets");
    pack(&d);
    std::fs::write(
        d.join("detc.yaml"),
        own_schemas() + "targets:\n  spl-cim:\n    network_flow: {summariesonly: true}\n  kql-sentinel:\n    network_flow:\n      from: _Im_NetworkSession(starttime=ago(1d), dstportnumber=25)\n  sigma:\n    network_flow:\n      logsource: {category: firewall, product: argus}\n",
    )
    .unwrap();
    let r = detc_in(&d, &["compile", "rules", "--target", "all", "--out", "q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let read = |p: &str| std::fs::read_to_string(d.join("q").join(p)).unwrap();
    assert!(
        read("spl-cim/an0382_external_mail_volume.spl").contains("| tstats summariesonly=true ")
    );
    assert!(read("kql-sentinel/an0382_external_mail_volume.kql")
        .contains("_Im_NetworkSession(starttime=ago(1d), dstportnumber=25)\n"));
    let sigma = read("sigma/an0382_external_mail_volume.yml");
    assert!(
        sigma.contains("category: 'firewall'") && sigma.contains("product: 'argus'"),
        "{sigma}"
    );
    // The SigmaHQ file prefix names the profile's logsource (zeek_conn_): not this one.
    assert!(!d
        .join("q/sigma/zeek_conn_an0382_external_mail_volume.yml")
        .exists());
    // Without overrides, the built-in settings.
    let r = detc(&[
        "compile",
        "rules/an0382_external_mail_volume.detc",
        "rules/lists.detc",
        "--target",
        "spl-cim",
        "--out",
        &d.join("plain").to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plain =
        std::fs::read_to_string(d.join("plain/spl-cim/an0382_external_mail_volume.spl")).unwrap();
    assert!(plain.contains("| tstats summariesonly=false "));
    // `detc config` lists them with their place in the file.
    let r = detc_in(&d, &["config"]);
    let text = std::fs::read_to_string(d.join("detc.yaml")).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("summariesonly"))
        .unwrap()
        + 1;
    assert!(
        r.stdout.contains(&format!(
            "  spl-cim.network_flow.summariesonly = true  (file detc.yaml:{line}:20)"
        )),
        "{}",
        r.stdout
    );
}

/// Every kind of bad config is a located error with its code, exit 2, and nothing else runs.
#[test]
fn bad_config_is_located_and_exits_2() {
    let d = tmp("bad");
    pack(&d);
    for (text, code, at) in [
        ("defaults:\n\tcheck: {}\n", "E0030", "detc.yaml:2:1"),
        ("defaults:\n  compile:\n    taget: all\n", "E0031", "detc.yaml:3:5"),
        ("defaults:\n  check:\n    deny_warnings: sure\n", "E0031", "detc.yaml:3:20"),
        ("defaults:\n  run: {allowed_lateness: 6 hours}\n", "E0031", "detc.yaml:2:9"),
        ("defaults:\n  run: {schema: argus}\n", "E0031", "detc.yaml:2:9"),
        ("defaults:\n  compile: {target: spl-cims}\n", "E0031", "detc.yaml:2:13"),
        ("bogus: 1\n", "E0031", "detc.yaml:1:1"),
        (
            "inputs:\n  - name: x\n    description: d\n    source: network_flw\n    detect: [[a]]\n    fields:\n      time: {from: [a]}\n",
            "E0032",
            "detc.yaml:4:5",
        ),
        (
            "inputs:\n  - name: x\n    description: d\n    source: network_flow\n    detect: [[a]]\n    fields:\n      time: {from: [a]}\n      dst.prot: {from: [b]}\n",
            "E0032",
            "detc.yaml:8:7",
        ),
        (
            "inputs:\n  - name: zeek-conn\n    description: d\n    source: network_flow\n    detect: [[a]]\n    fields:\n      time: {from: [a]}\n",
            "E0032",
            "detc.yaml:2:11",
        ),
        (
            "inputs:\n  - name: x\n    description: d\n    sorce: network_flow\n",
            "E0031",
            "detc.yaml:4:5",
        ),
        ("targets:\n  kql-sentinal:\n    network_flow: {from: X}\n", "E0033", "detc.yaml:2:3"),
        ("targets:\n  spl-cim:\n    network_flow: {from: X}\n", "E0033", "detc.yaml:3:20"),
        ("targets:\n  spl-cim:\n    network_flw: {summariesonly: true}\n", "E0033", "detc.yaml:3:5"),
        (
            "targets:\n  spl-sysmon:\n    network_connection: {search: 'index=x | delete'}\n",
            "E0033",
            "detc.yaml:3:26",
        ),
        (
            "targets:\n  kql-defender:\n    network_connection: {from: 'DeviceNetworkEvents | take 1'}\n",
            "E0033",
            "detc.yaml:3:26",
        ),
        (
            "targets:\n  sigma:\n    network_flow: {logsource: {categry: x}}\n",
            "E0033",
            "detc.yaml:3:32",
        ),
        ("inputs:\n  - nothere.yaml\n", "E0034", "detc.yaml:2:5"),
    ] {
        std::fs::write(d.join("detc.yaml"), text).unwrap();
        for args in [&["config"][..], &["check", "rules"], &["test", "rules"]] {
            let r = detc_in(&d, args);
            assert_eq!(r.code, 2, "{text:?} {args:?}: {}{}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains(&format!("{at}: error[{code}]")),
                "{text:?}: expected {at} {code}:\n{}",
                r.stderr
            );
            assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
            assert!(r.stdout.is_empty(), "{args:?} ran: {}", r.stdout);
        }
    }
    // As JSON for `detc config --format json`.
    std::fs::write(d.join("detc.yaml"), "inputs:\n  - nothere.yaml\n").unwrap();
    let r = detc_in(&d, &["config", "--format", "json"]);
    assert_eq!(r.code, 2);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["diagnostics"][0]["code"], "E0034");
}

/// The README shows examples/own-logs/detc.yaml as it is (comments aside), and the example of
/// docs/CONFIG.md is a config that loads, every part of it.
#[test]
fn the_documented_configs_are_the_real_ones() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for line in own_schemas().lines() {
        let code = line.split(" #").next().unwrap().trim_end();
        if code.trim_start().starts_with('#') || code.is_empty() {
            continue;
        }
        assert!(readme.contains(code), "README lacks `{code}`");
    }
    let doc = std::fs::read_to_string(root().join("docs/CONFIG.md")).unwrap();
    let start = doc.find("```yaml\n").unwrap() + 8;
    let end = start + doc[start..].find("```").unwrap();
    let d = tmp("doc");
    pack(&d);
    std::fs::write(d.join("detc.yaml"), &doc[start..end]).unwrap();
    std::fs::create_dir_all(d.join("schemas")).unwrap();
    std::fs::copy(
        root().join("examples/own-logs/suricata-flow.yaml"),
        d.join("schemas/suricata-flow.yaml"),
    )
    .unwrap();
    let r = detc_in(&d, &["config", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(v["targets"].as_array().unwrap().len(), 5);
    assert!(v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["origin"] == "file"));
}

/// `defaults.run` reaches `detc run`: `strict` makes a bad row fatal, `schema` names the schema
/// (a file no schema detects is read), and the flags still win.
#[test]
fn run_defaults_from_the_file() {
    let d = tmp("run");
    pack(&d);
    let rows = "StartTime,SrcAddr,Sport,DstAddr,Dport,Proto,SrcBytes,DstBytes,Dur\n1732608000,10.0.0.23,49152,203.0.113.50,25,tcp,lots,1,1\n";
    std::fs::write(d.join("bad.csv"), rows).unwrap();
    // A header no schema detects: only a named schema reads it.
    std::fs::write(
        d.join("renamed.csv"),
        rows.replace("SrcBytes", "Bytes").replace("lots", "100"),
    )
    .unwrap();
    std::fs::write(d.join("detc.yaml"), own_schemas()).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "rules", "--events"];
        args.extend_from_slice(extra);
        detc_in(&d, &args)
    };
    let r = run(&["bad.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("bad.csv:2: bad line"), "{}", r.stderr);
    let r = run(&["renamed.csv"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    std::fs::write(
        d.join("detc.yaml"),
        own_schemas() + "defaults:\n  run:\n    strict: true\n    schema: argus-csv\n",
    )
    .unwrap();
    let r = run(&["bad.csv"]);
    assert_eq!(r.code, 2, "strict from the file: {}", r.stderr);
    let r = run(&["renamed.csv"]);
    assert!(
        !r.stderr.contains("matches no input schema"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("renamed.csv: schema argus-csv"),
        "{}",
        r.stderr
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A flag over the file's schema: zeek-conn finds no `ts` (fatal, strict from the file).
    let r = run(&["renamed.csv", "--schema", "zeek-conn"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("none of ts has a value"), "{}", r.stderr);
}
