//! Input schemas: data files (`targets/inputs/*.yaml`, embedded in the binary) that map the raw
//! fields of a log format to the abstract catalogue of one source (`src/ir/catalogue.rs`).
//!
//! A schema says
//! - `detect`: sets of raw keys; a file whose first record has every key of some set (and, for
//!   Zeek TSV, whose `#path` equals `zeek_path` when given) is of this schema;
//! - `applies`: conditions a row must meet to be an event of the source at all (a Windows event
//!   file mixes event types: only Sysmon EventID 3 rows are network connections). Other rows are
//!   *not applicable*: skipped and counted, not errors;
//! - `swap`: raw field pairs exchanged when a condition holds (Sysmon reports the initiator as
//!   `Source*`, so for an inbound connection the local side is `Destination*`);
//! - `fields`: for each catalogue field, the raw keys to read (first present wins), an optional
//!   `transform` (`basename`, `lower`), an optional value `map` (with `default`), or `join` of
//!   several keys. The value is then converted to the catalogue type: ports, byte counts and
//!   integers from numbers or numeric strings (a fraction is a bad value; durations are floored
//!   to the second), IPs parsed, timestamps as in [`super::time`], enums lowercased and checked
//!   against the catalogue's symbols.
//! - `missing`: raw values that mean "unset" (`-`, `(empty)`), in addition to null and "".
//!
//! A value that cannot be converted makes the row a bad line with the field and reason, and so
//! does a row without a timestamp (it cannot be placed in a window; Zeek's test baselines mask
//! `ts` as `XXXXXXXXXX.XXXXXX`, and each such row is reported as a bad line).

use super::time;
use super::Event;
use crate::ir::catalogue;
use crate::ir::{FieldType, Source, Value};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The schemas shipped with detc, as (file name, YAML text): every file of `targets/inputs/`
/// ([`crate::registry`]).
pub const BUILTIN: &[(&str, &str)] = crate::registry::INPUTS;

