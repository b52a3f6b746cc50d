//! Client rebalancing when a cluster grows (ours; `cluster { rebalance }`): a server above
//! its share sheds only its excess, gradually, to the less-loaded servers.
//!
//! Each tick (at least a second apart, jittered up to a quarter more) the node:
//!
//! 1. Takes the routed peers and their client counts from their `STATSZ` gossip
//!    ([`crate::events::PeerLoads`]). A change of membership (a peer joined or left) starts
//!    a cool-down: nothing moves until it is over, so counts settle first.
//! 2. Compares itself only with peers whose count is fresh ([`FRESH`]); if any routed
//!    peer's is not, it sheds nothing (a partition never makes both sides shed: each side
//!    sees fewer peers, so its own share is larger, and stale counts stop everything).
//! 3. Computes the target, `ceil(total / servers)`, and sheds only when over it by more than
//!    both `abs_threshold` clients and `rel_threshold` times, on its count now and also on
//!    its count as of the oldest peer report it uses (counts of one instant: a server that
//!    received clients since, as its peers did, is not over). A server above the target but
//!    within that band still sheds when a peer is *under* the target by as much (beyond both
//!    thresholds, the same distance below): its share of the under-loaded peers' deficit, in
//!    proportion to its surplus among the servers above the target. So at rest every server
//!    is within the band on both sides, not only below its top. A round sheds the excess
//!    down to the target, never below, at most `max_moves_per_sec` per tick; then a
//!    cool-down.
//! 4. Moves clients that take async INFO (they learn the other servers), longest connected
//!    first among those connected for at least the cool-down (one that just came back,
//!    e.g. from a client that shuffles its server list, is not sent away again at once).
//!    Each gets an INFO with `ldm: true` and `connect_urls` listing the least-loaded
//!    servers first, then is closed (`Rebalanced`). A peer's load, in the plan and in that
//!    order, is its last report plus the clients this node sent it since (reports come up
//!    to a `STATSZ` period apart): a round spreads its clients over the peers instead of
//!    piling them onto the one least loaded at its last report, and stops at the target
//!    instead of counting the clients it sent away as gone from the cluster.
//!
//! `dry_run` logs each round's plan and moves nobody. `refuse_new_when_over` makes
//! [`Shared::register`](crate::shared::Shared::register) refuse new clients while this
//! server is over. A server that crashes mid-round leaves nothing behind: there is no
//! coordination state, only gossip.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::{Node, NodeAction};
use crate::conn::LogLevel;
use crate::errors::CloseReason;
use crate::options::RebalanceOptions;
use crate::Time;

/// How old a peer's count may be and still count: three of its slowest `STATSZ` periods.
pub const FRESH: Duration = Duration::from_secs(30);
/// The shortest pause between two ticks (the eviction cap is per tick, so per second).
pub const TICK: Duration = Duration::from_secs(1);

/// What monitoring and `$SYS` show of the rebalancer.
#[derive(Debug, Default)]
pub struct RebalanceStatus {
    /// This server is over its target (new clients are refused if configured so).
    pub refusing_new: AtomicBool,
    /// Clients moved away since start.
    pub shed: AtomicU64,
    /// The last target computed (0 before any).
    pub target: AtomicU64,
    /// This server's clients minus the target, at the last tick.
    pub imbalance: AtomicI64,
    /// The last plan.
    pub plan: Mutex<Option<Plan>>,
}

impl RebalanceStatus {
    /// The last plan, if any.
    pub fn plan(&self) -> Option<Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One tick's view (`$SYS.REQ.SERVER.<id>.REBALANCEZ`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// This server's clients.
    pub clients: u64,
    /// Clients in the cluster, as far as fresh counts tell.
    pub total: u64,
    /// Servers counted (this one included).
    pub servers: u64,
    /// The share per server.
    pub target: u64,
    /// Clients to move from here (0 when within the thresholds).
    pub excess: u64,
    /// Why nothing moves, if nothing does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<&'static str>,
    /// Peers (server id) with their counts, least loaded first.
    pub peers: Vec<(String, u64)>,
}

