//! Debian's Go `nats-server` (v2.9.10), for side-by-side comparisons.
//!
//! Tests that need it call [`GoServer::start`]. When the binary is missing they print a loud
//! `SKIPPED` line and return early, unless `NATSD_REQUIRE_GO=1` (set by `.ci/run`), in which
//! case a missing Go server fails the test: CI must never pass a comparison it did not run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::TIMEOUT;

/// Where Debian puts the Go server (our own binary is also called `nats-server`, so never
/// look it up on PATH). `NATS_GO_SERVER` overrides.
pub fn binary() -> Option<String> {
    let path = std::env::var("NATS_GO_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
    std::path::Path::new(&path).exists().then_some(path)
}

/// A running Go server, killed on drop.
pub struct GoServer {
    child: Child,
    /// The client port it listens on.
    pub port: u16,
    /// The monitoring port, when started with `-m` (it logs `Starting http monitor on …`).
    pub http_port: Option<u16>,
}

impl GoServer {
    /// Starts the Go server on 127.0.0.1 with a random port plus `args`, and waits for it to
    /// be ready. Returns `None` (after saying so loudly) when it is not installed.
    pub fn start(test: &str, args: &[&str]) -> Option<GoServer> {
        let Some(bin) = binary() else {
            if std::env::var("NATSD_REQUIRE_GO").as_deref() == Ok("1") {
                panic!("{test}: Debian's nats-server is required (NATSD_REQUIRE_GO=1) but missing");
            }
            report_skip(&format!(
                "{test}: Debian's Go nats-server is not installed (apt-get install -y nats-server)"
            ));
            return None;
        };
        let mut child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn Go nats-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        let (http_tx, http_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let port_of = |addr: &str| addr.rsplit(':').next().and_then(|p| p.trim().parse().ok());
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("Starting http monitor on ").nth(1) {
                    let _ = http_tx.send(port_of(addr));
                }
                if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                    let _ = tx.send(port_of(addr));
                }
            }
        });
        let port: u16 = rx
            .recv_timeout(TIMEOUT)
            .ok()
            .flatten()
            .expect("Go nats-server did not report its port");
        // Go logs the monitor before the client listener, so it is already sent if at all.
        let http_port = http_rx.try_recv().ok().flatten();
        Some(GoServer {
            child,
            port,
            http_port,
        })
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
