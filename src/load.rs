//! Loading rule files from paths (files or folders), the only file-system edge of the frontend.

use crate::diag::{Code, Diagnostic, Span};
use std::collections::HashSet;
use std::io::Read;
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

/// The largest rule-test fixture read, in bytes (32 MiB, as stored: compressed for `.gz`). A
/// fixture is larger than a list by nature (whole events, not single values; the biggest in
/// `rules/fixtures/` is a 0.5 MB capture of real events) but `detc test` holds all of a
/// fixture's events in memory at once, and a fixture lives in the repository beside its rule:
/// 32 MiB (some 100,000 events of a real capture) is room for a real log slice, and past it the
/// file is more likely a whole log or a device than a test. Checked like the list cap.
pub const MAX_FIXTURE_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// The auxiliary files of a pack that are confined to it: what they are changes only the wording
/// and the size cap, the rules are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackFile {
    /// A list file, `file("...")` in a list declaration.
    List,
    /// A rule test's event file, `events "..."` in a test.
    Fixture,
}

impl PackFile {
    pub fn cap(self) -> u64 {
        match self {
            PackFile::List => MAX_LIST_FILE_BYTES,
            PackFile::Fixture => MAX_FIXTURE_FILE_BYTES,
        }
    }
    fn noun(self) -> &'static str {
        match self {
            PackFile::List => "list file",
            PackFile::Fixture => "test fixture",
        }
    }
    fn relative(self) -> &'static str {
        match self {
            PackFile::List => {
                "the path is relative to the folder of the file that declares the list"
            }
            PackFile::Fixture => "the path is relative to the folder of the rule file",
        }
    }
    fn content(self) -> &'static str {
        match self {
            PackFile::List => "a regular text file, one value per line",
            PackFile::Fixture => "a regular event file (JSON lines, CSV or a Zeek log, or .gz)",
        }
    }
}

/// Why a list file or fixture was not read. Reported as a diagnostic by
/// [`PackFileError::diagnostic`]; the `Display` (from thiserror) is the short reason, and an
/// I/O error converts with `?`.
#[derive(Debug, thiserror::Error)]
pub enum PackFileError {
    /// It cannot be read (missing, no permission, not UTF-8).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// After following links it is outside every pack root; `roots` as given, for the message.
    #[error("outside the pack's folder ({})", roots.join(", "))]
    OutsidePack { roots: Vec<String> },
    /// It is not a regular file (a folder, FIFO, device, socket); never opened.
    #[error("not a regular file: {what}")]
    NotRegular { what: &'static str },
    /// It is larger than its cap ([`PackFile::cap`]).
    #[error("{size} bytes or more")]
    TooLarge { size: u64 },
}

impl PackFileError {
    /// The diagnostic (E0234 for an unreadable list, E0260 for an unreadable fixture, E0237 to
    /// E0239 for either), without its span; `shown` is the path as resolved.
    pub fn diagnostic(self, kind: PackFile, shown: &str) -> Diagnostic {
        let noun = kind.noun();
        match self {
            PackFileError::Io(e) => match kind {
                PackFile::List => {
                    Diagnostic::new(Code::E0234, format!("cannot read list file {shown}"))
                        .found(e.to_string())
                        .expected("a readable text file, one value per line")
                        .hint(kind.relative())
                }
                PackFile::Fixture => {
                    // Not found: the caller says which path was written (`found`).
                    let d = if e.kind() == std::io::ErrorKind::NotFound {
                        Diagnostic::new(Code::E0260, format!("test fixture not found: {shown}"))
                    } else {
                        Diagnostic::new(Code::E0260, format!("cannot read test fixture {shown}"))
                            .found(e.to_string())
                    };
                    d.expected("an event file that exists").hint(kind.relative())
                }
            },
            PackFileError::OutsidePack { roots } => Diagnostic::new(
                Code::E0237,
                format!("{noun} {shown} is outside the pack's folder"),
            )
            .found(format!(
                "a path that, once links are followed, leads out of {}",
                roots
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .expected(format!("a {noun} inside the pack's folder (the folder given to detc)"))
            .hint(match kind {
                PackFile::List => "copy the list into the pack's folder (e.g. lists/) and name it relative to the rule file",
                PackFile::Fixture => "copy the events into the pack's folder (e.g. fixtures/) and name them relative to the rule file",
            }),
            PackFileError::NotRegular { what } => Diagnostic::new(
                Code::E0238,
                format!("{noun} {shown} is not a regular file"),
            )
            .found(what)
            .expected(kind.content())
            .hint(kind.relative()),
            PackFileError::TooLarge { size } => Diagnostic::new(
                Code::E0239,
                format!("{noun} {shown} is too large"),
            )
            .found(format!("{size} bytes or more"))
            .expected(format!(
                "at most {} bytes ({} MiB)",
                kind.cap(),
                kind.cap() / (1024 * 1024)
            ))
            .hint(match kind {
                PackFile::List => "split the list, or keep such large sets in the SIEM (a watchlist or lookup)",
                PackFile::Fixture => "keep only the events the test needs, or compress the fixture (.gz)",
            }),
        }
    }
}

/// Reads auxiliary files the checker needs (list files, fixtures), relative to the folder of
/// the rule file that names them. A trait so tests can check without a file system.
pub trait Loader {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    fn exists(&self, path: &Path) -> bool;
    /// Reads a list file. A loader over the file system confines it ([`FsLoader`]).
    fn read_list(&self, path: &Path) -> Result<String, PackFileError> {
        self.read(path).map_err(PackFileError::Io)
    }
    /// Whether a fixture would be read (the checker's test), without reading it.
    fn check_fixture(&self, path: &Path) -> Result<(), PackFileError> {
        if self.exists(path) {
            Ok(())
        } else {
            Err(PackFileError::Io(std::io::ErrorKind::NotFound.into()))
        }
    }
    /// Opens a fixture for `detc test` (raw bytes; the event reader decompresses `.gz`).
    fn open_fixture(&self, path: &Path) -> Result<Box<dyn Read + Send>, PackFileError> {
        let f = std::fs::File::open(path)?;
        Ok(Box::new(f))
    }
}

/// The file-system loader. List files and fixtures are confined to the pack roots: after
/// resolving every symbolic link (canonical path), such a file must lie inside one of them, be a
/// regular file and hold at most its cap ([`PackFile::cap`]).
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

    /// Opens a pack file once it is known to be inside a pack root, regular and within its
    /// cap. The reader it returns fails (rather than stops) past the cap: the file may grow.
    fn open_confined(&self, path: &Path, kind: PackFile) -> Result<Capped, PackFileError> {
        let real = std::fs::canonicalize(path)?;
        if !self.roots.iter().any(|(_, r)| real.starts_with(r)) {
            return Err(PackFileError::OutsidePack {
                roots: self.roots.iter().map(|(g, _)| g.clone()).collect(),
            });
        }
        // The kind and size come from the metadata, so a FIFO (which would block) or a device
        // (which may never end) is refused without being opened.
        let meta = std::fs::metadata(&real)?;
        regular_within_cap(&meta, kind.cap())?;
        let file = std::fs::File::open(&real)?;
        // Again on the opened file: the path may have been replaced since.
        regular_within_cap(&file.metadata()?, kind.cap())?;
        Ok(Capped {
            inner: file.take(kind.cap() + 1),
            cap: kind.cap(),
            read: 0,
        })
    }
}

/// A reader over a confined file that fails with [`TooLarge`](PackFileError::TooLarge) (as an
/// I/O error of kind `FileTooLarge`, see [`Capped::too_large`]) once more than `cap` bytes came.
/// The largest fixture [`FsLoader::open_fixture`] serves from memory: the capacity of the
/// evaluator's reader ([`crate::eval::read::open_reader`]), which reads at most that at once.
const FIXTURE_IN_MEMORY: u64 = 1 << 20;

struct Capped {
    inner: std::io::Take<std::fs::File>,
    cap: u64,
    read: u64,
}

impl Capped {
    /// The error a read past the cap gives, with the size read so far.
    fn too_large(read: u64) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("{read} bytes or more"),
        )
    }
}

