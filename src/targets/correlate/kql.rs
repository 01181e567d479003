//! A correlation in KQL: one `let` per step (its table, filtered by the step's condition as a
//! rule of its own would be, keyless rows dropped, projected to the keys and the time in whole
//! seconds), then per end event (keys, time) one inner join per step within the window, each
//! summarised at once to the latest time of that step (so the result never holds the N x M
//! pairs), and a last join back to the end events, one row per alert.
//!
//! Kusto: `join kind=inner` keeps every matching pair ("inner join", the join operator; the
//! default kind, `innerunique`, would drop duplicate left keys), `between` is inclusive at both
//! ends (the between operator), `bin(T, 1s)` floors to the second as the evaluator reads times.

use super::{key_column, key_names, step_pipeline, step_rule};
use crate::diag::Diagnostic;
use crate::ir::{Correlation, Expr, Rule};
use crate::targets::escape::kql_ident;
use crate::targets::kql::derived;
use crate::targets::profile::Profile;
use crate::targets::Derive;
use crate::targets::{duration_text, one_line, Ctx};

pub(in crate::targets) fn emit(
    rule: &Rule,
    c: &Correlation,
    profile: &Profile,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut errs = Vec::new();
    let mut warnings = Vec::new();
    let keys = key_names(c, &[]);
    let n = c.steps.len();
    let tcols: Vec<String> = (0..n).map(|i| format!("t_{i}")).collect();
    let mut lets = Vec::new();
    // The step's rows (`step_<name>`), and for an unordered correlation the rows that may end a
    // match, each event once: a step's rows that meet no earlier step of the same source
    // (an event meeting two steps is one event, as in the evaluator).
    let mut step_names = Vec::new();
    let mut end_names = Vec::new();
    for (i, s) in c.steps.iter().enumerate() {
        let name = format!("step_{}", s.name);
        match step_let(rule, c, profile, s, s.filter.clone(), &keys, &name) {
            Ok((text, w)) => {
                lets.push(text);
                warnings.extend(w);
            }
            Err(d) => errs.extend(d),
        }
        step_names.push(name.clone());
        if c.ordered {
            continue;
        }
        let earlier: Vec<Expr> = c.steps[..i]
            .iter()
            .filter(|e| e.source == s.source)
            .map(|e| Expr::Not(Box::new(e.filter.clone())))
            .collect();
        if earlier.is_empty() {
            end_names.push(name);
            continue;
        }
        let mut all = vec![s.filter.clone()];
        all.extend(earlier);
        let ends = format!("ends_{}", s.name);
        match step_let(rule, c, profile, s, Expr::And(all), &keys, &ends) {
            Ok((text, _)) => lets.push(text),
            Err(d) => errs.extend(d),
        }
        end_names.push(ends);
    }
    if !errs.is_empty() {
        return Err(super::unique(errs));
    }
    let ends = if c.ordered {
        step_names[n - 1].clone()
    } else if end_names.len() == 1 {
        end_names[0].clone()
    } else {
        lets.push(format!("let ends = union {};", end_names.join(", ")));
        "ends".to_string()
    };
    let k = keys
        .iter()
        .map(|k| kql_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    let w = duration_text(c.window);
    let mut stages = vec![
        format!("project {k}, t_end = t"),
        format!("distinct {k}, t_end"),
    ];
    // The steps joined, latest first for `ordered` (each bounded by the one after it).
    let order: Vec<usize> = if c.ordered {
        (0..n - 1).rev().collect()
    } else {
        (0..n).collect()
    };
    let mut carried: Vec<String> = Vec::new();
    for i in order {
        let upper = if c.ordered && i + 1 < n - 1 {
            tcols[i + 1].clone()
        } else {
            "t_end".to_string()
        };
        let ti = &tcols[i];
        stages.push(format!(
            "join kind=inner ({} | project {k}, {ti} = t) on {k}",
            step_names[i]
        ));
        stages.push(format!("where {ti} between ((t_end - {w}) .. {upper})"));
        let mut by = vec![k.clone(), "t_end".to_string()];
        by.extend(carried.iter().cloned());
        stages.push(format!("summarize {ti} = max({ti}) by {}", by.join(", ")));
        carried.push(ti.clone());
    }
    let first = if c.ordered {
        tcols[0].clone()
    } else {
        // The earliest of the steps' latest times.
        let mut acc = tcols[n - 1].clone();
        for t in tcols[..n - 1].iter().rev() {
            acc = format!("iff({t} < {acc}, {t}, {acc})");
        }
        acc
    };
    stages.push(format!(
        "join kind=inner ({ends} | project {k}, t_end = t) on {k}, t_end"
    ));
    stages.push(format!(
        "project {k}, first_seen = {first}, last_seen = t_end"
    ));
    let mut from = lets.join("\n");
    from.push('\n');
    from.push_str(&ends);
    // The profile's layout (header comment, then the stages), as for a rule of one source.
    let first = &c.steps[0];
    let src = crate::targets::driver::source_entry(rule, first.source, &first.span, profile)
        .map_err(|d| vec![d])?;
    let ctx = Ctx { rule, profile, src };
    let text = ctx.render(minijinja::context! {
        title => one_line(&rule.meta.title),
        rule_name => one_line(&rule.name),
        rule_id => one_line(&rule.id),
        target => profile.name.clone(),
        from => from,
        stages => stages,
    })?;
    Ok((text, warnings))
}

/// `let <name> = <the step's table and filter> | where <keys present> | project <keys>, t;`
#[allow(clippy::too_many_arguments)]
fn step_let(
    rule: &Rule,
    c: &Correlation,
    profile: &Profile,
    step: &crate::ir::Step,
    filter: Expr,
    keys: &[String],
    name: &str,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut errs = Vec::new();
    let mut cols = Vec::new();
    for key in &c.keys {
        match key_column(rule, c, profile, step.source, key) {
            Ok(col) => cols.push(col),
            Err(d) => errs.push(d),
        }
    }
    let (head, mut stages, warnings) =
        match step_pipeline(&step_rule(rule, step, filter), profile, "from") {
            Ok(x) => x,
            Err(d) => {
                errs.extend(d);
                return Err(errs);
            }
        };
    if !errs.is_empty() {
        return Err(errs);
    }
    let time = profile
        .sources
        .get(step.source.name())
        .and_then(|s| s.fields.get("time"))
        .map(|m| m.column.clone())
        .unwrap_or_default();
    // A number held as text is its `tolong`: null (so no key, never joined) where the text is
    // no number, as the evaluator reads such a value (missing).
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| {
            if c.number_text {
                derived(Derive::Long, &c.column)
            } else {
                kql_ident(&c.column)
            }
        })
        .collect();
    let present: Vec<String> = exprs.iter().map(|e| format!("isnotempty({e})")).collect();
    stages.push(format!("where {}", present.join(" and ")));
    let proj: Vec<String> = keys
        .iter()
        .zip(&exprs)
        .map(|(k, e)| format!("{} = {e}", kql_ident(k)))
        .collect();
    stages.push(format!(
        "project {}, t = bin({}, 1s)",
        proj.join(", "),
        kql_ident(&time)
    ));
    let mut text = format!("let {name} = {head}");
    for s in stages {
        text.push_str("\n| ");
        text.push_str(&s);
    }
    text.push(';');
    Ok((text, warnings))
}
