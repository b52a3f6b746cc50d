//! The worker threads: a small fixed pool, each one a readiness loop (mio's epoll) over the
//! connections it owns. No thread per connection, no async runtime.
//!
//! # A worker's loop
//!
//! Each worker owns a [`Slab`] of [`Conn`]s (`&mut`, no locks) and loops:
//!
//! 1. **mail** ([`Inbox`], the only state other threads touch): new connections, the
//!    connections whose queues the core woke ([`ConnWake`]), auth decisions made off the
//!    worker, a stop;
//! 2. **sleep** in `poll` until a socket is ready, mail is posted (the inbox's `Waker`), or
//!    the earliest timer; never longer than [`IDLE_TICK`], and not at all after mail (only a
//!    look at the sockets, so a worker that keeps getting mail still reads its own);
//! 3. **socket events**: readable → read and feed the core; writable → go on with a write
//!    that filled the socket;
//! 4. **timers** that are due (the core's `poll_timeout`, the end of a read pause, a write
//!    deadline);
//! 5. **turns**: connections that still had bytes to read when their read budget
//!    ([`READS_PER_TURN`]) ran out (sockets are edge-triggered: no new event comes for them).
//!
//! After every step that touched a connection, [`Conn::progress`] writes what its queue holds,
//! logs the core's events, and says whether it is finished; a finished connection is
//! deregistered and dropped at once. A reload (a new options generation) is applied to every
//! connection of the worker at the top of the loop; [`Pool::wake_all`] makes that prompt.
//!
//! # Waking a worker
//!
//! [`Inbox::post`] appends under a mutex, then writes the `Waker` (an eventfd) only if the
//! worker may be asleep (`awake` was false). The worker clears `awake` *before* taking the
//! mail it checks last before sleeping, so a post is either in that mail or wakes the
//! `poll`: none is lost. A [`ConnWake`] posts its connection once until the worker takes it
//! (its `queued` flag), so a receiver woken by many publishers costs one post per turn.
//!
//! # Timers
//!
//! A binary heap of `(deadline, slot, cid)`. A connection arms an entry when its next
//! deadline changes; entries that no longer match the connection's armed deadline (or whose
//! slot now holds another connection) are skipped when they come up. Idle connections cost
//! nothing: no wake-ups, no timers beyond the core's keep-alive PING.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mio::{Events, Poll, Token, Waker};
use natsd_core::client::Notify;
use natsd_core::conn::AuthDecision;
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;
use natsd_core::Time;
use slab::Slab;

use crate::conn::{Conn, NewConn};
use natsd_adapter::clock;

/// The inbox's token (slots are slab keys, far below it).
const WAKER: Token = Token(usize::MAX);
/// A [`ConnWake`] whose connection has no slot yet.
const NO_SLOT: usize = usize::MAX;
/// Socket events taken per `poll`.
const EVENTS: usize = 1024;
/// Reads one connection may do per turn before the others get theirs.
pub const READS_PER_TURN: usize = 16;
/// Longest sleep: a safety net for a reload nobody woke the worker for. Per worker, not per
/// connection, so idle connections still cost no CPU.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Stack of a worker thread (the core's work per read is shallow).
const WORKER_STACK: usize = 1024 * 1024;

/// What other threads hand a worker.
#[derive(Default)]
struct Mail {
    /// Connections to take in (accepted, dialled, or past their TLS handshake).
    new: Vec<NewConn>,
    /// Slots whose queues were woken.
    woken: Vec<usize>,
    /// Auth decisions made off the worker: slot, cid, decision.
    decided: Vec<(usize, u64, AuthDecision)>,
    /// Connections back from a close run off the worker.
    returned: Vec<Conn>,
    /// Leave the loop (the server is gone).
    stop: bool,
}

/// A worker's mailbox: the one part of a worker other threads touch.
pub struct Inbox {
    waker: Waker,
    /// The worker is not about to sleep: posts need not write the eventfd.
    awake: AtomicBool,
    mail: Mutex<Mail>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Mail> {
        // Poisoned only by a panic while held (a bug); the mail is still a list.
        self.mail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands the worker something and wakes it if it may be asleep.
    fn post(&self, f: impl FnOnce(&mut Mail)) {
        f(&mut self.lock());
        if !self.awake.swap(true, Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                // The eventfd is full or gone; the worker's IDLE_TICK still runs the mail.
                tracing::debug!("could not wake a worker: {e}");
            }
        }
    }

    /// A connection for this worker.
    pub fn adopt(&self, c: NewConn) {
        self.post(|m| m.new.push(c));
    }

    /// An auth decision for the connection in `slot` (ignored if `cid` is no longer there).
    pub fn decided(&self, slot: usize, cid: u64, d: AuthDecision) {
        self.post(|m| m.decided.push((slot, cid, d)));
    }
}

