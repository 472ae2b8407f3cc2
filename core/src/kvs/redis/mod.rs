//! The Redis KVS: reducer states shared by several nodes, in Redis or a Redis Cluster (`fred`).
//!
//! One [`Kvs::update`] costs two round trips whatever the batch holds: one pipeline loads every
//! key of the batch (`HMGET`, plus the epoch check), the router applies the events, and one
//! pipeline stores every changed key with the compare-and-set script ([`script::CAS`]). Keys whose
//! compare-and-set lost to another node are reloaded and applied again — the events the fresher
//! state already reflects are skipped by their log positions — until every key is stored. So two
//! nodes updating the same student never lose an update, and a node never pays one round trip per
//! event.
//!
//! A stored state is a hash: `rev` (the compare-and-set revision), `ver` (the reducer's state
//! version), `app` (the log positions it reflects, JSON), `st` (the state, JSON) and `by` (the
//! node that stored it). A state stored under another reducer version, or that no longer
//! decodes, is started afresh with no positions, so the node's log is applied to it again
//! (see `ARCHITECTURE.md`).
//!
//! **Epoch and marks.** Redis may come back empty (no persistence, a wipe, a replaced shard):
//! the first node to see an empty store writes a random epoch under `<prefix>:epoch` (one per
//! primary on a cluster). Redis may also come back from an append-only file that misses its last
//! second of writes: so each node also writes, with every store, the highest sequence number of
//! its own log it has stored (`<prefix>:mark:<node>`, one per primary, each after the states on
//! that primary in the same pipeline). Every load reads both. A changed epoch means the store
//! lost everything: [`Kvs::take_rewind`] says "from 1" and the runtime rebuilds the store from
//! its log; a mark lower than what the node stored means it lost the updates after the mark: the
//! runtime applies the log again from there. Until then nothing is written, so no event is
//! applied on top of a state that lost earlier ones. (A compare-and-set can never write a stale
//! state into an emptied or rolled-back store anyway: its expected revision no longer matches,
//! except for keys that did not exist before — and those are correct.)
//!
//! Health: a probe task pings (and checks the epoch) every second; [`Kvs::healthy`] reports
//! what it saw last, and the transitions are logged once per incident.

mod journal;
mod keys;
mod lease;
pub(crate) mod script;

pub use journal::{Handover, read_dir as read_journals};
pub use lease::TimerLease;

use super::{Applied, Kvs, KvsError, Slot, StateKey, UpdateBatch};
use crate::config::RedisKvsConfig;
use crate::reducer::DynReducer;
use async_trait::async_trait;
use fred::prelude::*;
use fred::types::CustomCommand;
use journal::Journal;
use keys::KeySpace;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Fields of a state hash, in load order.
const FIELDS: [&str; 5] = ["rev", "ver", "app", "st", "by"];

/// States in Redis.
pub struct RedisKvs {
    client: Client,
    keys: KeySpace,
    ttl_ms: u64,
    node: Arc<str>,
    cas_sha: String,
    clustered: bool,
    /// The epoch this node's view of the data belongs to (`None` before the first check).
    epoch: Mutex<Option<String>>,
    /// The epoch keys and this node's mark keys: one pair, or one per cluster primary.
    epoch_keys: Mutex<Vec<(String, String)>>,
    healthy: AtomicBool,
    /// Where this node's log must be applied again from (see [`Kvs::take_rewind`]).
    rewind: Mutex<Option<u64>>,
    /// The highest sequence number of this node's log it has stored.
    high: AtomicU64,
    /// Held across a whole update, and by the probe's epoch check: an epoch change the probe
    /// notices cannot slip between an update's check and its store.
    exclusive: tokio::sync::Mutex<()>,
    journal: Option<Mutex<Journal>>,
    warned: Mutex<HashSet<String>>,
    lease_ttl: Duration,
}

fn unavailable(e: impl std::fmt::Display) -> KvsError {
    KvsError::Unavailable(e.to_string())
}

/// Builds a `fred` client for `url`: reconnects forever with backoff (100 ms to 5 s), commands
/// time out after `timeout`.
pub(crate) fn client_builder(url: &str, timeout: Duration) -> Result<Builder, Error> {
    let config = Config::from_url(url)?;
    let mut builder = Builder::from_config(config);
    builder
        .with_performance_config(|p| p.default_command_timeout = timeout)
        .with_connection_config(|c| {
            c.connection_timeout = timeout.max(Duration::from_millis(500));
            c.internal_command_timeout = timeout.max(Duration::from_millis(500));
            c.max_command_attempts = 2;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5000, 2));
    Ok(builder)
}

