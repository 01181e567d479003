//! Zeek's smtp.log joined with its files.log through `fuids`: one stream of both logs in, one
//! JSON line per mail transaction out, read by the `zeek-smtp-files` input schema as
//! `mail_message` events (docs/LANGUAGE.md, "mail_message"; docs/TARGETS.md, "Zeek mail").
//!
//! Input: the two logs in one stream, files.log rows before the transaction that carried them,
//! which is the order Zeek writes them in (a file's row is written when the MIME part ends,
//! during DATA; the transaction's row once the server has replied to DATA or the next
//! transaction starts): Zeek TSV concatenated (`cat files.log smtp.log`), or JSON lines of both
//! paths interleaved as a log shipper forwards them (each record with `_path`). The stream is
//! recognised by a `#path files` header or a `"_path": "files"` record in its first 8 KiB.
//!
//! Output, line for line (line N out is line N in, so bad lines keep their numbers): a
//! transaction's row becomes its joined record; a header, comment, or files row that a
//! transaction claimed becomes a blank line; a files row of an SMTP message (`source` SMTP)
//! that no transaction claims within [`WAIT_ROWS`] rows after it, or by the end of the stream,
//! becomes a record carrying `_detc_error`, which the schema reports as a bad line there. A
//! transaction's fuids without a files row are counted in its `attachment_unmatched`. Memory is
//! bounded by [`WAIT_ROWS`] rows of files and their output slots, and one line of at most
//! [`MAX_LINE`] bytes.

use super::ops::join_list;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Read};

/// Rows a files.log row waits for the transaction that names its fuid.
pub const WAIT_ROWS: usize = 10_000;

/// Longest input line read (longer lines become a `_detc_error` record).
pub const MAX_LINE: usize = 1 << 20;

/// Whether the head of a stream is Zeek files.log (TSV header or JSON lines with `_path`).
pub fn is_mail_stream(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.lines().any(|l| {
        if let Some(p) = l.strip_prefix("#path") {
            return p.trim() == "files";
        }
        l.trim_start().starts_with('{')
            && serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .is_some_and(|v| v.get("_path").and_then(|p| p.as_str()) == Some("files"))
    })
}

/// One files.log row waiting for its transaction.
#[derive(Debug, Clone)]
struct FileRow {
    slot: u64,
    name: Option<String>,
    mime: Option<String>,
    size: Option<String>,
}

/// The current Zeek TSV header of the input.
#[derive(Debug, Clone, Default)]
struct Tsv {
    sep: char,
    set_sep: char,
    unset: String,
    empty: String,
    path: String,
    fields: Vec<String>,
}

/// A record of either log, keys as Zeek names them (`id.orig_h`).
enum Rec {
    Json(serde_json::Map<String, serde_json::Value>),
    Tsv(HashMap<String, String>, char),
}

impl Rec {
    /// A scalar value as text (`None`: unset, empty, or not a scalar).
    fn text(&self, key: &str) -> Option<String> {
        match self {
            Rec::Tsv(m, _) => m.get(key).cloned(),
            Rec::Json(m) => json_at(m, key).and_then(|v| match v {
                serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(if *b { "T" } else { "F" }.to_string()),
                _ => None,
            }),
        }
    }

