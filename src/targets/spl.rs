//! SPL (Splunk): `spl-sysmon` filters raw Sysmon events with `where` (case-sensitive,
//! three-valued), `spl-cim` aggregates the CIM data model with `tstats` (its `where` is search
//! syntax: case-insensitive, wildcards).
//!
//! Meaning kept per construct (see docs/TARGETS.md):
//! - `where` compares case-sensitively; a case-insensitive comparison lowers both sides
//!   (`lower(F)=="v"`, the literal lowered here, on values without a non-ASCII character) or
//!   spells out the ASCII cases in `match()` (`[aA]`, never `(?i)`).
//! - `where` is three-valued (a comparison with null is null, `NOT null` is null): a predicate
//!   under `NOT` is guarded as `(isnotnull(F) AND F!="" AND P)` so it stays true on a missing value.
//! - every value sits in a quoted, escaped literal; in spl-sysmon only values of ASCII letters
//!   and digits reach the base search, as terms the `where` implies (`base_terms`: no `*`, no
//!   breaker), the `where` keeping the whole filter; in spl-cim a value with `*` is refused.
//! - mixed AND/OR is always parenthesised (search binds OR tighter than the implicit AND).
//! - `bin _time span=W` / tstats `span=W` are epoch-aligned tumbling windows, as the IR.
//! - `stats` drops rows whose by-field is null: `fillnull value=""` on the keys first.

use super::dialect::{cmp_op, host_block, Dialect};
use super::escape::{regex_literal, spl_field, spl_string};
use super::profile::SplSource;
use super::{
    ascii_ci_regex, duration_text, fresh_name, name_lets, simplify, Col, Ctx, Derive,
    NON_ASCII_REGEX,
};
use crate::diag::{Code, Diagnostic, Span};
use crate::ir::visit::uses_computed;
use crate::ir::{
    AggFunc, Case, Cidr, Comparison, Expr, FieldRef, IpClass, Op, Predicate, RelOp, StrOp,
    TimeFunc, Value, ValueExpr,
};
use std::collections::BTreeMap;

pub(super) fn emit(
    ctx: &Ctx,
    opts: &SplSource,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    match opts {
        SplSource::Search { search } => emit_search(ctx, search),
        SplSource::Tstats {
            datamodel,
            prefix,
            summariesonly,
        } => emit_tstats(ctx, datamodel, prefix, *summariesonly),
    }
}

struct S<'a, 'b> {
    ctx: &'a Ctx<'b>,
    errs: Vec<Diagnostic>,
    /// let name -> emitted field name
    lets: BTreeMap<String, String>,
    /// derived column (e.g. Image) -> eval'd basename field
    derived: BTreeMap<String, String>,
    /// column with a swap partner (e.g. DestinationIp) -> eval'd field that reads the partner
    /// when the swap condition holds
    swapped: BTreeMap<String, String>,
    /// tstats mode: fields carry the data model prefix, expressions are search syntax
    tstats: bool,
    /// The data model prefix of field names (`All_Traffic.`); empty for a `search` source.
    prefix: &'a str,
    /// aggregate name -> emitted field name (another one for an SPL reserved word)
    aggs: BTreeMap<String, String>,
}

/// Words SPL reads as syntax where a field name may stand (any case): eval's and where's
/// operators AND, OR, NOT, XOR, LIKE and IN (Search Reference, "eval command" and "where
/// command"), stats' and bin's BY, AS, OVER (Search Reference, "stats command"), lookup's OUTPUT
/// and OUTPUTNEW. A computed field or aggregate named like one is emitted under a fresh name
/// (`AS_computed`): quoting is not accepted the same way by every command (`eval 'x'=` but
/// `stats ... as "x"`), a fresh plain name is read the same by all of them.
const SPL_RESERVED: [&str; 11] = [
    "and",
    "or",
    "not",
    "xor",
    "like",
    "in",
    "by",
    "as",
    "over",
    "output",
    "outputnew",
];

/// The reserved words, to seed a `taken` list for [`fresh_name`] (which compares ignoring case).
fn reserved() -> Vec<String> {
    SPL_RESERVED.iter().map(|w| w.to_string()).collect()
}

/// Emitted names for the aggregates: their own, or a fresh one for a reserved word.
fn agg_names(aggs: &[crate::ir::Aggregate], taken: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut taken: Vec<String> = taken.to_vec();
    taken.extend(reserved());
    for ag in aggs {
        let n = if SPL_RESERVED
            .iter()
            .any(|w| w.eq_ignore_ascii_case(&ag.name))
        {
            fresh_name(&ag.name, &BTreeMap::new(), &taken)
        } else {
            ag.name.clone()
        };
        taken.push(n.clone());
        out.insert(ag.name.clone(), n);
    }
    out
}

