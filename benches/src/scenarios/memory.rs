//! Memory scenarios: `conns` (idle connections) and `subs` (subscriptions on one connection),
//! each reporting the growth of the server's resident set per item.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use natsd_core::proto::encode;

use crate::client::{BenchResult, Conn, BARRIER_TIMEOUT};
use crate::scenarios::Config;
use crate::server::Server;
use crate::stats::Metric;

/// Connections opened before their handshakes are completed (stays under listen backlogs).
const CHUNK: usize = 200;
/// Pause before reading the RSS after the load, so the server has settled.
const SETTLE: Duration = Duration::from_millis(200);
/// How long the idle connections' CPU cost is watched.
const IDLE_WATCH: Duration = Duration::from_secs(2);
/// Past the last first PING (Go's `firstClientPingInterval` is 2 s, plus up to 20%).
const FIRST_PINGS: Duration = Duration::from_secs(3);
/// Newcomers timed once all the idle connections are open.
const NEWCOMERS: usize = 21;

const CONNECT_PING: &[u8] =
    b"CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"idle\",\"lang\":\"rust\"}\r\nPING\r\n";

/// Opens `cfg.conns` connections, each completing INFO / CONNECT / PING / PONG, and keeps them
/// open while the server's RSS is read.
pub fn conns(server: &Server, cfg: &Config) -> BenchResult<Vec<Metric>> {
    if cfg.tls.is_some() {
        return Err("conns speaks plain text only (no TLS)".into());
    }
    std::thread::sleep(SETTLE);
    let before = server.rss()?;
    let start = Instant::now();
    let mut open: Vec<TcpStream> = Vec::with_capacity(cfg.conns);
    while open.len() < cfg.conns {
        let n = CHUNK.min(cfg.conns - open.len());
        let first = open.len();
        for _ in 0..n {
            let s = TcpStream::connect(server.addr).map_err(|e| {
                format!(
                    "connection {} failed: {e} (is `ulimit -n` high enough?)",
                    open.len() + 1
                )
            })?;
            open.push(s);
        }
        for s in &mut open[first..] {
            s.write_all(CONNECT_PING)
                .map_err(|e| format!("write CONNECT: {e}"))?;
        }
        for (i, s) in open[first..].iter_mut().enumerate() {
            wait_pong(s).map_err(|e| format!("connection {}: {e}", first + i + 1))?;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    let after = server.rss()?;
    let per = after.saturating_sub(before) as f64 / cfg.conns as f64;
    // Idle: the server's CPU while every connection sits there (a runtime that polls its
    // connections shows here), once the first keep-alive PINGs are out (both servers send
    // one within 2.4 s of a CONNECT, then one per ping interval).
    std::thread::sleep(FIRST_PINGS);
    let cpu0 = server.cpu_secs()?;
    std::thread::sleep(IDLE_WATCH);
    let idle_ms = (server.cpu_secs()? - cpu0) * 1000.0 / IDLE_WATCH.as_secs_f64();
    // A newcomer among them: INFO / CONNECT / PING / PONG, the median of a few.
    let mut newcomer = Vec::with_capacity(NEWCOMERS);
    for _ in 0..NEWCOMERS {
        let t = Instant::now();
        let mut s = TcpStream::connect(server.addr).map_err(|e| format!("newcomer: {e}"))?;
        s.write_all(CONNECT_PING)
            .map_err(|e| format!("write CONNECT: {e}"))?;
        wait_pong(&mut s).map_err(|e| format!("newcomer: {e}"))?;
        newcomer.push(t.elapsed().as_secs_f64() * 1e6);
    }
    newcomer.sort_by(f64::total_cmp);
    drop(open);
    Ok(vec![
        Metric::lower("RSS B/conn", per),
        Metric::higher("conns/s", cfg.conns as f64 / elapsed),
        Metric::lower("idle CPU ms/s", idle_ms),
        Metric::lower("newcomer us", newcomer[NEWCOMERS / 2]),
    ])
}

/// Reads INFO and whatever else until `PONG\r\n` has arrived.
fn wait_pong(s: &mut TcpStream) -> BenchResult<()> {
    s.set_read_timeout(Some(BARRIER_TIMEOUT))
        .map_err(|e| format!("set_read_timeout: {e}"))?;
    let mut seen = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "server closed the connection: {}",
                String::from_utf8_lossy(&seen)
            ));
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(5).any(|w| w == b"-ERR ") {
            return Err(format!(
                "server refused: {}",
                String::from_utf8_lossy(&seen)
            ));
        }
        if seen.ends_with(b"PONG\r\n") {
            return Ok(());
        }
    }
}

/// Subscribes `cfg.subs` times (`foo.<i>.bar`) on one connection, then PING/PONG.
pub fn subs(server: &Server, cfg: &Config) -> BenchResult<Vec<Metric>> {
    let mut c = Conn::connect(server.addr, cfg.tls.as_ref())?;
    std::thread::sleep(SETTLE);
    let before = server.rss()?;
    let start = Instant::now();
    let mut buf = Vec::with_capacity(256 * 1024);
    for i in 0..cfg.subs as u64 {
        buf.extend_from_slice(b"SUB foo.");
        encode::push_uint(&mut buf, i);
        buf.extend_from_slice(b".bar ");
        encode::push_uint(&mut buf, i);
        buf.extend_from_slice(b"\r\n");
        if buf.len() >= 240 * 1024 {
            c.write_all(&buf)?;
            buf.clear();
        }
    }
    c.write_all(&buf)?;
    c.ping_pong()?;
    let elapsed = start.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    let after = server.rss()?;
    let per = after.saturating_sub(before) as f64 / cfg.subs as f64;
    Ok(vec![
        Metric::lower("RSS B/sub", per),
        Metric::higher("subs/s", cfg.subs as f64 / elapsed),
    ])
}
