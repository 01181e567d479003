//! The rules under test, loaded through the frontend (the library's own load -> parse -> check
//! path): the pack in rules/, and rules the pack lacks written in the language (files under
//! tests/data/rules/, or text built here). Plus small IR builders for the tests that edit a
//! loaded rule (a lower threshold, one conjunct more or less).

use detc::diag::Span;
use detc::ir::{
    AggFunc, Aggregate, Case, CmpOp, Expr, FieldRef, FieldType, Op, Pack, Predicate, Rule, Source,
    Value,
};
use detc::SourceFile;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Parses and checks `files`; any error fails the calling test with the rendered diagnostics.
pub fn checked(files: &[SourceFile]) -> Pack {
    let fe = detc::frontend(files);
    let errors: Vec<String> = fe
        .diagnostics
        .iter()
        .filter(|d| d.severity == detc::diag::Severity::Error)
        .map(|d| detc::diag::render_human(d, &fe.sources))
        .collect();
    match fe.pack {
        Some(pack) if errors.is_empty() => pack,
        _ => unreachable!("the rules under test must check:\n{}", errors.join("\n")),
    }
}

fn load(paths: &[PathBuf]) -> Pack {
    match detc::load::load_sources(paths) {
        Ok(files) => checked(&files),
        Err(d) => unreachable!("cannot load {paths:?}: {}", d.message),
    }
}

/// The pack of rules/, checked once per test process.
pub fn rule_pack() -> Pack {
    static PACK: OnceLock<Pack> = OnceLock::new();
    PACK.get_or_init(|| load(&[PathBuf::from("rules")])).clone()
}

/// Every rule of rules/, in the pack's order.
pub fn pack() -> Vec<Rule> {
    rule_pack().rules
}

/// One rule of rules/ by name.
pub fn pack_rule(name: &str) -> Rule {
    match rule_pack().rules.into_iter().find(|r| r.name == name) {
        Some(r) => r,
        None => unreachable!("rules/ has no rule `{name}`"),
    }
}

/// AN0379: mail protocol from a process that is neither a mail client nor a mail server, >= 3
/// connections per hour and group.
pub fn an0379() -> Rule {
    pack_rule("an0379_mail_protocol_unexpected_process")
}

/// AN0379's companion: a scripting host on a mail port, one alert per event.
pub fn scripting_host_mail() -> Rule {
    pack_rule("an0379_scripting_host_mail")
}

/// AN0382: more than 50 MB per hour from a private source to mail ports of a destination that is
/// not private, loopback, link-local or an approved relay.
pub fn an0382() -> Rule {
    pack_rule("an0382_external_mail_volume")
}

/// T1071.003 as the seed Defender query meant it, done right.
pub fn t1071_003() -> Rule {
    pack_rule("t1071_003_defender_mail_ports")
}

/// The only rule of tests/data/rules/`file`.
pub fn data_rule(file: &str) -> Rule {
    let mut pack = load(&[PathBuf::from("tests/data/rules").join(file)]);
    assert_eq!(pack.rules.len(), 1, "{file} holds one rule");
    pack.rules.remove(0)
}

/// The only rule of `text` (a rule file held in memory, named `path` in diagnostics).
pub fn text_rule(path: &str, text: &str) -> Rule {
    let mut pack = checked(&[SourceFile {
        path: path.into(),
        text: text.into(),
    }]);
    assert_eq!(pack.rules.len(), 1, "{path} holds one rule");
    pack.rules.remove(0)
}

/// Constructs the pack rules do not use (tests/data/rules/constructs_tour.detc).
pub fn constructs() -> Rule {
    data_rule("constructs_tour.detc")
}

/// A hand-built test rule `name`: the metadata every rule needs (`id`, `title`, `description`,
/// `date`, then the fixed author, status, levels, technique and references), then `body` (its
/// `source`, `where` and any aggregation), as the file `path` holds it, checked.
pub fn hand_rule(path: &str, name: &str, meta: [&str; 4], body: &str) -> Rule {
    let [id, title, description, date] = meta.map(detc_string);
    text_rule(
        path,
        &format!(
            r#"rule {name} {{
  id {id}
  title {title}
  description {description}
  author "detc tests"
  date {date}
  status experimental
  severity low
  confidence low
  attack T1071.003
  references ["https://attack.mitre.org/techniques/T1071/003/"]
  falsepositives ["Everything"]

{body}
}}
"#
        ),
    )
}

/// `v` as a detc string literal: `"..."` with the language's escapes (`\" \\ \n \r \t \u{hex}`).
pub fn detc_string(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A rule whose filter holds `value` in equality, list, startswith/contains and regex positions.
/// The empty value takes no startswith/contains position: the language refuses an empty needle
/// (E0227), so no rule can bring one to a target.
pub fn hostile(value: &str) -> Rule {
    let v = detc_string(value);
    let re = detc_string(&regex::escape(value));
    let needles = if value.is_empty() {
        String::new()
    } else {
        format!(
            "
         or remote.host startswith {v}
         or host contains~ {v}"
        )
    };
    let text = format!(
        r#"rule hostile_values {{
  id "deadbeef-0000-4000-8000-000000000001"
  title "Hostile values"
  description "A hostile value in every position a string reaches a query."
  author "detc tests"
  date "2026-11-26"
  status experimental
  severity high
  confidence medium
  attack T1071.003
  references ["https://attack.mitre.org/techniques/T1071/003/"]
  falsepositives ["Mail servers and sanctioned mail clients"]

  source network_connection
  where direction == outbound
    and (process.path == {v}
         or user in~ [{v}, "x"]{needles}
         or process.path matches {re})
}}
"#
    );
    text_rule("tests/data/rules/hostile_values.detc", &text)
}

