//! Lists: declarations (inline or from a file), their uses, and which lists a rule names.

use super::values::{cidr_of, convert, list_elem_type, list_type_by_name, LIST_TYPES};
use super::{dir_of, Checker, ResolvedList};
use crate::diag::{nearest, Code, Diagnostic, LineIndex};
use crate::ir::ListType;
use crate::load::PackFile;
use crate::syntax::ast::{self, Literal, Spanned};
use std::collections::{BTreeSet, HashSet};

impl Checker<'_> {
    pub(crate) fn use_list(&mut self, name: &Spanned<String>) -> Option<ResolvedList> {
        if let Some(l) = self.lists.get(&name.node) {
            self.used_lists.insert(name.node.clone());
            return Some(l.clone());
        }
        if self.broken_lists.contains(&name.node) {
            return None;
        }
        let mut d = Diagnostic::new(Code::E0230, format!("unknown list `{}`", name.node))
            .at(name.span.clone())
            .found(format!("`{}`", name.node))
            .expected("the name of a list declared with `list NAME: TYPE = ...`, or an inline list `[a, b]`");
        if let Some(n) = nearest(&name.node, self.lists.keys().map(String::as_str)) {
            d = d.hint(format!("did you mean `{n}`?"));
        }
        self.diags.push(d);
        None
    }

    pub(super) fn list(&mut self, f: &ast::File, l: &ast::ListDecl) {
        // Diagnostics are only ever appended: look at this list's own, not at every earlier
        // one (counting them all made a pack with many warnings quadratic to check).
        let start = self.diags.len();
        self.list_inner(f, l);
        if self.errors_since(start) && !self.lists.contains_key(&l.name.node) {
            self.broken_lists.insert(l.name.node.clone());
        }
    }

    fn list_inner(&mut self, f: &ast::File, l: &ast::ListDecl) {
        if let Some(first) = self.lists.get(&l.name.node) {
            let (p, line, col) = (first.span.path.clone(), first.span.line, first.span.col);
            self.diags.push(
                Diagnostic::new(Code::E0232, format!("duplicate list `{}`", l.name.node))
                    .at(l.name.span.clone())
                    .found(format!("a second list named `{}`", l.name.node))
                    .expected("a list name not declared elsewhere in the pack")
                    .hint(format!("first declared at {p}:{line}:{col}")),
            );
            return;
        }
        let Some(ty) = list_type_by_name(&l.ty.node) else {
            let mut d = Diagnostic::new(Code::E0233, format!("unknown list type `{}`", l.ty.node))
                .at(l.ty.span.clone())
                .found(format!("`{}`", l.ty.node))
                .expected("one of port, int, string, cidr, ip");
            if let Some(n) = nearest(&l.ty.node, LIST_TYPES.iter().copied()) {
                d = d.hint(format!("did you mean `{n}`?"));
            }
            self.diags.push(d);
            return;
        };
        let (items, file): (Vec<Spanned<Literal>>, Option<String>) = match &l.body {
            ast::ListBody::Inline(items) => (items.clone(), None),
            ast::ListBody::File(path) => match self.list_file(f, path, ty) {
                Some(items) => (items, Some(path.node.clone())),
                None => return,
            },
        };
        if items.is_empty() {
            self.diags.push(
                Diagnostic::new(Code::E0235, format!("list `{}` is empty", l.name.node))
                    .at(l.span.clone())
                    .found("no values")
                    .expected("at least one value")
                    .hint("an empty list makes `in` never true and `not in` always true"),
            );
            return;
        }
        let elem = list_elem_type(ty);
        let what = format!("an entry of list `{}`", l.name.node);
        let mut values = Vec::new();
        let mut blocks = Vec::new();
        // Duplicates are dropped (first kept, order kept) through a set, not by searching the
        // list so far: a list of 100k entries stays linear.
        let mut seen_values = HashSet::new();
        let mut seen_blocks = HashSet::new();
        let mut ok = true;
        for it in &items {
            if ty == ListType::Cidr {
                match cidr_of(it) {
                    Ok(b) => {
                        if seen_blocks.insert(b) {
                            blocks.push(b);
                        }
                    }
                    Err(d) => {
                        self.diags.push(d);
                        ok = false;
                    }
                }
            } else {
                match convert(it, &elem, &what) {
                    Ok(v) => {
                        if seen_values.insert(v.clone()) {
                            values.push(v);
                        }
                    }
                    Err(d) => {
                        self.diags.push(d);
                        ok = false;
                    }
                }
            }
        }
        if ok {
            self.lists.insert(
                l.name.node.clone(),
                ResolvedList {
                    ty,
                    values,
                    blocks,
                    span: l.span.clone(),
                    file,
                },
            );
        }
    }

    /// Reads a list file: one value per line, `#` comments and blank lines ignored. Each line is
    /// taken as the list type wants it (a string line is text as is, trimmed).
    fn list_file(
        &mut self,
        f: &ast::File,
        path: &Spanned<String>,
        ty: ListType,
    ) -> Option<Vec<Spanned<Literal>>> {
        let full = dir_of(&f.path).join(&path.node);
        let shown = full.to_string_lossy().replace('\\', "/");
        let text = match self.loader.read_list(&full) {
            Ok(t) => t,
            Err(e) => {
                self.diags
                    .push(e.diagnostic(PackFile::List, &shown).at(path.span.clone()));
                return None;
            }
        };
        let fpath = full.to_string_lossy().replace('\\', "/");
        let index = LineIndex::new(&text);
        let mut out = Vec::new();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            let content = line.trim_end_matches(['\n', '\r']);
            let trimmed = content.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let lead = content.len() - content.trim_start().len();
            let span = index.span(&fpath, &text, start + lead, start + lead + trimmed.len());
            let lit = match ty {
                ListType::String => Literal::Str(trimmed.to_string()),
                ListType::Port | ListType::Int => match trimmed.parse::<i64>() {
                    Ok(i) => Literal::Int(i),
                    Err(_) => Literal::Str(trimmed.to_string()),
                },
                ListType::Ip | ListType::Cidr => match trimmed.split_once('/') {
                    Some((a, p)) => match (a.parse(), p.parse::<u8>()) {
                        (Ok(ip), Ok(p)) => Literal::Cidr(ip, p),
                        _ => Literal::Str(trimmed.to_string()),
                    },
                    None => match trimmed.parse() {
                        Ok(ip) => Literal::Ip(ip),
                        Err(_) => Literal::Str(trimmed.to_string()),
                    },
                },
            };
            out.push(Spanned::new(lit, span));
        }
        Some(out)
    }
}

/// The names of the lists a condition refers to (`in name`, `startswith name`, ...).
pub(super) fn lists_named(e: &ast::Expr, out: &mut BTreeSet<String>) {
    match e {
        ast::Expr::And(xs, _) | ast::Expr::Or(xs, _) => xs.iter().for_each(|x| lists_named(x, out)),
        ast::Expr::Not(x, _) => lists_named(x, out),
        ast::Expr::Pred(p) => {
            if let ast::PredOp::In { target, .. } | ast::PredOp::Str { target, .. } = &p.op {
                if let ast::ListRef::Named(n) = target {
                    out.insert(n.node.clone());
                }
            }
        }
        ast::Expr::Compare(_) => {}
    }
}
