//! `detc check` as a user runs it: the built binary, from the crate root. Exit code, stdout and
//! stderr of each case are an insta snapshot (snapshots/cli/); the assertions say what must hold
//! whatever the wording.

use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn detc(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_detc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .unwrap_or_else(|e| unreachable!("cannot run detc: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn snap(name: &str, run: &Run) {
    insta::with_settings!({snapshot_path => "../../snapshots/cli", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, run.transcript());
    });
}

#[test]
fn the_pack_checks_clean() {
    let r = detc(&["check", "rules/"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("0 error(s)") && r.stderr.contains("14 rule(s)"),
        "{}",
        r.stderr
    );
    snap("check_rules", &r);
}

#[test]
fn no_path_means_rules_folder() {
    let default = detc(&["check"]);
    let explicit = detc(&["check", "rules"]);
    assert_eq!(default.code, 0, "{}", default.transcript());
    assert_eq!(default.transcript(), explicit.transcript());
}

#[test]
fn an_invalid_file_is_a_located_error_and_exit_1() {
    let r = detc(&["check", "tests/errors/E0220_unknown_field.detc"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    let first = r.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "tests/errors/E0220_unknown_field.detc:7:9: error[E0220]: unknown field `remote.prot` \
         for source network_connection"
    );
    assert!(r.stderr.contains("did you mean `remote.port`?"));
    snap("check_invalid_file", &r);
}

/// Every file of the error corpus checked in one run: every file is named in the output (all
/// errors of a run are reported, not the first only), and every error line has the
/// `path:line:col: error[E0000]: ` shape.
#[test]
fn one_run_reports_the_errors_of_every_file() {
    let r = detc(&["check", "tests/errors"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    let mut names: Vec<String> = std::fs::read_dir("tests/errors")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "detc"))
        .map(|p| {
            format!(
                "tests/errors/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .collect();
    names.sort();
    assert!(names.len() >= 45);
    for n in &names {
        assert!(
            r.stderr.contains(&format!("{n}:")),
            "{n} is not in the output"
        );
    }
    for line in r.stderr.lines().filter(|l| l.contains(": error[")) {
        let (loc, rest) = line.split_once(": error[").unwrap_or_default();
        let parts: Vec<&str> = loc.rsplitn(3, ':').collect();
        assert!(
            parts.len() == 3
                && parts[0].parse::<u32>().is_ok_and(|c| c >= 1)
                && parts[1].parse::<u32>().is_ok_and(|l| l >= 1)
                && (parts[2].ends_with(".detc") || parts[2].starts_with("tests/errors/data/")),
            "not path:line:col: {line}"
        );
        assert!(
            rest.len() > 7 && rest.as_bytes()[0] == b'E' && &rest[5..7] == "]:",
            "not error[E0000]: {line}"
        );
    }
}

#[test]
fn json_output_is_one_document_with_every_part_of_a_diagnostic() {
    let r = detc(&[
        "check",
        "--format",
        "json",
        "tests/errors/E0220_unknown_field.detc",
    ]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr.is_empty(),
        "JSON mode writes only stdout: {}",
        r.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| unreachable!("stdout is not JSON ({e}): {}", r.stdout));
    let ds = v["diagnostics"].as_array().cloned().unwrap_or_default();
    assert_eq!(ds.len(), 1, "{}", r.stdout);
    let d = &ds[0];
    assert_eq!(d["code"], "E0220");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["span"]["path"], "tests/errors/E0220_unknown_field.detc");
    assert_eq!(
        (d["span"]["line"].as_u64(), d["span"]["col"].as_u64()),
        (Some(7), Some(9))
    );
    assert_eq!(d["found"], "`remote.prot`");
    assert!(d["expected"]
        .as_str()
        .is_some_and(|e| e.contains("network_connection")));
    assert_eq!(d["hints"][0], "did you mean `remote.port`?");
    assert_eq!(v["errors"], 1);
    snap("check_json", &r);

    let clean = detc(&["check", "--format", "json", "rules/"]);
    assert_eq!(clean.code, 0);
    let v: serde_json::Value = serde_json::from_str(&clean.stdout)
        .unwrap_or_else(|e| unreachable!("stdout is not JSON ({e}): {}", clean.stdout));
    assert_eq!(v["diagnostics"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_missing_path_is_exit_2() {
    let r = detc(&["check", "rules/no_such_rule.detc"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r
        .stderr
        .starts_with("rules/no_such_rule.detc: error[E0001]: cannot read"));
    snap("check_missing_path", &r);
}

#[test]
fn a_folder_without_rule_files_is_exit_2() {
    let r = detc(&["check", "tests/errors/data"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.starts_with(
            "tests/errors/data: error[E0003]: no rule files (*.detc) under tests/errors/data"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_file_that_is_not_utf8_is_exit_2() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_check");
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join("latin1.detc");
    let _ = std::fs::write(&p, b"rule r { title \"caf\xe9\" }\n");
    let r = detc(&["check", &p.to_string_lossy()]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("error[E0002]") && r.stderr.contains("not UTF-8"));
}

#[test]
fn usage_errors_are_exit_2() {
    let r = detc(&["check", "--format", "yaml"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
}

#[test]
fn help_teaches_with_examples() {
    let r = detc(&["check", "--help"]);
    assert_eq!(r.code, 0);
    for want in [
        "Examples:",
        "detc check --format json",
        "Exit status",
        "Default: rules/",
    ] {
        assert!(
            r.stdout.contains(want),
            "--help lacks {want:?}:\n{}",
            r.stdout
        );
    }
    snap("check_help", &r);
}

/// A fresh, empty folder under the system's temporary folder.
#[cfg(unix)]
fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("detc-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| unreachable!("{e}"));
    d
}

/// Issue 9, item 8: links that make a folder contain itself are walked once (each folder is
/// entered once, by its real path) and each real file is read once, so there are no false
/// duplicate-rule errors and no exponential walk.
#[cfg(unix)]
#[test]
fn symlink_loops_in_a_rules_folder_read_each_file_once() {
    use std::os::unix::fs::symlink;
    let dir = tmp("loops");
    let rule = std::fs::read_to_string("tests/data/../../rules/an0379_scripting_host_mail.detc")
        .unwrap_or_else(|e| unreachable!("{e}"));
    let lists = std::fs::read_to_string("rules/lists.detc").unwrap_or_else(|e| unreachable!("{e}"));
    std::fs::write(dir.join("a.detc"), rule).unwrap_or_else(|e| unreachable!("{e}"));
    // Lists without files, so the folder checks on its own.
    let inline: String = lists
        .lines()
        .filter(|l| !l.contains("file("))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("lists.detc"), inline).unwrap_or_else(|e| unreachable!("{e}"));
    let d = dir.to_str().unwrap_or_default();
    let clean = detc(&["check", d]);
    assert!(
        clean.stderr.contains("checked 2 file(s)"),
        "{}",
        clean.transcript()
    );
    let unused = clean.stderr.matches("warning").count();

    // One link to the folder itself, and a link to one of its files.
    symlink(".", dir.join("self")).unwrap_or_else(|e| unreachable!("{e}"));
    symlink("a.detc", dir.join("same.detc")).unwrap_or_else(|e| unreachable!("{e}"));
    let run = detc(&["check", d]);
    assert_eq!(run.code, clean.code, "{}", run.transcript());
    assert!(
        run.stderr.contains("checked 2 file(s)"),
        "{}",
        run.transcript()
    );
    assert!(!run.stderr.contains("E0200"), "{}", run.transcript());
    assert_eq!(run.stderr.matches("warning").count(), unused);

    // Two links to the folder: 2^40 paths before the system's link limit if walked blindly.
    symlink(".", dir.join("s1")).unwrap_or_else(|e| unreachable!("{e}"));
    symlink(".", dir.join("s2")).unwrap_or_else(|e| unreachable!("{e}"));
    let run = detc(&["check", d, &format!("{d}/s1")]);
    assert_eq!(run.code, clean.code, "{}", run.transcript());
    assert!(
        run.stderr.contains("checked 2 file(s)"),
        "{}",
        run.transcript()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 9, item 7: list files are confined to the pack root (the folder given to detc), after
/// following links; only regular files are read (a FIFO neither blocks nor is opened), and
/// `/dev/zero` is refused without reading.
#[cfg(unix)]
#[test]
fn list_files_stay_inside_the_pack_root_and_are_regular_files() {
    use std::os::unix::fs::symlink;
    let dir = tmp("listfiles");
    let pack = dir.join("pack");
    let w = |p: &str, t: &str| {
        let p = pack.join(p);
        std::fs::create_dir_all(p.parent().unwrap_or(&pack))
            .unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::write(p, t).unwrap_or_else(|e| unreachable!("{e}"));
    };
    std::fs::write(dir.join("secret.txt"), "SECRET-VALUE\n")
        .unwrap_or_else(|e| unreachable!("{e}"));
    w("lists/clients.txt", "outlook.exe\n");
    symlink(dir.join("secret.txt"), pack.join("lists/linked_out.txt"))
        .unwrap_or_else(|e| unreachable!("{e}"));
    symlink("clients.txt", pack.join("lists/linked_in.txt"))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let fifo = pack.join("lists/pipe.txt");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    let decls = [
        ("ok_parent", "../lists/clients.txt", None),
        ("ok_link_inside", "../lists/linked_in.txt", None),
        ("up_and_out", "../../secret.txt", Some("E0237")),
        ("absolute", "/etc/passwd", Some("E0237")),
        ("link_out", "../lists/linked_out.txt", Some("E0237")),
        ("fifo", "../lists/pipe.txt", Some("E0238")),
        ("folder", "../lists", Some("E0238")),
        ("too_big", "../lists/big.txt", Some("E0239")),
    ];
    // A sparse file one byte over the 8 MiB cap.
    std::fs::File::create(pack.join("lists/big.txt"))
        .and_then(|f| f.set_len(8 * 1024 * 1024 + 1))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let mut text = String::new();
    for (i, (name, path, _)) in decls.iter().enumerate() {
        text.push_str(&format!(
            "list {name}: string = file(\"{path}\")\nrule r{i} {{\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d4{i}\"\n  title \"t\"\n  severity low\n  source network_connection\n  where process.name in~ {name}\n}}\n"
        ));
    }
    w("sub/rules.detc", &text);
    let run = detc(&[
        "check",
        pack.to_str().unwrap_or_default(),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let doc: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| unreachable!("{e}: {}", run.stdout));
    let diags = doc["diagnostics"].as_array().cloned().unwrap_or_default();
    for (i, (name, _, code)) in decls.iter().enumerate() {
        let line = (i * 8 + 1) as u64;
        let here: Vec<&serde_json::Value> =
            diags.iter().filter(|d| d["span"]["line"] == line).collect();
        match code {
            None => assert!(here.is_empty(), "{name}: {here:?}"),
            Some(c) => {
                assert_eq!(here.len(), 1, "{name}: {}", run.stdout);
                assert_eq!(here[0]["code"], *c, "{name}: {}", run.stdout);
            }
        }
    }
    assert!(!run.stdout.contains("SECRET"), "{}", run.stdout);
    // The same pack named by its rule file: the pack root is then the file's folder (sub/), so
    // every list above (all under `..`) is outside it.
    let run = detc(&[
        "check",
        pack.join("sub/rules.detc").to_str().unwrap_or_default(),
    ]);
    assert_eq!(
        run.stderr.matches("error[E0237]").count(),
        8,
        "{}",
        run.transcript()
    );
    // /dev/zero is a device: refused by kind without reading, whatever the pack root.
    let zero = dir.join("zero");
    std::fs::create_dir_all(&zero).unwrap_or_else(|e| unreachable!("{e}"));
    std::fs::write(
        zero.join("z.detc"),
        "list z: string = file(\"/dev/zero\")\n",
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let run = detc(&["check", zero.to_str().unwrap_or_default(), "/dev"]);
    assert!(
        run.stderr.contains("error[E0238]") && run.stderr.contains("a device"),
        "{}",
        run.transcript()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--deny-warnings` makes warnings errors (exit 1) on check, compile and test; without it a
/// warning leaves the exit status 0. The pack is clean under it.
#[test]
fn deny_warnings_makes_warnings_errors() {
    let file = "tests/errors/W0282_exact_case_on_windows_name.detc";
    let plain = detc(&["check", file]);
    assert_eq!(plain.code, 0, "{}", plain.transcript());
    assert!(
        plain.stderr.contains("warning[W0282]"),
        "{}",
        plain.transcript()
    );
    let denied = detc(&["check", file, "--deny-warnings"]);
    assert_eq!(denied.code, 1, "{}", denied.transcript());
    assert!(
        denied.stderr.contains("error[W0282]"),
        "{}",
        denied.transcript()
    );
    assert!(
        denied.stderr.contains("1 error(s), 0 warning(s)"),
        "{}",
        denied.transcript()
    );
    snap("check_deny_warnings", &denied);
    let json = detc(&["check", file, "--deny-warnings", "--format", "json"]);
    assert_eq!(json.code, 1, "{}", json.transcript());
    let doc: serde_json::Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| unreachable!("{e}: {}", json.transcript()));
    assert_eq!(
        doc["diagnostics"][0]["severity"],
        "error",
        "{}",
        json.transcript()
    );
    assert_eq!(
        doc["diagnostics"][0]["code"],
        "W0282",
        "{}",
        json.transcript()
    );

    let out = tempfile_dir();
    let compile = detc(&[
        "compile",
        file,
        "--target",
        "sigma",
        "--out",
        &out,
        "--deny-warnings",
    ]);
    assert_eq!(compile.code, 1, "{}", compile.transcript());
    assert!(
        !Path::new(&out).join("sigma").exists(),
        "nothing is written when warnings are denied"
    );
    let test = detc(&["test", file, "--deny-warnings"]);
    assert_eq!(test.code, 1, "{}", test.transcript());
    assert!(
        test.stderr.contains("error[W0282]"),
        "{}",
        test.transcript()
    );

    let pack = detc(&["check", "rules/", "--deny-warnings"]);
    assert_eq!(pack.code, 0, "{}", pack.transcript());
}

fn tempfile_dir() -> String {
    let d = std::env::temp_dir().join(format!("detc-deny-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d.to_string_lossy().into_owned()
}

/// Issue 9, item 7 for rule-test fixtures: like list files, a fixture must lie inside the pack
/// root once links are followed, be a regular file (a FIFO is refused by kind, never opened) and
/// stay under its size cap; `detc check` reports each at the test's path, and `detc test` never
/// reads a fixture outside the pack.
#[cfg(unix)]
#[test]
fn fixture_files_stay_inside_the_pack_root_and_are_regular_files() {
    use std::os::unix::fs::symlink;
    let dir = tmp("fixtures");
    let pack = dir.join("pack");
    std::fs::create_dir_all(pack.join("fixtures")).unwrap_or_else(|e| unreachable!("{e}"));
    let event = "{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00\",\"Image\":\"a.exe\",\"Initiated\":\"true\",\"DestinationIp\":\"203.0.113.9\",\"DestinationPort\":25}\n";
    std::fs::write(dir.join("secret.jsonl"), event).unwrap_or_else(|e| unreachable!("{e}"));
    std::fs::write(pack.join("fixtures/ok.jsonl"), event).unwrap_or_else(|e| unreachable!("{e}"));
    symlink(
        dir.join("secret.jsonl"),
        pack.join("fixtures/linked_out.jsonl"),
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let made = Command::new("mkfifo")
        .arg(pack.join("fixtures/pipe.jsonl"))
        .status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    // A sparse file one byte over the 32 MiB fixture cap.
    std::fs::File::create(pack.join("fixtures/big.jsonl"))
        .and_then(|f| f.set_len(32 * 1024 * 1024 + 1))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let cases = [
        ("fixtures/ok.jsonl", None),
        ("../secret.jsonl", Some("E0237")),
        ("/etc/passwd", Some("E0237")),
        ("fixtures/linked_out.jsonl", Some("E0237")),
        ("fixtures/pipe.jsonl", Some("E0238")),
        ("fixtures", Some("E0238")),
        ("fixtures/big.jsonl", Some("E0239")),
        ("fixtures/none.jsonl", Some("E0260")),
    ];
    let rule = |i: usize, path: &str| {
        format!(
            "rule r{i} {{\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d4{i}\"\n  title \"t\"\n  severity low\n  source network_connection\n  where remote.port == 25\n  test \"t\" events \"{path}\" expect 1 alert\n}}\n"
        )
    };
    let text: String = cases
        .iter()
        .enumerate()
        .map(|(i, (p, _))| rule(i, p))
        .collect();
    std::fs::write(pack.join("rules.detc"), text).unwrap_or_else(|e| unreachable!("{e}"));
    let run = detc(&[
        "check",
        pack.to_str().unwrap_or_default(),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let doc: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| unreachable!("{e}: {}", run.stdout));
    let diags = doc["diagnostics"].as_array().cloned().unwrap_or_default();
    for (i, (path, code)) in cases.iter().enumerate() {
        let line = (i * 8 + 7) as u64;
        let here: Vec<&serde_json::Value> =
            diags.iter().filter(|d| d["span"]["line"] == line).collect();
        match code {
            None => assert!(here.is_empty(), "{path}: {here:?}"),
            Some(c) => {
                assert_eq!(here.len(), 1, "{path}: {}", run.stdout);
                assert_eq!(here[0]["code"], *c, "{path}: {}", run.stdout);
                assert_eq!(here[0]["span"]["col"], 19, "{path}: {}", run.stdout);
            }
        }
    }
    // `detc test` on a pack whose only fixture is outside it: refused, never read (the outside
    // file would make the test pass).
    std::fs::write(pack.join("rules.detc"), rule(1, "../secret.jsonl"))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let run = detc(&["test", pack.to_str().unwrap_or_default()]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("error[E0237]"), "{}", run.transcript());
    assert!(!run.stdout.contains("ok "), "{}", run.transcript());
    // And a FIFO fixture neither blocks `detc test` nor is opened.
    std::fs::write(pack.join("rules.detc"), rule(4, "fixtures/pipe.jsonl"))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let run = detc(&["test", pack.to_str().unwrap_or_default()]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("error[E0238]"), "{}", run.transcript());
    let _ = std::fs::remove_dir_all(&dir);
}
