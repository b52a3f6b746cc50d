//! Operator mode on a connection: a user JWT logs in through the auth request (off the
//! serving thread), its permissions apply, and it is disconnected with Go's error when
//! its JWT expires (the wall clock is the core's: epoch-based without a host).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nkeys::{KeyPair, KeyPairType};
use serde_json::json;

use super::test_util::{nop, recv, T0};
use super::*;
use crate::options::Options;

fn key(kind: KeyPairType, n: u8) -> KeyPair {
    KeyPair::new_from_raw(kind, [n; 32]).unwrap()
}

/// An operator, one account, and a user JWT expiring at Unix second `exp` with publish
/// allowed on `ok.>` only.
fn setup(exp: i64) -> (Shared, KeyPair, String) {
    setup_with(exp, json!({}))
}

/// [`setup`] with more user claims (`limits`: merged into `nats`).
fn setup_with(exp: i64, limits: serde_json::Value) -> (Shared, KeyPair, String) {
    let op = key(KeyPairType::Operator, 1);
    let acc = key(KeyPairType::Account, 2);
    let user = key(KeyPairType::User, 3);
    let op_jwt = crate::jwt::encode(
        &json!({"sub": op.public_key(), "iat": 0, "name": "O", "nats": {"type": "operator"}}),
        &op,
    )
    .unwrap();
    let acc_jwt = crate::jwt::encode(
        &json!({"sub": acc.public_key(), "iat": 0, "name": "A",
                "nats": {"type": "account", "limits": {"conn": -1, "subs": -1, "payload": -1}}}),
        &op,
    )
    .unwrap();
    let mut claims = json!({"sub": user.public_key(), "iat": 0, "exp": exp, "name": "u",
            "nats": {"type": "user", "pub": {"allow": ["ok.>"]}, "sub": {}}});
    if let serde_json::Value::Object(extra) = limits {
        for (k, v) in extra {
            claims["nats"][k] = v;
        }
    }
    let user_jwt = crate::jwt::encode(&claims, &acc).unwrap();
    let mut accounts = BTreeMap::new();
    accounts.insert(
        acc.public_key(),
        crate::jwt::decode_account(&acc_jwt).unwrap(),
    );
    let mode = crate::operator::OperatorMode {
        operators: vec![crate::jwt::decode_operator(&op_jwt).unwrap()],
        accounts,
    };
    let mut o = Options {
        accounts: mode.account_options().0,
        ..Options::default()
    };
    o.auth.operator = Some(Arc::new(mode));
    (Shared::new(o, "NTEST".into(), T0), user, user_jwt)
}

fn login(sh: &Shared, user: &KeyPair, jwt: &str) -> (Connection, String) {
    login_at(sh, user, jwt, T0)
}

fn login_at(sh: &Shared, user: &KeyPair, jwt: &str, at: Time) -> (Connection, String) {
    let mut c = Connection::accept(sh, at, None, nop());
    let info = recv(&c);
    let v: serde_json::Value =
        serde_json::from_str(info.trim_end().strip_prefix("INFO ").unwrap()).unwrap();
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let sig = data_encoding::BASE64URL_NOPAD.encode(&user.sign(nonce.as_bytes()).unwrap());
    let line = format!(
        "CONNECT {{\"verbose\":true,\"jwt\":\"{jwt}\",\"sig\":\"{sig}\"}}\r\nPUB no 0\r\n\r\nPING\r\n"
    );
    let used = c.handle_read_paced(at, line.as_bytes(), sh).unwrap();
    let req = c
        .poll_auth_request()
        .expect("a JWT is decided off the serving thread");
    c.handle_auth_decision(at, req.decide(), sh);
    let _ = c.handle_read_paced(at, &line.as_bytes()[used..], sh);
    let got = recv(&c);
    (c, got)
}

#[test]
fn a_user_jwt_logs_in_with_its_permissions_and_goes_when_it_expires() {
    let (sh, user, jwt) = setup(5);
    let (mut c, got) = login(&sh, &user, &jwt);
    assert_eq!(
        got,
        "+OK\r\n-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n"
    );
    let info = sh.client_info(c.cid()).unwrap();
    assert_eq!(info.user.as_deref(), Some(user.public_key().as_str()));
    // Expires at Unix second 5; the core's clock starts at the epoch without a host.
    let deadline = c.poll_timeout().unwrap();
    assert!(
        deadline <= T0 + Duration::from_secs(5),
        "the expiry is armed"
    );
    c.handle_timeout(T0 + Duration::from_secs(5), &sh);
    assert_eq!(recv(&c), "-ERR 'User Authentication Expired'\r\n");
    assert!(c.is_closed());
}

#[test]
fn an_expired_or_foreign_jwt_is_refused() {
    // Expired at Unix second 5; the core's clock reads second 10 ten seconds in.
    let (sh, user, jwt) = setup(5);
    let (_, got) = login_at(&sh, &user, &jwt, T0 + Duration::from_secs(10));
    assert_eq!(got, "-ERR 'Authorization Violation'\r\n");
    // Signed with the right JWT but by another key: the nonce signature fails.
    let (sh, _, jwt) = setup(5);
    let other = key(KeyPairType::User, 9);
    let (_, got) = login(&sh, &other, &jwt);
    assert_eq!(got, "-ERR 'Authorization Violation'\r\n");
}

/// A user JWT's own limits apply to its connection, as an account's do: `payload` (the
/// first PUB after CONNECT, in the same read) and `subs`.
#[test]
fn a_user_jwts_limits_apply() {
    let (sh, user, jwt) = setup_with(0, json!({"payload": 4, "subs": 1}));
    let mut c = Connection::accept(&sh, T0, None, nop());
    let info = recv(&c);
    let v: serde_json::Value =
        serde_json::from_str(info.trim_end().strip_prefix("INFO ").unwrap()).unwrap();
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let sig = data_encoding::BASE64URL_NOPAD.encode(&user.sign(nonce.as_bytes()).unwrap());
    let line = format!(
        "CONNECT {{\"verbose\":false,\"jwt\":\"{jwt}\",\"sig\":\"{sig}\"}}\r\nPUB ok.a 5\r\nhello\r\nSUB a 1\r\nSUB b 2\r\n"
    );
    let used = c.handle_read_paced(T0, line.as_bytes(), &sh).unwrap();
    let req = c.poll_auth_request().unwrap();
    c.handle_auth_decision(T0, req.decide(), &sh);
    let _ = c.handle_read_paced(T0, &line.as_bytes()[used..], &sh);
    assert_eq!(recv(&c), "-ERR 'Maximum Payload Violation'\r\n");
}
