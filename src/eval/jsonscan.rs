//! A flat scanner for one JSON-lines object, the evaluator's full path ([`super::read::LiteRecord`]):
//! one pass over the line marks its quotes and backslashes in 64-bit masks (a string's end, or
//! its first escape, is then a `trailing_zeros`, not a search), then it walks the top-level keys, keeps the values of the keys an input schema reads
//! (strings borrowed from the line unless escaped, numbers parsed from their bytes) and skips the
//! other values while checking them against JSON's grammar, without serde's visitor machinery
//! (which cost about a third of the unselective benchmark row, issue 15).
//!
//! It accepts a subset of what serde_json accepts and, where it accepts, keeps exactly the values
//! serde_json's reader would. On anything else it gives up ([`GiveUp`]) and the caller parses the
//! line with serde_json, which decides and words the error: a bad line, a key written with an
//! escape, a `\u` escape that is not a valid character or surrogate pair in a kept string, a
//! number that is not a plain unsigned integer of up to 19 digits (serde_json parses those),
//! or nesting deeper than [`MAX_DEPTH`]. So every bad line is still reported, with serde_json's
//! message, and the tests below compare the two readers on every short line over a JSON alphabet.

use super::read::LiteVal;
use super::schema::{words, Keys};

/// The scanner cannot decide this line: serde_json's reader does.
#[derive(Debug, PartialEq)]
pub(super) struct GiveUp;

/// Containers nested deeper than this inside a value make the scanner give up (serde_json
/// limits a kept value's depth to 128; skipped values it walks without a limit).
const MAX_DEPTH: usize = 100;

/// What a scan fills: the values kept by key number, the text of kept strings that held
/// escapes, unescaped one after another ([`LiteVal::Text`] ranges into it), and kept objects
/// and arrays ([`LiteVal::Nested`] indexes them). All are reused from line to line by the
/// caller (no allocation per line once they have grown); the values own nothing, so emptying
/// them is free.
#[derive(Debug, Default)]
pub(super) struct Scanned<'a> {
    pub vals: Vec<Option<LiteVal<'a>>>,
    pub text: String,
    pub nested: Vec<serde_json::Value>,
}

impl Scanned<'_> {
    pub(super) const EMPTY: Scanned<'static> = Scanned {
        vals: Vec::new(),
        text: String::new(),
        nested: Vec::new(),
    };
}

/// The top-level keys of the last line scanned on a thread with one [`Keys`], in order, with
/// their numbers: a log writes the same keys in the same order on every line (Sysmon, Zeek,
/// Defender), so the scanner first compares a member's key with the one at the same place in
/// the last line (its length and two words, as [`Keys::find`] compares) and only on a
/// difference checks the key for escapes and looks it up. Kept by the caller from line to line.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// [`Keys::id`] of the keys the steps were found with (none yet: 0 with no steps).
    keys: u64,
    steps: Vec<Step>,
}

impl Plan {
    pub(super) const EMPTY: Plan = Plan {
        keys: 0,
        steps: Vec::new(),
    };
}

/// One member of a [`Plan`]: its key's length and [`words`], its number among the keys (`None`:
/// not read), and for a key past 16 bytes (which two words do not hold) its third word
/// ([`mid`]) and its bytes; and the same for the member as it follows another one written
/// compactly: `,"key":` (see [`planned_run`]).
#[derive(Debug)]
struct Step {
    len: usize,
    words: (u64, u64),
    slot: Option<usize>,
    mid: u64,
    long: Box<[u8]>,
    sep: Box<[u8]>,
    sep_words: (u64, u64),
    sep_mid: u64,
}

