//! Routes between two servers in one process: the handshake, interest (`RS+`/`RS-`),
//! messages both ways, queue groups across, the one-hop rule, duplicates and refusals.

use super::test_util::{nop, T0};
use super::*;
use crate::node::NodeInput;
use crate::options::{ClusterOptions, Options, RouteUrl};

fn server(id: &str, name: &str, cluster: &str) -> Shared {
    let o = Options {
        server_name: Some(name.into()),
        host: "127.0.0.1".into(),
        cluster: Some(ClusterOptions {
            name: Some(cluster.into()),
            host: "127.0.0.1".into(),
            ..ClusterOptions::default()
        }),
        ..Options::default()
    };
    Shared::new(o, id.into(), T0)
}

fn url() -> RouteUrl {
    RouteUrl::parse("nats-route://127.0.0.1:6222").unwrap()
}

/// Moves queued bytes from `from` into `to` (as a socket would); returns what moved.
fn pump(from: &Connection, to: &mut Connection, sh_to: &Shared) -> String {
    let mut out = Vec::new();
    from.handle().take(&mut out);
    if !out.is_empty() {
        let _ = to.handle_read(T0, &out, sh_to);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A route from `a` (dialler) to `b`, pumped until both are quiet; returns (a's end,
/// b's end) and what went a→b and b→a.
fn link(a: &Shared, b: &Shared) -> (Connection, Connection, String, String) {
    let mut ra = Connection::connect_route(a, T0, None, nop(), url());
    let mut rb = Connection::accept_route(b, T0, None, nop());
    let (mut ab, mut ba) = (String::new(), String::new());
    for _ in 0..4 {
        ab += &pump(&ra, &mut rb, b);
        ba += &pump(&rb, &mut ra, a);
    }
    (ra, rb, ab, ba)
}

fn settle(ra: &mut Connection, rb: &mut Connection, a: &Shared, b: &Shared) -> (String, String) {
    let (mut ab, mut ba) = (String::new(), String::new());
    for _ in 0..4 {
        ab += &pump(ra, rb, b);
        ba += &pump(rb, ra, a);
    }
    (ab, ba)
}

fn client(sh: &Shared, ops: &str) -> Connection {
    let mut c = Connection::accept(sh, T0, None, nop());
    let mut info = Vec::new();
    c.handle().take(&mut info);
    c.handle_read(
        T0,
        format!("CONNECT {{\"verbose\":false,\"headers\":true}}\r\n{ops}").as_bytes(),
        sh,
    )
    .unwrap();
    c
}

fn recv(c: &Connection) -> String {
    let mut out = Vec::new();
    c.handle().take(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn handshake_registers_both_ends_and_the_node_hears_of_it() {
    let (a, b) = (server("NA", "a", "c"), server("NB", "b", "c"));
    let (ra, rb, ab, ba) = link(&a, &b);
    assert!(ab.starts_with("CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"NA\",\"cluster\":\"c\"}\r\nINFO {\"server_id\":\"NA\""), "{ab}");
    assert!(
        ba.starts_with(
            "INFO {\"server_id\":\"NB\",\"server_name\":\"b\",\"version\":\"2.9.10\",\"proto\":2,"
        ),
        "{ba}"
    );
    assert!(!ra.is_closed() && !rb.is_closed());
    assert!(a.routes().contains("NB") && b.routes().contains("NA"));
    assert_eq!(
        a.take_node_inputs(),
        [NodeInput::RouteUp {
            cid: ra.cid(),
            remote_id: "NB".into(),
            url: Some(url()),
        }]
    );
    assert!(matches!(
        &b.take_node_inputs()[..],
        [NodeInput::RouteUp { url: None, .. }]
    ));
}

#[test]
fn interest_and_messages_cross_once_per_route() {
    let (a, b) = (server("NA", "a", "c"), server("NB", "b", "c"));
    let (mut ra, mut rb, _, _) = link(&a, &b);
    // Two subscribers on B, one on a wildcard: one RS+ each subject, one RMSG per message.
    let sb1 = client(&b, "SUB foo 1\r\nSUB foo 2\r\n");
    let sb2 = client(&b, "SUB * 1\r\n");
    let (_, ba) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ba, "RS+ $G foo\r\nRS+ $G *\r\n");
    let mut pa = client(&a, "");
    pa.handle_read(T0, b"PUB foo _INBOX.1 5\r\nhello\r\n", &a)
        .unwrap();
    let (ab, _) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ab, "RMSG $G foo _INBOX.1 5\r\nhello\r\n");
    assert_eq!(
        recv(&sb1),
        "MSG foo 1 _INBOX.1 5\r\nhello\r\nMSG foo 2 _INBOX.1 5\r\nhello\r\n"
    );
    assert_eq!(recv(&sb2), "MSG foo 1 _INBOX.1 5\r\nhello\r\n");
    // Nobody on A's other side for this subject: nothing crosses.
    pa.handle_read(T0, b"PUB bar.baz 1\r\nx\r\n", &a).unwrap();
    let (ab, _) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ab, "");
    // The last subscriber leaves: RS- once.
    drop(sb2);
    let mut sb1 = sb1;
    sb1.handle_read(T0, b"UNSUB 1\r\nUNSUB 2\r\n", &b).unwrap();
    let (_, ba) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ba, "RS- $G foo\r\n");
}

#[test]
fn a_routed_message_never_goes_to_another_route() {
    // B sits between A and C; C subscribes; A publishes: B must not pass it on to C.
    let (a, b, c) = (
        server("NA", "a", "x"),
        server("NB", "b", "x"),
        server("NC", "c", "x"),
    );
    let (mut ra, mut rb, _, _) = link(&a, &b);
    let (mut rc, mut rb2, _, _) = link(&c, &b);
    let _sc = client(&c, "SUB foo 1\r\n");
    let _sb = client(&b, "SUB foo 1\r\n");
    settle(&mut rc, &mut rb2, &c, &b);
    settle(&mut ra, &mut rb, &a, &b);
    let mut pa = client(&a, "");
    pa.handle_read(T0, b"PUB foo 1\r\nx\r\n", &a).unwrap();
    let (ab, _) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ab, "RMSG $G foo 1\r\nx\r\n");
    let (_, bc) = settle(&mut rc, &mut rb2, &c, &b);
    assert!(!bc.contains("RMSG"), "B forwarded a routed message: {bc}");
}

