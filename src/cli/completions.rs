use super::Exit;

/// Print a shell completion script for detc on stdout, generated from the command-line
/// definition itself (subcommands, flags and their values), so it never drifts from the CLI.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  detc completions bash > ~/.local/share/bash-completion/completions/detc
  detc completions zsh > \"${fpath[1]}/_detc\"
  detc completions fish > ~/.config/fish/completions/detc.fish
  detc completions powershell >> $PROFILE

Exit status: 0 the script was printed, 2 unknown shell.")]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `clap_complete` generates for (elvish is left out: nobody asked for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

pub fn run(args: &CompletionsArgs) -> Exit {
    use clap::CommandFactory;
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut super::Cli::command(), "detc", &mut script);
    super::out(&String::from_utf8_lossy(&script));
    Exit::Ok
}
