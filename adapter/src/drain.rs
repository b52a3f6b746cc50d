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
///
/// It used to be 1 MiB: in a fan-out the receivers' queues grow past that in every burst,
/// so each burst regrew them from nothing, and glibc serves such blocks with fresh mappings:
/// a third of the server's CPU went to page faults. At 16 MiB, fanout_5 went from 207 to
/// 123 ns per delivery in one interleaved run (BENCHMARKS.md, "Why fan-out is weak").
const KEEP_BUF_CAPACITY: usize = 16 << 20;
/// A kept buffer above this is dropped once writes stop using it: after more than
/// [`SMALL_WRITES`] writes in a row that filled under an eighth of their buffer.
const SHRINK_ABOVE: usize = 1 << 20;
/// See [`SHRINK_ABOVE`].
const SMALL_WRITES: u8 = 4;
/// A written buffer this small is let go rather than kept: an idle client then holds no
/// outbound buffer (the INFO and PONG it was sent kept 325 bytes in every idle connection),
/// and for a busy one a fresh buffer of this size is a cheap allocation next to the write
/// that emptied it (the core starts a queue at `natsd_core::client::FIRST_OUT_BYTES`).
/// Bigger ones are kept: regrowing those cost page faults (see [`KEEP_BUF_CAPACITY`]).
const RELEASE_AT_MOST: usize = 4 << 10;

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
    /// Writes in a row that used little of a big buffer (see [`SHRINK_ABOVE`]).
    small_writes: u8,
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
    ///
    /// Buffers up to [`KEEP_BUF_CAPACITY`] are kept, so a burst does not regrow them; once
    /// the bursts are over (writes that use under an eighth of a buffer over
    /// [`SHRINK_ABOVE`], more than [`SMALL_WRITES`] in a row) the big ones are let go.
    pub fn written(&mut self) {
        let (len, cap) = (self.buf.len(), self.buf.capacity());
        // Only big buffers count: the two buffers alternate, and a small one well used says
        // nothing about the big one.
        if cap > SHRINK_ABOVE {
            self.small_writes = match len < cap / 8 {
                true => self.small_writes.saturating_add(1),
                false => 0,
            };
        }
        self.buf.clear();
        if !self.next.is_empty() {
            std::mem::swap(&mut self.buf, &mut self.next);
        }
        if self.next.capacity() > KEEP_BUF_CAPACITY {
            self.next = Vec::new();
        }
        let cap = self.buf.capacity();
        let unused = self.small_writes > SMALL_WRITES && cap > SHRINK_ABOVE;
        if self.buf.is_empty() && (cap > KEEP_BUF_CAPACITY || unused) {
            self.buf = Vec::new();
            self.small_writes = 0;
        } else if self.buf.is_empty() && cap <= RELEASE_AT_MOST {
            // Not a big one: the count of small writes goes on for the other buffer.
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

    /// The write deadline [`get`](Self::get) last returned (the default before any).
    pub fn last(&self) -> Duration {
        self.cached.map_or_else(
            || natsd_core::options::Options::default().write_deadline,
            |(_, d)| d,
        )
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
        let big = 2 * RELEASE_AT_MOST;
        let h = ClientHandle::new(1, None, 1 << 20, 1, Arc::new(Nop));
        let mut out = Outbox::default();
        let _ = h.send(&vec![b'x'; big]);
        assert_eq!(out.take(&h), Step::Write);
        out.written();
        assert!(out.pending().is_empty());
        assert!(out.buf.capacity() >= big, "kept for the next swap");
        let _ = h.send(b"y");
        assert_eq!(out.take(&h), Step::Write);
        assert_eq!(out.pending(), b"y");
        out.written();
        // The queue got the big one in the swap.
        let _ = h.send(&vec![b'z'; big]);
        assert_eq!(out.take(&h), Step::Write);
        assert!(out.buf.capacity() >= big);
    }

    /// Small buffers are let go after their write: a client that was sent its INFO and a
    /// PONG, then nothing, holds no outbound buffer on either side (325 bytes per idle
    /// connection before).
    #[test]
    fn an_idle_client_keeps_no_small_buffer() {
        let h = ClientHandle::new(1, None, 1 << 20, 1, Arc::new(Nop));
        let mut out = Outbox::default();
        for bytes in [&b"INFO {}\r\n"[..], b"PONG\r\n"] {
            let _ = h.send(bytes);
            assert_eq!(out.take(&h), Step::Write);
            out.written();
        }
        assert_eq!(out.take(&h), Step::Wait);
        assert_eq!(out.buf.capacity(), 0, "the writer's buffer");
        let mut queued = Vec::new();
        let _ = h.take(&mut queued);
        assert_eq!(queued.capacity(), 0, "the client's queue");
        // The next message starts a buffer of a useful size, not of its own few bytes.
        let _ = h.send(b"PONG\r\n");
        assert_eq!(out.take(&h), Step::Write);
        assert!(out.buf.capacity() >= natsd_core::client::FIRST_OUT_BYTES);
    }

    /// A burst's big buffers are kept while bursts go on (regrowing them cost page faults),
    /// and let go once the writes stay small.
    #[test]
    fn big_buffers_are_kept_through_bursts_and_let_go_after() {
        let h = ClientHandle::new(1, None, 64 << 20, 1, Arc::new(Nop));
        let mut out = Outbox::default();
        let burst = vec![b'x'; 4 << 20];
        for _ in 0..4 {
            let _ = h.send(&burst);
            assert_eq!(out.take(&h), Step::Write);
            out.written();
            assert!(out.buf.capacity() >= burst.len(), "kept between bursts");
        }
        // Small writes only: both big buffers (the one kept, the one in the queue) go.
        for _ in 0..4 * usize::from(SMALL_WRITES) {
            let _ = h.send(b"PING\r\n");
            assert_eq!(out.take(&h), Step::Write);
            out.written();
        }
        assert!(out.buf.capacity() <= SHRINK_ABOVE, "{}", out.buf.capacity());
        let mut queued = Vec::new();
        let _ = h.take(&mut queued);
        assert!(queued.capacity() <= SHRINK_ABOVE, "{}", queued.capacity());
    }
}
