//! Rosters in the log: roster files imported at start-up (idempotently), course-scoped
//! reducers that run only for members of the course as of that point of the log (with the
//! member's role), and the same answers after a restart replays the log.

mod common;

use classpulse_core::config::Config;
use classpulse_core::event::Event;
use classpulse_core::kvs::{Slot, StateKey};
use classpulse_core::module::{Module, ModuleBuilder};
use classpulse_core::reducer::{Outcome, Reducer, Scope, ScopeKey};
use classpulse_core::roster::config::{DesiredCourse, DesiredMember};
use classpulse_core::roster::{Access, Role, import, member_role};
use common::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const SOURCE: &str = "org.test.course";

/// Records who reached the course's state, and as what.
struct Joins;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct JoinState {
    seen: Vec<(String, String)>,
}

impl Reducer for Joins {
    type State = JoinState;
    fn name(&self) -> &str {
        "test.joins"
    }
    fn sources(&self) -> &[&str] {
        &[SOURCE]
    }
    fn scope(&self) -> Scope {
        Scope::course()
    }
    fn reduce(&self, state: &mut JoinState, event: &Event<'_>) -> Outcome {
        let role = match member_role(event) {
            Some(Access::Member(r)) => r.as_str().to_owned(),
            other => format!("{other:?}"),
        };
        state.seen.push((event.safe_user_id().to_owned(), role));
        Outcome::changed()
    }
}

struct CourseModule;

impl Module for CourseModule {
    fn name(&self) -> &str {
        "course_test"
    }
    fn register(&self, m: &mut ModuleBuilder) {
        m.reducer(Joins);
    }
}

async fn start(config: &Config, dir: &TempDir) -> TestServer {
    TestServer::start(
        config.clone(),
        dir.path(),
        vec![Arc::new(CourseModule)],
        None,
    )
    .await
}

async fn joins(s: &TestServer, course: &str) -> Vec<(String, String)> {
    let key = StateKey {
        reducer: Arc::from("test.joins"),
        scope: ScopeKey::course(course),
    };
    let reducer = s
        .runtime
        .registry
        .get("test.joins")
        .unwrap()
        .reducer
        .clone();
    let mut out = Vec::new();
    s.runtime
        .kvs
        .read(&key, &*reducer, &mut |slot: Option<&Slot>| {
            if let Some(state) = slot.and_then(|s| s.state.as_any().downcast_ref::<JoinState>()) {
                out = state.seen.clone();
            }
        })
        .await
        .unwrap();
    out
}

async fn student_socket(s: &TestServer, user: &str) -> Ws {
    let mut ws = connect(&s.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {"source": SOURCE, "user_id": user, "ack": true}}),
    )
    .await;
    ws
}

async fn send_and_ack(ws: &mut Ws, event: serde_json::Value, count: u64) {
    send_json(ws, &event).await;
    loop {
        let ack = recv_status(ws, "ack", T).await.expect("acked");
        if ack["count"].as_u64() >= Some(count) {
            return;
        }
    }
}

#[tokio::test]
async fn course_reducers_run_only_for_members_as_of_that_point_in_the_log() {
    let dir = TempDir::new("roster-auth");
    let roster = dir.path().join("roster.toml");
    std::fs::write(
        &roster,
        r#"
[[course]]
id = "c1"
name = "Biology"
members = [
  { user_id = "t.smith", name = "Ms Smith", role = "teacher" },
  { user_id = "tc-testcase-ann", name = "Ann", role = "student" },
]
"#,
    )
    .unwrap();
    let mut config = Config::default();
    config.roster.files = vec![roster.clone()];
    let s = start(&config, &dir).await;
    let course = s.runtime.roster.course("c1").expect("imported at start-up");
    assert_eq!(course.name, "Biology");
    assert_eq!(course.member("t.smith").unwrap().role, Role::Teacher);

    let mut ann = student_socket(&s, "ann").await;
    let mut bob = student_socket(&s, "bob").await;
    send_and_ack(&mut ann, json!({"event": "join", "course_id": "c1"}), 1).await;
    // Bob is not in the course: his event is logged, but never reaches its reducers.
    send_and_ack(&mut bob, json!({"event": "join", "course_id": "c1"}), 1).await;
    // Enroll Bob (what `classpulse roster import` sends to a running server).
    let mut want = DesiredCourse {
        id: "c1".into(),
        name: None,
        members: vec![
            DesiredMember {
                user_id: "t.smith".into(),
                name: "Ms Smith".into(),
                email: String::new(),
                role: Role::Teacher,
            },
            DesiredMember {
                user_id: "tc-testcase-ann".into(),
                name: "Ann".into(),
                email: String::new(),
                role: Role::Student,
            },
            DesiredMember {
                user_id: "tc-testcase-bob".into(),
                name: "Bob".into(),
                email: String::new(),
                role: Role::Ta,
            },
        ],
    };
    let report = import::import(
        &s.runtime.roster,
        &s.runtime.writer,
        "local",
        &[want.clone()],
    )
    .await
    .unwrap();
    assert_eq!(report.events, 1);
    send_and_ack(&mut bob, json!({"event": "join", "course_id": "c1"}), 2).await;
    // Ann leaves; her next event no longer reaches the course.
    want.members.retain(|m| m.user_id != "tc-testcase-ann");
    import::import(&s.runtime.roster, &s.runtime.writer, "local", &[want])
        .await
        .unwrap();
    send_and_ack(&mut ann, json!({"event": "join", "course_id": "c1"}), 2).await;
    // Events for a course that does not exist reach nothing.
    send_and_ack(&mut ann, json!({"event": "join", "course_id": "c9"}), 3).await;
    s.settle().await;
    let expected = vec![
        ("tc-testcase-ann".to_owned(), "student".to_owned()),
        ("tc-testcase-bob".to_owned(), "ta".to_owned()),
    ];
    assert_eq!(joins(&s, "c1").await, expected);
    assert!(joins(&s, "c9").await.is_empty());
    let logged = s.log().len();
    s.stop().await;

    // A restart replays the log (membership as of each event) and imports the roster file
    // again: the file lists Ann and no Bob (a TA now), so exactly those changes are appended.
    let s = start(&config, &dir).await;
    assert_eq!(joins(&s, "c1").await, expected);
    let log = s.log();
    let appended: Vec<_> = log[logged..]
        .iter()
        .map(|l| l["client"]["event"].clone())
        .collect();
    assert_eq!(
        appended,
        [json!("staff_removed"), json!("enrolled")],
        "{appended:?}"
    );
    s.stop().await;

    // Once the roster agrees with the file, a restart appends nothing.
    let s = start(&config, &dir).await;
    assert_eq!(s.log().len(), log.len());
    s.stop().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = TempDir::new("roster-lock");
    let s = start(&Config::default(), &dir).await;
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_owned();
    let second = classpulse_core::runtime::Runtime::start(
        classpulse_core::runtime::RuntimeOptions::new(config, vec![]),
    )
    .await;
    let error = second.err().expect("refused").to_string();
    assert!(error.contains("in use"), "{error}");
    s.stop().await;
}
