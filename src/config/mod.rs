//! The project config file `detc.yaml`: found at the pack's root by walking up from the rule
//! paths (as git finds `.git`), parsed with serde_yaml (the crate detc already reads profiles and
//! schemas with; no TOML crate is among its dependencies, so the file is YAML), and checked into
//! a [`Config`]: defaults for the commands, the pack's time zone, the project's own input schemas,
//! and overrides of target settings. Every problem is a located diagnostic (E0030-E0036), never a
//! panic.
//!
//! Stages: [`discover`] (paths -> the file, if any) -> [`load`] (file -> [`Config`] or
//! diagnostics). The CLI installs the config for the process ([`Config::install`]), the language
//! server puts each pack's in force while checking it ([`scoped`]); both are read through
//! [`active`]. The CLI resolves each setting as flag, else file, else default ([`Setting`]).

use crate::diag::{Code, Diagnostic, SourceCache, Span};
use crate::eval::schema::{InputSchema, SchemaFile};
use crate::targets::profile::{Overrides, SourceOverride};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The config file's name.
pub const FILE_NAME: &str = "detc.yaml";

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    defaults: DefaultsFile,
    #[serde(default)]
    inputs: Vec<InputEntry>,
    #[serde(default)]
    targets: BTreeMap<String, BTreeMap<String, SourceOverride>>,
    /// The pack's time zone, `+HH:MM`: any scalar, so a number or a named zone gets its own
    /// located error (E0035) rather than serde's "invalid type".
    #[serde(default)]
    timezone: Option<serde_yaml::Value>,
}

