//! `detc lsp`: a language server over stdio (LSP 3.17) for editors.
//!
//! Built on rust-analyzer's `lsp-server` (the JSON-RPC connection, synchronous, over threads and
//! channels) and `lsp-types` (the protocol's types), which fit a synchronous compiler: no async
//! runtime. Documents are synced whole. A document belongs to the pack of its folder, as
//! `detc check FOLDER` sees it (the folder searched for `*.detc` files, recursively), with the
//! open buffers in place of the files on disk; on every change the pack is checked again and
//! every file of it gets its diagnostics (an empty list once a file is clean).
//!
//! Stages: [`text`] converts positions and URIs, [`features`] answers (diagnostics, hover,
//! definition, completion) as plain data, and this module speaks the protocol.

mod features;
mod text;
pub mod words;

use crate::diag::Diagnostic;
use features::{Definition, ItemKind, Pack};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{self as lsp, Uri};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs the server on stdin and stdout until the client says `exit`. `Ok(true)`: it had said
/// `shutdown` first (exit code 0, as the protocol asks), `Ok(false)`: it had not (exit code 1).
pub fn serve() -> Result<bool, String> {
    let (connection, io) = Connection::stdio();
    let clean = run(&connection)?;
    drop(connection);
    io.join().map_err(|e| format!("lsp: {e}"))?;
    Ok(clean)
}

fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Kind(
            lsp::TextDocumentSyncKind::FULL,
        )),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec![".".into(), " ".into(), "[".into()]),
            ..Default::default()
        }),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        ..Default::default()
    }
}

