//! The matcher and aggregator of one rule over abstract events.
//!
//! A [`CompiledRule`] is a rule with every predicate prepared ([`ops::CompiledExpr`]). Its
//! per-run state ([`RuleState`]) is either the alerts of a rule without aggregation or the
//! aggregation groups; states built on different threads [`merge`](RuleState::merge) exactly,
//! because every aggregate (count, distinct set, sum, min, max) is commutative and associative.
//! Memory is therefore bounded by the number of groups (and, for `distinct`, their distinct
//! values), not by the input. Groups are held per window, so that the runner can
//! [`release`](CompiledRule::release) a finished window (turn it into alerts and free it) once
//! the input is past its end plus the allowed lateness; an event that falls in a released window
//! afterwards is *late* ([`Fed::Late`]): counted, never added to a fresh partial window (see
//! docs/SEMANTICS.md, "Allowed lateness").
//!
//! Order of evaluation per event: computed fields (`let`) first when the filter reads one,
//! otherwise only after the filter holds; then the filter; then aggregation. An aggregating rule
//! places an event in the window of its `time`; an event without `time` cannot be placed and is
//! counted in [`RuleState::untimed`] instead (the readers never produce such events: a row
//! without a timestamp is a bad line).

use super::fasthash::Seeded;
use super::index::Key;
use super::ops::{Cell, CompiledExpr, ValRef};
use super::schema::{same_long, words};
use super::spill::{AlertMeta, AlertRef, Batch, Held};
use super::time;
use super::{Alert, Event};
use crate::diag::{Code, Diagnostic};
use crate::ir::{AggFunc, FieldRef, Rule, Value};
use hashbrown::{Equivalent, HashSet, HashTable};
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

#[derive(Debug, Clone)]
struct CompiledLet {
    name: String,
    arms: Vec<(CompiledExpr, Value)>,
    default: Option<Value>,
}

/// A rule ready to evaluate events.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    filter: CompiledExpr,
    filter_reads_lets: bool,
    lets: Vec<CompiledLet>,
    having: Option<CompiledExpr>,
    /// The catalogue fields the rule reads, numbered (`time` first): the slot numbers of its
    /// predicates, group keys and aggregate arguments. [`CompiledRule::bind`] maps them to an
    /// input schema's fields once per file, so no field is looked up by name per event.
    fields: Vec<String>,
    /// Group-by keys and aggregate arguments with their slot numbers.
    group_by: Vec<(FieldRef, usize)>,
    agg_args: Vec<Option<(FieldRef, usize)>>,
    /// The group-by fields when every one is an event field (not computed): the name its key is
    /// shared under among the rules fed one event ([`EventKeys`]).
    key_fields: Option<Arc<[String]>>,
    /// Accumulators per group: one per aggregate but `count()` (see [`Window`]).
    stride: usize,
    /// The group-by keys and the aggregates by name, as an alert's maps order them (a name
    /// given twice: its last), so that held alerts are built in key order without a map.
    group_order: Vec<usize>,
    agg_order: Vec<usize>,
    /// What every alert of the rule repeats, shared by its held alerts.
    meta: Arc<AlertMeta>,
}

/// `entries` in key order, a key given twice with its last value: as a map built by inserting
/// them in order holds them.
fn key_ordered<K: Ord, V>(mut entries: Vec<(K, V)>) -> Vec<(K, V)> {
    // Stable: equal keys stay in insertion order, and each later one moves into the one kept.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
    entries
}

/// Positions of `names` in name order, each name once (its last position, as a map built in
/// order keeps it).
fn key_order<'a>(names: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in names.enumerate() {
        by_name.insert(n, i);
    }
    by_name.into_values().collect()
}

/// Where each field a rule reads (by its number) sits among an event's fields (`None`: the
/// event has no such field, so it is missing).
pub type Binding = Vec<Option<usize>>;

/// Group keys as bytes: the group-by values in declaration order, each a tag and its content
/// (`None`, a missing value, is its own tag). Two keys are equal exactly when their values are
/// (variant and content, as [`ValRef`]'s derived equality), so a window compares and hashes
/// these bytes, and holds them back to back in one buffer: no allocation per group for its key
/// (issue 15: an `Arc` of values and a `String` per group were most of the allocator's time on
/// the unselective row, and held freed memory in every thread's arena).
mod gkey {
    use super::ValRef;
    use crate::ir::Value;
    use std::net::IpAddr;

    pub fn push(out: &mut Vec<u8>, v: Option<ValRef<'_>>) {
        // The length in 7-bit groups, low first (one byte below 128): a host name's key is
        // its bytes and two more.
        let text = |out: &mut Vec<u8>, tag: u8, s: &str| {
            out.push(tag);
            let mut n = s.len();
            while n >= 0x80 {
                out.push((n as u8) | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
            out.extend_from_slice(s.as_bytes());
        };
        match v {
            None => out.push(0),
            Some(ValRef::Str(s)) => text(out, 1, s),
            Some(ValRef::Int(i)) => {
                out.push(2);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Some(ValRef::Ip(IpAddr::V4(a))) => {
                out.push(3);
                out.extend_from_slice(&a.octets());
            }
            Some(ValRef::Ip(IpAddr::V6(a))) => {
                out.push(4);
                out.extend_from_slice(&a.octets());
            }
            Some(ValRef::Enum(s)) => text(out, 5, s),
            Some(ValRef::Timestamp(t)) => {
                out.push(6);
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
    }

    /// The values [`push`] wrote, in order (`None` for bytes it did not write).
    pub fn values(b: &[u8]) -> Option<Vec<Option<Value>>> {
        let mut refs = Vec::new();
        self::refs(b, &mut refs)?;
        Some(refs.iter().map(|v| v.map(|v| v.to_value())).collect())
    }

    /// [`values`] borrowed from the key's bytes, into `out` (cleared first): a released
    /// group's key is encoded into its alert without a `String` per text value.
    pub fn refs<'b>(mut b: &'b [u8], out: &mut Vec<Option<ValRef<'b>>>) -> Option<()> {
        fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
            let (h, rest) = b.split_first_chunk::<N>()?;
            *b = rest;
            Some(*h)
        }
        fn text<'b>(b: &mut &'b [u8]) -> Option<&'b str> {
            let mut n: usize = 0;
            for shift in (0..usize::BITS).step_by(7) {
                let [x] = take::<1>(b)?;
                n |= usize::from(x & 0x7f).checked_shl(shift)?;
                if x < 0x80 {
                    break;
                }
            }
            let (s, rest) = (b.get(..n)?, b.get(n..)?);
            *b = rest;
            std::str::from_utf8(s).ok()
        }
        out.clear();
        while let Some((&tag, rest)) = b.split_first() {
            b = rest;
            out.push(match tag {
                0 => None,
                1 => Some(ValRef::Str(text(&mut b)?)),
                2 => Some(ValRef::Int(i64::from_le_bytes(take::<8>(&mut b)?))),
                3 => Some(ValRef::Ip(IpAddr::from(take::<4>(&mut b)?))),
                4 => Some(ValRef::Ip(IpAddr::from(take::<16>(&mut b)?))),
                5 => Some(ValRef::Enum(text(&mut b)?)),
                6 => Some(ValRef::Timestamp(i64::from_le_bytes(take::<8>(&mut b)?))),
                _ => return None,
            });
        }
        Some(())
    }
}

/// The group keys of the event at hand, by the group-by fields that made them: the rules fed
/// the same event share the encoding and hash of their common grouping instead of each
/// encoding and hashing it (issue 15, point 3: 1,000 rules grouping by `host`). Cleared before
/// each event ([`EventKeys::clear`]), keeping its buffers; a rule grouping by a computed field
/// (`let`) encodes its own key in `own`.
#[derive(Debug, Default)]
pub struct EventKeys {
    hasher: Seeded,
    keys: Vec<SharedKey>,
    /// Entries of `keys` in use for this event (the others keep their buffers for the next).
    len: usize,
    own: Vec<u8>,
}

#[derive(Debug, Default)]
struct SharedKey {
    /// The group-by fields (their names: the same names give the same values in one event).
    fields: Arc<[String]>,
    hash: u64,
    bytes: Vec<u8>,
}

impl EventKeys {
    /// Forgets the keys of the last event.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The shared key of `fields` for this event, encoded by `encode` when it is new.
    fn of(
        &mut self,
        fields: &Arc<[String]>,
        hasher: &Seeded,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> &SharedKey {
        let live = self.keys.get(..self.len).unwrap_or(&[]);
        // The same `Arc` first: the rules of a run share one per grouping
        // ([`share_key_fields`]), so comparing the names is left for a grouping not seen yet
        // in this event (comparing them for every live key was 2.4% of the 1,000-rule row).
        let at = live
            .iter()
            .position(|k| Arc::ptr_eq(&k.fields, fields))
            .or_else(|| live.iter().position(|k| k.fields == *fields));
        let at = match at {
            Some(i) => i,
            None => {
                if self.keys.len() == self.len {
                    self.keys.push(SharedKey::default());
                }
                let k = &mut self.keys[self.len];
                // The slot of the last event's key of this grouping (nearly always): no
                // count taken and dropped on the `Arc`, two atomic operations per event.
                if !Arc::ptr_eq(&k.fields, fields) {
                    k.fields = fields.clone();
                }
                k.bytes.clear();
                encode(&mut k.bytes);
                k.hash = hasher.hash_one(k.bytes.as_slice());
                self.len += 1;
                self.len - 1
            }
        };
        &self.keys[at]
    }
}

/// Makes the rules that group by the same fields share one `Arc` of their names, so that
/// [`EventKeys`] finds an event's key of a grouping by pointer.
pub fn share_key_fields(rules: &mut [CompiledRule]) {
    let mut seen: Vec<Arc<[String]>> = Vec::new();
    for r in rules {
        let Some(fields) = &mut r.key_fields else {
            continue;
        };
        match seen.iter().find(|s| **s == *fields) {
            Some(s) => *fields = s.clone(),
            None => seen.push(fields.clone()),
        }
    }
}

/// One group of a window: where its key starts in the window's key buffer (it ends where the
/// next group's starts: groups are appended in order), and its event count (`count()`, which
/// has no accumulator).
#[derive(Debug, Clone)]
struct Group {
    key_at: usize,
    events: u64,
}

/// The key of group `i` of a window.
fn key_of<'k>(keys: &'k [u8], groups: &[Group], i: usize) -> &'k [u8] {
    let start = groups.get(i).map_or(keys.len(), |g| g.key_at);
    let end = groups.get(i + 1).map_or(keys.len(), |g| g.key_at);
    keys.get(start..end).unwrap_or(&[])
}

