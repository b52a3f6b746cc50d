//! What a run looks like, drawn from its seed: the swarm configuration (how many clients,
//! how much work, latencies, server limits, faults) and the random choices a client makes.
//!
//! Like TigerBeetle's VOPR swarm testing, the configuration itself is random, so different
//! seeds exercise different corners (tiny `max_pending`, frequent PINGs, no faults at all).

use std::time::Duration;

use natsd_core::rng::Rng;

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
}

/// The swarm configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The seed everything else descends from.
    pub seed: u64,
    /// Simulated clients (3..=8).
    pub clients: usize,
    /// Workload actions across all clients (50..=300); reactions (PONG, replies) are extra.
    pub ops: usize,
    /// Mean think time between one client's actions, in nanoseconds.
    pub think_ns: u64,
    /// One-way latency range of a link, in nanoseconds: base is drawn per link.
    pub latency_ns: u64,
    /// Jitter added to each chunk's delivery, in nanoseconds.
    pub jitter_ns: u64,
    /// The server's keep-alive interval.
    pub ping_interval: Duration,
    /// The server's `ping_max` (unanswered PINGs tolerated).
    pub ping_max: u32,
    /// The server's `max_pending`.
    pub max_pending: usize,
    /// Turn the sublist's match cache off (`disable_sublist_cache`).
    pub no_sublist_cache: bool,
    /// Percent chance that a workload action of a client is to disconnect.
    pub close_percent: u64,
    /// Percent chance that a client answers a request it receives.
    pub respond_percent: u64,
    /// One client stops reading for a while (a slow consumer), starting at this time.
    pub stall: Option<Stall>,
    /// A config reload mid-traffic (auth and limits), when set.
    pub reload: Option<ReloadPlan>,
    /// A planted harness bug, for the oracle self-tests.
    pub sabotage: Option<Sabotage>,
    /// Upper bound on processed events; beyond it the run fails with `NoLiveness`.
    pub max_events: u64,
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
    /// For how long.
    pub for_ns: u64,
}

impl Config {
    /// The configuration for `seed`: pure function of the seed.
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
        Config {
            seed,
            clients,
            ops,
            think_ns,
            latency_ns: 5_000 + r.below(500_000),
            jitter_ns: 1 + r.below(100_000),
            ping_interval,
            ping_max: 1 + r.below(3) as u32,
            max_pending,
            no_sublist_cache: r.below(2) == 0,
            close_percent: if r.below(3) == 0 { 1 + r.below(3) } else { 0 },
            respond_percent: r.below(101),
            stall,
            reload: None,
            sabotage: None,
            max_events: 2_000_000,
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
        self
    }

    /// The same run without faults (no disconnects, no stall, roomy `max_pending`), so every
    /// owed delivery must arrive.
    pub fn without_faults(mut self) -> Config {
        self.close_percent = 0;
        self.stall = None;
        self.max_pending = 64 * 1024 * 1024;
        self
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
    /// Close the socket.
    Close,
}

/// Draws the next action kind; `close_percent` is the chance of disconnecting.
pub fn next_action(r: &mut Rng, close_percent: u64) -> ActionKind {
    if r.below(100) < close_percent {
        return ActionKind::Close;
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
