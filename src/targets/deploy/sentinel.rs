//! Microsoft Sentinel scheduled analytic rules, from a rule's kql-sentinel query: the YAML of
//! Microsoft's Azure-Sentinel repository (`Detections/*.yaml`) and an ARM template of the
//! `Microsoft.SecurityInsights/alertRules` resource, kind `Scheduled`.
//!
//! The constraints are those of Azure-Sentinel's own template validation
//! (.script/tests/detectionTemplateSchemaValidation: `ScheduledTemplateInternalModel.cs` bounds
//! queryFrequency and queryPeriod to 5m..14d, a query to 10,000 characters, entity mappings to 1..5
//! with 1..3 field mappings; `FrequencyLimitationForLongPeriodQuery.cs`: a period of 2 days or more
//! needs a frequency of an hour or more) and of the REST API's swagger
//! (azure-rest-api-specs, securityinsights stable 2025-09-01 `AlertRules.json`:
//! `ScheduledAlertRuleProperties`). tests/it/deploy_artefacts.rs checks every emitted file
//! against them.

use super::schedule::Schedule;
use crate::ir::{EntityKind, Level, Rule};
use serde_json::json;
use std::collections::BTreeMap;

/// The API version of the ARM resource (the newest stable `securityinsights` spec).
pub const API_VERSION: &str = "2025-09-01";
/// Azure-Sentinel's validator: a query of at most 10,000 characters.
pub const MAX_QUERY: usize = 10_000;
/// Azure-Sentinel's validator: at most 5 entity mappings.
pub const MAX_ENTITIES: usize = 5;
/// Azure-Sentinel's validator and the API: queryFrequency and queryPeriod from 5 minutes to 14 days.
pub const MIN_PERIOD: u64 = 5 * 60;
pub const MAX_PERIOD: u64 = 14 * 86_400;

/// Sentinel's severities (`AlertSeverityEnum`): there is no Critical, which becomes High.
pub fn severity(l: Level) -> &'static str {
    match l {
        Level::Informational => "Informational",
        Level::Low => "Low",
        Level::Medium => "Medium",
        Level::High | Level::Critical => "High",
    }
}

/// The entity type and the identifier a value is mapped to (`EntityMappingIdentifiers.cs`: each
/// is one of the type's required identifiers, so one field mapping is enough).
pub fn entity(kind: EntityKind) -> (&'static str, &'static str) {
    match kind {
        EntityKind::Host => ("Host", "HostName"),
        // A `DOMAIN\user` value is an account's full name.
        EntityKind::Account => ("Account", "FullName"),
        EntityKind::Ip => ("IP", "Address"),
        EntityKind::Process => ("Process", "CommandLine"),
        EntityKind::File => ("File", "Name"),
        EntityKind::Url => ("URL", "Url"),
        EntityKind::Mailbox => ("Mailbox", "MailboxPrimaryAddress"),
    }
}

/// The data connector that fills a table (Azure-Sentinel's `ValidConnectorIds.json`); an ASIM
/// parser (`_Im_...`) reads many connectors' tables and requires none.
fn connector(table: &str) -> Option<&'static str> {
    match table {
        t if t.starts_with("Device") => Some("MicrosoftThreatProtection"),
        _ => None,
    }
}

