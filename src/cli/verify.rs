use super::{Exit, Format};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Rule files or folders. Default: rules/
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(_args: &VerifyArgs) -> Exit {
    super::err("detc verify: not implemented yet\n");
    Exit::Failure
}
