//! `classpulse check-config`: validate and print the effective configuration.

use crate::cli::config_file;
use std::path::PathBuf;

pub(crate) fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let (mut config, from) = config_file::load(config)?;
    crate::modules::build(&config)?;
    // Modules' settings with their defaults too, not only the keys the file gives.
    config.modules = crate::modules::effective(&config)?.into_iter().collect();
    println!("# effective configuration (from {from}); valid");
    print!("{}", config.to_toml());
    Ok(())
}
