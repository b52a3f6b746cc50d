//! What a run looks like, drawn from its seed: the swarm configuration (how many nodes and
//! clients, how much work, latencies, server limits, faults) and the random choices a
//! client makes.
//!
//! Like TigerBeetle's VOPR swarm testing, the configuration itself is random, so different
//! seeds exercise different corners (tiny `max_pending`, frequent PINGs, no faults at all).
//! Each part is drawn from its own stream forked from the seed ([`Rng::fork`]), so adding a
//! part never shifts what the others draw.

use std::time::Duration;

use natsd_core::rng::Rng;

use crate::cluster::ClusterPlan;
use crate::faults::FaultPlan;
use crate::features::Features;
use crate::variant::Variant;

/// A deliberate bug planted in the harness, to prove the oracles can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// Drop the `n`th delivery (0-based, counted over all clients) before the client model
    /// sees it.
    DropDelivery(u64),
    /// Hand the `n`th delivery to the client model twice.
    DuplicateDelivery(u64),
    /// The oracle's matcher ignores wildcards (`a.*` only matches the literal `a.*`).
    BrokenMatcher,
    /// Every PUB a node processes is also published on the next node (through a hidden
    /// connection the oracle is not told about), as a route that forgets which node a
    /// message belongs to would. Needs 2+ nodes and no auth.
    LeakAcrossNodes,
    /// Every PUB a node processes (and the model accepted) is also published on the same
    /// node by a hidden connection bound to another account that some client is in, as a
    /// server that forgets which account a message belongs to would. Needs users in two or
    /// more accounts ([`crate::features::Features::accounts_in_use`]).
    LeakAcrossAccounts,
    /// Drop the `n`th delivery of the liveness phase (after the heal, when nothing is
    /// excused by a fault any more).
    DropAfterHeal(u64),
    /// Every routed message a node takes from a route is handed to it a second time (its
    /// bytes appended again to the same link), as a route that sends a message twice would.
    RouteTwice,
    /// Every routed message a node takes from a route is also sent on to the node's other
    /// routes (as if the node had written it), as a server that breaks the one-hop rule.
    SecondHop,
    /// Subscriptions meant to be born with a limit are sent as `SUB`, their `UNSUB sid max`
    /// only with the client's third action after it (the window `MSUB` closes, made wide),
    /// while the oracle is made to believe they were `MSUB`s.
    MsubAsSubUnsub,
    /// `MSUB ... max+1` is sent while the oracle is made to believe `max`.
    MsubOneMore,
    /// The oracle is not told of the first stream import the nodes are configured with (a
    /// harness whose model forgot an import, or a server that leaks messages into another
    /// account on those subjects). Needs imports ([`crate::features::Features::imports`]).
    ForgetImport,
    /// The oracle is not told of the first service import the nodes are configured with.
    /// Needs services ([`crate::features::Features::services`]).
    ForgetServiceImport,
    /// The oracle believes each `_R_` reply subject answers the request seen before its
    /// own (a server that hands a response to another requester's inbox). Needs services.
    LeakResponse,
    /// The oracle is not told of the first subject mapping the nodes are configured with
    /// (that of the first account with mappings; a model that forgot a mapping, or a
    /// server that ignores one). Needs mappings ([`crate::features::Features::mappings`]).
    ForgetMapping,
    /// The oracle believes the two destination weights of the weighted mapping swapped (a
    /// server whose draw skews the split). Needs a weighted mapping.
    SkewWeights,
    /// `rate` variant: the driver ignores `poll_read_pause` and offers every byte at once
    /// (a runtime without flow control), while the oracle expects the limit's rate.
    IgnorePause,
    /// `rate` variant: the reload is published (`Shared::apply_reload`) but no connection
    /// is told (`handle_config_change` never runs).
    SkipConfigChange,
    /// `reload` variant: the nodes reload everything but the accounts (they keep the
    /// imports they started with) while the oracle switches to the reloaded imports (a
    /// server that ignores a change of imports). Needs [`crate::features::Features::reloaded`].
    ReloadImportsUntold,
    /// `reload` variant: the nodes switch to the reloaded imports, the oracle keeps the
    /// old ones (a server that changes imports nobody asked to change).
    ReloadImportsStaleModel,
    /// `rate` variant: the driver sleeps through any connection's pause for every
    /// connection (one thread serving all sockets), so the calm tenant waits too.
    GlobalPause,
    /// `rebalance` variant: the nodes may move twice the `max_moves_per_sec` the oracle
    /// checks (a rebalancer that ignores its cap).
    RebalanceNoCap,
    /// `rebalance` variant: the nodes run without thresholds (`abs_threshold` 0,
    /// `rel_threshold` 1.0) while the oracle expects the drawn ones.
    RebalancePingPong,
    /// `rebalance` variant: the nodes run with a band three times as wide (and 0.3 more
    /// relative) as the oracle expects: they stop short on both sides of its band.
    RebalanceWideBand,
    /// `rebalance` variant: a moved client's re-subscriptions go out under another subject
    /// while the oracle believes them made (interest lost in the move).
    RebalanceLostResubscribe,
    /// `rebalance` variant: a moved client ignores the `connect_urls` and goes back to the
    /// server that dropped it (which must move it again).
    RebalanceGoBack,
    /// `auth` variant: the driver lets every client in as soon as its CONNECT asks for a
    /// decision (before the provider answered), while the oracle waits for the answer.
    AuthAcceptAtOnce,
    /// `auth` variant: the driver drops a refused client without handing it the refusal
    /// (`handle_close` instead of `handle_auth_decision`): no `-ERR`, another close reason.
    AuthRejectSilently,
    /// `auth` variant: the driver stops a connection's timers while it waits for the
    /// decision (re-armed after it), so the auth timeout never fires during the wait.
    AuthTimersPaused,
    /// `auth` variant: the driver hands every request to the provider, with no bound on
    /// decisions in flight.
    AuthNoBound,
    /// `auth` variant: the driver forgets to release a request's slot when it gives up
    /// waiting (the provider was silent or late), so later requests are refused below the
    /// bound.
    AuthLeakSlot,
    /// `auth` variant: after an accept the driver does not offer the bytes that waited in the
    /// receive buffer; they wait for the next bytes the client sends (an edge-triggered
    /// runtime that forgot its leftover).
    AuthNoReoffer,
    /// `auth` variant: the heal never reaches the provider: it stays silent.
    AuthNoHeal,
    /// `auth` variant: the driver acts on a provider's second answer itself: a refusal
    /// that follows an accept closes the connection (`handle_close`).
    AuthActOnDuplicate,
}

