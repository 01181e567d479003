//! `detc init`: the scaffolded pack passes its own pipeline (every `detc` step of the workflow
//! it writes, run as written), and init never overwrites a file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn detc_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_detc"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-init-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn an_initialised_pack_passes_its_own_workflow() {
    let d = tmp("ok");
    let (code, _, err) = detc_in(&d, &["init", "pack"]);
    assert_eq!(code, 0, "{err}");
    let pack = d.join("pack");
    std::fs::create_dir_all(pack.join(".git")).unwrap();
    let wf = std::fs::read_to_string(pack.join(".github/workflows/detc.yml")).unwrap();
    // The workflow is YAML with the four steps the pipeline needs, each run here as written.
    let doc: serde_yaml::Value = serde_yaml::from_str(&wf).unwrap();
    let steps: Vec<String> = doc["jobs"]["rules"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| r.starts_with("detc "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        steps,
        [
            "detc fmt --check rules/",
            "detc check --deny-warnings rules/",
            "detc test rules/",
            "detc compile rules/ --check",
        ]
    );
    for step in &steps {
        let args: Vec<&str> = step.split(' ').skip(1).collect();
        let (code, out, err) = detc_in(&pack, &args);
        assert_eq!(code, 0, "`{step}`:\n{out}{err}");
    }
    // The sample rule's tests: one must alert, one must not; the gate is on.
    let (_, out, _) = detc_in(&pack, &["test", "rules/"]);
    assert!(out.contains("2 test(s): 2 passed, 0 failed: ok"), "{out}");
    // The compiled queries are there, and a changed rule is drift.
    assert!(pack
        .join("queries/kql-defender/example_script_host_mail.kql")
        .is_file());
    let rule = pack.join("rules/example_script_host_mail.detc");
    let text = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(&rule, text.replace("severity medium", "severity high")).unwrap();
    let (code, _, _) = detc_in(&pack, &["compile", "rules/", "--check"]);
    assert_eq!(code, 1, "a changed rule must show as drift");
}

#[test]
fn init_never_overwrites() {
    let d = tmp("exists");
    std::fs::create_dir_all(d.join("rules")).unwrap();
    std::fs::write(d.join("rules/lists.detc"), "// mine\n").unwrap();
    let (code, _, err) = detc_in(&d, &["init"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("rules/lists.detc: error[E0005]: refusing to overwrite"),
        "{err}"
    );
    // Nothing was written, and the existing file is as it was.
    assert_eq!(
        std::fs::read_to_string(d.join("rules/lists.detc")).unwrap(),
        "// mine\n"
    );
    assert!(!d.join("detc.yaml").exists());
    assert!(!d.join("queries").exists());
    // A second init over a first one: refused too.
    let e = tmp("twice");
    assert_eq!(detc_in(&e, &["init"]).0, 0);
    let before = std::fs::read_to_string(e.join("detc.yaml")).unwrap();
    let (code, _, err) = detc_in(&e, &["init"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("more of the paths detc init writes exist"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(e.join("detc.yaml")).unwrap(),
        before
    );
}
