//! The rebalancer's policy, one node driven by hand: peers' counts fed as their STATSZ
//! would, routes registered as the route connections would.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::rebalance::NO_URLS;
use super::*;
use crate::client::{ClientHandle, Notify};
use crate::conn::Connection;
use crate::options::{ClusterOptions, Options, RebalanceOptions};
use crate::route::Registered;

struct Nop;
impl Notify for Nop {
    fn notify(&self) {}
}

const T0: Time = Time::from_nanos(1_000_000_000);
const COOL: Duration = Duration::from_secs(10);

fn options(r: RebalanceOptions) -> Options {
    Options {
        seed: 7,
        cluster: Some(ClusterOptions {
            name: Some("c".into()),
            rebalance: Some(r),
            ..ClusterOptions::default()
        }),
        ..Options::default()
    }
}

fn on() -> RebalanceOptions {
    RebalanceOptions {
        enabled: true,
        ..RebalanceOptions::default()
    }
}

/// A server with `n` protocol-1 clients (they take async INFO), connected at `T0`.
fn server(r: RebalanceOptions, n: usize) -> (Arc<Shared>, Vec<Connection>) {
    let sh = Arc::new(Shared::new(options(r), "NME".into(), T0));
    let conns = (0..n)
        .map(|_| {
            let mut c = Connection::accept(&sh, T0, None, Arc::new(Nop));
            c.handle_read(T0, b"CONNECT {\"protocol\":1}\r\nPING\r\n", &sh)
                .unwrap();
            c.handle().take(&mut Vec::new());
            c
        })
        .collect();
    (sh, conns)
}

/// Registers a route to peer `id` advertising `url` to clients.
fn peer(sh: &Shared, cid: u64, id: &str, url: &str) {
    peer_with_urls(sh, cid, id, vec![url.into()]);
}

/// Registers a route to peer `id` advertising `urls` (maybe none) to clients.
fn peer_with_urls(sh: &Shared, cid: u64, id: &str, urls: Vec<String>) {
    let mut info = crate::route::info::RouteInfo {
        server_id: id.into(),
        server_name: id.into(),
        ..Default::default()
    };
    info.connect_urls = urls;
    let handle = Arc::new(ClientHandle::new_route(
        cid,
        None,
        1 << 20,
        7,
        Arc::new(Nop),
    ));
    let reg = Registered {
        cid,
        remote_id: id.into(),
        remote_name: id.into(),
        handle,
        info,
        addr: None,
        solicited: false,
        url: None,
        configured: false,
        start: T0,
    };
    sh.routes().register(reg).unwrap();
}

/// Runs the node from `from` to `to`, its timers as they fall, feeding the peers' counts
/// (`loads`: the peers start with these, and the clients moved so far land on them in
/// turn) at each tick as their STATSZ would; returns (time, clients closed so far) after
/// each tick and the log lines.
fn drive(
    node: &mut Node,
    sh: &Shared,
    conns: &[Connection],
    loads: &[(&str, u64)],
    from: Time,
    to: Time,
) -> (Vec<(Time, usize)>, Vec<String>) {
    let mut now = from;
    let mut seen: Vec<(Time, usize)> = Vec::new();
    let mut logs = Vec::new();
    while now <= to {
        let moved = seen.last().map_or(0, |(_, n)| *n) as u64;
        let k = loads.len().max(1) as u64;
        for (i, (id, n)) in loads.iter().enumerate() {
            let landed = moved / k + u64::from((i as u64) < moved % k);
            sh.peer_loads.record(id, *n + landed, now);
        }
        node.handle_timeout(now);
        while let Some(a) = node.poll_action() {
            if let NodeAction::Log(_, l) = a {
                logs.push(l);
            }
        }
        let closed = conns
            .iter()
            .filter(|c| c.handle().close_reason().is_some())
            .count();
        seen.push((now, closed));
        let next = node.poll_timeout().unwrap_or(to + Duration::from_secs(1));
        now = next.max(now + Duration::from_millis(1));
    }
    (seen, logs)
}

