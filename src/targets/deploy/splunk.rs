//! Splunk scheduled searches: one `savedsearches.conf` stanza per rule and SPL target, with
//! Enterprise Security's notable and risk actions from the rule's entities.
//!
//! Keys and value shapes are those of Splunk's `savedsearches.conf.spec` (search, enableSched,
//! cron_schedule, realtime_schedule, dispatch.earliest_time / latest_time, counttype, relation,
//! quantity, alert.track, alert.digest_mode, alert.severity, description) and of Enterprise
//! Security's `alert_actions.conf` (action.notable.param.*, action.risk.param.*);
//! tests/it/deploy_artefacts.rs checks every key and value against that list.
//!
//! The schedule: a run at cron time `now` (minute-of-day `delay + k * period`) reads
//! `[now - period - delay, now - delay)`, which is the period `deploy::schedule` reports since
//! `now - delay` is a period boundary. `realtime_schedule = 0` (continuous scheduling) makes the
//! scheduler run every period even when a run is late, each over its own scheduled time, so none
//! is skipped. Cron fields are in the search head's time zone: periods of an hour or less align in
//! every zone whose offset is whole hours; longer periods need the search head in UTC.

use super::schedule::Schedule;
use crate::ir::{EntityKind, FieldRef, Level, Rule};
use crate::targets::profile::{Profile, SourceOptions, SplSource};

/// Cron for the run times `delay + k * period` (minutes of the day), or why there is none: the
/// period must divide a day in whole minutes.
pub fn cron(s: &Schedule) -> Result<String, String> {
    let p = s.period / 60;
    let d = s.delay.div_ceil(60);
    if !s.period.is_multiple_of(60) || p == 0 || 1440 % p != 0 {
        return Err(format!(
            "a run every {}: a cron schedule runs periods that divide a day in whole minutes",
            super::duration_text(s.period)
        ));
    }
    if p < 60 {
        let mut mins: Vec<u64> = (0..60 / p).map(|k| (d + k * p) % 60).collect();
        mins.sort_unstable();
        let mins: Vec<String> = mins.iter().map(u64::to_string).collect();
        Ok(format!("{} * * * *", mins.join(",")))
    } else {
        let h = p / 60;
        if h == 1 {
            return Ok(format!("{} * * * *", d % 60));
        }
        let mut hours: Vec<u64> = (0..24 / h).map(|k| (d / 60 + k * h) % 24).collect();
        hours.sort_unstable();
        let hours: Vec<String> = hours.iter().map(u64::to_string).collect();
        Ok(format!("{} {} * * *", d % 60, hours.join(",")))
    }
}

/// ES notable severities.
fn notable_severity(l: Level) -> &'static str {
    match l {
        Level::Informational => "informational",
        Level::Low => "low",
        Level::Medium => "medium",
        Level::High => "high",
        Level::Critical => "critical",
    }
}

/// `alert.severity`: 1 debug, 2 info, 3 warn, 4 error, 5 severe, 6 fatal.
fn alert_severity(l: Level) -> u8 {
    match l {
        Level::Informational => 2,
        Level::Low => 3,
        Level::Medium => 4,
        Level::High => 5,
        Level::Critical => 6,
    }
}

/// ES risk score per severity (ES's own scale: 20 low .. 100 critical).
pub fn risk_score(l: Level) -> u32 {
    match l {
        Level::Informational => 10,
        Level::Low => 20,
        Level::Medium => 40,
        Level::High => 60,
        Level::Critical => 80,
    }
}

/// The result field of the search holding a catalogue field: its column (with the data model
/// dataset's prefix under tstats: `All_Traffic.src_ip`), for a field mapped to one column as it
/// is; `None` for a computed or derived value, which has no field a saved search can name.
fn result_field(rule: &Rule, profile: &Profile, f: &FieldRef) -> Option<String> {
    let src = crate::targets::driver::source_entry(rule, rule.source, &rule.span, profile).ok()?;
    let FieldRef::Field(n) = f else {
        return None;
    };
    let m = src.fields.get(n)?;
    if m.derive.is_some() || !m.join.is_empty() {
        return None;
    }
    // tstats names a data model field with its dataset's prefix (`All_Traffic.src_ip`).
    let prefix = match &src.options {
        SourceOptions::Spl(SplSource::Tstats { prefix, .. }) => prefix.as_str(),
        _ => "",
    };
    Some(format!("{prefix}{}", m.column))
}

/// Risk objects: (result field, ES risk object type) for every entity held by a column of its
/// own (a catalogue field mapped to one column; a computed or derived value has no field an ES
/// risk rule can name).
pub fn risk_objects(rule: &Rule, profile: &Profile) -> Vec<(String, &'static str)> {
    rule.entities
        .iter()
        .filter_map(|e| {
            let ty = match e.kind {
                EntityKind::Host => "system",
                EntityKind::Account => "user",
                _ => "other",
            };
            Some((result_field(rule, profile, &e.field)?, ty))
        })
        .collect()
}

