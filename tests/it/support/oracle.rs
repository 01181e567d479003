//! Adapters to the external oracles installed by `scripts/install-oracles.sh`:
//! - [`kusto_check`]: Microsoft's Kusto.Language (npm `@kusto/language-service-next`), parse and
//!   semantic diagnostics for many KQL queries in one node process (`oracles/kusto/check.js`);
//! - [`sigma_check`]: `sigma check` from sigma-cli 3.1.0 / pySigma 1.5.1;
//! - [`sigma_convert`]: pySigma's kusto (`microsoft_xdr`) and splunk (`splunk_windows`) backends
//!   (`oracles/sigma/convert.py`);
//! - [`navlayers_load`]: mitreattack-python's `navlayers` loading ATT&CK Navigator layers
//!   (`oracles/navigator/load_layers.py`);
//! - [`duckdb_kql`]: a KQL query run by PyPI `duckdb-kql` over rows loaded into DuckDB
//!   (`oracles/duckdb/run_kql.py`).
//!
//! A missing oracle is an `Err` that says how to install it: callers `expect`/`unwrap` it, so
//! the test fails; nothing here ever skips.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const INSTALL_HINT: &str = "run `bash scripts/install-oracles.sh` (installs the pinned \
     oracles into oracles/kusto/node_modules and .oracles/venv)";

/// The checkout the tests run in: `cargo test` sets CARGO_MANIFEST_DIR for the test process too;
/// the compile-time value is the fallback (it goes stale when a target dir is shared between
/// checkouts).
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn venv_bin(name: &str) -> Result<PathBuf, String> {
    let p = repo_root().join(".oracles/venv/bin").join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "oracle missing: {} not found; {INSTALL_HINT}",
            p.display()
        ))
    }
}

