//! Black-box tests over raw TCP: every `-ERR` byte for byte, limits, keep-alive, slow
//! consumers, odd chunking, and shutdown.

use std::time::Duration;

use natsd_core::options::Options;
use natsd_tests::ours::{Ours, Runtime};
use natsd_tests::raw::Raw;

const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

async fn quiet(port: u16) -> Raw {
    let mut r = Raw::connect(port).await;
    r.line().await;
    r.send(QUIET).await;
    r
}

fn opts(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    f(&mut o);
    o
}

async fn info_then_verbose_ok(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let mut r = Raw::connect(s.port()).await;
    let info = r.line().await;
    assert!(info.starts_with("INFO {\"server_id\":\"N"), "{info}");
    assert!(info.ends_with("} \r\n"));
    assert!(info.contains(&format!("\"port\":{}", s.port())), "{info}");
    r.send("CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\n")
        .await;
    assert_eq!(
        r.flush().await,
        "+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n"
    );
    s.shutdown().await;
}

async fn errors_that_close(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let long = format!("PUB {} 1\r\n", "a".repeat(5000));
    for (input, expected) in [
        ("FOO bar\r\n", "-ERR 'Unknown Protocol Operation'\r\n"),
        (
            "PUB foo 2000000\r\n",
            "-ERR 'Maximum Payload Violation'\r\n",
        ),
        (long.as_str(), "-ERR 'maximum control line exceeded'\r\n"),
        (
            "CONNECT {\"protocol\":2}\r\n",
            "-ERR 'invalid client protocol'\r\n",
        ),
        (
            "CONNECT {\"no_responders\":true}\r\n",
            "-ERR 'no responders requires headers support'\r\n",
        ),
        ("SUB foo\r\n", ""),
        ("PUB foo -1\r\n", ""),
        ("HPUB foo 12 12\r\n", ""),
        ("CONNECT {bad\r\n", ""),
    ] {
        let mut r = Raw::connect(s.port()).await;
        r.line().await;
        r.send(input).await;
        assert_eq!(
            r.until_closed().await,
            expected,
            "input {:?}",
            &input[..input.len().min(30)]
        );
    }
    s.shutdown().await;
}

async fn errors_that_keep_the_connection(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let mut r = Raw::connect(s.port()).await;
    r.line().await;
    r.send("CONNECT {\"verbose\":false,\"pedantic\":true}\r\nSUB foo..bar 1\r\nSUB foo.> 2\r\nPUB foo.* 1\r\nx\r\n").await;
    assert_eq!(
        r.flush().await,
        "-ERR 'Invalid Subject'\r\n-ERR 'Invalid Publish Subject'\r\nMSG foo.* 2 1\r\nx\r\n"
    );
    s.shutdown().await;
}

async fn auth_errors(rt: Runtime) {
    let s = Ours::start(
        rt,
        opts(|o| {
            o.auth.token = Some("t".into());
            o.auth.timeout = Duration::from_millis(300);
        }),
    )
    .await;
    let mut r = Raw::connect(s.port()).await;
    assert!(r.line().await.contains("\"auth_required\":true"));
    r.send("PING\r\n").await;
    assert_eq!(r.until_closed().await, "-ERR 'Authorization Violation'\r\n");
    let mut r = Raw::connect(s.port()).await;
    r.line().await;
    r.send("CONNECT {\"auth_token\":\"x\"}\r\n").await;
    assert_eq!(r.until_closed().await, "-ERR 'Authorization Violation'\r\n");
    // Silence until the auth timeout.
    let mut r = Raw::connect(s.port()).await;
    r.line().await;
    assert_eq!(r.until_closed().await, "-ERR 'Authentication Timeout'\r\n");
    s.shutdown().await;
}

async fn permissions_errors(rt: Runtime) {
    use natsd_core::auth::{Permissions, SubjectPermission, User};
    let perms = Permissions {
        publish: Some(SubjectPermission {
            allow: Some(vec!["ok".into()]),
            deny: vec![],
        }),
        subscribe: Some(SubjectPermission {
            allow: None,
            deny: vec!["secret".into(), "jobs q".into()],
        }),
        allow_responses: None,
    };
    let s = Ours::start(
        rt,
        opts(|o| {
            o.auth.users = vec![User {
                name: "u".into(),
                password: "p".into(),
                account: None,
                permissions: Some(perms),
                publish_rate: None,
                nkey: None,
            }]
        }),
    )
    .await;
    let mut r = Raw::connect(s.port()).await;
    r.line().await;
    r.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPUB nope 0\r\n\r\nSUB secret 1\r\nSUB jobs q 2\r\n").await;
    assert_eq!(
        r.flush().await,
        "-ERR 'Permissions Violation for Publish to \"nope\"'\r\n\
-ERR 'Permissions Violation for Subscription to \"secret\"'\r\n\
-ERR 'Permissions Violation for Subscription to \"jobs\" using queue \"q\"'\r\n"
    );
    s.shutdown().await;
}

