//! Divergences from the Go server the simulator found, pinned until the core is fixed.
//! Each test asserts the bug is still there: when a fix lands it fails, and the workload
//! switch that avoids the case can be turned on by default.

use natsd_sim::{env_seed, run, Config, ViolationKind};

/// A message that a subscriber's subscribe-deny list filters is counted against that
/// subscription's `UNSUB sid max` limit by the core (`Subscription::admit` runs in
/// `conn/publish.rs::deliver_one` before `ClientHandle::deliver` applies the filter, and a
/// filtered *last* delivery is not given back), so the subscription is used up by a message
/// it never got, and the next matching message is lost. Go checks the deny list first
/// (`client.go` `deliverMsg`: `checkDenySub` before `sub.nm++`). Found by plain seed 13
/// with `Features::deny_with_limits` on (sid 3 `b.>`, limit 4, user denied `*.b`: a `b.b`
/// message used up the fourth delivery; `b.c` never came).
#[test]
fn filtered_message_uses_up_a_limit() {
    if env_seed().is_some() {
        return;
    }
    let mut caught = Vec::new();
    for seed in 0..300 {
        let mut cfg = Config::from_seed(seed);
        cfg.features.deny_with_limits = true;
        if let Err(f) = run(cfg) {
            assert!(
                matches!(
                    f.violation.kind,
                    ViolationKind::Missing | ViolationKind::Flush
                ),
                "seed {seed}: another failure than the known one:\n{f}"
            );
            caught.push(seed);
        }
    }
    println!("filtered deliveries used up a limit in seeds {caught:?}");
    assert!(
        !caught.is_empty(),
        "no seed shows the deny/limit divergence any more: fixed? Turn \
         Features::deny_with_limits on by default and drop this test"
    );
}
