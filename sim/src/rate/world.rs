//! The `rate` variant's world: one node, its connections driven with flow control.
//!
//! The driver's contract (what a runtime does, `natsd_adapter`'s `feed()`): bytes read from
//! a socket are offered with `handle_read_paced`; after each call, `poll_read_pause`. While
//! a connection is paused the node offers it nothing: chunks that arrive meanwhile wait in
//! its receive buffer (`held`), and everything not yet consumed counts against the
//! sender's window, so a flooder's writes block (TCP pushes back). At the pause's end
//! (a `Resume` event at that node time) the driver re-offers the unconsumed bytes, which may
//! pause again, then reads on.
//!
//! To know exactly what the node processed, the driver offers one op at a time: a shadow
//! parser splits the bytes as the node's parser does, and each complete op's bytes are
//! offered alone (the tail of a split op too, so the node's parser holds the same part).
//! Around each `PUB` it reads the publisher's drop counter.
//!
//! Links are simulated as in the main world (ordered byte queues, chunks of random size,
//! latency plus jitter), each with its own random stream, and events at equal times are
//! ordered by (kind, session), so the calm tenant's sessions see the same bytes at the same
//! times with or without the flooder: its latencies compare exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use natsd_core::auth::User;
use natsd_core::client::Notify;
use natsd_core::conn::{ConnEvent, Connection};
use natsd_core::options::{AccountOptions, Options, RateLimit};
use natsd_core::proto::{encode, Limits, Op, Parser};
use natsd_core::rng::Rng;
use natsd_core::shared::Shared;
use natsd_core::Time;

use super::check::{self, Book, Measured, SubSpec};
use super::{RatePlan, Scope, SUBJECTS};
use crate::oracle::{Violation, ViolationKind};
use crate::trace::{Trace, Who};
use crate::workload::{self, Sabotage};

/// Node time = world time + this (the node's clock origin is arbitrary).
const EPOCH_NS: u64 = 1_000_000_000;
/// A flooder writes every millisecond.
const TICK_NS: u64 = 1_000_000;
/// Every user's password.
const PASSWORD: &str = "pw";

/// What a session does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// Subscribes to a pattern and reads.
    Sub(&'static str),
    /// The calm tenant's publisher, at this mean rate (msgs/s).
    Calm(u64),
    /// The flooder tenant's publisher, at this rate (msgs/s).
    Flood(f64),
}

/// Wake-ups from the core's `Notify`.
#[derive(Debug, Default)]
struct Woken(Mutex<Vec<usize>>);

struct Flag {
    woken: AtomicBool,
    id: usize,
    list: Arc<Woken>,
}

impl Notify for Flag {
    fn notify(&self) {
        if !self.woken.swap(true, Ordering::Relaxed) {
            self.list
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.id);
        }
    }
}

struct Sess {
    role: Role,
    account: &'static str,
    user: String,
    conn: Connection,
    flag: Arc<Flag>,
    /// Splits the node-bound bytes as the node's parser does.
    shadow: Parser,
    /// The client's parser of what the node sends.
    client: Parser,
    /// The link's own draws (chunk sizes, jitter).
    link: Rng,
    /// The publisher's own draws (think times, subjects, sizes).
    work: Rng,
    up_latency: u64,
    down_latency: u64,
    jitter: u64,
    /// Client→node bytes in flight.
    up: Vec<u8>,
    up_scheduled: bool,
    /// Arrived at the node, not consumed yet (the socket's receive buffer, and the rest of
    /// a paused read).
    held: Vec<u8>,
    /// Paused until this world time.
    paused: Option<u64>,
    down: Vec<u8>,
    down_scheduled: bool,
    /// The PONG of the setup PING arrived: subscriptions are in place.
    ready: bool,
    connected: bool,
    timer_at: Option<u64>,
    seq: u64,
    /// A flooder's messages owed by its rate, not yet written.
    owed: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Reload,
    Resume(usize),
    ToServer(usize),
    ToClient(usize),
    Publish(usize),
    Timer(usize),
}

impl Ev {
    fn code(self) -> (u8, usize, &'static str) {
        match self {
            Ev::Reload => (1, 0, "reload"),
            Ev::Resume(s) => (2, s, "resume"),
            Ev::ToServer(s) => (3, s, "to_server"),
            Ev::ToClient(s) => (4, s, "to_client"),
            Ev::Publish(s) => (5, s, "publish"),
            Ev::Timer(s) => (6, s, "timer"),
        }
    }
}

