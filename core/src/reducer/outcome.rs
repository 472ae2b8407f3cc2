//! What a reducer returns: whether the state changed, and the effects it asks for.

use crate::event::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The result of applying one event.
///
/// ```
/// use classpulse_core::reducer::{Outcome, Recipient};
/// let o = Outcome::changed().notify(Recipient::Student("s1".into()), serde_json::json!({"status": "called"}));
/// assert!(o.is_changed());
/// assert_eq!(o.effects().len(), 1);
/// ```
#[derive(Debug, Default, Clone, PartialEq)]
#[must_use]
pub struct Outcome {
    changed: bool,
    effects: Vec<Effect>,
    error: Option<String>,
}

impl Outcome {
    /// The event did not change the state.
    pub fn unchanged() -> Self {
        Outcome::default()
    }

    /// The event changed the state: it is stored and a change is published.
    pub fn changed() -> Self {
        Outcome {
            changed: true,
            ..Outcome::default()
        }
    }

    /// `changed()` when `changed` is true, else `unchanged()`.
    pub fn from_changed(changed: bool) -> Self {
        Outcome {
            changed,
            ..Outcome::default()
        }
    }

    /// The reducer could not handle the event (a malformed payload, say). It is logged and
    /// counted; whatever the reducer did to the state stands, as it would on replay.
    pub fn error(reason: impl Into<String>) -> Self {
        Outcome {
            error: Some(reason.into()),
            ..Outcome::default()
        }
    }

    /// Adds an effect.
    pub fn with(mut self, effect: Effect) -> Self {
        self.effects.push(effect);
        self
    }

    /// Adds a notification.
    pub fn notify(self, to: Recipient, message: Value) -> Self {
        self.with(Effect::Notify { to, message })
    }

    /// Adds a timer.
    pub fn timer(self, timer: TimerRequest) -> Self {
        self.with(Effect::Timer(timer))
    }

    /// Whether the state changed.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// The effects asked for.
    pub fn effects(&self) -> &[Effect] {
        &self.effects
    }

    /// The error the reducer reported, if any.
    pub fn error_reason(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Splits into (changed, effects, error).
    pub fn into_parts(self) -> (bool, Vec<Effect>, Option<String>) {
        (self.changed, self.effects, self.error)
    }
}

/// Something a reducer asks the runtime to do after its state change is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Send `message` to whoever `to` names, on their open sockets (as a `status` message on
    /// `/wsapi/in/`). Not re-sent when the log is replayed.
    Notify {
        /// Who gets it.
        to: Recipient,
        /// The message (a JSON object; `status` is set to `"notify"` when absent).
        message: Value,
    },
    /// Emit an event through the log at a given time (durable: survives restarts).
    Timer(TimerRequest),
    /// Cancel a pending timer by id (no-op when it already fired or never existed).
    CancelTimer {
        /// The timer id.
        id: String,
    },
}

/// Who a notification is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Recipient {
    /// A student, by safe user id.
    Student(String),
    /// Every staff member of a course.
    CourseStaff(String),
    /// Everybody connected to a course.
    Course(String),
}

/// A durable timer: at `at`, the runtime appends `event` to the log (with the identity of the
/// event that armed it and `"timer": id` in the envelope), so it is reduced like any other.
/// Ids are unique per installation; arming an existing id replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerRequest {
    /// Unique id (`office_hours.offer.<course>.<n>`); the fired event carries it.
    pub id: String,
    /// When to fire (server time).
    pub at: Timestamp,
    /// The client event to emit (an object with at least `event` and `source`).
    pub event: Value,
}