#[test]
fn queue_groups_pick_one_member_cluster_wide() {
    let (a, b) = (server("NA", "a", "c"), server("NB", "b", "c"));
    let (mut ra, mut rb, _, _) = link(&a, &b);
    let qb = client(&b, "SUB q w 1\r\nSUB q w 2\r\n");
    let (_, ba) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ba, "RS+ $G q w 1\r\nRS+ $G q w 2\r\n");
    let qa = client(&a, "SUB q w 1\r\n");
    let mut pa = client(&a, "");
    let n = 300;
    for _ in 0..n {
        pa.handle_read(T0, b"PUB q 1\r\nx\r\n", &a).unwrap();
    }
    let (ab, _) = settle(&mut ra, &mut rb, &a, &b);
    let routed = ab.matches("RMSG $G q | w 1\r\n").count();
    let local = recv(&qa).matches("MSG q 1 1").count();
    let remote = recv(&qb).matches("MSG q ").count();
    assert_eq!(local + routed, n, "each message once in the group");
    assert_eq!(remote, routed, "each routed message to one member on B");
    // B has two members, A one: B's share is about two thirds.
    assert!(
        (150..=250).contains(&routed),
        "weighted pick: {routed} of {n} went to B"
    );
}

#[test]
fn a_route_closing_takes_its_interest_and_tells_the_node() {
    let (a, b) = (server("NA", "a", "c"), server("NB", "b", "c"));
    let (mut ra, mut rb, _, _) = link(&a, &b);
    let _sb = client(&b, "SUB foo 1\r\n");
    settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(
        a.global_account().num_subscriptions(),
        1 + crate::imports::SYSTEM_IMPORTS
    );
    a.take_node_inputs();
    ra.handle_close(T0, &a, CloseReason::ReadError);
    assert_eq!(
        a.global_account().num_subscriptions(),
        crate::imports::SYSTEM_IMPORTS
    );
    assert!(a.routes().is_empty());
    assert!(matches!(
        &a.take_node_inputs()[..],
        [NodeInput::RouteDown { remote_id: Some(id), url: Some(_), reason: CloseReason::ReadError, .. }] if id == "NB"
    ));
}

#[test]
fn a_second_route_to_the_same_server_is_closed_as_a_duplicate() {
    let (a, b) = (server("NA", "a", "c"), server("NB", "b", "c"));
    let (_ra, _rb, _, _) = link(&a, &b);
    let (ra2, _rb2, _, _) = link(&a, &b);
    assert!(ra2.is_closed());
    assert_eq!(a.routes().len(), 1);
}

#[test]
fn cluster_name_mismatch_is_refused_with_gos_error() {
    let (a, b) = (server("NA", "a", "one"), server("NB", "b", "two"));
    let (ra, rb, _, ba) = link(&a, &b);
    assert!(
        ba.contains("-ERR 'Rejecting connection, cluster name \"one\" does not match \"two\"'\r\n"),
        "{ba}"
    );
    assert!(ra.is_closed() && rb.is_closed());
    assert!(a.routes().is_empty() && b.routes().is_empty());
}

