//! The system account's events and requests, driven through real connections: who gets
//! what, in which shape, and that nothing is built or sent when nobody listens.

use std::sync::Arc;

use serde_json::Value;

use crate::auth::User;
use crate::client::Notify;
use crate::conn::Connection;
use crate::options::{AccountOptions, Options};
use crate::shared::Shared;
use crate::Time;

struct Nop;
impl Notify for Nop {
    fn notify(&self) {}
}

const T0: Time = Time::from_nanos(1_000_000_000);

fn user(name: &str, account: &str) -> User {
    User {
        name: name.into(),
        password: name.into(),
        permissions: None,
        account: Some(account.into()),
        publish_rate: None,
        nkey: None,
    }
}

/// Accounts SYS (the system account) and A, a user in each.
fn server() -> Arc<Shared> {
    let o = Options {
        accounts: vec![
            AccountOptions {
                name: "SYS".into(),
                ..AccountOptions::default()
            },
            AccountOptions {
                name: "A".into(),
                ..AccountOptions::default()
            },
        ],
        system_account: Some("SYS".into()),
        ..Options::default()
    };
    let mut o = o;
    o.auth.users = vec![user("sys", "SYS"), user("a", "A")];
    Arc::new(Shared::new(o, "NSRV".into(), T0))
}

fn login(sh: &Shared, name: &str, ops: &str) -> Connection {
    let mut c = Connection::accept(sh, T0, None, Arc::new(Nop));
    c.handle().take(&mut Vec::new());
    let connect =
        format!("CONNECT {{\"verbose\":false,\"user\":\"{name}\",\"pass\":\"{name}\"}}\r\n{ops}");
    c.handle_read(T0, connect.as_bytes(), sh).unwrap();
    c
}

fn recv(c: &Connection) -> String {
    let mut out = Vec::new();
    c.handle().take(&mut out);
    String::from_utf8(out).unwrap()
}

/// The MSGs in `raw`: (subject, JSON body).
fn msgs(raw: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut lines = raw.split("\r\n");
    while let Some(l) = lines.next() {
        if let Some(rest) = l.strip_prefix("MSG ") {
            let subject = rest.split(' ').next().unwrap().to_string();
            let body = lines.next().unwrap();
            out.push((subject, serde_json::from_str(body).unwrap_or(Value::Null)));
        }
    }
    out
}

#[test]
fn connect_and_disconnect_events_in_gos_order_and_shape() {
    let sh = server();
    let sys = login(&sh, "sys", "SUB $SYS.ACCOUNT.> 1\r\n");
    recv(&sys);
    let mut a = login(&sh, "a", "PUB x 2\r\nhi\r\n");
    let got = msgs(&recv(&sys));
    let subjects: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        ["$SYS.ACCOUNT.A.SERVER.CONNS", "$SYS.ACCOUNT.A.CONNECT"]
    );
    let conns = &got[0].1;
    assert_eq!(
        conns["type"],
        "io.nats.server.advisory.v1.account_connections"
    );
    assert_eq!(conns["acc"], "A");
    assert_eq!(conns["conns"], 1);
    let connect = &got[1].1;
    assert_eq!(connect["type"], "io.nats.server.advisory.v1.client_connect");
    assert_eq!(connect["id"].as_str().unwrap().len(), 22);
    assert_eq!(connect["server"]["id"], "NSRV");
    assert_eq!(connect["client"]["acc"], "A");
    assert_eq!(connect["client"]["user"], "a");
    assert_eq!(connect["client"]["kind"], "Client");
    assert_eq!(connect["client"]["client_type"], "nats");
    // Sequence numbers grow across events.
    assert!(connect["server"]["seq"].as_u64() > conns["server"]["seq"].as_u64());
    a.handle_read(T0, b"PUB x 3\r\nbye\r\n", &sh).unwrap();
    a.handle_close(T0, &sh, crate::errors::CloseReason::ClientClosed);
    let got = msgs(&recv(&sys));
    let subjects: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        ["$SYS.ACCOUNT.A.SERVER.CONNS", "$SYS.ACCOUNT.A.DISCONNECT"]
    );
    assert_eq!(got[0].1["conns"], 0);
    let d = &got[1].1;
    assert_eq!(d["type"], "io.nats.server.advisory.v1.client_disconnect");
    assert_eq!(d["reason"], "Client Closed");
    // The client's side: what it sent.
    assert_eq!(d["sent"]["msgs"], 2);
    assert_eq!(d["sent"]["bytes"], 5);
}

