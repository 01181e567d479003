//! A rule's `platform`: written or derived from its ATT&CK analytic, it chooses each target's
//! entry for the source (Sigma's `product`, Splunk's search, the field names), and a target
//! without an entry for the platform refuses the rule by name (E0308).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
use crate::support::rules;
use detc::ir::Platform;
use detc::targets::{self, profile::profile};

/// A process_creation rule with `head` (clauses) before its source.
fn rule(head: &str) -> detc::ir::Rule {
    rules::text_rule(
        "platform.detc",
        &format!(
            "rule p {{\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d42\"\n  title \"t\"\n  severity low\n{head}  source process_creation\n  where process.path == \"/usr/sbin/sendmail\"\n}}\n"
        ),
    )
}

fn sigma(r: &detc::ir::Rule) -> Result<String, Vec<detc::diag::Diagnostic>> {
    targets::compile_rule(r, &profile("sigma").unwrap()).map(|e| e.text)
}

#[test]
fn the_platform_is_the_clause_or_the_analytics() {
    assert_eq!(rule("").platform, None);
    assert_eq!(
        rule("  attack T1071.003 AN0380\n").platform,
        Some(Platform::Linux)
    );
    assert_eq!(
        rule("  attack T1071.003 AN0379\n").platform,
        Some(Platform::Windows)
    );
    // ATT&CK's Network Devices is no endpoint platform.
    assert_eq!(rule("  attack T1071.003 AN0382\n").platform, None);
    assert_eq!(rule("  platform macos\n").platform, Some(Platform::Macos));
    assert_eq!(
        rule("  platform linux\n  attack T1071.003 AN0380\n").platform,
        Some(Platform::Linux)
    );
}

#[test]
fn sigma_logsource_product_follows_the_platform() {
    let linux = sigma(&rule("  attack T1071.003 AN0380\n")).unwrap();
    assert!(
        linux.contains("logsource:\n  category: 'process_creation'\n  product: 'linux'\n"),
        "{linux}"
    );
    // A Windows rule and a rule without a platform read the default entry, as before.
    for head in ["  attack T1071.003 AN0379\n", ""] {
        let win = sigma(&rule(head)).unwrap();
        assert!(win.contains("  product: 'windows'\n"), "{win}");
    }
}

#[test]
fn a_linux_field_the_windows_entry_has_is_refused_on_linux() {
    let r = rules::text_rule(
        "platform.detc",
        "rule p {\n  id \"0b7e4a52-6d0e-4c1b-9a57-2b8f1e0c7d42\"\n  title \"t\"\n  severity low\n  platform linux\n  source process_creation\n  where process.original_name == \"curl\"\n}\n",
    );
    let e = sigma(&r).unwrap_err();
    assert_eq!(e[0].code, "E0902", "{e:#?}");
    assert!(e[0].message.contains("version resource"), "{e:#?}");
}

#[test]
fn a_target_without_the_platform_refuses_by_name() {
    // spl-sysmon's process_creation reads Windows' XmlWinEventLog only; macOS has no Sysmon.
    let r = rule("  platform macos\n");
    let e = targets::compile_rule(&r, &profile("spl-sysmon").unwrap()).unwrap_err();
    assert_eq!(e[0].code, "E0308", "{e:#?}");
    assert!(
        e[0].message.contains("rule `p`")
            && e[0].message.contains("spl-sysmon")
            && e[0].message.contains("process_creation")
            && e[0].message.contains("macos"),
        "{}",
        e[0].message
    );
    // Defender's one table holds every platform's processes.
    assert!(targets::compile_rule(&r, &profile("kql-defender").unwrap()).is_ok());
}
