//! A token bucket: bounds one connection's event rate without starving the others.
//!
//! Over the limit, the connection simply stops reading until tokens refill: TCP pushes back on
//! the client and nothing is dropped (Learning Observer's clients do not resend).

use std::time::{Duration, Instant};

/// A token bucket of `burst` tokens refilled at `rate` per second; `rate == 0` disables it.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token; returns how long to wait first when none is left.
    pub fn take(&mut self) -> Option<Duration> {
        if self.rate <= 0.0 {
            return None;
        }
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64(-self.tokens / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_past_the_burst() {
        let mut b = TokenBucket::new(10, 3);
        assert!(b.take().is_none());
        assert!(b.take().is_none());
        assert!(b.take().is_none());
        let wait = b.take().expect("over the burst");
        assert!(wait > Duration::from_millis(50) && wait <= Duration::from_millis(100));
        let mut off = TokenBucket::new(0, 1);
        for _ in 0..1000 {
            assert!(off.take().is_none());
        }
    }
}
