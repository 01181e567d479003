//! KQL (Defender XDR advanced hunting, Sentinel): expressions from the IR, layout from the
//! profile's template.
//!
//! Meaning kept per construct (see docs/TARGETS.md):
//! - case: `==`, `in`, `startswith_cs`, ...; case-insensitive is ASCII-only folding: `=~` /
//!   `in~` on values without a non-ASCII character, every other form a `matches regex` with the
//!   ASCII letters' cases spelled out (`[aA]`, never `(?i)`). `has` is never used
//!   (it matches terms, not substrings).
//! - missing: a predicate that could be null (non-text column) or true on the empty string is
//!   guarded as `(isnotempty(C) and P)`, so `not(...)` stays true on a missing value.
//! - IPs: Kusto's own range functions, one call per family: `ipv4_is_private` for the three
//!   private blocks, `ipv4_is_in_range` / `ipv4_is_in_any_range`, `ipv6_is_in_range` /
//!   `ipv6_is_in_any_range`; the IPv6 call is confined to IPv6 text only where a block could hold
//!   an IPv4 address's mapped reading; the whole test written `((..) == true)`: the functions are
//!   null on text that is not an address, and `not(null)` would drop the row where the IR's
//!   negation is true.
//! - windows: `bin_at(T, W, datetime(1970-01-01))`, epoch-aligned for every W.
//! - distinct counts: a two-level summarize (exact, with functions every KQL engine documents),
//!   never `dcount` (approximate) nor `count_distinct` (preview, not listed for Defender XDR).

use super::dialect::{cmp_op, host_block, Dialect};
use super::escape::{kql_ident, kql_string};
use super::profile::KqlSource;
use super::{
    ascii_ci_regex, duration_text, fresh_name, name_lets, one_line, simplify, Col, Ctx, Derive,
    NON_ASCII_REGEX,
};
use crate::diag::Diagnostic;
use crate::ir::visit::uses_computed;
use crate::ir::{
    AggFunc, Case, Cidr, Comparison, Expr, FieldRef, IpClass, Op, Predicate, StrOp, TimeFunc,
    Value, ValueExpr,
};
use std::collections::BTreeMap;

struct K<'a, 'b> {
    ctx: &'a Ctx<'b>,
    errs: Vec<Diagnostic>,
    /// let name -> emitted column name
    lets: BTreeMap<String, String>,
    /// aggregate name -> emitted column name
    aggs: BTreeMap<String, String>,
    /// catalogue field read through a `join` mapping -> the column it is extended as
    joined: BTreeMap<String, String>,
}

/// What precedes a path's file name: everything up to its last `\\` or `/`.
const BASENAME_PREFIX: &str = "(?s)^.*[\\\\/]";

/// The expression of a field derived from `column`:
/// - `basename`: the file name after the last `\\` or `/`, as the evaluator's `basename` reads
///   it; `(?s)` so that a line break in the path does not stop `.*` (RE2, Kusto's
///   replace_regex). A path without a separator is its own name.
/// - `long`: `tolong(C)`, "If conversion isn't successful, the result is null" (Kusto reference,
///   tolong()): text that is no number reads as a missing value, which no comparison is true of
///   (guarded as any non-text column) and no correlation key joins on (`isnotempty`).
pub(super) fn derived(d: Derive, column: &str) -> String {
    match d {
        Derive::Basename => format!(
            "replace_regex({}, {}, \"\")",
            kql_ident(column),
            kql_string(BASENAME_PREFIX)
        ),
        Derive::Long => format!("tolong({})", kql_ident(column)),
    }
}

pub(super) fn emit(
    ctx: &Ctx,
    opts: &KqlSource,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    emit_with(ctx, opts, &Deploy::default()).map(|o| (o.text, o.warnings))
}

/// What a deployed query (`targets::deploy`) adds to the bare one.
#[derive(Debug, Default)]
pub(crate) struct Deploy {
    /// A condition on the time column placed before every other stage: the period a scheduled
    /// run reports (`deploy::schedule`).
    pub period: Option<String>,
    /// Columns every row of the result must carry (Defender XDR custom detections: `Timestamp`,
    /// `ReportId`, `DeviceId`); an aggregating query keeps those of each group's latest event
    /// (`arg_max`).
    pub carry: Vec<String>,
}

/// A query and where the rule's entities are in its result.
#[derive(Debug)]
pub(crate) struct KqlOut {
    pub text: String,
    pub warnings: Vec<Diagnostic>,
    /// Entity field name (as in `Entity::field`) -> the result column holding it.
    pub columns: BTreeMap<String, String>,
}

