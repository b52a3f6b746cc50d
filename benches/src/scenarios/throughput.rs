//! Throughput scenarios: `pub` (no subscribers), `pubsub` (1:1), `pubsub_4x4` (4 publishers,
//! 4 subscribers, every subscriber gets every message), `fanout` (1:N), `queue`
//! (1 publisher, N members of one queue group) and `churn` (1:1 while another connection
//! subscribes and unsubscribes on other subjects as fast as it can: a literal, then a
//! wildcard, each with its UNSUB, in batches of [`CHURN_BATCH`] pairs ended by a PING).
//!
//! The publisher writes pre-encoded batches of `PUB` ops (about 64 KiB each) for the configured
//! duration, never letting more than `window_bytes` of messages run ahead of the slowest
//! subscriber (so a fast publisher measures sustainable throughput instead of tripping the
//! server's slow-consumer limit), then sends `PING` and waits for `PONG`. Each subscriber
//! thread counts `MSG`s and checks their size; the run fails unless every message arrived
//! exactly once (per subscriber, or across the group for a queue).
//!
//! With `--saturate`, subscribers step over whole frames instead of parsing them (see
//! [`Config::saturate`] and [`counter`]).
//!
//! With `--cpu` a run also reports the CPU time the server and the load generator spent from
//! the first publish to the last delivery (connections and handshakes excluded): per message
//! (per delivery for fan-out and queue) and as a share of the wall time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use natsd_core::proto::{encode, Op};

use crate::client::{BenchResult, Conn, Flow};
use crate::scenarios::Config;
use crate::server::Server;
use crate::stats::Metric;
use crate::sys;

const SUBJECT: &[u8] = b"bench.stream";
/// Published until every subscriber on another server got one: their interest has crossed
/// the route (subscribers ignore it).
const PROBE: &[u8] = b"bench.probe";
/// How long the probe may take to arrive everywhere.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// A run fails if deliveries stop advancing for this long.
const STALL: Duration = Duration::from_secs(10);
/// How often a subscriber thread looks at the stop flag while idle.
const POLL: Duration = Duration::from_millis(50);

/// SUB/UNSUB pairs the churning connection writes before each PING.
const CHURN_BATCH: usize = 256;

/// What subscriber threads report while running.
struct Progress {
    delivered: Vec<AtomicU64>,
    last_ns: Vec<AtomicU64>,
    stop: AtomicBool,
    /// Tells the churning connection to stop.
    churn_stop: AtomicBool,
}

