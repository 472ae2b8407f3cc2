//! `classpulse serve --demo`: a newcomer signs in with the printed demo account and, within a
//! minute, watches a simulated class typing on the live dashboard, and office hours running in
//! the demo's courses: students joining the line, TAs calling them, students accepting, and
//! no-shows expiring (the demo's accept window is 20 seconds).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn the_demo_shows_a_class_typing_within_a_minute() {
    let dir = TempDir::new("demo");
    let server = Server::start(dir.path(), &["--demo", "--demo-students", "12"]);
    // The console names the account and its password.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let password = loop {
        let out = server.stdout();
        if let Some(p) = out
            .lines()
            .find_map(|l| l.split("with password").nth(1))
            .map(|p| p.trim().to_owned())
        {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no demo account printed:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cookie = login(&server, "demo", &password).await;
    // The demo teacher teaches the demo courses, besides seeing the `all` class.
    let (status, _, courses) = http_request(
        "GET",
        &server.http("/api/courses"),
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    for course in ["all", "demo-1", "demo-2"] {
        assert!(
            courses.contains(&format!("\"{course}\"")),
            "{course}: {courses}"
        );
    }
    let mut dash = dashboard_socket(&server, Some(&cookie), None, None)
        .await
        .unwrap();
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "course": "all", "view": "writing.class"}),
    )
    .await;
    recv_type(&mut dash, "snapshot", Duration::from_secs(30))
        .await
        .expect("a snapshot");
    // The office-hours panel of a demo course, as the dashboard subscribes to it.
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "oh", "course": "demo-1", "view": "office_hours.queue"}),
    )
    .await;
    // Within a minute, most of the class has written something, and the panel has shown TAs on
    // duty, students joining, being called, accepting, sessions ending, and a called student
    // not showing up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut writing = std::collections::BTreeSet::new();
    let mut seen: std::collections::BTreeMap<&str, u64> = Default::default();
    let moving = |seen: &std::collections::BTreeMap<&str, u64>| {
        [
            "joins",
            "offers",
            "accepted",
            "no_shows",
            "sessions_ended",
            "on_duty",
        ]
        .iter()
        .all(|k| seen.get(k).copied().unwrap_or(0) > 0)
    };
    while writing.len() < 10 || !moving(&seen) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = recv(&mut dash, left).await.unwrap_or_else(|| {
            panic!(
                "after a minute: {} students writing; office hours: {seen:?}",
                writing.len()
            )
        });
        if m["sub"] == "oh" {
            let q = &m["summary"];
            if q.is_object() {
                assert_eq!(q["settings"]["offer_window_secs"], 20, "{q}");
                for k in ["joins", "offers", "accepted", "no_shows", "sessions_ended"] {
                    seen.insert(k, q["stats"][k].as_u64().unwrap_or(0));
                }
                let on_duty = q["on_duty"].as_array().map_or(0, Vec::len) as u64;
                let most = seen.get("on_duty").copied().unwrap_or(0).max(on_duty);
                seen.insert("on_duty", most);
            }
            continue;
        }
        if let Some(students) = m["students"].as_object() {
            for (id, row) in students {
                if row["word_count"].as_u64().unwrap_or(0) > 0 && row["status"] == "active" {
                    writing.insert(id.clone());
                }
            }
        }
    }
    server.stop();
}
