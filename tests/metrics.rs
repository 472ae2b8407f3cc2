//! Observability, against the real binary: `/metrics` speaks Prometheus' text format to whoever
//! may read it (the scraper's token, the admin key, an administrator), and its counters move
//! with what happens — events accepted and refused, log commits and their fsync time, each
//! reducer's work, the state store, pub/sub, dashboards and their pushes, limits hit. The
//! JSON logs carry connection, user and course ids.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct-horse-battery";
const TOKEN: &str = "a-scraper-token-of-some-length";

/// The value of the sample `name` whose labels include every `labels` pair (summed when several
/// samples match); 0 when there is none.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut total = 0.0;
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")))
        {
            total += value.parse::<f64>().expect("a number");
        }
    }
    total
}

async fn scrape(server: &Server, auth: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    let header = auth.map(|a| format!("Bearer {a}"));
    let headers: Vec<(&str, &str)> = header
        .as_deref()
        .map(|h| vec![("Authorization", h)])
        .unwrap_or_default();
    http_request("GET", &server.http("/metrics"), &headers, b"").await
}

#[tokio::test]
async fn metrics_move_with_what_happens_and_logs_carry_ids() {
    let dir = TempDir::new("metrics");
    let accounts = dir.path().join("accounts.toml");
    add_user(dir.path(), &accounts, "t.a", "Teacher A", PASSWORD, false);
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[roster]\nmode = \"all\"\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
             [dashboard]\nmax_dashboards_per_user = 1\n\n[metrics]\ntoken = \"{TOKEN}\"\n"
        ),
    )
    .unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &["--config", "config.toml"],
        &[("CLASSPULSE_LOG_FORMAT", "json")],
    );

    // Who may scrape.
    assert_eq!(scrape(&server, None).await.0, 401);
    assert_eq!(scrape(&server, Some("not-the-token-at-all")).await.0, 403);
    assert_eq!(scrape(&server, Some(&server.admin_key())).await.0, 200);
    let (status, headers, before) = scrape(&server, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/plain; version=0.0.4"))
    );
    assert!(
        before.contains("# HELP classpulse_events_accepted_total"),
        "{before}"
    );

    // A teacher watches; a student writes, and sends one bad frame.
    let cookie = login(&server, "t.a", PASSWORD).await;
    let mut dash = dashboard_socket(&server, Some(&cookie), None, None)
        .await
        .unwrap();
    assert_eq!(recv(&mut dash, T).await.unwrap()["type"], "welcome");
    let mut second = dashboard_socket(&server, Some(&cookie), None, None)
        .await
        .unwrap();
    assert_eq!(
        recv(&mut second, T).await.unwrap()["code"],
        "too_many_dashboards"
    );
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "x", "course": "elsewhere", "view": "writing.class"}),
    )
    .await;
    assert_eq!(recv(&mut dash, T).await.unwrap()["code"], "not_your_course");
    let mut ws = connect(&server.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {
            "source": "org.mitros.writing_analytics", "version": "1.0", "user_id": "ann", "ack": true}}),
    )
    .await;
    send(&mut ws, "{not json").await;
    for i in 0..20 {
        send_json(
            &mut ws,
            &json!({"event": "google_docs_save", "doc_id": "d1",
                    "bundles": [{"commands": [{"ty": "is", "ibi": i + 1, "s": "w"}]}]}),
        )
        .await;
    }
    while recv_status(&mut ws, "ack", T).await.unwrap()["count"] != 20 {}
    send_json(
        &mut dash,
        &json!({"type": "subscribe", "sub": "all", "course": "all", "view": "writing.class"}),
    )
    .await;
    let snapshot = recv_type(&mut dash, "snapshot", T).await.unwrap();
    assert_eq!(snapshot["sub"], "all");
    // One more edit reaches the dashboard as an update: a push after a state change.
    send_json(
        &mut ws,
        &json!({"event": "google_docs_save", "doc_id": "d1",
                "bundles": [{"commands": [{"ty": "is", "ibi": 21, "s": " more"}]}]}),
    )
    .await;
    recv_type(&mut dash, "update", T).await.expect("an update");

    let (_, _, after) = scrape(&server, Some(TOKEN)).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    // Every event of this test (the lock_fields header is not one).
    assert_eq!(moved("classpulse_events_accepted_total", &[]), 21.0);
    assert_eq!(
        moved(
            "classpulse_events_rejected_total",
            &[("reason", "invalid_json")]
        ),
        1.0
    );
    assert!(moved("classpulse_log_commits_total", &[]) >= 1.0);
    assert!(moved("classpulse_log_fsync_seconds_count", &[]) >= 1.0);
    assert!(moved("classpulse_log_fsync_seconds_sum", &[]) > 0.0);
    assert_eq!(
        moved(
            "classpulse_reducer_events_total",
            &[("reducer", "activity.event_count")]
        ),
        21.0
    );
    assert_eq!(
        moved(
            "classpulse_reducer_events_total",
            &[("reducer", "writing.reconstruct")]
        ),
        21.0
    );
    assert!(
        moved(
            "classpulse_reducer_seconds_count",
            &[("reducer", "writing.reconstruct")]
        ) >= 1.0
    );
    assert!(moved("classpulse_kvs_update_seconds_count", &[]) >= 1.0);
    assert!(moved("classpulse_pubsub_publish_seconds_count", &[]) >= 1.0);
    assert_eq!(sample(&after, "classpulse_dashboards_connected", &[]), 1.0);
    assert!(moved("classpulse_dashboard_messages_total", &[]) >= 2.0);
    assert!(moved("classpulse_dashboard_push_seconds_count", &[]) >= 1.0);
    assert_eq!(
        moved(
            "classpulse_limit_hits_total",
            &[("limit", "dashboards_per_user")]
        ),
        1.0
    );
    assert_eq!(sample(&after, "classpulse_ingest_connections", &[]), 1.0);
    assert!(after.contains("classpulse_log_queue_length"));
    assert!(after.contains("classpulse_router_queue_length"));
    assert_eq!(
        sample(&after, "classpulse_reducer_failures_total", &[]),
        0.0
    );
    // The text format: every sample line is `name{labels} number`.
    for line in after
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(series.starts_with("classpulse_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    drop(dash);
    drop(ws);

    // The JSON logs: one object per line, with the ids as fields or span fields.
    let mut server = server;
    server.signal("TERM");
    assert_eq!(server.wait(T), Some(0));
    let logs: Vec<Value> = server
        .stderr()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let rejected = logs
        .iter()
        .find(|l| l["fields"]["message"] == "frame rejected")
        .expect("the bad frame was logged");
    assert!(rejected["fields"]["conn"].is_u64(), "{rejected}");
    assert_eq!(rejected["span"]["name"], "ingest");
    assert_eq!(rejected["span"]["ip"], "127.0.0.1");
    let refused = logs
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("dashboard subscription refused"))
        })
        .expect("the refused subscription was logged");
    assert_eq!(refused["fields"]["course"], "elsewhere");
    assert_eq!(refused["span"]["user"], "t.a");
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let dir = TempDir::new("metrics-off");
    std::fs::write(
        dir.path().join("config.toml"),
        "[metrics]\nenabled = false\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--config", "config.toml"]);
    assert_eq!(scrape(&server, Some(&server.admin_key())).await.0, 404);
    server.stop();
}
