//! The `rate` variant (issue 16): publish rate limits under flow control.
//!
//! One node, two tenants drawn from the seed, every connection driven as a runtime drives
//! it *with flow control*: bytes are offered through `Connection::handle_read_paced`, and
//! after every call the driver asks `poll_read_pause`; while paused it offers the node
//! nothing (bytes that arrive meanwhile wait in the socket's receive buffer, which counts
//! against the sender's window, so TCP slows the publisher), and at the pause's end it first
//! re-offers the bytes not consumed, then reads on (see `world.rs`).
//!
//! - The **flooder** tenant (account `F`: 1..=2 publishing connections, 1..=3 subscribers)
//!   has a `publish_rate` (backpressure in 3 seeds of 4, drop in the others) set on its
//!   users, on its account (one budget shared by its connections), or as the top-level
//!   default (then the other tenant's users carry their own, generous limit, which wins), and
//!   offers 3..=6 times its limit.
//! - The **calm** tenant (account `W`: 1..=2 publishers at 5..=50 msgs/s, 1..=2
//!   subscribers) publishes far below any limit it has, on the same subjects.
//! - Mid-traffic, the flooder's limit is **reloaded** to another rate
//!   (`Shared::apply_reload`, then `Connection::handle_config_change` on every connection).
//!
//! The oracles and their bounds are in `check.rs`; each run also runs the same seed
//! *without* the flooder to compare the calm tenant's latencies.

mod check;
pub mod world;

use std::time::Duration;

use natsd_core::options::{RateAction, RateLimit};
use natsd_core::rng::Rng;

pub use check::{Bounds, Measured, CALM_SLACK_NS, LOWER_SLACK_MSGS, RATE_TOLERANCE};
pub use world::{RateReport, RateWorld};

use crate::workload::Config;

/// Where the flooder's limit is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// On each flooder user: one budget per connection.
    User,
    /// On account `F`: one budget shared by all its connections.
    Account,
    /// At the top level (the default per connection); the calm tenant's users and the
    /// subscribers carry their own limit, which wins over it.
    Default,
}

/// The tenants and limits of one `rate` run, drawn from the seed.
#[derive(Debug, Clone)]
pub struct RatePlan {
    /// Backpressure (3 in 4) or drop.
    pub action: RateAction,
    /// Where the flooder's limit lives.
    pub scope: Scope,
    /// The flooder's limit before the reload, and after.
    pub before: RateLimit,
    /// After the reload.
    pub after: RateLimit,
    /// Publishing flooder connections (1..=2).
    pub flooders: usize,
    /// How many times its limit (the larger of before and after) the flooder tenant offers
    /// (3..=6).
    pub overload: u64,
    /// Subscribers in the flooder's account (1..=3; the first, the meter, takes `flood.>`).
    pub flood_subs: Vec<&'static str>,
    /// The calm tenant's publishers' mean rates, msgs/s (5..=50 each).
    pub calm_rates: Vec<u64>,
    /// Subscribers in the calm tenant's account (1..=2).
    pub calm_subs: Vec<&'static str>,
    /// The calm tenant's own limit (on its users), if any: generous (10x what it sends).
    pub calm_limit: Option<RateLimit>,
    /// Payload bytes of every flooder message (fixed, so a bytes limit is a message rate).
    pub flood_size: usize,
    /// A bytes limit joins the message limit (1 seed in 4), binding about as tightly.
    pub bytes_limit: bool,
    /// Publishing starts (world time, ns), once every connection is set up.
    pub start_ns: u64,
    /// Publishing stops.
    pub end_ns: u64,
    /// The reload of the flooder's limit.
    pub reload_ns: u64,
    /// Bytes a flooder may have unread by the node (in flight plus the node's socket
    /// buffer) before its writes block: TCP's window.
    pub window: usize,
    /// One-way link latency bound and jitter bound, ns.
    pub latency_ns: u64,
    /// Jitter bound, ns.
    pub jitter_ns: u64,
}

/// Subjects both tenants publish on (the same ones: accounts keep them apart).
pub const SUBJECTS: [&str; 3] = ["flood.a", "flood.b", "calm.x"];
/// Subscription patterns drawn for subscribers after the meter.
const PATTERNS: [&str; 6] = ["flood.>", "flood.*", ">", "flood.a", "*.b", "calm.*"];