/// Runs `cmd` with `stdin` piped in; returns (exit code, stdout, stderr).
fn run(mut cmd: Command, stdin: &[u8]) -> Result<(i32, String, String), String> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}; {INSTALL_HINT}"))?;
    if let Some(mut input) = child.stdin.take() {
        // A child that exits early closes its stdin; its stderr then says why.
        let _ = input.write_all(stdin);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{shown}: {e}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// duckdb-kql runs (`oracles/duckdb/run_kql.py --serve`), kept for the whole test run: starting
/// python and importing duckdb-kql takes about 1.5 s, longer than most queries, and the
/// differential tests run hundreds. Each request gets a new connection and no state from an
/// earlier one (run_kql.py, `load_and_run`). A process is used by one test at a time; there are
/// as many as tests asked at once.
struct KqlServer {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

static KQL_SERVERS: std::sync::Mutex<Vec<KqlServer>> = std::sync::Mutex::new(Vec::new());

impl KqlServer {
    fn start() -> Result<Self, String> {
        let mut cmd = Command::new(venv_bin("python")?);
        cmd.arg(repo_root().join("oracles/duckdb/run_kql.py"))
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {shown}: {e}; {INSTALL_HINT}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(format!("{shown}: no pipes"));
        };
        Ok(KqlServer {
            child,
            stdin,
            stdout: std::io::BufReader::new(stdout),
        })
    }

    /// One request, one reply line: (exit code, stdout, stderr) as a one-shot run gives them.
    fn ask(&mut self, input: &Value) -> Result<(i32, String, String), String> {
        use std::io::BufRead;
        let mut line = input.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("duckdb-kql oracle: cannot send the request: {e}"))?;
        let mut reply = String::new();
        let n = self
            .stdout
            .read_line(&mut reply)
            .map_err(|e| format!("duckdb-kql oracle: cannot read the reply: {e}"))?;
        if n == 0 {
            return Err(format!(
                "duckdb-kql oracle exited ({:?}) without a reply; {INSTALL_HINT}",
                self.child.try_wait()
            ));
        }
        let v: Value = serde_json::from_str(&reply)
            .map_err(|e| format!("duckdb-kql oracle reply {reply:?}: {e}"))?;
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let code = v["code"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .ok_or_else(|| format!("duckdb-kql oracle reply without a code: {reply:?}"))?;
        Ok((code, text("stdout"), text("stderr")))
    }
}

/// Runs one run_kql.py request on a pooled server; a server that failed is dropped (killed).
pub fn kql_oracle(input: &Value) -> Result<(i32, String, String), String> {
    let idle = KQL_SERVERS.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut server = match idle {
        Some(s) => s,
        None => KqlServer::start()?,
    };
    match server.ask(input) {
        Ok(reply) => {
            KQL_SERVERS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(server);
            Ok(reply)
        }
        Err(e) => {
            let _ = server.child.kill();
            let _ = server.child.wait();
            Err(e)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kusto.Language

/// One diagnostic from Kusto.Language, offsets in UTF-16 code units of the query text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KustoDiag {
    pub code: String,
    pub severity: String,
    pub message: String,
    pub start: usize,
    pub end: usize,
    /// The query text between `start` and `end` (what the diagnostic points at).
    pub snippet: String,
    /// From the best-practice analyzers (`KustoCodeService.GetAnalyzerDiagnostics`, only when
    /// asked for), not from `KustoCode.GetDiagnostics`.
    pub analyzer: bool,
}

/// Checks every query against a database holding `tables` (name, `"(col:type, ...)"`), with
/// Kusto.Language's `ParseAndAnalyze` + `GetDiagnostics`. Returns, per query in input order, its
/// name and its diagnostics (errors and warnings alike; filter on `severity` as needed).
pub fn kusto_check(
    tables: &[(&str, &str)],
    queries: &[(&str, &str)],
) -> Result<Vec<(String, Vec<KustoDiag>)>, String> {
    let input = serde_json::json!({
        "database": "db",
        "tables": tables.iter().map(|(n, s)| (n.to_string(), Value::from(*s)))
            .collect::<serde_json::Map<String, Value>>(),
        "queries": queries.iter().map(|(n, t)| serde_json::json!({"name": n, "text": t}))
            .collect::<Vec<_>>(),
    });
    run_kusto(&input)
}

/// The unifying ASIM parser's own parameter list (Azure/Azure-Sentinel,
/// Parsers/ASimNetworkSession/Parsers/imNetworkSession.yaml, ParserParams).
pub const IM_NETWORK_SESSION_PARAMETERS: &str = "(starttime:datetime=datetime(null), \
    endtime:datetime=datetime(null), srcipaddr_has_any_prefix:dynamic=dynamic([]), \
    dstipaddr_has_any_prefix:dynamic=dynamic([]), ipaddr_has_any_prefix:dynamic=dynamic([]), \
    dstportnumber:int=int(null), hostname_has_any:dynamic=dynamic([]), \
    dvcaction:dynamic=dynamic([]), eventresult:string='*')";

/// A profile's tables for Kusto.Language, `_Im_NetworkSession` declared as the function it is
/// (over its rows as `_Im_NetworkSession_Rows`), so that a call with parameters is checked
/// against the parser's parameter list.
pub fn kusto_tables(tables: &[(String, String)]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (name, schema) in tables {
        if name == "_Im_NetworkSession" {
            out.insert(format!("{name}_Rows"), Value::from(schema.as_str()));
            out.insert(
                name.clone(),
                serde_json::json!({
                    "parameters": IM_NETWORK_SESSION_PARAMETERS,
                    "body": format!("{{ {name}_Rows }}"),
                }),
            );
        } else {
            out.insert(name.clone(), Value::from(schema.as_str()));
        }
    }
    out
}

/// [`kusto_check`] with each table given as JSON: a schema string `"(col:type, ...)"`, or a stored
/// function `{"parameters": "(p:int=int(null), ...)", "body": "{ T }"}` (an ASIM parser that a
/// query calls with named arguments).
pub fn kusto_check_json(
    tables: serde_json::Map<String, Value>,
    queries: &[(&str, &str)],
) -> Result<Vec<(String, Vec<KustoDiag>)>, String> {
    let input = serde_json::json!({
        "database": "db",
        "tables": tables,
        "queries": queries.iter().map(|(n, t)| serde_json::json!({"name": n, "text": t}))
            .collect::<Vec<_>>(),
    });
    run_kusto(&input)
}

/// How many statements Kusto.Language parses each query into (no database needed: parsing
/// only). A header comment ended early by a line break shows as an extra statement.
pub fn kusto_statements(queries: &[&str]) -> Result<Vec<usize>, String> {
    let input = serde_json::json!({
        "tables": {},
        "queries": queries.iter().enumerate()
            .map(|(i, t)| serde_json::json!({"name": i.to_string(), "text": t}))
            .collect::<Vec<_>>(),
    });
    let doc = run_kusto_doc(&input)?;
    let results = doc["results"]
        .as_array()
        .ok_or("kusto oracle output has no results array")?;
    results
        .iter()
        .map(|r| {
            r["statements"]
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| "kusto oracle result without statements".to_string())
        })
        .collect()
}

/// Every keyword Kusto.Language knows (`SyntaxFacts.Keywords`), with whether it may also be used
/// as a bare identifier (`IsKeywordThatCanBeIdentifier`), sorted.
pub fn kusto_keywords() -> Result<Vec<(String, bool)>, String> {
    let input = serde_json::json!({"tables": {}, "queries": [], "keywords": true});
    let doc = run_kusto_doc(&input)?;
    let words = doc["keywords"]
        .as_array()
        .ok_or("kusto oracle output has no keywords array")?;
    Ok(words
        .iter()
        .map(|w| {
            (
                w["text"].as_str().unwrap_or_default().to_string(),
                w["can_be_identifier"].as_bool().unwrap_or_default(),
            )
        })
        .collect())
}

/// Runs oracles/kusto/check.js on `input`; its whole output document.
fn run_kusto_doc(input: &Value) -> Result<Value, String> {
    let script = repo_root().join("oracles/kusto/check.js");
    let lib = repo_root().join("oracles/kusto/node_modules/@kusto/language-service-next");
    if !lib.is_dir() {
        return Err(format!(
            "oracle missing: {} not found; {INSTALL_HINT}",
            lib.display()
        ));
    }
    let mut cmd = Command::new("node");
    cmd.arg(&script);
    let (code, stdout, stderr) = run(cmd, input.to_string().as_bytes())?;
    if code != 0 {
        return Err(format!("kusto oracle exited {code}: {stderr}"));
    }
    serde_json::from_str(&stdout).map_err(|e| format!("kusto oracle output: {e}"))
}

/// Runs oracles/kusto/check.js on `input` and reads its results.
fn run_kusto(input: &Value) -> Result<Vec<(String, Vec<KustoDiag>)>, String> {
    let doc = run_kusto_doc(input)?;
    let results = doc["results"]
        .as_array()
        .ok_or("kusto oracle output has no results array")?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let n = |v: &Value| v.as_u64().unwrap_or_default() as usize;
    Ok(results
        .iter()
        .map(|r| {
            let diags = [("diagnostics", false), ("analyzer_diagnostics", true)]
                .into_iter()
                .flat_map(|(key, analyzer)| {
                    r[key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |d| KustoDiag {
                            code: s(&d["code"]),
                            severity: s(&d["severity"]),
                            message: s(&d["message"]),
                            start: n(&d["start"]),
                            end: n(&d["end"]),
                            snippet: s(&d["snippet"]),
                            analyzer,
                        })
                })
                .collect();
            (s(&r["name"]), diags)
        })
        .collect())
}

/// `(col:type, ...)` from a schema file of ../shared/schemas (`columns: [{name, type}]`).
pub fn kql_schema_from_yaml(path: &Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let table = doc["table"]
        .as_str()
        .ok_or_else(|| format!("{}: no table", path.display()))?;
    let cols = doc["columns"]
        .as_sequence()
        .ok_or_else(|| format!("{}: no columns", path.display()))?;
    let parts: Vec<String> = cols
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["name"].as_str().unwrap_or_default(),
                c["type"].as_str().unwrap_or_default()
            )
        })
        .collect();
    Ok((table.to_string(), format!("({})", parts.join(", "))))
}

