//! The reader thread of one connection: socket bytes and timers into the core's [`Connection`].
//!
//! It owns the connection state machine. It blocks in `read` into a buffer that starts small
//! and grows while reads fill it, feeds each chunk to `handle_read_paced` (sleeping through
//! the core's read pauses, see [`feed`]), logs the core's events,
//! and stops on the core's `Closed` event, on EOF (the writer shutting the socket down looks
//! the same) or a read error.
//!
//! # The timer
//!
//! The connection's one timer (`poll_timeout` → `handle_timeout`) is the socket's read
//! timeout: before each `read` the time left until the deadline is set with
//! `set_read_timeout`. A read either returns bytes or times out with nothing consumed (the OS
//! never hands back part of a read *and* a timeout), so no data is lost. Setting the timeout
//! is a syscall, so it is only re-set when the one set would fire more than [`TIMER_SLACK`]
//! late or early (a busy connection with a steady deadline never re-sets it).
//!
//! # Config reload
//!
//! After every read and every timeout the reader compares the options generation with the
//! one it last saw (one atomic load) and runs `handle_config_change` when it moved. A blocked
//! `read` cannot be woken from outside, so the read timeout is never longer than
//! [`RELOAD_CHECK`]: an idle connection acts on a reload (a removed user is disconnected,
//! new limits apply) at most [`RELOAD_CHECK`] after [`Server::reload`](crate::Server::reload)
//! returns, at the price of one timed-out read per idle connection per [`RELOAD_CHECK`].

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use natsd_core::conn::Connection;
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;
use natsd_core::Time;

use natsd_adapter::clock;
use natsd_adapter::events::drain_events;

/// How late (or early) a timer may fire because the read timeout was set a while ago.
const TIMER_SLACK: Duration = Duration::from_millis(10);
/// Longest read timeout: the bound on how long an idle connection takes to see a reload.
pub const RELOAD_CHECK: Duration = Duration::from_millis(100);
/// Smallest read timeout we set (a zero timeout means "block forever" to the OS).
const MIN_TIMEOUT: Duration = Duration::from_micros(100);

/// A [`Connection`] that is closed when dropped, whatever happened: the reader finished, its
/// thread could not be spawned (the closure holding it is dropped), or it panicked (a bug).
pub struct ReaderJob {
    conn: Connection,
    sh: Arc<Shared>,
    /// The reason used if the job is dropped before its connection closed.
    drop_reason: CloseReason,
    /// The options generation the connection has applied.
    generation: u64,
}

impl ReaderJob {
    /// The connection, for the runtime's start of a TLS client (before [`run`]).
    pub fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Wraps `conn`; `drop_reason` closes it if the job never runs to the end. `generation`
    /// is the options generation read *before* `Connection::accept` (a reload after it is
    /// applied by the reader; one before is already in the options `accept` read).
    pub fn new(
        conn: Connection,
        sh: Arc<Shared>,
        drop_reason: CloseReason,
        generation: u64,
    ) -> ReaderJob {
        ReaderJob {
            conn,
            sh,
            drop_reason,
            generation,
        }
    }
}

impl Drop for ReaderJob {
    fn drop(&mut self) {
        // While unwinding from a bug, stay out of the core: a second panic would abort.
        if !self.conn.is_closed() && !std::thread::panicking() {
            self.conn
                .handle_close(clock::now(), &self.sh, self.drop_reason);
            drain_events(&mut self.conn);
        }
    }
}

/// The armed socket read timeout.
struct ReadTimer {
    /// The timeout on the socket (`None`: blocking reads, the socket's initial state).
    set: Option<Duration>,
}

impl ReadTimer {
    /// Makes the socket's read timeout end at `deadline` (within [`TIMER_SLACK`]), and never
    /// later than [`RELOAD_CHECK`] from now.
    fn arm(&mut self, s: &TcpStream, deadline: Option<Time>, now: Time) -> io::Result<()> {
        let want = deadline.map_or(RELOAD_CHECK, |d| {
            clock::until(d, now).clamp(MIN_TIMEOUT, RELOAD_CHECK)
        });
        let stale = match self.set {
            None => true,
            Some(set) => set > want + TIMER_SLACK || set + TIMER_SLACK < want,
        };
        if stale {
            s.set_read_timeout(Some(want))?;
            self.set = Some(want);
        }
        Ok(())
    }
}

/// Runs the reader until the connection is closed. The connection closes on the way out.
/// `stream` is the socket (its read timeout is the timer); `rd` reads the client's bytes
/// from it: the socket itself, or a TLS session over it.
pub fn run(mut job: ReaderJob, stream: &TcpStream, rd: &mut dyn Read) {
    let ReaderJob {
        conn,
        sh,
        generation: seen,
        ..
    } = &mut job;
    if drain_events(conn) {
        return;
    }
    let mut buf = natsd_adapter::readbuf::ReadBuf::default();
    let mut timer = ReadTimer { set: None };
    loop {
        let now = clock::now();
        let deadline = conn.poll_timeout();
        let generation = sh.options_generation();
        if generation != *seen {
            *seen = generation;
            conn.handle_config_change(now, sh);
        } else if deadline.is_some_and(|d| d <= now) {
            conn.handle_timeout(now, sh);
        } else if let Err(e) = timer.arm(stream, deadline, now) {
            tracing::debug!("cid:{} - could not set the read timeout: {e}", conn.cid());
            conn.handle_close(now, sh, CloseReason::ReadError);
        } else {
            match rd.read(buf.space()) {
                Ok(0) => conn.handle_close(clock::now(), sh, CloseReason::ClientClosed),
                Ok(n) => {
                    feed(conn, buf.filled(n), sh);
                    buf.after_read(n);
                }
                // The timer (checked at the top of the loop) or a signal.
                Err(e) if is_retry(&e) => {}
                Err(_) => conn.handle_close(clock::now(), sh, CloseReason::ReadError),
            }
        }
        if drain_events(conn) || conn.is_closed() {
            return;
        }
    }
}

/// Feeds one read to the core with flow control: while the connection is paused (a fast
/// producer stalled by a receiver near its `max_pending`) the thread sleeps, reading nothing
/// (TCP pushes back), then offers the rest; a CONNECT waiting for a bcrypt check is decided
/// on this thread, then the rest is offered. The core bounds one read's pauses to 10 ms.
fn feed(conn: &mut Connection, bytes: &[u8], sh: &Shared) {
    let mut off = 0;
    loop {
        match conn.handle_read_paced(clock::now(), &bytes[off..], sh) {
            Ok(n) => off += n,
            // Closed; the Closed event ends the reader's loop.
            Err(_) => return,
        }
        if let Some(req) = conn.poll_auth_request() {
            // A bcrypt check. This thread serves only this connection, so it decides here;
            // the OS shares the cores fairly with everyone else's threads.
            let decision = natsd_adapter::callout::decide(sh, &req);
            conn.handle_auth_decision(clock::now(), decision, sh);
            continue;
        }
        match conn.poll_read_pause() {
            Some(until) => std::thread::sleep(clock::until(until, clock::now())),
            None => return,
        }
    }
}

/// A read that timed out (the timer) or was interrupted.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