    /// A set or vector (Zeek TSV: split on the set separator, each element unescaped).
    fn list(&self, key: &str) -> Vec<String> {
        match self {
            Rec::Tsv(m, sep) => m
                .get(key)
                .map(|s| s.split(*sep).map(unescape).collect())
                .unwrap_or_default(),
            Rec::Json(m) => match json_at(m, key) {
                Some(serde_json::Value::Array(xs)) => xs
                    .iter()
                    .filter_map(|x| match x {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect(),
                Some(serde_json::Value::String(s)) if !s.is_empty() => vec![s.clone()],
                _ => Vec::new(),
            },
        }
    }

    fn path(&self, tsv_path: &str) -> String {
        match self {
            Rec::Tsv(..) => tsv_path.to_string(),
            Rec::Json(m) => m
                .get("_path")
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_string(),
        }
    }
}

/// `id.orig_h` as Zeek's JSON writes it (flat), as some shippers rename it (`id_orig_h`), or
/// nested (`{"id": {"orig_h": ...}}`).
fn json_at<'m>(
    m: &'m serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<&'m serde_json::Value> {
    m.get(key)
        .or_else(|| m.get(&key.replace('.', "_")))
        .or_else(|| {
            let (a, b) = key.split_once('.')?;
            m.get(a)?.get(b)
        })
}

fn unescape(s: &str) -> String {
    super::read::unescape_zeek(s)
}

/// The joining reader: [`Read`] over the joined JSON lines.
pub struct Joined<R: BufRead> {
    inner: R,
    tsv: Tsv,
    /// Output lines not yet given out, from slot number `base` on; `None` is a files row
    /// still waiting for its transaction.
    out: VecDeque<Option<String>>,
    base: u64,
    waiting: HashMap<String, FileRow>,
    /// Bytes of the line being given out.
    cur: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<R: BufRead> Joined<R> {
    pub fn new(inner: R) -> Joined<R> {
        Joined {
            inner,
            tsv: Tsv {
                sep: '\t',
                set_sep: ',',
                unset: "-".into(),
                empty: "(empty)".into(),
                ..Tsv::default()
            },
            out: VecDeque::new(),
            base: 0,
            waiting: HashMap::new(),
            cur: Vec::new(),
            pos: 0,
            eof: false,
        }
    }

    fn push(&mut self, line: Option<String>) -> u64 {
        self.out.push_back(line);
        self.base + self.out.len() as u64 - 1
    }

    fn set(&mut self, slot: u64, line: String) {
        if let Some(s) = self.out.get_mut((slot - self.base) as usize) {
            *s = Some(line);
        }
    }

    /// Reads one input line and files its output slot; false at the end of the input.
    fn step(&mut self) -> std::io::Result<bool> {
        let mut buf = Vec::new();
        let n = (&mut self.inner)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(false);
        }
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            // Skip the rest of the over-long line, keeping none of it.
            loop {
                let avail = self.inner.fill_buf()?;
                if avail.is_empty() {
                    break;
                }
                match memchr::memchr(b'\n', avail) {
                    Some(i) => {
                        self.inner.consume(i + 1);
                        break;
                    }
                    None => {
                        let l = avail.len();
                        self.inner.consume(l);
                    }
                }
            }
            self.push(Some(error(&format!(
                "line longer than {MAX_LINE} bytes in a joined smtp/files stream: skipped"
            ))));
            return Ok(true);
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\r', '\n']);
        self.line(line);
        Ok(true)
    }

    fn line(&mut self, line: &str) {
        if line.trim().is_empty() {
            self.push(Some(String::new()));
            return;
        }
        if let Some(d) = line.strip_prefix('#') {
            let (key, val) = d.split_once([' ', '\t']).unwrap_or((d, ""));
            match key {
                "separator" => {
                    self.tsv.sep = if val.trim() == "\\x09" {
                        '\t'
                    } else {
                        val.trim().chars().next().unwrap_or('\t')
                    }
                }
                "set_separator" => self.tsv.set_sep = val.chars().next().unwrap_or(','),
                "unset_field" => self.tsv.unset = val.to_string(),
                "empty_field" => self.tsv.empty = val.to_string(),
                "path" => self.tsv.path = val.to_string(),
                "fields" => self.tsv.fields = val.split(self.tsv.sep).map(str::to_string).collect(),
                _ => {}
            }
            self.push(Some(String::new()));
            return;
        }
        let rec = if line.trim_start().starts_with('{') {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Object(m)) => Rec::Json(m),
                _ => {
                    self.push(Some(error("not a JSON object")));
                    return;
                }
            }
        } else {
            let cells: Vec<&str> = line.split(self.tsv.sep).collect();
            if cells.len() != self.tsv.fields.len() {
                self.push(Some(error(&format!(
                    "{} cells where the `#fields` header of the Zeek `{}` log has {}",
                    cells.len(),
                    self.tsv.path,
                    self.tsv.fields.len()
                ))));
                return;
            }
            let m = self
                .tsv
                .fields
                .iter()
                .zip(cells)
                .filter(|(_, c)| **c != self.tsv.unset && **c != self.tsv.empty)
                .map(|(k, c)| (k.clone(), c.to_string()))
                .collect();
            Rec::Tsv(m, self.tsv.set_sep)
        };
        let tsv = matches!(rec, Rec::Tsv(..));
        let unescaped = |s: Option<String>| if tsv { s.map(|x| unescape(&x)) } else { s };
        match rec.path(&self.tsv.path).as_str() {
            "files" => {
                let from_smtp = rec.text("source").is_some_and(|s| s == "SMTP");
                let Some(fuid) = rec.text("fuid").filter(|_| from_smtp) else {
                    // A file of another protocol (HTTP, FTP...): nothing to join.
                    self.push(Some(String::new()));
                    return;
                };
                let slot = self.push(None);
                let row = FileRow {
                    slot,
                    name: unescaped(rec.text("filename")),
                    mime: unescaped(rec.text("mime_type")),
                    size: rec.text("seen_bytes"),
                };
                if let Some(old) = self.waiting.insert(fuid.clone(), row) {
                    self.set(
                        old.slot,
                        error(&format!("files.log row of fuid {fuid} is repeated later")),
                    );
                }
            }
            "smtp" => {
                let joined = self.transaction(&rec, tsv);
                self.push(Some(joined));
            }
            other => {
                let other = if other.is_empty() { "(none)" } else { other };
                self.push(Some(error(&format!(
                    "a Zeek `{other}` record in a joined smtp/files stream (only smtp and files)"
                ))));
            }
        }
    }