/// Per source of a KQL profile (targets/<profile>/profile.yaml): its table and the schema file
/// (targets/schemas/) it names, as Kusto.Language declares it.
pub fn kql_profile_tables(profile: &str) -> Result<Vec<(String, String)>, String> {
    let path = repo_root()
        .join("targets")
        .join(profile)
        .join("profile.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let sources = doc["sources"]
        .as_mapping()
        .ok_or_else(|| format!("{profile}: no sources"))?;
    let mut tables = std::collections::BTreeMap::new();
    for (source, body) in sources {
        let field = |k: &str| {
            body[k]
                .as_str()
                .ok_or_else(|| format!("{profile} {source:?}: no {k}"))
        };
        let (table, schema) = (field("table")?, field("schema")?);
        let (declared, cols) =
            kql_schema_from_asim_yaml(&repo_root().join("targets/schemas").join(schema))
                .map_err(|e| format!("{profile} {source:?}: {e}"))?;
        if declared != table {
            return Err(format!("{profile}: {schema} declares another table"));
        }
        if tables.insert(table.to_string(), cols).is_some() {
            return Err(format!("{profile}: table {table} twice"));
        }
    }
    Ok(tables.into_iter().collect())
}

/// One query for [`kusto_check_in`]: the database it runs in, its name, its text.
pub struct KustoQuery<'a> {
    pub database: &'a str,
    pub name: &'a str,
    pub text: &'a str,
}

