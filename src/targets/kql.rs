//! KQL (Defender XDR advanced hunting, Sentinel): expressions from the IR, layout from the
//! profile's template.
//!
//! Meaning kept per construct (see docs/TARGETS.md):
//! - case: `==`/`=~`, `in`/`in~`, `startswith_cs`/`startswith`, ...; `matches regex` is
//!   case-sensitive RE2, so a case-insensitive regex gets a `(?i)` prefix. `has` is never used
//!   (it matches terms, not substrings).
//! - missing: a predicate that could be null (non-text column) or true on the empty string is
//!   guarded as `(isnotempty(C) and P)`, so `not(...)` stays true on a missing value.
//! - IPs: per-block `ipv4_is_in_range` / `ipv6_is_in_range`, each guarded by the address family
//!   (`ipv6_*` would otherwise accept IPv4 addresses as mapped v6).
//! - windows: `bin_at(T, W, datetime(1970-01-01))`, epoch-aligned for every W.
//! - distinct counts: `count_distinctif` (exact), never `dcount` (approximate).

use super::escape::{kql_ident, kql_string};
use super::{duration_text, fresh_name, name_lets, one_line, simplify, Col, Ctx, Derive};
use crate::diag::Diagnostic;
use crate::ir::{AggFunc, Case, Cidr, CmpOp, Expr, FieldRef, IpClass, Op, Predicate, StrOp, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

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

pub(super) fn emit(ctx: &Ctx) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
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
    if let Some(a) = &ctx.src.applies {
        if let Err(d) = ctx.column(&a.column, &rule.span) {
            return Err(vec![d]);
        }
        let items: Vec<String> = a.values.iter().map(|v| kql_string(v)).collect();
        stages.push(format!(
            "where {} in ({})",
            kql_ident(&a.column),
            items.join(", ")
        ));
    }
    // Fields whose value joins several columns are computed first, under a fresh name.
    let mut joins = Vec::new();
    for (name, span) in super::fields_used(rule, true) {
        let Ok(col) = ctx.field(&name, &span) else {
            continue;
        };
        if col.map.join.is_empty() || k.joined.contains_key(&name) {
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
        let time = k.column_of("time", &a.span);
        let mut keys = Vec::new();
        let mut key_names: Vec<String> = Vec::new();
        for g in &a.group_by {
            keys.push(k.key(g, &a.span));
            // The column's own name (not its bracketed form), for `fresh_name` below.
            key_names.push(match g {
                FieldRef::Field(n) => k.joined.get(n).cloned().unwrap_or_else(|| {
                    ctx.src
                        .fields
                        .get(n)
                        .map(|m| m.column.clone())
                        .unwrap_or_default()
                }),
                FieldRef::Computed(n) | FieldRef::Aggregate(n) => {
                    k.lets.get(n).cloned().unwrap_or_else(|| n.clone())
                }
            });
        }
        let mut aggs = Vec::new();
        for ag in &a.aggregates {
            let name = fresh_name(&ag.name, &BTreeMap::new(), &key_names);
            key_names.push(name.clone());
            k.aggs.insert(ag.name.clone(), name.clone());
            let body = match &ag.func {
                AggFunc::Count => "count()".to_string(),
                AggFunc::DistinctCount(f) => {
                    let c = k.key(f, &ag.span);
                    format!("count_distinctif({c}, isnotempty({c}))")
                }
                AggFunc::Sum(f) => {
                    let c = k.key(f, &ag.span);
                    // sum() of no values is 0; the IR says the aggregate is then missing.
                    format!("iff(countif(isnotnull({c})) == 0, long(null), sum({c}))")
                }
                AggFunc::Min(f) => format!("min({})", k.key(f, &ag.span)),
                AggFunc::Max(f) => format!("max({})", k.key(f, &ag.span)),
            };
            aggs.push(format!("{} = {body}", kql_ident(&name)));
        }
        let window = fresh_name("window_start", &BTreeMap::new(), &key_names);
        let mut by = vec![format!(
            "{window} = bin_at({time}, {}, datetime(1970-01-01))",
            duration_text(a.window)
        )];
        by.extend(keys);
        stages.push(format!(
            "summarize {} by {}",
            aggs.join(", "),
            by.join(", ")
        ));
        if let Some(h) = &a.having {
            let h = simplify(h);
            stages.push(format!("where {}", k.expr(&h, false)));
        }
    }
    if !k.errs.is_empty() {
        return Err(k.errs);
    }
    let from = ctx
        .src
        .from
        .clone()
        .unwrap_or_else(|| ctx.src.table.clone());
    let text = ctx.render(minijinja::context! {
        title => one_line(&rule.meta.title),
        // (the checker allows only identifiers and UUIDs here; one_line keeps an IR built
        // another way from ending the comment)
        rule_name => one_line(&rule.name),
        rule_id => one_line(&rule.id),
        target => ctx.profile.name.clone(),
        from => from,
        stages => stages,
    })?;
    Ok((text, Vec::new()))
}

fn uses_computed(e: &Expr) -> bool {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().any(uses_computed),
        Expr::Not(x) => uses_computed(x),
        Expr::Pred(p) => matches!(p.field, FieldRef::Computed(_)),
    }
}

