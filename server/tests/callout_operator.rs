//! The auth callout in operator mode (Go 2.10+), black-box: the callout is configured by
//! an account JWT's `authorization` (`auth_users`, `allowed_accounts`, `xkey`), not by the
//! config file. One callout service written here (the official Rust client and the nkeys
//! library; JWTs made with our `natsd_core::jwt`) runs unchanged against ours (both
//! runtimes) and Go 2.15.1. The trust: an operator, its system account, the callout
//! account `C` (its service user in `auth_users`, `APP` allowed) and the accounts `APP`
//! (answers signed with its signing key) and `OTHER` (not allowed). Clients connect with a
//! "sentinel" user JWT of `C` and a user name the service decides by: `alice` lands in
//! `APP` with publish permissions on `ok.>`, `bob` is denied with a reason, `carl` gets no
//! answer (the timeout), `dave` is placed in `OTHER` (refused: not allowed), `erin` gets an
//! answer signed by an unknown key (refused). Then a config `auth_callout` beside an
//! operator is refused at startup, as Go.
//!
//! INTEROP: compared with Go 2.15.1 (`NATS_GO215_SERVER`; Go 2.9.10 has no auth callout);
//! a missing one prints SKIPPED, or fails under `NATSD_REQUIRE_GO=1` (set by `.ci/run`).

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use launch::io::{info_line, ping, servers};

use nkeys::KeyPair;
use serde_json::{json, Value};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");
const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'\r\n";

/// A missing Go server: SKIPPED on stderr and in the README test command's summary.
fn skip(what: &str) {
    common::report_skip(what);
}

fn sign(claims: Value, issuer: &KeyPair) -> String {
    natsd_core::jwt::encode(&claims, issuer).unwrap()
}

fn copy(k: &KeyPair) -> KeyPair {
    KeyPair::from_seed(&k.seed().unwrap()).unwrap()
}

/// The operator, its accounts and the callout's keys.
struct Trust {
    operator_jwt: String,
    /// (account key, its JWT), the system account first.
    accounts: Vec<(String, String)>,
    sys: String,
    callout: KeyPair,
    app: KeyPair,
    app_signer: KeyPair,
    other: KeyPair,
    service: KeyPair,
    sentinel: KeyPair,
    xkey: Option<nkeys::XKey>,
}

impl Trust {
    fn new(sealed: bool) -> Trust {
        let op = KeyPair::new_operator();
        let sys = KeyPair::new_account();
        let callout = KeyPair::new_account();
        let app = KeyPair::new_account();
        let app_signer = KeyPair::new_account();
        let other = KeyPair::new_account();
        let service = KeyPair::new_user();
        let xkey = sealed.then(nkeys::XKey::new);
        let iat = launch::io::unix_now();
        let limits = json!({"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,
            "wildcards":true,"conn":-1,"leaf":-1});
        let operator_jwt = sign(
            json!({"iat": iat, "name": "CalloutOp", "sub": op.public_key(),
                "nats": {"type": "operator", "system_account": sys.public_key()}}),
            &op,
        );
        let account = |k: &KeyPair, name: &str, extra: Value| {
            let mut nats = json!({"limits": limits, "type": "account",
                "default_permissions": {"pub": {}, "sub": {}}});
            for (key, v) in extra.as_object().unwrap() {
                nats[key] = v.clone();
            }
            let claims = json!({"iat": iat, "name": name, "sub": k.public_key(), "nats": nats});
            (k.public_key(), sign(claims, &op))
        };
        let mut authorization = json!({"auth_users": [service.public_key()],
            "allowed_accounts": [app.public_key()]});
        if let Some(x) = &xkey {
            authorization["xkey"] = x.public_key().into();
        }
        let accounts = vec![
            account(&sys, "SYS", json!({})),
            account(&callout, "C", json!({"authorization": authorization})),
            account(
                &app,
                "APP",
                json!({"signing_keys": [app_signer.public_key()]}),
            ),
            account(&other, "OTHER", json!({})),
        ];
        Trust {
            operator_jwt,
            accounts,
            sys: sys.public_key(),
            callout,
            app,
            app_signer,
            other,
            service,
            sentinel: KeyPair::new_user(),
            xkey,
        }
    }

    fn conf(&self) -> String {
        let preload: String = self
            .accounts
            .iter()
            .map(|(k, j)| format!("  {k}: {j}\n"))
            .collect();
        format!(
            "operator: {}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload {{\n{preload}}}\nauthorization {{ timeout: 2 }}\n",
            self.operator_jwt, self.sys
        )
    }

