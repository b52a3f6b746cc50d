//! A rough pub/sub throughput check (not a benchmark; `benches/` owns those): one publisher
//! writes N small messages in large batches, one subscriber reads them, over loopback.
//!
//! `cargo run --release -p natsd-std --example throughput [messages] [payload]`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use natsd_core::options::Options;
use natsd_std::Server;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let server = Server::start(Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..Options::default()
    })
    .expect("start");
    let addr = server.local_addr();

    let mut sub = TcpStream::connect(addr).expect("connect");
    sub.write_all(b"CONNECT {\"verbose\":false}\r\nSUB bench 1\r\nPING\r\n")
        .expect("write");
    let frame = format!("MSG bench 1 {size}\r\n").len() + size + 2;
    let mut hello = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    while !hello.ends_with(b"PONG\r\n") {
        let k = sub.read(&mut chunk).expect("read");
        hello.extend_from_slice(&chunk[..k]);
    }
    let reader = std::thread::spawn(move || {
        let want = n * frame;
        let mut got = 0;
        while got < want {
            let k = sub.read(&mut chunk).expect("read");
            assert!(k > 0, "EOF after {got} of {want}");
            got += k;
        }
    });

    let mut publ = TcpStream::connect(addr).expect("connect");
    publ.write_all(b"CONNECT {\"verbose\":false}\r\n")
        .expect("write");
    let mut one = format!("PUB bench {size}\r\n").into_bytes();
    one.extend(std::iter::repeat_n(b'x', size));
    one.extend_from_slice(b"\r\n");
    let per_batch = (64 * 1024 / one.len()).max(1);
    let batch: Vec<u8> = one.repeat(per_batch);
    let started = Instant::now();
    let mut sent = 0;
    while sent < n {
        let k = per_batch.min(n - sent);
        publ.write_all(&batch[..k * one.len()]).expect("write");
        sent += k;
    }
    reader.join().expect("reader");
    let took = started.elapsed();
    println!(
        "{n} msgs of {size} B in {took:?}: {:.0} msgs/s, {:.1} MiB/s delivered",
        n as f64 / took.as_secs_f64(),
        (n * frame) as f64 / took.as_secs_f64() / (1024.0 * 1024.0)
    );
    server.shutdown();
}
