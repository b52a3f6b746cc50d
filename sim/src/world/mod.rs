//! The simulated world: N server nodes (each its own `Shared`, `Node` and connections; in
//! the `cluster` variant joined by routes, see `routes.rs`), clients that connect to any node and move between them, the
//! network of links between clients and nodes, per-node clocks, and one event queue, all
//! driven by one seeded PRNG on one thread.
//!
//! Each connection has two links (client→node and node→client). A link is an ordered byte
//! queue: writing appends, and one pending delivery event per link hands the next chunk, of
//! random size, to the other side after the link's latency plus jitter. Chunks therefore
//! arrive in order, split anywhere, exactly as TCP may deliver them. A link towards a client
//! holds at most [`Config::window`](crate::Config::window) bytes before the node's writer
//! blocks (the socket buffers), so a client that stops reading, or a cut link, backs up
//! into the node's outbound queue and `max_pending`.
//!
//! A run has two phases, as TigerBeetle's VOPR: the *safety* phase, with the faults of
//! [`crate::faults`] and client moves, where every delivery is checked as it arrives; then
//! at `heal_at_ns` the *heal* (cut links heal, crashed nodes restart, stalls end, faults and
//! moves stop) and the *liveness* phase, more workload, the drain, and a quiet period of
//! timers, after which everything owed to a connection still open must have arrived.
//!
//! Events are ordered by (simulated time, random tie-break, insertion order), so equal-time
//! events run in a seed-dependent order. Every processed event feeds the trace.
//!
//! # Layout
//! - `mod.rs`: the types, construction, the main loop, the final checks.
//! - `session.rs`: one connection's life: connect, bytes both ways, timers, the writer,
//!   closes and whether the server had the right to each.
//! - `nodes.rs`: nodes' clocks, crash and restart, the lame duck run, the leak sabotage.
//! - `faults.rs`: link cuts, resets, stalls and the heal.
//! - `reload.rs`: the reload-mid-traffic scenario.
//! - `stale.rs`: when a node may rightly close a connection as stale.
//! - `routes.rs`: route connections between nodes (cluster), dials, the node driver.
//! - `rebalance.rs`: late joins, the clients' policies after a move, the rebalance oracles.

mod faults;
mod nodes;
mod rebalance;
mod reload;
mod routes;
mod session;
mod stale;

pub use stale::StaleFacts;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::errors::CloseReason;
use natsd_core::proto::Parser;
use natsd_core::rng::Rng;
use natsd_core::subject;

use crate::client::{ClientModel, ClientState, Tap};
use crate::oracle::{Counts, Oracle, PermModel, Violation, ViolationKind};
use crate::trace::{Trace, Who};
use crate::variant::Variant;
use crate::workload::{self, Config, Sabotage};

/// After the probes went out: how long the world runs on (messages cross in milliseconds).
const PROBE_QUIET_NS: u64 = 500_000_000;

use nodes::NodeSlot;
use routes::{NodePath, RouteLink};

/// Writers (or nodes) that were woken, in wake order (the core's `Notify` pushes here).
#[derive(Debug)]
struct WakeList<T>(Mutex<Vec<T>>);

impl<T> Default for WakeList<T> {
    fn default() -> Self {
        WakeList(Mutex::new(Vec::new()))
    }
}

impl<T> WakeList<T> {
    fn push(&self, s: T) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Whose writer a wake-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// A client session's.
    Session(usize),
    /// A route end's (see `routes.rs`).
    Route(usize),
}

/// The writer's wake-up for one session or route end: the core sets it, the world drains
/// the list after every event.
#[derive(Debug)]
struct Flag {
    woken: AtomicBool,
    target: Wake,
    list: Arc<WakeList<Wake>>,
}

impl Notify for Flag {
    fn notify(&self) {
        if !self.woken.swap(true, Ordering::Relaxed) {
            self.list.push(self.target);
        }
    }
}