/// Bytes 8 to 15 of `b` (0 if shorter): with [`words`] (bytes 0 to 7 and the last 8), every
/// byte of a text of up to 24 bytes, so that one compares without a call to `memcmp` (Sysmon's
/// `,"DestinationIp":` and `,"DestinationPort":` are 17 and 19 bytes: two calls a line).
#[inline(always)]
fn mid(b: &[u8]) -> u64 {
    b.get(8..16)
        .and_then(|w| w.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Whether `b` is `whole`, given that its [`words`] are `whole`'s and `mid_words` is
/// `mid(whole)`; `b` and `whole` have one length.
#[inline(always)]
fn same_rest(b: &[u8], mid_words: u64, whole: &[u8]) -> bool {
    match b.len() {
        ..=16 => true,
        17..=24 => mid(b) == mid_words,
        _ => *b == *whole,
    }
}

impl Step {
    /// Whether `key` (the bytes of a member's key, at their planned place) is this step's key:
    /// then it holds no quote, backslash or control byte either (the step's key was checked).
    #[inline(always)]
    fn is(&self, key: &[u8]) -> bool {
        key.len() == self.len && words(key) == self.words && same_rest(key, self.mid, &self.long)
    }

    /// Whether `s` (as many bytes as [`Step::sep`] after a value) is `,"key":`, this step's key
    /// written compactly after a comma.
    #[inline(always)]
    fn is_sep(&self, s: &[u8]) -> bool {
        words(s) == self.sep_words && same_rest(s, self.sep_mid, &self.sep)
    }

    fn new(key: &str, slot: Option<usize>) -> Step {
        let b = key.as_bytes();
        let sep: Box<[u8]> = [&b",\""[..], b, b"\":"].concat().into();
        Step {
            len: b.len(),
            words: words(b),
            slot,
            mid: mid(b),
            long: if b.len() > 16 {
                b.into()
            } else {
                Box::default()
            },
            sep_words: words(&sep),
            sep_mid: mid(&sep),
            sep,
        }
    }
}

/// One line with its structural index: bit `k` of `masks[j]` is set where byte `64 j + k` is
/// a quote or a backslash, so a string's end (or its first escape) is found with
/// `trailing_zeros`, instead of a search per string. `ctrl`: the line holds a byte below 0x20
/// somewhere (then, and only then, strings are checked for one: JSON refuses them unescaped in
/// a string).
///
/// One mask of both, not one of each: a string that holds no escape (most) ends at its first
/// special byte either way, and one with escapes is walked escape to escape; a mask of each
/// cost a second fold a chunk and a second transpose a chunk with backslashes, and the planned
/// walk a search for the next backslash after each escaped value (f, 100,000 lines, --threads
/// 1: 680.5M -> 662.8M instructions; (b) --no-prefilter 705.6M -> 698.1M).
struct Line<'a, 'm> {
    s: &'a str,
    b: &'a [u8],
    masks: &'m [u64],
    ctrl: bool,
}

/// Writes the mask of a chunk's quotes and backslashes into `out` (bit `k`: byte `k` of `c`),
/// and lowers each byte of `low` to the least of itself and the bytes of `c` at its place
/// modulo 16 (the line holds a control byte when, at its end, some byte of `low` is below
/// 0x20). On x86-64, SSE2 (part of the architecture's baseline, so always there): per 16 bytes
/// two byte compares, an OR and `pmovmskb` give the 16 bits at once, and `pminub` lowers
/// `low`, through `safe_arch` (this crate forbids `unsafe`; calling `core::arch` needs it).
/// A third of the portable version's instructions: (f), 100,000 lines, `--threads 1`,
/// 566.6M -> 545.5M in all (issue 15). Elsewhere [`chunk_mask_portable`].
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn chunk_mask(c: &[u8; 64], out: &mut u64, low: &mut [u8; 16]) {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let quote = set_splat_i8_m128i(b'"' as i8);
    let slash = set_splat_i8_m128i(b'\\' as i8);
    let mut least = load_unaligned_m128i(low);
    let mut m = 0u64;
    for (j, w) in c.chunks_exact(16).enumerate() {
        let Ok(w) = <&[u8; 16]>::try_from(w) else {
            break;
        };
        let v = load_unaligned_m128i(w);
        let hit = bitor_m128i(
            cmp_eq_mask_i8_m128i(v, quote),
            cmp_eq_mask_i8_m128i(v, slash),
        );
        // The mask's 16 bits, one per byte (the sign bits of the compares' 0xff or 0).
        m |= u64::from(move_mask_i8_m128i(hit) as u16) << (16 * j);
        least = min_u8_m128i(least, v);
    }
    *low = least.into();
    *out = m;
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn chunk_mask(c: &[u8; 64], out: &mut u64, low: &mut [u8; 16]) {
    chunk_mask_portable(c, out, low)
}

/// [`chunk_mask`] in plain Rust, where SSE2 is not there. Each byte's flag is first the bit
/// `k / 8` of a byte (vector compares and a mask, as LLVM writes it), ORed into one 16-byte
/// lane, whose two words OR into one (byte `k % 8` holding bits `k / 8`), which a bit-matrix
/// transpose turns into the mask: a third fewer instructions than a multiply-gather of 0/1
/// flags per word (issue 15).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn chunk_mask_portable(c: &[u8; 64], out: &mut u64, low: &mut [u8; 16]) {
    // Lanes, not 64-byte arrays of flags folded word by word (LLVM folded one of them through
    // the general registers); and the least byte kept across the line's chunks, not a control
    // flag folded to a word per chunk (the same way). A chunk's 124 instructions were 35 for
    // the control flag and 20 for a fold (f, 100,000 lines: 870 a line indexing). Quotes and
    // backslashes in lanes of their own, ORed at the end: flags ORed byte by byte (`||`, or
    // two selects) made LLVM give up vectorising the loop in place (f: 680M -> 1,058M).
    let mut quote = [0u8; 16];
    let mut slash = [0u8; 16];
    for (j, w) in c.chunks_exact(16).enumerate() {
        for (k, &x) in w.iter().enumerate() {
            let bit = 1u8 << (2 * j + k / 8);
            quote[k] |= if x == b'"' { bit } else { 0 };
            slash[k] |= if x == b'\\' { bit } else { 0 };
            low[k] = low[k].min(x);
        }
    }
    *out = transpose8(fold_lane(&quote) | fold_lane(&slash));
}

/// The OR of the two little-endian words of `a`.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn fold_lane(a: &[u8; 16]) -> u64 {
    let (x, y) = a.split_at(8);
    let word = |w: &[u8]| w.try_into().map_or(0, u64::from_le_bytes);
    word(x) | word(y)
}

/// Transposes `x` as an 8 by 8 bit matrix (bit `8 r + c` to bit `8 c + r`): three rounds of
/// delta swaps (Hacker's Delight, 7-3).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn transpose8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

/// Indexes `line` into `masks` (resized first): see [`Line`].
fn index<'a, 'm>(line: &'a str, masks: &'m mut Vec<u64>) -> Line<'a, 'm> {
    let b = line.as_bytes();
    // Every word written in place (a push per word, and a mask returned through memory,
    // stalled the loop). Every word is written, so the vector is only grown, never zeroed
    // again (a `memset` per line), and the line sees just its own words.
    let need = b.len().div_ceil(64);
    if masks.len() < need {
        masks.resize(need, 0);
    }
    let masks = masks.get_mut(..need).unwrap_or_default();
    let mut low = [0xff; 16];
    let mut words = masks.iter_mut();
    let mut chunks = b.chunks_exact(64);
    for (c, w) in (&mut chunks).zip(&mut words) {
        let Ok(c) = c.try_into() else { break };
        chunk_mask(c, w, &mut low);
    }
    let rest = chunks.remainder();
    if let (false, Some(w)) = (rest.is_empty(), words.next()) {
        match b.len().checked_sub(64).and_then(|at| b.get(at..)) {
            // The line's last 64 bytes, whose first ones the chunk before held too: their
            // bits are shifted out (and their bytes counted twice in `low`, which changes
            // nothing). No copy into a padded chunk: a `memset` and a `memcpy` call a line,
            // about 60 instructions of (f)'s 380-byte lines.
            Some(last) => {
                if let Ok(c) = last.try_into() {
                    let mut m = 0;
                    chunk_mask(c, &mut m, &mut low);
                    *w = m >> (64 - rest.len());
                }
            }
            // A line under 64 bytes: padded with spaces, neither special nor a control byte.
            None => {
                let mut c = [b' '; 64];
                c[..rest.len()].copy_from_slice(rest);
                chunk_mask(&c, w, &mut low);
            }
        }
    }
    Line {
        s: line,
        b,
        masks: &*masks,
        ctrl: low.iter().any(|&x| x < 0x20),
    }
}

impl Line<'_, '_> {
    /// The first quote or backslash at or after `i`.
    #[inline(always)]
    fn next(&self, i: usize) -> Result<usize, GiveUp> {
        let mut j = i / 64;
        let first = self.masks.get(j).ok_or(GiveUp)? >> (i % 64);
        if first != 0 {
            return Ok(i + first.trailing_zeros() as usize);
        }
        loop {
            j += 1;
            let m = *self.masks.get(j).ok_or(GiveUp)?;
            if m != 0 {
                return Ok(64 * j + m.trailing_zeros() as usize);
            }
        }
    }

    /// Whether the bytes `start..end` hold no control byte (only looked at when the line
    /// holds one).
    #[inline(always)]
    fn ctrl_free(&self, start: usize, end: usize) -> bool {
        // An OR over the bytes rather than `any`: it vectorises.
        !self.ctrl
            || self
                .b
                .get(start..end)
                .is_some_and(|v| !v.iter().fold(false, |c, &x| c | (x < 0x20)))
    }

    /// The closing quote of the string whose text starts at `start`, and whether it holds an
    /// escape. Control characters and malformed escapes give up (serde_json refuses both).
    #[inline(always)]
    fn str_end(&self, start: usize) -> Result<(usize, bool), GiveUp> {
        let b = self.b;
        let mut escaped = false;
        let mut i = start;
        loop {
            // The first special byte: the closing quote, or a backslash whose escape is
            // checked and stepped over (an escaped quote or backslash with it).
            let p = self.next(i)?;
            if b.get(p) == Some(&b'"') {
                if !self.ctrl_free(start, p) {
                    return Err(GiveUp);
                }
                return Ok((p, escaped));
            }
            escaped = true;
            i = match b.get(p + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => p + 2,
                Some(b'u') if hex4(b, p + 2).is_some() => p + 6,
                _ => return Err(GiveUp),
            };
        }
    }
}

/// Scans one line (an object, nothing after it but whitespace) into `out`, whose values are
/// first reset to `keys.len()` empty slots and whose text is cleared; `special` is scratch
/// space for the line's index, `plan` the keys of the last line (see [`Plan`]). Returns the
/// first kept key written twice.
pub(super) fn scan<'a>(
    line: &'a str,
    keys: &Keys,
    special: &mut Vec<u64>,
    plan: &mut Plan,
    out: &mut Scanned<'a>,
) -> Result<Option<&'a str>, GiveUp> {
    out.vals.clear();
    out.vals.resize_with(keys.len(), || None);
    out.text.clear();
    out.nested.clear();
    if plan.keys != keys.id() {
        plan.keys = keys.id();
        plan.steps.clear();
    }
    let l = index(line, special);
    let b = l.b;
    let mut dup = None;
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(GiveUp);
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return end(b, i + 1).map(|()| dup);
    }
    let mut member = 0;
    loop {
        // Members that follow the plan, compactly written, first (every member of an
        // ordinary log line); then one member the general way, and the plan again after it.
        match planned_run(&l, &plan.steps, i, member, out, &mut dup)? {
            Run::End => return Ok(dup),
            Run::AtKey(at, m) => (i, member) = (at, m),
            Run::AfterValue(at, m) => {
                (i, member) = (at, m);
                match separator(b, i)? {
                    Some(next) => {
                        i = next;
                        continue;
                    }
                    None => return Ok(dup),
                }
            }
        }
        // The key is `i + 1..close`, made a `&str` only to name a duplicate.
        let (close, at, n) = planned_key(&l, i, plan.steps.get(member))?.map_or_else(
            || {
                let (key, at) = member_key(&l, i)?;
                let n = keys.find(key);
                let step = Step::new(key, n);
                match plan.steps.get_mut(member) {
                    Some(s) => *s = step,
                    None => plan.steps.push(step),
                }
                Ok((i + 1 + key.len(), at, n))
            },
            Ok,
        )?;
        member += 1;
        match n.filter(|&n| n < out.vals.len()) {
            Some(n) => {
                let (v, next) = value(&l, at, &mut out.text, &mut out.nested)?;
                keep(out, n, v, &mut dup, || l.s.get(i + 1..close))?;
                i = next;
            }
            // A skipped string (most skipped values) without the call to `skip`.
            None if b.get(at) == Some(&b'"') => i = l.str_end(at + 1)?.0 + 1,
            None => i = skip(&l, at)?,
        }
        match separator(b, i)? {
            Some(next) => i = next,
            None => return Ok(dup),
        }
    }
}

