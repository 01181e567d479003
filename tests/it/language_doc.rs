//! docs/LANGUAGE.md is checked: every ```detc block passes `detc check` (next to the pack's
//! rules/lists.detc), every ```detc-error block fails with the code its first line names, and the
//! field tables list exactly the catalogue's fields with their types.

use detc::ir::catalogue;
use detc::ir::check::values::type_name;
use detc::ir::FieldType;
use detc::SourceFile;

use crate::support::fmt_meaning as support;

const DOC: &str = include_str!("../../docs/LANGUAGE.md");

struct Block {
    line: usize,
    lang: String,
    text: String,
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    for (i, l) in DOC.lines().enumerate() {
        let t = l.trim_start();
        match &mut cur {
            None => {
                if let Some(lang) = t.strip_prefix("```") {
                    if lang.starts_with("detc") {
                        cur = Some(Block {
                            line: i + 1,
                            lang: lang.trim().to_string(),
                            text: String::new(),
                        });
                    }
                }
            }
            Some(b) => {
                if t.starts_with("```") {
                    out.extend(cur.take());
                } else {
                    b.text.push_str(l);
                    b.text.push('\n');
                }
            }
        }
    }
    assert!(cur.is_none(), "an unclosed code block in LANGUAGE.md");
    out
}

/// Whether an example is a complete file (else it is the body of a rule).
fn is_whole(b: &Block) -> bool {
    let first = b
        .text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("//"))
        .unwrap_or("");
    first.starts_with("rule ") || first.starts_with("list ")
}

/// A complete file, or a rule body wrapped into a rule.
fn as_file(b: &Block, n: usize) -> String {
    if is_whole(b) {
        return b.text.clone();
    }
    let has_source = b
        .text
        .lines()
        .any(|l| l.trim_start().starts_with("source ") || l.starts_with("correlate "));
    let has_meta = |k: &str| b.text.lines().any(|l| l.trim_start().starts_with(k));
    let mut s = format!("rule doc_example_{n} {{\n");
    s.push_str(&format!("  id \"00000000-0000-4000-8000-{n:012}\"\n"));
    if !has_meta("title ") {
        s.push_str("  title \"doc example\"\n");
    }
    if !has_meta("severity ") {
        s.push_str("  severity low\n");
    }
    if !has_source {
        s.push_str("  source network_connection\n");
    }
    s.push_str(&b.text);
    s.push_str("}\n");
    s
}

#[test]
fn every_example_in_language_md_checks() {
    let lists = std::fs::read_to_string("rules/lists.detc")
        .unwrap_or_else(|e| unreachable!("rules/lists.detc: {e}"));
    let bs = blocks();
    assert!(bs.len() >= 20, "only {} examples", bs.len());
    let mut failures = Vec::new();
    let mut error_blocks = 0;
    for (n, b) in bs.iter().enumerate() {
        let text = as_file(b, n);
        let files = [
            SourceFile {
                path: "rules/lists.detc".into(),
                text: lists.clone(),
            },
            SourceFile {
                // In rules/, so list files and fixtures resolve like the pack's own.
                path: format!("rules/language_md_line_{}.detc", b.line),
                text,
            },
        ];
        let fe = detc::frontend(&files);
        let errors: Vec<String> = fe
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| detc::diag::render_human(d, &fe.sources))
            .collect();
        match b.lang.as_str() {
            "detc" => {
                if !errors.is_empty() {
                    failures.push(format!(
                        "LANGUAGE.md:{}: the example does not check:\n{}",
                        b.line,
                        errors.join("\n")
                    ));
                }
            }
            "detc-error" => {
                error_blocks += 1;
                let want = b
                    .text
                    .trim_start()
                    .strip_prefix("// ")
                    .and_then(|r| r.get(..5))
                    .unwrap_or("");
                let codes: Vec<&str> = fe
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.code.as_str())
                    .collect();
                if want.len() != 5 || !codes.contains(&want) {
                    failures.push(format!(
                        "LANGUAGE.md:{}: a detc-error example must start with `// CODE:` and \
                         fail with it; it gave {codes:?}",
                        b.line
                    ));
                }
            }
            other => failures.push(format!("LANGUAGE.md:{}: unknown block `{other}`", b.line)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(error_blocks >= 1);
}

/// Every example that parses is in the canonical layout (a rule body as `detc fmt` prints it
/// inside a rule, two columns less), and formatting it keeps what it means next to the pack's
/// lists (checked IR and diagnostics, positions aside); formatting is idempotent.
#[test]
fn every_example_is_formatted_and_formatting_keeps_its_meaning() {
    let lists = SourceFile {
        path: "rules/lists.detc".into(),
        text: std::fs::read_to_string("rules/lists.detc")
            .unwrap_or_else(|e| unreachable!("rules/lists.detc: {e}")),
    };
    let mut failures = Vec::new();
    let mut formatted = 0;
    for (n, b) in blocks().iter().enumerate() {
        let file = SourceFile {
            path: format!("rules/language_md_line_{}.detc", b.line),
            text: as_file(b, n),
        };
        if detc::syntax::parse(&file.path, &file.text).is_err() {
            continue; // a detc-error example of a syntax error
        }
        let shown = if is_whole(b) {
            b.text.clone()
        } else {
            let body: String = b
                .text
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        "\n".to_string()
                    } else {
                        format!("  {l}\n")
                    }
                })
                .collect();
            format!("rule r {{\n{body}}}\n")
        };
        let canonical = support::fmt(&file.path, &shown);
        if canonical != shown {
            failures.push(format!(
                "LANGUAGE.md:{}: not formatted; `detc fmt` prints:\n{canonical}",
                b.line
            ));
        }
        let after = support::formatted_idempotently(std::slice::from_ref(&file));
        let before = [lists.clone(), file];
        let after = [lists.clone(), after[0].clone()];
        if support::meaning(&before) != support::meaning(&after) {
            failures.push(format!(
                "LANGUAGE.md:{}: formatting changed its meaning",
                b.line
            ));
        }
        formatted += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(formatted >= 20, "only {formatted} examples formatted");
}

/// The type column as LANGUAGE.md writes it.
fn doc_type(ty: &FieldType) -> String {
    match ty {
        FieldType::Enum(vs) => format!(
            "enum {}",
            vs.iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => type_name(other).to_string(),
    }
}

#[test]
fn the_field_tables_are_the_catalogue() {
    for source in catalogue::SOURCES {
        let heading = format!("### `{}`", source.name());
        let Some(at) = DOC.find(&heading) else {
            unreachable!("LANGUAGE.md has no section {heading}")
        };
        let section = &DOC[at + heading.len()..];
        let section = &section[..section.find("\n#").unwrap_or(section.len())];
        let rows: Vec<(String, String)> = section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_string(), cells[2].to_string())
            })
            .collect();
        let want: Vec<(String, String)> = catalogue::fields(source)
            .iter()
            .map(|d| {
                let ty = doc_type(&d.ty);
                (
                    d.name.to_string(),
                    if d.list { format!("list of {ty}") } else { ty },
                )
            })
            .collect();
        assert_eq!(rows, want, "the field table of {}", source.name());
    }
}
