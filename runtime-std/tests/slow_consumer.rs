//! Slow consumers are cut off, by pending bytes or by the write deadline, while a healthy
//! subscriber keeps receiving everything.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{client, loopback_opts, read_info, read_to_close, read_until, WAIT};
use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_std::Server;
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};

const PAYLOAD: usize = 1024;
/// Messages per publish batch (about 33 KiB), well under the max_pending used below.
const BATCH: usize = 32;
/// Give up if this much was published without the slow consumer being cut off.
const MAX_PUBLISHED: usize = 64 * 1024 * 1024;

/// A subscriber whose socket receive buffer is tiny and which never reads.
fn stalled_subscriber(addr: SocketAddr) -> TcpStream {
    let SocketAddr::V4(v4) = addr else {
        panic!("loopback v4 expected")
    };
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    socket::setsockopt(&fd, sockopt::RcvBuf, &4096).unwrap();
    socket::connect(fd.as_raw_fd(), &SockaddrIn::from(v4)).unwrap();
    let mut s = TcpStream::from(fd);
    read_info(&mut s);
    s.write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"PONG\r\n");
    s
}

/// Bytes a reader thread has received so far, with a way to wait for a count.
#[derive(Default)]
struct Progress {
    got: Mutex<(usize, bool)>,
    cv: Condvar,
}

impl Progress {
    /// Waits until at least `want` bytes arrived; panics after [`WAIT`] or if the reader ended.
    fn wait_for(&self, want: usize, what: &str) {
        let end = Instant::now() + WAIT;
        let mut g = self.got.lock().unwrap();
        while g.0 < want {
            assert!(!g.1, "{what}: reader stopped at {} of {want}", g.0);
            let left = end.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{what}: {} of {want} bytes", g.0);
            g = self.cv.wait_timeout(g, left).unwrap().0;
        }
    }
}

/// A subscriber that reads as fast as it can on its own thread and reports the bytes it got.
fn healthy_subscriber(addr: SocketAddr) -> Arc<Progress> {
    let (mut s, _) = client(addr, "SUB foo 2\r\n");
    s.set_read_timeout(None).unwrap();
    let progress = Arc::new(Progress::default());
    let p = Arc::clone(&progress);
    std::thread::spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = s.read(&mut chunk).unwrap_or(0);
            let mut g = p.got.lock().unwrap();
            if n == 0 {
                g.1 = true;
            } else {
                g.0 += n;
            }
            p.cv.notify_all();
            if n == 0 {
                return;
            }
        }
    });
    progress
}

/// Publishes batches to `foo`, each acknowledged by PING/PONG and fully received by the
/// healthy subscriber, until a client closes with `reason`. Returns the messages published.
fn publish_until_closed(
    server: &Server,
    publisher: &mut TcpStream,
    healthy: &Progress,
    reason: CloseReason,
) -> usize {
    let frame = format!("MSG foo 2 {PAYLOAD}\r\n").len() + PAYLOAD + 2;
    let mut batch = Vec::new();
    for _ in 0..BATCH {
        batch.extend_from_slice(format!("PUB foo {PAYLOAD}\r\n").as_bytes());
        batch.extend(std::iter::repeat_n(b'x', PAYLOAD));
        batch.extend_from_slice(b"\r\n");
    }
    batch.extend_from_slice(b"PING\r\n");
    let mut published = 0;
    loop {
        let closed = server.shared().closed_clients();
        if closed.iter().any(|c| c.reason == reason) {
            return published;
        }
        if published * PAYLOAD >= MAX_PUBLISHED {
            // Enough is queued: a write deadline needs its time to pass (publishing can
            // outrun it), a pending-bytes close needs nothing more. Wait for it, bounded.
            let until = std::time::Instant::now() + WAIT;
            while std::time::Instant::now() < until {
                if server
                    .shared()
                    .closed_clients()
                    .iter()
                    .any(|c| c.reason == reason)
                {
                    return published;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let closed = server.shared().closed_clients();
            let clients: Vec<_> = server
                .shared()
                .client_list()
                .iter()
                .map(|(h, _)| (h.cid, h.pending_bytes(), h.out_stats()))
                .collect();
            panic!("no {reason} after {published} messages; closed {closed:?}; live {clients:?}");
        }
        publisher.write_all(&batch).unwrap();
        let mut pong = Vec::new();
        read_until(publisher, &mut pong, b"PONG\r\n");
        published += BATCH;
        healthy.wait_for(published * frame, "healthy subscriber fell behind");
    }
}

fn run_case(opts: Options, reason: CloseReason) {
    let server = Server::start(opts).unwrap();
    let addr = server.local_addr();
    let mut stalled = stalled_subscriber(addr);
    let healthy = healthy_subscriber(addr);
    let (mut publisher, _) = client(addr, "");

    let published = publish_until_closed(&server, &mut publisher, &healthy, reason);
    assert!(published > 0);

    // The healthy subscriber is still connected and still gets messages.
    assert_eq!(
        server.shared().num_clients(),
        2,
        "only the slow consumer may be closed"
    );
    publisher
        .write_all(b"PUB foo 3\r\nend\r\nPING\r\n")
        .unwrap();
    let mut pong = Vec::new();
    read_until(&mut publisher, &mut pong, b"PONG\r\n");
    let frame = format!("MSG foo 2 {PAYLOAD}\r\n").len() + PAYLOAD + 2;
    let want = published * frame + "MSG foo 2 3\r\nend\r\n".len();
    healthy.wait_for(want, "healthy subscriber missed the last message");
    assert_eq!(
        server.shared().stats.slow_consumers.load(Ordering::Relaxed),
        1
    );

    // The slow consumer's socket was closed by the server.
    read_to_close(&mut stalled);
    let started = Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn slow_consumer_by_pending_bytes() {
    let opts = Options {
        max_pending: 256 * 1024,
        ..loopback_opts()
    };
    run_case(opts, CloseReason::SlowConsumerPendingBytes);
}

#[test]
fn slow_consumer_by_write_deadline() {
    let opts = Options {
        write_deadline: Duration::from_millis(300),
        ..loopback_opts()
    };
    run_case(opts, CloseReason::SlowConsumerWriteDeadline);
}

#[test]
fn shutdown_with_a_stuck_client_is_bounded_by_the_write_deadline() {
    let deadline = Duration::from_millis(500);
    let server = Server::start(Options {
        write_deadline: deadline,
        ..loopback_opts()
    })
    .unwrap();
    let addr = server.local_addr();
    let mut stalled = stalled_subscriber(addr);
    let (mut publisher, _) = client(addr, "");
    // About 4 MiB: far more than the stalled socket's buffers hold.
    let mut batch = Vec::new();
    for _ in 0..64 {
        batch.extend_from_slice(format!("PUB foo {PAYLOAD}\r\n").as_bytes());
        batch.extend(std::iter::repeat_n(b'x', PAYLOAD));
        batch.extend_from_slice(b"\r\n");
    }
    for _ in 0..64 {
        publisher.write_all(&batch).unwrap();
    }
    publisher.write_all(b"PING\r\n").unwrap();
    let mut pong = Vec::new();
    read_until(&mut publisher, &mut pong, b"PONG\r\n");

    let started = Instant::now();
    server.shutdown();
    let took = started.elapsed();
    assert!(took < deadline + Duration::from_secs(2), "{took:?}");
    read_to_close(&mut stalled);
    read_to_close(&mut publisher);
}
