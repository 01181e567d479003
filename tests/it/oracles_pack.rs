//! The external oracles over EVERY query detc emits for the bundled pack (rules/), issue 3
//! point 6: Microsoft's Kusto.Language analyses every .kql of kql-defender and kql-sentinel with
//! the profile's documented schema declared; `sigma check` passes every emitted Sigma file;
//! pySigma's kusto (microsoft_xdr) and splunk (splunk_windows) backends convert every detection
//! rule, and their known upstream limits are an explicit allow-list of exact refusals.
//! One oracle process per check (one node run for all KQL, one `sigma check`, one conversion run
//! per backend). A missing oracle fails (tests/it/support/oracle.rs); nothing here skips.
// Test code: a failed expectation is meant to panic (the no-unwrap rule is for library code).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::oracle;

use detc::targets::{compile_pack, CompileResult, Emitted};
use oracle::{
    kql_profile_tables, kql_schema_from_asim_yaml, kusto_check_in, repo_root, sigma_check,
    sigma_convert, KustoDiag, KustoQuery, SigmaBackend, SigmaConversion,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every KQL profile of the registry (`targets/`), so a new one is checked here too.
fn kql_profiles() -> Vec<String> {
    detc::targets::load_profiles()
        .expect("profiles")
        .into_iter()
        .filter(|p| p.language == detc::targets::Language::Kql)
        .map(|p| p.name)
        .collect()
}

/// The bundled pack, checked, compiled for every profile (as `detc compile rules/ --target all`).
fn compiled_pack() -> (Vec<detc::ir::Rule>, CompileResult) {
    let files = detc::load::load_sources(&[repo_root().join("rules")])
        .unwrap_or_else(|d| panic!("cannot load rules/: {}", d.message));
    let fe = detc::frontend(&files);
    let errors: Vec<String> = fe
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| detc::diag::render_human(d, &fe.sources))
        .collect();
    assert!(
        errors.is_empty(),
        "rules/ must check clean:\n{}",
        errors.join("\n")
    );
    let pack = fe.pack.expect("a checked pack");
    let res = compile_pack(&pack, "all");
    assert!(!res.has_errors(), "{:#?}", res.diagnostics);
    (pack.rules, res)
}

/// Every rule of the pack meant for `target` (its `targets` clause) is either emitted for it or
/// refused with a W0900 that names it (so "every emitted query" below cannot shrink silently).
/// Returns the emitted ones.
fn emitted_for<'a>(
    rules: &[detc::ir::Rule],
    res: &'a CompileResult,
    target: &str,
) -> Vec<&'a Emitted> {
    let out: Vec<&Emitted> = res.outputs.iter().filter(|e| e.target == target).collect();
    for name in rules.iter().filter(|r| r.is_for(target)).map(|r| &r.name) {
        let emitted = out.iter().any(|e| &e.rule == name);
        let refused = res.diagnostics.iter().any(|d| {
            d.code == "W0900"
                && d.message.contains(&format!("`{name}`"))
                && d.message.contains(&format!("for {target} "))
        });
        assert!(
            emitted != refused,
            "{name} for {target}: emitted {emitted}, refused {refused}"
        );
    }
    assert!(!out.is_empty(), "nothing emitted for {target}");
    out
}

// --- Kusto.Language ---------------------------------------------------------------------------

