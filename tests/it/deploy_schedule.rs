//! Issue 14, point 5: the derived schedule never loses or doubles an alert. For every rule of
//! the pack (windowed or not) and every test's events, moved so that bursts straddle window and
//! run boundaries, each event arriving up to the rule's ingestion delay late: scheduled runs
//! (at several phases) that each see only what has arrived and report only the period
//! `Schedule::reported` gives, together raise exactly the alerts of one run over all events.
//! A naive schedule (every window, over the last window, no delay) is shown to lose alerts on
//! the same data, so the comparison can fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use detc::eval::{sort_alerts, time, try_evaluate, try_evaluate_unsuppressed, Alert, Event};
use detc::ir::{FieldRef, Rule, Suppress, Value};
use detc::targets::deploy;
use detc::targets::deploy::Schedule;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn pack() -> Vec<Rule> {
    let paths = vec![PathBuf::from("rules")];
    let files = detc::load::load_sources(&paths).unwrap();
    let fe = detc::frontend_with(&files, &detc::load::FsLoader::for_paths(&paths));
    // A correlation gets no deployable artefact (E0918: a run over one period would miss the
    // matches straddling its start), so no schedule: every rule of one source is checked here.
    let rules: Vec<Rule> = fe.pack.expect("the pack checks").rules;
    assert!(rules.iter().any(|r| r.correlation.is_some()));
    rules
        .into_iter()
        .filter(|r| r.correlation.is_none())
        .collect()
}

fn time_of(ev: &Event) -> i64 {
    match ev.get("time") {
        Some(Value::Timestamp(t)) => *t,
        other => panic!("event without a time: {other:?}"),
    }
}

fn with_time(ev: &Event, t: i64) -> Event {
    let mut e = ev.clone();
    e.insert("time".into(), Value::Timestamp(t));
    e
}

/// The time an alert is about: its window's start, or the matching event's time.
fn alert_time(a: &Alert) -> i64 {
    match &a.window_start {
        Some(s) => time::parse(s).unwrap(),
        None => match a.group.get("time") {
            Some(Value::Timestamp(t)) => *t,
            other => panic!("alert without a time: {other:?}"),
        },
    }
}

/// Variants of one test's events whose bursts straddle boundaries: the events as they are; moved
/// so the first one lands just before a period boundary; packed 7 seconds apart around one.
fn variants(events: &[Event], period: u64) -> Vec<Vec<Event>> {
    let p = period as i64;
    let first = events.iter().map(time_of).min().unwrap_or(0);
    let boundary = time::window_start(first, period) + 100 * p;
    let mut out = vec![events.to_vec()];
    for before in [1, p / 2, p - 1] {
        let shift = boundary - before - first;
        out.push(
            events
                .iter()
                .map(|e| with_time(e, time_of(e) + shift))
                .collect(),
        );
    }
    let n = events.len() as i64;
    out.push(
        events
            .iter()
            .enumerate()
            .map(|(i, e)| with_time(e, boundary + (i as i64 - n / 2) * 7))
            .collect(),
    );
    out
}

/// Arrival times: on time, the full delay late, or in between (a fixed pattern per event).
fn arrivals(events: &[Event], delay: u64, pattern: u64) -> Vec<i64> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let late = match (i as u64 + pattern) % 3 {
                0 => 0,
                1 => delay,
                _ => (i as u64 * 37 + pattern * 11) % (delay + 1),
            };
            time_of(e) + late as i64
        })
        .collect()
}