/// The swarm configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The seed everything else descends from.
    pub seed: u64,
    /// Which scenario this is (part of the reproduction line).
    pub variant: Variant,
    /// Server nodes (1..=5), each its own `Shared` and `Node` (joined by routes only with
    /// [`Config::cluster`]).
    pub nodes: usize,
    /// Simulated clients (3..=8; more in long runs).
    pub clients: usize,
    /// Workload actions of the safety phase, across all clients; reactions (PONG, replies)
    /// are extra.
    pub ops: usize,
    /// Workload actions of the liveness phase (after the heal).
    pub live_ops: usize,
    /// Mean think time between one client's actions, in nanoseconds.
    pub think_ns: u64,
    /// One-way latency range of a link, in nanoseconds: base is drawn per link.
    pub latency_ns: u64,
    /// Jitter range: each link draws its own jitter bound below it, in nanoseconds.
    pub jitter_ns: u64,
    /// Bytes a link holds towards a client before the server's writer blocks (the socket
    /// buffers): a client that does not read, or a cut link, fills it, then `max_pending`.
    pub window: usize,
    /// The server's keep-alive interval.
    pub ping_interval: Duration,
    /// The server's `ping_max` (unanswered PINGs tolerated).
    pub ping_max: u32,
    /// The server's `max_pending`.
    pub max_pending: usize,
    /// Turn the sublist's match cache off (`disable_sublist_cache`).
    pub no_sublist_cache: bool,
    /// Percent chance that a workload action of a client is to leave for good.
    pub close_percent: u64,
    /// Percent chance that a workload action is to move: disconnect, then reconnect to
    /// another node (safety phase only).
    pub move_percent: u64,
    /// Percent chance that a client answers a request it receives.
    pub respond_percent: u64,
    /// One client stops reading for a while (a slow consumer), starting at this time.
    pub stall: Option<Stall>,
    /// A config reload mid-traffic (auth and limits), when set.
    pub reload: Option<ReloadPlan>,
    /// One node enters lame duck mode, when set.
    pub lame_duck: Option<LameDuckPlan>,
    /// The nodes form one cluster (routes), when set.
    pub cluster: Option<ClusterPlan>,
    /// Server limits, users and permissions, client profiles.
    pub features: Features,
    /// Network and node faults of the safety phase, and the nodes' clocks.
    pub faults: FaultPlan,
    /// End of the safety phase: every fault heals, the liveness phase starts.
    pub heal_at_ns: u64,
    /// After the last action and the drain: timers run this much longer (server PINGs of
    /// idle clients, stale checks) before the final checks.
    pub quiet_ns: u64,
    /// A planted harness bug, for the oracle self-tests.
    pub sabotage: Option<Sabotage>,
    /// Upper bound on processed events; beyond it the run fails with `NoLiveness`.
    pub max_events: u64,
    /// The `rate` variant's tenants and limits, when set (see [`crate::rate`]).
    pub rate: Option<crate::rate::RatePlan>,
    /// The `rebalance` variant's joins, thresholds and client policy, when set (see
    /// [`crate::rebalance`]).
    pub rebalance: Option<crate::rebalance::RebalancePlan>,
    /// The `auth` variant's clients, provider faults and timeout, when set (see
    /// [`crate::auth`]).
    pub auth: Option<crate::auth::AuthPlan>,
}

