//! An executable MODEL of the subset of Splunk SPL that detc emits. It is not Splunk: no offline
//! Splunk engine exists, so this model was written from Splunk's documentation (Search Reference:
//! search, where, eval, bin, stats, tstats, fillnull; Search Manual "Boolean expressions") and is
//! labelled a model in every report. Anything outside the subset is an error, never a guess.
//!
//! Semantics modelled (and where they come from):
//! - `search` (and the implied search at the start): implicit AND between terms; precedence
//!   parentheses > NOT > OR > AND ("The search command evaluates OR before AND operators").
//!   `field=value` compares case-insensitively, `*` in an unquoted or quoted value is a wildcard,
//!   a value in CIDR notation matches IP addresses in the block; `field!=value` is false when the
//!   field is absent, `NOT field=value` is true then. `field IN (v, ...)`.
//! - `where` / `eval` expressions: precedence parentheses > NOT > AND > OR; `=`/`==` compare
//!   case-sensitively (numerically when both sides are numbers); comparisons with null are null,
//!   and `where` keeps only true rows (three-valued logic).
//! - functions: lower, upper, len, substr, match (regex, unanchored), replace, like (`%`, `_`),
//!   cidrmatch, isnull, isnotnull, if, case, coalesce, tonumber, tostring, in, true, false, null.
//! - `bin _time span=N[s|m|h|d]`: floor to a multiple of the span since the epoch (UTC) for s, m,
//!   h; to the local midnight of the searching user's zone for d (fixed at UTC+05:30 in the
//!   model: [`USER_UTC_OFFSET`]). Arithmetic in `eval`: `+ - * / %` in doubles (Search Reference,
//!   eval: arithmetic operators); `/` by zero is null.
//! - `stats` with count, dc, sum, min, max, values; `by` fields; rows whose by-field is null are
//!   dropped (Splunk behaviour), which is why detc emits `fillnull` before `stats`.
//! - `tstats ... from datamodel=M where <search expr> by f, _time span=S`.
//! - `fillnull value=V [fields]`, `eval`, `table`, `fields`, `rename`, `sort`, `search`.
//! - for correlations: `eventstats` and `streamstats` (default options) with the stats
//!   aggregates, `sort` in its row order and limit, `searchmatch("<search>")` in eval.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// One event or result row: Splunk fields are strings.
pub type Row = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
}

impl V {
    fn from_field(s: Option<&String>) -> V {
        match s {
            None => V::Null,
            Some(s) => V::Str(s.clone()),
        }
    }
    fn as_str(&self) -> Option<String> {
        match self {
            V::Null => None,
            V::Str(s) => Some(s.clone()),
            V::Num(n) => Some(fmt_num(*n)),
            V::Bool(b) => Some(b.to_string()),
        }
    }
    fn as_num(&self) -> Option<f64> {
        match self {
            V::Num(n) => Some(*n),
            V::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    fn truth(&self) -> Option<bool> {
        match self {
            V::Bool(b) => Some(*b),
            V::Null => None,
            _ => None,
        }
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\\') => {
                        match c.get(i + 1) {
                            Some('"') => v.push('"'),
                            Some('\\') => v.push('\\'),
                            Some(o) => {
                                v.push('\\');
                                v.push(*o)
                            }
                            None => return Err("unterminated string literal".into()),
                        }
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(o) => {
                        v.push(*o);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(v));
        } else if ch == '\'' {
            // single quotes name a field
            let mut v = String::new();
            i += 1;
            while i < c.len() && c[i] != '\'' {
                v.push(c[i]);
                i += 1;
            }
            if i >= c.len() {
                return Err("unterminated field name in single quotes".into());
            }
            i += 1;
            out.push(Tok::Word(v));
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if "=!<>".contains(ch) {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if ["==", "!=", "<=", ">="].contains(&two.as_str()) {
                out.push(Tok::Op(two));
                i += 2;
            } else {
                out.push(Tok::Op(ch.to_string()));
                i += 1;
            }
        } else if "+-*/%.".contains(ch)
            && !(ch == '-'
                && c.get(i + 1).is_some_and(|d| d.is_ascii_digit())
                && matches!(
                    out.last(),
                    None | Some(Tok::Op(_)) | Some(Tok::LParen) | Some(Tok::Comma)
                ))
            && !(ch == '*' || ch == '.')
        {
            out.push(Tok::Op(ch.to_string()));
            i += 1;
        } else {
            // a word: field names, numbers, unquoted values (may contain * . / : \ -)
            let start = i;
            while i < c.len() && !c[i].is_whitespace() && !"()=!<>,\"".contains(c[i]) {
                i += 1;
            }
            if i == start {
                return Err(format!("unexpected character `{ch}`"));
            }
            let w: String = c[start..i].iter().collect();
            match w.parse::<f64>() {
                Ok(n) if !w.contains('*') => out.push(Tok::Num(n)),
                _ => out.push(Tok::Word(w)),
            }
        }
    }
    Ok(out)
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            o => Err(format!("expected {t:?}, found {o:?}")),
        }
    }
}

// ---------------------------------------------------------------- search expressions

#[derive(Debug, Clone)]
enum S {
    And(Vec<S>),
    Or(Vec<S>),
    Not(Box<S>),
    Cmp(String, String, String), // field, op, value
    In(String, Vec<String>),
}

