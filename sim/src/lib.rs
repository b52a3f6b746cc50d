//! natsd-sim: the deterministic simulator.
//!
//! A world of 1..=5 server nodes (each a `natsd_core` [`Shared`](natsd_core::shared::Shared)
//! with its own options, a [`Node`](natsd_core::node::Node), and one
//! [`Connection`](natsd_core::conn::Connection) per client socket), many small client models
//! that connect to any node and move between them, a network of links with seeded faults,
//! per-node drifting clocks, one seeded PRNG and one event queue, all on one thread. Bytes in
//! both directions are re-chunked at random sizes (one-byte chunks included). Oracles check
//! every delivery and reply as it arrives and, after a liveness phase without faults, that
//! everything owed arrived. Outside the `cluster` variant the nodes are not connected to each
//! other: each is its own namespace, and the oracle models it so (see [`oracle`]). In the
//! `cluster` variant they are joined by routes ([`cluster`]): explicit routes in a drawn
//! topology, the rest by gossip, over faulty links; the oracle then follows each message
//! across one route hop.
//!
//! Reproduce any run with the line a failure prints, e.g.
//! `SIM_VARIANT=world SIM_SEED=42 cargo test -p natsd-sim --test seeds sim_seed_from_env`.
//!
//! # Layout
//!
//! - [`variant`]: the scenarios (plain, reload, world, lame duck, long, cluster, rate,
//!   rebalance, auth) and the environment (`SIM_VARIANT`, `SIM_SEED`, `SIM_SWEEP`).
//! - [`workload`]: the swarm configuration drawn from a seed, and the clients' random
//!   choices (subjects, actions, payload sizes, chunk sizes).
//! - [`features`]: limits, users, their permissions and accounts, what each client's CONNECT
//!   asks for.
//! - [`mapping`]: subject mappings drawn from the seed, and the model's own reading of them.
//! - [`faults`]: network and node faults of the safety phase, node clocks.
//! - [`cluster`]: the cluster of the `cluster` variant (addresses, topology, route options).
//! - [`rate`]: the `rate` variant: publish rate limits, connections driven with flow
//!   control (`handle_read_paced`, `poll_read_pause`), its own small world and oracles.
//! - [`auth`]: the `auth` variant: clients authenticate through an asynchronous provider
//!   (random latency, timeouts, silence, failures, a bound on decisions in flight), driven
//!   through `handle_read_paced` and `poll_auth_request`; its own small world and oracles.
//! - [`rebalance`]: the `rebalance` variant: nodes join a loaded one, clients are moved
//!   (thresholds, joins, the clients' reconnect policy; its oracles in `world/rebalance.rs`).
//! - [`world`]: the event queue, nodes, sessions, links and the main loop; drives the core.
//! - [`client`]: the sans-IO client model (parser, PONGs, replies, reconnects).
//! - [`oracle`]: the naive per-node, per-account server model and the delivery rules.
//! - [`trace`]: the trace hash for the determinism check, and the last events for reports.
//! - [`batch`]: running many seeds, timing them, summing what they exercised.

pub mod auth;
pub mod batch;
pub mod client;
pub mod cluster;
pub mod faults;
pub mod features;
pub mod mapping;
pub mod oracle;
pub mod rate;
pub mod rebalance;
pub mod trace;
pub mod variant;
pub mod workload;
pub mod world;

use std::fmt;

pub use oracle::{Violation, ViolationKind};
pub use variant::Variant;
pub use workload::{Config, ReloadPlan, Sabotage};
pub use world::{Outcome, Stats};

/// The commit the simulator was built from (`-dirty` with uncommitted changes).
pub const COMMIT: &str = env!("SIM_GIT_COMMIT");

/// A failed run: which, when (world time) and what, and the events before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The scenario.
    pub variant: Variant,
    /// The seed that fails.
    pub seed: u64,
    /// Simulated world time of the violation, in nanoseconds.
    pub at_ns: u64,
    /// The broken rule.
    pub violation: Violation,
    /// The last events before it, readable (see [`trace::Trace::recent`]).
    pub recent: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "simulation failed: {}", self.violation)?;
        writeln!(
            f,
            "  variant {}, seed {}, at {:.6} ms world time, commit {COMMIT}",
            self.variant,
            self.seed,
            self.at_ns as f64 / 1e6
        )?;
        writeln!(f, "last events, oldest first:")?;
        f.write_str(&self.recent)?;
        write!(
            f,
            "reproduce (at commit {COMMIT}) with:\n  {}",
            repro_line(self.variant, self.seed)
        )
    }
}

/// The one command that replays `seed` in `variant`.
pub fn repro_line(variant: Variant, seed: u64) -> String {
    format!(
        "SIM_VARIANT={variant} SIM_SEED={seed} cargo test -p natsd-sim --test seeds sim_seed_from_env -- --nocapture"
    )
}

/// Runs `cfg` to completion. Deterministic: the same config gives the same result and trace.
pub fn run(cfg: Config) -> Result<Outcome, Failure> {
    if cfg.rate.is_some() {
        return rate::run(&cfg).map(|r| r.outcome);
    }
    if cfg.auth.is_some() {
        return auth::run(&cfg).map(|r| r.outcome);
    }
    let (variant, seed) = (cfg.variant, cfg.seed);
    let mut w = world::World::new(cfg);
    w.run().map_err(|(at_ns, violation)| Failure {
        variant,
        seed,
        at_ns,
        violation,
        recent: w.recent(),
    })
}

/// Runs `seed` in the plain variant; panics with the report on failure.
pub fn check_seed(seed: u64) -> Outcome {
    check(Config::from_seed(seed))
}

/// Runs `cfg`; panics with the report (and its reproduction line) on failure.
pub fn check(cfg: Config) -> Outcome {
    match run(cfg) {
        Ok(o) => o,
        Err(f) => panic!("{f}"),
    }
}

/// The seed in `SIM_SEED`, if set. Panics on a value that is not a number (a typo should
/// not silently run the default seeds).
pub fn env_seed() -> Option<u64> {
    let v = std::env::var("SIM_SEED").ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("SIM_SEED={v:?} is not a u64")),
    )
}