/// [`kusto_check`] over several databases in ONE node process: `databases` is (database name,
/// its tables as (table name, `"(col:type, ...)"`)); each query is analysed in its own database
/// (two profiles may declare the same table name with different columns). Results per query in
/// input order: its name and its diagnostics (every severity Kusto.Language's `GetDiagnostics`
/// reports: Error, Warning, Suggestion, Information, Hidden), followed, with `analyzers`, by the
/// best-practice analyzers' advice (`analyzer: true`).
pub fn kusto_check_in(
    databases: &[(String, Vec<(String, String)>)],
    queries: &[KustoQuery<'_>],
    analyzers: bool,
) -> Result<Vec<(String, Vec<KustoDiag>)>, String> {
    let dbs: serde_json::Map<String, Value> = databases
        .iter()
        .map(|(db, tables)| (db.clone(), Value::Object(kusto_tables(tables))))
        .collect();
    let input = serde_json::json!({
        "databases": dbs,
        "queries": queries.iter()
            .map(|q| serde_json::json!({"database": q.database, "name": q.name, "text": q.text}))
            .collect::<Vec<_>>(),
        "analyzers": analyzers,
    });
    run_kusto(&input)
}

/// KQL type of an ASIM logical type (Microsoft Sentinel normalisation, "Logical types" in
/// https://learn.microsoft.com/en-us/azure/sentinel/normalization-about-schemas): every
/// enumeration, address, name and id type is stored as a KQL `string`; Integer is `int`, Long is
/// `long`, Boolean is `bool`, Date/time is `datetime`, Dynamic is `dynamic`, Latitude and
/// Longitude are `real`. A plain KQL type maps to itself. `None` for a type not listed here (the
/// caller fails: a new logical type must be mapped deliberately, never read as `unknown`).
/// `Alias` is not a type: see [`kql_schema_from_asim_yaml`].
pub fn asim_kql_type(logical: &str) -> Option<&'static str> {
    Some(match logical.to_ascii_lowercase().as_str() {
        "string" | "enumerated" | "ip address" | "hostname" | "mac address" | "country"
        | "region" | "city" | "apptype" | "devicetype" | "domaintype" | "dvcidtype"
        | "useridtype" | "usertype" | "usernametype" | "domain (string)" | "fqdn (string)"
        | "url (string)" => "string",
        "integer" | "int" => "int",
        "long" => "long",
        "boolean" | "bool" => "bool",
        "date/time" | "datetime" => "datetime",
        "dynamic" => "dynamic",
        "latitude" | "longitude" | "real" => "real",
        "timespan" => "timespan",
        "guid" => "guid",
        _ => return None,
    })
}

/// The ASIM aliases of targets/schemas/kql-_Im_NetworkSession.yaml and the column each one
/// aliases (from the trailing comments there, "aliases X"; where the doc names several
/// candidates, e.g. `Dst` = DstDvcId|DstHostname|DstIpAddr, all of them are strings and the first
/// string one is listed). An alias takes its column's type.
pub const ASIM_ALIASES: &[(&str, &str)] = &[
    ("Duration", "NetworkDuration"),
    ("Dst", "DstIpAddr"),
    ("OuterVlanId", "DstVlanId"),
    ("User", "DstUsername"),
    ("Process", "DstProcessName"),
    ("Src", "SrcIpAddr"),
    ("InnerVlanId", "SrcVlanId"),
    ("Hostname", "DstHostname"),
    ("IpAddr", "SrcIpAddr"),
];

