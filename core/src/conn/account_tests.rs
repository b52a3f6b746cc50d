//! Accounts: isolation between them, binding at CONNECT, and the system account's internal
//! responder.

use super::test_util::{nop, T0};
use super::*;
use crate::auth::User;
use crate::options::Options;

fn user(name: &str, account: Option<&str>) -> User {
    User {
        name: name.into(),
        password: "pw".into(),
        permissions: None,
        account: account.map(str::to_string),
        publish_rate: None,
        nkey: None,
    }
}

/// Users in A, B, $SYS and $G (no account named).
fn server() -> Shared {
    let mut o = Options::default();
    o.auth.users = vec![
        user("a1", Some("A")),
        user("a2", Some("A")),
        user("b1", Some("B")),
        user("g1", None),
        user("sys", Some("$SYS")),
    ];
    Shared::new(o, "NTEST".into(), T0)
}

fn login(sh: &Shared, name: &str) -> Connection {
    let mut c = Connection::accept(sh, T0, None, nop());
    let connect = format!(
        "CONNECT {{\"verbose\":false,\"headers\":true,\"no_responders\":true,\"user\":\"{name}\",\"pass\":\"pw\"}}\r\n"
    );
    c.handle_read(T0, connect.as_bytes(), sh).unwrap();
    drain(&c);
    c
}

fn drain(c: &Connection) -> String {
    let mut out = Vec::new();
    c.handle().take(&mut out);
    String::from_utf8(out).unwrap()
}

fn send(c: &mut Connection, sh: &Shared, s: &str) {
    c.handle_read(T0, s.as_bytes(), sh).unwrap();
}

#[test]
fn accounts_never_see_each_others_messages() {
    let sh = server();
    let names = ["a1", "a2", "b1", "g1"];
    let mut conns: Vec<Connection> = names.iter().map(|n| login(&sh, n)).collect();
    for c in conns.iter_mut() {
        send(c, &sh, "SUB foo 1\r\nSUB > 2\r\n");
    }
    // Each publishes once, with its name as the payload.
    for (c, name) in conns.iter_mut().zip(names) {
        send(c, &sh, &format!("PUB foo 2\r\n{}\r\n", &name[..2]));
    }
    let got: Vec<String> = conns.iter().map(drain).collect();
    let from = |s: &str, who: &str| s.matches(&format!("\r\n{who}\r\n")).count();
    // a1 and a2 share account A: each gets both A messages on both subscriptions.
    for g in &got[..2] {
        assert_eq!((from(g, "a1"), from(g, "a2")), (2, 2), "{g}");
        assert_eq!((from(g, "b1"), from(g, "g1")), (0, 0), "{g}");
    }
    assert_eq!((from(&got[2], "b1"), got[2].matches("MSG").count()), (2, 2));
    assert_eq!((from(&got[3], "g1"), got[3].matches("MSG").count()), (2, 2));
    // The registry, the accounts and monitoring agree.
    assert_eq!(sh.num_clients_in("A"), 2);
    assert_eq!(sh.num_clients_in("B"), 1);
    assert_eq!(sh.num_clients_in("$G"), 1);
    assert_eq!(
        sh.account("A").unwrap().num_subscriptions(),
        4 + crate::imports::SYSTEM_IMPORTS
    );
    assert_eq!(
        sh.global_account().num_subscriptions(),
        2 + crate::imports::SYSTEM_IMPORTS
    );
    let names: Vec<String> = sh.accounts().iter().map(|a| a.name.clone()).collect();
    assert_eq!(names, ["$G", "$SYS", "A", "B"]);
}

/// A request to `$SYS.REQ.SERVER.PING` from the system account is answered inside the
/// server (no socket behind the subscription), in the same read batch.
#[test]
fn system_account_answers_server_ping() {
    let sh = server();
    let mut s = login(&sh, "sys");
    send(
        &mut s,
        &sh,
        "SUB _INBOX.me 1\r\nPUB $SYS.REQ.SERVER.PING _INBOX.me 0\r\n\r\n",
    );
    let got = drain(&s);
    assert!(got.starts_with("MSG _INBOX.me 1 "), "{got}");
    let json = got.split("\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["server"]["id"], "NTEST");
    assert_eq!(v["server"]["seq"], 1);
    assert_eq!(v["statsz"]["connections"], 1);
    // Accounts with clients (Go's count): $SYS only, so far.
    assert_eq!(v["statsz"]["active_accounts"], 1);
    // Outside the system account the subject is an ordinary, unanswered one.
    let mut g = login(&sh, "g1");
    send(
        &mut g,
        &sh,
        "SUB _INBOX.g 1\r\nHPUB $SYS.REQ.SERVER.PING _INBOX.g 12 12\r\nNATS/1.0\r\n\r\n\r\n",
    );
    let got = drain(&g);
    assert!(got.contains("NATS/1.0 503"), "no responders in $G: {got}");
}
