//! One rule: its clauses, required metadata, source, computed fields and filter; then its
//! aggregation and tests (aggregation.rs, rule_tests.rs).

use super::expr::Scope;
use super::{values, Checker, MetaDraft};
use crate::diag::{nearest, Code, Diagnostic, Span};
use crate::ir::{catalogue, Expr, FieldRef, FieldType, Let, Meta, Rule, Source, Status, Value};
use crate::syntax::ast::{self, Clause, Literal, Spanned};
use std::collections::{BTreeMap, BTreeSet};

impl Checker<'_> {
    pub(super) fn rule(&mut self, f: &ast::File, r: &ast::RuleDecl) -> Option<Rule> {
        let start = self.diags.len();
        self.broken_names.clear();
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut dup = |key: &'static str, span: &Span, diags: &mut Vec<Diagnostic>| {
            if let Some(first) = seen.get(key) {
                diags.push(
                    Diagnostic::new(
                        Code::E0204,
                        format!("`{key}` is given twice in rule `{}`", r.name.node),
                    )
                    .at(span.clone())
                    .found(format!("a second `{key}`"))
                    .expected(format!("one `{key}` per rule"))
                    .hint(if key == "where" {
                        format!(
                            "the first is at line {}; join the conditions with `and`",
                            first.line
                        )
                    } else {
                        format!("the first is at line {}", first.line)
                    }),
                );
            } else {
                seen.insert(key, span.clone());
            }
        };
        let mut meta = MetaDraft::default();
        let mut source: Option<Source> = None;
        let mut source_seen = false;
        let mut filter: Option<&ast::Expr> = None;
        let mut lets: Vec<&Spanned<Clause>> = Vec::new();
        let mut window: Option<&Spanned<Literal>> = None;
        let mut group: Option<&Spanned<Clause>> = None;
        let mut aggs: Option<&Spanned<Clause>> = None;
        let mut having: Option<&Spanned<Clause>> = None;
        let mut tests: Vec<&ast::TestDecl> = Vec::new();
        for c in &r.clauses {
            match &c.node {
                Clause::Meta { key, value } => {
                    let k: &'static str = match key.node.as_str() {
                        "id" => "id",
                        "title" => "title",
                        "description" => "description",
                        "author" => "author",
                        "date" => "date",
                        "modified" => "modified",
                        "status" => "status",
                        "severity" => "severity",
                        "confidence" => "confidence",
                        "attack" => "attack",
                        "references" => "references",
                        "falsepositives" => "falsepositives",
                        _ => "tags",
                    };
                    dup(k, &c.span, &mut self.diags);
                    self.meta(&mut meta, k, value);
                }
                Clause::Source(s) => {
                    dup("source", &c.span, &mut self.diags);
                    source_seen = true;
                    match catalogue::source_by_name(&s.node) {
                        Some(src) => source = Some(src),
                        None => {
                            let names: Vec<&str> =
                                catalogue::SOURCES.iter().map(|s| s.name()).collect();
                            let mut d = Diagnostic::new(
                                Code::E0210,
                                format!("unknown source `{}`", s.node),
                            )
                            .at(s.span.clone())
                            .found(format!("`{}`", s.node))
                            .expected(format!("one of {}", names.join(", ")));
                            if let Some(n) = nearest(&s.node, names.iter().copied()) {
                                d = d.hint(format!("did you mean `{n}`?"));
                            }
                            self.diags.push(d);
                        }
                    }
                }
                Clause::Where(e) => {
                    dup("where", &c.span, &mut self.diags);
                    filter = Some(e);
                }
                Clause::Let { .. } => lets.push(c),
                Clause::Window(w) => {
                    dup("window", &c.span, &mut self.diags);
                    window = Some(w);
                }
                Clause::GroupBy(_) => {
                    dup("group by", &c.span, &mut self.diags);
                    group = Some(c);
                }
                Clause::Aggregate(_) => {
                    dup("aggregate", &c.span, &mut self.diags);
                    aggs = Some(c);
                }
                Clause::Having(_) => {
                    dup("having", &c.span, &mut self.diags);
                    having = Some(c);
                }
                Clause::Test(t) => tests.push(t),
            }
        }
        for (key, what) in [
            ("id", "id \"<uuid>\""),
            ("title", "title \"...\""),
            ("severity", "severity high"),
        ] {
            if !seen.contains_key(key) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0203,
                        format!("rule `{}` has no `{key}`", r.name.node),
                    )
                    .at(r.name.span.clone())
                    .found(format!("no `{key}` clause"))
                    .expected(format!("a `{key}` clause"))
                    .hint(format!("add `{what}` to the rule")),
                );
            }
        }
        if !source_seen {
            self.diags.push(
                Diagnostic::new(Code::E0203, format!("rule `{}` has no `source`", r.name.node))
                    .at(r.name.span.clone())
                    .found("no `source` clause")
                    .expected("a `source` clause")
                    .hint("add `source network_connection` (endpoint) or `source network_flow` (network devices)"),
            );
        }
        let source = source?;

        // Computed fields.
        let mut let_names: Vec<String> = Vec::new();
        let mut ir_lets = Vec::new();
        for c in &lets {
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
                    collect_fields(e, &mut deps);
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

        let scope = Scope::Event {
            source,
            lets: &let_names,
        };
        let ir_filter = match filter {
            Some(e) => self.expr(e, &scope),
            None => Some(Expr::And(Vec::new())),
        };

        let aggregation = self.aggregation(r, source, &ir_lets, window, group, aggs, having);

        let mut ir_tests = Vec::new();
        let mut test_names: BTreeMap<String, u32> = BTreeMap::new();
        for t in &tests {
            if let Some(line) = test_names.get(&t.name.node) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0263,
                        format!("duplicate test name {:?}", t.name.node),
                    )
                    .at(t.name.span.clone())
                    .found(format!("a second test named {:?}", t.name.node))
                    .expected("a test name unique within the rule")
                    .hint(format!("the first is at line {line}")),
                );
                continue;
            }
            test_names.insert(t.name.node.clone(), t.name.span.line);
            if let Some(ok) = self.test(
                f,
                source,
                &ir_lets,
                aggregation.as_ref().map(|a| a.as_ref()),
                t,
            ) {
                ir_tests.push(ok);
            }
        }

        if self.errors_since(start) {
            return None;
        }
        Some(Rule {
            id: meta.id?,
            name: r.name.node.clone(),
            meta: Meta {
                title: meta.title?,
                description: meta.description,
                author: meta.author,
                date: meta.date,
                modified: meta.modified,
                status: meta.status.unwrap_or(Status::Experimental),
                severity: meta.severity?,
                confidence: meta.confidence,
                techniques: meta.techniques,
                analytics: meta.analytics,
                references: meta.references,
                false_positives: meta.false_positives,
                tags: meta.tags,
            },
            source,
            filter: ir_filter?,
            lets: ir_lets,
            aggregation: aggregation?,
            tests: ir_tests,
            span: r.span.clone(),
        })
    }
}

fn collect_fields(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| collect_fields(x, out)),
        Expr::Not(x) => collect_fields(x, out),
        Expr::Pred(p) => {
            if let FieldRef::Field(n) = &p.field {
                out.insert(n.clone());
            }
        }
    }
}