/// What one run of the `rate` world measured.
#[derive(Debug, Clone)]
pub struct RateReport {
    /// Events processed.
    pub events: u64,
    /// Deliveries checked.
    pub deliveries: u64,
    /// Simulated ns at the end.
    pub sim_ns: u64,
    /// Hash of the trace.
    pub trace_hash: u64,
    /// (c) and (e) per phase (not measured without the flooder).
    pub phases: Vec<Measured>,
    /// Flooder messages dropped (drop mode).
    pub dropped: u64,
    /// Pauses the driver honoured.
    pub pauses: u64,
    /// Nanoseconds the flooders were throttled (the core's counter).
    pub throttled_ns: u64,
    /// Calm latencies: (subscriber, publisher, seq) → ns.
    pub calm_latency: std::collections::BTreeMap<(usize, usize, u64), u64>,
    /// Messages the flooders wrote.
    pub flood_written: u64,
}

/// The world of one `rate` run.
pub struct RateWorld<'a> {
    plan: &'a RatePlan,
    sabotage: Option<Sabotage>,
    now: u64,
    queue: BinaryHeap<Reverse<(u64, Ev, u64)>>,
    inserted: u64,
    work: usize,
    sh: Arc<Shared>,
    opts: Options,
    sessions: Vec<Sess>,
    woken: Arc<Woken>,
    book: Book,
    /// 0 before the reload, 1 after.
    phase: usize,
    trace: Trace,
    events: u64,
    pauses: u64,
    /// Deliveries seen by subscribers (for [`Sabotage::DropDelivery`]).
    tapped: u64,
    /// With [`Sabotage::GlobalPause`]: every connection waits until then.
    global_pause: u64,
}

fn user(name: &str, account: &str, rate: Option<RateLimit>) -> User {
    User {
        name: name.into(),
        password: PASSWORD.into(),
        account: Some(account.into()),
        permissions: None,
        publish_rate: rate,
        nkey: None,
    }
}

