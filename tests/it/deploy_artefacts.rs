//! Issue 14, points 2 and 9: the deployable artefacts `detc compile --target all` writes under
//! OUT/deploy/, checked against what the vendors publish.
//!
//! Sentinel: the Azure-Sentinel repository YAML against the constraints of Microsoft's own template
//! validation (Azure-Sentinel `.script/tests/detectionTemplateSchemaValidation/Models/`, each
//! check below names its file), the ARM template against a JSON Schema transcribed from the REST
//! API's swagger (tests/data/sentinel/SOURCE.md) with the pinned `jsonschema`, and every deployed
//! query, with its entity columns projected, through Kusto.Language on the profile's tables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::oracle::{
    json_schema_validate, kql_profile_tables, kusto_check_in, repo_root, KustoQuery,
};
use detc::targets::deploy::{self, Deployed};
use detc::targets::Emitted;
use serde_json::Value as J;
use serde_yaml::Value as Y;
use std::path::PathBuf;

fn pack() -> detc::ir::Pack {
    let paths = vec![PathBuf::from("rules")];
    let files = detc::load::load_sources(&paths).unwrap();
    let fe = detc::frontend_with(&files, &detc::load::FsLoader::for_paths(&paths));
    fe.pack.expect("the pack checks")
}

fn deployed() -> Deployed {
    deploy::compile_pack(&pack(), &detc::targets::load_profiles().unwrap())
}

fn in_dir<'a>(d: &'a Deployed, dir: &str) -> Vec<&'a Emitted> {
    d.outputs.iter().filter(|e| e.target == dir).collect()
}

/// `<number><m|h|d>` in seconds, as `ScheduledTemplateTimeSpanConverter.cs` reads it.
fn yaml_secs(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n
        .parse()
        .unwrap_or_else(|_| panic!("`{s}` is not <number><m|h|d>"));
    n * match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => panic!("`{s}`: time identifier <m|h|d> missing"),
    }
}

/// `EntityMappingIdentifiers.cs`: the identifiers of each entity type detc maps to, and the
/// required ones (any one of them suffices).
fn identifiers(entity: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match entity {
        "Account" => (
            &[
                "Name",
                "FullName",
                "NTDomain",
                "DnsDomain",
                "UPNSuffix",
                "Sid",
                "AadTenantId",
                "AadUserId",
                "PUID",
                "IsDomainJoined",
                "DisplayName",
                "ObjectGuid",
            ],
            &["FullName", "Sid", "Name", "AadUserId", "PUID", "ObjectGuid"],
        ),
        "Host" => (
            &[
                "DnsDomain",
                "NTDomain",
                "HostName",
                "FullName",
                "NetBiosName",
                "AzureID",
                "OMSAgentID",
                "OSFamily",
                "OSVersion",
                "IsDomainJoined",
            ],
            &[
                "FullName",
                "HostName",
                "NetBiosName",
                "AzureID",
                "OMSAgentID",
            ],
        ),
        "IP" => (&["Address"], &["Address"]),
        "Process" => (
            &[
                "ProcessId",
                "CommandLine",
                "ElevationToken",
                "CreationTimeUtc",
            ],
            &["CommandLine", "ProcessId"],
        ),
        "File" => (&["Directory", "Name"], &["Name"]),
        "URL" => (&["Url"], &["Url"]),
        "Mailbox" => (
            &[
                "MailboxPrimaryAddress",
                "DisplayName",
                "Upn",
                "ExternalDirectoryObjectId",
                "RiskLevel",
            ],
            &["MailboxPrimaryAddress"],
        ),
        other => panic!("entity type {other} is not one detc maps to"),
    }
}

/// `AttackTactic.cs`.
const TACTICS: &[&str] = &[
    "InitialAccess",
    "Execution",
    "Persistence",
    "PrivilegeEscalation",
    "DefenseEvasion",
    "CredentialAccess",
    "Discovery",
    "LateralMovement",
    "Collection",
    "Exfiltration",
    "CommandAndControl",
    "Impact",
    "Reconnaissance",
    "ResourceDevelopment",
    "ImpairProcessControl",
    "InhibitResponseFunction",
];

