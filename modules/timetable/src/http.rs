//! The timetable's HTTP API, built apart from serving ([`routes`]) so the binary merges it into
//! the core's router and tests call it with `oneshot`:
//!
//! | route | what |
//! | --- | --- |
//! | `GET /api/timetable/courses/{course}/now` | now/next with "starts in / ends in", TAs on duty |
//! | `GET /api/timetable/courses/{course}/week?date=YYYY-MM-DD` | the week (Mon–Sun) as JSON |
//! | `GET /api/timetable/courses/{course}/week.ics?date=…` | the same week as iCalendar |
//! | `GET /api/timetable/courses/{course}/calendar.ics` | the whole term, to download (signed in) |
//! | `GET /api/timetable/courses/{course}/calendar.ics?feed=…` | the same, for a calendar app ([`crate::feed`]) |
//! | `GET /api/timetable/courses/{course}/calendar-feed` | a member's feed link to subscribe to |
//! | `GET /api/timetable/conflicts?course=…` | conflicts, all or one course's |
//! | `POST /api/timetable/import?format=toml\|ics&course=…&dry_run=…` | an import (administrators) |
//!
//! Who may read what (`docs/security.md`): a course's timetable, its members (students, TAs,
//! teachers, as the roster says) and administrators; conflicts of one course, its staff and
//! administrators; all conflicts and imports, administrators only (a signed-in administrator,
//! the node's admin key, or the short-lived timetable admin token the CLI makes).
//!
//! The import is how `classpulse timetable import` reaches a running server: it carries a
//! short-lived admin token signed with a key derived from the token secret (so a student token
//! is never an admin token), and the server plans and appends the events itself — the CLI never
//! writes a running server's log. The data functions ([`course_state`], [`conflicts`]) are
//! public for the dashboards.

use crate::config::TimetableConfig;
use crate::conflicts::{Conflict, check};
use crate::import::{Format, apply_live, plan, read_catalog};
use crate::recur::Zones;
use crate::reducers::{COURSE, CourseState};
use crate::view::{ics, now_view, week_json, week_of};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use classpulse_core::auth::access::{can_watch, course_access};
use classpulse_core::auth::token::{Claims, issue, verify};
use classpulse_core::kvs::{KvsError, Slot, StateKey};
use classpulse_core::reducer::ScopeKey;
use classpulse_core::runtime::Runtime;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// An API error: 4xx show their message, 5xx hide internals.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A bad request (a malformed date, an invalid file).
    #[error("{0}")]
    BadRequest(String),
    /// No such course.
    #[error("{0}")]
    NotFound(String),
    /// Not signed in, or a bad admin token.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but not allowed (the same answer whether or not the course exists).
    #[error("{0}")]
    Forbidden(String),
    /// The state store or the log failed.
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::Unavailable(m) => {
                tracing::warn!(error = %m, "timetable API failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily unavailable".to_owned(),
                )
            }
        };
        (status, format!("{text}\n")).into_response()
    }
}

impl From<KvsError> for ApiError {
    fn from(e: KvsError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

struct Api {
    rt: Arc<Runtime>,
    config: TimetableConfig,
    imports: tokio::sync::Mutex<()>,
}

/// The timetable routes, with the runtime and the module's configuration as state.
pub fn routes(rt: Arc<Runtime>, config: TimetableConfig) -> Router {
    let api = Arc::new(Api {
        rt,
        config,
        imports: tokio::sync::Mutex::new(()),
    });
    Router::new()
        .route("/api/timetable/courses/{course}/now", get(now))
        .route("/api/timetable/courses/{course}/week", get(week))
        .route("/api/timetable/courses/{course}/week.ics", get(week_ics))
        .route(
            "/api/timetable/courses/{course}/calendar.ics",
            get(calendar_ics),
        )
        .route(
            "/api/timetable/courses/{course}/calendar-feed",
            get(calendar_feed),
        )
        .route("/api/timetable/conflicts", get(conflicts_route))
        .route(
            "/api/timetable/import",
            post(import).layer(DefaultBodyLimit::max(32 * 1024 * 1024)),
        )
        .with_state(api)
}

/// A course's state (schedule and live now/next), `None` when it has none.
///
/// # Errors
/// When the state store fails.
pub async fn course_state(rt: &Runtime, course: &str) -> Result<Option<CourseState>, KvsError> {
    let Some(reducer) = rt.registry.get(COURSE) else {
        return Ok(None);
    };
    let key = StateKey {
        reducer: Arc::from(COURSE),
        scope: ScopeKey::course(course),
    };
    let mut out = None;
    rt.kvs
        .read(&key, &*reducer.reducer, &mut |slot: Option<&Slot>| {
            out = slot
                .and_then(|s| s.state.as_any().downcast_ref::<CourseState>())
                .cloned();
        })
        .await?;
    Ok(out)
}

/// The timetable's conflicts, all of them or those involving `course`.
///
/// # Errors
/// When the state store fails.
pub async fn conflicts(rt: &Runtime, course: Option<&str>) -> Result<Vec<Conflict>, KvsError> {
    let catalog = read_catalog(rt).await?;
    let mut all = check(&catalog);
    if let Some(c) = course {
        all.retain(|x| x.involves(c));
    }
    Ok(all)
}

async fn schedule(api: &Api, course: &str) -> Result<crate::live::CourseSchedule, ApiError> {
    course_state(&api.rt, course)
        .await?
        .and_then(|s| s.schedule)
        .ok_or_else(|| ApiError::NotFound(format!("no timetable for course {course:?}")))
}

/// Members of `course` (any role) and administrators may read its timetable.
fn may_read_course(api: &Api, headers: &HeaderMap, course: &str) -> Result<(), ApiError> {
    if api.rt.is_admin(headers) {
        return Ok(());
    }
    let principal = api
        .rt
        .principal(headers)
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
    if course_access(&principal, course, &api.rt.roster).is_some() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only members of course {course:?} and administrators may read its timetable"
        )))
    }
}