fn parse_search(text: &str) -> Result<S, String> {
    let mut p = P {
        t: tokenize(text)?,
        i: 0,
    };
    let s = search_and(&mut p)?;
    if p.i < p.t.len() {
        return Err(format!("unexpected {:?} in search", p.peek()));
    }
    Ok(s)
}

fn search_and(p: &mut P) -> Result<S, String> {
    let mut v = vec![search_or(p)?];
    loop {
        if p.is_word("AND") {
            p.next();
        }
        match p.peek() {
            None | Some(Tok::RParen) => break,
            _ => v.push(search_or(p)?),
        }
    }
    Ok(if v.len() == 1 { v.remove(0) } else { S::And(v) })
}

fn search_or(p: &mut P) -> Result<S, String> {
    let mut v = vec![search_not(p)?];
    while p.is_word("OR") {
        p.next();
        v.push(search_not(p)?);
    }
    Ok(if v.len() == 1 { v.remove(0) } else { S::Or(v) })
}

fn search_not(p: &mut P) -> Result<S, String> {
    if p.is_word("NOT") {
        p.next();
        return Ok(S::Not(Box::new(search_not(p)?)));
    }
    if p.peek() == Some(&Tok::LParen) {
        p.next();
        let e = search_and(p)?;
        p.expect(Tok::RParen)?;
        return Ok(e);
    }
    let field = match p.next() {
        Some(Tok::Word(w)) => w,
        o => {
            return Err(format!(
                "expected a field=value term, found {o:?} (free-text terms are outside the model)"
            ))
        }
    };
    if p.is_word("IN") {
        p.next();
        p.expect(Tok::LParen)?;
        let mut vals = Vec::new();
        loop {
            match p.next() {
                Some(Tok::Word(w)) | Some(Tok::Str(w)) => vals.push(w),
                Some(Tok::Num(n)) => vals.push(fmt_num(n)),
                o => return Err(format!("expected a value in IN (...), found {o:?}")),
            }
            match p.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::RParen) => break,
                o => return Err(format!("expected , or ) in IN (...), found {o:?}")),
            }
        }
        return Ok(S::In(field, vals));
    }
    let op = match p.next() {
        Some(Tok::Op(o)) if ["=", "!=", "<", "<=", ">", ">=", "=="].contains(&o.as_str()) => o,
        o => {
            return Err(format!(
                "expected a comparison after `{field}`, found {o:?}"
            ))
        }
    };
    let val = match p.next() {
        Some(Tok::Word(w)) | Some(Tok::Str(w)) => w,
        Some(Tok::Num(n)) => fmt_num(n),
        o => return Err(format!("expected a value after `{field}{op}`, found {o:?}")),
    };
    Ok(S::Cmp(field, op, val))
}

/// Splunk's search-time value match: the whole field value, case-insensitive, `*` wildcard,
/// CIDR for IPs, numeric equality when both sides are decimal numbers (digits, a sign, a point:
/// a word like `inf` or `nan` is a word, which Rust's float parser would otherwise read).
fn search_value_eq(actual: &str, pattern: &str) -> bool {
    let decimal = |s: &str| {
        s.chars().any(|c| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
    };
    if decimal(actual) && decimal(pattern) {
        if let (Ok(a), Ok(b)) = (actual.parse::<f64>(), pattern.parse::<f64>()) {
            return a == b;
        }
    }
    if let Some((net, pre)) = pattern.split_once('/') {
        if let (Ok(net), Ok(pre), Ok(ip)) = (
            net.parse::<IpAddr>(),
            pre.parse::<u8>(),
            actual.parse::<IpAddr>(),
        ) {
            return cidr_contains(net, pre, ip);
        }
    }
    wildcard(&actual.to_lowercase(), &pattern.to_lowercase(), '*', None)
}

fn wildcard(s: &str, p: &str, many: char, one: Option<char>) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    let (mut si, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (Some(p[pi]) == one || (p[pi] == s[si] && p[pi] != many)) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == many {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == many {
        pi += 1;
    }
    pi == p.len()
}

fn eval_search(s: &S, r: &Row) -> bool {
    match s {
        S::And(v) => v.iter().all(|x| eval_search(x, r)),
        S::Or(v) => v.iter().any(|x| eval_search(x, r)),
        S::Not(x) => !eval_search(x, r),
        S::In(f, vals) => r
            .get(f)
            .is_some_and(|a| vals.iter().any(|v| search_value_eq(a, v))),
        S::Cmp(f, op, val) => match r.get(f) {
            None => false,
            Some(a) => match op.as_str() {
                "=" | "==" => search_value_eq(a, val),
                "!=" => !search_value_eq(a, val),
                _ => match (a.parse::<f64>(), val.parse::<f64>()) {
                    (Ok(x), Ok(y)) => match op.as_str() {
                        "<" => x < y,
                        "<=" => x <= y,
                        ">" => x > y,
                        _ => x >= y,
                    },
                    _ => false,
                },
            },
        },
    }
}

// ---------------------------------------------------------------- eval expressions

#[derive(Debug, Clone)]
enum E {
    Lit(V),
    Field(String),
    Call(String, Vec<E>),
    Bin(String, Box<E>, Box<E>),
    Not(Box<E>),
    In(Box<E>, Vec<E>),
}

fn parse_expr(p: &mut P) -> Result<E, String> {
    expr_or(p)
}

fn expr_or(p: &mut P) -> Result<E, String> {
    let mut l = expr_and(p)?;
    while p.is_word("OR") {
        p.next();
        let r = expr_and(p)?;
        l = E::Bin("OR".into(), Box::new(l), Box::new(r));
    }
    Ok(l)
}

fn expr_and(p: &mut P) -> Result<E, String> {
    let mut l = expr_not(p)?;
    while p.is_word("AND") {
        p.next();
        let r = expr_not(p)?;
        l = E::Bin("AND".into(), Box::new(l), Box::new(r));
    }
    Ok(l)
}

fn expr_not(p: &mut P) -> Result<E, String> {
    if p.is_word("NOT") {
        p.next();
        return Ok(E::Not(Box::new(expr_not(p)?)));
    }
    expr_cmp(p)
}

fn expr_cmp(p: &mut P) -> Result<E, String> {
    let l = expr_add(p)?;
    if p.is_word("IN") {
        p.next();
        p.expect(Tok::LParen)?;
        let mut items = Vec::new();
        loop {
            items.push(parse_expr(p)?);
            match p.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::RParen) => break,
                o => return Err(format!("expected , or ) in IN, found {o:?}")),
            }
        }
        return Ok(E::In(Box::new(l), items));
    }
    if p.is_word("LIKE") {
        p.next();
        let r = expr_add(p)?;
        return Ok(E::Call("like".into(), vec![l, r]));
    }
    if let Some(Tok::Op(o)) = p.peek() {
        if ["=", "==", "!=", "<", "<=", ">", ">="].contains(&o.as_str()) {
            let o = o.clone();
            p.next();
            let r = expr_add(p)?;
            return Ok(E::Bin(o, Box::new(l), Box::new(r)));
        }
    }
    Ok(l)
}

