//! The writer task of one connection: drains the client's outbound queue into the socket.
//!
//! Woken through [`Wake`] (the core's [`Notify`]). Each write has a deadline; a write that
//! misses it closes the client as a slow consumer. When the writer is done (queue closed,
//! deadline, write error) it cancels the connection's token so the reader stops too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use natsd_core::client::{ClientHandle, Notify};
use natsd_core::errors::CloseReason;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_util::sync::CancellationToken;

/// A buffer that grew past this is dropped after use rather than kept per connection.
const KEEP_BUF_CAPACITY: usize = 1 << 20;
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
pub struct WriterCtx {
    /// The client's outbound queue.
    pub handle: Arc<ClientHandle>,
    /// The wake-up registered with the core for this client.
    pub wake: Arc<Wake>,
    /// Cancelled by the writer when it is done, or from outside to abort it.
    pub token: CancellationToken,
    /// Longest one write may block.
    pub write_deadline: Duration,
    /// For log lines.
    pub peer: SocketAddr,
}

/// Why a write attempt stopped.
enum WriteEnd {
    Done,
    Deadline,
    Failed,
    Aborted,
}

/// Runs the writer until the queue is closed, a write fails or misses its deadline, or the
/// token is cancelled. Always cancels the token on the way out (that stops the reader).
pub async fn run(ctx: WriterCtx, mut wr: OwnedWriteHalf) {
    let mut buf: Vec<u8> = Vec::new();
    'outer: loop {
        tokio::select! {
            biased;
            () = ctx.token.cancelled() => break 'outer,
            () = ctx.wake.0.notified() => {}
        }
        // Drain until the queue is empty, then wait for the next wake-up.
        loop {
            let taken = ctx.handle.take(&mut buf);
            if taken.close_now.is_some() {
                break 'outer;
            }
            if !buf.is_empty() {
                match write_with_deadline(&ctx, &mut wr, &buf).await {
                    WriteEnd::Done => {}
                    WriteEnd::Deadline => {
                        tracing::info!(
                            "{} - cid:{} - Slow Consumer Detected: WriteDeadline of {:?} exceeded with 1 chunks of {} total bytes.",
                            ctx.peer,
                            ctx.handle.cid,
                            ctx.write_deadline,
                            buf.len()
                        );
                        ctx.handle.close_now(CloseReason::SlowConsumerWriteDeadline);
                        break 'outer;
                    }
                    WriteEnd::Failed => {
                        ctx.handle.close_now(CloseReason::WriteError);
                        break 'outer;
                    }
                    WriteEnd::Aborted => break 'outer,
                }
                buf.clear();
                if buf.capacity() > KEEP_BUF_CAPACITY {
                    buf = Vec::new();
                }
            }
            if taken.close_after.is_some() {
                // Flush-then-close: everything queued is written; send FIN.
                let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, wr.shutdown()).await;
                break 'outer;
            }
            if taken.bytes == 0 {
                break;
            }
        }
    }
    ctx.token.cancel();
    // Dropping `wr` shuts down the write side; the socket closes once the reader drops its half.
}

async fn write_with_deadline(ctx: &WriterCtx, wr: &mut OwnedWriteHalf, buf: &[u8]) -> WriteEnd {
    tokio::select! {
        biased;
        () = ctx.token.cancelled() => WriteEnd::Aborted,
        r = tokio::time::timeout(ctx.write_deadline, wr.write_all(buf)) => match r {
            Ok(Ok(())) => WriteEnd::Done,
            Ok(Err(e)) => {
                tracing::debug!("{} - cid:{} - Error writing to client: {e}", ctx.peer, ctx.handle.cid);
                WriteEnd::Failed
            }
            Err(_elapsed) => WriteEnd::Deadline,
        },
    }
}
