//! The `rate` variant's oracles and their stated bounds.
//!
//! (a) **Nothing lost, nothing twice, in order** (every mode): the node must process each
//!     publisher's messages in the order written, with no gap (TCP loses nothing, and
//!     backpressure only delays); each subscriber gets, per publisher, exactly the sequence
//!     of admitted messages of its account whose subject its pattern matches: checked at
//!     every arrival (the next owed one, nothing else) and at the end (nothing still owed).
//! (b) **Drops are all-or-nothing and counted**: the driver offers the node one op at a
//!     time and reads `Shared::rate_counters(account, user).dropped` around each `PUB`; a
//!     message whose count moved is owed to nobody (an arrival of it is a violation), any
//!     other is owed to every matching subscriber. In backpressure mode nothing may be
//!     dropped; at the end the counters equal the drops seen.
//! (c) **The flooder's delivered rate is its limit**, in simulated time, per phase (before
//!     and after the reload), `R` the tenant's rate (per connection limits add up), `B` its
//!     burst, `D` the debt backpressure may run into (one message per connection, it pays
//!     it in a pause) plus one for rounding:
//!     - strict token-bucket conformance: in every window `[t_i, t_j]` of admissions,
//!       `j - i + 1 <= B + D + R * (t_j - t_i)`;
//!     - over the phase: `0.9 * min(B + R * T, O * T) - 2 <= N <= B + D + 1.1 * R * T`
//!       (±10% plus the burst; `O` what it offers, 3..=6 times its limit, so it is always
//!       backlogged: its bucket, full at the start, is used up and then refilled at `R`).
//!     Admission is the node time its `PUB` was processed; (a) proves each admitted message
//!     reached the meter subscriber (`flood.>`).
//! (d) **The calm tenant is not slowed**: the same seed runs again without the flooder;
//!     each calm message's latency (written by its client to parsed by a subscriber, in
//!     simulated time) may exceed that run's by at most [`CALM_SLACK_NS`].
//! (e) **A reload takes effect within one refill period**: from the reload on, the new
//!     limit's conformance (c) holds (its bucket starts full; a reload that leaves the
//!     limit as it was keeps the old bucket, so no new burst: `B` drops out of both
//!     phase bounds), and by the end the phase's
//!     admissions reach its lower bound (with the new burst) computed from `reload + P`,
//!     `P` = the refill period: the pause the old limit may still have granted (one message
//!     per connection at the old rate).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use natsd_core::options::RateAction;

use super::{RatePlan, Scope};
use crate::oracle::{Violation, ViolationKind};

/// (d): how much later a calm message may arrive with the flooder than without it.
pub const CALM_SLACK_NS: u64 = 1_000_000;
/// (c): the relative tolerance of the rate over a phase.
pub const RATE_TOLERANCE: f64 = 0.10;
/// (c): absolute slack of the lower bound, messages (rounding at the phase's edges).
pub const LOWER_SLACK_MSGS: f64 = 2.0;

/// One message as the book knows it.
#[derive(Debug, Clone)]
struct Msg {
    written_at: u64,
    account: &'static str,
    subject: String,
    dropped: bool,
    calm: bool,
}

/// A subscriber: its id, account and pattern.
#[derive(Debug, Clone, Copy)]
pub struct SubSpec {
    /// Session id.
    pub id: usize,
    /// Its account.
    pub account: &'static str,
    /// Its subscription.
    pub pattern: &'static str,
}

/// Everything written, processed and delivered, for (a), (b), (d), and the flooder's
/// admissions for (c) and (e).
#[derive(Debug, Default)]
pub struct Book {
    subs: Vec<SubSpec>,
    msgs: BTreeMap<(usize, u64), Msg>,
    /// Per publisher: the sequence the node must process next.
    next: BTreeMap<usize, u64>,
    /// Per publisher: the last sequence written.
    written: BTreeMap<usize, u64>,
    /// Per (subscriber, publisher): what is owed, in order.
    owed: BTreeMap<(usize, usize), VecDeque<u64>>,
    /// Flooder admissions (world ns), before the reload and after.
    pub admissions: [Vec<u64>; 2],
    /// Drops seen (counter moves around one `PUB`), per publisher.
    pub dropped: BTreeMap<usize, u64>,
    /// Calm latencies: (subscriber, publisher, seq) → ns.
    pub calm_latency: BTreeMap<(usize, usize, u64), u64>,
    /// Deliveries checked.
    pub deliveries: u64,
}