/// `defaults:`, per command. Every key is optional; a command-line flag overrides it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsFile {
    #[serde(default)]
    pub check: CheckDefaults,
    #[serde(default)]
    pub compile: CompileDefaults,
    #[serde(default)]
    pub test: TestDefaults,
    #[serde(default)]
    pub run: RunDefaults,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDefaults {
    pub deny_warnings: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileDefaults {
    /// A target profile or `all`.
    pub target: Option<String>,
    /// The output folder, relative to the config file.
    pub out: Option<PathBuf>,
    pub deny_warnings: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDefaults {
    pub deny_warnings: Option<bool>,
    /// The coverage gate: every rule needs a must-alert and a must-not-alert test.
    pub require_tests: Option<Gate>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunDefaults {
    /// `--allowed-lateness`: a duration (`90s`, `30m`, `6h`, `2d`) or `unbounded`.
    pub allowed_lateness: Option<String>,
    /// `--schema`: an input schema name (built in or from `inputs:`).
    pub schema: Option<String>,
    pub strict: Option<bool>,
}

/// What a coverage gap (a rule without a must-alert or a must-not-alert test) does to
/// `detc test`: the `require_tests` gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// A gap fails the run (exit 1).
    #[default]
    Error,
    /// Gaps are listed and counted; the run passes.
    Warn,
    /// Not checked.
    Off,
}

impl Gate {
    pub fn name(self) -> &'static str {
        match self {
            Gate::Error => "error",
            Gate::Warn => "warn",
            Gate::Off => "off",
        }
    }
}

/// One entry of `inputs:`: a schema written inline, or the path of a schema file (relative to
/// the config). Told apart by hand, so that serde_yaml's own message and position for a
/// mistake inside an inline schema survive (an untagged enum would only say "no variant").
#[derive(Debug)]
enum InputEntry {
    Path(String),
    Inline(Box<SchemaFile>),
}

impl<'de> Deserialize<'de> for InputEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InputEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "an input schema (a mapping as in targets/inputs/*.yaml) or the path of one",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InputEntry, E> {
                Ok(InputEntry::Path(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<InputEntry, A::Error> {
                SchemaFile::deserialize(de::value::MapAccessDeserializer::new(m))
                    .map(|s| InputEntry::Inline(Box::new(s)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value read from the config file, with where it was written.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub at: Span,
}

/// Where a resolved setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// `path:line:col` of the value in the config file.
    File(String),
    Flag,
}

impl Origin {
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::File(_) => "file",
            Origin::Flag => "flag",
        }
    }
}

/// A setting as a command uses it.
#[derive(Debug, Clone)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

/// The flag if given, else the file's value, else the default.
pub fn resolve<T: Clone>(flag: Option<T>, file: Option<&Located<T>>, default: T) -> Setting<T> {
    match (flag, file) {
        (Some(v), _) => Setting {
            value: v,
            origin: Origin::Flag,
        },
        (None, Some(l)) => Setting {
            value: l.value.clone(),
            origin: Origin::File(where_(&l.at)),
        },
        (None, None) => Setting {
            value: default,
            origin: Origin::Default,
        },
    }
}

fn where_(s: &Span) -> String {
    if s.line == 0 {
        s.path.as_str().to_string()
    } else {
        format!("{}:{}:{}", s.path.as_str(), s.line, s.col)
    }
}

/// A project's schema, with the file it was written in.
#[derive(Debug, Clone)]
pub struct UserSchema {
    pub schema: InputSchema,
    pub file: String,
}

/// The checked config.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file read (`None`: no detc.yaml, every setting is its default).
    pub path: Option<PathBuf>,
    pub check_deny_warnings: Option<Located<bool>>,
    pub compile_target: Option<Located<String>>,
    /// Relative to the config file's folder already.
    pub compile_out: Option<Located<PathBuf>>,
    pub compile_deny_warnings: Option<Located<bool>>,
    pub test_deny_warnings: Option<Located<bool>>,
    pub test_require_tests: Option<Located<Gate>>,
    /// Seconds, `None` for unbounded.
    pub run_allowed_lateness: Option<Located<Lateness>>,
    pub run_schema: Option<Located<String>>,
    pub run_strict: Option<Located<bool>>,
    /// The pack's time zone (`timezone:`): the offset of every rule without a `timezone`
    /// clause of its own.
    pub timezone: Option<Located<Offset>>,
    pub schemas: Vec<UserSchema>,
    pub targets: Overrides,
    /// Where each override was written: (target, source, key) -> span.
    pub target_spans: BTreeMap<(String, String, String), Span>,
}

impl Config {
    /// Makes this config the one every command of the process reads ([`active`]): its schemas,
    /// target overrides and time zone. Once per process (the CLI calls it before running a
    /// command); a second call is ignored and says so.
    pub fn install(&self) -> bool {
        INSTALLED.set(Arc::new(self.clone())).is_ok()
    }
}

/// The config [`Config::install`] made the process's.
static INSTALLED: OnceLock<Arc<Config>> = OnceLock::new();

thread_local! {
    /// The config of the pack this thread is checking, when it is not the process's: the
    /// language server serves several packs, each with its own `detc.yaml` (or none).
    static SCOPED: RefCell<Option<Option<Arc<Config>>>> = const { RefCell::new(None) };
}

/// The project config in force: the one [`scoped`] gives on this thread, else the one
/// installed for the process, else none. What the checker (the pack's time zone, the schema
/// names rule tests may give), the evaluator (the project's schemas) and the backends (target
/// overrides) read.
pub fn active() -> Option<Arc<Config>> {
    SCOPED
        .with(|s| s.borrow().clone())
        .unwrap_or_else(|| INSTALLED.get().cloned())
}

/// Runs `f` with `config` in force on this thread (`None`: no config at all, whatever the
/// process installed); the previous one is back afterwards, also if `f` unwinds.
pub fn scoped<R>(config: Option<Arc<Config>>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Option<Arc<Config>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            SCOPED.with(|s| *s.borrow_mut() = prev);
        }
    }
    let _restore = Restore(SCOPED.with(|s| s.borrow_mut().replace(config)));
    f()
}

/// A UTC offset as written (`+02:00`) and in minutes east of UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offset {
    pub text: String,
    pub minutes: i32,
}

