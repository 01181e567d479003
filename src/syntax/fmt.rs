//! `detc fmt`: the one canonical layout of a rule file (docs/LANGUAGE.md, "Formatting").
//!
//! The formatter works from the parse, not from the AST: pest's pairs give every token with its
//! position, and the text between two tokens holds only whitespace, comments and the grammar's
//! literal punctuation (`(`, `,`, `=>`...). So the file becomes a flat token list plus its
//! comments, and each construct is printed from its tokens: a construct the layout below does not
//! know (a new operator, a new clause) is still printed faithfully, its tokens joined by single
//! spaces on one line. Comments stay where they were: on their own line before a clause, a
//! condition line, a list item or a case arm, or at the end of such a line.
//!
//! Before a result is returned it is parsed again and its tokens compared with the input's (only
//! a trailing comma before `]` or `}` may come or go) and its comments likewise, so a formatter
//! bug can never change a rule's meaning or drop a comment: it is reported instead.

use super::{parse_fast, Rule};
use crate::diag::{Code, Diagnostic, Span};
use pest::iterators::Pair;

/// The width lines are broken at (in characters). A line can be longer only where nothing can be
/// broken: one string, or a test's `test "name" events "file" schema s` line.
pub const WIDTH: usize = 100;

/// Formats one rule file. A file that does not parse is refused with the parser's diagnostics
/// (the same ones `detc check` gives); the text is never rewritten then.
pub fn format(path: &str, text: &str) -> Result<String, Vec<Diagnostic>> {
    super::parse(path, text)?;
    // A byte order mark is ignored by the parser; the canonical file has none.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let out = Formatter::new(path, text)
        .map_err(|d| vec![d])?
        .file()
        .map_err(|d| vec![d])?;
    verify(path, text, &out).map_err(|d| vec![d])?;
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A token the grammar names (an identifier, a keyword, a string...).
    Leaf(Rule),
    /// Punctuation from a grammar literal, found between named tokens.
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    start: usize,
    end: usize,
    text: &'a str,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
struct Comment<'a> {
    start: usize,
    end: usize,
    text: &'a str,
}

/// The tokens and comments of a text that parses.
fn lex<'a>(text: &'a str, file: Pair<'a, Rule>) -> (Vec<Tok<'a>>, Vec<Comment<'a>>) {
    let mut leaves = Vec::new();
    collect_leaves(file, &mut leaves);
    let mut toks = Vec::new();
    let mut comments = Vec::new();
    let mut at = 0;
    for leaf in leaves {
        scan_gap(text, at, leaf.start, &mut toks, &mut comments);
        at = leaf.end;
        toks.push(leaf);
    }
    scan_gap(text, at, text.len(), &mut toks, &mut comments);
    (toks, comments)
}

fn collect_leaves<'a>(pair: Pair<'a, Rule>, out: &mut Vec<Tok<'a>>) {
    let rule = pair.as_rule();
    if rule == Rule::EOI {
        return;
    }
    let mut inner = pair.clone().into_inner().peekable();
    // A string's inner pair is its text without quotes: the string is one token.
    if rule == Rule::string || rule == Rule::json_string || inner.peek().is_none() {
        let s = pair.as_span();
        out.push(Tok {
            start: s.start(),
            end: s.end(),
            text: s.as_str(),
            kind: Kind::Leaf(rule),
        });
        return;
    }
    for p in inner {
        collect_leaves(p, out);
    }
}

