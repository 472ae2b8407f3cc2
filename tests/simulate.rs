//! `classpulse simulate` against a real `classpulse serve`: students spread over two courses
//! type while they and their TAs run office hours (with a one-second accept window, so no-shows
//! expire during the run). Afterwards every event the simulator reports sending is accounted
//! for: in the log, in each course's office-hours statistics (each join, cancel, accept, offer,
//! no-show and session), in each student's writing state, and the courses' lines are empty.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

const PASSWORD: &str = "correct horse battery";
const STUDENTS: usize = 8;
const CHARS: usize = 40;
const SAVE_EVERY: usize = 4;

#[tokio::test]
async fn every_simulated_event_is_accounted_for_in_the_state() {
    let dir = TempDir::new("simulate");
    let accounts = dir.path().join("accounts.toml");
    add_user(dir.path(), &accounts, "root", "Admin", PASSWORD, true);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[ingest]\nmax_events_per_second = 0\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
         [modules.office_hours]\noffer_window_secs = 1\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()]);

    let url = server.ws_url();
    let data_dir = server.data_dir.to_str().unwrap().to_owned();
    let (students, chars, save_every) = (
        STUDENTS.to_string(),
        CHARS.to_string(),
        SAVE_EVERY.to_string(),
    );
    let args = [
        "simulate",
        "--url",
        &url,
        "--data-dir",
        &data_dir,
        "--students",
        &students,
        "--chars",
        &chars,
        "--save-every",
        &save_every,
        "--rate",
        "10",
        "--courses",
        "2",
        "--tas-per-course",
        "1",
        "--office-hours",
        "--pace",
        "0.4",
        "--no-show",
        "0.4",
        "--give-up",
        "0.3",
        "--seed",
        "7",
        "--json",
    ];
    let started = std::time::Instant::now();
    let (ok, out, err) = run_cli_async(dir.path(), &args).await;
    assert!(ok, "simulate failed:\n{out}\n{err}");
    assert!(
        started.elapsed().as_secs() < 40,
        "the run took {:?}",
        started.elapsed()
    );
    let report: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {out}"));

    // The typing: every frame sent and acknowledged.
    let frames = (STUDENTS * (CHARS + CHARS / SAVE_EVERY)) as u64;
    assert_eq!(report["sent"], frames, "{report}");
    assert_eq!(report["acked"], frames, "{report}");
    assert_eq!(report["errors"], 0, "{report}");

    let oh = &report["office_hours"];
    let total = &oh["total"];
    assert_eq!(
        total["acked"], total["events"],
        "every command logged: {oh}"
    );
    for key in ["unanswered", "resyncs", "connect_errors"] {
        assert_eq!(total[key], 0, "{key}: {oh}");
    }
    let courses: &serde_json::Map<String, Value> = oh["courses"].as_object().unwrap();
    assert_eq!(
        courses.keys().collect::<Vec<_>>(),
        ["sim-course-0", "sim-course-1"]
    );

    // The log holds each course's commands, as many as the simulator sent.
    let mut logged: BTreeMap<String, u64> = BTreeMap::new();
    for line in server.log() {
        if line["source"] == "org.classpulse.office_hours" && line.get("timer").is_none() {
            let course = line["client"]["course_id"].as_str().unwrap().to_owned();
            *logged.entry(course).or_default() += 1;
        }
    }

    let cookie = login(&server, "root", PASSWORD).await;
    let get = |path: String| {
        let cookie = cookie.clone();
        let url = server.http(&path);
        async move {
            let (status, _, body) = http_request("GET", &url, &[("Cookie", &cookie)], b"").await;
            assert_eq!(status, 200, "{path}: {body}");
            serde_json::from_str::<Value>(&body).unwrap()
        }
    };
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    for (course, tally) in courses {
        assert_eq!(
            logged.get(course).copied().unwrap_or(0),
            n(tally, "events"),
            "{course}: commands in the log vs sent: {tally}"
        );
        let sent = &tally["sent"];
        let refused = &tally["refused"];
        let done = |event: &str| n(sent, event) - n(refused, event);
        let stats = get(format!("/api/office_hours/{course}/stats")).await["stats"].clone();
        assert_eq!(
            n(&stats, "joins"),
            done("join"),
            "{course}: {stats} vs {tally}"
        );
        assert_eq!(
            n(&stats, "cancels"),
            done("cancel"),
            "{course}: {stats} vs {tally}"
        );
        assert_eq!(
            n(&stats, "accepted"),
            done("offer_accepted"),
            "{course}: {stats} vs {tally}"
        );
        assert_eq!(
            n(&stats, "offers"),
            n(tally, "offers"),
            "{course}: {stats} vs {tally}"
        );
        assert_eq!(
            n(&stats, "no_shows"),
            n(tally, "expired"),
            "{course}: {stats} vs {tally}"
        );
        assert_eq!(
            n(&stats, "sessions_ended"),
            done("session_ended"),
            "{course}: {stats} vs {tally}"
        );
        assert_eq!(n(&stats, "sessions_ended"), n(tally, "sessions_ended"));
        let per_ta: u64 = stats["sessions_per_ta"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        assert_eq!(per_ta, n(&stats, "accepted"), "{course}: {stats}");
        // Office hours took place: students joined, were called and helped.
        assert!(
            n(&stats, "joins") > 0 && n(&stats, "accepted") > 0,
            "{course}: {stats}"
        );
        assert!(n(&stats, "sessions_ended") > 0, "{course}: {stats}");
        // Wound down: nobody waiting, called or in a session; office hours closed.
        let queue = get(format!("/api/office_hours/{course}/me")).await["queue"].clone();
        assert_eq!(queue["open"], false, "{course}: {queue}");
        for key in ["line", "offers", "sessions", "on_duty"] {
            assert_eq!(queue[key], Value::Array(vec![]), "{course} {key}: {queue}");
        }
    }
    // Some students let their offer lapse, and it expired (the seed makes them choose so).
    assert!(n(total, "expired") > 0, "no no-shows: {oh}");
    assert!(n(total, "expired") <= n(total, "ignored_offers"), "{oh}");

    // The writing: each student's events are in their state (`writing.event_count`), all of
    // them in total, and each student is on their course's roster.
    let mut counted = 0;
    for i in 0..STUDENTS {
        let id = format!("tc-testcase-sim-{i}");
        let (status, state) = server.get_as_admin(&format!("/api/state/{id}")).await;
        assert_eq!(status, 200, "state of {id}");
        counted += state["writing.event_count"][format!("student:{id}")]["count"]
            .as_u64()
            .unwrap_or(0);
        let (status, roster) = server
            .get_as_admin(&format!("/api/admin/roster/sim-course-{}", i % 2))
            .await;
        assert_eq!(status, 200);
        assert!(roster.to_string().contains(&id), "{id} not in {roster}");
    }
    assert_eq!(counted, frames);
    server.stop();
}

