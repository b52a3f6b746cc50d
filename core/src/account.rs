//! Accounts: subject namespaces, each with its own sublist and counters.
//!
//! Every connection is bound to one account when it authenticates (`$G` unless its user
//! names another); a message published in an account reaches only that account's
//! subscriptions. The server always has `$G` and the system account `$SYS` (as Go), whose
//! subscriptions include internal ones answered inside the server (see [`crate::internal`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::client::{ClientHandle, Delivered, Subscription};
use crate::mapping::{Mapped, Mappings};
use crate::rng::Rng;
use crate::route::{self, LocalInterest, RouteTable};
use crate::sublist::{InterestChange, InvalidSubject, MatchResult, Sublist, SublistStats};

/// The global account: clients whose user names no account land here.
pub const GLOBAL_ACCOUNT: &str = "$G";
/// The system account (Go's default `system_account`).
pub const SYSTEM_ACCOUNT: &str = "$SYS";

/// Most subscriptions removed under one hold of an account's write lock (see
/// [`Account::remove`]).
pub const REMOVE_SLICE: usize = 256;

/// An account: a subject namespace with its own sublist.
pub struct Account {
    /// Its name (`$G` for the global account).
    pub name: String,
    /// The system account (`$SYS`): server services, internal subscriptions.
    pub is_system: bool,
    sublist: parking_lot::RwLock<Sublist<Subscription>>,
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
    /// Its clients closed as slow consumers.
    pub slow_consumers: AtomicU64,
    /// The server's routes: local interest changes go out to them.
    routes: Arc<RouteTable>,
    /// Local subscriptions per subject, when the server is in a cluster (see
    /// [`LocalInterest`]). Held while the update is queued to every route, so routes see
    /// the updates of one key in the order they were counted.
    interest: Option<parking_lot::Mutex<LocalInterest>>,
    /// `publish_rate` of the account: one budget for all its connections on this server.
    pub rate: crate::rate::AccountLimiter,
    /// Subject mappings; replaced whole by a reload.
    mappings: parking_lot::RwLock<Arc<Mappings>>,
    /// Mirrors "has mappings" so the publish path pays one relaxed load when there are none.
    has_mappings: AtomicBool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// An empty account with no routes; `seed` keys its sublist's hashing (see
    /// [`crate::keyed_hasher`]).
    pub fn new(name: &str, cache: bool, seed: u64) -> Account {
        Account::with_routes(name, cache, seed, Arc::new(RouteTable::new(false)))
    }

    /// An empty account of a server whose routes are `routes`.
    pub fn with_routes(name: &str, cache: bool, seed: u64, routes: Arc<RouteTable>) -> Account {
        let interest = routes
            .is_enabled()
            .then(|| parking_lot::Mutex::new(LocalInterest::new(seed)));
        Account {
            routes,
            interest,
            rate: crate::rate::AccountLimiter::default(),
            mappings: parking_lot::RwLock::new(Arc::new(Mappings::default())),
            has_mappings: AtomicBool::new(false),
            name: name.to_string(),
            is_system: name == SYSTEM_ACCOUNT,
            sublist: parking_lot::RwLock::new(Sublist::with_seed(cache, seed)),
            generation: AtomicU64::new(0),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            out_msgs: AtomicU64::new(0),
            out_bytes: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
        }
    }

    /// Replaces the account's subject mappings (at start and on reload).
    pub fn set_mappings(&self, m: Mappings) {
        let any = !m.is_empty();
        *self.mappings.write() = Arc::new(m);
        self.has_mappings.store(any, Ordering::Release);
    }

    /// True if the account maps subjects (checked on every publish: one relaxed load).
    #[inline]
    pub fn has_mappings(&self) -> bool {
        self.has_mappings.load(Ordering::Relaxed)
    }

    /// Its mappings (for monitoring).
    pub fn mappings(&self) -> Arc<Mappings> {
        Arc::clone(&self.mappings.read())
    }

    /// The subject a client's message on `subj` is published under (see
    /// [`crate::mapping`]); `rng` draws weighted destinations.
    pub fn map_subject(&self, subj: &[u8], rng: &mut Rng) -> Mapped {
        let m = Arc::clone(&self.mappings.read());
        m.select(subj, rng)
    }