/// Whether the bytes of `keys` from `at` on start with `key` (a group's key found where a slot
/// says it starts): compared as words in registers ([`words`], then [`same_long`] past 16
/// bytes), as the input schemas compare raw keys. The slice comparison was a call to `memcmp`
/// per event, 3.6% of row (f)'s samples (perf, 2M events).
#[inline(always)]
fn same_key(keys: &[u8], at: usize, key: &[u8]) -> bool {
    keys.get(at..at + key.len())
        .is_some_and(|held| words(held) == words(key) && (key.len() <= 16 || same_long(held, key)))
}

/// A window's table entry: the key's hash, its group's number and where its bytes start
/// (`u32::MAX`: past what a `u32` holds, found through the group). 16 bytes, as the hash and
/// the number alone took with their padding.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    group: u32,
    key_at: u32,
}

/// Groups a new window has room for at least (see [`Window::new`]).
const MIN_ROOM: usize = 4;
/// Key bytes per group a new window has room for at least: a host name and its tag and length.
const MIN_KEY_BYTES: usize = 24;

/// The groups of one window, flat: a table from a key's hash to its group's number, the keys
/// back to back in one buffer, the groups in one vector and their accumulators in another
/// (`stride` per group: one per aggregate but `count()`). A new group costs no allocation of
/// its own (a `distinct` set of more than a few values aside), and freeing a window frees four
/// buffers.
#[derive(Debug, Clone)]
struct Window {
    table: HashTable<Slot>,
    keys: Vec<u8>,
    groups: Vec<Group>,
    accs: Vec<Acc>,
    stride: usize,
}

impl Window {
    /// A window with room for `room` groups and `key_bytes` of their keys (at least a few:
    /// a pack of many rules makes many small windows, and growing each from empty, key buffer,
    /// groups and table alike, was 7% of the 1,000-rule row's time in `realloc`).
    fn new(stride: usize, room: usize, key_bytes: usize) -> Window {
        let room = room.max(MIN_ROOM);
        Window {
            table: HashTable::with_capacity(room),
            keys: Vec::with_capacity(key_bytes.max(room * MIN_KEY_BYTES)),
            groups: Vec::with_capacity(room),
            accs: Vec::with_capacity(room * stride),
            stride,
        }
    }

    /// Adds `events` to the group of `key` (whose hash is `hash`): its number, and whether it
    /// is new; a new group's accumulators are appended by `new` (`stride` of them).
    fn group(
        &mut self,
        hash: u64,
        key: &[u8],
        events: u64,
        new: impl FnOnce(&mut Vec<Acc>),
    ) -> (usize, bool) {
        let Window {
            table,
            keys,
            groups,
            accs,
            ..
        } = self;
        // The key is compared where the slot says it starts, not through its group: the
        // group's line and the key's are then loaded side by side, not one after the other
        // (a lookup that finds its group, most of them, was two dependent cache misses before
        // the key's). A rule's keys all encode its `group by` values one after another, each
        // self-delimiting (`gkey`), so no key is a proper prefix of another: bytes equal to
        // `key` from `key_at` on are that group's whole key.
        let same = |s: &Slot| {
            s.hash == hash
                && match s.key_at {
                    u32::MAX => key_of(keys, groups, s.group as usize) == key,
                    at => same_key(keys, at as usize, key),
                }
        };
        // A lookup, then an insert for a new group only: most events find their group (row
        // (f): 81% of them), and `entry` readies an insert slot on every lookup.
        let (i, new) = match table.find(hash, same) {
            Some(s) => (s.group as usize, false),
            None => {
                let i = groups.len();
                // Past 4 GiB of key bytes (u32::MAX: through the group) or groups, the
                // comparison goes through the group.
                let key_at = u32::try_from(keys.len()).unwrap_or(u32::MAX);
                groups.push(Group {
                    key_at: keys.len(),
                    events: 0,
                });
                keys.extend_from_slice(key);
                new(accs);
                let group = u32::try_from(i).unwrap_or(u32::MAX);
                let key_at = if group == u32::MAX { u32::MAX } else { key_at };
                table.insert_unique(
                    hash,
                    Slot {
                        hash,
                        group,
                        key_at,
                    },
                    |s| s.hash,
                );
                (i, true)
            }
        };
        if let Some(g) = groups.get_mut(i) {
            g.events += events;
        }
        (i, new)
    }

    /// The event count of each group, by group number.
    #[cfg(test)]
    fn events(&self) -> Vec<u64> {
        self.groups.iter().map(|g| g.events).collect()
    }

    /// The accumulators of group `i`.
    fn accs_mut(&mut self, i: usize) -> &mut [Acc] {
        let s = self.stride;
        self.accs.get_mut(i * s..(i + 1) * s).unwrap_or(&mut [])
    }

    fn len(&self) -> usize {
        self.groups.len()
    }
}

/// A `distinct` value, hashed as its [`ValRef`] so that a borrowed value ([`ValProbe`]) finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DistinctVal(Value);

impl Hash for DistinctVal {
    fn hash<H: Hasher>(&self, h: &mut H) {
        ValRef::of(&self.0).hash(h);
    }
}

struct ValProbe<'a>(ValRef<'a>);

impl Hash for ValProbe<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}

