//! Rule tests: `test "name" events ... expect N alerts { ... }`.

use super::values::convert;
use super::{dir_of, Checker};
use crate::diag::{nearest, Code, Diagnostic, Span};
use crate::ir::{
    catalogue, Aggregation, Correlation, Expectation, FieldRef, FieldType, Let, RuleTest, Source,
    TestEvents,
};
use crate::load::PackFile;
use crate::syntax::ast;
use std::collections::BTreeMap;

impl Checker<'_> {
    /// The tests of a rule, each name once (E0263). `agg` as for [`Checker::test`].
    pub(super) fn tests(
        &mut self,
        f: &ast::File,
        source: Source,
        lets: &[Let],
        agg: Option<Option<&Aggregation>>,
        tests: &[&ast::TestDecl],
    ) -> Vec<RuleTest> {
        self.tests_of(f, source, lets, agg, None, tests)
    }

    /// The tests of a correlation rule: an alert carries the keys, `first_seen` and
    /// `last_seen`; a test names no `schema` (E0297), since each step's events are read through
    /// the schema of its own source.
    pub(super) fn correlation_tests(
        &mut self,
        f: &ast::File,
        c: &Correlation,
        tests: &[&ast::TestDecl],
    ) -> Vec<RuleTest> {
        for t in tests {
            if let Some(s) = &t.schema {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0297,
                        "a correlation's test cannot name one input schema",
                    )
                    .at(s.span.clone())
                    .found(format!("`schema {}`", s.node))
                    .expected("no `schema`: each step's events are read through its source's schema")
                    .hint("remove `schema ...`; a file holding several sources (Sysmon EventID 1 and 3) is read once per step's source"),
                );
            }
        }
        self.tests_of(f, c.steps[0].source, &[], Some(None), Some(c), tests)
    }

    fn tests_of(
        &mut self,
        f: &ast::File,
        source: Source,
        lets: &[Let],
        agg: Option<Option<&Aggregation>>,
        corr: Option<&Correlation>,
        tests: &[&ast::TestDecl],
    ) -> Vec<RuleTest> {
        let mut ir_tests = Vec::new();
        let mut test_names: BTreeMap<String, u32> = BTreeMap::new();
        for t in tests {
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
            if let Some(ok) = self.test(f, source, lets, agg, corr, t) {
                ir_tests.push(ok);
            }
        }
        ir_tests
    }

    fn test(
        &mut self,
        f: &ast::File,
        source: Source,
        lets: &[Let],
        agg: Option<Option<&Aggregation>>,
        corr: Option<&Correlation>,
        t: &ast::TestDecl,
    ) -> Option<RuleTest> {
        // `None`: the aggregation had an error, so which keys an alert carries is unknown.
        let agg_failed = agg.is_none();
        let agg = agg.flatten();
        let mut ok = true;
        let events = match &t.events {
            ast::TestEventsAst::File(p) => {
                let full = dir_of(&f.path).join(&p.node);
                if let Err(e) = self.loader.check_fixture(&full) {
                    let shown = full.to_string_lossy().replace('\\', "/");
                    let mut d = e.diagnostic(PackFile::Fixture, &shown).at(p.span.clone());
                    if d.found.is_none() {
                        d = d.found(format!("{:?}", p.node));
                    }
                    self.diags.push(d);
                    ok = false;
                }
                TestEvents::File(p.node.clone())
            }
            ast::TestEventsAst::Inline(objs) => {
                TestEvents::Inline(objs.iter().map(|o| o.node.clone()).collect())
            }
        };
        if let Some(s) = &t.schema {
            // The built-in schemas and the project's own (`inputs:` of its detc.yaml).
            let known = crate::eval::schema::names();
            if !known.contains(&s.node) {
                let mut d =
                    Diagnostic::new(Code::E0264, format!("unknown input schema `{}`", s.node))
                        .at(s.span.clone())
                        .found(format!("`{}`", s.node))
                        .expected(format!("one of {}", known.join(", ")));
                if let Some(n) = nearest(&s.node, known.iter().map(String::as_str)) {
                    d = d.hint(format!("did you mean `{n}`?"));
                }
                self.diags.push(d);
                ok = false;
            }
        }
        if ok && corr.is_none() {
            self.lint_test(f, source, t);
        }
        let count = t.expect.count.node as usize;
        if t.expect.alerts.len() > count {
            self.diags.push(
                Diagnostic::new(
                    Code::E0261,
                    format!(
                        "{} expected alerts are described, but the test expects {count}",
                        t.expect.alerts.len()
                    ),
                )
                .at(t.expect.count.span.clone())
                .found(format!(
                    "a count of {count} and {} alert descriptions",
                    t.expect.alerts.len()
                ))
                .expected(format!("a count of at least {}", t.expect.alerts.len())),
            );
            ok = false;
        }
        // The keys an expected alert may name, with their types.
        let mut keys: BTreeMap<String, FieldType> = BTreeMap::new();
        match (corr, agg) {
            (Some(c), _) => {
                for k in &c.keys {
                    if let Some(d) = catalogue::field(source, k) {
                        keys.insert(k.clone(), d.ty);
                    }
                }
                keys.insert("first_seen".into(), FieldType::Timestamp);
                keys.insert("last_seen".into(), FieldType::Timestamp);
            }
            (None, Some(a)) => {
                for g in &a.group_by {
                    let ty = match g {
                        FieldRef::Computed(n) => {
                            lets.iter().find(|l| &l.name == n).map(|l| l.ty.clone())
                        }
                        other => catalogue::field(source, other.name()).map(|d| d.ty),
                    };
                    if let Some(ty) = ty {
                        keys.insert(g.name().to_string(), ty);
                    }
                }
                for x in &a.aggregates {
                    keys.insert(x.name.clone(), x.ty.clone());
                }
            }
            (None, None) => {
                // A list field is not an expectation's key (E0315 covers its other uses).
                for d in catalogue::fields(source).into_iter().filter(|d| !d.list) {
                    keys.insert(d.name.to_string(), d.ty);
                }
                for l in lets {
                    keys.insert(l.name.clone(), l.ty.clone());
                }
            }
        }
        let mut alerts = Vec::new();
        for m in &t.expect.alerts {
            let mut alert = BTreeMap::new();
            let mut seen_keys: BTreeMap<&str, &Span> = BTreeMap::new();
            for (k, v) in &m.node {
                if let Some(first) = seen_keys.insert(k.node.as_str(), &k.span) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0265,
                            format!("`{}` is given twice in one expected alert", k.node),
                        )
                        .at(k.span.clone())
                        .found(format!("a second `{}`", k.node))
                        .expected("each key once per alert")
                        .hint(format!(
                            "the first is at line {}, column {}; an alert has one value per key",
                            first.line, first.col
                        )),
                    );
                    ok = false;
                    continue;
                }
                let Some(ty) = keys.get(&k.node) else {
                    if agg_failed || self.broken_names.contains(&k.node) {
                        ok = false;
                        continue;
                    }
                    let mut d = Diagnostic::new(
                        Code::E0262,
                        format!("an alert of this rule has no `{}`", k.node),
                    )
                    .at(k.span.clone())
                    .found(format!("`{}`", k.node))
                    .expected(if corr.is_some() {
                        "a correlation key, `first_seen` or `last_seen`".to_string()
                    } else if agg.is_some() {
                        "a group key or an aggregate name".to_string()
                    } else {
                        format!("a field of {}", source.name())
                    });
                    if let Some(n) = nearest(&k.node, keys.keys().map(String::as_str)) {
                        d = d.hint(format!("did you mean `{n}`?"));
                    } else {
                        d = d.hint(format!(
                            "alerts carry: {}",
                            keys.keys().cloned().collect::<Vec<_>>().join(", ")
                        ));
                    }
                    self.diags.push(d);
                    ok = false;
                    continue;
                };
                match convert(v, ty, &format!("`{}`", k.node)) {
                    Ok(val) => {
                        alert.insert(k.node.clone(), val);
                    }
                    Err(d) => {
                        self.diags.push(d);
                        ok = false;
                    }
                }
            }
            alerts.push(alert);
        }
        ok.then(|| RuleTest {
            name: t.name.node.clone(),
            events,
            schema: t.schema.as_ref().map(|s| s.node.clone()),
            expect: Expectation {
                count: Some(count),
                alerts,
            },
            span: t.name.span.clone(),
        })
    }
}
