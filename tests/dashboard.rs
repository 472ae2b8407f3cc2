//! Live dashboards end to end, against the real binary: staff sign in, subscribe to a course
//! view over `/wsapi/dashboard`, get a snapshot and then an update reflecting each new event
//! students send over `/wsapi/in/`; a teacher of one course is refused another; rights on the
//! read API; a stalled dashboard client does not make the server buffer.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct-horse-battery";

/// Accounts t.a (teaches course A), t.b (teaches B), root (admin); a roster with
/// `students_a` in A and one student in B.
fn setup(dir: &Path, students_a: &[String], name_pad: usize) -> std::path::PathBuf {
    let accounts = dir.join("accounts.toml");
    add_user(dir, &accounts, "t.a", "Teacher A", PASSWORD, false);
    add_user(dir, &accounts, "t.b", "Teacher B", PASSWORD, false);
    let mut members =
        String::from("  { user_id = \"t.a\", name = \"Teacher A\", role = \"teacher\" },\n");
    for s in students_a {
        members.push_str(&format!(
            "  {{ user_id = \"tc-testcase-{s}\", name = \"Student {s}{}\", role = \"student\" }},\n",
            "-".repeat(name_pad)
        ));
    }
    let roster = format!(
        "[[course]]\nid = \"A\"\nname = \"Course A\"\nmembers = [\n{members}]\n\n\
         [[course]]\nid = \"B\"\nname = \"Course B\"\nmembers = [\n  {{ user_id = \"t.b\", role = \"teacher\" }},\n  \
         {{ user_id = \"tc-testcase-cid\", name = \"Cid\", role = \"student\" }},\n]\n"
    );
    std::fs::write(dir.join("roster.toml"), roster).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[roster]\nfiles = [\"roster.toml\"]\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
         [sessions]\nsecret = \"a-session-secret-for-the-tests\"\n",
    )
    .unwrap();
    config
}

async fn student(server: &Server, user: &str) -> Ws {
    let mut ws = connect(&server.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {
            "source": "org.mitros.writing_analytics", "version": "1.0", "user_id": user, "ack": true}}),
    )
    .await;
    ws
}

fn save(doc: &str, ibi: usize, text: &str) -> Value {
    json!({
        "event": "google_docs_save", "doc_id": doc,
        "url": format!("https://docs.google.com/document/d/{doc}/save"),
        "bundles": [{"commands": [{"ty": "is", "ibi": ibi, "s": text}]}],
    })
}

/// Receives dashboard messages until `student`'s row has `word_count == words`; returns how
/// many messages that took.
async fn until_words(ws: &mut Ws, student: &str, words: u64) -> usize {
    let deadline = tokio::time::Instant::now() + T;
    let mut n = 0;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = recv(ws, left)
            .await
            .unwrap_or_else(|| panic!("no update with {words} words for {student}"));
        n += 1;
        assert!(m["type"] == "update" || m["type"] == "snapshot", "{m}");
        if m["students"][student]["word_count"] == words {
            return n;
        }
    }
}