/// Splits the text between two named tokens into punctuation and comments.
fn scan_gap<'a>(
    text: &'a str,
    from: usize,
    to: usize,
    toks: &mut Vec<Tok<'a>>,
    comments: &mut Vec<Comment<'a>>,
) {
    const OPS: &str = "=<>!~&|+-*/%^";
    let gap = &text[from..to];
    let mut i = 0;
    while i < gap.len() {
        let rest = &gap[i..];
        let Some(c) = rest.chars().next() else { break };
        let len = if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        } else if rest.starts_with("//") {
            let n = rest.find('\n').unwrap_or(rest.len());
            comments.push(comment(text, from + i, from + i + n));
            i += n;
            continue;
        } else if let Some(body) = rest.strip_prefix("/*") {
            let n = body.find("*/").map_or(rest.len(), |k| k + 4);
            comments.push(comment(text, from + i, from + i + n));
            i += n;
            continue;
        } else if c.is_alphanumeric() || c == '_' {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        } else if OPS.contains(c) {
            let mut n = 0;
            for ch in rest.chars() {
                let r = &rest[n..];
                if !OPS.contains(ch) || r.starts_with("//") || r.starts_with("/*") {
                    break;
                }
                n += ch.len_utf8();
            }
            n
        } else {
            c.len_utf8()
        };
        toks.push(Tok {
            start: from + i,
            end: from + i + len,
            text: &gap[i..i + len],
            kind: Kind::Punct,
        });
        i += len;
    }
}

fn comment(text: &str, start: usize, end: usize) -> Comment<'_> {
    Comment {
        start,
        end,
        text: text[start..end].trim_end(),
    }
}

fn span_at(path: &str, text: &str, start: usize, end: usize) -> Span {
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    Span {
        path: path.to_string().into(),
        start,
        end,
        line: line as u32,
        col: col as u32,
    }
}

fn internal(path: &str, what: &str) -> Diagnostic {
    Diagnostic::new(Code::E0199, format!("internal formatter error: {what}"))
        .at(Span::file(path))
        .hint("this is a bug in detc; the file was left as it was; please report it with the file")
}

/// One output line: its indentation and text.
type Line = (usize, String);

struct Formatter<'a> {
    path: &'a str,
    src: &'a str,
    file: Pair<'a, Rule>,
    toks: Vec<Tok<'a>>,
    comments: Vec<Comment<'a>>,
    /// The first comment not printed yet.
    next_comment: usize,
    out: Vec<String>,
    /// Where in the source the last printed thing ended.
    last_end: usize,
    /// The last line printed opened a block (`rule x {`, `= [`): no blank line follows it.
    block_start: bool,
}

