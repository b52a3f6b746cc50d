//! One connection on a worker: its non-blocking socket (plain or TLS), the core's
//! [`Connection`], and the writer's buffers. Driven by the worker (`poller`), one call per
//! event, each followed by [`Conn::progress`] and [`Conn::rearm`].
//!
//! # Contract
//!
//! Event calls, any order, each then `progress` (and `rearm` unless finished):
//!
//! - [`on_readable`](Conn::on_readable): the socket may have bytes. Reads (at most
//!   `READS_PER_TURN` times) and feeds the core with flow control: a read pause or a CONNECT
//!   waiting for its auth decision holds the rest of the read in `held` and stops reading
//!   (TCP pushes back). Returns true if the budget ran out with bytes maybe left: the worker
//!   gives it another turn (edge-triggered sockets send no new event for them).
//! - [`on_writable`](Conn::on_writable): a write that filled the socket may go on.
//! - [`on_woken`](Conn::on_woken): the core queued bytes or closed the queue.
//! - [`on_timer`](Conn::on_timer): the deadline from `rearm` came (the core's timer, the end of
//!   a read pause, the write deadline). Returns as `on_readable` (a pause ended: reads resume).
//! - [`on_decision`](Conn::on_decision): the auth decision made off the worker. Returns as
//!   `on_readable`.
//! - [`on_config_change`](Conn::on_config_change): the options generation moved.
//!
//! [`progress`](Conn::progress) writes what the queue holds (until the socket is full: the
//! rest goes on when writable), closes the core's side when the writer ended first, logs the
//! core's events, and returns true once both sides are done: the worker then calls
//! [`finish`](Conn::finish) (close_notify, FIN, deregister) and drops it.
//!
//! The write path makes the same decisions as the tokio runtime's writer
//! (`natsd_adapter::drain`): the whole drained buffer within the write deadline, a missed
//! deadline closing the client as a slow consumer, "close now" aborting a stuck write, a
//! closing queue's last bytes behind the current ones.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use natsd_core::client::ClientHandle;
use natsd_core::conn::{AuthDecision, AuthRequest, Connection};
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;
use natsd_core::Time;
use rustls::ServerConnection;

use crate::poller::{ConnWake, READS_PER_TURN};

use crate::tracker::Tracked;
use natsd_adapter::clock;
use natsd_adapter::drain::{self, DeadlineCache, Outbox, Step, WriteEnd};
use natsd_adapter::events::drain_events;
use natsd_adapter::readbuf::ReadBuf;

/// A [`Connection`] that is closed when dropped, whatever happened: finished, never taken in
/// by a worker (the server stopped), a TLS start that failed to hand it over, or a panic.
pub struct Job {
    conn: Connection,
    sh: Arc<Shared>,
}

impl Job {
    /// Wraps a connection just made by `Connection::accept` (or a route's constructor).
    pub fn new(conn: Connection, sh: Arc<Shared>) -> Job {
        Job { conn, sh }
    }

    /// The connection, for the TLS start (before a worker takes it in).
    pub fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // While unwinding from a bug, stay out of the core: a second panic would abort.
        if !self.conn.is_closed() && !std::thread::panicking() {
            self.conn
                .handle_close(clock::now(), &self.sh, CloseReason::ServerShutdown);
            drain_events(&mut self.conn);
        }
    }
}

/// A connection on its way to a worker.
pub struct NewConn {
    /// The core's connection.
    pub job: Job,
    /// The socket (blocking until the worker takes it in).
    pub stream: std::net::TcpStream,
    /// The TLS session, once the handshake is done.
    pub tls: Option<Box<ServerConnection>>,
    /// The connection's wake-up, registered with the core.
    pub wake: Arc<ConnWake>,
    /// The client's address (log lines).
    pub peer: SocketAddr,
    /// The options generation read before the connection was made.
    pub generation: u64,
    /// Counts the connection in for shutdown.
    pub guard: Tracked,
}