fn run(connection: &Connection) -> Result<bool, String> {
    let (id, _params) = connection
        .initialize_start()
        .map_err(|e| format!("lsp: {e}"))?;
    let result = lsp::InitializeResult {
        capabilities: capabilities(),
        server_info: Some(lsp::ServerInfo {
            name: "detc".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    let result = serde_json::to_value(result).map_err(|e| format!("lsp: {e}"))?;
    connection
        .initialize_finish(id, result)
        .map_err(|e| format!("lsp: {e}"))?;
    let mut server = Server::default();
    for msg in &connection.receiver {
        let out = match msg {
            Message::Request(req) => {
                if connection
                    .handle_shutdown(&req)
                    .map_err(|e| format!("lsp: {e}"))?
                {
                    return Ok(true);
                }
                vec![Message::Response(server.request(req))]
            }
            Message::Notification(n) if n.method == lsp::notification::Exit::METHOD => {
                return Ok(false)
            }
            Message::Notification(n) => server.notify(n),
            Message::Response(_) => Vec::new(),
        };
        for m in out {
            connection.sender.send(m).map_err(|e| format!("lsp: {e}"))?;
        }
    }
    Ok(false)
}

/// The open documents and what was last published.
#[derive(Default)]
struct Server {
    /// Open documents by path: their URI as the client wrote it, and their text.
    open: BTreeMap<PathBuf, (Uri, String)>,
    /// The URIs each pack folder last published diagnostics for, to clear them once fixed.
    published: BTreeMap<PathBuf, BTreeSet<String>>,
    /// Each pack folder's last check, made on every notification about one of its documents,
    /// so that requests in between (hover, completion...) do not check the pack again.
    packs: BTreeMap<PathBuf, Pack>,
}

impl Server {
    fn notify(&mut self, n: Notification) -> Vec<Message> {
        use lsp::notification::{
            DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
        };
        let uri = match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                self.set(p.text_document.uri.clone(), Some(p.text_document.text));
                p.text_document.uri
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                // Full sync: the last change holds the whole text.
                let Some(change) = p.content_changes.into_iter().last() else {
                    return Vec::new();
                };
                self.set(p.text_document.uri.clone(), Some(change.text));
                p.text_document.uri
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                self.set(p.text_document.uri.clone(), None);
                p.text_document.uri
            }
            // Another file of the pack may have been saved: the pack on disk changed.
            DidSaveTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp::DidSaveTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                p.text_document.uri
            }
            _ => return Vec::new(),
        };
        self.publish(&uri)
    }

    fn set(&mut self, uri: Uri, text: Option<String>) {
        let Some(path) = text::path_of(&uri) else {
            return;
        };
        match text {
            Some(t) => {
                self.open.insert(path, (uri, t));
            }
            None => {
                self.open.remove(&path);
            }
        }
    }

    /// The folder of the pack of the document at `path`, its last check made if there is none.
    fn pack(&mut self, path: &Path) -> PathBuf {
        let folder = folder_of(path);
        if !self.packs.contains_key(&folder) {
            let pack = self.check_pack(&folder);
            self.packs.insert(folder.clone(), pack);
        }
        folder
    }

    /// Checks the pack in `folder`: the `*.detc` files under it, open buffers in place of their
    /// files.
    fn check_pack(&self, folder: &Path) -> Pack {
        let folder = folder.to_path_buf();
        let (mut files, extra) = match crate::load::load_sources(std::slice::from_ref(&folder)) {
            Ok(f) => (f, Vec::new()),
            // A file of the folder cannot be read: check the open documents, and say why.
            Err(d) => (Vec::new(), vec![d]),
        };
        for (p, (_, t)) in self.open.range(folder.clone()..) {
            if !p.starts_with(&folder) {
                break;
            }
            if p.extension().is_none_or(|e| e != crate::load::RULE_EXT) {
                continue;
            }
            let shown = p.to_string_lossy().replace('\\', "/");
            match files.iter_mut().find(|f| same_file(&f.path, p)) {
                Some(f) => f.text = t.clone(),
                None => files.push(crate::SourceFile {
                    path: shown,
                    text: t.clone(),
                }),
            }
        }
        let loader = crate::load::FsLoader::for_paths(std::slice::from_ref(&folder));
        // The pack's own detc.yaml, as `detc check` run on the folder finds it; read at every
        // check, so an edit of the file shows at the next keystroke in a rule. A bad config is
        // shown on its own lines, and the rules are checked as without one.
        let (config, mut extra) = (pack_config(&folder), extra);
        let config = match config {
            Ok(c) => c,
            Err(ds) => {
                extra.extend(ds);
                None
            }
        };
        crate::config::scoped(config, || Pack::check(files, &loader, extra))
    }

    /// Checks the pack of `uri` and publishes the diagnostics of each of its files.
    fn publish(&mut self, uri: &Uri) -> Vec<Message> {
        let Some(path) = text::path_of(uri) else {
            return Vec::new();
        };
        let folder = folder_of(&path);
        let pack = self.check_pack(&folder);
        let shown = path.to_string_lossy().replace('\\', "/");
        let mut by_file: BTreeMap<String, (Uri, Vec<lsp::Diagnostic>)> = BTreeMap::new();
        for f in &pack.files {
            if let Some(u) = self.uri_of(&f.path) {
                by_file.insert(u.as_str().to_string(), (u, Vec::new()));
            }
        }
        for d in &pack.diagnostics {
            // A diagnostic of no file (none has none today) is shown on the document.
            let file = d.span.as_ref().map_or(shown.as_str(), |s| s.path.as_str());
            let Some(u) = self.uri_of(file) else { continue };
            let text = match pack.text(file) {
                Some(t) => Some(t.to_string()),
                None => std::fs::read_to_string(file).ok(),
            };
            let entry = by_file
                .entry(u.as_str().to_string())
                .or_insert_with(|| (u, Vec::new()));
            entry.1.push(to_lsp(d, text.as_deref()));
        }
        let before = self.published.remove(&folder).unwrap_or_default();
        let mut now = BTreeSet::new();
        let mut out = Vec::new();
        for k in before {
            if !by_file.contains_key(&k) {
                if let Ok(u) = k.parse::<Uri>() {
                    out.push(diagnostics_message(u, Vec::new()));
                }
            }
        }
        for (k, (u, ds)) in by_file {
            now.insert(k);
            out.push(diagnostics_message(u, ds));
        }
        self.published.insert(folder.clone(), now);
        self.packs.insert(folder, pack);
        out
    }

    /// The URI of a pack file: the client's own for an open document.
    fn uri_of(&self, path: &str) -> Option<Uri> {
        let p = Path::new(path);
        match self.open.iter().find(|(o, _)| same_file(path, o)) {
            Some((_, (u, _))) => Some(u.clone()),
            None => text::uri_of(&std::path::absolute(p).unwrap_or(p.to_path_buf())),
        }
    }

    fn request(&mut self, req: Request) -> Response {
        use lsp::request::{Completion, Formatting, GotoDefinition, HoverRequest};
        let id = req.id.clone();
        let result = match req.method.as_str() {
            HoverRequest::METHOD => params(req).map(|p: lsp::HoverParams| {
                let (doc, pos) = (
                    p.text_document_position_params.text_document,
                    p.text_document_position_params.position,
                );
                to_json(self.hover(&doc.uri, pos))
            }),
            GotoDefinition::METHOD => params(req).map(|p: lsp::GotoDefinitionParams| {
                let (doc, pos) = (
                    p.text_document_position_params.text_document,
                    p.text_document_position_params.position,
                );
                to_json(self.definition(&doc.uri, pos))
            }),
            Completion::METHOD => params(req).map(|p: lsp::CompletionParams| {
                let (doc, pos) = (
                    p.text_document_position.text_document,
                    p.text_document_position.position,
                );
                to_json(self.completion(&doc.uri, pos))
            }),
            Formatting::METHOD => params(req).and_then(|p: lsp::DocumentFormattingParams| {
                self.format(&p.text_document.uri).map(to_json)
            }),
            m => Err((
                ErrorCode::MethodNotFound,
                format!("detc lsp does not serve `{m}`"),
            )),
        };
        match result {
            Ok(v) => Response::new_ok(id, v),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        }
    }

    /// The text of an open document (a request on a document not opened reads it from disk).
    fn document(&self, uri: &Uri) -> Option<(PathBuf, String)> {
        let path = text::path_of(uri)?;
        let text = match self.open.get(&path) {
            Some((_, t)) => t.clone(),
            None => std::fs::read_to_string(&path).ok()?,
        };
        Some((path, text))
    }

    fn hover(&mut self, uri: &Uri, pos: lsp::Position) -> Option<lsp::Hover> {
        let (path, text) = self.document(uri)?;
        let folder = self.pack(&path);
        let pack = self.packs.get(&folder)?;
        let loader = crate::load::FsLoader::for_paths(&[folder]);
        let shown = path.to_string_lossy().replace('\\', "/");
        let (md, (start, end)) = pack.hover(&shown, text::offset(&text, pos), &loader)?;
        Some(lsp::Hover {
            contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                kind: lsp::MarkupKind::Markdown,
                value: md,
            }),
            range: Some(text::range(&text, start, end)),
        })
    }

    fn definition(&mut self, uri: &Uri, pos: lsp::Position) -> Option<lsp::GotoDefinitionResponse> {
        let (path, text) = self.document(uri)?;
        let folder = self.pack(&path);
        let pack = self.packs.get(&folder)?;
        let shown = path.to_string_lossy().replace('\\', "/");
        let location = match pack.definition(&shown, text::offset(&text, pos))? {
            Definition::Span(s) => lsp::Location {
                uri: self.uri_of(&s.path)?,
                range: text::range(pack.text(&s.path)?, s.start, s.end),
            },
            Definition::File(p) => lsp::Location {
                uri: self.uri_of(&p.to_string_lossy())?,
                range: lsp::Range::default(),
            },
        };
        Some(lsp::GotoDefinitionResponse::Scalar(location))
    }

    fn completion(&mut self, uri: &Uri, pos: lsp::Position) -> Option<lsp::CompletionResponse> {
        let (path, text) = self.document(uri)?;
        let folder = self.pack(&path);
        let pack = self.packs.get(&folder)?;
        let shown = path.to_string_lossy().replace('\\', "/");
        let offset = text::offset(&text, pos);
        let (start, items) = pack.completion(&shown, offset);
        // Each item replaces the whole name being typed, dots included (a client's own idea
        // of a word stops at a dot, and would leave `remote.` before `remote.port`).
        let range = text::range(&text, start, offset);
        let items = items
            .into_iter()
            .map(|i| lsp::CompletionItem {
                kind: Some(match i.kind {
                    ItemKind::Field => lsp::CompletionItemKind::FIELD,
                    ItemKind::List => lsp::CompletionItemKind::VARIABLE,
                    ItemKind::Keyword => lsp::CompletionItemKind::KEYWORD,
                    ItemKind::Operator => lsp::CompletionItemKind::OPERATOR,
                    ItemKind::EnumValue => lsp::CompletionItemKind::ENUM_MEMBER,
                    ItemKind::Source => lsp::CompletionItemKind::MODULE,
                }),
                detail: Some(i.detail),
                text_edit: Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit {
                    range,
                    new_text: i.label.clone(),
                })),
                label: i.label,
                ..Default::default()
            })
            .collect();
        Some(lsp::CompletionResponse::Array(items))
    }

    /// The document in the canonical layout (`detc fmt`), as one edit of the whole text; a
    /// document with a syntax error is refused, as `detc fmt` refuses it.
    fn format(&self, uri: &Uri) -> Result<Option<Vec<lsp::TextEdit>>, (ErrorCode, String)> {
        let Some((path, text)) = self.document(uri) else {
            return Err((
                ErrorCode::InvalidParams,
                format!("cannot read {}", uri.as_str()),
            ));
        };
        let shown = path.to_string_lossy().replace('\\', "/");
        match crate::syntax::fmt::format(&shown, &text) {
            Ok(formatted) if formatted == text => Ok(Some(Vec::new())),
            Ok(formatted) => Ok(Some(vec![lsp::TextEdit {
                range: text::range(&text, 0, text.len()),
                new_text: formatted,
            }])),
            Err(ds) => {
                let first = ds.iter().find(|d| d.is_error()).or(ds.first());
                let why = first.map_or(String::new(), |d| match &d.span {
                    Some(s) => format!(
                        ": {}:{}:{}: {}[{}] {}",
                        s.path, s.line, s.col, "error", d.code, d.message
                    ),
                    None => format!(": {}", d.message),
                });
                Err((
                    ErrorCode::RequestFailed,
                    format!("cannot format a file with syntax errors{why}"),
                ))
            }
        }
    }
}

