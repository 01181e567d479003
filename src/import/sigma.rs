//! One Sigma detection rule (as `rsigma-parser` reads it) -> the text of one detc rule, or the
//! reason it cannot be imported exactly. The text is checked and formatted by the caller
//! ([`super::import_file`]).
//!
//! Meaning kept (docs/SIGMA.md has the whole table):
//! - Sigma compares strings without regard to case unless `|cased`; detc's `~` operators fold
//!   ASCII letters only (docs/SEMANTICS.md), so a case-insensitive value with a non-ASCII letter
//!   that has case is refused rather than matched differently.
//! - `*` and `?` inside a value: leading and trailing `*` become `startswith`/`endswith`/
//!   `contains`; any other wildcard makes an anchored regex (`*` = `[\s\S]*`, `?` = `[\s\S]`: any
//!   character, line breaks included, as Sigma defines them), the plain parts escaped.
//! - `windash`: pySigma's expansion (the Sigma reference implementation): every `-` or `/` that
//!   starts a word after a non-word character, in each of `-`, `/`, en dash, em dash, horizontal bar.
//! - `base64offset`: pySigma's three offsets; `base64`: the standard encoding; `wide`/`utf16*`
//!   under them encode the text as UTF-16 first.
//! - `null` and `''` are detc's `missing` where both stand side by side ([`Expr::merge_missing`]).

use super::expr::Expr;
use super::table::{self, Entry, FieldMap};
use crate::diag::Code;
use crate::ir::{catalogue, FieldType, Source};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule,
    SigmaString, SigmaValue, SpecialChar, StringPart,
};
use std::collections::BTreeMap;

/// Why a rule is not imported: a diagnostic code, the message, and the text of the Sigma file to
/// point at (a field key, a modifier), when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: Code,
    /// The reason, counted in the summary (`unknown field Provider_Name`).
    pub reason: String,
    /// More about it, for the diagnostic.
    pub detail: String,
    /// Text of the Sigma file the diagnostic points at.
    pub at: Option<String>,
}

fn refuse(code: Code, reason: impl Into<String>, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
        detail: detail.into(),
        at: None,
    }
}

impl Refusal {
    fn at(mut self, text: impl Into<String>) -> Refusal {
        self.at = Some(text.into());
        self
    }

    /// Located at `text` unless it already points somewhere.
    fn or_at(self, text: &str) -> Refusal {
        if self.at.as_deref().is_some_and(|a| !a.is_empty()) {
            self
        } else {
            self.at(text)
        }
    }
}

/// The parts of a detc rule the importer writes.
#[derive(Debug, Clone)]
pub struct Translated {
    pub source: Source,
    pub condition: String,
}

/// The source and condition of `rule`.
pub fn translate(rule: &SigmaRule) -> Result<Translated, Refusal> {
    let ls = logsource(rule);
    let shown: Vec<String> = ls.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let shown = format!("{{{}}}", shown.join(", "));
    let Some(entry) = table::lookup(&ls) else {
        return Err(refuse(
            Code::E0701,
            format!("log source not supported: {shown}"),
            "no entry of the import table (src/import/sigma_fields.yaml) matches it".to_string(),
        )
        .at("logsource:"));
    };
    if let Some(why) = &entry.refuse {
        return Err(refuse(
            Code::E0701,
            format!("log source not supported: {shown}"),
            why,
        )
        .at("logsource:"));
    }
    let Some(source) = entry.source() else {
        return Err(refuse(
            Code::E0701,
            format!("log source not supported: {shown}"),
            "the import table names no detc source for it",
        ));
    };
    let det = &rule.detection;
    if det.conditions.len() != 1 {
        return Err(refuse(
            Code::E0703,
            "several conditions",
            "a rule with a list of conditions is several rules; split it",
        )
        .at("condition:"));
    }
    if det.timeframe.is_some() {
        return Err(refuse(
            Code::E0703,
            "timeframe",
            "a detection `timeframe` (Sigma 1 aggregation) is not imported; write a correlation rule",
        )
        .at("timeframe:"));
    }
    let t = Translator { entry, source };
    let names: Vec<&String> = {
        let mut v: Vec<&String> = det.named.keys().collect();
        v.sort();
        v
    };
    let cond = t.condition(&det.conditions[0], &names, &det.named)?;
    let cond = cond.flatten().merge_missing();
    if let Some((field, value)) = cond.lone_missing() {
        return Err(refuse(
            Code::E0703,
            format!("{value} alone"),
            format!(
                "`{field}: {value}` without the matching `{}` test beside it: detc's `missing` is \
                 absent, null and empty alike (docs/SEMANTICS.md), so it would also match {}",
                if value == "null" { "''" } else { "null" },
                if value == "null" {
                    "an empty value"
                } else {
                    "an absent field"
                }
            ),
        ));
    }
    if cond.has_unswappable() {
        // Only exact where the condition is false on every swapped event.
        let mut whens = Vec::new();
        collect_unswappable(&cond, &mut whens);
        for (f, s, field) in whens {
            if cond.eval_assuming(&f, &s) != Some(false) {
                return Err(refuse(
                    Code::E0702,
                    format!("{field} where {f} == {s}"),
                    format!(
                        "on events where {f} == {s}, `{field}` is a value no catalogue field of \
                         {} holds, and the rule does not rule such events out",
                        source.name()
                    ),
                )
                .at(field));
            }
        }
    }
    let whole = cond.clone();
    let cond = cond.resolve_swaps(&whole).flatten();
    Ok(Translated {
        source,
        condition: cond.render(),
    })
}