fn render(diags: &[KustoDiag]) -> String {
    diags
        .iter()
        .map(|d| {
            format!(
                "  {} {} at {}..{} `{}`: {}",
                d.severity, d.code, d.start, d.end, d.snippet, d.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Advice of Kusto.Language's best-practice analyzers that detc does NOT follow, on purpose: (code,
/// the text it points at, why). Any other analyzer diagnostic of any severity fails the test.
/// Analyzer advice accepted in emitted queries: none (the exact distinct count is a two-level
/// `summarize` with functions the analyzers have nothing to say about).
const ACCEPTED_ANALYZER_ADVICE: &[(&str, &str, &str)] = &[];

/// A query the best-practice analyzers do advise on (Suggestion KS515, "consider switching to
/// 'dcountif'"), to prove they ran.
const ANALYZER_CANARY: &str =
    "DeviceNetworkEvents | summarize d = count_distinctif(RemoteIP, isnotempty(RemoteIP))";

/// Every emitted KQL gets ZERO diagnostics from `KustoCode.ParseAndAnalyze(...).GetDiagnostics()`
/// with its profile's tables declared: every severity counts (Kusto.Language's Error, Warning,
/// Suggestion, Information, Hidden); GetDiagnostics holds the syntax and semantic diagnostics
/// (unknown column KS142, type errors KS107, ...). The optional best-practice analyzers run in the
/// same process: each of their diagnostics, whatever its severity, must be in
/// [`ACCEPTED_ANALYZER_ADVICE`] (today only Suggestion KS515). Canaries in
/// the same node run prove the schemas are really checked: a column renamed to `SentBytes` in a
/// copy of an emitted query is KS142 in both profiles (for kql-sentinel on the ASIM
/// `_Im_NetworkSession` schema too, whose logical types would otherwise read as `unknown`).
#[test]
fn kusto_language_finds_nothing_in_any_emitted_kql() {
    let (names, res) = compiled_pack();
    let databases: Vec<(String, Vec<(String, String)>)> = kql_profiles()
        .iter()
        .map(|p| {
            (
                p.to_string(),
                kql_profile_tables(p).expect("profile tables"),
            )
        })
        .collect();
    let mut queries: Vec<(String, String, String)> = Vec::new();
    for profile in &kql_profiles() {
        for e in emitted_for(&names, &res, profile) {
            assert!(e.file_name.ends_with(".kql"), "{}", e.file_name);
            queries.push((
                profile.to_string(),
                format!("{profile}/{}", e.file_name),
                e.text.clone(),
            ));
        }
    }
    let emitted_count = queries.len();
    // Canaries: (profile, emitted file, column renamed to SentBytes).
    let canaries = [
        (
            "kql-defender",
            "an0379_mail_protocol_unexpected_process.kql",
            "RemotePort",
        ),
        (
            "kql-sentinel",
            "an0382_external_mail_volume.kql",
            "DstPortNumber",
        ),
    ];
    for (profile, file, column) in canaries {
        let name = format!("{profile}/{file}");
        let (_, _, text) = queries
            .iter()
            .find(|(_, n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} not emitted"));
        assert!(text.contains(column), "{name} does not use {column}");
        let renamed = text.replace(column, "SentBytes");
        queries.push((profile.to_string(), format!("canary {name}"), renamed));
    }
    queries.push((
        "kql-defender".to_string(),
        "analyzer canary".to_string(),
        ANALYZER_CANARY.to_string(),
    ));
    let batch: Vec<KustoQuery<'_>> = queries
        .iter()
        .map(|(db, name, text)| KustoQuery {
            database: db,
            name,
            text,
        })
        .collect();
    let results = kusto_check_in(&databases, &batch, true).expect("kusto oracle");
    assert_eq!(results.len(), queries.len());
    let mut failures = Vec::new();
    let mut accepted_advice = 0;
    let mut analyzer_ran = false;
    for ((_, name, text), (got_name, all)) in queries.iter().zip(&results) {
        assert_eq!(name, got_name);
        let (advice, diags): (Vec<KustoDiag>, Vec<KustoDiag>) =
            all.iter().cloned().partition(|d| d.analyzer);
        let (accepted, unexpected): (Vec<KustoDiag>, Vec<KustoDiag>) =
            advice.into_iter().partition(|d| {
                ACCEPTED_ANALYZER_ADVICE
                    .iter()
                    .any(|(code, snippet, _)| d.code == *code && d.snippet == *snippet)
            });
        if name == "analyzer canary" {
            analyzer_ran = unexpected.iter().any(|d| d.code == "KS515");
            continue;
        }
        if !unexpected.is_empty() && !name.starts_with("canary ") {
            failures.push(format!(
                "{name}: analyzer advice not accepted:\n{}",
                render(&unexpected)
            ));
        }
        if !name.starts_with("canary ") {
            accepted_advice += accepted.len();
        }
        if name.starts_with("canary ") {
            // Every use of the renamed column, and nothing else, is KS142 on `SentBytes`.
            let uses = text.matches("SentBytes").count();
            assert!(
                diags.len() == uses
                    && diags.iter().all(|d| d.code == "KS142"
                        && d.snippet == "SentBytes"
                        && d.severity == "Error"),
                "{name}: expected {uses} KS142 on SentBytes, got\n{}",
                render(&diags)
            );
        } else if !diags.is_empty() {
            failures.push(format!("{name}:\n{}\n{text}", render(&diags)));
        }
    }
    assert!(
        failures.is_empty(),
        "Kusto.Language diagnostics:\n{}",
        failures.join("\n\n")
    );
    // The analyzers really ran (they advise on the canary's count_distinctif).
    assert!(
        analyzer_ran,
        "the Kusto analyzers reported nothing on the canary"
    );
    eprintln!(
        "kusto: {emitted_count} emitted queries, 0 diagnostics, {accepted_advice} accepted \
         analyzer suggestions; canaries KS142"
    );
}

/// The ASIM logical type -> KQL type mapping of the helper agrees, column by column, with the KQL
/// type the schema file's own comment documents (`# ...; kql: <type> (table|mapped)`); aliases
/// ("same as aliased field") take the type of the column they alias.
#[test]
fn asim_type_mapping_agrees_with_the_schema_files_documented_kql_types() {
    let path = repo_root().join("targets/schemas/kql-_Im_NetworkSession.yaml");
    let (_, cols) = kql_schema_from_asim_yaml(&path).expect("mapped schema");
    let mapped: BTreeMap<&str, &str> = cols
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(", ")
        .map(|c| c.split_once(':').expect("name:type"))
        .collect();
    let text = std::fs::read_to_string(&path).expect("schema");
    let mut checked = 0;
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("- {name: "))
    {
        let name = line
            .trim_start()
            .trim_start_matches("- {name: ")
            .split(',')
            .next()
            .expect("name");
        let documented = line
            .split("kql: ")
            .nth(1)
            .and_then(|t| t.split([' ', ';']).next())
            .unwrap_or_else(|| panic!("no `kql:` comment: {line}"));
        let got = mapped
            .get(name)
            .unwrap_or_else(|| panic!("{name} not mapped"));
        if documented == "same" {
            assert!(line.contains("aliases "), "{line}");
        } else {
            assert_eq!(*got, documented, "{line}");
        }
        checked += 1;
    }
    assert_eq!(checked, mapped.len());
    assert!(checked > 100, "{checked} columns");
}

// --- Sigma ------------------------------------------------------------------------------------

/// Writes every emitted Sigma file into a fresh temp dir (removed on drop).
struct SigmaDir(PathBuf);

impl SigmaDir {
    fn new(tag: &str, files: &[&Emitted]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("detc-oracles-pack-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        for e in files {
            assert!(e.file_name.ends_with(".yml"), "{}", e.file_name);
            std::fs::write(dir.join(&e.file_name), &e.text).expect("write");
        }
        SigmaDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SigmaDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `sigma check` (every validator but D3FEND's, see `sigma_check`; ATT&CK tags checked against
/// the embedded catalogue) over every emitted Sigma file, in one run together with a canary: a
/// copy of one emitted file with a new id, a duplicated tag and a tag of a technique ATT&CK
/// revoked. The run must report exactly the canary's three issues: its duplicate tag, its revoked
/// technique (which proves the ATT&CK validator ran, on the local catalogue), and its title
/// clashing with the emitted file it copies (which proves the emitted files were read and
/// cross-checked in the same run); nothing else, so every emitted file passes, ATT&CK tags
/// included.
#[test]
fn sigma_check_passes_every_emitted_sigma_file() {
    let (names, res) = compiled_pack();
    let files = emitted_for(&names, &res, "sigma");
    let dir = SigmaDir::new("check", &files);
    let source = files
        .iter()
        .find(|e| e.rule == "an0379_scripting_host_mail")
        .expect("an0379_scripting_host_mail emitted for sigma");
    let tag = "- 'attack.t1071.003'\n";
    assert!(source.text.contains(tag) && source.text.matches("\nid: ").count() == 1);
    let id_line = source
        .text
        .lines()
        .find(|l| l.starts_with("id: "))
        .expect("an id line");
    let canary = source
        .text
        .replacen(tag, &format!("{tag}{tag}- attack.t1002\n"), 1)
        .replacen(id_line, "id: 0c0ffee0-0000-4000-8000-000000000001", 1);
    let canary_file = "zz_canary_duplicate_tag.yml";
    std::fs::write(dir.path().join(canary_file), canary).expect("write canary");
    let out = sigma_check(dir.path()).expect("sigma oracle");
    let issues: Vec<&str> = out
        .output
        .lines()
        .filter(|l| l.starts_with("issue="))
        .collect();
    let at = |f: &str| dir.path().join(f).display().to_string();
    let tag_issue = format!(
        "issue=DuplicateTagIssue severity=medium description=The same tag appears multiple times \
         rule={} tag=attack.t1071.003",
        at(canary_file)
    );
    let revoked_issue = format!(
        "issue=InvalidATTACKTagIssue severity=medium description=Invalid MITRE ATT&CK tagging \
         rule={} tag=attack.t1002",
        at(canary_file)
    );
    let title_clash = |l: &&str| {
        l.starts_with("issue=DuplicateTitleIssue ")
            && l.contains(&at(canary_file))
            && l.contains(&at(&source.file_name))
    };
    assert!(
        issues.len() == 3
            && issues.contains(&tag_issue.as_str())
            && issues.contains(&revoked_issue.as_str())
            && issues.iter().any(title_clash),
        "expected exactly the canary's three issues:\n{}",
        out.output
    );
    assert!(
        out.output
            .contains("Found 0 errors, 0 condition errors and 3 issues."),
        "{}",
        out.output
    );
    assert!(!out.passed, "--fail-on-issues must fail on the canary");
}

/// A known upstream limit: this backend refuses this rule document with exactly this error.
struct Refusal {
    backend: SigmaBackend,
    /// The emitted file.
    file: &'static str,
    /// The rule document's `id` (a base rule's id, or its correlation's).
    id: &'static str,
    kind: &'static str,
    error: &'static str,
}

/// pySigma-backend-kusto 1.0.1 (microsoft_xdr): "Unable to determine table name" for a logsource
/// its mappings lack. Quoted in full, so a change in the message is seen.
const KUSTO_NO_TABLE: &str = "SigmaTransformationError: Unable to determine table name from rule.  \
The query table is determined in the following order of priority:\n  1) The value provided to \
processing pipeline's query_table parameter, if using a Python script.\n  2) If the query_table \
is already set in the pipeline state, such as from a custom user-defined pipeline if using \
sigma-cli.\n  3) If the rule's logsource category is present in the pipeline's \
category_to_table_mappings dictionary in mappings.py, use that value.\n  4) If the rule has an \
EventID, use the table name from the pipeline's eventid_to_table_mappings dictionary in \
mappings.py.\nFor more details, see \
https://github.com/AttackIQ/pySigma-backend-kusto/blob/main/README.md#%EF%B8%8F-custom-table-names-new-in-030-beta.";

const KUSTO_NO_CORRELATION: &str =
    "NotImplementedError: Backend does not support correlation rules.";

/// pySigma's microsoft_xdr pipeline maps Sysmon's `Computer` to no Defender column (see below).
const KUSTO_NO_COMPUTER_0: &str = "SigmaTransformationError: Invalid SigmaDetectionItem field name encountered: Computer. Please use valid fields for the DeviceNetworkEvents table, or the following fields that have keymappings in this pipeline:\nActionType, AdditionalFields, AppGuardContainerId, CommandLine, Company, Description, DestinationHostname, DestinationIp, DestinationPort, DeviceId, DeviceName, EventType, Hashes, Image, InitiatingProcessAccountDomain, InitiatingProcessAccountName, InitiatingProcessAccountObjectId, InitiatingProcessAccountSid, InitiatingProcessAccountUpn, InitiatingProcessCommandLine, InitiatingProcessCreationTime, InitiatingProcessFileName, InitiatingProcessFileSize, InitiatingProcessFolderPath, InitiatingProcessId, InitiatingProcessIntegrityLevel, InitiatingProcessMD5, InitiatingProcessParentCreationTime, InitiatingProcessParentFileName, InitiatingProcessParentId, InitiatingProcessRemoteSessionDeviceName, InitiatingProcessRemoteSessionIP, InitiatingProcessSHA1, InitiatingProcessSHA256, InitiatingProcessSessionId, InitiatingProcessTokenElevation, InitiatingProcessVersionInfoCompanyName, InitiatingProcessVersionInfoFileDescription, InitiatingProcessVersionInfoInternalFileName, InitiatingProcessVersionInfoOriginalFileName, InitiatingProcessVersionInfoProductName, InitiatingProcessVersionInfoProductVersion, IsInitiatingProcessRemoteSession, LocalIP, LocalIPType, LocalPort, OriginalFileName, ParentCommandLine, ParentProcessId, ProcessId, ProcessName, Product, Protocol, RemoteIP, RemoteIPType, RemotePort, RemoteUrl, ReportId, SourceHostname, SourceImage, SourceIp, SourcePort, Timestamp, User, md5, sha1, sha256";

/// pySigma's microsoft_xdr pipeline maps Sysmon's `Computer` to no Defender column (see below).
const KUSTO_NO_COMPUTER_1: &str = "SigmaTransformationError: Invalid SigmaDetectionItem field name encountered: Computer. Please use valid fields for the DeviceProcessEvents table, or the following fields that have keymappings in this pipeline:\nAccountDomain, AccountName, AccountObjectId, AccountSid, AccountUpn, ActionType, AdditionalFields, AppGuardContainerId, CommandLine, Company, CreatedProcessSessionId, Description, DeviceId, DeviceName, EventType, FileName, FileSize, FileVersion, FolderPath, GrandParentImage, Hashes, Image, InitiatingProcessAccountDomain, InitiatingProcessAccountName, InitiatingProcessAccountObjectId, InitiatingProcessAccountSid, InitiatingProcessAccountUpn, InitiatingProcessCommandLine, InitiatingProcessCreationTime, InitiatingProcessFileName, InitiatingProcessFileSize, InitiatingProcessFolderPath, InitiatingProcessId, InitiatingProcessIntegrityLevel, InitiatingProcessLogonId, InitiatingProcessMD5, InitiatingProcessParentCreationTime, InitiatingProcessParentFileName, InitiatingProcessParentId, InitiatingProcessRemoteSessionDeviceName, InitiatingProcessRemoteSessionIP, InitiatingProcessSHA1, InitiatingProcessSHA256, InitiatingProcessSessionId, InitiatingProcessSignatureStatus, InitiatingProcessSignerType, InitiatingProcessTokenElevation, InitiatingProcessVersionInfoCompanyName, InitiatingProcessVersionInfoFileDescription, InitiatingProcessVersionInfoInternalFileName, InitiatingProcessVersionInfoOriginalFileName, InitiatingProcessVersionInfoProductName, InitiatingProcessVersionInfoProductVersion, IntegrityLevel, IsInitiatingProcessRemoteSession, IsProcessRemoteSession, LogonId, MD5, OriginalFileName, ParentCommandLine, ParentImage, ParentProcessId, ParentUser, ProcessCommandLine, ProcessCreationTime, ProcessId, ProcessIntegrityLevel, ProcessName, ProcessRemoteSessionDeviceName, ProcessRemoteSessionIP, ProcessTokenElevation, ProcessVersionInfoCompanyName, ProcessVersionInfoFileDescription, ProcessVersionInfoInternalFileName, ProcessVersionInfoOriginalFileName, ProcessVersionInfoProductName, ProcessVersionInfoProductVersion, Product, ReportId, SHA1, SHA256, SourceImage, Timestamp, User, md5, sha1, sha256";

/// The allow-list: every refusal the pinned pySigma backends give on the emitted pack, each an
/// upstream limit (not a fault of our files: `sigma check` passes them). Any other failure fails
/// the test; an entry that no longer fails fails it too (update the list).
const KNOWN_REFUSALS: &[Refusal] = &[
    // The DNS rule's `logsource: {category: dns_query, product: windows}`: microsoft_xdr has no
    // table for dns_query, as Defender XDR has none (the kql-defender profile refuses the source,
    // E0901: DNS only inside DeviceNetworkEvents' AdditionalFields).
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "dns_query_win_an0379_dns_mail_service.yml",
        id: "6d2b7f0e-3c1a-4e8b-9f5d-0a7c4b2e1f93",
        kind: "rule",
        error: KUSTO_NO_TABLE,
    },
    // AN0382's base rule has `logsource: {product: zeek, service: conn}` (Zeek's conn.log, the
    // flow logsource with byte counters). microsoft_xdr maps Windows categories to Defender
    // tables and has none for Zeek (Defender has no flow table with bytes either), so it cannot
    // pick a table: the refusal of the earlier `category: network` logsource stays, as it must.
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "zeek_conn_an0382_external_mail_volume.yml",
        id: "c2a4e6f8-1b3d-4f5a-8c7e-9d0b1a2c3e4f",
        kind: "rule",
        error: KUSTO_NO_TABLE,
    },
    // Its value_sum correlation: the whole file is converted for correlations, and the base rule
    // fails first, for the same reason.
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "zeek_conn_an0382_external_mail_volume.yml",
        id: "40ac999a-0eb9-56c9-9dfb-62cf5b4fda9d",
        kind: "correlation",
        error: KUSTO_NO_TABLE,
    },
    // AN0382's fan-out rule reads the same Zeek conn.log: no table either, for its base
    // rule and for its value_count correlation.
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "zeek_conn_an0382_smtp_fanout.yml",
        id: "e77204ba-02f1-46d1-8167-826a07bd3375",
        kind: "rule",
        error: KUSTO_NO_TABLE,
    },
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "zeek_conn_an0382_smtp_fanout.yml",
        id: "738086ea-62ee-52a4-8658-5e0203704b65",
        kind: "correlation",
        error: KUSTO_NO_TABLE,
    },
    // The kusto backend converts no correlation at all (event_count here): AN0379's three
    // per-protocol correlations (SMTP, POP3, IMAP).
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "net_connection_win_an0379_mail_protocol_unexpected_process.yml",
        id: "9954ffdf-6aff-5f62-b78b-0e391463d657",
        kind: "correlation",
        error: KUSTO_NO_CORRELATION,
    },
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "net_connection_win_an0379_mail_protocol_unexpected_process.yml",
        id: "a9179025-4b45-58b5-8933-10f3216a6d3e",
        kind: "correlation",
        error: KUSTO_NO_CORRELATION,
    },
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "net_connection_win_an0379_mail_protocol_unexpected_process.yml",
        id: "8919cf4d-63b8-533a-9228-1acd769133c4",
        kind: "correlation",
        error: KUSTO_NO_CORRELATION,
    },
    // The AN0379 correlation's base rules group by Sysmon's `Computer` (the host key): the
    // microsoft_xdr pipeline has no mapping for `Computer` (Defender's is DeviceName) and refuses
    // the field; the correlation fails with its first base rule. kql-defender emits the
    // correlation itself (joins on DeviceName).
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "an0379_process_start_then_mail_port.yml",
        id: "543fb685-3750-5f32-8aba-9f8776d1e511",
        kind: "rule",
        error: KUSTO_NO_COMPUTER_1,
    },
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "an0379_process_start_then_mail_port.yml",
        id: "653aed5c-13a3-5855-b8f5-f59685d42afa",
        kind: "rule",
        error: KUSTO_NO_COMPUTER_0,
    },
    Refusal {
        backend: SigmaBackend::KustoXdr,
        file: "an0379_process_start_then_mail_port.yml",
        id: "5e2b7c1d-9a4f-4e3b-8c6d-2f1a0b9e8d7c",
        kind: "correlation",
        error: KUSTO_NO_COMPUTER_1,
    },
    // pySigma-backend-splunk converts no temporal_ordered correlation (the AN0379 start, then
    // its connection); spl-sysmon emits it itself (eventstats/streamstats).
    Refusal {
        backend: SigmaBackend::SplunkWindows,
        file: "an0379_process_start_then_mail_port.yml",
        id: "5e2b7c1d-9a4f-4e3b-8c6d-2f1a0b9e8d7c",
        kind: "correlation",
        error:
            "NotImplementedError: Correlation type 'temporal_ordered' is not supported by backend.",
    },
    // pySigma-backend-splunk 2.1.0 implements event_count and value_count correlations but not
    // value_sum (AN0382: sum of source.bytes > 50 MB).
    Refusal {
        backend: SigmaBackend::SplunkWindows,
        file: "zeek_conn_an0382_external_mail_volume.yml",
        id: "40ac999a-0eb9-56c9-9dfb-62cf5b4fda9d",
        kind: "correlation",
        error: "NotImplementedError: Correlation type 'value_sum' is not supported by backend.",
    },
];