/// The pack's `timezone:` value checked: `+HH:MM` or `-HH:MM` from -12:00 to +14:00 (the rule
/// clause's own reading, [`crate::ir::time::utc_offset`]); E0035 for another shape, E0036 out
/// of range.
fn pack_timezone(v: &serde_yaml::Value, at: Span) -> Result<Offset, Diagnostic> {
    use crate::ir::time::OffsetError;
    let named = "named zones (`Europe/Paris`) are not supported: their daylight-saving rules come from each engine's own time-zone database; write the estate's standard offset";
    let text = match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => {
            return Err(Diagnostic::new(
                Code::E0035,
                format!("`timezone: {n}` is not a UTC offset"),
            )
            .at(at)
            .found(format!("the number `{n}`"))
            .expected("a UTC offset `+HH:MM` or `-HH:MM`, quoted (`timezone: \"+02:00\"`)")
            .hint(
                "write the hours and minutes with their sign: `+02:00`, `-05:00`, `+00:00` for UTC",
            ))
        }
        other => {
            let shown = serde_yaml::to_string(other).unwrap_or_default();
            return Err(
                Diagnostic::new(Code::E0035, "`timezone` is not a UTC offset")
                    .at(at)
                    .found(format!("`{}`", shown.trim()))
                    .expected("a UTC offset `+HH:MM` or `-HH:MM`, quoted (`timezone: \"+02:00\"`)"),
            );
        }
    };
    match crate::ir::time::utc_offset(&text) {
        Ok(minutes) => Ok(Offset { text, minutes }),
        Err(OffsetError::Shape) => {
            let d = Diagnostic::new(Code::E0035, format!("`{text}` is not a UTC offset"))
                .at(at)
                .found(format!("`{text}`"))
                .expected("a UTC offset `+HH:MM` or `-HH:MM` (two digits each, with the sign)");
            Err(
                if text.contains('/') || text.chars().all(|c| c.is_ascii_alphabetic()) {
                    d.hint(named)
                } else {
                    d.hint("write the hours and minutes with two digits each and the sign: `+02:00`, `-05:00`, `+00:00` for UTC")
                },
            )
        }
        Err(OffsetError::Range) => Err(Diagnostic::new(
            Code::E0036,
            format!("`{text}` is not a UTC offset in use"),
        )
        .at(at)
        .found(format!("`{text}`"))
        .expected("an offset from -12:00 to +14:00 with minutes below 60")
        .hint("write the estate's standard offset, e.g. `+02:00` or `-05:00`")),
    }
}

/// Problems with the config, with the texts to show them in.
#[derive(Debug)]
pub struct ConfigErrors {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceCache,
}

/// `--allowed-lateness`: seconds, or `None` for unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lateness(pub Option<u64>);

/// A lateness: a whole number of `s`, `m`, `h` or `d`, or `unbounded`.
pub fn parse_lateness(s: &str) -> Result<Lateness, String> {
    if s == "unbounded" {
        return Ok(Lateness(None));
    }
    let unit = s.len().saturating_sub(1);
    let mult: u64 = match s.get(unit..) {
        Some("s") => 1,
        Some("m") => 60,
        Some("h") => 3600,
        Some("d") => 86_400,
        _ => return Err("expected a duration such as 90s, 30m, 6h, 2d, or `unbounded`".into()),
    };
    s[..unit]
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n <= i64::MAX as u64)
        .map(|n| Lateness(Some(n)))
        .ok_or_else(|| format!("`{s}`: expected a whole number before the unit"))
}

