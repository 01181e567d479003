//! Expressions: AST predicates -> typed IR predicates, in one of two scopes: an event (`where`,
//! `let` arms: catalogue fields) or a group (`having`: aggregates).

use super::values::{a_type, cidr_of, convert, list_elem_type, type_name, type_words};
use super::Checker;
use crate::diag::{nearest, Code, Diagnostic, Span};
use crate::ir::{
    catalogue, Case, CmpOp, Expr, FieldRef, FieldType, IpClass, ListType, Op, Predicate, Source,
    StrOp, Value,
};
use crate::syntax::ast::{self, EqOp, ListRef, Literal, PredOp, Spanned, StrKind};
use std::collections::{BTreeMap, HashSet};

/// What names an expression may refer to.
pub enum Scope<'a> {
    /// Catalogue fields of the source; `lets` are named so a use gets a precise error.
    Event { source: Source, lets: &'a [String] },
    /// Aggregates by name, with their types.
    Group {
        aggregates: &'a BTreeMap<String, FieldType>,
    },
}

impl Checker<'_> {
    pub(super) fn expr(&mut self, e: &ast::Expr, scope: &Scope<'_>) -> Option<Expr> {
        match e {
            ast::Expr::And(xs, _) => {
                let ys: Vec<Option<Expr>> = xs.iter().map(|x| self.expr(x, scope)).collect();
                Some(Expr::And(ys.into_iter().collect::<Option<Vec<_>>>()?))
            }
            ast::Expr::Or(xs, _) => {
                let ys: Vec<Option<Expr>> = xs.iter().map(|x| self.expr(x, scope)).collect();
                Some(Expr::Or(ys.into_iter().collect::<Option<Vec<_>>>()?))
            }
            ast::Expr::Not(x, _) => Some(Expr::Not(Box::new(self.expr(x, scope)?))),
            ast::Expr::Pred(p) => match self.field_against_word(p, scope) {
                Some(e) => e,
                None => self.pred(p, scope),
            },
            ast::Expr::Compare(c) => self.compare(c, scope),
        }
    }

    /// [`Self::resolve`] where one value is needed (a comparison of two values, a group key, an
    /// aggregate's argument, a correlation key, an entity): a list field is refused (E0315).
    pub(super) fn resolve_one(
        &mut self,
        f: &Spanned<String>,
        scope: &Scope<'_>,
    ) -> Option<(FieldRef, FieldType)> {
        let r = self.resolve(f, scope)?;
        if let Scope::Event { source, .. } = scope {
            if !self.scalar_field(*source, f) {
                return None;
            }
        }
        Some(r)
    }

    /// Reports (E0315) and returns false when `f` is a list field of `source`.
    pub(super) fn scalar_field(&mut self, source: Source, f: &Spanned<String>) -> bool {
        if !catalogue::field(source, &f.node).is_some_and(|d| d.list) {
            return true;
        }
        self.diags.push(
            Diagnostic::new(
                Code::E0315,
                format!("`{}` is a list, used where one value is needed", f.node),
            )
            .at(f.span.clone())
            .found(format!("list field `{}` of {}", f.node, source.name()))
            .expected("a field holding one value")
            .hint(
                "a list field is only tested element by element in `where` \
                 (`attachment.types in [...]` holds when any element is in the list); \
                 use its count field (e.g. `attachment.count`) for a number",
            ),
        );
        false
    }

    /// Resolves a field name in a scope, or reports why not.
    pub(super) fn resolve(
        &mut self,
        f: &Spanned<String>,
        scope: &Scope<'_>,
    ) -> Option<(FieldRef, FieldType)> {
        match scope {
            Scope::Event { source, lets } => {
                if let Some(def) = catalogue::field(*source, &f.node) {
                    return Some((FieldRef::Field(f.node.clone()), def.ty));
                }
                if lets.contains(&f.node) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0242,
                            format!("computed field `{}` cannot be used in a condition", f.node),
                        )
                        .at(f.span.clone())
                        .found(format!("computed field `{}`", f.node))
                        .expected("a field of the event source")
                        .hint("computed fields are for `group by` and test expectations; test the fields it is computed from instead"),
                    );
                    return None;
                }
                let names: Vec<&str> = catalogue::fields(*source).iter().map(|d| d.name).collect();
                let mut d = Diagnostic::new(
                    Code::E0220,
                    format!("unknown field `{}` for source {}", f.node, source.name()),
                )
                .at(f.span.clone())
                .found(format!("`{}`", f.node))
                .expected(format!(
                    "a field of {} (see docs/LANGUAGE.md)",
                    source.name()
                ));
                if let Some(n) = nearest(&f.node, names.iter().copied()) {
                    d = d.hint(format!("did you mean `{n}`?"));
                } else {
                    d = d.hint(format!("fields of {}: {}", source.name(), names.join(", ")));
                }
                self.diags.push(d);
                None
            }
            Scope::Group { aggregates } => {
                if let Some(ty) = aggregates.get(&f.node) {
                    return Some((FieldRef::Aggregate(f.node.clone()), ty.clone()));
                }
                if self.broken_names.contains(&f.node) {
                    return None;
                }
                let mut d = Diagnostic::new(
                    Code::E0251,
                    format!("`having` refers to `{}`, which is not an aggregate", f.node),
                )
                .at(f.span.clone())
                .found(format!("`{}`", f.node))
                .expected(if aggregates.is_empty() {
                    "an aggregate, but the rule declares none".to_string()
                } else {
                    format!(
                        "one of the aggregates: {}",
                        aggregates.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                });
                if let Some(n) = nearest(&f.node, aggregates.keys().map(String::as_str)) {
                    d = d.hint(format!("did you mean `{n}`?"));
                } else {
                    d = d.hint(
                        "`having` tests aggregates; conditions on event fields go in `where`",
                    );
                }
                self.diags.push(d);
                None
            }
        }
    }

    fn pred(&mut self, p: &ast::Pred, scope: &Scope<'_>) -> Option<Expr> {
        let (field, ty) = self.resolve(&p.field, scope)?;
        let each = matches!(scope, Scope::Event { source, .. }
            if catalogue::field(*source, &p.field.node).is_some_and(|d| d.list));
        let what = format!("`{}`", p.field.node);
        let mk = |op: Op| {
            Expr::Pred(Predicate {
                field: field.clone(),
                ty: ty.clone(),
                op,
                each,
                span: p.span.clone(),
            })
        };
        let (op, negate) = match &p.op {
            PredOp::Eq { op, value } => {
                let insensitive = matches!(op, EqOp::EqCi | EqOp::NeCi);
                let case = self.case_for(&ty, insensitive, &p.field, &op_text(p))?;
                let value = self.value(value, &ty, &what)?;
                (Op::Eq { value, case }, matches!(op, EqOp::Ne | EqOp::NeCi))
            }
            PredOp::In {
                insensitive,
                target,
            } => {
                let case = self.case_for(&ty, *insensitive, &p.field, &op_text(p))?;
                (self.membership(&ty, target, case, &what)?, p.negated)
            }
            PredOp::Str {
                kind,
                insensitive,
                target,
            } => {
                if ty != FieldType::String {
                    return self.not_applicable(p, &ty);
                }
                let case = if *insensitive {
                    Case::Insensitive
                } else {
                    Case::Sensitive
                };
                let needles = self.needles(target)?;
                let kind = match kind {
                    StrKind::StartsWith => StrOp::StartsWith,
                    StrKind::EndsWith => StrOp::EndsWith,
                    StrKind::Contains => StrOp::Contains,
                };
                (
                    Op::Str {
                        kind,
                        needles,
                        case,
                    },
                    p.negated,
                )
            }
            PredOp::Matches {
                insensitive,
                pattern,
            } => {
                if ty != FieldType::String {
                    return self.not_applicable(p, &ty);
                }
                if let Err(e) = regex::RegexBuilder::new(&pattern.node)
                    .size_limit(1 << 20)
                    .build()
                {
                    let msg = e.to_string();
                    let last = msg.lines().last().unwrap_or("").trim();
                    let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
                    self.diags.push(
                        Diagnostic::new(Code::E0226, "invalid regular expression")
                            .at(pattern.span.clone())
                            .found(last)
                            .expected("a regular expression in RE2 syntax (no backreferences or look-around)")
                            .hint("raw strings ('...') keep backslashes as written: '\\d+\\.exe'"),
                    );
                    return None;
                }
                if let Err(why) =
                    crate::ir::semantics::ascii_fold_regex(&pattern.node, *insensitive)
                {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0229,
                            "a regular expression whose case rule differs between engines",
                        )
                        .at(pattern.span.clone())
                        .found(why)
                        .expected("a pattern without `(?i)`; `matches~` for case-insensitive matching")
                        .hint("`matches~` folds ASCII letters only, the same way in every target; spell out other letters' cases: '[éÉ]'"),
                    );
                    return None;
                }
                let case = if *insensitive {
                    Case::Insensitive
                } else {
                    Case::Sensitive
                };
                (
                    Op::Regex {
                        pattern: pattern.node.clone(),
                        case,
                    },
                    p.negated,
                )
            }
            PredOp::Is { class } => {
                if ty != FieldType::Ip {
                    return self.not_applicable(p, &ty);
                }
                let classes = [
                    IpClass::Private,
                    IpClass::Public,
                    IpClass::Loopback,
                    IpClass::LinkLocal,
                ];
                let Some(c) = classes.into_iter().find(|c| c.name() == class.node) else {
                    let names: Vec<&str> = classes.iter().map(|c| c.name()).collect();
                    let mut d =
                        Diagnostic::new(Code::E0228, format!("unknown IP class `{}`", class.node))
                            .at(class.span.clone())
                            .found(format!("`{}`", class.node))
                            .expected(format!("one of {}", names.join(", ")));
                    if let Some(n) = nearest(&class.node, names.iter().copied()) {
                        d = d.hint(format!("did you mean `{n}`?"));
                    }
                    self.diags.push(d);
                    return None;
                };
                (Op::IpClass { class: c }, p.negated)
            }
            PredOp::Exists => (Op::Exists, false),
            PredOp::Missing => (Op::Exists, true),
            PredOp::Cmp { op, value } => {
                if matches!(ty, FieldType::String | FieldType::Ip | FieldType::Enum(_)) {
                    return self.not_applicable(p, &ty);
                }
                let value = self.value(value, &ty, &what)?;
                let op = match op {
                    ast::CmpOp::Lt => CmpOp::Lt,
                    ast::CmpOp::Le => CmpOp::Le,
                    ast::CmpOp::Gt => CmpOp::Gt,
                    ast::CmpOp::Ge => CmpOp::Ge,
                };
                (Op::Cmp { op, value }, false)
            }
        };
        if let Scope::Event { source, .. } = scope {
            self.lint_pred(p, *source, &op);
        }
        let e = mk(op);
        Some(if negate { Expr::Not(Box::new(e)) } else { e })
    }

    fn not_applicable(&mut self, p: &ast::Pred, ty: &FieldType) -> Option<Expr> {
        let ops = format!("`{}`", op_text(p));
        let hint = match ty {
            FieldType::Port | FieldType::Int => "compare numbers with ==, in, <, <=, >, >=",
            FieldType::Ip => {
                "test addresses with ==, in [blocks], or `is private|public|loopback|link_local`"
            }
            FieldType::String => {
                "compare text with ==, =~, in, in~, startswith, endswith, contains or matches"
            }
            FieldType::Enum(_) => "compare with == or in",
            _ => "compare with ==, <, <=, >, >=",
        };
        self.diags.push(
            Diagnostic::new(
                Code::E0222,
                format!(
                    "{ops} cannot be applied to `{}`, {} field",
                    p.field.node,
                    a_type(ty)
                ),
            )
            .at(p.span.clone())
            .found(format!("{ops} on {} field", a_type(ty)))
            .expected(format!("an operator for {}", type_words(ty)))
            .hint(hint),
        );
        None
    }

    /// Case-insensitive operators exist for text only.
    fn case_for(
        &mut self,
        ty: &FieldType,
        insensitive: bool,
        field: &Spanned<String>,
        op: &str,
    ) -> Option<Case> {
        if !insensitive {
            return Some(Case::Sensitive);
        }
        if *ty == FieldType::String {
            return Some(Case::Insensitive);
        }
        self.diags.push(
            Diagnostic::new(
                Code::E0222,
                format!(
                    "`{op}` compares text in any case, but `{}` is {} field",
                    field.node,
                    a_type(ty)
                ),
            )
            .at(field.span.clone())
            .found(format!("`{op}` on {} field", a_type(ty)))
            .expected("a string field, or an exact operator")
            .hint(format!(
                "numbers, addresses and enum values have no case: write `{}`",
                op.replace("=~", "==")
                    .replace("!~", "!=")
                    .trim_end_matches('~')
            )),
        );
        None
    }

    fn value(&mut self, lit: &Spanned<Literal>, ty: &FieldType, what: &str) -> Option<Value> {
        match convert(lit, ty, what) {
            Ok(v) => Some(v),
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }

    /// `in [..]` / `in name`: values, or CIDR blocks for an IP field.
    fn membership(
        &mut self,
        ty: &FieldType,
        target: &ListRef,
        case: Case,
        what: &str,
    ) -> Option<Op> {
        match target {
            ListRef::Inline(items, span) => {
                if items.is_empty() {
                    self.diags.push(
                        Diagnostic::new(Code::E0235, "empty list: `in []` is never true")
                            .at(span.clone())
                            .found("`[]`")
                            .expected("at least one value"),
                    );
                    return None;
                }
                if *ty == FieldType::Ip && items.iter().any(|i| matches!(i.node, Literal::Cidr(..)))
                {
                    let mut blocks = Vec::new();
                    let mut seen = HashSet::new();
                    let mut ok = true;
                    for it in items {
                        match cidr_of(it) {
                            Ok(b) => {
                                if seen.insert(b) {
                                    blocks.push(b)
                                }
                            }
                            Err(d) => {
                                self.diags.push(d);
                                ok = false;
                            }
                        }
                    }
                    return ok.then_some(Op::InCidr { blocks, list: None });
                }
                let mut values = Vec::new();
                let mut seen = HashSet::new();
                let mut ok = true;
                for it in items {
                    match convert(it, ty, what) {
                        Ok(v) => {
                            if seen.insert(v.clone()) {
                                values.push(v)
                            }
                        }
                        Err(d) => {
                            self.diags.push(d);
                            ok = false;
                        }
                    }
                }
                ok.then_some(Op::In {
                    values,
                    case,
                    list: None,
                })
            }
            ListRef::Named(name) => {
                let list = self.use_list(name)?;
                let elem = list_elem_type(list.ty);
                let compatible = matches!(
                    (ty, list.ty),
                    (FieldType::Ip, ListType::Cidr | ListType::Ip)
                        | (FieldType::Port, ListType::Port | ListType::Int)
                        | (
                            FieldType::Int | FieldType::Bytes | FieldType::Duration,
                            ListType::Int
                        )
                        | (FieldType::String | FieldType::Enum(_), ListType::String)
                );
                if !compatible {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0231,
                            format!(
                                "list `{}` holds {} values, but {what} is {}",
                                name.node,
                                type_name(&elem),
                                type_words(ty)
                            ),
                        )
                        .at(name.span.clone())
                        .found(format!("{} list", a_type(&elem)))
                        .expected(format!("a list of type {}", list_types_for(ty)))
                        .hint(format!(
                            "`{}` is declared at {}:{}",
                            name.node, list.span.line, list.span.col
                        )),
                    );
                    return None;
                }
                if list.ty == ListType::Cidr {
                    return Some(Op::InCidr {
                        blocks: list.blocks.clone(),
                        list: Some(name.node.clone()),
                    });
                }
                let values = if let FieldType::Enum(vs) = ty {
                    let mut out = Vec::new();
                    for v in &list.values {
                        if let Value::Str(s) = v {
                            if !vs.contains(s) {
                                self.diags.push(
                                    Diagnostic::new(
                                        Code::E0223,
                                        format!(
                                            "list `{}` holds `{s}`, not a value of {what}",
                                            name.node
                                        ),
                                    )
                                    .at(name.span.clone())
                                    .found(format!("`{s}`"))
                                    .expected(format!("one of {}", vs.join(", ")))
                                    .hint(format!(
                                        "remove `{s}` from the list, or give {what} a list of its own"
                                    )),
                                );
                                return None;
                            }
                            out.push(Value::Enum(s.clone()));
                        }
                    }
                    out
                } else if let (ListType::Int, Some(bad)) =
                    (list.ty, list.values.iter().find(|v| !int_fits(v, ty)))
                {
                    // An `int` list is typed for integers; the field may be narrower (a port
                    // is 0..65535, a byte count or duration is not negative).
                    let shown = match bad {
                        Value::Int(i) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    self.diags.push(
                        Diagnostic::new(
                            if matches!(ty, FieldType::Port) {
                                Code::E0224
                            } else {
                                Code::E0221
                            },
                            format!(
                                "list `{}` holds {shown}, which {what} can never be",
                                name.node
                            ),
                        )
                        .at(name.span.clone())
                        .found(shown)
                        .expected(type_words(ty))
                        .hint(if matches!(ty, FieldType::Port) {
                            "remove it from the list; a list declared as `port` is checked \
                             for this where it is declared"
                        } else {
                            "remove it from the list: byte counts and durations are never negative"
                        }),
                    );
                    return None;
                } else {
                    list.values.clone()
                };
                Some(Op::In {
                    values,
                    case,
                    list: Some(name.node.clone()),
                })
            }
        }
    }

    /// The needles of startswith/endswith/contains.
    fn needles(&mut self, target: &ListRef) -> Option<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        match target {
            ListRef::Inline(items, span) => {
                if items.is_empty() {
                    self.diags.push(
                        Diagnostic::new(Code::E0235, "empty list of needles is never true")
                            .at(span.clone())
                            .found("`[]`")
                            .expected("at least one string"),
                    );
                    return None;
                }
                let mut seen = HashSet::new();
                for it in items {
                    match convert(it, &FieldType::String, "a needle") {
                        Ok(Value::Str(s)) => {
                            if seen.insert(s.clone()) {
                                out.push(s);
                                spans.push(it.span.clone());
                            }
                        }
                        Ok(_) => {}
                        Err(d) => {
                            self.diags.push(d);
                            return None;
                        }
                    }
                }
            }
            ListRef::Named(name) => {
                let list = self.use_list(name)?;
                if list.ty != ListType::String {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0231,
                            format!("list `{}` is not a string list", name.node),
                        )
                        .at(name.span.clone())
                        .found(format!("{} list", a_type(&list_elem_type(list.ty))))
                        .expected("a list of strings")
                        .hint("startswith, endswith and contains take text: a `string` list"),
                    );
                    return None;
                }
                for v in &list.values {
                    if let Value::Str(s) = v {
                        out.push(s.clone());
                        spans.push(name.span.clone());
                    }
                }
            }
        }
        if let Some(i) = out.iter().position(String::is_empty) {
            self.diags.push(
                Diagnostic::new(Code::E0227, "an empty needle matches every value")
                    .at(spans[i].clone())
                    .found("\"\"")
                    .expected("a non-empty string")
                    .hint("to test that a field has a value, write `field exists`"),
            );
            return None;
        }
        Some(out)
    }
}