impl Equivalent<DistinctVal> for ValProbe<'_> {
    fn equivalent(&self, k: &DistinctVal) -> bool {
        self.0 == ValRef::of(&k.0)
    }
}

/// The state of an aggregate other than `count()`, which is its group's event count (so a
/// group of a rule that only counts holds no accumulator: no allocation).
#[derive(Debug, Clone)]
enum Acc {
    Distinct(Distinct),
    Sum(Option<i64>),
    Min(Option<Value>),
    Max(Option<Value>),
}

/// The values of a `distinct` aggregate. Most groups see a handful of values: a few IPv4
/// addresses (the common case, `distinct(remote.ip)`) are held inline, in the accumulator
/// itself, with no allocation and no pointer to follow per event (issue 15, row (f): the
/// vector they were in was a cache miss per event and an allocation per group); past those,
/// addresses alone go on in a vector of addresses (4 bytes each, compared as integers), other
/// values in a short vector of values, either taking one small allocation where an
/// empty-then-one-element hash set takes ~150 bytes, and a boxed set keeps every accumulator
/// small (issue 9: memory per group).
#[derive(Debug, Clone)]
enum Distinct {
    /// Up to [`INLINE_V4`] IPv4 addresses, the first `len` of `ips`; the first value of another
    /// type turns it into `Few`, one address more into `V4s`.
    V4 {
        len: u8,
        ips: [Ipv4Addr; INLINE_V4],
    },
    /// More IPv4 addresses, up to [`FEW_V4`]; a value of another type, or one address more,
    /// turns it into `Many`. Row (f)'s groups (an hour of one host's connections) hold up to
    /// 22 addresses, 30% of them more than fit inline: as values in a vector and then a hash
    /// set, with an allocation at each step, their inserts and merges were 1.4% of its
    /// instructions.
    V4s(Vec<Ipv4Addr>),
    Few(Vec<Value>),
    // Boxed on purpose: a `HashSet` is 48 bytes inline and would widen every accumulator of
    // every group; the box is one pointer, and only groups past `FEW` values pay for it.
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<DistinctVal, Seeded>>),
}

/// IPv4 addresses held inline: as many as fit beside the enum's tag in the room the other forms
/// take (a vector and the tag, 32 bytes), so that the inline form does not widen the
/// accumulator.
const INLINE_V4: usize = 7;

/// Values kept in a vector before switching to a hash set (linear search stays cheap).
const FEW: usize = 8;

/// IPv4 addresses kept in a vector before switching to a hash set: a linear search of 32
/// integers stays cheaper than hashing one value.
const FEW_V4: usize = 32;

impl Distinct {
    fn new() -> Distinct {
        Distinct::V4 {
            len: 0,
            ips: [Ipv4Addr::UNSPECIFIED; INLINE_V4],
        }
    }

    /// [`Distinct::insert`] of an IPv4 address.
    #[inline(always)]
    fn insert_v4(&mut self, ip: Ipv4Addr) {
        match self {
            Distinct::V4 { len, ips } => {
                let held = ips.get(..usize::from(*len)).unwrap_or(&[]);
                if held.contains(&ip) {
                    return;
                }
                if let Some(slot) = ips.get_mut(usize::from(*len)) {
                    *slot = ip;
                    *len += 1;
                    return;
                }
                let mut xs = Vec::with_capacity(2 * INLINE_V4 + 2);
                xs.extend_from_slice(ips);
                xs.push(ip);
                *self = Distinct::V4s(xs);
            }
            Distinct::V4s(xs) if xs.contains(&ip) => {}
            Distinct::V4s(xs) if xs.len() < FEW_V4 => xs.push(ip),
            _ => self.insert(ValRef::Ip(IpAddr::V4(ip))),
        }
    }

    fn insert(&mut self, v: ValRef<'_>) {
        match (&mut *self, v) {
            (Distinct::V4 { .. }, ValRef::Ip(IpAddr::V4(ip))) => self.insert_v4(ip),
            (Distinct::V4s(xs), ValRef::Ip(IpAddr::V4(ip)))
                if xs.contains(&ip) || xs.len() < FEW_V4 =>
            {
                self.insert_v4(ip)
            }
            (Distinct::V4 { .. } | Distinct::V4s(_), _) => {
                self.widen();
                self.insert(v);
            }
            (Distinct::Few(xs), _) if xs.iter().any(|x| ValRef::of(x) == v) => {}
            (Distinct::Few(xs), _) if xs.len() < FEW => xs.push(v.to_value()),
            (Distinct::Few(xs), _) => {
                let mut set: HashSet<DistinctVal, Seeded> = xs.drain(..).map(DistinctVal).collect();
                set.insert(DistinctVal(v.to_value()));
                *self = Distinct::Many(Box::new(set));
            }
            (Distinct::Many(set), _) => {
                if !set.contains(&ValProbe(v)) {
                    set.insert(DistinctVal(v.to_value()));
                }
            }
        }
    }

    /// The addresses as values: the inline ones in a vector (with room for `FEW`: one
    /// allocation), more of them in a set.
    fn widen(&mut self) {
        let as_value = |a: &Ipv4Addr| Value::Ip(IpAddr::V4(*a));
        match self {
            Distinct::V4 { len, ips } => {
                let mut xs = Vec::with_capacity(FEW);
                let held = ips.get(..usize::from(*len)).unwrap_or(&[]);
                xs.extend(held.iter().map(as_value));
                *self = Distinct::Few(xs);
            }
            Distinct::V4s(xs) => {
                let set = xs.iter().map(|a| DistinctVal(as_value(a))).collect();
                *self = Distinct::Many(Box::new(set));
            }
            Distinct::Few(_) | Distinct::Many(_) => {}
        }
    }

    /// Adds `other`'s values (the smaller set into the larger: the result is the same).
    fn extend(&mut self, mut other: Distinct) {
        if other.len() > self.len() {
            std::mem::swap(self, &mut other);
        }
        match other {
            Distinct::Few(xs) => xs.iter().for_each(|v| self.insert(ValRef::of(v))),
            Distinct::V4 { len, ips } => ips
                .iter()
                .take(usize::from(len))
                .for_each(|ip| self.insert(ValRef::Ip(IpAddr::V4(*ip)))),
            Distinct::V4s(xs) => xs
                .iter()
                .for_each(|ip| self.insert(ValRef::Ip(IpAddr::V4(*ip)))),
            Distinct::Many(set) => set.iter().for_each(|v| self.insert(ValRef::of(&v.0))),
        }
    }

    fn len(&self) -> usize {
        match self {
            Distinct::Few(xs) => xs.len(),
            Distinct::V4 { len, .. } => usize::from(*len),
            Distinct::V4s(xs) => xs.len(),
            Distinct::Many(set) => set.len(),
        }
    }
}

/// What feeding one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// The filter did not hold.
    Unmatched,
    /// The filter held and the event was counted.
    Matched,
    /// The filter held but the event's window was already released: not counted.
    Late,
}

/// The evolving result of one rule over a stream of events.
///
/// Aligned to 128 bytes (a pair of cache lines, which Intel's adjacent-line prefetcher fetches
/// together) so that no two states share a line: each worker's states are one allocation made
/// by the thread that starts the run, one after the other's, and the counts a worker bumps per
/// matching event (`matched`) sat on the line the other worker's state began on. The cores
/// passed that line back and forth on every event (false sharing): row (f) took 1.18 s of CPU
/// on two threads where one thread took about 1.12 s. Aligned, with `run`'s worker slots, it
/// takes 1.11 s on either, and its wall time went from 0.614 to 0.576 s (medians of 10
/// interleaved rounds). The cost: a state takes 256 bytes, one per rule and thread.
#[derive(Debug, Clone, Default)]
#[repr(align(128))]
pub struct RuleState {
    /// Events for which the filter held.
    pub matched: u64,
    /// Matching events an aggregating rule could not place in a window (no `time`).
    pub untimed: u64,
    /// Matching events that fell in an already released window (not counted in any group).
    pub late: u64,
    /// Alerts of a rule without aggregation, encoded (see [`Batch`]).
    alerts: Batch,
    /// Aggregation groups by window start.
    windows: BTreeMap<i64, Window>,
    /// Windows starting before this were released: an event in one of them is late.
    released_before: Option<i64>,
    /// Groups the next new window is made with room for: the most a window held when the
    /// state was last drained, so that a worker's window, made anew after every barrier, does
    /// not grow (and rehash) from empty each time. Taken by one window only: memory stays within
    /// what the drained state held, however many windows an unordered input opens.
    room: usize,
    /// The key bytes of that window (taken with `room`).
    room_keys: usize,
}

