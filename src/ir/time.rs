//! Timestamps, once for the whole crate: the checker reads timestamp literals with
//! [`parse_civil`], the evaluator reads event times with [`parse`] and writes them with [`format`],
//! and both window with [`window_start`].
//!
//! Accepted (all read as UTC unless an offset is given; fractions of a second are truncated,
//! since the IR counts whole seconds):
//! - RFC 3339 / ISO 8601: `2021-03-14T01:39:40.688Z`, `2021-08-02T13:11:39.7724491Z` (Defender's
//!   7 fraction digits), `2021-08-02T13:32:07Z`, `...+02:00`;
//! - the space-separated form of Sysmon's `UtcTime` and nxlog's `EventTime`:
//!   `2021-03-14 06:39:39.023`, `2019-12-04 20:49:31`;
//! - Unix epoch time as a number or a string, integer or fractional (Zeek's `ts`:
//!   `1588205198.89971`), in seconds, milliseconds, microseconds or nanoseconds, told apart by
//!   the magnitude of the integer part (see [`EPOCH_UNITS`]).
//!
//! Windows are tumbling and aligned to the Unix epoch: an event at `t` belongs to the window
//! starting at `t - (t mod w)` (Euclidean modulo, so times before 1970 work too). This is what
//! KQL `bin(Timestamp, w)` and Splunk `bin _time span=w` compute for spans that divide a day,
//! which is every window the rule pack uses.

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s[..n]
            .iter()
            .fold(0u32, |a, b| a * 10 + u32::from(b - b'0')),
    )
}

/// Parses a timestamp in any accepted format to Unix seconds, or says why not.
pub fn parse(text: &str) -> Result<i64, String> {
    // This runs on every event: the shapes logs write (Zeek's epoch seconds with a fraction,
    // RFC 3339, the space-separated form) are read in one pass; anything else, and every
    // error, goes the general way (tested to agree).
    let b = text.as_bytes();
    if let Some(t) = epoch_fast(b) {
        return Ok(t);
    }
    if b.first().is_some_and(|c| c.is_ascii_digit())
        && b.last().is_some_and(|c| c.is_ascii_graphic())
    {
        if let Some(t) = parse_civil(text) {
            return Ok(t);
        }
    }
    parse_general(text)
}

/// A non-negative epoch (`digits[.digits]`, at most 18 integer digits: no overflow, no sign,
/// no space) in one pass; `None` for anything else, which [`parse_general`] decides.
fn epoch_fast(b: &[u8]) -> Option<i64> {
    let mut v: u64 = 0;
    let mut i = 0;
    while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if i == 18 {
            return None;
        }
        v = v * 10 + u64::from(d - b'0');
        i += 1;
    }
    if i == 0 {
        return None;
    }
    if let Some(rest) = b.get(i..).filter(|r| !r.is_empty()) {
        let (dot, frac) = rest.split_first()?;
        if *dot != b'.' || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    let per_sec = EPOCH_UNITS
        .iter()
        .rev()
        .find(|(least, _)| v >= *least)
        .map_or(1, |(_, p)| *p);
    // Under 10^18: fits an i64.
    Some(i64::try_from(v).ok()?.div_euclid(per_sec))
}

/// [`parse`] the general way: trimmed, then epoch or civil.
fn parse_general(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty timestamp".into());
    }
    if is_epoch(t) {
        return parse_epoch(t);
    }
    parse_civil(t).ok_or_else(|| {
        format!("`{t}` is not a timestamp (expected RFC 3339, `YYYY-MM-DD hh:mm:ss[.fff]` or Unix seconds)")
    })
}

fn is_epoch(t: &str) -> bool {
    let body = t.strip_prefix('-').unwrap_or(t);
    !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|b| *b == b'.').count() <= 1
}

/// Epoch units by the magnitude of the integer part: (at least, units per second). Seconds up
/// to 10^11 (year 5138); milliseconds from 10^11 ms (1973-03-03) to 10^14 ms (year 5138);
/// microseconds from 10^14 µs (1973-03-03) to 10^17 µs; nanoseconds from 10^17 ns
/// (1973-03-03). So an epoch in ms, µs or ns before 1973-03-03 reads as a smaller unit: logs
/// that old are not this tool's input, and a second count that large is not a plausible date.
pub const EPOCH_UNITS: [(u64, i64); 4] = [
    (0, 1),
    (100_000_000_000, 1_000),
    (100_000_000_000_000, 1_000_000),
    (100_000_000_000_000_000, 1_000_000_000),
];

