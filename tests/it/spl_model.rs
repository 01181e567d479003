//! Tests of the SPL model itself (support/spl_model.rs), the fourth engine of the differential
//! harness. The model is written from Splunk's documentation, not from our backend.
#![allow(clippy::unwrap_used)]
use crate::support::spl_model::*;

fn row(kv: &[(&str, &str)]) -> Row {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn search_or_binds_tighter_than_implicit_and() {
    // a=1 b=2 OR c=3  ==  a=1 AND (b=2 OR c=3)
    let ev = vec![
        row(&[("a", "0"), ("c", "3")]),
        row(&[("a", "1"), ("c", "3")]),
    ];
    let r = run("a=1 b=2 OR c=3", &ev).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["a"], "1");
}

#[test]
fn search_is_case_insensitive_where_is_not() {
    let ev = vec![row(&[("Image", "C:\\X\\PowerShell.exe")])];
    assert_eq!(run("Image=\"*\\\\powershell.exe\"", &ev).unwrap().len(), 1);
    assert_eq!(run("search Image=*powershell.exe", &ev).unwrap().len(), 1);
    assert_eq!(
        run(
            "a=* OR Image=* | where Image==\"c:\\\\x\\\\powershell.exe\"",
            &ev
        )
        .unwrap()
        .len(),
        0
    );
    assert_eq!(
        run(
            "Image=* | where lower(Image)==\"c:\\\\x\\\\powershell.exe\"",
            &ev
        )
        .unwrap()
        .len(),
        1
    );
}

