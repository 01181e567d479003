//! Target profiles as data: the types of `targets/<name>/profile.yaml`, the vendor column lists
//! of `targets/schemas/`, and loading them (embedded in the binary, `crate::registry`) into
//! checked [`Profile`]s.

use crate::diag::{Code, Diagnostic};
use crate::ir;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Kql,
    Sigma,
    Spl,
}

/// A target profile, as read from `targets/<name>/profile.yaml` plus its template and schemas.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Sources the target has no table for, with the reason (E0901 gives it): a source absent
    /// from both maps is simply not there.
    #[serde(default)]
    pub refuses: BTreeMap<String, String>,
    /// The minijinja template (layout only).
    #[serde(skip)]
    pub template: String,
}

/// Where one abstract source lives in a target, and how its catalogue fields map to columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceMap {
    /// The table (or logsource, data model) name, as in the schema file.
    pub table: String,
    /// The vendor column list under targets/schemas/.
    pub schema: String,
    /// The keys of the profile's language, under its name (`kql:`, `spl:`, `sigma:`); the
    /// loader checks that it is the profile's `language`.
    #[serde(flatten)]
    pub options: SourceOptions,
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
    /// The one platform whose events this entry reads (`windows`: Sysmon's field names, Sigma's
    /// `product: windows`). Absent: one table holds every platform's events (Defender's
    /// DeviceProcessEvents), so a rule of any platform reads this entry.
    #[serde(default)]
    pub platform: Option<ir::Platform>,
    /// The same source on the other platforms, each an entry of its own (table, logsource or
    /// search, fields): a rule whose `platform` has neither this entry nor one here is refused
    /// (E0308). Only in an entry with a `platform`.
    #[serde(default)]
    pub platforms: BTreeMap<ir::Platform, SourceMap>,
    /// The loaded column list (name -> vendor type).
    #[serde(skip)]
    pub columns: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applies {
    pub column: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Swap {
    /// The column that decides (`Initiated`).
    pub column: String,
    /// The values of `column` for which the pairs swap (`["false"]`).
    pub values: Vec<String>,
    pub pairs: Vec<[String; 2]>,
}

/// The keys one source needs in the profile's language. Every key is required: a missing or
/// misspelt one is a load error (E0905) naming the file and the key, never an empty value in a
/// query.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceOptions {
    Kql(KqlSource),
    Spl(SplSource),
    Sigma(SigmaSource),
}

