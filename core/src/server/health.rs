//! `/healthz` (alive; says `ok` or `degraded`) and `/readyz` (503 while not usable).

use crate::runtime::Runtime;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;

/// 200 while the process serves; the body is `ok`, or `degraded: <reasons>`.
pub(super) async fn healthz(State(rt): State<Arc<Runtime>>) -> (StatusCode, String) {
    let problems = rt.problems().await;
    if problems.is_empty() {
        (StatusCode::OK, "ok\n".into())
    } else {
        (
            StatusCode::OK,
            format!("degraded: {}\n", problems.join("; ")),
        )
    }
}

/// 200 `ready` when the log is writable and the backends reachable, else 503 with reasons.
pub(super) async fn readyz(State(rt): State<Arc<Runtime>>) -> (StatusCode, String) {
    let problems = rt.problems().await;
    if problems.is_empty() {
        (StatusCode::OK, "ready\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        )
    }
}
