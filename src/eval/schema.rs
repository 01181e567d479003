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
//!   several keys (then `from` is read when none of them is present). The value is then
//!   converted to the catalogue type: ports, byte counts and
//!   integers from numbers or numeric strings (a fraction is a bad value; durations are floored
//!   to the second), IPs parsed, timestamps as in [`super::time`], enums lowercased and checked
//!   against the catalogue's symbols.
//! - `missing`: raw values that mean "unset" (`-`, `(empty)`), in addition to null and "".
//! - `osquery_results`: JSON lines may be osquery batch or snapshot lines, several rows each
//!   ([`super::osquery`]).
//!
//! A value that cannot be converted makes the row a bad line with the field and reason, and so
//! does a row without a timestamp (it cannot be placed in a window; Zeek's test baselines mask
//! `ts` as `XXXXXXXXXX.XXXXXX`, and each such row is reported as a bad line).

use super::ops::Cell;
use super::time;
use super::Event;
use crate::ir::catalogue;
use crate::ir::{FieldType, Source, Value};
use serde::Deserialize;
use std::borrow::Cow;
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

impl<'a> Raw<'a> {
    /// Whether the value's text is `t`, without building it (a number is compared as it would
    /// print): the reference the rows' [`Exact`] comparison is tested against.
    #[cfg(test)]
    pub fn is_text(self, t: &str) -> bool {
        match self {
            Raw::Str(s) => s == t,
            Raw::Bool(b) => t == if b { "true" } else { "false" },
            // A non-negative integer prints as its digits: no sign, no leading zero.
            Raw::Num(n) => match n.as_u64() {
                Some(x) => {
                    let digits = !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
                    digits && (t == "0" || !t.starts_with('0')) && t.parse::<u64>() == Ok(x)
                }
                None => n.to_string() == t,
            },
        }
    }

    pub fn text(self) -> Cow<'a, str> {
        match self {
            Raw::Str(s) => Cow::Borrowed(s),
            Raw::Num(n) => Cow::Owned(n.to_string()),
            Raw::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        }
    }
}

/// A row of some format: raw key -> value (absent or JSON null: `None`).
pub trait Record {
    fn get(&self, key: &str) -> Option<Raw<'_>>;

    /// The value of the raw key numbered `i` among the schema's [`Keys`] (named `key`).
    /// Readers built over those keys keep values by number and answer without comparing names.
    fn at(&self, i: usize, key: &str) -> Option<Raw<'_>> {
        let _ = i;
        self.get(key)
    }
}

/// Two words that, with its length, hold every byte of a key of up to 16 bytes: its first and
/// its last 8 bytes (overlapping when shorter than 16), or for a key under 8 bytes its first
/// and last 4 (or its bytes, under 4). Fixed-size loads only: no copy of a variable length.
pub(super) fn words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    let le8 = |i: usize| {
        b.get(i..i + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let le4 = |i: usize| {
        b.get(i..i + 4)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    if n >= 8 {
        (le8(0), le8(n - 8))
    } else if n >= 4 {
        (u64::from(le4(0)), u64::from(le4(n - 4)))
    } else {
        (b.iter().rev().fold(0, |w, &c| w << 8 | u64::from(c)), 0)
    }
}

/// A text that values read per row are compared with exactly (an `applies` or swap value, an
/// enum map's key): its length and [`words`] first, as [`Keys::find`] compares keys, then, past
/// 16 bytes, its other words, without a call to `memcmp` (a `==` on each row's
/// `Channel`, `EventID` and `Initiated`, and a `BTreeMap` walk for `direction`, were about 4%
/// of the instructions of row (f), `--threads 1`). A JSON number is compared as its digits
/// read once here.
#[derive(Debug, Clone)]
pub(super) struct Exact {
    text: String,
    words: (u64, u64),
    /// The text as a non-negative integer prints it (digits, no leading zero).
    num: Option<u64>,
}

impl Exact {
    pub(super) fn new(t: &str) -> Exact {
        let digits = !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
        Exact {
            text: t.to_string(),
            words: words(t.as_bytes()),
            num: (digits && (t == "0" || !t.starts_with('0')))
                .then(|| t.parse().ok())
                .flatten(),
        }
    }

    /// Whether `s` is the text.
    #[inline]
    pub(super) fn is(&self, s: &str) -> bool {
        let (a, b) = (s.as_bytes(), self.text.as_bytes());
        // Up to 16 bytes the words hold every byte.
        a.len() == b.len() && words(a) == self.words && (a.len() <= 16 || same_long(a, b))
    }

    /// [`Raw::is_text`] of the text (tested to agree).
    #[inline(always)]
    pub(super) fn matches(&self, r: Raw<'_>) -> bool {
        match r {
            Raw::Str(s) => self.is(s),
            Raw::Bool(b) => self.is(if b { "true" } else { "false" }),
            Raw::Num(n) => match n.as_u64() {
                Some(x) => self.num == Some(x),
                None => n.to_string() == self.text,
            },
        }
    }
}

/// A [`Cond`] as it is read per row: the numbers of its keys among the schema's [`Keys`], its
/// `in` values as [`Exact`] texts, its flags, and the lengths of its values.
#[derive(Debug, Clone, Default)]
struct CondAt {
    ix: Vec<usize>,
    values: Vec<Exact>,
    present: bool,
    if_present: bool,
    /// Bit `n` set: some value is `n` bytes long (`n` < 64). A string of another length under
    /// 64 bytes equals none of them: Sysmon's `Initiated` is `true` on most rows, and the swap
    /// values are `false`, `False` and `FALSE`.
    lens: u64,
}

impl CondAt {
    fn new(c: &Cond, keys: &Keys) -> CondAt {
        CondAt {
            ix: c.field.iter().filter_map(|k| keys.find(k)).collect(),
            values: c.values.iter().map(|v| Exact::new(v)).collect(),
            present: c.present,
            if_present: c.if_present,
            lens: c.values.iter().fold(0u64, |m, v| {
                m | 1u64.checked_shl(v.len() as u32).unwrap_or(0)
            }),
        }
    }

    /// Whether `v` is one of the values, by [`Exact::matches`]: the general comparison, kept
    /// out of [`InputSchema::cond_holds`]'s inlined loops.
    #[inline(never)]
    fn matches_other(&self, v: Raw<'_>) -> bool {
        self.values.iter().any(|x| x.matches(v))
    }
}

/// Whether `a` and `b`, of one length past 16 bytes whose [`words`] (so their last 8 bytes)
/// already agree, are equal: their 8-byte words from the start compared in registers, the
/// last partial word being within the last 8 bytes (a slice `==` is a `memcmp` call, which
/// with its setup cost more than the few words of an `applies` value such as
/// `Microsoft-Windows-Sysmon/Operational`; in the JSON scanner's planned walk it did not pay:
/// +0.7M instructions on (f)'s 100k lines).
#[inline(always)]
pub(super) fn same_long(a: &[u8], b: &[u8]) -> bool {
    let le8 = |w: &[u8]| w.try_into().map_or(0, u64::from_le_bytes);
    a.len() == b.len()
        && a.chunks_exact(8)
            .zip(b.chunks_exact(8))
            .all(|(x, y)| le8(x) == le8(y))
}

/// The raw keys an input schema reads, numbered once per schema: the readers keep a row's
/// values by these numbers, and the mapping reads them back by number.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// Sorted: every raw key a mapping may read, plus the first segment of dotted keys.
    names: Vec<String>,
    /// By key length: (the two [`words`] of the key, number). A key read from a line is found
    /// by comparing two words with the one or two keys of its length: no hashing, and no
    /// byte comparison unless the key is longer than 16 bytes. (A keyed hash map cost a
    /// tenth of the JSON path.)
    by_len: Vec<Vec<(u64, u64, usize)>>,
    /// For a dotted key (`id.orig_h`), the number of its first segment (`id`).
    head: Vec<Option<usize>>,
    /// Distinct per [`Keys::new`] (a clone keeps it: same keys, same numbers), so that the
    /// JSON scanner's key plan, kept per thread, knows whether it was made with these keys.
    id: u64,
}

impl Keys {
    pub(crate) fn new(mut names: Vec<String>) -> Keys {
        names.sort();
        names.dedup();
        let mut by_len: Vec<Vec<(u64, u64, usize)>> = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let b = n.as_bytes();
            if by_len.len() <= b.len() {
                by_len.resize(b.len() + 1, Vec::new());
            }
            if let Some(v) = by_len.get_mut(b.len()) {
                let (w, t) = words(b);
                v.push((w, t, i));
            }
        }
        let mut keys = Keys {
            names,
            by_len,
            head: Vec::new(),
            id: Keys::next_id(),
        };
        keys.head = keys
            .names
            .iter()
            .map(|n| n.split_once('.').and_then(|(h, _)| keys.find(h)))
            .collect();
        keys
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The number of raw key `k`, if the schema reads it.
    pub fn find(&self, k: &str) -> Option<usize> {
        let b = k.as_bytes();
        let (w, t) = words(b);
        self.by_len
            .get(b.len())?
            .iter()
            .find(|(x, y, i)| *x == w && *y == t && (b.len() <= 16 || self.name(*i) == k))
            .map(|(_, _, i)| *i)
    }

    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", String::as_str)
    }

    /// For dotted key number `i`, the number of its first segment.
    pub fn head(&self, i: usize) -> Option<usize> {
        self.head.get(i).copied().flatten()
    }

    /// The same keys with the same numbers, of which only those `keep` marks (and the first
    /// segments of the kept dotted keys, which hold them nested) are found: a reader built
    /// over them keeps only those values and skips the others. A new id (the scanner's key
    /// plan of the whole set does not serve it).
    pub fn only(&self, keep: &[bool]) -> Keys {
        let kept = |i: usize| keep.get(i).copied().unwrap_or(false);
        let heads: Vec<usize> = (0..self.len())
            .filter(|&i| kept(i))
            .filter_map(|i| self.head(i))
            .collect();
        let by_len = self
            .by_len
            .iter()
            .map(|v| {
                v.iter()
                    .filter(|(_, _, i)| kept(*i) || heads.contains(i))
                    .copied()
                    .collect()
            })
            .collect();
        Keys {
            names: self.names.clone(),
            by_len,
            head: self.head.clone(),
            id: Keys::next_id(),
        }
    }

    fn next_id() -> u64 {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// See the field `id`.
    pub(super) fn id(&self) -> u64 {
        self.id
    }
}

/// An input schema file as written (`targets/inputs/*.yaml`, or an entry of `inputs:` in a
/// project's `detc.yaml`, `crate::config`), before it is checked against the catalogue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    pub name: String,
    // Required (the file documents itself), never read by the evaluator.
    #[allow(dead_code)]
    description: String,
    pub source: String,
    detect: Vec<Vec<String>>,
    #[serde(default)]
    zeek_path: Option<String>,
    #[serde(default)]
    missing: Vec<String>,
    #[serde(default)]
    applies: Vec<Cond>,
    #[serde(default)]
    swap: Option<Swap>,
    /// `true`: JSON lines may also be osquery's batch and snapshot lines, each of several rows
    /// (`super::osquery`), so the file is read row by row, never in raw blocks.
    #[serde(default)]
    osquery_results: bool,
    pub fields: BTreeMap<String, FieldSpec>,
}

/// Why a schema file does not check against the catalogue, with the key it is about (for a
/// caller that can locate it in the text: `crate::config`).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    pub message: String,
    /// The YAML key at fault: `source`, `applies`, or the field name under `fields`.
    pub key: String,
    pub found: String,
    pub expected: String,
    pub hint: Option<String>,
}

/// A condition on a raw field: the first present key of `field` has a value (as text,
/// case-sensitive) in `in`. With `if_present: true`, a row without any of the keys passes.
/// With `present: true` and no `in`, any value holds: the row only has to have one of the keys
/// (an osquery results log mixes every scheduled query; a process row is the one with a
/// command line).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cond {
    pub field: Vec<String>,
    #[serde(rename = "in", default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub if_present: bool,
    #[serde(default)]
    pub present: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Swap {
    when: Cond,
    pairs: Vec<(String, String)>,
}

/// How one catalogue field is read from the raw keys.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
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

/// What the first stage of a two-stage mapping ([`InputSchema::map_first_into`]) decided
/// about a row that applies, for the second ([`InputSchema::map_more_into`]): whether its
/// `swap` pairs are exchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Applied {
    swapped: bool,
}

