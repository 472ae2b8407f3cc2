//! Time on task in fixed-size bins (Learning Observer's `binned_time_on_task`, per student and
//! document; 600 s bins by default).
//!
//! Bins start at multiples of the bin size (server time, seconds). Each event adds the capped
//! gap since the previous event to the previous event's bin; a gap that crosses into the next
//! bin is split at the boundary (at most one boundary, as in Learning Observer).

use super::time_on_task::capped;
use crate::pycompat::float::floor_div;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Seconds per bin, by bin start (JSON keys are the starts as decimal strings).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bins(pub BTreeMap<i64, f64>);

impl Bins {
    fn slot(&mut self, bin: i64) -> &mut f64 {
        self.0.entry(bin).or_insert(0.0)
    }

    /// Seconds in the bin starting at `bin`.
    pub fn get(&self, bin: i64) -> Option<f64> {
        self.0.get(&bin).copied()
    }
}

impl Serialize for Bins {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(bin, secs)| (bin.to_string(), secs)))
    }
}

impl<'de> Deserialize<'de> for Bins {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BinsVisitor;
        impl<'de> Visitor<'de> for BinsVisitor {
            type Value = Bins;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of bins")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bins, A::Error> {
                let mut bins = BTreeMap::new();
                while let Some((key, secs)) = map.next_entry::<String, f64>()? {
                    let bin = key.parse().map_err(serde::de::Error::custom)?;
                    bins.insert(bin, secs);
                }
                Ok(Bins(bins))
            }
        }
        deserializer.deserialize_map(BinsVisitor)
    }
}

/// `{"saved_ts", "binned_time_on_task": {bin_start: seconds}, "current_bin"}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BinnedTimeOnTask {
    /// Server time (seconds) of the latest event.
    #[serde(default)]
    pub saved_ts: Option<f64>,
    /// Seconds per bin.
    #[serde(default)]
    pub binned_time_on_task: Bins,
    /// The bin of the latest event.
    #[serde(default)]
    pub current_bin: Option<i64>,
}

/// Python's `int((timestamp // bin_size) * bin_size)`.
pub fn time_bin(timestamp: f64, bin_size: u32) -> i64 {
    let size = f64::from(bin_size);
    // Saturating float-to-int, as no real timestamp comes near the bounds.
    (floor_div(timestamp, size) * size) as i64
}

impl BinnedTimeOnTask {
    /// Records an event at `now` (seconds).
    pub fn record(&mut self, now: f64, threshold: f64, bin_size: u32) {
        let last = self.saved_ts.unwrap_or(now);
        let current_bin = self.current_bin.unwrap_or_else(|| time_bin(last, bin_size));
        self.saved_ts = Some(now);
        let delta = capped(now - last, threshold);
        let next_bin = current_bin.saturating_add(i64::from(bin_size));
        let next_start = next_bin as f64;
        if last + delta >= next_start {
            *self.binned_time_on_task.slot(current_bin) += next_start - last;
            *self.binned_time_on_task.slot(next_bin) += last + delta - next_start;
        } else {
            *self.binned_time_on_task.slot(current_bin) += delta;
        }
        self.current_bin = Some(time_bin(now, bin_size));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_split_at_boundaries() {
        let mut b = BinnedTimeOnTask::default();
        b.record(1190.0, 60.0, 600);
        assert_eq!(b.current_bin, Some(1200 - 600));
        b.record(1195.0, 60.0, 600);
        // Crosses 1200: 5 s before, 10 s after.
        b.record(1210.0, 60.0, 600);
        assert_eq!(b.binned_time_on_task.get(600), Some(10.0));
        assert_eq!(b.binned_time_on_task.get(1200), Some(10.0));
        assert_eq!(b.current_bin, Some(1200));
        // A long pause is capped.
        b.record(9000.0, 60.0, 600);
        assert_eq!(b.binned_time_on_task.get(1200), Some(70.0));
        assert_eq!(b.current_bin, Some(9000));
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"saved_ts": 9000.0, "current_bin": 9000,
                "binned_time_on_task": {"600": 10.0, "1200": 70.0}})
        );
        let back: BinnedTimeOnTask = serde_json::from_value(json).unwrap();
        assert_eq!(back, b);
    }
}
