//! Now/next under a manual clock across a whole simulated day, through the real runtime: the
//! course's timer fires at each session start and end, the state and the HTTP view follow,
//! office-hour blocks put TAs on and off duty through the log (or only remind, by course),
//! the week comes out as JSON and iCalendar, imports go through the authenticated endpoint,
//! and a restart replays to the same state without firing anything twice.

mod common;

use classpulse_core::clock::ManualClock;
use classpulse_core::event::Timestamp;
use classpulse_core::pubsub::{Delivery, NOTIFICATIONS};
use classpulse_timetable::http::{admin_token, course_state};
use classpulse_timetable::import::Format;
use classpulse_timetable::reducers::CourseState;
use common::{Node, TempDir, config, fixture, http, ny};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;

/// (time, sessions now, sessions next, TAs on duty).
type Step = (
    Timestamp,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

async fn state_at(node: &Node, course: &str, at: Timestamp) -> CourseState {
    for _ in 0..500 {
        if let Some(s) = course_state(&node.runtime, course).await.unwrap()
            && s.live.at == at
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "course {course} never reached {at:?}: {:#?}",
        course_state(&node.runtime, course).await.unwrap()
    );
}

fn sessions(s: &CourseState) -> (Vec<String>, Vec<String>) {
    (
        s.live.now.iter().map(|x| x.section.clone()).collect(),
        s.live.next.iter().map(|x| x.section.clone()).collect(),
    )
}

fn duty_events(node: &Node) -> Vec<(String, String, String, Timestamp)> {
    node.log()
        .into_iter()
        .filter(|l| l["source"] == "org.classpulse.office_hours")
        .map(|l| {
            let c = &l["client"];
            (
                c["event"].as_str().unwrap().to_owned(),
                c["course_id"].as_str().unwrap().to_owned(),
                c["ta"].as_str().unwrap().to_owned(),
                l["time"].to_string().parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_whole_monday() {
    let dir = TempDir::new("day");
    let clock = ManualClock::new(ny(2026, 9, 14, 7, 0));
    let cfg = config();
    let node = Node::start(&dir, &clock, cfg.clone()).await;
    let plan = node
        .import(&fixture("university.toml"), Format::Toml, None, &cfg)
        .await;
    assert!(plan.conflicts.is_empty());
    assert!(!plan.events.is_empty());

    // 07:00: nothing yet; the lecture at 9:00 is next, Grace's office hours at 13:00.
    let s = state_at(&node, "CS101", ny(2026, 9, 14, 7, 0)).await;
    assert_eq!(sessions(&s), (vec![], vec!["L1".into()]));
    assert_eq!(s.live.next_duty[0].ta, "grace");
    assert_eq!(s.tick_at, Some(ny(2026, 9, 14, 9, 0)));
    let (status, body) = node.get("/api/timetable/courses/CS101/now").await;
    assert_eq!(status, 200, "{body}");
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["next"][0]["starts_in_secs"], 7200);
    assert_eq!(view["next"][0]["room"]["name"], "Science 101");
    assert_eq!(view["next"][0]["instructors"][0]["name"], "Ada Lovelace");
    assert_eq!(view["next"][0]["start_local"], "2026-09-14T09:00");
    assert_eq!(view["next_duty"][0]["ta"]["name"], "Grace Hopper");

    // Each start and end, in order: (time, now, next, TAs on duty).
    let steps: [Step; 8] = [
        (ny(2026, 9, 14, 9, 0), &["L1"], &["D1"], &[]),
        (ny(2026, 9, 14, 9, 50), &[], &["D1"], &[]),
        (ny(2026, 9, 14, 10, 0), &["D1"], &["B1"], &[]),
        (ny(2026, 9, 14, 10, 50), &[], &["B1"], &[]),
        (ny(2026, 9, 14, 13, 0), &[], &["B1"], &["grace"]),
        (ny(2026, 9, 14, 14, 0), &[], &["B1"], &["alan", "grace"]),
        (ny(2026, 9, 14, 15, 0), &[], &["B1"], &["alan"]),
        (ny(2026, 9, 14, 16, 0), &[], &["B1"], &[]),
    ];
    let mut duty_so_far = 0;
    for (at, now, next, on_duty) in steps {
        clock.set(at);
        let s = state_at(&node, "CS101", at).await;
        // A duty change is appended by the timer service just after the tick: wait for it
        // before moving the clock on, or it would be stamped with the later time.
        if at >= ny(2026, 9, 14, 13, 0) {
            duty_so_far += 1;
            for _ in 0..500 {
                if duty_events(&node).len() >= duty_so_far {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let (n, x) = sessions(&s);
        assert_eq!(n, now, "now at {at:?}");
        assert_eq!(x, next, "next at {at:?}");
        let mut tas: Vec<&str> = s.live.on_duty.iter().map(|d| d.ta.as_str()).collect();
        tas.sort();
        assert_eq!(tas, on_duty, "on duty at {at:?}");
    }
    let s = state_at(&node, "CS101", ny(2026, 9, 14, 16, 0)).await;
    assert_eq!(
        s.live.next[0].start,
        ny(2026, 9, 15, 14, 0),
        "Tuesday's lab"
    );
    assert_eq!(s.tick_at, Some(ny(2026, 9, 15, 14, 0)));

    // Duty went through the log as the office-hours module's events, at the blocks' times.
    let duty = duty_events(&node);
    assert_eq!(
        duty,
        vec![
            (
                "ta_on_duty".into(),
                "CS101".into(),
                "grace".into(),
                ny(2026, 9, 14, 13, 0)
            ),
            (
                "ta_on_duty".into(),
                "CS101".into(),
                "alan".into(),
                ny(2026, 9, 14, 14, 0)
            ),
            (
                "ta_off_duty".into(),
                "CS101".into(),
                "grace".into(),
                ny(2026, 9, 14, 15, 0)
            ),
            (
                "ta_off_duty".into(),
                "CS101".into(),
                "alan".into(),
                ny(2026, 9, 14, 16, 0)
            ),
        ]
    );
    let on = node
        .log()
        .into_iter()
        .find(|l| l["client"]["event"] == "ta_on_duty")
        .unwrap();
    assert_eq!(on["auth"]["providence"], "system");
    assert_eq!(on["client"]["block_id"], "grace-mon");
    assert_eq!(
        on["client"]["at"].as_i64(),
        Some(ny(2026, 9, 14, 13, 0).as_micros())
    );
    assert_eq!(
        on["client"]["until"].as_i64(),
        Some(ny(2026, 9, 14, 15, 0).as_micros()),
        "µs"
    );

    // The week as JSON and as iCalendar.
    let (status, body) = node
        .get("/api/timetable/courses/CS101/week?date=2026-09-16")
        .await;
    assert_eq!(status, 200, "{body}");
    let week: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(week["week"]["from"], "2026-09-14");
    assert_eq!(week["items"].as_array().unwrap().len(), 8);
    assert_eq!(week["items"][0]["start_local"], "2026-09-14T09:00");
    let (status, ics) = node
        .get("/api/timetable/courses/CS101/week.ics?date=2026-09-14")
        .await;
    assert_eq!(status, 200);
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 8);
    assert!(ics.contains("DTSTART:20260914T130000Z"), "{ics}");
    let (status, term) = node.get("/api/timetable/courses/CS101/calendar.ics").await;
    assert_eq!(status, 200);
    assert!(term.matches("BEGIN:VEVENT").count() > 100);
    assert!(!term.contains("DTSTART:20260907T"), "no class on Labor Day");
    let (status, _) = node.get("/api/timetable/courses/NOPE/now").await;
    assert_eq!(status, 404);
    // Nobody outside the course reads its timetable (rights: docs/security.md).
    for path in [
        "/api/timetable/courses/CS101/now",
        "/api/timetable/courses/CS101/week",
        "/api/timetable/courses/CS101/calendar.ics",
        "/api/timetable/conflicts",
    ] {
        assert_eq!(node.get_anonymous(path).await.0, 401, "{path}");
    }
    let (status, _) = node
        .get("/api/timetable/courses/CS101/week?date=monday")
        .await;
    assert_eq!(status, 400);
    let (status, body) = node.get("/api/timetable/conflicts").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["count"], 0);

    // Importing the same file again changes nothing.
    let again = node
        .import(&fixture("university.toml"), Format::Toml, None, &cfg)
        .await;
    assert!(again.events.is_empty(), "{:?}", again.events);

    // A restart replays to the same state and fires nothing twice.
    let before = course_state(&node.runtime, "CS101").await.unwrap();
    let lines = node.log().len();
    node.stop().await;
    let node = Node::start(&dir, &clock, cfg.clone()).await;
    assert_eq!(course_state(&node.runtime, "CS101").await.unwrap(), before);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(node.log().len(), lines, "nothing fired at restart");
    assert_eq!(node.runtime.timers.scheduled(), 2, "one tick per course");
    // And the next tick still fires: Tuesday's lab starts.
    clock.set(ny(2026, 9, 15, 14, 0));
    let s = state_at(&node, "CS101", ny(2026, 9, 15, 14, 0)).await;
    assert_eq!(sessions(&s).0, vec!["B1".to_string()]);
    node.stop().await;
}

#[tokio::test]
async fn reminder_courses_notify_staff_instead_of_opening_the_queue() {
    let dir = TempDir::new("reminder");
    let clock = ManualClock::new(ny(2026, 9, 16, 15, 0));
    let cfg = config();
    let node = Node::start(&dir, &clock, cfg.clone()).await;
    node.import(&fixture("university.toml"), Format::Toml, None, &cfg)
        .await;
    state_at(&node, "MATH200", ny(2026, 9, 16, 15, 0)).await;
    let mut notes = node.runtime.pubsub.subscribe(NOTIFICATIONS).await.unwrap();
    clock.set(ny(2026, 9, 16, 16, 0));
    let s = state_at(&node, "MATH200", ny(2026, 9, 16, 16, 0)).await;
    assert_eq!(s.live.on_duty[0].ta, "alan");
    let note = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Delivery::Message(bytes)) = notes.next().await {
                // One message per applied batch: an array of notifications.
                let batch: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
                if let Some(v) = batch
                    .into_iter()
                    .find(|v| v["message"]["kind"] == "office_hours_reminder")
                {
                    return v;
                }
            }
        }
    })
    .await
    .expect("a reminder");
    assert_eq!(
        note["to"],
        serde_json::json!({"kind": "course_staff", "id": "MATH200"})
    );
    assert_eq!(note["message"]["ta"], "alan");
    assert_eq!(note["message"]["action"], "open");
    assert!(
        duty_events(&node).is_empty(),
        "reminder mode emits no duty events"
    );
    node.stop().await;
}

#[tokio::test]
async fn imports_through_the_api_need_an_admin_token() {
    let dir = TempDir::new("api");
    let clock = ManualClock::new(ny(2026, 9, 14, 7, 0));
    let cfg = config();
    let node = Node::start(&dir, &clock, cfg.clone()).await;
    node.import(&fixture("university.toml"), Format::Toml, None, &cfg)
        .await;
    let ics = fixture("cs101.ics");
    let path = "/api/timetable/import?format=ics&course=CS101";
    let (status, _) = http(node.addr, "POST", path, &[], &ics).await;
    assert_eq!(status, 401);
    let secret = b"a-test-secret-of-32-bytes-length";
    let now = ny(2026, 9, 14, 7, 0).as_micros() / 1_000_000;
    let student = classpulse_core::auth::token::issue(
        secret,
        &classpulse_core::auth::token::Claims {
            sub: "timetable-admin".into(),
            exp: now + 60,
        },
    );
    let (status, _) = http(
        node.addr,
        "POST",
        path,
        &[("Authorization", &format!("Bearer {student}"))],
        &ics,
    )
    .await;
    assert_eq!(status, 401, "a student token is not an admin token");
    let token = admin_token(secret, now, 60);
    let auth = format!("Bearer {token}");
    let (status, body) = http(
        node.addr,
        "POST",
        &format!("{path}&dry_run=true"),
        &[("Authorization", &auth)],
        &ics,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let dry: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(dry["appended"], 0);
    assert_eq!(dry["events"], 1);
    let (status, body) = http(node.addr, "POST", path, &[("Authorization", &auth)], &ics).await;
    assert_eq!(status, 200, "{body}");
    let done: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(done["appended"], 1);
    assert!(done["warnings"].as_array().unwrap().len() >= 3);
    let s = course_state(&node.runtime, "CS101").await.unwrap().unwrap();
    let schedule = s.schedule.unwrap();
    assert!(
        schedule
            .course
            .sections
            .iter()
            .any(|x| x.id == "cs-101-lecture")
    );
    assert_eq!(
        schedule.course.title, "Introduction to Computer Science",
        "kept"
    );
    let (status, body) = http(
        node.addr,
        "POST",
        "/api/timetable/import?format=toml",
        &[("Authorization", &auth)],
        "[[rooms]]\nid = 3\n",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("line 2"), "{body}");
    node.stop().await;
}