fn internal(rule: &Rule, msg: String) -> Diagnostic {
    Diagnostic::new(
        Code::E0900,
        format!("rule `{}` cannot be evaluated: {msg}", rule.name),
    )
    .at(rule.span.clone())
}

impl CompiledRule {
    pub fn new(rule: &Rule) -> Result<CompiledRule, Diagnostic> {
        let mut fields: Vec<String> = vec!["time".to_string()];
        let let_names: Vec<&str> = rule.lets.iter().map(|l| l.name.as_str()).collect();
        let mut slot = |f: &FieldRef| match f {
            FieldRef::Field(n) => match fields.iter().position(|x| x == n) {
                Some(i) => i,
                None => {
                    fields.push(n.clone());
                    fields.len() - 1
                }
            },
            FieldRef::Computed(n) => let_names.iter().position(|x| x == n).unwrap_or(usize::MAX),
            FieldRef::Aggregate(_) => 0,
        };
        let filter =
            CompiledExpr::numbered(&rule.filter, &mut slot).map_err(|m| internal(rule, m))?;
        let mut lets = Vec::new();
        for l in &rule.lets {
            let mut arms = Vec::new();
            for (cond, v) in &l.arms {
                arms.push((
                    CompiledExpr::numbered(cond, &mut slot).map_err(|m| internal(rule, m))?,
                    v.clone(),
                ));
            }
            lets.push(CompiledLet {
                name: l.name.clone(),
                arms,
                default: l.default.clone(),
            });
        }
        let having = match rule.aggregation.as_ref().and_then(|a| a.having.as_ref()) {
            Some(h) => Some(CompiledExpr::new(h).map_err(|m| internal(rule, m))?),
            None => None,
        };
        let (group_by, agg_args) = match &rule.aggregation {
            Some(agg) => (
                agg.group_by.iter().map(|f| (f.clone(), slot(f))).collect(),
                agg.aggregates
                    .iter()
                    .map(|a| match &a.func {
                        AggFunc::Count => None,
                        AggFunc::DistinctCount(f)
                        | AggFunc::Sum(f)
                        | AggFunc::Min(f)
                        | AggFunc::Max(f) => Some((f.clone(), slot(f))),
                    })
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let (group_order, agg_order) = match &rule.aggregation {
            Some(agg) => (
                key_order(agg.group_by.iter().map(FieldRef::name)),
                key_order(agg.aggregates.iter().map(|a| a.name.as_str())),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let meta = Arc::new(AlertMeta {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            severity: rule.meta.severity,
            techniques: rule.meta.techniques.clone(),
            analytics: rule.meta.analytics.clone(),
        });
        let key_fields = rule.aggregation.as_ref().and_then(|agg| {
            agg.group_by
                .iter()
                .map(|f| match f {
                    FieldRef::Field(n) => Some(n.clone()),
                    _ => None,
                })
                .collect::<Option<Arc<[String]>>>()
        });
        Ok(CompiledRule {
            stride: agg_args.iter().flatten().count(),
            key_fields,
            filter_reads_lets: filter.reads_computed(),
            rule: rule.clone(),
            filter,
            lets,
            having,
            fields,
            group_by,
            agg_args,
            group_order,
            agg_order,
            meta,
        })
    }

    /// Where the fields this rule reads are among `names` (an input schema's catalogue fields,
    /// or one abstract event's).
    pub fn bind<N: AsRef<str>>(&self, names: &[N]) -> Binding {
        self.fields
            .iter()
            .map(|f| names.iter().position(|n| n.as_ref() == f))
            .collect()
    }

    /// The computed fields' values (`None`: no arm held and no default), in `lets` order.
    fn compute_lets<'a, F>(&'a self, field: &F) -> Vec<Option<&'a Value>>
    where
        F: Fn(usize) -> Option<ValRef<'a>>,
    {
        self.lets
            .iter()
            .map(|l| {
                l.arms
                    .iter()
                    .find(|(c, _)| {
                        c.eval_ref(&|f: &FieldRef, k| match f {
                            FieldRef::Field(_) => field(k),
                            _ => None,
                        })
                    })
                    .map(|(_, v)| v)
                    .or(l.default.as_ref())
            })
            .collect()
    }

    /// Whether the filter holds for `ev` (computing lets only if the filter reads them).
    pub fn filter_matches(&self, ev: &Event) -> bool {
        let (names, cells) = event_cells(ev);
        let bind = self.bind(&names);
        let field = |k: usize| cell_at(&cells, &bind, k);
        let lets = if self.filter_reads_lets {
            self.compute_lets(&field)
        } else {
            Vec::new()
        };
        self.filter.eval_ref(&|f, k| resolve(f, k, &field, &lets))
    }

    /// The literals the filter pins a field to: for each conjunct of a top-level `and` (or the
    /// filter itself) that is `field == V` or `field in [V, ...]` on a field of the event (not a
    /// list field), with every `V` an integer, a string or an enum value, the field's slot (see
    /// [`CompiledRule::bind`]) and the values as index keys. The filter can only hold on an
    /// event whose value of that field is one of them (`eval::index`).
    pub fn literals(&self) -> Vec<(usize, Vec<Key>)> {
        use crate::ir::Expr;
        let conjuncts: &[Expr] = match &self.rule.filter {
            Expr::And(xs) => xs,
            one => std::slice::from_ref(one),
        };
        conjuncts
            .iter()
            .filter_map(|e| {
                let Expr::Pred(p) = e else { return None };
                if p.each {
                    return None;
                }
                Some((self.slot_of(&p.field)?, super::index::literal_keys(&p.op)?))
            })
            .collect()
    }

    /// Whether the filter reads a computed field (`let`): the rule then computes its lets
    /// before its filter, and no predicate of it is shared (`eval::shared`).
    pub fn filter_reads_lets(&self) -> bool {
        self.filter_reads_lets
    }

    /// The slot number (see [`CompiledRule::bind`]) of an event field the rule reads.
    pub fn slot_of(&self, f: &FieldRef) -> Option<usize> {
        match f {
            FieldRef::Field(name) => self.fields.iter().position(|x| x == name),
            _ => None,
        }
    }

    /// Whether the rule aggregates (has windows to release).
    pub fn aggregates(&self) -> bool {
        self.rule.aggregation.is_some()
    }

    /// Feeds one abstract event.
    pub fn feed(&self, ev: &Event, st: &mut RuleState) -> Fed {
        let (names, cells) = event_cells(ev);
        let bind = self.bind(&names);
        self.feed_cells(&names, &cells, &bind, st, &mut EventKeys::default())
    }

    /// Whether the filter holds on an event's `cells` under `bind` (computed fields first when
    /// it reads one), changing no state: what [`CompiledRule::feed_cells`] tests first.
    pub fn holds(&self, cells: &[Option<Cell<'_>>], bind: &[Option<usize>]) -> bool {
        let field = |k: usize| cell_at(cells, bind, k);
        let early = if self.filter_reads_lets {
            self.compute_lets(&field)
        } else {
            Vec::new()
        };
        self.filter.eval_ref(&|f, k| resolve(f, k, &field, &early))
    }

    /// Feeds one event given as its fields' `names` and `cells` (an input schema's, in its
    /// order), with `bind` from [`CompiledRule::bind`] over the same names; `keys`: the group
    /// keys of this event so far (cleared by the caller before each event).
    pub fn feed_cells<N: AsRef<str>>(
        &self,
        names: &[N],
        cells: &[Option<Cell<'_>>],
        bind: &[Option<usize>],
        st: &mut RuleState,
        keys: &mut EventKeys,
    ) -> Fed {
        let field = |k: usize| cell_at(cells, bind, k);
        let early = if self.filter_reads_lets {
            self.compute_lets(&field)
        } else {
            Vec::new()
        };
        if !self.filter.eval_ref(&|f, k| resolve(f, k, &field, &early)) {
            return Fed::Unmatched;
        }
        self.feed_held(
            names,
            cells,
            bind,
            st,
            keys,
            self.filter_reads_lets.then_some(early),
        )
    }

    /// [`CompiledRule::feed_cells`] of an event on which the caller found the filter holds
    /// (`eval::shared`, which only takes filters that read no computed field).
    pub fn feed_matched<N: AsRef<str>>(
        &self,
        names: &[N],
        cells: &[Option<Cell<'_>>],
        bind: &[Option<usize>],
        st: &mut RuleState,
        keys: &mut EventKeys,
    ) -> Fed {
        self.feed_held(names, cells, bind, st, keys, None)
    }

    /// Counts and aggregates an event the filter holds on (`lets`: the computed fields, when
    /// the filter needed them first).
    fn feed_held<'a, N: AsRef<str>>(
        &'a self,
        names: &[N],
        cells: &'a [Option<Cell<'_>>],
        bind: &[Option<usize>],
        st: &mut RuleState,
        keys: &mut EventKeys,
        lets: Option<Vec<Option<&'a Value>>>,
    ) -> Fed {
        let field = |k: usize| cell_at(cells, bind, k);
        st.matched += 1;
        let lets = match lets {
            Some(l) => l,
            None => self.compute_lets(&field),
        };
        let look = |f: &FieldRef, k: usize| resolve(f, k, &field, &lets);
        let Some(agg) = &self.rule.aggregation else {
            // Encoded as the sink holds it (the rule's shared metadata, entries in key order)
            // from the event's cells, with no `String` per field: as a held alert, each of its
            // dozen fields was a name and a value allocated, then freed once encoded, about a
            // fifth of the 1,000-rule benchmark's time in the allocator (issue 15, row (h)).
            // Made at its full size at once (collected, it grew by doubling: three reallocations
            // an alert).
            let mut group: Vec<(&str, ValRef<'_>)> =
                Vec::with_capacity(names.len() + self.lets.len());
            group.extend(names.iter().zip(cells).filter_map(|(n, c)| {
                let v = c.as_ref()?.get();
                (!v.is_missing()).then(|| (n.as_ref(), v))
            }));
            for (l, v) in self.lets.iter().zip(&lets) {
                if let Some(v) = v {
                    group.push((l.name.as_str(), ValRef::of(v)));
                }
            }
            st.alerts.add_ref(&AlertRef {
                meta: &self.meta,
                window_start: None,
                window_end: None,
                group: &key_ordered(group),
                aggregates: &[],
                events: 1,
            });
            return Fed::Matched;
        };
        let Some(ValRef::Timestamp(t)) = field(0) else {
            st.untimed += 1;
            return Fed::Matched;
        };
        let start = time::window_start(t, agg.window);
        if st.released_before.is_some_and(|r| start < r) {
            st.late += 1;
            return Fed::Late;
        }
        let key_of = |(f, k): &(FieldRef, usize)| look(f, *k).filter(|v| !v.is_missing());
        let encode = |out: &mut Vec<u8>| {
            for g in &self.group_by {
                gkey::push(out, key_of(g));
            }
        };
        let (hash, key): (u64, &[u8]) = match &self.key_fields {
            Some(fields) => {
                let hasher = keys.hasher;
                let shared = keys.of(fields, &hasher, encode);
                (shared.hash, &shared.bytes)
            }
            None => {
                keys.own.clear();
                encode(&mut keys.own);
                (keys.hasher.hash_one(keys.own.as_slice()), &keys.own)
            }
        };
        let (stride, room, room_keys) = (self.stride, &mut st.room, &mut st.room_keys);
        let window = st.windows.entry(start).or_insert_with(|| {
            Window::new(stride, std::mem::take(room), std::mem::take(room_keys))
        });
        let (g, _) = window.group(hash, key, 1, |accs| self.new_accs(agg, accs));
        // `agg_args` has no argument for a `count()`, which has no accumulator either.
        for ((f, k), acc) in self.agg_args.iter().flatten().zip(window.accs_mut(g)) {
            // A field's IPv4 address into a `distinct`, the common case (`distinct(remote.ip)`),
            // read from its cell in place, as `look` would give it (an address is never
            // missing). Made a `ValRef` first, the address went through the stack in two
            // overlapping 4-byte moves read back at once, a store-forwarding stall each time
            // (perf, row (f): a fifth of this function's cycles).
            if let (Acc::Distinct(set), FieldRef::Field(_)) = (&mut *acc, f) {
                if let Some(Cell::Ip(IpAddr::V4(ip))) = cell_ref(cells, bind, *k) {
                    set.insert_v4(*ip);
                    continue;
                }
            }
            let v = look(f, *k).filter(|v| !v.is_missing());
            match acc {
                Acc::Distinct(set) => {
                    if let Some(v) = v {
                        set.insert(v);
                    }
                }
                Acc::Sum(s) => {
                    if let Some(ValRef::Int(x)) = v {
                        *s = Some(s.unwrap_or(0).saturating_add(x));
                    }
                }
                Acc::Min(m) => {
                    if let Some(v) = v {
                        if m.as_ref().is_none_or(|cur| v < ValRef::of(cur)) {
                            *m = Some(v.to_value());
                        }
                    }
                }
                Acc::Max(m) => {
                    if let Some(v) = v {
                        if m.as_ref().is_none_or(|cur| v > ValRef::of(cur)) {
                            *m = Some(v.to_value());
                        }
                    }
                }
            }
        }
        Fed::Matched
    }

    /// A new group's accumulators, appended to `accs`: one per aggregate but `count()`.
    fn new_accs(&self, agg: &crate::ir::Aggregation, accs: &mut Vec<Acc>) {
        accs.extend(agg.aggregates.iter().filter_map(|a| match a.func {
            AggFunc::Count => None,
            AggFunc::DistinctCount(_) => Some(Acc::Distinct(Distinct::new())),
            AggFunc::Sum(_) => Some(Acc::Sum(None)),
            AggFunc::Min(_) => Some(Acc::Min(None)),
            AggFunc::Max(_) => Some(Acc::Max(None)),
        }));
    }

    /// The alerts of a finished run, sorted deterministically.
    pub fn finish(&self, st: RuleState) -> Vec<Alert> {
        let mut out: Vec<Alert> = self.finish_held(st).map(Alert::from).collect();
        super::sort_alerts(&mut out);
        out
    }

    /// The alerts of a finished run as the sink holds them, not sorted (the sink sorts).
    pub fn finish_held(&self, st: RuleState) -> impl Iterator<Item = Held> + '_ {
        // Window by window, so that a caller passing them on (the run's sink) holds one
        // window's alerts at a time, not the last windows' of the whole input at once (the
        // run's peak memory was at its end).
        let windows = st.windows.into_iter().flat_map(|(start, groups)| {
            let mut out = Vec::new();
            self.window_alerts(start, groups, &mut |a| out.push(a.to_held()));
            out
        });
        st.alerts.held().into_iter().chain(windows)
    }

    /// The alerts of a finished run encoded into `batch` (not sorted: the sink sorts), which
    /// is passed to `pass` each time it is full ([`Batch::add_ref_passing`]): what
    /// [`CompiledRule::finish_held`] holds, with no held alert made per window's alert.
    pub fn finish_into(
        &self,
        mut st: RuleState,
        batch: &mut Batch,
        pass: &mut dyn FnMut(&mut Batch),
    ) {
        batch.append_passing(&mut st.alerts, &mut *pass);
        for (start, groups) in st.windows {
            self.window_alerts(start, groups, &mut |a| batch.add_ref_passing(a, &mut *pass));
        }
    }

    /// The first window start still open when the input is at `watermark` and events may come
    /// up to `lateness` seconds behind it: every window starting earlier ends at least
    /// `lateness` before the watermark (`start + window + lateness <= watermark`). `None` for a
    /// rule without aggregation.
    pub fn open_from(&self, watermark: i64, lateness: u64) -> Option<i64> {
        let w = i128::from(self.rule.aggregation.as_ref()?.window.max(1));
        // Latest start with start + w + lateness <= watermark, then the next window.
        let last = i128::from(watermark) - i128::from(lateness) - w;
        let last_start = last - last.rem_euclid(w);
        Some(i64::try_from(last_start + w).unwrap_or(if last_start < 0 {
            i64::MIN
        } else {
            i64::MAX
        }))
    }

    /// Releases the windows of `st` that start before `open_from`: returns their alerts (not
    /// sorted) and frees their groups; an event fed afterwards into such a window is late.
    pub fn release(&self, st: &mut RuleState, open_from: i64) -> Vec<Held> {
        let mut out = Vec::new();
        self.release_into(st, open_from, &mut |a| out.push(a.to_held()));
        out
    }

    /// [`CompiledRule::release`] passing each alert, borrowed, to `emit` (the run encodes it
    /// at once: no held alert made).
    pub fn release_into(
        &self,
        st: &mut RuleState,
        open_from: i64,
        emit: &mut dyn FnMut(&AlertRef<'_>),
    ) {
        st.close_before(open_from);
        let open = st.windows.split_off(&open_from);
        let done = std::mem::replace(&mut st.windows, open);
        for (start, groups) in done {
            self.window_alerts(start, groups, emit);
        }
    }

    /// The alerts of one finished window (groups whose `having` holds), passed to `emit`:
    /// borrowed, their group and aggregates in key order (no map, no string per alert).
    fn window_alerts(&self, start: i64, groups: Window, emit: &mut dyn FnMut(&AlertRef<'_>)) {
        let Some(agg) = &self.rule.aggregation else {
            return;
        };
        let window = i64::try_from(agg.window).unwrap_or(i64::MAX);
        let (window_start, window_end) = (
            time::format(start),
            time::format(start.saturating_add(window)),
        );
        let mut accs: Vec<Option<Value>> = Vec::with_capacity(agg.aggregates.len());
        let Window {
            keys: key_bytes,
            groups: all,
            accs: all_accs,
            stride,
            ..
        } = groups;
        let mut all_accs = all_accs.into_iter();
        // A name in `having` that is a group key: its values are decoded before `having`, not
        // only for the groups that pass it (`having connections >= 5` reads none: row (f)'s
        // 29,000 groups that fail it decoded their keys for nothing).
        let having_reads_keys = !agg.group_by.is_empty()
            && self
                .having
                .as_ref()
                .is_some_and(|h| h.reads(&|f| !matches!(f, FieldRef::Aggregate(_))));
        // Reused from group to group: the key's values (borrowed from `key_bytes`) and the
        // alert's group entries.
        let mut key_refs: Vec<Option<ValRef<'_>>> = Vec::with_capacity(agg.group_by.len());
        let mut group: Vec<(&str, ValRef<'_>)> = Vec::with_capacity(agg.group_by.len());
        // The alert's aggregates' allocation, kept from alert to alert (they borrow `accs`,
        // remade per group): a vector made and freed per alert was 27M instructions of row
        // (f)'s 90,841 alerts, 1M lines.
        let mut agg_room: Vec<(&str, ValRef<'static>)> = Vec::with_capacity(self.agg_order.len());
        for (i, g) in all.iter().enumerate() {
            let events = g.events;
            accs.clear();
            let mut held = all_accs.by_ref().take(stride);
            accs.extend(agg.aggregates.iter().map(|a| match a.func {
                AggFunc::Count => Some(Value::Int(i64::try_from(events).unwrap_or(i64::MAX))),
                _ => match held.next()? {
                    Acc::Distinct(s) => {
                        Some(Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX)))
                    }
                    Acc::Sum(s) => s.map(Value::Int),
                    Acc::Min(m) | Acc::Max(m) => m,
                },
            }));
            // Each aggregate but `count()` took its own: the next group's come next.
            held.for_each(drop);
            let key = key_of(&key_bytes, &all, i);
            let mut keys: Option<Vec<Option<Value>>> = None;
            if having_reads_keys {
                keys = gkey::values(key);
                if keys.is_none() {
                    continue;
                }
            }
            // `having` first, on the values by position (a name's last, as `key_order` keeps):
            // most groups of a window fail it, and they then cost no names and no decoded key
            // (issue 15, point 3: many rules, mostly one-event groups).
            let holds = match &self.having {
                None => true,
                Some(h) => h.eval(&|f: &FieldRef| match f {
                    FieldRef::Aggregate(n) => {
                        let i = agg.aggregates.iter().rposition(|a| a.name == *n)?;
                        accs.get(i)?.as_ref()
                    }
                    other => {
                        let i = agg
                            .group_by
                            .iter()
                            .rposition(|g| g.name() == other.name())?;
                        keys.as_ref()?.get(i)?.as_ref()
                    }
                }),
            };
            if !holds || gkey::refs(key, &mut key_refs).is_none() {
                continue;
            }
            // Each position once (`group_order` and `agg_order` name each once), as the held
            // alert took them.
            group.clear();
            group.extend(
                self.group_order
                    .iter()
                    .filter_map(|&i| Some((agg.group_by.get(i)?.name(), (*key_refs.get(i)?)?))),
            );
            let mut aggregates: Vec<(&str, ValRef<'_>)> =
                super::read::reuse(std::mem::take(&mut agg_room));
            aggregates.extend(self.agg_order.iter().filter_map(|&i| {
                let v = accs.get(i)?.as_ref()?;
                Some((agg.aggregates.get(i)?.name.as_str(), ValRef::of(v)))
            }));
            emit(&AlertRef {
                meta: &self.meta,
                window_start: Some(&window_start),
                window_end: Some(&window_end),
                group: &group,
                aggregates: &aggregates,
                events,
            });
            agg_room = super::read::reuse(aggregates);
        }
    }
}

/// An abstract event as names and cells, for [`CompiledRule::feed_cells`].
pub(super) fn event_cells(ev: &Event) -> (Vec<&str>, Vec<Option<Cell<'_>>>) {
    ev.iter()
        .map(|(k, v)| (k.as_str(), Some(Cell::of(v))))
        .unzip()
}

/// The value of the rule's field number `k` in an event's `cells` under `bind`.
fn cell_at<'a>(
    cells: &'a [Option<Cell<'_>>],
    bind: &[Option<usize>],
    k: usize,
) -> Option<ValRef<'a>> {
    cell_ref(cells, bind, k).map(Cell::get)
}

/// The cell of field `k` through `bind`, as it is (see [`cell_at`]).
#[inline]
fn cell_ref<'a, 'c>(
    cells: &'a [Option<Cell<'c>>],
    bind: &[Option<usize>],
    k: usize,
) -> Option<&'a Cell<'c>> {
    let i = (*bind.get(k)?)?;
    cells.get(i)?.as_ref()
}

/// A predicate's value: a field through `field`, a computed field from `lets`.
fn resolve<'a, F>(
    f: &FieldRef,
    k: usize,
    field: &F,
    lets: &[Option<&'a Value>],
) -> Option<ValRef<'a>>
where
    F: Fn(usize) -> Option<ValRef<'a>>,
{
    match f {
        FieldRef::Field(_) => field(k),
        FieldRef::Computed(_) => lets.get(k).copied().flatten().map(ValRef::of),
        FieldRef::Aggregate(_) => None,
    }
}

impl RuleState {
    /// Folds another partial state of the same rule into this one.
    pub fn merge(&mut self, other: RuleState) {
        self.matched += other.matched;
        self.untimed += other.untimed;
        self.late += other.late;
        let mut alerts = other.alerts;
        self.alerts.append(&mut alerts);
        self.released_before = self.released_before.max(other.released_before);
        for (start, groups) in other.windows {
            match self.windows.entry(start) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(groups);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    merge_window(o.get_mut(), groups)
                }
            }
        }
    }

    /// Takes everything this state holds, leaving it empty but still knowing which windows
    /// were released (so that it keeps calling later events into them late).
    pub fn drain(&mut self) -> RuleState {
        self.drain_before(None)
    }

    /// Takes the counts, the alerts held and the windows starting before `cut` (every window
    /// with `None`), keeping the later windows and which windows were released. A thread's
    /// windows still open stay with it across a release point instead of being merged and made
    /// again for its next events (issue 15, row (f): each group was made about 2.4 times, its
    /// partial groups merged one by one at every release point).
    pub fn drain_before(&mut self, cut: Option<i64>) -> RuleState {
        let kept = match cut {
            Some(c) => self.windows.split_off(&c),
            None => BTreeMap::new(),
        };
        let released_before = self.released_before;
        // Nothing drained: the room kept for the next new window stays as it was.
        let (room, room_keys) = self
            .windows
            .values()
            .map(|w| (w.len(), w.keys.len()))
            .max()
            .unwrap_or((self.room, self.room_keys));
        let out = std::mem::take(self);
        self.windows = kept;
        self.released_before = released_before;
        self.room = room;
        self.room_keys = room_keys;
        out
    }

    /// Marks the windows starting before `open_from` as released: events into them are late.
    pub fn close_before(&mut self, open_from: i64) {
        self.released_before = self.released_before.max(Some(open_from));
    }

    /// Sets where released windows end for the events fed next (the frontier of the file they
    /// come from: files read at once each have their own, see `run`).
    pub fn set_released_before(&mut self, open_from: Option<i64>) {
        self.released_before = open_from;
    }

    /// Takes the alerts held (of a rule without aggregation), to be passed on as the run goes.
    pub fn take_alerts(&mut self) -> Batch {
        std::mem::take(&mut self.alerts)
    }

    /// Moves the alerts held into `batch` ([`Batch::append_passing`]), this state keeping its
    /// buffers for the next ones.
    pub fn move_alerts(&mut self, batch: &mut Batch, pass: impl FnMut(&mut Batch)) {
        batch.append_passing(&mut self.alerts, pass);
    }

    /// This state as parts that finish apart to the alerts it finishes to: the alerts held, then
    /// each window on its own, so that the end of a run spreads the windows of one rule over
    /// threads (row (f): one rule's last windows were finished on one core).
    pub fn into_parts(self) -> Vec<RuleState> {
        let mut parts = Vec::with_capacity(self.windows.len() + 1);
        let windows = self.windows;
        parts.push(RuleState {
            alerts: self.alerts,
            ..RuleState::default()
        });
        parts.extend(windows.into_iter().map(|(start, w)| RuleState {
            windows: BTreeMap::from([(start, w)]),
            ..RuleState::default()
        }));
        parts
    }

    /// The start of the state's first window.
    pub fn first_start(&self) -> Option<i64> {
        self.windows.keys().next().copied()
    }

    /// Whether the state holds no alert and no window (it finishes to nothing).
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.windows.is_empty()
    }

