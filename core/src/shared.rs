//! The routing table and server-wide state, shared by every connection.
//!
//! # Lock rules
//! - Locks here are held only for short, bounded work: `std` locks, except each account's
//!   sublist lock (`parking_lot`, for its fair unlock between the slices of a long removal).
//! - A lock is never held across a call into other code (no callbacks, no notify, no other
//!   client's lock) and never two at once, with one nesting: a match under an account's
//!   sublist lock takes that sublist's cache mutex (always in that order, and the cache
//!   mutex is never held while taking any other lock). Delivery takes the sublist read lock
//!   only to match, releases it, then takes each receiver's own lock in turn.
//! - Poisoned `std` locks (a panic while holding one: a bug) are recovered, never unwrapped,
//!   so one bug does not take down every other connection.
//! - Hot counters are atomics, added to once per read batch rather than once per message.
//! - In a cluster, one more nesting: an account's interest lock, then the route table's
//!   read lock, then each route's queue lock in turn (`Account::local_interest`), so every
//!   route sees one key's `RS+`/`RS-` in the order they were counted. The interest lock is
//!   never taken under the sublist lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use crate::client::{ClientHandle, Notify, Subscription};
use crate::errors::CloseReason;
use crate::node::NodeInput;
use crate::options::Options;
use crate::route::RouteTable;
use crate::{FastMap, Time};

pub use crate::account::{Account, GLOBAL_ACCOUNT, REMOVE_SLICE, SYSTEM_ACCOUNT};

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
    /// The account it is bound to (`$G` until CONNECT says otherwise).
    pub account: String,
    /// Its TLS session (version and suite, Go's names), once the handshake is done.
    pub tls: Option<Box<(String, String)>>,
    /// The handshake came before INFO (Go's `tls_first`).
    pub tls_first: bool,
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
    /// The subscriptions it still had (for `/connz?state=closed&subs=1`).
    pub subs: Vec<ClosedSub>,
    /// Its last activity.
    pub last_activity: Time,
    /// Its last round trip, as Go writes it (empty if none).
    pub rtt: String,
}

/// A subscription of a closed connection, as monitoring lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedSub {
    /// Subject.
    pub subject: Box<[u8]>,
    /// Queue group.
    pub queue: Option<Box<[u8]>>,
    /// Subscription id.
    pub sid: Box<[u8]>,
    /// Messages delivered.
    pub msgs: u64,
    /// Auto-unsubscribe limit (0: none).
    pub max: u64,
}

impl ClosedSub {
    /// What monitoring keeps of `s`.
    pub fn of(s: &Subscription) -> ClosedSub {
        ClosedSub {
            subject: s.subject().into(),
            queue: s.queue.clone(),
            sid: s.sid().into(),
            msgs: s.delivered(),
            max: s.max(),
        }
    }
}

/// A live client in [`Shared`]'s map, boxed there: the map's table holds a pointer per
/// slot rather than this (about 230 bytes), so its spare capacity costs little (at 5,000
/// clients a table of 8,192 slots held 380 bytes per client).
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

/// A source of secret random bytes (the runtime installs the operating system's).
pub type Entropy = Arc<dyn Fn(&mut [u8]) + Send + Sync>;

