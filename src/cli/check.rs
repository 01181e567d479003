use super::{Exit, Format};
use clap::ValueEnum;
use std::path::PathBuf;

/// Parse and check rule files: syntax, fields, types, lists, ids, aggregation and tests.
///
/// Every problem of every file is reported, each as `path:line:col: error[CODE]: message` with
/// the source line, what was found, what was expected and a hint. docs/DIAGNOSTICS.md explains
/// every code; docs/LANGUAGE.md the language.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  detc check                          check every *.detc file under rules/
  detc check rules/an0379_scripting_host_mail.detc rules/lists.detc
                                      check one rule together with the lists it uses
  detc check --format json rules/     diagnostics as JSON on stdout, for editors and CI
  detc check --format sarif > detc.sarif
                                      SARIF 2.1.0 on stdout, for GitHub code scanning

Exit status: 0 no errors (warnings allowed, unless --deny-warnings), 1 the rules have errors, 2 a path cannot be read
or holds no rule file.")]
pub struct CheckArgs {
    /// Rule files or folders (searched for *.detc). Default: rules/
    pub paths: Vec<PathBuf>,
    /// Output format: human (stderr), json or sarif (stdout).
    #[arg(long, value_enum, default_value_t)]
    pub format: CheckFormat,
    /// Treat warnings as errors: report them as errors and exit 1 (for CI).
    #[arg(long)]
    pub deny_warnings: bool,
}

/// `check`'s output formats: those of every command, and SARIF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CheckFormat {
    /// Text for people, on stderr.
    #[default]
    Human,
    /// One JSON document on stdout.
    Json,
    /// SARIF 2.1.0 on stdout (GitHub code scanning and other review tools), file URIs
    /// relative to the repository root.
    Sarif,
}

impl CheckFormat {
    /// The common format used for errors before there are diagnostics to render as SARIF.
    pub(crate) fn common(self) -> Format {
        match self {
            CheckFormat::Human => Format::Human,
            CheckFormat::Json | CheckFormat::Sarif => Format::Json,
        }
    }
}

pub fn run(args: &CheckArgs) -> Exit {
    let paths = super::default_paths(&args.paths);
    let files = match super::rule_files(&paths, "check", args.format.common()) {
        Ok(f) => f,
        Err(exit) => return exit,
    };
    let loader = crate::load::FsLoader::for_paths(&paths);
    let mut fe = crate::frontend_with(&files, &loader);
    if super::config::check_deny_warnings(args.deny_warnings).value {
        super::deny(&mut fe.diagnostics);
    }
    let errors = fe.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = fe.diagnostics.len() - errors;
    match args.format {
        CheckFormat::Json | CheckFormat::Sarif => print(&fe.diagnostics, &fe.sources, args.format),
        CheckFormat::Human => {
            print(&fe.diagnostics, &fe.sources, args.format);
            let rules = fe.pack.as_ref().map(|p| p.rules.len()).unwrap_or(0);
            if !super::quiet() {
                super::err(&format!(
                    "checked {} file(s): {} rule(s), {errors} error(s), {warnings} warning(s)\n",
                    files.len(),
                    rules
                ));
            }
        }
    }
    if errors > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

fn print(
    diags: &[crate::diag::Diagnostic],
    sources: &crate::diag::SourceCache,
    format: CheckFormat,
) {
    match format {
        CheckFormat::Sarif => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let root = repo_root(&cwd);
            super::out(&(crate::diag::render_sarif(diags, sources, &root) + "\n"));
        }
        _ => super::print_diagnostics(diags, sources, format.common()),
    }
}

/// The repository root: the nearest folder from `cwd` up that holds `.git` (a folder, or a
/// file in a worktree), else `cwd` itself.
pub(crate) fn repo_root(cwd: &std::path::Path) -> std::path::PathBuf {
    cwd.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(cwd)
        .to_path_buf()
}
