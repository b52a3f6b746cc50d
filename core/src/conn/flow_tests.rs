//! Flow control: the fast-producer stall of `handle_read_paced`.

use std::time::Duration;

use super::test_util::{nop, recv, T0};
use super::*;
use crate::options::Options;

const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

fn connected(sh: &Shared) -> Connection {
    let mut c = Connection::accept(sh, T0, None, nop());
    c.handle_read(T0, QUIET.as_bytes(), sh).unwrap();
    recv(&c);
    c
}

fn setup() -> (Shared, Connection, Connection, Vec<u8>) {
    let sh = Shared::new(
        Options {
            max_pending: 4096,
            ..Options::default()
        },
        "NTEST".into(),
        T0,
    );
    let mut sub = connected(&sh);
    sub.handle_read(T0, b"SUB data 1\r\n", &sh).unwrap();
    let publisher = connected(&sh);
    // 100 messages of ~120 bytes on the wire each: three times the receiver's max_pending.
    let burst = format!("PUB data 100\r\n{}\r\n", "x".repeat(100)).repeat(100);
    (sh, sub, publisher, burst.into_bytes())
}

/// The receiver drains between pauses (its writer keeps up, just later than the producer):
/// the producer pauses each time the receiver passes 3/4 of max_pending, and every message
/// arrives; nobody is closed. Without the stall the same burst closes the receiver.
#[test]
fn producer_pauses_until_the_receiver_drains() {
    let (sh, sub, mut p, burst) = setup();
    let (mut off, mut now, mut got, mut pauses) = (0, T0, 0, 0);
    while off < burst.len() {
        off += p.handle_read_paced(now, &burst[off..], &sh).unwrap();
        if let Some(until) = p.poll_read_pause() {
            assert!(
                until > now && until <= now + STALL_STEP,
                "one step at a time"
            );
            pauses += 1;
            // Nothing more is consumed while paused; the receiver's writer drains meanwhile.
            assert!(sub.handle().pending_bytes() > crate::client::stall_mark(4096));
            now = until;
        }
        got += recv(&sub).matches("MSG data 1 100\r\n").count();
    }
    assert_eq!(got, 100);
    assert!(pauses >= 2, "paused {pauses} times");
    assert!(!sub.is_closed() && sub.handle().close_reason().is_none());

    // The same burst without flow control: the receiver is a slow consumer.
    let (sh, sub, mut p, burst) = setup();
    p.handle_read(T0, &burst, &sh).unwrap();
    assert_eq!(
        sub.handle().close_reason(),
        Some(CloseReason::SlowConsumerPendingBytes)
    );
}

/// A receiver that never drains: the producer pauses at most STALL_BUDGET per read buffer,
/// then runs on and the receiver becomes a slow consumer (as Go 2.10+).
#[test]
fn stall_budget_is_bounded_per_read_buffer() {
    let (sh, sub, mut p, burst) = setup();
    let (mut off, mut now, mut paused) = (0, T0, Duration::ZERO);
    while off < burst.len() {
        off += p.handle_read_paced(now, &burst[off..], &sh).unwrap();
        if let Some(until) = p.poll_read_pause() {
            paused += until - now;
            now = until;
        }
    }
    assert_eq!(paused, STALL_BUDGET);
    assert_eq!(
        sub.handle().close_reason(),
        Some(CloseReason::SlowConsumerPendingBytes)
    );
    assert!(!p.is_closed(), "the producer is never punished");
}

fn bcrypt_server() -> Shared {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let mut o = Options::default();
    o.auth.users = vec![crate::auth::User {
        name: "alice".into(),
        password: hash,
        account: None,
        permissions: None,
        publish_rate: None,
        nkey: None,
    }];
    Shared::new(o, "NTEST".into(), T0)
}

