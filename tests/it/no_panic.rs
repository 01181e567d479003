//! No input makes the frontend panic. Every rule file of rules/ and tests/errors/ is truncated
//! at character boundaries (every one in the long run, every 4th in the default run), then mutated many times over by a fixed-seed xorshift generator
//! (truncations, deleted / duplicated / swapped spans, tokens of the language, random Unicode and
//! bytes, deep nesting), and each result goes through `detc::frontend_with` and the human
//! renderer under `catch_unwind`. A panic fails the test with the input written to
//! target/tmp/no_panic/ for reproduction (`detc check target/tmp/no_panic/case0.detc`).
//!
//! Cases: `DETC_FUZZ_CASES` (default 20,000: about 30 s of CPU in a debug build).
//! The long run, on 2026-11-26 at commit 3bf22ed, 2 cores shared with three other jobs:
//!   `DETC_FUZZ_CASES=1000000 cargo test --release --test it -- no_panic:: --nocapture`
//!   -> 1,000,000 mutated cases in 137 s and 13,397 truncations, 0 panics; 9 min wall for the
//!   whole command, of which 6 min 44 s was the release build. 48,401 of the cases still
//!   checked into a pack; every code of the frontend (E0100..E0106, E0200..E0265, W0236) was
//!   produced.
//! Three earlier long runs (at a73b39e, fd6d607 and 4e89e69) were clean too.
//!
//! Event readers too (`mutated_event_files_never_panic`): the pack's fixtures (JSON lines, CSV,
//! Zeek TSV and JSON) and a few hostile seeds (concatenated Zeek logs, multi-line CSV cells,
//! epoch units), mutated byte-wise (invalid UTF-8, stray quotes and separators, `#fields`
//! headers, endless lines against a small `--max-line`, NULs), sometimes gzipped or with a
//! truncated gzip stream, through `run_files` (threads, prefilter, strict, caps varied) and
//! `read_events`. Beyond not panicking (in any worker thread), every row must be accounted for
//! (rows = events + not applicable + bad + prefiltered) and the thread count must not change
//! the result. Cases: `DETC_FUZZ_EVENT_CASES` (default 500).
//! The long run, on 2026-12-02 at commit c926e05, 2 cores shared with other builds:
//!   `DETC_FUZZ_EVENT_CASES=150000 cargo test --release --test it -- no_panic::mutated_event --nocapture`
//!   -> 150,000 mutated event files (25,203 gzipped) in 321 s: 1,122,895 rows, 504,650 bad
//!   lines, 48,882 file errors (binary, undetectable, bad gzip...), 0 panics, every row
//!   accounted for, 1 and 3 threads agreeing on every sampled case.
//!
//! Stack overflows are not panics (they abort the process); the nesting mutations exist to make
//! one show up here as a crashed test run rather than in a user's terminal.

use detc::load::Loader;
use detc::SourceFile;
use std::collections::BTreeMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// xorshift64*: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// List files and fixtures from memory: the frontend reads the same auxiliary files for every
/// case without touching the disk. `overlay` replaces one list file with a mutated text.
#[derive(Clone)]
struct MemLoader {
    files: std::rc::Rc<BTreeMap<PathBuf, String>>,
    overlay: Option<(PathBuf, String)>,
}

impl Loader for MemLoader {
    fn read(&self, path: &Path) -> io::Result<String> {
        if let Some((p, text)) = &self.overlay {
            if p == path {
                return Ok(text.clone());
            }
        }
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not in the test loader"))
    }
    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| unreachable!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out);
        } else {
            out.push(e);
        }
    }
}