pub fn span() -> Span {
    Span::file("rules/test.detc")
}

pub fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

pub fn ip(x: &str) -> Value {
    Value::Ip(x.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])))
}

pub fn en(x: &str) -> Value {
    Value::Enum(x.to_string())
}

pub fn f(n: &str) -> FieldRef {
    FieldRef::Field(n.to_string())
}

/// A predicate on a field of `source`, typed from the catalogue.
pub fn pred(source: Source, field: &str, op: Op) -> Expr {
    let ty = detc::ir::catalogue::field(source, field)
        .map(|f| f.ty)
        .unwrap_or(FieldType::String);
    Expr::Pred(Predicate {
        field: f(field),
        ty,
        op,
        each: false,
        span: span(),
    })
}

pub fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

/// `in [ports]`, named like the pack's list.
pub fn port_in(ports: &[i64]) -> Op {
    Op::In {
        values: ports.iter().map(|p| Value::Int(*p)).collect(),
        case: Case::Sensitive,
        list: Some("mail_ports".into()),
    }
}

pub fn computed(name: &str, op: Op) -> Expr {
    Expr::Pred(Predicate {
        field: FieldRef::Computed(name.into()),
        ty: FieldType::String,
        op,
        each: false,
        span: span(),
    })
}

pub fn having(name: &str, op: CmpOp, v: i64) -> Expr {
    Expr::Pred(Predicate {
        field: FieldRef::Aggregate(name.to_string()),
        ty: FieldType::Int,
        op: Op::Cmp {
            op,
            value: Value::Int(v),
        },
        each: false,
        span: span(),
    })
}

pub fn agg(name: &str, func: AggFunc, ty: FieldType) -> Aggregate {
    Aggregate {
        name: name.to_string(),
        func,
        ty,
        span: span(),
    }
}

pub fn event(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// AN0382 with another threshold: `having sent > bytes` (the pack's is 50 MB).
pub fn an0382_over(bytes: i64) -> Rule {
    let mut r = an0382();
    let having = r.aggregation.as_mut().and_then(|a| a.having.as_mut());
    match having {
        Some(Expr::Pred(Predicate {
            op: Op::Cmp { value, .. },
            ..
        })) => *value = Value::Int(bytes),
        other => unreachable!("AN0382's having is one comparison, not {other:?}"),
    }
    r
}

/// `rules` as a pack, with the lists of rules/.
pub fn pack_of(rules: Vec<Rule>) -> Pack {
    Pack {
        rules,
        lists: rule_pack().lists,
    }
}

/// The pack's rules and the construct tour.
pub fn all() -> Vec<Rule> {
    let mut v = pack();
    v.push(constructs());
    v
}

/// The correlation test rules of tests/data/correlation/ and the pack's correlations (rules/,
/// among them AN0379's start-then-mail-port rule): one copy of each, checked with the pack's
/// lists.
pub fn correlations() -> detc::ir::Pack {
    let root = crate::support::oracle::repo_root();
    let paths = [root.join("tests/data/correlation"), root.join("rules")];
    let files = detc::load::load_sources(&paths)
        .unwrap_or_else(|d| unreachable!("the correlation rules load: {}", d.message));
    let fe = detc::frontend_with(&files, &detc::load::FsLoader::for_paths(&paths));
    let mut pack = fe
        .pack
        .unwrap_or_else(|| unreachable!("the correlation rules check: {:?}", fe.diagnostics));
    pack.rules.retain(|r| r.correlation.is_some());
    pack
}

/// The loader that reads the test events of [`correlations`].
pub fn correlations_loader() -> detc::load::FsLoader {
    let root = crate::support::oracle::repo_root();
    detc::load::FsLoader::for_paths(&[root.join("tests/data"), root.join("rules")])
}

/// A hand-built `network_connection` rule named `name` with `body` (its `where` and what
/// follows), its id numbered `n` under the test file's `id_prefix` (8 hex digits).
pub fn connection_rule(name: &str, id_prefix: &str, n: u32, body: &str) -> Rule {
    text_rule(
        &format!("{name}.detc"),
        &format!(
            r#"rule {name} {{
  id "{id_prefix}-0000-4000-8000-{n:012}"
  title "Test rule {n}"
  description "Hand-built test rule."
  author "detc tests"
  date "2026-12-03"
  status experimental
  severity low
  confidence low

  source network_connection
{body}
}}
"#
        ),
    )
}

/// Runs `rules` over `file` as one pack and each alone with `opts`: every rule has the same
/// match count and alerts in both (a pack's dispatch, index and shared predicates must never mix
/// rules up). Returns the pack's run for further checks.
pub fn pack_equals_alone(
    rules: &[Rule],
    file: &std::path::Path,
    opts: &detc::eval::run::RunOptions,
) -> detc::eval::run::RunOutput {
    use detc::eval::run::run_files;
    let f = file.to_path_buf();
    let pack = run_files(rules, std::slice::from_ref(&f), opts)
        .unwrap_or_else(|d| unreachable!("the pack: {d:?}"));
    let mut alone = Vec::new();
    for r in rules {
        let one = run_files(std::slice::from_ref(r), std::slice::from_ref(&f), opts)
            .unwrap_or_else(|d| unreachable!("{} alone: {d:?}", r.name));
        assert_eq!(
            pack.summary.matched_by_rule.get(&r.name),
            one.summary.matched_by_rule.get(&r.name),
            "{} (threads {}, prefilter {})",
            r.name,
            opts.threads,
            opts.prefilter
        );
        alone.extend(one.alerts);
    }
    detc::eval::sort_alerts(&mut alone);
    assert_eq!(
        pack.alerts, alone,
        "threads {}, prefilter {}",
        opts.threads, opts.prefilter
    );
    pack
}