#[test]
fn other_accounts_never_see_system_events() {
    let sh = server();
    let a = login(&sh, "a", "SUB $SYS.> 1\r\nSUB > 2\r\n");
    recv(&a);
    let _b = login(&sh, "a", "");
    let _s = login(&sh, "sys", "");
    assert_eq!(recv(&a), "");
}

#[test]
fn a_refused_login_is_an_auth_error_event() {
    let sh = server();
    let sys = login(&sh, "sys", "SUB $SYS.SERVER.*.CLIENT.AUTH.ERR 1\r\n");
    recv(&sys);
    let mut bad = Connection::accept(&sh, T0, None, Arc::new(Nop));
    let _ = bad.handle_read(
        T0,
        b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"wrong\"}\r\n",
        &sh,
    );
    let got = msgs(&recv(&sys));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "$SYS.SERVER.NSRV.CLIENT.AUTH.ERR");
    assert_eq!(got[0].1["reason"], "Authentication Failure");
    assert_eq!(got[0].1["client"]["user"], "a");
}

fn request(sh: &Shared, sys: &mut Connection, subject: &str, body: &str) -> Vec<Value> {
    let ops = format!("PUB {subject} _INBOX.r {}\r\n{body}\r\n", body.len());
    sys.handle_read(T0, ops.as_bytes(), sh).unwrap();
    msgs(&recv(sys)).into_iter().map(|(_, v)| v).collect()
}

#[test]
fn requests_answer_with_the_monitor_documents() {
    let sh = server();
    let mut sys = login(&sh, "sys", "SUB _INBOX.r 1\r\n");
    let _a = login(&sh, "a", "SUB foo 1\r\n");
    recv(&sys);
    let r = request(&sh, &mut sys, "$SYS.REQ.SERVER.PING", "");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["statsz"]["connections"], 2);
    assert!(
        r[0]["statsz"]["cpu"].is_u64(),
        "Go writes a whole cpu as an integer"
    );
    let r = request(&sh, &mut sys, "$SYS.REQ.SERVER.NSRV.VARZ", "");
    assert_eq!(r[0]["data"]["server_id"], "NSRV");
    let r = request(
        &sh,
        &mut sys,
        "$SYS.REQ.SERVER.PING.CONNZ",
        r#"{"acc":"A"}"#,
    );
    assert_eq!(r[0]["data"]["num_connections"], 1);
    let r = request(&sh, &mut sys, "$SYS.REQ.SERVER.PING.IDZ", "");
    assert_eq!(r[0]["id"], "NSRV");
    assert!(r[0].get("server").is_none(), "IDZ is bare");
    // Another server's id: not for us.
    assert!(request(&sh, &mut sys, "$SYS.REQ.SERVER.NOTME.VARZ", "").is_empty());
    // A filter naming another server: silence.
    assert!(request(
        &sh,
        &mut sys,
        "$SYS.REQ.SERVER.PING.VARZ",
        r#"{"server_name":"zz"}"#
    )
    .is_empty());
    let r = request(&sh, &mut sys, "$SYS.REQ.ACCOUNT.A.SUBSZ", "");
    let list = r[0]["data"]["subscriptions_list"].as_array().unwrap();
    // Its own and the four it imports from the system account (Go lists them too).
    assert_eq!(list.len(), 1 + crate::imports::SYSTEM_IMPORTS);
    assert!(list.iter().any(|s| s["subject"] == "foo"));
    let r = request(&sh, &mut sys, "$SYS.REQ.ACCOUNT.A.STATZ", "");
    assert_eq!(r[0]["data"]["account_statz"][0]["conns"], 1);
    let r = request(&sh, &mut sys, "$SYS.REQ.ACCOUNT.A.CONNS", "");
    assert_eq!(
        r[0]["type"],
        "io.nats.server.advisory.v1.account_connections"
    );
    // A bad body: 400 and no data; a handler error: 500 and data null (Go).
    let r = request(&sh, &mut sys, "$SYS.REQ.SERVER.PING.VARZ", "not json");
    assert_eq!(r[0]["error"]["code"], 400);
    assert!(r[0].get("data").is_none());
    let r = request(
        &sh,
        &mut sys,
        "$SYS.REQ.SERVER.PING.CONNZ",
        r#"{"sort":"bogus"}"#,
    );
    assert_eq!(r[0]["error"]["code"], 500);
    assert_eq!(
        r[0]["error"]["description"],
        "invalid sorting option: bogus"
    );
    assert!(r[0]["data"].is_null() && r[0].get("data").is_some());
}

