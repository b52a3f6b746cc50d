//! Parsing throughput: a read buffer full of `PUB` (or `HPUB`) ops, as a publisher's socket
//! delivers them, or of `RMSG` ops, as a route delivers them, run through
//! [`natsd_core::proto::Parser`] op by op.
//!
//! Two buffer shapes: one big buffer holding whole ops (the zero-copy path, where every op
//! borrows from the read buffer), and the same stream cut into 4 KiB reads (so some ops are
//! split and assembled in the parser's own buffers, as on a real socket).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natsd_core::proto::{encode, ConnKind, Limits, Op, Parser};
use std::hint::black_box;

/// Ops per benchmark iteration.
const OPS: usize = 1000;
/// Payload sizes measured.
const SIZES: [usize; 3] = [16, 128, 1024];

fn pub_stream(size: usize) -> Vec<u8> {
    let payload = vec![b'x'; size];
    let mut buf = Vec::new();
    for _ in 0..OPS {
        encode::publish(&mut buf, b"foo.bar.baz", None, &payload);
    }
    buf
}

fn hpub_stream(size: usize) -> Vec<u8> {
    let headers = b"NATS/1.0\r\nX-Trace: abc\r\n\r\n";
    let mut payload = headers.to_vec();
    payload.resize(headers.len() + size, b'x');
    let mut buf = Vec::new();
    for _ in 0..OPS {
        encode::hpublish(
            &mut buf,
            b"foo.bar.baz",
            Some(b"_INBOX.x"),
            headers.len(),
            &payload,
        );
    }
    buf
}

fn rmsg_stream(size: usize) -> Vec<u8> {
    let payload = vec![b'x'; size];
    let mut buf = Vec::new();
    for _ in 0..OPS {
        encode::rmsg(&mut buf, b"$G", b"foo.bar.baz", None, None, None, &payload);
    }
    buf
}

/// Parses every op in `chunks` (successive reads), returning the payload bytes seen.
fn parse_all(parser: &mut Parser, chunks: &[&[u8]]) -> usize {
    let mut seen = 0;
    for chunk in chunks {
        let mut pos = 0;
        while pos < chunk.len() {
            match parser.parse(chunk, &mut pos) {
                Ok(Some(Op::Pub { payload, .. }))
                | Ok(Some(Op::HPub { payload, .. }))
                | Ok(Some(Op::RMsg { payload, .. })) => seen += payload.len(),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("parse error {e:?}"),
            }
        }
    }
    seen
}

fn bench_stream(c: &mut Criterion, name: &str, make: fn(usize) -> Vec<u8>, peer: ConnKind) {
    let mut g = c.benchmark_group(name);
    for size in SIZES {
        let buf = make(size);
        g.throughput(Throughput::Elements(OPS as u64));
        g.bench_with_input(BenchmarkId::new("whole", size), &buf, |b, buf| {
            let mut parser = Parser::for_peer(Limits::default(), peer);
            parser.set_headers(true);
            let chunks = [buf.as_slice()];
            b.iter(|| black_box(parse_all(&mut parser, black_box(&chunks))));
        });
        let split: Vec<&[u8]> = buf.chunks(4096).collect();
        g.bench_with_input(BenchmarkId::new("4k_reads", size), &split, |b, split| {
            let mut parser = Parser::for_peer(Limits::default(), peer);
            parser.set_headers(true);
            b.iter(|| black_box(parse_all(&mut parser, black_box(split))));
        });
    }
    g.finish();
}

fn parse_pub(c: &mut Criterion) {
    bench_stream(c, "parse_pub", pub_stream, ConnKind::Client);
}

fn parse_hpub(c: &mut Criterion) {
    bench_stream(c, "parse_hpub", hpub_stream, ConnKind::Client);
}

fn parse_rmsg(c: &mut Criterion) {
    bench_stream(c, "parse_rmsg", rmsg_stream, ConnKind::Route);
}

criterion_group!(benches, parse_pub, parse_hpub, parse_rmsg);
criterion_main!(benches);
