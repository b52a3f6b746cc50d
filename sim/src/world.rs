//! The simulated world: one server, its clients, the network between them, a clock and one
//! event queue, all driven by one seeded PRNG on one thread.
//!
//! Each client has two links (client→server and server→client). A link is an ordered byte
//! queue: writing appends, and one pending delivery event per link hands the next chunk, of
//! random size, to the other side after latency plus jitter. Chunks therefore arrive in
//! order, split anywhere, exactly as TCP may deliver them.
//!
//! Events are ordered by (simulated time, random tie-break, insertion order), so equal-time
//! events run in a seed-dependent order. Every processed event feeds the trace hash.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use natsd_core::client::Notify;
use natsd_core::conn::{ConnEvent, Connection};
use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_core::proto::{Limits, Op, Parser};
use natsd_core::rng::Rng;
use natsd_core::shared::Shared;
use natsd_core::subject;
use natsd_core::Time;

use crate::client::{ClientModel, ClientState, Tap};
use crate::oracle::{Oracle, Violation, ViolationKind};
use crate::trace::Trace;
use crate::workload::{self, Config, Sabotage};

/// The writer's wake-up: the core sets it, the world checks it after every core call.
#[derive(Debug, Default)]
struct Flag(AtomicBool);

impl Notify for Flag {
    fn notify(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Something that happens at a simulated instant. The `usize` is the client index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The client opens its socket; the server accepts.
    Connect(usize),
    /// The next chunk of client→server bytes (or the client's FIN) arrives.
    ToServer(usize),
    /// The next chunk of server→client bytes (or the server's FIN) arrives.
    ToClient(usize),
    /// The connection's timer may be due.
    Timer(usize),
    /// The client takes its next workload action.
    Action(usize),
    /// The client stops reading.
    Stall(usize),
    /// The client reads again.
    Unstall(usize),
    /// The server reloads its config (the `usize` is unused).
    Reload(usize),
}

impl Event {
    /// Stable codes for the trace hash.
    fn code(self) -> (u8, usize) {
        match self {
            Event::Connect(i) => (1, i),
            Event::ToServer(i) => (2, i),
            Event::ToClient(i) => (3, i),
            Event::Timer(i) => (4, i),
            Event::Action(i) => (5, i),
            Event::Stall(i) => (6, i),
            Event::Unstall(i) => (7, i),
            Event::Reload(i) => (10, i),
        }
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
    /// Base one-way latency, in nanoseconds.
    latency: u64,
}

/// One client and the server's half of its connection.
struct Slot {
    model: ClientModel,
    conn: Option<Connection>,
    flag: Arc<Flag>,
    /// Parses the server-bound stream exactly as the server's parser does, for the oracle.
    shadow: Parser,
    up: Link,
    down: Link,
    /// The time of the queued `Timer` event, if any.
    timer_at: Option<u64>,
    stalled: bool,
    /// PONGs from this client the server has processed (the stale rule counts them against
    /// the PINGs the client received).
    pongs_processed: u64,
    /// Simulated time of the server's last read from this client.
    last_read: u64,
    /// The server has processed this client's CONNECT (until then it PINGs to measure the
    /// round trip however busy the client is).
    connect_processed: bool,
    /// The server's last timer decided `Stale Connection` and the stale rule allowed it.
    stale_allowed: bool,
    /// The server's side of the socket is closed: nothing more is written or read.
    server_closed: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Hash of every processed event (time, kind, client, bytes).
    pub trace_hash: u64,
    /// Events processed.
    pub events: u64,
    /// Messages the server processed.
    pub published: usize,
    /// Deliveries checked by the oracle.
    pub deliveries: u64,
    /// Clients closed during the run (by themselves or by the server).
    pub closed: usize,
    /// What the run exercised.
    pub stats: Stats,
    /// Simulated nanoseconds at the end.
    pub sim_ns: u64,
}

/// Counts of what a run exercised, so tests can assert the swarm still covers the faults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections closed because the client closed its socket.
    pub client_closes: u64,
    /// Connections closed as slow consumers.
    pub slow_consumers: u64,
    /// Connections closed as stale (unanswered PINGs).
    pub stale: u64,
    /// Reading stalls injected.
    pub stalls: u64,
    /// Server PINGs the clients answered.
    pub pings_answered: u64,
    /// Deliveries to queue subscriptions.
    pub queue_deliveries: u64,
    /// Deliveries that came as HMSG.
    pub hmsgs: u64,
    /// Auto-unsubscribe limits the model saw reached.
    pub limits_reached: u64,
    /// Connections closed with `Authorization Violation` after a reload removed their user.
    pub deauthorized: u64,
}

/// The world of one run.
pub struct World {
    cfg: Config,
    now: u64,
    rng: Rng,
    queue: BinaryHeap<Reverse<(u64, u64, u64, Event)>>,
    inserted: u64,
    /// Queued events other than timers: the run is settled when this reaches zero.
    work: usize,
    shared: Shared,
    slots: Vec<Slot>,
    oracle: Oracle,
    tap: Tap,
    trace: Trace,
    ops_left: usize,
    stats: Stats,
    /// The reload scenario's state, when the config has one.
    reload: reload::ReloadState,
}

/// A matcher that ignores wildcards: the planted bug of [`Sabotage::BrokenMatcher`].
fn broken_matcher(pattern: &[u8], subject: &[u8]) -> bool {
    pattern == subject
}

impl World {
    /// A world for `cfg`, with every client's connect and the stall already scheduled.
    pub fn new(cfg: Config) -> World {
        let mut rng = Rng::fork(cfg.seed, 0x5EED);
        let opts = Options {
            seed: rng.next_u64(),
            ping_interval: cfg.ping_interval,
            ping_max: cfg.ping_max,
            max_pending: cfg.max_pending,
            disable_sublist_cache: cfg.no_sublist_cache,
            ..Options::default()
        };
        let opts = reload::with_users(opts, &cfg);
        let shared = Shared::new(opts, format!("NSIM{:016X}", cfg.seed), Time::ZERO);
        let respond = cfg.respond_percent;
        let slots: Vec<Slot> = (0..cfg.clients)
            .map(|i| Slot {
                model: ClientModel::new(i, rng.below(4) != 0, respond),
                conn: None,
                flag: Arc::new(Flag::default()),
                shadow: shadow_parser(),
                up: Link {
                    latency: 1 + rng.below(cfg.latency_ns),
                    ..Link::default()
                },
                down: Link {
                    latency: 1 + rng.below(cfg.latency_ns),
                    ..Link::default()
                },
                timer_at: None,
                stalled: false,
                pongs_processed: 0,
                last_read: 0,
                connect_processed: false,
                stale_allowed: false,
                server_closed: false,
            })
            .collect();
        let mut slots = slots;
        reload::give_logins(&mut slots, &cfg);
        let echo = slots.iter().map(|s| s.model.echo).collect();
        let matcher = match cfg.sabotage {
            Some(Sabotage::BrokenMatcher) => broken_matcher,
            _ => subject::matches,
        };
        let mut w = World {
            ops_left: cfg.ops,
            tap: Tap::new(cfg.sabotage),
            oracle: Oracle::new(echo, matcher),
            cfg,
            now: 0,
            rng,
            queue: BinaryHeap::new(),
            inserted: 0,
            work: 0,
            shared,
            slots,
            trace: Trace::default(),
            stats: Stats::default(),
            reload: reload::ReloadState::default(),
        };
        // Half the clients connect at the start, the others join mid-traffic.
        let run_ns = w.cfg.think_ns * w.cfg.ops as u64 / w.cfg.clients as u64;
        for i in 0..w.slots.len() {
            let window = if w.rng.below(2) == 0 {
                5_000_000
            } else {
                run_ns.max(1)
            };
            let at = w.rng.below(window);
            w.schedule(at, Event::Connect(i));
        }
        if let Some(s) = w.cfg.stall {
            w.schedule(s.at_ns, Event::Stall(s.client));
        }
        if let Some(p) = w.cfg.reload {
            w.schedule(p.at_ns, Event::Reload(p.victim));
        }
        w
    }

