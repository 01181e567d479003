//! The checker: ASTs of a pack -> typed IR, collecting every error (not just the first).
//!
//! Order: lists of every file first (lists are shared by the whole pack), then each rule: its
//! metadata, source, computed fields, filter, aggregation and tests. A rule with an error is left
//! out of the pack, but checking goes on so that one run reports every problem.

use super::{
    catalogue, AggFunc, Aggregate, Aggregation, Confidence, Expectation, Expr, FieldRef, FieldType,
    Let, Level, List, ListType, Meta, Pack, Rule, RuleTest, Source, Status, TestEvents, Value,
    MAX_TITLE,
};
use crate::diag::{nearest, Diagnostic, LineIndex, Span};
use crate::load::{Loader, PackFile};
use crate::syntax::ast::{self, Clause, Literal, MetaValue, Spanned};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

mod attack_ids;
mod compare;
mod expr;
mod lints;
pub mod tags;
pub mod values;

use expr::Scope;
use values::{cidr_of, convert, list_elem_type, list_type_by_name, LIST_TYPES};

/// Input schema names a test may give (`schema NAME`); the evaluator's targets/inputs/ holds them.
pub const INPUT_SCHEMAS: &[&str] = &["sysmon", "defender", "zeek-conn", "zeek-smtp"];

/// A list as the checker resolves it: values by type, CIDR blocks for `cidr` lists.
#[derive(Clone)]
pub(crate) struct ResolvedList {
    pub ty: ListType,
    pub values: Vec<Value>,
    pub blocks: Vec<super::Cidr>,
    pub span: Span,
    pub file: Option<String>,
}

pub(crate) struct Checker<'a> {
    loader: &'a dyn Loader,
    pub diags: Vec<Diagnostic>,
    lists: BTreeMap<String, ResolvedList>,
    used_lists: BTreeSet<String>,
    /// Lists declared with an error already reported: a use is not a second error.
    broken_lists: BTreeSet<String>,
    /// Computed fields and aggregates of the rule being checked whose definition had an error
    /// already reported: a use of the name is not a second error.
    pub(crate) broken_names: BTreeSet<String>,
}

/// Checks every file of a pack. The pack is `None` only when nothing could be checked at all;
/// callers treat any error diagnostic as failure.
pub fn check(files: &[ast::File], loader: &dyn Loader) -> (Option<Pack>, Vec<Diagnostic>) {
    check_partial(files, loader, &Unparsed::default())
}

/// What is known of the pack's files that did not parse (their syntax errors are reported).
#[derive(Debug, Default)]
pub struct Unparsed {
    /// How many files did not parse.
    pub files: usize,
    /// The names those files appear to declare lists under (`syntax::declared_list_names`).
    pub list_names: BTreeSet<String>,
}