    /// A user JWT of the callout account for `user` (the service's own, or the sentinel).
    fn user_jwt(&self, user: &KeyPair, name: &str) -> String {
        sign(
            json!({"iat": launch::io::unix_now(), "name": name, "sub": user.public_key(),
                "nats": {"type": "user", "pub": {}, "sub": {}, "subs": -1, "data": -1,
                    "payload": -1}}),
            &self.callout,
        )
    }
}

/// The service's answer to a request of `user` (the CONNECT's user name), or `None`.
fn answer(t: &Trust, user: &str, user_nkey: &str, server_id: &str) -> Option<(Value, KeyPair)> {
    let placed = |signer: &KeyPair, account: &KeyPair| {
        sign(
            json!({"sub": user_nkey, "iat": launch::io::unix_now(), "name": user,
                "nats": {"type": "user", "issuer_account": account.public_key(),
                    "pub": {"allow": ["ok.>"]}, "sub": {}, "subs": -1, "data": -1,
                    "payload": -1}}),
            signer,
        )
    };
    let response = |nats: Value| {
        json!({"sub": user_nkey, "aud": server_id, "iat": launch::io::unix_now(),
            "nats": {"type": "authorization_response"}})
        .as_object()
        .map(|o| {
            let mut v = Value::Object(o.clone());
            for (k, x) in nats.as_object().unwrap() {
                v["nats"][k] = x.clone();
            }
            v
        })
        .unwrap()
    };
    Some(match user {
        "alice" => (
            response(json!({"jwt": placed(&t.app_signer, &t.app)})),
            copy(&t.callout),
        ),
        "bob" => (response(json!({"error": "bad user"})), copy(&t.callout)),
        "dave" => (
            response(json!({"jwt": placed(&t.other, &t.other)})),
            copy(&t.callout),
        ),
        "erin" => (
            response(json!({"jwt": placed(&t.app_signer, &t.app)})),
            KeyPair::new_account(),
        ),
        _ => return None,
    })
}

/// The callout service, connected with its own user JWT (in `auth_users`: no callout for
/// it). Sends what it saw of each request's claims on `seen`.
async fn service(
    port: u16,
    t: &Trust,
    seen: tokio::sync::mpsc::UnboundedSender<Value>,
) -> async_nats::Client {
    let xkey = t
        .xkey
        .as_ref()
        .map(|x| nkeys::XKey::from_seed(&x.seed().unwrap()).unwrap());
    let jwt = t.user_jwt(&t.service, "service");
    let key = std::sync::Arc::new(copy(&t.service));
    let client = async_nats::ConnectOptions::with_jwt(jwt, move |nonce| {
        let key = std::sync::Arc::clone(&key);
        async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
    })
    .connect(format!("127.0.0.1:{port}"))
    .await
    .expect("the service connects (it is an auth user)");
    let t = Trust {
        operator_jwt: String::new(),
        accounts: Vec::new(),
        sys: String::new(),
        callout: copy(&t.callout),
        app: copy(&t.app),
        app_signer: copy(&t.app_signer),
        other: copy(&t.other),
        service: copy(&t.service),
        sentinel: copy(&t.sentinel),
        xkey: None,
    };
    launch::callout::serve(&client, xkey, seen, move |claims| {
        let nats = &claims["nats"];
        let user_nkey = nats["user_nkey"].as_str().unwrap();
        let server_id = nats["server_id"]["id"].as_str().unwrap();
        let user = nats["connect_opts"]["user"].as_str().unwrap_or_default();
        let (resp, signer) = answer(&t, user, user_nkey, server_id)?;
        Some(sign(resp, &signer))
    })
    .await;
    client
}

/// A raw client with the sentinel JWT (the INFO nonce signed) and the user name `user`;
/// then `ops` and PING: everything until PONG or the close (at most 5 s).
async fn sentinel(port: u16, t: &Trust, user: &str, ops: &str) -> String {
    connect_as(port, t, &t.sentinel, user, ops).await
}

