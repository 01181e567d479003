//! Sigma's tag rules, checked before anything is emitted: the one place detc knows them.
//!
//! From the Sigma tags appendix (specification/sigma-appendix-tags.md, v2.1.0) and the validators
//! `sigma check` runs (pySigma 1.5.1 `sigma/validators/core/tags.py`): a tag is
//! `namespace.name`, lowercase letters, digits, `-`, `_` (and `.` in the name); the namespace is
//! one of attack, car, cve, d3fend, detection, stp, tlp; each namespace constrains its names. The
//! `attack` names are checked against the embedded ATT&CK catalogue: a tactic's shortname or a
//! current technique id; groups, software, data sources and mitigations (g/s/ds/m and four
//! digits) by form only, as the catalogue does not carry them.

use crate::diag::{nearest, Code, Diagnostic};
use crate::ir::attack::catalogue;

const NAMESPACES: [&str; 7] = ["attack", "car", "cve", "d3fend", "detection", "stp", "tlp"];
const TLP: [&str; 6] = ["clear", "green", "amber", "amber-strict", "red", "white"];
const DETECTION: [&str; 3] = ["dfir", "emerging-threats", "threat-hunting"];

/// `Ok` when Sigma accepts `tag`; otherwise an E0213 error to be located by the caller.
pub fn check_tag(tag: &str) -> Result<(), Diagnostic> {
    let bad = |found: String, expected: &str, hint: String| {
        Err(
            Diagnostic::new(Code::E0213, format!("{tag:?} is not a valid Sigma tag"))
                .found(found)
                .expected(expected.to_string())
                .hint(hint),
        )
    };
    let Some((ns, name)) = tag.split_once('.') else {
        return bad(
            "no namespace".into(),
            "namespace.name, e.g. \"attack.t1071.003\" or \"detection.threat-hunting\"",
            format!("namespaces: {}", NAMESPACES.join(", ")),
        );
    };
    let ns_ok = !ns.is_empty()
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    let name_ok = !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if !ns_ok || !name_ok {
        return bad(
            format!("{tag:?}"),
            "lowercase letters, digits, `-`, `_` (and `.` after the namespace)",
            format!("write {:?}", tag.to_lowercase().replace(' ', "-")),
        );
    }
    if !NAMESPACES.contains(&ns) {
        let hint = match nearest(ns, NAMESPACES) {
            Some(n) => format!("did you mean `{n}.{name}`?"),
            None => format!("namespaces: {}", NAMESPACES.join(", ")),
        };
        return bad(
            format!("the namespace `{ns}`"),
            "one of Sigma's tag namespaces",
            hint,
        );
    }
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match ns {
        "attack" => return attack_name(tag, name),
        "car" => {
            // 2016-04-005
            let p: Vec<&str> = name.split('-').collect();
            p.len() == 3 && digits(p[0], 4) && digits(p[1], 2) && digits(p[2], 3)
        }
        "cve" => name.split_once('-').is_some_and(|(y, n)| {
            !y.is_empty()
                && !n.is_empty()
                && y.bytes().all(|b| b.is_ascii_digit())
                && n.bytes().all(|b| b.is_ascii_digit())
        }),
        "detection" => DETECTION.contains(&name),
        "stp" => {
            let b = name.as_bytes();
            matches!(b.first(), Some(b'1'..=b'5'))
                && (b.len() == 1 || (b.len() == 2 && matches!(b[1], b'a' | b'u' | b'k')))
        }
        "tlp" => TLP.contains(&name),
        _ => true, // d3fend: names are the D3FEND ontology's, not carried here.
    };
    if ok {
        return Ok(());
    }
    let expected = match ns {
        "car" => "a CAR analytic id without `CAR-`, e.g. \"car.2016-04-005\"".to_string(),
        "cve" => "a CVE id without `CVE-`, e.g. \"cve.2021-44228\"".to_string(),
        "detection" => format!("one of detection.{}", DETECTION.join(", detection.")),
        "stp" => "a robustness score 1-5, optionally with a, u or k: \"stp.3k\"".to_string(),
        _ => format!("one of tlp.{}", TLP.join(", tlp.")),
    };
    let hint = match ns {
        "detection" => nearest(name, DETECTION).map(|n| format!("did you mean `detection.{n}`?")),
        "tlp" => nearest(name, TLP).map(|n| format!("did you mean `tlp.{n}`?")),
        _ => None,
    };
    bad(
        format!("`{name}` in the `{ns}` namespace"),
        &expected,
        hint.unwrap_or_else(|| "see the Sigma tags appendix".to_string()),
    )
}

