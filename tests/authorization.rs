//! The authorization matrix, against the real binary: every HTTP route and every socket message
//! × {anonymous, student, TA of course A, teacher of course A, teacher of course B,
//! administrator, the node's admin key}, allowed or refused exactly as `docs/security.md`
//! says. The routes are also read from the source of every router (`.route("…")`), so a route
//! added without a row here fails the test.
//!
//! Then spoofing, with the secure (`token`) event auth method: identities cannot be claimed
//! through event bodies or `lock_fields`, a student cannot write rosters or timetables, a
//! student token named like a teacher is still a student, a forged cookie is nobody; and no
//! secret, password, token or cookie appears in the server's output or in the event log.

mod common;

use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::HeaderName;

const T: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct-horse-battery";
const TOKEN_SECRET: &str = "token-secret-for-the-authz-tests";
const SESSION_SECRET: &str = "session-secret-for-the-authz-tests";

const TIMETABLE: &str = r#"
[[terms]]
id = "t"
start = 2026-01-05
end = 2030-12-20

[[courses]]
id = "A"
title = "Course A"
term = "t"

[[courses.sections]]
id = "L"

[[courses.sections.meetings]]
days = "MW"
start = "09:00"
end = "10:00"

[[courses]]
id = "B"
title = "Course B"
term = "t"

[[courses.sections]]
id = "L"

[[courses.sections.meetings]]
days = "TR"
start = "11:00"
end = "12:00"
"#;

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Anonymous,
    /// `s-a`, a student of course A (signed in through their token link).
    Student,
    /// `ta.a`, TA of course A.
    TaA,
    /// `t.a`, teacher of course A.
    TeacherA,
    /// `t.b`, teacher of course B.
    TeacherB,
    /// `root`, a signed-in administrator (on no roster).
    Admin,
    /// The node's admin key (`Authorization: Bearer`), as command-line tools present it.
    AdminKey,
}

const ROLES: [Role; 7] = [
    Role::Anonymous,
    Role::Student,
    Role::TaA,
    Role::TeacherA,
    Role::TeacherB,
    Role::Admin,
    Role::AdminKey,
];

/// Accounts, roster, timetable and config: course A (t.a teacher, ta.a TA, s-a student),
/// course B (t.b teacher, s-b student), root an administrator; events authenticate by token.
fn setup(dir: &Path) -> PathBuf {
    let accounts = dir.join("accounts.toml");
    add_user(dir, &accounts, "t.a", "Teacher A", PASSWORD, false);
    add_user(dir, &accounts, "ta.a", "TA A", PASSWORD, false);
    add_user(dir, &accounts, "t.b", "Teacher B", PASSWORD, false);
    add_user(dir, &accounts, "root", "Admin", PASSWORD, true);
    std::fs::write(
        dir.join("roster.toml"),
        "[[course]]\nid = \"A\"\nname = \"Course A\"\nmembers = [\n\
         { user_id = \"t.a\", role = \"teacher\" },\n{ user_id = \"ta.a\", role = \"ta\" },\n\
         { user_id = \"s-a\", name = \"Student A\", role = \"student\" },\n]\n\n\
         [[course]]\nid = \"B\"\nname = \"Course B\"\nmembers = [\n\
         { user_id = \"t.b\", role = \"teacher\" },\n\
         { user_id = \"s-b\", name = \"Student B\", role = \"student\" },\n]\n",
    )
    .unwrap();
    std::fs::write(dir.join("timetable.toml"), TIMETABLE).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nmethods = [\"token\"]\ntoken_secret = \"{TOKEN_SECRET}\"\n\n\
             [roster]\nfiles = [\"roster.toml\"]\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
             [sessions]\nsecret = \"{SESSION_SECRET}\"\n\n\
             [modules.timetable]\nfile = \"timetable.toml\"\n"
        ),
    )
    .unwrap();
    config
}

fn token(dir: &Path, config: &Path, student: &str) -> String {
    let (ok, out, err) = run_cli(
        dir,
        &[
            "--config",
            config.to_str().unwrap(),
            "token",
            "issue",
            "--student",
            student,
        ],
    );
    assert!(ok, "{err}");
    out.trim().to_owned()
}

