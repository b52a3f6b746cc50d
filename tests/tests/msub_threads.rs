//! `MSUB` (docs/msub.md) against many publishers on many threads, through the core's
//! connections directly: a subscription born with its limit never gets more than `max`,
//! plain or in a queue group, and gets exactly `max` when enough are published.

use std::sync::Arc;
use std::thread;

use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::options::Options;
use natsd_core::shared::Shared;
use natsd_core::Time;

struct Nop;
impl Notify for Nop {
    fn notify(&self) {}
}

const T0: Time = Time::from_nanos(1_000_000_000);

fn connected(sh: &Shared, ops: &str) -> Connection {
    let mut c = Connection::accept(sh, T0, None, Arc::new(Nop));
    c.handle().take(&mut Vec::new());
    c.handle_read(
        T0,
        format!("CONNECT {{\"verbose\":false}}\r\n{ops}").as_bytes(),
        sh,
    )
    .unwrap();
    c
}

#[test]
fn msub_is_never_exceeded_by_concurrent_publishers() {
    for max in [1u64, 7, 100] {
        let sh = Arc::new(Shared::new(Options::default(), "N".into(), T0));
        let sub = connected(
            &sh,
            &format!("MSUB foo 1 {max}\r\nMSUB foo grp 2 {max}\r\n"),
        );
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let sh = Arc::clone(&sh);
                thread::spawn(move || {
                    let mut p = connected(&sh, "");
                    for _ in 0..200 {
                        p.handle_read(T0, b"PUB foo 1\r\nx\r\n", &sh).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut out = Vec::new();
        sub.handle().take(&mut out);
        let got = String::from_utf8(out).unwrap();
        assert_eq!(
            got.matches("MSG foo 1 1").count() as u64,
            max,
            "plain, max {max}"
        );
        assert_eq!(
            got.matches("MSG foo 2 1").count() as u64,
            max,
            "queue, max {max}"
        );
        assert_eq!(
            sh.global_account().num_subscriptions(),
            natsd_core::imports::SYSTEM_IMPORTS,
            "both removed"
        );
    }
}
