//! Aggregation: `window`, `group by`, `aggregate` and `having`.

use super::expr::Scope;
use super::{values, Checker};
use crate::diag::{nearest, Code, Diagnostic};
use crate::ir::{catalogue, AggFunc, Aggregate, Aggregation, FieldRef, FieldType, Let, Source};
use crate::syntax::ast::{self, Clause, Literal, Spanned};
use std::collections::BTreeMap;

impl Checker<'_> {
    /// `Some(None)`: no aggregation; `Some(Some(a))`: checked; `None`: an error was reported.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn aggregation(
        &mut self,
        r: &ast::RuleDecl,
        source: Source,
        lets: &[Let],
        window: Option<&Spanned<Literal>>,
        group: Option<&Spanned<Clause>>,
        aggs: Option<&Spanned<Clause>>,
        having: Option<&Spanned<Clause>>,
    ) -> Option<Option<Aggregation>> {
        let Some(w) = window else {
            for (c, what) in [(group, "group by"), (aggs, "aggregate"), (having, "having")] {
                if let Some(c) = c {
                    self.diags.push(
                        Diagnostic::new(Code::E0250, format!("`{what}` needs a `window`"))
                            .at(c.span.clone())
                            .found(format!("`{what}` without `window`"))
                            .expected("a `window` clause, e.g. `window 1h`")
                            .hint("aggregation counts events per tumbling window; add `window 1h` (or another duration)"),
                    );
                    return None;
                }
            }
            return Some(None);
        };
        let window_secs = match &w.node {
            Literal::Duration(s) if *s > 0 && *s <= 366 * 86_400 => *s,
            Literal::Duration(_) => {
                self.diags.push(
                    Diagnostic::new(Code::E0255, "window out of range")
                        .at(w.span.clone())
                        .found(w.node.describe())
                        .expected("a duration from 1s to 366d"),
                );
                return None;
            }
            other => {
                let mut d = Diagnostic::new(Code::E0255, "`window` takes a duration")
                    .at(w.span.clone())
                    .found(other.describe())
                    .expected("a duration like 30s, 5m, 1h, 1d");
                if let Literal::Int(i) = other {
                    d = d.hint(format!("add a unit: {i}m or {i}h"));
                }
                self.diags.push(d);
                return None;
            }
        };
        let mut ok = true;
        let mut group_by = Vec::new();
        let mut key_types: BTreeMap<String, FieldType> = BTreeMap::new();
        if let Some(Spanned {
            node: Clause::GroupBy(keys),
            ..
        }) = group
        {
            for k in keys {
                let resolved = if let Some(l) = lets.iter().find(|l| l.name == k.node) {
                    Some((FieldRef::Computed(k.node.clone()), l.ty.clone()))
                } else if let Some(def) = catalogue::field(source, &k.node) {
                    if !self.scalar_field(source, k) {
                        ok = false;
                        continue;
                    }
                    Some((FieldRef::Field(k.node.clone()), def.ty))
                } else if self.broken_names.contains(&k.node) {
                    ok = false;
                    None
                } else {
                    let mut names: Vec<&str> =
                        catalogue::fields(source).iter().map(|d| d.name).collect();
                    names.extend(lets.iter().map(|l| l.name.as_str()));
                    let mut d = Diagnostic::new(
                        Code::E0254,
                        format!("cannot group by `{}`: no such field", k.node),
                    )
                    .at(k.span.clone())
                    .found(format!("`{}`", k.node))
                    .expected(format!("a field of {} or a computed field", source.name()));
                    if let Some(n) = nearest(&k.node, names.iter().copied()) {
                        d = d.hint(format!("did you mean `{n}`?"));
                    } else {
                        d = d.hint(format!("the keys you can group by: {}", names.join(", ")));
                    }
                    self.diags.push(d);
                    ok = false;
                    None
                };
                if let Some((fr, ty)) = resolved {
                    if key_types.contains_key(&k.node) {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0254,
                                format!("`{}` is grouped by twice", k.node),
                            )
                            .at(k.span.clone())
                            .found(format!("`{}` again", k.node))
                            .expected("each group key once")
                            .hint(format!("remove the second `{}`", k.node)),
                        );
                        ok = false;
                    } else {
                        key_types.insert(k.node.clone(), ty);
                        group_by.push(fr);
                    }
                }
            }
        }
        let mut aggregates = Vec::new();
        let mut agg_types: BTreeMap<String, FieldType> = BTreeMap::new();
        if let Some(Spanned {
            node: Clause::Aggregate(defs),
            ..
        }) = aggs
        {
            for a in defs {
                if agg_types.contains_key(&a.name.node) || key_types.contains_key(&a.name.node) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0253,
                            format!("`{}` is already defined", a.name.node),
                        )
                        .at(a.name.span.clone())
                        .found(format!("a second `{}`", a.name.node))
                        .expected("a name not used by another aggregate or group key")
                        .hint("rename this aggregate"),
                    );
                    ok = false;
                    continue;
                }
                match self.aggregate(source, lets, a) {
                    Some(agg) => {
                        agg_types.insert(agg.name.clone(), agg.ty.clone());
                        aggregates.push(agg);
                    }
                    None => {
                        self.broken_names.insert(a.name.node.clone());
                        ok = false;
                    }
                }
            }
        }
        let having_ir = match having {
            Some(Spanned {
                node: Clause::Having(e),
                ..
            }) => {
                let scope = Scope::Group {
                    aggregates: &agg_types,
                };
                match self.expr(e, &scope) {
                    Some(x) => Some(x),
                    None => {
                        ok = false;
                        None
                    }
                }
            }
            _ => None,
        };
        if !ok {
            return None;
        }
        let span = [group, aggs, having]
            .into_iter()
            .flatten()
            .map(|c| c.span.clone())
            .chain(std::iter::once(w.span.clone()))
            .min()
            .unwrap_or_else(|| r.span.clone());
        Some(Some(Aggregation {
            window: window_secs,
            group_by,
            aggregates,
            having: having_ir,
            span,
        }))
    }

    fn aggregate(&mut self, source: Source, lets: &[Let], a: &ast::AggDef) -> Option<Aggregate> {
        const FUNCS: [&str; 5] = ["count", "distinct", "sum", "min", "max"];
        let func = a.func.node.as_str();
        if !FUNCS.contains(&func) {
            let mut d =
                Diagnostic::new(Code::E0252, format!("unknown aggregate function `{func}`"))
                    .at(a.func.span.clone())
                    .found(format!("`{func}`"))
                    .expected("count(), distinct(field), sum(field), min(field) or max(field)");
            if [
                "dcount",
                "count_distinct",
                "distinct_count",
                "dc",
                "nunique",
            ]
            .contains(&func)
            {
                d = d.hint("a distinct count is `distinct(field)` (exact, never approximate)");
            } else if let Some(n) = nearest(func, FUNCS.iter().copied()) {
                d = d.hint(format!("did you mean `{n}`?"));
            }
            self.diags.push(d);
            return None;
        }
        if func == "count" {
            if let Some(arg) = &a.arg {
                self.diags.push(
                    Diagnostic::new(Code::E0252, "count() takes no field")
                        .at(arg.span.clone())
                        .found(format!("count({})", arg.node))
                        .expected("`count()`")
                        .hint(format!(
                            "to count distinct values, write `distinct({})`",
                            arg.node
                        )),
                );
                return None;
            }
            return Some(Aggregate {
                name: a.name.node.clone(),
                func: AggFunc::Count,
                ty: FieldType::Int,
                span: a.span.clone(),
            });
        }
        let Some(arg) = &a.arg else {
            self.diags.push(
                Diagnostic::new(Code::E0252, format!("{func}() needs a field"))
                    .at(a.span.clone())
                    .found(format!("{func}()"))
                    .expected(format!("`{func}(field)`")),
            );
            return None;
        };
        let (fr, ty) = if let Some(l) = lets.iter().find(|l| l.name == arg.node) {
            (FieldRef::Computed(arg.node.clone()), l.ty.clone())
        } else if self.broken_names.contains(&arg.node) {
            return None;
        } else {
            let scope = Scope::Event { source, lets: &[] };
            self.resolve_one(arg, &scope)?
        };
        let numeric = matches!(ty, FieldType::Bytes | FieldType::Int | FieldType::Duration);
        let ordered = numeric || matches!(ty, FieldType::Port | FieldType::Timestamp);
        let (func_ir, out_ty) = match func {
            "distinct" => (AggFunc::DistinctCount(fr), FieldType::Int),
            "sum" if numeric => (AggFunc::Sum(fr), ty.clone()),
            "min" if ordered => (AggFunc::Min(fr), ty.clone()),
            "max" if ordered => (AggFunc::Max(fr), ty.clone()),
            _ => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0252,
                        format!(
                            "{func}() cannot be applied to `{}`, {} field",
                            arg.node,
                            values::a_type(&ty)
                        ),
                    )
                    .at(arg.span.clone())
                    .found(format!("{} field", values::a_type(&ty)))
                    .expected(if func == "sum" {
                        "a byte count, integer or duration field"
                    } else {
                        "a number, port, byte count, duration or timestamp field"
                    })
                    .hint("count distinct values of any field with distinct(field)"),
                );
                return None;
            }
        };
        Some(Aggregate {
            name: a.name.node.clone(),
            func: func_ir,
            ty: out_ty,
            span: a.span.clone(),
        })
    }
}