fn s<'a>(v: &'a Y, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("`{k}` is not a string: {:?}", v[k]))
}

/// The Azure-Sentinel template constraints on one YAML rule; every violation as text.
fn sentinel_yaml_problems(text: &str) -> Vec<String> {
    let v: Y = serde_yaml::from_str(text).unwrap();
    let mut p = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            p.push(what.to_string());
        }
    };
    // AnalyticsTemplateInternalModelBase.cs: id a GUID, kind, name <= 256, description <= 5000.
    let id = s(&v, "id");
    need(
        id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4,
        "id is a GUID",
    );
    need(s(&v, "kind") == "Scheduled", "kind Scheduled");
    need(
        (1..=256).contains(&s(&v, "name").chars().count()),
        "name of 1..256 characters",
    );
    need(
        s(&v, "description").chars().count() <= 5000,
        "description of at most 5000 characters",
    );
    // ScheduledTemplateInternalModel.cs.
    need(
        v["requiredDataConnectors"].is_sequence(),
        "requiredDataConnectors",
    );
    need(
        ["Informational", "Low", "Medium", "High"].contains(&s(&v, "severity")),
        "severity Informational..High",
    );
    let q = s(&v, "query");
    need(
        (1..=10_000).contains(&q.chars().count()),
        "query of 1..10000 characters",
    );
    let freq = yaml_secs(s(&v, "queryFrequency"));
    let period = yaml_secs(s(&v, "queryPeriod"));
    need(
        (300..=14 * 86_400).contains(&freq),
        "queryFrequency 5m..14d",
    );
    need((300..=14 * 86_400).contains(&period), "queryPeriod 5m..14d");
    // PeriodGreaterThanOrEqualFrequencyAttribute.cs, FrequencyLimitationForLongPeriodQuery.cs.
    need(period >= freq, "queryPeriod >= queryFrequency");
    need(
        period < 2 * 86_400 || freq >= 3600,
        "a period of 2d or more runs hourly or less often",
    );
    // ScheduledTemplateTriggerOperatorConverter.cs reads gt, lt, eq, ne.
    need(
        ["gt", "lt", "eq", "ne"].contains(&s(&v, "triggerOperator")),
        "triggerOperator",
    );
    need(
        v["triggerThreshold"].as_u64().is_some_and(|t| t <= 10_000),
        "triggerThreshold 0..10000",
    );
    // QueryBasedTemplateVersionValidator.cs: X.Y.Z.
    let version = s(&v, "version");
    need(
        version.split('.').count() == 3
            && version
                .split('.')
                .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit())),
        "version X.Y.Z",
    );
    // AttackTactic.cs; NoTechniquesWithoutMatchingTactics.cs: each technique's tactic is listed.
    let tactics: Vec<&str> = v["tactics"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    need(
        tactics.iter().all(|t| TACTICS.contains(t)),
        "tactics from AttackTactic",
    );
    let cat = detc::ir::attack::catalogue();
    for t in v["relevantTechniques"].as_sequence().unwrap() {
        let tech = cat
            .technique(t.as_str().unwrap())
            .expect("a known technique");
        need(
            tech.tactics
                .iter()
                .any(|sn| tactics.contains(&deploy::sentinel::tactic(sn).as_str())),
            "a technique whose tactic is listed",
        );
    }
    // ValidEntityMappingsAttribute: 1..5 mappings of 1..3 field mappings, each identifier of its
    // entity type, at least one required identifier per mapping.
    if let Some(maps) = v.get("entityMappings") {
        let maps = maps.as_sequence().unwrap();
        need((1..=5).contains(&maps.len()), "1..5 entity mappings");
        for m in maps {
            let (ids, required) = identifiers(s(m, "entityType"));
            let fms = m["fieldMappings"].as_sequence().unwrap();
            need((1..=3).contains(&fms.len()), "1..3 field mappings");
            need(
                fms.iter()
                    .all(|f| ids.contains(&s(f, "identifier")) && !s(f, "columnName").is_empty()),
                "identifiers of the entity type, with a column",
            );
            need(
                fms.iter().any(|f| required.contains(&s(f, "identifier"))),
                "a required identifier",
            );
        }
    }
    p
}

