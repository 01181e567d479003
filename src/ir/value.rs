//! Value expressions: arithmetic over numeric fields, aggregates and literals, and the comparison
//! of two of them (`bytes.sent > 20 * bytes.received`, `having sent / received > 20`).
//!
//! ## Meaning (normative; docs/SEMANTICS.md repeats it)
//! - Every value is computed in IEEE 754 double precision (binary64): an operand is converted to
//!   a double, then `+ - * /` are the IEEE operations, so `/` is real division (`41 / 2` is
//!   20.5, never Kusto's integer `long / long`). Integers up to 2^53 convert exactly; a larger
//!   byte count rounds to the nearest double, the same way on every engine.
//! - A value is *undefined* when a field or aggregate it reads is missing (the IR's missing:
//!   absent, null, empty) or when a divisor (the right side of any `/` in it) is zero.
//! - A comparison holds when both values are defined and the IEEE comparison of them is true.
//!   An undefined value makes the comparison false, as every predicate on a missing field is;
//!   `not` is plain negation, so `not (a > b)` is true when `b` is missing. `a != b` is
//!   `not (a == b)`, as for predicates.
//! - Overflow: none in practice. Byte counts, durations and integers are at most 2^63, so a
//!   product of a few of them stays far below the largest double (about 1.8 * 10^308);
//!   a result beyond it is an IEEE infinity, which compares as IEEE says on every engine.
//!
//! Backends emit the definedness as a guard (every read value present, every divisor not zero)
//! in front of the comparison, so no engine's own rule for null or for division by zero is
//! ever reached; the evaluator computes [`ValueExpr::eval`], `None` for undefined.

use super::{FieldRef, FieldType, Span, Value};
use serde::Serialize;

/// `<`, `<=`, `>`, `>=`, `==` between two values (`!=` is `Not` of `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl RelOp {
    /// The operator as KQL, SPL `where` and the docs write it.
    pub fn text(self) -> &'static str {
        match self {
            RelOp::Lt => "<",
            RelOp::Le => "<=",
            RelOp::Gt => ">",
            RelOp::Ge => ">=",
            RelOp::Eq => "==",
        }
    }

    /// The IEEE comparison of two doubles.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            RelOp::Lt => a < b,
            RelOp::Le => a <= b,
            RelOp::Gt => a > b,
            RelOp::Ge => a >= b,
            RelOp::Eq => a == b,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ArithOp {
    pub fn text(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

/// A function of an event's time, read in a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFunc {
    /// `hour(time)`: the hour of the day, 0 to 23.
    Hour,
    /// `weekday(time)`: the day of the week, Sunday 0 to Saturday 6 (Kusto's `dayofweek` and
    /// C's `tm_wday`). The language compares weekdays only for (in)equality, so no rule depends
    /// on which day starts the week.
    Weekday,
}

impl TimeFunc {
    pub fn name(self) -> &'static str {
        match self {
            TimeFunc::Hour => "hour",
            TimeFunc::Weekday => "weekday",
        }
    }

    /// The function of `secs` (seconds since the Unix epoch, UTC) read at `offset_minutes` from
    /// UTC. A fraction of a second is dropped first (floor), and both divisions are floors, so a
    /// time before the epoch is as well defined as one after it.
    pub fn of(self, secs: f64, offset_minutes: i32) -> f64 {
        let local = secs.floor() + f64::from(offset_minutes) * 60.0;
        match self {
            TimeFunc::Hour => (local / 3600.0).floor().rem_euclid(24.0),
            // 1970-01-01 was a Thursday (4).
            TimeFunc::Weekday => ((local / 86400.0).floor() + 4.0).rem_euclid(7.0),
        }
    }
}

/// The weekday symbols, Sunday first ([`TimeFunc::Weekday`]'s numbers are their positions).
pub const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A numeric value of an event or a group. New kinds of value (a function call such as
/// `hour(time)`) are one more variant here, typed by the checker and lowered by each backend.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ValueExpr {
    /// A catalogue field (event scope) or an aggregate (group scope), with its type.
    Ref { field: FieldRef, ty: FieldType },
    /// An integer, size (bytes) or duration (seconds) literal.
    Num { value: i64 },
    Arith {
        op: ArithOp,
        left: Box<ValueExpr>,
        right: Box<ValueExpr>,
    },
    /// `hour(time)`, `weekday(time)`: a function of a timestamp field, read at the rule's
    /// declared UTC offset (`timezone +02:00`). Undefined when the field is missing.
    Time {
        func: TimeFunc,
        field: FieldRef,
        offset_minutes: i32,
    },
}