fn emit_search(ctx: &Ctx, search: &str) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let rule = ctx.rule;
    let mut s = S {
        ctx,
        errs: Vec::new(),
        lets: BTreeMap::new(),
        derived: BTreeMap::new(),
        swapped: BTreeMap::new(),
        tstats: false,
        prefix: "",
        aggs: BTreeMap::new(),
    };
    // A computed field named like an SPL reserved word gets a fresh name (see SPL_RESERVED).
    let mut taken: Vec<String> = reserved();
    // Basename fields (process.name from Image) are computed once, under a fresh name.
    let mut stages = Vec::new();
    for (name, span) in super::fields_used(rule, true) {
        if let Ok(col) = ctx.field(&name, &span) {
            if col.map.derive == Some(Derive::Basename) && !s.derived.contains_key(&col.map.column)
            {
                let n = fresh_name(
                    &format!("{}_name", col.map.column.to_lowercase()),
                    &ctx.src.columns,
                    &taken,
                );
                taken.push(n.clone());
                stages.push(format!(
                    "eval {n}=replace({}, {}, \"\")",
                    spl_field(&col.map.column),
                    spl_string("^.*[\\\\/]")
                ));
                s.derived.insert(col.map.column.clone(), n);
            }
            let swap = if ctx.swap_excluded() {
                None
            } else {
                ctx.src.swap_partner(&col.map.column)
            };
            if let Some((sw, partner)) = swap {
                if s.swapped.contains_key(&col.map.column) {
                    continue;
                }
                let n = fresh_name(&name.replace('.', "_"), &ctx.src.columns, &taken);
                taken.push(n.clone());
                let cond = in_where(&spl_field(&sw.column), &sw.values, Case::Sensitive);
                stages.push(format!(
                    "eval {n}=if({cond}, {}, {})",
                    spl_field(&partner),
                    spl_field(&col.map.column)
                ));
                s.swapped.insert(col.map.column.clone(), n);
            }
        }
    }
    s.lets = name_lets(rule, &ctx.src.columns, &mut taken);
    let filter = simplify(&rule.filter);
    let terms = s.base_terms(&filter);
    let search = if terms.is_empty() {
        search.to_string()
    } else {
        format!("{search} {}", terms.join(" "))
    };
    let filter_stage = match &filter {
        Expr::And(v) if v.is_empty() => None,
        f => Some(format!("where {}", s.expr(f, false))),
    };
    let mut lets = Vec::new();
    for l in &rule.lets {
        // `name_lets` names every let of the rule, so the default is never taken.
        let name = s.lets.get(&l.name).cloned().unwrap_or_default();
        let mut parts = Vec::new();
        for (c, v) in &l.arms {
            parts.push(s.expr(&simplify(c), false));
            parts.push(value(v));
        }
        if let Some(d) = &l.default {
            parts.push("true()".into());
            parts.push(value(d));
        }
        let body = if parts.is_empty() {
            "null()".to_string()
        } else {
            format!("case({})", parts.join(", "))
        };
        lets.push(format!("eval {}={body}", spl_field(&name)));
    }
    if uses_computed(&filter) {
        stages.extend(lets);
        stages.extend(filter_stage);
    } else {
        stages.extend(filter_stage);
        stages.extend(lets);
    }
    if let Some(a) = &rule.aggregation {
        s.aggs = agg_names(&a.aggregates, &taken);
        let time = s.field_name("time", &a.span);
        let mut keys = Vec::new();
        for g in &a.group_by {
            keys.push(s.key(g, &a.span));
        }
        let uses_time = a.aggregates.iter().any(|ag| {
            matches!(&ag.func, AggFunc::Min(FieldRef::Field(f)) | AggFunc::Max(FieldRef::Field(f)) if f == "time")
        });
        let event_time = fresh_name("event_time", &ctx.src.columns, &taken);
        if uses_time {
            stages.push(format!("eval {event_time}={time}"));
        }
        // Windows by arithmetic on epoch seconds: `bin` aligns day spans to the local midnight
        // of the searching user's zone (Search Manual, "Time zones and time bins"); this is the
        // IR's epoch-aligned UTC window for every span and every zone.
        stages.push(format!("eval {time}={time} - ({time} % {})", a.window));
        if !keys.is_empty() {
            stages.push(format!("fillnull value=\"\" {}", keys.join(" ")));
        }
        let mut aggs = Vec::new();
        for ag in &a.aggregates {
            let f = |s: &mut S, fr: &FieldRef| match fr {
                FieldRef::Field(n) if n == "time" => event_time.clone(),
                o => s.key(o, &ag.span),
            };
            let body = match &ag.func {
                AggFunc::Count => "count".to_string(),
                AggFunc::DistinctCount(x) => format!("dc({})", f(&mut s, x)),
                AggFunc::Sum(x) => format!("sum({})", f(&mut s, x)),
                AggFunc::Min(x) => format!("min({})", f(&mut s, x)),
                AggFunc::Max(x) => format!("max({})", f(&mut s, x)),
            };
            aggs.push(format!("{body} as {}", spl_field(s.agg_name(&ag.name))));
        }
        let mut by = vec![time];
        by.extend(keys);
        stages.push(format!("stats {} by {}", aggs.join(", "), by.join(", ")));
        if let Some(h) = &a.having {
            stages.push(format!("where {}", s.expr(&simplify(h), false)));
        }
    }
    if !s.errs.is_empty() {
        return Err(s.errs);
    }
    let text = ctx.render(minijinja::context! {
        search => search,
        stages => stages,
    })?;
    // exact: swapped columns are read through `eval ... if(...)`
    Ok((text, Vec::new()))
}

