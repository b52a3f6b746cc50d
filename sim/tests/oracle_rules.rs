//! Each oracle rule, fed by hand: the model owes what it should and refuses what it should.

use natsd_core::proto::Op;
use natsd_core::subject;
use natsd_sim::client::payload;
use natsd_sim::oracle::Oracle;
use natsd_sim::ViolationKind as K;

fn sub<'a>(subject: &'a str, queue: Option<&'a str>, sid: &'a str) -> Op<'a> {
    Op::Sub {
        subject: subject.as_bytes(),
        queue: queue.map(str::as_bytes),
        sid: sid.as_bytes(),
    }
}

fn publish(o: &mut Oracle, from: usize, subj: &str, seq: u64) {
    let body = payload(from, seq, 3);
    let op = Op::Pub {
        subject: subj.as_bytes(),
        reply: None,
        payload: &body,
    };
    o.on_server_op(from, &op).expect("valid publish");
}

fn deliver(
    o: &mut Oracle,
    to: usize,
    sid: &str,
    subj: &str,
    from: usize,
    seq: u64,
) -> Result<(), K> {
    let body = payload(from, seq, 3);
    o.on_delivery(to, sid.as_bytes(), subj.as_bytes(), None, &body, false)
        .map_err(|v| v.kind)
}

/// Client 0 echoes, client 1 does not.
fn oracle() -> Oracle {
    Oracle::new(vec![true, false], subject::matches)
}

#[test]
fn owed_deliveries_and_completeness() {
    let mut o = oracle();
    o.on_server_op(0, &sub("a.*", None, "1")).unwrap();
    publish(&mut o, 1, "a.b", 1);
    publish(&mut o, 1, "b", 2);
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::Missing));
    assert_eq!(deliver(&mut o, 0, "1", "a.b", 1, 1), Ok(()));
    assert_eq!(o.finish(), Ok(()));
    assert_eq!(deliver(&mut o, 0, "1", "b", 1, 2), Err(K::NoMatch));
}

#[test]
fn unsubscribed_sid_gets_nothing_published_later() {
    let mut o = oracle();
    o.on_server_op(0, &sub("a", None, "1")).unwrap();
    publish(&mut o, 1, "a", 1);
    o.on_server_op(
        0,
        &Op::Unsub {
            sid: b"1",
            max: None,
        },
    )
    .unwrap();
    publish(&mut o, 1, "a", 2);
    // In flight before the UNSUB was processed: still owed.
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 1), Ok(()));
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 2), Err(K::Unexpected));
}

#[test]
fn duplicate_order_and_echo() {
    let mut o = oracle();
    o.on_server_op(0, &sub(">", None, "1")).unwrap();
    o.on_server_op(1, &sub(">", None, "1")).unwrap();
    publish(&mut o, 1, "a", 1);
    publish(&mut o, 1, "a", 2);
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 2), Ok(()));
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 1), Err(K::OutOfOrder));
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 2), Err(K::Duplicate));
    assert_eq!(deliver(&mut o, 1, "1", "a", 1, 1), Err(K::Echo));
}

#[test]
fn auto_unsubscribe_limit() {
    let mut o = oracle();
    o.on_server_op(0, &sub("a", None, "7")).unwrap();
    o.on_server_op(
        0,
        &Op::Unsub {
            sid: b"7",
            max: Some(2),
        },
    )
    .unwrap();
    for seq in 1..=3 {
        publish(&mut o, 1, "a", seq);
    }
    assert_eq!(deliver(&mut o, 0, "7", "a", 1, 1), Ok(()));
    assert_eq!(deliver(&mut o, 0, "7", "a", 1, 2), Ok(()));
    assert_eq!(deliver(&mut o, 0, "7", "a", 1, 3), Err(K::OverMax));
    assert_eq!(o.finish(), Ok(()), "the third was never owed");
}