#[test]
fn where_null_is_not_true_and_not_null_is_not_true() {
    let ev = vec![row(&[("x", "1")]), row(&[("y", "1")])];
    assert_eq!(run("x=* OR y=* | where x==1", &ev).unwrap().len(), 1);
    assert_eq!(run("x=* OR y=* | where NOT x==1", &ev).unwrap().len(), 0);
    assert_eq!(
        run("x=* OR y=* | where NOT (isnotnull(x) AND x==1)", &ev)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn eval_case_bin_stats() {
    let ev = vec![
        row(&[("p", "25"), ("_time", "90000"), ("h", "a")]),
        row(&[("p", "110"), ("_time", "90001"), ("h", "a")]),
        row(&[("p", "25"), ("_time", "200000"), ("h", "a")]),
    ];
    let q = "p=* | eval proto=case(in(p, 25, 587), \"SMTP\", p==110, \"POP3\", true(), \"IMAP\") | bin _time span=1d | stats count as n, dc(proto) as d by h, _time";
    let r = run(q, &ev).unwrap();
    assert_eq!(r.len(), 2);
    // Day bins start at the user's local midnight (UTC+05:30): 1970-01-01T18:30Z = 66600.
    let day1 = r.iter().find(|x| x["_time"] == "66600").unwrap();
    assert_eq!(day1["n"], "2");
    assert_eq!(day1["d"], "2");
    assert!(r.iter().any(|x| x["_time"] == "153000" && x["n"] == "1"));
    // Hours and eval arithmetic are epoch-aligned whatever the zone.
    let r = run("p=* | bin _time span=24h | stats count as n by _time", &ev).unwrap();
    assert!(r.iter().any(|x| x["_time"] == "86400" && x["n"] == "2"));
    let q = "p=* | eval _time=_time - (_time % 86400) | stats count as n by _time";
    let r = run(q, &ev).unwrap();
    assert!(r.iter().any(|x| x["_time"] == "86400" && x["n"] == "2"));
    assert!(r.iter().any(|x| x["_time"] == "172800" && x["n"] == "1"));
}

#[test]
fn stats_drops_null_by_fields_unless_fillnull() {
    let ev = vec![row(&[("h", "a")]), row(&[("x", "1")])];
    assert_eq!(run("h=* OR x=* | stats count by h", &ev).unwrap().len(), 1);
    assert_eq!(
        run("h=* OR x=* | fillnull value=\"\" h | stats count by h", &ev)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn cidr_and_match() {
    let ev = vec![
        row(&[("ip", "10.1.2.3")]),
        row(&[("ip", "fd00::1")]),
        row(&[("ip", "8.8.8.8")]),
    ];
    assert_eq!(
        run(
            "ip=* | where cidrmatch(\"10.0.0.0/8\", ip) OR cidrmatch(\"fc00::/7\", ip)",
            &ev
        )
        .unwrap()
        .len(),
        2
    );
    assert_eq!(run("ip=10.0.0.0/8", &ev).unwrap().len(), 1);
    assert_eq!(
        run("ip=* | where match(ip, \"^8\\\\.\")", &ev)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn tstats_over_a_data_model() {
    let ev = vec![
        row(&[
            ("All_Traffic.src", "10.0.0.1"),
            ("All_Traffic.dest_port", "25"),
            ("All_Traffic.bytes_out", "100"),
            ("_time", "10"),
        ]),
        row(&[
            ("All_Traffic.src", "10.0.0.1"),
            ("All_Traffic.dest_port", "25"),
            ("All_Traffic.bytes_out", "50"),
            ("_time", "20"),
        ]),
        row(&[
            ("All_Traffic.src", "10.0.0.2"),
            ("All_Traffic.dest_port", "80"),
            ("All_Traffic.bytes_out", "999"),
            ("_time", "20"),
        ]),
    ];
    let q = "| tstats summariesonly=false count, sum(All_Traffic.bytes_out) as bytes from datamodel=Network_Traffic.All_Traffic where All_Traffic.dest_port IN (25, 587) by All_Traffic.src, _time span=1h | where bytes > 120";
    let r = run(q, &ev).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["bytes"], "150");
    assert_eq!(r[0]["count"], "2");
}

#[test]
fn replace_takes_the_last_path_segment() {
    let ev = vec![
        row(&[("Image", "C:\\Windows\\System32\\cmd.exe")]),
        row(&[("Image", "System")]),
    ];
    let r = run("Image=* | eval n=replace(Image, \"^.*\\\\\\\\\", \"\") | where n==\"cmd.exe\" OR n==\"System\"", &ev).unwrap();
    assert_eq!(r.len(), 2);
    let r = run(
        "Image=* | eval n=replace(Image, \"(S)(y)\", \"\\2\\1\")",
        &ev,
    )
    .unwrap();
    assert!(r.iter().any(|x| x["n"] == "ySstem"));
}

#[test]
fn tstats_where_with_escaped_backslash_and_non_ascii_values() {
    let ev = vec![
        row(&[("M.a", "x\\"), ("_time", "1")]),
        row(&[("M.a", "ü by"), ("_time", "2")]),
    ];
    let q =
        "| tstats count from datamodel=M where M.a=\"x\\\\\" OR M.a=\"ü by\" by M.a, _time span=1s";
    let r = run(q, &ev).unwrap();
    assert_eq!(r.len(), 2);
}

#[test]
fn unknown_commands_and_functions_are_errors() {
    assert!(run("a=1 | transaction x", &[]).is_err());
    assert!(run("a=1 | where foo(a)", &[row(&[("a", "1")])]).is_err());
}

#[test]
fn escaped_quotes_stay_one_literal() {
    let ev = vec![row(&[("c", "a \"b\" | c\\d")])];
    assert_eq!(
        run("c=* | where c==\"a \\\"b\\\" | c\\\\d\"", &ev)
            .unwrap()
            .len(),
        1
    );
}

/// A term in the base search: the whole field value, case-insensitively (Search Reference,
/// "search": field-value pairs; keyword and field-value searches are not case sensitive); a
/// missing field never matches; a word like `inf` is a word, not a number.
#[test]
fn search_field_term_is_whole_value_case_insensitive() {
    let ev = vec![
        row(&[("_time", "1"), ("Initiated", "True")]),
        row(&[("_time", "2"), ("Initiated", "true x")]),
        row(&[("_time", "3")]),
        row(&[("_time", "4"), ("Initiated", "INF")]),
        row(&[("_time", "5"), ("Initiated", "infinity")]),
    ];
    let r = run("Initiated=\"true\"", &ev).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["_time"], "1");
    let r = run("Initiated IN (\"inf\", \"TRUE\")", &ev).unwrap();
    let t: Vec<&str> = r.iter().map(|x| x["_time"].as_str()).collect();
    assert_eq!(t, vec!["1", "4"]);
}