/// When publishing starts: every connection must have its subscriptions in place by then
/// (CONNECT, SUBs and a PING answered), and it must be the same with and without the
/// flooder so that the calm tenant's links see the same bytes at the same times.
const START_NS: u64 = 200_000_000;

fn limit(
    rate: u64,
    burst: Option<u64>,
    bytes: Option<(u64, Option<u64>)>,
    a: RateAction,
) -> RateLimit {
    RateLimit {
        msgs: Some(rate),
        burst_msgs: burst,
        bytes: bytes.map(|b| b.0),
        burst_bytes: bytes.and_then(|b| b.1),
        action: a,
    }
}

impl RatePlan {
    /// The plan of `seed` (its own stream).
    pub fn draw(seed: u64) -> RatePlan {
        let mut r = Rng::fork(seed, 0x2A7E_0000);
        let action = if r.below(4) == 0 {
            RateAction::Drop
        } else {
            RateAction::Backpressure
        };
        let scope = match r.below(3) {
            0 => Scope::User,
            1 => Scope::Account,
            _ => Scope::Default,
        };
        let flood_size = 8 + r.below(120) as usize;
        let bytes_limit = r.below(4) == 0;
        let draw_limit = |r: &mut Rng| {
            let rate = 50 + r.below(551);
            // A burst of one second's worth (the default) or a tenth to a half of it; never
            // below 5 messages, so the drop mode's bucket outlasts the gaps between chunks.
            let burst = (r.below(2) == 0).then(|| (rate / 10 + r.below(rate * 2 / 5 + 1)).max(5));
            let bytes = bytes_limit.then(|| {
                // 0.8..=1.2 times the message rate, in bytes: either limit may bind.
                let per = flood_size as u64 * (8 + r.below(5)) / 10;
                (rate * per.max(1), burst.map(|b| b * per.max(1)))
            });
            limit(rate, burst, bytes, action)
        };
        let before = draw_limit(&mut r);
        let after = draw_limit(&mut r);
        let flooders = 1 + r.below(2) as usize;
        let overload = 3 + r.below(4);
        let nsubs = 1 + r.below(3) as usize;
        let mut flood_subs = vec!["flood.>"];
        for _ in 1..nsubs {
            flood_subs.push(PATTERNS[r.below(PATTERNS.len() as u64) as usize]);
        }
        let calm_rates = (0..1 + r.below(2))
            .map(|_| 5 + r.below(46))
            .collect::<Vec<_>>();
        let calm_subs = (0..1 + r.below(2))
            .map(|i| {
                if i == 0 {
                    ">"
                } else {
                    PATTERNS[r.below(PATTERNS.len() as u64) as usize]
                }
            })
            .collect();
        let total: u64 = calm_rates.iter().sum();
        // Generous: 10 times what the whole tenant sends, a burst of one second's worth.
        let calm_limit = (scope == Scope::Default || r.below(2) == 0)
            .then(|| limit(total * 10, None, None, action));
        let run_ns = 1_000_000_000 + r.below(1_000_000_001);
        let reload_ns = START_NS + run_ns * (3 + r.below(5)) / 10;
        RatePlan {
            action,
            scope,
            before,
            after,
            flooders,
            overload,
            flood_subs,
            calm_rates,
            calm_subs,
            calm_limit,
            flood_size,
            bytes_limit,
            start_ns: START_NS,
            end_ns: START_NS + run_ns,
            reload_ns,
            window: 2048 + r.below(14 * 1024) as usize,
            latency_ns: 5_000 + r.below(300_000),
            jitter_ns: 1 + r.below(100_000),
        }
    }

    /// Messages per second `l` lets through for the flooder's messages (the tighter of its
    /// message and byte limits), and its burst in messages.
    pub fn effective(&self, l: &RateLimit) -> (f64, f64) {
        let size = self.flood_size as f64;
        let mut rate = l.msgs.unwrap_or(u64::MAX) as f64;
        let mut burst = l.burst_msgs.or(l.msgs).unwrap_or(u64::MAX).max(1) as f64;
        if let Some(b) = l.bytes {
            rate = rate.min(b as f64 / size);
            let bb = l.burst_bytes.unwrap_or(b).max(1) as f64;
            burst = burst.min(bb / size);
        }
        (rate, burst)
    }

