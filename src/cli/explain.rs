use super::{Exit, Format};

/// The diagnostics reference, built into the binary so `detc explain` works without the sources.
const DIAGNOSTICS_MD: &str = include_str!("../../docs/DIAGNOSTICS.md");

/// Print the docs/DIAGNOSTICS.md entry of a diagnostic code: what it means, an example and the fix.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  detc explain E0220                  the entry of E0220 (unknown field)
  detc explain w0282 --format json    {\"code\": \"W0282\", \"text\": \"...\"} on stdout

Exit status: 0 the code is documented, 2 unknown code.")]
pub struct ExplainArgs {
    /// A diagnostic code such as E0220 or W0282 (any case).
    pub code: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The entry of `code`: its `### CODE` heading down to the next heading, without trailing blank
/// lines. `None` for a code the document does not have.
pub fn entry(code: &str) -> Option<String> {
    let mut lines = DIAGNOSTICS_MD.lines();
    lines.find(|l| l.strip_prefix("### ").map(str::trim) == Some(code))?;
    let mut text = format!("### {code}\n");
    // Headings inside a ```text block (none today) would not end the entry.
    let mut fenced = false;
    for l in lines {
        if l.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && (l.starts_with("## ") || l.starts_with("### ")) {
            break;
        }
        text.push_str(l);
        text.push('\n');
    }
    Some(text.trim_end().to_string() + "\n")
}

/// Every documented code, in document order.
fn codes() -> Vec<&'static str> {
    DIAGNOSTICS_MD
        .lines()
        .filter_map(|l| l.strip_prefix("### ").map(str::trim))
        .collect()
}

pub fn run(args: &ExplainArgs) -> Exit {
    let code = args.code.trim().to_ascii_uppercase();
    let Some(text) = entry(&code) else {
        let mut msg = format!(
            "error: unknown diagnostic code `{}`; codes are listed in docs/DIAGNOSTICS.md\n",
            args.code
        );
        if let Some(n) = crate::diag::nearest(&code, codes()) {
            msg.push_str(&format!("  hint: did you mean `{n}`?\n"));
        }
        super::err(&msg);
        return Exit::Failure;
    };
    match args.format {
        Format::Human => super::out(&text),
        Format::Json => {
            super::out(&format!(
                "{}\n",
                serde_json::json!({"code": code, "text": text})
            ));
        }
    }
    Exit::Ok
}
