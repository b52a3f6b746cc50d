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