#[test]
fn office_hours_without_courses_or_server_are_clear_errors() {
    let dir = TempDir::new("simulate-errors");
    let (ok, _, err) = run_cli(dir.path(), &["simulate", "--office-hours"]);
    assert!(!ok);
    assert!(err.contains("--office-hours needs courses"), "{err}");
    // No server runs on this data directory: nothing to import the rosters into.
    let empty = dir.path().join("data");
    let (ok, _, err) = run_cli(
        dir.path(),
        &[
            "simulate",
            "--courses",
            "2",
            "--data-dir",
            empty.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("admin.json") && err.contains("--roster-out"),
        "{err}"
    );
    // --roster-out writes rosters a server can load (`[roster] files`), then simulates; with
    // no server there, the run fails to connect, after writing the file.
    let roster = dir.path().join("roster.toml");
    let (ok, _, err) = run_cli(
        dir.path(),
        &[
            "simulate",
            "--courses",
            "2",
            "--tas-per-course",
            "2",
            "--students",
            "3",
            "--roster-out",
            roster.to_str().unwrap(),
            "--url",
            "ws://127.0.0.1:9/wsapi/in/",
        ],
    );
    assert!(!ok, "{err}");
    let text = std::fs::read_to_string(&roster).unwrap();
    let file = classpulse_core::roster::RosterFile::load(&roster).expect("a valid roster file");
    assert_eq!(file.course.len(), 2);
    assert_eq!(file.course[0].id, "sim-course-0");
    // Students 0 and 2 in the first course, with its two TAs.
    assert_eq!(file.course[0].members.len(), 4);
    assert!(text.contains("tc-testcase-sim-2") && text.contains("sim-course-1-ta1"));
}
