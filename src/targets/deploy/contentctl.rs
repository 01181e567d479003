//! Splunk security_content detections (the YAML of Splunk's `security_content` repository, built
//! and validated by `contentctl`, PyPI `contentctl`), one per rule and SPL target that has a
//! `savedsearches.conf` stanza, under `deploy/splunk-content/` laid out as a contentctl app:
//! `detections/<domain>/`, the `data_sources/` they name and one analytic story
//! (`stories/detc_rule_pack.yml`). `scripts/contentctl-validate.sh` runs `contentctl validate`
//! on them in CI (offline: it needs the network only to install contentctl).
//!
//! What contentctl 5.6 requires and these files meet (its pydantic models, `contentctl/objects/`):
//! the file name is the name with spaces, `-`, `.`, `/` as `_`, lowercased; the search holds the
//! filter macro `` `<file name>_filter` ``; names of at most 67 characters; `experimental`
//! detections need no test; a `TTP` needs an `rba` object (risk objects from the rule's
//! entities), so a rule without one is a `Hunting` detection; every `data_source` and
//! `analytic_story` named exists as its own file. The search is the bare query: contentctl's
//! deployment configuration, not the file, schedules it, so the period filter and suppression of
//! the `savedsearches.conf` stanza are not in it.

use super::splunk;
use crate::ir::{Platform, Rule, Source};
use crate::targets::profile::{Profile, SourceOptions, SplSource};
use serde_yaml::{Mapping, Value as Y};

pub const DIR: &str = "deploy/splunk-content";
/// The folders of the app, each an output target of its own (a target is one flat folder).
pub const DETECTIONS_ENDPOINT: &str = "deploy/splunk-content/detections/endpoint";
pub const DETECTIONS_NETWORK: &str = "deploy/splunk-content/detections/network";
pub const DATA_SOURCES: &str = "deploy/splunk-content/data_sources";
pub const STORIES: &str = "deploy/splunk-content/stories";
/// The analytic story every detection belongs to.
pub const STORY: &str = "detc rule pack";
/// contentctl 5.6: `CONTENTCTL_MAX_SEARCH_NAME_LENGTH`.
pub const MAX_NAME: usize = 67;
/// The RFC 4122 URL namespace: ids of the story and data sources are `uuid5` of their names.
const NAMESPACE: &str = "6ba7b811-9dad-11d1-80b4-00c04fd430c8";

/// contentctl's `contentNameToFileName`, without the extension.
pub fn file_stem(name: &str) -> String {
    name.replace([' ', '-', '.', '/'], "_").to_lowercase()
}

/// The detection's name: `detc <rule> <target>`.
pub fn name(rule: &Rule, target: &str) -> String {
    format!("detc {} {target}", rule.name)
}

fn s(x: &str) -> Y {
    Y::String(x.to_string())
}

fn map(pairs: Vec<(&str, Y)>) -> Y {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(s(k), v);
    }
    Y::Mapping(m)
}

fn list(xs: impl IntoIterator<Item = String>) -> Y {
    Y::Sequence(xs.into_iter().map(Y::String).collect())
}

const PRODUCTS: [&str; 3] = [
    "Splunk Enterprise",
    "Splunk Enterprise Security",
    "Splunk Cloud",
];

/// The name of the data source a profile reads a source from on a platform: `detc <target>
/// <source> [<platform>]`.
pub fn data_source_name(profile: &Profile, source: Source, platform: Option<Platform>) -> String {
    match platform {
        Some(p) => format!("detc {} {} {}", profile.name, source.name(), p.name()),
        None => format!("detc {} {}", profile.name, source.name()),
    }
}

/// The data source object of a rule's source in an SPL profile ([`data_source_name`]), with the
/// `source` and `sourcetype` of the profile's entry for the platform (a base search's
/// `source="..."`, `sourcetype="..."`; a data model's name).
pub fn data_source(
    profile: &Profile,
    source: Source,
    platform: Option<Platform>,
    date: &str,
) -> Option<(String, String)> {
    let src = profile.sources.get(source.name())?.for_platform(platform)?;
    let SourceOptions::Spl(o) = &src.options else {
        return None;
    };
    let (source_v, sourcetype) = match o {
        SplSource::Search { search } => {
            let value = |key: &str| -> Option<String> {
                let at = search.find(&format!("{key}=\""))? + key.len() + 2;
                Some(search[at..].split('"').next()?.to_string())
            };
            let sourcetype = value("sourcetype").unwrap_or_else(|| search.clone());
            // A base search without `source=` reads every source of the sourcetype.
            (
                value(" source")
                    .or_else(|| {
                        search
                            .strip_prefix("source=\"")
                            .and_then(|_| value("source"))
                    })
                    .unwrap_or_else(|| sourcetype.clone()),
                sourcetype,
            )
        }
        SplSource::Tstats { datamodel, .. } => {
            (format!("datamodel={datamodel}"), datamodel.clone())
        }
    };
    let name = data_source_name(profile, source, platform);
    let doc = map(vec![
        ("name", s(&name)),
        ("id", s(&crate::targets::uuid::uuid5(NAMESPACE, &name)?)),
        ("version", Y::Number(1.into())),
        ("date", s(date)),
        ("author", s("detc")),
        (
            "description",
            s(&format!(
                "{} events as detc's {} profile reads them (targets/{}/profile.yaml).",
                source.name(),
                profile.name,
                profile.name
            )),
        ),
        ("source", s(&source_v)),
        ("sourcetype", s(&sourcetype)),
    ]);
    Some((
        format!("{}.yml", file_stem(&name)),
        crate::targets::yaml::document(&doc),
    ))
}

