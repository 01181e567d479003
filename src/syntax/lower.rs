//! Lowering: pest pairs -> AST, one function per grammar rule. The grammar guarantees the shape
//! of each pair, so a pair that is not where the grammar puts it is an internal error, reported
//! as a diagnostic (E0199) rather than a panic.

use super::ast::*;
use super::Rule;
use crate::diag::{Code, Diagnostic, LineIndex, Span, SpanPath};
use pest::iterators::Pair;
use std::net::IpAddr;

/// How deeply conditions may nest (each parenthesis or `not` is a level). Past it, a condition
/// is reported as too deeply nested instead of overflowing the stack in lowering, checking or
/// dropping the tree.
pub const MAX_EXPR_DEPTH: usize = 32;

pub(super) struct Lowerer<'t> {
    path: &'t str,
    /// `path`, shared by every span of the file.
    span_path: SpanPath,
    text: &'t str,
    /// Line starts of `text`: spans are made in logarithmic time (a large file stays linear).
    index: LineIndex,
    /// Where in `text` the pairs being lowered start: a file is parsed one declaration at a time
    /// (`super::parse`), each from the end of the last, so pest's positions are relative to it.
    offset: usize,
    pub diagnostics: Vec<Diagnostic>,
    depth: usize,
    too_deep_reported: bool,
}

type P<'i> = Pair<'i, Rule>;

