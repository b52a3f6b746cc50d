//! Connection tests with a fake clock: every `-ERR` case, keep-alive, auth and delivery rules.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::auth::{Permissions, ResponsePermission, SubjectPermission, User};
use crate::client::Notify;
use crate::options::Options;

#[derive(Default)]
struct Counter(AtomicUsize);

impl Notify for Counter {
    fn notify(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

struct Client {
    conn: Connection,
    wakes: Arc<Counter>,
}

const T0: Time = Time::from_nanos(1_000_000_000);

fn secs(s: f64) -> Time {
    T0 + Duration::from_secs_f64(s)
}

fn shared(opts: Options) -> Shared {
    Shared::new(opts, "NTESTSERVER".into(), T0)
}

fn addr() -> Option<SocketAddr> {
    Some("127.0.0.1:5555".parse().unwrap())
}

impl Client {
    fn new(sh: &Shared) -> Client {
        let wakes = Arc::new(Counter::default());
        let conn = Connection::accept(sh, T0, addr(), Arc::clone(&wakes) as Arc<dyn Notify>);
        Client { conn, wakes }
    }

    /// Accepts, discards INFO, sends a non-verbose CONNECT.
    fn connected(sh: &Shared, connect: &str) -> Client {
        let mut c = Client::new(sh);
        c.recv();
        c.send(sh, &format!("CONNECT {connect}\r\n")).unwrap();
        c
    }

    fn send(&mut self, sh: &Shared, s: &str) -> Result<(), CloseReason> {
        self.conn.handle_read(T0, s.as_bytes(), sh)
    }

    fn recv(&mut self) -> String {
        let mut out = Vec::new();
        self.conn.handle().take(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn closed(&self) -> Option<CloseReason> {
        self.conn.st.closed
    }
}

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;
const HEADERS: &str = r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true}"#;

#[test]
fn info_on_accept_matches_go_shape() {
    let sh = shared(Options::default());
    let mut c = Client::new(&sh);
    let info = c.recv();
    assert!(info.starts_with("INFO {\"server_id\":\"NTESTSERVER\",\"server_name\":\"NTESTSERVER\",\"version\":\"2.9.10\",\"proto\":1,\"go\":"));
    assert!(info.ends_with(",\"host\":\"0.0.0.0\",\"port\":4222,\"headers\":true,\"max_payload\":1048576,\"client_id\":1,\"client_ip\":\"127.0.0.1\",\"msub\":true} \r\n"), "{info}");
    assert!(
        c.wakes.0.load(Ordering::Relaxed) > 0,
        "the writer must be woken for INFO"
    );
    let mut opts = Options::default();
    opts.auth.token = Some("t".into());
    opts.client_advertise = Some("example.com:1234".into());
    let sh = shared(opts);
    let info = Client::new(&sh).recv();
    assert!(
        info.contains(
            "\"host\":\"example.com\",\"port\":1234,\"headers\":true,\"auth_required\":true,"
        ),
        "{info}"
    );
}

#[test]
fn defaults_before_connect_are_verbose() {
    let sh = shared(Options::default());
    let mut c = Client::new(&sh);
    c.recv();
    c.send(&sh, "PING\r\nPUB foo 1\r\nx\r\nSUB foo 1\r\n")
        .unwrap();
    assert_eq!(c.recv(), "PONG\r\n+OK\r\n+OK\r\n");
    c.send(&sh, "CONNECT {}\r\n").unwrap();
    assert_eq!(c.recv(), "+OK\r\n");
}

#[test]
fn pub_sub_basic_and_wildcards() {
    let sh = shared(Options::default());
    let mut s = Client::connected(&sh, QUIET);
    s.send(
        &sh,
        "SUB foo.* 1\r\nSUB foo.> 2\r\nSUB foo.bar q 3\r\nSUB bar 4\r\n",
    )
    .unwrap();
    let mut p = Client::connected(&sh, QUIET);
    p.send(&sh, "PUB foo.bar reply 5\r\nhello\r\nPUB nobody 0\r\n\r\n")
        .unwrap();
    let got = s.recv();
    assert_eq!(
        got,
        // `>` matches are collected before `*` ones, as in the Go server.
        "MSG foo.bar 2 reply 5\r\nhello\r\nMSG foo.bar 1 reply 5\r\nhello\r\nMSG foo.bar 3 reply 5\r\nhello\r\n"
    );
    assert_eq!(p.recv(), "");
    assert_eq!(sh.stats.in_msgs.load(Ordering::Relaxed), 2);
    assert_eq!(sh.stats.out_msgs.load(Ordering::Relaxed), 3);
    assert_eq!(s.conn.handle().out_stats(), (3, 15));
}

#[test]
fn unknown_op_closes_with_err() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, QUIET);
    assert_eq!(
        c.send(&sh, "FOO bar\r\n"),
        Err(CloseReason::ProtocolViolation)
    );
    assert_eq!(c.recv(), "-ERR 'Unknown Protocol Operation'\r\n");
    assert_eq!(
        c.conn.handle().close_reason(),
        Some(CloseReason::ProtocolViolation)
    );
    assert_eq!(sh.num_clients(), 0);
    assert_eq!(
        sh.closed_clients()[0].reason,
        CloseReason::ProtocolViolation
    );
    // MSG is a server op: unknown from a client.
    let mut c = Client::connected(&sh, QUIET);
    assert!(c.send(&sh, "MSG foo 1 0\r\n\r\n").is_err());
    assert_eq!(c.recv(), "-ERR 'Unknown Protocol Operation'\r\n");
}

#[test]
fn argument_errors_close_without_err() {
    for bad in [
        "SUB foo\r\n",
        "SUB a b c d\r\n",
        "PUB foo\r\n",
        "PUB foo abc\r\n",
        "PUB foo -1\r\n",
        "HPUB foo 1 2\r\n",
        "CONNECT {bad json\r\n",
        "-ERR 'x'\r\n",
    ] {
        let sh = shared(Options::default());
        let mut c = Client::connected(&sh, QUIET);
        assert!(c.send(&sh, bad).is_err(), "{bad:?}");
        assert_eq!(c.recv(), "", "{bad:?}");
        assert!(c.closed().is_some());
    }
}

#[test]
fn invalid_subject_keeps_connection() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, r#"{"verbose":true}"#);
    c.recv();
    c.send(&sh, "SUB foo..bar 1\r\nSUB foo.>.x 2\r\nPING\r\n")
        .unwrap();
    assert_eq!(
        c.recv(),
        "-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\nPONG\r\n"
    );
    assert_eq!(c.conn.num_subscriptions(), 0);
}

