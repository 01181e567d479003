//! Linux audit logs as auditd writes them (`/var/log/audit/audit.log`, `log_format = RAW` or
//! `ENRICHED`): one record per line, `[node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): k=v ...`,
//! several records per event sharing `SECONDS.MILLIS:SERIAL` (an `execve` is SYSCALL, EXECVE,
//! CWD, PATH..., PROCTITLE, then EOE). [`Events`] assembles each event's records into one flat
//! JSON line, which the `auditd` input schema reads (targets/inputs/auditd.yaml).
//!
//! Values: a quoted value is the text between its quotes; auditd writes an untrusted string
//! (`exe`, `comm`, `cwd`, `name`, the EXECVE arguments `aN`, `proctitle`) that holds a space, a
//! quote or a control character as unquoted hex, decoded here (`proctitle`'s NULs between
//! arguments become spaces); `(null)` and `(none)` are missing. An argument longer than the
//! kernel's record splits into `aN_len=L aN[0]=... aN[1]=...`, joined here. In the ENRICHED
//! format auditd appends, after a `\x1d` byte, the numeric fields resolved to names in
//! upper case (`UID="root"`, `AUID="alice"`): kept as those keys.
//!
//! The event's line: its JSON is written at the line of its first record, every other record's
//! line is left blank (the JSON reader skips blank lines), so alerts and bad lines keep the
//! file's numbering. Memory is bounded: an event is complete at its EOE record, and otherwise
//! once [`MAX_SPAN`] lines passed since its first record (auditd writes no EOE for some
//! events) or at the end of the file; at most that many lines are held.
//!
//! Nothing is dropped silently: a line that is not an audit record, a record of an event that
//! its EOE already closed, and a line over [`MAX_RECORD`] bytes are bad lines with the reason;
//! an event whose EXECVE lacks its SYSCALL record or some of its `argc` arguments is still
//! read when it has other records, and a bad line at its last record says what is missing
//! (alone, such a record is the bad line).

use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, Read};

/// An event not closed by EOE is complete this many lines after its first record.
pub const MAX_SPAN: u64 = 512;
/// A record line longer than this is a bad line (auditd's own records are at most 8 KiB).
pub const MAX_RECORD: usize = 1 << 20;
/// How many events closed by EOE are remembered to tell a stray record of one.
const CLOSED_KEPT: usize = 4096;

/// The opening of the JSON line standing for a bad line: the JSON readers report its string as
/// the reason ([`bad_reason`]). It is an object so that a file starting with one is still JSON
/// lines. Its key holds a token drawn at random once a run, which never leaves the run, so that
/// no line of the input passes for one: with a fixed key, a log line
/// `{"detc.bad_line":"..."}` in a plain JSON-lines file was reported as a bad line with its
/// writer's words as the reason.
fn bad_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        // 64 bits from std's random hash keys (seeded by the OS): nothing to guess them from.
        let token = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        format!("{OPEN}{token:016x}\":")
    })
}

/// The marker's fixed opening, up to its token: its first word is compared in place on every
/// JSON line.
const OPEN: &str = "{\"detc.bad_line.";

/// The reason of a bad line [`Events`] wrote, or `None` for any other line.
#[inline]
pub fn bad_reason(line: &str) -> Option<String> {
    // The first word compared in place: every JSON line is asked, and the prefix's `memcmp`
    // call was about 20 instructions a line of row (f).
    if line.as_bytes().first_chunk::<8>() != OPEN.as_bytes().first_chunk::<8>() {
        return None;
    }
    marked_reason(line)
}

#[cold]
fn marked_reason(line: &str) -> Option<String> {
    let rest = line.strip_prefix(bad_prefix())?.strip_suffix('}')?;
    serde_json::from_str::<String>(rest).ok()
}

fn bad_line(reason: &str) -> Vec<u8> {
    format!("{}{}}}", bad_prefix(), Value::String(reason.to_string())).into_bytes()
}

/// Whether a stream that starts with `head` is an audit log: its first line that is not blank
/// is an audit record.
pub fn is_audit_stream(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| parse_record(l.trim_end_matches('\r')).is_ok())
}

