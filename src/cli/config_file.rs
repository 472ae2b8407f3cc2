//! Finding and loading the configuration the same way for every subcommand.

use anyhow::Context;
use classpulse_core::config::Config;
use std::path::{Path, PathBuf};

/// Loads `--config`, else `./config.toml` when present, else the defaults. Returns the config
/// and where it came from.
pub(crate) fn load(explicit: Option<PathBuf>) -> anyhow::Result<(Config, String)> {
    if let Some(path) = explicit {
        let config = Config::load(&path)?;
        return Ok((config, path.display().to_string()));
    }
    let default = Path::new("config.toml");
    if default.exists() {
        let config = Config::load(default).context("loading ./config.toml")?;
        return Ok((config, "./config.toml".into()));
    }
    Ok((Config::default(), "built-in defaults".into()))
}