/// Something that happens at a simulated instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The client opens a socket to a node (the node accepts, or refuses).
    Connect(usize),
    /// The next chunk of client→node bytes (or the client's FIN) of a session arrives.
    ToServer(usize),
    /// The next chunk of node→client bytes (or the node's FIN) of a session arrives.
    ToClient(usize),
    /// A session's connection timer may be due.
    Timer(usize),
    /// The client takes its next workload action.
    Action(usize),
    /// The client stops reading.
    Stall(usize),
    /// The client reads again.
    Unstall(usize),
    /// Node 0 reloads its config.
    Reload,
    /// A node's timer (`Node::poll_timeout`) may be due.
    NodeTimer(usize),
    /// The planned node enters lame duck mode.
    LameDuck,
    /// The planned fault with this index happens.
    Fault(usize),
    /// The cut with this fault index ends.
    CutOver(usize),
    /// A crashed node restarts.
    Restart(usize),
    /// The safety phase ends: every fault heals.
    Heal,
    /// The next chunk of bytes reaches this route end (cluster).
    RouteData(usize),
    /// A route end's connection timer may be due.
    RouteTimer(usize),
    /// A node joins the cluster (rebalance).
    Join(usize),
    /// The rebalance convergence deadline.
    RebalanceCheck,
    /// The end of the ping-pong watch.
    RebalanceEnd,
}

impl Event {
    /// Stable codes for the trace hash, the index hashed with them, and a name.
    fn code(self) -> (u8, usize, &'static str) {
        match self {
            Event::Connect(i) => (1, i, "connect"),
            Event::ToServer(i) => (2, i, "to_server"),
            Event::ToClient(i) => (3, i, "to_client"),
            Event::Timer(i) => (4, i, "timer"),
            Event::Action(i) => (5, i, "action"),
            Event::Stall(i) => (6, i, "stall"),
            Event::Unstall(i) => (7, i, "unstall"),
            Event::Reload => (10, 0, "reload"),
            Event::NodeTimer(i) => (11, i, "node_timer"),
            Event::LameDuck => (12, 0, "lame_duck"),
            Event::Fault(i) => (13, i, "fault"),
            Event::CutOver(i) => (14, i, "cut_over"),
            Event::Restart(i) => (15, i, "restart"),
            Event::Heal => (16, 0, "heal"),
            Event::RouteData(i) => (17, i, "route_data"),
            Event::RouteTimer(i) => (18, i, "route_timer"),
            Event::Join(i) => (19, i, "join"),
            Event::RebalanceCheck => (20, 0, "rebalance_check"),
            Event::RebalanceEnd => (21, 0, "rebalance_end"),
        }
    }

    /// Connection timers are not work: the run may end with them pending.
    fn is_work(self) -> bool {
        // Node timers are periodic too since the system account's `STATSZ` (a node always
        // has one armed); a lame duck's closes still run inside the quiet period.
        !matches!(
            self,
            Event::Timer(_) | Event::RouteTimer(_) | Event::NodeTimer(_)
        )
    }
}

/// One direction of a simulated TCP stream.
#[derive(Debug, Default)]
struct Link {
    bytes: Vec<u8>,
    /// The writer closed its side: after `bytes`, the reader sees EOF.
    fin: bool,
    /// EOF has been delivered.
    eof: bool,
    /// A delivery event is queued.
    scheduled: bool,
}

/// The network path between one client and one node: its delays and its cuts.
#[derive(Debug, Clone, Copy)]
struct Path {
    up_latency: u64,
    down_latency: u64,
    jitter: u64,
    /// Cuts in force that stop client→node bytes (cuts may overlap).
    cut_up: u32,
    /// Cuts in force that stop node→client bytes.
    cut_down: u32,
}

/// One connection: a client's socket to a node and the node's half of it.
struct Session {
    client: usize,
    node: usize,
    /// `None` once the node crashed (its state is gone).
    conn: Option<Connection>,
    flag: Arc<Flag>,
    /// Parses the node-bound stream exactly as the node's parser does, for the oracle.
    shadow: Parser,
    /// The node stopped reading (a parse error closed it): the shadow stops too.
    shadow_dead: bool,
    /// Headers in effect once CONNECT is processed.
    headers: bool,
    up: Link,
    down: Link,
    /// The world time of the queued `Timer` event, if any.
    timer_at: Option<u64>,
    /// The client still has this socket (it reads and writes it).
    client_open: bool,
    /// The node's side of the socket is closed: nothing more is written or read.
    server_closed: bool,
    /// Reset or lost in a crash: nothing flows either way any more.
    dead: bool,
    /// The world reset it (the node may see `Read Error`).
    reset: bool,
    /// A close the client's own input asked for (an oversized PUB).
    expect_close: Option<CloseReason>,
    /// Why the node closed it.
    close_reason: Option<CloseReason>,
    /// PINGs the client got on it, and PONGs the node processed (the stale rule).
    pings_seen: u64,
    pongs_processed: u64,
    /// Node time of the node's accept (the rebalance cool-down oracle).
    opened_node_ns: u64,
    /// Node time of the node's last read, and whether it processed CONNECT yet.
    last_read: u64,
    connect_processed: bool,
    /// The node's last timer could rightly close it as stale.
    stale_allowed: bool,
}

