//! A correlation of several events (`correlate within W by k.. [ordered] { steps }`) as Sigma
//! correlation rules (Sigma correlation rules specification v2.0.0, "Temporal Proximity
//! (temporal)" and "Ordered Temporal Proximity (temporal_ordered)"): one base rule per step,
//! then one correlation document of type `temporal` (or `temporal_ordered`, the steps in written
//! order) over them, grouped by the keys, with `timespan` W and the condition `gte: <steps>`
//! (the count of different referenced rules that matched, which the specification defines).
//!
//! Meaning kept (docs/TARGETS.md, "Correlation"; proven against rsigma-eval in
//! tests/it/sigma_correlate.rs):
//! - "within W": the specification asks that all the events "occur in the time frame defined by
//!   timespan", not restricted to boundaries; rsigma-eval keeps an event exactly `timespan` old
//!   (`WindowState::evict` drops `t < now - timespan`), so a match is `max(t) - min(t) <= W`,
//!   both edges included, as the IR. Ordered ties: rsigma's `check_temporal_ordered` takes a
//!   later step at a time `>=` the earlier one's, as the IR's "equal times are in order".
//! - A missing key never correlates: Sigma engines group an event without a group-by field under
//!   "no value" (rsigma keeps `None` in the group key), so each base rule also requires every key
//!   to be present and non-empty (the IR's "missing"), as the evaluator skips keyless events.
//! - Keys are grouped by the raw column value, as the evaluator does (exact, case-sensitive); a
//!   key Sigma cannot group by the same value (a file name read from a path, a column that
//!   changes meaning with the direction, an enum spelled by several raw values) is refused
//!   (E0920). Where the steps' sources name a key's column differently, the correlation names
//!   it once with the specification's `aliases` ("Field Name Aliases").
//! - W0908: how many alerts a match raises, and whether a query backend keeps the window
//!   sliding, are left to the Sigma engine (see `warning`).
//!
//! Names and ids: the base rule of step `s` is named `<rule>__<s>` (step names are identifiers,
//! unique in the rule; a clash with another rule's name is E0907 in the driver), with the id
//! `uuid5(rule id, "sigma-step/<s>")`; the correlation document carries the rule's own id.

use super::super::driver::source_entry;
use super::super::profile::{Profile, SourceOptions};
use super::super::{duration_text, Ctx, Derive};
use super::{base_doc, derived_id, detection_filter, map, meta, s, tail, titled};
use crate::diag::{Code, Diagnostic};
use crate::ir::{Correlation, Expr, FieldRef, FieldType, Op, Predicate, Rule};
use serde_yaml::{Mapping, Value as Y};

