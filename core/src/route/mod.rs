//! Routes: the server-to-server connections of a cluster (Go's route protocol, 2.9.10's
//! subset, which 2.10+ servers also speak with a peer that offers no pool).
//!
//! - [`info`]: the route INFO and CONNECT JSON.
//! - [`RouteTable`]: the registered routes, one per peer server, shared by every account
//!   (interest goes out to all of them) and by the connections (duplicates, gossip).
//! - [`LocalInterest`]: per account, how many local subscriptions hold each subject (or
//!   subject and queue): `RS+` goes out when a subject gains its first, `RS-` when it loses
//!   its last; a queue group's every change goes out with its new weight (as Go).
//!
//! The route connection itself is a kind of [`crate::conn::Connection`] (`conn/route.rs`);
//! dialling and redialling is the node's policy ([`crate::node`]).

pub mod info;

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::client::{ClientHandle, Delivered};
use crate::proto::encode;
use crate::FastMap;

/// One registered route.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The route connection's id.
    pub cid: u64,
    /// The peer's server id.
    pub remote_id: String,
    /// The peer's server name.
    pub remote_name: String,
    /// The route connection's outbound queue.
    pub handle: Arc<ClientHandle>,
    /// The peer's first INFO (forwarded to the other routes as gossip).
    pub info: info::RouteInfo,
    /// The peer's address.
    pub addr: Option<SocketAddr>,
    /// We dialled it.
    pub solicited: bool,
    /// The URL we dialled, if we did.
    pub url: Option<crate::options::RouteUrl>,
    /// It is (or stands for) one of our configured routes.
    pub configured: bool,
    /// When the route connection was made.
    pub start: crate::Time,
}

/// Notes that a peer's subscription `sub` matched a message: its route gets the message
/// once, with the queue groups picked there (space separated) in its `RMSG`.
pub fn add_target(
    targets: &mut Vec<(Arc<ClientHandle>, Vec<u8>)>,
    sub: &crate::client::Subscription,
) {
    let i = match targets
        .iter()
        .position(|(h, _)| Arc::ptr_eq(h, &sub.client))
    {
        Some(i) => i,
        None => {
            targets.push((Arc::clone(&sub.client), Vec::new()));
            targets.len() - 1
        }
    };
    if let Some(q) = &sub.queue {
        let queues = &mut targets[i].1;
        if !queues.is_empty() {
            queues.push(b' ');
        }
        queues.extend_from_slice(q);
    }
}

/// Why a route could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterRouteError {
    /// A route to that server is already registered (the first one wins, as in Go 2.9).
    Duplicate,
}

/// The routes of one server.
#[derive(Debug)]
pub struct RouteTable {
    enabled: bool,
    routes: RwLock<Vec<Registered>>,
    /// A peer has advertised client URLs at some point (clients' `connect_urls` appear).
    advertised: std::sync::atomic::AtomicBool,
}