/// Signs a student in through their link; returns the `Cookie` header value.
async fn student_cookie(server: &Server, token: &str) -> String {
    let (status, headers, _) = http_request(
        "GET",
        &server.http(&format!("/auth/student?token={token}")),
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 303);
    let set = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Each role's credentials, as request headers.
struct Credentials {
    cookies: Vec<(Role, String)>,
    admin_key: String,
}

impl Credentials {
    fn headers(&self, role: Role) -> Vec<(String, String)> {
        if role == Role::AdminKey {
            return vec![("Authorization".into(), format!("Bearer {}", self.admin_key))];
        }
        self.cookie(role)
            .map(|c| vec![("Cookie".to_owned(), c.to_owned())])
            .unwrap_or_default()
    }
    fn cookie(&self, role: Role) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, c)| c.as_str())
    }
}

/// An HTTP request whose answer may be a WebSocket upgrade: returns the status (and the body
/// of ordinary answers), reading only the head of a `101`.
async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if !headers.iter().any(|(k, _)| k == "Connection") {
        req.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(T, s.read(&mut chunk))
            .await
            .expect("an answer")
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if n == 0 || (text.starts_with("HTTP/1.1 101") && text.contains("\r\n\r\n")) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn upgrade_headers(addr: &str) -> Vec<(String, String)> {
    vec![
        ("Connection".into(), "Upgrade".into()),
        ("Upgrade".into(), "websocket".into()),
        ("Sec-WebSocket-Version".into(), "13".into()),
        (
            "Sec-WebSocket-Key".into(),
            "dGhlIHNhbXBsZSBub25jZQ==".into(),
        ),
        ("Origin".into(), format!("http://{addr}")),
    ]
}

/// One row of the HTTP matrix: a route (as its router spells it), a concrete request, and the
/// status each role gets, in [`ROLES`] order.
struct Row {
    route: &'static str,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    upgrade: bool,
    expect: [u16; 7],
}

fn row(route: &'static str, method: &'static str, path: &str, expect: [u16; 7]) -> Row {
    Row {
        route,
        method,
        path: path.to_owned(),
        body: Vec::new(),
        upgrade: false,
        expect,
    }
}

const ALL_200: [u16; 7] = [200; 7];
/// Anonymous 401; s-a, A's staff, administrators and the key 200; B's teacher 403.
const COURSE_A_MEMBERS: [u16; 7] = [401, 200, 200, 200, 403, 200, 200];
/// Anonymous 401, other signed-in people 403; the administrator and the key 200.
const ADMINS_ONLY: [u16; 7] = [401, 403, 403, 403, 403, 200, 200];

fn matrix(s_b_token: &str) -> Vec<Row> {
    let mut rows = vec![
        row("/", "GET", "/", ALL_200),
        row("/student", "GET", "/student", ALL_200),
        row("/static/app.js", "GET", "/static/app.js", ALL_200),
        row("/static/student.js", "GET", "/static/student.js", ALL_200),
        row("/static/style.css", "GET", "/static/style.css", ALL_200),
        row(
            "/static/timetable.js",
            "GET",
            "/static/timetable.js",
            ALL_200,
        ),
        row(
            "/static/office_hours/common.js",
            "GET",
            "/static/office_hours/common.js",
            ALL_200,
        ),
        row(
            "/static/office_hours/student.js",
            "GET",
            "/static/office_hours/student.js",
            ALL_200,
        ),
        row(
            "/static/office_hours/ta.js",
            "GET",
            "/static/office_hours/ta.js",
            ALL_200,
        ),
        row(
            "/static/office_hours/panel.js",
            "GET",
            "/static/office_hours/panel.js",
            ALL_200,
        ),
        row(
            "/static/office_hours/office_hours.css",
            "GET",
            "/static/office_hours/office_hours.css",
            ALL_200,
        ),
        row("/healthz", "GET", "/healthz", ALL_200),
        row("/readyz", "GET", "/readyz", ALL_200),
        // No scraper token configured here: administrators only.
        row("/metrics", "GET", "/metrics", ADMINS_ONLY),
        // A session is no password: a wrong one is refused whoever asks.
        Row {
            body: json!({"user": "t.a", "password": "wrong-wrong-wrong"})
                .to_string()
                .into_bytes(),
            ..row("/auth/login", "POST", "/auth/login", [401; 7])
        },
        row("/auth/logout", "POST", "/auth/logout", ALL_200),
        // The link's token is the credential, whoever follows it.
        row(
            "/auth/student",
            "GET",
            &format!("/auth/student?token={s_b_token}"),
            [303; 7],
        ),
        row(
            "/auth/student",
            "GET",
            "/auth/student?token=forged",
            [401; 7],
        ),
        row(
            "/api/me",
            "GET",
            "/api/me",
            [401, 200, 200, 200, 200, 200, 401],
        ),
        row(
            "/api/courses",
            "GET",
            "/api/courses",
            [401, 200, 200, 200, 200, 200, 401],
        ),
        row(
            "/api/state/{safe_user_id}",
            "GET",
            "/api/state/s-a",
            COURSE_A_MEMBERS,
        ),
        row(
            "/api/state/{safe_user_id}",
            "GET",
            "/api/state/s-b",
            [401, 403, 403, 403, 200, 200, 200],
        ),
        Row {
            body: json!({"courses": [{"id": "B", "name": "Course B", "members": [
                {"user_id": "t.b", "role": "teacher"},
                {"user_id": "s-b", "name": "Student B", "role": "student"}]}]})
            .to_string()
            .into_bytes(),
            ..row(
                "/api/admin/roster",
                "POST",
                "/api/admin/roster",
                ADMINS_ONLY,
            )
        },
        row(
            "/api/admin/roster/{course_id}",
            "GET",
            "/api/admin/roster/A",
            ADMINS_ONLY,
        ),
        row(
            "/api/admin/snapshot",
            "POST",
            "/api/admin/snapshot",
            ADMINS_ONLY,
        ),
        row(
            "/api/timetable/courses/{course}/now",
            "GET",
            "/api/timetable/courses/A/now",
            COURSE_A_MEMBERS,
        ),
        row(
            "/api/timetable/courses/{course}/week",
            "GET",
            "/api/timetable/courses/A/week?date=2026-09-14",
            COURSE_A_MEMBERS,
        ),
        row(
            "/api/timetable/courses/{course}/week.ics",
            "GET",
            "/api/timetable/courses/A/week.ics?date=2026-09-14",
            COURSE_A_MEMBERS,
        ),
        row(
            "/api/timetable/courses/{course}/calendar.ics",
            "GET",
            "/api/timetable/courses/A/calendar.ics",
            COURSE_A_MEMBERS,
        ),
        // With a feed link the link is the credential, whoever presents it: a forged one opens
        // nothing (tests below follow real links).
        row(
            "/api/timetable/courses/{course}/calendar.ics",
            "GET",
            "/api/timetable/courses/A/calendar.ics?feed=forged.link",
            [401; 7],
        ),
        // A feed link is a person's: the admin key is nobody.
        row(
            "/api/timetable/courses/{course}/calendar-feed",
            "GET",
            "/api/timetable/courses/A/calendar-feed",
            [401, 200, 200, 200, 403, 200, 403],
        ),
        // The same answer for a course that does not exist: no probing for course ids.
        row(
            "/api/timetable/courses/{course}/now",
            "GET",
            "/api/timetable/courses/NOPE/now",
            [401, 403, 403, 403, 403, 404, 404],
        ),
        row(
            "/api/timetable/conflicts",
            "GET",
            "/api/timetable/conflicts",
            ADMINS_ONLY,
        ),
        row(
            "/api/timetable/conflicts",
            "GET",
            "/api/timetable/conflicts?course=A",
            [401, 403, 200, 200, 403, 200, 200],
        ),
        Row {
            body: TIMETABLE.as_bytes().to_vec(),
            ..row(
                "/api/timetable/import",
                "POST",
                "/api/timetable/import?format=toml&dry_run=true",
                ADMINS_ONLY,
            )
        },
        // Office hours: the pages are public (they sign in through the API); the API is for
        // the course's members, statistics for its staff. The admin key is no person, so it
        // neither joins lines nor calls students.
        row("/office-hours", "GET", "/office-hours", ALL_200),
        row("/office-hours/ta", "GET", "/office-hours/ta", ALL_200),
        row(
            "/api/office_hours",
            "GET",
            "/api/office_hours",
            [401, 200, 200, 200, 200, 200, 401],
        ),
        row(
            "/api/office_hours/{course}/me",
            "GET",
            "/api/office_hours/A/me",
            [401, 200, 200, 200, 403, 200, 401],
        ),
        row(
            "/api/office_hours/{course}/stats",
            "GET",
            "/api/office_hours/A/stats",
            [401, 403, 200, 200, 403, 200, 401],
        ),
        // Membership is checked before the command is read: members get the unknown
        // command's 400, others 401/403.
        Row {
            body: br#"{"event":"no-such-command"}"#.to_vec(),
            ..row(
                "/api/office_hours/{course}",
                "POST",
                "/api/office_hours/A",
                [401, 400, 400, 400, 403, 400, 401],
            )
        },
        // A course's charts: its staff, administrators and the admin key.
        row(
            "/api/courses/{course}/charts",
            "GET",
            "/api/courses/A/charts",
            [401, 403, 200, 200, 403, 200, 200],
        ),
        row(
            "/api/courses/{course}/charts/{file}",
            "GET",
            "/api/courses/A/charts/time_on_task.svg",
            [401, 403, 200, 200, 403, 200, 200],
        ),
    ];
    // Sockets open for everyone: the ingest socket authenticates in band (by token), the
    // dashboard socket answers by protocol message (checked below).
    for (route, path) in [
        ("/wsapi/in/", "/wsapi/in/"),
        ("/wsapi/in", "/wsapi/in"),
        ("/wsapi/dashboard", "/wsapi/dashboard"),
    ] {
        rows.push(Row {
            upgrade: true,
            ..row(route, "GET", path, [101; 7])
        });
    }
    rows
}

/// Every route the routers declare: `.route("…"` in the source of every crate.
fn declared_routes() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![
        root.join("src"),
        root.join("core/src"),
        root.join("dashboards/src"),
    ];
    for entry in std::fs::read_dir(root.join("modules")).unwrap() {
        dirs.push(entry.unwrap().path().join("src"));
    }
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let trimmed = rest.trim_start();
            if let Some(literal) = trimmed.strip_prefix('"') {
                let end = literal.find('"').unwrap();
                routes.insert(literal[..end].to_owned());
            }
        }
    }
    routes
}

