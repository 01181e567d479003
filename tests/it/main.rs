//! Every integration test in one binary (one link of the crate and of rsigma, not one per file):
//! one module per area, and `support` for what they share (engines, oracles, the SPL model, rules).
//! Run one area with `cargo test --test it -- differential::` (a filter on the module path).

mod support;

mod backend_snapshots;
mod cli_check;
mod cli_compile;
mod cli_conventions;
mod cli_run;
mod config;
mod correlation;
mod coverage;
mod deploy_artefacts;
mod deploy_schedule;
mod diagnostics_doc;
mod differential;
mod editors;
mod engines;
mod error_corpus;
mod escaping;
mod eval_fixtures;
mod eval_folders;
mod eval_group_keys;
mod eval_hostile;
mod eval_index;
mod eval_lateness;
mod eval_mailjoin;
mod eval_osquery;
mod eval_prefilter;
mod eval_readers;
mod eval_semantics;
mod eval_shared;
mod eval_spill;
mod expert_queries;
mod fmt;
mod import_sigma;
mod import_sigma_correlation;
mod init;
mod ir_snapshots;
mod language_doc;
mod lsp;
mod no_panic;
mod oracles;
mod oracles_escaping;
mod oracles_pack;
mod pack_timezone;
mod platform;
mod realdata;
mod sigma_correlate;
mod spl_emitted_on_model;
mod spl_model;
mod values;
mod winlogbeat;
