//! Hostile values in equality, list, startswith/contains and regex positions: every target's
//! output still has the same structure as for a benign value and holds each value as exactly one
//! literal. KQL and SPL literals are parsed back with the small tokenizers below (written from the
//! languages' documented string syntax, independent of src/targets/escape.rs); Sigma files are
//! read back with serde_yaml. The SPL is also executed on the SPL model.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::rules;
use crate::support::spl_model;

use detc::ir::{Case, Expr, Op, Source, StrOp, Value};
use detc::targets;

fn corpus() -> Vec<String> {
    let mut v: Vec<String> = [
        "\"",
        "'",
        "\\",
        "|",
        "`",
        "\n",
        "\r\n",
        "\t",
        "*",
        "%",
        "?",
        "_",
        "ünïcødé ☃ 日本",
        "a\" or 1==1 //",
        "x\") | where true | project (\"",
        "ends with backslash \\",
        "\\\"",
        "C:\\Windows\\*\\?.exe",
        "$1 ${x} {{ title }} {% raw %}",
        "' OR '1'='1",
        "``` comment ```",
        "a | stats count | b",
        "--- \n- yaml: [injection]\n",
        "NOT x=1 OR y=*",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("long-".repeat(2000)); // 10,000 characters
    v
}

/// KQL string literals, from Kusto's documented syntax: "..." and '...' with backslash escapes,
/// @"..." verbatim; `//` comments to the end of the line. Returns (skeleton, literals).
fn kql_literals(q: &str) -> (String, Vec<String>) {
    let c: Vec<char> = q.chars().collect();
    let (mut i, mut skel, mut lits) = (0, String::new(), Vec::new());
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '"' || c[i] == '\'' {
            let quote = c[i];
            let mut s = String::new();
            i += 1;
            loop {
                let ch = *c.get(i).expect("unterminated KQL string");
                if ch == '\n' || ch == '\r' {
                    panic!("raw newline inside a KQL string literal");
                }
                if ch == '\\' {
                    let e = *c.get(i + 1).expect("dangling escape");
                    s.push(match e {
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        '\\' | '"' | '\'' => e,
                        o => panic!("unknown KQL escape \\{o}"),
                    });
                    i += 2;
                } else if ch == quote {
                    i += 1;
                    break;
                } else {
                    s.push(ch);
                    i += 1;
                }
            }
            lits.push(s);
            skel.push_str("<lit>");
        } else {
            skel.push(c[i]);
            i += 1;
        }
    }
    (skel, lits)
}

/// SPL double-quoted strings: backslash escapes `"` and itself; anything else is literal.
fn spl_literals(q: &str) -> (String, Vec<String>) {
    let c: Vec<char> = q.chars().collect();
    let (mut i, mut skel, mut lits) = (0, String::new(), Vec::new());
    while i < c.len() {
        if c[i] == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let ch = *c.get(i).expect("unterminated SPL string");
                if ch == '\\' && matches!(c.get(i + 1), Some('"') | Some('\\')) {
                    s.push(c[i + 1]);
                    i += 2;
                } else if ch == '"' {
                    i += 1;
                    break;
                } else {
                    s.push(ch);
                    i += 1;
                }
            }
            lits.push(s);
            skel.push_str("<lit>");
        } else {
            skel.push(c[i]);
            i += 1;
        }
    }
    (skel, lits)
}