fn expr_add(p: &mut P) -> Result<E, String> {
    let mut l = expr_mul(p)?;
    while let Some(Tok::Op(o)) = p.peek() {
        if o == "+" || o == "-" {
            let o = o.clone();
            p.next();
            let r = expr_mul(p)?;
            l = E::Bin(o, Box::new(l), Box::new(r));
        } else {
            break;
        }
    }
    Ok(l)
}

/// `*`, `/` and `%` (eval's arithmetic operators bind tighter than `+` and `-`). `*` reaches
/// here as a word (the tokenizer keeps it in words for search wildcards); a lone `*` between two
/// operands is multiplication.
fn expr_mul(p: &mut P) -> Result<E, String> {
    let mut l = expr_primary(p)?;
    loop {
        let o = match p.peek() {
            Some(Tok::Op(o)) if o == "/" || o == "%" => o.clone(),
            Some(Tok::Word(w)) if w == "*" => "*".to_string(),
            _ => break,
        };
        p.next();
        let r = expr_primary(p)?;
        l = E::Bin(o, Box::new(l), Box::new(r));
    }
    Ok(l)
}

fn expr_primary(p: &mut P) -> Result<E, String> {
    match p.next() {
        Some(Tok::LParen) => {
            let e = parse_expr(p)?;
            p.expect(Tok::RParen)?;
            Ok(e)
        }
        Some(Tok::Str(s)) => Ok(E::Lit(V::Str(s))),
        Some(Tok::Num(n)) => Ok(E::Lit(V::Num(n))),
        Some(Tok::Word(w)) => {
            if p.peek() == Some(&Tok::LParen) {
                p.next();
                let mut args = Vec::new();
                if p.peek() != Some(&Tok::RParen) {
                    loop {
                        args.push(parse_expr(p)?);
                        match p.next() {
                            Some(Tok::Comma) => continue,
                            Some(Tok::RParen) => break,
                            o => {
                                return Err(format!("expected , or ) in call of {w}, found {o:?}"))
                            }
                        }
                    }
                } else {
                    p.next();
                }
                Ok(E::Call(w.to_lowercase(), args))
            } else {
                Ok(E::Field(w))
            }
        }
        o => Err(format!("expected an expression, found {o:?}")),
    }
}

fn parse_eval_text(text: &str) -> Result<E, String> {
    let mut p = P {
        t: tokenize(text)?,
        i: 0,
    };
    let e = parse_expr(&mut p)?;
    if p.i < p.t.len() {
        return Err(format!("unexpected {:?} after expression", p.peek()));
    }
    Ok(e)
}

fn eq_values(a: &V, b: &V) -> Option<bool> {
    match (a, b) {
        (V::Null, _) | (_, V::Null) => None,
        _ => {
            if let (Some(x), Some(y)) = (a.as_num(), b.as_num()) {
                Some(x == y)
            } else {
                Some(a.as_str() == b.as_str())
            }
        }
    }
}