/// One record: its event key (`node` and `msg=audit(...)`), type, time and fields.
#[derive(Debug)]
struct Record {
    key: String,
    node: Option<String>,
    ty: String,
    time: String,
    serial: String,
    fields: Vec<(String, Field)>,
}

#[derive(Debug, Clone)]
enum Field {
    /// `k="text"` or `k='text'`: the text.
    Quoted(String),
    /// `k=token`: as written (hex, a number, `(null)`...).
    Bare(String),
}

fn parse_record(line: &str) -> Result<Record, String> {
    let mut rest = line.trim_start();
    let mut node = None;
    if let Some(r) = rest.strip_prefix("node=") {
        let end = r.find(' ').ok_or("`node=` with no record after it")?;
        node = Some(r[..end].to_string());
        rest = r[end..].trim_start();
    }
    let r = rest
        .strip_prefix("type=")
        .ok_or("not an audit record: no `type=` at its start")?;
    let end = r.find(' ').ok_or("no `msg=audit(...)` after `type=`")?;
    let ty = r[..end].to_string();
    let r = r[end..]
        .trim_start()
        .strip_prefix("msg=audit(")
        .ok_or("no `msg=audit(TIME:SERIAL):` after `type=`")?;
    let close = r.find("):").ok_or("`msg=audit(` is not closed by `):`")?;
    let stamp = &r[..close];
    let (time, serial) = stamp
        .split_once(':')
        .ok_or_else(|| format!("`msg=audit({stamp})` is not TIME:SERIAL"))?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !numeric(time) || !serial.bytes().all(|b| b.is_ascii_digit()) || serial.is_empty() {
        return Err(format!("`msg=audit({stamp})` is not SECONDS.MILLIS:SERIAL"));
    }
    let key = format!("{}|{stamp}", node.as_deref().unwrap_or(""));
    Ok(Record {
        key,
        node,
        ty,
        time: time.to_string(),
        serial: serial.to_string(),
        fields: fields(&r[close + 2..]),
    })
}

/// `k=v` pairs of a record body. The ENRICHED part after `\x1d` is read the same way. A
/// quoted `msg='...'` (user-space records) is read as its own `k=v` pairs.
fn fields(body: &str) -> Vec<(String, Field)> {
    let mut out = Vec::new();
    let mut s = body;
    loop {
        s = s.trim_start_matches([' ', '\x1d', '\t']);
        if s.is_empty() {
            break;
        }
        let Some(eq) = s.find('=') else { break };
        let key = s[..eq].trim().to_string();
        let v = &s[eq + 1..];
        let (val, rest) = match v.chars().next() {
            Some(q @ ('"' | '\'')) => match v[1..].find(q) {
                Some(e) => (Field::Quoted(v[1..1 + e].to_string()), &v[e + 2..]),
                None => (Field::Quoted(v[1..].to_string()), ""),
            },
            _ => {
                let e = v.find([' ', '\x1d']).unwrap_or(v.len());
                (Field::Bare(v[..e].to_string()), &v[e..])
            }
        };
        if key == "msg" {
            if let Field::Quoted(inner) = &val {
                out.extend(fields(inner));
                s = rest;
                continue;
            }
        }
        if !key.is_empty() && !key.contains(' ') {
            out.push((key, val));
        }
        s = rest;
    }
    out
}

/// An untrusted string as auditd writes it: quoted text, or hex (see the module doc).
fn untrusted(f: &Field) -> Option<String> {
    match f {
        Field::Quoted(t) => Some(t.clone()),
        Field::Bare(t) if t == "(null)" || t == "(none)" || t.is_empty() => None,
        Field::Bare(t) => Some(hex(t).unwrap_or_else(|| t.clone())),
    }
}

fn hex(t: &str) -> Option<String> {
    if !t.len().is_multiple_of(2) || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&t[i..i + 2], 16).unwrap_or(b'?'))
        .collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn plain(f: &Field) -> Option<String> {
    match f {
        Field::Quoted(t) => Some(t.clone()),
        Field::Bare(t) if t == "(null)" || t == "(none)" || t == "?" || t.is_empty() => None,
        Field::Bare(t) => Some(t.clone()),
    }
}

