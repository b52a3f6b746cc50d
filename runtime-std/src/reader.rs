//! The reader thread of one connection: socket bytes and timers into the core's [`Connection`].
//!
//! It owns the connection state machine. It blocks in `read` into a buffer that starts small
//! and grows while reads fill it, feeds each chunk to `handle_read`, logs the core's events,
//! and stops on the core's `Closed` event, on EOF (the writer shutting the socket down looks
//! the same) or a read error.
//!
//! # The timer
//!
//! The connection's one timer (`poll_timeout` → `handle_timeout`) is the socket's read
//! timeout: before each `read` the time left until the deadline is set with
//! `set_read_timeout`. A read either returns bytes or times out with nothing consumed (the OS
//! never hands back part of a read *and* a timeout), so no data is lost. Setting the timeout
//! is a syscall, so it is only re-set when the deadline changes or when the one set is stale
//! by more than [`TIMER_SLACK`] (a busy connection re-arms at most that often; an idle one
//! fires at most that late).

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use natsd_core::conn::{ConnEvent, Connection, LogLevel};
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;
use natsd_core::Time;

use crate::clock;

/// First read buffer size per connection (most connections are small and idle).
const READ_BUF_MIN: usize = 4 * 1024;
/// Largest read buffer: reads that fill the buffer double it up to this.
const READ_BUF_MAX: usize = 64 * 1024;
/// How late a timer may fire because the read timeout was set a while ago.
const TIMER_SLACK: Duration = Duration::from_millis(10);
/// Smallest read timeout we set (a zero timeout means "block forever" to the OS).
const MIN_TIMEOUT: Duration = Duration::from_micros(100);

/// A [`Connection`] that is closed when dropped, whatever happened: the reader finished, its
/// thread could not be spawned (the closure holding it is dropped), or it panicked (a bug).
pub struct ReaderJob {
    conn: Connection,
    sh: Arc<Shared>,
    /// The reason used if the job is dropped before its connection closed.
    drop_reason: CloseReason,
}

impl ReaderJob {
    /// Wraps `conn`; `drop_reason` closes it if the job never runs to the end.
    pub fn new(conn: Connection, sh: Arc<Shared>, drop_reason: CloseReason) -> ReaderJob {
        ReaderJob {
            conn,
            sh,
            drop_reason,
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
    /// The core deadline it stands for (`None`: blocking reads, the socket's initial state).
    deadline: Option<Time>,
    /// When it was set: the timeout counts from each read, so it gets stale.
    set_at: Time,
}

impl ReadTimer {
    /// Makes the socket's read timeout end at `deadline` (within [`TIMER_SLACK`]).
    fn arm(&mut self, s: &TcpStream, deadline: Option<Time>, now: Time) -> io::Result<()> {
        let stale = match (self.deadline, deadline) {
            (None, None) => false,
            (Some(a), Some(b)) if a == b => now.saturating_since(self.set_at) > TIMER_SLACK,
            _ => true,
        };
        if stale {
            s.set_read_timeout(deadline.map(|d| clock::until(d, now).max(MIN_TIMEOUT)))?;
            self.deadline = deadline;
            self.set_at = now;
        }
        Ok(())
    }
}

/// Runs the reader until the connection is closed. The connection closes on the way out.
pub fn run(mut job: ReaderJob, mut stream: &TcpStream) {
    let ReaderJob { conn, sh, .. } = &mut job;
    if drain_events(conn) {
        return;
    }
    let mut buf = vec![0u8; READ_BUF_MIN];
    let mut timer = ReadTimer {
        deadline: None,
        set_at: Time::ZERO,
    };
    loop {
        let now = clock::now();
        let deadline = conn.poll_timeout();
        if deadline.is_some_and(|d| d <= now) {
            conn.handle_timeout(now, sh);
        } else if let Err(e) = timer.arm(stream, deadline, now) {
            tracing::debug!("cid:{} - could not set the read timeout: {e}", conn.cid());
            conn.handle_close(now, sh, CloseReason::ReadError);
        } else {
            match stream.read(&mut buf) {
                Ok(0) => conn.handle_close(clock::now(), sh, CloseReason::ClientClosed),
                Ok(n) => {
                    // Err means closed; the Closed event below ends the loop.
                    let _ = conn.handle_read(clock::now(), &buf[..n], sh);
                    if n == buf.len() && buf.len() < READ_BUF_MAX {
                        buf.resize(buf.len() * 2, 0);
                    }
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

/// A read that timed out (the timer) or was interrupted.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Logs the core's events. Returns true once the connection reported `Closed`.
fn drain_events(conn: &mut Connection) -> bool {
    let mut closed = false;
    while let Some(ev) = conn.poll_event() {
        match ev {
            ConnEvent::Log(level, msg) => log(level, &msg),
            ConnEvent::Closed(_) => closed = true,
        }
    }
    closed
}

/// Sends a core log line to `tracing` at the matching level.
pub fn log(level: LogLevel, msg: &str) {
    match level {
        LogLevel::Debug => tracing::debug!("{msg}"),
        LogLevel::Info => tracing::info!("{msg}"),
        LogLevel::Warn => tracing::warn!("{msg}"),
        LogLevel::Error => tracing::error!("{msg}"),
    }
}
