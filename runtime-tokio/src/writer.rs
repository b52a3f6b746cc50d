//! The writer task of one connection: drains the client's outbound queue into the socket.
//!
//! Woken through [`Wake`] (the core's [`Notify`]). Each write has a deadline; a write that
//! misses it closes the client as a slow consumer. When the writer is done (queue closed,
//! deadline, write error) it cancels the connection's token so the reader stops too.

use std::time::Duration;

use natsd_adapter::drain::{self, Closing, DeadlineCache, Outbox, Step, WriteEnd};
use natsd_core::client::Notify;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// How long a final `shutdown` (FIN) may take; it does not wait for the peer.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// Wakes a writer. `tokio::sync::Notify::notify_one` stores a permit when nobody waits, so a
/// wake-up that races with the writer going to sleep is never lost.
#[derive(Debug, Default)]
pub struct Wake(tokio::sync::Notify);

impl Notify for Wake {
    fn notify(&self) {
        self.0.notify_one();
    }
}

/// What the writer needs besides the socket.
pub type WriterCtx = drain::WriterCtx<Wake>;

/// Runs the writer until the queue is closed, a write fails or misses its deadline, or the
/// token is cancelled. Always cancels the token on the way out (that stops the reader).
pub async fn run(ctx: WriterCtx, token: CancellationToken, mut wr: impl AsyncWrite + Unpin) {
    let mut out = Outbox::default();
    let mut deadline = DeadlineCache::default();
    'outer: loop {
        tokio::select! {
            biased;
            () = token.cancelled() => break 'outer,
            () = ctx.wake.0.notified() => {}
        }
        // Drain until the queue is empty, then wait for the next wake-up.
        loop {
            match out.take(&ctx.handle) {
                Step::Write => {}
                Step::Wait => break,
                Step::Abort => break 'outer,
                Step::Finish => {
                    // Flush-then-close: everything queued is written; send FIN.
                    let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, wr.shutdown()).await;
                    break 'outer;
                }
            }
            let (buf, closing) = out.split();
            let write = write_phase(
                &ctx,
                &token,
                deadline.get(&ctx.shared),
                &mut wr,
                buf,
                closing,
            );
            let end = write.await;
            // The deadline again from the cache, not kept across the write: every byte
            // the writer's state holds there is paid per connection (see `write_phase`).
            if !ctx.after_write(end, &mut out, deadline.last()) {
                break 'outer;
            }
        }
    }
    token.cancel();
    // Dropping `wr` shuts down the write side; the socket closes once the reader drops its
    // half. (Over TLS, `shutdown` above also sent the close_notify alert.)
}

/// Writes `buf` within the write deadline. Wake-ups during the write are checked for a closed
/// queue (see [`Closing::woken`]): "close now" (slow consumer) aborts a write stuck on a full
/// socket at once, and a "close after flush" moves the last bytes behind `buf`.
///
/// A plain `fn` returning an `async move` block, not an `async fn`: an `async fn` keeps its
/// arguments and the locals they move into apart in its state. Those 32 bytes, and the
/// write deadline once held across the write, put the writer task one size class of
/// tokio's task cells up (896 bytes per connection, now 768).
#[allow(clippy::manual_async_fn)] // On purpose: see above.
fn write_phase<'a, W: AsyncWrite + Unpin>(
    ctx: &'a WriterCtx,
    token: &'a CancellationToken,
    write_deadline: Duration,
    wr: &'a mut W,
    buf: &'a [u8],
    mut closing: Closing<'a>,
) -> impl std::future::Future<Output = WriteEnd> + 'a {
    async move {
        let write = wr.write_all(buf);
        tokio::pin!(write);
        let deadline = tokio::time::sleep(write_deadline);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                biased;
                () = token.cancelled() => return WriteEnd::Aborted,
                r = &mut write => return match r {
                    Ok(()) => WriteEnd::Done,
                    Err(e) => {
                        tracing::debug!("{} - cid:{} - Error flushing: {e}", ctx.peer, ctx.handle.cid);
                        WriteEnd::Failed
                    }
                },
                () = &mut deadline => return WriteEnd::Deadline,
                () = ctx.wake.0.notified() => {
                    if !closing.woken(&ctx.handle) {
                        return WriteEnd::Aborted;
                    }
                }
            }
        }
    }
}
