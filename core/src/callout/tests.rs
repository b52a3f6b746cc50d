//! The callout through real connections, deterministic: a service connection in the
//! callout account answers the request it receives; each of Go's refusals (captured from
//! Go 2.15.1, docs/go-behaviour/auth-callout.md) with its text, and the acceptance.

use std::sync::Arc;

use nkeys::{KeyPair, KeyPairType};
use serde_json::{json, Value};

use crate::auth::User;
use crate::client::Notify;
use crate::conn::{ConnEvent, Connection, LogLevel};
use crate::options::{AccountOptions, Options};
use crate::shared::Shared;
use crate::Time;

const T0: Time = Time::from_nanos(1_000_000_000);

struct Nop;
impl Notify for Nop {
    fn notify(&self) {}
}

fn issuer() -> KeyPair {
    KeyPair::new_from_raw(KeyPairType::Account, [7; 32]).unwrap()
}

fn server() -> Shared {
    server_with(|_| {})
}

fn server_with(f: impl FnOnce(&mut Options)) -> Shared {
    let mut o = Options::default();
    for name in ["AUTH", "APP"] {
        o.accounts.push(AccountOptions {
            name: name.into(),
            exports: Vec::new(),
            imports: Vec::new(),
            limits: Default::default(),
            publish_rate: None,
            mappings: Vec::new(),
        });
    }
    o.auth.users = vec![User {
        name: "auth".into(),
        password: "pwd".into(),
        account: Some("AUTH".into()),
        ..User::default()
    }];
    o.auth.callout = Some(super::CalloutOptions {
        issuer: issuer().public_key(),
        account: "AUTH".into(),
        auth_users: vec!["auth".into()],
        ..Default::default()
    });
    f(&mut o);
    // The server id is its key's public key, as the runtimes make it.
    let key = KeyPair::new_from_raw(KeyPairType::Server, [5; 32]).unwrap();
    let sh = Shared::new(o, key.public_key(), T0);
    sh.set_server_key(key);
    sh
}

fn take(c: &Connection) -> String {
    let mut out = Vec::new();
    c.handle().take(&mut out);
    String::from_utf8(out).unwrap()
}

/// The service: the `auth` user, subscribed to the callout subject.
fn service(sh: &Shared) -> Connection {
    let mut s = Connection::accept(sh, T0, None, Arc::new(Nop));
    let _ = take(&s);
    s.handle_read(
        T0,
        b"CONNECT {\"verbose\":false,\"user\":\"auth\",\"pass\":\"pwd\"}\r\nSUB $SYS.REQ.USER.AUTH 1\r\nSUB $SYS.ACCOUNT.CLIENT.AUTH.ERR 2\r\nPING\r\n",
        sh,
    )
    .unwrap();
    assert_eq!(take(&s), "PONG\r\n", "the auth user bypasses the callout");
    s
}

/// A client that connects as `user`, then publishes on `no` and pings; the callout
/// answered by `answer(request claims) -> response claims` (`None`: silence). Returns what
/// the client got and the server's warnings.
fn run(user: &str, answer: impl Fn(&Value, &str) -> Option<Value>) -> (String, Vec<String>) {
    let (got, warnings, _) = run_counted(user, answer);
    (got, warnings)
}

