//! Readers: turn a file into numbered raw lines (streaming), and one line into a [`Record`].
//!
//! Formats, recognised from the first non-blank line of the (decompressed) file:
//! - `{...}`: JSON lines, one flat object per line (flattened Windows event JSON, Defender JSON,
//!   Zeek JSON). A dotted key (`id.orig_h`) that is absent is also looked up as a path into
//!   nested objects (`{"id": {"orig_h": ...}}`).
//! - lines starting with `#` (Zeek TSV): `#separator`, `#fields`, `#path`, `#unset_field`,
//!   `#empty_field` directives; other `#` lines (`#close`, btest banners) are comments.
//! - anything else: a header line, then rows; tab-separated if the header has a tab, else CSV
//!   (RFC 4180 quoting; a quoted cell may span lines, and the row keeps its first line number).
//!
//! `.gz` files are decompressed on the fly. A NUL byte in the first 8 KiB of (decompressed)
//! data means a binary file: one error, nothing read. A line that is not UTF-8, not a JSON object,
//! or has the wrong number of cells is a bad line (the caller reports file:line and reason).

use super::jsonscan::{Plan, Scanned};
use super::rowmask::{prefix_xor, slice_masks, RowMasks};
use super::schema::{Keys, Raw, Record};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// How the rows of a file are laid out.
#[derive(Debug, Clone)]
pub enum Layout {
    JsonLines,
    Table(Header),
}

/// The header of a table (CSV, TSV or Zeek TSV).
#[derive(Debug, Clone)]
pub struct Header {
    pub names: Vec<String>,
    index: HashMap<String, usize>,
    pub delim: u8,
    /// Zeek's `#path` (`conn`, `smtp`), when given.
    pub zeek_path: Option<String>,
    /// Zeek's unset and empty markers, both read as missing.
    pub unset: Option<String>,
    pub empty: Option<String>,
    /// RFC 4180 quoting (CSV); Zeek TSV has none.
    pub quoted: bool,
}

impl Header {
    pub fn new(names: Vec<String>, delim: u8, quoted: bool) -> Header {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Header {
            names,
            index,
            delim,
            zeek_path: None,
            unset: None,
            empty: None,
            quoted,
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }
}

/// A JSON-lines row.
pub struct JsonRecord(pub serde_json::Map<String, serde_json::Value>);

fn raw_of(v: &serde_json::Value) -> Option<Raw<'_>> {
    match v {
        serde_json::Value::String(s) => Some(Raw::Str(s)),
        serde_json::Value::Number(n) => Some(Raw::Num(n)),
        serde_json::Value::Bool(b) => Some(Raw::Bool(*b)),
        // Null is missing; a nested array or object is not a scalar field value: missing too.
        _ => None,
    }
}

impl Record for JsonRecord {
    fn get(&self, key: &str) -> Option<Raw<'_>> {
        if let Some(v) = self.0.get(key) {
            return raw_of(v);
        }
        if !key.contains('.') {
            return None;
        }
        let mut parts = key.split('.');
        let mut cur = self.0.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        raw_of(cur)
    }
}

impl JsonRecord {
    pub fn parse(line: &str) -> Result<JsonRecord, String> {
        if let Some(why) = super::auditd::bad_reason(line) {
            return Err(why);
        }
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(m)) => Ok(JsonRecord(m)),
            Ok(_) => Err("not a JSON object".into()),
            Err(e) => Err(format!("invalid JSON: {e}")),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some() || self.0.contains_key(key)
    }
}

/// A JSON-lines row holding only the keys an input schema reads (the rest is skipped while
/// parsing, still validated): the evaluator's full path. Values are kept by key number
/// ([`Keys`]); strings are borrowed from the line unless they contain escapes. A key given
/// twice among those read makes the line bad (JSON leaves it undefined, and readers differ:
/// first wins in some, last in others); duplicates of keys no mapping reads change nothing and
/// are not looked for.
pub struct LiteRecord<'a> {
    keys: &'a Keys,
    /// The values by key number, with the unescaped text [`LiteVal::Text`] ranges point into
    /// and the objects [`LiteVal::Nested`] indexes, and the scanner's scratch: taken from
    /// [`SPARE`] once and given back on drop, so a line allocates nothing once they have grown.
    got: Scanned<'a>,
    special: Vec<u64>,
    plan: Plan,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum LiteVal<'a> {
    /// A string written without escapes, as it is in the line.
    Str(&'a str),
    /// A string written with escapes: its unescaped text is `start..end` of the record's text.
    Text(usize, usize),
    Num(serde_json::Number),
    Bool(bool),
    Null,
    /// An object or array (only kept for the first segment of a dotted key): its index among
    /// the record's nested values. An index, not the value: the values are moved and cleared
    /// on every line, and with nothing to drop clearing them is free.
    Nested(usize),
}

struct CowStr;

impl<'de> serde::de::DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads one kept value; a string serde_json had to unescape goes to the end of `text`, an
/// object or array to the end of `nested`.
struct LiteSeed<'t> {
    text: &'t mut String,
    nested: &'t mut Vec<serde_json::Value>,
}

impl<'de> serde::de::DeserializeSeed<'de> for LiteSeed<'_> {
    type Value = LiteVal<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V<'t> {
            text: &'t mut String,
            nested: &'t mut Vec<serde_json::Value>,
        }
        impl V<'_> {
            fn owned(self, v: &str) -> LiteVal<'static> {
                let from = self.text.len();
                self.text.push_str(v);
                LiteVal::Text(from, self.text.len())
            }
            fn nested(self, v: serde_json::Value) -> LiteVal<'static> {
                self.nested.push(v);
                LiteVal::Nested(self.nested.len() - 1)
            }
        }
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = LiteVal<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LiteVal::Str(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(self.owned(v))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(self.owned(&v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(LiteVal::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LiteVal::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LiteVal::Num(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(serde_json::Number::from_f64(v).map_or(LiteVal::Null, LiteVal::Num))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(LiteVal::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(LiteVal::Null)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                a: A,
            ) -> Result<Self::Value, A::Error> {
                use serde::Deserialize;
                serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(a))
                    .map(|v| self.nested(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                a: A,
            ) -> Result<Self::Value, A::Error> {
                use serde::Deserialize;
                serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(a))
                    .map(|v| self.nested(v))
            }
        }
        d.deserialize_any(V {
            text: self.text,
            nested: self.nested,
        })
    }
}

struct RecordVisitor<'k, 't> {
    keys: &'k Keys,
    text: &'t mut String,
    nested: &'t mut Vec<serde_json::Value>,
}

/// The values read by key number, and the first key read twice.
pub(super) type LiteVals<'a> = (Vec<Option<LiteVal<'a>>>, Option<String>);

impl<'de> serde::de::Visitor<'de> for RecordVisitor<'_, '_> {
    type Value = LiteVals<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut vals: Vec<Option<LiteVal<'de>>> = (0..self.keys.len()).map(|_| None).collect();
        let mut duplicate = None;
        while let Some(k) = m.next_key_seed(CowStr)? {
            match self.keys.find(&k).and_then(|i| vals.get_mut(i)) {
                Some(slot) => {
                    let v = m.next_value_seed(LiteSeed {
                        text: &mut *self.text,
                        nested: &mut *self.nested,
                    })?;
                    if duplicate.is_none() && slot.is_some() {
                        duplicate = Some(k.to_string());
                    }
                    *slot = Some(v);
                }
                None => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok((vals, duplicate))
    }
}

/// A JSON line's buffers (see [`LiteRecord`]): the values by key number (borrowing lines of
/// lifetime `'a`), the text and nested values they index, and the scanner's line index and key
/// plan. Kept from line to line by a caller that reads many lines of one lifetime (a worker,
/// for the lines of its chunk: [`LineBufs::read`]), or by the thread ([`SPARE`], for
/// [`LiteRecord::parse`]).
#[derive(Debug, Default)]
pub struct LineBufs<'a> {
    got: Scanned<'a>,
    /// The line index of the scanner.
    special: Vec<u64>,
    /// The keys of the last line, in order.
    plan: Plan,
}

impl LineBufs<'_> {
    pub const EMPTY: LineBufs<'static> = LineBufs {
        got: Scanned::EMPTY,
        special: Vec::new(),
        plan: Plan::EMPTY,
    };

    /// The same buffers, emptied, for lines of another lifetime (their allocations kept):
    /// a worker's buffers made its chunk's, then kept again once the chunk is done.
    pub fn relife<'b>(self) -> LineBufs<'b> {
        let LineBufs {
            got:
                Scanned {
                    mut vals,
                    text,
                    nested,
                },
            special,
            plan,
        } = self;
        vals.clear();
        LineBufs {
            got: Scanned {
                vals: relife(vals),
                text,
                nested,
            },
            special,
            plan,
        }
    }
}

impl<'a> LineBufs<'a> {
    /// Reads `line` into these buffers (see [`LiteRecord::parse`]), the values of `keys`
    /// readable through the row returned while it lives. The buffers are the caller's, lent
    /// for the line: no thread-local taken and given back, nothing moved (on row (f) that was
    /// about 210 instructions a line: `with_spare` 59, the record's drop 106, `LocalKey::with`
    /// 48).
    #[inline(always)]
    pub fn read<'s>(&'s mut self, line: &'a str, keys: &'s Keys) -> Result<LiteRow<'s>, String> {
        read_line(line, keys, &mut self.got, &mut self.special, &mut self.plan)?;
        Ok(LiteRow {
            keys,
            got: &self.got,
        })
    }
}

thread_local! {
    /// Taken and given back field by field (a few words each), not as a whole: moving the
    /// whole struct in and out was a `memcpy` call each way per line.
    static SPARE: std::cell::RefCell<LineBufs<'static>> =
        const { std::cell::RefCell::new(LineBufs::EMPTY) };
}

/// The same allocation, emptied, for values of another lifetime: a map to `None` collected
/// from a vector's own iterator is built in place (same size and alignment), so nothing is
/// allocated.
fn relife<'b>(v: Vec<Option<LiteVal<'_>>>) -> Vec<Option<LiteVal<'b>>> {
    v.into_iter().map(|_| None).collect()
}

