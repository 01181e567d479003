//! Issue 14, point 5: the derived schedule never loses or doubles an alert. For every rule of
//! the pack (windowed or not) and every test's events, moved so that bursts straddle window and
//! run boundaries, each event arriving up to the rule's ingestion delay late: scheduled runs
//! (at several phases) that each see only what has arrived and report only the period
//! `Schedule::reported` gives, together raise exactly the alerts of one run over all events.
//! A naive schedule (every window, over the last window, no delay) is shown to lose alerts on
//! the same data, so the comparison can fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use detc::eval::{sort_alerts, time, try_evaluate, try_evaluate_unsuppressed, Alert, Event};
use detc::ir::{Rule, Value};
use detc::targets::deploy::Schedule;
use std::path::PathBuf;

fn pack() -> Vec<Rule> {
    let paths = vec![PathBuf::from("rules")];
    let files = detc::load::load_sources(&paths).unwrap();
    let fe = detc::frontend_with(&files, &detc::load::FsLoader::for_paths(&paths));
    fe.pack.expect("the pack checks").rules
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