/// A loaded, validated input schema.
/// The detect keys of a source's schemas, for a cheap test of a JSON line before parsing it to
/// detect one ([`DetectKeys::may_detect`]): each distinct key once (schemas share them:
/// `EventID"`, `event_id"`, `CommandLine"`), each set's keys longest first (a long key is
/// more often the one a line lacks, and the search stops there), and each key searched at most
/// once a line however many sets hold it. A correlation reading a file of another source tries
/// every line for the source's six process schemas (issue 15: a quarter of its pass).
#[derive(Debug, Clone)]
pub struct DetectKeys {
    keys: Vec<memchr::memmem::Finder<'static>>,
    /// Per detect set of every schema: its keys' numbers, longest first.
    sets: Vec<Vec<usize>>,
}

impl DetectKeys {
    pub fn new<'s>(schemas: impl IntoIterator<Item = &'s InputSchema>) -> DetectKeys {
        let mut keys: Vec<memchr::memmem::Finder<'static>> = Vec::new();
        let mut sets = Vec::new();
        for set in schemas.into_iter().flat_map(|s| &s.detect_leaves) {
            let mut ids: Vec<usize> = set
                .iter()
                .map(
                    |f| match keys.iter().position(|k| k.needle() == f.needle()) {
                        Some(i) => i,
                        None => {
                            keys.push(f.clone());
                            keys.len() - 1
                        }
                    },
                )
                .collect();
            ids.sort_by_key(|&i| std::cmp::Reverse(keys.get(i).map_or(0, |k| k.needle().len())));
            sets.push(ids);
        }
        DetectKeys { keys, sets }
    }

    /// Whether a JSON line's text may hold the keys of one of the schemas' detect sets: false
    /// only when, for every set, some key's last segment followed by its closing quote
    /// (`Image"`, written as a key or as the end of a dotted one) is not in the text. A line
    /// with a `\u` escape (a key may be written with one) may always detect.
    pub fn may_detect(&self, line: &[u8]) -> bool {
        // Per key (the first 64): searched yet, and found.
        let (mut searched, mut found) = (0u64, 0u64);
        let mut has = |i: usize| -> bool {
            let bit = 1u64
                .checked_shl(u32::try_from(i).unwrap_or(64))
                .unwrap_or(0);
            if searched & bit != 0 {
                return found & bit != 0;
            }
            let hit = self.keys.get(i).is_some_and(|k| k.find(line).is_some());
            searched |= bit;
            found |= if hit { bit } else { 0 };
            hit
        };
        self.sets.iter().any(|set| set.iter().all(|&i| has(i)))
            || super::prefilter::has_unicode_escape(line)
    }
}

#[derive(Debug, Clone)]
pub struct InputSchema {
    pub name: String,
    pub source: Source,
    pub detect: Vec<Vec<String>>,
    /// Per detect set, each key's last segment and closing quote, searched by
    /// [`DetectKeys::may_detect`].
    detect_leaves: Vec<Vec<memchr::memmem::Finder<'static>>>,
    pub zeek_path: Option<String>,
    missing: Vec<String>,
    swap: Option<Swap>,
    fields: Vec<(String, FieldType, FieldSpec)>,
    /// The catalogue fields mapped, in `fields` order: the cells of an event.
    field_names: Vec<String>,
    /// Every raw key a mapping may read, numbered.
    keys: Keys,
    /// Per field: the numbers of its `from` and `join` keys.
    field_ix: Vec<(Vec<usize>, Vec<usize>)>,
    /// Per `applies` condition, and for the swap's condition: its keys and values as read per
    /// row.
    applies_at: Vec<CondAt>,
    swap_when_at: CondAt,
    /// Per key number, the number of its `swap` partner (itself when it has none).
    swap_to: Vec<usize>,
    /// Per field: its value is a plain copy of the first present `from` key (no join, map,
    /// transform or constant), read and converted directly.
    plain: Vec<bool>,
    /// Per field: for one mapped (`map`) onto its enum type, each map key's cell decided once
    /// (see [`EnumMap`]).
    enum_maps: Vec<Option<EnumMap>>,
    /// Per field: how [`InputSchema::fill`] reads it without its general path, when it can
    /// (see [`Fast`]).
    fast: Vec<Option<Fast>>,
    /// Bit `n` set: some `missing` marker is `n` bytes long (a value of another length is not
    /// compared with them).
    missing_lens: u64,
    /// The cell of `time`.
    time_slot: Option<usize>,
    /// The key of a record the smtp/files join reports as bad ([`JOIN_ERROR`]), for
    /// `mail_message` schemas only.
    error_ix: Option<usize>,
    /// Lines may be osquery batch or snapshot lines (`osquery_results` in the file).
    pub osquery_results: bool,
}

