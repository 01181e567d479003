//! What the server answers, as plain data over the pack's texts: diagnostics (the front end's),
//! hover, definition and completion. No protocol types here beyond byte offsets and paths; the
//! protocol glue in `mod.rs` converts.

use crate::diag::{Diagnostic, Span};
use crate::ir::catalogue;
use crate::ir::Source;
use crate::load::Loader;
use crate::syntax::ast;
use crate::SourceFile;
use std::path::{Path, PathBuf};

/// One pack as the editor sees it: its files (open buffers in place of the files on disk), the
/// diagnostics `detc check` gives for them, and the syntax trees of the files that parse.
pub struct Pack {
    pub files: Vec<SourceFile>,
    pub diagnostics: Vec<Diagnostic>,
    asts: Vec<ast::File>,
}

/// How many list values a hover shows before "and N more".
const HOVER_VALUES: usize = 8;

impl Pack {
    /// Checks `files` as `detc check` would (the front end), with `loader` for list files and
    /// fixtures; `extra` are diagnostics found while gathering the files (an unreadable one).
    pub fn check(files: Vec<SourceFile>, loader: &dyn Loader, extra: Vec<Diagnostic>) -> Pack {
        let fe = crate::frontend_with(&files, loader);
        let mut diagnostics = extra;
        diagnostics.extend(fe.diagnostics);
        crate::diag::sort(&mut diagnostics);
        let asts = files
            .iter()
            .filter_map(|f| crate::syntax::parse(&f.path, &f.text).ok())
            .collect();
        Pack {
            files,
            diagnostics,
            asts,
        }
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.text.as_str())
    }

    fn ast(&self, path: &str) -> Option<&ast::File> {
        self.asts.iter().find(|a| a.path == path)
    }

    /// The declaration of list `name`, with the file that declares it.
    fn list(&self, name: &str) -> Option<(&ast::File, &ast::ListDecl)> {
        self.asts
            .iter()
            .flat_map(|f| f.lists.iter().map(move |l| (f, l)))
            .find(|(_, l)| l.name.node == name)
    }

    fn list_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .asts
            .iter()
            .flat_map(|f| f.lists.iter().map(|l| l.name.node.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The source of the rule around byte `offset` of file `path`: from its syntax tree, or,
    /// while the file does not parse (as it mostly does not while typing), from the text: the
    /// `source` clause between the last `rule` line before `offset` and the next one.
    pub fn source_at(&self, path: &str, offset: usize) -> Option<Source> {
        if let Some(f) = self.ast(path) {
            let rule = f
                .rules
                .iter()
                .find(|r| r.span.start <= offset && offset <= r.span.end)?;
            return rule.clauses.iter().find_map(|c| match &c.node {
                ast::Clause::Source(s) => catalogue::source_by_name(&s.node),
                _ => None,
            });
        }
        let text = self.text(path)?;
        let offset = floor_boundary(text, offset);
        let start = text[..offset]
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .chain([0])
            .filter(|&i| text[i..].trim_start().starts_with("rule "))
            .max()?;
        text[start..]
            .lines()
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !l.trim_start().starts_with("rule "))
            .find_map(|(_, l)| {
                let name = l.trim_start().strip_prefix("source")?;
                name.starts_with([' ', '\t'])
                    .then(|| catalogue::source_by_name(name.split_whitespace().next()?))?
            })
    }

    /// Hover at byte `offset` of file `path`: a field (its type and meaning in the rule's
    /// source), a list (its type and values) or the `suppress` keyword (what it does). Markdown,
    /// with the bytes of the word.
    pub fn hover(
        &self,
        path: &str,
        offset: usize,
        loader: &dyn Loader,
    ) -> Option<(String, (usize, usize))> {
        let text = self.text(path)?;
        let (start, end) = word_at(text, offset)?;
        let word = &text[start..end];
        if word == "suppress" {
            return Some((SUPPRESS_HOVER.to_string(), (start, end)));
        }
        if let Some((file, decl)) = self.list(word) {
            return Some((self.list_hover(file, decl, loader), (start, end)));
        }
        let source = self.source_at(path, offset)?;
        let field = catalogue::field(source, word)?;
        let ty = match &field.ty {
            crate::ir::FieldType::Enum(values) => format!("enum: {}", values.join(" | ")),
            ty => crate::ir::check::values::type_name(ty).to_string(),
        };
        let case = if field.case_insensitive {
            "\n\nValues have no case on their platform: compare with `=~`, `in~`, `startswith~`..."
        } else {
            ""
        };
        Some((
            format!(
                "**{}**: `{ty}` (field of `{}`)\n\n{}{case}",
                field.name,
                source.name(),
                field.doc
            ),
            (start, end),
        ))
    }

    fn list_hover(&self, file: &ast::File, decl: &ast::ListDecl, loader: &dyn Loader) -> String {
        let (values, from) = match &decl.body {
            ast::ListBody::Inline(items) => {
                let text = self.text(&file.path).unwrap_or("");
                let values = items
                    .iter()
                    .map(|v| {
                        text.get(v.span.start..v.span.end)
                            .unwrap_or("?")
                            .to_string()
                    })
                    .collect::<Vec<_>>();
                (Ok(values), String::new())
            }
            ast::ListBody::File(p) => {
                let full = list_file_path(&file.path, &p.node);
                // The list file format (ir::check::lists): one value per line, blank lines and
                // `#` comments ignored.
                let values = loader.read_list(&full).map(|t| {
                    t.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                });
                (
                    values.map_err(|e| e.to_string()),
                    format!(" from `{}`", p.node),
                )
            }
        };
        let head = format!("**list {}**: `{}`", decl.name.node, decl.ty.node);
        match values {
            Ok(values) => {
                let shown: Vec<String> = values
                    .iter()
                    .take(HOVER_VALUES)
                    .map(|v| format!("`{v}`"))
                    .collect();
                let more = match values.len().saturating_sub(HOVER_VALUES) {
                    0 => String::new(),
                    n => format!(", and {n} more"),
                };
                format!(
                    "{head}, {} value(s){from}\n\n{}{more}",
                    values.len(),
                    shown.join(", ")
                )
            }
            Err(e) => format!("{head}{from}\n\nthe file cannot be read: {e}"),
        }
    }

    /// Where the thing at byte `offset` of `path` is defined: a list name leads to its
    /// declaration, the path of a `file("...")` list to that file.
    pub fn definition(&self, path: &str, offset: usize) -> Option<Definition> {
        if let Some(f) = self.ast(path) {
            for l in &f.lists {
                if let ast::ListBody::File(p) = &l.body {
                    if p.span.start <= offset && offset < p.span.end {
                        return Some(Definition::File(list_file_path(&f.path, &p.node)));
                    }
                }
            }
        }
        let text = self.text(path)?;
        let (start, end) = word_at(text, offset)?;
        let (_, decl) = self.list(&text[start..end])?;
        Some(Definition::Span(decl.name.span.clone()))
    }

    /// Completion at byte `offset` of `path`: the byte where the word being typed starts (the
    /// items replace it, dots included) and the items that fit there.
    pub fn completion(&self, path: &str, offset: usize) -> (usize, Vec<Item>) {
        let Some(text) = self.text(path) else {
            return (offset, Vec::new());
        };
        let offset = floor_boundary(text, offset);
        let before = &text[..offset];
        let start = before.trim_end_matches(|c: char| is_word_char(c)).len();
        let rest = before[..start].trim_end();
        let prev = last_token(rest);
        let source = self.source_at(path, offset);
        let fields = || {
            source
                .map(catalogue::fields)
                .unwrap_or_default()
                .into_iter()
                .map(|f| {
                    Item::new(
                        f.name,
                        ItemKind::Field,
                        crate::ir::check::values::type_name(&f.ty),
                    )
                })
        };
        let lists = || {
            self.list_names()
                .into_iter()
                .map(|n| Item::new(n, ItemKind::List, "list"))
        };
        let items: Vec<Item> = match prev {
            "source" => catalogue::SOURCES
                .iter()
                .map(|s| Item::new(s.name(), ItemKind::Source, "source"))
                .collect(),
            "in" | "in~" | "startswith" | "startswith~" | "endswith" | "endswith~" | "contains"
            | "contains~" => lists().collect(),
            "==" | "!=" | "=~" | "!~" | "[" | "," => {
                // `outcome == `, `outcome in [succeeded, `: the values of an enum field.
                let field = enum_field_before(&rest[..rest.len() - prev.len()]);
                match source.zip(field).and_then(|(s, f)| catalogue::field(s, f)) {
                    Some(catalogue::FieldDef {
                        ty: crate::ir::FieldType::Enum(values),
                        name,
                        ..
                    }) => values
                        .iter()
                        .map(|v| Item::new(v, ItemKind::EnumValue, name))
                        .collect(),
                    _ => Vec::new(),
                }
            }
            p if source.is_some_and(|s| catalogue::field(s, p).is_some()) => OPERATORS
                .iter()
                .map(|o| Item::new(o, ItemKind::Operator, "operator"))
                .collect(),
            _ => fields()
                .chain(lists())
                .chain(
                    super::words::keywords()
                        .into_iter()
                        .map(|k| Item::new(&k, ItemKind::Keyword, "keyword")),
                )
                .collect(),
        };
        (start, items)
    }
}

