//! Time as the core sees it: a monotonic instant handed in by the runtime.
//!
//! The core never reads a clock. Runtimes convert their monotonic clock into [`Time`]
//! (nanoseconds since an origin of their choosing); the simulator counts simulated nanoseconds.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A monotonic instant, in nanoseconds since an origin chosen by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);

    /// An instant `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Time {
        Time(nanos)
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        // Saturate: a duration so long it overflows u64 nanoseconds (584 years) means "never".
        Time(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, earlier: Time) -> Duration {
        self.saturating_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Time::from_nanos(10);
        assert_eq!((t + Duration::from_nanos(5)).as_nanos(), 15);
        assert_eq!(Time::ZERO - t, Duration::ZERO);
        assert_eq!(t + Duration::MAX, Time::from_nanos(u64::MAX));
    }
}
