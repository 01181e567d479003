//! `detc fmt`: over every rule file of the corpus (the pack and the error corpus) formatting is
//! idempotent and keeps what the files mean (the checked IR and the diagnostics, positions
//! aside); the layout rules of docs/LANGUAGE.md ("Formatting") hold; the CLI's --check, rewrite
//! and JSON output keep the CLI contract.

use crate::support::fmt_meaning as support;

use detc::load::load_sources;
use detc::SourceFile;
use std::path::PathBuf;
use std::process::Command;
use support::{fmt, formatted_idempotently, meaning};

fn load(path: &str) -> Vec<SourceFile> {
    load_sources(&[PathBuf::from(path)]).unwrap_or_else(|d| unreachable!("{}", d.message))
}

#[test]
fn the_pack_formats_idempotently_to_the_same_ir_and_is_formatted() {
    let files = load("rules");
    assert!(files.len() >= 5);
    let formatted = formatted_idempotently(&files);
    assert_eq!(meaning(&files), meaning(&formatted));
    for (f, g) in files.iter().zip(&formatted) {
        assert_eq!(
            f.text, g.text,
            "{} is not formatted: run `detc fmt`",
            f.path
        );
    }
}

#[test]
fn every_error_corpus_file_that_parses_formats_idempotently_with_the_same_meaning() {
    let files = load("tests/errors");
    let mut parsed = 0;
    let mut changed = 0;
    for f in &files {
        if detc::syntax::parse(&f.path, &f.text).is_err() {
            // Refused with the parser's own diagnostics, never rewritten.
            let Err(ds) = detc::syntax::fmt::format(&f.path, &f.text) else {
                unreachable!("{}: fmt accepted a file the parser refuses", f.path)
            };
            let want = detc::syntax::parse(&f.path, &f.text)
                .err()
                .unwrap_or_default();
            assert_eq!(ds, want, "{}", f.path);
            continue;
        }
        parsed += 1;
        let one = std::slice::from_ref(f);
        let formatted = formatted_idempotently(one);
        changed += usize::from(formatted[0].text != f.text);
        assert_eq!(meaning(one), meaning(&formatted), "{}", f.path);
    }
    assert!(parsed >= 80, "only {parsed} corpus files parse");
    assert!(
        changed >= 1,
        "no corpus file needed formatting: the test proves little"
    );
}

const MESSY: &str = "// header\n\n\n/// ports\nlist   p : port=[25,465 ,]\nrule r{id \"x\" title \"t\"\n\n\n  severity low   // trailing\n source network_connection where remote.port in p and (process.name == \"a\" or process.name == \"b\")\n// before let\nlet k = case remote.port == 25 => \"SMTP\", else => \"other\"\nwindow 5m group by host aggregate n = count() having n > 2\n test \"t\" events \"x.jsonl\" expect 1 alert {host: \"a\",}}\n// end\n";

const CANONICAL: &str = "// header

/// ports
list p: port = [25, 465]

rule r {
  id \"x\"
  title \"t\"

  severity low // trailing
  source network_connection
  where remote.port in p
    and (process.name == \"a\" or process.name == \"b\")
  // before let
  let k = case remote.port == 25 => \"SMTP\",
               else => \"other\"
  window 5m
  group by host
  aggregate n = count()
  having n > 2
  test \"t\" events \"x.jsonl\"
    expect 1 alert { host: \"a\" }
}
// end
";

#[test]
fn a_messy_file_gets_the_canonical_layout_with_every_comment_in_place() {
    assert_eq!(fmt("m.detc", MESSY), CANONICAL);
    assert_eq!(fmt("m.detc", CANONICAL), CANONICAL);
}

#[test]
fn long_constructs_break_at_the_documented_places_within_the_width() {
    let items: Vec<String> = (0..30).map(|i| format!("\"value_{i:02}\"")).collect();
    let src = format!(
        "list l: string = [{}]\nrule r {{ where process.name in~ [{}] and host == \"h\"\n\
         references [\"https://example.org/a/long/reference/one\", \"https://example.org/a/long/reference/two\"] }}\n",
        items.join(", "),
        items.join(", ")
    );
    let out = fmt("w.detc", &src);
    for l in out.lines() {
        assert!(l.chars().count() <= 100, "line over 100: {l:?}\n{out}");
    }
    // A list of values is filled, its items under the first; metadata lists one item a line.
    assert!(
        out.contains("list l: string = [\n  \"value_00\", \"value_01\","),
        "{out}"
    );
    assert!(
        out.contains("  where process.name in~ [\"value_00\", "),
        "{out}"
    );
    assert!(
        out.contains("\n                          \"value_"),
        "continuation under the first item:\n{out}"
    );
    assert!(out.contains(
        "  references [\n    \"https://example.org/a/long/reference/one\",\n    \"https://example.org/a/long/reference/two\",\n  ]"
    ));
    assert_eq!(fmt("w.detc", &out), out);
}

#[test]
fn a_comment_inside_a_one_line_construct_is_refused_not_moved() {
    let src = "rule r {\n  where remote.port in [25, // smtp\n  465]\n}\n";
    let Err(ds) = detc::syntax::fmt::format("c.detc", src) else {
        unreachable!("fmt accepted a comment it cannot place")
    };
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].code, "E0107");
    let at = ds[0].span.as_ref().map(|s| (s.line, s.col));
    assert_eq!(at, Some((2, 29)));
}