/// The records of one event so far.
struct Open {
    /// The line of its first record (where its JSON goes) and of its last.
    first: u64,
    last: u64,
    /// The lines of all its records (EOE included): blank once it is written.
    lines: Vec<u64>,
    records: Vec<Record>,
}

/// The flat JSON of an event, and what is missing from it (a warning), if anything.
fn assemble(records: &[Record]) -> (Map<String, Value>, Option<String>) {
    let mut m = Map::new();
    let first = &records[0];
    let has = |t: &str| records.iter().any(|r| r.ty == t);
    let main = if has("EXECVE") { "EXECVE" } else { &first.ty };
    m.insert("type".into(), main.into());
    m.insert(
        "record_types".into(),
        records
            .iter()
            .map(|r| r.ty.as_str())
            .collect::<Vec<_>>()
            .join(",")
            .into(),
    );
    m.insert("msg_time".into(), first.time.clone().into());
    m.insert("msg_serial".into(), first.serial.clone().into());
    if let Some(n) = &first.node {
        m.insert("node".into(), n.clone().into());
    }
    let mut args: HashMap<usize, String> = HashMap::new();
    let mut pieces: HashMap<usize, Vec<(usize, String)>> = HashMap::new();
    let mut argc: Option<usize> = None;
    for r in records {
        for (k, v) in &r.fields {
            match r.ty.as_str() {
                "SYSCALL" => {
                    let val = if matches!(k.as_str(), "exe" | "comm") {
                        untrusted(v)
                    } else {
                        plain(v)
                    };
                    if let Some(val) = val {
                        m.entry(k.clone()).or_insert(val.into());
                    }
                }
                "EXECVE" => {
                    if k == "argc" {
                        argc = plain(v).and_then(|n| n.parse().ok());
                    } else if let Some(i) = k.strip_prefix('a') {
                        if let Ok(n) = i.parse::<usize>() {
                            args.insert(n, untrusted(v).unwrap_or_default());
                        } else if let Some((n, rest)) = i.split_once('[') {
                            let (Ok(n), Ok(p)) = (
                                n.parse::<usize>(),
                                rest.trim_end_matches(']').parse::<usize>(),
                            ) else {
                                continue;
                            };
                            pieces
                                .entry(n)
                                .or_default()
                                .push((p, untrusted(v).unwrap_or_default()));
                        }
                    }
                }
                "CWD" if k == "cwd" => {
                    if let Some(c) = untrusted(v) {
                        m.insert("cwd".into(), c.into());
                    }
                }
                "PROCTITLE" if k == "proctitle" => {
                    if let Some(p) = untrusted(v) {
                        m.insert("proctitle".into(), p.replace('\0', " ").into());
                    }
                }
                _ => {}
            }
        }
    }
    for (n, mut ps) in pieces {
        ps.sort_by_key(|(p, _)| *p);
        args.insert(n, ps.into_iter().map(|(_, s)| s).collect());
    }
    let mut warn = None;
    if has("EXECVE") {
        let count = argc.unwrap_or(args.len());
        let present = (0..count).take_while(|i| args.contains_key(i)).count();
        let line: Vec<&str> = (0..present)
            .filter_map(|i| args.get(&i).map(String::as_str))
            .collect();
        m.insert("argc".into(), count.into());
        m.insert("command_line".into(), line.join(" ").into());
        if !has("SYSCALL") {
            warn = Some(format!(
                "audit event {}:{}: EXECVE without its SYSCALL record (a truncated event): the process path, id and user are unknown",
                first.time, first.serial
            ));
        } else if present < count {
            warn = Some(format!(
                "audit event {}:{}: EXECVE argc={count} but only a0..a{} are present: the command line is truncated",
                first.time,
                first.serial,
                present.saturating_sub(1)
            ));
        }
    }
    (m, warn)
}

