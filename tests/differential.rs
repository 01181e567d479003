//! The differential harness (issue: proof of meaning): native evaluator vs emitted KQL (duckdb-kql),
//! Sigma (rsigma-eval) and SPL (the SPL model) on fixtures and generated boundary events.
#[path = "support/boundary.rs"]
#[allow(dead_code)]
mod boundary;
#[path = "support/spl_model.rs"]
#[allow(dead_code)]
mod spl_model;
