//! Encoding `MSG` (and `HMSG`) into an output buffer, as delivery does for every receiver.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natsd_core::proto::encode;

/// Messages encoded per iteration (into a buffer that is cleared, not reallocated).
const MSGS: usize = 1000;

fn encode_msg(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(MSGS as u64));
    for size in [16usize, 128, 1024] {
        let payload = vec![b'x'; size];
        let mut out = Vec::with_capacity(MSGS * (size + 64));
        g.bench_with_input(BenchmarkId::new("msg", size), &payload, |b, payload| {
            b.iter(|| {
                out.clear();
                for _ in 0..MSGS {
                    encode::msg(&mut out, b"foo.bar.baz", b"12", None, black_box(payload));
                }
                black_box(out.len())
            })
        });
        g.bench_with_input(
            BenchmarkId::new("msg_reply", size),
            &payload,
            |b, payload| {
                b.iter(|| {
                    out.clear();
                    for _ in 0..MSGS {
                        encode::msg(
                            &mut out,
                            b"foo.bar.baz",
                            b"12",
                            Some(b"_INBOX.abcdefgh.1"),
                            black_box(payload),
                        );
                    }
                    black_box(out.len())
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("hmsg", size), &payload, |b, payload| {
            b.iter(|| {
                out.clear();
                for _ in 0..MSGS {
                    encode::hmsg(
                        &mut out,
                        b"foo.bar.baz",
                        b"12",
                        None,
                        12,
                        black_box(payload),
                    );
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, encode_msg);
criterion_main!(benches);