/// A [`Read`] over an audit log that yields one JSON line per event (see the module doc).
pub struct Events<R: BufRead> {
    input: R,
    out: Vec<u8>,
    pos: usize,
    /// The output lines from `base` on: `None` while an open event owns it.
    slots: VecDeque<Option<Vec<u8>>>,
    base: u64,
    line_no: u64,
    open: HashMap<String, Open>,
    /// Opening order of the open events (their keys), to age them out.
    order: VecDeque<(u64, String)>,
    closed: HashSet<String>,
    closed_order: VecDeque<String>,
    eof: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> Events<R> {
    pub fn new(input: R) -> Events<R> {
        Events {
            input,
            out: Vec::new(),
            pos: 0,
            slots: VecDeque::new(),
            base: 1,
            line_no: 0,
            open: HashMap::new(),
            order: VecDeque::new(),
            closed: HashSet::new(),
            closed_order: VecDeque::new(),
            eof: false,
            buf: Vec::new(),
        }
    }

    fn set(&mut self, line: u64, text: Vec<u8>) {
        if let Some(s) = line
            .checked_sub(self.base)
            .and_then(|i| self.slots.get_mut(i as usize))
        {
            *s = Some(text);
        }
    }

    /// Writes an event's JSON (or its bad line) and frees its other lines.
    fn close(&mut self, key: &str, by_eoe: bool) {
        let Some(ev) = self.open.remove(key) else {
            return;
        };
        if by_eoe {
            if self.closed_order.len() >= CLOSED_KEPT {
                if let Some(k) = self.closed_order.pop_front() {
                    self.closed.remove(&k);
                }
            }
            self.closed.insert(key.to_string());
            self.closed_order.push_back(key.to_string());
        }
        let (json, warn) = assemble(&ev.records);
        for &l in &ev.lines {
            self.set(l, Vec::new());
        }
        match warn {
            Some(w) if ev.first == ev.last => self.set(ev.first, bad_line(&w)),
            w => {
                self.set(ev.first, Value::Object(json).to_string().into_bytes());
                if let Some(w) = w {
                    self.set(ev.last, bad_line(&w));
                }
            }
        }
    }

    /// Reads one physical line into `buf` (without its line break); `Ok(false)` at the end. A
    /// line over [`MAX_RECORD`] is read through and left empty, `Ok(true)` with `over` set.
    fn next_line(&mut self) -> std::io::Result<Option<bool>> {
        self.buf.clear();
        let mut over = false;
        let mut any = false;
        loop {
            let avail = self.input.fill_buf()?;
            if avail.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if !over {
                if self.buf.len() + take > MAX_RECORD {
                    over = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(&avail[..take]);
                }
            }
            self.input.consume(take);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        Ok(Some(over))
    }

    /// Takes in one more line (or the end); false when there is nothing more at all.
    fn step(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let Some(over) = self.next_line()? else {
            self.eof = true;
            let keys: Vec<String> = self.order.drain(..).map(|(_, k)| k).collect();
            for k in keys {
                self.close(&k, false);
            }
            return Ok(true);
        };
        self.line_no += 1;
        let n = self.line_no;
        self.slots.push_back(None);
        if over {
            self.set(
                n,
                bad_line(&format!(
                    "line longer than {MAX_RECORD} bytes: not an audit record; skipped"
                )),
            );
        } else {
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            let text = if n == 1 {
                text.trim_start_matches('\u{feff}').to_string()
            } else {
                text
            };
            if text.trim().is_empty() {
                self.set(n, Vec::new());
            } else {
                match parse_record(&text) {
                    Err(e) => self.set(n, bad_line(&e)),
                    Ok(r) if self.closed.contains(&r.key) => {
                        let w = format!(
                            "stray {} record of audit event {}:{}, after its EOE: not read",
                            r.ty, r.time, r.serial
                        );
                        self.set(n, bad_line(&w));
                    }
                    Ok(r) => {
                        let key = r.key.clone();
                        let eoe = r.ty == "EOE";
                        match self.open.get_mut(&key) {
                            Some(ev) => {
                                ev.last = n;
                                ev.lines.push(n);
                                if !eoe {
                                    ev.records.push(r);
                                }
                            }
                            None if eoe => {
                                let w = format!(
                                    "EOE of audit event {}:{} with none of its records before it: not read",
                                    r.time, r.serial
                                );
                                self.set(n, bad_line(&w));
                            }
                            None => {
                                self.order.push_back((n, key.clone()));
                                self.open.insert(
                                    key.clone(),
                                    Open {
                                        first: n,
                                        last: n,
                                        lines: vec![n],
                                        records: vec![r],
                                    },
                                );
                            }
                        }
                        if eoe {
                            self.close(&key, true);
                        }
                    }
                }
            }
        }
        // Events older than MAX_SPAN lines are complete.
        while let Some((first, _)) = self.order.front() {
            if n - first < MAX_SPAN {
                break;
            }
            if let Some((_, k)) = self.order.pop_front() {
                self.close(&k, false);
            }
        }
        if self.order.len() > 4 * MAX_SPAN as usize {
            // Keys of events closed by EOE linger in `order`: drop them.
            self.order.retain(|(_, k)| self.open.contains_key(k));
        }
        Ok(true)
    }

    /// Moves the finished lines at the front into `out`.
    fn drain(&mut self) {
        while let Some(Some(_)) = self.slots.front() {
            if let Some(Some(t)) = self.slots.pop_front() {
                self.out.extend_from_slice(&t);
                self.out.push(b'\n');
                self.base += 1;
            }
        }
    }
}

impl<R: BufRead> Read for Events<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            if !self.step()? {
                return Ok(0);
            }
            self.drain();
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(text: &str) -> Vec<String> {
        let mut s = String::new();
        let _ = Events::new(text.as_bytes()).read_to_string(&mut s);
        s.split('\n').map(str::to_string).collect()
    }

    fn obj(l: &str) -> Map<String, Value> {
        match serde_json::from_str(l) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    const EXEC: &str = concat!(
        "type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=59 success=yes exit=0 a0=55 a1=56 a2=57 a3=0 items=2 ppid=100 pid=4242 auid=1000 uid=33 gid=33 euid=33 suid=33 fsuid=33 egid=33 sgid=33 fsgid=33 tty=(none) ses=4 comm=\"sendmail\" exe=\"/usr/sbin/sendmail\" key=\"mail\"\n",
        "type=EXECVE msg=audit(1700000000.123:42): argc=3 a0=\"sendmail\" a1=\"-t\" a2=746F3A782079\n",
        "type=CWD msg=audit(1700000000.123:42): cwd=\"/var/www\"\n",
        "type=PROCTITLE msg=audit(1700000000.123:42): proctitle=73656E646D61696C002D74\n",
        "type=EOE msg=audit(1700000000.123:42): \n",
    );

    #[test]
    fn an_execve_event_is_one_line_at_its_first_record() {
        let out = convert(EXEC);
        assert_eq!(out.len(), 6, "{out:?}");
        let e = obj(&out[0]);
        assert_eq!(e["type"], "EXECVE");
        assert_eq!(e["exe"], "/usr/sbin/sendmail");
        assert_eq!(e["pid"], "4242");
        assert_eq!(e["ppid"], "100");
        assert_eq!(e["uid"], "33");
        assert_eq!(e["msg_time"], "1700000000.123");
        // a2 was hex because it holds a space; joined as the kernel gave the arguments.
        assert_eq!(e["command_line"], "sendmail -t to:x y");
        assert_eq!(e["cwd"], "/var/www");
        assert_eq!(e["proctitle"], "sendmail -t");
        assert!(out[1..5].iter().all(String::is_empty), "{out:?}");
    }

    #[test]
    fn interleaved_events_node_enriched_and_split_arguments() {
        let text = concat!(
            "node=web1 type=SYSCALL msg=audit(1.5:7): syscall=59 success=yes ppid=1 pid=2 auid=1000 uid=0 exe=\"/usr/bin/mail\"\x1dARCH=x86_64 SYSCALL=execve AUID=\"alice\" UID=\"root\"\n",
            "node=web1 type=SYSCALL msg=audit(1.6:8): syscall=2 success=yes ppid=1 pid=3 uid=0 exe=\"/bin/cat\"\n",
            "node=web1 type=EXECVE msg=audit(1.5:7): argc=2 a0=\"mail\" a1_len=6 a1[0]=\"abc\" a1[1]=646566\n",
            "node=web1 type=EOE msg=audit(1.6:8): \n",
            "node=web1 type=EOE msg=audit(1.5:7): \n",
        );
        let out = convert(text);
        let e = obj(&out[0]);
        assert_eq!(e["node"], "web1");
        assert_eq!(e["UID"], "root");
        assert_eq!(e["AUID"], "alice");
        assert_eq!(e["command_line"], "mail abcdef");
        assert_eq!(obj(&out[1])["exe"], "/bin/cat");
        assert_eq!(obj(&out[1])["type"], "SYSCALL");
        assert!(out[2..5].iter().all(String::is_empty), "{out:?}");
    }

    /// Only a marker this run wrote is one: a line with the fixed key, or with the token's
    /// place filled by a guess, is a line like any other; the reason survives any text.
    #[test]
    fn only_this_runs_marker_is_a_bad_line() {
        for reason in ["plain", "quote \" and \\ and \u{1b}[2J", ""] {
            let line = String::from_utf8(bad_line(reason)).unwrap_or_default();
            assert_eq!(bad_reason(&line).as_deref(), Some(reason), "{line}");
        }
        let guesses = [
            "{\"detc.bad_line\":\"forged\"}".to_string(),
            "{\"detc.bad_line.0000000000000000\":\"forged\"}".to_string(),
            format!("{}\"forged\"", &bad_prefix()[..bad_prefix().len() - 3]),
        ];
        for g in guesses {
            assert_eq!(bad_reason(&g), None, "{g}");
        }
        assert_eq!(bad_prefix(), bad_prefix());
        assert_eq!(bad_prefix().len(), "{\"detc.bad_line.\":".len() + 16);
    }

    #[test]
    fn bad_stray_and_truncated_records_are_bad_lines_where_they_are() {
        let text = concat!(
            "garbage\n",
            "type=EXECVE msg=audit(9.1:1): argc=2 a0=\"sh\"\n",
            "type=SYSCALL msg=audit(9.2:2): syscall=59 pid=5 exe=\"/bin/sh\"\n",
            "type=EXECVE msg=audit(9.2:2): argc=3 a0=\"sh\" a1=\"-c\"\n",
            "type=EOE msg=audit(9.2:2): \n",
            "type=CWD msg=audit(9.2:2): cwd=\"/\"\n",
        );
        let out = convert(text);
        assert_eq!(
            bad_reason(&out[0]).as_deref(),
            Some("not an audit record: no `type=` at its start")
        );
        assert!(
            bad_reason(&out[1]).is_some_and(|r| r.contains("without its SYSCALL")),
            "{out:?}"
        );
        assert_eq!(obj(&out[2])["command_line"], "sh -c");
        assert!(out[3].is_empty());
        assert!(
            bad_reason(&out[4]).is_some_and(|r| r.contains("argc=3")),
            "{out:?}"
        );
        assert!(
            bad_reason(&out[5]).is_some_and(|r| r.contains("stray CWD")),
            "{out:?}"
        );
    }

    #[test]
    fn memory_is_bounded_by_the_span() {
        // Events without EOE are complete MAX_SPAN lines on: the output keeps flowing.
        let mut text = String::new();
        for i in 0..3 * MAX_SPAN {
            text.push_str(&format!(
                "type=SYSCALL msg=audit(10.0:{i}): syscall=2 pid={i} exe=\"/bin/x\"\n"
            ));
        }
        let mut ev = Events::new(text.as_bytes());
        let mut buf = [0u8; 64];
        let mut got = 0;
        while ev.read(&mut buf).unwrap_or(0) > 0 {
            got += 1;
            assert!(ev.slots.len() as u64 <= MAX_SPAN + 1);
            assert!(ev.open.len() as u64 <= MAX_SPAN);
        }
        assert!(got > 0);
    }
}