/// A config reload mid-traffic: every client logs in as its own user; at `at_ns` the server
/// reloads with `victim`'s user removed and new limits (larger `max_payload` and
/// `max_control_line`, a different `ping_interval`).
#[derive(Debug, Clone, Copy)]
pub struct ReloadPlan {
    /// When the reload is applied, in nanoseconds.
    pub at_ns: u64,
    /// The client whose user the new config removes.
    pub victim: usize,
}

/// A reading stall of one client.
#[derive(Debug, Clone, Copy)]
pub struct Stall {
    /// Which client.
    pub client: usize,
    /// When it stops reading, in nanoseconds.
    pub at_ns: u64,
    /// For how long (cut short by the heal).
    pub for_ns: u64,
}

/// Lame duck mode on one node, run by its `natsd_core::node::Node`.
#[derive(Debug, Clone, Copy)]
pub struct LameDuckPlan {
    /// Which node.
    pub node: usize,
    /// When (world time) the node is told to enter lame duck mode.
    pub at_ns: u64,
    /// `lame_duck_duration`.
    pub duration: Duration,
    /// `lame_duck_grace_period`.
    pub grace: Duration,
}

/// Most simulated time the quiet period spends on PINGs of idle clients.
const QUIET_PINGS_MAX: Duration = Duration::from_secs(5);

/// The quiet period for `ping_interval`: past the first server PING (at most 2.4 s), then
/// two more intervals (capped), so idle clients are pinged and must answer.
fn quiet_for(ping_interval: Duration) -> u64 {
    let d = Duration::from_millis(2_500) + (ping_interval * 2).min(QUIET_PINGS_MAX);
    u64::try_from(d.as_nanos()).expect("seconds fit")
}

