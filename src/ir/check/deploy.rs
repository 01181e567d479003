//! The deployment clauses of a rule: `entities { kind: field, ... }` (each kind known and given
//! once, bound to a value the rule's alerts carry, of a type the kind can hold) and
//! `schedule every D delay D` (bounded; `every` only where no window sets it).

use super::values::type_name;
use super::Checker;
use crate::diag::{nearest, Code, Diagnostic};
use crate::ir::{catalogue, Aggregation, Entity, EntityKind, FieldRef, FieldType, Let, Source};
use crate::ir::{ScheduleSpec, Span};
use crate::syntax::ast::{Literal, Spanned};

/// The shortest and longest run interval a deployed rule may have: Microsoft Sentinel's bounds
/// for `queryFrequency` (5 minutes to 14 days), the narrowest of the targets.
pub const EVERY_MIN: u64 = 5 * 60;
pub const EVERY_MAX: u64 = 14 * 24 * 3600;
/// The longest ingestion delay: a day (a later event is a pipeline failure to alert on, not a
/// delay to wait for; Sentinel's lookback of at most 14 days must still hold two windows).
pub const DELAY_MAX: u64 = 24 * 3600;

impl Checker<'_> {
    /// `entities { ... }`: E0300 unknown kind, E0301 a kind twice, E0302 a name the rule's alerts
    /// do not carry (unknown, or dropped at aggregation), E0303 a value the kind cannot hold.
    pub(super) fn entities(
        &mut self,
        source: Source,
        lets: &[Let],
        aggregation: Option<&Aggregation>,
        bindings: &[(Spanned<String>, Spanned<String>)],
    ) -> Vec<Entity> {
        let mut out: Vec<Entity> = Vec::new();
        let mut seen: Vec<(EntityKind, Span)> = Vec::new();
        for (kind, field) in bindings {
            let Some(k) = EntityKind::ALL
                .iter()
                .copied()
                .find(|k| k.name() == kind.node)
            else {
                let names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.name()).collect();
                let mut d =
                    Diagnostic::new(Code::E0300, format!("unknown entity kind `{}`", kind.node))
                        .at(kind.span.clone())
                        .found(format!("`{}`", kind.node))
                        .expected(format!("one of {}", names.join(", ")));
                if let Some(n) = nearest(&kind.node, names.iter().copied()) {
                    d = d.hint(format!("did you mean `{n}`?"));
                }
                self.diags.push(d);
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == k) {
                self.diags.push(
                    Diagnostic::new(Code::E0301, format!("entity `{}` is given twice", k.name()))
                        .at(kind.span.clone())
                        .found(format!("a second `{}`", k.name()))
                        .expected("each entity kind once per rule")
                        .hint(format!(
                            "the first is at line {}; keep the one analysts pivot on",
                            first.line
                        )),
                );
                continue;
            }
            seen.push((k, kind.span.clone()));
            let Some((fref, ty)) = self.entity_value(source, lets, aggregation, field) else {
                continue;
            };
            let fits = match k {
                EntityKind::Ip => ty == FieldType::Ip,
                _ => ty == FieldType::String,
            };
            if !fits {
                let want = if k == EntityKind::Ip {
                    "an IP address field"
                } else {
                    "a text field"
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::E0303,
                        format!(
                            "entity `{}` cannot hold `{}`, of type {}",
                            k.name(),
                            field.node,
                            type_name(&ty)
                        ),
                    )
                    .at(field.span.clone())
                    .found(format!("`{}`: {}", field.node, type_name(&ty)))
                    .expected(want)
                    .hint(match k {
                        EntityKind::Ip => "bind `ip` to an address, e.g. `ip: remote.ip`",
                        _ => {
                            "bind it to a name or path, e.g. `host: host`, `process: process.path`"
                        }
                    }),
                );
                continue;
            }
            out.push(Entity {
                kind: k,
                field: fref,
                span: field.span.clone(),
            });
        }
        out
    }

    /// What `field` names among the values an alert of the rule carries, with its type: with
    /// aggregation a group key or an aggregate, without a catalogue or computed field.
    fn entity_value(
        &mut self,
        source: Source,
        lets: &[Let],
        aggregation: Option<&Aggregation>,
        field: &Spanned<String>,
    ) -> Option<(FieldRef, FieldType)> {
        let name = field.node.as_str();
        if !self.scalar_field(source, field) {
            return None;
        }
        let event = catalogue::field(source, name)
            .map(|f| (FieldRef::Field(name.to_string()), f.ty))
            .or_else(|| {
                lets.iter()
                    .find(|l| l.name == name)
                    .map(|l| (FieldRef::Computed(name.to_string()), l.ty.clone()))
            });
        let Some(a) = aggregation else {
            if event.is_none() {
                self.unknown_entity_value(source, field, None);
            }
            return event;
        };
        if let Some(ag) = a.aggregates.iter().find(|ag| ag.name == name) {
            return Some((FieldRef::Aggregate(name.to_string()), ag.ty.clone()));
        }
        match event {
            Some((fref, ty)) if a.group_by.contains(&fref) => Some((fref, ty)),
            Some(_) => {
                let keys: Vec<&str> = a.group_by.iter().map(FieldRef::name).collect();
                self.diags.push(
                    Diagnostic::new(
                        Code::E0302,
                        format!("entity field `{name}` is dropped at aggregation"),
                    )
                    .at(field.span.clone())
                    .found(format!("`{name}`, neither a group key nor an aggregate"))
                    .expected(format!(
                        "a group key ({}) or an aggregate of the rule",
                        keys.join(", ")
                    ))
                    .hint(format!(
                        "an alert is one group, which has no single `{name}`: add it to `group by`, or bind the entity to a group key"
                                        )),
                );
                None
            }
            None => {
                self.unknown_entity_value(source, field, Some(a));
                None
            }
        }
    }

    fn unknown_entity_value(
        &mut self,
        source: Source,
        field: &Spanned<String>,
        aggregation: Option<&Aggregation>,
    ) {
        let mut candidates: Vec<String> = match aggregation {
            Some(a) => a
                .group_by
                .iter()
                .map(|g| g.name().to_string())
                .chain(a.aggregates.iter().map(|ag| ag.name.clone()))
                .collect(),
            None => catalogue::fields(source)
                .iter()
                .map(|f| f.name.to_string())
                .collect(),
        };
        candidates.sort();
        let mut d = Diagnostic::new(
            Code::E0302,
            format!("unknown entity field `{}`", field.node),
        )
        .at(field.span.clone())
        .found(format!("`{}`", field.node))
        .expected(match aggregation {
            Some(_) => "a group key or an aggregate of the rule".to_string(),
            None => format!(
                "a field of {} or a computed field (see docs/LANGUAGE.md)",
                source.name()
            ),
        });
        if let Some(n) = nearest(&field.node, candidates.iter().map(String::as_str)) {
            d = d.hint(format!("did you mean `{n}`?"));
        }
        self.diags.push(d);
    }

    /// `schedule every D delay D`: each part once (E0204), `every` from 5 minutes to 14 days and
    /// only in a rule without a window (E0304: the window is the run interval), `delay` at most
    /// a day (E0304).
    pub(super) fn schedule(
        &mut self,
        parts: &[(Spanned<String>, Spanned<Literal>)],
        window: Option<u64>,
    ) -> Option<ScheduleSpec> {
        let mut spec = ScheduleSpec {
            every: None,
            delay: None,
        };
        let mut ok = true;
        for (key, value) in parts {
            let Literal::Duration(secs) = value.node else {
                // The grammar admits only a duration here.
                continue;
            };
            let slot = if key.node == "every" {
                &mut spec.every
            } else {
                &mut spec.delay
            };
            if slot.is_some() {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0204,
                        format!("`{}` is given twice in `schedule`", key.node),
                    )
                    .at(key.span.clone())
                    .found(format!("a second `{}`", key.node))
                    .expected(format!("one `{}` per schedule", key.node)),
                );
                ok = false;
                continue;
            }
            *slot = Some(secs);
            let problem = if key.node == "every" {
                match window {
                    Some(w) if w != secs => Some((
                        format!(
                            "`every {}` in a rule with `window {}`",
                            crate::targets::duration_text(secs),
                            crate::targets::duration_text(w)
                        ),
                        "no `every` (the rule runs once per window)".to_string(),
                        "a windowed rule runs once per closed window, so `every` is the window; leave it out, or change the window".to_string(),
                    )),
                    _ if !(EVERY_MIN..=EVERY_MAX).contains(&secs) => Some((
                        format!("`every {}` is out of range", crate::targets::duration_text(secs)),
                        "from 5m to 14d".to_string(),
                        "Microsoft Sentinel runs a scheduled rule every 5 minutes at most and every 14 days at least".to_string(),
                    )),
                    _ => None,
                }
            } else if secs > DELAY_MAX {
                Some((
                    format!("`delay {}` is out of range", crate::targets::duration_text(secs)),
                    "at most 1d".to_string(),
                    "the delay is how late an event may arrive; a longer one is a broken pipeline, better alerted on".to_string(),
                ))
            } else {
                None
            };
            if let Some((msg, expected, hint)) = problem {
                self.diags.push(
                    Diagnostic::new(Code::E0304, msg)
                        .at(value.span.clone())
                        .found(format!(
                            "`{} {}`",
                            key.node,
                            crate::targets::duration_text(secs)
                        ))
                        .expected(expected)
                        .hint(hint),
                );
                ok = false;
            }
        }
        ok.then_some(spec)
    }
}

