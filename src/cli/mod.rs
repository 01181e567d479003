//! The command line: argument parsing, output formats and exit codes. The only layer that prints.
//!
//! Exit codes: 0 ok, 1 findings (rule errors, failed tests, drift, alert mismatches), 2 usage or
//! I/O error (clap's own usage errors exit 2 as well).

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

mod check;
mod compile;
mod completions;
mod config;
mod coverage;
mod explain;
mod fmt;
mod import;
mod init;
mod run;
mod test;

pub use compile::{check_outputs, write_outputs, Drift};

/// detc compiles detection rules written once in the detc language to KQL (Defender XDR,
/// Sentinel), Sigma and Splunk SPL, and runs them natively over event files.
///
/// Typical flow: `detc check` while writing a rule, `detc test` to run its fixture tests,
/// `detc compile --target all --out queries/` in CI (`--check` there to fail on drift), and
/// `detc run --events FILE` to hunt over a log file locally.
#[derive(Debug, Parser)]
#[command(name = "detc", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// No summary and no progress on stderr, and no warnings; errors are still reported.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Colour the severity and code of diagnostics on stderr. `auto`: only when stderr is a
    /// terminal and NO_COLOR is unset or empty.
    #[arg(long, value_enum, global = true, default_value_t)]
    pub color: ColorChoice,
    /// The project config file. Default: the nearest detc.yaml in the folder of the first rule
    /// path or above it, up to the repository root (docs/CONFIG.md).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether human diagnostics are coloured. An explicit `--color` wins over `NO_COLOR`, as
/// no-color.org asks of command-line flags; `auto` colours only a terminal, and a set, non-empty
/// `NO_COLOR` turns it off.
pub fn use_color(choice: ColorChoice, no_color: Option<&std::ffi::OsStr>, tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// Global output settings, fixed once from the command line before a subcommand runs.
#[derive(Debug, Clone, Copy, Default)]
struct Style {
    quiet: bool,
    color: bool,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// The project config (detc.yaml), read once before a subcommand runs.
static CONFIG: OnceLock<crate::config::Config> = OnceLock::new();

/// The project config (every setting its default when there is no detc.yaml).
pub(crate) fn project() -> &'static crate::config::Config {
    static NONE: OnceLock<crate::config::Config> = OnceLock::new();
    CONFIG
        .get()
        .unwrap_or_else(|| NONE.get_or_init(crate::config::Config::default))
}

fn style() -> Style {
    STYLE.get().copied().unwrap_or_default()
}

/// `--quiet`: summaries and progress are left out.
pub(crate) fn quiet() -> bool {
    style().quiet
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check rule files: syntax, types, fields, lists, ids. Exit 1 on any error.
    Check(check::CheckArgs),
    /// Emit queries for one target profile or all of them into DIR/<target>/<rule>.<ext>.
    Compile(compile::CompileArgs),
    /// List target profiles and what each can express.
    Targets(compile::TargetsArgs),
    /// Run every rule's tests (fixture events and expected alerts). Exit 1 on a failed test.
    Test(test::TestArgs),
    /// Run rules over event files (JSON lines, CSV, Zeek TSV/JSON, optionally .gz) and print alerts.
    Run(run::RunArgs),
    /// Print the docs/DIAGNOSTICS.md entry of a diagnostic code (meaning, example, fix).
    Explain(explain::ExplainArgs),
    /// Format rule files in the canonical layout; --check shows a diff and exits 1 instead.
    Fmt(fmt::FmtArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell) on stdout.
    Completions(completions::CompletionsArgs),
    /// ATT&CK techniques and analytics of the pack against the targets each rule compiles for;
    /// --navigator DIR writes ATT&CK Navigator layers.
    Coverage(coverage::CoverageArgs),
    /// Print the resolved settings (from detc.yaml, flags or defaults) and where each came from.
    Config(config::ConfigArgs),
    /// Scaffold a rule-pack repository: a sample rule with tests, lists, detc.yaml, a CI
    /// workflow and its compiled queries. Never overwrites a file.
    Init(init::InitArgs),
    /// Run the language server on stdin/stdout (LSP 3.17), for editors: docs/EDITORS.md.
    Lsp,
    /// Import rules written in another language (Sigma) as formatted detc rule files.
    Import(import::ImportArgs),
}

impl Command {
    /// The rule paths a command reads: where its detc.yaml is looked for (`None`: the command
    /// reads no config).
    fn rule_paths(&self) -> Option<&[PathBuf]> {
        match self {
            Command::Check(a) => Some(&a.paths),
            Command::Compile(a) => Some(&a.paths),
            Command::Test(a) => Some(&a.paths),
            Command::Run(a) => Some(&a.rules),
            Command::Coverage(a) => Some(&a.paths),
            Command::Config(a) => Some(&a.paths),
            Command::Targets(_) => Some(&[]),
            Command::Explain(_)
            | Command::Fmt(_)
            | Command::Completions(_)
            | Command::Init(_)
            | Command::Lsp
            | Command::Import(_) => None,
        }
    }
}

/// Output format for commands whose output is data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Text for people.
    #[default]
    Human,
    /// One JSON document (or JSON lines where noted) for programs.
    Json,
}

