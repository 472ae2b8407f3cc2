//! The office-hours rules, scenario by scenario, against a real node in-process: real sockets,
//! the real log and timer service, and a manual clock so the 5-minute window is exact.

mod common;

use classpulse_core::auth::session::Kind;
use classpulse_core::clock::ManualClock;
use classpulse_core::roster::Role;
use classpulse_core::roster::config::DesiredMember;
use classpulse_office_hours::OfficeHoursConfig;
use classpulse_office_hours::config::{ExpiredOffer, OnClose};
use common::*;
use serde_json::json;
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(300);
const MS: Duration = Duration::from_millis(1);

async fn server(tag: &str, oh: OfficeHoursConfig) -> (TempDir, TestServer) {
    let dir = TempDir::new(tag);
    let clock = ManualClock::new(START);
    let s = TestServer::start(dir.path(), &clock, oh).await;
    (dir, s)
}

#[tokio::test]
async fn a_student_joins_is_called_accepts_and_the_session_ends() {
    let (_dir, s) = server("flow", OfficeHoursConfig::default()).await;
    let mut s1 = s.client("s1").await;
    let mut ta = s.client("ta1").await;
    s1.send(json!({"event": "join", "question": "Recursion?", "location": "Room 4"}))
        .await;
    let joined = s1.expect("joined").await;
    assert_eq!(joined["me"]["state"], "waiting");
    assert_eq!(joined["me"]["position"], 1);
    assert_eq!(joined["me"]["open"], false);
    assert!(
        joined["message"].as_str().unwrap().contains("closed"),
        "{joined}"
    );

    // Opening office hours calls the first student.
    ta.send(cmd("ta_on_duty")).await;
    let offer = s1.expect("offer").await;
    let deadline = s.now().plus(WINDOW).as_micros();
    assert_eq!(offer["me"]["state"], "offered");
    assert_eq!(offer["me"]["offer"]["deadline"], deadline);
    assert_eq!(offer["me"]["offer"]["ta"], id("ta1"));
    assert!(offer["message"].as_str().unwrap().contains("5 minutes"));
    assert_eq!(s.runtime.timers.scheduled(), 1, "the expiry is armed");

    s.advance(Duration::from_secs(60)).await;
    s1.send(cmd("offer_accepted")).await;
    let session = s1.expect("session").await;
    assert_eq!(session["me"]["state"], "in_session");
    let told = ta.expect("session").await;
    assert_eq!(told["ta"]["session"]["student"], id("s1"));
    assert_eq!(told["ta"]["session"]["question"], "Recursion?");
    s.settle().await;
    assert_eq!(
        s.runtime.timers.scheduled(),
        0,
        "accepting cancels the expiry"
    );

    // s2 joins during the session; ending it does not call them (rule 3: the TA asks).
    let mut s2 = s.client("s2").await;
    s2.send(cmd("join")).await;
    s.advance(Duration::from_secs(600)).await;
    ta.send(cmd("session_ended")).await;
    s1.expect("ended").await;
    s.settle().await;
    let q = s.queue(COURSE).await;
    assert!(
        q.sessions.is_empty() && q.offers.is_empty(),
        "nobody called"
    );
    assert_eq!(q.line.len(), 1);
    assert_eq!(s.runtime.timers.scheduled(), 0);
    assert!(s2.gets("offer", Duration::from_millis(300)).await.is_none());
    ta.send(cmd("call_next")).await;
    s2.expect("offer").await;
    s2.send(cmd("cancel")).await;
    s2.expect("left").await;
    s.settle().await;
    let q = s.queue(COURSE).await;
    assert!(q.sessions.is_empty() && q.line.is_empty() && q.offers.is_empty());
    assert_eq!(q.stats.accepted, 1);
    assert_eq!(q.stats.sessions_ended, 1);
    assert_eq!(q.stats.total_wait_us, 60_000_000);
    assert_eq!(q.stats.total_session_us, 600_000_000);
    assert_eq!(q.stats.sessions_per_ta[&id("ta1")], 1);
    // No expiry was ever logged: the window closed on an accepted offer.
    s.advance(WINDOW).await;
    assert!(
        !s.log()
            .iter()
            .any(|l| l["client"]["event"] == "offer_expired")
    );
    s.stop().await;
}

