//! Windows events exported from EVTX to JSON (`evtx_dump -o json`, as in SigmaHQ's regression
//! data): pretty-printed documents `{"Event": {"System": {...}, "EventData": {...}}}` one after
//! another, not JSON lines. [`Documents`] turns such a stream into the flat JSON lines the
//! Windows input schemas read (the OTRF form: EventData keys at the top level, plus `EventID`,
//! `Channel`, `Computer`, `SourceName`, `TimeCreated`, `EventRecordID` from `System`).
//!
//! Line numbers are kept: the flat line of a document is written at the document's first line,
//! followed by one blank line (skipped by the reader) per further line of the document, so a
//! bad line or an alert names the line where its document starts. A document that is not valid
//! JSON is written as its text on one line, so the JSON reader reports it there, with serde's
//! reason; a valid object that is not an `Event` is passed through as it is.

use serde_json::{Map, Value};
use std::io::{BufRead, Read};

/// A document larger than this is not buffered: it is skipped and reported at its first line.
const MAX_DOCUMENT: usize = 64 << 20;

/// Whether a stream that starts with `head` is a document stream: its first line that is not
/// blank is a lone `{`, which no JSON line can be.
pub fn is_document_stream(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}');
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim() == "{")
}

/// The flat record of one EVTX JSON document, or `None` when it is not `{"Event": {"System": ..}}`.
pub fn flatten(doc: &Value) -> Option<Map<String, Value>> {
    let event = doc.get("Event")?;
    let system = event.get("System")?.as_object()?;
    let attr = |v: Option<&Value>, name: &str| -> Option<Value> {
        v?.get("#attributes")?.get(name).cloned()
    };
    // Scalars as they are; `{"#text": x}` (an element with attributes) as x.
    let scalar = |v: &Value| -> Option<Value> {
        match v {
            Value::Null => None,
            Value::Object(o) => o.get("#text").cloned(),
            Value::Array(_) => Some(Value::String(v.to_string())),
            other => Some(other.clone()),
        }
    };
    let mut out = Map::new();
    for key in [
        "EventID",
        "Channel",
        "Computer",
        "EventRecordID",
        "Version",
        "Level",
        "Task",
    ] {
        if let Some(v) = system.get(key).and_then(scalar) {
            out.insert(key.to_string(), v);
        }
    }
    if let Some(v) = attr(system.get("Provider"), "Name") {
        out.insert("SourceName".into(), v);
    }
    if let Some(v) = attr(system.get("TimeCreated"), "SystemTime") {
        out.insert("TimeCreated".into(), v);
    }
    if let Some(Value::Object(data)) = event.get("EventData") {
        for (k, v) in data {
            if k == "#attributes" {
                continue;
            }
            match v {
                Value::Null => {}
                Value::Object(_) => {
                    if let Some(s) = scalar(v) {
                        out.insert(k.clone(), s);
                    }
                }
                other => {
                    out.insert(k.clone(), scalar(other)?);
                }
            }
        }
    }
    Some(out)
}

/// A [`Read`] over a document stream that yields flat JSON lines (see the module doc).
pub struct Documents<R: BufRead> {
    input: R,
    out: Vec<u8>,
    pos: usize,
    line: Vec<u8>,
    /// A line read ahead: the `{` that starts the next document while one was still open.
    held: Option<Vec<u8>>,
}

impl<R: BufRead> Documents<R> {
    pub fn new(input: R) -> Documents<R> {
        Documents {
            input,
            out: Vec::new(),
            pos: 0,
            line: Vec::new(),
            held: None,
        }
    }

    /// Reads one line into `self.line` (with its `\n`); false at the end.
    fn next_line(&mut self) -> std::io::Result<bool> {
        if let Some(l) = self.held.take() {
            self.line = l;
            return Ok(true);
        }
        self.line.clear();
        Ok(self.input.read_until(b'\n', &mut self.line)? > 0)
    }