/// What a subcommand ended with; mapped to the process exit code in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Findings = 1,
    Failure = 2,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let _ = STYLE.set(Style {
        quiet: cli.quiet,
        color: use_color(
            cli.color,
            std::env::var_os("NO_COLOR").as_deref(),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    });
    if let Some(paths) = cli.command.rule_paths() {
        let found = match &cli.config {
            Some(f) => Some(f.clone()),
            None => crate::config::discover(&default_paths(paths)),
        };
        if let Some(f) = found {
            match crate::config::load(&f) {
                Ok(c) => {
                    c.install();
                    let _ = CONFIG.set(c);
                }
                Err(e) => {
                    let format = match &cli.command {
                        Command::Config(a) => a.format,
                        _ => Format::Human,
                    };
                    print_diagnostics(&e.diagnostics, &e.sources, format);
                    return ExitCode::from(Exit::Failure as u8);
                }
            }
        }
    }
    let exit = match &cli.command {
        Command::Check(a) => check::run(a),
        Command::Compile(a) => compile::run(a),
        Command::Targets(a) => compile::targets(a),
        Command::Test(a) => test::run(a),
        Command::Run(a) => run::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Fmt(a) => fmt::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Coverage(a) => coverage::run(a),
        Command::Config(a) => config::run(a),
        Command::Init(a) => init::run(a),
        Command::Lsp => match crate::lsp::serve() {
            Ok(true) => Exit::Ok,
            // `exit` without `shutdown` first: 1, as LSP asks.
            Ok(false) => Exit::Findings,
            Err(e) => {
                err(&format!("{e}\n"));
                Exit::Failure
            }
        },
        Command::Import(a) => import::run(a),
    };
    ExitCode::from(exit as u8)
}

/// Writes to stdout; a closed pipe (`detc run ... | head`) is not an error.
pub(crate) fn out(text: &str) {
    out_bytes(text.as_bytes());
}

/// [`out`] of bytes already known to be text (JSON written by `serde_json`).
pub(crate) fn out_bytes(bytes: &[u8]) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(bytes);
    let _ = o.flush();
}

/// Writes to stderr.
pub(crate) fn err(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
}

/// The default rule path when none is given.
pub(crate) fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("rules")]
    } else {
        paths.to_vec()
    }
}

/// The rule files under `paths` for a command that reads them (`verb`: "check", "format"); a
/// load error, or no `*.detc` file at all (most likely a wrong path; passing would hide it in CI),
/// is printed here and returned as the command's exit.
pub(crate) fn rule_files(
    paths: &[PathBuf],
    verb: &str,
    format: Format,
) -> Result<Vec<crate::SourceFile>, Exit> {
    let files = match crate::load::load_sources(paths) {
        Ok(f) => f,
        Err(d) => {
            print_diagnostics(&[d], &crate::diag::SourceCache::new(), format);
            return Err(Exit::Failure);
        }
    };
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let d = crate::diag::Diagnostic::new(
            crate::diag::Code::E0003,
            format!("no rule files (*.detc) under {}", shown.join(", ")),
        )
        .at(crate::diag::Span::file(shown.join(", ")))
        .found("no *.detc file")
        .expected(format!("at least one rule file to {verb}"))
        .hint("check the path; folders are searched recursively for *.detc files");
        print_diagnostics(&[d], &crate::diag::SourceCache::new(), format);
        return Err(Exit::Failure);
    }
    Ok(files)
}

/// Loads and checks rules, printing diagnostics. Returns the pack, or the exit code to end with.
pub(crate) fn load_pack(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
) -> Result<(crate::Frontend, crate::ir::Pack), Exit> {
    let paths = default_paths(paths);
    let files = match crate::load::load_sources(&paths) {
        Ok(f) => f,
        Err(d) => {
            print_diagnostics(&[d], &crate::diag::SourceCache::new(), format);
            return Err(Exit::Failure);
        }
    };
    let mut fe = crate::frontend_with(&files, &crate::load::FsLoader::for_paths(&paths));
    if deny_warnings && deny(&mut fe.diagnostics) > 0 {
        fe.pack = None;
    }
    if !fe.diagnostics.is_empty() && (fe.pack.is_none() || format == Format::Human) {
        print_diagnostics(&fe.diagnostics, &fe.sources, format);
    }
    match fe.pack.clone() {
        Some(p) => Ok((fe, p)),
        None => Err(Exit::Findings),
    }
}

/// `--deny-warnings`: every warning becomes an error (rendered `error[W....]`, counted as an
/// error, exit 1). Returns how many were turned.
pub(crate) fn deny(diags: &mut [crate::diag::Diagnostic]) -> usize {
    let mut n = 0;
    for d in diags
        .iter_mut()
        .filter(|d| d.severity == crate::diag::Severity::Warning)
    {
        d.severity = crate::diag::Severity::Error;
        n += 1;
    }
    n
}

/// Diagnostics go to stderr as text (coloured per `--color`; only errors with `--quiet`), or to
/// stdout as JSON (always all of them, never coloured).
pub(crate) fn print_diagnostics(
    diags: &[crate::diag::Diagnostic],
    sources: &crate::diag::SourceCache,
    format: Format,
) {
    match format {
        Format::Human => {
            let st = style();
            let mut s = String::new();
            for d in diags.iter().filter(|d| !st.quiet || d.is_error()) {
                crate::diag::render_human_into(&mut s, d, sources, st.color);
                s.push('\n');
            }
            err(&s);
        }
        Format::Json => out(&(crate::diag::render_json(diags) + "\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::{use_color, ColorChoice};
    use std::ffi::OsStr;

    #[test]
    fn color_auto_needs_a_terminal_and_no_no_color() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(use_color(ColorChoice::Auto, None, true));
        assert!(use_color(ColorChoice::Auto, empty, true)); // an empty NO_COLOR is unset
        assert!(!use_color(ColorChoice::Auto, set, true));
        assert!(!use_color(ColorChoice::Auto, None, false));
        assert!(use_color(ColorChoice::Always, set, false));
        assert!(!use_color(ColorChoice::Never, None, true));
    }
}