#[test]
fn a_client_on_the_route_port_is_refused() {
    let b = server("NB", "b", "c");
    let mut rb = Connection::accept_route(&b, T0, None, nop());
    recv_route(&rb);
    let _ = rb.handle_read(T0, b"CONNECT {\"lang\":\"go\",\"verbose\":false}\r\n", &b);
    assert_eq!(
        recv_route(&rb),
        "-ERR 'attempted to connect to route port'\r\n"
    );
    assert!(rb.is_closed());
    // Anything before CONNECT is refused (Go 2.15.1).
    let mut rb = Connection::accept_route(&b, T0, None, nop());
    recv_route(&rb);
    let _ = rb.handle_read(T0, b"PUB foo 1\r\nx\r\n", &b);
    assert_eq!(recv_route(&rb), "-ERR 'Authorization Violation'\r\n");
    // After CONNECT, a client verb on a route is an unknown op.
    let mut rb = Connection::accept_route(&b, T0, None, nop());
    recv_route(&rb);
    let connect = b"CONNECT {\"echo\":true,\"name\":\"NX\",\"cluster\":\"c\"}\r\n";
    let _ = rb.handle_read(T0, connect, &b);
    let _ = rb.handle_read(T0, b"PUB foo 1\r\nx\r\n", &b);
    assert_eq!(recv_route(&rb), "-ERR 'Unknown Protocol Operation'\r\n");
}

fn recv_route(c: &Connection) -> String {
    recv(c)
}

#[test]
fn route_authorization_checks_the_dialers_credentials() {
    let a = server("NA", "a", "c");
    let mut b = server("NB", "b", "c");
    let mut o = Options::clone(&b.opts());
    let cl = o.cluster.as_mut().unwrap();
    cl.user = Some("ru".into());
    cl.password = Some("rp".into());
    b = Shared::new(o, "NB".into(), T0);
    // No credentials in the URL: refused.
    let (ra, _, _, ba) = link(&a, &b);
    assert!(ba.contains("\"auth_required\":true"));
    assert!(ba.contains("-ERR 'Authorization Violation'"), "{ba}");
    assert!(ra.is_closed());
    // With them: up.
    let mut ra = Connection::connect_route(
        &a,
        T0,
        None,
        nop(),
        RouteUrl::parse("nats-route://ru:rp@127.0.0.1:6222").unwrap(),
    );
    let mut rb = Connection::accept_route(&b, T0, None, nop());
    settle(&mut ra, &mut rb, &a, &b);
    assert!(!ra.is_closed() && !rb.is_closed());
    assert!(b.routes().contains("NA"));
}