/// A connection a worker owns.
pub struct Conn {
    job: Job,
    sock: TcpStream,
    tls: Option<Box<ServerConnection>>,
    ctx: drain::WriterCtx<ConnWake>,
    rbuf: ReadBuf,
    /// Bytes read that the core has not taken yet (a read pause or an auth wait).
    held: Vec<u8>,
    /// Read pause: no reads, no feeding, until then.
    paused_until: Option<Time>,
    /// A CONNECT's auth decision is being made off the worker.
    deciding: bool,
    out: Outbox,
    /// How much of `out.pending()` is written (plain), or handed to the TLS session.
    off: usize,
    /// When the buffer being written was taken, while it is not fully written.
    writing: Option<Time>,
    /// The write deadline in force for that buffer.
    write_deadline: Duration,
    deadlines: DeadlineCache,
    /// The queue was woken (or the session has records to send): write before sleeping.
    want_write: bool,
    /// The writer's side ended (queue finished or aborted, deadline, write error).
    writer_done: bool,
    /// The options generation applied.
    generation: u64,
    /// The timer the worker holds for this connection.
    armed: Option<Time>,
    /// A close the worker should run off its thread (`natsd_adapter::accept::heavy_close`).
    heavy_close: Option<CloseReason>,
    _guard: Tracked,
}

impl Conn {
    /// Takes `nc` in at `slot`: non-blocking socket, registered for both directions
    /// (edge-triggered, so never re-registered while in the poller). `None` (logged; the
    /// connection closes) if the socket could not be set up.
    pub fn adopt(nc: NewConn, registry: &Registry, slot: usize, sh: &Shared) -> Option<Conn> {
        let NewConn {
            mut job,
            stream,
            tls,
            wake,
            peer,
            generation,
            guard,
        } = nc;
        if let Err(e) = stream.set_nonblocking(true) {
            let cid = job.conn.cid();
            tracing::error!("{peer} - cid:{cid} - could not make the socket non-blocking: {e}");
            return None;
        }
        let current = sh.options_generation();
        if current != generation {
            job.conn.handle_config_change(clock::now(), sh);
        }
        let handle = Arc::clone(job.conn.handle());
        let mut c = Conn {
            ctx: drain::WriterCtx {
                handle,
                wake,
                shared: Arc::clone(&job.sh),
                peer,
            },
            job,
            sock: TcpStream::from_std(stream),
            tls,
            rbuf: ReadBuf::default(),
            held: Vec::new(),
            paused_until: None,
            deciding: false,
            out: Outbox::default(),
            off: 0,
            writing: None,
            write_deadline: Duration::ZERO,
            deadlines: DeadlineCache::default(),
            want_write: true,
            writer_done: false,
            generation: current,
            armed: None,
            heavy_close: None,
            _guard: guard,
        };
        // Dropped if not registered: its `Job` closes the connection.
        c.attach(registry, slot).then_some(c)
    }

    /// The connection's id.
    pub fn cid(&self) -> u64 {
        self.job.conn.cid()
    }

    /// Its outbound queue.
    pub fn handle(&self) -> &Arc<ClientHandle> {
        self.job.conn.handle()
    }

    /// The deadline the worker's timer holds for it.
    pub fn armed(&self) -> Option<Time> {
        self.armed
    }

    /// Reads (no more while paused, deciding, or closed) and feeds the core. Returns true
    /// if the read budget ran out with bytes maybe left.
    pub fn on_readable(&mut self, sh: &Arc<Shared>, slot: usize) -> bool {
        for _ in 0..READS_PER_TURN {
            if self.blocked() {
                return false;
            }
            let want = self.rbuf.len();
            let n = match read_some(&mut self.sock, self.tls.as_deref_mut(), self.rbuf.space()) {
                Ok(0) => {
                    self.close(sh, CloseReason::ClientClosed);
                    return false;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.rbuf.drained();
                    return false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(sh, CloseReason::ReadError);
                    return false;
                }
            };
            let bytes = self.rbuf.filled(n);
            let (took, block) = offer(&mut self.job.conn, bytes, sh);
            if took < n {
                self.held.extend_from_slice(&bytes[took..]);
            }
            self.rbuf.after_read(n);
            self.block(block, sh, slot);
            // A short plain read drained the socket (epoll reports the next bytes anew),
            // which saves the read that would say WouldBlock. TLS reads go on until then:
            // the session may hold plaintext without the socket having any.
            if n < want && self.tls.is_none() {
                return false;
            }
        }
        !self.blocked()
    }

