use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::client::Notify;
use crate::conn::Connection;
use crate::options::Options;

struct Nop;
impl Notify for Nop {
    fn notify(&self) {}
}

const T0: Time = Time::from_nanos(1_000_000_000);

/// `n` protocol-1 clients that did CONNECT and PING (so they take async INFO).
fn server(n: usize, seed: u64) -> (Arc<Shared>, Vec<Connection>) {
    let sh = Arc::new(Shared::new(
        Options {
            seed,
            ..Options::default()
        },
        "NTEST".into(),
        T0,
    ));
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

/// Drives the node through lame duck mode; returns when each client was closed (offset
/// from the signal) and when the node asked to shut down.
fn run(
    sh: &Arc<Shared>,
    conns: &[Connection],
    duration: Duration,
    grace: Duration,
) -> (Vec<Duration>, Duration, Vec<NodeAction>) {
    let mut node = Node::new(Arc::clone(sh));
    let mut actions = Vec::new();
    let mut closed_at = vec![None; conns.len()];
    node.handle_lame_duck(T0, duration, grace);
    let mut now = T0;
    for _ in 0..100_000 {
        while let Some(a) = node.poll_action() {
            if a == NodeAction::Shutdown {
                let closed = closed_at
                    .into_iter()
                    .map(|t: Option<Duration>| t.unwrap())
                    .collect();
                actions.push(a);
                return (closed, now - T0, actions);
            }
            actions.push(a);
        }
        now = node.poll_timeout().expect("a timer until shutdown");
        node.handle_timeout(now);
        for (i, c) in conns.iter().enumerate() {
            if closed_at[i].is_none() && c.handle().close_reason().is_some() {
                closed_at[i] = Some(now - T0);
            }
        }
    }
    panic!("lame duck never finished");
}

/// Go's pacing: 6 clients, 30 s duration, 2 s grace: the first close at 2 s, then a pause
/// in [0.5 s, 1 s) between closes (the gap 28 s / 6 is capped at 1 s), shut down right after
/// the last: 4.5 to 7 s in all (Go ~5.1 s; ours used to spread them over 25 s).
#[test]
fn lame_duck_is_paced_as_go() {
    let (sh, conns) = server(6, 7);
    let (closed, shutdown, actions) =
        run(&sh, &conns, Duration::from_secs(30), Duration::from_secs(2));
    assert_eq!(
        actions[0],
        NodeAction::Log(
            LogLevel::Info,
            "Entering lame duck mode, stop accepting new clients".into()
        )
    );
    assert_eq!(actions[1], NodeAction::StopAccepting);
    assert!(actions.contains(&NodeAction::Log(
        LogLevel::Info,
        "Closing existing clients".into()
    )));
    let mut sorted = closed.clone();
    sorted.sort();
    assert_eq!(sorted[0], Duration::from_secs(2));
    for w in sorted.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(500) && gap < Duration::from_secs(1),
            "{gap:?}"
        );
    }
    assert_eq!(shutdown, *sorted.last().unwrap());
    assert!(
        shutdown >= Duration::from_millis(4500) && shutdown < Duration::from_secs(7),
        "{shutdown:?}"
    );
    // Same seed, same schedule.
    let (sh2, conns2) = server(6, 7);
    let (closed2, shutdown2, _) = run(
        &sh2,
        &conns2,
        Duration::from_secs(30),
        Duration::from_secs(2),
    );
    assert_eq!((closed, shutdown), (closed2, shutdown2));
}

/// Many clients over a short spread: the gap shrinks below the cap and the closes fill it.
#[test]
fn lame_duck_spreads_many_clients_over_the_duration() {
    let (sh, conns) = server(40, 3);
    let (_, shutdown, _) = run(&sh, &conns, Duration::from_secs(12), Duration::from_secs(2));
    // gap = 10 s / 40 = 250 ms; 39 pauses of [125, 250) ms after the grace.
    assert!(
        shutdown >= Duration::from_millis(2000 + 39 * 125),
        "{shutdown:?}"
    );
    assert!(
        shutdown < Duration::from_millis(2000 + 39 * 250),
        "{shutdown:?}"
    );
}

/// No clients: shut down at once, without waiting out the grace period (as Go).
#[test]
fn lame_duck_without_clients_shuts_down_at_once() {
    let (sh, conns) = server(0, 1);
    let (_, shutdown, actions) = run(
        &sh,
        &conns,
        Duration::from_secs(30),
        Duration::from_secs(10),
    );
    assert_eq!(shutdown, Duration::ZERO);
    assert_eq!(actions.last(), Some(&NodeAction::Shutdown));
}

/// The ldm INFO reaches clients that take async INFO before any close.
#[test]
fn lame_duck_announces_before_closing() {
    let (sh, conns) = server(2, 5);
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_lame_duck(T0, Duration::from_secs(30), Duration::from_secs(2));
    node.handle_timeout(T0);
    for c in &conns {
        let mut out = Vec::new();
        c.handle().take(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("INFO {") && s.contains("\"ldm\":true"), "{s}");
        assert!(c.handle().close_reason().is_none());
    }
    assert_eq!(node.poll_timeout(), Some(T0 + Duration::from_secs(2)));
}