#[test]
fn headers_cross_as_hmsg_and_rmsg_parses_from_go_bytes() {
    let (a, b) = (server("NA", "a", "c"), server("NB", "b", "c"));
    let (mut ra, mut rb, _, _) = link(&a, &b);
    let sb = client(&b, "SUB foo 1\r\n");
    settle(&mut ra, &mut rb, &a, &b);
    let mut pa = client(&a, "");
    pa.handle_read(T0, b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", &a)
        .unwrap();
    let (ab, _) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ab, "HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(recv(&sb), "HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    // Bytes a Go peer sends: a queue-list RMSG with a reply.
    let _q = client(&b, "SUB q grp 9\r\n");
    rb.handle_read(T0, b"RMSG $G q + _INBOX.r grp 2\r\nhi\r\n", &b)
        .unwrap();
    assert_eq!(recv(&_q), "MSG q 9 _INBOX.r 2\r\nhi\r\n");
}

#[test]
fn clients_learn_the_peers_client_urls_and_lame_duck_takes_them_away() {
    let a = server("NA", "a", "c");
    let mut o = Options::clone(&server("NB", "b", "c").opts());
    o.port = 4333;
    let b = Shared::new(o, "NB".into(), T0);
    // A protocol-1 client done with its handshake takes async INFO.
    let mut ca = Connection::accept(&a, T0, None, nop());
    let first = recv(&ca);
    assert!(!first.contains("connect_urls"), "no peers yet: {first}");
    ca.handle_read(
        T0,
        b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n",
        &a,
    )
    .unwrap();
    recv(&ca);
    let (mut ra, mut rb, _, _) = link(&a, &b);
    let update = recv(&ca);
    assert!(
        update.starts_with("INFO ")
            && update.contains("\"connect_urls\":[\"127.0.0.1:4222\",\"127.0.0.1:4333\"]"),
        "{update}"
    );
    // B enters lame duck mode (it has a client, so it tells its routes): A's clients stop
    // hearing of B's URL.
    let mut cb = Connection::accept(&b, T0, None, nop());
    cb.handle_read(T0, b"CONNECT {\"verbose\":false}\r\n", &b)
        .unwrap();
    b.enter_lame_duck();
    let (_, ba) = settle(&mut ra, &mut rb, &a, &b);
    assert!(ba.contains("\"ldm\":true"), "{ba}");
    let update = recv(&ca);
    assert!(
        update.starts_with("INFO ") && !update.contains("4333"),
        "{update}"
    );
}

/// A server whose only user `u` (password `p`) is bound to account `A`.
fn server_with_account(id: &str, name: &str) -> Shared {
    let mut o = Options::clone(&server(id, name, "c").opts());
    o.auth.users = vec![crate::auth::User {
        name: "u".into(),
        password: "p".into(),
        account: Some("A".into()),
        ..crate::auth::User::default()
    }];
    Shared::new(o, id.into(), T0)
}

fn client_as_u(sh: &Shared, ops: &str) -> Connection {
    let mut c = Connection::accept(sh, T0, None, nop());
    recv(&c);
    let connect = "CONNECT {\"verbose\":false,\"headers\":true,\"user\":\"u\",\"pass\":\"p\"}\r\n";
    c.handle_read(T0, format!("{connect}{ops}").as_bytes(), sh)
        .unwrap();
    c
}

/// Found by the simulator (cluster seed 1): B's interest in account `A` reached A before
/// any client of `A` had connected to A, so A had not created the account yet and dropped
/// the `RS+`; A's first `A` client then published into the void. An account the
/// configuration names exists for routes as it would for a client (Go creates configured
/// accounts at start).
#[test]
fn interest_in_a_configured_account_nobody_used_here_yet_is_kept() {
    let (a, b) = (
        server_with_account("NA", "a"),
        server_with_account("NB", "b"),
    );
    let (mut ra, mut rb, _, _) = link(&a, &b);
    let sb = client_as_u(&b, "SUB foo 1\r\n");
    let (_, ba) = settle(&mut ra, &mut rb, &a, &b);
    // The system account's response subjects of A's own imports come along (a client of A
    // created A here); the interest that matters is A's.
    let ours: Vec<&str> = ba
        .lines()
        .filter(|l| !l.starts_with("RS+ $SYS _R_."))
        .collect();
    assert_eq!(ours, ["RS+ A foo"]);
    let mut pa = client_as_u(&a, "");
    pa.handle_read(T0, b"PUB foo 2\r\nhi\r\n", &a).unwrap();
    let (ab, _) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ab, "RMSG A foo 2\r\nhi\r\n");
    assert_eq!(recv(&sb), "MSG foo 1 2\r\nhi\r\n");
}

#[test]
fn an_msub_at_its_limit_takes_its_interest_off_the_route() {
    let (a, b) = (server("NA", "a", "c"), server("NB", "b", "c"));
    let (mut ra, mut rb, _, _) = link(&a, &b);
    let sb = client(&b, "MSUB foo 1 2\r\n");
    let (_, ba) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(ba, "RS+ $G foo\r\n");
    let mut pa = client(&a, "");
    for _ in 0..3 {
        pa.handle_read(T0, b"PUB foo 1\r\nx\r\n", &a).unwrap();
    }
    let (_, ba) = settle(&mut ra, &mut rb, &a, &b);
    assert_eq!(
        recv(&sb).matches("MSG foo 1 1").count(),
        2,
        "the limit is kept where the subscriber is"
    );
    assert_eq!(ba, "RS- $G foo\r\n", "interest ends with the limit");
    assert_eq!(
        a.global_account().num_subscriptions(),
        crate::imports::SYSTEM_IMPORTS
    );
}

#[test]
fn a_route_is_never_stalled_by_a_slow_receiver() {
    // Go stalls client producers only: a paused route would hold up every account's
    // traffic from that server behind one receiver.
    let a = server("NA", "a", "c");
    let mut o = Options::clone(&server("NB", "b", "c").opts());
    o.max_pending = 4096;
    let b = Shared::new(o, "NB".into(), T0);
    let (mut ra, mut rb, _, _) = link(&a, &b);
    let _slow = client(&b, "SUB foo 1\r\n");
    settle(&mut ra, &mut rb, &a, &b);
    let burst = b"RMSG $G foo 100\r\n"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'x', 100))
        .chain(*b"\r\n")
        .collect::<Vec<u8>>()
        .repeat(35);
    let n = rb.handle_read_paced(T0, &burst, &b).unwrap();
    assert_eq!(n, burst.len(), "the whole buffer is taken");
    assert_eq!(rb.poll_read_pause(), None, "no pause for a route");
}