impl RouteTable {
    /// An empty table; `enabled` when the server has a `cluster` block (interest is tracked
    /// only then: a standalone server pays nothing for routes).
    pub fn new(enabled: bool) -> RouteTable {
        RouteTable {
            enabled,
            routes: RwLock::new(Vec::new()),
            advertised: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The server is in a cluster.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Registers a route; returns the handles of the routes registered before it (to tell
    /// them about the newcomer). A second route to the same server is refused.
    pub fn register(&self, r: Registered) -> Result<Vec<Arc<ClientHandle>>, RegisterRouteError> {
        let mut routes = self.routes.write();
        if routes.iter().any(|x| x.remote_id == r.remote_id) {
            return Err(RegisterRouteError::Duplicate);
        }
        let others = routes.iter().map(|x| Arc::clone(&x.handle)).collect();
        if !r.info.connect_urls.is_empty() {
            self.advertised
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        routes.push(r);
        Ok(others)
    }

    /// Removes the route with connection id `cid`; true if it was registered.
    pub fn unregister(&self, cid: u64) -> bool {
        let mut routes = self.routes.write();
        let before = routes.len();
        routes.retain(|r| r.cid != cid);
        routes.len() != before
    }

    /// True if a route to server `remote_id` is registered.
    pub fn contains(&self, remote_id: &str) -> bool {
        self.routes.read().iter().any(|r| r.remote_id == remote_id)
    }

    /// Number of registered routes.
    pub fn len(&self) -> usize {
        self.routes.read().len()
    }

    /// True if no route is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A peer in lame duck mode: its client URLs stop being advertised. Returns whether
    /// any were.
    pub fn forget_connect_urls(&self, cid: u64) -> bool {
        let mut routes = self.routes.write();
        routes
            .iter_mut()
            .find(|r| r.cid == cid)
            .is_some_and(|r| !std::mem::take(&mut r.info.connect_urls).is_empty())
    }

    /// True once any peer advertised client URLs.
    pub fn ever_advertised(&self) -> bool {
        self.advertised.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The client URLs the peers advertised, in registration order, without repeats.
    pub fn connect_urls(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.routes.read().iter() {
            for u in &r.info.connect_urls {
                if !out.contains(u) {
                    out.push(u.clone());
                }
            }
        }
        out
    }

    /// Every registered route (monitoring, tests).
    pub fn list(&self) -> Vec<Registered> {
        self.routes.read().clone()
    }

    /// Queues `bytes` to every registered route and wakes their writers. Called with an
    /// account's interest lock held, so interest updates reach every route in the order
    /// they were counted (lock order: interest, then this table, then a route's queue).
    pub fn broadcast(&self, bytes: &[u8]) {
        for r in self.routes.read().iter() {
            if let Delivered::Queued { wake: true } | Delivered::QueuedStall { wake: true } =
                r.handle.send(bytes)
            {
                r.handle.wake();
            }
        }
    }
}

/// How an account's local interest in one key changed: what to tell the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterestUpdate {
    /// `RS+` (with the queue group's new weight for a queue key).
    Sub(Option<u32>),
    /// `RS-`.
    Unsub,
}

/// Local subscriptions per subject (or subject and queue) of one account: what the routes
/// have been told. Routes' own subscriptions are never counted (interest learned from a
/// route is never passed on: one hop).
#[derive(Debug)]
pub struct LocalInterest {
    /// `subject` or `subject queue` → local subscriptions.
    counts: FastMap<Box<[u8]>, u32>,
}

impl LocalInterest {
    /// Empty; `seed` keys the hashing of subjects (see [`crate::keyed_hasher`]).
    pub fn new(seed: u64) -> LocalInterest {
        LocalInterest {
            counts: crate::keyed_map(seed),
        }
    }

    /// Counts one local subscription more (`added`) or less, and says what the routes must
    /// be told: a plain subject only on its first and last subscription, a queue group on
    /// every change (its weight is the number of members here).
    pub fn change(
        &mut self,
        subject: &[u8],
        queue: Option<&[u8]>,
        added: bool,
    ) -> Option<InterestUpdate> {
        let key = interest_key(subject, queue);
        let n = self.counts.get(&key[..]).copied().unwrap_or(0);
        let after = if added {
            n.saturating_add(1)
        } else if n == 0 {
            // Never counted (e.g. a subscription refused on insert): nothing to undo.
            return None;
        } else {
            n - 1
        };
        if after == 0 {
            self.counts.remove(&key[..]);
        } else {
            self.counts.insert(key, after);
        }
        match (queue, n, after) {
            (_, _, 0) => Some(InterestUpdate::Unsub),
            (None, 0, _) => Some(InterestUpdate::Sub(None)),
            (None, _, _) => None,
            (Some(_), _, w) => Some(InterestUpdate::Sub(Some(w))),
        }
    }

    /// The `RS+` lines for everything counted (a new route's initial sync).
    pub fn encode_all(&self, account: &[u8], out: &mut Vec<u8>) {
        for (key, &n) in &self.counts {
            let (subject, queue) = split_key(key);
            encode::rsub(out, None, account, subject, queue.map(|q| (q, n)));
        }
    }

    /// Number of keys (tests).
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// True if nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// The line for `update` of (`subject`, `queue`) in `account`.
pub fn encode_update(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    queue: Option<&[u8]>,
    update: InterestUpdate,
) {
    match update {
        InterestUpdate::Sub(weight) => {
            encode::rsub(out, None, account, subject, queue.zip(weight));
        }
        InterestUpdate::Unsub => encode::runsub(out, false, account, subject, queue),
    }
}

fn interest_key(subject: &[u8], queue: Option<&[u8]>) -> Box<[u8]> {
    match queue {
        None => subject.into(),
        Some(q) => {
            let mut k = Vec::with_capacity(subject.len() + 1 + q.len());
            k.extend_from_slice(subject);
            k.push(b' ');
            k.extend_from_slice(q);
            k.into()
        }
    }
}

/// Subjects and queue names never contain spaces, so the first space splits a key.
fn split_key(key: &[u8]) -> (&[u8], Option<&[u8]>) {
    match key.iter().position(|&b| b == b' ') {
        Some(i) => (&key[..i], Some(&key[i + 1..])),
        None => (key, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_interest_goes_out_on_first_and_last_only() {
        let mut li = LocalInterest::new(1);
        assert_eq!(
            li.change(b"foo", None, true),
            Some(InterestUpdate::Sub(None))
        );
        assert_eq!(li.change(b"foo", None, true), None);
        assert_eq!(li.change(b"foo", None, false), None);
        assert_eq!(li.change(b"foo", None, false), Some(InterestUpdate::Unsub));
        assert_eq!(li.change(b"foo", None, false), None);
        assert!(li.is_empty());
    }

    #[test]
    fn queue_interest_goes_out_with_every_weight() {
        let mut li = LocalInterest::new(1);
        let q = Some(&b"workers"[..]);
        assert_eq!(li.change(b"q", q, true), Some(InterestUpdate::Sub(Some(1))));
        assert_eq!(li.change(b"q", q, true), Some(InterestUpdate::Sub(Some(2))));
        let mut out = Vec::new();
        li.encode_all(b"$G", &mut out);
        assert_eq!(out, b"RS+ $G q workers 2\r\n");
        assert_eq!(
            li.change(b"q", q, false),
            Some(InterestUpdate::Sub(Some(1)))
        );
        assert_eq!(li.change(b"q", q, false), Some(InterestUpdate::Unsub));
        let mut out = Vec::new();
        encode_update(&mut out, b"$G", b"q", q, InterestUpdate::Unsub);
        assert_eq!(out, b"RS- $G q workers\r\n");
    }
}
