use super::{Exit, Format};
use crate::eval::testing::{self, TestOutcome};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Rule files or folders. Default: rules/
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Also write a JUnit XML report to FILE.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Treat warnings as errors: report them as errors and exit 1 before running any test (for CI).
    #[arg(long)]
    pub deny_warnings: bool,
    /// The coverage gate: every rule needs a test that must alert and one that must not.
    /// `error` (default) fails the run (exit 1) on a gap, `warn` lists gaps and passes, `off`
    /// does not check.
    #[arg(long, value_enum, default_value_t)]
    pub coverage: Coverage,
}

/// What a coverage gap (a rule without a must-alert or a must-not-alert test) does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Coverage {
    /// A gap fails the run (exit 1).
    #[default]
    Error,
    /// Gaps are listed and counted; the run passes.
    Warn,
    /// Not checked.
    Off,
}

impl Coverage {
    fn name(self) -> &'static str {
        match self {
            Coverage::Error => "error",
            Coverage::Warn => "warn",
            Coverage::Off => "off",
        }
    }
}

/// Expected vs actual alerts as a unified line diff.
pub fn diff(o: &TestOutcome) -> String {
    similar::TextDiff::from_lines(&o.expected, &o.actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string()
}

/// Runs every rule test. Exit 0 when all pass, 1 on a failed test (or, with `--coverage error`,
/// a rule missing a must-alert / must-not-alert test), 2 on usage or I/O errors.
pub fn run(args: &TestArgs) -> Exit {
    let (_fe, pack) = match super::load_pack(&args.paths, args.format, args.deny_warnings) {
        Ok(p) => p,
        Err(e) => return e,
    };
    // Fixtures are confined to the same pack roots as when the pack was checked.
    let loader = crate::load::FsLoader::for_paths(&super::default_paths(&args.paths));
    let outcomes = testing::run_pack(&pack, &loader);
    let gaps = match args.coverage {
        Coverage::Off => Vec::new(),
        Coverage::Error | Coverage::Warn => testing::coverage_gaps(&pack),
    };
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    let gate_failed = args.coverage == Coverage::Error && !gaps.is_empty();
    // One verdict, used for the summary and the exit code alike, so they cannot disagree.
    let ok = failed == 0 && !gate_failed;
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "tests": outcomes.iter().map(|o| serde_json::json!({
                    "rule": o.rule, "file": o.rule_file, "test": o.test, "passed": o.passed,
                    "message": o.message, "diff": if o.passed { String::new() } else { diff(o) },
                    "alerts": o.alerts.len(), "bad_lines": o.bad.len(),
                })).collect::<Vec<_>>(),
                "passed": outcomes.len() - failed,
                "failed": failed,
                "coverage": args.coverage.name(),
                "coverage_gaps": gaps,
                "ok": ok,
            });
            super::out(&format!("{doc}\n"));
        }
        Format::Human => {
            let mut s = String::new();
            for o in &outcomes {
                if o.passed {
                    if !super::quiet() {
                        s.push_str(&format!("ok      {} :: {}\n", o.rule, o.test));
                    }
                } else {
                    s.push_str(&format!(
                        "FAILED  {} :: {} ({}): {}\n{}",
                        o.rule,
                        o.test,
                        o.rule_file,
                        o.message,
                        diff(o)
                    ));
                }
                if !o.bad.is_empty() {
                    s.push_str(&format!(
                        "        note: {} bad line(s) in the fixture, first {}:{}: {}\n",
                        o.bad.len(),
                        o.bad[0].file,
                        o.bad[0].line,
                        o.bad[0].reason
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
                let verdict = if gate_failed {
                    "coverage gate failed"
                } else {
                    "warning only"
                };
                summary.push_str(&format!(
                    "; {} coverage gap(s): {verdict} (--coverage {})",
                    gaps.len(),
                    args.coverage.name()
                ));
            }
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
