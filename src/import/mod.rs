//! `detc import sigma`: Sigma rules -> formatted, checked detc rule files.
//!
//! | stage | input | output |
//! |---|---|---|
//! | find | paths | the `.yml`/`.yaml` files, each with the folder it is reported under |
//! | parse | one file's text | `rsigma-parser`'s rules (its YAML, modifier and condition grammar) |
//! | translate | one rule | source + condition ([`sigma::translate`]) or a [`sigma::Refusal`] |
//! | write | rule + metadata | detc text, parsed, checked and formatted before it is returned |
//!
//! `rsigma-parser` is the parser because Sigma's YAML conventions (a list of maps is `or`, a map
//! is `and`, `|`-modifiers, `1 of x_*`, wildcard escapes) are its whole job and it is already the
//! differential tests' Sigma front end; a second hand-written reading would be a second meaning.

pub mod correlation;
pub mod expr;
pub mod sigma;
pub mod table;

use crate::diag::{Code, Diagnostic, Span};
use rsigma_parser::SigmaRule;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One rule's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The Sigma file (as found).
    pub file: String,
    /// The folder it is counted under in the summary.
    pub folder: String,
    /// The rule's title, when the file parsed.
    pub title: Option<String>,
    pub result: Result<Imported, Refused>,
}

#[derive(Debug, Clone)]
pub struct Imported {
    /// Path of the `.detc` file, relative to the output folder.
    pub relative: PathBuf,
    pub name: String,
    /// The formatted rule file.
    pub text: String,
    /// What the translation changes and says so (W0909).
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug, Clone)]
pub struct Refused {
    /// What the summary counts (`E0702 unknown field Provider_Name`).
    pub reason: String,
    pub diagnostic: Diagnostic,
}