    fn schedule(&mut self, at: u64, ev: Event) {
        debug_assert!(at >= self.now, "events are never scheduled in the past");
        if !matches!(ev, Event::Timer(_)) {
            self.work += 1;
        }
        self.inserted += 1;
        let tie = self.rng.next_u64();
        self.queue.push(Reverse((at, tie, self.inserted, ev)));
    }

    /// Runs until the workload is done and everything in flight has drained, then checks
    /// liveness. Contract: deterministic in the config; returns the first violation.
    pub fn run(mut self) -> Result<Outcome, (u64, Violation)> {
        let mut events = 0u64;
        while self.work > 0 {
            let Some(Reverse((at, _, _, ev))) = self.queue.pop() else {
                unreachable!("work > 0 means a queued event");
            };
            if !matches!(ev, Event::Timer(_)) {
                self.work -= 1;
            }
            self.now = at;
            events += 1;
            if events > self.cfg.max_events {
                let v = Violation::new(ViolationKind::NoLiveness, "event budget exhausted");
                return Err((self.now, v));
            }
            self.step(ev).map_err(|v| (at, v))?;
        }
        self.finish().map_err(|v| (self.now, v))?;
        let closed = self
            .slots
            .iter()
            .filter(|s| s.model.state == ClientState::Closed)
            .count();
        Ok(Outcome {
            seed: self.cfg.seed,
            trace_hash: self.trace.hash(),
            events,
            published: self.oracle.published(),
            deliveries: self.oracle.deliveries,
            closed,
            stats: Stats {
                pings_answered: self.slots.iter().map(|s| s.model.pings_answered).sum(),
                queue_deliveries: self.oracle.queue_deliveries,
                hmsgs: self.oracle.hmsgs,
                limits_reached: self.oracle.limits_reached,
                ..self.stats
            },
            sim_ns: self.now,
        })
    }