pub(crate) fn emit_with(
    ctx: &Ctx,
    opts: &KqlSource,
    deploy: &Deploy,
) -> Result<KqlOut, Vec<Diagnostic>> {
    let rule = ctx.rule;
    let mut k = K {
        ctx,
        errs: Vec::new(),
        lets: BTreeMap::new(),
        aggs: BTreeMap::new(),
        joined: BTreeMap::new(),
    };
    let mut taken: Vec<String> = Vec::new();
    let mut stages = Vec::new();
    stages.extend(deploy.period.clone());
    if let Some(a) = &ctx.src.applies {
        if let Err(d) = ctx.column(&a.column, &rule.span) {
            return Err(vec![d]);
        }
    }
    if let Some(a) = ctx
        .src
        .applies
        .as_ref()
        .filter(|a| !filter_implies_applies(ctx, a))
    {
        let items: Vec<String> = a.values.iter().map(|v| kql_string(v)).collect();
        stages.push(format!(
            "where {} in ({})",
            kql_ident(&a.column),
            items.join(", ")
        ));
    }
    // Fields whose value joins several columns, or is the file name of a path column, are
    // computed first, under a fresh name.
    let mut joins = Vec::new();
    // A rule without aggregation reports its event's fields: an entity's is computed too.
    let entity_fields = rule
        .entities
        .iter()
        .filter(|_| rule.aggregation.is_none())
        .filter_map(|e| match &e.field {
            FieldRef::Field(n) => Some((n.clone(), e.span.clone())),
            _ => None,
        });
    for (name, span) in super::fields_used(rule, true)
        .into_iter()
        .chain(entity_fields)
    {
        // A field that does not resolve was reported when the context was made (`Ctx::new`).
        let Ok(col) = ctx.field(&name, &span) else {
            continue;
        };
        if k.joined.contains_key(&name) {
            continue;
        }
        if let Some(d) = col.map.derive {
            let n = fresh_name(&name.replace('.', "_"), &ctx.src.columns, &taken);
            taken.push(n.clone());
            joins.push(format!(
                "{} = {}",
                kql_ident(&n),
                derived(d, &col.map.column)
            ));
            k.joined.insert(name, n);
            continue;
        }
        if col.map.join.is_empty() {
            continue;
        }
        let n = fresh_name(&name.replace('.', "_"), &ctx.src.columns, &taken);
        taken.push(n.clone());
        let sep = kql_string(col.map.sep.as_deref().unwrap_or(""));
        let mut acc: Option<String> = None;
        for c in col.map.join.iter().rev() {
            let c = kql_ident(c);
            acc = Some(match acc {
                None => c,
                Some(rest) => format!(
                    "iff(isempty({c}), {rest}, iff(isempty({rest}), {c}, strcat({c}, {sep}, {rest})))"
                ),
            });
        }
        // `join` is not empty here, so `acc` holds at least one column.
        joins.push(format!("{} = {}", kql_ident(&n), acc.unwrap_or_default()));
        k.joined.insert(name, n);
    }
    if !joins.is_empty() {
        stages.push(format!("extend {}", joins.join(", ")));
    }
    k.lets = name_lets(rule, &ctx.src.columns, &mut taken);
    let filter = simplify(&rule.filter);
    let filter_text = match &filter {
        Expr::And(v) if v.is_empty() => None,
        f => Some(format!("where {}", k.expr(f, false))),
    };
    let mut extend = Vec::new();
    for l in &rule.lets {
        // `name_lets` names every let of the rule, so the default is never taken.
        let name = k.lets.get(&l.name).cloned().unwrap_or_default();
        let default = match &l.default {
            Some(v) => k.value(v),
            None if l.ty == crate::ir::FieldType::String => "\"\"".to_string(),
            None => "long(null)".to_string(),
        };
        let body = if l.arms.is_empty() {
            default
        } else {
            let mut parts = Vec::new();
            for (c, v) in &l.arms {
                parts.push(k.expr(&simplify(c), false));
                parts.push(k.value(v));
            }
            parts.push(default);
            format!("case({})", parts.join(", "))
        };
        extend.push(format!("{} = {body}", kql_ident(&name)));
    }
    let filter_uses_lets = uses_computed(&filter);
    if filter_uses_lets && !extend.is_empty() {
        stages.push(format!("extend {}", extend.join(", ")));
        stages.extend(filter_text);
    } else {
        stages.extend(filter_text);
        if !extend.is_empty() {
            stages.push(format!("extend {}", extend.join(", ")));
        }
    }
    if let Some(a) = &rule.aggregation {
        stages.extend(k.summarize(a, &taken, &deploy.carry));
    }
    let mut columns = BTreeMap::new();
    for e in &rule.entities {
        let col = match &e.field {
            FieldRef::Field(n) => match k.joined.get(n) {
                Some(j) => j.clone(),
                None => match ctx.src.fields.get(n) {
                    Some(m) => m.column.clone(),
                    None => continue,
                },
            },
            FieldRef::Computed(n) => k.lets.get(n).cloned().unwrap_or_else(|| n.clone()),
            FieldRef::Aggregate(n) => k.aggs.get(n).cloned().unwrap_or_else(|| n.clone()),
        };
        columns.insert(e.field.name().to_string(), col);
    }
    if !k.errs.is_empty() {
        return Err(k.errs);
    }
    let text = ctx.render(minijinja::context! {
        title => one_line(&rule.meta.title),
        // (the checker allows only identifiers and UUIDs here; one_line keeps an IR built
        // another way from ending the comment)
        rule_name => one_line(&rule.name),
        rule_id => one_line(&rule.id),
        target => ctx.profile.name.clone(),
        from => parser_call(ctx, opts),
        stages => stages,
    })?;
    Ok(KqlOut {
        text,
        warnings: Vec::new(),
        columns,
    })
}