/// One client and where it is.
struct ClientSlot {
    model: ClientModel,
    /// Its current session.
    session: Option<usize>,
    /// It left for good (or was refused by auth).
    left: bool,
    stalled: bool,
    action_pending: bool,
    connect_pending: bool,
    /// The node it is moving away from (avoided by its next connect).
    avoid: Option<usize>,
    /// It has connected at least once.
    ever_connected: bool,
    /// It takes no workload actions (rebalance: most clients only connect).
    idle: bool,
    /// Where its next connect goes (rebalance: its policy after a move).
    next_node: Option<usize>,
}

/// Which phase the run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Faults and moves happen.
    Safety,
    /// Everything healed; completeness is owed.
    Liveness,
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The scenario.
    pub variant: Variant,
    /// Nodes in the world.
    pub nodes: usize,
    /// Hash of every processed event (time, kind, index, bytes).
    pub trace_hash: u64,
    /// Events processed.
    pub events: u64,
    /// Messages the nodes processed.
    pub published: usize,
    /// Deliveries checked by the oracle.
    pub deliveries: u64,
    /// Connections closed during the run (by either side, or a fault).
    pub closed: usize,
    /// What the run exercised.
    pub stats: Stats,
    /// Simulated nanoseconds at the end.
    pub sim_ns: u64,
}

/// Counts of what a run exercised, so tests can assert the swarm still covers the faults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections opened.
    pub sessions: u64,
    /// Connections closed because the client closed its socket.
    pub client_closes: u64,
    /// Connections closed as slow consumers.
    pub slow_consumers: u64,
    /// Connections closed as stale (unanswered PINGs).
    pub stale: u64,
    /// Of which while the client was reading and its link whole: a slow drain delayed the
    /// PONG (what the old stale rule wrongly refused, reload seed 7279).
    pub stale_while_reading: u64,
    /// Reading stalls injected.
    pub stalls: u64,
    /// Server PINGs the clients answered.
    pub pings_answered: u64,
    /// Connections closed with `Authorization Violation` after a reload removed their user.
    pub deauthorized: u64,
    /// Reloads that changed the accounts' imports ([`crate::features::Features::reloaded`]).
    pub imports_reloaded: u64,
    /// Deliveries across accounts (through stream imports, service requests and
    /// responses) checked after such a reload.
    pub crossed_after_reload: u64,
    /// Connections closed for an oversized PUB.
    pub max_payload_closes: u64,
    /// Clients that moved to another node.
    pub moves: u64,
    /// Connection attempts refused (node down, not accepting, link cut).
    pub refused: u64,
    /// Connections reset.
    pub resets: u64,
    /// Link cuts.
    pub cuts: u64,
    /// Node crashes and restarts.
    pub crashes: u64,
    /// Restarts of crashed nodes.
    pub restarts: u64,
    /// Clients closed by a node in lame duck mode.
    pub lame_duck_closes: u64,
    /// `"ldm":true` INFOs clients received.
    pub lame_duck_infos: u64,
    /// Nodes that shut down at the end of lame duck mode.
    pub shutdowns: u64,
    /// Messages leaked to another node or account by [`Sabotage::LeakAcrossNodes`] or
    /// [`Sabotage::LeakAcrossAccounts`].
    pub leaks: u64,
    /// Deliveries of the liveness phase.
    pub live_deliveries: u64,
    /// Route connections opened (cluster).
    pub route_links: u64,
    /// Route ends closed.
    pub route_closes: u64,
    /// Of which as duplicates (or routes to self).
    pub duplicate_routes: u64,
    /// Of which as stale.
    pub stale_routes: u64,
    /// Route connections reset by a fault.
    pub route_resets: u64,
    /// Cuts of the network between nodes.
    pub route_cuts: u64,
    /// Route dials that failed (node down, network cut).
    pub dials_failed: u64,
    /// Probes published after the cluster settled, and judged (interest had converged).
    pub probes: u64,
    /// Clients a rebalancer moved (rebalance).
    pub rebalanced: u64,
    /// The latest move after the last join or the heal, world ns (rebalance; a max in
    /// sums).
    pub rebalance_settle_ns: u64,
    /// What the `auth` variant exercised.
    pub auth: crate::auth::AuthStats,
    /// What the oracle checked.
    pub checks: Counts,
}