fn attack_name(tag: &str, name: &str) -> Result<(), Diagnostic> {
    let cat = catalogue();
    if cat.tactic_names().any(|t| t == name) {
        return Ok(());
    }
    let upper = name.to_ascii_uppercase();
    if upper.starts_with('T') {
        if let Some(t) = cat.technique(&upper) {
            if t.revoked_by.is_none() && !t.deprecated {
                return Ok(());
            }
        }
    } else {
        let (prefix, digits) =
            upper.split_at(upper.find(|c: char| c.is_ascii_digit()).unwrap_or(0));
        // Assets (a1234) are in the tags appendix but not in pySigma 1.5.1's validator, which
        // `sigma check` runs: refused, so an emitted file never fails it.
        if ["G", "S", "DS", "M"].contains(&prefix)
            && digits.len() == 4
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Ok(());
        }
    }
    let mut d = Diagnostic::new(Code::E0213, format!("{tag:?} is not a valid Sigma tag"))
        .found(format!("`{name}` in the `attack` namespace"))
        .expected(format!(
            "a tactic (attack.command-and-control) or a current technique (attack.t1071.003) of ATT&CK v{}",
            cat.version
        ));
    let hint = if let Some(t) = cat.technique(&upper) {
        match &t.revoked_by {
            Some(by) => format!(
                "ATT&CK revoked {upper}; it is now {by}: `attack.{}`",
                by.to_lowercase()
            ),
            None => format!("ATT&CK deprecated {upper}; tag a current technique"),
        }
    } else if let Some(n) = nearest(&name.replace('_', "-"), cat.tactic_names()) {
        format!("did you mean `attack.{n}`?")
    } else if let Some(n) = nearest(&upper, cat.techniques.keys().map(String::as_str)) {
        format!("did you mean `attack.{}`?", n.to_lowercase())
    } else {
        "techniques belong in `attack` (T1071.003); their tags are emitted from it".to_string()
    };
    d = d.hint(hint);
    Err(d)
}

#[cfg(test)]
mod tests {
    use super::check_tag;

    #[test]
    fn sigma_tag_rules() {
        for ok in [
            "attack.command-and-control",
            "attack.t1071.003",
            "attack.t1071",
            "attack.g0007",
            "attack.ds0029",
            "attack.s0002",
            "attack.m1031",
            "car.2016-04-005",
            "cve.2021-44228",
            "d3fend.d3-am",
            "detection.threat-hunting",
            "stp.3k",
            "stp.4",
            "tlp.amber-strict",
        ] {
            assert!(check_tag(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "foo",
            "Attack.t1071",
            "attack.T1071",
            "mitre.t1071",
            "attack.command_and_control", // pySigma 1.5 knows tactics by their shortname
            "attack.t9999.999",
            "attack.t1002", // revoked
            "attack.ta0011",
            "car.2016-4-5",
            "cve.log4j",
            "detection.hunting",
            "stp.6",
            "tlp.purple",
            "attack.",
            "attack.a0001", // an asset: in the appendix, refused by `sigma check`
        ] {
            assert!(check_tag(bad).is_err(), "{bad} should be refused");
        }
        let hint = |t: &str| check_tag(t).err().map(|d| d.hints.join(" "));
        assert_eq!(
            hint("attack.command_and_control").as_deref(),
            Some("did you mean `attack.command-and-control`?")
        );
        assert_eq!(
            hint("attack.t1002").as_deref(),
            Some("ATT&CK revoked T1002; it is now T1560: `attack.t1560`")
        );
    }

    /// Every tag check_tag accepts matches pySigma's tag format validator
    /// (`^[a-z0-9\-_]+\.[a-z0-9\-_.]+$`): all strings of up to 4 characters from an alphabet
    /// with capitals, spaces, a non-ASCII letter and a line break, alone and after each namespace.
    #[test]
    fn accepted_tags_match_pysigmas_tag_pattern() {
        let pattern = regex::Regex::new(r"\A[a-z0-9\-_]+\.[a-z0-9\-_.]+\z")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let alphabet = ['a', 'Z', '1', '-', '_', '.', ' ', 'é', '\n'];
        let mut words = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            words.extend(last.iter().cloned());
        }
        let prefixes = [
            "", "attack.", "d3fend.", "tlp.", "cve.", "Attack.", "d3fend",
        ];
        let mut accepted = 0;
        for p in prefixes {
            for w in &words {
                let tag = format!("{p}{w}");
                if check_tag(&tag).is_ok() {
                    accepted += 1;
                    assert!(
                        pattern.is_match(&tag),
                        "{tag:?} accepted but pySigma refuses it"
                    );
                }
            }
        }
        assert!(
            accepted > 100,
            "the generator reaches accepted tags ({accepted})"
        );
    }
}