/// [`run`], with the callout's counters after it: requests, accepts, rejects, timeouts.
fn run_counted(
    user: &str,
    answer: impl Fn(&Value, &str) -> Option<Value>,
) -> (String, Vec<String>, [u64; 4]) {
    let sh = server();
    let mut svc = service(&sh);
    let mut c = Connection::accept(&sh, T0, None, Arc::new(Nop));
    let _ = take(&c);
    let line = format!(
        "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"x\"}}\r\nPUB no 0\r\n\r\nPING\r\n"
    );
    let used = c.handle_read_paced(T0, line.as_bytes(), &sh).unwrap();
    let req = c.poll_auth_request().expect("the callout decides");
    assert!(req.needs_callout());
    let pending = super::begin(&sh, &req, T0).unwrap();
    let got = take(&svc);
    let (head, rest) = got.split_once("\r\n").unwrap();
    let reply = head.split(' ').nth(3).unwrap().to_string();
    let token = rest.trim_end();
    let jwt = crate::jwt::decode(token).expect("the request is signed by the server key");
    let claims: Value = serde_json::from_str(&jwt.payload).unwrap();
    let server_id = sh.server_key().unwrap().public_key();
    assert_eq!(claims["iss"], server_id.as_str());
    assert_eq!(claims["aud"], "nats-authorization-request");
    if let Some(resp) = answer(&claims, &server_id) {
        let payload = match resp {
            Value::String(s) => s,
            v => crate::jwt::encode(&v, &issuer()).unwrap(),
        };
        let publish = format!("PUB {reply} {}\r\n{payload}\r\n", payload.len());
        svc.handle_read(T0, publish.as_bytes(), &sh).unwrap();
    }
    let reply = pending.replies().try_recv().ok();
    let decision = super::finish(&sh, &req, &pending, reply, T0);
    c.handle_auth_decision(T0, decision, &sh);
    let _ = c.handle_read_paced(T0, &line.as_bytes()[used..], &sh);
    let mut warnings = Vec::new();
    while let Some(e) = c.poll_event() {
        if let ConnEvent::Log(LogLevel::Warn, m) = e {
            warnings.push(m);
        }
    }
    drop(pending);
    // The callout account hears of each refusal, with the reason (Go 2.15.1's event).
    let events = take(&svc);
    if let Some(w) = warnings.first() {
        assert!(
            events.contains("MSG $SYS.ACCOUNT.CLIENT.AUTH.ERR 2"),
            "{events}"
        );
        let reason = w.split_once(" - ").map_or(w.as_str(), |(_, r)| r);
        assert!(
            events.contains(&serde_json::to_string(reason).unwrap()),
            "{reason}: {events}"
        );
    } else {
        assert!(!events.contains("AUTH.ERR"), "{events}");
    }
    use std::sync::atomic::Ordering::Relaxed;
    let s = &sh.callouts().stats;
    let counts = [
        s.requests.load(Relaxed),
        s.accepts.load(Relaxed),
        s.rejects.load(Relaxed),
        s.timeouts.load(Relaxed),
    ];
    assert_eq!(
        sh.callouts().in_flight(),
        0,
        "a finished request leaves nothing behind"
    );
    (take(&c), warnings, counts)
}

fn user_jwt(req: &Value, aud: &str) -> String {
    let nkey = req["nats"]["user_nkey"].as_str().unwrap();
    crate::jwt::encode(
        &json!({"sub": nkey, "aud": aud, "iat": 0, "name": "alice",
                "nats": {"type": "user", "pub": {"allow": ["ok.>"]}, "sub": {}}}),
        &issuer(),
    )
    .unwrap()
}

fn response(req: &Value, server: &str, nats: Value) -> Value {
    let nkey = req["nats"]["user_nkey"].as_str().unwrap();
    let mut n = nats;
    n["type"] = json!("authorization_response");
    json!({"sub": nkey, "aud": server, "iat": 0, "nats": n})
}

const VIOLATION: &str = "-ERR 'Authorization Violation'\r\n";

