//! The nodes: each a `Shared` with its own options and server id, a `Node` beside it, and a
//! clock that drifts from the world's. Here they crash (state dropped without a word,
//! clients see resets), restart (a fresh `Shared` with the same options), and run lame
//! duck mode through the world's event queue.

use std::sync::Arc;
use std::time::Duration;

use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::errors::CloseReason;
use natsd_core::node::{Node, NodeAction, LAME_DUCK_MAX_GAP};
use natsd_core::options::Options;
use natsd_core::rng::Rng;
use natsd_core::shared::Shared;
use natsd_core::Time;

use super::{Event, World};
use crate::faults::Clock;
use crate::features::{ACCOUNTS, PASSWORD};
use crate::oracle::{Violation, ViolationKind};
use crate::workload::{Config, Sabotage};

/// Closes of lame duck mode are timed in node nanoseconds; the world turns a node deadline
/// into the first world nanosecond at or after it, so a gap may read this much long.
const CLOCK_ROUNDING_NS: u64 = 2;

/// What lame duck mode did on a node, as the world saw it (node times).
#[derive(Debug, Clone, Default)]
pub(super) struct LameDuckLog {
    entered: u64,
    grace: Duration,
    /// `lame_duck_duration - grace` (1 s if not positive): what the closes spread over.
    spread: Duration,
    /// Clients registered just before the node's latest timer: at the first close, those
    /// the node spreads its closes over.
    registered: usize,
    /// The pause the node draws from, `[gap/2, gap)`, once the closing started.
    gap: Option<u64>,
    /// Clients connected to the node when it entered lame duck mode.
    clients: Vec<usize>,
    closes: Vec<u64>,
    shutdown: Option<u64>,
}

/// One node of the world.
pub(super) struct NodeSlot {
    /// `None` while crashed, and after a lame duck shutdown.
    pub(super) shared: Option<Arc<Shared>>,
    pub(super) node: Option<Node>,
    /// What it starts and restarts with.
    pub(super) opts: Options,
    incarnation: u64,
    accepting: bool,
    /// Shut down by lame duck mode: it never comes back.
    pub(super) gone: bool,
    pub(super) clock: Clock,
    /// The world time of the queued `NodeTimer` event, if any.
    timer_at: Option<u64>,
    ldm: Option<LameDuckLog>,
}

/// A ghost connection's writer: nobody reads its socket.
struct NoWake;

impl Notify for NoWake {
    fn notify(&self) {}
}

impl NodeSlot {
    /// Node `n` of `cfg`, not started: options with its own seed, derived from the run's.
    pub(super) fn new(cfg: &Config, n: usize) -> NodeSlot {
        let seed = Rng::fork(cfg.seed, 0x5EED_0000 + n as u64).next_u64();
        let f = &cfg.features;
        let mut cluster = cfg.cluster.as_ref().map(|p| p.options(n));
        let defaults = Options::default();
        // Rebalance: each node advertises its own client URL (the others' seeds keep the
        // default listener, which advertises none, so their runs stay as they were).
        let (host, port) = match (cluster.as_mut(), cfg.rebalance.as_ref()) {
            (Some(c), Some(p)) => {
                c.rebalance = Some(p.opts);
                super::rebalance::client_addr(n)
            }
            _ => (defaults.host, defaults.port),
        };
        let opts = Options {
            host,
            port,
            seed,
            ping_interval: cfg.ping_interval,
            ping_max: cfg.ping_max,
            max_pending: cfg.max_pending,
            disable_sublist_cache: cfg.no_sublist_cache,
            max_payload: f.max_payload,
            max_subscriptions: f.max_subscriptions,
            no_header_support: f.no_header_support,
            cluster,
            accounts: f.account_options(),
            mappings: f.mapping_options(0),
            ..Options::default()
        };
        NodeSlot {
            shared: None,
            node: None,
            opts: super::reload::with_users(opts, cfg),
            incarnation: 0,
            accepting: false,
            gone: false,
            clock: cfg.faults.clocks[n],
            timer_at: None,
            ldm: None,
        }
    }

    /// Its state, if it is up and accepts new connections.
    pub(super) fn accepting_shared(&self) -> Option<Arc<Shared>> {
        self.shared.clone().filter(|_| self.accepting)
    }

    /// True once it entered lame duck mode.
    pub(super) fn in_lame_duck(&self) -> bool {
        self.ldm.is_some()
    }
}

impl World {
    /// The node's own time now (its clock drifts from the world's; monotonic).
    pub(super) fn node_now(&self, n: usize) -> u64 {
        self.nodes[n].clock.node_ns(self.now)
    }