#[test]
fn one_queue_member_per_message() {
    let mut o = oracle();
    o.on_server_op(0, &sub("a", Some("q"), "1")).unwrap();
    o.on_server_op(0, &sub("*", Some("q"), "2")).unwrap();
    publish(&mut o, 1, "a", 1);
    publish(&mut o, 1, "a", 2);
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 1), Ok(()));
    assert_eq!(deliver(&mut o, 0, "2", "a", 1, 1), Err(K::QueueTwice));
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::QueueMissing));
    // A closed candidate makes the group's delivery optional.
    o.excuse(0);
    assert_eq!(o.finish(), Ok(()));
}

#[test]
fn closed_client_is_owed_nothing() {
    let mut o = oracle();
    o.on_server_op(0, &sub("a", None, "1")).unwrap();
    publish(&mut o, 1, "a", 1);
    o.server_closed(0);
    publish(&mut o, 1, "a", 2);
    assert_eq!(o.finish(), Ok(()));
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 2), Err(K::Unexpected));
}

#[test]
fn pong_is_a_flush_barrier() {
    let mut o = oracle();
    o.on_server_op(0, &sub("a", None, "1")).unwrap();
    publish(&mut o, 1, "a", 1);
    o.on_server_op(0, &Op::Ping).unwrap();
    publish(&mut o, 1, "a", 2);
    o.on_server_op(0, &Op::Ping).unwrap();
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 1), Ok(()));
    assert_eq!(o.on_pong(0), Ok(()), "seq 2 came after the first PING");
    assert_eq!(
        o.on_pong(0).map_err(|v| v.kind),
        Err(K::Flush),
        "seq 2 is still missing"
    );
    assert_eq!(
        o.on_pong(0).map_err(|v| v.kind),
        Err(K::Flush),
        "no third PING"
    );
    o.on_server_op(0, &Op::Ping).unwrap();
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::Missing));
}

#[test]
fn queue_member_limit_is_bounded() {
    let mut o = oracle();
    o.on_server_op(0, &sub("a", Some("q"), "1")).unwrap();
    o.on_server_op(0, &sub("a", Some("q"), "2")).unwrap();
    publish(&mut o, 1, "a", 1);
    publish(&mut o, 1, "a", 2);
    // Candidate twice so far: the server may already have given it both.
    o.on_server_op(
        0,
        &Op::Unsub {
            sid: b"1",
            max: Some(1),
        },
    )
    .unwrap();
    publish(&mut o, 1, "a", 3);
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 1), Ok(()));
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 2), Ok(()));
    assert_eq!(deliver(&mut o, 0, "1", "a", 1, 3), Err(K::OverMax));
    // Sid 2 has no limit, so the group owed message 3 to someone.
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::QueueMissing));
}

// ---- The world's rules: nodes, connections, permissions, replies. ----

use std::sync::Arc;

use natsd_sim::features::{ListSpec, PermSpec};
use natsd_sim::oracle::{ConnSpec, PermModel};

fn conn(o: &mut Oracle, client: usize, node: usize) -> usize {
    o.open(ConnSpec::plain(client, node, true))
}

fn request(o: &mut Oracle, from: usize, client: usize, subj: &str, inbox: &str, seq: u64) {
    let body = payload(client, seq, 0);
    let op = Op::Pub {
        subject: subj.as_bytes(),
        reply: Some(inbox.as_bytes()),
        payload: &body,
    };
    o.on_server_op(from, &op).expect("valid publish");
}

/// Each node is its own namespace: a subscriber on node 1 is owed nothing published on
/// node 0, and a delivery across nodes is `CrossNode`.
#[test]
fn nodes_are_separate_namespaces() {
    let mut o = Oracle::with_nodes(2, subject::matches);
    let (a0, b1, c0) = (conn(&mut o, 0, 0), conn(&mut o, 1, 1), conn(&mut o, 2, 0));
    o.on_server_op(b1, &sub(">", None, "1")).unwrap();
    o.on_server_op(a0, &sub(">", None, "1")).unwrap();
    publish(&mut o, c0, "a", 1);
    assert_eq!(
        o.finish().map_err(|v| v.kind),
        Err(K::Missing),
        "a0 is owed it"
    );
    assert_eq!(deliver(&mut o, a0, "1", "a", 2, 1), Ok(()));
    assert_eq!(o.finish(), Ok(()), "b1 on node 1 is owed nothing");
    assert_eq!(deliver(&mut o, b1, "1", "a", 2, 1), Err(K::CrossNode));
}

