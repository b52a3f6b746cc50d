//! The writer's side of a connection, minus the socket: the buffers it drains the client's
//! outbound queue into, and what to do after each `take` (write, wait, finish, abort). Each
//! runtime's writer loops `wait for a wake-up → take → write`; the decisions live here so
//! both make them identically.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use natsd_core::client::ClientHandle;
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;

/// A buffer that grew past this is dropped after use rather than kept per connection.
const KEEP_BUF_CAPACITY: usize = 1 << 20;

/// What the writer does next, decided by [`Outbox::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Write [`Outbox::pending`] whole, within the write deadline.
    Write,
    /// Nothing queued: wait for the next wake-up.
    Wait,
    /// Everything queued is written and the queue closed (flush-then-close): send FIN, stop.
    Finish,
    /// The queue was closed with "close now" (slow consumer, abort): stop, write nothing.
    Abort,
}

/// The writer's buffers: `buf` is being written; `next` gets the final bytes of a queue
/// closed mid-write.
#[derive(Debug, Default)]
pub struct Outbox {
    buf: Vec<u8>,
    next: Vec<u8>,
    close_after: bool,
}

/// The part of an [`Outbox`] a write in progress may add to (see [`Outbox::split`]).
#[derive(Debug)]
pub struct Closing<'a> {
    next: &'a mut Vec<u8>,
    close_after: &'a mut bool,
}

impl Outbox {
    /// Moves what the client queued behind what is pending, and says what to do next.
    pub fn take(&mut self, handle: &ClientHandle) -> Step {
        let taken = handle.take(&mut self.buf);
        if taken.close_now.is_some() {
            return Step::Abort;
        }
        self.close_after |= taken.close_after.is_some();
        match (self.buf.is_empty(), self.close_after) {
            (false, _) => Step::Write,
            (true, true) => Step::Finish,
            (true, false) => Step::Wait,
        }
    }

    /// The bytes to write now.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes to write and the handle for wake-ups during the write.
    pub fn split(&mut self) -> (&[u8], Closing<'_>) {
        (
            &self.buf,
            Closing {
                next: &mut self.next,
                close_after: &mut self.close_after,
            },
        )
    }

    /// Call once [`pending`](Self::pending) is written whole: what arrived during a closing
    /// write goes next (`take` appends behind it).
    ///
    /// The written buffer stays `buf`, empty with its capacity, so the next `take` hands it
    /// to the client's queue (they swap) and the receiver's deliveries fill memory already
    /// mapped. Swapping in the empty `next` instead gave the queue a buffer of no capacity
    /// after every write, and every batch regrew one from nothing: in a fan-out about a third
    /// of the server's CPU went to page faults (BENCHMARKS.md, the fan-out profile).
    pub fn written(&mut self) {
        self.buf.clear();
        if !self.next.is_empty() {
            std::mem::swap(&mut self.buf, &mut self.next);
        }
        if self.next.capacity() > KEEP_BUF_CAPACITY {
            self.next = Vec::new();
        }
        if self.buf.is_empty() && self.buf.capacity() > KEEP_BUF_CAPACITY {
            self.buf = Vec::new();
        }
    }
}

impl Closing<'_> {
    /// A wake-up arrived during a write. While the queue is open, new bytes stay queued in
    /// the core (that is what `max_pending` measures). Once it is closing it can no longer
    /// grow, so its last bytes are taken now. Returns false on "close now": abort the write.
    pub fn woken(&mut self, handle: &ClientHandle) -> bool {
        if handle.close_reason().is_none() {
            return true;
        }
        let taken = handle.take(self.next);
        *self.close_after |= taken.close_after.is_some();
        taken.close_now.is_none()
    }
}

/// What a runtime's writer needs besides the socket; `W` is the runtime's wake-up (the
/// core's `Notify` it registered for this client).
pub struct WriterCtx<W> {
    /// The client's outbound queue.
    pub handle: Arc<ClientHandle>,
    /// The wake-up registered with the core for this client.
    pub wake: Arc<W>,
    /// The server state, for the write deadline in force (reloadable).
    pub shared: Arc<Shared>,
    /// For log lines.
    pub peer: SocketAddr,
}

/// How one write of [`Outbox::pending`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteEnd {
    /// All written.
    Done,
    /// The write deadline passed first.
    Deadline,
    /// The socket failed.
    Failed,
    /// The queue was closed with "close now" (slow consumer) or the runtime aborted.
    Aborted,
}

impl<W> WriterCtx<W> {
    /// Acts on how a write ended, the same on every runtime: `true` to go on draining;
    /// `false` when the writer is done (a deadline logs Go's slow-consumer line and closes
    /// the client now; a failure closes it as a write error).
    pub fn after_write(&self, end: WriteEnd, out: &mut Outbox, write_deadline: Duration) -> bool {
        match end {
            WriteEnd::Done => {
                out.written();
                true
            }
            WriteEnd::Deadline => {
                let len = out.pending().len();
                slow_consumer(self.peer, &self.handle, write_deadline, len);
                false
            }
            WriteEnd::Failed => {
                self.handle.close_now(CloseReason::WriteError);
                false
            }
            WriteEnd::Aborted => false,
        }
    }
}

/// A write missed its deadline: logs Go's slow-consumer line and closes the client now.
pub fn slow_consumer(peer: SocketAddr, handle: &ClientHandle, deadline: Duration, bytes: usize) {
    tracing::info!(
        "{peer} - cid:{} - Slow Consumer Detected: WriteDeadline of {deadline:?} exceeded with 1 chunks of {bytes} total bytes.",
        handle.cid,
    );
    handle.close_now(CloseReason::SlowConsumerWriteDeadline);
}

/// The write deadline in force, re-read from the shared options only when a reload changed
/// their generation (one atomic load per write otherwise).
#[derive(Debug, Default)]
pub struct DeadlineCache {
    cached: Option<(u64, Duration)>,
}

impl DeadlineCache {
    /// The current write deadline.
    pub fn get(&mut self, sh: &Shared) -> Duration {
        let generation = sh.options_generation();
        match self.cached {
            Some((g, d)) if g == generation => d,
            _ => {
                let (opts, g) = sh.opts_with_generation();
                self.cached = Some((g, opts.write_deadline));
                opts.write_deadline
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nop;
    impl natsd_core::client::Notify for Nop {
        fn notify(&self) {}
    }

    /// After a write the outbox keeps the written buffer's capacity for the next `take`,
    /// which swaps it into the client's queue: deliveries then fill memory already there
    /// (the queue used to get a buffer of no capacity after every write).
    #[test]
    fn the_written_buffer_is_reused() {
        let h = ClientHandle::new(1, None, 1 << 20, 1, Arc::new(Nop));
        let mut out = Outbox::default();
        let _ = h.send(&[b'x'; 4096]);
        assert_eq!(out.take(&h), Step::Write);
        out.written();
        assert!(out.pending().is_empty());
        assert!(out.buf.capacity() >= 4096, "kept for the next swap");
        let _ = h.send(b"y");
        assert_eq!(out.take(&h), Step::Write);
        assert_eq!(out.pending(), b"y");
        out.written();
        // Both buffers now have room: the queue got the big one in the swap.
        assert!(out.buf.capacity() >= 1);
        let _ = h.send(&[b'z'; 4096]);
        assert_eq!(out.take(&h), Step::Write);
        assert!(out.buf.capacity() >= 4096);
    }
}
