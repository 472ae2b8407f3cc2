//! Small modules for the core's tests.

#![allow(dead_code, unreachable_pub, missing_docs)]

use classpulse_core::event::{Event, Timestamp};
use classpulse_core::module::{Module, ModuleBuilder};
use classpulse_core::reducer::{Outcome, Recipient, Reducer, Scope, TimerRequest};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const SOURCE: &str = "org.test";

/// Counts events per student, and remembers the kinds seen.
pub struct Count;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CountState {
    pub count: u64,
    pub kinds: Vec<String>,
}

impl Reducer for Count {
    type State = CountState;
    fn name(&self) -> &str {
        "test.count"
    }
    fn sources(&self) -> &[&str] {
        &[SOURCE]
    }
    fn scope(&self) -> Scope {
        Scope::student()
    }
    fn reduce(&self, state: &mut CountState, event: &Event<'_>) -> Outcome {
        if event.kind() == "panic" {
            panic!("asked to panic");
        }
        state.count += 1;
        state.kinds.push(event.kind().into_owned());
        Outcome::changed()
    }
}

/// `arm` arms a timer 10 s later; the fired `ring` event counts; `poke` notifies the student.
pub struct Alarm;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AlarmState {
    pub armed: u64,
    pub rang: u64,
    pub rang_at: Vec<Timestamp>,
}

impl Reducer for Alarm {
    type State = AlarmState;
    fn name(&self) -> &str {
        "test.alarm"
    }
    fn sources(&self) -> &[&str] {
        &[SOURCE]
    }
    fn scope(&self) -> Scope {
        Scope::student()
    }
    fn reduce(&self, state: &mut AlarmState, event: &Event<'_>) -> Outcome {
        match event.kind().as_ref() {
            "arm" => {
                state.armed += 1;
                Outcome::changed().timer(TimerRequest {
                    id: format!("alarm.{}.{}", event.safe_user_id(), state.armed),
                    at: event.time.plus(Duration::from_secs(10)),
                    event: serde_json::json!({"event": "ring", "source": SOURCE}),
                })
            }
            "ring" if event.timer.is_some() => {
                state.rang += 1;
                state.rang_at.push(event.time);
                Outcome::changed()
            }
            "poke" => Outcome::unchanged().notify(
                Recipient::Student(event.safe_user_id().to_owned()),
                serde_json::json!({"status": "poked", "by": "test"}),
            ),
            _ => Outcome::unchanged(),
        }
    }
}

pub struct TestModule;

impl Module for TestModule {
    fn name(&self) -> &str {
        "test"
    }
    fn register(&self, m: &mut ModuleBuilder) {
        m.reducer(Count).reducer(Alarm).reducer(Repeater);
    }
}

/// `start` arms a timer that re-arms itself (same id) each time it rings, up to 3 rings.
pub struct Repeater;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RepeaterState {
    pub rings: u64,
}

impl Reducer for Repeater {
    type State = RepeaterState;
    fn name(&self) -> &str {
        "test.repeater"
    }
    fn sources(&self) -> &[&str] {
        &[SOURCE]
    }
    fn scope(&self) -> Scope {
        Scope::student()
    }
    fn reduce(&self, state: &mut RepeaterState, event: &Event<'_>) -> Outcome {
        let again = |at: Timestamp| TimerRequest {
            id: format!("repeat.{}", event.safe_user_id()),
            at,
            event: serde_json::json!({"event": "tick", "source": SOURCE}),
        };
        match event.kind().as_ref() {
            "start" => Outcome::changed().timer(again(event.time.plus(Duration::from_secs(1)))),
            "tick" if event.timer.is_some() => {
                state.rings += 1;
                if state.rings < 3 {
                    Outcome::changed().timer(again(event.time.plus(Duration::from_secs(1))))
                } else {
                    Outcome::changed()
                }
            }
            _ => Outcome::unchanged(),
        }
    }
}