fn emit_tstats(
    ctx: &Ctx,
    dm: &str,
    prefix: &str,
    summariesonly: bool,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let rule = ctx.rule;
    let mut s = S {
        ctx,
        errs: Vec::new(),
        lets: BTreeMap::new(),
        derived: BTreeMap::new(),
        swapped: BTreeMap::new(),
        tstats: true,
        prefix,
        aggs: BTreeMap::new(),
    };
    let mut warnings = Vec::new();
    let Some(a) = &rule.aggregation else {
        return Err(vec![ctx.refuse(
            "a rule without aggregation (one alert per event)",
            "tstats only returns aggregated rows",
            &rule.span,
        )]);
    };
    s.aggs = agg_names(&a.aggregates, &[]);
    // tstats cannot compute fields: a condition on one is rewritten over its inputs (a computed
    // group key or aggregate is refused in `key`).
    let mut filter = simplify(&rule.filter);
    if uses_computed(&filter) {
        match super::inline_computed(rule, &filter) {
            Some(f) => filter = simplify(&f),
            None => s.errs.push(ctx.refuse(
                "a filter on a computed field",
                "tstats cannot evaluate expressions, and this condition cannot be rewritten over the fields it is computed from",
                &rule.span,
            )),
        }
    }
    let where_text = match &filter {
        Expr::And(v) if v.is_empty() => String::new(),
        f => format!(" where {}", s.expr(f, false)),
    };
    let time = s.field_name("time", &a.span);
    let mut keys = Vec::new();
    for g in &a.group_by {
        keys.push(s.key(g, &a.span));
    }
    let mut aggs = Vec::new();
    for ag in &a.aggregates {
        let body = match &ag.func {
            AggFunc::Count => "count".to_string(),
            AggFunc::DistinctCount(x) => format!("dc({})", s.key(x, &ag.span)),
            AggFunc::Sum(x) => format!("sum({})", s.key(x, &ag.span)),
            AggFunc::Min(x) | AggFunc::Max(x) => {
                if x.name() == "time" {
                    s.errs.push(ctx.refuse(
                        &format!("aggregate `{}` over the event time", ag.name),
                        "tstats by _time span= replaces _time by the window start",
                        &ag.span,
                    ));
                }
                let f = if matches!(ag.func, AggFunc::Min(_)) {
                    "min"
                } else {
                    "max"
                };
                format!("{f}({})", s.key(x, &ag.span))
            }
        };
        aggs.push(format!("{body} as {}", spl_field(s.agg_name(&ag.name))));
    }
    if !keys.is_empty() {
        warnings.push(ctx.warn(
            Code::W0904,
            format!(
                "tstats drops events whose group-by field ({}) is missing, where the IR makes \"missing\" a group of its own",
                keys.join(", ")
            ),
        ));
    }
    let mut by = keys;
    // Never a span in days: those align to the user's local midnight; spans in h/m/s align to
    // epoch 0 (Search Reference, bin: `aligntime`, "base UTC time (epoch 0)", "ignored if span
    // is in days"), which is the IR's window.
    by.push(format!("{time} span={}", span_without_days(a.window)));
    let mut stages = Vec::new();
    if let Some(h) = &a.having {
        s.tstats = false; // having is a where over result rows
        stages.push(format!("where {}", s.expr(&simplify(h), false)));
    }
    if !s.errs.is_empty() {
        return Err(s.errs);
    }
    let search = format!(
        "| tstats summariesonly={summariesonly} {} from datamodel={dm}{where_text} by {}",
        aggs.join(", "),
        by.join(", ")
    );
    let text = ctx.render(minijinja::context! {
        search => search,
        stages => stages,
    })?;
    Ok((text, warnings))
}