impl Config {
    /// The single-node configuration for `seed` (the `plain` variant): pure function of the
    /// seed. Its first draws are the ones the simulator always made, so old seeds keep their
    /// shape; the features of the audit (permissions, verbose, limits) come from their own
    /// stream.
    pub fn from_seed(seed: u64) -> Config {
        let mut r = Rng::fork(seed, 0xC0F1_6000);
        let clients = 3 + r.below(6) as usize;
        let ops = 50 + r.below(251) as usize;
        let think_ns = 50_000 + r.below(2_000_000);
        let ping_interval = match r.below(4) {
            0 => Duration::from_millis(20),
            1 => Duration::from_millis(200),
            _ => Duration::from_secs(120),
        };
        let max_pending = match r.below(4) {
            0 => 2048 + r.below(8192) as usize,
            _ => 64 * 1024 * 1024,
        };
        let run_ns = think_ns * ops as u64 / clients as u64;
        let stall = (r.below(3) == 0).then(|| Stall {
            client: r.below(clients as u64) as usize,
            at_ns: r.below(run_ns.max(1)),
            for_ns: 1_000_000 + r.below(300_000_000),
        });
        let latency_ns = 5_000 + r.below(500_000);
        let jitter_ns = 1 + r.below(100_000);
        let ping_max = 1 + r.below(3) as u32;
        let no_sublist_cache = r.below(2) == 0;
        let close_percent = if r.below(3) == 0 { 1 + r.below(3) } else { 0 };
        let respond_percent = r.below(101);
        let mut p = Rng::fork(seed, 0x9A5E_0000);
        let window = match p.below(8) {
            0 => 256 * 1024,
            _ => 1024 + p.below(16 * 1024) as usize,
        };
        // The safety phase ends after the workload would, give or take half of it.
        let heal_at_ns = run_ns + p.below(run_ns.max(1));
        Config {
            seed,
            variant: Variant::Plain,
            nodes: 1,
            clients,
            ops,
            live_ops: 20 + ops / 4,
            think_ns,
            latency_ns,
            jitter_ns,
            window,
            ping_interval,
            ping_max,
            max_pending,
            no_sublist_cache,
            close_percent,
            move_percent: 0,
            respond_percent,
            stall,
            reload: None,
            lame_duck: None,
            cluster: None,
            features: Features::draw(seed, clients),
            faults: FaultPlan::none(1),
            heal_at_ns,
            quiet_ns: quiet_for(ping_interval),
            sabotage: None,
            max_events: 4_000_000,
            rate: None,
            rebalance: None,
            auth: None,
        }
    }

    /// The same run with a reload mid-traffic, drawn from the seed (a separate stream, so
    /// the rest of the run is drawn exactly as without it).
    pub fn with_reload(mut self) -> Config {
        let mut r = Rng::fork(self.seed, 0x2E10_AD00);
        let run_ns = self.think_ns * self.ops as u64 / self.clients as u64;
        self.reload = Some(ReloadPlan {
            at_ns: r.below(run_ns.max(1)),
            victim: r.below(self.clients as u64) as usize,
        });
        self.features.reloaded = crate::features::draw_reload_imports(self.seed, &self.features);
        self.variant = Variant::Reload;
        self
    }

    /// A world of 1..=5 nodes with clients moving between them and network and node faults
    /// drawn from the seed (the `world` variant).
    pub fn world(seed: u64) -> Config {
        let mut c = Config::from_seed(seed);
        let mut r = Rng::fork(seed, 0x3031_D000);
        c.variant = Variant::World;
        c.nodes = 1 + r.below(5) as usize;
        c.move_percent = 1 + r.below(6);
        c.faults = FaultPlan::draw(seed, &c);
        c
    }

