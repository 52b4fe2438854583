//! The files a package installs beside the binary that are derived from the command line: the
//! man pages (clap_mangen: one for the command, one per subcommand) and the bash, zsh and fish
//! completions (clap_complete). Generated from the same clap definitions the binary parses, by
//! the hidden `generate-assets` subcommand (packaging/build-deb.sh runs it), so they cannot drift
//! from the flags.

use std::fs;
use std::path::Path;

use anyhow::Context;
use clap_complete::Shell;

/// Writes `out/man/*.1` and `out/completions/{NAME.bash,_NAME,NAME.fish}`.
pub fn write(cmd: clap::Command, out: &Path) -> anyhow::Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    clap_mangen::generate_to(cmd.clone(), &man)
        .with_context(|| format!("write the man pages into {}", man.display()))?;
    let name = cmd.get_name().to_string();
    let mut visible = without_hidden_subcommands(cmd);
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut visible, &name, &completions).with_context(
            || {
                format!(
                    "write the {shell} completion into {}",
                    completions.display()
                )
            },
        )?;
    }
    Ok(())
}

/// The command as a user sees it: clap_complete (unlike clap_mangen) also completes hidden
/// subcommands, and `generate-assets` is for packaging only.
fn without_hidden_subcommands(mut cmd: clap::Command) -> clap::Command {
    cmd.build();
    // The built command's own --help and --version are copied with the other arguments.
    let mut visible = clap::Command::new(env!("CARGO_BIN_NAME"))
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .disable_version_flag(true)
        // Its `help` subcommand is made afresh, listing the visible subcommands only.
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .cloned(),
        );
    for arg in cmd.get_arguments() {
        visible = visible.arg(arg.clone());
    }
    visible
}