/// The key of a joined record that stands for a bad line, its value the reason
/// (eval::mailjoin).
pub const JOIN_ERROR: &str = "_detc_error";

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
        InputSchema::from_file(f).map_err(|e| format!("input schema {file}: {}", e.message))
    }

    /// Checks a schema file against the catalogue: its source is one, each field is a field of
    /// that source and says where its value comes from.
    pub fn from_file(f: SchemaFile) -> Result<InputSchema, SchemaError> {
        let source = catalogue::source_by_name(&f.source).ok_or_else(|| {
            let names: Vec<&str> = catalogue::SOURCES.iter().map(|s| s.name()).collect();
            SchemaError {
                message: format!("unknown source `{}`", f.source),
                key: "source".into(),
                found: format!("`{}`", f.source),
                expected: format!("one of {}", names.join(", ")),
                hint: crate::diag::nearest(&f.source, names.iter().copied())
                    .map(|n| format!("did you mean `{n}`?")),
            }
        })?;
        for c in f.applies.iter().chain(f.swap.as_ref().map(|s| &s.when)) {
            if c.values.is_empty() != c.present {
                let field = c.field.join(", ");
                return Err(SchemaError {
                    message: format!("the condition on `{field}` needs `in` or `present: true`, not both or neither"),
                    key: "applies".into(),
                    found: if c.present { "`in` with `present: true`".into() } else { "no `in` and no `present`".into() },
                    expected: "`in: [VALUE, ...]` (the value is one of them) or `present: true` (any value)".into(),
                    hint: None,
                });
            }
        }
        let mut fields = Vec::new();
        for (name, spec) in f.fields {
            let Some(def) = catalogue::field(source, &name) else {
                let known: Vec<String> = catalogue::fields(source)
                    .into_iter()
                    .map(|d| d.name.to_string())
                    .collect();
                return Err(SchemaError {
                    message: format!("`{name}` is not a field of {}", source.name()),
                    found: format!("`{name}`"),
                    expected: format!("a field of {} (see docs/LANGUAGE.md)", source.name()),
                    hint: crate::diag::nearest(&name, known.iter().map(String::as_str))
                        .map(|n| format!("did you mean `{n}`?")),
                    key: name,
                });
            };
            if spec.from.is_empty() && spec.join.is_empty() && spec.value.is_none() {
                return Err(SchemaError {
                    message: format!("`{name}` has no `from`, `join` or `value`"),
                    found: format!("`{name}` without a raw key"),
                    expected: "`from: [KEY, ...]`, `join: [KEY, ...]` or `value: CONSTANT`".into(),
                    hint: None,
                    key: name,
                });
            }
            // A list field's value is its elements joined (ops::LIST_SEP), kept as text: the
            // elements are read as their type when a predicate tests them.
            let ty = if def.list { FieldType::String } else { def.ty };
            fields.push((name, ty, spec));
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
        // A record the smtp/files join could not use says why (eval::mailjoin).
        if source == Source::MailMessage {
            needed.push(JOIN_ERROR.to_string());
        }
        let heads: Vec<String> = needed
            .iter()
            .filter_map(|k| k.split_once('.').map(|(h, _)| h.to_string()))
            .collect();
        needed.extend(heads);
        let keys = Keys::new(needed);
        let num =
            |ks: &[String]| -> Vec<usize> { ks.iter().filter_map(|k| keys.find(k)).collect() };
        let field_ix: Vec<(Vec<usize>, Vec<usize>)> = fields
            .iter()
            .map(|(_, _, spec)| (num(&spec.from), num(&spec.join)))
            .collect();
        let applies_at = f.applies.iter().map(|c| CondAt::new(c, &keys)).collect();
        let swap_when_at = f
            .swap
            .as_ref()
            .map(|s| CondAt::new(&s.when, &keys))
            .unwrap_or_default();
        let mut swap_to: Vec<usize> = (0..keys.len()).collect();
        if let Some(sw) = &f.swap {
            for (a, b) in &sw.pairs {
                if let (Some(i), Some(j)) = (keys.find(a), keys.find(b)) {
                    swap_to[i] = j;
                    swap_to[j] = i;
                }
            }
        }
        let field_names: Vec<String> = fields.iter().map(|(n, _, _)| n.clone()).collect();
        let plain = fields
            .iter()
            .map(|(_, _, spec)| {
                spec.join.is_empty()
                    && spec.map.is_none()
                    && spec.transform.is_none()
                    && spec.value.is_none()
            })
            .collect();
        let enum_maps: Vec<Option<EnumMap>> = fields
            .iter()
            .map(|(name, ty, spec)| enum_map(name, ty, spec))
            .collect();
        let fast = fast_reads(&fields, &field_ix, &swap_to, &enum_maps);
        let missing_lens = f.missing.iter().fold(0u64, |m, s| {
            m | 1u64.checked_shl(s.len() as u32).unwrap_or(0)
        });
        Ok(InputSchema {
            plain,
            enum_maps,
            fast,
            missing_lens,
            error_ix: (source == Source::MailMessage)
                .then(|| keys.find(JOIN_ERROR))
                .flatten(),
            time_slot: field_names.iter().position(|n| n == "time"),
            field_names,
            keys,
            field_ix,
            applies_at,
            swap_when_at,
            swap_to,
            name: f.name,
            source,
            detect_leaves: f
                .detect
                .iter()
                .map(|set| {
                    set.iter()
                        .map(|k| {
                            let leaf = k.rsplit('.').next().unwrap_or(k);
                            memchr::memmem::Finder::new(format!("{leaf}\"").as_bytes()).into_owned()
                        })
                        .collect()
                })
                .collect(),
            detect: f.detect,
            zeek_path: f.zeek_path,
            missing: f.missing,
            swap: f.swap,
            osquery_results: f.osquery_results,
            fields,
        })
    }

    /// Whether mapping cell `k` never fails, whatever the record holds: a string copied as it
    /// is from its first present key (a number or a boolean there is its text), with no
    /// `map`, `transform` or `join`.
    pub fn maps_infallibly(&self, k: usize) -> bool {
        self.plain.get(k).copied().unwrap_or(false)
            && self
                .fields
                .get(k)
                .is_some_and(|(_, ty, _)| *ty == FieldType::String)
    }

    /// Per raw key number, whether mapping the cells `cells` (and `time`) reads it: their
    /// `from`/`join` keys and `swap` partners, and every key of the `applies`, swap and join-error
    /// tests. A record holding only these keys maps those cells exactly as a full one does.
    pub fn keys_for(&self, cells: &[usize]) -> Vec<bool> {
        let mut keep = vec![false; self.keys.len()];
        let mut mark = |i: usize| {
            if let Some(k) = keep.get_mut(i) {
                *k = true;
            }
        };
        for f in cells.iter().chain(&self.time_slot) {
            if let Some((from, join)) = self.field_ix.get(*f) {
                for &i in from.iter().chain(join) {
                    mark(i);
                    mark(self.swap_to.get(i).copied().unwrap_or(i));
                }
            }
        }
        self.applies_at
            .iter()
            .chain([&self.swap_when_at])
            .flat_map(|c| &c.ix)
            .chain(&self.error_ix)
            .for_each(|&i| mark(i));
        keep
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

    /// The raw keys the mappings read, numbered (what readers keep of a row).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The catalogue fields of an event of this schema, in the order of its cells.
    pub fn field_names(&self) -> &[String] {
        &self.field_names
    }

    /// The cell of `time` (every event has one: a row without is a bad line).
    pub fn time_slot(&self) -> Option<usize> {
        self.time_slot
    }

    /// Raw values read as missing besides null and "".
    pub fn missing_markers(&self) -> &[String] {
        &self.missing
    }

    #[inline(always)]
    fn is_missing(&self, r: &Raw<'_>) -> bool {
        match r {
            Raw::Str(s) => {
                s.is_empty()
                    || (s.len() >= 64 || self.missing_lens & (1 << s.len()) != 0)
                        && self.missing.iter().any(|m| m == s)
            }
            _ => false,
        }
    }

    /// Whether a condition holds of `rec`, read through `at` (its keys, values and flags).
    /// Inlined into its three calls a row, as loops (through `find_map` and `any` it was a
    /// call of about 90 instructions each, with its frame, on row (f)); a string whose length
    /// no value has is decided without comparing, and a value neither a string nor a plain
    /// integer is compared out of line ([`CondAt::matches_other`]).
    #[inline(always)]
    fn cond_holds<R: Record + ?Sized>(&self, at: &CondAt, rec: &R) -> bool {
        let mut found = None;
        for &i in &at.ix {
            found = rec.at(i, self.keys.name(i));
            if found.is_some() {
                break;
            }
        }
        match found {
            None => at.if_present,
            Some(_) if at.present => true,
            Some(Raw::Str(s)) => {
                if s.len() < 64 && at.lens & (1 << s.len()) == 0 {
                    return false;
                }
                for x in &at.values {
                    if x.is(s) {
                        return true;
                    }
                }
                false
            }
            Some(Raw::Num(n)) => match n.as_u64() {
                Some(u) => {
                    for x in &at.values {
                        if x.num == Some(u) {
                            return true;
                        }
                    }
                    false
                }
                None => at.matches_other(Raw::Num(n)),
            },
            Some(v) => at.matches_other(v),
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
        Ok(match self.map_cells(rec)? {
            Some(cells) => Mapped::Event(self.event_of(&cells)),
            None => Mapped::NotApplicable,
        })
    }

    /// An event's cells (see [`InputSchema::map_cells`]) as an abstract event.
    pub fn event_of(&self, cells: &[Option<Cell<'_>>]) -> Event {
        self.field_names
            .iter()
            .zip(cells)
            .filter_map(|(n, c)| Some((n.clone(), c.clone()?.into_value())))
            .collect()
    }

    /// Maps one record to its event's cells, one per field in [`InputSchema::field_names`]
    /// order (`None`: missing), text borrowed from the record where it is kept as written;
    /// `Ok(None)` when the row does not apply; or why it is malformed.
    pub fn map_cells<'r>(
        &'r self,
        rec: &'r dyn Record,
    ) -> Result<Option<Vec<Option<Cell<'r>>>>, String> {
        let mut out = Vec::new();
        Ok(self.map_into(rec, &mut out)?.then_some(out))
    }

    /// [`InputSchema::map_cells`] into `out` (emptied first, its allocation kept: a caller
    /// maps row after row into one vector): `Ok(false)` when the row does not apply.
    pub fn map_into<'r, R: Record + ?Sized>(
        &'r self,
        rec: &'r R,
        out: &mut Vec<Option<Cell<'r>>>,
    ) -> Result<bool, String> {
        self.map_some_into(rec, out, None)
    }

    /// [`InputSchema::map_into`] of the cells `want` marks only (`None`: every cell), the
    /// others left missing: a row mapped for a filter that reads a few fields converts only
    /// those. A row without a timestamp is an error only when `time` is wanted.
    pub fn map_some_into<'r, R: Record + ?Sized>(
        &'r self,
        rec: &'r R,
        out: &mut Vec<Option<Cell<'r>>>,
        want: Option<&[bool]>,
    ) -> Result<bool, String> {
        self.map_first_into(rec, out, want).map(|a| a.is_some())
    }

    /// [`InputSchema::map_some_into`] as the first of two stages: `Ok(Some(_))` when the row
    /// applies, with what [`InputSchema::map_more_into`] needs to map the rest of the row
    /// without deciding the swap again.
    pub fn map_first_into<'r, R: Record + ?Sized>(
        &'r self,
        rec: &'r R,
        out: &mut Vec<Option<Cell<'r>>>,
        want: Option<&[bool]>,
    ) -> Result<Option<Applied>, String> {
        out.clear();
        let Some(swapped) = self.applies_to(rec)? else {
            return Ok(None);
        };
        // Each cell is written in its place (a cell built aside and moved in stalled on being
        // read back). An extend of a counted range is written inline (`resize_with` was a call
        // of 75 instructions a row of (f), 14 cells; this, 14 fewer).
        out.extend((0..self.fields.len()).map(|_| None));
        self.fill(rec, out, want, swapped)?;
        self.check_time(out, want)?;
        Ok(Some(Applied { swapped }))
    }

    /// After [`InputSchema::map_first_into`] gave `Ok(Some(applied))` for `rec` into `out`,
    /// maps the cells `more` marks as well, the others left as they are: a row's filter cells
    /// are mapped first and the cells its rules aggregate only when a filter holds, from one
    /// parse of the line. The swap is the first stage's (`applied`), not decided again (its
    /// condition would read the record's keys a second time).
    pub fn map_more_into<'r, R: Record + ?Sized>(
        &'r self,
        rec: &'r R,
        out: &mut [Option<Cell<'r>>],
        more: &[bool],
        applied: Applied,
    ) -> Result<(), String> {
        self.fill(rec, out, Some(more), applied.swapped)?;
        self.check_time(out, Some(more)).map(|_| ())
    }

    /// Whether `rec` is an event of the schema (`Ok(None)`: not applicable), and if so whether
    /// its `swap` pairs are exchanged; a record the smtp/files join marks bad is an error.
    fn applies_to<R: Record + ?Sized>(&self, rec: &R) -> Result<Option<bool>, String> {
        if let Some(why) = self.error_ix.and_then(|i| rec.at(i, JOIN_ERROR)) {
            return Err(why.text().into_owned());
        }
        let applies = self.applies_at.iter().all(|at| self.cond_holds(at, rec));
        Ok(applies.then(|| self.swapped(rec)))
    }

    fn swapped<R: Record + ?Sized>(&self, rec: &R) -> bool {
        self.swap.is_some() && self.cond_holds(&self.swap_when_at, rec)
    }

    /// The value of raw key number `i` of `rec` (its `swap` partner's when `swapped`), unless
    /// absent or a `missing` marker. Inlined into [`InputSchema::fill`]: as a closure it was a
    /// call of about 58 instructions per value read, 2.6% of row (f) (100k lines, one thread).
    #[inline(always)]
    fn present_at<'r, R: Record + ?Sized>(
        &self,
        rec: &'r R,
        i: usize,
        swapped: bool,
    ) -> Option<Raw<'r>> {
        let j = if swapped {
            self.swap_to.get(i).copied().unwrap_or(i)
        } else {
            i
        };
        rec.at(j, self.keys.name(j)).filter(|v| !self.is_missing(v))
    }

    /// Writes the cells `want` marks (`None`: every cell) of `rec` into `out` (one slot per
    /// field), or the first bad value among them in field order.
    fn fill<'r, R: Record + ?Sized>(
        &'r self,
        rec: &'r R,
        out: &mut [Option<Cell<'r>>],
        want: Option<&[bool]>,
        swapped: bool,
    ) -> Result<(), String> {
        let get = |i: usize| self.present_at(rec, i, swapped);
        // Only the wanted fields are visited: a stage maps a few of a schema's fields, and a
        // walk over all of them, zipped with their keys and slots, took about a sixth of this
        // function's samples on row (f).
        for k in wanted_fields(self.fields.len(), want) {
            if let (Some(Some(fast)), Some(slot)) = (self.fast.get(k), out.get_mut(k)) {
                let j = if swapped { fast.swapped_key } else { fast.key };
                match rec.at(j, self.keys.name(j)).filter(|v| !self.is_missing(v)) {
                    None if fast.only => {
                        *slot = None;
                        continue;
                    }
                    // (`slot` is written only when the read decides the cell.)
                    Some(Raw::Str(t)) if self.fast_cell(slot, k, fast.conv, t) => continue,
                    // A number, a boolean, or a first key absent or missing among several:
                    // the general path below.
                    _ => {}
                }
            }
            let (Some((name, ty, spec)), Some((from_ix, join_ix)), Some(&plain), Some(slot)) = (
                self.fields.get(k),
                self.field_ix.get(k),
                self.plain.get(k),
                out.get_mut(k),
            ) else {
                break;
            };
            if plain {
                // The common case: the first present `from` key, converted as it is.
                match from_ix.iter().find_map(|&i| get(i).map(|v| (i, v))) {
                    None => *slot = None,
                    Some((i, Raw::Num(n))) => match convert_number(n, ty) {
                        Some(Ok(v)) => *slot = Some(Cell::from(v)),
                        Some(Err(e)) => {
                            return Err(format!("field `{}` ({name}): {e}", self.keys.name(i)))
                        }
                        None => push_cell(slot, Cow::Owned(n.to_string()), name, ty, spec)?,
                    },
                    // Text kept as written: the cell built here, in place (through
                    // `push_cell` it was built aside and copied, a store-forwarding stall).
                    Some((_, Raw::Str(t))) if *ty == FieldType::String => {
                        *slot = if t.is_empty() {
                            None
                        } else {
                            Some(Cell::Str(Cow::Borrowed(t)))
                        }
                    }
                    Some((_, Raw::Str(t))) => push_cell(slot, Cow::Borrowed(t), name, ty, spec)?,
                    Some((_, raw @ Raw::Bool(_))) => push_cell(slot, raw.text(), name, ty, spec)?,
                }
                continue;
            }
            // `join` when any of its keys is present, else `from` (a format that ships the
            // value both split and whole: ECS `user.domain` + `user.name`, or EventData `User`).
            let joined = (!spec.join.is_empty())
                .then(|| {
                    let parts: Vec<Cow<'r, str>> = join_ix
                        .iter()
                        .filter_map(|&i| get(i).map(Raw::text))
                        .collect();
                    (!parts.is_empty()).then(|| Cow::Owned(parts.join(spec.sep.as_str())))
                })
                .flatten();
            let text: Option<Cow<'r, str>> = if let Some(v) = &spec.value {
                Some(Cow::Borrowed(v))
            } else if joined.is_some() || spec.from.is_empty() {
                joined
            } else {
                match from_ix.iter().find_map(|&i| get(i).map(|v| (i, v))) {
                    None => None,
                    Some((i, raw)) => {
                        // Numbers convert directly when the catalogue type is numeric.
                        if let (Raw::Num(n), true) = (raw, spec.map.is_none()) {
                            match convert_number(n, ty) {
                                Some(Ok(v)) => {
                                    *slot = Some(Cell::from(v));
                                    continue;
                                }
                                Some(Err(e)) => {
                                    return Err(format!(
                                        "field `{}` ({name}): {e}",
                                        self.keys.name(i)
                                    ))
                                }
                                None => {}
                            }
                        }
                        Some(raw.text())
                    }
                }
            };
            let Some(mut text) = text else {
                *slot = None;
                continue;
            };
            match spec.transform {
                Some(Transform::Basename) => {
                    text = match text {
                        Cow::Borrowed(t) => Cow::Borrowed(basename(t)),
                        Cow::Owned(t) => Cow::Owned(basename(&t).to_string()),
                    }
                }
                Some(Transform::Lower) if text.bytes().any(|b| b.is_ascii_uppercase()) => {
                    text = Cow::Owned(super::ops::simple_lower(&text))
                }
                Some(Transform::Lower) => {}
                None => {}
            }
            if let (Some(em), FieldType::Enum(symbols)) =
                (self.enum_maps.get(k).and_then(Option::as_ref), ty)
            {
                *slot = em.cell(&text, symbols).map_err(Clone::clone)?;
                continue;
            }
            if let Some(map) = &spec.map {
                match map.get(text.as_ref()).or(spec.default.as_ref()) {
                    Some(v) => text = Cow::Borrowed(v),
                    None => {
                        *slot = None;
                        continue;
                    }
                }
            }
            push_cell(slot, text, name, ty, spec)?;
        }
        Ok(())
    }

    /// Writes into `slot` the cell [`InputSchema::fill`]'s general path makes of text `t`
    /// (present, not a `missing` marker) read for field `k` converted by `conv`, when this can
    /// tell it (the conversions' fast cases); `false` (`slot` untouched): ask the general path
    /// (a value it converts the slow way, or a bad one, which it names). Each cell is written
    /// in place: returned as an `Option<Option<Cell>>`, it went through the stack, a dozen
    /// instructions a field.
    #[inline(always)]
    fn fast_cell<'r>(
        &'r self,
        slot: &mut Option<Cell<'r>>,
        k: usize,
        conv: Conv,
        t: &'r str,
    ) -> bool {
        let b = t.as_bytes();
        match conv {
            Conv::Str if t.is_empty() => *slot = None,
            Conv::Str => *slot = Some(Cell::Str(Cow::Borrowed(t))),
            Conv::Basename => {
                let n = basename(t);
                *slot = (!n.is_empty()).then_some(Cell::Str(Cow::Borrowed(n)))
            }
            Conv::Int { lo, hi } => match digits_fast(b) {
                Some(v) if (lo..=hi).contains(&v) => *slot = Some(Cell::Int(v)),
                _ => return false,
            },
            Conv::Ip => match ipv4_fast(b) {
                Some(a) => *slot = Some(Cell::Ip(std::net::IpAddr::V4(a))),
                None => return false,
            },
            Conv::Time => match utc_civil_cached(b) {
                Some(s) => *slot = Some(Cell::Timestamp(s)),
                None => return false,
            },
            Conv::Enum { lower } => {
                if lower && b.iter().any(u8::is_ascii_uppercase) {
                    return false;
                }
                let (Some(Some(em)), Some((_, FieldType::Enum(symbols), _))) =
                    (self.enum_maps.get(k), self.fields.get(k))
                else {
                    return false;
                };
                match em.cell(t, symbols) {
                    Ok(cell) => *slot = cell,
                    Err(_) => return false,
                }
            }
        }
        true
    }

    /// `Ok(true)`, or the error of an event without a timestamp when `want` marks `time`.
    fn check_time(&self, out: &[Option<Cell<'_>>], want: Option<&[bool]>) -> Result<bool, String> {
        let time_wanted = want.is_none_or(|w| {
            self.time_slot
                .is_some_and(|i| w.get(i).copied().unwrap_or(false))
        });
        if time_wanted
            && self
                .time_slot
                .and_then(|i| out.get(i))
                .is_none_or(Option::is_none)
        {
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
        Ok(true)
    }
}

/// A field read from its first `from` key's text by one conversion, without `fill`'s general
/// path (its four per-field lookups, the search of the `from` keys, the `join`, constant,
/// transform and map tests, and `push_cell`'s dispatch): (b) `--no-prefilter` maps eight
/// fields a row, and `fill` was ~1,590 instructions a row of it, ~135 a field besides the
/// conversions themselves.
#[derive(Debug, Clone, Copy)]
struct Fast {
    /// The number of the field's first `from` key, and of its `swap` partner (itself when it
    /// has none).
    key: usize,
    swapped_key: usize,
    /// The field has no other `from` key: it is missing when this one is absent or missing.
    /// (Otherwise the general path reads the other keys.)
    only: bool,
    conv: Conv,
}

/// What [`InputSchema::fast_cell`] makes of a field's text: each the fast case of the general
/// path for such a field (tested to agree).
#[derive(Debug, Clone, Copy)]
enum Conv {
    /// A plain string field.
    Str,
    /// A string field read through `transform: basename`.
    Basename,
    /// A plain integer field (port, byte count, duration, integer) and its range.
    Int { lo: i64, hi: i64 },
    /// A plain IP field.
    Ip,
    /// A plain timestamp field.
    Time,
    /// An enum field with an [`EnumMap`], read through `transform: lower` when `lower`.
    Enum { lower: bool },
}

/// Per field, its [`Fast`] read when it has one: a field read from `from` keys (no `join` or
/// constant) whose conversion is one of [`Conv`]'s.
fn fast_reads(
    fields: &[(String, FieldType, FieldSpec)],
    field_ix: &[(Vec<usize>, Vec<usize>)],
    swap_to: &[usize],
    enum_maps: &[Option<EnumMap>],
) -> Vec<Option<Fast>> {
    fields
        .iter()
        .zip(field_ix)
        .zip(enum_maps)
        .map(|(((_, ty, spec), (from_ix, _)), em)| {
            let &key = from_ix.first()?;
            if !spec.join.is_empty() || spec.value.is_some() {
                return None;
            }
            let plain = spec.map.is_none() && spec.transform.is_none();
            let conv = match (ty, spec.transform) {
                _ if em.is_some() => match spec.transform {
                    None => Conv::Enum { lower: false },
                    Some(Transform::Lower) => Conv::Enum { lower: true },
                    Some(Transform::Basename) => return None,
                },
                _ if spec.map.is_some() => return None,
                (FieldType::String, Some(Transform::Basename)) => Conv::Basename,
                _ if !plain => return None,
                (FieldType::String, _) => Conv::Str,
                (FieldType::Ip, _) => Conv::Ip,
                (FieldType::Timestamp, _) => Conv::Time,
                (ty, _) => {
                    let (lo, hi, _, _) = int_of(ty)?;
                    Conv::Int { lo, hi }
                }
            };
            Some(Fast {
                key,
                swapped_key: swap_to.get(key).copied().unwrap_or(key),
                only: from_ix.len() == 1,
                conv,
            })
        })
        .collect()
}

/// A field mapped (`map`) onto its enum type's symbols: per map key, and for the default, the
/// cell [`push_cell`] makes of its value (`Ok(None)`: missing, the value is empty; `Ok(Some(i))`:
/// symbol `i`) or its error. Decided once when the schema is made: per row, the lowercasing
/// and symbol search of the mapped value took about a tenth of `fill` on row (f).
#[derive(Debug, Clone)]
struct EnumMap {
    /// Searched in order: a map has a few keys (a `BTreeMap` walk compared them by `memcmp`).
    map: Vec<(Exact, Result<Option<usize>, String>)>,
    default: Option<Result<Option<usize>, String>>,
}

impl EnumMap {
    /// The cell `text` (after the field's transform) maps to among the enum's `symbols`
    /// (`None`: missing), or the error of its map value. Inlined: it is on `fill`'s fast path.
    #[inline(always)]
    fn cell<'r>(&self, text: &str, symbols: &'r [String]) -> Result<Option<Cell<'r>>, &String> {
        let hit = self.map.iter().find(|(k, _)| k.is(text)).map(|(_, v)| v);
        match hit.or(self.default.as_ref()) {
            None | Some(Ok(None)) => Ok(None),
            Some(Ok(Some(i))) => Ok(symbols
                .get(*i)
                .map(|s| Cell::Enum(Cow::Borrowed(s.as_str())))),
            Some(Err(e)) => Err(e),
        }
    }
}

