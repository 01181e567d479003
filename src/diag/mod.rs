//! Diagnostics: plain data produced by every stage, rendered once at the edge (human text or JSON).
//!
//! A stage never prints. It returns `Diagnostic` values; `cli` decides how they are shown.

use serde::Serialize;
use std::sync::Arc;

pub mod code;
mod render;
mod sarif;
pub use code::{Code, Kind};
pub use render::{render_human, render_human_into, render_human_styled, render_json, SourceCache};
pub(crate) use sarif::encode_path;
pub use sarif::render_sarif;

/// A location in a source file. Byte offsets index the file text; line and column are 1-based
/// (column counts characters, not bytes), computed once when the span is made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub path: SpanPath,
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub col: u32,
}

impl Span {
    /// A span that only names a file (no position), e.g. for an I/O error on the whole file.
    pub fn file(path: impl Into<String>) -> Span {
        Span {
            path: SpanPath::from(path.into()),
            start: 0,
            end: 0,
            line: 0,
            col: 0,
        }
    }

    /// Builds a span from byte offsets into `text`, computing line and column.
    pub fn from_offsets(path: &str, text: &str, start: usize, end: usize) -> Span {
        let start = start.min(text.len());
        let end = end.clamp(start, text.len());
        let before = &text[..floor_char_boundary(text, start)];
        let line = before.matches('\n').count() as u32 + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() as u32 + 1;
        Span {
            path: path.into(),
            start,
            end,
            line,
            col,
        }
    }
}

/// The path of a span's file. Every span of a file shares one copy (a reference count): a large
/// file has millions of spans, and a `String` each made checking one allocation-bound. It reads,
/// prints, compares and serializes as the path text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanPath(Arc<str>);

impl SpanPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SpanPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SpanPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for SpanPath {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&*self.0)
    }
}

impl AsRef<std::ffi::OsStr> for SpanPath {
    fn as_ref(&self) -> &std::ffi::OsStr {
        std::ffi::OsStr::new(&*self.0)
    }
}

impl From<&str> for SpanPath {
    fn from(s: &str) -> SpanPath {
        SpanPath(Arc::from(s))
    }
}

impl From<String> for SpanPath {
    fn from(s: String) -> SpanPath {
        SpanPath(Arc::from(s))
    }
}

impl PartialEq<str> for SpanPath {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SpanPath {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for SpanPath {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<SpanPath> for String {
    fn eq(&self, other: &SpanPath) -> bool {
        **self == *other.0
    }
}

impl PartialEq<SpanPath> for &str {
    fn eq(&self, other: &SpanPath) -> bool {
        **self == *other.0
    }
}

impl std::fmt::Display for SpanPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for SpanPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for SpanPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Where each line of a text starts, and where its multi-byte characters are, so that a span's
/// line and column are found by binary search instead of by counting from the start of the file
/// (which made checking a large file quadratic). Build one per file, then call [`LineIndex::span`].
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset of the first byte of each line; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
    /// For each multi-byte character, in order: (its byte offset, how many bytes all multi-byte
    /// characters up to and including it have beyond their first). Columns count characters.
    wide: Vec<(usize, usize)>,
    /// The line (0-based) of the last span made: spans come mostly in file order, so the next
    /// one is usually on that line or the one after, found without a binary search over the
    /// line starts of a large file (whose cache misses made it a tenth of lowering).
    last_line: std::cell::Cell<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        let mut wide = Vec::new();
        let mut extra = 0;
        for (i, c) in text.char_indices() {
            if c == '\n' {
                line_starts.push(i + 1);
            } else if !c.is_ascii() {
                extra += c.len_utf8() - 1;
                wide.push((i, extra));
            }
        }
        LineIndex {
            line_starts,
            wide,
            last_line: std::cell::Cell::new(0),
        }
    }

    /// Bytes beyond the first of the multi-byte characters that start before `offset`.
    fn extra_before(&self, offset: usize) -> usize {
        match self.wide.partition_point(|&(o, _)| o < offset) {
            0 => 0,
            n => self.wide[n - 1].1,
        }
    }

    /// The span of bytes `start..end` of `text` (the text the index was built from); the same
    /// as [`Span::from_offsets`], in logarithmic time.
    pub fn span(&self, path: &str, text: &str, start: usize, end: usize) -> Span {
        self.span_in(&SpanPath::from(path), text, start, end)
    }

