//! Wall-clock and duration formatting as the Go server's monitoring JSON writes them.
//!
//! The core has no clock: callers pass [`Clock`], the current monotonic [`Time`] and the
//! matching wall-clock time in Unix nanoseconds, and every core `Time` is mapped to wall time
//! through it (`wall = wall_now - (now - t)`).

use std::time::Duration;

use crate::Time;

/// "Now", as both clocks see it: what the monitoring builders need to turn core [`Time`]s
/// into RFC 3339 timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// The core's monotonic now.
    pub now: Time,
    /// The wall clock at the same instant, in nanoseconds since the Unix epoch (UTC).
    pub wall_nanos: u64,
}

impl Clock {
    /// The wall time (Unix nanoseconds) of core time `t`; times after `now` map to now.
    pub fn wall_of(&self, t: Time) -> u64 {
        let back = u64::try_from(self.now.saturating_since(t).as_nanos()).unwrap_or(u64::MAX);
        self.wall_nanos.saturating_sub(back)
    }

    /// `t` as an RFC 3339 UTC timestamp, as Go marshals a `time.Time`.
    pub fn rfc3339(&self, t: Time) -> String {
        rfc3339(self.wall_of(t))
    }
}

/// Unix nanoseconds as Go's `time.Time` JSON: `2006-01-02T15:04:05.999999999Z` (UTC, the
/// fraction without trailing zeros, and none at all when it is zero).
pub fn rfc3339(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let frac = unix_nanos % 1_000_000_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The Go server's `myUptime`: whole seconds as `1y2d3h4m5s`, leading zero units dropped
/// (`0s`, `59s`, `1m0s`, `1d0h0m0s`).
pub fn uptime(d: Duration) -> String {
    let tsecs = d.as_secs();
    let tmins = tsecs / 60;
    let thrs = tmins / 60;
    let tdays = thrs / 24;
    let tyrs = tdays / 365;
    if tyrs > 0 {
        format!(
            "{tyrs}y{}d{}h{}m{}s",
            tdays % 365,
            thrs % 24,
            tmins % 60,
            tsecs % 60
        )
    } else if tdays > 0 {
        format!("{tdays}d{}h{}m{}s", thrs % 24, tmins % 60, tsecs % 60)
    } else if thrs > 0 {
        format!("{thrs}h{}m{}s", tmins % 60, tsecs % 60)
    } else if tmins > 0 {
        format!("{tmins}m{}s", tsecs % 60)
    } else {
        format!("{tsecs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_go() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2026-11-26T14:39:49.552984278Z, as the Go server printed it.
        assert_eq!(
            rfc3339(1_795_703_989_552_984_278),
            "2026-11-26T14:39:49.552984278Z"
        );
        assert_eq!(rfc3339(951_782_400_120_000_000), "2000-02-29T00:00:00.12Z");
        assert_eq!(rfc3339(4_107_542_400_000_000_000), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn uptime_matches_go() {
        let s = Duration::from_secs;
        assert_eq!(uptime(Duration::from_millis(999)), "0s");
        assert_eq!(uptime(s(62)), "1m2s");
        assert_eq!(uptime(s(3600)), "1h0m0s");
        assert_eq!(uptime(s(86_400 + 61)), "1d0h1m1s");
        assert_eq!(uptime(s(366 * 86_400)), "1y1d0h0m0s");
    }

    #[test]
    fn wall_mapping() {
        let c = Clock {
            now: Time::from_nanos(5_000_000_000),
            wall_nanos: 10_000_000_000,
        };
        assert_eq!(c.wall_of(Time::from_nanos(4_000_000_000)), 9_000_000_000);
        assert_eq!(c.wall_of(Time::from_nanos(9_000_000_000)), 10_000_000_000);
        assert_eq!(c.rfc3339(Time::ZERO), "1970-01-01T00:00:05Z");
    }
}