impl RedisKvs {
    /// Connects to Redis (waiting up to a few seconds; when it does not answer the node starts
    /// degraded and keeps trying) and starts the health probe. `journal_dir` receives the order
    /// journal (`None`: none is written).
    ///
    /// # Errors
    /// [`KvsError::Unavailable`] when the URL cannot be used.
    pub async fn connect(
        config: &RedisKvsConfig,
        node: &str,
        journal_dir: Option<PathBuf>,
    ) -> Result<Arc<RedisKvs>, KvsError> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = client_builder(&config.url, timeout)
            .and_then(|b| b.build())
            .map_err(unavailable)?;
        let clustered = client.is_clustered();
        client.connect();
        let connected = tokio::time::timeout(
            Duration::from_secs(5).max(timeout * 2),
            client.wait_for_connect(),
        )
        .await;
        let healthy = matches!(connected, Ok(Ok(())));
        if !healthy {
            tracing::error!(url = %redact(&config.url), "Redis does not answer; starting degraded, events are logged and applied once it does");
        }
        let journal = match journal_dir {
            Some(dir) => match Journal::open(&dir, node) {
                Ok(j) => Some(Mutex::new(j)),
                Err(e) => {
                    return Err(KvsError::Unavailable(format!(
                        "cannot open the order journal in {}: {e}",
                        dir.display()
                    )));
                }
            },
            None => None,
        };
        let keys = KeySpace::new(&config.prefix);
        let kvs = Arc::new(RedisKvs {
            epoch_keys: Mutex::new(vec![(keys.epoch(None), keys.mark(None, node))]),
            client,
            keys,
            ttl_ms: config.ttl_secs.saturating_mul(1000),
            node: Arc::from(node),
            cas_sha: script::sha(script::CAS),
            clustered,
            epoch: Mutex::new(None),
            healthy: AtomicBool::new(healthy),
            rewind: Mutex::new(None),
            high: AtomicU64::new(0),
            exclusive: tokio::sync::Mutex::new(()),
            journal,
            warned: Mutex::new(HashSet::new()),
            lease_ttl: Duration::from_secs(config.lease_secs),
        });
        if healthy {
            kvs.refresh_epoch_keys();
            if let Err(e) = kvs.load_scripts().await {
                tracing::warn!(error = %e, "could not load the compare-and-set script yet");
            }
            let _ = kvs.probe_epoch().await;
        }
        tokio::spawn(probe(Arc::downgrade(&kvs)));
        Ok(kvs)
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// A timer lease on this store, held for the configured `lease_secs`.
    pub fn timer_lease(&self) -> TimerLease {
        TimerLease::new(
            self.client.clone(),
            self.keys.lease(),
            format!("{}/{}", self.node, std::process::id()),
            self.lease_ttl,
        )
    }

    async fn load_scripts(&self) -> Result<(), Error> {
        let _: Value = self.client.script_load_cluster(script::CAS).await?;
        Ok(())
    }

    /// On a cluster, picks one epoch key per primary (a hash tag that lands on it).
    fn refresh_epoch_keys(&self) {
        if !self.clustered {
            return;
        }
        let Some(state) = self.client.cached_cluster_state() else {
            return;
        };
        let mut primaries = state.unique_primary_nodes();
        primaries.sort_by_key(|s| s.to_string());
        let mut keys = Vec::with_capacity(primaries.len());
        for primary in &primaries {
            let found = (0..100_000u32).find_map(|n| {
                let tag = format!("e{n}");
                let key = self.keys.epoch(Some(&tag));
                let slot = fred::types::cluster::ClusterRouting::hash_key(key.as_bytes());
                (state.get_server(slot) == Some(primary))
                    .then(|| (key, self.keys.mark(Some(&tag), &self.node)))
            });
            keys.extend(found);
        }
        if !keys.is_empty() {
            *self.epoch_keys.lock().unwrap_or_else(|e| e.into_inner()) = keys;
        }
    }

