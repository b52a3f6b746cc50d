//! Flow control: the fast-producer stall of `handle_read_paced`.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::client::Notify;
use crate::options::Options;

struct Nop;
impl Notify for Nop {
    fn notify(&self) {}
}

const T0: Time = Time::from_nanos(1_000_000_000);
const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

fn connected(sh: &Shared) -> Connection {
    let mut c = Connection::accept(sh, T0, None, Arc::new(Nop));
    c.handle_read(T0, QUIET.as_bytes(), sh).unwrap();
    drain(&c);
    c
}

fn drain(c: &Connection) -> String {
    let mut out = Vec::new();
    c.handle().take(&mut out);
    String::from_utf8(out).unwrap()
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
        got += drain(&sub).matches("MSG data 1 100\r\n").count();
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
