//! Token buckets: bound one connection's event rate, and optionally all connections' from one
//! client address together, without starving the others.
//!
//! Over a limit, the connection simply stops reading until tokens refill: TCP pushes back on
//! the client and nothing is dropped (Learning Observer's clients do not resend).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
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

/// A bucket shared by every connection from one address.
#[derive(Debug)]
pub struct SharedBucket(Mutex<TokenBucket>);

impl SharedBucket {
    /// Takes one token; returns how long to wait first when none is left.
    pub fn take(&self) -> Option<Duration> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The per-address buckets (`ingest.max_events_per_second_per_ip`). A bucket lives while a
/// connection from its address does; the table forgets the others as it grows.
#[derive(Debug)]
pub struct PerIp {
    rate: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, Weak<SharedBucket>>>,
}

impl PerIp {
    /// Per-address budgets of `rate` events per second (0: none) and `burst`.
    pub fn new(rate: u32, burst: u32) -> Self {
        PerIp {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The budget a new connection from `ip` shares; `None` when there is no such limit.
    pub fn join(&self, ip: IpAddr) -> Option<Arc<SharedBucket>> {
        if self.rate == 0 {
            return None;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get(&ip).and_then(Weak::upgrade) {
            return Some(bucket);
        }
        // Forget addresses with no connection left once they are half the table.
        if buckets.len() >= 64 && buckets.len().is_power_of_two() {
            buckets.retain(|_, b| b.strong_count() > 0);
        }
        let bucket = Arc::new(SharedBucket(Mutex::new(TokenBucket::new(
            self.rate, self.burst,
        ))));
        buckets.insert(ip, Arc::downgrade(&bucket));
        Some(bucket)
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

    #[test]
    fn connections_from_one_address_share_a_budget() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(PerIp::new(0, 5).join(a).is_none(), "off by default");
        let per_ip = PerIp::new(10, 2);
        let (a1, a2, b1) = (
            per_ip.join(a).unwrap(),
            per_ip.join(a).unwrap(),
            per_ip.join(b).unwrap(),
        );
        assert!(a1.take().is_none() && a2.take().is_none());
        assert!(a1.take().is_some(), "the second connection used the budget");
        assert!(b1.take().is_none(), "another address has its own");
        drop((a1, a2));
        assert!(per_ip.join(a).unwrap().take().is_none(), "a fresh budget");
        for i in 0..200u8 {
            let _ = per_ip.join(IpAddr::from([10, 1, 0, i]));
        }
        assert!(per_ip.buckets.lock().unwrap().len() < 150, "forgotten");
    }
}
