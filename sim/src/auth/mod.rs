//! The `auth` variant (issue 15): connections authenticate through an asynchronous
//! provider with random latency, timeouts and failures, driven through the real core.
//!
//! One node; every client connection is driven as a runtime drives it: bytes through
//! `Connection::handle_read_paced`, then `poll_auth_request()` after every read. A request
//! is not decided at once: it goes to a simulated provider, whose answer arrives after a
//! latency drawn from the seed (sometimes past the auth timeout, sometimes never: a silent
//! provider), and is an accept, a reject or a failure. Meanwhile the driver offers that
//! connection nothing (the core's contract): the client keeps writing (its pipelined SUB,
//! PUBs and PING wait in the socket model), and timers keep running (`poll_timeout` /
//! `handle_timeout`), so the auth timeout closes a connection whose decision is late.
//!
//! - **Modes**, drawn per seed: `Users` (the options list users with bcrypt passwords: every
//!   CONNECT naming one is slow, so it becomes a request, and the provider answers with the
//!   core's own check, [`AuthRequest::decide`](natsd_core::conn::AuthRequest::decide); an
//!   unknown user or no credentials are refused inline) and `Callout` (an `auth_callout` is
//!   configured: every client but the `auth_users` becomes a callout request, and the
//!   provider answers from its own directory with `AuthDecision::accept(Authorized{..})`,
//!   placing the client in the account it chooses, sometimes with publish permissions; the
//!   `auth_users`, bcrypt users of the options, still go through `decide()`).
//! - **The runtime's part** (the sim's driver): at most [`MAX_IN_FLIGHT`] requests wait for
//!   the provider at once; more are refused at once (`reject_because`, as the core's
//!   callout does past `callout::MAX_IN_FLIGHT`). Each wait ends at the answer or after the
//!   auth timeout (the callout's `Pending::timeout`): then the driver hands the connection a
//!   refusal, and the slot is free. A late answer is still handed to the connection (a
//!   worst-case runtime, so the core's "a decision on a closed connection is ignored" is
//!   exercised every time).
//! - **Phases**: the safety phase (clients arrive, some in a storm that overflows the bound;
//!   the provider is slow, late, silent or failing as the seed says), then the **heal**: the
//!   provider answers every request made from then on within [`PROMPT_NS`]; after one auth
//!   timeout (every older wait is over) the heal clients arrive: one witness subscriber per
//!   account, then a few more clients, good and bad.
//! - **Clients** pipeline CONNECT, their SUB, their first messages and a PING in one write,
//!   then publish the rest at intervals whether let in or not. Some safety-phase clients are
//!   impatient: without their PONG after a while they close the socket (which a runtime
//!   waiting for a decision only notices once it reads again). Half the seeds offer
//!   everything that arrived in one `handle_read_paced` (as the runtimes do), the others
//!   one op at a time.
//!
//! The oracles are in `check.rs`; the driver in `world.rs`.

mod check;
pub mod world;

use natsd_core::rng::Rng;

pub use check::AuthStats;
pub use world::AuthWorld;

use crate::workload::Config;

/// Requests waiting for the provider at once; past it the driver refuses at once.
pub const MAX_IN_FLIGHT: usize = 8;
/// The good password.
pub const GOOD: &str = "good";
/// Its bcrypt hash, cost 4 (what the options list for every configured user).
pub const GOOD_HASH: &str = "$2b$04$Y4JFq1wC8pJ7qUSF02qpW.s6but05pYH5aYVEADjif7Br8e2XaDeS";
/// A wrong password.
pub const BAD: &str = "bad";
/// After the heal, the provider answers within this (world ns).
pub const PROMPT_NS: u64 = 2_000_000;
/// The accounts clients are placed in.
pub const ACCOUNTS: [&str; 2] = ["A", "B"];
/// Subjects publishers publish on.
pub const SUBJECTS: [&str; 3] = ["auth.a", "auth.b", "auth.c"];
/// What a restricted client (the provider's choice) may publish to.
pub const RESTRICTED: [&str; 2] = ["auth.a", "auth.b"];
/// Subscription patterns.
const PATTERNS: [&str; 5] = ["auth.>", "auth.*", "auth.a", "auth.c", ">"];

/// Who the options let in, and who decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Users with bcrypt passwords in the options; the provider runs `AuthRequest::decide`.
    Users,
    /// An auth callout: the provider decides from its own directory (the options' bcrypt
    /// users are its `auth_users`, still decided by `decide()`).
    Callout,
}

/// What a client presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creds {
    /// A known user, the right password.
    Good,
    /// A known user, a wrong password.
    WrongPassword,
    /// A user nobody knows.
    UnknownUser,
    /// No credentials at all.
    Nothing,
}

/// Who decides a client's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// The options' users (`AuthRequest::decide`, a real bcrypt check).
    Options,
    /// The provider's directory (`AuthDecision::accept(Authorized{..})` or a reject).
    Provider,
    /// The core itself, inline (no request: credentials it decides cheaply, i.e. an
    /// unknown user or none in `Users` mode).
    Inline,
}

