//! The auth callout, black-box: one callout service written here (the official Rust client
//! and nkeys library; JWTs made and read with our `natsd_core::jwt`, checked against Go's
//! by this very test) runs unchanged against ours (both runtimes) and Go 2.15.1. Users:
//! `alice` is allowed into account APP with publish permissions on `ok.>`, `bob` is
//! denied with a reason, `carl` gets no answer (the timeout), and the service's own user
//! bypasses the callout.
//!
//! INTEROP: compared with Go 2.15.1 (`NATS_GO215_SERVER`; Go 2.9.10 has no auth callout);
//! a missing one prints SKIPPED, or fails under `NATSD_REQUIRE_GO=1` (set by `.ci/run`).

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use launch::io::{info_line, ping, servers};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nkeys::KeyPair;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

/// A missing Go server: SKIPPED on stderr and in the README test command's summary.
fn skip(what: &str) {
    common::report_skip(what);
}

fn conf(issuer: &str, xkey: Option<&str>) -> String {
    let xkey = xkey.map(|x| format!("    xkey: {x}\n")).unwrap_or_default();
    format!(
        r#"
accounts {{
  AUTH {{ users: [ {{user: auth, password: pwd}} ] }}
  APP {{}}
  SYS {{}}
}}
system_account: SYS
authorization {{
  timeout: 2
  auth_callout {{
    issuer: {issuer}
    auth_users: [ auth ]
    account: AUTH
{xkey}  }}
}}
"#
    )
}

/// The callout service: answers every request on `$SYS.REQ.USER.AUTH` by the user name
/// the client gave. Returns what it saw of each request's claims (for checks).
async fn service(
    port: u16,
    issuer: KeyPair,
    xkey: Option<nkeys::XKey>,
    seen: tokio::sync::mpsc::UnboundedSender<Value>,
) -> async_nats::Client {
    let client = async_nats::ConnectOptions::with_user_and_password("auth".into(), "pwd".into())
        .connect(format!("127.0.0.1:{port}"))
        .await
        .expect("the service connects (it is an auth user)");
    launch::callout::serve(&client, xkey, seen, move |claims| {
        let nats = &claims["nats"];
        let user_nkey = nats["user_nkey"].as_str().unwrap().to_string();
        let server_id = nats["server_id"]["id"].as_str().unwrap().to_string();
        let answer = match nats["connect_opts"]["user"].as_str().unwrap_or_default() {
            "alice" => {
                let user_jwt = natsd_core::jwt::encode(
                    &json!({"sub": user_nkey, "aud": "APP", "iat": launch::io::unix_now(), "name": "alice",
                            "nats": {"type": "user", "pub": {"allow": ["ok.>"]}, "sub": {}}}),
                    &issuer,
                )
                .unwrap();
                json!({"sub": user_nkey, "aud": server_id, "iat": launch::io::unix_now(),
                       "nats": {"type": "authorization_response", "jwt": user_jwt}})
            }
            "bob" => json!({"sub": user_nkey, "aud": server_id, "iat": launch::io::unix_now(),
                            "nats": {"type": "authorization_response", "error": "bad user"}}),
            _ => return None,
        };
        Some(natsd_core::jwt::encode(&answer, &issuer).unwrap())
    })
    .await;
    client
}

/// A raw client: INFO, `CONNECT` as `user`, then `ops` and PING; everything until PONG or
/// the close (at most 5 s).
async fn raw(port: u16, user: &str, ops: &str) -> String {
    raw_with(port, user, "x", ops).await
}

/// [`raw`] with a password.
async fn raw_with(port: u16, user: &str, pass: &str, ops: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    info_line(&mut s).await;
    let connect =
        format!("CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n{ops}");
    ping(&mut s, &connect).await
}

#[tokio::test]
async fn one_callout_service_on_ours_and_go() {
    callout_on_ours_and_go("one_callout_service_on_ours_and_go", false).await;
}

/// The same with `xkey`: requests sealed to the service, answers sealed back.
#[tokio::test]
async fn sealed_callout_on_ours_and_go() {
    callout_on_ours_and_go("sealed_callout_on_ours_and_go", true).await;
}

