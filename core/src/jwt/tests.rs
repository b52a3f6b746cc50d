//! Decoding, encoding and refusals: fixtures made by Go's tooling (see `fixtures/README.md`),
//! round trips through [`encode`], one test per refusal, and never a panic on random input.

use nkeys::{KeyPair, KeyPairType};
use serde_json::json;

use super::*;

mod checks;
mod refusals;
mod templates;

pub(super) const OPERATOR: &str = include_str!("fixtures/operator.jwt");
pub(super) const SYS_ACCOUNT: &str = include_str!("fixtures/sys_account.jwt");
pub(super) const TEST_ACCOUNT: &str = include_str!("fixtures/test_account.jwt");
pub(super) const TEST_USER: &str = include_str!("fixtures/test_user.jwt");
/// The seed of `TestUser.creds` (async-nats 0.42.0, `tests/configs/`), beside its JWT.
const TEST_USER_SEED: &str = "SUACH75SWCM5D2JMJM6EKLR2WDARVGZT4QC6LX3AGHSWOMVAKERABBBRWM";

/// Go's header, base64url: what every v2 token from Go's tooling starts with.
pub(super) const GO_HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ";

/// A deterministic key of `kind` (no randomness in tests either).
pub(super) fn key(kind: KeyPairType, n: u8) -> KeyPair {
    KeyPair::new_from_raw(kind, [n; 32]).unwrap()
}

pub(super) fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

/// A token signed as the caller says: any header, any signed bytes.
pub(super) fn raw_token(header: &str, payload: &str, kp: &KeyPair, v1: bool) -> String {
    let (h, p) = (b64(header.as_bytes()), b64(payload.as_bytes()));
    let signed = if v1 { p.clone() } else { format!("{h}.{p}") };
    format!("{h}.{p}.{}", b64(&kp.sign(signed.as_bytes()).unwrap()))
}

pub(super) fn user_json(sub: &str, nats: serde_json::Value) -> serde_json::Value {
    json!({"iat": 1_700_000_000, "name": "u", "sub": sub, "nats": nats})
}

#[test]
fn decodes_the_nats_rs_fixtures() {
    let op = decode_operator(OPERATOR.trim()).unwrap();
    assert_eq!(op.common.name, "TestOperator");
    assert_eq!(op.common.iss, op.common.sub);
    assert_eq!(
        op.operator.system_account,
        "ABREJNYASWGS2A5EVXPVXGGCOK2LJXT7KZNYBBZAXUTUBI2VSMAV7DHN"
    );
    assert!(op.operator.signing_keys.is_empty());

    let jwt = decode(SYS_ACCOUNT.trim()).unwrap();
    assert_eq!(jwt.version, 2);
    assert_eq!(jwt.header.alg, "ed25519-nkey");
    assert!(jwt.payload.contains("account-monitoring-streams"));
    let Claims::Account(sys) = jwt.claims else {
        panic!("not an account")
    };
    assert_eq!(sys.common.sub, op.operator.system_account);
    assert!(sys.issued_by(&op));
    let ex = &sys.account.exports;
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].subject, "$SYS.ACCOUNT.*.>");
    assert_eq!(ex[0].kind, Some(ExportType::Stream));
    assert_eq!(ex[0].account_token_position, 3);
    assert_eq!(ex[1].kind, Some(ExportType::Service));
    assert_eq!(ex[1].response_type, "Stream");
    assert_eq!(ex[1].account_token_position, 4);
    let l = &sys.account.limits;
    assert_eq!(
        (l.subs, l.data, l.payload, l.conn, l.leaf),
        (-1, -1, -1, -1, -1)
    );
    assert!(l.wildcards && !l.disallow_bearer);
    assert_eq!(l.jetstream, JetStreamLimits::default(), "JetStream off");
    assert_eq!(
        sys.account.signing_keys.keys().collect::<Vec<_>>(),
        ["ACPJOCLYM2GC546MD34FW5O2DUA63LDHWFGSBIIZSIFIB2TZUFDD4NPU"]
    );
    assert_eq!(sys.account.default_permissions.to_auth(), None);

    let acc = decode_account(TEST_ACCOUNT.trim()).unwrap();
    assert_eq!(acc.common.name, "TestAccount");
    assert!(acc.issued_by(&op));
    let user = decode_user(TEST_USER.trim()).unwrap();
    let kp = KeyPair::from_seed(TEST_USER_SEED).unwrap();
    assert_eq!(
        user.common.sub,
        kp.public_key(),
        "the creds' seed is the user's"
    );
    assert_eq!(user.account_key(), acc.common.sub);
    assert_eq!(acc.user_signer(&user, false), Ok(Signer::Account));
    assert_eq!(acc.user_limits(&user, false).unwrap(), user.user);
    assert_eq!(
        sys.user_signer(&user, false),
        Err(JwtError::WrongAccount(acc.common.sub.clone()))
    );
    assert_eq!(user.permissions(), None, "empty pub/sub: no restriction");
    assert_eq!(
        (user.user.subs, user.user.data, user.user.payload),
        (-1, -1, -1)
    );
    assert!(!acc.is_revoked(&user.common.sub, user.common.iat));
    assert_eq!(user.validate(1_700_000_000), Ok(()));
    for t in [OPERATOR, SYS_ACCOUNT, TEST_ACCOUNT, TEST_USER] {
        assert!(t.starts_with(GO_HEADER_B64));
        assert_eq!(
            check_times(decode(t.trim()).unwrap().claims.common(), 2_000_000_000),
            Ok(())
        );
    }
}

