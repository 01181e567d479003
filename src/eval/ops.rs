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

use crate::ir::{Case, Cidr, CmpOp, Comparison, Expr, FieldRef, IpClass, Op, StrOp, Value};
use std::collections::HashSet;

pub use crate::ir::semantics::{compare, is_missing, simple_lower, values_equal};

/// An [`Op`] prepared for repeated use: regexes compiled, case-insensitive needles lowercased,
/// large memberships hashed. Built once per predicate; `matches` is the operator's meaning.
#[derive(Debug, Clone)]
pub struct Matcher {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Eq(Value, Case),
    /// Membership of non-string values, or of case-sensitive strings.
    InExact(HashSet<Value>),
    /// Membership of strings, case-insensitive: the lowercased values.
    InLower(HashSet<String>),
    Str(StrOp, Vec<String>, Case),
    Regex(regex::Regex),
    Cidr(Vec<Cidr>),
    Class(IpClass),
    Cmp(CmpOp, Value),
    Exists,
}

impl Matcher {
    /// Prepares `op`. The only failure is a regex the `regex` crate rejects (the checker has
    /// already validated it, so this is an internal error in practice).
    pub fn new(op: &Op) -> Result<Matcher, String> {
        let kind = match op {
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
                    Kind::InExact(values.iter().cloned().collect())
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
            Op::IpClass { class } => Kind::Class(*class),
            Op::Cmp { op, value } => Kind::Cmp(*op, value.clone()),
            Op::Exists => Kind::Exists,
        };
        Ok(Matcher { kind })
    }

    /// The operator's truth value on `v` (`None` = missing).
    pub fn matches(&self, v: Option<&Value>) -> bool {
        if is_missing(v) {
            return false;
        }
        let Some(v) = v else { return false };
        match &self.kind {
            Kind::Exists => true,
            Kind::Eq(want, case) => values_equal(v, want, *case),
            Kind::InExact(set) => set.contains(v),
            Kind::InLower(set) => match v {
                Value::Str(s) => set.contains(&simple_lower(s)),
                _ => false,
            },
            Kind::Str(kind, needles, case) => {
                let Value::Str(s) = v else { return false };
                let hay = match case {
                    Case::Sensitive => std::borrow::Cow::Borrowed(s.as_str()),
                    Case::Insensitive => std::borrow::Cow::Owned(simple_lower(s)),
                };
                needles.iter().any(|n| match kind {
                    StrOp::StartsWith => hay.starts_with(n.as_str()),
                    StrOp::EndsWith => hay.ends_with(n.as_str()),
                    StrOp::Contains => hay.contains(n.as_str()),
                })
            }
            Kind::Regex(re) => match v {
                Value::Str(s) | Value::Enum(s) => re.is_match(s),
                _ => false,
            },
            Kind::Cidr(blocks) => match v {
                Value::Ip(ip) => blocks.iter().any(|b| b.contains(*ip)),
                _ => false,
            },
            Kind::Class(class) => match v {
                Value::Ip(ip) => class.contains(*ip),
                _ => false,
            },
            Kind::Cmp(op, want) => compare(v, *op, want),
        }
    }
}

/// Convenience for one-off checks (tests, the differential harness): prepares `op` and applies it.
pub fn op_matches(op: &Op, v: Option<&Value>) -> Result<bool, String> {
    Ok(Matcher::new(op)?.matches(v))
}

/// An [`Expr`] with every predicate prepared.
#[derive(Debug, Clone)]
pub enum CompiledExpr {
    And(Vec<CompiledExpr>),
    Or(Vec<CompiledExpr>),
    Not(Box<CompiledExpr>),
    Pred(FieldRef, Matcher),
    /// A comparison of two values ([`Comparison::holds`] is its meaning).
    Compare(Comparison),
}

impl CompiledExpr {
    pub fn new(e: &Expr) -> Result<CompiledExpr, String> {
        Ok(match e {
            Expr::And(v) => {
                CompiledExpr::And(v.iter().map(CompiledExpr::new).collect::<Result<_, _>>()?)
            }
            Expr::Or(v) => {
                CompiledExpr::Or(v.iter().map(CompiledExpr::new).collect::<Result<_, _>>()?)
            }
            Expr::Not(x) => CompiledExpr::Not(Box::new(CompiledExpr::new(x)?)),
            Expr::Pred(p) => CompiledExpr::Pred(p.field.clone(), Matcher::new(&p.op)?),
            Expr::Compare(c) => CompiledExpr::Compare(c.clone()),
        })
    }

    /// Evaluates with `lookup` resolving each field reference (`None` = missing).
    pub fn eval<'a, F>(&self, lookup: &F) -> bool
    where
        F: Fn(&FieldRef) -> Option<&'a Value>,
    {
        match self {
            CompiledExpr::And(v) => v.iter().all(|x| x.eval(lookup)),
            CompiledExpr::Or(v) => v.iter().any(|x| x.eval(lookup)),
            CompiledExpr::Not(x) => !x.eval(lookup),
            CompiledExpr::Pred(f, m) => m.matches(lookup(f)),
            CompiledExpr::Compare(c) => c.holds(lookup),
        }
    }

    /// Whether any predicate reads a computed field.
    pub fn reads_computed(&self) -> bool {
        match self {
            CompiledExpr::And(v) | CompiledExpr::Or(v) => v.iter().any(|x| x.reads_computed()),
            CompiledExpr::Not(x) => x.reads_computed(),
            CompiledExpr::Pred(f, _) => matches!(f, FieldRef::Computed(_)),
            CompiledExpr::Compare(c) => c.refs().iter().any(|f| matches!(f, FieldRef::Computed(_))),
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