impl K<'_, '_> {
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
        if c.map.derive == Some(Derive::Basename) {
            self.errs.push(self.ctx.refuse(
                "a field derived from a path",
                "KQL profiles map file names to a column of their own",
                span,
            ));
        }
        if let Some(n) = self.joined.get(&c.field) {
            return kql_ident(n);
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

    fn wrap(&mut self, e: &Expr, neg: bool) -> String {
        let s = self.expr(e, neg);
        match e {
            Expr::And(v) | Expr::Or(v) if v.len() > 1 => format!("({s})"),
            _ => s,
        }
    }

    fn expr(&mut self, e: &Expr, neg: bool) -> String {
        match e {
            Expr::And(v) if v.is_empty() => "true".into(),
            Expr::Or(v) if v.is_empty() => "false".into(),
            Expr::And(v) => {
                let parts: Vec<String> = v.iter().map(|x| self.wrap(x, neg)).collect();
                parts.join(" and ")
            }
            Expr::Or(v) => {
                let parts: Vec<String> = v.iter().map(|x| self.wrap(x, neg)).collect();
                parts.join(" or ")
            }
            Expr::Not(x) => format!("not({})", self.expr(x, !neg)),
            Expr::Pred(p) => self.pred(p, neg),
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
                    format!("{c} {} {}", eq_op(*case), kql_string(s))
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
                let items: Vec<String> = values.iter().map(|v| self.value(v)).collect();
                let op = match (case, values.first()) {
                    (Case::Insensitive, Some(Value::Str(_))) => "in~",
                    _ => "in",
                };
                format!("{c} {op} ({})", items.join(", "))
            }
            Op::Str {
                kind,
                needles,
                case,
            } => {
                can_be_empty_true = needles.iter().any(String::is_empty);
                let op = match (kind, case) {
                    (StrOp::StartsWith, Case::Sensitive) => "startswith_cs",
                    (StrOp::StartsWith, Case::Insensitive) => "startswith",
                    (StrOp::EndsWith, Case::Sensitive) => "endswith_cs",
                    (StrOp::EndsWith, Case::Insensitive) => "endswith",
                    (StrOp::Contains, Case::Sensitive) => "contains_cs",
                    (StrOp::Contains, Case::Insensitive) => "contains",
                };
                let parts: Vec<String> = needles
                    .iter()
                    .map(|n| format!("{c} {op} {}", kql_string(n)))
                    .collect();
                if parts.len() == 1 {
                    parts.join("")
                } else {
                    format!("({})", parts.join(" or "))
                }
            }
            Op::Regex { pattern, case } => {
                can_be_empty_true = true;
                let pat = match case {
                    Case::Sensitive => pattern.clone(),
                    Case::Insensitive => format!("(?i){pattern}"),
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
        let items: Vec<String> = vals.iter().map(|v| kql_string(v)).collect();
        Some(if items.len() == 1 {
            format!("{c} {} {}", eq_op(case), items.join(""))
        } else {
            let op = if case == Case::Sensitive { "in" } else { "in~" };
            format!("{c} {op} ({})", items.join(", "))
        })
    }
}

fn eq_op(case: Case) -> &'static str {
    match case {
        Case::Sensitive => "==",
        Case::Insensitive => "=~",
    }
}

fn cmp_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

fn host_block(a: IpAddr) -> Cidr {
    Cidr {
        addr: a,
        prefix: if a.is_ipv4() { 32 } else { 128 },
    }
}

/// The `ipv4_is_in_range` / `ipv6_is_in_range` tests of `c` against each block, by family.
fn range_tests(c: &str, blocks: &[Cidr]) -> (Vec<String>, Vec<String>) {
    let test = |f: &str, b: &Cidr| format!("{f}({c}, {})", kql_string(&b.to_string()));
    let v4 = blocks.iter().filter(|b| b.addr.is_ipv4());
    let v6 = blocks.iter().filter(|b| b.addr.is_ipv6());
    (
        v4.map(|b| test("ipv4_is_in_range", b)).collect(),
        v6.map(|b| test("ipv6_is_in_range", b)).collect(),
    )
}

/// Membership in any of `blocks`, each family tested only against addresses of that family.
fn ip_blocks(c: &str, blocks: &[Cidr]) -> String {
    let (v4, v6) = range_tests(c, blocks);
    let mut parts = Vec::new();
    if !v4.is_empty() {
        parts.push(format!("({c} !contains \":\" and ({}))", v4.join(" or ")));
    }
    if !v6.is_empty() {
        parts.push(format!("({c} contains \":\" and ({}))", v6.join(" or ")));
    }
    match parts.len() {
        0 => "false".into(),
        1 => parts.join(""),
        _ => format!("({})", parts.join(" or ")),
    }
}

/// A public address: a valid address of either family outside every non-public block.
fn public(c: &str) -> String {
    let (v4, v6) = range_tests(c, &IpClass::non_public_blocks());
    format!(
        "(({c} !contains \":\" and isnotnull(parse_ipv4({c})) and not({})) or ({c} contains \":\" and isnotempty(parse_ipv6({c})) and not({})))",
        v4.join(" or "),
        v6.join(" or ")
    )
}
