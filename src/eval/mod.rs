//! The native evaluator: event readers, input schemas, matcher and aggregator over the IR,
//! and the rule-test runner. Reads only the IR; never imports `targets`.
//!
//! | piece | module |
//! |---|---|
//! | operator semantics (one definition per `Op`, on the value rules of `crate::ir::semantics`) | [`ops`] |
//! | timestamps and tumbling windows (shared with the checker: `crate::ir::time`) | [`time`] |
//! | matcher + aggregator of one rule | [`engine`] |
//! | correlation of several events (bounded state per key) | [`correlate`] |
//! | input schemas (raw fields -> catalogue) | [`schema`] |
//! | readers (JSON lines, CSV, Zeek TSV/JSON, `.gz`) | [`read`] |
//! | the full path's flat scanner of a JSON line (serde_json where it gives up) | [`jsonscan`] |
//! | EVTX exported to JSON (pretty-printed documents) as flat JSON lines | [`evtx_json`] |
//! | Linux audit logs (auditd's raw records) as one flat JSON line per event | [`auditd`] |
//! | Zeek files.log joined into smtp.log through `fuids` (one record per mail transaction) | [`mailjoin`] |
//! | sound raw-byte prefilter derived from the IR | [`prefilter`] |
//! | the hasher of group keys, `distinct` sets and lists (seeded per run) | [`fasthash`] |
//! | rules indexed by a discriminating literal (many rules per file) | [`index`] |
//! | running a pack over files (threads, summary, bad lines) | [`run`] |
//! | alerts in bounded memory (sorted runs spilled to temporary files, merged) | [`spill`] |
//! | rule tests (`detc test`) | [`testing`] |
//!
//! The entry over abstract events is [`try_evaluate`]: catalogue field name -> typed value, absent
//! means missing. Everything else (files, schemas, threads) feeds the same [`engine`].

use crate::ir::{Level, Rule, Value};
use serde::Serialize;
use std::collections::BTreeMap;

pub mod auditd;
pub mod correlate;
pub mod engine;
pub mod evtx_json;
pub mod fasthash;
pub mod index;
mod jsonscan;
pub mod mailjoin;
pub mod ops;
pub mod osquery;
pub mod prefilter;
pub mod read;
mod rowmask;
pub mod run;
pub mod schema;
pub mod shared;
pub mod spill;
pub mod suppress;
pub mod testing;
/// Timestamps and windows live in the IR (shared with the checker); re-exported for callers.
pub use crate::ir::time;

/// An abstract event: catalogue field name (`remote.port`) -> typed value. An absent key, or an
/// empty string, is a missing value.
pub type Event = BTreeMap<String, Value>;

/// One alert. Serialized (for `detc run`) with plain JSON values: strings, numbers, IPs as
/// strings, timestamps as RFC 3339 UTC strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Level,
    pub techniques: Vec<String>,
    pub analytics: Vec<String>,
    /// Start of the tumbling window (UTC, RFC 3339); `None` for rules without aggregation.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// Aggregating rules: the group-by keys (a missing key is absent). Rules without
    /// aggregation: every catalogue field of the matching event plus its computed fields.
    #[serde(serialize_with = "plain_map")]
    pub group: BTreeMap<String, Value>,
    /// Aggregate values by name (an aggregate with no value, e.g. `sum` over only missing
    /// values, is absent). Empty for rules without aggregation.
    #[serde(serialize_with = "plain_map")]
    pub aggregates: BTreeMap<String, Value>,
    /// Number of matching events behind the alert (1 without aggregation).
    pub events: u64,
}

/// A value as plain JSON: what people and `jq` expect to read.
pub fn plain_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Str(s) | Value::Enum(s) => serde_json::Value::String(s.clone()),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Ip(ip) => serde_json::Value::String(ip.to_string()),
        Value::Timestamp(t) => serde_json::Value::String(time::format(*t)),
    }
}

/// [`plain_json`] written straight to the serializer: no `serde_json::Value` (and no copy of a
/// string) per field of every alert.
struct Plain<'a>(&'a Value);

impl Serialize for Plain<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Str(x) | Value::Enum(x) => s.serialize_str(x),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Ip(ip) => s.collect_str(ip),
            Value::Timestamp(t) => s.serialize_str(&time::format(*t)),
        }
    }
}

fn plain_map<S: serde::Serializer>(m: &BTreeMap<String, Value>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        map.serialize_entry(k, &Plain(v))?;
    }
    map.end()
}

/// Deterministic order: rule id, window start, group keys, aggregates, events.
pub fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by(alert_order);
}

/// The order of [`sort_alerts`]. Alerts equal under it print the same (same rule, same values).
pub fn alert_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    a.rule_id
        .cmp(&b.rule_id)
        .then_with(|| a.window_start.cmp(&b.window_start))
        .then_with(|| a.group.cmp(&b.group))
        .then_with(|| a.aggregates.cmp(&b.aggregates))
        .then_with(|| a.events.cmp(&b.events))
}

/// Evaluates `rule` over abstract events and returns its alerts, sorted, after its `suppress`
/// clause ([`suppress::apply`]); or the error of a rule the evaluator cannot prepare (only an
/// invalid regex, which the checker already rejects), never "no alerts" in its place.
pub fn try_evaluate(
    rule: &Rule,
    events: impl IntoIterator<Item = Event>,
) -> Result<Vec<Alert>, crate::diag::Diagnostic> {
    let alerts = try_evaluate_unsuppressed(rule, events)?;
    Ok(suppress::apply(rule, run_period(rule), alerts))
}

/// [`try_evaluate`] without the rule's suppression: every alert the rule's query returns, as one
/// scheduled run of a target sees them before the target suppresses any.
pub fn try_evaluate_unsuppressed(
    rule: &Rule,
    events: impl IntoIterator<Item = Event>,
) -> Result<Vec<Alert>, crate::diag::Diagnostic> {
    let c = engine::CompiledRule::new(rule)?;
    let mut st = engine::RuleState::default();
    for ev in events {
        c.feed(&ev, &mut st);
    }
    Ok(c.finish(st))
}

/// The period a rule's suppression is counted in: its scheduled run interval.
pub fn run_period(rule: &Rule) -> u64 {
    crate::targets::deploy::Schedule::of(rule).period
}

/// A fixed-seed pseudo-random source for tests (a 64-bit LCG, high bits): `next(n)` is below
/// `n`. Random inputs that are the same on every run.
#[cfg(test)]
pub(crate) fn test_random(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The alert writer's values print byte for byte as [`plain_json`] does (escapes, numbers,
    /// IPv4 and IPv6, timestamps).
    #[test]
    fn plain_values_print_as_plain_json() {
        let values = [
            Value::Str("C:\\Users\\\"q\"\n\t\u{1}é😀".into()),
            Value::Enum("outbound".into()),
            Value::Str(String::new()),
            Value::Int(-42),
            Value::Int(i64::MAX),
            Value::Ip(
                "10.1.2.3"
                    .parse()
                    .unwrap_or(std::net::IpAddr::from([0u8; 4])),
            ),
            Value::Ip(
                "2001:db8::1"
                    .parse()
                    .unwrap_or(std::net::IpAddr::from([0u8; 4])),
            ),
            Value::Timestamp(1_764_000_000),
            Value::Timestamp(-1),
        ];
        for v in &values {
            let want = serde_json::to_string(&plain_json(v)).ok();
            assert_eq!(serde_json::to_string(&Plain(v)).ok(), want, "{v:?}");
            assert!(want.is_some());
        }
    }
}
