//! The `rebalance` variant (issue 17): one node with a few hundred clients, then one or two
//! more nodes join the cluster, and the nodes' rebalancers
//! (`natsd_core::node::rebalance`) move clients to them. Drawn from the seed: the
//! thresholds (the defaults half the time), the join times, the clients' reconnect policy,
//! and whether route cuts, route resets and node crashes strike during the rebalance.
//!
//! The world side (joins, the clients' policies, the oracles) is `world/rebalance.rs`.

use std::time::Duration;

use natsd_core::options::RebalanceOptions;
use natsd_core::rng::Rng;

use crate::cluster::ClusterPlan;
use crate::faults::{CutDir, Fault, FaultPlan};
use crate::features::Features;
use crate::variant::Variant;
use crate::workload::{Config, Sabotage};

/// The longest pause between two rebalancer ticks: a second plus up to a quarter
/// (`natsd_core::node::rebalance`'s jitter).
pub const TICK_MAX_NS: u64 = 1_250_000_000;

/// From the last join (or the heal) until the routes are up and every node has its peers'
/// first `STATSZ`: a dial, gossip and a redial (1 s apart) with slack, plus the first
/// `STATSZ` 250 ms after a start.
pub const SETTLE_NS: u64 = 3_000_000_000;

/// Shedding rounds the convergence bound allows for: the first, plus two that correct the
/// overshoot of counts a `STATSZ` period old (up to 10 s) and the clients that come back
/// (the shuffling policy sends a moved client back with probability 1/servers).
pub const ROUNDS: u64 = 3;

/// How a client that was moved away (an INFO with `ldm` and `connect_urls`, then the close)
/// picks its next server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// nats.go-like: the first of the `connect_urls` the notice listed (the least-loaded
    /// peer); the server that dropped it goes last in its pool.
    FirstUrl,
    /// nats-py-like: the whole server list shuffled, the server that dropped it included.
    Shuffle,
}

/// What one `rebalance` run does.
#[derive(Debug, Clone)]
pub struct RebalancePlan {
    /// What the nodes run with.
    pub opts: RebalanceOptions,
    /// What the oracles check against (the same but for the sabotages).
    pub believed: RebalanceOptions,
    /// When each node joins (world ns); node 0 at 0, the others later, in order.
    pub joins: Vec<u64>,
    /// The clients' reconnect policy after a move.
    pub policy: Policy,
    /// Route cuts, route resets and node crashes strike during the rebalance.
    pub faults: bool,
    /// Clients that take workload actions (publish, subscribe); the others only connect.
    pub active: usize,
    /// When the convergence oracle looks (world ns; after the last join, or the heal).
    pub converge_at_ns: u64,
    /// How long after that the run goes on (the ping-pong watch).
    pub watch_ns: u64,
}

impl RebalancePlan {
    /// The bound of the convergence oracle for `clients` on `servers` nodes with `o`: the
    /// settling ([`SETTLE_NS`]), the cool-down a membership change starts (plus a tick),
    /// then [`ROUNDS`] rounds, each moving at most what node 0 holds over its share at
    /// `max_moves_per_sec` per tick ([`TICK_MAX_NS`] apart), then a cool-down and a tick.
    pub fn convergence_ns(o: &RebalanceOptions, clients: usize, servers: usize) -> u64 {
        let cool = u64::try_from(o.cooldown.as_nanos()).expect("seconds fit");
        let excess = (clients - clients.div_ceil(servers)) as u64;
        let ticks = excess.div_ceil(u64::from(o.max_moves_per_sec.max(1)));
        SETTLE_NS + cool + TICK_MAX_NS + ROUNDS * (ticks * TICK_MAX_NS + cool + TICK_MAX_NS)
    }

    /// The ping-pong watch lasts this long after convergence: two cool-downs and two
    /// `STATSZ` periods (10 s), time for any round the counts could still start.
    pub fn watch_for(o: &RebalanceOptions) -> u64 {
        2 * u64::try_from(o.cooldown.as_nanos()).expect("seconds fit") + 20_000_000_000
    }
}

