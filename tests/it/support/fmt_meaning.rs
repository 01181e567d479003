//! What a set of rule files means, for the formatter's tests: the checked IR (as JSON, every
//! source position left out) and the diagnostics (code, severity and texts, positions left out).
//! Formatting a file must not change it.

use detc::SourceFile;

pub fn meaning(files: &[SourceFile]) -> String {
    let fe = detc::frontend(files);
    let mut pack = serde_json::to_value(&fe.pack).unwrap_or_default();
    drop_spans(&mut pack);
    let diags: Vec<String> = fe
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{} {:?} {} | {:?} | {:?} | {:?}",
                d.code, d.severity, d.message, d.found, d.expected, d.hints
            )
        })
        .collect();
    // A hint can point at another place (`the first is at line 11, column 56`).
    let at = regex::Regex::new(r"line \d+, column \d+").unwrap_or_else(|e| unreachable!("{e}"));
    format!(
        "{pack:#}\n{}",
        at.replace_all(&diags.join("\n"), "line L, column C")
    )
}

/// A span serializes as `{path, start, end, line, col}`: those become null.
fn drop_spans(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            let is_span = ["path", "start", "end", "line", "col"]
                .iter()
                .all(|k| m.contains_key(*k));
            if is_span {
                *v = serde_json::Value::Null;
            } else {
                m.values_mut().for_each(drop_spans);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_spans),
        _ => {}
    }
}

/// `detc fmt` of one text, which must parse.
pub fn fmt(path: &str, text: &str) -> String {
    detc::syntax::fmt::format(path, text).unwrap_or_else(|ds| {
        let msgs: Vec<String> = ds.iter().map(|d| format!("{d:?}")).collect();
        unreachable!("fmt refused {path}: {}", msgs.join("\n"))
    })
}

/// Formats every file, asserts fmt(fmt(x)) == fmt(x), and returns the formatted files.
pub fn formatted_idempotently(files: &[SourceFile]) -> Vec<SourceFile> {
    files
        .iter()
        .map(|f| {
            let once = fmt(&f.path, &f.text);
            let twice = fmt(&f.path, &once);
            assert_eq!(
                once, twice,
                "{}: formatting the formatted file changed it",
                f.path
            );
            SourceFile {
                path: f.path.clone(),
                text: once,
            }
        })
        .collect()
}