/// The core's [`Notify`] for one connection: posts its slot to its worker.
pub struct ConnWake {
    inbox: Arc<Inbox>,
    /// The connection's slot in its worker, [`NO_SLOT`] until the worker took it in.
    slot: AtomicUsize,
    /// Posted and not yet taken by the worker.
    queued: AtomicBool,
}

impl ConnWake {
    /// A wake-up for a connection that `inbox`'s worker will own.
    pub fn new(inbox: Arc<Inbox>) -> ConnWake {
        ConnWake {
            inbox,
            slot: AtomicUsize::new(NO_SLOT),
            queued: AtomicBool::new(false),
        }
    }

    /// The worker this connection belongs to.
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// The worker took the connection in at `slot` (it runs the connection right after, so
    /// wake-ups before this are not lost).
    pub fn placed(&self, slot: usize) {
        self.slot.store(slot, Ordering::Release);
        self.queued.store(false, Ordering::Release);
    }

    /// The worker is about to drain the queue: the next wake-up must post again.
    pub fn taken(&self) {
        self.queued.store(false, Ordering::Release);
    }

    /// The connection left its slot: later wake-ups go nowhere.
    pub fn removed(&self) {
        self.slot.store(NO_SLOT, Ordering::Release);
    }
}

impl Notify for ConnWake {
    fn notify(&self) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let slot = self.slot.load(Ordering::Acquire);
        if slot != NO_SLOT {
            self.inbox.post(|m| m.woken.push(slot));
        }
    }
}

/// The worker threads.
pub struct Pool {
    inboxes: Vec<Arc<Inbox>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.inboxes.len())
            .finish()
    }
}

