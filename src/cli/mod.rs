//! One file per subcommand.

pub(crate) mod check_config;
pub(crate) mod config_file;
pub(crate) mod demo;
pub(crate) mod http;
pub(crate) mod replay;
pub(crate) mod report;
pub(crate) mod roster;
pub(crate) mod serve;
pub(crate) mod snapshot;
pub(crate) mod timetable;
pub(crate) mod token;
pub(crate) mod user;