impl Read for Capped {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(Capped::too_large(self.read));
        }
        Ok(n)
    }
}

impl Loader for FsLoader {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn read_list(&self, path: &Path) -> Result<String, PackFileError> {
        let mut file = self.open_confined(path, PackFile::List)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::FileTooLarge {
                PackFileError::TooLarge { size: file.read }
            } else {
                PackFileError::Io(e)
            }
        })?;
        String::from_utf8(bytes)
            .map_err(|e| PackFileError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }
    fn check_fixture(&self, path: &Path) -> Result<(), PackFileError> {
        self.open_confined(path, PackFile::Fixture).map(drop)
    }
    /// A fixture of at most [`FIXTURE_IN_MEMORY`] bytes is read whole and served from memory:
    /// the evaluator's 1 MiB `BufReader` zeroes its whole buffer before the first `read` of a
    /// reader that has no `read_buf` of its own (as [`Capped`]), 42M of the 171M instructions
    /// `detc run rules` spent starting (86 fixtures peeked by lint W0283). A larger fixture
    /// streams on after the bytes read; a read that fails is redone on the file as it streams,
    /// so that the error comes where and as it did.
    fn open_fixture(&self, path: &Path) -> Result<Box<dyn Read + Send>, PackFileError> {
        let mut file = self.open_confined(path, PackFile::Fixture)?;
        let mut head = Vec::new();
        match (&mut file)
            .take(FIXTURE_IN_MEMORY + 1)
            .read_to_end(&mut head)
        {
            Ok(n) if n as u64 <= FIXTURE_IN_MEMORY => Ok(Box::new(std::io::Cursor::new(head))),
            Ok(_) => Ok(Box::new(std::io::Cursor::new(head).chain(file))),
            Err(_) => Ok(Box::new(self.open_confined(path, PackFile::Fixture)?)),
        }
    }
}

