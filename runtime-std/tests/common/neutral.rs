//! Test helpers with no I/O, shared by both runtimes' integration tests (`natsd-tokio`'s
//! `tests/common` includes this file by path).

use std::time::Duration;

use natsd_core::options::Options;

/// Bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// Options for a test server on a free loopback port.
pub fn loopback_opts() -> Options {
    Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..Options::default()
    }
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `b` as text for a failure message, cut at 300 bytes.
pub fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 300 {
        format!("{}…", &s[..300])
    } else {
        s.into_owned()
    }
}