    fn epoch_keys(&self) -> Vec<(String, String)> {
        self.epoch_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the epoch keys and marks and checks them (the probe's path).
    async fn probe_epoch(&self) -> Result<(), KvsError> {
        let _exclusive = self.exclusive.lock().await;
        let keys = self.epoch_keys();
        let pipe = self.client.pipeline();
        for (epoch, mark) in &keys {
            let _: () = pipe.get(epoch.as_str()).await.map_err(unavailable)?;
            let _: () = pipe.get(mark.as_str()).await.map_err(unavailable)?;
        }
        let values: Vec<Value> = pipe.all().await.map_err(unavailable)?;
        self.check(&keys, &values).await
    }

    /// Checks `[epoch, mark]` pairs as read for `keys`.
    async fn check(&self, keys: &[(String, String)], values: &[Value]) -> Result<(), KvsError> {
        let epochs: Vec<Option<String>> = values.iter().step_by(2).map(text).collect();
        let epoch_keys: Vec<String> = keys.iter().map(|(e, _)| e.clone()).collect();
        self.check_epoch(&epoch_keys, epochs).await?;
        let mark = values
            .iter()
            .skip(1)
            .step_by(2)
            .map(|v| text(v).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0))
            .min()
            .unwrap_or(0);
        let high = self.high.load(Ordering::Acquire);
        if mark < high {
            self.rewind_to(mark + 1);
            tracing::warn!(
                stored = mark,
                expected = high,
                "Redis came back without its last writes: applying the event log again from there"
            );
            return Err(KvsError::Unavailable(
                "the state store lost its last updates".into(),
            ));
        }
        Ok(())
    }

    fn rewind_to(&self, from: u64) {
        let mut rewind = self.rewind.lock().unwrap_or_else(|e| e.into_inner());
        *rewind = Some(rewind.map_or(from, |r| r.min(from)));
        self.high.store(from.saturating_sub(1), Ordering::Release);
    }

    /// Compares the stored epoch with the one this node knows. A missing or split epoch is
    /// replaced by a fresh one; a changed epoch means the store lost data: flag the reset.
    async fn check_epoch(
        &self,
        keys: &[String],
        mut values: Vec<Option<String>>,
    ) -> Result<(), KvsError> {
        for _ in 0..5 {
            let first = values.first().cloned().flatten();
            let agreed = first
                .as_ref()
                .filter(|v| values.iter().all(|x| x.as_ref() == Some(*v)));
            if let Some(value) = agreed {
                let mut known = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
                if known.as_deref() == Some(value.as_str()) {
                    return Ok(());
                }
                let had = known.replace(value.clone());
                drop(known);
                if had.is_some() {
                    self.rewind_to(1);
                    tracing::warn!(epoch = %value, "Redis lost its data (a new epoch): rebuilding the state store from the event log");
                    return Err(KvsError::Unavailable(
                        "the state store lost its data".into(),
                    ));
                }
                return Ok(());
            }
            let missing = values.iter().any(Option::is_none);
            if missing && keys.len() == 1 {
                // One server: the first node to see it empty names the new epoch.
                let fresh = fresh_epoch(&self.node);
                let _: Value = self
                    .client
                    .set(
                        keys[0].as_str(),
                        fresh.as_str(),
                        None,
                        Some(SetOptions::NX),
                        false,
                    )
                    .await
                    .map_err(unavailable)?;
            } else {
                // Cluster: a fresh epoch everywhere when a shard lost it; when two nodes raced,
                // everyone converges on the greatest value.
                let value = if missing {
                    fresh_epoch(&self.node)
                } else {
                    values.iter().flatten().max().cloned().unwrap_or_default()
                };
                let pipe = self.client.pipeline();
                for key in keys {
                    let _: () = pipe
                        .set(key.as_str(), value.as_str(), None, None, false)
                        .await
                        .map_err(unavailable)?;
                }
                let _: Value = pipe.all().await.map_err(unavailable)?;
            }
            let pipe = self.client.pipeline();
            for key in keys {
                let _: () = pipe.get(key.as_str()).await.map_err(unavailable)?;
            }
            let read: Vec<Value> = pipe.all().await.map_err(unavailable)?;
            values = read.iter().map(text).collect();
        }
        Err(KvsError::Unavailable("the epoch keys keep changing".into()))
    }

    fn mark(&self, ok: bool) {
        let was = self.healthy.swap(ok, Ordering::AcqRel);
        if was && !ok {
            tracing::error!(
                "Redis unreachable: events are still logged; state catches up when it is back"
            );
        } else if !was && ok {
            tracing::info!("Redis reachable again");
        }
    }

    /// Loads the keys `which` of `batch`, checking the epoch in the same round trip.
    async fn load(
        &self,
        keys: &[(StateKey, Arc<dyn DynReducer>)],
        which: &[usize],
    ) -> Result<Vec<(Slot, Option<String>)>, KvsError> {
        let epoch_keys = self.epoch_keys();
        let pipe = self.client.pipeline();
        for (epoch, mark) in &epoch_keys {
            let _: () = pipe.get(epoch.as_str()).await.map_err(unavailable)?;
            let _: () = pipe.get(mark.as_str()).await.map_err(unavailable)?;
        }
        for &i in which {
            let _: () = pipe
                .hmget(self.keys.state(&keys[i].0), FIELDS.to_vec())
                .await
                .map_err(unavailable)?;
        }
        let results: Vec<Result<Value, Error>> = pipe.try_all().await;
        if results.len() != 2 * epoch_keys.len() + which.len() {
            let e = results.into_iter().find_map(Result::err);
            return Err(unavailable(e.map_or_else(
                || "short pipeline reply".to_owned(),
                |e| e.to_string(),
            )));
        }
        let mut results = results.into_iter();
        let mut checks = Vec::with_capacity(2 * epoch_keys.len());
        for r in results.by_ref().take(2 * epoch_keys.len()) {
            checks.push(r.map_err(unavailable)?);
        }
        self.check(&epoch_keys, &checks).await?;
        let mut out = Vec::with_capacity(which.len());
        for (&i, r) in which.iter().zip(results) {
            let (key, reducer) = &keys[i];
            out.push(self.decode(key, &**reducer, r.map_err(unavailable)?));
        }
        Ok(out)
    }

    /// Turns an `HMGET` reply into a slot (fresh when absent) and its last writer.
    fn decode(
        &self,
        key: &StateKey,
        reducer: &dyn DynReducer,
        reply: Value,
    ) -> (Slot, Option<String>) {
        let fields = reply.into_array();
        let field = |i: usize| fields.get(i).and_then(Value::as_bytes);
        let Some(revision) = field(0)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return (Slot::new(reducer), None);
        };
        let by = field(4).map(|b| String::from_utf8_lossy(b).into_owned());
        let version = field(1)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse::<u32>().ok());
        let decoded = if version == Some(reducer.version()) {
            match (
                field(2).map(serde_json::from_slice::<Applied>),
                field(3).map(|s| reducer.decode(s)),
            ) {
                (Some(Ok(applied)), Some(Ok(state))) => Some((applied, state)),
                (applied, state) => {
                    let reason = match (applied, state) {
                        (Some(Err(e)), _) => format!("positions: {e}"),
                        (_, Some(Err(e))) => format!("state: {e}"),
                        _ => "fields missing".to_owned(),
                    };
                    self.warn_once(
                        key.reducer.to_string() + "/decode",
                        format_args!("a stored {} state does not decode ({reason}); rebuilding it from the log", key.reducer),
                    );
                    None
                }
            }
        } else {
            self.warn_once(
                key.reducer.to_string(),
                format_args!(
                    "states of {} were stored under version {:?}, this build has version {}; rebuilding them from the log",
                    key.reducer,
                    version,
                    reducer.version()
                ),
            );
            None
        };
        let (applied, state) = decoded.unwrap_or_else(|| (Applied::default(), reducer.new_state()));
        (
            Slot {
                version: reducer.version(),
                applied,
                revision,
                state,
            },
            by,
        )
    }

    fn warn_once(&self, what: String, message: std::fmt::Arguments<'_>) {
        if self
            .warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(what)
        {
            tracing::warn!("{message}");
        }
    }

    /// Stores the changed slots with the compare-and-set script; returns, per slot, the new
    /// revision or `None` when another node stored first.
    async fn store(
        &self,
        keys: &[(StateKey, Arc<dyn DynReducer>)],
        writes: &[(usize, Slot, Option<Applied>)],
    ) -> Result<Vec<Option<u64>>, KvsError> {
        let high = writes
            .iter()
            .map(|(_, slot, _)| slot.applied.of(&self.node))
            .max()
            .unwrap_or(0)
            .max(self.high.load(Ordering::Acquire));
        let marks = self.epoch_keys();
        for attempt in 0..2 {
            let pipe = self.client.pipeline();
            for (i, slot, _) in writes {
                let key = &keys[*i].0;
                let applied = serde_json::to_vec(&slot.applied).unwrap_or_else(|_| b"[]".to_vec());
                let args: Vec<Value> = vec![
                    Value::Integer(slot.revision as i64),
                    Value::Integer(i64::from(slot.version)),
                    Value::Bytes(applied.into()),
                    Value::Bytes(slot.state.to_json_bytes().into()),
                    Value::String(self.node.to_string().into()),
                    Value::String(KeySpace::member(key).into()),
                    Value::Integer(self.ttl_ms as i64),
                ];
                let state_key = self.keys.state(key);
                // Pipelines have no EVALSHA of their own: send it as a command routed by the
                // state key's slot (the index shares it).
                let slot = fred::types::cluster::ClusterRouting::hash_key(state_key.as_bytes());
                let mut command = Vec::with_capacity(args.len() + 4);
                command.push(Value::String(self.cas_sha.clone().into()));
                command.push(Value::Integer(2));
                command.push(Value::String(state_key.into()));
                command.push(Value::String(self.keys.index(key.scope.subject()).into()));
                command.extend(args);
                let _: () = pipe
                    .custom(
                        CustomCommand::new_static(
                            "EVALSHA",
                            fred::types::ClusterHash::Custom(slot),
                            false,
                        ),
                        command,
                    )
                    .await
                    .map_err(unavailable)?;
            }
            // After the states, on each primary: how far this node's log is stored.
            if high > 0 {
                for (_, mark) in &marks {
                    let _: () = pipe
                        .set(mark.as_str(), high as i64, None, None, false)
                        .await
                        .map_err(unavailable)?;
                }
            }
            let mut results: Vec<Result<Value, Error>> = pipe.try_all().await;
            let expected = writes.len() + if high > 0 { marks.len() } else { 0 };
            if results.len() != expected {
                let e = results.into_iter().find_map(Result::err);
                return Err(unavailable(e.map_or_else(
                    || "short pipeline reply".to_owned(),
                    |e| e.to_string(),
                )));
            }
            if let Some(e) = results.drain(writes.len()..).find_map(Result::err) {
                return Err(unavailable(e));
            }
            self.high.fetch_max(high, Ordering::AcqRel);
            let no_script = results
                .iter()
                .any(|r| matches!(r, Err(e) if e.details().contains("NOSCRIPT")));
            if no_script && attempt == 0 {
                // Redis restarted and forgot the script: nothing ran where it was missing.
                // Load it and send again; keys stored meanwhile lose their compare-and-set.
                self.load_scripts().await.map_err(unavailable)?;
                continue;
            }
            return results
                .into_iter()
                .map(|r| match r {
                    Ok(v) => Ok(v.as_i64().and_then(|rev| u64::try_from(rev).ok())),
                    Err(e) => Err(unavailable(e)),
                })
                .collect();
        }
        Err(KvsError::Unavailable(
            "the compare-and-set script cannot be loaded".into(),
        ))
    }
}

