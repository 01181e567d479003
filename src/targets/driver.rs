//! The compile driver: one rule for one profile ([`compile_rule`]), a pack for one target or all
//! ([`compile_pack`]), returning queries and diagnostics as data (the CLI writes files).

use super::ctx::Ctx;
use super::profile::{load_profiles, Language, Profile, SourceMap, SourceOptions};
use super::{kql, sigma, spl};
use crate::diag::{Code, Diagnostic, Kind};
use crate::ir::{self, Rule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One emitted query file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Emitted {
    pub rule: String,
    pub target: String,
    /// `<rule name>.<kql|yml|spl>`
    pub file_name: String,
    pub text: String,
    pub warnings: Vec<Diagnostic>,
}

/// What `compile_pack` produced: every query, and every diagnostic (errors, warnings, notes).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompileResult {
    pub outputs: Vec<Emitted>,
    pub diagnostics: Vec<Diagnostic>,
    /// With `all`, each rule/target pair the target cannot express (also a W0900 in
    /// `diagnostics`), as data: the CLI shows these as one table line each.
    pub skipped: Vec<Skipped>,
}

/// A rule not emitted for a target with `--target all`, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub rule: String,
    pub target: String,
    /// The refusal's own code (E0901 no table, E0902 a field the target cannot read...).
    pub code: Code,
    pub reason: String,
}

impl CompileResult {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.is_error())
    }
}

/// Compiles one rule for one profile.
pub fn compile_rule(rule: &Rule, profile: &Profile) -> Result<Emitted, Vec<Diagnostic>> {
    if let Some(c) = &rule.correlation {
        // Each step reads the entry of its source for the rule's platform ([`source_entry`]),
        // as a rule of one source does. Sigma lowers a correlation to temporal correlation rules, KQL to joins, SPL to one
        // search with running statistics by the keys.
        let (text, warnings) = if profile.language == Language::Sigma {
            sigma::emit_correlate(rule, c, profile)?
        } else {
            super::correlate::compile(rule, c, profile)?
        };
        return Ok(Emitted {
            rule: rule.name.clone(),
            target: profile.name.clone(),
            file_name: format!("{}.{}", rule.name, profile.extension),
            text,
            warnings,
        });
    }
    let src = source_entry(rule, rule.source, &rule.span, profile).map_err(|d| vec![d])?;
    let ctx = Ctx::new(rule, profile, src)?;
    refuse_list_tests(rule, profile, &ctx)?;
    // The source's options are those of the profile's language (the loader checks it).
    let (text, mut warnings) = match &src.options {
        SourceOptions::Kql(o) => kql::emit(&ctx, o)?,
        SourceOptions::Sigma(o) => sigma::emit(&ctx, o)?,
        SourceOptions::Spl(o) => spl::emit(&ctx, o)?,
    };
    // A KQL or SPL query is what one run returns, and its deployed artefact carries the
    // suppression; a Sigma rule is deployed by whoever converts it, and the format has no field
    // for suppression (the specification's rule attributes), so the rule goes without it.
    if let (SourceOptions::Sigma(_), Some(s)) = (&src.options, &rule.suppress) {
        let by = if s.keys.is_empty() {
            String::new()
        } else {
            let keys: Vec<&str> = s.keys.iter().map(ir::FieldRef::name).collect();
            format!(" by {}", keys.join(", "))
        };
        warnings.push(ctx.warn(
            Code::W0910,
            format!(
                "`suppress {}{by}` is not in the Sigma rule: the Sigma format has no suppression field; configure it where the rule is deployed",
                super::duration_text(s.duration)
            ),
        ));
    }
    // Sigma files are named by SigmaHQ's convention: a prefix per logsource, then the rule.
    let prefix = match &src.options {
        SourceOptions::Sigma(o) => o.file_prefix.as_deref().unwrap_or(""),
        _ => "",
    };
    Ok(Emitted {
        rule: rule.name.clone(),
        target: profile.name.clone(),
        file_name: format!("{prefix}{}.{}", rule.name, profile.extension),
        text,
        warnings,
    })
}