/// A window as a Splunk span in hours, minutes or seconds (`24h`, not `1d`).
fn span_without_days(secs: u64) -> String {
    match duration_text(secs) {
        d if d.ends_with('d') => format!("{}h", secs / 3_600),
        d => d,
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Enum(s) => spl_string(s),
        Value::Int(n) | Value::Timestamp(n) => n.to_string(),
        Value::Ip(a) => spl_string(&a.to_string()),
    }
}

fn join_or(parts: Vec<String>) -> String {
    match parts.len() {
        0 => "false()".into(),
        1 => parts.join(""),
        _ => format!("({})", parts.join(" OR ")),
    }
}

/// SPL's boolean structure, the same in `where` / `eval` and in search terms: `AND`, `OR`,
/// `NOT (...)`; the constants `true()` / `false()` (eval functions).
impl Dialect for S<'_, '_> {
    const AND: &'static str = " AND ";
    const OR: &'static str = " OR ";
    fn not(&self, operand: String) -> String {
        format!("NOT ({operand})")
    }
    fn constant(&mut self, value: bool) -> String {
        match value {
            // never reached in tstats: simplify removes true operands; kept total
            true if self.tstats => String::new(),
            true => "true()".into(),
            false => "false()".into(),
        }
    }
    /// tstats `where` is search syntax; otherwise `where`'s three-valued expressions.
    fn predicate(&mut self, p: &Predicate, neg: bool) -> String {
        if self.tstats {
            self.search_pred(p)
        } else {
            self.where_pred(p, neg)
        }
    }
    fn comparison(&mut self, c: &Comparison) -> String {
        if self.tstats {
            let mut d = self
                .ctx
                .refuse(
                    "a comparison of two values in the event filter",
                    "tstats filters with search terms, which compare a field with constants only",
                    &c.span,
                )
                .hint("compare the aggregates in `having` (a `where` after tstats), or use the spl-sysmon target");
            d.code = Code::E0911;
            self.errs.push(d);
            String::new()
        } else {
            self.compare(c)
        }
    }
}

impl S<'_, '_> {
    /// The field name (as written in a query) of a catalogue field.
    fn field_name(&mut self, field: &str, span: &Span) -> String {
        match self.ctx.field(field, span) {
            Ok(c) => self.col_name(&c),
            Err(d) => {
                self.errs.push(d);
                String::new()
            }
        }
    }

    /// The emitted name of aggregate `n`.
    fn agg_name<'n>(&'n self, n: &'n str) -> &'n str {
        self.aggs.get(n).map(String::as_str).unwrap_or(n)
    }

    fn col_name(&mut self, c: &Col) -> String {
        if !c.map.join.is_empty() {
            self.errs.push(self.ctx.refuse(
                &format!("`{}`", c.field),
                "a field joined from several columns",
                &self.ctx.rule.span,
            ));
        }
        if c.map.derive == Some(Derive::Basename) {
            if let Some(n) = self.derived.get(&c.map.column) {
                return spl_field(n);
            }
        }
        if let Some(n) = self.swapped.get(&c.map.column) {
            return spl_field(n);
        }
        let prefix = if c.vendor_ty == "implicit" {
            ""
        } else {
            self.prefix
        };
        let name = format!("{prefix}{}", c.map.column);
        if self.tstats {
            name
        } else {
            spl_field(&name)
        }
    }

    fn key(&mut self, f: &FieldRef, span: &Span) -> String {
        match f {
            FieldRef::Field(n) => {
                let r = self.ctx.field(n, span);
                match r {
                    Ok(c) => {
                        if self.tstats && c.map.derive.is_some() {
                            self.errs.push(self.ctx.refuse(
                                &format!("`{n}`"),
                                "a derived field cannot be a tstats key",
                                span,
                            ));
                        }
                        let t = self.tstats;
                        self.tstats = true; // keys are bare in stats/tstats by-lists
                        let name = self.col_name(&c);
                        self.tstats = t;
                        name
                    }
                    Err(d) => {
                        self.errs.push(d);
                        String::new()
                    }
                }
            }
            FieldRef::Computed(n) => {
                if self.tstats {
                    self.errs.push(self.ctx.refuse(
                        &format!("group key `{n}` (a computed field)"),
                        "tstats cannot evaluate expressions before aggregating",
                        span,
                    ));
                }
                self.lets.get(n).cloned().unwrap_or_else(|| n.clone())
            }
            FieldRef::Aggregate(n) => n.clone(),
        }
    }