/// [`check`] for a pack of which some files did not parse: a use of a list such a file
/// declares is not an unknown list, and no list is called unused (its users may be there).
pub fn check_partial(
    files: &[ast::File],
    loader: &dyn Loader,
    unparsed: &Unparsed,
) -> (Option<Pack>, Vec<Diagnostic>) {
    let mut c = Checker {
        loader,
        diags: Vec::new(),
        lists: BTreeMap::new(),
        used_lists: BTreeSet::new(),
        broken_lists: unparsed.list_names.clone(),
        broken_names: BTreeSet::new(),
    };
    for f in files {
        for l in &f.lists {
            c.list(f, l);
        }
    }
    // A list is used when a rule's text refers to it, whether or not that rule checks clean: a
    // misspelt field beside `in name` is one error, not also an unused list.
    for f in files {
        for r in &f.rules {
            for cl in &r.clauses {
                match &cl.node {
                    Clause::Where(e) | Clause::Having(e) => lists_named(e, &mut c.used_lists),
                    Clause::Let { arms, .. } => arms
                        .iter()
                        .for_each(|(e, _)| lists_named(e, &mut c.used_lists)),
                    _ => {}
                }
            }
        }
    }
    let mut rules = Vec::new();
    let mut names: BTreeMap<String, Span> = BTreeMap::new();
    let mut ids: BTreeMap<String, Span> = BTreeMap::new();
    for f in files {
        for r in &f.rules {
            if let Some(first) = names.get(&r.name.node) {
                c.diags.push(
                    Diagnostic::error("E0200", format!("duplicate rule name `{}`", r.name.node))
                        .at(r.name.span.clone())
                        .found(format!("a second rule named `{}`", r.name.node))
                        .expected("a name no other rule of the pack uses")
                        .hint(format!(
                            "first declared at {}:{}:{}; emitted queries are named after the rule",
                            first.path, first.line, first.col
                        )),
                );
            } else {
                names.insert(r.name.node.clone(), r.name.span.clone());
            }
            // Duplicate ids are found on the text of valid UUIDs, whether or not the rules
            // that carry them have other errors.
            let mut dup_id = false;
            if let Some((id, span)) = ast_id(r) {
                if let Some(first) = ids.get(&id) {
                    dup_id = true;
                    c.diags.push(
                        Diagnostic::error("E0201", format!("duplicate rule id {id}"))
                            .at(span)
                            .found(format!("rule `{}` reuses the id", r.name.node))
                            .expected("a UUID no other rule uses")
                            .hint(format!(
                                "first used at {}:{}:{}; generate a fresh one (e.g. `uuidgen`)",
                                first.path, first.line, first.col
                            )),
                    );
                } else {
                    ids.insert(id, span);
                }
            }
            if let Some(rule) = c.rule(f, r) {
                if !dup_id {
                    rules.push(rule);
                }
            }
        }
    }
    let mut lists = BTreeMap::new();
    for (name, l) in &c.lists {
        if !c.used_lists.contains(name) && unparsed.files == 0 {
            c.diags.push(
                Diagnostic::warning("W0236", format!("list `{name}` is never used"))
                    .at(l.span.clone())
                    .found("no rule refers to it")
                    .expected("every list to be used by at least one rule")
                    .hint("remove it, or refer to it from a rule (`field in name`)"),
            );
        }
        let values = if l.ty == ListType::Cidr {
            l.blocks.iter().map(|b| Value::Str(b.to_string())).collect()
        } else {
            l.values.clone()
        };
        lists.insert(
            name.clone(),
            List {
                name: name.clone(),
                ty: l.ty,
                values,
                span: l.span.clone(),
                file: l.file.clone(),
            },
        );
    }
    (Some(Pack { rules, lists }), c.diags)
}

/// The rule's id as the pack compares it (lowercase), when it is a valid UUID.
fn ast_id(r: &ast::RuleDecl) -> Option<(String, Span)> {
    r.clauses.iter().find_map(|c| match &c.node {
        Clause::Meta {
            key,
            value: MetaValue::Text(t),
        } if key.node == "id" && is_uuid(&t.node) => Some((t.node.to_lowercase(), t.span.clone())),
        _ => None,
    })
}

