//! The alerts of a run, in bounded memory whatever a pack matches (issue 15, point 3).
//!
//! Alerts arrive in any order (workers flush the alerts of rules without aggregation as they
//! go; the reader adds released windows; the end adds the rest). They are held in a buffer of
//! at most [`AlertSink::new`]'s `cap` alerts and [`DEFAULT_ALERT_BYTES`]; a full buffer is
//! sorted and written to a temporary file as one *run*, on a thread of its own while the next
//! buffer fills (so at most two buffers are held). At the end the buffer and the runs are
//! merged k-way into the output.
//!
//! The order is [`super::alert_order`]: rule id, window start, group keys, aggregates, events.
//! Two alerts equal under it have the same rule and the same values, so they print the same:
//! the output is the same byte for byte whether or not anything was spilled, whatever the
//! arrival order. At most [`FAN_IN`] runs are kept; more are merged into one first, so the
//! merge holds one alert per run and a bounded number of open files.

use super::ops::ValRef;
use super::Alert;
use crate::ir::{Level, Value};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Default buffer: alerts held in memory before a sorted run is written (a few hundred bytes
/// each, more for rules without aggregation, which carry the whole event).
pub const DEFAULT_ALERT_BUFFER: usize = 1 << 16;

/// Encoded bytes held in memory before a sorted run is written, whatever the number of alerts:
/// alerts that carry a whole event (rules without aggregation) are a kilobyte each, and the
/// buffer's growth by doubling made 65,536 aggregate alerts take 16 MiB (issue 15: a fifth of
/// the unselective benchmark row's memory). 6 MiB keeps the buffer's capacity within 8 MiB;
/// the sink holds at most two (one being written as a run, see [`AlertSink::spill`]).
pub const DEFAULT_ALERT_BYTES: usize = 6 << 20;

/// Most runs kept before they are merged into one.
pub const FAN_IN: usize = 32;

/// Bytes read from a run's file at a time (see [`RunReader::open`]).
const RUN_READ: usize = 64 << 10;

/// What every alert of one rule repeats: shared by the rule's held alerts (one `Arc` clone per
/// alert instead of a copy of each string), written in full to a run.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertMeta {
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Level,
    pub techniques: Vec<String>,
    pub analytics: Vec<String>,
}

/// An alert as the sink holds it and writes it to a run: every value with its type (the
/// output's plain JSON would lose the difference between a string and an enum symbol), the
/// rule's metadata shared, and the group and aggregates as vectors in key order, not maps: a map
/// of one or two entries allocates a node for eleven, about 1.4 KB per alert, which made the
/// buffer most of a run's memory (issue 15: 96 of 204 MiB on the unselective benchmark row).
/// Rules build these directly (as they match, or at [`super::engine::CompiledRule::release`]), with no
/// [`Alert`] and its maps in between.
#[derive(Debug, Clone)]
pub struct Held {
    pub meta: Arc<AlertMeta>,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// In key order (as the alert's map iterates).
    pub group: Vec<(String, Value)>,
    /// In key order.
    pub aggregates: Vec<(String, Value)>,
    pub events: u64,
}

impl From<Alert> for Held {
    fn from(a: Alert) -> Held {
        Held {
            meta: Arc::new(AlertMeta {
                rule_id: a.rule_id,
                rule_name: a.rule_name,
                severity: a.severity,
                techniques: a.techniques,
                analytics: a.analytics,
            }),
            window_start: a.window_start,
            window_end: a.window_end,
            group: a.group.into_iter().collect(),
            aggregates: a.aggregates.into_iter().collect(),
            events: a.events,
        }
    }
}

impl From<Held> for Alert {
    fn from(a: Held) -> Alert {
        let meta = Arc::try_unwrap(a.meta).unwrap_or_else(|m| (*m).clone());
        Alert {
            rule_id: meta.rule_id,
            rule_name: meta.rule_name,
            severity: meta.severity,
            techniques: meta.techniques,
            analytics: meta.analytics,
            window_start: a.window_start,
            window_end: a.window_end,
            group: a.group.into_iter().collect(),
            aggregates: a.aggregates.into_iter().collect(),
            events: a.events,
        }
    }
}

/// An alert borrowed from where it is made (a released window's group): encoded into a batch
/// or the sink as a [`Held`] of the same content would be, without the held alert's own
/// strings and vectors (issue 15, row (f): ~9 allocations per alert in `window_alerts`, its
/// names and window bounds copied per alert, then freed once encoded, were 5% of the row's
/// instructions on 100,000 lines, most of them on the thread that merges and releases).
#[derive(Debug, Clone, Copy)]
pub struct AlertRef<'a> {
    pub meta: &'a Arc<AlertMeta>,
    pub window_start: Option<&'a str>,
    pub window_end: Option<&'a str>,
    /// In key order, as [`Held::group`].
    pub group: &'a [(&'a str, ValRef<'a>)],
    /// In key order.
    pub aggregates: &'a [(&'a str, ValRef<'a>)],
    pub events: u64,
}

impl AlertRef<'_> {
    /// The alert as held (owned).
    pub fn to_held(&self) -> Held {
        let owned = |xs: &[(&str, ValRef<'_>)]| {
            xs.iter()
                .map(|(k, v)| ((*k).to_string(), v.to_value()))
                .collect()
        };
        Held {
            meta: self.meta.clone(),
            window_start: self.window_start.map(String::from),
            window_end: self.window_end.map(String::from),
            group: owned(self.group),
            aggregates: owned(self.aggregates),
            events: self.events,
        }
    }
}

/// Held alerts are kept encoded, back to back in one buffer: a *key* whose bytes compare (as
/// byte strings) exactly as [`super::alert_order`] compares the alerts (rule id, window start,
/// group, aggregates, events), then the number of the rule's [`AlertMeta`] in the sink's table
/// and the window end. One alert is one slice (about 200 bytes on the benchmark where the typed
/// structure took 760 in a dozen allocations), sorting compares slices, and a run on disk is the
/// same bytes. Encoding, per part: a string is its bytes with 0 written as `0 255`, then `0 0`
/// (so that a prefix sorts first); an integer is 8 bytes big-endian with the sign bit flipped; a
/// value is its variant's number ([`Value`]'s declared order, as its derived order) then its
/// content; an optional string is `0`, or `1` and the string; a map is each entry as `1`, key,
/// value, then `0` (a shorter map that is a prefix sorts first).
mod enc {
    use crate::eval::ops::ValRef;
    use crate::ir::Value;
    use std::net::IpAddr;

    /// Strings of at most this many bytes take [`str`]'s short path.
    pub const SHORT: usize = 64;

    pub fn str(out: &mut Vec<u8>, s: &str) {
        let b = s.as_bytes();
        // A short string (a rule id, a window's time, a name, a host: every string of an
        // aggregate's alert) is checked for a 0 byte eight bytes at a time and copied with
        // its end in one reserved step, not through a `memchr` call and two growing copies
        // (row (f), 1M lines: 545,046 strings, 128 instructions each).
        if b.len() <= SHORT && !has_zero(b) {
            out.reserve(b.len() + 2);
            out.extend_from_slice(b);
            out.extend_from_slice(&[0, 0]);
            return;
        }
        // Text rarely holds a 0 byte: the runs between them are copied whole, not byte by
        // byte (an alert of a rule without aggregation carries a whole event's strings).
        let mut rest = b;
        while let Some(i) = memchr::memchr(0, rest) {
            let (run, after) = rest.split_at(i + 1);
            out.extend_from_slice(run);
            out.push(255);
            rest = after;
        }
        out.extend_from_slice(rest);
        out.extend_from_slice(&[0, 0]);
    }

    const LOW: u64 = u64::from_le_bytes([1; 8]);
    pub const HIGH: u64 = u64::from_le_bytes([0x80; 8]);

    /// The top bit of each byte of `w` that is 0, or that is above (later than) one: a byte
    /// less one borrows into its top bit only at a 0 byte, so the lowest bit set is the first
    /// 0 byte's, and none is set when there is none.
    pub fn zeros(w: u64) -> u64 {
        w.wrapping_sub(LOW) & !w & HIGH
    }