/// Where a definition is.
#[derive(Debug, PartialEq)]
pub enum Definition {
    Span(Span),
    File(PathBuf),
}

/// One completion item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub label: String,
    pub kind: ItemKind,
    pub detail: String,
}

impl Item {
    fn new(label: &str, kind: ItemKind, detail: &str) -> Item {
        Item {
            label: label.to_string(),
            kind,
            detail: detail.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Field,
    List,
    Keyword,
    Operator,
    EnumValue,
    Source,
}

/// The operators that may follow a field (docs/LANGUAGE.md, "Conditions").
const OPERATORS: &[&str] = &[
    "==",
    "!=",
    "=~",
    "!~",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "in~",
    "not in",
    "startswith",
    "startswith~",
    "endswith",
    "endswith~",
    "contains",
    "contains~",
    "matches",
    "matches~",
    "is",
    "is not",
    "exists",
    "missing",
];

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The bytes of the name (letters, digits, `_`, `.`) at or just before byte `offset`.
pub fn word_at(text: &str, offset: usize) -> Option<(usize, usize)> {
    let offset = floor_boundary(text, offset);
    let start = text[..offset].trim_end_matches(is_word_char).len();
    let end = offset
        + text[offset..]
            .find(|c: char| !is_word_char(c))
            .unwrap_or(text.len() - offset);
    (start < end).then_some((start, end))
}

/// The last token of `text`: a name, or a run of other non-blank characters (`==`, `in~`).
fn last_token(text: &str) -> &str {
    let word = text.trim_end_matches(is_word_char);
    if word.len() < text.len() {
        // `in~` and `startswith~` end with `~` after the name; a name alone is the token.
        return &text[word.len()..];
    }
    if let Some(op) = text.strip_suffix('~') {
        let w = op.trim_end_matches(is_word_char);
        if w.len() < op.len() {
            return &text[w.len()..];
        }
    }
    match text.chars().last() {
        Some(c @ ('[' | ',')) => &text[text.len() - c.len_utf8()..],
        _ => {
            &text[text
                .trim_end_matches(|c: char| !c.is_whitespace() && !is_word_char(c))
                .len()..]
        }
    }
}

/// The field a value is being written for: `outcome` in `outcome == ` or `outcome in [a, `.
fn enum_field_before(text: &str) -> Option<&str> {
    // Inside a bracketed list: back to its `[`, then past `in` / `not in` / `in~`.
    let text = match text.rfind('[') {
        Some(i) if !text[i..].contains(']') => {
            let t = text[..i].trim_end();
            let t = t
                .strip_suffix("in~")
                .or_else(|| t.strip_suffix("in"))?
                .trim_end();
            t.strip_suffix("not").unwrap_or(t).trim_end()
        }
        _ => text.trim_end(),
    };
    let start = text.trim_end_matches(is_word_char).len();
    (start < text.len()).then_some(&text[start..])
}

/// The path of a list file named `written` in the file at `declaring` (relative to its folder,
/// as the checker reads it).
fn list_file_path(declaring: &str, written: &str) -> PathBuf {
    Path::new(declaring)
        .parent()
        .unwrap_or(Path::new(""))
        .join(written)
}

/// The hover of the `suppress` keyword (docs/SEMANTICS.md, "Suppression", in short).
const SUPPRESS_HOVER: &str = "**suppress D [by keys]**: after an alert, the rule's alerts with the same values of the keys (all its alerts, without `by`) are not raised for `D`.\n\nCounted in the rule's run periods (the window, or `schedule every`): `D` is a whole number of periods, an alert's period is its window (or the period of its event), and at most one alert per key is raised per period. Deployed as Splunk throttling and Sentinel suppression (whole rule only); Defender XDR and Sigma have none (docs/TARGETS.md).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_before_the_cursor() {
        assert_eq!(last_token("where remote.port"), "remote.port");
        assert_eq!(last_token("where x in~"), "in~");
        assert_eq!(last_token("where x startswith~"), "startswith~");
        assert_eq!(last_token("where x =="), "==");
        assert_eq!(last_token("where x in [a,"), ",");
        assert_eq!(enum_field_before("where outcome "), Some("outcome"));
        assert_eq!(
            enum_field_before("where outcome not in [succeeded, "),
            Some("outcome")
        );
        assert_eq!(word_at("a remote.port b", 5), Some((2, 13)));
        assert_eq!(word_at("a  b", 2), None);
    }
}
