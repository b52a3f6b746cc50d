//! The `rebalance` variant in the world (plan: [`crate::rebalance`]): nodes that join
//! late, the clients' reconnect policies after a move, and the rebalancing oracles.
//!
//! A node's rebalancer decides a move by closing the client's handle with
//! `CloseReason::Rebalanced` inside `Node::handle_timeout`; the world looks right after each
//! node timer, so every decision is recorded at the node time it was made (the writer
//! finishes the close later). The oracles, each a [`ViolationKind::Rebalance`] whose detail
//! starts with its name:
//!
//! - `cap`: no node decides more than `max_moves_per_sec` moves within any second of its
//!   own clock (windows `(t - 1 s, t]`; the cap is per tick, ticks are >= 1 s apart).
//! - `cool-down`: no client is moved before it has been on its server for `cooldown` (node
//!   time since the node accepted it): a client that came back, e.g. one that shuffles its
//!   server list, is not evicted again at once. Always checked: the shuffling policy's
//!   guarantee.
//! - `moved twice`: with the nats.go-like policy (the first `connect_url`: the least-loaded
//!   peer) and no faults, no client is moved twice between the last join and the
//!   convergence deadline (a client moved before a join may move again: the join changed
//!   the target).
//! - `converge`: at the deadline ([`crate::rebalance::RebalancePlan::convergence_ns`] after
//!   the last join, or the heal), no server is beyond both thresholds on the true counts,
//!   on either side: for `target = ceil(total / servers)` and the band
//!   `max(abs, target * (rel - 1))`, every server holds `target ± band`.
//! - `ping-pong`: in a two-server cluster, no move after the convergence deadline.
//!
//! Moved subscribers: a moved client resubscribes on its new node, and the cluster rule of
//! the oracle (`oracle/cluster.rs`) owes it every message processed, on a publisher's node,
//! after that node's route end processed the `RS+` its new node sent for the SUB (or, on the
//! same node, after the SUB): once its interest has propagated, a moved subscriber misses
//! nothing. Whatever it was owed on the connection it was moved off is forgiven.

use natsd_core::errors::CloseReason;

use super::{Event, World};
use crate::oracle::{Violation, ViolationKind};
use crate::rebalance::Policy;

/// A second, in node nanoseconds: the cap's window.
const SECOND_NS: u64 = 1_000_000_000;

/// What the world keeps of the rebalancing.
#[derive(Debug, Default)]
pub(super) struct RebalanceLog {
    /// Per node, the node times of its move decisions.
    decisions: Vec<Vec<u64>>,
    /// Per session, the decision was recorded.
    recorded: Vec<bool>,
    /// Per client, how many times it was moved since the last join, before the deadline.
    moved: Vec<u32>,
    /// The convergence deadline passed (and held).
    converged: bool,
    /// World time of the last decision.
    pub(super) last_ns: u64,
}

/// The client URL of node `n` (its `host:port` in its options).
pub(super) fn client_addr(n: usize) -> (String, u16) {
    (format!("10.0.1.{}", n + 1), 4222 + n as u16)
}

/// The node whose client URL is `url`, if any.
fn node_of_url(url: &str, nodes: usize) -> Option<usize> {
    (0..nodes).find(|&n| {
        let (h, p) = client_addr(n);
        url == format!("{h}:{p}")
    })
}

impl World {
    /// Schedules the joins and the oracles' deadlines; clients start on node 0.
    pub(super) fn start_rebalance(&mut self) {
        let Some(p) = self.cfg.rebalance.clone() else {
            return;
        };
        self.rb.decisions = vec![Vec::new(); self.cfg.nodes];
        self.rb.moved = vec![0; self.cfg.clients];
        for (n, &at) in p.joins.iter().enumerate().skip(1) {
            self.schedule(at, Event::Join(n));
        }
        self.schedule(p.converge_at_ns, Event::RebalanceCheck);
        self.schedule(p.converge_at_ns + p.watch_ns, Event::RebalanceEnd);
        for c in 0..self.clients.len() {
            self.clients[c].idle = c >= p.active;
            self.clients[c].model.ping_on_connect = true;
        }
    }

    /// True if node `n` starts with the world (not a later join).
    pub(super) fn starts_at_once(&self, n: usize) -> bool {
        self.cfg.rebalance.is_none() || n == 0
    }

    /// Node `n` joins the cluster: moves before it were towards a target it changes, so
    /// the `moved twice` count starts again.
    pub(super) fn on_join(&mut self, n: usize) {
        self.rb.moved.iter_mut().for_each(|m| *m = 0);
        if self.nodes[n].shared.is_none() {
            self.start_node(n);
            self.boot_node(n);
        }
    }

    /// The node for client `c`'s first connect (node 0), or after a move (its policy), if
    /// the rebalance variant decides it.
    pub(super) fn rebalance_pick(&mut self, c: usize) -> Option<usize> {
        self.cfg.rebalance.as_ref()?;
        if !self.clients[c].ever_connected {
            return Some(0);
        }
        self.clients[c].next_node.take()
    }