    /// The whole 8-byte words of `b`, each as a number (little-endian).
    fn words(b: &[u8]) -> impl Iterator<Item = u64> + '_ {
        b.chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([1; 8])))
    }

    /// Whether `hit` finds something in a word of `b`: its whole words, then its last 8 bytes
    /// (overlapping the words before); under 8 bytes, one word padded with `pad`.
    pub fn any_word(b: &[u8], pad: u8, hit: impl Fn(u64) -> u64) -> bool {
        let word = |w: &[u8; 8]| hit(u64::from_le_bytes(*w));
        let Some((_, last)) = b.split_last_chunk::<8>() else {
            let mut w = [pad; 8];
            for (d, &c) in w.iter_mut().zip(b) {
                *d = c;
            }
            return word(&w) != 0;
        };
        words(b).fold(word(last), |any, w| any | hit(w)) != 0
    }

    /// Whether `b` holds a 0 byte (see [`zeros`]).
    pub fn has_zero(b: &[u8]) -> bool {
        any_word(b, 1, zeros)
    }

    /// Where the first 0 byte of `b` is: by words over its first 64 bytes (an encoded
    /// string's end is seldom further: a `memchr` call per string was most of decoding a
    /// short one), then by `memchr`.
    pub fn find_zero(b: &[u8]) -> Option<usize> {
        let n = b.len() / 8;
        for (i, w) in words(b).take(8).enumerate() {
            let z = zeros(w);
            if z != 0 {
                return Some(i * 8 + (z.trailing_zeros() / 8) as usize);
            }
        }
        let from = n.min(8) * 8;
        // Under 8 bytes after the words: the last 8, overlapping the words (none of which
        // held a 0 byte), when there are 8.
        if n < 8 {
            if let Some((_, last)) = b.split_last_chunk::<8>() {
                let z = zeros(u64::from_le_bytes(*last));
                return (z != 0).then(|| b.len() - 8 + (z.trailing_zeros() / 8) as usize);
            }
        }
        memchr::memchr(0, b.get(from..)?).map(|i| from + i)
    }

    pub fn int(out: &mut Vec<u8>, i: i64) {
        out.extend_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes());
    }

    pub fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                str(out, s);
            }
        }
    }

    pub fn value(out: &mut Vec<u8>, v: ValRef<'_>) {
        match v {
            ValRef::Str(s) => {
                out.push(0);
                str(out, s);
            }
            ValRef::Int(i) => {
                out.push(1);
                int(out, i);
            }
            ValRef::Ip(IpAddr::V4(a)) => {
                out.extend_from_slice(&[2, 0]);
                out.extend_from_slice(&a.octets());
            }
            ValRef::Ip(IpAddr::V6(a)) => {
                out.extend_from_slice(&[2, 1]);
                out.extend_from_slice(&a.octets());
            }
            ValRef::Enum(s) => {
                out.push(3);
                str(out, s);
            }
            ValRef::Timestamp(t) => {
                out.push(4);
                int(out, t);
            }
        }
    }

    pub fn entries<'a>(out: &mut Vec<u8>, xs: impl IntoIterator<Item = (&'a str, ValRef<'a>)>) {
        for (k, v) in xs {
            out.push(1);
            str(out, k);
            value(out, v);
        }
        out.push(0);
    }

    /// Reads back what the functions above wrote (`None`: not such an encoding, which only a
    /// damaged temporary file could hold).
    pub struct Dec<'a>(pub &'a [u8]);

    impl<'a> Dec<'a> {
        pub fn byte(&mut self) -> Option<u8> {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            Some(b)
        }

        pub fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
            let (head, rest) = self.0.split_first_chunk::<N>()?;
            self.0 = rest;
            Some(*head)
        }

        pub fn str(&mut self) -> Option<String> {
            let mut out = Vec::new();
            loop {
                match self.byte()? {
                    0 => match self.byte()? {
                        0 => return String::from_utf8(out).ok(),
                        255 => out.push(0),
                        _ => return None,
                    },
                    b => out.push(b),
                }
            }
        }

        pub fn int(&mut self) -> Option<i64> {
            Some((u64::from_be_bytes(self.take::<8>()?) ^ (1 << 63)) as i64)
        }

        pub fn u64(&mut self) -> Option<u64> {
            Some(u64::from_be_bytes(self.take::<8>()?))
        }

        pub fn u32(&mut self) -> Option<u32> {
            Some(u32::from_be_bytes(self.take::<4>()?))
        }

        pub fn opt_str(&mut self) -> Option<Option<String>> {
            match self.byte()? {
                0 => Some(None),
                1 => Some(Some(self.str()?)),
                _ => None,
            }
        }

        pub fn value(&mut self) -> Option<Value> {
            Some(match self.byte()? {
                0 => Value::Str(self.str()?),
                1 => Value::Int(self.int()?),
                2 => match self.byte()? {
                    0 => Value::Ip(IpAddr::from(self.take::<4>()?)),
                    1 => Value::Ip(IpAddr::from(self.take::<16>()?)),
                    _ => return None,
                },
                3 => Value::Enum(self.str()?),
                4 => Value::Timestamp(self.int()?),
                _ => return None,
            })
        }

        /// Past a string, unread: the bytes up to its `0 0` (a `0 255` is a 0 byte in it), with
        /// no UTF-8 check. The fields a JSON line writes later are skipped first to find
        /// where they start, and their text is checked once, as it is written.
        pub fn skip_str(&mut self) -> Option<()> {
            loop {
                let at = find_zero(self.0)?;
                let after = self.0.get(at + 1..)?;
                let (&b, rest) = after.split_first()?;
                self.0 = rest;
                match b {
                    0 => return Some(()),
                    255 => {}
                    _ => return None,
                }
            }
        }

        /// A string's bytes as they were written: borrowed from the encoding, not checked for
        /// UTF-8 (their writer, [`super::json_str`], checks what is not ASCII), unless it held
        /// a 0 byte (then decoded, and checked).
        pub fn str_bytes(&mut self) -> Option<std::borrow::Cow<'a, [u8]>> {
            let at = find_zero(self.0)?;
            let (head, rest) = self.0.split_at(at);
            if rest.get(1) == Some(&0) {
                self.0 = rest.get(2..)?;
                return Some(std::borrow::Cow::Borrowed(head));
            }
            self.str().map(|s| std::borrow::Cow::Owned(s.into_bytes()))
        }

        pub fn opt_str_bytes(&mut self) -> Option<Option<std::borrow::Cow<'a, [u8]>>> {
            match self.byte()? {
                0 => Some(None),
                1 => Some(Some(self.str_bytes()?)),
                _ => None,
            }
        }

        pub fn entries(&mut self) -> Option<std::collections::BTreeMap<String, Value>> {
            let mut m = std::collections::BTreeMap::new();
            loop {
                match self.byte()? {
                    0 => return Some(m),
                    1 => {
                        let k = self.str()?;
                        m.insert(k, self.value()?);
                    }
                    _ => return None,
                }
            }
        }
    }
}

/// One encoded alert: its key (see [`enc`]) and the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rec {
    bytes: Vec<u8>,
    key_len: usize,
}

impl Rec {
    fn key(&self) -> &[u8] {
        self.bytes.get(..self.key_len).unwrap_or(&self.bytes)
    }
}

/// `to`'s number (as an encoding holds it) of `from`'s number `m`, looked up the first time
/// it is asked for (`numbers`: one slot per entry of `from`). A worker's batch knows every rule
/// it ever held an alert of (a thousand in a generated pack), and looking each one up at every
/// copy, by id and then field by field, was 1.7% of that pack's run.
fn renumbered(
    numbers: &mut [Option<[u8; 4]>],
    to: &mut Metas,
    from: &[Arc<AlertMeta>],
    m: u32,
) -> Option<[u8; 4]> {
    let slot = numbers.get_mut(m as usize)?;
    if slot.is_none() {
        *slot = Some(to.number(from.get(m as usize)?).to_be_bytes());
    }
    *slot
}

/// The rules' metadata by number, as held alerts refer to it (each distinct one once).
#[derive(Debug, Default, Clone)]
struct Metas {
    all: Vec<Arc<AlertMeta>>,
    /// Numbers by rule id (one, unless rules share an id), so that a pack of many rules finds
    /// an alert's metadata without a scan; empty while `all` holds at most [`SMALL_METAS`].
    by_id: std::collections::HashMap<String, Vec<u32>>,
}

impl Metas {
    /// The number of `m`: the same `Arc` as the last alert's (the common case), or an equal one.
    fn number(&mut self, m: &Arc<AlertMeta>) -> u32 {
        let last = self.all.len().checked_sub(1);
        if let Some(i) = last.filter(|&i| self.all.get(i).is_some_and(|x| Arc::ptr_eq(x, m))) {
            return u32::try_from(i).unwrap_or(u32::MAX);
        }
        let same = |x: &Arc<AlertMeta>| Arc::ptr_eq(x, m) || **x == **m;
        let found = if self.by_id.is_empty() {
            self.all.iter().position(same)
        } else {
            self.by_id.get(&m.rule_id).and_then(|at| {
                at.iter()
                    .map(|&i| i as usize)
                    .find(|&i| self.all.get(i).is_some_and(same))
            })
        };
        if let Some(i) = found {
            return u32::try_from(i).unwrap_or(u32::MAX);
        }
        let i = u32::try_from(self.all.len()).unwrap_or(u32::MAX);
        self.all.push(m.clone());
        // Looked up by id past a few (a worker's batch over a pack of a thousand rules); a
        // rule's own state holds one, made anew at every release point, and its index by id
        // was a string and a map allocated each time (issue 15, row (h)).
        if self.all.len() > SMALL_METAS {
            if self.by_id.is_empty() {
                for (j, x) in self.all.iter().enumerate() {
                    let j = u32::try_from(j).unwrap_or(u32::MAX);
                    self.by_id.entry(x.rule_id.clone()).or_default().push(j);
                }
            } else {
                self.by_id.entry(m.rule_id.clone()).or_default().push(i);
            }
        }
        i
    }
}

/// Metadata a [`Metas`] looks up one by one before it keeps an index by id.
const SMALL_METAS: usize = 8;

/// Appends the encoding of `a` to `out`; returns its key's length.
fn encode(a: &Held, meta: u32, out: &mut Vec<u8>) -> usize {
    encode_parts(
        Parts {
            meta: &a.meta,
            window_start: a.window_start.as_deref(),
            window_end: a.window_end.as_deref(),
            events: a.events,
        },
        a.group.iter().map(|(k, v)| (k.as_str(), ValRef::of(v))),
        a.aggregates
            .iter()
            .map(|(k, v)| (k.as_str(), ValRef::of(v))),
        meta,
        out,
    )
}

/// [`encode`] of a borrowed alert (the same bytes as its [`AlertRef::to_held`]'s).
fn encode_ref(a: &AlertRef<'_>, meta: u32, out: &mut Vec<u8>) -> usize {
    encode_parts(
        Parts {
            meta: a.meta,
            window_start: a.window_start,
            window_end: a.window_end,
            events: a.events,
        },
        a.group.iter().copied(),
        a.aggregates.iter().copied(),
        meta,
        out,
    )
}

/// An alert's parts other than its entries, for [`encode_parts`].
struct Parts<'a> {
    meta: &'a AlertMeta,
    window_start: Option<&'a str>,
    window_end: Option<&'a str>,
    events: u64,
}

/// The one encoder behind [`encode`] and [`encode_ref`]: an alert's parts and its group's and
/// aggregates' entries (each in key order).
fn encode_parts<'a>(
    a: Parts<'_>,
    group: impl Iterator<Item = (&'a str, ValRef<'a>)>,
    aggregates: impl Iterator<Item = (&'a str, ValRef<'a>)>,
    meta: u32,
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    enc::str(out, &a.meta.rule_id);
    enc::opt_str(out, a.window_start);
    enc::entries(out, group);
    enc::entries(out, aggregates);
    out.extend_from_slice(&a.events.to_be_bytes());
    let key_len = out.len() - start;
    out.extend_from_slice(&meta.to_be_bytes());
    enc::opt_str(out, a.window_end);
    key_len
}

/// The alert encoded in `b` (`None`: not an encoding [`encode`] wrote).
fn decode(b: &[u8], metas: &[Arc<AlertMeta>]) -> Option<Alert> {
    let mut d = enc::Dec(b);
    let _rule_id = d.str()?;
    let window_start = d.opt_str()?;
    let group = d.entries()?;
    let aggregates = d.entries()?;
    let events = d.u64()?;
    let meta = metas.get(usize::try_from(d.u32()?).ok()?)?;
    let window_end = d.opt_str()?;
    if !d.0.is_empty() {
        return None;
    }
    Some(Alert {
        rule_id: meta.rule_id.clone(),
        rule_name: meta.rule_name.clone(),
        severity: meta.severity,
        techniques: meta.techniques.clone(),
        analytics: meta.analytics.clone(),
        window_start,
        window_end,
        group,
        aggregates,
        events,
    })
}