    /// Starts node `n` (again): a fresh `Shared` with its options and a new server id.
    pub(super) fn start_node(&mut self, n: usize) {
        let now = Time::from_nanos(self.node_now(n));
        let slot = &mut self.nodes[n];
        let id = format!(
            "NSIM{:016X}",
            self.cfg.seed ^ ((n as u64) << 48) ^ (slot.incarnation << 40)
        );
        // A restarted server draws afresh, as a runtime's does (seed 0: from the OS), so
        // its service imports' `_R_` prefixes differ from its last life's (a response to a
        // request the crash lost must not resolve to a new request).
        let mut opts = slot.opts.clone();
        opts.seed ^= slot.incarnation.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let shared = Arc::new(Shared::new(opts, id, now));
        slot.node = Some(Node::new(Arc::clone(&shared)));
        slot.shared = Some(shared);
        slot.accepting = true;
        slot.incarnation += 1;
        slot.timer_at = None;
    }

    /// Node `n` starts its routes (`Node::handle_start`: it dials its explicit routes);
    /// a no-op without a cluster block.
    pub(super) fn boot_node(&mut self, n: usize) {
        if self.cfg.cluster.is_none() {
            return;
        }
        self.wire_node(n);
        let now = Time::from_nanos(self.node_now(n));
        if let Some(node) = self.nodes[n].node.as_mut() {
            node.handle_start(now);
        }
        // Dials only: they cannot fail the run.
        let _ = self.drain_node_actions(n);
        self.rearm_node(n);
    }

    /// Node `n` crashes: its `Shared`, `Node` and connections are dropped without closing
    /// anything; every client of it sees its connection reset, every route peer too.
    pub(super) fn crash(&mut self, n: usize, down_ns: u64) -> Result<(), Violation> {
        if self.nodes[n].shared.is_none() || self.nodes[n].gone {
            return Ok(());
        }
        self.crash_routes(n)?;
        self.stats.crashes += 1;
        for s in 0..self.sessions.len() {
            let sess = &mut self.sessions[s];
            if sess.node != n || sess.dead {
                continue;
            }
            sess.dead = true;
            sess.conn = None;
            sess.up.bytes.clear();
            sess.down.bytes.clear();
            self.blocked.remove(&s);
            self.oracle.server_closed(s);
            self.client_lost(s);
        }
        let slot = &mut self.nodes[n];
        slot.shared = None;
        slot.node = None;
        slot.accepting = false;
        slot.timer_at = None;
        self.schedule(self.now + down_ns, Event::Restart(n));
        Ok(())
    }

    /// A crashed node restarts (a no-op if the heal already restarted it).
    pub(super) fn on_restart(&mut self, n: usize) {
        if self.nodes[n].shared.is_some() || self.nodes[n].gone {
            return;
        }
        self.start_node(n);
        self.boot_node(n);
        self.stats.restarts += 1;
    }

    /// The planned node enters lame duck mode (`Node::handle_lame_duck`).
    pub(super) fn on_lame_duck(&mut self) -> Result<(), Violation> {
        let Some(plan) = self.cfg.lame_duck else {
            return Ok(());
        };
        let n = plan.node;
        let now = self.node_now(n);
        let clients = (0..self.clients.len())
            .filter(|&c| {
                self.clients[c]
                    .session
                    .is_some_and(|s| self.sessions[s].node == n)
            })
            .collect();
        let slot = &mut self.nodes[n];
        let Some(node) = slot.node.as_mut() else {
            return Ok(());
        };
        let spread = match plan.duration.checked_sub(plan.grace) {
            Some(d) if !d.is_zero() => d,
            _ => Duration::from_secs(1),
        };
        slot.ldm = Some(LameDuckLog {
            entered: now,
            grace: plan.grace,
            spread,
            clients,
            ..LameDuckLog::default()
        });
        node.handle_lame_duck(Time::from_nanos(now), plan.duration, plan.grace);
        self.drain_node_actions(n)?;
        self.rearm_node(n);
        Ok(())
    }

    /// The node's timer: `handle_timeout`, then the writers carry out the closes it asked
    /// for, then its actions.
    pub(super) fn on_node_timer(&mut self, n: usize) -> Result<(), Violation> {
        if self.nodes[n].timer_at != Some(self.now) {
            return Ok(()); // Superseded.
        }
        self.nodes[n].timer_at = None;
        let now = Time::from_nanos(self.node_now(n));
        let slot = &mut self.nodes[n];
        if let (Some(log), Some(shared)) = (slot.ldm.as_mut(), &slot.shared) {
            log.registered = shared.num_clients();
        }
        let Some(node) = slot.node.as_mut() else {
            return Ok(());
        };
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
        self.rebalance_decisions(n)?;
        self.pump_all()?;
        self.drain_node_actions(n)?;
        self.rearm_node(n);
        Ok(())
    }

