//! Lints: warnings on conditions that check clean but probably do not mean what they say. Each
//! has a code (W028x, docs/DIAGNOSTICS.md) and a hint with the likely fix; `--deny-warnings`
//! makes them errors.

use super::Checker;
use crate::diag::{Code, Diagnostic, Span};
use crate::ir::{catalogue, Case, Op, Platform, Source, Value};
use crate::syntax::ast::{self, ListRef, PredOp};

impl Checker<'_> {
    /// Lints one checked predicate of an event condition: `op` is its IR operator.
    pub(super) fn lint_pred(&mut self, p: &ast::Pred, source: Source, op: &Op) {
        // The values as written, with where each was written.
        let values: Vec<(String, Span)> = match (&p.op, op) {
            (
                PredOp::Eq { value, .. },
                Op::Eq {
                    value: Value::Str(v),
                    ..
                },
            ) => {
                vec![(v.clone(), value.span.clone())]
            }
            (PredOp::In { target, .. }, Op::In { values, .. }) => {
                let strs = values.iter().filter_map(|v| match v {
                    Value::Str(s) => Some(s.clone()),
                    _ => None,
                });
                match target {
                    ListRef::Inline(items, _) => {
                        strs.zip(items.iter().map(|i| i.span.clone())).collect()
                    }
                    ListRef::Named(n) => strs.map(|s| (s, n.span.clone())).collect(),
                }
            }
            _ => return,
        };
        // Linux paths, file and user names have case; its host names (DNS names) do not.
        let ci_field = catalogue::field(source, &p.field.node).is_some_and(|d| d.case_insensitive)
            && (self.platform != Some(Platform::Linux) || p.field.node == "host");
        if let Some((v, span)) = values.iter().find(|(v, _)| v.contains(['*', '?'])) {
            let named = matches!(
                &p.op,
                PredOp::In {
                    target: ListRef::Named(_),
                    ..
                }
            );
            self.diags.push(
                Diagnostic::new(
                    Code::W0280,
                    format!(
                        "{} is compared exactly: `*` and `?` in it are literal characters",
                        literal(v)
                    ),
                )
                .at(span.clone())
                .found(if named {
                    format!("{} in the list, compared with `in`", literal(v))
                } else {
                    format!("{} in an exact comparison", literal(v))
                })
                .expected("a value without wildcards, or a pattern operator")
                .hint(wildcard_fix(&p.field.node, v, ci_field)),
            );
            // One slip, one warning: the hint's operator already has the `~` a
            // case-insensitive field wants (W0282 would repeat it).
            return;
        }
        let case = match op {
            Op::Eq { case, .. } | Op::In { case, .. } => *case,
            _ => return,
        };
        let cased = |s: &str| s.chars().any(|c| c.is_lowercase() || c.is_uppercase());
        if case == Case::Sensitive && ci_field && values.iter().any(|(v, _)| cased(v)) {
            let (written, fix) = match &p.op {
                PredOp::Eq { op, .. } => match op {
                    ast::EqOp::Ne => ("!=", "!~"),
                    _ => ("==", "=~"),
                },
                _ if p.negated => ("not in", "not in~"),
                _ => ("in", "in~"),
            };
            self.diags.push(
                Diagnostic::new(
                    Code::W0282,
                    format!(
                        "`{written}` compares case, but `{}` has none on its platform",
                        p.field.node
                    ),
                )
                .at(p.span.clone())
                .found(format!("`{} {written} ...`", p.field.node))
                .expected(format!("`{fix}`, which compares without case"))
                .hint(format!(
                    "write `{} {fix} ...`: Windows image names, paths, host and user names \
                     match in any case, so the exact comparison misses `{}`",
                    p.field.node,
                    values
                        .iter()
                        .map(|(v, _)| v)
                        .find(|v| cased(v))
                        .map(|v| flip_case(v))
                        .unwrap_or_default()
                )),
            );
        }
    }
}

/// The operator the user probably meant for a value with wildcards (`~` on a field without case).
fn wildcard_fix(field: &str, v: &str, any_case: bool) -> String {
    let inner = v.trim_matches('*');
    let plain = !inner.is_empty() && !inner.contains(['*', '?']);
    let (lead, trail) = (v.starts_with('*'), v.ends_with('*'));
    let t = if any_case { "~" } else { "" };
    let lit = literal(inner);
    match (plain, lead, trail) {
        (true, true, true) => format!("to match a part, write `{field} contains{t} {lit}`"),
        (true, true, false) => format!("to match the end, write `{field} endswith{t} {lit}`"),
        (true, false, true) => format!("to match the start, write `{field} startswith{t} {lit}`"),
        _ => format!(
            "for a pattern, write `{field} matches{t}` with a regular expression (`*` is `.*`, `?` is `.`)"
        ),
    }
}

