//! One Sigma correlation rule (Sigma correlation rules specification v2.0.0) over its resolved
//! base rules -> the body of one detc rule (an aggregation, or a `correlate`), or the reason it
//! cannot be imported exactly.
//!
//! | Sigma | detc |
//! |---|---|
//! | `event_count` over one rule | `window T group by .. aggregate events = count() having ..` |
//! | `value_count` (`field: F`) over one rule | `aggregate values = distinct(F)` |
//! | `value_sum` (`field: F`) over one rule | `aggregate total = sum(F)` |
//! | `temporal` over rules r1..rn, every rule required | `correlate within T by .. { r1: .. rn: .. }` |
//! | `temporal_ordered`, every rule required | the same, `ordered` |
//!
//! Refused, each by name: several rules under a count (an event two of them match counts once
//! or twice depending on the engine), `value_avg` / `value_percentile` / `value_median`, `neq`,
//! a temporal condition that does not require every rule ("2 of 3"), extended conditions, a
//! reference to another correlation, a `session` window, a tumbling temporal window, a timespan
//! in months or years (not a fixed length), a `group-by` field that is not one catalogue field
//! of every base rule's source (E0705-E0708).
//!
//! Windows: a temporal correlation's "within" is the IR's (`max(t) - min(t) <= T`, both edges;
//! the specification's time frame "should not be restricted to boundaries"), exact. A count's
//! Sigma `timespan` is a sliding window in the specification's words and in rsigma-eval, while
//! detc's aggregation window is tumbling (epoch aligned, as pySigma's query backends count:
//! `bin _time span=`): imported with W0909 saying so, unless the rule says `window: tumbling`.

use super::sigma::{self, Refusal};
use super::table::{self, FieldMap};
use crate::diag::Code;
use crate::ir::{catalogue, FieldType, Source};
use rsigma_parser::{
    ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType, SigmaRule,
    WindowMode,
};

/// A base rule as the correlation refers to it: the reference (`rules:` entry) and the rule.
pub struct Base<'a> {
    pub reference: &'a str,
    pub rule: &'a SigmaRule,
}

/// The detc text of a correlation's body (from `source` / `correlate` to the end), and whether
/// its window is a sliding Sigma timespan imported as a tumbling one (W0909).
#[derive(Debug, Clone)]
pub struct Body {
    pub text: String,
    pub sliding_as_tumbling: bool,
}

fn refuse(code: Code, reason: impl Into<String>, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
        detail: detail.into(),
        at: None,
    }
}

fn located(mut r: Refusal, at: &str) -> Refusal {
    r.at = Some(at.into());
    r
}

