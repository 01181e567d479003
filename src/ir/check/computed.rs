//! Computed fields: `let NAME = case COND => VALUE, ... else => VALUE`.

use super::expr::Scope;
use super::{values, Checker};
use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{catalogue, FieldType, Let, Source, Value};
use crate::syntax::ast::{Clause, Literal, Spanned};
use std::collections::BTreeSet;

impl Checker<'_> {
    /// Checks the `let` clauses of a rule in order (each may use those before it). Returns the
    /// names declared (one whose definition had an error included: a use of it is not a second
    /// error) and the IR of those that checked clean.
    pub(super) fn computed_fields(
        &mut self,
        source: Source,
        lets: &[&Spanned<Clause>],
    ) -> (Vec<String>, Vec<Let>) {
        let mut let_names: Vec<String> = Vec::new();
        let mut ir_lets = Vec::new();
        for c in lets {
            let Clause::Let {
                name,
                arms,
                default,
            } = &c.node
            else {
                continue;
            };
            if catalogue::field(source, &name.node).is_some() || let_names.contains(&name.node) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0240,
                        format!("`{}` is already a field or computed field", name.node),
                    )
                    .at(name.span.clone())
                    .found(format!("`{}`", name.node))
                    .expected("a new name for the computed field")
                    .hint("computed fields may not shadow event fields or each other"),
                );
                continue;
            }
            let scope = Scope::Event {
                source,
                lets: &let_names,
            };
            let mut ir_arms = Vec::new();
            let mut ty: Option<(FieldType, Span)> = None;
            let mut ok = true;
            let mut value_of =
                |lit: &Spanned<Literal>, diags: &mut Vec<Diagnostic>| -> Option<Value> {
                    let (v, t) = match &lit.node {
                        Literal::Str(s) => (Value::Str(s.clone()), FieldType::String),
                        Literal::Int(i) => (Value::Int(*i), FieldType::Int),
                        other => {
                            diags.push(
                                Diagnostic::new(
                                    Code::E0241,
                                    "a computed field's value must be a string or an integer",
                                )
                                .at(lit.span.clone())
                                .found(other.describe())
                                .expected("a quoted string or an integer")
                                .hint(match other {
                                    Literal::Symbol(s) => format!("quote it: \"{s}\""),
                                    _ => "write the value as a string".to_string(),
                                }),
                            );
                            return None;
                        }
                    };
                    match &ty {
                        None => ty = Some((t, lit.span.clone())),
                        Some((first, fspan)) if *first != t => {
                            diags.push(
                            Diagnostic::new(
                                Code::E0241,
                                "the arms of `case` give values of different types",
                            )
                            .at(lit.span.clone())
                            .found(values::type_words(&t))
                            .expected(format!(
                                "{} like the first arm (line {})",
                                values::type_words(first),
                                fspan.line
                            ))
                            .hint("a computed field has one type: quote numbers to make them text"),
                        );
                            return None;
                        }
                        _ => {}
                    }
                    Some(v)
                };
            for (cond, val) in arms {
                let e = self.expr(cond, &scope);
                let v = value_of(val, &mut self.diags);
                match (e, v) {
                    (Some(e), Some(v)) => ir_arms.push((e, v)),
                    _ => ok = false,
                }
            }
            let default_v = match default {
                Some(d) => match value_of(d, &mut self.diags) {
                    Some(v) => Some(v),
                    None => {
                        ok = false;
                        None
                    }
                },
                None => None,
            };
            let_names.push(name.node.clone());
            if !ok {
                self.broken_names.insert(name.node.clone());
            }
            if ok {
                let mut deps = BTreeSet::new();
                for (e, _) in &ir_arms {
                    crate::ir::visit::collect_fields(e, &mut deps);
                }
                ir_lets.push(Let {
                    name: name.node.clone(),
                    ty: ty.map(|t| t.0).unwrap_or(FieldType::String),
                    arms: ir_arms,
                    default: default_v,
                    depends_on: deps.into_iter().collect(),
                    span: c.span.clone(),
                });
            }
        }
        (let_names, ir_lets)
    }
}