impl Stats {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: &Stats) {
        self.sessions += o.sessions;
        self.client_closes += o.client_closes;
        self.slow_consumers += o.slow_consumers;
        self.stale += o.stale;
        self.stale_while_reading += o.stale_while_reading;
        self.stalls += o.stalls;
        self.pings_answered += o.pings_answered;
        self.deauthorized += o.deauthorized;
        self.imports_reloaded += o.imports_reloaded;
        self.crossed_after_reload += o.crossed_after_reload;
        self.max_payload_closes += o.max_payload_closes;
        self.moves += o.moves;
        self.refused += o.refused;
        self.resets += o.resets;
        self.cuts += o.cuts;
        self.crashes += o.crashes;
        self.restarts += o.restarts;
        self.lame_duck_closes += o.lame_duck_closes;
        self.lame_duck_infos += o.lame_duck_infos;
        self.shutdowns += o.shutdowns;
        self.leaks += o.leaks;
        self.live_deliveries += o.live_deliveries;
        self.route_links += o.route_links;
        self.route_closes += o.route_closes;
        self.duplicate_routes += o.duplicate_routes;
        self.stale_routes += o.stale_routes;
        self.route_resets += o.route_resets;
        self.route_cuts += o.route_cuts;
        self.dials_failed += o.dials_failed;
        self.probes += o.probes;
        self.rebalanced += o.rebalanced;
        self.rebalance_settle_ns = self.rebalance_settle_ns.max(o.rebalance_settle_ns);
        self.auth.add(&o.auth);
        self.checks.add(&o.checks);
    }
}

/// The world of one run.
pub struct World {
    cfg: Config,
    now: u64,
    rng: Rng,
    queue: BinaryHeap<Reverse<(u64, u64, u64, Event)>>,
    inserted: u64,
    /// Queued events other than connection timers: the run settles when this reaches zero.
    work: usize,
    phase: Phase,
    nodes: Vec<NodeSlot>,
    clients: Vec<ClientSlot>,
    sessions: Vec<Session>,
    /// By `client * nodes + node`.
    paths: Vec<Path>,
    /// Per client, the permissions of its user, when restricted.
    perms: Vec<Option<Arc<PermModel>>>,
    wake: Arc<WakeList<Wake>>,
    /// Nodes with inputs waiting (cluster).
    node_wake: Arc<WakeList<usize>>,
    /// Route connections, in opening order (cluster).
    links: Vec<RouteLink>,
    /// The network between nodes, by `from * nodes + to`.
    node_paths: Vec<NodePath>,
    /// The probes were sent (cluster).
    probed: bool,
    /// Sessions whose writer waits for room in the link.
    blocked: BTreeSet<usize>,
    /// Per fault index: a cut in force.
    cut_active: Vec<bool>,
    oracle: Oracle,
    tap: Tap,
    trace: Trace,
    stats: Stats,
    ops_left: usize,
    /// Set when the work first runs out: timers run until then.
    quiet_until: Option<u64>,
    events: u64,
    deliveries_at_heal: u64,
    reload: reload::ReloadState,
    rb: rebalance::RebalanceLog,
}

/// A stream import as the oracle models it.
/// Deliveries across accounts checked so far.
fn crossed(c: &crate::oracle::Counts) -> u64 {
    c.imported + c.service_requests + c.service_responses
}

fn import_model(i: &crate::features::ImportSpec) -> crate::oracle::ImportModel {
    use crate::features::ACCOUNTS;
    crate::oracle::ImportModel {
        exporter: ACCOUNTS[i.exporter],
        importer: ACCOUNTS[i.importer],
        subject: i.subject.clone().into_bytes(),
        prefix: i.prefix.clone().into_bytes(),
    }
}

fn service_model(s: &crate::features::ServiceSpec) -> crate::oracle::ServiceModel {
    use crate::features::ACCOUNTS;
    crate::oracle::ServiceModel {
        exporter: ACCOUNTS[s.exporter],
        importer: ACCOUNTS[s.importer],
        subject: s.subject.clone().into_bytes(),
        to: s.to.clone().into_bytes(),
        singleton: s.singleton,
    }
}

