//! The charts over HTTP, for the educator page (and anyone with the node's admin key):
//!
//! - `GET /api/courses/{course}/charts`: `{"course": {"id", "name"}, "charts": [{"name",
//!   "title", "url"}]}`, the charts the course has;
//! - `GET /api/courses/{course}/charts/{chart}.svg` (or `.png`): one chart, drawn now from the
//!   live states.
//!
//! Staff of the course (and administrators) only: 401 without a session, 403 for anyone else —
//! the same 403 whether or not the course exists. Images are `no-store`, and SVGs come with a
//! policy that forbids scripts and outside loads, since they carry student names as text.

use super::{Chart, CourseFigures};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use classpulse_core::auth::access::can_watch;
use classpulse_core::runtime::Runtime;
use classpulse_core::server::page::percent_encode;
use serde_json::json;
use std::sync::Arc;

/// The chart routes.
pub fn routes(rt: Arc<Runtime>) -> Router {
    Router::new()
        .route("/api/courses/{course}/charts", get(list))
        .route("/api/courses/{course}/charts/{file}", get(image))
        .with_state(rt)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// The course's figures, when the request may see them.
async fn figures(
    rt: &Runtime,
    headers: &HeaderMap,
    course: &str,
) -> Result<CourseFigures, Response> {
    if !rt.has_admin_key(headers) {
        let Some(principal) = rt.principal(headers) else {
            return Err(refuse(StatusCode::UNAUTHORIZED, "not signed in"));
        };
        if !can_watch(&principal, course, &rt.roster) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "only the course's staff and administrators see its charts",
            ));
        }
    }
    let Some(roster) = rt.roster.course(course) else {
        // Only administrators get here for a course that does not exist.
        return Err(refuse(StatusCode::NOT_FOUND, "no such course"));
    };
    let bin_secs = rt
        .config
        .module::<classpulse_writing::WritingConfig>("writing")
        .map_or(600, |w| w.binned_time_on_task_bin_secs);
    CourseFigures::gather(&roster, &*rt.kvs, &rt.registry, rt.clock.now(), bin_secs)
        .await
        .map_err(|e| refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))
}

async fn list(
    State(rt): State<Arc<Runtime>>,
    Path(course): Path<String>,
    headers: HeaderMap,
) -> Response {
    let figures = match figures(&rt, &headers, &course).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let base = format!("/api/courses/{}/charts", percent_encode(&course));
    let charts: Vec<_> = Chart::for_course(&figures)
        .into_iter()
        .map(|c| json!({"name": c.name(), "title": c.title(), "url": format!("{base}/{}.svg", c.name())}))
        .collect();
    let mut response = axum::Json(json!({
        "course": {"id": figures.course_id, "name": figures.course_name},
        "charts": charts,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn image(
    State(rt): State<Arc<Runtime>>,
    Path((course, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (name, svg) = match (file.strip_suffix(".svg"), file.strip_suffix(".png")) {
        (Some(name), _) => (name, true),
        (_, Some(name)) => (name, false),
        _ => return refuse(StatusCode::NOT_FOUND, "charts are .svg or .png"),
    };
    let Some(chart) = Chart::from_name(name) else {
        return refuse(StatusCode::NOT_FOUND, "no such chart");
    };
    let figures = match figures(&rt, &headers, &course).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let drawn = chart.draw(&figures);
    let (body, content_type) = match if svg {
        drawn.svg().map(|s| (s.into_bytes(), "image/svg+xml"))
    } else {
        drawn.png().map(|p| (p, "image/png"))
    } {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(error = %e, chart = name, "chart not drawn");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the chart could not be drawn",
            );
        }
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
