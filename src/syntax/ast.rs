//! The spanned AST of one rule file: what the user wrote, before names and types are resolved.
//! Every node carries the span of its text so the checker can point at it.

use crate::diag::Span;
use std::net::IpAddr;

/// A value with the span of the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Spanned<T> {
        Spanned { node, span }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub path: String,
    pub lists: Vec<ListDecl>,
    pub rules: Vec<RuleDecl>,
    /// Warnings found while parsing (lints on how the text is written, e.g. W0281); a file
    /// with warnings only still parses.
    pub warnings: Vec<crate::diag::Diagnostic>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListDecl {
    pub name: Spanned<String>,
    /// As written (`port`, `string`, ...); the checker validates it.
    pub ty: Spanned<String>,
    pub body: ListBody,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ListBody {
    Inline(Vec<Spanned<Literal>>),
    /// `file("lists/x.txt")`: path relative to the folder of the declaring file.
    File(Spanned<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecl {
    pub name: Spanned<String>,
    pub clauses: Vec<Spanned<Clause>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    /// `title "..."`, `status experimental`, `references [...]`, `attack T1071.003 AN0379`.
    Meta {
        key: Spanned<String>,
        value: MetaValue,
    },
    Source(Spanned<String>),
    /// `platform linux`: the name as written (the checker knows the platforms).
    Platform(Spanned<String>),
    /// `targets [a, b]` (`exclude` false) or `targets not [a, b]`: target profile names.
    Targets {
        exclude: bool,
        names: Vec<Spanned<String>>,
    },
    Where(Expr),
    Let {
        name: Spanned<String>,
        arms: Vec<(Expr, Spanned<Literal>)>,
        default: Option<Spanned<Literal>>,
    },
    Window(Spanned<Literal>),
    GroupBy(Vec<Spanned<String>>),
    Aggregate(Vec<AggDef>),
    Having(Expr),
    /// Boxed, as `Correlate`: the largest clauses, rarer than the rest, would size every clause.
    Test(Box<TestDecl>),
    /// `timezone +02:00`: the offset as written (the checker reads and bounds it).
    Timezone(Spanned<String>),
    /// `entities { host: host, ip: remote.ip }`: (kind, field) pairs as written.
    Entities(Vec<(Spanned<String>, Spanned<String>)>),
    /// `schedule every 1h delay 10m`: (`every` or `delay`, the duration) in written order.
    Schedule(Vec<(Spanned<String>, Spanned<Literal>)>),
    /// `suppress 4h by host, user`: the duration and the key fields as written (none without `by`).
    Suppress {
        duration: Spanned<Literal>,
        keys: Vec<Spanned<String>>,
    },
    /// `correlate within 1m by host, process.id ordered { a: source where ... ... }`.
    Correlate(Box<Correlate>),
}

/// A correlation of several steps, as written; `within` and `by` may be absent (the checker
/// reports it).
#[derive(Debug, Clone, PartialEq)]
pub struct Correlate {
    pub keyword: Span,
    pub within: Option<Spanned<Literal>>,
    pub keys: Vec<Spanned<String>>,
    pub ordered: bool,
    pub steps: Vec<CorrStep>,
}

/// `name: source where condition`.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrStep {
    pub name: Spanned<String>,
    pub source: Spanned<String>,
    pub filter: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Text(Spanned<String>),
    Texts(Vec<Spanned<String>>),
    Symbol(Spanned<String>),
    AttackIds(Vec<Spanned<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggDef {
    pub name: Spanned<String>,
    pub func: Spanned<String>,
    pub arg: Option<Spanned<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>, Span),
    Or(Vec<Expr>, Span),
    Not(Box<Expr>, Span),
    Pred(Pred),
    /// Two value expressions compared: `bytes.sent > 20 * bytes.received`. Boxed: a comparison
    /// is three times the size of a predicate, and every node of every rule's tree would pay it.
    Compare(Box<Compare>),
}

impl Expr {
    pub fn span(&self) -> &Span {
        match self {
            Expr::And(_, s) | Expr::Or(_, s) | Expr::Not(_, s) => s,
            Expr::Pred(p) => &p.span,
            Expr::Compare(c) => &c.span,
        }
    }
}

/// `left op right`, both value expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    pub left: ValueExpr,
    pub op: Spanned<RelOp>,
    pub right: ValueExpr,
    pub span: Span,
}

/// The comparison operators between two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl RelOp {
    pub fn text(self) -> &'static str {
        match self {
            RelOp::Eq => "==",
            RelOp::Ne => "!=",
            RelOp::Lt => "<",
            RelOp::Le => "<=",
            RelOp::Gt => ">",
            RelOp::Ge => ">=",
        }
    }
}

