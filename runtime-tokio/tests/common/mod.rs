//! Helpers shared by the integration tests: raw protocol I/O with bounded waits.
#![allow(dead_code)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "../../../runtime-std/tests/common/neutral.rs"]
mod neutral;
pub use neutral::*;

/// Reads from `s` into `buf` until `buf` contains `needle`; panics after [`WAIT`] or on EOF.
pub async fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) {
    let fut = async {
        let mut chunk = [0u8; 16 * 1024];
        while !contains(buf, needle) {
            let n = s.read(&mut chunk).await.expect("read");
            assert!(n > 0, "EOF before {:?}; got {:?}", show(needle), show(buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(WAIT, fut).await.unwrap_or_else(|_| {
        panic!(
            "timed out waiting for {:?}; got {:?}",
            show(needle),
            show(buf)
        )
    });
}

/// Connects, reads INFO, sends `CONNECT {"verbose":false}` plus `extra`, and waits for the
/// PONG of a trailing PING. Returns the stream and the INFO JSON.
pub async fn client(addr: std::net::SocketAddr, extra: &str) -> (TcpStream, serde_json::Value) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"\r\n").await;
    let info = parse_info(&buf);
    let hello = format!("CONNECT {{\"verbose\":false}}\r\n{extra}PING\r\n");
    s.write_all(hello.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"PONG\r\n").await;
    (s, info)
}

/// The JSON of an `INFO {...}\r\n` line.
pub fn parse_info(line: &[u8]) -> serde_json::Value {
    let text = std::str::from_utf8(line).expect("utf8");
    let json = text.strip_prefix("INFO ").expect("INFO first").trim_end();
    serde_json::from_str(json).expect("INFO json")
}

/// Reads until EOF or a reset; panics after [`WAIT`]. Returns the bytes read.
pub async fn read_to_close(s: &mut TcpStream) -> usize {
    let fut = async {
        let mut total = 0;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("connection was not closed in time")
}

/// Runs each named `async fn NAME(rt: &'static str)` once per runtime of the `nats-server`
/// binary, as `tokio_rt::NAME` and `std_rt::NAME` (`--runtime tokio` / `--runtime std`).
#[allow(unused_macros)] // not every test file runs the binary
macro_rules! per_runtime {
    ($($name:ident),* $(,)?) => {
        per_runtime!(@rt tokio_rt "tokio"; $($name),*);
        per_runtime!(@rt std_rt "std"; $($name),*);
    };
    (@rt $module:ident $rt:literal; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($rt).await
                }
            )*
        }
    };
}
#[allow(unused_imports)] // not every test file runs the binary
pub(crate) use per_runtime;