    /// A world of 2..=5 nodes in which one node enters lame duck mode during the safety
    /// phase (the `lame_duck` variant); the other faults stay, but never crash that node.
    pub fn lame_duck(seed: u64) -> Config {
        let mut c = Config::world(seed);
        let mut r = Rng::fork(seed, 0x1A3E_D0C0);
        c.variant = Variant::LameDuck;
        c.nodes = 2 + r.below(4) as usize;
        let node = r.below(c.nodes as u64) as usize;
        let duration = Duration::from_millis(1_000 + r.below(7_000));
        let grace = Duration::from_millis(r.below(500));
        c.lame_duck = Some(LameDuckPlan {
            node,
            at_ns: r.below(c.heal_at_ns.max(1)),
            duration,
            grace,
        });
        c.faults = FaultPlan::draw(seed, &c);
        c.faults.spare_node(node);
        // Long enough for the closes (at most 1 s apart, one per client) to finish.
        c.max_events *= 4;
        c
    }

    /// A long world run: tens of simulated seconds, tens of thousands of deliveries, keep-
    /// alive intervals that fire many times (the `long` variant).
    pub fn long(seed: u64) -> Config {
        let mut c = Config::world(seed);
        let mut r = Rng::fork(seed, 0x1086_0000);
        c.variant = Variant::Long;
        c.clients = 6 + r.below(5) as usize;
        c.features = Features::draw(seed, c.clients);
        c.ops = 15_000 + r.below(10_000) as usize;
        c.live_ops = c.ops / 5;
        c.think_ns = 8_000_000 + r.below(8_000_000);
        c.ping_interval = Duration::from_millis(200 + r.below(1_800));
        c.quiet_ns = quiet_for(c.ping_interval);
        c.stall = None;
        c.close_percent = 0;
        c.move_percent = 1;
        let run_ns = c.think_ns * c.ops as u64 / c.clients as u64;
        c.heal_at_ns = run_ns;
        c.faults = FaultPlan::draw(seed, &c);
        c.max_events = 40_000_000;
        c
    }

    /// A cluster of 2..=5 nodes (the `cluster` variant): a world run whose nodes are joined
    /// by routes (see [`ClusterPlan`]), with faults on route links too.
    pub fn cluster(seed: u64) -> Config {
        let mut c = Config::world(seed);
        let mut r = Rng::fork(seed, 0xC1A5_0000);
        c.variant = Variant::Cluster;
        c.nodes = 2 + r.below(4) as usize;
        let plan = ClusterPlan::draw(seed, c.nodes);
        c.faults = FaultPlan::draw(seed, &c);
        c.faults.add_route_faults(seed, c.nodes, c.heal_at_ns);
        c.cluster = Some(plan);
        // Routes redial 1 s apart: the quiet period must outlast a few redials.
        c.quiet_ns = c.quiet_ns.max(4_000_000_000);
        c.max_events *= 2;
        c
    }

    /// The same run without faults (no disconnects, moves, stall, network or node faults,
    /// oversized publishes; roomy `max_pending`), so every owed delivery must arrive.
    pub fn without_faults(mut self) -> Config {
        self.close_percent = 0;
        self.move_percent = 0;
        self.stall = None;
        self.max_pending = 64 * 1024 * 1024;
        self.faults = FaultPlan {
            events: Vec::new(),
            ..self.faults
        };
        for p in &mut self.features.profiles {
            p.oversize_percent = 0;
        }
        self
    }

    /// Simulated time the safety workload takes on average.
    pub fn run_ns(&self) -> u64 {
        self.think_ns * self.ops as u64 / self.clients as u64
    }
}

/// The kinds of workload action a client can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// `SUB subject sid`.
    Sub,
    /// `SUB subject queue sid`.
    QueueSub,
    /// `UNSUB sid` or `UNSUB sid max`.
    Unsub,
    /// `PUB` (or `HPUB`).
    Pub,
    /// `SUB inbox`, `UNSUB sid 1`, `PUB subject inbox`.
    Request,
    /// `PING` (a flush).
    Ping,
    /// Close the socket and leave for good.
    Close,
    /// Close the socket and reconnect to another node.
    Move,
}