impl SourceOptions {
    pub fn language(&self) -> Language {
        match self {
            SourceOptions::Kql(_) => Language::Kql,
            SourceOptions::Spl(_) => Language::Spl,
            SourceOptions::Sigma(_) => Language::Sigma,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KqlSource {
    /// The tabular expression the query starts from (the table, or an ASIM parser function).
    pub from: String,
    /// The filtering parameters of the ASIM parser `from` names, each with the catalogue field it
    /// filters and how (Microsoft's schema reference of the parser). A parameter is passed only
    /// where the rule's own `where` implies it (`kql::parser_arguments`): the parser then drops
    /// only events the rule drops, and the full filter still decides. Passing them is the
    /// parser's documented way to filter early ("optional, but can improve your query
    /// performance").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, KqlParameter>,
}

/// One filtering parameter of an ASIM parser.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KqlParameter {
    /// The catalogue field the parameter filters (through the profile's column for it).
    pub field: String,
    pub filter: ParameterFilter,
}

/// What a parser parameter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterFilter {
    /// One value (`dstportnumber:int`): the events whose field equals it.
    Equals,
    /// A list of IPv4 prefixes (`srcipaddr_has_any_prefix:dynamic`): the events whose field
    /// `has_any_ipv4_prefix` of the list (a whole address, or leading octets ending in `.`).
    Ipv4Prefix,
}

/// SPL's two ways to read a source: a base search whose events the query filters with `where`
/// (three-valued, case-sensitive) and aggregates with `stats`, or `tstats` over an accelerated
/// data model (search syntax, aggregating rules only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum SplSource {
    Search {
        /// The base search (a fixed, trusted string from the profile).
        search: String,
    },
    Tstats {
        /// The data model (`Network_Traffic.All_Traffic`).
        datamodel: String,
        /// The prefix of data model fields in queries (`All_Traffic.`).
        prefix: String,
        /// `tstats summariesonly=`: `true` reads only the accelerated summaries (fast, but
        /// events not yet summarised are missed); `false` (default) also reads raw events.
        /// A project sets it in its detc.yaml (`targets: {spl-cim: {network_flow:
        /// {summariesonly: true}}}`).
        #[serde(default)]
        summariesonly: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigmaSource {
    /// The logsource mapping of the rule.
    pub logsource: BTreeMap<String, String>,
    /// The file name's prefix for this logsource, after SigmaHQ's filename convention
    /// (sigma-specification: sigmahq/sigmahq-filename-convention.md): `proc_creation_win_`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_prefix: Option<String>,
}

impl SourceMap {
    /// The entry that reads this source's events of `platform`: this one for a rule without a
    /// platform (the profile's default) or when it serves the platform, else the one under
    /// `platforms`; `None` when the target has none (E0308).
    pub fn for_platform(&self, platform: Option<ir::Platform>) -> Option<&SourceMap> {
        match platform {
            None => Some(self),
            Some(p) if self.platform.is_none_or(|q| q == p) => Some(self),
            Some(p) => self.platforms.get(&p),
        }
    }

    /// The platforms this entry and its `platforms` read (empty: every platform).
    pub fn platform_names(&self) -> Vec<&'static str> {
        self.platform
            .into_iter()
            .chain(self.platforms.keys().copied())
            .map(ir::Platform::name)
            .collect()
    }

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
#[serde(deny_unknown_fields)]
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
    /// `basename`: the field is the last `\`-separated segment of the column (Sysmon `Image`);
    /// `long`: the field is the column's text read as a number (KQL profiles only).
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
    /// A number the source writes as text (ASIM's `TargetProcessId`: a string column that on
    /// Windows and Linux holds a decimal process id). KQL reads it as `tolong(C)`: the number, or
    /// null when the text is none, so that a value that is no number is a missing one, as the
    /// evaluator reads it (docs/TARGETS.md).
    Long,
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
    let text = crate::registry::SCHEMAS
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, t)| *t)
        .ok_or_else(|| format!("schema file `{file}` is not embedded"))?;
    let s: SchemaFile =
        serde_yaml::from_str(text).map_err(|e| format!("schema file `{file}`: {e}"))?;
    Ok(s.columns.into_iter().map(|c| (c.name, c.ty)).collect())
}

fn load_profile(name: &str, yaml: &str, template: &str) -> Result<Profile, String> {
    missing_language_keys(yaml).map_err(|e| format!("targets/{name}/profile.yaml: {e}"))?;
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
        load_entry(name, p.language, &format!("sources.{src}"), m)?;
        check_derived_numbers(name, p.language, src, m)?;
        if !m.platforms.is_empty() && m.platform.is_none() {
            return Err(format!(
                "targets/{name}/profile.yaml: sources.{src}: `platforms` beside no `platform`: an entry without one already reads every platform"
            ));
        }
        for (pl, e) in m.platforms.iter_mut() {
            let at = format!("sources.{src}.platforms.{}", pl.name());
            if e.platform.is_some_and(|q| q != *pl) || !e.platforms.is_empty() {
                return Err(format!(
                    "targets/{name}/profile.yaml: {at}: an entry under `platforms` is for that platform only (no `platform` of another, no `platforms` of its own)"
                ));
            }
            e.platform = Some(*pl);
            load_entry(name, p.language, &at, e)?;
            check_derived_numbers(name, p.language, src, e)?;
        }
    }
    for src in p.refuses.keys() {
        if ir::catalogue::source_by_name(src).is_none() || p.sources.contains_key(src) {
            return Err(format!(
                "targets/{name}/profile.yaml: refuses `{src}`, which is not a source or has a table"
            ));
        }
    }
    p.template = template.to_string();
    Ok(p)
}

/// Checks one source entry's language and loads its column list.
fn load_entry(name: &str, language: Language, at: &str, m: &mut SourceMap) -> Result<(), String> {
    if m.options.language() != language {
        return Err(format!(
            "targets/{name}/profile.yaml: {at}: keys for `{}`, but the profile's language is `{}`",
            lang_key(m.options.language()),
            lang_key(language)
        ));
    }
    m.columns = load_schema(&m.schema)?;
    for c in &m.implicit_columns {
        m.columns.insert(c.clone(), "implicit".into());
    }
    Ok(())
}

