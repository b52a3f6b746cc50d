//! A client's outbound queue under several publishers at once (threads: not in the core,
//! which has none): no wake-up of its writer is lost.

use std::sync::{Arc, Condvar, Mutex};

use natsd_core::client::{ClientHandle, Delivered, Delivery, Notify};
use natsd_core::proto::encode;
use natsd_core::Time;

/// A writer's wake-up: counted, and waited on by the test's writer thread.
#[derive(Default)]
struct Bell {
    rung: Mutex<u64>,
    cv: Condvar,
}

impl Notify for Bell {
    fn notify(&self) {
        *self.rung.lock().unwrap() += 1;
        self.cv.notify_all();
    }
}

fn msg(payload: &[u8]) -> Delivery<'_> {
    Delivery {
        subject: b"s",
        reply: None,
        header_len: 0,
        payload,
        has_headers: false,
    }
}

/// Publishers on several threads, each waking the writer only when told it owes the
/// wake-up, and a writer that takes only when rung: every byte reaches the writer, with
/// no final wake-up from the test. A wake-up lost near the end leaves bytes queued and
/// the writer asleep (the wait below then times out); one lost earlier is covered by the
/// next batch's, so this catches gross errors (no wake-up owed, or owed twice over is
/// harmless), not every interleaving: it fails if `owe_wake` never owes one.
#[test]
fn no_wake_up_is_lost_between_publishers() {
    const THREADS: usize = 4;
    const BATCHES: usize = 2000;
    const PER_BATCH: usize = 3;
    let bell = Arc::new(Bell::default());
    let h = Arc::new(ClientHandle::new(
        1,
        None,
        usize::MAX,
        7,
        Arc::clone(&bell) as Arc<dyn Notify>,
    ));
    let one = {
        let mut v = Vec::new();
        encode::msg(&mut v, b"s", b"1", None, b"x");
        v.len()
    };
    let want = THREADS * BATCHES * PER_BATCH * one;
    let publishers: Vec<_> = (0..THREADS)
        .map(|_| {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                for _ in 0..BATCHES {
                    let mut owed = false;
                    for _ in 0..PER_BATCH {
                        match h.deliver(&msg(b"x"), b"1", Time::ZERO) {
                            Delivered::Queued { wake } => owed |= wake,
                            other => panic!("{other:?}"),
                        }
                    }
                    if owed {
                        h.wake();
                    }
                }
            })
        })
        .collect();
    let mut got = 0;
    let mut seen = 0;
    let mut buf = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while got < want {
        {
            let mut rung = bell.rung.lock().unwrap();
            while *rung == seen {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                assert!(!left.is_zero(), "writer never woken: {got} of {want} bytes");
                rung = bell.cv.wait_timeout(rung, left).unwrap().0;
            }
            seen = *rung;
        }
        buf.clear();
        got += h.take(&mut buf).bytes;
    }
    for p in publishers {
        p.join().unwrap();
    }
    assert_eq!(got, want);
}

/// `UNSUB sid max` under several publishers at once: the count `deliver_sub` keeps under
/// the receiver's lock lets exactly `max` through, and exactly one delivery is the last.
/// With the count stored after the lock is released, increments were lost and all 80,000
/// got through (tried).
#[test]
fn an_auto_unsubscribe_limit_is_exact_between_publishers() {
    const THREADS: u64 = 4;
    const EACH: u64 = 20_000;
    const MAX: u64 = 50_000;
    let h = Arc::new(ClientHandle::new(
        1,
        None,
        usize::MAX,
        7,
        Arc::new(Bell::default()) as Arc<dyn Notify>,
    ));
    let sub = Arc::new(natsd_core::client::Subscription::new(
        b"s",
        None,
        b"1",
        Arc::clone(&h),
    ));
    assert!(sub.set_max(MAX));
    let publishers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (h, sub) = (Arc::clone(&h), Arc::clone(&sub));
            std::thread::spawn(move || {
                let (mut queued, mut last) = (0u64, 0u64);
                for _ in 0..EACH {
                    let (d, l) = h.deliver_sub(&msg(b"x"), &sub, Time::ZERO);
                    if matches!(d, Delivered::Queued { .. } | Delivered::QueuedStall { .. }) {
                        queued += 1;
                    }
                    last += u64::from(l);
                }
                (queued, last)
            })
        })
        .collect();
    let (queued, last) = publishers
        .into_iter()
        .map(|p| p.join().expect("publisher"))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!(queued, MAX, "delivered past or short of the limit");
    assert_eq!(last, 1, "one delivery is the last");
    assert_eq!(sub.delivered(), MAX);
    assert!(sub.is_closed());
}
