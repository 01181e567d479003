//! Projection of abstract events (catalogue field -> typed value) into the raw rows of each
//! target's table, written from the vendors' documentation (targets/schemas/ and the sources named
//! there), NOT from the backends' profiles: the differential harness feeds the same events to the
//! native evaluator and, through these projections, to each engine, so a wrong column mapping in a
//! profile shows up as a disagreement.
//!
//! Not every abstract event exists in every table (Sysmon has no outcome and always knows which
//! side initiated; Defender's ActionType ties outcome to direction). A projection therefore returns
//! the row *and* the canonical abstract event that the row denotes, or `None` when no row of that
//! table can denote the event. The native evaluator then runs on the canonical events: like is
//! compared with like, and the events left out are counted in the report.

use detc::ir::Value;
use serde_json::{json, Map, Value as J};
use std::collections::BTreeMap;

pub type Event = BTreeMap<String, Value>;

/// The raw-table families the emitted queries read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// Defender XDR advanced hunting DeviceNetworkEvents (time column `Timestamp`).
    DefenderDne,
    /// DeviceNetworkEvents in Sentinel / Log Analytics (time column `TimeGenerated`).
    SentinelDne,
    /// ASIM Network Session (`_Im_NetworkSession`).
    AsimNetworkSession,
    /// Sysmon Event ID 3 as JSON (Sigma `network_connection`, rsigma).
    SysmonJson,
    /// Sysmon Event ID 3 as Splunk indexes it (XmlWinEventLog, fields as strings).
    SysmonSplunk,
    /// Sigma generic `network` / `connection` (ECS-style names).
    SigmaNetwork,
    /// Splunk CIM Network_Traffic.All_Traffic data-model rows.
    CimNetworkTraffic,
    /// Splunk CIM Endpoint.Processes data-model rows (`Processes.` fields as strings).
    CimProcesses,
    /// Defender XDR advanced hunting DeviceProcessEvents (`Timestamp`; the new process is
    /// FileName/FolderPath/Process*, its parent InitiatingProcess*).
    DefenderProcess,
    /// ASIM Process Event, process creation (`_Im_ProcessCreate`): TargetProcess* the new
    /// process (full paths), ActingProcess* its parent, every process id a string (decimal text).
    AsimProcess,
    /// Sysmon Event ID 1 as JSON (Sigma `process_creation`, rsigma).
    SysmonProcessJson,
    /// Sysmon Event ID 1 as Splunk indexes it (fields as strings).
    SysmonProcessSplunk,
    /// Sigma `process_creation`, `product: macos` (rsigma): the taxonomy's generic Sysmon names,
    /// POSIX paths, none of the Windows-only fields.
    SigmaMacosProcessJson,
    /// Sysmon for Linux's Event ID 1 as the Splunk Add-on for Sysmon for Linux indexes it
    /// (sourcetype sysmon:linux, EventID; fields as strings).
    SysmonLinuxProcessSplunk,
    /// Sysmon Event ID 22 as JSON (Sigma `dns_query`, rsigma).
    SysmonDnsJson,
    /// Sysmon Event ID 22 as Splunk indexes it (fields as strings).
    SysmonDnsSplunk,
    /// Zeek smtp.log as JSON (Sigma `product: zeek, service: smtp`, rsigma): Zeek's own names,
    /// `rcptto` a JSON array.
    ZeekSmtpJson,
}

/// The DeviceProcessEvents columns written (from targets/schemas/kql-DeviceProcessEvents.yaml).
const DPE_COLUMNS: [(&str, &str); 14] = [
    ("ReportId", "long"),
    ("DeviceName", "string"),
    ("AccountDomain", "string"),
    ("AccountName", "string"),
    ("FileName", "string"),
    ("FolderPath", "string"),
    ("ProcessCommandLine", "string"),
    ("ProcessId", "long"),
    ("ProcessVersionInfoOriginalFileName", "string"),
    ("ProcessIntegrityLevel", "string"),
    ("SHA256", "string"),
    ("InitiatingProcessFileName", "string"),
    ("InitiatingProcessFolderPath", "string"),
    ("InitiatingProcessCommandLine", "string"),
];

/// Catalogue field -> ASIM Process Event column (learn.microsoft.com/azure/sentinel/
/// normalization-schema-process-event), besides the two image paths; every one a string.
const ASIM_PROCESS_COLUMNS: [(&str, &str); 12] = [
    ("host", "Dvc"),
    ("user", "TargetUsername"),
    ("process.command_line", "TargetProcessCommandLine"),
    ("process.original_name", "TargetProcessFileOriginalName"),
    ("process.integrity_level", "TargetProcessIntegrityLevel"),
    ("process.current_directory", "TargetProcessCurrentDirectory"),
    ("process.hash.sha256", "TargetProcessSHA256"),
    ("process.description", "TargetProcessFileDescription"),
    ("process.product", "TargetProcessFileProduct"),
    ("process.company", "TargetProcessFileCompany"),
    ("process.parent.command_line", "ActingProcessCommandLine"),
    ("process.parent.user", "ActorUsername"),
];

