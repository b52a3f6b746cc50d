//! Black-box tests with the official Rust client, async-nats (the published crate).

use std::time::Duration;

use async_nats::{ConnectOptions, HeaderMap};
use futures::StreamExt;
use natsd_core::auth::User;
use natsd_core::options::Options;
use natsd_tests::ours::{Ours, Runtime};
use natsd_tests::TIMEOUT;

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(TIMEOUT, sub.next())
        .await
        .expect("timed out")
        .expect("subscription ended")
}

/// Waits until the server has processed everything `c` sent before: a message to a private
/// inbox comes back only after the server handled the ops queued ahead of it (async-nats'
/// `flush` only drains the client's socket buffer; it is not a server round trip).
async fn synced(c: &async_nats::Client) {
    let inbox = c.new_inbox();
    let mut probe = c.subscribe(inbox.clone()).await.unwrap();
    c.publish(inbox, "sync".into()).await.unwrap();
    c.flush().await.unwrap();
    next(&mut probe).await;
}

fn url(s: &Ours) -> String {
    format!("nats://127.0.0.1:{}", s.port())
}

async fn pub_sub_and_wildcards(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let c = async_nats::connect(url(&s)).await.unwrap();
    let mut exact = c.subscribe("orders.eu.new").await.unwrap();
    let mut star = c.subscribe("orders.*.new").await.unwrap();
    let mut gt = c.subscribe("orders.>").await.unwrap();
    c.flush().await.unwrap();
    c.publish("orders.eu.new", "a".into()).await.unwrap();
    c.publish("orders.us.new", "b".into()).await.unwrap();
    c.publish("orders.us.old", "c".into()).await.unwrap();
    c.flush().await.unwrap();
    assert_eq!(next(&mut exact).await.payload, "a");
    assert_eq!(next(&mut star).await.payload, "a");
    assert_eq!(next(&mut star).await.payload, "b");
    for want in ["a", "b", "c"] {
        assert_eq!(next(&mut gt).await.payload, want);
    }
    s.shutdown().await;
}

async fn queue_group_delivers_exactly_once(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let c = async_nats::connect(url(&s)).await.unwrap();
    let mut members = Vec::new();
    for _ in 0..3 {
        let m = async_nats::connect(url(&s)).await.unwrap();
        let sub = m.queue_subscribe("work", "workers".into()).await.unwrap();
        synced(&m).await;
        members.push((m, sub));
    }
    for i in 0..300u32 {
        c.publish("work", i.to_string().into()).await.unwrap();
    }
    // Once the publisher's probe is back, every delivery is queued; once a member's probe is
    // back, everything queued for it before has reached its subscription.
    synced(&c).await;
    let mut seen = Vec::new();
    let mut counts = Vec::new();
    for (m, sub) in &mut members {
        synced(m).await;
        let mut n = 0;
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await
        {
            seen.push(
                String::from_utf8(msg.payload.to_vec())
                    .unwrap()
                    .parse::<u32>()
                    .unwrap(),
            );
            n += 1;
        }
        counts.push(n);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..300).collect::<Vec<_>>(),
        "each message exactly once across members"
    );
    assert!(
        counts.iter().all(|&n| n > 0),
        "every member got work: {counts:?}"
    );
    s.shutdown().await;
}

