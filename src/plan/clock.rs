//! Where decisions read the time — when a condition changed, when private
//! DNS verification was last asked for, how old a diagnosis is — so tests
//! can set it. (The token buckets and the snapshots' ages measure elapsed
//! time on the monotonic clock instead: a wall clock may step.)

use std::sync::Mutex;

use jiff::Timestamp;

/// The time, as decisions read it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, to the second (as conditions record it).
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        now.round(jiff::Unit::Second).unwrap_or(now)
    }
}

/// A clock that stands still until moved: for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<Timestamp>);

impl FixedClock {
    /// A clock at `at`.
    pub fn at(at: Timestamp) -> Self {
        Self(Mutex::new(at))
    }

    /// Move the clock on by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *now = now.checked_add(jiff::SignedDuration::try_from(by).unwrap_or_default()).unwrap_or(*now);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_to_the_second_and_a_fixed_one_moves_only_when_told() {
        assert_eq!(SystemClock.now().subsec_nanosecond(), 0);
        let clock = FixedClock::at(Timestamp::from_second(1_800_000_000).expect("time"));
        assert_eq!(clock.now().as_second(), 1_800_000_000);
        clock.advance(std::time::Duration::from_secs(3600));
        assert_eq!(clock.now().as_second(), 1_800_003_600);
    }
}
