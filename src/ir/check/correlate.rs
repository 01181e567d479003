//! A correlation: `correlate within 1m by host, process.id ordered { a: src where ...  b: ... }`.
//! Two or more steps (E0290), a window (E0291), keys (E0296) that are fields of every step's
//! source (E0292) with one type (E0293), each step and key named once (E0295); the rule's own
//! event clauses belong to the steps (E0294). The meaning is `ir::Correlation`'s.

use super::expr::Scope;
use super::values::type_name;
use super::Checker;
use crate::diag::{nearest, Code, Diagnostic, Span};
use crate::ir::{catalogue, Correlation, FieldType, Step};
use crate::syntax::ast::{self, Literal};
use std::collections::BTreeMap;

/// The longest correlation window: a day. State is held per key for the window plus the
/// allowed lateness, so a longer one would hold a day's events of every key.
const MAX_WINDOW: u64 = 86_400;

impl Checker<'_> {
    /// The checked correlation, or `None` after reporting its errors.
    pub(super) fn correlation(&mut self, c: &ast::Correlate) -> Option<Correlation> {
        let mut ok = true;
        if c.steps.len() < 2 {
            let found = match c.steps.len() {
                0 => "no step".to_string(),
                _ => format!("one step, `{}`", c.steps[0].name.node),
            };
            self.diags.push(
                Diagnostic::new(Code::E0290, "a correlation needs two or more steps")
                    .at(c.keyword.clone())
                    .found(found)
                    .expected("two or more steps `name: source where condition`")
                    .hint("a rule over one kind of event needs no correlation: write `source` and `where` instead"),
            );
            ok = false;
        }
        let window = self.correlation_window(c);
        ok &= window.is_some();
        if c.keys.is_empty() {
            self.diags.push(
                Diagnostic::new(Code::E0296, "a correlation needs keys its events share")
                    .at(c.keyword.clone())
                    .found("no `by`")
                    .expected("`by` and one or more fields, e.g. `by host, process.id`")
                    .hint("without keys any two events of the estate would correlate; name what they must share"),
            );
            ok = false;
        }
        // Step names, once each; sources known (E0210 as for `source`).
        let mut names: BTreeMap<&str, &Span> = BTreeMap::new();
        let mut sources = Vec::new();
        for s in &c.steps {
            if let Some(first) = names.insert(s.name.node.as_str(), &s.name.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0295,
                        format!("step `{}` is named twice", s.name.node),
                    )
                    .at(s.name.span.clone())
                    .found(format!("a second step `{}`", s.name.node))
                    .expected("a name no other step of the correlation uses")
                    .hint(format!("the first is at line {}", first.line)),
                );
                ok = false;
            }
            sources.push(self.source_named(&s.source));
        }
        // Keys: once each, a field of every step's source, one type.
        let mut keys: Vec<String> = Vec::new();
        for k in &c.keys {
            if keys.contains(&k.node) {
                self.diags.push(
                    Diagnostic::new(Code::E0295, format!("key `{}` is given twice", k.node))
                        .at(k.span.clone())
                        .found(format!("a second `{}`", k.node))
                        .expected("each key once")
                        .hint("remove the repeated key"),
                );
                ok = false;
                continue;
            }
            keys.push(k.node.clone());
            let mut first_ty: Option<(FieldType, &str)> = None;
            for (s, src) in c.steps.iter().zip(&sources) {
                let Some(src) = src else { continue };
                let Some(def) = catalogue::field(*src, &k.node) else {
                    let names = catalogue::fields(*src);
                    let mut d = Diagnostic::new(
                        Code::E0292,
                        format!(
                            "key `{}` is not a field of step `{}` ({})",
                            k.node,
                            s.name.node,
                            src.name()
                        ),
                    )
                    .at(k.span.clone())
                    .found(format!("`{}`", k.node))
                    .expected(format!(
                        "a field of {} and of every other step's source",
                        src.name()
                    ));
                    d = match nearest(&k.node, names.iter().map(|f| f.name)) {
                        Some(n) => d.hint(format!("did you mean `{n}`?")),
                        None => d.hint("key only by fields every step's source records"),
                    };
                    self.diags.push(d);
                    ok = false;
                    continue;
                };
                if !self.scalar_field(*src, k) {
                    ok = false;
                    break;
                }
                if k.node == "time" {
                    self.diags.push(
                        Diagnostic::new(Code::E0292, "`time` cannot be a correlation key")
                            .at(k.span.clone())
                            .found("`time`")
                            .expected("a field the events share, such as host or process.id")
                            .hint("the window (`within`) already relates the events' times"),
                    );
                    ok = false;
                    break;
                }
                match &first_ty {
                    None => first_ty = Some((def.ty, s.name.node.as_str())),
                    Some((ty, step)) if *ty != def.ty => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0293,
                                format!(
                                    "key `{}` has type {} in step `{step}` and {} in step `{}`",
                                    k.node,
                                    type_name(ty),
                                    type_name(&def.ty),
                                    s.name.node
                                ),
                            )
                            .at(k.span.clone())
                            .found(format!("`{}` of two types", k.node))
                            .expected("a key of one type in every step")
                            .hint("values of different types never compare equal; key by another field"),
                        );
                        ok = false;
                        break;
                    }
                    Some(_) => {}
                }
            }
        }
        // Each step's condition over its own source's fields.
        let mut steps = Vec::new();
        for (s, src) in c.steps.iter().zip(&sources) {
            let Some(src) = *src else {
                ok = false;
                continue;
            };
            let filter = match &s.filter {
                Some(e) => self.expr(
                    e,
                    &Scope::Event {
                        source: src,
                        lets: &[],
                    },
                ),
                None => Some(crate::ir::Expr::And(Vec::new())),
            };
            match filter {
                Some(filter) => steps.push(Step {
                    name: s.name.node.clone(),
                    source: src,
                    filter,
                    span: s.span.clone(),
                }),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(Correlation {
            window: window?,
            keys,
            ordered: c.ordered,
            steps,
            span: c.keyword.clone(),
        })
    }

    /// `within D`: a duration from 1s to a day (E0291).
    fn correlation_window(&mut self, c: &ast::Correlate) -> Option<u64> {
        let Some(w) = &c.within else {
            self.diags.push(
                Diagnostic::new(Code::E0291, "a correlation needs a window")
                    .at(c.keyword.clone())
                    .found("no `within`")
                    .expected("`within` and a duration, e.g. `within 1m`")
                    .hint("the events of a match must lie within this time of each other; write `correlate within 1m by ...`"),
            );
            return None;
        };
        let (msg, hint) = match &w.node {
            Literal::Duration(s) if *s > 0 && *s <= MAX_WINDOW => return Some(*s),
            Literal::Duration(0) => (
                "a correlation window of zero",
                "events of different steps are seldom at the same second; give the longest gap a match may span, e.g. `within 1m`".to_string(),
            ),
            Literal::Duration(_) => (
                "a correlation window longer than a day",
                "state is held per key for the window; correlate within a day at most, or aggregate per window instead".to_string(),
            ),
            Literal::Int(i) => ("`within` takes a duration", format!("add a unit: {i}s or {i}m")),
            _ => (
                "`within` takes a duration",
                "write a duration like 30s, 5m, 1h".to_string(),
            ),
        };
        self.diags.push(
            Diagnostic::new(Code::E0291, msg)
                .at(w.span.clone())
                .found(w.node.describe())
                .expected("a duration from 1s to 1d")
                .hint(hint),
        );
        None
    }
}