#[async_trait]
impl Kvs for RedisKvs {
    async fn update(&self, batch: &mut dyn UpdateBatch) -> Result<(), KvsError> {
        let _exclusive = self.exclusive.lock().await;
        // Nothing is written while a rewind is pending: a state stored now would claim
        // positions whose earlier events the store lost, and the re-application would skip them.
        if self
            .rewind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Err(KvsError::Unavailable(
                "the state store lost updates; the log is being applied again".into(),
            ));
        }
        // The keys are cloned (reference counts) so no borrow of the batch lives across an await.
        let keys: Vec<(StateKey, Arc<dyn DynReducer>)> = batch.keys().to_vec();
        let mut todo: Vec<usize> = (0..keys.len()).collect();
        let mut round = 0u32;
        let result = loop {
            let loaded = match self.load(&keys, &todo).await {
                Ok(l) => l,
                Err(e) => break Err(e),
            };
            let mut writes = Vec::new();
            for (&i, (mut slot, by)) in todo.iter().zip(loaded) {
                // A hand-over (the previous writer was another node) goes into the journal.
                let handover = by
                    .filter(|by| **by != *self.node)
                    .map(|_| slot.applied.clone());
                if batch.apply(i, &mut slot) {
                    writes.push((i, slot, handover));
                }
            }
            if writes.is_empty() {
                break Ok(());
            }
            let stored = match self.store(&keys, &writes).await {
                Ok(s) => s,
                Err(e) => break Err(e),
            };
            let mut conflicts = Vec::new();
            for ((i, _, handover), rev) in writes.iter().zip(stored) {
                match rev {
                    Some(rev) => {
                        if let (Some(before), Some(journal)) = (handover, &self.journal) {
                            let key = &keys[*i].0;
                            journal.lock().unwrap_or_else(|e| e.into_inner()).record(
                                &Handover::new(KeySpace::member(key), rev, &self.node, before),
                            );
                        }
                    }
                    None => conflicts.push(*i),
                }
            }
            if conflicts.is_empty() {
                break Ok(());
            }
            todo = conflicts;
            round += 1;
            if round > 3 {
                // Heavy contention on these keys: back off a little, with jitter.
                let jitter = u64::from(std::process::id() % 7) + u64::from(round.min(20));
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
        };
        if let Some(journal) = &self.journal {
            journal.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
        if let Err(KvsError::Unavailable(_)) = &result
            && self
                .rewind
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none()
        {
            self.mark(false);
        }
        result
    }

    async fn read(
        &self,
        key: &StateKey,
        reducer: &dyn DynReducer,
        read: &mut (dyn for<'s> FnMut(Option<&'s Slot>) + Send),
    ) -> Result<(), KvsError> {
        let reply: Value = self
            .client
            .hmget(self.keys.state(key), FIELDS.to_vec())
            .await
            .map_err(unavailable)?;
        let (slot, _) = self.decode(key, reducer, reply);
        if slot.revision == 0 {
            read(None);
        } else {
            read(Some(&slot));
        }
        Ok(())
    }

