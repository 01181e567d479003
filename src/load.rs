//! Loading rule files from paths (files or folders), the only file-system edge of the frontend.

use crate::diag::{Diagnostic, Span};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The extension of rule files.
pub const RULE_EXT: &str = "detc";

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as given or found (forward slashes), used in diagnostics and reports.
    pub path: String,
    pub text: String,
}

/// Reads auxiliary files the checker needs (list files, fixture existence), relative to the
/// folder of the rule file that names them. A trait so tests can check without a file system.
pub trait Loader {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    fn exists(&self, path: &Path) -> bool;
}

pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// Expands folders (recursively, sorted by path for determinism) into `.detc` files and reads
/// them. An unreadable path is an I/O error (exit 2), returned as a diagnostic.
///
/// Symbolic links are followed, but each real folder is entered once and each real file read
/// once (both by canonical path): a link to a folder's own parent (`ln -s . again`) neither
/// loops nor loads a file twice. Of the paths that lead to one file, the first in sorted order is
/// the one reported.
pub fn load_sources(paths: &[PathBuf]) -> Result<Vec<SourceFile>, Diagnostic> {
    let mut walk = Walk::default();
    for p in paths {
        walk.collect(p)?;
    }
    let mut files = walk.files;
    files.sort();
    let mut seen_files = HashSet::new();
    let mut out = Vec::new();
    for f in files {
        let path = f.to_string_lossy().replace('\\', "/");
        let real = std::fs::canonicalize(&f).map_err(|e| io_error(&path, &e))?;
        if !seen_files.insert(real) {
            continue;
        }
        let bytes = std::fs::read(&f).map_err(|e| io_error(&path, &e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Diagnostic::error("E0002", format!("`{path}` is not UTF-8 text"))
                .at(Span::file(&path))
                .found(format!(
                    "invalid UTF-8 at byte {}",
                    e.utf8_error().valid_up_to()
                ))
                .expected("a UTF-8 encoded .detc rule file")
        })?;
        out.push(SourceFile { path, text });
    }
    Ok(out)
}

/// The state of a walk over the given paths: the files found, and the real (canonical) folders
/// already entered.
#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    seen_dirs: HashSet<PathBuf>,
}

impl Walk {
    fn collect(&mut self, p: &Path) -> Result<(), Diagnostic> {
        let path = p.to_string_lossy().replace('\\', "/");
        let meta = std::fs::metadata(p).map_err(|e| io_error(&path, &e))?;
        if !meta.is_dir() {
            self.files.push(p.to_path_buf());
            return Ok(());
        }
        let real = std::fs::canonicalize(p).map_err(|e| io_error(&path, &e))?;
        if !self.seen_dirs.insert(real) {
            return Ok(()); // a loop, or a second way into a folder already walked
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| io_error(&path, &e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == RULE_EXT) {
                self.collect(&e)?;
            }
        }
        Ok(())
    }
}

pub fn io_error(path: &str, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error("E0001", format!("cannot read `{path}`: {e}"))
        .at(Span::file(path))
        .hint("check the path; folders are searched for *.detc files")
}