    /// The socket has room again.
    pub fn on_writable(&mut self) {
        self.want_write |= self.writing.is_some() || self.tls_wants_write();
    }

    /// The core queued bytes or closed the queue. While a write is stuck on a full socket,
    /// new bytes stay queued in the core (that is what `max_pending` counts), but "close now"
    /// aborts the write and a closing queue's last bytes go behind it.
    pub fn on_woken(&mut self) {
        self.ctx.wake.taken();
        self.want_write = true;
        if self.writing.is_some() && !self.writer_done {
            let (_, mut closing) = self.out.split();
            if !closing.woken(&self.ctx.handle) {
                self.writer_done = true;
            }
        }
    }

    /// The armed deadline came. Returns as [`on_readable`](Self::on_readable).
    pub fn on_timer(&mut self, sh: &Arc<Shared>, now: Time, slot: usize) -> bool {
        self.armed = None;
        if let Some(start) = self.writing {
            if !self.writer_done && now >= start + self.write_deadline {
                let end = WriteEnd::Deadline;
                self.ctx
                    .after_write(end, &mut self.out, self.write_deadline);
                self.writer_done = true;
            }
        }
        if self.core_timer().is_some_and(|t| t <= now) {
            self.job.conn.handle_timeout(now, sh);
        }
        if self.paused_until.is_some_and(|t| t <= now) {
            self.paused_until = None;
            return self.resume(sh, slot);
        }
        false
    }

    /// The auth decision for the CONNECT that asked. Returns as
    /// [`on_readable`](Self::on_readable).
    pub fn on_decision(&mut self, sh: &Arc<Shared>, d: AuthDecision, slot: usize) -> bool {
        self.deciding = false;
        self.job.conn.handle_auth_decision(clock::now(), d, sh);
        self.resume(sh, slot)
    }

    /// A reload: new limits, keep-alive, re-authentication.
    pub fn on_config_change(&mut self, sh: &Arc<Shared>, generation: u64) {
        if self.generation != generation {
            self.generation = generation;
            self.job.conn.handle_config_change(clock::now(), sh);
        }
    }

    /// Writes what is queued, follows the other side's end, logs the core's events. True
    /// once the connection is finished (both sides done).
    pub fn progress(&mut self, sh: &Arc<Shared>) -> bool {
        if self.want_write || (self.job.conn.is_closed() && !self.writer_done) {
            self.want_write = false;
            self.write_out(sh);
        }
        if self.writer_done && !self.job.conn.is_closed() {
            // The writer stopped first; the core takes the reason already on the queue.
            self.job
                .conn
                .handle_close(clock::now(), sh, CloseReason::ClientClosed);
        }
        drain_events(&mut self.job.conn);
        self.writer_done && self.job.conn.is_closed()
    }

    /// The next deadline if it changed since the last call (the worker arms a timer for it).
    pub fn rearm(&mut self) -> Option<Time> {
        let write = self
            .writing
            .filter(|_| !self.writer_done)
            .map(|t| t + self.write_deadline);
        let next = [self.core_timer(), self.paused_until, write]
            .into_iter()
            .flatten()
            .min();
        if next == self.armed {
            return None;
        }
        self.armed = next;
        next
    }