/// The JSON line of an encoded alert, written without decoding it into an [`Alert`] (maps,
/// strings): the end of a run that prints many alerts spent most of its serial time building and
/// dropping those (issue 15, point 3). The text is the one `serde_json` writes for the decoded
/// alert, byte for byte (`json_lines_are_serde_json_of_the_decoded_alerts`).
#[derive(Default, Clone)]
pub struct JsonWriter {
    /// By metadata number: the alert's opening up to its `analytics`, as serde_json writes it.
    heads: Vec<Option<Vec<u8>>>,
    /// The last alert's window as encoded (its start's and end's bytes, back to back, and
    /// where the end's start) and as written, up to its group's `{`: alerts come in order, so
    /// a window's alerts come one after the other, and its text is written once.
    window: (Vec<u8>, usize),
    window_text: Vec<u8>,
    /// The group's and the aggregates' text, written as they are read (the window's end is
    /// read after them and written before them).
    maps: Vec<u8>,
}

/// The fields of [`Alert`] before its window, in its order: serialized once per rule.
#[derive(serde::Serialize)]
struct Head<'a> {
    rule_id: &'a str,
    rule_name: &'a str,
    severity: Level,
    techniques: &'a [String],
    analytics: &'a [String],
}

impl JsonWriter {
    /// Appends the alert encoded in `b` and a newline to `out`; `None` (and `out` as it was)
    /// when `b` is not an encoding [`encode`] wrote, or holds a map whose keys are not in the
    /// order its decoded map iterates (which `encode`'s callers never write).
    fn write(&mut self, b: &[u8], metas: &[Arc<AlertMeta>], out: &mut Vec<u8>) -> Option<()> {
        let len = out.len();
        let r = self.write_at(b, metas, out);
        if r.is_none() {
            out.truncate(len);
        }
        r
    }

    fn write_at(&mut self, b: &[u8], metas: &[Arc<AlertMeta>], out: &mut Vec<u8>) -> Option<()> {
        let mut maps = std::mem::take(&mut self.maps);
        maps.clear();
        let r = self.write_with(b, metas, out, &mut maps);
        self.maps = maps;
        r
    }

    /// [`JsonWriter::write_at`] in one pass over the encoding: the group and aggregates written
    /// into `maps` as they are read, not skipped to find the window's end and read again (row
    /// (f), 1M lines: the skips were 34M of rendering's 226M instructions).
    fn write_with(
        &mut self,
        b: &[u8],
        metas: &[Arc<AlertMeta>],
        out: &mut Vec<u8>,
        maps: &mut Vec<u8>,
    ) -> Option<()> {
        let mut d = enc::Dec(b);
        // The rule id is written from the rule's metadata.
        d.skip_str()?;
        let start = d.0;
        d.opt_str_bytes()?;
        let start = start.get(..start.len() - d.0.len())?;
        json_entries(&mut d, maps)?;
        let mid = maps.len();
        json_entries(&mut d, maps)?;
        let events = d.u64()?;
        let m = usize::try_from(d.u32()?).ok()?;
        let end = d.0;
        d.opt_str_bytes()?;
        if !d.0.is_empty() {
            return None;
        }
        let meta = metas.get(m)?;
        if self.heads.len() <= m {
            self.heads.resize(m + 1, None);
        }
        let head = self.heads.get_mut(m)?.get_or_insert_with(|| {
            let mut h = serde_json::to_vec(&Head {
                rule_id: &meta.rule_id,
                rule_name: &meta.rule_name,
                severity: meta.severity,
                techniques: &meta.techniques,
                analytics: &meta.analytics,
            })
            .unwrap_or_default();
            // `{...}` opened, not closed: the window and the rest follow.
            h.pop();
            h.push(b',');
            h
        });
        out.extend_from_slice(head);
        let (last, at) = &self.window;
        if last.get(..*at) != Some(start) || last.get(*at..) != Some(end) {
            // Forgotten first: a window whose text fails here is not taken for the last one.
            self.window.0.clear();
            let text = &mut self.window_text;
            text.clear();
            text.extend_from_slice(b"\"window_start\":");
            json_opt_str(text, enc::Dec(start).opt_str_bytes()?.as_deref())?;
            text.extend_from_slice(b",\"window_end\":");
            json_opt_str(text, enc::Dec(end).opt_str_bytes()?.as_deref())?;
            text.extend_from_slice(b",\"group\":");
            let (last, at) = &mut self.window;
            last.clear();
            last.extend_from_slice(start);
            *at = last.len();
            last.extend_from_slice(end);
        }
        out.extend_from_slice(&self.window_text);
        out.extend_from_slice(maps.get(..mid)?);
        out.extend_from_slice(b",\"aggregates\":");
        out.extend_from_slice(maps.get(mid..)?);
        out.extend_from_slice(b",\"events\":");
        serde_json::to_writer(&mut *out, &events).ok()?;
        out.extend_from_slice(b"}\n");
        Some(())
    }
}

fn json_opt_str(out: &mut Vec<u8>, s: Option<&[u8]>) -> Option<()> {
    match s {
        None => out.extend_from_slice(b"null"),
        Some(s) => json_str(out, s)?,
    }
    Some(())
}

/// The string of bytes `s` as serde_json writes it (quoted, escaped), `None` when it is not
/// UTF-8. Printable ASCII without a quote or backslash (host names, times, rule ids: nearly
/// every string of an alert) is copied as it is, with no UTF-8 check and no escaping pass:
/// rendering is what the end of a run waits for once the merge runs beside it.
fn json_str(out: &mut Vec<u8>, s: &[u8]) -> Option<()> {
    // By words (a byte under 0x20 borrows into its top bit when 0x20 is taken from each, as
    // a 0 byte does in `enc::zeros`; a quote or backslash is a 0 byte once xored with it): the
    // byte-by-byte fold was 146 instructions per string of row (f)'s rendering.
    const SPACE: u64 = u64::from_le_bytes([b' '; 8]);
    const QUOTE: u64 = u64::from_le_bytes([b'"'; 8]);
    const BACKSLASH: u64 = u64::from_le_bytes([b'\\'; 8]);
    use enc::HIGH;
    let plain = !enc::any_word(s, b' ', |w| {
        (w & HIGH)
            | (w.wrapping_sub(SPACE) & !w & HIGH)
            | enc::zeros(w ^ QUOTE)
            | enc::zeros(w ^ BACKSLASH)
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
        return Some(());
    }
    serde_json::to_writer(&mut *out, std::str::from_utf8(s).ok()?).ok()
}

/// A map as [`super::plain_map`] writes it; `None` when its keys are not strictly increasing
/// (a map would hold them in another order, or once).
fn json_entries(d: &mut enc::Dec<'_>, out: &mut Vec<u8>) -> Option<()> {
    out.push(b'{');
    // Keys compared as bytes: UTF-8 orders as its bytes do, as a map's `String` keys.
    let mut last: Option<std::borrow::Cow<'_, [u8]>> = None;
    loop {
        match d.byte()? {
            0 => break,
            1 => {
                let k = d.str_bytes()?;
                if let Some(l) = &last {
                    if l.as_ref() >= k.as_ref() {
                        return None;
                    }
                    out.push(b',');
                }
                json_str(out, &k)?;
                out.push(b':');
                json_value(d, out)?;
                last = Some(k);
            }
            _ => return None,
        }
    }
    out.push(b'}');
    Some(())
}

/// A value as [`super::plain_json`] writes it, read from its encoding.
fn json_value(d: &mut enc::Dec<'_>, out: &mut Vec<u8>) -> Option<()> {
    match d.byte()? {
        0 | 3 => json_str(out, &d.str_bytes()?)?,
        1 => serde_json::to_writer(&mut *out, &d.int()?).ok()?,
        2 => {
            let ip = match d.byte()? {
                0 => std::net::IpAddr::from(d.take::<4>()?),
                1 => std::net::IpAddr::from(d.take::<16>()?),
                _ => return None,
            };
            write!(out, "\"{ip}\"").ok()?;
        }
        4 => serde_json::to_writer(&mut *out, &super::time::format(d.int()?)).ok()?,
        _ => return None,
    }
    Some(())
}

/// A sorted run on disk, deleted when dropped.
struct RunFile {
    path: PathBuf,
}

impl Drop for RunFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

/// Writes encoded alerts as a run: each as its length and its key's length (4 bytes each,
/// little-endian) and its bytes.
fn run_file(alerts: impl Iterator<Item = Result<Rec, String>>) -> Result<RunFile, String> {
    let mut w = RunWriter::create()?;
    for a in alerts {
        let a = a?;
        w.push(&a.bytes, a.key_len)?;
    }
    w.finish()
}

/// A run being written (see [`run_file`]), an alert at a time from wherever its bytes are.
struct RunWriter {
    run: RunFile,
    w: BufWriter<std::fs::File>,
    shown: String,
}

impl RunWriter {
    fn create() -> Result<RunWriter, String> {
        let dir = std::env::temp_dir();
        let name = format!(
            "detc-alerts-{}-{}.bin",
            std::process::id(),
            NEXT_RUN.fetch_add(1, Ordering::Relaxed)
        );
        let run = RunFile {
            path: dir.join(name),
        };
        let shown = run.path.display().to_string();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&run.path)
            .map_err(|e| write_err(&shown, e))?;
        Ok(RunWriter {
            run,
            w: BufWriter::with_capacity(256 << 10, f),
            shown,
        })
    }

    fn push(&mut self, bytes: &[u8], key_len: usize) -> Result<(), String> {
        let too_big = || write_err(&self.shown, std::io::Error::other("an alert over 4 GiB"));
        let len = u32::try_from(bytes.len()).map_err(|_| too_big())?;
        let key = u32::try_from(key_len).map_err(|_| too_big())?;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&len.to_le_bytes());
        head[4..].copy_from_slice(&key.to_le_bytes());
        self.w
            .write_all(&head)
            .and_then(|()| self.w.write_all(bytes))
            .map_err(|e| write_err(&self.shown, e))
    }

    fn finish(mut self) -> Result<RunFile, String> {
        self.w.flush().map_err(|e| write_err(&self.shown, e))?;
        Ok(self.run)
    }
}

fn write_err(shown: &str, e: std::io::Error) -> String {
    format!("cannot write the temporary alert file `{shown}`: {e}")
}

