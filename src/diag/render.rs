//! Rendering of diagnostics: the only place that turns them into text.

use super::{acted_on, shown, Diagnostic, Severity};
use std::collections::BTreeMap;

/// File texts by path, so the human renderer can show the offending line.
#[derive(Debug, Default, Clone)]
pub struct SourceCache {
    files: BTreeMap<String, String>,
}

impl SourceCache {
    pub fn new() -> SourceCache {
        SourceCache::default()
    }

    pub fn insert(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.files.insert(path.into(), text.into());
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }
}

/// `path:line:col: error[E0xxx]: message`, then the source line with a caret underline, then
/// `found`, `expected` and hints. Deterministic; no colour.
pub fn render_human(d: &Diagnostic, sources: &SourceCache) -> String {
    render_human_styled(d, sources, false)
}

/// ANSI SGR sequences: bold red errors, bold yellow warnings, bold cyan notes.
const RESET: &str = "\x1b[0m";

/// As [`render_human`]; with `color`, the severity and code (`error[E0201]`) are coloured with
/// ANSI escapes for a terminal. The rest of the text is the same byte for byte.
pub fn render_human_styled(d: &Diagnostic, sources: &SourceCache, color: bool) -> String {
    let mut out = String::new();
    render_human_into(&mut out, d, sources, color);
    out
}

/// As [`render_human_styled`], appending to `out`: one buffer for many diagnostics, written with
/// `write!` instead of a `format!` per piece (rendering 50,000 warnings was a tenth of checking).
pub fn render_human_into(out: &mut String, d: &Diagnostic, sources: &SourceCache, color: bool) {
    use std::fmt::Write as _;
    let (sev, sgr) = match d.severity {
        Severity::Error => ("error", "\x1b[1;31m"),
        Severity::Warning => ("warning", "\x1b[1;33m"),
        Severity::Note => ("note", "\x1b[1;36m"),
    };
    let (on, off) = if color { (sgr, RESET) } else { ("", "") };
    // Writing to a String cannot fail.
    match &d.span {
        Some(s) if s.line > 0 => _ = write!(out, "{}:{}:{}: ", shown(&s.path), s.line, s.col),
        Some(s) => _ = write!(out, "{}: ", shown(&s.path)),
        None => {}
    }
    _ = writeln!(out, "{on}{sev}[{}]{off}: {}", d.code, shown(&d.message));
    if let Some(s) = &d.span {
        if s.line > 0 {
            if let Some(text) = sources.get(&s.path) {
                // The line is found from the span's byte offset, not by counting lines from
                // the start of the file: many diagnostics in one large file stay linear.
                let at = super::floor_char_boundary(text, s.start.min(text.len()));
                let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
                if let Some(line) = text[line_start..].lines().next() {
                    let gutter = s.line.to_string();
                    let line_end = line_start + line.len();
                    let end = s.end.clamp(s.start, line_end.max(s.start));
                    let width = text
                        .get(s.start.min(text.len())..end.min(text.len()))
                        .map(|t| t.chars().count())
                        .unwrap_or(1)
                        .max(1);
                    let pad = gutter.len();
                    _ = writeln!(out, "{:pad$} |", "");
                    _ = write!(out, "{gutter} | ");
                    // A tab is shown as one space, so that the carets below line up; any other
                    // character a terminal acts on (see [`shown`]) as one U+FFFD, for the same
                    // reason.
                    if line.chars().any(acted_on) {
                        out.extend(line.chars().map(|c| match c {
                            '\t' => ' ',
                            c if acted_on(c) => '\u{fffd}',
                            c => c,
                        }));
                    } else {
                        out.push_str(line);
                    }
                    out.push('\n');
                    _ = write!(
                        out,
                        "{:pad$} | {:col$}",
                        "",
                        "",
                        col = s.col.saturating_sub(1) as usize
                    );
                    out.extend(std::iter::repeat_n('^', width));
                    out.push('\n');
                }
            }
        }
    }
    if let Some(found) = &d.found {
        _ = writeln!(out, "  = found: {}", shown(found));
    }
    if let Some(expected) = &d.expected {
        _ = writeln!(out, "  = expected: {}", shown(expected));
    }
    for h in &d.hints {
        _ = writeln!(out, "  = hint: {}", shown(h));
    }
}

/// One JSON document: `{"diagnostics": [...], "errors": N, "warnings": N}`.
pub fn render_json(diags: &[Diagnostic]) -> String {
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let v = serde_json::json!({
        "diagnostics": diags,
        "errors": errors,
        "warnings": warnings,
    });
    serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"internal_error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Code, Span};

    #[test]
    fn human_rendering_underlines_the_span() {
        let text = "rule x {\n  where remote.prot == 25\n}\n";
        let start = text.find("remote.prot").unwrap_or(0);
        let d = Diagnostic::new(Code::E0201, "unknown field `remote.prot`")
            .at(Span::from_offsets("r.detc", text, start, start + 11))
            .expected("a field of source network_connection")
            .hint("did you mean `remote.port`?");
        let mut sc = SourceCache::new();
        sc.insert("r.detc", text);
        let out = render_human(&d, &sc);
        assert!(out.starts_with("r.detc:2:9: error[E0201]: unknown field `remote.prot`\n"));
        assert!(out.contains("2 |   where remote.prot == 25\n"));
        assert!(out.contains("  |         ^^^^^^^^^^^\n"));
        assert!(out.contains("= hint: did you mean `remote.port`?"));
    }

    /// Every part of a diagnostic shows the characters a terminal acts on escaped; the source
    /// line shows each as one U+FFFD, so that the carets under it still line up.
    #[test]
    fn human_rendering_escapes_what_a_terminal_acts_on() {
        let text = "rule x {\n  \u{1b}[2J where \u{202e}remote.prot == 25\n}\n";
        let start = text.find("remote.prot").unwrap_or(0);
        let d = Diagnostic::new(Code::E0201, "unknown field `a\u{1b}[2J`")
            .at(Span::from_offsets("r\u{9b}.detc", text, start, start + 11))
            .found("`\u{7}`")
            .expected("not \u{202e}")
            .hint("line\nbreak");
        let mut sc = SourceCache::new();
        sc.insert("r\u{9b}.detc", text);
        let out = render_human(&d, &sc);
        assert!(!out.chars().any(|c| acted_on(c) && c != '\n'), "{out:?}");
        assert!(
            out.starts_with("r\\u{9b}.detc:2:15: error[E0201]: unknown field `a\\u{1b}[2J`\n"),
            "{out}"
        );
        assert!(
            out.contains("2 |   \u{fffd}[2J where \u{fffd}remote.prot == 25\n"),
            "{out}"
        );
        assert!(out.contains("  |               ^^^^^^^^^^^\n"), "{out}");
        assert!(out.contains("= found: `\\u{7}`\n"));
        assert!(out.contains("= expected: not \\u{202e}\n"));
        assert!(out.contains("= hint: line\\u{a}break\n"));
    }
}