#[test]
fn pedantic_publish_subject_still_delivers() {
    let sh = shared(Options::default());
    let mut s = Client::connected(&sh, QUIET);
    s.send(&sh, "SUB foo.> 1\r\n").unwrap();
    let mut p = Client::connected(&sh, r#"{"verbose":true,"pedantic":true}"#);
    p.recv();
    p.send(&sh, "PUB foo.* 1\r\nx\r\n").unwrap();
    assert_eq!(p.recv(), "-ERR 'Invalid Publish Subject'\r\n+OK\r\n");
    assert_eq!(s.recv(), "MSG foo.* 1 1\r\nx\r\n");
    // Not pedantic: no error.
    let mut q = Client::connected(&sh, QUIET);
    q.send(&sh, "PUB foo.* 1\r\nx\r\n").unwrap();
    assert_eq!(q.recv(), "");
}

#[test]
fn max_payload_violation() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, QUIET);
    assert_eq!(
        c.send(&sh, "PUB foo 2000000\r\n"),
        Err(CloseReason::MaxPayloadExceeded)
    );
    assert_eq!(c.recv(), "-ERR 'Maximum Payload Violation'\r\n");
}

#[test]
fn max_control_line_violation() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, QUIET);
    let line = format!("PUB {} 1\r\n", "a".repeat(5000));
    assert_eq!(c.send(&sh, &line), Err(CloseReason::MaxControlLineExceeded));
    assert_eq!(c.recv(), "-ERR 'maximum control line exceeded'\r\n");
}

fn auth_opts(f: impl FnOnce(&mut Options)) -> Shared {
    let mut o = Options::default();
    f(&mut o);
    shared(o)
}

#[test]
fn op_before_connect_with_auth_is_a_violation() {
    let sh = auth_opts(|o| o.auth.token = Some("secret".into()));
    let mut c = Client::new(&sh);
    c.recv();
    assert_eq!(
        c.send(&sh, "PING\r\n"),
        Err(CloseReason::AuthenticationViolation)
    );
    assert_eq!(c.recv(), "-ERR 'Authorization Violation'\r\n");
}

