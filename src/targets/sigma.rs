//! Sigma v2.1: a base rule per filter, correlation rules (event_count, value_count, value_sum)
//! for aggregations, in one multi-document YAML file. The YAML is built as data and serialized
//! by targets/yaml.rs (every string quoted, escaped for YAML 1.1 and 1.2 readers); the
//! template only joins the documents.
//!
//! Meaning kept per construct (see docs/TARGETS.md):
//! - values are case-insensitive by default, `|cased` when the rule says case-sensitive;
//!   `*`, `?` and `\` are escaped in plain / contains / startswith / endswith values.
//! - `process.name` over Sysmon's `Image` (a full path): equality is `Image|endswith '\name'`,
//!   startswith / contains use `|re` anchored to the last path segment; a regex is refused.
//! - `not` is Sigma's `not`, true when the field is missing, as the IR.
//! - ids: the base rule's `id` is the rule id; the correlation's is
//!   `uuid5(rule id, "sigma-correlation")`. When a computed group key is split into one
//!   correlation per case arm, base and correlation ids are `uuid5(rule id, "sigma-base/<value>")`
//!   and `uuid5(rule id, "sigma-correlation/<value>")`.

use super::dialect::Dialect;
use super::escape::{regex_literal, sigma_plain};
use super::profile::SigmaSource;
use super::uuid::uuid5;
use super::{ascii_ci_regex, duration_text, simplify, Col, Ctx, Derive, NON_ASCII_REGEX};
use crate::diag::{Code, Diagnostic, Span};
use crate::ir::visit::uses_computed;
use crate::ir::{
    AggFunc, Aggregation, Case, CmpOp, Expr, FieldRef, IpClass, Let, Op, Predicate, StrOp, Value,
    MAX_TITLE,
};
use serde_yaml::{Mapping, Value as Y};

mod correlate;
pub(super) use correlate::emit_correlate;

fn s(v: &str) -> Y {
    Y::String(v.to_string())
}

fn map(pairs: Vec<(&str, Y)>) -> Y {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(s(k), v);
    }
    Y::Mapping(m)
}

struct Det<'a, 'b> {
    ctx: &'a Ctx<'b>,
    errs: Vec<Diagnostic>,
    sels: Vec<(String, Y)>,
}

pub(super) fn emit(
    ctx: &Ctx,
    opts: &SigmaSource,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let rule = ctx.rule;
    let mut warnings = ctx.exactness_warnings(true);
    let filter = detection_filter(ctx)?;
    let mut docs = Vec::new();
    match &rule.aggregation {
        None => {
            if !rule.lets.is_empty() {
                let names: Vec<&str> = rule.lets.iter().map(|l| l.name.as_str()).collect();
                warnings.push(ctx.warn(
                    Code::W0902,
                    format!(
                        "computed field(s) {} are not reported: Sigma rules cannot compute fields (alerts are the same)",
                        names.join(", ")
                    ),
                ));
            }
            docs.push(base_doc(ctx, opts, &filter, &rule.id, None, false)?);
        }
        Some(a) => {
            let corr = correlation(ctx, a, &mut warnings)?;
            match split_key(ctx, a)? {
                None => {
                    let base_name = rule.name.clone();
                    docs.push(base_doc(
                        ctx,
                        opts,
                        &filter,
                        &rule.id,
                        Some(&base_name),
                        true,
                    )?);
                    let id = derived_id(ctx, "sigma-correlation")?;
                    docs.push(corr_doc(ctx, &corr, &id, &base_name, None));
                }
                Some(l) => {
                    // One base rule and one correlation per value of the computed key: the value
                    // is constant within each, so grouping by it is grouping by the arm. Arms with
                    // the same value are one group (their conditions or-ed), as in the evaluator.
                    let mut prev: Vec<Expr> = Vec::new();
                    let mut groups: Vec<(Option<String>, Vec<Expr>)> = Vec::new();
                    let mut push = |label: Option<String>, e: Expr| match groups
                        .iter_mut()
                        .find(|(l, _)| *l == label)
                    {
                        Some((_, v)) => v.push(e),
                        None => groups.push((label, vec![e])),
                    };
                    for (c, v) in &l.arms {
                        let mut conj = vec![filter.clone(), c.clone()];
                        conj.extend(prev.iter().map(|p| Expr::Not(Box::new(p.clone()))));
                        push(Some(value_text(v)), Expr::And(conj));
                        prev.push(c.clone());
                    }
                    let mut conj = vec![filter.clone()];
                    conj.extend(prev.iter().map(|p| Expr::Not(Box::new(p.clone()))));
                    push(l.default.as_ref().map(value_text), Expr::And(conj));
                    let labels: Vec<Option<&str>> =
                        groups.iter().map(|(l, _)| l.as_deref()).collect();
                    let names = split_names(ctx, &labels)?;
                    for ((label, exprs), base_name) in groups.iter().zip(names) {
                        let f = simplify(&Expr::Or(exprs.clone()));
                        // ids from the exact value; "no value" has a key no value can give
                        let (bkey, ckey) = match label {
                            Some(v) => {
                                (format!("sigma-base/{v}"), format!("sigma-correlation/{v}"))
                            }
                            None => (
                                "sigma-base-missing".into(),
                                "sigma-correlation-missing".into(),
                            ),
                        };
                        let bid = derived_id(ctx, &bkey)?;
                        let cid = derived_id(ctx, &ckey)?;
                        let shown = label.as_deref().unwrap_or("missing");
                        docs.push(base_doc(ctx, opts, &f, &bid, Some(&base_name), true)?);
                        docs.push(corr_doc(
                            ctx,
                            &corr,
                            &cid,
                            &base_name,
                            Some((&l.name, shown)),
                        ));
                    }
                }
            }
        }
    }
    // Every string scalar quoted (see targets/yaml.rs: PyYAML reads YAML 1.1).
    let texts: Vec<String> = docs.iter().map(super::yaml::document).collect();
    let text = ctx.render(minijinja::context! { documents => texts })?;
    Ok((text, warnings))
}

