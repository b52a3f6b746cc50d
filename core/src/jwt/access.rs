//! The connect-time checks of a user's limits: source networks (`src`, Go's `validateSrc`)
//! and connect windows (`times`, Go's `validateTimes`), with Go's CIDR and clock parsing.

use std::net::IpAddr;

use super::user::{TimeAccess, UserPermissionLimits};
use super::JwtError;

impl UserPermissionLimits {
    /// Go's `validateSrc`: true with no `src`; otherwise the entries are tried in order, the
    /// first that is not a CIDR refuses (as Go), the first that contains `ip` admits. An IPv4
    /// address mapped into IPv6 matches IPv4 networks, and the other way round, as Go's
    /// `net.IPNet.Contains`.
    pub fn allows_source(&self, ip: IpAddr) -> bool {
        if self.src.is_empty() {
            return true;
        }
        for c in &self.src {
            match parse_cidr(c) {
                None => return false,
                Some(net) if net.contains(ip) => return true,
                Some(_) => {}
            }
        }
        false
    }

    /// Go's `validateTimes` at `now_unix` (unix seconds): [`TimeAccess::Unrestricted`] with no
    /// `times`; else inside a window `start < now < end` (both exclusive, at whole seconds;
    /// Go's clock has sub-second precision, so Go also admits the rest of the `start` second),
    /// where `start > end` crosses midnight, [`TimeAccess::Until`] the latest end among the
    /// windows, else [`TimeAccess::Denied`].
    ///
    /// Time zones: `times_location` empty, `UTC` or a fixed zero-offset alias (`Etc/UTC`,
    /// `GMT`, `Zulu`...) evaluates in UTC. (Go evaluates an empty one, or `Local`, in the
    /// server's local zone: the same on a host set to UTC.) Any other zone is
    /// [`JwtError::UnsupportedTimeZone`]: no tz database here, and guessing would admit users
    /// at the wrong hours. A window that is not `HH:MM:SS` is [`JwtError::Invalid`] (Go
    /// refuses the connection too).
    pub fn time_access(&self, now_unix: i64) -> Result<TimeAccess, JwtError> {
        if self.times.is_empty() {
            return Ok(TimeAccess::Unrestricted);
        }
        if !is_utc(&self.times_location) {
            return Err(JwtError::UnsupportedTimeZone(self.times_location.clone()));
        }
        const DAY: i64 = 86_400;
        let now = now_unix.rem_euclid(DAY);
        let mut best: Option<i64> = None;
        for t in &self.times {
            let bad = |s: &str| JwtError::Invalid(format!("invalid time {s:?}"));
            let start = parse_clock(&t.start).ok_or_else(|| bad(&t.start))?;
            let end = parse_clock(&t.end).ok_or_else(|| bad(&t.end))?;
            // Go: inside the day's window; or, crossing midnight, before its end (after
            // midnight) or after its start (the end is then tomorrow's).
            let left = if (start < now || start > end) && end > now {
                Some(end - now)
            } else if start > end && start < now {
                Some(end + DAY - now)
            } else {
                None
            };
            if let Some(l) = left {
                best = Some(best.map_or(l, |b| b.max(l)));
            }
        }
        Ok(match best {
            // At most a day: always fits.
            Some(l) => TimeAccess::Until(u32::try_from(l).unwrap_or(u32::MAX)),
            None => TimeAccess::Denied,
        })
    }
}

/// The zone names that are UTC in every tz database (fixed offset 0, no daylight saving),
/// and the server's local zone (empty or `Local`), taken as UTC.
fn is_utc(zone: &str) -> bool {
    if zone.is_empty() || zone == "Local" {
        return true;
    }
    let z = zone.strip_prefix("Etc/").unwrap_or(zone);
    let utc = [
        "UTC",
        "UCT",
        "Universal",
        "Zulu",
        "GMT",
        "GMT0",
        "GMT+0",
        "GMT-0",
        "Greenwich",
    ];
    utc.contains(&z)
}

/// Go's `time.Parse("15:04:05", s)` as seconds of the day: an hour of one or two digits
/// (0-23), two-digit minutes and seconds (0-59), optionally a fraction after `.` or `,`
/// (dropped, as the server drops it).
pub(super) fn parse_clock(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let (h, mut i) = match (digit(0), digit(1)) {
        (Some(a), Some(c)) => (a * 10 + c, 2),
        (Some(a), None) => (a, 1),
        _ => return None,
    };
    let two = |i: &mut usize| -> Option<i64> {
        if b.get(*i) != Some(&b':') {
            return None;
        }
        let v = digit(*i + 1)? * 10 + digit(*i + 2)?;
        *i += 3;
        Some(v)
    };
    let m = two(&mut i)?;
    let sec = two(&mut i)?;
    if matches!(b.get(i), Some(b'.' | b',')) && digit(i + 1).is_some() {
        i += 1;
        while digit(i).is_some() {
            i += 1;
        }
    }
    (i == b.len() && h < 24 && m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec)
}

/// A network as Go's `net.ParseCIDR` reads it, in the form `net.IPNet.Contains` compares:
/// IPv4 (or IPv4 mapped into IPv6) as 4 bytes, else 16.
pub(super) struct Cidr {
    addr: [u8; 16],
    len: usize,
    prefix: u32,
}

fn to4(ip: IpAddr) -> ([u8; 16], usize) {
    let mut a = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => {
            a[..4].copy_from_slice(&v4.octets());
            (a, 4)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => to4(IpAddr::V4(v4)),
            None => (v6.octets(), 16),
        },
    }
}

pub(super) fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, mask) = s.split_once('/')?;
    let ip: IpAddr = addr.parse().ok()?;
    if mask.is_empty() || mask.len() > 10 || !mask.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let bits: u32 = mask.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return None;
    }
    let (a, len) = to4(ip);
    // A mapped IPv6 network keeps only the last 32 bits of its 128-bit mask.
    let prefix = if len == 4 && max == 128 {
        bits.saturating_sub(96)
    } else {
        bits
    };
    Some(Cidr {
        addr: a,
        len,
        prefix,
    })
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        let (a, len) = to4(ip);
        if len != self.len {
            return false;
        }
        (0..len).all(|i| {
            let bits = self.prefix.saturating_sub(8 * i as u32).min(8);
            let mask = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
            a[i] & mask == self.addr[i] & mask
        })
    }
}