/// KQL's boolean structure: `and`, `or`, `not(...)`, `true` / `false`.
impl Dialect for K<'_, '_> {
    const AND: &'static str = " and ";
    const OR: &'static str = " or ";
    fn not(&self, operand: String) -> String {
        format!("not({operand})")
    }
    fn constant(&mut self, value: bool) -> String {
        value.to_string()
    }
    fn predicate(&mut self, p: &Predicate, neg: bool) -> String {
        self.pred(p, neg)
    }
    fn comparison(&mut self, c: &Comparison) -> String {
        self.compare(c)
    }
}

impl K<'_, '_> {
    /// The `summarize` stage(s) and the `having` filter. Aggregates are exact with functions
    /// every KQL engine documents (count, countif, sum, min, max): a distinct count is a
    /// two-level summarize, first by the counted column too (one row per distinct value), then
    /// `countif(isnotempty(F))` over those rows. `count_distinct` is not used: a preview function
    /// that Defender XDR advanced hunting does not list and that fails above 100M values; `dcount`
    /// is an estimate.
    fn summarize(
        &mut self,
        a: &crate::ir::Aggregation,
        taken: &[String],
        carry: &[String],
    ) -> Vec<String> {
        let mut stages = Vec::new();
        let time = self.column_of("time", &a.span);
        let mut keys = Vec::new();
        // The columns' own names (not their bracketed forms), for `fresh_name` below.
        let mut names: Vec<String> = taken.to_vec();
        for g in &a.group_by {
            keys.push(self.key(g, &a.span));
            names.push(match g {
                FieldRef::Field(n) => self.joined.get(n).cloned().unwrap_or_else(|| {
                    self.ctx
                        .src
                        .fields
                        .get(n)
                        .map(|m| m.column.clone())
                        .unwrap_or_default()
                }),
                FieldRef::Computed(n) | FieldRef::Aggregate(n) => {
                    self.lets.get(n).cloned().unwrap_or_else(|| n.clone())
                }
            });
        }
        let mut distinct: Option<(String, crate::diag::Span)> = None;
        for ag in &a.aggregates {
            if let AggFunc::DistinctCount(f) = &ag.func {
                let c = self.key(f, &ag.span);
                match &distinct {
                    Some((d, _)) if *d != c => self.errs.push(self.ctx.refuse(
                        &format!("a second distinct count (`{}`) over another field", ag.name),
                        "an exact distinct count is a summarize by the counted column; two columns would need two summarize passes joined back",
                        &ag.span,
                    )),
                    Some(_) => {}
                    None => distinct = Some((c, ag.span.clone())),
                }
            }
        }
        // (one-level aggregate, level-1 partial, level-2 total) per aggregate.
        let mut one = Vec::new();
        let mut first = Vec::new();
        let mut second = Vec::new();
        for ag in &a.aggregates {
            let name = fresh_name(&ag.name, &BTreeMap::new(), &names);
            names.push(name.clone());
            self.aggs.insert(ag.name.clone(), name.clone());
            let n = kql_ident(&name);
            let (body, total) = match &ag.func {
                AggFunc::Count => ("count()".to_string(), format!("sum({n})")),
                AggFunc::DistinctCount(f) => {
                    let c = self.key(f, &ag.span);
                    one.push(format!("{n} = countif(isnotempty({c}))"));
                    second.push(format!("{n} = countif(isnotempty({c}))"));
                    continue;
                }
                // sum() of no values is 0; the IR says the aggregate is then missing.
                AggFunc::Sum(f) => {
                    let c = self.key(f, &ag.span);
                    (
                        format!("iff(countif(isnotnull({c})) == 0, long(null), sum({c}))"),
                        format!("iff(countif(isnotnull({n})) == 0, long(null), sum({n}))"),
                    )
                }
                AggFunc::Min(f) => (
                    format!("min({})", self.key(f, &ag.span)),
                    format!("min({n})"),
                ),
                AggFunc::Max(f) => (
                    format!("max({})", self.key(f, &ag.span)),
                    format!("max({n})"),
                ),
            };
            one.push(format!("{n} = {body}"));
            first.push(format!("{n} = {body}"));
            second.push(format!("{n} = {total}"));
        }
        if !carry.is_empty() {
            // The latest event's columns per group, at both levels (level 2 reads level 1's).
            let cols: Vec<String> = carry.iter().map(|c| kql_ident(c)).collect();
            let latest = format!("arg_max({})", cols.join(", "));
            one.push(latest.clone());
            first.push(latest.clone());
            second.push(latest);
        }
        let window = fresh_name("window_start", &BTreeMap::new(), &names);
        let mut by = vec![format!(
            "{} = bin_at({time}, {}, datetime(1970-01-01))",
            kql_ident(&window),
            duration_text(a.window)
        )];
        by.extend(keys.iter().cloned());
        match distinct {
            None => stages.push(format!("summarize {} by {}", one.join(", "), by.join(", "))),
            Some((c, _)) => {
                // Level 1: one row per value of the counted column (missing included); level 2
                // counts the rows whose value is not empty and adds the partials up.
                let mut by1 = by.clone();
                if !keys.contains(&c) {
                    by1.push(c);
                }
                if first.is_empty() {
                    let rows = fresh_name("rows", &BTreeMap::new(), &names);
                    first.push(format!("{} = count()", kql_ident(&rows)));
                }
                stages.push(format!(
                    "summarize {} by {}",
                    first.join(", "),
                    by1.join(", ")
                ));
                let mut by2 = vec![kql_ident(&window)];
                by2.extend(keys.iter().cloned());
                stages.push(format!(
                    "summarize {} by {}",
                    second.join(", "),
                    by2.join(", ")
                ));
            }
        }
        if let Some(h) = &a.having {
            let h = simplify(h);
            stages.push(format!("where {}", self.expr(&h, false)));
        }
        stages
    }

