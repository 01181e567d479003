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

/// The largest list file read, in bytes (8 MiB, some 500,000 typical entries): a list file is
/// read whole into memory and every entry ends up in emitted queries, so a bigger file is far more
/// likely a mistake (`file("/dev/zero")`, a log) than a list. Checked on the file's size before
/// reading, and again while reading (the file may grow).
pub const MAX_LIST_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Why a list file was not read.
#[derive(Debug)]
pub enum ListFileError {
    /// It cannot be read (missing, no permission, not UTF-8).
    Io(std::io::Error),
    /// After following links it is outside every pack root; `roots` as given, for the message.
    OutsidePack { roots: Vec<String> },
    /// It is not a regular file (a folder, FIFO, device, socket); never opened.
    NotRegular { what: &'static str },
    /// It is larger than [`MAX_LIST_FILE_BYTES`].
    TooLarge { size: u64 },
}

/// Reads auxiliary files the checker needs (list files, fixture existence), relative to the
/// folder of the rule file that names them. A trait so tests can check without a file system.
pub trait Loader {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    fn exists(&self, path: &Path) -> bool;
    /// Reads a list file. A loader over the file system confines it ([`FsLoader`]).
    fn read_list(&self, path: &Path) -> Result<String, ListFileError> {
        self.read(path).map_err(ListFileError::Io)
    }
}

/// The file-system loader. List files are confined to the pack roots: after resolving every
/// symbolic link (canonical path), a list file must lie inside one of them, be a regular file and
/// hold at most [`MAX_LIST_FILE_BYTES`].
///
/// A pack root is a folder given on the command line (`detc check rules/`: `rules/`), or, for a
/// rule file given directly, the folder that holds it ([`FsLoader::for_paths`]).
pub struct FsLoader {
    /// (the root as given, for messages; its canonical path), for each pack root.
    roots: Vec<(String, PathBuf)>,
}

impl FsLoader {
    /// The loader whose pack roots are `paths`: each folder itself, each file's folder. A path
    /// that cannot be resolved gives no root (loading it fails on its own).
    pub fn for_paths(paths: &[PathBuf]) -> FsLoader {
        let mut roots: Vec<(String, PathBuf)> = Vec::new();
        for p in paths {
            let dir = if p.is_dir() {
                p.clone()
            } else {
                match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                }
            };
            if let Ok(real) = std::fs::canonicalize(&dir) {
                if !roots.iter().any(|(_, r)| *r == real) {
                    roots.push((dir.to_string_lossy().replace('\\', "/"), real));
                }
            }
        }
        FsLoader { roots }
    }
}

impl Loader for FsLoader {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn read_list(&self, path: &Path) -> Result<String, ListFileError> {
        let real = std::fs::canonicalize(path).map_err(ListFileError::Io)?;
        if !self.roots.iter().any(|(_, r)| real.starts_with(r)) {
            return Err(ListFileError::OutsidePack {
                roots: self.roots.iter().map(|(g, _)| g.clone()).collect(),
            });
        }
        // The kind and size come from the metadata, so a FIFO (which would block) or a device
        // (which may never end) is refused without being opened.
        let meta = std::fs::metadata(&real).map_err(ListFileError::Io)?;
        regular_within_cap(&meta)?;
        let file = std::fs::File::open(&real).map_err(ListFileError::Io)?;
        // Again on the opened file: the path may have been replaced since.
        regular_within_cap(&file.metadata().map_err(ListFileError::Io)?)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_LIST_FILE_BYTES + 1),
            &mut bytes,
        )
        .map_err(ListFileError::Io)?;
        if bytes.len() as u64 > MAX_LIST_FILE_BYTES {
            return Err(ListFileError::TooLarge {
                size: bytes.len() as u64,
            });
        }
        String::from_utf8(bytes)
            .map_err(|e| ListFileError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }
}

fn regular_within_cap(meta: &std::fs::Metadata) -> Result<(), ListFileError> {
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(ListFileError::NotRegular {
            what: file_kind(&ft),
        });
    }
    if meta.len() > MAX_LIST_FILE_BYTES {
        return Err(ListFileError::TooLarge { size: meta.len() });
    }
    Ok(())
}

/// What a non-regular file is, in words.
fn file_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a folder"
    } else {
        "not a regular file"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("detc-load-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| unreachable!("{e}"));
        d
    }

    #[test]
    fn a_list_file_over_the_cap_is_refused_by_size_and_one_at_the_cap_is_read() {
        let d = tmp("cap");
        let loader = FsLoader::for_paths(std::slice::from_ref(&d));
        // Sparse files: the size is what counts, not the bytes on disk.
        let big = d.join("big.txt");
        let f = std::fs::File::create(&big).unwrap_or_else(|e| unreachable!("{e}"));
        f.set_len(MAX_LIST_FILE_BYTES + 1)
            .unwrap_or_else(|e| unreachable!("{e}"));
        match loader.read_list(&big) {
            Err(ListFileError::TooLarge { size }) => assert_eq!(size, MAX_LIST_FILE_BYTES + 1),
            other => unreachable!("{other:?}"),
        }
        f.set_len(MAX_LIST_FILE_BYTES)
            .unwrap_or_else(|e| unreachable!("{e}"));
        match loader.read_list(&big) {
            Ok(t) => assert_eq!(t.len() as u64, MAX_LIST_FILE_BYTES),
            other => unreachable!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn pack_roots_are_the_folders_given_or_the_folders_of_files_given() {
        let d = tmp("roots");
        std::fs::create_dir_all(d.join("sub")).unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::write(d.join("sub/r.detc"), "").unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::write(d.join("l.txt"), "a\n").unwrap_or_else(|e| unreachable!("{e}"));
        let by_folder = FsLoader::for_paths(std::slice::from_ref(&d));
        assert!(by_folder.read_list(&d.join("sub/../l.txt")).is_ok());
        let by_file = FsLoader::for_paths(&[d.join("sub/r.detc")]);
        assert!(matches!(
            by_file.read_list(&d.join("sub/../l.txt")),
            Err(ListFileError::OutsidePack { .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }
}
