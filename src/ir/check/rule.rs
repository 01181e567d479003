//! One rule: its clauses (each kind once), required metadata and source; then its computed
//! fields (computed.rs), filter, aggregation (aggregation.rs) and tests (rule_tests.rs), in
//! that order.

use super::expr::Scope;
use super::{Checker, MetaDraft};
use crate::diag::{nearest, Code, Diagnostic, Span};
use crate::ir::{catalogue, Expr, Rule, Source};
use crate::syntax::ast::{self, Clause, Literal, Spanned};
use std::collections::BTreeMap;

/// The clauses of a rule, by kind.
struct Clauses<'r> {
    meta: MetaDraft,
    /// `None` when the rule has no `source` or an unknown one (reported).
    source: Option<Source>,
    filter: Option<&'r ast::Expr>,
    lets: Vec<&'r Spanned<Clause>>,
    window: Option<&'r Spanned<Literal>>,
    group: Option<&'r Spanned<Clause>>,
    aggs: Option<&'r Spanned<Clause>>,
    having: Option<&'r Spanned<Clause>>,
    tests: Vec<&'r ast::TestDecl>,
    targets: Option<super::super::Targets>,
    /// `platform NAME` as written.
    platform: Option<&'r Spanned<String>>,
    /// Where the `attack` ids are written (E0307 points there).
    attack: Option<Span>,
    entities: Option<&'r [(Spanned<String>, Spanned<String>)]>,
    schedule: Option<&'r [(Spanned<String>, Spanned<Literal>)]>,
    /// `suppress D by keys` as written.
    suppress: Option<(&'r Spanned<Literal>, &'r [Spanned<String>])>,
    correlate: Option<&'r ast::Correlate>,
    /// The event clauses a correlation does not take (`source`, `where`, `let`, aggregation),
    /// with their spans, in written order.
    event_clauses: Vec<(&'static str, Span)>,
}

