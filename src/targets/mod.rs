//! Query backends: target profiles (data under targets/, embedded in the binary), escaping, one
//! module per language. Reads only the IR; never imports `eval`.
//!
//! A profile says which abstract source maps to which table or logsource, which column (and which
//! column values, for enum fields) each catalogue field becomes, and what the target can do. Rust
//! builds every expression and escapes every value ([`escape`]); the minijinja template of a
//! profile only places the pieces. Every column an emitter writes is checked against the vendor
//! column list the profile names (targets/schemas/), so a wrong column is a compile error here,
//! not a runtime error in a SOC.
//!
//! Diagnostic codes (docs/TARGETS.md lists them with examples):
//! - E0901 the profile has no table for the rule's source
//! - E0902 a catalogue field has no column in the profile
//! - E0903 a column is not in the table's vendor schema (names the table and the nearest columns)
//! - E0904 a construct the target cannot express (names rule, construct and target)
//! - E0905 internal error (a profile or template that does not load)
//! - E0910 Sigma: a comparison of two values (arithmetic, field against field)
//! - E0911 spl-cim: a comparison of two values in the event filter (tstats search terms)
//! - W0900 (`--target all`) a rule not emitted for one target, with the reason
//! - W0901..W0905 documented approximations

use crate::diag::{Diagnostic, Span};
use crate::ir::{self, Expr, FieldRef, Rule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod escape;
mod kql;
mod sigma;
mod spl;
pub mod uuid;
mod yaml;

/// Embedded profiles: (name, profile.yaml, template).
const PROFILES: &[(&str, &str, &str)] = &[
    (
        "kql-defender",
        include_str!("../../targets/kql-defender/profile.yaml"),
        include_str!("../../targets/kql-defender/query.kql.j2"),
    ),
    (
        "kql-sentinel",
        include_str!("../../targets/kql-sentinel/profile.yaml"),
        include_str!("../../targets/kql-sentinel/query.kql.j2"),
    ),
    (
        "sigma",
        include_str!("../../targets/sigma/profile.yaml"),
        include_str!("../../targets/sigma/query.yml.j2"),
    ),
    (
        "spl-cim",
        include_str!("../../targets/spl-cim/profile.yaml"),
        include_str!("../../targets/spl-cim/query.spl.j2"),
    ),
    (
        "spl-sysmon",
        include_str!("../../targets/spl-sysmon/profile.yaml"),
        include_str!("../../targets/spl-sysmon/query.spl.j2"),
    ),
];

/// Embedded vendor column lists: (file name, text).
const SCHEMAS: &[(&str, &str)] = &[
    (
        "kql-DeviceNetworkEvents.yaml",
        include_str!("../../targets/schemas/kql-DeviceNetworkEvents.yaml"),
    ),
    (
        "kql-Sentinel-DeviceNetworkEvents.yaml",
        include_str!("../../targets/schemas/kql-Sentinel-DeviceNetworkEvents.yaml"),
    ),
    (
        "kql-_Im_NetworkSession.yaml",
        include_str!("../../targets/schemas/kql-_Im_NetworkSession.yaml"),
    ),
    (
        "sigma-network_connection.yaml",
        include_str!("../../targets/schemas/sigma-network_connection.yaml"),
    ),
    (
        "sigma-network_connection_generic.yaml",
        include_str!("../../targets/schemas/sigma-network_connection_generic.yaml"),
    ),
    (
        "spl-sysmon-eventcode3.yaml",
        include_str!("../../targets/schemas/spl-sysmon-eventcode3.yaml"),
    ),
    (
        "spl-cim-Network_Traffic.yaml",
        include_str!("../../targets/schemas/spl-cim-Network_Traffic.yaml"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Kql,
    Sigma,
    Spl,
}

/// A target profile, as read from `targets/<name>/profile.yaml` plus its template and schemas.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub language: Language,
    /// File extension of emitted queries (`kql`, `yml`, `spl`).
    pub extension: String,
    pub description: String,
    /// What the target can express, in words (for `detc targets`; the emitters enforce it).
    pub capabilities: BTreeMap<String, String>,
    /// Abstract source name (`network_connection`) -> where its events live.
    pub sources: BTreeMap<String, SourceMap>,
    /// The minijinja template (layout only).
    #[serde(skip)]
    pub template: String,
}

/// Where one abstract source lives in a target, and how its catalogue fields map to columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceMap {
    /// The table (or logsource, data model) name, as in the schema file.
    pub table: String,
    /// The vendor column list under targets/schemas/.
    pub schema: String,
    /// KQL: the tabular expression the query starts from.
    #[serde(default)]
    pub from: Option<String>,
    /// SPL: the base search (a fixed, trusted string from the profile).
    #[serde(default)]
    pub search: Option<String>,
    /// SPL tstats: the data model (`Network_Traffic.All_Traffic`).
    #[serde(default)]
    pub datamodel: Option<String>,
    /// SPL tstats: the prefix of data model fields in queries (`All_Traffic.`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Sigma: the logsource mapping.
    #[serde(default)]
    pub logsource: Option<BTreeMap<String, String>>,
    /// Columns every event has although the schema file does not list them (`_time`).
    #[serde(default)]
    pub implicit_columns: Vec<String>,
    pub fields: BTreeMap<String, FieldMap>,
    /// Only rows whose `column` is one of `values` are events of this source (Defender's
    /// DeviceNetworkEvents also holds inspection rows): the query selects them first, as the
    /// evaluator's input schema does.
    #[serde(default)]
    pub applies: Option<Applies>,
    /// Columns that exchange roles on some events (Sysmon names the initiator `Source*`, so for
    /// an inbound connection the local side is `Destination*`), as the evaluator's input schema
    /// reads them: a field mapped to one column of a pair reads its partner when `when` holds.
    #[serde(default)]
    pub swap: Option<Swap>,
    /// Catalogue fields the target cannot provide, with the reason.
    #[serde(default)]
    pub unsupported: BTreeMap<String, String>,
    /// The loaded column list (name -> vendor type).
    #[serde(skip)]
    pub columns: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applies {
    pub column: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Swap {
    /// The column that decides (`Initiated`).
    pub column: String,
    /// The values of `column` for which the pairs swap (`["false"]`).
    pub values: Vec<String>,
    pub pairs: Vec<[String; 2]>,
}

impl SourceMap {
    /// The partner of `column` in a swap pair, if any.
    pub fn swap_partner(&self, column: &str) -> Option<(&Swap, String)> {
        let sw = self.swap.as_ref()?;
        sw.pairs.iter().find_map(|[a, b]| {
            if a == column {
                Some((sw, b.clone()))
            } else if b == column {
                Some((sw, a.clone()))
            } else {
                None
            }
        })
    }
}

/// How one catalogue field is read in a target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldMap {
    /// The column; with `join`, the column named in docs (the value is the join).
    pub column: String,
    /// The value is the non-missing ones of these columns joined with `sep` (Defender's
    /// `user` = `InitiatingProcessAccountDomain\InitiatingProcessAccountName`), as the input
    /// schemas of the evaluator read it.
    #[serde(default)]
    pub join: Vec<String>,
    #[serde(default)]
    pub sep: Option<String>,
    /// `basename`: the field is the last `\`-separated segment of the column (Sysmon `Image`).
    #[serde(default)]
    pub derive: Option<Derive>,
    /// Enum fields: symbol -> the column values that mean it.
    #[serde(default)]
    pub values: Option<BTreeMap<String, Vec<String>>>,
    /// How `values` compare with the column (default: sensitive).
    #[serde(default)]
    pub values_case: Option<ValuesCase>,
    /// A remark for docs and `detc targets`.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Derive {
    Basename,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValuesCase {
    Sensitive,
    Insensitive,
}

impl ValuesCase {
    pub fn case(self) -> ir::Case {
        match self {
            ValuesCase::Sensitive => ir::Case::Sensitive,
            ValuesCase::Insensitive => ir::Case::Insensitive,
        }
    }
}

#[derive(Debug, Deserialize)]
struct SchemaFile {
    // Required in every schema file (it names the table), never read: the profile names it.
    #[allow(dead_code)]
    table: String,
    columns: Vec<SchemaColumn>,
}

#[derive(Debug, Deserialize)]
struct SchemaColumn {
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

fn load_schema(file: &str) -> Result<BTreeMap<String, String>, String> {
    let text = SCHEMAS
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, t)| *t)
        .ok_or_else(|| format!("schema file `{file}` is not embedded"))?;
    let s: SchemaFile =
        serde_yaml::from_str(text).map_err(|e| format!("schema file `{file}`: {e}"))?;
    Ok(s.columns.into_iter().map(|c| (c.name, c.ty)).collect())
}

fn load_profile(name: &str, yaml: &str, template: &str) -> Result<Profile, String> {
    let mut p: Profile =
        serde_yaml::from_str(yaml).map_err(|e| format!("targets/{name}/profile.yaml: {e}"))?;
    if p.name != name {
        return Err(format!(
            "targets/{name}/profile.yaml names itself `{}`",
            p.name
        ));
    }
    for (src, m) in p.sources.iter_mut() {
        if ir::catalogue::source_by_name(src).is_none() {
            return Err(format!(
                "targets/{name}/profile.yaml maps unknown source `{src}`"
            ));
        }
        m.columns = load_schema(&m.schema)?;
        for c in &m.implicit_columns {
            m.columns.insert(c.clone(), "implicit".into());
        }
    }
    p.template = template.to_string();
    Ok(p)
}

/// Every profile, loaded and checked, or the reason one does not load.
pub fn load_profiles() -> Result<Vec<Profile>, Diagnostic> {
    let mut v = Vec::new();
    for (name, yaml, tpl) in PROFILES {
        v.push(load_profile(name, yaml, tpl).map_err(|e| {
            Diagnostic::error("E0905", format!("target profile does not load: {e}"))
        })?);
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// The profile named `name`; `None` when there is none, or when the profiles do not load
/// ([`load_profiles`] says why).
pub fn profile(name: &str) -> Option<Profile> {
    load_profiles().ok()?.into_iter().find(|p| p.name == name)
}

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
}

impl CompileResult {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.is_error())
    }
}

/// Compiles one rule for one profile.
pub fn compile_rule(rule: &Rule, profile: &Profile) -> Result<Emitted, Vec<Diagnostic>> {
    let Some(src) = profile.sources.get(rule.source.name()) else {
        let supported: Vec<&str> = profile.sources.keys().map(String::as_str).collect();
        return Err(vec![Diagnostic::error(
            "E0901",
            format!(
                "rule `{}`: target `{}` has no table for source `{}`",
                rule.name,
                profile.name,
                rule.source.name()
            ),
        )
        .at(rule.span.clone())
        .found(format!("source {}", rule.source.name()))
        .expected(format!(
            "a source of {}: {}",
            profile.name,
            supported.join(", ")
        ))]);
    };
    let ctx = Ctx::new(rule, profile, src)?;
    let (text, warnings) = match profile.language {
        Language::Kql => kql::emit(&ctx)?,
        Language::Sigma => sigma::emit(&ctx)?,
        Language::Spl => spl::emit(&ctx)?,
    };
    Ok(Emitted {
        rule: rule.name.clone(),
        target: profile.name.clone(),
        file_name: format!("{}.{}", rule.name, profile.extension),
        text,
        warnings,
    })
}

/// Codes that mean "this target cannot express this rule" (reported as W0900 with `all`).
fn is_refusal(code: &str) -> bool {
    matches!(code, "E0901" | "E0902" | "E0904" | "E0910" | "E0911")
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
                let mut d = Diagnostic::error("E0906", format!("unknown target `{target}`"))
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
        for rule in &pack.rules {
            match compile_rule(rule, p) {
                Ok(e) => {
                    res.diagnostics.extend(e.warnings.iter().cloned());
                    res.outputs.push(e);
                }
                Err(ds) => {
                    for d in ds {
                        if target == "all" && is_refusal(d.code) {
                            let mut w = Diagnostic::warning(
                                "W0900",
                                format!(
                                    "rule `{}` not emitted for {} because: {}",
                                    rule.name,
                                    p.name,
                                    d.message
                                        .strip_prefix(&format!("rule `{}`: ", rule.name))
                                        .unwrap_or(&d.message)
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
                    let mut d = Diagnostic::error(
                        "E0907",
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

// ------------------------------------------------------------------ shared emitter context

/// A resolved catalogue field: its mapping and type.
#[derive(Debug, Clone)]
pub(crate) struct Col {
    /// The catalogue field name.
    pub field: String,
    pub map: FieldMap,
    /// The vendor type of the column (`int`, `string`, `Integer`, ...).
    pub vendor_ty: String,
}

impl Col {
    /// Whether the vendor type holds text (so that KQL stores "missing" as the empty string).
    pub fn is_text(&self) -> bool {
        !matches!(
            self.vendor_ty.to_ascii_lowercase().as_str(),
            "int"
                | "long"
                | "real"
                | "number"
                | "datetime"
                | "date/time"
                | "bool"
                | "boolean"
                | "integer"
                | "timespan"
                | "time"
                | "implicit"
        )
    }
}

pub(crate) struct Ctx<'a> {
    pub rule: &'a Rule,
    pub profile: &'a Profile,
    pub src: &'a SourceMap,
}

impl<'a> Ctx<'a> {
    fn new(
        rule: &'a Rule,
        profile: &'a Profile,
        src: &'a SourceMap,
    ) -> Result<Ctx<'a>, Vec<Diagnostic>> {
        let ctx = Ctx { rule, profile, src };
        // Resolve every catalogue field the rule reads up front: all errors at once.
        let mut errs = Vec::new();
        // (Aggregated fields are resolved where they are used: Sigma reports but never reads
        // aggregates outside `having`.)
        for (name, span) in fields_used(rule, false) {
            if let Err(d) = ctx.field(&name, &span) {
                if !errs.iter().any(|e: &Diagnostic| e.message == d.message) {
                    errs.push(d);
                }
            }
        }
        if errs.is_empty() {
            Ok(ctx)
        } else {
            Err(errs)
        }
    }

    pub fn table(&self) -> &str {
        &self.src.table
    }

    /// A key of the profile's source that the language needs (`search`, `logsource`): its
    /// absence is a profile bug (E0905), never an empty value in the emitted query.
    pub fn required<'v, T>(&self, key: &str, v: Option<&'v T>) -> Result<&'v T, Vec<Diagnostic>> {
        v.ok_or_else(|| {
            vec![Diagnostic::error(
                "E0905",
                format!(
                    "target profile does not load: targets/{}/profile.yaml: source `{}` has no `{key}`",
                    self.profile.name,
                    self.rule.source.name()
                ),
            )]
        })
    }

    /// The mapping of catalogue field `name`, its column checked against the vendor schema.
    pub fn field(&self, name: &str, span: &Span) -> Result<Col, Diagnostic> {
        let Some(map) = self.src.fields.get(name) else {
            let why = self
                .src
                .unsupported
                .get(name)
                .cloned()
                .unwrap_or_else(|| "the profile maps no column to it".into());
            return Err(Diagnostic::error(
                "E0902",
                format!(
                    "rule `{}`: field `{name}` cannot be read in target `{}` ({}): {why}",
                    self.rule.name, self.profile.name, self.src.table
                ),
            )
            .at(span.clone())
            .found(format!("field {name}"))
            .expected(format!(
                "a field {} provides: {}",
                self.profile.name,
                self.src
                    .fields
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let vendor_ty = self.column(&map.column, span)?;
        for c in &map.join {
            self.column(c, span)?;
        }
        if let Some((sw, partner)) = self.src.swap_partner(&map.column) {
            self.column(&partner, span)?;
            self.column(&sw.column, span)?;
        }
        Ok(Col {
            field: name.to_string(),
            map: map.clone(),
            vendor_ty: if map.join.is_empty() {
                vendor_ty
            } else {
                "string".into()
            },
        })
    }

    /// Checks that `column` exists in the table; returns its vendor type.
    pub fn column(&self, column: &str, span: &Span) -> Result<String, Diagnostic> {
        match self.src.columns.get(column) {
            Some(t) => Ok(t.clone()),
            None => {
                let near = nearest_columns(column, self.src.columns.keys().map(String::as_str));
                Err(Diagnostic::error(
                    "E0903",
                    format!(
                        "rule `{}`: table `{}` of target `{}` has no column `{column}`",
                        self.rule.name, self.src.table, self.profile.name
                    ),
                )
                .at(span.clone())
                .found(format!("column {column}"))
                .expected(format!(
                    "a column of {} ({})",
                    self.src.table, self.src.schema
                ))
                .hint(format!("nearest columns: {}", near.join(", "))))
            }
        }
    }

    /// A rule's regex as a query language writes it: ASCII-only case folding spelled out
    /// ([`ir::semantics::ascii_fold_regex`]), or the refusal (E0904) when it cannot be.
    pub fn fold_regex(
        &self,
        pattern: &str,
        case: ir::Case,
        span: &Span,
    ) -> Result<String, Diagnostic> {
        ir::semantics::ascii_fold_regex(pattern, case == ir::Case::Insensitive)
            .map_err(|why| self.refuse("this regular expression", &why, span))
    }

    /// A refusal: the target cannot express `construct`.
    pub fn refuse(&self, construct: &str, why: &str, span: &Span) -> Diagnostic {
        Diagnostic::error(
            "E0904",
            format!(
                "rule `{}`: {construct} cannot be expressed in target `{}`: {why}",
                self.rule.name, self.profile.name
            ),
        )
        .at(span.clone())
        .found(construct.to_string())
    }

    pub fn warn(&self, code: &'static str, msg: String) -> Diagnostic {
        Diagnostic::warning(
            code,
            format!("rule `{}` ({}): {msg}", self.rule.name, self.profile.name),
        )
        .at(self.rule.span.clone())
    }

    /// W0905 for every field whose mapping is exact only under a conjunct the filter lacks.
    /// `keys_only`: only fields used as group keys or aggregated (where a swap cannot be written
    /// per predicate).
    pub fn exactness_warnings(&self, keys_only: bool) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let used: Vec<(String, Span)> = if keys_only {
            let mut v = Vec::new();
            if let Some(a) = &self.rule.aggregation {
                for g in &a.group_by {
                    if let FieldRef::Field(f) = g {
                        v.push((f.clone(), a.span.clone()));
                    }
                }
                for ag in &a.aggregates {
                    if let ir::AggFunc::DistinctCount(FieldRef::Field(f))
                    | ir::AggFunc::Sum(FieldRef::Field(f))
                    | ir::AggFunc::Min(FieldRef::Field(f))
                    | ir::AggFunc::Max(FieldRef::Field(f)) = &ag.func
                    {
                        v.push((f.clone(), ag.span.clone()));
                    }
                }
            }
            v
        } else {
            fields_used(self.rule, true)
        };
        if self.swap_excluded() {
            return out;
        }
        for (name, _) in used {
            let Some(m) = self.src.fields.get(&name) else {
                continue;
            };
            let Some((sw, partner)) = self.src.swap_partner(&m.column) else {
                continue;
            };
            if !seen.insert(name.clone()) {
                continue;
            }
            out.push(self.warn(
                "W0905",
                format!(
                    "`{name}` is `{}`, or `{partner}` when {} is {}: a group key or aggregate cannot switch columns per event, so `{}` is used; filter on the direction for an exact query",
                    m.column,
                    sw.column,
                    sw.values.join(" or "),
                    m.column
                ),
            ));
        }
        out
    }

    /// Whether the rule's filter rules out the swap condition: a top-level conjunct pins the swap
    /// column to values outside `swap.values` (`direction == outbound` is `Initiated == "true"`).
    pub fn swap_excluded(&self) -> bool {
        let Some(sw) = &self.src.swap else {
            return true;
        };
        let items: Vec<&Expr> = match &self.rule.filter {
            Expr::And(v) => v.iter().collect(),
            o => vec![o],
        };
        items.iter().any(|e| {
            let Expr::Pred(p) = e else { return false };
            let (
                FieldRef::Field(f),
                ir::Op::Eq {
                    value: ir::Value::Enum(sym),
                    ..
                },
            ) = (&p.field, &p.op)
            else {
                return false;
            };
            let Some(m) = self.src.fields.get(f) else {
                return false;
            };
            let vals = m.values.as_ref().and_then(|v| v.get(sym));
            m.column == sw.column
                && vals.is_some_and(|vs| {
                    !vs.is_empty()
                        && vs
                            .iter()
                            .all(|v| !sw.values.iter().any(|w| w.eq_ignore_ascii_case(v)))
                })
        })
    }

    /// The template, rendered with strict undefined behaviour.
    pub fn render(&self, ctx: minijinja::Value) -> Result<String, Vec<Diagnostic>> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_keep_trailing_newline(true);
        let internal = |e: minijinja::Error| {
            vec![Diagnostic::error(
                "E0905",
                format!(
                    "template of target `{}` failed for rule `{}`: {e}",
                    self.profile.name, self.rule.name
                ),
            )]
        };
        env.add_template("query", &self.profile.template)
            .map_err(internal)?;
        let t = env.get_template("query").map_err(internal)?;
        t.render(ctx).map_err(internal)
    }
}

/// The columns nearest to a missing one: most shared CamelCase / snake_case words first
/// (`AccountName` -> `InitiatingProcessAccountName`), then edit distance (`diag::nearest_n`).
fn nearest_columns<'c>(missing: &str, columns: impl Iterator<Item = &'c str>) -> Vec<&'c str> {
    fn words(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in s.chars() {
            if (!c.is_alphanumeric() || (c.is_uppercase() && !cur.is_empty())) && !cur.is_empty() {
                out.push(std::mem::take(&mut cur).to_lowercase());
            }
            if c.is_alphanumeric() {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            out.push(cur.to_lowercase());
        }
        out
    }
    let want = words(missing);
    let cols: Vec<&str> = columns.collect();
    let by_distance = crate::diag::nearest_n(missing, cols.iter().copied(), cols.len());
    let mut scored: Vec<(usize, usize, &str)> = by_distance
        .iter()
        .enumerate()
        .map(|(rank, c)| {
            let shared = words(c).iter().filter(|w| want.contains(w)).count();
            (usize::MAX - shared, rank, *c)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, _, c)| c).collect()
}

/// Every catalogue field the rule reads (filter, lets, group keys, aggregates), with a span.
pub(crate) fn fields_used(rule: &Rule, aggregates: bool) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    fn walk(e: &Expr, out: &mut Vec<(String, Span)>) {
        match e {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| walk(x, out)),
            Expr::Not(x) => walk(x, out),
            Expr::Pred(p) => {
                if let FieldRef::Field(f) = &p.field {
                    out.push((f.clone(), p.span.clone()));
                }
            }
            Expr::Compare(c) => {
                for r in c.refs() {
                    if let FieldRef::Field(f) = r {
                        out.push((f.clone(), c.span.clone()));
                    }
                }
            }
        }
    }
    walk(&rule.filter, &mut out);
    for l in &rule.lets {
        for (c, _) in &l.arms {
            walk(c, &mut out);
        }
    }
    if let Some(a) = &rule.aggregation {
        for g in &a.group_by {
            if let FieldRef::Field(f) = g {
                out.push((f.clone(), a.span.clone()));
            }
        }
        for ag in a.aggregates.iter().filter(|_| aggregates) {
            if let ir::AggFunc::DistinctCount(FieldRef::Field(f))
            | ir::AggFunc::Sum(FieldRef::Field(f))
            | ir::AggFunc::Min(FieldRef::Field(f))
            | ir::AggFunc::Max(FieldRef::Field(f)) = &ag.func
            {
                out.push((f.clone(), ag.span.clone()));
            }
        }
    }
    out
}

/// Removes trivially true/false operands (`And([])`, `Or([])`) and flattens nested And/Or, so
/// every emitter sees the same normal form. The meaning is unchanged.
pub(crate) fn simplify(e: &Expr) -> Expr {
    match e {
        Expr::And(v) => {
            let mut out = Vec::new();
            for x in v.iter().map(simplify) {
                match x {
                    Expr::And(inner) => out.extend(inner), // true operands vanish here too
                    Expr::Or(ref o) if o.is_empty() => return Expr::Or(Vec::new()),
                    o => out.push(o),
                }
            }
            if out.len() == 1 {
                out.remove(0)
            } else {
                Expr::And(out)
            }
        }
        Expr::Or(v) => {
            let mut out = Vec::new();
            for x in v.iter().map(simplify) {
                match x {
                    Expr::Or(inner) => out.extend(inner),
                    Expr::And(ref a) if a.is_empty() => return Expr::And(Vec::new()),
                    o => out.push(o),
                }
            }
            if out.len() == 1 {
                out.remove(0)
            } else {
                Expr::Or(out)
            }
        }
        Expr::Not(x) => match simplify(x) {
            Expr::Not(y) => *y,
            y => Expr::Not(Box::new(y)),
        },
        p => p.clone(),
    }
}

/// Rewrites predicates on computed fields into predicates on the fields they are computed from,
/// for targets that cannot compute (Sigma, tstats): `protocol == "SMTP"` becomes "the first arm
/// whose value is SMTP holds and no earlier arm does" (or-ed over such arms, plus "no arm holds"
/// when the default satisfies it). A missing value (no arm, no default) satisfies nothing, so
/// `not` stays true on it, as the IR says. `None` when a predicate cannot be decided on a value.
pub(crate) fn inline_computed(rule: &Rule, e: &Expr) -> Option<Expr> {
    Some(match e {
        Expr::And(v) => Expr::And(
            v.iter()
                .map(|x| inline_computed(rule, x))
                .collect::<Option<_>>()?,
        ),
        Expr::Or(v) => Expr::Or(
            v.iter()
                .map(|x| inline_computed(rule, x))
                .collect::<Option<_>>()?,
        ),
        Expr::Not(x) => Expr::Not(Box::new(inline_computed(rule, x)?)),
        // (a comparison of values never reads a computed field: the checker refuses it)
        Expr::Compare(_) => e.clone(),
        Expr::Pred(p) => match &p.field {
            FieldRef::Computed(n) => {
                let l = rule.lets.iter().find(|l| &l.name == n)?;
                let mut alts = Vec::new();
                let mut earlier: Vec<Expr> = Vec::new();
                for (cond, v) in &l.arms {
                    if const_holds(&p.op, v)? {
                        let mut conj = vec![cond.clone()];
                        conj.extend(earlier.iter().map(|c| Expr::Not(Box::new(c.clone()))));
                        alts.push(Expr::And(conj));
                    }
                    earlier.push(cond.clone());
                }
                if let Some(d) = &l.default {
                    if const_holds(&p.op, d)? {
                        alts.push(Expr::And(
                            earlier
                                .iter()
                                .map(|c| Expr::Not(Box::new(c.clone())))
                                .collect(),
                        ));
                    }
                }
                simplify(&Expr::Or(alts))
            }
            _ => e.clone(),
        },
    })
}

/// Whether a predicate holds on a constant (the value of a computed field), by the IR's own value
/// semantics (`ir::semantics`, shared with the evaluator). `None`: not decidable here.
fn const_holds(op: &ir::Op, v: &ir::Value) -> Option<bool> {
    use ir::semantics::{compare, is_missing, simple_lower, values_equal};
    use ir::{Case, Op, StrOp, Value};
    // A missing constant (the empty string) makes every operator false, `Exists` included.
    if is_missing(Some(v)) {
        return Some(false);
    }
    let fold = |s: &str, c: Case| match c {
        Case::Sensitive => s.to_string(),
        Case::Insensitive => simple_lower(s),
    };
    Some(match op {
        Op::Exists => true,
        Op::Eq { value, case } => values_equal(v, value, *case),
        Op::In { values, case, .. } => values.iter().any(|x| values_equal(v, x, *case)),
        Op::Str {
            kind,
            needles,
            case,
        } => {
            let Value::Str(s) = v else { return None };
            let s = fold(s, *case);
            needles.iter().any(|n| {
                let n = fold(n, *case);
                match kind {
                    StrOp::StartsWith => s.starts_with(&n),
                    StrOp::EndsWith => s.ends_with(&n),
                    StrOp::Contains => s.contains(&n),
                }
            })
        }
        Op::Regex { pattern, case } => {
            let Value::Str(s) = v else { return None };
            // A pattern that does not compile (the checker rejects it) is "not decidable": the
            // caller then refuses the rule, it never drops the predicate.
            let pat = ir::semantics::ascii_fold_regex(pattern, *case == Case::Insensitive).ok()?;
            regex::Regex::new(&pat).ok()?.is_match(s)
        }
        Op::Cmp { op, value } => compare(v, *op, value),
        Op::InCidr { .. } | Op::IpClass { .. } => return None,
    })
}

/// A regex (RE2 / PCRE / Python `re` / Rust `regex` syntax alike) matching `lit` under the IR's
/// case-insensitivity, ASCII-only case folding ([`crate::ir::semantics::simple_lower`]): every
/// ASCII letter becomes the class of its two cases, every other character stands for itself. No
/// `(?i)` flag is involved, so no engine can fold a non-ASCII letter (`İ`, the Kelvin sign) into
/// an ASCII one: the meaning is the same in every engine.
pub fn ascii_ci_regex(lit: &str) -> String {
    let mut out = String::new();
    for c in lit.chars() {
        if c.is_ascii_alphabetic() {
            out.push('[');
            out.push(c.to_ascii_lowercase());
            out.push(c.to_ascii_uppercase());
            out.push(']');
        } else {
            out.push_str(&escape::regex_literal(&c.to_string()));
        }
    }
    out
}

/// A regex matching any non-ASCII character. Under ASCII-only folding a value that has one never
/// equals an all-ASCII literal, whatever an engine's own case-insensitive equality does with it.
pub const NON_ASCII_REGEX: &str = "[^\\x00-\\x7F]";

/// A window length in the largest whole unit: `1d`, `1h`, `5m`, `30s`.
pub(crate) fn duration_text(secs: u64) -> String {
    for (n, u) in [(86_400, "d"), (3_600, "h"), (60, "m")] {
        if secs >= n && secs % n == 0 {
            return format!("{}{u}", secs / n);
        }
    }
    format!("{secs}s")
}

/// Column names for the rule's computed fields, each from [`fresh_name`], in declaration order
/// (every name chosen is added to `taken`).
pub(crate) fn name_lets(
    rule: &Rule,
    columns: &BTreeMap<String, String>,
    taken: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for l in &rule.lets {
        let n = fresh_name(&l.name, columns, taken);
        taken.push(n.clone());
        out.insert(l.name.clone(), n);
    }
    out
}

/// Picks a name for a computed column that no table column (case-insensitively) and no name in
/// `taken` already uses: `name`, else `name_computed`, `name_computed2`, ...
pub(crate) fn fresh_name(
    name: &str,
    columns: &BTreeMap<String, String>,
    taken: &[String],
) -> String {
    let clash = |n: &str| {
        columns.keys().any(|c| c.eq_ignore_ascii_case(n))
            || taken.iter().any(|t| t.eq_ignore_ascii_case(n))
    };
    if !clash(name) {
        return name.to_string();
    }
    let mut i = 1;
    loop {
        let cand = if i == 1 {
            format!("{name}_computed")
        } else {
            format!("{name}_computed{i}")
        };
        if !clash(&cand) {
            return cand;
        }
        i += 1;
    }
}

/// A one-line version of free text for comments: every character a reader could take as a line
/// break ([`ir::breaks_line`]: controls, U+0085, U+2028, U+2029) becomes a space, so nothing can
/// end a comment early. (The checker refuses such titles, E0208; this is defence in depth for an
/// IR built another way.)
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if ir::breaks_line(c) { ' ' } else { c })
        .collect()
}

// ------------------------------------------------------------------ writing and checking files

/// One difference between emitted queries and a folder of committed queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// Path relative to the output folder (`kql-defender/rule.kql`).
    pub path: String,
    /// `changed`, `missing` (emitted but not on disk) or `extra` (on disk, not emitted).
    pub kind: String,
    /// Unified diff, committed -> emitted.
    pub diff: String,
}

/// What an existing path under the output folder may be: a folder for a target, a regular file
/// for a query. Anything else, a symbolic link above all, is refused: writing or reading through
/// a link could overwrite or show a file outside the output folder. A missing path is fine.
fn guard_output_path(path: &std::path::Path, folder: bool) -> Result<(), Diagnostic> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(crate::load::io_error(&path.to_string_lossy(), &err)),
    };
    let ft = meta.file_type();
    let found = if ft.is_symlink() {
        // Where the link points only decorates the message: the link is refused either way.
        let to = std::fs::read_link(path)
            .map(|t| format!(" to `{}`", t.to_string_lossy()))
            .unwrap_or_default();
        format!("a symbolic link{to}")
    } else if folder && !ft.is_dir() {
        "not a folder".to_string()
    } else if !folder && !ft.is_file() {
        "not a regular file".to_string()
    } else {
        return Ok(());
    };
    let shown = path.to_string_lossy().replace('\\', "/");
    Err(Diagnostic::error(
        "E0004",
        format!("refusing to use `{shown}` in the output folder: it is {found}"),
    )
    .at(Span::file(shown))
    .found(found)
    .expected(if folder {
        "a plain folder (or nothing) for each target under --out"
    } else {
        "a regular file (or nothing) for each query under --out"
    })
    .hint("detc never writes or reads through a link; remove it, or choose another --out folder"))
}