impl Drop for LiteRecord<'_> {
    #[inline]
    fn drop(&mut self) {
        let mut vals = std::mem::take(&mut self.got.vals);
        // Emptied here (free: the values own nothing), so that the next line's values start
        // empty.
        vals.clear();
        let vals = relife(vals);
        with_spare(|s| {
            s.got.vals = vals;
            self.trade(s);
        });
    }
}

/// Reads one JSON line into `got` (the values of `keys`), by the flat scanner
/// ([`super::jsonscan`]), or by serde_json's reader where the scanner gives up (a bad line, an
/// escaped key, nesting past its depth), which then words the error. The one parse of
/// [`LiteRecord::parse`] and [`LineBufs::read`].
#[inline(always)]
fn read_line<'a>(
    line: &'a str,
    keys: &Keys,
    got: &mut Scanned<'a>,
    special: &mut Vec<u64>,
    plan: &mut Plan,
) -> Result<(), String> {
    if let Some(why) = super::auditd::bad_reason(line) {
        return Err(why);
    }
    let duplicate = match super::jsonscan::scan(line, keys, special, plan, got) {
        Ok(dup) => dup.map(Cow::Borrowed),
        Err(super::jsonscan::GiveUp) => {
            got.text.clear();
            got.nested.clear();
            let (vals, dup) = LiteRecord::parse_serde(line, keys, &mut got.text, &mut got.nested)?;
            got.vals = vals;
            dup.map(Cow::Owned)
        }
    };
    match duplicate {
        Some(k) => Err(format!(
            "duplicate key `{k}` (JSON leaves its meaning undefined; readers differ on which value counts)"
        )),
        None => Ok(()),
    }
}

/// A JSON line read into a caller's [`LineBufs`]: the values of its keys, as
/// [`LiteRecord`] reads them.
#[derive(Clone, Copy)]
pub struct LiteRow<'s> {
    keys: &'s Keys,
    got: &'s Scanned<'s>,
}

impl<'a> LiteRecord<'a> {
    /// Parses one line, keeping the values of `keys`: by the flat scanner
    /// ([`super::jsonscan`]), or by serde_json's reader where the scanner gives up (a bad line,
    /// an escaped key, nesting past its depth), which then words the error.
    // Inlined, with its drop (above): the record (17 words) was returned through a `memcpy`
    // call, and the two were about 30 instructions a line of row (f) (100k lines, one thread:
    // 859.2M -> 856.5M).
    #[inline(always)]
    pub fn parse(line: &'a str, keys: &'a Keys) -> Result<LiteRecord<'a>, String> {
        // From here the record gives the buffers back when it is dropped, whatever happens.
        let mut rec = LiteRecord {
            keys,
            got: Scanned::EMPTY,
            special: Vec::new(),
            plan: Plan::EMPTY,
        };
        // Taken from the thread's spare buffers (left empty there: a record made while this
        // one lives, none is, would just allocate).
        // The spare values (of no line: `'static`) are values of this line as they are
        // (`LiteVal` is covariant), without `relife`'s in-place collect.
        with_spare(|s| {
            rec.got.vals = std::mem::take(&mut s.got.vals);
            rec.trade(s);
        });
        read_line(line, keys, &mut rec.got, &mut rec.special, &mut rec.plan)?;
        Ok(rec)
    }

    /// serde_json's reader of a line: the values of `keys` by number and the first of them
    /// written twice, or why the line is not a JSON object.
    /// Strings serde_json unescaped go to the end of `text`, objects and arrays to the end of
    /// `nested`, as the scanner's do.
    pub(super) fn parse_serde(
        line: &'a str,
        keys: &Keys,
        text: &mut String,
        nested: &mut Vec<serde_json::Value>,
    ) -> Result<LiteVals<'a>, String> {
        use serde::Deserializer;
        let mut de = serde_json::Deserializer::from_str(line);
        let vals = (&mut de)
            .deserialize_map(RecordVisitor { keys, text, nested })
            .map_err(|e| {
                if e.is_data() {
                    "not a JSON object".to_string()
                } else {
                    format!("invalid JSON: {e}")
                }
            })?;
        de.end().map_err(|e| format!("invalid JSON: {e}"))?;
        Ok(vals)
    }
}

impl LiteRecord<'_> {
    /// The record's values, as a row of a caller's buffers is read.
    #[inline(always)]
    fn row(&self) -> LiteRow<'_> {
        LiteRow {
            keys: self.keys,
            got: &self.got,
        }
    }
}

impl Record for LiteRecord<'_> {
    fn get(&self, key: &str) -> Option<Raw<'_>> {
        self.row().value(key)
    }

    #[inline(always)]
    fn at(&self, i: usize, key: &str) -> Option<Raw<'_>> {
        self.row().value_at(i, key)
    }
}

impl Record for LiteRow<'_> {
    fn get(&self, key: &str) -> Option<Raw<'_>> {
        self.value(key)
    }

    #[inline(always)]
    fn at(&self, i: usize, key: &str) -> Option<Raw<'_>> {
        self.value_at(i, key)
    }
}

impl<'s> LiteRow<'s> {
    fn value(self, key: &str) -> Option<Raw<'s>> {
        self.value_at(self.keys.find(key)?, key)
    }

    // Inlined into the mapping (it was a call per value read, about seven per row of (f));
    // the rare absent key, maybe dotted, is a call.
    #[inline(always)]
    fn value_at(self, i: usize, key: &str) -> Option<Raw<'s>> {
        match self.got.vals.get(i)? {
            Some(LiteVal::Str(s)) => Some(Raw::Str(s)),
            Some(LiteVal::Text(a, b)) => self.got.text.get(*a..*b).map(Raw::Str),
            Some(LiteVal::Num(n)) => Some(Raw::Num(n)),
            Some(LiteVal::Bool(b)) => Some(Raw::Bool(*b)),
            Some(LiteVal::Null) | Some(LiteVal::Nested(_)) => None,
            None => self.nested_at(i, key),
        }
    }

    /// The value of absent key number `i` (named `key`) when it is dotted: a path into the
    /// object under its first segment.
    #[cold]
    #[inline(never)]
    fn nested_at(self, i: usize, key: &str) -> Option<Raw<'s>> {
        let head = self.keys.head(i)?;
        let (_, rest) = key.split_once('.')?;
        let Some(Some(LiteVal::Nested(n))) = self.got.vals.get(head) else {
            return None;
        };
        let mut cur = self.got.nested.get(*n)?;
        for p in rest.split('.') {
            cur = cur.as_object()?.get(p)?;
        }
        raw_of(cur)
    }
}

/// Runs `f` on this thread's spare buffers; not at all when they are held elsewhere on the
/// thread (never, as records are made: the record then allocates, or drops its buffers) or
/// the thread is being torn down.
fn with_spare(f: impl FnOnce(&mut LineBufs<'static>)) {
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            f(&mut s);
        }
    });
}

impl LiteRecord<'_> {
    /// Exchanges this record's text, nested values and scanner scratch with `s`'s (the values
    /// by key number change lifetime, so each caller moves them its own way).
    fn trade(&mut self, s: &mut LineBufs<'static>) {
        std::mem::swap(&mut self.got.text, &mut s.got.text);
        std::mem::swap(&mut self.got.nested, &mut s.got.nested);
        std::mem::swap(&mut self.special, &mut s.special);
        std::mem::swap(&mut self.plan, &mut s.plan);
    }
}

/// A table row: the cells of the columns an input schema reads, by key number ([`Keys`]);
/// the other columns are counted, not kept.
pub struct TableRecord<'a> {
    header: &'a Header,
    keys: &'a Keys,
    line: &'a str,
    buf: &'a TableBuf,
}

/// Where a kept cell's text is: a range of the row's line as written, or of the text made for
/// the row (a CSV cell with `""`, a Zeek cell with `\xHH`, the cells of an odd separator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Line(usize, usize),
    Made(usize, usize),
}

/// A table row's kept cells ([`At`], by key number) and the text made for them: kept by a
/// caller from row to row. Plain ranges, so that a row's cells are cleared without a drop per
/// cell and borrow nothing between rows.
#[derive(Debug, Default)]
pub struct TableBuf {
    cells: Vec<Option<At>>,
    made: String,
    /// The row's separators and quotes (or backslashes): see [`RowMasks`].
    masks: RowMasks,
}

impl TableBuf {
    pub const fn new() -> TableBuf {
        TableBuf {
            cells: Vec::new(),
            made: String::new(),
            masks: RowMasks::new(),
        }
    }

    /// Keeps `text` made for a row: where it is.
    /// Key number `k`'s cell is at `at`.
    fn set(&mut self, k: usize, at: At) {
        if let Some(slot) = self.cells.get_mut(k) {
            *slot = Some(at);
        }
    }

    fn make(&mut self, text: &str) -> At {
        let start = self.made.len();
        self.made.push_str(text);
        At::Made(start, self.made.len())
    }
}

/// An empty vector of `U` in the allocation of `v`, when `T` and `U` have one layout (cells
/// borrowing one row, and cells borrowing the next): a row's vectors are kept across rows
/// without holding the borrows of the row before.
pub fn reuse<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// For each column of `h`, the number of its key among `keys` (`None`: no mapping reads it).
/// Computed once per header and schema.
pub fn columns(h: &Header, keys: &Keys) -> Vec<Option<usize>> {
    trim_unread(h.names.iter().map(|n| keys.find(n)).collect())
}

/// `cols` without its trailing unread columns: a row is split up to the last column kept, and
/// [`TableRecord::parse_in`] finds it without a look at those after it.
pub fn trim_unread(mut cols: Vec<Option<usize>>) -> Vec<Option<usize>> {
    while cols.last().is_some_and(Option::is_none) {
        cols.pop();
    }
    cols
}

