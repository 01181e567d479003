//! `detc config`, and the one place each command's settings are resolved: the flag if given,
//! else detc.yaml's `defaults`, else the built-in default. The commands and `detc config` call
//! the same functions, so what `detc config` prints is what a command uses.

use super::{Exit, Format};
use crate::config::{resolve, Gate, Lateness, Setting};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  detc config                         the settings for the pack under rules/ (its detc.yaml)
  detc config --target spl-cim        what `detc compile --target spl-cim` would use
  detc config --format json           the same as one JSON document

Exit status: 0, or 2 when detc.yaml has errors (each printed with its position).")]
pub struct ConfigArgs {
    /// Rule files or folders: detc.yaml is looked for from the first one up. Default: rules/
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// As `compile --target`: shown as a flag's value.
    #[arg(long, short)]
    pub target: Option<String>,
    /// As `compile --out`.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// As `--deny-warnings` of check, compile and test.
    #[arg(long)]
    pub deny_warnings: bool,
    /// As `test --require-tests`.
    #[arg(long, value_enum, alias = "coverage")]
    pub require_tests: Option<Gate>,
    /// As `run --allowed-lateness`.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_lateness)]
    pub allowed_lateness: Option<Lateness>,
    /// As `run --schema`.
    #[arg(long)]
    pub schema: Option<String>,
    /// As `run --strict`.
    #[arg(long)]
    pub strict: bool,
}

/// A bool flag: given (`true`) or not.
fn flag(b: bool) -> Option<bool> {
    b.then_some(true)
}

pub(crate) fn check_deny_warnings(given: bool) -> Setting<bool> {
    resolve(
        flag(given),
        super::project().check_deny_warnings.as_ref(),
        false,
    )
}

pub(crate) fn compile_deny_warnings(given: bool) -> Setting<bool> {
    resolve(
        flag(given),
        super::project().compile_deny_warnings.as_ref(),
        false,
    )
}

/// `None` when neither the flag nor the file names a target (compile then says so, exit 2).
pub(crate) fn compile_target(given: Option<String>) -> Setting<Option<String>> {
    let file = super::project()
        .compile_target
        .as_ref()
        .map(|l| crate::config::Located {
            value: Some(l.value.clone()),
            at: l.at.clone(),
        });
    resolve(given.map(Some), file.as_ref(), None)
}

pub(crate) fn compile_out(given: Option<PathBuf>) -> Setting<Option<PathBuf>> {
    let file = super::project()
        .compile_out
        .as_ref()
        .map(|l| crate::config::Located {
            value: Some(l.value.clone()),
            at: l.at.clone(),
        });
    resolve(given.map(Some), file.as_ref(), None)
}

pub(crate) fn test_deny_warnings(given: bool) -> Setting<bool> {
    resolve(
        flag(given),
        super::project().test_deny_warnings.as_ref(),
        false,
    )
}

pub(crate) fn test_require_tests(given: Option<Gate>) -> Setting<Gate> {
    resolve(
        given,
        super::project().test_require_tests.as_ref(),
        Gate::Error,
    )
}

pub(crate) fn run_allowed_lateness(given: Option<Lateness>) -> Setting<Lateness> {
    resolve(
        given,
        super::project().run_allowed_lateness.as_ref(),
        Lateness(Some(6 * 3600)),
    )
}

pub(crate) fn run_schema(given: Option<String>) -> Setting<Option<String>> {
    let file = super::project()
        .run_schema
        .as_ref()
        .map(|l| crate::config::Located {
            value: Some(l.value.clone()),
            at: l.at.clone(),
        });
    resolve(given.map(Some), file.as_ref(), None)
}

pub(crate) fn run_strict(given: bool) -> Setting<bool> {
    resolve(flag(given), super::project().run_strict.as_ref(), false)
}

/// The pack's time zone (detc.yaml `timezone:`), as written; no flag sets it, and without it a
/// rule reading the hour must declare its own.
pub(crate) fn pack_timezone() -> Setting<Option<String>> {
    let file = super::project()
        .timezone
        .as_ref()
        .map(|l| crate::config::Located {
            value: Some(l.value.text.clone()),
            at: l.at.clone(),
        });
    resolve(None, file.as_ref(), None)
}

/// One row of `detc config`.
struct Row {
    key: String,
    value: serde_json::Value,
    origin: crate::config::Origin,
}

fn row<T>(key: &str, s: Setting<T>, show: impl Fn(&T) -> serde_json::Value) -> Row {
    Row {
        key: key.to_string(),
        value: show(&s.value),
        origin: s.origin,
    }
}