/// `derive: long` reads a number held as text: only a KQL backend emits it (`tolong`), and only
/// for a field the catalogue types as an integer.
fn check_derived_numbers(
    name: &str,
    language: Language,
    src: &str,
    m: &SourceMap,
) -> Result<(), String> {
    for (f, map) in &m.fields {
        if map.derive != Some(Derive::Long) {
            continue;
        }
        let int = ir::catalogue::source_by_name(src)
            .and_then(|s| ir::catalogue::field(s, f))
            .is_some_and(|c| c.ty == ir::FieldType::Int);
        if language != Language::Kql || !int || !map.join.is_empty() || map.values.is_some() {
            return Err(format!(
                "targets/{name}/profile.yaml: sources.{src}.fields.{f}: `derive: long` reads an integer field from one text column, in a KQL profile only"
            ));
        }
    }
    Ok(())
}

fn lang_key(l: Language) -> &'static str {
    match l {
        Language::Kql => "kql",
        Language::Sigma => "sigma",
        Language::Spl => "spl",
    }
}

/// A source without the key of the profile's language (`kql:`, `spl:`, `sigma:`), said in those
/// words: serde would only say that no variant of [`SourceOptions`] was found.
fn missing_language_keys(yaml: &str) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Head {
        language: Language,
        sources: BTreeMap<String, serde_yaml::Mapping>,
    }
    // A file that does not parse this far is reported by the full parse, with its position.
    let Ok(head) = serde_yaml::from_str::<Head>(yaml) else {
        return Ok(());
    };
    let key = lang_key(head.language);
    match head.sources.iter().find(|(_, m)| !m.contains_key(key)) {
        Some((src, _)) => Err(format!(
            "sources.{src}: missing field `{key}` (the keys of the profile's language)"
        )),
        None => Ok(()),
    }
}

fn load_checked(name: &str, yaml: &str, template: &str) -> Result<Profile, Diagnostic> {
    load_profile(name, yaml, template)
        .map_err(|e| Diagnostic::new(Code::E0905, format!("target profile does not load: {e}")))
}