/// Every `.yml`/`.yaml` file under `paths` (folders recursively, sorted), each with the path
/// of its `.detc` file relative to the output folder: a file given by name lands at the top, one
/// found in a folder keeps its place below that folder.
pub fn find(paths: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>, Diagnostic> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| crate::load::io_error(&shown(p), &e))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(|e| crate::load::io_error(&shown(p), &e))?;
            found.sort();
            for f in found {
                let rel = f.strip_prefix(p).unwrap_or(&f).with_extension("detc");
                out.push((f, rel));
            }
        } else {
            let name = p.file_name().map(PathBuf::from).unwrap_or_default();
            out.push((p.clone(), name.with_extension("detc")));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let path = e.path();
        let ty = e.file_type()?;
        if ty.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

fn shown(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// Imports one Sigma file (its text already read): one outcome per rule document (a file of
/// several rules gets `_2`, `_3`... after its name). See [`import_files`].
pub fn import_text(file: &Path, relative: &Path, text: &str) -> Vec<Outcome> {
    import_files(&[(file.to_path_buf(), relative.to_path_buf(), text.to_string())])
}

/// Imports Sigma files (path, path of its `.detc` file relative to the output folder, text)
/// together: a correlation rule may refer (by `id` or `name`) to base rules of any of them. A
/// base rule that only correlations with `generate: false` refer to (the specification's
/// default: "only the correlation query should be generated") is part of those correlations,
/// not a rule of its own; with `generate: true`, it is imported on its own as well.
pub fn import_files(inputs: &[(PathBuf, PathBuf, String)]) -> Vec<Outcome> {
    let all: Vec<Result<rsigma_parser::SigmaCollection, String>> = inputs
        .iter()
        .map(|(_, _, t)| rsigma_parser::parse_sigma_yaml(t).map_err(|e| e.to_string()))
        .collect();
    // Every detection rule and correlation by its id and by its name.
    let mut rules: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut corrs: BTreeMap<&str, ()> = BTreeMap::new();
    for (i, p) in all.iter().enumerate() {
        let Ok(c) = p else { continue };
        for (j, r) in c.rules.iter().enumerate() {
            for k in [&r.id, &r.name].into_iter().flatten() {
                rules.entry(k.as_str()).or_insert((i, j));
            }
        }
        for r in &c.correlations {
            for k in [&r.id, &r.name].into_iter().flatten() {
                corrs.insert(k.as_str(), ());
            }
        }
    }
    // Base rules of correlations that do not ask for them to be generated on their own.
    let mut generated = BTreeSet::new();
    let mut consumed = BTreeSet::new();
    for c in all.iter().flatten().flat_map(|c| &c.correlations) {
        for r in &c.rules {
            if let Some(at) = rules.get(r.as_str()) {
                if c.generate {
                    generated.insert(*at);
                } else {
                    consumed.insert(*at);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (i, ((file, relative, text), p)) in inputs.iter().zip(&all).enumerate() {
        let path = shown(file);
        let folder = file
            .parent()
            .map(shown)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| ".".into());
        let outcome = |title: Option<String>, result| Outcome {
            file: path.clone(),
            folder: folder.clone(),
            title,
            result,
        };
        let parsed = match p {
            Ok(c) => c,
            Err(e) => {
                let r = refusal(&path, text, sigma_parse_error(e.clone()));
                out.push(outcome(None, Err(r)));
                continue;
            }
        };
        let before = out.len();
        for e in &parsed.errors {
            out.push(outcome(
                None,
                Err(refusal(&path, text, sigma_parse_error(e.clone()))),
            ));
        }
        let stem = relative
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let own: Vec<(usize, &SigmaRule)> = parsed
            .rules
            .iter()
            .enumerate()
            .filter(|(j, _)| !consumed.contains(&(i, *j)) || generated.contains(&(i, *j)))
            .collect();
        let many = own.len() + parsed.correlations.len() > 1;
        let mut n = 0;
        let mut next_name = || {
            n += 1;
            let name = rule_name(&stem, if many { n } else { 0 });
            let rel = if many {
                relative.with_file_name(format!("{name}.detc"))
            } else {
                relative.to_path_buf()
            };
            (name, rel)
        };
        for (_, rule) in own {
            let (name, rel) = next_name();
            let result = one_rule(rule, &name, &path, &rel, text).map(|text| Imported {
                relative: rel.clone(),
                name: name.clone(),
                text,
                warnings: Vec::new(),
            });
            out.push(outcome(Some(rule.title.clone()), result));
        }
        for c in &parsed.correlations {
            let (name, rel) = next_name();
            let bases: Result<Vec<correlation::Base>, sigma::Refusal> = c
                .rules
                .iter()
                .map(|r| {
                    let base = rules
                        .get(r.as_str())
                        .and_then(|&(fi, ri)| all[fi].as_ref().ok().map(|c| &c.rules[ri]));
                    match base {
                        Some(rule) => Ok(correlation::Base {
                            reference: r.as_str(),
                            rule,
                        }),
                        None if corrs.contains_key(r.as_str()) => Err(sigma::Refusal {
                            code: Code::E0708,
                            reason: "correlation of a correlation".into(),
                            detail: format!(
                                "`{r}` is a correlation rule; detc does not chain correlations"
                            ),
                            at: Some(r.clone()),
                        }),
                        None => Err(sigma::Refusal {
                            code: Code::E0705,
                            reason: "base rule not found".into(),
                            detail: format!(
                                "no rule with the id or name `{r}` among the files given"
                            ),
                            at: Some(r.clone()),
                        }),
                    }
                })
                .collect();
            let result = bases
                .map_err(|r| refusal(&path, text, r))
                .and_then(|bases| one_correlation(c, &bases, &name, &path, &rel, text));
            out.push(outcome(Some(c.title.clone()), result));
        }
        if out.len() == before && parsed.rules.is_empty() && parsed.correlations.is_empty() {
            let r = sigma_parse_error("no Sigma rule in the file".into());
            out.push(outcome(None, Err(refusal(&path, text, r))));
        }
    }
    out
}

fn sigma_parse_error(msg: String) -> sigma::Refusal {
    sigma::Refusal {
        code: Code::E0700,
        reason: "not a Sigma rule".into(),
        detail: msg,
        at: None,
    }
}

fn one_rule(
    rule: &SigmaRule,
    name: &str,
    path: &str,
    rel: &Path,
    text: &str,
) -> Result<String, Refused> {
    if rule.id.is_none() {
        let r = sigma::Refusal {
            code: Code::E0700,
            reason: "no id".into(),
            detail: "the rule has no `id`; a detc rule's id is required and stable forever".into(),
            at: Some("title:".into()),
        };
        return Err(refusal(path, text, r));
    }
    let t = sigma::translate(rule).map_err(|r| refusal(path, text, r))?;
    let body = format!("  source {}\n  where {}\n", t.source.name(), t.condition);
    let detc = render(
        &Meta::of_rule(rule),
        name,
        path,
        &body,
        &license(rule.license.as_ref(), Path::new(path)),
    );
    finish(&detc, path, rel, text)
}

/// One correlation rule over its base rules: a detc aggregation or correlation, checked and
/// formatted, with W0909 when a sliding count window becomes a tumbling one.
fn one_correlation(
    c: &rsigma_parser::CorrelationRule,
    bases: &[correlation::Base],
    name: &str,
    path: &str,
    rel: &Path,
    text: &str,
) -> Result<Imported, Refused> {
    if c.id.is_none() {
        let r = sigma::Refusal {
            code: Code::E0700,
            reason: "no id".into(),
            detail:
                "the correlation rule has no `id`; a detc rule's id is required and stable forever"
                    .into(),
            at: Some("correlation:".into()),
        };
        return Err(refusal(path, text, r));
    }
    let body = correlation::translate(c, bases, writes_condition(text, &c.title))
        .map_err(|r| refusal(path, text, r))?;
    let detc = render(
        &Meta::of_correlation(c),
        name,
        path,
        &body.text,
        &license(c.license.as_ref(), Path::new(path)),
    );
    let formatted = finish(&detc, path, rel, text)?;
    let mut warnings = Vec::new();
    if body.sliding_as_tumbling {
        warnings.push(
            Diagnostic::new(
                Code::W0909,
                format!(
                    "Sigma correlation `{}` imported: its timespan {} becomes a tumbling window",
                    c.title, c.timespan.original
                ),
            )
            .at(locate(text, "timespan:")
                .map(|(s, e)| Span::from_offsets(path, text, s, e))
                .unwrap_or_else(|| Span::file(path)))
            .found(format!("{} with timespan {}", c.correlation_type.as_str(), c.timespan.original))
            .expected("detc's aggregation window: epoch-aligned buckets (docs/SEMANTICS.md)")
            .hint("the specification's time frame slides (rsigma-eval: the last timespan before each event); pySigma's query backends count in buckets, as detc does"),
        );
    }
    Ok(Imported {
        relative: rel.to_path_buf(),
        name: name.to_string(),
        text: formatted,
        warnings,
    })
}

/// Whether the correlation document titled `title` writes a `condition:` (rsigma-parser gives an
/// absent temporal condition as `gte: 1`, where the specification and pySigma mean every rule).
fn writes_condition(text: &str, title: &str) -> bool {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .find(|d| d.get("correlation").is_some() && d["title"].as_str() == Some(title))
        .is_some_and(|d| d["correlation"].get("condition").is_some())
}

/// The detc text checked and formatted: every written file parses, checks clean and is
/// formatted; otherwise it is not written.
fn finish(detc: &str, path: &str, rel: &Path, text: &str) -> Result<String, Refused> {
    let detc = detc.to_string();
    let out_path = shown(rel);
    let files = [crate::SourceFile {
        path: out_path.clone(),
        text: detc.clone(),
    }];
    let fe = crate::frontend_with(&files, &crate::load::FsLoader::for_paths(&[]));
    if let Some(d) = fe.diagnostics.iter().find(|d| d.is_error()) {
        let r = sigma::Refusal {
            code: Code::E0704,
            reason: format!("the translation does not check: {}", d.code.as_str()),
            detail: format!(
                "{}{}",
                d.message,
                d.found
                    .as_ref()
                    .map(|f| format!(" (found: {f})"))
                    .unwrap_or_default()
            ),
            at: None,
        };
        return Err(refusal(path, text, r));
    }
    crate::syntax::fmt::format(&out_path, &detc).map_err(|ds| {
        let msg = ds.first().map(|d| d.message.clone()).unwrap_or_default();
        refusal(
            path,
            text,
            sigma::Refusal {
                code: Code::E0704,
                reason: "the translation does not format".into(),
                detail: msg,
                at: None,
            },
        )
    })
}

/// The diagnostic of a refusal, located at the text it names (the first occurrence of it as a
/// YAML key in the file) or at the file.
fn refusal(path: &str, text: &str, r: sigma::Refusal) -> Refused {
    let span = r
        .at
        .as_deref()
        .and_then(|needle| {
            // The key with its modifiers as rsigma spells them, else the field name alone.
            locate(text, needle).or_else(|| locate(text, needle.split('|').next().unwrap_or("")))
        })
        .map(|(s, e)| Span::from_offsets(path, text, s, e))
        .unwrap_or_else(|| Span::file(path));
    let d = Diagnostic::new(r.code, format!("Sigma rule not imported: {}", r.reason))
        .at(span)
        .found(r.detail)
        .expected(match r.code {
            Code::E0700 => "a Sigma rule as the Sigma specification defines it",
            Code::E0701 => "a log source of the import table (docs/SIGMA.md)",
            Code::E0702 => "a field of the import table for this log source (docs/SIGMA.md)",
            Code::E0704 => "a translation that detc's checker accepts",
            Code::E0705 => "a rule of the files given, by its id or name",
            _ => "a construct detc expresses exactly (docs/SIGMA.md)",
        })
        .hint("the rule is skipped; the other rules are still imported");
    Refused {
        reason: format!("{} {}", r.code.as_str(), r.reason),
        diagnostic: d,
    }
}

/// Byte range of `needle` in `text`: as a YAML key (`needle:` or `needle|`) when it is a field,
/// else as written.
fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    let det = text.find("detection:").unwrap_or(0);
    for suffix in [":", "|"] {
        let key = format!("{needle}{suffix}");
        if let Some(i) = text[det..].find(&key).map(|i| i + det) {
            return Some((i, i + needle.len()));
        }
    }
    text.find(needle).map(|i| (i, i + needle.len()))
}

/// A detc identifier from any text: lowercase ASCII letters and digits, `_` for anything else,
/// `prefix` in front when it would be empty or start with a digit.
pub(crate) fn identifier(raw: &str, prefix: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, prefix);
    }
    s
}

/// A detc identifier from a file name: lowercase, `_` for anything else, never a leading digit.
fn rule_name(stem: &str, n: usize) -> String {
    let mut s = identifier(stem, "sigma_");
    if n > 0 {
        s.push_str(&format!("_{n}"));
    }
    s
}

/// The licence line of the comment: the rule's own `license`, else the title line of a
/// `LICENSE*` file in the folder of the rule or one above it (SigmaHQ's
/// LICENSE.Detection.Rules.md: "Detection Rule License (DRL) 1.1").
fn license(own: Option<&String>, file: &Path) -> String {
    if let Some(l) = own {
        return l.clone();
    }
    let mut dir = file.parent();
    while let Some(d) = dir {
        if let Ok(rd) = std::fs::read_dir(if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        }) {
            let mut names: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().to_uppercase().starts_with("LICENSE"))
                })
                .collect();
            names.sort();
            for n in names {
                if let Ok(t) = std::fs::read_to_string(&n) {
                    if let Some(line) = t
                        .lines()
                        .map(|l| l.trim_matches(['#', ' ']))
                        .find(|l| !l.is_empty())
                    {
                        let fname = n
                            .file_name()
                            .map(|x| x.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        return format!("{line} ({fname})");
                    }
                }
            }
        }
        dir = d.parent();
    }
    "not stated in the rule or beside it".into()
}

