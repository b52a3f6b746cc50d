//! The routing table and server-wide state, shared by every connection.
//!
//! # Lock rules
//! - Locks here are `std` locks, held only for short, bounded work.
//! - A lock is never held across a call into other code (no callbacks, no notify, no other
//!   client's lock) and never two at once. Delivery takes the sublist read lock only to
//!   match, releases it, then takes each receiver's own lock in turn.
//! - Hot counters are atomics, added to once per read batch rather than once per message.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::client::{ClientHandle, Subscription};
use crate::errors::CloseReason;
use crate::options::Options;
use crate::sublist::{InvalidSubject, MatchResult, Sublist, SublistStats};
use crate::{FastMap, Time};

/// The name of the global account every client lands in until accounts exist.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// An account: a subject namespace with its own sublist.
pub struct Account {
    /// Its name (`$G` for the global account).
    pub name: String,
    sublist: RwLock<Sublist<Subscription>>,
    /// Mirrors the sublist generation so connections can validate their caches lock-free.
    generation: AtomicU64,
    /// Messages published into this account.
    pub in_msgs: AtomicU64,
    /// Payload bytes published into this account.
    pub in_bytes: AtomicU64,
    /// Messages delivered from this account.
    pub out_msgs: AtomicU64,
    /// Payload bytes delivered from this account.
    pub out_bytes: AtomicU64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// An empty account.
    pub fn new(name: &str, cache: bool) -> Account {
        Account {
            name: name.to_string(),
            sublist: RwLock::new(Sublist::new(cache)),
            generation: AtomicU64::new(0),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            out_msgs: AtomicU64::new(0),
            out_bytes: AtomicU64::new(0),
        }
    }

    /// The sublist generation; changes on every insert and remove.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Adds a subscription.
    pub fn insert(&self, sub: Arc<Subscription>) -> Result<(), InvalidSubject> {
        let mut sl = self.sublist.write().unwrap_or_else(|e| e.into_inner());
        sl.insert(sub)?;
        self.generation.store(sl.generation(), Ordering::Release);
        Ok(())
    }

    /// Removes subscriptions; those not present are ignored.
    pub fn remove<'a>(&self, subs: impl IntoIterator<Item = &'a Arc<Subscription>>) {
        let mut sl = self.sublist.write().unwrap_or_else(|e| e.into_inner());
        for s in subs {
            s.close();
            sl.remove(s);
        }
        self.generation.store(sl.generation(), Ordering::Release);
    }

    /// Matches a literal subject.
    pub fn match_subject(&self, subject: &[u8]) -> Arc<MatchResult<Subscription>> {
        self.sublist
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .match_subject(subject)
    }

    /// Number of subscriptions.
    pub fn num_subscriptions(&self) -> usize {
        self.sublist
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .count()
    }

    /// Sublist statistics.
    pub fn sublist_stats(&self) -> SublistStats {
        self.sublist
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .stats()
    }

    /// Every subscription (monitoring).
    pub fn all_subscriptions(&self) -> Vec<Arc<Subscription>> {
        self.sublist.read().unwrap_or_else(|e| e.into_inner()).all()
    }
}

/// Server-wide counters.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Messages received from clients.
    pub in_msgs: AtomicU64,
    /// Payload bytes received.
    pub in_bytes: AtomicU64,
    /// Messages delivered.
    pub out_msgs: AtomicU64,
    /// Payload bytes delivered.
    pub out_bytes: AtomicU64,
    /// Connections closed as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
}

/// What monitoring knows of a live client.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// Remote address, when the runtime knows it.
    pub addr: Option<std::net::SocketAddr>,
    /// When the connection was accepted.
    pub start: Time,
    /// CONNECT `name`.
    pub name: String,
    /// CONNECT `lang`.
    pub lang: String,
    /// CONNECT `version`.
    pub version: String,
    /// Authenticated user.
    pub user: Option<String>,
}

/// A closed connection, remembered for `/connz?state=closed`.
#[derive(Debug, Clone)]
pub struct ClosedClient {
    /// Connection id.
    pub cid: u64,
    /// What monitoring knew of it.
    pub info: ClientInfo,
    /// When it closed.
    pub stop: Time,
    /// Why.
    pub reason: CloseReason,
    /// Messages and bytes it sent.
    pub in_msgs: u64,
    /// Payload bytes it sent.
    pub in_bytes: u64,
    /// Messages delivered to it.
    pub out_msgs: u64,
    /// Payload bytes delivered to it.
    pub out_bytes: u64,
    /// Subscriptions it had when it closed.
    pub num_subs: u64,
}

