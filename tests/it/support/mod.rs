//! What the test modules share: the independent engines and oracles they judge emitted queries
//! with, the boundary events and their projection per target, and the rules under test.

pub mod boundary;
pub mod fmt_meaning;
pub mod oracle;
pub mod projection;
pub mod rsigma;
pub mod rules;
pub mod spl_model;