/// The seed rule files, and every other text file beside them for the loader.
fn corpus() -> (Vec<SourceFile>, MemLoader) {
    let mut paths = Vec::new();
    walk(Path::new("rules"), &mut paths);
    walk(Path::new("tests/errors"), &mut paths);
    let mut seeds = Vec::new();
    let mut files = BTreeMap::new();
    for p in paths {
        let path = p.to_string_lossy().replace('\\', "/");
        if p.extension().is_some_and(|x| x == "detc") {
            if let Ok(text) = std::fs::read_to_string(&p) {
                seeds.push(SourceFile { path, text });
            }
        } else if p.extension().is_some_and(|x| x == "txt") {
            // List files: their text matters.
            if let Ok(text) = std::fs::read_to_string(&p) {
                files.insert(p, text);
            }
        } else {
            // Fixtures: only their existence is checked.
            files.insert(p, String::new());
        }
    }
    assert!(seeds.len() > 50, "too few seed files: {}", seeds.len());
    assert!(
        files
            .keys()
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .count()
            >= 3
    );
    (
        seeds,
        MemLoader {
            files: std::rc::Rc::new(files),
            overlay: None,
        },
    )
}

/// Every quoted literal of grammar/detc.pest (keywords, operators, punctuation, units).
fn grammar_literals() -> Vec<String> {
    let g = include_str!("../../grammar/detc.pest");
    let mut out: Vec<String> = Vec::new();
    for line in g.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(a) = rest.find('"') {
            let Some(b) = rest[a + 1..].find('"') else {
                break;
            };
            let lit = &rest[a + 1..a + 1 + b];
            if !lit.is_empty() && !lit.contains('\\') && !out.iter().any(|x| x == lit) {
                out.push(lit.to_string());
            }
            rest = &rest[a + 2 + b..];
        }
    }
    assert!(out.len() > 60, "grammar literals not found: {out:?}");
    out
}

/// Tokens of the language, good and bad, beyond the grammar's literals: values of every shape,
/// field and list names, broken literals, so mutations reach deep into the checker.
const VOCAB: &[&str] = &[
    "rule",
    "list",
    "file(",
    "id",
    "title",
    "severity",
    "status",
    "confidence",
    "attack",
    "date",
    "references",
    "falsepositives",
    "tags",
    "source",
    "where",
    "let",
    "case",
    "else",
    "window",
    "group",
    "by",
    "aggregate",
    "having",
    "test",
    "events",
    "schema",
    "expect",
    "no",
    "alert",
    "alerts",
    "and",
    "or",
    "not",
    "in",
    "in~",
    "is",
    "exists",
    "missing",
    "startswith",
    "endswith~",
    "contains",
    "matches~",
    "==",
    "=~",
    "!=",
    "!~",
    "<",
    "<=",
    ">",
    ">=",
    "=>",
    "=",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    ".",
    "\"",
    "'",
    "\\",
    "\\u{",
    "\\u{110000}",
    "\\u{}",
    "//",
    "/*",
    "*/",
    "\n",
    " ",
    "\t",
    "\r\n",
    "remote.port",
    "remote.ip",
    "host",
    "process.name",
    "bytes.sent",
    "time",
    "dst.ip",
    "network_connection",
    "network_flow",
    "private",
    "public",
    "loopback",
    "link_local",
    "count()",
    "distinct(",
    "sum(",
    "min(",
    "max(",
    "25",
    "0",
    "-1",
    "65536",
    "99999999999999999999",
    "-9223372036854775808",
    "50MB",
    "50MiB",
    "18446744073709551615TiB",
    "1h",
    "0s",
    "400d",
    "99999999999999999999w",
    "10.0.0.0/8",
    "10.1.2.3/8",
    "10.0.0.0/33",
    "1.2.3.4",
    "300.1.1.1",
    "::1",
    "fe80::/10",
    "::/129",
    "1:2:3:4:5:6:7:8:9",
    "::ffff:1.2.3.4",
    "1.2.3.4.5",
    "\"x\"",
    "''",
    "\"\"",
    "'C:\\x'",
    "\"2026-11-24\"",
    "\"2026-02-30\"",
    "\"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d41\"",
    "T1071.003",
    "AN0379",
    "TA0011",
    "sysmon",
    "zeek-conn",
    "[{\"a\": 1}]",
    "[{\"a\": \"\\q\"}]",
    "[{\"a\": 1e999}]",
    "[{\"a\": \"\\ud800\"}]",
    "{\"k\": [[[[]]]]}",
    "{ host: \"x\" }",
    "'(a|'",
    "'\\p{Greek}'",
    "'a{99999}{99999}'",
    "high",
    "critical",
];