/// Sorts a full buffer's index and writes its alerts as a run (see [`AlertSink::spill`]), and
/// gives the buffers back emptied, their capacity kept for the sink's next alerts; or, when
/// `keep` is set by the time the index is sorted (the run is ending: see
/// [`AlertSink::finish`]), gives the sorted buffer back unwritten, to be merged from memory.
fn write_sorted(mut buf: Vec<u8>, mut at: Index, keep: &AtomicBool) -> Result<Spilled, String> {
    sort_index(&buf, &mut at);
    if keep.load(Ordering::Acquire) {
        return Ok(Spilled { run: None, buf, at });
    }
    let mut w = RunWriter::create()?;
    for &(s, k, n) in &at {
        w.push(buf.get(s..s + n).unwrap_or_default(), k)?;
    }
    let run = w.finish()?;
    buf.clear();
    at.clear();
    Ok(Spilled {
        run: Some(run),
        buf,
        at,
    })
}

/// What [`write_sorted`] did: a run written, with the buffers it was written from (emptied),
/// or the buffer sorted and kept.
struct Spilled {
    run: Option<RunFile>,
    buf: Vec<u8>,
    at: Index,
}

/// Where each alert of a buffer is: (start, key length, length).
type Index = Vec<(usize, usize, usize)>;

/// Where a run's alerts are read back from.
struct RunReader {
    _file: RunFile,
    r: BufReader<std::fs::File>,
    shown: String,
}

impl RunReader {
    fn open(file: RunFile) -> Result<RunReader, String> {
        let shown = file.path.display().to_string();
        let f = std::fs::File::open(&file.path)
            .map_err(|e| format!("cannot read the temporary alert file `{shown}`: {e}"))?;
        Ok(RunReader {
            _file: file,
            // 64 KiB a read call: with the default 8 KiB, the end of row (f) made ~800 calls
            // on the thread that merges, which the renderers wait on (strace -c); at most
            // `FAN_IN` runs are read at once, 2 MiB of buffers.
            r: BufReader::with_capacity(RUN_READ, f),
            shown,
        })
    }

    /// The run's next alert, read into `r` (its buffer reused: no allocation per alert once
    /// the merge's buffers have grown to the longest alert); `None` at the end of the run.
    fn next_into(&mut self, r: &mut Rec) -> Option<Result<(), String>> {
        let err = |e: std::io::Error| {
            format!("cannot read the temporary alert file `{}`: {e}", self.shown)
        };
        let mut head = [0u8; 8];
        // End of the run: no byte of a next record.
        match self.r.fill_buf() {
            Ok([]) => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(err(e))),
        }
        if let Err(e) = self.r.read_exact(&mut head) {
            return Some(Err(err(e)));
        }
        let [a, b, c, d, e, f, g, h] = head;
        let len = u32::from_le_bytes([a, b, c, d]) as usize;
        r.key_len = u32::from_le_bytes([e, f, g, h]) as usize;
        r.bytes.clear();
        r.bytes.resize(len, 0);
        if let Err(e) = self.r.read_exact(&mut r.bytes) {
            return Some(Err(err(e)));
        }
        Some(Ok(()))
    }
}

/// Alerts encoded away from the sink (by a worker, or by a thread at the end of a run) and
/// then added to it at once by [`AlertSink::add_batch`], a copy of bytes: the encoding, most of
/// the cost of adding an alert, needs no lock on the sink and runs on several threads.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    buf: Vec<u8>,
    at: Vec<(usize, usize, usize)>,
    /// The metadata by this batch's own numbers (the sink's may differ).
    metas: Metas,
}

/// Encoded bytes a batch holds before [`Batch::add_ref_passing`] passes it on: what encoding
/// away from the sink adds to a run's memory, per thread.
pub const BATCH_BYTES: usize = 256 << 10;

impl Batch {
    /// Encodes held alerts into the batch (the tests' way to make one; a run encodes borrowed
    /// alerts, [`Batch::add_ref`]).
    #[cfg(test)]
    pub fn add_held(&mut self, alerts: impl IntoIterator<Item = Held>) {
        for a in alerts {
            push_encoded(&mut self.buf, &mut self.at, &mut self.metas, &a);
        }
    }

    /// Encodes a borrowed alert into the batch, passing it to `pass` (which empties it, as
    /// [`AlertSink::add_batch`] does) when it holds [`BATCH_BYTES`]: a flush of thousands of
    /// alerts that carry whole events does not make a batch of megabytes.
    pub fn add_ref_passing(&mut self, a: &AlertRef<'_>, mut pass: impl FnMut(&mut Batch)) {
        self.add_ref(a);
        if self.buf.len() >= BATCH_BYTES {
            pass(self);
        }
    }

    /// Encodes a borrowed alert into the batch.
    pub fn add_ref(&mut self, a: &AlertRef<'_>) {
        push_encoded_ref(&mut self.buf, &mut self.at, &mut self.metas, a);
    }

    /// Moves the alerts of `other` to the end of this batch (as [`AlertSink::add_batch`]
    /// copies them: each one's metadata number rewritten to this batch's), leaving `other`
    /// empty with its buffers kept; passes this batch to `pass` each time it holds
    /// [`BATCH_BYTES`].
    pub fn append_passing(&mut self, other: &mut Batch, mut pass: impl FnMut(&mut Batch)) {
        // Most rules of a pack hold nothing at a flush: no look-up of their metadata then.
        if other.at.is_empty() {
            return;
        }
        let mut numbers = vec![None; other.metas.all.len()];
        for &(s, k, n) in &other.at {
            let Some(bytes) = other.buf.get(s..s + n) else {
                continue;
            };
            let number = |m| renumbered(&mut numbers, &mut self.metas, &other.metas.all, m);
            push_renumbered(&mut self.buf, &mut self.at, number, bytes, k);
            if self.buf.len() >= BATCH_BYTES {
                pass(self);
            }
        }
        other.buf.clear();
        other.at.clear();
    }

    /// [`Batch::append_passing`] that never passes.
    pub fn append(&mut self, other: &mut Batch) {
        self.append_passing(other, |_| {});
    }

    /// The alerts of the batch decoded, in the order they were added (for the in-memory
    /// evaluator, which returns alerts, not their encodings).
    pub fn held(&self) -> Vec<Held> {
        self.at
            .iter()
            .filter_map(|&(s, _, n)| decode(self.buf.get(s..s + n)?, &self.metas.all))
            .map(Held::from)
            .collect()
    }

    /// Appends the JSON lines of the batch's alerts to `out` in the output's order (sorted as
    /// the sink sorts them; what its merge writes for them), leaving the batch empty. `w` must
    /// write this batch's alerts only: it keeps their metadata's text by the batch's numbers.
    pub fn drain_json_sorted(
        &mut self,
        w: &mut JsonWriter,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        sort_index(&self.buf, &mut self.at);
        for &(s, _, n) in &self.at {
            json_line(
                w,
                self.buf.get(s..s + n).unwrap_or_default(),
                &self.metas.all,
                out,
            )?;
        }
        self.buf.clear();
        self.at.clear();
        Ok(())
    }

    /// Alerts in the batch.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Bytes of the alerts' encodings.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }
}

/// Encodes `a` at the end of `buf`, its place in `at`, its metadata numbered in `metas`.
fn push_encoded(
    buf: &mut Vec<u8>,
    at: &mut Vec<(usize, usize, usize)>,
    metas: &mut Metas,
    a: &Held,
) {
    let meta = metas.number(&a.meta);
    let start = buf.len();
    let key_len = encode(a, meta, buf);
    at.push((start, key_len, buf.len() - start));
}