/// The `(publisher, seq)` a payload carries (`P<pub>.<seq>.`).
pub fn parse_payload(p: &[u8]) -> Option<(usize, u64)> {
    let s = std::str::from_utf8(p.strip_prefix(b"P")?).ok()?;
    let mut it = s.splitn(3, '.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn v(kind: ViolationKind, msg: String) -> Violation {
    Violation::new(kind, msg)
}

impl Book {
    /// A book for these subscribers.
    pub fn new(subs: Vec<SubSpec>) -> Book {
        Book {
            subs,
            ..Book::default()
        }
    }

    /// A publisher wrote message `seq`.
    pub fn on_written(
        &mut self,
        publisher: usize,
        seq: u64,
        account: &'static str,
        subject: &str,
        calm: bool,
        now: u64,
    ) {
        self.written.insert(publisher, seq);
        let m = Msg {
            written_at: now,
            account,
            subject: subject.to_string(),
            dropped: false,
            calm,
        };
        self.msgs.insert((publisher, seq), m);
    }

    /// The node processed a `PUB` of connection `conn` on `subject` with `payload`;
    /// `dropped`: the drop counter moved. Records what is owed to whom.
    #[allow(clippy::too_many_arguments)]
    pub fn on_processed(
        &mut self,
        conn: usize,
        subject: &[u8],
        payload: &[u8],
        dropped: u64,
        action: RateAction,
        flood_phase: Option<usize>,
        now: u64,
    ) -> Result<(), Violation> {
        let Some((p, seq)) = parse_payload(payload) else {
            return Err(v(
                ViolationKind::Corrupt,
                format!("conn {conn}: a PUB the harness did not write"),
            ));
        };
        let want = self.next.entry(conn).or_insert(1);
        if p != conn || seq != *want {
            return Err(v(
                ViolationKind::Missing,
                format!(
                    "conn {conn}: the node processed P{p}.{seq} where P{conn}.{want} was next \
                     (lost or reordered between the client and the node)"
                ),
            ));
        }
        *want += 1;
        let msg = self
            .msgs
            .get_mut(&(p, seq))
            .expect("written before processed");
        if msg.subject.as_bytes() != subject {
            return Err(v(
                ViolationKind::Corrupt,
                format!("P{p}.{seq} processed on another subject"),
            ));
        }
        match dropped {
            0 => {}
            1 if action == RateAction::Drop && !msg.calm => {
                msg.dropped = true;
                *self.dropped.entry(p).or_default() += 1;
                return Ok(());
            }
            n => {
                return Err(v(
                    ViolationKind::Dropped,
                    format!(
                        "P{p}.{seq}: the drop counter moved by {n} ({action:?} mode, {} publisher)",
                        if msg.calm { "calm" } else { "flooder" }
                    ),
                ))
            }
        }
        if let Some(phase) = flood_phase {
            self.admissions[phase].push(now);
        }
        for s in &self.subs {
            if s.account == msg.account
                && natsd_core::subject::matches(s.pattern.as_bytes(), subject)
            {
                self.owed.entry((s.id, p)).or_default().push_back(seq);
            }
        }
        Ok(())
    }

    /// Subscriber `sub` parsed a delivery.
    pub fn on_delivery(
        &mut self,
        sub: usize,
        subject: &[u8],
        payload: &[u8],
        now: u64,
    ) -> Result<(), Violation> {
        self.deliveries += 1;
        let Some((p, seq)) = parse_payload(payload) else {
            return Err(v(ViolationKind::Corrupt, format!("sub {sub}: bad payload")));
        };
        let Some(msg) = self.msgs.get(&(p, seq)) else {
            return Err(v(
                ViolationKind::Corrupt,
                format!("sub {sub}: P{p}.{seq} never written"),
            ));
        };
        if msg.subject.as_bytes() != subject {
            return Err(v(
                ViolationKind::Corrupt,
                format!("sub {sub}: P{p}.{seq} renamed"),
            ));
        }
        if msg.dropped {
            return Err(v(
                ViolationKind::Dropped,
                format!("sub {sub} got P{p}.{seq}, which the node counted as dropped"),
            ));
        }
        let q = self.owed.entry((sub, p)).or_default();
        match q.front().copied() {
            Some(f) if f == seq => {
                q.pop_front();
            }
            Some(f) if seq > f => {
                return Err(v(
                    ViolationKind::Missing,
                    format!("sub {sub} got P{p}.{seq} but P{p}.{f} was owed first (lost)"),
                ))
            }
            Some(f) => {
                return Err(v(
                    ViolationKind::Duplicate,
                    format!("sub {sub} got P{p}.{seq} again or out of order (P{p}.{f} next)"),
                ))
            }
            None => {
                return Err(v(
                    ViolationKind::Unexpected,
                    format!("sub {sub} got P{p}.{seq}, owed nothing of P{p}"),
                ))
            }
        }
        if msg.calm {
            self.calm_latency
                .insert((sub, p, seq), now - msg.written_at);
        }
        Ok(())
    }

    /// At the end: everything written was processed, everything owed arrived.
    pub fn finish(&self) -> Result<(), Violation> {
        for (&p, &w) in &self.written {
            let next = self.next.get(&p).copied().unwrap_or(1);
            if next != w + 1 {
                let msg = format!("P{p}: {w} written, the node processed {}", next - 1);
                return Err(v(ViolationKind::Stuck, msg));
            }
        }
        for (&(s, p), q) in &self.owed {
            if let Some(f) = q.front() {
                let msg = format!("sub {s} never got P{p}.{f} ({} owed)", q.len());
                return Err(v(ViolationKind::Missing, msg));
            }
        }
        Ok(())
    }
}

/// The bounds (c) and (e) of one phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// The tenant's rate, msgs/s.
    pub rate: f64,
    /// Its burst, messages.
    pub burst: f64,
    /// Debt slack, messages.
    pub debt: f64,
    /// The phase, ns (its lower bound's part: after the refill period for phase 1).
    pub from_ns: u64,
    /// Where the lower bound's count starts.
    pub lower_from_ns: u64,
    /// The phase's end.
    pub to_ns: u64,
    /// What the flooder tenant offers, msgs/s.
    pub offered: f64,
    /// The phase starts with a full bucket: the run's start, or a reload that changed the
    /// limit (a new bucket). A reload that left it unchanged keeps the old, empty one (the
    /// flooder is backlogged): no new burst, which the bounds then check.
    pub fresh: bool,
}