/// The rule's filter as a Sigma detection can state it: refused when there is none or it is
/// always false (Sigma conditions have no constants); a condition on a computed field is
/// rewritten over the fields it is computed from.
fn detection_filter(ctx: &Ctx) -> Result<Expr, Vec<Diagnostic>> {
    let rule = ctx.rule;
    let filter = simplify(&rule.filter);
    if matches!(&filter, Expr::And(v) if v.is_empty()) {
        return Err(vec![ctx.refuse(
            "a rule without a filter",
            "a Sigma detection needs at least one selection",
            &rule.span,
        )]);
    }
    // Sigma cannot compute fields: a condition on one is rewritten over its inputs.
    let filter = if uses_computed(&filter) {
        match super::inline_computed(rule, &filter) {
            Some(f) => simplify(&f),
            None => {
                return Err(vec![ctx.refuse(
                    "a filter on a computed field",
                    "Sigma rules cannot compute fields, and this condition cannot be rewritten over the fields it is computed from",
                    &rule.span,
                )])
            }
        }
    } else {
        filter
    };
    if matches!(&filter, Expr::Or(v) if v.is_empty()) {
        return Err(vec![ctx.refuse(
            "a filter that no event can satisfy",
            "a Sigma detection cannot be always false",
            &rule.span,
        )]);
    }
    Ok(filter)
}