/// The process id an ASIM id text denotes: `Some(Some(n))` for decimal digits that fit a long
/// (`"0123"` is 123), `Some(None)` for text that denotes none: empty, no digit at all (`"n/a"`),
/// or digits past a long (the catalogue's ids are longs, and Kusto's `tolong` gives null when
/// "conversion isn't successful"). Text whose reading the references leave open (signs,
/// surrounding spaces, hexadecimal, which the schema asks parsers to convert) is no row: `None`.
fn asim_id(t: &str) -> Option<Option<i64>> {
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(t.parse::<i64>().ok());
    }
    if !t
        .bytes()
        .any(|b| b.is_ascii_digit() || b == b'+' || b == b'-' || b == b' ')
    {
        return Some(None);
    }
    None
}

/// One projected row: JSON for KQL (duckdb-kql) and Sigma (rsigma), strings for the SPL model.
#[derive(Debug, Clone)]
pub enum Row {
    Json(Map<String, J>),
    Splunk(BTreeMap<String, String>),
}

/// Column types of the KQL tables, for loading rows into duckdb-kql (from targets/schemas/).
pub fn kql_columns(f: Family) -> Vec<(&'static str, &'static str)> {
    match f {
        Family::DefenderDne | Family::SentinelDne => vec![
            (
                if f == Family::DefenderDne {
                    "Timestamp"
                } else {
                    "TimeGenerated"
                },
                "datetime",
            ),
            ("ReportId", "long"),
            ("DeviceName", "string"),
            ("ActionType", "string"),
            ("RemoteIP", "string"),
            ("RemotePort", "int"),
            ("RemoteUrl", "string"),
            ("LocalIP", "string"),
            ("LocalPort", "int"),
            ("Protocol", "string"),
            ("InitiatingProcessFileName", "string"),
            ("InitiatingProcessFolderPath", "string"),
            ("InitiatingProcessCommandLine", "string"),
            ("InitiatingProcessAccountDomain", "string"),
            ("InitiatingProcessAccountName", "string"),
            ("InitiatingProcessParentFileName", "string"),
            ("InitiatingProcessId", "long"),
        ],
        Family::AsimNetworkSession => vec![
            ("EventStartTime", "datetime"),
            ("EventOriginalUid", "string"),
            ("Dvc", "string"),
            ("SrcIpAddr", "string"),
            ("SrcPortNumber", "int"),
            ("DstIpAddr", "string"),
            ("DstPortNumber", "int"),
            ("NetworkProtocol", "string"),
            ("NetworkApplicationProtocol", "string"),
            ("SrcBytes", "long"),
            ("DstBytes", "long"),
        ],
        Family::DefenderProcess => {
            let mut v = vec![(time_field(f), "datetime")];
            v.extend(DPE_COLUMNS);
            v.push(("InitiatingProcessId", "long"));
            v
        }
        Family::AsimProcess => ASIM_PROCESS_COLUMNS
            .iter()
            .map(|(_, c)| (*c, "string"))
            .chain([
                ("TimeGenerated", "datetime"),
                ("EventOriginalUid", "string"),
                ("TargetProcessName", "string"),
                ("ActingProcessName", "string"),
                ("TargetProcessId", "string"),
                ("ActingProcessId", "string"),
            ])
            .collect(),
        _ => Vec::new(),
    }
}

/// The name of the time field of the projected rows (for ordering and windows).
pub fn time_field(f: Family) -> &'static str {
    match f {
        Family::DefenderDne => "Timestamp",
        Family::SentinelDne => "TimeGenerated",
        Family::AsimNetworkSession => "EventStartTime",
        Family::DefenderProcess => "Timestamp",
        Family::AsimProcess => "TimeGenerated",
        Family::SysmonJson
        | Family::SigmaNetwork
        | Family::SysmonProcessJson
        | Family::SigmaMacosProcessJson
        | Family::SysmonDnsJson => "@timestamp",
        Family::SysmonSplunk
        | Family::CimNetworkTraffic
        | Family::CimProcesses
        | Family::SysmonProcessSplunk
        | Family::SysmonLinuxProcessSplunk
        | Family::SysmonDnsSplunk => "_time",
        Family::ZeekSmtpJson => "ts",
    }
}

