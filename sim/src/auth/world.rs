//! The `auth` variant's world: one node, its clients, the provider and the driver.
//!
//! The driver does what a runtime does with the auth seam (`Connection`'s contract):
//! bytes that reached the node are offered with `handle_read_paced`, one op at a time (a
//! shadow parser splits them as the node's parser does, so the book knows what the node
//! consumed), and after each call it takes `poll_auth_request()`. A request stops the
//! offering: the rest waits in the connection's receive buffer (`held`), with everything
//! the client writes meanwhile, until the decision has been handed over with
//! `handle_auth_decision`; then the held bytes are offered at once. Timers run throughout
//! (`poll_timeout`, `handle_timeout`).
//!
//! The driver's own part of the seam: at most [`MAX_IN_FLIGHT`] requests wait for the
//! provider; past it a request is refused at once. A wait ends at the provider's answer or
//! one auth timeout after the request (the driver then hands over a refusal); a late answer
//! is handed over anyway.
//!
//! Links are ordered byte queues with latency and jitter, chunked at random sizes, each with
//! its own random stream; the provider and the clients have theirs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natsd_core::auth::{Authorized, CompiledPermissions, Permissions, SubjectPermission, User};
use natsd_core::callout::CalloutOptions;
use natsd_core::client::Notify;
use natsd_core::conn::{AuthDecision, AuthRequest, ConnEvent, Connection};
use natsd_core::errors::CloseReason;
use natsd_core::options::{AccountOptions, Options};
use natsd_core::proto::{encode, Limits, Op, Parser};
use natsd_core::rng::Rng;
use natsd_core::shared::Shared;
use natsd_core::Time;

use super::check::{AuthStats, Book, Decided, Processed, Why};
use super::{AuthPlan, Creds, Decider, Mode, GOOD, GOOD_HASH, MAX_IN_FLIGHT, PROMPT_NS};
use super::{ACCOUNTS, RESTRICTED, SUBJECTS};
use crate::oracle::{Violation, ViolationKind};
use crate::trace::{Trace, Who};
use crate::workload::{self, Sabotage};

/// Node time = world time + this.
const EPOCH_NS: u64 = 1_000_000_000;

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

/// What the provider does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Answers after this many ns (`fail`: with a failure), and maybe again, the other way,
    /// `dup` ns after that.
    Answer {
        after: u64,
        fail: bool,
        dup: Option<u64>,
    },
    /// Never answers.
    Silent,
}

struct Sess {
    conn: Option<Connection>,
    flag: Arc<Flag>,
    /// Splits node-bound bytes as the node's parser does.
    shadow: Parser,
    /// The client's parser of what the node sends.
    client: Parser,
    link: Rng,
    work: Rng,
    up_latency: u64,
    down_latency: u64,
    jitter: u64,
    up: Vec<u8>,
    up_scheduled: bool,
    /// Arrived at the node, not offered or not consumed (the receive buffer).
    held: Vec<u8>,
    down: Vec<u8>,
    down_scheduled: bool,
    /// The server closed the socket after the bytes in `down`.
    down_fin: bool,
    /// The node's writer closed the socket.
    server_closed: bool,
    /// The client read the close.
    eof: bool,
    got_info: bool,
    timer_at: Option<u64>,
    /// Messages written.
    seq: u64,
    /// The core waits for a decision: nothing is offered.
    awaiting: bool,
    /// The request whose wait is current (its id), if any.
    waiting: Option<u64>,
    /// The client closed its socket (impatient): it writes and reads nothing more, and its
    /// FIN follows its bytes up the link.
    gone: bool,
    /// Its FIN is queued after the bytes on the up link.
    up_fin: bool,
    /// The FIN reached the node (after every byte before it).
    fin_at_node: bool,
    /// The client's PING was answered.
    ponged: bool,
}

/// What a client read, owned (the parser's ops borrow it).
enum Got {
    Info,
    Ping,
    Pong,
    Ok,
    Msg(Vec<u8>, Vec<u8>),
    Err(String),
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Timer(usize),
    GiveUp(usize, u64),
    Answer(usize, u64),
    ToServer(usize),
    ToClient(usize),
    Arrive(usize),
    Publish(usize),
    Impatient(usize),
    Duplicate(usize, u64),
}

impl Ev {
    fn code(self) -> (u8, usize, &'static str) {
        match self {
            Ev::Timer(s) => (1, s, "timer"),
            Ev::GiveUp(s, _) => (2, s, "give_up"),
            Ev::Answer(s, _) => (3, s, "answer"),
            Ev::ToServer(s) => (4, s, "to_server"),
            Ev::ToClient(s) => (5, s, "to_client"),
            Ev::Arrive(s) => (6, s, "arrive"),
            Ev::Publish(s) => (7, s, "publish"),
            Ev::Impatient(s) => (8, s, "impatient"),
            Ev::Duplicate(s, _) => (9, s, "duplicate"),
        }
    }
}