#[test]
fn token_auth() {
    let sh = auth_opts(|o| o.auth.token = Some("secret".into()));
    let mut c = Client::new(&sh);
    c.recv();
    c.send(&sh, "CONNECT {\"auth_token\":\"secret\"}\r\nPING\r\n")
        .unwrap();
    assert_eq!(c.recv(), "+OK\r\nPONG\r\n");
    let mut c = Client::new(&sh);
    c.recv();
    assert!(c
        .send(&sh, "CONNECT {\"auth_token\":\"nope\"}\r\nPING\r\n")
        .is_err());
    assert_eq!(c.recv(), "-ERR 'Authorization Violation'\r\n");
    assert_eq!(
        sh.closed_clients().last().unwrap().reason,
        CloseReason::AuthenticationViolation
    );
}

#[test]
fn user_password_plain_and_bcrypt() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let sh = auth_opts(|o| {
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
        ]
    });
    for (user, pass, ok) in [
        ("plain", "pw", true),
        ("hashed", "pw", true),
        ("hashed", "no", false),
        ("who", "pw", false),
    ] {
        let mut c = Client::new(&sh);
        c.recv();
        let r = c.send(
            &sh,
            &format!(
                "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\nPING\r\n"
            ),
        );
        assert_eq!(r.is_ok(), ok, "{user}/{pass}");
        assert_eq!(
            c.recv(),
            if ok {
                "PONG\r\n"
            } else {
                "-ERR 'Authorization Violation'\r\n"
            }
        );
    }
}

#[test]
fn auth_timeout() {
    let sh = auth_opts(|o| o.auth.user = Some("u".into()));
    let mut c = Client::new(&sh);
    c.recv();
    assert_eq!(
        c.conn.poll_timeout(),
        Some(secs(2.0)),
        "auth deadline is the first timer"
    );
    c.conn.handle_timeout(secs(1.9), &sh);
    assert_eq!(c.closed(), None);
    c.conn.handle_timeout(secs(2.0), &sh);
    assert_eq!(c.recv(), "-ERR 'Authentication Timeout'\r\n");
    assert_eq!(c.closed(), Some(CloseReason::AuthenticationTimeout));
    assert_eq!(c.conn.poll_timeout(), None);
}

#[test]
fn bad_protocol_and_no_responders_without_headers() {
    let sh = shared(Options::default());
    let mut c = Client::new(&sh);
    c.recv();
    assert!(c.send(&sh, "CONNECT {\"protocol\":2}\r\n").is_err());
    assert_eq!(c.recv(), "-ERR 'invalid client protocol'\r\n");
    assert_eq!(c.closed(), Some(CloseReason::BadClientProtocolVersion));
    let mut c = Client::new(&sh);
    c.recv();
    assert!(c.send(&sh, "CONNECT {\"no_responders\":true}\r\n").is_err());
    assert_eq!(
        c.recv(),
        "-ERR 'no responders requires headers support'\r\n"
    );
    let mut c = Client::new(&sh);
    c.recv();
    assert!(c.send(&sh, "CONNECT {\"account\":\"A\"}\r\n").is_err());
    assert_eq!(c.recv(), "-ERR 'Authorization Violation'\r\n");
}

#[test]
fn max_connections() {
    let sh = auth_opts(|o| o.max_connections = 2);
    let _a = Client::new(&sh);
    let _b = Client::new(&sh);
    let mut c = Client::new(&sh);
    let out = c.recv();
    assert!(out.starts_with("INFO {"), "{out}");
    assert!(
        out.ends_with("} \r\n-ERR 'maximum connections exceeded'\r\n"),
        "{out}"
    );
    assert!(c.conn.is_closed());
    assert_eq!(
        c.conn.handle().close_reason(),
        Some(CloseReason::MaxConnectionsExceeded)
    );
}

#[test]
fn max_subscriptions() {
    let sh = auth_opts(|o| o.max_subscriptions = 2);
    let mut c = Client::connected(&sh, QUIET);
    c.send(&sh, "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n")
        .unwrap();
    assert_eq!(
        c.recv(),
        "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n"
    );
    // Freeing one makes room again.
    c.send(&sh, "UNSUB 1\r\nSUB c 3\r\nPING\r\n").unwrap();
    assert_eq!(c.recv(), "PONG\r\n");
    assert_eq!(c.conn.num_subscriptions(), 2);
}