/// A matcher that ignores wildcards: the planted bug of [`Sabotage::BrokenMatcher`].
fn broken_matcher(pattern: &[u8], subject: &[u8]) -> bool {
    pattern == subject
}

impl World {
    /// A world for `cfg`: nodes started, every client's first connect, the faults, the
    /// stall, the reload, the lame duck and the heal scheduled.
    pub fn new(cfg: Config) -> World {
        let mut rng = Rng::fork(cfg.seed, 0x5EED);
        let respond = cfg.respond_percent;
        let clients = (0..cfg.clients)
            .map(|i| ClientSlot {
                model: {
                    let mut m = ClientModel::new(i, cfg.features.profiles[i], respond);
                    m.plant_msub_sabotage(cfg.sabotage);
                    m.extra_patterns = cfg.features.extra_patterns(i);
                    m.request_subjects = cfg.features.request_subjects(i);
                    m.queue_patterns = cfg.features.service_subjects(i);
                    m
                },
                session: None,
                left: false,
                stalled: false,
                action_pending: false,
                connect_pending: false,
                avoid: None,
                ever_connected: false,
                idle: false,
                next_node: None,
            })
            .collect();
        let paths = (0..cfg.clients * cfg.nodes)
            .map(|_| Path {
                up_latency: 1 + rng.below(cfg.latency_ns),
                down_latency: 1 + rng.below(cfg.latency_ns),
                jitter: 1 + rng.below(cfg.jitter_ns),
                cut_up: 0,
                cut_down: 0,
            })
            .collect();
        let matcher = match cfg.sabotage {
            Some(Sabotage::BrokenMatcher) => broken_matcher,
            _ => subject::matches,
        };
        let perms = (0..cfg.clients)
            .map(|i| cfg.features.perms_of(i).map(|p| Arc::new(PermModel::of(p))))
            .collect();
        let nodes = (0..cfg.nodes).map(|n| NodeSlot::new(&cfg, n)).collect();
        // Its own stream, so the other variants draw as before.
        let mut pr = Rng::fork(cfg.seed, 0x9A7E_0000);
        let node_paths = (0..cfg.nodes * cfg.nodes)
            .map(|_| NodePath::draw(&mut pr, cfg.latency_ns, cfg.jitter_ns))
            .collect();
        let mut oracle = Oracle::with_nodes(cfg.nodes, matcher);
        if cfg.cluster.is_some() {
            oracle.enable_cluster();
        }
        let forget = usize::from(cfg.sabotage == Some(Sabotage::ForgetImport));
        let imports = cfg.features.imports.iter().skip(forget);
        oracle.set_imports(imports.map(import_model).collect());
        let forget = usize::from(cfg.sabotage == Some(Sabotage::ForgetServiceImport));
        let services = cfg.features.services.iter().skip(forget);
        oracle.set_services(
            services.map(service_model).collect(),
            cfg.sabotage == Some(Sabotage::LeakResponse),
        );
        oracle.set_mappings(crate::mapping::models(&cfg.features.mappings, cfg.sabotage));
        let mut w = World {
            ops_left: cfg.ops,
            tap: Tap::new(cfg.sabotage),
            oracle,
            cut_active: vec![false; cfg.faults.events.len()],
            now: 0,
            rng,
            queue: BinaryHeap::new(),
            inserted: 0,
            work: 0,
            phase: Phase::Safety,
            nodes,
            clients,
            sessions: Vec::new(),
            paths,
            perms,
            wake: Arc::new(WakeList::default()),
            node_wake: Arc::new(WakeList::default()),
            links: Vec::new(),
            node_paths,
            probed: false,
            blocked: BTreeSet::new(),
            trace: Trace::default(),
            stats: Stats::default(),
            quiet_until: None,
            events: 0,
            deliveries_at_heal: 0,
            reload: reload::ReloadState::default(),
            rb: rebalance::RebalanceLog::default(),
            cfg,
        };
        let first: Vec<usize> = (0..w.nodes.len())
            .filter(|&n| w.starts_at_once(n))
            .collect();
        for &n in &first {
            w.start_node(n);
        }
        // Every node is up before any dials (a runtime dials once its listener is up).
        for &n in &first {
            w.boot_node(n);
        }
        w.start_rebalance();
        reload::give_logins(&mut w);
        // Half the clients connect at the start, the others join mid-traffic.
        let run_ns = w.cfg.run_ns();
        for c in 0..w.clients.len() {
            let window = if w.rng.below(2) == 0 || w.cfg.rebalance.is_some() {
                5_000_000
            } else {
                run_ns.max(1)
            };
            let at = w.rng.below(window);
            w.clients[c].connect_pending = true;
            w.schedule(at, Event::Connect(c));
        }
        if let Some(s) = w.cfg.stall {
            w.schedule(s.at_ns, Event::Stall(s.client));
        }
        if let Some(p) = w.cfg.reload {
            w.schedule(p.at_ns, Event::Reload);
        }
        if let Some(p) = w.cfg.lame_duck {
            w.schedule(p.at_ns, Event::LameDuck);
        }
        for i in 0..w.cfg.faults.events.len() {
            let at = w.cfg.faults.events[i].0;
            w.schedule(at, Event::Fault(i));
        }
        w.schedule(w.cfg.heal_at_ns, Event::Heal);
        w
    }