fn eval(e: &E, r: &Row) -> Result<V, String> {
    Ok(match e {
        E::Lit(v) => v.clone(),
        E::Field(f) => V::from_field(r.get(f)),
        E::Not(x) => match eval(x, r)?.truth() {
            Some(b) => V::Bool(!b),
            None => V::Null,
        },
        E::In(x, items) => {
            let v = eval(x, r)?;
            if v == V::Null {
                return Ok(V::Null);
            }
            let mut any = false;
            for i in items {
                if eq_values(&v, &eval(i, r)?) == Some(true) {
                    any = true;
                }
            }
            V::Bool(any)
        }
        E::Bin(op, a, b) => {
            let (x, y) = (eval(a, r)?, eval(b, r)?);
            match op.as_str() {
                "AND" => match (x.truth(), y.truth()) {
                    (Some(false), _) | (_, Some(false)) => V::Bool(false),
                    (Some(true), Some(true)) => V::Bool(true),
                    _ => V::Null,
                },
                "OR" => match (x.truth(), y.truth()) {
                    (Some(true), _) | (_, Some(true)) => V::Bool(true),
                    (Some(false), Some(false)) => V::Bool(false),
                    _ => V::Null,
                },
                "=" | "==" => eq_values(&x, &y).map(V::Bool).unwrap_or(V::Null),
                "!=" => eq_values(&x, &y).map(|b| V::Bool(!b)).unwrap_or(V::Null),
                "<" | "<=" | ">" | ">=" => {
                    let ord = match (x.as_num(), y.as_num()) {
                        (Some(a), Some(b)) => a.partial_cmp(&b),
                        _ => match (x.as_str(), y.as_str()) {
                            (Some(a), Some(b)) => Some(a.cmp(&b)),
                            _ => None,
                        },
                    };
                    match ord {
                        None => V::Null,
                        Some(o) => V::Bool(match op.as_str() {
                            "<" => o.is_lt(),
                            "<=" => o.is_le(),
                            ">" => o.is_gt(),
                            _ => o.is_ge(),
                        }),
                    }
                }
                "+" => match (x.as_num(), y.as_num()) {
                    (Some(a), Some(b)) => V::Num(a + b),
                    _ => match (x.as_str(), y.as_str()) {
                        (Some(a), Some(b)) => V::Str(a + &b),
                        _ => V::Null,
                    },
                },
                "-" => match (x.as_num(), y.as_num()) {
                    (Some(a), Some(b)) => V::Num(a - b),
                    _ => V::Null,
                },
                "*" => match (x.as_num(), y.as_num()) {
                    (Some(a), Some(b)) => V::Num(a * b),
                    _ => V::Null,
                },
                "/" => match (x.as_num(), y.as_num()) {
                    (Some(a), Some(b)) if b != 0.0 => V::Num(a / b),
                    _ => V::Null,
                },
                // Remainder with the dividend's sign, as C's fmod (times here are positive).
                "%" => match (x.as_num(), y.as_num()) {
                    (Some(a), Some(b)) if b != 0.0 => V::Num(a % b),
                    _ => V::Null,
                },
                o => return Err(format!("operator {o} is outside the model")),
            }
        }
        E::Call(f, args) => {
            // searchmatch("<search>"): true when the event matches the search string (Search
            // Reference, "Condition and comparison functions"): search syntax, not an expression.
            if f == "searchmatch" {
                let [E::Lit(V::Str(text))] = args.as_slice() else {
                    return Err("searchmatch() takes one string literal in the model".into());
                };
                return Ok(V::Bool(eval_search(&parse_search(text)?, r)));
            }
            let vals: Vec<V> = match f.as_str() {
                // lazily evaluated below
                "if" | "case" => Vec::new(),
                _ => args.iter().map(|a| eval(a, r)).collect::<Result<_, _>>()?,
            };
            let arg = |i: usize| vals.get(i).cloned().unwrap_or(V::Null);
            match (f.as_str(), vals.len()) {
                ("true", 0) => V::Bool(true),
                ("false", 0) => V::Bool(false),
                ("null", 0) => V::Null,
                ("lower", 1) => arg(0)
                    .as_str()
                    .map(|s| V::Str(s.to_lowercase()))
                    .unwrap_or(V::Null),
                ("upper", 1) => arg(0)
                    .as_str()
                    .map(|s| V::Str(s.to_uppercase()))
                    .unwrap_or(V::Null),
                ("len", 1) => arg(0)
                    .as_str()
                    .map(|s| V::Num(s.chars().count() as f64))
                    .unwrap_or(V::Null),
                ("isnull", 1) => V::Bool(arg(0) == V::Null),
                ("isnotnull", 1) => V::Bool(arg(0) != V::Null),
                ("tonumber", 1) => arg(0).as_num().map(V::Num).unwrap_or(V::Null),
                // floor(X): X rounded down to the nearest whole number (eval functions).
                ("floor", 1) => arg(0)
                    .as_num()
                    .map(|x| V::Num(x.floor()))
                    .unwrap_or(V::Null),
                ("tostring", 1) => arg(0).as_str().map(V::Str).unwrap_or(V::Null),
                ("coalesce", _) => vals
                    .iter()
                    .find(|v| **v != V::Null)
                    .cloned()
                    .unwrap_or(V::Null),
                ("substr", 2) | ("substr", 3) => match (arg(0).as_str(), arg(1).as_num()) {
                    (Some(s), Some(start)) => {
                        let chars: Vec<char> = s.chars().collect();
                        let n = chars.len() as i64;
                        let st = start as i64;
                        let from = if st < 0 {
                            (n + st).max(0)
                        } else {
                            (st - 1).max(0)
                        };
                        let len = if vals.len() == 3 {
                            arg(2).as_num().unwrap_or(0.0) as i64
                        } else {
                            n
                        };
                        let to = (from + len).min(n).max(from);
                        V::Str(chars[from as usize..to as usize].iter().collect())
                    }
                    _ => V::Null,
                },
                // replace(<str>, <regex>, <replacement>): every match of the regex is replaced;
                // `\N` in the replacement is the N-th capture group (Splunk eval functions).
                ("replace", 3) => match (arg(0).as_str(), arg(1).as_str(), arg(2).as_str()) {
                    (Some(s), Some(re), Some(rep)) => {
                        let re = regex::Regex::new(&re)
                            .map_err(|e| format!("replace(): bad regex: {e}"))?;
                        let mut r = String::new();
                        let mut it = rep.chars().peekable();
                        while let Some(c) = it.next() {
                            match (c, it.peek()) {
                                ('\\', Some(d)) if d.is_ascii_digit() => {
                                    r.push_str(&format!("${{{d}}}"));
                                    it.next();
                                }
                                ('$', _) => r.push_str("$$"),
                                (c, _) => r.push(c),
                            }
                        }
                        V::Str(re.replace_all(&s, r.as_str()).into_owned())
                    }
                    _ => V::Null,
                },
                ("match", 2) => match (arg(0).as_str(), arg(1).as_str()) {
                    (Some(s), Some(re)) => {
                        let re = regex::Regex::new(&re)
                            .map_err(|e| format!("match(): bad regex: {e}"))?;
                        V::Bool(re.is_match(&s))
                    }
                    _ => V::Null,
                },
                ("like", 2) => match (arg(0).as_str(), arg(1).as_str()) {
                    (Some(s), Some(pat)) => V::Bool(wildcard(&s, &pat, '%', Some('_'))),
                    _ => V::Null,
                },
                ("cidrmatch", 2) => match (arg(0).as_str(), arg(1).as_str()) {
                    (Some(c), Some(ip)) => {
                        let ok = c.split_once('/').and_then(|(n, p)| {
                            Some((n.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?))
                        });
                        match (ok, ip.parse::<IpAddr>()) {
                            (Some((net, pre)), Ok(ip)) => V::Bool(cidr_contains(net, pre, ip)),
                            (None, _) => {
                                return Err(format!("cidrmatch(): `{c}` is not a CIDR block"))
                            }
                            _ => V::Bool(false),
                        }
                    }
                    _ => V::Null,
                },
                ("in", n) if n >= 1 => {
                    let v = arg(0);
                    if v == V::Null {
                        V::Null
                    } else {
                        V::Bool(vals[1..].iter().any(|x| eq_values(&v, x) == Some(true)))
                    }
                }
                ("if", _) if args.len() == 3 => {
                    if eval(&args[0], r)?.truth() == Some(true) {
                        eval(&args[1], r)?
                    } else {
                        eval(&args[2], r)?
                    }
                }
                ("case", _) if args.len() % 2 == 0 => {
                    let mut out = V::Null;
                    for pair in args.chunks(2) {
                        if eval(&pair[0], r)?.truth() == Some(true) {
                            out = eval(&pair[1], r)?;
                            break;
                        }
                    }
                    out
                }
                (f, n) => {
                    return Err(format!(
                        "function {f}() with {n} argument(s) is outside the model"
                    ))
                }
            }
        }
    })
}

