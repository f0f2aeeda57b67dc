//! Time: an injectable host clock and the state of a device's clock.
//!
//! A device's time is `clock.now() + offset`. The simulator never reads the system time
//! directly: it asks its [`Clock`], so tests drive every time rule with a [`TestClock`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of host time, in seconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current host time in seconds since the Unix epoch.
    fn now(&self) -> i64;

    /// The current host time in milliseconds since the Unix epoch (by default [`Clock::now`]
    /// in milliseconds).
    fn now_millis(&self) -> i64 {
        self.now().saturating_mul(1000)
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(elapsed) => i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
            // A host clock before 1970: report it as negative seconds.
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }

    fn now_millis(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(elapsed) => i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        }
    }
}

/// A settable clock for tests. Clones share the same time, so one `TestClock` can drive
/// several simulator instances of one test.
#[derive(Debug, Clone, Default)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    /// A test clock showing `now` (seconds since the Unix epoch).
    #[must_use]
    pub fn new(now: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now)))
    }

    /// Sets the time.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time forward by `secs` (backward if negative).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The shared handle to a clock that a simulator holds.
pub type SharedClock = Arc<dyn Clock>;

/// The state of a device's (HSM's) clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockState {
    /// The HSM SO never set the time; CPv4 reports `CKR_TIME_NOT_INITIALIZED`.
    NotSet,
    /// The time is set: device time = host time + `offset_secs`.
    Set {
        /// Seconds added to the host time.
        offset_secs: i64,
    },
}

impl ClockState {
    /// The device time for a host time `host_now`, `None` if the clock is not set.
    #[must_use]
    pub const fn device_time(&self, host_now: i64) -> Option<i64> {
        match self {
            Self::NotSet => None,
            Self::Set { offset_secs } => Some(host_now.saturating_add(*offset_secs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_clones_share_time() {
        let clock = TestClock::new(100);
        let other = clock.clone();
        clock.advance(5);
        assert_eq!(other.now(), 105);
        other.set(7);
        assert_eq!(clock.now(), 7);
    }

    #[test]
    fn device_time_is_host_time_plus_offset() {
        assert_eq!(ClockState::NotSet.device_time(10), None);
        assert_eq!(ClockState::Set { offset_secs: -3 }.device_time(10), Some(7));
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
