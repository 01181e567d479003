//! The pack's time zone: `timezone: +HH:MM` in detc.yaml is the offset of every rule without a
//! `timezone` clause of its own (the rule's clause wins). The compiled queries are byte for byte
//! those of the rule declaring the offset itself, the evaluator reads the hour in it, `detc
//! config` shows it with its origin, and a bad value is a located error (E0035, E0036), exit 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn detc_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_detc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A pack folder of its own (a repository root, so the walk up for detc.yaml stops there).
fn pack(name: &str, config: Option<&str>, rule: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-pack-tz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("rules")).unwrap();
    std::fs::create_dir_all(d.join(".git")).unwrap();
    if let Some(c) = config {
        std::fs::write(d.join("detc.yaml"), c).unwrap();
    }
    std::fs::write(d.join("rules/night.detc"), rule).unwrap();
    d
}

/// A rule reading the hour and weekday, with `tz` as its clause (or none), and tests on the
/// first and last second of the evening boundary at +02:00: 18:00:00 local is 16:00:00 UTC.
fn rule(tz: &str) -> String {
    format!(
        r#"rule night_mail {{
  id "0b6a3c52-3f0e-4f7e-9a51-6f2d1c0e8a47"
  title "SMTP in the evening"
  severity low
  source network_connection
{tz}  where remote.port == 25 and hour(time) >= 18 and weekday(time) not in [sat, sun]

  test "17:59:59 local is office hours" events [
      {{"EventID": 3, "UtcTime": "2026-12-02 15:59:59.000", "Image": "a.exe",
       "Initiated": "true", "DestinationPort": "25"}}
    ] schema sysmon
    expect no alert
  test "18:00:00 local is evening" events [
      {{"EventID": 3, "UtcTime": "2026-12-02 16:00:00.000", "Image": "a.exe",
       "Initiated": "true", "DestinationPort": "25"}}
    ] schema sysmon
    expect 1 alert
}}
"#
    )
}

fn compiled(dir: &Path) -> Vec<(String, String)> {
    let (code, _, err) = detc_in(dir, &["compile", "rules", "--target", "all", "--out", "q"]);
    // Sigma refuses hour() (E0912, a W0900 warning); the other targets are written.
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("E0912"), "{err}");
    let mut out = Vec::new();
    let mut stack = vec![dir.join("q")];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap().path();
            if e.is_dir() {
                stack.push(e);
            } else {
                let rel = e.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read_to_string(&e).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_pack_zone_is_the_rules_own_when_it_has_none() {
    let own = pack("own", None, &rule("  timezone +02:00\n"));
    let packed = pack("packed", Some("timezone: \"+02:00\"\n"), &rule(""));
    let a = compiled(&own);
    let b = compiled(&packed);
    assert!(!a.is_empty());
    assert_eq!(a, b, "the same queries, byte for byte");
    assert!(
        a.iter()
            .any(|(_, t)| t.contains("datetime_add('minute', 120")),
        "{a:?}"
    );
    // The evaluator reads the hour in the pack's zone: both boundary tests pass.
    let (code, out, err) = detc_in(&packed, &["test", "rules"]);
    assert_eq!(code, 0, "{out}{err}");
    // Without the pack zone the rule has none: E0277 says where to give one.
    let bare = pack("bare", None, &rule(""));
    let (code, _, err) = detc_in(&bare, &["check", "rules"]);
    assert_eq!(code, 1);
    assert!(err.contains("E0277"), "{err}");
    assert!(err.contains("timezone:` in detc.yaml"), "{err}");
}

#[test]
fn the_rules_own_zone_wins_over_the_packs() {
    let own = pack("own5", None, &rule("  timezone -05:00\n"));
    let both = pack(
        "both",
        Some("timezone: \"+02:00\"\n"),
        &rule("  timezone -05:00\n"),
    );
    assert_eq!(compiled(&own), compiled(&both));
    assert!(compiled(&both)
        .iter()
        .any(|(_, t)| t.contains("datetime_add('minute', -300")));
    // At -05:00 16:00:00 UTC is 11:00 local: the boundary test expecting an alert fails.
    let (code, out, _) = detc_in(&both, &["test", "rules"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn config_shows_the_zone_and_its_origin() {
    let d = pack(
        "show",
        Some("# the estate\ntimezone: \"-03:30\"\n"),
        &rule(""),
    );
    let (code, out, err) = detc_in(&d, &["config"]);
    assert_eq!(code, 0, "{err}");
    let line = out.lines().find(|l| l.starts_with("timezone")).unwrap();
    assert!(line.contains("-03:30"), "{line}");
    assert!(line.contains("(file detc.yaml:2:1)"), "{line}");
    let (_, json, _) = detc_in(&d, &["config", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let s = v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "timezone")
        .unwrap();
    assert_eq!(s["value"], "-03:30");
    assert_eq!(s["origin"], "file");
    assert_eq!(s["at"], "detc.yaml:2:1");
    // No detc.yaml: UTC is not assumed; the setting is unset.
    let none = pack("none", None, &rule("  timezone +00:00\n"));
    let (_, out, _) = detc_in(&none, &["config"]);
    let line = out.lines().find(|l| l.starts_with("timezone")).unwrap();
    assert!(line.contains("-") && line.contains("(default)"), "{line}");
}

#[test]
fn a_bad_pack_zone_is_located_and_exits_2() {
    for (value, code, what) in [
        ("Europe/Paris", "E0035", "named zones"),
        ("\"+2:00\"", "E0035", "+HH:MM"),
        ("2", "E0035", "+HH:MM"),
        ("\"+15:00\"", "E0036", "-12:00 to +14:00"),
        ("\"+02:75\"", "E0036", "minutes below 60"),
    ] {
        let d = pack("bad", Some(&format!("timezone: {value}\n")), &rule(""));
        for cmd in ["check", "compile", "test", "config"] {
            let mut args = vec![cmd];
            if cmd == "compile" {
                args.extend(["rules", "--target", "kql-sentinel", "--out", "q"]);
            }
            let (exit, out, err) = detc_in(&d, &args);
            assert_eq!(exit, 2, "{value} {cmd}: {out}{err}");
            assert!(
                err.contains(&format!("detc.yaml:1:1: error[{code}]")),
                "{value}: {err}"
            );
            assert!(err.contains(what), "{value}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}
