//! Refusals: each cause of a refused token is its own error, and random or mutated input
//! never panics.

use nkeys::KeyPairType;
use proptest::prelude::*;
use serde_json::json;

use super::super::*;
use super::{b64, key, raw_token, user_json, GO_HEADER_B64, SYS_ACCOUNT, TEST_USER};

/// Every refusal is its own error, in Go's order.
#[test]
fn refusals_are_distinct_errors() {
    let acc = key(KeyPairType::Account, 7);
    let op = key(KeyPairType::Operator, 8);
    let user = key(KeyPairType::User, 9);
    let good = encode(
        &user_json(&user.public_key(), json!({"type": "user"})),
        &acc,
    )
    .unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let h = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;
    let user_payload = |iss: &str| {
        json!({"iss": iss, "sub": user.public_key(), "nats": {"type": "user", "version": 2}})
            .to_string()
    };

    // Tampered payload (the signed claims with bearer_token added): signature.
    let mut claims = decode(&good).unwrap().payload;
    claims = claims.replace(r#""type":"user""#, r#""type":"user","bearer_token":true"#);
    let other = b64(claims.as_bytes());
    let tampered = format!("{}.{}.{}", parts[0], other, parts[2]);
    assert_eq!(decode(&tampered), Err(JwtError::Signature));
    // Signed by a key other than iss.
    assert_eq!(
        decode(&raw_token(h, &user_payload(&acc.public_key()), &op, false)),
        Err(JwtError::Signature)
    );
    // A user signed by an operator key: wrong issuer kind.
    assert_eq!(
        decode(&raw_token(h, &user_payload(&op.public_key()), &op, false)),
        Err(JwtError::IssuerKey(op.public_key()))
    );
    assert!(matches!(
        decode(&raw_token(h, &user_payload("nope"), &op, false)),
        Err(JwtError::IssuerKey(_))
    ));
    // Oversize, before anything else.
    let big = "a".repeat(MAX_TOKEN_SIZE + 1);
    assert_eq!(decode(&big), Err(JwtError::TooLarge(MAX_TOKEN_SIZE + 1)));
    assert_eq!(decode("a.b"), Err(JwtError::Parts(2)));
    assert_eq!(decode(&format!("{good}.x")), Err(JwtError::Parts(4)));
    assert_eq!(decode("!!!.b.c"), Err(JwtError::Base64(Part::Header)));
    assert_eq!(
        decode(&format!("{}.@@.{}", parts[0], parts[2])),
        Err(JwtError::Base64(Part::Payload))
    );
    assert_eq!(
        decode(&format!("{}.{}.=", parts[0], parts[1])),
        Err(JwtError::Base64(Part::Signature))
    );
    assert_eq!(
        decode(&format!("{}.{}.{}", b64(b"{"), parts[1], parts[2]))
            .map(|_| ())
            .unwrap_err(),
        JwtError::Json(
            Part::Header,
            "EOF while parsing an object at line 1 column 1".into()
        )
    );
    let p = user_payload(&acc.public_key());
    assert_eq!(
        decode(&raw_token(
            r#"{"typ":"JWT","alg":"HS256"}"#,
            &p,
            &acc,
            false
        )),
        Err(JwtError::Algorithm("HS256".into()))
    );
    assert_eq!(
        decode(&raw_token(
            r#"{"typ":"JWS","alg":"ed25519-nkey"}"#,
            &p,
            &acc,
            false
        )),
        Err(JwtError::NotJwt("JWS".into()))
    );
    // Go's case rules for the header (and its case-insensitive keys).
    assert!(decode(&raw_token(
        r#"{"TYP":"jwt","Alg":"ED25519-NKEY"}"#,
        &p,
        &acc,
        false
    ))
    .is_ok());
    let payload = |nats: serde_json::Value| {
        json!({"iss": acc.public_key(), "sub": user.public_key(), "nats": nats}).to_string()
    };
    let dec = |nats| decode(&raw_token(h, &payload(nats), &acc, false));
    assert_eq!(dec(json!({"version": 2})), Err(JwtError::MissingType));
    assert_eq!(
        dec(json!({"type": "server", "version": 2})),
        Err(JwtError::UnsupportedType("server".into()))
    );
    assert_eq!(
        dec(json!({"type": "user", "version": 3})),
        Err(JwtError::Version(3))
    );
    assert_eq!(dec(json!({"type": "user"})), Err(JwtError::Version(0)));
    assert!(matches!(
        dec(json!({"type": "user", "version": 2, "pub": 5})),
        Err(JwtError::Json(Part::Payload, _))
    ));
    assert!(matches!(
        dec(json!({"type": "user", "version": "2"})),
        Err(JwtError::Json(Part::Payload, _))
    ));
    // Go tolerates null anywhere in an object.
    assert!(
        dec(json!({"type": "user", "version": 2, "pub": null, "src": null, "tags": null})).is_ok()
    );
    let sig = decode(&raw_token(
        h,
        &payload(json!({"type": "authorization_request", "version": 2})),
        &acc,
        false,
    ));
    assert_eq!(
        sig,
        Err(JwtError::IssuerKey(acc.public_key())),
        "auth requests are the server's"
    );
    let srv = key(KeyPairType::Server, 10);
    let p = json!({"iss": srv.public_key(), "sub": user.public_key(),
        "nats": {"type": "authorization_request", "version": 2, "user_nkey": "U"}})
    .to_string();
    let jwt = decode(&raw_token(h, &p, &srv, false)).unwrap();
    assert_eq!(jwt.claims.kind(), ClaimKind::AuthorizationRequest);
    assert!(
        jwt.payload.contains("user_nkey"),
        "the raw payload keeps what is not typed"
    );
}

proptest! {
    #[test]
    fn random_text_never_panics(s in ".{0,300}") {
        let _ = decode(&s);
    }

    #[test]
    fn random_parts_never_panic(h in proptest::collection::vec(any::<u8>(), 0..60),
                                p in proptest::collection::vec(any::<u8>(), 0..200),
                                s in proptest::collection::vec(any::<u8>(), 0..70)) {
        let _ = decode(&format!("{}.{}.{}", b64(&h), b64(&p), b64(&s)));
        let _ = decode(&format!("{GO_HEADER_B64}.{}.{}", b64(&p), b64(&s)));
    }

    #[test]
    fn mutated_fixtures_never_panic(i in 0usize..1600, c in any::<char>()) {
        for t in [SYS_ACCOUNT.trim(), TEST_USER.trim()] {
            let mut s: Vec<char> = t.chars().collect();
            let i = i % s.len();
            s[i] = c;
            let s: String = s.into_iter().collect();
            if let Ok(jwt) = decode(&s) {
                // Only a change the signature does not cover may pass (the trailing bits of
                // its last character): the claims are the original's.
                prop_assert_eq!(jwt.claims, decode(t).unwrap().claims);
            }
        }
    }

    #[test]
    fn random_json_claims_never_panic(nats in "[{}\\[\\]\",:a-z0-9 .*>-]{0,120}") {
        let acc = key(KeyPairType::Account, 13);
        let p = format!(r#"{{"iss":"{}","sub":"x","nats":{{"type":"user","version":2,"pub":{nats}}}}}"#, acc.public_key());
        let t = raw_token(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#, &p, &acc, false);
        if let Ok(jwt) = decode(&t) {
            let Claims::User(u) = jwt.claims else { panic!() };
            let _ = u.permissions();
            let _ = u.validate(0);
        }
    }
}