fn parse_epoch(t: &str) -> Result<i64, String> {
    if !is_epoch(t) {
        return Err(format!("`{t}` is not a timestamp"));
    }
    let (int, _) = t.split_once('.').unwrap_or((t, ""));
    let neg = int.starts_with('-');
    let v: u64 = int
        .trim_start_matches('-')
        .parse()
        .map_err(|_| format!("`{t}` is out of range for a timestamp"))?;
    let per_sec = EPOCH_UNITS
        .iter()
        .rev()
        .find(|(least, _)| v >= *least)
        .map_or(1, |(_, p)| *p);
    let v = i64::try_from(v).map_err(|_| format!("`{t}` is out of range for a timestamp"))?;
    let frac_nonzero = t
        .split_once('.')
        .is_some_and(|(_, f)| f.bytes().any(|b| b != b'0'));
    // Truncate toward minus infinity so a window never starts after its event.
    let units = if neg { -v - i64::from(frac_nonzero) } else { v };
    Ok(units.div_euclid(per_sec))
}

/// A civil date-time (`YYYY-MM-DD`, optionally `[T ]hh:mm:ss[.f][Z|±hh[:mm]]`) to Unix seconds;
/// `None` unless every part is valid, including the day of the month (no 30 February).
pub fn parse_civil(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let y = digits(b, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let mo = digits(&b[5..], 2)?;
    let d = digits(&b[8..], 2)?;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(i64::from(y), mo) {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    if b.len() == 10 {
        return Some(days * 86_400);
    }
    if !matches!(b.get(10), Some(b'T') | Some(b't') | Some(b' ')) {
        return None;
    }
    let rest = &b[11..];
    let h = digits(rest, 2)?;
    if rest.get(2) != Some(&b':') {
        return None;
    }
    let mi = digits(&rest[3..], 2)?;
    if rest.get(5) != Some(&b':') {
        return None;
    }
    let s = digits(&rest[6..], 2)?;
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 8;
    if rest.get(i) == Some(&b'.') || rest.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        while rest.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset: i64 = match &rest[i..] {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let oh = digits(tail, 2)?;
            let om = match tail.len() {
                2 => 0,
                5 if tail[2] == b':' => digits(&tail[3..], 2)?,
                4 => digits(&tail[2..], 2)?,
                _ => return None,
            };
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset)
}

/// RFC 3339 in UTC with a `Z`: `2021-03-14T06:39:39Z`.
pub fn format(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Start of the tumbling window of length `window` seconds (> 0) that contains `t`.
pub fn window_start(t: i64, window: u64) -> i64 {
    let w = i64::try_from(window).unwrap_or(i64::MAX).max(1);
    t - t.rem_euclid(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_of_the_real_data() {
        // 2021-03-14T06:39:39Z = 1615703979 (date -u -d '2021-03-14 06:39:39' +%s).
        assert_eq!(parse("2021-03-14 06:39:39.023"), Ok(1_615_703_979));
        assert_eq!(parse("2021-03-14T06:39:39.023Z"), Ok(1_615_703_979));
        assert_eq!(parse("2021-03-14T08:39:39+02:00"), Ok(1_615_703_979));
        assert_eq!(parse("2021-08-02T13:11:39.7724491Z"), Ok(1_627_909_899));
        assert_eq!(parse("1588205198.89971"), Ok(1_588_205_198));
        assert_eq!(parse("1588205198"), Ok(1_588_205_198));
        // Milliseconds, microseconds, nanoseconds (by magnitude), and the thresholds.
        assert_eq!(parse("1588205198899"), Ok(1_588_205_198));
        assert_eq!(parse("1588205198899.9"), Ok(1_588_205_198));
        assert_eq!(parse("1588205198899712"), Ok(1_588_205_198));
        assert_eq!(parse("1588205198899712345"), Ok(1_588_205_198));
        assert_eq!(parse("99999999999"), Ok(99_999_999_999));
        assert_eq!(parse("100000000000"), Ok(100_000_000));
        assert_eq!(parse("-1588205198899"), Ok(-1_588_205_199));
        assert!(parse("99999999999999999999").is_err());
        assert!(parse("XXXXXXXXXX.XXXXXX").is_err());
        assert!(parse("2021-13-01T00:00:00Z").is_err());
        assert!(parse("").is_err());
    }

    /// The one-pass paths of [`parse`] agree with [`parse_general`] on every string of up to
    /// 6 characters over digits, `.`, `-`, a space, `T`, `:` and `Z`, and on long digit runs
    /// around the unit thresholds and the 18-digit limit: same value, same error.
    #[test]
    fn fast_paths_agree_with_the_general_parser() {
        let alphabet = [b'0', b'1', b'9', b'.', b'-', b' ', b'T', b':', b'Z'];
        let mut frontier: Vec<Vec<u8>> = vec![Vec::new()];
        let mut n = 0;
        for _ in 0..6 {
            let mut next = Vec::new();
            for s in &frontier {
                for c in alphabet {
                    let mut m = s.clone();
                    m.push(c);
                    let t = String::from_utf8(m.clone()).unwrap_or_default();
                    assert_eq!(parse(&t), parse_general(&t), "{t:?}");
                    n += 1;
                    next.push(m);
                }
            }
            frontier = next;
        }
        assert!(n > 500_000);
        let mut long = vec![
            "2021-03-14 06:39:39.023".to_string(),
            "2021-03-14T06:39:39.023Z".to_string(),
            "2021-08-02T13:11:39.7724491Z".to_string(),
            "2021-03-14T08:39:39+02:00".to_string(),
            "2021-02-30T00:00:00Z".to_string(),
            " 2021-03-14T06:39:39Z".to_string(),
            "2021-03-14T06:39:39Z ".to_string(),
            "2021-03-14T06:39:39Z\u{a0}".to_string(),
            "1588205198.89971".to_string(),
            "1588205198.".to_string(),
            "1588205198.8997x".to_string(),
            "1588205198 ".to_string(),
        ];
        for digits in 1..=22 {
            for lead in ['1', '9'] {
                let mut d: String = std::iter::once(lead).collect();
                d.extend(std::iter::repeat_n('0', digits - 1));
                long.push(d.clone());
                long.push(format!("{d}.5"));
                long.push(d.replace('0', "9"));
                long.push(format!("-{d}.25"));
            }
        }
        for t in &long {
            assert_eq!(parse(t), parse_general(t), "{t:?}");
        }
    }

    #[test]
    fn round_trip_and_windows() {
        assert_eq!(format(1_615_703_979), "2021-03-14T06:39:39Z");
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59Z");
        for t in [0i64, 951_782_400, 1_615_703_979, 4_102_444_800] {
            assert_eq!(parse(&format(t)), Ok(t));
        }
        assert_eq!(window_start(1_615_703_979, 3600), 1_615_701_600);
        assert_eq!(window_start(-1, 3600), -3600);
        assert_eq!(window_start(7200, 3600), 7200);
    }
}

/// Why a text is not a UTC offset a rule or pack may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetError {
    /// Not `+HH:MM` / `-HH:MM` (a named zone, `+2:00`, `0200`).
    Shape,
    /// The shape, but outside -12:00..+14:00 (the offsets in use) or with minutes of 60 or more.
    Range,
}

/// `+HH:MM` / `-HH:MM` as minutes east of UTC: the rule's `timezone` clause (whose shape the
/// grammar already gave) and the pack's `timezone:` in detc.yaml read the same way.
pub fn utc_offset(t: &str) -> Result<i32, OffsetError> {
    let b = t.as_bytes();
    let sign = match b.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(OffsetError::Shape),
    };
    if b.len() != 6 || b.get(3) != Some(&b':') {
        return Err(OffsetError::Shape);
    }
    let (Some(h), Some(m)) = (digits(&b[1..], 2), digits(&b[4..], 2)) else {
        return Err(OffsetError::Shape);
    };
    let minutes = sign * (h as i32 * 60 + m as i32);
    if m >= 60 || !(-12 * 60..=14 * 60).contains(&minutes) {
        return Err(OffsetError::Range);
    }
    Ok(minutes)
}