/// The column holding the event's index, so per-event alerts can be matched across engines.
pub fn id_field(f: Family) -> &'static str {
    match f {
        Family::DefenderDne | Family::SentinelDne | Family::DefenderProcess => "ReportId",
        Family::AsimNetworkSession | Family::AsimProcess => "EventOriginalUid",
        Family::SysmonJson
        | Family::SysmonSplunk
        | Family::SysmonProcessJson
        | Family::SysmonProcessSplunk
        | Family::SigmaMacosProcessJson
        | Family::SysmonLinuxProcessSplunk
        | Family::SysmonDnsJson
        | Family::SysmonDnsSplunk => "RecordID",
        Family::SigmaNetwork => "uid",
        Family::CimNetworkTraffic => "All_Traffic.event_id",
        Family::CimProcesses => "Processes.process_guid",
        Family::ZeekSmtpJson => "uid",
    }
}

pub fn rfc3339(t: i64) -> String {
    detc::eval::time::format(t)
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Enum(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Ip(ip) => ip.to_string(),
        Value::Timestamp(t) => rfc3339(*t),
    }
}

fn jv(v: &Value) -> J {
    match v {
        Value::Int(i) => json!(i),
        other => J::String(text(other)),
    }
}

/// Fields of the catalogue each family can carry (others are dropped from the canonical event:
/// a rule reading them is not emitted for that target, so dropping them changes no alert).
fn carried(f: Family) -> &'static [&'static str] {
    match f {
        Family::DefenderDne | Family::SentinelDne => &[
            "time",
            "host",
            "user",
            "process.name",
            "process.path",
            "process.command_line",
            "process.parent.name",
            "process.id",
            "local.ip",
            "local.port",
            "remote.ip",
            "remote.port",
            "remote.host",
            "outcome",
            "direction",
            "transport",
        ],
        Family::SysmonJson | Family::SysmonSplunk => &[
            "time",
            "host",
            "user",
            "process.name",
            "process.path",
            "process.id",
            "local.ip",
            "local.port",
            "remote.ip",
            "remote.port",
            "remote.host",
            "direction",
            "transport",
        ],
        Family::AsimNetworkSession => &[
            "time",
            "host",
            "src.ip",
            "src.port",
            "dst.ip",
            "dst.port",
            "transport",
            "app.protocol",
            "bytes.sent",
            "bytes.received",
        ],
        Family::AsimProcess => &[
            "time",
            "host",
            "user",
            "process.name",
            "process.path",
            "process.command_line",
            "process.original_name",
            "process.integrity_level",
            "process.current_directory",
            "process.hash.sha256",
            "process.description",
            "process.product",
            "process.company",
            "process.parent.name",
            "process.parent.path",
            "process.parent.command_line",
            "process.parent.user",
            "process.id",
            "process.parent.id",
        ],
        Family::DefenderProcess => &[
            "time",
            "host",
            "user",
            "process.name",
            "process.path",
            "process.command_line",
            "process.id",
            "process.original_name",
            "process.integrity_level",
            "process.hash.sha256",
            "process.parent.name",
            "process.parent.path",
            "process.parent.command_line",
            "process.parent.id",
        ],
        Family::SysmonProcessJson | Family::SysmonProcessSplunk => &[
            "time",
            "host",
            "user",
            "process.name",
            "process.path",
            "process.command_line",
            "process.id",
            "process.original_name",
            "process.integrity_level",
            "process.current_directory",
            "process.parent.name",
            "process.parent.path",
            "process.parent.command_line",
            "process.parent.id",
        ],
        // Sysmon for Linux's EventID 1: no version resource nor integrity level (`-`).
        // Sigma's macOS process_creation: the same generic fields (sigma-process_creation-macos).
        Family::SysmonLinuxProcessSplunk | Family::SigmaMacosProcessJson => &[
            "time",
            "host",
            "user",
            "process.name",
            "process.path",
            "process.command_line",
            "process.id",
            "process.current_directory",
            "process.parent.name",
            "process.parent.path",
            "process.parent.command_line",
            "process.parent.id",
        ],
        // Sysmon EventID 22: the asking process and the query; no type, no addresses, and
        // QueryStatus is a Windows status code (outcome is refused on these targets).
        Family::SysmonDnsJson | Family::SysmonDnsSplunk => &[
            "time",
            "host",
            "user",
            "process.name",
            "process.path",
            "process.id",
            "query.name",
            "answers",
        ],
        // What smtp.log has (the attachments are files.log's: refused on Sigma).
        Family::ZeekSmtpJson => &[
            "time",
            "client.ip",
            "client.port",
            "server.ip",
            "server.port",
            "mail.from",
            "mail.to",
            "helo",
            "status",
            "subject",
            "user_agent",
        ],
        Family::CimProcesses => &[
            "time",
            "host",
            "user",
            "process.name",
            "process.path",
            "process.command_line",
            "process.original_name",
            "process.integrity_level",
            "process.current_directory",
            "process.parent.name",
            "process.parent.path",
            "process.parent.command_line",
        ],
        Family::SigmaNetwork | Family::CimNetworkTraffic => &[
            "time",
            "src.ip",
            "src.port",
            "dst.ip",
            "dst.port",
            "transport",
            "app.protocol",
            "bytes.sent",
            "bytes.received",
            "duration",
        ],
    }
}

