//! `attack` ids: their form, then what the embedded ATT&CK catalogue (v18.1) says of them:
//! unknown, revoked (with the successor), deprecated, and whether an analytic detects one of the
//! rule's techniques.

use super::{Checker, MetaDraft};
use crate::diag::{nearest, Code, Diagnostic};
use crate::ir::attack::catalogue;
use crate::syntax::ast::Spanned;

impl Checker<'_> {
    pub(super) fn attack_ids(&mut self, m: &mut MetaDraft, ids: &[Spanned<String>]) {
        let cat = catalogue();
        let mut analytics = Vec::new();
        for id in ids {
            if is_technique(&id.node) {
                match cat.technique(&id.node) {
                    None => self.diags.push(unknown(id, "technique", || {
                        nearest(&id.node, cat.techniques.keys().map(String::as_str))
                    })),
                    Some(t) => {
                        if let Some(by) = &t.revoked_by {
                            let by_name = cat.technique(by).map_or("", |t| t.name.as_str());
                            self.diags.push(
                                Diagnostic::new(
                                    Code::E0215,
                                    format!(
                                        "ATT&CK revoked {} ({}); it is now {by}",
                                        id.node, t.name
                                    ),
                                )
                                .at(id.span.clone())
                                .found(format!("`{}`, revoked in ATT&CK v{}", id.node, cat.version))
                                .expected("a technique ATT&CK still publishes")
                                .hint(format!("write `{by}` ({by_name}) instead")),
                            );
                            continue;
                        }
                        if t.deprecated {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::W0211,
                                    format!("ATT&CK deprecated {} ({})", id.node, t.name),
                                )
                                .at(id.span.clone())
                                .found(format!("`{}`, deprecated in ATT&CK v{}", id.node, cat.version))
                                .expected("a technique ATT&CK still publishes")
                                .hint("ATT&CK names no successor: map the rule to a current technique, or drop the id"),
                            );
                        }
                        m.techniques.push(id.node.clone());
                    }
                }
            } else if is_analytic(&id.node) {
                if cat.strategy_of(&id.node).is_some() {
                    analytics.push(id);
                } else {
                    self.diags.push(unknown(id, "analytic", || {
                        nearest(&id.node, cat.analytic_strategy.keys().map(String::as_str))
                    }));
                }
            } else {
                self.diags.push(
                    Diagnostic::new(Code::E0205, format!("`{}` is not an ATT&CK technique or analytic id", id.node))
                        .at(id.span.clone())
                        .found(format!("`{}`", id.node))
                        .expected("a technique id (T1071 or T1071.003) or an analytic id (AN0379)")
                        .hint(if id.node.starts_with("TA") || id.node.starts_with("DS") {
                            "tactics follow from the techniques (Sigma gets their `attack.<tactic>` tags); a data source goes in `tags` as \"attack.ds0029\""
                        } else if id.node.starts_with("AN") {
                            "an analytic id is AN and four digits: AN0379"
                        } else {
                            "a technique id is T and four digits, with an optional three-digit sub-technique: T1071.003"
                        }),
                );
            }
        }
        // An analytic is ATT&CK's recipe for detecting a technique: it must be one for a
        // technique the rule claims, or the rule's mapping contradicts itself.
        for a in analytics {
            let Some(s) = cat.strategy_of(&a.node) else {
                continue;
            };
            if s.techniques.iter().any(|t| m.techniques.contains(t)) {
                m.analytics.push(a.node.clone());
                continue;
            }
            self.diags.push(
                Diagnostic::new(
                    Code::E0212,
                    format!(
                        "analytic {} detects {}, which the rule's `attack` does not name",
                        a.node,
                        s.techniques.join(", ")
                    ),
                )
                .at(a.span.clone())
                .found(format!(
                    "`{}` of {} (for {})",
                    a.node,
                    s.id,
                    s.techniques.join(", ")
                ))
                .expected(if m.techniques.is_empty() {
                    "the technique the analytic detects, named in `attack` too".to_string()
                } else {
                    format!(
                        "an analytic of a detection strategy for {}",
                        m.techniques.join(", ")
                    )
                })
                .hint(format!(
                    "add {} to `attack`, or use an analytic of the rule's technique",
                    s.techniques.join(" ")
                )),
            );
        }
    }
}

fn unknown<'a>(
    id: &Spanned<String>,
    what: &str,
    near: impl FnOnce() -> Option<&'a str>,
) -> Diagnostic {
    let cat = catalogue();
    let mut d = Diagnostic::new(
        Code::E0214,
        format!("ATT&CK v{} has no {what} {}", cat.version, id.node),
    )
    .at(id.span.clone())
    .found(format!("`{}`", id.node))
    .expected(format!(
        "an existing {what} id of ATT&CK Enterprise v{}",
        cat.version
    ));
    if let Some(n) = near() {
        let name = cat.technique(n).map(|t| format!(" ({})", t.name));
        d = d.hint(format!("did you mean `{n}`{}?", name.unwrap_or_default()));
    } else if let Some(p) = id
        .node
        .split_once('.')
        .and_then(|(parent, _)| cat.technique(parent))
    {
        let subs: Vec<&str> = cat
            .techniques
            .keys()
            .filter(|k| k.starts_with(&format!("{}.", p.id)))
            .map(String::as_str)
            .collect();
        d = d.hint(if subs.is_empty() {
            format!("{} ({}) has no sub-techniques", p.id, p.name)
        } else {
            format!("the sub-techniques of {} are {}", p.id, subs.join(", "))
        });
    } else {
        d = d.hint("the ids of this version are listed at https://attack.mitre.org");
    }
    d
}

fn is_technique(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

fn is_analytic(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6 && &b[..2] == b"AN" && b[2..].iter().all(u8::is_ascii_digit)
}