const UNICODE: &[char] = &[
    'é',
    'ß',
    '€',
    'ł',
    '中',
    '𝄞',
    '😀',
    '\u{0}',
    '\u{7f}',
    '\u{85}',
    '\u{a0}',
    '\u{200b}',
    '\u{202e}',
    '\u{2028}',
    '\u{feff}',
    '\u{fffd}',
    '\u{301}',
    '\u{10ffff}',
    '\t',
    '\r',
];

/// The byte offsets of char boundaries of `s`, including its end.
fn boundaries(s: &str) -> Vec<usize> {
    s.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect()
}

/// A span `a..b` on char boundaries.
fn span(rng: &mut Rng, s: &str) -> (usize, usize) {
    let b = boundaries(s);
    let i = rng.below(b.len());
    let max_len = [1, 4, 16, 64, 512][rng.below(5)];
    let j = (i + 1 + rng.below(max_len)).min(b.len() - 1);
    (b[i], b[j.max(i)])
}

thread_local! {
    static GRAMMAR: std::rc::Rc<Vec<String>> = std::rc::Rc::new(grammar_literals());
}

fn mutate(rng: &mut Rng, s: &mut String) {
    let b = boundaries(s);
    let at = b[rng.below(b.len())];
    match rng.below(10) {
        0 => s.truncate(at),
        1 => {
            let (x, y) = span(rng, s);
            s.replace_range(x..y, "");
        }
        2 => {
            let (x, y) = span(rng, s);
            let piece = s[x..y].to_string();
            let b = boundaries(s);
            let to = b[rng.below(b.len())];
            s.insert_str(to, &piece);
        }
        3 => {
            // Swap two non-overlapping spans.
            let (x1, y1) = span(rng, s);
            let (x2, y2) = span(rng, s);
            let ((a1, b1), (a2, b2)) = if x1 <= x2 {
                ((x1, y1), (x2, y2))
            } else {
                ((x2, y2), (x1, y1))
            };
            if b1 <= a2 {
                let first = s[a1..b1].to_string();
                let second = s[a2..b2].to_string();
                s.replace_range(a2..b2, &first);
                s.replace_range(a1..b1, &second);
            }
        }
        4 | 5 => {
            let grammar = GRAMMAR.with(|g| g.clone());
            let tok: &str = if rng.below(2) == 0 {
                rng.pick(&grammar).as_str()
            } else {
                VOCAB[rng.below(VOCAB.len())]
            };
            let sep = *rng.pick(&["", " ", "\n"]);
            s.insert_str(at, &format!("{sep}{tok}{sep}"));
        }
        6 => {
            let c = *rng.pick(UNICODE);
            s.insert(at, c);
        }
        7 => {
            // Random bytes, made valid UTF-8 the way a careless editor would.
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            s.insert_str(at, &String::from_utf8_lossy(&bytes));
        }
        8 => {
            // Deep nesting: many parentheses, `not`s, brackets or JSON levels.
            let unit = *rng.pick(&["(", "not ", "[", "{", "[{\"a\":", "(not "]);
            let n = [10, 33, 100, 1000, 5000][rng.below(5)];
            s.insert_str(at, &unit.repeat(n));
        }
        _ => {
            // Replace one character with a random one from the vocabulary of characters.
            if at < s.len() {
                let c = s[at..].chars().next().map_or(1, char::len_utf8);
                let with =
                    *rng.pick(&["\"", "'", "{", "}", "(", ")", "~", "=", "\\", "#", "0", "é"]);
                s.replace_range(at..at + c, with);
            }
        }
    }
}

