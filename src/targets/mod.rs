//! Query backends: target profiles (data under targets/, embedded in the binary), escaping, one
//! module per language. Reads only the IR; never imports `eval`.
//!
//! A profile says which abstract source maps to which table or logsource, which column (and which
//! column values, for enum fields) each catalogue field becomes, and what the target can do. Rust
//! builds every expression and escapes every value ([`escape`]); the minijinja template of a
//! profile only places the pieces. Every column an emitter writes is checked against the vendor
//! column list the profile names (targets/schemas/), so a wrong column is a compile error here,
//! not a runtime error in a SOC.
//!
//! Diagnostic codes (docs/TARGETS.md lists them with examples):
//! - E0901 the profile has no table for the rule's source
//! - E0902 a catalogue field has no column in the profile
//! - E0903 a column is not in the table's vendor schema (names the table and the nearest columns)
//! - E0904 a construct the target cannot express (names rule, construct and target)
//! - E0905 internal error (a profile or template that does not load)
//! - E0910 Sigma: a comparison of two values (arithmetic, field against field)
//! - E0911 spl-cim: a comparison of two values in the event filter (tstats search terms)
//! - E0912 Sigma: the hour or weekday of an event (`hour(time)`, `weekday(time)`)
//! - E0915 Sigma: a correlation of several events (`correlate`), not lowered yet
//! - E0916 KQL, SPL: a correlation key the target cannot compare as the evaluator does
//! - E0917 SPL: a correlation whose steps cannot share one event search
//! - W0900 (`--target all`) a rule not emitted for one target, with the reason
//! - W0901..W0905 documented approximations
//!
//! Modules by job: `profile` (profile data and loading), `driver` (compiling a rule or a pack),
//! `ctx` (the emitter context), `names` (spellings the emitters share), `dialect` (the and/or/not
//! walker the languages share, with the comparison operators and host blocks), one module per
//! language (its predicates).
//! IR rewrites the emitters use live in `ir::rewrite` and `ir::visit`; writing and checking
//! files is the CLI's (`cli::compile`).

#[cfg(test)]
use crate::ir;

mod correlate;
mod ctx;
pub mod deploy;
mod dialect;
pub mod driver;
pub mod escape;
mod kql;
mod names;
pub mod profile;
mod sigma;
mod spl;
pub mod uuid;
mod yaml;

pub use driver::{compile_pack, compile_rule, CompileResult, Emitted, Skipped};
pub use names::{ascii_ci_regex, NON_ASCII_REGEX};
pub use profile::{
    load_profiles, profile, Applies, Derive, FieldMap, KqlSource, Language, Profile, SigmaSource,
    SourceMap, SourceOptions, SplSource, Swap, ValuesCase,
};

// What the language modules share, named once here so each imports it from `super`.
pub(crate) use crate::ir::rewrite::{inline_computed, simplify};
pub(crate) use crate::ir::visit::fields_used;
pub(crate) use ctx::{Col, Ctx};
pub(crate) use names::{duration_text, fresh_name, name_lets, one_line};

/// The checked pack of one rule file held in memory (the backends' unit tests).
#[cfg(test)]
pub(crate) fn pack_of(text: &str) -> ir::Pack {
    let fe = crate::frontend(&[crate::SourceFile {
        path: "r.detc".into(),
        text: text.into(),
    }]);
    fe.pack
        .unwrap_or_else(|| unreachable!("{:?}", fe.diagnostics))
}
