//! `detc lsp` driven as an editor drives it: a child process spoken to in JSON-RPC over its
//! stdin and stdout, with LSP's `Content-Length` framing. Every wait reads messages until the
//! expected one arrives, and fails the test past a generous deadline (no timing sleeps).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use detc::ir::{catalogue, Source};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// How long any one expected message may take (a debug build on a loaded machine).
const DEADLINE: Duration = Duration::from_secs(120);

struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
    next_id: i64,
    /// Every message read, for the failure message.
    seen: Vec<Value>,
}

impl Client {
    fn start(dir: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_detc"))
            .arg("lsp")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("detc lsp starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(m) = read_message(&mut r) {
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        Client {
            stdin: child.stdin.take(),
            child,
            messages,
            next_id: 1,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        let stdin = self.stdin.as_mut().expect("stdin is open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to detc lsp");
        stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its response (the whole message: `result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait_for(&format!("the response to {method}"), |m| {
            m["id"] == json!(id) && m.get("method").is_none()
        })
    }

    /// Reads messages until one satisfies `want`, failing past the deadline.
    fn wait_for(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) => {
                    self.seen.push(m.clone());
                    if want(&m) {
                        return m;
                    }
                }
                Err(e) => panic!(
                    "waiting for {what}: {e:?}; messages read:\n{}",
                    self.seen
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let m = self.wait_for(&format!("diagnostics of {uri}"), |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        });
        m["params"]["diagnostics"]
            .as_array()
            .cloned()
            .expect("a diagnostics array")
    }

    /// Closes stdin and waits for the process to end, failing past the deadline.
    fn exit_code(mut self) -> Option<i32> {
        drop(self.stdin.take());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let _ = tx.send(self.child.wait().map(|s| s.code()));
        });
        rx.recv_timeout(DEADLINE)
            .expect("detc lsp ends after exit")
            .expect("wait")
    }
}

/// One framed message: headers up to a blank line, then `Content-Length` bytes of JSON.
fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// The LSP position (line, character; ASCII text) of the `nth` occurrence of `needle`, plus
/// `shift` characters.
fn pos(text: &str, needle: &str, shift: usize) -> Value {
    let at = text.find(needle).expect("needle in text") + shift;
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    json!({"line": line, "character": col})
}

fn at(uri: &str, p: Value) -> Value {
    json!({"textDocument": {"uri": uri}, "position": p})
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detc-lsp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    std::fs::canonicalize(&d).expect("canonical temp dir")
}

const LISTS: &str = "list mail_ports: port = [25, 465, 587, 2525, 110, 995, 143, 993, 10025, 20025]
list names: string = file(\"names.txt\")
";

const BROKEN: &str = "rule smtp_out {
  id \"0b4a2a9e-6a57-4d1e-9a43-0c1c7f6a5d11\"
  title \"SMTP out\"
  severity high
  source network_connection
  where remote.prot in mail_ports and process.name in~ names and outcome == succeeded
  suppress 2h by host
}
";

fn labels(response: &Value) -> Vec<String> {
    response["result"]
        .as_array()
        .expect("a completion list")
        .iter()
        .map(|i| i["label"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_language_server_speaks_lsp_over_stdio() {
    let dir = scratch("session");
    // The pack: the lists on disk (never opened), the rule opened in the editor.
    std::fs::write(dir.join("lists.detc"), LISTS).expect("write lists");
    std::fs::write(
        dir.join("names.txt"),
        "outlook.exe\n# a comment\nthunderbird.exe\n",
    )
    .expect("write names");
    let rule = dir.join("rule.detc");
    let rule_uri = uri(&rule);
    let lists_uri = uri(&dir.join("lists.detc"));
    let mut c = Client::start(&dir);

    let init = c.request(
        "initialize",
        json!({"processId": null, "rootUri": uri(&dir), "capabilities": {}}),
    );
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["textDocumentSync"], json!(1), "full sync: {init}");
    assert_eq!(caps["hoverProvider"], json!(true));
    assert_eq!(caps["definitionProvider"], json!(true));
    assert_eq!(caps["documentFormattingProvider"], json!(true));
    assert!(caps["completionProvider"].is_object());
    c.notify("initialized", json!({}));

    // An unknown field: the diagnostic `detc check` gives, with its code, on the field's range.
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": rule_uri, "languageId": "detc", "version": 1, "text": BROKEN}}),
    );
    let ds = c.diagnostics(&rule_uri);
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!(ds[0]["code"], "E0220");
    assert_eq!(ds[0]["severity"], json!(1));
    let start = pos(BROKEN, "remote.prot", 0);
    let end = pos(BROKEN, "remote.prot", "remote.prot".len());
    assert_eq!(ds[0]["range"], json!({"start": start, "end": end}));
    assert!(
        ds[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown field `remote.prot`")
                && m.contains("did you mean `remote.port`?")),
        "{ds:?}"
    );

    // Fixed: the rule's diagnostics are cleared.
    let fixed = BROKEN.replace("remote.prot", "remote.port");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": rule_uri, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    assert_eq!(c.diagnostics(&rule_uri), Vec::<Value>::new());

    // Hover on a field: its type and its meaning from the catalogue.
    let h = c.request(
        "textDocument/hover",
        at(&rule_uri, pos(&fixed, "remote.port", 3)),
    );
    let text = h["result"]["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let field = catalogue::field(Source::NetworkConnection, "remote.port").expect("a field");
    assert!(text.contains("**remote.port**: `port`"), "{h}");
    assert!(text.contains(field.doc), "{h}");
    assert_eq!(h["result"]["range"]["start"], pos(&fixed, "remote.port", 0));
    // An enum field shows its values.
    let h = c.request(
        "textDocument/hover",
        at(&rule_uri, pos(&fixed, "outcome", 0)),
    );
    assert!(
        h["result"]["contents"]["value"]
            .as_str()
            .is_some_and(|t| t.contains("enum: succeeded | failed")),
        "{h}"
    );

    // Hover on `suppress`: what it means, counted in the rule's runs.
    let h = c.request(
        "textDocument/hover",
        at(&rule_uri, pos(&fixed, "suppress", 2)),
    );
    assert!(
        h["result"]["contents"]["value"]
            .as_str()
            .is_some_and(|t| t.starts_with("**suppress D [by keys]**") && t.contains("periods")),
        "{h}"
    );

    // Hover on a list of another file of the pack: its type and values, abbreviated.
    let h = c.request(
        "textDocument/hover",
        at(&rule_uri, pos(&fixed, "mail_ports", 1)),
    );
    let text = h["result"]["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        text.starts_with("**list mail_ports**: `port`, 10 value(s)"),
        "{h}"
    );
    assert!(
        text.contains("`25`, `465`") && text.ends_with(", and 2 more"),
        "{h}"
    );
    assert!(!text.contains("20025"), "{h}");
    // A file list: the values of its file, without comments.
    let h = c.request("textDocument/hover", at(&rule_uri, pos(&fixed, "names", 0)));
    let text = h["result"]["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(text.contains("2 value(s) from `names.txt`"), "{h}");
    assert!(
        text.contains("`outlook.exe`, `thunderbird.exe`") && !text.contains("comment"),
        "{h}"
    );

    // Definition of a list: its declaration in the other file; of a list's file: the file.
    let d = c.request(
        "textDocument/definition",
        at(&rule_uri, pos(&fixed, "mail_ports", 2)),
    );
    assert_eq!(d["result"]["uri"], lists_uri, "{d}");
    assert_eq!(
        d["result"]["range"],
        json!({"start": pos(LISTS, "mail_ports", 0), "end": pos(LISTS, "mail_ports", 10)})
    );
    let d = c.request(
        "textDocument/definition",
        at(&lists_uri, pos(LISTS, "names.txt", 2)),
    );
    assert_eq!(d["result"]["uri"], uri(&dir.join("names.txt")), "{d}");

    // Completion: the fields of the rule's source (and only those), lists and keywords in a
    // condition; operators after a field; lists after `in`; an enum's values after `==`.
    let r = c.request(
        "textDocument/completion",
        at(&rule_uri, pos(&fixed, "remote.port", 0)),
    );
    let got = labels(&r);
    for f in catalogue::fields(Source::NetworkConnection) {
        assert!(
            got.contains(&f.name.to_string()),
            "{} missing: {got:?}",
            f.name
        );
    }
    assert!(
        !got.contains(&"dst.port".to_string()),
        "a network_flow field: {got:?}"
    );
    for w in ["mail_ports", "names", "and", "not", "where"] {
        assert!(got.contains(&w.to_string()), "{w} missing: {got:?}");
    }
    let r = c.request(
        "textDocument/completion",
        at(&rule_uri, pos(&fixed, "in mail_ports", 0)),
    );
    let got = labels(&r);
    assert!(
        ["==", "in", "in~", "startswith~", "matches", "exists"]
            .iter()
            .all(|o| got.contains(&o.to_string())),
        "{got:?}"
    );
    assert!(!got.contains(&"remote.port".to_string()), "{got:?}");
    let r = c.request(
        "textDocument/completion",
        at(&rule_uri, pos(&fixed, "mail_ports", 0)),
    );
    assert_eq!(labels(&r), ["mail_ports", "names"]);
    let r = c.request(
        "textDocument/completion",
        at(&rule_uri, pos(&fixed, "succeeded", 0)),
    );
    assert_eq!(labels(&r), ["succeeded", "failed"]);
    // A dotted name being typed is replaced whole.
    let r = c.request(
        "textDocument/completion",
        at(&rule_uri, pos(&fixed, "remote.port", 9)),
    );
    let edit = &r["result"][0]["textEdit"];
    assert_eq!(edit["range"]["start"], pos(&fixed, "remote.port", 0), "{r}");
    assert_eq!(edit["range"]["end"], pos(&fixed, "remote.port", 9), "{r}");

    // Formatting: one edit to what `detc fmt` gives.
    let f = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": rule_uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let want = detc::syntax::fmt::format(&rule.to_string_lossy(), &fixed).expect("formats");
    assert_ne!(want, fixed, "the test text is not in the canonical layout");
    let edits = f["result"].as_array().expect("edits");
    assert_eq!(edits.len(), 1, "{f}");
    assert_eq!(edits[0]["newText"], want);
    assert_eq!(
        edits[0]["range"]["start"],
        json!({"line": 0, "character": 0})
    );
    // A syntax error: refused with an error response, and reported as a diagnostic.
    let broken = fixed.replace("where remote.port in", "where remote.port in in");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": rule_uri, "version": 3}, "contentChanges": [{"text": broken}]}),
    );
    let ds = c.diagnostics(&rule_uri);
    assert_eq!(
        ds.first().map(|d| d["code"].clone()),
        Some(json!("E0100")),
        "{ds:?}"
    );
    let f = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": rule_uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(f["error"]["code"], json!(-32803), "{f}");
    assert!(
        f["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("syntax error")),
        "{f}"
    );

    let s = c.request("shutdown", Value::Null);
    assert_eq!(s["result"], Value::Null, "{s}");
    c.notify("exit", Value::Null);
    assert_eq!(c.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rule reading its pack's `detc.yaml`: the pack's time zone and its own input schema.
const NIGHT: &str = r#"rule night_mail_flow {
  id "6f1d3c52-8a0e-4b8e-9d61-2f7a4c1e9b30"
  title "Mail flow at night"
  severity low
  source network_flow
  where dst.port == 25 and hour(time) < 6
  test "a flow at 03:00 local time" events [
      {"StartTime": "1700010000", "SrcAddr": "10.0.0.1", "DstAddr": "192.0.2.1", "SrcBytes": "10", "Dport": "25"}
    ] schema argus-csv
    expect 1 alert
}
"#;

/// One server, two packs: each is checked with its own `detc.yaml` (as `detc check` in its
/// folder would), and a bad `detc.yaml` is shown on its own lines.
#[test]
fn each_pack_is_checked_with_its_own_config() {
    let root = scratch("configs");
    let (good, bad) = (root.join("good"), root.join("bad"));
    for d in [&good, &bad] {
        std::fs::create_dir_all(d).expect("pack dir");
        std::fs::write(d.join("night.detc"), NIGHT).expect("write rule");
    }
    let own = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/own-logs/detc.yaml"),
    )
    .expect("the README's detc.yaml");
    let own: String = own
        .lines()
        .filter(|l| !l.contains("suricata-flow.yaml"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        good.join("detc.yaml"),
        format!("{own}timezone: \"+02:00\"\n"),
    )
    .expect("write config");
    std::fs::write(bad.join("detc.yaml"), "timezone: \"Europe/Paris\"\n").expect("write config");
    let mut c = Client::start(&root);
    c.request("initialize", json!({"processId": null, "capabilities": {}}));
    c.notify("initialized", json!({}));

    // The pack's zone serves `hour()`, its `argus-csv` schema serves the test: nothing to say.
    let good_uri = uri(&good.join("night.detc"));
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": good_uri, "languageId": "detc", "version": 1, "text": NIGHT}}),
    );
    assert_eq!(c.diagnostics(&good_uri), Vec::<Value>::new());

    // The other pack's config is wrong: its error on detc.yaml, where `detc check` points (the
    // key).
    let bad_uri = uri(&bad.join("night.detc"));
    let bad_config = uri(&bad.join("detc.yaml"));
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": bad_uri, "languageId": "detc", "version": 1, "text": NIGHT}}),
    );
    let ds = c.diagnostics(&bad_config);
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!(ds[0]["code"], "E0035", "{ds:?}");
    assert_eq!(
        ds[0]["range"]["start"],
        json!({"line": 0, "character": 0}),
        "{ds:?}"
    );
    // Its rule is checked without a zone or schemas of its own, as the first pack's were not.
    let ds = c.diagnostics(&bad_uri);
    let codes: Vec<&str> = ds.iter().filter_map(|d| d["code"].as_str()).collect();
    assert_eq!(codes, ["E0277", "E0264"], "{ds:?}");

    // The first pack again, after the second: still its own config.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": good_uri, "version": 2}, "contentChanges": [{"text": NIGHT}]}),
    );
    assert_eq!(c.diagnostics(&good_uri), Vec::<Value>::new());
    let s = c.request("shutdown", Value::Null);
    assert_eq!(s["result"], Value::Null, "{s}");
    c.notify("exit", Value::Null);
    assert_eq!(c.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn exit_without_shutdown_ends_with_code_1() {
    let dir = scratch("no-shutdown");
    let mut c = Client::start(&dir);
    let init = c.request("initialize", json!({"processId": null, "capabilities": {}}));
    assert!(init["result"]["capabilities"].is_object(), "{init}");
    c.notify("initialized", json!({}));
    c.notify("exit", Value::Null);
    assert_eq!(c.exit_code(), Some(1));
}
