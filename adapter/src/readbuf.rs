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