/// Runs at `phase + k * period`, each reading the events arrived by then within the lookback:
/// (the run's time, the alerts of the period `reported(now)` (or, naive, `[now - period, now)`)
/// before any suppression, in result order).
fn runs(
    rule: &Rule,
    events: &[Event],
    arrival: &[i64],
    phase: i64,
    naive: bool,
) -> Vec<(i64, Vec<Alert>)> {
    let s = Schedule::of(rule);
    let p = s.period as i64;
    let lo = events.iter().map(time_of).min().unwrap_or(0) - 3 * p;
    let hi = arrival.iter().copied().max().unwrap_or(0) + s.lookback() as i64 + 2 * p;
    let mut now = time::window_start(lo, s.period) + phase;
    let mut out = Vec::new();
    while now <= hi {
        let (start, end) = if naive {
            (now - p, now)
        } else {
            s.reported(now)
        };
        let seen: Vec<Event> = events
            .iter()
            .zip(arrival)
            .filter(|(e, a)| {
                **a <= now && time_of(e) >= now - s.lookback() as i64 && time_of(e) < now
            })
            .map(|(e, _)| e.clone())
            .collect();
        let mut alerts: Vec<Alert> = try_evaluate_unsuppressed(rule, seen)
            .unwrap()
            .into_iter()
            .filter(|a| (start..end).contains(&alert_time(a)))
            .collect();
        sort_alerts(&mut alerts);
        out.push((now, alerts));
        now += p;
    }
    out
}

/// Every alert of the runs (no suppression), sorted.
fn scheduled(
    rule: &Rule,
    events: &[Event],
    arrival: &[i64],
    phase: i64,
    naive: bool,
) -> Vec<Alert> {
    let mut out: Vec<Alert> = runs(rule, events, arrival, phase, naive)
        .into_iter()
        .flat_map(|(_, a)| a)
        .collect();
    sort_alerts(&mut out);
    out
}

