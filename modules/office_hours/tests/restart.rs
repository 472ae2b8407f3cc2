//! Office hours across restarts and replays, in-process under a manual clock: an offer
//! outstanding when the node stops is still outstanding after it starts again (and expires at
//! its deadline), or — when the deadline passed while the node was down — expires at start-up;
//! folding the log through the reducer gives exactly the queue the node held, and an expiry of
//! an offer already accepted or expired changes nothing.

mod common;

use classpulse_core::clock::ManualClock;
use classpulse_office_hours::OfficeHoursConfig;
use classpulse_office_hours::stats::{queues_from_log, report_from_log};
use common::*;
use serde_json::json;
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(300);

/// s1 and s2 join, ta1 opens office hours: s1 is offered at START + 10 s.
async fn offer_outstanding(s: &TestServer) -> (Client, i64) {
    let mut s1 = s.client("s1").await;
    let mut s2 = s.client("s2").await;
    let mut ta = s.client("ta1").await;
    s1.send(json!({"event": "join", "question": "Q1"})).await;
    s2.send(cmd("join")).await;
    s.advance(Duration::from_secs(10)).await;
    ta.send(cmd("ta_on_duty")).await;
    let offer = s1.expect("offer").await;
    let deadline = offer["me"]["offer"]["deadline"].as_i64().unwrap();
    assert_eq!(
        deadline,
        START.plus(Duration::from_secs(10) + WINDOW).as_micros()
    );
    s.settle().await;
    (s1, deadline)
}

fn expiries(s: &TestServer) -> Vec<serde_json::Value> {
    s.log()
        .into_iter()
        .filter(|l| l["client"]["event"] == "offer_expired")
        .collect()
}

