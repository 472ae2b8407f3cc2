//! The server clock, injectable so tests control time.
//!
//! Server timestamps and timers read the [`Clock`]; reducers never do (they read the event's
//! server time). [`ManualClock`] lets in-process tests move time by hand.

use crate::event::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of server time.
pub trait Clock: Send + Sync + 'static {
    /// The current server time.
    fn now(&self) -> Timestamp;
    /// Waits until `deadline` (by this clock), or returns at once when it has passed.
    fn sleep_until(
        &self,
        deadline: Timestamp,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp::from_micros(d.as_micros() as i64)
    }

    fn sleep_until(
        &self,
        deadline: Timestamp,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let now = self.now();
                if now >= deadline {
                    return;
                }
                // Re-check after waking: the wall clock may have been adjusted.
                tokio::time::sleep(deadline.since(now).min(Duration::from_secs(60))).await;
            }
        })
    }
}

/// A clock that moves only when told to. Sleepers wake when [`ManualClock::advance`] or
/// [`ManualClock::set`] passes their deadline.
///
/// ```
/// use classpulse_core::clock::{Clock, ManualClock};
/// use classpulse_core::event::Timestamp;
/// let clock = ManualClock::new(Timestamp::from_millis(1000));
/// clock.advance(std::time::Duration::from_millis(500));
/// assert_eq!(clock.now(), Timestamp::from_millis(1500));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    micros: Arc<AtomicI64>,
    moved: Arc<tokio::sync::Notify>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            micros: Arc::new(AtomicI64::new(start.as_micros())),
            moved: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.micros
            .fetch_add(by.as_micros() as i64, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Sets the time.
    pub fn set(&self, to: Timestamp) {
        self.micros.store(to.as_micros(), Ordering::SeqCst);
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.micros.load(Ordering::SeqCst))
    }

    fn sleep_until(
        &self,
        deadline: Timestamp,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let moved = self.moved.notified();
                if self.now() >= deadline {
                    return;
                }
                moved.await;
            }
        })
    }
}

/// The clock type the runtime holds.
pub type SharedClock = Arc<dyn Clock>;