/// The analytic story file.
pub fn story(date: &str) -> Option<(String, String)> {
    let doc = map(vec![
        ("name", s(STORY)),
        ("id", s(&crate::targets::uuid::uuid5(NAMESPACE, STORY)?)),
        ("version", Y::Number(1.into())),
        ("date", s(date)),
        ("author", s("detc")),
        // contentctl accepts only `production` or `deprecated` for a story.
        ("status", s("production")),
        (
            "description",
            s("Detections compiled by detc from its rule pack."),
        ),
        (
            "narrative",
            s("Each detection is a rule of the detc pack compiled for one Splunk profile; docs/TARGETS.md says how."),
        ),
        ("references", Y::Sequence(Vec::new())),
        (
            "tags",
            map(vec![
                ("category", list(["Adversary Tactics".to_string()])),
                ("product", list(PRODUCTS.map(String::from))),
                ("usecase", s("Advanced Threat Detection")),
            ]),
        ),
    ]);
    Some((
        format!("{}.yml", file_stem(STORY)),
        crate::targets::yaml::document(&doc),
    ))
}

/// contentctl requires a date; a rule without `date` (or `modified`) gets the Unix epoch's,
/// which says "unknown" without inventing one (docs/TARGETS.md).
pub const NO_DATE: &str = "1970-01-01";

/// The rule's `modified`, else its `date`, else [`NO_DATE`].
pub fn date_of(rule: &Rule) -> &str {
    rule.meta
        .modified
        .as_deref()
        .or(rule.meta.date.as_deref())
        .unwrap_or(NO_DATE)
}

/// The detection of `rule` for the SPL profile `profile`, whose bare query is `query`: (folder,
/// file name, text), or why it cannot be one.
pub fn detection(
    rule: &Rule,
    profile: &Profile,
    query: &str,
) -> Result<(&'static str, String, String), String> {
    let name = name(rule, &profile.name);
    if name.chars().count() > MAX_NAME {
        return Err(format!(
            "a security_content name of {} characters (`{name}`): contentctl takes at most {MAX_NAME}",
            name.chars().count()
        ));
    }
    let date = date_of(rule);
    let stem = file_stem(&name);
    let one = crate::targets::one_line;
    let id = crate::targets::uuid::uuid5(&rule.id, &format!("contentctl {}", profile.name))
        .ok_or("the rule's id is not a UUID")?;
    let ds = data_source_name(profile, rule.source, rule.platform);
    let domain = if rule.source == Source::NetworkFlow {
        "network"
    } else {
        "endpoint"
    };
    let risk = splunk::risk_objects(rule, profile);
    let mut pairs: Vec<(&str, Y)> = vec![
        ("name", s(&name)),
        ("id", s(&id)),
        ("version", Y::Number(1.into())),
        ("date", s(date)),
        (
            "author",
            s(rule.meta.author.as_deref().unwrap_or("detc")),
        ),
        ("status", s("experimental")),
        ("type", s(if risk.is_empty() { "Hunting" } else { "TTP" })),
        (
            "description",
            s(&one(rule.meta.description.as_deref().unwrap_or(&rule.meta.title))),
        ),
        ("data_source", list([ds])),
        (
            "search",
            s(&format!("{}\n| `{stem}_filter`", query.trim_end())),
        ),
        (
            "how_to_implement",
            s(&format!(
                "Ingest {} events as the {} profile reads them (targets/{}/profile.yaml); deploy the search with the schedule of deploy/splunk/savedsearches.conf (stanza `detc - {} - {}`), which reports each period once.",
                rule.source.name(),
                profile.name,
                profile.name,
                rule.name,
                profile.name
            )),
        ),
        (
            "known_false_positives",
            s(&if rule.meta.false_positives.is_empty() {
                "None documented.".to_string()
            } else {
                one(&rule.meta.false_positives.join("; "))
            }),
        ),
        (
            "references",
            list(
                rule.meta
                    .references
                    .iter()
                    .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
                    .cloned(),
            ),
        ),
    ];
    if let Some((field, _)) = risk.first() {
        pairs.push((
            "rba",
            map(vec![
                (
                    "message",
                    s(&format!("{} on ${field}$", one(&rule.meta.title))),
                ),
                (
                    "risk_objects",
                    Y::Sequence(
                        risk.iter()
                            .map(|(f, t)| {
                                map(vec![
                                    ("field", s(f)),
                                    ("type", s(t)),
                                    (
                                        "score",
                                        Y::Number(splunk::risk_score(rule.meta.severity).into()),
                                    ),
                                ])
                            })
                            .collect(),
                    ),
                ),
                ("threat_objects", Y::Sequence(Vec::new())),
            ]),
        ));
    }
    pairs.push((
        "tags",
        map(vec![
            ("analytic_story", list([STORY.to_string()])),
            (
                "asset_type",
                s(if domain == "network" {
                    "Network"
                } else {
                    "Endpoint"
                }),
            ),
            (
                "mitre_attack_id",
                list(rule.meta.techniques.iter().cloned()),
            ),
            ("product", list(PRODUCTS.map(String::from))),
            ("security_domain", s(domain)),
        ]),
    ));
    pairs.push(("tests", Y::Sequence(Vec::new())));
    Ok((
        if domain == "network" {
            DETECTIONS_NETWORK
        } else {
            DETECTIONS_ENDPOINT
        },
        format!("{stem}.yml"),
        crate::targets::yaml::document(&map(pairs)),
    ))
}
