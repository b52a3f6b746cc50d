//! The scenarios a seed can be run in, by name, and what the environment asks for.
//!
//! A failure is replayed by naming both: `SIM_VARIANT=<name> SIM_SEED=<n>` (see
//! [`crate::repro_line`]).

use std::fmt;

use crate::workload::Config;

/// A scenario: how a seed is turned into a [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// One node, the original swarm (plus the drawn features).
    Plain,
    /// One node, a config reload mid-traffic.
    Reload,
    /// 1..=5 nodes, clients moving between them, network and node faults.
    World,
    /// 2..=5 nodes, one of them goes through lame duck mode.
    LameDuck,
    /// A world run of tens of simulated seconds.
    Long,
    /// 2..=5 nodes joined by routes into one cluster (explicit routes in a drawn topology,
    /// the rest by gossip), faults on client and route links, node crashes.
    Cluster,
    /// One node, two tenants: a flooder over its publish rate limit (backpressure or drop)
    /// and a calm one, connections driven with flow control, a reload of the limit.
    Rate,
    /// One node with hundreds of clients, then one or two more join the cluster and the
    /// rebalancer moves clients to them (issue 17).
    Rebalance,
    /// One node, clients that authenticate through an asynchronous provider with random
    /// latency, timeouts and failures, connections driven with `handle_read_paced` and
    /// `poll_auth_request` (issue 15).
    Auth,
}

impl Variant {
    /// Every variant, in the order sweeps run them.
    pub const ALL: [Variant; 9] = [
        Variant::Plain,
        Variant::Reload,
        Variant::World,
        Variant::LameDuck,
        Variant::Long,
        Variant::Cluster,
        Variant::Rate,
        Variant::Rebalance,
        Variant::Auth,
    ];

    /// The name `SIM_VARIANT` takes.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Reload => "reload",
            Variant::World => "world",
            Variant::LameDuck => "lame_duck",
            Variant::Long => "long",
            Variant::Cluster => "cluster",
            Variant::Rate => "rate",
            Variant::Rebalance => "rebalance",
            Variant::Auth => "auth",
        }
    }

    /// The variant called `name`.
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name.trim())
    }

    /// The configuration of `seed` in this variant.
    pub fn config(self, seed: u64) -> Config {
        match self {
            Variant::Plain => Config::from_seed(seed),
            Variant::Reload => Config::from_seed(seed).with_reload(),
            Variant::World => Config::world(seed),
            Variant::LameDuck => Config::lame_duck(seed),
            Variant::Long => Config::long(seed),
            Variant::Cluster => Config::cluster(seed),
            Variant::Rate => crate::rate::config(seed),
            Variant::Rebalance => crate::rebalance::config(seed),
            Variant::Auth => crate::auth::config(seed),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The variants `SIM_VARIANT` names (comma-separated), or `default` when it is unset.
/// Panics on an unknown name (a typo should not silently run nothing).
pub fn env_variants(default: &[Variant]) -> Vec<Variant> {
    match std::env::var("SIM_VARIANT") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|n| {
                Variant::from_name(n).unwrap_or_else(|| {
                    let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
                    panic!("SIM_VARIANT={n:?} is not one of {names:?}")
                })
            })
            .collect(),
        _ => default.to_vec(),
    }
}

/// The seed range `SIM_SWEEP` asks for: `N` (seeds 0..N) or `A..B`; `None` when unset.
pub fn env_sweep() -> Option<std::ops::Range<u64>> {
    let v = std::env::var("SIM_SWEEP").ok()?;
    let v = v.trim();
    let parse = |s: &str| -> u64 {
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("SIM_SWEEP={v:?}: want N or A..B"))
    };
    Some(match v.split_once("..") {
        Some((a, b)) => parse(a)..parse(b),
        None => 0..parse(v),
    })
}