/// The Sigma documents of correlation rule `rule` for `profile`, and the warnings.
pub(in crate::targets) fn emit_correlate(
    rule: &Rule,
    c: &Correlation,
    profile: &Profile,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut docs = Vec::new();
    let mut errs = Vec::new();
    let mut names = Vec::new();
    // Per key, the column each step reads it from.
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); c.keys.len()];
    for step in &c.steps {
        let src = match source_entry(rule, step.source, &step.span, profile) {
            Ok(s) => s,
            Err(d) => {
                errs.push(d);
                continue;
            }
        };
        let SourceOptions::Sigma(opts) = &src.options else {
            continue; // the loader gives a Sigma profile only Sigma options
        };
        // The step as a one-source rule, its keys required (a missing key never correlates).
        // (Flat: `Ctx::swap_excluded` reads the direction from the top-level conjuncts.)
        let mut conj = match &step.filter {
            Expr::And(v) => v.clone(),
            f => vec![f.clone()],
        };
        for k in &c.keys {
            let ty = crate::ir::catalogue::field(step.source, k)
                .map(|f| f.ty)
                .unwrap_or(FieldType::String);
            conj.push(Expr::Pred(Predicate {
                field: FieldRef::Field(k.clone()),
                ty,
                op: Op::Exists,
                // Keys are never list fields (E0315): one value each.
                each: false,
                span: c.span.clone(),
            }));
        }
        let one = Rule {
            source: step.source,
            filter: Expr::And(conj),
            correlation: None,
            aggregation: None,
            lets: Vec::new(),
            tests: Vec::new(),
            ..rule.clone()
        };
        let ctx = match Ctx::new(&one, profile, src) {
            Ok(x) => x,
            Err(ds) => {
                errs.extend(ds);
                continue;
            }
        };
        for (i, k) in c.keys.iter().enumerate() {
            match key_column(&ctx, k, c) {
                Ok(col) => columns[i].push(col),
                Err(d) => errs.push(d),
            }
        }
        let filter = match detection_filter(&ctx) {
            Ok(f) => f,
            Err(ds) => {
                errs.extend(ds);
                continue;
            }
        };
        let name = format!("{}__{}", rule.name, step.name);
        let id = derived_id(&ctx, &format!("sigma-step/{}", step.name))?;
        match base_doc(&ctx, opts, &filter, &id, Some(&name), true) {
            Ok(d) => docs.push(d),
            Err(ds) => errs.extend(ds),
        }
        names.push(name);
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    // Any step's context gives the rule's metadata and the template.
    let first = &c.steps[0];
    let src = source_entry(rule, first.source, &first.span, profile).map_err(|d| vec![d])?;
    let one = Rule {
        source: first.source,
        correlation: None,
        ..rule.clone()
    };
    let ctx = Ctx {
        rule: &one,
        profile,
        src,
    };
    docs.push(correlation_doc(&ctx, c, &names, &columns));
    let texts: Vec<String> = docs.iter().map(super::super::yaml::document).collect();
    let text = ctx.render(minijinja::context! { documents => texts })?;
    Ok((text, vec![warning(&ctx, c)]))
}

/// The column of key `k` in the step's source, when grouping by it groups by the IR's value.
fn key_column(ctx: &Ctx, k: &str, c: &Correlation) -> Result<String, Diagnostic> {
    let col = ctx.field(k, &c.span)?;
    let refuse = |why: &str| {
        let mut d = ctx
            .refuse(
                &format!("a correlation keyed by `{k}`"),
                &format!(
                    "a Sigma correlation groups by a column's raw value, and {why} ({})",
                    ctx.table()
                ),
                &c.span,
            )
            .expected(format!(
                "a key that {} stores as one value",
                ctx.profile.name
            ))
            .hint("key the correlation by another field, or compile it for another target");
        d.code = Code::E0920;
        d
    };
    if let Some(d) = &col.map.derive {
        let what = match d {
            Derive::Basename => "a file name read from a path",
            Derive::Long => "a number read from text",
        };
        return Err(refuse(&format!(
            "`{k}` is computed from the column {} ({what})",
            col.map.column
        )));
    }
    if !col.map.join.is_empty() {
        return Err(refuse(&format!(
            "`{k}` joins the columns {}",
            col.map.join.join(", ")
        )));
    }
    if ctx.src.swap_partner(&col.map.column).is_some() && !ctx.swap_excluded() {
        return Err(refuse(&format!(
            "`{k}` is read from {} or its partner column depending on the direction, which this step does not fix",
            col.map.column
        )));
    }
    if col.map.values.is_some() {
        return Err(refuse(&format!(
            "`{k}` is an enumeration spelled by the column {}'s own values",
            col.map.column
        )));
    }
    Ok(col.map.column)
}

fn correlation_doc(ctx: &Ctx, c: &Correlation, names: &[String], columns: &[Vec<String>]) -> Y {
    let rule = ctx.rule;
    let mut v = meta(ctx, titled(&rule.meta.title, ""), &rule.id, None);
    let ty = if c.ordered {
        "temporal_ordered"
    } else {
        "temporal"
    };
    let mut group_by = Vec::new();
    let mut aliases = Mapping::new();
    for (k, cols) in c.keys.iter().zip(columns) {
        if cols.iter().all(|x| *x == cols[0]) {
            group_by.push(s(&cols[0]));
        } else {
            // One name for the key, resolved per base rule (specification, "Aliases").
            let per_rule: Mapping = names.iter().zip(cols).map(|(n, x)| (s(n), s(x))).collect();
            aliases.insert(s(k), Y::Mapping(per_rule));
            group_by.push(s(k));
        }
    }
    let mut corr = vec![
        ("type", s(ty)),
        ("rules", Y::Sequence(names.iter().map(|n| s(n)).collect())),
        ("group-by", Y::Sequence(group_by)),
        ("timespan", s(&duration_text(c.window))),
    ];
    if !aliases.is_empty() {
        corr.push(("aliases", Y::Mapping(aliases)));
    }
    corr.push((
        "condition",
        map(vec![("gte", Y::Number((c.steps.len() as u64).into()))]),
    ));
    v.push(("correlation", map(corr)));
    v.extend(tail(ctx));
    map(v)
}

