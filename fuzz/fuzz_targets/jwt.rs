//! JWTs: arbitrary text into `jwt::decode`, and arbitrary claims signed with fixed keys (so
//! the claims parser and every check run, past the signature) into the checks an account
//! makes of its users. Never a panic, never unbounded work.
//!
//! Input without a NUL byte is a token. Input with one is `account \0 user [\0 mode]`: the
//! account claims are signed by the operator key [`OPERATOR`], the user claims by the account
//! key [`ACCOUNT`] (mode `s`: by its signing key [`SIGNER`], which an account's
//! `signing_keys` may list, scoped or not).
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use natsd_core::jwt::{self, Claims};
use nkeys::{KeyPair, KeyPairType};

/// The fixed keys' raw seeds; their public keys are `OD…`/`AD…`/`AC…`-like strings the seeds
/// in `seeds/jwt/` spell out.
const OPERATOR: [u8; 32] = [1; 32];
const ACCOUNT: [u8; 32] = [2; 32];
const SIGNER: [u8; 32] = [3; 32];

fn sign(payload: &str, kp: &KeyPair) -> String {
    let enc = &data_encoding::BASE64URL_NOPAD;
    let mut t = enc.encode(jwt::HEADER_JSON.as_bytes());
    t.push('.');
    t.push_str(&enc.encode(payload.as_bytes()));
    let sig = kp.sign(t.as_bytes()).unwrap();
    t.push('.');
    t.push_str(&enc.encode(&sig));
    t
}

fn exercise_user(u: &jwt::UserPermissionLimits) {
    let _ = u.permissions();
    for ip in ["10.1.2.3", "::1", "::ffff:192.168.0.1"] {
        let _ = u.allows_source(ip.parse::<IpAddr>().unwrap());
    }
    for now in [i64::MIN, -1, 0, 1_700_000_000, i64::MAX] {
        let _ = u.time_access(now);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if !text.contains('\0') {
        if let Ok(t) = jwt::decode(text) {
            let _ = jwt::check_times(t.claims.common(), 1_700_000_000);
            if let Claims::User(u) = &t.claims {
                exercise_user(&u.user);
                let _ = u.validate(0);
            }
        }
        return;
    }
    let mut parts = text.splitn(3, '\0');
    let (account, user) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let scoped = parts.next() == Some("s");
    let op = KeyPair::new_from_raw(KeyPairType::Operator, OPERATOR).unwrap();
    let acc = KeyPair::new_from_raw(KeyPairType::Account, ACCOUNT).unwrap();
    let sk = KeyPair::new_from_raw(KeyPairType::Account, SIGNER).unwrap();
    let account = jwt::decode_account(&sign(account, &op));
    let user = jwt::decode_user(&sign(user, if scoped { &sk } else { &acc }));
    if let Ok(u) = &user {
        exercise_user(&u.user);
        let _ = u.validate(1_700_000_000);
    }
    if let Ok(a) = &account {
        let _ = a.account.default_permissions.to_auth();
        let _ = a.is_revoked("UAAAA", 5);
        if let Ok(u) = &user {
            for strict in [false, true] {
                let _ = a.user_signer(u, strict);
                if let Ok(limits) = a.user_limits(u, strict) {
                    exercise_user(&limits);
                }
            }
            let _ = a.is_revoked(&u.common.sub, u.common.iat);
        }
    }
});
