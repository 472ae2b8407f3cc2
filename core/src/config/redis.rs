//! `[kvs] type = "redis"` and `[pubsub] type = "redis"`: the settings of the Redis backends.
//!
//! Both take a URL: `redis://host:6379/0` for one server, `redis-cluster://host:7000?node=host:7001`
//! for a Redis Cluster (any reachable node; the rest are discovered). Every key ClassPulse writes
//! starts with `prefix`, so several installations (or test runs) can share one Redis.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// `[kvs] type = "redis"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisKvsConfig {
    /// `redis://[user:password@]host:port[/db]` or `redis-cluster://host:port[?node=host:port…]`.
    pub url: String,
    /// Start of every key (letters, digits, `-`, `_`, `.`, `:`); give each installation its own.
    pub prefix: String,
    /// Expire a state this many seconds after its last change (0: keep states forever). Like
    /// Learning Observer's `redis_ephemeral`: the log still holds every event.
    pub ttl_secs: u64,
    /// Milliseconds before a Redis command counts as failed (the node then reports
    /// `degraded` and catches up from its log when Redis answers again).
    pub timeout_ms: u64,
    /// Seconds a node holds the timer lease without renewing it; another node takes the timer
    /// service over that long after its holder died.
    pub lease_secs: u64,
}

impl Default for RedisKvsConfig {
    fn default() -> Self {
        RedisKvsConfig {
            url: "redis://127.0.0.1:6379".into(),
            prefix: "classpulse".into(),
            ttl_secs: 0,
            timeout_ms: 2000,
            lease_secs: 10,
        }
    }
}

/// `[pubsub] type = "redis"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisPubSubConfig {
    /// Same forms as `[kvs] url`.
    pub url: String,
    /// Start of every channel name.
    pub prefix: String,
    /// Messages buffered per local subscriber before it is told it fell behind.
    pub capacity: usize,
}

impl Default for RedisPubSubConfig {
    fn default() -> Self {
        RedisPubSubConfig {
            url: "redis://127.0.0.1:6379".into(),
            prefix: "classpulse".into(),
            capacity: 1024,
        }
    }
}

/// Checks a Redis URL and a key prefix.
pub(crate) fn check(
    url_key: &'static str,
    url: &str,
    prefix_key: &'static str,
    prefix: &str,
) -> Result<(), ConfigError> {
    if !(url.starts_with("redis://") || url.starts_with("redis-cluster://")) {
        return Err(ConfigError::Value {
            key: url_key,
            message: format!(
                "{url:?}: use redis://host:6379 or redis-cluster://host:7000 (TLS is not built in)"
            ),
        });
    }
    if let Err(e) = fred::types::config::Config::from_url(url) {
        return Err(ConfigError::Value {
            key: url_key,
            message: format!(
                "{url:?} is not a Redis URL ({e}); use redis://host:6379 or redis-cluster://host:7000"
            ),
        });
    }
    if prefix.is_empty()
        || prefix.len() > 64
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(ConfigError::Value {
            key: prefix_key,
            message: "use 1-64 letters, digits, '-', '_', '.' or ':'".into(),
        });
    }
    Ok(())
}

impl RedisKvsConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// [`ConfigError::Value`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check("kvs.url", &self.url, "kvs.prefix", &self.prefix)?;
        if self.timeout_ms < 10 {
            return Err(ConfigError::Value {
                key: "kvs.timeout_ms",
                message: "must be at least 10".into(),
            });
        }
        if self.lease_secs < 2 {
            return Err(ConfigError::Value {
                key: "kvs.lease_secs",
                message: "must be at least 2".into(),
            });
        }
        Ok(())
    }
}

impl RedisPubSubConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// [`ConfigError::Value`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check("pubsub.url", &self.url, "pubsub.prefix", &self.prefix)?;
        if self.capacity == 0 {
            return Err(ConfigError::Value {
                key: "pubsub.capacity",
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, KvsConfig, PubSubConfig};
    use std::path::Path;

    #[test]
    fn shipped_redis_configs_parse() {
        for (name, text) in [
            (
                "multi-node.toml",
                include_str!("../../../examples/configs/multi-node.toml"),
            ),
            (
                "bench-redis.toml",
                include_str!("../../../examples/configs/bench-redis.toml"),
            ),
        ] {
            let config = Config::parse(text, Path::new(name)).expect(name);
            assert!(matches!(config.kvs, KvsConfig::Redis(_)), "{name}");
            assert!(matches!(config.pubsub, PubSubConfig::Redis(_)), "{name}");
        }
    }

    #[test]
    fn redis_settings_are_checked_by_name() {
        let parse = |text: &str| Config::parse(text, Path::new("c.toml"));
        let config =
            parse("[kvs]\ntype = \"redis\"\nurl = \"redis-cluster://h:7000?node=h:7001\"\n")
                .unwrap();
        let KvsConfig::Redis(redis) = config.kvs else {
            panic!("redis")
        };
        assert_eq!(redis.prefix, "classpulse");
        let e = parse("[kvs]\ntype = \"redis\"\nurll = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("urll"), "{e}");
        let e = parse("[kvs]\ntype = \"redis\"\nurl = \"http://nope\"\n").unwrap_err();
        assert!(e.to_string().contains("kvs.url"), "{e}");
        let e = parse("[pubsub]\ntype = \"redis\"\nprefix = \"a{b}\"\n").unwrap_err();
        assert!(e.to_string().contains("pubsub.prefix"), "{e}");
    }
}