/// [`sentinel`] with the user JWT of `key` (of the callout account).
async fn connect_as(port: u16, t: &Trust, key: &KeyPair, user: &str, ops: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let info = info_line(&mut s).await;
    let v: Value = serde_json::from_str(info.trim_end().strip_prefix("INFO ").unwrap()).unwrap();
    let nonce = v["nonce"].as_str().expect("a nonce in operator mode");
    let sig = data_encoding::BASE64URL_NOPAD.encode(&key.sign(nonce.as_bytes()).unwrap());
    let jwt = t.user_jwt(key, "sentinel");
    let connect = format!(
        "CONNECT {{\"verbose\":false,\"jwt\":\"{jwt}\",\"sig\":\"{sig}\",\"user\":\"{user}\",\"pass\":\"x\"}}\r\n{ops}"
    );
    ping(&mut s, &connect).await
}

#[tokio::test]
async fn operator_mode_callout_on_ours_and_go() {
    operator_callout("operator_mode_callout_on_ours_and_go", false).await;
}

/// The same with the account JWT's `xkey`: requests sealed to the service, answers sealed
/// back (then Go does not check who signed the answer: erin is let in).
#[tokio::test]
async fn sealed_operator_mode_callout_on_ours_and_go() {
    operator_callout("sealed_operator_mode_callout_on_ours_and_go", true).await;
}

async fn operator_callout(what: &str, sealed: bool) {
    let t = Trust::new(sealed);
    let conf = t.conf();
    for (label, mut cmd) in servers(BIN, what, true, skip) {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "callout_op", &conf).await;
        let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let _svc = service(port, &t, tx).await;

        assert_eq!(
            sentinel(port, &t, "alice", "PUB no 0\r\n\r\nPUB ok.1 0\r\n\r\n").await,
            "-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n",
            "{label}: alice lands in APP with the service's permissions"
        );
        let req = seen.recv().await.expect("the service saw alice's request");
        assert_eq!(req["aud"], "nats-authorization-request", "{label}");
        assert_eq!(req["sub"], t.callout.public_key().as_str(), "{label}");
        assert_eq!(req["nats"]["connect_opts"]["user"], "alice", "{label}");
        assert!(
            req["nats"]["connect_opts"]["jwt"]
                .as_str()
                .is_some_and(|j| natsd_core::jwt::peek_user(j)
                    .is_some_and(|(acc, sub)| acc == t.callout.public_key()
                        && sub == t.sentinel.public_key())),
            "{label}: the request carries the sentinel JWT"
        );
        assert_eq!(
            connect_as(port, &t, &t.service, "", "PUB $SYS.REQ.USER.AUTH 0\r\n\r\n").await,
            "-ERR 'Permissions Violation for Publish to \"$SYS.REQ.USER.AUTH\"'\r\nPONG\r\n",
            "{label}: nobody in the callout account publishes requests to the service"
        );
        for (user, why) in [
            ("bob", "denied by the service"),
            ("carl", "no answer: refused at the timeout"),
            ("dave", "placed in an account not allowed"),
        ] {
            assert_eq!(
                sentinel(port, &t, user, "").await,
                AUTH_VIOLATION,
                "{label}: {user}: {why}"
            );
        }
        let erin = sentinel(port, &t, "erin", "PUB ok.1 0\r\n\r\n").await;
        if sealed {
            assert_eq!(
                erin, "PONG\r\n",
                "{label}: a sealed answer's signer is not checked"
            );
        } else {
            assert_eq!(
                erin, AUTH_VIOLATION,
                "{label}: answer signed by an unknown key"
            );
        }
    }
}

/// A config `auth_callout` beside an operator: Go refuses to start, in its words.
#[tokio::test]
async fn config_callout_beside_an_operator_is_refused() {
    let t = Trust::new(false);
    let conf = format!(
        "{}authorization {{ auth_callout {{ issuer: {}, auth_users: [x] }} }}\n",
        t.conf().replace("authorization { timeout: 2 }\n", ""),
        t.callout.public_key()
    );
    for (label, mut cmd) in servers(
        BIN,
        "config_callout_beside_an_operator_is_refused",
        true,
        skip,
    ) {
        let path = std::env::temp_dir().join(format!(
            "natsd-callout-op-refused-{}.conf",
            std::process::id()
        ));
        std::fs::write(&path, &conf).unwrap();
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            cmd.arg("-c").arg(&path).output(),
        )
        .await
        .expect("exits")
        .unwrap();
        let _ = std::fs::remove_file(&path);
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{label}: {text}");
        assert!(
            text.contains(
                "operators do not allow authorization callouts to be configured directly"
            ),
            "{label}: {text}"
        );
    }
}
