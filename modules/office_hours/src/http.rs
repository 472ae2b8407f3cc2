//! The office-hours HTTP surface: the student page (`/office-hours`), the TA view
//! (`/office-hours/ta`), their scripts, and the JSON API the pages (and scripts, `curl`) use:
//!
//! | route | who | answer |
//! | --- | --- | --- |
//! | `GET /api/office_hours` | signed in | `{"user", "courses": [{"id", "name", "role"}]}` |
//! | `GET /api/office_hours/{course}/me` | member | a student's status, or a TA's status and the queue |
//! | `POST /api/office_hours/{course}` | member (or administrator) | runs one command (below) |
//! | `GET /api/office_hours/{course}/stats` | staff | the course's statistics |
//!
//! A command is an office-hours event (`{"event": "join", "question": …}`); it is appended to the
//! log with the caller's signed-in identity, exactly as if the page had sent it over
//! `/wsapi/in/`, and the answer waits until the router applied it: `{"ok", "message", "seq",
//! "me"}` (HTTP 200 when carried out, 409 when the rules refused it).

use crate::config::OfficeHoursConfig;
use crate::reducer::{QUEUE_REDUCER, SOURCE};
use crate::state::QueueState;
use crate::view::queue_json;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use classpulse_core::aggregator::StateReader;
use classpulse_core::auth::access::{CourseAccess, course_access, visible_courses};
use classpulse_core::auth::session::Principal;
use classpulse_core::event::envelope::EnvelopeBody;
use classpulse_core::event::{Auth, Security};
use classpulse_core::log::{AckTracker, PendingEvent};
use classpulse_core::reducer::ScopeKey;
use classpulse_core::runtime::Runtime;
use classpulse_core::server::page::static_asset;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

const STUDENT_HTML: &str = include_str!("../../../web/office_hours/student.html");
const TA_HTML: &str = include_str!("../../../web/office_hours/ta.html");
const COMMON_JS: &str = include_str!("../../../web/office_hours/common.js");
const STUDENT_JS: &str = include_str!("../../../web/office_hours/student.js");
const TA_JS: &str = include_str!("../../../web/office_hours/ta.js");
const PANEL_JS: &str = include_str!("../../../web/office_hours/panel.js");
const STYLE_CSS: &str = include_str!("../../../web/office_hours/office_hours.css");

/// Commands a page may send (the timer service alone sends `offer_expired`).
pub const COMMANDS: &[&str] = &[
    "join",
    "cancel",
    "ta_on_duty",
    "ta_off_duty",
    "call_next",
    "offer_accepted",
    "session_ended",
    "announcement",
    "settings",
];

/// How long a command waits to be durable and applied.
const APPLY_WAIT: Duration = Duration::from_secs(10);

struct Http {
    rt: Arc<Runtime>,
    config: Arc<OfficeHoursConfig>,
}

/// The routes, over the running node (its `[modules.office_hours]` settings are read from its
/// configuration).
pub fn routes(rt: Arc<Runtime>) -> Router {
    let config: OfficeHoursConfig = rt.config.module("office_hours").unwrap_or_default();
    let state = Arc::new(Http {
        rt,
        config: Arc::new(config),
    });
    Router::new()
        .route("/office-hours", get(|| async { page(STUDENT_HTML) }))
        .route("/office-hours/ta", get(|| async { page(TA_HTML) }))
        .route(
            "/static/office_hours/common.js",
            get(|| async { static_asset(COMMON_JS, "text/javascript") }),
        )
        .route(
            "/static/office_hours/student.js",
            get(|| async { static_asset(STUDENT_JS, "text/javascript") }),
        )
        .route(
            "/static/office_hours/ta.js",
            get(|| async { static_asset(TA_JS, "text/javascript") }),
        )
        .route(
            "/static/office_hours/panel.js",
            get(|| async { static_asset(PANEL_JS, "text/javascript") }),
        )
        .route(
            "/static/office_hours/office_hours.css",
            get(|| async { static_asset(STYLE_CSS, "text/css") }),
        )
        .route("/api/office_hours", get(my_courses))
        .route("/api/office_hours/{course}", axum::routing::post(command))
        .route("/api/office_hours/{course}/me", get(me))
        .route("/api/office_hours/{course}/stats", get(stats))
        .with_state(state)
}

fn page(body: &'static str) -> Response {
    static_asset(body, "text/html; charset=utf-8")
}

/// Why an API request was not carried out (the text is for people; 5xx hide nothing secret).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No session.
    #[error("sign in first (staff: on the dashboard; students: with the link from your teacher)")]
    NotSignedIn,
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// A malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// The log or the state store cannot serve now.
    #[error("{0}")]
    Unavailable(String),
    /// Logged, but not yet applied in time.
    #[error("{0}")]
    NotYetApplied(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::NotSignedIn => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotYetApplied(_) => StatusCode::ACCEPTED,
        };
        (
            status,
            Json(json!({"ok": false, "error": self.to_string()})),
        )
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn signed_in(h: &Http, headers: &HeaderMap) -> Result<Principal, ApiError> {
    h.rt.principal(headers).ok_or(ApiError::NotSignedIn)
}

fn access(h: &Http, p: &Principal, course: &str) -> Result<CourseAccess, ApiError> {
    course_access(p, course, &h.rt.roster)
        .ok_or_else(|| ApiError::Forbidden(format!("you are not a member of course {course:?}")))
}