impl Pool {
    /// Starts `n` workers (at least one).
    pub fn start(n: usize, shared: &Arc<Shared>) -> io::Result<Pool> {
        let mut pool = Pool {
            inboxes: Vec::new(),
            threads: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
        };
        for i in 0..n.max(1) {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            let inbox = Arc::new(Inbox {
                waker,
                awake: AtomicBool::new(false),
                mail: Mutex::new(Mail::default()),
            });
            let worker = Worker {
                poll,
                inbox: Arc::clone(&inbox),
                shared: Arc::clone(shared),
                conns: Slab::new(),
                timers: BinaryHeap::new(),
                turns: Vec::new(),
                generation: shared.options_generation(),
            };
            let t = thread::Builder::new()
                .name(format!("natsd-worker-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || worker.run())?;
            pool.inboxes.push(inbox);
            pool.threads
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .push(t);
        }
        Ok(pool)
    }

    /// The worker for the next connection (round robin).
    pub fn pick(&self) -> Arc<Inbox> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.inboxes.len();
        Arc::clone(&self.inboxes[i])
    }

    /// Wakes every worker (after a reload, so idle connections see it at once).
    pub fn wake_all(&self) {
        for i in &self.inboxes {
            i.post(|_| {});
        }
    }

    /// Tells the workers to stop; their connections are closed as they go (`Drop`).
    /// With `wait`, joins them.
    pub fn stop(&self, wait: bool) {
        for i in &self.inboxes {
            i.post(|m| m.stop = true);
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            if wait {
                // A panic there was a bug, already reported by the panic hook.
                let _ = t.join();
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop(false);
    }
}

/// One worker thread's state.
struct Worker {
    poll: Poll,
    inbox: Arc<Inbox>,
    shared: Arc<Shared>,
    conns: Slab<Conn>,
    /// `(deadline, slot, cid)`, earliest first.
    timers: BinaryHeap<Reverse<(Time, usize, u64)>>,
    /// Slots whose read budget ran out with bytes maybe left.
    turns: Vec<usize>,
    /// The options generation the connections have applied.
    generation: u64,
}

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            self.reload_if_changed();
            // See "Waking a worker": clear `awake`, then the last look at the mail.
            self.inbox.awake.store(false, Ordering::SeqCst);
            let mail = std::mem::take(&mut *self.inbox.lock());
            if mail.stop {
                return;
            }
            let had_mail = !(mail.new.is_empty()
                && mail.woken.is_empty()
                && mail.decided.is_empty()
                && mail.returned.is_empty());
            if had_mail {
                self.inbox.awake.store(true, Ordering::SeqCst);
                self.handle_mail(mail);
            }
            // With work done or owed, only a look at the sockets: never sleep. Mail does not
            // loop back before the sockets either: a worker posted to without a pause (the
            // other worker's publishers waking its receivers) would never read its own.
            let timeout = if had_mail || !self.turns.is_empty() {
                Duration::ZERO
            } else {
                self.sleep_for(clock::now())
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    // epoll_wait only fails on a bad descriptor or memory: a bug.
                    tracing::error!("worker poll failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            self.inbox.awake.store(true, Ordering::SeqCst);
            for ev in events.iter() {
                let slot = ev.token().0;
                if ev.token() == WAKER {
                    continue; // the mail is read at the top of the loop
                }
                let (readable, writable) = (
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable() || ev.is_write_closed(),
                );
                self.with(slot, None, |c, sh, turns| {
                    if writable {
                        c.on_writable();
                    }
                    if readable && c.on_readable(sh, slot) {
                        turns.push(slot);
                    }
                });
            }
            self.run_timers();
            for slot in std::mem::take(&mut self.turns) {
                self.with(slot, None, |c, sh, turns| {
                    if c.on_readable(sh, slot) {
                        turns.push(slot);
                    }
                });
            }
        }
    }

    /// How long `poll` may sleep: until the earliest timer, at most [`IDLE_TICK`].
    fn sleep_for(&self, now: Time) -> Duration {
        match self.timers.peek() {
            Some(Reverse((t, _, _))) => clock::until(*t, now).min(IDLE_TICK),
            None => IDLE_TICK,
        }
    }

    fn handle_mail(&mut self, mail: Mail) {
        for nc in mail.new {
            let entry = self.conns.vacant_entry();
            let slot = entry.key();
            // `None`: could not register (logged); dropping it closed the connection.
            if let Some(c) = Conn::adopt(nc, self.poll.registry(), slot, &self.shared) {
                entry.insert(c);
                // First run: INFO out, and bytes a TLS session already holds (or that came
                // before the registration) in.
                self.with(slot, None, |c, _, turns| {
                    c.on_woken();
                    turns.push(slot);
                });
            }
        }
        for mut c in mail.returned {
            let entry = self.conns.vacant_entry();
            let slot = entry.key();
            if c.attach(self.poll.registry(), slot) {
                entry.insert(c);
                self.with(slot, None, |c, _, _| c.on_woken());
            }
        }
        for slot in mail.woken {
            self.with(slot, None, |c, _, _| c.on_woken());
        }
        for (slot, cid, d) in mail.decided {
            let mut d = Some(d);
            self.with(slot, Some(cid), |c, sh, turns| {
                if let Some(d) = d.take() {
                    if c.on_decision(sh, d, slot) {
                        turns.push(slot);
                    }
                }
            });
        }
    }

    /// Runs `f` on the connection in `slot` (if `cid` is given, only if it is still that
    /// connection), then lets it make progress: arms its next timer, or removes it once
    /// finished.
    fn with(
        &mut self,
        slot: usize,
        cid: Option<u64>,
        f: impl FnOnce(&mut Conn, &Arc<Shared>, &mut Vec<usize>),
    ) {
        let Some(c) = self.conns.get_mut(slot) else {
            return; // a stale wake-up or event for a connection already gone
        };
        if cid.is_some_and(|cid| cid != c.cid()) {
            return;
        }
        f(c, &self.shared, &mut self.turns);
        if let Some(reason) = c.take_heavy_close() {
            let mut c = self.conns.remove(slot);
            c.detach(self.poll.registry());
            self.close_off_worker(c, reason);
            return;
        }
        if c.progress(&self.shared) {
            let c = self.conns.remove(slot);
            c.finish(self.poll.registry());
            return;
        }
        if let Some(t) = c.rearm() {
            self.timers.push(Reverse((t, slot, c.cid())));
        }
    }

    /// Runs a heavy close on a thread of its own, then takes the connection back (to flush
    /// and finish). If no thread can be spawned the connection is dropped, which closes it
    /// here.
    fn close_off_worker(&self, mut c: Conn, reason: CloseReason) {
        let (inbox, sh) = (Arc::clone(&self.inbox), Arc::clone(&self.shared));
        let spawned = thread::Builder::new()
            .name("natsd-close".into())
            .stack_size(WORKER_STACK)
            .spawn(move || {
                c.close_heavy(&sh, reason);
                inbox.post(|m| m.returned.push(c));
            });
        if let Err(e) = spawned {
            tracing::error!("could not spawn a thread to close a connection: {e}");
        }
    }

    /// Fires every timer that is due.
    fn run_timers(&mut self) {
        let now = clock::now();
        while let Some(Reverse((t, slot, cid))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let live = self
                .conns
                .get(slot)
                .is_some_and(|c| c.cid() == cid && c.armed() == Some(t));
            if live {
                self.with(slot, Some(cid), |c, sh, turns| {
                    if c.on_timer(sh, now, slot) {
                        turns.push(slot);
                    }
                });
            }
        }
    }

    /// Applies a reload to every connection of this worker.
    fn reload_if_changed(&mut self) {
        let g = self.shared.options_generation();
        if g == self.generation {
            return;
        }
        self.generation = g;
        let slots: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for slot in slots {
            self.with(slot, None, |c, sh, _| c.on_config_change(sh, g));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // The server is gone: every connection left closes now (its `Drop` tells the core).
        for (_, c) in self.conns.iter() {
            c.handle().close_now(CloseReason::ServerShutdown);
        }
    }
}
