//! An independent Sigma engine for the differential tests: crates.io `rsigma-parser` /
//! `rsigma-eval` 0.23 (dev-dependencies) parse a Sigma YAML text (detection rules and correlation
//! rules, multi-document) and evaluate it over JSON events, in time order.
//!
//! What rsigma does, read from its source (rsigma-eval 0.23.0, `correlation/window.rs`,
//! `correlation_engine/mod.rs`), and what this adapter does about it:
//! - Timestamps are whole epoch seconds (`process_event_at`); sub-second parts are dropped here.
//! - A correlation's `timespan` is a SLIDING window by default: before an event at `t` is counted,
//!   entries older than `t - timespan` are evicted (an entry at exactly `t - timespan` stays), so a
//!   window is the closed interval `[t - timespan, t]`. rsigma also has `window: tumbling` (epoch
//!   aligned buckets `[k*T, (k+1)*T)`, the same alignment as KQL `bin()` and Splunk
//!   `bin span=`), set in the YAML (`window:` in the correlation block, or the custom attribute
//!   `rsigma.window`) or forced here with [`Window::Tumbling`] so that a Sigma file emitted for
//!   pySigma (which knows no `window:`) is compared like with like against tumbling engines.
//! - With the default action (`alert`) a correlation fires on EVERY event that leaves the
//!   condition true: 5 events with `gte: 3` fire 3 times (values 3, 4, 5).
//!   [`collapse_tumbling`] turns that into one alert per (rule, group, bucket) carrying the last
//!   value, which for monotone conditions (`gt`/`gte` on counts and non-negative sums) is the
//!   bucket's total: what a `summarize ... by bin(time)` returns.
//! - Group-by values are rendered as strings by rsigma; a group-by field missing from the event
//!   is left out of `group` (rsigma keeps `None` in the key, so such events still group together).
//! - Detection rules referenced by a correlation still produce detection matches
//!   (`emit_detections` defaults to true).

use rsigma_eval::{CorrelationConfig, CorrelationEngine, JsonEvent};
use rsigma_parser::WindowMode;
use serde_json::Value;

/// How to treat correlation windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// As the YAML says (rsigma's default: sliding).
    AsWritten,
    /// Force every correlation to rsigma's epoch-aligned tumbling windows.
    Tumbling,
}

/// A detection rule that matched one event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DetectionHit {
    pub rule_id: Option<String>,
    pub rule_title: String,
    /// Index of the event in the caller's slice (not in time order).
    pub event_index: usize,
    /// The event's timestamp, epoch seconds.
    pub time: i64,
}

/// A correlation rule that fired.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub struct CorrelationHit {
    pub rule_id: Option<String>,
    pub rule_title: String,
    /// `event_count`, `value_count`, `value_sum`, ...
    pub kind: String,
    /// Group-by field -> value (rsigma's string rendering), in the rule's group-by order.
    pub group: Vec<(String, String)>,
    /// The aggregate that satisfied the condition (count, distinct count, sum...).
    pub value: f64,
    pub timespan_secs: u64,
    /// Time of the event that made it fire, epoch seconds.
    pub time: i64,
    /// Index of that event in the caller's slice. (An event matched by several base rules of
    /// one correlation is fed once per rule, so it may fire more than once.)
    pub event_index: usize,
    /// Start of the epoch-aligned bucket of `time` (`time - time mod timespan`): the window start
    /// under tumbling windows; informational under sliding ones.
    pub bucket_start: i64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RsigmaOutput {
    pub detections: Vec<DetectionHit>,
    pub correlations: Vec<CorrelationHit>,
}

/// Parses `yaml` (every document must parse: a partial parse is an error) and evaluates it over
/// `events`, sorted by `timestamp_field` (stable, so equal times keep the caller's order). The
/// timestamp is an RFC 3339 string (`2026-01-01T00:00:00Z`, `...+02:00`, fractional seconds
/// allowed) or an integer of epoch seconds; an event without one is an error.
pub fn rsigma_eval(
    yaml: &str,
    events: &[Value],
    timestamp_field: &str,
    window: Window,
) -> Result<RsigmaOutput, String> {
    rsigma_eval_routed(yaml, events, timestamp_field, window, false)
}