#[test]
fn sheds_only_the_excess_at_the_capped_rate_after_the_cool_down() {
    let (sh, conns) = server(on(), 90);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    peer(&sh, 1002, "NC", "127.0.0.1:5003");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    let end = T0 + Duration::from_secs(40);
    let (seen, logs) = drive(&mut node, &sh, &conns, &[("NB", 0), ("NC", 0)], T0, end);
    // Target 30 of 90: exactly 60 move, never below the target.
    assert_eq!(seen.last().unwrap().1, 60, "{logs:?}");
    // Nothing in the cool-down after the peers appeared (and clients arrived at T0).
    assert!(seen
        .iter()
        .filter(|(t, _)| *t < T0 + COOL)
        .all(|(_, n)| *n == 0));
    // At most 10 in any second.
    for (i, (t, n)) in seen.iter().enumerate() {
        let before = seen[..i]
            .iter()
            .rev()
            .find(|(u, _)| *t - *u >= Duration::from_secs(1))
            .map_or(0, |(_, m)| *m);
        assert!(
            n - before <= 10,
            "{} moved in the second before {t:?}",
            n - before
        );
    }
    assert!(
        logs.iter()
            .any(|l| l.contains("Rebalance: moving 60 clients")),
        "{logs:?}"
    );
    assert_eq!(sh.rebalance.shed.load(Ordering::Relaxed), 60);
    assert_eq!(sh.rebalance.target.load(Ordering::Relaxed), 30);
}

