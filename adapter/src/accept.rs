//! Accepting clients, the same on every runtime: the back-off after an accept error, and the
//! steps from an accepted socket to the core's [`Connection`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::shared::Shared;

use crate::clock;

/// Accept-error back-off bounds (the Go server's `ACCEPT_MIN_SLEEP`/`ACCEPT_MAX_SLEEP`).
const ACCEPT_MIN_SLEEP: Duration = Duration::from_millis(10);
const ACCEPT_MAX_SLEEP: Duration = Duration::from_secs(1);

/// The accept loop's back-off: after an error (EMFILE and friends) sleep instead of
/// spinning, doubling from 10 ms up to 1 s, as the Go server does; a success resets it.
#[derive(Debug)]
pub struct Backoff {
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: ACCEPT_MIN_SLEEP,
        }
    }
}

impl Backoff {
    /// An accept succeeded.
    pub fn reset(&mut self) {
        self.delay = ACCEPT_MIN_SLEEP;
    }

    /// An accept failed: logs Go's line and returns how long to sleep before the next one.
    pub fn failed(&mut self, e: &io::Error) -> Duration {
        let delay = self.delay;
        tracing::error!(
            "Temporary Client Accept Error({e}), sleeping {}ms",
            delay.as_millis()
        );
        self.delay = (delay * 2).min(ACCEPT_MAX_SLEEP);
        delay
    }
}

/// The core connection for an accepted socket: logs a failed `TCP_NODELAY` (`nodelay`, the
/// result of setting it) and `Client connection created`. The caller must have taken its
/// reload marker (options generation, watch subscription) *before* calling this, so a reload
/// from then on reaches the connection (one before is in the options `accept` reads).
pub fn open_connection(
    sh: &Shared,
    peer: SocketAddr,
    nodelay: io::Result<()>,
    notify: Arc<dyn Notify>,
) -> Connection {
    if let Err(e) = nodelay {
        tracing::debug!("{peer} - could not set TCP_NODELAY: {e}");
    }
    let conn = Connection::accept(sh, clock::now(), Some(peer), notify);
    tracing::debug!("{peer} - cid:{} - Client connection created", conn.cid());
    conn
}

/// The core connection for a route: accepted on the cluster port (`url` `None`) or
/// dialled to `url`. Logs Go's `Route connection created`.
pub fn open_route(
    sh: &Shared,
    peer: SocketAddr,
    notify: Arc<dyn Notify>,
    url: Option<natsd_core::options::RouteUrl>,
) -> Connection {
    let conn = match url {
        Some(url) => Connection::connect_route(sh, clock::now(), Some(peer), notify, url),
        None => Connection::accept_route(sh, clock::now(), Some(peer), notify),
    };
    tracing::info!("{peer} - rid:{} - Route connection created", conn.cid());
    conn
}

/// Subscriptions above which closing a connection is heavy: removing 100,000 takes a good
/// part of a second unoptimised, and a runtime keeps such a close from holding up the other
/// connections it serves (tokio moves its other tasks away with `block_in_place`; std runs
/// the close on a thread of its own). Found by the stress test
/// `closing_many_subscriptions_does_not_freeze_others`.
pub const HEAVY_CLOSE_SUBS: usize = 1024;

/// Whether closing `conn` now would be heavy (see [`HEAVY_CLOSE_SUBS`]).
pub fn heavy_close(conn: &Connection) -> bool {
    conn.subscription_count() > HEAVY_CLOSE_SUBS
}

/// A route dial failed: the node hears of it (it logs and schedules the next attempt).
pub fn dial_failed(sh: &Shared, url: natsd_core::options::RouteUrl, e: &io::Error) {
    let error = format!("dial tcp {}: {e}", url.addr());
    sh.to_node(natsd_core::node::NodeInput::DialFailed { url, error });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = Backoff::default();
        let e = io::Error::other("x");
        let got: Vec<u128> = (0..9).map(|_| b.failed(&e).as_millis()).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.failed(&e), ACCEPT_MIN_SLEEP);
    }
}
