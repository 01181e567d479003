//! `detc compile` and `detc targets`. The driver (`targets::compile_pack`) returns queries as
//! data; writing them under `--out`, or comparing them with what is there (`--check`), is here.

use super::{Exit, Format};
use crate::diag::{Code, Diagnostic, Span};
use crate::targets::{self, Derive, Emitted};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Rule files or folders. Default: rules/
    pub paths: Vec<PathBuf>,
    /// A target profile (one folder of targets/, see `detc targets`) or `all`.
    #[arg(long, short, help = format!(
        "A target profile ({}; see `detc targets`) or `all`. Default: defaults.compile.target of detc.yaml",
        crate::registry::profile_names().collect::<Vec<_>>().join(", ")
    ))]
    pub target: Option<String>,
    /// Output folder; queries go to OUT/<target>/<rule name>.<kql|yml|spl>. Default:
    /// defaults.compile.out of detc.yaml.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Compare with what is in OUT instead of writing; print a unified diff per drifted file, exit 1 on drift.
    #[arg(long)]
    pub check: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Treat warnings (the checker's and the targets') as errors: nothing is written, exit 1.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// The compile arguments with the config's defaults filled in.
struct Resolved<'a> {
    paths: &'a [PathBuf],
    target: String,
    out: PathBuf,
    check: bool,
    format: Format,
    deny_warnings: bool,
}