async fn max_connections_and_subscriptions(rt: Runtime) {
    let s = Ours::start(
        rt,
        opts(|o| {
            o.max_connections = 1;
            o.max_subscriptions = 1;
        }),
    )
    .await;
    let mut first = quiet(s.port()).await;
    let mut second = Raw::connect(s.port()).await;
    assert!(second.line().await.starts_with("INFO "));
    assert_eq!(
        second.until_closed().await,
        "-ERR 'maximum connections exceeded'\r\n"
    );
    first.send("SUB a 1\r\nSUB b 2\r\n").await;
    assert_eq!(
        first.flush().await,
        "-ERR 'maximum subscriptions exceeded'\r\n"
    );
    s.shutdown().await;
}

async fn keepalive_and_stale_connection(rt: Runtime) {
    let s = Ours::start(
        rt,
        opts(|o| {
            o.ping_interval = Duration::from_millis(100);
            o.ping_max = 2;
        }),
    )
    .await;
    // A client that answers PINGs stays.
    let mut good = quiet(s.port()).await;
    for _ in 0..3 {
        good.until("PING\r\n").await;
        good.send("PONG\r\n").await;
    }
    // One that does not is closed after ping_max unanswered PINGs.
    let mut bad = quiet(s.port()).await;
    let got = bad.until_closed().await;
    assert_eq!(got, "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n");
    assert!(!good.is_closed());
    s.shutdown().await;
}

async fn slow_consumer_does_not_hurt_others(rt: Runtime) {
    let s = Ours::start(rt, opts(|o| o.max_pending = 256 * 1024)).await;
    let mut slow = quiet(s.port()).await;
    slow.send("SUB data 1\r\n").await;
    slow.flush().await;
    let mut fast = quiet(s.port()).await;
    fast.send("SUB data 1\r\n").await;
    fast.flush().await;
    let mut publisher = quiet(s.port()).await;
    let msg = format!("PUB data 1000\r\n{}\r\n", "x".repeat(1000));
    // 50 rounds of 100 KB: each round fits the fast consumer's max_pending, and it reads
    // every round before the next; the slow one never reads and passes the limit.
    let mut got = 0;
    for round in 1..=50 {
        publisher.send(msg.repeat(100)).await;
        got = fast.count("MSG data 1 1000\r\n", 100 * round - got).await + got;
    }
    assert_eq!(got, 5000, "the fast consumer got every message");
    let _ = slow.until_closed().await;
    publisher.flush().await;
    s.shutdown().await;
}

async fn one_byte_at_a_time_and_many_ops_in_one_write(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let mut sub = quiet(s.port()).await;
    sub.send("SUB t 1\r\n").await;
    sub.flush().await;
    let mut p = quiet(s.port()).await;
    for b in "PUB t 5\r\nhello\r\nSUB y 2\r\n".bytes() {
        p.send([b]).await;
    }
    p.flush().await;
    let many = "PUB t 1\r\nx\r\n".repeat(500);
    p.send(many).await;
    p.flush().await;
    let got = sub.flush().await;
    assert!(got.starts_with("MSG t 1 5\r\nhello\r\n"));
    assert_eq!(got.matches("MSG t 1 1\r\nx\r\n").count(), 500);
    s.shutdown().await;
}

async fn disconnect_mid_payload_is_harmless(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let mut sub = quiet(s.port()).await;
    sub.send("SUB t 1\r\n").await;
    sub.flush().await;
    {
        let mut p = quiet(s.port()).await;
        p.send("PUB t 10\r\nhalf").await;
    }
    let mut p = quiet(s.port()).await;
    p.send("PUB t 2\r\nok\r\n").await;
    p.flush().await;
    assert_eq!(sub.flush().await, "MSG t 1 2\r\nok\r\n");
    s.shutdown().await;
}

async fn graceful_shutdown_closes_clients(rt: Runtime) {
    let s = Ours::start(rt, Options::default()).await;
    let mut a = quiet(s.port()).await;
    a.send("SUB x 1\r\n").await;
    a.flush().await;
    let port = s.port();
    tokio::time::timeout(natsd_tests::TIMEOUT, s.shutdown())
        .await
        .expect("shutdown hung");
    let _ = a.until_closed().await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "still accepting"
    );
}

natsd_tests::runtimes!(
    info_then_verbose_ok,
    errors_that_close,
    errors_that_keep_the_connection,
    auth_errors,
    permissions_errors,
    max_connections_and_subscriptions,
    keepalive_and_stale_connection,
    slow_consumer_does_not_hurt_others,
    one_byte_at_a_time_and_many_ops_in_one_write,
    disconnect_mid_payload_is_harmless,
    graceful_shutdown_closes_clients,
);