/// Every built-in profile, loaded and checked, without a project's overrides.
pub fn builtin_profiles() -> Result<Vec<Profile>, Diagnostic> {
    let mut v = Vec::new();
    for p in crate::registry::PROFILES {
        v.push(load_checked(p.name, p.profile, p.template)?);
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// Every profile, loaded and checked, with the overrides of the project config in force
/// ([`crate::config::active`]) merged in; or the reason one does not load.
pub fn load_profiles() -> Result<Vec<Profile>, Diagnostic> {
    let mut v = builtin_profiles()?;
    let config = crate::config::active();
    for (target, sources) in config.iter().flat_map(|c| &c.targets) {
        for (source, o) in sources {
            // Checked when the config was loaded (`crate::config`); failing here is a bug.
            apply_override(&mut v, target, source, o).map_err(|e| {
                Diagnostic::new(Code::E0033, format!("target override: {}", e.message))
            })?;
        }
    }
    Ok(v)
}

/// A project's settings for one source of one target (`targets: {TARGET: {SOURCE: ...}}` in its
/// detc.yaml): where the source's events live in the project's SIEM. Each key belongs to one
/// language, and to one SPL mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceOverride {
    /// KQL: the tabular expression the query starts from (a table, or an ASIM parser with its
    /// filtering parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// SPL, search mode: the base search (index, sourcetype, macros).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// SPL, tstats mode: `summariesonly=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summariesonly: Option<bool>,
    /// Sigma: the rule's logsource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logsource: Option<BTreeMap<String, String>>,
}

/// Target -> source -> the project's settings.
pub type Overrides = BTreeMap<String, BTreeMap<String, SourceOverride>>;

/// Why an override does not apply, with the key at fault (the target, the source, or a key of
/// [`SourceOverride`]) for a caller that locates it in the config text.
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideError {
    pub message: String,
    pub key: String,
    pub found: String,
    pub expected: String,
    pub hint: Option<String>,
}

fn override_err(
    message: String,
    key: &str,
    found: String,
    expected: impl Into<String>,
) -> OverrideError {
    OverrideError {
        message,
        key: key.to_string(),
        found,
        expected: expected.into(),
        hint: None,
    }
}

/// Merges one override into the profile `target` of `profiles`, with the checks a profile's
/// own values get: the key must be of the profile's language (and SPL mode), and a value that
/// becomes query text must be one expression of its kind (a pipe or a line break would add
/// stages of the user's own to every query).
pub fn apply_override(
    profiles: &mut [Profile],
    target: &str,
    source: &str,
    o: &SourceOverride,
) -> Result<(), OverrideError> {
    let names: Vec<String> = profiles.iter().map(|p| p.name.clone()).collect();
    let Some(p) = profiles.iter_mut().find(|p| p.name == target) else {
        let mut e = override_err(
            format!("unknown target `{target}`"),
            target,
            format!("`{target}`"),
            format!("one of {}", names.join(", ")),
        );
        e.hint = crate::diag::nearest(target, names.iter().map(String::as_str))
            .map(|n| format!("did you mean `{n}`?"));
        return Err(e);
    };
    let language = p.language;
    let srcs: Vec<String> = p.sources.keys().cloned().collect();
    let Some(m) = p.sources.get_mut(source) else {
        let mut e = override_err(
            format!("target `{target}` has no source `{source}`"),
            source,
            format!("`{source}`"),
            format!("a source of {target}: {}", srcs.join(", ")),
        );
        e.hint = crate::diag::nearest(source, srcs.iter().map(String::as_str))
            .map(|n| format!("did you mean `{n}`?"));
        return Err(e);
    };
    let wrong = |key: &str, takes: &str| {
        override_err(
            format!("`{key}` is not a setting of {target}'s {source}"),
            key,
            format!("`{key}`"),
            format!("the settings of {target} ({takes})"),
        )
    };
    let takes = match (&m.options, language) {
        (SourceOptions::Kql(_), _) => "from",
        (SourceOptions::Spl(SplSource::Search { .. }), _) => "search",
        (SourceOptions::Spl(SplSource::Tstats { .. }), _) => "summariesonly",
        (SourceOptions::Sigma(_), _) => "logsource",
    };
    for (key, set) in [
        ("from", o.from.is_some()),
        ("search", o.search.is_some()),
        ("summariesonly", o.summariesonly.is_some()),
        ("logsource", o.logsource.is_some()),
    ] {
        if set && key != takes {
            return Err(wrong(key, takes));
        }
    }
    match &mut m.options {
        SourceOptions::Kql(k) => {
            if let Some(from) = &o.from {
                check_kql_from(from).map_err(|why| {
                    override_err(
                        format!("`from` of {target}'s {source} is not one table or function call: {why}"),
                        "from",
                        format!("`{from}`"),
                        "a table name or a function call (`_Im_NetworkSession(starttime=ago(1d))`) on one line",
                    )
                })?;
                k.from = from.clone();
                // The parameters describe the profile's parser, not the one the pack names.
                k.parameters.clear();
            }
        }
        SourceOptions::Spl(SplSource::Search { search }) => {
            if let Some(s) = &o.search {
                check_spl_search(s).map_err(|why| {
                    override_err(
                        format!("`search` of {target}'s {source} is not one base search: {why}"),
                        "search",
                        format!("`{s}`"),
                        "search terms on one line (`index=sysmon sourcetype=... EventCode=3`, macros in backticks), no `|`",
                    )
                })?;
                *search = s.clone();
            }
        }
        SourceOptions::Spl(SplSource::Tstats { summariesonly, .. }) => {
            if let Some(b) = o.summariesonly {
                *summariesonly = b;
            }
        }
        SourceOptions::Sigma(sg) => {
            if let Some(ls) = &o.logsource {
                const KEYS: [&str; 4] = ["category", "product", "service", "definition"];
                if let Some(k) = ls.keys().find(|k| !KEYS.contains(&k.as_str())) {
                    let mut e = override_err(
                        format!("`{k}` is not a key of a Sigma logsource"),
                        k,
                        format!("`{k}`"),
                        format!("one of {}", KEYS.join(", ")),
                    );
                    e.hint = crate::diag::nearest(k, KEYS).map(|n| format!("did you mean `{n}`?"));
                    return Err(e);
                }
                sg.logsource = ls.clone();
                // The profile's file prefix names its own logsource, not this one.
                sg.file_prefix = None;
            }
        }
    }
    Ok(())
}

/// A KQL `from`: a name, optionally called with arguments, on one line, with balanced
/// parentheses and no statement or pipe separator outside a string literal.
fn check_kql_from(from: &str) -> Result<(), String> {
    let name_end = from
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(from.len());
    let (name, rest) = from.split_at(name_end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("it does not start with a name".into());
    }
    if rest.is_empty() {
        return Ok(());
    }
    if !rest.starts_with('(') || !rest.ends_with(')') {
        return Err(format!("`{rest}` after the name is not an argument list"));
    }
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (_, '\n' | '\r') => return Err("it has a line break".into()),
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 && i + 1 != rest.len() {
                    return Err("text after the argument list".into());
                }
            }
            (None, '|' | ';') => return Err(format!("`{c}` outside a string")),
            _ => {}
        }
    }
    if depth != 0 || quote.is_some() {
        return Err("unbalanced parentheses or quotes".into());
    }
    Ok(())
}

