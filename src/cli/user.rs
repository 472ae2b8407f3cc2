//! `classpulse user add`: create or change a staff account (argon2-hashed password) in the
//! accounts file named by `[accounts] file` (or `--file`). A running server notices the
//! change; which courses the account sees comes from the rosters.

use crate::cli::config_file;
use anyhow::{Context, bail};
use clap::Subcommand;
use classpulse_core::auth::accounts::add_to_file;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a staff account, or set a new password for an existing one. The password is read
    /// from standard input (typed without echo on a terminal, or piped in).
    Add {
        /// The sign-in name; rosters list staff by it (`user_id` in roster files and CSVs).
        user: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Make the account an administrator (every course, the admin API).
        #[arg(long)]
        admin: bool,
        /// The accounts file (overrides `accounts.file`).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
}

pub(crate) fn run(config: Option<PathBuf>, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Add {
        user,
        name,
        admin,
        file,
    } = command;
    let (config, _) = config_file::load(config)?;
    let path = file
        .or(config.accounts.file.clone())
        .context("no accounts file: set `file` under [accounts] in the config, or pass --file")?;
    let password = read_password()?;
    if password.is_empty() {
        bail!("no password given");
    }
    let replaced = add_to_file(&path, &user, &name, &password, admin)?;
    println!(
        "{} account {user}{} in {}",
        if replaced { "updated" } else { "added" },
        if admin { " (administrator)" } else { "" },
        path.display()
    );
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("Password (at least 8 characters): ");
        let _ = std::io::stderr().flush();
        // Hide what is typed.
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