/// Throttling for a rule's `suppress` (savedsearches.conf.spec: `alert.suppress`,
/// `alert.suppress.period`, `alert.suppress.fields`; Splunk's "Throttle alerts": per-result
/// alerting suppresses the later results with the same values of the fields, in the same run
/// and the next ones, for the period). With keys: an alert per result, throttled by the keys'
/// result fields; without: one alert per run (`alert.digest_mode = 1`), throttled as a whole.
/// The period is [`Schedule::suppression`]. Err: a key without a result field of its own.
pub struct Throttle {
    pub fields: Vec<String>,
    pub period: u64,
}

pub fn throttle(
    rule: &Rule,
    profile: &Profile,
    s: &Schedule,
    sup: &crate::ir::Suppress,
) -> Result<Throttle, String> {
    let fields = sup
        .keys
        .iter()
        .map(|k| {
            result_field(rule, profile, k).ok_or_else(|| {
                format!(
                    "suppression key `{}` has no result field of its own in {} (a computed or derived value): Splunk throttles by result fields",
                    k.name(),
                    profile.name
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Throttle {
        fields,
        period: s.suppression(sup.duration),
    })
}

/// One stanza. `search` holds the query's lines joined by a backslash and a line break (a
/// `.conf` value continues on the next line after a trailing backslash); a query line that ends
/// in a backslash itself cannot be written so (`None`).
pub fn stanza(
    rule: &Rule,
    target: &str,
    query: &str,
    s: &Schedule,
    cron: &str,
    risk: &[(String, &'static str)],
    throttle: Option<&Throttle>,
) -> Option<String> {
    let lines: Vec<&str> = query.trim_end().lines().collect();
    if lines.iter().any(|l| l.ends_with('\\')) {
        return None;
    }
    let one = |t: &str| crate::targets::one_line(t);
    let lvl = rule.meta.severity;
    let mut out = format!("[detc - {} - {target}]\n", rule.name);
    let mut kv = |k: &str, v: String| out.push_str(&format!("{k} = {v}\n"));
    kv("description", one(&rule.meta.title));
    kv("search", lines.join(" \\\n"));
    kv("enableSched", "1".into());
    kv("cron_schedule", cron.to_string());
    kv("realtime_schedule", "0".into());
    kv(
        "dispatch.earliest_time",
        format!("-{}m", (s.period + s.delay.div_ceil(60) * 60) / 60),
    );
    kv(
        "dispatch.latest_time",
        format!("-{}m", s.delay.div_ceil(60)),
    );
    kv("counttype", "number of events".into());
    kv("relation", "greater than".into());
    kv("quantity", "0".into());
    kv("alert.track", "1".into());
    match throttle {
        // The rule's `suppress` ([`throttle`]).
        Some(t) => {
            kv(
                "alert.digest_mode",
                if t.fields.is_empty() { "1" } else { "0" }.into(),
            );
            kv("alert.suppress", "1".into());
            kv("alert.suppress.period", format!("{}s", t.period));
            if !t.fields.is_empty() {
                kv("alert.suppress.fields", t.fields.join(","));
            }
        }
        // Throttling off, said explicitly: without `suppress` it would silence for a period
        // every result with the same field values, so a second group of the same host in one
        // run, or the next period's alert, would be lost; each run reports its own period
        // exactly once already (schedule.rs). Grouping notables is Enterprise Security's
        // business, not the search's.
        None => {
            kv("alert.digest_mode", "0".into());
            kv("alert.suppress", "0".into());
        }
    }
    kv("alert.severity", alert_severity(lvl).to_string());
    kv("action.notable", "1".into());
    kv("action.notable.param.rule_title", one(&rule.meta.title));
    kv(
        "action.notable.param.rule_description",
        one(rule.meta.description.as_deref().unwrap_or(&rule.meta.title)),
    );
    kv(
        "action.notable.param.severity",
        notable_severity(lvl).into(),
    );
    kv("action.notable.param.security_domain", "network".into());
    if !risk.is_empty() {
        let objs: Vec<serde_json::Value> = risk
            .iter()
            .map(|(f, t)| {
                serde_json::json!({"risk_object_field": f, "risk_object_type": t, "risk_score": risk_score(lvl)})
            })
            .collect();
        kv("action.risk", "1".into());
        kv(
            "action.risk.param._risk",
            serde_json::Value::Array(objs).to_string(),
        );
        kv("action.risk.param._risk_message", one(&rule.meta.title));
    }
    Some(out)
}