async fn now(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(course): Path<String>,
) -> Result<Response, ApiError> {
    may_read_course(&api, &headers, &course)?;
    let schedule = schedule(&api, &course).await?;
    let catalog = read_catalog(&api.rt).await?;
    let view = now_view(&schedule, &catalog, api.rt.clock.now());
    Ok(axum::Json(view).into_response())
}

#[derive(Deserialize)]
struct WeekQuery {
    date: Option<String>,
}

fn date_or_today(q: &WeekQuery, api: &Api, zone: &str) -> Result<Date, ApiError> {
    match &q.date {
        Some(d) => d.parse::<Date>().map_err(|e| {
            ApiError::BadRequest(format!("date={d:?} is not a date like 2026-09-14: {e}"))
        }),
        None => {
            let mut zones = Zones::new(zone)
                .or_else(|_| Zones::new("UTC"))
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            Ok(Zones::civil(&zones.get(None), api.rt.clock.now()).date())
        }
    }
}

async fn week(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(course): Path<String>,
    Query(q): Query<WeekQuery>,
) -> Result<Response, ApiError> {
    may_read_course(&api, &headers, &course)?;
    let schedule = schedule(&api, &course).await?;
    let date = date_or_today(&q, &api, &schedule.time_zone)?;
    let catalog = read_catalog(&api.rt).await?;
    Ok(axum::Json(week_json(&schedule, &catalog, date)).into_response())
}

