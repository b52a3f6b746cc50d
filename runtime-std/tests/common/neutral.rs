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

/// Reports a test (or half of one) skipped because something it compares with is missing:
/// a `SKIPPED` line on stderr (hidden by cargo's capture when the test passes), and a line
/// in the file `NATSD_SKIP_LOG` names, which the README's test command (`scripts/test`)
/// prints as a summary after the run, so a skip never looks like a pass.
pub fn report_skip(what: &str) {
    eprintln!("SKIPPED {what}");
    if let Ok(path) = std::env::var("NATSD_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{what}");
        }
    }
}
