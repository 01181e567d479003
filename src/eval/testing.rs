//! The rule-test runner (`detc test`): each [`RuleTest`] of each rule, its events (a fixture
//! file relative to the rule file's folder, or inline JSON objects read through the input
//! schema) evaluated by the same engine as `detc run`, and the [`Expectation`] checked as the
//! IR documents it: `count` is the exact number of alerts; every listed alert must be matched by
//! a *distinct* actual alert (a maximum bipartite matching, so the order of listing does not
//! matter) whose group keys / aggregates (or, without aggregation, event fields) equal the
//! listed values with the IR's typed equality.

use super::run::{self, BadLine};
use super::{plain_json, Alert, Event};
use crate::ir::{Expectation, Pack, Rule, RuleTest, TestEvents, Value};
use crate::load::{Loader, PackFile};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    pub rule: String,
    pub rule_file: String,
    pub test: String,
    pub passed: bool,
    /// Why it failed, in one line (empty when passed).
    pub message: String,
    /// Expected and actual alerts rendered one per line, for a diff.
    pub expected: String,
    pub actual: String,
    pub alerts: Vec<Alert>,
    /// Bad lines met in the fixture (reported, not a failure by themselves).
    pub bad: Vec<BadLine>,
    /// Rows of the fixture that were not events of the rule's source.
    pub not_applicable: u64,
}

fn value_text(v: &Value) -> String {
    plain_json(v).to_string()
}

/// The value an expected key is compared with: a group key or aggregate, or (without
/// aggregation) an event field, which `engine` puts in `group`.
fn actual_value<'a>(a: &'a Alert, key: &str) -> Option<&'a Value> {
    a.group.get(key).or_else(|| a.aggregates.get(key))
}

fn satisfies(a: &Alert, want: &BTreeMap<String, Value>) -> bool {
    want.iter()
        .all(|(k, v)| actual_value(a, k).is_some_and(|got| got == v))
}

/// Maximum bipartite matching of expected alerts to actual alerts (Kuhn's algorithm).
/// Returns, per expected alert, the index of its actual alert.
fn matching(expected: &[BTreeMap<String, Value>], actual: &[Alert]) -> Vec<Option<usize>> {
    fn augment(
        e: usize,
        adj: &[Vec<usize>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for &a in &adj[e] {
            if seen[a] {
                continue;
            }
            seen[a] = true;
            if owner[a].is_none_or(|o| augment(o, adj, seen, owner)) {
                owner[a] = Some(e);
                return true;
            }
        }
        false
    }
    let adj: Vec<Vec<usize>> = expected
        .iter()
        .map(|w| {
            (0..actual.len())
                .filter(|&i| satisfies(&actual[i], w))
                .collect()
        })
        .collect();
    let mut owner: Vec<Option<usize>> = vec![None; actual.len()];
    for e in 0..expected.len() {
        let mut seen = vec![false; actual.len()];
        augment(e, &adj, &mut seen, &mut owner);
    }
    let mut out = vec![None; expected.len()];
    for (a, o) in owner.iter().enumerate() {
        if let Some(e) = o {
            out[*e] = Some(a);
        }
    }
    out
}

fn render(keys: &[&String], get: &dyn Fn(&str) -> Option<String>) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{k}: {}", get(k).unwrap_or_else(|| "(missing)".into())))
        .collect();
    format!("alert {{ {} }}", parts.join(", "))
}