/// Whether an integer list value can be a value of a field of type `ty`.
fn int_fits(v: &Value, ty: &FieldType) -> bool {
    match (v, ty) {
        (Value::Int(i), FieldType::Port) => (0..=65_535).contains(i),
        (Value::Int(i), FieldType::Bytes | FieldType::Duration) => *i >= 0,
        _ => true,
    }
}

/// The operator of a predicate as the user wrote it (`not startswith~`, `<=`, `is not`).
fn op_text(p: &ast::Pred) -> String {
    let tilde = |ci: bool| if ci { "~" } else { "" };
    let not = if p.negated { "not " } else { "" };
    match &p.op {
        PredOp::Eq { op, .. } => match op {
            EqOp::Eq => "==",
            EqOp::EqCi => "=~",
            EqOp::Ne => "!=",
            EqOp::NeCi => "!~",
        }
        .to_string(),
        PredOp::In { insensitive, .. } => format!("{not}in{}", tilde(*insensitive)),
        PredOp::Str {
            kind, insensitive, ..
        } => {
            let k = match kind {
                StrKind::StartsWith => "startswith",
                StrKind::EndsWith => "endswith",
                StrKind::Contains => "contains",
            };
            format!("{not}{k}{}", tilde(*insensitive))
        }
        PredOp::Matches { insensitive, .. } => format!("{not}matches{}", tilde(*insensitive)),
        PredOp::Is { .. } => if p.negated { "is not" } else { "is" }.to_string(),
        PredOp::Exists => "exists".to_string(),
        PredOp::Missing => "missing".to_string(),
        PredOp::Cmp { op, .. } => match op {
            ast::CmpOp::Lt => "<",
            ast::CmpOp::Le => "<=",
            ast::CmpOp::Gt => ">",
            ast::CmpOp::Ge => ">=",
        }
        .to_string(),
    }
}

/// The list types a field of `ty` can be tested against with `in`.
fn list_types_for(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Ip => "cidr or ip",
        FieldType::Port => "port or int",
        FieldType::Int | FieldType::Bytes | FieldType::Duration => "int",
        FieldType::String | FieldType::Enum(_) => "string",
        FieldType::Timestamp => "(none: timestamps are compared with <, <=, >, >=)",
    }
}
