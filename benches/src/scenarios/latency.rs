//! `reqrep`: round-trip latency of request/reply through one responder.
//!
//! The responder subscribes to `bench.req` and answers each request by publishing its payload
//! to the request's reply subject; the requester subscribes to its inbox, then sends one
//! request at a time and times it until the reply arrives. A warm-up of a tenth of the
//! requests is not counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natsd_core::proto::{encode, Op};

use crate::client::{BenchResult, Conn, Flow};
use crate::scenarios::Config;
use crate::server::Server;
use crate::stats::{percentile, Metric};

/// Payload of each request and reply.
const PAYLOAD: &[u8] = b"0123456789abcdef";

/// Runs `cfg.requests` timed round trips; reports p50/p90/p99/p99.9 in microseconds.
pub fn reqrep(server: &Server, cfg: &Config) -> BenchResult<Vec<Metric>> {
    let mut responder = Conn::connect(server.addr, cfg.tls.as_ref())?;
    encode::sub(&mut responder.out, b"bench.req", None, b"1");
    responder.ping_pong()?;
    let mut requester = Conn::connect(server.addr, cfg.tls.as_ref())?;
    encode::sub(&mut requester.out, b"bench.inbox.1", None, b"1");
    requester.ping_pong()?;

    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let responder = std::thread::spawn(move || respond(responder, &stop2));

    let mut request = Vec::new();
    encode::publish(&mut request, b"bench.req", Some(b"bench.inbox.1"), PAYLOAD);
    let warmup = cfg.requests / 10;
    let mut rtts = Vec::with_capacity(cfg.requests);
    let mut result = Ok(());
    for i in 0..warmup + cfg.requests {
        let t = Instant::now();
        if let Err(e) = round_trip(&mut requester, &request) {
            result = Err(format!("request {i}: {e}"));
            break;
        }
        if i >= warmup {
            rtts.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    stop.store(true, Ordering::Relaxed);
    responder.join().map_err(|_| "responder panicked")??;
    result?;
    rtts.sort_by(f64::total_cmp);
    Ok(vec![
        Metric::lower("p50 us", percentile(&rtts, 0.5)),
        Metric::lower("p90 us", percentile(&rtts, 0.9)),
        Metric::lower("p99 us", percentile(&rtts, 0.99)),
        Metric::lower("p99.9 us", percentile(&rtts, 0.999)),
    ])
}

fn round_trip(c: &mut Conn, request: &[u8]) -> BenchResult<()> {
    c.write_all(request)?;
    c.read_until(|op| match op {
        Op::Msg { payload, .. } if payload == PAYLOAD => Ok(Flow::Done),
        other => Err(format!("unexpected {other:?} instead of the reply")),
    })
}

/// The responder thread: answers every request in a read with one write.
fn respond(mut c: Conn, stop: &AtomicBool) -> BenchResult<()> {
    c.set_timeout(Some(Duration::from_millis(50)))?;
    let mut replies = Vec::with_capacity(64 * 1024);
    while !stop.load(Ordering::Relaxed) {
        c.read_some(&mut |op: Op<'_>| match op {
            Op::Msg {
                reply: Some(r),
                payload,
                ..
            } => {
                encode::publish(&mut replies, r, None, payload);
                Ok(Flow::Continue)
            }
            Op::Pong => Ok(Flow::Continue),
            other => Err(format!("responder got an unexpected {other:?}")),
        })?;
        if !replies.is_empty() {
            c.write_all(&replies)?;
            replies.clear();
        }
    }
    Ok(())
}