/// `(col:type, ...)` from a schema file whose `type`s may be ASIM logical types (see
/// [`asim_kql_type`]; `Alias` columns through [`ASIM_ALIASES`]). A type or alias not mapped is
/// an `Err` naming the column.
pub fn kql_schema_from_asim_yaml(path: &Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let table = doc["table"]
        .as_str()
        .ok_or_else(|| format!("{}: no table", path.display()))?;
    let cols = doc["columns"]
        .as_sequence()
        .ok_or_else(|| format!("{}: no columns", path.display()))?;
    let logical: Vec<(&str, &str)> = cols
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default(),
                c["type"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let mut parts = Vec::new();
    for (name, ty) in &logical {
        let resolved = if ty.eq_ignore_ascii_case("alias") {
            let target = ASIM_ALIASES
                .iter()
                .find(|(a, _)| a == name)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    format!(
                        "{}: alias column {name} not in ASIM_ALIASES",
                        path.display()
                    )
                })?;
            logical
                .iter()
                .find(|(n, _)| *n == target)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    format!("{}: {name} aliases {target}, not a column", path.display())
                })?
        } else {
            ty
        };
        let kql = asim_kql_type(resolved).ok_or_else(|| {
            format!(
                "{}: column {name}: type {resolved:?} has no KQL mapping in asim_kql_type",
                path.display()
            )
        })?;
        parts.push(format!("{name}:{kql}"));
    }
    Ok((table.to_string(), format!("({})", parts.join(", "))))
}

// ---------------------------------------------------------------------------------------------
// Sigma (sigma-cli / pySigma)

/// What `sigma check` said about a folder.
#[derive(Clone, Debug)]
pub struct SigmaCheck {
    /// Exit code 0: no parse error, no condition error, no validation issue.
    pub passed: bool,
    /// stdout and stderr together, for assertions and failure messages.
    pub output: String,
}

