//! One definition per operator: the meaning of every IR [`Op`] on [`Value`]s, exactly as the
//! normative semantics in `src/ir/mod.rs` state them. Every consumer of the evaluator (filters,
//! computed fields, `having`, the rule-test runner, the prefilter's differential test) goes
//! through [`Matcher::matches`] or [`eval_expr`]; nothing else compares values.
//!
//! - A missing value (`None`, or an empty string) makes every operator false except `Exists`
//!   ([`Matcher::matches`] returns false for `Exists` on a missing value, true otherwise).
//!   The language's `missing` lowers to `Not(Exists)`, so plain negation gives it.
//! - `Case::Insensitive` compares after ASCII-only lowercasing of both sides ([`simple_lower`]):
//!   `A`-`Z` fold to `a`-`z`, every other character compares as itself (`İ` is not `i`, the
//!   Kelvin sign is not `k`).
//! - Values of different types are never equal (a port is not a string): the checker guarantees
//!   the types agree, so a mismatch can only come from a malformed event and is simply false.
//! - CIDR and IP classes use [`Cidr::contains`] and [`IpClass::contains`] from the catalogue.
//! - Regex: RE2 syntax (Rust `regex`), unanchored; `Insensitive` adds the other case of every
//!   ASCII letter the pattern can match ([`crate::ir::semantics::ascii_fold_regex`]), never `(?i)`.
//! - `Cmp` orders integers (ports, bytes, counts, durations) and timestamps numerically.

use crate::ir::catalogue::ClassTest;
use crate::ir::{Case, Cidr, CmpOp, Comparison, Expr, FieldRef, FieldType, Op, StrOp, Value};
use std::borrow::Cow;
use std::collections::HashSet as StdHashSet;

/// The sets of `in`: the rule's own values, hashed with the run's seeded hasher (a lookup of an
/// event's value probes a table the event did not fill: see `fasthash`).
type HashSet<T> = StdHashSet<T, super::fasthash::Seeded>;
use std::net::IpAddr;

pub use crate::ir::semantics::{
    compare, compare_ref, equal_ref, is_missing, simple_lower, values_equal, ValRef,
};

/// A field value of one event as the readers produce it: text borrowed from the line unless it
/// had to be rewritten (JSON escapes, a lowercasing, a join).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Ip(IpAddr),
    Enum(Cow<'a, str>),
    Timestamp(i64),
}

