//! A sound raw-byte prefilter for JSON lines, derived from the IR and the input schema.
//!
//! For each rule it takes the top-level conjuncts of the filter of the form `F == n` or
//! `F in [n, ...]` on an integer field (ports, counts) whose schema mapping is a plain copy of
//! raw keys (no `map`, `transform` or `join`). Such a conjunct can hold only if one of the raw
//! keys the mapper may read for `F` (its `from` keys and their `swap` partners) carries one of
//! the numbers. A line is kept when, for some rule, every such conjunct *may* hold; otherwise no
//! rule can match it and it is skipped without being parsed.
//!
//! *May hold* is decided conservatively by scanning the line's bytes for `"KEY"` followed by
//! `:` and reading the value token. The line is kept (undecided) whenever the scan cannot be
//! sure: the line is not framed `{...}`, it contains `\u` (an escaped key or digit could hide),
//! the key's quote is preceded by a backslash, a number is not plain decimal digits (`2.5e1`,
//! `-0`, `25.0`), a string value holds an escape or anything but ASCII digits after trimming,
//! the value is `true`/`false`/an object, or the number is outside the field type's range
//! (the full path reports it). It skips only when at least one candidate key occurs and every
//! occurrence is `null`, a schema "missing" marker, or a plain in-range integer outside the
//! set: then the full path sees a missing value or a number outside the set, and the conjunct
//! is false. A key that occurs more than once (a duplicate key, which the full path reports
//! as a bad line, or a nested key of the same name) keeps the line. A line with no candidate key at all is parsed (it is likely another event type,
//! and must be counted as such, or malformed, and must be reported).
//!
//! What the prefilter gives up: a skipped line is not parsed, so it is counted as
//! `prefiltered` instead of event / not applicable, and an error in *another* field of a
//! skipped line (a bad timestamp, say) is not reported. `--strict` and `--no-prefilter` parse
//! every line. `tests/it/eval_prefilter.rs` checks the alerts equal the full path's on
//! adversarial inputs.

use super::schema::InputSchema;
use crate::ir::{Expr, FieldRef, FieldType, Op, Rule, Value};
use memchr::memmem;
use std::sync::LazyLock;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Clause {
    /// Indexes into `Prefilter::keys`.
    keys: Vec<usize>,
    accept: Vec<i64>,
    /// The values the field's type admits; a value outside is a bad line on the full path,
    /// so the prefilter keeps it (it is reported, not skipped).
    range: (i64, i64),
}

/// The prefilter of one file: the alternatives of the rules that read its schema.
#[derive(Debug, Clone)]
pub struct Prefilter {
    /// Every raw key some clause reads, searched as `"KEY"`; each is scanned once per line
    /// however many rules read it.
    keys: Vec<memmem::Finder<'static>>,
    /// One conjunction of clauses per rule.
    rules: Vec<Vec<Clause>>,
    missing: Vec<Vec<u8>>,
}

fn int_values(op: &Op) -> Option<Vec<i64>> {
    let vals: Vec<&Value> = match op {
        Op::Eq { value, .. } => vec![value],
        Op::In { values, .. } => values.iter().collect(),
        _ => return None,
    };
    vals.into_iter()
        .map(|v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })
        .collect()
}

fn clauses(rule: &Rule, schema: &InputSchema, names: &mut Vec<String>) -> Vec<Clause> {
    let conjuncts: Vec<&Expr> = match &rule.filter {
        Expr::And(v) => v.iter().collect(),
        e => vec![e],
    };
    let mut out = Vec::new();
    for c in conjuncts {
        let Expr::Pred(p) = c else { continue };
        let FieldRef::Field(name) = &p.field else {
            continue;
        };
        // A list field's raw value is several numbers: not a scan of one token.
        if p.each {
            continue;
        }
        if !matches!(p.ty, FieldType::Port | FieldType::Int) {
            continue;
        }
        let (Some(accept), Some(keys)) = (int_values(&p.op), schema.plain_keys(name)) else {
            continue;
        };
        // A dotted key (`id.resp_p`) is also looked up as a path into nested objects
        // (`{"id": {"resp_p": 25}}`): scan for its last segment too. Every occurrence at any
        // depth is examined, so the nested one is among them.
        let mut keys = keys;
        let tails: Vec<String> = keys
            .iter()
            .filter_map(|k| k.rsplit_once('.').map(|(_, t)| t.to_string()))
            .collect();
        keys.extend(tails);
        keys.sort();
        keys.dedup();
        let range = if p.ty == FieldType::Port {
            (0, 65_535)
        } else {
            (i64::MIN, i64::MAX)
        };
        let keys = keys
            .iter()
            .map(|k| match names.iter().position(|n| n == k) {
                Some(i) => i,
                None => {
                    names.push(k.clone());
                    names.len() - 1
                }
            })
            .collect();
        out.push(Clause {
            range,
            keys,
            accept,
        });
    }
    out
}

