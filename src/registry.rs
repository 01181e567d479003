//! The registry: every target profile, input schema and vendor column list, enumerated from the
//! folder `targets/` at build time (`build.rs`) and embedded in the binary. It is the one list of
//! them: the target profiles (`targets::load_profiles`), the evaluator's input schemas
//! (`eval::schema::BUILTIN`), the checker's schema names, error hints, CLI help and the docs
//! tables (checked by the tests below) all derive from it.
//!
//! Adding an input schema is one file `targets/inputs/<name>.yaml` plus its row in README.md;
//! adding a target profile is one folder `targets/<name>/` (`profile.yaml` and a template
//! `query.<ext>.j2`) plus its row in docs/TARGETS.md, and one module under `src/targets/` when
//! its language is new.

/// The embedded files of one target profile folder.
#[derive(Debug, Clone, Copy)]
pub struct ProfileFiles {
    /// The folder name, which is the profile name.
    pub name: &'static str,
    /// `profile.yaml`.
    pub profile: &'static str,
    /// The template's file name (`query.kql.j2`).
    pub template_file: &'static str,
    pub template: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/registry.rs"));

/// The names of the target profiles, sorted.
pub fn profile_names() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|p| p.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// Every file under `targets/`, as `targets/...` with `/` separators.
    fn files_under(dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else if let Ok(rel) = p.strip_prefix(root()) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    /// A file under `targets/` that the registry does not reach (a profile folder without its
    /// `profile.yaml`, a second template, a column list no profile names, a stray file) is
    /// either dead or forgotten: it fails here, named. READMEs are the folder's documentation.
    #[test]
    fn every_file_under_targets_is_reachable_through_the_registry() {
        let profiles = crate::targets::load_profiles().unwrap_or_else(|d| unreachable!("{d:?}"));
        assert_eq!(
            profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            profile_names().collect::<Vec<_>>(),
            "every registered profile loads"
        );
        let inputs = crate::eval::schema::builtin().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            inputs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            INPUT_NAMES,
            "every input schema loads, named as its file"
        );
        let mut reached = BTreeSet::new();
        for p in PROFILES {
            reached.insert(format!("targets/{}/profile.yaml", p.name));
            reached.insert(format!("targets/{}/{}", p.name, p.template_file));
        }
        for (f, _) in INPUTS {
            reached.insert(format!("targets/inputs/{f}"));
        }
        let named: BTreeSet<&str> = profiles
            .iter()
            .flat_map(|p| p.sources.values())
            .flat_map(|s| std::iter::once(s).chain(s.platforms.values()))
            .map(|s| s.schema.as_str())
            .collect();
        for (f, _) in SCHEMAS {
            if named.contains(f) {
                reached.insert(format!("targets/schemas/{f}"));
            }
        }
        let mut on_disk = BTreeSet::new();
        files_under(&root().join("targets"), &mut on_disk);
        let unreached: Vec<&String> = on_disk
            .iter()
            .filter(|f| !reached.contains(*f) && !f.ends_with("/README.md"))
            .collect();
        assert!(
            unreached.is_empty(),
            "files under targets/ the registry does not reach: {unreached:?}"
        );
    }

    /// The rows of the markdown table whose header line starts with `header`: its cells, with
    /// backticks removed.
    fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(root().join(doc)).unwrap_or_default();
        let mut lines = text.lines().skip_while(|l| !l.starts_with(header));
        assert!(lines.next().is_some(), "{doc}: no table headed `{header}`");
        lines
            .skip(1) // |---|---|
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                l.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().trim_matches('`').to_string())
                    .collect()
            })
            .collect()
    }

    fn first_column(doc: &str, header: &str) -> Vec<String> {
        table(doc, header)
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect()
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    /// Each docs table lists exactly what the registry holds: a profile, input schema or column
    /// list added without its row (or a row left after its file went) fails here.
    #[test]
    fn docs_tables_match_the_registry() {
        assert_eq!(
            sorted(first_column("docs/TARGETS.md", "| profile | language |")),
            profile_names().map(String::from).collect::<Vec<_>>(),
            "docs/TARGETS.md, table of profiles"
        );
        let inputs = crate::eval::schema::builtin().unwrap_or_else(|e| unreachable!("{e}"));
        let mut rows: Vec<(String, String)> = table("README.md", "| input schema |")
            .into_iter()
            .map(|r| (r[0].clone(), r.get(1).cloned().unwrap_or_default()))
            .collect();
        rows.sort();
        // Sorted by name, not file order: `sysmon-process.yaml` comes before `sysmon.yaml`.
        let mut names: Vec<(String, String)> = inputs
            .iter()
            .map(|s| (s.name.clone(), s.source.name().to_string()))
            .collect();
        names.sort();
        assert_eq!(
            rows, names,
            "README.md, table of input schemas (name, source)"
        );
        assert_eq!(
            sorted(first_column("targets/schemas/README.md", "| File |")),
            SCHEMAS
                .iter()
                .map(|(f, _)| f.to_string())
                .collect::<Vec<_>>(),
            "targets/schemas/README.md, table of column lists"
        );
    }
}
