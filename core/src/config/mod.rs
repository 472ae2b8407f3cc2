//! Configuration: `config.toml`, every key optional, unknown keys refused by name.
//!
//! The binary runs with no file at all on [`Config::default`], which equals the shipped
//! `config.toml`; command-line flags override the file. Each section is the config type of the
//! component it builds; validation happens in [`Config::validate`] and in each component's
//! constructor, never scattered through runtime code.

use crate::aggregator::DashboardConfig;
mod redis;

pub use redis::{RedisKvsConfig, RedisPubSubConfig};

use crate::auth::AuthConfig;
use crate::auth::accounts::AccountsConfig;
use crate::auth::session::SessionConfig;
use crate::ingest::IngestConfig;
use crate::roster::RosterConfig;
use crate::snapshot::SnapshotConfig;
use crate::telemetry::metrics::MetricsConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown or mistyped key (the message names it).
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and the key.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config value {key}: {message}")]
    Value {
        /// The key, dotted (`log.segment_mib`).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: where to listen and where to keep data.
    pub server: ServerConfig,
    /// `[ingest]`: limits on clients.
    pub ingest: IngestConfig,
    /// `[auth]`: event authentication.
    pub auth: AuthConfig,
    /// `[log]`: the event log.
    pub log: LogConfig,
    /// `[snapshot]`: snapshots of the state (memory store).
    pub snapshot: SnapshotConfig,
    /// `[kvs]`: the state store backend.
    pub kvs: KvsConfig,
    /// `[pubsub]`: the pub/sub backend.
    pub pubsub: PubSubConfig,
    /// `[roster]`: where courses and their members come from.
    pub roster: RosterConfig,
    /// `[dashboard]`: how live course views are pushed.
    pub dashboard: DashboardConfig,
    /// `[accounts]`: staff accounts (password sign-in).
    pub accounts: AccountsConfig,
    /// `[sessions]`: sign-in cookies.
    pub sessions: SessionConfig,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// `[modules.<name>]`: each module's own settings, checked by the module.
    pub modules: BTreeMap<String, toml::Table>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Loopback by default; use `0.0.0.0:8888` to serve a network
    /// (and prefer the `token` auth method then).
    pub bind: String,
    /// This node's id, written into every log line (letters, digits, `-`, `_`, `.`).
    pub node_id: String,
    /// Directory for the event log (and snapshots).
    pub data_dir: PathBuf,
    /// Seconds a new connection has to send its request head (and finish its TLS handshake);
    /// slower ones are closed, so idle or trickling sockets (slow-loris) cannot pile up. Idle
    /// keep-alive connections are closed after the same time.
    pub handshake_timeout_secs: u64,
    /// Reverse proxies (addresses or CIDR blocks, e.g. `10.0.0.0/8`) whose `X-Forwarded-For`
    /// is believed: behind them, the client's address is the last one in that header that is
    /// not itself a trusted proxy. Empty: the peer address is the client's.
    pub trusted_proxies: Vec<String>,
    /// `[server.tls]`: serve `https://` and `wss://` with this certificate and key (absent:
    /// plain HTTP, e.g. behind a TLS proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::server::TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8888".into(),
            node_id: "local".into(),
            data_dir: PathBuf::from("./data"),
            handshake_timeout_secs: 10,
            trusted_proxies: Vec::new(),
            tls: None,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Start a new segment file after this many MiB.
    pub segment_mib: u64,
    /// Minimum milliseconds between two commits; events arriving meanwhile share one fdatasync.
    pub commit_interval_ms: u64,
    /// Call fdatasync before acknowledging (turn off only for benchmarks).
    pub fsync: bool,
    /// Requests queued for the writer before ingest waits (backpressure).
    pub queue: usize,
    /// Segments whose last write is older than this many hours, and whose events a snapshot
    /// reflects, are deleted (or moved to `archive_dir`). 0 keeps every segment.
    pub retention_hours: u64,
    /// Where retention moves old segments instead of deleting them (relative paths are
    /// relative to `server.data_dir`). Unset: they are deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_dir: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_mib: 64,
            commit_interval_ms: 2,
            fsync: true,
            queue: 256,
            retention_hours: 0,
            archive_dir: None,
        }
    }
}

/// `[kvs]`: which state store, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum KvsConfig {
    /// States in memory, rebuilt from the log at start-up.
    Memory {},
    /// States in Redis or a Redis Cluster, shared by several nodes.
    Redis(RedisKvsConfig),
}

impl Default for KvsConfig {
    fn default() -> Self {
        KvsConfig::Memory {}
    }
}