/// What one `auth` run did.
#[derive(Debug, Clone)]
pub struct AuthReport {
    /// Events processed.
    pub events: u64,
    /// Simulated ns at the end.
    pub sim_ns: u64,
    /// Hash of the trace.
    pub trace_hash: u64,
    /// Connections the node closed.
    pub closed: usize,
    /// What the oracles counted.
    pub stats: AuthStats,
}

/// The world of one `auth` run.
pub struct AuthWorld<'a> {
    plan: &'a AuthPlan,
    sabotage: Option<Sabotage>,
    now: u64,
    queue: BinaryHeap<Reverse<(u64, Ev, u64)>>,
    inserted: u64,
    work: usize,
    sh: Arc<Shared>,
    sessions: Vec<Sess>,
    woken: Arc<Woken>,
    book: Book,
    /// The provider's draws.
    provider: Rng,
    /// Requests the provider will answer: id → (session, request, failure).
    answers: BTreeMap<u64, (usize, AuthRequest, bool)>,
    /// Requests a second answer will follow: once the first came, the request and whether
    /// the first answer accepted.
    dups: BTreeMap<u64, Option<(AuthRequest, bool)>>,
    next_request: u64,
    /// The driver's count of waits in flight.
    in_flight: usize,
    trace: Trace,
    events: u64,
    closed: usize,
}

