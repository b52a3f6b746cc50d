//! Network and node faults of the safety phase, and each node's clock, drawn from the seed.
//!
//! The model is TCP's, not a datagram network's: a link never loses or reorders bytes by
//! itself. A cut link holds its bytes until it heals (retransmission), so a cut costs only
//! time, unless it lasts long enough for the keep-alive to give up (`Stale Connection`). What
//! loses data is a connection reset (both ends see the socket die, bytes in flight are gone)
//! and a node crash (every connection of the node is reset and its state is gone); each
//! closes connections, and what a closed connection was owed is not owed any more (see the
//! oracle). Everything here happens before the heal; the liveness phase has no faults.

use natsd_core::rng::Rng;

use crate::workload::Config;

/// Which way a cut link stops carrying bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutDir {
    /// Client → node.
    Up,
    /// Node → client.
    Down,
    /// Both ways.
    Both,
}

impl CutDir {
    /// True if the cut stops client → node bytes.
    pub fn up(self) -> bool {
        matches!(self, CutDir::Up | CutDir::Both)
    }

    /// True if the cut stops node → client bytes.
    pub fn down(self) -> bool {
        matches!(self, CutDir::Down | CutDir::Both)
    }
}

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The link between `client` and `node` stops carrying bytes `dir` for `for_ns` (or
    /// until the heal); new connections over it fail.
    Cut {
        /// The client end.
        client: usize,
        /// The node end.
        node: usize,
        /// Which way.
        dir: CutDir,
        /// For how long.
        for_ns: u64,
    },
    /// The client's current connection dies (both ends see a reset; bytes in flight are lost).
    Reset {
        /// Whose connection.
        client: usize,
    },
    /// The node crashes: its `Shared`, `Node` and connections are dropped without a word;
    /// it restarts with the same options after `down_ns` (or at the heal).
    Crash {
        /// Which node.
        node: usize,
        /// How long it stays down.
        down_ns: u64,
    },
    /// The network between nodes `a` and `b` stops carrying bytes (`dir`: `Up` is a → b)
    /// for `for_ns` (or until the heal); route dials between them fail meanwhile.
    RouteCut {
        /// One node.
        a: usize,
        /// The other.
        b: usize,
        /// Which way.
        dir: CutDir,
        /// For how long.
        for_ns: u64,
    },
    /// A route connection between `a` and `b` (if any) dies: both ends see a reset.
    RouteReset {
        /// One node.
        a: usize,
        /// The other.
        b: usize,
    },
}

/// A node's clock against the world's: `node = offset + world * (1 + ppm / 10^6)`.
/// Monotonic, so core times stay monotonic per node, across restarts too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    /// Where the node's clock starts.
    pub offset_ns: u64,
    /// Rate error in parts per million (negative: slow).
    pub ppm: i32,
}

const MILLION: i128 = 1_000_000;

impl Clock {
    /// The node's time at world time `w`.
    pub fn node_ns(self, w: u64) -> u64 {
        let skew = i128::from(w) * i128::from(self.ppm) / MILLION;
        let t = i128::from(self.offset_ns) + i128::from(w) + skew;
        u64::try_from(t.max(0)).unwrap_or(u64::MAX)
    }

    /// The first world time, not before `now`, at which the node's clock reads at least `t`.
    pub fn world_ns(self, t: u64, now: u64) -> u64 {
        if self.node_ns(now) >= t {
            return now;
        }
        let d = i128::from(t) - i128::from(self.offset_ns);
        let mut w = u64::try_from(d * MILLION / (MILLION + i128::from(self.ppm)))
            .unwrap_or(u64::MAX)
            .max(now);
        // The inverse is exact up to rounding: a few nanoseconds at most.
        while self.node_ns(w) < t {
            w += (t - self.node_ns(w)).div_ceil(2).max(1);
        }
        w
    }
}

/// The faults of one run, in time order, and the nodes' clocks.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// `(world time, fault)`, sorted by time, all before the heal.
    pub events: Vec<(u64, Fault)>,
    /// One clock per node.
    pub clocks: Vec<Clock>,
}

impl FaultPlan {
    /// No faults, every clock the world's.
    pub fn none(nodes: usize) -> FaultPlan {
        FaultPlan {
            events: Vec::new(),
            clocks: vec![Clock::default(); nodes],
        }
    }

