//! Helpers shared by the integration tests: raw protocol I/O over std sockets with bounded
//! waits.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

mod neutral;
pub use neutral::*;

/// Reads from `s` into `buf` until `buf` contains `needle`; panics after [`WAIT`] or on EOF.
pub fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) {
    let end = Instant::now() + WAIT;
    let mut chunk = [0u8; 16 * 1024];
    while !contains(buf, needle) {
        let left = end.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {:?}; got {:?}",
            show(needle),
            show(buf)
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => panic!("EOF before {:?}; got {:?}", show(needle), show(buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!(
                "read error {e} before {:?}; got {:?}",
                show(needle),
                show(buf)
            ),
        }
    }
}

/// Reads the INFO line of a fresh connection and returns its JSON. Anything read past it (a
/// server PING, in a slow test) is dropped.
pub fn read_info(s: &mut TcpStream) -> serde_json::Value {
    let mut buf = Vec::new();
    read_until(s, &mut buf, b"\r\n");
    parse_info(&buf)
}

/// Connects, reads INFO, sends `CONNECT {"verbose":false}` plus `extra`, and waits for the
/// PONG of a trailing PING. Returns the stream and the INFO JSON.
pub fn client(addr: SocketAddr, extra: &str) -> (TcpStream, serde_json::Value) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let info = read_info(&mut s);
    let hello = format!("CONNECT {{\"verbose\":false}}\r\n{extra}PING\r\n");
    s.write_all(hello.as_bytes()).expect("write");
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"PONG\r\n");
    (s, info)
}

/// The JSON of the `INFO {...}\r\n` line at the start of `buf`.
pub fn parse_info(buf: &[u8]) -> serde_json::Value {
    let text = std::str::from_utf8(buf).expect("utf8");
    let line = text.split("\r\n").next().unwrap_or_default();
    let json = line.strip_prefix("INFO ").expect("INFO first");
    serde_json::from_str(json).expect("INFO json")
}

/// Reads until EOF or a reset; panics after [`WAIT`]. Returns the bytes read.
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let end = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "connection was not closed in time");
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return got,
        }
    }
}

/// Polls `cond` until it holds; panics with `what` after [`WAIT`]. For server-side state
/// that has no event to wait on.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