fn perms_user(p: Permissions) -> Shared {
    auth_opts(|o| {
        o.auth.users = vec![User {
            name: "u".into(),
            password: "p".into(),
            account: None,
            permissions: Some(p),
            publish_rate: None,
            nkey: None,
        }];
    })
}

fn sp(allow: Option<&[&str]>, deny: &[&str]) -> Option<SubjectPermission> {
    Some(SubjectPermission {
        allow: allow.map(|a| a.iter().map(|s| s.to_string()).collect()),
        deny: deny.iter().map(|s| s.to_string()).collect(),
    })
}

const USER: &str = r#"{"verbose":false,"user":"u","pass":"p","headers":true}"#;

#[test]
fn permission_violations() {
    let sh = perms_user(Permissions {
        publish: sp(Some(&["ok.>"]), &["ok.secret"]),
        subscribe: sp(Some(&["ok.>", "q.only grp"]), &["ok.hidden"]),
        allow_responses: None,
    });
    let mut c = Client::connected(&sh, USER);
    c.send(&sh, "PUB nope 0\r\n\r\nPUB ok.secret 0\r\n\r\nSUB nope 1\r\nSUB q.only 2\r\nSUB q.only other 3\r\nSUB q.only grp 4\r\nSUB ok.hidden 5\r\nPING\r\n").unwrap();
    assert_eq!(
        c.recv(),
        "-ERR 'Permissions Violation for Publish to \"nope\"'\r\n\
-ERR 'Permissions Violation for Publish to \"ok.secret\"'\r\n\
-ERR 'Permissions Violation for Subscription to \"nope\"'\r\n\
-ERR 'Permissions Violation for Subscription to \"q.only\"'\r\n\
-ERR 'Permissions Violation for Subscription to \"q.only\" using queue \"other\"'\r\n\
-ERR 'Permissions Violation for Subscription to \"ok.hidden\"'\r\nPONG\r\n"
    );
    assert_eq!(
        c.closed(),
        None,
        "permission violations keep the connection"
    );
    // Subscribe deny also applies at delivery to wider wildcard subscriptions.
    c.send(
        &sh,
        "SUB ok.* 6\r\nPUB ok.hidden 1\r\nx\r\nPUB ok.fine 1\r\ny\r\n",
    )
    .unwrap();
    let got = c.recv();
    assert_eq!(
        got, "MSG ok.fine 6 1\r\ny\r\n",
        "ok.hidden is publishable but not deliverable"
    );
    let mut other = Client::connected(&sh, USER);
    other.send(&sh, "PUB ok.hidden 1\r\nz\r\n").unwrap();
    assert_eq!(c.recv(), "", "denied subject delivered through a wildcard");
}