/// The longest suppression: as long as the longest run interval (a longer silence is a disabled
/// rule, better written as one).
pub const SUPPRESS_MAX: u64 = EVERY_MAX;

impl Checker<'_> {
    /// `suppress D by k, ...`: each key a value every alert of the rule carries (without
    /// aggregation a catalogue or computed field holding one value; with it a group key), given
    /// once (E0309); `D` a whole number of the rule's run periods (`period`: the window, or the
    /// schedule's `every`), at most 14d (E0310). Suppression is counted in runs: each scheduled run
    /// reports one period, so only a whole number of periods means the same on every target.
    pub(super) fn suppress(
        &mut self,
        source: Source,
        lets: &[Let],
        aggregation: Option<&Aggregation>,
        period: u64,
        duration: &Spanned<Literal>,
        keys: &[Spanned<String>],
    ) -> Option<crate::ir::Suppress> {
        let mut ok = true;
        let mut out: Vec<FieldRef> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.node == key.node) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0309,
                        format!("suppression key `{}` is given twice", key.node),
                    )
                    .at(key.span.clone())
                    .found(format!("a second `{}`", key.node))
                    .expected("each key once")
                    .hint("remove the repeated key"),
                );
                ok = false;
                continue;
            }
            match self.suppress_key(source, lets, aggregation, key) {
                Some(f) => out.push(f),
                None => ok = false,
            }
        }
        let Literal::Duration(secs) = duration.node else {
            // The grammar admits only a duration here.
            return None;
        };
        let p = crate::targets::duration_text(period);
        let d = crate::targets::duration_text(secs);
        let problem = if secs > SUPPRESS_MAX {
            Some((
                format!("`suppress {d}` is out of range"),
                "at most 14d".to_string(),
                "a longer silence is a disabled rule; disable it, or narrow its condition"
                    .to_string(),
            ))
        } else if secs == 0 || secs % period != 0 {
            let up = secs.div_ceil(period).max(1) * period;
            Some((
                format!("`suppress {d}` is not a whole number of the rule's runs (every {p})"),
                format!("a multiple of {p}"),
                format!(
                    "each scheduled run reports one period of {p}, so suppression is counted in runs; write `suppress {}`",
                    crate::targets::duration_text(up)
                ),
            ))
        } else {
            None
        };
        if let Some((msg, expected, hint)) = problem {
            self.diags.push(
                Diagnostic::new(Code::E0310, msg)
                    .at(duration.span.clone())
                    .found(format!("`suppress {d}`"))
                    .expected(expected)
                    .hint(hint),
            );
            ok = false;
        }
        ok.then_some(crate::ir::Suppress {
            duration: secs,
            keys: out,
        })
    }

    /// A suppression key: with aggregation a group key (an aggregate or any other field is not
    /// one value an alert is "about"); without it a catalogue or computed field of one value.
    fn suppress_key(
        &mut self,
        source: Source,
        lets: &[Let],
        aggregation: Option<&Aggregation>,
        key: &Spanned<String>,
    ) -> Option<FieldRef> {
        let name = key.node.as_str();
        if !self.scalar_field(source, key) {
            return None;
        }
        let event = catalogue::field(source, name)
            .map(|_| FieldRef::Field(name.to_string()))
            .or_else(|| {
                lets.iter()
                    .find(|l| l.name == name)
                    .map(|_| FieldRef::Computed(name.to_string()))
            });
        let (found, expected, hint, candidates): (String, String, String, Vec<String>) = match (
            aggregation,
            &event,
        ) {
            (None, Some(f)) => return Some(f.clone()),
            (Some(a), Some(f)) if a.group_by.contains(f) => return Some(f.clone()),
            (Some(a), _) => {
                let keys: Vec<String> = a.group_by.iter().map(|g| g.name().to_string()).collect();
                (
                        if event.is_some() {
                            format!("`{name}`, dropped at aggregation (not a group key)")
                        } else {
                            format!("`{name}`")
                        },
                        format!("a group key of the rule ({})", keys.join(", ")),
                        format!("an alert is one group: suppress by the group keys it carries, or add `{name}` to `group by`"),
                        keys,
                    )
            }
            (None, None) => (
                format!("`{name}`"),
                format!("a field of {} or a computed field", source.name()),
                "suppress by a field every alert of the rule carries".to_string(),
                catalogue::fields(source)
                    .iter()
                    .map(|f| f.name.to_string())
                    .chain(lets.iter().map(|l| l.name.clone()))
                    .collect(),
            ),
        };
        let mut d = Diagnostic::new(
            Code::E0309,
            format!("suppression key `{name}` is not a value of the rule's alerts"),
        )
        .at(key.span.clone())
        .found(found)
        .expected(expected)
        .hint(hint);
        if event.is_none() {
            if let Some(n) = nearest(name, candidates.iter().map(String::as_str)) {
                d = d.hint(format!("did you mean `{n}`?"));
            }
        }
        self.diags.push(d);
        None
    }
}