#[derive(Debug, clap::Args)]
pub struct TargetsArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &CompileArgs) -> Exit {
    let (Some(target), Some(out)) = (
        super::config::compile_target(args.target.clone()).value,
        super::config::compile_out(args.out.clone()).value,
    ) else {
        super::err(
            "error: compile needs a target and an output folder: give --target and --out, or set \
             defaults.compile.target and defaults.compile.out in detc.yaml (docs/CONFIG.md)\n",
        );
        return Exit::Failure;
    };
    let deny_warnings = super::config::compile_deny_warnings(args.deny_warnings).value;
    let args = &Resolved {
        paths: &args.paths,
        target,
        out,
        check: args.check,
        format: args.format,
        deny_warnings,
    };
    let profiles = match targets::load_profiles() {
        Ok(p) => p,
        Err(d) => {
            super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), args.format);
            return Exit::Failure;
        }
    };
    let names: Vec<String> = profiles.iter().map(|p| p.name.clone()).collect();
    if args.target != "all" && !names.contains(&args.target) {
        let mut msg = format!(
            "error: unknown target `{}`; expected one of: {}, or all\n",
            args.target,
            names.join(", ")
        );
        if let Some(n) = crate::diag::nearest(&args.target, names.iter().map(String::as_str)) {
            msg.push_str(&format!("  hint: did you mean `{n}`?\n"));
        }
        super::err(&msg);
        return Exit::Failure;
    }
    let (fe, pack) = match super::load_pack(args.paths, args.format, args.deny_warnings) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let mut result = targets::compile_pack(&pack, &args.target);
    if args.deny_warnings {
        super::deny(&mut result.diagnostics);
    }
    // With `all`, the pack's ATT&CK Navigator layers (one per target and `pack.json`) go to
    // OUT/navigator/ beside the queries, written and drift-checked with them: they are made from
    // what was emitted, so a query that appears or goes away moves them too.
    let layers = if args.target == "all" {
        crate::coverage::coverage(&pack, &result, &names).navigator_layers(NAVIGATOR_DIR)
    } else {
        Vec::new()
    };
    let mut chosen: Vec<String> = if args.target == "all" {
        names
    } else {
        vec![args.target.clone()]
    };
    if !layers.is_empty() {
        chosen.push(NAVIGATOR_DIR.to_string());
    }
    // With `all`, the deployable artefacts (Sentinel, Defender, Splunk) go to OUT/deploy/.
    let mut deployed = Vec::new();
    if args.target == "all" {
        let d = targets::deploy::compile_pack(&pack, &profiles);
        result.skipped.extend(d.skipped);
        chosen.extend(targets::deploy::DIRS.iter().map(|d| d.to_string()));
        deployed = d.outputs;
    }
    let files: Vec<Emitted> = result
        .outputs
        .iter()
        .chain(&layers)
        .chain(&deployed)
        .cloned()
        .collect();
    let errors = result.has_errors();
    let mut exit = if errors { Exit::Findings } else { Exit::Ok };
    let mut drift = Vec::new();
    let mut written = Vec::new();
    if args.check {
        match check_outputs(&files, &chosen, &args.out) {
            Ok(d) => drift = d,
            Err(d) => {
                super::print_diagnostics(&[d], &fe.sources, args.format);
                return Exit::Failure;
            }
        }
        if !drift.is_empty() {
            exit = Exit::Findings;
        }
    } else if !errors {
        match write_outputs(&files, &args.out) {
            Ok(w) => written = w,
            Err(d) => {
                super::print_diagnostics(&[d], &fe.sources, args.format);
                return Exit::Failure;
            }
        }
    }
    match args.format {
        Format::Human => {
            // A pair a target cannot express is expected with `all` and shown as one line of
            // the table below; a W0900 raised to an error by --deny-warnings is shown in full.
            let full: Vec<Diagnostic> = result
                .diagnostics
                .iter()
                .filter(|d| d.code != Code::W0900 || d.is_error())
                .cloned()
                .collect();
            super::print_diagnostics(&full, &fe.sources, args.format);
            if !args.deny_warnings && !super::quiet() {
                super::err(&skipped_table(&result.skipped));
            }
            let mut out = String::new();
            for d in &drift {
                out.push_str(&format!("drift ({}): {}\n{}", d.kind, d.path, d.diff));
            }
            super::out(&out);
            let summary = if args.check {
                format!(
                    "checked {} quer{}{} against {}: {} drifted\n",
                    result.outputs.len(),
                    if result.outputs.len() == 1 {
                        "y"
                    } else {
                        "ies"
                    },
                    layer_note(layers.len(), deployed.len()),
                    args.out.display(),
                    drift.len()
                )
            } else if errors {
                "nothing written: fix the errors above\n".to_string()
            } else {
                let queries = written.len() - layers.len() - deployed.len();
                format!(
                    "wrote {} quer{}{} to {}\n",
                    queries,
                    if queries == 1 { "y" } else { "ies" },
                    layer_note(layers.len(), deployed.len()),
                    args.out.display()
                )
            };
            if !super::quiet() {
                super::err(&summary);
            }
        }
        Format::Json => {
            let outputs: Vec<serde_json::Value> = result
                .outputs
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "rule": e.rule,
                        "target": e.target,
                        "path": format!("{}/{}", e.target, e.file_name),
                        "warnings": e.warnings.len(),
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "outputs": outputs,
                "diagnostics": result.diagnostics,
                "skipped": result.skipped,
                "layers": layers.iter().map(|e| format!("{}/{}", e.target, e.file_name)).collect::<Vec<_>>(),
                "deployed": deployed.iter().map(|e| format!("{}/{}", e.target, e.file_name)).collect::<Vec<_>>(),
                "written": written,
                "drift": drift,
            });
            super::out(&format!(
                "{}\n",
                // A `serde_json::Value` always serializes.
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ));
        }
    }
    exit
}

/// `not emitted:` and one aligned line per rule/target pair a target cannot express (rule,
/// target, the refusal's code, reason); empty when there is none. `detc explain CODE` says more.
fn skipped_table(skipped: &[targets::Skipped]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let rule_w = skipped.iter().map(|s| s.rule.len()).max().unwrap_or(0);
    let target_w = skipped.iter().map(|s| s.target.len()).max().unwrap_or(0);
    let mut out = format!(
        "not emitted: {} rule/target pair(s) the target cannot express (W0900; `detc explain CODE`)\n",
        skipped.len()
    );
    out.push_str(&format!(
        "  {:rule_w$}  {:target_w$}  code   reason\n",
        "rule", "target"
    ));
    for s in skipped {
        out.push_str(&format!(
            "  {:rule_w$}  {:target_w$}  {}  {}\n",
            s.rule, s.target, s.code, s.reason
        ));
    }
    out
}