/// A clustered server (no explicit routes, no `connect_retries`) and its node.
fn clustered() -> (Arc<Shared>, Node) {
    clustered_as("NSELF")
}

/// The same with server id `id`.
fn clustered_as(id: &str) -> (Arc<Shared>, Node) {
    let sh = Arc::new(Shared::new(
        Options {
            cluster: Some(crate::options::ClusterOptions {
                name: Some("c".into()),
                ..crate::options::ClusterOptions::default()
            }),
            ..Options::default()
        },
        id.into(),
        T0,
    ));
    let node = Node::new(Arc::clone(&sh));
    (sh, node)
}

/// Server `remote_id` dials `sh`: returns `sh`'s end of the route, registered.
fn accepted_route_from(sh: &Shared, remote_id: &str) -> Connection {
    let (other, _) = clustered_as(remote_id);
    let url = crate::options::RouteUrl::parse("nats-route://127.0.0.1:6222").unwrap();
    let mut dialer = Connection::connect_route(&other, T0, None, Arc::new(Nop), url);
    let mut ours = Connection::accept_route(sh, T0, None, Arc::new(Nop));
    for _ in 0..4 {
        let mut out = Vec::new();
        dialer.handle().take(&mut out);
        let _ = ours.handle_read(T0, &out, sh);
        let mut back = Vec::new();
        ours.handle().take(&mut back);
        let _ = dialer.handle_read(T0, &back, &other);
    }
    assert!(sh.routes().contains(remote_id));
    ours
}

/// Found by the simulator (cluster seed 324): a peer we learnt by gossip dialled us at the
/// same time as we dialled it, so our dial closed as a duplicate (its URL "covered" by the
/// peer's route); the peer then crashed and came back with a new server id. Gossip about
/// the new server, at the same URL, was ignored as already known, so the mesh never
/// closed again. Go dials every server gossip names that it has no route to.
#[test]
fn gossip_about_a_restarted_server_is_dialled_again() {
    let (sh, mut node) = clustered();
    let url = crate::options::RouteUrl::parse("nats-route://10.0.0.4:6225/").unwrap();
    let gossip = |id: &str| NodeInput::Gossip {
        server_id: id.into(),
        url: url.clone(),
    };
    sh.to_node(gossip("NOLD"));
    node.handle_inputs(T0);
    assert_eq!(node.poll_action(), Some(NodeAction::Dial(url.clone())));
    // Its own dial to us registers first; ours closes as a duplicate.
    let mut theirs = accepted_route_from(&sh, "NOLD");
    sh.to_node(NodeInput::RouteDown {
        cid: 10,
        remote_id: Some("NOLD".into()),
        url: Some(url.clone()),
        reason: CloseReason::DuplicateRoute,
    });
    node.handle_inputs(T0);
    assert_eq!(node.poll_action(), None);
    // It crashes: its route goes down; the URL it covered is ours to redial (after a
    // jitter: see `a_route_lost_to_crossed_duplicates_is_redialled`).
    theirs.handle_close(T0, &sh, CloseReason::ReadError);
    assert!(sh.routes().is_empty());
    node.handle_inputs(T0);
    assert_eq!(node.poll_action(), None);
    // It is back with a new id, and a peer tells us: that redial is the dial, no second.
    sh.to_node(gossip("NNEW"));
    node.handle_inputs(T0);
    assert_eq!(node.poll_action(), None);
    let at = node.next_route_timer().expect("a redial is due");
    node.handle_timeout(at);
    assert_eq!(node.poll_action(), Some(NodeAction::Dial(url.clone())));
    // While that dial is out, more gossip about it changes nothing.
    sh.to_node(gossip("NNEW"));
    node.handle_inputs(T0);
    assert_eq!(node.poll_action(), None);
}

fn with_routes(routes: &[&str]) -> Arc<Shared> {
    let o = Options {
        cluster: Some(crate::options::ClusterOptions {
            name: Some("c".into()),
            routes: routes
                .iter()
                .map(|u| crate::options::RouteUrl::parse(u).unwrap())
                .collect(),
            ..Default::default()
        }),
        ..Options::default()
    };
    Arc::new(Shared::new(o, "NTEST".into(), T0))
}

fn drain_actions(node: &mut Node) -> Vec<NodeAction> {
    std::iter::from_fn(|| node.poll_action()).collect()
}

fn url(u: &str) -> crate::options::RouteUrl {
    crate::options::RouteUrl::parse(u).unwrap()
}

