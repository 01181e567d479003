//! Rule metadata: id, title, dates, status, severity, confidence, references, tags.

use super::{tags, values, Checker};
use crate::diag::{nearest, Code, Diagnostic, Span};
use crate::ir::{Confidence, Level, Meta, Status, MAX_TITLE};
use crate::syntax::ast::{self, Clause, MetaValue, Spanned};

impl Checker<'_> {
    pub(super) fn meta(&mut self, m: &mut MetaDraft, key: &'static str, value: &MetaValue) {
        match (key, value) {
            ("id", MetaValue::Text(t)) => {
                if is_uuid(&t.node) {
                    m.id = Some(t.node.to_lowercase());
                } else {
                    self.diags.push(
                        Diagnostic::new(Code::E0202, "invalid rule id")
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
                        Diagnostic::new(Code::E0207, "empty title")
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
                        Diagnostic::new(Code::E0208, "title with a line break or control character")
                            .at(t.span.clone())
                            .found(format!("{:?} at character {}", c, at + 1))
                            .expected("one line of text, without line breaks or control characters")
                            .hint("the title becomes a comment line in KQL and a Sigma title; put details in `description`"),
                    );
                } else if t.node.chars().count() > MAX_TITLE {
                    self.diags.push(
                        Diagnostic::new(Code::E0208, "title too long")
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
                        Diagnostic::new(Code::E0206, format!("invalid `{key}`"))
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
        let mut d = Diagnostic::new(Code::E0207, format!("unknown {what} `{}`", s.node))
            .at(s.span.clone())
            .found(format!("`{}`", s.node))
            .expected(format!("one of {}", names.join(", ")));
        if let Some(n) = nearest(&s.node, names.iter().copied()) {
            d = d.hint(format!("did you mean `{n}`?"));
        }
        self.diags.push(d);
        None
    }
}

#[derive(Default)]
pub(super) struct MetaDraft {
    pub(super) id: Option<String>,
    pub(super) title: Option<String>,
    pub(super) description: Option<String>,
    pub(super) author: Option<String>,
    pub(super) date: Option<String>,
    pub(super) modified: Option<String>,
    pub(super) status: Option<Status>,
    pub(super) severity: Option<Level>,
    pub(super) confidence: Option<Confidence>,
    pub(super) techniques: Vec<String>,
    pub(super) analytics: Vec<String>,
    pub(super) references: Vec<String>,
    pub(super) false_positives: Vec<String>,
    pub(super) tags: Vec<String>,
}

impl MetaDraft {
    /// The rule's id and metadata, once the clauses that must be there (id, title, severity) were
    /// (their absence is reported when the clauses are read).
    pub(super) fn finish(self) -> Option<(String, Meta)> {
        Some((
            self.id?,
            Meta {
                title: self.title?,
                description: self.description,
                author: self.author,
                date: self.date,
                modified: self.modified,
                status: self.status.unwrap_or(Status::Experimental),
                severity: self.severity?,
                confidence: self.confidence,
                techniques: self.techniques,
                analytics: self.analytics,
                references: self.references,
                false_positives: self.false_positives,
                tags: self.tags,
            },
        ))
    }
}

/// The rule's id as the pack compares it (lowercase), when it is a valid UUID.
pub(super) fn ast_id(r: &ast::RuleDecl) -> Option<(String, Span)> {
    r.clauses.iter().find_map(|c| match &c.node {
        Clause::Meta {
            key,
            value: MetaValue::Text(t),
        } if key.node == "id" && is_uuid(&t.node) => Some((t.node.to_lowercase(), t.span.clone())),
        _ => None,
    })
}

/// Five groups of 8, 4, 4, 4 and 12 hex digits joined by `-`: the dashes at bytes 8, 13, 18 and 23,
/// hex digits everywhere else (checked in place: every rule's id goes through here).
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
