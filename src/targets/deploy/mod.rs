//! Deployable artefacts: a rule's query wrapped as a scheduled detection of a SIEM, written by
//! `detc compile --target all` under OUT/deploy/ beside the bare queries (and drift-checked with
//! them). Each artefact is made from the same emitter as the bare query, with the period filter
//! of [`schedule`] first and, for Defender, the columns the service requires; a rule the bare
//! query is not emitted for has no artefact either, and one the SIEM cannot schedule (a window
//! outside its bounds) is reported as not deployed (E0904, W0900 with `all`).
//!
//! - `deploy/sentinel/<rule>.yaml`: Azure-Sentinel repository YAML ([`sentinel`])
//! - `deploy/sentinel-arm/<rule>.json`: ARM template of `Microsoft.SecurityInsights/alertRules`
//! - `deploy/defender/<rule>.json`: Microsoft Graph `detectionRule` ([`defender`])

pub mod defender;
pub mod schedule;
pub mod sentinel;

pub use schedule::Schedule;

use super::escape::kql_ident;
use super::profile::{Profile, SourceOptions};
use super::{duration_text, Ctx, Emitted, Skipped};
use crate::diag::Code;
use crate::ir::{Pack, Rule};

pub const SENTINEL_DIR: &str = "deploy/sentinel";
pub const SENTINEL_ARM_DIR: &str = "deploy/sentinel-arm";
pub const DEFENDER_DIR: &str = "deploy/defender";

/// Every folder (under --out) artefacts are written to, for the drift check.
pub const DIRS: &[&str] = &[SENTINEL_DIR, SENTINEL_ARM_DIR, DEFENDER_DIR];

/// What [`compile_pack`] made: files, and the rules a SIEM cannot schedule.
#[derive(Debug, Default)]
pub struct Deployed {
    pub outputs: Vec<Emitted>,
    pub skipped: Vec<Skipped>,
}

/// The KQL condition selecting the period a run reports (`Schedule::reported`) on column `time`:
/// `T >= bin_at(now() - delay, P, epoch) - P and T < bin_at(now() - delay, P, epoch)`. `now()` is
/// the time the scheduled query runs.
pub fn kql_period(time: &str, s: &Schedule) -> String {
    let t = kql_ident(time);
    let p = duration_text(s.period);
    let end = format!(
        "bin_at(now() - {}, {p}, datetime(1970-01-01))",
        duration_text(s.delay)
    );
    format!("{t} >= {end} - {p} and {t} < {end}")
}

/// A KQL query for a deployed rule: the profile's query with the period first and `carry`
/// columns kept, without the two comment lines a bare query starts with. `None` when the bare
/// query is not emitted either (its refusal is reported there).
pub(crate) fn kql_query(
    rule: &Rule,
    profile: &Profile,
    s: &Schedule,
    carry: &[String],
) -> Option<(String, String, std::collections::BTreeMap<String, String>)> {
    let src = profile.sources.get(rule.source.name())?;
    let SourceOptions::Kql(opts) = &src.options else {
        return None;
    };
    let ctx = Ctx::new(rule, profile, src).ok()?;
    let time = &src.fields.get("time")?.column;
    let deploy = super::kql::Deploy {
        period: Some(format!("where {}", kql_period(time, s))),
        carry: carry.to_vec(),
    };
    let out = super::kql::emit_with(&ctx, opts, &deploy).ok()?;
    let body: Vec<&str> = out
        .text
        .lines()
        .skip_while(|l| l.starts_with("//"))
        .collect();
    Some((
        body.join("\n").trim_end().to_string(),
        src.table.clone(),
        out.columns,
    ))
}

/// The artefacts of every rule of the pack for the SIEMs among `profiles`.
pub fn compile_pack(pack: &Pack, profiles: &[Profile]) -> Deployed {
    let mut d = Deployed::default();
    for p in profiles.iter().filter(|p| p.name == "kql-defender") {
        for rule in pack.rules.iter().filter(|r| r.is_for(&p.name)) {
            let s = Schedule::of(rule);
            let carry: Vec<String> = defender::REQUIRED.iter().map(|c| c.to_string()).collect();
            let Some((query, _, _)) = kql_query(rule, p, &s, &carry) else {
                continue;
            };
            match defender::frequency(&s) {
                Ok(f) => d.outputs.push(Emitted {
                    rule: rule.name.clone(),
                    target: DEFENDER_DIR.to_string(),
                    file_name: format!("{}.json", rule.name),
                    text: defender::rule_json(rule, &query, f),
                    warnings: Vec::new(),
                }),
                Err(reason) => d.skipped.push(Skipped {
                    rule: rule.name.clone(),
                    target: DEFENDER_DIR.to_string(),
                    code: Code::E0904,
                    reason,
                }),
            }
        }
    }
    for p in profiles {
        if p.name != "kql-sentinel" {
            continue;
        }
        for rule in pack.rules.iter().filter(|r| r.is_for(&p.name)) {
            let s = Schedule::of(rule);
            let Some((query, table, columns)) = kql_query(rule, p, &s, &[]) else {
                continue;
            };
            let problem = sentinel::schedule_problem(&s).or_else(|| {
                (query.chars().count() > sentinel::MAX_QUERY).then(|| {
                    format!(
                        "a query of {} characters: Sentinel takes at most {}",
                        query.chars().count(),
                        sentinel::MAX_QUERY
                    )
                })
            });
            if let Some(reason) = problem {
                d.skipped.push(Skipped {
                    rule: rule.name.clone(),
                    target: SENTINEL_DIR.to_string(),
                    code: Code::E0904,
                    reason,
                });
                continue;
            }
            let maps = sentinel::mappings(rule, &columns);
            d.outputs.push(Emitted {
                rule: rule.name.clone(),
                target: SENTINEL_DIR.to_string(),
                file_name: format!("{}.yaml", rule.name),
                text: sentinel::yaml(rule, &query, &table, &s, &maps),
                warnings: Vec::new(),
            });
            d.outputs.push(Emitted {
                rule: rule.name.clone(),
                target: SENTINEL_ARM_DIR.to_string(),
                file_name: format!("{}.json", rule.name),
                text: sentinel::arm(rule, &query, &s, &maps),
                warnings: Vec::new(),
            });
        }
    }
    d
}