/// What a phase measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Its bounds.
    pub bounds: Bounds,
    /// Admissions in the phase.
    pub n: usize,
    /// Admissions counted for the lower bound (all of the phase's).
    pub n_lower: usize,
    /// The lower bound.
    pub lower: f64,
    /// The upper bound over the phase.
    pub upper: f64,
    /// The worst window: `max(j - i + 1 - R (t_j - t_i))`, to compare with `B + D`.
    pub worst_window: f64,
}

impl Measured {
    /// Admissions over what the limit owes a backlogged flooder in the phase,
    /// `min(B + R T, O T)` (1.0: exactly the limit).
    pub fn ratio(&self) -> f64 {
        let b = &self.bounds;
        let t = (b.to_ns - b.from_ns) as f64 / 1e9;
        let burst = if b.fresh { b.burst } else { 0.0 };
        self.n as f64 / (burst + b.rate * t).min(b.offered * t)
    }
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.bounds;
        write!(
            f,
            "limit {:.1}/s burst {:.1} debt {:.0}: {} admitted in {:.3} s (bounds {:.1}..={:.1}; \
             owed from the refill period's end >= {:.1}); worst window {:.2} <= {:.2}; N/min(B+RT, OT) {:.3}",
            b.rate,
            b.burst,
            b.debt,
            self.n,
            (b.to_ns - b.from_ns) as f64 / 1e9,
            self.lower,
            self.upper,
            self.lower,
            self.worst_window,
            b.burst + b.debt,
            self.ratio(),
        )
    }
}