    /// Queues `ev` at world time `at` (never in the past); all but connection timers
    /// count as work that keeps the run going.
    fn schedule(&mut self, at: u64, ev: Event) {
        debug_assert!(at >= self.now, "events are never scheduled in the past");
        if ev.is_work() {
            self.work += 1;
        }
        self.inserted += 1;
        let tie = self.rng.next_u64();
        self.queue.push(Reverse((at, tie, self.inserted, ev)));
    }

    /// Runs the safety phase, the heal, the liveness phase, the drain and the quiet period,
    /// then checks liveness. Contract: deterministic in the config; returns the first
    /// violation, with the world time it happened at.
    pub fn run(&mut self) -> Result<Outcome, (u64, Violation)> {
        loop {
            self.run_until_quiet()?;
            if self.cfg.cluster.is_none() || self.probed {
                break;
            }
            // The cluster settled: the mesh must be full, then the probes go out.
            self.check_mesh().map_err(|v| (self.now, v))?;
            self.send_probes();
            self.probed = true;
            self.quiet_until = Some(self.now + PROBE_QUIET_NS);
        }
        self.finish().map_err(|v| (self.now, v))?;
        Ok(self.outcome())
    }

    /// Runs events until the work is done and the quiet period is over.
    fn run_until_quiet(&mut self) -> Result<(), (u64, Violation)> {
        loop {
            if self.work == 0 && !self.lame_duck_closing() {
                let quiet = self.now + self.cfg.quiet_ns;
                let deadline = *self.quiet_until.get_or_insert(quiet);
                let due = self.queue.peek().is_some_and(|e| e.0 .0 <= deadline);
                if !due {
                    break;
                }
            }
            let Some(Reverse((at, _, _, ev))) = self.queue.pop() else {
                // Only a lame duck that stopped arming its timer (`check_lame_duck_done`).
                assert!(self.work == 0, "work > 0 means a queued event");
                break;
            };
            if ev.is_work() {
                self.work -= 1;
            }
            self.now = at;
            self.events += 1;
            if self.events > self.cfg.max_events {
                let v = Violation::new(ViolationKind::NoLiveness, "event budget exhausted");
                return Err((self.now, v));
            }
            self.step(ev).map_err(|v| (at, v))?;
        }
        Ok(())
    }

    /// Cluster probes: every connected client publishes once on every literal subject
    /// (see the cluster rule in `oracle/cluster.rs`).
    fn send_probes(&mut self) {
        self.oracle.start_probes();
        let subjects = workload::all_literal_subjects();
        for c in 0..self.clients.len() {
            let cs = &mut self.clients[c];
            let Some(s) = cs.session else { continue };
            if cs.left || cs.idle || cs.model.state != ClientState::Connected {
                continue;
            }
            let mut out = Vec::new();
            for subject in &subjects {
                cs.model.probe(subject, &mut out);
            }
            self.send_up(s, &out);
        }
    }

    /// The last events, readable, for a failure report.
    pub fn recent(&self) -> String {
        self.trace.recent()
    }