impl ValueExpr {
    /// Every field or aggregate the value reads, in reading order (with repeats).
    pub fn refs(&self) -> Vec<&FieldRef> {
        let mut out = Vec::new();
        self.walk(&mut |v| match v {
            ValueExpr::Ref { field, .. } | ValueExpr::Time { field, .. } => out.push(field),
            _ => {}
        });
        out
    }

    /// The timestamp fields read by a time function (a subset of [`ValueExpr::refs`]): a backend
    /// guards them as times, not as numbers.
    pub fn time_refs(&self) -> Vec<&FieldRef> {
        let mut out = Vec::new();
        self.walk(&mut |v| {
            if let ValueExpr::Time { field, .. } = v {
                out.push(field);
            }
        });
        out
    }

    /// The right side of every division, outermost first: the value is undefined when one of
    /// them is zero.
    pub fn divisors(&self) -> Vec<&ValueExpr> {
        let mut out = Vec::new();
        self.walk(&mut |v| {
            if let ValueExpr::Arith {
                op: ArithOp::Div,
                right,
                ..
            } = v
            {
                out.push(&**right);
            }
        });
        out
    }

    fn walk<'a>(&'a self, f: &mut impl FnMut(&'a ValueExpr)) {
        f(self);
        if let ValueExpr::Arith { left, right, .. } = self {
            left.walk(f);
            right.walk(f);
        }
    }

    /// The value, `None` when undefined (a missing operand or a zero divisor). `lookup` resolves
    /// a reference as the evaluator's predicates do.
    pub fn eval<'a, F>(&self, lookup: &F) -> Option<f64>
    where
        F: Fn(&FieldRef) -> Option<&'a Value>,
    {
        self.eval_num(&|f: &FieldRef| match lookup(f) {
            Some(Value::Int(n)) | Some(Value::Timestamp(n)) => Some(*n as f64),
            _ => None,
        })
    }

    /// [`ValueExpr::eval`] with `num` giving each reference's number (`None`: missing, or not an
    /// integer; a timestamp is its seconds since the epoch), for callers that hold values in
    /// another form than [`Value`].
    pub fn eval_num<F>(&self, num: &F) -> Option<f64>
    where
        F: Fn(&FieldRef) -> Option<f64>,
    {
        match self {
            ValueExpr::Ref { field, .. } => num(field),
            ValueExpr::Num { value } => Some(*value as f64),
            ValueExpr::Time {
                func,
                field,
                offset_minutes,
            } => Some(func.of(num(field)?, *offset_minutes)),
            ValueExpr::Arith { op, left, right } => {
                let a = left.eval_num(num)?;
                let b = right.eval_num(num)?;
                match op {
                    ArithOp::Add => Some(a + b),
                    ArithOp::Sub => Some(a - b),
                    ArithOp::Mul => Some(a * b),
                    ArithOp::Div if b == 0.0 => None,
                    ArithOp::Div => Some(a / b),
                }
            }
        }
    }
}

/// `left op right` over two values; see the module docs for its meaning.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub left: ValueExpr,
    pub op: RelOp,
    pub right: ValueExpr,
    pub span: Span,
}