/// `[pubsub]`: which pub/sub, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PubSubConfig {
    /// In-process channels.
    Memory {
        /// Messages buffered per subscriber before it is told it lagged.
        #[serde(default = "default_capacity")]
        capacity: usize,
    },
    /// Redis channels, shared by several nodes.
    Redis(RedisPubSubConfig),
}

fn default_capacity() -> usize {
    1024
}

impl Default for PubSubConfig {
    fn default() -> Self {
        PubSubConfig::Memory {
            capacity: default_capacity(),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the line and the key at fault.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text (`path` is for messages).
    ///
    /// # Errors
    /// [`ConfigError`] naming the line and the key at fault.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values serde cannot.
    ///
    /// # Errors
    /// [`ConfigError::Value`] for the first bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, message: &str| {
            Err(ConfigError::Value {
                key,
                message: message.into(),
            })
        };
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad(
                "server.bind",
                &format!(
                    "{:?} is not an address like 127.0.0.1:8888",
                    self.server.bind
                ),
            );
        }
        let id = &self.server.node_id;
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return bad(
                "server.node_id",
                "use 1-64 letters, digits, '-', '_' or '.'",
            );
        }
        if self.server.handshake_timeout_secs == 0 || self.server.handshake_timeout_secs > 3600 {
            return bad(
                "server.handshake_timeout_secs",
                "must be between 1 and 3600",
            );
        }
        if let Err(message) = crate::server::TrustedProxies::parse(&self.server.trusted_proxies) {
            return bad("server.trusted_proxies", &message);
        }
        if self.log.segment_mib == 0 {
            return bad("log.segment_mib", "must be at least 1");
        }
        if self.log.commit_interval_ms > 1000 {
            return bad("log.commit_interval_ms", "must be at most 1000");
        }
        if self.log.queue == 0 {
            return bad("log.queue", "must be at least 1");
        }
        if let KvsConfig::Redis(redis) = &self.kvs {
            redis.validate()?;
        }
        if let Err((key, message)) = self.snapshot.validate() {
            return bad(key, message);
        }
        if self.log.archive_dir.as_deref() == Some(Path::new("")) {
            return bad(
                "log.archive_dir",
                "must name a directory (leave it unset to delete old segments)",
            );
        }
        if let PubSubConfig::Redis(redis) = &self.pubsub {
            redis.validate()?;
        }
        let i = &self.ingest;
        if i.max_frame_bytes < 1024 {
            return bad("ingest.max_frame_bytes", "must be at least 1024");
        }
        if i.max_json_depth == 0 || i.max_json_depth > 1000 {
            return bad("ingest.max_json_depth", "must be between 1 and 1000");
        }
        if i.max_connections == 0 {
            return bad("ingest.max_connections", "must be at least 1");
        }
        if i.max_events_per_second_per_ip > 0 && i.burst_per_ip == 0 {
            return bad("ingest.burst_per_ip", "must be at least 1");
        }
        if i.read_buffer_bytes < 512 {
            return bad("ingest.read_buffer_bytes", "must be at least 512");
        }
        if self.sessions.ttl_hours == 0 {
            return bad("sessions.ttl_hours", "must be at least 1");
        }
        if self.metrics.token.as_ref().is_some_and(|t| t.len() < 16) {
            return bad("metrics.token", "must be at least 16 bytes");
        }
        if let Err((key, message)) = self.dashboard.validate() {
            return bad(key, message);
        }
        Ok(())
    }

    /// A module's settings deserialized into its config type (defaults when absent).
    ///
    /// # Errors
    /// When the table has unknown or mistyped keys (the message names them).
    pub fn module<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, ConfigError> {
        match self.modules.get(name) {
            None => Ok(T::default()),
            Some(table) => {
                toml::Value::Table(table.clone())
                    .try_into()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: PathBuf::from(format!("[modules.{name}]")),
                        message: e.to_string(),
                    })
            }
        }
    }

    /// Where retention moves old segments (`None`: it deletes them).
    pub fn archive_dir(&self) -> Option<PathBuf> {
        self.log
            .archive_dir
            .as_ref()
            .map(|dir| self.server.data_dir.join(dir))
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::parse("[server]\nbnd = \"x\"\n", Path::new("c.toml")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("bnd"), "{text}");
        assert!(text.contains("line 2"), "{text}");
        let e = Config::parse("[nonsense]\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("nonsense"));
        let e = Config::parse("[kvs]\ntype = \"etcd\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("etcd"), "{e}");
    }

    #[test]
    fn values_are_checked() {
        let e = Config::parse("[server]\nbind = \"nowhere\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("server.bind"));
        let e = Config::parse("[log]\nsegment_mib = 0\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("log.segment_mib"));
        assert_eq!(
            Config::parse("", Path::new("c.toml")).unwrap(),
            Config::default()
        );
    }
}
