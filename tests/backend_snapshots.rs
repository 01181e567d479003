//! Every hand-built rule x every target, as insta snapshots under snapshots/backends/, plus one
//! side-by-side file per rule (all targets together, refusals included with their reasons), so a
//! reviewer sees one change everywhere.
#[path = "support/backend_rules.rs"]
#[allow(dead_code)]
mod backend_rules;

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

#[test]
fn every_rule_on_every_target() {
    let profiles = targets::profiles();
    assert_eq!(profiles.len(), 5, "all five profiles load");
    for rule in backend_rules::all() {
        let mut side = String::new();
        for p in &profiles {
            let text = render(&rule, p);
            insta::with_settings!({snapshot_path => "../snapshots/backends", prepend_module_to_snapshot => false}, {
                insta::assert_snapshot!(format!("{}__{}", rule.name, p.name), text);
            });
            side.push_str(&format!(
                "==================== {} ====================\n{}\n",
                p.name, text
            ));
        }
        insta::with_settings!({snapshot_path => "../snapshots/backends", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("{}__side_by_side", rule.name), side);
        });
    }
}