fn calendar(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn week_ics(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(course): Path<String>,
    Query(q): Query<WeekQuery>,
) -> Result<Response, ApiError> {
    may_read_course(&api, &headers, &course)?;
    let schedule = schedule(&api, &course).await?;
    let date = date_or_today(&q, &api, &schedule.time_zone)?;
    let (from, until) = week_of(date);
    let catalog = read_catalog(&api.rt).await?;
    Ok(calendar(ics(
        &schedule,
        &catalog,
        from,
        until,
        api.rt.clock.now(),
    )))
}

#[derive(Deserialize)]
struct FeedQuery {
    feed: Option<String>,
}

async fn calendar_ics(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(course): Path<String>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    match &q.feed {
        // A calendar application: the link is the credential, and its holder must still be a
        // member of the course.
        Some(token) => {
            let now = api.rt.clock.now().as_micros().div_euclid(1_000_000);
            let who = crate::feed::verify(&api.rt.sessions, &course, token, now).map_err(|e| {
                ApiError::Unauthorized(format!(
                    "calendar feed link refused ({e}): ask for a new one"
                ))
            })?;
            if course_access(&who, &course, &api.rt.roster).is_none() {
                return Err(ApiError::Forbidden(format!(
                    "the calendar feed's owner is no longer a member of course {course:?}"
                )));
            }
        }
        None => may_read_course(&api, &headers, &course)?,
    }
    let schedule = schedule(&api, &course).await?;
    let catalog = read_catalog(&api.rt).await?;
    Ok(calendar(ics(
        &schedule,
        &catalog,
        Date::MIN,
        Date::MAX,
        api.rt.clock.now(),
    )))
}

/// A signed-in member's link to subscribe to the course's calendar from a calendar app.
async fn calendar_feed(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(course): Path<String>,
) -> Result<Response, ApiError> {
    let Some(who) = api.rt.principal(&headers) else {
        return Err(if api.rt.is_admin(&headers) {
            ApiError::Forbidden("a calendar feed belongs to a person: sign in".into())
        } else {
            ApiError::Unauthorized("sign in first".into())
        });
    };
    may_read_course(&api, &headers, &course)?;
    schedule(&api, &course).await?;
    let now = api.rt.clock.now().as_micros().div_euclid(1_000_000);
    let (token, expires) = crate::feed::issue(&api.rt.sessions, &course, &who, now);
    let path = format!(
        "/api/timetable/courses/{}/calendar.ics?feed={token}",
        classpulse_core::server::page::percent_encode(&course)
    );
    let scheme = if api.rt.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("{scheme}://{host}{path}"));
    Ok(axum::Json(json!({
        "path": path,
        "url": url,
        "expires": expires,
        // A server without a configured session secret makes one up at start-up: its links
        // stop working when it restarts.
        "survives_restart": !api.rt.sessions.ephemeral,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct ConflictQuery {
    course: Option<String>,
}

async fn conflicts_route(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(q): Query<ConflictQuery>,
) -> Result<Response, ApiError> {
    // One course's conflicts: its staff; all of them (every course's rooms and people):
    // administrators.
    if !api.rt.is_admin(&headers) {
        let principal = api
            .rt
            .principal(&headers)
            .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
        let allowed = q
            .course
            .as_deref()
            .is_some_and(|c| can_watch(&principal, c, &api.rt.roster));
        if !allowed {
            return Err(ApiError::Forbidden(
                "conflicts of one course are for its staff (?course=…); all conflicts for administrators"
                    .into(),
            ));
        }
    }
    let list = conflicts(&api.rt, q.course.as_deref()).await?;
    Ok(axum::Json(json!({"count": list.len(), "conflicts": list})).into_response())
}

/// The subject of admin tokens.
const ADMIN_SUBJECT: &str = "timetable-admin";

fn admin_key(secret: &[u8]) -> Vec<u8> {
    let mut key = b"classpulse-timetable-admin\0".to_vec();
    key.extend_from_slice(secret);
    key
}

/// A short-lived admin token for the import endpoint, signed with a key derived from the
/// installation's token secret (`auth.token_secret` / `CLASSPULSE_TOKEN_SECRET`).
pub fn admin_token(secret: &[u8], now_secs: i64, ttl_secs: i64) -> String {
    issue(
        &admin_key(secret),
        &Claims {
            sub: ADMIN_SUBJECT.into(),
            exp: now_secs + ttl_secs,
        },
    )
}

fn authorize(api: &Api, headers: &HeaderMap) -> Result<(), ApiError> {
    if api.rt.is_admin(headers) {
        return Ok(());
    }
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        if api.rt.principal(headers).is_some() {
            return Err(ApiError::Forbidden(
                "administrators only: only an administrator may change the timetable".into(),
            ));
        }
        return Err(ApiError::Unauthorized(
            "an admin token is required (Authorization: Bearer …)".into(),
        ));
    };
    let secret = api.rt.ingest.auth.secret().ok_or_else(|| {
        ApiError::Unauthorized(
            "imports into a running server need a token secret (auth.token_secret or CLASSPULSE_TOKEN_SECRET); \
             or stop the server and import offline"
                .into(),
        )
    })?;
    let now = api.rt.clock.now().as_micros().div_euclid(1_000_000);
    match verify(&admin_key(secret), token.trim(), now) {
        Ok(c) if c.sub == ADMIN_SUBJECT => Ok(()),
        Ok(_) => Err(ApiError::Unauthorized("not an admin token".into())),
        Err(e) => Err(ApiError::Unauthorized(format!("admin token refused: {e}"))),
    }
}

#[derive(Deserialize)]
struct ImportQuery {
    format: String,
    course: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

async fn import(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(q): Query<ImportQuery>,
    body: String,
) -> Result<Response, ApiError> {
    authorize(&api, &headers)?;
    let format = Format::parse(&q.format)
        .ok_or_else(|| ApiError::BadRequest(format!("format={:?}: use toml or ics", q.format)))?;
    let _one_at_a_time = api.imports.lock().await;
    let current = read_catalog(&api.rt).await?;
    let name = std::path::PathBuf::from(format!("(uploaded .{})", q.format));
    let plan = plan(
        &current,
        &body,
        format,
        q.course.as_deref(),
        &api.config,
        &name,
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let appended = if q.dry_run {
        0
    } else {
        apply_live(&api.rt, &plan)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
    };
    Ok(axum::Json(json!({
        "events": plan.events.len(),
        "appended": appended,
        "dry_run": q.dry_run,
        "conflicts": plan.conflicts,
        "warnings": plan.warnings,
    }))
    .into_response())
}
