//! The one source of randomness in the core: a small seeded PRNG (wyrand).
//!
//! Queue-member choice and first-PING jitter need randomness but not secrecy. Every
//! [`Rng`] descends from the seed in the options, so a simulation run is reproducible.
//! Secrets (nonces, server keys) are never drawn from here; they come from the runtime.

/// A seeded wyrand generator: fast, small, good enough for load spreading.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A uniform value in `0..n`. `n` must be non-zero.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0) is a caller bug");
        // Lemire's multiply-shift; the tiny bias is irrelevant for load spreading.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A generator for a sub-component, derived from this seed and a stream number.
    pub fn fork(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next_u64();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut counts = [0u32; 4];
        for _ in 0..4000 {
            counts[a.below(4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
