//! Publish rate limits on connections: backpressure pauses reading and loses nothing, drop
//! drops and counts, disconnect closes with `Publish Rate Exceeded`, an account's budget is
//! shared, and a reload applies a new limit to live connections.

use std::time::Duration;

use super::test_util::{connected_with, nop, recv, T0};
use super::*;
use crate::auth::User;
use crate::options::{AccountOptions, Options, RateAction, RateLimit};

fn limit(msgs: u64, burst: u64, action: RateAction) -> RateLimit {
    RateLimit {
        msgs: Some(msgs),
        burst_msgs: Some(burst),
        action,
        ..RateLimit::default()
    }
}

const QUIET: &str = r#"{"verbose":false}"#;

#[test]
fn backpressure_pauses_reading_and_loses_nothing() {
    let sh = Shared::new(
        Options {
            publish_rate: Some(limit(10, 2, RateAction::Backpressure)),
            ..Options::default()
        },
        "N".into(),
        T0,
    );
    let sub = connected_with(&sh, QUIET, "SUB foo 1\r\n");
    let mut p = connected_with(&sh, QUIET, "");
    let burst = b"PUB foo 1\r\nx\r\n".repeat(5);
    let mut off = 0;
    let mut now = T0;
    let mut pauses = 0;
    while off < burst.len() {
        off += p.handle_read_paced(now, &burst[off..], &sh).unwrap();
        if let Some(until) = p.poll_read_pause() {
            assert!(until > now);
            now = until;
            pauses += 1;
        }
    }
    assert_eq!(recv(&sub).matches("MSG foo 1 1").count(), 5, "nothing lost");
    // Two in the burst, then one every 100 ms: 0.3 s for the other three. All five came in
    // one read, charged at its end (see `RATE_BATCH`): one pause repays it all.
    assert!(pauses >= 1, "{pauses} pauses");
    assert!(
        now - T0 >= Duration::from_millis(290) && now - T0 <= Duration::from_millis(310),
        "took {:?}",
        now - T0
    );
    let c = sh.rate_counters("$G", "");
    assert!(c.throttled_nanos.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[test]
fn drop_drops_and_counts() {
    let sh = Shared::new(
        Options {
            publish_rate: Some(limit(10, 2, RateAction::Drop)),
            ..Options::default()
        },
        "N".into(),
        T0,
    );
    let sub = connected_with(&sh, QUIET, "SUB foo 1\r\n");
    let _p = connected_with(&sh, QUIET, &"PUB foo 1\r\nx\r\n".repeat(5));
    assert_eq!(recv(&sub).matches("MSG foo 1 1").count(), 2);
    let c = sh.rate_counters("$G", "");
    assert_eq!(c.dropped.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[test]
fn disconnect_closes_with_its_error() {
    let sh = Shared::new(
        Options {
            publish_rate: Some(limit(10, 2, RateAction::Disconnect)),
            ..Options::default()
        },
        "N".into(),
        T0,
    );
    let mut p = Connection::accept(&sh, T0, None, nop());
    p.handle().take(&mut Vec::new());
    let r = p.handle_read(
        T0,
        format!("CONNECT {QUIET}\r\n{}", "PUB foo 1\r\nx\r\n".repeat(3)).as_bytes(),
        &sh,
    );
    assert_eq!(r, Err(CloseReason::PublishRateExceeded));
    assert_eq!(recv(&p), "-ERR 'Publish Rate Exceeded'\r\n");
}

#[test]
fn a_users_limit_wins_over_the_default_and_an_account_budget_is_shared() {
    let user = |name: &str, rate| User {
        name: name.into(),
        password: "p".into(),
        account: Some("A".into()),
        permissions: None,
        publish_rate: rate,
        nkey: None,
    };
    let mut o = Options {
        publish_rate: Some(limit(1000, 1000, RateAction::Drop)),
        ..Options::default()
    };
    o.auth.users = vec![
        user("u1", Some(limit(10, 1, RateAction::Drop))),
        user("u2", None),
        user("u3", None),
    ];
    o.accounts = vec![AccountOptions {
        name: "A".into(),
        publish_rate: Some(limit(10, 3, RateAction::Drop)),
        ..AccountOptions::default()
    }];
    let sh = Shared::new(o, "N".into(), T0);
    let login = |u: &str| format!(r#"{{"verbose":false,"user":"{u}","pass":"p"}}"#);
    let sub = connected_with(&sh, &login("u2"), "SUB foo 1\r\n");
    // u1's own limit (burst 1) is tighter than the default.
    let _p1 = connected_with(&sh, &login("u1"), &"PUB foo 1\r\nx\r\n".repeat(3));
    assert_eq!(recv(&sub).matches("MSG").count(), 1);
    // The account's budget (burst 3) is shared: one went to u1, two are left for u3.
    let _p3 = connected_with(&sh, &login("u3"), &"PUB foo 1\r\nx\r\n".repeat(5));
    assert_eq!(recv(&sub).matches("MSG").count(), 2);
}

#[test]
fn a_reload_applies_a_new_limit_to_a_live_connection() {
    let o = Options {
        publish_rate: Some(limit(10, 1, RateAction::Drop)),
        ..Options::default()
    };
    let sh = Shared::new(o.clone(), "N".into(), T0);
    let sub = connected_with(&sh, QUIET, "SUB foo 1\r\n");
    let mut p = connected_with(&sh, QUIET, &"PUB foo 1\r\nx\r\n".repeat(3));
    assert_eq!(recv(&sub).matches("MSG").count(), 1);
    let mut o2 = o;
    o2.publish_rate = Some(limit(10, 5, RateAction::Drop));
    sh.apply_reload(&o2);
    p.handle_config_change(T0, &sh);
    p.handle_read(T0, "PUB foo 1\r\nx\r\n".repeat(6).as_bytes(), &sh)
        .unwrap();
    assert_eq!(recv(&sub).matches("MSG").count(), 5, "the new burst, full");
    assert!(!p.is_closed());
}

#[test]
fn an_account_backpressure_budget_is_charged_per_read_and_repaid_by_a_pause() {
    let mut o = Options::default();
    o.auth.users = vec![User {
        name: "u".into(),
        password: "p".into(),
        account: Some("A".into()),
        permissions: None,
        publish_rate: None,
        nkey: None,
    }];
    o.accounts = vec![AccountOptions {
        name: "A".into(),
        publish_rate: Some(limit(10, 2, RateAction::Backpressure)),
        ..AccountOptions::default()
    }];
    let sh = Shared::new(o, "N".into(), T0);
    let login = r#"{"verbose":false,"user":"u","pass":"p"}"#;
    let sub = connected_with(&sh, login, "SUB foo 1\r\n");
    let mut p = connected_with(&sh, login, "");
    let mut now = T0;
    let burst = b"PUB foo 1\r\nx\r\n".repeat(10);
    let mut off = 0;
    while off < burst.len() {
        off += p.handle_read_paced(now, &burst[off..], &sh).unwrap();
        if let Some(until) = p.poll_read_pause() {
            now = until;
        }
    }
    assert_eq!(recv(&sub).matches("MSG").count(), 10, "nothing lost");
    // 10 messages, 2 in the burst, 10/s: the pause repays 0.8 s of debt.
    let took = now - T0;
    assert!(
        took >= Duration::from_millis(790) && took <= Duration::from_millis(810),
        "{took:?}"
    );
}

#[test]
fn backpressure_is_exact_when_messages_come_one_read_at_a_time() {
    let sh = Shared::new(
        Options {
            publish_rate: Some(limit(10, 2, RateAction::Backpressure)),
            ..Options::default()
        },
        "N".into(),
        T0,
    );
    let _sub = connected_with(&sh, QUIET, "SUB foo 1\r\n");
    let mut p = connected_with(&sh, QUIET, "");
    let mut now = T0;
    let mut paused_after = Vec::new();
    for i in 0..5 {
        p.handle_read_paced(now, b"PUB foo 1\r\nx\r\n", &sh)
            .unwrap();
        if let Some(until) = p.poll_read_pause() {
            paused_after.push(i);
            now = until;
        }
    }
    assert_eq!(
        paused_after,
        [2, 3, 4],
        "the burst of 2 goes through, then 10/s"
    );
    assert_eq!(now - T0, Duration::from_millis(300));
}

#[test]
fn throttling_is_announced_in_the_system_account_at_most_once_a_second() {
    let user = |name: &str, account: Option<&str>| User {
        name: name.into(),
        password: "p".into(),
        account: account.map(str::to_string),
        permissions: None,
        publish_rate: None,
        nkey: None,
    };
    let mut o = Options {
        publish_rate: Some(limit(10, 1, RateAction::Backpressure)),
        ..Options::default()
    };
    o.auth.users = vec![user("u", None), user("sys", Some("$SYS"))];
    let sh = Shared::new(o, "NADV".into(), T0);
    let watcher = connected_with(
        &sh,
        r#"{"verbose":false,"user":"sys","pass":"p"}"#,
        "SUB $SYS.ACCOUNT.*.PUBLISH.THROTTLED 1\r\n",
    );
    let mut p = connected_with(
        &sh,
        r#"{"verbose":false,"user":"u","pass":"p","name":"flood"}"#,
        "",
    );
    let mut now = T0;
    for _ in 0..8 {
        p.handle_read_paced(now, b"PUB foo 1\r\nx\r\n", &sh)
            .unwrap();
        if let Some(until) = p.poll_read_pause() {
            now = until;
        }
    }
    let got = recv(&watcher);
    assert_eq!(
        got.matches("MSG $SYS.ACCOUNT.$G.PUBLISH.THROTTLED 1")
            .count(),
        1,
        "{got}"
    );
    assert!(
        got.contains("\"type\":\"io.natsd.advisory.v1.publish_throttled\""),
        "{got}"
    );
    assert!(
        got.contains("\"user\":\"u\"") && got.contains("\"name\":\"flood\""),
        "{got}"
    );
    // A second later, still throttled: one more.
    for _ in 0..12 {
        p.handle_read_paced(now, b"PUB foo 1\r\nx\r\n", &sh)
            .unwrap();
        if let Some(until) = p.poll_read_pause() {
            now = until;
        }
    }
    assert_eq!(recv(&watcher).matches("PUBLISH.THROTTLED").count(), 1);
}