/// The one lookup of a source in a profile: the entry that reads `source`'s events on the rule's
/// platform (the default entry, or one of its `platforms`). E0901 (at `span`) when the profile
/// has no table for the source, E0308 when it has none for the platform. Every backend reads its
/// table and columns through this (a rule, each step of a correlation, deployment entities), so
/// that no part of a query reads another platform's names.
pub(crate) fn source_entry<'p>(
    rule: &Rule,
    source: ir::Source,
    span: &crate::diag::Span,
    profile: &'p Profile,
) -> Result<&'p SourceMap, Diagnostic> {
    let top = source_map(rule, source, span, profile)?;
    if let Some(s) = top.for_platform(rule.platform) {
        return Ok(s);
    }
    let p = rule.platform.map_or("", ir::Platform::name);
    Err(Diagnostic::new(
        Code::E0308,
        format!(
            "rule `{}`: target `{}` has no table for source `{}` on platform {p}",
            rule.name,
            profile.name,
            source.name()
        ),
    )
    .at(span.clone())
    .found(format!("source {} on {p}", source.name()))
    .expected(format!(
        "a platform {} reads {} of: {}",
        profile.name,
        source.name(),
        top.platform_names().join(", ")
    ))
    .hint(format!(
        "{} reads this source only where that platform's logs land; compile the rule for another target (`detc targets`), or add `targets not [{}]`",
        profile.name, profile.name
    )))
}

/// A list field tested element by element (`attachment.types in [...]`, any element) is
/// lowered only where the target's own matching is "any element" on a list value: Sigma (a
/// value list in the event matches when one element does, as rsigma-eval and the Zeek field
/// names have it). KQL and SPL compare a whole cell (a dynamic array, a multivalue field whose
/// `where` and `tstats` readings are not documented element by element): refused (E0904).
fn refuse_list_tests(rule: &Rule, profile: &Profile, ctx: &Ctx<'_>) -> Result<(), Vec<Diagnostic>> {
    if profile.language == Language::Sigma {
        return Ok(());
    }
    fn first_list(e: &ir::Expr) -> Option<&ir::Predicate> {
        match e {
            ir::Expr::And(xs) | ir::Expr::Or(xs) => xs.iter().find_map(first_list),
            ir::Expr::Not(x) => first_list(x),
            ir::Expr::Pred(p) if p.each => Some(p),
            _ => None,
        }
    }
    let found = std::iter::once(&rule.filter)
        .chain(rule.lets.iter().flat_map(|l| l.arms.iter().map(|(e, _)| e)))
        .find_map(first_list);
    match found {
        None => Ok(()),
        Some(p) => Err(vec![ctx.refuse(
            &format!("a test of list field `{}` element by element", p.field.name()),
            "its columns hold one value per row; no element-by-element reading of a list is proven for this language",
            &p.span,
        )]),
    }
}

/// The table of `source` in `profile` (its default entry), or E0901 (at `span`) naming the
/// sources it has; [`source_entry`] applies the platform.
fn source_map<'p>(
    rule: &Rule,
    source: ir::Source,
    span: &crate::diag::Span,
    profile: &'p Profile,
) -> Result<&'p super::profile::SourceMap, Diagnostic> {
    let Some(src) = profile.sources.get(source.name()) else {
        let supported: Vec<&str> = profile.sources.keys().map(String::as_str).collect();
        let why = profile
            .refuses
            .get(source.name())
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        return Err(Diagnostic::new(
            Code::E0901,
            format!(
                "rule `{}`: target `{}` has no table for source `{}`{why}",
                rule.name,
                profile.name,
                source.name()
            ),
        )
        .at(span.clone())
        .found(format!("source {}", source.name()))
        .expected(format!(
            "a source of {}: {}",
            profile.name,
            supported.join(", ")
        )));
    };
    Ok(src)
}

/// E0915: a target whose backend does not lower a correlation of several events (Sigma, KQL
/// and SPL do; docs/TARGETS.md, "Correlation"). Refused by name, before anything reads the rule's
/// `source` and `filter`, which stand in for no step.
pub(super) fn refuse_correlation(
    rule: &Rule,
    c: &ir::Correlation,
    profile: &Profile,
) -> Diagnostic {
    let kind = if c.ordered {
        "an ordered correlation"
    } else {
        "a correlation"
    };
    Diagnostic::new(
        Code::E0915,
        format!(
            "rule `{}`: {kind} of several events cannot be expressed in target `{}`: this backend does not lower correlations yet",
            rule.name, profile.name
        ),
    )
    .at(c.span.clone())
    .found(format!("`correlate` over {} steps", c.steps.len()))
    .expected(format!("a rule over one source for target `{}`", profile.name))
    .hint("the evaluator (`detc test`, `detc run`) runs correlations; for a SIEM, compile each step as its own rule and correlate there")
}