/// Runs one throughput scenario; `nsubs == 0` is the plain `pub` scenario; `churn` adds
/// the churning connection.
pub fn stream(
    server: &Server,
    cfg: &Config,
    size: usize,
    pubs: usize,
    nsubs: usize,
    queue: bool,
    churn: bool,
) -> BenchResult<Vec<Metric>> {
    if cfg.saturate && cfg.sub_addr.is_some() {
        // The route probe leaves stray frames in the subscribers' sockets.
        return Err("--saturate does not go with --sub-addr".into());
    }
    let progress = Arc::new(Progress {
        delivered: (0..nsubs).map(|_| AtomicU64::new(0)).collect(),
        last_ns: (0..nsubs).map(|_| AtomicU64::new(0)).collect(),
        stop: AtomicBool::new(false),
        churn_stop: AtomicBool::new(false),
    });
    let mut subs = Vec::with_capacity(nsubs);
    let sub_addr = cfg.sub_addr.unwrap_or(server.addr);
    for _ in 0..nsubs {
        let mut c = Conn::connect(sub_addr, cfg.tls.as_ref())?;
        encode::sub(&mut c.out, SUBJECT, queue.then_some(&b"q"[..]), b"1");
        if cfg.sub_addr.is_some() {
            encode::sub(&mut c.out, PROBE, None, b"2");
        }
        c.ping_pong()?;
        subs.push(c);
    }
    let mut publishers = (0..pubs.max(1))
        .map(|_| Conn::connect(server.addr, cfg.tls.as_ref()))
        .collect::<BenchResult<Vec<Conn>>>()?;
    if cfg.sub_addr.is_some() {
        await_interest(&mut publishers[0], &mut subs)?;
    }

    let payload = vec![b'x'; size];
    // Every delivery of a run is this frame, byte for byte (one subject, sid 1, no reply).
    let mut frame = Vec::new();
    encode::msg(&mut frame, SUBJECT, b"1", None, &payload);
    let frame = Arc::new(frame);
    let saturate = cfg.saturate;
    let mut batch = Vec::new();
    let mut per_batch = 0u64;
    while batch.len() < 64 * 1024 {
        encode::publish(&mut batch, SUBJECT, None, &payload);
        per_batch += 1;
    }
    let window = (cfg.window_bytes / (size + 40)).max(2 * per_batch as usize) as u64;

    let cpu_before = if cfg.cpu {
        Some((server.cpu_secs()?, sys::self_cpu_secs()?))
    } else {
        None
    };
    let churned = Arc::new(AtomicU64::new(0));
    let churner = if churn {
        let c = Conn::connect(server.addr, cfg.tls.as_ref())?;
        let (p, n) = (Arc::clone(&progress), Arc::clone(&churned));
        Some(std::thread::spawn(move || churner(c, &p, &n)))
    } else {
        None
    };
    let start = Instant::now();
    let threads: Vec<JoinHandle<BenchResult<()>>> = subs
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let p = Arc::clone(&progress);
            let frame = Arc::clone(&frame);
            std::thread::spawn(move || match saturate {
                true => counter(c, i, &frame, start, &p),
                false => subscriber(c, i, size, start, &p),
            })
        })
        .collect();

    // Every publisher on a thread of its own, all under one window.
    let all_sent = AtomicU64::new(0);
    let published = std::thread::scope(|s| {
        let running: Vec<_> = publishers
            .iter_mut()
            .map(|c| {
                let (batch, progress, threads, all) = (&batch, &progress, &threads, &all_sent);
                s.spawn(move || {
                    let w = Window {
                        all,
                        limit: window,
                        queue,
                    };
                    publish(c, batch, per_batch, cfg, start, &w, progress, threads)
                })
            })
            .collect();
        running.into_iter().try_fold(0u64, |sum, t| {
            let n = t.join().map_err(|_| "publisher thread panicked")??;
            Ok::<u64, String>(sum + n)
        })
    });
    let pub_elapsed = start.elapsed().as_secs_f64();
    // The churn stops with the publishing: the deliveries after are the backlog's.
    let churn_rate = churned.load(Ordering::Relaxed) as f64 / pub_elapsed;
    if let Some(t) = churner {
        progress.churn_stop.store(true, Ordering::Relaxed);
        t.join().map_err(|_| "churn thread panicked")??;
    }
    let published = match published {
        Ok(n) => n,
        Err(e) => {
            progress.stop.store(true, Ordering::Relaxed);
            for t in threads {
                let _ = t.join();
            }
            return Err(e);
        }
    };
    if nsubs == 0 {
        let mut metrics = vec![
            Metric::higher("msgs/s", published as f64 / pub_elapsed),
            Metric::higher(
                "MB/s",
                (published as usize * size) as f64 / pub_elapsed / 1e6,
            ),
        ];
        if let Some(before) = cpu_before {
            metrics.extend(cpu_metrics(server, before, start, published)?);
        }
        return Ok(metrics);
    }

    let expected = if queue {
        published
    } else {
        published * nsubs as u64
    };
    let waited = wait_for(&progress, expected, &threads);
    progress.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| "subscriber thread panicked")??;
    }
    waited?;
    let counts: Vec<u64> = progress
        .delivered
        .iter()
        .map(|d| d.load(Ordering::Relaxed))
        .collect();
    let total: u64 = counts.iter().sum();
    if total != expected || (!queue && counts.iter().any(|&c| c != published)) {
        return Err(format!(
            "incomplete: published {published}, expected {expected} deliveries, got {counts:?}"
        ));
    }
    let last = progress
        .last_ns
        .iter()
        .map(|t| t.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0) as f64
        / 1e9;
    let rate = total as f64 / last;
    let mut metrics = vec![Metric::higher(
        if nsubs == 1 { "msgs/s" } else { "deliveries/s" },
        rate,
    )];
    if churn {
        metrics.push(Metric::info("churn SUB+UNSUB/s", churn_rate));
    }
    if queue {
        let max = *counts.iter().max().unwrap_or(&0) as f64;
        let min = *counts.iter().min().unwrap_or(&0) as f64;
        let mean = total as f64 / nsubs as f64;
        metrics.push(Metric::info("spread %", (max - min) / mean * 100.0));
    }
    if let Some(before) = cpu_before {
        metrics.extend(cpu_metrics(server, before, start, total)?);
    }
    Ok(metrics)
}

