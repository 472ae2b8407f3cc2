//! `/healthz` (alive; says `ok` or `degraded`), `/readyz` (503 while not usable) and
//! `/metrics` (Prometheus, for administrators and the configured scraper token).

use crate::runtime::Runtime;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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

/// The metrics in Prometheus' text format: 404 when `[metrics] enabled = false`; 401 without
/// credentials, 403 with the wrong ones.
pub(super) async fn metrics(State(rt): State<Arc<Runtime>>, headers: HeaderMap) -> Response {
    if !rt.config.metrics.enabled {
        return (
            StatusCode::NOT_FOUND,
            "metrics are off ([metrics] enabled = false)\n",
        )
            .into_response();
    }
    if !rt.may_read_metrics(&headers) {
        let status =
            if headers.contains_key(header::AUTHORIZATION) || rt.principal(&headers).is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
        return (
            status,
            "metrics need the [metrics] token (Authorization: Bearer), the admin key or an administrator's session\n",
        )
            .into_response();
    }
    let Some(text) = crate::telemetry::metrics::render(|| rt.sample_metrics()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no metrics recorder\n").into_response();
    };
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