fn cidr_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if prefix <= 32 => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(n) & m == u32::from(a) & m
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if prefix <= 128 => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(n) & m == u128::from(a) & m
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- pipeline

/// Splits a query at `|` outside string literals.
fn split_pipes(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_str = false;
    let mut esc = false;
    for ch in q.chars() {
        if in_str {
            cur.push(ch);
            if esc {
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else if ch == '"' {
                in_str = false;
            }
            continue;
        }
        match ch {
            '"' => {
                in_str = true;
                cur.push(ch)
            }
            '|' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

/// The searching user's time-zone offset in the model: UTC+05:30 (Asia/Kolkata, no daylight
/// saving), a zone whose local day does not start at a UTC hour.
pub const USER_UTC_OFFSET: i64 = 5 * 3600 + 30 * 60;

/// A time span: its length in seconds and whether it is in days. Search Reference, bin:
/// `aligntime` defaults to "base UTC time (epoch 0)" and is "ignored if span is in days, months,
/// or years"; Search Manual, "Time zones and time bins": day bins "are aligned to the local day
/// boundary" of the user's zone. So spans in s/m/h floor to multiples since the epoch, spans in
/// days to local midnights.
fn span_secs(s: &str) -> Result<(i64, bool), String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| format!("bad span `{s}`"))?;
    Ok(match unit {
        "s" | "" => (n, false),
        "m" | "min" => (n * 60, false),
        "h" => (n * 3600, false),
        "d" => (n * 86400, true),
        _ => return Err(format!("span unit `{unit}` is outside the model")),
    })
}

/// The start of the bin holding `t` for a span from [`span_secs`].
fn bin_start(t: i64, (span, days): (i64, bool)) -> i64 {
    if days {
        let local = t + USER_UTC_OFFSET;
        local - local.rem_euclid(span) - USER_UTC_OFFSET
    } else {
        t - t.rem_euclid(span)
    }
}

/// The stats-like aggregation shared by `stats` and `tstats`.
#[derive(Debug, Clone)]
struct Agg {
    func: String,
    field: Option<String>,
    name: String,
}

fn parse_aggs(text: &str) -> Result<(Vec<Agg>, Vec<String>), String> {
    // "count as n, dc(x) as d by a, b"
    let (aggs, by) = match find_word(text, "by") {
        Some(i) => (&text[..i], Some(&text[i + 2..])),
        None => (text, None),
    };
    let mut out = Vec::new();
    let toks = tokenize(aggs)?;
    let mut p = P { t: toks, i: 0 };
    while p.peek().is_some() {
        let func = match p.next() {
            Some(Tok::Word(w)) => w,
            o => return Err(format!("expected an aggregate, found {o:?}")),
        };
        let mut field = None;
        if p.peek() == Some(&Tok::LParen) {
            p.next();
            match p.next() {
                Some(Tok::Word(w)) => field = Some(w),
                o => return Err(format!("expected a field in {func}(), found {o:?}")),
            }
            p.expect(Tok::RParen)?;
        }
        let mut name = match &field {
            Some(f) => format!("{func}({f})"),
            None => func.clone(),
        };
        if p.is_word("as") || p.is_word("AS") {
            p.next();
            match p.next() {
                Some(Tok::Word(w)) => name = w,
                o => return Err(format!("expected a name after as, found {o:?}")),
            }
        }
        out.push(Agg {
            func: func.to_lowercase(),
            field,
            name,
        });
        if p.peek() == Some(&Tok::Comma) {
            p.next();
        }
    }
    let by = by
        .map(|b| {
            b.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Ok((out, by))
}

/// Byte index of a standalone word outside string literals.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i < b.len() {
        if in_str {
            // inside "...": a backslash escapes the next character (`\"`, `\\`)
            match b[i] {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            in_str = true;
        } else if text.is_char_boundary(i)
            && text[i..].starts_with(word)
            && (i == 0 || b[i - 1].is_ascii_whitespace())
            && b.get(i + word.len())
                .is_none_or(|c| c.is_ascii_whitespace())
        {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn aggregate(rows: &[Row], aggs: &[Agg], by: &[String]) -> Result<Vec<Row>, String> {
    let mut groups: BTreeMap<Vec<String>, Vec<&Row>> = BTreeMap::new();
    'rows: for r in rows {
        let mut key = Vec::new();
        for b in by {
            match r.get(b) {
                Some(v) => key.push(v.clone()),
                None => continue 'rows, // Splunk drops rows with a null by-field
            }
        }
        groups.entry(key).or_default().push(r);
    }
    let mut out = Vec::new();
    for (key, rs) in groups {
        let mut row = Row::new();
        for (b, k) in by.iter().zip(key) {
            row.insert(b.clone(), k);
        }
        for a in aggs {
            let vals: Vec<&String> = match &a.field {
                Some(f) => rs.iter().filter_map(|r| r.get(f)).collect(),
                None => Vec::new(),
            };
            let v = match a.func.as_str() {
                "count" => Some(fmt_num(if a.field.is_some() {
                    vals.len()
                } else {
                    rs.len()
                } as f64)),
                "dc" | "distinct_count" => {
                    Some(fmt_num(vals.iter().collect::<BTreeSet<_>>().len() as f64))
                }
                "sum" => {
                    let nums: Vec<f64> = vals.iter().filter_map(|v| v.parse().ok()).collect();
                    if nums.is_empty() {
                        None
                    } else {
                        Some(fmt_num(nums.iter().sum()))
                    }
                }
                "min" | "max" => {
                    let nums: Option<Vec<f64>> = vals.iter().map(|v| v.parse().ok()).collect();
                    match nums {
                        Some(n) if !n.is_empty() => {
                            let it = n.into_iter();
                            Some(fmt_num(if a.func == "min" {
                                it.fold(f64::INFINITY, f64::min)
                            } else {
                                it.fold(f64::NEG_INFINITY, f64::max)
                            }))
                        }
                        _ => {
                            if a.func == "min" {
                                vals.iter().min().map(|s| s.to_string())
                            } else {
                                vals.iter().max().map(|s| s.to_string())
                            }
                        }
                    }
                }
                "values" => {
                    let set: BTreeSet<&String> = vals.into_iter().collect();
                    if set.is_empty() {
                        None
                    } else {
                        Some(set.into_iter().cloned().collect::<Vec<_>>().join("\n"))
                    }
                }
                f => return Err(format!("aggregate {f} is outside the model")),
            };
            if let Some(v) = v {
                row.insert(a.name.clone(), v);
            }
        }
        out.push(row);
    }
    Ok(out)
}

/// Runs `query` over `events` (each a Splunk event with `_time` in epoch seconds) and returns
/// the result rows. For `| tstats ... from datamodel=...`, `events` are the data-model rows.
pub fn run(query: &str, events: &[Row]) -> Result<Vec<Row>, String> {
    let stages = split_pipes(query);
    let mut rows: Vec<Row> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let (cmd, rest) = match stage.split_once(char::is_whitespace) {
            Some((c, r)) => (c.to_string(), r.trim().to_string()),
            None => (stage.clone(), String::new()),
        };
        if i == 0 {
            if stage.is_empty() {
                continue; // query starts with `|` (a generating command follows)
            }
            let s = parse_search(stage.strip_prefix("search ").unwrap_or(stage))?;
            rows = events
                .iter()
                .filter(|r| eval_search(&s, r))
                .cloned()
                .collect();
            continue;
        }
        match cmd.as_str() {
            "search" => {
                let s = parse_search(&rest)?;
                rows.retain(|r| eval_search(&s, r));
            }
            "where" => {
                let e = parse_eval_text(&rest)?;
                let mut kept = Vec::new();
                for r in rows {
                    if eval(&e, &r)?.truth() == Some(true) {
                        kept.push(r);
                    }
                }
                rows = kept;
            }
            "eval" => {
                let assigns = split_top_commas(&rest);
                let mut parsed = Vec::new();
                for a in assigns {
                    let (name, ex) = a
                        .split_once('=')
                        .ok_or_else(|| format!("eval needs name=expr, found `{a}`"))?;
                    parsed.push((
                        name.trim().trim_matches('\'').to_string(),
                        parse_eval_text(ex)?,
                    ));
                }
                for r in rows.iter_mut() {
                    for (n, e) in &parsed {
                        match eval(e, r)? {
                            V::Null => {
                                r.remove(n);
                            }
                            v => {
                                r.insert(n.clone(), v.as_str().unwrap_or_default());
                            }
                        }
                    }
                }
            }
            "bin" | "bucket" => {
                let mut field = None;
                let mut span = None;
                for w in rest.split_whitespace() {
                    if let Some(s) = w.strip_prefix("span=") {
                        span = Some(span_secs(s)?);
                    } else {
                        field = Some(w.to_string());
                    }
                }
                let (field, span) = (
                    field.ok_or("bin needs a field")?,
                    span.ok_or("bin needs span=")?,
                );
                for r in rows.iter_mut() {
                    if let Some(t) = r.get(&field).and_then(|v| v.parse::<f64>().ok()) {
                        let t = t.floor() as i64;
                        r.insert(field.clone(), bin_start(t, span).to_string());
                    }
                }
            }
            "fillnull" => {
                let mut value = "0".to_string();
                let mut fields = Vec::new();
                let toks = tokenize(&rest)?;
                let mut p = P { t: toks, i: 0 };
                while let Some(t) = p.next() {
                    match t {
                        Tok::Word(w) if w == "value" => {
                            p.expect(Tok::Op("=".into()))?;
                            value = match p.next() {
                                Some(Tok::Str(s)) | Some(Tok::Word(s)) => s,
                                Some(Tok::Num(n)) => fmt_num(n),
                                o => {
                                    return Err(format!(
                                        "fillnull value= needs a value, found {o:?}"
                                    ))
                                }
                            };
                        }
                        Tok::Word(w) => fields.push(w),
                        o => return Err(format!("unexpected {o:?} in fillnull")),
                    }
                }
                if fields.is_empty() {
                    return Err("fillnull without a field list is outside the model".into());
                }
                for r in rows.iter_mut() {
                    for f in &fields {
                        r.entry(f.clone()).or_insert_with(|| value.clone());
                    }
                }
            }
            "stats" => {
                let (aggs, by) = parse_aggs(&rest)?;
                rows = aggregate(&rows, &aggs, &by)?;
            }
            "tstats" if i == 1 => {
                // tstats [opts] AGGS from datamodel=X where SEARCH by FIELDS [span=S]
                let from = find_word(&rest, "from").ok_or("tstats needs `from datamodel=...`")?;
                let mut agg_text = rest[..from].trim().to_string();
                while let Some(w) = agg_text.split_whitespace().next() {
                    if w.contains('=') && !w.contains('(') {
                        agg_text = agg_text[w.len()..].trim().to_string(); // summariesonly=... etc.
                    } else {
                        break;
                    }
                }
                let after = &rest[from + 4..];
                let where_i = find_word(after, "where");
                let by_i = find_word(after, "by");
                let where_text = match where_i {
                    Some(w) => &after[w + 5..by_i.filter(|b| *b > w).unwrap_or(after.len())],
                    None => "",
                };
                let mut by_text = by_i.map(|b| after[b + 2..].to_string()).unwrap_or_default();
                let mut span = None;
                if let Some(sp) = by_text.find("span=") {
                    let s: String = by_text[sp + 5..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    span = Some(span_secs(&s)?);
                    by_text.replace_range(sp..sp + 5 + s.len(), "");
                }
                let filt = if where_text.trim().is_empty() {
                    None
                } else {
                    Some(parse_search(where_text)?)
                };
                let mut rs: Vec<Row> = events
                    .iter()
                    .filter(|r| filt.as_ref().is_none_or(|f| eval_search(f, r)))
                    .cloned()
                    .collect();
                if let Some(span) = span {
                    for r in rs.iter_mut() {
                        if let Some(t) = r.get("_time").and_then(|v| v.parse::<f64>().ok()) {
                            let t = t.floor() as i64;
                            r.insert("_time".into(), bin_start(t, span).to_string());
                        }
                    }
                }
                let (aggs, _) = parse_aggs(&agg_text)?;
                let by: Vec<String> = by_text
                    .split([',', ' '])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                rows = aggregate(&rs, &aggs, &by)?;
            }
            "table" | "fields" => {
                let keep: Vec<String> = rest
                    .split([',', ' '])
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && *s != "+")
                    .map(String::from)
                    .collect();
                if keep.first().map(String::as_str) == Some("-") {
                    for r in rows.iter_mut() {
                        for k in &keep[1..] {
                            r.remove(k);
                        }
                    }
                } else {
                    for r in rows.iter_mut() {
                        r.retain(|k, _| keep.iter().any(|x| wildcard(k, x, '*', None)));
                    }
                }
            }
            "rename" => {
                let toks: Vec<&str> = rest
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .collect();
                for ch in toks.chunks(3) {
                    if ch.len() != 3 || !ch[1].eq_ignore_ascii_case("as") {
                        return Err(format!("rename needs `a as b`, found `{rest}`"));
                    }
                    let (from, to) = (ch[0].trim_matches('"'), ch[2].trim_matches('"'));
                    for r in rows.iter_mut() {
                        if let Some(v) = r.remove(from) {
                            r.insert(to.to_string(), v);
                        }
                    }
                }
            }
            // sort [N] [+|-]field ...: stable, ascending unless `-`; numbers compare as numbers,
            // other values as text (Search Reference, "sort": "numeric or lexicographic
            // automatically"); N (0: every row) caps the rows kept, 10,000 without it. Order
            // matters to streamstats.
            "sort" => {
                let mut words: Vec<&str> =
                    rest.split([' ', ',']).filter(|w| !w.is_empty()).collect();
                let mut limit = Some(10_000usize);
                if let Some(n) = words.first().and_then(|w| w.parse::<usize>().ok()) {
                    limit = (n > 0).then_some(n);
                    words.remove(0);
                }
                let keys: Vec<(String, bool)> = words
                    .iter()
                    .map(|w| match w.strip_prefix('-') {
                        Some(f) => (f.to_string(), true),
                        None => (w.trim_start_matches('+').to_string(), false),
                    })
                    .collect();
                if keys.is_empty() {
                    return Err("sort needs a field".into());
                }
                rows.sort_by(|a, b| {
                    for (k, desc) in &keys {
                        let (x, y) = (a.get(k), b.get(k));
                        let o = match (
                            x.and_then(|v| v.parse::<f64>().ok()),
                            y.and_then(|v| v.parse::<f64>().ok()),
                        ) {
                            (Some(p), Some(q)) => {
                                p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal)
                            }
                            _ => x.cmp(&y),
                        };
                        let o = if *desc { o.reverse() } else { o };
                        if o != std::cmp::Ordering::Equal {
                            return o;
                        }
                    }
                    std::cmp::Ordering::Equal
                });
                if let Some(n) = limit {
                    rows.truncate(n);
                }
            }
            // eventstats AGGS by F...: each row gets its group's aggregates over every row
            // (Search Reference, "eventstats"); a row missing a by-field gets none and stays.
            "eventstats" => {
                let (aggs, by) = parse_aggs(&rest)?;
                let groups = aggregate(&rows, &aggs, &by)?;
                let mut table: BTreeMap<Vec<String>, Row> = BTreeMap::new();
                for g in groups {
                    let key: Vec<String> = by
                        .iter()
                        .map(|b| g.get(b).cloned().unwrap_or_default())
                        .collect();
                    table.insert(key, g);
                }
                for r in rows.iter_mut() {
                    let Some(key) = by
                        .iter()
                        .map(|b| r.get(b).cloned())
                        .collect::<Option<Vec<_>>>()
                    else {
                        continue;
                    };
                    if let Some(g) = table.get(&key) {
                        for a in &aggs {
                            match g.get(&a.name) {
                                Some(v) => r.insert(a.name.clone(), v.clone()),
                                None => r.remove(&a.name),
                            };
                        }
                    }
                }
            }
            // streamstats AGGS by F...: in the current row order, each row gets the aggregates
            // of its group's rows so far, itself included (Search Reference, "streamstats":
            // `current=true` is the default; without `window` or `time_window`, "the default of
            // 10,000 events set by the max_stream_window in the limits.conf file applies", one
            // window for all groups, `global=true`): only the group's rows among the last
            // 10,000 rows count. A row missing a by-field gets none. Options are outside the
            // model.
            "streamstats" => {
                if rest
                    .split_whitespace()
                    .next()
                    .is_some_and(|w| w.contains('='))
                {
                    return Err(format!(
                        "streamstats options are outside the model: `{rest}`"
                    ));
                }
                let (aggs, by) = parse_aggs(&rest)?;
                const MAX_STREAM_WINDOW: usize = 10_000;
                let mut seen: Vec<(Option<Vec<String>>, Row)> = Vec::new();
                for r in rows.iter_mut() {
                    let key = by
                        .iter()
                        .map(|b| r.get(b).cloned())
                        .collect::<Option<Vec<_>>>();
                    seen.push((key.clone(), r.clone()));
                    let Some(key) = key else {
                        continue;
                    };
                    let from = seen.len().saturating_sub(MAX_STREAM_WINDOW);
                    let group: Vec<Row> = seen[from..]
                        .iter()
                        .filter(|(k, _)| k.as_ref() == Some(&key))
                        .map(|(_, r)| r.clone())
                        .collect();
                    let now = aggregate(&group, &aggs, &[])?;
                    for a in &aggs {
                        match now.first().and_then(|g| g.get(&a.name)) {
                            Some(v) => r.insert(a.name.clone(), v.clone()),
                            None => r.remove(&a.name),
                        };
                    }
                }
            }
            c => return Err(format!("command `{c}` is outside the SPL model")),
        }
    }
    Ok(rows)
}

fn split_top_commas(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for ch in s.chars() {
        if in_str {
            cur.push(ch);
            if esc {
                esc = false
            } else if ch == '\\' {
                esc = true
            } else if ch == '"' {
                in_str = false
            }
            continue;
        }
        match ch {
            '"' => {
                in_str = true;
                cur.push(ch)
            }
            '(' => {
                depth += 1;
                cur.push(ch)
            }
            ')' => {
                depth -= 1;
                cur.push(ch)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}