/// Sigma's value syntax: `\*`, `\?` and `\\` are escapes, other backslashes are literal.
fn sigma_unescape(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let (mut i, mut out) = (0, String::new());
    while i < c.len() {
        if c[i] == '\\' && matches!(c.get(i + 1), Some('*') | Some('?') | Some('\\')) {
            out.push(c[i + 1]);
            i += 2;
        } else {
            assert!(
                !(c[i] == '*' || c[i] == '?'),
                "unescaped wildcard in a Sigma value: {s:?}"
            );
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn compile(rule: &detc::ir::Rule, target: &str) -> String {
    let p = targets::profile(target).expect("profile");
    targets::compile_rule(rule, &p)
        .unwrap_or_else(|d| panic!("{target}: {d:?}"))
        .text
}

/// A benign value with the same ASCII-ness as `v`: case-insensitive values with a non-ASCII
/// character take another (regex) form, so the structure is compared like with like.
fn benign_like(v: &str) -> &'static str {
    if v.is_ascii() {
        "benign"
    } else {
        "b\u{e9}nign"
    }
}

#[test]
fn kql_holds_each_hostile_value_as_one_literal() {
    for target in ["kql-defender", "kql-sentinel"] {
        for v in corpus() {
            let (benign_skel, benign_lits) =
                kql_literals(&compile(&rules::hostile(benign_like(&v)), target));
            let q = compile(&rules::hostile(&v), target);
            let (skel, lits) = kql_literals(&q);
            assert_eq!(
                skel, benign_skel,
                "{target}: structure changed for {v:?}\n{q}"
            );
            assert_eq!(lits.len(), benign_lits.len());
            let ci = targets::ascii_ci_regex(&v);
            // equality and startswith (case-sensitive): the value itself
            assert!(lits.contains(&v), "{target} {v:?}\n{q}");
            // list, case-insensitive: the value (ASCII) or its anchored folded regex
            let list = if v.is_ascii() {
                v.clone()
            } else {
                format!("\\A{ci}\\z")
            };
            assert!(lits.contains(&list), "{target} {v:?}: {list:?}\n{q}");
            // contains, case-insensitive: the folded regex
            assert!(lits.contains(&ci), "{target} {v:?}: {ci:?}\n{q}");
            // regex position: the pattern exactly
            assert!(lits.contains(&regex::escape(&v)), "{target} {v:?}\n{q}");
        }
    }
}

#[test]
fn spl_holds_each_hostile_value_as_one_literal_and_runs_on_the_model() {
    for v in corpus() {
        let (benign_skel, _) =
            spl_literals(&compile(&rules::hostile(benign_like(&v)), "spl-sysmon"));
        let q = compile(&rules::hostile(&v), "spl-sysmon");
        let (skel, lits) = spl_literals(&q);
        assert_eq!(skel, benign_skel, "structure changed for {v:?}\n{q}");
        let lit = detc::targets::escape::regex_literal(&v);
        let ci = targets::ascii_ci_regex(&v);
        let list = if v.is_ascii() {
            v.to_ascii_lowercase() // list, case-insensitive: lowered
        } else {
            format!("\\A{ci}\\z") // or spelled out as a regex
        };
        for want in [
            v.clone(),           // equality (case-sensitive)
            list,                // list, case-insensitive
            format!("\\A{lit}"), // startswith, case-sensitive
            ci,                  // contains, case-insensitive: ASCII cases spelled out
            regex::escape(&v),   // regex
        ] {
            assert!(lits.contains(&want), "{v:?}: missing literal {want:?}\n{q}");
        }
        // Executed: exactly the events that hold the value alert.
        let ev = |t: &str, kv: &[(&str, &str)]| {
            let mut r = spl_model::Row::new();
            r.insert("sourcetype".into(), "XmlWinEventLog".into());
            r.insert(
                "source".into(),
                "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational".into(),
            );
            r.insert("EventCode".into(), "3".into());
            r.insert("_time".into(), t.into());
            r.insert("Initiated".into(), "true".into());
            for (k, x) in kv {
                r.insert(k.to_string(), x.to_string());
            }
            r
        };
        let rows = vec![
            ev("1", &[("Image", &v)]),
            ev("2", &[("Image", "benign")]),
            // ASCII-only folding: only ASCII letters change case.
            ev("3", &[("User", &v.to_ascii_uppercase())]),
            ev(
                "4",
                &[("Computer", &format!("pre{}post", v.to_ascii_uppercase()))],
            ),
            ev("5", &[("DestinationHostname", &format!("{v}.example"))]),
            ev("6", &[("Computer", "unrelated")]),
        ];
        let r = spl_model::run(&q, &rows).unwrap_or_else(|e| panic!("{v:?}: {e}\n{q}"));
        let times: Vec<&str> = r.iter().map(|x| x["_time"].as_str()).collect();
        assert_eq!(times, vec!["1", "3", "4", "5"], "{v:?}\n{q}");
    }
}

#[test]
fn sigma_holds_each_hostile_value_after_a_yaml_round_trip() {
    for v in corpus() {
        let text = compile(&rules::hostile(&v), "sigma");
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
            .collect();
        assert_eq!(docs.len(), 1, "{v:?}");
        let det = docs[0]["detection"].as_mapping().expect("detection");
        let get = |sel: &str, key: &str| det[sel][key].clone();
        assert_eq!(
            sigma_unescape(get("sel_process_path", "Image|cased").as_str().unwrap()),
            v
        );
        let ci = targets::ascii_ci_regex(&v);
        // A case-insensitive list: Sigma's default matching on values without a non-ASCII
        // character (ASCII values), else the value's ASCII cases spelled out in a regex.
        let (user, user_cond) = if v.is_ascii() {
            let list = get("sel_user", "User");
            let items = list.as_sequence().unwrap();
            assert_eq!(sigma_unescape(items[0].as_str().unwrap()), v);
            assert_eq!(
                get("sel_user_2", "User|re").as_str().unwrap(),
                targets::NON_ASCII_REGEX
            );
            (2, "sel_user and not sel_user_2")
        } else {
            // the list is [v, "x"]: "x" as above, v as a regex
            assert_eq!(get("sel_user", "User").as_str().unwrap(), "x");
            assert_eq!(
                get("sel_user_3", "User|re").as_str().unwrap(),
                format!("^{ci}$")
            );
            (3, "((sel_user and not sel_user_2) or sel_user_3)")
        };
        assert_eq!(det.len(), 5 + user + 1, "selections + condition for {v:?}");
        assert_eq!(
            sigma_unescape(
                get("sel_remote_host", "DestinationHostname|startswith|cased")
                    .as_str()
                    .unwrap()
            ),
            v
        );
        assert_eq!(get("sel_host", "Computer|re").as_str().unwrap(), ci);
        assert_eq!(
            get("sel_process_path_2", "Image|re").as_str().unwrap(),
            regex::escape(&v)
        );
        assert_eq!(
            det["condition"].as_str().unwrap(),
            format!("sel_direction and (sel_process_path or {user_cond} or sel_remote_host or sel_host or sel_process_path_2)")
        );
    }
}

/// spl-cim puts values in tstats search syntax, where `*` cannot be escaped: such a value is
/// refused (E0904); every other value is one quoted literal.
#[test]
fn spl_cim_quotes_values_and_refuses_unescapable_wildcards() {
    let p = targets::profile("spl-cim").expect("profile");
    let mut rule = rules::an0382();
    for v in corpus() {
        rule.filter = Expr::And(vec![
            rules::pred(
                Source::NetworkFlow,
                "app.protocol",
                Op::Eq {
                    value: Value::Str(v.clone()),
                    case: Case::Insensitive,
                },
            ),
            rules::pred(
                Source::NetworkFlow,
                "app.protocol",
                Op::Str {
                    kind: StrOp::StartsWith,
                    needles: vec![v.clone()],
                    case: Case::Insensitive,
                },
            ),
        ]);
        match targets::compile_rule(&rule, &p) {
            Ok(e) => {
                assert!(!v.contains('*'), "{v:?} should be refused");
                let (_, lits) = spl_literals(&e.text);
                assert!(lits.contains(&v), "{v:?}\n{}", e.text);
                assert!(lits.contains(&format!("{v}*")), "{v:?}\n{}", e.text);
                spl_model::run(&e.text, &[]).unwrap_or_else(|x| panic!("{v:?}: {x}"));
            }
            Err(d) => {
                assert!(v.contains('*'), "{v:?} refused: {d:?}");
                assert!(d.iter().all(|x| x.code == "E0904"));
            }
        }
    }
}

#[test]
fn a_hostile_title_cannot_end_a_kql_comment() {
    let mut rule = rules::scripting_host_mail();
    rule.meta.title = "t\n| where true\r| take 1".into();
    let q = compile(&rule, "kql-defender");
    assert!(
        q.lines()
            .all(|l| !l.starts_with("| where true") && !l.starts_with("| take")),
        "{q}"
    );
}

/// The `name` of every base rule and the `rules` of every correlation in a Sigma file.
fn sigma_names(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut names, mut refs, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for d in serde_yaml::Deserializer::from_str(text) {
        let doc: serde_yaml::Value = serde::Deserialize::deserialize(d).expect("valid YAML");
        ids.push(doc["id"].as_str().expect("an id").to_string());
        if let Some(n) = doc["name"].as_str() {
            names.push(n.to_string());
        }
        for r in doc["correlation"]["rules"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            refs.push(r.as_str().expect("a rule name").to_string());
        }
    }
    (names, refs, ids)
}

/// Split correlations (one per value of a computed group key): labels that normalise alike
/// (`a.b`, `a-b`, `a b`, `a_b`; `SMTP`, `smtp`; the value `missing` and no value) still give
/// distinct base-rule names and ids, each referenced by exactly one correlation; two arms with
/// the same value are one group, as in the evaluator; names are the same on every compilation,
/// and a label that is already a plain name stays readable.
#[test]
fn split_sigma_correlations_have_unique_stable_names() {
    let mut rule = rules::an0379();
    let nc = Source::NetworkConnection;
    let arm = |ports: &[i64], v: &str| {
        (
            rules::pred(nc, "remote.port", rules::port_in(ports)),
            Value::Str(v.into()),
        )
    };
    rule.lets[0].arms = vec![
        arm(&[1], "a.b"),
        arm(&[2], "a-b"),
        arm(&[3], "a b"),
        arm(&[4], "a_b"),
        arm(&[5], "SMTP"),
        arm(&[6], "smtp"),
        arm(&[7], "missing"),
        arm(&[8], "pop3"),
        arm(&[9], "a.b"),
    ];
    rule.lets[0].default = None;
    let text = compile(&rule, "sigma");
    let (names, refs, ids) = sigma_names(&text);
    // 8 distinct values and "no value": 9 base rules and 9 correlations.
    assert_eq!(names.len(), 9, "{names:?}\n{text}");
    let unique = |v: &[String]| v.iter().collect::<std::collections::BTreeSet<_>>().len();
    assert_eq!(unique(&names), names.len(), "{names:?}");
    assert_eq!(unique(&ids), ids.len(), "{ids:?}");
    let mut sorted_refs = refs.clone();
    sorted_refs.sort();
    let mut sorted_names = names.clone();
    sorted_names.sort();
    assert_eq!(
        sorted_refs, sorted_names,
        "each base rule is referenced once"
    );
    assert!(names.contains(&format!("{}__pop3", rule.name)), "{names:?}");
    assert_eq!(compile(&rule, "sigma"), text, "names are stable");
}

/// Split base-rule names (`<rule>__<slug>`) live in the same namespace as every other Sigma rule
/// name of the pack, and pySigma resolves a correlation's `rules:` across the whole folder: a
/// rule of the pack literally named like another rule's split base rule is refused (E0907,
/// naming both rules), for `sigma` and for `all`, not emitted with an ambiguous reference.
#[test]
fn sigma_rule_names_are_unique_across_the_pack() {
    let split = rules::an0379();
    let mut clash = rules::an0382();
    clash.name = format!("{}__smtp", split.name);
    let pack = detc::ir::Pack {
        rules: vec![split.clone(), clash.clone()],
        lists: Default::default(),
    };
    for target in ["sigma", "all"] {
        let res = targets::compile_pack(&pack, target);
        let errs: Vec<_> = res.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errs.len(), 1, "{target}: {errs:?}");
        assert_eq!(errs[0].code, "E0907", "{target}: {errs:?}");
        assert!(
            errs[0].message.contains(&format!("`{}`", split.name))
                && errs[0].message.contains(&format!("`{}`", clash.name)),
            "{}",
            errs[0].message
        );
    }
    // Without the clash both compile, and their names are distinct.
    clash.name = format!("{}_smtp", split.name);
    let pack = detc::ir::Pack {
        rules: vec![split, clash],
        lists: Default::default(),
    };
    let res = targets::compile_pack(&pack, "sigma");
    assert!(!res.has_errors(), "{:?}", res.diagnostics);
    assert_eq!(res.outputs.len(), 2);
}
/// Item 17: pySigma refuses a title over 256 characters. A rule title of 256 characters (the
/// most the checker accepts) stays within that limit in every document of a split correlation,
/// whose base-rule and correlation titles add the base name or the group to it.
#[test]
fn sigma_titles_stay_within_256_characters() {
    let mut rule = rules::an0379();
    rule.meta.title = "é".repeat(256);
    let text = compile(&rule, "sigma");
    let mut n = 0;
    for d in serde_yaml::Deserializer::from_str(&text) {
        let doc: serde_yaml::Value = serde::Deserialize::deserialize(d).expect("valid YAML");
        let t = doc["title"].as_str().expect("a title");
        assert!(
            t.chars().count() <= 256,
            "{} characters: {t}",
            t.chars().count()
        );
        assert!(t.starts_with("éé"), "{t}");
        n += 1;
    }
    assert_eq!(n, 6, "{text}");
    // A group value longer than the limit, too.
    rule.lets[0].default = Some(Value::Str("v".repeat(300)));
    let text = compile(&rule, "sigma");
    for d in serde_yaml::Deserializer::from_str(&text) {
        let doc: serde_yaml::Value = serde::Deserialize::deserialize(d).expect("valid YAML");
        let t = doc["title"].as_str().expect("a title");
        assert!(
            t.chars().count() <= 256,
            "{} characters: {t}",
            t.chars().count()
        );
    }
}

/// Item 5 for SPL: a computed field or aggregate named like an SPL operator or clause word
/// (eval's AND OR NOT XOR LIKE, IN, stats' BY AS OVER, lookup's OUTPUT OUTPUTNEW; any case, as
/// detc's own keywords are lowercase only) is emitted under another name, never bare where SPL
/// would read it as syntax; the query still runs on the SPL model.
#[test]
fn spl_reserved_words_are_never_field_names() {
    const WORDS: [&str; 13] = [
        "AND",
        "OR",
        "NOT",
        "XOR",
        "LIKE",
        "IN",
        "BY",
        "AS",
        "OVER",
        "OUTPUT",
        "OUTPUTNEW",
        "as",
        "like",
    ];
    for (i, w) in WORDS.iter().enumerate() {
        let other = WORDS[(i + 1) % WORDS.len()];
        let mut rule = rules::an0379();
        rule.lets[0].name = w.to_string();
        let a = rule.aggregation.as_mut().expect("aggregation");
        for g in a.group_by.iter_mut() {
            if *g == detc::ir::FieldRef::Computed("protocol".into()) {
                *g = detc::ir::FieldRef::Computed(w.to_string());
            }
        }
        a.aggregates[0].name = other.to_string();
        a.having = Some(rules::having(other, detc::ir::CmpOp::Ge, 3));
        let q = compile(&rule, "spl-sysmon");
        for bad in [w, &other] {
            let b = regex::escape(bad);
            // as a name: renamed by `as`, assigned by eval, a by-field, first in a where
            let as_name = regex::Regex::new(&format!(
                r"(?m)(\bas '?{b}'?\b|\beval '?{b}'?=|, '?{b}'?(,|$)|\bwhere '?{b}'?\b|\bby '?{b}'?\b|fillnull value=\S* .*\b{b}\b)"
            ))
            .expect("regex");
            assert!(
                !as_name.is_match(&q),
                "{w}/{other}: `{bad}` as a name in\n{q}"
            );
        }
        spl_model::run(&q, &[]).unwrap_or_else(|e| panic!("{w}: {e}\n{q}"));
    }
}