#[test]
fn allow_responses() {
    let sh = auth_opts(|o| {
        o.auth.users = vec![
            User {
                name: "u".into(),
                password: "p".into(),
                account: None,
                permissions: Some(Permissions {
                    allow_responses: Some(ResponsePermission {
                        max: 1,
                        expires: Duration::from_secs(60),
                    }),
                    ..Default::default()
                }),
                publish_rate: None,
                nkey: None,
            },
            User {
                name: "r".into(),
                password: "p".into(),
                account: None,
                permissions: None,
                publish_rate: None,
                nkey: None,
            },
        ]
    });
    let mut svc = Client::connected(&sh, USER);
    svc.send(&sh, "SUB req 1\r\n").unwrap();
    let mut req = Client::connected(&sh, r#"{"verbose":false,"user":"r","pass":"p"}"#);
    req.send(&sh, "SUB _INBOX.1 1\r\nPUB req _INBOX.1 2\r\nhi\r\n")
        .unwrap();
    assert_eq!(svc.recv(), "MSG req 1 _INBOX.1 2\r\nhi\r\n");
    svc.send(
        &sh,
        "PUB _INBOX.1 2\r\nok\r\nPUB _INBOX.1 2\r\nno\r\nPUB _INBOX.2 0\r\n\r\nPUB req 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        svc.recv(),
        "-ERR 'Permissions Violation for Publish to \"_INBOX.1\"'\r\n\
-ERR 'Permissions Violation for Publish to \"_INBOX.2\"'\r\n\
-ERR 'Permissions Violation for Publish to \"req\"'\r\n",
        "one reply allowed, then refused; other subjects refused"
    );
    assert_eq!(req.recv(), "MSG _INBOX.1 1 2\r\nok\r\n");
}

#[test]
fn keepalive_pings_and_stale_connection() {
    let sh = auth_opts(|o| {
        o.ping_interval = Duration::from_secs(10);
        o.ping_max = 2;
    });
    let mut c = Client::connected(&sh, QUIET);
    let first = c.conn.poll_timeout().unwrap();
    assert!(
        first >= secs(2.0) && first <= secs(2.4),
        "first PING early with jitter: {first:?}"
    );
    c.conn.handle_timeout(first, &sh);
    // Active at T0 but the interval since is under 10s: connected clients have an RTT, so
    // the PING is skipped while they were recently active.
    assert_eq!(c.recv(), "");
    let t = c.conn.poll_timeout().unwrap();
    c.conn.handle_timeout(t, &sh);
    assert_eq!(c.recv(), "PING\r\n");
    let t = c.conn.poll_timeout().unwrap();
    c.conn.handle_timeout(t, &sh);
    assert_eq!(c.recv(), "PING\r\n");
    let t = c.conn.poll_timeout().unwrap();
    c.conn.handle_timeout(t, &sh);
    assert_eq!(c.recv(), "-ERR 'Stale Connection'\r\n");
    assert_eq!(c.closed(), Some(CloseReason::StaleConnection));
}

#[test]
fn pong_resets_outstanding_pings() {
    let sh = auth_opts(|o| {
        o.ping_interval = Duration::from_secs(1);
        o.ping_max = 1;
    });
    let mut c = Client::new(&sh);
    c.recv();
    for _ in 0..5 {
        let t = c.conn.poll_timeout().unwrap();
        c.conn.handle_timeout(t, &sh);
        assert_eq!(c.recv(), "PING\r\n");
        c.conn.handle_read(t, b"PONG\r\n", &sh).unwrap();
    }
    assert_eq!(c.closed(), None);
}

#[test]
fn echo_off() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, r#"{"verbose":false,"echo":false}"#);
    c.send(&sh, "SUB foo 1\r\nPUB foo 1\r\nx\r\n").unwrap();
    assert_eq!(c.recv(), "");
    let mut e = Client::connected(&sh, QUIET);
    e.send(&sh, "SUB foo 1\r\nPUB foo 1\r\nx\r\n").unwrap();
    assert_eq!(e.recv(), "MSG foo 1 1\r\nx\r\n");
    assert_eq!(c.recv(), "MSG foo 1 1\r\nx\r\n", "others still get it");
}

#[test]
fn headers_hmsg_and_stripping() {
    let sh = shared(Options::default());
    let mut h = Client::connected(&sh, HEADERS);
    let mut plain = Client::connected(&sh, QUIET);
    h.send(&sh, "SUB h 1\r\n").unwrap();
    plain.send(&sh, "SUB h 2\r\n").unwrap();
    h.send(&sh, "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        .unwrap();
    assert_eq!(h.recv(), "HMSG h 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(plain.recv(), "MSG h 2 2\r\nhi\r\n");
    assert!(
        plain
            .send(&sh, "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
            .is_err(),
        "HPUB needs headers:true"
    );
    assert_eq!(plain.recv(), "");
}

#[test]
fn no_responders() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, HEADERS);
    c.send(&sh, "SUB inbox 9\r\nPUB nobody inbox 0\r\n\r\n")
        .unwrap();
    assert_eq!(c.recv(), "HMSG inbox 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
    // With a responder, no 503.
    let mut r = Client::connected(&sh, QUIET);
    r.send(&sh, "SUB somebody 1\r\n").unwrap();
    c.send(&sh, "PUB somebody inbox 0\r\n\r\n").unwrap();
    assert_eq!(c.recv(), "");
    assert_eq!(r.recv(), "MSG somebody 1 inbox 0\r\n\r\n");
}

#[test]
fn auto_unsubscribe() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, QUIET);
    c.send(
        &sh,
        "SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\n",
    )
    .unwrap();
    assert_eq!(c.recv(), "MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\n");
    assert_eq!(
        sh.global_account().num_subscriptions(),
        crate::imports::SYSTEM_IMPORTS,
        "exhausted sub removed"
    );
    // Max already reached: unsubscribe at once.
    c.send(
        &sh,
        "SUB bar 2\r\nPUB bar 1\r\na\r\nUNSUB 2 1\r\nPUB bar 1\r\nb\r\n",
    )
    .unwrap();
    assert_eq!(c.recv(), "MSG bar 2 1\r\na\r\n");
    assert_eq!(
        sh.global_account().num_subscriptions(),
        crate::imports::SYSTEM_IMPORTS
    );
    // UNSUB of an unknown sid is fine.
    c.send(&sh, "UNSUB 99\r\nPING\r\n").unwrap();
    assert_eq!(c.recv(), "PONG\r\n");
}

