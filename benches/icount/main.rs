//! A fixed core workload for instruction counts (run by `benches/icount.sh` under callgrind):
//! one publisher connection feeding 64 KiB batches of `PUB foo 16` through
//! `Connection::handle_read`, to 0 (`pub`), 1 (`pubsub`) or 5 (`fanout`) subscriber
//! connections whose queues are drained after every batch. No sockets, no threads, a fixed
//! clock: the same binary and arguments always execute the same instructions, whatever else
//! the machine is doing. Built outside the workspace against any commit's `natsd-core`, so
//! it uses only API that has been stable since the start.

use std::sync::Arc;
use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::options::Options;
use natsd_core::shared::Shared;
use natsd_core::Time;

struct Nop;
impl Notify for Nop { fn notify(&self) {} }

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "pub".into());
    // Messages (default 200k): the setup's cost is spread thin, callgrind stays quick.
    let n: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(200_000);
    let t0 = Time::from_nanos(1_000_000_000);
    let sh = Shared::new(Options::default(), "NBENCH".into(), t0);
    let mut p = Connection::accept(&sh, t0, None, Arc::new(Nop));
    p.handle_read(t0, b"CONNECT {\"verbose\":false}\r\n", &sh).unwrap();
    let mut subs = Vec::new();
    let nsubs = match mode.as_str() { "pub" => 0, "pubsub" => 1, _ => 5 };
    for _ in 0..nsubs {
        let mut s = Connection::accept(&sh, t0, None, Arc::new(Nop));
        s.handle_read(t0, b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\n", &sh).unwrap();
        subs.push(s);
    }
    let one = b"PUB foo 16\r\n0123456789abcdef\r\n";
    let per = 65536 / one.len();
    let chunk: Vec<u8> = one.iter().copied().cycle().take(per * one.len()).collect();
    let mut sent = 0;
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    while sent < n {
        p.handle_read(t0, &chunk, &sh).unwrap();
        sent += per;
        for s in &subs { out.clear(); s.handle().take(&mut out); }
        p.handle().take(&mut out);
    }
    eprintln!("{mode}: {sent} msgs in {:?} ({:.1} ns/msg)", start.elapsed(), start.elapsed().as_nanos() as f64 / sent as f64);
}