/// The rebalancer's own state in the node.
#[derive(Debug, Default)]
pub(super) struct Rebalancer {
    /// Next tick.
    next: Option<Time>,
    /// The peers last seen (sorted ids), to notice membership changes.
    members: Vec<String>,
    /// Nothing moves before this (membership change, end of a round).
    quiet_until: Option<Time>,
    /// Clients left to move in the current round.
    round_left: u64,
    /// A one-off rebalance was asked for: the next tick skips the cool-down.
    forced: bool,
    /// Per peer: clients this node sent it since its last report (the report's time).
    sent: Vec<(String, Time, u64)>,
    /// This server's client count at each tick of the last [`FRESH`] (oldest first), to
    /// compare itself with its peers' reports as of when they were made.
    history: std::collections::VecDeque<(Time, u64)>,
}

impl Node {
    fn rebalance_options(&self) -> Option<RebalanceOptions> {
        self.sh
            .opts()
            .cluster
            .as_ref()
            .and_then(|c| c.rebalance)
            .filter(|r| r.enabled)
    }

    /// A one-off rebalance (`$SYS.REQ.SERVER.<id>.REBALANCE`): the next tick, now, ignores
    /// the cool-down.
    pub(super) fn force_rebalance(&mut self, now: Time) {
        self.rb.forced = true;
        self.rb.quiet_until = None;
        self.rb.next = Some(now);
    }

    /// The next tick, when rebalancing is on.
    pub(super) fn next_rebalance(&self) -> Option<Time> {
        self.rb.next
    }

    /// Arms or disarms the tick after start or a reload.
    pub(super) fn arm_rebalance(&mut self, now: Time) {
        if self.rebalance_options().is_some() {
            if self.rb.next.is_none() {
                self.rb.next = Some(now + TICK);
            }
        } else {
            self.rb = Rebalancer::default();
            self.sh
                .rebalance
                .refusing_new
                .store(false, Ordering::Relaxed);
        }
    }

