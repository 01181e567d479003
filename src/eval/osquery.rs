//! osquery's batch and snapshot result lines, read as the event-format lines the `osquery-*`
//! input schemas map (osquery docs, "Logging", docs/wiki/deployment/logging.md, Apache-2.0):
//!
//! - event format (the default): one line per row, `{"action": "added"|"removed", "columns":
//!   {...}, "name", "hostIdentifier", "unixTime", ...}`: read as it is;
//! - batch format (`--logger_event_type=false`): one line per query run, its rows in
//!   `"diffResults": {"added": [...], "removed": [...]}`;
//! - snapshot format (a query scheduled with `"snapshot": true`): one line per run, `"action":
//!   "snapshot"` and every row in `"snapshot": [...]`.
//!
//! [`expand`] turns a batch or snapshot line into one event-format line per row, each with the
//! line's other keys (name, hostIdentifier, unixTime, decorations...) and the row as `columns`,
//! so the schemas' `columns.*` keys and their `applies` read every format alike. A `removed` row
//! keeps `"action": "removed"`: it says a row left the query's result set since the last run
//! (for the evented tables, an event that aged out of osquery's buffer), not that something
//! happened, so the schemas' `applies` (`action` in added, snapshot) count it as not applicable
//! rather than an event, exactly as the event format's removed lines. A row that is not a JSON
//! object is a bad row of the line it is on, with its position; the others of the line are read.
//! Bounded: the rows of a line are at most the line, which the reader bounds (`--max-line`).

use memchr::memmem::Finder;
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// Whether `line` may be a batch or snapshot line: the cheap test before parsing.
fn may_be(line: &str) -> bool {
    // Built once: every JSON line is tested, and building a searcher costs more than a search.
    static DIFF: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"diffResults\""));
    static SNAPSHOT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"snapshot\""));
    let b = line.as_bytes();
    b.first() == Some(&b'{') && (DIFF.find(b).is_some() || SNAPSHOT.find(b).is_some())
}

/// The event-format lines of a batch or snapshot line, in order (added rows, then removed rows;
/// or the snapshot's rows), each a line or why that row is bad; `None` for any other line
/// (event-format lines, other logs), which is read as it is.
pub fn expand(line: &str) -> Option<Vec<Result<String, String>>> {
    if !may_be(line) {
        return None;
    }
    let Ok(Value::Object(mut top)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    if top.contains_key("columns") {
        return None;
    }
    let mut groups: Vec<(&'static str, Vec<Value>, &'static str)> = Vec::new();
    match (top.remove("diffResults"), top.remove("snapshot")) {
        (Some(Value::Object(mut diff)), None) => {
            for (key, action) in [("added", "added"), ("removed", "removed")] {
                match diff.remove(key) {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(rows)) => groups.push((key, rows, action)),
                    Some(other) => {
                        return Some(vec![Err(format!(
                            "osquery batch line: `diffResults.{key}` is {}, not an array of rows",
                            kind(&other)
                        ))])
                    }
                }
            }
        }
        (None, Some(Value::Array(rows))) => groups.push(("snapshot", rows, "snapshot")),
        (None, Some(other)) => {
            return Some(vec![Err(format!(
                "osquery snapshot line: `snapshot` is {}, not an array of rows",
                kind(&other)
            ))])
        }
        (Some(other), None) => {
            return Some(vec![Err(format!(
                "osquery batch line: `diffResults` is {}, not an object with `added` and `removed`",
                kind(&other)
            ))])
        }
        (Some(_), Some(_)) => {
            return Some(vec![Err(
                "osquery results line with both `diffResults` and `snapshot`".into(),
            )])
        }
        (None, None) => return None,
    }
    let mut out = Vec::new();
    for (key, rows, action) in groups {
        for (i, row) in rows.into_iter().enumerate() {
            match row {
                Value::Object(cols) => {
                    let mut ev: Map<String, Value> = top.clone();
                    ev.insert("action".into(), Value::String(action.into()));
                    ev.insert("columns".into(), Value::Object(cols));
                    out.push(Ok(Value::Object(ev).to_string()));
                }
                other => out.push(Err(format!(
                    "osquery results line: row {} of `{key}` is {}, not an object of columns",
                    i + 1,
                    kind(&other)
                ))),
            }
        }
    }
    Some(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> Map<String, Value> {
        match serde_json::from_str(s) {
            Ok(Value::Object(m)) => m,
            _ => unreachable!("{s}"),
        }
    }

    // osquery's documented batch example (docs/wiki/deployment/logging.md, "Batch format").
    const BATCH: &str = r#"{"diffResults":{"added":[{"name":"osqueryd","path":"/usr/local/bin/osqueryd","pid":"97830"}],"removed":[{"name":"osqueryd","path":"/usr/local/bin/osqueryd","pid":"97650"}]},"name":"processes","hostname":"hostname.local","calendarTime":"Tue Sep 30 17:37:30 2014","unixTime":"1412123850","epoch":"314159265","counter":"1"}"#;

    #[test]
    fn a_batch_line_is_its_added_then_removed_rows_in_event_format() {
        let out = expand(BATCH).unwrap_or_default();
        assert_eq!(out.len(), 2);
        let a = obj(out[0].as_deref().unwrap_or_default());
        assert_eq!(a["action"], "added");
        assert_eq!(a["columns"]["pid"], "97830");
        assert_eq!(a["name"], "processes");
        assert_eq!(a["unixTime"], "1412123850");
        assert!(!a.contains_key("diffResults"));
        let r = obj(out[1].as_deref().unwrap_or_default());
        assert_eq!(r["action"], "removed");
        assert_eq!(r["columns"]["pid"], "97650");
    }

    #[test]
    fn event_lines_and_other_logs_are_not_expanded() {
        let ev = r#"{"action":"added","columns":{"name":"osqueryd","path":"/usr/local/bin/osqueryd","pid":"97830"},"name":"processes","hostIdentifier":"h","unixTime":"1412123850"}"#;
        assert_eq!(expand(ev), None);
        // A column value that merely mentions the word is not a snapshot line.
        let ev2 = r#"{"action":"added","columns":{"cmdline":"tmutil \"snapshot\""},"name":"p"}"#;
        assert_eq!(expand(ev2), None);
        assert_eq!(expand(r#"{"EventID": 1, "Image": "x"}"#), None);
    }

    #[test]
    fn bad_rows_are_reported_and_the_others_read() {
        let line = r#"{"action":"snapshot","snapshot":[{"pid":"1"},"oops",{"pid":"51"}],"name":"s","hostIdentifier":"h","unixTime":1}"#;
        let out = expand(line).unwrap_or_default();
        assert_eq!(out.len(), 3);
        assert!(out[0].is_ok() && out[2].is_ok());
        assert_eq!(
            out[1].as_ref().err().map(String::as_str),
            Some("osquery results line: row 2 of `snapshot` is a string, not an object of columns")
        );
        let bad = r#"{"diffResults":{"added":{"pid":"1"}},"name":"p"}"#;
        assert!(expand(bad).is_some_and(|v| v.len() == 1 && v[0].is_err()));
    }
}
