//! Raised hands: a complete small ClassPulse module, to copy.
//!
//! A student's page sends `{"event": "raise"}` or `{"event": "lower"}` (source
//! [`SOURCE`]) over `/wsapi/in/`. [`HandReducer`] keeps each student's hand; a hand left up for
//! [`FORGOTTEN`] is lowered by a timer. [`HandsView`] turns a course's hands into a tile on the
//! educator dashboard: how many are up, and whose, first raised first. [`HandsModule`]
//! registers both. `docs/writing-a-module.md` walks through this file.

use async_trait::async_trait;
use classpulse_core::aggregator::{Aggregator, StateReader, StudentRef, SummaryInputs, Tile};
use classpulse_core::event::{Event, Timestamp};
use classpulse_core::kvs::KvsError;
use classpulse_core::module::{Module, ModuleBuilder};
use classpulse_core::reducer::{Effect, Outcome, Reducer, Scope, TimerRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// The event source of the hands module's events.
pub const SOURCE: &str = "org.example.hands";
/// A hand still up after this long is lowered by itself.
pub const FORGOTTEN: Duration = Duration::from_secs(15 * 60);

/// One student's hand.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hand {
    /// Since when it is up (server time); `None`: down.
    pub raised_at: Option<Timestamp>,
    /// How many times it went up.
    pub times: u32,
}

/// `hands.hand`: each student's hand, per student.
pub struct HandReducer;

impl Reducer for HandReducer {
    type State = Hand;
    fn name(&self) -> &str {
        "hands.hand"
    }
    fn sources(&self) -> &[&str] {
        &[SOURCE]
    }
    fn scope(&self) -> Scope {
        Scope::student()
    }
    fn reduce(&self, hand: &mut Hand, event: &Event<'_>) -> Outcome {
        // One timer per student; arming it again replaces it.
        let timer = format!("hands.forgotten.{}", event.safe_user_id());
        match (&*event.kind(), hand.raised_at) {
            ("raise", None) => {
                hand.raised_at = Some(event.time);
                hand.times += 1;
                Outcome::changed().timer(TimerRequest {
                    id: timer,
                    at: event.time.plus(FORGOTTEN),
                    event: json!({"event": "lower", "source": SOURCE}),
                })
            }
            ("lower", Some(_)) => {
                hand.raised_at = None;
                Outcome::changed().with(Effect::CancelTimer { id: timer })
            }
            _ => Outcome::unchanged(),
        }
    }
}

/// `hands.class`: a course's raised hands, shown as a tile.
pub struct HandsView;

#[async_trait]
impl Aggregator for HandsView {
    fn name(&self) -> &str {
        "hands.class"
    }
    fn title(&self) -> &str {
        "Hands up"
    }
    fn student_inputs(&self) -> &[&str] {
        &["hands.hand"]
    }
    fn tile(&self) -> bool {
        true
    }
    async fn row(&self, s: StudentRef<'_>, states: &StateReader<'_>) -> Result<Value, KvsError> {
        let hand: Option<Hand> = states.cloned("hands.hand", &s.key()).await?;
        let raised = hand.and_then(|h| h.raised_at).map(|t| t.as_secs_f64());
        Ok(json!({"name": s.member.name, "raised_at": raised}))
    }
    fn summary(&self, i: SummaryInputs<'_>) -> Value {
        let mut up: Vec<(f64, &str)> = (i.rows.values())
            .filter_map(|r| Some((r["raised_at"].as_f64()?, r["name"].as_str()?)))
            .collect();
        up.sort_by(|a, b| a.0.total_cmp(&b.0));
        let names: Vec<&str> = up.iter().map(|(_, name)| *name).collect();
        let tile = Tile::new(up.len(), if up.len() == 1 { "hand up" } else { "hands up" });
        let tile = match up.first() {
            Some((first, _)) => {
                let minutes = ((i.now.as_secs_f64() - first) / 60.0).floor();
                tile.detail(format!("{} (longest {minutes} min)", names.join(", ")))
            }
            None => tile,
        };
        json!({"raised": names, "tile": tile})
    }
}

/// The module: what it hands the runtime.
pub struct HandsModule;

impl Module for HandsModule {
    fn name(&self) -> &str {
        "hands"
    }
    fn register(&self, m: &mut ModuleBuilder) {
        m.reducer(HandReducer).aggregator(HandsView);
    }
}
