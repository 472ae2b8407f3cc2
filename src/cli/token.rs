//! `classpulse token issue`: sign a student token with the configured secret.

use crate::cli::config_file;
use anyhow::{Context, bail};
use clap::Subcommand;
use classpulse_core::auth::token::{Claims, is_safe_id, issue};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Print a token for a student (their safe user id becomes the token's subject).
    Issue {
        /// The student's id (letters, digits, `@ . _ -`).
        #[arg(long)]
        student: String,
        /// Days until the token expires.
        #[arg(long, default_value_t = 180)]
        ttl: u32,
    },
}

pub(crate) fn run(config: Option<PathBuf>, command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Issue { student, ttl } = command;
    if !is_safe_id(&student) {
        bail!("--student {student:?}: use 1-128 letters, digits, '@', '.', '_' or '-'");
    }
    let (config, _) = config_file::load(config)?;
    let secret = std::env::var("CLASSPULSE_TOKEN_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .or(config.auth.token_secret.clone())
        .context(
            "no token secret: set auth.token_secret in the config or CLASSPULSE_TOKEN_SECRET",
        )?;
    if secret.len() < 16 {
        bail!("the token secret must be at least 16 bytes");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let exp = now + i64::from(ttl) * 86_400;
    println!(
        "{}",
        issue(secret.as_bytes(), &Claims { sub: student, exp })
    );
    Ok(())
}