impl Comparison {
    /// Every field or aggregate either side reads, deduplicated, in reading order.
    pub fn refs(&self) -> Vec<&FieldRef> {
        let mut out: Vec<&FieldRef> = Vec::new();
        for r in self.left.refs().into_iter().chain(self.right.refs()) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// Every timestamp field a time function of either side reads, deduplicated.
    pub fn time_refs(&self) -> Vec<&FieldRef> {
        let mut out: Vec<&FieldRef> = Vec::new();
        for r in self
            .left
            .time_refs()
            .into_iter()
            .chain(self.right.time_refs())
        {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// Whether either side reads a time function (`hour(time)`, `weekday(time)`).
    pub fn reads_time(&self) -> bool {
        !self.time_refs().is_empty()
    }

    /// Every divisor of either side, deduplicated, left side first.
    pub fn divisors(&self) -> Vec<&ValueExpr> {
        let mut out: Vec<&ValueExpr> = Vec::new();
        for d in self
            .left
            .divisors()
            .into_iter()
            .chain(self.right.divisors())
        {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// Whether the comparison holds.
    pub fn holds<'a, F>(&self, lookup: &F) -> bool
    where
        F: Fn(&FieldRef) -> Option<&'a Value>,
    {
        match (self.left.eval(lookup), self.right.eval(lookup)) {
            (Some(a), Some(b)) => self.op.holds(a, b),
            _ => false,
        }
    }

    /// [`Comparison::holds`] with `num` giving each reference's number ([`ValueExpr::eval_num`]).
    pub fn holds_num<F>(&self, num: &F) -> bool
    where
        F: Fn(&FieldRef) -> Option<f64>,
    {
        match (self.left.eval_num(num), self.right.eval_num(num)) {
            (Some(a), Some(b)) => self.op.holds(a, b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_and_weekday_at_an_offset_around_midnight_and_the_epoch() {
        // 2025-11-23 (a Sunday) 23:30:00 UTC is Monday 01:30 at +02:00.
        let t = 1_763_940_600.0;
        assert_eq!(TimeFunc::Hour.of(t, 0), 23.0);
        assert_eq!(TimeFunc::Weekday.of(t, 0), 0.0);
        assert_eq!(TimeFunc::Hour.of(t, 120), 1.0);
        assert_eq!(TimeFunc::Weekday.of(t, 120), 1.0);
        // A fraction of a second never moves the hour: 08:59:59.9 is hour 8.
        assert_eq!(TimeFunc::Hour.of(8.0 * 3600.0 - 0.1 + 3600.0, 0), 8.0);
        // Before the epoch at a negative offset: 1970-01-01 00:00 UTC is Wednesday 19:00 at -05:00.
        assert_eq!(TimeFunc::Hour.of(0.0, -300), 19.0);
        assert_eq!(TimeFunc::Weekday.of(0.0, -300), 3.0);
        assert_eq!(WEEKDAYS[TimeFunc::Weekday.of(0.0, 0) as usize], "thu");
    }

    fn r(n: &str) -> ValueExpr {
        ValueExpr::Ref {
            field: FieldRef::Field(n.into()),
            ty: FieldType::Bytes,
        }
    }
    fn num(n: i64) -> ValueExpr {
        ValueExpr::Num { value: n }
    }
    fn ar(op: ArithOp, a: ValueExpr, b: ValueExpr) -> ValueExpr {
        ValueExpr::Arith {
            op,
            left: Box::new(a),
            right: Box::new(b),
        }
    }

    #[test]
    fn real_division_zero_divisor_and_missing_are_undefined() {
        let vals = [
            ("a", Value::Int(41)),
            ("b", Value::Int(2)),
            ("z", Value::Int(0)),
        ];
        let look = |f: &FieldRef| vals.iter().find(|(n, _)| *n == f.name()).map(|(_, v)| v);
        assert_eq!(ar(ArithOp::Div, r("a"), r("b")).eval(&look), Some(20.5));
        assert_eq!(ar(ArithOp::Div, r("a"), r("z")).eval(&look), None);
        assert_eq!(ar(ArithOp::Div, r("z"), r("a")).eval(&look), Some(0.0));
        assert_eq!(ar(ArithOp::Add, r("a"), r("gone")).eval(&look), None);
        // 0 * missing is still undefined: every read value must be present.
        assert_eq!(ar(ArithOp::Mul, num(0), r("gone")).eval(&look), None);
        let c = Comparison {
            left: ar(ArithOp::Div, r("a"), r("b")),
            op: RelOp::Gt,
            right: num(20),
            span: Span::file("t"),
        };
        assert!(c.holds(&look));
        assert_eq!(c.divisors(), vec![&r("b")]);
    }
}
