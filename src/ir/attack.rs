//! The MITRE ATT&CK Enterprise catalogue (v18.1), embedded at build time from
//! `data/attack/enterprise-attack-18.1.json` (a compact extract; its notice is beside it).
//!
//! The checker asks it whether an `attack` id exists, is revoked or deprecated, and whether an
//! analytic belongs to a detection strategy for one of the rule's techniques; the Sigma backend
//! asks it for the tactics of a technique (its `attack.<tactic>` tags).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("../../data/attack/enterprise-attack-18.1.json");

#[derive(Debug, Deserialize)]
pub struct Tactic {
    pub id: String,
    /// The Sigma / Navigator name (`command-and-control`): the `attack.` tag of the tactic.
    pub shortname: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    /// Tactic shortnames, in ATT&CK's order.
    pub tactics: Vec<String>,
    /// Set when ATT&CK revoked the technique: the id that replaces it.
    #[serde(default)]
    pub revoked_by: Option<String>,
    #[serde(default)]
    pub deprecated: bool,
}

#[derive(Debug, Deserialize)]
pub struct Strategy {
    pub id: String,
    pub techniques: Vec<String>,
    pub analytics: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Analytic {
    id: String,
    platforms: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Raw {
    attack_version: String,
    tactics: Vec<Tactic>,
    techniques: Vec<Technique>,
    detection_strategies: Vec<Strategy>,
    analytics: Vec<Analytic>,
}

/// The catalogue, indexed by id.
#[derive(Debug)]
pub struct Catalogue {
    pub version: String,
    pub tactics: Vec<Tactic>,
    pub techniques: BTreeMap<String, Technique>,
    pub strategies: BTreeMap<String, Strategy>,
    /// Analytic id -> the id of the detection strategy that lists it.
    pub analytic_strategy: BTreeMap<String, String>,
    /// Analytic id -> ATT&CK's platforms for it (`Windows`, `Linux`, `macOS`, `Network
    /// Devices`...; one each in v18.1).
    pub analytic_platforms: BTreeMap<String, Vec<String>>,
}

impl Catalogue {
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.techniques.get(id)
    }

    /// The detection strategy an analytic belongs to.
    pub fn strategy_of(&self, analytic: &str) -> Option<&Strategy> {
        self.strategies.get(self.analytic_strategy.get(analytic)?)
    }

    /// ATT&CK's platforms of an analytic (empty for an unknown id).
    pub fn platforms_of(&self, analytic: &str) -> &[String] {
        self.analytic_platforms
            .get(analytic)
            .map_or(&[], Vec::as_slice)
    }

    /// The shortname of every tactic, in ATT&CK's order.
    pub fn tactic_names(&self) -> impl Iterator<Item = &str> {
        self.tactics.iter().map(|t| t.shortname.as_str())
    }
}

/// The embedded catalogue, parsed once. The data is part of the binary and is checked by a unit
/// test, so a parse failure cannot happen at run time; it would yield an empty catalogue.
pub fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| parse(DATA).unwrap_or_else(|_| empty()))
}

fn empty() -> Catalogue {
    Catalogue {
        version: String::new(),
        tactics: Vec::new(),
        techniques: BTreeMap::new(),
        strategies: BTreeMap::new(),
        analytic_strategy: BTreeMap::new(),
        analytic_platforms: BTreeMap::new(),
    }
}

fn parse(text: &str) -> Result<Catalogue, serde_json::Error> {
    let raw: Raw = serde_json::from_str(text)?;
    let mut analytic_strategy = BTreeMap::new();
    for s in &raw.detection_strategies {
        for a in &s.analytics {
            analytic_strategy.insert(a.clone(), s.id.clone());
        }
    }
    Ok(Catalogue {
        version: raw.attack_version,
        tactics: raw.tactics,
        techniques: raw
            .techniques
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect(),
        strategies: raw
            .detection_strategies
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect(),
        analytic_strategy,
        analytic_platforms: raw
            .analytics
            .into_iter()
            .map(|a| (a.id, a.platforms))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded data parses, and holds what ATT&CK v18.1 says about the pack's technique.
    #[test]
    fn embedded_catalogue_parses_and_knows_t1071_003() {
        let c = parse(DATA).unwrap_or_else(|e| unreachable!("embedded ATT&CK data: {e}"));
        assert_eq!(c.version, "18.1");
        assert_eq!(c.tactics.len(), 14);
        assert_eq!(c.techniques.len(), 835);
        assert_eq!(c.strategies.len(), 691);
        assert_eq!(c.analytic_strategy.len(), 1739);
        assert_eq!(c.analytic_platforms.len(), 1739);
        for (a, p) in [
            ("AN0379", "Windows"),
            ("AN0380", "Linux"),
            ("AN0381", "macOS"),
            ("AN0382", "Network Devices"),
        ] {
            assert_eq!(c.platforms_of(a), [p.to_string()], "{a}");
        }
        let t = c.technique("T1071.003").map(|t| t.tactics.clone());
        assert_eq!(t, Some(vec!["command-and-control".to_string()]));
        let s = c
            .strategy_of("AN0382")
            .map(|s| (s.id.as_str(), s.techniques.clone()));
        assert_eq!(s, Some(("DET0135", vec!["T1071.003".to_string()])));
        assert_eq!(
            c.technique("T1002").and_then(|t| t.revoked_by.as_deref()),
            Some("T1560")
        );
        assert!(c.technique("T1026").is_some_and(|t| t.deprecated));
        // Every tactic a technique names is a tactic of the catalogue.
        let names: Vec<&str> = c.tactic_names().collect();
        for t in c.techniques.values() {
            for x in &t.tactics {
                assert!(names.contains(&x.as_str()), "{}: {x}", t.id);
            }
        }
    }
}
