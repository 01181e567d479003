//! The mapping table of `detc import sigma` (`sigma_fields.yaml`, beside this file): Sigma log
//! sources to detc sources, Sigma field names to catalogue fields. Data, so that adding a log
//! source or a field is one entry, not code.

use crate::ir::{catalogue, Source};
use serde::Deserialize;
use std::collections::BTreeMap;

const TABLE: &str = include_str!("sigma_fields.yaml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    logsources: Vec<Entry>,
}

/// One log source of the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The Sigma `logsource` keys this entry matches (each given one must be equal).
    pub logsource: BTreeMap<String, String>,
    #[serde(default)]
    source: Option<String>,
    /// Why the log source is not imported.
    #[serde(default)]
    pub refuse: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldMap>,
}

/// What a Sigma field is in the catalogue.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FieldMap {
    /// The catalogue field of the same values.
    Plain(String),
    /// An enum field: Sigma value (compared without regard to case) -> catalogue symbol.
    Enum {
        field: String,
        values: BTreeMap<String, String>,
    },
    /// The first field on the events where `when` does not hold, the second where it does
    /// (`None`: no catalogue field holds the value then).
    Swap {
        swap: (Option<String>, Option<String>),
        when: When,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub field: String,
    pub is: String,
}

impl Entry {
    /// The detc source of an entry that is not refused.
    pub fn source(&self) -> Option<Source> {
        catalogue::source_by_name(self.source.as_deref()?)
    }
}

/// The table, parsed once. It ships inside the binary and a unit test parses and validates it, so
/// a failure here cannot happen at run time; it would give an empty table (every rule refused).
pub fn entries() -> &'static [Entry] {
    static T: std::sync::OnceLock<Vec<Entry>> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        serde_yaml::from_str::<File>(TABLE)
            .map(|f| f.logsources)
            .unwrap_or_default()
    })
}

/// The entry for a Sigma log source: the first whose every key equals the rule's.
pub fn lookup(logsource: &BTreeMap<String, String>) -> Option<&'static Entry> {
    entries().iter().find(|e| {
        e.logsource
            .iter()
            .all(|(k, v)| logsource.get(k).is_some_and(|x| x.eq_ignore_ascii_case(v)))
    })
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    /// Every catalogue field the table names exists, with the type its form needs.
    #[test]
    fn the_table_parses_and_names_catalogue_fields() {
        let file: File = match serde_yaml::from_str(TABLE) {
            Ok(f) => f,
            Err(e) => panic!("sigma_fields.yaml: {e}"),
        };
        assert!(!file.logsources.is_empty());
        for e in &file.logsources {
            if e.refuse.is_some() {
                assert!(e.source.is_none() && e.fields.is_empty(), "{e:?}");
                continue;
            }
            let Some(src) = e.source() else {
                panic!("unknown source in {e:?}")
            };
            let known = |f: &str| catalogue::field(src, f).is_some();
            for (name, m) in &e.fields {
                match m {
                    FieldMap::Plain(f) => assert!(known(f), "{name}: {f}"),
                    FieldMap::Enum { field, values } => {
                        let Some(def) = catalogue::field(src, field) else {
                            panic!("{name}: {field}")
                        };
                        let crate::ir::FieldType::Enum(symbols) = def.ty else {
                            panic!("{name}: {field} is not an enum")
                        };
                        assert!(values.values().all(|v| symbols.contains(v)), "{name}");
                    }
                    FieldMap::Swap { swap, when } => {
                        for f in [&swap.0, &swap.1].into_iter().flatten() {
                            assert!(known(f), "{name}: {f}");
                        }
                        assert!(known(&when.field), "{name}: {}", when.field);
                    }
                }
            }
        }
    }
}