/// Copies an encoding (`bytes`, its key `k` bytes long) to the end of `buf`, its place in
/// `at`, with its metadata number (the 4 bytes after its key, see `encode`) rewritten to
/// `number` of it (the destination's number of the source's).
fn push_renumbered(
    buf: &mut Vec<u8>,
    at: &mut Vec<(usize, usize, usize)>,
    number: impl FnOnce(u32) -> Option<[u8; 4]>,
    bytes: &[u8],
    k: usize,
) {
    let start = buf.len();
    buf.extend_from_slice(bytes);
    let number = bytes
        .get(k..k + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .and_then(number);
    if let (Some(number), Some(dst)) = (number, buf.get_mut(start + k..start + k + 4)) {
        dst.copy_from_slice(&number);
    }
    at.push((start, k, bytes.len()));
}

/// [`push_encoded`] of a borrowed alert.
fn push_encoded_ref(
    buf: &mut Vec<u8>,
    at: &mut Vec<(usize, usize, usize)>,
    metas: &mut Metas,
    a: &AlertRef<'_>,
) {
    let meta = metas.number(a.meta);
    let start = buf.len();
    let key_len = encode_ref(a, meta, buf);
    at.push((start, key_len, buf.len() - start));
}

/// Collects alerts; see the module doc.
pub struct AlertSink {
    cap: usize,
    /// Encoded bytes held before a run is written (see [`DEFAULT_ALERT_BYTES`]).
    cap_bytes: usize,
    /// The held alerts' encodings, back to back, and where each is: (start, key length, length).
    buf: Vec<u8>,
    at: Vec<(usize, usize, usize)>,
    metas: Metas,
    runs: Vec<RunFile>,
    /// The last full buffer, being sorted and written as a run on a thread of its own (at most
    /// one: the sink holds at most two buffers), so that whoever filled it (the reader at a
    /// release, a thread at the end) goes on at once instead of holding the workers up.
    writing: Option<std::thread::JoinHandle<Result<Spilled, String>>>,
    /// Set when the run ends: a buffer being written that is not sorted yet is kept in memory
    /// instead (it is held anyway until written), so the end waits for no write.
    keep: Arc<AtomicBool>,
    count: usize,
    spilled: usize,
    error: Option<String>,
}

impl AlertSink {
    /// A sink holding at most `cap` alerts in memory (at least one), and at most
    /// [`DEFAULT_ALERT_BYTES`] of their encodings (past it, with one alert more).
    pub fn new(cap: usize) -> AlertSink {
        AlertSink::with_bytes(cap, DEFAULT_ALERT_BYTES)
    }

    /// [`AlertSink::new`] with another bound on the bytes held.
    pub fn with_bytes(cap: usize, cap_bytes: usize) -> AlertSink {
        AlertSink {
            cap: cap.max(1),
            cap_bytes,
            buf: Vec::new(),
            at: Vec::new(),
            metas: Metas::default(),
            runs: Vec::new(),
            writing: None,
            keep: Arc::new(AtomicBool::new(false)),
            count: 0,
            spilled: 0,
            error: None,
        }
    }

    /// Adds alerts, spilling a sorted run when the buffer is full. After an error (reported by
    /// [`AlertSink::finish`]) alerts are dropped: the run is failing anyway.
    pub fn add(&mut self, alerts: impl IntoIterator<Item = Alert>) {
        self.add_held(alerts.into_iter().map(Held::from));
    }

    /// Adds held alerts (see [`AlertSink::add`]).
    pub fn add_held(&mut self, alerts: impl IntoIterator<Item = Held>) {
        for a in alerts {
            if self.error.is_some() {
                return;
            }
            self.count += 1;
            push_encoded(&mut self.buf, &mut self.at, &mut self.metas, &a);
            self.spill_if_full();
        }
    }

    /// Adds the alerts of `batch` (as [`AlertSink::add_held`] would have added them), leaving it
    /// empty with its buffers kept.
    pub fn add_batch(&mut self, batch: &mut Batch) {
        // The sink's number of each metadata of the batch: an encoding's number, the 4 bytes
        // after its key (see `encode`), is rewritten as it is copied.
        let mut numbers = vec![None; batch.metas.all.len()];
        for &(s, k, n) in &batch.at {
            if self.error.is_some() {
                break;
            }
            let Some(bytes) = batch.buf.get(s..s + n) else {
                continue;
            };
            self.count += 1;
            let number = |m| renumbered(&mut numbers, &mut self.metas, &batch.metas.all, m);
            push_renumbered(&mut self.buf, &mut self.at, number, bytes, k);
            self.spill_if_full();
        }
        batch.buf.clear();
        batch.at.clear();
    }

    /// Writes a sorted run when the buffer is full (an error stops the adding).
    fn spill_if_full(&mut self) {
        if self.at.len() >= self.cap || self.buf.len() >= self.cap_bytes {
            if let Err(e) = self.spill() {
                self.error = Some(e);
            }
        }
    }

    /// Alerts added so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sorted runs written so far.
    pub fn spilled(&self) -> usize {
        self.spilled
    }

    /// Whether writing a run failed (the run should stop).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Why writing a run failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The held alerts, sorted (stable: equal keys keep their order), and the buffer emptied.
    /// They stay where they are in the buffer: only the index is sorted.
    fn sorted(&mut self) -> Sorted {
        let buf = std::mem::take(&mut self.buf);
        let mut at = std::mem::take(&mut self.at);
        sort_index(&buf, &mut at);
        Sorted {
            buf,
            at: at.into_iter(),
        }
    }

    /// Hands the full buffer to a thread that sorts it and writes it as a run, and goes on with
    /// the buffers of the run written before (waiting for it if it is still being written).
    fn spill(&mut self) -> Result<(), String> {
        let (buf, at) = match self.join_writing()? {
            Some(Spilled { buf, at, .. }) => (buf, at),
            None => (Vec::new(), Vec::new()),
        };
        let buf = std::mem::replace(&mut self.buf, buf);
        let at = std::mem::replace(&mut self.at, at);
        self.spilled += 1;
        let keep = self.keep.clone();
        // A run's order is its place in `runs` (ties go to the earlier run), so runs are
        // written one at a time and pushed in the order their buffers filled.
        match std::thread::Builder::new()
            .name("detc-spill".into())
            .spawn(move || write_sorted(buf, at, &keep))
        {
            Ok(h) => self.writing = Some(h),
            Err(e) => {
                return Err(format!(
                    "cannot start a thread to write alerts to disk: {e}"
                ))
            }
        }
        Ok(())
    }

    /// Waits for the run being written and keeps it (merging the runs into one past
    /// [`FAN_IN`]); gives back the buffers it was written from, or the buffer sorted and kept.
    fn join_writing(&mut self) -> Result<Option<Spilled>, String> {
        let Some(h) = self.writing.take() else {
            return Ok(None);
        };
        let mut done = h
            .join()
            .map_err(|_| "the thread writing a temporary alert file failed".to_string())??;
        if let Some(run) = done.run.take() {
            self.runs.push(run);
        }
        if self.runs.len() >= FAN_IN {
            let runs = std::mem::take(&mut self.runs);
            let merged = Merge::new(Vec::new(), runs, Vec::new())?;
            self.runs.push(run_file(merged.held())?);
        }
        Ok(Some(done))
    }

    /// Every alert added, in order.
    pub fn finish(mut self) -> Result<Merge, String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        // The buffer being written, if not sorted yet, stays in memory; this one is sorted
        // meanwhile.
        self.keep.store(true, Ordering::Release);
        let held = self.sorted();
        let mut mem = Vec::new();
        if let Some(Spilled { run: None, buf, at }) = self.join_writing()? {
            mem.push(Sorted {
                buf,
                at: at.into_iter(),
            });
        }
        // In the order they were added: a tie goes to the earlier (see `Merge::next_rec_into`).
        mem.push(held);
        let metas = std::mem::take(&mut self.metas.all);
        Merge::new(mem, std::mem::take(&mut self.runs), metas)
    }
}

impl Drop for AlertSink {
    /// A run still being written is waited for, so that its temporary file is deleted before
    /// the process ends (a run that fails drops its sink).
    fn drop(&mut self) {
        if let Some(h) = self.writing.take() {
            let _ = h.join();
        }
    }
}

/// Groups of at most this many alerts are sorted by comparing their keys from where they start
/// to differ; larger ones by 8-byte words first ([`sort_index`]).
const SMALL_SORT: usize = 24;

/// Sorts the index `at` of alerts encoded in `buf` by their keys, in the order a stable sort
/// comparing whole keys gives (equal keys keep their order), without comparing whole keys:
/// every key of the sink's buffer starts with its rule id, and mostly with the same window
/// start, so each comparison of a `memcmp` sort went through the same 50-odd bytes (row (f),
/// 90,841 alerts: the sort was 114M instructions). A most-significant-first radix sort on
/// 8-byte words instead: past the group's common prefix, a stable sort on the next 8 bytes
/// (big-endian, short keys padded with 0) and how many bytes are left (up to 9: a key that
/// ends there sorts before a longer one with the same bytes); each run of keys equal on both
/// with more bytes after is sorted the same way from 8 bytes further; small groups by
/// comparing keys. Iterative: a pathological pack cannot deepen the stack.
fn sort_index(buf: &[u8], at: &mut [(usize, usize, usize)]) {
    let key = |&(s, k, _): &(usize, usize, usize)| buf.get(s..s + k).unwrap_or(&[]);
    let mut todo = vec![(0, at.len(), 0usize)];
    while let Some((lo, hi, depth)) = todo.pop() {
        let Some(part) = at.get_mut(lo..hi) else {
            continue;
        };
        let tail = |e: &(usize, usize, usize)| key(e).get(depth..).unwrap_or(&[]);
        if part.len() <= SMALL_SORT {
            part.sort_by(|a, b| tail(a).cmp(tail(b)));
            continue;
        }
        // The bytes every key of the group has in common from `depth` on.
        let first = part.first().map(tail).unwrap_or_default();
        let mut common = first.len();
        for e in part.iter().skip(1) {
            let t = tail(e);
            if t.get(..common) != first.get(..common) {
                common = first.iter().zip(t).take_while(|(a, b)| a == b).count();
            }
        }
        let depth = depth + common;
        let word = |e: &(usize, usize, usize)| -> (u64, u8) {
            let t = key(e).get(depth..).unwrap_or(&[]);
            let mut w = [0u8; 8];
            for (d, b) in w.iter_mut().zip(t) {
                *d = *b;
            }
            (u64::from_be_bytes(w), t.len().min(9) as u8)
        };
        // One u128 per alert, the word, the bytes left and its place (so that equal words keep
        // their order): an unstable sort of integers instead of `sort_by_cached_key`'s sort of
        // `((word, left), place)` tuples (row (f), the sink's three sorts: 81M -> 63M).
        let mut order: Vec<u128> = part
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (w, left) = word(e);
                (u128::from(w) << 64) | (u128::from(left) << 56) | i as u128
            })
            .collect();
        order.sort_unstable();
        let sorted: Vec<(usize, usize, usize)> = order
            .iter()
            .filter_map(|&o| part.get((o as u64 & ((1 << 56) - 1)) as usize).copied())
            .collect();
        part.copy_from_slice(&sorted);
        let mut i = 0;
        while let Some(e) = part.get(i) {
            let w = word(e);
            let same = part
                .get(i + 1..)
                .unwrap_or_default()
                .iter()
                .take_while(|e| word(e) == w)
                .count();
            if same > 0 && w.1 == 9 {
                todo.push((lo + i, lo + i + 1 + same, depth + 8));
            }
            i += 1 + same;
        }
    }
}

/// The sink's buffer with its index sorted: yields the alerts in order, each copied out as it
/// goes (so that sorting never holds the buffer twice).
struct Sorted {
    buf: Vec<u8>,
    at: std::vec::IntoIter<(usize, usize, usize)>,
}

impl Sorted {
    /// The next alert's key, left in place.
    fn peek_key(&self) -> Option<&[u8]> {
        let &(s, k, _) = self.at.as_slice().first()?;
        self.buf.get(s..s + k)
    }

    /// Copies the next alert into `r` (its buffer reused); `false` at the end.
    fn next_into(&mut self, r: &mut Rec) -> bool {
        let Some((s, k, n)) = self.at.next() else {
            return false;
        };
        r.bytes.clear();
        r.bytes
            .extend_from_slice(self.buf.get(s..s + n).unwrap_or_default());
        r.key_len = k;
        true
    }
}

impl Iterator for Sorted {
    type Item = Rec;

    fn next(&mut self) -> Option<Rec> {
        let mut r = Rec::default();
        self.next_into(&mut r).then_some(r)
    }
}

/// The k-way merge of the sorted buffer and the runs: yields alerts in order (an error when a
/// run cannot be read back).
pub struct Merge {
    /// Sorted buffers in memory, in the order their alerts were added (after the runs').
    mem: Vec<Sorted>,
    /// The source last taken from and the one with the next smallest head then (see
    /// [`Merge::next_rec_into`]).
    cur: Option<(usize, Option<usize>)>,
    runs: Vec<(Rec, RunReader)>,
    metas: Vec<Arc<AlertMeta>>,
    failed: bool,
}

impl Merge {
    fn new(
        mem: Vec<Sorted>,
        files: Vec<RunFile>,
        metas: Vec<Arc<AlertMeta>>,
    ) -> Result<Merge, String> {
        let mut runs = Vec::with_capacity(files.len());
        for f in files {
            let mut r = RunReader::open(f)?;
            let mut head = Rec::default();
            if let Some(a) = r.next_into(&mut head) {
                a?;
                runs.push((head, r));
            }
        }
        Ok(Merge {
            mem,
            runs,
            metas,
            cur: None,
            failed: false,
        })
    }
}

impl Iterator for Merge {
    type Item = Result<Alert, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.next_held()?;
        Some(r.and_then(|r| self.decode(&r)))
    }
}