fn course_ids(courses: &Value) -> Vec<String> {
    courses["courses"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Opens `/wsapi/dashboard` as `role`; returns the first message and the socket.
async fn dashboard(server: &Server, creds: &Credentials, role: Role) -> (Value, Ws) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/wsapi/dashboard", server.addr)
        .into_client_request()
        .unwrap();
    for (k, v) in creds.headers(role) {
        request
            .headers_mut()
            .insert(k.parse::<HeaderName>().unwrap(), v.parse().unwrap());
    }
    request
        .headers_mut()
        .insert("Origin", format!("http://{}", server.addr).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = recv(&mut ws, T).await.expect("a first message");
    (first, ws)
}

/// Subscribes to `course` and returns the answer's `type` (or error `code`).
async fn subscribe(ws: &mut Ws, course: &str) -> String {
    send_json(
        ws,
        &json!({"type": "subscribe", "sub": course, "course": course, "view": "writing.class"}),
    )
    .await;
    let m = recv(ws, T).await.expect("an answer to subscribe");
    match m["type"].as_str() {
        Some("error") => m["code"].as_str().unwrap().to_owned(),
        Some(t) => t.to_owned(),
        None => panic!("{m}"),
    }
}

async fn student_sends(server: &Server, token: &str, events: usize) {
    let mut ws = connect(&server.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {"source": "org.example", "token": token, "ack": true}}),
    )
    .await;
    for i in 0..events {
        send_json(&mut ws, &json!({"event": "e", "i": i})).await;
    }
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let v = recv(&mut ws, left).await.expect("acks");
        if v["status"] == "ack" && v["count"] == events as u64 {
            break;
        }
    }
}

