//! The `auth` variant (issue 15): clients authenticate through an asynchronous provider with
//! random latency, timeouts, silence and failures, connections driven with
//! `handle_read_paced` + `poll_auth_request` (see `sim/src/auth/`). Its seeds also run in
//! `seeds.rs`'s random batch and sweeps (`SIM_VARIANT=auth`).
//!
//! Each oracle has a sabotage that makes it fail on purpose: (1) `served` by
//! `AuthAcceptAtOnce`; (2) `close` by `AuthRejectSilently`, `AuthTimersPaused` and
//! `AuthActOnDuplicate`; (3)
//! `in-flight` by `AuthNoBound` and `AuthLeakSlot`; (4) `liveness` by `AuthNoReoffer` and
//! `AuthNoHeal`.

use natsd_sim::auth::{self, AuthRun, AuthStats, MAX_IN_FLIGHT};
use natsd_sim::variant::env_sweep;
use natsd_sim::{env_seed, repro_line, Failure, Sabotage, Variant, ViolationKind};

/// Seeds of the fixed batch.
const SEEDS: u64 = 200;
/// Seeds each sabotage is tried on.
const SABOTAGE_SEEDS: u64 = 30;

fn skip() -> bool {
    env_seed().is_some() || env_sweep().is_some()
}

fn run(seed: u64, sabotage: Option<Sabotage>) -> Result<AuthRun, Failure> {
    let mut cfg = auth::config(seed);
    cfg.sabotage = sabotage;
    auth::run(&cfg)
}

/// The fixed batch: every oracle on every seed, what it exercised printed, coverage
/// asserted.
#[test]
fn auth_seeds() {
    if skip() {
        return;
    }
    let start = std::time::Instant::now();
    let mut t = AuthStats::default();
    let (mut events, mut sim_ns, mut storms, mut callout, mut whole) = (0, 0, 0, 0, 0);
    for seed in 0..SEEDS {
        let r = run(seed, None).unwrap_or_else(|f| panic!("{f}"));
        let p = auth::config(seed).auth.expect("an auth plan");
        storms += u64::from(p.storm);
        callout += u64::from(p.mode == auth::Mode::Callout);
        whole += u64::from(p.whole_reads);
        events += r.outcome.events;
        sim_ns += r.outcome.sim_ns;
        t.add(&r.stats);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "auth: {SEEDS} seeds in {secs:.2} s ({:.0} seeds/s), {events} events, {:.1} simulated s; \
         {callout} callout seeds, {storms} with a storm, {whole} reading whole buffers",
        SEEDS as f64 / secs,
        sim_ns as f64 / 1e9
    );
    println!(
        "  {} clients, {} requests ({} decided by the options' users, {} by the provider's \
         directory): {} accepted, {} rejected, {} failed by the provider, {} refused at the \
         bound ({MAX_IN_FLIGHT} in flight, reached in {} seeds), {} refused inline, {} timed out",
        t.clients,
        t.requests,
        t.decided_by_options,
        t.decided_by_provider,
        t.accepted,
        t.rejected,
        t.failed,
        t.refused_in_flight,
        t.runs_at_bound,
        t.inline,
        t.timed_out
    );
    println!(
        "  provider silent {} times, waits given up {}, {} decisions after the close (ignored); \
         {} pipelined ops served after their accept, {} messages processed, {} deliveries ({} \
         to heal witnesses), {} permission errors, {} +OKs to verbose clients, {} second \
         answers ignored, {} impatient clients left, {} heal clients with good credentials \
         all got in",
        t.silent,
        t.given_up,
        t.late,
        t.resumed_ops,
        t.processed,
        t.deliveries,
        t.witnessed,
        t.perm_errors,
        t.oks,
        t.duplicates,
        t.gone,
        t.heal_good
    );
    let covered = [
        ("accepted", t.accepted),
        ("rejected", t.rejected),
        ("failed", t.failed),
        ("refused in flight", t.refused_in_flight),
        ("inline", t.inline),
        ("timed out", t.timed_out),
        ("silent", t.silent),
        ("given up", t.given_up),
        ("late", t.late),
        ("resumed ops", t.resumed_ops),
        ("witnessed", t.witnessed),
        ("permission errors", t.perm_errors),
        ("gone", t.gone),
        ("+OK", t.oks),
        ("second answers", t.duplicates),
        ("decided by the options", t.decided_by_options),
        ("decided by the provider", t.decided_by_provider),
    ];
    for (what, n) in covered {
        assert!(n > 0, "{what} went unexercised: {t:?}");
    }
    assert_eq!(t.max_in_flight, MAX_IN_FLIGHT as u64);
    assert!(storms > 0 && callout > 0 && whole > 0 && whole < SEEDS);
}

/// The replay line an `auth` failure prints.
#[test]
fn a_failure_prints_its_replay_line() {
    if skip() {
        return;
    }
    let f = run(3, Some(Sabotage::AuthAcceptAtOnce)).expect_err("the sabotage is caught");
    let text = f.to_string();
    assert!(text.contains(&repro_line(Variant::Auth, 3)), "{text}");
}