/// One client of the run.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// When it opens its connection (world ns).
    pub arrive_ns: u64,
    /// What it presents.
    pub creds: Creds,
    /// Who decides it.
    pub decider: Decider,
    /// The account a good client belongs in (the options' or the provider's choice).
    pub account: &'static str,
    /// The provider lets it publish only to [`RESTRICTED`].
    pub restricted: bool,
    /// Its subscription, pipelined after CONNECT.
    pub sub: Option<&'static str>,
    /// Messages it publishes in all.
    pub pubs: u64,
    /// Of which pipelined right after CONNECT (in the same bytes).
    pub pipelined: u64,
    /// Then one every so often (world ns), accepted or not.
    pub every_ns: u64,
    /// Arrives after the heal (the liveness clients).
    pub heal: bool,
    /// The heal phase's subscriber to `>` in its account.
    pub witness: bool,
    /// An impatient client (safety phase): it closes its socket if its PING is not
    /// answered this long after it connected.
    pub patience_ns: Option<u64>,
    /// CONNECT asks for `verbose` (`+OK` after each op, the first after the accept).
    pub verbose: bool,
}

impl ClientPlan {
    /// The user name it presents (`None`: no credentials).
    pub fn user(&self, id: usize) -> Option<String> {
        match (self.creds, self.decider) {
            (Creds::Nothing, _) => None,
            (Creds::UnknownUser, _) => Some(format!("x{id}")),
            (_, Decider::Provider) => Some(format!("c{id}")),
            _ => Some(format!("u{id}")),
        }
    }

    /// The password it presents.
    pub fn password(&self) -> Option<&'static str> {
        match self.creds {
            Creds::Nothing => None,
            Creds::Good => Some(GOOD),
            _ => Some(BAD),
        }
    }
}

/// One `auth` run, drawn from the seed.
#[derive(Debug, Clone)]
pub struct AuthPlan {
    /// Who decides.
    pub mode: Mode,
    /// The auth timeout (world ns).
    pub timeout_ns: u64,
    /// Every client, safety phase first, in order of arrival within each phase.
    pub clients: Vec<ClientPlan>,
    /// The heal: the provider answers promptly every request from then on.
    pub heal_ns: u64,
    /// A storm: 9..=16 clients within a few milliseconds (overflows the bound).
    pub storm: bool,
    /// Percent of safety-phase requests the provider never answers.
    pub silent_pct: u64,
    /// Percent it answers with a failure (the client is refused).
    pub fail_pct: u64,
    /// Percent of its answers that come after one to two auth timeouts.
    pub late_pct: u64,
    /// Percent of the other answers that take up to a whole auth timeout (else up to a
    /// quarter of it).
    pub slow_pct: u64,
    /// Percent of answers followed by a second, contradicting one (a provider that
    /// retried); the driver hands it over too, and it must change nothing.
    pub dup_pct: u64,
    /// One-way link latency bound (ns).
    pub latency_ns: u64,
    /// Link jitter bound (ns).
    pub jitter_ns: u64,
    /// The driver offers everything that arrived at once (as the runtimes do: the core stops
    /// right after a CONNECT that waits), else one op at a time.
    pub whole_reads: bool,
}

impl AuthPlan {
    /// The plan of `seed` (its own stream).
    pub fn draw(seed: u64) -> AuthPlan {
        let mut r = Rng::fork(seed, 0xA07B_0000);
        let mode = if r.below(2) == 0 {
            Mode::Users
        } else {
            Mode::Callout
        };
        let timeout_ns = 100_000_000 + r.below(900_000_001);
        let pct = |r: &mut Rng, choices: &[u64]| choices[r.below(choices.len() as u64) as usize];
        let silent_pct = pct(&mut r, &[0, 5, 10, 20]);
        let fail_pct = pct(&mut r, &[0, 5, 15]);
        let late_pct = pct(&mut r, &[0, 10, 25]);
        let slow_pct = pct(&mut r, &[10, 30, 60]);
        let dup_pct = pct(&mut r, &[0, 5, 15]);
        let storm = r.below(2) == 0;
        let whole_reads = r.below(2) == 0;
        let spread_ns = 500_000_000 + r.below(1_500_000_001);
        let mut clients = Vec::new();
        let safety = 8 + r.below(17) as usize;
        for _ in 0..safety {
            let at = r.below(spread_ns);
            let mut c = draw_client(&mut r, mode, at, false);
            if r.below(5) == 0 {
                c.patience_ns = Some(timeout_ns / 4 + r.below(timeout_ns * 2));
            }
            clients.push(c);
        }
        if storm {
            let at = r.below(spread_ns);
            for _ in 0..9 + r.below(8) {
                let dt = r.below(5_000_000);
                let c = draw_client(&mut r, mode, at + dt, false);
                clients.push(c);
            }
        }
        clients.sort_by_key(|c| c.arrive_ns);
        let heal_ns = spread_ns + r.below(timeout_ns);
        // Every wait of the safety phase is over one auth timeout after the heal (a request
        // made just before it, plus the link): the witnesses, then the others.
        let witness_at = heal_ns + timeout_ns + 20_000_000;
        for account in ACCOUNTS {
            let dt = r.below(5_000_000);
            let mut w = draw_client(&mut r, mode, witness_at + dt, true);
            w.creds = Creds::Good;
            if w.decider == Decider::Inline {
                w.decider = Decider::Options;
            }
            w.account = account;
            w.restricted = false;
            w.sub = Some(">");
            w.pubs = 0;
            w.pipelined = 0;
            w.witness = true;
            clients.push(w);
        }
        // At most MAX_IN_FLIGHT - 1 heal clients in all: the bound never refuses one. In half
        // the seeds the others come in a burst (within a millisecond: their requests wait
        // together).
        let burst = r.below(2) == 0;
        let others_at = witness_at + 50_000_000 + r.below(200_000_000);
        let mut heal: Vec<ClientPlan> = (0..2 + r.below(4))
            .map(|_| {
                let at = others_at
                    + if burst {
                        r.below(1_000_000)
                    } else {
                        r.below(500_000_000)
                    };
                let mut c = draw_client(&mut r, mode, at, true);
                if c.pubs == 0 && c.sub.is_none() {
                    c.pubs = 1;
                    c.pipelined = 1;
                }
                c
            })
            .collect();
        heal.sort_by_key(|c| c.arrive_ns);
        clients.extend(heal);
        AuthPlan {
            mode,
            timeout_ns,
            clients,
            heal_ns,
            storm,
            silent_pct,
            fail_pct,
            late_pct,
            slow_pct,
            dup_pct,
            latency_ns: 20_000 + r.below(500_000),
            jitter_ns: 1 + r.below(200_000),
            whole_reads,
        }
    }
}