/// `explicit_condition`: whether the document writes `condition:` (rsigma-parser reads an absent
/// temporal condition as `gte: 1`; the specification and pySigma as "every rule").
pub fn translate(
    c: &CorrelationRule,
    bases: &[Base],
    explicit_condition: bool,
) -> Result<Body, Refusal> {
    let ty = c.correlation_type;
    let temporal = matches!(
        ty,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    let window = timespan(c)?;
    let sliding_as_tumbling = match c.window {
        WindowMode::Sliding => !temporal,
        WindowMode::Tumbling if temporal => {
            return Err(located(
                refuse(
                    Code::E0706,
                    "tumbling temporal window",
                    "`window: tumbling` on a temporal correlation (rsigma's extension) counts only events in one epoch-aligned bucket; detc's `correlate within` is the time between the events",
                ),
                "window:",
            ))
        }
        WindowMode::Tumbling => false,
        WindowMode::Session => {
            return Err(located(
                refuse(
                    Code::E0706,
                    "session window",
                    "`window: session` (rsigma's extension) has no detc window",
                ),
                "window:",
            ))
        }
    };
    // Each base rule's source and condition, as `detc import` translates a detection rule.
    let mut steps = Vec::new();
    for b in bases {
        let t = sigma::translate(b.rule).map_err(|mut r| {
            r.reason = format!("base rule `{}`: {}", b.reference, r.reason);
            r
        })?;
        steps.push(t);
    }
    let keys = group_keys(c, bases, &steps)?;
    let predicates = match &c.condition {
        CorrelationCondition::Threshold { predicates, .. } => predicates.clone(),
        CorrelationCondition::Extended(_) => {
            return Err(located(
                refuse(
                    Code::E0706,
                    "extended correlation condition",
                    "a condition over rule names (`a and not b`) is not a detc correlation, which requires every step",
                ),
                "condition:",
            ))
        }
    };
    if let Some((op, _)) = predicates
        .iter()
        .find(|(o, _)| *o == ConditionOperator::Neq)
    {
        return Err(located(
            refuse(
                Code::E0706,
                "condition neq",
                format!("`{op:?}` (not equal): detc's `having` is written with the comparisons gt, gte, lt, lte, eq"),
            ),
            "neq:",
        ));
    }
    let text = if temporal {
        let n = bases.len() as u64;
        let all = !explicit_condition
            || (predicates.len() == 1
                && matches!(predicates[0], (ConditionOperator::Gte, x) | (ConditionOperator::Eq, x) if x == n)
                || predicates == [(ConditionOperator::Gt, n.saturating_sub(1))]);
        if !all {
            return Err(located(
                refuse(
                    Code::E0706,
                    "temporal condition other than every rule",
                    format!(
                        "the condition counts how many of the {n} rules matched and does not require all of them; detc's `correlate` requires every step"
                    ),
                ),
                "condition:",
            ));
        }
        if keys.is_empty() {
            return Err(located(
                refuse(
                    Code::E0707,
                    "temporal correlation without group-by",
                    "detc's `correlate` correlates events that share keys (`by`)",
                ),
                "correlation:",
            ));
        }
        let mut names: Vec<String> = Vec::new();
        let mut lines = Vec::new();
        for (b, t) in bases.iter().zip(&steps) {
            let mut name = step_name(b);
            while names.contains(&name) {
                name.push('_');
            }
            lines.push(format!(
                "    {name}: {} where {}",
                t.source.name(),
                t.condition
            ));
            names.push(name);
        }
        format!(
            "  correlate within {} by {}{} {{\n{}\n  }}\n",
            duration(window),
            keys.join(", "),
            if ty == CorrelationType::TemporalOrdered {
                " ordered"
            } else {
                ""
            },
            lines.join("\n")
        )
    } else {
        if bases.len() != 1 {
            return Err(located(
                refuse(
                    Code::E0706,
                    format!("{} over several rules", ty.as_str()),
                    "an event that two of the rules match counts once in a union search and once per rule in a streaming engine; detc aggregates one rule's events",
                ),
                "rules:",
            ));
        }
        let t = &steps[0];
        let (agg, name, ty_of) = match ty {
            CorrelationType::EventCount => ("count()".to_string(), "events", None),
            CorrelationType::ValueCount | CorrelationType::ValueSum => {
                let f = condition_field(c, bases[0].rule, t.source)?;
                if ty == CorrelationType::ValueCount {
                    (format!("distinct({})", f.0), "values", None)
                } else {
                    if !matches!(f.1, FieldType::Int | FieldType::Bytes) {
                        return Err(located(
                            refuse(
                                Code::E0706,
                                "value_sum of a field that is not a number",
                                format!("`{}` is not a number or byte count", f.0),
                            ),
                            "field:",
                        ));
                    }
                    (format!("sum({})", f.0), "total", Some(f.1))
                }
            }
            other => {
                return Err(located(
                    refuse(
                        Code::E0706,
                        format!("correlation type {}", other.as_str()),
                        "detc aggregates count(), distinct(f) and sum(f); averages, percentiles and medians are not imported",
                    ),
                    "type:",
                ))
            }
        };
        let having: Vec<String> = predicates
            .iter()
            .map(|(op, n)| {
                let op = match op {
                    ConditionOperator::Lt => "<",
                    ConditionOperator::Lte => "<=",
                    ConditionOperator::Gt => ">",
                    ConditionOperator::Gte => ">=",
                    ConditionOperator::Eq | ConditionOperator::Neq => "==",
                };
                let v = match ty_of {
                    Some(FieldType::Bytes) => format!("{n}B"),
                    _ => n.to_string(),
                };
                format!("{name} {op} {v}")
            })
            .collect();
        let mut s = format!(
            "  source {}\n  where {}\n  window {}\n",
            t.source.name(),
            t.condition,
            duration(window)
        );
        if !keys.is_empty() {
            s.push_str(&format!("  group by {}\n", keys.join(", ")));
        }
        s.push_str(&format!("  aggregate {name} = {agg}\n"));
        s.push_str(&format!("  having {}\n", having.join(" and ")));
        s
    };
    Ok(Body {
        text,
        sliding_as_tumbling,
    })
}

fn timespan(c: &CorrelationRule) -> Result<u64, Refusal> {
    let ts = &c.timespan;
    if ts.original.ends_with(['M', 'y']) || ts.seconds == 0 {
        return Err(located(
            refuse(
                Code::E0706,
                format!("timespan {}", ts.original),
                "a month or a year is not a fixed number of seconds, and a window is longer than 0 s",
            ),
            "timespan:",
        ));
    }
    Ok(ts.seconds)
}

fn duration(secs: u64) -> String {
    crate::targets::duration_text(secs)
}

/// A step name from the base rule's `name` (else its reference): a detc identifier.
fn step_name(b: &Base) -> String {
    super::identifier(b.rule.name.as_deref().unwrap_or(b.reference), "step_")
}

/// The catalogue field Sigma field `f` of `rule` is, when it is one plain field.
fn catalogue_field(rule: &SigmaRule, source: Source, f: &str) -> Option<(String, FieldType)> {
    let entry = table::lookup(&sigma::logsource(rule))?;
    match entry.fields.get(f)? {
        FieldMap::Plain(name) => catalogue::field(source, name).map(|d| (name.clone(), d.ty)),
        _ => None,
    }
}

/// The detc keys of `group-by`: per key, each base rule's field (through `aliases` when the key
/// is an alias) must be the same plain catalogue field.
fn group_keys(
    c: &CorrelationRule,
    bases: &[Base],
    steps: &[sigma::Translated],
) -> Result<Vec<String>, Refusal> {
    let mut keys = Vec::new();
    for g in &c.group_by {
        let alias = c.aliases.iter().find(|a| &a.alias == g);
        let mut found: Option<String> = None;
        for (b, t) in bases.iter().zip(steps) {
            let field = match alias {
                Some(a) => match a
                    .mapping
                    .get(b.reference)
                    .or_else(|| b.rule.name.as_ref().and_then(|n| a.mapping.get(n)))
                    .or_else(|| b.rule.id.as_ref().and_then(|n| a.mapping.get(n)))
                {
                    Some(f) => f.clone(),
                    None => {
                        return Err(located(
                            refuse(
                                Code::E0707,
                                format!("alias {g} without a field for a rule"),
                                format!("the alias `{g}` names no field of rule `{}`", b.reference),
                            ),
                            "aliases:",
                        ))
                    }
                },
                None => g.clone(),
            };
            let Some((cat, _)) = catalogue_field(b.rule, t.source, &field) else {
                return Err(located(
                    refuse(
                        Code::E0707,
                        format!("group-by field {field}"),
                        format!(
                            "`{field}` of rule `{}` is not one catalogue field of {} in the import table (an unmapped field, an enumeration or a field that swaps with the direction)",
                            b.reference,
                            t.source.name()
                        ),
                    ),
                    g,
                ));
            };
            match &found {
                None => found = Some(cat),
                Some(prev) if *prev == cat => {}
                Some(prev) => {
                    return Err(located(
                        refuse(
                            Code::E0707,
                            format!("group-by {g} over different fields"),
                            format!("`{g}` is `{prev}` in one rule and `{cat}` in another; detc's keys are one field of every step"),
                        ),
                        g,
                    ))
                }
            }
        }
        if let Some(k) = found {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    Ok(keys)
}

/// The catalogue field (and its type) of a `value_count` / `value_sum` condition's `field`.
fn condition_field(
    c: &CorrelationRule,
    rule: &SigmaRule,
    source: Source,
) -> Result<(String, FieldType), Refusal> {
    let fields = match &c.condition {
        CorrelationCondition::Threshold { field: Some(f), .. } => f.clone(),
        _ => Vec::new(),
    };
    let [f] = fields.as_slice() else {
        return Err(located(
            refuse(
                Code::E0706,
                format!("{} without exactly one field", c.correlation_type.as_str()),
                "the condition's `field` must name one field (a list of fields counts combinations, which detc does not aggregate)",
            ),
            "field:",
        ));
    };
    catalogue_field(rule, source, f).ok_or_else(|| {
        located(
            refuse(
                Code::E0707,
                format!("condition field {f}"),
                format!(
                    "`{f}` is not one catalogue field of {} in the import table",
                    source.name()
                ),
            ),
            "field:",
        )
    })
}