/// The `rebalance` variant's configuration of `seed`.
pub fn config(seed: u64) -> Config {
    let mut c = Config::from_seed(seed);
    let mut r = Rng::fork(seed, 0x2EBA_1A00);
    c.variant = Variant::Rebalance;
    c.nodes = if r.below(3) == 0 { 2 } else { 3 };
    c.clients = 200 + r.below(151) as usize;
    c.features = Features::draw(seed, c.clients);
    let active = 20 + r.below(31) as usize;
    // No keep-alive traffic from hundreds of idle clients; no stalls, client moves, leaves
    // or slow consumers of their own: the moves here are the rebalancer's.
    c.ping_interval = Duration::from_secs(120);
    c.max_pending = 64 * 1024 * 1024;
    c.stall = None;
    c.close_percent = 0;
    c.move_percent = 0;
    c.think_ns = 500_000_000 + r.below(1_500_000_000);
    let opts = draw_options(&mut r);
    let policy = if r.below(2) == 0 {
        Policy::FirstUrl
    } else {
        Policy::Shuffle
    };
    let mut joins = vec![0];
    let mut at = 1_000_000_000 + r.below(2_000_000_000);
    for _ in 1..c.nodes {
        joins.push(at);
        at += r.below(5_000_000_000);
    }
    let last_join = *joins.last().expect("two nodes at least");
    let faults = r.below(2) == 0;
    let cool = u64::try_from(opts.cooldown.as_nanos()).expect("seconds fit");
    // With faults, the safety phase covers the first round (the membership cool-down and
    // some ticks) and the heal comes mid-rebalance; without, it ends at the last join.
    c.heal_at_ns = if faults {
        last_join + cool + 2_000_000_000 + r.below(15_000_000_000)
    } else {
        last_join
    };
    let plan = ClusterPlan::draw(seed, c.nodes);
    c.faults = if faults {
        draw_faults(&mut r, &c, last_join)
    } else {
        FaultPlan {
            events: Vec::new(),
            ..FaultPlan::draw(seed, &c)
        }
    };
    c.cluster = Some(plan);
    let converge_at_ns = c.heal_at_ns + RebalancePlan::convergence_ns(&opts, c.clients, c.nodes);
    let watch_ns = RebalancePlan::watch_for(&opts);
    // Workload all along: the safety phase until the heal, the liveness phase until the
    // end of the watch, at `active` clients' pace.
    let per_ns = |span: u64| (span / c.think_ns.max(1)) as usize * active;
    c.ops = per_ns(c.heal_at_ns).max(active);
    c.live_ops = per_ns(converge_at_ns + watch_ns - c.heal_at_ns);
    c.quiet_ns = c.quiet_ns.max(4_000_000_000);
    c.max_events = 30_000_000;
    c.rebalance = Some(RebalancePlan {
        opts,
        believed: opts,
        joins,
        policy,
        faults,
        active,
        converge_at_ns,
        watch_ns,
    });
    c
}

/// The thresholds: each the default half the time, else drawn around it.
fn draw_options(r: &mut Rng) -> RebalanceOptions {
    let d = RebalanceOptions::default();
    let mut pick = |default: u64, lo: u64, hi: u64| {
        if r.below(2) == 0 {
            default
        } else {
            lo + r.below(hi - lo + 1)
        }
    };
    let max_moves_per_sec = pick(10, 3, 25) as u32;
    let abs_threshold = pick(5, 1, 12) as u32;
    let rel_threshold = 1.0 + pick(10, 2, 30) as f64 / 100.0;
    let cooldown = Duration::from_secs(pick(10, 2, 12));
    RebalanceOptions {
        enabled: true,
        max_moves_per_sec,
        abs_threshold,
        rel_threshold,
        cooldown,
        ..d
    }
}

/// Faults during the rebalance (after the last join, before the heal): route cuts of up
/// to a few seconds (a partition while counts are gossiped), route resets, node crashes
/// (down up to 3 s, back with a new server id and no clients), client connection resets.
fn draw_faults(r: &mut Rng, c: &Config, from: u64) -> FaultPlan {
    let base = FaultPlan::draw(c.seed, c);
    let span = c.heal_at_ns.saturating_sub(from).max(1);
    let mut events = Vec::new();
    for _ in 0..2 + r.below(8) {
        let at = from + r.below(span);
        let a = r.below(c.nodes as u64) as usize;
        let b = (a + 1 + r.below(c.nodes as u64 - 1) as usize) % c.nodes;
        let fault = match r.below(5) {
            0 | 1 => Fault::RouteCut {
                a,
                b,
                dir: CutDir::Both,
                for_ns: 100_000_000 + r.below(6_000_000_000),
            },
            2 => Fault::RouteReset { a, b },
            3 => Fault::Crash {
                node: a,
                down_ns: 100_000_000 + r.below(3_000_000_000),
            },
            _ => Fault::Reset {
                client: r.below(c.clients as u64) as usize,
            },
        };
        events.push((at, fault));
    }
    events.sort_by_key(|&(at, _)| at);
    FaultPlan { events, ..base }
}

/// The sabotages of this variant, applied to a drawn config.
pub fn sabotage(mut c: Config, s: Sabotage) -> Config {
    c.sabotage = Some(s);
    let p = c.rebalance.as_mut().expect("a rebalance config");
    match s {
        // The nodes may move twice the cap the oracle was told.
        Sabotage::RebalanceNoCap => p.opts.max_moves_per_sec *= 2,
        // The nodes shed on any excess: no thresholds.
        Sabotage::RebalancePingPong => {
            p.opts.abs_threshold = 0;
            p.opts.rel_threshold = 1.0;
        }
        // The nodes call "balanced" what the oracle does not.
        Sabotage::RebalanceWideBand => {
            p.opts.abs_threshold = p.opts.abs_threshold * 3 + 10;
            p.opts.rel_threshold += 0.3;
        }
        // The rest act in the world (`world/rebalance.rs`, the client model).
        _ => {}
    }
    c
}
