//! CLI conventions end to end: the coverage gate of `detc test`, `--quiet`, `--color` and
//! `NO_COLOR`, and `detc explain`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn detc_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_detc"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn detc(args: &[&str]) -> Run {
    detc_env(args, &[])
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-conv-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A copy of one pack rule (and the lists) whose only tests are must-alert ones: every test
/// passes, and the only problem is the missing must-not-alert test.
fn pack_without_quiet_test(to: &Path) {
    std::fs::copy("rules/lists.detc", to.join("lists.detc")).unwrap();
    let lists = to.join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    for f in std::fs::read_dir("rules/lists").unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, lists.join(f.file_name().unwrap())).unwrap();
    }
    let text = std::fs::read_to_string("rules/an0379_scripting_host_mail.detc").unwrap();
    let cut = text
        .find("  test \"powershell on https is not mail\"")
        .unwrap();
    std::fs::write(
        to.join("an0379_scripting_host_mail.detc"),
        format!("{}}}\n", &text[..cut]),
    )
    .unwrap();
}

#[test]
fn the_coverage_gate_is_named_in_the_summary_and_matches_the_exit_code() {
    let d = tmp("gate");
    pack_without_quiet_test(&d);
    let dir = d.to_string_lossy().into_owned();

    // Default (`--coverage error`): every test passes, the gate fails, and the summary says so.
    let r = detc(&["test", &dir]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "1 test(s): 1 passed, 0 failed; 1 coverage gap(s): coverage gate failed (--coverage error)\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "missing test: rule `an0379_scripting_host_mail` has no test that must not alert"
        ),
        "{}",
        r.stdout
    );

    // `--coverage warn`: the gaps are still listed and counted, and the run passes.
    let r = detc(&["test", &dir, "--coverage", "warn"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "1 test(s): 1 passed, 0 failed; 1 coverage gap(s): warning only (--coverage warn)\n"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("missing test: "), "{}", r.stdout);

    // `--coverage off`: not checked, not printed.
    let r = detc(&["test", &dir, "--coverage", "off"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.ends_with("1 test(s): 1 passed, 0 failed\n"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("missing test"), "{}", r.stdout);

    // JSON carries the gate's mode and verdict.
    let r = detc(&["test", &dir, "--format", "json"]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["failed"], 0);
    assert_eq!(v["coverage"], "error");
    assert_eq!(v["coverage_gaps"].as_array().unwrap().len(), 1);
    assert_eq!(v["ok"], false);
    let r = detc(&["test", &dir, "--format", "json", "--coverage", "warn"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], true);

    // The pack itself has no gap.
    let r = detc(&["test", "rules"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("coverage"), "{}", r.stdout);
}