/// `sigma check --fail-on-error --fail-on-issues DIR` (all `*.yml` under DIR, multi-document
/// files included), with every validator but `d3_fendtag` (pySigma 1.5 fetches the D3FEND
/// catalogue from the network on first use and this machine has none). The ATT&CK tag validator
/// runs against detc's embedded ATT&CK v18.1 catalogue (data/attack/) through
/// oracles/sigma/check_attack.py, which points pySigma's loader at a local STIX copy of it.
pub fn sigma_check(dir: &Path) -> Result<SigmaCheck, String> {
    let python = venv_bin("python")?;
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("oracles/sigma/check_attack.py"))
        .arg(repo_root().join("data/attack/enterprise-attack-18.1.json"))
        .args(["--fail-on-error", "--fail-on-issues", "-x", "d3_fendtag"])
        .arg(dir);
    let (code, stdout, stderr) = run(cmd, b"")?;
    if code != 0 && stderr.contains("Traceback") {
        // A crash is not a verdict on the rules.
        return Err(format!("sigma check crashed (exit {code}):\n{stderr}"));
    }
    Ok(SigmaCheck {
        passed: code == 0,
        output: format!("{stdout}{stderr}"),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigmaBackend {
    /// pySigma-backend-kusto with the `microsoft_xdr` pipeline (Defender XDR tables).
    KustoXdr,
    /// pySigma-backend-splunk with the `splunk_windows` pipeline.
    SplunkWindows,
}

/// One rule document's conversion.
#[derive(Clone, Debug)]
pub struct SigmaConversion {
    /// Path relative to the converted folder.
    pub file: String,
    pub id: Option<String>,
    /// `rule`, `correlation`, or `file` (the file did not parse).
    pub kind: String,
    pub queries: Vec<String>,
    /// Why it did not convert (a correlation on a backend without correlation support says so).
    pub error: Option<String>,
    /// A detection rule's detections, each converted alone (`condition: NAME`): name -> its query,
    /// or why it gave none (a pipeline that drops the field leaves nothing to convert).
    pub selections: std::collections::BTreeMap<String, Result<String, String>>,
}

/// Converts every rule document under `dir` with a pySigma backend; each detection rule on its
/// own (even when a correlation references it), each correlation with the rules of its file.
pub fn sigma_convert(dir: &Path, backend: SigmaBackend) -> Result<Vec<SigmaConversion>, String> {
    let python = venv_bin("python")?;
    let target = match backend {
        SigmaBackend::KustoXdr => "kusto",
        SigmaBackend::SplunkWindows => "splunk",
    };
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("oracles/sigma/convert.py"))
        .arg(target)
        .arg(dir);
    let (code, stdout, stderr) = run(cmd, b"")?;
    if code == 2 || stdout.trim().is_empty() {
        return Err(format!("sigma convert oracle exited {code}: {stderr}"));
    }
    let doc: Value =
        serde_json::from_str(&stdout).map_err(|e| format!("sigma convert output: {e}"))?;
    let results = doc["results"]
        .as_array()
        .ok_or("sigma convert output has no results array")?;
    let opt = |v: &Value| v.as_str().map(str::to_string);
    Ok(results
        .iter()
        .map(|r| SigmaConversion {
            file: opt(&r["file"]).unwrap_or_default(),
            id: opt(&r["id"]),
            kind: opt(&r["kind"]).unwrap_or_default(),
            queries: r["queries"]
                .as_array()
                .map(|qs| qs.iter().filter_map(opt).collect())
                .unwrap_or_default(),
            error: opt(&r["error"]),
            selections: r["selections"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(name, v)| {
                            let got = match (opt(&v["query"]), opt(&v["error"])) {
                                (Some(q), _) => Ok(q),
                                (None, Some(e)) => Err(e),
                                (None, None) => Err(format!("malformed selection result {v}")),
                            };
                            (name.clone(), got)
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// duckdb-kql

/// Runs `kql` with duckdb-kql over `rows_jsonl` loaded as `table` with `columns` (name, KQL type:
/// string, int, long, real, bool, datetime, timespan, guid, dynamic, decimal). Datetimes in rows
/// are RFC 3339 strings; result datetimes come back as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`. Rows are
/// returned sorted by their JSON text (a multiset: a query's own order is not kept). `ago()` and
/// `now()` see the wall clock; use [`duckdb_kql_at`] to pin them.
pub fn duckdb_kql(
    table: &str,
    columns: &[(&str, &str)],
    rows_jsonl: &str,
    kql: &str,
) -> Result<Vec<Value>, String> {
    duckdb_kql_at(table, columns, rows_jsonl, kql, None)
}

/// [`duckdb_kql`] with `now()`/`ago()` evaluated at `now` (RFC 3339), for deterministic runs.
pub fn duckdb_kql_at(
    table: &str,
    columns: &[(&str, &str)],
    rows_jsonl: &str,
    kql: &str,
    now: Option<&str>,
) -> Result<Vec<Value>, String> {
    duckdb_kql_with(table, columns, rows_jsonl, kql, now, false)
}

/// [`duckdb_kql_at`], optionally with `oracles/duckdb/prelude.kql` prepended: detc's OWN
/// `ipv4_is_in_range`, `ipv4_is_private` and `bin_at` (duckdb-kql has none; `ipv6_is_in_range` and
/// the `*_any_range` functions are UDFs, oracles/duckdb/kusto_ip.py, always there). A run
/// with the prelude is not independent for those three functions; say so where it is used.
pub fn duckdb_kql_with(
    table: &str,
    columns: &[(&str, &str)],
    rows_jsonl: &str,
    kql: &str,
    now: Option<&str>,
    ip_prelude: bool,
) -> Result<Vec<Value>, String> {
    let input = serde_json::json!({
        "table": table,
        "columns": columns.iter().map(|(n, t)| serde_json::json!([n, t])).collect::<Vec<_>>(),
        "rows_jsonl": rows_jsonl,
        "kql": kql,
        "now": now,
        "prelude": ip_prelude,
    });
    let (code, stdout, stderr) = kql_oracle(&input)?;
    match code {
        0 => stdout
            .lines()
            .map(|l| serde_json::from_str(l).map_err(|e| format!("duckdb-kql output {l:?}: {e}")))
            .collect(),
        1 => Err(format!("duckdb-kql: {}", stderr.trim())),
        _ => Err(format!(
            "duckdb-kql oracle exited {code}: {}",
            stderr.trim()
        )),
    }
}

/// One table for [`duckdb_kql_tables`]: its name, its (column, KQL type) list, its rows as JSON
/// lines.
pub type KqlTable<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);

/// [`duckdb_kql`] over several tables in one database (a correlation joins its steps' tables).
/// Without the prelude.
pub fn duckdb_kql_tables(tables: &[KqlTable<'_>], kql: &str) -> Result<Vec<Value>, String> {
    let input = serde_json::json!({
        "tables": tables.iter().map(|(t, cols, rows)| serde_json::json!({
            "table": t,
            "columns": cols.iter().map(|(n, ty)| serde_json::json!([n, ty])).collect::<Vec<_>>(),
            "rows_jsonl": rows,
        })).collect::<Vec<_>>(),
        "kql": kql,
    });
    let (code, stdout, stderr) = kql_oracle(&input)?;
    match code {
        0 => stdout
            .lines()
            .map(|l| serde_json::from_str(l).map_err(|e| format!("duckdb-kql output {l:?}: {e}")))
            .collect(),
        _ => Err(format!("duckdb-kql exited {code}: {}", stderr.trim())),
    }
}

/// Per query of a batch: its name and its rows, or duckdb-kql's error.
pub type BatchResult = Vec<(String, Result<Vec<Value>, String>)>;

/// Many queries over one load of the rows (one python process): per query, in input order, its
/// name and its rows (sorted as in [`duckdb_kql`]) or duckdb-kql's error. `Err` only when the
/// oracle cannot run or the rows do not fit the table.
pub fn duckdb_kql_batch(
    table: &str,
    columns: &[(&str, &str)],
    rows_jsonl: &str,
    queries: &[(&str, &str)],
    now: Option<&str>,
    ip_prelude: bool,
) -> Result<BatchResult, String> {
    let input = serde_json::json!({
        "table": table,
        "columns": columns.iter().map(|(n, t)| serde_json::json!([n, t])).collect::<Vec<_>>(),
        "rows_jsonl": rows_jsonl,
        "queries": queries.iter().map(|(n, q)| serde_json::json!({"name": n, "kql": q}))
            .collect::<Vec<_>>(),
        "now": now,
        "prelude": ip_prelude,
    });
    let (code, stdout, stderr) = kql_oracle(&input)?;
    if code != 0 {
        return Err(format!(
            "duckdb-kql oracle exited {code}: {}",
            stderr.trim()
        ));
    }
    let doc: Value =
        serde_json::from_str(&stdout).map_err(|e| format!("duckdb-kql batch output: {e}"))?;
    let results = doc["results"]
        .as_array()
        .ok_or("duckdb-kql batch output has no results array")?;
    Ok(results
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default().to_string();
            let outcome = match (r["rows"].as_array(), r["error"].as_str()) {
                (Some(rows), _) => Ok(rows.clone()),
                (None, Some(e)) => Err(format!("duckdb-kql: {e}")),
                (None, None) => Err("duckdb-kql batch: neither rows nor error".to_string()),
            };
            (name, outcome)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// pySigma's readers: PyYAML and Python `re` (oracles/sigma/readback.py)

/// What PyYAML's `safe_load_all` (pySigma's loader) made of one text: each document as typed
/// JSON (`{"str": ..}`, `{"int": ..}`, `{"bool": ..}`, `{"map": [[k, v], ..]}`, ...; see
/// readback.py), or the load error.
pub struct YamlReadback {
    pub docs: Vec<Value>,
    pub error: Option<String>,
}

/// Loads every `(name, text)` with PyYAML and compiles every pattern with Python's `re`, in one
/// python process. Returns the YAML results in input order and, per pattern, `re`'s error if any.
pub fn python_readback(
    yaml: &[(String, String)],
    regexes: &[String],
) -> Result<(Vec<YamlReadback>, Vec<Option<String>>), String> {
    let python = venv_bin("python")?;
    let input = serde_json::json!({
        "yaml": yaml.iter().map(|(n, t)| serde_json::json!({"name": n, "text": t}))
            .collect::<Vec<_>>(),
        "regex": regexes,
    });
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("oracles/sigma/readback.py"));
    let (code, stdout, stderr) = run(cmd, input.to_string().as_bytes())?;
    if code != 0 {
        return Err(format!("readback oracle exited {code}: {stderr}"));
    }
    let doc: Value =
        serde_json::from_str(&stdout).map_err(|e| format!("readback oracle output: {e}"))?;
    let y = doc["yaml"]
        .as_array()
        .ok_or("readback output has no yaml array")?
        .iter()
        .map(|r| YamlReadback {
            docs: r["docs"].as_array().cloned().unwrap_or_default(),
            error: r["error"].as_str().map(str::to_string),
        })
        .collect();
    let re = doc["regex"]
        .as_array()
        .ok_or("readback output has no regex array")?
        .iter()
        .map(|r| r["error"].as_str().map(str::to_string))
        .collect();
    Ok((y, re))
}

/// A serde_yaml value (a YAML 1.2 reader) in readback.py's typed JSON, to compare the two readers.
pub fn typed_yaml(v: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => serde_json::json!({"null": null}),
        Y::Bool(b) => serde_json::json!({"bool": b}),
        Y::Number(n) => match n.as_i64() {
            Some(i) => serde_json::json!({"int": i}),
            None => serde_json::json!({"float": n.to_string()}),
        },
        Y::String(s) => serde_json::json!({"str": s}),
        Y::Sequence(xs) => {
            serde_json::json!({"seq": xs.iter().map(typed_yaml).collect::<Vec<_>>()})
        }
        Y::Mapping(m) => serde_json::json!({"map": m.iter()
            .map(|(k, x)| serde_json::json!([typed_yaml(k), typed_yaml(x)]))
            .collect::<Vec<_>>()}),
        Y::Tagged(t) => {
            serde_json::json!({"other": t.tag.to_string(), "repr": format!("{:?}", t.value)})
        }
    }
}

/// Validates a SARIF log against the OASIS SARIF 2.1.0 schema (tests/data/sarif/) with the
/// pinned python `jsonschema`. `Ok(())` when valid; `Err` lists every violation (or says the
/// oracle is missing).
pub fn sarif_validate(log: &str) -> Result<(), String> {
    json_schema_validate(
        &repo_root().join("tests/data/sarif/sarif-schema-2.1.0.json"),
        log,
    )
    .map_err(|e| e.replace("not valid against", "not valid SARIF 2.1.0,"))
}

/// Validates the JSON document `doc` against the JSON Schema in `schema` with the pinned python
/// `jsonschema` (the validator class the schema's `$schema` names). `Ok(())` when valid; `Err`
/// lists every violation (or says the oracle is missing).
pub fn json_schema_validate(schema: &Path, doc: &str) -> Result<(), String> {
    let py = venv_bin("python")?;
    let script = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1], encoding="utf-8"))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = sorted(cls(schema).iter_errors(json.load(sys.stdin)), key=lambda e: list(e.absolute_path))
for e in errors:
    print("/".join(map(str, e.absolute_path)) + ": " + e.message)
sys.exit(1 if errors else 0)
"#;
    let mut cmd = Command::new(py);
    cmd.arg("-c").arg(script).arg(schema);
    let (code, out, err) = run(cmd, doc.as_bytes())?;
    match code {
        0 => Ok(()),
        1 if err.is_empty() => Err(format!("not valid against {}:\n{out}", schema.display())),
        _ => Err(format!("jsonschema failed ({code}): {err}; {INSTALL_HINT}")),
    }
}

/// What mitreattack-python's navlayers made of one Navigator layer file
/// (`oracles/navigator/load_layers.py`).
#[derive(Clone, Debug)]
pub struct LayerLoad {
    pub file: String,
    /// Loaded without an exception and without a word printed (navlayers reports a bad layer by
    /// printing and leaving the layer empty).
    pub loaded: bool,
    /// Everything navlayers printed, and the exception if any.
    pub said: String,
    /// The layer as navlayers serializes it back (`Layer.to_dict()`).
    pub layer: Value,
}

/// Loads every file with `mitreattack.navlayers.Layer.from_file` in one python process.
pub fn navlayers_load(files: &[PathBuf]) -> Result<Vec<LayerLoad>, String> {
    let python = venv_bin("python")?;
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("oracles/navigator/load_layers.py"))
        .args(files);
    let (code, stdout, stderr) = run(cmd, b"")?;
    if code != 0 {
        return Err(format!("navlayers oracle exited {code}: {stderr}"));
    }
    let doc: Value =
        serde_json::from_str(&stdout).map_err(|e| format!("navlayers oracle output: {e}"))?;
    Ok(doc
        .as_array()
        .ok_or("navlayers oracle output is not an array")?
        .iter()
        .map(|r| LayerLoad {
            file: r["file"].as_str().unwrap_or_default().to_string(),
            loaded: r["loaded"].as_bool().unwrap_or(false),
            said: format!(
                "{}{}",
                r["said"].as_str().unwrap_or_default(),
                r["error"].as_str().unwrap_or_default()
            ),
            layer: r["layer"].clone(),
        })
        .collect())
}