async fn callout_on_ours_and_go(what: &str, sealed: bool) {
    let issuer = KeyPair::new_account();
    let xkey = sealed.then(nkeys::XKey::new);
    let conf = conf(
        &issuer.public_key(),
        xkey.as_ref().map(|x| x.public_key()).as_deref(),
    );
    // Go 2.9.10 has no auth callout.
    let servers = servers(BIN, what, true, skip);
    for (label, mut cmd) in servers {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "callout", &conf).await;
        let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let seed = issuer.seed().unwrap();
        let svc_xkey = xkey
            .as_ref()
            .map(|x| nkeys::XKey::from_seed(&x.seed().unwrap()).unwrap());
        let _svc = service(port, KeyPair::from_seed(&seed).unwrap(), svc_xkey, tx).await;

        assert_eq!(
            raw(port, "alice", "PUB no 0\r\n\r\nPUB ok.1 0\r\n\r\n").await,
            "-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n",
            "{label}: alice is allowed, with the service's permissions"
        );
        let req = seen.recv().await.expect("the service saw alice's request");
        assert_eq!(req["aud"], "nats-authorization-request", "{label}");
        assert_eq!(req["sub"], issuer.public_key().as_str(), "{label}");
        assert_eq!(req["nats"]["type"], "authorization_request", "{label}");
        assert_eq!(req["nats"]["connect_opts"]["user"], "alice", "{label}");
        assert_eq!(req["nats"]["connect_opts"]["pass"], "x", "{label}");
        assert_eq!(req["nats"]["client_info"]["kind"], "Client", "{label}");
        assert_eq!(req["nats"]["client_info"]["type"], "nats", "{label}");
        assert!(
            req["nats"]["user_nkey"].as_str().unwrap().starts_with('U'),
            "{label}"
        );
        assert!(
            req["exp"].as_i64().unwrap() > req["iat"].as_i64().unwrap(),
            "{label}"
        );

        assert_eq!(
            raw_with(port, "auth", "pwd", "PUB $SYS.REQ.USER.AUTH 0\r\n\r\n").await,
            "-ERR 'Permissions Violation for Publish to \"$SYS.REQ.USER.AUTH\"'\r\nPONG\r\n",
            "{label}: nobody in the callout account publishes requests to the service"
        );
        assert_eq!(
            raw(port, "bob", "").await,
            "-ERR 'Authorization Violation'\r\n",
            "{label}: bob is denied"
        );
        // Go may send its first keep-alive PING while the CONNECT waits on the callout
        // (seen on 2.15.1 with this 2 s timeout, not every run); ours sends none until
        // the CONNECT is decided. Everything else must be the same.
        let carl = raw(port, "carl", "").await;
        let carl = match label.starts_with("go") {
            true => carl.strip_prefix("PING\r\n").unwrap_or(&carl).to_string(),
            false => carl,
        };
        assert_eq!(
            carl, "-ERR 'Authorization Violation'\r\n",
            "{label}: carl gets no answer: refused at the timeout"
        );
    }
}

/// A one-route HTTP server for the webhook: answers each POST by `connect_opts.user`.
/// Returns its port and how many POSTs asked about `alice`.
async fn webhook_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let alices = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&alices);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Head, then the body by Content-Length.
                let (head_end, len) = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let req: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap();
                let user = req["connect_opts"]["user"].as_str().unwrap_or_default();
                assert_eq!(req["client_info"]["kind"], "Client");
                let answer = match user {
                    "alice" => {
                        count.fetch_add(1, Ordering::SeqCst);
                        json!({"allow": true, "account": "APP", "user": "alice",
                               "permissions": {"publish": {"allow": ["ok.>"]}}})
                    }
                    "bob" => json!({"allow": false, "reason": "bad user"}),
                    _ => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        return;
                    }
                };
                let body = answer.to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, alices)
}

/// Ours: the HTTP webhook provider (no NATS service): allowed with the webhook's account
/// and permissions, refused with its reason logged, refused when it does not answer in time.
/// With `cache_ttl`, alice's second login is accepted from the cache, without a POST.
#[tokio::test]
async fn webhook_provider_on_ours() {
    let (http, alices) = webhook_server().await;
    let conf = format!(
        "accounts {{ APP {{}} }}\nauthorization {{\n  timeout: 2\n  auth_webhook {{ url: \"http://127.0.0.1:{http}/auth\", timeout: \"1s\", cache_ttl: \"1m\" }}\n}}\n"
    );
    for (n, rt) in ["tokio", "std"].into_iter().enumerate() {
        let mut cmd = Command::new(BIN);
        cmd.args(["--runtime", rt]);
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "webhook", &conf).await;
        assert_eq!(
            raw(port, "alice", "PUB no 0\r\n\r\nPUB ok.1 0\r\n\r\n").await,
            "-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n",
            "{rt}: alice allowed with the webhook's permissions"
        );
        assert_eq!(
            raw(port, "alice", "PUB no 0\r\n\r\n").await,
            "-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n",
            "{rt}: alice again, the same permissions"
        );
        assert_eq!(
            alices.load(Ordering::SeqCst),
            n + 1,
            "{rt}: the second alice came from the cache"
        );
        assert_eq!(
            raw(port, "bob", "").await,
            "-ERR 'Authorization Violation'\r\n",
            "{rt}"
        );
        assert_eq!(
            raw(port, "carl", "").await,
            "-ERR 'Authorization Violation'\r\n",
            "{rt}"
        );
    }
}
