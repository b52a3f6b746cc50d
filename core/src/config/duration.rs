//! Go duration strings: parsing (`time.ParseDuration`) and formatting (`Duration.String`), so
//! config values and reload messages read the way the Go server writes them.

use std::time::Duration;

/// Parses a Go duration string (`"300ms"`, `"1.5h"`, `"2h45m"`, `"-1s"`). Units: `ns`, `us`,
/// `µs`, `μs`, `ms`, `s`, `m`, `h`. Returns nanoseconds (negative allowed), or Go's error text
/// (`time: invalid duration "x"`).
pub fn parse_go_duration(s: &str) -> Result<i128, String> {
    let quoted = format!("{s:?}");
    let invalid = || format!("time: invalid duration {quoted}");
    let mut rest = s;
    let neg = match rest.as_bytes().first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    // Bounded: each loop consumes at least one byte. The total is capped like Go's int64.
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "" => return Err(format!("time: missing unit in duration {quoted}")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            u => return Err(format!("time: unknown unit {u:?} in duration {quoted}")),
        };
        let overflow = || invalid();
        let mut v: i128 = 0;
        for b in int_part.bytes() {
            v = v * 10 + i128::from(b - b'0');
            if v > i128::from(i64::MAX) {
                return Err(overflow());
            }
        }
        v *= scale;
        // Fraction: digits beyond nanosecond precision are dropped, as in Go.
        let mut f_scale = scale;
        for b in frac_part.bytes() {
            f_scale /= 10;
            if f_scale == 0 {
                break;
            }
            v += i128::from(b - b'0') * f_scale;
        }
        total += v;
        if total > i128::from(i64::MAX) {
            return Err(overflow());
        }
        rest = after;
    }
    Ok(if neg { -total } else { total })
}

/// Formats a duration as Go's `Duration.String` does: `1h30m0s`, `2m0s`, `1.5s`, `500ms`,
/// `0s`.
pub fn format_go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1)
        } else if ns < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", frac(ns, div));
    }
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = frac(ns % 60_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// `n / div` with the fraction's trailing zeros dropped.
fn frac(n: u128, div: u128) -> String {
    let (whole, rem) = (n / div, n % div);
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("2m"), Ok(120_000_000_000));
        assert_eq!(parse_go_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("-1s"), Ok(-1_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("1µs"), Ok(1_000));
        assert_eq!(
            parse_go_duration("1"),
            Err("time: missing unit in duration \"1\"".into())
        );
        assert_eq!(
            parse_go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".into())
        );
        assert_eq!(
            parse_go_duration(""),
            Err("time: invalid duration \"\"".into())
        );
        assert!(parse_go_duration("99999999999999999999h").is_err());
        assert!(parse_go_duration("3000000h").is_err());
        assert!(parse_go_duration(".s").is_err());
    }

    #[test]
    fn formats_like_go() {
        let f = |ms: u64| format_go_duration(Duration::from_millis(ms));
        assert_eq!(f(0), "0s");
        assert_eq!(f(120_000), "2m0s");
        assert_eq!(f(5_400_000), "1h30m0s");
        assert_eq!(f(1_500), "1.5s");
        assert_eq!(f(500), "500ms");
        assert_eq!(f(10_000), "10s");
        assert_eq!(format_go_duration(Duration::from_nanos(1_500)), "1.5µs");
    }
}