    fn column_of(&mut self, field: &str, span: &crate::diag::Span) -> String {
        match self.ctx.field(field, span) {
            Ok(c) => self.col_expr(&c, span),
            Err(d) => {
                self.errs.push(d);
                String::new()
            }
        }
    }

    fn col_expr(&mut self, c: &Col, span: &crate::diag::Span) -> String {
        if let Some(n) = self.joined.get(&c.field) {
            return kql_ident(n);
        }
        if c.map.derive.is_some() {
            // Every field the rule reads was extended above; a caller outside them is a bug.
            self.errs.push(self.ctx.refuse(
                "a field derived from a column outside the rule's own fields",
                "only the fields the rule reads are extended with their derived value",
                span,
            ));
        }
        kql_ident(&c.map.column)
    }

    /// A group key or aggregated field.
    fn key(&mut self, f: &FieldRef, span: &crate::diag::Span) -> String {
        match f {
            FieldRef::Field(n) => self.column_of(n, span),
            FieldRef::Computed(n) => kql_ident(self.lets.get(n).map(String::as_str).unwrap_or(n)),
            FieldRef::Aggregate(n) => kql_ident(self.aggs.get(n).map(String::as_str).unwrap_or(n)),
        }
    }

    fn value(&mut self, v: &Value) -> String {
        match v {
            Value::Str(s) | Value::Enum(s) => kql_string(s),
            Value::Int(n) => n.to_string(),
            Value::Ip(a) => kql_string(&a.to_string()),
            Value::Timestamp(t) => format!("unixtime_seconds_todatetime({t})"),
        }
    }

    /// A comparison of two values (`ir::value`): computed in `real` (double), `todouble` on every
    /// operand, so `/` is real division, never Kusto's integer `long / long`. Guarded so that it
    /// is false, never null, when a value is undefined: every operand a number
    /// (`isnotnull(todouble(C))`: null, the empty string and text that is no number are not),
    /// every divisor non-zero (Kusto's real division by zero gives infinity or NaN, which would
    /// compare). Under `not` it is then true there, as the IR says.
    ///
    /// `hour(time)` and `weekday(time)` shift the time by the rule's fixed offset
    /// (`datetime_add('minute', offset, T)`) and take `hourofday` (0-23) or `dayofweek` (a
    /// timespan of whole days since the preceding Sunday, divided by `1d`: Sunday 0 to Saturday
    /// 6, the IR's numbering). The timestamp is guarded as a datetime
    /// (`isnotnull(todatetime(T))`: missing and unparsable times are not).
    fn compare(&mut self, c: &Comparison) -> String {
        let mut parts = Vec::new();
        let times = c.time_refs();
        for r in c.refs() {
            let operand = if times.contains(&r) {
                self.time_operand(r, &c.span)
            } else {
                self.num_operand(r, &c.span)
            };
            parts.push(format!("isnotnull({operand})"));
        }
        for d in c.divisors() {
            let v = self.value_expr(d, &c.span);
            parts.push(format!("{v} != 0.0"));
        }
        let l = self.value_expr(&c.left, &c.span);
        let r = self.value_expr(&c.right, &c.span);
        parts.push(format!("{l} {} {r}", c.op.text()));
        format!("({})", parts.join(" and "))
    }

    /// A field or aggregate as a `real`.
    fn num_operand(&mut self, f: &FieldRef, span: &crate::diag::Span) -> String {
        format!("todouble({})", self.column_operand(f, span))
    }

    /// A field, computed field or aggregate as the column expression that holds it.
    fn column_operand(&mut self, f: &FieldRef, span: &crate::diag::Span) -> String {
        match f {
            FieldRef::Field(n) => match self.ctx.field(n, span) {
                Ok(col) => self.col_expr(&col, span),
                Err(d) => {
                    self.errs.push(d);
                    String::new()
                }
            },
            FieldRef::Computed(n) => kql_ident(self.lets.get(n).map(String::as_str).unwrap_or(n)),
            FieldRef::Aggregate(n) => kql_ident(self.aggs.get(n).map(String::as_str).unwrap_or(n)),
        }
    }