fn draw_client(r: &mut Rng, mode: Mode, arrive_ns: u64, heal: bool) -> ClientPlan {
    let creds = match r.below(20) {
        0..=13 => Creds::Good,
        14..=16 => Creds::WrongPassword,
        17..=18 => Creds::UnknownUser,
        _ => Creds::Nothing,
    };
    let decider = match (mode, creds) {
        (Mode::Users, Creds::UnknownUser | Creds::Nothing) => Decider::Inline,
        (Mode::Users, _) => Decider::Options,
        // The options' users are the callout's `auth_users`: a third of the known ones.
        (Mode::Callout, Creds::Good | Creds::WrongPassword) if r.below(3) == 0 => Decider::Options,
        (Mode::Callout, _) => Decider::Provider,
    };
    let account = ACCOUNTS[r.below(2) as usize];
    let restricted = decider == Decider::Provider && r.below(3) == 0;
    let (sub, pubs) = match r.below(3) {
        0 => (Some(PATTERNS[r.below(PATTERNS.len() as u64) as usize]), 0),
        1 => (None, 1 + r.below(8)),
        _ => (
            Some(PATTERNS[r.below(PATTERNS.len() as u64) as usize]),
            1 + r.below(4),
        ),
    };
    let pipelined = if pubs == 0 { 0 } else { 1 + r.below(pubs) };
    ClientPlan {
        arrive_ns,
        creds,
        decider,
        account,
        restricted,
        sub,
        pubs,
        pipelined,
        every_ns: 1_000_000 + r.below(60_000_000),
        heal,
        witness: false,
        patience_ns: None,
        verbose: r.below(4) == 0,
    }
}

/// The `auth` variant's configuration of `seed`: the plain shape (for the report) plus
/// the plan.
pub fn config(seed: u64) -> Config {
    let mut c = Config::from_seed(seed);
    c.variant = crate::Variant::Auth;
    c.auth = Some(AuthPlan::draw(seed));
    c
}

/// One `auth` run: what it did.
#[derive(Debug, Clone)]
pub struct AuthRun {
    /// For batches (its `stats.auth` holds the counts below).
    pub outcome: crate::Outcome,
    /// What the provider, the driver and the oracles saw.
    pub stats: AuthStats,
}

/// Runs `cfg` (an `auth` config) and checks every oracle (see `check.rs`).
pub fn run(cfg: &Config) -> Result<AuthRun, crate::Failure> {
    let plan = cfg.auth.as_ref().expect("an auth config");
    let mut w = AuthWorld::new(cfg.seed, plan, cfg.sabotage);
    match w.run(cfg.max_events) {
        Ok(report) => {
            let mut stats = crate::Stats::default();
            stats.auth = report.stats.clone();
            let outcome = crate::Outcome {
                seed: cfg.seed,
                variant: cfg.variant,
                nodes: 1,
                trace_hash: report.trace_hash,
                events: report.events,
                published: report.stats.processed as usize,
                deliveries: report.stats.deliveries,
                closed: report.closed,
                stats,
                sim_ns: report.sim_ns,
            };
            Ok(AuthRun {
                outcome,
                stats: report.stats,
            })
        }
        Err(violation) => Err(crate::Failure {
            variant: cfg.variant,
            seed: cfg.seed,
            at_ns: w.now(),
            violation,
            recent: w.recent(),
        }),
    }
}
