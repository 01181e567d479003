//! The emitter context shared by the query languages: a rule, its profile and source mapping;
//! resolving catalogue fields to checked columns, refusals and warnings, rendering the template.

use super::profile::{FieldMap, Profile, SourceMap};
use crate::diag::{Code, Diagnostic, Span};
use crate::ir::visit::{aggregation_fields, fields_used};
use crate::ir::{self, Expr, FieldRef, Rule};

/// A resolved catalogue field: its mapping and type.
#[derive(Debug, Clone)]
pub(crate) struct Col {
    /// The catalogue field name.
    pub field: String,
    pub map: FieldMap,
    /// The vendor type of the column (`int`, `string`, `Integer`, ...).
    pub vendor_ty: String,
}

impl Col {
    /// Whether the vendor type holds text (so that KQL stores "missing" as the empty string).
    pub fn is_text(&self) -> bool {
        !matches!(
            self.vendor_ty.to_ascii_lowercase().as_str(),
            "int"
                | "long"
                | "real"
                | "number"
                | "datetime"
                | "date/time"
                | "bool"
                | "boolean"
                | "integer"
                | "timespan"
                | "time"
                | "implicit"
        )
    }
}

pub(crate) struct Ctx<'a> {
    pub rule: &'a Rule,
    pub profile: &'a Profile,
    pub src: &'a SourceMap,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        rule: &'a Rule,
        profile: &'a Profile,
        src: &'a SourceMap,
    ) -> Result<Ctx<'a>, Vec<Diagnostic>> {
        let ctx = Ctx { rule, profile, src };
        // Sigma cannot read the event time at all; a rule asking for its hour or weekday is
        // refused for that construct (E0912), not for the field it reads (E0902).
        if profile.language == super::Language::Sigma {
            if let Some(c) = crate::ir::visit::first_time_compare(rule) {
                return Err(vec![super::sigma::refuse_compare(&ctx, c)]);
            }
        }
        // Resolve every catalogue field the rule reads up front: all errors at once.
        let mut errs = Vec::new();
        // (Aggregated fields are resolved where they are used: Sigma reports but never reads
        // aggregates outside `having`.)
        for (name, span) in fields_used(rule, false) {
            if let Err(d) = ctx.field(&name, &span) {
                if !errs.iter().any(|e: &Diagnostic| e.message == d.message) {
                    errs.push(d);
                }
            }
        }
        if errs.is_empty() {
            Ok(ctx)
        } else {
            Err(errs)
        }
    }

    pub fn table(&self) -> &str {
        &self.src.table
    }

    /// The mapping of catalogue field `name`, its column checked against the vendor schema.
    pub fn field(&self, name: &str, span: &Span) -> Result<Col, Diagnostic> {
        let Some(map) = self.src.fields.get(name) else {
            let why = self
                .src
                .unsupported
                .get(name)
                .cloned()
                .unwrap_or_else(|| "the profile maps no column to it".into());
            return Err(Diagnostic::new(
                Code::E0902,
                format!(
                    "rule `{}`: field `{name}` cannot be read in target `{}` ({}): {why}",
                    self.rule.name, self.profile.name, self.src.table
                ),
            )
            .at(span.clone())
            .found(format!("field {name}"))
            .expected(format!(
                "a field {} provides: {}",
                self.profile.name,
                self.src
                    .fields
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let vendor_ty = self.column(&map.column, span)?;
        for c in &map.join {
            self.column(c, span)?;
        }
        if let Some((sw, partner)) = self.src.swap_partner(&map.column) {
            self.column(&partner, span)?;
            self.column(&sw.column, span)?;
        }
        Ok(Col {
            field: name.to_string(),
            map: map.clone(),
            vendor_ty: if !map.join.is_empty() {
                "string".into()
            } else if map.derive == Some(super::Derive::Long) {
                // Read through `tolong`: a number, or null where the text is none.
                "long".into()
            } else {
                vendor_ty
            },
        })
    }

    /// Checks that `column` exists in the table; returns its vendor type.
    pub fn column(&self, column: &str, span: &Span) -> Result<String, Diagnostic> {
        match self.src.columns.get(column) {
            Some(t) => Ok(t.clone()),
            None => {
                let near = nearest_columns(column, self.src.columns.keys().map(String::as_str));
                Err(Diagnostic::new(
                    Code::E0903,
                    format!(
                        "rule `{}`: table `{}` of target `{}` has no column `{column}`",
                        self.rule.name, self.src.table, self.profile.name
                    ),
                )
                .at(span.clone())
                .found(format!("column {column}"))
                .expected(format!(
                    "a column of {} ({})",
                    self.src.table, self.src.schema
                ))
                .hint(format!("nearest columns: {}", near.join(", "))))
            }
        }
    }

    /// A rule's regex as a query language writes it: ASCII-only case folding spelled out
    /// ([`ir::semantics::ascii_fold_regex`]), or the refusal (E0904) when it cannot be.
    pub fn fold_regex(
        &self,
        pattern: &str,
        case: ir::Case,
        span: &Span,
    ) -> Result<String, Diagnostic> {
        ir::semantics::ascii_fold_regex(pattern, case == ir::Case::Insensitive)
            .map_err(|why| self.refuse("this regular expression", &why, span))
    }

    /// A refusal: the target cannot express `construct`.
    pub fn refuse(&self, construct: &str, why: &str, span: &Span) -> Diagnostic {
        Diagnostic::new(
            Code::E0904,
            format!(
                "rule `{}`: {construct} cannot be expressed in target `{}`: {why}",
                self.rule.name, self.profile.name
            ),
        )
        .at(span.clone())
        .found(construct.to_string())
    }

    pub fn warn(&self, code: Code, msg: String) -> Diagnostic {
        Diagnostic::new(
            code,
            format!("rule `{}` ({}): {msg}", self.rule.name, self.profile.name),
        )
        .at(self.rule.span.clone())
    }

    /// W0905 for every field whose mapping is exact only under a conjunct the filter lacks.
    /// `keys_only`: only fields used as group keys or aggregated (where a swap cannot be written
    /// per predicate).
    pub fn exactness_warnings(&self, keys_only: bool) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let used: Vec<(String, Span)> = if keys_only {
            aggregation_fields(self.rule, true)
        } else {
            fields_used(self.rule, true)
        };
        if self.swap_excluded() {
            return out;
        }
        for (name, _) in used {
            let Some(m) = self.src.fields.get(&name) else {
                continue;
            };
            let Some((sw, partner)) = self.src.swap_partner(&m.column) else {
                continue;
            };
            if !seen.insert(name.clone()) {
                continue;
            }
            out.push(self.warn(
                Code::W0905,
                format!(
                    "`{name}` is `{}`, or `{partner}` when {} is {}: a group key or aggregate cannot switch columns per event, so `{}` is used; filter on the direction for an exact query",
                    m.column,
                    sw.column,
                    sw.values.join(" or "),
                    m.column
                ),
            ));
        }
        out
    }

    /// Whether the rule's filter rules out the swap condition: a top-level conjunct pins the swap
    /// column to values outside `swap.values` (`direction == outbound` is `Initiated == "true"`).
    pub fn swap_excluded(&self) -> bool {
        let Some(sw) = &self.src.swap else {
            return true;
        };
        let items: Vec<&Expr> = match &self.rule.filter {
            Expr::And(v) => v.iter().collect(),
            o => vec![o],
        };
        items.iter().any(|e| {
            let Expr::Pred(p) = e else { return false };
            let (
                FieldRef::Field(f),
                ir::Op::Eq {
                    value: ir::Value::Enum(sym),
                    ..
                },
            ) = (&p.field, &p.op)
            else {
                return false;
            };
            let Some(m) = self.src.fields.get(f) else {
                return false;
            };
            let vals = m.values.as_ref().and_then(|v| v.get(sym));
            m.column == sw.column
                && vals.is_some_and(|vs| {
                    !vs.is_empty()
                        && vs
                            .iter()
                            .all(|v| !sw.values.iter().any(|w| w.eq_ignore_ascii_case(v)))
                })
        })
    }

    /// The template, rendered with strict undefined behaviour.
    pub fn render(&self, ctx: minijinja::Value) -> Result<String, Vec<Diagnostic>> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_keep_trailing_newline(true);
        let internal = |e: minijinja::Error| {
            vec![Diagnostic::new(
                Code::E0905,
                format!(
                    "template of target `{}` failed for rule `{}`: {e}",
                    self.profile.name, self.rule.name
                ),
            )]
        };
        env.add_template("query", &self.profile.template)
            .map_err(internal)?;
        let t = env.get_template("query").map_err(internal)?;
        t.render(ctx).map_err(internal)
    }
}

/// The columns nearest to a missing one: most shared CamelCase / snake_case words first
/// (`AccountName` -> `InitiatingProcessAccountName`), then edit distance (`diag::nearest_n`).
fn nearest_columns<'c>(missing: &str, columns: impl Iterator<Item = &'c str>) -> Vec<&'c str> {
    fn words(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in s.chars() {
            if (!c.is_alphanumeric() || (c.is_uppercase() && !cur.is_empty())) && !cur.is_empty() {
                out.push(std::mem::take(&mut cur).to_lowercase());
            }
            if c.is_alphanumeric() {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            out.push(cur.to_lowercase());
        }
        out
    }
    let want = words(missing);
    let cols: Vec<&str> = columns.collect();
    let by_distance = crate::diag::nearest_n(missing, cols.iter().copied(), cols.len());
    let mut scored: Vec<(usize, usize, &str)> = by_distance
        .iter()
        .enumerate()
        .map(|(rank, c)| {
            let shared = words(c).iter().filter(|w| want.contains(w)).count();
            (usize::MAX - shared, rank, *c)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, _, c)| c).collect()
}