/// Compiles every rule of `pack` for `target` (a profile name, or `all`). With `all`, a rule a
/// profile cannot express is a warning W0900 "not emitted for X because ..."; with an explicit
/// target it is an error. An unknown target name is an error (E0906) with the known names.
pub fn compile_pack(pack: &ir::Pack, target: &str) -> CompileResult {
    let mut res = CompileResult::default();
    let all = match load_profiles() {
        Ok(p) => p,
        Err(d) => {
            res.diagnostics.push(d);
            return res;
        }
    };
    let chosen: Vec<&Profile> = if target == "all" {
        all.iter().collect()
    } else {
        match all.iter().find(|p| p.name == target) {
            Some(p) => vec![p],
            None => {
                let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                let mut d = Diagnostic::new(Code::E0906, format!("unknown target `{target}`"))
                    .found(target.to_string())
                    .expected(format!("one of: {}, or all", names.join(", ")));
                if let Some(n) = crate::diag::nearest(target, names.iter().copied()) {
                    d = d.hint(format!("did you mean `{n}`?"));
                }
                res.diagnostics.push(d);
                return res;
            }
        }
    };
    for p in chosen {
        let first_output = res.outputs.len();
        // A rule whose `targets` clause leaves this profile out is not compiled for it.
        for rule in pack.rules.iter().filter(|r| r.is_for(&p.name)) {
            match compile_rule(rule, p) {
                Ok(e) => {
                    res.diagnostics.extend(e.warnings.iter().cloned());
                    res.outputs.push(e);
                }
                Err(ds) => {
                    for d in ds {
                        // A refusal ("this target cannot express this rule") is W0900 with `all`.
                        if target == "all" && d.code.kind() == Kind::Refusal {
                            let reason = d
                                .message
                                .strip_prefix(&format!("rule `{}`: ", rule.name))
                                .unwrap_or(&d.message);
                            res.skipped.push(Skipped {
                                rule: rule.name.clone(),
                                target: p.name.clone(),
                                code: d.code,
                                reason: reason.to_string(),
                            });
                            let mut w = Diagnostic::new(
                                Code::W0900,
                                format!(
                                    "rule `{}` not emitted for {} because: {reason}",
                                    rule.name, p.name,
                                ),
                            );
                            w.span = d.span.clone().or(Some(rule.span.clone()));
                            w.found = d.found.clone();
                            w.expected = d.expected.clone();
                            w.hints = d.hints.clone();
                            w.hints.push(format!("original error {}", d.code));
                            res.diagnostics.push(w);
                        } else {
                            res.diagnostics.push(d);
                        }
                    }
                }
            }
        }
        if p.language == Language::Sigma {
            let emitted = &res.outputs[first_output..];
            res.diagnostics
                .extend(sigma_name_clashes(pack, emitted, &p.name));
        }
    }
    res
}

/// Sigma rules refer to each other by `name` (a correlation's `rules:`), and pySigma resolves
/// those names across every rule it loads, the whole output folder: a name given to two rules
/// (a rule literally named like another's split base rule, `x__smtp`) would make a correlation
/// count the wrong rule's events. Names are read back from the emitted YAML, as pySigma reads
/// them; each name met a second time is E0907, naming both detc rules. Refused rather than
/// renamed: a name that changed with the rest of the pack would not be stable.
fn sigma_name_clashes(pack: &ir::Pack, emitted: &[Emitted], target: &str) -> Vec<Diagnostic> {
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    let mut out = Vec::new();
    for e in emitted {
        for doc in serde_yaml::Deserializer::from_str(&e.text) {
            let Ok(doc) = serde_yaml::Value::deserialize(doc) else {
                continue;
            };
            let Some(name) = doc.get("name").and_then(serde_yaml::Value::as_str) else {
                continue;
            };
            match owner.get(name) {
                None => {
                    owner.insert(name.to_string(), &e.rule);
                }
                Some(first) => {
                    let mut d = Diagnostic::new(
                        Code::E0907,
                        format!(
                            "rules `{first}` and `{}` both emit a Sigma rule named `{name}` for {target}",
                            e.rule
                        ),
                    )
                    .found(format!("the name `{name}` twice in the Sigma output"))
                    .expected("Sigma rule names unique across the pack (a correlation refers to its base rule by name)")
                    .hint(format!(
                        "rename `{}` or `{first}`: a split correlation's base rules are named `<rule>__<value>`",
                        e.rule
                    ));
                    if let Some(r) = pack.rules.iter().find(|r| r.name == e.rule) {
                        d = d.at(r.span.clone());
                    }
                    out.push(d);
                }
            }
        }
    }
    out
}
