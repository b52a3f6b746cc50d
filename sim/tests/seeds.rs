//! Many seeds; a fresh random batch every time; `SIM_SEED=n` (with `SIM_VARIANT`) to replay
//! one; `SIM_SWEEP=N` for a big sweep of every variant.
//!
//! The fixed seed ranges are split over a few tests so the test harness can run them in
//! parallel. When `SIM_SEED` or `SIM_SWEEP` is set, only [`sim_seed_from_env`] or
//! [`sweep`] runs (the others return at once).

use natsd_sim::batch::{fresh_base_seed, run_batch, Summary};
use natsd_sim::variant::{env_sweep, env_variants};
use natsd_sim::{check, env_seed, repro_line, Variant};

/// Seeds per range test of the plain variant.
const PER_TEST: u64 = 100;

/// Seeds per variant in the fresh random batch (long runs are slower: fewer).
const RANDOM_BATCH: u64 = 40;
const RANDOM_BATCH_LONG: u64 = 1;

/// True when the environment asks for something else than the default suite.
fn env_overrides() -> bool {
    env_seed().is_some() || env_sweep().is_some()
}

/// Panics with every failure's report.
fn assert_passed(s: &Summary) {
    if let Some(f) = s.failures.first() {
        let seeds: Vec<u64> = s.failures.iter().map(|f| f.seed).collect();
        panic!("{s}\nfailing seeds {seeds:?}; the first:\n{f}");
    }
}

fn run_range(part: u64) {
    if env_overrides() {
        return;
    }
    let seeds = part * PER_TEST..(part + 1) * PER_TEST;
    let s = run_batch(Variant::Plain, seeds.clone(), false);
    println!("seeds {seeds:?} {s}");
    assert_passed(&s);
    let t = &s.stats;
    let c = &t.checks;
    println!("  {t:?}");
    // The swarm must keep covering what it claims to: a config change that silently stops
    // exercising a fault or a feature would otherwise go unnoticed.
    assert!(
        s.deliveries > PER_TEST * 10,
        "the workload delivers too little: {}",
        s.deliveries
    );
    let covered = [
        ("client closes", t.client_closes),
        ("slow consumers", t.slow_consumers),
        ("stalls", t.stalls),
        ("pings answered", t.pings_answered),
        ("queue deliveries", c.queue_deliveries),
        ("hmsgs", c.hmsgs),
        ("headers stripped", c.stripped),
        ("limits reached", c.limits_reached),
        ("+OK (verbose)", c.oks),
        ("permission errors", c.perm_errors),
        ("deliveries filtered by deny", c.filtered),
        ("pedantic errors", c.pedantic_errors),
        ("max_subscriptions errors", c.max_subs_errors),
        ("max_payload closes", t.max_payload_closes),
        ("no-responders statuses", c.no_responders),
        ("matches withheld across accounts", c.isolated),
        ("liveness-phase deliveries", t.live_deliveries),
        ("MSUBs", c.msubs),
        ("deliveries to MSUBs", c.msub_deliveries),
        ("MSUBs filled to their max", c.msub_filled),
        ("deliveries through stream imports", c.imported),
        ("deliveries of mapped messages", c.mapped_deliveries),
        ("publishes through weighted mappings", c.drawn),
        ("weighted messages sampled for the split", c.drawn_sampled),
    ];
    for (what, n) in covered {
        assert!(n > 0, "{what} went unexercised in {seeds:?}: {t:?}");
    }
}

#[test]
fn seeds_0() {
    run_range(0);
}

#[test]
fn seeds_1() {
    run_range(1);
}

#[test]
fn seeds_2() {
    run_range(2);
}

#[test]
fn seeds_3() {
    run_range(3);
}

/// `SIM_SEED=n cargo test -p natsd-sim --test seeds sim_seed_from_env` replays seed n in
/// every variant, or in those `SIM_VARIANT` names (the line a failure prints).
#[test]
fn sim_seed_from_env() {
    let Some(seed) = env_seed() else { return };
    for v in env_variants(&Variant::ALL) {
        println!("{}", repro_line(v, seed));
        let o = check(v.config(seed));
        println!("{o:?}");
    }
}

/// Seeds nobody chose: a base seed from the OS each run (printed; `SIM_BATCH_SEED` fixes
/// it), the seeds after it, in every variant. A failure prints its own replay line.
#[test]
fn random_batch() {
    if env_overrides() {
        return;
    }
    let base = fresh_base_seed();
    println!("random batch: base seed {base} (SIM_BATCH_SEED={base} repeats this batch)");
    for v in Variant::ALL {
        let n = if v == Variant::Long || v == Variant::Rebalance {
            RANDOM_BATCH_LONG
        } else {
            RANDOM_BATCH
        };
        let s = run_batch(v, base..base + n, false);
        println!("  seeds {base}..{} {s}", base + n);
        assert_passed(&s);
    }
}

/// The big sweep: `SIM_SWEEP=20000 cargo test -p natsd-sim --release --test seeds sweep --
/// --nocapture` runs seeds 0..20000 (or `A..B`) of every variant (or `SIM_VARIANT`'s),
/// keeps going past failures, and lists them with their replay lines. Long runs take ~50×
/// longer than the others, so unless named in `SIM_VARIANT` they sweep 1/50 of the range.
#[test]
fn sweep() {
    let Some(seeds) = env_sweep() else { return };
    let named = std::env::var("SIM_VARIANT").is_ok_and(|v| !v.trim().is_empty());
    let mut failed = Vec::new();
    for v in env_variants(&Variant::ALL) {
        let seeds = if v == Variant::Long && !named {
            let n = (seeds.end - seeds.start).div_ceil(50);
            seeds.start..seeds.start + n
        } else {
            seeds.clone()
        };
        let s = run_batch(v, seeds.clone(), true);
        println!("seeds {seeds:?} {s}");
        for f in &s.failures {
            println!("{f}\n");
            failed.push((v, f.seed));
        }
    }
    assert!(failed.is_empty(), "failing (variant, seed): {failed:?}");
}