fn regular_within_cap(meta: &std::fs::Metadata, cap: u64) -> Result<(), PackFileError> {
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(PackFileError::NotRegular {
            what: file_kind(&ft),
        });
    }
    if meta.len() > cap {
        return Err(PackFileError::TooLarge { size: meta.len() });
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
    let mut walk = Walk::new(|p| p.extension().is_some_and(|x| x == RULE_EXT), io_error);
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
            Diagnostic::new(Code::E0002, format!("`{path}` is not UTF-8 text"))
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
struct Walk {
    files: Vec<PathBuf>,
    seen_dirs: HashSet<PathBuf>,
    /// Which files found in a folder are kept (a path given directly always is).
    keep: fn(&Path) -> bool,
    /// Skip entries whose name starts with a dot.
    skip_hidden: bool,
    /// The diagnostic for a path that cannot be read.
    error: fn(&str, &std::io::Error) -> Diagnostic,
}

impl Walk {
    fn new(keep: fn(&Path) -> bool, error: fn(&str, &std::io::Error) -> Diagnostic) -> Walk {
        Walk {
            files: Vec::new(),
            seen_dirs: HashSet::new(),
            keep,
            skip_hidden: false,
            error,
        }
    }

    fn collect(&mut self, p: &Path) -> Result<(), Diagnostic> {
        let path = p.to_string_lossy().replace('\\', "/");
        let meta = std::fs::metadata(p).map_err(|e| (self.error)(&path, &e))?;
        if !meta.is_dir() {
            self.files.push(p.to_path_buf());
            return Ok(());
        }
        let real = std::fs::canonicalize(p).map_err(|e| (self.error)(&path, &e))?;
        if !self.seen_dirs.insert(real) {
            return Ok(()); // a loop, or a second way into a folder already walked
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| (self.error)(&path, &e))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| (self.error)(&path, &e))?;
        entries.sort();
        for e in entries {
            let hidden = e
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if self.skip_hidden && hidden {
                continue;
            }
            if e.is_dir() || (self.keep)(&e) {
                self.collect(&e)?;
            }
        }
        Ok(())
    }
}

/// The extensions of event files a folder given to `detc run -e` is searched for, each also
/// with `.gz` after it (`conn.log.gz`). Other files in the folder (notes, checksums, a
/// `.tar`) are not events and are left alone; a file given by name is read whatever its name.
pub const EVENT_EXTS: &[&str] = &["json", "jsonl", "ndjson", "log", "csv", "tsv"];

/// Whether a file found in a folder is an event file ([`EVENT_EXTS`], optionally gzipped).
pub fn is_event_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && EVENT_EXTS.contains(&ext))
}

/// The event files under `dir`: recursively, sorted by path, hidden files and folders (a name
/// starting with a dot) skipped, links followed with each real folder entered once (a link
/// loop ends), the same walk as [`load_sources`]. A file reached by two paths is listed twice:
/// the run reads it once and says so. An unreadable folder is an I/O error (E0800).
pub fn event_files(dir: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    fn error(path: &str, e: &std::io::Error) -> Diagnostic {
        Diagnostic::new(Code::E0800, format!("`{path}` cannot be read: {e}")).at(Span::file(path))
    }
    let mut walk = Walk::new(is_event_file, error);
    walk.skip_hidden = true;
    walk.collect(dir)?;
    let mut files = walk.files;
    files.sort();
    Ok(files)
}

pub fn io_error(path: &str, e: &std::io::Error) -> Diagnostic {
    Diagnostic::new(Code::E0001, format!("cannot read `{path}`: {e}"))
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
            Err(PackFileError::TooLarge { size }) => assert_eq!(size, MAX_LIST_FILE_BYTES + 1),
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

    /// A fixture served from memory ([`FIXTURE_IN_MEMORY`] bytes or fewer) or from memory and
    /// then the file reads as the file's bytes: empty, at, around and past the limit.
    #[test]
    fn a_fixture_opened_reads_as_its_bytes_whether_in_memory_or_streamed() {
        let d = tmp("fixture");
        let loader = FsLoader::for_paths(std::slice::from_ref(&d));
        let lim = FIXTURE_IN_MEMORY as usize;
        for len in [0, 1, 4095, lim - 1, lim, lim + 1, lim + 4097, 3 * lim] {
            // Lines of non-ASCII text, so that any lost or doubled byte shows.
            let bytes: Vec<u8> = "{\"k\":\"é\\\"\"}\n"
                .bytes()
                .cycle()
                .zip(0..len)
                .map(|(b, i)| b ^ (i / 4096) as u8 & 1)
                .collect();
            let p = d.join("f.jsonl");
            std::fs::write(&p, &bytes).unwrap_or_else(|e| unreachable!("{e}"));
            let mut back = Vec::new();
            let mut r = loader
                .open_fixture(&p)
                .unwrap_or_else(|e| unreachable!("{e:?}"));
            // Small reads too, as a reader's buffer does not always ask for a whole file.
            let mut chunk = [0u8; 7];
            let n = r.read(&mut chunk).unwrap_or_else(|e| unreachable!("{e}"));
            back.extend_from_slice(&chunk[..n]);
            r.read_to_end(&mut back)
                .unwrap_or_else(|e| unreachable!("{e}"));
            assert!(back == bytes, "length {len}");
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
            Err(PackFileError::OutsidePack { .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }
}