/// The [`EnumMap`] of a field, when it has a map and an enum type (and every value converts to
/// one of its symbols, or fails to: anything else is left to the general path).
fn enum_map(name: &str, ty: &FieldType, spec: &FieldSpec) -> Option<EnumMap> {
    let (FieldType::Enum(symbols), Some(map)) = (ty, &spec.map) else {
        return None;
    };
    let convert = |v: &str| {
        let mut slot = None;
        Some(
            match push_cell(&mut slot, Cow::Borrowed(v), name, ty, spec) {
                Ok(()) => Ok(match slot {
                    None => None,
                    Some(Cell::Enum(s)) => Some(symbols.iter().position(|x| *x == *s)?),
                    Some(_) => return None,
                }),
                Err(e) => Err(e),
            },
        )
    };
    let map = map
        .iter()
        .map(|(k, v)| Some((Exact::new(k), convert(v)?)))
        .collect::<Option<_>>()?;
    let default = match &spec.default {
        Some(d) => Some(convert(d)?),
        None => None,
    };
    Some(EnumMap { map, default })
}

/// The fields `want` marks among `n` (`None`: all), in order. Up to 64 fields the marks are
/// first packed into a word (without a branch per field) and its set bits walked: a stage maps
/// a few of a schema's fields, and a test per field, taken or not by turns, was a third of
/// `fill`'s samples on row (f).
fn wanted_fields(n: usize, want: Option<&[bool]>) -> Wanted<'_> {
    match want {
        Some(w) if n <= 64 => Wanted {
            bits: pack(w.get(..n).unwrap_or(w)),
            rest: 0..0,
            want,
        },
        _ => Wanted {
            bits: 0,
            rest: 0..n,
            want,
        },
    }
}

/// Up to 64 marks as the bits of a word (mark `k` in bit `k`), eight at a time: eight marks
/// (bytes of 0 or 1) read as a word and multiplied so that each lands in its bit of the top
/// byte (the products' bits never overlap, so nothing carries). A fold of a bit per mark was
/// 7.4M instructions of (f)'s 100k lines (two stages of 14 fields a row).
///
/// The marks are read eight at a time as fixed-size arrays, the last (partial) eight as the
/// last eight marks shifted (a copy of a variable length into an array was two `memcpy`
/// calls a `fill` of 14 fields, ~26 instructions of each of (f)'s 176k `fill` calls on 100k
/// lines; a bit per mark gathered by shifts cost more than the calls).
fn pack(w: &[bool]) -> u64 {
    let eight = |c: &[bool; 8]| {
        u64::from_le_bytes(c.map(u8::from)).wrapping_mul(0x0102_0408_1020_4080) >> 56
    };
    let w = w.get(..64).unwrap_or(w);
    let n = w.len();
    if n < 8 {
        return w
            .iter()
            .enumerate()
            .fold(0, |m, (k, &x)| m | u64::from(x) << k);
    }
    let at = |i: usize| w.get(i..i + 8).and_then(|c| <&[bool; 8]>::try_from(c).ok());
    let (full, rest) = (n / 8, n % 8);
    let mut m = (0..full).fold(0, |m, i| m | at(8 * i).map_or(0, eight) << (8 * i));
    if rest > 0 {
        // The last eight marks hold the `rest` past the full eights in their top bits.
        m |= at(n - 8).map_or(0, eight) >> (8 - rest) << (8 * full);
    }
    m
}

/// See [`wanted_fields`]: the packed marks, then (past 64 fields, or with every field wanted)
/// the fields left to test one by one.
struct Wanted<'w> {
    bits: u64,
    rest: std::ops::Range<usize>,
    want: Option<&'w [bool]>,
}

impl Iterator for Wanted<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.bits != 0 {
            let k = self.bits.trailing_zeros() as usize;
            self.bits &= self.bits - 1;
            return Some(k);
        }
        let want = self.want;
        self.rest
            .find(|&k| want.is_none_or(|w| w.get(k) == Some(&true)))
    }
}

/// Writes a field's text as its cell: empty is missing; a bad value names the field's
/// first raw key. The values logs write (plain digits, dotted quads, timestamps, strings)
/// are converted here and written in place (a cell returned through memory from a call
/// stalled on being read back); anything else, and every error, the general way
/// ([`convert_cell`], tested to agree). Always inlined: `#[inline]` left it a call per cell
/// (two a row of (f)), and inlining saved 1% of that row's instructions (100k lines, one
/// thread: 836.5M -> 828.5M).
#[inline(always)]
fn push_cell<'r>(
    slot: &mut Option<Cell<'r>>,
    text: Cow<'r, str>,
    name: &str,
    ty: &'r FieldType,
    spec: &FieldSpec,
) -> Result<(), String> {
    let b = text.as_bytes();
    if b.is_empty() {
        *slot = None;
        return Ok(());
    }
    match ty {
        FieldType::String => {
            *slot = Some(Cell::Str(text));
            return Ok(());
        }
        FieldType::Port | FieldType::Bytes | FieldType::Duration | FieldType::Int => {
            if let Some((v, (lo, hi, _, _))) = digits_fast(b).zip(int_of(ty)) {
                if (lo..=hi).contains(&v) {
                    *slot = Some(Cell::Int(v));
                    return Ok(());
                }
            }
        }
        FieldType::Ip => {
            if let Some(a) = ipv4_fast(b) {
                *slot = Some(Cell::Ip(std::net::IpAddr::V4(a)));
                return Ok(());
            }
        }
        FieldType::Timestamp => {
            if let Some(t) = utc_civil_cached(b) {
                *slot = Some(Cell::Timestamp(t));
                return Ok(());
            }
            if let Ok(t) = time::parse(&text) {
                *slot = Some(Cell::Timestamp(t));
                return Ok(());
            }
        }
        FieldType::Enum(symbols) => {
            let sym = super::ops::with_lower(&text, |l| symbols.iter().find(|s| *s == l));
            if let Some(s) = sym {
                *slot = Some(Cell::Enum(Cow::Borrowed(s)));
                return Ok(());
            }
        }
    }
    match convert_cell(text, ty) {
        Ok(c) => {
            *slot = Some(c);
            Ok(())
        }
        Err(e) => {
            let src = spec
                .from
                .first()
                .or(spec.join.first())
                .map(String::as_str)
                .unwrap_or("");
            Err(format!("field `{src}` ({name}): {e}"))
        }
    }
}

thread_local! {
    /// The last civil second [`utc_civil_cached`] read on this thread (`YYYY-MM-DDThh:mm:ss`)
    /// and its epoch second.
    static LAST_CIVIL: std::cell::Cell<Option<([u8; 19], i64)>> = const {
        std::cell::Cell::new(None)
    };
    /// The last civil hour [`utc_civil_cached`] parsed on this thread (`YYYY-MM-DDThh`) and the
    /// epoch second of its start.
    static LAST_HOUR: std::cell::Cell<Option<([u8; 13], i64)>> = const {
        std::cell::Cell::new(None)
    };
}