struct Setup {
    dir: TempDir,
    server: Server,
    creds: Credentials,
    tokens: [(String, String); 2],
}

async fn start() -> Setup {
    let dir = TempDir::new("authz");
    let config = setup(dir.path());
    let tokens = [
        ("s-a".to_owned(), token(dir.path(), &config, "s-a")),
        ("s-b".to_owned(), token(dir.path(), &config, "s-b")),
    ];
    let server = Server::start_with_env(
        dir.path(),
        &["--config", config.to_str().unwrap()],
        &[("RUST_LOG", "debug")],
    );
    let mut cookies = vec![(Role::Student, student_cookie(&server, &tokens[0].1).await)];
    for (role, user) in [
        (Role::TaA, "ta.a"),
        (Role::TeacherA, "t.a"),
        (Role::TeacherB, "t.b"),
        (Role::Admin, "root"),
    ] {
        cookies.push((role, login(&server, user, PASSWORD).await));
    }
    let creds = Credentials {
        cookies,
        admin_key: server.admin_key(),
    };
    // Both students have state, so reading it is a question of rights only.
    student_sends(&server, &tokens[0].1, 3).await;
    student_sends(&server, &tokens[1].1, 3).await;
    // Acknowledged is durable, not yet applied: wait until both states show the events, so
    // that what a test reads first is settled.
    let deadline = Instant::now() + T;
    for user in ["s-a", "s-b"] {
        loop {
            let (_, state) = server.get_as_admin(&format!("/api/state/{user}")).await;
            if state["activity.event_count"][format!("student:{user}")]["count"] == 3 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{user}'s events were never applied"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Setup {
        dir,
        server,
        creds,
        tokens,
    }
}

#[tokio::test]
async fn every_route_and_socket_message_by_role() {
    let Setup {
        dir: _dir,
        server,
        creds,
        tokens,
    } = start().await;

    // Every declared route has rows.
    let rows = matrix(&tokens[1].1);
    let covered: BTreeSet<String> = rows.iter().map(|r| r.route.to_owned()).collect();
    let declared = declared_routes();
    assert!(declared.len() >= 20, "found routes: {declared:?}");
    let missing: Vec<_> = declared.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix (add them, and to docs/security.md): {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&declared).collect();
    assert!(
        stale.is_empty(),
        "rows for routes that no longer exist: {stale:?}"
    );

    let mut checks = 0;
    let mut failures = Vec::new();
    for row in &rows {
        for (i, role) in ROLES.iter().enumerate() {
            let mut headers = creds.headers(*role);
            if row.upgrade {
                headers.extend(upgrade_headers(&server.addr));
            }
            if !row.body.is_empty() {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            let (status, body) =
                request(&server.addr, row.method, &row.path, &headers, &row.body).await;
            checks += 1;
            if status != row.expect[i] {
                failures.push(format!(
                    "{} {} as {role:?}: {status} (expected {}): {}",
                    row.method,
                    row.path,
                    row.expect[i],
                    body.trim()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // What each person is shown, not only whether they may ask.
    for (role, expect) in [
        (Role::Student, vec!["A"]),
        (Role::TaA, vec!["A"]),
        (Role::TeacherA, vec!["A"]),
        (Role::TeacherB, vec!["B"]),
        (Role::Admin, vec!["A", "B"]),
    ] {
        let headers = creds.headers(role);
        let (_, body) = request(&server.addr, "GET", "/api/courses", &headers, b"").await;
        let courses: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(course_ids(&courses), expect, "/api/courses as {role:?}");
        let access = courses["courses"][0]["access"].as_str().unwrap();
        let want = match role {
            Role::Student => "student",
            Role::TaA => "ta",
            Role::Admin => "admin",
            _ => "teacher",
        };
        assert_eq!(access, want, "{role:?}");
        let (_, me) = request(&server.addr, "GET", "/api/me", &headers, b"").await;
        let me: Value = serde_json::from_str(&me).unwrap();
        let id = match role {
            Role::Student => "s-a",
            Role::TaA => "ta.a",
            Role::TeacherA => "t.a",
            Role::TeacherB => "t.b",
            _ => "root",
        };
        assert_eq!(me["id"], id);
    }

    // Dashboard socket messages.
    for role in ROLES {
        let (first, mut ws) = dashboard(&server, &creds, role).await;
        let staff = matches!(
            role,
            Role::TaA | Role::TeacherA | Role::TeacherB | Role::Admin
        );
        if !staff {
            assert_eq!(
                (first["type"].as_str(), first["code"].as_str()),
                (Some("error"), Some("not_signed_in")),
                "{role:?}"
            );
            checks += 1;
            continue;
        }
        assert_eq!(first["type"], "welcome", "{role:?}");
        let (a, b) = match role {
            Role::TaA | Role::TeacherA => ("snapshot", "not_your_course"),
            Role::TeacherB => ("not_your_course", "snapshot"),
            _ => ("snapshot", "snapshot"),
        };
        assert_eq!(subscribe(&mut ws, "A").await, a, "{role:?} subscribes to A");
        assert_eq!(subscribe(&mut ws, "B").await, b, "{role:?} subscribes to B");
        assert_eq!(
            subscribe(&mut ws, "NOPE").await,
            "not_your_course",
            "an unknown course gets the same answer as another's"
        );
        send_json(&mut ws, &json!({"type": "ping"})).await;
        assert_eq!(recv_type(&mut ws, "pong", T).await.unwrap()["type"], "pong");
        send_json(&mut ws, &json!({"type": "unsubscribe", "sub": "nothing"})).await;
        assert_eq!(
            recv_type(&mut ws, "error", T).await.unwrap()["code"],
            "unknown_subscription"
        );
        checks += 5;
    }

    // The ingest socket: a token or a signed-in session names the sender, never the body.
    for role in ROLES {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = server.ws_url().into_client_request().unwrap();
        for (k, v) in creds.headers(role) {
            request
                .headers_mut()
                .insert(k.parse::<HeaderName>().unwrap(), v.parse().unwrap());
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        send_json(
            &mut ws,
            &json!({"event": "lock_fields", "fields": {"source": "org.example", "ack": true, "user_id": "s-b"}}),
        )
        .await;
        send_json(
            &mut ws,
            &json!({"event": "by-session", "role": format!("{role:?}")}),
        )
        .await;
        ws.send(Message::Text(
            json!({"event": "terminate"}).to_string().into(),
        ))
        .await
        .unwrap();
        while recv(&mut ws, T).await.is_some() {}
        checks += 1;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A signed-in page's session authenticates its ingest socket as that person (the
    // office-hours pages send their commands so); the user id claimed in `lock_fields` never
    // does, and keys or anonymous sockets send nothing.
    for line in server.log() {
        if line["client"]["event"] == "by-session" {
            assert_eq!(line["auth"]["providence"], "session", "{line}");
            assert_ne!(line["auth"]["safe_user_id"], "s-b", "{line}");
        }
    }
    eprintln!(
        "authorization matrix: {} routes, {} rows x {} roles, {checks} checks",
        declared.len(),
        rows.len(),
        ROLES.len()
    );
    server.stop();
}

#[tokio::test]
async fn identities_cannot_be_spoofed_and_secrets_are_not_logged() {
    let Setup {
        dir,
        server,
        creds,
        tokens,
    } = start().await;
    let [(_, s_a), (_, s_b)] = &tokens;
    let admin_count = |v: &Value, user: &str| {
        v["activity.event_count"][format!("student:{user}")]["count"]
            .as_u64()
            .unwrap_or(0)
    };
    let (_, before_b) = server.get_as_admin("/api/state/s-b").await;

    // A token for s-a, with claims of being s-b everywhere else.
    let mut ws = connect(&server.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {
            "source": "org.example", "token": s_a, "ack": true, "user_id": "s-b",
            "chrome_identity": {"id": "123"},
            "auth": {"providence": "system", "safe_user_id": "s-b", "sec": "authenticated", "user_id": "s-b"},
        }}),
    )
    .await;
    let auth = recv_status(&mut ws, "auth", T).await.unwrap();
    assert_eq!(auth["user_id"], "s-a");
    send_json(
        &mut ws,
        &json!({"event": "spoof-body", "user_id": "s-b", "token": s_b,
               "auth": {"providence": "system", "safe_user_id": "s-b", "sec": "authenticated", "user_id": "s-b"}}),
    )
    .await;
    // A second identity in lock_fields (no source, so it merges) changes nothing.
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {"token": s_b, "user_id": "s-b"}}),
    )
    .await;
    send_json(&mut ws, &json!({"event": "after-relock"})).await;
    // A student cannot write rosters or the timetable by naming their sources.
    send_json(
        &mut ws,
        &json!({"event": "enrolled", "source": "org.classpulse.roster", "course_id": "B", "user_id": "s-a"}),
    )
    .await;
    send_json(
        &mut ws,
        &json!({"event": "staff_added", "source": "org.classpulse.roster", "course_id": "A", "user_id": "s-a", "role": "teacher"}),
    )
    .await;
    send_json(
        &mut ws,
        &json!({"event": "timetable.course.removed", "source": "org.classpulse.timetable", "course_id": "A"}),
    )
    .await;
    send_json(&mut ws, &json!({"event": "last"})).await;
    let last = 6;
    loop {
        let v = recv_status(&mut ws, "ack", T).await.expect("acks");
        if v["count"] == last {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log = server.log();
    let mine: Vec<&Value> = log
        .iter()
        .filter(|l| l["client"]["event"] != "e" && l["auth"]["providence"] == "token")
        .collect();
    assert_eq!(mine.len(), last as usize);
    for line in &mine {
        assert_eq!(line["auth"]["safe_user_id"], "s-a", "{line}");
        assert_eq!(line["auth"]["sec"], "authenticated");
        assert!(line["client"].get("auth").is_none(), "{line}");
        assert!(line["client"].get("token").is_none(), "{line}");
    }
    let (_, after_b) = server.get_as_admin("/api/state/s-b").await;
    assert_eq!(
        admin_count(&after_b, "s-b"),
        admin_count(&before_b, "s-b"),
        "nothing was counted for s-b"
    );
    let (_, roster_b) = server.get_as_admin("/api/admin/roster/B").await;
    assert!(roster_b["members"].get("s-a").is_none(), "{roster_b}");
    let (_, roster_a) = server.get_as_admin("/api/admin/roster/A").await;
    assert_eq!(roster_a["members"]["s-a"]["role"], "student");
    let (status, _) = server.get_as_admin("/api/timetable/courses/A/now").await;
    assert_eq!(status, 200, "the timetable of A is still there");

    // A student token named like a teacher makes a student session, with no staff rights.
    let t_a_token = token(dir.path(), &dir.path().join("config.toml"), "t.a");
    let fake = student_cookie(&server, &t_a_token).await;
    let headers = vec![("Cookie".to_owned(), fake.clone())];
    let (_, courses) = request(&server.addr, "GET", "/api/courses", &headers, b"").await;
    let courses: Value = serde_json::from_str(&courses).unwrap();
    assert_eq!(course_ids(&courses), Vec::<String>::new(), "{courses}");
    let (status, _) = request(&server.addr, "GET", "/api/state/s-a", &headers, b"").await;
    assert_eq!(status, 403);
    let fake_creds = Credentials {
        cookies: vec![(Role::Student, fake)],
        admin_key: String::new(),
    };
    let (first, _ws) = dashboard(&server, &fake_creds, Role::Student).await;
    assert_eq!(first["code"], "not_signed_in");

    // A forged cookie (a changed payload under the old signature) is nobody.
    let real = creds.cookie(Role::TeacherA).unwrap();
    let (name, value) = real.split_once('=').unwrap();
    let (payload, sig) = value.split_once('.').unwrap();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&engine.decode(payload).unwrap()).unwrap();
    claims["admin"] = json!(true);
    let forged = format!(
        "{name}={}.{sig}",
        engine.encode(serde_json::to_vec(&claims).unwrap())
    );
    let headers = vec![("Cookie".to_owned(), forged)];
    let (status, _) = request(&server.addr, "GET", "/api/me", &headers, b"").await;
    assert_eq!(status, 401);
    let (status, _) = request(&server.addr, "GET", "/api/admin/roster/A", &headers, b"").await;
    assert_eq!(status, 401);

    // A bad token on the ingest socket is refused, and its event is not accepted.
    let mut ws = connect(&server.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {"source": "org.example", "token": format!("{s_a}x")}}),
    )
    .await;
    let refused = recv_status(&mut ws, "error", T).await.unwrap();
    assert!(refused["reason"].is_string());

    // No secret, password, token, cookie or key in the server's output or the event log.
    let admin_key = creds.admin_key.clone();
    let mut server = server;
    server.signal("TERM");
    assert_eq!(server.wait(T), Some(0));
    let output = format!("{}\n{}", server_output(&server), log_text(&dir));
    let mut secrets = vec![
        TOKEN_SECRET.to_owned(),
        SESSION_SECRET.to_owned(),
        PASSWORD.to_owned(),
        admin_key,
        s_a.clone(),
        s_b.clone(),
        t_a_token,
    ];
    for (_, cookie) in &creds.cookies {
        secrets.push(cookie.split_once('=').unwrap().1.to_owned());
    }
    for secret in &secrets {
        // Tokens and cookies are `payload.signature`: neither half may leak.
        for part in secret.split('.').filter(|p| p.len() >= 16) {
            assert!(
                !output.contains(part),
                "a secret appears in the server's output or the log: …{}…",
                &part[..8]
            );
        }
    }
    assert!(output.contains("signed in"), "the output was captured");
}

fn server_output(server: &Server) -> String {
    format!("{}\n{}", server.stdout(), server.stderr())
}

fn log_text(dir: &TempDir) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir.path().join("data/log")).unwrap() {
        out.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    out
}

#[tokio::test]
async fn a_calendar_feed_link_opens_its_course_for_its_owner_while_a_member() {
    let Setup {
        dir: _dir,
        server,
        creds,
        tokens: _,
    } = start().await;
    let feed = async |role: Role, course: &str| -> Value {
        let (status, body) = request(
            &server.addr,
            "GET",
            &format!("/api/timetable/courses/{course}/calendar-feed"),
            &creds.headers(role),
            b"",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let anonymous = async |path: &str| request(&server.addr, "GET", path, &[], b"").await;

    // The student's link: a calendar application, with no cookie, subscribes with it.
    let link = feed(Role::Student, "A").await;
    let path = link["path"].as_str().unwrap().to_owned();
    assert_eq!(
        link["url"].as_str().unwrap(),
        format!("http://{}{path}", server.addr)
    );
    assert_eq!(
        link["survives_restart"], true,
        "a session secret is configured"
    );
    let (status, ics) = anonymous(&path).await;
    assert_eq!(status, 200, "{ics}");
    assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
    assert!(ics.matches("BEGIN:VEVENT").count() > 100, "the whole term");
    // The same link does not open another course, nor does a tampered one.
    let token = path.split_once("feed=").unwrap().1.to_owned();
    let (status, _) = anonymous(&format!(
        "/api/timetable/courses/B/calendar.ics?feed={token}"
    ))
    .await;
    assert_eq!(status, 401);
    let (status, _) = anonymous(&format!("{path}x")).await;
    assert_eq!(status, 401);
    // A teacher of B cannot have a link for A.
    let (status, _) = request(
        &server.addr,
        "GET",
        "/api/timetable/courses/A/calendar-feed",
        &creds.headers(Role::TeacherB),
        b"",
    )
    .await;
    assert_eq!(status, 403);

    // The student leaves course A: their link stops working, the teacher's goes on.
    let teacher = feed(Role::TeacherA, "A").await;
    let body = json!({"courses": [{"id": "A", "name": "Course A", "members": [
        {"user_id": "t.a", "role": "teacher"}, {"user_id": "ta.a", "role": "ta"}]}]});
    let mut headers = creds.headers(Role::AdminKey);
    headers.push(("Content-Type".into(), "application/json".into()));
    let (status, answer) = request(
        &server.addr,
        "POST",
        "/api/admin/roster",
        &headers,
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let deadline = Instant::now() + T;
    loop {
        let (status, _) = anonymous(&path).await;
        if status == 403 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status} after leaving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = anonymous(teacher["path"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    server.stop();
}
