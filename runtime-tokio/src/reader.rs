//! The reader task of one connection: socket bytes and timers into the core's [`Connection`].
//!
//! It owns the connection state machine. It reads into a buffer that starts small and grows
//! while reads fill it, feeds each chunk to `handle_read_paced` (honouring the core's read
//! pauses and auth waits, `poll_read_pause` and `poll_auth_request`: no socket read
//! meanwhile), fires the connection's one timer (`poll_timeout` → `handle_timeout`), logs the
//! core's events, and stops on the core's `Closed` event, on EOF or a read error, or when
//! the writer cancels the connection's token.
//! When the server reloads its config it bumps a `watch` generation; the reader then runs
//! `handle_config_change` (new limits, keep-alive, re-authentication).

use std::sync::Arc;

use natsd_adapter::events::drain_events;
use natsd_adapter::readbuf::ReadBuf;
use natsd_core::conn::{AuthDecision, Connection};
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock;

/// Runs `f` (a core call that may close `conn`) so that a heavy close, which removes every
/// subscription of the connection (100,000 take a good part of a second in a debug build),
/// does not hold up the other tasks queued on this worker thread: `block_in_place` hands them
/// to another worker first. Only on the multi-thread runtime (it panics on the other).
fn off_worker<R>(conn: &mut Connection, f: impl FnOnce(&mut Connection) -> R) -> R {
    // The count first: it is one field read, the runtime lookup is not (called per read).
    let heavy = natsd_adapter::accept::heavy_close(conn)
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if heavy {
        tokio::task::block_in_place(|| f(conn))
    } else {
        f(conn)
    }
}

/// Feeds one read to the core with flow control: while the connection is paused (a fast
/// producer stalled by a receiver near its `max_pending`, or a CONNECT waiting for its auth
/// decision) it waits, without reading the socket, then offers the rest. A pause is a few
/// ms (the core's `STALL_BUDGET` bounds one read's pauses to 10 ms) and a bcrypt check
/// tens of ms, so the reader's other events simply wait for them.
async fn feed(conn: &mut Connection, bytes: &[u8], sh: &Arc<Shared>) {
    let mut off = 0;
    loop {
        // A read can close the connection (a protocol error), so it may be heavy too.
        match off_worker(conn, |c| {
            c.handle_read_paced(clock::now(), &bytes[off..], sh)
        }) {
            Ok(n) => off += n,
            // Closed; the Closed event ends the reader's loop.
            Err(_) => return,
        }
        if let Some(req) = conn.poll_auth_request() {
            // A bcrypt check: on the blocking pool, never on a worker that moves messages
            // (two clients looping wrong passwords once delayed everyone by up to 2.2 s).
            // The auth callout waits for its service there too.
            let shared = Arc::clone(sh);
            let decision =
                tokio::task::spawn_blocking(move || natsd_adapter::callout::decide(&shared, &req))
                    .await
                    .unwrap_or_else(|_| AuthDecision::reject());
            conn.handle_auth_decision(clock::now(), decision, sh);
            continue;
        }
        match conn.poll_read_pause() {
            Some(until) => tokio::time::sleep_until(clock::to_instant(until)).await,
            None => return,
        }
    }
}

/// A connection's read half.
pub trait Source: AsyncRead + Unpin + Send + 'static {
    /// Waits until the socket has something to read, where the transport can tell
    /// (plain TCP); others return at once.
    fn ready(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

impl Source for tokio::net::tcp::OwnedReadHalf {
    async fn ready(&mut self) -> std::io::Result<()> {
        // Polled readiness keeps the waker in the socket's registration; `readable()`
        // would add a 168-byte waiter to every reader future. Only this task reads.
        let stream: &tokio::net::TcpStream = self.as_ref();
        std::future::poll_fn(|cx| stream.poll_read_ready(cx)).await
    }
}

impl<T: AsyncRead + Unpin + Send + 'static> Source for tokio::io::ReadHalf<T> {
    async fn ready(&mut self) -> std::io::Result<()> {
        // TLS: the session may hold plaintext the socket no longer has.
        Ok(())
    }
}

/// Reads once. On plain TCP the buffer is taken only once the socket is readable, so an
/// idle connection waits without one (see `ReadBuf`).
async fn read(rd: &mut impl Source, buf: &mut ReadBuf) -> std::io::Result<usize> {
    rd.ready().await?;
    rd.read(buf.space()).await
}

/// Runs the reader until the connection is closed. `token` is cancelled by the writer when it
/// stops, or by the server to abort every connection. `reloaded` changes after every config
/// reload.
///
/// `conn` comes boxed: an `async fn` keeps its arguments and the locals they move into apart
/// in its state, so an unboxed `Connection` (then 2 KB) took twice its size in every reader
/// task: the future was 4,768 B, boxed it is under 700 (BENCHMARKS.md, issue 19's fourth
/// session). Keep it small: tokio allocates task cells in 128-byte steps.
pub async fn run(
    mut conn: Box<Connection>,
    mut rd: impl Source,
    sh: Arc<Shared>,
    token: CancellationToken,
    mut reloaded: watch::Receiver<u64>,
) {
    // A reload between the subscription and `accept` is already in the connection's options;
    // a spurious `handle_config_change` is a no-op anyway.
    conn.handle_config_change(clock::now(), &sh);
    if drain_events(&mut conn) {
        return;
    }
    let mut buf = ReadBuf::default();
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600);
    let timer = tokio::time::sleep_until(far);
    tokio::pin!(timer);
    let mut armed = None;
    let mut watching = true;
    let mut fanned = conn.fanned_out();
    loop {
        let deadline = conn.poll_timeout();
        if deadline != armed {
            timer
                .as_mut()
                .reset(deadline.map_or(far, clock::to_instant));
            armed = deadline;
        }
        tokio::select! {
            biased;
            () = token.cancelled() => {
                // The writer stopped (its reason is on the handle) or the server is aborting.
                off_worker(&mut conn, |c| c.handle_close(clock::now(), &sh, CloseReason::ServerShutdown));
            }
            r = read(&mut rd, &mut buf) => match r {
                Ok(0) => off_worker(&mut conn, |c| c.handle_close(clock::now(), &sh, CloseReason::ClientClosed)),
                Ok(n) => {
                    feed(&mut conn, buf.filled(n), &sh).await;
                    buf.after_read(n);
                    let out = conn.fanned_out().wrapping_sub(fanned);
                    fanned = conn.fanned_out();
                    if natsd_adapter::readbuf::fanned_far(n, out) {
                        // The receivers' writers first (see `fanned_far`).
                        tokio::task::yield_now().await;
                    }
                }
                Err(_) => off_worker(&mut conn, |c| c.handle_close(clock::now(), &sh, CloseReason::ReadError)),
            },
            () = &mut timer, if armed.is_some() => {
                armed = None;
                conn.handle_timeout(clock::now(), &sh);
            }
            r = reloaded.changed(), if watching => match r {
                Ok(()) => conn.handle_config_change(clock::now(), &sh),
                // The server handle is gone; no more reloads can come.
                Err(_) => watching = false,
            },
        }
        if drain_events(&mut conn) || conn.is_closed() {
            return;
        }
    }
}