/// Writes every output to `out/<target>/<file_name>`; returns the paths written. A target folder
/// or query file that exists as a symbolic link (or other non-regular file) is refused (E0004)
/// before anything is written.
pub fn write_outputs(
    outputs: &[Emitted],
    out: &std::path::Path,
) -> Result<Vec<String>, Diagnostic> {
    for e in outputs {
        let dir = out.join(&e.target);
        guard_output_path(&dir, true)?;
        guard_output_path(&dir.join(&e.file_name), false)?;
    }
    let mut written = Vec::new();
    for e in outputs {
        let dir = out.join(&e.target);
        std::fs::create_dir_all(&dir).map_err(|err| {
            crate::load::io_error(&dir.to_string_lossy(), &err)
                .hint("check that the output folder is writable")
        })?;
        let path = dir.join(&e.file_name);
        // Checked again just before writing: the folder may have been made meanwhile.
        guard_output_path(&path, false)?;
        replace_file(&dir, &e.file_name, &e.text).map_err(|err| {
            crate::load::io_error(&path.to_string_lossy(), &err)
                .hint("check that the output folder is writable")
        })?;
        written.push(format!("{}/{}", e.target, e.file_name));
    }
    Ok(written)
}

/// Writes `dir/name` as a new file: the text goes to a fresh temporary file (created exclusively,
/// so never through a link) that is then renamed over `name`. Renaming replaces the directory
/// entry, so neither a link put there after the check nor a hard link shared with a file outside
/// the output folder is written through.
fn replace_file(dir: &std::path::Path, name: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(".{name}.detc-tmp"));
    // A leftover of an interrupted run; removing a link removes the link, not its target.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Compares outputs with `out/<target>/` for every target in `targets`: changed, missing and
