//! The stale rule: when may a node rightly close a connection as `Stale Connection`?
//!
//! Judged just before each timer of the connection, from what the world saw (the node's
//! own keep-alive state is what is under test, so the rule never reads it):
//!
//! - the node read nothing from the client for a whole `ping_interval` (else the core
//!   skips the PING), or has not yet processed its CONNECT (until then the PING measures
//!   the round trip and is never skipped); and
//! - a PING round trip is unfinished: the client got a PING whose PONG the node has not
//!   processed yet (still on the way up), or bytes wait towards the client (a PING may be
//!   among them: in the link, or in the outbound queue behind a blocked writer); or the
//!   client closed its socket (it answers nothing any more).
//!
//! A client that answered every PING it got, with nothing queued towards it, must never be
//! called stale. This is wider than the rule until commit 087c78b ("only a client that
//! stopped reading may be stale"), which reload seed 7279 showed wrong: a slow link
//! draining 6-8 KB behind a PING also delays the PONG past `ping_interval * ping_max`, and
//! the node is right to give up then.

/// What the world knows of a connection when its timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleFacts {
    /// Node time since the node last read from the client, in nanoseconds.
    pub idle_ns: u64,
    /// The node's `ping_interval` now, in nanoseconds.
    pub interval_ns: u64,
    /// The node processed the client's CONNECT.
    pub connect_processed: bool,
    /// PINGs the client received on this connection.
    pub pings_seen: u64,
    /// PONGs of this connection the node processed.
    pub pongs_processed: u64,
    /// Bytes on their way to the client: in the link or in the node's outbound queue.
    pub queued_towards_client: usize,
    /// The client still has its socket open.
    pub client_open: bool,
}

impl StaleFacts {
    /// May the node close the connection as stale now?
    pub fn allows_close(&self) -> bool {
        if !self.client_open {
            return true;
        }
        let skipped = self.connect_processed && self.idle_ns < self.interval_ns;
        let unfinished = self.pings_seen > self.pongs_processed || self.queued_towards_client > 0;
        !skipped && unfinished
    }
}