    /// The sublist generation; changes on every insert and remove.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Adds a subscription; says how the interest in its (subject, queue) changed.
    pub fn insert(&self, sub: Arc<Subscription>) -> Result<InterestChange, InvalidSubject> {
        let local = self.interest.is_some() && sub.forwards();
        let keep = local.then(|| Arc::clone(&sub));
        let mut sl = self.sublist.write();
        let change = sl.insert_interest(sub)?;
        self.generation.fetch_max(sl.generation(), Ordering::AcqRel);
        drop(sl);
        if let Some(sub) = keep {
            self.local_interest(&sub, true);
        }
        Ok(change)
    }

    /// Counts a local subscription in or out and tells the routes if that changes what
    /// they know (`RS+`/`RS-`).
    fn local_interest(&self, sub: &Subscription, added: bool) {
        let Some(interest) = &self.interest else {
            return;
        };
        let mut li = interest.lock();
        let q = sub.queue.as_deref();
        if let Some(update) = li.change(sub.subject(), q, added) {
            let mut line = Vec::with_capacity(16 + self.name.len() + sub.subject().len());
            route::encode_update(&mut line, self.name.as_bytes(), sub.subject(), q, update);
            self.routes.broadcast(&line);
        }
    }

    /// Queues `RS+` for all local interest to a new route (its initial sync), under the
    /// interest lock: an update counted before it is in the sync, one after it follows it.
    pub fn send_interest_to(&self, route: &ClientHandle) {
        let Some(interest) = &self.interest else {
            return;
        };
        let li = interest.lock();
        if li.is_empty() {
            return;
        }
        let mut out = Vec::new();
        li.encode_all(self.name.as_bytes(), &mut out);
        if let Delivered::Queued { wake: true } | Delivered::QueuedStall { wake: true } =
            route.send(&out)
        {
            route.wake();
        }
    }

    /// Removes subscriptions; those not present are ignored.
    ///
    /// Bounded pauses for everyone else: each subscription is closed (an atomic flag:
    /// deliveries skip it from then on) just before it leaves the sublist, [`REMOVE_SLICE`] at
    /// a time, the write lock released between slices, so a connection closing with 100,000
    /// subscriptions holds up a publisher that must match for one slice at most, not for the
    /// whole set. The generation publishers check their caches against moves once, at the
    /// end: until then their cached matches stay valid (the closed entries are skipped), so
    /// publishers with a cached match take no lock at all while the removal runs.
    ///
    /// In a cluster, each local subscription that really left is counted out of the local
    /// interest after its slice (`RS-` to the routes when it was the last on its subject).
    pub fn remove<'a>(&self, subs: impl IntoIterator<Item = &'a Arc<Subscription>>) {
        let mut subs = subs.into_iter().inspect(|s| {
            s.close();
        });
        let track = self.interest.is_some();
        let mut left: Vec<&Arc<Subscription>> = Vec::new();
        loop {
            let mut sl = self.sublist.write();
            let mut n = 0;
            for s in subs.by_ref().take(REMOVE_SLICE) {
                if sl.remove(s) && track && s.forwards() {
                    left.push(s);
                }
                n += 1;
            }
            let generation = sl.generation();
            if n < REMOVE_SLICE {
                drop(sl);
                // `fetch_max`: an insert during the removal may have published a later one.
                self.generation.fetch_max(generation, Ordering::AcqRel);
                for s in left.drain(..) {
                    self.local_interest(s, false);
                }
                return;
            }
            // Publishers waiting to match get the lock now, before the next slice.
            parking_lot::RwLockWriteGuard::unlock_fair(sl);
            for s in left.drain(..) {
                self.local_interest(s, false);
            }
        }
    }

    /// Matches a literal subject.
    pub fn match_subject(&self, subject: &[u8]) -> Arc<MatchResult<Subscription>> {
        self.sublist.read().match_subject(subject)
    }

    /// Number of subscriptions.
    pub fn num_subscriptions(&self) -> usize {
        self.sublist.read().count()
    }

    /// Sublist statistics.
    pub fn sublist_stats(&self) -> SublistStats {
        self.sublist.read().stats()
    }

    /// Every subscription (monitoring).
    pub fn all_subscriptions(&self) -> Vec<Arc<Subscription>> {
        self.sublist.read().all()
    }
}
