//! A config file of any text: accepted (and then printed and parsed back the same) or refused.
#![no_main]

use classpulse_core::config::Config;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, Path::new("fuzz.toml")) {
        let printed = config.to_toml();
        let again = Config::parse(&printed, Path::new("printed.toml")).expect("printed parses");
        assert_eq!(again.to_toml(), printed);
    }
});
