//! The checker: ASTs of a pack -> typed IR, collecting every error (not just the first).
//!
//! Order: lists of every file first (lists are shared by the whole pack), then each rule: its
//! metadata, source, computed fields, filter, aggregation and tests. A rule with an error is left
//! out of the pack, but checking goes on so that one run reports every problem.
//!
//! One module per concern, called in that order: lists.rs, then per rule rule.rs (clauses and
//! required metadata; meta.rs, attack_ids.rs and tags.rs for the values), computed.rs, expr.rs
//! (conditions; values.rs for literals), aggregation.rs and rule_tests.rs; lints.rs warns.

use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{List, ListType, Pack, Value};
use crate::load::Loader;
use crate::syntax::ast::{self, Clause};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod aggregation;
mod attack_ids;
mod compare;
mod computed;
mod correlate;
mod deploy;
mod expr;
mod lints;
mod lists;
mod meta;
mod platform;
mod rule;
mod rule_tests;
pub mod tags;
pub mod values;

use lists::lists_named;
use meta::{ast_id, MetaDraft};

/// Input schema names a test may give (`schema NAME`); the evaluator's targets/inputs/ holds them.
pub const INPUT_SCHEMAS: &[&str] = crate::registry::INPUT_NAMES;

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
    /// The rule's `timezone` clause (minutes east of UTC) once checked, else the pack's
    /// ([`pack_timezone`]); `None` when neither gives one or the clause is bad (reported), so
    /// `hour()` there is E0277 only without a clause.
    pub(crate) timezone: Option<i32>,
    /// Whether the rule has a `timezone` clause (valid or not).
    pub(crate) timezone_given: bool,
    /// The platform of the rule being checked, once known (lints read it: a Linux path has case).
    pub(crate) platform: Option<crate::ir::Platform>,
}

/// The pack's time zone (`timezone:` in detc.yaml, minutes east of UTC), if the project config
/// in force ([`crate::config::active`]) gives one: the offset of every rule without a `timezone`
/// clause of its own.
pub(crate) fn pack_timezone() -> Option<i32> {
    crate::config::active().and_then(|c| c.timezone.as_ref().map(|t| t.value.minutes))
}

/// Checks every file of a pack. The pack is `None` only when nothing could be checked at all;
/// callers treat any error diagnostic as failure.
pub fn check(files: Vec<ast::File>, loader: &dyn Loader) -> (Option<Pack>, Vec<Diagnostic>) {
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
///
/// The files are taken by value: each rule's syntax tree is dropped once the rule is checked, so
/// a large pack never holds every tree and every checked rule at once.
pub fn check_partial(
    mut files: Vec<ast::File>,
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
        timezone: None,
        timezone_given: false,
        platform: None,
    };
    for f in &files {
        for l in &f.lists {
            c.list(f, l);
        }
    }
    // A list is used when a rule's text refers to it, whether or not that rule checks clean: a
    // misspelt field beside `in name` is one error, not also an unused list.
    for f in &files {
        for r in &f.rules {
            for cl in &r.clauses {
                match &cl.node {
                    Clause::Where(e) | Clause::Having(e) => lists_named(e, &mut c.used_lists),
                    Clause::Let { arms, .. } => arms
                        .iter()
                        .for_each(|(e, _)| lists_named(e, &mut c.used_lists)),
                    Clause::Correlate(k) => k
                        .steps
                        .iter()
                        .filter_map(|s| s.filter.as_ref())
                        .for_each(|e| lists_named(e, &mut c.used_lists)),
                    _ => {}
                }
            }
        }
    }
    // Sized once: a pack of 50,000 rules would otherwise hold the old and the doubled buffer
    // (a rule is about 1 KB) at the moment of its last growth.
    let mut rules = Vec::with_capacity(files.iter().map(|f| f.rules.len()).sum());
    let mut names: BTreeMap<String, Span> = BTreeMap::new();
    let mut ids: BTreeMap<String, Span> = BTreeMap::new();
    for f in &mut files {
        let decls = std::mem::take(&mut f.rules);
        let f = &*f;
        // By value: each rule's tree is freed as soon as it is checked.
        for r in decls {
            if let Some(first) = names.get(&r.name.node) {
                c.diags.push(
                    Diagnostic::new(
                        Code::E0200,
                        format!("duplicate rule name `{}`", r.name.node),
                    )
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
            if let Some((id, span)) = ast_id(&r) {
                if let Some(first) = ids.get(&id) {
                    dup_id = true;
                    c.diags.push(
                        Diagnostic::new(Code::E0201, format!("duplicate rule id {id}"))
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
            if let Some(rule) = c.rule(f, &r) {
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
                Diagnostic::new(Code::W0236, format!("list `{name}` is never used"))
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

pub(super) fn dir_of(path: &str) -> PathBuf {
    Path::new(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

impl Checker<'_> {
    /// Whether an error was reported since `self.diags` had `start` entries.
    fn errors_since(&self, start: usize) -> bool {
        self.diags[start..].iter().any(Diagnostic::is_error)
    }
}

#[cfg(test)]
mod tests {
    fn codes(text: &str) -> Vec<&'static str> {
        let fe = crate::frontend(&[crate::SourceFile {
            path: "t.detc".into(),
            text: text.into(),
        }]);
        fe.diagnostics.iter().map(|d| d.code.as_str()).collect()
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
            .map(|d| {
                (
                    d.span.as_ref().map_or("", |s| s.path.as_str()),
                    d.code.as_str(),
                )
            })
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