/// CPU spent since `before` (server, load generator) over `count` messages: the server's per
/// message, and both as a share of the wall time since `start` (100 % = one core busy).
fn cpu_metrics(
    server: &Server,
    before: (f64, f64),
    start: Instant,
    count: u64,
) -> BenchResult<Vec<Metric>> {
    let wall = start.elapsed().as_secs_f64();
    let srv = server.cpu_secs()? - before.0;
    let load = sys::self_cpu_secs()? - before.1;
    Ok(vec![
        Metric::lower("srv ns/msg", srv / count.max(1) as f64 * 1e9),
        Metric::info("srv CPU %", srv / wall * 100.0),
        Metric::info("load ns/msg", load / count.max(1) as f64 * 1e9),
        Metric::info("load CPU %", load / wall * 100.0),
    ])
}

/// How far the publishers of a run may get ahead of its slowest subscriber, together.
struct Window<'a> {
    /// Messages written by all publishers so far.
    all: &'a AtomicU64,
    /// Most messages in flight.
    limit: u64,
    /// The subscribers are one queue group (their sum counts, not the slowest).
    queue: bool,
}

/// Publishes batches until the duration is up; returns how many messages this publisher
/// sent (all of them acknowledged by a PING/PONG barrier).
#[allow(clippy::too_many_arguments)]
fn publish(
    c: &mut Conn,
    batch: &[u8],
    per_batch: u64,
    cfg: &Config,
    start: Instant,
    w: &Window<'_>,
    p: &Progress,
    threads: &[JoinHandle<BenchResult<()>>],
) -> BenchResult<u64> {
    let mut sent = 0u64;
    while start.elapsed() < cfg.duration {
        if !p.delivered.is_empty() {
            let mut waiting_since: Option<Instant> = None;
            while w
                .all
                .load(Ordering::Relaxed)
                .saturating_sub(slowest(p, w.queue))
                > w.limit
            {
                if threads.iter().any(|t| t.is_finished()) {
                    return Err("a subscriber stopped early (see its error)".into());
                }
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if since.elapsed() > STALL {
                    return Err(format!("deliveries stalled for {STALL:?}"));
                }
                std::thread::yield_now();
            }
        }
        c.write_all(batch)?;
        sent += per_batch;
        w.all.fetch_add(per_batch, Ordering::Relaxed);
    }
    c.ping_pong()?;
    Ok(sent)
}

/// Messages every subscriber has (for a queue group: the group has) received.
fn slowest(p: &Progress, queue: bool) -> u64 {
    let counts = p.delivered.iter().map(|d| d.load(Ordering::Relaxed));
    if queue {
        counts.sum()
    } else {
        counts.min().unwrap_or(0)
    }
}