impl RatePlan {
    /// The bounds of phase `phase` (0 before the reload, 1 after), for the flooder tenant.
    pub fn bounds(&self, phase: usize) -> Bounds {
        let per_conn = self.scope != Scope::Account;
        let k = if per_conn { self.flooders as f64 } else { 1.0 };
        let l = if phase == 0 {
            &self.before
        } else {
            &self.after
        };
        let (r, b) = self.effective(l);
        let debt = match self.action {
            RateAction::Backpressure => self.flooders as f64 + 1.0,
            _ => 1.0,
        };
        let (from_ns, lower_from_ns, to_ns) = if phase == 0 {
            (self.start_ns, self.start_ns, self.reload_ns)
        } else {
            // The refill period: a pause the old limit granted just before the reload (one
            // message of debt per connection on the shared or own bucket) ends within it.
            let (old_r, _) = self.effective(&self.before);
            let old_conn_rate = if per_conn {
                old_r
            } else {
                old_r / self.flooders as f64
            };
            let p = (self.flooders as f64 / old_conn_rate.max(1e-9) * 1e9) as u64;
            (self.reload_ns, self.reload_ns + p, self.end_ns)
        };
        Bounds {
            fresh: phase == 0 || self.after != self.before,
            offered: self.offered_per_conn() * self.flooders as f64,
            rate: r * k,
            burst: b * k,
            debt,
            from_ns,
            lower_from_ns,
            to_ns,
        }
    }
}

/// (c) and (e) for one phase's admissions (world ns, in order).
pub fn check_phase(b: Bounds, adm: &[u64], phase: usize) -> Result<Measured, Violation> {
    let mut worst = f64::MIN;
    let mut min_prefix = f64::MAX;
    for (j, &t) in adm.iter().enumerate() {
        let x = j as f64 - b.rate * (t as f64 / 1e9);
        min_prefix = min_prefix.min(x - 1.0);
        worst = worst.max(x - min_prefix);
    }
    let inside = adm
        .iter()
        .filter(|&&t| t >= b.from_ns && t < b.to_ns)
        .count();
    // Everything from the phase's start counts (the new burst may go at once), against
    // what is owed from the end of the refill period.
    let n_lower = inside;
    let t = (b.to_ns - b.from_ns) as f64 / 1e9;
    let t_lower = b.to_ns.saturating_sub(b.lower_from_ns) as f64 / 1e9;
    // The bucket starts full (at the start, and after the reload: a changed limit is a new
    // bucket), so a backlogged flooder gets the burst plus the rate, unless it offers less.
    let burst = if b.fresh { b.burst } else { 0.0 };
    let owed = (burst + b.rate * t_lower).min(b.offered * t_lower);
    let lower = (1.0 - RATE_TOLERANCE) * owed - LOWER_SLACK_MSGS;
    let upper = burst + b.debt + (1.0 + RATE_TOLERANCE) * b.rate * t;
    let m = Measured {
        bounds: b,
        n: inside,
        n_lower,
        lower,
        upper,
        worst_window: if adm.is_empty() { 0.0 } else { worst },
    };
    let name = ["before the reload", "after the reload"][phase];
    if m.worst_window > b.burst + b.debt + 1e-6 {
        return Err(Violation::new(
            ViolationKind::Rate,
            format!("{name}: a window let through more than the bucket allows: {m}"),
        ));
    }
    if (inside as f64) > upper {
        return Err(Violation::new(
            ViolationKind::Rate,
            format!("{name}: over the limit: {m}"),
        ));
    }
    if (n_lower as f64) < lower {
        return Err(Violation::new(
            ViolationKind::Rate,
            format!("{name}: under the limit although backlogged: {m}"),
        ));
    }
    Ok(m)
}