async fn request_reply_and_no_responders(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let svc = async_nats::connect(url(&s)).await.unwrap();
    let mut reqs = svc.subscribe("echo").await.unwrap();
    synced(&svc).await;
    let responder = svc.clone();
    tokio::spawn(async move {
        while let Some(m) = reqs.next().await {
            if let Some(r) = m.reply {
                responder.publish(r, m.payload).await.unwrap();
            }
        }
    });
    let c = async_nats::connect(url(&s)).await.unwrap();
    let answer = tokio::time::timeout(TIMEOUT, c.request("echo", "ping".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.payload, "ping");
    let err = tokio::time::timeout(TIMEOUT, c.request("nobody.home", "x".into()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.kind(),
        async_nats::client::RequestErrorKind::NoResponders
    );
    s.shutdown().await;
}

async fn headers_round_trip(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let c = async_nats::connect(url(&s)).await.unwrap();
    let mut sub = c.subscribe("h").await.unwrap();
    c.flush().await.unwrap();
    let mut h = HeaderMap::new();
    h.insert("X-Trace", "abc");
    c.publish_with_headers("h", h, "body".into()).await.unwrap();
    let m = next(&mut sub).await;
    assert_eq!(m.payload, "body");
    assert_eq!(
        m.headers.unwrap().get("X-Trace").map(|v| v.as_str()),
        Some("abc")
    );
    s.shutdown().await;
}

async fn auto_unsubscribe(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let c = async_nats::connect(url(&s)).await.unwrap();
    let mut sub = c.subscribe("n").await.unwrap();
    sub.unsubscribe_after(2).await.unwrap();
    c.flush().await.unwrap();
    for i in 0..5 {
        c.publish("n", format!("{i}").into()).await.unwrap();
    }
    c.flush().await.unwrap();
    assert_eq!(next(&mut sub).await.payload, "0");
    assert_eq!(next(&mut sub).await.payload, "1");
    let end = tokio::time::timeout(TIMEOUT, sub.next()).await.unwrap();
    assert!(end.is_none(), "subscription ends after 2 messages");
    s.shutdown().await;
}

async fn echo_off(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let quiet = ConnectOptions::new()
        .no_echo()
        .connect(url(&s))
        .await
        .unwrap();
    let other = async_nats::connect(url(&s)).await.unwrap();
    let mut mine = quiet.subscribe("e").await.unwrap();
    // `quiet` cannot sync through itself (echo is off): `other` receives its probe instead.
    let inbox = other.new_inbox();
    let mut probe = other.subscribe(inbox.clone()).await.unwrap();
    synced(&other).await;
    quiet.publish(inbox, "sync".into()).await.unwrap();
    quiet.flush().await.unwrap();
    next(&mut probe).await;
    quiet.publish("e", "self".into()).await.unwrap();
    quiet.flush().await.unwrap();
    other.publish("e", "other".into()).await.unwrap();
    other.flush().await.unwrap();
    assert_eq!(
        next(&mut mine).await.payload,
        "other",
        "own message must not come back"
    );
    s.shutdown().await;
}

async fn token_and_user_password_auth(rt: Runtime) {
    let mut o = Options::default();
    o.auth.token = Some("s3cr3t".into());
    let s = Ours::start(rt, o).await;
    assert!(ConnectOptions::with_token("s3cr3t".into())
        .connect(url(&s))
        .await
        .is_ok());
    let bad = ConnectOptions::with_token("nope".into()).retry_on_initial_connect();
    let _ = bad; // retrying would hang; a single attempt must fail:
    assert!(ConnectOptions::with_token("nope".into())
        .connect(url(&s))
        .await
        .is_err());
    s.shutdown().await;

    let hash = bcrypt::hash("pw", 4).unwrap();
    let mut o = Options::default();
    o.auth.users = vec![
        User {
            name: "plain".into(),
            password: "pw".into(),
            account: None,
            permissions: None,
            publish_rate: None,
            nkey: None,
        },
        User {
            name: "hashed".into(),
            password: hash,
            account: None,
            permissions: None,
            publish_rate: None,
            nkey: None,
        },
    ];
    let s = Ours::start(rt, o).await;
    for (u, p, ok) in [
        ("plain", "pw", true),
        ("hashed", "pw", true),
        ("hashed", "bad", false),
        ("nobody", "pw", false),
    ] {
        let r = ConnectOptions::with_user_and_password(u.into(), p.into())
            .connect(url(&s))
            .await;
        assert_eq!(r.is_ok(), ok, "{u}/{p}");
    }
    s.shutdown().await;
}

natsd_tests::runtimes!(
    pub_sub_and_wildcards,
    queue_group_delivers_exactly_once,
    request_reply_and_no_responders,
    headers_round_trip,
    auto_unsubscribe,
    echo_off,
    token_and_user_password_auth,
);
