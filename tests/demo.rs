//! `classpulse serve --demo`: a newcomer signs in with the printed demo account and, within a
//! minute, watches a simulated class typing on the live dashboard.

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
    // Within a minute, most of the class has written something.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut writing = std::collections::BTreeSet::new();
    while writing.len() < 10 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = recv(&mut dash, left)
            .await
            .unwrap_or_else(|| panic!("only {} students writing after a minute", writing.len()));
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