    /// Both sides are done: close_notify under TLS, FIN, out of the poller.
    pub fn finish(mut self, registry: &Registry) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            // Best effort, like the FIN after it: the client may be gone.
            let _ = flush_tls(tls, &mut self.sock);
        }
        let _ = self.sock.shutdown(Shutdown::Both);
        self.detach(registry);
    }

    /// The core's timer, held while an auth decision is made: the decision is bounded by
    /// the auth timeout itself (`callout::decide`), and a callout that never answers must
    /// refuse the client as Go does ("Authorization Violation"), not time it out first. The
    /// tokio runtime and the old threads did the same by waiting for the decision in line.
    fn core_timer(&self) -> Option<Time> {
        if self.deciding {
            return None;
        }
        self.job.conn.poll_timeout()
    }

    /// No reading now: paused, deciding, or closed.
    fn blocked(&self) -> bool {
        self.paused_until.is_some() || self.deciding || self.job.conn.is_closed()
    }

    /// The client went away (EOF, read error). A connection with many subscriptions is
    /// closed off the worker instead (`natsd_adapter::accept::heavy_close`); closes the core
    /// decides itself (a protocol error, a keep-alive timeout, a reload) still run in line.
    fn close(&mut self, sh: &Shared, reason: CloseReason) {
        if natsd_adapter::accept::heavy_close(&self.job.conn) {
            self.heavy_close = Some(reason);
        } else {
            self.job.conn.handle_close(clock::now(), sh, reason);
        }
    }

    /// A close to run off the worker, if one is due. The worker then [`detach`](Self::detach)es
    /// the connection, runs [`close_heavy`](Self::close_heavy) on another thread, and takes it
    /// back in with [`attach`](Self::attach) to flush and finish.
    pub fn take_heavy_close(&mut self) -> Option<CloseReason> {
        self.heavy_close.take()
    }

    /// Out of the poller (for a while, or for good from [`finish`](Self::finish)).
    pub fn detach(&mut self, registry: &Registry) {
        if let Err(e) = registry.deregister(&mut self.sock) {
            tracing::debug!("cid:{} - could not deregister the socket: {e}", self.cid());
        }
        self.ctx.wake.removed();
        self.armed = None;
    }

    /// Back in the poller at `slot`. False (logged) if the socket could not be registered:
    /// the caller drops the connection.
    pub fn attach(&mut self, registry: &Registry, slot: usize) -> bool {
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = registry.register(&mut self.sock, Token(slot), interest) {
            let (peer, cid) = (self.ctx.peer, self.cid());
            tracing::error!("{peer} - cid:{cid} - could not register the socket: {e}");
            return false;
        }
        self.ctx.wake.placed(slot);
        self.want_write = true;
        true
    }

    /// The close itself, on a thread of its own.
    pub fn close_heavy(&mut self, sh: &Shared, reason: CloseReason) {
        self.job.conn.handle_close(clock::now(), sh, reason);
    }

    /// Acts on why `offer` stopped.
    fn block(&mut self, block: Block, sh: &Arc<Shared>, slot: usize) {
        match block {
            Block::None => {}
            Block::Paused(until) => self.paused_until = Some(until),
            Block::Auth(req) => {
                self.deciding = true;
                decide_off_worker(&mut self.job.conn, req, &self.ctx.wake, sh, slot);
            }
        }
    }

    /// A pause ended or a decision came: the held bytes first, then the socket.
    fn resume(&mut self, sh: &Arc<Shared>, slot: usize) -> bool {
        if self.blocked() {
            return false;
        }
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            let (took, block) = offer(&mut self.job.conn, &held, sh);
            if took < held.len() {
                self.held = held[took..].to_vec();
            }
            self.block(block, sh, slot);
        }
        self.on_readable(sh, slot)
    }

    fn tls_wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Drains the queue into the socket until it is empty or the socket is full.
    fn write_out(&mut self, sh: &Shared) {
        while !self.writer_done {
            if self.writing.is_none() {
                match self.out.take(&self.ctx.handle) {
                    Step::Write => {
                        self.writing = Some(clock::now());
                        self.write_deadline = self.deadlines.get(sh);
                        self.off = 0;
                    }
                    Step::Wait => {
                        // Records the session made on its own (a key update's answer).
                        if let Some(tls) = self.tls.as_deref_mut() {
                            if let Err(e) = flush_tls(tls, &mut self.sock) {
                                self.write_failed(&e);
                            }
                        }
                        return;
                    }
                    Step::Finish | Step::Abort => {
                        self.writer_done = true;
                        return;
                    }
                }
            }
            let pending = self.out.pending();
            match push(
                &mut self.sock,
                self.tls.as_deref_mut(),
                pending,
                &mut self.off,
            ) {
                Ok(true) => {
                    self.writing = None;
                    let dl = self.write_deadline;
                    self.ctx.after_write(WriteEnd::Done, &mut self.out, dl);
                }
                // Full: the writable event (or the deadline) goes on from here.
                Ok(false) => return,
                Err(e) => self.write_failed(&e),
            }
        }
    }

    fn write_failed(&mut self, e: &io::Error) {
        tracing::debug!(
            "{} - cid:{} - Error flushing: {e}",
            self.ctx.peer,
            self.ctx.handle.cid
        );
        let dl = self.write_deadline;
        self.ctx.after_write(WriteEnd::Failed, &mut self.out, dl);
        self.writer_done = true;
    }
}