/// Waits until `expected` deliveries arrived, a subscriber failed, or progress stalls.
fn wait_for(
    p: &Progress,
    expected: u64,
    threads: &[JoinHandle<BenchResult<()>>],
) -> BenchResult<()> {
    let mut last = 0;
    let mut last_change = Instant::now();
    loop {
        let total: u64 = p.delivered.iter().map(|d| d.load(Ordering::Relaxed)).sum();
        if total >= expected {
            return Ok(());
        }
        if threads.iter().any(|t| t.is_finished()) {
            return Err("a subscriber stopped early".into());
        }
        if total != last {
            last = total;
            last_change = Instant::now();
        } else if last_change.elapsed() > STALL {
            return Err(format!(
                "incomplete: {total} of {expected} deliveries, stalled"
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Publishes [`PROBE`] until every subscriber got one: the subscriptions made on the other
/// server have reached the publisher's (a route carries interest in the order it was
/// made, so the stream's subscription is there too).
fn await_interest(publisher: &mut Conn, subs: &mut [Conn]) -> BenchResult<()> {
    let start = Instant::now();
    let mut seen = vec![false; subs.len()];
    while seen.iter().any(|s| !s) {
        if start.elapsed() > PROBE_TIMEOUT {
            return Err(format!(
                "interest did not cross the route within {PROBE_TIMEOUT:?}"
            ));
        }
        encode::publish(&mut publisher.out, PROBE, None, b"");
        publisher.ping_pong()?;
        for (c, seen) in subs.iter_mut().zip(seen.iter_mut()).filter(|(_, s)| !**s) {
            c.set_timeout(Some(Duration::from_millis(20)))?;
            let mut got = false;
            c.read_some(&mut |op: Op<'_>| {
                if let Op::Msg { subject, .. } = op {
                    got |= subject == PROBE;
                }
                Ok(Flow::Continue)
            })?;
            *seen = got;
        }
    }
    for c in subs.iter_mut() {
        c.set_timeout(None)?;
    }
    Ok(())
}

/// A subscriber thread: counts `MSG`s until told to stop.
fn subscriber(mut c: Conn, i: usize, size: usize, start: Instant, p: &Progress) -> BenchResult<()> {
    c.set_timeout(Some(POLL))?;
    let mut count = 0u64;
    let mut bad = None;
    while !p.stop.load(Ordering::Relaxed) {
        let got = c.read_some(&mut |op: Op<'_>| {
            match op {
                Op::Msg { subject, .. } if subject == PROBE => {}
                Op::Msg { payload, .. } if payload.len() == size => count += 1,
                Op::Pong | Op::Ok => {}
                other => bad = Some(format!("{other:?}")),
            }
            Ok(Flow::Continue)
        })?;
        if got.is_some() {
            p.delivered[i].store(count, Ordering::Relaxed);
            p.last_ns[i].store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        if let Some(b) = bad.take() {
            return Err(format!("subscriber {i} got an unexpected {b}"));
        }
    }
    Ok(())
}

/// A `--saturate` subscriber thread: counts frames without parsing them until told to stop.
/// Every delivery is the same frame, so it looks at one byte per frame: at each boundary a
/// frame (`M`, skipped whole) or a server `PING` (Go sends its first about 2 s after
/// CONNECT; answered). Anything else there means the count lost its footing: the run fails.
/// The first frame is checked byte for byte.
fn counter(mut c: Conn, i: usize, frame: &[u8], start: Instant, p: &Progress) -> BenchResult<()> {
    const PING: &[u8] = b"PING\r\n";
    c.set_timeout(Some(POLL))?;
    let mut count = 0u64;
    // Bytes of the current frame (or PING) still to skip.
    let mut skip = 0usize;
    let mut first = true;
    while !p.stop.load(Ordering::Relaxed) {
        let mut pings = 0;
        {
            let Some(got) = c.read_raw()? else {
                continue;
            };
            if first {
                let n = got.len().min(frame.len());
                if got[..n] != frame[..n] {
                    return Err(format!(
                        "subscriber {i}: the first bytes are not the frame expected: {:?}",
                        String::from_utf8_lossy(&got[..got.len().min(64)])
                    ));
                }
                first = false;
            }
            let mut pos = 0;
            while pos < got.len() {
                if skip > 0 {
                    let n = skip.min(got.len() - pos);
                    pos += n;
                    skip -= n;
                    continue;
                }
                match got[pos] {
                    b'M' => {
                        count += 1;
                        skip = frame.len();
                    }
                    b'P' => {
                        pings += 1;
                        skip = PING.len();
                    }
                    other => {
                        return Err(format!(
                            "subscriber {i}: after {count} frames, {:?} where a frame or PING should start",
                            other as char
                        ))
                    }
                }
            }
        }
        for _ in 0..pings {
            c.write_all(encode::PONG)?;
        }
        p.delivered[i].store(count, Ordering::Relaxed);
        p.last_ns[i].store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    if skip > 0 {
        return Err(format!("subscriber {i}: ended inside a frame"));
    }
    Ok(())
}

/// The churning connection: SUB and UNSUB pairs on subjects nobody publishes to (a literal,
/// then a wildcard: each changes the subscription index, which is what churn costs),
/// [`CHURN_BATCH`] pairs then a PING, until told to stop; counts the pairs acknowledged.
fn churner(mut c: Conn, p: &Progress, churned: &AtomicU64) -> BenchResult<()> {
    let mut k = 0u64;
    while !p.churn_stop.load(Ordering::Relaxed) {
        for _ in 0..CHURN_BATCH {
            let sid = format!("c{k}");
            let subject = if k.is_multiple_of(2) {
                format!("churn.{k}")
            } else {
                format!("churn.{k}.*")
            };
            encode::sub(&mut c.out, subject.as_bytes(), None, sid.as_bytes());
            c.out
                .extend_from_slice(format!("UNSUB {sid}\r\n").as_bytes());
            k += 1;
        }
        c.ping_pong()?;
        churned.fetch_add(CHURN_BATCH as u64, Ordering::Relaxed);
    }
    Ok(())
}
