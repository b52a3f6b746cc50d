//! natsd-sim: the deterministic simulator.
//!
//! One server (a `natsd_core` [`Shared`](natsd_core::shared::Shared) and one
//! [`Connection`](natsd_core::conn::Connection) per client), many small client models, one
//! seeded PRNG, a simulated clock and one event queue, all on one thread. Bytes in both
//! directions are re-chunked at random sizes (one-byte chunks included). Oracles check every
//! delivery as it arrives and, after the workload stops and everything in flight drains,
//! that every owed delivery arrived.
//!
//! Reproduce any run with `SIM_SEED=<n> cargo test -p natsd-sim`; a failure prints that line.
//!
//! # Layout
//!
//! - [`workload`]: the swarm configuration drawn from a seed, and the clients' random
//!   choices (subjects, actions, payload sizes, chunk sizes).
//! - [`world`]: the event queue, clock, links and the main loop; drives the core.
//! - [`client`]: the sans-IO client model (parser, PONGs, replies, workload encoding).
//! - [`oracle`]: the naive server model and the delivery rules (matching, completeness,
//!   order, no duplicates, one queue member, auto-unsubscribe limits, echo, PING flush).
//! - [`trace`]: the trace hash for the determinism check.
//! - `reload.rs` (a child of `world`): the reload-mid-traffic scenario ([`Config::with_reload`]): a user
//!   removed and limits changed while traffic flows; clients that stay authorised must see
//!   every owed message exactly once, the removed one nothing after the reload.

pub mod client;
pub mod oracle;
pub mod trace;
pub mod workload;
pub mod world;

use std::fmt;

pub use oracle::{Violation, ViolationKind};
pub use workload::{Config, ReloadPlan, Sabotage};
pub use world::{Outcome, Stats};

/// A failed run: the seed, when (simulated nanoseconds) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed that fails.
    pub seed: u64,
    /// Simulated time of the violation, in nanoseconds.
    pub at_ns: u64,
    /// The broken rule.
    pub violation: Violation,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation failed at {}ns: {}\nreproduce with: {}",
            self.at_ns,
            self.violation,
            repro_line(self.seed)
        )
    }
}

/// The command line that reproduces `seed`.
pub fn repro_line(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p natsd-sim")
}

/// Runs `cfg` to completion. Deterministic: the same config gives the same result and trace.
pub fn run(cfg: Config) -> Result<Outcome, Failure> {
    let seed = cfg.seed;
    world::World::new(cfg)
        .run()
        .map_err(|(at_ns, violation)| Failure {
            seed,
            at_ns,
            violation,
        })
}

/// Runs `seed` with its swarm configuration; panics with the reproduction line on failure.
pub fn check_seed(seed: u64) -> Outcome {
    check(Config::from_seed(seed))
}

/// Runs `cfg`; panics with the reproduction line on failure.
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
