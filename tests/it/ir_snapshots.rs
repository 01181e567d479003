//! The typed IR of every rule in rules/, as insta snapshots (snapshots/ir/): a change to what the
//! checker produces for the pack is reviewed as a diff.

use detc::load::load_sources;
use std::path::PathBuf;

#[test]
fn every_rule_of_the_pack_lowers_to_reviewed_ir() {
    let files = match load_sources(&[PathBuf::from("rules")]) {
        Ok(f) => f,
        Err(d) => unreachable!("cannot load rules/: {}", d.message),
    };
    let fe = detc::frontend(&files);
    let errors: Vec<String> = fe
        .diagnostics
        .iter()
        .map(|d| detc::diag::render_human(d, &fe.sources))
        .collect();
    assert!(
        errors.is_empty(),
        "rules/ must check clean:\n{}",
        errors.join("\n")
    );
    let Some(pack) = fe.pack else {
        unreachable!("no pack")
    };
    assert_eq!(pack.rules.len(), 14, "the pack has fourteen rules");
    insta::with_settings!({snapshot_path => "../../snapshots/ir", prepend_module_to_snapshot => false}, {
        for rule in &pack.rules {
            insta::assert_yaml_snapshot!(rule.name.clone(), rule);
        }
        insta::assert_yaml_snapshot!("lists", pack.lists);
    });
}
