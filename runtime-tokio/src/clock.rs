//! Time for the core: monotonic nanoseconds since a process-wide origin.
//!
//! The core never reads a clock; every `handle_*` call gets [`now`] (shared with `natsd-std`,
//! one origin per process). Timers the core asks for ([`natsd_core::Time`] deadlines) are
//! turned back into tokio instants with [`to_instant`].

use std::time::{Duration, Instant};

pub use natsd_adapter::clock::now;
use natsd_adapter::clock::origin;
use natsd_core::Time;

/// The tokio instant at which the core time `t` falls.
pub fn to_instant(t: Time) -> tokio::time::Instant {
    let at = origin().checked_add(Duration::from_nanos(t.as_nanos()));
    // A deadline beyond what `Instant` can hold means "never": a year from now is as good.
    let at = at.unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
    tokio::time::Instant::from_std(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_monotonic_and_round_trips() {
        let a = now();
        let b = now();
        assert!(b >= a);
        let i = to_instant(a);
        assert!(i <= tokio::time::Instant::now());
        assert!(to_instant(Time::from_nanos(u64::MAX)) > tokio::time::Instant::now());
    }
}
