use super::{Exit, Format};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Rule files or folders. Default: rules/
    pub paths: Vec<PathBuf>,
    /// A target profile name (see `detc targets`) or `all`.
    #[arg(long, short)]
    pub target: String,
    /// Output folder; queries go to OUT/<target>/<rule name>.<kql|yml|spl>.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Compare with what is in OUT instead of writing; print a unified diff per drifted file, exit 1 on drift.
    #[arg(long)]
    pub check: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct TargetsArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(_args: &CompileArgs) -> Exit {
    super::err("detc compile: not implemented yet\n");
    Exit::Failure
}

pub fn targets(_args: &TargetsArgs) -> Exit {
    super::err("detc targets: not implemented yet\n");
    Exit::Failure
}