/// The state every connection shares: options, identity, accounts, clients and stats.
///
/// Options are swappable for config reload: [`apply_reload`](Self::apply_reload) replaces
/// them atomically and bumps [`options_generation`](Self::options_generation). Connections
/// cache an `Arc<Options>` and refresh it in `Connection::handle_config_change` when the
/// generation moved, so the hot path never takes the options lock.
pub struct Shared {
    opts: RwLock<Arc<Options>>,
    opts_generation: AtomicU64,
    server_id: String,
    global: Arc<Account>,
    system: Arc<Account>,
    /// Every account by name, `$G` and `$SYS` included. Read when a connection binds to
    /// its account and by monitoring; never on the hot path (connections hold their
    /// account's `Arc`).
    accounts: RwLock<FastMap<String, Arc<Account>>>,
    clients: Mutex<FastMap<u64, Box<Registered>>>,
    next_cid: AtomicU64,
    /// Server-wide counters.
    pub stats: ServerStats,
    closed: Mutex<VecDeque<ClosedClient>>,
    start: Time,
    /// The registered routes (empty and disabled for a standalone server).
    routes: Arc<RouteTable>,
    /// Inputs for the node from connections (routes up and down, gossip), taken by the
    /// node's driver when `node_waker` wakes it. Bounded by [`NODE_INBOX_MAX`].
    node_inbox: Mutex<VecDeque<NodeInput>>,
    node_waker: OnceLock<Arc<dyn Notify>>,
    /// Publish rate counters per (account, user) that has a limit.
    rate_counters: Mutex<FastMap<(String, String), Arc<crate::rate::RateCounters>>>,
    /// The runtime's wall clock and process figures, for `$SYS` events and replies.
    host: OnceLock<Arc<dyn crate::events::Host>>,
    /// The runtime's source of secrets (nonces); see [`set_entropy`](Self::set_entropy).
    entropy: OnceLock<Entropy>,
    /// The server's nkey (its public key is the server id), for what it signs.
    server_key: OnceLock<Arc<nkeys::KeyPair>>,
    /// The server's curve key (the auth callout's `xkey` sealing), drawn on first use.
    server_xkey: OnceLock<Arc<nkeys::XKey>>,
    /// Auth callout requests in flight (see `crate::callout`).
    callouts: Arc<crate::callout::Registry>,
    /// Stands in for `entropy` until one is installed: seeded, so tests and the simulator
    /// replay, and never used by a runtime (they install the operating system's).
    fallback_entropy: Mutex<crate::rng::Rng>,
    /// Sequence of the server's `$SYS` messages (Go's `ServerInfo.seq`).
    pub event_seq: AtomicU64,
    /// Non-loopback interface addresses (see [`set_interface_ips`](Self::set_interface_ips)).
    interface_ips: OnceLock<Vec<std::net::IpAddr>>,
    /// Each peer's last reported client count (`$SYS.SERVER.<id>.STATSZ` gossip).
    pub peer_loads: crate::events::PeerLoads,
    /// What the rebalancer did and plans (`cluster { rebalance }`).
    pub rebalance: crate::node::RebalanceStatus,
    /// The configured imports as wired (see [`crate::imports::rewire`]).
    imports: Mutex<Vec<crate::imports::Wired>>,
    /// The program's config reload, for `$SYS.REQ.SERVER.<id>.RELOAD` (see
    /// [`set_reload_hook`](Self::set_reload_hook)).
    reload_hook: OnceLock<ReloadHook>,
}

