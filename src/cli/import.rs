use super::{Exit, Format};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Import rules from another language as formatted detc rule files.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: From,
}

#[derive(Debug, clap::Subcommand)]
pub enum From {
    /// Sigma rules (files or folders of .yml) -> one checked, formatted .detc file per rule.
    Sigma(SigmaArgs),
}

/// Each Sigma rule is translated exactly or refused: a construct detc cannot express, a field
/// the import table does not map or a log source it does not know is one located error naming
/// it (E0700-E0704), and that rule is skipped. docs/SIGMA.md has the mapping.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  detc import sigma sigma/rules/windows/process_creation --out rules/imported
  detc import sigma rule.yml --out imported/ --format json

Output: DIR/<path below the folder given>/<rule file name>.detc, one per rule. A summary counts
imported and refused rules by reason, per folder (stderr; --format json: one document on stdout).

Exit status: 0 every rule imported, 1 some rule refused, 2 a path cannot be read or written.")]
pub struct SigmaArgs {
    /// Sigma rule files or folders (searched recursively for .yml and .yaml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Folder to write the .detc files into (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Output format of the report: human (stderr) or json (stdout).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &ImportArgs) -> Exit {
    match &args.from {
        From::Sigma(a) => sigma(a),
    }
}

#[derive(Default, serde::Serialize)]
struct FolderCount {
    folder: String,
    imported: usize,
    refused: usize,
    /// Reason -> rules refused for it.
    reasons: BTreeMap<String, usize>,
}

fn sigma(args: &SigmaArgs) -> Exit {
    let files = match crate::import::find(&args.paths) {
        Ok(f) => f,
        Err(d) => {
            super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), args.format);
            return Exit::Failure;
        }
    };
    let mut sources = crate::diag::SourceCache::new();
    let mut diags = Vec::new();
    let mut outcomes = Vec::new();
    let mut io_failed = false;
    // Read every file first: a correlation may refer to base rules of another file.
    let mut inputs = Vec::new();
    for (file, rel) in &files {
        match std::fs::read_to_string(file) {
            Ok(t) => {
                sources.insert(file.to_string_lossy().replace('\\', "/"), t.clone());
                inputs.push((file.clone(), rel.clone(), t));
            }
            Err(e) => {
                diags.push(crate::load::io_error(&file.to_string_lossy(), &e));
                io_failed = true;
            }
        }
    }
    outcomes.extend(crate::import::import_files(&inputs));
    // Two rules may not land on one file: the second is refused, not written over the first.
    let mut written: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut rules = Vec::new();
    let mut folders: BTreeMap<String, FolderCount> = BTreeMap::new();
    for o in &mut outcomes {
        if let Ok(imp) = &o.result {
            if let Some(first) = written.get(&imp.relative) {
                let d = crate::diag::Diagnostic::new(
                    crate::diag::Code::E0704,
                    format!(
                        "Sigma rule not imported: {} is already written from {first}",
                        imp.relative.display()
                    ),
                )
                .at(crate::diag::Span::file(o.file.clone()))
                .found(format!("two rules named `{}`", imp.name))
                .expected("one rule file name per output file")
                .hint("import the folders separately, into different --out folders");
                o.result = Err(crate::import::Refused {
                    reason: "E0704 output file name taken".into(),
                    diagnostic: d,
                });
            } else {
                written.insert(imp.relative.clone(), o.file.clone());
            }
        }
        let f = folders
            .entry(o.folder.clone())
            .or_insert_with(|| FolderCount {
                folder: o.folder.clone(),
                ..Default::default()
            });
        match &o.result {
            Ok(imp) => {
                f.imported += 1;
                diags.extend(imp.warnings.iter().cloned());
                let target = args.out.join(&imp.relative);
                let res = target
                    .parent()
                    .map(std::fs::create_dir_all)
                    .unwrap_or(Ok(()))
                    .and_then(|_| std::fs::write(&target, &imp.text));
                if let Err(e) = res {
                    diags.push(crate::load::io_error(&target.to_string_lossy(), &e));
                    io_failed = true;
                }
                rules.push(serde_json::json!({
                    "source": o.file, "title": o.title, "rule": imp.name,
                    "output": target.to_string_lossy().replace('\\', "/"),
                }));
            }
            Err(r) => {
                f.refused += 1;
                *f.reasons.entry(r.reason.clone()).or_default() += 1;
                diags.push(r.diagnostic.clone());
                rules.push(serde_json::json!({
                    "source": o.file, "title": o.title, "refused": r.reason,
                    "code": r.diagnostic.code.as_str(),
                }));
            }
        }
    }
    crate::diag::sort(&mut diags);
    let imported: usize = folders.values().map(|f| f.imported).sum();
    let refused: usize = folders.values().map(|f| f.refused).sum();
    match args.format {
        Format::Json => {
            let diagnostics: serde_json::Value =
                serde_json::from_str(&crate::diag::render_json(&diags))
                    .unwrap_or(serde_json::Value::Null);
            let doc = serde_json::json!({
                "imported": imported,
                "refused": refused,
                "folders": folders.values().collect::<Vec<_>>(),
                "rules": rules,
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
                super::err(&summary(&folders, imported, refused));
            }
        }
    }
    if io_failed {
        Exit::Failure
    } else if refused > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

fn summary(folders: &BTreeMap<String, FolderCount>, imported: usize, refused: usize) -> String {
    let mut s = String::new();
    for f in folders.values() {
        let total = f.imported + f.refused;
        let pct = if total > 0 {
            100.0 * f.imported as f64 / total as f64
        } else {
            0.0
        };
        // A folder's name and a refusal's reason come from the files read: shown as a
        // terminal may show them (see `diag::shown`).
        s.push_str(&format!(
            "{}: {} of {} rule(s) imported ({pct:.1}%), {} refused\n",
            crate::diag::shown(&f.folder),
            f.imported,
            total,
            f.refused
        ));
        let mut reasons: Vec<(&String, &usize)> = f.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (r, n) in reasons {
            s.push_str(&format!("  {n:>4}  {}\n", crate::diag::shown(r)));
        }
    }
    s.push_str(&format!("imported {imported} rule(s), refused {refused}\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary shows a folder's name and a reason escaped (a Sigma tree is someone
    /// else's files): no character a terminal acts on reaches it.
    #[test]
    fn the_summary_shows_names_and_reasons_escaped() {
        let mut folders = BTreeMap::new();
        let mut reasons = BTreeMap::new();
        reasons.insert("unsupported `\u{1b}[2J`".to_string(), 2);
        folders.insert(
            "x".to_string(),
            FolderCount {
                folder: "rules/\u{9b}31m\u{202e}".into(),
                imported: 1,
                refused: 2,
                reasons,
            },
        );
        let s = summary(&folders, 1, 2);
        assert!(
            !s.chars().any(|c| crate::diag::acted_on(c) && c != '\n'),
            "{s:?}"
        );
        assert!(
            s.starts_with("rules/\\u{9b}31m\\u{202e}: 1 of 3 rule(s) imported"),
            "{s}"
        );
        assert!(s.contains("     2  unsupported `\\u{1b}[2J`\n"), "{s}");
    }
}
