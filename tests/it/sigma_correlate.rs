//! `correlate` lowered to Sigma `temporal` / `temporal_ordered` correlation rules (issue 12
//! point 4): the emitted documents, the refusals, and the differential against rsigma-eval
//! 0.23 over the exact YAML detc writes, on boundary events.
//!
//! How alerts are compared. The evaluator raises one alert per event that is the latest of a
//! match (ordered: a last-step event), carrying the keys and `last_seen` (that event's time).
//! rsigma-eval reports a correlation result each time it is fed an event of a referenced rule
//! after which every referenced rule has a hit (ordered: hits in order) within
//! `[t - timespan, t]`, with the group-by values and that event's time `t` (and is fed an event
//! once per base rule it matches). Both are reduced to the set of (host, process id, time):
//! - unordered: the two sets are equal;
//! - ordered: every evaluator alert is an rsigma result; every rsigma result at an event of
//!   the last step is an evaluator alert; and each other rsigma result (rsigma also alerts on a
//!   later first-step event while a completed match is still within the timespan: W0908) comes
//!   at most one timespan after an evaluator alert of the same keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::{oracle, rsigma};
use detc::eval::run::{run_files, RunOptions};
use detc::ir::{Pack, Rule, Value};
use serde_json::{json, Value as J};
use std::collections::BTreeSet;

fn pack() -> Pack {
    crate::support::rules::correlations()
}

fn rule<'p>(p: &'p Pack, name: &str) -> &'p Rule {
    p.rules.iter().find(|r| r.name == name).expect(name)
}

fn sigma(r: &Rule) -> detc::targets::Emitted {
    let profile = detc::targets::profile("sigma").expect("sigma profile");
    detc::targets::compile_rule(r, &profile).unwrap_or_else(|d| panic!("{}: {d:#?}", r.name))
}

const T0: &str = "2026-11-20T10:00:00Z";

/// One Sysmon event: a PowerShell start (`start`) or its SMTP connection, on `host`, with
/// `pid` (`None`: no ProcessId at all; `Some("")`: empty), `t` seconds after 10:00:00.
#[derive(Clone, Copy)]
struct Ev {
    start: bool,
    host: &'static str,
    pid: Option<&'static str>,
    t: i64,
}

fn s(t: i64) -> Ev {
    Ev {
        start: true,
        host: "WS01",
        pid: Some("4242"),
        t,
    }
}

fn c(t: i64) -> Ev {
    Ev {
        start: false,
        ..s(t)
    }
}

fn epoch(t: i64) -> i64 {
    detc::ir::time::parse_civil(T0).expect("T0") + t
}

