//! A flat scanner for one JSON-lines object, the evaluator's full path ([`super::read::LiteRecord`]):
//! it walks the top-level keys with memchr, keeps the values of the keys an input schema reads
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
use super::schema::Keys;
use std::borrow::Cow;

/// The scanner cannot decide this line: serde_json's reader does.
#[derive(Debug, PartialEq)]
pub(super) struct GiveUp;

/// Containers nested deeper than this inside a value make the scanner give up (serde_json
/// limits a kept value's depth to 128; skipped values it walks without a limit).
const MAX_DEPTH: usize = 100;

/// The values kept by key number, and the first kept key written twice.
pub(super) type Scanned<'a> = (Vec<Option<LiteVal<'a>>>, Option<&'a str>);

/// Scans one line: an object, nothing after it but whitespace.
pub(super) fn scan<'a>(line: &'a str, keys: &Keys) -> Result<Scanned<'a>, GiveUp> {
    let b = line.as_bytes();
    let mut vals: Vec<Option<LiteVal<'a>>> = (0..keys.len()).map(|_| None).collect();
    let mut dup = None;
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(GiveUp);
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return end(b, i + 1).map(|()| (vals, dup));
    }
    loop {
        let (key, at) = member_key(line, i)?;
        match keys.find(key).and_then(|n| vals.get_mut(n)) {
            Some(slot) => {
                let (v, next) = value(line, at)?;
                if slot.is_some() && dup.is_none() {
                    dup = Some(key);
                }
                *slot = Some(v);
                i = next;
            }
            None => i = skip(b, at)?,
        }
        i = ws(b, i);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b'}') => return end(b, i + 1).map(|()| (vals, dup)),
            _ => return Err(GiveUp),
        }
    }
}

/// JSON whitespace from `i` on: the position after it.
fn ws(b: &[u8], mut i: usize) -> usize {
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
fn member_key(line: &str, i: usize) -> Result<(&str, usize), GiveUp> {
    let b = line.as_bytes();
    if b.get(i) != Some(&b'"') {
        return Err(GiveUp);
    }
    let (close, escaped) = str_end(b, i + 1)?;
    if escaped {
        return Err(GiveUp);
    }
    let key = line.get(i + 1..close).ok_or(GiveUp)?;
    let at = ws(b, close + 1);
    if b.get(at) != Some(&b':') {
        return Err(GiveUp);
    }
    Ok((key, ws(b, at + 1)))
}

/// The closing quote of the string whose text starts at `i`, and whether it holds an escape.
/// Control characters and malformed escapes give up (serde_json refuses both).
fn str_end(b: &[u8], mut i: usize) -> Result<(usize, bool), GiveUp> {
    let mut escaped = false;
    loop {
        let rest = b.get(i..).ok_or(GiveUp)?;
        let p = memchr::memchr2(b'"', b'\\', rest).ok_or(GiveUp)?;
        // An OR over the bytes rather than `any`: it vectorises.
        let ctrl = rest[..p].iter().fold(false, |c, &x| c | (x < 0x20));
        if ctrl {
            return Err(GiveUp);
        }
        let p = i + p;
        if b.get(p) == Some(&b'"') {
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

/// The four hex digits at `i` as a number.
fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let h = std::str::from_utf8(b.get(i..i + 4)?).ok()?;
    if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(h, 16).ok()
}

/// The text of a string holding escapes (already checked by [`str_end`]), unescaped. A `\u`
/// escape that is not a character or a surrogate pair gives up.
fn unescape(s: &str) -> Result<String, GiveUp> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\\', b.get(i..).ok_or(GiveUp)?) {
        out.push_str(s.get(i..i + p).ok_or(GiveUp)?);
        let p = i + p;
        i = p + 2;
        match b.get(p + 1) {
            Some(b'"') => out.push('"'),
            Some(b'\\') => out.push('\\'),
            Some(b'/') => out.push('/'),
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
            }
            _ => return Err(GiveUp),
        }
    }
    out.push_str(s.get(i..).ok_or(GiveUp)?);
    Ok(out)
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

/// The literal `word` at `i`: the position after it.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, GiveUp> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        Err(GiveUp)
    }
}