    /// The joined record of one smtp.log row, claiming the files rows of its fuids.
    fn transaction(&mut self, rec: &Rec, tsv: bool) -> String {
        let text = |k: &str| {
            let v = rec.text(k);
            if tsv {
                v.map(|x| unescape(&x))
            } else {
                v
            }
        };
        let (mut names, mut types, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        let fuids = rec.list("fuids");
        let mut unmatched = 0u64;
        for f in &fuids {
            match self.waiting.remove(f) {
                Some(row) => {
                    self.set(row.slot, String::new());
                    names.extend(row.name);
                    types.extend(row.mime);
                    sizes.extend(row.size);
                }
                None => unmatched += 1,
            }
        }
        let rcpt = rec.list("rcptto");
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        let s = |v: Option<String>| v.map(serde_json::Value::String);
        let list = |xs: &[String]| {
            (!xs.is_empty())
                .then(|| serde_json::Value::String(join_list(xs.iter().map(|x| x.as_str()))))
        };
        put("detc_join", Some(serde_json::Value::from(1)));
        put("ts", s(rec.text("ts")));
        put("host", s(text("_system").or_else(|| text("_path_host"))));
        put("client_ip", s(text("id.orig_h")));
        put("client_port", s(text("id.orig_p")));
        put("server_ip", s(text("id.resp_h")));
        put("server_port", s(text("id.resp_p")));
        put("mailfrom", s(text("mailfrom")));
        put("rcptto", list(&rcpt));
        put("rcpt_count", Some(serde_json::Value::from(rcpt.len())));
        put("helo", s(text("helo")));
        put("last_reply", s(text("last_reply")));
        put("tls", s(text("tls")));
        put("subject", s(text("subject")));
        put("user_agent", s(text("user_agent")));
        put("attachment_names", list(&names));
        put("attachment_types", list(&types));
        put("attachment_sizes", list(&sizes));
        put(
            "attachment_count",
            Some(serde_json::Value::from(fuids.len())),
        );
        put(
            "attachment_unmatched",
            Some(serde_json::Value::from(unmatched)),
        );
        serde_json::Value::Object(m).to_string()
    }

    /// Gives out the oldest slots that are decided; at the end, or past the wait, a waiting
    /// files row is decided as unclaimed.
    fn next_ready(&mut self) -> Option<String> {
        loop {
            match self.out.front() {
                Some(Some(_)) => {
                    self.base += 1;
                    return self.out.pop_front().flatten();
                }
                Some(None) if self.eof || self.out.len() > WAIT_ROWS => {
                    let slot = self.base;
                    let fuid = self
                        .waiting
                        .iter()
                        .find(|(_, r)| r.slot == slot)
                        .map(|(f, _)| f.clone());
                    if let Some(f) = &fuid {
                        self.waiting.remove(f);
                    }
                    let why = if self.eof {
                        "by the end of the stream"
                    } else {
                        "within the rows after it"
                    };
                    self.set(
                        slot,
                        error(&format!(
                            "files.log row of fuid {} (an SMTP message part) matched no smtp.log \
                             transaction {why} (a files row waits {WAIT_ROWS} rows; put files.log \
                             before smtp.log)",
                            fuid.as_deref().unwrap_or("?")
                        )),
                    );
                }
                _ => return None,
            }
        }
    }
}

/// A record the `zeek-smtp-files` schema reports as a bad line with `why`.
fn error(why: &str) -> String {
    serde_json::json!({"detc_join": 1, "_detc_error": why}).to_string()
}

impl<R: BufRead> Read for Joined<R> {
    fn read(&mut self, dst: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.cur.len() {
            if let Some(line) = self.next_ready() {
                self.cur = line.into_bytes();
                self.cur.push(b'\n');
                self.pos = 0;
                break;
            }
            if self.eof {
                return Ok(0);
            }
            if !self.step()? {
                self.eof = true;
            }
        }
        let n = dst.len().min(self.cur.len() - self.pos);
        dst[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
