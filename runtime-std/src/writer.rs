//! The writer thread of one connection: drains the client's outbound queue into the socket.
//!
//! Woken through [`Wake`] (the core's [`Notify`]). Each drained buffer is written whole (one
//! `write` per kernel-accepted chunk, never one per message) within the write deadline; a
//! write that misses it closes the client as a slow consumer. When the writer is done (queue
//! closed, deadline, write error) it shuts the socket down both ways, which makes the reader's
//! blocking `read` return, so the reader stops too.
//!
//! Same semantics as `natsd-tokio`'s writer. The one difference: a blocking `write` cannot be
//! raced against a wake-up, so the socket's write timeout is a short slice
//! ([`WRITE_SLICE`]) and between slices the writer checks the deadline and its wake-ups.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use natsd_core::client::Notify;
use natsd_core::errors::CloseReason;

use natsd_adapter::drain::{self, Closing, DeadlineCache, Outbox, Step, WriteEnd};
/// Longest a single blocking `write` waits on a full socket before the writer looks at its
/// wake-ups ("close now" aborts a stuck write within this) and the write deadline.
const WRITE_SLICE: Duration = Duration::from_millis(20);
/// Smallest socket timeout we set (a zero timeout means "block forever" to the OS).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Wakes a writer: a permit flag under a mutex plus a condition variable.
///
/// [`notify`](Notify::notify) sets the permit even when nobody waits, and the writer consumes
/// it under the same mutex, so a wake-up that races with the writer going to sleep is never
/// lost (at worst the writer wakes once for nothing and finds the queue empty). The condition
/// variable is only signalled while the writer actually sleeps: std's `notify_one` is a
/// syscall even with no waiter, and a busy writer is woken once per publisher batch.
#[derive(Debug, Default)]
pub struct Wake {
    state: Mutex<WakeState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct WakeState {
    /// A wake-up not yet consumed.
    permit: bool,
    /// The writer is blocked in [`Wake::wait`].
    sleeping: bool,
}

impl Wake {
    fn lock(&self) -> std::sync::MutexGuard<'_, WakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until a permit is available, then consumes it.
    fn wait(&self) {
        let mut st = self.lock();
        while !st.permit {
            st.sleeping = true;
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            st.sleeping = false;
        }
        st.permit = false;
    }

    /// Consumes a permit if one is available, without blocking.
    fn try_take(&self) -> bool {
        std::mem::replace(&mut self.lock().permit, false)
    }
}

impl Notify for Wake {
    fn notify(&self) {
        let mut st = self.lock();
        st.permit = true;
        let sleeping = st.sleeping;
        drop(st);
        if sleeping {
            // Only the one writer ever waits.
            self.cv.notify_one();
        }
    }
}

/// What the writer needs besides the socket.
pub type WriterCtx = drain::WriterCtx<Wake>;

/// Runs the writer until the queue is closed, a write fails or misses its deadline. Always
/// shuts the socket down both ways on the way out (that stops the reader).
/// With `tls`, every batch is sealed into TLS records first, and close_notify goes out
/// before FIN.
pub fn run(ctx: &WriterCtx, stream: &TcpStream, tls: Option<&crate::tls::Session>) {
    drain(ctx, stream, tls);
    if let Some(t) = tls {
        let _ = (&mut &*stream).write_all(&t.close_notify());
    }
    // FIN after everything written, and the reader's blocking read returns.
    let _ = stream.shutdown(Shutdown::Both);
}

/// The writer's loop: wait, drain, write, until the connection is done.
fn drain(ctx: &WriterCtx, stream: &TcpStream, tls: Option<&crate::tls::Session>) {
    let mut out = Outbox::default();
    let mut deadline = DeadlineCache::default();
    // The socket's write timeout: one slice, re-set only when the deadline changes it.
    let mut slice = None;
    loop {
        ctx.wake.wait();
        // Drain until the queue is empty, then wait for the next wake-up.
        loop {
            match out.take(&ctx.handle) {
                Step::Write => {}
                Step::Wait => break,
                Step::Finish | Step::Abort => return,
            }
            let write_deadline = deadline.get(&ctx.shared);
            let want = write_deadline.clamp(MIN_TIMEOUT, WRITE_SLICE);
            if slice != Some(want) {
                if let Err(e) = stream.set_write_timeout(Some(want)) {
                    tracing::debug!(
                        "{} - cid:{} - could not set the write timeout: {e}",
                        ctx.peer,
                        ctx.handle.cid
                    );
                    ctx.handle.close_now(CloseReason::WriteError);
                    return;
                }
                slice = Some(want);
            }
            let (buf, closing) = out.split();
            let sealed;
            let buf = match tls {
                None => buf,
                Some(t) => match t.seal(buf) {
                    Ok(records) => {
                        sealed = records;
                        &sealed[..]
                    }
                    Err(e) => {
                        tracing::debug!(
                            "{} - cid:{} - Error flushing: {e}",
                            ctx.peer,
                            ctx.handle.cid
                        );
                        ctx.handle.close_now(CloseReason::WriteError);
                        return;
                    }
                },
            };
            let end = write_phase(ctx, write_deadline, stream, buf, closing);
            if !ctx.after_write(end, &mut out, write_deadline) {
                return;
            }
        }
    }
}

/// Writes all of `buf` within the write deadline. Between blocked slices, wake-ups are checked
/// for a closed queue (see [`Closing::woken`]): "close now" (slow consumer) aborts a write
/// stuck on a full socket, and a "close after flush" moves the last bytes behind `buf`.
fn write_phase(
    ctx: &WriterCtx,
    write_deadline: Duration,
    mut stream: &TcpStream,
    buf: &[u8],
    mut closing: Closing<'_>,
) -> WriteEnd {
    let start = Instant::now();
    let mut off = 0;
    while off < buf.len() {
        match stream.write(&buf[off..]) {
            Ok(0) => return WriteEnd::Failed,
            Ok(n) => off += n,
            Err(e) if is_retry(&e) => {}
            Err(e) => {
                tracing::debug!(
                    "{} - cid:{} - Error flushing: {e}",
                    ctx.peer,
                    ctx.handle.cid
                );
                return WriteEnd::Failed;
            }
        }
        if off == buf.len() {
            break;
        }
        // The socket is (or was) full: look at the clock and at wake-ups.
        if start.elapsed() >= write_deadline {
            return WriteEnd::Deadline;
        }
        if ctx.wake.try_take() && !closing.woken(&ctx.handle) {
            return WriteEnd::Aborted;
        }
    }
    WriteEnd::Done
}

/// A write that timed out (a slice ended) or was interrupted: try again.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_notify_before_the_wait_is_not_lost() {
        let w = Wake::default();
        w.notify();
        w.wait(); // returns at once: the permit was stored
        assert!(!w.try_take());
        w.notify();
        w.notify();
        assert!(w.try_take());
        assert!(!w.try_take());
    }

    #[test]
    fn a_notify_from_another_thread_wakes_the_waiter() {
        let w = Arc::new(Wake::default());
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || w2.wait());
        w.notify();
        t.join().unwrap();
    }
}
