//! The fast-producer stall, black-box: a publisher at full speed with no window of its own
//! and a subscriber that reads as fast as it can but shares a core with it. Before the stall
//! the server closed the healthy subscriber as a slow consumer in 5 of 12 runs of a Go
//! nats.go load generator (Go 2.9.10 and 2.15.1: never; Go slows the publisher instead).
//!
//! Shown to fail without the stall (readers fed through the unpaced `handle_read`): on std
//! the runs lose the subscriber and stall until the time limit. On tokio, in a debug build,
//! it passes either way: the unoptimised server is slower than this subscriber, so the
//! false positive needs a release build there.

use std::time::Duration;

use natsd_core::options::Options;
use natsd_tests::ours::{Ours, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RUNS: usize = 20;
const MSGS: usize = 60_000;
const PAYLOAD: usize = 128;
/// Small, so a run needs only a few MB to cross it in a debug build (default: 64 MiB).
const MAX_PENDING: usize = 256 * 1024;

async fn connect(port: u16, then: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before INFO");
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(format!("CONNECT {{\"verbose\":false}}\r\n{then}PING\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"PONG\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before PONG");
        got.extend_from_slice(&buf[..n]);
    }
    s
}

/// One run: both clients on one thread (a current-thread runtime), the publisher writing
/// everything in 256 KiB chunks as fast as the socket takes it, the subscriber reading 8 KiB
/// at a time. Returns the messages the
/// subscriber got before the end or before the server closed it.
fn one_run(port: u16) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut sub = connect(port, "SUB load 1\r\n").await;
        let mut publisher = connect(port, "").await;
        let msg = format!("PUB load {PAYLOAD}\r\n{}\r\n", "x".repeat(PAYLOAD));
        let per_chunk = 256 * 1024 / msg.len();
        let chunk = msg.repeat(per_chunk);
        let publish = async move {
            let mut sent = 0;
            while sent < MSGS {
                let n = per_chunk.min(MSGS - sent);
                if publisher
                    .write_all(&chunk.as_bytes()[..n * msg.len()])
                    .await
                    .is_err()
                {
                    break;
                }
                sent += n;
            }
            publisher
        };
        let receive = async move {
            let line = format!("MSG load 1 {PAYLOAD}\r\n");
            let frame = line.len() + PAYLOAD + 2;
            // Small reads: a subscriber that keeps up in bytes per second, but in many steps.
            let mut buf = vec![0u8; 8 * 1024];
            let mut bytes = 0;
            while bytes < MSGS * frame {
                match sub.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => bytes += n,
                }
                // Sharing the thread with the publisher: it gets a turn after every read.
                tokio::task::yield_now().await;
            }
            bytes / frame
        };
        let run = async { tokio::join!(publish, receive).1 };
        // A run that stalls counts as lost (the subscriber stopped getting messages).
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .unwrap_or(0)
    })
}

async fn healthy_subscriber_is_never_a_slow_consumer(rt: Runtime) {
    let s = Ours::start(
        rt,
        Options {
            max_pending: MAX_PENDING,
            ..Options::default()
        },
    )
    .await;
    let port = s.port();
    let results = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::task::spawn_blocking(move || (0..RUNS).map(|_| one_run(port)).collect::<Vec<_>>()),
    )
    .await
    .expect("runs timed out")
    .expect("runs panicked");
    let cut = results.iter().filter(|&&got| got < MSGS).count();
    println!("{rt:?}: {cut} of {RUNS} runs lost the subscriber; delivered per run: {results:?}");
    assert_eq!(
        cut, 0,
        "the healthy subscriber was closed in {cut} of {RUNS} runs"
    );
    s.shutdown().await;
}

natsd_tests::runtimes!(healthy_subscriber_is_never_a_slow_consumer);
