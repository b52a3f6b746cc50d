//! The validation helpers: operator and account trust, revocation, permissions, source
//! networks, connect times, scoped signing keys, Go's `Validate`.

use std::net::IpAddr;
use std::time::Duration;

use nkeys::KeyPairType;
use serde_json::json;

use super::super::access::parse_clock;
use super::super::*;
use super::key;
use crate::auth;

fn operator(strict: bool, signing: &[String]) -> OperatorClaims {
    let op = key(KeyPairType::Operator, 20);
    let c = json!({"sub": op.public_key(), "iat": 1, "nats": {"type": "operator",
        "signing_keys": signing, "strict_signing_key_usage": strict}});
    decode_operator(&encode(&c, &op).unwrap()).unwrap()
}

/// An account issued by the operator key, with `nats` merged in.
pub(super) fn account(nats: serde_json::Value) -> AccountClaims {
    let op = key(KeyPairType::Operator, 20);
    let acc = key(KeyPairType::Account, 21);
    let mut n = json!({"type": "account"});
    n.as_object_mut()
        .unwrap()
        .extend(nats.as_object().unwrap().clone());
    let c = json!({"sub": acc.public_key(), "name": "ACC", "iat": 1, "nats": n});
    decode_account(&encode(&c, &op).unwrap()).unwrap()
}

pub(super) fn user_signed_by(signer: &nkeys::KeyPair, nats: serde_json::Value) -> UserClaims {
    let user = key(KeyPairType::User, 22);
    let mut n = json!({"type": "user"});
    n.as_object_mut()
        .unwrap()
        .extend(nats.as_object().unwrap().clone());
    let c = json!({"sub": user.public_key(), "name": "bob", "iat": 1_000, "nats": n});
    decode_user(&encode(&c, signer).unwrap()).unwrap()
}

#[test]
fn operator_trust() {
    let sk = key(KeyPairType::Operator, 23).public_key();
    let op = operator(false, std::slice::from_ref(&sk));
    let mut a = account(json!({}));
    assert!(a.issued_by(&op), "the operator key itself");
    a.common.iss = sk.clone();
    assert!(a.issued_by(&op), "a signing key");
    a.common.iss = key(KeyPairType::Operator, 24).public_key();
    assert!(!a.issued_by(&op));
    let strict = operator(true, std::slice::from_ref(&sk));
    a.common.iss = strict.common.sub.clone();
    assert!(!a.issued_by(&strict), "strict: never the operator key");
    a.common.iss = sk;
    assert!(a.issued_by(&strict));
    assert!(
        strict.did_sign(&strict.common.sub, &strict.common.sub),
        "its own JWT"
    );
}

#[test]
fn user_signers() {
    let acc_kp = key(KeyPairType::Account, 21);
    let plain = key(KeyPairType::Account, 25);
    let scoped = key(KeyPairType::Account, 26);
    let stranger = key(KeyPairType::Account, 27);
    let a = account(json!({"signing_keys": [plain.public_key(), 7, null,
        {"kind": "user_scope", "key": scoped.public_key(), "role": "dev",
         "template": {"pub": {"allow": ["dev.>"]}, "subs": 3}}]}));
    let me = a.common.sub.clone();
    assert_eq!(a.account.signing_keys.len(), 2, "other entries skipped");
    let scope = a.account.signing_keys[&scoped.public_key()]
        .as_ref()
        .unwrap();
    assert_eq!(
        (scope.template.subs, scope.template.data),
        (3, -1),
        "template limits start at -1"
    );

    let u = user_signed_by(&acc_kp, json!({}));
    assert_eq!(a.user_signer(&u, false), Ok(Signer::Account));
    assert_eq!(
        a.user_signer(&u, true),
        Err(JwtError::UntrustedIssuer(me.clone())),
        "strict operator: the account key signs no users"
    );
    let u = user_signed_by(&plain, json!({"issuer_account": me}));
    assert_eq!(a.user_signer(&u, true), Ok(Signer::SigningKey));
    let u = user_signed_by(&plain, json!({}));
    assert_eq!(
        a.user_signer(&u, false),
        Err(JwtError::WrongAccount(plain.public_key()))
    );
    let u = user_signed_by(&stranger, json!({"issuer_account": me}));
    assert_eq!(
        a.user_signer(&u, false),
        Err(JwtError::UntrustedIssuer(stranger.public_key()))
    );

    let u = user_signed_by(&scoped, json!({"issuer_account": me, "pub": {}, "sub": {}}));
    assert_eq!(a.user_signer(&u, false), Ok(Signer::Scoped(scope)));
    let eff = a.user_limits(&u, false).unwrap();
    assert_eq!(eff.publish.allow, ["dev.>"]);
    assert_eq!((eff.subs, eff.payload), (3, -1));
    let u = user_signed_by(&scoped, json!({"issuer_account": me, "subs": -1}));
    assert_eq!(a.user_signer(&u, false), Err(JwtError::ScopedUserHasLimits));
    let bad = json!({"signing_keys": [{"kind": "other", "key": "A"}], "type": "account"});
    let op = key(KeyPairType::Operator, 20);
    let c = json!({"sub": acc_kp.public_key(), "nats": bad});
    assert!(matches!(
        decode(&encode(&c, &op).unwrap()),
        Err(JwtError::Json(Part::Payload, _))
    ));
}

