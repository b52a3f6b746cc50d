//! The cluster of the `cluster` variant, drawn from the seed: every node's route address
//! (simulated), the explicit routes of each (a connected topology: gossip must do the rest)
//! and the route options.
//!
//! Addresses are fake: node `n` listens for routes on `10.0.0.<n+1>:<6222+n>`, and the world
//! maps a [`RouteUrl`] back to the node index ([`ClusterPlan::node_of`]) when a node asks to
//! dial it.

use natsd_core::options::{ClusterOptions, RouteUrl};
use natsd_core::rng::Rng;

/// The cluster name every node shares.
pub const CLUSTER_NAME: &str = "sim";

/// The shape of the explicit routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Every other node lists the seed node; the seed lists nobody.
    Star {
        /// The node all others dial.
        seed: usize,
    },
    /// Nodes in a random order, each listing the one before it.
    Chain,
    /// Each node but the first (in a random order) lists a random earlier one.
    Tree,
    /// Every node lists every node, itself included (the usual Go configuration file:
    /// one `routes` list for all servers; the route to self is detected and dropped).
    Full,
}

/// The routes of one run.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    /// The topology the explicit routes form.
    pub topology: Topology,
    /// Per node, the nodes its `cluster.routes` lists.
    pub routes: Vec<Vec<usize>>,
    /// `connect_retries`: redials of an implicit route (one learnt by gossip).
    pub connect_retries: u32,
}

impl ClusterPlan {
    /// The plan for `nodes` nodes, from `seed` (its own stream).
    pub fn draw(seed: u64, nodes: usize) -> ClusterPlan {
        let mut r = Rng::fork(seed, 0xC1A5_7E00);
        let mut order: Vec<usize> = (0..nodes).collect();
        for i in (1..nodes).rev() {
            let j = r.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut routes = vec![Vec::new(); nodes];
        let topology = match r.below(4) {
            0 => {
                let seed = order[0];
                for &n in &order[1..] {
                    routes[n].push(seed);
                }
                Topology::Star { seed }
            }
            1 => {
                for w in order.windows(2) {
                    routes[w[1]].push(w[0]);
                }
                Topology::Chain
            }
            2 => {
                for i in 1..nodes {
                    let to = order[r.below(i as u64) as usize];
                    routes[order[i]].push(to);
                }
                Topology::Tree
            }
            _ => {
                for list in &mut routes {
                    *list = (0..nodes).collect();
                }
                Topology::Full
            }
        };
        ClusterPlan {
            topology,
            routes,
            // Implicit routes are redialled only `connect_retries` times (Go's rule): enough
            // to outlast the faults, so the mesh must be whole again after the heal.
            connect_retries: 5 + r.below(20) as u32,
        }
    }

    /// Node `n`'s route URL.
    pub fn url(n: usize) -> RouteUrl {
        let (host, port) = Self::addr(n);
        RouteUrl::parse(&format!("nats-route://{host}:{port}")).expect("a valid URL")
    }

    /// Node `n`'s route host and port.
    pub fn addr(n: usize) -> (String, u16) {
        (format!("10.0.0.{}", n + 1), 6222 + n as u16)
    }

    /// The node a URL names, if any.
    pub fn node_of(url: &RouteUrl, nodes: usize) -> Option<usize> {
        (0..nodes).find(|&n| {
            let (host, port) = Self::addr(n);
            url.host == host && url.port == port
        })
    }

    /// Node `n`'s cluster block.
    pub fn options(&self, n: usize) -> ClusterOptions {
        let (host, port) = Self::addr(n);
        ClusterOptions {
            name: Some(CLUSTER_NAME.to_string()),
            host,
            port,
            routes: self.routes[n].iter().map(|&t| Self::url(t)).collect(),
            connect_retries: self.connect_retries,
            ..ClusterOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every drawn topology connects all nodes (counting a route both ways).
    #[test]
    fn topologies_are_connected() {
        for seed in 0..200 {
            for nodes in 2..=5 {
                let p = ClusterPlan::draw(seed, nodes);
                let mut reached = vec![false; nodes];
                reached[0] = true;
                for _ in 0..nodes {
                    for (a, list) in p.routes.iter().enumerate() {
                        for &b in list {
                            if reached[a] || reached[b] {
                                reached[a] = true;
                                reached[b] = true;
                            }
                        }
                    }
                }
                assert!(reached.iter().all(|&r| r), "seed {seed}: {p:?}");
                for n in 0..nodes {
                    assert_eq!(ClusterPlan::node_of(&ClusterPlan::url(n), nodes), Some(n));
                }
            }
        }
    }
}