/// The config of the pack holding `paths`: the nearest `detc.yaml` in the folder of the first
/// path or above it, up to the repository root (a folder with `.git`) or the file system's.
pub fn discover(paths: &[PathBuf]) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let first = paths.first().cloned().unwrap_or_else(|| cwd.clone());
    let abs = if first.is_absolute() {
        first
    } else {
        cwd.join(first)
    };
    let start = if abs.is_dir() {
        abs
    } else {
        abs.parent().map(Path::to_path_buf).unwrap_or(cwd)
    };
    for dir in start.ancestors() {
        let f = dir.join(FILE_NAME);
        if f.is_file() {
            return Some(f);
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

/// The path as shown in messages: relative to the current folder when under it.
fn shown(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let name = shown(path);
    let mut sources = SourceCache::new();
    let fail = |d: Diagnostic, sources: SourceCache| ConfigErrors {
        diagnostics: vec![d],
        sources,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Err(fail(
                Diagnostic::new(Code::E0030, format!("cannot read `{name}`: {e}"))
                    .at(Span::file(&name))
                    .hint("the project config must be a readable UTF-8 YAML file"),
                sources,
            ))
        }
    };
    sources.insert(name.clone(), text.clone());
    // An empty file (or one of comments only) is a config with every default.
    let file: ConfigFile = if text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    }) {
        ConfigFile::default()
    } else {
        match serde_yaml::from_str(&text) {
            Ok(f) => f,
            Err(e) => return Err(fail(yaml_error(&name, &text, &e, "config"), sources)),
        }
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut diags = Vec::new();
    let at = |keys: &[&str]| locate(&name, &text, keys);
    let mut cfg = Config {
        path: Some(path.to_path_buf()),
        ..Config::default()
    };
    let d = &file.defaults;
    let loc = |v: Option<bool>, keys: &[&str]| {
        v.map(|value| Located {
            value,
            at: at(keys),
        })
    };
    cfg.check_deny_warnings = loc(
        d.check.deny_warnings,
        &["defaults", "check", "deny_warnings"],
    );
    cfg.compile_deny_warnings = loc(
        d.compile.deny_warnings,
        &["defaults", "compile", "deny_warnings"],
    );
    cfg.test_deny_warnings = loc(d.test.deny_warnings, &["defaults", "test", "deny_warnings"]);
    cfg.run_strict = loc(d.run.strict, &["defaults", "run", "strict"]);
    cfg.test_require_tests = d.test.require_tests.map(|value| Located {
        value,
        at: at(&["defaults", "test", "require_tests"]),
    });
    cfg.compile_out = d.compile.out.as_ref().map(|o| Located {
        value: dir.join(o),
        at: at(&["defaults", "compile", "out"]),
    });
    if let Some(t) = &d.compile.target {
        let span = at(&["defaults", "compile", "target"]);
        let names: Vec<&str> = crate::registry::profile_names().collect();
        if t != "all" && !names.contains(&t.as_str()) {
            let mut e = Diagnostic::new(Code::E0031, format!("unknown target `{t}`"))
                .at(span.clone())
                .found(format!("`{t}`"))
                .expected(format!("one of {}, or all", names.join(", ")));
            if let Some(n) = crate::diag::nearest(t, names.iter().copied()) {
                e = e.hint(format!("did you mean `{n}`?"));
            }
            diags.push(e);
        }
        cfg.compile_target = Some(Located {
            value: t.clone(),
            at: span,
        });
    }
    if let Some(l) = &d.run.allowed_lateness {
        let span = at(&["defaults", "run", "allowed_lateness"]);
        match parse_lateness(l) {
            Ok(v) => cfg.run_allowed_lateness = Some(Located { value: v, at: span }),
            Err(why) => diags.push(
                Diagnostic::new(
                    Code::E0031,
                    format!("`allowed_lateness` is not a duration: {why}"),
                )
                .at(span)
                .found(format!("`{l}`"))
                .expected("a duration such as 90s, 30m, 6h, 2d, or `unbounded`"),
            ),
        }
    }

    if let Some(v) = &file.timezone {
        let span = at(&["timezone"]);
        match pack_timezone(v, span.clone()) {
            Ok(o) => cfg.timezone = Some(Located { value: o, at: span }),
            Err(d) => diags.push(d),
        }
    }

    // Input schemas: each checked against the catalogue, named apart from the built-in ones
    // and from each other.
    for entry in file.inputs {
        let (schema_file, sname, stext, anchor): (SchemaFile, String, String, Vec<String>) =
            match entry {
                InputEntry::Inline(f) => {
                    let n = f.name.clone();
                    (*f, name.clone(), text.clone(), vec!["inputs".into(), n])
                }
                InputEntry::Path(p) => {
                    let full = dir.join(&p);
                    let fname = shown(&full);
                    let t = match std::fs::read_to_string(&full) {
                        Ok(t) => t,
                        Err(e) => {
                            diags.push(
                                Diagnostic::new(
                                    Code::E0034,
                                    format!("cannot read input schema `{p}`: {e}"),
                                )
                                .at(at(&["inputs", &p]))
                                .found(format!("`{p}`"))
                                .expected("the path of a schema file, relative to detc.yaml")
                                .hint(
                                    "paths under `inputs:` are relative to the folder of detc.yaml",
                                ),
                            );
                            continue;
                        }
                    };
                    sources.insert(fname.clone(), t.clone());
                    match serde_yaml::from_str::<SchemaFile>(&t) {
                        Ok(f) => (f, fname, t, Vec::new()),
                        Err(e) => {
                            diags.push(yaml_error(&fname, &t, &e, "input schema"));
                            continue;
                        }
                    }
                }
            };
        let schema_name = schema_file.name.clone();
        let name_span = {
            let mut k: Vec<&str> = anchor.iter().map(String::as_str).collect();
            if k.is_empty() {
                k.push("name");
            }
            locate(&sname, &stext, &k)
        };
        let known = crate::eval::schema::names();
        if crate::registry::INPUT_NAMES.contains(&schema_name.as_str())
            || cfg.schemas.iter().any(|s| s.schema.name == schema_name)
        {
            diags.push(
                Diagnostic::new(
                    Code::E0032,
                    format!("input schema `{schema_name}` is defined twice"),
                )
                .at(name_span)
                .found(format!("`{schema_name}`"))
                .expected(format!(
                    "a name of its own (taken: {})",
                    known
                        .iter()
                        .cloned()
                        .chain(cfg.schemas.iter().map(|s| s.schema.name.clone()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .hint("rename it: `--schema NAME` and a rule test's `schema NAME` choose by name"),
            );
            continue;
        }
        match InputSchema::from_file(schema_file) {
            Ok(s) => cfg.schemas.push(UserSchema {
                schema: s,
                file: sname,
            }),
            Err(e) => {
                let mut k: Vec<&str> = anchor.iter().map(String::as_str).collect();
                if e.key != "source" && e.key != "applies" {
                    k.push("fields");
                }
                k.push(&e.key);
                let mut d = Diagnostic::new(
                    Code::E0032,
                    format!("input schema `{schema_name}`: {}", e.message),
                )
                .at(locate(&sname, &stext, &k))
                .found(e.found)
                .expected(e.expected);
                if let Some(h) = e.hint {
                    d = d.hint(h);
                }
                diags.push(d);
            }
        }
    }
    if let Some(s) = &d.run.schema {
        let span = at(&["defaults", "run", "schema"]);
        let mut all = crate::eval::schema::names();
        all.extend(cfg.schemas.iter().map(|u| u.schema.name.clone()));
        if !all.contains(s) {
            let mut e = Diagnostic::new(Code::E0031, format!("unknown input schema `{s}`"))
                .at(span.clone())
                .found(format!("`{s}`"))
                .expected(format!("one of {}", all.join(", ")));
            if let Some(n) = crate::diag::nearest(s, all.iter().map(String::as_str)) {
                e = e.hint(format!("did you mean `{n}`?"));
            }
            diags.push(e);
        }
        cfg.run_schema = Some(Located {
            value: s.clone(),
            at: span,
        });
    }

    // Target overrides: merged over the built-in profiles with the profiles' own checks.
    match crate::targets::profile::builtin_profiles() {
        Ok(mut profiles) => {
            for (target, srcs) in &file.targets {
                for (source, o) in srcs {
                    match crate::targets::profile::apply_override(&mut profiles, target, source, o)
                    {
                        Ok(()) => {
                            for (key, set) in [
                                ("from", o.from.is_some()),
                                ("search", o.search.is_some()),
                                ("summariesonly", o.summariesonly.is_some()),
                                ("logsource", o.logsource.is_some()),
                            ] {
                                if set {
                                    cfg.target_spans.insert(
                                        (target.clone(), source.clone(), key.to_string()),
                                        at(&["targets", target, source, key]),
                                    );
                                }
                            }
                            cfg.targets
                                .entry(target.clone())
                                .or_default()
                                .insert(source.clone(), o.clone());
                        }
                        Err(e) => {
                            let keys: Vec<&str> = if e.key == *target {
                                vec!["targets", target]
                            } else if e.key == *source {
                                vec!["targets", target, source]
                            } else {
                                vec!["targets", target, source, &e.key]
                            };
                            let mut d = Diagnostic::new(Code::E0033, e.message)
                                .at(at(&keys))
                                .found(e.found)
                                .expected(e.expected);
                            if let Some(h) = e.hint {
                                d = d.hint(h);
                            }
                            diags.push(d);
                        }
                    }
                }
            }
        }
        Err(d) => diags.push(d),
    }
    crate::diag::sort(&mut diags);
    if diags.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors {
            diagnostics: diags,
            sources,
        })
    }
}

/// A serde_yaml error (syntax, unknown key, wrong type) as a located diagnostic: E0030 for text
/// that is not YAML, E0031 for YAML that is not a config (or schema) file.
fn yaml_error(path: &str, text: &str, e: &serde_yaml::Error, what: &str) -> Diagnostic {
    let full = e.to_string();
    // serde_yaml appends " at line L column C"; the span says it. Rust type names mean nothing
    // to a reader of the file.
    let msg = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i])
        .to_string();
    let msg = rust_names(&msg);
    let span = match e.location() {
        Some(l) => Span::from_offsets(path, text, l.index(), l.index()),
        None => Span::file(path),
    };
    let syntax = !(msg.contains("unknown field")
        || msg.contains("invalid type")
        || msg.contains("invalid value")
        || msg.contains("unknown variant")
        || msg.contains("missing field"));
    let code = if syntax { Code::E0030 } else { Code::E0031 };
    // "KEYPATH: unknown field `x`, expected one of `a`, `b`" -> found / expected.
    let body = msg.split_once(": ").map_or(msg.as_str(), |(_, b)| b);
    let mut d = Diagnostic::new(code, format!("{what}: {msg}")).at(span);
    if let Some((found, expected)) = body.split_once(", expected ") {
        let shown = match (found.starts_with("unknown"), backticked(found)) {
            (true, Some(w)) => format!("`{w}`"),
            _ => found.trim_start_matches("invalid type: ").to_string(),
        };
        d = d.found(shown).expected(expected.to_string());
        if let (Some(word), true) = (backticked(found), found.starts_with("unknown")) {
            let options: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            if let Some(n) = crate::diag::nearest(word, options.iter().copied()) {
                d = d.hint(format!("did you mean `{n}`?"));
            }
        }
    } else if syntax {
        d = d
            .hint("YAML: check the indentation (spaces, never tabs) and the quoting at this point");
    }
    if !syntax && !d.hints.iter().any(|h| h.contains("did you mean")) {
        d = d.hint("docs/CONFIG.md lists every key of detc.yaml and its type");
    }
    d
}