    /// One tick, if due.
    pub(super) fn rebalance_timer(&mut self, now: Time) {
        if self.rb.next.is_none_or(|t| now < t) {
            return;
        }
        let Some(opts) = self.rebalance_options() else {
            self.arm_rebalance(now);
            return;
        };
        // At least a second, up to a quarter more: jitter that never shortens the period the
        // cap is counted over.
        let jitter = Duration::from_nanos(self.rng.below(TICK.as_nanos() as u64 / 4 + 1));
        self.rb.next = Some(now + TICK + jitter);
        let plan = self.plan(now, &opts);
        let sh = std::sync::Arc::clone(&self.sh);
        let st = &sh.rebalance;
        st.target.store(plan.target, Ordering::Relaxed);
        let imbalance = i64::try_from(plan.clients).unwrap_or(i64::MAX)
            - i64::try_from(plan.target).unwrap_or(i64::MAX);
        st.imbalance.store(imbalance, Ordering::Relaxed);
        st.refusing_new.store(
            opts.refuse_new_when_over && plan.excess > 0 && plan.waiting != Some(STALE),
            Ordering::Relaxed,
        );
        *st.plan.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan.clone());
        if plan.excess == 0 || plan.waiting.is_some() {
            self.rb.round_left = 0;
            return;
        }
        if self.rb.round_left == 0 {
            // A new round: its size is fixed now, so counts moving under it (clients coming
            // back, others arriving) do not make it chase them.
            self.rb.round_left = plan.excess;
            if opts.dry_run {
                let msg = format!(
                    "Rebalance (dry run): would move {} clients (this server has {}, target {}, {} clients on {} servers)",
                    plan.excess, plan.clients, plan.target, plan.total, plan.servers
                );
                self.actions.push_back(NodeAction::Log(LogLevel::Info, msg));
                self.end_round(now, &opts);
                return;
            }
            let msg = format!(
                "Rebalance: moving {} clients to less-loaded servers (this server has {}, target {})",
                plan.excess, plan.clients, plan.target
            );
            self.actions.push_back(NodeAction::Log(LogLevel::Info, msg));
        }
        let k = self
            .rb
            .round_left
            .min(u64::from(opts.max_moves_per_sec))
            .min(plan.excess);
        let moved = self.move_clients(now, k, &opts, &plan);
        self.rb.round_left = self.rb.round_left.saturating_sub(k);
        st.shed.fetch_add(moved, Ordering::Relaxed);
        if self.rb.round_left == 0 || moved == 0 {
            self.end_round(now, &opts);
        }
    }

    fn end_round(&mut self, now: Time, opts: &RebalanceOptions) {
        self.rb.round_left = 0;
        self.rb.forced = false;
        self.rb.quiet_until = Some(now + opts.cooldown);
    }

    /// This tick's view of the cluster.
    fn plan(&mut self, now: Time, opts: &RebalanceOptions) -> Plan {
        // Clients already told to go (by us or anyone) are gone for this count: their
        // writers may not have finished closing them by the next tick.
        let clients = self
            .sh
            .client_list()
            .iter()
            .filter(|(h, _)| h.close_reason().is_none())
            .count() as u64;
        let mut ids: Vec<String> = self
            .sh
            .routes()
            .list()
            .into_iter()
            .map(|r| r.remote_id)
            .collect();
        ids.sort();
        ids.dedup();
        let mut plan = Plan {
            clients,
            total: clients,
            servers: 1,
            target: clients,
            excess: 0,
            waiting: None,
            peers: Vec::new(),
        };
        if ids != self.rb.members {
            self.rb.members = ids.clone();
            self.rb.round_left = 0;
            if !self.rb.forced {
                self.rb.quiet_until = Some(now + opts.cooldown);
            }
        }
        // What was sent to peers that are gone is of no use.
        self.rb.sent.retain(|(p, _, _)| ids.contains(p));
        let mut stale = false;
        let mut oldest = now;
        for id in &ids {
            match self.sh.peer_loads.get(id) {
                Some(l) if now.saturating_since(l.at) <= FRESH => {
                    // Its report plus the clients sent it since (they are not in it).
                    let n = l.clients + self.sent_since(id, l.at);
                    plan.peers.push((id.clone(), n));
                    plan.total += n;
                    plan.servers += 1;
                    oldest = oldest.min(l.at);
                }
                _ => stale = true,
            }
        }
        plan.peers.sort_by_key(|(id, n)| (*n, id.clone()));
        plan.target = plan.total.div_ceil(plan.servers);
        // Over on this server's count now, and also on its count as of the oldest report
        // (the peers' counts are up to a `STATSZ` period old: a server that was receiving
        // clients meanwhile, as its peers were, would otherwise shed them again).
        let then = self
            .rb
            .history
            .iter()
            .rev()
            .find(|(t, _)| *t <= oldest)
            .map_or(clients, |(_, n)| *n);
        let peers = &plan.peers;
        let excess = |own: u64| {
            let total = plan.total - clients + own;
            let target = total.div_ceil(plan.servers);
            let over = own.saturating_sub(target);
            if beyond_band(over, target, opts) {
                return over;
            }
            // Within its own band, it still owes its share of the peers' deficit below
            // theirs: the clients under-loaded servers lack, split among the servers above
            // the target in proportion to their surplus (with one view of the counts the
            // shares add up to the deficit, rounded up by at most one per server).
            let deficit: u64 = peers
                .iter()
                .map(|(_, n)| target.saturating_sub(*n))
                .filter(|&d| beyond_band(d, target, opts))
                .sum();
            if over == 0 || deficit == 0 {
                return 0;
            }
            let surpluses = over
                + peers
                    .iter()
                    .map(|(_, n)| n.saturating_sub(target))
                    .sum::<u64>();
            (deficit * over).div_ceil(surpluses).min(over)
        };
        plan.excess = excess(clients).min(excess(then));
        self.rb.history.push_back((now, clients));
        while self
            .rb
            .history
            .get(1)
            .is_some_and(|(t, _)| now.saturating_since(*t) > FRESH)
        {
            self.rb.history.pop_front();
        }
        if stale {
            plan.waiting = Some(STALE);
        } else if plan.excess > 0 && self.urls_in_order(&plan.peers).is_empty() {
            // A moved client would only know this server (peers listening on every
            // interface advertise no client URL here): it would come straight back.
            plan.waiting = Some(NO_URLS);
        } else if self.rb.quiet_until.is_some_and(|t| now < t) && !self.rb.forced {
            plan.waiting = Some("cool-down");
        }
        plan
    }

    /// Moves up to `k` clients: those that take async INFO and have been here at least the
    /// cool-down, longest connected first. Returns how many were moved.
    fn move_clients(&mut self, now: Time, k: u64, opts: &RebalanceOptions, plan: &Plan) -> u64 {
        let mut candidates: Vec<(u64, Time, Option<std::net::SocketAddr>)> = self
            .sh
            .client_list()
            .into_iter()
            .filter(|(h, info)| {
                h.takes_async_info()
                    && h.close_reason().is_none()
                    && now.saturating_since(info.start) >= opts.cooldown
            })
            .map(|(h, info)| (h.cid, info.start, info.addr))
            .collect();
        candidates.sort_by_key(|(cid, start, _)| (*start, *cid));
        // The peers' counts as planned (their reports plus what this node sent them
        // since), each client sent counted on: a round spreads its clients.
        let mut projected: Vec<(u64, String)> =
            plan.peers.iter().map(|(id, n)| (*n, id.clone())).collect();
        let opts_now = self.sh.opts();
        let mut moved = 0;
        for (cid, _, addr) in candidates
            .into_iter()
            .take(usize::try_from(k).unwrap_or(usize::MAX))
        {
            let Some(h) = self.sh.client_handle(cid) else {
                continue;
            };
            projected.sort();
            let order: Vec<(String, u64)> =
                projected.iter().map(|(n, id)| (id.clone(), *n)).collect();
            let urls = self.urls_in_order(&order);
            if let Some((n, id)) = projected.first_mut() {
                *n += 1;
                self.sent_to(id, now);
            }
            let line = crate::info::client_info_line_with_urls(
                &self.sh, &opts_now, cid, addr, true, &urls,
            );
            if let crate::client::Delivered::Queued { wake: true } = h.send(&line) {
                h.wake();
            }
            h.close_after_flush(CloseReason::Rebalanced);
            moved += 1;
        }
        moved
    }

    /// One more client sent to peer `id` since its last report.
    fn sent_to(&mut self, id: &str, now: Time) {
        let at = self.sh.peer_loads.get(id).map_or(now, |l| l.at);
        match self.rb.sent.iter_mut().find(|(p, _, _)| p == id) {
            Some((_, t, n)) if *t == at => *n += 1,
            Some(e) => *e = (id.to_string(), at, 1),
            None => self.rb.sent.push((id.to_string(), at, 1)),
        }
    }

    /// Clients sent to peer `id` since its report of `at`.
    fn sent_since(&self, id: &str, at: Time) -> u64 {
        let e = self.rb.sent.iter().find(|(p, t, _)| p == id && *t == at);
        e.map_or(0, |(_, _, n)| *n)
    }

    /// The peers' client URLs in `order` (their own `connect_urls` from their route INFO).
    fn urls_in_order(&self, order: &[(String, u64)]) -> Vec<String> {
        let routes = self.sh.routes().list();
        let mut urls = Vec::new();
        for (id, _) in order {
            for r in routes.iter().filter(|r| &r.remote_id == id) {
                for u in &r.info.connect_urls {
                    if !urls.contains(u) {
                        urls.push(u.clone());
                    }
                }
            }
        }
        urls
    }
}

/// A server `by` clients away from `target` is outside the band "balanced" allows: beyond
/// both `abs_threshold` clients and `rel_threshold` times (above: `target * rel`; below,
/// the same distance: `target * (rel - 1)` under it).
fn beyond_band(by: u64, target: u64, opts: &RebalanceOptions) -> bool {
    by > u64::from(opts.abs_threshold) && by as f64 > target as f64 * (opts.rel_threshold - 1.0)
}

/// Why nothing moves when a peer's count is missing or old.
const STALE: &str = "a peer's count is not fresh";
/// Why nothing moves when no peer advertises a client URL.
pub(super) const NO_URLS: &str = "no peer advertises a client URL to move clients to";
