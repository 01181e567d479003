use super::{Exit, Format};
use crate::diag::Diagnostic;
use std::path::{Path, PathBuf};

/// Format rule files in the one canonical layout (docs/LANGUAGE.md, "Formatting").
///
/// Rewrites each file that is not formatted, in place (through a temporary file in the same
/// folder, renamed over it, so an interrupted run never leaves half a rule). With --check nothing
/// is written: each file that is not formatted is shown as a unified diff. A file that does not
/// parse is reported with the usual located error and never rewritten.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  detc fmt                            format every *.detc file under rules/
  detc fmt --check rules/             in CI: exit 1 with a diff if a file is not formatted
  detc fmt --check --format json      which files would change, as JSON on stdout

Exit status: 0 all files formatted (or rewritten), 1 a file is not formatted (--check) or does
not parse, 2 a path cannot be read or written, or holds no rule file.")]
pub struct FmtArgs {
    /// Rule files or folders (searched for *.detc). Default: rules/
    pub paths: Vec<PathBuf>,
    /// Write nothing; exit 1 with a unified diff per file that is not formatted.
    #[arg(long)]
    pub check: bool,
    /// Output format: human (diffs on stdout, summary on stderr) or json (stdout).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(serde::Serialize)]
struct FileReport {
    path: String,
    /// The file is not (was not) in the canonical layout; null when it does not parse.
    changed: Option<bool>,
}

pub fn run(args: &FmtArgs) -> Exit {
    let paths = super::default_paths(&args.paths);
    let files = match super::rule_files(&paths, "format", args.format) {
        Ok(f) => f,
        Err(exit) => return exit,
    };
    let mut sources = crate::diag::SourceCache::new();
    let mut diags = Vec::new();
    let mut reports = Vec::new();
    let mut io_failed = false;
    for f in &files {
        sources.insert(f.path.clone(), f.text.clone());
        let formatted = match crate::syntax::fmt::format(&f.path, &f.text) {
            Ok(t) => t,
            Err(mut ds) => {
                diags.append(&mut ds);
                reports.push(FileReport {
                    path: f.path.clone(),
                    changed: None,
                });
                continue;
            }
        };
        let changed = formatted != f.text;
        if changed && args.check && args.format == Format::Human {
            let diff = similar::TextDiff::from_lines(&f.text, &formatted);
            super::out(&format!(
                "{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header(&f.path, &format!("{} (formatted)", f.path))
            ));
        }
        if changed && !args.check {
            if let Err(e) = write_atomically(Path::new(&f.path), &formatted) {
                diags.push(crate::load::io_error(&f.path, &e));
                io_failed = true;
            }
        }
        reports.push(FileReport {
            path: f.path.clone(),
            changed: Some(changed),
        });
    }
    crate::diag::sort(&mut diags);
    let changed = reports.iter().filter(|r| r.changed == Some(true)).count();
    match args.format {
        Format::Json => {
            let diagnostics: serde_json::Value =
                serde_json::from_str(&crate::diag::render_json(&diags))
                    .unwrap_or(serde_json::Value::Null);
            let doc = serde_json::json!({
                "files": reports,
                "changed": changed,
                "diagnostics": diagnostics["diagnostics"],
            });
            super::out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ));
        }
        Format::Human => {
            super::print_diagnostics(&diags, &sources, args.format);
            if !super::quiet() {
                let verb = if args.check {
                    "not formatted"
                } else {
                    "reformatted"
                };
                super::err(&format!(
                    "{} file(s): {changed} {verb}, {} refused\n",
                    files.len(),
                    reports.iter().filter(|r| r.changed.is_none()).count()
                ));
            }
        }
    }
    if io_failed {
        Exit::Failure
    } else if diags.iter().any(Diagnostic::is_error) || (args.check && changed > 0) {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

/// Writes `text` to a temporary file next to `path` and renames it over `path`, keeping the
/// file's permissions: a run that stops half-way leaves the old file or the new one, never a
/// truncated one.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.fmt-{}.tmp", std::process::id()));
    let result = (|| {
        std::fs::write(&tmp, text)?;
        std::fs::set_permissions(&tmp, std::fs::metadata(path)?.permissions())?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
