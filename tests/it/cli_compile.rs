//! `detc compile` / `detc targets`: the library functions the CLI is made of (compile_pack,
//! write_outputs, check_outputs) on the pack's rules and the construct tour, and the binary itself on `rules/` and on
//! rule texts written for a test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::rules;

use detc::targets;
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn detc(args: &[&str]) -> (i32, String, String) {
    detc_in(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn detc_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_detc"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run detc");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn all_targets_emit_what_they_can_and_explain_the_rest() {
    let pack = rules::pack_of(rules::all());
    let res = targets::compile_pack(&pack, "all");
    assert!(!res.has_errors(), "{:#?}", res.diagnostics);
    let names: Vec<String> = res
        .outputs
        .iter()
        .map(|e| format!("{}/{}", e.target, e.file_name))
        .collect();
    assert!(names.contains(&"kql-defender/an0379_mail_protocol_unexpected_process.kql".into()));
    assert!(names.contains(&"sigma/zeek_conn_an0382_external_mail_volume.yml".into()));
    assert!(names.contains(&"spl-cim/an0382_external_mail_volume.spl".into()));
    // Defender has no flow table, so the flow rules say `targets not [kql-defender, ...]`:
    // the pair is neither compiled nor warned about.
    assert!(!res.diagnostics.iter().any(|d| d.code == "W0900"
        && d.message.contains("an0382_external_mail_volume")
        && d.message.contains("kql-defender")));
    assert!(!names.contains(&"kql-defender/an0382_external_mail_volume.kql".into()));
    // Sysmon has no outcome: the Defender rule is explained for sigma and spl-sysmon.
    for t in ["sigma", "spl-sysmon"] {
        assert!(res.diagnostics.iter().any(|d| d.code == "W0900"
            && d.message.contains("t1071_003_defender_mail_ports")
            && d.message.contains(t)
            && d.message.contains("outcome")));
    }
    // Deterministic byte for byte.
    let again = targets::compile_pack(&pack, "all");
    assert_eq!(res.outputs, again.outputs);
}

#[test]
fn an_explicit_target_that_cannot_express_a_rule_is_an_error() {
    // The pack's rule says `targets not [spl-cim]`: for spl-cim it is skipped, not refused.
    let pack = rules::pack_of(vec![rules::an0379()]);
    let res = targets::compile_pack(&pack, "spl-cim");
    assert!(
        res.diagnostics.is_empty() && res.outputs.is_empty(),
        "{res:#?}"
    );
    // Without the clause, the same rule is refused by name.
    let mut rule = rules::an0379();
    rule.targets = None;
    let pack = rules::pack_of(vec![rule]);
    let res = targets::compile_pack(&pack, "spl-cim");
    assert!(res.has_errors());
    assert!(res.diagnostics.iter().any(|d| d.code == "E0901"));
    let res = targets::compile_pack(&pack, "kql-defendr");
    assert_eq!(res.diagnostics[0].code, "E0906");
    assert!(res.diagnostics[0]
        .hints
        .iter()
        .any(|h| h.contains("kql-defender")));
}

#[test]
fn a_column_missing_from_the_table_is_an_error_naming_table_and_nearest_columns() {
    let mut p = targets::profile("kql-defender").unwrap();
    let src = p.sources.get_mut("network_connection").unwrap();
    // The seed query's mistakes: SentBytes and AccountName are not DeviceNetworkEvents columns.
    src.fields.get_mut("user").unwrap().column = "AccountName".into();
    let err = targets::compile_rule(&rules::an0379(), &p).unwrap_err();
    let d = err.iter().find(|d| d.code == "E0903").expect("E0903");
    assert!(d.message.contains("DeviceNetworkEvents") && d.message.contains("AccountName"));
    assert!(
        d.hints
            .iter()
            .any(|h| h.contains("InitiatingProcessAccountName")),
        "{:?}",
        d.hints
    );
}

#[test]
fn a_computed_field_never_shadows_a_table_column() {
    // DeviceNetworkEvents has `Protocol`; the rule's `protocol` gets another name.
    let e = targets::compile_rule(&rules::an0379(), &targets::profile("kql-defender").unwrap())
        .unwrap();
    assert!(!e.text.contains("extend protocol ="), "{}", e.text);
    assert!(!e.text.contains("extend Protocol ="), "{}", e.text);
    assert!(e.text.contains("extend protocol_computed = case("));
    assert!(!e.text.contains("dcount("), "exact distinct counts only");
}

#[test]
fn write_then_check_reports_changed_missing_and_extra_files() {
    let dir = tmp("check");
    let pack = rules::pack_of(rules::all());
    let res = targets::compile_pack(&pack, "all");
    let written = detc::cli::write_outputs(&res.outputs, &dir).unwrap();
    assert_eq!(written.len(), res.outputs.len());
    let names: Vec<String> = targets::load_profiles()
        .unwrap_or_else(|d| unreachable!("{}", d.message))
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(detc::cli::check_outputs(&res.outputs, &names, &dir)
        .unwrap()
        .is_empty());
    // drift: edit one, delete one, add one
    let edited = dir.join("kql-defender/an0379_scripting_host_mail.kql");
    let text = std::fs::read_to_string(&edited).unwrap();
    std::fs::write(&edited, text.replace("RemotePort in", "RemotePort !in")).unwrap();
    std::fs::remove_file(dir.join("sigma/net_connection_win_an0379_scripting_host_mail.yml"))
        .unwrap();
    std::fs::write(dir.join("spl-sysmon/stale.spl"), "old query\n").unwrap();
    let drift = detc::cli::check_outputs(&res.outputs, &names, &dir).unwrap();
    let kinds: Vec<(&str, &str)> = drift
        .iter()
        .map(|d| (d.path.as_str(), d.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("kql-defender/an0379_scripting_host_mail.kql", "changed"),
            (
                "sigma/net_connection_win_an0379_scripting_host_mail.yml",
                "missing"
            ),
            ("spl-sysmon/stale.spl", "extra"),
        ]
    );
    assert!(drift[0].diff.contains("-| where") && drift[0].diff.contains("+| where"));
    assert!(drift[0].diff.contains("RemotePort !in"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn targets_lists_every_profile_human_and_json() {
    // Profiles are embedded: any working directory will do.
    let (code, out, _) = detc_in(&std::env::temp_dir(), &["targets"]);
    assert_eq!(code, 0);
    for n in detc::registry::profile_names() {
        assert!(out.contains(n), "{out}");
    }
    assert!(
        out.contains("process.name=InitiatingProcessFileName"),
        "{out}"
    );
    // The sources x targets matrix comes first: a row per source, a column per profile.
    let head = out.lines().next().unwrap_or_default();
    assert!(head.starts_with("source"), "{out}");
    for n in detc::registry::profile_names() {
        assert!(head.contains(n), "{head}");
    }
    let row = |src: &str| {
        out.lines()
            .find(|l| l.starts_with(src))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // kql-defender, kql-sentinel, sigma, spl-cim, spl-sysmon (profile order).
    assert_eq!(
        row("dns_query"),
        [
            "dns_query",
            "refused",
            "_Im_Dns",
            "dns_query",
            "Network_Resolution.DNS",
            "sysmon_eventcode_22"
        ]
    );
    assert_eq!(row("network_flow")[1], "-", "{out}");
    assert!(
        out.contains("kql-defender refuses dns_query: Defender XDR has no DNS table"),
        "{out}"
    );
    let (code, out, _) = detc(&["targets", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let arr = v["profiles"].as_array().unwrap();
    assert_eq!(arr.len(), detc::registry::PROFILES.len());
    assert_eq!(
        arr[0]["sources"]["network_connection"]["table"],
        "DeviceNetworkEvents"
    );
    let m = &v["matrix"];
    assert_eq!(m["dns_query"]["kql-sentinel"]["table"], "_Im_Dns");
    assert!(m["dns_query"]["kql-defender"]["refused"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Defender XDR has no DNS table"));
    assert!(m["network_flow"]["kql-defender"].is_null());
    assert_eq!(
        m.as_object().map(|o| o.len()),
        Some(detc::ir::catalogue::SOURCES.len())
    );
}

#[test]
fn compile_cli_usage_errors_and_an_empty_pack() {
    let dir = tmp("cli");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let out = dir.join("out");
    let (code, _, err) = detc(&[
        "compile",
        rules.to_str().unwrap(),
        "--target",
        "kql-defendr",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean `kql-defender`"), "{err}");
    let (code, _, err) = detc(&[
        "compile",
        rules.to_str().unwrap(),
        "--target",
        "all",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out_json, _) = detc(&[
        "compile",
        rules.to_str().unwrap(),
        "--target",
        "all",
        "--out",
        out.to_str().unwrap(),
        "--check",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out_json).unwrap();
    assert_eq!(v["drift"].as_array().map(Vec::len), Some(0));
    // a stale file in a target folder is drift
    std::fs::create_dir_all(out.join("sigma")).unwrap();
    std::fs::write(out.join("sigma/stale.yml"), "x\n").unwrap();
    let (code, stdout, _) = detc(&[
        "compile",
        rules.to_str().unwrap(),
        "--target",
        "all",
        "--out",
        out.to_str().unwrap(),
        "--check",
    ]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("drift (extra): sigma/stale.yml"),
        "{stdout}"
    );
    let (code, _, _) = detc(&[
        "compile",
        "/nonexistent/rules",
        "--target",
        "all",
        "--out",
        "x",
    ]);
    assert_eq!(code, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compile_the_pack_from_rules_writes_checks_and_explains() {
    let dir = tmp("pack");
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    let (code, _, err) = detc(&["compile", "rules", "--target", "all", "--out", o]);
    assert_eq!(code, 0, "{err}");
    for f in [
        "kql-defender/an0379_mail_protocol_unexpected_process.kql",
        "kql-sentinel/an0382_external_mail_volume.kql",
        "sigma/net_connection_win_an0379_mail_protocol_unexpected_process.yml",
        "spl-sysmon/an0379_scripting_host_mail.spl",
        "spl-cim/an0382_external_mail_volume.spl",
        "kql-defender/t1071_003_defender_mail_ports.kql",
    ] {
        assert!(out.join(f).is_file(), "{f} not written; {err}");
    }
    // Each pair a target cannot express is one line of a table at the end (rule, target, the
    // refusal's code and reason), not a full W0900 diagnostic with a source excerpt each.
    assert!(!err.contains("warning[W0900]"), "{err}");
    let table = &err[err.find("not emitted:").expect(&err)..];
    let line = table
        .lines()
        .find(|l| l.contains("t1071_003_defender_mail_ports") && l.contains("spl-sysmon"))
        .expect(table);
    assert!(
        line.contains("E0902") && line.contains("does not record whether the connection succeeded"),
        "{line}"
    );
    // A pair the rule's `targets` clause leaves out (a flow rule has no Defender table) is
    // not listed at all.
    assert!(
        !table
            .lines()
            .any(|l| l.contains("an0382_external_mail_volume")),
        "{table}"
    );
    // Other warnings are still shown in full.
    assert!(err.contains("warning[W0903]"), "{err}");
    // As data: `skipped` in JSON, one object per pair.
    let (_, json, _) = detc(&[
        "compile", "rules", "--target", "all", "--out", o, "--format", "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let skipped = doc["skipped"].as_array().expect(&json);
    assert!(skipped
        .iter()
        .any(|s| s["rule"] == "t1071_003_defender_mail_ports"
            && s["target"] == "spl-sysmon"
            && s["code"] == "E0902"
            && s["reason"].as_str().unwrap().contains("outcome")));
    assert_eq!(
        skipped.len(),
        table
            .lines()
            .skip(2)
            .filter(|l| l.starts_with("  "))
            .count(),
        "{table}"
    );
    let (code, stdout, _) = detc(&["compile", "rules", "--target", "all", "--out", o, "--check"]);
    assert_eq!(code, 0, "{stdout}");
    // An explicit target that cannot express a rule is an error, and nothing is written.
    let out2 = dir.join("out2");
    let (code, _, err) = detc(&[
        "compile",
        "rules",
        "--target",
        "sigma",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("error[E0910]"), "{err}");
    assert!(!out2.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sysmon_source_destination_swap_is_exact_per_predicate_and_warned_for_group_keys() {
    use detc::ir::{Expr, FieldRef};
    let sigma = targets::profile("sigma").unwrap();
    // AN0379 filters on direction == outbound: Destination* is always the remote side.
    let e = targets::compile_rule(&rules::an0379(), &sigma).unwrap();
    assert!(!e.text.contains("Initiated: 'false'"), "{}", e.text);
    assert!(e.warnings.iter().all(|w| w.code != "W0905"));
    // Without it, predicates read Source* on inbound events, and a remote.ip group key warns.
    let mut r = rules::an0379();
    if let Expr::And(v) = &mut r.filter {
        v.remove(0);
    }
    if let Some(a) = &mut r.aggregation {
        a.group_by.push(FieldRef::Field("remote.ip".into()));
    }
    let e = targets::compile_rule(&r, &sigma).unwrap();
    assert!(e.text.contains("SourcePort|gte:"), "{}", e.text);
    assert!(e.text.contains("Initiated: 'false'"), "{}", e.text);
    assert!(
        e.warnings
            .iter()
            .any(|w| w.code == "W0905" && w.message.contains("remote.ip")),
        "{:?}",
        e.warnings
    );
    // spl-sysmon reads the swapped columns through eval: exact, no warning.
    let e = targets::compile_rule(&r, &targets::profile("spl-sysmon").unwrap()).unwrap();
    assert!(e
        .text
        .contains("eval remote_ip=if(Initiated==\"false\", SourceIp, DestinationIp)"));
    assert!(e.warnings.iter().all(|w| w.code != "W0905"));
}

#[test]
fn sigma_correlations_ids_types_and_refusals() {
    use detc::ir::{AggFunc, CmpOp, Expr, FieldType};
    let sigma = targets::profile("sigma").unwrap();
    let rule = rules::an0382();
    let e = targets::compile_rule(&rule, &sigma).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&e.text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["id"].as_str(), Some(rule.id.as_str()));
    let corr_id = targets::uuid::uuid5(&rule.id, "sigma-correlation").unwrap();
    assert_eq!(docs[1]["id"].as_str(), Some(corr_id.as_str()));
    let c = &docs[1]["correlation"];
    assert_eq!(c["type"].as_str(), Some("value_sum"));
    assert_eq!(c["rules"][0].as_str(), docs[0]["name"].as_str());
    assert_eq!(c["condition"]["field"].as_str(), Some("orig_bytes"));
    assert_eq!(c["condition"]["gt"].as_i64(), Some(50_000_000)); // the pack's `50MB`
    assert_eq!(c["timespan"].as_str(), Some("1h"));
    assert!(e.warnings.iter().any(|w| w.code == "W0901"));

    // A having on two aggregates, or on a min/max, cannot be a Sigma correlation: E0904.
    let mut two = rules::an0382();
    if let Some(a) = &mut two.aggregation {
        a.having = Some(Expr::And(vec![
            rules::having("sent", CmpOp::Gt, 1),
            rules::having("connections", CmpOp::Gt, 1),
        ]));
    }
    let err = targets::compile_rule(&two, &sigma).unwrap_err();
    assert!(err.iter().any(|d| d.code == "E0904"
        && d.message.contains("`sigma`")
        && d.message.contains("an0382")));
    let mut min = rules::an0382();
    if let Some(a) = &mut min.aggregation {
        a.aggregates.push(rules::agg(
            "smallest",
            AggFunc::Min(rules::f("bytes.sent")),
            FieldType::Bytes,
        ));
        a.having = Some(rules::having("smallest", CmpOp::Gt, 1));
    }
    let err = targets::compile_rule(&min, &sigma).unwrap_err();
    assert!(err
        .iter()
        .any(|d| d.code == "E0904" && d.message.contains("smallest")));
    // ...while KQL and SPL express both.
    for t in ["kql-sentinel", "spl-cim"] {
        let p = targets::profile(t).unwrap();
        assert!(targets::compile_rule(&two, &p).is_ok(), "{t}");
        assert!(targets::compile_rule(&min, &p).is_ok(), "{t}");
    }
}

#[test]
fn sigma_rewrites_a_condition_on_a_computed_field_over_its_inputs() {
    use detc::ir::{Case, Expr, Op, Value};
    let mut r = rules::scripting_host_mail();
    // The pack's AN0379 `protocol`: SMTP, POP3, else IMAP.
    r.lets = rules::an0379().lets;
    if let Expr::And(v) = &mut r.filter {
        v.push(rules::computed(
            "protocol",
            Op::Eq {
                value: Value::Str("POP3".into()),
                case: Case::Sensitive,
            },
        ));
    }
    let e = targets::compile_rule(&r, &targets::profile("sigma").unwrap()).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&e.text).unwrap();
    let det = &doc["detection"];
    let cond = det["condition"].as_str().unwrap();
    // POP3 is the second arm: port in [110, 995] and not port in [25, 465, 587, 2525]
    let find = |ports: &[i64]| {
        det.as_mapping()
            .unwrap()
            .iter()
            .find(|(_, v)| {
                // An integer set is one `{F|gte: n, F|lte: n}` map per value (so pySigma's
                // kusto backend compares numbers: docs/TARGETS.md).
                v.as_sequence().is_some_and(|s| {
                    s.iter()
                        .map(|m| {
                            let (lo, hi) = (&m["DestinationPort|gte"], &m["DestinationPort|lte"]);
                            lo.as_i64().filter(|n| hi.as_i64() == Some(*n))
                        })
                        .collect::<Option<Vec<_>>>()
                        .is_some_and(|v| v == ports)
                })
            })
            .map(|(k, _)| k.as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no selection for {ports:?}: {}", e.text))
    };
    let pop = find(&[110, 995]);
    let smtp = find(&[25, 465, 587, 2525]);
    assert!(cond.contains(&format!("{pop} and not {smtp}")), "{cond}");
    // W0902 says the computed value itself is not reported
    assert!(e.warnings.iter().any(|w| w.code == "W0902"));
}

/// Issue 9, item 6: `compile --out` never follows a symbolic link out of the output folder. A
/// symlinked output file or target folder is refused (exit 2, path named) when writing and when
/// checking, the file it points to is neither written nor shown.
#[cfg(unix)]
#[test]
fn compile_refuses_symlinks_in_the_output_folder() {
    use std::os::unix::fs::symlink;
    let dir = tmp("symlinks");
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    let (code, _, err) = detc(&["compile", "rules", "--target", "all", "--out", o]);
    assert_eq!(code, 0, "{err}");

    // An output file that is a link to a file outside the output folder.
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "SECRET-CONTENT\n").unwrap();
    let victim = out.join("kql-defender/an0379_scripting_host_mail.kql");
    std::fs::remove_file(&victim).unwrap();
    symlink(&secret, &victim).unwrap();
    for extra in [&["--check"][..], &[][..], &["--format", "json"][..]] {
        let mut args = vec!["compile", "rules", "--target", "all", "--out", o];
        args.extend_from_slice(extra);
        let (code, stdout, err) = detc(&args);
        assert_eq!(code, 2, "{extra:?}: {stdout}{err}");
        let all = format!("{stdout}{err}");
        assert!(all.contains("E0004"), "{extra:?}: {all}");
        assert!(
            all.contains("kql-defender/an0379_scripting_host_mail.kql"),
            "{extra:?}: the path is named: {all}"
        );
        assert!(!all.contains("SECRET-CONTENT"), "{extra:?}: {all}");
        assert_eq!(
            std::fs::read_to_string(&secret).unwrap(),
            "SECRET-CONTENT\n",
            "{extra:?}: the linked file was overwritten"
        );
    }
    std::fs::remove_file(&victim).unwrap();

    // A target folder that is a link to a folder outside the output folder.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        elsewhere.join("net_connection_win_an0379_scripting_host_mail.yml"),
        "SECRET-CONTENT\n",
    )
    .unwrap();
    std::fs::remove_dir_all(out.join("sigma")).unwrap();
    symlink(&elsewhere, out.join("sigma")).unwrap();
    for extra in [&["--check"][..], &[][..]] {
        let mut args = vec!["compile", "rules", "--target", "all", "--out", o];
        args.extend_from_slice(extra);
        let (code, stdout, err) = detc(&args);
        assert_eq!(code, 2, "{extra:?}: {stdout}{err}");
        assert!(
            err.contains("E0004") && err.contains("sigma"),
            "{extra:?}: {err}"
        );
        assert!(
            !stdout.contains("SECRET") && !err.contains("SECRET"),
            "{stdout}{err}"
        );
        let names: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().flatten().collect();
        assert_eq!(
            names.len(),
            1,
            "{extra:?}: something was written through the link"
        );
    }
    std::fs::remove_file(out.join("sigma")).unwrap();

    // A hard link is not refused (it is a regular file) but is replaced, not written through:
    // the other name keeps its content.
    let shared = dir.join("shared.txt");
    std::fs::write(&shared, "SHARED-CONTENT\n").unwrap();
    std::fs::hard_link(&shared, &victim).unwrap();
    let (code, _, err) = detc(&["compile", "rules", "--target", "all", "--out", o]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&shared).unwrap(),
        "SHARED-CONTENT\n"
    );
    assert!(std::fs::read_to_string(&victim)
        .unwrap()
        .contains("DeviceNetworkEvents"));

    // A single target is refused too when its folder is the link.
    std::fs::remove_dir_all(out.join("kql-sentinel")).unwrap();
    symlink(&elsewhere, out.join("kql-sentinel")).unwrap();
    // (Rules kql-sentinel can express: with one target, a rule it cannot is an error first.)
    let (code, _, err) = detc(&[
        "compile",
        "rules/lists.detc",
        "rules/an0382_smtp_fanout.detc",
        "--target",
        "kql-sentinel",
        "--out",
        o,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("kql-sentinel") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 11, item 5: `--check` never reads a committed query it cannot read as an empty file (a
/// drift with a wrong diff); it is E0001 naming the file, exit status 2.
#[test]
fn check_reports_a_committed_query_it_cannot_read() {
    let dir = tmp("unreadable");
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    let (code, _, err) = detc(&["compile", "rules", "--target", "all", "--out", o]);
    assert_eq!(code, 0, "{err}");
    let bad = out.join("kql-defender/an0379_scripting_host_mail.kql");
    std::fs::write(&bad, b"DeviceNetworkEvents \xff\xfe\n").unwrap();
    let (code, stdout, err) = detc(&["compile", "rules", "--target", "all", "--out", o, "--check"]);
    let all = format!("{stdout}{err}");
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("E0001"), "{all}");
    assert!(
        all.contains("kql-defender/an0379_scripting_host_mail.kql"),
        "the file is named: {all}"
    );
}

#[test]
fn a_targets_clause_leaves_pairs_out_silently_and_names_must_exist() {
    let dir = tmp("targets");
    let rule = |clause: &str| {
        format!(
            "rule r {{\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d49\"\n  title \"t\"\n  severity low\n  \
             attack T1071.003\n  source network_flow\n  {clause}\n  where dst.port == 25\n  group by src.ip\n  \
             window 1h\n  aggregate n = count()\n  having n > 3\n}}\n"
        )
    };
    let f = dir.join("r.detc");
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    // Without the clause: Defender and Sysmon have no flow table, two lines of the table.
    std::fs::write(&f, rule("")).unwrap();
    let (code, _, err) = detc(&[
        "compile",
        f.to_str().unwrap(),
        "--target",
        "all",
        "--out",
        o,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not emitted: 2 rule/target pair(s)"), "{err}");
    // For two targets only: the others are neither written nor listed.
    let _ = std::fs::remove_dir_all(&out);
    std::fs::write(&f, rule("targets [kql-sentinel, spl-cim]")).unwrap();
    let (code, _, err) = detc(&[
        "compile",
        f.to_str().unwrap(),
        "--target",
        "all",
        "--out",
        o,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("not emitted") && !err.contains("W0900"),
        "{err}"
    );
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    // (deploy/ holds the rule's Sentinel analytic rule, navigator/ the layers of `all`.)
    assert_eq!(written, ["deploy", "kql-sentinel", "navigator", "spl-cim"]);
    // Every target has its Navigator layer; on those the rule is not for, the technique scores 0.
    for (layer, covered) in [
        ("kql-defender", false),
        ("kql-sentinel", true),
        ("sigma", false),
        ("spl-cim", true),
        ("spl-sysmon", false),
        ("pack", true),
    ] {
        let text = std::fs::read_to_string(out.join(format!("navigator/{layer}.json"))).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let score = doc["techniques"][0]["score"].as_u64().unwrap();
        assert_eq!(score > 0, covered, "{layer}: {text}");
    }
    // `not`: every target but those.
    let _ = std::fs::remove_dir_all(&out);
    std::fs::write(&f, rule("targets not [kql-defender, spl-sysmon, sigma]")).unwrap();
    let (code, _, err) = detc(&[
        "compile",
        f.to_str().unwrap(),
        "--target",
        "all",
        "--out",
        o,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("not emitted"), "{err}");
    assert!(out.join("kql-sentinel/r.kql").is_file() && !out.join("sigma").exists());
    // An unknown name is an error with the nearest one, never a silently dropped target.
    std::fs::write(&f, rule("targets not [kql-defendr]")).unwrap();
    let (code, _, err) = detc(&["check", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("r.detc:7:16: error[E0906]: unknown target `kql-defendr`")
            && err.contains("did you mean `kql-defender`?"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
