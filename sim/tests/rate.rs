//! The `rate` variant (issue 16): publish rate limits, connections driven with flow control
//! (`handle_read_paced` + `poll_read_pause`), two tenants, a reload (see `sim/src/rate/`).
//! Its seeds also run in `seeds.rs`'s random batch and sweeps (`SIM_VARIANT=rate`).

use natsd_core::options::RateAction;
use natsd_sim::rate::{self, RateRun, Scope};
use natsd_sim::{env_seed, repro_line, Failure, Sabotage, Variant, ViolationKind};

/// Seeds of the fixed range.
const SEEDS: u64 = 80;

fn run(seed: u64, sabotage: Option<Sabotage>) -> Result<RateRun, Failure> {
    let mut cfg = rate::config(seed);
    cfg.sabotage = sabotage;
    rate::run(&cfg)
}

fn plan(seed: u64) -> rate::RatePlan {
    rate::config(seed).rate.expect("a rate plan")
}

/// The fixed range: every oracle on every seed, the measured values against the stated
/// bounds printed, and coverage asserted.
#[test]
fn rate_seeds() {
    if env_seed().is_some() {
        return;
    }
    let start = std::time::Instant::now();
    let (mut drop_seeds, mut bp_seeds, mut drops, mut pauses) = (0, 0, 0, 0);
    let mut scopes = [0; 3];
    let (mut lo_ratio, mut hi_ratio) = (f64::MAX, f64::MIN);
    let mut window_margin = f64::MAX;
    let (mut calm_extra, mut calm_max, mut calm_n) = (0, 0, 0);
    let (mut lower_margin, mut upper_margin) = (f64::MAX, f64::MAX);
    let mut events = 0;
    for seed in 0..SEEDS {
        let r = run(seed, None).unwrap_or_else(|f| panic!("{f}"));
        let p = plan(seed);
        match p.action {
            RateAction::Drop => drop_seeds += 1,
            _ => bp_seeds += 1,
        }
        scopes[match p.scope {
            Scope::User => 0,
            Scope::Account => 1,
            Scope::Default => 2,
        }] += 1;
        drops += r.report.dropped;
        pauses += r.report.pauses;
        events += r.outcome.events;
        calm_extra = calm_extra.max(r.calm_extra_ns);
        calm_max = calm_max.max(r.calm_max_ns);
        calm_n += r.calm_deliveries;
        for m in &r.report.phases {
            lo_ratio = lo_ratio.min(m.ratio());
            hi_ratio = hi_ratio.max(m.ratio());
            let b = m.bounds;
            window_margin = window_margin.min(b.burst + b.debt - m.worst_window);
            lower_margin = lower_margin.min(m.n_lower as f64 - m.lower);
            upper_margin = upper_margin.min(m.upper - m.n as f64);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "rate: {SEEDS} seeds (each twice: with and without the flooder) in {secs:.2} s \
         ({:.0} seeds/s), {events} events; backpressure {bp_seeds}, drop {drop_seeds}; \
         scopes user/account/default {scopes:?}; {pauses} pauses honoured, {drops} drops counted",
        SEEDS as f64 / secs
    );
    println!(
        "  (c)/(e) per phase: N / min(B + R T, O T) in {lo_ratio:.3}..={hi_ratio:.3}; tightest \
         window {window_margin:.2} messages under B + D; lower bound (0.9 min(B + R T, O T) - 2) \
         beaten by >= {lower_margin:.1}, upper (B + D + 1.1 R T) by >= {upper_margin:.1}"
    );
    println!(
        "  (d) calm tenant: {calm_n} deliveries, worst latency {:.3} ms, worst extra with the \
         flooder {:.3} ms (bound {:.3} ms)",
        calm_max as f64 / 1e6,
        calm_extra as f64 / 1e6,
        rate::CALM_SLACK_NS as f64 / 1e6
    );
    assert!(drop_seeds > 5 && bp_seeds > 30, "both actions");
    assert!(scopes.iter().all(|&n| n > 10), "every scope: {scopes:?}");
    assert!(drops > 0 && pauses > 0);
}

/// The replay line a `rate` failure prints.
#[test]
fn a_failure_prints_its_replay_line() {
    let seed = (0..50)
        .find(|&s| plan(s).action == RateAction::Backpressure)
        .expect("a backpressure seed");
    let f = run(seed, Some(Sabotage::IgnorePause)).expect_err("the sabotage is caught");
    let text = f.to_string();
    assert!(text.contains(&repro_line(Variant::Rate, seed)), "{text}");
}

/// Sabotage: the driver ignores `poll_read_pause` (offers every byte at once, as a runtime
/// without flow control) while the oracle expects the limit: (c) fails on every
/// backpressure seed.
#[test]
fn ignoring_the_pause_breaks_the_rate() {
    let seeds: Vec<u64> = (0..16)
        .filter(|&s| plan(s).action == RateAction::Backpressure)
        .collect();
    for &seed in &seeds {
        let f = run(seed, Some(Sabotage::IgnorePause)).expect_err("caught");
        assert_eq!(f.violation.kind, ViolationKind::Rate, "seed {seed}: {f}");
    }
    println!(
        "IgnorePause: caught on {0}/{0} backpressure seeds",
        seeds.len()
    );
}

/// Sabotage: the harness drops one delivery (the 50th, 200th or 500th of the run): (a)
/// catches it as `Missing` (a later message arrives first, or it is owed at the end).
#[test]
fn a_dropped_message_is_caught() {
    let mut caught = 0;
    for seed in 0..6 {
        for n in [50, 200, 500] {
            let f = run(seed, Some(Sabotage::DropDelivery(n))).expect_err("caught");
            assert_eq!(f.violation.kind, ViolationKind::Missing, "seed {seed}: {f}");
            caught += 1;
        }
    }
    println!("DropDelivery: caught {caught}/18");
}

/// Sabotage: the reload reaches `Shared` but no connection (`handle_config_change` never
/// runs). Per-connection limits (user, default) keep the old rate: (e) catches it whenever
/// the rates differ enough to leave the tolerance; an account's budget changes in place,
/// so those seeds must still pass.
#[test]
fn a_reload_not_applied_is_caught() {
    let (mut caught, mut tried) = (0, 0);
    for seed in 0..30 {
        let p = plan(seed);
        let r = run(seed, Some(Sabotage::SkipConfigChange));
        if p.scope == Scope::Account {
            r.unwrap_or_else(|f| panic!("an account budget changes in place: {f}"));
            continue;
        }
        let (r0, _) = p.effective(&p.before);
        let (r1, _) = p.effective(&p.after);
        if (r1 / r0 - 1.0).abs() < 0.5 {
            continue; // Too close to tell apart within the tolerance.
        }
        tried += 1;
        if let Err(f) = r {
            assert_eq!(f.violation.kind, ViolationKind::Rate, "seed {seed}: {f}");
            caught += 1;
        }
    }
    println!("SkipConfigChange: caught on {caught}/{tried} per-connection seeds whose rates differ by 50%+");
    assert_eq!(caught, tried);
}

/// Sabotage: one thread sleeps through any connection's pause for all of them: the calm
/// tenant waits behind the flooder's pauses, (d) catches it.
#[test]
fn a_pause_that_stalls_everyone_is_caught() {
    let (mut caught, mut tried) = (0, 0);
    for seed in 0..16 {
        if plan(seed).action != RateAction::Backpressure {
            continue;
        }
        tried += 1;
        if let Err(f) = run(seed, Some(Sabotage::GlobalPause)) {
            assert_eq!(f.violation.kind, ViolationKind::Starved, "seed {seed}: {f}");
            caught += 1;
        }
    }
    println!("GlobalPause: caught on {caught}/{tried} backpressure seeds");
    assert!(caught * 10 >= tried * 8, "{caught}/{tried}");
}