#[test]
fn revocations_cover_their_second() {
    let a = account(json!({"revocations": {"UAAA": 100, "*": 50}}));
    assert!(
        a.is_revoked("UAAA", 100),
        "at the revocation time: revoked (Go: >=)"
    );
    assert!(!a.is_revoked("UAAA", 101));
    assert!(a.is_revoked("UBBB", 50), "all users");
    assert!(!a.is_revoked("UBBB", 51));
    assert!(!account(json!({})).is_revoked("UAAA", 0));
}

#[test]
fn permissions_become_the_servers() {
    let p = |v: serde_json::Value| {
        serde_json::from_value::<UserPermissionLimits>(v)
            .unwrap()
            .permissions()
    };
    assert_eq!(p(json!({"pub": {}, "sub": {}})), None);
    let got = p(json!({"pub": {"deny": ["a"]}, "sub": {"allow": ["b"]}})).unwrap();
    assert_eq!(
        got.publish,
        Some(auth::SubjectPermission {
            allow: None,
            deny: vec!["a".into()]
        })
    );
    assert_eq!(got.subscribe.unwrap().allow, Some(vec!["b".into()]));
    assert_eq!(got.allow_responses, None);
    let r = p(json!({"resp": {"max": 0, "ttl": 0}})).unwrap();
    assert_eq!(r.publish, None);
    assert_eq!(
        r.allow_responses,
        Some(auth::ResponsePermission {
            max: 1,
            expires: Duration::from_secs(120)
        })
    );
    let c = auth::CompiledPermissions::compile(&r);
    assert!(
        !c.can_publish(b"x"),
        "responses only, as Go's validateResponsePermissions"
    );
    let r = p(json!({"resp": {"max": -1, "ttl": 2_500_000}}))
        .unwrap()
        .allow_responses
        .unwrap();
    assert_eq!((r.max, r.expires), (u32::MAX, Duration::from_micros(2_500)));
    let d = account(json!({"default_permissions": {"pub": {"allow": ["x"]}}}));
    assert!(d.account.default_permissions.to_auth().is_some());
}

#[test]
fn source_networks() {
    let src = |v: serde_json::Value| {
        serde_json::from_value::<UserPermissionLimits>(json!({ "src": v })).unwrap()
    };
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(src(json!([])).allows_source(ip("1.2.3.4")));
    let l = src(json!("192.168.0.0/16, 10.0.0.1/32,2001:DB8::/32"));
    assert_eq!(l.src, ["192.168.0.0/16", "10.0.0.1/32", "2001:db8::/32"]);
    assert!(l.allows_source(ip("192.168.7.9")));
    assert!(l.allows_source(ip("10.0.0.1")));
    assert!(!l.allows_source(ip("10.0.0.2")));
    assert!(l.allows_source(ip("2001:db8::1")));
    assert!(!l.allows_source(ip("2001:db9::1")));
    assert!(
        l.allows_source(ip("::ffff:192.168.1.1")),
        "mapped IPv4 matches IPv4 networks"
    );
    assert!(src(json!(["::ffff:10.0.0.0/104"])).allows_source(ip("10.9.9.9")));
    assert!(!src(json!(["::ffff:10.0.0.0/104"])).allows_source(ip("11.0.0.0")));
    assert!(src(json!(["0.0.0.0/0"])).allows_source(ip("8.8.8.8")));
    assert!(!src(json!(["0.0.0.0/0"])).allows_source(ip("::1")));
    assert!(
        !src(json!(["bogus", "0.0.0.0/0"])).allows_source(ip("1.1.1.1")),
        "Go stops at a bad entry"
    );
    assert!(src(json!(["1.1.1.1/32", "bogus"])).allows_source(ip("1.1.1.1")));
    for bad in [
        "1.2.3.4",
        "1.2.3.4/33",
        "01.2.3.4/8",
        "1.2.3.4/",
        "1.2.3.4/+8",
        " 1.2.3.4/8",
        "::1/129",
    ] {
        assert!(!src(json!([bad])).allows_source(ip("1.2.3.4")), "{bad}");
    }
}