#[test]
fn sentinel_yaml_meets_azure_sentinel_template_validation() {
    let d = deployed();
    let files = in_dir(&d, deploy::SENTINEL_DIR);
    assert!(files.len() >= 6, "only {} Sentinel rules", files.len());
    let mut with_entities = 0;
    for e in &files {
        let problems = sentinel_yaml_problems(&e.text);
        assert!(
            problems.is_empty(),
            "{}: {problems:?}\n{}",
            e.file_name,
            e.text
        );
        with_entities += usize::from(e.text.contains("entityMappings:"));
    }
    assert!(with_entities >= 3, "rules with entities are mapped");
    assert!(
        with_entities < files.len(),
        "a rule without entities still deploys"
    );
    // The checks have teeth: a YAML with a period shorter than its frequency, a Critical
    // severity and six entity mappings is refused on each count.
    let bad = files[0]
        .text
        .replace("severity: 'High'", "severity: 'Critical'")
        .replace("severity: 'Medium'", "severity: 'Critical'")
        .replace("queryPeriod: '", "queryPeriod: '1");
    let problems = sentinel_yaml_problems(&bad);
    assert!(
        problems.iter().any(|p| p.contains("severity")),
        "{problems:?}"
    );
}

#[test]
fn sentinel_arm_is_valid_against_the_alert_rules_schema() {
    let schema = repo_root().join("tests/data/sentinel/scheduled-alert-rule.arm.schema.json");
    let d = deployed();
    let files = in_dir(&d, deploy::SENTINEL_ARM_DIR);
    assert_eq!(files.len(), in_dir(&d, deploy::SENTINEL_DIR).len());
    let re = regex::Regex::new(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$").unwrap();
    for e in &files {
        json_schema_validate(&schema, &e.text)
            .unwrap_or_else(|err| panic!("{}: {err}", e.file_name));
        // What a JSON Schema cannot say (PeriodGreaterThanOrEqualFrequencyAttribute.cs).
        let v: J = serde_json::from_str(&e.text).unwrap();
        let p = &v["resources"][0]["properties"];
        let iso = |s: &str| -> u64 {
            let c = re.captures(s).unwrap_or_else(|| panic!("{s}"));
            let n = |i| {
                c.get(i)
                    .map_or(0, |m: regex::Match| m.as_str().parse::<u64>().unwrap())
            };
            n(1) * 86_400 + n(2) * 3600 + n(3) * 60
        };
        let (f, per) = (
            iso(p["queryFrequency"].as_str().unwrap()),
            iso(p["queryPeriod"].as_str().unwrap()),
        );
        assert!(
            per >= f && (300..=14 * 86_400).contains(&f) && per <= 14 * 86_400,
            "{}",
            e.file_name
        );
    }
    // The schema has teeth: a sub-technique in `techniques` and an unknown tactic are refused.
    let mut v: J = serde_json::from_str(&files[0].text).unwrap();
    v["resources"][0]["properties"]["techniques"] = serde_json::json!(["T1071.003"]);
    v["resources"][0]["properties"]["tactics"] = serde_json::json!(["command-and-control"]);
    let err = json_schema_validate(&schema, &v.to_string()).unwrap_err();
    assert!(
        err.contains("techniques") && err.contains("tactics"),
        "{err}"
    );
}

#[test]
fn deployed_sentinel_queries_and_their_entity_columns_pass_kusto_language() {
    let d = deployed();
    let tables = kql_profile_tables("kql-sentinel").expect("profile tables");
    let databases = vec![("kql-sentinel".to_string(), tables)];
    let mut queries: Vec<(String, String)> = Vec::new();
    for e in in_dir(&d, deploy::SENTINEL_DIR) {
        let v: Y = serde_yaml::from_str(&e.text).unwrap();
        let mut q = s(&v, "query").to_string();
        let cols: Vec<String> = v
            .get("entityMappings")
            .and_then(Y::as_sequence)
            .into_iter()
            .flatten()
            .map(|m| s(&m["fieldMappings"][0], "columnName").to_string())
            .collect();
        if !cols.is_empty() {
            q.push_str(&format!("\n| project {}", cols.join(", ")));
        }
        queries.push((e.file_name.clone(), q));
    }
    // A control: an entity column the result does not have must be reported.
    let (name0, q0) = queries[0].clone();
    queries.push((
        format!("{name0} (control)"),
        format!("{q0}\n| project NoSuchColumn"),
    ));
    let batch: Vec<KustoQuery<'_>> = queries
        .iter()
        .map(|(n, t)| KustoQuery {
            database: "kql-sentinel",
            name: n,
            text: t,
        })
        .collect();
    let results = kusto_check_in(&databases, &batch, false).expect("kusto oracle");
    let (control, real) = results.split_last().unwrap();
    for (name, diags) in real {
        assert!(diags.is_empty(), "{name}: {diags:?}");
    }
    assert!(
        !control.1.is_empty(),
        "Kusto.Language reports a missing column"
    );
}

/// Defender XDR custom detections (Graph `detectionRule`, v1.0): the body's shape, a schedule the
/// service runs (`ruleSchedule.frequency`), and a query that returns `Timestamp`, `ReportId` and
/// `DeviceId` (the columns custom detections require), aggregating rules included, by
/// Kusto.Language on kql-defender's tables; the bare aggregated query does not, so the check can
/// fail.
#[test]
fn defender_detection_rules_return_the_required_columns_on_an_allowed_schedule() {
    let d = deployed();
    let files = in_dir(&d, deploy::DEFENDER_DIR);
    assert!(files.len() >= 4, "only {} Defender rules", files.len());
    let technique = regex::Regex::new(r"^T[0-9]{4}(\.[0-9]{3})?$").unwrap();
    let mut queries: Vec<(String, String)> = Vec::new();
    let mut aggregating = 0;
    for e in &files {
        let v: J = serde_json::from_str(&e.text).unwrap();
        assert!(
            v["displayName"].as_str().is_some_and(|s| !s.is_empty()),
            "{}",
            e.file_name
        );
        assert_eq!(v["isEnabled"], J::Bool(true));
        assert!(
            ["PT1H", "PT3H", "PT12H", "P1D"]
                .contains(&v["schedule"]["frequency"].as_str().unwrap()),
            "{}: {}",
            e.file_name,
            v["schedule"]
        );
        let t = &v["detectionAction"]["alertTemplate"];
        assert!(
            ["informational", "low", "medium", "high"].contains(&t["severity"].as_str().unwrap())
        );
        assert!(t["mitreTechniques"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| technique.is_match(x.as_str().unwrap())));
        assert_eq!(
            t["impactedAssets"][0]["@odata.type"],
            "#microsoft.graph.security.impactedDeviceAsset"
        );
        assert_eq!(t["impactedAssets"][0]["identifier"], "deviceId");
        let q = v["queryCondition"]["queryText"].as_str().unwrap();
        aggregating += usize::from(q.contains("summarize"));
        queries.push((
            e.file_name.clone(),
            format!("{q}\n| project Timestamp, ReportId, DeviceId"),
        ));
    }
    assert!(
        aggregating >= 1,
        "an aggregating rule is deployed to Defender"
    );
    let bare = std::fs::read_to_string(
        repo_root().join("queries/kql-defender/an0379_mail_protocol_unexpected_process.kql"),
    )
    .unwrap();
    queries.push((
        "bare aggregated query (control)".into(),
        format!(
            "{}\n| project Timestamp, ReportId, DeviceId",
            bare.trim_end()
        ),
    ));
    let databases = vec![(
        "kql-defender".to_string(),
        kql_profile_tables("kql-defender").expect("profile tables"),
    )];
    let batch: Vec<KustoQuery<'_>> = queries
        .iter()
        .map(|(n, t)| KustoQuery {
            database: "kql-defender",
            name: n,
            text: t,
        })
        .collect();
    let results = kusto_check_in(&databases, &batch, false).expect("kusto oracle");
    let (control, real) = results.split_last().unwrap();
    for (name, diags) in real {
        assert!(diags.is_empty(), "{name}: {diags:?}");
    }
    assert!(
        !control.1.is_empty(),
        "the bare aggregated query lacks the required columns"
    );
}

/// Splunk: every stanza of `savedsearches.conf` uses only keys of Splunk's
/// `savedsearches.conf.spec` (and Enterprise Security's `alert_actions.conf` for `action.notable*`
/// and `action.risk*`) with values of the shape the spec gives; its search, read back as Splunk
/// joins continued lines, is the committed bare query; its time range and cron select the
/// period the schedule reports.
#[test]
fn splunk_saved_searches_follow_the_conf_spec_and_the_schedule() {
    use regex::Regex;
    let d = deployed();
    let conf = in_dir(&d, deploy::SPLUNK_DIR);
    assert_eq!(conf.len(), 1);
    let text = &conf[0].text;
    // (key, value shape) from savedsearches.conf.spec (Splunk 9): `<boolean>` as 0/1, `<cron
    // string>` five fields, `<time-str>` relative, counttype and relation's listed values,
    // alert.severity 1..6; ES alert_actions.conf: notable severity words, `_risk` a JSON list.
    let shapes: Vec<(&str, Regex)> = vec![
        ("description", Regex::new(r"^[^\n]+$").unwrap()),
        ("search", Regex::new(r"(?s)^.+$").unwrap()),
        ("enableSched", Regex::new(r"^[01]$").unwrap()),
        (
            "cron_schedule",
            Regex::new(r"^[0-9,*]+ [0-9,*]+ \* \* \*$").unwrap(),
        ),
        ("realtime_schedule", Regex::new(r"^[01]$").unwrap()),
        ("dispatch.earliest_time", Regex::new(r"^-[0-9]+m$").unwrap()),
        ("dispatch.latest_time", Regex::new(r"^-[0-9]+m$").unwrap()),
        (
            "counttype",
            Regex::new(r"^(number of events|number of hosts|number of sources|custom|always)$")
                .unwrap(),
        ),
        (
            "relation",
            Regex::new(r"^(greater than|less than|equal to|not equal to|drops by|rises by)$")
                .unwrap(),
        ),
        ("quantity", Regex::new(r"^[0-9]+$").unwrap()),
        ("alert.track", Regex::new(r"^[01]$").unwrap()),
        ("alert.digest_mode", Regex::new(r"^[01]$").unwrap()),
        ("alert.suppress", Regex::new(r"^[01]$").unwrap()),
        // `<time-specifier>` (an integer and a unit) and `<comma-separated-field-list>`.
        (
            "alert.suppress.period",
            Regex::new(r"^[0-9]+[smhd]$").unwrap(),
        ),
        (
            "alert.suppress.fields",
            Regex::new(r"^[A-Za-z_][A-Za-z0-9_.]*(,[A-Za-z_][A-Za-z0-9_.]*)*$").unwrap(),
        ),
        ("alert.severity", Regex::new(r"^[1-6]$").unwrap()),
        ("action.notable", Regex::new(r"^[01]$").unwrap()),
        (
            "action.notable.param.rule_title",
            Regex::new(r"^[^\n]+$").unwrap(),
        ),
        (
            "action.notable.param.rule_description",
            Regex::new(r"^[^\n]+$").unwrap(),
        ),
        (
            "action.notable.param.severity",
            Regex::new(r"^(informational|low|medium|high|critical)$").unwrap(),
        ),
        (
            "action.notable.param.security_domain",
            Regex::new(r"^(access|endpoint|network|threat|identity|audit)$").unwrap(),
        ),
        ("action.risk", Regex::new(r"^[01]$").unwrap()),
        ("action.risk.param._risk", Regex::new(r"^\[.*\]$").unwrap()),
        (
            "action.risk.param._risk_message",
            Regex::new(r"^[^\n]+$").unwrap(),
        ),
    ];
    // Splunk's reading of a .conf file: a line ending in a backslash continues on the next.
    let joined = text.replace(" \\\n", "\u{0}");
    let mut stanzas: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in joined.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            stanzas.push((name.to_string(), Vec::new()));
            continue;
        }
        let (k, v) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("not `key = value`: {line}"));
        stanzas
            .last_mut()
            .expect("a stanza")
            .1
            .push((k.to_string(), v.replace('\u{0}', "\n")));
    }
    assert!(stanzas.len() >= 5, "{} stanzas", stanzas.len());
    let mut with_risk = 0;
    for (name, kvs) in &stanzas {
        let get = |k: &str| kvs.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        for (k, v) in kvs {
            let (_, shape) = shapes
                .iter()
                .find(|(x, _)| x == k)
                .unwrap_or_else(|| panic!("[{name}]: `{k}` is not a key of the spec"));
            assert!(shape.is_match(v), "[{name}] {k} = {v}");
        }
        // The search is the committed bare query of the rule for the target.
        let parts: Vec<&str> = name.split(" - ").collect();
        let (rule, target) = (parts[1], parts[2]);
        let bare =
            std::fs::read_to_string(repo_root().join(format!("queries/{target}/{rule}.spl")))
                .unwrap();
        assert_eq!(get("search").unwrap(), bare.trim_end(), "[{name}]");
        // [now - period - delay, now - delay) at cron minutes congruent to the delay.
        let mins = |k: &str| -> u64 {
            get(k)
                .unwrap()
                .trim_start_matches('-')
                .trim_end_matches('m')
                .parse()
                .unwrap()
        };
        let (early, late) = (mins("dispatch.earliest_time"), mins("dispatch.latest_time"));
        let period = early - late;
        let cron = get("cron_schedule").unwrap();
        let minute: u64 = cron.split(&[' ', ','][..]).next().unwrap().parse().unwrap();
        assert_eq!(
            minute % period.min(60),
            late % period.min(60),
            "[{name}] {cron}"
        );
        if let Some(risk) = get("action.risk.param._risk") {
            with_risk += 1;
            let objs: J = serde_json::from_str(risk).unwrap();
            for o in objs.as_array().unwrap() {
                let field = o["risk_object_field"].as_str().unwrap();
                assert!(
                    ["system", "user", "other"].contains(&o["risk_object_type"].as_str().unwrap())
                );
                // An aggregating search keeps only its group keys: the field must be one.
                let search = get("search").unwrap();
                if search.contains("stats ") {
                    let by = Regex::new(&format!(
                        r"\bby ([^|]*[ ,])?{}([ ,]|$)",
                        regex::escape(field)
                    ))
                    .unwrap();
                    assert!(
                        by.is_match(search),
                        "[{name}] risk field {field} not a group key"
                    );
                }
            }
        }
    }
    assert!(with_risk >= 1, "entities become risk objects");
}

