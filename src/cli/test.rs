use super::Exit;
use crate::config::Gate;
use crate::diag::shown;
use crate::eval::testing::{self, TestOutcome};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Rule files or folders. Default: rules/
    pub paths: Vec<PathBuf>,
    /// Output format: human, json, or sarif (SARIF 2.1.0: failed tests and coverage gaps, for
    /// GitHub code scanning).
    #[arg(long, value_enum, default_value_t)]
    pub format: super::check::CheckFormat,
    /// Also write a JUnit XML report to FILE.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Treat warnings as errors: report them as errors and exit 1 before running any test (for CI).
    #[arg(long)]
    pub deny_warnings: bool,
    /// The coverage gate `require_tests`: every rule needs a test that must alert and one that
    /// must not. `error` (default) fails the run (exit 1) on a gap, `warn` lists gaps and
    /// passes, `off` does not check. Default: defaults.test.require_tests of detc.yaml.
    #[arg(long, value_enum, alias = "coverage")]
    pub require_tests: Option<Gate>,
}

/// Expected vs actual alerts as a unified line diff.
pub fn diff(o: &TestOutcome) -> String {
    similar::TextDiff::from_lines(&o.expected, &o.actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string()
}

/// The coverage gaps of a pack, split by what is missing (the wording is
/// `testing::coverage_gaps`'s): (rules without a must-alert test, rules without a
/// must-not-alert test).
fn gap_counts(gaps: &[String]) -> (usize, usize) {
    let no_alert = gaps
        .iter()
        .filter(|g| g.ends_with("has no test that must alert"))
        .count();
    (no_alert, gaps.len() - no_alert)
}

/// `N rule(s) without a must-alert test, M ... (gate: require_tests = MODE, VERDICT)`.
fn gate_text(gaps: &[String], gate: Gate) -> String {
    let (no_alert, no_quiet) = gap_counts(gaps);
    let rules = |n: usize| if n == 1 { "rule" } else { "rules" };
    let mut parts = Vec::new();
    if no_alert > 0 {
        parts.push(format!(
            "{no_alert} {} without a must-alert test",
            rules(no_alert)
        ));
    }
    if no_quiet > 0 {
        parts.push(format!(
            "{no_quiet} {} without a must-not-alert test",
            rules(no_quiet)
        ));
    }
    let verdict = match gate {
        Gate::Error => "fails the run",
        _ => "reported only",
    };
    format!(
        "{} (gate: require_tests = {}, {verdict})",
        parts.join(", "),
        gate.name()
    )
}

/// Runs every rule test. Exit 0 when all pass, 1 on a failed test (or, with the
/// `require_tests` gate at `error`, a rule missing a must-alert / must-not-alert test), 2 on
/// usage or I/O errors. The summary line and the exit code come from one verdict.
pub fn run(args: &TestArgs) -> Exit {
    let gate = super::config::test_require_tests(args.require_tests).value;
    let deny = super::config::test_deny_warnings(args.deny_warnings).value;
    let common = args.format.common();
    let (fe, pack) = match super::load_pack(&args.paths, common, deny) {
        Ok(p) => p,
        Err(e) => return e,
    };
    // Fixtures are confined to the same pack roots as when the pack was checked.
    let loader = crate::load::FsLoader::for_paths(&super::default_paths(&args.paths));
    let outcomes = testing::run_pack(&pack, &loader);
    let gaps = match gate {
        Gate::Off => Vec::new(),
        Gate::Error | Gate::Warn => testing::coverage_gaps(&pack),
    };
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    let gate_failed = gate == Gate::Error && !gaps.is_empty();
    // One verdict, used for the summary and the exit code alike, so they cannot disagree.
    let ok = failed == 0 && !gate_failed;
    match args.format {
        super::check::CheckFormat::Sarif => {
            let diags = sarif_findings(&pack, &outcomes, &gaps, gate);
            let root = super::check::repo_root(&std::env::current_dir().unwrap_or_default());
            super::out(&(crate::diag::render_sarif(&diags, &fe.sources, &root) + "\n"));
        }
        super::check::CheckFormat::Json => {
            let doc = serde_json::json!({
                "tests": outcomes.iter().map(|o| serde_json::json!({
                    "rule": o.rule, "file": o.rule_file, "test": o.test, "passed": o.passed,
                    "message": o.message, "diff": if o.passed { String::new() } else { diff(o) },
                    "alerts": o.alerts.len(), "bad_lines": o.bad.len(),
                })).collect::<Vec<_>>(),
                "passed": outcomes.len() - failed,
                "failed": failed,
                "coverage": gate.name(),
                "require_tests": gate.name(),
                "coverage_gaps": gaps,
                "ok": ok,
            });
            super::out(&format!("{doc}\n"));
        }
        super::check::CheckFormat::Human => {
            let mut s = String::new();
            for o in &outcomes {
                if o.passed {
                    if !super::quiet() {
                        s.push_str(&format!("ok      {} :: {}\n", o.rule, o.test));
                    }
                } else {
                    // The diff's lines hold the fixture's values: shown as a terminal may
                    // show them (see `diag::shown`), line by line.
                    let d = diff(o);
                    let d: String = d
                        .split_inclusive('\n')
                        .map(|l| match l.strip_suffix('\n') {
                            Some(l) => format!("{}\n", shown(l)),
                            None => shown(l).into_owned(),
                        })
                        .collect();
                    s.push_str(&format!(
                        "FAILED  {} :: {} ({}): {}\n{d}",
                        o.rule,
                        o.test,
                        shown(&o.rule_file),
                        shown(&o.message),
                    ));
                }
                // The note belongs to its test's line: with --quiet, a passing test has none.
                if !o.bad.is_empty() && (!o.passed || !super::quiet()) {
                    s.push_str(&format!(
                        "        note: {} bad line(s) in the fixture, first {}:{}: {}\n",
                        o.bad.len(),
                        shown(&o.bad[0].file),
                        o.bad[0].line,
                        shown(&o.bad[0].reason)
                    ));
                }
            }
            for g in &gaps {
                s.push_str(&format!("missing test: {g}\n"));
            }
            let mut summary = format!(
                "{} test(s): {} passed, {failed} failed",
                outcomes.len(),
                outcomes.len() - failed
            );
            if !gaps.is_empty() {
                summary.push_str(&format!("; {}", gate_text(&gaps, gate)));
            }
            summary.push_str(if ok { ": ok" } else { ": FAILED" });
            if !super::quiet() {
                s.push_str(&summary);
                s.push('\n');
            }
            super::out(&s);
        }
    }
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(
            path,
            testing::junit(&outcomes, &diff, if gate_failed { &gaps } else { &[] }),
        ) {
            super::err(&format!("cannot write {}: {e}\n", path.display()));
            return Exit::Failure;
        }
    }
    if ok {
        Exit::Ok
    } else {
        Exit::Findings
    }
}