    /// Session `s`'s client saw its node close it after a move: it picks its next server.
    pub(super) fn rebalance_reconnect(&mut self, s: usize) {
        let Some(p) = self.cfg.rebalance.as_ref() else {
            return;
        };
        let (c, from) = (self.sessions[s].client, self.sessions[s].node);
        let nodes = self.cfg.nodes;
        let urls = std::mem::take(&mut self.clients[c].model.connect_urls);
        let next = match p.policy {
            Policy::FirstUrl => urls
                .first()
                .and_then(|u| node_of_url(u, nodes))
                .unwrap_or_else(|| (from + 1 + self.rng.below(nodes as u64 - 1) as usize) % nodes),
            Policy::Shuffle => self.rng.below(nodes as u64) as usize,
        };
        let back = self.cfg.sabotage == Some(crate::workload::Sabotage::RebalanceGoBack);
        self.clients[c].next_node = Some(if back { from } else { next });
        if self.cfg.sabotage == Some(crate::workload::Sabotage::RebalanceLostResubscribe) {
            self.clients[c].model.mangle_resubscribe = true;
        }
    }

    /// After node `n`'s timer: records each move it decided (a client handle now closing as
    /// `Rebalanced`) and judges it.
    pub(super) fn rebalance_decisions(&mut self, n: usize) -> Result<(), Violation> {
        if self.cfg.rebalance.is_none() {
            return Ok(());
        }
        for s in 0..self.sessions.len() {
            let sess = &self.sessions[s];
            let decided = sess.node == n
                && sess
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.handle().close_reason() == Some(CloseReason::Rebalanced));
            if decided {
                self.record_move(s)?;
            }
        }
        Ok(())
    }

    /// Session `s` was moved (decided now, if not recorded yet): the oracles.
    pub(super) fn record_move(&mut self, s: usize) -> Result<(), Violation> {
        let Some(p) = self.cfg.rebalance.clone() else {
            return Ok(());
        };
        if self.rb.recorded.len() <= s {
            self.rb.recorded.resize(s + 1, false);
        }
        if self.rb.recorded[s] {
            return Ok(());
        }
        self.rb.recorded[s] = true;
        let (c, n) = (self.sessions[s].client, self.sessions[s].node);
        let t = self.node_now(n);
        self.stats.rebalanced += 1;
        self.rb.last_ns = self.now;
        let fail = |msg: String| Err(Violation::new(ViolationKind::Rebalance, msg));
        let o = p.believed;
        let log = &mut self.rb.decisions[n];
        log.push(t);
        let window = log.iter().filter(|&&d| d + SECOND_NS > t).count();
        if window > o.max_moves_per_sec as usize {
            return fail(format!(
                "cap: node {n} moved {window} clients within a second (max_moves_per_sec {})",
                o.max_moves_per_sec
            ));
        }
        let age = t.saturating_sub(self.sessions[s].opened_node_ns);
        let cool = u64::try_from(o.cooldown.as_nanos()).expect("seconds fit");
        if age < cool {
            return fail(format!(
                "cool-down: node {n} moved client {c} (connection {s}) {:.3} s after it came (cooldown {:?})",
                age as f64 / 1e9,
                o.cooldown
            ));
        }
        if self.rb.converged && self.cfg.nodes == 2 {
            return fail(format!(
                "ping-pong: node {n} moved client {c} after the cluster of two converged"
            ));
        }
        if self.now <= p.converge_at_ns {
            self.rb.moved[c] += 1;
            if self.rb.moved[c] > 1 && p.policy == Policy::FirstUrl && !p.faults {
                return fail(format!(
                    "moved twice: client {c} moved {} times (now off node {n}) before the convergence deadline",
                    self.rb.moved[c]
                ));
            }
        }
        Ok(())
    }

    /// The convergence deadline: no server beyond both thresholds on the true counts.
    pub(super) fn on_rebalance_check(&mut self) -> Result<(), Violation> {
        let Some(p) = self.cfg.rebalance.clone() else {
            return Ok(());
        };
        let mut counts = vec![0u64; self.cfg.nodes];
        for cs in &self.clients {
            if let Some(s) = cs.session {
                let sess = &self.sessions[s];
                if !sess.server_closed && !sess.dead {
                    counts[sess.node] += 1;
                }
            }
        }
        let total: u64 = counts.iter().sum();
        let servers = self.cfg.nodes as u64;
        let target = total.div_ceil(servers);
        let o = p.believed;
        // Outside the band: beyond both thresholds, above or (the same distance) below.
        let beyond = |by: u64| {
            by > u64::from(o.abs_threshold) && by as f64 > target as f64 * (o.rel_threshold - 1.0)
        };
        for (n, &k) in counts.iter().enumerate() {
            let side = if beyond(k.saturating_sub(target)) {
                "above"
            } else if beyond(target.saturating_sub(k)) {
                "below"
            } else {
                continue;
            };
            {
                let msg = format!(
                    "converge: node {n} holds {k} clients at the deadline, {side} the band ({:.1} s after the {}), target {target} (abs {}, rel {}); counts {counts:?}",
                    (p.converge_at_ns - p.joins.last().copied().unwrap_or(0).max(self.cfg.heal_at_ns)) as f64 / 1e9,
                    if p.faults { "heal" } else { "last join" },
                    o.abs_threshold,
                    o.rel_threshold
                );
                return Err(Violation::new(ViolationKind::Rebalance, msg));
            }
        }
        self.rb.converged = true;
        Ok(())
    }
}