    /// A timestamp field as a `datetime`.
    fn time_operand(&mut self, f: &FieldRef, span: &crate::diag::Span) -> String {
        format!("todatetime({})", self.column_operand(f, span))
    }

    fn value_expr(&mut self, v: &ValueExpr, span: &crate::diag::Span) -> String {
        match v {
            ValueExpr::Ref { field, .. } => self.num_operand(field, span),
            ValueExpr::Num { value } => format!("{value}.0"),
            ValueExpr::Time {
                func,
                field,
                offset_minutes,
            } => {
                let t = self.time_operand(field, span);
                let local = if *offset_minutes == 0 {
                    t
                } else {
                    format!("datetime_add('minute', {offset_minutes}, {t})")
                };
                match func {
                    TimeFunc::Hour => format!("todouble(hourofday({local}))"),
                    TimeFunc::Weekday => format!("(dayofweek({local}) / 1d)"),
                }
            }
            ValueExpr::Arith { op, left, right } => {
                let l = self.value_expr(left, span);
                let r = self.value_expr(right, span);
                format!("({l} {} {r})", op.text())
            }
        }
    }

    fn pred(&mut self, p: &Predicate, neg: bool) -> String {
        // The column (or computed / aggregate column) and whether it holds text.
        let (c, is_text, col) = match &p.field {
            FieldRef::Field(n) => match self.ctx.field(n, &p.span) {
                Ok(col) => (self.col_expr(&col, &p.span), col.is_text(), Some(col)),
                Err(d) => {
                    self.errs.push(d);
                    return String::new();
                }
            },
            FieldRef::Computed(n) => (
                kql_ident(self.lets.get(n).map(String::as_str).unwrap_or(n)),
                p.ty == crate::ir::FieldType::String,
                None,
            ),
            FieldRef::Aggregate(n) => (
                kql_ident(self.aggs.get(n).map(String::as_str).unwrap_or(n)),
                false,
                None,
            ),
        };
        let mut can_be_empty_true = false;
        let body = match &p.op {
            Op::Exists => return format!("isnotempty({c})"),
            Op::Eq { value, case } => match value {
                Value::Str(s) => {
                    can_be_empty_true = s.is_empty();
                    match case {
                        Case::Sensitive => format!("{c} == {}", kql_string(s)),
                        Case::Insensitive => ci_in(&c, std::slice::from_ref(s)),
                    }
                }
                Value::Ip(a) => return ip_blocks(&c, &[host_block(*a)]),
                Value::Enum(sym) => match self.enum_values(col.as_ref(), p, sym) {
                    Some(e) => e,
                    None => return String::new(),
                },
                v => format!("{c} == {}", self.value(v)),
            },
            Op::In { values, case, .. } => {
                if values.is_empty() {
                    return "false".into();
                }
                if let Some(Value::Ip(_)) = values.first() {
                    let blocks: Vec<Cidr> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Ip(a) => Some(host_block(*a)),
                            _ => None,
                        })
                        .collect();
                    return ip_blocks(&c, &blocks);
                }
                if let Some(Value::Enum(_)) = values.first() {
                    let parts: Vec<String> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Enum(s) => self.enum_values(col.as_ref(), p, s),
                            _ => None,
                        })
                        .collect();
                    return if parts.len() == 1 {
                        parts.join("")
                    } else {
                        format!("({})", parts.join(" or "))
                    };
                }
                can_be_empty_true = values.iter().any(|v| v == &Value::Str(String::new()));
                if let (Case::Insensitive, Some(Value::Str(_))) = (case, values.first()) {
                    let strs: Vec<String> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect();
                    ci_in(&c, &strs)
                } else {
                    let items: Vec<String> = values.iter().map(|v| self.value(v)).collect();
                    format!("{c} in ({})", items.join(", "))
                }
            }
            Op::Str {
                kind,
                needles,
                case,
            } => {
                can_be_empty_true = needles.iter().any(String::is_empty);
                let parts: Vec<String> = match case {
                    Case::Sensitive => {
                        let op = match kind {
                            StrOp::StartsWith => "startswith_cs",
                            StrOp::EndsWith => "endswith_cs",
                            StrOp::Contains => "contains_cs",
                        };
                        needles
                            .iter()
                            .map(|n| format!("{c} {op} {}", kql_string(n)))
                            .collect()
                    }
                    // ASCII-only folding, spelled out as a regex (see `ascii_ci_regex`).
                    Case::Insensitive => needles
                        .iter()
                        .map(|n| {
                            let re = ascii_ci_regex(n);
                            let re = match kind {
                                StrOp::StartsWith => format!("\\A{re}"),
                                StrOp::EndsWith => format!("{re}\\z"),
                                StrOp::Contains => re,
                            };
                            format!("{c} matches regex {}", kql_string(&re))
                        })
                        .collect(),
                };
                if parts.len() == 1 {
                    parts.join("")
                } else {
                    format!("({})", parts.join(" or "))
                }
            }
            Op::Regex { pattern, case } => {
                can_be_empty_true = true;
                let pat = match self.ctx.fold_regex(pattern, *case, &p.span) {
                    Ok(r) => r,
                    Err(d) => {
                        self.errs.push(d);
                        return String::new();
                    }
                };
                format!("{c} matches regex {}", kql_string(&pat))
            }
            Op::InCidr { blocks, .. } => return ip_blocks(&c, blocks),
            Op::IpClass { class } => {
                return match class {
                    IpClass::Public => public(&c),
                    other => ip_blocks(&c, &other.blocks()),
                }
            }
            Op::Cmp { op, value } => {
                format!("{c} {} {}", cmp_op(*op), self.value(value))
            }
        };
        if can_be_empty_true || (neg && !is_text) {
            format!("(isnotempty({c}) and {body})")
        } else {
            body
        }
    }

    /// The column values an enum symbol stands for, as a predicate.
    fn enum_values(&mut self, col: Option<&Col>, p: &Predicate, sym: &str) -> Option<String> {
        let col = col?;
        let c = kql_ident(&col.map.column);
        let vals = col.map.values.as_ref().and_then(|m| m.get(sym));
        let Some(vals) = vals.filter(|v| !v.is_empty()) else {
            self.errs.push(self.ctx.refuse(
                &format!("`{} == {sym}`", p.field.name()),
                &format!(
                    "column {} of {} has no value meaning `{sym}`",
                    col.map.column,
                    self.ctx.table()
                ),
                &p.span,
            ));
            return None;
        };
        let case = col
            .map
            .values_case
            .map(|c| c.case())
            .unwrap_or(Case::Sensitive);
        if case == Case::Insensitive {
            return Some(ci_in(&c, vals));
        }
        let items: Vec<String> = vals.iter().map(|v| kql_string(v)).collect();
        Some(if items.len() == 1 {
            format!("{c} == {}", items.join(""))
        } else {
            format!("{c} in ({})", items.join(", "))
        })
    }
}