#[test]
fn an_allowed_user_lands_in_its_account_with_its_permissions() {
    let (got, warnings, counts) = run_counted("alice", |req, server| {
        Some(response(req, server, json!({"jwt": user_jwt(req, "APP")})))
    });
    assert_eq!(counts, [1, 1, 0, 0]);
    let (_, _, counts) = run_counted("bob", |_, _| None);
    assert_eq!(counts, [1, 0, 0, 1], "silence is a timeout");
    let (_, _, counts) = run_counted("bob", |_, _| Some(json!("garbage")));
    assert_eq!(counts, [1, 0, 1, 0]);
    assert_eq!(
        got, "-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n",
        "{warnings:?}"
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn every_refusal_is_an_authorization_violation_with_gos_reason_logged() {
    type Answer = Box<dyn Fn(&Value, &str) -> Option<Value>>;
    let cases: Vec<(Answer, &str)> = vec![
        (
            Box::new(|req, server| Some(response(req, server, json!({"error": "bad user"})))),
            "Auth callout service returned an error: bad user",
        ),
        (Box::new(|_, _| None), "Authorization callout response not received in time on account \"AUTH\""),
        (Box::new(|_, _| Some(json!("garbage"))), "Expected 3 chunks, got 1"),
        (
            Box::new(|req, _| Some(response(req, "NOTME", json!({"jwt": user_jwt(req, "APP")})))),
            "Auth callout violation: auth callout response is not for server",
        ),
        (
            Box::new(|req, server| {
                let mut r = response(req, server, json!({"jwt": user_jwt(req, "APP")}));
                r["sub"] = json!("UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE");
                Some(r)
            }),
            "Auth callout violation: auth callout response is not for expected user",
        ),
        (
            Box::new(|req, server| {
                Some(response(req, server, json!({"jwt": user_jwt(req, "APP"), "error": "x"})))
            }),
            "Authorization response had validation errors: Only Error or Jwt can be set",
        ),
        (
            Box::new(|req, server| Some(response(req, server, json!({"jwt": user_jwt(req, "NOPE")})))),
            "No valid account \"NOPE\" for auth callout response on account \"AUTH\": account missing",
        ),
    ];
    for (answer, reason) in cases {
        let (got, warnings) = run("bob", answer);
        assert_eq!(got, VIOLATION, "{reason}");
        assert!(
            warnings.iter().any(|w| w.ends_with(reason)),
            "{reason}: {warnings:?}"
        );
    }
}

/// Ours, `fallback`: the built-in users decide the clients they know (a wrong password is
/// refused without asking), the callout only the others.
#[test]
fn with_fallback_the_callout_decides_only_unknown_clients() {
    let sh = server_with(|o| {
        o.auth.users.push(User {
            name: "carol".into(),
            password: "right".into(),
            account: Some("APP".into()),
            ..User::default()
        });
        o.auth.callout.as_mut().unwrap().fallback = true;
    });
    let connect = |user: &str, pass: &str| {
        let mut c = Connection::accept(&sh, T0, None, Arc::new(Nop));
        let _ = take(&c);
        let line = format!(
            "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\nPING\r\n"
        );
        let _ = c.handle_read_paced(T0, line.as_bytes(), &sh);
        let callout = c.poll_auth_request().is_some_and(|r| r.needs_callout());
        (callout, take(&c))
    };
    assert_eq!(connect("carol", "right"), (false, "PONG\r\n".to_string()));
    assert_eq!(
        connect("carol", "wrong"),
        (false, "-ERR 'Authorization Violation'\r\n".to_string())
    );
    assert!(
        connect("zed", "any").0,
        "an unknown client goes to the callout"
    );
    // Go's order (no fallback): the callout decides carol too.
    let go = server_with(|o| {
        o.auth.users.push(User {
            name: "carol".into(),
            password: "right".into(),
            ..User::default()
        });
    });
    let mut c = Connection::accept(&go, T0, None, Arc::new(Nop));
    let _ = c.handle_read_paced(
        T0,
        b"CONNECT {\"verbose\":false,\"user\":\"carol\",\"pass\":\"right\"}\r\n",
        &go,
    );
    assert!(c.poll_auth_request().is_some_and(|r| r.needs_callout()));
}

/// A server whose webhook (nothing listens there: the tests decide without asking) decides
/// every client, with `cache_ttl`.
fn webhook_server(cache_ttl: Option<std::time::Duration>) -> Shared {
    server_with(|o| {
        o.auth.callout = None;
        o.auth.webhook = Some(super::WebhookOptions {
            url: "http://127.0.0.1:1/".into(),
            timeout: None,
            fallback: false,
            cache_ttl,
        });
    })
}

/// The webhook's answers, decided (pure): allow with account and permissions, refusals.
#[test]
fn webhook_answers() {
    use super::webhook::decide;
    let sh = webhook_server(None);
    let mut c = Connection::accept(&sh, T0, None, Arc::new(Nop));
    let _ = c.handle_read_paced(T0, b"CONNECT {\"user\":\"x\"}\r\n", &sh);
    let req = c.poll_auth_request().expect("the webhook decides");
    assert!(req.webhook().is_some() && !req.needs_callout());
    let body: Value = serde_json::from_slice(&super::webhook::request_body(&sh, &req, 0)).unwrap();
    assert_eq!(body["connect_opts"]["user"], "x");
    assert_eq!(body["client_info"]["kind"], "Client");
    let ok = |b: &str| decide(&req, Ok((200, b.as_bytes().to_vec())));
    assert!(
        ok(r#"{"allow":true,"account":"APP","permissions":{"publish":{"allow":["a"]}}}"#)
            .is_accept()
    );
    assert!(ok(r#"{"allow":true}"#).is_accept(), "$G by default");
    for (answer, why) in [
        (
            ok(r#"{"allow":false,"reason":"no"}"#),
            "Auth webhook refused the client: no",
        ),
        (
            ok(r#"{"allow":true,"account":"NOPE"}"#),
            "Auth webhook placed the client in an unknown account \"NOPE\"",
        ),
        (
            ok("garbage"),
            "Auth webhook answer: expected value at line 1 column 1",
        ),
        (
            decide(&req, Ok((500, Vec::new()))),
            "Auth webhook answered status 500",
        ),
        (
            decide(&req, Err("timed out".into())),
            "Auth webhook: timed out",
        ),
    ] {
        assert!(!answer.is_accept());
        assert_eq!(answer.reason(), Some(why));
    }
}

/// The decision cache (ours, `cache_ttl`): an acceptance is reused for the same
/// credentials from the same address until its TTL, its own expiry or a reload; never for
/// other credentials, a refusal, or a client that signed the nonce.
#[test]
fn cached_acceptances_are_reused_only_while_they_hold() {
    use super::cache::{cached, remember};
    use crate::auth::Authorized;
    use crate::conn::AuthDecision;
    use std::time::Duration;
    let sh = webhook_server(Some(Duration::from_secs(10)));
    let request = |connect: &str| {
        let addr = "10.0.0.1:4000".parse().ok();
        let mut c = Connection::accept(&sh, T0, addr, Arc::new(Nop));
        let line = format!("CONNECT {connect}\r\n");
        let _ = c.handle_read_paced(T0, line.as_bytes(), &sh);
        c.poll_auth_request().expect("the webhook decides")
    };
    let accept = |expires: Option<i64>| {
        AuthDecision::accept(Authorized {
            user: Some("alice".into()),
            account: Some("APP".into()),
            expires,
            ..Authorized::default()
        })
    };
    let alice = request(r#"{"user":"alice","pass":"a"}"#);
    assert!(cached(&sh, &alice, T0).is_none(), "empty at first");
    remember(&sh, &alice, &accept(None), T0);
    let again = request(r#"{"user":"alice","pass":"a"}"#);
    let hit = cached(&sh, &again, T0 + Duration::from_secs(9)).expect("reused within the TTL");
    assert_eq!(hit.accepted().unwrap().account.as_deref(), Some("APP"));
    assert!(cached(&sh, &request(r#"{"user":"alice","pass":"b"}"#), T0).is_none());
    assert!(
        cached(&sh, &again, T0 + Duration::from_secs(10)).is_none(),
        "gone at the TTL"
    );
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(sh.callouts().stats.cache_hits.load(Relaxed), 1);

    // Refusals are not kept; nor a signed CONNECT.
    let bob = request(r#"{"user":"bob","pass":"b"}"#);
    remember(&sh, &bob, &AuthDecision::reject(), T0);
    assert!(cached(&sh, &bob, T0).is_none());
    let signed = request(r#"{"nkey":"UAAA","sig":"x"}"#);
    remember(&sh, &signed, &accept(None), T0);
    assert!(cached(&sh, &signed, T0).is_none());

    // A decision that expires (a JWT's exp) ends there, whatever the TTL.
    let carl = request(r#"{"user":"carl","pass":"c"}"#);
    let wall = crate::events::wall_secs(&sh, T0);
    remember(&sh, &carl, &accept(Some(wall + 2)), T0);
    assert!(cached(&sh, &carl, T0 + Duration::from_secs(1)).is_some());
    assert!(cached(&sh, &carl, T0 + Duration::from_secs(3)).is_none());

    // A reload forgets everything decided before it.
    remember(&sh, &alice, &accept(None), T0);
    assert!(cached(&sh, &alice, T0).is_some());
    sh.apply_reload(&sh.opts());
    assert!(
        cached(&sh, &alice, T0).is_none(),
        "decided under other options"
    );
}
