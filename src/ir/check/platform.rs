//! A rule's `platform`: the operating system whose logs it reads. Written (`platform linux`,
//! E0305 for an unknown name), or derived from the platform ATT&CK gives the rule's analytics
//! (AN0380 is Linux's); the two must agree (E0306), and analytics of different platforms need
//! the clause to say which (E0307).

use super::Checker;
use crate::diag::{nearest, Code, Diagnostic, Span};
use crate::ir::attack::catalogue;
use crate::ir::Platform;
use crate::syntax::ast::Spanned;

impl Checker<'_> {
    /// The rule's platform, or `None` when neither the clause nor an analytic names one.
    /// `analytics` are the rule's checked analytic ids; `attack` is where they are written.
    pub(super) fn platform(
        &mut self,
        written: Option<&Spanned<String>>,
        analytics: &[String],
        attack: Option<&Span>,
    ) -> Option<Platform> {
        // (analytic, ATT&CK's platform name, ours) for every analytic of an endpoint platform.
        // The catalogue only for a rule with analytics: parsing it is 13M instructions, half of
        // starting `detc run` on a rule without (the unselective benchmark row's).
        let derived: Vec<(&str, &str, Platform)> = analytics
            .iter()
            .flat_map(|a| {
                catalogue()
                    .platforms_of(a)
                    .iter()
                    .filter_map(move |p| Some((a.as_str(), p.as_str(), Platform::from_attack(p)?)))
            })
            .collect();
        let Some(w) = written else {
            let first = derived.first()?;
            if let Some(other) = derived.iter().find(|d| d.2 != first.2) {
                let mut d = Diagnostic::new(
                    Code::E0307,
                    format!(
                        "the rule's analytics are for different platforms: {} is ATT&CK's {}, {} is its {}",
                        first.0, first.1, other.0, other.1
                    ),
                )
                .found(format!("{} ({}) and {} ({})", first.0, first.1, other.0, other.1))
                .expected("the analytics of one platform: a rule reads one platform's logs")
                .hint(format!(
                    "write one rule per platform, each citing its own analytic ({} in the {} rule, {} in the {} rule)",
                    first.0,
                    first.2.name(),
                    other.0,
                    other.2.name()
                ));
                if let Some(s) = attack {
                    d = d.at(s.clone());
                }
                self.diags.push(d);
                return None;
            }
            return Some(first.2);
        };
        let Some(p) = Platform::by_name(&w.node) else {
            let names: Vec<&str> = Platform::ALL.iter().map(|p| p.name()).collect();
            let mut d = Diagnostic::new(Code::E0305, format!("unknown platform `{}`", w.node))
                .at(w.span.clone())
                .found(format!("`{}`", w.node))
                .expected(format!("one of {}", names.join(", ")));
            d = d.hint(
                match nearest(&w.node.to_lowercase(), names.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "a platform is the operating system whose logs the rule reads; \
                         network devices and cloud services have none: leave the clause out"
                        .to_string(),
                },
            );
            self.diags.push(d);
            return None;
        };
        if let Some((a, name, q)) = derived.iter().find(|d| d.2 != p) {
            self.diags.push(
                Diagnostic::new(
                    Code::E0306,
                    format!("`platform {}` contradicts {a}, which ATT&CK gives for {name}", p.name()),
                )
                .at(w.span.clone())
                .found(format!("`platform {}` and analytic {a} ({name})", p.name()))
                .expected(format!("`platform {}`, or an analytic for {}", q.name(), p.name()))
                .hint(format!(
                    "an analytic is ATT&CK's recipe for one platform's logs: drop the clause to read {name} logs, or cite the {} analytic of the same detection strategy",
                    p.name()
                )),
            );
            return None;
        }
        Some(p)
    }
}
