//! The meaning of values, stated once for every consumer: the evaluator (`eval::ops` builds its
//! compiled matchers on these) and the backends (which fold literals and decide predicates on
//! constants, e.g. a condition on a computed field, with them). The normative text is in the
//! module docs of `src/ir/mod.rs`.

use super::{Case, CmpOp, Value};

/// Unicode simple lowercasing: every code point to the first code point of its lowercase
/// mapping. This is the simple case mapping of UnicodeData.txt (the only code point whose full
/// lowercase mapping has more than one code point is U+0130, whose simple mapping is `i`, which
/// is also the first code point of its full mapping).
pub fn simple_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// Whether a value counts as missing (the normative rule: absent, null or the empty string).
pub fn is_missing(v: Option<&Value>) -> bool {
    match v {
        None => true,
        Some(Value::Str(s)) | Some(Value::Enum(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// Typed equality under `case`. Different types are never equal.
pub fn values_equal(a: &Value, b: &Value, case: Case) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => match case {
            Case::Sensitive => x == y,
            Case::Insensitive => x == y || simple_lower(x) == simple_lower(y),
        },
        _ => a == b,
    }
}

/// Numeric ordering of integers and timestamps (the two share the i64 axis only with their own
/// kind: an `Int` never compares with a `Timestamp`).
pub fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    let ord = match (a, b) {
        (Value::Int(x), Value::Int(y)) | (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        _ => return false,
    };
    match op {
        CmpOp::Lt => ord.is_lt(),
        CmpOp::Le => ord.is_le(),
        CmpOp::Gt => ord.is_gt(),
        CmpOp::Ge => ord.is_ge(),
    }
}