/// The folder under --out that holds the Navigator layers of `--target all`.
pub const NAVIGATOR_DIR: &str = "navigator";

/// `, N navigator layers and M deployable artefacts` for the summary line, or nothing.
fn layer_note(n: usize, deployed: usize) -> String {
    let mut s = String::new();
    if n > 0 {
        s.push_str(&format!(
            " and {n} navigator layer{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    if deployed > 0 {
        s.push_str(&format!(
            " and {deployed} deployable artefact{} (OUT/deploy/)",
            if deployed == 1 { "" } else { "s" }
        ));
    }
    s
}

pub fn targets(args: &TargetsArgs) -> Exit {
    let profiles = match targets::load_profiles() {
        Ok(p) => p,
        Err(d) => {
            super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), args.format);
            return Exit::Failure;
        }
    };
    let matrix = source_matrix(&profiles);
    match args.format {
        Format::Json => {
            let matrix: serde_json::Map<String, serde_json::Value> = matrix
                .iter()
                .map(|(src, cells)| {
                    let row: serde_json::Map<String, serde_json::Value> = cells
                        .iter()
                        .map(|(t, c)| {
                            let v = match c {
                                Cell::Table(tb) => serde_json::json!({ "table": tb }),
                                Cell::Refused(why) => serde_json::json!({ "refused": why }),
                                Cell::Absent => serde_json::Value::Null,
                            };
                            (t.to_string(), v)
                        })
                        .collect();
                    (src.to_string(), serde_json::Value::Object(row))
                })
                .collect();
            let v: Vec<serde_json::Value> = profiles
                .iter()
                .map(|p| {
                    let sources: serde_json::Map<String, serde_json::Value> = p
                        .sources
                        .iter()
                        .map(|(k, s)| {
                            (
                                k.clone(),
                                serde_json::json!({
                                    "table": s.table,
                                    "schema": s.schema,
                                    "fields": s.fields.iter().map(|(f, m)| (f.clone(), m.column.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                                    "unsupported": s.unsupported,
                                }),
                            )
                        })
                        .collect();
                    serde_json::json!({
                        "name": p.name,
                        "language": p.language,
                        "extension": p.extension,
                        "description": p.description,
                        "sources": sources,
                        "capabilities": p.capabilities,
                    })
                })
                .collect();
            let doc = serde_json::json!({ "matrix": matrix, "profiles": v });
            super::out(&format!(
                "{}\n",
                // A `serde_json::Value` always serializes.
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ));
        }
        Format::Human => {
            let mut s = matrix_text(&profiles, &matrix);
            for p in &profiles {
                s.push_str(
                    &format!("{}  ({:?}, .{})\n", p.name, p.language, p.extension).to_lowercase(),
                );
                s.push_str(&format!("  {}\n", p.description));
                for (src, m) in &p.sources {
                    s.push_str(&format!("  source {src} -> {}\n", m.table));
                    let fields: Vec<String> = m
                        .fields
                        .iter()
                        .map(|(f, c)| {
                            let col = if c.join.is_empty() {
                                c.column.clone()
                            } else {
                                c.join.join(&c.sep.clone().unwrap_or_default())
                            };
                            match c.derive {
                                Some(Derive::Basename) => format!("{f}=file name of {col}"),
                                Some(Derive::Long) => format!("{f}=number in {col}"),
                                None => format!("{f}={col}"),
                            }
                        })
                        .collect();
                    s.push_str(&format!("    fields: {}\n", fields.join(", ")));
                    if !m.unsupported.is_empty() {
                        let f: Vec<&str> = m.unsupported.keys().map(String::as_str).collect();
                        s.push_str(&format!("    not available: {}\n", f.join(", ")));
                    }
                }
                for (k, v) in &p.capabilities {
                    s.push_str(&format!("  {k}: {v}\n"));
                }
                s.push('\n');
            }
            super::out(&s);
        }
    }
    Exit::Ok
}

/// What a target has for a source: its table, a refusal with the profile's reason, or nothing.
enum Cell<'p> {
    Table(&'p str),
    Refused(&'p str),
    Absent,
}

/// The sources x targets matrix: a row per catalogue source, a cell per profile (profile order).
fn source_matrix(profiles: &[targets::Profile]) -> Vec<(&'static str, Vec<(&str, Cell<'_>)>)> {
    crate::ir::catalogue::SOURCES
        .iter()
        .map(|src| {
            let name = src.name();
            let cells = profiles
                .iter()
                .map(|p| {
                    let c = match (p.sources.get(name), p.refuses.get(name)) {
                        (Some(m), _) => Cell::Table(&m.table),
                        (None, Some(why)) => Cell::Refused(why),
                        (None, None) => Cell::Absent,
                    };
                    (p.name.as_str(), c)
                })
                .collect();
            (name, cells)
        })
        .collect()
}

/// The matrix as aligned text, then one line per refusal with its reason.
fn matrix_text(profiles: &[targets::Profile], matrix: &[(&str, Vec<(&str, Cell<'_>)>)]) -> String {
    let cell = |c: &Cell<'_>| match c {
        Cell::Table(t) => t.to_string(),
        Cell::Refused(_) => "refused".to_string(),
        Cell::Absent => "-".to_string(),
    };
    let mut rows: Vec<Vec<String>> = vec![std::iter::once("source".to_string())
        .chain(profiles.iter().map(|p| p.name.clone()))
        .collect()];
    for (src, cells) in matrix {
        rows.push(
            std::iter::once(src.to_string())
                .chain(cells.iter().map(|(_, c)| cell(c)))
                .collect(),
        );
    }
    let cols = rows.first().map_or(0, Vec::len);
    let width: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    for (src, cells) in matrix {
        for (t, c) in cells {
            if let Cell::Refused(why) = c {
                s.push_str(&format!("{t} refuses {src}: {why}\n"));
            }
        }
    }
    s.push('\n');
    s
}

// ------------------------------------------------------------------ writing and checking files

/// One difference between emitted queries and a folder of committed queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// Path relative to the output folder (`kql-defender/rule.kql`).
    pub path: String,
    /// `changed`, `missing` (emitted but not on disk) or `extra` (on disk, not emitted).
    pub kind: String,
    /// Unified diff, committed -> emitted.
    pub diff: String,
}

/// What an existing path under the output folder may be: a folder for a target, a regular file
/// for a query. Anything else, a symbolic link above all, is refused: writing or reading through
/// a link could overwrite or show a file outside the output folder. A missing path is fine.
fn guard_output_path(path: &std::path::Path, folder: bool) -> Result<(), Diagnostic> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(crate::load::io_error(&path.to_string_lossy(), &err)),
    };
    let ft = meta.file_type();
    let found = if ft.is_symlink() {
        // Where the link points only decorates the message: the link is refused either way.
        let to = std::fs::read_link(path)
            .map(|t| format!(" to `{}`", t.to_string_lossy()))
            .unwrap_or_default();
        format!("a symbolic link{to}")
    } else if folder && !ft.is_dir() {
        "not a folder".to_string()
    } else if !folder && !ft.is_file() {
        "not a regular file".to_string()
    } else {
        return Ok(());
    };
    let shown = path.to_string_lossy().replace('\\', "/");
    Err(Diagnostic::new(
        Code::E0004,
        format!("refusing to use `{shown}` in the output folder: it is {found}"),
    )
    .at(Span::file(shown))
    .found(found)
    .expected(if folder {
        "a plain folder (or nothing) for each target under --out"
    } else {
        "a regular file (or nothing) for each query under --out"
    })
    .hint("detc never writes or reads through a link; remove it, or choose another --out folder"))
}

/// Writes every output to `out/<target>/<file_name>`; returns the paths written. A target folder
/// or query file that exists as a symbolic link (or other non-regular file) is refused (E0004)
/// before anything is written.
pub fn write_outputs(
    outputs: &[Emitted],
    out: &std::path::Path,
) -> Result<Vec<String>, Diagnostic> {
    for e in outputs {
        let dir = out.join(&e.target);
        guard_output_path(&dir, true)?;
        guard_output_path(&dir.join(&e.file_name), false)?;
    }
    let mut written = Vec::new();
    for e in outputs {
        let dir = out.join(&e.target);
        std::fs::create_dir_all(&dir).map_err(|err| {
            crate::load::io_error(&dir.to_string_lossy(), &err)
                .hint("check that the output folder is writable")
        })?;
        let path = dir.join(&e.file_name);
        // Checked again just before writing: the folder may have been made meanwhile.
        guard_output_path(&path, false)?;
        replace_file(&dir, &e.file_name, &e.text).map_err(|err| {
            crate::load::io_error(&path.to_string_lossy(), &err)
                .hint("check that the output folder is writable")
        })?;
        written.push(if e.target.is_empty() {
            e.file_name.clone()
        } else {
            format!("{}/{}", e.target, e.file_name)
        });
    }
    Ok(written)
}

/// Writes `dir/name` as a new file: the text goes to a fresh temporary file (created exclusively,
/// so never through a link) that is then renamed over `name`. Renaming replaces the directory
/// entry, so neither a link put there after the check nor a hard link shared with a file outside
/// the output folder is written through.
fn replace_file(dir: &std::path::Path, name: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(".{name}.detc-tmp"));
    // A leftover of an interrupted run; removing a link removes the link, not its target.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Compares outputs with `out/<target>/` for every target in `targets`: changed, missing and
/// extra files, each with a unified diff. Sorted by path. A target folder or a file in it that is
/// a symbolic link or not a regular file is an error (E0004); it is never read.
pub fn check_outputs(
    outputs: &[Emitted],
    targets: &[String],
    out: &std::path::Path,
) -> Result<Vec<Drift>, Diagnostic> {
    let mut drift = Vec::new();
    let mut expected: BTreeMap<String, &str> = BTreeMap::new();
    for e in outputs {
        expected.insert(format!("{}/{}", e.target, e.file_name), &e.text);
    }
    let mut on_disk: BTreeMap<String, String> = BTreeMap::new();
    for t in targets {
        let dir = out.join(t);
        guard_output_path(&dir, true)?;
        let unreadable = |p: &std::path::Path, err: std::io::Error| {
            crate::load::io_error(&p.to_string_lossy(), &err)
                .hint("the committed queries under --out must be readable UTF-8 text files")
        };
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            // No folder yet: every query of the target is missing, reported below.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(unreadable(&dir, err)),
        };
        let mut entries = rd
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| unreadable(&dir, err))?;
        entries.sort_by_key(|e| e.file_name());
        for ent in entries {
            let p = ent.path();
            // Sub-folders are not queries; everything else must be a regular file.
            if ent.file_type().map_err(|err| unreadable(&p, err))?.is_dir() {
                continue;
            }
            guard_output_path(&p, false)?;
            let name = ent.file_name().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&p).map_err(|err| unreadable(&p, err))?;
            on_disk.insert(format!("{t}/{name}"), text);
        }
    }
    let diff = |path: &str, old: &str, new: &str| {
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{path}"), &format!("b/{path}"))
            .to_string()
    };
    for (path, new) in &expected {
        match on_disk.get(path) {
            Some(old) if old == new => {}
            Some(old) => drift.push(Drift {
                path: path.clone(),
                kind: "changed".into(),
                diff: diff(path, old, new),
            }),
            None => drift.push(Drift {
                path: path.clone(),
                kind: "missing".into(),
                diff: diff(path, "", new),
            }),
        }
    }
    for (path, old) in &on_disk {
        if !expected.contains_key(path) {
            drift.push(Drift {
                path: path.clone(),
                kind: "extra".into(),
                diff: diff(path, old, ""),
            });
        }
    }
    drift.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(drift)
}
