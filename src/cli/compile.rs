use super::{Exit, Format};
use crate::targets;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Rule files or folders. Default: rules/
    pub paths: Vec<PathBuf>,
    /// A target profile name (see `detc targets`) or `all`.
    #[arg(long, short)]
    pub target: String,
    /// Output folder; queries go to OUT/<target>/<rule name>.<kql|yml|spl>.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Compare with what is in OUT instead of writing; print a unified diff per drifted file, exit 1 on drift.
    #[arg(long)]
    pub check: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Treat warnings (the checker's and the targets') as errors: nothing is written, exit 1.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, clap::Args)]
pub struct TargetsArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &CompileArgs) -> Exit {
    let names: Vec<String> = match targets::load_profiles() {
        Ok(p) => p.into_iter().map(|p| p.name).collect(),
        Err(d) => {
            super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), args.format);
            return Exit::Failure;
        }
    };
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
    let (fe, pack) = match super::load_pack(&args.paths, args.format, args.deny_warnings) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let mut result = targets::compile_pack(&pack, &args.target);
    if args.deny_warnings {
        super::deny(&mut result.diagnostics);
    }
    let chosen: Vec<String> = if args.target == "all" {
        names
    } else {
        vec![args.target.clone()]
    };
    let errors = result.has_errors();
    let mut exit = if errors { Exit::Findings } else { Exit::Ok };
    let mut drift = Vec::new();
    let mut written = Vec::new();
    if args.check {
        match targets::check_outputs(&result.outputs, &chosen, &args.out) {
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
        match targets::write_outputs(&result.outputs, &args.out) {
            Ok(w) => written = w,
            Err(d) => {
                super::print_diagnostics(&[d], &fe.sources, args.format);
                return Exit::Failure;
            }
        }
    }
    match args.format {
        Format::Human => {
            super::print_diagnostics(&result.diagnostics, &fe.sources, args.format);
            let mut out = String::new();
            for d in &drift {
                out.push_str(&format!("drift ({}): {}\n{}", d.kind, d.path, d.diff));
            }
            super::out(&out);
            let summary = if args.check {
                format!(
                    "checked {} quer{} against {}: {} drifted\n",
                    result.outputs.len(),
                    if result.outputs.len() == 1 {
                        "y"
                    } else {
                        "ies"
                    },
                    args.out.display(),
                    drift.len()
                )
            } else if errors {
                "nothing written: fix the errors above\n".to_string()
            } else {
                format!(
                    "wrote {} quer{} to {}\n",
                    written.len(),
                    if written.len() == 1 { "y" } else { "ies" },
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

pub fn targets(args: &TargetsArgs) -> Exit {
    let profiles = match targets::load_profiles() {
        Ok(p) => p,
        Err(d) => {
            super::print_diagnostics(&[d], &crate::diag::SourceCache::new(), args.format);
            return Exit::Failure;
        }
    };
    match args.format {
        Format::Json => {
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
            super::out(&format!(
                "{}\n",
                // A `serde_json::Value` always serializes.
                serde_json::to_string_pretty(&v).unwrap_or_default()
            ));
        }
        Format::Human => {
            let mut s = String::new();
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
                                Some(_) => format!("{f}=file name of {col}"),
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
