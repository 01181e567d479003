use super::{Exit, Format};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files or folders (searched for *.detc). Default: rules/
    pub paths: Vec<PathBuf>,
    /// Output format: human (stderr) or json (stdout).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &CheckArgs) -> Exit {
    let files = match crate::load::load_sources(&super::default_paths(&args.paths)) {
        Ok(f) => f,
        Err(d) => {
            super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), args.format);
            return Exit::Failure;
        }
    };
    let fe = crate::frontend(&files);
    let errors = fe.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = fe.diagnostics.len() - errors;
    match args.format {
        Format::Json => super::print_diagnostics(&fe.diagnostics, &fe.sources, args.format),
        Format::Human => {
            super::print_diagnostics(&fe.diagnostics, &fe.sources, args.format);
            let rules = fe.pack.as_ref().map(|p| p.rules.len()).unwrap_or(0);
            super::err(&format!(
                "checked {} file(s): {} rule(s), {errors} error(s), {warnings} warning(s)\n",
                files.len(),
                rules
            ));
        }
    }
    if errors > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    }
}
