//! Queries an expert would deploy (issue 14, point 8): each filter where the engine can use it,
//! and no test twice. The meaning is the differential test's business (tests/it/differential.rs);
//! these check the shape it would not notice.
#![allow(clippy::expect_used, clippy::panic)]
use crate::support::rules;
use detc::targets;

fn query(rule: &detc::ir::Rule, target: &str) -> String {
    let p = targets::profile(target).expect("profile");
    match targets::compile_rule(rule, &p) {
        Ok(e) => e.text,
        Err(d) => panic!("{target} refused {}: {d:?}", rule.name),
    }
}

/// `direction == outbound` already confines ActionType to connection values: the source's
/// "connections only" stage would test the same column a second time.
#[test]
fn kql_filters_action_type_once() {
    for target in ["kql-defender", "kql-sentinel"] {
        let q = query(&rules::pack_rule("an0379_browser_mail_port"), target);
        assert_eq!(q.matches("ActionType in").count(), 1, "{target}:\n{q}");
    }
}

fn port_rule(filter: &str) -> detc::ir::Rule {
    rules::hand_rule(
        "port.detc",
        "port_rule",
        [
            "5b5b5b5b-1111-4222-8333-444455556667",
            "Mail port",
            "Hand-built test rule.",
            "2026-12-02",
        ],
        &format!("  source network_connection\n  where {filter}"),
    )
}

/// A filter that leaves ActionType open, or opens it wider than the applies list (`not`, an
/// `or`), keeps the connections-only stage; `outcome == succeeded` at the top level drops it.
#[test]
fn kql_keeps_the_applies_stage_unless_the_filter_implies_it() {
    for (filter, stage) in [
        ("remote.port == 25", true),
        ("remote.port == 25 and not (direction == inbound)", true),
        ("remote.port == 25 or direction == outbound", true),
        ("remote.port == 25 and outcome == succeeded", false),
        (
            "remote.port == 25 and direction in [inbound, outbound]",
            false,
        ),
    ] {
        let q = query(&port_rule(filter), "kql-defender");
        let has = q.contains("ActionType in (\"ConnectionSuccess\", \"ConnectionFailed\", \"ConnectionRequest\", \"ConnectionAttempt\", \"ConnectionFound\"");
        assert_eq!(has, stage, "{filter}:\n{q}");
    }
}