#[test]
fn duplicate_sid_is_ignored() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, QUIET);
    c.send(
        &sh,
        "SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\n",
    )
    .unwrap();
    assert_eq!(c.recv(), "MSG foo 1 1\r\ny\r\n");
}

#[test]
fn three_arg_sub_is_a_queue() {
    let sh = shared(Options::default());
    let mut c = Client::connected(&sh, QUIET);
    c.send(&sh, "SUB foo 1 5\r\nPUB foo 1\r\nx\r\n").unwrap();
    assert_eq!(c.recv(), "MSG foo 5 1\r\nx\r\n");
}

#[test]
fn queue_group_delivers_once_and_spreads() {
    let sh = shared(Options::default());
    let mut members: Vec<Client> = (0..4).map(|_| Client::connected(&sh, QUIET)).collect();
    for m in &mut members {
        m.send(&sh, "SUB work grp 1\r\n").unwrap();
    }
    let mut p = Client::connected(&sh, QUIET);
    for _ in 0..400 {
        p.send(&sh, "PUB work 1\r\nx\r\n").unwrap();
    }
    let counts: Vec<usize> = members
        .iter_mut()
        .map(|m| m.recv().matches("MSG").count())
        .collect();
    assert_eq!(
        counts.iter().sum::<usize>(),
        400,
        "exactly one delivery per message"
    );
    assert!(counts.iter().all(|&c| c > 50), "random spread: {counts:?}");
}

#[test]
fn slow_consumer_is_closed_alone() {
    let sh = auth_opts(|o| o.max_pending = 4096);
    let mut slow = Client::connected(&sh, QUIET);
    let mut fast = Client::connected(&sh, QUIET);
    slow.send(&sh, "SUB data 1\r\n").unwrap();
    fast.send(&sh, "SUB data 1\r\n").unwrap();
    let mut p = Client::connected(&sh, QUIET);
    let payload = "x".repeat(100);
    let mut fast_got = 0;
    for _ in 0..200 {
        p.send(&sh, &format!("PUB data 100\r\n{payload}\r\n"))
            .unwrap();
        fast_got += fast.recv().matches("MSG").count();
    }
    assert_eq!(fast_got, 200, "the fast consumer got everything");
    assert_eq!(
        slow.conn.handle().close_reason(),
        Some(CloseReason::SlowConsumerPendingBytes)
    );
    // Go's line: at INF, under the slow client's own address and cid, with the limit.
    let events: Vec<ConnEvent> = std::iter::from_fn(|| p.conn.poll_event()).collect();
    let want = format!(
        "127.0.0.1:5555 - cid:{} - Slow Consumer Detected: MaxPending of 4096 Exceeded",
        slow.conn.cid()
    );
    assert!(
        events.contains(&ConnEvent::Log(LogLevel::Info, want)),
        "{events:?}"
    );
    slow.conn.handle_close(T0, &sh, CloseReason::ClientClosed);
    assert_eq!(
        sh.closed_clients().last().unwrap().reason,
        CloseReason::SlowConsumerPendingBytes
    );
    assert_eq!(sh.stats.slow_consumers.load(Ordering::Relaxed), 1);
    assert_eq!(p.closed(), None);
}