impl Checker<'_> {
    pub(super) fn rule(&mut self, f: &ast::File, r: &ast::RuleDecl) -> Option<Rule> {
        let start = self.diags.len();
        self.broken_names.clear();
        let Clauses {
            meta,
            source,
            filter,
            lets,
            window,
            group,
            aggs,
            having,
            tests,
            targets,
            platform,
            attack,
            entities,
            schedule,
            suppress,
            correlate,
            event_clauses,
        } = self.clauses(r);
        let platform = self.platform(platform, &meta.analytics, attack.as_ref());
        self.platform = platform;
        if let Some(c) = correlate {
            return self.correlation_rule(
                f,
                r,
                meta,
                (targets, platform),
                c,
                &event_clauses,
                &tests,
                start,
            );
        }
        let source = source?;
        let (let_names, ir_lets) = self.computed_fields(source, &lets);

        let scope = Scope::Event {
            source,
            lets: &let_names,
        };
        let ir_filter = match filter {
            Some(e) => self.expr(e, &scope),
            None => Some(Expr::And(Vec::new())),
        };

        let aggregation = self.aggregation(r, source, &ir_lets, window, group, aggs, having);

        let ir_entities = match (entities, &aggregation) {
            (Some(b), Some(agg)) => self.entities(source, &ir_lets, agg.as_ref(), b),
            _ => Vec::new(),
        };
        let window = aggregation
            .as_ref()
            .and_then(|a| a.as_ref())
            .map(|a| a.window);
        let ir_schedule = schedule.map(|p| self.schedule(p, window));
        // The run period suppression is counted in: the window, else `schedule every`, else the
        // deployment's default (targets::deploy::schedule).
        let period = window
            .or_else(|| ir_schedule.flatten().and_then(|s| s.every))
            .unwrap_or(crate::targets::deploy::schedule::DEFAULT_EVERY);
        let ir_suppress = match (suppress, &aggregation) {
            (Some((d, keys)), Some(agg)) => {
                Some(self.suppress(source, &ir_lets, agg.as_ref(), period, d, keys))
            }
            _ => None,
        };

        let ir_tests = self.tests(
            f,
            source,
            &ir_lets,
            aggregation.as_ref().map(|a| a.as_ref()),
            &tests,
        );

        if self.errors_since(start) {
            return None;
        }
        let (id, meta) = meta.finish()?;
        Some(Rule {
            id,
            name: r.name.node.clone(),
            meta,
            source,
            filter: ir_filter?,
            lets: ir_lets,
            aggregation: aggregation?,
            correlation: None,
            tests: ir_tests,
            targets,
            platform,
            entities: ir_entities,
            schedule: match ir_schedule {
                Some(s) => Some(s?),
                None => None,
            },
            suppress: match ir_suppress {
                Some(s) => Some(s?),
                None => None,
            },
            span: r.span.clone(),
        })
    }

    /// A rule whose events are a correlation's steps: no rule-level event clause (E0294).
    #[allow(clippy::too_many_arguments)]
    fn correlation_rule(
        &mut self,
        f: &ast::File,
        r: &ast::RuleDecl,
        meta: MetaDraft,
        (targets, platform): (Option<super::super::Targets>, Option<crate::ir::Platform>),
        c: &ast::Correlate,
        event_clauses: &[(&'static str, Span)],
        tests: &[&ast::TestDecl],
        start: usize,
    ) -> Option<Rule> {
        for (what, span) in event_clauses {
            let hint = match *what {
                "source" | "where" => {
                    "each step names its source and condition: `name: source where condition`"
                }
                "let" => "computed fields are not supported in a correlation; write the condition in the step",
                "entities" | "schedule" | "suppress" => {
                    "no target deploys a correlation yet (E0918), so it takes no deployment metadata"
                }
                _ => "aggregation is not supported together with a correlation; write two rules",
            };
            self.diags.push(
                Diagnostic::new(
                    Code::E0294,
                    format!("`{what}` cannot be used beside `correlate`"),
                )
                .at(span.clone())
                .found(format!("a rule-level `{what}`"))
                .expected("the correlation's steps, metadata, `timezone` and tests")
                .hint(hint),
            );
        }
        let corr = self.correlation(c);
        let ir_tests = match &corr {
            Some(k) => self.correlation_tests(f, k, tests),
            None => Vec::new(),
        };
        if self.errors_since(start) {
            return None;
        }
        let corr = corr?;
        let (id, meta) = meta.finish()?;
        Some(Rule {
            id,
            name: r.name.node.clone(),
            meta,
            source: corr.steps[0].source,
            filter: Expr::Or(Vec::new()),
            lets: Vec::new(),
            aggregation: None,
            correlation: Some(corr),
            tests: ir_tests,
            targets,
            platform,
            entities: Vec::new(),
            schedule: None,
            suppress: None,
            span: r.span.clone(),
        })
    }

    /// The source named `s`, or E0210 with the nearest name.
    pub(super) fn source_named(&mut self, s: &Spanned<String>) -> Option<Source> {
        if let Some(src) = catalogue::source_by_name(&s.node) {
            return Some(src);
        }
        let names: Vec<&str> = catalogue::SOURCES.iter().map(|s| s.name()).collect();
        let mut d = Diagnostic::new(Code::E0210, format!("unknown source `{}`", s.node))
            .at(s.span.clone())
            .found(format!("`{}`", s.node))
            .expected(format!("one of {}", names.join(", ")));
        if let Some(n) = nearest(&s.node, names.iter().copied()) {
            d = d.hint(format!("did you mean `{n}`?"));
        }
        self.diags.push(d);
        None
    }

    /// `+HH:MM` / `-HH:MM` as minutes east of UTC. The grammar gives the shape; the offsets in
    /// use run from -12:00 to +14:00, and minutes are below 60 (E0278 otherwise).
    fn utc_offset(&mut self, tz: &Spanned<String>) -> Option<i32> {
        let t = tz.node.as_str();
        match crate::ir::time::utc_offset(t) {
            Ok(m) => Some(m),
            Err(_) => {
                self.diags.push(
                    Diagnostic::new(Code::E0278, format!("`{t}` is not a UTC offset"))
                        .at(tz.span.clone())
                        .found(format!("`{t}`"))
                        .expected("an offset from -12:00 to +14:00 with minutes below 60")
                        .hint("write the estate's standard offset, e.g. `timezone +02:00` or `timezone -05:00`"),
                );
                None
            }
        }
    }

    /// Sorts the clauses of `r` by kind and checks its metadata: a kind given twice is E0204, a
    /// missing `id`, `title`, `severity` or `source` is E0203.
    fn clauses<'r>(&mut self, r: &'r ast::RuleDecl) -> Clauses<'r> {
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
        let mut correlate: Option<&ast::Correlate> = None;
        let mut event_clauses: Vec<(&'static str, Span)> = Vec::new();
        // The pack's zone (detc.yaml `timezone:`) until the rule's own clause says otherwise.
        self.timezone = super::pack_timezone();
        self.timezone_given = false;
        let mut targets = None;
        let mut platform = None;
        let mut attack = None;
        let mut entities = None;
        let mut schedule = None;
        let mut suppress = None;
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
                    if k == "attack" {
                        attack = Some(c.span.clone());
                    }
                    self.meta(&mut meta, k, value);
                }
                Clause::Source(s) => {
                    dup("source", &c.span, &mut self.diags);
                    event_clauses.push(("source", c.span.clone()));
                    source_seen = true;
                    source = self.source_named(s);
                }
                Clause::Platform(p) => {
                    dup("platform", &c.span, &mut self.diags);
                    platform = Some(p);
                }
                Clause::Targets { exclude, names } => {
                    dup("targets", &c.span, &mut self.diags);
                    targets = Some(self.targets(*exclude, names));
                }
                Clause::Where(e) => {
                    dup("where", &c.span, &mut self.diags);
                    event_clauses.push(("where", c.span.clone()));
                    filter = Some(e);
                }
                Clause::Let { .. } => {
                    event_clauses.push(("let", c.span.clone()));
                    lets.push(c)
                }
                Clause::Window(w) => {
                    dup("window", &c.span, &mut self.diags);
                    event_clauses.push(("window", c.span.clone()));
                    window = Some(w);
                }
                Clause::GroupBy(_) => {
                    dup("group by", &c.span, &mut self.diags);
                    event_clauses.push(("group by", c.span.clone()));
                    group = Some(c);
                }
                Clause::Aggregate(_) => {
                    dup("aggregate", &c.span, &mut self.diags);
                    event_clauses.push(("aggregate", c.span.clone()));
                    aggs = Some(c);
                }
                Clause::Having(_) => {
                    dup("having", &c.span, &mut self.diags);
                    event_clauses.push(("having", c.span.clone()));
                    having = Some(c);
                }
                Clause::Correlate(k) => {
                    dup("correlate", &c.span, &mut self.diags);
                    correlate = Some(k);
                }
                Clause::Test(t) => tests.push(t),
                Clause::Timezone(tz) => {
                    dup("timezone", &c.span, &mut self.diags);
                    self.timezone_given = true;
                    self.timezone = self.utc_offset(tz);
                }
                Clause::Entities(b) => {
                    dup("entities", &c.span, &mut self.diags);
                    event_clauses.push(("entities", c.span.clone()));
                    entities = Some(b.as_slice());
                }
                Clause::Schedule(p) => {
                    dup("schedule", &c.span, &mut self.diags);
                    event_clauses.push(("schedule", c.span.clone()));
                    schedule = Some(p.as_slice());
                }
                Clause::Suppress { duration, keys } => {
                    dup("suppress", &c.span, &mut self.diags);
                    event_clauses.push(("suppress", c.span.clone()));
                    suppress = Some((duration, keys.as_slice()));
                }
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
        if !source_seen && correlate.is_none() {
            self.diags.push(
                Diagnostic::new(Code::E0203, format!("rule `{}` has no `source`", r.name.node))
                    .at(r.name.span.clone())
                    .found("no `source` clause")
                    .expected("a `source` clause")
                    .hint("add `source network_connection` (endpoint) or `source network_flow` (network devices)"),
            );
        }
        Clauses {
            meta,
            source,
            filter,
            lets,
            window,
            group,
            aggs,
            having,
            tests,
            targets,
            platform,
            attack,
            entities,
            schedule,
            suppress,
            correlate,
            event_clauses,
        }
    }

    /// `targets [...]`: every name must be a profile of the registry (E0906, with the nearest
    /// name as a hint), so a typo cannot silently drop a rule from a target.
    fn targets(&mut self, exclude: bool, names: &[Spanned<String>]) -> super::super::Targets {
        let known: Vec<&str> = crate::registry::profile_names().collect();
        for n in names.iter().filter(|n| !known.contains(&n.node.as_str())) {
            let mut d = Diagnostic::new(Code::E0906, format!("unknown target `{}`", n.node))
                .at(n.span.clone())
                .found(format!("`{}`", n.node))
                .expected(format!("one of: {}", known.join(", ")));
            if let Some(m) = nearest(&n.node, known.iter().copied()) {
                d = d.hint(format!("did you mean `{m}`?"));
            }
            self.diags.push(d);
        }
        super::super::Targets {
            exclude,
            names: names.iter().map(|n| n.node.clone()).collect(),
        }
    }
}