#[test]
fn connect_times() {
    let at = |times: serde_json::Value, loc: &str, now: i64| {
        serde_json::from_value::<UserPermissionLimits>(
            json!({"times": times, "times_location": loc}),
        )
        .unwrap()
        .time_access(now)
    };
    let day = |h: i64, m: i64, s: i64| 19_000 * 86_400 + h * 3600 + m * 60 + s;
    let office = json!([{"start": "08:00:00", "end": "17:00:00"}]);
    assert_eq!(
        at(json!([]), "Europe/Paris", 0),
        Ok(TimeAccess::Unrestricted)
    );
    assert_eq!(
        at(office.clone(), "", day(9, 0, 0)),
        Ok(TimeAccess::Until(8 * 3600))
    );
    assert_eq!(
        at(office.clone(), "UTC", day(8, 0, 0)),
        Ok(TimeAccess::Denied),
        "start exclusive"
    );
    assert_eq!(
        at(office.clone(), "Etc/UTC", day(8, 0, 1)),
        Ok(TimeAccess::Until(9 * 3600 - 1))
    );
    assert_eq!(
        at(office.clone(), "", day(17, 0, 0)),
        Ok(TimeAccess::Denied),
        "end exclusive"
    );
    let night = json!([{"start": "22:00:00", "end": "06:00:00"}]);
    assert_eq!(
        at(night.clone(), "", day(23, 0, 0)),
        Ok(TimeAccess::Until(7 * 3600))
    );
    assert_eq!(
        at(night.clone(), "", day(5, 0, 0)),
        Ok(TimeAccess::Until(3600))
    );
    assert_eq!(at(night, "", day(12, 0, 0)), Ok(TimeAccess::Denied));
    let both =
        json!([{"start": "08:00:00", "end": "10:00:00"}, {"start": "07:00:00", "end": "12:00:00"}]);
    assert_eq!(
        at(both, "", day(9, 0, 0)),
        Ok(TimeAccess::Until(3 * 3600)),
        "the latest end"
    );
    assert_eq!(
        at(office.clone(), "", -1),
        Ok(TimeAccess::Denied),
        "23:59:59 the day before"
    );
    for utc in ["Local", "GMT", "Etc/Zulu"] {
        assert_eq!(
            at(office.clone(), utc, day(9, 0, 0)),
            Ok(TimeAccess::Until(8 * 3600))
        );
    }
    assert!(at(office.clone(), "Etc/", 0).is_err());
    assert_eq!(
        at(office.clone(), "America/New_York", day(9, 0, 0)),
        Err(JwtError::UnsupportedTimeZone("America/New_York".into()))
    );
    let bad = json!([{"start": "8am", "end": "17:00:00"}]);
    assert!(matches!(at(bad, "", 0), Err(JwtError::Invalid(_))));
    assert_eq!(parse_clock("9:05:00"), Some(9 * 3600 + 300));
    assert_eq!(parse_clock("23:59:59.999"), Some(86_399));
    for bad in [
        "24:00:00",
        "09:0:00",
        "09:00:60",
        "090000",
        "09:00:00 ",
        "",
        "-1:00:00",
        "1:2:3",
        "09:00:00.",
    ] {
        assert_eq!(parse_clock(bad), None, "{bad}");
    }
}

#[test]
fn validate_follows_gos_rules() {
    let acc = key(KeyPairType::Account, 21);
    let v = |nats: serde_json::Value| user_signed_by(&acc, nats).validate(1_000);
    assert_eq!(
        v(json!({"pub": {"allow": ["a.b", "c.*"]}, "sub": {"deny": ["q g"]}})),
        Ok(())
    );
    for bad in [
        json!({"pub": {"allow": ["a b"]}}),
        json!({"pub": {"allow": [""]}}),
        json!({"sub": {"allow": ["a..b"]}}),
        json!({"sub": {"deny": [".a"]}}),
        json!({"sub": {"allow": ["a b c"]}}),
        json!({"src": ["1.2.3.4"]}),
        json!({"times": [{"start": "1", "end": "02:00:00"}]}),
        json!({"times": [{"start": "01:00:00"}]}),
        json!({"issuer_account": "UNOTANACCOUNT"}),
    ] {
        assert!(matches!(v(bad.clone()), Err(JwtError::Invalid(_))), "{bad}");
    }
}
