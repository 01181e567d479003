//! Tests of the SPL model itself (tests/support/spl_model.rs), the fourth engine of the
//! differential harness. The model is written from Splunk's documentation, not from our backend.
#[path = "support/spl_model.rs"]
#[allow(dead_code)]
mod spl_model;
