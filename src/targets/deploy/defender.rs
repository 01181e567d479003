//! Microsoft Defender XDR custom detection rules, as the Microsoft Graph `detectionRule` body
//! (`POST /security/rules/detectionRules`, v1.0), from a rule's kql-defender query.
//!
//! A custom detection's query must return `Timestamp`, `ReportId` and `DeviceId` for device
//! tables (Defender XDR, "Create custom detection rules", required columns); an aggregating
//! query keeps those of each group's latest event (`arg_max(Timestamp, ReportId, DeviceId)` at
//! every summarize level). The rule runs every period of its schedule: `schedule.frequency`
//! takes PT1H, PT3H, PT12H or P1D (Graph `ruleSchedule`; `0`, continuous, has no period to
//! report); the service reads back 4 hours, 12 hours, 48 hours and 30 days respectively, which
//! holds the derived `2 * period + delay` for every delay up to 2 hours.

use super::schedule::Schedule;
use crate::ir::{Level, Rule};
use serde_json::json;

/// The columns every result row must carry.
pub const REQUIRED: &[&str] = &["Timestamp", "ReportId", "DeviceId"];

/// (period in seconds, `frequency` value, how far back the service reads in seconds).
const FREQUENCIES: &[(u64, &str, u64)] = &[
    (3600, "PT1H", 4 * 3600),
    (3 * 3600, "PT3H", 12 * 3600),
    (12 * 3600, "PT12H", 48 * 3600),
    (86_400, "P1D", 30 * 86_400),
];

/// The Graph `frequency` of a schedule, or why the service cannot run it.
pub fn frequency(s: &Schedule) -> Result<&'static str, String> {
    match FREQUENCIES.iter().find(|(p, _, _)| *p == s.period) {
        Some((_, f, back)) if s.lookback() <= *back => Ok(f),
        Some((_, f, back)) => Err(format!(
            "a run every {f} must read back {}s, more than the {back}s Defender XDR reads",
            s.lookback()
        )),
        None => Err(format!(
            "a run every {}: Defender XDR custom detections run every 1h, 3h, 12h or 24h",
            super::duration_text(s.period)
        )),
    }
}

/// Graph `alertSeverity`: there is no critical, which becomes high.
pub fn severity(l: Level) -> &'static str {
    match l {
        Level::Informational => "informational",
        Level::Low => "low",
        Level::Medium => "medium",
        Level::High | Level::Critical => "high",
    }
}

/// The `detectionRule` body. Impacted assets: the device of every result row (its `DeviceId`,
/// which the query always returns); the rule's `host` entity is that device. Other entity
/// kinds have no Defender column of their own in the results and are not mapped.
pub fn rule_json(rule: &Rule, query: &str, frequency: &str) -> String {
    let category = super::sentinel::tactics(rule)
        .into_iter()
        .next()
        .unwrap_or_else(|| "SuspiciousActivity".to_string());
    let doc = json!({
        "displayName": rule.meta.title,
        "isEnabled": true,
        "queryCondition": { "queryText": query },
        "schedule": { "frequency": frequency },
        "detectionAction": {
            "alertTemplate": {
                "title": rule.meta.title,
                "description": rule.meta.description.as_deref().unwrap_or(&rule.meta.title),
                "severity": severity(rule.meta.severity),
                "category": category,
                "recommendedActions": null,
                "mitreTechniques": rule.meta.techniques,
                "impactedAssets": [
                    { "@odata.type": "#microsoft.graph.security.impactedDeviceAsset", "identifier": "deviceId" }
                ],
            },
            "organizationalScope": null,
            "responseActions": [],
        },
    });
    // A `serde_json::Value` always serializes.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
