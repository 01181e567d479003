//! Positions and document names as LSP speaks them: a position is a line and a column counted in
//! UTF-16 code units (the protocol's default encoding, which every client supports), a document
//! is a `file://` URI. detc's spans are byte offsets into the text, its files are paths.

use lsp_types::{Position, Range, Uri};
use std::path::{Path, PathBuf};

/// The LSP position of byte `offset` of `text` (clamped to the text, and back to a character
/// boundary).
pub fn position(text: &str, offset: usize) -> Position {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() as u32,
        character: before[line_start..].encode_utf16().count() as u32,
    }
}

/// The LSP range of bytes `start..end` of `text`.
pub fn range(text: &str, start: usize, end: usize) -> Range {
    Range {
        start: position(text, start),
        end: position(text, end.max(start)),
    }
}

/// The byte offset of an LSP position in `text`: a column past the end of its line is the end
/// of the line, a line past the end of the text is the end of the text (as the protocol asks).
pub fn offset(text: &str, pos: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..pos.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let mut units = 0;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= pos.character as usize {
            return line_start + i;
        }
        units += c.len_utf16();
    }
    line_end
}

/// The path of a `file:` URI (percent-decoded), or `None` for another scheme.
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file:///p` (empty authority) or `file://localhost/p`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    let mut text = String::from_utf8(out).ok()?;
    // `file:///c:/x` on Windows: the drive letter follows the slash.
    if cfg!(windows) && text.as_bytes().get(2) == Some(&b':') {
        text.remove(0);
    }
    Some(PathBuf::from(text))
}

/// The `file:` URI of an absolute path.
pub fn uri_of(path: &Path) -> Option<Uri> {
    let encoded = crate::diag::encode_path(path);
    let sep = if encoded.starts_with('/') { "" } else { "/" };
    format!("file://{sep}{encoded}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_round_trip() {
        let text = "ab\nc🦀é\n\nlast";
        // 🦀 is 4 bytes and 2 UTF-16 units; é is 2 bytes and 1 unit.
        let e = text.find('é').unwrap_or(0);
        assert_eq!(position(text, e), Position::new(1, 3));
        assert_eq!(offset(text, Position::new(1, 3)), e);
        for (i, _) in text.char_indices() {
            assert_eq!(offset(text, position(text, i)), i, "offset {i}");
        }
        assert_eq!(offset(text, Position::new(0, 99)), 2);
        assert_eq!(offset(text, Position::new(9, 0)), text.len());
        assert_eq!(position(text, text.len()), Position::new(3, 4));
    }

    #[test]
    fn file_uris_round_trip_through_paths() {
        let p = Path::new("/tmp/a b#1/r é.detc");
        let uri = uri_of(p).map(|u| u.as_str().to_string());
        assert_eq!(
            uri.as_deref(),
            Some("file:///tmp/a%20b%231/r%20%C3%A9.detc")
        );
        let back = uri_of(p).and_then(|u| path_of(&u));
        assert_eq!(back.as_deref(), Some(p));
        let other: Option<Uri> = "untitled:Untitled-1".parse().ok();
        assert_eq!(other.and_then(|u| path_of(&u)), None);
    }
}
