//! A thousand connections at once: every one gets INFO, subscribes, and receives a publish.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{eventually, loopback_opts, read_info, read_until};
use natsd_std::Server;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

const CONNS: usize = 1000;

/// Makes sure this process may open a few thousand descriptors (both ends of every socket
/// live here).
fn raise_nofile() {
    let want = 4 * CONNS as u64 + 256;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < want {
        assert!(
            hard >= want,
            "RLIMIT_NOFILE hard limit {hard} is below {want}"
        );
        setrlimit(Resource::RLIMIT_NOFILE, want, hard).unwrap();
    }
}

#[test]
fn a_thousand_connections_at_once() {
    raise_nofile();
    let server = Server::start(loopback_opts()).unwrap();
    let addr = server.local_addr();
    let started = Instant::now();

    // Open them all before reading anything.
    let mut socks: Vec<TcpStream> = (0..CONNS)
        .map(|i| TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {i}: {e}")))
        .collect();
    for s in &mut socks {
        let info = read_info(s);
        assert_eq!(info["server_id"], server.server_id());
    }
    let connected = started.elapsed();
    eventually("all clients registered", || {
        server.shared().num_clients() == CONNS
    });

    // Everyone subscribes (all sends first, then all PONGs).
    for (i, s) in socks.iter_mut().enumerate() {
        let hello = format!("CONNECT {{\"verbose\":false}}\r\nSUB fan.out {i}\r\nPING\r\n");
        s.write_all(hello.as_bytes()).unwrap();
    }
    for s in &mut socks {
        let mut buf = Vec::new();
        // A slow run may also see the server's first keep-alive PING (after 2s).
        read_until(s, &mut buf, b"PONG\r\n");
    }

    // One publish reaches every subscriber, the publisher included.
    socks[0].write_all(b"PUB fan.out 2\r\nhi\r\n").unwrap();
    for (i, s) in socks.iter_mut().enumerate() {
        let mut buf = Vec::new();
        read_until(s, &mut buf, b"hi\r\n");
        let want = format!("MSG fan.out {i} 2\r\nhi\r\n");
        assert!(
            buf.ends_with(want.as_bytes()),
            "{i}: {}",
            common::show(&buf)
        );
    }
    eprintln!(
        "{CONNS} connections: connected and got INFO in {connected:?}, fan-out done in {:?}",
        started.elapsed()
    );

    // No thread per connection: the workers, the accept and node threads, and this test's
    // own (the old runtime held two per connection: over 2,000 here).
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count());
    if let Ok(threads) = threads {
        assert!(threads < 64, "{threads} threads for {CONNS} connections");
    }

    let stopping = Instant::now();
    server.shutdown();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    for s in &mut socks {
        s.set_read_timeout(Some(common::WAIT)).unwrap();
    }
    assert_eq!(
        common::read_to_close(&mut socks[CONNS - 1]),
        b"",
        "closed at shutdown"
    );
}
