//! The hand's rules, with the core's `ReducerHarness`: events at given server times in,
//! states and timers out.

use classpulse_core::reducer::Effect;
use classpulse_core::testing::ReducerHarness;
use classpulse_example_hands::{FORGOTTEN, HandReducer};
use serde_json::json;

#[test]
fn a_hand_goes_up_and_down() {
    let mut h = ReducerHarness::new(HandReducer);
    h.as_student("ann").send(10, json!({"event": "raise"}));
    assert_eq!(h.state().times, 1);
    let timer = h.timer("hands.forgotten.ann").expect("a timer is armed");
    assert_eq!(h.secs(timer.at), 10.0 + FORGOTTEN.as_secs_f64());
    assert!(
        !h.send(20, json!({"event": "raise"})).is_changed(),
        "already up"
    );
    let lowered = h.send(30, json!({"event": "lower"}));
    assert!(matches!(lowered.effects(), [Effect::CancelTimer { .. }]));
    assert_eq!(h.state().raised_at, None);
    assert!(h.timers().is_empty());
}

#[test]
fn a_forgotten_hand_comes_down_by_itself() {
    let mut h = ReducerHarness::new(HandReducer);
    h.as_student("ann").send(0, json!({"event": "raise"}));
    h.as_student("bo").send(60, json!({"event": "raise"}));
    assert_eq!(h.advance(FORGOTTEN.as_secs() - 1), 0);
    assert_eq!(h.advance(FORGOTTEN.as_secs()), 1, "ann's timer fires");
    assert_eq!(h.student("ann").unwrap().raised_at, None);
    assert!(h.student("bo").unwrap().raised_at.is_some());
    // Raising again arms a new timer.
    h.as_student("ann")
        .send(FORGOTTEN.as_secs() + 5, json!({"event": "raise"}));
    assert_eq!(h.student("ann").unwrap().times, 2);
    assert_eq!(h.timers().len(), 2);
}
