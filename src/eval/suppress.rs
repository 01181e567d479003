//! A rule's `suppress D by k, ...` (docs/SEMANTICS.md, "Suppression"): after an alert, the
//! rule's alerts with the same key values are not raised for `D`.
//!
//! Suppression is counted in the rule's run periods (the window, or the schedule's `every`), as
//! every target that suppresses does it per scheduled run: an alert's *period* is its window's
//! start, or for a rule without aggregation the start of the period holding its event's time.
//! Alerts are taken in the order (period, [`super::alert_order`]), whatever order the events
//! came in; an alert is raised unless a raised alert with the same key values has a period `p0`
//! with `p0 <= p < p0 + D` (so within one period only the first alert of a key is raised). A
//! missing key value is a value: alerts missing it share it. Without keys every alert of the
//! rule has the same key.

use super::{alert_order, time, Alert};
use crate::ir::{Rule, Value};
use std::collections::BTreeMap;

/// The alerts of `rule` its suppression keeps, in their given order; all of them for a rule
/// without `suppress`. `period` is the rule's run period in seconds
/// (`targets::deploy::Schedule::of(rule).period`).
pub fn apply(rule: &Rule, period: u64, alerts: Vec<Alert>) -> Vec<Alert> {
    let Some(s) = &rule.suppress else {
        return alerts;
    };
    let p = period.max(1) as i64;
    let start = |a: &Alert| -> Option<i64> {
        match &a.window_start {
            Some(w) => time::parse(w).ok(),
            None => match a.group.get("time") {
                Some(Value::Timestamp(t)) => Some(time::window_start(*t, p as u64)),
                _ => None,
            },
        }
    };
    let starts: Vec<Option<i64>> = alerts.iter().map(start).collect();
    let mut order: Vec<usize> = (0..alerts.len()).collect();
    order.sort_by(|&i, &j| {
        starts[i]
            .cmp(&starts[j])
            .then_with(|| alert_order(&alerts[i], &alerts[j]))
    });
    let mut until: BTreeMap<Vec<Option<&Value>>, i64> = BTreeMap::new();
    let mut keep = vec![false; alerts.len()];
    let d = i64::try_from(s.duration).unwrap_or(i64::MAX);
    for i in order {
        let key: Vec<Option<&Value>> = s
            .keys
            .iter()
            .map(|k| alerts[i].group.get(k.name()))
            .collect();
        let at = starts[i];
        // An alert without a time (none is built so) is suppressed by nothing.
        let open = match until.get(&key) {
            Some(u) => at.is_none_or(|t| t >= *u),
            None => true,
        };
        if open {
            keep[i] = true;
            if let Some(t) = at {
                until.insert(key, t.saturating_add(d));
            }
        }
    }
    alerts
        .into_iter()
        .zip(keep)
        .filter_map(|(a, k)| k.then_some(a))
        .collect()
}