    /// The faults for `cfg` (its nodes, clients and safety phase), from its seed.
    pub fn draw(seed: u64, cfg: &Config) -> FaultPlan {
        let mut r = Rng::fork(seed, 0xFA01_7000);
        let clocks = (0..cfg.nodes)
            .map(|_| Clock {
                offset_ns: r.below(10_000_000_000),
                ppm: r.below(4_001) as i32 - 2_000,
            })
            .collect();
        let span = cfg.heal_at_ns.max(1);
        // Intensity 0 keeps some runs fault-free; long runs get proportionally more.
        let per_second = match r.below(4) {
            0 => 0,
            i => i * 40,
        };
        let count =
            (per_second * span / 1_000_000_000).max(u64::from(per_second > 0) * (2 + r.below(6)));
        let count = count.min(400);
        let mut events: Vec<(u64, Fault)> = (0..count)
            .map(|_| {
                let at = r.below(span);
                let client = r.below(cfg.clients as u64) as usize;
                let node = r.below(cfg.nodes as u64) as usize;
                let fault = match r.below(10) {
                    0..=3 => Fault::Cut {
                        client,
                        node,
                        dir: match r.below(3) {
                            0 => CutDir::Up,
                            1 => CutDir::Down,
                            _ => CutDir::Both,
                        },
                        // Mostly short; sometimes past any keep-alive.
                        for_ns: match r.below(4) {
                            0 => 50_000_000 + r.below(500_000_000),
                            _ => 100_000 + r.below(20_000_000),
                        },
                    },
                    4..=7 => Fault::Reset { client },
                    _ => Fault::Crash {
                        node,
                        down_ns: 100_000 + r.below(50_000_000),
                    },
                };
                (at, fault)
            })
            .collect();
        events.sort_by_key(|&(at, _)| at);
        FaultPlan { events, clocks }
    }

    /// Adds faults on the network between `nodes` nodes (cuts and route resets, before
    /// `heal_at_ns`), from `seed` (its own stream: the other faults draw as without them).
    pub fn add_route_faults(&mut self, seed: u64, nodes: usize, heal_at_ns: u64) {
        let mut r = Rng::fork(seed, 0xFA01_7E00);
        let span = heal_at_ns.max(1);
        let count = match r.below(4) {
            0 => 0,
            _ => 1 + r.below(8),
        };
        for _ in 0..count {
            let at = r.below(span);
            let a = r.below(nodes as u64) as usize;
            let b = (a + 1 + r.below(nodes as u64 - 1) as usize) % nodes;
            let fault = match r.below(2) {
                0 => Fault::RouteCut {
                    a,
                    b,
                    dir: match r.below(3) {
                        0 => CutDir::Up,
                        1 => CutDir::Down,
                        _ => CutDir::Both,
                    },
                    for_ns: match r.below(4) {
                        0 => 50_000_000 + r.below(500_000_000),
                        _ => 100_000 + r.below(20_000_000),
                    },
                },
                _ => Fault::RouteReset { a, b },
            };
            self.events.push((at, fault));
        }
        self.events.sort_by_key(|&(at, _)| at);
    }

    /// Never crash `node` (the lame duck node must live to shut down by itself).
    pub fn spare_node(&mut self, node: usize) {
        self.events
            .retain(|&(_, f)| !matches!(f, Fault::Crash { node: n, .. } if n == node));
    }

    /// Faults of each kind: (cuts, resets, crashes).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for (_, f) in &self.events {
            match f {
                Fault::Cut { .. } | Fault::RouteCut { .. } => c.0 += 1,
                Fault::Reset { .. } | Fault::RouteReset { .. } => c.1 += 1,
                Fault::Crash { .. } => c.2 += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_round_trips() {
        for (offset_ns, ppm) in [(0, 0), (5, 2_000), (1_000_000, -2_000), (7, -1)] {
            let c = Clock { offset_ns, ppm };
            for now in [0u64, 1, 999, 123_456_789] {
                for t in [0u64, 10, 1_000_000, 9_999_999_999] {
                    let w = c.world_ns(t, now);
                    assert!(w >= now);
                    assert!(c.node_ns(w) >= t);
                    assert!(w == now || c.node_ns(w - 1) < t, "{c:?} t={t} w={w}");
                }
            }
        }
    }
}