    async fn keys_of(&self, subject: &str) -> Result<Vec<StateKey>, KvsError> {
        let members: Vec<String> = self
            .client
            .smembers(self.keys.index(subject))
            .await
            .map_err(unavailable)?;
        let mut keys: Vec<StateKey> = members
            .iter()
            .filter_map(|m| KeySpace::parse_member(m))
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn scan(
        &self,
        visit: &mut (dyn for<'s> FnMut(&'s StateKey, &'s Slot) + Send),
    ) -> Result<(), KvsError> {
        use futures_util::StreamExt;
        let pattern = self.keys.state_pattern();
        let names: Vec<Result<Key, Error>> = if self.clustered {
            self.client
                .scan_cluster_buffered(pattern, Some(1000), None)
                .collect()
                .await
        } else {
            self.client
                .scan_buffered(pattern, Some(1000), None)
                .collect()
                .await
        };
        let mut keys = Vec::with_capacity(names.len());
        for name in names {
            let name = name.map_err(unavailable)?;
            if let Some(key) = name.as_str().and_then(|n| self.keys.parse_state(n)) {
                keys.push(key);
            }
        }
        for chunk in keys.chunks(500) {
            let pipe = self.client.pipeline();
            for key in chunk {
                let _: () = pipe
                    .hmget(self.keys.state(key), FIELDS.to_vec())
                    .await
                    .map_err(unavailable)?;
            }
            let replies: Vec<Value> = pipe.all().await.map_err(unavailable)?;
            for (key, reply) in chunk.iter().zip(replies) {
                // States are decoded with a reducer; scan has none, so it hands out JSON.
                let fields = reply.into_array();
                let Some(state) = fields.get(3).and_then(Value::as_bytes) else {
                    continue;
                };
                let json: serde_json::Value =
                    serde_json::from_slice(state).map_err(|e| KvsError::Decode {
                        key: key.to_string(),
                        reason: e.to_string(),
                    })?;
                let slot = Slot {
                    version: fields
                        .get(1)
                        .and_then(Value::as_bytes)
                        .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
                        .unwrap_or(0),
                    applied: fields
                        .get(2)
                        .and_then(Value::as_bytes)
                        .and_then(|b| serde_json::from_slice(b).ok())
                        .unwrap_or_default(),
                    revision: fields
                        .first()
                        .and_then(Value::as_bytes)
                        .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
                        .unwrap_or(0),
                    state: Box::new(json),
                };
                visit(key, &slot);
            }
        }
        Ok(())
    }

    async fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn take_rewind(&self) -> Option<u64> {
        self.rewind.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Pings Redis (reading the epoch) every second while the KVS lives.
async fn probe(kvs: Weak<RedisKvs>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(kvs) = kvs.upgrade() else { return };
        let was = kvs.healthy.load(Ordering::Acquire);
        if !was {
            kvs.refresh_epoch_keys();
        }
        let ok = match kvs.probe_epoch().await {
            Ok(()) => true,
            // Reachable, but it lost data: the applier takes it from here.
            Err(_) => kvs
                .rewind
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some(),
        };
        if ok
            && !was
            && let Err(e) = kvs.load_scripts().await
        {
            tracing::debug!(error = %e, "script load after reconnect failed");
        }
        kvs.mark(ok);
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn fresh_epoch(node: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::RandomState::default().build_hasher();
    h.write(node.as_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    format!("{:016x}{:08x}", h.finish(), (nanos % 0xffff_ffff) as u32)
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
