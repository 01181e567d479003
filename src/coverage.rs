//! ATT&CK coverage of a pack: which techniques and analytics each target really covers, and the
//! ATT&CK Navigator layers (format 4.5) that show it.
//!
//! Input: the checked pack and the compile driver's result for `all` targets. A technique or an
//! analytic counts on a target only when some rule naming it was emitted for that target (an
//! output of [`crate::targets::compile_pack`]), not when the profile merely has the rule's source:
//! a rule a target refuses (W0900) covers nothing there. Output: [`Coverage`] as data, and layers
//! as [`Emitted`] files the CLI writes or drift-checks like queries.

use crate::ir::{self, attack};
use crate::targets::{CompileResult, Emitted};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One technique or analytic against the targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `T1071.003` or `AN0379`.
    pub id: String,
    /// The technique's name, or the detection strategy an analytic belongs to (`DET0135`).
    pub name: String,
    /// Every rule of the pack naming it, sorted.
    pub rules: Vec<String>,
    /// Target -> the rules naming it that were emitted for the target (empty: not covered).
    pub targets: BTreeMap<String, Vec<String>>,
}

/// The coverage of a pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// The ATT&CK release of the embedded catalogue (`18.1`).
    pub attack_version: String,
    /// Every target, in the registry's order.
    pub targets: Vec<String>,
    /// Every technique a rule names, sorted by id.
    pub techniques: Vec<Row>,
    /// Every analytic of every detection strategy that detects a technique of the pack, sorted.
    pub analytics: Vec<Row>,
}