/// extra files, each with a unified diff. Sorted by path. A target folder or a file in it that is
/// a symbolic link or not a regular file is an error (E0004); it is never read.
pub fn check_outputs(
    outputs: &[Emitted],
    targets: &[String],
    out: &std::path::Path,
) -> Result<Vec<Drift>, Diagnostic> {
    let mut drift = Vec::new();
    let mut expected: BTreeMap<String, &str> = BTreeMap::new();
    for e in outputs {
        expected.insert(format!("{}/{}", e.target, e.file_name), &e.text);
    }
    let mut on_disk: BTreeMap<String, String> = BTreeMap::new();
    for t in targets {
        let dir = out.join(t);
        guard_output_path(&dir, true)?;
        let unreadable = |p: &std::path::Path, err: std::io::Error| {
            crate::load::io_error(&p.to_string_lossy(), &err)
                .hint("the committed queries under --out must be readable UTF-8 text files")
        };
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            // No folder yet: every query of the target is missing, reported below.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(unreadable(&dir, err)),
        };
        let mut entries = rd
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| unreadable(&dir, err))?;
        entries.sort_by_key(|e| e.file_name());
        for ent in entries {
            let p = ent.path();
            // Sub-folders are not queries; everything else must be a regular file.
            if ent.file_type().map_err(|err| unreadable(&p, err))?.is_dir() {
                continue;
            }
            guard_output_path(&p, false)?;
            let name = ent.file_name().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&p).map_err(|err| unreadable(&p, err))?;
            on_disk.insert(format!("{t}/{name}"), text);
        }
    }
    let diff = |path: &str, old: &str, new: &str| {
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{path}"), &format!("b/{path}"))
            .to_string()
    };
    for (path, new) in &expected {
        match on_disk.get(path) {
            Some(old) if old == new => {}
            Some(old) => drift.push(Drift {
                path: path.clone(),
                kind: "changed".into(),
                diff: diff(path, old, new),
            }),
            None => drift.push(Drift {
                path: path.clone(),
                kind: "missing".into(),
                diff: diff(path, "", new),
            }),
        }
    }
    for (path, old) in &on_disk {
        if !expected.contains_key(path) {
            drift.push(Drift {
                path: path.clone(),
                kind: "extra".into(),
                diff: diff(path, old, ""),
            });
        }
    }
    drift.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(drift)
}