/// What follows a member's value at `i`: a comma (`Some`: where the next member starts) or the
/// object's closing brace and nothing but whitespace after it (`None`).
#[inline(always)]
fn separator(b: &[u8], i: usize) -> Result<Option<usize>, GiveUp> {
    let i = ws(b, i);
    match b.get(i) {
        Some(b',') => Ok(Some(ws(b, i + 1))),
        Some(b'}') => end(b, i + 1).map(|()| None),
        _ => Err(GiveUp),
    }
}

/// Where [`planned_run`] stopped.
enum Run {
    /// The object ended (and nothing but whitespace after it).
    End,
    /// At member number `.1`'s key (`.0`: its opening quote), not the planned one or not
    /// compactly written: the general walk reads it.
    AtKey(usize, usize),
    /// After a value (`.0`) that a separator other than `,"` follows; `.1` members read.
    AfterValue(usize, usize),
}

/// Reads members from number `member` on, whose key is at `i`, while they are the plan's and
/// written without whitespace before their colons and commas (`"key":value` then
/// `,"key":value` and so on; whitespace after a colon is allowed): a member's comma,
/// key and colon are compared at once with the plan's bytes, and a string value ends at its
/// first special byte of the index when that is a quote. A member this does not read is left as it was
/// (nothing kept), for the general walk; where a value's bytes decide the line (a bad number, a
/// control byte, a bad escape), this gives up as the general walk would.
#[inline(always)]
fn planned_run<'a>(
    l: &Line<'a, '_>,
    steps: &[Step],
    i: usize,
    mut member: usize,
    out: &mut Scanned<'a>,
    dup: &mut Option<&'a str>,
) -> Result<Run, GiveUp> {
    let b = l.b;
    let Some(mut step) = steps.get(member) else {
        return Ok(Run::AtKey(i, member));
    };
    // The first member's key (no comma before it) at `i`: the planned key's bytes hold no
    // quote, so a quote right after them closes it.
    let close = i + 1 + step.len;
    if b.get(i) != Some(&b'"')
        || b.get(close) != Some(&b'"')
        || b.get(close + 1) != Some(&b':')
        || !b.get(i + 1..close).is_some_and(|k| step.is(k))
    {
        return Ok(Run::AtKey(i, member));
    }
    // Where the key's text starts (to name a duplicate) and the value.
    let (mut key, mut at) = (i + 1, close + 2);
    loop {
        // A step's slot is a number among the keys the plan was made with (`plan.keys`), the
        // keys the values are reset to: always in range (else `keep` gives up, and serde_json
        // reads the line), so not tested here (f, 100,000 lines: 760.9M -> 753.7M
        // instructions without the test).
        let kept = step.slot;
        let name = |key: usize| l.s.get(key..key + step.len);
        let next = match b.get(at) {
            Some(b'"') => {
                let e = l.next(at + 1)?;
                if b.get(e) == Some(&b'"') {
                    if !l.ctrl_free(at + 1, e) {
                        return Err(GiveUp);
                    }
                    if let Some(n) = kept {
                        let v = LiteVal::Str(l.s.get(at + 1..e).ok_or(GiveUp)?);
                        keep(out, n, v, dup, || name(key))?;
                    }
                    e + 1
                } else {
                    match kept {
                        Some(n) => {
                            let (v, next) = string(l, at + 1, e, &mut out.text)?;
                            keep(out, n, v, dup, || name(key))?;
                            next
                        }
                        None => l.str_end(at + 1)?.0 + 1,
                    }
                }
            }
            _ => {
                // Whitespace after the colon is looked for only here (a test per member of
                // every line cost 5% of the walk).
                let at = ws(b, at);
                let next = match kept {
                    Some(n) => {
                        let (v, next) = value(l, at, &mut out.text, &mut out.nested)?;
                        keep(out, n, v, dup, || name(key))?;
                        next
                    }
                    None => skip(l, at)?,
                };
                next
            }
        };
        member += 1;
        // The next member's comma, key and colon, as planned.
        match steps.get(member) {
            Some(s) if b.get(next..next + s.sep.len()).is_some_and(|x| s.is_sep(x)) => {
                step = s;
                (key, at) = (next + 2, next + s.sep.len());
            }
            _ if b.get(next) == Some(&b'}') => return end(b, next + 1).map(|()| Run::End),
            _ => return Ok(Run::AfterValue(next, member)),
        }
    }
}

/// Keeps `v` as value number `n`, naming the key (`key`) when it is the first written twice.
#[inline(always)]
fn keep<'a>(
    out: &mut Scanned<'a>,
    n: usize,
    v: LiteVal<'a>,
    dup: &mut Option<&'a str>,
    key: impl FnOnce() -> Option<&'a str>,
) -> Result<(), GiveUp> {
    let Some(slot) = out.vals.get_mut(n) else {
        return Err(GiveUp);
    };
    if slot.is_some() && dup.is_none() {
        *dup = Some(key().ok_or(GiveUp)?);
    }
    *slot = Some(v);
    Ok(())
}

/// Where a member's key ends (its closing quote), where its value starts and the key's number
/// among the keys read.
type Member = (usize, usize, Option<usize>);