#[tokio::test]
async fn a_teacher_watches_their_course_live_and_only_their_course() {
    let dir = TempDir::new("dash");
    let config = setup(dir.path(), &["ann".into(), "bob".into()], 0);
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()]);
    let cookie = login(&server, "t.a", PASSWORD).await;

    // Not signed in: a protocol error, then the socket closes.
    let mut anon = dashboard_socket(&server, None, None, None).await.unwrap();
    let e = recv(&mut anon, T).await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_signed_in"))
    );
    // Another site's page cannot open a socket with the teacher's cookie.
    assert!(
        dashboard_socket(&server, Some(&cookie), Some("http://evil.example"), None)
            .await
            .is_err()
    );
    // A wrong password is refused.
    let (status, _, _) = http_request(
        "POST",
        &server.http("/auth/login"),
        &[],
        json!({"user": "t.a", "password": "nope-nope-nope"})
            .to_string()
            .as_bytes(),
    )
    .await;
    assert_eq!(status, 401);

    let origin = format!("http://{}", server.addr);
    let mut dash = dashboard_socket(&server, Some(&cookie), Some(&origin), None)
        .await
        .unwrap();
    let welcome = recv_type(&mut dash, "welcome", T).await.unwrap();
    assert_eq!(welcome["user"]["id"], "t.a");
    assert!(
        welcome["views"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "writing.class")
    );

    // Course B, an unknown course and an unknown view are refused, as protocol messages.
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "b", "course": "B", "view": "writing.class"}),
    )
    .await;
    let e = recv_type(&mut dash, "error", T).await.unwrap();
    assert_eq!(
        (e["code"].as_str(), e["sub"].as_str()),
        (Some("not_your_course"), Some("b"))
    );
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "z", "course": "Z", "view": "writing.class"}),
    )
    .await;
    assert_eq!(
        recv_type(&mut dash, "error", T).await.unwrap()["code"],
        "not_your_course"
    );
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "v", "course": "A", "view": "nope"}),
    )
    .await;
    assert_eq!(
        recv_type(&mut dash, "error", T).await.unwrap()["code"],
        "unknown_view"
    );
    send_json(&mut dash, &json!({"type": "dance"})).await;
    assert_eq!(
        recv_type(&mut dash, "error", T).await.unwrap()["code"],
        "bad_request"
    );

    // Course A: the snapshot has both students, nothing written yet.
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "a", "course": "A", "view": "writing.class"}),
    )
    .await;
    let snap = recv_type(&mut dash, "snapshot", T).await.unwrap();
    assert_eq!(snap["sub"], "a");
    assert_eq!(snap["course"]["name"], "Course A");
    let ann_id = "tc-testcase-ann";
    assert_eq!(snap["students"][ann_id]["name"], "Student ann");
    assert_eq!(snap["students"][ann_id]["word_count"], 0);
    assert_eq!(snap["students"]["tc-testcase-bob"]["status"], "inactive");
    assert!(
        snap["students"].get("tc-testcase-cid").is_none(),
        "course B's student is not in A"
    );
    assert_eq!(snap["summary"]["students"], 2);

    // Each event Ann sends is reflected by an update.
    let mut ann = student(&server, "ann").await;
    let steps = [
        ("Rivers", 1, 1u64),
        (" carve", 7, 2),
        (" deep valleys", 13, 4),
    ];
    for (text, ibi, words) in &steps {
        let sent = Instant::now();
        send_json(&mut ann, &save("essay-1", *ibi, text)).await;
        recv_status(&mut ann, "ack", T).await.expect("acked");
        until_words(&mut dash, ann_id, *words).await;
        assert!(sent.elapsed() < Duration::from_secs(5));
    }
    // A second dashboard of the same course (same subscription id): its own snapshot, then
    // the same update as the first (the server serializes it once for both).
    let mut dash2 = dashboard_socket(&server, Some(&cookie), Some(&origin), None)
        .await
        .unwrap();
    recv_type(&mut dash2, "welcome", T).await.unwrap();
    send_json(
        &mut dash2,
        &json!({"type": "subscribe", "sub": "a", "course": "A", "view": "writing.class"}),
    )
    .await;
    let snap2 = recv_type(&mut dash2, "snapshot", T).await.unwrap();
    assert_eq!(snap2["students"][ann_id]["word_count"], 4);
    assert_eq!(snap2["summary"]["students"], 2);
    // Updates are deltas: a change of Ann's carries Ann's row only.
    send_json(&mut ann, &save("essay-1", 26, " today")).await;
    let update = loop {
        let m = recv_type(&mut dash, "update", T).await.unwrap();
        if m["students"][ann_id]["word_count"] == 5 {
            break m;
        }
    };
    assert!(
        update["students"].get("tc-testcase-bob").is_none(),
        "{update}"
    );
    assert_eq!(update["students"][ann_id]["status"], "active");
    assert!(
        update["students"][ann_id]["excerpt"]
            .as_str()
            .unwrap()
            .contains("deep valleys today")
    );
    assert_eq!(update["summary"]["total_words"], 5);
    let update2 = loop {
        let m = recv_type(&mut dash2, "update", T).await.unwrap();
        if m["students"][ann_id]["word_count"] == 5 {
            break m;
        }
    };
    assert!(
        update2["students"].get("tc-testcase-bob").is_none(),
        "{update2}"
    );
    assert_eq!(update2["summary"]["total_words"], 5);
    drop(dash2);

    // Unsubscribe: no more updates for it.
    send_json(&mut dash, &json!({"type": "unsubscribe", "sub": "a"})).await;
    assert_eq!(
        recv_type(&mut dash, "unsubscribed", T).await.unwrap()["sub"],
        "a"
    );

    // The read API: the teacher of A may read Ann; the teacher of B may not; nobody
    // signed out may.
    let cookie_b = login(&server, "t.b", PASSWORD).await;
    let url = server.http(&format!("/api/state/{ann_id}"));
    let (status, _, body) = http_request("GET", &url, &[("Cookie", &cookie)], b"").await;
    assert_eq!(status, 200);
    assert!(body.contains("writing.reconstruct"));
    let (status, _, _) = http_request("GET", &url, &[("Cookie", &cookie_b)], b"").await;
    assert_eq!(status, 403);
    let (status, _, _) = http_request("GET", &url, &[], b"").await;
    assert_eq!(status, 401);
    // Course lists follow the roster.
    let (_, _, courses) = http_request(
        "GET",
        &server.http("/api/courses"),
        &[("Cookie", &cookie_b)],
        b"",
    )
    .await;
    let courses: Value = serde_json::from_str(&courses).unwrap();
    assert_eq!(courses["courses"].as_array().unwrap().len(), 1);
    assert_eq!(courses["courses"][0]["id"], "B");

    // Roster changes reach an open view: Bob leaves course A.
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "a2", "course": "A", "view": "writing.class"}),
    )
    .await;
    assert_eq!(
        recv_type(&mut dash, "snapshot", T).await.unwrap()["sub"],
        "a2"
    );
    let admin = format!("Bearer {}", server.admin_key());
    let teacher = json!({"user_id": "t.a", "name": "Teacher A", "role": "teacher"});
    let ann_member = json!({"user_id": ann_id, "name": "Student ann", "role": "student"});
    let set_roster = |members: Value| {
        let body = json!({"courses": [{"id": "A", "members": members}]}).to_string();
        let (url, admin) = (server.http("/api/admin/roster"), admin.clone());
        async move {
            let headers = [
                ("Authorization", admin.as_str()),
                ("Content-Type", "application/json"),
            ];
            let (status, _, text) = http_request("POST", &url, &headers, body.as_bytes()).await;
            assert_eq!(status, 200, "{text}");
        }
    };
    set_roster(json!([teacher, ann_member])).await;
    let update = loop {
        let m = recv_type(&mut dash, "update", T).await.unwrap();
        if m["removed"].as_array().is_some_and(|r| !r.is_empty()) {
            break m;
        }
    };
    assert_eq!(update["removed"], json!(["tc-testcase-bob"]));
    assert_eq!(update["summary"]["students"], 1);
    // A teacher removed from the course stops receiving it, and may no longer read its students.
    set_roster(json!([ann_member])).await;
    let e = recv_type(&mut dash, "error", T).await.unwrap();
    assert_eq!(
        (e["code"].as_str(), e["sub"].as_str()),
        (Some("not_your_course"), Some("a2"))
    );
    let (status, _, _) = http_request("GET", &url, &[("Cookie", &cookie)], b"").await;
    assert_eq!(status, 403);
    server.stop();
}

