//! The auth callout's response path: whatever a service answers (raw bytes, or claims of
//! its own signed with the issuer's key, so the checks past the signature run too) is
//! decided without panicking; a client is let in only into a configured account, and a
//! finished request leaves nothing in flight.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use natsd_core::auth::User;
use natsd_core::callout::CalloutOptions;
use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::options::{AccountOptions, Options};
use natsd_core::shared::Shared;
use natsd_core::Time;
use nkeys::{KeyPair, KeyPairType};

struct Nop;
impl Notify for Nop {
    fn notify(&self) {}
}

#[derive(Debug, Arbitrary)]
enum Answer {
    /// These bytes, as they are.
    Raw(Vec<u8>),
    /// A response of these claims (JSON text), aimed at the right user and server, with a
    /// user JWT of these other claims, both signed by the issuer.
    Signed { response: String, user: String, aim: bool },
    /// No answer: the timeout.
    Silence,
}

fn account(name: &str) -> AccountOptions {
    AccountOptions {
        name: name.into(),
        exports: Vec::new(),
        imports: Vec::new(),
        limits: Default::default(),
        publish_rate: None,
        mappings: Vec::new(),
    }
}

fn take(c: &Connection) -> String {
    let mut out = Vec::new();
    c.handle().take(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fuzz_target!(|answer: Answer| {
    let issuer = KeyPair::new_from_raw(KeyPairType::Account, [7; 32]).unwrap();
    let key = KeyPair::new_from_raw(KeyPairType::Server, [5; 32]).unwrap();
    let server_id = key.public_key();
    let mut o = Options::default();
    o.accounts = vec![account("AUTH"), account("APP")];
    o.auth.users = vec![User {
        name: "auth".into(),
        password: "pwd".into(),
        account: Some("AUTH".into()),
        ..User::default()
    }];
    o.auth.callout = Some(CalloutOptions {
        issuer: issuer.public_key(),
        account: "AUTH".into(),
        auth_users: vec!["auth".into()],
        ..Default::default()
    });
    let now = Time::from_nanos(1_000_000_000);
    let sh = Shared::new(o, server_id.clone(), now);
    sh.set_server_key(key);
    let mut svc = Connection::accept(&sh, now, None, Arc::new(Nop));
    let _ = svc.handle_read(
        now,
        b"CONNECT {\"verbose\":false,\"user\":\"auth\",\"pass\":\"pwd\"}\r\nSUB $SYS.REQ.USER.AUTH 1\r\n",
        &sh,
    );
    let _ = take(&svc);
    let mut c = Connection::accept(&sh, now, None, Arc::new(Nop));
    let _ = c.handle_read_paced(now, b"CONNECT {\"user\":\"x\",\"pass\":\"y\"}\r\n", &sh);
    let req = c.poll_auth_request().expect("the callout decides");
    let pending = natsd_core::callout::begin(&sh, &req, now).expect("the request goes out");
    let got = take(&svc);
    let request = got.lines().nth(1).unwrap_or_default().to_string();
    let claims: serde_json::Value = natsd_core::jwt::decode(&request)
        .ok()
        .and_then(|j| serde_json::from_str(&j.payload).ok())
        .expect("our own request decodes");
    let user_nkey = claims["nats"]["user_nkey"].as_str().unwrap_or_default().to_string();
    let reply = match answer {
        Answer::Raw(b) => Some(b),
        Answer::Silence => None,
        Answer::Signed { response, user, aim } => {
            let mut r: serde_json::Value =
                serde_json::from_str(&response).unwrap_or(serde_json::json!({}));
            let mut u: serde_json::Value =
                serde_json::from_str(&user).unwrap_or(serde_json::json!({}));
            if aim && r.is_object() && u.is_object() {
                r["sub"] = user_nkey.clone().into();
                r["aud"] = server_id.clone().into();
                u["sub"] = user_nkey.clone().into();
                if let Ok(t) = natsd_core::jwt::encode(&u, &issuer) {
                    if r["nats"].is_object() {
                        r["nats"]["jwt"] = t.into();
                    }
                }
            }
            natsd_core::jwt::encode(&r, &issuer)
                .ok()
                .map(String::into_bytes)
        }
    };
    let decision = natsd_core::callout::finish(&sh, &req, &pending, reply, now);
    drop(pending);
    assert_eq!(sh.callouts().in_flight(), 0);
    let accepted = decision.is_accept();
    c.handle_auth_decision(now, decision, &sh);
    if accepted && !c.is_closed() {
        let info = sh.client_info(c.cid()).expect("a live client is registered");
        assert!(
            ["$G", "AUTH", "APP", "$SYS"].contains(&info.account.as_str()),
            "placed in an unknown account {:?}",
            info.account
        );
    }
});