/// Failed tests (E0807, at the test) and coverage gaps (E0808, at the rule; a warning when the
/// gate only warns) as diagnostics, for SARIF.
fn sarif_findings(
    pack: &crate::ir::Pack,
    outcomes: &[TestOutcome],
    gaps: &[String],
    gate: Gate,
) -> Vec<crate::diag::Diagnostic> {
    use crate::diag::{Code, Diagnostic, Severity};
    let tests = pack.rules.iter().flat_map(|r| r.tests.iter());
    let mut out: Vec<Diagnostic> = outcomes
        .iter()
        .zip(tests)
        .filter(|(o, _)| !o.passed)
        .map(|(o, t)| {
            Diagnostic::new(
                Code::E0807,
                format!(
                    "test `{}` of rule `{}` failed: {}",
                    o.test, o.rule, o.message
                ),
            )
            .at(t.span.clone())
            .found(o.actual.trim_end().to_string())
            .expected(o.expected.trim_end().to_string())
        })
        .collect();
    for g in gaps {
        let name = g.split('`').nth(1).unwrap_or_default();
        let mut d = Diagnostic::new(Code::E0808, format!("{g} (gate: require_tests)")).hint(
            "add a test that must alert (`expect 1 alert`) and one that must not (`expect no alert`), or set defaults.test.require_tests in detc.yaml",
        );
        if let Some(r) = pack.rules.iter().find(|r| r.name == name) {
            d = d.at(r.span.clone());
        }
        if gate == Gate::Warn {
            d.severity = Severity::Warning;
        }
        out.push(d);
    }
    out
}
