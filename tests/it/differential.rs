//! Proof of meaning: for every rule of rules/ and every fixture (the rule's own tests, the real
//! third-party files in rules/fixtures/realdata/ that fit its source, and boundary events generated
//! from its IR), the alerts of the native evaluator must equal the alerts of every emitted query
//! run on an independent engine:
//!
//! | target | engine | independent? |
//! |---|---|---|
//! | kql-defender, kql-sentinel | duckdb-kql 1.1.2 (PyPI) over DuckDB, running the emitted text exactly as written | yes, except what duckdb-kql lacks: `ipv4_is_in_range`, `ipv4_is_private`, `ipv6_is_in_range` and `bin_at` (oracles/duckdb/prelude.kql, KQL `let` functions), `ipv4_is_in_any_range`, `ipv6_is_in_any_range`, `has_any_ipv4_prefix` (oracles/duckdb/kusto_ip.py, UDFs over Python's `ipaddress`) and the ASIM parser `_Im_NetworkSession` with its filtering parameters (oracles/duckdb/asim.py), all ours, written from the Kusto and Sentinel references, each tested against its documented examples in tests/it/engines.rs |
//! | sigma | rsigma-eval 0.23 (crates.io), correlations in its epoch-aligned tumbling mode | yes |
//! | spl-sysmon, spl-cim | tests/it/support/spl_model.rs: a MODEL of SPL written from Splunk's docs | a model, not Splunk |
//!
//! Events reach every engine as rows of its own table, projected from the same abstract events
//! (tests/it/support/projection.rs, written from vendor docs, not from the profiles). Alerts are
//! normalised to (window start in UTC seconds, the group-key values, the value of the aggregate the
//! `having` tests) for aggregating rules, and to the ids of the matching events otherwise.
//!
//! Run: `cargo test --test it -- differential:: --nocapture` prints the report table (README).

use crate::support::boundary;
use crate::support::oracle;
use crate::support::projection;
use crate::support::rsigma;
use crate::support::spl_model;