#[test]
fn jti_is_gos_hash() {
    for t in [OPERATOR, SYS_ACCOUNT, TEST_ACCOUNT, TEST_USER] {
        let jwt = decode(t.trim()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&jwt.payload).unwrap();
        let serde_json::Value::Object(mut obj) = v else {
            panic!()
        };
        obj.remove("jti");
        assert_eq!(claims::go_hash(&obj), jwt.claims.common().jti);
    }
}

#[test]
fn wrong_kind_is_refused_by_the_typed_decoders() {
    assert_eq!(
        decode_user(TEST_ACCOUNT.trim()),
        Err(JwtError::WrongKind {
            expected: ClaimKind::User,
            found: ClaimKind::Account
        })
    );
    assert!(matches!(
        decode_account(OPERATOR.trim()),
        Err(JwtError::WrongKind { .. })
    ));
    assert!(matches!(
        decode_operator(TEST_USER.trim()),
        Err(JwtError::WrongKind { .. })
    ));
}

#[test]
fn encode_round_trips_and_writes_gos_header() {
    let account = key(KeyPairType::Account, 1);
    let user = key(KeyPairType::User, 2);
    let claims = user_json(
        &user.public_key(),
        json!({
            "type": "user",
            "pub": {"allow": ["a.>", "b"], "deny": ["a.secret"]},
            "sub": {"allow": ["_INBOX.>", "q.* workers"]},
            "resp": {"max": 5, "ttl": 1_500_000_000},
            "src": "192.168.0.0/16, 10.1.2.3/32",
            "times": [{"start": "08:00:00", "end": "17:30:00"}],
            "subs": 10, "data": -1, "payload": 1024,
            "bearer_token": true,
            "allowed_connection_types": ["STANDARD", "WEBSOCKET"],
            "tags": ["team:a"],
        }),
    );
    let token = encode(&claims, &account).unwrap();
    assert!(token.starts_with(&format!("{GO_HEADER_B64}.")));
    let jwt = decode(&token).unwrap();
    assert_eq!(jwt.version, 2);
    let Claims::User(u) = jwt.claims else {
        panic!()
    };
    assert_eq!(u.common.iss, account.public_key(), "iss is the signer");
    assert_eq!(u.common.sub, user.public_key());
    assert_eq!(u.common.iat, 1_700_000_000);
    assert_eq!(u.common.jti.len(), 52, "base32 of 32 bytes");
    assert_eq!(u.user.publish.allow, ["a.>", "b"]);
    assert_eq!(u.user.subscribe.allow, ["_INBOX.>", "q.* workers"]);
    assert_eq!(
        u.user.resp,
        Some(ResponsePermission {
            max: 5,
            ttl: 1_500_000_000
        })
    );
    assert_eq!(u.user.src, ["192.168.0.0/16", "10.1.2.3/32"]);
    assert_eq!(u.user.times[0].end, "17:30:00");
    assert_eq!((u.user.subs, u.user.data, u.user.payload), (10, -1, 1024));
    assert!(u.user.bearer_token);
    assert_eq!(u.user.allowed_connection_types, ["STANDARD", "WEBSOCKET"]);
    assert_eq!(u.tags, ["team:a"]);
    // A caller's jti is kept; nats.version is always 2.
    let mut c2 = claims.clone();
    c2["jti"] = "MINE".into();
    c2["nats"]["version"] = 7.into();
    let jwt = decode(&encode(&c2, &account).unwrap()).unwrap();
    assert_eq!(jwt.claims.common().jti, "MINE");
    assert_eq!(jwt.version, 2);
    // Only objects, and only with a seed.
    assert!(matches!(
        encode(&json!([1]), &account),
        Err(JwtError::Encode(_))
    ));
    let public_only = KeyPair::from_public_key(&account.public_key()).unwrap();
    assert!(matches!(
        encode(&claims, &public_only),
        Err(JwtError::Encode(_))
    ));
}