#[test]
fn close_removes_subscriptions_and_records_history() {
    let sh = shared(Options::default());
    let mut c = Client::connected(
        &sh,
        r#"{"verbose":false,"name":"app","lang":"rust","version":"1.0"}"#,
    );
    c.send(&sh, "SUB a 1\r\nSUB b 2\r\nPUB a 1\r\nx\r\n")
        .unwrap();
    assert_eq!(
        sh.global_account().num_subscriptions(),
        2 + crate::imports::SYSTEM_IMPORTS
    );
    c.conn
        .handle_close(secs(5.0), &sh, CloseReason::ClientClosed);
    c.conn.handle_close(secs(6.0), &sh, CloseReason::ReadError);
    assert_eq!(
        sh.global_account().num_subscriptions(),
        crate::imports::SYSTEM_IMPORTS
    );
    let closed = sh.closed_clients();
    assert_eq!(closed.len(), 1, "close is idempotent");
    let cc = &closed[0];
    assert_eq!(
        (
            cc.reason,
            cc.in_msgs,
            cc.in_bytes,
            cc.out_msgs,
            cc.subs.len() as u64
        ),
        (CloseReason::ClientClosed, 1, 1, 1, 2)
    );
    assert_eq!(
        (cc.info.name.as_str(), cc.info.lang.as_str(), cc.stop),
        ("app", "rust", secs(5.0))
    );
    assert!(matches!(
        c.conn.poll_event(),
        Some(ConnEvent::Log(..)) | Some(ConnEvent::Closed(_))
    ));
}

#[test]
fn closed_history_is_bounded() {
    let sh = auth_opts(|o| o.max_closed_clients = 3);
    for _ in 0..10 {
        let mut c = Client::connected(&sh, QUIET);
        c.conn.handle_close(T0, &sh, CloseReason::ClientClosed);
    }
    assert_eq!(sh.closed_clients().len(), 3);
    assert_eq!(sh.closed_clients()[0].cid, 8);
}

#[test]
fn byte_at_a_time_input() {
    let sh = shared(Options::default());
    let mut s = Client::connected(&sh, QUIET);
    s.send(&sh, "SUB foo 1\r\n").unwrap();
    let mut p = Client::connected(&sh, QUIET);
    for b in "PUB foo 5\r\nhello\r\nPING\r\n".bytes() {
        p.conn.handle_read(T0, &[b], &sh).unwrap();
    }
    assert_eq!(p.recv(), "PONG\r\n");
    assert_eq!(s.recv(), "MSG foo 1 5\r\nhello\r\n");
}

#[test]
fn wakeups_are_batched() {
    let sh = shared(Options::default());
    let mut s = Client::connected(&sh, QUIET);
    s.send(&sh, "SUB foo 1\r\n").unwrap();
    s.recv();
    let before = s.wakes.0.load(Ordering::Relaxed);
    let mut p = Client::connected(&sh, QUIET);
    p.send(&sh, &"PUB foo 1\r\nx\r\n".repeat(100)).unwrap();
    assert_eq!(
        s.wakes.0.load(Ordering::Relaxed),
        before + 1,
        "one wake-up per read batch"
    );
    assert_eq!(s.recv().matches("MSG").count(), 100);
}

#[path = "reload_tests.rs"]
mod reload_tests;