/// A kept value at `i`, and the position after it.
fn value(line: &str, i: usize) -> Result<(LiteVal<'_>, usize), GiveUp> {
    let b = line.as_bytes();
    Ok(match b.get(i) {
        Some(b'"') => {
            let (close, escaped) = str_end(b, i + 1)?;
            let text = line.get(i + 1..close).ok_or(GiveUp)?;
            let s = if escaped {
                Cow::Owned(unescape(text)?)
            } else {
                Cow::Borrowed(text)
            };
            (LiteVal::Str(s), close + 1)
        }
        Some(b't') => (LiteVal::Bool(true), literal(b, i, b"true")?),
        Some(b'f') => (LiteVal::Bool(false), literal(b, i, b"false")?),
        Some(b'n') => (LiteVal::Null, literal(b, i, b"null")?),
        Some(b'-' | b'0'..=b'9') => {
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
            let e = skip(b, i)?;
            let v = serde_json::from_str(line.get(i..e).ok_or(GiveUp)?).map_err(|_| GiveUp)?;
            (LiteVal::Nested(v), e)
        }
        _ => return Err(GiveUp),
    })
}

/// Skips the value at `i`, checking its grammar: the position after it. Containers are walked
/// with a stack of their closing brackets, not by recursion.
fn skip(b: &[u8], mut i: usize) -> Result<usize, GiveUp> {
    let mut open: Vec<u8> = Vec::new();
    loop {
        // At a value.
        match b.get(i) {
            Some(b'"') => i = str_end(b, i + 1)?.0 + 1,
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
                        i = member_key_end(b, i)?;
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
                        i = member_key_end(b, i)?;
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
fn member_key_end(b: &[u8], i: usize) -> Result<usize, GiveUp> {
    if b.get(i) != Some(&b'"') {
        return Err(GiveUp);
    }
    let at = ws(b, str_end(b, i + 1)?.0 + 1);
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

    /// One line through both readers: where the scanner decides, serde_json's reader accepts
    /// the line with the same values and the same duplicate. Returns whether the scanner decided.
    fn agree(line: &str, k: &Keys) -> bool {
        let serde = LiteRecord::parse_serde(line, k);
        match scan(line, k) {
            Ok((vals, dup)) => {
                assert!(serde.is_ok(), "serde_json refuses {line:?}: {serde:?}");
                if let Ok((svals, sdup)) = serde {
                    assert_eq!(vals, svals, "{line:?}");
                    assert_eq!(dup, sdup.as_deref(), "{line:?}");
                }
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

    /// Lines of the benchmark's shape are decided by the scanner, values as serde_json's.
    #[test]
    fn decides_ordinary_lines() {
        let k = Keys::new(
            ["EventID", "Image", "User", "Hostname", "Nested", "Neg", "F"]
                .map(String::from)
                .to_vec(),
        );
        let line = r#"{"EventID":3, "Channel":"Microsoft-Windows-Sysmon/Operational","User":"CORP\\user1503","Image":"C:\\Program Files\\x\u00e9.exe","Hostname":"WS1","Skip":{"a":[1,2,{"b":null}],"c":"\"}"},"Nested":[1,{"x":"y"}],"Neg":-12,"F":2.5e-3}"#;
        let scanned = scan(line, &k);
        assert!(scanned.is_ok(), "the scanner gives up");
        let Ok((vals, dup)) = scanned else { return };
        assert_eq!(LiteRecord::parse_serde(line, &k), Ok((vals.clone(), None)));
        assert_eq!(dup, None);
        let img = k.find("Image").and_then(|i| vals.get(i));
        assert_eq!(
            img,
            Some(&Some(LiteVal::Str(Cow::Owned(
                "C:\\Program Files\\xé.exe".into()
            ))))
        );
        // Unescaped strings are borrowed from the line.
        let host = k.find("Hostname").and_then(|i| vals.get(i));
        assert!(matches!(
            host,
            Some(Some(LiteVal::Str(Cow::Borrowed("WS1"))))
        ));
    }

    /// Deep nesting in a skipped value gives up (serde_json decides) instead of recursing.
    #[test]
    fn deep_nesting_gives_up() {
        let k = keys();
        let deep = format!("{{\"z\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(scan(&deep, &k).map(|_| ()), Err(GiveUp));
        let ok = format!("{{\"z\":{}{}}}", "[".repeat(50), "]".repeat(50));
        assert!(scan(&ok, &k).is_ok());
    }
}