/// Draws the next action kind; `close_percent` and `move_percent` are the chances of
/// leaving and of moving.
pub fn next_action(r: &mut Rng, close_percent: u64, move_percent: u64) -> ActionKind {
    if r.below(100) < close_percent {
        return ActionKind::Close;
    }
    if move_percent > 0 && r.below(100) < move_percent {
        return ActionKind::Move;
    }
    match r.below(100) {
        0..=21 => ActionKind::Sub,
        22..=29 => ActionKind::QueueSub,
        30..=39 => ActionKind::Unsub,
        40..=79 => ActionKind::Pub,
        80..=94 => ActionKind::Request,
        _ => ActionKind::Ping,
    }
}

/// The token alphabet: small, so subscriptions and publishes meet often.
const TOKENS: [&str; 3] = ["a", "b", "c"];

/// A literal subject of 1-3 tokens.
pub fn literal_subject(r: &mut Rng) -> Vec<u8> {
    let n = 1 + r.below(3) as usize;
    let toks: Vec<&str> = (0..n).map(|_| TOKENS[r.below(3) as usize]).collect();
    toks.join(".").into_bytes()
}

/// Every literal subject [`literal_subject`] can draw (1-3 tokens), in order: what the
/// cluster probes publish on.
pub fn all_literal_subjects() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = Vec::new();
    let mut last: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for prefix in &last {
            for t in TOKENS {
                let mut s = prefix.clone();
                if !s.is_empty() {
                    s.push(b'.');
                }
                s.extend_from_slice(t.as_bytes());
                next.push(s);
            }
        }
        all.extend(next.iter().cloned());
        last = next;
    }
    all
}

/// A publish subject with a `*` token (pedantic servers answer `Invalid Publish Subject`
/// and deliver it anyway; the `*` is matched as literal text).
pub fn wildcard_publish_subject(r: &mut Rng) -> Vec<u8> {
    let mut s = literal_subject(r);
    s.extend_from_slice(b".*");
    s
}

/// A subscription pattern of 1-3 tokens with `*` and a trailing `>` sometimes.
pub fn pattern(r: &mut Rng) -> Vec<u8> {
    let n = 1 + r.below(3) as usize;
    let mut toks: Vec<&str> = (0..n)
        .map(|_| {
            if r.below(4) == 0 {
                "*"
            } else {
                TOKENS[r.below(3) as usize]
            }
        })
        .collect();
    if r.below(6) == 0 {
        *toks.last_mut().expect("n >= 1") = ">";
    }
    toks.join(".").into_bytes()
}

/// A queue group name.
pub fn queue_name(r: &mut Rng) -> Vec<u8> {
    if r.below(2) == 0 {
        b"q1".to_vec()
    } else {
        b"q2".to_vec()
    }
}

/// How many bytes of padding a payload gets: mostly small, sometimes a few KiB.
pub fn padding(r: &mut Rng) -> usize {
    match r.below(20) {
        0 => r.below(4096) as usize,
        1..=5 => 0,
        _ => r.below(64) as usize,
    }
}

/// How many of `avail` in-flight bytes the next network chunk carries: often one byte,
/// often a few, sometimes everything.
pub fn chunk_len(r: &mut Rng, avail: usize) -> usize {
    debug_assert!(avail > 0, "no chunk of nothing");
    let n = match r.below(10) {
        0..=2 => 1,
        3..=5 => 1 + r.below(16) as usize,
        6..=8 => 1 + r.below(512) as usize,
        _ => avail,
    };
    n.min(avail)
}

/// A think time around `mean` (0 to 2×mean, so bursts happen).
pub fn think(r: &mut Rng, mean: u64) -> u64 {
    r.below(2 * mean + 1)
}
