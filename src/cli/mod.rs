//! One file per subcommand.

pub(crate) mod check_config;
pub(crate) mod config_file;
pub(crate) mod serve;
pub(crate) mod timetable;
pub(crate) mod token;
