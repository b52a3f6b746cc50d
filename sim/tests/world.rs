//! The world of N nodes: seeded network and node faults, clients moving between nodes, a
//! node in lame duck mode, long runs. The rules stay: every oracle of the one-node runs
//! holds on each node, and after the heal everything owed arrives.

use natsd_sim::batch::{run_batch, Summary};
use natsd_sim::variant::env_sweep;
use natsd_sim::{check, env_seed, run, Config, Variant};

/// Seeds per world range test.
const PER_TEST: u64 = 100;

fn skip() -> bool {
    env_seed().is_some() || env_sweep().is_some()
}

fn assert_passed(s: &Summary) {
    if let Some(f) = s.failures.first() {
        panic!("{s}\nfirst failure:\n{f}");
    }
}

fn world_range(part: u64) {
    if skip() {
        return;
    }
    let seeds = part * PER_TEST..(part + 1) * PER_TEST;
    let s = run_batch(Variant::World, seeds.clone(), false);
    println!("seeds {seeds:?} {s}");
    assert_passed(&s);
    let t = &s.stats;
    println!("  {t:?}");
    let covered = [
        ("moves between nodes", t.moves),
        ("connection resets", t.resets),
        ("link cuts", t.cuts),
        ("node crashes", t.crashes),
        ("node restarts", t.restarts),
        ("refused connects", t.refused),
        ("reconnections", t.sessions - PER_TEST),
        ("liveness-phase deliveries", t.live_deliveries),
        ("permission errors", t.checks.perm_errors),
    ];
    for (what, n) in covered {
        assert!(n > 0, "{what} went unexercised in {seeds:?}: {t:?}");
    }
}

#[test]
fn world_seeds_0() {
    world_range(0);
}

#[test]
fn world_seeds_1() {
    world_range(1);
}

#[test]
fn world_seeds_2() {
    world_range(2);
}

/// The seeds cover every world size, the one-node world included.
#[test]
fn world_sizes_drawn_1_to_5() {
    let mut sizes: Vec<usize> = (0..60).map(|s| Config::world(s).nodes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    assert_eq!(sizes, vec![1, 2, 3, 4, 5]);
}

#[test]
fn lame_duck_seeds() {
    if skip() {
        return;
    }
    let s = run_batch(Variant::LameDuck, 0..150, false);
    println!("lame duck {s}");
    assert_passed(&s);
    let t = &s.stats;
    println!("  {t:?}");
    // Nearly every run's node finishes lame duck mode (a few have no clients left then:
    // it shuts down at once), clients get the notice, and most are closed by the pacing.
    assert!(t.shutdowns >= 140, "{t:?}");
    assert!(t.lame_duck_closes > 50, "{t:?}");
    assert!(t.lame_duck_infos > 10, "{t:?}");
}

/// Long runs: tens of simulated seconds, tens of thousands of deliveries, keep-alive
/// timers firing through the quiet period.
#[test]
fn long_runs() {
    if skip() {
        return;
    }
    let s = run_batch(Variant::Long, 0..2, false);
    println!("long {s}");
    assert_passed(&s);
    assert!(s.longest_ns > 20_000_000_000, "{s}");
    assert!(s.deliveries > 20_000, "{s}");
    println!("  {:?}", s.stats);
}

/// The same seed gives the same run: the same trace hash and outcome, twice, in every
/// variant.
#[test]
fn same_seed_same_trace_in_every_variant() {
    for v in Variant::ALL {
        let seeds: &[u64] = if v == Variant::Long || v == Variant::Rebalance {
            &[3]
        } else {
            &[5, 11, 42]
        };
        for &seed in seeds {
            let a = run(v.config(seed)).expect("passes");
            let b = run(v.config(seed)).expect("passes");
            assert_eq!(a, b, "{v} seed {seed} is not deterministic");
        }
    }
}

#[test]
fn different_world_seeds_different_traces() {
    let mut hashes: Vec<u64> = (0..30)
        .map(|s| check(Config::world(s)).trace_hash)
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 30, "two seeds produced the same trace");
}