    /// As [`LineIndex::span`], sharing `path` (for the many spans of one file).
    pub fn span_in(&self, path: &SpanPath, text: &str, start: usize, end: usize) -> Span {
        let start = start.min(text.len());
        let end = end.clamp(start, text.len());
        let at = floor_char_boundary(text, start);
        // `line` is 1-based: the number of line starts at or before `at`.
        let on = |l: usize| {
            self.line_starts.get(l).is_some_and(|&s| s <= at)
                && self.line_starts.get(l + 1).is_none_or(|&s| at < s)
        };
        let hint = self.last_line.get();
        let line = if on(hint) {
            hint + 1
        } else if on(hint + 1) {
            hint + 2
        } else {
            self.line_starts.partition_point(|&s| s <= at)
        };
        self.last_line.set(line - 1);
        let line_start = self.line_starts[line - 1];
        let chars = (at - line_start) - (self.extra_before(at) - self.extra_before(line_start));
        Span {
            path: path.clone(),
            start,
            end,
            line: line as u32,
            col: chars as u32 + 1,
        }
    }
}

/// `s` as it may be written to a terminal: every character a terminal acts on (C0 and C1
/// controls, DEL) and every Unicode bidirectional formatting character (which reorders how what
/// follows it is drawn) is shown as its Rust escape (`\u{1b}`); everything else is left as it
/// is. Text read from the input reaches the human output: a bad line's reason (a value it
/// names), a file's name, a group's value in `--format table`, a fixture's values. Written
/// raw, one log line could clear the analyst's screen and draw a report of its own. Machine
/// output (JSON) escapes by its own rules and does not need this.
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(acted_on) {
        return std::borrow::Cow::Borrowed(s);
    }
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if acted_on(c) {
            // Writing to a String cannot fail.
            _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether a terminal acts on `c` instead of drawing it (see [`shown`]).
pub(crate) fn acted_on(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// One finding. `code` is stable (E0xxx errors, W0xxx warnings) and documented in docs/DIAGNOSTICS.md;
/// `severity` is the code's, unless `--deny-warnings` raised a warning to an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub span: Option<Span>,
    /// What was found, in words ("found `==`").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// What was expected, in words ("expected a port number or a list name"), never a grammar rule name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Hints: "did you mean `remote.port`?", "declare the list with `list NAME: port = [...]`".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic of `code`, with the severity of its kind.
    pub fn new(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            span: None,
            found: None,
            expected: None,
            hints: Vec::new(),
        }
    }

    pub fn at(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn found(mut self, found: impl Into<String>) -> Diagnostic {
        self.found = Some(found.into());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Diagnostic {
        self.expected = Some(expected.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hints.push(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file, position, then code, so output is deterministic.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        let ka = a.span.as_ref().map(|s| (s.path.as_str(), s.start));
        let kb = b.span.as_ref().map(|s| (s.path.as_str(), s.start));
        ka.cmp(&kb)
            .then(a.code.cmp(&b.code))
            .then(a.message.cmp(&b.message))
    });
}

/// Did-you-mean: the candidate nearest to `word` by edit distance, if it is close enough to be
/// a plausible typo (at most a third of the word's length, and at least 1 edit allowed).
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

/// The `n` candidates nearest to `word` (for "nearest columns: ..." hints), closest first.
pub fn nearest_n<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let lower = word.to_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| {
            let cl = c.to_lowercase();
            // A shared substring (SentBytes ~ BytesSent) counts as close as a small typo.
            let bonus = if cl.contains(&lower) || lower.contains(&cl) {
                0
            } else {
                1
            };
            (edit_distance(&lower, &cl) * 2 + bonus, c)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

/// Edit distance over characters, counting a swap of two adjacent characters as one edit
/// (optimal string alignment): `hihg` is one edit from `high`, as a typist would judge.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * w] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `shown` escapes exactly the characters a terminal acts on: every C0 control, DEL, every
    /// C1 control and the bidirectional formatting characters; any other character, ASCII or
    /// not, is kept, and a text with none of them is borrowed as it is.
    #[test]
    fn shown_escapes_what_a_terminal_acts_on_and_nothing_else() {
        let bidi = [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
        ];
        let bidi2 = [
            '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ];
        for c in (0u32..0x20)
            .chain(0x7f..0xa0)
            .filter_map(char::from_u32)
            .chain(bidi)
            .chain(bidi2)
        {
            let s = format!("a{c}b");
            assert_eq!(
                shown(&s),
                format!("a\\u{{{:x}}}b", c as u32),
                "{:x}",
                c as u32
            );
        }
        for s in [
            "plain",
            "é 日本 \u{200d} \u{2028} \u{fffd}",
            "\\u{1b} as text",
            "",
        ] {
            assert!(
                matches!(shown(s), std::borrow::Cow::Borrowed(t) if t == s),
                "{s:?}"
            );
        }
    }

    /// The naive way: count lines and characters from the start of the file.
    fn naive(text: &str, start: usize) -> (u32, u32) {
        let start = floor_char_boundary(text, start.min(text.len()));
        let before = &text[..start];
        let line = before.matches('\n').count() as u32 + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        (line, before[line_start..].chars().count() as u32 + 1)
    }

    #[test]
    fn line_index_gives_the_positions_of_counting_from_the_start() {
        let texts = [
            "",
            "\n",
            "\n\n",
            "abc",
            "ab\ncdé\nfg",
            "é\r\nü🦀x\n\nlast line without newline ✓",
            "🦀🦀\n\u{2028}é\n",
        ];
        for text in texts {
            let index = LineIndex::new(text);
            // Every byte offset, including those inside a multi-byte character and past the end,
            // forwards, backwards and jumping (the index remembers the last line it found).
            let n = text.len() + 2;
            let order = (0..=n).chain((0..=n).rev()).chain((0..=n).map(|i| {
                if i % 2 == 0 {
                    i / 2
                } else {
                    n - i / 2
                }
            }));
            for start in order {
                let s = index.span("f", text, start, start + 1);
                assert_eq!((s.line, s.col), naive(text, start), "{text:?} at {start}");
                assert_eq!(s, Span::from_offsets("f", text, start, start + 1));
                assert_eq!(
                    (s.start, s.end),
                    (start.min(text.len()), (start + 1).min(text.len()))
                );
            }
        }
    }

    #[test]
    fn span_line_and_column() {
        let text = "ab\ncdé\nfg";
        let s = Span::from_offsets("f", text, text.find('f').unwrap_or(0), text.len());
        assert_eq!((s.line, s.col), (3, 1));
        let s = Span::from_offsets("f", text, 7, 8);
        assert_eq!((s.line, s.col), (2, 4));
    }

    #[test]
    fn nearest_finds_typos_only() {
        let c = ["remote.port", "remote.ip", "local.port"];
        assert_eq!(nearest("remote.prot", c), Some("remote.port"));
        assert_eq!(nearest("zzzzzz", c), None);
        assert_eq!(nearest("hihg", ["high", "low"]), Some("high"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