const DAMAGED: &str = "a temporary alert file was damaged while the run read it";

/// Appends the JSON line of the alert encoded in `b` to `out` (see [`Merge::write_json`]).
fn json_line(
    w: &mut JsonWriter,
    b: &[u8],
    metas: &[Arc<AlertMeta>],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if w.write(b, metas, out).is_some() {
        return Ok(());
    }
    let a = decode(b, metas).ok_or_else(|| DAMAGED.to_string())?;
    serde_json::to_writer(&mut *out, &a).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(())
}

/// Alerts in output order on their way to a [`Render`]: each still encoded, or already its
/// JSON line (an alert kept by a rule's suppression, decoded to apply it). Recycled: its
/// buffers keep their capacity.
#[derive(Debug, Default)]
pub struct Pending {
    bytes: Vec<u8>,
    /// Per alert: whether it is encoded (else a JSON line), and where its bytes are.
    items: Vec<(bool, usize, usize)>,
}

/// Bytes a [`Pending`] holds before it is passed on: small enough to keep the renderer busy
/// early, large enough that handing it over costs nothing next to rendering it.
pub const PENDING_BYTES: usize = 256 << 10;

impl Pending {
    pub fn push_rec(&mut self, r: &Rec) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&r.bytes);
        self.items.push((true, start, self.bytes.len()));
    }

    /// Adds a ready JSON line, which `write` appends to the buffer it is given.
    pub fn push_line(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.items.push((false, start, self.bytes.len()));
    }

    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }
}

/// Writes the JSON lines of a merge's alerts away from it (see [`Merge::render`]); a clone per
/// rendering thread.
#[derive(Clone)]
pub struct Render {
    metas: Vec<Arc<AlertMeta>>,
    json: JsonWriter,
}

impl Render {
    /// Appends the JSON line of every alert of `p`, in order, to `out`; at the first that
    /// cannot be written (a damaged temporary file), the error, `out` holding the lines before.
    pub fn lines(&mut self, p: &Pending, out: &mut Vec<u8>) -> Result<(), String> {
        for &(encoded, s, e) in &p.items {
            let b = p.bytes.get(s..e).unwrap_or_default();
            if encoded {
                json_line(&mut self.json, b, &self.metas, out)?;
            } else {
                out.extend_from_slice(b);
            }
        }
        Ok(())
    }
}

impl Merge {
    /// The next alert, encoded (see [`Merge::decode`], [`Merge::write_json`]).
    pub fn next_rec(&mut self) -> Option<Result<Rec, String>> {
        self.next_held()
    }