    /// A comparison of two values (`ir::value`) as a `where` expression: `tonumber` on every
    /// operand (eval arithmetic is floating point, so `/` is real division), guarded so that it
    /// is false, never null, when a value is undefined: every operand a number
    /// (`isnotnull(tonumber(F))`: null, the empty string and text that is no number are not) and
    /// every divisor non-zero. Under `NOT` it is then true there, as the IR says.
    fn compare(&mut self, c: &Comparison) -> String {
        let mut parts = Vec::new();
        for r in c.refs() {
            let operand = self.num_operand(r, &c.span);
            parts.push(format!("isnotnull({operand})"));
        }
        for d in c.divisors() {
            let v = self.value_expr(d, &c.span);
            parts.push(format!("{v}!=0"));
        }
        let l = self.value_expr(&c.left, &c.span);
        let r = self.value_expr(&c.right, &c.span);
        let op = if c.op == RelOp::Eq { "==" } else { c.op.text() };
        parts.push(format!("{l}{op}{r}"));
        format!("({})", parts.join(" AND "))
    }

    /// A field or aggregate as a number.
    fn num_operand(&mut self, f: &FieldRef, span: &Span) -> String {
        let c = match f {
            FieldRef::Field(n) => self.field_name(n, span),
            FieldRef::Computed(n) => spl_field(self.lets.get(n).map(String::as_str).unwrap_or(n)),
            FieldRef::Aggregate(n) => spl_field(self.agg_name(n)),
        };
        format!("tonumber({c})")
    }

    /// `hour(time)` and `weekday(time)` are arithmetic on `_time`, which is seconds since the
    /// epoch: `strftime` and the `date_*` fields read the time in a zone that is not the rule's
    /// (the user's zone, or the time as written in the raw event; docs/TARGETS.md), so neither
    /// is used. With `L = floor(_time) + offset`: the hour is `floor(L/3600) mod 24`, the
    /// weekday `(floor(L/86400) + 4) mod 7` (1970-01-01 was a Thursday), each `mod` written as
    /// `x - n*floor(x/n)` so it is a floor modulo for any sign.
    fn value_expr(&mut self, v: &ValueExpr, span: &Span) -> String {
        match v {
            ValueExpr::Ref { field, .. } => self.num_operand(field, span),
            ValueExpr::Num { value } => value.to_string(),
            ValueExpr::Time {
                func,
                field,
                offset_minutes,
            } => {
                let t = self.num_operand(field, span);
                let secs = i64::from(*offset_minutes) * 60;
                let local = if secs == 0 {
                    format!("floor({t})")
                } else {
                    format!("(floor({t}) + {secs})")
                };
                let x = match func {
                    TimeFunc::Hour => format!("floor({local} / 3600)"),
                    TimeFunc::Weekday => format!("(floor({local} / 86400) + 4)"),
                };
                let n = match func {
                    TimeFunc::Hour => 24,
                    TimeFunc::Weekday => 7,
                };
                format!("({x} - {n} * floor({x} / {n}))")
            }
            ValueExpr::Arith { op, left, right } => {
                let l = self.value_expr(left, span);
                let r = self.value_expr(right, span);
                format!("({l} {} {r})", op.text())
            }
        }
    }

    fn pred_field(&mut self, p: &Predicate) -> Option<(String, Option<Col>)> {
        match &p.field {
            FieldRef::Field(n) => match self.ctx.field(n, &p.span) {
                Ok(c) => Some((self.col_name(&c), Some(c))),
                Err(d) => {
                    self.errs.push(d);
                    None
                }
            },
            FieldRef::Computed(n) => Some((
                spl_field(self.lets.get(n).map(String::as_str).unwrap_or(n)),
                None,
            )),
            FieldRef::Aggregate(n) => Some((spl_field(self.agg_name(n)), None)),
        }
    }

    fn enum_values(
        &mut self,
        col: Option<&Col>,
        p: &Predicate,
        sym: &str,
    ) -> Option<(Vec<String>, Case)> {
        let col = col?;
        let vals = col.map.values.as_ref().and_then(|m| m.get(sym)).cloned();
        match vals.filter(|v| !v.is_empty()) {
            Some(v) => Some((
                v,
                col.map
                    .values_case
                    .map(|c| c.case())
                    .unwrap_or(Case::Sensitive),
            )),
            None => {
                self.errs.push(self.ctx.refuse(
                    &format!("`{} == {sym}`", p.field.name()),
                    &format!(
                        "field {} of {} has no value meaning `{sym}`",
                        col.map.column,
                        self.ctx.table()
                    ),
                    &p.span,
                ));
                None
            }
        }
    }

