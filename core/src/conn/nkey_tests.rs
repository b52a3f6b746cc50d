//! nkey users: the INFO nonce, the signature check, replay, and the decision off the
//! serving thread.

use super::test_util::{nop, recv, T0};
use super::*;
use crate::auth::User;
use crate::options::Options;

/// The official Rust client's nkey test user.
const SEED: &str = "SUACH75SWCM5D2JMJM6EKLR2WDARVGZT4QC6LX3AGHSWOMVAKERABBBRWM";
const PUBLIC: &str = "UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE";

fn server() -> Shared {
    let mut o = Options::default();
    o.auth.users = vec![
        User {
            name: PUBLIC.into(),
            nkey: Some(PUBLIC.into()),
            ..User::default()
        },
        User {
            name: "plain".into(),
            password: "pw".into(),
            ..User::default()
        },
    ];
    Shared::new(o, "NTEST".into(), T0)
}

/// The nonce in an INFO line, if any.
fn nonce(info: &str) -> Option<String> {
    let json = info.strip_prefix("INFO ")?.trim_end();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v.get("nonce").map(|n| n.as_str().unwrap().to_string())
}

fn sign(nonce: &str) -> String {
    let kp = nkeys::KeyPair::from_seed(SEED).unwrap();
    data_encoding::BASE64URL_NOPAD.encode(&kp.sign(nonce.as_bytes()).unwrap())
}

fn connect(c: &mut Connection, sh: &Shared, sig: &str) -> String {
    let line =
        format!("CONNECT {{\"verbose\":true,\"nkey\":\"{PUBLIC}\",\"sig\":\"{sig}\"}}\r\nPING\r\n");
    // A refused CONNECT closes: the read returns the reason, the -ERR is queued.
    let _ = c.handle_read(T0, line.as_bytes(), sh);
    recv(c)
}

#[test]
fn info_carries_a_fresh_nonce_only_with_nkey_users() {
    let sh = server();
    let a = nonce(&recv(&Connection::accept(&sh, T0, None, nop()))).unwrap();
    let b = nonce(&recv(&Connection::accept(&sh, T0, None, nop()))).unwrap();
    assert_eq!(a.len(), 15, "11 bytes in base64url, as Go");
    assert!(a
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    assert_ne!(a, b, "one nonce per connection");
    let plain = Shared::new(Options::default(), "NTEST".into(), T0);
    assert_eq!(
        nonce(&recv(&Connection::accept(&plain, T0, None, nop()))),
        None
    );
}

#[test]
fn a_signed_nonce_logs_in_and_anything_else_is_refused() {
    let sh = server();
    let mut good = Connection::accept(&sh, T0, None, nop());
    let n = nonce(&recv(&good)).unwrap();
    assert_eq!(connect(&mut good, &sh, &sign(&n)), "+OK\r\nPONG\r\n");
    assert_eq!(
        sh.client_info(good.cid()).unwrap().user.as_deref(),
        Some(PUBLIC)
    );

    // A signature of another nonce (replayed from the connection above) is refused.
    let mut replay = Connection::accept(&sh, T0, None, nop());
    let _ = recv(&replay);
    assert_eq!(
        connect(&mut replay, &sh, &sign(&n)),
        "-ERR 'Authorization Violation'\r\n"
    );
    assert_eq!(replay.st.closed, Some(CloseReason::AuthenticationViolation));

    for sig in ["", "garbage!", "AAAA"] {
        let mut bad = Connection::accept(&sh, T0, None, nop());
        let _ = recv(&bad);
        assert_eq!(
            connect(&mut bad, &sh, sig),
            "-ERR 'Authorization Violation'\r\n",
            "{sig:?}"
        );
    }

    // No sig at all.
    let mut none = Connection::accept(&sh, T0, None, nop());
    let _ = recv(&none);
    let line = format!("CONNECT {{\"verbose\":true,\"nkey\":\"{PUBLIC}\"}}\r\n");
    let _ = none.handle_read(T0, line.as_bytes(), &sh);
    assert_eq!(recv(&none), "-ERR 'Authorization Violation'\r\n");

    // The password users still work beside the nkey users, and cannot pose as one.
    let mut plain = Connection::accept(&sh, T0, None, nop());
    let _ = recv(&plain);
    plain
        .handle_read(
            T0,
            b"CONNECT {\"verbose\":true,\"user\":\"plain\",\"pass\":\"pw\"}\r\n",
            &sh,
        )
        .unwrap();
    assert_eq!(recv(&plain), "+OK\r\n");
    let mut pose = Connection::accept(&sh, T0, None, nop());
    let _ = recv(&pose);
    let line = format!("CONNECT {{\"verbose\":true,\"user\":\"{PUBLIC}\",\"pass\":\"\"}}\r\n");
    let _ = pose.handle_read(T0, line.as_bytes(), &sh);
    assert_eq!(recv(&pose), "-ERR 'Authorization Violation'\r\n");
}

/// Signature checks are decided off the serving thread, as bcrypt is; nothing the client
/// sent after CONNECT is processed before the decision.
#[test]
fn the_signature_is_checked_through_the_auth_request() {
    let sh = server();
    let mut c = Connection::accept(&sh, T0, None, nop());
    let n = nonce(&recv(&c)).unwrap();
    let line = format!(
        "CONNECT {{\"verbose\":false,\"nkey\":\"{PUBLIC}\",\"sig\":\"{}\"}}\r\nPING\r\n",
        sign(&n)
    );
    let used = c.handle_read_paced(T0, line.as_bytes(), &sh).unwrap();
    assert!(used < line.len(), "stopped after CONNECT");
    let req = c
        .poll_auth_request()
        .expect("an nkey is checked off-thread");
    assert_eq!(recv(&c), "", "nothing answered before the decision");
    c.handle_auth_decision(T0, req.decide(), &sh);
    let rest = c
        .handle_read_paced(T0, &line.as_bytes()[used..], &sh)
        .unwrap();
    assert_eq!(used + rest, line.len());
    assert_eq!(recv(&c), "PONG\r\n");
}