#[test]
fn a_moved_client_is_told_the_least_loaded_servers_first() {
    let (sh, conns) = server(on(), 40);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    peer(&sh, 1002, "NC", "127.0.0.1:5003");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    drive(
        &mut node,
        &sh,
        &conns,
        &[("NB", 20), ("NC", 0)],
        T0,
        T0 + Duration::from_secs(15),
    );
    let moved = conns
        .iter()
        .find(|c| c.handle().close_reason() == Some(crate::errors::CloseReason::Rebalanced))
        .expect("one moved");
    let mut out = Vec::new();
    moved.handle().take(&mut out);
    let info = String::from_utf8(out).unwrap();
    assert!(info.contains(r#""ldm":true"#), "{info}");
    assert!(
        info.contains(r#""connect_urls":["127.0.0.1:5003","127.0.0.1:5002"]"#),
        "{info}"
    );
}

#[test]
fn within_the_thresholds_or_on_stale_counts_nobody_moves() {
    // 35 here, 30 and 25 there: target 30, 5 over, not beyond the absolute threshold (5).
    let (sh, conns) = server(on(), 35);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    peer(&sh, 1002, "NC", "127.0.0.1:5003");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    let (seen, _) = drive(
        &mut node,
        &sh,
        &conns,
        &[("NB", 30), ("NC", 25)],
        T0,
        T0 + Duration::from_secs(30),
    );
    assert_eq!(
        seen.last().unwrap().1,
        0,
        "5 over a target of 30 is within the threshold"
    );
    // A peer that stops reporting: its count goes stale and nothing moves, however
    // unbalanced the last counts were (a partition must not make both sides shed).
    let (sh, conns) = server(on(), 90);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    sh.peer_loads.record("NB", 0, T0);
    let (seen, _) = drive(
        &mut node,
        &sh,
        &conns,
        &[],
        T0,
        T0 + Duration::from_secs(60),
    );
    let moved = seen.last().unwrap().1;
    // It may shed while NB's count is fresh (30 s): one round to the target (45), never
    // more, never after.
    let after_stale = seen
        .iter()
        .filter(|(t, _)| *t > T0 + REBALANCE_FRESH + Duration::from_secs(2))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>();
    assert!(after_stale.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    // Counted while fresh, NB's 0 (never updated) put the target at 45 and then lower.
    assert!(moved > 0 && moved < 90, "{moved}");
}

#[test]
fn dry_run_logs_the_plan_and_moves_nobody() {
    let (sh, conns) = server(
        RebalanceOptions {
            dry_run: true,
            ..on()
        },
        90,
    );
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    let (seen, logs) = drive(
        &mut node,
        &sh,
        &conns,
        &[("NB", 10)],
        T0,
        T0 + Duration::from_secs(30),
    );
    assert_eq!(seen.last().unwrap().1, 0);
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Rebalance (dry run): would move 40 clients")),
        "{logs:?}"
    );
}

#[test]
fn over_the_target_new_clients_are_refused_when_configured() {
    let (sh, _conns) = server(
        RebalanceOptions {
            refuse_new_when_over: true,
            dry_run: true,
            ..on()
        },
        90,
    );
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    sh.peer_loads.record("NB", 10, T0);
    node.handle_timeout(T0 + Duration::from_secs(1));
    assert!(sh.rebalance.refusing_new.load(Ordering::Relaxed));
    let mut c = Connection::accept(&sh, T0, None, Arc::new(Nop));
    let mut out = Vec::new();
    c.handle().take(&mut out);
    let _ = c.handle_read(T0, b"CONNECT {}\r\n", &sh);
    c.handle().take(&mut out);
    assert!(
        String::from_utf8_lossy(&out).contains("maximum connections exceeded"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn two_servers_do_not_trade_clients_back() {
    // After one round from 100/0 to 50/50, the other side (50 of 100) is at its target:
    // neither sheds again, however long it runs.
    let (sh, conns) = server(on(), 50);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    let (seen, _) = drive(
        &mut node,
        &sh,
        &conns,
        &[("NB", 50)],
        T0,
        T0 + Duration::from_secs(120),
    );
    assert_eq!(seen.last().unwrap().1, 0);
}

/// Found with nats-py against servers listening on 0.0.0.0 (which advertise no client URL
/// here): moved clients knew only this server and all came back, 400 moves for nothing.
/// Without a URL to send them to, nobody moves.
#[test]
fn nobody_moves_when_no_peer_advertises_a_client_url() {
    let (sh, conns) = server(on(), 90);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    // The same, but the peer's route INFO carried no client URL.
    let (sh2, conns2) = server(on(), 90);
    peer_with_urls(&sh2, 1001, "NB", Vec::new());
    let mut node = Node::new(Arc::clone(&sh2));
    node.handle_start(T0);
    let (seen, _) = drive(
        &mut node,
        &sh2,
        &conns2,
        &[("NB", 0)],
        T0,
        T0 + Duration::from_secs(30),
    );
    assert_eq!(seen.last().unwrap().1, 0);
    let plan = sh2.rebalance.plan().unwrap();
    assert_eq!(plan.waiting, Some(NO_URLS), "{plan:?}");
    // With a URL the same server sheds.
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    let (seen, _) = drive(
        &mut node,
        &sh,
        &conns,
        &[("NB", 0)],
        T0,
        T0 + Duration::from_secs(30),
    );
    assert!(seen.last().unwrap().1 > 0);
}

/// The simulator's `rebalance` seed 2: between two `STATSZ` of its peers (up to 10 s apart)
/// a round sent every client of every tick to the peer that was least loaded at its last
/// report, so that peer ended far over its share and moved clients again. The node counts
/// what it sent since each peer's last report and spreads the clients over the peers.
#[test]
fn a_round_spreads_its_clients_over_the_peers_between_their_reports() {
    let (sh, conns) = server(on(), 90);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    peer(&sh, 1002, "NC", "127.0.0.1:5003");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    // One report each, fresh for the whole round (FRESH is 30 s).
    sh.peer_loads.record("NB", 0, T0);
    sh.peer_loads.record("NC", 0, T0);
    let mut now = T0;
    while now <= T0 + Duration::from_secs(25) {
        node.handle_timeout(now);
        while node.poll_action().is_some() {}
        now = node
            .poll_timeout()
            .unwrap()
            .max(now + Duration::from_millis(1));
    }
    let mut first = std::collections::BTreeMap::new();
    for c in &conns {
        if c.handle().close_reason() != Some(crate::errors::CloseReason::Rebalanced) {
            continue;
        }
        let mut out = Vec::new();
        c.handle().take(&mut out);
        let info = String::from_utf8(out).unwrap();
        let url = info.split(r#""connect_urls":[""#).nth(1).unwrap();
        let url = url.split('"').next().unwrap().to_string();
        *first.entry(url).or_insert(0) += 1;
    }
    assert_eq!(first.values().sum::<u32>(), 60, "{first:?}");
    assert_eq!(first.get("127.0.0.1:5002"), Some(&30), "{first:?}");
    assert_eq!(first.get("127.0.0.1:5003"), Some(&30), "{first:?}");
}

/// The simulator's `rebalance` seed 37: a server that was receiving moved clients compared
/// its count of now with a peer's report up to a `STATSZ` period old, from before that
/// peer received its own share; the peer looked under-loaded, so this server shed clients
/// that had just arrived (moved twice). A server sheds only if it is also over on its own
/// count as of its peers' oldest report (one instant for every count).
#[test]
fn a_server_does_not_shed_on_its_new_count_against_an_old_report() {
    let (sh, mut conns) = server(on(), 20);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    peer(&sh, 1002, "NC", "127.0.0.1:5003");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    let mut now = T0;
    let mut grown = false;
    while now <= T0 + Duration::from_secs(25) {
        if now >= T0 + Duration::from_secs(2) && sh.peer_loads.get("NB").is_none() {
            // NB's last report before it got its share: fresh for 30 s.
            sh.peer_loads.record("NB", 20, now);
        }
        if now >= T0 + Duration::from_secs(5) && !grown {
            // 40 moved clients arrive here (as NB is getting its own, unreported).
            grown = true;
            for _ in 0..40 {
                let mut c = Connection::accept(&sh, now, None, Arc::new(Nop));
                c.handle_read(now, b"CONNECT {\"protocol\":1}\r\nPING\r\n", &sh)
                    .unwrap();
                conns.push(c);
            }
        }
        sh.peer_loads.record("NC", 60, now);
        node.handle_timeout(now);
        while node.poll_action().is_some() {}
        now = node
            .poll_timeout()
            .unwrap()
            .max(now + Duration::from_millis(1));
    }
    let moved = conns
        .iter()
        .filter(|c| c.handle().close_reason().is_some())
        .count();
    assert_eq!(moved, 0, "plan: {:?}", sh.rebalance.plan());
}

/// The simulator's `rebalance` seed 65: a round's clients were counted as gone from the
/// cluster until the peer's next report, so the target sank with every client sent and the
/// next round shed again on a balanced cluster. The plan counts what was sent since.
#[test]
fn a_server_does_not_shed_again_before_the_peer_reported_what_it_got() {
    let fast = RebalanceOptions {
        max_moves_per_sec: 100,
        ..on()
    };
    let (sh, conns) = server(fast, 100);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    // One report, fresh until T0 + 31 s: the second round would start before.
    sh.peer_loads.record("NB", 0, T0 + Duration::from_secs(1));
    let mut now = T0;
    while now <= T0 + Duration::from_secs(30) {
        node.handle_timeout(now);
        while node.poll_action().is_some() {}
        now = node
            .poll_timeout()
            .unwrap()
            .max(now + Duration::from_millis(1));
    }
    let moved = conns
        .iter()
        .filter(|c| c.handle().close_reason().is_some())
        .count();
    assert_eq!(moved, 50, "plan: {:?}", sh.rebalance.plan());
}

/// The lower side of "balanced": a server within its upper band (108 of a target of 100,
/// band 10) still sheds toward a peer under the lower band (85), its share of that
/// deficit in proportion to its surplus (8 of the surpluses 8 + 7 for a deficit of 15),
/// and never below the target.
#[test]
fn a_server_above_the_target_sheds_its_share_toward_a_peer_under_the_band() {
    let (sh, conns) = server(on(), 108);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    peer(&sh, 1002, "NC", "127.0.0.1:5003");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    let (seen, _) = drive(
        &mut node,
        &sh,
        &conns,
        &[("NB", 107), ("NC", 85)],
        T0,
        T0 + Duration::from_secs(60),
    );
    assert_eq!(seen.last().unwrap().1, 8, "{seen:?}");
    // Within the lower band (91 of 100: 9 under, not beyond 10), nobody is pulled.
    let (sh, conns) = server(on(), 105);
    peer(&sh, 1001, "NB", "127.0.0.1:5002");
    peer(&sh, 1002, "NC", "127.0.0.1:5003");
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    let (seen, _) = drive(
        &mut node,
        &sh,
        &conns,
        &[("NB", 104), ("NC", 91)],
        T0,
        T0 + Duration::from_secs(60),
    );
    assert_eq!(seen.last().unwrap().1, 0, "{seen:?}");
}