    /// A predicate as a `where`/`eval` expression (case-sensitive, three-valued).
    fn where_pred(&mut self, p: &Predicate, neg: bool) -> String {
        let Some((c, col)) = self.pred_field(p) else {
            return String::new();
        };
        let mut can_be_empty_true = false;
        let body = match &p.op {
            Op::Exists => return format!("(isnotnull({c}) AND {c}!=\"\")"),
            Op::Eq { value: v, case } => match v {
                Value::Str(s) => {
                    can_be_empty_true = s.is_empty();
                    in_where(&c, std::slice::from_ref(s), *case)
                }
                Value::Ip(a) => cidr_where(&c, &[host_block(*a)]),
                Value::Enum(sym) => match self.enum_values(col.as_ref(), p, sym) {
                    Some((vals, case)) => in_where(&c, &vals, case),
                    None => return String::new(),
                },
                v => format!("{c}=={}", value(v)),
            },
            Op::In { values, case, .. } => match values.first() {
                None => return "false()".into(),
                Some(Value::Ip(_)) => {
                    let blocks: Vec<Cidr> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Ip(a) => Some(host_block(*a)),
                            _ => None,
                        })
                        .collect();
                    cidr_where(&c, &blocks)
                }
                Some(Value::Enum(_)) => {
                    let mut all = Vec::new();
                    let mut cs = Case::Sensitive;
                    for v in values {
                        if let Value::Enum(sym) = v {
                            if let Some((vals, case)) = self.enum_values(col.as_ref(), p, sym) {
                                all.extend(vals);
                                cs = case;
                            }
                        }
                    }
                    in_where(&c, &all, cs)
                }
                Some(Value::Str(_)) => {
                    let strs: Vec<String> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect();
                    can_be_empty_true = strs.iter().any(String::is_empty);
                    in_where(&c, &strs, *case)
                }
                Some(_) => {
                    let items: Vec<String> = values.iter().map(value).collect();
                    format!("in({c}, {})", items.join(", "))
                }
            },
            Op::Str {
                kind,
                needles,
                case,
            } => {
                can_be_empty_true = needles.iter().any(String::is_empty);
                let parts: Vec<String> = needles
                    .iter()
                    .map(|n| {
                        // Insensitive: ASCII-only folding spelled out, never `(?i)` (PCRE's
                        // folding of non-ASCII letters depends on how Splunk built it).
                        let lit = match case {
                            Case::Sensitive => regex_literal(n),
                            Case::Insensitive => ascii_ci_regex(n),
                        };
                        let re = match kind {
                            StrOp::StartsWith => format!("\\A{lit}"),
                            StrOp::EndsWith => format!("{lit}\\z"),
                            StrOp::Contains => lit,
                        };
                        format!("match({c}, {})", spl_string(&re))
                    })
                    .collect();
                join_or(parts)
            }
            Op::Regex { pattern, case } => {
                can_be_empty_true = true;
                let re = match self.ctx.fold_regex(pattern, *case, &p.span) {
                    Ok(r) => r,
                    Err(d) => {
                        self.errs.push(d);
                        return String::new();
                    }
                };
                format!("match({c}, {})", spl_string(&re))
            }
            Op::InCidr { blocks, .. } => cidr_where(&c, blocks),
            Op::IpClass { class } => match class {
                IpClass::Public => {
                    let non: Vec<Cidr> = IpClass::non_public_blocks();
                    format!(
                        "((cidrmatch(\"0.0.0.0/0\", {c}) OR cidrmatch(\"::/0\", {c})) AND NOT {})",
                        cidr_where(&c, &non)
                    )
                }
                o => cidr_where(&c, &o.blocks()),
            },
            Op::Cmp { op, value: v } => format!("{c}{}{}", cmp_op(*op), value(v)),
        };
        if neg || can_be_empty_true {
            format!("(isnotnull({c}) AND {c}!=\"\" AND {body})")
        } else {
            body
        }
    }

    /// Search terms implied by the filter, for the base search, where Splunk's index narrows the
    /// events before any `where` runs (Search Reference, "search": field-value pairs; Search
    /// Manual, "Event segmentation and searching"). A term is emitted only where the search
    /// reading is provably wider than the exact one, so that the base search drops no event the
    /// `where` keeps, and the `where` stays whole and decides (case, nulls, non-ASCII):
    /// - a top-level conjunct (the filter requires it), positive, on a column read as it is (not
    ///   derived, swapped, joined or computed);
    /// - `==` / `in` on strings or enum symbols, of either case (search compares field values
    ///   case-insensitively, a superset of both readings);
    /// - every value one indexed term: ASCII letters and digits only, so no wildcard (`*`), no
    ///   major or minor breaker (a value with one is searched as a phrase of its segments), and
    ///   not a number alone (`=` on a number: kept to `where`'s numeric reading).
    fn base_terms(&mut self, filter: &Expr) -> Vec<String> {
        let conjuncts: Vec<&Expr> = match filter {
            Expr::And(v) => v.iter().collect(),
            o => vec![o],
        };
        let mut out = Vec::new();
        for e in conjuncts {
            let Expr::Pred(p) = e else { continue };
            let FieldRef::Field(n) = &p.field else {
                continue;
            };
            let Ok(col) = self.ctx.field(n, &p.span) else {
                continue;
            };
            let column = &col.map.column;
            if !col.map.join.is_empty()
                || col.map.derive.is_some()
                || self.swapped.contains_key(column)
                || spl_field(column) != *column
            {
                continue;
            }
            let mut vals = Vec::new();
            let mut sources: Vec<&Value> = Vec::new();
            match &p.op {
                Op::Eq { value, .. } => sources.push(value),
                Op::In { values, .. } => sources.extend(values.iter()),
                _ => continue,
            }
            let mut ok = !sources.is_empty();
            for v in sources {
                match v {
                    Value::Str(s) => vals.push(s.clone()),
                    Value::Enum(sym) => match col.map.values.as_ref().and_then(|m| m.get(sym)) {
                        Some(list) if !list.is_empty() => vals.extend(list.iter().cloned()),
                        _ => ok = false,
                    },
                    _ => ok = false,
                }
            }
            ok &= vals.iter().all(|v| is_one_term(v));
            if !ok {
                continue;
            }
            vals.dedup();
            let items: Vec<String> = vals.iter().map(|v| spl_string(v)).collect();
            out.push(if items.len() == 1 {
                format!("{column}={}", items[0])
            } else {
                format!("{column} IN ({})", items.join(", "))
            });
        }
        out
    }

    /// A predicate as a search-syntax term (tstats where): case-insensitive, `*` wildcards,
    /// `NOT` true on a missing field.
    fn search_pred(&mut self, p: &Predicate) -> String {
        let Some((c, col)) = self.pred_field(p) else {
            return String::new();
        };
        let construct = |p: &Predicate| format!("`{}` {}", p.field.name(), op_name(&p.op));
        let sval = |s: &mut Self, v: &str, p: &Predicate| -> String {
            if v.contains('*') {
                s.errs.push(s.ctx.refuse(
                    &construct(p),
                    "the value contains `*`, which search syntax cannot escape",
                    &p.span,
                ));
            }
            spl_string(v)
        };
        let insensitive_only = |s: &mut Self, case: Case, p: &Predicate| {
            if case == Case::Sensitive {
                s.errs.push(s.ctx.refuse(
                    &construct(p),
                    "tstats where clauses compare case-insensitively",
                    &p.span,
                ));
            }
        };
        match &p.op {
            Op::Exists => format!("{c}=*"),
            Op::Eq { value: v, case } => match v {
                Value::Str(s) => {
                    insensitive_only(self, *case, p);
                    let lit = sval(self, s, p);
                    format!("{c}={lit}")
                }
                Value::Ip(a) => cidr_search(&c, &[host_block(*a)]),
                Value::Enum(sym) => match self.enum_values(col.as_ref(), p, sym) {
                    Some((vals, _)) => {
                        let items: Vec<String> = vals.iter().map(|v| sval(self, v, p)).collect();
                        join_or(items.into_iter().map(|i| format!("{c}={i}")).collect())
                    }
                    None => String::new(),
                },
                v => format!("{c}={}", value(v)),
            },
            Op::In { values, case, .. } => {
                let mut items = Vec::new();
                for v in values {
                    match v {
                        Value::Str(s) => {
                            insensitive_only(self, *case, p);
                            items.push(sval(self, s, p));
                        }
                        Value::Ip(a) => items.push(spl_string(&host_block(*a).to_string())),
                        Value::Enum(sym) => {
                            if let Some((vals, _)) = self.enum_values(col.as_ref(), p, sym) {
                                for x in vals {
                                    items.push(sval(self, &x, p));
                                }
                            }
                        }
                        o => items.push(value(o)),
                    }
                }
                if items.is_empty() {
                    self.errs.push(self.ctx.refuse(
                        &construct(p),
                        "an empty list is always false",
                        &p.span,
                    ));
                }
                format!("{c} IN ({})", items.join(", "))
            }
            Op::Str {
                kind,
                needles,
                case,
            } => {
                insensitive_only(self, *case, p);
                let parts: Vec<String> = needles
                    .iter()
                    .map(|n| {
                        let lit = sval(self, n, p);
                        let inner = &lit[1..lit.len() - 1];
                        match kind {
                            StrOp::StartsWith => format!("{c}=\"{inner}*\""),
                            StrOp::EndsWith => format!("{c}=\"*{inner}\""),
                            StrOp::Contains => format!("{c}=\"*{inner}*\""),
                        }
                    })
                    .collect();
                join_or(parts)
            }
            Op::Regex { .. } => {
                self.errs.push(self.ctx.refuse(
                    &construct(p),
                    "tstats where clauses have no regular expressions",
                    &p.span,
                ));
                String::new()
            }
            Op::InCidr { blocks, .. } => cidr_search(&c, blocks),
            Op::IpClass { class } => match class {
                IpClass::Public => format!(
                    "(({c}=\"0.0.0.0/0\" OR {c}=\"::/0\") AND NOT {})",
                    cidr_search(&c, &IpClass::non_public_blocks())
                ),
                o => cidr_search(&c, &o.blocks()),
            },
            Op::Cmp { op, value: v } => format!("{c}{}{}", cmp_op(*op), value(v)),
        }
    }
}