#[test]
fn v1_tokens_are_read_as_go_migrates_them() {
    // v1: lowercase typ, alg ed25519, top-level type/tags/issuer_account, signature over the
    // payload part alone; absent user limits are unlimited.
    let op = key(KeyPairType::Operator, 3);
    let acc = key(KeyPairType::Account, 4);
    let sk = key(KeyPairType::Account, 5);
    let user = key(KeyPairType::User, 6);
    let h = r#"{"typ":"jwt","alg":"ed25519"}"#;
    let p = json!({"iat": 1, "iss": sk.public_key(), "sub": user.public_key(), "type": "user",
        "tags": ["x"], "issuer_account": acc.public_key(), "nats": {"pub": {"allow": ["a"]}}})
    .to_string();
    let jwt = decode(&raw_token(h, &p, &sk, true)).unwrap();
    assert_eq!(jwt.version, 1);
    let Claims::User(u) = jwt.claims else {
        panic!()
    };
    assert_eq!(u.issuer_account, acc.public_key());
    assert_eq!(u.tags, ["x"]);
    assert_eq!((u.user.subs, u.user.data, u.user.payload), (-1, -1, -1));
    assert_eq!(u.user.publish.allow, ["a"]);
    // Signed the v2 way, a v1 payload does not verify (Go picks the scope by version).
    assert_eq!(
        decode(&raw_token(h, &p, &sk, false)),
        Err(JwtError::Signature)
    );
    let p = json!({"iat": 1, "iss": op.public_key(), "sub": acc.public_key(), "type": "account",
        "nats": {"signing_keys": [sk.public_key()], "limits": {"conn": 5}}})
    .to_string();
    let a = decode_account(&raw_token(h, &p, &op, true)).unwrap();
    assert!(a.account.signing_keys.contains_key(&sk.public_key()));
    assert_eq!(a.account.limits.conn, 5);
}

#[test]
fn check_times_follows_go() {
    let c = |exp, nbf| Common {
        exp,
        nbf,
        ..Common::default()
    };
    assert_eq!(check_times(&c(0, 0), 5), Ok(()));
    assert_eq!(
        check_times(&c(100, 0), 100),
        Ok(()),
        "valid during its exp second"
    );
    assert_eq!(check_times(&c(100, 0), 101), Err(JwtError::Expired(100)));
    assert_eq!(check_times(&c(0, 100), 100), Ok(()));
    assert_eq!(check_times(&c(0, 100), 99), Err(JwtError::NotYetValid(100)));
    assert_eq!(
        check_times(&c(50, 100), 60),
        Err(JwtError::Expired(50)),
        "expiry first"
    );
}

#[test]
fn times_in_encoded_tokens_come_back() {
    let acc = key(KeyPairType::Account, 11);
    let user = key(KeyPairType::User, 12);
    let mut c = user_json(&user.public_key(), json!({"type": "user"}));
    c["exp"] = 1_700_000_100.into();
    c["nbf"] = 1_700_000_050.into();
    let u = decode_user(&encode(&c, &acc).unwrap()).unwrap();
    assert_eq!(
        u.validate(1_700_000_101),
        Err(JwtError::Expired(1_700_000_100))
    );
    assert_eq!(
        u.validate(1_700_000_049),
        Err(JwtError::NotYetValid(1_700_000_050))
    );
    assert_eq!(u.validate(1_700_000_070), Ok(()));
}