/// A string as the user would write it in detc: raw ('...') when it has backslashes and no
/// quote, so a Windows path reads as written; otherwise quoted with escapes.
fn literal(v: &str) -> String {
    if v.contains('\\') && !v.contains('\'') && !v.chars().any(char::is_control) {
        format!("'{v}'")
    } else {
        format!("{v:?}")
    }
}

/// The value with its letters' case swapped (the spelling the exact comparison misses).
fn flip_case(v: &str) -> String {
    let upper = v.to_uppercase();
    if upper != v {
        upper
    } else {
        v.to_lowercase()
    }
}

impl Checker<'_> {
    /// W0283: a must-not-alert test whose fixture cannot hold an event of the rule's source
    /// passes whatever the rule says. Decided statically where the fixture says what it is: its
    /// `schema`, or the evaluator's own schema detection on the first inline event or the first
    /// record of the fixture file (not gzip); and, for inline events, whether any of them maps
    /// to an event of the source at all (a Sysmon process-creation row is not a connection).
    pub(super) fn lint_test(&mut self, f: &ast::File, source: Source, t: &ast::TestDecl) {
        use crate::eval::read::{self, JsonRecord, Layout, Rows};
        use crate::eval::{run, schema};
        if t.expect.count.node != 0 {
            return; // a must-alert test on such a fixture fails when run
        }
        // A shipped schema that does not parse is a bug reported (E0802) when events are read.
        let Ok(schemas) = schema::all() else {
            return;
        };
        // The layout and first record, as the evaluator will see them: inline events are JSON
        // lines; the start of a fixture file (not gzip) is sniffed by the reader the evaluator
        // uses.
        let (layout, first): (Layout, Option<String>) = match &t.events {
            ast::TestEventsAst::Inline(objs) => (
                Layout::JsonLines,
                objs.first()
                    .map(|o| serde_json::Value::Object(o.node.clone()).to_string()),
            ),
            ast::TestEventsAst::File(p) if !p.node.ends_with(".gz") => {
                // Opened as `detc test` opens it (confined and capped by the loader, binary
                // refused by the evaluator's reader), and only its start is read.
                let full = super::dir_of(&f.path).join(&p.node);
                let Ok(raw) = self.loader.open_fixture(&full) else {
                    return;
                };
                let Ok(input) = read::open_reader(&full, raw) else {
                    return;
                };
                let Ok(mut rows) = Rows::new(input, run::DEFAULT_MAX_LINE) else {
                    return;
                };
                let Some(layout) = rows.layout.clone() else {
                    return; // an empty file: no events, the expectation decides
                };
                // A lint only peeks: a row that does not read is reported by the test that reads
                // the fixture (E0260 / the run), not here.
                let first = rows.next_row().ok().flatten().and_then(|(_, r)| r.ok());
                (layout, first)
            }
            ast::TestEventsAst::File(_) => (Layout::JsonLines, None),
        };
        if t.schema.is_none() && first.is_none() {
            return;
        }
        let forced = t.schema.as_ref().map(|s| s.node.as_str());
        let Ok(chosen) = run::choose_schema(
            &t.name.node,
            &schemas,
            forced,
            &layout,
            first.as_deref(),
            &[source],
        ) else {
            return; // an unknown schema is E0264; an undetectable file fails when run
        };
        let problem = if chosen.source != source {
            Some(format!(
                "its fixture is {} data, which holds {} events",
                chosen.name,
                chosen.source.name()
            ))
        } else if let ast::TestEventsAst::Inline(objs) = &t.events {
            let none_applies = !objs.is_empty()
                && objs.iter().all(|o| {
                    matches!(
                        chosen.map(&JsonRecord(o.node.clone())),
                        Ok(schema::Mapped::NotApplicable)
                    )
                });
            none_applies.then(|| {
                format!(
                    "none of its {} events is a {} event of the {} schema",
                    objs.len(),
                    source.name(),
                    chosen.name
                )
            })
        } else {
            None
        };
        if let Some(why) = problem {
            self.diags.push(
                Diagnostic::new(
                    Code::W0283,
                    format!("test {:?} cannot fail: {why}", t.name.node),
                )
                .at(t.name.span.clone())
                .found(format!(
                    "a must-not-alert test over no {} event",
                    source.name()
                ))
                .expected(format!(
                    "a fixture of {} events that come close to alerting",
                    source.name()
                ))
                .hint(format!(
                    "use {} events (schema {})",
                    source.name(),
                    schemas
                        .iter()
                        .filter(|s| s.source == source)
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join("|")
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    fn warnings(cond: &str) -> Vec<(&'static str, String)> {
        let text = format!(
            "rule r {{ id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\" title \"t\" severity low \
             source network_connection where {cond} }}"
        );
        let fe = crate::frontend(&[crate::SourceFile {
            path: "t.detc".into(),
            text,
        }]);
        assert!(fe.pack.is_some(), "{cond}: {:?}", fe.diagnostics);
        fe.diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.hints.join(" ")))
            .collect()
    }

    /// The issue's slip is one warning whose fix is the case-insensitive `contains~`, not a
    /// wildcard warning plus a case warning about a literal star.
    #[test]
    fn the_issue_s_wildcard_path_is_one_warning() {
        assert_eq!(
            warnings(r"process.path == '*\AppData\*'"),
            [(
                "W0280",
                r"to match a part, write `process.path contains~ '\AppData\'`".to_string()
            )]
        );
    }

    /// Which comparisons are linted, and which are not.
    #[test]
    fn what_is_linted() {
        let codes = |c: &str| warnings(c).into_iter().map(|(c, _)| c).collect::<Vec<_>>();
        assert_eq!(codes(r#"process.name in ["a.exe", "b.exe"]"#), ["W0282"]);
        assert_eq!(codes(r#"user != "SYSTEM""#), ["W0282"]);
        assert_eq!(codes(r#"process.command_line == "x?""#), ["W0280"]);
        assert_eq!(codes(r#"process.command_line in ["a", "*b"]"#), ["W0280"]);
        for clean in [
            r#"process.name in~ ["a.exe", "b.exe"]"#,
            r#"process.name =~ "a.exe""#,
            r#"host == "1234""#, // no letters: no case to get wrong
            r#"process.command_line == "-enc""#, // a command line has case
            r#"process.path contains "*""#, // not an exact comparison
            "remote.port == 25 and (direction == outbound or remote.port == 587)",
            "(remote.port == 25 and direction == outbound) or remote.port == 587",
            "remote.port == 25 or remote.port == 587 or remote.port == 465",
        ] {
            assert_eq!(codes(clean), Vec::<&str>::new(), "{clean}");
        }
        assert_eq!(
            codes("remote.port == 25 or remote.port == 587 and direction == outbound"),
            ["W0281"]
        );
    }
}

#[cfg(test)]
mod vacuous_tests {
    fn codes(test: &str) -> Vec<&'static str> {
        let text = format!(
            "rule r {{ id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\" title \"t\" severity low \
             source network_connection where remote.port == 25 {test} }}"
        );
        // In rules/, so fixture paths resolve like the pack's own.
        let fe = crate::frontend(&[crate::SourceFile {
            path: "rules/t.detc".into(),
            text,
        }]);
        fe.diagnostics.iter().map(|d| d.code.as_str()).collect()
    }

    /// W0283 reads a fixture file's kind as the evaluator does, whatever its format (a Zeek TSV
    /// log, JSON lines) and without a `schema`; a fixture of the rule's source is not linted,
    /// nor is a must-alert test (it fails when run).
    #[test]
    fn fixture_files_are_sniffed_like_the_evaluator_does() {
        let zeek_tsv = "\"fixtures/realdata/zeek_pop3_basic_conn.unmasked.log\"";
        let zeek_json = "\"fixtures/an0382/exfil.jsonl\"";
        let sysmon = "\"fixtures/an0379/mail_clients.jsonl\"";
        assert_eq!(
            codes(&format!("test \"t\" events {zeek_tsv} expect no alert")),
            ["W0283"]
        );
        assert_eq!(
            codes(&format!("test \"t\" events {zeek_json} expect no alert")),
            ["W0283"]
        );
        assert!(codes(&format!("test \"t\" events {sysmon} expect no alert")).is_empty());
        assert!(codes(&format!("test \"t\" events {zeek_tsv} expect 1 alert")).is_empty());
    }

    /// Inline events of the right schema that are none of them events of the source (Sysmon
    /// process creations under a connection rule) make a vacuous test too.
    #[test]
    fn inline_events_that_are_not_events_of_the_source() {
        let ev = |id: u32| {
            format!(
                "{{ \"EventID\": {id}, \"UtcTime\": \"2026-11-24 10:00:00.000\", \
                 \"Computer\": \"WS01\", \"Image\": \"C:\\\\x.exe\", \"DestinationPort\": 25, \
                 \"DestinationIp\": \"203.0.113.7\", \"SourceIp\": \"10.0.0.5\", \
                 \"SourcePort\": 50000, \"Protocol\": \"tcp\", \"Initiated\": \"true\" }}"
            )
        };
        let t = |id| {
            format!(
                "test \"t\" events [ {} ] schema sysmon expect no alert",
                ev(id)
            )
        };
        assert_eq!(codes(&t(1)), ["W0283"]);
        assert!(codes(&t(3)).is_empty());
    }
}