    /// What each flooder connection offers, msgs/s: `overload` times the larger of its
    /// limits (its share of an account's).
    pub fn offered_per_conn(&self) -> f64 {
        let (r0, _) = self.effective(&self.before);
        let (r1, _) = self.effective(&self.after);
        let per_conn = if self.scope == Scope::Account {
            r0.max(r1) / self.flooders as f64
        } else {
            r0.max(r1)
        };
        per_conn * self.overload as f64
    }

    /// How long the run publishes.
    pub fn run_time(&self) -> Duration {
        Duration::from_nanos(self.end_ns - self.start_ns)
    }
}

/// The `rate` variant's configuration for `seed`: the plain shape (for the report) plus
/// the plan.
pub fn config(seed: u64) -> Config {
    let mut c = Config::from_seed(seed);
    c.variant = crate::Variant::Rate;
    c.rate = Some(RatePlan::draw(seed));
    c
}

/// One `rate` run: what it measured, and the outcome batches sum.
#[derive(Debug, Clone)]
pub struct RateRun {
    /// For batches.
    pub outcome: crate::Outcome,
    /// The run with the flooder.
    pub report: RateReport,
    /// (d): the worst extra latency of a calm message with the flooder, ns.
    pub calm_extra_ns: u64,
    /// The worst calm latency with the flooder, ns.
    pub calm_max_ns: u64,
    /// Calm deliveries compared.
    pub calm_deliveries: usize,
}

/// Runs `cfg` (a `rate` config) twice, without the flooder and with it, and checks every
/// oracle (see `check.rs`).
pub fn run(cfg: &Config) -> Result<RateRun, crate::Failure> {
    let plan = cfg.rate.as_ref().expect("a rate config");
    let fail = |at_ns, violation, recent| crate::Failure {
        variant: cfg.variant,
        seed: cfg.seed,
        at_ns,
        violation,
        recent,
    };
    let mut calm = world::RateWorld::new(cfg.seed, plan, false, cfg.sabotage);
    let base = calm
        .run(cfg.max_events)
        .map_err(|v| fail(calm.now(), v, calm.recent()))?;
    let mut w = world::RateWorld::new(cfg.seed, plan, true, cfg.sabotage);
    let report = w
        .run(cfg.max_events)
        .map_err(|v| fail(w.now(), v, w.recent()))?;
    // (d) The calm tenant's messages, one by one, against the run without the flooder.
    let mut extra = 0u64;
    let mut worst = 0u64;
    for (k, &l) in &report.calm_latency {
        let Some(&l0) = base.calm_latency.get(k) else {
            let msg = format!("calm delivery {k:?} only happens with the flooder");
            let v = crate::Violation::new(crate::ViolationKind::Starved, msg);
            return Err(fail(w.now(), v, w.recent()));
        };
        worst = worst.max(l);
        extra = extra.max(l.saturating_sub(l0));
        if l > l0 + check::CALM_SLACK_NS {
            let msg = format!(
                "calm delivery (sub, publisher, seq) {k:?} took {:.3} ms with the flooder, \
                 {:.3} ms without (bound: +{:.3} ms)",
                l as f64 / 1e6,
                l0 as f64 / 1e6,
                check::CALM_SLACK_NS as f64 / 1e6
            );
            let v = crate::Violation::new(crate::ViolationKind::Starved, msg);
            return Err(fail(w.now(), v, w.recent()));
        }
    }
    if report.calm_latency.len() != base.calm_latency.len() {
        let msg = format!(
            "{} calm deliveries with the flooder, {} without",
            report.calm_latency.len(),
            base.calm_latency.len()
        );
        let v = crate::Violation::new(crate::ViolationKind::Starved, msg);
        return Err(fail(w.now(), v, w.recent()));
    }
    let outcome = crate::Outcome {
        seed: cfg.seed,
        variant: cfg.variant,
        nodes: 1,
        trace_hash: report.trace_hash ^ base.trace_hash.rotate_left(1),
        events: report.events + base.events,
        published: report.flood_written as usize,
        deliveries: report.deliveries + base.deliveries,
        closed: 0,
        stats: crate::Stats::default(),
        sim_ns: report.sim_ns,
    };
    Ok(RateRun {
        outcome,
        calm_extra_ns: extra,
        calm_max_ns: worst,
        calm_deliveries: report.calm_latency.len(),
        report,
    })
}