/// The metadata of a Sigma rule or correlation rule that the detc rule keeps.
struct Meta<'a> {
    id: Option<&'a String>,
    title: &'a str,
    description: Option<&'a String>,
    author: Option<&'a String>,
    date: Option<&'a String>,
    modified: Option<&'a String>,
    status: Option<&'a rsigma_parser::Status>,
    level: Option<rsigma_parser::Level>,
    tags: &'a [String],
    references: &'a [String],
    falsepositives: &'a [String],
}

/// The metadata of a Sigma rule or correlation: rsigma gives the two the same fields in two
/// types with no trait in common, so one expansion serves both.
macro_rules! meta_of {
    ($r:expr) => {
        Meta {
            id: $r.id.as_ref(),
            title: &$r.title,
            description: $r.description.as_ref(),
            author: $r.author.as_ref(),
            date: $r.date.as_ref(),
            modified: $r.modified.as_ref(),
            status: $r.status.as_ref(),
            level: $r.level,
            tags: &$r.tags,
            references: &$r.references,
            falsepositives: &$r.falsepositives,
        }
    };
}

impl<'a> Meta<'a> {
    fn of_rule(r: &'a SigmaRule) -> Meta<'a> {
        meta_of!(r)
    }

    fn of_correlation(r: &'a rsigma_parser::CorrelationRule) -> Meta<'a> {
        meta_of!(r)
    }
}

/// The detc text of a translated rule (formatted afterwards): the metadata, then `body` (the
/// source and condition, an aggregation, or a `correlate` block), indented two spaces.
fn render(rule: &Meta, name: &str, path: &str, body: &str, license: &str) -> String {
    use sigma::quote;
    let mut s = String::new();
    s.push_str(&format!("// Imported by `detc import sigma` from {path}\n"));
    s.push_str(&format!("// Licence: {}\n", one_line(license)));
    let (attack, tags, dropped) = split_tags(rule.tags);
    for d in &dropped {
        s.push_str(&format!("// Sigma tag not kept: {d}\n"));
    }
    s.push_str(&format!("rule {name} {{\n"));
    if let Some(id) = rule.id {
        s.push_str(&format!("  id {}\n", quote(&id.to_lowercase())));
    }
    s.push_str(&format!("  title {}\n", quote(&one_line(rule.title))));
    if let Some(d) = rule.description {
        s.push_str(&format!("  description {}\n", quote(&one_line(d))));
    }
    if let Some(a) = rule.author {
        s.push_str(&format!("  author {}\n", quote(&one_line(a))));
    }
    if let Some(d) = rule.date {
        s.push_str(&format!("  date {}\n", quote(&d.replace('/', "-"))));
    }
    if let Some(d) = rule.modified {
        s.push_str(&format!("  modified {}\n", quote(&d.replace('/', "-"))));
    }
    if let Some(st) = rule.status {
        let st = serde_json::to_value(st)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        s.push_str(&format!("  status {st}\n"));
    }
    let severity = rule.level.map(|l| l.as_str()).unwrap_or("medium");
    s.push_str(&format!("  severity {severity}\n"));
    if !attack.is_empty() {
        s.push_str(&format!("  attack {}\n", attack.join(" ")));
    }
    let list = |items: &[String]| {
        let v: Vec<String> = items.iter().map(|i| quote(&one_line(i))).collect();
        format!("[{}]", v.join(", "))
    };
    if !rule.references.is_empty() {
        s.push_str(&format!("  references {}\n", list(rule.references)));
    }
    let fps: Vec<String> = rule
        .falsepositives
        .iter()
        .filter(|f| !f.trim().is_empty())
        .cloned()
        .collect();
    if !fps.is_empty() {
        s.push_str(&format!("  falsepositives {}\n", list(&fps)));
    }
    if !tags.is_empty() {
        s.push_str(&format!("  tags {}\n", list(&tags)));
    }
    s.push('\n');
    s.push_str(body);
    s.push_str("}\n");
    s
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sigma tags -> (detc `attack` ids, tags kept, tags dropped with the reason): a technique tag
/// (`attack.t1059.001`) of the embedded ATT&CK catalogue becomes an `attack` id, and the tactic
/// tags it implies are left to detc, which adds them; any other tag Sigma accepts is kept.
fn split_tags(tags: &[String]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let cat = crate::ir::attack::catalogue();
    let (mut attack, mut kept, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    for t in tags {
        let lower = t.to_lowercase();
        if let Some(id) = lower.strip_prefix("attack.t") {
            let id = format!("T{}", id);
            match cat.technique(&id) {
                Some(tech) if tech.revoked_by.is_none() && !tech.deprecated => {
                    if !attack.contains(&id) {
                        attack.push(id);
                    }
                }
                Some(tech) => dropped.push(format!(
                    "{t} ({} in ATT&CK {})",
                    match &tech.revoked_by {
                        Some(by) => format!("revoked by {by}"),
                        None => "deprecated".into(),
                    },
                    cat.version
                )),
                None => dropped.push(format!("{t} (not in ATT&CK {})", cat.version)),
            }
            continue;
        }
        match crate::ir::check::tags::check_tag(&lower) {
            Ok(()) if !kept.contains(&lower) => kept.push(lower),
            Ok(()) => {}
            Err(d) => dropped.push(format!("{t} ({})", d.message)),
        }
    }
    (attack, kept, dropped)
}