/// Within a node each account is its own namespace: a subscriber in account A is owed
/// nothing published in `$G`, and a delivery across accounts is `CrossAccount`.
#[test]
fn accounts_are_separate_namespaces() {
    let mut o = Oracle::with_nodes(1, subject::matches);
    let mut in_a = ConnSpec::plain(0, 0, true);
    in_a.account = Some("A");
    let (a, g) = (o.open(in_a), conn(&mut o, 1, 0));
    let mut also_a = ConnSpec::plain(2, 0, true);
    also_a.account = Some("A");
    let a2 = o.open(also_a);
    o.on_server_op(a, &sub(">", None, "1")).unwrap();
    o.on_server_op(g, &sub(">", None, "1")).unwrap();
    publish(&mut o, g, "x", 1);
    assert_eq!(
        o.finish().map_err(|v| v.kind),
        Err(K::Missing),
        "g (echo) is owed it"
    );
    assert_eq!(deliver(&mut o, g, "1", "x", g, 1), Ok(()));
    assert_eq!(o.finish(), Ok(()), "a in account A is owed nothing from $G");
    assert_eq!(deliver(&mut o, a, "1", "x", g, 1), Err(K::CrossAccount));
    // Within A, the rule is the usual one.
    publish(&mut o, a2, "y", 1);
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::Missing));
    assert_eq!(deliver(&mut o, a, "1", "y", 2, 1), Ok(()));
    assert_eq!(o.finish(), Ok(()));
    assert_eq!(deliver(&mut o, g, "1", "y", 2, 1), Err(K::CrossAccount));
}

/// A client that moves gets a new connection: owed only what its new node processes after
/// its new SUB; the old connection, closed, is owed nothing more.
#[test]
fn a_moved_client_is_owed_only_after_its_new_sub() {
    let mut o = Oracle::with_nodes(2, subject::matches);
    let (old, pub0, pub1) = (conn(&mut o, 0, 0), conn(&mut o, 1, 0), conn(&mut o, 2, 1));
    o.on_server_op(old, &sub("a", None, "1")).unwrap();
    publish(&mut o, pub0, "a", 1);
    // The client closes to move: what was owed to the old connection is forgiven.
    o.excuse(old);
    let new = conn(&mut o, 0, 1);
    publish(&mut o, pub1, "a", 1);
    o.on_server_op(new, &sub("a", None, "1")).unwrap();
    assert_eq!(o.finish(), Ok(()), "published on node 1 before the new SUB");
    publish(&mut o, pub1, "a", 2);
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::Missing));
    assert_eq!(deliver(&mut o, new, "1", "a", 2, 2), Ok(()));
    assert_eq!(deliver(&mut o, new, "1", "a", 1, 1), Err(K::CrossNode));
    assert_eq!(o.finish(), Ok(()));
}

fn perms(publish: Option<ListSpec>, subscribe: Option<ListSpec>) -> Option<Arc<PermModel>> {
    Some(Arc::new(PermModel::of(&PermSpec { publish, subscribe })))
}

fn list(allow: Option<&[&str]>, deny: &[&str]) -> Option<ListSpec> {
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Some(ListSpec {
        allow: allow.map(own),
        deny: own(deny),
    })
}

#[test]
fn permissions_refuse_and_filter() {
    let mut o = Oracle::with_nodes(1, subject::matches);
    let mut spec = ConnSpec::plain(0, 0, true);
    spec.perms = perms(list(None, &["a.>"]), list(Some(&["b.>", "*.c"]), &["b.x"]));
    let c = o.open(spec);
    let p = conn(&mut o, 1, 0);
    // Subscribe: allowed by "b.>", refused outside the allow list.
    o.on_server_op(c, &sub("b.*", None, "1")).unwrap();
    o.on_server_op(c, &sub("a", Some("q"), "2")).unwrap();
    let text = "Permissions Violation for Subscription to \"a\" using queue \"q\"";
    assert_eq!(o.on_err(c, text), Ok(()));
    // Publish: denied by "a.>" (no message exists, the -ERR is owed).
    publish(&mut o, c, "a.b", 1);
    assert_eq!(
        o.finish().map_err(|v| v.kind),
        Err(K::ServerError),
        "-ERR owed"
    );
    assert_eq!(
        o.on_err(c, "Permissions Violation for Publish to \"a.b\""),
        Ok(())
    );
    // Delivery: "b.x" is denied to the subscriber, so it is not owed and may not arrive.
    publish(&mut o, p, "b.x", 1);
    publish(&mut o, p, "b.y", 2);
    assert_eq!(
        o.finish().map_err(|v| v.kind),
        Err(K::Missing),
        "b.y is owed"
    );
    assert_eq!(deliver(&mut o, c, "1", "b.y", 1, 2), Ok(()));
    assert_eq!(o.finish(), Ok(()));
    assert_eq!(deliver(&mut o, c, "1", "b.x", 1, 1), Err(K::Permission));
}

