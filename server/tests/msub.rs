//! `MSUB` (docs/msub.md), black-box: a raw-protocol client using it against both our
//! runtimes, and what the Go server does with it (recorded, so a client can detect an old
//! server). INTEROP: the Go half uses Debian's 2.9.10 and, with `NATS_GO215_SERVER`, 2.15.1;
//! missing ones print SKIPPED unless `NATSD_REQUIRE_GO=1` (set by `.ci/run`), which fails.

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use common::{contains, per_runtime, read_until, show, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

async fn connect(port: u16) -> (TcpStream, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut info = Vec::new();
    read_until(&mut s, &mut info, b"\r\n").await;
    (s, String::from_utf8_lossy(&info).into_owned())
}

async fn msub_gives_exactly_max(rt: &'static str) {
    let (_child, port) = launch::spawn_and_port(Command::new(BIN).args([
        "--runtime",
        rt,
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
    ]))
    .await;
    let (mut sub, info) = connect(port).await;
    assert!(info.trim_end().ends_with(",\"msub\":true}"), "{info}");
    sub.write_all(b"CONNECT {\"verbose\":false}\r\nMSUB foo 1 3\r\nMSUB foo q 2 2\r\nPING\r\n")
        .await
        .unwrap();
    read_until(&mut sub, &mut Vec::new(), b"PONG\r\n").await;
    // Two publishers racing: 50 messages each.
    let mut pubs = Vec::new();
    for _ in 0..2 {
        let (mut p, _) = connect(port).await;
        p.write_all(b"CONNECT {\"verbose\":false}\r\n")
            .await
            .unwrap();
        pubs.push(p);
    }
    let burst: Vec<u8> = b"PUB foo 2\r\nhi\r\n".repeat(50);
    let (mut p1, mut p2) = (pubs.remove(0), pubs.remove(0));
    let (a, b) = tokio::join!(p1.write_all(&burst), p2.write_all(&burst));
    a.unwrap();
    b.unwrap();
    for p in [&mut p1, &mut p2] {
        p.write_all(b"PING\r\n").await.unwrap();
        read_until(p, &mut Vec::new(), b"PONG\r\n").await;
    }
    sub.write_all(b"PING\r\n").await.unwrap();
    let mut got = Vec::new();
    read_until(&mut sub, &mut got, b"PONG\r\n").await;
    let n = |needle: &[u8]| got.windows(needle.len()).filter(|w| *w == needle).count();
    assert_eq!(n(b"MSG foo 1 2"), 3, "{rt}: {}", show(&got));
    assert_eq!(n(b"MSG foo 2 2"), 2, "{rt}: {}", show(&got));
    // A client that never sends MSUB sees nothing new but the INFO key.
    let (mut plain, _) = connect(port).await;
    plain
        .write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 9\r\nUNSUB 9 1\r\nPING\r\n")
        .await
        .unwrap();
    read_until(&mut plain, &mut Vec::new(), b"PONG\r\n").await;
    p1.write_all(b"PUB foo 2\r\nhi\r\nPUB foo 2\r\nhi\r\nPING\r\n")
        .await
        .unwrap();
    read_until(&mut p1, &mut Vec::new(), b"PONG\r\n").await;
    plain.write_all(b"PING\r\n").await.unwrap();
    let mut got = Vec::new();
    read_until(&mut plain, &mut got, b"PONG\r\n").await;
    assert_eq!(show(&got), show(b"MSG foo 9 2\r\nhi\r\nPONG\r\n"), "{rt}");
}

per_runtime!(msub_gives_exactly_max);

/// What the Go server answers: no `msub` in INFO, and `MSUB` is an unknown op that closes
/// the connection. Recorded for 2.9.10 and 2.15.1.
#[tokio::test]
async fn go_servers_refuse_msub_detectably() {
    let require = std::env::var("NATSD_REQUIRE_GO").as_deref() == Ok("1");
    let v29 = std::env::var("NATS_GO_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
    let v215 = std::env::var("NATS_GO215_SERVER").unwrap_or_default();
    for (label, path) in [("go2.9.10", v29), ("go2.15.1", v215)] {
        if path.is_empty() || !std::path::Path::new(&path).exists() {
            assert!(
                !require,
                "NATSD_REQUIRE_GO=1 but {label} is missing ({path:?})"
            );
            common::report_skip(&format!(
                "the {label} half of go_servers_refuse_msub_detectably"
            ));
            continue;
        }
        let (_child, port) =
            launch::spawn_and_port(Command::new(&path).args(["-a", "127.0.0.1", "-p", "-1"])).await;
        let (mut s, info) = connect(port).await;
        assert!(!info.contains("msub"), "{label}: {info}");
        s.write_all(b"CONNECT {\"verbose\":false}\r\nMSUB foo 1 5\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let read = async {
            let mut chunk = [0u8; 4096];
            loop {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .unwrap_or_else(|_| panic!("{label} kept the connection open"));
        assert!(
            contains(&got, b"-ERR 'Unknown Protocol Operation'\r\n"),
            "{label}: {}",
            show(&got)
        );
    }
}
