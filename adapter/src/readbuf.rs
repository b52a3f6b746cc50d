//! Read buffer sizing for both runtimes, as Go's read loop does it: start small (most
//! connections are idle: 512 bytes each, not 4 KiB), double after a read that filled the
//! buffer (up to [`MAX`]), and halve after more than [`SHORTS_TO_SHRINK`] reads in a row
//! that used less than half of it (down to [`START`]), so a connection that had a burst
//! does not keep 64 KiB for the rest of its life. Go's figures (`startBufSize`,
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
    buf: Vec<u8>,
    shorts: u8,
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf {
            buf: vec![0; START],
            shorts: 0,
        }
    }
}

impl ReadBuf {
    /// Where the next read goes.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The first `n` bytes read.
    pub fn filled(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }

    /// The current size.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Never empty: at least [`START`] bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Resizes after a read of `n` bytes (call once its bytes are consumed).
    pub fn after_read(&mut self, n: usize) {
        let len = self.buf.len();
        if n >= len {
            self.shorts = 0;
            if len < MAX {
                self.buf.resize(len * 2, 0);
            }
        } else if n < len / 2 {
            self.shorts = self.shorts.saturating_add(1);
            if self.shorts > SHORTS_TO_SHRINK && len > START {
                self.shorts = 0;
                self.buf.truncate(len / 2);
                self.buf.shrink_to_fit();
            }
        } else {
            self.shorts = 0;
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
}
