//! The mail_message source: Zeek smtp.log joined with files.log through `fuids` (TSV and JSON
//! lines), list fields tested element by element, unclaimed files rows reported at their line,
//! and the wait bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use detc::eval::ops::LIST_SEP;
use detc::eval::run::read_events_for;
use detc::ir::{Source, Value};
use std::path::PathBuf;

fn file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detc-mail-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn list(xs: &[&str]) -> Value {
    Value::Str(xs.join(&LIST_SEP.to_string()))
}

/// Zeek's own attachment baseline (files.log then smtp.log): both transactions get their parts.
#[test]
fn zeek_attachment_baseline_joins_every_fuid() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("rules/fixtures/realdata/zeek_smtp_attachment_files_smtp.unmasked.log");
    let (evs, sum) = read_events_for(&p, None, &[Source::MailMessage]).unwrap();
    assert_eq!(
        sum.schemas.values().next().map(String::as_str),
        Some("zeek-smtp-files")
    );
    assert_eq!((evs.len(), sum.bad_lines), (2, 0), "{:?}", sum.bad);
    let e = &evs[0];
    assert_eq!(
        e.get("attachment.types"),
        Some(&list(&["text/plain", "text/html", "text/plain"]))
    );
    assert_eq!(e.get("attachment.names"), Some(&list(&["NEWS.txt"])));
    assert_eq!(
        e.get("attachment.sizes"),
        Some(&list(&["77", "1868", "10809"]))
    );
    assert_eq!(e.get("attachment.count"), Some(&Value::Int(3)));
    assert_eq!(e.get("attachment.unmatched"), Some(&Value::Int(0)));
    assert_eq!(e.get("mail.to_count"), Some(&Value::Int(1)));
    assert_eq!(e.get("tls"), Some(&Value::Enum("false".into())));
    assert_eq!(
        e.get("client.ip"),
        Some(&Value::Ip("10.10.1.4".parse().unwrap()))
    );
    assert_eq!(e.get("server.port"), Some(&Value::Int(25)));
    assert_eq!(
        e.get("status"),
        Some(&Value::Str("250 OK id=1Mugho-0003Dg-Un".into()))
    );
    let e = &evs[1];
    assert_eq!(
        e.get("mail.to"),
        Some(&list(&[
            "felica4uu@hotmail.com",
            "ericlim220@yahoo.com",
            "davis_mark1@outlook.com"
        ]))
    );
    assert_eq!(e.get("mail.to_count"), Some(&Value::Int(3)));
    assert_eq!(e.get("attachment.names"), None, "a body part has no name");
}

/// The same join from JSON lines as a shipper forwards them (`_path`, arrays, booleans); a
/// transaction naming a fuid that has no files row counts it; a files row that no transaction
/// claims is a bad line at its own line number.
#[test]
fn json_lines_unmatched_fuids_and_unclaimed_files_rows() {
    let p = file(
        "json",
        "mail.jsonl",
        br#"{"_path":"files","ts":1764669600.0,"fuid":"Fa","source":"SMTP","mime_type":"application/x-dosexec","filename":"a.pdf","seen_bytes":1000}
{"_path":"files","ts":1764669600.0,"fuid":"Forphan","source":"SMTP","mime_type":"text/plain","seen_bytes":5}
{"_path":"files","ts":1764669600.0,"fuid":"Fhttp","source":"HTTP","mime_type":"text/html","seen_bytes":5}
{"_path":"smtp","ts":1764669601.0,"uid":"C1","id.orig_h":"10.0.0.5","id.orig_p":50000,"id.resp_h":"203.0.113.25","id.resp_p":25,"mailfrom":"a@corp.example","rcptto":["x@example.net","y@example.net"],"tls":false,"fuids":["Fa","Fgone"]}
"#,
    );
    let (evs, sum) = read_events_for(&p, None, &[Source::MailMessage]).unwrap();
    assert_eq!(evs.len(), 1);
    let e = &evs[0];
    assert_eq!(e.get("attachment.count"), Some(&Value::Int(2)));
    assert_eq!(e.get("attachment.unmatched"), Some(&Value::Int(1)));
    assert_eq!(e.get("attachment.names"), Some(&list(&["a.pdf"])));
    assert_eq!(e.get("mail.to_count"), Some(&Value::Int(2)));
    assert_eq!(e.get("tls"), Some(&Value::Enum("false".into())));
    assert_eq!(sum.bad_lines, 1, "{:?}", sum.bad);
    assert_eq!(sum.bad[0].line, 2, "reported at the files row's own line");
    assert!(
        sum.bad[0].reason.contains("Forphan") && sum.bad[0].reason.contains("matched no smtp.log"),
        "{}",
        sum.bad[0].reason
    );
}