/// What one occurrence of a key holds, as far as the scan can tell.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Occ {
    /// null or a missing marker: the field is missing.
    Missing,
    /// A plain decimal integer (as a number or a digit string).
    Int(i64),
    /// Anything the scan will not vouch for (escapes, exponents, other types, malformed).
    Unknown,
}

fn value_at(line: &[u8], mut i: usize, missing: &[Vec<u8>]) -> Occ {
    let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while i < line.len() && ws(line[i]) {
        i += 1;
    }
    let Some(&first) = line.get(i) else {
        return Occ::Unknown;
    };
    let int = |digits: &[u8]| -> Occ {
        if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
            return Occ::Unknown;
        }
        Occ::Int(
            digits
                .iter()
                .fold(0i64, |a, d| a * 10 + i64::from(d - b'0')),
        )
    };
    match first {
        b'"' => {
            let start = i + 1;
            let Some(len) = memchr::memchr(b'"', &line[start..]) else {
                return Occ::Unknown;
            };
            let s = &line[start..start + len];
            if s.contains(&b'\\') {
                return Occ::Unknown;
            }
            let t = s.trim_ascii();
            if t.is_empty() || missing.iter().any(|m| m.as_slice() == s) {
                return Occ::Missing;
            }
            int(t)
        }
        b'0'..=b'9' => {
            let mut j = i;
            while j < line.len()
                && matches!(line[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            {
                j += 1;
            }
            int(&line[i..j])
        }
        b'n' if line[i..].starts_with(b"null") => Occ::Missing,
        _ => Occ::Unknown,
    }
}

/// The occurrences of one key in a line (at most `MAX_OCC` kept; more counts as unknown).
#[derive(Debug, Clone, Copy)]
struct KeyScan {
    n: usize,
    occ: [Occ; MAX_OCC],
    /// More occurrences than kept, or a key quote after a backslash: keep the line.
    unsure: bool,
}

const MAX_OCC: usize = 4;
const MAX_KEYS: usize = 8;

fn scan_key(line: &[u8], k: &memmem::Finder<'_>, missing: &[Vec<u8>]) -> KeyScan {
    let mut ks = KeyScan {
        n: 0,
        occ: [Occ::Unknown; MAX_OCC],
        unsure: false,
    };
    for pos in k.find_iter(line) {
        if pos > 0 && line[pos - 1] == b'\\' {
            ks.unsure = true;
            return ks;
        }
        let mut i = pos + k.needle().len();
        while i < line.len() && matches!(line[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        if line.get(i) != Some(&b':') {
            // A string value equal to the key's name, not a key.
            continue;
        }
        if ks.n == MAX_OCC {
            ks.unsure = true;
            return ks;
        }
        ks.occ[ks.n] = value_at(line, i + 1, missing);
        ks.n += 1;
    }
    ks
}

impl Clause {
    fn may_hold(&self, scans: &[Option<KeyScan>]) -> bool {
        let mut seen = false;
        for &k in &self.keys {
            let Some(Some(ks)) = scans.get(k) else {
                return true;
            };
            // A key written twice is kept: the full path reports a duplicate key as a bad line
            // (a nested key of the same name is kept too, conservatively).
            if ks.unsure || ks.n > 1 {
                return true;
            }
            for o in &ks.occ[..ks.n] {
                seen = true;
                match *o {
                    Occ::Missing => {}
                    Occ::Unknown => return true,
                    Occ::Int(n) => {
                        if self.accept.contains(&n) || n < self.range.0 || n > self.range.1 {
                            return true;
                        }
                    }
                }
            }
        }
        // No candidate key at all: the field is missing and the conjunct false, but the line
        // may be of another event type or malformed; parse it so it is accounted for.
        !seen
    }
}

/// Whether a JSON line has a `\uXXXX` escape: a `u` after an odd run of backslashes
/// (`CORP\\user`, an escaped backslash then a letter, is not one).
///
/// Searched as the pair `\u`, not backslash by backslash: Windows paths put a dozen escaped
/// backslashes on a Sysmon line, and a search step per backslash was 40% of a correlation's
/// pass over network events (it tries every line for the process schema it never finds).
pub(super) fn has_unicode_escape(line: &[u8]) -> bool {
    static PAIR: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\\u"));
    PAIR.find_iter(line)
        .any(|p| line[..=p].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1)
}

/// The conjunctions of one clause merged by keys and range, each group into one clause that
/// accepts every value of theirs (the others unchanged). A line is kept when some conjunction
/// may hold, and [`Clause::may_hold`] of clauses that differ only in the values accepted holds
/// for one of them exactly when it holds for their union: every other reason to keep the line
/// (a key unsure, written twice, an unknown or out-of-range value, no key at all) is the same
/// for all. A pack of rules pinned to the eight mail ports is one clause, not eight.
fn merge_single_clauses(all: Vec<Vec<Clause>>) -> Vec<Vec<Clause>> {
    let mut out: Vec<Vec<Clause>> = Vec::with_capacity(all.len());
    let mut single: Vec<Clause> = Vec::new();
    for mut conj in all {
        match conj.pop() {
            Some(c) if conj.is_empty() => {
                match single
                    .iter_mut()
                    .find(|s| s.keys == c.keys && s.range == c.range)
                {
                    Some(s) => s.accept.extend(c.accept),
                    None => single.push(c),
                }
            }
            Some(c) => {
                conj.push(c);
                out.push(conj);
            }
            None => out.push(conj),
        }
    }
    for mut c in single {
        c.accept.sort_unstable();
        c.accept.dedup();
        out.push(vec![c]);
    }
    out
}

impl Prefilter {
    /// The prefilter for a file of `schema` read by `rules` (those of the schema's source).
    /// `None` when some rule has no usable clause: every line must then be parsed.
    pub fn new(rules: &[&Rule], schema: &InputSchema) -> Option<Prefilter> {
        let mut all = Vec::new();
        let mut names = Vec::new();
        for r in rules {
            let c = clauses(r, schema, &mut names);
            if c.is_empty() {
                return None;
            }
            all.push(c);
        }
        // Rules often share a conjunction (a pack of rules pinned to the same port): a line is
        // kept when one holds, so each distinct one is tested once per line. Clauses are sorted
        // within a conjunction (their order does not change whether all may hold).
        for c in &mut all {
            for cl in c.iter_mut() {
                cl.keys.sort_unstable();
                cl.accept.sort_unstable();
            }
            c.sort();
            c.dedup();
        }
        let mut all = merge_single_clauses(all);
        all.sort();
        all.dedup();
        if names.len() > MAX_KEYS {
            return None;
        }
        Some(Prefilter {
            keys: names
                .iter()
                .map(|k| memmem::Finder::new(format!("\"{k}\"").as_bytes()).into_owned())
                .collect(),
            rules: all,
            missing: schema
                .missing_markers()
                .iter()
                .map(|m| m.as_bytes().to_vec())
                .collect(),
        })
    }

    /// Whether some rule may match `line` (false: provably none can).
    pub fn keep(&self, line: &[u8]) -> bool {
        let t = line.trim_ascii();
        // Only a line framed as one JSON object is a candidate for skipping: a truncated line
        // is parsed and reported as bad.
        if t.first() != Some(&b'{') || t.last() != Some(&b'}') || has_unicode_escape(line) {
            return true;
        }
        let mut scans: [Option<KeyScan>; MAX_KEYS] = [None; MAX_KEYS];
        for conj in &self.rules {
            let mut all = true;
            for c in conj {
                for &k in &c.keys {
                    if scans[k].is_none() {
                        scans[k] = Some(scan_key(line, &self.keys[k], &self.missing));
                    }
                }
                if !c.may_hold(&scans) {
                    all = false;
                    break;
                }
            }
            if all {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::has_unicode_escape;

    /// The definition, backslash by backslash: a `u` after an odd run of backslashes.
    fn by_backslash(line: &[u8]) -> bool {
        memchr::memchr_iter(b'\\', line).any(|p| {
            line.get(p + 1) == Some(&b'u')
                && line[..=p].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
        })
    }

    #[test]
    fn unicode_escapes_are_found_as_by_the_definition() {
        // Every string of up to 7 bytes over `\`, `u`, `x` and `"`: runs of backslashes of
        // every parity before a `u`, at the start and at the end.
        let alphabet = [b'\\', b'u', b'x', b'"'];
        let mut found = 0;
        for len in 0..=7u32 {
            for mut n in 0..4usize.pow(len) {
                let mut line = Vec::new();
                for _ in 0..len {
                    line.push(alphabet[n % 4]);
                    n /= 4;
                }
                let want = by_backslash(&line);
                assert_eq!(
                    has_unicode_escape(&line),
                    want,
                    "{:?}",
                    String::from_utf8_lossy(&line)
                );
                found += usize::from(want);
            }
        }
        assert!(found > 1000, "the cases must include escapes: {found}");
        let path = br#"{"Image":"C:\\Users\\u1\\a.exe","User":"CORP\\user"}"#;
        assert!(!has_unicode_escape(path));
        assert!(has_unicode_escape(br#"{"Image":"C:\\\u0041.exe"}"#));
    }
}