impl<'a> RateWorld<'a> {
    /// The world of `plan` for `seed`, with or without the flooder tenant.
    pub fn new(seed: u64, plan: &'a RatePlan, flood: bool, sabotage: Option<Sabotage>) -> Self {
        // Stable ids: the calm tenant first, so its connections get the same cids (and the
        // same keep-alive jitter) without the flooder.
        let mut roles: Vec<(Role, &'static str)> = Vec::new();
        roles.extend(plan.calm_subs.iter().map(|&p| (Role::Sub(p), "W")));
        roles.extend(plan.calm_rates.iter().map(|&r| (Role::Calm(r), "W")));
        let flood_rate = plan.offered_per_conn();
        let all_roles = {
            let mut a = roles.clone();
            a.extend(plan.flood_subs.iter().map(|&p| (Role::Sub(p), "F")));
            a.extend((0..plan.flooders).map(|_| (Role::Flood(flood_rate), "F")));
            a
        };
        if flood {
            roles = all_roles.clone();
        }
        let opts = options(seed, plan, &all_roles, plan.before);
        let sh = Arc::new(Shared::new(
            opts.clone(),
            "RATE".into(),
            Time::from_nanos(EPOCH_NS),
        ));
        let woken = Arc::new(Woken::default());
        let subs = roles
            .iter()
            .enumerate()
            .filter_map(|(id, &(r, account))| match r {
                Role::Sub(pattern) => Some(SubSpec {
                    id,
                    account,
                    pattern,
                }),
                _ => None,
            })
            .collect();
        let mut w = RateWorld {
            plan,
            sabotage,
            now: 0,
            queue: BinaryHeap::new(),
            inserted: 0,
            work: 0,
            sh,
            opts,
            sessions: Vec::new(),
            woken,
            book: Book::new(subs),
            phase: 0,
            trace: Trace::default(),
            events: 0,
            pauses: 0,
            tapped: 0,
            global_pause: 0,
        };
        for (id, &(role, account)) in roles.iter().enumerate() {
            let flag = Arc::new(Flag {
                woken: AtomicBool::new(false),
                id,
                list: Arc::clone(&w.woken),
            });
            let notify = Arc::clone(&flag) as Arc<dyn Notify>;
            let conn = Connection::accept(&w.sh, w.node_now(), None, notify);
            let mut link = Rng::fork(seed, 0x5E55_0000 + id as u64);
            let mut shadow = Parser::new(Limits {
                max_control_line: w.opts.max_control_line,
                max_payload: w.opts.max_payload,
            });
            shadow.set_headers(false);
            let mut client = Parser::new(Limits {
                max_control_line: 1 << 20,
                max_payload: 1 << 30,
            });
            client.set_headers(true);
            w.sessions.push(Sess {
                role,
                account,
                user: format!("u{id}"),
                conn,
                flag,
                shadow,
                client,
                up_latency: 1 + link.below(plan.latency_ns),
                down_latency: 1 + link.below(plan.latency_ns),
                jitter: 1 + link.below(plan.jitter_ns),
                link,
                work: Rng::fork(seed, 0x9B00_0000 + id as u64),
                up: Vec::new(),
                up_scheduled: false,
                held: Vec::new(),
                paused: None,
                down: Vec::new(),
                down_scheduled: false,
                ready: false,
                connected: false,
                timer_at: None,
                seq: 0,
                owed: 0.0,
            });
            w.rearm(id);
            if !matches!(role, Role::Sub(_)) {
                w.schedule(plan.start_ns, Ev::Publish(id));
            }
        }
        // Without the flooder too: a reload re-authenticates every connection, and the calm
        // tenant must see the same.
        w.schedule(plan.reload_ns, Ev::Reload);
        w
    }

    fn node_now(&self) -> Time {
        Time::from_nanos(self.now + EPOCH_NS)
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        if !matches!(ev, Ev::Timer(_)) {
            self.work += 1;
        }
        self.inserted += 1;
        self.queue.push(Reverse((at, ev, self.inserted)));
    }

    /// The last events, for a failure report.
    pub fn recent(&self) -> String {
        self.trace.recent()
    }

    /// The world time of the current event.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Runs until nothing but timers is left, then checks (a), (b), (c), (e).
    pub fn run(&mut self, max_events: u64) -> Result<RateReport, Violation> {
        self.pump()?;
        while let Some(Reverse((at, ev, _))) = self.queue.pop() {
            if matches!(ev, Ev::Timer(_)) {
                if self.work == 0 {
                    break;
                }
            } else {
                self.work -= 1;
            }
            self.now = at;
            self.events += 1;
            if self.events > max_events {
                let msg = "event budget exhausted";
                return Err(Violation::new(ViolationKind::NoLiveness, msg));
            }
            let (code, i, what) = ev.code();
            let who = Who::Conn {
                conn: i,
                client: i,
                node: 0,
            };
            self.trace.event(at, code, i, what, who);
            match ev {
                Ev::Reload => self.on_reload()?,
                Ev::Resume(s) => self.on_resume(s)?,
                Ev::ToServer(s) => self.on_to_server(s)?,
                Ev::ToClient(s) => self.on_to_client(s)?,
                Ev::Publish(s) => self.on_publish(s)?,
                Ev::Timer(s) => self.on_timer(s)?,
            }
            self.pump()?;
        }
        self.finish()
    }

    fn finish(&mut self) -> Result<RateReport, Violation> {
        self.book.finish()?;
        let mut counted = 0;
        let mut throttled = 0;
        for (id, s) in self.sessions.iter().enumerate() {
            let c = self.sh.rate_counters(s.account, &s.user);
            let d = c.dropped.load(Ordering::Relaxed);
            let seen = self.book.dropped.get(&id).copied().unwrap_or(0);
            if d != seen {
                let msg = format!(
                    "{} ({}): the drop counter says {d}, the driver saw {seen} drops",
                    s.user, s.account
                );
                return Err(Violation::new(ViolationKind::Dropped, msg));
            }
            counted += d;
            if matches!(s.role, Role::Flood(_)) {
                throttled += c.throttled_nanos.load(Ordering::Relaxed);
            }
        }
        let flood = self
            .sessions
            .iter()
            .any(|s| matches!(s.role, Role::Flood(_)));
        let mut phases = Vec::new();
        if flood {
            for p in 0..2 {
                let b = self.plan.bounds(p);
                phases.push(check::check_phase(b, &self.book.admissions[p], p)?);
            }
        }
        Ok(RateReport {
            events: self.events,
            deliveries: self.book.deliveries,
            sim_ns: self.now,
            trace_hash: self.trace.hash(),
            phases,
            dropped: counted,
            pauses: self.pauses,
            throttled_ns: throttled,
            calm_latency: std::mem::take(&mut self.book.calm_latency),
            flood_written: self
                .sessions
                .iter()
                .filter(|s| matches!(s.role, Role::Flood(_)))
                .map(|s| s.seq)
                .sum(),
        })
    }

    /// The writers: every woken connection's outbound bytes onto its link.
    fn pump(&mut self) -> Result<(), Violation> {
        loop {
            let woken =
                std::mem::take(&mut *self.woken.0.lock().unwrap_or_else(|e| e.into_inner()));
            if woken.is_empty() {
                return Ok(());
            }
            for s in woken {
                let sess = &mut self.sessions[s];
                sess.flag.woken.store(false, Ordering::Relaxed);
                let mut buf = Vec::new();
                let taken = sess.conn.handle().take(&mut buf);
                sess.down.extend_from_slice(&buf);
                if let Some(r) = taken.close_now.or(taken.close_after) {
                    let msg = format!("the node closed {} ({}): {r}", sess.user, sess.account);
                    return Err(Violation::new(ViolationKind::ServerError, msg));
                }
                self.schedule_down(s);
            }
        }
    }

    fn schedule_up(&mut self, s: usize) {
        let sess = &mut self.sessions[s];
        if sess.up_scheduled || sess.up.is_empty() {
            return;
        }
        sess.up_scheduled = true;
        let at = self.now + sess.up_latency + sess.link.below(sess.jitter);
        self.schedule(at, Ev::ToServer(s));
    }

    fn schedule_down(&mut self, s: usize) {
        let sess = &mut self.sessions[s];
        if sess.down_scheduled || sess.down.is_empty() {
            return;
        }
        sess.down_scheduled = true;
        let at = self.now + sess.down_latency + sess.link.below(sess.jitter);
        self.schedule(at, Ev::ToClient(s));
    }

    fn rearm(&mut self, s: usize) {
        let Some(t) = self.sessions[s].conn.poll_timeout() else {
            return;
        };
        let at = t.as_nanos().saturating_sub(EPOCH_NS).max(self.now);
        if !matches!(self.sessions[s].timer_at, Some(x) if x <= at) {
            self.sessions[s].timer_at = Some(at);
            self.schedule(at, Ev::Timer(s));
        }
    }

    fn on_timer(&mut self, s: usize) -> Result<(), Violation> {
        if self.sessions[s].timer_at != Some(self.now) {
            return Ok(());
        }
        self.sessions[s].timer_at = None;
        let now = self.node_now();
        let conn = &mut self.sessions[s].conn;
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now, &self.sh);
        }
        self.drain_events(s)?;
        self.rearm(s);
        Ok(())
    }

    fn drain_events(&mut self, s: usize) -> Result<(), Violation> {
        while let Some(e) = self.sessions[s].conn.poll_event() {
            if let ConnEvent::Closed(r) = e {
                let sess = &self.sessions[s];
                let msg = format!("the node closed {} ({}): {r}", sess.user, sess.account);
                return Err(Violation::new(ViolationKind::ServerError, msg));
            }
        }
        Ok(())
    }

    /// The next chunk reaches the node: into the receive buffer, offered unless paused.
    fn on_to_server(&mut self, s: usize) -> Result<(), Violation> {
        let sess = &mut self.sessions[s];
        sess.up_scheduled = false;
        let n = workload::chunk_len(&mut sess.link, sess.up.len());
        let chunk: Vec<u8> = sess.up.drain(..n).collect();
        self.trace.bytes(&chunk);
        let sess = &mut self.sessions[s];
        sess.held.extend_from_slice(&chunk);
        if sess.paused.is_none() && self.global_pause > self.now {
            // The sabotage: one thread that sleeps through any connection's pause.
            sess.paused = Some(self.global_pause);
            self.schedule(self.global_pause, Ev::Resume(s));
        } else if sess.paused.is_none() {
            self.offer(s)?;
        }
        self.schedule_up(s);
        Ok(())
    }

    /// The pause is over: the unconsumed bytes are offered again.
    fn on_resume(&mut self, s: usize) -> Result<(), Violation> {
        if self.sessions[s].paused != Some(self.now) {
            return Ok(());
        }
        self.sessions[s].paused = None;
        self.offer(s)
    }

    /// Offers the node everything held for `s`, one op at a time, until it pauses.
    fn offer(&mut self, s: usize) -> Result<(), Violation> {
        let bytes = std::mem::take(&mut self.sessions[s].held);
        let now = self.node_now();
        let ignore_pause = self.sabotage == Some(Sabotage::IgnorePause);
        let mut pos = 0;
        let mut fed = 0;
        while fed < bytes.len() {
            let sess = &mut self.sessions[s];
            let publish = match sess.shadow.parse(&bytes, &mut pos) {
                Ok(Some(Op::Pub {
                    subject, payload, ..
                })) => Some((subject.to_vec(), payload.to_vec())),
                Ok(Some(_)) => None,
                Ok(None) => {
                    pos = bytes.len();
                    None
                }
                Err(e) => {
                    let msg = format!("conn {s}: the shadow parser fails: {e:?}");
                    return Err(Violation::new(ViolationKind::Corrupt, msg));
                }
            };
            let counters = self.sh.rate_counters(sess.account, &sess.user);
            let before = counters.dropped.load(Ordering::Relaxed);
            let got = sess.conn.handle_read_paced(now, &bytes[fed..pos], &self.sh);
            let consumed = got.map_err(|r| {
                Violation::new(ViolationKind::ServerError, format!("conn {s} closed: {r}"))
            })?;
            if consumed != pos - fed {
                let msg = format!(
                    "conn {s}: handle_read_paced consumed {consumed} of one op's {} bytes",
                    pos - fed
                );
                return Err(Violation::new(ViolationKind::ServerError, msg));
            }
            fed = pos;
            let dropped = counters.dropped.load(Ordering::Relaxed) - before;
            if let Some((subject, payload)) = publish {
                let flood = matches!(sess.role, Role::Flood(_)).then_some(self.phase);
                let action = self.plan.action;
                let t = self.now;
                self.book
                    .on_processed(s, &subject, &payload, dropped, action, flood, t)?;
            }
            self.drain_events(s)?;
            if let Some(until) = self.sessions[s].conn.poll_read_pause() {
                if ignore_pause {
                    continue;
                }
                let at = until.as_nanos().saturating_sub(EPOCH_NS).max(self.now);
                self.pauses += 1;
                if self.sabotage == Some(Sabotage::GlobalPause) {
                    self.global_pause = self.global_pause.max(at);
                }
                let sess = &mut self.sessions[s];
                sess.held = bytes[fed..].to_vec();
                sess.paused = Some(at);
                self.schedule(at, Ev::Resume(s));
                break;
            }
        }
        self.rearm(s);
        Ok(())
    }

    /// The next chunk reaches the client.
    fn on_to_client(&mut self, s: usize) -> Result<(), Violation> {
        let sess = &mut self.sessions[s];
        sess.down_scheduled = false;
        let n = workload::chunk_len(&mut sess.link, sess.down.len());
        let chunk: Vec<u8> = sess.down.drain(..n).collect();
        self.trace.bytes(&chunk);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < chunk.len() {
            let sess = &mut self.sessions[s];
            let op = match sess.client.parse(&chunk, &mut pos) {
                Ok(Some(op)) => op,
                Ok(None) => break,
                Err(e) => {
                    let msg = format!("client {s} cannot parse: {e:?}");
                    return Err(Violation::new(ViolationKind::Corrupt, msg));
                }
            };
            match op {
                Op::Info(_) if !sess.connected => {
                    sess.connected = true;
                    let json = format!(
                        r#"{{"verbose":false,"pedantic":false,"echo":true,"headers":false,"protocol":1,"user":"{}","pass":"{PASSWORD}"}}"#,
                        sess.user
                    );
                    encode::op(&mut out, &Op::Connect(json.as_bytes()));
                    if let Role::Sub(p) = sess.role {
                        encode::sub(&mut out, p.as_bytes(), None, b"1");
                    }
                    out.extend_from_slice(encode::PING);
                }
                Op::Info(_) => {}
                Op::Ping => out.extend_from_slice(encode::PONG),
                Op::Pong => sess.ready = true,
                Op::Msg {
                    subject, payload, ..
                } => {
                    let n = self.tapped;
                    self.tapped += 1;
                    if self.sabotage == Some(Sabotage::DropDelivery(n)) {
                        continue;
                    }
                    let t = self.now;
                    self.book.on_delivery(s, subject, payload, t)?;
                }
                other => {
                    let msg = format!("client {s} got {other:?}");
                    return Err(Violation::new(ViolationKind::ServerError, msg));
                }
            }
        }
        self.send(s, &out);
        self.schedule_down(s);
        Ok(())
    }

    fn send(&mut self, s: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.sessions[s].up.extend_from_slice(bytes);
        self.schedule_up(s);
    }

    /// A publisher's turn: a calm one writes one message and thinks; a flooder writes what
    /// its rate owes, as far as its window lets it.
    fn on_publish(&mut self, s: usize) -> Result<(), Violation> {
        if !self.sessions[s].ready {
            let msg = format!("conn {s} is not set up when publishing starts");
            return Err(Violation::new(ViolationKind::NoLiveness, msg));
        }
        if self.now >= self.plan.end_ns {
            return Ok(());
        }
        let window = self.plan.window;
        let size = self.plan.flood_size;
        let mut out = Vec::new();
        let sess = &mut self.sessions[s];
        let next = match sess.role {
            Role::Calm(rate) => {
                let subject = SUBJECTS[sess.work.below(SUBJECTS.len() as u64) as usize];
                sess.seq += 1;
                let pad = sess.work.below(32) as usize;
                let body = crate::client::payload(s, sess.seq, pad);
                encode::publish(&mut out, subject.as_bytes(), None, &body);
                self.book
                    .on_written(s, sess.seq, sess.account, subject, true, self.now);
                let mean = 1_000_000_000 / rate.max(1);
                self.now + 1 + sess.work.below(2 * mean)
            }
            Role::Flood(rate) => {
                sess.owed += rate * TICK_NS as f64 / 1e9;
                while sess.owed >= 1.0 {
                    if sess.up.len() + sess.held.len() + out.len() >= window {
                        // Blocked in write: it wants no more than the next message.
                        sess.owed = 1.0;
                        break;
                    }
                    sess.owed -= 1.0;
                    let subject = SUBJECTS[sess.work.below(2) as usize];
                    sess.seq += 1;
                    let mut body = crate::client::payload(s, sess.seq, 0);
                    body.resize(size.max(body.len()), b'f');
                    encode::publish(&mut out, subject.as_bytes(), None, &body);
                    self.book
                        .on_written(s, sess.seq, sess.account, subject, false, self.now);
                }
                self.now + TICK_NS
            }
            Role::Sub(_) => unreachable!("subscribers do not publish"),
        };
        self.send(s, &out);
        self.schedule(next, Ev::Publish(s));
        Ok(())
    }

    /// The flooder's limit changes: `apply_reload`, then every connection's
    /// `handle_config_change` (unless [`Sabotage::SkipConfigChange`]).
    fn on_reload(&mut self) -> Result<(), Violation> {
        let mut new = self.opts.clone();
        apply_limit(&mut new, self.plan, self.plan.after);
        self.sh.apply_reload(&new);
        self.opts = new;
        self.phase = 1;
        if self.sabotage == Some(Sabotage::SkipConfigChange) {
            return Ok(());
        }
        let now = self.node_now();
        for s in 0..self.sessions.len() {
            self.sessions[s].conn.handle_config_change(now, &self.sh);
            self.drain_events(s)?;
            self.rearm(s);
        }
        Ok(())
    }
}

