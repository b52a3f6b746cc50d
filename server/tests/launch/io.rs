//! Raw protocol helpers the security, JWT and callout interop tests share: read INFO,
//! ping through a connection, read until the server closes, and the list of servers to
//! compare (ours on both runtimes, then each Go server present).
#![allow(dead_code)] // Not every test binary that includes `launch` uses all of these.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;

/// One INFO line, byte by byte (nothing after it is consumed).
pub async fn info_line(s: &mut (impl AsyncRead + Unpin)) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .expect("INFO within 10 s")
            .expect("read INFO");
        assert_eq!(n, 1, "closed before INFO");
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

/// Everything the server sends until it closes (or `wait` passes: then "<open>" is
/// appended), and how long that took.
pub async fn until_close(s: &mut (impl AsyncRead + Unpin), wait: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let r = tokio::time::timeout(wait, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let mut text = String::from_utf8_lossy(&got).into_owned();
    if r.is_err() {
        text.push_str("<open>");
    }
    (text, start.elapsed())
}

/// Sends `ops` + PING and reads to the PONG (or the close, or 5 s).
pub async fn ping(s: &mut (impl AsyncRead + AsyncWrite + Unpin), ops: &str) -> String {
    if s.write_all(format!("{ops}PING\r\n").as_bytes())
        .await
        .is_err()
    {
        return "<write failed>".into();
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while !got.windows(6).any(|w| w == b"PONG\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

/// Our binary `bin` on both runtimes, then each Go server present (`go215_only`: not
/// 2.9.10, which lacks the feature); a missing Go server is reported to `skip`.
pub fn servers(
    bin: &str,
    what: &str,
    go215_only: bool,
    skip: impl Fn(&str),
) -> Vec<(String, Command)> {
    let mut out = Vec::new();
    for rt in ["tokio", "std"] {
        let mut c = Command::new(bin);
        c.args(["--runtime", rt]);
        out.push((format!("ours ({rt})"), c));
    }
    for (label, path) in super::go_servers(what, skip) {
        if go215_only && label == "go2.9.10" {
            continue;
        }
        out.push((label.to_string(), Command::new(path)));
    }
    out
}

/// Returns once the server has processed everything `client` sent so far (its SUBs
/// included). async-nats' `flush` only writes the socket; it does not wait for a PONG, so a
/// service that subscribed and flushed could miss a request published right after (found:
/// the callout tests' service missed alice's request about once in 50 runs, on ours and on
/// Go 2.15.1). A message to itself makes the round trip: one connection's ops are handled
/// in order.
pub async fn settle(client: &async_nats::Client) {
    use futures::StreamExt;
    let subject = client.new_inbox();
    let mut probe = client.subscribe(subject.clone()).await.expect("subscribe");
    client.publish(subject, "".into()).await.expect("publish");
    tokio::time::timeout(Duration::from_secs(10), probe.next())
        .await
        .expect("the settle probe came back within 10 s")
        .expect("a probe message");
}

/// Unix seconds now (JWT `iat`, `exp`).
pub fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    i64::try_from(since.expect("after 1970").as_secs()).expect("seconds fit")
}
