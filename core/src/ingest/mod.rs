//! Ingest: Learning Observer's `/wsapi/in/` protocol.
//!
//! [`connection::serve`] runs one socket; [`Ingest`] holds what every connection shares (limits,
//! the authenticator, event adapters, the log writer). See `docs/protocol.md` for the wire
//! protocol as implemented.

pub mod connection;
pub mod frame;
pub mod lock_fields;
mod notify;
pub mod rate;

pub use notify::Notifier;

use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::event::Lookup;
use crate::log::{LogHealth, LogWriter};
use crate::module::EventAdapter;
use crate::telemetry::Stats;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `[ingest]` in `config.toml`: limits on what clients may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest frame accepted, in bytes; larger ones are refused with an error message (the
    /// WebSocket transport's own limit is set well above, so the refusal is ours).
    pub max_frame_bytes: usize,
    /// Deepest JSON nesting accepted.
    pub max_json_depth: usize,
    /// Events per second one connection may send (0: unlimited). Past it the server stops
    /// reading that socket until the budget refills; nothing is dropped.
    pub max_events_per_second: u32,
    /// Burst allowance above the per-second rate, in events.
    pub burst: u32,
    /// Events per second all connections from one client address may send together (0: no
    /// limit, the default — a school's Chromebooks often share one address). Past it, those
    /// connections are read more slowly; nothing is dropped. Behind a proxy, set
    /// `server.trusted_proxies` so the address is the client's, not the proxy's.
    pub max_events_per_second_per_ip: u32,
    /// Burst allowance above the per-address rate, in events.
    pub burst_per_ip: u32,
    /// Events held per connection while it is not yet authenticated.
    pub max_held_events: usize,
    /// Concurrent ingest connections; more are refused with HTTP 503.
    pub max_connections: usize,
    /// Per-socket read buffer, in bytes (small keeps idle connections cheap).
    pub read_buffer_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_frame_bytes: 1024 * 1024,
            max_json_depth: 64,
            max_events_per_second: 2000,
            burst: 10_000,
            max_events_per_second_per_ip: 0,
            burst_per_ip: 10_000,
            max_held_events: 10_000,
            max_connections: 20_000,
            read_buffer_bytes: 4096,
        }
    }
}

/// What the server knows about a connection from its HTTP upgrade.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// Remote address.
    pub ip: String,
    /// `User-Agent`.
    pub agent: String,
    /// The `guest_id` cookie, or a fresh id (for the `guest` auth method).
    pub guest_id: String,
    /// The identity of a signed-in browser page (its session cookie, from an allowed
    /// origin): the connection is authenticated as it from the start, whatever the
    /// configured event auth methods. Pages (the office-hours student page and TA view)
    /// send their events this way.
    pub session: Option<crate::event::Auth<'static>>,
    /// The event budget this connection shares with the others from its address, when
    /// `ingest.max_events_per_second_per_ip` is set.
    pub ip_budget: Option<Arc<rate::SharedBucket>>,
}

/// What every ingest connection shares.
pub struct Ingest {
    /// Limits.
    pub config: IngestConfig,
    /// Event authentication.
    pub auth: Authenticator,
    /// The log writer.
    pub writer: LogWriter,
    /// Whether the log takes writes (events are refused while it does not).
    pub log_health: Arc<LogHealth>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// This node's id.
    pub node: Arc<str>,
    /// The server clock.
    pub clock: SharedClock,
    /// Delivers notifications to open sockets.
    pub notifier: Arc<Notifier>,
    /// Event budgets per client address.
    pub per_ip: rate::PerIp,
    adapters: Vec<Arc<dyn EventAdapter>>,
    next_conn: AtomicU64,
}

impl Ingest {
    /// Assembles the shared ingest state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: IngestConfig,
        auth: Authenticator,
        writer: LogWriter,
        log_health: Arc<LogHealth>,
        stats: Arc<Stats>,
        node: Arc<str>,
        clock: SharedClock,
        notifier: Arc<Notifier>,
        adapters: Vec<Arc<dyn EventAdapter>>,
    ) -> Self {
        Ingest {
            per_ip: rate::PerIp::new(config.max_events_per_second_per_ip, config.burst_per_ip),
            config,
            auth,
            writer,
            log_health,
            stats,
            node,
            clock,
            notifier,
            adapters,
            next_conn: AtomicU64::new(0),
        }
    }

    fn next_connection_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Fields the registered adapters derive for an event of `source`, into `cache.derived`;
    /// reuses the previous result when every adapter's inputs are unchanged.
    pub fn derive_fields(&self, source: &str, event: &dyn Lookup, cache: &mut DeriveCache) {
        cache.scratch.clear();
        let mut reusable = !self.adapters.is_empty();
        cache.scratch.extend_from_slice(source.as_bytes());
        for adapter in &self.adapters {
            let inputs = adapter.inputs();
            reusable &= !inputs.is_empty();
            for name in inputs {
                cache.scratch.push(0);
                if let Some(raw) = event.raw_field(name) {
                    cache.scratch.push(1);
                    cache.scratch.extend_from_slice(raw.get().as_bytes());
                }
            }
        }
        if reusable && cache.valid && cache.scratch == cache.key {
            return;
        }
        cache.derived.clear();
        for adapter in &self.adapters {
            let sources = adapter.sources();
            if sources.is_empty() || sources.contains(&source) {
                cache.derived.extend(adapter.derive(event));
            }
        }
        std::mem::swap(&mut cache.key, &mut cache.scratch);
        cache.valid = reusable;
    }
}

/// A connection's last adapter result, and the inputs it was derived from.
#[derive(Debug, Default)]
pub struct DeriveCache {
    /// The fields derived for the latest event.
    pub derived: Vec<(&'static str, String)>,
    key: Vec<u8>,
    scratch: Vec<u8>,
    valid: bool,
}
