//! The HTTP and WebSocket surface of the core: `/wsapi/in/`, the read API, health checks.
//!
//! [`routes`] builds the router apart from serving it, so HTTP routes are tested with
//! `oneshot` and the binary merges in the dashboards' routes; [`serve`] runs it on a listener
//! until a shutdown signal, then drains the runtime.

mod admin;
mod client_ip;
mod health;
mod ingest_ws;
pub mod listener;
pub mod page;
mod state_api;
pub mod tls;

pub use client_ip::TrustedProxies;
pub use tls::TlsConfig;

use crate::runtime::Runtime;
use axum::Router;
use axum::routing::{get, post};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The core's routes, with the runtime as state.
pub fn routes(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/wsapi/in/", get(ingest_ws::upgrade))
        .route("/wsapi/in", get(ingest_ws::upgrade))
        .route("/api/state/{safe_user_id}", get(state_api::student_state))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/admin/roster", post(admin::import_roster))
        .route("/api/admin/roster/{course_id}", get(admin::course_roster))
        .route("/api/admin/snapshot", post(admin::snapshot))
        .with_state(runtime)
}

/// Serves `app` on `listener` until `signal` resolves, then shuts the runtime down in order
/// (connections finish and are acknowledged, the log is synced). See [`listener`] for what each
/// connection gets (handshake timeout, peer address).
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    runtime: Arc<Runtime>,
    listener: TcpListener,
    app: Router,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        runtime.publish_admin_endpoint(addr);
    }
    let stop = runtime.shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        stop.cancel();
    });
    listener::accept_loop(&runtime, listener, app).await;
    runtime.shutdown().await;
    Ok(())
}