/// ATT&CK tactic shortname (`command-and-control`) as Sentinel names it (`CommandAndControl`).
pub fn tactic(shortname: &str) -> String {
    shortname
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The tactics of the rule's techniques, in the catalogue's tactic order, deduplicated.
pub fn tactics(rule: &Rule) -> Vec<String> {
    let cat = crate::ir::attack::catalogue();
    let mut shortnames: Vec<&str> = Vec::new();
    for t in &rule.meta.techniques {
        if let Some(tech) = cat.technique(t) {
            for s in &tech.tactics {
                if !shortnames.contains(&s.as_str()) {
                    shortnames.push(s);
                }
            }
        }
    }
    let order: Vec<&str> = cat.tactics.iter().map(|t| t.shortname.as_str()).collect();
    shortnames.sort_by_key(|s| order.iter().position(|o| o == s).unwrap_or(usize::MAX));
    shortnames.into_iter().map(tactic).collect()
}

/// `5m`, `2h`, `1d`, or minutes (`130m`): the `<number><m|h|d>` form Azure-Sentinel's YAML reads
/// (`ScheduledTemplateTimeSpanConverter.cs`). Whole minutes, rounded up.
pub fn yaml_duration(secs: u64) -> String {
    let mins = secs.div_ceil(60);
    if mins.is_multiple_of(1440) {
        format!("{}d", mins / 1440)
    } else if mins.is_multiple_of(60) {
        format!("{}h", mins / 60)
    } else {
        format!("{mins}m")
    }
}

/// ISO 8601 duration (`PT1H`, `P1DT2H10M`), whole minutes rounded up, as the API reads them.
pub fn iso_duration(secs: u64) -> String {
    let mins = secs.div_ceil(60);
    let (d, h, m) = (mins / 1440, mins % 1440 / 60, mins % 60);
    let mut s = String::from("P");
    if d > 0 {
        s.push_str(&format!("{d}D"));
    }
    if h > 0 || m > 0 || d == 0 {
        s.push('T');
        if h > 0 {
            s.push_str(&format!("{h}H"));
        }
        if m > 0 || h == 0 {
            s.push_str(&format!("{m}M"));
        }
    }
    s
}

/// Why the schedule cannot be a Sentinel rule's, if it cannot.
pub fn schedule_problem(s: &Schedule) -> Option<String> {
    let period = s.lookback().div_ceil(60) * 60;
    if !s.period.is_multiple_of(60) {
        return Some(format!(
            "a run every {}s: Sentinel schedules whole minutes",
            s.period
        ));
    }
    if !(MIN_PERIOD..=MAX_PERIOD).contains(&s.period) || period > MAX_PERIOD {
        return Some(format!(
            "a run every {} reading back {}: Sentinel runs every 5m to 14d over at most 14d",
            yaml_duration(s.period),
            yaml_duration(s.lookback())
        ));
    }
    None
}

/// One rule's entity mappings: (entity type, identifier, result column), in the rule's order.
pub fn mappings(rule: &Rule, columns: &BTreeMap<String, String>) -> Vec<(String, String, String)> {
    rule.entities
        .iter()
        .filter_map(|e| {
            let (ty, id) = entity(e.kind);
            let col = columns.get(e.field.name())?;
            Some((ty.to_string(), id.to_string(), col.clone()))
        })
        .collect()
}

/// The Azure-Sentinel repository YAML of the rule.
pub fn yaml(
    rule: &Rule,
    query: &str,
    table: &str,
    s: &Schedule,
    maps: &[(String, String, String)],
    suppress: Option<u64>,
) -> String {
    use serde_yaml::{Mapping, Value as Y};
    let str_ = |x: &str| Y::String(x.to_string());
    let mut m = Mapping::new();
    m.insert(str_("id"), str_(&rule.id));
    m.insert(str_("name"), str_(&rule.meta.title));
    m.insert(
        str_("description"),
        str_(rule.meta.description.as_deref().unwrap_or(&rule.meta.title)),
    );
    m.insert(str_("severity"), str_(severity(rule.meta.severity)));
    let connectors: Vec<Y> = connector(table)
        .map(|c| {
            let mut d = Mapping::new();
            d.insert(str_("connectorId"), str_(c));
            d.insert(str_("dataTypes"), Y::Sequence(vec![str_(table)]));
            Y::Mapping(d)
        })
        .into_iter()
        .collect();
    m.insert(str_("requiredDataConnectors"), Y::Sequence(connectors));
    m.insert(str_("queryFrequency"), str_(&yaml_duration(s.period)));
    m.insert(str_("queryPeriod"), str_(&yaml_duration(s.lookback())));
    m.insert(str_("triggerOperator"), str_("gt"));
    m.insert(str_("triggerThreshold"), Y::Number(0.into()));
    m.insert(
        str_("tactics"),
        Y::Sequence(tactics(rule).iter().map(|t| str_(t)).collect()),
    );
    m.insert(
        str_("relevantTechniques"),
        Y::Sequence(rule.meta.techniques.iter().map(|t| str_(t)).collect()),
    );
    m.insert(str_("query"), str_(query));
    if !maps.is_empty() {
        let seq = maps
            .iter()
            .map(|(ty, id, col)| {
                let mut fm = Mapping::new();
                fm.insert(str_("identifier"), str_(id));
                fm.insert(str_("columnName"), str_(col));
                let mut em = Mapping::new();
                em.insert(str_("entityType"), str_(ty));
                em.insert(str_("fieldMappings"), Y::Sequence(vec![Y::Mapping(fm)]));
                Y::Mapping(em)
            })
            .collect();
        m.insert(str_("entityMappings"), Y::Sequence(seq));
    }
    // The same incident settings as the ARM template (`incident`); a JSON object of strings,
    // booleans and lists always converts.
    if let Ok(y) = serde_yaml::to_value(incident(s, maps)) {
        m.insert(str_("incidentConfiguration"), y);
    }
    let (enabled, duration, kind) = suppression(s, suppress);
    m.insert(str_("suppressionEnabled"), Y::Bool(enabled));
    m.insert(str_("suppressionDuration"), str_(&duration));
    let mut grouping = Mapping::new();
    grouping.insert(str_("aggregationKind"), str_(kind));
    m.insert(str_("eventGroupingSettings"), Y::Mapping(grouping));
    m.insert(str_("version"), str_("1.0.0"));
    m.insert(str_("kind"), str_("Scheduled"));
    crate::targets::yaml::document(&Y::Mapping(m))
}

/// An ARM string that is a literal: ARM evaluates a string starting with `[` as an expression
/// unless the bracket is doubled (`[[`).
fn arm_literal(s: &str) -> String {
    if s.starts_with('[') {
        format!("[{s}")
    } else {
        s.to_string()
    }
}

/// Sentinel's default incident-grouping period (the portal's "5 hours"), and the longest it
/// accepts (7 days).
pub const GROUPING_DEFAULT: u64 = 5 * 3600;
pub const GROUPING_MAX: u64 = 7 * 86_400;

/// How alerts become incidents (REST API 2025-09-01, `IncidentConfiguration` and
/// `GroupingConfiguration`). Derived, not written in the rule: every alert creates or joins an
/// incident; a rule with entities groups the alerts whose mapped entities are the same
/// (`matchingMethod: Selected` over the mapped entity types, the only ones the API accepts) over
/// the longer of Sentinel's default 5 hours and one period, so the alerts of consecutive runs on
/// the same host or account land in one incident; a closed incident is not reopened. Grouping
/// only gathers alerts: none is dropped, unlike `suppressionEnabled`, which stops the rule for a
/// while after an alert and would lose the alerts of the next periods (kept off). A rule without
/// entities has nothing to group by: one incident per alert.
pub fn incident(s: &Schedule, maps: &[(String, String, String)]) -> serde_json::Value {
    let mut types: Vec<&str> = Vec::new();
    for (ty, _, _) in maps {
        if !types.contains(&ty.as_str()) {
            types.push(ty);
        }
    }
    let lookback = s.period.clamp(GROUPING_DEFAULT, GROUPING_MAX);
    let grouping = if types.is_empty() {
        json!({
            "enabled": false,
            "reopenClosedIncident": false,
            "lookbackDuration": iso_duration(GROUPING_DEFAULT),
            "matchingMethod": "AllEntities",
        })
    } else {
        json!({
            "enabled": true,
            "reopenClosedIncident": false,
            "lookbackDuration": iso_duration(lookback),
            "matchingMethod": "Selected",
            "groupByEntities": types,
        })
    };
    json!({ "createIncident": true, "groupingConfiguration": grouping })
}

/// The ARM template deploying the rule into a workspace given as a parameter.
/// `suppressionEnabled`, `suppressionDuration` and `eventGroupingSettings.aggregationKind` for a
/// rule's `suppress` (`Some(seconds)`, [`Schedule::suppression`], whole minutes rounded down) or
/// none. The API's `suppressionDuration` is "the time to wait since the last time this alert rule
/// was triggered" (Az.SecurityInsights `SuppressionDuration`): the whole rule is silenced, so a
/// suppressed rule raises one alert per run (`SingleAlert`, every result row in it), the
/// evaluator's one alert per period of a rule suppressed without keys. Without suppression: off,
/// one period (the field is required), an alert per result row.
pub fn suppression(s: &Schedule, suppress: Option<u64>) -> (bool, String, &'static str) {
    match suppress {
        Some(secs) => (true, iso_duration(secs / 60 * 60), "SingleAlert"),
        None => (false, iso_duration(s.period), "AlertPerResult"),
    }
}

pub fn arm(
    rule: &Rule,
    query: &str,
    s: &Schedule,
    maps: &[(String, String, String)],
    suppress: Option<u64>,
) -> String {
    let (enabled, duration, kind) = suppression(s, suppress);
    // The API's `techniques` are techniques (T1071); sub-techniques go to their parent.
    let mut techniques: Vec<String> = Vec::new();
    for t in &rule.meta.techniques {
        let parent = t.split('.').next().unwrap_or(t).to_string();
        if !techniques.contains(&parent) {
            techniques.push(parent);
        }
    }
    let mut props = json!({
        "displayName": arm_literal(&rule.meta.title),
        "description": arm_literal(rule.meta.description.as_deref().unwrap_or(&rule.meta.title)),
        "severity": severity(rule.meta.severity),
        "enabled": true,
        "query": arm_literal(query),
        "queryFrequency": iso_duration(s.period),
        "queryPeriod": iso_duration(s.lookback()),
        "triggerOperator": "GreaterThan",
        "triggerThreshold": 0,
        "suppressionDuration": duration,
        "suppressionEnabled": enabled,
        "tactics": tactics(rule),
        "techniques": techniques,
        "eventGroupingSettings": { "aggregationKind": kind },
        "incidentConfiguration": incident(s, maps),
    });
    if !maps.is_empty() {
        props["entityMappings"] = maps
            .iter()
            .map(|(ty, id, col)| {
                json!({"entityType": ty, "fieldMappings": [{"identifier": id, "columnName": col}]})
            })
            .collect();
    }
    let doc = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "workspace": { "type": "string", "metadata": { "description": "The Log Analytics workspace of Microsoft Sentinel" } }
        },
        "resources": [{
            "type": "Microsoft.SecurityInsights/alertRules",
            "apiVersion": API_VERSION,
            "name": rule.id,
            "scope": "[format('Microsoft.OperationalInsights/workspaces/{0}', parameters('workspace'))]",
            "kind": "Scheduled",
            "properties": props,
        }],
    });
    // A `serde_json::Value` always serializes.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