#[test]
fn lame_duck_info_goes_to_clients_that_take_async_info() {
    let sh = shared(Options::default());
    // Protocol 1, CONNECT and a PING done: takes async INFO.
    let mut modern = Client::connected(&sh, r#"{"verbose":false,"protocol":1}"#);
    modern.send(&sh, "PING\r\n").unwrap();
    modern.recv();
    // Protocol 0, or no PING yet: does not.
    let mut old = Client::connected(&sh, r#"{"verbose":false}"#);
    old.send(&sh, "PING\r\n").unwrap();
    old.recv();
    let mut fresh = Client::connected(&sh, r#"{"verbose":false,"protocol":1}"#);
    assert_eq!(sh.enter_lame_duck(), 1);
    let info = modern.recv();
    assert!(
        info.starts_with("INFO {\"server_id\":\"NTESTSERVER\""),
        "{info}"
    );
    assert!(
        info.ends_with(
            ",\"client_id\":1,\"client_ip\":\"127.0.0.1\",\"ldm\":true,\"msub\":true} \r\n"
        ),
        "{info}"
    );
    assert_eq!(old.recv(), "");
    assert_eq!(fresh.recv(), "");
}

#[test]
fn protocol_trace_when_enabled() {
    let sh = auth_opts(|o| o.trace = true);
    let mut s = Client::connected(&sh, QUIET);
    s.send(&sh, "SUB foo 1\r\n").unwrap();
    let mut p = Client::connected(&sh, r#"{"verbose":true}"#);
    p.send(&sh, "PUB foo 5\r\nhello\r\nPING\r\n").unwrap();
    let lines: Vec<String> = std::iter::from_fn(|| p.conn.poll_event())
        .filter_map(|e| match e {
            ConnEvent::Log(LogLevel::Trace, m) => Some(m),
            _ => None,
        })
        .collect();
    let cid = p.conn.cid();
    let sub_cid = s.conn.cid();
    let want = [
        format!("127.0.0.1:5555 - cid:{cid} - <<- [PUB foo 5]"),
        format!("127.0.0.1:5555 - cid:{cid} - <<- MSG_PAYLOAD: [\"hello\"]"),
        format!("127.0.0.1:5555 - cid:{cid} - ->> [OK]"),
        format!("127.0.0.1:5555 - cid:{sub_cid} - ->> [MSG foo 1 5]"),
        format!("127.0.0.1:5555 - cid:{cid} - <<- [PING]"),
        format!("127.0.0.1:5555 - cid:{cid} - ->> [PONG]"),
    ];
    for w in &want {
        assert!(lines.contains(w), "missing {w:?} in {lines:#?}");
    }
    // Off by default: no trace events at all.
    let sh = shared(Options::default());
    let mut q = Client::connected(&sh, QUIET);
    q.send(&sh, "PING\r\n").unwrap();
    assert!(std::iter::from_fn(|| q.conn.poll_event())
        .all(|e| !matches!(e, ConnEvent::Log(LogLevel::Trace, _))));
}

/// Found by the simulator (plain seed 13 with deny lists and limits): a message the
/// subscriber's deny list filters must not count against its `UNSUB sid max`; Go checks the
/// deny list before counting (`deliverMsg`: `checkDenySub` before `sub.nm++`).
#[test]
fn denied_messages_do_not_use_up_a_limit() {
    let sh = perms_user(Permissions {
        subscribe: sp(None, &["*.b"]),
        ..Permissions::default()
    });
    let mut sub = Client::connected(&sh, USER);
    sub.send(&sh, "SUB b.> 1\r\nUNSUB 1 2\r\n").unwrap();
    let mut p = Client::connected(&sh, USER);
    // The denied one arrives when a single delivery is left: counting it would be the last.
    p.send(
        &sh,
        "PUB b.c 1\r\ny\r\nPUB b.b 1\r\nx\r\nPUB b.d 1\r\nz\r\nPUB b.e 1\r\nw\r\n",
    )
    .unwrap();
    assert_eq!(
        sub.recv(),
        "MSG b.c 1 1\r\ny\r\nMSG b.d 1 1\r\nz\r\n",
        "b.b is denied and uncounted; b.e is past the limit"
    );
}

#[test]
fn connect_json_is_read_as_go_reads_it() {
    // A repeated key keeps its last value; invalid UTF-8 in a string is replaced (Go's
    // encoding/json); both used to close the connection.
    let sh = shared(Options::default());
    let mut c = Client::new(&sh);
    c.recv();
    c.send(
        &sh,
        "CONNECT {\"verbose\":true,\"verbose\":false}\r\nPING\r\n",
    )
    .unwrap();
    assert_eq!(c.recv(), "PONG\r\n");
    let mut c = Client::new(&sh);
    c.recv();
    let mut bad = b"CONNECT {\"verbose\":false,\"name\":\"a".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(b"\"}\r\nPING\r\n");
    c.conn.handle_read(T0, &bad, &sh).unwrap();
    assert_eq!(c.recv(), "PONG\r\n");
}

/// Every connection holds one `Connection` for its life, so its size is most of what an
/// idle client costs (goal 4 of issue 19: 4 KB per idle connection on either runtime).
/// Cold state (an auth request in flight, credentials given, rate limits, a refused
/// line) is boxed; this fails when a field makes it grow back (it was 2,048 bytes).
#[test]
fn a_connection_stays_small() {
    let size = std::mem::size_of::<Connection>();
    assert!(size <= 1152, "Connection is {size} bytes");
}