#[tokio::test]
async fn an_offer_outstanding_at_a_restart_survives_it_and_expires_at_its_deadline() {
    let dir = TempDir::new("restart-before");
    let clock = ManualClock::new(START);
    let s = TestServer::start(dir.path(), &clock, OfficeHoursConfig::default()).await;
    let (_s1, deadline) = offer_outstanding(&s).await;
    let before = s.queue(COURSE).await;
    s.stop().await;

    // Down for one minute: well inside the window.
    clock.advance(Duration::from_secs(60));
    let s = TestServer::start(dir.path(), &clock, OfficeHoursConfig::default()).await;
    s.settle().await;
    assert_eq!(
        s.queue(COURSE).await,
        before,
        "the queue came back from the log"
    );
    assert_eq!(s.runtime.timers.scheduled(), 1, "the expiry is armed again");
    // The student's page, reconnected, may still accept… but let the window run out.
    // Offered at +10 s, now at +70 s: the deadline is 240 s away.
    s.advance(WINDOW - Duration::from_secs(60) - Duration::from_millis(1))
        .await;
    assert!(expiries(&s).is_empty(), "not a millisecond early");
    assert_eq!(s.queue(COURSE).await.offers.len(), 1);
    s.advance(Duration::from_millis(1)).await;
    let fired = expiries(&s);
    assert_eq!(fired.len(), 1);
    assert_eq!(
        (fired[0]["time"].as_f64().unwrap() * 1e6).round() as i64,
        deadline,
        "expired exactly at its deadline, after the restart"
    );
    let q = s.queue(COURSE).await;
    assert!(q.offers.is_empty());
    assert_eq!(
        q.line
            .iter()
            .map(|w| w.student.as_str())
            .collect::<Vec<_>>(),
        [id("s2"), id("s1")],
        "s1 went to the back"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_offer_whose_deadline_passed_while_the_node_was_down_expires_at_start_up() {
    let dir = TempDir::new("restart-after");
    let clock = ManualClock::new(START);
    let s = TestServer::start(dir.path(), &clock, OfficeHoursConfig::default()).await;
    let (_s1, deadline) = offer_outstanding(&s).await;
    s.stop().await;

    // Down for ten minutes: the deadline passes meanwhile.
    clock.advance(Duration::from_secs(600));
    let restarted_at = clock_now(&clock);
    let s = TestServer::start(dir.path(), &clock, OfficeHoursConfig::default()).await;
    // Nothing moves the clock: the expiry is due at start-up.
    let mut fired = Vec::new();
    for _ in 0..100 {
        fired = expiries(&s);
        if !fired.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fired.len(), 1, "the overdue expiry fired once, at start-up");
    let at = (fired[0]["time"].as_f64().unwrap() * 1e6).round() as i64;
    assert!(
        at >= deadline && at >= restarted_at,
        "logged at start-up ({at})"
    );
    s.settle().await;
    let q = s.queue(COURSE).await;
    assert!(q.offers.is_empty());
    assert_eq!(q.stats.no_shows, 1);
    assert_eq!(q.line.len(), 2);
    assert_eq!(q.line[1].student, id("s1"));
    assert_eq!(s.runtime.timers.scheduled(), 0);

    // The student, back online, tries to accept: a clear refusal naming the expiry.
    let mut s1 = s.client("s1").await;
    s1.send(cmd("offer_accepted")).await;
    let refused = s1.expect("refused").await;
    let text = refused["message"].as_str().unwrap();
    assert!(
        text.starts_with("Too late: the offer expired at 09:05:10 UTC"),
        "{text}"
    );
    assert!(text.contains("position 2"), "{text}");

    // And a second restart does not expire it again.
    s.stop().await;
    let s = TestServer::start(dir.path(), &clock, OfficeHoursConfig::default()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.settle().await;
    assert_eq!(expiries(&s).len(), 1);
    s.stop().await;
}

fn clock_now(clock: &ManualClock) -> i64 {
    use classpulse_core::clock::Clock;
    clock.now().as_micros()
}

#[tokio::test]
async fn replaying_the_log_reproduces_the_queue_exactly() {
    let dir = TempDir::new("replay");
    let clock = ManualClock::new(START);
    let oh = OfficeHoursConfig::default();
    let s = TestServer::start(dir.path(), &clock, oh.clone()).await;
    let mut ta1 = s.client("ta1").await;
    let mut ta2 = s.client("ta2").await;
    let mut students = Vec::new();
    for i in 1..=5 {
        students.push(s.client(&format!("s{i}")).await);
    }
    // A busy hour: joins, an accept, an expiry, a cancel while offered, a refusal, a session.
    for (i, c) in students.iter_mut().enumerate() {
        c.send(json!({"event": "join", "question": format!("question {i}")}))
            .await;
        s.advance(Duration::from_secs(30)).await;
    }
    ta1.send(cmd("ta_on_duty")).await;
    students[0].expect("offer").await;
    s.advance(Duration::from_secs(20)).await;
    students[0].send(cmd("offer_accepted")).await;
    ta2.send(json!({"event": "ta_on_duty", "meeting_link": "https://meet.example/ta2"}))
        .await;
    students[1].expect("offer").await;
    s.advance(WINDOW).await; // s2 misses it
    ta2.send(cmd("call_next")).await;
    students[2].expect("offer").await;
    students[2].send(cmd("cancel")).await;
    students[1].send(cmd("offer_accepted")).await; // too late
    s.advance(Duration::from_secs(200)).await;
    ta1.send(cmd("session_ended")).await;
    ta1.send(cmd("call_next")).await;
    ta2.send(json!({"event": "announcement", "text": "Ten more minutes"}))
        .await;
    s.settle().await;
    let live = s.queue(COURSE).await;
    assert_eq!(live.stats.no_shows, 1);
    assert_eq!(live.stats.cancels, 1);
    assert_eq!(live.stats.sessions_ended, 1);
    assert_eq!(live.offers.len(), 1);
    s.stop().await;

    // Expiries that come too late change nothing: append to the log a second expiry of s2's
    // offer (already expired: a timer fired twice) and one of s1's (accepted long ago).
    let log_dir = dir.path().join("log");
    let mut segments: Vec<_> = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let last_segment = segments.last().unwrap().clone();
    let text = std::fs::read_to_string(&last_segment).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expiry = lines
        .iter()
        .find(|l| l["client"]["event"] == "offer_expired")
        .unwrap()
        .clone();
    assert_eq!(expiry["client"]["offer"], 2, "s2's offer");
    let last = lines.last().unwrap();
    let mut extra = String::new();
    for (k, offer) in [2, 1].into_iter().enumerate() {
        let mut line = expiry.clone();
        line["seq"] = json!(last["seq"].as_u64().unwrap() + 1 + k as u64);
        line["time"] = json!(last["time"].as_f64().unwrap() + 1.0 + k as f64);
        line["client"]["offer"] = json!(offer);
        line["timer"] = json!(format!("office_hours.offer.{COURSE}.{offer}"));
        extra.push_str(&format!("{line}\n"));
    }
    std::fs::write(&last_segment, format!("{text}{extra}")).unwrap();

    // Folded from the log alone (what `classpulse report` reads) …
    let folded = queues_from_log(&log_dir, &oh).unwrap();
    assert_eq!(
        folded[COURSE], live,
        "the log folds into the same queue; the late expiries did nothing"
    );
    let report = &report_from_log(&log_dir, &oh).unwrap()[COURSE];
    assert_eq!(
        report.mean_wait_secs,
        Some(170.0),
        "s1 joined at 0 s and accepted at 170 s"
    );
    assert_eq!(report.mean_session_secs, Some(500.0));
    assert_eq!(
        report.no_show_rate,
        Some(0.25),
        "one of four offers expired"
    );
    // … and rebuilt by a restart, replaying the log into a fresh store.
    let s = TestServer::start(dir.path(), &clock, oh).await;
    s.settle().await;
    assert_eq!(s.queue(COURSE).await, live);
    s.stop().await;
}