impl<'t> Lowerer<'t> {
    pub fn new(path: &'t str, text: &'t str) -> Lowerer<'t> {
        Lowerer {
            path,
            span_path: SpanPath::from(path),
            text,
            index: LineIndex::new(text),
            offset: 0,
            diagnostics: Vec::new(),
            depth: 0,
            too_deep_reported: false,
        }
    }

    fn span(&self, p: &P<'_>) -> Span {
        let s = p.as_span();
        self.span_at(s.start(), s.end())
    }

    /// The span of bytes `start..end` of the pairs being lowered (positions as pest gives them).
    fn span_at(&self, start: usize, end: usize) -> Span {
        self.index.span_in(
            &self.span_path,
            self.text,
            self.offset + start,
            self.offset + end,
        )
    }

    fn spanned<T>(&self, p: &P<'_>, node: T) -> Spanned<T> {
        Spanned::new(node, self.span(p))
    }

    fn internal(&mut self, p: &P<'_>, what: &str) {
        self.diagnostics.push(
            Diagnostic::new(Code::E0199, format!("internal parser error: {what}"))
                .at(self.span(p))
                .hint("this is a bug in detc; please report it with this file"),
        );
    }

    pub fn empty_file(&self) -> File {
        File {
            path: self.path.to_string(),
            lists: Vec::new(),
            rules: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Lowers the declarations in `pairs` (a `file`, `first_item` or `next_item`, parsed from
    /// byte `offset` of the text on) into `file`.
    pub fn items<'i>(
        &mut self,
        file: &mut File,
        pairs: impl Iterator<Item = P<'i>>,
        offset: usize,
    ) {
        self.offset = offset;
        for top in pairs {
            for item in top.into_inner() {
                match item.as_rule() {
                    Rule::list_decl => {
                        if let Some(l) = self.list_decl(item) {
                            file.lists.push(l);
                        }
                    }
                    Rule::rule_decl => {
                        if let Some(r) = self.rule_decl(item) {
                            file.rules.push(r);
                        }
                    }
                    Rule::EOI => {}
                    _ => self.internal(&item, "unexpected item"),
                }
            }
        }
    }

    fn ident(&self, p: &P<'_>) -> Spanned<String> {
        self.spanned(p, p.as_str().to_string())
    }

    fn list_decl(&mut self, p: P<'_>) -> Option<ListDecl> {
        let span = self.span(&p);
        let mut it = p.into_inner().filter(|x| x.as_rule() != Rule::kw_list);
        let name = self.ident(&it.next()?);
        let ty = self.ident(&it.next()?);
        let body_pair = it.next()?;
        let body = match body_pair.as_rule() {
            Rule::list_file => {
                let s = body_pair
                    .into_inner()
                    .find(|x| x.as_rule() == Rule::string)?;
                ListBody::File(self.string(s))
            }
            Rule::list_literal => ListBody::Inline(self.list_literal(body_pair)),
            _ => {
                self.internal(&body_pair, "list body");
                return None;
            }
        };
        Some(ListDecl {
            name,
            ty,
            body,
            span,
        })
    }

    fn rule_decl(&mut self, p: P<'_>) -> Option<RuleDecl> {
        let span = self.span(&p);
        let mut it = p.into_inner().filter(|x| x.as_rule() != Rule::kw_rule);
        let name = self.ident(&it.next()?);
        // Sized once: a clause is a few hundred bytes, and a vector grown by doubling holds
        // up to twice that per rule for the life of the pack.
        let pairs: Vec<P<'_>> = it.collect();
        let mut clauses = Vec::with_capacity(pairs.len());
        for c in pairs {
            let cspan = self.span(&c);
            if let Some(clause) = self.clause(c) {
                clauses.push(Spanned::new(clause, cspan));
            }
        }
        Some(RuleDecl {
            name,
            clauses,
            span,
        })
    }

    fn clause(&mut self, p: P<'_>) -> Option<Clause> {
        let rule = p.as_rule();
        let mut inner: Vec<P<'_>> = p.clone().into_inner().collect();
        // Keyword tokens carry no information beyond the clause kind.
        inner.retain(|x| {
            !matches!(
                x.as_rule(),
                Rule::kw_attack
                    | Rule::kw_source
                    | Rule::kw_targets
                    | Rule::kw_platform
                    | Rule::kw_where
                    | Rule::kw_let
                    | Rule::kw_case
                    | Rule::kw_window
                    | Rule::kw_group
                    | Rule::kw_by
                    | Rule::kw_aggregate
                    | Rule::kw_having
                    | Rule::kw_timezone
                    | Rule::kw_entities
                    | Rule::kw_schedule
                    | Rule::kw_suppress
                    | Rule::kw_test
                    | Rule::kw_events
                    | Rule::kw_expect
            )
        });
        let mut it = inner.into_iter();
        Some(match rule {
            Rule::meta_str => {
                let key = self.ident(&it.next()?);
                let mut text = String::new();
                let mut span: Option<Span> = None;
                for s in it {
                    let sp = self.string(s);
                    text.push_str(&sp.node);
                    span = Some(match span {
                        None => sp.span,
                        Some(first) => {
                            self.index
                                .span_in(&self.span_path, self.text, first.start, sp.span.end)
                        }
                    });
                }
                let span = span.unwrap_or_else(|| key.span.clone());
                Clause::Meta {
                    key,
                    value: MetaValue::Text(Spanned::new(text, span)),
                }
            }
            Rule::meta_list => {
                let key = self.ident(&it.next()?);
                let v = it.next()?;
                let texts = match v.as_rule() {
                    Rule::string => vec![self.string(v)],
                    _ => v.into_inner().map(|s| self.string(s)).collect(),
                };
                Clause::Meta {
                    key,
                    value: MetaValue::Texts(texts),
                }
            }
            Rule::meta_sym => {
                let key = self.ident(&it.next()?);
                let v = self.ident(&it.next()?);
                Clause::Meta {
                    key,
                    value: MetaValue::Symbol(v),
                }
            }
            Rule::meta_attack => {
                let key = Spanned::new("attack".to_string(), self.span(&p));
                let ids = it.map(|x| self.ident(&x)).collect();
                Clause::Meta {
                    key,
                    value: MetaValue::AttackIds(ids),
                }
            }
            Rule::source_clause => Clause::Source(self.ident(&it.next()?)),
            Rule::platform_clause => Clause::Platform(self.ident(&it.next()?)),
            Rule::targets_clause => {
                let mut exclude = false;
                let mut names = Vec::new();
                for x in it {
                    match x.as_rule() {
                        Rule::kw_not => exclude = true,
                        _ => names.push(self.ident(&x)),
                    }
                }
                Clause::Targets { exclude, names }
            }
            Rule::where_clause => Clause::Where(self.expr(it.next()?)?),
            Rule::having_clause => Clause::Having(self.expr(it.next()?)?),
            Rule::timezone_clause => Clause::Timezone(self.ident(&it.next()?)),
            Rule::entities_clause => Clause::Entities(
                it.filter(|b| b.as_rule() == Rule::entity_binding)
                    .filter_map(|b| {
                        let mut parts = b.into_inner();
                        let kind = self.ident(&parts.next()?);
                        let field = self.ident(&parts.next()?);
                        Some((kind, field))
                    })
                    .collect(),
            ),
            Rule::schedule_clause => Clause::Schedule(
                it.filter(|b| b.as_rule() == Rule::schedule_part)
                    .filter_map(|b| {
                        let mut parts = b.into_inner();
                        let key = self.ident(&parts.next()?);
                        let value = self.scalar(parts.next()?);
                        Some((key, value))
                    })
                    .collect(),
            ),
            Rule::suppress_clause => {
                let duration = self.scalar(it.next()?);
                Clause::Suppress {
                    duration,
                    keys: it.map(|f| self.ident(&f)).collect(),
                }
            }
            Rule::let_clause => {
                let name = self.ident(&it.next()?);
                let mut arms = Vec::new();
                let mut default = None;
                for arm in it {
                    let is_else = arm.as_rule() == Rule::else_arm;
                    let mut parts = arm.into_inner().filter(|x| x.as_rule() != Rule::kw_else);
                    if is_else {
                        default = Some(self.scalar(parts.next()?));
                    } else {
                        let cond = self.expr(parts.next()?)?;
                        let value = self.scalar(parts.next()?);
                        arms.push((cond, value));
                    }
                }
                Clause::Let {
                    name,
                    arms,
                    default,
                }
            }
            Rule::window_clause => Clause::Window(self.scalar(it.next()?)),
            Rule::group_clause => Clause::GroupBy(it.map(|f| self.ident(&f)).collect()),
            Rule::aggregate_clause => Clause::Aggregate(
                it.filter_map(|a| {
                    let span = self.span(&a);
                    let mut parts = a.into_inner();
                    let name = self.ident(&parts.next()?);
                    let func = self.ident(&parts.next()?);
                    let arg = parts.next().map(|f| self.ident(&f));
                    Some(AggDef {
                        name,
                        func,
                        arg,
                        span,
                    })
                })
                .collect(),
            ),
            Rule::test_clause => Clause::Test(Box::new(self.test(it)?)),
            Rule::correlate_clause => Clause::Correlate(Box::new(self.correlate(&p, it)?)),
            _ => {
                self.internal(&p, "unexpected clause");
                return None;
            }
        })
    }

    fn correlate<'i>(&mut self, p: &P<'i>, it: impl Iterator<Item = P<'i>>) -> Option<Correlate> {
        let mut c = Correlate {
            keyword: self.span(p),
            within: None,
            keys: Vec::new(),
            ordered: false,
            steps: Vec::new(),
        };
        for part in it {
            match part.as_rule() {
                Rule::kw_correlate => c.keyword = self.span(&part),
                Rule::corr_within => {
                    let v = part.into_inner().find(|x| x.as_rule() != Rule::kw_within)?;
                    c.within = Some(self.scalar(v));
                }
                Rule::corr_by => {
                    c.keys = part
                        .into_inner()
                        .filter(|x| x.as_rule() == Rule::field_path)
                        .map(|f| self.ident(&f))
                        .collect();
                }
                Rule::kw_ordered => c.ordered = true,
                Rule::corr_step => {
                    let span = self.span(&part);
                    let mut parts = part.into_inner().filter(|x| x.as_rule() != Rule::kw_where);
                    let name = self.ident(&parts.next()?);
                    let source = self.ident(&parts.next()?);
                    let filter = match parts.next() {
                        Some(e) => Some(self.expr(e)?),
                        None => None,
                    };
                    c.steps.push(CorrStep {
                        name,
                        source,
                        filter,
                        span,
                    });
                }
                _ => {}
            }
        }
        Some(c)
    }

    fn test<'i>(&mut self, mut it: impl Iterator<Item = P<'i>>) -> Option<TestDecl> {
        let name = self.string(it.next()?);
        let ev = it.next()?;
        let events = match ev.as_rule() {
            Rule::string => TestEventsAst::File(self.string(ev)),
            _ => {
                let mut objs = Vec::new();
                for o in ev.into_inner() {
                    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                        o.as_str(),
                    ) {
                        Ok(m) => objs.push(self.spanned(&o, m)),
                        Err(e) => {
                            let d = self.json_error(&o, &e);
                            self.diagnostics.push(d);
                        }
                    }
                }
                TestEventsAst::Inline(objs)
            }
        };
        let mut schema = None;
        let mut expect = None;
        for p in it {
            match p.as_rule() {
                Rule::schema_ref => {
                    let s = p.into_inner().find(|x| x.as_rule() == Rule::schema_name)?;
                    schema = Some(self.ident(&s));
                }
                Rule::expectation => expect = Some(self.expectation(p)?),
                _ => {}
            }
        }
        Some(TestDecl {
            name,
            events,
            schema,
            expect: expect?,
        })
    }

    /// serde_json's error for one inline event, located in the rule file (serde_json counts
    /// lines and columns within the object's text).
    fn json_error(&self, o: &P<'_>, e: &serde_json::Error) -> Diagnostic {
        let obj = o.as_str();
        let base = o.as_span().start();
        let line_start = obj
            .split_inclusive('\n')
            .take(e.line().saturating_sub(1))
            .map(str::len)
            .sum::<usize>();
        let mut at = (line_start + e.column().saturating_sub(1)).min(obj.len());
        while !obj.is_char_boundary(at) {
            at -= 1;
        }
        let end = obj[at..].chars().next().map_or(at, |c| at + c.len_utf8());
        let msg = e.to_string();
        let what = msg
            .rsplit_once(" at line ")
            .map_or(msg.as_str(), |(w, _)| w)
            .to_string();
        Diagnostic::new(Code::E0105, format!("invalid inline event: {what}"))
            .at(self.span_at(base + at, base + end))
            .found(what)
            .expected("a JSON object as in a JSON-lines file (JSON escapes: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
            .hint("inline events are JSON, not detc strings: a backslash in a Windows path is written `\\\\`")
    }

    fn expectation(&mut self, p: P<'_>) -> Option<ExpectAst> {
        let mut count = None;
        let mut alerts = Vec::new();
        for x in p.into_inner() {
            match x.as_rule() {
                Rule::no_alert => count = Some(self.spanned(&x, 0)),
                Rule::count_alerts => {
                    let n = x
                        .clone()
                        .into_inner()
                        .find(|y| y.as_rule() == Rule::integer)?;
                    match n.as_str().parse::<u64>() {
                        Ok(v) => count = Some(self.spanned(&n, v)),
                        Err(_) => {
                            self.diagnostics.push(
                                Diagnostic::new(Code::E0103, "alert count out of range")
                                    .at(self.span(&n))
                                    .found(n.as_str().to_string())
                                    .expected("a count from 0 to 2^64-1"),
                            );
                            return None;
                        }
                    }
                }
                Rule::alert_map => {
                    let span = self.span(&x);
                    let mut kvs = Vec::new();
                    for kv in x.into_inner() {
                        let mut parts = kv.into_inner();
                        let key = self.ident(&parts.next()?);
                        let value = self.scalar(parts.next()?);
                        kvs.push((key, value));
                    }
                    alerts.push(Spanned::new(kvs, span));
                }
                _ => {}
            }
        }
        Some(ExpectAst {
            count: count?,
            alerts,
        })
    }

    pub(super) fn expr(&mut self, p: P<'_>) -> Option<Expr> {
        if p.as_rule() != Rule::not_expr {
            return self.expr_inner(p);
        }
        if self.depth >= MAX_EXPR_DEPTH {
            if !self.too_deep_reported {
                self.too_deep_reported = true;
                self.diagnostics.push(
                    Diagnostic::new(Code::E0106, "condition nested too deeply")
                        .at(self.span(&p))
                        .found(format!(
                            "more than {MAX_EXPR_DEPTH} nested parentheses or `not`s"
                        ))
                        .expected("a condition with fewer nested parentheses")
                        .hint("`not not x` is `x`; split the condition or flatten `((a))` to `a`"),
                );
            }
            return None;
        }
        self.depth += 1;
        let e = self.expr_inner(p);
        self.depth -= 1;
        e
    }

    fn expr_inner(&mut self, p: P<'_>) -> Option<Expr> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::expr => {
                self.lint_and_or(&p);
                let mut xs = Vec::new();
                for x in p.into_inner().filter(|x| x.as_rule() != Rule::kw_or) {
                    xs.push(self.expr(x)?);
                }
                Some(if xs.len() == 1 {
                    xs.pop()?
                } else {
                    Expr::Or(xs, span)
                })
            }
            Rule::and_expr => {
                let mut xs = Vec::new();
                for x in p.into_inner().filter(|x| x.as_rule() != Rule::kw_and) {
                    xs.push(self.expr(x)?);
                }
                Some(if xs.len() == 1 {
                    xs.pop()?
                } else {
                    Expr::And(xs, span)
                })
            }
            Rule::not_expr => {
                let mut inner = p.into_inner();
                let first = inner.next()?;
                if first.as_rule() == Rule::kw_not {
                    let x = self.expr(inner.next()?)?;
                    Some(Expr::Not(Box::new(x), span))
                } else {
                    self.expr(first)
                }
            }
            Rule::predicate => self.predicate(p).map(Expr::Pred),
            Rule::comparison => self.comparison(p).map(|c| Expr::Compare(Box::new(c))),
            Rule::value_in => self.value_in(p),
            _ => {
                self.internal(&p, "unexpected expression");
                None
            }
        }
    }

    fn comparison(&mut self, p: P<'_>) -> Option<Compare> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let (left, _) = self.value_expr(it.next()?)?;
        let o = it.next()?;
        let op = match o.as_str() {
            "==" => RelOp::Eq,
            "!=" => RelOp::Ne,
            "<" => RelOp::Lt,
            "<=" => RelOp::Le,
            ">" => RelOp::Gt,
            _ => RelOp::Ge,
        };
        let op = self.spanned(&o, op);
        let (right, _) = self.value_expr(it.next()?)?;
        Some(Compare {
            left,
            op,
            right,
            span,
        })
    }

    /// `v in [a, b]` is `v == a or v == b` (each comparison spans the whole membership);
    /// `not in` is its negation.
    fn value_in(&mut self, p: P<'_>) -> Option<Expr> {
        let span = self.span(&p);
        let mut it = p.into_inner().peekable();
        let (left, _) = self.value_expr(it.next()?)?;
        let negated = it.peek().map(|x| x.as_rule()) == Some(Rule::negation);
        if negated {
            it.next();
        }
        let kw = it.next()?;
        let op = self.spanned(&kw, RelOp::Eq);
        let mut xs = Vec::new();
        for x in it {
            let (right, _) = self.value_expr(x)?;
            xs.push(Expr::Compare(Box::new(Compare {
                left: left.clone(),
                op: op.clone(),
                right,
                span: span.clone(),
            })));
        }
        let any = if xs.len() == 1 {
            xs.pop()?
        } else {
            Expr::Or(xs, span.clone())
        };
        Some(if negated {
            Expr::Not(Box::new(any), span)
        } else {
            any
        })
    }

    /// A `value_sum`, `value_product` or `value_atom`: left-associative binary operations, with
    /// the depth of the tree built. Every later stage (checker, backends, evaluator) walks a
    /// value recursively, so the tree is at most [`MAX_EXPR_DEPTH`] deep (`a + b + c` is three:
    /// a sum of up to 32 terms) and parentheses share the conditions' nesting budget (E0106).
    fn value_expr(&mut self, p: P<'_>) -> Option<(ValueExpr, usize)> {
        self.value_expr_inner(p)
    }

    fn value_too_deep(&mut self, p: &P<'_>) {
        if !self.too_deep_reported {
            self.too_deep_reported = true;
            self.diagnostics.push(
                Diagnostic::new(Code::E0106, "value nested too deeply")
                    .at(self.span(p))
                    .found(format!(
                        "more than {MAX_EXPR_DEPTH} nested parentheses and operators in one value"
                    ))
                    .expected("a value with fewer operators or nested parentheses")
                    .hint("split the condition into several comparisons joined with `and`"),
            );
        }
    }

    fn value_expr_inner(&mut self, p: P<'_>) -> Option<(ValueExpr, usize)> {
        let start = p.as_span().start();
        match p.as_rule() {
            Rule::value_sum | Rule::value_product => {
                let whole = p.clone();
                let mut it = p.into_inner();
                let (mut acc, mut depth) = self.value_expr(it.next()?)?;
                while let Some(o) = it.next() {
                    let op = match o.as_str() {
                        "+" => ArithOp::Add,
                        "-" => ArithOp::Sub,
                        "*" => ArithOp::Mul,
                        _ => ArithOp::Div,
                    };
                    let op = self.spanned(&o, op);
                    let rp = it.next()?;
                    let end = rp.as_span().end();
                    let (right, rdepth) = self.value_expr(rp)?;
                    depth = depth.max(rdepth) + 1;
                    if depth > MAX_EXPR_DEPTH {
                        self.value_too_deep(&whole);
                        return None;
                    }
                    acc = ValueExpr::Arith {
                        op,
                        left: Box::new(acc),
                        right: Box::new(right),
                        span: self.index.span(self.path, self.text, start, end),
                    };
                }
                Some((acc, depth))
            }
            Rule::value_atom => {
                let inner = p.into_inner().next()?;
                match inner.as_rule() {
                    // Parentheses nest like a condition's (the same budget).
                    Rule::value_sum => {
                        if self.depth >= MAX_EXPR_DEPTH {
                            self.value_too_deep(&inner);
                            return None;
                        }
                        self.depth += 1;
                        let v = self.value_expr(inner);
                        self.depth -= 1;
                        v
                    }
                    Rule::field_path => Some((ValueExpr::Name(self.ident(&inner)), 1)),
                    Rule::time_call => {
                        let span = self.span(&inner);
                        let mut parts = inner.into_inner();
                        let func = self.ident(&parts.next()?);
                        let arg = self.ident(&parts.next()?);
                        Some((ValueExpr::Call(Box::new(Call { func, arg, span })), 1))
                    }
                    _ => Some((ValueExpr::Lit(self.scalar(inner)), 1)),
                }
            }
            _ => {
                self.internal(&p, "unexpected value");
                None
            }
        }
    }

    /// W0281: `a and b or c` relies on `and` binding tighter than `or`. The grammar gives a
    /// parenthesised group its own `expr`, so an `or` whose operand is a bare `and` (two or more
    /// terms of one `and_expr`) is exactly the unparenthesised mix.
    fn lint_and_or(&mut self, p: &P<'_>) {
        let terms: Vec<P<'_>> = p
            .clone()
            .into_inner()
            .filter(|x| x.as_rule() == Rule::and_expr)
            .collect();
        let arity = |x: &P<'_>| {
            x.clone()
                .into_inner()
                .filter(|y| y.as_rule() != Rule::kw_and)
                .count()
        };
        if terms.len() < 2 || terms.iter().all(|t| arity(t) < 2) {
            return;
        }
        let reading = terms
            .iter()
            .map(|t| {
                let text = t.as_str().split_whitespace().collect::<Vec<_>>().join(" ");
                if arity(t) > 1 {
                    format!("({text})")
                } else {
                    text
                }
            })
            .collect::<Vec<_>>()
            .join(" or ");
        let mut d = Diagnostic::new(Code::W0281, "`and` and `or` mixed without parentheses")
            .at(self.span(p))
            .found("`and` and `or` in one condition, without parentheses")
            .expected("parentheses that say which `and` terms belong together");
        d = d.hint(if reading.chars().count() <= 160 {
            format!("`and` binds tighter, so this reads `{reading}`; write the parentheses")
        } else {
            "`and` binds tighter than `or`; write the parentheses that say what you mean".into()
        });
        self.diagnostics.push(d);
    }

    fn predicate(&mut self, p: P<'_>) -> Option<Pred> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let field = self.ident(&it.next()?);
        let opp = it.next()?;
        let op_rule = opp.as_rule();
        let mut negated = false;
        let mut parts: Vec<P<'_>> = Vec::new();
        for x in opp.clone().into_inner() {
            match x.as_rule() {
                Rule::negation => negated = true,
                Rule::kw_is | Rule::kw_exists | Rule::kw_missing => {}
                _ => parts.push(x),
            }
        }
        let mut parts = parts.into_iter();
        let op = match op_rule {
            Rule::eq_pred => {
                let o = parts.next()?;
                let op = match o.as_str() {
                    "==" => EqOp::Eq,
                    "=~" => EqOp::EqCi,
                    "!=" => EqOp::Ne,
                    _ => EqOp::NeCi,
                };
                PredOp::Eq {
                    op,
                    value: self.scalar(parts.next()?),
                }
            }
            Rule::in_pred => {
                let o = parts.next()?;
                PredOp::In {
                    insensitive: o.as_str().ends_with('~'),
                    target: self.list_ref(parts.next()?),
                }
            }
            Rule::str_pred => {
                let o = parts.next()?;
                let s = o.as_str();
                let kind = if s.starts_with("startswith") {
                    StrKind::StartsWith
                } else if s.starts_with("endswith") {
                    StrKind::EndsWith
                } else {
                    StrKind::Contains
                };
                PredOp::Str {
                    kind,
                    insensitive: s.ends_with('~'),
                    target: self.list_ref(parts.next()?),
                }
            }
            Rule::regex_pred => {
                let o = parts.next()?;
                PredOp::Matches {
                    insensitive: o.as_str().ends_with('~'),
                    pattern: self.string(parts.next()?),
                }
            }
            Rule::is_pred => PredOp::Is {
                class: self.ident(&parts.next()?),
            },
            Rule::exists_pred => PredOp::Exists,
            Rule::missing_pred => PredOp::Missing,
            Rule::cmp_pred => {
                let o = parts.next()?;
                let op = match o.as_str() {
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                PredOp::Cmp {
                    op,
                    value: self.scalar(parts.next()?),
                }
            }
            _ => {
                self.internal(&opp, "unexpected operator");
                return None;
            }
        };
        Some(Pred {
            field,
            negated,
            op,
            span,
        })
    }

    fn list_ref(&mut self, p: P<'_>) -> ListRef {
        match p.as_rule() {
            Rule::list_literal => {
                let span = self.span(&p);
                ListRef::Inline(self.list_literal(p), span)
            }
            Rule::string => {
                let span = self.span(&p);
                let s = self.string(p);
                ListRef::Inline(vec![Spanned::new(Literal::Str(s.node), s.span)], span)
            }
            _ => ListRef::Named(self.ident(&p)),
        }
    }

    fn list_literal(&mut self, p: P<'_>) -> Vec<Spanned<Literal>> {
        p.into_inner().map(|x| self.scalar(x)).collect()
    }

    /// A string literal: `"..."` with escapes or `'...'` raw.
    fn string(&mut self, p: P<'_>) -> Spanned<String> {
        let span = self.span(&p);
        let Some(inner) = p.into_inner().next() else {
            return Spanned::new(String::new(), span);
        };
        match inner.as_rule() {
            Rule::raw_inner => Spanned::new(inner.as_str().to_string(), span),
            _ => {
                let s = self.unescape(&inner);
                Spanned::new(s, span)
            }
        }
    }

    fn unescape(&mut self, p: &P<'_>) -> String {
        let raw = p.as_str();
        // Most strings have no escape: one search, one copy.
        if !raw.contains('\\') {
            return raw.to_string();
        }
        let base = p.as_span().start();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, e)) = chars.next() else { break };
            match e {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    // \u{1F600}
                    let rest = &raw[i + 2..];
                    let close = rest.find('}');
                    // 1 to 6 hex digits, nothing else (`from_str_radix` would take a `+`).
                    let ok = close
                        .filter(|c| rest.starts_with('{') && (2..=7).contains(c))
                        .filter(|c| rest[1..*c].bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|c| u32::from_str_radix(&rest[1..c], 16).ok())
                        .and_then(char::from_u32);
                    match (ok, close) {
                        (Some(ch), Some(c)) => {
                            out.push(ch);
                            // Skip `{hex}`.
                            for _ in 0..=c {
                                chars.next();
                            }
                        }
                        _ => {
                            self.diagnostics.push(
                                Diagnostic::new(Code::E0102, "invalid unicode escape in string")
                                    .at(self.span_at(base + i, base + i + 2))
                                    .found(format!(
                                        "`{}`",
                                        raw[i..]
                                            .char_indices()
                                            .take_while(|(k, c)| *k < 2 || (*c != '"' && *c != '}'))
                                            .map(|(_, c)| c)
                                            .chain(close.map(|_| '}'))
                                            .collect::<String>()
                                    ))
                                    .expected("`\\u{` hex digits of a Unicode scalar value `}`, e.g. `\\u{e9}`"),
                            );
                        }
                    }
                }
                other => {
                    self.diagnostics.push(
                        Diagnostic::new(Code::E0102, "unknown escape in string")
                            .at(self.span_at(base + i, base + i + 1 + other.len_utf8()))
                            .found(format!("`\\{other}`"))
                            .expected("one of \\\" \\\\ \\n \\r \\t \\u{...}")
                            .hint(
                                "for Windows paths and regexes, a raw string in single quotes \
                                 takes backslashes as they are: 'C:\\Windows\\'",
                            ),
                    );
                }
            }
        }
        out
    }

    pub(super) fn scalar(&mut self, p: P<'_>) -> Spanned<Literal> {
        let span = self.span(&p);
        let s = p.as_str();
        let lit = match p.as_rule() {
            Rule::string => Literal::Str(self.string(p).node),
            Rule::integer => match s.parse::<i64>() {
                Ok(v) => Literal::Int(v),
                Err(_) => self.bad(
                    &span,
                    Code::E0103,
                    "integer out of range",
                    s,
                    "an integer from -2^63 to 2^63-1",
                ),
            },
            Rule::size => {
                let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
                let unit = &s[digits.len()..];
                let mult: u64 = match unit {
                    "B" => 1,
                    "KB" => 1_000,
                    "MB" => 1_000_000,
                    "GB" => 1_000_000_000,
                    "TB" => 1_000_000_000_000,
                    "KiB" => 1 << 10,
                    "MiB" => 1 << 20,
                    "GiB" => 1 << 30,
                    _ => 1 << 40,
                };
                match digits.parse::<u64>().ok().and_then(|d| d.checked_mul(mult)) {
                    Some(v) if v <= i64::MAX as u64 => Literal::Size(v),
                    _ => self.bad(
                        &span,
                        Code::E0103,
                        "size out of range",
                        s,
                        "at most 2^63-1 bytes",
                    ),
                }
            }
            Rule::duration => {
                let digits = &s[..s.len() - 1];
                let mult: u64 = match &s[s.len() - 1..] {
                    "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    "d" => 86_400,
                    _ => 604_800,
                };
                match digits.parse::<u64>().ok().and_then(|d| d.checked_mul(mult)) {
                    Some(v) if v <= i64::MAX as u64 => Literal::Duration(v),
                    _ => self.bad(
                        &span,
                        Code::E0103,
                        "duration out of range",
                        s,
                        "at most 2^63-1 seconds",
                    ),
                }
            }
            Rule::ip => match s.parse::<IpAddr>() {
                Ok(ip) => Literal::Ip(ip),
                Err(_) => self.bad(
                    &span,
                    Code::E0104,
                    "invalid IP address",
                    s,
                    "an IPv4 address like 10.1.2.3 or an IPv6 address like fe80::1",
                ),
            },
            Rule::cidr => {
                let (addr, prefix) = s.split_once('/').unwrap_or((s, ""));
                let ip = addr.parse::<IpAddr>();
                let max = if matches!(ip, Ok(IpAddr::V6(_))) {
                    128
                } else {
                    32
                };
                match (ip, prefix.parse::<u8>()) {
                    (Ok(ip), Ok(p)) if p <= max => Literal::Cidr(ip, p),
                    (Ok(_), _) => self.bad(
                        &span,
                        Code::E0104,
                        "invalid CIDR prefix length",
                        s,
                        &format!("a prefix length from 0 to {max}"),
                    ),
                    _ => self.bad(
                        &span,
                        Code::E0104,
                        "invalid IP address in CIDR block",
                        s,
                        "a block like 10.0.0.0/8 or fc00::/7",
                    ),
                }
            }
            Rule::symbol => Literal::Symbol(s.to_string()),
            _ => {
                self.internal(&p, "unexpected literal");
                Literal::Symbol(s.to_string())
            }
        };
        Spanned::new(lit, span)
    }

    fn bad(&mut self, span: &Span, code: Code, msg: &str, found: &str, expected: &str) -> Literal {
        self.diagnostics.push(
            Diagnostic::new(code, msg)
                .at(span.clone())
                .found(format!("`{found}`"))
                .expected(expected.to_string()),
        );
        Literal::Symbol(found.to_string())
    }
}