/// `c` equals one of `vals` under ASCII-only case folding (the IR's `==~` / `in~`). Kusto
/// documents `=~` / `in~` as case-insensitive "only for ASCII text"; an engine that folds more
/// (duckdb-kql lowers with Unicode rules: `İ` -> `i`, the Kelvin sign -> `k`) would match a
/// non-ASCII spelling of an ASCII value, so all-ASCII values are tested on values without a
/// non-ASCII character (no such value can equal them), and a value with a non-ASCII character is
/// spelled out as an anchored regex.
fn ci_in(c: &str, vals: &[String]) -> String {
    let (ascii, other): (Vec<&String>, Vec<&String>) = vals.iter().partition(|v| v.is_ascii());
    let mut parts = Vec::new();
    if !ascii.is_empty() {
        let test = if ascii.len() == 1 {
            format!("{c} =~ {}", kql_string(ascii[0]))
        } else {
            let items: Vec<String> = ascii.iter().map(|v| kql_string(v)).collect();
            format!("{c} in~ ({})", items.join(", "))
        };
        parts.push(format!(
            "({test} and not({c} matches regex {}))",
            kql_string(NON_ASCII_REGEX)
        ));
    }
    for v in other {
        let re = format!("\\A{}\\z", ascii_ci_regex(v));
        parts.push(format!("{c} matches regex {}", kql_string(&re)));
    }
    if parts.len() == 1 {
        parts.join("")
    } else {
        format!("({})", parts.join(" or "))
    }
}

/// `from`, with the parser parameters the rule's filter implies as named arguments
/// (`_Im_NetworkSession(dstportnumber=25)`), in the profile's (sorted) order; the bare `from`
/// when none is implied. A `from` that already calls something is left as it is.
fn parser_call(ctx: &Ctx, opts: &KqlSource) -> String {
    if opts.from.contains('(') {
        return opts.from.clone();
    }
    let args: Vec<String> = opts
        .parameters
        .iter()
        .filter_map(|(name, p)| parser_argument(ctx, p).map(|v| format!("{name}={v}")))
        .collect();
    if args.is_empty() {
        opts.from.clone()
    } else {
        format!("{}({})", opts.from, args.join(", "))
    }
}

