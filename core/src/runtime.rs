//! The runtime: builds every part from the configuration and the modules, replays the log
//! into the state store, runs the background tasks, and shuts down in order.
//!
//! Start-up: open the log (cutting a torn tail), replay it into the KVS (already-applied
//! events are skipped), load pending timers, then start the router, the timer service and the
//! notifier. Shutdown: stop accepting, let every connection hand its last events to the log and
//! send its final ack, commit and fsync the log, let the router reduce the last batch.

use crate::aggregator::{Aggregators, DuplicateAggregator};
use crate::applier::{Applier, ApplierStatus, SnapshotRequest};
use crate::auth::accounts::{Accounts, AccountsError};
use crate::auth::session::{SessionKeys, WeakSessionSecret};
use crate::auth::{AuthConfigError, Authenticator};
use crate::clock::SharedClock;
use crate::config::{Config, ConfigError, KvsConfig, PubSubConfig};
use crate::datadir::{AdminEndpoint, DataDirLock, LockError};
use crate::ingest::{Ingest, Notifier};
use crate::kvs::{KvsError, MemoryKvs, RedisKvs, SharedKvs};
use crate::log::{DurableBatch, LogHealth, LogReader, LogWriter, ReadError, WriterConfig};
use crate::module::{Module, ModuleBuilder};
use crate::pubsub::{MemoryPubSub, PubSubError, RedisPubSub, SharedPubSub};
use crate::reducer::erase;
use crate::roster::{RosterIndex, RosterReducer};
use crate::router::{Mode, Registry, Router};
use crate::snapshot::{LogExtent, Restored, SnapshotError, SnapshotInfo, Snapshotter};
use crate::telemetry::Stats;
use crate::timers::{TimerService, TimerTable};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad `[auth]` settings.
    #[error("invalid [auth] settings: {0}")]
    Auth(#[from] AuthConfigError),
    /// A file or directory could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Two reducers share a name.
    #[error(transparent)]
    Registry(#[from] crate::router::DuplicateReducer),
    /// `[modules.X]` for a module that is not built in.
    #[error("config has [modules.{0}] but no such module is built in (known: {1})")]
    UnknownModule(String, String),
    /// The log could not be read back.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The state store failed during replay.
    #[error("replaying the log into the state store failed: {0}")]
    Kvs(#[from] KvsError),
    /// The accounts file is unusable.
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    /// The session secret is unusable.
    #[error(transparent)]
    Session(#[from] WeakSessionSecret),
    /// Two aggregators share a name.
    #[error(transparent)]
    Aggregator(#[from] DuplicateAggregator),
    /// Another process uses the data directory.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A roster file is unusable, or its import failed.
    #[error("roster: {0}")]
    Roster(String),
    /// The pub/sub backend could not be set up.
    #[error(transparent)]
    PubSub(#[from] PubSubError),
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] crate::server::tls::TlsError),
}

/// What the runtime is built from.
pub struct RuntimeOptions {
    /// The configuration.
    pub config: Config,
    /// The modules, in the order they register.
    pub modules: Vec<Arc<dyn Module>>,
    /// The server clock.
    pub clock: SharedClock,
    /// Use this KVS instead of the configured one (tests, embedding).
    pub kvs: Option<SharedKvs>,
    /// Use this pub/sub instead of the configured one.
    pub pubsub: Option<SharedPubSub>,
}

impl RuntimeOptions {
    /// Options with the given config and modules, on the system clock.
    pub fn new(config: Config, modules: Vec<Arc<dyn Module>>) -> Self {
        RuntimeOptions {
            config,
            modules,
            clock: Arc::new(crate::clock::SystemClock),
            kvs: None,
            pubsub: None,
        }
    }
}

/// A running ClassPulse node (without its HTTP listener; see [`crate::server`]).
pub struct Runtime {
    /// The configuration.
    pub config: Arc<Config>,
    /// The reducers.
    pub registry: Arc<Registry>,
    /// The state store.
    pub kvs: SharedKvs,
    /// The pub/sub.
    pub pubsub: SharedPubSub,
    /// Counters.
    pub stats: Arc<Stats>,
    /// The log's health.
    pub log_health: Arc<LogHealth>,
    /// The server clock.
    pub clock: SharedClock,
    /// Shared ingest state.
    pub ingest: Arc<Ingest>,
    /// Durable timers.
    pub timers: Arc<TimerTable>,
    /// The log writer.
    pub writer: LogWriter,
    /// Cancelled when the node shuts down; connections and background tasks watch it.
    pub shutdown: CancellationToken,
    /// Tracks connection tasks, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Bounds concurrent ingest connections.
    pub connection_limit: Arc<Semaphore>,
    /// Events replayed at start-up (after the snapshot, when one was loaded).
    pub replayed: u64,
    /// The snapshot start-up loaded, if any.
    pub restored: Option<Restored>,
    /// Staff accounts (password sign-in).
    pub accounts: Arc<Accounts>,
    /// Signs and checks sign-in sessions.
    pub sessions: Arc<SessionKeys>,
    /// The course views modules registered (run by the dashboards hub).
    pub aggregators: Arc<Aggregators>,
    /// Every course's roster, as of the last applied event.
    pub roster: Arc<RosterIndex>,
    /// The bearer token scrapers present for `/metrics` (`[metrics] token` or
    /// `CLASSPULSE_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// The TLS configuration, when the node serves `https://` itself.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::server::TrustedProxies,
    /// The key command-line tools present (`Authorization: Bearer`) to administer this node;
    /// published in `<data_dir>/admin.json`.
    pub admin_key: String,
    lock: Mutex<Option<DataDirLock>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    router_task: Mutex<Option<tokio::task::JoinHandle<u64>>>,
    background: TaskTracker,
    applier: Arc<ApplierStatus>,
    /// The router's queue, to report its length (weak: it must not keep the channel open).
    router_queue: mpsc::WeakSender<DurableBatch>,
    snapshotter: Option<Arc<Snapshotter>>,
    snapshot_requests: Option<mpsc::Sender<SnapshotRequest>>,
}

impl Runtime {
    /// Builds and starts a node: opens and replays the log, starts background tasks.
    ///
    /// # Errors
    /// [`StartError`] saying what could not be set up.
    pub async fn start(options: RuntimeOptions) -> Result<Arc<Runtime>, StartError> {
        let RuntimeOptions {
            config,
            modules,
            clock,
            kvs,
            pubsub,
        } = options;
        config.validate()?;
        let auth = Authenticator::new(&config.auth, std::env::var("CLASSPULSE_TOKEN_SECRET").ok())?;
        let accounts = Arc::new(Accounts::load(&config.accounts)?);
        let tls = match &config.server.tls {
            Some(tls) => Some(crate::server::tls::server_config(tls)?),
            None => None,
        };
        // Served over TLS directly, every request is secure: cookies get `Secure`.
        let mut session_config = config.sessions.clone();
        if tls.is_some()
            && session_config.secure_cookies == crate::auth::session::SecureCookies::Auto
        {
            session_config.secure_cookies = crate::auth::session::SecureCookies::Always;
        }
        let sessions = Arc::new(SessionKeys::new(
            &session_config,
            std::env::var("CLASSPULSE_SESSION_SECRET").ok(),
            auth.secret(),
        )?);
        if sessions.ephemeral {
            tracing::info!("no session secret configured: sign-ins last until the server stops");
        }

        let mut builder = ModuleBuilder::default();
        let mut names = Vec::new();
        for module in &modules {
            builder.current_module = module.name().to_owned();
            names.push(module.name().to_owned());
            module.register(&mut builder);
        }
        if let Some(unknown) = config.modules.keys().find(|k| !names.contains(k)) {
            return Err(StartError::UnknownModule(unknown.clone(), names.join(", ")));
        }
        let roster_files = config
            .roster
            .load_files()
            .map_err(|e| StartError::Roster(e.to_string()))?;
        let lock = DataDirLock::acquire(&config.server.data_dir)?;
        let timers = Arc::new(TimerTable::new());
        let mut reducers = builder.reducers;
        reducers.push(("core".to_owned(), timers.reducer()));
        reducers.push(("core".to_owned(), erase(RosterReducer)));
        let registry = Arc::new(Registry::new(reducers)?);
        let aggregators = Arc::new(Aggregators::new(builder.aggregators)?);

        // A shared (Redis) store also brings the timer lease: one node runs the timers.
        let mut lease = None;
        // The memory store is restored from a snapshot (when one is usable) before the log.
        let mut memory = None;
        let kvs: SharedKvs = match (kvs, &config.kvs) {
            (Some(kvs), _) => kvs,
            (None, KvsConfig::Memory {}) => {
                let store = Arc::new(MemoryKvs::new());
                memory = Some(store.clone());
                store
            }
            (None, KvsConfig::Redis(redis)) => {
                let journal = config.server.data_dir.join("order");
                let kvs = RedisKvs::connect(redis, &config.server.node_id, Some(journal)).await?;
                lease = Some(kvs.timer_lease());
                kvs
            }
        };
        let pubsub: SharedPubSub = match (pubsub, &config.pubsub) {
            (Some(pubsub), _) => pubsub,
            (None, PubSubConfig::Memory { capacity }) => Arc::new(MemoryPubSub::new(*capacity)),
            (None, PubSubConfig::Redis(redis)) => RedisPubSub::connect(redis).await?,
        };
        let shared_store = !matches!(config.kvs, KvsConfig::Memory {});
        let stats = Arc::new(Stats::default());
        let log_health = Arc::new(LogHealth::default());
        let node: Arc<str> = Arc::from(config.server.node_id.as_str());
        let log_dir = log_dir(&config);

        crate::telemetry::metrics::install();
        let (committed_tx, committed_rx) = mpsc::channel::<DurableBatch>(8);
        let router_queue = committed_tx.downgrade();
        let (writer, writer_thread) = LogWriter::open(
            WriterConfig {
                dir: log_dir.clone(),
                segment_bytes: config.log.segment_mib * 1024 * 1024,
                commit_interval: Duration::from_millis(config.log.commit_interval_ms),
                fsync: config.log.fsync,
                queue: config.log.queue,
            },
            clock.clone(),
            log_health.clone(),
            committed_tx,
        )
        .map_err(|source| StartError::Io {
            what: format!("cannot open the event log in {}", log_dir.display()),
            source,
        })?;

        let roster = Arc::new(RosterIndex::new(config.roster.mode));
        let router = Arc::new(
            Router::new(
                registry.clone(),
                kvs.clone(),
                pubsub.clone(),
                timers.clone(),
                stats.clone(),
            )
            .with_roster(roster.clone()),
        );
        let last_seq = writer.next_seq().saturating_sub(1);
        let first_seq = crate::log::segment::list(&log_dir)
            .ok()
            .and_then(|s| s.first().map(|s| s.first_seq))
            .unwrap_or(1);
        let restored = match &memory {
            Some(store) => {
                let data_dir = config.server.data_dir.clone();
                let (registry, store, roster) = (registry.clone(), store.clone(), roster.clone());
                tokio::task::spawn_blocking(move || {
                    crate::snapshot::restore_latest(
                        &data_dir,
                        &registry,
                        LogExtent {
                            first_seq,
                            last_seq,
                        },
                        &store,
                        &roster,
                    )
                })
                .await
                .ok()
                .flatten()
            }
            None => None,
        };
        let replay_from = restored.as_ref().map_or(1, |r| r.replay_from);
        if let Some(r) = &restored {
            tracing::info!(
                snapshot = %r.path.display(),
                through_seq = r.through_seq,
                states = r.states,
                seconds = format!("{:.2}", r.took.as_secs_f64()),
                "state loaded from a snapshot; replaying the log after it"
            );
        } else if first_seq > 1 && memory.is_some() {
            tracing::error!(
                first_seq,
                "the log starts at seq {first_seq} (older segments were removed by retention) and no                  snapshot covers them: the state is rebuilt from what the log holds only"
            );
        }
        if !crate::snapshot::used(&config) && config.log.retention_hours > 0 {
            tracing::warn!(
                "log.retention_hours has no effect with the Redis store: the log is what rebuilds Redis when it loses data"
            );
        }
        // A shared store that does not answer does not stop the node: it starts degraded and
        // the applier catches the store up from the log when it answers.
        let (replayed, applied_through) = match replay(&router, &log_dir, replay_from).await {
            Ok(n) => (n, last_seq),
            Err(StartError::Kvs(e)) if shared_store => {
                tracing::error!(error = %e, "state store not usable at start-up; catching up from the log when it is");
                (0, 0)
            }
            Err(e) => return Err(e),
        };
        // The store reflects the log through here, also when a snapshot left no tail to replay.
        stats.note_applied(applied_through);
        match timers.load(&*kvs).await {
            Ok(0) => {}
            Ok(pending) => tracing::info!(timers = pending, "pending timers restored"),
            Err(e) if shared_store => {
                tracing::warn!(error = %e, "pending timers not readable yet")
            }
            Err(e) => return Err(e.into()),
        }

        let shutdown = CancellationToken::new();
        let background = TaskTracker::new();
        let applier = Applier::new(
            router.clone(),
            kvs.clone(),
            log_dir.clone(),
            applied_through,
            last_seq,
        );
        let applier_status = applier.status();
        let (snapshotter, snapshot_requests, applier) = match &memory {
            Some(store) if crate::snapshot::used(&config) => {
                let snapshotter = Arc::new(Snapshotter::new(
                    &config,
                    registry.clone(),
                    roster.clone(),
                    store.clone(),
                ));
                if let Some(r) = &restored {
                    snapshotter.loaded(r.through_seq);
                }
                let (tx, rx) = mpsc::channel(4);
                let applier = applier.with_snapshots(snapshotter.clone(), rx);
                (Some(snapshotter), Some(tx), applier)
            }
            _ => (None, None, applier),
        };
        let router_task = tokio::spawn(applier.run(committed_rx));
        background.spawn(upkeep(shutdown.clone()));
        if let (Some(snapshotter), Some(requests)) = (&snapshotter, &snapshot_requests)
            && config.snapshot.interval_secs > 0
        {
            background.spawn(periodic_snapshots(
                snapshotter.clone(),
                requests.clone(),
                writer.clone(),
                Duration::from_secs(config.snapshot.interval_secs),
                shutdown.clone(),
            ));
        }
        let notifier = Arc::new(Notifier::default());
        background.spawn(notifier.clone().run(pubsub.clone(), shutdown.clone()));
        match lease {
            Some(lease) => background.spawn(lease.run_timers(
                timers.clone(),
                kvs.clone(),
                clock.clone(),
                writer.clone(),
                node.clone(),
                shutdown.clone(),
            )),
            None => background.spawn(
                TimerService::new(timers.clone(), clock.clone(), writer.clone(), node.clone())
                    .run(shutdown.clone()),
            ),
        };

        let imported = crate::roster::import::import(&roster, &writer, &node, &roster_files)
            .await
            .map_err(|e| StartError::Roster(e.to_string()))?;
        if imported.events > 0 {
            tracing::info!(
                courses = imported.courses,
                events = imported.events,
                "roster files imported"
            );
        }

        let ingest = Arc::new(Ingest::new(
            config.ingest.clone(),
            auth,
            writer.clone(),
            log_health.clone(),
            stats.clone(),
            node,
            clock.clone(),
            notifier,
            builder.adapters,
        ));
        let connection_limit = Arc::new(Semaphore::new(config.ingest.max_connections));
        let metrics_token = std::env::var("CLASSPULSE_METRICS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| config.metrics.token.clone());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Value {
                key: "metrics.token",
                message: "CLASSPULSE_METRICS_TOKEN must be at least 16 bytes".into(),
            }
            .into());
        }
        let trusted_proxies = crate::server::TrustedProxies::parse(&config.server.trusted_proxies)
            .map_err(|message| ConfigError::Value {
                key: "server.trusted_proxies",
                message,
            })?;
        Ok(Arc::new(Runtime {
            config: Arc::new(config),
            registry,
            kvs,
            pubsub,
            stats,
            log_health,
            clock,
            ingest,
            timers,
            writer,
            shutdown,
            tasks: TaskTracker::new(),
            connection_limit,
            replayed,
            restored,
            accounts,
            sessions,
            aggregators,
            roster,
            trusted_proxies,
            metrics_token,
            tls,
            admin_key: crate::datadir::random_hex(32),
            lock: Mutex::new(Some(lock)),
            writer_thread: Mutex::new(Some(writer_thread)),
            router_task: Mutex::new(Some(router_task)),
            background,
            applier: applier_status,
            router_queue,
            snapshotter,
            snapshot_requests,
        }))
    }

    /// Shuts down in order: connections finish and send their last acks, the log commits and
    /// syncs, the router reduces the last batch, background tasks stop. Idempotent.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.writer.close().await;
        let thread = self
            .writer_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let router = self
            .router_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let applied_through = match router {
            Some(router) => router.await.ok(),
            None => None,
        };
        self.background.close();
        self.background.wait().await;
        if let (Some(snapshotter), Some(through)) = (&self.snapshotter, applied_through)
            && self.config.snapshot.on_shutdown
            && through > snapshotter.last_through()
        {
            match snapshotter.capture(through).await {
                Ok(captured) => {
                    let snapshotter = snapshotter.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Err(e) = snapshotter.write(captured) {
                            tracing::error!(error = %e, "shutdown snapshot not written");
                        }
                    })
                    .await;
                }
                Err(e) => tracing::error!(error = %e, "shutdown snapshot not taken"),
            }
        }
        // Last: the log is synced and closed, another process may take the directory.
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Takes a snapshot now (between two batches of the applier) and writes it.
    ///
    /// # Errors
    /// [`SnapshotError::NotUsed`] on a node whose store is not the memory store; otherwise
    /// when it cannot be written.
    pub async fn snapshot(&self) -> Result<SnapshotInfo, SnapshotError> {
        let Some(requests) = &self.snapshot_requests else {
            return Err(SnapshotError::NotUsed);
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        requests
            .send(tx)
            .await
            .map_err(|_| SnapshotError::Stopping)?;
        rx.await.map_err(|_| SnapshotError::Stopping)?
    }

    /// Publishes where this node takes admin commands (`<data_dir>/admin.json`), once its
    /// listener is bound.
    pub fn publish_admin_endpoint(&self, addr: std::net::SocketAddr) {
        let addr = if addr.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let endpoint = AdminEndpoint {
            addr,
            key: self.admin_key.clone(),
            tls: self.tls.is_some(),
        };
        let lock = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lock) = lock.as_ref()
            && let Err(e) = lock.publish(&endpoint)
        {
            tracing::warn!(error = %e, "cannot write admin.json; `classpulse roster import` will not reach this server");
        }
    }

    /// The server's current time in whole seconds (for session expiry).
    pub fn now_secs(&self) -> i64 {
        self.clock.now().as_micros().div_euclid(1_000_000)
    }

    /// The signed-in principal of a request (its session cookie), if any.
    pub fn principal(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Option<crate::auth::session::Principal> {
        self.sessions.from_headers(headers, self.now_secs())
    }

    /// Whether a request carries this node's admin key (`Authorization: Bearer <key>`, the key
    /// published in `<data_dir>/admin.json`), compared in constant time.
    pub fn has_admin_key(&self, headers: &axum::http::HeaderMap) -> bool {
        headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| {
                constant_time_eq(given.trim().as_bytes(), self.admin_key.as_bytes())
            })
    }

    /// Whether a request carries the `/metrics` bearer token (or comes from an administrator).
    pub fn may_read_metrics(&self, headers: &axum::http::HeaderMap) -> bool {
        let token = self.metrics_token.as_deref().is_some_and(|want| {
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), want.as_bytes()))
        });
        token || self.is_admin(headers)
    }

    /// Sets the gauges read at scrape time (connections, queue lengths).
    pub fn sample_metrics(&self) {
        let router_queue = self
            .router_queue
            .upgrade()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity());
        crate::telemetry::metrics::set_gauges(
            self.stats.connections_open(),
            self.writer.queued(),
            router_queue,
        );
    }

    /// Whether a request comes from an administrator: the admin key, or a signed-in
    /// administrator's session.
    pub fn is_admin(&self, headers: &axum::http::HeaderMap) -> bool {
        self.has_admin_key(headers)
            || self
                .principal(headers)
                .is_some_and(|p| p.is_staff() && p.admin)
    }

    /// The directory of this node's event log.
    pub fn log_dir(&self) -> PathBuf {
        log_dir(&self.config)
    }

    /// Problems that make the node degraded (empty when healthy).
    pub async fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(p) = self.log_health.problem() {
            problems.push(p);
        }
        if let Some(p) = self.applier.problem() {
            problems.push(p);
        }
        if !self.kvs.healthy().await {
            problems.push("state store unreachable".into());
        }
        if !self.pubsub.healthy().await {
            problems.push("pub/sub unreachable".into());
        }
        problems
    }
}