/// The member's key at `i` when it is `step`'s: where the key ends, where its value starts and
/// its number. `Ok(None)`: not the planned key (or no plan), [`member_key`] reads it.
#[inline(always)]
fn planned_key(l: &Line<'_, '_>, i: usize, step: Option<&Step>) -> Result<Option<Member>, GiveUp> {
    let Some(step) = step else { return Ok(None) };
    let b = l.b;
    if b.get(i) != Some(&b'"') {
        return Err(GiveUp);
    }
    // The planned key's bytes hold no quote (nor backslash or control byte: checked when the
    // step was made), so when they are here followed by a quote, that quote closes the key:
    // compared in place, without looking the quote up in the index first.
    let close = i + 1 + step.len;
    if b.get(close) != Some(&b'"') || !b.get(i + 1..close).is_some_and(|k| step.is(k)) {
        return Ok(None);
    }
    debug_assert!(!b[i + 1..close].iter().any(|&c| c == b'\\' || c < 0x20));
    let at = ws(b, close + 1);
    if b.get(at) != Some(&b':') {
        return Err(GiveUp);
    }
    Ok(Some((close, ws(b, at + 1), step.slot)))
}

/// JSON whitespace from `i` on: the position after it.
#[inline(always)]
fn ws(b: &[u8], mut i: usize) -> usize {
    // Most places have none: one test of a byte above the space.
    if b.get(i).is_none_or(|&c| c > b' ') {
        return i;
    }
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Only whitespace from `i` to the end.
fn end(b: &[u8], i: usize) -> Result<(), GiveUp> {
    if ws(b, i) == b.len() {
        Ok(())
    } else {
        Err(GiveUp)
    }
}

/// A member's key at `i` (`"key"`, without escapes), its colon and the whitespace after it: the
/// key and where its value starts.
fn member_key<'a>(l: &Line<'a, '_>, i: usize) -> Result<(&'a str, usize), GiveUp> {
    let b = l.b;
    if b.get(i) != Some(&b'"') {
        return Err(GiveUp);
    }
    let (close, escaped) = l.str_end(i + 1)?;
    if escaped {
        return Err(GiveUp);
    }
    let key = l.s.get(i + 1..close).ok_or(GiveUp)?;
    let at = ws(b, close + 1);
    if b.get(at) != Some(&b':') {
        return Err(GiveUp);
    }
    Ok((key, ws(b, at + 1)))
}

/// The four hex digits at `i` as a number.
fn hex4(b: &[u8], i: usize) -> Option<u32> {
    b.get(i..i + 4)?.iter().try_fold(0u32, |n, &c| {
        let d = char::from(c).to_digit(16)?;
        Some(n << 4 | d)
    })
}

/// A kept string whose text starts at `start` (after its opening quote), `p` the first quote or
/// backslash at or after `start`: its value and the position after its closing quote. Its text is borrowed
/// from the line when it holds no escape, else unescaped onto the end of `out` in the pass that
/// finds its end (a pass to find the end and check the escapes, [`Line::str_end`], then one to
/// unescape, were about 550 instructions per escaped string of row (b) without its prefilter:
/// Sysmon's `User` and `Image`). A control byte, a malformed escape, or a `\u` escape that is not
/// a character or a surrogate pair gives up.
fn string<'a>(
    l: &Line<'a, '_>,
    start: usize,
    mut p: usize,
    out: &mut String,
) -> Result<(LiteVal<'a>, usize), GiveUp> {
    let (s, b) = (l.s, l.b);
    if b.get(p) == Some(&b'"') {
        if !l.ctrl_free(start, p) {
            return Err(GiveUp);
        }
        return Ok((LiteVal::Str(s.get(start..p).ok_or(GiveUp)?), p + 1));
    }
    let from = out.len();
    // The text not yet copied starts at `seg`; the next special byte is looked for from `i`.
    let mut seg = start;
    loop {
        // `p`: a backslash.
        out.push_str(s.get(seg..p).ok_or(GiveUp)?);
        let mut i = p + 2;
        seg = i;
        match b.get(p + 1) {
            // The escaped byte is its own text: it starts the next copy (one copy per escape
            // of a Windows path, not a copy and a push: row (b) without its prefilter, 100,000
            // lines, 814.3M -> 809.7M instructions).
            Some(b'"' | b'\\' | b'/') => seg = p + 1,
            Some(b'b') => out.push('\u{8}'),
            Some(b'f') => out.push('\u{c}'),
            Some(b'n') => out.push('\n'),
            Some(b'r') => out.push('\r'),
            Some(b't') => out.push('\t'),
            Some(b'u') => {
                let hi = hex4(b, p + 2).ok_or(GiveUp)?;
                i = p + 6;
                let c = match hi {
                    0xD800..=0xDBFF => {
                        if b.get(i..i + 2) != Some(b"\\u") {
                            return Err(GiveUp);
                        }
                        let lo = hex4(b, i + 2).ok_or(GiveUp)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(GiveUp);
                        }
                        i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(GiveUp),
                    c => c,
                };
                out.push(char::from_u32(c).ok_or(GiveUp)?);
                seg = i;
            }
            _ => return Err(GiveUp),
        }
        p = l.next(i)?;
        if b.get(p) == Some(&b'"') {
            if !l.ctrl_free(start, p) {
                return Err(GiveUp);
            }
            out.push_str(s.get(seg..p).ok_or(GiveUp)?);
            return Ok((LiteVal::Text(from, out.len()), p + 1));
        }
    }
}

/// The end of the number at `i`, by JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
/// ([eE] [+-]? [0-9]+)?`.
fn number(b: &[u8], mut i: usize) -> Result<usize, GiveUp> {
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i) {
        Some(b'0') => i + 1,
        Some(b'1'..=b'9') => digits(i + 1),
        _ => return Err(GiveUp),
    };
    if b.get(i) == Some(&b'.') {
        let j = digits(i + 1);
        if j == i + 1 {
            return Err(GiveUp);
        }
        i = j;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let j = digits(i);
        if j == i {
            return Err(GiveUp);
        }
        i = j;
    }
    Ok(i)
}

/// The plain unsigned integer at `i` (1 to 19 digits, no leading zero, no fraction or exponent
/// after it, the common number of a log: Sysmon's `EventID`): its value and the position after
/// it, in one pass over its digits. `None`: [`number`] and the general conversion decide (a
/// sign, a leading zero, 20 digits or more, a fraction or exponent). The general way (the
/// grammar, then `str::parse` and `serde_json::Number`) was 158 instructions per `EventID` of
/// row (f); this is about 30.
#[inline(always)]
fn plain_u64(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let mut n = 0u64;
    let mut e = i;
    while let Some(d) = b.get(e).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        if e - i == 19 {
            return None;
        }
        // At most 19 digits: below 10^19, which a u64 holds.
        n = n * 10 + u64::from(d);
        e += 1;
    }
    let leading_zero = e - i > 1 && b.get(i) == Some(&b'0');
    if e == i || leading_zero || matches!(b.get(e), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    Some((n, e))
}

/// The literal `word` at `i`: the position after it.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, GiveUp> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        Err(GiveUp)
    }
}

