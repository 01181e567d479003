use super::{Exit, Format};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Rule files or folders. Default: rules/
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Also write a JUnit XML report to FILE.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

pub fn run(_args: &TestArgs) -> Exit {
    super::err("detc test: not implemented yet\n");
    Exit::Failure
}
