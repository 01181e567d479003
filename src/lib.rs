//! detc: a detection-as-code compiler.
//!
//! | stage | input | output | module |
//! |---|---|---|---|
//! | load | paths | [`SourceFile`]s | [`load`] |
//! | parse | one source file | spanned AST | [`syntax`] |
//! | check | ASTs of a pack | typed IR [`ir::Pack`] + diagnostics | [`ir::check`] |
//! | emit | IR + target profile | KQL / Sigma / SPL text | [`targets`] |
//! | evaluate | IR + events | alerts | [`eval`] |
//! | coverage | IR + emitted queries | ATT&CK coverage, Navigator layers | [`coverage`] |
//!
//! [`frontend`] is the chain load -> parse -> check. Every stage returns data (values and
//! [`diag::Diagnostic`]s); only [`cli`] prints.

pub mod cli;
pub mod config;
pub mod coverage;
pub mod diag;
pub mod eval;
pub mod import;
pub mod ir;
pub mod load;
pub mod lsp;
pub mod registry;
pub mod syntax;
pub mod targets;

pub use load::SourceFile;

/// The front half of the compiler: parse and check every rule file of a pack.
pub struct Frontend {
    /// File texts, for rendering diagnostics.
    pub sources: diag::SourceCache,
    /// The checked pack: present when there were no errors.
    pub pack: Option<ir::Pack>,
    /// Errors and warnings of every file, sorted.
    pub diagnostics: Vec<diag::Diagnostic>,
}

/// Parses and checks the given rule files (already loaded). All errors of all files are collected.
/// List files and test fixtures are read from the file system, relative to each rule file; a
/// list file must lie in the folder of one of the rule files (the pack roots, see
/// [`load::FsLoader`]). The CLI passes the folders it was given instead, with [`frontend_with`].
pub fn frontend(files: &[SourceFile]) -> Frontend {
    let paths: Vec<std::path::PathBuf> = files.iter().map(|f| f.path.clone().into()).collect();
    frontend_with(files, &load::FsLoader::for_paths(&paths))
}

/// [`frontend`] with another [`load::Loader`] for list files and fixtures (tests use an in-memory
/// one, so they need no file system).
pub fn frontend_with(files: &[SourceFile], loader: &dyn load::Loader) -> Frontend {
    let mut sources = diag::SourceCache::new();
    for f in files {
        sources.insert(f.path.clone(), f.text.clone());
    }
    let mut diagnostics = Vec::new();
    let mut asts = Vec::new();
    let mut unparsed = ir::check::Unparsed::default();
    for f in files {
        match syntax::parse(&f.path, &f.text) {
            Ok(ast) => {
                diagnostics.extend(ast.warnings.iter().cloned());
                asts.push(ast)
            }
            Err(mut ds) => {
                diagnostics.append(&mut ds);
                unparsed.files += 1;
                unparsed
                    .list_names
                    .extend(syntax::declared_list_names(&f.text));
            }
        }
    }
    let (pack, mut ds) = ir::check::check_partial(asts, loader, &unparsed);
    diagnostics.append(&mut ds);
    diag::sort(&mut diagnostics);
    let has_errors = diagnostics.iter().any(|d| d.is_error());
    Frontend {
        sources,
        pack: if has_errors { None } else { pack },
        diagnostics,
    }
}