#[test]
fn comments_between_conditions_list_items_and_arms_stay_on_their_lines() {
    let src = "list l: port = [\n  // mail\n  25, // smtp\n  110,\n]\n\nrule r {\n  where a == 1\n    // why b\n    and b == 2 // b\n  let k = case a == 1 => \"x\", // one\n               else => \"y\"\n}\n";
    assert_eq!(fmt("k.detc", src), src);
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

fn detc(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_detc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| unreachable!("cannot run detc: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-fmt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("rules")).unwrap_or_else(|e| unreachable!("{e}"));
    d
}

#[test]
fn check_shows_a_diff_and_exits_1_then_fmt_rewrites_and_check_passes() {
    let d = scratch("check");
    let rule = d.join("rules/m.detc");
    std::fs::write(&rule, MESSY).unwrap_or_else(|e| unreachable!("{e}"));

    let (code, out, err) = detc(&d, &["fmt", "--check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("--- rules/m.detc\n+++ rules/m.detc (formatted)\n@@ "),
        "{out}"
    );
    assert!(out.contains("\n+  severity low // trailing\n"), "{out}");
    assert!(err.contains("1 not formatted"), "{err}");
    let read = || std::fs::read_to_string(&rule).unwrap_or_default();
    assert_eq!(read(), MESSY, "--check wrote the file");

    let (code, out, _) = detc(&d, &["fmt", "--check", "--format", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(v["files"][0]["path"], "rules/m.detc");
    assert_eq!(v["files"][0]["changed"], true);

    let (code, _, err) = detc(&d, &["fmt"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(), CANONICAL);
    let leftovers: Vec<_> = std::fs::read_dir(d.join("rules"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(
        leftovers.len(),
        1,
        "a temporary file was left: {leftovers:?}"
    );

    let (code, out, _) = detc(&d, &["fmt", "--check", "rules/m.detc"]);
    assert_eq!((code, out.as_str()), (0, ""));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_file_that_does_not_parse_is_reported_located_and_left_alone() {
    let d = scratch("bad");
    let bad = "rule r {\n  where remote.port = 25\n}\n";
    std::fs::write(d.join("rules/bad.detc"), bad).unwrap_or_else(|e| unreachable!("{e}"));
    let (code, _, err) = detc(&d, &["fmt"]);
    assert_eq!(code, 1);
    assert!(err.contains("rules/bad.detc:2:"), "{err}");
    assert!(err.contains("error[E0100]"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("rules/bad.detc")).unwrap_or_default(),
        bad
    );
    let (code, _, _) = detc(&d, &["fmt", "nowhere/"]);
    assert_eq!(code, 2);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn crlf_a_byte_order_mark_block_comments_and_nested_inline_json() {
    let src = "\u{FEFF}// bom\r\nrule r {\r\n\tsource network_connection /* a\r\n   multi */\r\n  where a == 1 // x\r\n  test \"t\" events [{\"a\": {\"b\": [1, 2, {\"c\": null}]}, \"d\": true}, {}] expect 2 alerts {} { a: 1, }\r\n}\r\n";
    let want = "// bom\nrule r {\n  source network_connection /* a\n   multi */\n  where a == 1 // x\n  test \"t\" events [\n      {\"a\": {\"b\": [1, 2, {\"c\": null}]}, \"d\": true},\n      {}\n    ]\n    expect 2 alerts {} { a: 1 }\n}\n";
    assert_eq!(fmt("a.detc", src), want);
    assert_eq!(fmt("a.detc", want), want);
}