/// The value of parameter `p` that keeps every event the rule's filter keeps, if a top-level
/// conjunct of the filter pins its field: `field == N` (or `in [N]`) for `equals`; IPv4
/// addresses or IPv4 blocks only (`in [10.0.0.0/8]`, `== 192.0.2.1`) for `ipv4_prefix`, each block
/// as the octet prefixes that cover it (a /12 is sixteen /16 prefixes). A class (`is private`)
/// holds IPv6 blocks that no IPv4 prefix covers, so it implies no prefix.
fn parser_argument(ctx: &Ctx, p: &super::profile::KqlParameter) -> Option<String> {
    use super::profile::ParameterFilter;
    let filter = simplify(&ctx.rule.filter);
    let conjuncts: Vec<&Expr> = match &filter {
        Expr::And(v) => v.iter().collect(),
        o => vec![o],
    };
    conjuncts.into_iter().find_map(|e| {
        let Expr::Pred(pred) = e else { return None };
        if !matches!(&pred.field, FieldRef::Field(n) if *n == p.field) {
            return None;
        }
        match p.filter {
            ParameterFilter::Equals => {
                let v = match &pred.op {
                    Op::Eq { value, .. } => value,
                    Op::In { values, .. } if values.len() == 1 => &values[0],
                    _ => return None,
                };
                match v {
                    Value::Int(n) if i32::try_from(*n).is_ok() => Some(n.to_string()),
                    _ => None,
                }
            }
            ParameterFilter::Ipv4Prefix => {
                let blocks: Vec<Cidr> = match &pred.op {
                    Op::Eq {
                        value: Value::Ip(a),
                        ..
                    } => vec![host_block(*a)],
                    Op::In { values, .. } => values
                        .iter()
                        .map(|v| match v {
                            Value::Ip(a) => Some(host_block(*a)),
                            _ => None,
                        })
                        .collect::<Option<_>>()?,
                    Op::InCidr { blocks, .. } => blocks.clone(),
                    _ => return None,
                };
                let mut prefixes = Vec::new();
                for b in &blocks {
                    prefixes.extend(ipv4_prefixes(b)?);
                }
                prefixes.sort();
                prefixes.dedup();
                (!prefixes.is_empty() && prefixes.len() <= MAX_PREFIXES).then(|| {
                    let items: Vec<String> = prefixes.iter().map(|x| kql_string(x)).collect();
                    format!("dynamic([{}])", items.join(", "))
                })
            }
        }
    })
}

/// At most this many prefixes in one parameter (the parsers take up to 10,000; a rule's list
/// beyond this is left to the `where`).
const MAX_PREFIXES: usize = 256;

/// The `has_any_ipv4_prefix` prefixes covering IPv4 block `b` exactly: its leading whole octets
/// ending in `.` (a whole address for a /32), the octet the prefix ends inside spelled out for
/// every value it allows. None for an IPv6 block or a /0 (no prefix to give: Kusto's prefixes
/// need at least one octet).
fn ipv4_prefixes(b: &Cidr) -> Option<Vec<String>> {
    let std::net::IpAddr::V4(a) = b.addr else {
        return None;
    };
    let len = u32::from(b.prefix).min(32);
    if len == 0 {
        return None;
    }
    let octets = a.octets();
    let whole = len.div_ceil(8) as usize;
    let free = (whole as u32) * 8 - len;
    let base = u32::from(octets[whole - 1]) >> free << free;
    let head: Vec<String> = octets[..whole - 1].iter().map(u8::to_string).collect();
    Some(
        (base..base + (1 << free))
            .map(|last| {
                let mut parts = head.clone();
                parts.push(last.to_string());
                let text = parts.join(".");
                if whole == 4 {
                    text
                } else {
                    format!("{text}.")
                }
            })
            .collect(),
    )
}

/// The rule's filter already confines the applies column to some of the applies values (a
/// top-level `direction == outbound` over ActionType): the applies stage would test the same
/// column twice, and is left out.
fn filter_implies_applies(ctx: &Ctx, a: &super::profile::Applies) -> bool {
    let filter = simplify(&ctx.rule.filter);
    let conjuncts: Vec<&Expr> = match &filter {
        Expr::And(v) => v.iter().collect(),
        o => vec![o],
    };
    conjuncts.into_iter().any(|e| {
        let Expr::Pred(p) = e else { return false };
        let FieldRef::Field(n) = &p.field else {
            return false;
        };
        let Ok(col) = ctx.field(n, &p.span) else {
            return false;
        };
        if col.map.column != a.column || !col.map.join.is_empty() || col.map.derive.is_some() {
            return false;
        }
        let syms: Vec<&Value> = match &p.op {
            Op::Eq { value, .. } => vec![value],
            Op::In { values, .. } => values.iter().collect(),
            _ => return false,
        };
        // Enum symbols compare with the column's own values: an insensitive column could let a
        // spelling outside the applies list through.
        let sensitive = col
            .map
            .values_case
            .map(|c| c.case())
            .unwrap_or(Case::Sensitive)
            == Case::Sensitive;
        sensitive
            && !syms.is_empty()
            && syms.iter().all(|v| match v {
                Value::Enum(sym) => col
                    .map
                    .values
                    .as_ref()
                    .and_then(|m| m.get(sym.as_str()))
                    .is_some_and(|vals| {
                        !vals.is_empty() && vals.iter().all(|x| a.values.contains(x))
                    }),
                _ => false,
            })
    })
}

/// A block as Kusto's range functions read it. Rust writes an IPv4-mapped IPv6 address in dotted
/// form (`::ffff:10.0.0.0/104`), where Kusto's `parse_ipv6` would count the prefix length in IPv4
/// bits: such a block is written with every group in hex instead.
fn range_text(b: &Cidr) -> String {
    let text = b.to_string();
    match b.addr {
        std::net::IpAddr::V6(a) if text.contains('.') => {
            let groups: Vec<String> = a.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("{}/{}", groups.join(":"), b.prefix)
        }
        _ => text,
    }
}