pub(super) fn dir_of(path: &str) -> PathBuf {
    Path::new(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

impl Checker<'_> {
    pub(crate) fn use_list(&mut self, name: &Spanned<String>) -> Option<ResolvedList> {
        if let Some(l) = self.lists.get(&name.node) {
            self.used_lists.insert(name.node.clone());
            return Some(l.clone());
        }
        if self.broken_lists.contains(&name.node) {
            return None;
        }
        let mut d = Diagnostic::error("E0230", format!("unknown list `{}`", name.node))
            .at(name.span.clone())
            .found(format!("`{}`", name.node))
            .expected("the name of a list declared with `list NAME: TYPE = ...`, or an inline list `[a, b]`");
        if let Some(n) = nearest(&name.node, self.lists.keys().map(String::as_str)) {
            d = d.hint(format!("did you mean `{n}`?"));
        }
        self.diags.push(d);
        None
    }

    /// Whether an error was reported since `self.diags` had `start` entries.
    fn errors_since(&self, start: usize) -> bool {
        self.diags[start..].iter().any(Diagnostic::is_error)
    }

    fn list(&mut self, f: &ast::File, l: &ast::ListDecl) {
        // Diagnostics are only ever appended: look at this list's own, not at every earlier
        // one (counting them all made a pack with many warnings quadratic to check).
        let start = self.diags.len();
        self.list_inner(f, l);
        if self.errors_since(start) && !self.lists.contains_key(&l.name.node) {
            self.broken_lists.insert(l.name.node.clone());
        }
    }

    fn list_inner(&mut self, f: &ast::File, l: &ast::ListDecl) {
        if let Some(first) = self.lists.get(&l.name.node) {
            let (p, line, col) = (first.span.path.clone(), first.span.line, first.span.col);
            self.diags.push(
                Diagnostic::error("E0232", format!("duplicate list `{}`", l.name.node))
                    .at(l.name.span.clone())
                    .found(format!("a second list named `{}`", l.name.node))
                    .expected("a list name not declared elsewhere in the pack")
                    .hint(format!("first declared at {p}:{line}:{col}")),
            );
            return;
        }
        let Some(ty) = list_type_by_name(&l.ty.node) else {
            let mut d = Diagnostic::error("E0233", format!("unknown list type `{}`", l.ty.node))
                .at(l.ty.span.clone())
                .found(format!("`{}`", l.ty.node))
                .expected("one of port, int, string, cidr, ip");
            if let Some(n) = nearest(&l.ty.node, LIST_TYPES.iter().copied()) {
                d = d.hint(format!("did you mean `{n}`?"));
            }
            self.diags.push(d);
            return;
        };
        let (items, file): (Vec<Spanned<Literal>>, Option<String>) = match &l.body {
            ast::ListBody::Inline(items) => (items.clone(), None),
            ast::ListBody::File(path) => match self.list_file(f, path, ty) {
                Some(items) => (items, Some(path.node.clone())),
                None => return,
            },
        };
        if items.is_empty() {
            self.diags.push(
                Diagnostic::error("E0235", format!("list `{}` is empty", l.name.node))
                    .at(l.span.clone())
                    .found("no values")
                    .expected("at least one value")
                    .hint("an empty list makes `in` never true and `not in` always true"),
            );
            return;
        }
        let elem = list_elem_type(ty);
        let what = format!("an entry of list `{}`", l.name.node);
        let mut values = Vec::new();
        let mut blocks = Vec::new();
        // Duplicates are dropped (first kept, order kept) through a set, not by searching the
        // list so far: a list of 100k entries stays linear.
        let mut seen_values = HashSet::new();
        let mut seen_blocks = HashSet::new();
        let mut ok = true;
        for it in &items {
            if ty == ListType::Cidr {
                match cidr_of(it) {
                    Ok(b) => {
                        if seen_blocks.insert(b) {
                            blocks.push(b);
                        }
                    }
                    Err(d) => {
                        self.diags.push(d);
                        ok = false;
                    }
                }
            } else {
                match convert(it, &elem, &what) {
                    Ok(v) => {
                        if seen_values.insert(v.clone()) {
                            values.push(v);
                        }
                    }
                    Err(d) => {
                        self.diags.push(d);
                        ok = false;
                    }
                }
            }
        }
        if ok {
            self.lists.insert(
                l.name.node.clone(),
                ResolvedList {
                    ty,
                    values,
                    blocks,
                    span: l.span.clone(),
                    file,
                },
            );
        }
    }

    /// Reads a list file: one value per line, `#` comments and blank lines ignored. Each line is
    /// taken as the list type wants it (a string line is text as is, trimmed).
    fn list_file(
        &mut self,
        f: &ast::File,
        path: &Spanned<String>,
        ty: ListType,
    ) -> Option<Vec<Spanned<Literal>>> {
        let full = dir_of(&f.path).join(&path.node);
        let shown = full.to_string_lossy().replace('\\', "/");
        let text = match self.loader.read_list(&full) {
            Ok(t) => t,
            Err(e) => {
                self.diags
                    .push(e.diagnostic(PackFile::List, &shown).at(path.span.clone()));
                return None;
            }
        };
        let fpath = full.to_string_lossy().replace('\\', "/");
        let index = LineIndex::new(&text);
        let mut out = Vec::new();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            let content = line.trim_end_matches(['\n', '\r']);
            let trimmed = content.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let lead = content.len() - content.trim_start().len();
            let span = index.span(&fpath, &text, start + lead, start + lead + trimmed.len());
            let lit = match ty {
                ListType::String => Literal::Str(trimmed.to_string()),
                ListType::Port | ListType::Int => match trimmed.parse::<i64>() {
                    Ok(i) => Literal::Int(i),
                    Err(_) => Literal::Str(trimmed.to_string()),
                },
                ListType::Ip | ListType::Cidr => match trimmed.split_once('/') {
                    Some((a, p)) => match (a.parse(), p.parse::<u8>()) {
                        (Ok(ip), Ok(p)) => Literal::Cidr(ip, p),
                        _ => Literal::Str(trimmed.to_string()),
                    },
                    None => match trimmed.parse() {
                        Ok(ip) => Literal::Ip(ip),
                        Err(_) => Literal::Str(trimmed.to_string()),
                    },
                },
            };
            out.push(Spanned::new(lit, span));
        }
        Some(out)
    }

    fn rule(&mut self, f: &ast::File, r: &ast::RuleDecl) -> Option<Rule> {
        let start = self.diags.len();
        self.broken_names.clear();
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut dup = |key: &'static str, span: &Span, diags: &mut Vec<Diagnostic>| {
            if let Some(first) = seen.get(key) {
                diags.push(
                    Diagnostic::error(
                        "E0204",
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
                            let mut d =
                                Diagnostic::error("E0210", format!("unknown source `{}`", s.node))
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
                    Diagnostic::error("E0203", format!("rule `{}` has no `{key}`", r.name.node))
                        .at(r.name.span.clone())
                        .found(format!("no `{key}` clause"))
                        .expected(format!("a `{key}` clause"))
                        .hint(format!("add `{what}` to the rule")),
                );
            }
        }
        if !source_seen {
            self.diags.push(
                Diagnostic::error("E0203", format!("rule `{}` has no `source`", r.name.node))
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
                    Diagnostic::error(
                        "E0240",
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
                                Diagnostic::error(
                                    "E0241",
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
                            Diagnostic::error(
                                "E0241",
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
                    Diagnostic::error("E0263", format!("duplicate test name {:?}", t.name.node))
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

    fn meta(&mut self, m: &mut MetaDraft, key: &'static str, value: &MetaValue) {
        match (key, value) {
            ("id", MetaValue::Text(t)) => {
                if is_uuid(&t.node) {
                    m.id = Some(t.node.to_lowercase());
                } else {
                    self.diags.push(
                        Diagnostic::error("E0202", "invalid rule id")
                            .at(t.span.clone())
                            .found(format!("{:?}", t.node))
                            .expected("a UUID: 8-4-4-4-12 hexadecimal digits, e.g. \"3f6c8a52-6d0e-4c1b-9a57-2b8f1e0c7d41\"")
                            .hint("the id becomes the Sigma rule id and must never change; generate one with `uuidgen`"),
                    );
                }
            }
            ("title", MetaValue::Text(t)) => {
                if t.node.trim().is_empty() {
                    self.diags.push(
                        Diagnostic::error("E0207", "empty title")
                            .at(t.span.clone())
                            .found(format!("{:?}", t.node))
                            .expected("a short description of what the rule detects"),
                    );
                } else if let Some((i, c)) = t
                    .node
                    .char_indices()
                    .find(|(_, c)| crate::ir::breaks_line(*c))
                {
                    let at = t.node[..i].chars().count();
                    self.diags.push(
                        Diagnostic::error("E0208", "title with a line break or control character")
                            .at(t.span.clone())
                            .found(format!("{:?} at character {}", c, at + 1))
                            .expected("one line of text, without line breaks or control characters")
                            .hint("the title becomes a comment line in KQL and a Sigma title; put details in `description`"),
                    );
                } else if t.node.chars().count() > MAX_TITLE {
                    self.diags.push(
                        Diagnostic::error("E0208", "title too long")
                            .at(t.span.clone())
                            .found(format!("{} characters", t.node.chars().count()))
                            .expected(format!("at most {MAX_TITLE} characters"))
                            .hint("pySigma refuses a longer title; put details in `description`"),
                    );
                } else {
                    m.title = Some(t.node.clone());
                }
            }
            ("description", MetaValue::Text(t)) => m.description = Some(t.node.clone()),
            ("author", MetaValue::Text(t)) => m.author = Some(t.node.clone()),
            ("date" | "modified", MetaValue::Text(t)) => {
                if values::is_date(&t.node) {
                    if key == "date" {
                        m.date = Some(t.node.clone());
                    } else {
                        m.modified = Some(t.node.clone());
                    }
                } else {
                    self.diags.push(
                        Diagnostic::error("E0206", format!("invalid `{key}`"))
                            .at(t.span.clone())
                            .found(format!("{:?}", t.node))
                            .expected("a date as \"YYYY-MM-DD\"")
                            .hint("four-digit year, two-digit month and day, and a day that exists in that month"),
                    );
                }
            }
            ("status", MetaValue::Symbol(s)) => {
                const ALL: [(&str, Status); 5] = [
                    ("stable", Status::Stable),
                    ("test", Status::Test),
                    ("experimental", Status::Experimental),
                    ("deprecated", Status::Deprecated),
                    ("unsupported", Status::Unsupported),
                ];
                m.status = self.symbol(s, "status", &ALL);
            }
            ("severity", MetaValue::Symbol(s)) => {
                const ALL: [(&str, Level); 5] = [
                    ("informational", Level::Informational),
                    ("low", Level::Low),
                    ("medium", Level::Medium),
                    ("high", Level::High),
                    ("critical", Level::Critical),
                ];
                m.severity = self.symbol(s, "severity", &ALL);
            }
            ("confidence", MetaValue::Symbol(s)) => {
                const ALL: [(&str, Confidence); 3] = [
                    ("low", Confidence::Low),
                    ("medium", Confidence::Medium),
                    ("high", Confidence::High),
                ];
                m.confidence = self.symbol(s, "confidence", &ALL);
            }
            ("attack", MetaValue::AttackIds(ids)) => self.attack_ids(m, ids),
            ("references", MetaValue::Texts(v)) => {
                m.references = v.iter().map(|t| t.node.clone()).collect()
            }
            ("falsepositives", MetaValue::Texts(v)) => {
                m.false_positives = v.iter().map(|t| t.node.clone()).collect()
            }
            ("tags", MetaValue::Texts(v)) => {
                for t in v {
                    match tags::check_tag(&t.node) {
                        Ok(()) => m.tags.push(t.node.clone()),
                        Err(d) => self.diags.push(d.at(t.span.clone())),
                    }
                }
            }
            _ => {}
        }
    }

    fn symbol<T: Copy>(&mut self, s: &Spanned<String>, what: &str, all: &[(&str, T)]) -> Option<T> {
        if let Some((_, v)) = all.iter().find(|(n, _)| *n == s.node) {
            return Some(*v);
        }
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        let mut d = Diagnostic::error("E0207", format!("unknown {what} `{}`", s.node))
            .at(s.span.clone())
            .found(format!("`{}`", s.node))
            .expected(format!("one of {}", names.join(", ")));
        if let Some(n) = nearest(&s.node, names.iter().copied()) {
            d = d.hint(format!("did you mean `{n}`?"));
        }
        self.diags.push(d);
        None
    }

    /// `Some(None)`: no aggregation; `Some(Some(a))`: checked; `None`: an error was reported.
    #[allow(clippy::too_many_arguments)]
    fn aggregation(
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
                        Diagnostic::error("E0250", format!("`{what}` needs a `window`"))
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
                    Diagnostic::error("E0255", "window out of range")
                        .at(w.span.clone())
                        .found(w.node.describe())
                        .expected("a duration from 1s to 366d"),
                );
                return None;
            }
            other => {
                let mut d = Diagnostic::error("E0255", "`window` takes a duration")
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
                    Some((FieldRef::Field(k.node.clone()), def.ty))
                } else if self.broken_names.contains(&k.node) {
                    ok = false;
                    None
                } else {
                    let mut names: Vec<&str> =
                        catalogue::fields(source).iter().map(|d| d.name).collect();
                    names.extend(lets.iter().map(|l| l.name.as_str()));
                    let mut d = Diagnostic::error(
                        "E0254",
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
                            Diagnostic::error("E0254", format!("`{}` is grouped by twice", k.node))
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
                        Diagnostic::error("E0253", format!("`{}` is already defined", a.name.node))
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
            let mut d = Diagnostic::error("E0252", format!("unknown aggregate function `{func}`"))
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
                    Diagnostic::error("E0252", "count() takes no field")
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
                Diagnostic::error("E0252", format!("{func}() needs a field"))
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
            self.resolve(arg, &scope)?
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
                    Diagnostic::error(
                        "E0252",
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

    fn test(
        &mut self,
        f: &ast::File,
        source: Source,
        lets: &[Let],
        agg: Option<Option<&Aggregation>>,
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
            if !INPUT_SCHEMAS.contains(&s.node.as_str()) {
                let mut d =
                    Diagnostic::error("E0264", format!("unknown input schema `{}`", s.node))
                        .at(s.span.clone())
                        .found(format!("`{}`", s.node))
                        .expected(format!("one of {}", INPUT_SCHEMAS.join(", ")));
                if let Some(n) = nearest(&s.node, INPUT_SCHEMAS.iter().copied()) {
                    d = d.hint(format!("did you mean `{n}`?"));
                }
                self.diags.push(d);
                ok = false;
            }
        }
        if ok {
            self.lint_test(f, source, t);
        }
        let count = t.expect.count.node as usize;
        if t.expect.alerts.len() > count {
            self.diags.push(
                Diagnostic::error(
                    "E0261",
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
        match agg {
            Some(a) => {
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
            None => {
                for d in catalogue::fields(source) {
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
                        Diagnostic::error(
                            "E0265",
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
                    let mut d = Diagnostic::error(
                        "E0262",
                        format!("an alert of this rule has no `{}`", k.node),
                    )
                    .at(k.span.clone())
                    .found(format!("`{}`", k.node))
                    .expected(if agg.is_some() {
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

#[derive(Default)]
struct MetaDraft {
    id: Option<String>,
    title: Option<String>,
    description: Option<String>,
    author: Option<String>,
    date: Option<String>,
    modified: Option<String>,
    status: Option<Status>,
    severity: Option<Level>,
    confidence: Option<Confidence>,
    techniques: Vec<String>,
    analytics: Vec<String>,
    references: Vec<String>,
    false_positives: Vec<String>,
    tags: Vec<String>,
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
        Expr::Compare(c) => {
            for r in c.refs() {
                if let FieldRef::Field(n) = r {
                    out.insert(n.clone());
                }
            }
        }
    }
}

/// The names of the lists a condition refers to (`in name`, `startswith name`, ...).
fn lists_named(e: &ast::Expr, out: &mut BTreeSet<String>) {
    match e {
        ast::Expr::And(xs, _) | ast::Expr::Or(xs, _) => xs.iter().for_each(|x| lists_named(x, out)),
        ast::Expr::Not(x, _) => lists_named(x, out),
        ast::Expr::Pred(p) => {
            if let ast::PredOp::In { target, .. } | ast::PredOp::Str { target, .. } = &p.op {
                if let ast::ListRef::Named(n) = target {
                    out.insert(n.node.clone());
                }
            }
        }
        ast::Expr::Compare(_) => {}
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    fn codes(text: &str) -> Vec<&'static str> {
        let fe = crate::frontend(&[crate::SourceFile {
            path: "t.detc".into(),
            text: text.into(),
        }]);
        fe.diagnostics.iter().map(|d| d.code).collect()
    }

    const ID: &str = "0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41";

    /// A duplicated id is reported even when the first rule carrying it has another error (it
    /// used to be compared only among rules that checked clean), and ids compare without case.
    #[test]
    fn duplicate_ids_are_found_whatever_else_is_wrong() {
        let text = format!(
            "rule a {{ id \"{ID}\" title \"a\" severity low source network_connection \
             where remote.prot == 25 }}\n\
             rule b {{ id \"{}\" title \"b\" severity low source network_connection \
             where remote.port == 25 }}\n",
            ID.to_uppercase()
        );
        assert_eq!(codes(&text), vec!["E0220", "E0201"]);
    }

    /// Every error of every rule is reported in one run.
    #[test]
    fn all_errors_of_a_run_are_reported() {
        let text = format!(
            "rule a {{ id \"{ID}\" title \"a\" severity hgih source network_connection \
             where remote.prot == 25 and remote.port == \"25\" window 60 }}\n\
             rule b {{ title \"b\" source network_flow where dst.ip is privat }}\n"
        );
        assert_eq!(
            codes(&text),
            vec!["E0207", "E0220", "E0221", "E0255", "E0203", "E0203", "E0228"]
        );
    }

    /// One mistake, one error: a name whose definition failed is not reported again where it
    /// is used (these each gave a second, misleading error before).
    #[test]
    fn a_broken_definition_is_reported_once() {
        let rule = |body: &str| {
            format!(
                "rule a {{ id \"{ID}\" title \"a\" severity low source network_connection \
                 where remote.port == 25 {body} }}"
            )
        };
        for (body, want) in [
            // A bad window: the aggregation is unknown, so are the keys an alert carries.
            (
                "window 60 group by host aggregate n = count() \
                 test \"t\" events [] expect 1 alert { host: \"WS01\", n: 3 }",
                "E0255",
            ),
            // A bad aggregate: `having` on it.
            (
                "window 1h group by host aggregate total = sum(process.name) having total > 5",
                "E0252",
            ),
            // A bad computed field: grouped by, aggregated, expected.
            (
                "let p = case remote.port == 25 => \"SMTP\", else => 0 window 1h group by p \
                 aggregate n = count(), m = max(p) \
                 test \"t\" events [] expect 1 alert { p: \"SMTP\" }",
                "E0241",
            ),
        ] {
            assert_eq!(codes(&rule(body)), vec![want], "{body}");
        }
    }

    /// A syntax error in the file that declares the lists is one error, not one more per use
    /// of its lists (unknown list) or per list (unused) elsewhere in the pack.
    #[test]
    fn a_file_that_does_not_parse_does_not_cascade() {
        let files = [
            crate::SourceFile {
                path: "lists.detc".into(),
                text: "list ports: port = [25, 587\nlist names: string = [\"a\"]\n".into(),
            },
            crate::SourceFile {
                path: "more_lists.detc".into(),
                text: "list unused_here: int = [1]\n".into(),
            },
            crate::SourceFile {
                path: "rule.detc".into(),
                text: format!(
                    "rule a {{ id \"{ID}\" title \"a\" severity low source network_connection \
                     where remote.port in ports and process.name in names \
                     and remote.port in prots }}"
                ),
            },
        ];
        let fe = crate::frontend(&files);
        let got: Vec<(&str, &str)> = fe
            .diagnostics
            .iter()
            .map(|d| (d.span.as_ref().map_or("", |s| s.path.as_str()), d.code))
            .collect();
        // `prots` is declared nowhere: still unknown.
        assert_eq!(got, vec![("lists.detc", "E0100"), ("rule.detc", "E0230")]);
    }
}

#[cfg(test)]
mod schema_names {
    /// The checker's list of schema names is the evaluator's built-in input schemas, exactly.
    #[test]
    fn input_schema_names_match_the_evaluator() {
        let mut ours: Vec<String> = super::INPUT_SCHEMAS.iter().map(|s| s.to_string()).collect();
        let mut theirs = crate::eval::schema::names();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
    }
}
