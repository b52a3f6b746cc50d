//! Many seeds, and `SIM_SEED=n` to reproduce one.
//!
//! The seed ranges are split over a few tests so the test harness can run them in parallel.
//! When `SIM_SEED` is set, only [`sim_seed_from_env`] runs (the range tests return at once).

use natsd_sim::{check_seed, env_seed};

/// Seeds per range test.
const PER_TEST: u64 = 100;

fn run_range(part: u64) {
    if env_seed().is_some() {
        return;
    }
    let mut events = 0;
    let mut deliveries = 0;
    for seed in part * PER_TEST..(part + 1) * PER_TEST {
        let o = check_seed(seed);
        events += o.events;
        deliveries += o.deliveries;
    }
    assert!(
        deliveries > PER_TEST * 10,
        "the workload delivers too little: {deliveries}"
    );
    eprintln!(
        "seeds {}..{}: {events} events, {deliveries} deliveries",
        part * PER_TEST,
        (part + 1) * PER_TEST
    );
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

/// `SIM_SEED=n cargo test -p natsd-sim` runs seed n alone.
#[test]
fn sim_seed_from_env() {
    if let Some(seed) = env_seed() {
        let o = check_seed(seed);
        eprintln!("{o:?}");
    }
}