/// A UTC civil timestamp (`YYYY-MM-DDThh:mm:ss`, a fraction, `Z` or nothing) as
/// [`time::parse`] reads it, its second read once for the rows that share it (a log's rows
/// come a dozen or more a second, and the date's arithmetic was about a twentieth of a
/// Defender row's cost), and a new second of the same hour from its minutes and seconds
/// alone (the date parsed again on one row in twelve of (f) and (e): 3.1M of the 11.0M
/// instructions this function took over (f)'s 100k lines; keyed on the hour alone, the
/// digits' checks on every row cost more than that); `None` for any other shape, which
/// [`time::parse`] decides. With no offset, the fraction does not move the second read from
/// the first 19 bytes. A new second checks what [`time::parse_civil`] checks of `:mm:ss`
/// (the separators, two digits each, minutes to 59, seconds to 60), so it is `Some` exactly
/// when a parse would be.
fn utc_civil_cached(b: &[u8]) -> Option<i64> {
    let (head, tail) = (b.first_chunk::<19>()?, b.get(19..)?);
    let zone = match tail.split_first() {
        Some((b'.' | b',', frac)) => {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            // A separator without digits: not a fraction.
            (n > 0).then(|| frac.get(n..)).flatten()?
        }
        _ => tail,
    };
    if !matches!(zone, [] | [b'Z'] | [b'z']) {
        return None;
    }
    if let Some((_, t)) = LAST_CIVIL.get().filter(|(h, _)| h == head) {
        return Some(t);
    }
    let (hour, &[c1, m1, m2, c2, s1, s2]) = head.split_first_chunk::<13>()? else {
        return None;
    };
    let two = |a: u8, b: u8| {
        let (a, b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
        (a < 10 && b < 10).then(|| i64::from(a * 10 + b))
    };
    let (mi, s) = (two(m1, m2)?, two(s1, s2)?);
    if c1 != b':' || c2 != b':' || mi > 59 || s > 60 {
        return None;
    }
    let within = mi * 60 + s;
    let start = match LAST_HOUR.get().filter(|(h, _)| h == hour) {
        Some((_, start)) => start,
        None => {
            let start = time::parse_civil(std::str::from_utf8(head).ok()?)? - within;
            LAST_HOUR.set(Some((*hour, start)));
            start
        }
    };
    LAST_CIVIL.set(Some((*head, start + within)));
    Some(start + within)
}

/// The last component of a Windows or POSIX path.
fn basename(t: &str) -> &str {
    // A SIMD search from the end: a `char` pattern split went through the text a `char` at a
    // time (1.6% of row (b) without the prefilter, which takes every line's process name).
    // Both separators are ASCII, so the byte after one starts a character.
    match memchr::memrchr2(b'\\', b'/', t.as_bytes()) {
        Some(i) => t.get(i + 1..).unwrap_or(t),
        None => t,
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
    convert_cell(Cow::Borrowed(text), ty).map(Cell::into_value)
}

/// Up to 18 ASCII digits as their value (no sign, space or fraction: no overflow); `None`
/// for anything else.
fn digits_fast(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    b.iter().try_fold(0i64, |v, c| {
        c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
    })
}

/// A dotted quad exactly as [`std::net::Ipv4Addr`]'s parser reads it (four decimal octets of
/// at most 255, one to three digits, no leading zero); `None` otherwise. The text is read as
/// two words and its dots and digits found for all bytes at once (SWAR), so that nothing
/// branches on where the dots fall: an octet at a time, a branch per digit, one to three
/// digits an octet at random, mispredicted about once an octet (row (d) reads two addresses
/// a row: 14% of its samples were here). Branches are left only where the answer is `None`.
fn ipv4_fast(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    const H: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let n = b.len();
    if !(7..=15).contains(&n) {
        return None;
    }
    let word = |s: &[u8]| s.try_into().map_or(0, u64::from_le_bytes);
    // Bytes 0-7 and 8-15, zero past the end (zero is neither a digit nor a dot).
    let (lo, hi) = match n.checked_sub(8).and_then(|k| b.get(k..)) {
        Some(last) => (
            word(b.get(..8).unwrap_or_default()),
            word(last).checked_shr(8 * (16 - n) as u32).unwrap_or(0),
        ),
        None => {
            let mut w = [0u8; 8];
            w[..7].copy_from_slice(b.get(..7).unwrap_or(&[0; 7]));
            (u64::from_le_bytes(w), 0)
        }
    };
    // 0x80 in each byte that is a digit, or a dot (no carry crosses a byte in either).
    let digits = |x: u64| {
        let ge = (x | H).wrapping_sub(0x30 * ONES);
        let le = (0xb9 * ONES).wrapping_sub(x & LOW7);
        ge & le & !x & H
    };
    let dots = |x: u64| super::read::zero_bytes(x ^ (0x2e * ONES));
    let (dl, dh) = (dots(lo), dots(hi));
    // Every byte is a digit or a dot.
    let all = |k: usize| {
        H.checked_shr(8 * 8usize.saturating_sub(k) as u32)
            .unwrap_or(0)
    };
    if (digits(lo) | dl) != all(n) || (digits(hi) | dh) != all(n.saturating_sub(8)) {
        return None;
    }
    // The dots' places: exactly three. Counted by a multiply that sums the words' bytes (each
    // 1 at a dot): `count_ones` without the POPCNT instruction (not in x86-64's baseline) is a
    // bit-twiddling sequence of about 17 instructions a word.
    let count = |x: u64| (x >> 7).wrapping_mul(ONES) >> 56;
    if count(dl) + count(dh) != 3 {
        return None;
    }
    let d = u128::from(dl) | u128::from(dh) << 64;
    let first = |d: u128| d.trailing_zeros() / 8;
    let (d2, p1) = (d & (d - 1), first(d));
    let (d3, p2) = (d2 & (d2 - 1), first(d2));
    let p3 = first(d3);
    // Digit values in place, byte k of `v` the value of byte k (a dot's is never read).
    let v = u128::from(lo & (0x0f * ONES)) | u128::from(hi & (0x0f * ONES)) << 64;
    // Octet `s..e`: its bytes from `v` as one word, moved up so that its last digit is byte
    // 2 (with one or two digits, bytes 0 or 0 and 1 are zero), then 100, 10 and 1 times its
    // bytes. Read from an array of the digits byte by byte (a bounds check and a load per
    // digit), an address was about 330 instructions (callgrind, row (f)); this, about half.
    let octet = |s: u32, e: u32| -> (u32, bool) {
        let len = e.wrapping_sub(s);
        let w = (v >> (8 * s)) as u32;
        let x = (w << (8 * 3u32.saturating_sub(len))) & 0x00ff_ffff;
        let val = (x & 0xff) * 100 + ((x >> 8) & 0xff) * 10 + (x >> 16);
        // One to three digits, no leading zero, at most 255.
        let bad = !(1..=3).contains(&len) | ((len >= 2) & (w & 0xff == 0)) | (val > 255);
        (val, bad)
    };
    let (a, ba) = octet(0, p1);
    let (b1, bb) = octet(p1 + 1, p2);
    let (c, bc) = octet(p2 + 1, p3);
    let (e, be) = octet(p3 + 1, n as u32);
    let bad = ba | bb | bc | be;
    let addr = (a << 24) | (b1 << 16) | (c << 8) | e;
    (!bad).then(|| std::net::Ipv4Addr::from(addr))
}

/// [`convert_text`], keeping text borrowed: strings as written, enums as the catalogue's
/// symbol. Trimmed, then parsed by the standard library ([`push_cell`] reads the
/// common shapes in one pass first).
fn convert_cell<'a>(text: Cow<'a, str>, ty: &'a FieldType) -> Result<Cell<'a>, String> {
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
            Some(v) if (lo..=hi).contains(&v) => Ok(Cell::Int(v)),
            _ => Err(format!("`{t}` is not {what}")),
        };
    }
    match ty {
        FieldType::Ip => {
            let a = t.split('%').next().unwrap_or(t);
            a.parse()
                .map(Cell::Ip)
                .map_err(|_| format!("`{t}` is not an IP address"))
        }
        FieldType::Timestamp => time::parse(t).map(Cell::Timestamp),
        FieldType::Enum(symbols) => {
            match super::ops::with_lower(t, |l| symbols.iter().find(|s| s.as_str() == l)) {
                Some(s) => Ok(Cell::Enum(Cow::Borrowed(s))),
                None => Err(format!("`{t}` is not one of {}", symbols.join(", "))),
            }
        }
        _ => Ok(Cell::Str(text)),
    }
}

/// The built-in schemas, parsed. An error here is a bug in a shipped YAML file (tested).
/// A schema is named as its file (`zeek-conn.yaml` is `zeek-conn`): the checker and the CLI know
/// the names from the file names alone ([`crate::registry::INPUT_NAMES`]).
///
/// Parsed once per process and cloned after: the YAML parse costs ~10M instructions, and `detc
/// run` asked for it once per must-not-alert rule test (lint W0283) and once more for the run
/// (5 parses, 50M of the 78M instructions of starting (b)'s two rules over a one-line file).
pub fn builtin() -> Result<Vec<InputSchema>, String> {
    builtin_parsed().clone()
}

/// The parse behind [`builtin`], done by the first caller; a caller meanwhile waits for it.
fn builtin_parsed() -> &'static Result<Vec<InputSchema>, String> {
    static PARSED: std::sync::OnceLock<Result<Vec<InputSchema>, String>> =
        std::sync::OnceLock::new();
    PARSED.get_or_init(parse_builtin)
}

/// Starts parsing the built-in schemas on a thread of its own, so that the parse overlaps what
/// the caller does next (`detc run` loading and checking its pack) instead of preceding the run.
pub fn preload() {
    std::thread::spawn(|| {
        builtin_parsed();
    });
}

/// Every built-in schema parsed from its YAML, uncached.
fn parse_builtin() -> Result<Vec<InputSchema>, String> {
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

/// The built-in schemas followed by the project's own (`inputs:` of the detc.yaml in force,
/// [`crate::config::active`]): what `--schema NAME`, a rule test's `schema NAME` and detection
/// choose from.
///
/// Borrowed from the parse [`builtin`] keeps when the project adds none: cloning them cost
/// `detc run rules` 33M instructions (~0.4M a clone, one per must-not-alert rule test).
pub fn all() -> Result<std::borrow::Cow<'static, [InputSchema]>, String> {
    let builtin = builtin_parsed().as_ref().map_err(Clone::clone)?;
    match crate::config::active() {
        Some(c) if !c.schemas.is_empty() => {
            let mut v = builtin.clone();
            v.extend(c.schemas.iter().map(|s| s.schema.clone()));
            Ok(std::borrow::Cow::Owned(v))
        }
        _ => Ok(std::borrow::Cow::Borrowed(builtin)),
    }
}

