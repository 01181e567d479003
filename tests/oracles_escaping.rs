//! Hostile metadata and names against the readers of every target (issue 9, items 1 to 5):
//! Kusto.Language for KQL, PyYAML and Python `re` (pySigma's readers) for Sigma. Oracles are
//! installed by scripts/install-oracles.sh; a missing one fails the test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
#[path = "support/backend_rules.rs"]
#[allow(dead_code)]
mod backend_rules;
#[path = "support/oracle.rs"]
mod oracle;

use detc::ir::{AggFunc, FieldRef, Rule};
use detc::targets;
use oracle::{kql_profile_tables, kusto_check_in, kusto_keywords, kusto_statements, KustoQuery};

const KQL_PROFILES: [&str; 2] = ["kql-defender", "kql-sentinel"];

/// Every character Kusto, SPL or YAML 1.1 reads as a line break, and the other vertical spaces.
const BREAKS: [&str; 8] = [
    "\n", "\r", "\r\n", "\u{0b}", "\u{0c}", "\u{85}", "\u{2028}", "\u{2029}",
];

/// The title of the issue: a line separator, then a statement that empties the table.
fn breakout_title(brk: &str) -> String {
    format!("x{brk}let DeviceNetworkEvents = DeviceNetworkEvents | take 0;")
}

fn compile(rule: &Rule, target: &str) -> String {
    let p = targets::profile(target).expect("profile");
    targets::compile_rule(rule, &p)
        .unwrap_or_else(|d| panic!("{target}: {d:?}"))
        .text
}

/// Checks `queries` (profile, name, text) with every KQL profile's tables declared; returns the
/// failures (any diagnostic of any severity) as text.
fn kusto_failures(queries: &[(String, String, String)]) -> Vec<String> {
    let databases: Vec<(String, Vec<(String, String)>)> = KQL_PROFILES
        .iter()
        .map(|p| (p.to_string(), kql_profile_tables(p)))
        .collect();
    let batch: Vec<KustoQuery<'_>> = queries
        .iter()
        .map(|(db, name, text)| KustoQuery {
            database: db,
            name,
            text,
        })
        .collect();
    let results = kusto_check_in(&databases, &batch, false).expect("kusto oracle");
    assert_eq!(results.len(), queries.len());
    queries
        .iter()
        .zip(results)
        .filter(|(_, (_, d))| !d.is_empty())
        .map(|((_, name, text), (_, d))| format!("{name}: {d:?}\n{text}"))
        .collect()
}

/// Item 1, the checker: the issue's title, and a title with any line break, is E0208 at the title.
#[test]
fn a_title_with_a_line_break_is_refused_at_the_title() {
    for brk in BREAKS {
        let escaped: String = breakout_title(brk)
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c.to_string()
                } else {
                    format!("\\u{{{:x}}}", c as u32)
                }
            })
            .collect();
        let text = format!(
            "rule r {{\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\"\n  title \"{escaped}\"\n  \
             severity low\n  source network_connection\n  where remote.port == 25\n}}\n"
        );
        let fe = detc::frontend(&[detc::SourceFile {
            path: "t.detc".into(),
            text,
        }]);
        let codes: Vec<(&str, u32)> = fe
            .diagnostics
            .iter()
            .map(|d| (d.code, d.span.as_ref().map_or(0, |s| s.line)))
            .collect();
        assert_eq!(codes, vec![("E0208", 3)], "{brk:?}");
        assert!(fe.pack.is_none());
    }
}

/// Item 1, every emitter: a title that reaches KQL with a line break in it (an IR built without
/// the checker) stays one comment line: Kusto.Language parses ONE statement and finds nothing.
#[test]
fn a_title_with_a_line_break_stays_inside_the_kql_comment() {
    let mut queries = Vec::new();
    for profile in KQL_PROFILES {
        for brk in BREAKS {
            let mut rule = backend_rules::scripting_host_mail();
            rule.meta.title = breakout_title(brk);
            queries.push((
                profile.to_string(),
                format!("{profile} {brk:?}"),
                compile(&rule, profile),
            ));
        }
    }
    let texts: Vec<&str> = queries.iter().map(|(_, _, t)| t.as_str()).collect();
    let statements = kusto_statements(&texts).expect("kusto oracle");
    for ((_, name, text), n) in queries.iter().zip(&statements) {
        assert_eq!(*n, 1, "{name}: {n} statements\n{text}");
    }
    // The oracle does see the breakout when the comment is cut: a canary.
    let canary = format!("// {}\nDeviceNetworkEvents", breakout_title("\u{2028}"));
    assert_eq!(kusto_statements(&[&canary]).expect("kusto oracle"), vec![2]);
    let failures = kusto_failures(&queries);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `rule` with its computed field renamed `let_name` and its first aggregate `agg_name`.
fn renamed(mut rule: Rule, let_name: &str, agg_name: &str) -> Rule {
    let old_let = rule.lets[0].name.clone();
    rule.lets[0].name = let_name.to_string();
    let a = rule.aggregation.as_mut().expect("aggregation");
    for g in a.group_by.iter_mut() {
        if *g == FieldRef::Computed(old_let.clone()) {
            *g = FieldRef::Computed(let_name.to_string());
        }
    }
    let old_agg = a.aggregates[0].name.clone();
    assert!(matches!(a.aggregates[0].func, AggFunc::Count));
    a.aggregates[0].name = agg_name.to_string();
    a.having = Some(backend_rules::having(agg_name, detc::ir::CmpOp::Ge, 3));
    assert_ne!(old_agg, agg_name);
    rule
}

/// Item 5: every keyword Kusto.Language knows (SyntaxFacts.Keywords, which includes the issue's
/// `kind`, `title`, `search`, `string`, `long`, `union`, `toscalar`), used as the name of a
/// computed field (grouped by) and of an aggregate (in `having`), compiles to KQL in which
/// Kusto.Language finds nothing.
#[test]
fn kusto_keywords_as_computed_and_aggregate_names_compile_cleanly() {
    let words: Vec<String> = kusto_keywords()
        .expect("kusto oracle")
        .into_iter()
        .map(|(w, _)| w)
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect();
    assert!(words.len() > 150, "{} keywords", words.len());
    for w in [
        "kind", "title", "search", "string", "long", "union", "toscalar",
    ] {
        assert!(words.iter().any(|x| x == w), "{w} is not a keyword?");
    }
    for w in &words {
        assert!(
            targets::escape::kql_ident(w).starts_with("['"),
            "{w} is not bracketed"
        );
    }
    // Each word is a computed field in one profile and an aggregate in the other.
    let mut queries = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let profile = KQL_PROFILES[i % 2];
        let other = &words[(i + 1) % words.len()];
        let rule = renamed(backend_rules::an0379(), w, other);
        queries.push((
            profile.to_string(),
            format!("{profile} let {w} agg {other}"),
            compile(&rule, profile),
        ));
    }
    let failures = kusto_failures(&queries);
    assert!(
        failures.is_empty(),
        "{} of {} queries:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n\n")
    );
}