/// Folds metric samples into their histograms every few seconds, until shutdown.
async fn upkeep(shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => crate::telemetry::metrics::upkeep(),
        }
    }
}

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The log directory for a configuration: `<data_dir>/log`.
pub fn log_dir(config: &Config) -> PathBuf {
    config.server.data_dir.join("log")
}

/// Asks for a snapshot every `every`, when events were logged since the last one.
async fn periodic_snapshots(
    snapshotter: Arc<Snapshotter>,
    requests: mpsc::Sender<SnapshotRequest>,
    writer: LogWriter,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if writer.next_seq().saturating_sub(1) <= snapshotter.last_through() {
            continue;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if requests.send(tx).await.is_err() {
            return;
        }
        let _ = rx.await;
    }
}

async fn replay(router: &Router, dir: &std::path::Path, from: u64) -> Result<u64, StartError> {
    let started = Instant::now();
    // Reading and splitting lines on a thread of their own, reducing here over the other cores
    // when the store is in memory (the result is the serial one).
    let (mut batches, reading) = crate::replay::sources::read_ahead(LogReader::open(dir, from)?);
    let mut events = 0u64;
    let mut lanes =
        crate::replay::parallel::Parallel::new(crate::replay::parallel::lanes_beside_reader());
    while let Some(batch) = batches.recv().await {
        let batch = batch?;
        events += batch.len() as u64;
        lanes.apply(router, batch, Mode::Replay).await?;
    }
    let _ = reading.join();
    if events > 0 {
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            events,
            seconds = format!("{secs:.2}"),
            rate = format!("{:.0}/s", events as f64 / secs.max(1e-9)),
            "state rebuilt from the event log"
        );
    }
    Ok(events)
}