    /// Number of aggregation groups held (the memory bound).
    pub fn groups(&self) -> usize {
        self.windows.values().map(Window::len).sum()
    }

    /// About how much work merging or finishing this state is: its groups and its held alerts
    /// (see `run::on_threads`).
    pub fn weight(&self) -> usize {
        self.groups() + self.alerts.len()
    }
}

/// Folds the groups of one window into another's (the smaller into the larger: every
/// aggregate is commutative, so the result is the same, and fewer groups move). Keys are copied
/// as bytes (and hashed again: a few bytes, cheaper than a hash kept per group); accumulators
/// move.
fn merge_window(mine: &mut Window, mut other: Window) {
    if other.len() > mine.len() {
        std::mem::swap(mine, &mut other);
    }
    let Window {
        keys, groups, accs, ..
    } = other;
    let stride = mine.stride;
    let hasher = Seeded::default();
    let mut accs = accs.into_iter();
    for (j, g) in groups.iter().enumerate() {
        let key = key_of(&keys, &groups, j);
        let (i, new) = mine.group(hasher.hash_one(key), key, g.events, |a| {
            a.extend(accs.by_ref().take(stride))
        });
        if new {
            continue;
        }
        for (a, b) in mine.accs_mut(i).iter_mut().zip(accs.by_ref().take(stride)) {
            match (a, b) {
                (Acc::Distinct(x), Acc::Distinct(y)) => x.extend(y),
                (Acc::Sum(x), Acc::Sum(y)) => {
                    *x = match (*x, y) {
                        (Some(p), Some(q)) => Some(p.saturating_add(q)),
                        (p, q) => p.or(q),
                    }
                }
                (Acc::Min(x), Acc::Min(Some(y))) if x.as_ref().is_none_or(|c| &y < c) => {
                    *x = Some(y)
                }
                (Acc::Max(x), Acc::Max(Some(y))) if x.as_ref().is_none_or(|c| &y > c) => {
                    *x = Some(y)
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A held key compares equal to a key exactly when their bytes are equal: at every length
    /// across the word paths' edges (7, 8, 16, 17, 32, 33), a difference in any one byte, held
    /// at any offset, and a key running past the end of what is held.
    #[test]
    fn same_key_is_byte_equality() {
        for n in 0..=40usize {
            let key: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            for at in [0usize, 1, 5] {
                let mut keys = vec![0xeeu8; at];
                keys.extend_from_slice(&key);
                keys.extend_from_slice(b"tail");
                assert!(same_key(&keys, at, &key), "n={n} at={at}");
                for i in 0..n {
                    let mut other = keys.clone();
                    other[at + i] ^= 0x40;
                    assert!(!same_key(&other, at, &key), "n={n} at={at} i={i}");
                }
                // Past the end of the held bytes.
                assert_eq!(
                    same_key(&keys[..at + n.saturating_sub(1)], at, &key),
                    n == 0
                );
            }
        }
    }

    /// Group keys as bytes: equal exactly when the values are (variant and content), and
    /// decoded back unchanged, on values whose encodings could run together (a string that ends
    /// where another key begins, lengths at the one- and two-byte edges of the length prefix,
    /// a 0 byte, a string and a symbol of the same text, an address in both families).
    #[test]
    fn group_keys_encode_values_one_to_one() {
        let long = |n: usize| "x".repeat(n);
        let texts: Vec<String> = ["", "a", "a\0", "\u{1}b", "é"]
            .iter()
            .map(|s| s.to_string())
            .chain([127, 128, 129, 16_383, 16_384].map(long))
            .collect();
        let mut values: Vec<Option<Value>> = vec![None];
        for t in &texts {
            values.push(Some(Value::Str(t.clone())));
            values.push(Some(Value::Enum(t.clone())));
        }
        values.extend(
            [
                Value::Int(0),
                Value::Int(-1),
                Value::Int(i64::MIN),
                Value::Timestamp(0),
                Value::Timestamp(-1),
                Value::Ip(IpAddr::from([10, 0, 0, 1])),
                Value::Ip("::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0; 16]))),
            ]
            .map(Some),
        );
        let enc = |vs: &[&Option<Value>]| {
            let mut out = Vec::new();
            for v in vs {
                gkey::push(&mut out, v.as_ref().map(ValRef::of));
            }
            out
        };
        let mut keys: Vec<(Vec<&Option<Value>>, Vec<u8>)> = Vec::new();
        for a in &values {
            keys.push((vec![a], enc(&[a])));
            for b in values.iter().step_by(3) {
                keys.push((vec![a, b], enc(&[a, b])));
            }
        }
        for (vs, bytes) in &keys {
            let back = gkey::values(bytes);
            let want: Vec<Option<Value>> = vs.iter().map(|v| (*v).clone()).collect();
            assert_eq!(back.as_ref(), Some(&want));
        }
        for (x, bx) in &keys {
            for (y, by) in keys.iter().step_by(7) {
                assert_eq!(x == y, bx == by, "{x:?} {y:?}");
            }
        }
    }

    /// A window finds each key's group by its bytes, whatever keys sit next to it in the key
    /// buffer (a key that is a prefix of another's text, an empty one, a missing one, two
    /// values), through the table's growth, and a merge of two
    /// windows adds their counts group by group.
    #[test]
    fn window_groups_are_found_by_their_whole_key() {
        let hasher = Seeded::default();
        let texts: Vec<String> = ["", "a", "ab", "abc", "b", "\u{1}", "é"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..600).map(|i| format!("WS{i:05}.corp")))
            .collect();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for t in &texts {
            for second in [None, Some(ValRef::Int(7)), Some(ValRef::Str(t))] {
                let mut k = Vec::new();
                gkey::push(&mut k, Some(ValRef::Str(t)));
                gkey::push(&mut k, second);
                keys.push(k);
            }
        }
        let mut k = Vec::new();
        gkey::push(&mut k, None);
        gkey::push(&mut k, None);
        keys.push(k);
        let (mut w, mut other) = (Window::new(0, 0, 0), Window::new(0, 0, 0));
        for (n, k) in keys.iter().enumerate() {
            let (i, new) = w.group(hasher.hash_one(k.as_slice()), k, 1, |_| {});
            assert_eq!((i, new), (n, true), "{k:?}");
        }
        for (n, k) in keys.iter().enumerate().rev() {
            let (i, new) = w.group(hasher.hash_one(k.as_slice()), k, 2, |_| {});
            assert_eq!((i, new), (n, false), "{k:?}");
            if n % 2 == 0 {
                other.group(hasher.hash_one(k.as_slice()), k, 10, |_| {});
            }
        }
        assert_eq!(w.events(), vec![3; keys.len()]);
        merge_window(&mut w, other);
        assert_eq!(w.len(), keys.len());
        for (n, k) in keys.iter().enumerate() {
            let (i, _) = w.group(hasher.hash_one(k.as_slice()), k, 0, |_| {});
            let want = if n % 2 == 0 { 13 } else { 3 };
            assert_eq!(w.events().get(i), Some(&want), "{k:?}");
            assert_eq!(key_of(&w.keys, &w.groups, i), k.as_slice());
        }
    }

    /// With every hash equal, a lookup compares each key's bytes where its slot says they
    /// start: a key whose bytes begin another's (the first value of a two-value key alone, a
    /// text and its extension, a missing value and a present one) is still its own group,
    /// found again as itself.
    #[test]
    fn colliding_keys_are_told_apart_by_their_bytes() {
        let vals = [
            None,
            Some(ValRef::Str("")),
            Some(ValRef::Str("a")),
            Some(ValRef::Str("ab")),
            Some(ValRef::Int(0)),
            Some(ValRef::Int(97)),
            Some(ValRef::Ip(IpAddr::V4(Ipv4Addr::new(97, 98, 0, 0)))),
        ];
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for a in vals {
            for b in vals {
                let mut k = Vec::new();
                gkey::push(&mut k, a);
                gkey::push(&mut k, b);
                keys.push(k);
            }
        }
        let mut w = Window::new(0, 0, 0);
        for (n, k) in keys.iter().enumerate() {
            assert_eq!(w.group(7, k, 1, |_| {}), (n, true), "{k:?}");
        }
        for (n, k) in keys.iter().enumerate().rev() {
            assert_eq!(w.group(7, k, 1, |_| {}), (n, false), "{k:?}");
        }
        assert_eq!(w.events(), vec![2; keys.len()]);
    }

    /// The inline addresses of a `distinct` set take no more room than a vector: an accumulator
    /// (one per aggregate and group) is no wider for them.
    #[test]
    fn inline_addresses_do_not_widen_an_accumulator() {
        assert!(std::mem::size_of::<Distinct>() <= 32);
        assert!(std::mem::size_of::<Acc>() <= std::mem::size_of::<Option<Value>>() + 8);
    }

    /// IPv4 addresses one by one, each twice, across the inline form, the vector of addresses
    /// and the set: each counted once, and the count right after every insertion.
    #[test]
    fn distinct_addresses_count_once_across_their_forms() {
        let mut d = Distinct::new();
        for i in 0..40u8 {
            let ip = ValRef::Ip(IpAddr::from([192, 0, 2, i]));
            d.insert(ip);
            d.insert(ip);
            assert_eq!(d.len(), usize::from(i) + 1, "after 192.0.2.{i}");
            let form_ok = match usize::from(i) + 1 {
                n if n <= INLINE_V4 => matches!(d, Distinct::V4 { .. }),
                n if n <= FEW_V4 => matches!(d, Distinct::V4s(_)),
                _ => matches!(d, Distinct::Many(_)),
            };
            assert!(form_ok, "form after {} addresses: {d:?}", i + 1);
        }
        // 0.0.0.0 is a value like any other (the inline form's unused room holds it).
        let mut z = Distinct::new();
        z.insert(ValRef::Ip(IpAddr::from([0, 0, 0, 0])));
        z.insert(ValRef::Ip(IpAddr::from([0, 0, 0, 0])));
        assert_eq!(z.len(), 1);
    }

    /// A `distinct` set counts each value once whatever its form: IPv4 addresses past the
    /// ones held inline, past the eight of a vector of values and past a full vector of
    /// addresses, an IPv6 address or a value of another type among them or after them, and
    /// sets merged either way round.
    #[test]
    fn distinct_counts_each_value_once_in_every_form() {
        let ip = |i: u8| ValRef::Ip(IpAddr::from([10, 0, 0, i]));
        // An IPv6 address (and 10.0.0.1 mapped into IPv6, another value) midway among them.
        let v6 = |s: &str| ValRef::Ip(s.parse::<IpAddr>().unwrap_or(IpAddr::from([0; 16])));
        let others = [ValRef::Str("10.0.0.1"), ValRef::Int(1), ValRef::Str("x")];
        let mixed: Vec<ValRef<'_>> = (0..30u8)
            .map(|i| ip(i % 13))
            .take(4)
            .chain([v6("::ffff:10.0.0.1"), v6("::1")])
            .chain((0..30u8).map(|i| ip(i % 13)))
            .chain(others)
            .collect();
        // Addresses alone past the inline ones (12 of them, then 40), then other values: the
        // vector of addresses turns into a set when another type comes, and when it is full.
        let v4_first = |n: u8| -> Vec<ValRef<'_>> {
            (0..2 * n)
                .map(|i| ip(i % n))
                .chain([v6("::ffff:10.0.0.1")])
                .chain(others)
                .collect()
        };
        for values in [mixed, v4_first(12), v4_first(40)] {
            let want: BTreeSet<Value> = values.iter().map(|v| v.to_value()).collect();
            let mut one = Distinct::new();
            let mut seen = BTreeSet::new();
            for v in &values {
                one.insert(*v);
                seen.insert(v.to_value());
                assert_eq!(one.len(), seen.len(), "after {v:?}");
            }
            for split in 0..values.len() {
                let (a, b) = values.split_at(split);
                let (mut x, mut y) = (Distinct::new(), Distinct::new());
                a.iter().for_each(|v| x.insert(*v));
                b.iter().for_each(|v| y.insert(*v));
                let (mut x2, y2) = (x.clone(), y.clone());
                x.extend(y2);
                assert_eq!(x.len(), want.len(), "merged at {split}");
                y.extend(std::mem::replace(&mut x2, Distinct::new()));
                assert_eq!(y.len(), want.len(), "merged the other way at {split}");
            }
        }
    }
}