    /// The rule id of an encoded alert.
    pub fn rule_id(&self, r: &Rec) -> Result<&str, String> {
        let m = r
            .bytes
            .get(r.key_len..r.key_len + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .and_then(|m| self.metas.get(usize::try_from(m).ok()?));
        m.map(|m| m.rule_id.as_str()).ok_or_else(|| DAMAGED.into())
    }

    pub fn decode(&self, r: &Rec) -> Result<Alert, String> {
        decode(&r.bytes, &self.metas).ok_or_else(|| DAMAGED.into())
    }

    /// Appends the JSON line of an encoded alert to `out`: what `serde_json` writes for
    /// [`Merge::decode`]'s alert, and a newline.
    pub fn write_json(&self, w: &mut JsonWriter, r: &Rec, out: &mut Vec<u8>) -> Result<(), String> {
        json_line(w, &r.bytes, &self.metas, out)
    }

    /// What renders this merge's encoded alerts as JSON lines on another thread.
    pub fn render(&self) -> Render {
        Render {
            metas: self.metas.clone(),
            json: JsonWriter::default(),
        }
    }

    /// The merge as encoded alerts (merging runs into one run).
    fn held(self) -> impl Iterator<Item = Result<Rec, String>> {
        let mut m = self;
        std::iter::from_fn(move || m.next_held())
    }

    fn next_held(&mut self) -> Option<Result<Rec, String>> {
        let mut r = Rec::default();
        Some(self.next_rec_into(&mut r)?.map(|()| r))
    }

    /// The head key of source `s`: the runs, then the buffers, in the order their alerts were
    /// added (the order a tie goes by).
    fn head(&self, s: usize) -> Option<&[u8]> {
        match self.runs.get(s) {
            Some((h, _)) => Some(h.key()),
            None => self.mem.get(s - self.runs.len())?.peek_key(),
        }
    }

    /// The source with the smallest head and the one with the next smallest (the earlier on a
    /// tie), among those not at their end.
    fn pick(&self) -> (Option<usize>, Option<usize>) {
        let mut best: Option<(usize, &[u8])> = None;
        let mut second: Option<(usize, &[u8])> = None;
        for s in 0..self.runs.len() + self.mem.len() {
            let Some(k) = self.head(s) else {
                continue;
            };
            if best.is_none_or(|(_, b)| k < b) {
                second = best;
                best = Some((s, k));
            } else if second.is_none_or(|(_, t)| k < t) {
                second = Some((s, k));
            }
        }
        (best.map(|b| b.0), second.map(|t| t.0))
    }

    /// The next alert, encoded, into `out` (its buffer reused, as the runs' heads are: the end
    /// of a run that prints many alerts allocated and freed one buffer per alert).
    pub fn next_rec_into(&mut self, out: &mut Rec) -> Option<Result<(), String>> {
        if self.failed {
            return None;
        }
        // The smallest head among the runs (few: at most FAN_IN) and the buffers, the earlier
        // on a tie. Sources seldom overlap (windows are released in order), so the one taken
        // from stays the smallest for long: it is kept while its head stays below the next
        // smallest's (whose head does not move meanwhile), one comparison an alert instead of
        // one per source (row (f): the merge's key comparisons were a third of the thread that
        // feeds the renderers).
        let keep = self.cur.filter(|&(c, second)| {
            let Some(k) = self.head(c) else {
                return false;
            };
            match second.and_then(|t| Some((t, self.head(t)?))) {
                None => true,
                Some((t, h)) => k < h || (k == h && c < t),
            }
        });
        let s = match keep {
            Some((c, _)) => c,
            None => {
                let (best, second) = self.pick();
                let b = best?;
                self.cur = Some((b, second));
                b
            }
        };
        let Some((head, reader)) = self.runs.get_mut(s) else {
            let m = s - self.runs.len();
            return self.mem.get_mut(m)?.next_into(out).then_some(Ok(()));
        };
        // The head goes out; the run's next alert is read into the buffer `out` held.
        std::mem::swap(out, head);
        match reader.next_into(head) {
            None => {
                // The sources after it move up one: chosen again.
                self.runs.remove(s);
                self.cur = None;
                Some(Ok(()))
            }
            Some(Ok(())) => Some(Ok(())),
            Some(Err(e)) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// [`sort_index`] orders as a stable sort comparing whole keys: over keys with long common
    /// prefixes, equal keys (their order kept), keys that are prefixes of others (ending before,
    /// at and after an 8-byte word), 0 and 255 bytes, empty keys, and groups around the small
    /// sort's size.
    #[test]
    fn the_radix_sort_of_keys_is_the_stable_sort_of_whole_keys() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let prefix: Vec<u8> = (0..45u8).map(|i| i.wrapping_mul(37)).collect();
        for n in [0, 1, 2, SMALL_SORT, SMALL_SORT + 1, 100, 3000] {
            for alphabet in [2u64, 3, 256] {
                let mut buf = Vec::new();
                let mut at = Vec::new();
                for _ in 0..n {
                    let start = buf.len();
                    // A shared prefix of 0 to 45 bytes, then 0 to 20 bytes from a small
                    // alphabet (many equal keys and prefixes) or any byte.
                    let p = match next(4) {
                        0 => next(46) as usize,
                        _ => 45,
                    };
                    buf.extend_from_slice(prefix.get(..p).unwrap_or_default());
                    for _ in 0..next(21) {
                        let b = next(alphabet) as u8;
                        buf.push(if alphabet == 2 { b * 255 } else { b });
                    }
                    let key_len = buf.len() - start;
                    // Bytes after the key (the rest of an encoding) do not count.
                    buf.extend_from_slice(&[next(256) as u8; 3]);
                    at.push((start, key_len, buf.len() - start));
                }
                let mut want = at.clone();
                let key = |&(s, k, _): &(usize, usize, usize)| buf.get(s..s + k).unwrap_or(&[]);
                want.sort_by(|a, b| key(a).cmp(key(b)));
                sort_index(&buf, &mut at);
                assert!(at == want, "{n} keys over {alphabet} bytes");
            }
        }
    }

    /// `enc::str`'s short path and its `memchr` path write what the encoding's definition says
    /// (each 0 byte as `0 255`, then `0 0`), around the short path's bound, with 0 bytes and
    /// non-ASCII text anywhere, and read back the same.
    #[test]
    fn strings_encode_by_the_definition_at_every_length() {
        let reference = |s: &str| {
            let mut out = Vec::new();
            for &b in s.as_bytes() {
                out.push(b);
                if b == 0 {
                    out.push(255);
                }
            }
            out.extend_from_slice(&[0, 0]);
            out
        };
        for len in 0..=enc::SHORT + 3 {
            let base: String = "abc\u{e9}".chars().cycle().take(len).collect();
            let mut texts = vec![base.clone()];
            for at in 0..len {
                let mut b: Vec<char> = base.chars().collect();
                if let Some(c) = b.get_mut(at) {
                    *c = '\0';
                }
                texts.push(b.into_iter().collect());
            }
            texts.push("\0".repeat(len));
            // Every byte value at every place.
            for at in 0..len {
                for c in 0..=255u8 {
                    let mut b = vec![0x80u8; len];
                    if let Some(x) = b.get_mut(at) {
                        *x = c;
                    }
                    assert_eq!(enc::has_zero(&b), c == 0, "{len} {at} {c}");
                }
            }
            for t in &texts {
                let mut out = vec![7];
                enc::str(&mut out, t);
                assert_eq!(out.get(1..), Some(reference(t).as_slice()), "{t:?}");
                let mut d = enc::Dec(out.get(1..).unwrap_or_default());
                assert_eq!(d.str().as_deref(), Some(t.as_str()));
                assert!(d.0.is_empty());
            }
        }
    }

    /// The word-at-a-time scans agree with byte-by-byte ones: `json_str` with serde_json for
    /// every character that is escaped or not ASCII (and the edges of plain ASCII) at every
    /// place of strings of 0-40 bytes; `find_zero` with `position` for a 0 byte at every place
    /// of 0-90 bytes (its words, the overlapping last word, the `memchr` past 64 bytes).
    #[test]
    fn word_scans_agree_with_byte_scans() {
        for len in 0..=40 {
            for c in [
                '"', '\\', '\n', '\u{1f}', ' ', '~', '\u{7f}', '\u{e9}', '\0', '/',
            ] {
                for at in 0..len.max(1) {
                    let t: String = (0..len)
                        .map(|i| {
                            if i == at {
                                c
                            } else {
                                (b'a' + (i % 26) as u8) as char
                            }
                        })
                        .collect();
                    let mut out = Vec::new();
                    assert_eq!(json_str(&mut out, t.as_bytes()), Some(()));
                    assert_eq!(serde_json::to_vec(&t).ok(), Some(out), "{t:?}");
                }
            }
        }
        for len in 0..=90 {
            for at in 0..=len {
                let mut b = vec![b'x'; len];
                if let Some(x) = b.get_mut(at) {
                    *x = 0;
                }
                if let Some(x) = b.get_mut(at + 3) {
                    *x = 0;
                }
                let want = b.iter().position(|&c| c == 0);
                assert_eq!(enc::find_zero(&b), want, "{len} {at}");
            }
        }
        assert_eq!(json_str(&mut Vec::new(), &[b'a', 0xff, b'b']), None);
    }

    /// One writer over alerts whose windows repeat, change only at their end, are missing,
    /// or fail to write (a start that is not UTF-8, as only damage could make): each line is
    /// serde_json's, whatever the window before it.
    #[test]
    fn json_lines_keep_no_stale_window() {
        let (a, b) = ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
        let windows = [
            (None, None),
            (Some(a), Some(b)),
            (Some(a), Some(b)),
            (Some(a), Some(a)),
            (Some(b), Some(a)),
            (Some(a), None),
            (None, Some(b)),
            (None, None),
            (Some("damaged"), Some(b)),
            (Some(a), Some(b)),
            (Some("damaged"), Some(b)),
            (Some("damaged"), Some(b)),
            (Some(a), Some(b)),
        ];
        let mut metas = Metas::default();
        let mut w = JsonWriter::default();
        for (i, (start, end)) in windows.into_iter().enumerate() {
            let damaged = start == Some("damaged");
            let mut x = alert("r", start, &[("host", Value::Str(format!("h{i}")))], 1, 2);
            x.window_end = end.map(String::from);
            let h = Held::from(x.clone());
            let mut bytes = Vec::new();
            encode(&h, metas.number(&h.meta), &mut bytes);
            if damaged {
                let at = bytes.windows(7).position(|b| b == b"damaged").unwrap_or(0);
                if let Some(c) = bytes.get_mut(at) {
                    *c = 0xff;
                }
            }
            let mut got = b"x".to_vec();
            let r = w.write(&bytes, &metas.all, &mut got);
            if damaged {
                assert_eq!((r, got.as_slice()), (None, b"x".as_slice()));
                continue;
            }
            let mut want = b"x".to_vec();
            serde_json::to_writer(&mut want, &x).unwrap_or_default();
            want.push(b'\n');
            assert_eq!(r, Some(()));
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            );
        }
    }

    fn alert(
        rule: &str,
        start: Option<&str>,
        group: &[(&str, Value)],
        n: i64,
        events: u64,
    ) -> Alert {
        Alert {
            rule_id: rule.into(),
            rule_name: rule.into(),
            severity: Level::Low,
            techniques: Vec::new(),
            analytics: Vec::new(),
            window_start: start.map(String::from),
            window_end: None,
            group: group
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            aggregates: BTreeMap::from([("n".to_string(), Value::Int(n))]),
            events,
        }
    }

    /// A batch appended to another keeps each alert's rule metadata although the two number
    /// them differently (rules' states hold their alerts encoded and are appended to a
    /// worker's batch, see `engine::RuleState`), and decodes back to the alerts added.
    #[test]
    fn an_appended_batch_keeps_each_alerts_rule() {
        let s = |x: &str| Value::Str(x.into());
        let a1 = alert("a", None, &[("host", s("h1"))], 1, 1);
        let b1 = alert("b", None, &[("host", s("h2"))], 2, 1);
        let b2 = alert("b", Some("2026-01-01T00:00:00Z"), &[], 3, 2);
        let (mut to, mut from) = (Batch::default(), Batch::default());
        to.add_held([Held::from(a1.clone())]);
        // `from` numbers b's metadata 0, which is a's in `to`.
        from.add_held([Held::from(b1.clone()), Held::from(b2.clone())]);
        let mut passed = 0;
        to.append_passing(&mut from, |_| passed += 1);
        assert!(from.is_empty() && passed == 0);
        let back: Vec<Alert> = to.held().into_iter().map(Alert::from).collect();
        assert_eq!(back, vec![a1.clone(), b1.clone(), b2.clone()]);
        // Appended again after `from` is refilled: its numbers are kept, and still rewritten.
        from.add_held([Held::from(a1.clone())]);
        to.append(&mut from);
        let back: Vec<Alert> = to.held().into_iter().map(Alert::from).collect();
        assert_eq!(back, vec![a1.clone(), b1, b2, a1]);
    }

    /// Encoded alerts order exactly as alerts do, on every pair of a set that differs in each
    /// part of the order (group maps of different sizes, keys and value types, strings with a
    /// 0 byte and prefixes of each other, negative and positive numbers, both address families
    /// included), and decode back unchanged.
    #[test]
    fn held_alerts_order_as_alerts() {
        let s = |x: &str| Value::Str(x.into());
        let ip = |x: [u8; 4]| Value::Ip(std::net::IpAddr::from(x));
        let mut all = Vec::new();
        for rule in ["a", "b", "a\0", "ab"] {
            for start in [
                None,
                Some("2026-01-01T00:00:00Z"),
                Some("2026-01-01T01:00:00Z"),
            ] {
                for group in [
                    vec![],
                    vec![("host", s("h1"))],
                    vec![("host", s("h2"))],
                    vec![("host", s("h"))],
                    vec![("host", s("h\0"))],
                    vec![("host", s("h1")), ("user", s("u"))],
                    vec![("host", Value::Int(1))],
                    vec![("host", Value::Int(-1))],
                    vec![("host", Value::Int(i64::MIN))],
                    vec![("host", Value::Timestamp(5))],
                    vec![("host", Value::Enum("x".into()))],
                    vec![("host", ip([10, 0, 0, 1]))],
                    vec![("host", ip([9, 255, 0, 1]))],
                    vec![("host", Value::Ip(std::net::Ipv6Addr::LOCALHOST.into()))],
                    vec![("a", s("z"))],
                ] {
                    for n in [1, 2] {
                        all.push(alert(rule, start, &group, n, 3));
                    }
                }
            }
        }
        all.push(alert("a", None, &[], 1, 4));
        all.push(alert("a", None, &[], 1, 1 << 40));
        let mut metas = Metas::default();
        let enc: Vec<Rec> = all
            .iter()
            .map(|a| {
                let h = Held::from(a.clone());
                let mut bytes = Vec::new();
                let key_len = encode(&h, metas.number(&h.meta), &mut bytes);
                Rec { bytes, key_len }
            })
            .collect();
        for (x, ex) in all.iter().zip(&enc) {
            for (y, ey) in all.iter().zip(&enc) {
                assert_eq!(
                    ex.key().cmp(ey.key()),
                    super::super::alert_order(x, y),
                    "{x:?} {y:?}"
                );
            }
            assert_eq!(decode(&ex.bytes, &metas.all).as_ref(), Some(x));
        }
    }

    /// A borrowed alert (a released window's, [`AlertRef`]) encodes to the bytes its held
    /// form does, and a batch of borrowed alerts adds to a sink what the held ones add, on
    /// edge values: empty and non-ASCII strings and keys, a 0 byte, quotes, integer and time
    /// edges, both address families, no window and an open one, empty and repeated entries.
    #[test]
    fn borrowed_alerts_encode_as_held() -> Result<(), String> {
        let v4 = ValRef::Ip(std::net::IpAddr::from([10, 0, 0, 1]));
        let v6 = ValRef::Ip(std::net::Ipv6Addr::LOCALHOST.into());
        let values = [
            ValRef::Str(""),
            ValRef::Str("h\0x"),
            ValRef::Str("h\u{e9}\u{4e2d}\"\\"),
            ValRef::Int(i64::MIN),
            ValRef::Int(0),
            ValRef::Int(i64::MAX),
            ValRef::Timestamp(-1),
            ValRef::Enum("inbound"),
            v4,
            v6,
        ];
        let meta = Arc::new(AlertMeta {
            rule_id: "r\0\u{e9}".into(),
            rule_name: "n".into(),
            severity: Level::High,
            techniques: vec!["T1".into()],
            analytics: Vec::new(),
        });
        let (mut by_ref, mut by_held) = (AlertSink::new(1000), AlertSink::new(1000));
        let mut batch = Batch::default();
        for window in [None, Some(("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"))] {
            for (i, &v) in values.iter().enumerate() {
                let w = values.get((i + 3) % values.len()).copied().unwrap_or(v);
                for group in [
                    vec![],
                    vec![("host", v)],
                    vec![("", v), ("\u{43a}\u{43b}", w)],
                    vec![("a", v), ("a", v)],
                ] {
                    let aggregates = [("connections", w), ("n\0", ValRef::Int(5))];
                    let a = AlertRef {
                        meta: &meta,
                        window_start: window.map(|w| w.0),
                        window_end: window.map(|w| w.1),
                        group: &group,
                        aggregates: &aggregates,
                        events: 1 << 40,
                    };
                    let (mut x, mut y) = (Vec::new(), Vec::new());
                    let held = a.to_held();
                    assert_eq!(encode_ref(&a, 7, &mut x), encode(&held, 7, &mut y));
                    assert_eq!(x, y, "{a:?}");
                    batch.add_ref_passing(&a, |b| by_ref.add_batch(b));
                    by_held.add_held([held]);
                }
            }
        }
        by_ref.add_batch(&mut batch);
        assert_eq!(by_ref.len(), by_held.len());
        let x: Result<Vec<Alert>, String> = by_ref.finish()?.collect();
        let y: Result<Vec<Alert>, String> = by_held.finish()?.collect();
        assert_eq!(x?, y?);
        Ok(())
    }

    /// The JSON line written from an encoding is serde_json's text of the decoded alert, byte
    /// for byte, on values that need escaping or care: quotes, backslashes, control bytes, a 0
    /// byte (escaped in the encoding), non-ASCII, empty strings and keys, both address
    /// families, timestamps, integer edges, metadata with quotes, windows and none. An
    /// encoding whose map keys are out of order (a map would reorder them) is not written the
    /// fast way: the caller falls back to the decoded alert, and gets the same text.
    #[test]
    fn json_lines_are_serde_json_of_the_decoded_alerts() {
        let s = |x: &str| Value::Str(x.into());
        let awkward = [
            s(""),
            s("a\"b\\c"),
            s("line\nbreak\ttab\u{1}\u{1f}"),
            s("nul\0in"),
            s("é 中 \u{10ffff}"),
            s("</script>"),
            Value::Enum("succeeded".into()),
            Value::Int(0),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Timestamp(0),
            Value::Timestamp(-62_135_596_800),
            Value::Timestamp(1_767_225_599),
            Value::Ip(std::net::IpAddr::from([0, 0, 0, 0])),
            Value::Ip(std::net::IpAddr::from([255, 255, 255, 255])),
            Value::Ip(std::net::Ipv6Addr::LOCALHOST.into()),
            Value::Ip(
                "2001:db8::ff00:42:8329"
                    .parse()
                    .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED.into()),
            ),
        ];
        let mut metas = Metas::default();
        let mut w = JsonWriter::default();
        let mut n = 0;
        for (i, v) in awkward.iter().enumerate() {
            let mut a = alert(
                ["r\"1", "r\\2", "ü"][i % 3],
                [None, Some("2026-01-01T00:00:00Z")][i % 2],
                &[("", v.clone()), ("host\u{7f}", v.clone()), ("ключ", s("x"))],
                i as i64,
                i as u64,
            );
            a.techniques = vec!["T1071.003".into(), "\"".into()];
            a.analytics = vec![];
            a.window_end = a
                .window_start
                .as_ref()
                .map(|_| "2026-01-01T01:00:00\u{2028}".into());
            a.aggregates.insert("d\0".into(), v.clone());
            a.severity = [Level::Low, Level::Critical][i % 2];
            let h = Held::from(a.clone());
            let mut bytes = Vec::new();
            encode(&h, metas.number(&h.meta), &mut bytes);
            let mut want = serde_json::to_vec(&a).unwrap_or_default();
            want.push(b'\n');
            let mut got = b"before".to_vec();
            assert_eq!(w.write(&bytes, &metas.all, &mut got), Some(()), "{a:?}");
            assert_eq!(
                String::from_utf8_lossy(&got[6..]),
                String::from_utf8_lossy(&want),
                "{a:?}"
            );
            assert_eq!(decode(&bytes, &metas.all).as_ref(), Some(&a));
            n += 1;
        }
        assert_eq!(n, awkward.len());
        // Keys out of order (and a key twice): not written, `out` untouched.
        for group in [
            vec![("b".to_string(), s("1")), ("a".to_string(), s("2"))],
            vec![("a".to_string(), s("1")), ("a".to_string(), s("2"))],
        ] {
            let mut h = Held::from(alert("r", None, &[], 1, 1));
            h.group = group;
            let mut bytes = Vec::new();
            encode(&h, metas.number(&h.meta), &mut bytes);
            let mut got = b"x".to_vec();
            assert_eq!(w.write(&bytes, &metas.all, &mut got), None);
            assert_eq!(got, b"x");
        }
        // Not an encoding: not written either.
        let mut got = Vec::new();
        assert_eq!(w.write(&[1, 2, 3], &metas.all, &mut got), None);
        assert!(got.is_empty());
    }