/// A kept value at `i`, and the position after it; the text of a string with escapes goes to
/// the end of `text`, an object or array to the end of `nested`.
fn value<'a>(
    l: &Line<'a, '_>,
    i: usize,
    text: &mut String,
    nested: &mut Vec<serde_json::Value>,
) -> Result<(LiteVal<'a>, usize), GiveUp> {
    let (line, b) = (l.s, l.b);
    Ok(match b.get(i) {
        Some(b'"') => string(l, i + 1, l.next(i + 1)?, text)?,
        Some(b't') => (LiteVal::Bool(true), literal(b, i, b"true")?),
        Some(b'f') => (LiteVal::Bool(false), literal(b, i, b"false")?),
        Some(b'n') => (LiteVal::Null, literal(b, i, b"null")?),
        Some(b'-' | b'0'..=b'9') => {
            if let Some((u, e)) = plain_u64(b, i) {
                return Ok((LiteVal::Num(u.into()), e));
            }
            let e = number(b, i)?;
            let text = line.get(i..e).ok_or(GiveUp)?;
            // Up to 19 digits always fit a u64; anything else as serde_json reads it.
            let n = match text.parse::<u64>() {
                Ok(u) if text.len() <= 19 && text.bytes().all(|c| c.is_ascii_digit()) => {
                    serde_json::Number::from(u)
                }
                _ => serde_json::from_str(text).map_err(|_| GiveUp)?,
            };
            (LiteVal::Num(n), e)
        }
        Some(b'{' | b'[') => {
            let e = skip(l, i)?;
            let v = serde_json::from_str(line.get(i..e).ok_or(GiveUp)?).map_err(|_| GiveUp)?;
            nested.push(v);
            (LiteVal::Nested(nested.len() - 1), e)
        }
        _ => return Err(GiveUp),
    })
}

/// Skips the value at `i`, checking its grammar: the position after it. Containers are walked
/// with a stack of their closing brackets, not by recursion.
fn skip(l: &Line<'_, '_>, mut i: usize) -> Result<usize, GiveUp> {
    let b = l.b;
    // The common skipped value, a string, needs no stack.
    if b.get(i) == Some(&b'"') {
        return Ok(l.str_end(i + 1)?.0 + 1);
    }
    let mut open: Vec<u8> = Vec::new();
    loop {
        // At a value.
        match b.get(i) {
            Some(b'"') => i = l.str_end(i + 1)?.0 + 1,
            Some(b't') => i = literal(b, i, b"true")?,
            Some(b'f') => i = literal(b, i, b"false")?,
            Some(b'n') => i = literal(b, i, b"null")?,
            Some(b'-' | b'0'..=b'9') => i = number(b, i)?,
            Some(&c @ (b'{' | b'[')) => {
                if open.len() >= MAX_DEPTH {
                    return Err(GiveUp);
                }
                let close = if c == b'{' { b'}' } else { b']' };
                open.push(close);
                i = ws(b, i + 1);
                if b.get(i) == Some(&close) {
                    open.pop();
                    i += 1;
                } else {
                    if close == b'}' {
                        i = member_key_end(l, i)?;
                    }
                    continue;
                }
            }
            _ => return Err(GiveUp),
        }
        // After a value: close containers, or go on to the next element.
        loop {
            let Some(&close) = open.last() else {
                return Ok(i);
            };
            i = ws(b, i);
            match b.get(i) {
                Some(b',') => {
                    i = ws(b, i + 1);
                    if close == b'}' {
                        i = member_key_end(l, i)?;
                    }
                    break;
                }
                Some(&c) if c == close => {
                    open.pop();
                    i += 1;
                }
                _ => return Err(GiveUp),
            }
        }
    }
}

/// A nested member's key (escapes allowed: it is skipped) and colon: where its value starts.
fn member_key_end(l: &Line<'_, '_>, i: usize) -> Result<usize, GiveUp> {
    let b = l.b;
    if b.get(i) != Some(&b'"') {
        return Err(GiveUp);
    }
    let at = ws(b, l.str_end(i + 1)?.0 + 1);
    if b.get(at) != Some(&b':') {
        return Err(GiveUp);
    }
    Ok(ws(b, at + 1))
}

#[cfg(test)]
mod tests {
    use super::super::read::LiteRecord;
    use super::*;

    fn keys() -> Keys {
        Keys::new(["a", "b", "c.d", "c"].map(String::from).to_vec())
    }

    /// Values with their text in place (a string, escaped or not, as `s:` and its text;
    /// anything else as debugged), to compare the two readers.
    fn resolve(out: &Scanned<'_>) -> Vec<Option<String>> {
        let s = |t: &str| format!("s:{t}");
        out.vals
            .iter()
            .map(|v| {
                v.as_ref().map(|v| match v {
                    LiteVal::Str(t) => s(t),
                    LiteVal::Text(a, b) => s(out.text.get(*a..*b).unwrap_or("?")),
                    LiteVal::Nested(n) => format!("n:{:?}", out.nested.get(*n)),
                    v => format!("{v:?}"),
                })
            })
            .collect()
    }

    type Read<'a> = (Vec<Option<String>>, Option<String>);

    thread_local! {
        /// One plan for the lines a test scans one after another, as a reader keeps it: each
        /// line is scanned against the keys of the one before.
        static PLAN: std::cell::RefCell<Plan> = const { std::cell::RefCell::new(Plan::EMPTY) };
    }

