//! `MSUB`: a subscription born with its auto-unsubscribe limit: exactly `max` when enough
//! are published after it exists; the limit shows in monitoring. (Many publishers on many
//! threads: `tests/tests/msub_threads.rs`, core has no threads; a route's interest ending
//! with it: `route_tests.rs`.)

use super::test_util::{connected_with, recv, T0};
use super::*;
use crate::options::Options;

fn connected(sh: &Shared, ops: &str) -> Connection {
    connected_with(sh, r#"{"verbose":false}"#, ops)
}

#[test]
fn msub_takes_exactly_max_then_is_gone() {
    let sh = Shared::new(Options::default(), "N".into(), T0);
    let sub = connected(&sh, "MSUB foo 1 3\r\nMSUB bar q 2 1\r\n");
    let mut p = connected(&sh, "");
    for _ in 0..5 {
        p.handle_read(T0, b"PUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\n", &sh)
            .unwrap();
    }
    let got = recv(&sub);
    assert_eq!(got.matches("MSG foo 1 1").count(), 3, "{got}");
    assert_eq!(got.matches("MSG bar 2 1").count(), 1, "{got}");
    assert_eq!(
        sh.global_account().num_subscriptions(),
        crate::imports::SYSTEM_IMPORTS,
        "both removed at their limit"
    );
}

#[test]
fn msub_limit_shows_in_monitoring() {
    let sh = Shared::new(Options::default(), "N".into(), T0);
    let _sub = connected(&sh, "MSUB foo 1 10\r\n");
    let mut p = connected(&sh, "");
    p.handle_read(T0, b"PUB foo 1\r\nx\r\nPUB foo 1\r\nx\r\n", &sh)
        .unwrap();
    let clock = crate::monitor::Clock {
        now: T0,
        wall_nanos: 0,
    };
    let q = crate::monitor::Query::parse("subs=1");
    let o = crate::monitor::SubszOptions::from_query(&q).unwrap();
    let s = serde_json::to_value(crate::monitor::subsz(&sh, clock, &o)).unwrap();
    let list = s["subscriptions_list"].as_array().unwrap();
    let detail = list.iter().find(|d| d["subject"] == "foo").unwrap();
    assert_eq!(
        (detail["max"].as_u64(), detail["msgs"].as_u64()),
        (Some(10), Some(2)),
        "{s}"
    );
}