#[test]
fn scheduled_runs_raise_every_alert_of_one_run_exactly_once() {
    let rules = pack();
    let loader = detc::load::FsLoader::for_paths(&[PathBuf::from("rules")]);
    let mut checked = 0;
    let mut windowed = 0;
    let mut naive_lost = 0;
    for rule in &rules {
        let s = Schedule::of(rule);
        windowed += usize::from(rule.aggregation.is_some());
        for t in &rule.tests {
            let (events, _, _) = detc::eval::testing::events_of(rule, t, &loader).unwrap();
            if events.is_empty() {
                continue;
            }
            for (v, evs) in variants(&events, s.period).into_iter().enumerate() {
                let once = try_evaluate(rule, evs.clone()).unwrap();
                for pattern in 0..3 {
                    let arrival = arrivals(&evs, s.delay, pattern);
                    for phase in [0, 1, s.period as i64 / 3, s.period as i64 - 1] {
                        let runs = scheduled(rule, &evs, &arrival, phase, false);
                        assert_eq!(
                            runs, once,
                            "rule {} test `{}` variant {v} lateness pattern {pattern} phase {phase}s: scheduled runs differ from one run",
                            rule.name, t.name
                        );
                        checked += 1;
                        if scheduled(rule, &evs, &arrival, phase, true) != once {
                            naive_lost += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(windowed >= 3, "the pack has {windowed} windowed rules");
    assert!(checked > 100, "only {checked} comparisons");
    // The comparison has teeth: the naive schedule differs from one run on this data.
    assert!(
        naive_lost > 0,
        "a naive schedule never lost an alert: the data tests nothing"
    );
}

#[test]
fn reported_periods_tile_time() {
    // Runs one period apart report consecutive, aligned periods, whatever the phase.
    for (period, delay) in [(3600u64, 600u64), (600, 0), (86_400, 3600), (300, 299)] {
        let s = Schedule { period, delay };
        for phase in [0i64, 1, 17, period as i64 - 1] {
            let mut now = 1_763_596_800 + phase;
            let mut last = s.reported(now);
            assert_eq!(last.0 % period as i64, 0);
            assert!(
                last.1 <= now - delay as i64,
                "the period closed `delay` before the run"
            );
            assert!(
                last.0 >= now - s.lookback() as i64,
                "the lookback covers the period"
            );
            for _ in 0..50 {
                now += period as i64;
                let next = s.reported(now);
                assert_eq!(next.0, last.1, "periods are consecutive");
                last = next;
            }
        }
    }
}

/// How a target suppresses across scheduled runs (docs/TARGETS.md, "Alert grouping and
/// suppression"). Each run triggers `jitter(k)` after its scheduled time (its execution time,
/// below half a period); suppression lasts `for_secs` from a trigger.
#[derive(Clone, Copy, Debug)]
enum Model {
    /// Splunk, per-result alerting throttled by the keys' fields: a result whose keys were
    /// alerted on less than `for_secs` before this trigger is suppressed, in the same run too.
    SplunkByKey,
    /// Splunk without keys: one alert per run (digest mode, the first result), throttled whole.
    SplunkWhole,
    /// Sentinel: the rule does not run while suppressed; a run with results raises one alert
    /// (`SingleAlert`: the first result stands for it) and suppresses the rule.
    Sentinel,
}

fn jitter(k: usize, period: u64) -> i64 {
    // 0, 0.4P, 0.1P, 0.3P, 0.2P, ...: consecutive runs late by different amounts.
    ((k * 4) % 5) as i64 * period as i64 / 10
}

/// The alerts a target raises over the runs, sorted.
fn suppressed_runs(
    rule: &Rule,
    runs: Vec<(i64, Vec<Alert>)>,
    model: Model,
    for_secs: u64,
) -> Vec<Alert> {
    let s = Schedule::of(rule);
    let keys = &rule.suppress.as_ref().unwrap().keys;
    let mut until: BTreeMap<Vec<Option<Value>>, i64> = BTreeMap::new();
    let mut out = Vec::new();
    for (k, (now, alerts)) in runs.into_iter().enumerate() {
        let trigger = now + jitter(k, s.period);
        let key_of = |a: &Alert| -> Vec<Option<Value>> {
            keys.iter()
                .map(|f| a.group.get(f.name()).cloned())
                .collect()
        };
        match model {
            Model::SplunkByKey => {
                for a in alerts {
                    let key = key_of(&a);
                    if until.get(&key).is_some_and(|u| *u > trigger) {
                        continue;
                    }
                    until.insert(key, trigger + for_secs as i64);
                    out.push(a);
                }
            }
            Model::SplunkWhole | Model::Sentinel => {
                // Sentinel checks before running (at `now`), Splunk when the alert triggers.
                let at = if matches!(model, Model::Sentinel) {
                    now
                } else {
                    trigger
                };
                if until.get(&Vec::new()).is_some_and(|u| *u > at) {
                    continue;
                }
                if let Some(first) = alerts.into_iter().next() {
                    until.insert(Vec::new(), trigger + for_secs as i64);
                    out.push(first);
                }
            }
        }
    }
    sort_alerts(&mut out);
    out
}

/// Issue 14 point 1: with `suppress D [by keys]`, the scheduled runs of each target whose model
/// can express it raise exactly the alerts one run over all events raises with suppression. For
/// every rule of the pack given a suppression (1 and 3 periods; by its first group key or first
/// entity, and by nothing), over every test's events repeated in later periods (so suppression
/// has alerts to drop) with late arrivals and two run phases: Splunk by key, Splunk whole, and
/// Sentinel (without keys only: Sentinel silences the whole rule, E0919 refuses keys). The same
/// comparison with the targets' suppression set to exactly D, the naive setting, differs: runs
/// late by different amounts raise or drop the run D later at random.
#[test]
fn scheduled_runs_with_suppression_raise_what_one_run_raises() {
    let rules = pack();
    let loader = detc::load::FsLoader::for_paths(&[PathBuf::from("rules")]);
    let (mut checked, mut dropped, mut naive_differs) = (0, 0, 0);
    for base in &rules {
        let s = Schedule::of(base);
        let key = match &base.aggregation {
            Some(a) => a.group_by.first().cloned(),
            None => base
                .entities
                .iter()
                .map(|e| e.field.clone())
                .find(|f| !matches!(f, FieldRef::Aggregate(_))),
        };
        for t in &base.tests {
            let (events, _, _) = detc::eval::testing::events_of(base, t, &loader).unwrap();
            if events.is_empty() {
                continue;
            }
            // The events again 1, 2, 4 and 7 periods later (and 1.5 periods later, which moves
            // a burst across a window edge).
            let p = s.period as i64;
            let mut evs = Vec::new();
            for shift in [0, p, 2 * p, 3 * p + p / 2, 4 * p, 7 * p] {
                evs.extend(events.iter().map(|e| with_time(e, time_of(e) + shift)));
            }
            let arrival = arrivals(&evs, s.delay, 1);
            for n in [1u64, 3] {
                for keys in [key.iter().cloned().collect::<Vec<_>>(), Vec::new()] {
                    let mut rule = base.clone();
                    rule.suppress = Some(Suppress {
                        duration: n * s.period,
                        keys: keys.clone(),
                    });
                    let once = try_evaluate(&rule, evs.clone()).unwrap();
                    let all = try_evaluate_unsuppressed(&rule, evs.clone()).unwrap();
                    dropped += all.len() - once.len();
                    let models: &[Model] = if keys.is_empty() {
                        &[Model::SplunkWhole, Model::Sentinel]
                    } else {
                        &[Model::SplunkByKey]
                    };
                    for phase in [0, p / 3] {
                        let r = runs(&rule, &evs, &arrival, phase, false);
                        for &m in models {
                            let sup = s.suppression(n * s.period);
                            let got = suppressed_runs(&rule, r.clone(), m, sup);
                            assert_eq!(
                                got, once,
                                "rule {} test `{}` suppress {n} periods by {keys:?}, {m:?}, phase {phase}s: scheduled runs differ from one run",
                                base.name, t.name
                            );
                            checked += 1;
                            if suppressed_runs(&rule, r.clone(), m, n * s.period) != once {
                                naive_differs += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} comparisons");
    assert!(
        dropped > 100,
        "suppression dropped only {dropped} alerts: the data tests nothing"
    );
    assert!(
        naive_differs > 0,
        "suppressing for exactly D never differed: the jitter tests nothing"
    );
}

/// What the deployed artefacts say for a suppressed rule, and where a target refuses: Splunk
/// throttles by the keys' result fields for D - P/2 (one alert per run without keys); Sentinel
/// enables suppression for D - P/2 in whole minutes with one alert per run, and refuses keys;
/// Defender refuses (E0919), Sigma warns (W0910).
#[test]
fn suppression_reaches_each_target_or_is_refused_by_name() {
    let text = |by: &str| {
        format!(
            "rule smtp_out {{\n  id \"4f2c7f7e-3d0a-4f0e-9b8a-5a1c2d3e4f50\"\n  title \"t\"\n  severity low\n  source network_connection\n  where remote.port == 25\n  suppress 3h{by}\n}}\n"
        )
    };
    let profiles = detc::targets::load_profiles().unwrap();
    for (by, keyed) in [(" by host", true), ("", false)] {
        let pack = crate::support::rules::checked(&[detc::SourceFile {
            path: "r.detc".into(),
            text: text(by),
        }]);
        let d = detc::targets::deploy::compile_pack(&pack, &profiles);
        let conf = d
            .outputs
            .iter()
            .find(|e| e.file_name == "savedsearches.conf")
            .expect("a Splunk stanza");
        // 3h - 30m (half the default hourly period).
        assert!(
            conf.text
                .contains("\nalert.suppress = 1\nalert.suppress.period = 9000s\n"),
            "{}",
            conf.text
        );
        assert_eq!(
            conf.text.contains("\nalert.suppress.fields = Computer\n"),
            keyed,
            "{}",
            conf.text
        );
        assert!(conf.text.contains(if keyed {
            "\nalert.digest_mode = 0\n"
        } else {
            "\nalert.digest_mode = 1\n"
        }));
        let skipped: Vec<(&str, &str)> = d
            .skipped
            .iter()
            .map(|s| (s.target.as_str(), s.code.as_str()))
            .collect();
        assert!(
            skipped.contains(&(deploy::DEFENDER_DIR, "E0919")),
            "{skipped:?}"
        );
        assert_eq!(
            skipped.contains(&(deploy::SENTINEL_DIR, "E0919")),
            keyed,
            "{skipped:?}"
        );
        if !keyed {
            let arm = d
                .outputs
                .iter()
                .find(|e| e.target == deploy::SENTINEL_ARM_DIR)
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&arm.text).unwrap();
            let p = &v["resources"][0]["properties"];
            assert_eq!(p["suppressionEnabled"], serde_json::json!(true));
            assert_eq!(p["suppressionDuration"], serde_json::json!("PT2H30M"));
            assert_eq!(
                p["eventGroupingSettings"]["aggregationKind"],
                serde_json::json!("SingleAlert")
            );
            let yaml = d
                .outputs
                .iter()
                .find(|e| e.target == deploy::SENTINEL_DIR)
                .unwrap();
            let y: serde_yaml::Value = serde_yaml::from_str(&yaml.text).unwrap();
            assert_eq!(y["suppressionEnabled"], serde_yaml::Value::Bool(true));
            assert_eq!(y["suppressionDuration"].as_str(), Some("PT2H30M"));
            assert_eq!(
                y["eventGroupingSettings"]["aggregationKind"].as_str(),
                Some("SingleAlert")
            );
        }
        let sigma = profiles.iter().find(|p| p.name == "sigma").unwrap();
        let e = detc::targets::compile_rule(&pack.rules[0], sigma).unwrap();
        assert!(
            e.warnings.iter().any(|w| w.code.as_str() == "W0910"),
            "{:?}",
            e.warnings
        );
    }
}

/// The evaluator's suppression does not depend on the order events come in, and `detc run`'s
/// stream (alerts merged from workers, suppression applied per rule) raises what `try_evaluate`
/// raises: host A at 10:05 (raised, its period 10:00 silences A until 12:00), 10:40 and 11:10
/// (suppressed), 12:10 (raised), 12:30 (suppressed); host B at 10:50 (raised).
#[test]
fn suppression_is_the_same_whatever_the_event_order_and_in_detc_run() {
    let text = "rule smtp_out {\n  id \"4f2c7f7e-3d0a-4f0e-9b8a-5a1c2d3e4f50\"\n  title \"t\"\n  severity low\n  source network_connection\n  where remote.port == 25\n  suppress 2h by host\n}\n";
    let pack = crate::support::rules::checked(&[detc::SourceFile {
        path: "r.detc".into(),
        text: text.into(),
    }]);
    let rule = &pack.rules[0];
    let line = |h: &str, t: &str| {
        format!(
            r#"{{"EventID":3,"UtcTime":"2026-11-20 {t}:00.000","Hostname":"{h}","User":"CORP\\x","Image":"C:\\x\\y.exe","Initiated":"true","Protocol":"tcp","SourceIp":"10.0.0.2","SourcePort":"5000","DestinationIp":"93.184.216.34","DestinationPort":"25"}}"#
        )
    };
    let lines: Vec<String> = [
        ("A", "12:30"),
        ("A", "10:05"),
        ("A", "10:40"),
        ("B", "10:50"),
        ("A", "11:10"),
        ("A", "12:10"),
    ]
    .iter()
    .map(|(h, t)| line(h, t))
    .collect();
    let dir = std::env::temp_dir().join(format!("detc-suppress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut results = Vec::new();
    for k in 0..lines.len() {
        let mut l = lines.clone();
        l.rotate_left(k);
        if k % 2 == 1 {
            l.reverse();
        }
        let path = dir.join(format!("ev{k}.jsonl"));
        std::fs::write(&path, l.join("\n") + "\n").unwrap();
        let (events, _) = detc::eval::run::read_events(&path, None).unwrap();
        let once = try_evaluate(rule, events).unwrap();
        let got: Vec<(String, String)> = once
            .iter()
            .map(|a| {
                (
                    format!("{:?}", a.group["host"]),
                    format!("{:?}", a.group["time"]),
                )
            })
            .collect();
        let run = detc::eval::run::run_files(
            &pack.rules,
            std::slice::from_ref(&path),
            &detc::eval::run::RunOptions::default(),
        )
        .unwrap();
        assert_eq!(run.alerts, once, "detc run differs from try_evaluate");
        assert_eq!(run.summary.alerts, 3, "the summary counts raised alerts");
        results.push(got);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    assert_eq!(results[0].len(), 3, "{:?}", results[0]);
}
