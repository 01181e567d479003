use super::Exit;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Rule files or folders. Default: rules/
    pub rules: Vec<PathBuf>,
    /// Event files: JSON lines, CSV with a header, Zeek TSV or JSON; `.gz` is decompressed.
    #[arg(long, short, required = true, num_args = 1..)]
    pub events: Vec<PathBuf>,
    /// Input schema (sysmon, defender, zeek-conn); auto-detected when omitted.
    #[arg(long)]
    pub schema: Option<String>,
    /// Output format for alerts: json (JSON lines) or table.
    #[arg(long, value_enum, default_value_t = RunFormat::Json)]
    pub format: RunFormat,
    /// Treat a malformed line or row as fatal (exit 2) instead of reporting and counting it.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunFormat {
    Json,
    Table,
}

pub fn run(_args: &RunArgs) -> Exit {
    super::err("detc run: not implemented yet\n");
    Exit::Failure
}
