//! natsd-core: the sans-IO engine of a NATS server.
//!
//! Everything a NATS server decides lives here; nothing here touches a socket, a clock, a
//! thread or a global random number generator. Runtimes (`natsd-tokio`, `natsd-std`) and the
//! simulator (`natsd-sim`) feed bytes and time in and carry bytes out.
//!
//! # Layout
//!
//! - [`proto`]: the resumable client-protocol parser ([`proto::Parser`]) and the encoders for
//!   every op the server sends.
//! - [`subject`]: subject validation and wildcard matching rules.
//! - [`sublist`]: the subscription trie with queue groups, a bounded match cache and stats.
//! - [`options`]: the typed server options the engine needs (limits, auth, identity).
//! - [`auth`]: users, passwords (plain and bcrypt), tokens and permissions.
//! - [`nkey`], [`jwt`]: public nkeys and their signatures; operator-mode JWTs (decode and
//!   verify, the claim types, Go's validation rules, encode).
//! - [`client`]: the part of a client other connections touch: its outbound queue and
//!   subscriptions ([`client::ClientHandle`], [`client::Subscription`]).
//! - [`account`]: accounts (subject namespaces with their own sublists), `$G` and `$SYS`.
//! - [`shared`]: the routing table ([`shared::Shared`]): accounts, the client registry,
//!   server stats and the closed-connection history. The only place with locks.
//! - [`internal`]: internal subscriptions answered inside the server (`$SYS.REQ.SERVER.PING`).
//! - [`conn`]: the per-connection state machine ([`conn::Connection`]).
//! - [`node`]: the server-wide state machine ([`node::Node`]): timed policy such as lame
//!   duck mode.
//! - [`monitor`]: the monitoring documents (`/varz`, `/connz`, …) built from [`shared`].
//! - [`time`], [`rng`]: the time and randomness types that come in from outside.
//!
//! # Lock rules
//!
//! Locks live only in [`shared`], [`sublist`]'s cache and [`client`]. They are held for short,
//! bounded work, never across a call into other code, and never two at once except one
//! nesting: an account's sublist lock, then that sublist's cache mutex. See `ARCHITECTURE.md`.
#![warn(missing_docs)]

pub mod account;
pub mod auth;
pub mod callout;
pub mod client;
pub mod config;
pub mod conn;
pub mod errors;
pub mod events;
pub mod imports;
pub mod info;
pub mod internal;
pub mod jwt;
pub mod mapping;
pub mod monitor;
pub mod nkey;
pub mod node;
pub mod operator;
pub mod options;
pub mod proto;
pub mod rate;
pub mod rng;
pub mod route;
pub mod shared;
pub mod subject;
pub mod sublist;
pub mod time;
pub mod tls;

pub use time::Time;

/// A hash map with a fixed hasher seed, so iteration order never depends on process state.
pub type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;
/// A hash set with a fixed hasher seed (see [`FastMap`]).
pub type FastSet<K> = hashbrown::HashSet<K, foldhash::fast::FixedState>;

/// The hasher for maps keyed by what clients choose (subjects, sids, reply subjects), seeded
/// per server from `Options::seed`: nobody can precompute keys that collide in a server whose
/// seed they do not know, and one seed always hashes alike (the simulator replays exactly).
pub fn keyed_hasher(seed: u64) -> foldhash::fast::FixedState {
    // Mixed so the hash seed is not the PRNG seed itself.
    foldhash::fast::FixedState::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15)
}

/// An empty [`FastMap`] hashed with [`keyed_hasher`]`(seed)`.
pub fn keyed_map<K, V>(seed: u64) -> FastMap<K, V> {
    FastMap::with_hasher(keyed_hasher(seed))
}

/// The smaller of two optional bounds, either alone if the other is unset (the earlier of
/// two deadlines, the tighter of two limits).
pub(crate) fn min_set<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Our own version (natsd), as `-v`, the banner and `/varz` show it beside the Go version
/// we are compatible with.
pub const NATSD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit natsd was built from (`None` outside a git checkout).
pub const GIT_COMMIT: Option<&str> = option_env!("NATSD_GIT_COMMIT");

/// The server version we report in INFO. We speak the 2.9 client protocol.
pub const VERSION: &str = "2.9.10";
/// The protocol level we announce in INFO (`proto`).
pub const PROTO: u8 = 1;
