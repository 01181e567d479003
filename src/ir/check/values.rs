//! Literal -> typed value, for a field type or a list type. Each conversion error says what was
//! found, what the type wants, and how to write it.

use crate::diag::{nearest, Code, Diagnostic};
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
        let mut d = Diagnostic::new(
            Code::E0221,
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
                    Diagnostic::new(Code::E0224, format!("port out of range for {what}"))
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
                Diagnostic::new(Code::E0221, format!("invalid timestamp for {what}"))
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
                let mut d = Diagnostic::new(Code::E0223, format!("unknown value for {what}"))
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
                Diagnostic::new(Code::E0221, "type mismatch: expected a CIDR block")
                    .at(lit.span.clone())
                    .found(other.describe())
                    .expected("a CIDR block like 10.0.0.0/8 or an IP address"),
            )
        }
    };
    Cidr::parse(&text).map_err(|e| {
        let mut d = Diagnostic::new(Code::E0225, "invalid CIDR block")
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

/// A timestamp literal (RFC 3339, or with a space for `T`) to Unix seconds: the crate's one
/// civil-time parser, [`crate::ir::time::parse_civil`].
pub fn parse_timestamp(s: &str) -> Option<i64> {
    crate::ir::time::parse_civil(s)
}

/// True for `YYYY-MM-DD` naming a real date.
pub fn is_date(s: &str) -> bool {
    s.len() == 10 && parse_timestamp(s).is_some()
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