/// `+ - * /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// A value: a field (or aggregate) name, a numeric literal, or arithmetic over values.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueExpr {
    Name(Spanned<String>),
    /// An integer, size or duration literal.
    Lit(Spanned<Literal>),
    Arith {
        op: Spanned<ArithOp>,
        left: Box<ValueExpr>,
        right: Box<ValueExpr>,
        span: Span,
    },
    /// `hour(time)`: a function of one field (boxed: rarer and larger than the others).
    Call(Box<Call>),
}

/// `func(arg)` in a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: Spanned<String>,
    pub arg: Spanned<String>,
    pub span: Span,
}

impl ValueExpr {
    pub fn span(&self) -> &Span {
        match self {
            ValueExpr::Name(n) => &n.span,
            ValueExpr::Lit(l) => &l.span,
            ValueExpr::Arith { span, .. } => span,
            ValueExpr::Call(c) => &c.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pred {
    pub field: Spanned<String>,
    /// `not in`, `not startswith`, `not matches`, `is not`.
    pub negated: bool,
    pub op: PredOp,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EqOp {
    /// `==`
    Eq,
    /// `=~`
    EqCi,
    /// `!=`
    Ne,
    /// `!~`
    NeCi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrKind {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PredOp {
    Eq {
        op: EqOp,
        value: Spanned<Literal>,
    },
    In {
        insensitive: bool,
        target: ListRef,
    },
    Str {
        kind: StrKind,
        insensitive: bool,
        target: ListRef,
    },
    Matches {
        insensitive: bool,
        pattern: Spanned<String>,
    },
    Is {
        class: Spanned<String>,
    },
    Exists,
    Missing,
    Cmp {
        op: CmpOp,
        value: Spanned<Literal>,
    },
}

/// The right-hand side of `in` (or of `startswith` with several needles).
#[derive(Debug, Clone, PartialEq)]
pub enum ListRef {
    Inline(Vec<Spanned<Literal>>, Span),
    Named(Spanned<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    /// Bytes, from `50MB` / `50MiB`.
    Size(u64),
    /// Seconds, from `1h`.
    Duration(u64),
    Ip(IpAddr),
    /// `10.0.0.0/8` as written; the checker validates host bits.
    Cidr(IpAddr, u8),
    /// A bare word: an enum value (`succeeded`), a class or a misquoted string.
    Symbol(String),
}

impl Literal {
    /// What kind of literal this is, in words, for "found ..." in diagnostics.
    pub fn describe(&self) -> String {
        match self {
            Literal::Str(s) => format!("the string {s:?}"),
            Literal::Int(i) => format!("the integer {i}"),
            Literal::Size(b) => format!("the size {b} bytes"),
            Literal::Duration(s) => format!("the duration {s}s"),
            Literal::Ip(ip) => format!("the IP address {ip}"),
            Literal::Cidr(ip, p) => format!("the CIDR block {ip}/{p}"),
            Literal::Symbol(s) => format!("the word `{s}`"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestDecl {
    pub name: Spanned<String>,
    pub events: TestEventsAst,
    pub schema: Option<Spanned<String>>,
    pub expect: ExpectAst,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestEventsAst {
    File(Spanned<String>),
    Inline(Vec<Spanned<serde_json::Map<String, serde_json::Value>>>),
}

/// The `key: value` pairs of one expected alert.
pub type AlertAst = Vec<(Spanned<String>, Spanned<Literal>)>;

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectAst {
    /// `no alert` is 0.
    pub count: Spanned<u64>,
    pub alerts: Vec<Spanned<AlertAst>>,
}
