//! Many seeds, and `SIM_SEED=n` to reproduce one.
//!
//! The seed ranges are split over a few tests so the test harness can run them in parallel.
//! When `SIM_SEED` is set, only [`sim_seed_from_env`] runs (the range tests return at once).

use natsd_sim::{check_seed, env_seed, Stats};

/// Seeds per range test.
const PER_TEST: u64 = 100;

fn add(t: &mut Stats, s: &Stats) {
    t.client_closes += s.client_closes;
    t.slow_consumers += s.slow_consumers;
    t.stale += s.stale;
    t.stalls += s.stalls;
    t.pings_answered += s.pings_answered;
    t.queue_deliveries += s.queue_deliveries;
    t.hmsgs += s.hmsgs;
    t.limits_reached += s.limits_reached;
}

fn run_range(part: u64) {
    if env_seed().is_some() {
        return;
    }
    let seeds = part * PER_TEST..(part + 1) * PER_TEST;
    let (mut events, mut deliveries, mut t) = (0, 0, Stats::default());
    for seed in seeds.clone() {
        let o = check_seed(seed);
        events += o.events;
        deliveries += o.deliveries;
        add(&mut t, &o.stats);
    }
    eprintln!("seeds {seeds:?}: {events} events, {deliveries} deliveries, {t:?}");
    // The swarm must keep covering what it claims to: a config change that silently stops
    // exercising a fault would otherwise go unnoticed.
    assert!(
        deliveries > PER_TEST * 10,
        "the workload delivers too little: {deliveries}"
    );
    let covered = [
        t.client_closes,
        t.slow_consumers,
        t.stalls,
        t.pings_answered,
        t.queue_deliveries,
        t.hmsgs,
        t.limits_reached,
    ];
    assert!(
        covered.iter().all(|&n| n > 0),
        "a feature went unexercised: {t:?}"
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

/// A long sweep for hunting: `SIM_SWEEP=0..10000 cargo test -p natsd-sim -- --ignored sweep`.
#[test]
#[ignore]
fn sweep() {
    let spec = std::env::var("SIM_SWEEP").unwrap_or_else(|_| "0..2000".to_string());
    let (a, b) = spec.split_once("..").expect("SIM_SWEEP=start..end");
    let (a, b): (u64, u64) = (a.parse().expect("start"), b.parse().expect("end"));
    let mut failed = Vec::new();
    for seed in a..b {
        if let Err(f) = natsd_sim::run(natsd_sim::Config::from_seed(seed)) {
            eprintln!("{f}");
            failed.push(seed);
        }
    }
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}