fn enum_of<'a>(ev: &'a Event, k: &str) -> Option<&'a str> {
    match ev.get(k) {
        Some(Value::Enum(s)) | Some(Value::Str(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// Whether `col` is an integer column of the KQL table (`kql_columns`).
fn kql_int(f: Family, col: &str) -> bool {
    kql_columns(f)
        .iter()
        .any(|(c, t)| *c == col && matches!(*t, "int" | "long"))
}

/// Writes `field` into a KQL row. An integer column cannot hold text (Kusto's ingestion stores a
/// value that does not convert as null: "Data mappings", learn.microsoft.com/kusto/management/
/// mappings), so an empty or unparsable value there is null, and the event it denotes has the
/// field missing. A string column (addresses) keeps the text as it is.
fn put_kql(m: &mut Map<String, J>, canon: &mut Event, field: &str, col: &str, int_col: bool) {
    match canon.get(field) {
        None => {}
        Some(Value::Str(_)) if int_col => {
            canon.remove(field);
        }
        Some(v) => {
            m.insert(col.into(), jv(v));
        }
    }
}

/// Sysmon's image column (a full path) for the catalogue's `name`/`path` pair: the path when both
/// agree, a made-up folder for a name alone; `Err` when no path can denote them.
fn sysmon_image(canon: &mut Event, name: &str, path: &str) -> Result<Option<String>, ()> {
    match (canon.get(name).cloned(), canon.get(path).cloned()) {
        (Some(Value::Str(n)), None) => {
            if n.contains('\\') || n.contains('/') {
                return Err(());
            }
            let p = format!("C:\\Program Files\\Vendor App\\{n}");
            canon.insert(path.into(), Value::Str(p.clone()));
            Ok(Some(p))
        }
        (Some(Value::Str(n)), Some(Value::Str(p))) => {
            if p.rsplit(['\\', '/']).next() != Some(n.as_str()) {
                return Err(());
            }
            Ok(Some(p))
        }
        (None, None) => Ok(None),
        (None, Some(Value::Str(p))) => {
            let n = p.rsplit(['\\', '/']).next().unwrap_or("").to_string();
            if n.is_empty() {
                return Err(());
            }
            canon.insert(name.into(), Value::Str(n));
            Ok(Some(p))
        }
        _ => Err(()),
    }
}

/// A Linux image path for a name, as [`sysmon_image`] makes Windows ones: a name alone is put in
/// a vendor folder; a name and a path must agree; a name with a separator has no path.
fn linux_image(canon: &mut Event, name: &str, path: &str) -> Result<Option<String>, ()> {
    if let (Some(Value::Str(n)), None) = (canon.get(name).cloned(), canon.get(path)) {
        if n.contains('\\') || n.contains('/') {
            return Err(());
        }
        let p = format!("/opt/vendor/bin/{n}");
        canon.insert(path.into(), Value::Str(p.clone()));
        return Ok(Some(p));
    }
    sysmon_image(canon, name, path)
}

/// Projects event number `idx`; `None` when no row of the family can denote it.
pub fn project(f: Family, idx: usize, ev: &Event) -> Option<(Row, Event)> {
    let mut canon: Event = ev
        .iter()
        .filter(|(k, _)| carried(f).contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // A process id written as text (`Value::Str`, as ASIM's string columns hold it) is a row of
    // an ASIM table only: every other table holds the id as a number.
    let text_id = ["process.id", "process.parent.id"]
        .iter()
        .any(|k| matches!(canon.get(*k), Some(Value::Str(_))));
    if text_id && f != Family::AsimProcess {
        return None;
    }
    // Every engine needs a time to order events and to window them.
    let t = match canon.get("time") {
        Some(Value::Timestamp(t)) => *t,
        _ => return None,
    };
    match f {
        Family::DefenderDne | Family::SentinelDne => {
            // ActionType carries both direction and outcome (Defender's documented values), as
            // targets/inputs/defender.yaml reads them back: InboundConnectionAccepted is an
            // inbound connection that succeeded (the profile's `succeeded` values), so an inbound
            // event without an outcome has no ActionType of its own and is not projected (it was
            // projected as InboundConnectionAccepted, which means something else: the engines
            // then counted a succeeded connection the evaluator, rightly, did not).
            let action = match (enum_of(&canon, "direction"), enum_of(&canon, "outcome")) {
                (Some("outbound"), Some("succeeded")) => "ConnectionSuccess",
                (Some("outbound"), Some("failed")) => "ConnectionFailed",
                (Some("outbound"), None) => "ConnectionAttempt",
                (Some("inbound"), Some("succeeded")) => "InboundConnectionAccepted",
                (None, None) => "ListeningConnectionCreated",
                _ => return None,
            };
            let transport = match enum_of(&canon, "transport") {
                Some("tcp") => Some("Tcp"),
                Some("udp") => Some("Udp"),
                Some("icmp") => Some("Icmp"),
                Some(_) => return None,
                None => None,
            };
            let mut m = Map::new();
            m.insert(time_field(f).into(), J::String(rfc3339(t)));
            m.insert("ReportId".into(), json!(idx));
            m.insert("ActionType".into(), J::String(action.into()));
            if let Some(p) = transport {
                m.insert("Protocol".into(), J::String(p.into()));
            }
            // Defender splits the account: InitiatingProcessAccountDomain \ InitiatingProcessAccountName.
            if let Some(u) = canon.get("user") {
                let u = text(u);
                match u.split_once('\\') {
                    Some((d, n)) if !d.is_empty() && !n.is_empty() => {
                        m.insert("InitiatingProcessAccountDomain".into(), J::String(d.into()));
                        m.insert("InitiatingProcessAccountName".into(), J::String(n.into()));
                    }
                    Some(_) => return None,
                    None => {
                        m.insert("InitiatingProcessAccountName".into(), J::String(u));
                    }
                }
            }
            for (field, col) in [
                ("host", "DeviceName"),
                ("process.name", "InitiatingProcessFileName"),
                ("process.path", "InitiatingProcessFolderPath"),
                ("process.command_line", "InitiatingProcessCommandLine"),
                ("process.parent.name", "InitiatingProcessParentFileName"),
                ("process.id", "InitiatingProcessId"),
                ("local.ip", "LocalIP"),
                ("local.port", "LocalPort"),
                ("remote.ip", "RemoteIP"),
                ("remote.port", "RemotePort"),
                ("remote.host", "RemoteUrl"),
            ] {
                put_kql(&mut m, &mut canon, field, col, kql_int(f, col));
            }
            Some((Row::Json(m), canon))
        }
        Family::AsimNetworkSession => {
            let transport = match enum_of(&canon, "transport") {
                Some("tcp") => Some("TCP"),
                Some("udp") => Some("UDP"),
                Some("icmp") => Some("ICMP"),
                Some(_) => return None,
                None => None,
            };
            let mut m = Map::new();
            m.insert("EventStartTime".into(), J::String(rfc3339(t)));
            m.insert("EventOriginalUid".into(), J::String(idx.to_string()));
            if let Some(p) = transport {
                m.insert("NetworkProtocol".into(), J::String(p.into()));
            }
            for (field, col) in [
                ("host", "Dvc"),
                ("src.ip", "SrcIpAddr"),
                ("src.port", "SrcPortNumber"),
                ("dst.ip", "DstIpAddr"),
                ("dst.port", "DstPortNumber"),
                ("app.protocol", "NetworkApplicationProtocol"),
                ("bytes.sent", "SrcBytes"),
                ("bytes.received", "DstBytes"),
            ] {
                put_kql(&mut m, &mut canon, field, col, kql_int(f, col));
            }
            Some((Row::Json(m), canon))
        }
        Family::SysmonJson | Family::SysmonSplunk => {
            // Sysmon always knows who initiated (Initiated) and names the initiator Source.
            let outbound = match enum_of(&canon, "direction") {
                Some("outbound") => true,
                Some("inbound") => false,
                _ => return None,
            };
            let transport = match enum_of(&canon, "transport") {
                Some(t @ ("tcp" | "udp")) => Some(t.to_string()),
                Some(_) => return None,
                None => None,
            };
            // Image is a full path; the catalogue's process.name is its file name.
            let (pn, pp) = (
                canon.get("process.name").cloned(),
                canon.get("process.path").cloned(),
            );
            let image = match (pn.as_ref(), pp.as_ref()) {
                (Some(Value::Str(n)), None) => {
                    if n.contains('\\') {
                        return None;
                    }
                    let p = format!("C:\\Program Files\\Vendor App\\{n}");
                    canon.insert("process.path".into(), Value::Str(p.clone()));
                    Some(p)
                }
                (Some(Value::Str(n)), Some(Value::Str(p))) => {
                    if p.rsplit('\\').next() != Some(n.as_str()) {
                        return None;
                    }
                    Some(p.clone())
                }
                (None, None) => None,
                (None, Some(Value::Str(p))) => {
                    let n = p.rsplit('\\').next().unwrap_or("").to_string();
                    if n.is_empty() {
                        return None;
                    }
                    canon.insert("process.name".into(), Value::Str(n));
                    Some(p.clone())
                }
                _ => return None,
            };
            let (src, dst) = if outbound {
                (("local.ip", "local.port"), ("remote.ip", "remote.port"))
            } else {
                (("remote.ip", "remote.port"), ("local.ip", "local.port"))
            };
            if !outbound && canon.contains_key("remote.host") {
                // DestinationHostname names the local side for an inbound connection.
                return None;
            }
            let cols: Vec<(&str, Option<Value>)> = vec![
                ("Computer", canon.get("host").cloned()),
                ("User", canon.get("user").cloned()),
                ("Image", image.map(Value::Str)),
                ("ProcessId", canon.get("process.id").cloned()),
                ("Initiated", Some(Value::Str(outbound.to_string()))),
                ("Protocol", transport.map(Value::Str)),
                ("SourceIp", canon.get(src.0).cloned()),
                ("SourcePort", canon.get(src.1).cloned()),
                ("DestinationIp", canon.get(dst.0).cloned()),
                ("DestinationPort", canon.get(dst.1).cloned()),
                ("DestinationHostname", canon.get("remote.host").cloned()),
            ];
            let row = sysmon_row(f == Family::SysmonJson, 3, t, idx, cols);
            Some((row, canon))
        }
        Family::AsimProcess => {
            // TargetProcessName / ActingProcessName are full paths (the schema's example
            // `C:\Windows\explorer.exe`); the catalogue's names are their file names.
            let image = sysmon_image(&mut canon, "process.name", "process.path").ok()?;
            let parent =
                sysmon_image(&mut canon, "process.parent.name", "process.parent.path").ok()?;
            let mut m = Map::new();
            m.insert("TimeGenerated".into(), J::String(rfc3339(t)));
            m.insert("EventOriginalUid".into(), J::String(idx.to_string()));
            if let Some(p) = image {
                m.insert("TargetProcessName".into(), J::String(p));
            }
            if let Some(p) = parent {
                m.insert("ActingProcessName".into(), J::String(p));
            }
            for (field, col) in ASIM_PROCESS_COLUMNS {
                if let Some(v) = canon.get(field) {
                    m.insert(col.into(), J::String(text(v)));
                }
            }
            // The process ids are strings that "on Windows and Linux ... must be numeric" (the
            // schema reference): a number is written as its decimal text; a text is written as
            // it is and means what it holds as a number, if any (`asim_id`).
            for (field, col) in [
                ("process.id", "TargetProcessId"),
                ("process.parent.id", "ActingProcessId"),
            ] {
                match canon.get(field).cloned() {
                    None => {}
                    Some(Value::Int(n)) => {
                        m.insert(col.into(), J::String(n.to_string()));
                    }
                    Some(Value::Str(t)) => {
                        match asim_id(&t)? {
                            Some(n) => canon.insert(field.into(), Value::Int(n)),
                            None => canon.remove(field),
                        };
                        m.insert(col.into(), J::String(t));
                    }
                    Some(_) => return None,
                }
            }
            Some((Row::Json(m), canon))
        }
        Family::DefenderProcess => {
            let mut m = Map::new();
            m.insert(time_field(f).into(), J::String(rfc3339(t)));
            m.insert("ReportId".into(), json!(idx));
            // Defender splits the account: AccountDomain \ AccountName.
            if let Some(u) = canon.get("user") {
                let u = text(u);
                match u.split_once('\\') {
                    Some((d, n)) if !d.is_empty() && !n.is_empty() => {
                        m.insert("AccountDomain".into(), J::String(d.into()));
                        m.insert("AccountName".into(), J::String(n.into()));
                    }
                    Some(_) => return None,
                    None => {
                        m.insert("AccountName".into(), J::String(u));
                    }
                }
            }
            for (field, col) in [
                ("host", "DeviceName"),
                ("process.name", "FileName"),
                ("process.path", "FolderPath"),
                ("process.command_line", "ProcessCommandLine"),
                ("process.id", "ProcessId"),
                (
                    "process.original_name",
                    "ProcessVersionInfoOriginalFileName",
                ),
                ("process.integrity_level", "ProcessIntegrityLevel"),
                ("process.hash.sha256", "SHA256"),
                ("process.parent.name", "InitiatingProcessFileName"),
                ("process.parent.path", "InitiatingProcessFolderPath"),
                (
                    "process.parent.command_line",
                    "InitiatingProcessCommandLine",
                ),
                ("process.parent.id", "InitiatingProcessId"),
            ] {
                put_kql(&mut m, &mut canon, field, col, kql_int(f, col));
            }
            Some((Row::Json(m), canon))
        }
        Family::SysmonProcessJson | Family::SysmonProcessSplunk => {
            let image = sysmon_image(&mut canon, "process.name", "process.path").ok()?;
            let parent =
                sysmon_image(&mut canon, "process.parent.name", "process.parent.path").ok()?;
            let cols: Vec<(&str, Option<Value>)> = vec![
                ("Computer", canon.get("host").cloned()),
                ("User", canon.get("user").cloned()),
                ("Image", image.map(Value::Str)),
                ("CommandLine", canon.get("process.command_line").cloned()),
                ("ProcessId", canon.get("process.id").cloned()),
                (
                    "OriginalFileName",
                    canon.get("process.original_name").cloned(),
                ),
                (
                    "IntegrityLevel",
                    canon.get("process.integrity_level").cloned(),
                ),
                (
                    "CurrentDirectory",
                    canon.get("process.current_directory").cloned(),
                ),
                ("ParentImage", parent.map(Value::Str)),
                (
                    "ParentCommandLine",
                    canon.get("process.parent.command_line").cloned(),
                ),
                ("ParentProcessId", canon.get("process.parent.id").cloned()),
            ];
            let row = sysmon_row(f == Family::SysmonProcessJson, 1, t, idx, cols);
            Some((row, canon))
        }
        Family::SigmaMacosProcessJson => {
            let image = linux_image(&mut canon, "process.name", "process.path").ok()?;
            let parent =
                linux_image(&mut canon, "process.parent.name", "process.parent.path").ok()?;
            let mut m = Map::new();
            m.insert("@timestamp".into(), J::String(rfc3339(t)));
            m.insert("RecordID".into(), json!(idx));
            let cols: Vec<(&str, Option<Value>)> = vec![
                ("User", canon.get("user").cloned()),
                ("Image", image.map(Value::Str)),
                ("CommandLine", canon.get("process.command_line").cloned()),
                ("ProcessId", canon.get("process.id").cloned()),
                (
                    "CurrentDirectory",
                    canon.get("process.current_directory").cloned(),
                ),
                ("ParentImage", parent.map(Value::Str)),
                (
                    "ParentCommandLine",
                    canon.get("process.parent.command_line").cloned(),
                ),
                ("ParentProcessId", canon.get("process.parent.id").cloned()),
            ];
            for (c, v) in cols.into_iter().filter_map(|(c, v)| Some((c, v?))) {
                m.insert(c.into(), jv(&v));
            }
            Some((Row::Json(m), canon))
        }
        Family::CimProcesses => {
            // The CIM's Processes fields (the Endpoint reference page; Splunk's detections):
            // process is the command line, process_name the file name of process_path.
            let image = sysmon_image(&mut canon, "process.name", "process.path").ok()?;
            let parent =
                sysmon_image(&mut canon, "process.parent.name", "process.parent.path").ok()?;
            let mut r = BTreeMap::new();
            r.insert("_time".into(), t.to_string());
            r.insert("Processes.process_guid".into(), idx.to_string());
            if let Some(p) = image {
                r.insert("Processes.process_path".into(), p);
            }
            if let Some(p) = parent {
                r.insert("Processes.parent_process_path".into(), p);
            }
            for (field, col) in [
                ("host", "dest"),
                ("user", "user"),
                ("process.name", "process_name"),
                ("process.command_line", "process"),
                ("process.original_name", "original_file_name"),
                ("process.integrity_level", "process_integrity_level"),
                ("process.current_directory", "process_current_directory"),
                ("process.parent.name", "parent_process_name"),
                ("process.parent.command_line", "parent_process"),
            ] {
                if let Some(v) = canon.get(field) {
                    r.insert(format!("Processes.{col}"), text(v));
                }
            }
            Some((Row::Splunk(r), canon))
        }
        Family::SysmonLinuxProcessSplunk => {
            let image = linux_image(&mut canon, "process.name", "process.path").ok()?;
            let parent =
                linux_image(&mut canon, "process.parent.name", "process.parent.path").ok()?;
            let mut r = BTreeMap::new();
            r.insert("_time".into(), t.to_string());
            r.insert("sourcetype".into(), "sysmon:linux".into());
            r.insert("EventID".into(), "1".into());
            r.insert("RecordID".into(), idx.to_string());
            let cols: Vec<(&str, Option<Value>)> = vec![
                ("Computer", canon.get("host").cloned()),
                ("User", canon.get("user").cloned()),
                ("Image", image.map(Value::Str)),
                ("CommandLine", canon.get("process.command_line").cloned()),
                ("ProcessId", canon.get("process.id").cloned()),
                (
                    "CurrentDirectory",
                    canon.get("process.current_directory").cloned(),
                ),
                ("ParentImage", parent.map(Value::Str)),
                (
                    "ParentCommandLine",
                    canon.get("process.parent.command_line").cloned(),
                ),
                ("ParentProcessId", canon.get("process.parent.id").cloned()),
            ];
            for (c, v) in cols.into_iter().filter_map(|(c, v)| Some((c, v?))) {
                r.insert(c.into(), text(&v));
            }
            Some((Row::Splunk(r), canon))
        }
        Family::ZeekSmtpJson => {
            let mut m = Map::new();
            m.insert("ts".into(), J::String(rfc3339(t)));
            m.insert("uid".into(), json!(idx));
            for (field, col) in [
                ("client.ip", "id.orig_h"),
                ("client.port", "id.orig_p"),
                ("server.ip", "id.resp_h"),
                ("server.port", "id.resp_p"),
                ("mail.from", "mailfrom"),
                ("helo", "helo"),
                ("status", "last_reply"),
                ("subject", "subject"),
                ("user_agent", "user_agent"),
            ] {
                if let Some(v) = canon.get(field) {
                    m.insert(col.into(), jv(v));
                }
            }
            // A set: Zeek's JSON writer gives an array, one string per recipient.
            if let Some(Value::Str(to)) = canon.get("mail.to") {
                let xs: Vec<J> = to
                    .split(detc::eval::ops::LIST_SEP)
                    .map(|x| J::String(x.to_string()))
                    .collect();
                m.insert("rcptto".into(), J::Array(xs));
            }
            Some((Row::Json(m), canon))
        }
        Family::SysmonDnsJson | Family::SysmonDnsSplunk => {
            let image = sysmon_image(&mut canon, "process.name", "process.path").ok()?;
            let cols: Vec<(&str, Option<Value>)> = vec![
                ("Computer", canon.get("host").cloned()),
                ("User", canon.get("user").cloned()),
                ("Image", image.map(Value::Str)),
                ("ProcessId", canon.get("process.id").cloned()),
                ("QueryName", canon.get("query.name").cloned()),
                ("QueryResults", canon.get("answers").cloned()),
            ];
            let row = sysmon_row(f == Family::SysmonDnsJson, 22, t, idx, cols);
            Some((row, canon))
        }
        Family::SigmaNetwork | Family::CimNetworkTraffic => {
            let transport = match enum_of(&canon, "transport") {
                Some(t @ ("tcp" | "udp" | "icmp")) => Some(t.to_string()),
                Some(_) => return None,
                None => None,
            };
            let names: [(&str, &str, &str); 8] = [
                ("src.ip", "id.orig_h", "src_ip"),
                ("src.port", "id.orig_p", "src_port"),
                ("dst.ip", "id.resp_h", "dest_ip"),
                ("dst.port", "id.resp_p", "dest_port"),
                ("app.protocol", "service", "app"),
                ("bytes.sent", "orig_bytes", "bytes_out"),
                ("bytes.received", "resp_bytes", "bytes_in"),
                ("duration", "duration", "duration"),
            ];
            if f == Family::SigmaNetwork {
                let mut m = Map::new();
                m.insert("@timestamp".into(), J::String(rfc3339(t)));
                m.insert("uid".into(), json!(idx.to_string()));
                if let Some(tr) = transport {
                    m.insert("proto".into(), J::String(tr));
                }
                for (field, col, _) in names {
                    if let Some(v) = canon.get(field) {
                        m.insert(col.into(), jv(v));
                    }
                }
                Some((Row::Json(m), canon))
            } else {
                let mut r = BTreeMap::new();
                r.insert("_time".into(), t.to_string());
                r.insert("All_Traffic.event_id".into(), idx.to_string());
                if let Some(tr) = transport {
                    r.insert("All_Traffic.transport".into(), tr);
                }
                for (field, _, col) in names {
                    if let Some(v) = canon.get(field) {
                        r.insert(format!("All_Traffic.{col}"), text(v));
                    }
                }
                Some((Row::Splunk(r), canon))
            }
        }
    }
}

/// A Sysmon event of `event_id` holding `cols` (a missing value is no column), as flat JSON
/// (`json`) or as Splunk indexes it (XmlWinEventLog).
fn sysmon_row(
    json: bool,
    event_id: u32,
    t: i64,
    idx: usize,
    cols: Vec<(&str, Option<Value>)>,
) -> Row {
    let cols = cols.into_iter().filter_map(|(c, v)| Some((c, v?)));
    if json {
        let mut m = Map::new();
        m.insert("@timestamp".into(), J::String(rfc3339(t)));
        m.insert("EventID".into(), json!(event_id));
        m.insert("RecordID".into(), json!(idx));
        m.insert(
            "Channel".into(),
            J::String("Microsoft-Windows-Sysmon/Operational".into()),
        );
        for (c, v) in cols {
            m.insert(c.into(), jv(&v));
        }
        Row::Json(m)
    } else {
        let mut r = BTreeMap::new();
        r.insert("_time".into(), t.to_string());
        r.insert("sourcetype".into(), "XmlWinEventLog".into());
        r.insert(
            "source".into(),
            "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational".into(),
        );
        r.insert("EventCode".into(), event_id.to_string());
        r.insert("RecordID".into(), idx.to_string());
        for (c, v) in cols {
            r.insert(c.into(), text(&v));
        }
        Row::Splunk(r)
    }
}