impl<'a> TableRecord<'a> {
    /// Splits one row of `h`, keeping the columns `cols` (from [`columns`]) numbers, into `buf`
    /// (its content dropped, its allocations kept: a caller splits row after row into one).
    pub fn parse_in(
        line: &'a str,
        h: &'a Header,
        keys: &'a Keys,
        cols: &[Option<usize>],
        buf: &'a mut TableBuf,
    ) -> Result<TableRecord<'a>, String> {
        buf.cells.clear();
        buf.cells.resize(keys.len(), None);
        buf.made.clear();
        // `cols` has no trailing unread columns ([`columns`]): this is the last one kept.
        let last = cols.iter().rposition(Option::is_some).unwrap_or(0);
        let n = if !h.delim.is_ascii() {
            // An odd separator: the general splitter.
            let all = split_row_cells(line, h)?;
            let n = all.len();
            for (col, c) in all.iter().enumerate() {
                if let Some(k) = kept_key(cols, col) {
                    let at = buf.make(c);
                    buf.set(k, at);
                }
            }
            n
        } else {
            // The row indexed once (see [`RowMasks`]), its cells found in the masks.
            let special = if h.quoted { b'"' } else { b'\\' };
            buf.masks.index(line.as_bytes(), h.delim, special);
            if h.quoted {
                split_csv_indexed(line, h.delim, cols, last, buf)?
            } else {
                split_tsv_indexed(line, cols, last, buf)
            }
        };
        if n != h.names.len() {
            return Err(cell_count(n, h));
        }
        Ok(TableRecord {
            header: h,
            keys,
            line,
            buf,
        })
    }

    /// The text of the cell of key number `k`, if its column is kept.
    pub fn cell(&self, k: usize) -> Option<&'a str> {
        match (*self.buf.cells.get(k)?)? {
            At::Line(s, e) => self.line.get(s..e),
            At::Made(s, e) => self.buf.made.get(s..e),
        }
    }
}

/// A CSV row's kept cells up to column `last` and its number of cells, or why it is bad, from
/// the row's masks (`buf.masks`, of the separator and the quote): the cells and errors of
/// [`split_csv`] (tested against it). A quote opens a quoted cell only at the cell's start; the
/// cells after `last` are counted, by their separators alone once no quote is left.
fn split_csv_indexed(
    line: &str,
    delim: u8,
    cols: &[Option<usize>],
    last: usize,
    buf: &mut TableBuf,
) -> Result<usize, String> {
    let TableBuf { cells, made, masks } = buf;
    let b = line.as_bytes();
    let (mut col, mut pos) = (0, 0);
    // The separators from `pos` on, and the first quote at or after `pos`.
    let mut delims = masks.delims_at(0);
    let mut quote = masks.next_special(0);
    loop {
        if quote == Some(pos) {
            // A quoted cell: up to the quote not followed by another; `""` is one quote.
            let start = pos + 1;
            let (mut i, mut doubled) = (start, false);
            let close = loop {
                let Some(q) = masks.next_special(i) else {
                    return Err("unterminated quoted cell".into());
                };
                if b.get(q + 1) == Some(&b'"') {
                    doubled = true;
                    i = q + 2;
                } else {
                    break q;
                }
            };
            if let Some(cell) = kept_key(cols, col).and_then(|k| cells.get_mut(k)) {
                *cell = Some(if doubled {
                    let from = made.len();
                    let raw = line.get(start..close).unwrap_or_default();
                    made.push_str(&raw.replace("\"\"", "\""));
                    At::Made(from, made.len())
                } else {
                    At::Line(start, close)
                });
            }
            col += 1;
            match b.get(close + 1) {
                None => return Ok(col),
                Some(c) if *c == delim => pos = close + 2,
                Some(_) => return Err("text after the closing quote of a quoted cell".into()),
            }
            delims = masks.delims_at(pos);
            quote = masks.next_special(pos);
        } else {
            if col > last && quote.is_none() {
                // No quote left: the other cells are one more than their separators.
                return Ok(col + delims.count() + 1);
            }
            let end = delims.next();
            if let Some(cell) = kept_key(cols, col).and_then(|k| cells.get_mut(k)) {
                *cell = Some(At::Line(pos, end.unwrap_or(b.len())));
            }
            col += 1;
            let Some(d) = end else { return Ok(col) };
            pos = d + 1;
            // A quote inside the cell is a character of it.
            if quote.is_some_and(|q| q < pos) {
                quote = masks.next_special(pos);
            }
        }
    }
}

/// A Zeek TSV row's kept cells up to column `last` (Zeek's `\xHH` escapes undone in those
/// that hold a backslash) and its number of cells, from the row's masks (`buf.masks`, of the
/// separator and the backslash).
fn split_tsv_indexed(line: &str, cols: &[Option<usize>], last: usize, buf: &mut TableBuf) -> usize {
    let TableBuf { cells, masks, .. } = &mut *buf;
    let (mut col, mut pos, mut kept_end) = (0, 0, 0);
    let mut delims = masks.delims_at(0);
    let n = loop {
        let end = delims.next();
        if let Some(cell) = kept_key(cols, col).and_then(|k| cells.get_mut(k)) {
            let stop = end.unwrap_or(line.len());
            *cell = Some(At::Line(pos, stop));
            kept_end = stop;
        }
        col += 1;
        match end {
            Some(_) if col > last => break col + delims.count() + 1,
            Some(d) => pos = d + 1,
            None => break col,
        }
    };
    if buf.masks.special_before(kept_end) {
        unescape_kept(line, buf);
    }
    n
}

/// The key number column `col` is kept as (`cols` from [`columns`]).
fn kept_key(cols: &[Option<usize>], col: usize) -> Option<usize> {
    cols.get(col).copied().flatten()
}

/// Zeek's `\xHH` escapes undone in the kept cells of `line` that hold one.
fn unescape_kept(line: &str, buf: &mut TableBuf) {
    for k in 0..buf.cells.len() {
        if let Some(Some(At::Line(s, e))) = buf.cells.get(k).copied() {
            if let Cow::Owned(t) = unescape_zeek_cow(line.get(s..e).unwrap_or_default()) {
                let at = buf.make(&t);
                buf.set(k, at);
            }
        }
    }
}

/// 0x80 in exactly the bytes of `x` that are zero: no carry crosses a byte, since each
/// byte's low seven bits plus 0x7f stay under 0x100.
pub(super) fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The first position of `d` in `b`, eight bytes at a time: for the short cells of a row,
/// where a memchr call costs more than the search.
fn find_byte(b: &[u8], d: u8) -> Option<usize> {
    let splat = u64::from_le_bytes([d; 8]);
    let mut chunks = b.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let m = zero_bytes(u64::from_le_bytes(w) ^ splat);
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|c| *c == d)
        .map(|k| base + k)
}

impl Record for TableRecord<'_> {
    fn get(&self, key: &str) -> Option<Raw<'_>> {
        self.at(self.keys.find(key)?, key)
    }

    fn at(&self, i: usize, _key: &str) -> Option<Raw<'_>> {
        let c = self.cell(i)?;
        if self.header.unset.as_deref() == Some(c) || self.header.empty.as_deref() == Some(c) {
            return None;
        }
        Some(Raw::Str(c))
    }
}

fn cell_count(n: usize, h: &Header) -> String {
    format!("{n} cells where the header has {} columns", h.names.len())
}

/// Splits one table row into cells, unquoting CSV or unescaping Zeek's `\xHH`.
pub fn split_row(line: &str, h: &Header) -> Result<Vec<String>, String> {
    let cells = split_row_cells(line, h)?;
    if cells.len() != h.names.len() {
        return Err(cell_count(cells.len(), h));
    }
    Ok(cells)
}

fn split_row_cells(line: &str, h: &Header) -> Result<Vec<String>, String> {
    Ok(if h.quoted {
        split_csv(line, h.delim)?
    } else {
        line.split(h.delim as char).map(unescape_zeek).collect()
    })
}

fn unescape_zeek_cow(s: &str) -> Cow<'_, str> {
    if memchr::memmem::find(s.as_bytes(), b"\\x").is_none() {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(unescape_zeek(s))
    }
}