#[test]
fn verbose_replies_in_order() {
    let mut o = Oracle::with_nodes(1, subject::matches);
    let mut spec = ConnSpec::plain(0, 0, true);
    spec.verbose = true;
    spec.pedantic = true;
    let c = o.open(spec);
    o.on_server_op(c, &Op::Connect(b"{}")).unwrap();
    o.on_server_op(c, &sub("a", None, "1")).unwrap();
    publish(&mut o, c, "a.*", 1);
    assert_eq!(o.on_ok(c), Ok(()), "CONNECT");
    assert_eq!(o.on_ok(c), Ok(()), "SUB");
    assert_eq!(
        o.on_ok(c).map_err(|v| v.kind),
        Err(K::ServerError),
        "the -ERR first"
    );
    let mut o2 = Oracle::with_nodes(1, subject::matches);
    let mut spec = ConnSpec::plain(0, 0, true);
    spec.verbose = true;
    spec.pedantic = true;
    let c = o2.open(spec);
    publish(&mut o2, c, "a.*", 1);
    assert_eq!(o2.on_err(c, "Invalid Publish Subject"), Ok(()));
    assert_eq!(o2.on_ok(c), Ok(()), "delivered anyway, +OK");
    assert_eq!(o2.finish(), Ok(()));
}

#[test]
fn no_responders_status_exactly_when_nobody_listens() {
    let mut o = Oracle::with_nodes(1, subject::matches);
    let mut spec = ConnSpec::plain(0, 0, true);
    spec.no_responders = true;
    let c = o.open(spec);
    let other = conn(&mut o, 1, 0);
    o.on_server_op(c, &sub("_INBOX.0.1", None, "1")).unwrap();
    o.on_server_op(c, &sub("_INBOX.0.2", None, "2")).unwrap();
    request(&mut o, c, 0, "nobody", "_INBOX.0.1", 1);
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::Missing), "503 owed");
    assert_eq!(o.on_no_responders(c, b"1", b"_INBOX.0.1"), Ok(()));
    assert_eq!(o.finish(), Ok(()));
    assert_eq!(
        o.on_no_responders(c, b"1", b"_INBOX.0.1")
            .map_err(|v| v.kind),
        Err(K::Duplicate)
    );
    o.on_server_op(other, &sub("busy", None, "9")).unwrap();
    request(&mut o, c, 0, "busy", "_INBOX.0.2", 2);
    assert_eq!(
        o.on_no_responders(c, b"2", b"_INBOX.0.2")
            .map_err(|v| v.kind),
        Err(K::Unexpected),
        "a subscriber takes it"
    );
}

#[test]
fn max_subscriptions_refuses_the_one_too_many() {
    let mut o = Oracle::with_nodes(1, subject::matches);
    let mut spec = ConnSpec::plain(0, 0, true);
    spec.max_subs = 2;
    let c = o.open(spec);
    let p = conn(&mut o, 1, 0);
    for sid in ["1", "2", "3"] {
        o.on_server_op(c, &sub("a", None, sid)).unwrap();
    }
    assert_eq!(o.on_err(c, "maximum subscriptions exceeded"), Ok(()));
    publish(&mut o, p, "a", 1);
    assert_eq!(deliver(&mut o, c, "3", "a", 1, 1), Err(K::Unexpected));
}
