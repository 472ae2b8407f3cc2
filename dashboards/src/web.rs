//! The dashboards' HTTP surface: the pages in `web/` (compiled into the binary), sign-in and
//! sign-out, the student link, `/api/me`, `/api/courses`, and the `/wsapi/dashboard` upgrade.

use crate::hub::Hub;
use axum::Json;
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use classpulse_core::auth::access::visible_courses;
use classpulse_core::auth::session::{Kind, Principal};
use classpulse_core::auth::token;
use classpulse_core::server::page::static_asset;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const STUDENT_HTML: &str = include_str!("../../web/student.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STUDENT_JS: &str = include_str!("../../web/student.js");
const TIMETABLE_JS: &str = include_str!("../../web/timetable.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// The dashboards' routes.
pub fn routes(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/student", get(student_page))
        .route(
            "/static/app.js",
            get(|| async { static_asset(APP_JS, "text/javascript") }),
        )
        .route(
            "/static/timetable.js",
            get(|| async { static_asset(TIMETABLE_JS, "text/javascript") }),
        )
        .route(
            "/static/student.js",
            get(|| async { static_asset(STUDENT_JS, "text/javascript") }),
        )
        .route(
            "/static/style.css",
            get(|| async { static_asset(STYLE_CSS, "text/css") }),
        )
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/student", get(student_link))
        .route("/api/me", get(me))
        .route("/api/courses", get(courses))
        .route("/wsapi/dashboard", get(dashboard_socket))
        .with_state(hub.clone())
        .merge(crate::charts::http::routes(hub.rt.clone()))
}

async fn index() -> Response {
    static_asset(INDEX_HTML, "text/html; charset=utf-8")
}

async fn student_page() -> Response {
    static_asset(STUDENT_HTML, "text/html; charset=utf-8")
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

fn user_json(p: &Principal) -> serde_json::Value {
    json!({
        "id": p.sub,
        "name": p.name,
        "kind": p.kind,
        "admin": p.admin,
    })
}

/// `POST /auth/login` body.
#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

async fn login(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let rt = &hub.rt;
    if !rt.sessions.origin_allowed(&headers) {
        return json_error(
            StatusCode::FORBIDDEN,
            "sign-in from another site is refused",
        );
    }
    let Ok(form) = serde_json::from_slice::<Login>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "send JSON {\"user\": ..., \"password\": ...}",
        );
    };
    if form.user.len() > 200 || form.password.len() > 1024 {
        return json_error(StatusCode::BAD_REQUEST, "too long");
    }
    let accounts = rt.accounts.clone();
    let user = form.user.trim().to_owned();
    let password = form.password;
    let checked =
        tokio::task::spawn_blocking(move || accounts.verify_password(&user, &password)).await;
    let Ok(Some(account)) = checked else {
        tracing::info!(user = %form.user.trim(), "sign-in refused");
        return json_error(StatusCode::UNAUTHORIZED, "wrong user name or password");
    };
    let principal = Principal {
        sub: account.user_id.clone(),
        name: if account.name.is_empty() {
            account.user_id.clone()
        } else {
            account.name.clone()
        },
        kind: Kind::Staff,
        admin: account.admin,
        exp: rt.now_secs() + rt.sessions.ttl_secs,
    };
    tracing::info!(user = %principal.sub, "signed in");
    let cookie = rt
        .sessions
        .set_cookie(&principal, rt.sessions.secure(&headers));
    let mut response = Json(json!({"user": user_json(&principal)})).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn logout(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    if !hub.rt.sessions.origin_allowed(&headers) {
        return json_error(
            StatusCode::FORBIDDEN,
            "sign-out from another site is refused",
        );
    }
    let cookie = hub
        .rt
        .sessions
        .clear_cookie(hub.rt.sessions.secure(&headers));
    let mut response = Json(json!({"signed_out": true})).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
struct StudentLink {
    token: String,
}

/// A student's link: `/auth/student?token=<signed token>` signs them in and opens their page.
async fn student_link(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(link): Query<StudentLink>,
) -> Response {
    let rt = &hub.rt;
    let Some(secret) = rt.ingest.auth.secret() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "student links need a token secret (auth.token_secret or CLASSPULSE_TOKEN_SECRET)\n",
        )
            .into_response();
    };
    let claims = match token::verify(secret, &link.token, rt.now_secs()) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::UNAUTHORIZED,
                format!("this link does not work: {e}; ask your teacher for a new one\n"),
            )
                .into_response();
        }
    };
    let principal = Principal {
        name: claims.sub.clone(),
        sub: claims.sub,
        kind: Kind::Student,
        admin: false,
        exp: (rt.now_secs() + rt.sessions.ttl_secs).min(claims.exp),
    };
    let cookie = rt
        .sessions
        .set_cookie(&principal, rt.sessions.secure(&headers));
    let mut response = (StatusCode::SEE_OTHER, "").into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/student"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        h.insert(header::SET_COOKIE, v);
    }
    response
}

async fn me(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    match hub.rt.principal(&headers) {
        Some(p) => Json(user_json(&p)).into_response(),
        None => json_error(StatusCode::UNAUTHORIZED, "not signed in"),
    }
}

async fn courses(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    let Some(p) = hub.rt.principal(&headers) else {
        return json_error(StatusCode::UNAUTHORIZED, "not signed in");
    };
    let courses: Vec<_> = visible_courses(&p, &hub.rt.roster)
        .into_iter()
        .map(|(id, name, access)| json!({"id": id, "name": name, "access": access}))
        .collect();
    let views: Vec<_> = hub
        .rt
        .aggregators
        .iter()
        .map(|a| json!({"name": a.name(), "title": a.title(), "tile": a.tile()}))
        .collect();
    Json(json!({"user": user_json(&p), "courses": courses, "views": views})).into_response()
}

/// The `/wsapi/dashboard` upgrade: the `Origin` must be the server's own (or allowed); the
/// session (if any) comes from the cookie; the protocol answers everything else.
async fn dashboard_socket(State(hub): State<Arc<Hub>>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    if !hub.rt.sessions.origin_allowed(&parts.headers) {
        tracing::warn!(origin = ?parts.headers.get(header::ORIGIN), "dashboard socket from another origin refused");
        return (
            StatusCode::FORBIDDEN,
            "cross-origin dashboard sockets are refused\n",
        )
            .into_response();
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let principal = hub.rt.principal(&parts.headers);
    let rt = hub.rt.clone();
    ws.read_buffer_size(4096)
        .max_message_size(1 << 20)
        .max_frame_size(1 << 20)
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            let shutdown = rt.shutdown.clone();
            let span = tracing::info_span!(
                "dashboard",
                user = principal.as_ref().map_or("-", |p| p.sub.as_str())
            );
            rt.tasks.track_future(tracing::Instrument::instrument(
                crate::socket::serve(hub, principal, sink, stream, shutdown),
                span,
            ))
        })
}
