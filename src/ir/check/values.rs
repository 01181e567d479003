//! Literal -> typed value, for a field type or a list type. Each conversion error says what was
//! found, what the type wants, and how to write it.

use crate::diag::{nearest, Diagnostic};
use crate::ir::{Cidr, FieldType, ListType, Value};
use crate::syntax::ast::{Literal, Spanned};

/// The type in words, for "expected ...".
pub fn type_words(ty: &FieldType) -> String {
    match ty {
        FieldType::String => "a quoted string".into(),
        FieldType::Port => "a port number (0 to 65535)".into(),
        FieldType::Bytes => "a byte count (an integer or a size like 50MB)".into(),
        FieldType::Int => "an integer".into(),
        FieldType::Ip => "an IP address".into(),
        FieldType::Timestamp => "a timestamp (\"2026-11-24T10:00:00Z\")".into(),
        FieldType::Duration => "a duration (e.g. 30s, 5m, 1h)".into(),
        FieldType::Enum(vs) => format!("one of {}", vs.join(", ")),
    }
}

/// The type name with its article, for "a port field", "an ip field".
pub fn a_type(ty: &FieldType) -> String {
    let n = type_name(ty);
    let article = if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {n}")
}

pub fn type_name(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::String => "string",
        FieldType::Port => "port",
        FieldType::Bytes => "bytes",
        FieldType::Int => "int",
        FieldType::Ip => "ip",
        FieldType::Timestamp => "timestamp",
        FieldType::Duration => "duration",
        FieldType::Enum(_) => "enum",
    }
}

/// Converts a literal to a value of `ty`. `what` names the place ("`remote.port`") for messages.
pub fn convert(lit: &Spanned<Literal>, ty: &FieldType, what: &str) -> Result<Value, Diagnostic> {
    let mismatch = || {
        let mut d = Diagnostic::error(
            "E0221",
            format!("type mismatch: {what} is {}", type_words(ty)),
        )
        .at(lit.span.clone())
        .found(lit.node.describe())
        .expected(type_words(ty));
        if let (FieldType::String, Literal::Symbol(s)) = (ty, &lit.node) {
            d = d.hint(format!("quote text values: \"{s}\""));
        }
        if let (FieldType::Ip, Literal::Cidr(..)) = (ty, &lit.node) {
            d = d.hint("to test membership in a block, write `in [10.0.0.0/8]`");
        }
        if let (FieldType::Port | FieldType::Int, Literal::Str(s)) = (ty, &lit.node) {
            if s.parse::<i64>().is_ok() {
                d = d.hint(format!("numbers are written without quotes: {s}"));
            }
        }
        d
    };
    match (ty, &lit.node) {
        (FieldType::String, Literal::Str(s)) => Ok(Value::Str(s.clone())),
        (FieldType::Port, Literal::Int(i)) => {
            if (0..=65535).contains(i) {
                Ok(Value::Int(*i))
            } else {
                Err(
                    Diagnostic::error("E0224", format!("port out of range for {what}"))
                        .at(lit.span.clone())
                        .found(i.to_string())
                        .expected("a port number from 0 to 65535"),
                )
            }
        }
        (FieldType::Int, Literal::Int(i)) => Ok(Value::Int(*i)),
        (FieldType::Bytes, Literal::Int(i)) if *i >= 0 => Ok(Value::Int(*i)),
        (FieldType::Bytes, Literal::Size(b)) => Ok(Value::Int(*b as i64)),
        (FieldType::Duration, Literal::Duration(s)) => Ok(Value::Int(*s as i64)),
        (FieldType::Duration, Literal::Int(i)) if *i >= 0 => Ok(Value::Int(*i)),
        (FieldType::Ip, Literal::Ip(ip)) => Ok(Value::Ip(*ip)),
        (FieldType::Timestamp, Literal::Str(s)) => match parse_timestamp(s) {
            Some(t) => Ok(Value::Timestamp(t)),
            None => Err(
                Diagnostic::error("E0221", format!("invalid timestamp for {what}"))
                    .at(lit.span.clone())
                    .found(format!("{s:?}"))
                    .expected("an RFC 3339 timestamp such as \"2026-11-24T10:00:00Z\""),
            ),
        },
        (FieldType::Timestamp, Literal::Int(i)) => Ok(Value::Timestamp(*i)),
        (FieldType::Enum(vs), Literal::Symbol(s) | Literal::Str(s)) => {
            if vs.iter().any(|v| v == s) {
                Ok(Value::Enum(s.clone()))
            } else {
                let mut d = Diagnostic::error("E0223", format!("unknown value for {what}"))
                    .at(lit.span.clone())
                    .found(format!("`{s}`"))
                    .expected(format!("one of {}", vs.join(", ")));
                if let Some(n) = nearest(s, vs.iter().map(String::as_str)) {
                    d = d.hint(format!("did you mean `{n}`?"));
                }
                Err(d)
            }
        }
        _ => Err(mismatch()),
    }
}