    /// Carries out the node's actions in order: `StopAccepting` closes its door,
    /// `Shutdown` takes it away.
    pub(super) fn drain_node_actions(&mut self, n: usize) -> Result<(), Violation> {
        while let Some(a) = self.nodes[n].node.as_mut().and_then(Node::poll_action) {
            match a {
                NodeAction::StopAccepting => self.nodes[n].accepting = false,
                NodeAction::Log(..) => {}
                NodeAction::Dial(url) => self.dial(n, url),
                NodeAction::Shutdown => {
                    self.shutdown(n)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Queues a `NodeTimer` for the node's deadline (node time → world time), unless one
    /// at or before it is queued already.
    pub(super) fn rearm_node(&mut self, n: usize) {
        let slot = &self.nodes[n];
        let Some(t) = slot.node.as_ref().and_then(Node::poll_timeout) else {
            return;
        };
        let at = slot.clock.world_ns(t.as_nanos(), self.now);
        if !matches!(slot.timer_at, Some(x) if x <= at) {
            self.nodes[n].timer_at = Some(at);
            self.schedule(at, Event::NodeTimer(n));
        }
    }

    /// A client of node `n` was closed by lame duck mode: the pacing must hold, as
    /// `core/src/node.rs` documents it: the first close once the grace period is over, then
    /// one close per pause drawn from `[gap/2, gap)`, where `gap` is the spread over the
    /// clients registered when the closing started, at most `LAME_DUCK_MAX_GAP` (1 s).
    pub(super) fn lame_duck_close(&mut self, n: usize) -> Result<(), Violation> {
        let now = self.node_now(n);
        let Some(log) = self.nodes[n].ldm.as_mut() else {
            unreachable!("judged legit only in lame duck mode");
        };
        let fail = |msg: String| Err(Violation::new(ViolationKind::LameDuck, msg));
        let grace = u64::try_from(log.grace.as_nanos()).expect("ms fit");
        match (log.closes.last(), log.gap) {
            (Some(&last), Some(gap)) => {
                let pause = now - last;
                let max_gap = u64::try_from(LAME_DUCK_MAX_GAP.as_nanos()).expect("1 s fits");
                if pause > max_gap + CLOCK_ROUNDING_NS {
                    return fail(format!(
                        "node {n}: lame duck closes {pause} ns apart, more than {LAME_DUCK_MAX_GAP:?}"
                    ));
                }
                if pause + CLOCK_ROUNDING_NS < gap / 2 || pause > gap + CLOCK_ROUNDING_NS {
                    return fail(format!(
                        "node {n}: lame duck closes {pause} ns apart, outside [{}, {gap}) ns",
                        gap / 2
                    ));
                }
            }
            _ if now < log.entered + grace => {
                return fail(format!(
                    "node {n}: first lame duck close {} ns after entering, before the grace {:?}",
                    now - log.entered,
                    log.grace
                ));
            }
            _ => {
                let clients = u32::try_from(log.registered.max(1)).unwrap_or(u32::MAX);
                let gap = (log.spread / clients).clamp(Duration::from_nanos(1), LAME_DUCK_MAX_GAP);
                log.gap = Some(u64::try_from(gap.as_nanos()).expect("at most 1 s"));
            }
        }
        log.closes.push(now);
        self.stats.lame_duck_closes += 1;
        Ok(())
    }

    /// The end of lame duck mode: every client must have been closed by then; the node
    /// goes away for good (connections whose last bytes are in flight still deliver them).
    fn shutdown(&mut self, n: usize) -> Result<(), Violation> {
        self.pump_all()?;
        for (s, sess) in self.sessions.iter().enumerate() {
            let open = sess.conn.as_ref().is_some_and(|c| !c.is_closed());
            if sess.node == n && !sess.dead && open {
                let msg = format!("node {n} shut down with connection {s} still open");
                return Err(Violation::new(ViolationKind::LameDuck, msg));
            }
        }
        for sess in self.sessions.iter_mut().filter(|s| s.node == n) {
            // Nobody reads on the node's side any more (what the node sent still arrives).
            sess.up.bytes.clear();
            sess.up.eof = true;
        }
        let now = self.node_now(n);
        let slot = &mut self.nodes[n];
        if let Some(log) = slot.ldm.as_mut() {
            log.shutdown = Some(now);
        }
        slot.gone = true;
        slot.accepting = false;
        slot.shared = None;
        slot.node = None;
        slot.timer_at = None;
        self.stats.shutdowns += 1;
        Ok(())
    }

    /// The planned lame duck mode is still closing clients, within its duration (and a
    /// second more): the quiet period waits for it, since node timers are no work
    /// (`Event::is_work`; the run used to end before the last closes of a long lame duck
    /// mode that started late: lame_duck seed 746, and 281, 920, 1014 with subject
    /// mappings drawn).
    pub(super) fn lame_duck_closing(&self) -> bool {
        let Some(plan) = self.cfg.lame_duck else {
            return false;
        };
        let closing = self.nodes[plan.node]
            .ldm
            .as_ref()
            .is_some_and(|l| l.shutdown.is_none());
        let end = plan.at_ns + u64::try_from(plan.duration.as_nanos()).expect("seconds fit");
        closing && self.now < end + 1_000_000_000
    }

    /// At the end: the lame duck node shut down, and each of its clients (that did not
    /// leave) is connected to another node.
    pub(super) fn check_lame_duck_done(&self) -> Result<(), Violation> {
        let Some(plan) = self.cfg.lame_duck else {
            return Ok(());
        };
        let n = plan.node;
        let log = self.nodes[n].ldm.as_ref();
        if log.is_some_and(|l| l.shutdown.is_none()) {
            let msg = format!("node {n} never finished lame duck mode");
            return Err(Violation::new(ViolationKind::LameDuck, msg));
        }
        for &c in log.map(|l| l.clients.as_slice()).unwrap_or_default() {
            let cs = &self.clients[c];
            let elsewhere = cs.session.is_some_and(|s| self.sessions[s].node != n);
            if !cs.left && !elsewhere {
                let msg = format!("client {c} of lame duck node {n} did not end up elsewhere");
                return Err(Violation::new(ViolationKind::LameDuck, msg));
            }
        }
        Ok(())
    }

    /// The leak sabotages: the publishes node `from` just processed for `client` are
    /// published again through a ghost connection the oracle knows nothing of. With
    /// [`Sabotage::LeakAcrossNodes`] on the next node (no auth); with
    /// [`Sabotage::LeakAcrossAccounts`] on the same node, logged in as the hidden user of
    /// the first other account some client is in (see [`ghost_users`]).
    pub(super) fn leak(&mut self, from: usize, client: usize, pubs: Vec<Vec<u8>>) {
        if pubs.is_empty() {
            return;
        }
        let (to, login) = match self.cfg.sabotage {
            Some(Sabotage::LeakAcrossNodes) if self.cfg.nodes >= 2 => {
                ((from + 1) % self.cfg.nodes, String::new())
            }
            Some(Sabotage::LeakAcrossAccounts) => {
                let f = &self.cfg.features;
                let own = f.account_index(client);
                let Some(other) = f.accounts.iter().copied().find(|&a| a != own) else {
                    return;
                };
                let login = format!(r#","user":"{}","pass":"{PASSWORD}""#, ghost_name(other));
                (from, login)
            }
            _ => return,
        };
        let Some(shared) = self.nodes[to].shared.clone() else {
            return;
        };
        let now = Time::from_nanos(self.node_now(to));
        let mut ghost = Connection::accept(&shared, now, None, Arc::new(NoWake));
        let mut bytes = format!(
            r#"CONNECT {{"verbose":false,"pedantic":false,"headers":true,"protocol":1{login}}}"#
        )
        .into_bytes();
        bytes.extend_from_slice(b"\r\n");
        for p in &pubs {
            bytes.extend_from_slice(p);
        }
        let _ = ghost.handle_read(now, &bytes, &shared);
        ghost.handle_close(now, &shared, CloseReason::ClientClosed);
        self.stats.leaks += pubs.len() as u64;
    }
}

/// The hidden user of account `ACCOUNTS[a]` that [`Sabotage::LeakAcrossAccounts`] logs in as.
fn ghost_name(a: usize) -> String {
    format!("ghost{a}")
}

/// With [`Sabotage::LeakAcrossAccounts`], one unrestricted hidden user per account (no
/// client logs in as one); otherwise none.
pub(super) fn ghost_users(cfg: &Config) -> Vec<natsd_core::auth::User> {
    if cfg.sabotage != Some(Sabotage::LeakAcrossAccounts) {
        return Vec::new();
    }
    ACCOUNTS
        .iter()
        .enumerate()
        .map(|(a, acc)| natsd_core::auth::User {
            name: ghost_name(a),
            password: PASSWORD.into(),
            account: acc.map(str::to_string),
            ..natsd_core::auth::User::default()
        })
        .collect()
}
