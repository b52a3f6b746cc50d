//! Scoped signing keys' permission templates, expanded as the Go server does.

use nkeys::KeyPairType;
use serde_json::json;

use super::super::*;
use super::checks::{account, user_signed_by};
use super::key;

#[test]
fn templates_expand_as_go() {
    let scoped = key(KeyPairType::Account, 26);
    let a = account(json!({"tags": ["region:eu", "region:us"],
        "signing_keys": [{"kind": "user_scope", "key": scoped.public_key(), "template": {
        "pub": {"allow": ["{{name()}}.>", "{{account-name()}}.{{subject()}}", "r.{{account-tag(region)}}.{{tag(team)}}"],
                "deny": ["x.{{ account-subject() }}"]},
        "sub": {"allow": ["{{tag(missing)}}.x"]}}}]}));
    let me = a.common.sub.clone();
    let mut u = user_signed_by(
        &scoped,
        json!({"issuer_account": me, "tags": ["team:a", "team:b"]}),
    );
    let sub = u.common.sub.clone();
    let eff = a.user_limits(&u, false).unwrap();
    assert_eq!(
        eff.publish.allow,
        [
            "bob.>".to_string(),
            format!("ACC.{sub}"),
            "r.eu.a".into(),
            "r.eu.b".into(),
            "r.us.a".into(),
            "r.us.b".into()
        ]
    );
    assert_eq!(eff.publish.deny, [format!("x.{me}")]);
    assert!(
        eff.subscribe.allow.is_empty(),
        "an undefined tag makes an invalid subject, dropped"
    );
    assert_eq!(
        eff.subscribe.deny,
        [">"],
        "an allow list emptied denies everything"
    );
    u.common.name = "a b".into();
    let eff = a.user_limits(&u, false).unwrap();
    assert!(
        !eff.publish.allow.contains(&"a b.>".to_string()),
        "invalid subjects dropped"
    );

    let t = |list: serde_json::Value| {
        account(
            json!({"signing_keys": [{"kind": "user_scope", "key": scoped.public_key(),
            "template": {"pub": list}}]}),
        )
        .user_limits(&u, false)
    };
    assert!(matches!(
        t(json!({"allow": ["{{nope()}}"]})),
        Err(JwtError::Template(_))
    ));
    assert!(matches!(
        t(json!({"deny": ["{{tag(missing)}}"]})),
        Err(JwtError::Template(_))
    ));
    assert!(
        t(json!({"allow": ["{{NAME()}}"]})).is_ok(),
        "case-insensitive operations"
    );
    assert_eq!(
        t(json!({"allow": ["{}}", "{{}}", "a.{{x"]}))
            .unwrap()
            .publish
            .allow,
        ["{}}", "{{}}", "a.{{x"]
    );
    // 4096 subjects at most (Go's limit).
    let tags: Vec<String> = (0..65).map(|i| format!("t:{i}")).collect();
    let u2 = user_signed_by(&scoped, json!({"issuer_account": me, "tags": tags}));
    let a2 = account(
        json!({"signing_keys": [{"kind": "user_scope", "key": scoped.public_key(),
        "template": {"pub": {"allow": ["{{tag(t)}}.{{tag(t)}}"]}}}]}),
    );
    assert!(matches!(
        a2.user_limits(&u2, false),
        Err(JwtError::Template(_))
    ));
    // Bounded work: 20,000 operations against 1,000 tags is refused (after about 4,000).
    let tags: Vec<String> = (0..1000).map(|i| format!("t:{i}")).collect();
    let u3 = user_signed_by(&scoped, json!({"issuer_account": me, "tags": tags}));
    let long = "{{tag(t)}}.".repeat(20_000) + "x";
    let a3 = account(
        json!({"signing_keys": [{"kind": "user_scope", "key": scoped.public_key(),
        "template": {"pub": {"allow": [long]}}}]}),
    );
    assert!(matches!(
        a3.user_limits(&u3, false),
        Err(JwtError::Template(_))
    ));
}