#[test]
fn explicit_routes_are_dialled_and_redialled_a_second_apart() {
    let sh = with_routes(&["nats-route://h1:1"]);
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    assert_eq!(
        drain_actions(&mut node),
        [NodeAction::Dial(url("nats-route://h1:1"))]
    );
    sh.to_node(NodeInput::DialFailed {
        url: url("nats-route://h1:1"),
        error: "refused".into(),
    });
    node.handle_inputs(T0);
    assert!(
        matches!(&drain_actions(&mut node)[..], [NodeAction::Log(LogLevel::Error, l)] if l.contains("attempt 1"))
    );
    assert_eq!(node.next_route_timer(), Some(T0 + ROUTE_CONNECT_INTERVAL));
    node.handle_timeout(T0 + Duration::from_millis(999));
    assert!(drain_actions(&mut node).is_empty());
    node.handle_timeout(T0 + ROUTE_CONNECT_INTERVAL);
    assert_eq!(
        drain_actions(&mut node),
        [NodeAction::Dial(url("nats-route://h1:1"))]
    );
    // A second failure is not logged (Go: the first, then one an hour).
    sh.to_node(NodeInput::DialFailed {
        url: url("nats-route://h1:1"),
        error: "refused".into(),
    });
    node.handle_inputs(T0 + ROUTE_CONNECT_INTERVAL);
    assert!(drain_actions(&mut node).is_empty());
}

#[test]
fn gossip_dials_once_and_a_url_that_is_ourselves_is_dropped() {
    let sh = with_routes(&["nats-route://self:1"]);
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    drain_actions(&mut node);
    sh.to_node(NodeInput::RouteDown {
        cid: 1,
        remote_id: Some("NTEST".into()),
        url: Some(url("nats-route://self:1")),
        reason: CloseReason::DuplicateRoute,
    });
    node.handle_inputs(T0);
    assert_eq!(node.next_route_timer(), None, "never redial ourselves");
    // Gossip about another server: dialled once; the same again is ignored.
    for _ in 0..2 {
        sh.to_node(NodeInput::Gossip {
            server_id: "NOTHER".into(),
            url: url("nats-route://h2:2"),
        });
    }
    node.handle_inputs(T0);
    assert_eq!(
        drain_actions(&mut node),
        [NodeAction::Dial(url("nats-route://h2:2"))]
    );
    // An implicit route that fails is given up (connect_retries 0).
    sh.to_node(NodeInput::DialFailed {
        url: url("nats-route://h2:2"),
        error: "refused".into(),
    });
    node.handle_inputs(T0);
    drain_actions(&mut node);
    assert_eq!(node.next_route_timer(), None);
}

#[test]
fn a_reload_dials_added_routes_and_forgets_removed_ones() {
    let sh = with_routes(&["nats-route://h1:1"]);
    let mut node = Node::new(Arc::clone(&sh));
    node.handle_start(T0);
    drain_actions(&mut node);
    let mut o = Options::clone(&sh.opts());
    o.cluster.as_mut().unwrap().routes = vec![url("nats-route://h2:2")];
    sh.apply_reload(&o);
    sh.to_node(NodeInput::Reloaded);
    node.handle_inputs(T0);
    let actions = drain_actions(&mut node);
    assert!(
        actions.contains(&NodeAction::Dial(url("nats-route://h2:2"))),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, NodeAction::Log(_, l) if l == "Removed route nats-route://h1:1")),
        "{actions:?}"
    );
    // The removed URL's dial failing later is not redialled.
    sh.to_node(NodeInput::DialFailed {
        url: url("nats-route://h1:1"),
        error: "refused".into(),
    });
    node.handle_inputs(T0);
    assert_eq!(node.next_route_timer(), None);
}

/// Found by the simulator (cluster seed 455): we dialled a server gossip named while it
/// dialled us; each side registered the other's connection first and closed its own dial
/// as the duplicate, so both routes died. The URL our dial had (its route "covered" it)
/// is dialled again once the covering route is gone, as Go redials a route it marked
/// `retry` when it saw the duplicate.
#[test]
fn a_route_lost_to_crossed_duplicates_is_redialled() {
    let (sh, mut node) = clustered();
    let url = crate::options::RouteUrl::parse("nats-route://10.0.0.2:6223/").unwrap();
    sh.to_node(NodeInput::Gossip {
        server_id: "NPEER".into(),
        url: url.clone(),
    });
    node.handle_inputs(T0);
    assert_eq!(node.poll_action(), Some(NodeAction::Dial(url.clone())));
    let mut theirs = accepted_route_from(&sh, "NPEER");
    sh.to_node(NodeInput::RouteDown {
        cid: 10,
        remote_id: Some("NPEER".into()),
        url: Some(url.clone()),
        reason: CloseReason::DuplicateRoute,
    });
    node.handle_inputs(T0);
    assert_eq!(node.poll_action(), None);
    // The peer closed its dial (our accepted route) as the duplicate of ours.
    theirs.handle_close(T0, &sh, CloseReason::ClientClosed);
    node.handle_inputs(T0);
    let at = node.next_route_timer().expect("a redial is due");
    assert!(at < T0 + ROUTE_RECONNECT_JITTER + Duration::from_nanos(1));
    node.handle_timeout(at);
    assert_eq!(node.poll_action(), Some(NodeAction::Dial(url)));
}