    /// The scanner's values, resolved, and the first key written twice.
    fn scan_vals<'a>(line: &'a str, k: &Keys) -> Result<Read<'a>, GiveUp> {
        let mut out = Scanned::default();
        let dup = PLAN.with_borrow_mut(|p| scan(line, k, &mut Vec::new(), p, &mut out))?;
        Ok((resolve(&out), dup.map(String::from)))
    }

    /// serde_json's reader's values, resolved, and the first key written twice.
    fn serde_vals<'a>(line: &'a str, k: &Keys) -> Result<Read<'a>, String> {
        let mut out = Scanned::default();
        let (vals, dup) = LiteRecord::parse_serde(line, k, &mut out.text, &mut out.nested)?;
        out.vals = vals;
        Ok((resolve(&out), dup))
    }

    /// One line through both readers: where the scanner decides, serde_json's reader accepts
    /// the line with the same values and the same duplicate. Returns whether the scanner decided.
    fn agree(line: &str, k: &Keys) -> bool {
        let serde = serde_vals(line, k);
        match scan_vals(line, k) {
            Ok(got) => {
                assert_eq!(Ok(got), serde, "{line:?}");
                true
            }
            Err(GiveUp) => false,
        }
    }

    const PIECES: [&str; 30] = [
        "\"a\":",
        "\"z\":",
        "\"c\":",
        "\"c.d\":",
        "\"\\u0061\":",
        ",",
        "}",
        "{",
        "[",
        "]",
        " ",
        "\"x\"",
        "\"\\u00e9\\\\x\\/\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\q\"",
        "\"\u{1}\"",
        "\"a\\\"b\"",
        "\"a",
        "1",
        "-0",
        "01",
        "1.5e3",
        "1.",
        "-2",
        "18446744073709551616",
        "1e400",
        "true",
        "nul",
        "null",
    ];

    /// Every line `{` + up to 4 pieces, and the same closed with `}` (kept and skipped keys, an escaped key, escapes,
    /// surrogates, numbers, literals, brackets, a control character, truncations): where the
    /// scanner decides, it agrees with serde_json's reader.
    #[test]
    fn agrees_with_serde_json_on_every_short_line() {
        let k = keys();
        let mut frontier = vec!["{".to_string()];
        let mut decided = 0;
        for _ in 0..4 {
            let mut next = Vec::new();
            for l in &frontier {
                for t in PIECES {
                    let line = format!("{l}{t}");
                    decided += usize::from(agree(&line, &k));
                    decided += usize::from(agree(&format!("{line}}}"), &k));
                    next.push(line);
                }
            }
            frontier = next;
        }
        assert!(decided > 1000, "{decided}");
    }

    /// 200,000 fixed-seed random lines of up to 14 pieces, closed with `}` half of the time.
    #[test]
    fn agrees_with_serde_json_on_random_lines() {
        let k = keys();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut decided = 0;
        for _ in 0..200_000 {
            let mut line = "{".to_string();
            for _ in 0..next() % 15 {
                line.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
            if next() % 2 == 0 {
                line.push('}');
            }
            decided += usize::from(agree(&line, &k));
        }
        assert!(decided > 1000, "{decided}");
    }

    /// A line read for some of the keys ([`Keys::only`], as the prefilter's runs read a line
    /// for the keys their rules read): both readers still agree; the line is refused exactly
    /// when it is refused for every key (the skipped values are still checked), but for a
    /// duplicate of a key not read; and the kept keys' values are those of the whole read.
    #[test]
    fn some_keys_read_as_every_key_reads_them() {
        let all = keys();
        // `a` and `c.d` kept (and so `c`, the object `c.d` may be nested in); `b` skipped.
        let keep: Vec<bool> = (0..all.len())
            .map(|i| ["a", "c.d"].contains(&all.name(i)))
            .collect();
        let some = all.only(&keep);
        let kept = |v: &[Option<String>]| -> Vec<Option<String>> {
            v.iter()
                .enumerate()
                .map(|(i, x)| {
                    if some.find(all.name(i)).is_some() {
                        x.clone()
                    } else {
                        None
                    }
                })
                .collect()
        };
        let mut frontier = vec!["{".to_string()];
        let (mut read, mut refused_dup) = (0, 0);
        for _ in 0..3 {
            let mut next = Vec::new();
            for l in &frontier {
                for t in PIECES.iter().chain(&["\"b\":", "\"b\":1,\"b\":2"]) {
                    let line = format!("{l}{t}");
                    for line in [format!("{line}}}"), line.clone()] {
                        agree(&line, &some);
                        let whole = serde_vals(&line, &all);
                        let part = serde_vals(&line, &some);
                        match (&whole, &part) {
                            (Ok((w, wd)), Ok((p, pd))) => {
                                assert_eq!(kept(w), *p, "{line:?}");
                                // A duplicate found reading some keys is found reading every
                                // key too (maybe another, written earlier).
                                assert!(pd.is_none() || wd.is_some(), "{line:?}");
                                refused_dup += usize::from(wd.is_some() && pd.is_none());
                                read += 1;
                            }
                            (Err(_), Err(_)) => {}
                            // A `\u` escape that is no character (a lone surrogate) or a
                            // number past f64 is JSON's grammar (RFC 8259, sections 6 and 8.2)
                            // but no value: a bad value of a key read, and like any value of a
                            // key not read, not looked at.
                            (Err(e), Ok(_))
                                if e.contains("hex escape")
                                    || e.contains("code point")
                                    || e.contains("number out of range") => {}
                            _ => unreachable!("{line:?}: {whole:?} vs {part:?}"),
                        }
                    }
                    next.push(line);
                }
            }
            frontier = next;
        }
        assert!(read > 300 && refused_dup > 10, "{read} {refused_dup}");
    }

    /// Lines of the benchmark's shape are decided by the scanner, values as serde_json's.
    #[test]
    fn decides_ordinary_lines() {
        let k = Keys::new(
            ["EventID", "Image", "User", "Hostname", "Nested", "Neg", "F"]
                .map(String::from)
                .to_vec(),
        );
        let line = r#"{"EventID":3, "Channel":"Microsoft-Windows-Sysmon/Operational","User":"CORP\\user1503","Image":"C:\\Program Files\\x\u00e9.exe","Hostname":"WS1","Skip":{"a":[1,2,{"b":null}],"c":"\"}"},"Nested":[1,{"x":"y"}],"Neg":-12,"F":2.5e-3}"#;
        let mut out = Scanned::default();
        let scanned = scan(line, &k, &mut Vec::new(), &mut Plan::default(), &mut out);
        assert_eq!(scanned, Ok(None), "the scanner gives up");
        let got = resolve(&out);
        assert_eq!(serde_vals(line, &k), Ok((got.clone(), None)));
        let img = k.find("Image").and_then(|i| got.get(i));
        assert_eq!(img, Some(&Some("s:C:\\Program Files\\xé.exe".to_string())));
        // Unescaped strings are borrowed from the line; escaped ones are in the text.
        let host = k.find("Hostname").and_then(|i| out.vals.get(i));
        assert!(matches!(host, Some(Some(LiteVal::Str("WS1")))));
        assert_eq!(out.text, "CORP\\user1503C:\\Program Files\\xé.exe");
    }

    /// The line index across its 64-byte chunks: every piece (escapes and runs of backslashes,
    /// control bytes, multi-byte characters, an escaped quote) at every offset from 0 to 199,
    /// so that it starts, ends or straddles byte 63/64, 127/128 or 191/192, in a kept value, a
    /// skipped value, a skipped nested key and a kept key: the scanner agrees with serde_json,
    /// and decides every line serde_json accepts that has no control byte or escaped key.
    #[test]
    fn agrees_across_chunk_boundaries() {
        let k = keys();
        let pieces = [
            "",
            r"\\",
            r"\\\\",
            r"\\\\\\",
            r#"\""#,
            r#"\\\""#,
            r"\/\b\f\n\r\t",
            r"\u00e9",
            r"\ud83d\ude00",
            r"\ud83d",
            r"\q",
            r"\u12",
            "é",
            "😀",
            "\u{1}",
            "\t",
            "\u{1f}",
            " ",
            "\"",
        ];
        let mut decided = 0;
        for pad in 0..200 {
            let x = "x".repeat(pad);
            for p in pieces {
                let lines = [
                    format!(r#"{{"a":"{x}{p}"}}"#),
                    format!(r#"{{"a":"{x}{p}y","b":"{p}{x}"}}"#),
                    format!(r#"{{"z":"{x}{p}","a":1}}"#),
                    format!(r#"{{"z":[{{"{x}{p}":"{p}"}}],"b":"{x}"}}"#),
                    format!(r#"{{"{x}":0,"a{p}":"{p}"}}"#),
                    format!("{{\"a\":\"{x}\"}}{p}"),
                ];
                for line in &lines {
                    let d = agree(line, &k);
                    decided += usize::from(d);
                    let plain = !line.bytes().any(|c| c < 0x20);
                    let serde_ok = serde_vals(line, &k).is_ok();
                    if plain && serde_ok && !line.contains(r#"a\"#) {
                        assert!(d, "the scanner gives up on {line:?}");
                    }
                }
            }
        }
        assert!(decided > 10_000, "{decided}");
    }

    /// The key plan (the keys of the line before, in order) never changes what a line reads:
    /// lines in the same order, reordered, with a key missing, added, given twice, renamed in
    /// its last or middle byte (a key past 16 bytes too), non-ASCII, with a control byte or
    /// written with an escape, each scanned after each other one (so against every plan they
    /// leave), agree with serde_json and with a scan with no plan; lines serde_json accepts
    /// with no escaped key or control byte are decided.
    #[test]
    fn key_plan_follows_every_change_of_keys() {
        let k = Keys::new(
            [
                "a",
                "b",
                "EventID",
                "DestinationPortNumber",
                "é",
                "c.d",
                "c",
            ]
            .map(String::from)
            .to_vec(),
        );
        let lines = [
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"b":2,"a":"1","EventID":3,"z":"s","DestinationPortNumber":"25"}"#,
            r#"{"a":"1","EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"x":[1,{"a":2}],"EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s","zz":0}"#,
            r#"{"a":"1","b":2,"b":4,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a":"1","a":"2","EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"EventIE":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"FventID":3,"DestinationPortNumbe":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumbxr":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinatiXnPortNumber":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumberX":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumbe":"25","z":"s"}"#,
            r#"{"é":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"e":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            "{\"a\":\"1\",\"b\u{1}\":2,\"EventID\":3}",
            "{\"a\":\"1\",\"b\":2,\"EventID\":3,\"z\":\"\u{1}\"}",
            r#"{"\u0061":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a\u0061":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a" : "1" , "b":2 ,"EventID" :3,"DestinationPortNumber":"25","z":"s"}"#,
            r#"{"a":"1","b":2,"c":{"d":5},"EventID":3}"#,
            r#"{"a":"1","b":2,"c.d":6,"c":{"d":5},"EventID":3}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s""#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber" "25"}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber":}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber":"25",}"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber":"25","z":"s"} x"#,
            r#"{}"#,
            r#"{"a":"1"}"#,
            // A planned key's bytes in place but not closed there (a planned key is compared
            // where it would be, before its closing quote is looked up).
            r#"{"a":"1","b":2,"EventID\"":3}"#,
            r#"{"a":"1","b":2,"EventID\"x":3}"#,
            r#"{"a":"1","b":2,"EventID"#,
            r#"{"a":"1","b":2,"EventI"#,
            r#"{"a":"1","b":2,"EventID":3,"DestinationPortNumber\u0022":"25"}"#,
        ];
        let fresh = |line: &str| {
            let mut out = Scanned::default();
            scan(line, &k, &mut Vec::new(), &mut Plan::default(), &mut out)
                .map(|dup| (resolve(&out), dup.map(String::from)))
        };
        let mut plan = Plan::default();
        for before in &lines {
            for line in &lines {
                let mut out = Scanned::default();
                let _ = scan(before, &k, &mut Vec::new(), &mut plan, &mut out);
                let mut out = Scanned::default();
                let got = scan(line, &k, &mut Vec::new(), &mut plan, &mut out)
                    .map(|dup| (resolve(&out), dup.map(String::from)));
                assert_eq!(got, fresh(line), "{line:?} after {before:?}");
                let serde = serde_vals(line, &k);
                match &got {
                    Ok(got) => assert_eq!(Ok(got.clone()), serde, "{line:?} after {before:?}"),
                    Err(GiveUp) => {
                        // The scanner gives up on a key written with an escape.
                        let escaped_key = [r#"\u0061""#, r#"\""#, r#"\u0022""#]
                            .iter()
                            .any(|e| line.contains(e));
                        let plain = !line.bytes().any(|c| c < 0x20) && !escaped_key;
                        assert!(
                            !(plain && serde.is_ok()),
                            "gave up on {line:?} after {before:?}"
                        );
                    }
                }
            }
        }
    }

    /// The planned walk ([`planned_run`]) on every one-byte change of a line that follows the
    /// plan (escaped, numeric, nested and long-keyed values; compact, so that it takes the
    /// planned walk): each byte deleted, replaced or preceded by a structural, escape, space,
    /// control or plain byte, scanned right after the unchanged line (its plan in place), reads
    /// as a scan with no plan and agrees with serde_json.
    #[test]
    fn planned_walk_agrees_on_every_one_byte_change() {
        let k = Keys::new(
            ["a", "b", "EventID", "DestinationPortNumber", "c", "c.d"]
                .map(String::from)
                .to_vec(),
        );
        let base = r#"{"a":"x\\y","b":12,"q":"\"","EventID":"3","c":{"d":"\u00e9\\"},"z":[1,"\\"],"DestinationPortNumber":"25","y":"s"}"#;
        let fresh = |line: &str| {
            let mut out = Scanned::default();
            scan(line, &k, &mut Vec::new(), &mut Plan::default(), &mut out)
                .map(|dup| (resolve(&out), dup.map(String::from)))
        };
        assert!(fresh(base).is_ok());
        let mut plan = Plan::default();
        let mut decided = 0;
        for p in 0..=base.len() {
            for c in ["", "\"", "\\", ",", ":", "}", "{", " ", "x", "1", "\u{1}"] {
                let mut lines = vec![format!("{}{c}{}", &base[..p], &base[p..])];
                if p < base.len() {
                    lines.push(format!("{}{c}{}", &base[..p], &base[p + 1..]));
                }
                for line in &lines {
                    let mut out = Scanned::default();
                    assert!(scan(base, &k, &mut Vec::new(), &mut plan, &mut out).is_ok());
                    let mut out = Scanned::default();
                    let got = scan(line, &k, &mut Vec::new(), &mut plan, &mut out)
                        .map(|dup| (resolve(&out), dup.map(String::from)));
                    assert_eq!(got, fresh(line), "{line:?}");
                    if let Ok(got) = got {
                        assert_eq!(Ok(got), serde_vals(line, &k), "{line:?}");
                        decided += 1;
                    }
                }
            }
        }
        assert!(decided > 500, "{decided}");
    }

    /// Planned keys and separators compared by words ([`same_rest`]): for keys of 1 to 30
    /// bytes (their `,"key":` 5 to 34), each byte of the key changed, in the first member (key
    /// compared) and in a later one (separator compared), scanned right after the unchanged
    /// line (its plan in place): reads as a scan with no plan, so the changed key is not taken
    /// for the planned one.
    #[test]
    fn planned_keys_differ_in_every_byte() {
        let fresh = |line: &str, k: &Keys| {
            let mut out = Scanned::default();
            scan(line, k, &mut Vec::new(), &mut Plan::default(), &mut out)
                .map(|dup| (resolve(&out), dup.map(String::from)))
        };
        let mut plan = Plan::default();
        for n in 1..=30 {
            let key: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let k = Keys::new(vec![key.clone(), "q".to_string()]);
            let lines = |key: &str| {
                [
                    format!(r#"{{"{key}":"v","q":1}}"#),
                    format!(r#"{{"q":1,"{key}":"v"}}"#),
                ]
            };
            for base in &lines(&key) {
                let mut out = Scanned::default();
                assert!(scan(base, &k, &mut Vec::new(), &mut plan, &mut out).is_ok());
            }
            for at in 0..n {
                let mut other = key.clone().into_bytes();
                other[at] = b'Z';
                let other = String::from_utf8(other).unwrap_or_default();
                for (base, line) in lines(&key).iter().zip(lines(&other)) {
                    let mut out = Scanned::default();
                    assert!(scan(base, &k, &mut Vec::new(), &mut plan, &mut out).is_ok());
                    let mut out = Scanned::default();
                    let got = scan(&line, &k, &mut Vec::new(), &mut plan, &mut out)
                        .map(|dup| (resolve(&out), dup.map(String::from)));
                    assert_eq!(got, fresh(&line, &k), "{line:?} after {base:?}");
                    assert_eq!(got.map_err(|_| ()), serde_vals(&line, &k).map_err(|_| ()));
                    assert!(
                        resolve(&out).first().is_some_and(Option::is_none),
                        "{line:?}"
                    );
                }
            }
        }
    }

    /// A thread's plan made with one schema's keys is not used with another's: two key sets
    /// number the same names differently, and lines alternate between them.
    #[test]
    fn key_plan_is_per_key_set() {
        let k1 = Keys::new(["a", "b"].map(String::from).to_vec());
        let k2 = Keys::new(["b", "c"].map(String::from).to_vec());
        let line = r#"{"b":"x","c":"y","a":"z"}"#;
        let mut plan = Plan::default();
        for _ in 0..3 {
            for k in [&k1, &k2] {
                let mut out = Scanned::default();
                assert_eq!(
                    scan(line, k, &mut Vec::new(), &mut plan, &mut out),
                    Ok(None)
                );
                let got = resolve(&out);
                assert_eq!(Ok((got, None)), serde_vals(line, k));
            }
        }
        assert_ne!(k1.id(), k2.id());
        assert_eq!(k1.clone().id(), k1.id());
    }

    /// A chunk's mask is its quotes and backslashes bit by bit, and its control flag says
    /// whether a byte is below 0x20: 20,000 fixed-seed random chunks over bytes that are
    /// special, next to special (`!`, `[`, `]`, 0x1f, 0x20) or not ASCII, with each class
    /// alone, at every place, and none.
    #[test]
    fn chunk_masks_are_the_bytes_bit_by_bit() {
        let alphabet = b"\"\\ !#[]\x00\x1f\x7fa\xc3\xa9\xff";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut chunks: Vec<[u8; 64]> = (0..20_000)
            .map(|_| std::array::from_fn(|_| alphabet[(next() % alphabet.len() as u64) as usize]))
            .collect();
        for at in 0..64 {
            for c in [b'"', b'\\', 0x01, b'a'] {
                let mut one = [b'a'; 64];
                one[at] = c;
                chunks.push(one);
            }
        }
        // The version this target runs and the portable one, and the least bytes carried
        // from chunk to chunk as a line's are.
        type MaskFn = fn(&[u8; 64], &mut u64, &mut [u8; 16]);
        for f in [chunk_mask as MaskFn, chunk_mask_portable] {
            let mut carried = [0xff; 16];
            for c in &chunks {
                let mut out = 0u64;
                let mut low = [0xff; 16];
                f(c, &mut out, &mut low);
                let ctrl = low.iter().any(|&b| b < 0x20);
                let bits = c.iter().enumerate().fold(0u64, |m, (k, &b)| {
                    m | u64::from(b == b'"' || b == b'\\') << k
                });
                assert_eq!(out, bits, "{c:?}");
                assert_eq!(ctrl, c.iter().any(|&b| b < 0x20), "{c:?}");
                let before = carried;
                f(c, &mut out, &mut carried);
                for k in 0..16 {
                    let least = (k..64).step_by(16).map(|i| c[i]).min().unwrap_or(0xff);
                    assert_eq!(carried[k], before[k].min(least), "{c:?}");
                }
            }
        }
    }

    /// One mask of quotes and backslashes: a string is walked from special byte to special
    /// byte, an escape stepping over the byte it escapes. Runs of 0 to 5 backslashes before a
    /// quote, a backslash, a letter or `u00e9`, at every offset across a chunk's edge, in a kept
    /// value and a skipped one, by the planned walk (the line scanned twice with one plan) and
    /// the general one: the scanner agrees with serde_json wherever it decides, and decides
    /// every such line serde_json accepts.
    #[test]
    fn backslash_runs_agree_at_every_offset() {
        let k = keys();
        let mut decided = 0;
        for pad in 50..80 {
            let x = "x".repeat(pad);
            for run in 0..=5 {
                let r = "\\".repeat(run);
                for after in ["\"", "\\", "y", "u00e9", ""] {
                    let line = format!(r#"{{"a":"{x}{r}{after}z","z":"{x}{r}{after}","b":"{r}"}}"#);
                    let mut plan = Plan::default();
                    let mut got = Vec::new();
                    for _ in 0..2 {
                        let mut out = Scanned::default();
                        got.push(
                            scan(&line, &k, &mut Vec::new(), &mut plan, &mut out)
                                .map(|dup| (resolve(&out), dup.map(String::from))),
                        );
                    }
                    assert_eq!(got[0], got[1], "{line:?}");
                    let serde = serde_vals(&line, &k);
                    match &got[0] {
                        Ok(g) => {
                            assert_eq!(Ok(g.clone()), serde, "{line:?}");
                            decided += 1;
                        }
                        Err(GiveUp) => assert!(serde.is_err(), "gives up on {line:?}"),
                    }
                }
            }
        }
        assert!(decided > 250, "{decided}");
    }

    /// Numbers around the plain-integer fast path ([`plain_u64`]): 1 to 21 digits (19 the
    /// most it takes, `u64::MAX` and past it), leading zeros, `0`, `-0`, signs, fractions and
    /// exponents, each followed by every kind of byte that may end or break it, as a kept value
    /// and a skipped one: the scanner agrees with serde_json, and decides every line serde_json
    /// accepts with a number of at most 19 plain digits (the fast path never gives up on one).
    #[test]
    fn numbers_agree_around_the_plain_integer_path() {
        let k = keys();
        let mut numbers: Vec<String> = (1..=21).map(|n| "9".repeat(n)).collect();
        numbers.extend((1..=21).map(|n| format!("1{}", "0".repeat(n - 1))));
        numbers.extend(
            [
                "0",
                "00",
                "01",
                "-0",
                "-1",
                "-01",
                "+1",
                "0.5",
                "1.",
                "1e3",
                "1E3",
                "1e",
                "1e+",
                "2.5e-3",
                "10",
                "100",
                "-",
                "1-",
                "9999999999999999999",
                "10000000000000000000",
                "18446744073709551615",
                "18446744073709551616",
                "1234567890123456789",
            ]
            .map(String::from),
        );
        let mut decided = 0;
        for n in &numbers {
            for after in ["}", ",\"b\":1}", " }", "x}", ".}", "e}", "0}", "\"}", ""] {
                for line in [
                    format!("{{\"a\":{n}{after}"),
                    format!("{{\"z\":{n}{after}"),
                    format!("{{\"b\":\"x\",\"a\":{n}{after}"),
                ] {
                    let d = agree(&line, &k);
                    decided += usize::from(d);
                    let plain = n.len() <= 19
                        && n.bytes().all(|c| c.is_ascii_digit())
                        && (n.len() == 1 || !n.starts_with('0'));
                    if plain && serde_vals(&line, &k).is_ok() {
                        assert!(d, "the scanner gives up on {line:?}");
                    }
                }
            }
        }
        assert!(decided > 200, "{decided}");
        // The fast path's own answers, against the general one's.
        for n in &numbers {
            let b = format!("{n},").into_bytes();
            if let Some((u, e)) = plain_u64(&b, 0) {
                assert_eq!(Ok(e), number(&b, 0), "{n}");
                assert_eq!(n.get(..e).map(str::parse::<u64>), Some(Ok(u)), "{n}");
                assert!(e <= 19, "{n}");
            }
        }
    }

    /// Deep nesting in a skipped value gives up (serde_json decides) instead of recursing.
    #[test]
    fn deep_nesting_gives_up() {
        let k = keys();
        let deep = format!("{{\"z\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(scan_vals(&deep, &k).map(|_| ()), Err(GiveUp));
        let ok = format!("{{\"z\":{}{}}}", "[".repeat(50), "]".repeat(50));
        assert!(scan_vals(&ok, &k).is_ok());
    }
}