/// The field type a list of `ty` holds, for converting its entries.
pub fn list_elem_type(ty: ListType) -> FieldType {
    match ty {
        ListType::Port => FieldType::Port,
        ListType::Int => FieldType::Int,
        ListType::String => FieldType::String,
        ListType::Cidr | ListType::Ip => FieldType::Ip,
    }
}

pub fn list_type_by_name(name: &str) -> Option<ListType> {
    Some(match name {
        "port" => ListType::Port,
        "int" => ListType::Int,
        "string" => ListType::String,
        "cidr" => ListType::Cidr,
        "ip" => ListType::Ip,
        _ => return None,
    })
}

pub const LIST_TYPES: &[&str] = &["port", "int", "string", "cidr", "ip"];

/// A CIDR literal (or a bare address, as a one-address block) as a canonical block.
pub fn cidr_of(lit: &Spanned<Literal>) -> Result<Cidr, Diagnostic> {
    let text = match &lit.node {
        Literal::Cidr(ip, p) => format!("{ip}/{p}"),
        Literal::Ip(ip) => format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }),
        other => {
            return Err(
                Diagnostic::error("E0221", "type mismatch: expected a CIDR block")
                    .at(lit.span.clone())
                    .found(other.describe())
                    .expected("a CIDR block like 10.0.0.0/8 or an IP address"),
            )
        }
    };
    Cidr::parse(&text).map_err(|e| {
        let mut d = Diagnostic::error("E0225", "invalid CIDR block")
            .at(lit.span.clone())
            .found(format!("`{text}`"))
            .expected("a block whose host bits are zero");
        if let Some((_, canon)) = e.split_once("the block is ") {
            d = d.hint(format!("write {canon}, or list the single address"));
        } else {
            d = d.hint(e);
        }
        d
    })
}

/// Parses an RFC 3339 timestamp (`2026-11-24T10:00:00Z`, fractional seconds and offsets allowed,
/// a space instead of `T` accepted) to seconds since the Unix epoch (fractions truncated).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let r = &rest[1..];
            if r.len() != 5 || r.as_bytes()[2] != b':' {
                return None;
            }
            let oh: i64 = r[0..2].parse().ok()?;
            let om: i64 = r[3..5].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// True for `YYYY-MM-DD` naming a real date.
pub fn is_date(s: &str) -> bool {
    parse_timestamp(&format!("{s}T00:00:00Z")).is_some() && s.len() == 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2026-11-24T10:00:00Z"), Some(1_795_514_400));
        assert_eq!(
            parse_timestamp("2026-11-24 10:00:00.123"),
            Some(1_795_514_400)
        );
        assert_eq!(
            parse_timestamp("2026-11-24T12:00:00+02:00"),
            Some(1_795_514_400)
        );
        assert_eq!(parse_timestamp("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-13-01T00:00:00Z"), None);
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
    }
}
