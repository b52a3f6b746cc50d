//! Internal subscriptions: services answered inside the server, on no socket.
//!
//! An internal subscription ([`crate::client::Subscription::internal`]) lives in an
//! account's sublist like any other; a publish that matches it hands the message to its
//! [`InternalHandler`] at the end of the publisher's read batch (on the publisher's thread,
//! as Go runs its internal callbacks inline), and the handler's reply, if any, is published
//! into the same account, to the request's reply subject. The system account's
//! `$SYS.REQ.SERVER.PING` responder is the first ([`ServerPing`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::client::{ClientHandle, Notify};
use crate::shared::Shared;

/// The subject the server answers pings on (Go: `serverPingReqSubj`).
pub const SERVER_PING: &str = "$SYS.REQ.SERVER.PING";

/// A message to or from an internal handler (owned: handlers run after the read batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalMsg {
    /// Subject.
    pub subject: Vec<u8>,
    /// Reply subject.
    pub reply: Option<Vec<u8>>,
    /// Body (headers are not passed to handlers).
    pub payload: Vec<u8>,
}

/// Code in the server that answers messages.
pub trait InternalHandler: Send + Sync {
    /// Handles one message published to the handler's subscription; returns the message to
    /// publish in reply (into the same account), if any. Runs on a publisher's thread: keep
    /// it short and bounded, and never block.
    fn handle(&self, sh: &Shared, msg: &InternalMsg) -> Option<InternalMsg>;
}

/// The internal client of an account: owner of its internal subscriptions. It never gets
/// bytes (internal deliveries go to handlers), so its wake-ups go nowhere.
pub fn internal_client(seed: u64) -> Arc<ClientHandle> {
    struct Nowhere;
    impl Notify for Nowhere {
        fn notify(&self) {}
    }
    // cid 0: client cids start at 1.
    Arc::new(ClientHandle::new(
        0,
        None,
        usize::MAX,
        seed,
        Arc::new(Nowhere),
    ))
}

/// `$SYS.REQ.SERVER.PING`: answers a request with the server's identity and statistics,
/// in the shape of Go's `ServerStatsMsg` (`{"server":{...},"statsz":{...}}`; a subset of
/// its fields for now: the ones the core knows without the runtime).
#[derive(Debug, Default)]
pub struct ServerPing {
    seq: AtomicU64,
}

impl InternalHandler for ServerPing {
    fn handle(&self, sh: &Shared, msg: &InternalMsg) -> Option<InternalMsg> {
        let reply = msg.reply.clone()?;
        let opts = sh.opts();
        let s = &sh.stats;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let body = serde_json::json!({
            "server": {
                "name": sh.server_name(),
                "host": opts.host,
                "id": sh.server_id(),
                "ver": crate::VERSION,
                "jetstream": false,
                "seq": seq,
            },
            "statsz": {
                "connections": sh.num_clients(),
                "total_connections": s.total_connections.load(Ordering::Relaxed),
                "active_accounts": sh.accounts().len(),
                "subscriptions": sh.num_subscriptions(),
                "sent": {
                    "msgs": s.out_msgs.load(Ordering::Relaxed),
                    "bytes": s.out_bytes.load(Ordering::Relaxed),
                },
                "received": {
                    "msgs": s.in_msgs.load(Ordering::Relaxed),
                    "bytes": s.in_bytes.load(Ordering::Relaxed),
                },
                "slow_consumers": s.slow_consumers.load(Ordering::Relaxed),
            }
        });
        Some(InternalMsg {
            subject: reply,
            reply: None,
            payload: serde_json::to_vec(&body).unwrap_or_default(),
        })
    }
}