/// Computes the coverage of `pack` from the driver's `result` over `targets`.
pub fn coverage(pack: &ir::Pack, result: &CompileResult, targets: &[String]) -> Coverage {
    let cat = attack::catalogue();
    let emitted: BTreeSet<(&str, &str)> = result
        .outputs
        .iter()
        .map(|e| (e.target.as_str(), e.rule.as_str()))
        .collect();
    // id -> rules naming it
    let mut techniques: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut analytics: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &pack.rules {
        for t in &r.meta.techniques {
            techniques.entry(t).or_default().insert(&r.name);
        }
        for a in &r.meta.analytics {
            analytics.entry(a).or_default().insert(&r.name);
        }
    }
    // Analytics of the strategies detecting the pack's techniques, named by a rule or not.
    for s in cat.strategies.values() {
        if s.techniques
            .iter()
            .any(|t| techniques.contains_key(t.as_str()))
        {
            for a in &s.analytics {
                analytics.entry(a).or_default();
            }
        }
    }
    let row = |id: &str, name: String, rules: &BTreeSet<&str>| Row {
        id: id.to_string(),
        name,
        rules: rules.iter().map(|r| r.to_string()).collect(),
        targets: targets
            .iter()
            .map(|t| {
                let on: Vec<String> = rules
                    .iter()
                    .filter(|r| emitted.contains(&(t.as_str(), **r)))
                    .map(|r| r.to_string())
                    .collect();
                (t.clone(), on)
            })
            .collect(),
    };
    Coverage {
        attack_version: cat.version.clone(),
        targets: targets.to_vec(),
        techniques: techniques
            .iter()
            .map(|(id, rules)| {
                let name = cat
                    .technique(id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                row(id, name, rules)
            })
            .collect(),
        analytics: analytics
            .iter()
            .map(|(id, rules)| {
                let name = cat
                    .strategy_of(id)
                    .map(|s| s.id.clone())
                    .unwrap_or_default();
                row(id, name, rules)
            })
            .collect(),
    }
}

impl Coverage {
    /// The table `detc coverage` prints: one line per technique and analytic, one column per
    /// target holding how many rules cover it there (`-` for none).
    pub fn table(&self) -> String {
        let mut head = vec!["id".to_string(), "name".to_string(), "rules".to_string()];
        head.extend(self.targets.iter().cloned());
        let mut rows = vec![head];
        for r in self.techniques.iter().chain(&self.analytics) {
            let mut line = vec![r.id.clone(), r.name.clone(), r.rules.len().to_string()];
            for t in &self.targets {
                let n = r.targets.get(t).map_or(0, Vec::len);
                line.push(if n == 0 { "-".into() } else { n.to_string() });
            }
            rows.push(line);
        }
        let cols = rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut s = format!(
            "ATT&CK {} coverage: rules emitted per target (a refused rule covers nothing)\n",
            self.attack_version
        );
        for (i, r) in rows.iter().enumerate() {
            // A blank line between techniques and analytics.
            if i == 1 + self.techniques.len() && i > 1 {
                s.push('\n');
            }
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            s.push_str(cells.join("  ").trim_end());
            s.push('\n');
        }
        s
    }

    /// One Navigator layer per target and one for the pack (`pack.json`, a technique's score
    /// there counts the rules emitted for at least one target), as files named `<target>.json`
    /// in folder `dir` (the `target` of each [`Emitted`]).
    pub fn navigator_layers(&self, dir: &str) -> Vec<Emitted> {
        let mut out: Vec<Emitted> = self
            .targets
            .iter()
            .map(|t| self.layer_file(dir, t, Some(t)))
            .collect();
        out.push(self.layer_file(dir, "pack", None));
        out
    }

    fn layer_file(&self, dir: &str, file: &str, target: Option<&str>) -> Emitted {
        let layer = self.layer(target);
        // Serializing plain structs of strings and numbers cannot fail.
        let text = serde_json::to_string_pretty(&layer).unwrap_or_default() + "\n";
        Emitted {
            rule: String::new(),
            target: dir.to_string(),
            file_name: format!("{file}.json"),
            text,
            warnings: Vec::new(),
        }
    }

    /// The rules covering `row` on `target`, or on any target for the pack layer.
    fn covering(&self, row: &Row, target: Option<&str>) -> Vec<String> {
        let set: BTreeSet<&String> = match target {
            Some(t) => row.targets.get(t).into_iter().flatten().collect(),
            None => row.targets.values().flatten().collect(),
        };
        set.into_iter().cloned().collect()
    }

    fn layer(&self, target: Option<&str>) -> Layer {
        let cat = attack::catalogue();
        let scope = target.map_or("any target".to_string(), |t| format!("target {t}"));
        let mut techniques = Vec::new();
        let mut max = 1;
        for row in &self.techniques {
            let rules = self.covering(row, target);
            // Analytics of the technique's strategies that a covering rule names.
            let analytics: Vec<&Row> = self
                .analytics
                .iter()
                .filter(|a| {
                    cat.strategies
                        .get(&a.name)
                        .is_some_and(|s| s.techniques.contains(&row.id))
                        && self.covering(a, target).iter().any(|r| rules.contains(r))
                })
                .collect();
            let mut metadata: Vec<Meta> = rules
                .iter()
                .map(|r| Meta::pair("rule", r.clone()))
                .collect();
            metadata.extend(
                analytics
                    .iter()
                    .map(|a| Meta::pair("analytic", format!("{} ({})", a.id, a.name))),
            );
            if target.is_none() {
                for (t, on) in &row.targets {
                    if !on.is_empty() {
                        metadata.push(Meta::pair("target", format!("{t}: {}", on.join(", "))));
                    }
                }
            }
            let comment = if rules.is_empty() {
                format!("no rule of the pack is emitted for {scope}")
            } else {
                let ids: Vec<&str> = analytics.iter().map(|a| a.id.as_str()).collect();
                format!(
                    "rules: {}; analytics: {}",
                    rules.join(", "),
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                )
            };
            max = max.max(rules.len());
            let tactics = cat
                .technique(&row.id)
                .map(|t| t.tactics.clone())
                .unwrap_or_default();
            for tactic in tactics {
                techniques.push(Technique {
                    technique_id: row.id.clone(),
                    tactic,
                    score: rules.len(),
                    comment: comment.clone(),
                    enabled: true,
                    metadata: metadata.clone(),
                });
            }
        }
        let major = self.attack_version.split('.').next().unwrap_or_default();
        Layer {
            name: match target {
                Some(t) => format!("detc coverage: {t}"),
                None => "detc coverage: pack".to_string(),
            },
            versions: Versions {
                attack: major.to_string(),
                navigator: NAVIGATOR_VERSION.to_string(),
                layer: "4.5".to_string(),
            },
            domain: "enterprise-attack".to_string(),
            description: format!(
                "Techniques of the rule pack on {scope}; score: the number of rules emitted for {scope} that name the technique (0: none)."
            ),
            sorting: 3,
            layout: LayoutObj {
                layout: "side".to_string(),
                show_id: true,
                show_name: true,
                expanded_subtechniques: "annotated".to_string(),
            },
            hide_disabled: false,
            techniques,
            gradient: Gradient {
                colors: vec!["#ffffff".to_string(), "#66b1ff".to_string()],
                min_value: 0,
                max_value: max,
            },
            metadata: vec![
                Meta::pair("generator", "detc coverage".to_string()),
                Meta::pair("attack", self.attack_version.clone()),
                Meta::pair("scope", scope),
            ],
        }
    }
}

/// The Navigator release named in `versions.navigator`: the format 4.5 document asks for at
/// least 4.9.0, and its own example names 5.2.0.
const NAVIGATOR_VERSION: &str = "5.2.0";

// The layer format 4.5 objects detc fills (mitre-attack/attack-navigator layers/spec/v4.5).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    name: String,
    versions: Versions,
    domain: String,
    description: String,
    sorting: u8,
    layout: LayoutObj,
    hide_disabled: bool,
    techniques: Vec<Technique>,
    gradient: Gradient,
    metadata: Vec<Meta>,
}

#[derive(Debug, Serialize)]
struct Versions {
    attack: String,
    navigator: String,
    layer: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LayoutObj {
    layout: String,
    #[serde(rename = "showID")]
    show_id: bool,
    show_name: bool,
    expanded_subtechniques: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Technique {
    #[serde(rename = "techniqueID")]
    technique_id: String,
    tactic: String,
    score: usize,
    comment: String,
    enabled: bool,
    metadata: Vec<Meta>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Gradient {
    colors: Vec<String>,
    min_value: usize,
    max_value: usize,
}

#[derive(Debug, Clone, Serialize)]
struct Meta {
    name: String,
    value: String,
}

impl Meta {
    fn pair(name: &str, value: String) -> Meta {
        Meta {
            name: name.to_string(),
            value,
        }
    }
}