/// Alert grouping and suppression (issue 14 point 1), derived from the entities and the period:
/// Sentinel groups a rule's alerts into incidents by its mapped entity types (ARM and YAML
/// alike), never suppresses; a rule without entities gets one incident per alert; Splunk's
/// throttling is off in every stanza. None of these may drop an alert the schedule raises.
#[test]
fn incidents_group_alerts_by_entities_and_nothing_is_suppressed() {
    let d = deployed();
    let arms = in_dir(&d, deploy::SENTINEL_ARM_DIR);
    let yamls = in_dir(&d, deploy::SENTINEL_DIR);
    assert!(!arms.is_empty() && arms.len() == yamls.len());
    let mut grouped = 0;
    let stem = |f: &str| {
        f.rsplit_once('.')
            .map(|x| x.0.to_string())
            .unwrap_or_default()
    };
    for arm in &arms {
        let yaml = yamls
            .iter()
            .find(|y| stem(&y.file_name) == stem(&arm.file_name))
            .expect("a YAML beside each ARM template");
        let a: J = serde_json::from_str(&arm.text).unwrap();
        let p = &a["resources"][0]["properties"];
        let y: J = serde_json::to_value(serde_yaml::from_str::<Y>(&yaml.text).unwrap()).unwrap();
        assert_eq!(p["suppressionEnabled"], J::Bool(false), "{}", arm.file_name);
        assert_eq!(
            y["suppressionEnabled"],
            J::Bool(false),
            "{}",
            yaml.file_name
        );
        assert_eq!(
            p["incidentConfiguration"], y["incidentConfiguration"],
            "{}: ARM and YAML group alike",
            arm.file_name
        );
        let ic = &p["incidentConfiguration"];
        assert_eq!(ic["createIncident"], J::Bool(true));
        let g = &ic["groupingConfiguration"];
        assert_eq!(g["reopenClosedIncident"], J::Bool(false));
        let mut types: Vec<&str> = p["entityMappings"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|e| e["entityType"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        types.dedup();
        if types.is_empty() {
            assert_eq!(g["enabled"], J::Bool(false), "{}", arm.file_name);
        } else {
            grouped += 1;
            assert_eq!(g["enabled"], J::Bool(true), "{}", arm.file_name);
            assert_eq!(g["matchingMethod"], "Selected");
            let by: Vec<&str> = g["groupByEntities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            assert_eq!(by, types, "{}", arm.file_name);
        }
    }
    assert!(grouped > 0, "the pack has rules with entities");
    let conf = in_dir(&d, deploy::SPLUNK_DIR);
    let text = &conf[0].text;
    let stanzas = text.matches("\n[detc - ").count() + usize::from(text.starts_with("[detc - "));
    assert!(stanzas > 0);
    assert_eq!(
        text.matches("\nalert.suppress = 0\n").count(),
        stanzas,
        "{text}"
    );
}

/// Issue 14 point 4: a security_content detection per `savedsearches.conf` stanza, laid out as
/// contentctl reads an app (scripts/contentctl-validate.sh runs contentctl 5.6.2 on them in CI):
/// the file named from the name as contentctl derives it, the filter macro of that name ending
/// the search, which is the stanza's query without the period filter; every data source and
/// story named has its file; a rule with risk objects is a TTP with an `rba` of them.
#[test]
fn splunk_content_detections_follow_the_stanzas() {
    use detc::targets::deploy::contentctl;
    let d = deployed();
    let conf = &in_dir(&d, deploy::SPLUNK_DIR)[0].text;
    let stanzas = conf.matches("\n[detc - ").count();
    let dets: Vec<&Emitted> = d
        .outputs
        .iter()
        .filter(|e| e.target.starts_with("deploy/splunk-content/detections/"))
        .collect();
    assert_eq!(dets.len(), stanzas, "one detection per stanza");
    let names_of = |dir: &str| -> Vec<String> {
        in_dir(&d, dir)
            .iter()
            .map(|e| {
                let v: Y = serde_yaml::from_str(&e.text).unwrap();
                v["name"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let sources = names_of(contentctl::DATA_SOURCES);
    let stories = names_of(contentctl::STORIES);
    for e in dets {
        let v: Y = serde_yaml::from_str(&e.text).unwrap();
        let name = v["name"].as_str().unwrap();
        assert!(name.chars().count() <= contentctl::MAX_NAME, "{name}");
        let stem = contentctl::file_stem(name);
        assert_eq!(e.file_name, format!("{stem}.yml"));
        let search = v["search"].as_str().unwrap();
        assert!(
            search.ends_with(&format!("\n| `{stem}_filter`")),
            "{search}"
        );
        // The stanza holds the same query (its lines continued with a backslash).
        let first = search.lines().next().unwrap();
        assert!(conf.contains(first), "{}: {first}", e.file_name);
        for ds in v["data_source"].as_sequence().unwrap() {
            assert!(
                sources.contains(&ds.as_str().unwrap().to_string()),
                "{ds:?}"
            );
        }
        for st in v["tags"]["analytic_story"].as_sequence().unwrap() {
            assert!(
                stories.contains(&st.as_str().unwrap().to_string()),
                "{st:?}"
            );
        }
        let ty = v["type"].as_str().unwrap();
        assert_eq!(ty == "TTP", v.get("rba").is_some(), "{}", e.file_name);
        assert_eq!(v["status"].as_str(), Some("experimental"));
    }
}
