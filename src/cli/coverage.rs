//! `detc coverage`: the pack's ATT&CK techniques and analytics against the targets, from what the
//! compile driver really emits for each target, as a table or JSON; `--navigator DIR` also writes
//! the Navigator layers (one per target, `pack.json` for the pack).

use super::{Exit, Format};
use crate::targets;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CoverageArgs {
    /// Rule files or folders. Default: rules/
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: CoverageFormat,
    /// Also write ATT&CK Navigator layers (format 4.5) to DIR/<target>.json and DIR/pack.json.
    #[arg(long, value_name = "DIR")]
    pub navigator: Option<PathBuf>,
}

/// `--format` of `detc coverage`: its human output is a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum CoverageFormat {
    /// One line per technique and analytic, one column per target (rules emitted there).
    #[default]
    Table,
    /// The coverage as one JSON document; diagnostics as JSON too.
    Json,
}

pub fn run(args: &CoverageArgs) -> Exit {
    let format = match args.format {
        CoverageFormat::Table => Format::Human,
        CoverageFormat::Json => Format::Json,
    };
    let names: Vec<String> = match targets::load_profiles() {
        Ok(p) => p.into_iter().map(|p| p.name).collect(),
        Err(d) => {
            super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), format);
            return Exit::Failure;
        }
    };
    let (fe, pack) = match super::load_pack(&args.paths, format, false) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let result = targets::compile_pack(&pack, "all");
    if result.has_errors() {
        // Refusals are W0900 with `all`; an error left is a rule error: no coverage from it.
        let errors: Vec<_> = result
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        super::print_diagnostics(&errors, &fe.sources, format);
        return Exit::Findings;
    }
    let cov = crate::coverage::coverage(&pack, &result, &names);
    if let Some(dir) = &args.navigator {
        // Written by the same code as queries: no link followed, each file replaced whole.
        if let Err(d) = super::write_outputs(&cov.navigator_layers(""), dir) {
            super::print_diagnostics(&[d], &fe.sources, format);
            return Exit::Failure;
        }
    }
    match format {
        Format::Human => super::out(&cov.table()),
        Format::Json => super::out(&format!(
            "{}\n",
            // Plain structs of strings always serialize.
            serde_json::to_string_pretty(&cov).unwrap_or_default()
        )),
    }
    Exit::Ok
}
