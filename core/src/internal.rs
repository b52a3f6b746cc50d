//! Internal subscriptions: services answered inside the server, on no socket.
//!
//! An internal subscription ([`crate::client::Subscription::internal`]) lives in an
//! account's sublist like any other; a publish that matches it hands the message to its
//! [`InternalHandler`] at the end of the publisher's read batch (on the publisher's thread,
//! as Go runs its internal callbacks inline), and the handler's reply, if any, is published
//! into the same account, to the request's reply subject. The system account's `$SYS.REQ`
//! services are the first ([`crate::events::SysRequests`]).

use std::sync::Arc;

use crate::client::{ClientHandle, Notify};
use crate::shared::Shared;

/// A message to or from an internal handler (owned: handlers run after the read batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalMsg {
    /// Subject.
    pub subject: Vec<u8>,
    /// Reply subject.
    pub reply: Option<Vec<u8>>,
    /// Body (headers are not passed to handlers).
    pub payload: Vec<u8>,
    /// Who published it, when a client of this server did (for `$SYS.REQ.USER.INFO`):
    /// its account and user. `None` for replies and messages from routes.
    pub requester: Option<(String, Option<String>)>,
}

/// Code in the server that answers messages.
pub trait InternalHandler: Send + Sync {
    /// Handles one message published to the handler's subscription; returns the message to
    /// publish in reply (into the same account), if any. Runs on a publisher's thread: keep
    /// it short and bounded, and never block.
    fn handle(&self, sh: &Shared, msg: &InternalMsg, now: crate::Time) -> Option<InternalMsg>;
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