/// The folder whose pack a document belongs to.
/// The config of the pack in `folder` (none if it has no detc.yaml), or its diagnostics.
fn pack_config(folder: &Path) -> Result<Option<Arc<crate::config::Config>>, Vec<Diagnostic>> {
    match crate::config::discover(&[folder.to_path_buf()]) {
        None => Ok(None),
        Some(f) => crate::config::load(&f)
            .map(|c| Some(Arc::new(c)))
            .map_err(|e| e.diagnostics),
    }
}

fn folder_of(path: &Path) -> PathBuf {
    path.parent().unwrap_or(Path::new(".")).to_path_buf()
}

/// Whether two paths name one file (as written, or once resolved).
fn same_file(a: &str, b: &Path) -> bool {
    Path::new(a) == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn params<P: serde::de::DeserializeOwned>(req: Request) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(req.params).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn to_json<T: serde::Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn diagnostics_message(uri: Uri, diagnostics: Vec<lsp::Diagnostic>) -> Message {
    Message::Notification(Notification::new(
        lsp::notification::PublishDiagnostics::METHOD.into(),
        lsp::PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        },
    ))
}

/// A detc diagnostic as LSP's: the same code and message, with what was found, what was
/// expected and the hints on the lines below (as `detc check` prints them).
fn to_lsp(d: &crate::diag::Diagnostic, text: Option<&str>) -> lsp::Diagnostic {
    let range = match (&d.span, text) {
        (Some(s), Some(t)) if s.line > 0 => text::range(t, s.start, s.end),
        (Some(s), None) if s.line > 0 => {
            let at = lsp::Position::new(s.line - 1, s.col.saturating_sub(1));
            lsp::Range::new(at, at)
        }
        _ => lsp::Range::default(),
    };
    let mut message = d.message.clone();
    if let Some(f) = &d.found {
        message.push_str(&format!("\nfound: {f}"));
    }
    if let Some(e) = &d.expected {
        message.push_str(&format!("\nexpected: {e}"));
    }
    for h in &d.hints {
        message.push_str(&format!("\nhint: {h}"));
    }
    lsp::Diagnostic {
        range,
        severity: Some(match d.severity {
            crate::diag::Severity::Error => lsp::DiagnosticSeverity::ERROR,
            crate::diag::Severity::Warning => lsp::DiagnosticSeverity::WARNING,
            crate::diag::Severity::Note => lsp::DiagnosticSeverity::INFORMATION,
        }),
        code: Some(lsp::NumberOrString::String(d.code.to_string())),
        source: Some("detc".into()),
        message,
        ..Default::default()
    }
}
