//! A correlation in SPL: one search over every step's events (`(base_a) OR (base_b)`), a flag
//! per step (`searchmatch` of the step's base search and the step's condition, as a rule of its
//! own would filter), the keys, then running maxima per key in time order:
//! - `eventstats max(t_i) by keys, t`: the latest time of step i among the events of this very
//!   second (so that ties are included whatever their order), then
//! - `streamstats max(g_i) by keys` over the events sorted by time: the latest time of step i at
//!   or before this event's second.
//!
//! An ordered chain carries, per step, the first-step time of the best chain ending at that
//! step's latest event (a non-decreasing function of time, so a running maximum again). No
//! `transaction`: its `maxspan` and eviction limits are not the evaluator's window.
//! Splunk Search Reference: searchmatch (eval functions), eventstats, streamstats (`current`
//! and `window` defaults: the current event and every earlier one), sort (`sort 0`: no limit).

use super::{key_column, key_names, step_pipeline, step_rule};
use crate::diag::{Code, Diagnostic};
use crate::ir::{Correlation, Rule};
use crate::targets::escape::{spl_field, spl_string};
use crate::targets::profile::{Profile, SourceOptions, SplSource};
use std::collections::BTreeSet;

pub(in crate::targets) fn emit(
    rule: &Rule,
    c: &Correlation,
    profile: &Profile,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut errs = Vec::new();
    let mut warnings = Vec::new();
    let n = c.steps.len();
    // Per step: its base search, its condition (a `where` expression, or none), its key columns.
    let mut bases: Vec<String> = Vec::new();
    let mut conds: Vec<Option<String>> = Vec::new();
    let mut key_cols: Vec<Vec<String>> = Vec::new();
    let mut evals: Vec<String> = Vec::new();
    let mut columns: BTreeSet<String> = BTreeSet::new();
    for s in &c.steps {
        let mut cols = Vec::new();
        for key in &c.keys {
            match key_column(rule, c, profile, s.source, key) {
                Ok(col) => cols.push(col.column),
                Err(d) => errs.push(d),
            }
        }
        key_cols.push(cols);
        if let Ok(src) = crate::targets::driver::source_entry(rule, s.source, &s.span, profile) {
            if !matches!(src.options, SourceOptions::Spl(SplSource::Search { .. })) {
                errs.push(refuse_tstats(rule, c, profile, &src.table));
                continue;
            }
            columns.extend(src.columns.keys().cloned());
        }
        let step = step_rule(rule, s, s.filter.clone());
        let (head, stages, w) = match step_pipeline(&step, profile, "search") {
            Ok(x) => x,
            Err(d) => {
                errs.extend(d);
                continue;
            }
        };
        warnings.extend(w);
        let mut cond = Vec::new();
        for st in stages {
            if let Some(x) = st.strip_prefix("where ") {
                cond.push(format!("({x})"));
            } else if let Some(assign) = st.strip_prefix("eval ") {
                // A field computed for the condition (a basename, a swapped column): the same
                // name computed twice the same way is computed once; two ways is a clash.
                let name = assign.split('=').next().unwrap_or_default();
                let same_name = |e: &&String| {
                    e.strip_prefix("eval ").and_then(|a| a.split('=').next()) == Some(name)
                };
                match evals.iter().find(same_name) {
                    Some(e) if *e == st => {}
                    Some(_) => errs.push(clash(rule, c, profile, name)),
                    None => evals.push(st.clone()),
                }
            } else {
                errs.push(Diagnostic::new(
                    Code::E0905,
                    format!(
                        "rule `{}`: target `{}`: a correlation step's query has a stage this lowering does not place: `{st}`",
                        rule.name, profile.name
                    ),
                ));
            }
        }
        bases.push(head);
        conds.push(if cond.is_empty() {
            None
        } else {
            Some(cond.join(" AND "))
        });
    }
    if !errs.is_empty() {
        return Err(super::unique(errs));
    }
    let fresh = |base: &str| {
        let mut n = base.to_string();
        while columns.iter().any(|c| c.eq_ignore_ascii_case(&n)) {
            n.push('_');
        }
        n
    };
    let keys = key_names(c, &[]);
    let key_fields: Vec<String> = keys.iter().map(|k| fresh(&format!("key_{k}"))).collect();
    let t = fresh("t");
    let s: Vec<String> = (0..n).map(|i| fresh(&format!("s_{i}"))).collect();
    let ti: Vec<String> = (0..n).map(|i| fresh(&format!("t_{i}"))).collect();
    let gi: Vec<String> = (0..n).map(|i| fresh(&format!("g_{i}"))).collect();
    let li: Vec<String> = (0..n).map(|i| fresh(&format!("l_{i}"))).collect();

    let mut distinct: Vec<&String> = Vec::new();
    for b in &bases {
        if !distinct.contains(&b) {
            distinct.push(b);
        }
    }
    let search = if distinct.len() == 1 {
        distinct[0].clone()
    } else {
        distinct
            .iter()
            .map(|b| format!("({b})"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let mut stages = evals;
    let flags: Vec<String> = (0..n)
        .map(|i| {
            let m = format!("searchmatch({})", spl_string(&bases[i]));
            let test = match &conds[i] {
                Some(x) => format!("{m} AND {x}"),
                None => m,
            };
            format!("{}=if({test}, 1, 0)", s[i])
        })
        .collect();
    stages.push(format!("eval {}", flags.join(", ")));
    stages.push(format!(
        "where {}",
        s.iter()
            .map(|x| format!("{x}=1"))
            .collect::<Vec<_>>()
            .join(" OR ")
    ));
    // The keys under names of their own, read from each step's column; present and not empty.
    let mut kev = Vec::new();
    for (j, kf) in key_fields.iter().enumerate() {
        let cols: BTreeSet<&String> = key_cols.iter().map(|k| &k[j]).collect();
        let body = if cols.len() == 1 {
            spl_field(&key_cols[0][j])
        } else {
            let arms: Vec<String> = (0..n)
                .map(|i| format!("{}=1, {}", s[i], spl_field(&key_cols[i][j])))
                .collect();
            format!("case({})", arms.join(", "))
        };
        kev.push(format!("{kf}={body}"));
    }
    stages.push(format!("eval {}", kev.join(", ")));
    stages.push(format!(
        "where {}",
        key_fields
            .iter()
            .map(|k| format!("isnotnull({k}) AND {k}!=\"\""))
            .collect::<Vec<_>>()
            .join(" AND ")
    ));
    let mut tev = vec![format!("{t}=floor(_time)")];
    for i in 0..n {
        tev.push(format!("{}=if({}=1, {t}, null())", ti[i], s[i]));
    }
    stages.push(format!("eval {}", tev.join(", ")));
    stages.push(format!("sort 0 {t}"));
    let by = key_fields.join(" ");
    let w = c.window;
    let (cond, first) = if !c.ordered {
        let maxes = |of: &[String], to: &[String]| {
            of.iter()
                .zip(to)
                .map(|(a, b)| format!("max({a}) as {b}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        stages.push(format!("eventstats {} by {by} {t}", maxes(&ti, &gi)));
        stages.push(format!("streamstats {} by {by}", maxes(&gi, &li)));
        let cond: Vec<String> = li
            .iter()
            .map(|l| format!("isnotnull({l}) AND {l} >= {t} - {w}"))
            .collect();
        let mut acc = li[n - 1].clone();
        for l in li[..n - 1].iter().rev() {
            acc = format!("if({l}<{acc}, {l}, {acc})");
        }
        (cond.join(" AND "), acc)
    } else {
        // l_0: the latest first-step time at or before the event; l_i: the first-step time of
        // the best chain whose step-i event is the latest one at or before the event.
        stages.push(format!(
            "eventstats max({}) as {} by {by} {t}",
            ti[0], gi[0]
        ));
        stages.push(format!("streamstats max({}) as {} by {by}", gi[0], li[0]));
        for i in 1..n - 1 {
            stages.push(format!(
                "eval {}=if({}=1, {}, null())",
                ti[i],
                s[i],
                li[i - 1]
            ));
            stages.push(format!(
                "eventstats max({}) as {} by {by} {t}",
                ti[i], gi[i]
            ));
            stages.push(format!("streamstats max({}) as {} by {by}", gi[i], li[i]));
        }
        let l = &li[n - 2];
        (
            format!("{}=1 AND isnotnull({l}) AND {l} >= {t} - {w}", s[n - 1]),
            l.clone(),
        )
    };
    stages.push(format!("where {cond}"));
    stages.push(format!("eval first_seen={first}, last_seen={t}"));
    stages.push(format!("table {by} first_seen last_seen"));
    let renames: Vec<String> = key_fields
        .iter()
        .zip(&keys)
        .map(|(f, k)| format!("{f} AS {k}"))
        .collect();
    stages.push(format!("rename {}", renames.join(", ")));
    let first = &c.steps[0];
    let src = crate::targets::driver::source_entry(rule, first.source, &first.span, profile)
        .map_err(|d| vec![d])?;
    let ctx = crate::targets::Ctx { rule, profile, src };
    let text = ctx.render(minijinja::context! {
        search => search,
        stages => stages,
    })?;
    Ok((text, warnings))
}

fn refuse_tstats(rule: &Rule, c: &Correlation, profile: &Profile, table: &str) -> Diagnostic {
    Diagnostic::new(
        Code::E0917,
        format!(
            "rule `{}`: a correlation cannot be expressed in target `{}`: its step over `{table}` is a `tstats` data-model search, which returns per-group statistics, not the events a correlation orders in time",
            rule.name, profile.name
        ),
    )
    .at(c.span.clone())
    .found(format!("a correlation step over the data model `{table}`"))
    .expected("steps whose sources are raw-event searches (spl-sysmon)")
    .hint("compile the rule for spl-sysmon or a KQL target")
}

fn clash(rule: &Rule, c: &Correlation, profile: &Profile, name: &str) -> Diagnostic {
    Diagnostic::new(
        Code::E0917,
        format!(
            "rule `{}`: a correlation cannot be expressed in target `{}`: two steps compute the field `{name}` in different ways",
            rule.name, profile.name
        ),
    )
    .at(c.span.clone())
    .found(format!("`{name}` computed differently by two steps"))
    .expected("steps whose computed fields agree")
    .hint("compile the rule for a KQL target")
}