    /// `json_str` writes what serde_json writes for every string of one ASCII byte, of each
    /// byte between letters, and of non-ASCII text; bytes that are not UTF-8 are not written,
    /// and an encoding holding them is not written as a line (the run then reports it damaged).
    #[test]
    fn json_str_is_serde_json_and_rejects_what_is_not_utf8() {
        let mut texts: Vec<String> = (0u8..0x80)
            .flat_map(|b| {
                let c = char::from(b);
                [c.to_string(), format!("ab{c}cd"), format!("{c}{c}")]
            })
            .collect();
        texts.extend(["", "é", "x中y", "\u{2028}", "\u{10ffff}\"", "a\u{7f}b"].map(String::from));
        for t in &texts {
            let mut got = b"<".to_vec();
            assert_eq!(json_str(&mut got, t.as_bytes()), Some(()), "{t:?}");
            let want = [b"<".to_vec(), serde_json::to_vec(t).unwrap_or_default()].concat();
            assert_eq!(got, want, "{t:?}");
        }
        for bad in [&b"\xff"[..], b"a\xc3", b"\xe4\xb8", b"ok\x80ok"] {
            assert_eq!(json_str(&mut Vec::new(), bad), None, "{bad:?}");
        }
        let mut metas = Metas::default();
        let h = Held::from(alert("r", Some("2026-01-01T00:00:00Z"), &[], 1, 1));
        let mut bytes = Vec::new();
        encode(&h, metas.number(&h.meta), &mut bytes);
        let at = bytes
            .windows(4)
            .position(|w| w == b"2026")
            .unwrap_or_default();
        if let Some(b) = bytes.get_mut(at) {
            *b = 0xff;
        }
        let mut got = Vec::new();
        assert_eq!(
            JsonWriter::default().write(&bytes, &metas.all, &mut got),
            None
        );
        assert!(got.is_empty());
        assert_eq!(decode(&bytes, &metas.all), None);
    }

    /// Alerts added through batches (each numbering the rules' metadata in its own order, not
    /// the sink's) come out as when added one by one: same alerts, metadata and order, with
    /// and without spilling, and a batch is empty after it is added.
    #[test]
    fn batches_add_what_their_alerts_would() -> Result<(), String> {
        let s = |x: &str| Value::Str(x.into());
        let alerts: Vec<Alert> = (0..120)
            .map(|i| {
                let mut a = alert(
                    ["c", "a", "b"][i % 3],
                    None,
                    &[("host", s(&format!("h{}\0x", (i * 37) % 41)))],
                    1,
                    1,
                );
                a.severity = [Level::Low, Level::High, Level::Critical][i % 3];
                a
            })
            .collect();
        let mut sorted = alerts.clone();
        super::super::sort_alerts(&mut sorted);
        for cap in [1000, 3] {
            let mut sink = AlertSink::new(cap);
            // The sink numbers `b` first; the batches `c`, then `a` and `b` in turn.
            let (first, rest) = alerts.split_at(2);
            sink.add(first.iter().rev().cloned());
            let (mut x, mut y) = (Batch::default(), Batch::default());
            for (i, a) in rest.iter().enumerate() {
                let batch = if i % 5 < 2 { &mut x } else { &mut y };
                batch.add_held([Held::from(a.clone())]);
                if i % 17 == 16 {
                    sink.add_batch(batch);
                    assert!(batch.is_empty() && batch.bytes() == 0);
                }
            }
            sink.add_batch(&mut y);
            sink.add_batch(&mut x);
            assert_eq!(sink.len(), alerts.len());
            assert_eq!(sink.spilled() > 0, cap < 1000);
            let out: Result<Vec<Alert>, String> = sink.finish()?.collect();
            assert_eq!(out?, sorted, "cap {cap}");
        }
        Ok(())
    }

    /// A sink spilling after every two alerts gives back what one holding all gives, in order.
    #[test]
    fn spilled_runs_merge_in_order() -> Result<(), String> {
        let s = |x: &str| Value::Str(x.into());
        let alerts: Vec<Alert> = (0..200)
            .map(|i| {
                alert(
                    ["b", "a"][i % 2],
                    None,
                    &[("host", s(&format!("h{}", (i * 37) % 101)))],
                    1,
                    1,
                )
            })
            .collect();
        let collect = |cap: usize| {
            let mut sink = AlertSink::new(cap);
            sink.add(alerts.clone());
            let spilled = sink.spilled();
            let out: Result<Vec<Alert>, String> = sink.finish()?.collect();
            Ok::<_, String>((spilled, out?))
        };
        let (none, all) = collect(1000)?;
        let (many, merged) = collect(2)?;
        assert_eq!(none, 0);
        assert_eq!(many, 100);
        let mut sorted = alerts.clone();
        super::super::sort_alerts(&mut sorted);
        assert_eq!(all, sorted);
        assert_eq!(merged, sorted);
        // The bound on bytes spills too, however many alerts the count allows: each of these
        // encodes to 47-50 bytes, so the fifth takes the buffer past 200 (a run of five).
        let mut sink = AlertSink::with_bytes(1000, 200);
        sink.add(alerts.clone());
        assert_eq!(sink.spilled(), 40);
        let by_bytes: Result<Vec<Alert>, String> = sink.finish()?.collect();
        assert_eq!(by_bytes?, sorted);
        Ok(())
    }

    /// A buffer kept sorted in memory at the end (its write not begun) merges with the runs
    /// written before it and the last buffer as if it had been written: every order of the
    /// sources' alerts, each source holding some of each key.
    #[test]
    fn a_kept_buffer_merges_as_a_run() -> Result<(), String> {
        let s = |x: &str| Value::Str(x.into());
        let alerts: Vec<Alert> = (0..300)
            .map(|i| {
                alert(
                    ["b", "a", "c"][i % 3],
                    Some(["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"][i % 2]),
                    &[("host", s(&format!("h{}", (i * 37) % 23)))],
                    (i % 5) as i64,
                    1,
                )
            })
            .collect();
        let mut sorted = alerts.clone();
        super::super::sort_alerts(&mut sorted);
        let mut sink = AlertSink::new(1000);
        let mut parts = Vec::new();
        for third in alerts.chunks(100) {
            sink.add(third.to_vec());
            parts.push((std::mem::take(&mut sink.buf), std::mem::take(&mut sink.at)));
        }
        let written = AtomicBool::new(false);
        let kept = AtomicBool::new(true);
        let mut parts = parts.into_iter();
        let (b, a) = parts.next().ok_or("no first third")?;
        let first = write_sorted(b, a, &written)?;
        assert!(first.run.is_some() && first.buf.is_empty() && first.at.is_empty());
        let (b, a) = parts.next().ok_or("no second third")?;
        let second = write_sorted(b, a, &kept)?;
        assert!(second.run.is_none() && !second.at.is_empty());
        let (b, mut a) = parts.next().ok_or("no last third")?;
        sort_index(&b, &mut a);
        let mem = vec![
            Sorted {
                buf: second.buf,
                at: second.at.into_iter(),
            },
            Sorted {
                buf: b,
                at: a.into_iter(),
            },
        ];
        let runs = first.run.into_iter().collect();
        let metas = std::mem::take(&mut sink.metas.all);
        let merged: Result<Vec<Alert>, String> = Merge::new(mem, runs, metas)?.collect();
        assert_eq!(merged?, sorted);
        Ok(())
    }
}
