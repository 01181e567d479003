use super::{Exit, Format};
use crate::diag::Code;

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

pub fn run(args: &ExplainArgs) -> Exit {
    let code = args.code.trim().to_ascii_uppercase();
    let Some(text) = Code::parse(&code).and_then(Code::doc_entry) else {
        let mut msg = format!(
            "error: unknown diagnostic code `{}`; codes are listed in docs/DIAGNOSTICS.md\n",
            args.code
        );
        if let Some(n) = crate::diag::nearest(&code, Code::ALL.iter().map(|c| c.as_str())) {
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
