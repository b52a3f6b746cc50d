//! Service imports (issue 12): requests cross into the exporter with an `_R_` reply, the
//! responses come back to the requester's inbox (see `natsd_sim::oracle`'s `service.rs`).
//! Clean seeds pass and exercise both sides; the sabotages prove the rule bites.

use natsd_sim::{run, Sabotage, Variant, ViolationKind};

/// Seeds `0..n` of `v` with services that pass clean: (seed, requests, responses) through
/// service imports.
fn clean(v: Variant, n: u64) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for seed in 0..n {
        let cfg = v.config(seed);
        if cfg.features.services.is_empty() {
            continue;
        }
        let o = run(cfg).unwrap_or_else(|f| panic!("{f}"));
        let c = &o.stats.checks;
        out.push((seed, c.service_requests, c.service_responses));
    }
    out
}

fn catch(
    v: Variant,
    seeds: &[(u64, u64, u64)],
    s: Sabotage,
    only: fn(&(u64, u64, u64)) -> bool,
) -> (usize, usize, Vec<ViolationKind>) {
    let (mut tried, mut caught, mut kinds) = (0, 0, Vec::new());
    for t in seeds.iter().filter(|t| only(t)) {
        tried += 1;
        let mut cfg = v.config(t.0);
        cfg.sabotage = Some(s);
        if let Err(f) = run(cfg) {
            caught += 1;
            if !kinds.contains(&f.violation.kind) {
                kinds.push(f.violation.kind);
            }
        }
    }
    (caught, tried, kinds)
}

#[test]
fn service_imports_cross_and_sabotages_bite() {
    let n: u64 = std::env::var("SIM_SERVICE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    for v in [Variant::Plain, Variant::World, Variant::Cluster] {
        let seeds = clean(v, n);
        let req: u64 = seeds.iter().map(|t| t.1).sum();
        let resp: u64 = seeds.iter().map(|t| t.2).sum();
        let with_req = seeds.iter().filter(|t| t.1 > 0).count();
        let with_resp = seeds.iter().filter(|t| t.2 > 0).count();
        println!(
            "{v}: {} of {n} seeds with services; {with_req} deliver requests ({req}), {with_resp} responses ({resp})",
            seeds.len()
        );
        assert!(
            with_req >= 2 && with_resp >= 1,
            "{v}: too little service traffic"
        );
        let (c, t, k) = catch(v, &seeds, Sabotage::ForgetServiceImport, |t| t.1 > 0);
        println!("{v}: ForgetServiceImport caught in {c}/{t} seeds delivering requests: {k:?}");
        assert!(c * 2 >= t, "{v}: ForgetServiceImport {c}/{t}");
        let (c, t, k) = catch(v, &seeds, Sabotage::LeakResponse, |t| t.2 > 1);
        println!("{v}: LeakResponse caught in {c}/{t} seeds with 2+ responses: {k:?}");
        assert!(c * 2 >= t, "{v}: LeakResponse {c}/{t}");
    }
}