struct Registered {
    handle: Arc<ClientHandle>,
    info: ClientInfo,
}

/// Why a client could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// `max_connections` reached.
    MaxConnections,
}

/// The state every connection shares: options, identity, accounts, clients and stats.
pub struct Shared {
    opts: Options,
    server_id: String,
    global: Arc<Account>,
    clients: Mutex<FastMap<u64, Registered>>,
    next_cid: AtomicU64,
    /// Server-wide counters.
    pub stats: ServerStats,
    closed: Mutex<VecDeque<ClosedClient>>,
    start: Time,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Server state for `opts`, identified by `server_id` (the runtime makes one from real
    /// randomness; the simulator from its seed), started at `now`.
    pub fn new(opts: Options, server_id: String, now: Time) -> Shared {
        let global = Arc::new(Account::new(GLOBAL_ACCOUNT, !opts.disable_sublist_cache));
        Shared {
            opts,
            server_id,
            global,
            clients: Mutex::new(FastMap::default()),
            next_cid: AtomicU64::new(1),
            stats: ServerStats::default(),
            closed: Mutex::new(VecDeque::new()),
            start: now,
        }
    }

    /// The options.
    pub fn opts(&self) -> &Options {
        &self.opts
    }

    /// The server id (a public-key-shaped string starting with `N`).
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The server name (the id unless configured).
    pub fn server_name(&self) -> &str {
        self.opts.server_name.as_deref().unwrap_or(&self.server_id)
    }

    /// When the server started.
    pub fn start_time(&self) -> Time {
        self.start
    }

    /// The global account.
    pub fn global_account(&self) -> &Arc<Account> {
        &self.global
    }

    fn clients(&self) -> MutexGuard<'_, FastMap<u64, Registered>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next connection id.
    pub fn next_cid(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a client to the registry, enforcing `max_connections`.
    pub fn register(
        &self,
        handle: Arc<ClientHandle>,
        info: ClientInfo,
    ) -> Result<(), RegisterError> {
        let mut clients = self.clients();
        if clients.len() >= self.opts.max_connections {
            return Err(RegisterError::MaxConnections);
        }
        clients.insert(handle.cid, Registered { handle, info });
        drop(clients);
        self.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Updates what monitoring shows of a client (after CONNECT).
    pub fn update_info(&self, cid: u64, f: impl FnOnce(&mut ClientInfo)) {
        if let Some(r) = self.clients().get_mut(&cid) {
            f(&mut r.info);
        }
    }

    /// Removes a client and remembers it as closed (bounded by `max_closed_clients`).
    pub fn unregister(
        &self,
        cid: u64,
        stop: Time,
        reason: CloseReason,
        in_msgs: u64,
        in_bytes: u64,
        num_subs: u64,
    ) {
        let Some(r) = self.clients().remove(&cid) else {
            return;
        };
        if reason.is_slow_consumer() {
            self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
        }
        if self.opts.max_closed_clients == 0 {
            return;
        }
        let (out_msgs, out_bytes) = r.handle.out_stats();
        let closed = ClosedClient {
            cid,
            info: r.info,
            stop,
            reason,
            in_msgs,
            in_bytes,
            out_msgs,
            out_bytes,
            num_subs,
        };
        let mut ring = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() >= self.opts.max_closed_clients {
            ring.pop_front();
        }
        ring.push_back(closed);
    }

    /// Number of live clients.
    pub fn num_clients(&self) -> usize {
        self.clients().len()
    }

    /// Handles and infos of live clients, ordered by cid (monitoring, shutdown).
    pub fn client_list(&self) -> Vec<(Arc<ClientHandle>, ClientInfo)> {
        let mut v: Vec<_> = self
            .clients()
            .values()
            .map(|r| (Arc::clone(&r.handle), r.info.clone()))
            .collect();
        v.sort_by_key(|(h, _)| h.cid);
        v
    }

    /// The remembered closed connections, oldest first.
    pub fn closed_clients(&self) -> Vec<ClosedClient> {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Asks every client to close with `reason` (shutdown). Their runtimes finish the job.
    pub fn close_all(&self, reason: CloseReason) {
        for (h, _) in self.client_list() {
            h.close_after_flush(reason);
        }
    }
}