impl<'a> Formatter<'a> {
    fn new(path: &'a str, src: &'a str) -> Result<Formatter<'a>, Diagnostic> {
        let file = parse_fast(Rule::file, src)
            .ok()
            .and_then(|mut p| p.next())
            .ok_or_else(|| internal(path, "the file parsed once but not twice"))?;
        let (toks, comments) = lex(src, file.clone());
        Ok(Formatter {
            path,
            src,
            file,
            toks,
            comments,
            next_comment: 0,
            out: Vec::new(),
            last_end: 0,
            block_start: false,
        })
    }

    // ---------------------------------------------------------------------------------------
    // Output and comments
    // ---------------------------------------------------------------------------------------

    fn line(&mut self, indent: usize, text: &str) {
        self.out.push(format!("{}{text}", " ".repeat(indent)));
        self.block_start = false;
    }

    fn lines(&mut self, lines: Vec<Line>) {
        for (indent, text) in lines {
            self.line(indent, &text);
        }
    }

    fn blank(&mut self) {
        if !self.block_start && self.out.last().is_some_and(|l| !l.is_empty()) {
            self.out.push(String::new());
        }
    }

    fn blank_in_source(&self, from: usize, to: usize) -> bool {
        self.src[from.min(to)..to].matches('\n').count() >= 2
    }

    /// Prints the comments before `pos`: one on the line of the last printed thing stays at the
    /// end of that line, the others go on their own lines at `indent`. With `blanks`, a blank
    /// line of the source before a comment or before `pos` is kept (one at most), and `force`
    /// puts one before whatever comes first.
    fn comments_before(&mut self, pos: usize, indent: usize, blanks: bool, mut force: bool) {
        while let Some(c) = self.comments.get(self.next_comment).copied() {
            if c.start >= pos {
                break;
            }
            self.next_comment += 1;
            let same_line = !self.src[self.last_end.min(c.start)..c.start].contains('\n');
            if same_line && !self.out.is_empty() && self.last_end > 0 {
                if let Some(last) = self.out.last_mut() {
                    last.push(' ');
                    last.push_str(&trim_lines(c.text));
                }
            } else {
                if force || (blanks && self.blank_in_source(self.last_end, c.start)) {
                    self.blank();
                }
                force = false;
                // The lines of a block comment after its first are kept as written.
                self.line(indent, &trim_lines(c.text));
            }
            self.last_end = c.end;
        }
        if force || (blanks && self.blank_in_source(self.last_end, pos)) {
            self.blank();
        }
    }

    fn has_comment_in(&self, start: usize, end: usize) -> Option<Comment<'a>> {
        let rest = &self.comments[self.next_comment..];
        rest.get(rest.partition_point(|c| c.start < start))
            .filter(|c| c.start < end)
            .copied()
    }

    fn toks_in(&self, start: usize, end: usize) -> &[Tok<'a>] {
        let a = self.toks.partition_point(|t| t.start < start);
        let b = self.toks.partition_point(|t| t.start < end);
        &self.toks[a..b]
    }

    /// Comma-separated `items` one per line: the first on the clause's line (from `start`, at
    /// `ind`), the others under it at column `col`, each with the comments before it.
    fn hanging(
        &mut self,
        start: usize,
        items: &[Pair<'_, Rule>],
        ind: usize,
        col: usize,
    ) -> Result<(), Diagnostic> {
        for (i, item) in items.iter().enumerate() {
            let (s, e) = (item.as_span().start(), self.end(item));
            let comma = if i + 1 < items.len() { "," } else { "" };
            if i == 0 {
                let l = self.inline(start, e)?;
                self.line(ind, &format!("{l}{comma}"));
            } else {
                self.comments_before(s, col, false, false);
                let l = self.inline(s, e)?;
                self.line(col, &format!("{l}{comma}"));
            }
            self.last_end = self.past_comma(e);
        }
        Ok(())
    }

    /// The source end of the token after `pos` if it is a comma, else `pos`.
    fn past_comma(&self, pos: usize) -> usize {
        match self.toks_in(pos, self.src.len()).first() {
            Some(t) if t.text == "," && t.kind == Kind::Punct => t.end,
            _ => pos,
        }
    }

    /// The tokens of `start..end` on one line. A comment among them cannot be kept on one line:
    /// it is reported (E0107) and the file is left alone.
    fn inline(&self, start: usize, end: usize) -> Result<String, Diagnostic> {
        self.join(start, end, false)
    }

    /// Where a pair's last token ends (pest's span can reach over the whitespace and comments
    /// after it).
    fn end(&self, p: &Pair<'a, Rule>) -> usize {
        let (s, e) = (p.as_span().start(), p.as_span().end());
        let i = self.toks.partition_point(|t| t.end <= e);
        match i.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(t) if t.start >= s => t.end,
            _ => e,
        }
    }

    fn inline_pair(&self, p: &Pair<'a, Rule>) -> Result<String, Diagnostic> {
        self.inline(p.as_span().start(), self.end(p))
    }

    fn join(&self, start: usize, end: usize, json: bool) -> Result<String, Diagnostic> {
        if let Some(c) = self.has_comment_in(start, end) {
            return Err(Diagnostic::new(
                Code::E0107,
                "a comment inside a construct that fmt prints on one line",
            )
            .at(span_at(self.path, self.src, c.start, c.end))
            .found(format!("`{}`", c.text.lines().next().unwrap_or("")))
            .expected("a comment on its own line before a clause, condition, list item or case arm, or at the end of such a line")
            .hint("move the comment before the clause; the file was left as it was"));
        }
        let toks = self.toks_in(start, end);
        let mut s = String::new();
        let mut prev: Option<&Tok> = None;
        for (i, t) in toks.iter().enumerate() {
            // A trailing comma before `]` or `}` goes: a one-line list has none.
            if t.text == ","
                && t.kind == Kind::Punct
                && toks
                    .get(i + 1)
                    .is_some_and(|n| n.kind == Kind::Punct && (n.text == "]" || n.text == "}"))
            {
                continue;
            }
            if let Some(p) = prev {
                if spaced(p, t, json) {
                    s.push(' ');
                }
            }
            s.push_str(t.text);
            prev = Some(t);
        }
        Ok(s)
    }

    // ---------------------------------------------------------------------------------------
    // The layout
    // ---------------------------------------------------------------------------------------

    fn file(mut self) -> Result<String, Diagnostic> {
        let items: Vec<Pair<'a, Rule>> = self
            .file
            .clone()
            .into_inner()
            .filter(|p| p.as_rule() != Rule::EOI)
            .collect();
        for (i, item) in items.iter().enumerate() {
            let (start, end) = (item.as_span().start(), self.end(item));
            // A rule is set apart by a blank line; list declarations may follow each other.
            let apart = i > 0
                && (item.as_rule() != Rule::list_decl || items[i - 1].as_rule() != Rule::list_decl);
            self.comments_before(start, 0, true, apart);
            match item.as_rule() {
                Rule::list_decl => self.list_decl(item)?,
                Rule::rule_decl => self.rule_decl(item)?,
                _ => {
                    let l = self.inline(start, end)?;
                    self.line(0, &l);
                }
            }
            self.last_end = end;
        }
        self.comments_before(self.src.len(), 0, true, false);
        while self.out.last().is_some_and(String::is_empty) {
            self.out.pop();
        }
        if self.next_comment != self.comments.len() {
            return Err(internal(self.path, "a comment was not printed"));
        }
        let mut s = self.out.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        Ok(s)
    }

    fn list_decl(&mut self, item: &Pair<'a, Rule>) -> Result<(), Diagnostic> {
        let start = item.as_span().start();
        let Some(value) = item.clone().into_inner().last() else {
            return Err(internal(self.path, "a list without a value"));
        };
        if value.as_rule() == Rule::list_literal {
            self.list_after(start, &value, 0, true)?;
        } else {
            let l = self.inline_pair(item)?;
            self.line(0, &l);
        }
        Ok(())
    }

    /// The tokens from `start` and then a `[...]`: on one line if that fits at `indent` and the
    /// list holds no comment, else the opening line alone, the items (see [`Self::block_items`])
    /// and `]` alone.
    fn list_after(
        &mut self,
        start: usize,
        list: &Pair<'a, Rule>,
        indent: usize,
        packed: bool,
    ) -> Result<(), Diagnostic> {
        let (ls, le) = (list.as_span().start(), self.end(list));
        let items: Vec<Pair<'a, Rule>> = list.clone().into_inner().collect();
        if self.has_comment_in(ls, le).is_none() {
            let one = self.inline(start, le)?;
            if indent + width(&one) <= WIDTH || items.is_empty() {
                self.line(indent, &one);
                return Ok(());
            }
        }
        let head = self.inline(start, ls + 1)?;
        self.line(indent, &head);
        self.last_end = ls + 1;
        self.block_items(items, indent + 2, le - 1, indent, packed)
    }

    /// The items of a block list, each with a comma, then the closing bracket: filled onto lines
    /// (`packed`, as a list of values is written) or one per line (as metadata lists are, and any
    /// list with a comment among its items).
    fn block_items(
        &mut self,
        items: Vec<Pair<'a, Rule>>,
        indent: usize,
        close: usize,
        close_indent: usize,
        packed: bool,
    ) -> Result<(), Diagnostic> {
        self.block_start = true;
        let first = items.first().map_or(close, |i| i.as_span().start());
        if packed && self.has_comment_in(first, close).is_none() {
            self.comments_before(first, indent, false, false);
            let mut pieces = Vec::new();
            for it in &items {
                pieces.push(format!("{},", self.inline_pair(it)?));
            }
            self.lines(fill("", pieces, indent, indent));
            self.last_end = items.last().map_or(first, |i| self.past_comma(self.end(i)));
            self.comments_before(close, indent, false, false);
            self.line(close_indent, "]");
            self.last_end = close + 1;
            return Ok(());
        }
        for it in &items {
            self.comments_before(it.as_span().start(), indent, false, false);
            let l = self.inline_pair(it)?;
            self.line(indent, &format!("{l},"));
            self.last_end = self.past_comma(self.end(it));
        }
        self.comments_before(close, indent, false, false);
        self.line(close_indent, "]");
        self.last_end = close + 1;
        Ok(())
    }

    fn rule_decl(&mut self, item: &Pair<'a, Rule>) -> Result<(), Diagnostic> {
        let (start, end) = (item.as_span().start(), self.end(item));
        let clauses: Vec<Pair<'a, Rule>> = item.clone().into_inner().skip(2).collect();
        let open = self
            .toks_in(start, end)
            .iter()
            .find(|t| t.text == "{" && t.kind == Kind::Punct)
            .map(|t| t.end)
            .ok_or_else(|| internal(self.path, "a rule without `{`"))?;
        let head = self.inline(start, open)?;
        self.line(0, &head);
        self.last_end = open;
        self.block_start = true;
        for c in &clauses {
            self.comments_before(c.as_span().start(), 2, true, false);
            self.clause(c, 2)?;
            self.last_end = self.end(c);
        }
        self.comments_before(end - 1, 2, false, false);
        self.line(0, "}");
        Ok(())
    }

    fn clause(&mut self, c: &Pair<'a, Rule>, ind: usize) -> Result<(), Diagnostic> {
        let start = c.as_span().start();
        let kids: Vec<Pair<'a, Rule>> = c.clone().into_inner().collect();
        match c.as_rule() {
            // `description "..." "..."`: the strings one under the other.
            Rule::meta_str if kids.len() > 2 => {
                let first = self.inline(start, self.end(&kids[1]))?;
                self.line(ind, &first);
                let col = ind + width(kids[0].as_str()) + 1;
                for s in &kids[2..] {
                    self.comments_before(s.as_span().start(), col, false, false);
                    self.line(col, s.as_str());
                    self.last_end = self.end(s);
                }
            }
            Rule::meta_list if kids.len() == 2 && kids[1].as_rule() == Rule::string_list => {
                self.list_after(start, &kids[1], ind, false)?;
            }
            Rule::where_clause | Rule::having_clause if kids.len() == 2 => {
                self.condition(start, &kids[1], ind)?
            }
            Rule::let_clause if kids.len() > 3 => {
                // `let x = case a => 1,` with the further arms under the first.
                let arms = &kids[3..];
                let head = self.inline(start, arms[0].as_span().start())?;
                let col = ind + width(&head) + 1;
                self.hanging(start, arms, ind, col)?;
            }
            // `aggregate a = f(x), b = g(y)`: on one line if it fits, else one per line.
            Rule::aggregate_clause if kids.len() > 2 => {
                let one = self.inline(start, self.end(c));
                match one {
                    Ok(l) if ind + width(&l) <= WIDTH => self.line(ind, &l),
                    _ => {
                        let col = ind + width(kids[0].as_str()) + 1;
                        self.hanging(start, &kids[1..], ind, col)?;
                    }
                }
            }
            Rule::group_clause => {
                let l = self.wrapped(start, self.end(c), ind, c)?;
                self.lines(l);
            }
            Rule::test_clause => self.test(c, &kids, ind)?,
            Rule::correlate_clause => self.correlate(c, ind)?,
            _ => {
                let l = self.inline_pair(c)?;
                self.line(ind, &l);
            }
        }
        Ok(())
    }

    /// `correlate within 1m by a, b ordered {` on one line, then each step on its own lines
    /// (its condition as a `where` clause's), indented by two more, then `}`.
    fn correlate(&mut self, c: &Pair<'a, Rule>, ind: usize) -> Result<(), Diagnostic> {
        let (start, end) = (c.as_span().start(), self.end(c));
        let open = self
            .toks_in(start, end)
            .iter()
            .find(|t| t.text == "{" && t.kind == Kind::Punct)
            .map(|t| t.end)
            .ok_or_else(|| internal(self.path, "a correlation without `{`"))?;
        let head = self.inline(start, open)?;
        self.line(ind, &head);
        self.last_end = open;
        self.block_start = true;
        for step in c
            .clone()
            .into_inner()
            .filter(|p| p.as_rule() == Rule::corr_step)
        {
            let s = step.as_span().start();
            self.comments_before(s, ind + 2, true, false);
            match step
                .clone()
                .into_inner()
                .find(|k| k.as_rule() == Rule::expr)
            {
                Some(expr) => self.condition(s, &expr, ind + 2)?,
                None => {
                    let l = self.inline_pair(&step)?;
                    self.line(ind + 2, &l);
                }
            }
            self.last_end = self.end(&step);
        }
        self.comments_before(end - 1, ind + 2, false, false);
        self.line(ind, "}");
        self.last_end = end;
        Ok(())
    }

    /// `where a` on one line; `where a and b`: each operand of the outermost `or` (or, if there
    /// is one, of the outermost `and`) on its own line, the operator first, indented by two more.
    fn condition(
        &mut self,
        start: usize,
        expr: &Pair<'a, Rule>,
        ind: usize,
    ) -> Result<(), Diagnostic> {
        let mut operands: Vec<Pair<'a, Rule>> = Vec::new();
        if expr.as_rule() == Rule::expr {
            let ors: Vec<Pair<'a, Rule>> = expr
                .clone()
                .into_inner()
                .filter(|p| p.as_rule() != Rule::kw_or)
                .collect();
            operands = if ors.len() == 1 && ors[0].as_rule() == Rule::and_expr {
                ors[0]
                    .clone()
                    .into_inner()
                    .filter(|p| p.as_rule() != Rule::kw_and)
                    .collect()
            } else {
                ors
            };
        }
        if operands.len() < 2 {
            let l = self.wrapped(start, self.end(expr), ind, expr)?;
            self.lines(l);
            return Ok(());
        }
        let mut from = start;
        for (i, op) in operands.iter().enumerate() {
            let e = self.end(op);
            let indent = if i == 0 { ind } else { ind + 2 };
            if i > 0 {
                self.comments_before(from, indent, false, false);
            }
            let l = self.wrapped(from, e, indent, op)?;
            self.lines(l);
            self.last_end = e;
            // The next line starts at the operator after this operand.
            from = self
                .toks_in(e, self.src.len())
                .first()
                .map_or(e, |t| t.start);
        }
        Ok(())
    }

    /// The tokens of `start..end` on one line at `indent`; if too long and they hold a list
    /// literal, its items are filled onto lines that start under its first item.
    /// `scope` is the pair the tokens belong to, searched for the list (not the whole file: a
    /// long line costs the size of its construct).
    fn wrapped(
        &self,
        start: usize,
        end: usize,
        indent: usize,
        scope: &Pair<'a, Rule>,
    ) -> Result<Vec<Line>, Diagnostic> {
        let one = self.inline(start, end)?;
        if indent + width(&one) <= WIDTH {
            return Ok(vec![(indent, one)]);
        }
        let list = scope.clone().into_inner().flatten().find(|p| {
            matches!(p.as_rule(), Rule::list_literal | Rule::string_list)
                && p.as_span().start() >= start
                && self.end(p) <= end
                && p.clone().into_inner().count() > 1
        });
        if let Some(list) = list {
            let (ls, le) = (list.as_span().start(), self.end(&list));
            let head = self.inline(start, ls + 1)?;
            let tail = self.inline(le - 1, end)?;
            let items: Vec<Pair<'a, Rule>> = list.into_inner().collect();
            let mut pieces = Vec::new();
            for (i, it) in items.iter().enumerate() {
                let t = self.inline_pair(it)?;
                pieces.push(if i + 1 < items.len() {
                    format!("{t},")
                } else {
                    format!("{t}{tail}")
                });
            }
            return Ok(fill(&head, pieces, indent, indent + width(&head)));
        }
        if self.toks_in(start, end).first().map(|t| t.kind) == Some(Kind::Leaf(Rule::kw_group)) {
            // `group by a, b, ...`: fields filled under the first.
            let toks = self.toks_in(start, end);
            if let (Some(by), true) = (toks.get(1), toks.len() > 2) {
                let head = self.inline(start, by.end)?;
                let mut pieces = Vec::new();
                let mut cur = String::new();
                for t in &toks[2..] {
                    cur.push_str(t.text);
                    if t.text == "," {
                        pieces.push(std::mem::take(&mut cur));
                    }
                }
                pieces.push(cur);
                let col = indent + width(&head) + 1;
                return Ok(fill(&format!("{head} "), pieces, indent, col));
            }
        }
        Ok(vec![(indent, one)])
    }

    fn test(
        &mut self,
        c: &Pair<'a, Rule>,
        kids: &[Pair<'a, Rule>],
        ind: usize,
    ) -> Result<(), Diagnostic> {
        let start = c.as_span().start();
        let expect = kids.iter().position(|k| k.as_rule() == Rule::kw_expect);
        let json = kids.iter().find(|k| k.as_rule() == Rule::json_events);
        let (Some(expect), Some(expectation)) = (expect, kids.last()) else {
            let l = self.inline_pair(c)?;
            self.line(ind, &l);
            return Ok(());
        };
        let expect_at = kids[expect].as_span().start();
        match json {
            Some(j) if j.clone().into_inner().next().is_some() => {
                let (js, je) = (j.as_span().start(), self.end(j));
                let head = self.inline(start, js + 1)?;
                self.line(ind, &head);
                let objects: Vec<Pair<'a, Rule>> = j.clone().into_inner().collect();
                for (i, o) in objects.iter().enumerate() {
                    let members: Vec<Pair<'a, Rule>> = o.clone().into_inner().collect();
                    let comma = if i + 1 < objects.len() { "," } else { "" };
                    let mut pieces = Vec::new();
                    for (k, m) in members.iter().enumerate() {
                        let t = self.join(m.as_span().start(), self.end(m), true)?;
                        pieces.push(if k + 1 < members.len() {
                            format!("{t},")
                        } else {
                            format!("{t}}}{comma}")
                        });
                    }
                    if pieces.is_empty() {
                        pieces.push(format!("}}{comma}"));
                    }
                    self.lines(fill("{", pieces, ind + 4, ind + 5));
                }
                let tail = self.inline(je - 1, self.end(&kids[expect - 1]))?;
                self.line(ind + 2, &tail);
            }
            _ => {
                let head = self.inline(start, self.end(&kids[expect - 1]))?;
                self.line(ind, &head);
            }
        }
        self.last_end = self.end(&kids[expect - 1]);
        self.comments_before(expect_at, ind + 2, false, false);
        // `expect 1 alert { a: 1 } { b: 2 }`: the maps filled, further maps under the first.
        let maps: Vec<Pair<'a, Rule>> = expectation
            .clone()
            .into_inner()
            .filter(|p| p.as_rule() == Rule::alert_map)
            .collect();
        let end = self.end(c);
        let one = self.inline(expect_at, end)?;
        if ind + 2 + width(&one) <= WIDTH || maps.is_empty() {
            self.line(ind + 2, &one);
            return Ok(());
        }
        let head = self.inline(expect_at, maps[0].as_span().start())?;
        let col = ind + 2 + width(&head) + 1;
        for (i, m) in maps.iter().enumerate() {
            let kvs: Vec<Pair<'a, Rule>> = m.clone().into_inner().collect();
            let mut pieces = Vec::new();
            for (k, kv) in kvs.iter().enumerate() {
                let t = self.inline_pair(kv)?;
                pieces.push(if k + 1 < kvs.len() {
                    format!("{t},")
                } else {
                    format!("{t} }}")
                });
            }
            let lines = if pieces.is_empty() {
                vec![(col, "{}".to_string())]
            } else {
                fill("{ ", pieces, col, col + 2)
            };
            if i == 0 {
                let mut lines = lines;
                lines[0] = (ind + 2, format!("{head} {}", lines[0].1));
                self.lines(lines);
            } else {
                self.lines(lines);
            }
        }
        Ok(())
    }
}