/// Base rules and correlations of the emitted Sigma files, from their own YAML: (file, id, kind).
/// The Defender XDR table pySigma's Kusto backend reads for a Sigma rule's logsource category
/// (its microsoft_xdr pipeline: process_creation -> DeviceProcessEvents, network_connection ->
/// DeviceNetworkEvents), which the profile kql-defender also reads for the same source.
fn xdr_table(category: Option<&str>) -> &'static str {
    match category {
        Some("process_creation") => "DeviceProcessEvents",
        _ => "DeviceNetworkEvents",
    }
}

fn sigma_documents(files: &[&Emitted]) -> Vec<(String, String, &'static str)> {
    let mut docs = Vec::new();
    for e in files {
        for d in serde_yaml::Deserializer::from_str(&e.text) {
            let v = serde_yaml::Value::deserialize(d).expect("emitted YAML");
            let id = v["id"]
                .as_str()
                .expect("every document has an id")
                .to_string();
            let kind = match (v.get("detection"), v.get("correlation")) {
                (Some(_), None) => "rule",
                (None, Some(_)) => "correlation",
                _ => panic!(
                    "{}: document {id} is neither a rule nor a correlation",
                    e.file_name
                ),
            };
            docs.push((e.file_name.clone(), id, kind));
        }
    }
    docs
}

