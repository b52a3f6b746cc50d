//! The trace hash: a running FNV-1a over every processed event, so a determinism check can
//! compare two runs of one seed with one number.

/// FNV-1a, 64-bit: tiny, stable across platforms and Rust versions (unlike `DefaultHasher`,
/// whose algorithm is unspecified).
#[derive(Debug, Clone)]
pub struct Trace {
    h: u64,
}

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for Trace {
    fn default() -> Trace {
        Trace { h: OFFSET }
    }
}

impl Trace {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.h ^= u64::from(b);
            self.h = self.h.wrapping_mul(PRIME);
        }
    }

    /// Records an event: when, what kind, which client.
    pub fn event(&mut self, time_ns: u64, kind: u8, client: usize) {
        self.feed(&time_ns.to_le_bytes());
        self.feed(&[kind]);
        self.feed(&(client as u64).to_le_bytes());
    }

    /// Records the bytes an event carried (length first, so chunk boundaries count).
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.feed(&(bytes.len() as u64).to_le_bytes());
        self.feed(bytes);
    }

    /// The hash so far.
    pub fn hash(&self) -> u64 {
        self.h
    }
}