/// A raw field value as a reader found it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Raw<'a> {
    Str(&'a str),
    /// A JSON number, as its text.
    Num(&'a serde_json::Number),
    Bool(bool),
}

impl Raw<'_> {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Raw::Str(s) => std::borrow::Cow::Borrowed(s),
            Raw::Num(n) => std::borrow::Cow::Owned(n.to_string()),
            Raw::Bool(b) => std::borrow::Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

/// A row of some format: raw key -> value (absent or JSON null: `None`).
pub trait Record {
    fn get(&self, key: &str) -> Option<Raw<'_>>;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    name: String,
    // Required (the file documents itself), never read by the evaluator.
    #[allow(dead_code)]
    description: String,
    source: String,
    detect: Vec<Vec<String>>,
    #[serde(default)]
    zeek_path: Option<String>,
    #[serde(default)]
    missing: Vec<String>,
    #[serde(default)]
    applies: Vec<Cond>,
    #[serde(default)]
    swap: Option<Swap>,
    fields: BTreeMap<String, FieldSpec>,
}

/// A condition on a raw field: the first present key of `field` has a value (as text,
/// case-sensitive) in `in`. With `if_present: true`, a row without any of the keys passes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cond {
    pub field: Vec<String>,
    #[serde(rename = "in")]
    pub values: Vec<String>,
    #[serde(default)]
    pub if_present: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Swap {
    when: Cond,
    pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FieldSpec {
    #[serde(default)]
    from: Vec<String>,
    #[serde(default)]
    join: Vec<String>,
    #[serde(default)]
    sep: String,
    #[serde(default)]
    transform: Option<Transform>,
    #[serde(default)]
    map: Option<BTreeMap<String, String>>,
    #[serde(default)]
    default: Option<String>,
    /// A constant (`app.protocol: {value: smtp}` for a log of one protocol).
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Transform {
    /// The last component of a Windows or POSIX path.
    Basename,
    Lower,
}

/// A loaded, validated input schema.
#[derive(Debug, Clone)]
pub struct InputSchema {
    pub name: String,
    pub source: Source,
    pub detect: Vec<Vec<String>>,
    pub zeek_path: Option<String>,
    missing: Vec<String>,
    applies: Vec<Cond>,
    swap: Option<Swap>,
    fields: Vec<(String, FieldType, FieldSpec)>,
    /// Every raw key a mapping may read (sorted), plus the first segment of dotted keys.
    needed: Vec<String>,
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Event(Event),
    /// Not an event of the schema's source (e.g. a Sysmon process-creation row).
    NotApplicable,
}

impl InputSchema {
    /// Parses and validates a schema file against the catalogue.
    pub fn parse(file: &str, text: &str) -> Result<InputSchema, String> {
        let f: SchemaFile =
            serde_yaml::from_str(text).map_err(|e| format!("input schema {file}: {e}"))?;
        let source = catalogue::source_by_name(&f.source)
            .ok_or_else(|| format!("input schema {file}: unknown source `{}`", f.source))?;
        let mut fields = Vec::new();
        for (name, spec) in f.fields {
            let def = catalogue::field(source, &name).ok_or_else(|| {
                format!(
                    "input schema {file}: `{name}` is not a field of {}",
                    source.name()
                )
            })?;
            if spec.from.is_empty() && spec.join.is_empty() && spec.value.is_none() {
                return Err(format!(
                    "input schema {file}: `{name}` has no `from`, `join` or `value`"
                ));
            }
            fields.push((name, def.ty, spec));
        }
        let mut needed: Vec<String> = Vec::new();
        for (_, _, spec) in &fields {
            needed.extend(spec.from.iter().cloned());
            needed.extend(spec.join.iter().cloned());
        }
        for c in &f.applies {
            needed.extend(c.field.iter().cloned());
        }
        if let Some(sw) = &f.swap {
            needed.extend(sw.when.field.iter().cloned());
            for (a, b) in &sw.pairs {
                needed.push(a.clone());
                needed.push(b.clone());
            }
        }
        let heads: Vec<String> = needed
            .iter()
            .filter_map(|k| k.split_once('.').map(|(h, _)| h.to_string()))
            .collect();
        needed.extend(heads);
        needed.sort();
        needed.dedup();
        Ok(InputSchema {
            needed,
            name: f.name,
            source,
            detect: f.detect,
            zeek_path: f.zeek_path,
            missing: f.missing,
            applies: f.applies,
            swap: f.swap,
            fields,
        })
    }

    /// The raw keys a catalogue field may be read from (its `from` keys and their `swap`
    /// partners), when the mapping is a plain copy (no map, transform or join): the prefilter's
    /// input. `None` when the field is not mapped or not plainly.
    pub fn plain_keys(&self, field: &str) -> Option<Vec<String>> {
        let (_, _, spec) = self.fields.iter().find(|(n, _, _)| n == field)?;
        if spec.map.is_some()
            || spec.transform.is_some()
            || !spec.join.is_empty()
            || spec.value.is_some()
        {
            return None;
        }
        let mut keys = spec.from.clone();
        if let Some(sw) = &self.swap {
            for k in &spec.from {
                for (a, b) in &sw.pairs {
                    if a == k {
                        keys.push(b.clone());
                    }
                    if b == k {
                        keys.push(a.clone());
                    }
                }
            }
        }
        keys.sort();
        keys.dedup();
        Some(keys)
    }

    /// The raw key actually read for `k`: its `swap` partner when the swap condition held.
    fn swapped_key<'a>(&'a self, k: &'a str, swapped: bool) -> &'a str {
        if swapped {
            if let Some(s) = &self.swap {
                for (a, b) in &s.pairs {
                    if a == k {
                        return b;
                    }
                    if b == k {
                        return a;
                    }
                }
            }
        }
        k
    }

    /// Whether a mapping may read the raw key `k` (the full path parses only those).
    pub fn needs_key(&self, k: &str) -> bool {
        self.needed.binary_search_by(|n| n.as_str().cmp(k)).is_ok()
    }

    /// Raw values read as missing besides null and "".
    pub fn missing_markers(&self) -> &[String] {
        &self.missing
    }

    fn is_missing(&self, r: &Raw<'_>) -> bool {
        match r {
            Raw::Str(s) => s.is_empty() || self.missing.iter().any(|m| m == s),
            _ => false,
        }
    }

    fn cond_holds(&self, c: &Cond, rec: &dyn Record) -> bool {
        match c.field.iter().find_map(|k| rec.get(k)) {
            Some(v) => c.values.iter().any(|x| *x == v.text()),
            None => c.if_present,
        }
    }

    /// Whether a record's keys identify this schema.
    pub fn detects(&self, has_key: &dyn Fn(&str) -> bool, zeek_path: Option<&str>) -> bool {
        if let (Some(want), Some(got)) = (&self.zeek_path, zeek_path) {
            if want != got {
                return false;
            }
        }
        self.detect.iter().any(|set| set.iter().all(|k| has_key(k)))
    }

    /// Maps one record to an abstract event, or says it does not apply, or why it is malformed.
    pub fn map(&self, rec: &dyn Record) -> Result<Mapped, String> {
        if !self.applies.iter().all(|c| self.cond_holds(c, rec)) {
            return Ok(Mapped::NotApplicable);
        }
        let swapped = self
            .swap
            .as_ref()
            .is_some_and(|s| self.cond_holds(&s.when, rec));
        let get = |k: &str| {
            rec.get(self.swapped_key(k, swapped))
                .filter(|v| !self.is_missing(v))
        };
        let mut ev = Event::new();
        for (name, ty, spec) in &self.fields {
            let text: Option<String> = if let Some(v) = &spec.value {
                Some(v.clone())
            } else if !spec.join.is_empty() {
                let parts: Vec<String> = spec
                    .join
                    .iter()
                    .filter_map(|k| get(k).map(|v| v.text().into_owned()))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(&spec.sep))
            } else {
                match spec.from.iter().find_map(|k| get(k).map(|v| (k, v))) {
                    None => None,
                    Some((k, raw)) => {
                        // Numbers convert directly when the catalogue type is numeric.
                        if let (Raw::Num(n), true) = (raw, spec.map.is_none()) {
                            match convert_number(n, ty) {
                                Some(Ok(v)) => {
                                    ev.insert(name.clone(), v);
                                    continue;
                                }
                                Some(Err(e)) => return Err(format!("field `{k}` ({name}): {e}")),
                                None => {}
                            }
                        }
                        Some(raw.text().into_owned())
                    }
                }
            };
            let Some(mut text) = text else { continue };
            match spec.transform {
                Some(Transform::Basename) => {
                    text = text
                        .rsplit(['\\', '/'])
                        .next()
                        .unwrap_or(text.as_str())
                        .to_string()
                }
                Some(Transform::Lower) => text = super::ops::simple_lower(&text),
                None => {}
            }
            if let Some(map) = &spec.map {
                match map.get(&text).or(spec.default.as_ref()) {
                    Some(v) => text = v.clone(),
                    None => continue,
                }
            }
            if text.is_empty() {
                continue;
            }
            let src = spec
                .from
                .first()
                .or(spec.join.first())
                .map(String::as_str)
                .unwrap_or("");
            let v = convert_text(&text, ty).map_err(|e| format!("field `{src}` ({name}): {e}"))?;
            ev.insert(name.clone(), v);
        }
        if !ev.contains_key("time") {
            let keys = self
                .fields
                .iter()
                .find(|(n, _, _)| n == "time")
                .map(|(_, _, s)| s.from.join(", "))
                .unwrap_or_default();
            return Err(format!(
                "no timestamp (none of {keys} has a value): the event cannot be placed in time"
            ));
        }
        Ok(Mapped::Event(ev))
    }
}

/// The integer types: (least, greatest, what, whether a fraction is floored). Only durations
/// floor: they are seconds, and Zeek writes them with microseconds (`1.201128`). A port, byte
/// count or integer with a fraction (`25.5`) is a bad value, like `0x19` or `70000`.
fn int_of(ty: &FieldType) -> Option<(i64, i64, &'static str, bool)> {
    match ty {
        FieldType::Port => Some((0, 65_535, "a port (0..65535)", false)),
        FieldType::Bytes => Some((0, i64::MAX, "a byte count", false)),
        FieldType::Duration => Some((0, i64::MAX, "a duration in seconds", true)),
        FieldType::Int => Some((i64::MIN, i64::MAX, "an integer", false)),
        _ => None,
    }
}

/// A float as an integer: exact (`25.0`), or floored when `floor`; `None` for a fraction, a
/// non-finite value, or one outside i64 (never saturated into range).
fn int_of_f64(f: f64, floor: bool) -> Option<i64> {
    let g = if floor { f.floor() } else { f };
    // 2^63 is exact as an f64; every float in [-2^63, 2^63) converts exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (g.is_finite() && g.fract() == 0.0 && (-LIMIT..LIMIT).contains(&g)).then_some(g as i64)
}

fn convert_number(n: &serde_json::Number, ty: &FieldType) -> Option<Result<Value, String>> {
    if let Some((lo, hi, what, floor)) = int_of(ty) {
        let v = n
            .as_i64()
            .or_else(|| n.as_f64().and_then(|f| int_of_f64(f, floor)));
        return Some(match v {
            Some(v) if (lo..=hi).contains(&v) => Ok(Value::Int(v)),
            _ => Err(format!("`{n}` is not {what}")),
        });
    }
    if *ty == FieldType::Timestamp {
        return Some(time::parse(&n.to_string()).map(Value::Timestamp));
    }
    None
}

/// Converts text to the catalogue type.
pub fn convert_text(text: &str, ty: &FieldType) -> Result<Value, String> {
    let t = text.trim();
    if let Some((lo, hi, what, floor)) = int_of(ty) {
        let v = t.parse::<i64>().ok().or_else(|| {
            // Plain decimals only: no `1e3`, `inf`, `0x19`.
            t.bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
                .then(|| t.parse::<f64>().ok())
                .flatten()
                .and_then(|f| int_of_f64(f, floor))
        });
        return match v {
            Some(v) if (lo..=hi).contains(&v) => Ok(Value::Int(v)),
            _ => Err(format!("`{t}` is not {what}")),
        };
    }
    match ty {
        FieldType::Ip => {
            let a = t.split('%').next().unwrap_or(t);
            a.parse()
                .map(Value::Ip)
                .map_err(|_| format!("`{t}` is not an IP address"))
        }
        FieldType::Timestamp => time::parse(t).map(Value::Timestamp),
        FieldType::Enum(symbols) => {
            let l = super::ops::simple_lower(t);
            if symbols.contains(&l) {
                Ok(Value::Enum(l))
            } else {
                Err(format!("`{t}` is not one of {}", symbols.join(", ")))
            }
        }
        _ => Ok(Value::Str(text.to_string())),
    }
}

/// The built-in schemas, parsed. An error here is a bug in a shipped YAML file (tested).
/// A schema is named as its file (`zeek-conn.yaml` is `zeek-conn`): the checker and the CLI know
/// the names from the file names alone ([`crate::registry::INPUT_NAMES`]).
pub fn builtin() -> Result<Vec<InputSchema>, String> {
    BUILTIN
        .iter()
        .map(|(f, t)| {
            let s = InputSchema::parse(f, t)?;
            if Some(s.name.as_str()) != f.strip_suffix(".yaml") {
                return Err(format!(
                    "input schema {f}: names itself `{}`, not its file name",
                    s.name
                ));
            }
            Ok(s)
        })
        .collect()
}

/// The names of the built-in schemas, for messages.
pub fn names() -> Vec<String> {
    // `builtin` failing is a bug in a shipped file, reported (E0802) where events are read;
    // a message that lists the names is no place to report it again.
    builtin()
        .map(|v| v.into_iter().map(|s| s.name).collect())
        .unwrap_or_default()
}
