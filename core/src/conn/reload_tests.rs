//! The reload hook: `Shared::apply_reload` then `Connection::handle_config_change`.

use super::*;

fn user(name: &str, pass: &str) -> User {
    User {
        name: name.into(),
        password: pass.into(),
        permissions: None,
        account: None,
        publish_rate: None,
        nkey: None,
    }
}

fn two_users() -> Options {
    let mut o = Options::default();
    o.auth.users = vec![user("u1", "p1"), user("u2", "p2")];
    o
}

fn login(name: &str, pass: &str) -> String {
    format!(r#"{{"verbose":false,"pedantic":false,"user":"{name}","pass":"{pass}"}}"#)
}

/// Applies `opts` as a reload and runs the hook on every client.
fn reload(sh: &Shared, opts: &Options, clients: &mut [&mut Client]) {
    sh.apply_reload(opts);
    for c in clients.iter_mut() {
        c.conn.handle_config_change(secs(1.0), sh);
    }
}

#[test]
fn removed_user_is_kicked_others_keep_subscriptions() {
    let sh = shared(two_users());
    let mut a = Client::connected(&sh, &login("u1", "p1"));
    let mut b = Client::connected(&sh, &login("u2", "p2"));
    a.send(&sh, "SUB foo 1\r\n").unwrap();
    b.send(&sh, "SUB foo 1\r\n").unwrap();
    let mut o = two_users();
    o.auth.users.truncate(1);
    reload(&sh, &o, &mut [&mut a, &mut b]);
    assert_eq!(b.closed(), Some(CloseReason::AuthenticationViolation));
    assert_eq!(b.recv(), "-ERR 'Authorization Violation'\r\n");
    assert_eq!(a.closed(), None);
    assert_eq!(a.conn.num_subscriptions(), 1);
    assert_eq!(
        sh.global_account().num_subscriptions(),
        1 + crate::imports::SYSTEM_IMPORTS
    );
    // a keeps receiving on its old subscription, published by itself.
    a.send(&sh, "PUB foo 2\r\nhi\r\n").unwrap();
    assert_eq!(a.recv(), "MSG foo 1 2\r\nhi\r\n");
    assert_eq!(sh.num_clients(), 1);
}

#[test]
fn changed_password_kicks() {
    let sh = shared(two_users());
    let mut a = Client::connected(&sh, &login("u1", "p1"));
    let mut b = Client::connected(&sh, &login("u2", "p2"));
    let mut o = two_users();
    o.auth.users[0].password = "new".into();
    reload(&sh, &o, &mut [&mut a, &mut b]);
    assert_eq!(a.closed(), Some(CloseReason::AuthenticationViolation));
    assert_eq!(b.closed(), None);
    // A new client with the new password gets in.
    let c = Client::connected(&sh, &login("u1", "new"));
    assert_eq!(c.closed(), None);
}

#[test]
fn auth_turned_on_kicks_anonymous_clients() {
    let sh = shared(Options::default());
    let mut a = Client::connected(&sh, QUIET);
    reload(&sh, &two_users(), &mut [&mut a]);
    assert_eq!(a.closed(), Some(CloseReason::AuthenticationViolation));
}

#[test]
fn new_max_payload_is_enforced() {
    let sh = shared(Options::default());
    let mut a = Client::connected(&sh, QUIET);
    a.send(&sh, "PUB foo 20\r\n01234567890123456789\r\n")
        .unwrap();
    let o = Options {
        max_payload: 10,
        ..Options::default()
    };
    reload(&sh, &o, &mut [&mut a]);
    assert_eq!(a.conn.parser.limits().max_payload, 10);
    a.send(&sh, "PUB foo 5\r\nhello\r\n").unwrap();
    assert_eq!(
        a.send(&sh, "PUB foo 11\r\n01234567890\r\n"),
        Err(CloseReason::MaxPayloadExceeded)
    );
    assert!(a.recv().ends_with("-ERR 'Maximum Payload Violation'\r\n"));
    // New clients are told the new limit in INFO.
    let mut b = Client::new(&sh);
    assert!(b.recv().contains("\"max_payload\":10,"));
}

#[test]
fn permissions_are_updated_and_forbidden_subs_removed() {
    let sh = shared(two_users());
    let mut a = Client::connected(&sh, &login("u1", "p1"));
    a.send(&sh, "SUB foo 1\r\nSUB bar 2\r\n").unwrap();
    let mut o = two_users();
    o.auth.users[0].permissions = Some(Permissions {
        publish: Some(SubjectPermission {
            allow: Some(vec!["foo".into()]),
            deny: vec![],
        }),
        subscribe: Some(SubjectPermission {
            allow: Some(vec!["foo".into()]),
            deny: vec![],
        }),
        allow_responses: None,
    });
    reload(&sh, &o, &mut [&mut a]);
    assert_eq!(a.closed(), None);
    assert_eq!(
        a.recv(),
        "-ERR 'Permissions Violation for Subscription to \"bar\" (sid \"2\")'\r\n"
    );
    assert_eq!(a.conn.num_subscriptions(), 1);
    a.send(&sh, "PUB bar 1\r\nx\r\n").unwrap();
    assert_eq!(
        a.recv(),
        "-ERR 'Permissions Violation for Publish to \"bar\"'\r\n"
    );
    a.send(&sh, "PUB foo 1\r\nx\r\n").unwrap();
    assert_eq!(a.recv(), "MSG foo 1 1\r\nx\r\n");
}

#[test]
fn unchanged_generation_is_a_no_op_and_lowered_max_connections_closes_newest() {
    let sh = shared(Options::default());
    let mut a = Client::connected(&sh, QUIET);
    let mut b = Client::connected(&sh, QUIET);
    a.conn.handle_config_change(secs(1.0), &sh);
    assert_eq!(a.closed(), None);
    let o = Options {
        max_connections: 1,
        ..Options::default()
    };
    reload(&sh, &o, &mut [&mut a, &mut b]);
    assert_eq!(sh.close_over_max_connections(), 1);
    assert_eq!(
        b.conn.handle().close_reason(),
        Some(CloseReason::MaxConnectionsExceeded)
    );
    assert_eq!(b.recv(), "-ERR 'maximum connections exceeded'\r\n");
    assert_eq!(a.conn.handle().close_reason(), None);
}

#[test]
fn ping_settings_apply_to_live_connections() {
    let sh = shared(Options::default());
    let mut a = Client::connected(&sh, QUIET);
    let o = Options {
        ping_interval: Duration::from_millis(500),
        ping_max: 0,
        ..Options::default()
    };
    reload(&sh, &o, &mut [&mut a]);
    let due = a.conn.poll_timeout().unwrap();
    assert!(due <= secs(1.5), "{due:?}");
    // ping_max 0: the first PING that would be outstanding makes the connection stale.
    a.conn.handle_timeout(secs(3.0), &sh);
    assert_eq!(a.closed(), Some(CloseReason::StaleConnection));
}