/// [`rsigma_eval`]; with `by_logsource`, each event is given only to the rules whose logsource
/// it does not contradict, read from its own `category` / `product` / `service` fields
/// (rsigma's `LogSourceExtractor`): what a SIEM's Sigma pipeline does by reading each rule from
/// its logsource's table, so that a process-creation rule never sees a network event.
pub fn rsigma_eval_routed(
    yaml: &str,
    events: &[Value],
    timestamp_field: &str,
    window: Window,
    by_logsource: bool,
) -> Result<RsigmaOutput, String> {
    let mut collection =
        rsigma_parser::parse_sigma_yaml(yaml).map_err(|e| format!("rsigma-parser: {e}"))?;
    if !collection.errors.is_empty() {
        return Err(format!(
            "rsigma-parser: {} document(s) did not parse: {}",
            collection.errors.len(),
            collection.errors.join("; ")
        ));
    }
    if window == Window::Tumbling {
        for corr in &mut collection.correlations {
            corr.window = WindowMode::Tumbling;
        }
    }
    let mut engine = CorrelationEngine::new(CorrelationConfig::default());
    if by_logsource {
        engine.set_logsource_extractor(Some(rsigma_eval::LogSourceExtractor::new()));
    }
    engine
        .add_collection(&collection)
        .map_err(|e| format!("rsigma-eval: {e}"))?;

    let mut timed = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        let t = ev
            .get(timestamp_field)
            .ok_or_else(|| format!("event {i}: no {timestamp_field} field"))
            .and_then(|v| epoch_seconds(v).map_err(|e| format!("event {i}: {e}")))?;
        timed.push((t, i));
    }
    timed.sort_by_key(|&(t, i)| (t, i));

    let mut out = RsigmaOutput::default();
    for (t, i) in timed {
        let results = engine.process_event_at(&JsonEvent::borrow(&events[i]), t);
        for r in results {
            if let Some(c) = r.as_correlation() {
                let span = c.timespan_secs as i64;
                out.correlations.push(CorrelationHit {
                    rule_id: r.header.rule_id.clone(),
                    rule_title: r.header.rule_title.clone(),
                    kind: c.correlation_type.as_str().to_string(),
                    group: c.group_key.clone(),
                    value: c.aggregated_value,
                    timespan_secs: c.timespan_secs,
                    time: t,
                    event_index: i,
                    bucket_start: if span > 0 { t - t.rem_euclid(span) } else { t },
                });
            } else {
                out.detections.push(DetectionHit {
                    rule_id: r.header.rule_id.clone(),
                    rule_title: r.header.rule_title.clone(),
                    event_index: i,
                    time: t,
                });
            }
        }
    }
    Ok(out)
}

/// One alert per (rule, group, bucket): the last firing of each, in a stable order. Meaningful
/// under [`Window::Tumbling`] (see the module notes for why the last value is the bucket total).
pub fn collapse_tumbling(hits: &[CorrelationHit]) -> Vec<CorrelationHit> {
    let mut last: std::collections::BTreeMap<_, CorrelationHit> = std::collections::BTreeMap::new();
    for h in hits {
        let key = (
            h.rule_id.clone(),
            h.rule_title.clone(),
            h.group.clone(),
            h.bucket_start,
        );
        let replace = last.get(&key).is_none_or(|prev| h.time >= prev.time);
        if replace {
            last.insert(key, h.clone());
        }
    }
    last.into_values().collect()
}

/// RFC 3339 text or integer epoch seconds -> epoch seconds (fraction dropped, offset applied),
/// with the crate's one civil-time parser (`detc::ir::time::parse_civil`).
pub fn epoch_seconds(v: &Value) -> Result<i64, String> {
    if let Some(n) = v.as_i64() {
        return Ok(n);
    }
    let s = v
        .as_str()
        .ok_or_else(|| format!("timestamp {v} is neither a string nor an integer"))?;
    detc::ir::time::parse_civil(s).ok_or_else(|| {
        format!("timestamp {s:?} is not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.f](Z|+HH:MM))")
    })
}