/// The IPv4 private blocks `ipv4_is_private()` tests (Kusto reference, ipv4_is_private():
/// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), as the IR's `private` class writes them.
fn ipv4_private_blocks() -> Vec<Cidr> {
    IpClass::Private
        .blocks()
        .into_iter()
        .filter(|b| b.addr.is_ipv4())
        .collect()
}

/// `c` in any of `blocks` (all of one family), with `f1` for one block and `fany` for more.
fn range_call(c: &str, blocks: &[&Cidr], f1: &str, fany: &str) -> Option<String> {
    let ranges: Vec<String> = blocks.iter().map(|b| kql_string(&range_text(b))).collect();
    match ranges.len() {
        0 => None,
        1 => Some(format!("{f1}({c}, {})", ranges.join(""))),
        _ => Some(format!("{fany}({c}, {})", ranges.join(", "))),
    }
}

/// The IPv4 test of `c` against the IPv4 blocks: `ipv4_is_private(c)` for the three private
/// blocks when all of them are there, `ipv4_is_in_range` / `ipv4_is_in_any_range` for the rest.
/// Null when `c` is not an IPv4 address: the Kusto reference gives these functions "null: If
/// conversion ... wasn't successful", and IPv6 text is not an IPv4 address, so no family test is
/// needed in front of them.
fn ipv4_test(c: &str, blocks: &[Cidr]) -> Option<String> {
    let v4: Vec<&Cidr> = blocks.iter().filter(|b| b.addr.is_ipv4()).collect();
    let private = ipv4_private_blocks();
    let uses_private = private.iter().all(|p| v4.contains(&p));
    let rest: Vec<&Cidr> = v4
        .iter()
        .copied()
        .filter(|b| !(uses_private && private.contains(b)))
        .collect();
    let parts: Vec<String> = uses_private
        .then(|| format!("ipv4_is_private({c})"))
        .into_iter()
        .chain(range_call(
            c,
            &rest,
            "ipv4_is_in_range",
            "ipv4_is_in_any_range",
        ))
        .collect();
    match parts.len() {
        0 => None,
        1 => parts.into_iter().next(),
        _ => Some(format!("({})", parts.join(" or "))),
    }
}

/// The IPv6 test of `c` against the IPv6 blocks (`ipv6_is_in_range` / `ipv6_is_in_any_range`).
/// Kusto's IPv6 functions read IPv4 text as the IPv4-mapped address `::ffff:a.b.c.d` (reference,
/// parse_ipv6()), where the IR's IPv6 blocks hold no IPv4 address: so when a block overlaps
/// ::ffff:0:0/96 the test is confined to IPv6 text (`c contains ":"`); no other block can hold
/// an IPv4 address's reading.
fn ipv6_test(c: &str, blocks: &[Cidr]) -> Option<String> {
    let v6: Vec<&Cidr> = blocks.iter().filter(|b| b.addr.is_ipv6()).collect();
    let test = range_call(c, &v6, "ipv6_is_in_range", "ipv6_is_in_any_range")?;
    let mapped = Cidr {
        addr: std::net::IpAddr::V6(std::net::Ipv4Addr::UNSPECIFIED.to_ipv6_mapped()),
        prefix: 96,
    };
    let overlaps = v6
        .iter()
        .any(|b| b.contains(mapped.addr) || mapped.contains(b.addr));
    Some(if overlaps {
        format!("({c} contains \":\" and {test})")
    } else {
        test
    })
}

/// `e` as a two-valued test: Kusto's IP functions return null for text that does not parse as an
/// address (the empty string included), `not(null)` is null and `where` drops the row; the IR
/// says a predicate on such a value is false, so its negation is true. Kusto's reference, "Null
/// values": the equality operator applied to a null and a non-null value yields false; logical
/// operators: `bool(null) or true` is true, so one family's null does not hide the other's true.
fn two_valued(e: String) -> String {
    format!("(({e}) == true)")
}

/// Membership in any of `blocks`, each family tested by its own functions; false (never null)
/// for a value that is not an address.
fn ip_blocks(c: &str, blocks: &[Cidr]) -> String {
    let parts: Vec<String> = ipv4_test(c, blocks)
        .into_iter()
        .chain(ipv6_test(c, blocks))
        .collect();
    if parts.is_empty() {
        return "false".into();
    }
    two_valued(parts.join(" or "))
}

/// A public address: a valid address of either family outside every non-public block. The IPv6
/// branch needs its family test: IPv4 text parses as an IPv6 address outside every IPv6 block.
fn public(c: &str) -> String {
    let blocks = IpClass::non_public_blocks();
    let v4 = ipv4_test(c, &blocks).unwrap_or_else(|| "false".into());
    let v6 = ipv6_test(c, &blocks).unwrap_or_else(|| "false".into());
    two_valued(format!(
        "(isnotnull(parse_ipv4({c})) and not({v4})) or ({c} contains \":\" and isnotempty(parse_ipv6({c})) and not({v6}))"
    ))
}