/// The checked pack of one rule file held in memory (the backends' unit tests).
#[cfg(test)]
pub(crate) fn pack_of(text: &str) -> ir::Pack {
    let fe = crate::frontend(&[crate::SourceFile {
        path: "r.detc".into(),
        text: text.into(),
    }]);
    fe.pack
        .unwrap_or_else(|| unreachable!("{:?}", fe.diagnostics))
}

#[cfg(test)]
mod profile_key_tests {
    /// A profile source without the key its language needs (SPL `search`, Sigma `logsource`)
    /// is E0905 naming profile, source and key, never a query that starts from an empty search
    /// (every event) or a Sigma rule with no logsource.
    #[test]
    fn a_profile_source_missing_its_key_is_e0905_not_an_empty_value() {
        let text = "rule r { id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\" title \"t\" severity low \
                    source network_connection where remote.port == 25 }";
        let pack = super::pack_of(text);
        for (target, key) in [("spl-sysmon", "search"), ("sigma", "logsource")] {
            let mut p = super::profile(target).unwrap_or_else(|| unreachable!("{target}"));
            assert!(super::compile_rule(&pack.rules[0], &p).is_ok(), "{target}");
            for s in p.sources.values_mut() {
                match key {
                    "search" => s.search = None,
                    _ => s.logsource = None,
                }
            }
            let errs = super::compile_rule(&pack.rules[0], &p)
                .err()
                .unwrap_or_else(|| unreachable!("{target}: compiled without `{key}`"));
            assert!(
                errs.iter().any(|d| d.code == "E0905"
                    && d.message.contains(target)
                    && d.message.contains("network_connection")
                    && d.message.contains(&format!("`{key}`"))),
                "{target}: {errs:?}"
            );
        }
    }
}
