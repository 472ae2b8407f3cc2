//! The log positions a state reflects, per node: what makes application exactly-once.

use crate::event::LogPosition;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// For each node, the highest log sequence number applied to a state.
///
/// ```
/// use classpulse_core::event::LogPosition;
/// use classpulse_core::kvs::Applied;
/// let mut a = Applied::default();
/// a.advance(LogPosition { node: "n1", seq: 5 });
/// assert!(a.covers(LogPosition { node: "n1", seq: 5 }));
/// assert!(!a.covers(LogPosition { node: "n1", seq: 6 }));
/// assert!(!a.covers(LogPosition { node: "n2", seq: 1 }));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied(Vec<(Arc<str>, u64)>);

impl Applied {
    /// Whether the event at `pos` is already reflected.
    pub fn covers(&self, pos: LogPosition<'_>) -> bool {
        self.0
            .iter()
            .any(|(node, seq)| &**node == pos.node && *seq >= pos.seq)
    }

    /// Records that the event at `pos` is reflected.
    pub fn advance(&mut self, pos: LogPosition<'_>) {
        match self.0.iter_mut().find(|(node, _)| &**node == pos.node) {
            Some((_, seq)) => *seq = (*seq).max(pos.seq),
            None => self.0.push((Arc::from(pos.node), pos.seq)),
        }
    }

    /// The highest sequence applied from `node` (0 when none).
    pub fn of(&self, node: &str) -> u64 {
        self.0
            .iter()
            .find(|(n, _)| &**n == node)
            .map_or(0, |(_, s)| *s)
    }

    /// `(node, seq)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(n, s)| (&**n, *s))
    }
}