    fn outcome(&self) -> Outcome {
        let closed = self
            .sessions
            .iter()
            .filter(|s| s.dead || s.server_closed || !s.client_open)
            .count();
        let deliveries = self.oracle.deliveries();
        Outcome {
            seed: self.cfg.seed,
            variant: self.cfg.variant,
            nodes: self.cfg.nodes,
            trace_hash: self.trace.hash(),
            events: self.events,
            published: self.oracle.published(),
            deliveries,
            closed,
            stats: Stats {
                probes: self.oracle.judged_probes() as u64,
                pings_answered: self.clients.iter().map(|c| c.model.pings_answered).sum(),
                live_deliveries: deliveries - self.deliveries_at_heal,
                rebalance_settle_ns: self.rb.last_ns.saturating_sub(self.cfg.heal_at_ns),
                checks: self.oracle.counts.clone(),
                crossed_after_reload: self
                    .reload
                    .crossed_at
                    .map_or(0, |at| crossed(&self.oracle.counts) - at),
                ..self.stats.clone()
            },
            sim_ns: self.now,
        }
    }

    /// Who event `ev` concerns, for the readable trace.
    fn who(&self, ev: Event) -> Who {
        match ev {
            Event::ToServer(s) | Event::ToClient(s) | Event::Timer(s) => self.conn_who(s),
            Event::Connect(c) | Event::Action(c) | Event::Stall(c) | Event::Unstall(c) => {
                Who::Client(c)
            }
            Event::NodeTimer(n) | Event::Restart(n) | Event::Join(n) => Who::Node(n),
            Event::RouteData(e) | Event::RouteTimer(e) => self.route_who(e),
            _ => Who::World,
        }
    }

    fn conn_who(&self, s: usize) -> Who {
        let sess = &self.sessions[s];
        Who::Conn {
            conn: s,
            client: sess.client,
            node: sess.node,
        }
    }

    /// One event: traced, handled, then every woken writer drains (as a runtime's writers
    /// would before the next input).
    fn step(&mut self, ev: Event) -> Result<(), Violation> {
        let (code, i, what) = ev.code();
        let who = self.who(ev);
        self.trace.event(self.now, code, i, what, who);
        match ev {
            Event::Connect(c) => self.on_connect(c),
            Event::ToServer(s) => self.on_to_server(s)?,
            Event::ToClient(s) => self.on_to_client(s)?,
            Event::Timer(s) => self.on_timer(s)?,
            Event::Action(c) => self.on_action(c),
            Event::Stall(c) => self.on_stall(c),
            Event::Unstall(c) => self.on_unstall(c),
            Event::Reload => self.on_reload()?,
            Event::NodeTimer(n) => self.on_node_timer(n)?,
            Event::LameDuck => self.on_lame_duck()?,
            Event::Fault(i) => self.on_fault(i)?,
            Event::CutOver(i) => self.on_cut_over(i),
            Event::Restart(n) => self.on_restart(n),
            Event::Heal => self.on_heal(),
            Event::RouteData(e) => self.on_route_data(e)?,
            Event::RouteTimer(e) => self.on_route_timer(e)?,
            Event::Join(n) => self.on_join(n),
            Event::RebalanceCheck => self.on_rebalance_check()?,
            Event::RebalanceEnd => {}
        }
        self.pump_all()?;
        self.drive_nodes()
    }

    /// After the quiet period: nothing may be left queued for a live connection (a lost
    /// wake-up), every client that did not leave is connected again (on a node that is
    /// up), the lame duck node finished, and every owed delivery arrived.
    fn finish(&mut self) -> Result<(), Violation> {
        self.check_deauthorized_got_nothing()?;
        for (s, sess) in self.sessions.iter().enumerate() {
            if !sess.client_open || sess.server_closed || sess.dead {
                continue;
            }
            let conn = sess
                .conn
                .as_ref()
                .expect("a live session has its connection");
            let pending = conn.handle().pending_bytes();
            if pending > 0 || !sess.up.bytes.is_empty() || !sess.down.bytes.is_empty() {
                let msg =
                    format!("connection {s}: {pending} bytes queued but the writer never woke");
                return Err(Violation::new(ViolationKind::Stuck, msg));
            }
            if self.clients[sess.client].model.state != ClientState::Connected {
                let msg = format!("connection {s} never completed its handshake");
                return Err(Violation::new(ViolationKind::NoLiveness, msg));
            }
        }
        for (c, cs) in self.clients.iter().enumerate() {
            if !cs.left && cs.session.is_none() {
                let msg = format!("client {c} is not connected at the end");
                return Err(Violation::new(ViolationKind::NoLiveness, msg));
            }
        }
        self.check_lame_duck_done()?;
        self.check_routes_drained()?;
        self.check_mesh()?;
        self.oracle.finish()
    }
}