impl<'a> Cell<'a> {
    pub fn get(&self) -> ValRef<'_> {
        match self {
            Cell::Str(s) => ValRef::Str(s),
            Cell::Int(i) => ValRef::Int(*i),
            Cell::Ip(ip) => ValRef::Ip(*ip),
            Cell::Enum(s) => ValRef::Enum(s),
            Cell::Timestamp(t) => ValRef::Timestamp(*t),
        }
    }

    /// A view of an owned value (the abstract-event path).
    pub fn of(v: &'a Value) -> Cell<'a> {
        match v {
            Value::Str(s) => Cell::Str(Cow::Borrowed(s)),
            Value::Int(i) => Cell::Int(*i),
            Value::Ip(ip) => Cell::Ip(*ip),
            Value::Enum(s) => Cell::Enum(Cow::Borrowed(s)),
            Value::Timestamp(t) => Cell::Timestamp(*t),
        }
    }

    pub fn into_value(self) -> Value {
        match self {
            Cell::Str(s) => Value::Str(s.into_owned()),
            Cell::Int(i) => Value::Int(i),
            Cell::Ip(ip) => Value::Ip(ip),
            Cell::Enum(s) => Value::Enum(s.into_owned()),
            Cell::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

impl From<Value> for Cell<'_> {
    fn from(v: Value) -> Self {
        match v {
            Value::Str(s) => Cell::Str(Cow::Owned(s)),
            Value::Int(i) => Cell::Int(i),
            Value::Ip(ip) => Cell::Ip(ip),
            Value::Enum(s) => Cell::Enum(Cow::Owned(s)),
            Value::Timestamp(t) => Cell::Timestamp(t),
        }
    }
}

/// Calls `f` with `s` under [`simple_lower`], without allocating for short text (the usual
/// process names and hosts) or text with no ASCII capital.
pub fn with_lower<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    if !s.bytes().any(|b| b.is_ascii_uppercase()) {
        return f(s);
    }
    let mut buf = [0u8; 128];
    if let Some(b) = buf.get_mut(..s.len()) {
        b.copy_from_slice(s.as_bytes());
        b.make_ascii_lowercase();
        // ASCII lowercasing keeps UTF-8 valid; the fallback is never taken.
        if let Ok(l) = std::str::from_utf8(b) {
            return f(l);
        }
    }
    f(&simple_lower(s))
}

/// An [`Op`] prepared for repeated use: regexes compiled, case-insensitive needles lowercased,
/// memberships split by type (ports as a bitset, strings hashed). Built once per predicate;
/// `matches` is the operator's meaning.
#[derive(Debug, Clone)]
pub struct Matcher {
    kind: Kind,
}

/// The members of an exact `in`, by type (values of different types are never equal).
#[derive(Debug, Clone, Default)]
struct Members {
    /// Integers in 0..65536 (ports, small counts): one bit each.
    small: Option<Box<[u64]>>,
    ints: HashSet<i64>,
    strs: HashSet<String>,
    enums: HashSet<String>,
    ips: HashSet<IpAddr>,
    times: HashSet<i64>,
}

const SMALL: i64 = 1 << 16;

impl Members {
    fn new(values: &[Value]) -> Members {
        let mut m = Members::default();
        for v in values {
            match v {
                Value::Int(i) if (0..SMALL).contains(i) => {
                    let bits = m
                        .small
                        .get_or_insert_with(|| vec![0u64; (SMALL / 64) as usize].into());
                    if let Some(w) = bits.get_mut((*i / 64) as usize) {
                        *w |= 1 << (*i % 64);
                    }
                }
                Value::Int(i) => {
                    m.ints.insert(*i);
                }
                Value::Str(s) => {
                    m.strs.insert(s.clone());
                }
                Value::Enum(s) => {
                    m.enums.insert(s.clone());
                }
                Value::Ip(ip) => {
                    m.ips.insert(*ip);
                }
                Value::Timestamp(t) => {
                    m.times.insert(*t);
                }
            }
        }
        m
    }

    fn contains(&self, v: ValRef<'_>) -> bool {
        match v {
            ValRef::Int(i) if (0..SMALL).contains(&i) => self.small.as_ref().is_some_and(|b| {
                b.get((i / 64) as usize)
                    .is_some_and(|w| w & (1 << (i % 64)) != 0)
            }),
            ValRef::Int(i) => self.ints.contains(&i),
            ValRef::Str(s) => self.strs.contains(s),
            ValRef::Enum(s) => self.enums.contains(s),
            ValRef::Ip(ip) => self.ips.contains(&ip),
            ValRef::Timestamp(t) => self.times.contains(&t),
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Eq(Value, Case),
    /// Equality with an enum symbol: an enum cell holding the same text ([`equal_ref`] of an
    /// enum, whatever the case), compared by length and words (`==` on the symbols was a
    /// `memcmp` call, about 22 instructions a `direction == outbound` of (f)).
    EqEnum(super::schema::Exact),
    /// Membership of non-string values, or of case-sensitive strings (boxed: the sets are
    /// large, and most predicates are not memberships).
    InExact(Box<Members>),
    /// Membership of strings, case-insensitive: the lowercased values.
    InLower(HashSet<String>),
    Str(StrOp, Vec<String>, Case),
    Regex(regex::Regex),
    Cidr(Vec<Cidr>),
    Class(ClassTest),
    Cmp(CmpOp, Value),
    Exists,
    /// A list field ([`LIST_SEP`]-joined text): the inner operator holds for any element, each
    /// read as the elements' type (an element that is not of it never matches).
    Each(Box<Matcher>, FieldType),
}

/// The separator of a list field's elements in an abstract event's text (U+001F, ASCII's unit
/// separator): a list value is its elements joined by it, an empty list is missing. The readers
/// replace U+001F inside an element by U+FFFD (docs/LANGUAGE.md, "List fields").
pub const LIST_SEP: char = '\u{1f}';

/// Joins list elements into a list field's value (see [`LIST_SEP`]).
pub fn join_list<'a>(elems: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, e) in elems.into_iter().enumerate() {
        if i > 0 {
            out.push(LIST_SEP);
        }
        out.extend(
            e.chars()
                .map(|c| if c == LIST_SEP { '\u{fffd}' } else { c }),
        );
    }
    out
}

impl Matcher {
    /// Prepares `op`. The only failure is a regex the `regex` crate rejects (the checker has
    /// already validated it, so this is an internal error in practice).
    pub fn new(op: &Op) -> Result<Matcher, String> {
        let kind = match op {
            Op::Eq {
                value: Value::Enum(symbol),
                ..
            } => Kind::EqEnum(super::schema::Exact::new(symbol)),
            Op::Eq { value, case } => Kind::Eq(value.clone(), *case),
            Op::In { values, case, .. } => {
                let all_str = values.iter().all(|v| matches!(v, Value::Str(_)));
                if *case == Case::Insensitive && all_str {
                    Kind::InLower(
                        values
                            .iter()
                            .filter_map(|v| match v {
                                Value::Str(s) => Some(simple_lower(s)),
                                _ => None,
                            })
                            .collect(),
                    )
                } else {
                    Kind::InExact(Box::new(Members::new(values)))
                }
            }
            Op::Str {
                kind,
                needles,
                case,
            } => Kind::Str(
                *kind,
                match case {
                    Case::Sensitive => needles.clone(),
                    Case::Insensitive => needles.iter().map(|n| simple_lower(n)).collect(),
                },
                *case,
            ),
            Op::Regex { pattern, case } => {
                let folded =
                    crate::ir::semantics::ascii_fold_regex(pattern, *case == Case::Insensitive)
                        .map_err(|e| format!("regex `{pattern}`: {e}"))?;
                Kind::Regex(
                    regex::RegexBuilder::new(&folded)
                        .build()
                        .map_err(|e| format!("invalid regex `{pattern}`: {e}"))?,
                )
            }
            Op::InCidr { blocks, .. } => Kind::Cidr(blocks.clone()),
            Op::IpClass { class } => Kind::Class(class.membership()),
            Op::Cmp { op, value } => Kind::Cmp(*op, value.clone()),
            Op::Exists => Kind::Exists,
        };
        Ok(Matcher { kind })
    }

    /// `op` on a list field whose elements are of type `elem`: true when it holds for any.
    pub fn each(op: &Op, elem: &FieldType) -> Result<Matcher, String> {
        Ok(Matcher {
            kind: Kind::Each(Box::new(Matcher::new(op)?), elem.clone()),
        })
    }

    /// The right matcher for a predicate: element by element on a list field.
    pub fn of_pred(p: &crate::ir::Predicate) -> Result<Matcher, String> {
        if p.each {
            Matcher::each(&p.op, &p.ty)
        } else {
            Matcher::new(&p.op)
        }
    }

    /// The operator's truth value on `v` (`None` = missing).
    pub fn matches(&self, v: Option<&Value>) -> bool {
        self.matches_ref(v.map(ValRef::of))
    }

    /// [`Matcher::matches`] on a borrowed value: the one definition.
    pub fn matches_ref(&self, v: Option<ValRef<'_>>) -> bool {
        let Some(v) = v else { return false };
        if v.is_missing() {
            return false;
        }
        match &self.kind {
            Kind::Exists => true,
            Kind::Each(inner, ty) => {
                let ValRef::Str(s) = v else { return false };
                s.split(LIST_SEP).any(|e| match ty {
                    FieldType::String => inner.matches_ref(Some(ValRef::Str(e))),
                    other => super::schema::convert_text(e, other)
                        .is_ok_and(|x| inner.matches_ref(Some(ValRef::of(&x)))),
                })
            }
            Kind::Eq(want, case) => equal_ref(v, ValRef::of(want), *case),
            Kind::EqEnum(want) => matches!(v, ValRef::Enum(s) if want.is(s)),
            Kind::InExact(set) => set.contains(v),
            Kind::InLower(set) => match v {
                ValRef::Str(s) => with_lower(s, |l| set.contains(l)),
                _ => false,
            },
            Kind::Str(kind, needles, case) => {
                let ValRef::Str(s) = v else { return false };
                let test = |hay: &str| {
                    needles.iter().any(|n| match kind {
                        StrOp::StartsWith => hay.starts_with(n.as_str()),
                        StrOp::EndsWith => hay.ends_with(n.as_str()),
                        StrOp::Contains => hay.contains(n.as_str()),
                    })
                };
                match case {
                    Case::Sensitive => test(s),
                    Case::Insensitive => with_lower(s, test),
                }
            }
            Kind::Regex(re) => match v {
                ValRef::Str(s) | ValRef::Enum(s) => re.is_match(s),
                _ => false,
            },
            Kind::Cidr(blocks) => match v {
                ValRef::Ip(ip) => blocks.iter().any(|b| b.contains(ip)),
                _ => false,
            },
            Kind::Class(class) => match v {
                ValRef::Ip(ip) => class.contains(ip),
                _ => false,
            },
            Kind::Cmp(op, want) => compare_ref(v, *op, ValRef::of(want)),
        }
    }

    /// [`Matcher::matches_ref`] on a cell, with an address class on an address and an enum
    /// symbol on an enum decided in place: a filter's own predicate on every row of (f)
    /// (`direction == outbound`, `remote.ip is loopback`) went through the cell's `ValRef`
    /// and the general match, about 45 instructions each. An address is never missing; an
    /// enum is when empty.
    #[inline]
    pub fn matches_cell(&self, c: Option<&Cell<'_>>) -> bool {
        match (&self.kind, c) {
            (Kind::Class(class), Some(Cell::Ip(ip))) => class.contains(*ip),
            (Kind::EqEnum(want), Some(Cell::Enum(s))) => !s.is_empty() && want.is(s),
            _ => self.matches_ref(c.map(Cell::get)),
        }
    }
}

/// Convenience for one-off checks (tests, the differential harness): prepares `op` and applies it.
pub fn op_matches(op: &Op, v: Option<&Value>) -> Result<bool, String> {
    Ok(Matcher::new(op)?.matches(v))
}

/// An [`Expr`] with every predicate prepared. Each predicate also carries a slot number given
/// when compiling (see [`CompiledExpr::numbered`]): the engine resolves fields through it, with
/// no name comparison per event.
#[derive(Debug, Clone)]
pub enum CompiledExpr {
    And(Vec<CompiledExpr>),
    Or(Vec<CompiledExpr>),
    Not(Box<CompiledExpr>),
    Pred(FieldRef, usize, Matcher),
    /// A comparison of two values ([`Comparison::holds`] is its meaning), with the slot of each
    /// field it reads.
    Compare(Comparison, Vec<(FieldRef, usize)>),
}

impl CompiledExpr {
    pub fn new(e: &Expr) -> Result<CompiledExpr, String> {
        CompiledExpr::numbered(e, &mut |_| 0)
    }

    /// [`CompiledExpr::new`], numbering each predicate's field with `slot`.
    pub fn numbered(
        e: &Expr,
        slot: &mut dyn FnMut(&FieldRef) -> usize,
    ) -> Result<CompiledExpr, String> {
        Ok(match e {
            Expr::And(v) => CompiledExpr::And(
                v.iter()
                    .map(|x| CompiledExpr::numbered(x, slot))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Or(v) => CompiledExpr::Or(
                v.iter()
                    .map(|x| CompiledExpr::numbered(x, slot))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Not(x) => CompiledExpr::Not(Box::new(CompiledExpr::numbered(x, slot)?)),
            Expr::Pred(p) => {
                CompiledExpr::Pred(p.field.clone(), slot(&p.field), Matcher::of_pred(p)?)
            }
            Expr::Compare(c) => CompiledExpr::Compare(
                c.clone(),
                c.refs().into_iter().map(|f| (f.clone(), slot(f))).collect(),
            ),
        })
    }

    /// Evaluates with `lookup` resolving each field reference (`None` = missing).
    pub fn eval<'a, F>(&self, lookup: &F) -> bool
    where
        F: Fn(&FieldRef) -> Option<&'a Value>,
    {
        self.eval_ref(&|f: &FieldRef, _| lookup(f).map(ValRef::of))
    }

    /// Evaluates with `lookup` resolving each field reference and its slot number.
    pub fn eval_ref<'a, F>(&self, lookup: &F) -> bool
    where
        F: Fn(&FieldRef, usize) -> Option<ValRef<'a>>,
    {
        match self {
            CompiledExpr::And(v) => v.iter().all(|x| x.eval_ref(lookup)),
            CompiledExpr::Or(v) => v.iter().any(|x| x.eval_ref(lookup)),
            CompiledExpr::Not(x) => !x.eval_ref(lookup),
            CompiledExpr::Pred(f, k, m) => m.matches_ref(lookup(f, *k)),
            CompiledExpr::Compare(c, slots) => c.holds_num(&|f: &FieldRef| {
                let k = slots.iter().find(|(g, _)| g == f).map_or(0, |(_, k)| *k);
                match lookup(f, k) {
                    Some(ValRef::Int(n)) | Some(ValRef::Timestamp(n)) => Some(n as f64),
                    _ => None,
                }
            }),
        }
    }

    /// Whether any predicate reads a computed field.
    pub fn reads_computed(&self) -> bool {
        self.reads(&|f| matches!(f, FieldRef::Computed(_)))
    }

    /// Whether the expression reads some field that `which` picks.
    pub fn reads(&self, which: &dyn Fn(&FieldRef) -> bool) -> bool {
        match self {
            CompiledExpr::And(v) | CompiledExpr::Or(v) => v.iter().any(|x| x.reads(which)),
            CompiledExpr::Not(x) => x.reads(which),
            CompiledExpr::Pred(f, _, _) => which(f),
            CompiledExpr::Compare(c, _) => c.refs().iter().any(|f| which(f)),
        }
    }
}

/// Evaluates `e` once (compiling it); for one-off use.
pub fn eval_expr<'a, F>(e: &Expr, lookup: &F) -> Result<bool, String>
where
    F: Fn(&FieldRef) -> Option<&'a Value>,
{
    Ok(CompiledExpr::new(e)?.eval(lookup))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::IpClass;
    use std::net::IpAddr;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }
    fn ip(x: &str) -> Value {
        Value::Ip(x.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])))
    }
    fn m(op: Op, v: Option<&Value>) -> bool {
        op_matches(&op, v).unwrap_or(false)
    }

    /// A match on a cell is the match on its value, for the matchers it decides in place (an
    /// address class, an enum symbol) and one it passes on, over cells of every type: empty
    /// and non-empty enums and strings, addresses of each family in and out of each class, a
    /// number, a time, and no cell.
    #[test]
    fn a_match_on_a_cell_is_the_match_on_its_value() {
        let mut ops: Vec<Op> = [
            IpClass::Private,
            IpClass::Loopback,
            IpClass::LinkLocal,
            IpClass::Public,
        ]
        .into_iter()
        .map(|class| Op::IpClass { class })
        .collect();
        for symbol in ["outbound", "", "Outbound"] {
            ops.push(Op::Eq {
                value: Value::Enum(symbol.into()),
                case: Case::Sensitive,
            });
        }
        ops.push(Op::Eq {
            value: s("outbound"),
            case: Case::Insensitive,
        });
        let mut values: Vec<Value> = Vec::new();
        for t in ["", "outbound", "Outbound", "inbound"] {
            values.push(Value::Enum(t.into()));
            values.push(s(t));
        }
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.1.1",
            "8.8.8.8",
            "::1",
            "fe80::1",
            "2001:db8::1",
        ] {
            values.push(ip(a));
        }
        values.extend([Value::Int(127), Value::Timestamp(0)]);
        for op in &ops {
            let m = Matcher::new(op);
            assert!(m.is_ok(), "{op:?}");
            let Ok(m) = m else { continue };
            assert!(!m.matches_cell(None), "{op:?}");
            for v in &values {
                let c = Cell::of(v);
                assert_eq!(m.matches_cell(Some(&c)), m.matches(Some(v)), "{op:?} {v:?}");
            }
        }
    }

    /// Equality with an enum symbol ([`Kind::EqEnum`]) agrees with [`equal_ref`], the one
    /// definition (after the missing test every matcher makes), for symbols short, of 8 and 16
    /// bytes, long, non-ASCII and empty, against enums and strings of the same text, of another
    /// case, a byte longer or shorter, and values of other types; under both cases.
    #[test]
    fn enum_equality_agrees_with_equal_ref() {
        let texts = [
            "",
            "tcp",
            "outbound",
            "Outbound",
            "outbounds",
            "outboun",
            "0123456789abcdef",
            "0123456789abcdeF",
            "0123456789abcdef0",
            "a-symbol-longer-than-sixteen-bytes",
            "a-symbol-longer-than-sixteen-byteS",
            "caf\u{e9}",
            "CAF\u{c9}",
        ];
        let mut values: Vec<Value> = Vec::new();
        for t in texts {
            values.push(Value::Enum(t.into()));
            values.push(s(t));
        }
        values.extend([Value::Int(0), ip("10.0.0.1"), Value::Timestamp(0)]);
        for symbol in texts {
            for case in [Case::Sensitive, Case::Insensitive] {
                let op = Op::Eq {
                    value: Value::Enum(symbol.into()),
                    case,
                };
                for v in &values {
                    let want = !ValRef::of(v).is_missing()
                        && equal_ref(ValRef::of(v), ValRef::Enum(symbol), case);
                    assert_eq!(m(op.clone(), Some(v)), want, "{symbol:?} {v:?}");
                }
                assert!(!m(op, None));
            }
        }
    }

    #[test]
    fn missing_is_false_except_exists() {
        let eq = Op::Eq {
            value: Value::Int(25),
            case: Case::Sensitive,
        };
        assert!(!m(eq.clone(), None));
        assert!(!m(Op::Exists, None));
        assert!(!m(Op::Exists, Some(&s(""))));
        assert!(m(Op::Exists, Some(&Value::Int(0))));
        assert!(m(eq, Some(&Value::Int(25))));
    }

    #[test]
    fn case_rules() {
        let eq = |case| Op::Eq {
            value: s("PowerShell.EXE"),
            case,
        };
        assert!(m(eq(Case::Insensitive), Some(&s("powershell.exe"))));
        assert!(!m(eq(Case::Sensitive), Some(&s("powershell.exe"))));
        // ASCII-only folding: non-ASCII letters are never folded, in any operator.
        assert_eq!(simple_lower("İSTANBUL"), "İstanbul");
        let ci = |op: Op, v: &str| m(op, Some(&s(v)));
        let in_ci = |x: &str| Op::In {
            values: vec![s(x)],
            case: Case::Insensitive,
            list: None,
        };
        let eq_ci = |x: &str| Op::Eq {
            value: s(x),
            case: Case::Insensitive,
        };
        let str_ci = |kind, x: &str| Op::Str {
            kind,
            needles: vec![x.into()],
            case: Case::Insensitive,
        };
        for (needle, value) in [
            ("certutil.exe", "certut\u{130}l.exe"), // dotted capital I
            ("certutil.exe", "certut\u{131}l.exe"), // dotless i
            ("outlook.exe", "OUTLOO\u{212A}.EXE"),  // Kelvin sign
            ("strasse", "stra\u{df}e"),             // sharp s
            ("stra\u{df}e", "STRA\u{1E9E}E"),       // capital sharp s
            (
                "\u{3bf}\u{3b4}\u{3bf}\u{3c2}",
                "\u{39f}\u{394}\u{39f}\u{3a3}",
            ), // final sigma
            ("\u{e9}t\u{e9}", "\u{c9}T\u{c9}"),     // É / é
        ] {
            assert!(!ci(eq_ci(needle), value), "{needle} =~ {value}");
            assert!(!ci(in_ci(needle), value), "{needle} in~ {value}");
            for k in [StrOp::StartsWith, StrOp::EndsWith, StrOp::Contains] {
                assert!(!ci(str_ci(k, needle), value), "{k:?} {needle} {value}");
            }
        }
        // ASCII letters still fold, around non-ASCII ones that compare exactly.
        assert!(ci(eq_ci("\u{e9}T\u{e9}"), "\u{e9}t\u{e9}"));
        assert!(ci(in_ci("OUTLOOK.exe"), "outlook.EXE"));
        assert!(ci(str_ci(StrOp::Contains, "\u{c9}t"), "x\u{c9}T"));
    }

    /// Exact memberships are split by type (ports as a bitset): a value matches only a member
    /// of its own type, on both sides of the bitset's range.
    #[test]
    fn memberships_by_type() {
        let set = Op::In {
            values: vec![
                Value::Int(25),
                Value::Int(65_535),
                Value::Int(70_000),
                Value::Int(-1),
                s("a"),
                Value::Enum("b".into()),
                Value::Timestamp(5),
                ip("10.0.0.1"),
            ],
            case: Case::Sensitive,
            list: None,
        };
        for (v, want) in [
            (Value::Int(25), true),
            (Value::Int(26), false),
            (Value::Int(65_535), true),
            (Value::Int(65_536), false),
            (Value::Int(70_000), true),
            (Value::Int(-1), true),
            (Value::Int(5), false),
            (Value::Timestamp(5), true),
            (Value::Timestamp(25), false),
            (s("a"), true),
            (s("A"), false),
            (s("b"), false),
            (Value::Enum("b".into()), true),
            (Value::Enum("a".into()), false),
            (ip("10.0.0.1"), true),
            (ip("10.0.0.2"), false),
        ] {
            assert_eq!(m(set.clone(), Some(&v)), want, "{v:?}");
        }
        // Case-insensitive strings: lowered without allocating when short, and when long.
        let long = "X".repeat(300);
        let ci = Op::In {
            values: vec![s("OUTLOOK.exe"), s(&long)],
            case: Case::Insensitive,
            list: None,
        };
        assert!(m(ci.clone(), Some(&s("outlook.EXE"))));
        assert!(m(ci.clone(), Some(&s(&long.to_lowercase()))));
        assert!(!m(ci, Some(&s("outlook.ex"))));
    }

    #[test]
    fn types_never_cross() {
        let eq = Op::Eq {
            value: Value::Int(25),
            case: Case::Sensitive,
        };
        assert!(!m(eq, Some(&s("25"))));
    }

    #[test]
    fn strings_regex_ip() {
        let sw = Op::Str {
            kind: StrOp::EndsWith,
            needles: vec!["\\A.EXE".into(), "x".into()],
            case: Case::Insensitive,
        };
        assert!(m(sw, Some(&s("C:\\dir\\a.exe"))));
        let re = Op::Regex {
            pattern: "b+c".into(),
            case: Case::Sensitive,
        };
        assert!(m(re.clone(), Some(&s("aabbcd"))));
        assert!(!m(re, Some(&s("aaBCd"))));
        let cidr = Op::InCidr {
            blocks: vec![Cidr::parse("10.0.0.0/8").unwrap_or(Cidr {
                addr: IpAddr::from([255, 255, 255, 255]),
                prefix: 32,
            })],
            list: None,
        };
        assert!(m(cidr.clone(), Some(&ip("10.9.9.9"))));
        assert!(!m(cidr, Some(&ip("::ffff:10.9.9.9"))));
        assert!(m(
            Op::IpClass {
                class: IpClass::Public
            },
            Some(&ip("8.8.8.8"))
        ));
        assert!(m(
            Op::Cmp {
                op: CmpOp::Ge,
                value: Value::Int(3)
            },
            Some(&Value::Int(3))
        ));
        assert!(!m(
            Op::Cmp {
                op: CmpOp::Gt,
                value: Value::Int(3)
            },
            Some(&Value::Timestamp(9))
        ));
    }
}