    fn step(&mut self, ev: Event) -> Result<(), Violation> {
        let (code, i) = ev.code();
        self.trace.event(self.now, code, i);
        match ev {
            Event::Connect(i) => self.on_connect(i),
            Event::ToServer(i) => self.on_to_server(i)?,
            Event::ToClient(i) => self.on_to_client(i)?,
            Event::Timer(i) => self.on_timer(i)?,
            Event::Action(i) => self.on_action(i),
            Event::Stall(i) => {
                self.slots[i].stalled = true;
                self.stats.stalls += 1;
                let d = self.cfg.stall.map_or(0, |s| s.for_ns);
                self.schedule(self.now + d, Event::Unstall(i));
            }
            Event::Unstall(i) => {
                self.slots[i].stalled = false;
                self.schedule_down(i);
            }
            Event::Reload(_) => self.on_reload()?,
        }
        self.pump_all()
    }

    fn on_connect(&mut self, i: usize) {
        let now = Time::from_nanos(self.now);
        let notify = Arc::clone(&self.slots[i].flag) as Arc<dyn Notify>;
        let conn = Connection::accept(&self.shared, now, None, notify);
        assert!(
            !conn.is_closed(),
            "harness bug: max_connections is never reached here"
        );
        self.slots[i].conn = Some(conn);
        self.slots[i].last_read = self.now;
        self.rearm(i);
    }

