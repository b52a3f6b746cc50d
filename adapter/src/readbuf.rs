//! Read buffer sizing for both runtimes, as Go's read loop does it: start small (most
//! connections are idle: 512 bytes each, not 4 KiB), double after a read that filled the
//! buffer (up to [`MAX`]), and halve after more than [`SHORTS_TO_SHRINK`] reads in a row
//! that used less than half of it (down to [`START`]), so a connection that had a burst
//! does not keep 64 KiB for the rest of its life. Unlike Go, an idle connection holds no
//! buffer at all: it is allocated when a read is about to happen and let go after a short
//! read at the smallest size (and [`ReadBuf::drained`]), 512 bytes less per idle
//! connection for the price of an allocation per small read. Go's figures (`startBufSize`,
//! `maxBufSize`, `shortsToShrink`).

/// The first size, and the smallest.
pub const START: usize = 512;
/// The largest size.
pub const MAX: usize = 64 * 1024;
/// Short reads in a row after which the buffer halves.
pub const SHORTS_TO_SHRINK: u8 = 2;

/// Payload bytes one read must have queued for receivers before [`fanned_far`] holds.
pub const FAN_OUT_BYTES: u64 = 64 * 1024;
/// How many times its own size one read must have queued for receivers before
/// [`fanned_far`] holds.
pub const FAN_OUT_FACTOR: u64 = 4;

/// True if a read of `read` bytes queued `out` payload bytes for receivers, at least
/// [`FAN_OUT_BYTES`] and [`FAN_OUT_FACTOR`] times its size: a fan-out. The tokio reader then
/// yields, so the receivers' writers run before it reads again.
///
/// Why: one 64 KiB read fanned out to 50 receivers queues about 3.5 MB. Read after read,
/// the queues grow past the caches before any writer runs, and the server paid 140 ns per
/// delivery on tokio; writing after every such read took it to 76 ns (fanout_50; fanout_5
/// 109 -> 94). Yielding after reads that are not fan-outs (every MiB queued) made 1:1 and
/// queue flows 17-30 % dearer, so those read on as before. The std runtime does not need
/// it: its worker runs the woken writers after each round of reads (ending a read turn early
/// there made fanout_50 dearer, 74 -> 141 ns). BENCHMARKS.md, issue 19's third session.
pub fn fanned_far(read: usize, out: u64) -> bool {
    out >= FAN_OUT_BYTES && out >= FAN_OUT_FACTOR * read as u64
}

/// A connection's read buffer.
#[derive(Debug)]
pub struct ReadBuf {
    /// Empty (no allocation) while the connection is idle, else `size` bytes.
    buf: Vec<u8>,
    /// The size the next read gets.
    size: usize,
    shorts: u8,
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf {
            buf: Vec::new(),
            size: START,
            shorts: 0,
        }
    }
}

impl ReadBuf {
    /// Where the next read goes (allocated now if the buffer was let go). Call it when a
    /// read is about to happen, not before waiting for the socket: the wait is where an
    /// idle connection spends its life.
    pub fn space(&mut self) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = vec![0; self.size];
        }
        &mut self.buf
    }

    /// The first `n` bytes read.
    pub fn filled(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }

    /// The size the next read gets.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Never empty: at least [`START`] bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether a buffer is allocated now.
    pub fn is_held(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Resizes after a read of `n` bytes (call once its bytes are consumed). A short read
    /// at the smallest size lets the buffer go: the socket is likely drained.
    pub fn after_read(&mut self, n: usize) {
        let len = self.size;
        if n >= len {
            self.shorts = 0;
            if len < MAX {
                self.size = len * 2;
                self.buf.resize(self.size, 0);
            }
        } else if n < len / 2 {
            self.shorts = self.shorts.saturating_add(1);
            if self.shorts > SHORTS_TO_SHRINK && len > START {
                self.shorts = 0;
                self.size = len / 2;
                self.buf.truncate(self.size);
                self.buf.shrink_to_fit();
            }
        } else {
            self.shorts = 0;
        }
        if self.size == START && n < START {
            self.buf = Vec::new();
        }
    }

    /// The socket said it has nothing more for now: the smallest buffer is let go (a
    /// bigger one says the connection is busy and stays).
    pub fn drained(&mut self) {
        if self.size == START {
            self.buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fan_out_is_far_past_its_read() {
        assert!(fanned_far(64 * 1024, 50 * 64 * 1024), "1:50");
        assert!(fanned_far(16 * 1024, 64 * 1024), "1:4 of a 16 KiB read");
        assert!(!fanned_far(64 * 1024, 64 * 1024), "1:1");
        assert!(!fanned_far(64 * 1024, 3 * 64 * 1024), "1:3");
        assert!(
            !fanned_far(512, 50 * 512),
            "a small read, however fanned out"
        );
    }

    #[test]
    fn grows_on_full_reads_and_shrinks_after_short_ones() {
        let mut b = ReadBuf::default();
        assert_eq!(b.len(), START);
        for _ in 0..10 {
            let n = b.len();
            b.after_read(n);
        }
        assert_eq!(b.len(), MAX, "doubles up to the largest size, no further");
        b.after_read(10);
        b.after_read(10);
        assert_eq!(b.len(), MAX, "two short reads are not enough");
        b.after_read(10);
        assert_eq!(b.len(), MAX / 2, "the third halves it");
        b.after_read(MAX / 4 + 1);
        for _ in 0..100 {
            b.after_read(1);
        }
        assert_eq!(b.len(), START, "never below the first size");
    }

    /// An idle connection holds no read buffer: none before its first read, none after a
    /// short read at the smallest size or once its socket is drained; a busy one keeps its
    /// grown buffer.
    #[test]
    fn an_idle_connection_holds_no_buffer() {
        let mut b = ReadBuf::default();
        assert!(!b.is_held(), "before any read");
        assert_eq!(b.space().len(), START);
        b.after_read(START);
        assert!(b.is_held(), "a full read: more is coming");
        assert_eq!(b.space().len(), 2 * START);
        b.drained();
        assert!(b.is_held(), "a grown buffer stays");
        for _ in 0..=SHORTS_TO_SHRINK {
            b.after_read(10);
        }
        assert_eq!(b.len(), START);
        assert!(!b.is_held(), "a short read at the smallest size");
        assert_eq!(b.space().len(), START);
        b.drained();
        assert!(!b.is_held(), "drained");
    }
}
