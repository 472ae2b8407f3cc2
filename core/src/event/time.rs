//! Server time: the only clock reducers ever see.
//!
//! Timestamps are integer microseconds since the Unix epoch so that replaying the log gives
//! bit-identical results; the log writes them as decimal seconds (`1795504071.795146`), like
//! Learning Observer's `server.time`, and reads them back exactly.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A point in server time, in microseconds since the Unix epoch.
///
/// ```
/// use classpulse_core::event::Timestamp;
/// let t = Timestamp::from_secs_f64(1.5);
/// assert_eq!(t.as_micros(), 1_500_000);
/// assert_eq!(t.to_string(), "1.500000");
/// assert_eq!("1.500000".parse::<Timestamp>().unwrap(), t);
/// ```
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const ZERO: Timestamp = Timestamp(0);

    /// From microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis * 1000)
    }

    /// From (fractional) seconds since the epoch, rounded to the microsecond.
    pub fn from_secs_f64(secs: f64) -> Self {
        Timestamp((secs * 1e6).round() as i64)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (rounded down).
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Seconds since the epoch, as Learning Observer's `server.time`.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// This time plus a duration (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(d.as_micros().min(i64::MAX as u128) as i64),
        )
    }

    /// The time from `earlier` to `self`; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0).max(0) as u64)
    }
}

impl fmt::Display for Timestamp {
    /// Decimal seconds with six fractional digits, exactly representable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }
}

/// The text was not a decimal number of seconds.
#[derive(Debug, thiserror::Error)]
#[error("not a timestamp in decimal seconds: {0:?}")]
pub struct TimestampParseError(String);

impl std::str::FromStr for Timestamp {
    type Err = TimestampParseError;

    /// Parses decimal seconds exactly (no float rounding) up to microseconds; longer fractions
    /// and exponents fall back to float parsing.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TimestampParseError(s.to_owned());
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if digits(int) && (frac.is_empty() || digits(frac)) && frac.len() <= 6 {
            let whole: i64 = int.parse().map_err(|_| err())?;
            let mut micros: i64 = if frac.is_empty() {
                0
            } else {
                frac.parse().map_err(|_| err())?
            };
            for _ in frac.len()..6 {
                micros *= 10;
            }
            let v = whole
                .checked_mul(1_000_000)
                .and_then(|w| w.checked_add(micros))
                .ok_or_else(err)?;
            return Ok(Timestamp(if neg { -v } else { v }));
        }
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Timestamp::from_secs_f64)
            .ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip_exactly() {
        for micros in [0, 1, 999_999, 1_795_504_071_795_146, -1_500_000] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        }
        assert_eq!(
            "1795504071.7951465".parse::<Timestamp>().unwrap(),
            Timestamp::from_micros(1_795_504_071_795_147)
        );
        assert_eq!("12".parse::<Timestamp>().unwrap().as_micros(), 12_000_000);
        assert!("abc".parse::<Timestamp>().is_err());
        assert!("".parse::<Timestamp>().is_err());
    }

    #[test]
    fn since_is_never_negative() {
        let a = Timestamp::from_millis(1000);
        let b = Timestamp::from_millis(1500);
        assert_eq!(b.since(a), Duration::from_millis(500));
        assert_eq!(a.since(b), Duration::ZERO);
    }
}