    /// The next chunk of client bytes reaches the server: the oracle sees the ops it
    /// completes (in server order), then the connection processes them.
    fn on_to_server(&mut self, i: usize) -> Result<(), Violation> {
        let n = self.slots[i].up.bytes.len();
        let len = if n > 0 {
            workload::chunk_len(&mut self.rng, n)
        } else {
            0
        };
        let slot = &mut self.slots[i];
        slot.up.scheduled = false;
        let chunk = slot.up.bytes[..len].to_vec();
        slot.up.bytes.drain(..len);
        self.trace.bytes(&chunk);
        let now = Time::from_nanos(self.now);
        let conn = slot.conn.as_mut().expect("bytes flow only after connect");
        // A de-authorised client is closed (or refused at CONNECT): the server acts on none
        // of its later ops, so the oracle must not expect their effects.
        let refused = self
            .reload
            .may_close(i, CloseReason::AuthenticationViolation);
        if !chunk.is_empty() && !slot.server_closed && !conn.is_closed() {
            let mut pos = 0;
            slot.last_read = self.now;
            while pos < chunk.len() {
                match slot.shadow.parse(&chunk, &mut pos) {
                    Ok(Some(op)) => {
                        slot.pongs_processed += u64::from(matches!(op, Op::Pong));
                        slot.connect_processed |= matches!(op, Op::Connect(_));
                        if !refused {
                            self.oracle.on_server_op(i, &op)?;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => panic!("harness bug: client {i} wrote unparseable bytes: {e:?}"),
                }
            }
            if let Err(reason) = conn.handle_read(now, &chunk, &self.shared) {
                if !self.reload.may_close(i, reason) {
                    let msg = format!("server closed client {i} on valid input: {reason}");
                    return Err(Violation::new(ViolationKind::ServerError, msg));
                }
            }
        }
        let slot = &mut self.slots[i];
        if slot.up.bytes.is_empty() && slot.up.fin && !slot.up.eof {
            slot.up.eof = true;
            self.trace.event(self.now, 8, i);
            let conn = slot.conn.as_mut().expect("connected");
            conn.handle_close(now, &self.shared, CloseReason::ClientClosed);
            self.oracle.server_closed(i);
        }
        self.drain_conn_events(i)?;
        self.rearm(i);
        self.schedule_up(i);
        Ok(())
    }

    /// The next chunk of server bytes reaches the client model (unless it stopped reading).
    fn on_to_client(&mut self, i: usize) -> Result<(), Violation> {
        let slot = &mut self.slots[i];
        slot.down.scheduled = false;
        if slot.stalled {
            // Parked: `Unstall` reschedules.
            return Ok(());
        }
        let n = slot.down.bytes.len();
        let len = if n > 0 {
            workload::chunk_len(&mut self.rng, n)
        } else {
            0
        };
        let chunk = slot.down.bytes[..len].to_vec();
        slot.down.bytes.drain(..len);
        self.trace.bytes(&chunk);
        let mut out = Vec::new();
        let was_waiting = slot.model.state == ClientState::AwaitInfo;
        if !chunk.is_empty() && slot.model.state != ClientState::Closed {
            slot.model.on_bytes(
                &chunk,
                &mut self.rng,
                &mut self.oracle,
                &mut self.tap,
                &mut out,
            )?;
        }
        let slot = &mut self.slots[i];
        if slot.down.bytes.is_empty() && slot.down.fin && !slot.down.eof {
            slot.down.eof = true;
            slot.model.close();
            self.oracle.excuse(i);
        }
        if was_waiting && slot.model.state == ClientState::Connected {
            // CONNECT is in `out`: the workload starts.
            let t = self.now + workload::think(&mut self.rng, self.cfg.think_ns);
            self.schedule(t, Event::Action(i));
        }
        self.send_up(i, &out);
        self.schedule_down(i);
        Ok(())
    }

    fn on_timer(&mut self, i: usize) -> Result<(), Violation> {
        if self.slots[i].timer_at != Some(self.now) {
            return Ok(()); // Superseded by an earlier deadline that already ran.
        }
        self.slots[i].timer_at = None;
        let now = Time::from_nanos(self.now);
        self.slots[i].stale_allowed = self.may_be_stale(i);
        let conn = self.slots[i]
            .conn
            .as_mut()
            .expect("timers only after connect");
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now, &self.shared);
        }
        self.drain_conn_events(i)?;
        self.rearm(i);
        Ok(())
    }