fn opt_text(v: &Option<String>) -> serde_json::Value {
    v.as_ref()
        .map_or(serde_json::Value::Null, |s| serde_json::json!(s))
}

pub fn run(args: &ConfigArgs) -> Exit {
    let cfg = super::project();
    let b = |v: &bool| serde_json::json!(v);
    let rows = vec![
        row(
            "check.deny_warnings",
            check_deny_warnings(args.deny_warnings),
            b,
        ),
        row(
            "compile.target",
            compile_target(args.target.clone()),
            opt_text,
        ),
        row("compile.out", compile_out(args.out.clone()), |v| {
            opt_text(&v.as_ref().map(|p| p.to_string_lossy().replace('\\', "/")))
        }),
        row(
            "compile.deny_warnings",
            compile_deny_warnings(args.deny_warnings),
            b,
        ),
        row(
            "test.deny_warnings",
            test_deny_warnings(args.deny_warnings),
            b,
        ),
        row(
            "test.require_tests",
            test_require_tests(args.require_tests),
            |g| serde_json::json!(g.name()),
        ),
        row(
            "run.allowed_lateness",
            run_allowed_lateness(args.allowed_lateness),
            |l| {
                serde_json::json!(l
                    .0
                    .map_or("unbounded".to_string(), crate::targets::duration_text))
            },
        ),
        row("run.schema", run_schema(args.schema.clone()), opt_text),
        row("run.strict", run_strict(args.strict), b),
        row("timezone", pack_timezone(), opt_text),
    ];
    let mut overrides = Vec::new();
    for (target, srcs) in &cfg.targets {
        for (source, o) in srcs {
            let v = serde_json::to_value(o).unwrap_or_default();
            for (k, val) in v.as_object().into_iter().flatten() {
                let at = cfg
                    .target_spans
                    .get(&(target.clone(), source.clone(), k.clone()))
                    .map(|s| format!("{}:{}:{}", s.path.as_str(), s.line, s.col))
                    .unwrap_or_default();
                overrides.push((format!("{target}.{source}.{k}"), val.clone(), at));
            }
        }
    }
    let file = cfg
        .path
        .as_ref()
        .map(|p| p.to_string_lossy().replace('\\', "/"));
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "config": file,
                "settings": rows.iter().map(|r| serde_json::json!({
                    "key": r.key,
                    "value": r.value,
                    "origin": r.origin.kind(),
                    "at": match &r.origin { crate::config::Origin::File(w) => serde_json::json!(w), _ => serde_json::Value::Null },
                })).collect::<Vec<_>>(),
                "inputs": cfg.schemas.iter().map(|s| serde_json::json!({
                    "name": s.schema.name, "source": s.schema.source.name(), "file": s.file,
                })).collect::<Vec<_>>(),
                "targets": overrides.iter().map(|(k, v, at)| serde_json::json!({
                    "key": k, "value": v, "at": at,
                })).collect::<Vec<_>>(),
            });
            super::out(&format!("{doc}\n"));
        }
        Format::Human => {
            let mut s = format!(
                "config: {}\n",
                file.as_deref()
                    .unwrap_or("none (no detc.yaml; built-in defaults)")
            );
            let w = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
            let texts: Vec<String> = rows
                .iter()
                .map(|r| match &r.value {
                    serde_json::Value::String(t) => t.clone(),
                    serde_json::Value::Null => "-".into(),
                    v => v.to_string(),
                })
                .collect();
            let vw = texts.iter().map(String::len).max().unwrap_or(0);
            for (r, t) in rows.iter().zip(&texts) {
                let origin = match &r.origin {
                    crate::config::Origin::File(at) => format!("file {at}"),
                    o => o.kind().to_string(),
                };
                s.push_str(&format!("{:<w$}  {t:<vw$}  ({origin})\n", r.key));
            }
            if !cfg.schemas.is_empty() {
                s.push_str("inputs:\n");
                for u in &cfg.schemas {
                    s.push_str(&format!(
                        "  {}  {}  ({})\n",
                        u.schema.name,
                        u.schema.source.name(),
                        u.file
                    ));
                }
            }
            if !overrides.is_empty() {
                s.push_str("targets:\n");
                for (k, v, at) in &overrides {
                    let t = match v {
                        serde_json::Value::String(t) => t.clone(),
                        v => v.to_string(),
                    };
                    s.push_str(&format!("  {k} = {t}  (file {at})\n"));
                }
            }
            super::out(&s);
        }
    }
    Exit::Ok
}
