//! SARIF 2.1.0 (OASIS), the format code-review tools such as GitHub code scanning read to show
//! diagnostics inline: one run of the tool `detc`, a reportingDescriptor per code reported (its
//! docs/DIAGNOSTICS.md entry as help) and a result per diagnostic. tests/it/cli_conventions.rs
//! validates the output against the schema in tests/data/sarif/.

use super::{Diagnostic, Severity, SourceCache, Span};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The SARIF log of `diags`. File paths become URIs relative to `root` (the repository root,
/// `uriBaseId` `%SRCROOT%`); a file outside it gets an absolute `file://` URI. `sources` gives
/// the end line and column of each span (SARIF wants both ends; a span stores the start's).
pub fn render_sarif(diags: &[Diagnostic], sources: &SourceCache, root: &Path) -> String {
    let mut index: BTreeMap<super::Code, usize> = BTreeMap::new();
    for d in diags {
        index.insert(d.code, 0);
    }
    let rules: Vec<Value> = index
        .iter_mut()
        .enumerate()
        .map(|(i, (code, at))| {
            *at = i;
            let entry = code.doc_entry().unwrap_or_default();
            json!({
                "id": code.as_str(),
                "shortDescription": {"text": short_description(&entry, code.as_str())},
                "help": {"text": entry.clone(), "markdown": entry},
                // Relative to the root of detc's repository: the pack's CI has its own copy of
                // the tool, not a published site; `detc explain CODE` prints the same entry.
                "helpUri": format!("docs/DIAGNOSTICS.md{}", code.doc_anchor()),
                "defaultConfiguration": {"level": level(code.severity())},
            })
        })
        .collect();
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let mut r = json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": index.get(&d.code).copied().unwrap_or(0),
                "level": level(d.severity),
                "message": {"text": message(d)},
            });
            if let Some(s) = &d.span {
                r["locations"] = json!([{"physicalLocation": physical_location(s, sources, root)}]);
            }
            r
        })
        .collect();
    let log = json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "detc",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            // detc's columns count Unicode characters, not SARIF's default UTF-16 code units.
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"uri": file_uri(root, true)}},
            "results": results,
        }],
    });
    // A `serde_json::Value` always serializes.
    serde_json::to_string_pretty(&log).unwrap_or_default()
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// The first sentence of a code's entry (after its heading), for the rule list of a viewer.
fn short_description(entry: &str, code: &str) -> String {
    let para = entry
        .lines()
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let first = match para.find(". ") {
        Some(i) => &para[..=i],
        None => &para,
    };
    if first.is_empty() {
        code.to_string()
    } else {
        first.to_string()
    }
}

/// The message with what was found, what was expected and the hints, one per line, as the
/// human renderer shows them under the source line.
fn message(d: &Diagnostic) -> String {
    let mut m = d.message.clone();
    if let Some(f) = &d.found {
        m.push_str(&format!("\nfound: {f}"));
    }
    if let Some(e) = &d.expected {
        m.push_str(&format!("\nexpected: {e}"));
    }
    for h in &d.hints {
        m.push_str(&format!("\nhint: {h}"));
    }
    m
}

fn physical_location(s: &Span, sources: &SourceCache, root: &Path) -> Value {
    let mut loc = json!({"artifactLocation": artifact_location(&s.path, root)});
    if s.line > 0 {
        // Columns count characters (the run's columnKind says so) and endColumn is one past
        // the end of the span.
        let end = sources
            .get(&s.path)
            .map(|text| Span::from_offsets(&s.path, text, s.end, s.end))
            .map(|e| (e.line, e.col))
            .unwrap_or((s.line, s.col));
        loc["region"] = json!({
            "startLine": s.line,
            "startColumn": s.col,
            "endLine": end.0,
            "endColumn": end.1,
        });
    }
    loc
}

/// `rules/x.detc` under `root` as `{"uri": "rules/x.detc", "uriBaseId": "%SRCROOT%"}`.
fn artifact_location(path: &str, root: &Path) -> Value {
    let p = Path::new(path);
    let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    match abs.strip_prefix(&root) {
        Ok(rel) => json!({"uri": encode_path(rel), "uriBaseId": "%SRCROOT%"}),
        Err(_) if abs.is_absolute() => json!({"uri": file_uri(&abs, false)}),
        Err(_) => json!({"uri": encode_path(p)}),
    }
}

fn file_uri(p: &Path, dir: bool) -> String {
    let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut s = format!("file://{}", encode_path(&abs));
    if dir && !s.ends_with('/') {
        s.push('/');
    }
    s
}

/// A path as a URI path: `/` between components, every byte outside RFC 3986's unreserved
/// characters percent-encoded (a space, `#` or `?` in a file name would end the path).
pub(crate) fn encode_path(p: &Path) -> String {
    let text = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
        .replacen("//", "/", 1);
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded_uris() {
        assert_eq!(
            encode_path(Path::new("rules/a b#1.detc")),
            "rules/a%20b%231.detc"
        );
        assert_eq!(encode_path(Path::new("/tmp/x")), "/tmp/x");
        assert_eq!(encode_path(Path::new("r/é")), "r/%C3%A9");
    }
}