/// The Sysmon JSON of `e` (what the evaluator reads), and the same with the logsource fields
/// and the epoch time rsigma reads.
fn sysmon(e: &Ev) -> (J, J) {
    let time = detc::eval::time::format(epoch(e.t));
    let utc = time.trim_end_matches('Z').replace('T', " ");
    let mut m = json!({
        "EventID": if e.start { 1 } else { 3 },
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "UtcTime": format!("{utc}.000"),
        "Computer": e.host,
        "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    });
    if let Some(p) = e.pid {
        m["ProcessId"] = json!(p);
    }
    if e.start {
        m["CommandLine"] = json!("powershell.exe -c x");
    } else {
        for (k, v) in [
            ("Initiated", "true"),
            ("Protocol", "tcp"),
            ("SourceIp", "10.0.0.5"),
            ("SourcePort", "50123"),
            ("DestinationIp", "203.0.113.7"),
            ("DestinationPort", "587"),
        ] {
            m[k] = json!(v);
        }
    }
    let mut r = m.clone();
    r["category"] = json!(if e.start {
        "process_creation"
    } else {
        "network_connection"
    });
    r["product"] = json!("windows");
    r["ts"] = json!(epoch(e.t));
    (m, r)
}

type Hit = (String, String, i64);

fn value_text(v: &Value) -> String {
    match v {
        Value::Str(x) | Value::Enum(x) => x.clone(),
        Value::Int(n) | Value::Timestamp(n) => n.to_string(),
        Value::Ip(a) => a.to_string(),
    }
}

/// The evaluator's alerts of `r` over `events` (given in this order), as (host, pid, last_seen).
fn evaluator(r: &Rule, events: &[Ev], tag: &str) -> Vec<Hit> {
    let dir = std::env::temp_dir().join(format!("detc-sigcorr-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("sysmon.jsonl");
    let lines: Vec<String> = events.iter().map(|e| sysmon(e).0.to_string()).collect();
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let opts = RunOptions {
        threads: 1,
        ..RunOptions::default()
    };
    let out = run_files(std::slice::from_ref(r), &[f], &opts).expect("run");
    std::fs::remove_dir_all(&dir).ok();
    out.alerts
        .iter()
        .map(|a| {
            let last = match a.aggregates.get("last_seen") {
                Some(Value::Timestamp(t)) => *t,
                o => panic!("last_seen {o:?}"),
            };
            (
                value_text(&a.group["host"]),
                value_text(&a.group["process.id"]),
                last,
            )
        })
        .collect()
}

/// rsigma's correlation results over `yaml`, as (host, pid, time), each with whether its event
/// matched the last step's base rule.
fn rsigma_hits(yaml: &str, events: &[Ev], last_base: &str) -> Vec<(Hit, bool)> {
    let evs: Vec<J> = events.iter().map(|e| sysmon(e).1).collect();
    let out = rsigma::rsigma_eval_routed(yaml, &evs, "ts", rsigma::Window::AsWritten, true)
        .expect("rsigma-eval reads the emitted YAML");
    let last_step: BTreeSet<usize> = out
        .detections
        .iter()
        .filter(|d| {
            d.rule_title
                .ends_with(&format!("(base events: {last_base})"))
        })
        .map(|d| d.event_index)
        .collect();
    out.correlations
        .iter()
        .map(|h| {
            let get = |f: &str| {
                h.group
                    .iter()
                    .find(|(k, _)| k == f)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (
                (get("Computer"), get("ProcessId"), h.time),
                last_step.contains(&h.event_index),
            )
        })
        .collect()
}

/// The boundary cases: name, events in input order, whether the ordered and the unordered
/// rule alert at all (so that no case passes by both engines raising nothing).
fn cases() -> Vec<(&'static str, Vec<Ev>, bool, bool)> {
    let other_pid = |mut e: Ev| {
        e.pid = Some("4243");
        e
    };
    let host = |mut e: Ev, h: &'static str| {
        e.host = h;
        e
    };
    let no_pid = |mut e: Ev| {
        e.pid = None;
        e
    };
    let empty_pid = |mut e: Ev| {
        e.pid = Some("");
        e
    };
    vec![
        ("exactly at the window", vec![s(0), c(60)], true, true),
        ("one second past", vec![s(0), c(61)], false, false),
        ("reversed, within", vec![c(0), s(30)], false, true),
        ("reversed, at the edge", vec![c(0), s(60)], false, true),
        ("reversed, one past", vec![c(0), s(61)], false, false),
        ("input out of time order", vec![c(60), s(0)], true, true),
        ("equal times, step order", vec![s(10), c(10)], true, true),
        ("equal times, reversed", vec![c(10), s(10)], true, true),
        (
            "missing key",
            vec![no_pid(s(0)), no_pid(c(5))],
            false,
            false,
        ),
        (
            "empty key",
            vec![empty_pid(s(0)), empty_pid(c(5))],
            false,
            false,
        ),
        ("another key", vec![s(0), other_pid(c(5))], false, false),
        (
            "key differing by case",
            vec![s(0), host(c(5), "ws01")],
            false,
            false,
        ),
        ("three: two starts", vec![s(0), s(20), c(70)], true, true),
        (
            "three: two connections",
            vec![s(0), c(30), c(61)],
            true,
            true,
        ),
        ("three: start after", vec![s(0), c(10), s(20)], true, true),
        (
            "three: connections first",
            vec![c(0), c(30), s(45)],
            false,
            true,
        ),
        (
            "interleaved keys",
            vec![
                s(0),
                other_pid(s(5)),
                host(s(6), "WS02"),
                c(60),
                other_pid(c(66)),
                host(c(70), "WS02"),
            ],
            true,
            true,
        ),
    ]
}

#[test]
fn correlations_alert_alike_on_the_evaluator_and_rsigma_at_the_edges() {
    let p = pack();
    let mut failures = Vec::new();
    // The AN0379 rule (ordered; steps over mail-client lists) meets the same cases: PowerShell
    // is no mail client, 587 is one of its ports.
    for (name, ordered) in [
        ("corr_ordered", true),
        ("corr_unordered", false),
        ("an0379_process_start_then_mail_port", true),
    ] {
        let r = rule(&p, name);
        let yaml = sigma(r).text;
        let last_base = format!("{name}__conn");
        for (case, events, alerts_ordered, alerts_unordered) in cases() {
            let tag = format!("{name}-{}", case.replace([' ', ',', ':'], "_"));
            let e: BTreeSet<Hit> = evaluator(r, &events, &tag).into_iter().collect();
            let hits = rsigma_hits(&yaml, &events, &last_base);
            let all: BTreeSet<Hit> = hits.iter().map(|(h, _)| h.clone()).collect();
            let expected = if ordered {
                alerts_ordered
            } else {
                alerts_unordered
            };
            let ok = if !ordered {
                e == all
            } else {
                let last: BTreeSet<Hit> = hits
                    .iter()
                    .filter(|(_, l)| *l)
                    .map(|(h, _)| h.clone())
                    .collect();
                let window = r.correlation.as_ref().unwrap().window as i64;
                e.is_subset(&all)
                    && last.is_subset(&e)
                    && all.difference(&e).all(|(h, pid, t)| {
                        e.iter().any(|(h2, p2, t2)| {
                            h2 == h && p2 == pid && *t2 <= *t && t - t2 <= window
                        })
                    })
            };
            if !ok || e.is_empty() == expected {
                failures.push(format!(
                    "{name} / {case}: evaluator {e:?}, rsigma {hits:?} (expected alerts: {expected})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_correlation_is_one_base_rule_per_step_and_a_temporal_correlation() {
    let p = pack();
    for (name, ty) in [
        ("corr_ordered", "temporal_ordered"),
        ("corr_unordered", "temporal"),
    ] {
        let r = rule(&p, name);
        let out = sigma(r);
        assert!(
            out.warnings.iter().any(|w| w.code == "W0908"),
            "{:#?}",
            out.warnings
        );
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&out.text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 3, "{}", out.text);
        let names: Vec<&str> = docs[..2]
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, [format!("{name}__start"), format!("{name}__conn")]);
        assert_eq!(docs[0]["logsource"]["category"], "process_creation");
        assert_eq!(docs[1]["logsource"]["category"], "network_connection");
        let corr = &docs[2]["correlation"];
        assert_eq!(docs[2]["id"].as_str(), Some(r.id.as_str()));
        assert_eq!(corr["type"], ty);
        assert_eq!(corr["rules"][0], names[0]);
        assert_eq!(corr["rules"][1], names[1]);
        assert_eq!(corr["group-by"][0], "Computer");
        assert_eq!(corr["group-by"][1], "ProcessId");
        assert_eq!(corr["timespan"], "1m");
        assert_eq!(corr["condition"]["gte"], 2);
        // Base rule ids are derived from the rule id and the step name: stable, distinct.
        assert_ne!(docs[0]["id"], docs[1]["id"]);
        assert_eq!(sigma(r).text, out.text);
    }
}

#[test]
fn a_key_sigma_cannot_group_by_is_refused_by_name() {
    let text = r#"rule keyed_by_name {
  id "2f9e1c3a-5b7d-4e6f-8a1b-3c5d7e9f1a2b"
  title "t"
  severity low
  correlate within 1m by host, process.name {
    a: process_creation where process.id == 1
    b: network_connection where remote.port == 25
  }
}
rule keyed_by_local_ip {
  id "3a0f2d4b-6c8e-4f7a-9b2c-4d6e8f0a2b3c"
  title "t"
  severity low
  correlate within 1m by local.ip {
    a: network_connection where remote.port == 25
    b: network_connection where remote.port == 587
  }
}
"#;
    let p = load_text(text, "key");
    let profile = detc::targets::profile("sigma").unwrap();
    for (name, key) in [
        ("keyed_by_name", "process.name"),
        ("keyed_by_local_ip", "local.ip"),
    ] {
        let errs = detc::targets::compile_rule(rule(&p, name), &profile).expect_err(name);
        assert!(
            errs.iter().any(|d| d.code == "E0920"
                && d.message.contains(&format!("rule `{name}`"))
                && d.message.contains(&format!("`{key}`"))),
            "{errs:#?}"
        );
    }
    // With the direction fixed in each step, the local address is one column (SourceIp).
    let fixed = text.replace(
        "where remote.port",
        "where direction == outbound and remote.port",
    );
    let p = load_text(&fixed, "key-fixed");
    let out = sigma(rule(&p, "keyed_by_local_ip"));
    assert!(
        out.text.contains("group-by:\n  - 'SourceIp'"),
        "{}",
        out.text
    );
}

fn load_text(text: &str, tag: &str) -> Pack {
    let dir = std::env::temp_dir().join(format!("detc-sigcorr-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r.detc"), text).unwrap();
    let files = detc::load::load_sources(std::slice::from_ref(&dir)).unwrap();
    let fe = detc::frontend(&files);
    std::fs::remove_dir_all(&dir).ok();
    fe.pack.unwrap_or_else(|| panic!("{:#?}", fe.diagnostics))
}

/// pySigma reads what detc writes: `sigma check` (every validator but D3FEND's) passes the
/// emitted correlations, base rules of different logsources included; pySigma's Splunk backend
/// converts the `temporal` one, counting in fixed buckets of the timespan (`bin _time span=`,
/// what W0908 warns of), and refuses `temporal_ordered` by name rather than dropping the order.
#[test]
fn pysigma_checks_and_converts_the_emitted_correlations() {
    let p = pack();
    let dir = std::env::temp_dir().join(format!("detc-sigcorr-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for r in &p.rules {
        let out = sigma(r);
        std::fs::write(dir.join(&out.file_name), &out.text).unwrap();
    }
    let check = oracle::sigma_check(&dir).expect("sigma oracle");
    let conv = oracle::sigma_convert(&dir, oracle::SigmaBackend::SplunkWindows)
        .expect("pySigma splunk oracle");
    std::fs::remove_dir_all(&dir).ok();
    assert!(check.passed, "{}", check.output);
    let corr = |file: &str| {
        conv.iter()
            .find(|c| c.file == file && c.kind == "correlation")
            .unwrap_or_else(|| panic!("{file}: {conv:#?}"))
    };
    let unordered = corr("corr_unordered.yml");
    assert!(unordered.error.is_none(), "{unordered:#?}");
    let q = &unordered.queries[0];
    assert!(
        q.contains("| bin _time span=1m\n")
            && q.contains("by _time Computer ProcessId")
            && q.contains("event_type=\"corr_unordered__start\"")
            && q.contains("event_type=\"corr_unordered__conn\"")
            && q.contains("event_type_count >= 2"),
        "{q}"
    );
    let ordered = corr("corr_ordered.yml");
    assert!(
        ordered
            .error
            .as_deref()
            .is_some_and(|e| e.contains("temporal_ordered") && e.contains("not supported")),
        "{ordered:#?}"
    );
    // Every base rule converts on its own.
    let rules = conv.iter().filter(|c| c.kind == "rule").count();
    assert_eq!(rules, 2 * p.rules.len(), "{conv:#?}");
    assert!(conv
        .iter()
        .filter(|c| c.kind == "rule")
        .all(|c| c.error.is_none()));
}

/// A SIEM artefact of a correlation is never the placeholder filter a correlation rule carries
/// (`where false`: a scheduled rule that can never fire). The deployed KQL queries are built
/// beside `compile_rule`, so they must refuse a correlation as the bare query does (E0915).
#[test]
fn no_deployed_artefact_of_a_correlation_is_an_always_false_query() {
    let p = pack();
    let profiles = detc::targets::load_profiles().expect("profiles");
    let d = detc::targets::deploy::compile_pack(&p, &profiles);
    let wrong: Vec<String> = d
        .outputs
        .iter()
        .filter(|o| p.rules.iter().any(|r| r.name == o.rule))
        .map(|o| format!("{}/{}", o.target, o.file_name))
        .collect();
    assert!(wrong.is_empty(), "deployed a correlation: {wrong:?}");
}

/// The Linux correlation (tests/data/correlation_linux) lowered from Sigma's `product: linux`
/// entries, run by rsigma-eval over its own tests' events (Sysmon for Linux EventID 1): the
/// test that alerts gives a result at the mail tool's start with the shell's host and parent
/// id, the test that does not gives none (another shell; one second past the minute).
#[test]
fn a_linux_correlation_alerts_alike_on_rsigma() {
    let files =
        detc::load::load_sources(&[oracle::repo_root().join("tests/data/correlation_linux")])
            .expect("loads");
    let pack = detc::frontend(&files).pack.expect("checks");
    let r = &pack.rules[0];
    let yaml = sigma(r).text;
    let mut alerting = 0;
    for t in &r.tests {
        let detc::ir::TestEvents::Inline(objs) = &t.events else {
            panic!("inline events")
        };
        let evs: Vec<J> = objs
            .iter()
            .map(|o| {
                let mut e = J::Object(o.clone());
                let utc = e["UtcTime"].as_str().unwrap().replace(' ', "T");
                e["ts"] = json!(format!("{}Z", &utc[..19]));
                e["category"] = json!("process_creation");
                e["product"] = json!("linux");
                e
            })
            .collect();
        let out = rsigma::rsigma_eval_routed(&yaml, &evs, "ts", rsigma::Window::AsWritten, true)
            .expect("rsigma-eval reads the emitted YAML");
        let got: BTreeSet<(String, String, i64)> = out
            .correlations
            .iter()
            .map(|h| {
                let get = |f: &str| {
                    h.group
                        .iter()
                        .find(|(k, _)| k == f)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                (get("Computer"), get("ParentProcessId"), h.time)
            })
            .collect();
        let want: BTreeSet<(String, String, i64)> = match t.expect.count {
            Some(0) => BTreeSet::new(),
            _ => {
                alerting += 1;
                let t1 = detc::ir::time::parse_civil("2026-11-20T10:01:00Z").unwrap();
                [("web01".to_string(), "800".to_string(), t1)].into()
            }
        };
        assert_eq!(got, want, "{}: {yaml}", t.name);
    }
    assert_eq!(alerting, 1);
}