impl<'a> AuthWorld<'a> {
    /// The world of `plan` for `seed`.
    pub fn new(seed: u64, plan: &'a AuthPlan, sabotage: Option<Sabotage>) -> Self {
        let opts = options(seed, plan);
        let sh = Arc::new(Shared::new(opts, "AUTH".into(), Time::from_nanos(EPOCH_NS)));
        let woken = Arc::new(Woken::default());
        let mut w = AuthWorld {
            plan,
            sabotage,
            now: 0,
            queue: BinaryHeap::new(),
            inserted: 0,
            work: 0,
            sh,
            sessions: Vec::new(),
            woken,
            book: Book::new(plan),
            provider: Rng::fork(seed, 0xA07B_9000),
            answers: BTreeMap::new(),
            dups: BTreeMap::new(),
            next_request: 0,
            in_flight: 0,
            trace: Trace::default(),
            events: 0,
            closed: 0,
        };
        for (id, c) in plan.clients.iter().enumerate() {
            let flag = Arc::new(Flag {
                woken: AtomicBool::new(false),
                id,
                list: Arc::clone(&w.woken),
            });
            let mut link = Rng::fork(seed, 0xA07B_5E00 + id as u64);
            let mut shadow = Parser::new(Limits {
                max_control_line: 4096,
                max_payload: 1 << 20,
            });
            shadow.set_headers(false);
            let mut client = Parser::new(Limits {
                max_control_line: 1 << 20,
                max_payload: 1 << 30,
            });
            client.set_headers(true);
            w.sessions.push(Sess {
                conn: None,
                flag,
                shadow,
                client,
                up_latency: 1 + link.below(plan.latency_ns),
                down_latency: 1 + link.below(plan.latency_ns),
                jitter: 1 + link.below(plan.jitter_ns),
                link,
                work: Rng::fork(seed, 0xA07B_C000 + id as u64),
                up: Vec::new(),
                up_scheduled: false,
                held: Vec::new(),
                down: Vec::new(),
                down_scheduled: false,
                down_fin: false,
                server_closed: false,
                eof: false,
                got_info: false,
                timer_at: None,
                seq: 0,
                awaiting: false,
                waiting: None,
                gone: false,
                up_fin: false,
                fin_at_node: false,
                ponged: false,
            });
            w.schedule(c.arrive_ns, Ev::Arrive(id));
        }
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

    fn conn(&mut self, s: usize) -> &mut Connection {
        self.sessions[s].conn.as_mut().expect("opened")
    }

    /// Runs until nothing but timers is left, then checks (4).
    pub fn run(&mut self, max_events: u64) -> Result<AuthReport, Violation> {
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
                Ev::Timer(s) => self.on_timer(s)?,
                Ev::GiveUp(s, id) => self.on_give_up(s, id)?,
                Ev::Answer(s, id) => self.on_answer(s, id)?,
                Ev::ToServer(s) => self.on_to_server(s)?,
                Ev::ToClient(s) => self.on_to_client(s)?,
                Ev::Arrive(s) => self.on_arrive(s)?,
                Ev::Publish(s) => self.on_publish(s)?,
                Ev::Impatient(s) => self.on_impatient(s)?,
                Ev::Duplicate(s, id) => self.on_duplicate(s, id)?,
            }
            self.pump()?;
        }
        self.book.finish()?;
        Ok(AuthReport {
            events: self.events,
            sim_ns: self.now,
            trace_hash: self.trace.hash(),
            closed: self.closed,
            stats: self.book.stats.clone(),
        })
    }

    /// The writers: every woken connection's outbound bytes onto its link, and the closes
    /// they carry.
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
                if sess.server_closed {
                    continue;
                }
                let Some(conn) = sess.conn.as_mut() else {
                    continue;
                };
                let mut buf = Vec::new();
                let taken = conn.handle().take(&mut buf);
                sess.down.extend_from_slice(&buf);
                if let Some(r) = taken.close_now.or(taken.close_after) {
                    sess.server_closed = true;
                    sess.down_fin = true;
                    sess.held.clear();
                    let now = Time::from_nanos(self.now + EPOCH_NS);
                    conn.handle_close(now, &self.sh, r);
                    self.drain_events(s)?;
                }
                self.schedule_down(s);
            }
        }
    }

    fn schedule_up(&mut self, s: usize) {
        let sess = &mut self.sessions[s];
        if sess.up_scheduled || (sess.up.is_empty() && !sess.up_fin) {
            return;
        }
        sess.up_scheduled = true;
        let at = self.now + sess.up_latency + sess.link.below(sess.jitter);
        self.schedule(at, Ev::ToServer(s));
    }

    fn schedule_down(&mut self, s: usize) {
        let sess = &mut self.sessions[s];
        if sess.down_scheduled || (sess.down.is_empty() && !sess.down_fin) || sess.eof {
            return;
        }
        sess.down_scheduled = true;
        let at = self.now + sess.down_latency + sess.link.below(sess.jitter);
        self.schedule(at, Ev::ToClient(s));
    }

    fn rearm(&mut self, s: usize) {
        let Some(t) = self.sessions[s]
            .conn
            .as_ref()
            .and_then(|c| c.poll_timeout())
        else {
            return;
        };
        let at = t.as_nanos().saturating_sub(EPOCH_NS).max(self.now);
        if !matches!(self.sessions[s].timer_at, Some(x) if x <= at) {
            self.sessions[s].timer_at = Some(at);
            self.schedule(at, Ev::Timer(s));
        }
    }

    fn drain_events(&mut self, s: usize) -> Result<(), Violation> {
        while let Some(e) = self.conn(s).poll_event() {
            if let ConnEvent::Closed(r) = e {
                self.closed += 1;
                self.book.on_closed(s, r, self.now)?;
            }
        }
        Ok(())
    }

    fn on_arrive(&mut self, s: usize) -> Result<(), Violation> {
        let now = self.node_now();
        let notify = Arc::clone(&self.sessions[s].flag) as Arc<dyn Notify>;
        let conn = Connection::accept(&self.sh, now, None, notify);
        self.sessions[s].conn = Some(conn);
        self.book.on_open(s, self.now);
        self.drain_events(s)?;
        self.rearm(s);
        if let Some(p) = self.plan.clients[s].patience_ns {
            self.schedule(self.now + p, Ev::Impatient(s));
        }
        Ok(())
    }

    fn on_timer(&mut self, s: usize) -> Result<(), Violation> {
        if self.sessions[s].timer_at != Some(self.now) {
            return Ok(());
        }
        self.sessions[s].timer_at = None;
        if self.sabotage == Some(Sabotage::AuthTimersPaused) && self.sessions[s].awaiting {
            // The sabotage: a runtime that stops the connection's timer while it waits for
            // the decision (re-armed after it).
            return Ok(());
        }
        let now = self.node_now();
        let sh = Arc::clone(&self.sh);
        let conn = self.conn(s);
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now, &sh);
        }
        self.drain_events(s)?;
        self.rearm(s);
        Ok(())
    }

    /// The next chunk reaches the node: into the receive buffer, offered unless the
    /// connection waits for its decision.
    fn on_to_server(&mut self, s: usize) -> Result<(), Violation> {
        let sess = &mut self.sessions[s];
        sess.up_scheduled = false;
        let chunk: Vec<u8> = if sess.up.is_empty() {
            Vec::new()
        } else {
            let n = workload::chunk_len(&mut sess.link, sess.up.len());
            sess.up.drain(..n).collect()
        };
        self.trace.bytes(&chunk);
        let sess = &mut self.sessions[s];
        if sess.up.is_empty() && sess.up_fin {
            sess.up_fin = false;
            sess.fin_at_node = true;
        }
        if !sess.server_closed && !sess.conn.as_ref().is_some_and(Connection::is_closed) {
            sess.held.extend_from_slice(&chunk);
            self.offer(s)?;
        }
        self.schedule_up(s);
        Ok(())
    }

    /// Offers the node what is held for `s` (everything at once, or one op at a time, as the
    /// plan says) until a request stops it or the connection closes; then, if the client
    /// closed its socket and everything it sent was read, the close.
    fn offer(&mut self, s: usize) -> Result<(), Violation> {
        loop {
            let sess = &self.sessions[s];
            let open = sess.conn.as_ref().is_some_and(|c| !c.is_closed());
            if sess.awaiting || sess.server_closed || !open || sess.held.is_empty() {
                break;
            }
            self.read_once(s)?;
        }
        self.rearm(s);
        self.peer_closed(s)
    }

    /// One `handle_read_paced` of `s`'s held bytes, judged op by op.
    fn read_once(&mut self, s: usize) -> Result<(), Violation> {
        let now = self.node_now();
        let sh = Arc::clone(&self.sh);
        let whole = self.plan.whole_reads;
        let sess = &mut self.sessions[s];
        let bytes = std::mem::take(&mut sess.held);
        let conn = sess.conn.as_mut().expect("opened");
        let mut ops = Vec::new();
        let (got, consumed) = if whole {
            let got = conn.handle_read_paced(now, &bytes, &sh);
            // After a close nothing is read on; the shadow parser stops being needed.
            let consumed = *got.as_ref().unwrap_or(&bytes.len());
            let mut pos = 0;
            while pos < consumed {
                match sess.shadow.parse(&bytes[..consumed], &mut pos) {
                    Ok(Some(op)) => ops.push(processed(&op)),
                    Ok(None) => break,
                    Err(e) => {
                        let msg = format!("conn {s}: the shadow parser fails: {e:?}");
                        return Err(Violation::new(ViolationKind::Corrupt, msg));
                    }
                }
            }
            (got, consumed)
        } else {
            let mut pos = 0;
            match sess.shadow.parse(&bytes, &mut pos) {
                Ok(Some(op)) => ops.push(processed(&op)),
                // A partial op: the node's parser keeps it as the shadow does.
                Ok(None) => pos = bytes.len(),
                Err(e) => {
                    let msg = format!("conn {s}: the shadow parser fails: {e:?}");
                    return Err(Violation::new(ViolationKind::Corrupt, msg));
                }
            }
            (conn.handle_read_paced(now, &bytes[..pos], &sh), pos)
        };
        let request = conn.poll_auth_request();
        let closed = conn.is_closed();
        if let Ok(n) = got {
            if n != consumed {
                let msg = format!("conn {s}: handle_read_paced consumed {n} of {consumed}");
                return Err(Violation::new(ViolationKind::ServerError, msg));
            }
            if whole && n < bytes.len() && request.is_none() {
                let msg = format!(
                    "conn {s}: handle_read_paced stopped at {n} of {} without a request \
                     (closed {closed}, paused {:?}): {:?} | {:?}",
                    bytes.len(),
                    conn.poll_read_pause(),
                    String::from_utf8_lossy(&bytes[..n]),
                    String::from_utf8_lossy(&bytes[n..]),
                );
                return Err(Violation::new(ViolationKind::ServerError, msg));
            }
        }
        if !closed {
            // What was not consumed waits in the receive buffer, before what came since.
            let mut rest = bytes[consumed..].to_vec();
            rest.extend_from_slice(&sess.held);
            sess.held = rest;
        }
        let mut connect = false;
        for op in ops {
            match op {
                Processed::Connect => {
                    connect = true;
                    self.book.on_connect(s, request.is_some(), closed)?;
                    if closed {
                        break;
                    }
                }
                op if got.is_err() => {
                    let msg = format!("conn {s} closed while reading {op:?}");
                    return Err(Violation::new(ViolationKind::ServerError, msg));
                }
                op => self.book.on_processed(s, op, self.now)?,
            }
        }
        if request.is_some() && !connect {
            let msg = format!("conn {s}: an auth request from a read without CONNECT");
            return Err(Violation::new(ViolationKind::ServerError, msg));
        }
        self.drain_events(s)?;
        if let Some(req) = request {
            self.on_request(s, req)?;
        }
        if self.conn(s).poll_read_pause().is_some() {
            let msg = format!("conn {s}: a read pause (no limit in this world)");
            return Err(Violation::new(ViolationKind::ServerError, msg));
        }
        Ok(())
    }

    /// The client closed its socket and the node read everything before the FIN (a runtime
    /// waiting for a decision reads nothing, so it notices only after the decision).
    fn peer_closed(&mut self, s: usize) -> Result<(), Violation> {
        let sess = &self.sessions[s];
        let open = sess.conn.as_ref().is_some_and(|c| !c.is_closed());
        if !sess.fin_at_node
            || sess.awaiting
            || sess.server_closed
            || !open
            || !sess.held.is_empty()
        {
            return Ok(());
        }
        let now = self.node_now();
        let sh = Arc::clone(&self.sh);
        self.conn(s)
            .handle_close(now, &sh, CloseReason::ClientClosed);
        self.drain_events(s)
    }

    /// A bare acceptance of `s` into its planned account (no permissions): what the
    /// sabotages hand over.
    fn plain_acceptance(&self, s: usize, req: &AuthRequest) -> Authorized {
        Authorized {
            user: req.user().map(str::to_string),
            permissions: None,
            account: Some(self.plan.clients[s].account.to_string()),
            publish_rate: None,
            expires: None,
            limits: Default::default(),
        }
    }

    /// `s`'s CONNECT asks for a decision: refused at the bound, else handed to the provider.
    fn on_request(&mut self, s: usize, req: AuthRequest) -> Result<(), Violation> {
        self.sessions[s].awaiting = true;
        if self.sabotage == Some(Sabotage::AuthAcceptAtOnce) {
            // The sabotage: a runtime that lets the client in before the provider answered.
            let a = self.plain_acceptance(s, &req);
            let now = self.node_now();
            let sh = Arc::clone(&self.sh);
            self.conn(s)
                .handle_auth_decision(now, AuthDecision::accept(a), &sh);
            self.sessions[s].awaiting = false;
        }
        if self.in_flight >= MAX_IN_FLIGHT && self.sabotage != Some(Sabotage::AuthNoBound) {
            self.book.on_refused(s)?;
            let why = format!("too many auth requests in flight (at most {MAX_IN_FLIGHT})");
            return self.hand(
                s,
                AuthDecision::reject_because(why),
                Decided::Refuse(Why::InFlight),
            );
        }
        self.in_flight += 1;
        self.book.on_handed(s)?;
        let id = self.next_request;
        self.next_request += 1;
        self.sessions[s].waiting = Some(id);
        match self.fate() {
            Fate::Silent => self.book.stats.silent += 1,
            Fate::Answer { after, fail, dup } => {
                if let Some(d) = dup {
                    self.dups.insert(id, None);
                    self.schedule(self.now + after + d, Ev::Duplicate(s, id));
                }
                self.answers.insert(id, (s, req, fail));
                self.schedule(self.now + after, Ev::Answer(s, id));
            }
        }
        self.schedule(self.now + self.plan.timeout_ns, Ev::GiveUp(s, id));
        Ok(())
    }

    /// What the provider will do with a request made now.
    fn fate(&mut self) -> Fate {
        let t = self.plan.timeout_ns;
        let r = &mut self.provider;
        if self.now >= self.plan.heal_ns {
            if self.sabotage == Some(Sabotage::AuthNoHeal) {
                return Fate::Silent;
            }
            return Fate::Answer {
                after: r.below(PROMPT_NS),
                fail: false,
                dup: None,
            };
        }
        let roll = r.below(100);
        if roll < self.plan.silent_pct {
            return Fate::Silent;
        }
        let dup = (r.below(100) < self.plan.dup_pct).then(|| r.below(t));
        if roll < self.plan.silent_pct + self.plan.fail_pct {
            return Fate::Answer {
                after: r.below(t),
                fail: true,
                dup,
            };
        }
        let after = if r.below(100) < self.plan.late_pct {
            t + r.below(t)
        } else if r.below(100) < self.plan.slow_pct {
            r.below(t)
        } else {
            r.below(t / 4)
        };
        Fate::Answer {
            after,
            fail: false,
            dup,
        }
    }

    /// The provider's answer to request `id` arrives.
    fn on_answer(&mut self, s: usize, id: u64) -> Result<(), Violation> {
        let Some((_, req, fail)) = self.answers.remove(&id) else {
            return Ok(());
        };
        let dup = self.dups.contains_key(&id).then(|| req.clone());
        let current = self.sessions[s].waiting == Some(id);
        if current {
            self.sessions[s].waiting = None;
            self.in_flight -= 1;
            self.book.on_wait_over();
        }
        let (decision, d) = if fail {
            let why = "the auth provider failed: service unavailable".to_string();
            (
                AuthDecision::reject_because(why),
                Decided::Refuse(Why::Failure),
            )
        } else if req.needs_callout() {
            self.directory(&req)
        } else {
            let decision = req.decide();
            let d = if decision.is_accept() {
                Decided::Accept
            } else {
                Decided::Refuse(Why::Credentials)
            };
            (decision, d)
        };
        if let Some(req) = dup {
            self.dups.insert(id, Some((req, decision.is_accept())));
        }
        self.hand(s, decision, d)
    }

    /// A second answer to request `id`, the other way round: handed over to a connection
    /// that was already decided, it must change nothing.
    fn on_duplicate(&mut self, s: usize, id: u64) -> Result<(), Violation> {
        let Some(Some((req, first))) = self.dups.remove(&id) else {
            return Ok(());
        };
        if self.sessions[s].awaiting && !self.conn(s).is_closed() {
            let msg = format!("conn {s}: a second answer while the first is awaited");
            return Err(Violation::new(ViolationKind::ServerError, msg));
        }
        let decision = if first {
            AuthDecision::reject_because("a second answer: refused".into())
        } else {
            AuthDecision::accept(self.plain_acceptance(s, &req))
        };
        let now = self.node_now();
        let sh = Arc::clone(&self.sh);
        let act = first && self.sabotage == Some(Sabotage::AuthActOnDuplicate);
        let conn = self.conn(s);
        let before = (conn.is_closed(), conn.handle().pending_bytes());
        if act {
            // The sabotage: a runtime that acts on the second answer itself.
            conn.handle_close(now, &sh, CloseReason::AuthenticationViolation);
        } else {
            conn.handle_auth_decision(now, decision, &sh);
        }
        let mut events = 0;
        while conn.poll_event().is_some() {
            events += 1;
        }
        let closed = (before.0, conn.is_closed());
        let bytes = conn.handle().pending_bytes().saturating_sub(before.1);
        self.book.after_duplicate(s, closed, events, bytes)
    }

    /// The provider's own verdict on a callout request: its directory of `c<i>` users.
    fn directory(&self, req: &AuthRequest) -> (AuthDecision, Decided) {
        let refuse = || {
            (
                AuthDecision::reject_because("unknown user or wrong password".into()),
                Decided::Refuse(Why::Credentials),
            )
        };
        let Some(opts) = req.options().auth.callout.as_ref() else {
            return refuse();
        };
        let input = req.callout_input(
            &self.sh,
            opts,
            "",
            0,
            Duration::from_nanos(self.plan.timeout_ns),
        );
        let pass = input.connect.pass.as_deref();
        let Some(i) = input
            .connect
            .user
            .as_deref()
            .and_then(|u| u.strip_prefix('c'))
            .and_then(|i| i.parse::<usize>().ok())
        else {
            return refuse();
        };
        let Some(c) = self.plan.clients.get(i) else {
            return refuse();
        };
        if c.decider != Decider::Provider || c.creds != Creds::Good || pass != Some(GOOD) {
            return refuse();
        }
        let permissions = c.restricted.then(|| {
            let p = Permissions {
                publish: Some(SubjectPermission {
                    allow: Some(RESTRICTED.iter().map(|s| s.to_string()).collect()),
                    deny: Vec::new(),
                }),
                ..Permissions::default()
            };
            Arc::new(CompiledPermissions::compile(&p))
        });
        let a = Authorized {
            user: input.connect.user.clone(),
            permissions,
            account: Some(c.account.to_string()),
            publish_rate: None,
            expires: None,
            limits: Default::default(),
        };
        (AuthDecision::accept(a), Decided::Accept)
    }

    /// The driver's wait for request `id` ends without an answer: it hands a refusal.
    fn on_give_up(&mut self, s: usize, id: u64) -> Result<(), Violation> {
        if self.sessions[s].waiting != Some(id) {
            return Ok(());
        }
        self.sessions[s].waiting = None;
        if self.sabotage != Some(Sabotage::AuthLeakSlot) {
            self.in_flight -= 1;
        }
        self.book.on_wait_over();
        self.book.stats.given_up += 1;
        let why = "the auth provider did not answer within the auth timeout".to_string();
        self.hand(
            s,
            AuthDecision::reject_because(why),
            Decided::Refuse(Why::GaveUp),
        )
    }

    /// Hands `decision` to `s`'s connection, judged by (2); after an accept, offers what
    /// waited.
    fn hand(&mut self, s: usize, decision: AuthDecision, d: Decided) -> Result<(), Violation> {
        let now = self.node_now();
        let sh = Arc::clone(&self.sh);
        let open = !self.conn(s).is_closed();
        if self.book.before_decision(s, self.now, open)? {
            // Late: the timeout closed it; the decision must change nothing.
            let before = self.conn(s).handle().pending_bytes();
            let conn = self.conn(s);
            conn.handle_auth_decision(now, decision, &sh);
            let mut events = 0;
            while conn.poll_event().is_some() {
                events += 1;
            }
            let bytes = conn.handle().pending_bytes().saturating_sub(before);
            let still = conn.is_closed();
            return self.book.after_late(s, still, events, bytes);
        }
        self.book.on_decision(s, self.now, d)?;
        let accept = decision.is_accept();
        if !accept && self.sabotage == Some(Sabotage::AuthRejectSilently) {
            // The sabotage: a runtime that drops a refused client without a word.
            self.conn(s)
                .handle_close(now, &sh, CloseReason::ClientClosed);
        } else {
            self.conn(s).handle_auth_decision(now, decision, &sh);
        }
        self.sessions[s].awaiting = false;
        self.drain_events(s)?;
        self.book.after_decision(s, self.now)?;
        if accept {
            let cid = self.conn(s).cid();
            let want = self.plan.clients[s].account;
            let got = self.sh.client_info(cid).map(|i| i.account);
            if got.as_deref() != Some(want) {
                return Err(Violation::new(
                    ViolationKind::CrossAccount,
                    format!("conn {s} accepted into {want}, the node placed it in {got:?}"),
                ));
            }
        }
        self.rearm(s);
        if accept && self.sabotage != Some(Sabotage::AuthNoReoffer) {
            self.offer(s)?;
        }
        Ok(())
    }

    /// The next chunk reaches the client.
    fn on_to_client(&mut self, s: usize) -> Result<(), Violation> {
        let sess = &mut self.sessions[s];
        sess.down_scheduled = false;
        if sess.gone {
            // It closed its socket: nothing is read any more.
            sess.down.clear();
            return Ok(());
        }
        let chunk: Vec<u8> = if sess.down.is_empty() {
            Vec::new()
        } else {
            let n = workload::chunk_len(&mut sess.link, sess.down.len());
            sess.down.drain(..n).collect()
        };
        self.trace.bytes(&chunk);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < chunk.len() {
            let sess = &mut self.sessions[s];
            let got = match sess.client.parse(&chunk, &mut pos) {
                Ok(Some(op)) => match op {
                    Op::Info(_) => Got::Info,
                    Op::Ping => Got::Ping,
                    Op::Pong => Got::Pong,
                    Op::Msg {
                        subject, payload, ..
                    } => Got::Msg(subject.to_vec(), payload.to_vec()),
                    Op::Err(text) => Got::Err(String::from_utf8_lossy(text).into_owned()),
                    Op::Ok => Got::Ok,
                    other => Got::Other(format!("{other:?}")),
                },
                Ok(None) => break,
                Err(e) => {
                    let msg = format!("client {s} cannot parse: {e:?}");
                    return Err(Violation::new(ViolationKind::Corrupt, msg));
                }
            };
            match got {
                Got::Info if !sess.got_info => {
                    sess.got_info = true;
                    self.hello(s, &mut out);
                }
                Got::Info => {}
                Got::Ok => self.book.on_ok(s)?,
                Got::Ping => out.extend_from_slice(encode::PONG),
                Got::Pong => {
                    sess.ponged = true;
                    self.book.on_pong(s)?;
                }
                Got::Msg(subject, payload) => self.book.on_delivery(s, &subject, &payload)?,
                Got::Err(text) => self.book.on_err(s, &text)?,
                Got::Other(what) => {
                    let msg = format!("client {s} got {what}");
                    return Err(Violation::new(ViolationKind::ServerError, msg));
                }
            }
        }
        let sess = &mut self.sessions[s];
        if sess.down.is_empty() && sess.down_fin && !sess.eof {
            sess.eof = true;
            self.book.on_eof(s)?;
        }
        self.send(s, &out);
        self.schedule_down(s);
        Ok(())
    }

    /// After INFO, in one write: CONNECT, the subscription, the pipelined messages, PING.
    fn hello(&mut self, s: usize, out: &mut Vec<u8>) {
        let c = &self.plan.clients[s];
        let mut json = r#"{"pedantic":false,"echo":true,"headers":false,"protocol":1"#.to_string();
        json.push_str(&format!(r#","verbose":{}"#, c.verbose));
        if let Some(u) = c.user(s) {
            json.push_str(&format!(r#","user":"{u}""#));
        }
        if let Some(p) = c.password() {
            json.push_str(&format!(r#","pass":"{p}""#));
        }
        json.push('}');
        encode::op(out, &Op::Connect(json.as_bytes()));
        if let Some(p) = c.sub {
            encode::sub(out, p.as_bytes(), None, b"1");
        }
        for _ in 0..c.pipelined {
            self.write_pub(s, out);
        }
        out.extend_from_slice(encode::PING);
        if c.pubs > c.pipelined {
            let at = self.now + c.every_ns;
            self.schedule(at, Ev::Publish(s));
        }
    }

    fn write_pub(&mut self, s: usize, out: &mut Vec<u8>) {
        let sess = &mut self.sessions[s];
        sess.seq += 1;
        let subject = SUBJECTS[sess.work.below(SUBJECTS.len() as u64) as usize];
        let pad = sess.work.below(32) as usize;
        let body = crate::client::payload(s, sess.seq, pad);
        encode::publish(out, subject.as_bytes(), None, &body);
        let seq = sess.seq;
        self.book.on_written(s, seq, subject);
    }

    /// A publisher writes its next message, accepted or not (until it saw the close).
    fn on_publish(&mut self, s: usize) -> Result<(), Violation> {
        if self.sessions[s].eof || self.sessions[s].gone {
            return Ok(());
        }
        let mut out = Vec::new();
        self.write_pub(s, &mut out);
        self.send(s, &out);
        let c = &self.plan.clients[s];
        if self.sessions[s].seq < c.pubs {
            let at = self.now + c.every_ns;
            self.schedule(at, Ev::Publish(s));
        }
        Ok(())
    }

    /// An impatient client without its PONG closes its socket.
    fn on_impatient(&mut self, s: usize) -> Result<(), Violation> {
        let sess = &mut self.sessions[s];
        if sess.ponged || sess.eof {
            return Ok(());
        }
        sess.gone = true;
        sess.up_fin = true;
        self.book.on_gone(s);
        self.schedule_up(s);
        Ok(())
    }

    fn send(&mut self, s: usize, bytes: &[u8]) {
        if bytes.is_empty() || self.sessions[s].eof || self.sessions[s].gone {
            return;
        }
        self.sessions[s].up.extend_from_slice(bytes);
        self.schedule_up(s);
    }
}

/// What the book needs of an op the node read.
fn processed(op: &Op<'_>) -> Processed {
    match *op {
        Op::Connect(_) => Processed::Connect,
        Op::Sub { subject, .. } => Processed::Sub(String::from_utf8_lossy(subject).into_owned()),
        Op::Pub {
            subject, payload, ..
        } => {
            let seq = std::str::from_utf8(payload)
                .ok()
                .and_then(|p| p.strip_prefix('P'))
                .and_then(|p| p.split('.').nth(1))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Processed::Pub(String::from_utf8_lossy(subject).into_owned(), seq)
        }
        Op::Ping => Processed::Ping,
        _ => Processed::Other,
    }
}

/// The node's options: the configured users (bcrypt), accounts `A` and `B`, the auth
/// timeout, and in `Callout` mode the callout (its `auth_users`: the configured users).
fn options(seed: u64, plan: &AuthPlan) -> Options {
    let users: Vec<User> = plan
        .clients
        .iter()
        .enumerate()
        .filter(|(_, c)| c.decider == Decider::Options)
        .filter_map(|(i, c)| {
            Some(User {
                name: c.user(i)?,
                password: GOOD_HASH.into(),
                permissions: None,
                account: Some(c.account.into()),
                publish_rate: None,
                nkey: None,
            })
        })
        .collect();
    let callout = (plan.mode == Mode::Callout).then(|| CalloutOptions {
        issuer: "ASIMULATEDCALLOUTISSUER".into(),
        account: "A".into(),
        auth_users: users.iter().map(|u| u.name.clone()).collect(),
        xkey: None,
        allowed_accounts: Vec::new(),
        send_reason: false,
        fallback: false,
        // The simulated provider is asked every time (the runtimes' cache is not modelled).
        cache_ttl: None,
    });
    let mut o = Options {
        seed: seed ^ 0xA07B,
        ping_interval: Duration::from_secs(120),
        accounts: ACCOUNTS
            .iter()
            .map(|n| AccountOptions {
                name: n.to_string(),
                ..AccountOptions::default()
            })
            .collect(),
        ..Options::default()
    };
    o.auth.users = users;
    o.auth.timeout = Duration::from_nanos(plan.timeout_ns);
    o.auth.callout = callout;
    o
}
