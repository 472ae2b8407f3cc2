//! Admin commands over HTTP, for command-line tools talking to a running server:
//! `POST /api/admin/roster` (import courses), `GET /api/admin/roster/{course_id}` and
//! `POST /api/admin/snapshot` (write a snapshot of the state now).
//!
//! Authorized by `Authorization: Bearer <key>` with the key the server published in
//! `<data_dir>/admin.json`, or by a signed-in administrator's session.

use crate::roster::config::DesiredCourse;
use crate::runtime::Runtime;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// The body of `POST /api/admin/roster`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportRequest {
    courses: Vec<DesiredCourse>,
}

type ApiResult = Result<Json<Value>, (StatusCode, String)>;

fn require_admin(rt: &Runtime, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    if rt.is_admin(headers) {
        Ok(())
    } else if rt.principal(headers).is_none() {
        Err((
            StatusCode::UNAUTHORIZED,
            "sign in as an administrator or present the admin key\n".into(),
        ))
    } else {
        Err((StatusCode::FORBIDDEN, "administrators only\n".into()))
    }
}

/// Imports courses: each is brought to exactly the members given.
pub(super) async fn import_roster(
    State(rt): State<Arc<Runtime>>,
    headers: HeaderMap,
    Json(request): Json<ImportRequest>,
) -> ApiResult {
    require_admin(&rt, &headers)?;
    for course in &request.courses {
        course
            .validate()
            .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")))?;
    }
    let report = crate::roster::import::import(
        &rt.roster,
        &rt.writer,
        &rt.config.server.node_id,
        &request.courses,
    )
    .await
    .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")))?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

/// A course's roster, as the log has made it.
pub(super) async fn course_roster(
    State(rt): State<Arc<Runtime>>,
    headers: HeaderMap,
    Path(course_id): Path<String>,
) -> ApiResult {
    require_admin(&rt, &headers)?;
    match rt.roster.course(&course_id) {
        Some(course) => Ok(Json(serde_json::to_value(course).unwrap_or_default())),
        None => Err((StatusCode::NOT_FOUND, format!("no course {course_id:?}\n"))),
    }
}

/// Takes a snapshot of the state now; answers with what was written.
pub(super) async fn snapshot(State(rt): State<Arc<Runtime>>, headers: HeaderMap) -> ApiResult {
    require_admin(&rt, &headers)?;
    match rt.snapshot().await {
        Ok(info) => Ok(Json(serde_json::to_value(info).unwrap_or_default())),
        Err(e @ crate::snapshot::SnapshotError::NotUsed) => {
            Err((StatusCode::CONFLICT, format!("{e}\n")))
        }
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"))),
    }
}