    fn on_action(&mut self, i: usize) {
        if self.ops_left == 0 || self.slots[i].model.state != ClientState::Connected {
            return;
        }
        self.ops_left -= 1;
        let mut out = Vec::new();
        let open = self.slots[i]
            .model
            .act(&mut self.rng, self.cfg.close_percent, &mut out);
        self.send_up(i, &out);
        if open {
            let t = self.now + workload::think(&mut self.rng, self.cfg.think_ns);
            self.schedule(t, Event::Action(i));
        } else {
            self.slots[i].up.fin = true;
            self.oracle.excuse(i);
            self.schedule_up(i);
        }
    }

    /// Client `i` writes `bytes` (dropped if the server already closed the socket).
    fn send_up(&mut self, i: usize, bytes: &[u8]) {
        let slot = &mut self.slots[i];
        if bytes.is_empty() || slot.server_closed || slot.up.fin {
            return;
        }
        slot.up.bytes.extend_from_slice(bytes);
        self.schedule_up(i);
    }

    fn schedule_up(&mut self, i: usize) {
        let l = &self.slots[i].up;
        if !l.scheduled && (!l.bytes.is_empty() || (l.fin && !l.eof)) {
            let at = self.now + l.latency + self.rng.below(self.cfg.jitter_ns);
            self.slots[i].up.scheduled = true;
            self.schedule(at, Event::ToServer(i));
        }
    }

    fn schedule_down(&mut self, i: usize) {
        let s = &self.slots[i];
        let l = &s.down;
        if !s.stalled && !l.scheduled && (!l.bytes.is_empty() || (l.fin && !l.eof)) {
            let at = self.now + l.latency + self.rng.below(self.cfg.jitter_ns);
            self.slots[i].down.scheduled = true;
            self.schedule(at, Event::ToClient(i));
        }
    }

    /// Queues a timer event if the connection's deadline moved earlier.
    fn rearm(&mut self, i: usize) {
        let Some(conn) = &self.slots[i].conn else {
            return;
        };
        let Some(t) = conn.poll_timeout() else { return };
        let t = t.as_nanos().max(self.now);
        if !matches!(self.slots[i].timer_at, Some(s) if s <= t) {
            self.slots[i].timer_at = Some(t);
            self.schedule(t, Event::Timer(i));
        }
    }

    /// Checks what the connection reports; a close the client did not cause must be one the
    /// server may legitimately decide (slow consumer, or stale while the client was stalled).
    fn drain_conn_events(&mut self, i: usize) -> Result<(), Violation> {
        let slot = &mut self.slots[i];
        let conn = slot.conn.as_mut().expect("connected");
        while let Some(e) = conn.poll_event() {
            let ConnEvent::Closed(reason) = e else {
                continue;
            };
            self.trace.event(self.now, 9, i);
            match reason {
                CloseReason::ClientClosed => self.stats.client_closes += 1,
                CloseReason::StaleConnection => self.stats.stale += 1,
                r if r.is_slow_consumer() => self.stats.slow_consumers += 1,
                CloseReason::AuthenticationViolation => self.stats.deauthorized += 1,
                _ => {}
            }
            let legit = match reason {
                CloseReason::ClientClosed => true,
                r if r.is_slow_consumer() => true,
                CloseReason::StaleConnection => slot.stale_allowed,
                r => self.reload.may_close(i, r),
            };
            if !legit {
                let msg = format!("server closed well-behaved client {i}: {reason}");
                return Err(Violation::new(ViolationKind::ServerError, msg));
            }
            if reason == CloseReason::StaleConnection {
                slot.model.may_be_stale = true;
            }
            self.oracle.server_closed(i);
        }
        Ok(())
    }