/// Runs the sabotage on the seeds `applies` picks (from the unsabotaged run's counts);
/// each must fail by `oracle`. Returns (caught, tried).
fn catch(s: Sabotage, oracle: &str, applies: impl Fn(&AuthStats) -> bool) -> (u64, u64) {
    catch_in(0..SABOTAGE_SEEDS, s, oracle, applies)
}

fn catch_in(
    seeds: std::ops::Range<u64>,
    s: Sabotage,
    oracle: &str,
    applies: impl Fn(&AuthStats) -> bool,
) -> (u64, u64) {
    let (mut caught, mut tried) = (0, 0);
    for seed in seeds {
        let base = run(seed, None).unwrap_or_else(|f| panic!("{f}"));
        let r = run(seed, Some(s));
        if !applies(&base.stats) {
            continue;
        }
        tried += 1;
        match r {
            Err(f)
                if f.violation.kind == ViolationKind::Auth
                    && f.violation.detail.starts_with(oracle) =>
            {
                caught += 1;
            }
            Err(f) => panic!("seed {seed}: {s:?} failed otherwise: {f}"),
            Ok(_) => {}
        }
    }
    println!("{s:?}: caught by `{oracle}` on {caught}/{tried} seeds it applies to");
    (caught, tried)
}

/// (1) The driver lets every client in before the provider answered: the node serves the
/// pipelined SUB/PUB/PING of a connection the provider has not accepted (yet, or ever).
#[test]
fn sabotage_accept_at_once_is_caught() {
    if skip() {
        return;
    }
    let (caught, tried) = catch(Sabotage::AuthAcceptAtOnce, "served", |t| t.requests > 0);
    assert_eq!(caught, tried);
    assert!(tried > 20);
}

/// (2) The driver drops a refused client without handing it the refusal: no `-ERR
/// 'Authorization Violation'`, closed as `ClientClosed`.
#[test]
fn sabotage_reject_silently_is_caught() {
    if skip() {
        return;
    }
    let refusals = |t: &AuthStats| t.rejected + t.failed + t.refused_in_flight > 0;
    let (caught, tried) = catch(Sabotage::AuthRejectSilently, "close", refusals);
    assert_eq!(caught, tried);
    assert!(tried > 20);
}

/// (2) The driver stops a connection's timers while it waits: a decision after the deadline
/// finds it open (and is applied), where the auth timeout must have closed it.
#[test]
fn sabotage_timers_paused_is_caught() {
    if skip() {
        return;
    }
    let (caught, tried) = catch(Sabotage::AuthTimersPaused, "close", |t| t.timed_out > 0);
    assert_eq!(caught, tried);
    assert!(tried > 15);
}

/// (2) The driver acts on a provider's second answer (a refusal after an accept closes the
/// connection): a second decision must change nothing.
#[test]
fn sabotage_act_on_duplicate_is_caught() {
    if skip() {
        return;
    }
    let (caught, tried) = catch_in(0..60, Sabotage::AuthActOnDuplicate, "close", |t| {
        t.refusals_after_accept > 0
    });
    assert_eq!(caught, tried);
    assert!(tried > 10);
}

/// (3) No bound on decisions in flight: a ninth request goes to the provider, on every seed
/// where the bound refused one.
#[test]
fn sabotage_no_bound_is_caught() {
    if skip() {
        return;
    }
    let (caught, tried) = catch(Sabotage::AuthNoBound, "in-flight", |t| {
        t.refused_in_flight > 0
    });
    assert_eq!(caught, tried);
    assert!(tried > 10);
}

/// (3) A slot leaked on every give-up: requests are refused below the bound. Sure to show
/// once `MAX_IN_FLIGHT` slots leaked (every later request is refused, and the heal clients
/// always come later); caught on others too when the leak meets a busy moment.
#[test]
fn sabotage_leak_slot_is_caught() {
    if skip() {
        return;
    }
    let any = |t: &AuthStats| t.given_up > 0;
    let (caught, tried) = catch_in(0..100, Sabotage::AuthLeakSlot, "in-flight", any);
    let many = |t: &AuthStats| t.given_up >= MAX_IN_FLIGHT as u64;
    let (caught_many, tried_many) = catch_in(0..100, Sabotage::AuthLeakSlot, "in-flight", many);
    assert_eq!(caught_many, tried_many);
    assert!(tried_many > 3 && caught * 3 >= tried, "{caught}/{tried}");
}

/// (4) After an accept the driver does not offer what waited in the receive buffer: the
/// pipelined SUB, PUBs and PING of an accepted client are never read unless it writes again.
#[test]
fn sabotage_no_reoffer_is_caught() {
    if skip() {
        return;
    }
    let (caught, tried) = catch(Sabotage::AuthNoReoffer, "liveness", |t| t.accepted > 0);
    assert_eq!(caught, tried);
    assert!(tried > 20);
}

/// (4) The heal never reaches the provider: the heal clients with good credentials do not
/// get in.
#[test]
fn sabotage_no_heal_is_caught() {
    if skip() {
        return;
    }
    let (caught, tried) = catch(Sabotage::AuthNoHeal, "liveness", |t| t.heal_good > 0);
    assert_eq!(caught, tried);
    assert!(tried > 20);
}
