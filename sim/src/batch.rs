//! Running many seeds: timing them (seeds per second), summing what they exercised, and
//! collecting failures with their reproduction lines.

use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::world::Stats;
use crate::{run, Failure, Variant};

/// What a batch of seeds did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The scenario (`None` for an empty summary).
    pub variant: Option<Variant>,
    /// Seeds run.
    pub seeds: u64,
    /// Wall-clock time they took.
    pub elapsed: Duration,
    /// Events processed.
    pub events: u64,
    /// Deliveries checked.
    pub deliveries: u64,
    /// Simulated time, summed over runs, in nanoseconds.
    pub sim_ns: u64,
    /// Longest run, in simulated nanoseconds.
    pub longest_ns: u64,
    /// What they exercised, summed.
    pub stats: Stats,
    /// The runs that failed.
    pub failures: Vec<Failure>,
}

impl Summary {
    /// Seeds per wall-clock second.
    pub fn seeds_per_sec(&self) -> f64 {
        self.seeds as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.variant.map_or("-", Variant::name);
        write!(
            f,
            "{v}: {} seeds in {:.2} s ({:.0} seeds/s), {} events, {} deliveries, {:.1} simulated s ({:.0}x wall time; longest {:.2} s), {} failed",
            self.seeds,
            self.elapsed.as_secs_f64(),
            self.seeds_per_sec(),
            self.events,
            self.deliveries,
            self.sim_ns as f64 / 1e9,
            self.sim_ns as f64 / 1e9 / self.elapsed.as_secs_f64().max(1e-9),
            self.longest_ns as f64 / 1e9,
            self.failures.len()
        )
    }
}

/// Runs `seeds` in `variant`. Stops at the first failure unless `keep_going`.
pub fn run_batch(variant: Variant, seeds: Range<u64>, keep_going: bool) -> Summary {
    let start = Instant::now();
    let mut s = Summary {
        variant: Some(variant),
        ..Summary::default()
    };
    for seed in seeds {
        s.seeds += 1;
        match run(variant.config(seed)) {
            Ok(o) => {
                s.events += o.events;
                s.deliveries += o.deliveries;
                s.sim_ns += o.sim_ns;
                s.longest_ns = s.longest_ns.max(o.sim_ns);
                s.stats.add(&o.stats);
            }
            Err(f) => {
                s.failures.push(f);
                if !keep_going {
                    break;
                }
            }
        }
    }
    s.elapsed = start.elapsed();
    s
}

/// A base seed nobody chose: from the OS's randomness (through std's hasher keys) and the
/// clock, unless `SIM_BATCH_SEED` fixes it.
pub fn fresh_base_seed() -> u64 {
    if let Ok(v) = std::env::var("SIM_BATCH_SEED") {
        return v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SIM_BATCH_SEED={v:?} is not a u64"));
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(t);
    // Small enough to type, far from the fixed ranges the suite runs.
    1_000_000 + h.finish() % 1_000_000_000_000
}