    /// The stale rule, judged just before a timer: may the server now rightly close client
    /// `i` as stale? Only if it read nothing from the client for a whole `ping_interval`
    /// (else the core skips the PING), or has not yet processed its CONNECT (until then the
    /// PING measures the round trip and is never skipped), and a PING round trip is
    /// unfinished: the client got
    /// a PING whose PONG the server has not processed yet (still on the way up), or bytes
    /// wait towards the client (a PING may be among them: in the link, or in the outbound
    /// queue behind a blocked writer). A client that answered every PING it got, with
    /// nothing queued towards it, must never be called stale.
    ///
    /// This is wider than "the client stopped reading" (the rule until seed 7279 of the
    /// reload variant): a slow link draining 6-8 KB behind a PING also delays the PONG past
    /// `ping_interval * ping_max`, and the server is right to give up then.
    fn may_be_stale(&self, i: usize) -> bool {
        let s = &self.slots[i];
        let Some(conn) = &s.conn else { return false };
        let interval = self.shared.opts().ping_interval;
        let idle = self.now - s.last_read >= u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        let unanswered = s.model.pings_answered > s.pongs_processed;
        let queued = !s.down.bytes.is_empty() || conn.handle().pending_bytes() > 0;
        (idle || !s.connect_processed) && (unanswered || queued)
    }

    /// The writers: every woken client's outbound queue moves onto its link.
    fn pump_all(&mut self) -> Result<(), Violation> {
        loop {
            let mut any = false;
            for i in 0..self.slots.len() {
                any |= self.pump(i)?;
            }
            if !any {
                return Ok(());
            }
        }
    }

    fn pump(&mut self, i: usize) -> Result<bool, Violation> {
        let slot = &mut self.slots[i];
        let Some(conn) = &mut slot.conn else {
            return Ok(false);
        };
        let woken = slot.flag.0.swap(false, Ordering::Relaxed);
        if !woken || slot.server_closed {
            return Ok(false);
        }
        if slot.stalled && conn.handle().close_reason().is_none() {
            // The socket is full: the writer is blocked. Keep the wake for later.
            slot.flag.0.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        let mut buf = Vec::new();
        let taken = conn.handle().take(&mut buf);
        slot.down.bytes.extend_from_slice(&buf);
        if let Some(reason) = taken.close_now.or(taken.close_after) {
            slot.server_closed = true;
            slot.down.fin = true;
            let now = Time::from_nanos(self.now);
            conn.handle_close(now, &self.shared, reason);
            self.oracle.server_closed(i);
            self.drain_conn_events(i)?;
        }
        self.schedule_down(i);
        Ok(true)
    }

    /// After the drain: nothing may be left queued for a live client (a lost wake-up), and
    /// every owed delivery must have arrived.
    fn finish(&mut self) -> Result<(), Violation> {
        self.check_deauthorized_got_nothing()?;
        for (i, s) in self.slots.iter().enumerate() {
            if s.model.state == ClientState::Closed || s.server_closed {
                continue;
            }
            let conn = s.conn.as_ref().expect("every client connects");
            let pending = conn.handle().pending_bytes();
            if pending > 0 || !s.up.bytes.is_empty() || !s.down.bytes.is_empty() {
                let msg = format!("client {i}: {pending} bytes queued but the writer never woke");
                return Err(Violation::new(ViolationKind::Stuck, msg));
            }
            if s.model.state != ClientState::Connected {
                let msg = format!("client {i} never completed its handshake");
                return Err(Violation::new(ViolationKind::NoLiveness, msg));
            }
        }
        self.oracle.finish()
    }
}

#[path = "reload.rs"]
mod reload;

/// The server's parser configuration, for the shadow copy: default limits, headers on
/// (every simulated client declares them).
fn shadow_parser() -> Parser {
    let mut p = Parser::new(Limits::default());
    p.set_headers(true);
    p
}