/// Runs the frontend and the renderer; returns the panic message if one panicked. Also checks
/// that every diagnostic on a given file lies inside it (a bad span would panic the renderer or
/// point at nothing).
fn run(
    files: &[SourceFile],
    loader: &MemLoader,
    codes: &mut BTreeMap<&'static str, usize>,
) -> Result<(), String> {
    QUIET.with(|q| q.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| {
        let fe = detc::frontend_with(files, loader);
        for d in &fe.diagnostics {
            *codes.entry(d.code.as_str()).or_default() += 1;
        }
        if fe.pack.is_some() {
            *codes.entry("(pack)").or_default() += 1;
        }
        for d in &fe.diagnostics {
            let _ = detc::diag::render_human(d, &fe.sources);
            if let Some(s) = &d.span {
                if let Some(f) = files.iter().find(|f| f.path == s.path) {
                    assert!(
                        s.start <= s.end
                            && s.end <= f.text.len()
                            && f.text.is_char_boundary(s.start)
                            && f.text.is_char_boundary(s.end),
                        "{} has a span {}..{} outside its file (len {})",
                        d.code,
                        s.start,
                        s.end,
                        f.text.len()
                    );
                    assert!(s.line >= 1 && s.col >= 1, "{} at line 0", d.code);
                }
            }
        }
        let _ = detc::diag::render_json(&fe.diagnostics);
        if fe.pack.is_none() {
            assert!(
                fe.diagnostics.iter().any(|d| d.is_error()),
                "no pack and no error"
            );
        }
    }));
    QUIET.with(|q| q.set(false));
    result.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

fn fail(files: &[SourceFile], why: &str) -> ! {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no_panic");
    let _ = std::fs::create_dir_all(&dir);
    let mut written = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let p = dir.join(format!("case{i}.detc"));
        let _ = std::fs::write(&p, &f.text);
        written.push(p.display().to_string());
    }
    unreachable!(
        "the frontend panicked: {why}\ninput (from {}) written to {}",
        files[0].path,
        written.join(", ")
    )
}

thread_local! {
    /// Set while a case runs: its panics are caught and reported by `fail`, not printed.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that keeps quiet inside a case and prints as usual elsewhere.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                default(info);
            }
        }));
    });
}

fn fuzz_cases() -> usize {
    std::env::var("DETC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn long_run() -> bool {
    fuzz_cases() >= 100_000
}

#[test]
fn every_truncation_of_every_rule_file_is_handled() {
    let (seeds, loader) = corpus();
    quiet_panics();
    let mut cases = 0;
    for seed in &seeds {
        // Every char boundary of the pack's rule files, every 7th of the corpus files (they are
        // many and alike). The default (debug, CI) run takes every 4th of those; the long run
        // (DETC_FUZZ_CASES >= 100000) all of them.
        let base = if seed.path.starts_with("rules/") {
            1
        } else {
            7
        };
        let step = if long_run() { base } else { base * 4 };
        for (k, cut) in boundaries(&seed.text).into_iter().enumerate() {
            if k % step != 0 {
                continue;
            }
            let f = [SourceFile {
                path: seed.path.clone(),
                text: seed.text[..cut].to_string(),
            }];
            cases += 1;
            if let Err(why) = run(&f, &loader, &mut BTreeMap::new()) {
                fail(&f, &why);
            }
        }
    }
    eprintln!("{cases} truncations without a panic");
    assert!(cases > 3_000, "only {cases} truncations");
}

#[test]
fn mutated_rule_files_never_panic() {
    let n = fuzz_cases();
    let (seeds, loader) = corpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    quiet_panics();
    let start = std::time::Instant::now();
    let mut codes = BTreeMap::new();
    for _ in 0..n {
        let seed = rng.pick(&seeds);
        let mut text = seed.text.clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut text);
        }
        let mut files = vec![SourceFile {
            path: seed.path.clone(),
            text,
        }];
        // Sometimes beside an intact file, so cross-file checks (duplicates, lists) run too.
        if rng.below(8) == 0 {
            let other = rng.pick(&seeds);
            if other.path != seed.path {
                files.push(other.clone());
            }
        }
        // Sometimes with a mutated list file.
        let mut case_loader = loader.clone();
        if rng.below(8) == 0 {
            let lists: Vec<&PathBuf> = loader
                .files
                .keys()
                .filter(|p| p.extension().is_some_and(|x| x == "txt"))
                .collect();
            let p = (*rng.pick(&lists)).clone();
            let mut text = loader.files.get(&p).cloned().unwrap_or_default();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut text);
            }
            case_loader.overlay = Some((p, text));
        }
        // Now and then, the same input twice must give the same output byte for byte.
        if rng.below(16) == 0 {
            let render = || {
                let fe = detc::frontend_with(&files, &case_loader);
                fe.diagnostics
                    .iter()
                    .map(|d| detc::diag::render_human(d, &fe.sources))
                    .collect::<String>()
            };
            let (a, b) = (
                catch_unwind(AssertUnwindSafe(render)).unwrap_or_default(),
                catch_unwind(AssertUnwindSafe(render)).unwrap_or_default(),
            );
            if a != b {
                fail(
                    &files,
                    "two runs on the same input gave different diagnostics",
                );
            }
        }
        if let Err(why) = run(&files, &case_loader, &mut codes) {
            if let Some((p, text)) = &case_loader.overlay {
                files.push(SourceFile {
                    path: format!("(list file {})", p.display()),
                    text: text.clone(),
                });
            }
            fail(&files, &why);
        }
    }
    eprintln!(
        "{n} mutated cases without a panic in {:.1}s; diagnostics by code: {codes:?}",
        start.elapsed().as_secs_f64()
    );
    // The mutations must reach past the parser: into literals, the checker and valid packs.
    if n >= 10_000 {
        let reached = codes.keys().filter(|c| c.starts_with("E02")).count();
        assert!(
            reached >= 20 && codes.contains_key("(pack)") && codes.contains_key("E0104"),
            "the mutations stay shallow: {codes:?}"
        );
    }
}

