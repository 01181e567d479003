//! Every rule of rules/*.detc (through the real parser and checker) and the construct tour
//! (tests/data/rules/constructs_tour.detc) x every target, as insta snapshots under snapshots/backends/, plus one side-by-side file
//! per rule (all targets together, refusals with their reasons, warnings), so a reviewer sees one
//! change everywhere.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::rules;

use detc::targets;

fn render(rule: &detc::ir::Rule, p: &targets::Profile) -> String {
    match targets::compile_rule(rule, p) {
        Ok(e) => {
            let mut s = e.text.clone();
            for w in &e.warnings {
                s.push_str(&format!("\n# warning {}: {}", w.code, w.message));
            }
            s
        }
        Err(ds) => ds
            .iter()
            .map(|d| format!("refused {}: {}\n", d.code, d.message))
            .collect(),
    }
}

fn snapshot_all(rules: &[detc::ir::Rule]) {
    let profiles = targets::load_profiles().unwrap_or_else(|d| unreachable!("{}", d.message));
    assert_eq!(
        profiles.len(),
        detc::registry::PROFILES.len(),
        "every profile loads"
    );
    for rule in rules {
        let mut side = String::new();
        for p in &profiles {
            let text = render(rule, p);
            insta::with_settings!({snapshot_path => "../../snapshots/backends", prepend_module_to_snapshot => false}, {
                insta::assert_snapshot!(format!("{}__{}", rule.name, p.name), text);
            });
            side.push_str(&format!(
                "==================== {} ====================\n{}\n",
                p.name, text
            ));
        }
        insta::with_settings!({snapshot_path => "../../snapshots/backends", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("{}__side_by_side", rule.name), side);
        });
    }
}

#[test]
fn every_pack_rule_on_every_target() {
    let files = detc::load::load_sources(&[std::path::PathBuf::from("rules")]).expect("rules/");
    let fe = detc::frontend(&files);
    let pack = fe
        .pack
        .unwrap_or_else(|| panic!("rules/ checks: {:#?}", fe.diagnostics));
    assert!(pack.rules.len() >= 4, "the pack's rules");
    snapshot_all(&pack.rules);
}

#[test]
fn construct_tour_on_every_target() {
    snapshot_all(&[rules::constructs()]);
}