/// Asks the program to reload its config; the argument is the reply subject the outcome
/// goes to (with [`crate::events::reload_reply`]) once the reload is done. Must not block:
/// it runs on the requester's thread.
pub type ReloadHook = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// Most inputs waiting for the node; only route connections send any (a few per route
/// connection's life), so this is never reached short of a bug.
pub const NODE_INBOX_MAX: usize = 1 << 16;

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
        let cache = !opts.disable_sublist_cache;
        let routes = Arc::new(RouteTable::new(opts.cluster.is_some()));
        let account = |name| {
            Arc::new(Account::with_routes(
                name,
                cache,
                opts.seed,
                Arc::clone(&routes),
            ))
        };
        let global = account(GLOBAL_ACCOUNT);
        // `system_account` names it (Go: `$SYS` by default, created if not configured).
        let system = account(opts.system_account.as_deref().unwrap_or(SYSTEM_ACCOUNT));
        // `$SYS.REQ` services (see `events::requests`); constant, valid subjects: the
        // inserts cannot fail.
        let requests: Arc<dyn crate::internal::InternalHandler> =
            Arc::new(crate::events::SysRequests);
        // Peers' load gossip, as Go servers follow each other's STATSZ.
        let peers = Subscription::internal(
            crate::events::STATSZ_ANY.as_bytes(),
            crate::internal::internal_client(opts.seed),
            Arc::new(crate::events::StatszListener),
        );
        let _ = system.insert(Arc::new(peers));
        for subject in crate::events::request_subjects(&server_id) {
            let sub = Subscription::internal(
                subject.as_bytes(),
                crate::internal::internal_client(opts.seed),
                Arc::clone(&requests),
            );
            let _ = system.insert(Arc::new(sub));
        }
        let mut accounts = FastMap::default();
        accounts.insert(GLOBAL_ACCOUNT.to_string(), Arc::clone(&global));
        accounts.insert(system.name.clone(), Arc::clone(&system));
        // Configured accounts exist from the start (Go creates them at load), so a route may
        // name one before any of its clients connected here.
        for a in &opts.accounts {
            accounts
                .entry(a.name.clone())
                .or_insert_with(|| account(&a.name));
        }
        let imports = crate::imports::wire(&opts, |n| accounts.get(n).cloned(), opts.seed);
        let fallback_entropy = Mutex::new(crate::rng::Rng::fork(opts.seed, 0x006e_6f6e_6365));
        for acc in accounts.values() {
            if !Arc::ptr_eq(acc, &system) {
                crate::imports::wire_system(acc, &system, opts.seed);
            }
        }
        for a in &opts.accounts {
            if let Some(acc) = accounts.get(&a.name) {
                acc.rate.set(a.publish_rate);
            }
        }
        let sh = Shared {
            opts: RwLock::new(Arc::new(opts)),
            opts_generation: AtomicU64::new(0),
            server_id,
            global,
            system,
            accounts: RwLock::new(accounts),
            clients: Mutex::new(FastMap::default()),
            next_cid: AtomicU64::new(1),
            stats: ServerStats::default(),
            closed: Mutex::new(VecDeque::new()),
            start: now,
            routes,
            node_inbox: Mutex::new(VecDeque::new()),
            node_waker: OnceLock::new(),
            rate_counters: Mutex::new(FastMap::default()),
            host: OnceLock::new(),
            entropy: OnceLock::new(),
            server_key: OnceLock::new(),
            callouts: Arc::default(),
            server_xkey: OnceLock::new(),
            fallback_entropy,
            event_seq: AtomicU64::new(0),
            reload_hook: OnceLock::new(),
            imports: Mutex::new(imports),
            peer_loads: crate::events::PeerLoads::default(),
            interface_ips: OnceLock::new(),
            rebalance: crate::node::RebalanceStatus::default(),
        };
        sh.set_mappings(&sh.opts());
        sh
    }

    /// Compiles and installs the subject mappings of `opts`: the top-level ones in `$G`, each
    /// configured account's in it (at start and on reload).
    pub fn set_mappings(&self, opts: &Options) {
        let cluster = opts.cluster.as_ref().and_then(|c| c.name.as_deref());
        // The config loader compiled every mapping already and refused any that fails; an
        // `Options` built in code with a bad one gets no mappings rather than a panic.
        let compile = |m| crate::mapping::Mappings::compile(m, cluster).unwrap_or_default();
        self.global.set_mappings(compile(&opts.mappings));
        for a in &opts.accounts {
            if let Some(acc) = self.account(&a.name) {
                acc.set_mappings(compile(&a.mappings));
            }
        }
    }

    /// Installs the runtime's wall clock and process figures (once, at startup).
    pub fn set_host(&self, host: Arc<dyn crate::events::Host>) {
        let _ = self.host.set(host);
    }

    /// Installs the runtime's source of secret randomness (once, at startup): the
    /// operating system's. The core draws nonces from it and never from its seeded
    /// [`Rng`](crate::rng::Rng), whose stream is predictable.
    pub fn set_entropy(&self, entropy: Entropy) {
        let _ = self.entropy.set(entropy);
    }

    /// Installs the server's nkey (once, at startup, by the runtime: the server id is its
    /// public key).
    pub fn set_server_key(&self, key: nkeys::KeyPair) {
        let _ = self.server_key.set(Arc::new(key));
    }

    /// The server's curve key, made on first use from [`fill_secret`](Self::fill_secret)
    /// (Go's server `xkey`: requests to a callout with `xkey` are sealed from it).
    pub fn server_xkey(&self) -> &Arc<nkeys::XKey> {
        self.server_xkey.get_or_init(|| {
            let mut raw = [0u8; 32];
            self.fill_secret(&mut raw);
            Arc::new(nkeys::XKey::new_from_raw(raw))
        })
    }

    /// The auth callout's requests in flight.
    pub fn callouts(&self) -> &crate::callout::Registry {
        &self.callouts
    }

    /// The same, shared (a pending request keeps it to unregister itself).
    pub fn callouts_arc(&self) -> Arc<crate::callout::Registry> {
        Arc::clone(&self.callouts)
    }

    /// The server's nkey, when the runtime installed one (tests and the simulator may not).
    pub fn server_key(&self) -> Option<&Arc<nkeys::KeyPair>> {
        self.server_key.get()
    }

    /// Fills `buf` with secret random bytes (the runtime's; a seeded stream in tests and
    /// the simulator, which install none).
    pub fn fill_secret(&self, buf: &mut [u8]) {
        if let Some(e) = self.entropy.get() {
            e(buf);
            return;
        }
        let mut rng = self
            .fallback_entropy
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for chunk in buf.chunks_mut(8) {
            let x = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
    }

    /// A fresh INFO nonce, as Go makes one: 11 secret random bytes in base64url without
    /// padding (15 characters).
    pub fn new_nonce(&self) -> Box<str> {
        let mut raw = [0u8; 11];
        self.fill_secret(&mut raw);
        data_encoding::BASE64URL_NOPAD.encode(&raw).into()
    }

    /// The runtime's host services, once installed.
    pub fn host(&self) -> Option<&Arc<dyn crate::events::Host>> {
        self.host.get()
    }

    /// The machine's non-loopback interface addresses (once, at startup, by the runtime):
    /// a server listening on every interface lists them as its client URLs, as Go does.
    pub fn set_interface_ips(&self, ips: Vec<std::net::IpAddr>) {
        let _ = self.interface_ips.set(ips);
    }

    /// The interface addresses the runtime found (none before it looked, or in tests).
    pub fn interface_ips(&self) -> &[std::net::IpAddr] {
        self.interface_ips.get().map_or(&[], Vec::as_slice)
    }

    /// Installs the program's reload (once, at startup; without it a reload request is
    /// refused with Go's words for a server without a config file).
    pub fn set_reload_hook(&self, hook: ReloadHook) {
        let _ = self.reload_hook.set(hook);
    }

    /// The program's reload, once installed.
    pub fn reload_hook(&self) -> Option<&ReloadHook> {
        self.reload_hook.get()
    }

    /// The registered routes.
    pub fn routes(&self) -> &Arc<RouteTable> {
        &self.routes
    }

    /// The cluster name (`None` for a standalone server).
    pub fn cluster_name(&self) -> Option<String> {
        self.opts().cluster.as_ref().and_then(|c| c.name.clone())
    }

    /// Sets what wakes the node's driver when an input arrives (once; later calls ignored).
    pub fn set_node_waker(&self, waker: Arc<dyn Notify>) {
        let _ = self.node_waker.set(waker);
    }

    /// Queues an input for the node and wakes its driver.
    pub fn to_node(&self, input: NodeInput) {
        let mut q = self.node_inbox.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() < NODE_INBOX_MAX {
            q.push_back(input);
        }
        drop(q);
        if let Some(w) = self.node_waker.get() {
            w.notify();
        }
    }

    /// Takes every input queued for the node, in order.
    pub fn take_node_inputs(&self) -> Vec<NodeInput> {
        let mut q = self.node_inbox.lock().unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    }

    /// The options in force (a snapshot: a reload after this call does not change it).
    pub fn opts(&self) -> Arc<Options> {
        Arc::clone(&self.opts.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Bumped by every [`apply_reload`](Self::apply_reload); connections compare it with the
    /// generation of the options they cached.
    pub fn options_generation(&self) -> u64 {
        self.opts_generation.load(Ordering::Acquire)
    }

    /// The options in force and their generation, read together.
    pub fn opts_with_generation(&self) -> (Arc<Options>, u64) {
        let guard = self.opts.read().unwrap_or_else(|e| e.into_inner());
        (
            Arc::clone(&guard),
            self.opts_generation.load(Ordering::Acquire),
        )
    }

    /// Config reload: takes the reloadable options from `new` (auth, `max_connections`,
    /// `max_payload`, `max_control_line`, `ping_interval`, `ping_max`, `write_deadline`,
    /// `client_advertise`, publish rates, mappings, accounts with their imports and
    /// exports: unchanged imports keep flowing, removed ones stop) and keeps every other field as it is (listen address, bound port,
    /// seed, `max_pending`, … cannot change while running; the caller refuses such reloads
    /// with `config::diff` first). The swap is atomic: a reader sees all old or all new
    /// options. Returns the new generation.
    ///
    /// Contract: after this returns, the runtime calls `Connection::handle_config_change` on
    /// every live connection (new connections already see the new options). Clients over a
    /// lowered `max_connections` are not closed here; see
    /// [`close_over_max_connections`](Self::close_over_max_connections).
    pub fn apply_reload(&self, new: &Options) -> u64 {
        let generation = {
            let mut guard = self.opts.write().unwrap_or_else(|e| e.into_inner());
            let mut o = Options::clone(&guard);
            o.client_advertise.clone_from(&new.client_advertise);
            o.max_control_line = new.max_control_line;
            o.max_payload = new.max_payload;
            o.max_connections = new.max_connections;
            o.ping_interval = new.ping_interval;
            o.ping_max = new.ping_max;
            o.write_deadline = new.write_deadline;
            o.auth = new.auth.clone();
            o.trace = new.trace;
            o.publish_rate = new.publish_rate;
            o.mappings.clone_from(&new.mappings);
            // Accounts whole: limits, exports, imports, budgets, mappings; accounts added
            // or removed (the system account and `no_auth_user` cannot change: `config::
            // diff` refuses that).
            o.accounts.clone_from(&new.accounts);
            if let (Some(c), Some(n)) = (o.cluster.as_mut(), &new.cluster) {
                // Routes: the node dials the new ones and closes the removed ones when it
                // takes `NodeInput::Reloaded`; rebalancing follows from its next tick.
                c.routes.clone_from(&n.routes);
                c.rebalance = n.rebalance;
            }
            *guard = Arc::new(o);
            // Bumped under the write lock so `opts_with_generation` pairs them consistently.
            self.opts_generation.fetch_add(1, Ordering::AcqRel) + 1
        };
        // Outside the options lock (all of these read the options). Until the imports are
        // rewired a publisher may still cross an import just removed: the reload is not one
        // atomic step for messages in flight, as in Go.
        let o = self.opts();
        for a in &o.accounts {
            // New accounts exist from now on, as configured ones do from the start; budgets
            // change in place (connections keep theirs: the account holds it).
            self.account_or_create(&a.name).rate.set(a.publish_rate);
        }
        self.set_mappings(&o);
        let mut imports = self.imports.lock().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::take(&mut *imports);
        *imports = crate::imports::rewire(old, &o, |n| self.account(n), o.seed, generation);
        generation
    }

    /// After `max_connections` was lowered by a reload: asks the newest clients over the limit
    /// to close (`Maximum Connections Exceeded`, the reason Go uses). Returns how many.
    pub fn close_over_max_connections(&self) -> usize {
        let max = self.opts().max_connections;
        let list = self.client_list();
        if max == 0 || list.len() <= max {
            return 0;
        }
        let excess = list.len() - max;
        let mut err = Vec::new();
        crate::proto::encode::err(&mut err, crate::errors::text::MAX_CONNECTIONS);
        for (h, _) in list.iter().rev().take(excess) {
            h.send(&err);
            h.close_after_flush(CloseReason::MaxConnectionsExceeded);
        }
        excess
    }

    /// The server id (a public-key-shaped string starting with `N`).
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The server name (the id unless configured).
    pub fn server_name(&self) -> String {
        // Not reloadable, so the name is fixed for the server's life.
        match &self
            .opts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .server_name
        {
            Some(n) => n.clone(),
            None => self.server_id.clone(),
        }
    }

    /// When the server started.
    pub fn start_time(&self) -> Time {
        self.start
    }

    /// The system account (`$SYS`).
    pub fn system_account(&self) -> &Arc<Account> {
        &self.system
    }

    /// The account called `name`, if it exists.
    pub fn account(&self, name: &str) -> Option<Arc<Account>> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// The account called `name`, created (empty) if it does not exist yet. Accounts come
    /// from the server's configuration (users name theirs), never from what a client sends.
    pub fn account_or_create(&self, name: &str) -> Arc<Account> {
        if let Some(a) = self.account(name) {
            return a;
        }
        let o = self.opts();
        let mut map = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        let mut created = false;
        let acc = Arc::clone(map.entry(name.to_string()).or_insert_with(|| {
            created = true;
            Arc::new(Account::with_routes(
                name,
                !o.disable_sublist_cache,
                o.seed,
                Arc::clone(&self.routes),
            ))
        }));
        drop(map);
        if created {
            crate::imports::wire_system(&acc, &self.system, o.seed);
        }
        acc
    }

    /// The throttle and drop counters of (`account`, `user`) (`/metrics`).
    pub fn rate_counters(&self, account: &str, user: &str) -> Arc<crate::rate::RateCounters> {
        let mut m = self.rate_counters.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            m.entry((account.to_string(), user.to_string()))
                .or_default(),
        )
    }

    /// Every (`account`, `user`) that was rate limited, with its counters.
    pub fn all_rate_counters(&self) -> Vec<((String, String), Arc<crate::rate::RateCounters>)> {
        let m = self.rate_counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = m.iter().map(|(k, c)| (k.clone(), Arc::clone(c))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every account, sorted by name (monitoring).
    pub fn accounts(&self) -> Vec<Arc<Account>> {
        let mut v: Vec<Arc<Account>> = self
            .accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Subscriptions in all accounts (internal ones included, as Go counts them).
    pub fn num_subscriptions(&self) -> usize {
        self.accounts().iter().map(|a| a.num_subscriptions()).sum()
    }

    /// Live clients bound to account `name`.
    pub fn num_clients_in(&self, name: &str) -> usize {
        self.clients()
            .values()
            .filter(|r| r.info.account == name)
            .count()
    }

    /// The global account.
    pub fn global_account(&self) -> &Arc<Account> {
        &self.global
    }

    fn clients(&self) -> MutexGuard<'_, FastMap<u64, Box<Registered>>> {
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
        // Read before taking the registry lock: never two locks at once.
        let max = self.opts().max_connections;
        // Over its share with `refuse_new_when_over`: the same refusal as a full server,
        // which the official clients answer by trying another one.
        if self.rebalance.refusing_new.load(Ordering::Relaxed) {
            return Err(RegisterError::MaxConnections);
        }
        let mut clients = self.clients();
        if clients.len() >= max {
            return Err(RegisterError::MaxConnections);
        }
        clients.insert(handle.cid, Box::new(Registered { handle, info }));
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

    /// Removes a client and remembers it as closed, with the subscriptions it still had
    /// (bounded by `max_closed_clients`). Returns the record without its subscriptions (for
    /// the disconnect event); `None` if the client was not registered.
    pub fn unregister(
        &self,
        cid: u64,
        stop: Time,
        reason: CloseReason,
        in_msgs: u64,
        in_bytes: u64,
        subs: Vec<ClosedSub>,
    ) -> Option<ClosedClient> {
        let r = *self.clients().remove(&cid)?;
        if reason.is_slow_consumer() {
            self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
            if let Some(acc) = self.account(&r.info.account) {
                acc.slow_consumers.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (out_msgs, out_bytes) = r.handle.out_stats();
        // The record returned (for events) goes without the subscriptions: a connection
        // may close with 100,000 of them, and only monitoring's history wants them.
        let record = ClosedClient {
            cid,
            info: r.info,
            stop,
            reason,
            in_msgs,
            in_bytes,
            out_msgs,
            out_bytes,
            subs: Vec::new(),
            last_activity: Time::from_nanos(r.handle.last_activity.load(Ordering::Relaxed)),
            rtt: r.handle.rtt_string(),
        };
        let max_closed = self.opts().max_closed_clients;
        if max_closed > 0 {
            let kept = ClosedClient {
                subs,
                ..record.clone()
            };
            let mut ring = self.closed.lock().unwrap_or_else(|e| e.into_inner());
            if ring.len() >= max_closed {
                ring.pop_front();
            }
            ring.push_back(kept);
        }
        Some(record)
    }

    /// What monitoring knows of live client `cid`.
    pub fn client_info(&self, cid: u64) -> Option<ClientInfo> {
        self.clients().get(&cid).map(|r| r.info.clone())
    }

    /// The handle of live client `cid`, if it is still registered.
    pub fn client_handle(&self, cid: u64) -> Option<Arc<ClientHandle>> {
        self.clients().get(&cid).map(|r| Arc::clone(&r.handle))
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

    /// Lame duck mode: tells every client that takes async INFO that this server is going
    /// away (`INFO {..., "ldm":true}`), so it can reconnect elsewhere before it is closed.
    /// Returns how many were told. The pacing of lame duck mode (when to call this, when to
    /// close each client) is [`crate::node::Node`]'s; stopping accepting is the runtime's.
    pub fn enter_lame_duck(&self) -> usize {
        let opts = self.opts();
        // The routes hear it first (Go: `sendLDMToRoutes`), our INFO with `ldm`.
        if opts.cluster.is_some() {
            let mut info = crate::conn::our_route_info(self, &opts);
            info.ldm = true;
            self.routes
                .broadcast(&crate::route::info::info_line(&info, false));
        }
        let mut told = 0;
        for (h, info) in self.client_list() {
            if !h.takes_async_info() {
                continue;
            }
            let line = crate::info::client_info_line(self, &opts, h.cid, info.addr, true);
            if let crate::client::Delivered::Queued { wake } = h.send(&line) {
                if wake {
                    h.wake();
                }
                told += 1;
            }
        }
        told
    }

    /// Sends every client that takes async INFO a fresh INFO (the cluster's client URLs
    /// changed: a peer joined, left or went lame duck). Returns how many were told.
    pub fn send_async_info(&self) -> usize {
        let opts = self.opts();
        let mut told = 0;
        for (h, info) in self.client_list() {
            if !h.takes_async_info() {
                continue;
            }
            let line = crate::info::client_info_line(self, &opts, h.cid, info.addr, false);
            if let crate::client::Delivered::Queued { wake } = h.send(&line) {
                if wake {
                    h.wake();
                }
                told += 1;
            }
        }
        told
    }

    /// Asks every client to close with `reason` (shutdown). Their runtimes finish the job.
    pub fn close_all(&self, reason: CloseReason) {
        for (h, _) in self.client_list() {
            h.close_after_flush(reason);
        }
    }
}