/// The first construct of `p` (RE2 syntax, as the Rust regex crate reads it) that Python's `re`
/// (pySigma's `|re`, Python 3.11) rejects or reads differently, if any: braced escapes
/// (`\x{1b}`), Unicode classes (`\p{L}`), `\z`, the word-boundary forms `\b{..}`, `\<`, `\>`,
/// nested and POSIX classes (`[[:alpha:]]`, `[a[b]]`), class set operations (`&&`, `--`, `~~`),
/// `(?<name>..)` groups, and flags other than at the start or with `U` / `R`.
fn python_re_gap(p: &str) -> Option<&'static str> {
    let c: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        match c[i] {
            '\\' => {
                match (next, c.get(i + 2)) {
                    (Some('x' | 'u' | 'U'), Some('{')) => return Some("a braced escape `\\x{..}`"),
                    (Some('p' | 'P'), _) => return Some("a Unicode class `\\p{..}`"),
                    (Some('z'), _) => return Some("`\\z` (Python writes `\\Z`)"),
                    (Some('b' | 'B'), Some('{')) | (Some('<' | '>'), _) => {
                        return Some("a word-boundary form `\\b{..}`, `\\<` or `\\>`")
                    }
                    _ => {}
                }
                i += 2;
                continue;
            }
            '[' if in_class => return Some("a nested or POSIX class (`[[:alpha:]]`)"),
            '[' => {
                in_class = true;
                i += 1;
                // `^` and a first `]` belong to the class
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                if c.get(i) == Some(&']') {
                    i += 1;
                }
                continue;
            }
            ']' if in_class => in_class = false,
            '&' | '-' | '~' if in_class && next == Some(c[i]) => {
                return Some("a class set operation (`&&`, `--`, `~~`)")
            }
            '(' if !in_class && next == Some('?') => {
                let rest: String = c[i + 2..].iter().take_while(|x| **x != ')').collect();
                if rest.starts_with('<') {
                    return Some("a named group `(?<name>..)` (Python writes `(?P<name>..)`)");
                }
                if !rest.starts_with('P') {
                    let flags: String = rest.chars().take_while(|x| *x != ':').collect();
                    if flags.contains(['U', 'R']) {
                        return Some("the flag `U` or `R`");
                    }
                    if !rest.contains(':') && (i > 0 || flags.contains('-')) {
                        return Some("flags set in the middle of a pattern or turned off (`a(?i)b`, `(?-i)`)");
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// E0910: a comparison of two values (arithmetic, field against field). A Sigma detection
/// compares a field with constants; its one cross-field modifier, `fieldref` (Sigma
/// specification v2, modifiers), is equality only (with `contains`/`startswith`/`endswith`), no
/// ordering or arithmetic, and compares raw event values: the number 25 is not the string "25"
/// and two empty values are equal (rsigma-eval 0.23 `CompiledMatcher::FieldRef`), where the IR
/// compares numbers and makes a missing value false. So no comparison of values is emitted.
///
/// E0912: `hour(time)`, `weekday(time)`. A Sigma detection has no function of a field and no
/// modifier that reads a part of a timestamp (Sigma specification v2, modifiers): the event's
/// time is only the correlation's `timespan`. Refused by name, before E0910's broader reason.
pub(super) fn refuse_compare(ctx: &Ctx, c: &crate::ir::Comparison) -> Diagnostic {
    if c.reads_time() {
        let mut d = ctx
            .refuse(
                "the hour or weekday of an event (`hour(time)`, `weekday(time)`)",
                "a Sigma detection has no modifier or function that reads the hour or the day of a timestamp",
                &c.span,
            )
            .hint("compile this rule for a KQL or SPL target; for Sigma, leave the time-of-day condition to the backend's query");
        d.code = Code::E0912;
        return d;
    }
    let mut d = ctx
        .refuse(
            "a comparison of two values (arithmetic or field against field)",
            "a Sigma detection compares a field with constants; `fieldref` is equality of raw values only, without arithmetic, ordering or the IR's numeric meaning",
            &c.span,
        )
        .hint("compile this rule for a KQL or SPL target, or compare a field with a constant for Sigma");
    d.code = Code::E0910;
    d
}

/// The comparison of values in `e`, if `e` is one (or its negation).
fn compare_in(e: &Expr) -> Option<&crate::ir::Comparison> {
    match e {
        Expr::Compare(c) => Some(c),
        Expr::Not(x) => compare_in(x),
        _ => None,
    }
}

fn paren(c: String) -> String {
    if c.contains(' ') && !(c.starts_with('(') && c.ends_with(')')) {
        format!("({c})")
    } else {
        c
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Enum(s) => s.clone(),
        Value::Int(n) | Value::Timestamp(n) => n.to_string(),
        Value::Ip(a) => a.to_string(),
    }
}

/// The base-rule names of a split correlation, one per label (`None`: no value): `<rule>__<slug>`,
/// readable (`__smtp`); where two labels give the same slug (`a.b`, `a-b`, `a b`; `SMTP`,
/// `smtp`; the value `missing` and no value), each of them gets `_` and 8 hex digits of a hash
/// of its exact label, so names depend only on the rule's labels, never on order or chance.
/// Checked: a name that is still not unique is refused, not emitted.
fn split_names(ctx: &Ctx, labels: &[Option<&str>]) -> Result<Vec<String>, Vec<Diagnostic>> {
    let rule = &ctx.rule;
    let slugs: Vec<String> = labels
        .iter()
        .map(|l| slug(l.unwrap_or("missing")))
        .collect();
    let names: Vec<String> = labels
        .iter()
        .zip(&slugs)
        .map(|(l, sl)| {
            if slugs.iter().filter(|x| *x == sl).count() == 1 {
                Ok(format!("{}__{sl}", rule.name))
            } else {
                let key = match l {
                    Some(v) => format!("sigma-name/{v}"),
                    None => "sigma-name-missing".into(),
                };
                let h = derived_id(ctx, &key)?;
                Ok(format!("{}__{sl}_{}", rule.name, &h[..8]))
            }
        })
        .collect::<Result<_, Vec<Diagnostic>>>()?;
    let mut seen = std::collections::BTreeSet::new();
    for n in &names {
        if !seen.insert(n.as_str()) {
            return Err(vec![ctx.refuse(
                &format!("a split correlation whose base rules would both be named `{n}`"),
                "Sigma correlations refer to their base rules by name, which must be unique",
                &rule.span,
            )]);
        }
    }
    Ok(names)
}

/// `uuid5(rule id, key)`: the stable id of a document derived from the rule. The checker refuses
/// a rule whose id is not a UUID (E0202), so a failure here is a detc bug (E0908), reported
/// rather than emitted as an empty id.
fn derived_id(ctx: &Ctx, key: &str) -> Result<String, Vec<Diagnostic>> {
    let rule = ctx.rule;
    uuid5(&rule.id, key).ok_or_else(|| {
        vec![Diagnostic::new(
            Code::E0908,
            format!(
                "rule `{}`: its id `{}` is not a UUID, so target `{}` cannot derive the id of `{key}` from it",
                rule.name, rule.id, ctx.profile.name
            ),
        )
        .at(rule.span.clone())
        .found(format!("id \"{}\"", rule.id))
        .expected("a UUID (the checker should have refused the rule)")]
    })
}

fn slug(v: &str) -> String {
    let s: String = v
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty() {
        "empty".into()
    } else {
        s
    }
}

/// `title` followed by `suffix`, within [`MAX_TITLE`]: the checker keeps rule titles to 256
/// characters (E0208), but a base rule's or a split correlation's title adds to it, so the rule
/// title is cut, with `…`, to fit the suffix (which names the base rule or group and must stay).
fn titled(title: &str, suffix: &str) -> String {
    let room = MAX_TITLE.saturating_sub(suffix.chars().count());
    if title.chars().count() <= room {
        return format!("{title}{suffix}");
    }
    let cut: String = title.chars().take(room.saturating_sub(1)).collect();
    let t = format!("{}…{suffix}", cut.trim_end());
    if t.chars().count() <= MAX_TITLE {
        t
    } else {
        // a suffix longer than the limit (a very long group value): cut the whole
        let mut t: String = t.chars().take(MAX_TITLE - 1).collect();
        t.push('…');
        t
    }
}

fn meta(ctx: &Ctx, title: String, id: &str, name: Option<&str>) -> Vec<(&'static str, Y)> {
    let m = &ctx.rule.meta;
    let mut v: Vec<(&'static str, Y)> = vec![("title", s(&title)), ("id", s(id))];
    if let Some(n) = name {
        v.push(("name", s(n)));
    }
    v.push((
        "status",
        // A unit variant always serializes to its (lowercase) name: the fallback is never taken.
        serde_yaml::to_value(m.status).unwrap_or(s("experimental")),
    ));
    // No description: the analytics below (if any) are the whole of it.
    let mut desc = m.description.clone().unwrap_or_default();
    if !m.analytics.is_empty() {
        if !desc.is_empty() {
            desc.push_str("\n\n");
        }
        desc.push_str(&format!("ATT&CK analytics: {}", m.analytics.join(", ")));
    }
    if !desc.is_empty() {
        v.push(("description", s(&desc)));
    }
    if !m.references.is_empty() {
        v.push((
            "references",
            Y::Sequence(m.references.iter().map(|r| s(r)).collect()),
        ));
    }
    if let Some(a) = &m.author {
        v.push(("author", s(a)));
    }
    if let Some(d) = &m.date {
        v.push(("date", s(d)));
    }
    if let Some(d) = &m.modified {
        v.push(("modified", s(d)));
    }
    // Technique and tactic tags come from the ATT&CK catalogue: the tactics of the rule's
    // techniques (their shortnames, in ATT&CK's tactic order), then the techniques. A deprecated
    // technique (the checker warned) gets no tag: Sigma's ATT&CK validator refuses it.
    let cat = crate::ir::attack::catalogue();
    let current: Vec<&crate::ir::attack::Technique> = m
        .techniques
        .iter()
        .filter_map(|t| cat.technique(t))
        .filter(|t| !t.deprecated && t.revoked_by.is_none())
        .collect();
    let mut tags: Vec<Y> = cat
        .tactic_names()
        .filter(|n| current.iter().any(|t| t.tactics.iter().any(|x| x == n)))
        .map(|n| s(&format!("attack.{n}")))
        .collect();
    // Then the techniques and the rule's own tags, each once (pySigma reports a duplicate).
    let own = current
        .iter()
        .map(|t| format!("attack.{}", t.id.to_lowercase()));
    for t in own.chain(m.tags.iter().cloned()) {
        if !tags.contains(&s(&t)) {
            tags.push(s(&t));
        }
    }
    if !tags.is_empty() {
        v.push(("tags", Y::Sequence(tags)));
    }
    v
}

fn tail(ctx: &Ctx) -> Vec<(&'static str, Y)> {
    let m = &ctx.rule.meta;
    let mut v = Vec::new();
    if !m.false_positives.is_empty() {
        v.push((
            "falsepositives",
            Y::Sequence(m.false_positives.iter().map(|r| s(r)).collect()),
        ));
    }
    v.push((
        "level",
        // A unit variant always serializes to its (lowercase) name: the fallback is never taken.
        serde_yaml::to_value(m.severity).unwrap_or(s("medium")),
    ));
    v
}

fn base_doc(
    ctx: &Ctx,
    opts: &SigmaSource,
    filter: &Expr,
    id: &str,
    name: Option<&str>,
    in_correlation: bool,
) -> Result<Y, Vec<Diagnostic>> {
    let mut det = Det {
        ctx,
        errs: Vec::new(),
        sels: Vec::new(),
    };
    let cond = det.expr(filter, false);
    if !det.errs.is_empty() {
        return Err(det.errs);
    }
    let mut detection = Mapping::new();
    for (n, sel) in det.sels {
        detection.insert(s(&n), sel);
    }
    detection.insert(s("condition"), s(&cond));
    let title = match (in_correlation, name) {
        (true, Some(n)) if n != ctx.rule.name => {
            titled(&ctx.rule.meta.title, &format!(" (base events: {n})"))
        }
        (true, _) => titled(&ctx.rule.meta.title, " (base events)"),
        _ => titled(&ctx.rule.meta.title, ""),
    };
    let mut v = meta(ctx, title, id, name);
    let logsource = opts
        .logsource
        .iter()
        .map(|(k, x)| (s(k), s(x)))
        .collect::<Mapping>();
    v.push(("logsource", Y::Mapping(logsource)));
    v.push(("detection", Y::Mapping(detection)));
    v.extend(tail(ctx));
    Ok(map(v))
}

/// The correlation part shared by every correlation document of a rule.
struct Corr {
    ty: &'static str,
    group_by: Vec<String>,
    timespan: String,
    condition: Mapping,
}

fn correlation(
    ctx: &Ctx,
    a: &Aggregation,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Corr, Vec<Diagnostic>> {
    let mut errs = Vec::new();
    // The having: one or two comparisons of one aggregate with integers.
    let mut conds: Vec<(&Predicate, &str, i64)> = Vec::new();
    let having = a.having.as_ref().map(simplify);
    let preds: Vec<&Expr> = match &having {
        None => Vec::new(),
        Some(Expr::And(v)) => v.iter().collect(),
        Some(e) => vec![e],
    };
    for e in &preds {
        let ok = match e {
            Expr::Pred(p) => match (&p.op, &p.field) {
                (
                    Op::Cmp {
                        op,
                        value: Value::Int(n),
                    },
                    FieldRef::Aggregate(_),
                ) => {
                    let k = match op {
                        CmpOp::Gt => "gt",
                        CmpOp::Ge => "gte",
                        CmpOp::Lt => "lt",
                        CmpOp::Le => "lte",
                    };
                    conds.push((p, k, *n));
                    true
                }
                (
                    Op::Eq {
                        value: Value::Int(n),
                        ..
                    },
                    FieldRef::Aggregate(_),
                ) => {
                    conds.push((p, "eq", *n));
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if let (false, Some(c)) = (ok, compare_in(e)) {
            errs.push(refuse_compare(ctx, c));
        } else if !ok {
            errs.push(ctx.refuse(
                "this `having`",
                "a Sigma correlation condition is one or two integer comparisons (gt, gte, lt, lte, eq) of one aggregate",
                &a.span,
            ));
        }
    }
    let agg_names: std::collections::BTreeSet<&str> =
        conds.iter().map(|(p, _, _)| p.field.name()).collect();
    if agg_names.len() > 1 || conds.len() > 2 {
        errs.push(ctx.refuse(
            "a `having` over several aggregates",
            "a Sigma correlation tests exactly one aggregate",
            &a.span,
        ));
    }
    let mut condition = Mapping::new();
    let mut ty = "event_count";
    if let Some(name) = agg_names.iter().next() {
        let ag = a.aggregates.iter().find(|g| g.name == *name);
        match ag.map(|g| &g.func) {
            Some(AggFunc::Count) => {}
            Some(AggFunc::DistinctCount(FieldRef::Field(f))) => {
                ty = "value_count";
                match field_column(ctx, f, &a.span) {
                    Ok(c) => {
                        condition.insert(s("field"), s(&c));
                    }
                    Err(d) => errs.push(d),
                }
            }
            Some(AggFunc::Sum(FieldRef::Field(f))) => {
                ty = "value_sum";
                match field_column(ctx, f, &a.span) {
                    Ok(c) => {
                        condition.insert(s("field"), s(&c));
                    }
                    Err(d) => errs.push(d),
                }
            }
            _ => errs.push(ctx.refuse(
                &format!("`having` on aggregate `{name}`"),
                "Sigma correlations threshold counts (event_count), distinct counts (value_count) and sums (value_sum) of event fields only",
                &a.span,
            )),
        }
    }
    for (_, k, n) in &conds {
        condition.insert(s(k), Y::Number((*n).into()));
    }
    if conds.is_empty() {
        condition.insert(s("gte"), Y::Number(1.into()));
    }
    let mut group_by = Vec::new();
    for g in &a.group_by {
        match g {
            FieldRef::Field(f) => match ctx.field(f, &a.span) {
                Ok(col) => {
                    if col.map.derive == Some(Derive::Basename) {
                        warnings.push(ctx.warn(
                            Code::W0903,
                            format!(
                                "grouping by `{f}` becomes grouping by `{}` (the full path): the same file name in two folders makes two groups",
                                col.map.column
                            ),
                        ));
                    }
                    group_by.push(col.map.column.clone());
                }
                Err(d) => errs.push(d),
            },
            FieldRef::Computed(_) | FieldRef::Aggregate(_) => {} // handled by split_key
        }
    }
    let reported: Vec<&str> = a
        .aggregates
        .iter()
        .filter(|g| !agg_names.contains(g.name.as_str()))
        .map(|g| g.name.as_str())
        .collect();
    if !reported.is_empty() {
        warnings.push(ctx.warn(
            Code::W0902,
            format!(
                "aggregate(s) {} are not computed by the Sigma correlation (alerts are the same; these values are not reported)",
                reported.join(", ")
            ),
        ));
    }
    warnings.push(ctx.warn(
        Code::W0901,
        format!(
            "Sigma's timespan {} is a time-based window, the IR's window is tumbling (epoch-aligned): backends may count across window edges",
            duration_text(a.window)
        ),
    ));
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Corr {
        ty,
        group_by,
        timespan: duration_text(a.window),
        condition,
    })
}

fn field_column(ctx: &Ctx, f: &str, span: &Span) -> Result<String, Diagnostic> {
    let col = ctx.field(f, span)?;
    if col.map.derive.is_some() {
        return Err(ctx.refuse(
            &format!("an aggregate over `{f}`"),
            &format!("{} is a path, {f} a file name", col.map.column),
            span,
        ));
    }
    Ok(col.map.column)
}

/// The computed group key that needs one correlation per case arm, if any. A computed key whose
/// inputs are all group keys is determined by them and is simply dropped.
fn split_key<'r>(ctx: &Ctx<'r>, a: &Aggregation) -> Result<Option<&'r Let>, Vec<Diagnostic>> {
    let fields: Vec<&str> = a
        .group_by
        .iter()
        .filter_map(|g| match g {
            FieldRef::Field(f) => Some(f.as_str()),
            _ => None,
        })
        .collect();
    let mut split = Vec::new();
    for g in &a.group_by {
        if let FieldRef::Computed(n) = g {
            if let Some(l) = ctx.rule.lets.iter().find(|l| &l.name == n) {
                if !l.depends_on.iter().all(|d| fields.contains(&d.as_str())) {
                    split.push(l);
                }
            }
        }
    }
    match split.len() {
        0 => Ok(None),
        1 => Ok(split.pop()),
        _ => Err(vec![ctx.refuse(
            "grouping by two computed fields",
            "each computed key becomes one correlation per case arm; detc splits on one key only",
            &a.span,
        )]),
    }
}

fn corr_doc(ctx: &Ctx, c: &Corr, id: &str, base: &str, split: Option<(&str, &str)>) -> Y {
    let title = match split {
        Some((k, v)) => titled(&ctx.rule.meta.title, &format!(" ({k} = {v})")),
        None => titled(&ctx.rule.meta.title, ""),
    };
    let mut v = meta(ctx, title, id, None);
    let mut corr = vec![("type", s(c.ty)), ("rules", Y::Sequence(vec![s(base)]))];
    if !c.group_by.is_empty() {
        corr.push((
            "group-by",
            Y::Sequence(c.group_by.iter().map(|g| s(g)).collect()),
        ));
    }
    corr.push(("timespan", s(&c.timespan)));
    corr.push(("condition", Y::Mapping(c.condition.clone())));
    v.push(("correlation", map(corr)));
    v.extend(tail(ctx));
    map(v)
}

/// Sigma's condition language: `and`, `or`, `not` (parenthesised operand when it has several
/// words), no constants; comparisons are the `gt` / `gte` / `lt` / `lte` modifiers.
impl Dialect for Det<'_, '_> {
    const AND: &'static str = " and ";
    const OR: &'static str = " or ";
    fn not(&self, operand: String) -> String {
        if operand.contains(' ') {
            format!("not ({operand})")
        } else {
            format!("not {operand}")
        }
    }
    fn constant(&mut self, _: bool) -> String {
        self.errs.push(self.ctx.refuse(
            "an always-true or always-false operand",
            "Sigma conditions have no constants",
            &self.ctx.rule.span,
        ));
        String::new()
    }
    /// Sigma's own `not` is true on a missing field: no guard under negation.
    fn predicate(&mut self, p: &Predicate, _: bool) -> String {
        self.pred(p)
    }
    fn comparison(&mut self, c: &crate::ir::Comparison) -> String {
        self.errs.push(refuse_compare(self.ctx, c));
        String::new()
    }
    fn cmp_op(&self, op: CmpOp) -> &'static str {
        match op {
            CmpOp::Gt => "gt",
            CmpOp::Ge => "gte",
            CmpOp::Lt => "lt",
            CmpOp::Le => "lte",
        }
    }
}

impl Det<'_, '_> {
    fn add(&mut self, field: &str, key: String, val: Y) -> String {
        let mut m = Mapping::new();
        m.insert(s(&key), val);
        self.add_any(field, Y::Mapping(m))
    }

    /// A detection with any body (a map, or a list of maps: their `or`), named after `field`.
    fn add_any(&mut self, field: &str, body: Y) -> String {
        let base = format!("sel_{}", field.replace(['.', '-'], "_"));
        let mut name = base.clone();
        let mut i = 2;
        while self.sels.iter().any(|(n, _)| *n == name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.sels.push((name.clone(), body));
        name
    }

    fn pred(&mut self, p: &Predicate) -> String {
        let FieldRef::Field(fname) = &p.field else {
            self.errs.push(self.ctx.refuse(
                &format!("a condition on `{}`", p.field.name()),
                "Sigma detections test event fields only",
                &p.span,
            ));
            return String::new();
        };
        let col = match self.ctx.field(fname, &p.span) {
            Ok(c) => c,
            Err(d) => {
                self.errs.push(d);
                return String::new();
            }
        };
        if !col.map.join.is_empty() {
            return self.refuse_op(p, "a field joined from several columns");
        }
        if col.map.derive == Some(Derive::Basename) {
            return self.basename_pred(fname, &col, p);
        }
        let swap = if self.ctx.swap_excluded() {
            None
        } else {
            self.ctx.src.swap_partner(&col.map.column)
        };
        if let Some((sw, partner)) = swap {
            // The field is `column` unless the swap condition holds, then `partner`.
            let sw = sw.clone();
            let mut other = col.clone();
            other.map.column = partner;
            let a = paren(self.pred_col(fname, &col, p));
            let b = paren(self.pred_col(fname, &other, p));
            let vals: Vec<Y> = sw.values.iter().map(|v| s(&sigma_plain(v))).collect();
            let w = self.add(
                &format!("{}_swapped", fname),
                sw.column.clone(),
                if vals.len() == 1 {
                    vals.into_iter().next().unwrap_or(Y::Null)
                } else {
                    Y::Sequence(vals)
                },
            );
            return format!("((not {w} and {a}) or ({w} and {b}))");
        }
        self.pred_col(fname, &col, p)
    }

    /// A predicate on `col`'s column as it stands.
    fn pred_col(&mut self, fname: &str, col: &Col, p: &Predicate) -> String {
        let col = col.clone();
        let f = col.map.column.clone();
        let cased = |case: &Case| {
            if *case == Case::Sensitive {
                "|cased"
            } else {
                ""
            }
        };
        match &p.op {
            Op::Exists => self.exists(fname, &f),
            Op::Eq { value, case } => match value {
                Value::Str(v) => match case {
                    Case::Sensitive => self.add(fname, format!("{f}|cased"), s(&sigma_plain(v))),
                    Case::Insensitive => self.ci_equals(fname, &f, std::slice::from_ref(v), "^"),
                },
                Value::Int(n) => self.add(fname, f, Y::Number((*n).into())),
                Value::Ip(a) => {
                    let b = if a.is_ipv4() { 32 } else { 128 };
                    self.add(fname, format!("{f}|cidr"), s(&format!("{a}/{b}")))
                }
                Value::Enum(sym) => self.enum_sel(fname, &col, p, std::slice::from_ref(sym)),
                Value::Timestamp(_) => self.refuse_op(p, "Sigma cannot compare timestamps"),
            },
            Op::In { values, case, .. } => match values.first() {
                None => self.refuse_op(p, "an empty list is always false"),
                Some(Value::Str(_)) => {
                    let strs: Vec<String> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Str(x) => Some(x.clone()),
                            _ => None,
                        })
                        .collect();
                    match case {
                        Case::Sensitive => {
                            let items = strs.iter().map(|x| s(&sigma_plain(x))).collect();
                            self.add(fname, format!("{f}|cased"), Y::Sequence(items))
                        }
                        Case::Insensitive => self.ci_equals(fname, &f, &strs, "^"),
                    }
                }
                Some(Value::Int(_)) => {
                    // One `{f|gte: n, f|lte: n}` map per value (a list of maps is their `or`), not
                    // `f: [n, ...]`: pySigma's kusto backend (1.0.1) renders a value list as
                    // `in~ ("n", ...)`, strings against an int column (Kusto.Language KS107),
                    // while it renders comparisons as numbers (`f >= n and f <= n`). Same
                    // meaning in the Sigma spec: n <= f <= n is f == n for a number.
                    let items = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Int(n) => {
                                let mut m = Mapping::new();
                                m.insert(s(&format!("{f}|gte")), Y::Number((*n).into()));
                                m.insert(s(&format!("{f}|lte")), Y::Number((*n).into()));
                                Some(Y::Mapping(m))
                            }
                            _ => None,
                        })
                        .collect();
                    self.add_any(fname, Y::Sequence(items))
                }
                Some(Value::Ip(_)) => {
                    let items = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Ip(a) => {
                                let b = if a.is_ipv4() { 32 } else { 128 };
                                Some(s(&format!("{a}/{b}")))
                            }
                            _ => None,
                        })
                        .collect();
                    self.add(fname, format!("{f}|cidr"), Y::Sequence(items))
                }
                Some(Value::Enum(_)) => {
                    let syms: Vec<String> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Enum(x) => Some(x.clone()),
                            _ => None,
                        })
                        .collect();
                    self.enum_sel(fname, &col, p, &syms)
                }
                Some(Value::Timestamp(_)) => self.refuse_op(p, "Sigma cannot compare timestamps"),
            },
            Op::Str {
                kind,
                needles,
                case,
            } => {
                if *case == Case::Insensitive {
                    // ASCII-only folding spelled out (Sigma's default matching lowercases with
                    // whatever rules the engine has: rsigma folds `İ` and the Kelvin sign).
                    let items: Vec<Y> = needles
                        .iter()
                        .map(|n| {
                            let re = ascii_ci_regex(n);
                            s(&match kind {
                                StrOp::StartsWith => format!("^{re}"),
                                StrOp::EndsWith => format!("{re}$"),
                                StrOp::Contains => re,
                            })
                        })
                        .collect();
                    let val = if items.len() == 1 {
                        items.into_iter().next().unwrap_or(Y::Null)
                    } else {
                        Y::Sequence(items)
                    };
                    return self.add(fname, format!("{f}|re"), val);
                }
                let m = match kind {
                    StrOp::StartsWith => "startswith",
                    StrOp::EndsWith => "endswith",
                    StrOp::Contains => "contains",
                };
                let items: Vec<Y> = needles.iter().map(|n| s(&sigma_plain(n))).collect();
                let val = if items.len() == 1 {
                    items.into_iter().next().unwrap_or(Y::Null)
                } else {
                    Y::Sequence(items)
                };
                self.add(fname, format!("{f}|{m}{}", cased(case)), val)
            }
            Op::Regex { pattern, case } => {
                // Checked before and after folding: the folded text is regex-syntax's printing
                // of the same syntax tree, so it must pass Python's `re` as well.
                let gap = |re: &str| {
                    python_re_gap(re).map(|what| {
                        format!("pySigma compiles `|re` with Python's `re`, which does not read {what} as detc does")
                    })
                };
                if let Some(why) = gap(pattern) {
                    return self.refuse_op(p, &why);
                }
                match crate::ir::semantics::ascii_fold_regex(pattern, *case == Case::Insensitive) {
                    Ok(re) => match gap(&re) {
                        Some(why) => self.refuse_op(p, &why),
                        None => self.add(fname, format!("{f}|re"), s(&re)),
                    },
                    Err(why) => self.refuse_op(p, &why),
                }
            }
            Op::InCidr { blocks, .. } => {
                let items = blocks.iter().map(|b| s(&b.to_string())).collect();
                self.add(fname, format!("{f}|cidr"), Y::Sequence(items))
            }
            Op::IpClass { class } => match class {
                IpClass::Public => {
                    let any = self.add(
                        fname,
                        format!("{f}|cidr"),
                        Y::Sequence(vec![s("0.0.0.0/0"), s("::/0")]),
                    );
                    let non = self.add(
                        fname,
                        format!("{f}|cidr"),
                        Y::Sequence(
                            IpClass::non_public_blocks()
                                .iter()
                                .map(|b| s(&b.to_string()))
                                .collect(),
                        ),
                    );
                    format!("({any} and not {non})")
                }
                o => {
                    let items = o.blocks().iter().map(|b| s(&b.to_string())).collect();
                    self.add(fname, format!("{f}|cidr"), Y::Sequence(items))
                }
            },
            Op::Cmp { op, value } => match value {
                Value::Int(n) => {
                    let m = self.cmp_op(*op);
                    self.add(fname, format!("{f}|{m}"), Y::Number((*n).into()))
                }
                _ => self.refuse_op(p, "Sigma compares numbers only"),
            },
        }
    }

    /// `f` equals one of `vals` under ASCII-only folding, where `lead` is the regex of what
    /// precedes the value (`^`: the whole column; a path separator: the file name of a path).
    /// All-ASCII values keep Sigma's default (case-insensitive) matching, on values whose part
    /// after `lead` has no non-ASCII character: no such value equals an all-ASCII literal under
    /// ASCII folding, while an engine that lowercases with Unicode rules (rsigma: `İ`, the Kelvin
    /// sign) would match it. Values with a non-ASCII character are spelled out as a regex.
    fn ci_equals(&mut self, fname: &str, f: &str, vals: &[String], lead: &str) -> String {
        let (ascii, other): (Vec<&String>, Vec<&String>) = vals.iter().partition(|v| v.is_ascii());
        let path = lead != "^";
        let mut parts = Vec::new();
        if !ascii.is_empty() {
            let items: Vec<Y> = ascii
                .iter()
                .flat_map(|n| {
                    if path {
                        vec![
                            s(&sigma_plain(&format!("\\{n}"))),
                            s(&sigma_plain(&format!("/{n}"))),
                        ]
                    } else {
                        vec![s(&sigma_plain(n))]
                    }
                })
                .collect();
            let key = if path {
                format!("{f}|endswith")
            } else {
                f.to_string()
            };
            let val = if items.len() == 1 {
                items.into_iter().next().unwrap_or(Y::Null)
            } else {
                Y::Sequence(items)
            };
            let eq = self.add(fname, key, val);
            let guard = if path {
                format!("{NON_ASCII_REGEX}[^\\\\/]*$")
            } else {
                NON_ASCII_REGEX.to_string()
            };
            let non_ascii = self.add(fname, format!("{f}|re"), s(&guard));
            // Bare: `not` binds tighter than `and`, `and` than `or` (callers parenthesise
            // under `not` and around disjunctions).
            parts.push(format!("{eq} and not {non_ascii}"));
        }
        if !other.is_empty() {
            let items: Vec<Y> = other
                .iter()
                .map(|v| s(&format!("{lead}{}$", ascii_ci_regex(v))))
                .collect();
            let val = if items.len() == 1 {
                items.into_iter().next().unwrap_or(Y::Null)
            } else {
                Y::Sequence(items)
            };
            parts.push(self.add(fname, format!("{f}|re"), val));
        }
        match parts.len() {
            1 => parts.join(""),
            _ => format!("(({}) or {})", parts[0], parts[1..].join(" or ")),
        }
    }

    /// Exists: neither null/absent (Sigma's `Field: null`) nor empty, which the IR counts as
    /// missing too. (Written without `|exists`, which pySigma's Kusto pipeline cannot process.)
    fn exists(&mut self, fname: &str, f: &str) -> String {
        let null = self.add(fname, f.to_string(), Y::Null);
        let empty = self.add(fname, f.to_string(), s(""));
        format!("not ({null} or {empty})")
    }

    fn refuse_op(&mut self, p: &Predicate, why: &str) -> String {
        self.errs.push(self.ctx.refuse(
            &format!("this condition on `{}`", p.field.name()),
            why,
            &p.span,
        ));
        String::new()
    }

    fn enum_sel(&mut self, fname: &str, col: &Col, p: &Predicate, syms: &[String]) -> String {
        let mut vals = Vec::new();
        for sym in syms {
            match col.map.values.as_ref().and_then(|m| m.get(sym)) {
                Some(v) if !v.is_empty() => vals.extend(v.iter().map(|x| s(&sigma_plain(x)))),
                _ => {
                    return self.refuse_op(
                        p,
                        &format!(
                            "field {} of {} has no value meaning `{sym}`",
                            col.map.column,
                            self.ctx.table()
                        ),
                    )
                }
            }
        }
        let cased = match col.map.values_case {
            Some(super::ValuesCase::Insensitive) => "",
            _ => "|cased",
        };
        let val = if vals.len() == 1 {
            vals.into_iter().next().unwrap_or(Y::Null)
        } else {
            Y::Sequence(vals)
        };
        self.add(fname, format!("{}{cased}", col.map.column), val)
    }

    /// A predicate on a file name read from a path column (`process.name` over `Image`).
    fn basename_pred(&mut self, fname: &str, col: &Col, p: &Predicate) -> String {
        let f = &col.map.column;
        let has_sep = |v: &str| v.contains(['\\', '/']);
        let names = |values: &[Value]| -> Vec<String> {
            values
                .iter()
                .filter_map(|v| match v {
                    Value::Str(x) => Some(x.clone()),
                    _ => None,
                })
                .collect()
        };
        let (kind, needles, case) = match &p.op {
            Op::Exists => return self.exists(fname, f),
            Op::Eq {
                value: Value::Str(v),
                case,
            } => ("eq", vec![v.clone()], *case),
            Op::In { values, case, .. } => ("eq", names(values), *case),
            Op::Str {
                kind,
                needles,
                case,
            } => (
                match kind {
                    StrOp::StartsWith => "startswith",
                    StrOp::EndsWith => "endswith",
                    StrOp::Contains => "contains",
                },
                needles.clone(),
                *case,
            ),
            _ => {
                return self.refuse_op(
                    p,
                    &format!("{f} is a full path; only equality, lists, startswith, endswith and contains on the file name can be expressed over it"),
                )
            }
        };
        if needles.is_empty() {
            return self.refuse_op(p, "an empty list is always false");
        }
        if needles.iter().any(|n| has_sep(n)) {
            return self.refuse_op(
                p,
                "a file name never contains `\\` or `/`, so this value can never match",
            );
        }
        let cased = if case == Case::Sensitive {
            "|cased"
        } else {
            ""
        };
        let one_or_many = |items: Vec<Y>| {
            if items.len() == 1 {
                items.into_iter().next().unwrap_or(Y::Null)
            } else {
                Y::Sequence(items)
            }
        };
        match kind {
            // name == v  <=>  path ends with `\v` (or `/v`: the file name is what follows the
            // last `\` or `/`, as the evaluator's input schemas read it)
            "eq" if case == Case::Insensitive => self.ci_equals(fname, f, &needles, "[\\\\/]"),
            "eq" => {
                let items = needles
                    .iter()
                    .flat_map(|n| {
                        [
                            s(&sigma_plain(&format!("\\{n}"))),
                            s(&sigma_plain(&format!("/{n}"))),
                        ]
                    })
                    .collect();
                self.add(fname, format!("{f}|endswith{cased}"), one_or_many(items))
            }
            // name ends with v (v without `\`)  <=>  path ends with v
            "endswith" if case == Case::Insensitive => {
                let items = needles
                    .iter()
                    .map(|n| s(&format!("{}$", ascii_ci_regex(n))))
                    .collect();
                self.add(fname, format!("{f}|re"), one_or_many(items))
            }
            "endswith" => {
                let items = needles.iter().map(|n| s(&sigma_plain(n))).collect();
                self.add(fname, format!("{f}|endswith{cased}"), one_or_many(items))
            }
            // the last segment starts with / contains v: a regex anchored at the last `\`
            k => {
                let items = needles
                    .iter()
                    .map(|n| {
                        let lit = match case {
                            Case::Sensitive => regex_literal(n),
                            Case::Insensitive => ascii_ci_regex(n),
                        };
                        s(&if k == "startswith" {
                            format!("[\\\\/]{lit}[^\\\\/]*$")
                        } else {
                            format!("{lit}[^\\\\/]*$")
                        })
                    })
                    .collect();
                self.add(fname, format!("{f}|re"), one_or_many(items))
            }
        }
    }
}