/// `struct DefaultsFile` -> `a mapping`: serde names the Rust type it expected.
fn rust_names(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(i) = rest.find("struct ") {
        out.push_str(&rest[..i]);
        out.push_str("a mapping");
        let tail = &rest[i + 7..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn backticked(s: &str) -> Option<&str> {
    let a = s.find('`')?;
    let b = s[a + 1..].find('`')?;
    Some(&s[a + 1..a + 1 + b])
}

/// The span of the value at `keys` in a YAML text: each key is looked for after the previous
/// one (as a mapping key `key:`, or as a scalar `name: key` / `- key` for a list entry), so a
/// nested key is found under its parents. The file alone when a key is not found (flow style
/// written in odd ways): the message still names it.
pub fn locate(path: &str, text: &str, keys: &[&str]) -> Span {
    let mut from = 0usize;
    let mut last = None;
    for k in keys {
        match find_key(text, from, k) {
            Some((s, e)) => {
                last = Some((s, e));
                from = e;
            }
            None => break,
        }
    }
    match last {
        Some((s, e)) => Span::from_offsets(path, text, s, e),
        None => Span::file(path),
    }
}

/// The first occurrence of `key` at or after `from` that stands as a key (`key:`) or as a whole
/// scalar value (after `: ` or `- `), quoted or not.
fn find_key(text: &str, from: usize, key: &str) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(off) = text.get(i..)?.find(key) {
        let s = i + off;
        let e = s + key.len();
        let before = text[..s].trim_end_matches(['"', '\'']);
        let after = text[e..].trim_start_matches(['"', '\'']);
        let key_start =
            before.is_empty() || before.ends_with(['\n', ' ', '{', ',', '-', '[', '\t']);
        let key_end = after.starts_with(':')
            || after.is_empty()
            || after.starts_with(['\n', '\r', ',', '}', ']', ' ', '#']);
        if key_start && key_end {
            return Some((s, e));
        }
        i = e;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_nested_keys_under_their_parents() {
        let t = "defaults:\n  test:\n    deny_warnings: true\n  check:\n    deny_warnings: false\n";
        let s = locate("d.yaml", t, &["defaults", "check", "deny_warnings"]);
        assert_eq!((s.line, s.col), (5, 5));
        let s = locate("d.yaml", t, &["defaults", "test", "deny_warnings"]);
        assert_eq!((s.line, s.col), (3, 5));
    }

    #[test]
    fn lateness_units() {
        assert_eq!(parse_lateness("90s"), Ok(Lateness(Some(90))));
        assert_eq!(parse_lateness("2d"), Ok(Lateness(Some(172_800))));
        assert_eq!(parse_lateness("unbounded"), Ok(Lateness(None)));
        assert!(parse_lateness("6 hours").is_err());
        assert!(parse_lateness("h").is_err());
    }
}
