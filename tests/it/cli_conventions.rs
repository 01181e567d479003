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
            "1 test(s): 1 passed, 0 failed; 1 rule without a must-not-alert test (gate: require_tests = error, fails the run): FAILED\n"
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

    // The JUnit report agrees with the exit code: the gate is a failed test case of its own.
    let junit = d.join("report.xml");
    let r = detc(&["test", &dir, "--junit", &junit.to_string_lossy()]);
    assert_eq!(r.code, 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites tests=\"2\" failures=\"1\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase classname=\"detc\" name=\"coverage gate\">"),
        "{xml}"
    );
    assert!(
        xml.contains("rule `an0379_scripting_host_mail` has no test that must not alert"),
        "{xml}"
    );
    let r = detc(&[
        "test",
        &dir,
        "--coverage",
        "warn",
        "--junit",
        &junit.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites tests=\"1\" failures=\"0\">") && !xml.contains("coverage"),
        "{xml}"
    );

    // `--coverage warn`: the gaps are still listed and counted, and the run passes.
    let r = detc(&["test", &dir, "--coverage", "warn"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "1 test(s): 1 passed, 0 failed; 1 rule without a must-not-alert test (gate: require_tests = warn, reported only): ok\n"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("missing test: "), "{}", r.stdout);

    // `--coverage off`: not checked, not printed.
    let r = detc(&["test", &dir, "--coverage", "off"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.ends_with("1 test(s): 1 passed, 0 failed: ok\n"),
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

    // The gate from the pack's detc.yaml, and the flag over it.
    std::fs::write(
        d.join("detc.yaml"),
        "defaults:\n  test:\n    require_tests: warn\n",
    )
    .unwrap();
    let r = detc(&["test", &dir]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("(gate: require_tests = warn, reported only): ok\n"),
        "{}",
        r.stdout
    );
    let r = detc(&["test", &dir, "--require-tests", "error"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    std::fs::remove_file(d.join("detc.yaml")).unwrap();

    // `--require-tests` is the gate's name on the command line too (`--coverage` its alias).
    let r = detc(&["test", &dir, "--require-tests", "warn"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // The pack itself has no gap.
    let r = detc(&["test", "rules"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("coverage"), "{}", r.stdout);
}

const ESC: &str = "\x1b[";

#[test]
fn color_follows_the_flag_and_no_color() {
    let file = "tests/errors/E0220_unknown_field.detc";
    // Piped stderr: `auto` does not colour, nor does `never`, nor NO_COLOR.
    for (args, env) in [
        (vec!["check", file], vec![]),
        (
            vec!["check", file, "--color", "auto"],
            vec![("NO_COLOR", "1")],
        ),
        (vec!["check", file, "--color", "never"], vec![]),
        (vec!["--color", "never", "check", file], vec![]),
    ] {
        let r = detc_env(&args, &env);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains("error[E0220]"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains(ESC), "{args:?}: {:?}", r.stderr);
    }
    // `always` colours the severity and code only, even with NO_COLOR (a flag wins over it);
    // the text is otherwise the same byte for byte.
    let plain = detc(&["check", file, "--color", "never"]);
    let r = detc_env(&["check", file, "--color", "always"], &[("NO_COLOR", "1")]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("\x1b[1;31merror[E0220]\x1b[0m: unknown field `remote.prot`"),
        "{:?}",
        r.stderr
    );
    assert_eq!(
        r.stderr.replace("\x1b[1;31m", "").replace("\x1b[0m", ""),
        plain.stderr
    );
    // A warning is yellow.
    let r = detc(&[
        "check",
        "tests/errors/W0236_unused_list.detc",
        "--color",
        "always",
    ]);
    assert!(
        r.stderr.contains("\x1b[1;33mwarning[W0236]\x1b[0m"),
        "{:?}",
        r.stderr
    );
    // JSON is data on stdout: never coloured.
    let r = detc(&["check", file, "--color", "always", "--format", "json"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("E0220") && !r.stdout.contains(ESC),
        "{}",
        r.stdout
    );
    // An unknown choice is a usage error.
    assert_eq!(detc(&["check", file, "--color", "sometimes"]).code, 2);
}

#[test]
fn quiet_drops_summaries_and_warnings_but_not_errors() {
    let r = detc(&["check", "rules"]);
    assert!(r.stderr.contains("checked "), "{}", r.stderr);
    let r = detc(&["check", "rules", "--quiet"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stderr, "");

    // Errors are still shown in full; warnings and the summary are not.
    let r = detc(&["-q", "check", "tests/errors/E0220_unknown_field.detc"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("error[E0220]") && r.stderr.contains("= hint:"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("checked "), "{}", r.stderr);
    let r = detc(&["check", "tests/errors/W0236_unused_list.detc", "--quiet"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    // ... unless --deny-warnings makes them errors.
    let r = detc(&[
        "check",
        "tests/errors/W0236_unused_list.detc",
        "--quiet",
        "--deny-warnings",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("error[W0236]"), "{}", r.stderr);

    // `detc test`: no `ok` lines and no summary; failures and coverage gaps stay.
    let r = detc(&["test", "rules", "--quiet"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "");
    let d = tmp("quiet-gate");
    pack_without_quiet_test(&d);
    let r = detc(&["test", &d.to_string_lossy(), "--quiet"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stdout,
        "missing test: rule `an0379_scripting_host_mail` has no test that must not alert\n"
    );

    // `detc run`: alerts on stdout as ever, no summary on stderr.
    let ev = "rules/fixtures/an0379/rundll32_smtp.jsonl";
    let loud = detc(&["run", "rules", "--events", ev]);
    let r = detc(&["run", "rules", "--events", ev, "--quiet"]);
    assert_eq!(r.code, 0);
    assert!(!loud.stderr.is_empty());
    assert_eq!(r.stderr, "");
    assert_eq!(r.stdout, loud.stdout);

    // `detc compile --target all`: no summary and none of the warnings for rule/target pairs
    // that cannot exist; the queries are written all the same.
    let out = tmp("quiet-compile");
    let o = out.to_string_lossy().into_owned();
    let loud = detc(&["compile", "rules", "--target", "all", "--out", &o]);
    assert_eq!(loud.code, 0, "{}", loud.stderr);
    assert!(loud.stderr.contains("wrote ") && loud.stderr.contains("warning["));
    let r = detc(&["compile", "rules", "--target", "all", "--out", &o, "-q"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let r = detc(&[
        "compile", "rules", "--target", "all", "--out", &o, "-q", "--check",
    ]);
    assert_eq!((r.code, r.stderr.as_str(), r.stdout.as_str()), (0, "", ""));
}

/// The section of docs/DIAGNOSTICS.md for `code`, cut here independently of detc: from its
/// heading to the line before the next heading, trailing blank lines dropped.
fn doc_section(code: &str) -> String {
    let doc = std::fs::read_to_string("docs/DIAGNOSTICS.md").unwrap();
    let start = doc.find(&format!("\n### {code}\n")).unwrap() + 1;
    let rest = &doc[start..];
    let end = rest[4..]
        .find("\n## ")
        .into_iter()
        .chain(rest[4..].find("\n### "))
        .min()
        .map(|i| i + 5)
        .unwrap_or(rest.len());
    format!("{}\n", rest[..end].trim_end())
}

#[test]
fn explain_prints_the_documented_entry() {
    for code in ["E0001", "E0220", "W0282", "W0236"] {
        let r = detc(&["explain", code]);
        assert_eq!(r.code, 0, "{code}: {}", r.stderr);
        assert_eq!(r.stdout, doc_section(code), "{code}");
        assert!(
            r.stdout.contains("**Fix:**") || r.stdout.len() > 100,
            "{}",
            r.stdout
        );
    }
    // The last entry of the document (no heading after it).
    let doc = std::fs::read_to_string("docs/DIAGNOSTICS.md").unwrap();
    let last = doc
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .next_back()
        .unwrap()
        .to_string();
    assert_eq!(detc(&["explain", &last]).stdout, doc_section(&last));
    // Any case; JSON is {code, text}.
    let r = detc(&["explain", "e0220", "--format", "json"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["code"], "E0220");
    assert_eq!(v["text"], doc_section("E0220"));
    // An unknown code: exit 2, nothing on stdout, a did-you-mean on stderr.
    let r = detc(&["explain", "E022O"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("unknown diagnostic code `E022O`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("did you mean `E0220`?"), "{}", r.stderr);
    assert_eq!(detc(&["explain", "X9999"]).code, 2);
    assert_eq!(detc(&["explain"]).code, 2);
}

#[test]
fn completions_name_every_subcommand_in_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let r = detc(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        for sub in [
            "check",
            "compile",
            "targets",
            "test",
            "run",
            "explain",
            "fmt",
            "completions",
        ] {
            assert!(r.stdout.contains(sub), "{shell} script lacks `{sub}`");
        }
        // Flags of a subcommand are completed too, not only the subcommand names.
        assert!(r.stdout.contains("deny-warnings"), "{shell}: no flags");
    }
    // The bash script is valid bash (bash is on every machine that runs these tests).
    let r = detc(&["completions", "bash"]);
    let f = tmp("completions").join("detc.bash");
    std::fs::write(&f, &r.stdout).unwrap();
    let ok = Command::new("bash").arg("-n").arg(&f).status().unwrap();
    assert!(ok.success(), "bash -n rejects the completion script");
    let r = detc(&["completions", "tcsh"]);
    assert_eq!(r.code, 2, "an unknown shell is a usage error");
}

#[test]
fn check_sarif_is_valid_sarif_2_1_0_with_locations_relative_to_the_repo() {
    // A rule with an error (unknown field) and a warning, in a folder with a space in its name.
    let dir = tmp("sarif").join("my rules");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.detc"),
        "rule bad {\n  source network_connection\n  where remote.prot == 25\n}\n",
    )
    .unwrap();
    let r = detc(&["check", "--format", "sarif", dir.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    crate::support::oracle::sarif_validate(&r.stdout).unwrap();
    let log: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let e = results
        .iter()
        .find(|r| r["ruleId"] == "E0220")
        .expect(&r.stdout);
    assert_eq!(e["level"], "error");
    assert!(e["message"]["text"]
        .as_str()
        .unwrap()
        .contains("remote.prot"));
    assert!(e["message"]["text"]
        .as_str()
        .unwrap()
        .contains("remote.port")); // the hint
    let i = e["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[i]["id"], "E0220");
    assert_eq!(rules[i]["helpUri"], "docs/DIAGNOSTICS.md#e0220");
    assert!(rules[i]["help"]["text"]
        .as_str()
        .unwrap()
        .starts_with("### E0220"));
    let loc = &e["locations"][0]["physicalLocation"];
    // Outside the repository (a temp folder): an absolute file URI, percent-encoded.
    let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
    assert!(
        uri.starts_with("file:///") && uri.ends_with("/my%20rules/bad.detc"),
        "{uri}"
    );
    let region = &loc["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(3), Some(9))
    );
    assert_eq!(
        (region["endLine"].as_u64(), region["endColumn"].as_u64()),
        (Some(3), Some(20))
    );

    // The clean pack: a valid log with no results.
    let r = detc(&["check", "--format", "sarif", "rules"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    crate::support::oracle::sarif_validate(&r.stdout).unwrap();
    let log: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    // Inside the repository: relative to its root (%SRCROOT%), whatever the working folder;
    // a warning is level "warning".
    let w = "tests/errors/W0282_exact_case_on_windows_name.detc";
    for (cwd, arg) in [(".", w), ("tests", &w["tests/".len()..])] {
        let o = Command::new(env!("CARGO_BIN_EXE_detc"))
            .args(["check", "--format", "sarif", arg])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(cwd))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        crate::support::oracle::sarif_validate(&text).unwrap();
        let log: serde_json::Value = serde_json::from_str(&text).unwrap();
        let res = &log["runs"][0]["results"][0];
        assert_eq!(res["ruleId"], "W0282", "{text}");
        assert_eq!(res["level"], "warning");
        let art = &res["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(art["uri"], w, "{text}");
        assert_eq!(art["uriBaseId"], "%SRCROOT%");
    }

    // The validator itself rejects what is not SARIF (so a pass above means something).
    let broken = r
        .stdout
        .replace("\"version\": \"2.1.0\"", "\"version\": \"2.0\"");
    assert!(crate::support::oracle::sarif_validate(&broken).is_err());
}

/// `detc test --format sarif`: a failed test (E0807, at its `test` clause) and a coverage gap
/// (E0808, at its rule) as SARIF 2.1.0, valid against the schema; the exit code is the run's.
#[test]
fn test_sarif_reports_failures_and_gaps_as_valid_sarif() {
    let d = tmp("test-sarif");
    pack_without_quiet_test(&d);
    let f = d.join("an0379_scripting_host_mail.detc");
    // Make the one must-alert test fail: it now expects two alerts.
    let text = std::fs::read_to_string(&f).unwrap();
    let broken = text.replacen("expect 1 alert", "expect 2 alerts", 1);
    assert_ne!(broken, text);
    std::fs::write(&f, broken).unwrap();
    let r = detc(&["test", "--format", "sarif", &d.to_string_lossy()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    crate::support::oracle::sarif_validate(&r.stdout).unwrap();
    let log: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["E0807", "E0808"]);
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert!(loc["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("an0379_scripting_host_mail.detc"));
    let test_line = std::fs::read_to_string(&f)
        .unwrap()
        .lines()
        .position(|l| l.trim_start().starts_with("test "))
        .unwrap()
        + 1;
    assert_eq!(loc["region"]["startLine"], test_line);
    assert_eq!(results[1]["level"], "error");
    // With the gate at `warn`, the gap is a warning.
    let r = detc(&[
        "test",
        "--format",
        "sarif",
        "--require-tests",
        "warn",
        &d.to_string_lossy(),
    ]);
    let log: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(log["runs"][0]["results"][1]["level"], "warning");
}