/// W0908: the correlation document states which events correlate (and rsigma-eval, a streaming
/// engine, agrees with the evaluator on it); two things it leaves to each Sigma engine are said
/// once per rule.
fn warning(ctx: &Ctx, c: &Correlation) -> Diagnostic {
    let order = if c.ordered {
        "; a backend that cannot see the order of events must warn and matches them in any order"
    } else {
        ""
    };
    ctx.warn(
        Code::W0908,
        format!(
            "the Sigma {} correlation over {} leaves two things to the engine: how many alerts a match raises (rsigma-eval alerts on every event of a step while a match lies within the timespan; the evaluator once per event that completes one), and the window: pySigma's query backends may count in fixed buckets of {} (the specification allows it where the backend requires it), missing events on either side of a bucket edge{order}",
            if c.ordered { "temporal_ordered" } else { "temporal" },
            c.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
            duration_text(c.window)
        ),
    )
}

#[cfg(test)]
mod tests {
    /// Where two steps' sources name a key by different columns, the correlation groups by the
    /// key's name with the specification's `aliases` (one column per base rule), and rsigma-eval
    /// correlates the two events through them. (The shipped profile names every key alike, so
    /// one source's `host` column is renamed here to an existing column of its table.)
    #[test]
    fn keys_named_differently_per_source_become_aliases() {
        let text = "rule r { id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\" title \"t\" severity low \
                    correlate within 1m by host, process.id { \
                    a: process_creation where process.command_line contains \"x\" \
                    b: network_connection where direction == outbound and remote.port == 25 } }";
        let pack = crate::targets::pack_of(text);
        let mut p = crate::targets::profile("sigma").unwrap_or_else(|| unreachable!("sigma"));
        let net = p
            .sources
            .get_mut("network_connection")
            .unwrap_or_else(|| unreachable!("network_connection"));
        net.fields
            .get_mut("host")
            .unwrap_or_else(|| unreachable!("host"))
            .column = "User".into();
        let out = crate::targets::compile_rule(&pack.rules[0], &p)
            .unwrap_or_else(|d| unreachable!("{d:#?}"));
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&out.text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| unreachable!("{e}")))
            .collect();
        let corr = &docs[2]["correlation"];
        assert_eq!(corr["group-by"][0], "host", "{}", out.text);
        assert_eq!(corr["group-by"][1], "ProcessId");
        assert_eq!(corr["aliases"]["host"]["r__a"], "Computer");
        assert_eq!(corr["aliases"]["host"]["r__b"], "User");
        let events = [
            serde_json::json!({"category": "process_creation", "product": "windows",
                "Computer": "WS01", "ProcessId": 7, "CommandLine": "x"}),
            serde_json::json!({"category": "network_connection", "product": "windows",
                "User": "WS01", "ProcessId": 7, "Initiated": "true", "DestinationPort": 25}),
        ];
        let coll =
            rsigma_parser::parse_sigma_yaml(&out.text).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(coll.errors.is_empty(), "{:?}", coll.errors);
        let mut engine =
            rsigma_eval::CorrelationEngine::new(rsigma_eval::CorrelationConfig::default());
        engine.set_logsource_extractor(Some(rsigma_eval::LogSourceExtractor::new()));
        engine
            .add_collection(&coll)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let fired: usize = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                engine
                    .process_event_at(&rsigma_eval::JsonEvent::borrow(e), 1000 + i as i64)
                    .iter()
                    .filter(|r| r.as_correlation().is_some())
                    .count()
            })
            .sum();
        assert_eq!(fired, 1);
    }
}