#[tokio::test]
async fn a_stalled_dashboard_client_does_not_grow_server_memory() {
    let dir = TempDir::new("dash-stall");
    let students: Vec<String> = (0..60).map(|i| format!("sim-{i}")).collect();
    // Long names make every row ~4 KB, so the updates a queue would hold (tens of MB) are far
    // more than the kernel's socket buffers (4 MB at most here) can absorb.
    let config = setup(dir.path(), &students, 4000);
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()]);
    let cookie = login(&server, "t.a", PASSWORD).await;
    let subscribe =
        json!({"type": "subscribe", "sub": "a", "course": "A", "view": "writing.class"});
    // One dashboard keeps reading (it tells how far the view has moved on); one stalls.
    let mut monitor = dashboard_socket(&server, Some(&cookie), None, None)
        .await
        .unwrap();
    send_json(&mut monitor, &subscribe).await;
    recv_type(&mut monitor, "snapshot", T).await.unwrap();
    let mut stalled = dashboard_socket(&server, Some(&cookie), None, Some(4096))
        .await
        .unwrap();
    send_json(&mut stalled, &subscribe).await;
    let snap = recv_type(&mut stalled, "snapshot", T).await.unwrap();
    let first_version = snap["version"].as_u64().unwrap();
    let pid = server.child.id();
    let before = rss_kib(pid);

    // The class types (at a pace a debug build keeps up with) until the view has moved on by
    // 150 versions, however long that takes on this machine; the stalled client reads nothing.
    let mut class = std::process::Command::new(BIN)
        .args([
            "simulate",
            "--url",
            &server.ws_url(),
            "--students",
            "60",
            "--chars",
            "5000",
        ])
        .args(["--save-every", "1", "--rate", "10", "--ack", "false"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wanted = first_version + 150;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let mut latest = first_version;
    while latest < wanted {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = recv(&mut monitor, left)
            .await
            .unwrap_or_else(|| panic!("the view reached only version {latest}"));
        latest = m["version"].as_u64().unwrap_or(latest);
    }
    let _ = class.kill();
    let _ = class.wait();
    // Let the last events through, then note where the view ended.
    while let Some(m) = recv(&mut monitor, Duration::from_secs(2)).await {
        latest = m["version"].as_u64().unwrap_or(latest);
    }
    let after = rss_kib(pid);

    // Catch up: the stalled client gets the latest view in a few messages, not the backlog.
    let mut messages = 0;
    let mut version = first_version;
    while let Some(m) = recv(&mut stalled, Duration::from_secs(3)).await {
        messages += 1;
        version = m["version"].as_u64().unwrap_or(version);
    }
    let versions = latest - first_version;
    let produced_kib = versions * 60 * 4200 / 1024;
    eprintln!(
        "stalled client: {versions} versions produced (up to {produced_kib} KiB of updates), \
         {messages} messages on catching up, server RSS {before} -> {after} KiB"
    );
    // (The view may still have moved on after the monitor's last message.)
    assert!(
        version >= latest,
        "the stalled client reached the latest view ({version} < {latest})"
    );
    assert!(
        messages < versions as usize / 3,
        "{messages} messages for {versions} versions"
    );
    let growth = after.saturating_sub(before);
    assert!(
        growth < 16 * 1024,
        "server RSS grew {growth} KiB while the client stalled"
    );
    server.stop();
}