#[cfg(test)]
mod tag_tests {
    /// The Sigma tags of a rule come from the ATT&CK catalogue: each technique's tactics (by
    /// their catalogue shortname, in ATT&CK's tactic order), then the techniques, then free tags
    /// not already there. A deprecated technique gets no tag (Sigma's validator refuses it).
    #[test]
    fn attack_tags_come_from_the_catalogue() {
        let text = "rule r { id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\" title \"t\" severity low \
                    attack T1071.003 T1003.001 T1026 T1071.003 \
                    tags [\"detection.threat-hunting\", \"attack.command-and-control\"] \
                    source network_connection where remote.port == 25 }";
        let pack = crate::targets::pack_of(text);
        let p = crate::targets::profile("sigma").unwrap_or_else(|| unreachable!("sigma profile"));
        let out = crate::targets::compile_rule(&pack.rules[0], &p)
            .unwrap_or_else(|d| unreachable!("{d:?}"));
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&out.text).unwrap_or_else(|e| unreachable!("{e}"));
        let tags: Vec<&str> = doc["tags"]
            .as_sequence()
            .map(|s| s.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            tags,
            [
                "attack.credential-access",
                "attack.command-and-control",
                "attack.t1071.003",
                "attack.t1003.001",
                "detection.threat-hunting",
            ]
        );
    }
}

#[cfg(test)]
mod id_tests {
    /// A correlation's id is derived from the rule's id; a rule that reaches the backend with an
    /// id that is not a UUID (the checker refuses such a rule, so only a detc bug gets here) is
    /// an error naming the rule, never a Sigma document with an empty id.
    #[test]
    fn a_correlation_of_a_rule_whose_id_is_not_a_uuid_is_an_error() {
        let text = "rule r { id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\" title \"t\" severity low \
                    source network_connection where remote.port == 25 \
                    window 1h group by host aggregate n = count() having n >= 3 }";
        let mut pack = crate::targets::pack_of(text);
        let p = crate::targets::profile("sigma").unwrap_or_else(|| unreachable!("sigma profile"));
        assert!(crate::targets::compile_rule(&pack.rules[0], &p).is_ok());
        pack.rules[0].id = "not-a-uuid".into();
        let errs = crate::targets::compile_rule(&pack.rules[0], &p)
            .err()
            .unwrap_or_else(|| unreachable!("compiled a rule whose id is not a UUID"));
        assert!(
            errs.iter()
                .any(|d| d.code == crate::diag::Code::E0908 && d.message.contains("not-a-uuid")),
            "{errs:?}"
        );
    }
}
