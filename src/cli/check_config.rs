//! `classpulse check-config`: validate and print the effective configuration.

use crate::cli::config_file;
use std::path::PathBuf;

pub(crate) fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let (config, from) = config_file::load(config)?;
    crate::modules::build(&config)?;
    println!("# effective configuration (from {from}); valid");
    print!("{}", config.to_toml());
    Ok(())
}
