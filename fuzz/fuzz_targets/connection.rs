//! Arbitrary byte streams (CONNECT JSON included) into two connections sharing one small
//! server, with a fake clock: never panics, and the invariants the rest of the server relies
//! on hold after every step.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_core::shared::Shared;
use natsd_core::Time;

struct Nop;

impl Notify for Nop {
    fn notify(&self) {}
}

#[derive(Debug, Arbitrary)]
enum Action {
    /// Bytes from client 0 or 1.
    Read { second: bool, data: Vec<u8> },
    /// Time passes; timers fire.
    Tick { millis: u16 },
    /// The writer drains a client's queue.
    Drain { second: bool },
    /// A client goes away.
    Close { second: bool },
}

const MAX_PENDING: usize = 8 * 1024;
const MAX_SUBS: usize = 16;

fuzz_target!(|input: (bool, Vec<Action>)| {
    let (auth, actions) = input;
    let mut opts = Options {
        max_payload: 512,
        max_control_line: 128,
        max_pending: MAX_PENDING,
        max_subscriptions: MAX_SUBS,
        ping_interval: Duration::from_millis(500),
        ping_max: 2,
        ..Options::default()
    };
    if auth {
        opts.auth.user = Some("u".into());
        opts.auth.password = Some("p".into());
        opts.auth.timeout = Duration::from_millis(300);
    }
    let mut now = Time::from_nanos(1_000_000_000);
    let sh = Shared::new(opts, "NFUZZ".into(), now);
    let mut conns: Vec<Connection> = (0..2)
        .map(|_| Connection::accept(&sh, now, None, Arc::new(Nop)))
        .collect();
    let mut sink = Vec::new();
    for a in actions.into_iter().take(200) {
        match a {
            Action::Read { second, data } => {
                let _ = conns[usize::from(second)].handle_read(now, &data, &sh);
            }
            Action::Tick { millis } => {
                now = now + Duration::from_millis(u64::from(millis));
                for c in &mut conns {
                    if c.poll_timeout().is_some_and(|t| t <= now) {
                        c.handle_timeout(now, &sh);
                    }
                }
            }
            Action::Drain { second } => {
                sink.clear();
                conns[usize::from(second)].handle().take(&mut sink);
            }
            Action::Close { second } => {
                conns[usize::from(second)].handle_close(now, &sh, CloseReason::ClientClosed);
            }
        }
        for c in &mut conns {
            while c.poll_event().is_some() {}
            assert!(
                c.num_subscriptions() <= MAX_SUBS,
                "subscription limit exceeded"
            );
            // A queue may pass max_pending only by the one message that tripped it, and
            // then it is closed and emptied.
            assert!(
                c.handle().pending_bytes() <= MAX_PENDING,
                "pending bytes over the limit"
            );
            if c.is_closed() {
                assert!(
                    c.poll_timeout().is_none(),
                    "a closed connection has no timers"
                );
                assert_eq!(
                    c.num_subscriptions(),
                    0,
                    "a closed connection keeps no subs"
                );
            }
        }
        let live = conns.iter().filter(|c| !c.is_closed()).count();
        assert_eq!(
            sh.num_clients(),
            live,
            "registry out of step with connections"
        );
        let subs: usize = conns.iter().map(Connection::num_subscriptions).sum();
        // Besides the clients', `$G` holds the server's own: its imports from the system
        // account.
        assert!(
            sh.global_account().num_subscriptions() <= subs + natsd_core::imports::SYSTEM_IMPORTS,
            "sublist holds stale subs"
        );
    }
});
