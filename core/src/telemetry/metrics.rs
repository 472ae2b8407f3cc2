//! Prometheus metrics: every metric ClassPulse exports is named here, once, with the function
//! that records it; `GET /metrics` renders them (`[metrics]` in `config.toml` says who may).
//!
//! Recording goes through the `metrics` facade into one process-wide recorder (installed by the
//! first runtime, [`install`]); without it, recording costs nothing. Hot paths record per batch,
//! not per event: ingest per hand-off, the log per commit, reducers per key and batch.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::Duration;

/// `[metrics]` in `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `GET /metrics` at all (404 when off).
    pub enabled: bool,
    /// A bearer token a scraper presents (`Authorization: Bearer <token>`, at least 16 bytes);
    /// the environment variable `CLASSPULSE_METRICS_TOKEN` overrides it. Administrators (a
    /// session or the node's admin key) may always read the metrics; without a token nobody
    /// else may.
    pub token: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            token: None,
        }
    }
}

/// Upper bounds of the latency histograms, in seconds: 50 µs to 5 s.
const SECONDS: [f64; 15] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle). `None` when
/// another recorder was installed by whoever embeds us.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&SECONDS)
                .expect("non-empty buckets")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
                return None;
            }
            describe();
            // Present from the start (at 0), so a scraper sees them before anything happens.
            for name in [
                "classpulse_events_accepted_total",
                "classpulse_log_commits_total",
                "classpulse_log_write_failures_total",
                "classpulse_kvs_errors_total",
                "classpulse_pubsub_errors_total",
                "classpulse_dashboard_messages_total",
            ] {
                counter!(name).increment(0);
            }
            gauge!("classpulse_dashboards_connected").increment(0.0);
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        "classpulse_events_accepted_total",
        "Events accepted into the event log."
    );
    describe_counter!(
        "classpulse_events_rejected_total",
        "Frames or events refused, by reason."
    );
    describe_gauge!(
        "classpulse_ingest_connections",
        "Open /wsapi/in/ connections."
    );
    describe_histogram!(
        "classpulse_log_fsync_seconds",
        "Time to write and fdatasync one group commit."
    );
    describe_counter!("classpulse_log_commits_total", "Group commits of the log.");
    describe_counter!(
        "classpulse_log_write_failures_total",
        "Failed log writes or syncs (retried; nothing acknowledged meanwhile)."
    );
    describe_gauge!(
        "classpulse_log_queue_length",
        "Hand-offs waiting for the log writer."
    );
    describe_gauge!(
        "classpulse_router_queue_length",
        "Committed batches waiting for the router."
    );
    describe_histogram!(
        "classpulse_reducer_seconds",
        "Time each reducer spent on one batch (its _sum is the reducer's total time)."
    );
    describe_counter!(
        "classpulse_reducer_events_total",
        "Events each reducer was applied to."
    );
    describe_counter!(
        "classpulse_reducer_failures_total",
        "Events a reducer failed on (errors and panics)."
    );
    describe_histogram!(
        "classpulse_kvs_update_seconds",
        "One batch's state-store update (with the memory store, this includes the reducers)."
    );
    describe_counter!("classpulse_kvs_errors_total", "State-store failures.");
    describe_histogram!(
        "classpulse_pubsub_publish_seconds",
        "Publishing one batch's state changes."
    );
    describe_counter!(
        "classpulse_pubsub_errors_total",
        "Pub/sub publish failures."
    );
    describe_gauge!(
        "classpulse_dashboards_connected",
        "Open /wsapi/dashboard connections of signed-in staff."
    );
    describe_counter!(
        "classpulse_dashboard_messages_total",
        "Snapshots and updates sent to dashboards."
    );
    describe_histogram!(
        "classpulse_dashboard_push_seconds",
        "From a state change reaching the dashboards hub to the view update written to a dashboard."
    );
    describe_counter!(
        "classpulse_limit_hits_total",
        "Times a configured limit refused or slowed a client, by limit."
    );
}

/// Renders every metric in Prometheus' text format, after `sample` has set the gauges that are
/// read at scrape time. `None` when no recorder is installed.
pub fn render(sample: impl FnOnce()) -> Option<String> {
    let handle = install()?;
    sample();
    Some(handle.render())
}

/// Folds recorded histogram samples into their buckets; the runtime calls it every few seconds
/// so samples do not pile up between scrapes (or without any).
pub fn upkeep() {
    if let Some(handle) = HANDLE.get().and_then(Option::as_ref) {
        handle.run_upkeep();
    }
}

/// `n` events accepted.
pub fn events_accepted(n: u64) {
    counter!("classpulse_events_accepted_total").increment(n);
}

/// `n` events or frames refused for `reason`.
pub fn events_rejected(reason: &'static str, n: u64) {
    counter!("classpulse_events_rejected_total", "reason" => reason).increment(n);
}

/// A group commit made durable.
pub fn log_committed(write_and_sync: Duration) {
    counter!("classpulse_log_commits_total").increment(1);
    histogram!("classpulse_log_fsync_seconds").record(write_and_sync.as_secs_f64());
}

/// A log write or sync failed.
pub fn log_write_failed() {
    counter!("classpulse_log_write_failures_total").increment(1);
}

/// One reducer's work in one batch: the events it was applied to, its failures, the time.
pub fn reducer_ran(reducer: &str, events: usize, failures: usize, spent: Duration) {
    let name = reducer.to_owned();
    histogram!("classpulse_reducer_seconds", "reducer" => name.clone()).record(spent.as_secs_f64());
    counter!("classpulse_reducer_events_total", "reducer" => name.clone()).increment(events as u64);
    if failures > 0 {
        counter!("classpulse_reducer_failures_total", "reducer" => name).increment(failures as u64);
    }
}

/// One state-store update, and whether it worked.
pub fn kvs_updated(spent: Duration, ok: bool) {
    histogram!("classpulse_kvs_update_seconds").record(spent.as_secs_f64());
    if !ok {
        counter!("classpulse_kvs_errors_total", "op" => "update").increment(1);
    }
}

/// One publication of state changes, and whether it worked.
pub fn pubsub_published(spent: Duration, ok: bool) {
    histogram!("classpulse_pubsub_publish_seconds").record(spent.as_secs_f64());
    if !ok {
        counter!("classpulse_pubsub_errors_total").increment(1);
    }
}

/// A dashboard connection of a signed-in staff member opened (`+1`) or closed (`-1`).
pub fn dashboards_connected(delta: f64) {
    gauge!("classpulse_dashboards_connected").increment(delta);
}

/// A message sent to a dashboard, `latency` after the change it shows reached the hub.
pub fn dashboard_pushed(latency: Option<Duration>) {
    counter!("classpulse_dashboard_messages_total").increment(1);
    if let Some(latency) = latency {
        histogram!("classpulse_dashboard_push_seconds").record(latency.as_secs_f64());
    }
}

/// A limit refused or slowed a client.
pub fn limit_hit(limit: &'static str) {
    counter!("classpulse_limit_hits_total", "limit" => limit).increment(1);
}

/// Gauges read at scrape time.
pub fn set_gauges(ingest_connections: u64, log_queue: usize, router_queue: usize) {
    gauge!("classpulse_ingest_connections").set(ingest_connections as f64);
    gauge!("classpulse_log_queue_length").set(log_queue as f64);
    gauge!("classpulse_router_queue_length").set(router_queue as f64);
}