/// Checks alerts against an expectation; returns (passed, message, expected text, actual text).
pub fn check(exp: &Expectation, alerts: &[Alert]) -> (bool, String, String, String) {
    let m = matching(&exp.alerts, alerts);
    let count_ok = exp.count.is_none_or(|n| n == alerts.len());
    let unmatched = m.iter().filter(|x| x.is_none()).count();
    let passed = count_ok && unmatched == 0;
    let mut keys: Vec<&String> = exp.alerts.iter().flat_map(|w| w.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut expected = String::new();
    let mut actual = String::new();
    if let Some(n) = exp.count {
        expected.push_str(&format!("{n} alert(s)\n"));
    }
    actual.push_str(&format!("{} alert(s)\n", alerts.len()));
    let mut used = vec![false; alerts.len()];
    for (w, hit) in exp.alerts.iter().zip(&m) {
        let wk: Vec<&String> = w.keys().collect();
        expected.push_str(&render(&wk, &|k| w.get(k).map(value_text)));
        expected.push('\n');
        if let Some(i) = hit {
            used[*i] = true;
            let a = &alerts[*i];
            actual.push_str(&render(&wk, &|k| actual_value(a, k).map(value_text)));
            actual.push('\n');
        }
    }
    for (a, u) in alerts.iter().zip(&used) {
        if *u {
            continue;
        }
        let own: Vec<&String> = if keys.is_empty() {
            a.group.keys().chain(a.aggregates.keys()).collect()
        } else {
            keys.clone()
        };
        actual.push_str(&render(&own, &|k| actual_value(a, k).map(value_text)));
        actual.push('\n');
    }
    let message = if passed {
        String::new()
    } else if !count_ok {
        format!(
            "expected {} alert(s), got {}",
            exp.count.unwrap_or_default(),
            alerts.len()
        )
    } else {
        format!("{unmatched} expected alert(s) not matched by any actual alert")
    };
    (passed, message, expected, actual)
}

/// A test's events: the events, the bad lines, the rows not applicable. A test must see at
/// least one event of its rule's source: otherwise every expectation of silence would pass
/// vacuously (a fixture of malformed lines, of another event type, or of another source).
///
/// A fixture is opened through `loader`, which confines it as the checker did (a file-system
/// loader: inside the pack root, a regular file, under its cap); the file may have changed since.
pub fn events_of(
    rule: &Rule,
    t: &RuleTest,
    loader: &dyn Loader,
) -> Result<(Vec<Event>, Vec<BadLine>, u64), String> {
    let (evs, bad, na, rows, sources) = match &t.events {
        TestEvents::File(p) => {
            let dir = Path::new(&rule.span.path).parent().unwrap_or(Path::new(""));
            let path = dir.join(p);
            let shown = path.to_string_lossy().replace('\\', "/");
            let raw = loader
                .open_fixture(&path)
                .map_err(|e| cannot_read(&e.diagnostic(PackFile::Fixture, &shown)))?;
            let (evs, sum, sources) =
                run::read_events_from(&path, raw, t.schema.as_deref(), &[rule.source])
                    .map_err(|d| cannot_read(&d))?;
            (evs, sum.bad, sum.not_applicable, sum.rows, sources)
        }
        TestEvents::Inline(objs) => {
            let origin = format!("{} (test `{}`)", rule.span.path, t.name);
            let (evs, source) =
                run::map_inline_of(objs, t.schema.as_deref(), &origin, &[rule.source])
                    .map_err(|d| cannot_read(&d))?;
            let na = (objs.len() - evs.len()) as u64;
            (
                evs,
                Vec::new(),
                na,
                objs.len() as u64,
                source.into_iter().collect(),
            )
        }
    };
    if evs.is_empty() || !sources.contains(&rule.source) {
        let read_as = match sources.as_slice() {
            [] => String::new(),
            s => format!(
                ", read as {}",
                s.iter().map(|x| x.name()).collect::<Vec<_>>().join(", ")
            ),
        };
        return Err(format!(
            "the test's events hold no event of source {} ({rows} row(s): {} event(s){read_as}, {na} not applicable, {} bad line(s){}): a test without events of its source proves nothing",
            rule.source.name(),
            evs.len(),
            bad.len(),
            bad.first()
                .map(|b| format!("; first {}:{}: {}", b.file, b.line, b.reason))
                .unwrap_or_default()
        ));
    }
    Ok((evs, bad, na))
}

fn cannot_read(d: &crate::diag::Diagnostic) -> String {
    format!("cannot read the test's events: {}", render_diag(d))
}

fn render_diag(d: &crate::diag::Diagnostic) -> String {
    let mut s = d.message.clone();
    if let Some(f) = &d.found {
        s.push_str(&format!(" (found {f})"));
    }
    if let Some(e) = &d.expected {
        s.push_str(&format!(" (expected {e})"));
    }
    s
}

/// Runs one test of one rule.
pub fn run_test(rule: &Rule, t: &RuleTest, loader: &dyn Loader) -> TestOutcome {
    let mut o = TestOutcome {
        rule: rule.name.clone(),
        rule_file: rule.span.path.to_string(),
        test: t.name.clone(),
        passed: false,
        message: String::new(),
        expected: String::new(),
        actual: String::new(),
        alerts: Vec::new(),
        bad: Vec::new(),
        not_applicable: 0,
    };
    if rule.correlation.is_some() {
        return run_correlation_test(rule, t, loader, o);
    }
    let (events, bad, na) = match events_of(rule, t, loader) {
        Ok(x) => x,
        Err(e) => {
            o.message = e;
            return o;
        }
    };
    o.bad = bad;
    o.not_applicable = na;
    match super::try_evaluate(rule, events) {
        Ok(alerts) => {
            let (passed, message, expected, actual) = check(&t.expect, &alerts);
            o.passed = passed;
            o.message = message;
            o.expected = expected;
            o.actual = actual;
            o.alerts = alerts;
        }
        Err(d) => o.message = render_diag(&d),
    }
    o
}

/// A correlation's test: the events are read once, each row through the schema of every step's
/// source (`run::read_sources_from`; inline events as lines of a JSON-lines file), and must
/// hold events of every step's source; a test missing one proves nothing about the match.
fn run_correlation_test(
    rule: &Rule,
    t: &RuleTest,
    loader: &dyn Loader,
    mut o: TestOutcome,
) -> TestOutcome {
    use super::correlate;
    let sources = match correlate::Correlator::new(rule, run::DEFAULT_LATENESS) {
        Ok(c) => c.sources(),
        Err(d) => {
            o.message = render_diag(&d);
            return o;
        }
    };
    let mut events = Vec::new();
    let read = match &t.events {
        TestEvents::File(p) => {
            let dir = Path::new(&rule.span.path).parent().unwrap_or(Path::new(""));
            let path = dir.join(p);
            let shown = path.to_string_lossy().replace('\\', "/");
            match loader.open_fixture(&path) {
                Ok(raw) => {
                    run::read_sources_from(&path, raw, &sources, &mut |s, e| events.push((s, e)))
                }
                Err(e) => Err(e.diagnostic(PackFile::Fixture, &shown)),
            }
        }
        TestEvents::Inline(objs) => {
            let mut text = String::new();
            for ob in objs {
                text.push_str(&serde_json::Value::Object(ob.clone()).to_string());
                text.push('\n');
            }
            let origin = format!("{} (test `{}`)", rule.span.path, t.name);
            run::read_sources_from(
                Path::new(&origin),
                Box::new(std::io::Cursor::new(text.into_bytes())),
                &sources,
                &mut |s, e| events.push((s, e)),
            )
        }
    };
    let summary = match read {
        Ok(s) => s,
        Err(d) => {
            o.message = cannot_read(&d);
            return o;
        }
    };
    o.bad = summary.bad;
    o.not_applicable = summary.not_applicable;
    if let Some(s) = sources
        .iter()
        .find(|s| !events.iter().any(|(x, _)| x == *s))
    {
        o.message = format!(
            "the test's events hold no event of source {} ({} row(s): {} event(s), {} not applicable, {} bad line(s)): a correlation's test needs events of every step's source",
            s.name(),
            summary.rows,
            events.len(),
            summary.not_applicable,
            summary.bad_lines,
        );
        return o;
    }
    match correlate::evaluate(rule, events, run::DEFAULT_LATENESS) {
        Ok(alerts) => {
            let (passed, message, expected, actual) = check(&t.expect, &alerts);
            o.passed = passed;
            o.message = message;
            o.expected = expected;
            o.actual = actual;
            o.alerts = alerts;
        }
        Err(d) => o.message = render_diag(&d),
    }
    o
}

/// Runs every test of every rule of the pack, in pack order.
pub fn run_pack(pack: &Pack, loader: &dyn Loader) -> Vec<TestOutcome> {
    pack.rules
        .iter()
        .flat_map(|r| r.tests.iter().map(move |t| run_test(r, t, loader)))
        .collect()
}

/// Rules of the pack that lack a test that must alert or a test that must not
/// (`detc test` reports them: every rule needs both).
pub fn coverage_gaps(pack: &Pack) -> Vec<String> {
    let mut out = Vec::new();
    for r in &pack.rules {
        let alerts = r
            .tests
            .iter()
            .any(|t| t.expect.count.is_some_and(|n| n > 0) || !t.expect.alerts.is_empty());
        let quiet = r.tests.iter().any(|t| t.expect.count == Some(0));
        if !alerts {
            out.push(format!("rule `{}` has no test that must alert", r.name));
        }
        if !quiet {
            out.push(format!("rule `{}` has no test that must not alert", r.name));
        }
    }
    out
}

/// Escapes text for XML 1.0 content and attributes; characters XML 1.0 cannot carry (most
/// control characters) become U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// A JUnit XML report: one testsuite, one testcase per rule test (classname = rule name).
///
/// `gate_failures`: the coverage gaps that fail the run (`detc test --coverage error`); when
/// there are any they are one more failed test case, `detc` :: `coverage gate`, so the report
/// agrees with the exit code.
pub fn junit(
    outcomes: &[TestOutcome],
    diff_of: &dyn Fn(&TestOutcome) -> String,
    gate_failures: &[String],
) -> String {
    let gate = usize::from(!gate_failures.is_empty());
    let tests = outcomes.len() + gate;
    let failures = outcomes.iter().filter(|o| !o.passed).count() + gate;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites tests=\"{tests}\" failures=\"{failures}\">\n  <testsuite name=\"detc\" tests=\"{tests}\" failures=\"{failures}\">\n",
    ));
    for o in outcomes {
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
            xml_escape(&o.rule),
            xml_escape(&o.test),
            xml_escape(&o.rule_file)
        ));
        if o.passed {
            x.push_str("/>\n");
        } else {
            x.push_str(&format!(
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                xml_escape(&o.message),
                xml_escape(&diff_of(o))
            ));
        }
    }
    if gate == 1 {
        x.push_str(&format!(
            "    <testcase classname=\"detc\" name=\"coverage gate\">\n      <failure message=\"{} coverage gap(s)\">{}</failure>\n    </testcase>\n",
            gate_failures.len(),
            xml_escape(&(gate_failures.join("\n") + "\n"))
        ));
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
