//! Correlations of several events (`ir::Correlation`) for the query targets: KQL ([`kql`]) and
//! SPL ([`spl`]); Sigma refuses (E0915) until its temporal lowering lands.
//!
//! Both lowerings compute exactly the evaluator's alerts (`eval::correlate`, docs/SEMANTICS.md
//! "Correlation"): one alert per event that is the latest of some match, carrying the keys,
//! `first_seen` and `last_seen`. Whether an event is the latest of a match, and the match's
//! `first_seen`, depend only on its keys, its time and (ordered) whether it meets the last step,
//! so each target computes them per (keys, time) and keeps one row per such event:
//! - unordered: for every step, the latest event of that step at or before `t` and not before
//!   `t - W` (ties included); the event alerts when every step has one; `first_seen` is the
//!   earliest of them.
//! - ordered: the event meets the last step; walking back, the latest event of each step at or
//!   before the one chosen after it and not before `t - W`; `first_seen` is the first step's.
//!
//! Each step is compiled as a one-source rule by the language's own emitter (the same filter
//! text a rule of its own would get), then placed in the correlation's query.

pub(super) mod kql;
pub(super) mod spl;

use super::driver::{compile_rule, Emitted};
use super::profile::{Derive, Language, Profile};
use crate::diag::{Code, Diagnostic};
use crate::ir::{self, Correlation, Expr, FieldType, Rule};

/// Compiles the correlation `c` of `rule` for `profile`.
pub(super) fn compile(
    rule: &Rule,
    c: &Correlation,
    profile: &Profile,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    match profile.language {
        Language::Kql => kql::emit(rule, c, profile),
        Language::Spl => spl::emit(rule, c, profile),
        Language::Sigma => Err(vec![super::driver::refuse_correlation(rule, c, profile)]),
    }
}

/// The rule of one step: the correlation's metadata over the step's source and `filter`, with
/// nothing else (no lets, tests, entities or aggregation), as the evaluator compiles it; located
/// at the step, so that a refusal of its source points there.
pub(super) fn step_rule(rule: &Rule, step: &ir::Step, filter: Expr) -> Rule {
    Rule {
        source: step.source,
        filter,
        span: step.span.clone(),
        correlation: None,
        aggregation: None,
        lets: Vec::new(),
        tests: Vec::new(),
        entities: Vec::new(),
        schedule: None,
        ..rule.clone()
    }
}

/// One step compiled by its language's emitter with a layout-only template (the query's first
/// line, then one `| stage` line per stage): the first line and the stages.
pub(super) fn step_pipeline(
    step: &Rule,
    profile: &Profile,
    first: &str,
) -> Result<(String, Vec<String>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut bare = profile.clone();
    bare.template =
        format!("{{{{ {first} }}}}{{%- for stage in stages %}}\n| {{{{ stage }}}}{{%- endfor %}}");
    let Emitted { text, warnings, .. } = compile_rule(step, &bare)?;
    let mut lines = text.split("\n| ");
    let head = lines.next().unwrap_or_default().to_string();
    Ok((head, lines.map(str::to_string).collect(), warnings))
}

/// The column a correlation key is read from, and whether it holds the number as text
/// (`derive: long`, which a KQL step reads as `tolong(C)`).
#[derive(Debug, Clone, Default)]
pub(super) struct KeyColumn {
    pub column: String,
    pub number_text: bool,
}

/// E0916: a key the target cannot compare as the evaluator does. A key must be one column of
/// every step's table, holding the value itself (or, in KQL, a number as its text: `tolong`):
/// not an address (the evaluator compares addresses as parsed values, `::1` equal to `0::1`, a
/// join compares text), not an enum mapped from column values, not a value joined from several
/// columns, derived from a path or swapped with another column by direction; nor a field the
/// step's table lacks (the profile's `unsupported` reason).
pub(super) fn key_column(
    rule: &Rule,
    c: &Correlation,
    profile: &Profile,
    source: ir::Source,
    key: &str,
) -> Result<KeyColumn, Diagnostic> {
    let refuse = |why: String| {
        Diagnostic::new(
            Code::E0916,
            format!(
                "rule `{}`: the correlation key `{key}` cannot be compared in target `{}`: {why}",
                rule.name, profile.name
            ),
        )
        .at(c.span.clone())
        .found(format!("key `{key}`"))
        .expected("keys that are one column of each step's table, holding text or a number")
        .hint(
            "correlate by another key (host, process.id, user), or run the rule with the evaluator",
        )
    };
    let ty = ir::catalogue::field(source, key).map(|f| f.ty);
    if matches!(ty, Some(FieldType::Ip | FieldType::Enum(_))) {
        return Err(refuse(format!(
            "the evaluator compares {} values as typed values, the target's join compares the column's text",
            if ty == Some(FieldType::Ip) { "address" } else { "enum" }
        )));
    }
    let Ok(src) = super::driver::source_entry(rule, source, &c.span, profile) else {
        // compile_rule of the step reports the missing table (E0901, E0308).
        return Ok(KeyColumn::default());
    };
    let Some(map) = src.fields.get(key) else {
        // A key the table cannot provide: the step's own compilation reports it (E0902) only
        // when its filter reads the field, so it is refused here, with the profile's reason.
        if let Some(why) = src.unsupported.get(key) {
            return Err(refuse(format!("in `{}`, {why}", src.table)));
        }
        return Ok(KeyColumn::default()); // E0902 from the step's compilation
    };
    let number_text = map.derive == Some(Derive::Long) && profile.language == Language::Kql;
    if !map.join.is_empty() || (map.derive.is_some() && !number_text) || map.values.is_some() {
        return Err(refuse(format!(
            "in `{}`, `{key}` is not one column ({} is computed from the event)",
            src.table, map.column
        )));
    }
    if src.swap_partner(&map.column).is_some() {
        return Err(refuse(format!(
            "in `{}`, `{key}` is read from `{}` or its partner column depending on the direction",
            src.table, map.column
        )));
    }
    Ok(KeyColumn {
        column: map.column.clone(),
        number_text,
    })
}

/// Each diagnostic once (two steps may give the same refusal), in first-seen order.
pub(super) fn unique(errs: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for d in errs {
        if !out.iter().any(|o| o.message == d.message) {
            out.push(d);
        }
    }
    out
}

/// The output name of each key: the catalogue field with `_` for `.`, unique.
pub(super) fn key_names(c: &Correlation, taken: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in &c.keys {
        let mut n = k.replace('.', "_");
        while out.iter().any(|o| o.eq_ignore_ascii_case(&n))
            || taken.iter().any(|t| t.eq_ignore_ascii_case(&n))
        {
            n.push('_');
        }
        out.push(n);
    }
    out
}