/// A value that search reads as one indexed term and nothing else: ASCII letters and digits,
/// at least one letter (a number alone would be compared as a number, see `base_terms`).
fn is_one_term(v: &str) -> bool {
    !v.is_empty()
        && v.chars().all(|c| c.is_ascii_alphanumeric())
        && v.chars().any(|c| c.is_ascii_alphabetic())
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Eq { .. } => "==",
        Op::In { .. } => "in",
        Op::Str { kind, .. } => match kind {
            StrOp::StartsWith => "startswith",
            StrOp::EndsWith => "endswith",
            StrOp::Contains => "contains",
        },
        Op::Regex { .. } => "matches (regex)",
        Op::InCidr { .. } => "in (CIDR)",
        Op::IpClass { .. } => "is (IP class)",
        Op::Cmp { .. } => "comparison",
        Op::Exists => "exists",
    }
}

/// `c` equals one of `vals`, with the IR's case rule. Insensitive is ASCII-only folding:
/// all-ASCII values as `lower(c)` against the lowered values, on values without a non-ASCII
/// character (Splunk documents `lower()` without saying what it does to non-ASCII letters; no
/// value with one can equal an all-ASCII literal anyway); a value with a non-ASCII character as an
/// anchored regex with its ASCII letters' cases spelled out.
fn in_where(c: &str, vals: &[String], case: Case) -> String {
    let eq = |f: &str, items: Vec<String>| {
        if items.len() == 1 {
            format!("{f}=={}", items.join(""))
        } else {
            format!("in({f}, {})", items.join(", "))
        }
    };
    if case == Case::Sensitive {
        return eq(c, vals.iter().map(|v| spl_string(v)).collect());
    }
    let (ascii, other): (Vec<&String>, Vec<&String>) = vals.iter().partition(|v| v.is_ascii());
    let mut parts = Vec::new();
    if !ascii.is_empty() {
        let items = ascii
            .iter()
            .map(|v| spl_string(&crate::ir::semantics::simple_lower(v)))
            .collect();
        parts.push(format!(
            "({} AND NOT match({c}, {}))",
            eq(&format!("lower({c})"), items),
            spl_string(NON_ASCII_REGEX)
        ));
    }
    for v in other {
        let re = format!("\\A{}\\z", ascii_ci_regex(v));
        parts.push(format!("match({c}, {})", spl_string(&re)));
    }
    join_or(parts)
}

fn cidr_where(c: &str, blocks: &[Cidr]) -> String {
    join_or(
        blocks
            .iter()
            .map(|b| format!("cidrmatch({}, {c})", spl_string(&b.to_string())))
            .collect(),
    )
}

fn cidr_search(c: &str, blocks: &[Cidr]) -> String {
    join_or(
        blocks
            .iter()
            .map(|b| format!("{c}={}", spl_string(&b.to_string())))
            .collect(),
    )
}