/// The node's options: every session's user in its account, the flooder's limit where the
/// plan puts it.
fn options(seed: u64, plan: &RatePlan, roles: &[(Role, &'static str)], l: RateLimit) -> Options {
    let users = roles
        .iter()
        .enumerate()
        .map(|(id, &(_, account))| {
            let rate = if account == "W" {
                plan.calm_limit
            } else {
                None
            };
            user(&format!("u{id}"), account, rate)
        })
        .collect();
    let mut o = Options {
        seed: seed ^ 0x2A7E,
        ping_interval: std::time::Duration::from_secs(120),
        accounts: ["F", "W"]
            .iter()
            .map(|n| AccountOptions {
                name: n.to_string(),
                ..AccountOptions::default()
            })
            .collect(),
        ..Options::default()
    };
    o.auth.users = users;
    // Which users publish in the flooder's tenant: all of F's (subscribers publish nothing).
    apply_limit(&mut o, plan, l);
    o
}

/// Puts the flooder's limit `l` where the plan says.
fn apply_limit(o: &mut Options, plan: &RatePlan, l: RateLimit) {
    match plan.scope {
        Scope::User => {
            for u in o.auth.users.iter_mut() {
                if u.account.as_deref() == Some("F") {
                    u.publish_rate = Some(l);
                }
            }
        }
        Scope::Account => {
            for a in o.accounts.iter_mut() {
                if a.name == "F" {
                    a.publish_rate = Some(l);
                }
            }
        }
        Scope::Default => o.publish_rate = Some(l),
    }
}