use detc::eval::Event;
use detc::ir::{Expr, FieldRef, Rule, TestEvents, Value};
use projection::{Family, Row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One normalised alert, as text so that a diff reads well.
type Norm = String;

fn parse_ts(s: &str) -> Option<i64> {
    detc::eval::time::parse(s).ok()
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Enum(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Ip(ip) => ip.to_string(),
        Value::Timestamp(t) => t.to_string(),
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => (f as i64).to_string(),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The aggregate the rule's `having` tests (the one every engine computes).
fn having_aggregate(rule: &Rule) -> Option<String> {
    fn first(e: &Expr) -> Option<String> {
        match e {
            Expr::And(xs) | Expr::Or(xs) => xs.iter().find_map(first),
            Expr::Not(x) => first(x),
            Expr::Pred(p) => match &p.field {
                FieldRef::Aggregate(n) => Some(n.clone()),
                _ => None,
            },
            Expr::Compare(c) => c.refs().iter().find_map(|r| match r {
                FieldRef::Aggregate(n) => Some(n.clone()),
                _ => None,
            }),
        }
    }
    rule.aggregation.as_ref()?.having.as_ref().and_then(first)
}

fn aggregate_names(rule: &Rule) -> Vec<&str> {
    rule.aggregation
        .iter()
        .flat_map(|a| a.aggregates.iter().map(|x| x.name.as_str()))
        .collect()
}

/// An integer aggregate value as the double it rounds to: SPL's `stats sum` is floating point
/// (as the SPL model computes it), so a sum above 2^53 reads back rounded there and exact
/// elsewhere; the alerts are what is compared, and every engine compares such sums as doubles.
fn as_double(agg: String) -> String {
    match agg.split_once('=') {
        Some((n, v)) => match v.parse::<i64>() {
            Ok(i) => format!("{n}={}", i as f64 as i64),
            Err(_) => agg,
        },
        None => agg,
    }
}

fn norm(window: i64, mut keys: Vec<String>, agg: Option<String>) -> Norm {
    let agg = agg.map(as_double);
    keys.sort();
    format!(
        "window {} | keys [{}] | {}",
        projection::rfc3339(window),
        keys.join(", "),
        agg.unwrap_or_default()
    )
}

/// Native alerts, normalised. `events` are canonical abstract events.
fn native(rule: &Rule, events: &[Event]) -> Vec<Norm> {
    let mut out = Vec::new();
    match &rule.aggregation {
        None => {
            for (i, ev) in events.iter().enumerate() {
                if !detc::eval::try_evaluate(rule, [ev.clone()])
                    .unwrap_or_else(|d| unreachable!("{d:?}"))
                    .is_empty()
                {
                    out.push(format!("event {i}"));
                }
            }
        }
        Some(a) => {
            let having = having_aggregate(rule);
            for al in detc::eval::try_evaluate(rule, events.iter().cloned())
                .unwrap_or_else(|d| unreachable!("{d:?}"))
            {
                let w = al
                    .window_start
                    .as_deref()
                    .and_then(parse_ts)
                    .unwrap_or(i64::MIN);
                let keys = a
                    .group_by
                    .iter()
                    .map(|g| al.group.get(g.name()).map(value_text).unwrap_or_default())
                    .collect();
                let agg = having.as_ref().map(|h| {
                    format!(
                        "{h}={}",
                        al.aggregates.get(h).map(value_text).unwrap_or_default()
                    )
                });
                out.push(norm(w, keys, agg));
            }
        }
    }
    out.sort();
    out
}

fn family(target: &str, rule: &Rule) -> Family {
    if rule.source == detc::ir::Source::ProcessCreation {
        return match target {
            "kql-defender" => Family::DefenderProcess,
            "kql-sentinel" => Family::AsimProcess,
            "sigma" if rule.platform == Some(detc::ir::Platform::Macos) => {
                Family::SigmaMacosProcessJson
            }
            "sigma" => Family::SysmonProcessJson,
            "spl-sysmon" if rule.platform == Some(detc::ir::Platform::Linux) => {
                Family::SysmonLinuxProcessSplunk
            }
            "spl-sysmon" => Family::SysmonProcessSplunk,
            "spl-cim" => Family::CimProcesses,
            t => unreachable!(
                "target `{t}` has no process_creation projection in the differential test"
            ),
        };
    }
    if rule.source == detc::ir::Source::DnsQuery {
        return match target {
            "sigma" => Family::SysmonDnsJson,
            "spl-sysmon" => Family::SysmonDnsSplunk,
            t => unreachable!("target `{t}` has no dns_query projection in the differential test"),
        };
    }
    if rule.source == detc::ir::Source::MailMessage {
        return match target {
            "sigma" => Family::ZeekSmtpJson,
            t => {
                unreachable!("target `{t}` has no mail_message projection in the differential test")
            }
        };
    }
    let conn = rule.source == detc::ir::Source::NetworkConnection;
    match (target, conn) {
        ("kql-defender", _) => Family::DefenderDne,
        ("kql-sentinel", true) => Family::SentinelDne,
        ("kql-sentinel", false) => Family::AsimNetworkSession,
        ("sigma", true) => Family::SysmonJson,
        ("sigma", false) => Family::SigmaNetwork,
        ("spl-sysmon", _) => Family::SysmonSplunk,
        ("spl-cim", _) => Family::CimNetworkTraffic,
        // A new target fails here until its events have a projection (tests/support/projection.rs),
        // never silently tested on another target's rows.
        (t, _) => unreachable!("target `{t}` has no event projection in the differential test"),
    }
}

/// Runs the emitted KQL on duckdb-kql; `ids` maps a row's ReportId back to the event's index.
fn run_kql(rule: &Rule, fam: Family, query: &str, rows: &[Row]) -> Result<Vec<Norm>, String> {
    let mut jsonl = String::new();
    for r in rows {
        if let Row::Json(m) = r {
            jsonl.push_str(&serde_json::Value::Object(m.clone()).to_string());
            jsonl.push('\n');
        }
    }
    let cols = projection::kql_columns(fam);
    let table = match fam {
        Family::AsimNetworkSession => "_Im_NetworkSession",
        Family::AsimProcess => "_Im_ProcessCreate",
        Family::DefenderProcess => "DeviceProcessEvents",
        _ => "DeviceNetworkEvents",
    };
    // The emitted text exactly as written (its `//` comment lines are KQL comments).
    let q = query;
    let result = oracle::duckdb_kql_with(table, &cols, &jsonl, q, None, true)?;
    let mut out = Vec::new();
    match &rule.aggregation {
        None => {
            let id = projection::id_field(fam);
            for row in result {
                out.push(format!("event {}", json_text(&row[id])));
            }
        }
        Some(_) => {
            let having = having_aggregate(rule);
            let agg_names = aggregate_names(rule);
            for row in result {
                let Some(obj) = row.as_object() else {
                    return Err(format!("duckdb-kql row is not an object: {row}"));
                };
                let w = obj
                    .get("window_start")
                    .map(json_text)
                    .and_then(|s| parse_ts(&s))
                    .ok_or_else(|| format!("no window_start in {row}"))?;
                let keys = obj
                    .iter()
                    .filter(|(k, _)| {
                        k.as_str() != "window_start" && !agg_names.contains(&k.as_str())
                    })
                    .map(|(_, v)| json_text(v))
                    .collect();
                let agg = having
                    .as_ref()
                    .map(|h| format!("{h}={}", obj.get(h).map(json_text).unwrap_or_default()));
                out.push(norm(w, keys, agg));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn run_spl(rule: &Rule, fam: Family, query: &str, rows: &[Row]) -> Result<Vec<Norm>, String> {
    let srows: Vec<spl_model::Row> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Splunk(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    let result = spl_model::run(query, &srows)?;
    let mut out = Vec::new();
    match &rule.aggregation {
        None => {
            let id = projection::id_field(fam);
            for row in result {
                out.push(format!(
                    "event {}",
                    row.get(id).cloned().unwrap_or_default()
                ));
            }
        }
        Some(_) => {
            let having = having_aggregate(rule);
            let agg_names = aggregate_names(rule);
            for row in result {
                let w = row
                    .get("_time")
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(|f| f as i64)
                    .ok_or_else(|| format!("no _time in SPL result {row:?}"))?;
                let keys = row
                    .iter()
                    .filter(|(k, _)| k.as_str() != "_time" && !agg_names.contains(&k.as_str()))
                    .map(|(_, v)| v.clone())
                    .collect();
                let agg = having.as_ref().map(|h| {
                    let v = row.get(h).cloned().unwrap_or_default();
                    let v = v
                        .parse::<f64>()
                        .map(|f| (f as i64).to_string())
                        .unwrap_or(v);
                    format!("{h}={v}")
                });
                out.push(norm(w, keys, agg));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn run_sigma(rule: &Rule, fam: Family, yaml: &str, rows: &[Row]) -> Result<Vec<Norm>, String> {
    let events: Vec<serde_json::Value> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Json(m) => Some(serde_json::Value::Object(m.clone())),
            _ => None,
        })
        .collect();
    let res = rsigma::rsigma_eval(
        yaml,
        &events,
        projection::time_field(fam),
        rsigma::Window::Tumbling,
    )?;
    let mut out = Vec::new();
    match &rule.aggregation {
        None => {
            let id = projection::id_field(fam);
            let mut seen = std::collections::BTreeSet::new();
            for d in res.detections {
                let e = &events[d.event_index];
                seen.insert(json_text(&e[id]));
            }
            for s in seen {
                out.push(format!("event {s}"));
            }
        }
        Some(_) => {
            let having = having_aggregate(rule);
            for h in rsigma::collapse_tumbling(&res.correlations) {
                let mut keys: Vec<String> = h
                    .group
                    .iter()
                    .map(|(k, v)| {
                        if k == "Image" {
                            v.rsplit('\\').next().unwrap_or(v).to_string()
                        } else {
                            v.clone()
                        }
                    })
                    .collect();
                // A correlation per arm of a computed key: the arm's value is in the title.
                if let Some(open) = h.rule_title.rfind('(') {
                    if let Some((_, v)) = h.rule_title[open + 1..]
                        .trim_end_matches(')')
                        .split_once(" = ")
                    {
                        keys.push(v.to_string());
                    }
                }
                let agg = having.as_ref().map(|n| format!("{n}={}", h.value as i64));
                out.push(norm(h.bucket_start, keys, agg));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A named set of abstract events.
struct Fixture {
    name: String,
    events: Vec<Event>,
}

fn fixtures_for(rule: &Rule, rule_dir: &Path) -> Vec<Fixture> {
    let mut out = Vec::new();
    for t in &rule.tests {
        let events = match &t.events {
            TestEvents::File(p) => detc::eval::run::read_events_for(
                &rule_dir.join(p),
                t.schema.as_deref(),
                &[rule.source],
            )
            .map(|(e, _)| e),
            TestEvents::Inline(objs) => {
                detc::eval::run::map_inline_of(objs, t.schema.as_deref(), &t.name, &[rule.source])
                    .map(|(e, _)| e)
            }
        };
        match events {
            Ok(events) => out.push(Fixture {
                name: format!("test: {}", t.name),
                events,
            }),
            Err(d) => unreachable!(
                "fixture of test {:?} of {}: {}",
                t.name, rule.name, d.message
            ),
        }
    }
    // Real data that fits the rule's source.
    let dir = rule_dir.join("fixtures/realdata");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.ends_with(".md") || name.starts_with("LICENSE") || name.starts_with("COPYING") {
            continue;
        }
        let Ok((events, summary)) = detc::eval::run::read_events_for(&f, None, &[rule.source])
        else {
            continue;
        };
        let schema = summary.schemas.values().next().cloned().unwrap_or_default();
        let fits = match rule.source {
            detc::ir::Source::NetworkConnection => {
                schema == "sysmon" || schema == "defender" || schema == "osquery-socket"
            }
            detc::ir::Source::NetworkFlow => schema == "zeek-conn",
            detc::ir::Source::ProcessCreation => {
                (schema
                    == if rule.platform == Some(detc::ir::Platform::Linux) {
                        "auditd"
                    } else {
                        "sysmon-process"
                    })
                    || schema == "osquery-process"
            }
            detc::ir::Source::DnsQuery => schema == "sysmon-dns",
            detc::ir::Source::MailMessage => schema == "zeek-smtp-files",
        };
        if fits && !events.is_empty() {
            out.push(Fixture {
                name: format!("realdata: {name}"),
                events,
            });
        }
    }
    let compiled = detc::eval::engine::CompiledRule::new(rule)
        .unwrap_or_else(|d| unreachable!("rule {} does not compile: {}", rule.name, d.message));
    let gen = boundary::generate(rule, 20261126, &|e| compiled.filter_matches(e));
    out.push(Fixture {
        name: "boundary events".into(),
        events: gen,
    });
    out
}

#[derive(Debug, Default)]
struct Tally {
    fixtures: usize,
    events: usize,
    boundary: usize,
    skipped: usize,
    alerts: usize,
    agree: usize,
}

/// Compares every rule of the pack in `rules_dir` with every target whose name `targets` accepts,
/// on `fixtures_for` each rule (only the boundary events when `boundary_only`); returns the
/// report and the disagreements.
fn compare_pack(
    rules_dir: &Path,
    targets: &dyn Fn(&str) -> bool,
    boundary_only: bool,
) -> (BTreeMap<(String, String), Tally>, Vec<String>) {
    let files = detc::load::load_sources(&[rules_dir.to_path_buf()])
        .unwrap_or_else(|d| unreachable!("{}", d.message));
    let fe = detc::frontend(&files);
    let pack = fe
        .pack
        .unwrap_or_else(|| unreachable!("{} has errors", rules_dir.display()));
    let mut report: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    // Correlations read several sources: `correlations_mean_the_same_on_every_engine`.
    for rule in pack.rules.iter().filter(|r| r.correlation.is_none()) {
        let mut fixtures = fixtures_for(rule, rules_dir);
        if boundary_only {
            fixtures.retain(|f| f.name == "boundary events");
        }
        for profile in
            detc::targets::load_profiles().unwrap_or_else(|d| unreachable!("{}", d.message))
        {
            if !targets(&profile.name) {
                continue;
            }
            let Ok(emitted) = detc::targets::compile_rule(rule, &profile) else {
                continue;
            };
            let fam = family(&profile.name, rule);
            let engine = match profile.language {
                detc::targets::Language::Kql => "duckdb-kql",
                detc::targets::Language::Sigma => "rsigma-eval",
                detc::targets::Language::Spl => "SPL model",
            };
            let tally = report
                .entry((rule.name.clone(), format!("{} ({engine})", profile.name)))
                .or_default();
            for fx in &fixtures {
                let mut rows = Vec::new();
                let mut canon = Vec::new();
                for ev in &fx.events {
                    match projection::project(fam, canon.len(), ev) {
                        Some((row, c)) => {
                            rows.push(row);
                            canon.push(c);
                        }
                        None => tally.skipped += 1,
                    }
                }
                let started = std::time::Instant::now();
                let want = native(rule, &canon);
                let got = match engine {
                    "duckdb-kql" => run_kql(rule, fam, &emitted.text, &rows),
                    "rsigma-eval" => run_sigma(rule, fam, &emitted.text, &rows),
                    _ => run_spl(rule, fam, &emitted.text, &rows),
                };
                eprintln!(
                    "{} / {} / {}: {} events, {:.1}s",
                    rule.name,
                    profile.name,
                    fx.name,
                    canon.len(),
                    started.elapsed().as_secs_f64()
                );
                tally.fixtures += 1;
                tally.events += canon.len();
                if fx.name == "boundary events" {
                    tally.boundary += canon.len();
                }
                tally.alerts += want.len();
                match got {
                    Ok(got) if got == want => tally.agree += 1,
                    Ok(got) => {
                        let diff = similar::TextDiff::from_lines(&want.join("\n"), &got.join("\n"))
                            .unified_diff()
                            .header("native", engine)
                            .to_string();
                        failures.push(format!(
                            "rule {}, fixture {}, target {} ({engine}): alerts differ\n{diff}",
                            rule.name, fx.name, profile.name
                        ));
                    }
                    Err(e) => failures.push(format!(
                        "rule {}, fixture {}, target {} ({engine}): engine error: {e}",
                        rule.name, fx.name, profile.name
                    )),
                }
            }
        }
    }
    (report, failures)
}

#[test]
fn every_engine_raises_the_same_alerts_as_the_native_evaluator() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (report, failures) = compare_pack(&root.join("rules"), &|_| true, false);
    println!("| rule | target (engine) | fixtures | events compared (of which boundary) | events not representable | native alerts | fixtures agreeing |");
    println!("|---|---|---|---|---|---|---|");
    for ((r, t), x) in &report {
        println!(
            "| {r} | {t} | {} | {} ({}) | {} | {} | {}/{} |",
            x.fixtures, x.events, x.boundary, x.skipped, x.alerts, x.agree, x.fixtures
        );
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Day windows on SPL: `bin span=1d` and `tstats ... span=1d` align to the searching user's
/// local midnight (Search Manual, "Time zones and time bins"), which the SPL model fixes at
/// UTC+05:30. The pack's SPL rules use 1h windows, so this runs them with `window 1d` (a copy
/// of rules/ with the window changed) on their boundary events, whose times straddle the UTC
/// day edge.
#[test]
fn spl_day_windows_are_utc_days_in_any_user_zone() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/differential-day-windows");
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&root.join("rules"), &dir);
    let mut changed = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| unreachable!("{e}")) {
        let p = e.unwrap_or_else(|e| unreachable!("{e}")).path();
        if p.extension().is_some_and(|x| x == "detc") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            if text.contains("window 1h") {
                changed += 1;
                std::fs::write(&p, text.replace("window 1h", "window 1d"))
                    .unwrap_or_else(|e| unreachable!("{e}"));
            }
        }
    }
    assert!(
        changed >= 2,
        "no rule with `window 1h` to turn into a day window"
    );
    let (report, failures) = compare_pack(&dir, &|t| t.starts_with("spl"), true);
    assert!(
        report.keys().any(|(_, t)| t.starts_with("spl-sysmon"))
            && report.keys().any(|(_, t)| t.starts_with("spl-cim")),
        "both SPL profiles must be exercised: {:?}",
        report.keys().collect::<Vec<_>>()
    );
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| unreachable!("{e}"));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| unreachable!("{e}")) {
        let p = e.unwrap_or_else(|e| unreachable!("{e}")).path();
        let dest = to.join(p.file_name().unwrap_or_default());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap_or_else(|e| unreachable!("{e}"));
        }
    }
}

/// Comparisons of values (arithmetic, field against field; `ir::value`): the test rules of
/// tests/data/values/ on every engine that can express them (Sigma refuses them, E0910; spl-cim
/// takes only the comparisons in `having`, E0911), with their inline tests and boundary events
/// (a ratio exactly at its threshold and either side, a zero divisor, a missing or unparsable
/// operand, non-integer results, integers a double cannot hold).
#[test]
fn comparisons_of_values_mean_the_same_on_every_engine() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (report, failures) = compare_pack(&root.join("tests/data/values"), &|_| true, false);
    for ((r, t), x) in &report {
        println!(
            "| {r} | {t} | {} | {} ({}) | {} | {} | {}/{} |",
            x.fixtures, x.events, x.boundary, x.skipped, x.alerts, x.agree, x.fixtures
        );
    }
    for target in ["kql-defender", "kql-sentinel", "spl-sysmon", "spl-cim"] {
        assert!(
            report
                .iter()
                .any(|((_, t), x)| t.starts_with(target) && x.boundary > 0 && x.alerts > 0),
            "{target} was not exercised with boundary events and alerts: {:?}",
            report.keys().collect::<Vec<_>>()
        );
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// CIDR tests and ASIM parser parameters (tests/data/ip/): KQL writes IP blocks with Kusto's
/// range functions (`ipv4_is_private`, `ipv4_is_in_any_range`, `ipv6_is_in_any_range`) and passes
/// `_Im_NetworkSession` the filtering parameters the rule's `where` implies. duckdb-kql runs the
/// emitted text, with oracles/duckdb/kusto_ip.py's functions and asim.py's parser (ours, from
/// Microsoft's references); the boundary events put the first and last address of every block and
/// the ones either side, IPv6, mapped IPv4, empty, missing and unparsable values through it.
#[test]
fn ip_ranges_and_asim_parameters_mean_the_same_on_kql() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/data/ip");
    let (report, failures) = compare_pack(&dir, &|t| t.starts_with("kql"), false);
    for ((r, t), x) in &report {
        println!(
            "| {r} | {t} | {} | {} ({}) | {} | {} | {}/{} |",
            x.fixtures, x.events, x.boundary, x.skipped, x.alerts, x.agree, x.fixtures
        );
    }
    // The emitted text uses the functions and parameters this test is about.
    let files = detc::load::load_sources(std::slice::from_ref(&dir))
        .unwrap_or_else(|d| unreachable!("{}", d.message));
    let pack = detc::frontend(&files)
        .pack
        .unwrap_or_else(|| unreachable!("tests/data/ip has errors"));
    let profiles = detc::targets::load_profiles().unwrap_or_else(|d| unreachable!("{}", d.message));
    let sentinel = profiles
        .iter()
        .find(|p| p.name == "kql-sentinel")
        .unwrap_or_else(|| unreachable!("no kql-sentinel"));
    let text: String = pack
        .rules
        .iter()
        .filter_map(|r| detc::targets::compile_rule(r, sentinel).ok())
        .map(|e| e.text)
        .collect();
    for needle in [
        "ipv4_is_private(",
        "ipv4_is_in_any_range(",
        "ipv6_is_in_any_range(",
        "contains \":\" and ipv6_is_in_any_range(",
        "_Im_NetworkSession(dstportnumber=25, srcipaddr_has_any_prefix=dynamic([\"10.\", \"100.100.\"",
        "_Im_NetworkSession(dstipaddr_has_any_prefix=dynamic([\"198.51.100.7\"]), srcipaddr_has_any_prefix=dynamic([\"10.9.8.128\", ",
    ] {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    // Kusto.Language accepts every query, `_Im_NetworkSession` declared as a function with the
    // unifying parser's own parameter list (Azure/Azure-Sentinel,
    // Parsers/ASimNetworkSession/Parsers/imNetworkSession.yaml, ParserParams).
    let tables = oracle::kusto_tables(
        &oracle::kql_profile_tables("kql-sentinel").unwrap_or_else(|e| unreachable!("{e}")),
    );
    let queries: Vec<(String, String)> = pack
        .rules
        .iter()
        .filter_map(|r| {
            detc::targets::compile_rule(r, sentinel)
                .ok()
                .map(|e| (r.name.clone(), e.text))
        })
        .collect();
    let refs: Vec<(&str, &str)> = queries
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    for (name, diags) in
        oracle::kusto_check_json(tables, &refs).unwrap_or_else(|e| unreachable!("{e}"))
    {
        assert!(diags.is_empty(), "Kusto.Language on {name}: {diags:#?}");
    }
    for target in ["kql-defender", "kql-sentinel"] {
        assert!(
            report
                .iter()
                .any(|((_, t), x)| t.starts_with(target) && x.boundary > 0 && x.alerts > 0),
            "{target} was not exercised with boundary events and alerts: {:?}",
            report.keys().collect::<Vec<_>>()
        );
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Linux process creation (AN0380): the pack's rules of `platform linux`, alone in a copy of
/// rules/, on every engine that can express them: Defender's and Sentinel's DeviceProcessEvents
/// (one table for every platform), Sigma `product: linux` (rsigma) and Sysmon for Linux in
/// Splunk (`sourcetype=sysmon:linux`, the SPL model). spl-cim has no process table (E0901).
/// The fixtures are auditd logs (Elastic's RHEL 7 log among them) read by the native evaluator,
/// projected into each engine's rows.
#[test]
fn linux_process_creation_agrees_on_every_engine() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/differential-linux");
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&root.join("rules"), &dir);
    let mut linux = Vec::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| unreachable!("{e}"));
    for e in entries.flatten() {
        let p = e.path();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let has_rule = text.lines().any(|l| l.starts_with("rule "));
        if p.extension().is_some_and(|x| x == "detc") && has_rule {
            if text.contains(" AN0380") {
                linux.push(e.file_name().to_string_lossy().to_string());
            } else {
                std::fs::remove_file(&p).unwrap_or_else(|e| unreachable!("{e}"));
            }
        }
    }
    assert_eq!(linux, ["an0380_linux_mail_tool.detc"]);
    let (report, failures) = compare_pack(&dir, &|_| true, false);
    let targets: Vec<&str> = report.keys().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        targets,
        [
            "kql-defender (duckdb-kql)",
            "kql-sentinel (duckdb-kql)",
            "sigma (rsigma-eval)",
            "spl-sysmon (SPL model)"
        ]
    );
    for ((r, t), x) in &report {
        // The three auditd fixtures, osquery's Linux sample rows (real data) and the boundary
        // events, with alerts to compare.
        assert_eq!(x.fixtures, 5, "{r} {t}");
        // Boundary events a target's rows cannot denote are skipped (counted), never compared
        // on another target's rows; the fixtures' events all are.
        assert!(
            x.alerts >= 5 && x.events >= 18,
            "{r} {t}: {} alerts, {} events compared, {} skipped",
            x.alerts,
            x.events,
            x.skipped
        );
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    std::fs::remove_dir_all(&dir).unwrap_or_else(|e| unreachable!("{e}"));
}

/// AN0381's macOS rules (osquery process and socket events, the off-hours TimeWindow) on every
/// engine that can express them: a copy of the two rules with the pack's lists, their fixtures
/// and the real rows they read (osquery's, OTRF's proxylogon), and the boundary events (the first
/// and last second of every hour of a week-end and the days around it, in the rule's offset).
/// Their platform is macOS (AN0381's): Sysmon (spl-sysmon, Sigma's Sysmon entries) has no macOS
/// entry and refuses them (E0308), Sigma cannot read the hour either (E0912), spl-cim has no
/// endpoint source (E0901); Defender's and Sentinel's tables hold every platform, so both meet
/// duckdb-kql.
#[test]
fn an0381_macos_rules_mean_the_same_on_every_engine() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/differential-an0381");
    let _ = std::fs::remove_dir_all(&dir);
    let rules = root.join("rules");
    copy_dir(&rules.join("lists"), &dir.join("lists"));
    copy_dir(&rules.join("fixtures/an0381"), &dir.join("fixtures/an0381"));
    std::fs::create_dir_all(dir.join("fixtures/realdata")).unwrap_or_else(|e| unreachable!("{e}"));
    for f in [
        "lists.detc",
        "an0381_macos_mail_command_off_hours.detc",
        "an0381_macos_mail_port_non_mail_client.detc",
        "fixtures/realdata/osquery_docs_process_socket_events.jsonl",
        "fixtures/realdata/proxylogon_mail_port_events.jsonl",
    ] {
        std::fs::copy(rules.join(f), dir.join(f)).unwrap_or_else(|e| unreachable!("{f}: {e}"));
    }
    let (report, failures) = compare_pack(&dir, &|_| true, false);
    for ((r, t), x) in &report {
        println!(
            "| {r} | {t} | {} | {} ({}) | {} | {} | {}/{} |",
            x.fixtures, x.events, x.boundary, x.skipped, x.alerts, x.agree, x.fixtures
        );
    }
    for (rule, target) in [
        ("an0381_macos_mail_command_off_hours", "kql-defender"),
        ("an0381_macos_mail_command_off_hours", "kql-sentinel"),
        ("an0381_macos_mail_port_non_mail_client", "kql-defender"),
        ("an0381_macos_mail_port_non_mail_client", "kql-sentinel"),
    ] {
        assert!(
            report.iter().any(|((r, t), x)| r == rule
                && t.starts_with(target)
                && x.boundary > 0
                && x.alerts > 0),
            "{rule} on {target} was not exercised with boundary events and alerts: {:?}",
            report.keys().collect::<Vec<_>>()
        );
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Sigma's macOS process_creation entry (`product: macos`, the taxonomy's generic Sysmon names,
/// POSIX paths) under rsigma-eval: AN0381's mail commands without the off-hours clause Sigma
/// cannot express (tests/data/macos_sigma), on osquery's documented rows and boundary events;
/// and what stays refused of the two an0381 rules, each for its own reason: the hour (E0912),
/// not the platform, and network_connection, which the taxonomy has no macOS logsource for
/// (E0308).
#[test]
fn macos_process_creation_means_the_same_on_sigma() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (report, failures) = compare_pack(
        &root.join("tests/data/macos_sigma"),
        &|t| t == "sigma",
        false,
    );
    let x = report
        .get(&(
            "macos_mail_command_any_hour".to_string(),
            "sigma (rsigma-eval)".to_string(),
        ))
        .unwrap_or_else(|| unreachable!("not compared: {:?}", report.keys().collect::<Vec<_>>()));
    assert!(
        x.boundary > 0 && x.alerts > 0 && x.fixtures >= 2,
        "boundary events, real rows and alerts: {x:?}"
    );
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    let files = detc::load::load_sources(&[root.join("rules")])
        .unwrap_or_else(|d| unreachable!("{}", d.message));
    let pack = detc::frontend(&files)
        .pack
        .unwrap_or_else(|| unreachable!("rules/ has errors"));
    let sigma = detc::targets::load_profiles()
        .unwrap_or_else(|d| unreachable!("{}", d.message))
        .into_iter()
        .find(|p| p.name == "sigma")
        .unwrap_or_else(|| unreachable!("no sigma profile"));
    for (rule, code) in [
        ("an0381_macos_mail_command_off_hours", "E0912"),
        ("an0381_macos_mail_port_non_mail_client", "E0308"),
    ] {
        let r = pack
            .rules
            .iter()
            .find(|r| r.name == rule)
            .unwrap_or_else(|| unreachable!("{rule} not in rules/"));
        let err = detc::targets::compile_rule(r, &sigma)
            .err()
            .unwrap_or_else(|| unreachable!("{rule} compiled for sigma"));
        assert!(
            err.iter().any(|d| d.code.as_str() == code),
            "{rule}: {err:?}"
        );
    }
}

/// spl-cim's Endpoint.Processes entry (tstats over the CIM's Processes fields) on the SPL
/// model, with an aggregating process rule (tstats only aggregates: tests/data/cim_processes):
/// names, original names and command lines case-insensitively, a negated path prefix and parent
/// list, by host in hourly windows, on its boundary events.
#[test]
fn cim_endpoint_processes_mean_the_same_on_the_spl_model() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (report, failures) = compare_pack(
        &root.join("tests/data/cim_processes"),
        &|t| t == "spl-cim",
        false,
    );
    let x = report
        .get(&(
            "cim_mail_commands_per_host".to_string(),
            "spl-cim (SPL model)".to_string(),
        ))
        .unwrap_or_else(|| unreachable!("not compared: {:?}", report.keys().collect::<Vec<_>>()));
    assert!(
        x.boundary > 0 && x.alerts > 0,
        "boundary events and alerts: {x:?}"
    );
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// mail_message on Sigma (`product: zeek, service: smtp`, rsigma-eval over Zeek's JSON): a
/// list field (`mail.to`, a JSON array in the event) means "any recipient" in both engines, and
/// its negation "no recipient", on the pack's fixtures and its boundary events.
#[test]
fn mail_messages_mean_the_same_on_sigma() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (report, failures) = compare_pack(&root.join("tests/data/mail"), &|_| true, false);
    let sigma = report
        .iter()
        .find(|((r, t), _)| r == "mail_to_outside" && t.starts_with("sigma"))
        .map(|(_, x)| x)
        .unwrap_or_else(|| unreachable!("mail_to_outside was not compared on sigma: {report:?}"));
    assert!(
        sigma.events > 0 && sigma.alerts > 0,
        "nothing compared: {} events, {} alerts",
        sigma.events,
        sigma.alerts
    );
    assert_eq!(
        report.len(),
        1,
        "only sigma expresses mail_message: {report:?}"
    );
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// an0379_mail_risky_attachment reads files.log's attachments, which no query target has next
/// to the message (docs/TARGETS.md, "mail_message"): every target refuses it by name, so the
/// differential test above has no engine for it. A target that starts emitting it fails here
/// until the rule gets a projection and a comparison of its own.
#[test]
fn the_mail_attachment_rule_is_refused_by_every_query_target() {
    let files =
        detc::load::load_sources(&[PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")])
            .unwrap_or_else(|d| unreachable!("{}", d.message));
    let pack = detc::frontend(&files)
        .pack
        .unwrap_or_else(|| unreachable!("rules/ has errors"));
    let rule = pack
        .rules
        .iter()
        .find(|r| r.name == "an0379_mail_risky_attachment")
        .unwrap_or_else(|| unreachable!("no an0379_mail_risky_attachment"));
    for profile in detc::targets::load_profiles().unwrap_or_else(|d| unreachable!("{}", d.message))
    {
        let Err(ds) = detc::targets::compile_rule(rule, &profile) else {
            unreachable!("{} emits an0379_mail_risky_attachment", profile.name)
        };
        let d = &ds[0];
        let code = d.code.as_str();
        let named = match code {
            // No table (Defender, Sentinel, the SPL profiles): the reason names the source.
            "E0901" => d.message.contains("mail_message"),
            // Sigma: the attachment field it cannot read; KQL/SPL: the list test.
            "E0902" | "E0904" => d.message.contains("attachment."),
            _ => false,
        };
        assert!(named, "{}: {code} {}", profile.name, d.message);
    }
}

// ---------------------------------------------------------------------------------------------
// Correlations: the evaluator, duckdb-kql (the emitted KQL joining both tables) and the SPL
// model (the emitted search over both event codes) on the same boundary events.

/// One event of a correlation fixture: its source and its abstract fields.
fn corr_event(
    source: detc::ir::Source,
    t: i64,
    host: &str,
    pid: Option<i64>,
    name: &str,
    port: i64,
) -> (detc::ir::Source, Event) {
    let mut e = Event::new();
    e.insert("time".into(), Value::Timestamp(t));
    if !host.is_empty() {
        e.insert("host".into(), Value::Str(host.into()));
    }
    if let Some(p) = pid {
        e.insert("process.id".into(), Value::Int(p));
    }
    e.insert(
        "process.path".into(),
        Value::Str(format!("C:\\Users\\dana\\AppData\\Local\\Temp\\{name}")),
    );
    e.insert("process.name".into(), Value::Str(name.into()));
    if source == detc::ir::Source::NetworkConnection {
        e.insert("direction".into(), Value::Enum("outbound".into()));
        e.insert("outcome".into(), Value::Enum("succeeded".into()));
        e.insert("transport".into(), Value::Enum("tcp".into()));
        e.insert("remote.port".into(), Value::Int(port));
        e.insert(
            "remote.ip".into(),
            Value::Ip(
                "203.0.113.9"
                    .parse()
                    .unwrap_or_else(|e| unreachable!("{e}")),
            ),
        );
    } else {
        e.insert("process.command_line".into(), Value::Str(name.into()));
    }
    (source, e)
}

/// A process start whose process id is the text `id`, as ASIM's string column holds it.
fn corr_text_id(
    source: detc::ir::Source,
    t: i64,
    host: &str,
    id: &str,
) -> (detc::ir::Source, Event) {
    let mut e = corr_event(source, t, host, None, "upd.exe", 0);
    e.1.insert("process.id".into(), Value::Str(id.into()));
    e
}

/// The boundary events, each scenario under a process id of its own, in an order that is not
/// the time order (lines out of order).
fn corr_fixture() -> Vec<(detc::ir::Source, Event)> {
    use detc::ir::Source::{NetworkConnection as N, ProcessCreation as P};
    let t = 1_795_165_200; // 2026-11-20T09:00:00Z
    let h = "WS07";
    let mut v = vec![
        // 1: the connection exactly one window (60 s) after the start.
        corr_event(P, t, h, Some(1), "upd.exe", 0),
        corr_event(N, t + 60, h, Some(1), "upd.exe", 587),
        // 2: one second past the window.
        corr_event(P, t, h, Some(2), "upd.exe", 0),
        corr_event(N, t + 61, h, Some(2), "upd.exe", 587),
        // 3: reversed: the connection 10 s before the start.
        corr_event(N, t, h, Some(3), "upd.exe", 587),
        corr_event(P, t + 10, h, Some(3), "upd.exe", 0),
        // 4: equal times.
        corr_event(P, t, h, Some(4), "upd.exe", 0),
        corr_event(N, t, h, Some(4), "upd.exe", 587),
        // 5: a missing key (no process id), and an empty host.
        corr_event(P, t, h, None, "upd.exe", 0),
        corr_event(N, t + 5, h, None, "upd.exe", 587),
        corr_event(P, t, "", Some(5), "upd.exe", 0),
        corr_event(N, t + 5, "", Some(5), "upd.exe", 587),
        // 6: a host that differs by case only.
        corr_event(P, t, "WS07", Some(6), "upd.exe", 0),
        corr_event(N, t + 5, "ws07", Some(6), "upd.exe", 587),
        // 7: a start whose step condition is false.
        corr_event(P, t, h, Some(7), "outlook.exe", 0),
        corr_event(N, t + 5, h, Some(7), "upd.exe", 587),
        // 8: two starts and one connection (first_seen is the later start).
        corr_event(P, t, h, Some(8), "upd.exe", 0),
        corr_event(P, t + 30, h, Some(8), "upd.exe", 0),
        corr_event(N, t + 50, h, Some(8), "upd.exe", 587),
        // 9: one start, two connections, one of them a duplicate second.
        corr_event(P, t, h, Some(9), "upd.exe", 0),
        corr_event(N, t + 20, h, Some(9), "upd.exe", 587),
        corr_event(N, t + 20, h, Some(9), "upd.exe", 587),
        // 10: three steps: start, 25, 587 in order, at the edges of the window.
        corr_event(P, t, h, Some(10), "upd.exe", 0),
        corr_event(N, t + 30, h, Some(10), "upd.exe", 25),
        corr_event(N, t + 60, h, Some(10), "upd.exe", 587),
        corr_event(N, t + 61, h, Some(10), "upd.exe", 25),
        // 11: three steps out of order: 587, then 25, then the start.
        corr_event(N, t, h, Some(11), "upd.exe", 587),
        corr_event(N, t + 1, h, Some(11), "upd.exe", 25),
        corr_event(P, t + 2, h, Some(11), "upd.exe", 0),
        corr_event(N, t + 3, h, Some(11), "upd.exe", 587),
        // 12: an ordered chain whose best start is not the latest one: start, 25, start, 587.
        corr_event(P, t, h, Some(12), "upd.exe", 0),
        corr_event(N, t + 10, h, Some(12), "upd.exe", 25),
        corr_event(P, t + 20, h, Some(12), "upd.exe", 0),
        corr_event(N, t + 30, h, Some(12), "upd.exe", 587),
        // ASIM writes process ids as text (TargetProcessId): process starts whose id text is
        // awkward, each with a connection its misreading would join (projected for ASIM only;
        // every other table holds the id as a number).
        // 13: leading zeros: the process 123.
        corr_text_id(P, t, h, "0123"),
        corr_event(N, t + 5, h, Some(123), "upd.exe", 587),
        // 14: empty, and no number at all: no process id (not 0).
        corr_text_id(P, t, h, ""),
        corr_text_id(P, t + 1, h, "n/a"),
        corr_event(N, t + 5, h, Some(0), "upd.exe", 587),
        // 15: past a long: no process id (not the largest long).
        corr_text_id(P, t, h, "9223372036854775808"),
        corr_event(N, t + 5, h, Some(i64::MAX), "upd.exe", 587),
    ];
    // Out of order: every second line swapped with the next.
    for i in (0..v.len() - 1).step_by(2) {
        v.swap(i, i + 1);
    }
    v.reverse();
    v
}

/// The events of each test of a correlation rule, read as `detc test` reads them (inline
/// events as JSON lines, every row through each step's source).
fn corr_test_fixtures(rule: &Rule, root: &Path) -> Vec<(String, Vec<(detc::ir::Source, Event)>)> {
    let sources = detc::eval::correlate::Correlator::new(rule, 0)
        .unwrap_or_else(|d| unreachable!("{d:?}"))
        .sources();
    let mut out = Vec::new();
    for t in &rule.tests {
        let mut events = Vec::new();
        let text = match &t.events {
            TestEvents::Inline(objs) => objs
                .iter()
                .map(|o| serde_json::Value::Object(o.clone()).to_string() + "\n")
                .collect::<String>(),
            TestEvents::File(p) => {
                let dir = Path::new(&rule.span.path).parent().unwrap_or(Path::new(""));
                std::fs::read_to_string(root.join(dir).join(p))
                    .unwrap_or_else(|e| unreachable!("{e}"))
            }
        };
        detc::eval::run::read_sources_from(
            Path::new(&t.name),
            Box::new(std::io::Cursor::new(text.into_bytes())),
            &sources,
            &mut |s, e| events.push((s, e)),
        )
        .unwrap_or_else(|d| unreachable!("{d:?}"));
        out.push((format!("test: {}", t.name), events));
    }
    out
}

fn corr_norm(keys: Vec<String>, first: i64, last: i64) -> Norm {
    format!(
        "keys [{}] | first {} | last {}",
        keys.join(", "),
        projection::rfc3339(first),
        projection::rfc3339(last)
    )
}

fn corr_family(target: &str, s: detc::ir::Source, rule: &Rule) -> Family {
    let p = s == detc::ir::Source::ProcessCreation;
    let linux = rule.platform == Some(detc::ir::Platform::Linux);
    match (target, p) {
        // Sysmon for Linux as its Splunk add-on indexes it (the Linux entry of spl-sysmon).
        ("spl-sysmon", true) if linux => Family::SysmonLinuxProcessSplunk,
        ("kql-defender", true) => Family::DefenderProcess,
        ("kql-defender", false) => Family::DefenderDne,
        ("kql-sentinel", true) => Family::AsimProcess,
        ("kql-sentinel", false) => Family::SentinelDne,
        ("spl-sysmon", true) => Family::SysmonProcessSplunk,
        ("spl-sysmon", false) => Family::SysmonSplunk,
        (t, _) => unreachable!("no correlation projection for {t}"),
    }
}

#[test]
fn correlations_mean_the_same_on_every_engine() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut rules = Vec::new();
    for dir in [
        "tests/data/correlation_boundary",
        "tests/data/correlation",
        "tests/data/correlation_linux",
        "rules",
    ] {
        let files = detc::load::load_sources(&[root.join(dir)])
            .unwrap_or_else(|d| unreachable!("{}", d.message));
        let pack = detc::frontend(&files)
            .pack
            .unwrap_or_else(|| unreachable!("{dir} has errors"));
        rules.extend(pack.rules.into_iter().filter(|r| r.correlation.is_some()));
    }
    assert!(
        rules
            .iter()
            .any(|r| r.name == "an0379_process_start_then_mail_port"),
        "the AN0379 correlation is compared"
    );
    assert!(
        rules
            .iter()
            .any(|r| r.platform == Some(detc::ir::Platform::Linux)),
        "a Linux correlation is compared"
    );
    let profiles = detc::targets::load_profiles().unwrap_or_else(|d| unreachable!("{}", d.message));
    let mut failures = Vec::new();
    let mut ran = BTreeMap::<String, usize>::new();
    let mut asim_text_alerts = 0;
    for rule in &rules {
        let c = rule.correlation.as_ref().unwrap_or_else(|| unreachable!());
        // The boundary events, then each of the rule's own tests (read as `detc test` reads
        // them: every row through each step's source).
        let mut fixtures = vec![("boundary events".to_string(), corr_fixture())];
        fixtures.extend(corr_test_fixtures(rule, &root));
        for (fx_name, fixture) in &fixtures {
            let key_cols: Vec<String> = c.keys.iter().map(|k| k.replace('.', "_")).collect();
            for profile in profiles.iter().filter(|p| {
                ["kql-defender", "kql-sentinel", "spl-sysmon"].contains(&p.name.as_str())
            }) {
                let emitted = detc::targets::compile_rule(rule, profile)
                    .unwrap_or_else(|d| unreachable!("{} for {}: {d:?}", rule.name, profile.name));
                // Project every event; the evaluator reads the canonical form of what was projected.
                let mut canon = Vec::new();
                let mut tables: BTreeMap<&str, (Family, String)> = BTreeMap::new();
                let mut spl_rows = Vec::new();
                for (i, (src, ev)) in fixture.iter().enumerate() {
                    let fam = corr_family(&profile.name, *src, rule);
                    // An event the target's table cannot hold (an inbound Sysmon connection
                    // has no Defender ActionType without an outcome) is left out on both sides,
                    // as the one-source comparison does: the evaluator reads what was projected.
                    let Some((row, c)) = projection::project(fam, i, ev) else {
                        // A process id as text is a row of ASIM's table only.
                        let text_id = matches!(ev.get("process.id"), Some(Value::Str(_)));
                        assert!(
                            fx_name.starts_with("test: ")
                                || (text_id && fam != Family::AsimProcess),
                            "{fx_name}: boundary event {i} has no {fam:?} row"
                        );
                        continue;
                    };
                    canon.push((*src, c));
                    match row {
                        Row::Json(m) => {
                            let table = match fam {
                                Family::AsimProcess => "_Im_ProcessCreate",
                                Family::DefenderProcess => "DeviceProcessEvents",
                                _ => "DeviceNetworkEvents",
                            };
                            let e = tables.entry(table).or_insert((fam, String::new()));
                            e.1.push_str(&serde_json::Value::Object(m).to_string());
                            e.1.push('\n');
                        }
                        Row::Splunk(m) => spl_rows.push(m),
                    }
                }
                let mut want: Vec<Norm> = detc::eval::correlate::evaluate(rule, canon, 6 * 3600)
                    .unwrap_or_else(|d| unreachable!("{d:?}"))
                    .into_iter()
                    .map(|a| {
                        let keys = c
                            .keys
                            .iter()
                            .map(|k| a.group.get(k).map(value_text).unwrap_or_default())
                            .collect();
                        let ts = |n: &str| match a.aggregates.get(n) {
                            Some(Value::Timestamp(t)) => *t,
                            _ => i64::MIN,
                        };
                        corr_norm(keys, ts("first_seen"), ts("last_seen"))
                    })
                    .collect();
                want.sort();
                if profile.name == "kql-sentinel" && fx_name == "boundary events" {
                    // Scenario 13: ASIM's "0123" joins the connection of process 123.
                    asim_text_alerts += want.iter().filter(|w| w.contains(", 123]")).count();
                }
                let got: Result<Vec<Norm>, String> = if profile.name.starts_with("kql") {
                    let t: Vec<oracle::KqlTable<'_>> = tables
                        .iter()
                        .map(|(t, (fam, rows))| (*t, projection::kql_columns(*fam), rows.clone()))
                        .collect();
                    oracle::duckdb_kql_tables(&t, &emitted.text).map(|rows| {
                        rows.iter()
                            .map(|r| {
                                let keys = key_cols.iter().map(|k| json_text(&r[k])).collect();
                                let ts = |n: &str| parse_ts(&json_text(&r[n])).unwrap_or(i64::MIN);
                                corr_norm(keys, ts("first_seen"), ts("last_seen"))
                            })
                            .collect()
                    })
                } else {
                    spl_model::run(&emitted.text, &spl_rows).map(|rows| {
                        rows.iter()
                            .map(|r| {
                                let keys = key_cols
                                    .iter()
                                    .map(|k| r.get(k).cloned().unwrap_or_default())
                                    .collect();
                                let ts = |n: &str| {
                                    r.get(n)
                                        .and_then(|v| v.parse::<f64>().ok())
                                        .map_or(i64::MIN, |f| f as i64)
                                };
                                corr_norm(keys, ts("first_seen"), ts("last_seen"))
                            })
                            .collect()
                    })
                };
                if profile.name.starts_with("kql") && fx_name == "boundary events" {
                    // Kusto.Language must accept the text as emitted, against the profile's tables.
                    let tables = oracle::kql_profile_tables(&profile.name)
                        .unwrap_or_else(|e| unreachable!("{e}"));
                    let t: Vec<(&str, &str)> = tables
                        .iter()
                        .map(|(n, s)| (n.as_str(), s.as_str()))
                        .collect();
                    let res =
                        oracle::kusto_check(&t, &[(rule.name.as_str(), emitted.text.as_str())])
                            .unwrap_or_else(|e| unreachable!("{e}"));
                    let errors: Vec<String> = res
                        .iter()
                        .flat_map(|(_, ds)| ds.iter())
                        .filter(|d| d.severity == "Error")
                        .map(|d| format!("{} {}: {}", d.code, d.message, d.snippet))
                        .collect();
                    if !errors.is_empty() {
                        failures.push(format!(
                            "rule {}, target {}: Kusto.Language: {errors:?}\n{}",
                            rule.name, profile.name, emitted.text
                        ));
                    }
                }
                *ran.entry(profile.name.clone()).or_default() += want.len();
                match got {
                    Ok(mut got) => {
                        got.sort();
                        if got != want {
                            failures.push(format!(
                                "rule {}, fixture {fx_name}, target {}: alerts differ\n{}",
                                rule.name,
                                profile.name,
                                similar::TextDiff::from_lines(&want.join("\n"), &got.join("\n"))
                                    .unified_diff()
                                    .header("native", &profile.name)
                            ));
                        }
                    }
                    Err(e) => {
                        failures.push(format!("rule {}, target {}: {e}", rule.name, profile.name))
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert_eq!(ran.len(), 3, "every engine ran: {ran:?}");
    assert!(
        ran.iter().all(|(_, n)| *n >= 20),
        "alerts were compared: {ran:?}"
    );
    assert!(asim_text_alerts > 0, "an ASIM id text was joined");
}

/// The process ids ASIM writes as text (`_Im_ProcessCreate`'s TargetProcessId, ActingProcessId),
/// read by kql-sentinel as `tolong(C)`, in a filter (equal, greater than, a negated equality
/// that is true where the id is missing) and as a group key, on texts a misreading would get
/// wrong: leading zeros, empty, no number, past a long. The evaluator reads what each text
/// denotes (projection::asim_id): the number, or a missing value.
#[test]
fn asim_text_process_ids_mean_the_same_on_kql_sentinel() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = detc::load::load_sources(&[root.join("tests/data/asim_process_ids")])
        .unwrap_or_else(|d| unreachable!("{}", d.message));
    let pack = detc::frontend(&files)
        .pack
        .unwrap_or_else(|| unreachable!("tests/data/asim_process_ids has errors"));
    let sentinel = detc::targets::profile("kql-sentinel").unwrap_or_else(|| unreachable!());
    let t = 1_795_165_200;
    let ids = [
        ("123", "7"),
        ("0123", "4"),
        ("00123", ""),
        ("", "7"),
        ("n/a", "n/a"),
        ("9223372036854775808", "7"),
        ("200000", "4"),
        ("0200000", "004"),
        ("200000", ""),
        ("200000", "n/a"),
        ("200001", "99999999999999999999"),
        ("9223372036854775807", "0"),
    ];
    let events: Vec<Event> = ids
        .iter()
        .enumerate()
        .map(|(i, (pid, ppid))| {
            let mut e = Event::new();
            e.insert("time".into(), Value::Timestamp(t + i as i64));
            e.insert("host".into(), Value::Str("WS07".into()));
            e.insert(
                "process.path".into(),
                Value::Str("C:\\Users\\dana\\upd.exe".into()),
            );
            e.insert("process.id".into(), Value::Str((*pid).into()));
            e.insert("process.parent.id".into(), Value::Str((*ppid).into()));
            e
        })
        .collect();
    let mut rows = Vec::new();
    let mut canon = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let (row, c) = projection::project(Family::AsimProcess, i, e)
            .unwrap_or_else(|| unreachable!("event {i} has no ASIM row"));
        rows.push(row);
        canon.push(c);
    }
    // The texts were read as the numbers they hold, or as nothing.
    assert_eq!(canon[1].get("process.id"), Some(&Value::Int(123)));
    assert_eq!(canon[3].get("process.id"), None);
    assert_eq!(canon[5].get("process.id"), None);
    assert_eq!(canon[10].get("process.parent.id"), None);
    let mut failures = Vec::new();
    let mut alerts = 0;
    for rule in &pack.rules {
        let emitted = detc::targets::compile_rule(rule, &sentinel)
            .unwrap_or_else(|d| unreachable!("{}: {d:?}", rule.name));
        assert!(
            emitted.text.contains("tolong(TargetProcessId)"),
            "{}",
            emitted.text
        );
        let want = native(rule, &canon);
        alerts += want.len();
        match run_kql(rule, Family::AsimProcess, &emitted.text, &rows) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "rule {}: alerts differ\n{}",
                rule.name,
                similar::TextDiff::from_lines(&want.join("\n"), &got.join("\n"))
                    .unified_diff()
                    .header("native", "kql-sentinel")
            )),
            Err(e) => failures.push(format!("rule {}: {e}\n{}", rule.name, emitted.text)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(alerts >= 8, "{alerts} alerts compared");
}
