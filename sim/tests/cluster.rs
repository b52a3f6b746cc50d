//! The cluster: 2..=5 nodes joined by routes (explicit routes in a drawn topology, the rest
//! by gossip), faults on client and route links, node crashes. The cluster oracles hold
//! (`sim/src/oracle/cluster.rs`), the mesh is full after the heal, probes reach everyone,
//! and planted route bugs are caught.

use natsd_sim::batch::{run_batch, Summary};
use natsd_sim::cluster::{ClusterPlan, Topology};
use natsd_sim::variant::env_sweep;
use natsd_sim::{env_seed, repro_line, run, Config, Sabotage, Variant, ViolationKind};

/// Seeds per cluster range test.
const PER_TEST: u64 = 100;

fn skip() -> bool {
    env_seed().is_some() || env_sweep().is_some()
}

fn assert_passed(s: &Summary) {
    if let Some(f) = s.failures.first() {
        panic!("{s}\nfirst failure:\n{f}");
    }
}

fn cluster_range(part: u64) {
    if skip() {
        return;
    }
    let seeds = part * PER_TEST..(part + 1) * PER_TEST;
    let s = run_batch(Variant::Cluster, seeds.clone(), false);
    println!("seeds {seeds:?} {s}");
    assert_passed(&s);
    let t = &s.stats;
    println!("  {t:?}");
    let covered = [
        ("route connections", t.route_links),
        (
            "duplicate routes (crossed dials, routes to self)",
            t.duplicate_routes,
        ),
        ("route resets", t.route_resets),
        ("cuts between nodes", t.route_cuts),
        ("failed dials", t.dials_failed),
        ("node crashes", t.crashes),
        ("routed messages", t.checks.routed),
        ("deliveries across nodes", t.checks.remote_deliveries),
        ("judged probes", t.probes),
        ("queue deliveries", t.checks.queue_deliveries),
        ("liveness-phase deliveries", t.live_deliveries),
    ];
    for (what, n) in covered {
        assert!(n > 0, "{what} went unexercised in {seeds:?}: {t:?}");
    }
}

#[test]
fn cluster_seeds_0() {
    cluster_range(0);
}

#[test]
fn cluster_seeds_1() {
    cluster_range(1);
}

/// Every topology and cluster size is drawn.
#[test]
fn cluster_topologies_and_sizes_drawn() {
    let mut sizes: Vec<usize> = (0..60).map(|s| Config::cluster(s).nodes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    assert_eq!(sizes, vec![2, 3, 4, 5]);
    let kinds: Vec<u8> = (0..60)
        .map(|s| {
            let c = Config::cluster(s);
            match ClusterPlan::draw(s, c.nodes).topology {
                Topology::Star { .. } => 0,
                Topology::Chain => 1,
                Topology::Tree => 2,
                Topology::Full => 3,
            }
        })
        .collect();
    for k in 0..4 {
        assert!(kinds.contains(&k), "topology {k} never drawn");
    }
}

/// A route that delivers each routed message twice is caught on the first seeds that route
/// anything (all clients on one node route nothing), as a duplicate (the node takes the
/// message twice), never as anything else.
#[test]
fn route_twice_is_a_duplicate() {
    let (mut tried, mut caught) = (0, 0);
    for seed in 0..12 {
        let mut cfg = Config::cluster(seed);
        let clean = run(cfg.clone()).expect("cluster seeds pass");
        if clean.stats.checks.routed == 0 {
            continue;
        }
        cfg.sabotage = Some(Sabotage::RouteTwice);
        tried += 1;
        if let Err(f) = run(cfg) {
            assert_eq!(
                f.violation.kind,
                ViolationKind::Duplicate,
                "seed {seed}: {f}"
            );
            assert!(f.to_string().contains(&repro_line(Variant::Cluster, seed)));
            caught += 1;
        }
    }
    println!("route twice caught in {caught}/{tried} seeds that route");
    assert!(tried >= 8, "too few seeds route anything: {tried}");
    assert_eq!(caught, tried, "a message routed twice went unnoticed");
}

/// A node that passes a routed message on to its other routes (a second hop) is caught,
/// as [`ViolationKind::Hop`], in nearly every seed with three nodes or more (a seed whose
/// routed messages all arrive while no third node is connected leaks nothing).
#[test]
fn second_hop_is_caught() {
    let (mut tried, mut caught) = (0, 0);
    for seed in 0..30 {
        let mut cfg = Config::cluster(seed);
        if cfg.nodes < 3 {
            continue;
        }
        cfg.sabotage = Some(Sabotage::SecondHop);
        tried += 1;
        if let Err(f) = run(cfg) {
            assert_eq!(f.violation.kind, ViolationKind::Hop, "seed {seed}: {f}");
            caught += 1;
        }
    }
    println!("second hop caught in {caught}/{tried} seeds with 3+ nodes");
    assert!(tried >= 10, "too few seeds with three nodes: {tried}");
    assert!(
        caught * 10 >= tried * 9,
        "second hops went unnoticed: {caught}/{tried}"
    );
}