/// Greedy fill: `head` then the pieces separated by spaces, starting at `indent`; a piece that
/// would pass [`WIDTH`] starts a new line at `cont`.
fn fill(head: &str, pieces: Vec<String>, indent: usize, cont: usize) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    let mut cur = head.to_string();
    let mut col = indent;
    let mut fresh = true;
    for p in pieces {
        let glue = if fresh || cur.ends_with(['[', '{', ' ']) {
            ""
        } else {
            " "
        };
        if !fresh && col + width(&cur) + glue.len() + width(&p) > WIDTH {
            lines.push((col, std::mem::take(&mut cur)));
            col = cont;
            cur = p;
        } else {
            cur.push_str(glue);
            cur.push_str(&p);
        }
        fresh = false;
    }
    lines.push((col, cur));
    lines
}

/// A comment's lines without trailing whitespace (nor the `\r` of a CRLF file).
fn trim_lines(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Whether a space goes between two tokens on one line.
fn spaced(a: &Tok, b: &Tok, json: bool) -> bool {
    let (x, y) = (a.text, b.text);
    let punct_b = b.kind == Kind::Punct;
    let punct_a = a.kind == Kind::Punct;
    if punct_b && matches!(y, "," | ")" | "]" | ":") {
        return false;
    }
    if punct_a && matches!(x, "(" | "[") {
        return false;
    }
    if punct_a && punct_b && x == "{" && y == "}" {
        return false;
    }
    if json && ((punct_a && x == "{") || (punct_b && y == "}")) {
        return false;
    }
    // A call: `count()`, `file("x")`.
    if punct_b && y == "(" && matches!(a.kind, Kind::Leaf(Rule::ident | Rule::kw_file)) {
        return false;
    }
    true
}

/// The formatted text must hold the same tokens as the input (a trailing comma before `]` or `}`
/// aside) and the same comments in the same order.
fn verify(path: &str, before: &str, after: &str) -> Result<(), Diagnostic> {
    let Some(file) = parse_fast(Rule::file, after)
        .ok()
        .and_then(|mut p| p.next())
    else {
        return Err(internal(path, "the formatted text does not parse"));
    };
    let Some(orig) = parse_fast(Rule::file, before)
        .ok()
        .and_then(|mut p| p.next())
    else {
        return Err(internal(path, "the file parsed once but not twice"));
    };
    let (t1, c1) = lex(before, orig);
    let (t2, c2) = lex(after, file);
    let meaningful = |t: &[Tok]| -> Vec<String> {
        t.iter()
            .enumerate()
            .filter(|(i, x)| {
                !(x.text == ","
                    && x.kind == Kind::Punct
                    && t.get(i + 1).is_some_and(|n| n.text == "]" || n.text == "}"))
            })
            .map(|(_, x)| x.text.to_string())
            .collect()
    };
    if meaningful(&t1) != meaningful(&t2) {
        return Err(internal(path, "the formatted text has other tokens"));
    }
    let texts = |c: &[Comment]| -> Vec<String> {
        c.iter()
            .map(|c| {
                c.text
                    .lines()
                    .map(str::trim_end)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect()
    };
    if texts(&c1) != texts(&c2) {
        return Err(internal(path, "the formatted text has other comments"));
    }
    Ok(())
}
