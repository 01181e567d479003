//! Hostile metadata and names against the readers of every target (issue 9, items 1 to 5):
//! Kusto.Language for KQL, PyYAML and Python `re` (pySigma's readers) for Sigma. Oracles are
//! installed by scripts/install-oracles.sh; a missing one fails the test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::oracle;
use crate::support::rules;

use detc::ir::{AggFunc, FieldRef, Rule};
use detc::targets;
use oracle::{kql_profile_tables, kusto_check_in, kusto_keywords, kusto_statements, KustoQuery};

/// Every KQL profile of the registry (`targets/`), so a new one is checked here too.
fn kql_profiles() -> Vec<String> {
    detc::targets::load_profiles()
        .expect("profiles")
        .into_iter()
        .filter(|p| p.language == detc::targets::Language::Kql)
        .map(|p| p.name)
        .collect()
}

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
    let databases: Vec<(String, Vec<(String, String)>)> = kql_profiles()
        .iter()
        .map(|p| {
            (
                p.to_string(),
                kql_profile_tables(p).expect("profile tables"),
            )
        })
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
            .map(|d| (d.code.as_str(), d.span.as_ref().map_or(0, |s| s.line)))
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
    for profile in &kql_profiles() {
        for brk in BREAKS {
            let mut rule = rules::scripting_host_mail();
            rule.meta.title = breakout_title(brk);
            // the other metadata in the header, too (the checker allows no such id or name)
            rule.id = breakout_title(brk);
            rule.name = format!("r{}", breakout_title(brk));
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
    a.having = Some(rules::having(agg_name, detc::ir::CmpOp::Ge, 3));
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
    let kql = kql_profiles();
    for (i, w) in words.iter().enumerate() {
        let profile = kql[i % kql.len()].as_str();
        let other = &words[(i + 1) % words.len()];
        let rule = renamed(rules::an0379(), w, other);
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

/// Strings a YAML reader may turn into something else when written bare: YAML 1.1 booleans,
/// nulls, sexagesimal and underscored numbers, dates, the merge and value keys, indicators, line
/// breaks of YAML 1.1 (U+0085, U+2028, U+2029), characters PyYAML refuses raw (C1 controls,
/// U+FEFF), quotes and escapes.
fn yaml_corpus() -> Vec<String> {
    let mut v: Vec<String> = [
        "on",
        "On",
        "ON",
        "off",
        "yes",
        "Yes",
        "no",
        "NO",
        "y",
        "Y",
        "n",
        "N",
        "true",
        "False",
        "null",
        "Null",
        "~",
        "",
        " ",
        "1:20",
        "190:20:30",
        "1_000",
        "0b1010",
        "0x1F",
        "0o17",
        "017",
        "+1",
        "-1",
        "1e3",
        "1.5",
        ".5",
        ".inf",
        "-.Inf",
        ".NaN",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "=",
        "<<",
        "-",
        "- a",
        "? x",
        ": x",
        "a: b",
        "a #b",
        "#x",
        "@x",
        "`x",
        "!x",
        "!!str x",
        "&x",
        "*x",
        "%x",
        "|",
        ">",
        "[x]",
        "{x}",
        ",",
        "'",
        "\"",
        "\\",
        " lead",
        "trail ",
        "\n",
        "\r\n",
        "\t",
        "\u{0b}",
        "\u{0c}",
        "\u{1b}[31m",
        "\u{0}",
        "\u{7f}",
        "\u{85}",
        "\u{9f}",
        "\u{a0}",
        "\u{2028}",
        "\u{2029}",
        "\u{feff}",
        "\u{fffd}",
        "😀",
        "--- ",
        "...",
        "a\nb: c",
        "ünïcødé ☃ 日本",
        "C:\\Windows\\*\\?.exe",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("long-".repeat(2000));
    v
}

/// The entry `key` of a typed mapping (readback.py's `{"map": [[k, v], ...]}`).
fn entry<'a>(m: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    m["map"]
        .as_array()
        .and_then(|kv| kv.iter().find(|p| p[0] == serde_json::json!({"str": key})))
        .map(|p| &p[1])
        .unwrap_or_else(|| panic!("no `{key}` in {m}"))
}

fn typed_str(s: &str) -> serde_json::Value {
    serde_json::json!({"str": s})
}

/// Item 2: every Sigma file, the pack's and a hostile corpus's (every value in every detection
/// position and in every piece of metadata), loads with PyYAML (YAML 1.1, as pySigma loads it)
/// into exactly what serde_yaml (a YAML 1.2 reader) reads, and each value is the IR's value, as a
/// string.
#[test]
fn every_sigma_file_reads_back_the_same_with_pyyaml() {
    use detc::targets::escape::sigma_plain;
    let mut files: Vec<(String, String)> = Vec::new();
    let mut expected: Vec<Option<String>> = Vec::new();
    // The pack.
    let sources = detc::load::load_sources(&[oracle::repo_root().join("rules")]).expect("rules/");
    let pack = detc::frontend(&sources).pack.expect("rules/ checks clean");
    let res = targets::compile_pack(&pack, "sigma");
    assert!(!res.outputs.is_empty());
    for e in res.outputs {
        files.push((e.file_name, e.text));
        expected.push(None);
    }
    // The corpus, in every position.
    for v in yaml_corpus() {
        let mut rule = rules::hostile(&v);
        rule.meta.title = v.clone();
        rule.meta.description = Some(v.clone());
        rule.meta.author = Some(v.clone());
        rule.meta.references = vec![v.clone()];
        rule.meta.false_positives = vec![v.clone()];
        rule.meta.tags = vec![v.clone()];
        files.push((format!("{v:?}"), compile(&rule, "sigma")));
        expected.push(Some(v));
    }
    let (read, _) = oracle::python_readback(&files, &[]).expect("python oracle");
    assert_eq!(read.len(), files.len());
    let mut failures = Vec::new();
    for (((name, text), want), got) in files.iter().zip(&expected).zip(&read) {
        if let Some(e) = &got.error {
            failures.push(format!("{name}: PyYAML cannot load it: {e}\n{text}"));
            continue;
        }
        let ours: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(text)
            .map(|d| {
                let v: serde_yaml::Value = serde::Deserialize::deserialize(d).expect("YAML 1.2");
                oracle::typed_yaml(&v)
            })
            .collect();
        if ours != got.docs {
            failures.push(format!(
                "{name}: PyYAML reads\n{:?}\nserde_yaml reads\n{:?}\n{text}",
                got.docs, ours
            ));
            continue;
        }
        let Some(v) = want else { continue };
        let doc = &got.docs[0];
        // The rule's technique (T1071.003) tags its tactic and itself, from the ATT&CK catalogue,
        // before its own tags; a tag is written once.
        let mut tags = vec!["attack.command-and-control", "attack.t1071.003"];
        if !tags.contains(&v.as_str()) {
            tags.push(v);
        }
        let checks = [
            (
                "title",
                entry(doc, "title").clone(),
                // pySigma's limit: a longer title (refused by the checker, E0208) is cut
                if v.chars().count() <= 256 {
                    typed_str(v)
                } else {
                    typed_str(&format!("{}…", v.chars().take(255).collect::<String>()))
                },
            ),
            (
                "description",
                // an empty description is left out
                if v.is_empty() {
                    typed_str("")
                } else {
                    entry(doc, "description").clone()
                },
                typed_str(v),
            ),
            ("author", entry(doc, "author").clone(), typed_str(v)),
            (
                "references",
                entry(doc, "references").clone(),
                serde_json::json!({"seq": [typed_str(v)]}),
            ),
            (
                "falsepositives",
                entry(doc, "falsepositives").clone(),
                serde_json::json!({"seq": [typed_str(v)]}),
            ),
            ("date", entry(doc, "date").clone(), typed_str("2026-11-26")),
            (
                "tags",
                entry(doc, "tags").clone(),
                serde_json::json!({ "seq": tags.iter().map(|t| typed_str(t)).collect::<Vec<_>>() }),
            ),
        ];
        let det = entry(doc, "detection");
        let sel = |s: &str, k: &str| entry(entry(det, s), k).clone();
        let plain = typed_str(&sigma_plain(v));
        let ci = targets::ascii_ci_regex(v);
        // `in~` under ASCII-only folding: all-ASCII values stay a Sigma list (guarded against
        // non-ASCII values by `sel_user_2`); a value with a non-ASCII character is a regex.
        let (list_got, list_want) = if v.is_ascii() {
            (
                sel("sel_user", "User"),
                serde_json::json!({"seq": [plain.clone(), typed_str("x")]}),
            )
        } else {
            (
                serde_json::json!([sel("sel_user", "User"), sel("sel_user_3", "User|re")]),
                serde_json::json!([typed_str("x"), typed_str(&format!("^{ci}$"))]),
            )
        };
        let mut values = vec![
            (
                "equality",
                sel("sel_process_path", "Image|cased"),
                plain.clone(),
            ),
            ("list", list_got, list_want),
            (
                "regex",
                sel("sel_process_path_2", "Image|re"),
                typed_str(&regex::escape(v)),
            ),
        ];
        // The language refuses an empty needle (E0227): the empty value has no such positions.
        if !v.is_empty() {
            values.push((
                "startswith",
                sel("sel_remote_host", "DestinationHostname|startswith|cased"),
                plain.clone(),
            ));
            // `contains~`: the ASCII letters' cases spelled out as a regex
            values.push(("contains", sel("sel_host", "Computer|re"), typed_str(&ci)));
        }
        for (what, got, want) in checks.into_iter().chain(values) {
            if got != want {
                failures.push(format!("{name}: {what} reads {got}, not {want}\n{text}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

/// Item 3: a value written into a Sigma regex (a file name's start or middle over Sysmon's full
/// `Image` path) uses escapes Python's `re` accepts (pySigma compiles `|re` values with it), for
/// every control character and the other hostile values; each pattern also matches its value.
#[test]
fn every_sigma_regex_compiles_with_python_re() {
    use detc::ir::{Case, Op, Source, StrOp};
    let nc = Source::NetworkConnection;
    let mut values: Vec<String> = (0u32..0x20)
        .chain([0x7f, 0x85, 0x9f, 0xa0, 0x2028, 0x2029, 0xfeff])
        .filter_map(char::from_u32)
        .map(|c| format!("a{c}b"))
        .collect();
    values.extend(
        yaml_corpus()
            .into_iter()
            .filter(|v| !v.is_empty() && v.len() < 100 && !v.contains(['\\', '/'])),
    );
    let mut patterns: Vec<(String, String)> = Vec::new(); // (value, pattern)
    for v in &values {
        let mut rule = rules::hostile("x");
        rule.filter = detc::ir::Expr::Or(
            [StrOp::StartsWith, StrOp::Contains]
                .into_iter()
                .flat_map(|kind| {
                    [Case::Sensitive, Case::Insensitive].map(|case| {
                        rules::pred(
                            nc,
                            "process.name",
                            Op::Str {
                                kind,
                                needles: vec![v.clone()],
                                case,
                            },
                        )
                    })
                })
                .collect(),
        );
        let text = compile(&rule, "sigma");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        let det = doc["detection"].as_mapping().expect("detection");
        let mut n = 0;
        for (_, sel) in det {
            for (k, p) in sel.as_mapping().into_iter().flatten() {
                if k.as_str().is_some_and(|k| k.contains("|re")) {
                    patterns.push((v.clone(), p.as_str().expect("a pattern").to_string()));
                    n += 1;
                }
            }
        }
        assert_eq!(n, 4, "{v:?}\n{text}");
    }
    for (v, p) in &patterns {
        let re = regex::Regex::new(p).unwrap_or_else(|e| panic!("{v:?}: {p:?}: {e}"));
        assert!(re.is_match(&format!("C:\\dir\\{v}.exe")), "{v:?}: {p:?}");
    }
    let only: Vec<String> = patterns.iter().map(|(_, p)| p.clone()).collect();
    let (_, errors) = oracle::python_readback(&[], &only).expect("python oracle");
    let failures: Vec<String> = patterns
        .iter()
        .zip(errors)
        .filter_map(|((v, p), e)| e.map(|e| format!("{v:?}: {p:?}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Item 3, the rule's own regexes: a pattern valid for detc (RE2 syntax as the Rust regex crate
/// reads it) reaches Sigma's `|re`, which pySigma compiles with Python's `re`. Each one is either
/// emitted and compiles there, or refused (E0904) naming the construct `re` lacks; never emitted
/// broken.
#[test]
fn rule_regexes_reach_sigma_only_when_python_re_reads_them() {
    use detc::ir::{Case, Op, Source};
    let nc = Source::NetworkConnection;
    let patterns = [
        r"\x{1b}\[31m",
        r"\u{e9}",
        r"\p{L}+\.exe",
        r"\PL",
        r"\.exe\z",
        r"[[:alpha:]]+",
        r"(?<name>a)b",
        r"[a-z&&[^x]]",
        r"[a--b]",
        r"(?U)a+",
        r"\x1b",
        r"(?i)^power\w*\.exe$",
        r"^power\w*\.exe$",
        r"(?P<n>a)\d{2,3}",
        r"[\[\]]",
        r"\\x\{1b\}",
        r"[\\]x{1b}",
        r"\Qa.b\E",
    ];
    let mut emitted = Vec::new();
    // Each pattern as written (`matches`) and folded to ASCII-only case-insensitivity
    // (`matches~`: the ASCII letters' cases spelled out by regex-syntax's printer).
    for (p, case) in patterns
        .iter()
        .flat_map(|p| [(*p, Case::Sensitive), (*p, Case::Insensitive)])
    {
        if regex::Regex::new(p).is_err() {
            continue; // not a detc regex (E0226)
        }
        let mut rule = rules::hostile("x");
        rule.filter = rules::pred(
            nc,
            "process.path",
            Op::Regex {
                pattern: p.to_string(),
                case,
            },
        );
        let prof = targets::profile("sigma").expect("profile");
        match targets::compile_rule(&rule, &prof) {
            Ok(e) => {
                let doc: serde_yaml::Value = serde_yaml::from_str(&e.text).expect("YAML");
                let got = doc["detection"]["sel_process_path"]["Image|re"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{p}: {}", e.text))
                    .to_string();
                emitted.push((p, case, got));
            }
            Err(d) => assert!(d.iter().all(|x| x.code == "E0904"), "{p}: {d:?}"),
        }
    }
    // Python compiles these but reads them differently, and an inline `(?i)` (engines fold
    // non-ASCII letters differently under it; the checker refuses it as E0229): refused.
    for p in [r"[[:alpha:]]+", r"[a-z&&[^x]]", r"(?i)^power\w*\.exe$"] {
        assert!(!emitted.iter().any(|(q, _, _)| *q == p), "{p} emitted");
    }
    // The portable ones are emitted, as written and folded.
    for p in [
        r"\x1b",
        r"(?P<n>a)\d{2,3}",
        r"\\x\{1b\}",
        r"^power\w*\.exe$",
    ] {
        for case in [Case::Sensitive, Case::Insensitive] {
            assert!(
                emitted.iter().any(|(q, c, _)| *q == p && *c == case),
                "{p} ({case:?}) refused"
            );
        }
    }
    let only: Vec<String> = emitted.iter().map(|(_, _, g)| g.clone()).collect();
    let (_, errors) = oracle::python_readback(&[], &only).expect("python oracle");
    let failures: Vec<String> = emitted
        .iter()
        .zip(errors)
        .filter_map(|((p, c, g), e)| e.map(|e| format!("{p} ({c:?}) emitted as {g:?}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