/// A CONNECT with a bcrypt-checked password waits for a decision made elsewhere, after a
/// delay: nothing the client sent after it is processed before the decision, everything
/// after it is (the model for external auth providers).
#[test]
fn connect_waits_for_a_late_auth_decision() {
    let sh = bcrypt_server();
    let mut c = Connection::accept(&sh, T0, None, nop());
    recv(&c);
    let connect = "CONNECT {\"verbose\":true,\"user\":\"alice\",\"pass\":\"s3cret\"}\r\n";
    let rest = "SUB me 1\r\nPUB me 2\r\nhi\r\nPING\r\n";
    let input = format!("{connect}{rest}");
    let n = c.handle_read_paced(T0, input.as_bytes(), &sh).unwrap();
    assert_eq!(n, connect.len(), "stops right after CONNECT");
    let req = c.poll_auth_request().expect("an auth request");
    assert_eq!(req.user(), Some("alice"));
    assert!(c.poll_auth_request().is_none(), "asked once");
    // While waiting: nothing is consumed, nothing was processed.
    assert_eq!(c.handle_read_paced(T0, rest.as_bytes(), &sh).unwrap(), 0);
    assert_eq!(
        sh.global_account().num_subscriptions(),
        crate::imports::SYSTEM_IMPORTS
    );
    assert_eq!(recv(&c), "");
    // The provider answers 300 ms later (the decision itself is the built-in one).
    let later = T0 + Duration::from_millis(300);
    let decision = req.decide();
    c.handle_auth_decision(later, decision, &sh);
    assert_eq!(recv(&c), "+OK\r\n");
    let n2 = c.handle_read_paced(later, rest.as_bytes(), &sh).unwrap();
    assert_eq!(n2, rest.len());
    assert_eq!(recv(&c), "+OK\r\n+OK\r\nMSG me 1 2\r\nhi\r\nPONG\r\n");
}

/// A rejected decision closes with Go's error; what followed CONNECT is never processed.
#[test]
fn rejected_auth_decision_closes() {
    let sh = bcrypt_server();
    let mut c = Connection::accept(&sh, T0, None, nop());
    recv(&c);
    let input = "CONNECT {\"user\":\"alice\",\"pass\":\"wrong\"}\r\nSUB x 1\r\n";
    c.handle_read_paced(T0, input.as_bytes(), &sh).unwrap();
    let req = c.poll_auth_request().unwrap();
    assert!(!req.decide().is_accept(), "wrong password");
    c.handle_auth_decision(T0, AuthDecision::reject(), &sh);
    assert_eq!(recv(&c), "-ERR 'Authorization Violation'\r\n");
    assert!(c.is_closed());
    assert_eq!(
        sh.global_account().num_subscriptions(),
        crate::imports::SYSTEM_IMPORTS
    );
}

/// The auth timeout still runs while a decision is pending; a late decision is ignored.
#[test]
fn auth_timeout_applies_while_waiting() {
    let sh = bcrypt_server();
    let mut c = Connection::accept(&sh, T0, None, nop());
    recv(&c);
    c.handle_read_paced(
        T0,
        b"CONNECT {\"user\":\"alice\",\"pass\":\"s3cret\"}\r\n",
        &sh,
    )
    .unwrap();
    let req = c.poll_auth_request().unwrap();
    let deadline = c.poll_timeout().unwrap();
    assert!(deadline <= T0 + Duration::from_secs(2));
    c.handle_timeout(deadline, &sh);
    assert!(c.is_closed());
    assert_eq!(recv(&c), "-ERR 'Authentication Timeout'\r\n");
    c.handle_auth_decision(deadline, req.decide(), &sh);
    assert_eq!(recv(&c), "");
}

/// The unpaced `handle_read` (simulator, fuzzing) decides inline, bcrypt or not.
#[test]
fn unpaced_auth_is_inline() {
    let sh = bcrypt_server();
    let mut c = Connection::accept(&sh, T0, None, nop());
    recv(&c);
    c.handle_read(
        T0,
        b"CONNECT {\"verbose\":true,\"user\":\"alice\",\"pass\":\"s3cret\"}\r\n",
        &sh,
    )
    .unwrap();
    assert!(c.poll_auth_request().is_none());
    assert_eq!(recv(&c), "+OK\r\n");
}
