//! Slow consumers are cut off, by pending bytes or by the write deadline, while a healthy
//! subscriber keeps receiving everything.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{client, loopback_opts, read_to_close, read_until, WAIT};
use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_tokio::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

const PAYLOAD: usize = 1024;
/// Messages per publish batch (about 33 KiB), well under the max_pending used below.
const BATCH: usize = 32;
/// Give up if this much was published without the slow consumer being cut off.
const MAX_PUBLISHED: usize = 64 * 1024 * 1024;

/// A subscriber whose socket receive buffer is tiny and which never reads.
async fn stalled_subscriber(addr: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"\r\n").await;
    s.write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"PONG\r\n").await;
    s
}

/// A subscriber that reads as fast as it can and reports the bytes it got.
async fn healthy_subscriber(addr: SocketAddr) -> watch::Receiver<usize> {
    let (mut s, _) = client(addr, "SUB foo 2\r\n").await;
    let (tx, rx) = watch::channel(0usize);
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    total += n;
                    if tx.send(total).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Publishes batches to `foo`, each acknowledged by PING/PONG and fully received by the
/// healthy subscriber, until a client closes with `reason`. Returns the messages published.
async fn publish_until_closed(
    server: &Server,
    publisher: &mut TcpStream,
    healthy: &mut watch::Receiver<usize>,
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
                tokio::time::sleep(Duration::from_millis(10)).await;
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
        publisher.write_all(&batch).await.unwrap();
        let mut pong = Vec::new();
        read_until(publisher, &mut pong, b"PONG\r\n").await;
        published += BATCH;
        let want = published * frame;
        tokio::time::timeout(WAIT, healthy.wait_for(|&got| got >= want))
            .await
            .expect("healthy subscriber fell behind")
            .expect("healthy subscriber stopped");
    }
}

async fn run_case(opts: Options, reason: CloseReason) {
    let server = Server::start(opts).await.unwrap();
    let addr = server.local_addr();
    let mut stalled = stalled_subscriber(addr).await;
    let mut healthy = healthy_subscriber(addr).await;
    let (mut publisher, _) = client(addr, "").await;

    let published = publish_until_closed(&server, &mut publisher, &mut healthy, reason).await;
    assert!(published > 0);

    // The healthy subscriber is still connected and still gets messages.
    assert_eq!(
        server.shared().num_clients(),
        2,
        "only the slow consumer may be closed"
    );
    publisher
        .write_all(b"PUB foo 3\r\nend\r\nPING\r\n")
        .await
        .unwrap();
    let mut pong = Vec::new();
    read_until(&mut publisher, &mut pong, b"PONG\r\n").await;
    let frame = format!("MSG foo 2 {PAYLOAD}\r\n").len() + PAYLOAD + 2;
    let want = published * frame + "MSG foo 2 3\r\nend\r\n".len();
    tokio::time::timeout(WAIT, healthy.wait_for(|&got| got >= want))
        .await
        .expect("healthy subscriber missed the last message")
        .unwrap();
    assert_eq!(
        server
            .shared()
            .stats
            .slow_consumers
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // The slow consumer's socket was closed by the server.
    read_to_close(&mut stalled).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_by_pending_bytes() {
    let opts = Options {
        max_pending: 256 * 1024,
        ..loopback_opts()
    };
    tokio::time::timeout(
        WAIT * 3,
        run_case(opts, CloseReason::SlowConsumerPendingBytes),
    )
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_by_write_deadline() {
    let opts = Options {
        write_deadline: Duration::from_millis(300),
        ..loopback_opts()
    };
    tokio::time::timeout(
        WAIT * 3,
        run_case(opts, CloseReason::SlowConsumerWriteDeadline),
    )
    .await
    .expect("test timed out");
}