/// A files row waits [`WAIT_ROWS`] rows, not more: its transaction after that finds nothing
/// and counts the part as unmatched, and the row is reported, so memory stays bounded.
#[test]
fn a_files_row_waits_a_bounded_number_of_rows() {
    use detc::eval::mailjoin::WAIT_ROWS;
    let mut s = String::from(
        r#"{"_path":"files","ts":1764669600.0,"fuid":"Fearly","source":"SMTP","mime_type":"text/plain","seen_bytes":5}
"#,
    );
    for i in 0..WAIT_ROWS + 1 {
        s.push_str(&format!(
            r#"{{"_path":"smtp","ts":1764669601.0,"uid":"C{i}","id.orig_h":"10.0.0.5","id.orig_p":50000,"id.resp_h":"203.0.113.25","id.resp_p":25,"fuids":[]}}
"#
        ));
    }
    s.push_str(r#"{"_path":"smtp","ts":1764669602.0,"uid":"Clate","id.orig_h":"10.0.0.5","id.orig_p":50000,"id.resp_h":"203.0.113.25","id.resp_p":25,"fuids":["Fearly"]}
"#);
    let p = file("wait", "mail.jsonl", s.as_bytes());
    let (evs, sum) = read_events_for(&p, None, &[Source::MailMessage]).unwrap();
    assert_eq!(evs.len(), WAIT_ROWS + 2);
    let last = evs.last().unwrap();
    assert_eq!(last.get("attachment.unmatched"), Some(&Value::Int(1)));
    assert_eq!((sum.bad_lines, sum.bad[0].line), (1, 1), "{:?}", sum.bad);
}

/// A list field's predicate holds when any element satisfies it; its negation when none does;
/// the sizes are read as numbers.
#[test]
fn list_predicates_hold_for_any_element() {
    let pack = detc::frontend(&[detc::SourceFile {
        path: "rules/t.detc".into(),
        text: r#"rule any_exe {
  id "00000000-0000-4000-8000-000000000001"
  title "t"
  severity low
  source mail_message
  where attachment.names endswith~ ".exe"
}
rule no_pdf {
  id "00000000-0000-4000-8000-000000000002"
  title "t"
  severity low
  source mail_message
  where attachment.types not in ["application/pdf"]
}
rule big {
  id "00000000-0000-4000-8000-000000000003"
  title "t"
  severity low
  source mail_message
  where attachment.sizes > 1000
}
"#
        .into(),
    }]);
    assert!(
        pack.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        pack.diagnostics
    );
    let pack = pack.pack.unwrap();
    let ev = |names: &[&str], types: &[&str], sizes: &[&str]| {
        let mut e = detc::eval::Event::new();
        e.insert("time".into(), Value::Timestamp(1_764_669_600));
        e.insert("attachment.names".into(), list(names));
        e.insert("attachment.types".into(), list(types));
        e.insert("attachment.sizes".into(), list(sizes));
        e
    };
    let fires = |rule: &str, e: &detc::eval::Event| {
        let r = pack.rules.iter().find(|r| r.name == rule).unwrap();
        !detc::eval::try_evaluate(r, [e.clone()]).unwrap().is_empty()
    };
    let a = ev(
        &["a.pdf", "B.EXE"],
        &["application/pdf", "text/plain"],
        &["10", "2000"],
    );
    let b = ev(&["a.pdf"], &["application/pdf"], &["10", "999"]);
    assert!(fires("any_exe", &a) && !fires("any_exe", &b));
    assert!(
        !fires("no_pdf", &a) && !fires("no_pdf", &b),
        "one pdf among the parts"
    );
    assert!(fires("big", &a) && !fires("big", &b));
}