pub(crate) fn unescape_zeek(s: &str) -> String {
    if !s.contains("\\x") {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 2]), hex(b[i + 3])) {
                out.push((h * 16 + l) as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn split_csv(line: &str, delim: u8) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_q = false;
    let mut at_start = true;
    let d = delim as char;
    while let Some(c) = chars.next() {
        if in_q {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_q = false;
                    if chars.peek().is_some_and(|c| *c != d) {
                        return Err("text after the closing quote of a quoted cell".into());
                    }
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            in_q = true;
            at_start = false;
        } else if c == d {
            cells.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if in_q {
        return Err("unterminated quoted cell".into());
    }
    cells.push(cur);
    Ok(cells)
}

/// Whether a quoted cell is still open at the end of one physical CSV line, given whether one
/// was open at its start: the quoting rules of [`split_csv`] (a quote opens a cell only at the
/// cell's start; `""` inside is a literal quote). Linear in the line, so a row spanning many
/// lines costs the sum of their lengths.
fn csv_open_after(line: &str, delim: u8, mut in_q: bool) -> bool {
    // From quote to quote: a quote outside a cell opens one only right after a separator or at
    // the line's start (then no cell was open: the state there is this one's).
    let b = line.as_bytes();
    let mut i = 0;
    while let Some(q) = b.get(i..).and_then(|r| find_byte(r, b'"')).map(|q| i + q) {
        if in_q {
            if b.get(q + 1) == Some(&b'"') {
                i = q + 2;
                continue;
            }
            in_q = false;
        } else if q == 0 || q.checked_sub(1).and_then(|p| b.get(p)) == Some(&delim) {
            in_q = true;
        }
        i = q + 1;
    }
    in_q
}

/// Where the first line of `b` that opens a quoted cell it does not close starts (`b`: whole
/// lines of a CSV table, the first the start of a row): up to there every line is a row of its
/// own, and from there a row may span lines, for [`Rows`] to join. The quoting rules of
/// [`csv_open_after`], found quote to quote over the whole text instead of line by line; a
/// line over `max_line` bytes or not UTF-8 is a bad line, not a row, whatever its quotes.
#[cfg(test)]
pub fn first_open_row(b: &[u8], delim: u8, max_line: usize) -> Option<usize> {
    let mut i = 0;
    loop {
        let q = i + memchr::memchr(b'"', b.get(i..)?)?;
        // A quote opens a cell only at the cell's start (a line's start or after a separator).
        let prev = q.checked_sub(1).and_then(|p| b.get(p)).copied();
        if prev.is_some_and(|c| c != delim && c != b'\n') {
            i = q + 1;
            continue;
        }
        // In the quoted cell: its closing quote (`""` is a quote in it), unless the line ends.
        let mut j = q + 1;
        let close = loop {
            let Some(k) = memchr::memchr2(b'"', b'\n', b.get(j..).unwrap_or_default()) else {
                break None;
            };
            match (b.get(j + k), b.get(j + k + 1)) {
                (Some(b'"'), Some(b'"')) => j += k + 2,
                (Some(b'"'), _) => break Some(j + k),
                _ => break None,
            }
        };
        if let Some(c) = close {
            i = c + 1;
            continue;
        }
        let start = memchr::memrchr(b'\n', b.get(..q).unwrap_or_default()).map_or(0, |p| p + 1);
        let end = memchr::memchr(b'\n', b.get(q..).unwrap_or_default()).map_or(b.len(), |p| q + p);
        let line = b.get(start..end).unwrap_or_default();
        if line.len() <= max_line && std::str::from_utf8(line).is_ok() {
            return Some(start);
        }
        i = end + 1;
    }
}

/// [`first_open_row`] of a block and its number of lines up to there (all of them when no row
/// opens: a last line without a break counts), in one pass that marks the block's quotes and
/// line breaks 64 bytes at a time ([`slice_masks`]) and walks the quotes by their bits. The
/// search it replaces called memchr at every quote, and the line count was a second pass over
/// the block: together about a tenth of the Defender CSV row's samples (issue 15, row (e)).
/// Same result as both (tested against them).
pub fn csv_block(b: &[u8], delim: u8, max_line: usize) -> (Option<usize>, u64) {
    if let Some(lines) = csv_block_closed(b, delim) {
        return (None, lines);
    }
    // Where the row of the line holding the opening quote `q` (the line ending at `end`)
    // starts, and the lines before it: unless the line is bad (too long or not UTF-8).
    let row_at = |q: usize, end: usize| {
        let start = memchr::memrchr(b'\n', b.get(..q).unwrap_or_default()).map_or(0, |i| i + 1);
        let line = b.get(start..end).unwrap_or_default();
        (line.len() <= max_line && std::str::from_utf8(line).is_ok()).then(|| {
            let before = b.get(..start).unwrap_or_default();
            (
                Some(start),
                memchr::memchr_iter(b'\n', before).count() as u64,
            )
        })
    };
    // The opening quote of the cell walked, the second quote of a `""` in it (not a close),
    // and the end of a line found open but not a row (bad), whose quotes are not read.
    let (mut open, mut doubled, mut skip_to) = (None::<usize>, usize::MAX, 0);
    let mut breaks = 0u64;
    for (n, c) in b.chunks(64).enumerate() {
        let [nl, q] = slice_masks(c, [b'\n', b'"']);
        breaks += u64::from(nl.count_ones());
        let mut events = q | nl;
        while events != 0 {
            let p = 64 * n + events.trailing_zeros() as usize;
            events &= events - 1;
            if p < skip_to {
                continue;
            }
            let quote = q & (1 << (p % 64)) != 0;
            match open {
                // A quote opens a cell only at the cell's start (a line's start or after a
                // separator); a line break outside a cell is nothing here.
                None if quote => {
                    let prev = p.checked_sub(1).and_then(|i| b.get(i)).copied();
                    if prev.is_none_or(|c| c == delim || c == b'\n') {
                        open = Some(p);
                    }
                }
                None => {}
                Some(_) if quote && p == doubled => {}
                Some(_) if quote && b.get(p + 1) == Some(&b'"') => doubled = p + 1,
                Some(_) if quote => open = None,
                // A line break in a quoted cell: its line opens a row that spans lines,
                // unless the line is bad, then not read further.
                Some(q) => {
                    if let Some(found) = row_at(q, p) {
                        return found;
                    }
                    open = None;
                    skip_to = p + 1;
                }
            }
        }
    }
    // The last line's unclosed cell, if the text ends in one.
    if let Some(found) = open.and_then(|q| row_at(q, b.len())) {
        return found;
    }
    (None, breaks + unbroken_end(b))
}

/// 1 when `b` ends in a line without a break (a line the count of its breaks misses).
pub(super) fn unbroken_end(b: &[u8]) -> u64 {
    u64::from(b.last().is_some_and(|c| *c != b'\n'))
}

/// The lines of a block (as [`csv_block`] counts them) when it plainly holds no row that
/// spans lines: its quotes paired as they come (each chunk's quoted bytes a [`prefix_xor`] of
/// its quotes, carried from chunk to chunk), every opening quote at a cell's start or right
/// after a closing one (a `""`), no line break inside a pair and none left open at the end.
/// `None` otherwise (a quote inside an unquoted cell, a cell left open): [`csv_block`]'s walk
/// decides then. The walk's result, where this gives one: every quote opens or closes a
/// cell there, as here, so the walk's cells are these pairs.
fn csv_block_closed(b: &[u8], delim: u8) -> Option<u64> {
    // Carried from the chunk before: inside a pair at its end; its last byte a separator or a
    // line break (the block's start is a line's); its last byte a closing quote.
    let (mut inside, mut after_sep, mut after_close) = (0u64, 1u64, 0u64);
    let mut breaks = 0u64;
    for c in b.chunks(64) {
        let [nl, q, d] = slice_masks(c, [b'\n', b'"', delim]);
        breaks += u64::from(nl.count_ones());
        let quoted = prefix_xor(q) ^ inside.wrapping_neg();
        let (opens, closes) = (q & quoted, q & !quoted);
        let starts = ((d | nl) << 1) | after_sep;
        let doubled = (closes << 1) | after_close;
        if opens & !(starts | doubled) != 0 || nl & quoted != 0 {
            return None;
        }
        inside = quoted >> 63;
        after_sep = ((d | nl) >> 63) & 1;
        after_close = closes >> 63;
    }
    (inside == 0).then(|| breaks + unbroken_end(b))
}

/// A row may span at most this many physical lines (a quoted cell with line breaks): a stray
/// quote then costs one bad line, and reading resumes at the line after it, instead of the
/// rest of the file being read as one cell.
pub const MAX_ROW_LINES: usize = 1000;

/// Opens a file for reading, decompressing `.gz`, and rejects binary files.
/// The reader of an event file: buffered, over the file or its gzip decoder.
pub type Input = BufReader<Box<dyn Read + Send>>;

pub fn open(path: &Path) -> Result<Input, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    open_reader(path, Box::new(f))
}

/// [`open`] over bytes already opened (a fixture opened by a confining loader); `path` says
/// whether they are gzip (`.gz`).
pub fn open_reader(path: &Path, f: Box<dyn Read + Send>) -> Result<Input, String> {
    let inner: Box<dyn Read + Send> = if path.extension().is_some_and(|x| x == "gz") {
        // The compressed bytes are read 128 KiB at a time: through flate2's own buffer
        // (32 KiB) a gzip file took a read call per 32 KiB on the reader, which decompresses
        // alone (row (g): 1,577 calls for its 51 MB, now about 400).
        Box::new(flate2::bufread::MultiGzDecoder::new(
            BufReader::with_capacity(128 << 10, f),
        ))
    } else {
        f
    };
    let mut r = BufReader::with_capacity(1 << 20, inner);
    let head = r.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
    let n = head.len().min(8192);
    if head[..n].contains(&0) {
        return Err(
            "is a binary file (NUL byte near the start), not JSON lines, CSV or a Zeek log".into(),
        );
    }
    // Linux audit logs: each event's records, read as one flat JSON line.
    if super::auditd::is_audit_stream(&head[..n]) {
        let events: Box<dyn Read + Send> = Box::new(super::auditd::Events::new(r));
        return Ok(BufReader::with_capacity(1 << 20, events));
    }
    // EVTX exported to JSON: pretty-printed documents, read as flat JSON lines.
    if super::evtx_json::is_document_stream(&head[..n]) {
        let docs: Box<dyn Read + Send> = Box::new(super::evtx_json::Documents::new(r));
        return Ok(BufReader::with_capacity(1 << 20, docs));
    }
    // Zeek files.log with smtp.log in one stream: one joined record per mail transaction.
    if super::mailjoin::is_mail_stream(&head[..n]) {
        let joined: Box<dyn Read + Send> = Box::new(super::mailjoin::Joined::new(r));
        return Ok(BufReader::with_capacity(1 << 20, joined));
    }
    Ok(r)
}

/// A row: its first line number, and its text or why the line is unreadable.
pub type Row = (u64, Result<String, String>);

/// Where [`Rows`] left a line: in its own buffer, or a string of its own (a line given back,
/// the first row, or a CSV row joined over several lines).
enum Line {
    Text,
    Owned(String),
}

/// A line as [`Rows`] reads it: its number, and where its text is or why it is unreadable.
type LineRow = (u64, Result<Line, String>);

/// A row whose text was appended to a batch ([`Rows::next_row_into`]): its first line number,
/// and its place in the batch or why its line is unreadable.
pub type SpanRow = (u64, Result<std::ops::Range<usize>, String>);

/// Zeek's header directives seen so far: each `#fields` line makes a [`Header`] from them.
/// Concatenated logs restate them, and each header applies to the rows after it.
#[derive(Debug, Clone, Default)]
pub struct ZeekMeta {
    separator: Option<u8>,
    unset: Option<String>,
    empty: Option<String>,
    path: Option<String>,
}

impl ZeekMeta {
    /// Takes in one `#` line (without its line break); a `#fields` line gives the new header.
    /// Other `#` lines (`#types`, `#open`, `#close`, comments) change nothing.
    pub fn directive(&mut self, line: &str) -> Option<Header> {
        let d = line.strip_prefix('#')?;
        let (key, val) = d.split_once([' ', '\t']).unwrap_or((d, ""));
        match key {
            "separator" => {
                self.separator = Some(if val.trim() == "\\x09" {
                    b'\t'
                } else {
                    val.trim().bytes().next().unwrap_or(b'\t')
                })
            }
            "unset_field" => self.unset = Some(val.to_string()),
            "empty_field" => self.empty = Some(val.to_string()),
            "path" => self.path = Some(val.to_string()),
            "fields" => {
                let delim = self.separator.unwrap_or(b'\t');
                let mut h = Header::new(
                    line["#fields".len()..]
                        .trim_start_matches(delim as char)
                        .split(delim as char)
                        .map(str::to_string)
                        .collect(),
                    delim,
                    false,
                );
                h.unset = self.unset.clone().or(Some("-".into()));
                h.empty = self.empty.clone().or(Some("(empty)".into()));
                h.zeek_path = self.path.clone();
                return Some(h);
            }
            _ => {}
        }
        None
    }
}

/// A line's text as every reader takes it (`b`: up to its line break or the end of the file):
/// without the line break and the carriage returns before it (`a\r\r\n` is `a`).
pub fn line_body(b: &[u8]) -> &[u8] {
    let keep = b
        .iter()
        .rposition(|c| *c != b'\r' && *c != b'\n')
        .map_or(0, |i| i + 1);
    b.get(..keep).unwrap_or_default()
}

/// Whether a line ([`line_body`]) is blank: nothing but whitespace, Unicode's included (as
/// `str::trim` reads it). Every reader of every format skips blank lines, the row reader and
/// the workers' blocks alike. A line that is not UTF-8 is not blank (it is a bad line).
pub fn is_blank(b: &[u8]) -> bool {
    let rest = b.trim_ascii_start();
    match rest.first() {
        None => true,
        // Nearly every line: its first byte is printable ASCII. The vertical tab is
        // whitespace to `str::trim` but not to `trim_ascii`.
        Some(c) if c.is_ascii() && *c != 0x0b => false,
        Some(_) => std::str::from_utf8(rest).is_ok_and(|t| t.trim().is_empty()),
    }
}

/// The reason given for a line over the cap.
pub fn too_long(max_line: usize) -> String {
    format!("line longer than {max_line} bytes (the --max-line cap): skipped")
}

/// A streaming source of numbered rows (1-based line numbers). Zeek directives and comments
/// are consumed into the layout; blank lines are skipped. No line is held beyond `max_line`
/// bytes: a longer one is read through to its newline and given as a bad row.
pub struct Rows {
    input: Input,
    line_no: u64,
    pub layout: Option<Layout>,
    /// The first data row, read while sniffing the layout.
    pending: Option<Row>,
    /// Lines too long to read, met before the layout was known (they cannot tell it): the
    /// caller reports them as bad lines.
    pub early_bad: Vec<(u64, String)>,
    /// Lines read ahead and given back (a multi-line CSV row that did not close): read again.
    queue: std::collections::VecDeque<Row>,
    buf: Vec<u8>,
    /// The last line read ([`Line::Text`]): checked UTF-8, its line break removed.
    text: String,
    pub bytes_read: u64,
    max_line: usize,
    zeek: ZeekMeta,
    /// Counts Zeek `#fields` headers after the first: when it changes, `layout` did.
    pub header_gen: u64,
}

impl Rows {
    /// Sniffs the layout from the first lines. `Ok(rows)` with `layout: None` means an empty file.
    pub fn new(input: Input, max_line: usize) -> Result<Rows, String> {
        let mut r = Rows::at(input, None, 0, max_line);
        let mut zeek: Option<Header> = None;
        loop {
            let Some((no, line)) = r.raw_line()? else {
                if let Some(h) = zeek {
                    r.layout = Some(Layout::Table(h));
                }
                return Ok(r);
            };
            let line = match line {
                Ok(l) => l,
                Err(e) if e == too_long(r.max_line) => {
                    r.early_bad.push((no, e));
                    continue;
                }
                Err(e) => {
                    return Err(format!("line {no}: {e} before any header or record"));
                }
            };
            let t = line.as_str();
            if is_blank(t.as_bytes()) {
                continue;
            }
            if t.starts_with('#') {
                if let Some(h) = r.zeek.directive(t) {
                    zeek = Some(h);
                }
                continue;
            }
            if let Some(h) = zeek.take() {
                r.layout = Some(Layout::Table(h));
                r.pending = Some((no, Ok(line)));
                return Ok(r);
            }
            if t.starts_with('[') {
                return Err(format!(
                    "line {no}: a JSON array; detc reads JSON lines (one object per line): convert with `jq -c '.[]'`"
                ));
            }
            if t.trim_start().starts_with('{') {
                r.layout = Some(Layout::JsonLines);
                r.pending = Some((no, Ok(line)));
                return Ok(r);
            }
            // A header line.
            let tab = t.contains('\t');
            let (delim, quoted) = if tab { (b'\t', false) } else { (b',', true) };
            let names = if quoted {
                split_csv(t.trim_start_matches('\u{feff}'), b',')
                    .map_err(|e| format!("line {no}: header: {e}"))?
            } else {
                t.split('\t').map(str::to_string).collect()
            };
            r.layout = Some(Layout::Table(Header::new(names, delim, quoted)));
            return Ok(r);
        }
    }

    /// Gives up the row view: the input positioned after the last line read, the number of
    /// lines read so far, and the Zeek directives seen (for later headers).
    pub fn into_parts(self) -> (Input, u64, ZeekMeta) {
        (self.input, self.line_no, self.zeek)
    }

    /// Rows of a `layout` table read on from line `line_no` + 1, `input` at its start: for a
    /// reader that read the lines before it another way (blocks of lines that are rows each).
    pub fn resume(input: Input, layout: Layout, line_no: u64, max_line: usize) -> Rows {
        Rows::at(input, Some(layout), line_no, max_line)
    }

    /// Rows of `input` after line `line_no`, nothing read ahead.
    fn at(input: Input, layout: Option<Layout>, line_no: u64, max_line: usize) -> Rows {
        Rows {
            input,
            line_no,
            layout,
            pending: None,
            early_bad: Vec::new(),
            queue: std::collections::VecDeque::new(),
            buf: Vec::new(),
            text: String::new(),
            bytes_read: 0,
            max_line: max_line.max(1),
            zeek: ZeekMeta::default(),
            header_gen: 0,
        }
    }

    /// Whether lines read ahead wait to be read again ([`Rows::into_parts`] would drop them).
    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty() || self.pending.is_some()
    }

    /// The next physical line, given back ones first (see [`Rows::raw_line_ref`]).
    fn raw_line(&mut self) -> Result<Option<Row>, String> {
        let r = self.raw_line_ref()?;
        Ok(r.map(|(no, l)| (no, l.map(|l| self.take(l)))))
    }

    /// A line's text as a string of its own.
    fn take(&self, l: Line) -> String {
        match l {
            Line::Text => self.text.clone(),
            Line::Owned(s) => s,
        }
    }

    /// The next physical line, given back ones first, in `self.text` unless given back. A line
    /// over `max_line` bytes is consumed to its newline in buffer-sized pieces, none kept, and
    /// given as a bad row.
    fn raw_line_ref(&mut self) -> Result<Option<LineRow>, String> {
        if let Some((no, r)) = self.queue.pop_front() {
            return Ok(Some((no, r.map(Line::Owned))));
        }
        self.buf.clear();
        let mut total = 0usize;
        let mut over = false;
        loop {
            let avail = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read error after line {}: {e}", self.line_no)),
            };
            if avail.is_empty() {
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if !over {
                if self.buf.len() + take - usize::from(done) > self.max_line {
                    over = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(&avail[..take]);
                }
            }
            self.input.consume(take);
            total += take;
            if done {
                break;
            }
        }
        if total == 0 {
            return Ok(None);
        }
        self.bytes_read += total as u64;
        self.line_no += 1;
        if over {
            return Ok(Some((self.line_no, Err(too_long(self.max_line)))));
        }
        let s = match std::str::from_utf8(&self.buf) {
            Ok(s) => {
                // A UTF-8 byte-order mark (Excel's CSV, some exporters) is not data.
                let s = if self.line_no == 1 {
                    s.trim_start_matches('\u{feff}')
                } else {
                    s
                };
                self.text.clear();
                let body = line_body(s.as_bytes());
                self.text.push_str(s.get(..body.len()).unwrap_or_default());
                Ok(Line::Text)
            }
            Err(e) => Err(format!(
                "not UTF-8 text (invalid byte at column {})",
                e.valid_up_to() + 1
            )),
        };
        Ok(Some((self.line_no, s)))
    }

    /// The next data row: (first line number, text or why the line is unreadable). A line of
    /// JSON lines that is an osquery batch or snapshot line gives its rows one by one, each at
    /// the line's number (`super::osquery`).
    pub fn next_row(&mut self) -> Result<Option<Row>, String> {
        loop {
            let row = self.next_line_row()?;
            let expanded = match (&row, &self.layout) {
                (Some((no, Ok(text))), Some(Layout::JsonLines)) => {
                    super::osquery::expand(text).map(|rows| (*no, rows))
                }
                _ => None,
            };
            let Some((no, rows)) = expanded else {
                return Ok(row);
            };
            // Given back in order, before any line not read yet; an empty batch is no row.
            for r in rows.into_iter().rev() {
                self.queue.push_front((no, r));
            }
            match self.queue.pop_front() {
                Some(r) => return Ok(Some(r)),
                None => continue,
            }
        }
    }

    /// [`Rows::next_row`], its text appended to `out` (its place there given), for a reader
    /// that batches rows: no string per row.
    pub fn next_row_into(&mut self, out: &mut String) -> Result<Option<SpanRow>, String> {
        let mut put = |t: &str| {
            let a = out.len();
            out.push_str(t);
            a..out.len()
        };
        if matches!(self.layout, Some(Layout::JsonLines)) {
            // osquery's batch and snapshot lines are several rows each.
            let r = self.next_row()?;
            return Ok(r.map(|(no, t)| (no, t.map(|t| put(&t)))));
        }
        let Some((no, line)) = self.next_line_ref()? else {
            return Ok(None);
        };
        let r = line.map(|l| match &l {
            Line::Text => put(&self.text),
            Line::Owned(s) => put(s),
        });
        Ok(Some((no, r)))
    }

    /// Rows appended to `out` and `rows` ([`Rows::next_row_into`]'s) until `rows` holds `max`
    /// or the input ends (then `Ok(false)`). The rows of a CSV table that lie whole in the
    /// read buffer, are within the line cap and open no quoted cell (nearly all) are taken
    /// from it straight: the run of them checked as UTF-8 at once and copied once. Any other
    /// line (too long, not UTF-8, a quoted cell spanning lines, the last without a line break)
    /// goes the way of [`Rows::next_row_into`], with the same rows, numbers and errors.
    pub fn next_rows_into(
        &mut self,
        out: &mut String,
        rows: &mut Vec<SpanRow>,
        max: usize,
    ) -> Result<bool, String> {
        let delim = match &self.layout {
            Some(Layout::Table(h)) if h.quoted && h.delim.is_ascii() => Some(h.delim),
            _ => None,
        };
        while rows.len() < max {
            let direct = self.pending.is_none() && self.queue.is_empty() && self.line_no >= 1;
            let taken = match delim.filter(|_| direct) {
                Some(d) => self.plain_csv_rows(d, out, rows, max)?,
                None => 0,
            };
            if taken == 0 {
                match self.next_row_into(out)? {
                    Some(r) => rows.push(r),
                    None => return Ok(false),
                }
            }
        }
        Ok(true)
    }

    /// The leading run of the read buffer's lines that are rows by themselves (see
    /// [`Rows::next_rows_into`]), up to `max` rows in all: how many bytes were taken (0: the
    /// next line needs the line-by-line reader).
    fn plain_csv_rows(
        &mut self,
        delim: u8,
        out: &mut String,
        rows: &mut Vec<SpanRow>,
        max: usize,
    ) -> Result<usize, String> {
        let avail = loop {
            match self.input.fill_buf() {
                Ok(b) => break b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read error after line {}: {e}", self.line_no)),
            }
        };
        // Whole lines only, and only their UTF-8 part (a bad line is the other reader's).
        let whole = memchr::memrchr(b'\n', avail).map_or(0, |i| i + 1);
        let text = match std::str::from_utf8(&avail[..whole]) {
            Ok(t) => t,
            Err(e) => {
                let ok = &avail[..e.valid_up_to()];
                let cut = memchr::memrchr(b'\n', ok).map_or(0, |i| i + 1);
                std::str::from_utf8(&ok[..cut]).unwrap_or_default()
            }
        };
        let mut pos = 0;
        while rows.len() < max {
            let Some(nl) = memchr::memchr(b'\n', &text.as_bytes()[pos..]).map(|i| pos + i) else {
                break;
            };
            let raw = &text[pos..nl];
            if raw.len() > self.max_line {
                break;
            }
            let t = raw
                .get(..line_body(raw.as_bytes()).len())
                .unwrap_or_default();
            if csv_open_after(t, delim, false) {
                break;
            }
            pos = nl + 1;
            self.line_no += 1;
            if is_blank(t.as_bytes()) {
                continue;
            }
            let a = out.len();
            out.push_str(t);
            rows.push((self.line_no, Ok(a..out.len())));
        }
        self.bytes_read += pos as u64;
        self.input.consume(pos);
        Ok(pos)
    }

    /// [`Rows::next_row`] before osquery's lines are expanded.
    fn next_line_row(&mut self) -> Result<Option<Row>, String> {
        let r = self.next_line_ref()?;
        Ok(r.map(|(no, l)| (no, l.map(|l| self.take(l)))))
    }

    /// [`Rows::next_line_row`], the text in `self.text` unless it is a string of its own.
    fn next_line_ref(&mut self) -> Result<Option<LineRow>, String> {
        if let Some((no, p)) = self.pending.take() {
            return Ok(Some((no, p.map(Line::Owned))));
        }
        let (quoted, zeek) = match &self.layout {
            Some(Layout::Table(h)) => (h.quoted.then_some(h.delim), !h.quoted),
            _ => (None, false),
        };
        loop {
            let Some((no, line)) = self.raw_line_ref()? else {
                return Ok(None);
            };
            let line = match line {
                Ok(l) => l,
                Err(e) => return Ok(Some((no, Err(e)))),
            };
            let text = match &line {
                Line::Text => self.text.as_str(),
                Line::Owned(s) => s.as_str(),
            };
            if is_blank(text.as_bytes()) {
                continue;
            }
            if zeek && text.starts_with('#') {
                // Zeek directives (a new `#fields` header in concatenated logs), `#close`,
                // comments. Only in a Zeek TSV: once a file reads as JSON lines or CSV, a line
                // starting with `#` is a row like any other (a bad line in JSON lines), as the
                // workers' block path reads it.
                if let Some(h) = self.zeek.directive(text) {
                    self.layout = Some(Layout::Table(h));
                    self.header_gen += 1;
                }
                continue;
            }
            if let Some(delim) = quoted {
                if csv_open_after(text, delim, false) {
                    let text = text.to_string();
                    let (no, r) = self.csv_multiline(no, text, delim)?;
                    return Ok(Some((no, r.map(Line::Owned))));
                }
            }
            return Ok(Some((no, Ok(line))));
        }
    }

    /// A CSV row whose quoted cell goes on past line `no`: joined with the following lines
    /// until the cell closes. If it does not close within [`MAX_ROW_LINES`] lines or
    /// `max_line` bytes, or the joined row does not split into the header's cells, line `no`
    /// is the bad row and the lines after it are read again as rows of their own.
    fn csv_multiline(&mut self, no: u64, mut text: String, delim: u8) -> Result<Row, String> {
        let mut taken: Vec<Row> = Vec::new();
        let mut fail = None;
        loop {
            if taken.len() + 1 >= MAX_ROW_LINES {
                fail = Some(format!(
                    "a quoted cell opened on this line is not closed within {MAX_ROW_LINES} lines"
                ));
                break;
            }
            match self.raw_line()? {
                None => {
                    fail = Some(
                        "a quoted cell opened on this line is not closed before the end of the file"
                            .to_string(),
                    );
                    break;
                }
                Some((lno, Ok(more))) => {
                    if text.len() + 1 + more.len() > self.max_line {
                        fail = Some(format!(
                            "a quoted cell opened on this line is not closed within {} bytes (the --max-line cap)",
                            self.max_line
                        ));
                        taken.push((lno, Ok(more)));
                        break;
                    }
                    let open = csv_open_after(&more, delim, true);
                    text.push('\n');
                    text.push_str(&more);
                    taken.push((lno, Ok(more)));
                    if !open {
                        break;
                    }
                }
                Some(r) => {
                    fail = Some(
                        "a quoted cell opened on this line runs into an unreadable line".into(),
                    );
                    taken.push(r);
                    break;
                }
            }
        }
        if fail.is_none() {
            if let Some(Layout::Table(h)) = &self.layout {
                if let Err(e) = split_row(&text, h) {
                    fail = Some(format!(
                        "{e} (in a row whose quoted cell spans lines {no}..{})",
                        no + taken.len() as u64
                    ));
                }
            }
        }
        match fail {
            None => Ok((no, Ok(text))),
            Some(reason) => {
                for r in taken.into_iter().rev() {
                    self.queue.push_front(r);
                }
                Ok((
                    no,
                    Err(format!("{reason}; reading resumes at the next line")),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of `data` as (line, text or error): by [`Rows::next_rows_into`] with batches
    /// of `batch` rows when `batch > 0`, else by [`Rows::next_row_into`] alone; the read
    /// buffer holds `cap` bytes.
    fn csv_rows(data: &[u8], cap: usize, max_line: usize, batch: usize) -> Vec<Row> {
        let input: Input =
            BufReader::with_capacity(cap, Box::new(std::io::Cursor::new(data.to_vec())));
        let Ok(mut rows) = Rows::new(input, max_line) else {
            return Vec::new();
        };
        let mut text = String::new();
        let mut got: Vec<SpanRow> = Vec::new();
        if batch == 0 {
            while let Ok(Some(r)) = rows.next_row_into(&mut text) {
                got.push(r);
            }
        } else {
            let mut b = Vec::new();
            while let Ok(more) = rows.next_rows_into(&mut text, &mut b, batch) {
                assert!(!more || b.len() == batch);
                got.append(&mut b);
                if !more {
                    break;
                }
            }
        }
        got.into_iter()
            .map(|(no, r)| (no, r.map(|at| text[at].to_string())))
            .collect()
    }

    /// The rows taken straight from the read buffer are the line-by-line reader's, with the
    /// same numbers and errors, whatever the buffer size (a row ending exactly at its end, a
    /// quoted cell opened in one fill and closed in the next): quoted line breaks, `""`
    /// escapes, CRLF, blank lines, a stray quote, a line that is not UTF-8 or over the cap,
    /// a last line without a line break.
    #[test]
    fn buffered_csv_rows_agree_with_the_line_reader() {
        let files: [&[u8]; 6] = [
            b"a,b,c\n1,2,3\n4,\"x\ny\",6\n7,\"say \"\"hi\"\"\",9\n\n10,11,12",
            b"a,b,c\r\n1,2,3\r\n4,\"x\r\ny\",6\r\n\r\n7,8,9\r\n",
            b"a,b,c\n1,\"unclosed,3\n4,5,6\n7,8,9\n",
            b"a,b,c\n1,2,3\n4,\xff,6\n7,8,9\n1,2,3456789012345678901234567890\n5,6,7\n",
            b"a,b,c\n1,\"a\"b,3\n4,5\n\"x\",\"\",\"\"\"\"\"\n   \n7,8,9\n",
            b"\xef\xbb\xbfa,b\n1,2\n3,\"4\n\n5\"\n6,7",
        ];
        for data in files {
            for cap in [1, 2, 3, 5, 7, 8, 13, 16, 31, 64, 1 << 16] {
                for max_line in [16, 1 << 20] {
                    let want = csv_rows(data, cap, max_line, 0);
                    assert!(!want.is_empty());
                    for batch in [1, 2, 3, 100] {
                        let got = csv_rows(data, cap, max_line, batch);
                        assert_eq!(got, want, "{data:?} cap {cap} max {max_line} batch {batch}");
                    }
                }
            }
        }
    }

    /// Emptying the values for another line keeps their allocation.
    #[test]
    fn relife_keeps_the_allocation() {
        let line = String::from("abc");
        let mut v: Vec<Option<LiteVal<'_>>> = Vec::with_capacity(16);
        v.push(Some(LiteVal::Str(&line)));
        v.push(Some(LiteVal::Text(0, 1)));
        let at = v.as_ptr() as usize;
        let w: Vec<Option<LiteVal<'static>>> = relife(v);
        assert_eq!(w.as_ptr() as usize, at);
        assert!(w.capacity() >= 16);
        assert!(w.iter().all(Option::is_none));
    }

    /// A kept value is three words and owns nothing: every line moves and clears one per key
    /// a schema reads, and clearing them is free.
    #[test]
    fn kept_values_stay_small() {
        assert!(std::mem::size_of::<Option<LiteVal<'_>>>() <= 24);
        assert!(!std::mem::needs_drop::<Option<LiteVal<'_>>>());
    }

    /// Records parsed one after another on a thread share their buffers: nothing of a line
    /// is seen in the next (a key it lacks, escaped text, a value serde_json read).
    #[test]
    fn records_reuse_buffers_without_leaking_values() {
        let keys = Keys::new(["a", "b", "c"].map(String::from).to_vec());
        let get = |r: &LiteRecord<'_>, k: &str| r.get(k).map(|v| v.text().into_owned());
        let lines = [
            r#"{"a":"C:\\x\\y","b":"two","c":3}"#,
            r#"{"b":"t\"w"}"#,
            // An escaped key: serde_json reads this line.
            r#"{"\u0061":"s","c":"c"}"#,
            r#"{"a":"plain"}"#,
        ];
        let want: [[Option<&str>; 3]; 4] = [
            [Some(r"C:\x\y"), Some("two"), Some("3")],
            [None, Some("t\"w"), None],
            [Some("s"), None, Some("c")],
            [Some("plain"), None, None],
        ];
        for _ in 0..2 {
            for (line, want) in lines.iter().zip(want) {
                let rec = LiteRecord::parse(line, &keys);
                assert!(rec.is_ok(), "{line}");
                let Ok(rec) = rec else { continue };
                let got: Vec<Option<String>> =
                    ["a", "b", "c"].iter().map(|k| get(&rec, k)).collect();
                let want: Vec<Option<String>> = want.iter().map(|w| w.map(String::from)).collect();
                assert_eq!(got, want, "{line}");
            }
        }
    }

    /// A caller's buffers lent line after line ([`LineBufs::read`], as a worker reads a
    /// chunk's lines), and made buffers of other lines in between ([`LineBufs::relife`], as
    /// between chunks), read every line as [`LiteRecord::parse`] (the thread's buffers) does:
    /// the same values by name and by number, dotted keys into nested objects, the same
    /// errors, and nothing of a line left in the next (escaped text, a nested object, a value
    /// serde_json read, a key the next line lacks, a line that failed halfway).
    #[test]
    fn lent_buffers_read_as_the_thread_s() {
        let names = ["a", "b", "c", "d", "d.e", "é"];
        let keys = Keys::new(names.map(String::from).to_vec());
        let lines = [
            r#"{"a":"C:\\x\\y","b":"two","c":3,"d":{"e":"deep"},"é":"ü"}"#,
            r#"{"b":"t\"w"}"#,
            "",
            "{}",
            // An escaped key: serde_json reads this line.
            r#"{"\u0061":"s","c":"c","d":{"e":1}}"#,
            r#"{"a":"plain","c":true,"d":null,"é":"\u00e9\ud83d\ude00"}"#,
            r#"{"a":"x","a":"y"}"#,
            r#"{"a":"x","b":"#,
            "not json",
            r#"[1,2]"#,
            r#"{"a":"","b":"ß\\","c":-1.5e3,"zz":{"a":"no"},"d":[1,{"e":2}]}"#,
            r#"{"c":18446744073709551615,"b":null}"#,
            r#"{"a":"last"}"#,
        ];
        let show = |r: &dyn Record| -> Vec<Option<String>> {
            let by_name = names
                .iter()
                .map(|k| r.get(k).map(|v| v.text().into_owned()));
            let by_no =
                (0..keys.len()).map(|i| r.at(i, keys.name(i)).map(|v| v.text().into_owned()));
            by_name.chain(by_no).collect()
        };
        let want: Vec<Result<Vec<Option<String>>, String>> = lines
            .iter()
            .map(|l| LiteRecord::parse(l, &keys).map(|r| show(&r)))
            .collect();
        assert!(want.iter().filter(|w| w.is_err()).count() >= 4);
        assert_eq!(
            want[0].as_ref().ok().and_then(|v| v[4].clone()),
            Some("deep".into())
        );
        let mut kept = LineBufs::EMPTY;
        for chunk in [1, 2, 3, lines.len()] {
            for (n, part) in lines.chunks(chunk).enumerate() {
                let text: Vec<String> = part.iter().map(|l| l.to_string()).collect();
                let mut bufs = kept.relife();
                for (i, line) in text.iter().enumerate() {
                    let got = bufs.read(line, &keys).map(|r| show(&r));
                    assert_eq!(got, want[n * chunk + i], "{line} (chunks of {chunk})");
                }
                kept = bufs.relife();
            }
        }
    }

    /// The byte-by-byte reading of [`csv_open_after`]: the reference it is tested against.
    fn csv_open_after_reference(line: &str, delim: u8, mut in_q: bool) -> bool {
        let b = line.as_bytes();
        if !in_q && memchr::memchr(b'"', b).is_none() {
            return false;
        }
        let mut at_start = !in_q;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if in_q {
                if c == b'"' {
                    if b.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    in_q = false;
                    at_start = false;
                }
            } else if c == b'"' && at_start {
                in_q = true;
                at_start = false;
            } else {
                at_start = c == delim;
            }
            i += 1;
        }
        in_q
    }

    /// Quote to quote gives the state byte by byte gives, on every line of up to 9 bytes over
    /// quote, comma and a letter, from either state.
    /// [`first_open_row`] over whole texts finds the line the line-by-line rule finds: the
    /// first within the cap, UTF-8, whose quoted cell is open at its end (its trailing `\r`s
    /// dropped, as [`Rows`] reads it). Random texts of quotes, separators, line breaks,
    /// carriage returns, letters and a byte that is not UTF-8.
    #[test]
    fn first_open_row_agrees_with_the_line_by_line_rule() {
        let reference = |b: &[u8], max_line: usize| {
            let mut start = 0;
            for line in b.split_inclusive(|c| *c == b'\n') {
                let raw = line.strip_suffix(b"\n").unwrap_or(line);
                let opens = match std::str::from_utf8(raw) {
                    Ok(t) if raw.len() <= max_line => {
                        csv_open_after(t.trim_end_matches(['\r', '\n']), b',', false)
                    }
                    _ => false,
                };
                if opens {
                    return Some(start);
                }
                start += line.len();
            }
            None
        };
        let alphabet: &[u8] = b"\"\"\",,,\n\n\raab \xff";
        let mut next = super::super::test_random(0x2545_f491_4f6c_dd1d);
        let mut found = 0;
        for _ in 0..200_000 {
            let len = next(40);
            let b: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            let max_line = [3, 8, 1000][next(3)];
            let want = reference(&b, max_line);
            assert_eq!(
                first_open_row(&b, b',', max_line),
                want,
                "{:?} cap {max_line}",
                String::from_utf8_lossy(&b)
            );
            found += usize::from(want.is_some());
        }
        assert!(found > 10_000, "{found}");
    }

    /// [`csv_block`] finds the row [`first_open_row`] finds, and counts the lines before it
    /// (or all of them) as the reader's line count does, on texts that cross its 64-byte
    /// chunks: quotes, `""`, separators, line breaks and a byte that is not UTF-8.
    #[test]
    fn csv_block_agrees_with_first_open_row_and_the_line_count() {
        let lines = |b: &[u8]| {
            b.iter().filter(|&&c| c == b'\n').count() as u64
                + u64::from(b.last().is_some_and(|c| *c != b'\n'))
        };
        let alphabets: [&[u8]; 2] = [b"\"\",,\n\raaaaab \xff", b"aaaaaaaaaa,,,,\"\n"];
        let mut next = super::super::test_random(0x9e37_79b9_7f4a_7c15);
        let mut found = 0;
        for _ in 0..40_000 {
            let alphabet = alphabets[next(2)];
            let len = next(300);
            let b: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            let max_line = [3, 40, 1000][next(3)];
            let want = first_open_row(&b, b',', max_line);
            let counted = lines(b.get(..want.unwrap_or(b.len())).unwrap_or_default());
            assert_eq!(
                csv_block(&b, b',', max_line),
                (want, counted),
                "{:?} cap {max_line}",
                String::from_utf8_lossy(&b)
            );
            found += usize::from(want.is_some());
        }
        assert!(found > 4_000, "{found}");
    }

    #[test]
    fn csv_open_after_agrees_with_the_reference() {
        let mut frontier = vec![String::new()];
        for _ in 0..9 {
            let mut next = Vec::new();
            for l in &frontier {
                for c in ['"', ',', 'a'] {
                    let m = format!("{l}{c}");
                    for open in [false, true] {
                        assert_eq!(
                            csv_open_after(&m, b',', open),
                            csv_open_after_reference(&m, b',', open),
                            "{m:?} {open}"
                        );
                    }
                    next.push(m);
                }
            }
            frontier = next;
        }
    }

    /// A reused vector keeps its allocation (the point of [`reuse`]).
    #[test]
    fn reuse_keeps_the_allocation() {
        let text = String::from("a\tb");
        let mut v: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(24);
        v.push(Some(Cow::Borrowed(&text[..1])));
        let (ptr, cap) = (v.as_ptr() as usize, v.capacity());
        let w: Vec<Option<Cow<'static, str>>> = reuse(v);
        assert_eq!((w.as_ptr() as usize, w.capacity(), w.len()), (ptr, cap, 0));
    }

    /// The cells of a Zeek row are those `split` gives, cut after every column (the rest
    /// counted), on every line of up to 10 bytes over the separator, a letter and a multi-byte
    /// letter, and a line of many cells; [`find_byte`] finds what a search finds.
    #[test]
    fn plain_cells_agree_with_split() {
        let alphabet = ["\t", "a", "é"];
        let mut frontier = vec![String::new()];
        let mut lines = vec![String::new()];
        for _ in 0..10 {
            let mut next = Vec::new();
            for l in &frontier {
                for c in alphabet {
                    next.push(format!("{l}{c}"));
                }
            }
            lines.extend(next.iter().cloned());
            frontier = next;
        }
        lines.push("a\tb".repeat(40));
        for line in &lines {
            for d in [b'\t', b'a'] {
                let want = line.bytes().position(|c| c == d);
                assert_eq!(find_byte(line.as_bytes(), d), want, "{line:?}");
            }
            let width = line.split('\t').count();
            let want = |_: &Header| Ok(line.split('\t').map(String::from).collect());
            assert_kept_cells(line, b'\t', false, width, true, want);
        }
    }

    /// The cells of a CSV row and its errors are the reference splitter's, cut after every
    /// column (the rest counted), on every line of up to 7 characters over quote, comma, a
    /// letter and a multi-byte letter; and with the quote itself as the separator (a Zeek row
    /// with the backslash as its separator: `kept_cells_agree_with_the_reference_splitter`).
    #[test]
    fn csv_cells_agree_with_the_reference_splitter() {
        let alphabet = ['"', ',', 'a', 'é'];
        let mut lines = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..7 {
            let mut next = Vec::new();
            for l in &frontier {
                for c in alphabet {
                    let mut m = l.clone();
                    m.push(c);
                    next.push(m);
                }
            }
            lines.extend(next.iter().cloned());
            frontier = next;
        }
        for line in &lines {
            for d in [b',', b'"'] {
                let want = split_csv(line, d);
                let width = want.as_ref().map_or(4, Vec::len);
                assert_kept_cells(line, d, true, width, true, |_| want.clone());
            }
        }
    }

    /// [`TableRecord::parse_in`]'s cells agree with the reference splitter's on rows longer than
    /// a word and than a chunk of the row's index, where separators, quotes and `""` fall on
    /// both sides of word and chunk edges:
    /// pseudo-random rows of up to 40 characters (quote-heavy), and edge rows (quoted
    /// separators, doubled quotes, empty cells, a trailing separator, CR, non-ASCII, a quoted
    /// line break, Defender-like rows).
    #[test]
    fn csv_cells_agree_with_the_reference_splitter_on_long_rows() {
        let alphabet = ['"', ',', 'a', '\u{e9}', '\r', '\n', ' ', '\t'];
        let mut lines: Vec<String> = [
            "",
            ",",
            ",,,",
            "a,b,",
            "\"a,b\",c",
            "\"a\"\"b\",\"\"",
            "\"\"\"\"\"\",x",
            "a\"b,\"c\"d",
            "x,\"unterminated,y",
            "\"line\nbreak\",z\r",
            "\u{e9}\u{e9},\"\u{e9}\"\"\u{e9}\",\u{e9}",
            "2026-11-20T00:00:00.5570936Z,d01695,ws01695.corp.example.com,ConnectionSuccess,\
             52.219.237.15,53,,10.6.159.54,58769,Tcp,Teams.exe,c:\\apps\\Teams.exe,\
             \"Teams.exe --to \"\"ops@example.com, it@example.com\"\"\",corp,user1695,explorer.exe",
            "2026-11-20T02:11:39.5625793Z,d03378,ws03378.corp.example.com,ConnectionSuccess,\
             151.192.114.249,3389,,10.13.50.94,57540,Tcp,,c:\\apps\\,\" --to \"\"a, b\"\"\",corp,\
             user0378,explorer.exe",
        ]
        .map(String::from)
        .to_vec();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Past two 64-byte chunks of the row's index (see [`RowMasks`]).
            let len = (seed % 161) as usize;
            let mut r = seed;
            let line: String = (0..len)
                .map(|i| {
                    r = r.rotate_left(7) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    // Letters, separators and quotes in about equal shares.
                    match r % 6 {
                        0 | 1 => 'a',
                        2 => ',',
                        3 => '"',
                        _ => alphabet[(r >> 8) as usize % alphabet.len()],
                    }
                })
                .collect();
            lines.push(line);
        }
        for line in &lines {
            let want = split_csv(line, b',');
            // A table of as many columns as the reference finds (or 16), keeping every other
            // column or the last two: the kept cells, or the same error.
            let width = want.as_ref().map_or(16, Vec::len);
            assert_kept_cells(line, b',', true, width, false, |_| want.clone());
            // The same row as Zeek TSV (tabs for commas, `\x41` for quotes): the kept cells,
            // unescaped.
            let tsv_line = line.replace(',', "\t").replace('"', "\\x41");
            let width = tsv_line.split('\t').count();
            assert_kept_cells(&tsv_line, b'\t', false, width, false, |h| {
                split_row(&tsv_line, h)
            });
        }
    }

    /// The cells [`TableRecord::parse_in`] keeps of `line` as a row of `width` columns split at
    /// `delim` (`quoted`: CSV, else Zeek TSV), keeping every other column or the last two (and
    /// with `singles` each column alone), are those of the reference splitter (`reference`,
    /// given the header), or its error.
    fn assert_kept_cells(
        line: &str,
        delim: u8,
        quoted: bool,
        width: usize,
        singles: bool,
        reference: impl Fn(&Header) -> Result<Vec<String>, String>,
    ) {
        let names: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
        let keys = Keys::new(names.clone());
        let h = Header::new(names, delim, quoted);
        let want = reference(&h);
        let mut keeps: Vec<Box<dyn Fn(usize) -> bool>> =
            vec![Box::new(|c| c % 2 == 1), Box::new(move |c| c + 2 >= width)];
        if singles {
            keeps.extend(
                (0..width).map(|one| Box::new(move |c| c == one) as Box<dyn Fn(usize) -> bool>),
            );
        }
        for keep in &keeps {
            let cols = trim_unread(
                columns(&h, &keys)
                    .into_iter()
                    .enumerate()
                    .map(|(c, k)| k.filter(|_| keep(c)))
                    .collect(),
            );
            let mut buf = TableBuf::new();
            let got = TableRecord::parse_in(line, &h, &keys, &cols, &mut buf).map(|r| {
                (0..width)
                    .map(|c| keys.find(&format!("c{c}")).and_then(|k| r.cell(k)))
                    .map(|c| c.map(String::from))
                    .collect::<Vec<_>>()
            });
            let want = want.clone().map(|w| {
                w.into_iter()
                    .enumerate()
                    .map(|(c, t)| keep(c).then_some(t))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, want, "{line:?}");
        }
    }

    /// Every text over `alphabet` of up to `len` characters.
    fn texts(alphabet: &[char], len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..len {
            let mut next = Vec::new();
            for l in &frontier {
                for c in alphabet {
                    next.push(format!("{l}{c}"));
                }
            }
            all.extend(next.iter().cloned());
            frontier = next;
        }
        all
    }

    /// A table row split keeping any set of columns gives the kept cells and the errors of the
    /// reference splitter ([`split_row`]): CSV (quoted cells before, at and after the last kept
    /// column, `""`, a quote inside a cell, `"a"b`, unterminated quotes) and Zeek TSV (`\xHH`
    /// escapes), rows of too few and too many cells.
    #[test]
    fn kept_cells_agree_with_the_reference_splitter() {
        let names: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
        let keys = Keys::new(names.clone());
        let csv = Header::new(names.clone(), b',', true);
        let tsv = Header::new(names.clone(), b'\t', false);
        // The backslash as a Zeek row's separator (also the byte whose escapes are undone).
        let slash = Header::new(names.clone(), b'\\', false);
        let cases = [
            (&csv, texts(&['"', ',', 'a', '\u{e9}'], 7)),
            (&tsv, texts(&['\t', 'a', '\\', 'x', '4'], 6)),
            (&slash, texts(&['\t', 'a', '\\', 'x', '4'], 6)),
        ];
        for (h, lines) in cases {
            for mask in 0u32..16 {
                let cols = trim_unread(
                    columns(h, &keys)
                        .into_iter()
                        .enumerate()
                        .map(|(i, c)| c.filter(|_| mask & (1 << i) != 0))
                        .collect(),
                );
                for line in &lines {
                    let want = split_row(line, h).map(|cells| {
                        (0..4)
                            .map(|k| {
                                let kept = mask & (1 << k) != 0;
                                kept.then(|| cells[k].clone())
                            })
                            .collect::<Vec<_>>()
                    });
                    let mut buf = TableBuf::new();
                    let got = TableRecord::parse_in(line, h, &keys, &cols, &mut buf).map(|r| {
                        (0..4)
                            .map(|k| r.cell(k).map(String::from))
                            .collect::<Vec<_>>()
                    });
                    assert_eq!(got, want, "{line:?} mask {mask:04b} quoted {}", h.quoted);
                }
            }
        }
    }

    /// The blank-line rule is `str::trim`'s whitespace, whatever the bytes: ASCII spaces, the
    /// vertical tab, Unicode spaces, and bytes that are not UTF-8 (never blank); a line's body
    /// drops every `\r` before its break.
    #[test]
    fn blank_lines_are_whitespace_as_str_trim_reads_it() {
        let mut lines: Vec<Vec<u8>> =
            texts(&[' ', '\t', '\u{b}', '\u{3000}', '\u{a0}', 'a', '\r'], 4)
                .into_iter()
                .map(String::into_bytes)
                .collect();
        lines.extend([
            b"\xff".to_vec(),
            b" \xe3\x80".to_vec(),
            b"\x0c\x1c".to_vec(),
        ]);
        for b in &lines {
            let want = std::str::from_utf8(b).is_ok_and(|t| t.trim().is_empty());
            assert_eq!(is_blank(b), want, "{b:?}");
            let mut raw = b.clone();
            raw.extend(b"\r\r\n");
            let text = String::from_utf8_lossy(&raw).into_owned();
            let body = String::from_utf8_lossy(line_body(&raw)).into_owned();
            assert_eq!(body, text.trim_end_matches(['\r', '\n']), "{b:?}");
        }
    }
}