#[test]
fn kick_and_ldm_act_on_one_client() {
    let sh = server();
    let mut sys = login(&sh, "sys", "SUB _INBOX.r 1\r\n");
    let a = login(&sh, "a", "");
    recv(&sys);
    let cid = a.handle().cid;
    let r = request(
        &sh,
        &mut sys,
        "$SYS.REQ.SERVER.NSRV.LDM",
        &format!("{{\"cid\":{cid}}}"),
    );
    assert!(r[0].get("server").is_some() && r[0].get("error").is_none());
    assert!(recv(&a).contains("\"ldm\":true"));
    let r = request(
        &sh,
        &mut sys,
        "$SYS.REQ.SERVER.NSRV.KICK",
        &format!("{{\"cid\":{cid}}}"),
    );
    assert!(r[0].get("error").is_none());
    assert!(a.handle().close_reason().is_some());
    let r = request(
        &sh,
        &mut sys,
        "$SYS.REQ.SERVER.NSRV.KICK",
        r#"{"cid":9999}"#,
    );
    assert_eq!(
        r[0]["error"]["description"],
        "no such client or leafnode id"
    );
    assert!(request(&sh, &mut sys, "$SYS.REQ.SERVER.NSRV.KICK", "").is_empty());
}

#[test]
fn nothing_is_built_when_nobody_listens() {
    let sh = server();
    let before = sh.event_seq.load(std::sync::atomic::Ordering::Relaxed);
    let mut a = login(&sh, "a", "");
    a.handle_close(T0, &sh, crate::errors::CloseReason::ClientClosed);
    crate::events::statsz(&sh, T0);
    assert_eq!(
        sh.event_seq.load(std::sync::atomic::Ordering::Relaxed),
        before
    );
}

#[test]
fn every_account_asks_about_itself_through_its_system_imports() {
    let sh = server();
    let _sys = login(&sh, "sys", "");
    let mut a = login(&sh, "a", "SUB _INBOX.r 1\r\n");
    let _a2 = login(&sh, "a", "");
    recv(&a);
    let r = request(&sh, &mut a, "$SYS.REQ.USER.INFO", "");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["data"]["user"], "a");
    assert_eq!(r[0]["data"]["account"], "A");
    assert_eq!(r[0]["data"]["account_name"], "A");
    // Its own connections only, through either subject.
    for subject in ["$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"] {
        let r = request(&sh, &mut a, subject, "");
        assert_eq!(r[0]["data"]["num_connections"], 2, "{subject}: {r:?}");
    }
    let r = request(&sh, &mut a, "$SYS.REQ.ACCOUNT.PING.STATZ", "");
    let stats = r[0]["data"]["account_statz"].as_array().unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0]["acc"], "A");
    // Nothing else of the system account is reachable.
    assert!(request(&sh, &mut a, "$SYS.REQ.SERVER.PING.VARZ", "").is_empty());
}

/// Each account's imports from the system account have their own `_R_` prefixes (they once
/// shared one: a response could then resolve in another account's table of waiting
/// requests).
#[test]
fn every_accounts_system_imports_have_their_own_response_subjects() {
    let sh = server();
    let sys = sh.system_account();
    let prefixes: std::collections::BTreeSet<Vec<u8>> = sys
        .all_subscriptions()
        .iter()
        .filter(|s| s.subject().starts_with(b"_R_."))
        .map(|s| s.subject().to_vec())
        .collect();
    // $G and A (SYS imports nothing from itself), four services each.
    assert_eq!(prefixes.len(), 2 * crate::imports::SYSTEM_IMPORTS);
}

#[test]
fn rebalancez_reports_the_rebalancer() {
    let sh = server();
    let mut sys = login(&sh, "sys", "SUB _INBOX.r 1\r\n");
    recv(&sys);
    let r = request(&sh, &mut sys, "$SYS.REQ.SERVER.NSRV.REBALANCEZ", "");
    assert_eq!(r[0]["data"]["enabled"], false);
    assert_eq!(r[0]["data"]["shed"], 0);
    assert!(r[0]["data"]["plan"].is_null());
    // A one-off round on a server without rebalancing: answered, nothing asked of the node.
    let r = request(&sh, &mut sys, "$SYS.REQ.SERVER.NSRV.REBALANCE", "");
    assert_eq!(r[0]["data"]["enabled"], false);
    assert!(sh.take_node_inputs().is_empty());
}