/// The names of the schemas ([`all`]), for messages and the checker: the built-in ones are
/// named as their files, so nothing is parsed here.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = crate::registry::INPUT_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(c) = crate::config::active() {
        v.extend(c.schemas.iter().map(|s| s.schema.name.clone()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`DetectKeys::may_detect`] (keys shared between schemas searched once, longest first)
    /// says what testing each schema's detect sets in turn says, over lines made of the
    /// built-in schemas' keys (whole, cut short, dotted), values, and `\u` escapes.
    #[test]
    fn detect_keys_agree_with_each_schemas_sets() {
        let schemas = builtin().unwrap_or_default();
        assert!(schemas.len() > 10, "the built-in schemas");
        let leaf = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
        let mut pieces: Vec<String> = schemas
            .iter()
            .flat_map(|s| s.detect.iter().flatten())
            .flat_map(|k| {
                let l = leaf(k);
                let short = l
                    .chars()
                    .take(l.chars().count().saturating_sub(1))
                    .collect();
                [format!("\"{k}\":1,"), format!("\"{l}\":\"x\","), short]
            })
            .collect();
        pieces.extend(["\\u0041".into(), "\\\\u".into(), "{".into(), "}".into()]);
        let mut next = super::super::test_random(0x1234_5678_9abc_def1);
        let sources: Vec<_> = schemas.iter().map(|s| s.source).collect();
        for source in sources {
            let mine: Vec<&InputSchema> = schemas.iter().filter(|s| s.source == source).collect();
            let keys = DetectKeys::new(mine.iter().copied());
            let mut hits = 0;
            for _ in 0..3000 {
                let n = next(12);
                let line: String = (0..n).map(|_| pieces[next(pieces.len())].clone()).collect();
                let b = line.as_bytes();
                let want = mine.iter().any(|s| {
                    s.detect
                        .iter()
                        .any(|set| set.iter().all(|k| line.contains(&format!("{}\"", leaf(k)))))
                }) || super::super::prefilter::has_unicode_escape(b);
                assert_eq!(keys.may_detect(b), want, "{source:?}: {line}");
                hits += usize::from(want);
            }
            assert!(hits > 100 && hits < 2900, "{source:?}: {hits} of 3000");
        }
    }

    /// A raw value is its text exactly when [`Raw::text`] says so, numbers included.
    /// [`pack`]'s multiply puts every mark in its bit: each of the 256 patterns of eight
    /// marks, cut to every length and placed in each of a word's eight bytes.
    #[test]
    fn pack_agrees_with_a_bit_per_mark() {
        for p in 0u32..256 {
            for len in 0..=8 {
                for at in 0..8 {
                    let marks: Vec<bool> = (0..8 * at)
                        .map(|_| false)
                        .chain((0..len).map(|k| p >> k & 1 == 1))
                        .collect();
                    let want = marks
                        .iter()
                        .enumerate()
                        .fold(0u64, |m, (k, &x)| m | u64::from(x) << k);
                    assert_eq!(pack(&marks), want, "{marks:?}");
                }
            }
        }
        // Every length to 80 (the first 64 marks packed), random marks: the last partial
        // eight read from the last eight marks.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for n in 0..=80 {
            for _ in 0..50 {
                let marks: Vec<bool> = (0..n)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed & 1 == 1
                    })
                    .collect();
                let want = marks
                    .iter()
                    .take(64)
                    .enumerate()
                    .fold(0u64, |m, (k, &x)| m | u64::from(x) << k);
                assert_eq!(pack(&marks), want, "{marks:?}");
            }
        }
    }

    #[test]
    fn wanted_fields_are_the_marked_ones_in_order() {
        // Marks from a fixed-seed generator, for field counts around the packed word's 64,
        // with marks shorter and longer than the fields (a missing mark is not wanted).
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut bit = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed & 1 == 1
        };
        for n in [0, 1, 3, 15, 63, 64, 65, 130] {
            for len in [0, n / 2, n, n + 3] {
                for _ in 0..20 {
                    let marks: Vec<bool> = (0..len).map(|_| bit()).collect();
                    let want: Vec<usize> =
                        (0..n).filter(|&k| marks.get(k) == Some(&true)).collect();
                    assert_eq!(
                        wanted_fields(n, Some(&marks)).collect::<Vec<_>>(),
                        want,
                        "{n} {marks:?}"
                    );
                }
            }
            let all: Vec<usize> = (0..n).collect();
            assert_eq!(wanted_fields(n, None).collect::<Vec<_>>(), all);
        }
    }

    /// A field mapped onto its enum type reads, through its [`EnumMap`], what the general path
    /// (the map, then `push_cell`) reads: for every built-in schema's mapped field and a schema
    /// whose map has an empty value, a value that is no symbol and no default, over each map
    /// key, its value, other cases and JSON types.
    #[test]
    fn enum_maps_agree_with_the_general_path() {
        let odd = InputSchema::parse(
            "odd.yaml",
            "name: odd\ndescription: d\nsource: network_connection\ndetect: [[a]]\nfields:\n  time: {from: [t]}\n  direction:\n    from: [a, b]\n    transform: lower\n    map: {\"in\": inbound, \"out\": OUTBOUND, \"none\": \"\", \"x\": sideways}\n",
        );
        let mut schemas = builtin().unwrap_or_default();
        schemas.extend(odd.as_ref().ok().cloned());
        let mut checked = 0;
        for schema in &schemas {
            let mut slow = schema.clone();
            slow.enum_maps = Vec::new();
            let n = schema.fields.len();
            for (k, (_, _, spec)) in schema.fields.iter().enumerate() {
                if schema.enum_maps.get(k).and_then(Option::as_ref).is_none() {
                    continue;
                }
                let mut want = vec![false; n];
                want[k] = true;
                let mut values: Vec<serde_json::Value> = spec
                    .map
                    .iter()
                    .flatten()
                    .flat_map(|(key, v)| {
                        // Near misses too: a key less its last byte, one more, its last
                        // changed, its middle changed (past 16 bytes the words hold its first
                        // and last 8 only).
                        let mut near = key.clone();
                        near.pop();
                        let changed = format!("{near}#");
                        let half = key.chars().count() / 2;
                        let middle: String = key
                            .chars()
                            .enumerate()
                            .map(|(i, c)| if i == half { '#' } else { c })
                            .collect();
                        [
                            key.clone(),
                            key.to_uppercase(),
                            v.clone(),
                            near,
                            format!("{key}x"),
                            changed,
                            middle,
                        ]
                    })
                    .chain(["", "-", "q", "Tcp", "other", "K"].map(String::from))
                    .map(serde_json::Value::from)
                    .collect();
                values.extend([true.into(), 3.into(), serde_json::Value::Null]);
                for from in &spec.from {
                    for v in &values {
                        let line = serde_json::json!({ from: v }).to_string();
                        let rec = match super::super::read::JsonRecord::parse(&line) {
                            Ok(r) => r,
                            Err(e) => unreachable!("{line}: {e}"),
                        };
                        let (mut fast, mut general) = (vec![None; n], vec![None; n]);
                        let a = schema.fill(&rec, &mut fast, Some(&want), false);
                        let b = slow.fill(&rec, &mut general, Some(&want), false);
                        assert_eq!((a, fast), (b, general), "{} {line}", schema.name);
                        checked += 1;
                    }
                }
            }
        }
        assert!(odd.is_ok_and(|o| o.enum_maps.iter().any(Option::is_some)));
        assert!(checked > 100, "{checked}");
    }

    /// JSON numbers at the edges of [`Raw::is_text`]'s integer path: zero, small, negative,
    /// fractional, `u64::MAX`.
    fn edge_numbers() -> Vec<serde_json::Number> {
        ["0", "3", "25", "-3", "2.5", "18446744073709551615"]
            .iter()
            .map(|t| serde_json::from_str(t).unwrap_or_else(|_| serde_json::Number::from(0)))
            .collect()
    }

    /// Texts a number or a boolean may or may not print as: leading zeros, signs, a fraction,
    /// empty, past `u64::MAX`.
    const EDGE_TEXTS: &[&str] = &[
        "0",
        "00",
        "3",
        "03",
        "+3",
        "25",
        "-3",
        "2.5",
        "",
        "true",
        "false",
        "x",
        "18446744073709551615",
        "18446744073709551616",
    ];

    #[test]
    fn is_text_agrees_with_text() {
        let nums = edge_numbers();
        let mut raws: Vec<Raw<'_>> = nums.iter().map(Raw::Num).collect();
        raws.extend([
            Raw::Str("3"),
            Raw::Str(""),
            Raw::Bool(true),
            Raw::Bool(false),
        ]);
        for r in &raws {
            for &t in EDGE_TEXTS {
                assert_eq!(r.is_text(t), r.text() == t, "{r:?} {t:?}");
            }
        }
    }

    /// The precompiled comparison of `applies` values and enum map keys agrees with
    /// [`Raw::is_text`] on numbers, booleans and strings of every length around the word
    /// boundaries (3, 4, 7, 8, 16, 17, 24, 36 bytes), equal and differing in one byte at every
    /// place, and non-ASCII.
    #[test]
    fn exact_agrees_with_is_text() {
        let nums = edge_numbers();
        let base = "Microsoft-Windows-Sysmon/Operational";
        let mut texts: Vec<String> = EDGE_TEXTS
            .iter()
            .chain(&["True", "é", "ünïcødé-Sysmon/Operatiön"])
            .map(|t| t.to_string())
            .collect();
        for n in [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 35, 36] {
            let t = &base[..n];
            texts.push(t.to_string());
            for k in 0..n {
                let mut b = t.as_bytes().to_vec();
                b[k] ^= 1;
                texts.extend(String::from_utf8(b).ok());
            }
        }
        let mut raws: Vec<Raw<'_>> = nums.iter().map(Raw::Num).collect();
        raws.extend([Raw::Bool(true), Raw::Bool(false)]);
        raws.extend(texts.iter().map(|t| Raw::Str(t)));
        for t in &texts {
            let e = Exact::new(t);
            for r in &raws {
                assert_eq!(e.matches(*r), r.is_text(t), "{r:?} {t:?}");
            }
        }
    }

    /// The cached reader of UTC civil timestamps gives what `time::parse` gives, or leaves the
    /// text to it, on heads that are and are not dates (a leap second, February 29th of a
    /// leap year and of another, month 13, hour 24, a lowercase `t`, a sign, a cut character)
    /// and tails of every kind (fractions with a dot or a comma, `Z`, `z`, offsets, a
    /// separator without digits, trailing text); twice, so that the second pass reads each
    /// head from the cache, with the heads interleaved.
    #[test]
    fn utc_civil_cached_agrees_with_time_parse() {
        let heads = [
            "2026-11-20T00:00:00",
            "2026-11-20 23:59:60",
            "2024-02-29T12:00:00",
            "2023-02-29T12:00:00",
            "2026-13-01T00:00:00",
            "2026-11-20T24:00:00",
            "2026-11-20t00:00:00",
            "2026-11-20X00:00:00",
            "9999-12-31T23:59:59",
            "0000-01-01T00:00:00",
            "+026-11-20T00:00:00",
            "2026-1-20T00:00:00Z",
            "2026-11-20T00:00:\u{e9}",
            "1795132800.65881100",
        ];
        let tails = [
            "",
            "Z",
            "z",
            ".5570936Z",
            ",5Z",
            ".5",
            ".",
            ".Z",
            "Zz",
            "+00:00",
            "-01:00",
            ".123+01:00",
            " ",
            "Z ",
            ".12a",
            "\r",
            "\u{e9}",
        ];
        let mut taken = 0;
        for _ in 0..2 {
            for t in tails {
                for h in heads {
                    let s = format!("{h}{t}");
                    if let Some(v) = utc_civil_cached(s.as_bytes()) {
                        assert_eq!(Ok(v), time::parse(&s), "{s:?}");
                        taken += 1;
                    }
                }
            }
        }
        // Six heads are dates (the first three, the lowercase `t`, years 9999 and 0), six
        // tails of the shape read here (none, `Z`, `z`, and three fractions).
        assert_eq!(taken, 2 * 6 * 6);
        assert_eq!(
            utc_civil_cached(b"2026-11-20T00:00:00.5570936Z"),
            time::parse("2026-11-20T00:00:00.5570936Z").ok()
        );
    }

    /// The hour-keyed cache of [`utc_civil_cached`] reads each `:mm:ss` of a cached hour as a
    /// parse does: over days at month, year and leap edges, every time in the order a log
    /// writes them (the hour cached by the first, the others new seconds of it or the same
    /// second again) and once more, including
    /// bad minutes and seconds, a leap second, wrong separators and non-digits, with and
    /// without a fraction and `Z`, the cache gives `Some` exactly when [`time::parse`] reads
    /// the text, and the same second.
    #[test]
    fn utc_civil_cached_hours_agree_with_time_parse() {
        let days = [
            "2026-11-20",
            "2026-11-30",
            "2026-12-31",
            "2027-01-01",
            "2024-02-28",
            "2024-02-29",
            "2023-02-29",
            "2100-02-29",
            "2000-02-29",
            "1969-12-31",
            "1970-01-01",
        ];
        let hours = ["T00", "T09", "T23", " 12", "t05", "T24", "T1a"];
        let rests = [
            ":00:00",
            ":00:01",
            ":00:01",
            ":01:00",
            ":59:59",
            ":59:60",
            ":30:61",
            ":60:00",
            ":99:00",
            ":5a:00",
            ":05:b0",
            "-05:00",
            ":05-00",
            ":0:000",
            ":\u{e9}:00",
            ":05:00",
        ];
        let tails = ["", "Z", "z", ".643", ",5Z", ".", ".Z", "+01:00", "Z "];
        let mut hits = 0;
        for day in days {
            for hour in hours {
                for pass in 0..2 {
                    for (k, rest) in rests.iter().enumerate() {
                        let tail = tails[(k + pass) % tails.len()];
                        let s = format!("{day}{hour}{rest}{tail}");
                        let plain = !tail.starts_with('+') && !tail.ends_with(' ');
                        let got = utc_civil_cached(s.as_bytes());
                        if plain && !matches!(tail, "." | ".Z") {
                            assert_eq!(got, time::parse(&s).ok(), "{s:?}");
                        } else if let Some(v) = got {
                            assert_eq!(Ok(v), time::parse(&s), "{s:?}");
                        }
                        hits += usize::from(got.is_some());
                    }
                }
            }
        }
        assert!(hits > 300, "{hits}");
    }

    /// The dotted-quad reader accepts exactly what the standard library's does, with the same
    /// address: every string of up to 8 characters over `0`, `1`, `2`, `5`, `9` and `.`, and
    /// longer ones around the octet limits.
    #[test]
    fn ipv4_fast_agrees_with_std() {
        let alphabet = [b'0', b'1', b'2', b'5', b'9', b'.'];
        let mut frontier: Vec<Vec<u8>> = vec![Vec::new()];
        let mut all: Vec<String> = Vec::new();
        for _ in 0..8 {
            let mut next = Vec::new();
            for s in &frontier {
                for c in alphabet {
                    let mut m = s.clone();
                    m.push(c);
                    all.push(String::from_utf8(m.clone()).unwrap_or_default());
                    next.push(m);
                }
            }
            frontier = next;
        }
        for a in [
            "0", "1", "9", "10", "25", "99", "100", "199", "255", "256", "260", "300",
        ] {
            for b in ["0", "00", "01", "255", "256", "1000", "", "+1", " 1"] {
                all.push(format!("{a}.{b}.{a}.{b}"));
                all.push(format!("{b}.{a}.{a}.{a}"));
                all.push(format!("{a}.{a}.{a}.{b}"));
                all.push(format!("{a}.{a}.{a}.{a}.{b}"));
            }
        }
        let mut accepted = 0;
        for t in &all {
            let want = t.parse::<std::net::Ipv4Addr>().ok();
            assert_eq!(ipv4_fast(t.as_bytes()), want, "{t:?}");
            accepted += usize::from(want.is_some());
        }
        assert!(accepted > 1000, "{accepted}");
    }

    /// The fast parser against the standard one on random texts of every length it
    /// reads and around it: mostly digits and dots (so many are addresses or nearly), some
    /// other bytes (a space, a sign, a letter, a colon, non-ASCII).
    #[test]
    fn ipv4_fast_agrees_with_std_on_random_texts() {
        let alphabet: Vec<char> = "0123456789.......01255 +a:\u{e9}\u{660}".chars().collect();
        let mut next = super::super::test_random(0x9e37_79b9_7f4a_7c15);
        // Edges: leading zeros (std takes a lone `0` only), 255 and 256, empty octets,
        // leading and trailing dots, five octets, and texts past the 15 bytes of an address.
        let edges = [
            "0.0.0.0",
            "00.0.0.0",
            "0.0.0.00",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.010",
            "255.255.255.255",
            "256.255.255.255",
            "255.255.255.256",
            "255.255.255.2555",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4.",
            "..1.2",
            "1.2.3.4.5",
            "1.2.3",
            "1.2.3.4 ",
            "001.002.003.004",
            "100.200.250.255",
            "1.1.1.1111",
            "10.0.0.1.",
            "1.2.3.4\n",
            "1.2.3.4567890123",
            "123.123.123.1234",
            "0000000000000000001.2.3.4",
            "1.2.3.4........",
            "99999999.9.9.9",
        ];
        for t in edges {
            let want = t.parse::<std::net::Ipv4Addr>().ok();
            assert_eq!(ipv4_fast(t.as_bytes()), want, "{t:?}");
        }
        let mut accepted = 0;
        for _ in 0..300_000 {
            let len = 5 + next(20);
            let t: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            let want = t.parse::<std::net::Ipv4Addr>().ok();
            assert_eq!(ipv4_fast(t.as_bytes()), want, "{t:?}");
            accepted += usize::from(want.is_some());
        }
        assert!(accepted > 100, "{accepted}");
    }

    /// Every conversion with a fast path gives what the general one does, on values it takes
    /// and values it leaves (same cell or same error text).
    #[test]
    fn conversions_agree_with_the_general_path() {
        let values = [
            "0",
            "7",
            "25",
            "65535",
            "65536",
            "007",
            "+25",
            "-25",
            " 25",
            "25 ",
            "25.0",
            "25.5",
            "1.201128",
            "0x19",
            "1e3",
            "",
            "-",
            "999999999999999999",
            "9999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "10.0.0.1",
            "010.0.0.1",
            "192.168.1.255",
            "192.168.1.256",
            "::1",
            "fe80::1%eth0",
            "10.0.0.1%eth0",
            " 10.0.0.1",
            "10.0.0.1 ",
            "1588205198.89971",
            "2021-03-14 06:39:39.023",
            "2021-03-14T06:39:39Z",
            " 2021-03-14T06:39:39Z",
            "tcp",
            "TCP",
            "Tcp ",
        ];
        let tys = [
            FieldType::Port,
            FieldType::Bytes,
            FieldType::Duration,
            FieldType::Int,
            FieldType::Ip,
            FieldType::Timestamp,
            FieldType::String,
            FieldType::Enum(vec!["tcp".into(), "udp".into()]),
        ];
        let spec = FieldSpec {
            from: vec!["k".into()],
            ..FieldSpec::default()
        };
        for ty in &tys {
            for v in values {
                let mut slot = None;
                let fast = push_cell(&mut slot, Cow::Borrowed(v), "f", ty, &spec).map(|()| slot);
                let general = match v {
                    "" => Ok(None),
                    _ => convert_cell(Cow::Borrowed(v), ty)
                        .map(Some)
                        .map_err(|e| format!("field `k` (f): {e}")),
                };
                assert_eq!(fast, general, "{v:?} as {ty:?}");
            }
        }
    }

    /// Keys are found by length and two words, and by their bytes past 16: keys that share
    /// a length, a first word, or their first 16 bytes stay apart, and no prefix, extension or
    /// NUL-padded twin of a key is taken for it.
    #[test]
    fn keys_are_found_exactly() {
        let names = [
            "ts",
            "id.orig_h",
            "id.orig_p",
            "id",
            "DestinationHostname",
            "DestinationHostnamX",
            "DestinationPortAAAAx",
            "DestinationPortAAAAy",
            "SourceIp",
            "SourceIq",
            "Image",
            "Channel",
            "ProcessGuid1",
            "ParentCommandLn1",
            "ab",
        ];
        let keys = Keys::new(names.iter().map(|s| s.to_string()).collect());
        for n in names {
            let i = keys.find(n);
            assert_eq!(i.map(|i| keys.name(i)), Some(n));
        }
        for absent in [
            "",
            "t",
            "ts\0",
            "i",
            "id.orig",
            "id.orig_hh",
            "DestinationHostnamY",
            "DestinationPortAAAAz",
            "SourceI",
            "SourceIp\0",
            "sourceip",
            // One byte changed in the middle, where the two words overlap or meet.
            "Imbge",
            "Chbnnel",
            "Chanbel",
            "ProcessGvid1",
            "ProcesxGuid1",
            "ParentCommbndLn1",
            "ParentCxmmandLn1",
            "ba",
            "a",
        ] {
            assert_eq!(keys.find(absent), None, "{absent:?}");
        }
        assert_eq!(
            keys.head(keys.find("id.orig_h").unwrap_or(0)),
            keys.find("id")
        );
        assert_eq!(keys.head(keys.find("ts").unwrap_or(0)), None);
    }

    /// `Keys::only` keeps every number and name, finds only the kept keys and the first
    /// segments of kept dotted keys, and has an id of its own.
    #[test]
    fn only_keeps_numbers_and_finds_the_kept_keys() {
        let names = [
            "ts",
            "id.orig_h",
            "id.resp_h",
            "id",
            "proto",
            "DestinationPortLonger",
        ];
        let keys = Keys::new(names.iter().map(|s| s.to_string()).collect());
        let kept = ["ts", "id.resp_h", "DestinationPortLonger"];
        let keep: Vec<bool> = (0..keys.len())
            .map(|i| kept.contains(&keys.name(i)))
            .collect();
        let some = keys.only(&keep);
        assert_eq!(some.len(), keys.len());
        assert_ne!(some.id(), keys.id());
        for n in names {
            let i = keys.find(n);
            assert_eq!(
                some.name(i.unwrap_or(usize::MAX)),
                keys.name(i.unwrap_or(usize::MAX))
            );
            let found = kept.contains(&n) || n == "id";
            assert_eq!(some.find(n), if found { i } else { None }, "{n}");
            assert_eq!(some.head(i.unwrap_or(0)), keys.head(i.unwrap_or(0)));
        }
    }

    /// The built-in Sysmon network connection schema.
    fn sysmon() -> InputSchema {
        match builtin()
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.name == "sysmon")
        {
            Some(s) => s,
            None => unreachable!("no sysmon schema"),
        }
    }

    /// Mapping some cells, then the others with `map_more_into`, gives the cells of one full
    /// mapping, swapped or not; and an error among the later cells is the full mapping's.
    #[test]
    fn some_then_more_is_the_full_mapping() {
        use super::super::read::LiteRecord;
        let sysmon = &sysmon();
        let n = sysmon.field_names().len();
        let at = |f: &str| sysmon.field_names().iter().position(|x| x == f);
        let mut first = vec![false; n];
        for f in ["time", "direction", "remote.ip"] {
            if let Some(k) = at(f) {
                first[k] = true;
            }
        }
        let more: Vec<bool> = first.iter().map(|f| !f).collect();
        for (initiated, sport) in [("true", "50000"), ("false", "50000"), ("true", "x5")] {
            let line = format!(
                "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00.000\",\"Hostname\":\"H\",\"Image\":\"C:\\\\p.exe\",\"Initiated\":\"{initiated}\",\"SourceIp\":\"10.0.0.1\",\"SourcePort\":\"{sport}\",\"DestinationIp\":\"93.184.216.34\",\"DestinationPort\":25}}"
            );
            let rec = match LiteRecord::parse(&line, sysmon.keys()) {
                Ok(rec) => rec,
                Err(e) => unreachable!("{line}: {e}"),
            };
            let mut all = Vec::new();
            let full = sysmon.map_into(&rec, &mut all);
            let mut two = Vec::new();
            let applied = match sysmon.map_first_into(&rec, &mut two, Some(&first)) {
                Ok(Some(a)) => a,
                other => unreachable!("{line}: {other:?}"),
            };
            let more_r = sysmon.map_more_into(&rec, &mut two, &more, applied);
            match full {
                Ok(applies) => {
                    assert!(applies);
                    assert_eq!(more_r, Ok(()));
                    assert_eq!(all, two, "{line}");
                }
                Err(e) => assert_eq!(more_r, Err(e), "{line}"),
            }
        }
    }

    /// A field [`InputSchema::maps_infallibly`] names maps without error whatever its keys
    /// hold (texts, missing markers, numbers, booleans, nothing), swapped or not, in every
    /// built-in schema; it names the Sysmon host, and not its addresses or times.
    #[test]
    fn infallible_fields_never_fail() {
        let nums: Vec<serde_json::Number> = ["0", "-1", "2.5", "18446744073709551615", "1e300"]
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect();
        let mut raws: Vec<Option<Raw<'_>>> = vec![None, Some(Raw::Bool(true))];
        raws.extend(nums.iter().map(|n| Some(Raw::Num(n))));
        for t in [
            "",
            "-",
            "(empty)",
            "x",
            "\u{e9}",
            " 25 ",
            "10.0.0.1",
            "2026-11-20",
        ] {
            raws.push(Some(Raw::Str(t)));
        }
        let mut named = 0;
        for schema in builtin().unwrap_or_default() {
            let n = schema.field_names().len();
            for k in (0..n).filter(|&k| schema.maps_infallibly(k)) {
                named += 1;
                let mut want = vec![false; n];
                want[k] = true;
                for raw in &raws {
                    let rec = ByNumber(vec![*raw; schema.keys().len()], schema.keys());
                    for swapped in [false, true] {
                        let mut out = vec![None; n];
                        let r = schema.fill(&rec, &mut out, Some(&want), swapped);
                        assert_eq!(r, Ok(()), "{} {k} {raw:?}", schema.name);
                    }
                }
            }
        }
        assert!(named > 10, "{named}");
        let sysmon = sysmon();
        let at = |f: &str| sysmon.field_names().iter().position(|x| x == f);
        assert!(at("host").is_some_and(|k| sysmon.maps_infallibly(k)));
        for f in ["remote.ip", "time", "remote.port"] {
            assert!(at(f).is_some_and(|k| !sysmon.maps_infallibly(k)), "{f}");
        }
    }

    /// A record over a schema's key numbers (`None`: absent).
    struct ByNumber<'a>(Vec<Option<Raw<'a>>>, &'a Keys);

    impl Record for ByNumber<'_> {
        fn get(&self, key: &str) -> Option<Raw<'_>> {
            self.at(self.1.find(key)?, key)
        }

        fn at(&self, i: usize, _key: &str) -> Option<Raw<'_>> {
            self.0.get(i).copied().flatten()
        }
    }

    /// `fill`'s fast reads ([`Fast`]) map every field as its general path does: every built-in
    /// schema, over records whose keys take, at random, texts around each conversion's edges
    /// (empty, missing markers, cases, bad and boundary numbers, addresses and times,
    /// separators, non-ASCII), numbers, booleans or nothing; the results (cells, or the error
    /// naming the first bad value) of the schema with its fast reads and without are equal, as
    /// are the cells a fast read was planned for.
    #[test]
    fn fast_reads_agree_with_the_general_path() {
        let texts = [
            "",
            "-",
            "(empty)",
            "true",
            "TRUE",
            "False",
            "false",
            "tcp",
            "TCP",
            "Udp",
            "icmp",
            "other",
            "outbound",
            "Inbound",
            "25",
            "0",
            "65535",
            "65536",
            "-1",
            "25.0",
            "007",
            "1.5",
            " 25",
            "99999999999999999999",
            "10.0.0.1",
            "256.1.1.1",
            "01.2.3.4",
            "::1",
            "fe80::1",
            "2026-11-20 00:00:00.643",
            "2026-11-20T00:59:59Z",
            "2026-02-30 00:00:00",
            "2026-11-20 00:00:61",
            "1700000000",
            "1700000000.5",
            "C:\\Windows\\cmd.exe",
            "/usr/bin/x",
            "dir\\",
            "\\",
            "x/",
            "é",
            "ÄBC",
            "Ü\\päth\\名.exe",
            "Sysmon",
            "Microsoft-Windows-Sysmon/Operational",
            "3",
        ];
        let numbers: Vec<serde_json::Number> = ["3", "25", "0", "70000", "-1", "25.5", "1e3"]
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let schemas = builtin().unwrap_or_default();
        assert!(schemas.len() >= 10);
        let (mut fast_fields, mut fast_cells) = (0, 0);
        let mut seen = std::collections::HashSet::new();
        for schema in &schemas {
            let mut general = schema.clone();
            general.fast.iter_mut().for_each(|f| *f = None);
            fast_fields += schema.fast.iter().flatten().count();
            // The keys of `applies` and the swap condition take one of their values most of
            // the time, so that most rows apply and some swap.
            let cond_value = |i: usize| {
                schema
                    .applies_at
                    .iter()
                    .chain([&schema.swap_when_at])
                    .find(|c| c.ix.contains(&i))
                    .and_then(|c| c.values.first())
                    .map(|e| e.text.as_str())
            };
            for _ in 0..3000 {
                let vals: Vec<Option<Raw<'_>>> = (0..schema.keys.len())
                    .map(|i| match (next(10), cond_value(i)) {
                        (0..=6, Some(v)) => Some(Raw::Str(v)),
                        (0, _) => None,
                        (1, _) => numbers.get(next(numbers.len())).map(Raw::Num),
                        (2, _) => Some(Raw::Bool(next(2) == 1)),
                        _ => texts.get(next(texts.len())).map(|t| Raw::Str(t)),
                    })
                    .collect();
                let rec = ByNumber(vals, &schema.keys);
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let (ra, rb) = (
                    schema.map_into(&rec, &mut a),
                    general.map_into(&rec, &mut b),
                );
                assert_eq!(ra, rb, "{}: {:?}", schema.name, rec.0);
                assert_eq!(a, b, "{}: {:?}", schema.name, rec.0);
                // Each field alone too (a row's first bad value hides the fields after it).
                for k in 0..schema.fields.len() {
                    let want: Vec<bool> = (0..schema.fields.len()).map(|j| j == k).collect();
                    let ra = schema.map_some_into(&rec, &mut a, Some(&want));
                    let rb = general.map_some_into(&rec, &mut b, Some(&want));
                    assert_eq!(ra, rb, "{} {k}: {:?}", schema.name, rec.0);
                    assert_eq!(a, b, "{} {k}: {:?}", schema.name, rec.0);
                    let cell = a.get(k).cloned().flatten();
                    if let (Ok(true), Some(Some(_)), Some(c)) = (ra, schema.fast.get(k), cell) {
                        fast_cells += 1;
                        seen.insert(format!("{c:?}").split('(').next().map(str::to_string));
                    }
                }
            }
        }
        // Sysmon's and Zeek's fields are among them, and their reads made cells of every kind
        // (string, integer, IP, timestamp, enum).
        assert!(fast_fields >= 40, "{fast_fields}");
        assert!(fast_cells >= 10_000, "{fast_cells}");
        assert_eq!(seen.len(), 5, "{seen:?}");
    }

    /// `cond_holds` (inlined loops, the length filter, integers by their value, the rest out
    /// of line) decides as the condition's definition does: the first present key's value, as
    /// [`Raw::is_text`] reads it, is one of the values (`present`: any value; no key:
    /// `if_present`). Over conditions of one and two keys with values around each shortcut's
    /// edges (lengths 0, 63, 64, 70, digits with leading zeros, `3.0`, booleans' texts in
    /// other cases, non-ASCII, a quote and a backslash as unescaped text) and records whose
    /// keys are absent, strings, numbers or booleans; and over JSON lines, whose escaped
    /// strings reach the condition unescaped.
    #[test]
    fn cond_holds_agrees_with_its_definition() {
        use super::super::read::LiteRecord;
        let long = |n: usize| "x".repeat(n);
        let (l63, l64, l70) = (long(63), long(64), long(70));
        let texts: Vec<&str> = vec![
            "",
            "3",
            "03",
            "3.0",
            "-3",
            "30",
            "0",
            "18446744073709551615",
            "18446744073709551616",
            "true",
            "false",
            "False",
            "FALSE",
            "TRUE",
            "Microsoft-Windows-Sysmon/Operational",
            "Microsoft-Windows-Sysmon/Operationak",
            "microsoft-windows-sysmon/operational",
            "Microsoft-Windows-Sysmon",
            "a\"b\\c",
            "é",
            "Ä3",
            &l63,
            &l64,
            &l70,
        ];
        let numbers: Vec<serde_json::Number> = [
            "3",
            "0",
            "30",
            "-3",
            "3.0",
            "1e0",
            "18446744073709551615",
            "-0",
        ]
        .iter()
        .filter_map(|t| serde_json::from_str(t).ok())
        .collect();
        let schema = sysmon();
        let keys = &schema.keys;
        let key_sets: [&[&str]; 3] = [&["EventID"], &["EventID", "EventCode"], &["Initiated"]];
        let mut next = super::super::test_random(0x2545_f491_4f6c_dd1d);
        let reference = |c: &Cond, rec: &dyn Record| {
            let first = c.field.iter().find_map(|k| rec.get(k));
            match first {
                None => c.if_present,
                Some(_) if c.present => true,
                Some(v) => c.values.iter().any(|t| v.is_text(t)),
            }
        };
        let (mut held, mut not) = (0, 0);
        for _ in 0..4000 {
            let present = next(6) == 0;
            let values: Vec<String> = if present {
                Vec::new()
            } else {
                (0..1 + next(3))
                    .map(|_| texts[next(texts.len())].to_string())
                    .collect()
            };
            let c = Cond {
                field: key_sets[next(3)].iter().map(|k| k.to_string()).collect(),
                values,
                if_present: next(2) == 0,
                present,
            };
            let at = CondAt::new(&c, keys);
            for _ in 0..20 {
                let vals: Vec<Option<Raw<'_>>> = (0..keys.len())
                    .map(|_| match next(8) {
                        0 | 1 => None,
                        2 => numbers.get(next(numbers.len())).map(Raw::Num),
                        3 => Some(Raw::Bool(next(2) == 1)),
                        // One of the condition's own values often, so that some hold.
                        4 | 5 => c.values.first().map(|v| Raw::Str(v.as_str())),
                        _ => Some(Raw::Str(texts[next(texts.len())])),
                    })
                    .collect();
                let rec = ByNumber(vals, keys);
                let want = reference(&c, &rec);
                assert_eq!(schema.cond_holds(&at, &rec), want, "{c:?} {:?}", rec.0);
                if want {
                    held += 1;
                } else {
                    not += 1;
                }
            }
        }
        assert!(held > 10_000 && not > 10_000, "{held} {not}");
        // Escapes are read before the condition: the same text written plainly or escaped.
        let c = Cond {
            field: vec!["Channel".into()],
            values: vec!["Microsoft-Windows-Sysmon/Operational".into(), "a\"b".into()],
            if_present: false,
            present: false,
        };
        let at = CondAt::new(&c, keys);
        for (v, holds) in [
            ("\"Microsoft-Windows-Sysmon/Operational\"", true),
            ("\"Microsoft-Windows-Sysmon\\/Operational\"", true),
            ("\"Microsoft-Windows-Sysmon\\u002FOperational\"", true),
            ("\"a\\\"b\"", true),
            ("\"a\\\\b\"", false),
            ("\"Microsoft-Windows-Sysmon/Operational \"", false),
            ("null", false),
            ("\"\"", false),
            ("3", false),
        ] {
            let line = format!("{{\"EventID\":3,\"Channel\":{v}}}");
            let rec = match LiteRecord::parse(&line, keys) {
                Ok(rec) => rec,
                Err(e) => unreachable!("{line}: {e}"),
            };
            assert_eq!(schema.cond_holds(&at, &rec), holds, "{line}");
            assert_eq!(reference(&c, &rec), holds, "{line}");
        }
    }

    /// A record that counts the reads of one key, to see how often the mapping reads it.
    struct Counting<'a, R> {
        rec: &'a R,
        key: &'a str,
        reads: std::cell::Cell<usize>,
    }

    impl<R: Record> Record for Counting<'_, R> {
        fn get(&self, key: &str) -> Option<Raw<'_>> {
            self.reads
                .set(self.reads.get() + usize::from(key == self.key));
            self.rec.get(key)
        }

        fn at(&self, i: usize, key: &str) -> Option<Raw<'_>> {
            self.reads
                .set(self.reads.get() + usize::from(key == self.key));
            self.rec.at(i, key)
        }
    }

    /// The two stages decide the swap once: `Initiated` (the swap's condition) is read by the
    /// first stage and not again by the second when neither maps `direction` (which reads
    /// it too), and the second stage swaps as the first decided.
    #[test]
    fn second_stage_does_not_decide_the_swap_again() {
        use super::super::read::LiteRecord;
        let sysmon = &sysmon();
        let n = sysmon.field_names().len();
        let at = |f: &str| sysmon.field_names().iter().position(|x| x == f);
        let mark = |fs: &[&str]| {
            let mut w = vec![false; n];
            for k in fs.iter().filter_map(|f| at(f)) {
                w[k] = true;
            }
            w
        };
        let (first, more) = (mark(&["time", "remote.ip"]), mark(&["host", "remote.port"]));
        for (initiated, port) in [("true", 25), ("false", 50000)] {
            let line = format!(
                "{{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00.000\",\"Hostname\":\"H\",\"Initiated\":\"{initiated}\",\"SourceIp\":\"10.0.0.1\",\"SourcePort\":\"50000\",\"DestinationIp\":\"93.184.216.34\",\"DestinationPort\":25}}"
            );
            let rec = match LiteRecord::parse(&line, sysmon.keys()) {
                Ok(rec) => rec,
                Err(e) => unreachable!("{line}: {e}"),
            };
            let counted = Counting {
                rec: &rec,
                key: "Initiated",
                reads: std::cell::Cell::new(0),
            };
            let mut out = Vec::new();
            let applied = match sysmon.map_first_into(&counted, &mut out, Some(&first)) {
                Ok(Some(a)) => a,
                other => unreachable!("{line}: {other:?}"),
            };
            let after_first = counted.reads.get();
            assert_eq!(after_first, 1, "{line}");
            assert_eq!(
                sysmon.map_more_into(&counted, &mut out, &more, applied),
                Ok(())
            );
            assert_eq!(counted.reads.get(), after_first, "{line}");
            let port_cell = at("remote.port").and_then(|k| out.get(k).cloned().flatten());
            assert_eq!(port_cell, Some(Cell::Int(port)), "{line}");
        }
    }
}
