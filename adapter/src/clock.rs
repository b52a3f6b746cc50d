//! Time for the core: monotonic nanoseconds since a process-wide origin.
//!
//! The core never reads a clock; every `handle_*` call gets [`now`]. The deadlines the core
//! asks for ([`natsd_core::Time`]) become socket read timeouts via [`until`]. Every runtime
//! of the process shares this origin (`natsd-tokio` maps [`Time`] to tokio instants from it).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use natsd_core::Time;

/// The origin every [`Time`] of this process counts from (fixed at first use).
pub fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The current time as the core sees it.
pub fn now() -> Time {
    // u64 nanoseconds last 584 years past the origin; saturate rather than wrap.
    let nanos = origin().elapsed().as_nanos();
    Time::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// How long from `now` until the core time `t` (zero if it has passed).
pub fn until(t: Time, now: Time) -> Duration {
    t.saturating_since(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_monotonic_and_until_saturates() {
        let a = now();
        let b = now();
        assert!(b >= a);
        assert_eq!(until(a, b), Duration::ZERO);
        assert_eq!(
            until(Time::from_nanos(5_000), Time::from_nanos(2_000)),
            Duration::from_nanos(3_000)
        );
    }
}