async fn my_courses(State(h): State<Arc<Http>>, headers: HeaderMap) -> ApiResult {
    let p = signed_in(&h, &headers)?;
    let courses: Vec<Value> = visible_courses(&p, &h.rt.roster)
        .into_iter()
        .map(|(id, name, access)| json!({"id": id, "name": name, "role": access}))
        .collect();
    Ok(Json(json!({
        "user": {"id": p.sub, "name": p.name, "kind": p.kind, "admin": p.admin},
        "courses": courses,
    }))
    .into_response())
}

async fn read_state(h: &Http, course: &str) -> Result<QueueState, ApiError> {
    let reader = StateReader::new(&*h.rt.kvs, &h.rt.registry);
    reader
        .with(
            QUEUE_REDUCER,
            &ScopeKey::course(course),
            |s: Option<&QueueState>| s.cloned(),
        )
        .await
        .map(|s| {
            s.unwrap_or_else(|| QueueState {
                course_id: course.to_owned(),
                ..QueueState::default()
            })
        })
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

fn status_for(h: &Http, state: &QueueState, p: &Principal, access: CourseAccess) -> Value {
    if access.is_staff() {
        let course = h.rt.roster.course(&state.course_id).unwrap_or_default();
        json!({
            "role": access,
            "ta": state.ta_status(&p.sub),
            "queue": queue_json(state, &course, &h.config),
        })
    } else {
        let settings = h.config.effective(&state.course_id, &state.settings);
        let default_us = (h.config.default_service_secs as i64) * 1_000_000;
        json!({"role": access, "me": state.student_status(&p.sub, &settings, default_us)})
    }
}

async fn me(
    State(h): State<Arc<Http>>,
    Path(course): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let p = signed_in(&h, &headers)?;
    let a = access(&h, &p, &course)?;
    let state = read_state(&h, &course).await?;
    let mut answer = status_for(&h, &state, &p, a);
    answer["now"] = json!(h.rt.clock.now());
    Ok(Json(answer).into_response())
}

async fn stats(
    State(h): State<Arc<Http>>,
    Path(course): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let p = signed_in(&h, &headers)?;
    if !access(&h, &p, &course)?.is_staff() {
        return Err(ApiError::Forbidden(
            "statistics are for the course's staff".into(),
        ));
    }
    let state = read_state(&h, &course).await?;
    Ok(Json(json!({"course_id": course, "stats": state.stats})).into_response())
}

/// `POST /api/office_hours/{course}`: one command, answered once applied.
async fn command(
    State(h): State<Arc<Http>>,
    Path(course): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    if !h.rt.sessions.origin_allowed(&headers) {
        return Err(ApiError::Forbidden(
            "commands from another site are refused".into(),
        ));
    }
    let p = signed_in(&h, &headers)?;
    let a = access(&h, &p, &course)?;
    if body.len() > 16 * 1024 {
        return Err(ApiError::BadRequest("a command is at most 16 KiB".into()));
    }
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&body) else {
        return Err(ApiError::BadRequest(
            "send one JSON object: {\"event\": \"join\", ...}".into(),
        ));
    };
    let kind = fields
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !COMMANDS.contains(&kind.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "unknown command {kind:?}; known: {}",
            COMMANDS.join(", ")
        )));
    }
    // Members act as themselves; an administrator who is not on the roster acts as the server.
    let on_roster = h.rt.roster.role_of(&course, &p.sub).is_some();
    let auth = if a == CourseAccess::Admin && !on_roster {
        fields.insert("by".into(), json!(p.sub));
        Auth::system()
    } else {
        Auth {
            providence: Cow::Borrowed("session"),
            safe_user_id: Cow::Owned(p.sub.clone()),
            sec: Security::Authenticated,
            user_id: Cow::Owned(p.sub.clone()),
        }
    };
    fields.insert("source".into(), json!(SOURCE));
    fields.insert("course_id".into(), json!(course));
    let seq = append(&h, &auth, &fields).await?;
    if !h.rt.stats.wait_applied(seq, APPLY_WAIT).await {
        return Err(ApiError::NotYetApplied(format!(
            "logged as event {seq} but not applied yet; reload to see its effect"
        )));
    }
    let state = read_state(&h, &course).await?;
    let node = &h.rt.config.server.node_id;
    let (ok, message) = match state.reply(node, seq) {
        Some(r) => (r.ok, r.message.clone()),
        None => (true, "done".to_owned()),
    };
    let mut answer = status_for(&h, &state, &p, a);
    answer["ok"] = json!(ok);
    answer["message"] = json!(message);
    answer["seq"] = json!(seq);
    answer["now"] = json!(h.rt.clock.now());
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(answer)).into_response())
}

async fn append(h: &Http, auth: &Auth<'_>, fields: &Map<String, Value>) -> Result<u64, ApiError> {
    let client = serde_json::to_string(fields).unwrap_or_default();
    let mut body = String::with_capacity(client.len() + 256);
    EnvelopeBody {
        node: &h.rt.config.server.node_id,
        conn: 0,
        ip: "",
        agent: "classpulse-office-hours-http",
        auth,
        source: SOURCE,
        timer: None,
    }
    .write(&mut body, |out| out.push_str(&client));
    let tracker = AckTracker::new();
    h.rt.writer
        .append(vec![PendingEvent {
            body,
            ack: Some(tracker.clone()),
            prepared: None,
        }])
        .await
        .map_err(|_| ApiError::Unavailable("the event log is closed".into()))?;
    let deadline = tokio::time::Instant::now() + APPLY_WAIT;
    loop {
        let (count, seq) = tracker.position();
        if count >= 1 {
            return Ok(seq);
        }
        if tokio::time::timeout_at(deadline, tracker.changed())
            .await
            .is_err()
        {
            return Err(ApiError::Unavailable(
                "the event log did not write the command in time".into(),
            ));
        }
    }
}