#[tokio::test]
async fn only_enrolled_students_join_and_at_most_once() {
    let (_dir, s) = server("enrolled", OfficeHoursConfig::default()).await;
    // Not on the roster: the event is logged but never reaches the course's queue.
    let mut outsider = s.client("mallory").await;
    outsider.send(cmd("join")).await;
    // A student of another course.
    let mut z1 = s.client("z1").await;
    z1.send(cmd("join")).await;
    s.settle().await;
    assert!(s.queue(COURSE).await.line.is_empty());
    // Over HTTP the refusal is explicit.
    let cookie = s.cookie(&id("z1"), Kind::Student, false);
    let (status, body) = s
        .http(
            "POST",
            "/api/office_hours/C1",
            Some(&cookie),
            Some(&cmd("join")),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not a member"));
    // Staff cannot join.
    let mut ta = s.client("ta1").await;
    ta.send(cmd("join")).await;
    let refused = ta.expect("refused").await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("only the course's students")
    );

    let mut s1 = s.client("s1").await;
    s1.send(cmd("join")).await;
    s1.expect("joined").await;
    s1.send(cmd("join")).await;
    let again = s1.expect("refused").await;
    assert_eq!(again["message"], "You are already in line, at position 1.");
    // And through the HTTP command API, with the same rule and the same words.
    let cookie = s.cookie(&id("s1"), Kind::Student, false);
    let (status, body) = s
        .http(
            "POST",
            "/api/office_hours/C1",
            Some(&cookie),
            Some(&cmd("join")),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["ok"], false);
    assert_eq!(body["message"], "You are already in line, at position 1.");
    assert_eq!(body["me"]["position"], 1);
    assert_eq!(s.queue(COURSE).await.line.len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn an_offer_expires_exactly_at_the_window_and_the_student_goes_to_the_back() {
    let (_dir, s) = server("expiry", OfficeHoursConfig::default()).await;
    let mut s1 = s.client("s1").await;
    let mut s2 = s.client("s2").await;
    let mut ta = s.client("ta1").await;
    s1.send(cmd("join")).await;
    s2.send(cmd("join")).await;
    ta.send(cmd("ta_on_duty")).await;
    let offer = s1.expect("offer").await;
    let deadline = offer["me"]["offer"]["deadline"].as_i64().unwrap();

    s.advance(WINDOW - MS).await;
    assert_eq!(
        s.queue(COURSE).await.offers.len(),
        1,
        "still open 1 ms before"
    );
    s.advance(MS).await;
    let expired = s1.expect("expired").await;
    assert_eq!(expired["me"]["state"], "waiting");
    assert_eq!(expired["me"]["position"], 2, "back of the line, behind s2");
    let line: Vec<_> = s.log();
    let fired = line
        .iter()
        .find(|l| l["client"]["event"] == "offer_expired")
        .expect("the expiry went through the log");
    let at = (fired["time"].as_f64().unwrap() * 1e6).round() as i64;
    assert_eq!(at, deadline, "it fired exactly at offer time + window");
    assert_eq!(fired["auth"]["safe_user_id"], id("ta1"));
    assert!(
        fired["timer"]
            .as_str()
            .unwrap()
            .starts_with("office_hours.offer.C1.")
    );
    let told = ta.expect("expired").await;
    assert!(
        told["message"]
            .as_str()
            .unwrap()
            .contains("Call the next student")
    );
    // The TA is not given the next student automatically.
    let q = s.queue(COURSE).await;
    assert!(q.offers.is_empty());
    assert_eq!(q.stats.no_shows, 1);
    ta.send(cmd("call_next")).await;
    s2.expect("offer").await;
    s.stop().await;
}

#[tokio::test]
async fn expired_offers_can_remove_the_student_instead() {
    let oh = OfficeHoursConfig {
        expired_offer: ExpiredOffer::Remove,
        offer_window_secs: 60,
        ..OfficeHoursConfig::default()
    };
    let (_dir, s) = server("remove", oh).await;
    let mut s1 = s.client("s1").await;
    let mut ta = s.client("ta1").await;
    s1.send(cmd("join")).await;
    ta.send(cmd("ta_on_duty")).await;
    let offer = s1.expect("offer").await;
    assert!(offer["message"].as_str().unwrap().contains("1 minute"));
    s.advance(Duration::from_secs(60)).await;
    let expired = s1.expect("expired").await;
    assert_eq!(expired["me"]["state"], "none");
    assert!(
        expired["message"]
            .as_str()
            .unwrap()
            .contains("left the line")
    );
    assert!(s.queue(COURSE).await.line.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn accepting_one_millisecond_before_the_deadline_works() {
    let (_dir, s) = server("before", OfficeHoursConfig::default()).await;
    let mut s1 = s.client("s1").await;
    let mut ta = s.client("ta1").await;
    s1.send(cmd("join")).await;
    ta.send(cmd("ta_on_duty")).await;
    s1.expect("offer").await;
    s.advance(WINDOW - MS).await;
    s1.send(cmd("offer_accepted")).await;
    s1.expect("session").await;
    s.advance(Duration::from_secs(10)).await;
    assert!(
        !s.log()
            .iter()
            .any(|l| l["client"]["event"] == "offer_expired")
    );
    assert_eq!(s.queue(COURSE).await.sessions.len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn accepting_one_millisecond_after_the_deadline_is_refused_clearly() {
    let (_dir, s) = server("after", OfficeHoursConfig::default()).await;
    let mut s1 = s.client("s1").await;
    let mut ta = s.client("ta1").await;
    s1.send(cmd("join")).await;
    ta.send(cmd("ta_on_duty")).await;
    s1.expect("offer").await;
    s.advance(WINDOW + MS).await;
    s1.send(cmd("offer_accepted")).await;
    let refused = s1.expect("refused").await;
    let text = refused["message"].as_str().unwrap();
    assert!(
        text.starts_with("Too late: the offer expired at 09:05:00 UTC"),
        "{text}"
    );
    assert!(text.contains("position 1"), "{text}");
    let q = s.queue(COURSE).await;
    assert!(q.sessions.is_empty());
    assert_eq!(q.line.len(), 1);
    // An accept that reaches the log before the timer's expiry is refused by its time alone.
    ta.send(cmd("call_next")).await;
    s1.expect("offer").await;
    s.clock.advance(WINDOW + MS);
    s1.send(cmd("offer_accepted")).await;
    let refused = s1.expect("refused").await;
    assert!(refused["message"].as_str().unwrap().starts_with("Too late"));
    s.settle().await;
    assert!(s.queue(COURSE).await.sessions.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn two_tas_calling_next_at_the_same_moment_get_two_different_students() {
    let (_dir, s) = server("race", OfficeHoursConfig::default()).await;
    let mut ta1 = s.client("ta1").await;
    let mut ta2 = s.client("ta2").await;
    // On duty with nobody waiting: they wait; the first two students go to them.
    ta1.send(cmd("ta_on_duty")).await;
    ta2.send(cmd("ta_on_duty")).await;
    let mut students = Vec::new();
    for i in 1..=5 {
        let mut c = s.client(&format!("s{i}")).await;
        c.send(cmd("join")).await;
        students.push(c);
    }
    for c in &mut students[..2] {
        c.expect("offer").await;
        c.send(cmd("offer_accepted")).await;
        c.expect("session").await;
    }
    ta1.send(cmd("session_ended")).await;
    ta2.send(cmd("session_ended")).await;
    s.settle().await;
    ta1.inbox.clear();
    ta2.inbox.clear();
    // Both at once, each on its own socket.
    tokio::join!(
        ta1.send_now(cmd("call_next")),
        ta2.send_now(cmd("call_next"))
    );
    let (a, b) = tokio::join!(ta1.expect("offer"), ta2.expect("offer"));
    let a = a["ta"]["offer"]["student"].as_str().unwrap().to_owned();
    let b = b["ta"]["offer"]["student"].as_str().unwrap().to_owned();
    assert_ne!(a, b);
    let mut got = [a, b];
    got.sort();
    assert_eq!(got, [id("s3"), id("s4")], "the next two in line, in order");
    let q = s.queue(COURSE).await;
    assert_eq!(q.offers.len(), 2);
    assert_eq!(q.line.len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn cancelling_while_offered_withdraws_the_offer_and_its_timer() {
    let (_dir, s) = server("cancel", OfficeHoursConfig::default()).await;
    let mut s1 = s.client("s1").await;
    let mut s2 = s.client("s2").await;
    let mut ta = s.client("ta1").await;
    s1.send(cmd("join")).await;
    s2.send(cmd("join")).await;
    ta.send(cmd("ta_on_duty")).await;
    s1.expect("offer").await;
    s1.send(cmd("cancel")).await;
    let left = s1.expect("left").await;
    assert_eq!(left["me"]["state"], "none");
    let told = ta.expect("declined").await;
    assert!(told["message"].as_str().unwrap().contains("declined"));
    s.settle().await;
    assert_eq!(s.runtime.timers.scheduled(), 0);
    s.advance(WINDOW * 2).await;
    assert!(
        !s.log()
            .iter()
            .any(|l| l["client"]["event"] == "offer_expired")
    );
    let q = s.queue(COURSE).await;
    assert_eq!(q.stats.cancels, 1);
    assert_eq!(q.line.len(), 1);
    assert_eq!(q.line[0].student, id("s2"), "s2 is next");
    assert_eq!(s2.expect("opened").await["me"]["position"], 1);
    // Cancelling again: nothing to cancel.
    s1.send(cmd("cancel")).await;
    assert_eq!(
        s1.expect("refused").await["message"],
        "You are not in line."
    );
    s.stop().await;
}

#[tokio::test]
async fn a_student_disenrolled_while_in_line_leaves_it() {
    let (_dir, s) = server("disenroll", OfficeHoursConfig::default()).await;
    let mut s1 = s.client("s1").await;
    let mut s2 = s.client("s2").await;
    let mut s3 = s.client("s3").await;
    s1.send(cmd("join")).await;
    s2.send(cmd("join")).await;
    s3.send(cmd("join")).await;
    let mut course = roster().remove(0);
    course.members.retain(|m| m.user_id != id("s2"));
    classpulse_core::roster::import::import(
        &s.runtime.roster,
        &s.runtime.writer,
        "local",
        &[course],
    )
    .await
    .unwrap();
    s.settle().await;
    let removed = s2.expect("removed").await;
    assert_eq!(removed["me"]["state"], "none");
    assert_eq!(s3.expect("position").await["me"]["position"], 2);
    let q = s.queue(COURSE).await;
    assert_eq!(
        q.line.iter().map(|w| w.student.clone()).collect::<Vec<_>>(),
        [id("s1"), id("s3")]
    );
    // And they cannot come back.
    s2.send(cmd("join")).await;
    s.settle().await;
    assert_eq!(s.queue(COURSE).await.line.len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn closing_keeps_the_line_and_tells_the_students() {
    let (_dir, s) = server("close-keep", OfficeHoursConfig::default()).await;
    let mut s1 = s.client("s1").await;
    let mut s2 = s.client("s2").await;
    let mut ta = s.client("ta1").await;
    s1.send(cmd("join")).await;
    s2.send(cmd("join")).await;
    ta.send(cmd("ta_on_duty")).await;
    s1.expect("offer").await;
    assert_eq!(s2.expect("opened").await["me"]["open"], true);
    ta.send(cmd("ta_off_duty")).await;
    let back = s1.expect("withdrawn").await;
    assert_eq!(
        back["me"]["position"], 1,
        "the called student keeps the front"
    );
    let closed = s2.expect("closed").await;
    assert!(
        closed["message"]
            .as_str()
            .unwrap()
            .contains("keep your place")
    );
    assert_eq!(closed["me"]["open"], false);
    assert_eq!(closed["me"]["estimated_wait_secs"], serde_json::Value::Null);
    let q = s.queue(COURSE).await;
    assert_eq!(q.line.len(), 2);
    assert!(!q.is_open());
    assert_eq!(s.runtime.timers.scheduled(), 0);
    s.stop().await;
}

#[tokio::test]
async fn closing_can_clear_the_line() {
    let oh = OfficeHoursConfig {
        on_close: OnClose::Clear,
        ..OfficeHoursConfig::default()
    };
    let (_dir, s) = server("close-clear", oh).await;
    let mut s1 = s.client("s1").await;
    let mut s2 = s.client("s2").await;
    let mut ta = s.client("ta1").await;
    ta.send(cmd("ta_on_duty")).await;
    s1.send(cmd("join")).await;
    s1.expect("offer").await;
    s1.send(cmd("offer_accepted")).await;
    s2.send(cmd("join")).await;
    ta.send(cmd("ta_off_duty")).await;
    let closed = s2.expect("closed").await;
    assert!(closed["message"].as_str().unwrap().contains("cleared"));
    assert_eq!(closed["me"]["state"], "none");
    s1.expect("ended").await;
    let q = s.queue(COURSE).await;
    assert!(q.line.is_empty() && q.sessions.is_empty());
    assert_eq!(q.stats.sessions_ended, 1);
    s.stop().await;
}

#[tokio::test]
async fn positions_and_estimates_follow_service_times_and_tas_on_duty() {
    let (_dir, s) = server("estimate", OfficeHoursConfig::default()).await;
    let mut ta1 = s.client("ta1").await;
    let mut ta2 = s.client("ta2").await;
    let mut s1 = s.client("s1").await;
    ta1.send(cmd("ta_on_duty")).await;
    s1.send(cmd("join")).await;
    s1.expect("offer").await;
    s1.send(cmd("offer_accepted")).await;
    s.advance(Duration::from_secs(120)).await;
    ta1.send(cmd("session_ended")).await;
    // One session of 2 minutes: the estimate uses it.
    let mut waiting = Vec::new();
    for i in 2..=5 {
        let mut c = s.client(&format!("s{i}")).await;
        c.send(cmd("join")).await;
        waiting.push(c);
    }
    let me = waiting[3].expect("joined").await["me"].clone();
    assert_eq!(me["position"], 4);
    assert_eq!(me["estimated_wait_secs"], 4 * 120);
    // A second TA halves it; that TA is called the front student at once.
    ta2.send(cmd("ta_on_duty")).await;
    waiting[0].expect("offer").await;
    let update = waiting[3].expect("position").await;
    assert_eq!(update["me"]["position"], 3);
    assert_eq!(update["me"]["estimated_wait_secs"], 2 * 120);
    assert_eq!(update["me"]["tas_on_duty"], 2);
    s.stop().await;
}

#[tokio::test]
async fn duty_events_from_the_server_name_the_ta_and_announcements_reach_the_line() {
    let (_dir, s) = server("system", OfficeHoursConfig::default()).await;
    let mut s1 = s.client("s1").await;
    s1.send(cmd("join")).await;
    // An administrator (not on the roster) acts as the server, as the timetable does.
    let admin = s.cookie("root", Kind::Staff, true);
    let (status, body) = s
        .http(
            "POST",
            "/api/office_hours/C1",
            Some(&admin),
            Some(&json!({"event": "ta_on_duty", "ta": id("ta2"), "origin": "timetable", "at": 1})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["queue"]["on_duty"][0]["id"], id("ta2"));
    assert_eq!(body["queue"]["on_duty"][0]["origin"], "timetable");
    let offer = s1.expect("offer").await;
    assert_eq!(offer["me"]["offer"]["ta"], id("ta2"));
    let mut t1 = s.client("t1").await;
    t1.send(json!({"event": "announcement", "text": "Back in 5 minutes"}))
        .await;
    let a = s1.expect("announcement").await;
    assert_eq!(a["message"], "Back in 5 minutes");
    assert_eq!(a["me"]["announcement"]["text"], "Back in 5 minutes");
    // Students cannot announce, TAs cannot change settings, teachers can.
    s1.send(json!({"event": "announcement", "text": "hi"}))
        .await;
    s1.expect("refused").await;
    let mut ta1 = s.client("ta1").await;
    ta1.send(json!({"event": "settings", "offer_window_secs": 60}))
        .await;
    ta1.expect("refused").await;
    t1.send(json!({"event": "settings", "offer_window_secs": 60, "on_close": "clear"}))
        .await;
    s.settle().await;
    let q = s.queue(COURSE).await;
    assert_eq!(q.settings.offer_window_secs, Some(60));
    assert_eq!(q.settings.on_close, Some(OnClose::Clear));
    // Only the timer service expires offers.
    s1.send(json!({"event": "offer_expired", "offer": 1})).await;
    s1.expect("refused").await;
    assert_eq!(s.queue(COURSE).await.offers.len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_signed_in_page_is_its_session_on_the_ingest_socket() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (_dir, s) = server("session", OfficeHoursConfig::default()).await;
    let open = |origin: Option<&'static str>| {
        let mut req = s.ws_url().into_client_request().unwrap();
        req.headers_mut().insert(
            "Cookie",
            s.cookie(&id("s1"), Kind::Student, false).parse().unwrap(),
        );
        if let Some(o) = origin {
            req.headers_mut().insert("Origin", o.parse().unwrap());
        }
        tokio_tungstenite::connect_async(req)
    };
    let (mut ws, _) = open(None).await.unwrap();
    let first = tokio::time::timeout(T, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(first, json!({"status": "auth", "user_id": id("s1")}));
    ws.send(Message::Text(
        json!({"event": "join", "source": "org.classpulse.office_hours", "course_id": COURSE})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let told = loop {
        let m = tokio::time::timeout(T, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
        if v["status"] == "office_hours" {
            break v;
        }
    };
    assert_eq!(told["what"], "joined");
    // From another site's page the cookie is not used: no identity, nothing accepted.
    let (mut other, _) = open(Some("https://evil.example")).await.unwrap();
    other
        .send(Message::Text(
            json!({"event": "cancel", "source": "org.classpulse.office_hours", "course_id": COURSE})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), other.next())
            .await
            .is_err(),
        "held, unauthenticated"
    );
    s.settle().await;
    assert_eq!(s.queue(COURSE).await.line.len(), 1);
    let _ = Role::Student;
    let _: Option<DesiredMember> = None;
    s.stop().await;
}

#[tokio::test]
async fn a_question_over_the_limit_is_refused_and_nothing_else_is() {
    let oh = OfficeHoursConfig {
        max_question_chars: 10,
        ..OfficeHoursConfig::default()
    };
    let (_dir, s) = server("question-limit", oh).await;
    let mut s1 = s.client("s1").await;
    let mut s2 = s.client("s2").await;
    // Eleven characters (counted as characters, not bytes): refused, with the limit named.
    s1.send(json!({"event": "join", "question": "Rekursión??"}))
        .await;
    let refused = s1.expect("refused").await;
    assert_eq!(
        refused["message"],
        "Your question is longer than 10 characters; shorten it."
    );
    // Exactly at the limit, from another student: joins.
    s2.send(json!({"event": "join", "question": "Recursión?"}))
        .await;
    assert_eq!(s2.expect("joined").await["me"]["position"], 1);
    // The refused student may join again with a shorter question.
    s1.send(json!({"event": "join", "question": "Loops"})).await;
    assert_eq!(s1.expect("joined").await["me"]["position"], 2);
    s.settle().await;
    let q = s.queue(COURSE).await;
    assert_eq!(q.line.len(), 2);
    assert_eq!(q.line[0].question, "Recursión?");
    s.stop().await;
}