fn check_conversions(
    backend: SigmaBackend,
    expected_docs: &[(String, String, &'static str)],
    results: &[SigmaConversion],
) {
    let got: Vec<(String, String, &str)> = results
        .iter()
        .map(|r| {
            (
                r.file.clone(),
                r.id.clone().unwrap_or_default(),
                r.kind.as_str(),
            )
        })
        .collect();
    let mut want: Vec<(String, String, &str)> = expected_docs
        .iter()
        .map(|(f, i, k)| (f.clone(), i.clone(), *k))
        .collect();
    // The oracle converts the folder's files in name order, documents in file order; the pack
    // emits rule by rule, and SigmaHQ's prefixes make the two orders differ.
    let mut got = got;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got, want,
        "{backend:?}: every document gets exactly one result"
    );
    let mut failures = Vec::new();
    for r in results {
        let id = r.id.as_deref().unwrap_or_default();
        let known = KNOWN_REFUSALS
            .iter()
            .find(|k| k.backend == backend && k.file == r.file && k.id == id);
        match (known, &r.error) {
            (Some(k), Some(e)) if e == k.error && k.kind == r.kind => {}
            (Some(k), other) => failures.push(format!(
                "{backend:?} {} {} {id}: allow-listed refusal changed (update KNOWN_REFUSALS):\n  \
                 expected {:?} {:?}\n  got {other:?}",
                r.file, r.kind, k.kind, k.error
            )),
            (None, Some(e)) => {
                failures.push(format!("{backend:?} {} {} {id}: {e}", r.file, r.kind))
            }
            (None, None)
                if r.queries.is_empty() || r.queries.iter().any(|q| q.trim().is_empty()) =>
            {
                failures.push(format!("{backend:?} {} {id}: empty query", r.file))
            }
            (None, None) => {}
        }
    }
    for k in KNOWN_REFUSALS.iter().filter(|k| k.backend == backend) {
        assert!(
            results
                .iter()
                .any(|r| r.file == k.file && r.id.as_deref() == Some(k.id)),
            "{backend:?}: allow-listed {} {} is no longer emitted (update KNOWN_REFUSALS)",
            k.file,
            k.id
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pysigma_backends_convert_every_emitted_detection_rule() {
    let (names, res) = compiled_pack();
    let files = emitted_for(&names, &res, "sigma");
    let docs = sigma_documents(&files);
    assert!(docs.iter().any(|d| d.2 == "rule") && docs.iter().any(|d| d.2 == "correlation"));
    let dir = SigmaDir::new("convert", &files);
    // The two backends in parallel: one python process each.
    let (kusto, splunk) = std::thread::scope(|s| {
        let k = s.spawn(|| sigma_convert(dir.path(), SigmaBackend::KustoXdr));
        let sp = s.spawn(|| sigma_convert(dir.path(), SigmaBackend::SplunkWindows));
        (k.join().expect("thread"), sp.join().expect("thread"))
    });
    let kusto = kusto.expect("pySigma kusto oracle");
    let splunk = splunk.expect("pySigma splunk oracle");
    check_conversions(SigmaBackend::KustoXdr, &docs, &kusto);
    check_conversions(SigmaBackend::SplunkWindows, &docs, &splunk);
    // What converted is really a query of that backend, not an empty shell.
    let categories: BTreeMap<String, Option<String>> = files
        .iter()
        .flat_map(|e| serde_yaml::Deserializer::from_str(&e.text))
        .map(|d| serde_yaml::Value::deserialize(d).expect("emitted YAML"))
        .map(|v| {
            let id = v["id"].as_str().unwrap_or_default().to_string();
            let cat = v["logsource"]["category"].as_str().map(str::to_string);
            (id, cat)
        })
        .collect();
    for r in kusto.iter().filter(|r| r.error.is_none()) {
        let cat =
            r.id.as_ref()
                .and_then(|id| categories.get(id))
                .cloned()
                .flatten();
        assert!(
            r.queries[0].starts_with(xdr_table(cat.as_deref())),
            "{r:#?}"
        );
    }
    // Each correlation Splunk converted keeps what the emitted YAML says: its window, its group-by
    // fields and its threshold (read from the YAML, not restated here).
    let mut correlations_checked = 0;
    for r in splunk
        .iter()
        .filter(|r| r.kind == "correlation" && r.error.is_none())
    {
        let id = r.id.as_deref().unwrap_or_default();
        let corr = correlation_yaml(&files, id);
        let ty = corr["type"].as_str().expect("type");
        let timespan = corr["timespan"].as_str().expect("timespan");
        let group_by: Vec<&str> = corr["group-by"]
            .as_sequence()
            .expect("group-by")
            .iter()
            .map(|v| v.as_str().expect("field"))
            .collect();
        let cond = corr["condition"].as_mapping().expect("condition");
        let q = &r.queries[0];
        assert!(
            q.contains(&format!("| bin _time span={timespan}\n")),
            "{id}: {q}"
        );
        assert!(
            q.contains(&format!("by _time {}\n", group_by.join(" "))),
            "{id}: {q}"
        );
        for (op, value) in cond.iter().filter(|(k, _)| k.as_str() != Some("field")) {
            let op = match op.as_str().expect("operator") {
                "gte" => ">=",
                "gt" => ">",
                "lte" => "<=",
                "lt" => "<",
                "eq" => "=",
                other => panic!("{id}: condition operator {other}"),
            };
            let value = value.as_u64().expect("an integer threshold");
            assert!(
                q.contains(&format!("| search {ty} {op} {value}")),
                "{id}: {q}"
            );
        }
        correlations_checked += 1;
    }
    assert!(correlations_checked > 0);
}

/// The correlation document `id` of the emitted Sigma files, as YAML.
fn correlation_yaml(files: &[&Emitted], id: &str) -> serde_yaml::Value {
    files
        .iter()
        .flat_map(|e| serde_yaml::Deserializer::from_str(&e.text))
        .map(|d| serde_yaml::Value::deserialize(d).expect("emitted YAML"))
        .find(|v| v["id"].as_str() == Some(id))
        .map(|v| v["correlation"].clone())
        .unwrap_or_else(|| panic!("no document {id}"))
}

// --- What the emitted Sigma means after pySigma's kusto backend -------------------------------

/// A detection of the emitted Sigma that pySigma-backend-kusto 1.0.1 (pipeline microsoft_xdr)
/// does NOT convert to the same meaning, whatever spec-correct shape we give it: the detection
/// (its YAML, as JSON) and exactly what it becomes when converted alone (`Ok(query)`), or why it
/// gives no query (`Err`). Documented in docs/TARGETS.md ("pySigma conversions").
struct PinnedLoss {
    detection: &'static str,
    converted: Result<&'static str, &'static str>,
}

const KUSTO_PINNED_LOSSES: &[PinnedLoss] = &[
    // microsoft_xdr drops every `Initiated` item of a network_connection rule (processing item
    // microsoft_xdr_network_initiated_field, a DropDetectionItemTransformation): DeviceNetworkEvents
    // has no such column (direction is in ActionType) and the pipeline maps nothing to it. In the
    // whole rule the outbound filter silently disappears: inbound connections match too.
    PinnedLoss {
        detection: r#"{"Initiated":"true"}"#,
        converted: Err("the backend produced 0 queries"),
    },
    // The backend renders every `|cidr` block with ipv4_is_in_range, IPv6 ones too; Kusto's
    // ipv4_is_in_range returns null when the range does not parse as IPv4, so the `::1/128` test is
    // null on every row and, under the rule's `not`, drops every row: the converted AN0379 base
    // queries return nothing.
    PinnedLoss {
        detection: r#"{"DestinationIp|cidr":["127.0.0.0/8","::1/128"]}"#,
        converted: Ok(
            "DeviceNetworkEvents\n| where ipv4_is_in_range(RemoteIP, \"127.0.0.0/8\") \
                       or ipv4_is_in_range(RemoteIP, \"::1/128\")",
        ),
    },
];

/// Integers anywhere in a detection's YAML (the values a numeric predicate tests).
fn yaml_integers(v: &serde_yaml::Value, out: &mut Vec<i64>) {
    match v {
        serde_yaml::Value::Number(n) => out.extend(n.as_i64()),
        serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| yaml_integers(x, out)),
        serde_yaml::Value::Mapping(m) => m.values().for_each(|x| yaml_integers(x, out)),
        _ => {}
    }
}

/// Every detection of every base rule pySigma's kusto backend (microsoft_xdr) converts keeps its
/// meaning in the converted KQL, or is a pinned loss with its exact converted text:
/// - each detection converted alone is kept verbatim in the whole rule's query (no predicate
///   silently dropped or rewritten by the rule's context);
/// - the whole query and each detection's query get ZERO Kusto.Language diagnostics on the
///   documented DeviceNetworkEvents schema (a port set rendered as strings is KS107);
/// - each integer of a detection is compared as a number (never a quoted string);
/// - no IPv6 block is tested by ipv4_is_in_range (always null) unless pinned.
#[test]
fn pysigma_kusto_conversion_keeps_each_predicate() {
    let (names, res) = compiled_pack();
    let files = emitted_for(&names, &res, "sigma");
    let dir = SigmaDir::new("meaning", &files);
    let kusto = sigma_convert(dir.path(), SigmaBackend::KustoXdr).expect("pySigma kusto oracle");
    let documents: Vec<serde_yaml::Value> = files
        .iter()
        .flat_map(|e| serde_yaml::Deserializer::from_str(&e.text))
        .map(|d| serde_yaml::Value::deserialize(d).expect("emitted YAML"))
        .collect();
    let mut failures = Vec::new();
    let mut pinned_seen = vec![0usize; KUSTO_PINNED_LOSSES.len()];
    let mut checked = 0;
    // (name, text) of every converted query, checked by Kusto.Language in one run below.
    let mut kql: Vec<(String, String)> = Vec::new();
    for r in kusto
        .iter()
        .filter(|r| r.kind == "rule" && r.error.is_none())
    {
        let id = r.id.as_deref().unwrap_or_default();
        let doc = documents
            .iter()
            .find(|d| d["id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("no document {id}"));
        let whole = &r.queries[0];
        kql.push((format!("{id} (whole rule)"), whole.clone()));
        let detection = doc["detection"].as_mapping().expect("detection");
        for (name, body) in detection {
            let name = name.as_str().expect("detection name");
            if name == "condition" {
                continue;
            }
            checked += 1;
            let what = format!("{id} {name}");
            let json = serde_json::to_string(body).expect("detection as JSON");
            let got = r
                .selections
                .get(name)
                .unwrap_or_else(|| panic!("{what}: not converted alone"));
            if let Some(i) = KUSTO_PINNED_LOSSES.iter().position(|p| p.detection == json) {
                let want = KUSTO_PINNED_LOSSES[i].converted.map(str::to_string);
                let want = want.map_err(str::to_string);
                if *got == want {
                    pinned_seen[i] += 1;
                } else {
                    failures.push(format!(
                        "{what}: pinned loss changed (update KUSTO_PINNED_LOSSES and \
                         docs/TARGETS.md):\n  want {want:?}\n  got  {got:?}"
                    ));
                }
                continue;
            }
            let q = match got {
                Ok(q) => q,
                Err(e) => {
                    failures.push(format!("{what} {json}: dropped ({e})"));
                    continue;
                }
            };
            let table = xdr_table(doc["logsource"]["category"].as_str());
            let clause = q
                .strip_prefix(&format!("{table}\n| where "))
                .unwrap_or_else(|| panic!("{what}: not a {table} query: {q}"));
            if !whole.contains(clause) {
                failures.push(format!(
                    "{what}: `{clause}` is not in the whole rule's query:\n{whole}"
                ));
            }
            let mut ints = Vec::new();
            yaml_integers(body, &mut ints);
            for n in ints {
                let quoted = format!("\"{n}\"");
                let bare = regex::Regex::new(&format!(r"[^\w.\x22]{n}\b")).expect("regex");
                if clause.contains(&quoted) || !bare.is_match(clause) {
                    failures.push(format!("{what}: {n} is not compared as a number: {clause}"));
                }
            }
            if clause.contains("ipv4_is_in_range") && clause.contains(':') {
                failures.push(format!(
                    "{what}: an IPv6 block under ipv4_is_in_range: {clause}"
                ));
            }
            kql.push((what, q.clone()));
        }
    }
    assert!(checked > 0, "no detection converted");
    for (i, p) in KUSTO_PINNED_LOSSES.iter().enumerate() {
        if pinned_seen[i] == 0 {
            failures.push(format!(
                "pinned loss {} no longer seen (update KUSTO_PINNED_LOSSES)",
                p.detection
            ));
        }
    }
    let databases = vec![(
        "kql-defender".to_string(),
        kql_profile_tables("kql-defender").expect("profile tables"),
    )];
    let batch: Vec<KustoQuery<'_>> = kql
        .iter()
        .map(|(name, text)| KustoQuery {
            database: "kql-defender",
            name,
            text,
        })
        .collect();
    let results = kusto_check_in(&databases, &batch, false).expect("kusto oracle");
    assert_eq!(results.len(), kql.len());
    for ((name, text), (_, diags)) in kql.iter().zip(&results) {
        if !diags.is_empty() {
            failures.push(format!("{name}:\n{}\n{text}", render(diags)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!(
        "pySigma kusto: {checked} detections, {} queries with 0 Kusto.Language diagnostics",
        kql.len()
    );
}