    /// Fills `self.out` with the next blank line or document; false at the end.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.pos = 0;
        if !self.next_line()? {
            return Ok(false);
        }
        if self.line.iter().all(u8::is_ascii_whitespace) {
            self.out.push(b'\n');
            return Ok(true);
        }
        // A document: lines until its braces close (outside strings).
        let mut doc: Vec<u8> = Vec::new();
        let mut lines = 0usize;
        let (mut depth, mut in_str, mut esc, mut started) = (0i64, false, false, false);
        let mut over = false;
        loop {
            lines += 1;
            for &b in &self.line {
                if in_str {
                    match (esc, b) {
                        (true, _) => esc = false,
                        (false, b'\\') => esc = true,
                        (false, b'"') => in_str = false,
                        _ => {}
                    }
                    continue;
                }
                match b {
                    b'"' => in_str = true,
                    b'{' | b'[' => {
                        depth += 1;
                        started = true;
                    }
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
            }
            if doc.len() + self.line.len() > MAX_DOCUMENT {
                over = true;
                doc = Vec::new();
            } else if !over {
                doc.extend_from_slice(&self.line);
            }
            if (started && depth <= 0) || !self.next_line()? {
                break;
            }
            // A JSON string holds no raw line break: a string still open at the end of a line
            // is the document's error, not a reason to read the next lines as text.
            in_str = false;
            esc = false;
            // A lone `{` at the start of a line opens the next pretty-printed document: the
            // open one is truncated (reported bad), and does not swallow the rest of the file.
            if self.line.trim_ascii_end() == b"{" {
                self.held = Some(std::mem::take(&mut self.line));
                break;
            }
        }
        if over {
            let msg = format!("EVTX JSON document longer than {MAX_DOCUMENT} bytes: skipped");
            self.out
                .extend_from_slice(Value::String(msg).to_string().as_bytes());
        } else {
            let text = String::from_utf8_lossy(&doc);
            let text = text.trim_start_matches('\u{feff}');
            match serde_json::from_str::<Value>(text) {
                Ok(v) => {
                    let flat = flatten(&v).map(Value::Object).unwrap_or(v);
                    self.out.extend_from_slice(flat.to_string().as_bytes());
                }
                // Invalid JSON: its text on one line, for the JSON reader to report here.
                Err(_) => {
                    let one: String = text
                        .chars()
                        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                        .collect();
                    self.out.extend_from_slice(one.trim().as_bytes());
                }
            }
        }
        self.out.push(b'\n');
        // One blank line per further line of the document keeps the numbering.
        self.out
            .resize(self.out.len() + lines.saturating_sub(1), b'\n');
        Ok(true)
    }
}

impl<R: BufRead> Read for Documents<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.out.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(text: &str) -> String {
        let mut s = String::new();
        let _ = Documents::new(text.as_bytes()).read_to_string(&mut s);
        s
    }

    #[test]
    fn documents_become_flat_lines_at_their_first_line() {
        let text = "{\n  \"Event\": {\n    \"System\": {\"EventID\": 1, \"Channel\": \"C\", \"Computer\": \"H\",\n      \"Provider\": {\"#attributes\": {\"Name\": \"P\"}}},\n    \"EventData\": {\"Image\": \"C:\\\\x.exe\", \"N\": null, \"S\": \"a } {\"}\n  }\n}\n{\n \"Event\": {\"System\": {\"EventID\": {\"#text\": 3}}}\n}\n";
        let out = convert(text);
        let lines: Vec<&str> = out.split('\n').collect();
        assert!(is_document_stream(text.as_bytes()));
        assert!(!is_document_stream(b"{\"a\": 1}\n"));
        let first: Value = serde_json::from_str(lines[0]).unwrap_or(Value::Null);
        assert_eq!(first["EventID"], 1);
        assert_eq!(first["SourceName"], "P");
        assert_eq!(first["Image"], "C:\\x.exe");
        assert_eq!(first["S"], "a } {");
        assert!(first.get("N").is_none());
        assert!(lines[1..7].iter().all(|l| l.is_empty()), "{lines:?}");
        let second: Value = serde_json::from_str(lines[7]).unwrap_or(Value::Null);
        assert_eq!(second["EventID"], 3, "{out:?}");
    }

    #[test]
    fn a_bad_document_stays_on_its_line_as_invalid_json() {
        let text = "{\n \"Event\": {\"System\": \n}\n{\n\"a\": 1\n}\n";
        let out = convert(text);
        let lines: Vec<&str> = out.split('\n').collect();
        assert!(serde_json::from_str::<Value>(lines[0]).is_err(), "{out:?}");
        assert_eq!(
            serde_json::from_str::<Value>(lines[3]).ok(),
            Some(serde_json::json!({"a": 1}))
        );
    }
}