fn collect_unswappable(e: &Expr, out: &mut Vec<(String, String, String)>) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| collect_unswappable(x, out)),
        Expr::Not(x) => collect_unswappable(x, out),
        Expr::Swap {
            sigma,
            when_field,
            when_symbol,
            swapped: None,
            ..
        } => out.push((when_field.clone(), when_symbol.clone(), sigma.clone())),
        _ => {}
    }
}

pub(super) fn logsource(rule: &SigmaRule) -> BTreeMap<String, String> {
    let l = &rule.logsource;
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("category", &l.category),
        ("product", &l.product),
        ("service", &l.service),
    ] {
        if let Some(v) = v {
            m.insert(k.to_string(), v.clone());
        }
    }
    m
}

struct Translator {
    entry: &'static Entry,
    source: Source,
}

/// The value modifiers of one detection item, sorted out.
#[derive(Debug, Default, Clone)]
struct Mods {
    op: Op,
    all: bool,
    cased: bool,
    windash: bool,
    base64: Option<Modifier>,
    utf16: Option<Modifier>,
    re_i: bool,
    re_m: bool,
    re_s: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Op {
    #[default]
    Eq,
    Contains,
    StartsWith,
    EndsWith,
    Re,
    Cidr,
    Cmp(&'static str),
    Exists,
}

fn modifier_name(m: Modifier) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{m:?}").to_lowercase())
}

impl Translator {
    fn condition(
        &self,
        c: &ConditionExpr,
        names: &[&String],
        named: &std::collections::HashMap<String, Detection>,
    ) -> Result<Expr, Refusal> {
        Ok(match c {
            ConditionExpr::And(v) => Expr::And(
                v.iter()
                    .map(|x| self.condition(x, names, named))
                    .collect::<Result<_, _>>()?,
            ),
            ConditionExpr::Or(v) => Expr::Or(
                v.iter()
                    .map(|x| self.condition(x, names, named))
                    .collect::<Result<_, _>>()?,
            ),
            ConditionExpr::Not(x) => Expr::Not(Box::new(self.condition(x, names, named)?)),
            ConditionExpr::Identifier(id) => match named.get(id) {
                Some(d) => self.detection(d).map_err(|r| r.or_at(id))?,
                None => {
                    return Err(refuse(
                        Code::E0700,
                        "condition names an unknown detection",
                        format!("the condition names `{id}`, which the detection does not define"),
                    )
                    .at("condition:"))
                }
            },
            ConditionExpr::Selector {
                quantifier,
                pattern,
            } => {
                let chosen: Vec<&&String> = names
                    .iter()
                    .filter(|n| pattern.matches_detection_name(n))
                    .collect();
                if chosen.is_empty() {
                    let shown = match pattern {
                        SelectorPattern::Them => "them".to_string(),
                        SelectorPattern::Pattern(p) => p.clone(),
                    };
                    return Err(refuse(
                        Code::E0700,
                        "condition selects no detection",
                        format!("`of {shown}` matches no detection of the rule"),
                    )
                    .at("condition:"));
                }
                let parts = chosen
                    .iter()
                    .map(|n| match named.get(n.as_str()) {
                        Some(d) => self.detection(d).map_err(|r| r.or_at(n.as_str())),
                        None => Ok(Expr::Or(Vec::new())),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                match quantifier {
                    Quantifier::Any | Quantifier::Count(1) => Expr::or(parts),
                    Quantifier::All => Expr::and(parts),
                    Quantifier::Count(n) => {
                        return Err(refuse(
                            Code::E0703,
                            format!("{n} of"),
                            "`N of` with N above 1 has no detc form short of listing every \
                             combination",
                        )
                        .at("condition:"))
                    }
                }
            }
        })
    }

    fn detection(&self, d: &Detection) -> Result<Expr, Refusal> {
        Ok(match d {
            Detection::AllOf(items) => Expr::and(
                items
                    .iter()
                    .map(|i| self.item(i))
                    .collect::<Result<_, _>>()?,
            ),
            Detection::AnyOf(ds) => Expr::or(
                ds.iter()
                    .map(|x| self.detection(x))
                    .collect::<Result<_, _>>()?,
            ),
            Detection::And(ds) => Expr::and(
                ds.iter()
                    .map(|x| self.detection(x))
                    .collect::<Result<_, _>>()?,
            ),
            Detection::Keywords(_) => {
                return Err(refuse(
                    Code::E0703,
                    "keywords",
                    "a keyword list searches every field of the event; detc predicates name \
                     their field",
                ))
            }
            Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
                let f = match d {
                    Detection::ArrayMatch { field, .. } => field.clone(),
                    _ => String::new(),
                };
                return Err(refuse(
                    Code::E0703,
                    "array matching",
                    "array object-scope blocks (`field[any]:`) have no detc form",
                )
                .at(f));
            }
        })
    }

    fn mods(&self, item: &DetectionItem, key: &str) -> Result<Mods, Refusal> {
        let mut m = Mods::default();
        let set_op = |m: &mut Mods, op: Op, modifier: Modifier| {
            if m.op != Op::Eq && m.op != op {
                return Err(refuse(
                    Code::E0703,
                    format!("modifier {}", modifier_name(modifier)),
                    format!(
                        "`{}` together with another matching modifier",
                        modifier_name(modifier)
                    ),
                )
                .at(key));
            }
            m.op = op;
            Ok(())
        };
        for &md in &item.field.modifiers {
            match md {
                Modifier::Contains => set_op(&mut m, Op::Contains, md)?,
                Modifier::StartsWith => set_op(&mut m, Op::StartsWith, md)?,
                Modifier::EndsWith => set_op(&mut m, Op::EndsWith, md)?,
                Modifier::Re => set_op(&mut m, Op::Re, md)?,
                Modifier::Cidr => set_op(&mut m, Op::Cidr, md)?,
                Modifier::Exists => set_op(&mut m, Op::Exists, md)?,
                Modifier::Gt => set_op(&mut m, Op::Cmp(">"), md)?,
                Modifier::Gte => set_op(&mut m, Op::Cmp(">="), md)?,
                Modifier::Lt => set_op(&mut m, Op::Cmp("<"), md)?,
                Modifier::Lte => set_op(&mut m, Op::Cmp("<="), md)?,
                Modifier::All => m.all = true,
                Modifier::Cased => m.cased = true,
                Modifier::WindAsh => m.windash = true,
                Modifier::Base64 | Modifier::Base64Offset => m.base64 = Some(md),
                Modifier::Wide | Modifier::Utf16be | Modifier::Utf16 => m.utf16 = Some(md),
                Modifier::IgnoreCase => m.re_i = true,
                Modifier::Multiline => m.re_m = true,
                Modifier::DotAll => m.re_s = true,
                other => {
                    let name = modifier_name(other);
                    let why = match other {
                        Modifier::FieldRef => {
                            "detc compares a text field with a value, not with another field"
                        }
                        Modifier::Expand => "placeholders are filled by a processing pipeline detc does not run",
                        Modifier::Neq => "`neq` is not a Sigma 2 modifier detc knows the meaning of on a missing field",
                        _ => "detc has no predicate on parts of a timestamp here",
                    };
                    return Err(refuse(Code::E0703, format!("modifier {name}"), why).at(key));
                }
            }
        }
        if m.utf16.is_some() && m.base64.is_none() {
            return Err(refuse(
                Code::E0703,
                "modifier wide",
                "UTF-16 text is only matched through base64 here",
            )
            .at(key));
        }
        if (m.re_i || m.re_m || m.re_s) && m.op != Op::Re {
            return Err(refuse(Code::E0703, "regex flag without re", "i/m/s need |re").at(key));
        }
        Ok(m)
    }

    fn item(&self, item: &DetectionItem) -> Result<Expr, Refusal> {
        let Some(name) = &item.field.name else {
            return Err(refuse(
                Code::E0703,
                "keywords",
                "a keyword list searches every field of the event; detc predicates name their field",
            ));
        };
        // The key as written (`CommandLine|contains|all`), to point at.
        let key = std::iter::once(name.clone())
            .chain(item.field.modifiers.iter().map(|m| modifier_name(*m)))
            .collect::<Vec<_>>()
            .join("|");
        let Some(map) = self.entry.fields.get(name) else {
            let near = crate::diag::nearest(name, self.entry.fields.keys().map(String::as_str));
            return Err(refuse(
                Code::E0702,
                format!("unknown field {name}"),
                match near {
                    Some(n) => format!(
                        "`{name}` is not a field the import table maps for {} (did you mean `{n}`?)",
                        self.source.name()
                    ),
                    None => format!(
                        "`{name}` is not a field the import table maps for {}",
                        self.source.name()
                    ),
                },
            )
            .at(key));
        };
        let mods = self.mods(item, &key)?;
        match map {
            FieldMap::Plain(f) => self.values(f, item, &mods, &key),
            FieldMap::Enum { field, values } => self.enum_values(field, values, item, &mods, &key),
            FieldMap::Swap { swap, when } => {
                let normal = match &swap.0 {
                    Some(f) => self.values(f, item, &mods, &key)?,
                    None => {
                        return Err(refuse(
                            Code::E0702,
                            format!("unknown field {name}"),
                            format!("`{name}` is not a field detc reads on these events"),
                        )
                        .at(key))
                    }
                };
                let swapped = match &swap.1 {
                    Some(f) => Some(Box::new(self.values(f, item, &mods, &key)?)),
                    None => None,
                };
                Ok(Expr::Swap {
                    sigma: name.clone(),
                    when_field: when.field.clone(),
                    when_symbol: when.is.clone(),
                    normal: Box::new(normal),
                    swapped,
                })
            }
        }
    }

    fn enum_values(
        &self,
        field: &str,
        values: &BTreeMap<String, String>,
        item: &DetectionItem,
        mods: &Mods,
        key: &str,
    ) -> Result<Expr, Refusal> {
        if mods.op != Op::Eq || mods.cased || mods.windash || mods.base64.is_some() {
            return Err(refuse(
                Code::E0703,
                format!("modifier on {}", item.field.name.as_deref().unwrap_or("")),
                format!(
                    "`{key}` is translated to `{field}`, whose values are symbols compared whole"
                ),
            )
            .at(key));
        }
        let mut out = Vec::new();
        for v in &item.values {
            let text = match v {
                SigmaValue::String(s) => s.as_plain(),
                SigmaValue::Bool(b) => Some(b.to_string()),
                SigmaValue::Integer(i) => Some(i.to_string()),
                _ => None,
            };
            let sym = text.and_then(|t| {
                values
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&t))
                    .map(|(_, s)| s.clone())
            });
            match sym {
                Some(symbol) => out.push(Expr::Enum {
                    field: field.to_string(),
                    symbol,
                }),
                None => {
                    return Err(refuse(
                        Code::E0703,
                        format!("value of {}", item.field.name.as_deref().unwrap_or("")),
                        format!(
                            "`{key}` takes {} here (as `{field}`); {v:?} is not one of them",
                            values.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .at(key))
                }
            }
        }
        Ok(if mods.all {
            Expr::and(out)
        } else {
            Expr::or(out)
        })
    }

    /// The predicates of one item on catalogue field `f`.
    fn values(
        &self,
        f: &str,
        item: &DetectionItem,
        mods: &Mods,
        key: &str,
    ) -> Result<Expr, Refusal> {
        let Some(def) = catalogue::field(self.source, f) else {
            return Err(refuse(
                Code::E0702,
                format!("unknown field {key}"),
                format!(
                    "the import table maps it to `{f}`, not a field of {}",
                    self.source.name()
                ),
            )
            .at(key));
        };
        if item.values.is_empty() {
            return Err(refuse(Code::E0700, "no value", format!("`{key}` has no value")).at(key));
        }
        if mods.op == Op::Exists {
            let [SigmaValue::Bool(b)] = item.values.as_slice() else {
                return Err(refuse(
                    Code::E0700,
                    "exists without a boolean",
                    "`exists` takes true or false",
                )
                .at(key));
            };
            let m = Expr::Missing {
                field: f.to_string(),
                null: true,
                empty: false,
            };
            return Ok(if *b { Expr::Not(Box::new(m)) } else { m });
        }
        let mut preds: Vec<Expr> = Vec::new();
        // Values of one detc operator, gathered into one list predicate.
        let mut lists: Vec<(String, Vec<String>)> = Vec::new();
        for v in &item.values {
            if matches!(v, SigmaValue::Null) {
                if mods.op != Op::Eq {
                    return Err(refuse(
                        Code::E0700,
                        "null under a modifier",
                        "`null` takes no modifier",
                    )
                    .at(key));
                }
                preds.push(Expr::Missing {
                    field: f.to_string(),
                    null: true,
                    empty: false,
                });
                continue;
            }
            match &def.ty {
                FieldType::String => {
                    for (op, text) in self.string_value(f, v, mods, key)? {
                        if let Some(text) = text {
                            match lists.iter_mut().find(|(o, _)| *o == op) {
                                Some((_, l)) if !mods.all && !op.starts_with("matches") => {
                                    l.push(text)
                                }
                                _ => lists.push((op, vec![text])),
                            }
                        } else {
                            // '' : the empty-string test.
                            preds.push(Expr::Missing {
                                field: f.to_string(),
                                null: false,
                                empty: true,
                            });
                        }
                    }
                }
                FieldType::Port | FieldType::Int | FieldType::Bytes => {
                    match self.number_value(f, v, mods, key)? {
                        (None, n) => match lists.iter_mut().find(|(o, _)| o == "==#") {
                            Some((_, l)) if !mods.all => l.push(n),
                            _ => lists.push(("==#".into(), vec![n])),
                        },
                        (Some(op), n) => preds.push(Expr::Pred(format!("{f} {op} {n}"))),
                    }
                }
                FieldType::Ip => preds.push(self.ip_value(f, v, mods, key)?),
                other => {
                    return Err(refuse(
                        Code::E0703,
                        format!("value of {key}"),
                        format!("`{f}` is of type {other:?}, which the importer does not compare with Sigma values"),
                    )
                    .at(key))
                }
            }
        }
        for (op, vals) in lists {
            if op == "==#" {
                // Numbers, written bare.
                preds.push(Expr::Pred(if vals.len() == 1 {
                    format!("{f} == {}", vals[0])
                } else {
                    format!("{f} in [{}]", vals.join(", "))
                }));
            } else if vals.len() == 1 {
                preds.push(Expr::Pred(format!("{f} {op} {}", quote(&vals[0]))));
            } else {
                let list_op = match op.as_str() {
                    "=~" => "in~",
                    "==" => "in",
                    o => o,
                };
                let items: Vec<String> = vals.iter().map(|v| quote(v)).collect();
                preds.push(Expr::Pred(format!("{f} {list_op} [{}]", items.join(", "))));
            }
        }
        Ok(if mods.all {
            Expr::and(preds)
        } else {
            Expr::or(preds)
        })
    }

    /// One string value -> (detc operator, text) pairs, any of which matches (several with
    /// windash or base64offset); `None` text for Sigma's empty string.
    fn string_value(
        &self,
        f: &str,
        v: &SigmaValue,
        mods: &Mods,
        key: &str,
    ) -> Result<Vec<(String, Option<String>)>, Refusal> {
        let s: SigmaString = match v {
            SigmaValue::String(s) => s.clone(),
            SigmaValue::Integer(i) => SigmaString::new(&i.to_string()),
            SigmaValue::Float(x) => SigmaString::new(&x.to_string()),
            SigmaValue::Bool(_) | SigmaValue::Null => {
                return Err(refuse(
                    Code::E0703,
                    format!("value of {key}"),
                    format!("a boolean value for the text field `{f}`"),
                )
                .at(key))
            }
        };
        let ci = !mods.cased;
        if let Op::Cmp(_) | Op::Cidr = mods.op {
            return Err(refuse(
                Code::E0703,
                format!("modifier on text {key}"),
                format!(
                    "`{f}` is text; a numeric or CIDR comparison needs a number or address field"
                ),
            )
            .at(key));
        }
        if mods.op == Op::Re {
            let mut pattern = s.original.clone();
            let mut insensitive = mods.re_i;
            if let Some(rest) = pattern.strip_prefix("(?i)") {
                pattern = rest.to_string();
                insensitive = true;
            }
            if insensitive && has_cased_non_ascii(&pattern) {
                return Err(non_ascii(key));
            }
            let mut flags = String::new();
            if mods.re_m {
                flags.push('m');
            }
            if mods.re_s {
                flags.push('s');
            }
            if !flags.is_empty() {
                pattern = format!("(?{flags}){pattern}");
            }
            // A pattern RE2 cannot run (look-around, backreferences) or whose case rule differs
            // between engines (an inline `(?i)` left inside) is refused here, by name.
            if let Err(e) = regex::RegexBuilder::new(&pattern)
                .size_limit(1 << 20)
                .build()
            {
                let msg = e.to_string();
                let last = msg.lines().last().unwrap_or("").trim();
                let last = last.strip_prefix("error: ").unwrap_or(last);
                let reason = if msg.contains("size limit") {
                    "regex too large"
                } else {
                    "regex outside RE2"
                };
                return Err(refuse(
                    Code::E0703,
                    reason,
                    format!("detc runs RE2-syntax regexes (no look-around, no backreferences, at most 1 MiB compiled): {last}"),
                )
                .at(key));
            }
            if let Err(why) = crate::ir::semantics::ascii_fold_regex(&pattern, insensitive) {
                return Err(refuse(Code::E0703, "regex case flags", why).at(key));
            }
            let op = if insensitive { "matches~" } else { "matches" };
            return Ok(vec![(op.to_string(), Some(pattern))]);
        }
        // Encodings first (they need the plain text), then wildcards from the match modifier.
        let mut variants: Vec<SigmaString> = vec![s.clone()];
        if mods.windash {
            variants =
                windash(&s).map_err(|why| refuse(Code::E0703, "modifier windash", why).at(key))?;
        }
        if let Some(b) = mods.base64 {
            let mut out = Vec::new();
            for s in &variants {
                let Some(plain) = s.as_plain() else {
                    return Err(refuse(
                        Code::E0703,
                        "wildcard under base64",
                        "a wildcard inside a value to encode has no base64 form",
                    )
                    .at(key));
                };
                let bytes = encode_text(&plain, mods.utf16);
                if b == Modifier::Base64 {
                    out.push(literal(&base64(&bytes)));
                } else {
                    out.extend(base64_offsets(&bytes).iter().map(|p| literal(p)));
                }
            }
            variants = out;
        }
        let mut result = Vec::new();
        for s in variants {
            let mut parts = s.parts.clone();
            let star = StringPart::Special(SpecialChar::WildcardMulti);
            match mods.op {
                Op::Contains => {
                    parts.insert(0, star.clone());
                    parts.push(star.clone());
                }
                Op::StartsWith => parts.push(star.clone()),
                Op::EndsWith => parts.insert(0, star.clone()),
                _ => {}
            }
            // Empty plain parts carry nothing.
            parts.retain(|p| !matches!(p, StringPart::Plain(t) if t.is_empty()));
            if parts.is_empty() {
                result.push(("==".to_string(), None));
                continue;
            }
            let lead = parts.first() == Some(&star);
            let trail = parts.len() > 1 && parts.last() == Some(&star);
            let lo = usize::from(lead);
            let hi = parts.len() - usize::from(trail);
            let middle = &parts[lo..hi.max(lo)];
            let text: String = middle
                .iter()
                .map(|p| match p {
                    StringPart::Plain(t) => t.as_str(),
                    _ => "",
                })
                .collect();
            if ci && has_cased_non_ascii(&text) {
                return Err(non_ascii(key));
            }
            let plain_middle = middle.iter().all(|p| matches!(p, StringPart::Plain(_)));
            if middle.is_empty() {
                return Err(refuse(
                    Code::E0703,
                    "value *",
                    "a value that is only `*` matches any value including the empty one, which \
                     detc counts as missing",
                )
                .at(key));
            }
            let tilde = if ci { "~" } else { "" };
            if plain_middle {
                let op = match (lead, trail) {
                    (false, false) => {
                        if ci {
                            "=~".to_string()
                        } else {
                            "==".to_string()
                        }
                    }
                    (true, true) => format!("contains{tilde}"),
                    (true, false) => format!("endswith{tilde}"),
                    (false, true) => format!("startswith{tilde}"),
                };
                result.push((op, Some(text)));
                continue;
            }
            let mut re = String::new();
            if !lead {
                re.push('^');
            }
            for p in middle {
                match p {
                    StringPart::Plain(t) => re.push_str(&regex::escape(t)),
                    StringPart::Special(SpecialChar::WildcardMulti) => re.push_str(r"[\s\S]*"),
                    StringPart::Special(SpecialChar::WildcardSingle) => re.push_str(r"[\s\S]"),
                }
            }
            if !trail {
                re.push('$');
            }
            result.push((format!("matches{tilde}"), Some(re)));
        }
        Ok(result)
    }

    /// A number: `(None, n)` for equality, `(Some(op), n)` for a comparison.
    fn number_value(
        &self,
        f: &str,
        v: &SigmaValue,
        mods: &Mods,
        key: &str,
    ) -> Result<(Option<&'static str>, String), Refusal> {
        let n = match v {
            SigmaValue::Integer(i) => Some(*i),
            SigmaValue::String(s) => s.as_plain().and_then(|t| t.trim().parse::<i64>().ok()),
            _ => None,
        };
        let Some(n) = n else {
            return Err(refuse(
                Code::E0703,
                format!("value of {key}"),
                format!("`{f}` is a number; {v:?} is not an integer without wildcards"),
            )
            .at(key));
        };
        match mods.op {
            Op::Eq => Ok((None, n.to_string())),
            Op::Cmp(op) => Ok((Some(op), n.to_string())),
            _ => Err(refuse(
                Code::E0703,
                format!("modifier on number {key}"),
                format!("`{f}` is a number: only equality and gt/gte/lt/lte apply"),
            )
            .at(key)),
        }
    }

    fn ip_value(&self, f: &str, v: &SigmaValue, mods: &Mods, key: &str) -> Result<Expr, Refusal> {
        let text = match v {
            SigmaValue::String(s) => Some(s.clone()),
            _ => None,
        };
        let bad = |why: &str| {
            refuse(
                Code::E0703,
                format!("value of {key}"),
                format!("`{f}` is an IP address: {why}"),
            )
            .at(key)
        };
        let Some(s) = text else {
            return Err(bad("the value is not text"));
        };
        match mods.op {
            Op::Cidr => {
                let t = s.original.trim().to_string();
                Ok(Expr::Pred(format!("{f} in [{t}]")))
            }
            Op::Eq if s.is_plain() => {
                let t = s.as_plain().unwrap_or_default();
                match t.parse::<std::net::IpAddr>() {
                    Ok(ip) => Ok(Expr::Pred(format!("{f} == {ip}"))),
                    Err(_) => Err(bad("the value is not an address")),
                }
            }
            Op::Eq | Op::StartsWith => {
                // `10.` or `10.*`: every dotted IPv4 text with that prefix is in one block.
                let mut parts = s.parts.clone();
                if mods.op == Op::Eq {
                    if parts.last() != Some(&StringPart::Special(SpecialChar::WildcardMulti)) {
                        return Err(bad("wildcards other than a trailing `*`"));
                    }
                    parts.pop();
                }
                let [StringPart::Plain(prefix)] = parts.as_slice() else {
                    return Err(bad("wildcards other than a trailing `*`"));
                };
                match ipv4_prefix_block(prefix) {
                    Some(block) => Ok(Expr::Pred(format!("{f} in [{block}]"))),
                    None => Err(bad(
                        "a text prefix that is not whole IPv4 octets ending in `.` has no CIDR form",
                    )),
                }
            }
            _ => Err(bad(
                "only equality, cidr and a prefix of whole octets apply",
            )),
        }
    }
}

fn non_ascii(key: &str) -> Refusal {
    refuse(
        Code::E0703,
        "case-insensitive non-ASCII letter",
        "Sigma compares this value without regard to case, and it has a non-ASCII letter with case; \
         detc folds ASCII letters only (docs/SEMANTICS.md), so it would not match the other case",
    )
    .at(key)
}

/// A letter outside ASCII that has another case.
fn has_cased_non_ascii(s: &str) -> bool {
    s.chars().any(|c| {
        !c.is_ascii()
            && (c.to_lowercase().ne(std::iter::once(c)) || c.to_uppercase().ne(std::iter::once(c)))
    })
}

fn literal(text: &str) -> SigmaString {
    SigmaString {
        parts: vec![StringPart::Plain(text.to_string())],
        original: text.to_string(),
    }
}

/// `10.` -> `10.0.0.0/8`, `192.168.` -> `192.168.0.0/16`: whole octets ending in a dot.
fn ipv4_prefix_block(prefix: &str) -> Option<String> {
    let body = prefix.strip_suffix('.')?;
    let octets: Vec<&str> = body.split('.').collect();
    if octets.is_empty() || octets.len() > 3 {
        return None;
    }
    let mut bytes = [0u8; 4];
    for (i, o) in octets.iter().enumerate() {
        // Dotted-decimal text without leading zeros, as every writer of these events prints it.
        if o.is_empty() || (o.len() > 1 && o.starts_with('0')) {
            return None;
        }
        bytes[i] = o.parse().ok()?;
    }
    Some(format!(
        "{}.{}.{}.{}/{}",
        bytes[0],
        bytes[1],
        bytes[2],
        bytes[3],
        octets.len() * 8
    ))
}

/// The dash characters `windash` puts in place of each other (pySigma's `SigmaWindowsDashModifier`).
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
/// At most 5^4 = 625 variants of one value.
const MAX_WINDASH: usize = 4;

/// pySigma's windash: each `-` or `/` at `\B[-/]\b` (after a non-word character or the start,
/// before a word character) in every dash character, all combinations.
fn windash(s: &SigmaString) -> Result<Vec<SigmaString>, String> {
    // Positions: (part index, char index within the part's text).
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut spots = Vec::new();
    for (pi, p) in s.parts.iter().enumerate() {
        if let StringPart::Plain(t) = p {
            let chars: Vec<char> = t.chars().collect();
            for (ci, &c) in chars.iter().enumerate() {
                if c != '-' && c != '/' {
                    continue;
                }
                let before_word = ci > 0 && is_word(chars[ci - 1]);
                let after_word = chars.get(ci + 1).is_some_and(|&n| is_word(n));
                if !before_word && after_word {
                    spots.push((pi, ci));
                }
            }
        }
    }
    if spots.len() > MAX_WINDASH {
        return Err(format!(
            "{} dashes to vary give {} variants of one value",
            spots.len(),
            DASHES.len().pow(spots.len() as u32)
        ));
    }
    let total = DASHES.len().pow(spots.len() as u32);
    let mut out = Vec::with_capacity(total);
    for combo in 0..total {
        let mut parts = s.parts.clone();
        let mut idx = combo;
        for &(pi, ci) in &spots {
            let d = DASHES[idx % DASHES.len()];
            idx /= DASHES.len();
            if let StringPart::Plain(t) = &mut parts[pi] {
                *t = t
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i == ci { d } else { c })
                    .collect();
            }
        }
        out.push(SigmaString {
            parts,
            original: s.original.clone(),
        });
    }
    Ok(out)
}

fn encode_text(text: &str, utf16: Option<Modifier>) -> Vec<u8> {
    match utf16 {
        None => text.as_bytes().to_vec(),
        Some(m) => {
            let mut out = Vec::new();
            if m == Modifier::Utf16 {
                out.extend_from_slice(&[0xFF, 0xFE]);
            }
            for u in text.encode_utf16() {
                if m == Modifier::Utf16be {
                    out.extend_from_slice(&u.to_be_bytes());
                } else {
                    out.extend_from_slice(&u.to_le_bytes());
                }
            }
            out
        }
    }
}

/// Standard base64 with padding (RFC 4648 section 4).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// pySigma's `base64offset`: the value after 0, 1 and 2 bytes of padding, encoded, with the
/// characters that depend on the unknown bytes around it cut off (`start_offsets = (0, 2, 3)`,
/// `end_offsets = (None, -3, -2)` indexed by `(len + i) % 3`).
fn base64_offsets(value: &[u8]) -> Vec<String> {
    let start = [0usize, 2, 3];
    let mut out = Vec::new();
    for i in 0..3 {
        let mut padded = vec![b' '; i];
        padded.extend_from_slice(value);
        let enc = base64(&padded);
        let cut = match (value.len() + i) % 3 {
            0 => 0,
            1 => 3,
            _ => 2,
        };
        let end = enc.len().saturating_sub(cut);
        if start[i] < end {
            out.push(enc[start[i]..end].to_string());
        }
    }
    out
}

/// A detc string literal: raw (`'...'`, no escapes) when it can be, else double-quoted.
pub fn quote(s: &str) -> String {
    if !s.contains('\'') && !s.chars().any(|c| c == '\n' || c == '\r') {
        return format!("'{s}'");
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_its_offsets_are_pysigmas() {
        assert_eq!(base64(b"cmd"), "Y21k");
        assert_eq!(base64(b"cm"), "Y20=");
        assert_eq!(base64(b"c"), "Yw==");
        // pySigma: SigmaBase64OffsetModifier on "sigma rules!" gives these three.
        assert_eq!(
            base64_offsets(b"sigma rules!"),
            vec!["c2lnbWEgcnVsZXMh", "NpZ21hIHJ1bGVzI", "zaWdtYSBydWxlcy"]
        );
    }

    #[test]
    fn windash_varies_flag_dashes_only() {
        let v = windash(&SigmaString::new(" -enc a-b")).unwrap_or_default();
        let texts: Vec<String> = v.iter().filter_map(|s| s.as_plain()).collect();
        assert_eq!(
            texts,
            vec![
                " -enc a-b",
                " /enc a-b",
                " \u{2013}enc a-b",
                " \u{2014}enc a-b",
                " \u{2015}enc a-b"
            ]
        );
        let v = windash(&SigmaString::new(" /c ")).unwrap_or_default();
        assert_eq!(v.len(), 5);
    }

    #[test]
    fn an_ipv4_text_prefix_is_a_block_only_on_whole_octets() {
        assert_eq!(ipv4_prefix_block("10."), Some("10.0.0.0/8".into()));
        assert_eq!(ipv4_prefix_block("192.168."), Some("192.168.0.0/16".into()));
        assert_eq!(ipv4_prefix_block("172.2"), None);
        assert_eq!(ipv4_prefix_block("01."), None);
    }

    #[test]
    fn quoting_prefers_raw_strings() {
        assert_eq!(quote(r"C:\Windows\"), r"'C:\Windows\'");
        assert_eq!(quote(r#"it's "x"\"#), r#""it's \"x\"\\""#);
    }
}
