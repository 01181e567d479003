//! `detc init [DIR]`: scaffolds a rule-pack repository that passes its own pipeline from the
//! first commit: a sample rule with a must-alert and a must-not-alert test and their fixtures, a
//! lists file and a list file, detc.yaml, a GitHub workflow running fmt --check, check
//! --deny-warnings, test and compile --check, and the compiled queries that last step compares
//! with. Nothing is ever overwritten: when any of these paths exists, nothing is written.

use super::{Exit, Format};
use crate::diag::{Code, Diagnostic, SourceCache, Span};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  detc init my-pack                   a new pack in my-pack/ (made if missing)
  detc init                           a new pack in the current folder

Exit status: 0 written, 2 a file to write exists already (nothing is written) or cannot be
written.")]
pub struct InitArgs {
    /// The folder of the new pack (made if missing). Default: the current folder.
    pub dir: Option<PathBuf>,
}

/// (path in the pack, text): the templates under src/cli/init/.
const FILES: &[(&str, &str)] = &[
    ("detc.yaml", include_str!("init/detc.yaml")),
    (".github/workflows/detc.yml", include_str!("init/detc.yml")),
    ("rules/lists.detc", include_str!("init/lists.detc")),
    (
        "rules/lists/scripting_hosts.txt",
        include_str!("init/scripting_hosts.txt"),
    ),
    (
        "rules/example_script_host_mail.detc",
        include_str!("init/example_script_host_mail.detc"),
    ),
    (
        "rules/fixtures/example/powershell_smtp.jsonl",
        include_str!("init/powershell_smtp.jsonl"),
    ),
    (
        "rules/fixtures/example/powershell_https.jsonl",
        include_str!("init/powershell_https.jsonl"),
    ),
];

/// The folder the compiled queries go to (detc.yaml's `defaults.compile.out`).
const QUERIES: &str = "queries";

fn refuse(path: &Path) -> Diagnostic {
    let shown = path.to_string_lossy().replace('\\', "/");
    Diagnostic::new(
        Code::E0005,
        format!("refusing to overwrite `{shown}`: detc init writes only new files"),
    )
    .at(Span::file(&shown))
    .found(format!("`{shown}` exists"))
    .expected("a folder without the files detc init writes")
    .hint("run detc init in an empty folder (or a new one: `detc init my-pack`)")
}

pub fn run(args: &InitArgs) -> Exit {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let sources = SourceCache::new();
    // Every path first: one that exists (a file, a folder or a link) stops everything.
    let mut existing: Vec<Diagnostic> = FILES
        .iter()
        .map(|(p, _)| dir.join(p))
        .chain([dir.join(QUERIES)])
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| refuse(&p))
        .collect();
    if !existing.is_empty() {
        // The first says it; the rest would say the same.
        let more = existing.len() - 1;
        existing.truncate(1);
        if more > 0 {
            existing[0] = existing[0].clone().hint(format!(
                "{more} more of the paths detc init writes exist as well"
            ));
        }
        super::print_diagnostics(&existing, &sources, Format::Human);
        return Exit::Failure;
    }
    for (p, text) in FILES {
        let path = dir.join(p);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                // `create_new`: a file that appeared since the check above is not overwritten.
                use std::io::Write;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(text.as_bytes()))
            });
        if let Err(e) = written {
            let shown = path.to_string_lossy().replace('\\', "/");
            let d = Diagnostic::new(Code::E0005, format!("cannot write `{shown}`: {e}"))
                .at(Span::file(&shown));
            super::print_diagnostics(&[d], &sources, Format::Human);
            return Exit::Failure;
        }
    }
    // The committed queries `compile --check` compares with, as `detc compile rules/` writes
    // them with this detc.yaml (target all, out queries).
    let compiled = super::compile::run(&super::compile::CompileArgs {
        paths: vec![dir.join("rules")],
        target: Some("all".into()),
        out: Some(dir.join(QUERIES)),
        check: false,
        format: Format::Human,
        deny_warnings: false,
    });
    if compiled != Exit::Ok {
        return compiled;
    }
    if !super::quiet() {
        let mut s = String::new();
        for (p, _) in FILES {
            s.push_str(&format!("created {}\n", dir.join(p).display()));
        }
        s.push_str(&format!(
            "created {}/ (the compiled queries)\nnext: cd {} && git init && detc test rules/\n",
            dir.join(QUERIES).display(),
            dir.display()
        ));
        super::err(&s);
    }
    Exit::Ok
}
