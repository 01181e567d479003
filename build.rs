//! Enumerates `targets/` into the registry table (`$OUT_DIR/registry.rs`, included by
//! `src/registry.rs`): every target profile folder, input schema and vendor column list is
//! embedded from the folder itself, so no list of them is typed by hand anywhere else.
//!
//! Layout read: `targets/<profile>/profile.yaml` plus one template `query.*.j2`;
//! `targets/inputs/<name>.yaml`; `targets/schemas/<file>.yaml`. Anything else under `targets/`
//! is not embedded, and the registry test (`registry::tests`) fails naming it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `.yaml` files of `dir`, sorted by name: (file name, absolute path).
fn yaml_files(dir: &Path) -> Vec<(String, PathBuf)> {
    sorted_entries(dir)
        .into_iter()
        .filter(|p| p.is_file() && name_of(p).ends_with(".yaml"))
        .map(|p| (name_of(&p), p))
        .collect()
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let targets = root.join("targets");
    println!("cargo:rerun-if-changed=build.rs");
    // A directory: cargo rescans all of it, so an added or removed file reruns this script.
    println!("cargo:rerun-if-changed={}", targets.display());

    let mut out = String::new();
    let inc = |p: &Path| format!("include_str!({:?})", p.to_string_lossy());

    // Target profiles: every folder other than inputs/ and schemas/ with a profile.yaml.
    out.push_str("/// Target profiles: one per folder `targets/<name>/`, sorted by name.\n");
    out.push_str("pub const PROFILES: &[ProfileFiles] = &[\n");
    for dir in sorted_entries(&targets) {
        let name = name_of(&dir);
        if !dir.is_dir() || name == "inputs" || name == "schemas" {
            continue;
        }
        let profile = dir.join("profile.yaml");
        let template = sorted_entries(&dir).into_iter().find(|p| {
            let n = name_of(p);
            p.is_file() && n.starts_with("query.") && n.ends_with(".j2")
        });
        let (true, Some(template)) = (profile.is_file(), template) else {
            println!("cargo:warning=targets/{name}/ has no profile.yaml or no query.*.j2 template: not a target profile");
            continue;
        };
        let _ = writeln!(
            out,
            "    ProfileFiles {{ name: {name:?}, profile: {}, template_file: {:?}, template: {} }},",
            inc(&profile),
            name_of(&template),
            inc(&template)
        );
    }
    out.push_str("];\n\n");

    out.push_str(
        "/// Input schemas of the evaluator: (file name, YAML text), sorted by file name.\n",
    );
    out.push_str("pub const INPUTS: &[(&str, &str)] = &[\n");
    let inputs = yaml_files(&targets.join("inputs"));
    for (file, path) in &inputs {
        let _ = writeln!(out, "    ({file:?}, {}),", inc(path));
    }
    out.push_str("];\n\n");
    out.push_str("/// The input schema names (`schema NAME`, `--schema NAME`): the file names without `.yaml`.\n");
    out.push_str("pub const INPUT_NAMES: &[&str] = &[\n");
    for (file, _) in &inputs {
        let _ = writeln!(out, "    {:?},", file.trim_end_matches(".yaml"));
    }
    out.push_str("];\n\n");

    out.push_str("/// Vendor column lists: (file name, YAML text), sorted by file name.\n");
    out.push_str("pub const SCHEMAS: &[(&str, &str)] = &[\n");
    for (file, path) in yaml_files(&targets.join("schemas")) {
        let _ = writeln!(out, "    ({file:?}, {}),", inc(&path));
    }
    out.push_str("];\n");

    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("registry.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=cannot write {}: {e}", dest.display());
        std::process::exit(1);
    }
}