/// `DETC_FUZZ_EVENT_CASES`, default 500 (each case runs the whole pack over a file twice or
/// three times: about 15 s in a debug build).
fn event_cases() -> usize {
    std::env::var("DETC_FUZZ_EVENT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Seeds for the event readers: the head of each fixture, and hostile shapes.
fn event_seeds() -> Vec<(String, Vec<u8>)> {
    let mut paths = Vec::new();
    walk(Path::new("rules/fixtures"), &mut paths);
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for p in paths {
        let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
        if !matches!(ext, "jsonl" | "csv" | "log") {
            continue;
        }
        if let Ok(text) = std::fs::read(&p) {
            // The first 40 lines: headers and enough rows, small enough to mutate fast.
            let end = text
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .nth(40)
                .map_or(text.len(), |(i, _)| i + 1);
            seeds.push((ext.to_string(), text[..end].to_vec()));
        }
    }
    let zeek = "#separator \\x09\n#path\tconn\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tduration\n\
1795168800.1\t10.0.0.4\t50000\t203.0.113.9\t25\ttcp\t5000\t1.5\n#close\tx\n\
#separator \\x09\n#path\tsmtp\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmailfrom\n\
1795168801.5\tC1\t10.0.0.5\t50001\t203.0.113.9\t25\ta@b.c\n";
    seeds.push(("log".into(), zeek.as_bytes().to_vec()));
    let csv = "Timestamp,DeviceName,ActionType,RemotePort,RemoteIP,InitiatingProcessFileName\n\
2026-11-20T10:00:00Z,d,ConnectionSuccess,25,203.0.113.9,\"a,\nb.exe\"\n\
2026-11-20T10:00:01Z,d,ConnectionSuccess,25.5,203.0.113.9,\"x\"\"y.exe\"\n";
    seeds.push(("csv".into(), csv.as_bytes().to_vec()));
    let json = "{\"ts\":1588205198899,\"id.orig_h\":\"10.0.0.4\",\"id.resp_h\":\"203.0.113.9\",\"id.resp_p\":25,\"proto\":\"tcp\"}\n\
{\"EventID\":3,\"UtcTime\":\"2026-11-20 10:00:00\",\"Image\":\"a.exe\",\"DestinationPort\":25,\"DestinationPort\":80}\n";
    seeds.push(("jsonl".into(), json.as_bytes().to_vec()));
    assert!(seeds.len() >= 15, "too few event seeds: {}", seeds.len());
    seeds
}

const EVENT_TOKENS: &[&str] = &[
    "\"",
    ",",
    "\t",
    "\n",
    "\r\n",
    "#",
    "{",
    "}",
    "[",
    "]",
    ":",
    "\\",
    "\\x09",
    "\\u0000",
    "#fields\tts\tid.resp_p\tid.orig_h\tid.resp_h\tproto\n",
    "#separator ,\n",
    "#path\tsmtp\n",
    "#unset_field\t\n",
    "-",
    "(empty)",
    "25.5",
    "25.999",
    "1e400",
    "-0",
    "0x19",
    "70000",
    "99999999999999999999",
    "1588205198899",
    "1588205198899712345",
    "null",
    "true",
    "\"\"",
    "\u{feff}",
    "\"DestinationPort\":",
    "\"ts\":",
    "\"EventID\":3,",
    "NaN",
    "2026-02-30 10:00:00",
];

fn mutate_bytes(rng: &mut Rng, s: &mut Vec<u8>) {
    let at = rng.below(s.len() + 1);
    let span = |rng: &mut Rng, len: usize| {
        let i = rng.below(len + 1);
        let max = [1, 8, 64, 512][rng.below(4)];
        let j = (i + 1 + rng.below(max)).min(len);
        (i, j.max(i))
    };
    match rng.below(10) {
        0 => s.truncate(at),
        1 => {
            let (x, y) = span(rng, s.len());
            s.drain(x..y);
        }
        2 => {
            let (x, y) = span(rng, s.len());
            let piece = s[x..y].to_vec();
            let to = rng.below(s.len() + 1);
            s.splice(to..to, piece);
        }
        3 => {
            // A whole line copied elsewhere (a header in the middle, a row twice).
            let starts: Vec<usize> = std::iter::once(0)
                .chain(
                    s.iter()
                        .enumerate()
                        .filter(|(_, b)| **b == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .filter(|i| *i < s.len())
                .collect();
            if !starts.is_empty() {
                let a = *rng.pick(&starts);
                let e = s[a..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(s.len(), |i| a + i + 1);
                let line = s[a..e].to_vec();
                let to = *rng.pick(&starts);
                s.splice(to..to, line);
            }
        }
        4 | 5 => {
            let tok = rng.pick(EVENT_TOKENS).as_bytes().to_vec();
            s.splice(at..at, tok);
        }
        6 => {
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            s.splice(at..at, bytes);
        }
        7 => {
            // An endless line (against a small --max-line) or many lines.
            let units: [&[u8]; 6] = [b"A", b"\"", b"\n", b",", b"\t", b"{\"a\":"];
            let unit = *rng.pick(&units);
            let n = [100, 1_000, 5_000, 70_000][rng.below(4)];
            s.splice(at..at, unit.repeat(n));
        }
        _ => {
            if at < s.len() {
                s[at] = *rng.pick(b"\",\t\n#{}:\\.-\r5");
            }
        }
    }
}

/// A panic anywhere (a worker thread included) while an event case runs.
static EVENT_PANIC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn event_fail(bytes: &[u8], name: &str, why: &str) -> ! {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no_panic");
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join(format!("event_case_{name}"));
    let _ = std::fs::write(&p, bytes);
    unreachable!(
        "an event reader failed: {why}\ninput written to {}",
        p.display()
    )
}

#[test]
fn mutated_event_files_never_panic() {
    use detc::eval::run::{read_events, run_files, RunOptions, DEFAULT_MAX_LINE};
    use std::sync::atomic::Ordering;
    let n = event_cases();
    let seeds = event_seeds();
    let files = detc::load::load_sources(&[PathBuf::from("rules")]).unwrap_or_default();
    let Some(pack) = detc::frontend(&files).pack else {
        unreachable!("the pack does not check")
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("no_panic_events_{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    {
        static HOOK: std::sync::Once = std::sync::Once::new();
        quiet_panics();
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                EVENT_PANIC.store(true, Ordering::SeqCst);
                prev(info);
            }));
        });
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let start = std::time::Instant::now();
    let (mut rows, mut bad, mut errors, mut gz_cases) = (0u64, 0u64, 0usize, 0usize);
    for case in 0..n {
        let (ext, seed) = rng.pick(&seeds);
        let mut bytes = seed.clone();
        for _ in 0..1 + rng.below(4) {
            mutate_bytes(&mut rng, &mut bytes);
        }
        let mut name = format!("{case}.{ext}");
        let mut on_disk = bytes.clone();
        if rng.below(6) == 0 {
            gz_cases += 1;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = std::io::Write::write_all(&mut gz, &bytes);
            on_disk = gz.finish().unwrap_or_default();
            if rng.below(4) == 0 {
                let cut = rng.below(on_disk.len() + 1);
                on_disk.truncate(cut);
            }
            name.push_str(".gz");
        }
        let p = dir.join(&name);
        if std::fs::write(&p, &on_disk).is_err() {
            continue;
        }
        let opts = RunOptions {
            max_line: *rng.pick(&[64, 1024, 65_536, DEFAULT_MAX_LINE]),
            threads: 1 + rng.below(2),
            prefilter: rng.below(2) == 0,
            strict: rng.below(10) == 0,
            schema: (rng.below(8) == 0).then(|| rng.pick(detc::registry::INPUT_NAMES).to_string()),
            ..RunOptions::default()
        };
        let ran = catch_unwind(AssertUnwindSafe(|| {
            let out = run_files(&pack.rules, std::slice::from_ref(&p), &opts);
            let events = read_events(&p, opts.schema.as_deref());
            (out, events)
        }));
        if EVENT_PANIC.load(Ordering::SeqCst) || ran.is_err() {
            event_fail(&on_disk, &name, "a panic");
        }
        let Ok((out, events)) = ran else {
            unreachable!()
        };
        match &out {
            Ok(o) => {
                let s = &o.summary;
                rows += s.rows;
                bad += s.bad_lines;
                if s.rows != s.events + s.not_applicable + s.bad_lines + s.prefiltered {
                    event_fail(&on_disk, &name, &format!("rows not accounted for: {s:?}"));
                }
            }
            Err(d) => {
                errors += 1;
                if d.code == "E0803" {
                    event_fail(&on_disk, &name, "an evaluator thread failed");
                }
            }
        }
        if let Ok((_, s)) = &events {
            if s.rows != s.events + s.not_applicable + s.bad_lines {
                event_fail(&on_disk, &name, &format!("read_events lost rows: {s:?}"));
            }
        }
        // The thread count never changes the result.
        if rng.below(8) == 0 {
            let more = RunOptions {
                threads: 3,
                schema: opts.schema.clone(),
                ..opts
            };
            let again = run_files(&pack.rules, std::slice::from_ref(&p), &more);
            let same = match (&out, &again) {
                (Ok(a), Ok(b)) => a.alerts == b.alerts && a.summary == b.summary,
                (Err(a), Err(b)) => a.message == b.message,
                _ => false,
            };
            if !same {
                event_fail(&on_disk, &name, "1 and 3 threads disagree");
            }
        }
        let _ = std::fs::remove_file(&p);
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{n} mutated event files ({gz_cases} gzipped) without a panic in {:.1}s: {rows} rows, {bad} bad lines, {errors} file errors",
        start.elapsed().as_secs_f64()
    );
    if n >= 500 {
        assert!(
            rows > 3 * n as u64 && bad > n as u64 && errors > 0 && gz_cases > 0,
            "the mutations stay shallow: {rows} rows, {bad} bad lines, {errors} file errors"
        );
    }
}