/// An SPL base search: search terms on one line, no pipe outside a quoted string.
fn check_spl_search(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("it is empty".into());
    }
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            '\n' | '\r' => return Err("it has a line break".into()),
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '|' if !quoted => return Err("`|` outside a quoted string".into()),
            _ => {}
        }
    }
    if quoted {
        return Err("an unclosed quote".into());
    }
    Ok(())
}

/// The profile named `name`; `None` when there is none, or when the profiles do not load
/// ([`load_profiles`] says why).
pub fn profile(name: &str) -> Option<Profile> {
    load_profiles().ok()?.into_iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use crate::diag::Code;

    /// The registry's profile `name` with `edit` applied to its text, loaded: the E0905 message.
    fn load_edited(name: &str, edit: impl Fn(&str) -> String) -> String {
        let p = crate::registry::PROFILES
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| unreachable!("{name}"));
        assert!(
            super::load_checked(p.name, p.profile, p.template).is_ok(),
            "{name}"
        );
        let yaml = edit(p.profile);
        assert_ne!(yaml, p.profile, "{name}: the edit changed nothing");
        match super::load_checked(p.name, &yaml, p.template) {
            Ok(_) => unreachable!("{name}: loaded after the edit"),
            Err(d) => {
                assert_eq!(d.code, Code::E0905);
                d.message
            }
        }
    }

    fn says(msg: &str, name: &str, key: &str) {
        assert!(
            msg.contains(&format!("targets/{name}/profile.yaml"))
                && msg.contains(&format!("`{key}`")),
            "{msg}"
        );
    }

    /// A misspelt key is a load error naming file and key, never ignored (an ignored `serach`
    /// left the search empty; an ignored `value_case` compared the values case-sensitively).
    #[test]
    fn a_misspelt_profile_key_is_e0905_naming_file_and_key() {
        for (name, from, to) in [
            ("spl-sysmon", "search: '", "serach: '"),
            (
                "kql-sentinel",
                "from: _Im_NetworkSession",
                "form: _Im_NetworkSession",
            ),
            (
                "sigma",
                "logsource: {product: zeek,",
                "logsorce: {product: zeek,",
            ),
            (
                "spl-sysmon",
                "values_case: insensitive",
                "value_case: insensitive",
            ),
        ] {
            let msg = load_edited(name, |y| y.replacen(from, to, 1));
            says(&msg, name, to.split(':').next().unwrap_or_default());
        }
    }

    /// A missing key is a load error naming file and key, never an empty value in a query.
    #[test]
    fn a_missing_profile_key_is_e0905_naming_file_and_key() {
        let drop_line = |needle: &'static str| {
            move |y: &str| {
                y.lines()
                    .filter(|l| !l.trim_start().starts_with(needle))
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
            }
        };
        says(
            &load_edited("spl-sysmon", drop_line("search: '")),
            "spl-sysmon",
            "search",
        );
        let msg = load_edited("spl-cim", |y| y.replacen(", prefix: All_Traffic.", "", 1));
        says(&msg, "spl-cim", "prefix");
        // A source whose keys are another language's than the profile's.
        let msg = load_edited("spl-sysmon", |y| {
            y.replacen("language: spl", "language: kql", 1)
        });
        says(&msg, "spl-sysmon", "kql");
    }

    /// `derive: long` (a number held as text, read with KQL's `tolong`) is refused where no
    /// backend emits it (an SPL profile) and on a field that is not an integer.
    #[test]
    fn derive_long_outside_kql_or_on_a_text_field_is_e0905() {
        let msg = load_edited("spl-sysmon", |y| {
            y.replacen(
                "process.id: {column: ProcessId}",
                "process.id: {column: ProcessId, derive: long}",
                1,
            )
        });
        says(&msg, "spl-sysmon", "derive: long");
        assert!(
            msg.contains("sources.network_connection.fields.process.id"),
            "{msg}"
        );
        let msg = load_edited("kql-sentinel", |y| {
            y.replacen(
                "process.command_line: {column: TargetProcessCommandLine}",
                "process.command_line: {column: TargetProcessCommandLine, derive: long}",
                1,
            )
        });
        says(&msg, "kql-sentinel", "derive: long");
    }
}