/// Why [`offer`] stopped short of the end of its bytes.
enum Block {
    None,
    /// A read pause until then.
    Paused(Time),
    /// A CONNECT whose decision must be made off the worker (boxed: rare, and large).
    Auth(Box<AuthRequest>),
}

/// Offers `bytes` to the core. Returns how many it took and why it stopped (a closed
/// connection takes everything: the rest is dropped).
fn offer(conn: &mut Connection, bytes: &[u8], sh: &Shared) -> (usize, Block) {
    let took = match conn.handle_read_paced(clock::now(), bytes, sh) {
        Ok(n) => n,
        Err(_) => return (bytes.len(), Block::None),
    };
    if let Some(req) = conn.poll_auth_request() {
        return (took, Block::Auth(Box::new(req)));
    }
    match conn.poll_read_pause() {
        Some(until) => (took, Block::Paused(until)),
        // Not paused: the core took every op (it stops short only to pause).
        None => (bytes.len(), Block::None),
    }
}

/// A bcrypt check or an auth callout, which may take a while: on a thread of its own (the
/// worker serves everyone else meanwhile); the decision comes back through the worker's
/// inbox. A thread that cannot be spawned refuses the client.
fn decide_off_worker(
    conn: &mut Connection,
    req: Box<AuthRequest>,
    wake: &Arc<ConnWake>,
    sh: &Arc<Shared>,
    slot: usize,
) {
    let (inbox, shared, cid) = (Arc::clone(wake.inbox()), Arc::clone(sh), conn.cid());
    let spawned = std::thread::Builder::new()
        .name("natsd-auth".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let d = natsd_adapter::callout::decide(&shared, &req);
            inbox.decided(slot, cid, d);
        });
    if let Err(e) = spawned {
        tracing::error!("cid:{cid} - could not spawn an auth thread: {e}");
        conn.handle_auth_decision(clock::now(), AuthDecision::reject(), sh);
    }
}

/// One read of plaintext: from the socket, or out of the TLS session (which reads the socket
/// when it has nothing). `Ok(0)` at EOF or the client's close_notify.
fn read_some(
    sock: &mut TcpStream,
    tls: Option<&mut ServerConnection>,
    buf: &mut [u8],
) -> io::Result<usize> {
    let Some(tls) = tls else {
        return sock.read(buf);
    };
    loop {
        match tls.reader().read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if tls.read_tls(sock)? == 0 {
            return Ok(0);
        }
        tls.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
}

/// Writes `buf[*off..]`. `Ok(true)` when all of it is out, `Ok(false)` when the socket is
/// full. Under TLS the whole buffer is sealed at once and the records are flushed.
fn push(
    sock: &mut TcpStream,
    tls: Option<&mut ServerConnection>,
    buf: &[u8],
    off: &mut usize,
) -> io::Result<bool> {
    if let Some(tls) = tls {
        if *off < buf.len() {
            tls.writer().write_all(&buf[*off..])?;
            *off = buf.len();
        }
        return flush_tls(tls, sock);
    }
    while *off < buf.len() {
        match sock.write(&buf[*off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Writes the session's records. `Ok(true)` when none are left.
fn flush_tls(tls: &mut ServerConnection, sock: &mut TcpStream) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
