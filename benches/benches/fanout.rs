//! In-process publish → fan-out through the core, without sockets.
//!
//! A publisher [`Connection`] is fed a read buffer of `PUB` ops with
//! [`Connection::handle_read`]; 1, 5 or 100 subscriber connections on the same subject receive
//! every message into their outbound queues, which are drained after each batch with
//! `conn.handle().take(&mut buf)`, as a runtime's writer would. The time is fixed (a fake
//! clock) and wake-ups go to a counter that does nothing.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::options::Options;
use natsd_core::proto::encode;
use natsd_core::shared::Shared;
use natsd_core::Time;

/// Messages per publisher read batch (one `handle_read` call).
const BATCH: usize = 100;
/// Payload size.
const PAYLOAD: usize = 128;

/// A fixed instant; the benchmark never advances time.
const T0: Time = Time::from_nanos(1_000_000_000);

/// Wake-ups go nowhere: the benchmark drains every queue itself.
struct NoNotify;

impl Notify for NoNotify {
    fn notify(&self) {}
}

fn connect(sh: &Shared, extra: &str) -> Connection {
    let mut conn = Connection::accept(sh, T0, None, Arc::new(NoNotify) as Arc<dyn Notify>);
    let hello = format!("CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\n{extra}");
    conn.handle_read(T0, hello.as_bytes(), sh)
        .expect("connect accepted");
    let mut sink = Vec::new();
    conn.handle().take(&mut sink);
    conn
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    let payload = vec![b'x'; PAYLOAD];
    let mut batch = Vec::new();
    for _ in 0..BATCH {
        encode::publish(&mut batch, b"bench.subject", None, &payload);
    }
    for n in [1usize, 5, 100] {
        let sh = Shared::new(Options::default(), "NBENCH".into(), T0);
        let subs: Vec<Connection> = (0..n)
            .map(|_| connect(&sh, "SUB bench.subject 1\r\n"))
            .collect();
        let mut publisher = connect(&sh, "");
        let mut out = Vec::with_capacity(BATCH * (PAYLOAD + 64));
        g.throughput(Throughput::Elements((BATCH * n) as u64));
        g.bench_function(BenchmarkId::new("deliveries", n), |b| {
            b.iter(|| {
                publisher
                    .handle_read(T0, black_box(&batch), &sh)
                    .expect("publisher stays open");
                let mut total = 0;
                for s in &subs {
                    out.clear();
                    total += s.handle().take(&mut out).bytes;
                }
                assert!(
                    total >= BATCH * n * PAYLOAD,
                    "every subscriber got every message"
                );
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
