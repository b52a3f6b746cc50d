//! Tests for typing ([`from_map`]) and the reload diff ([`diff`]), on NATS and TOML configs.
//!
//! Configs marked "Go:" were checked by hand with `/usr/sbin/nats-server -t -c FILE`
//! (Go 2.9.10): it accepts or rejects them the same way (wording may differ; see notes).
//! `testdata/simple.conf` and `testdata/token.conf` are accepted by `nats-server -t`.

use std::time::Duration;

use super::tests::{load_str, no_env};
use super::*;

fn typed(src: &str) -> ServerConfig {
    match load_str(src) {
        Ok(l) => l.config,
        Err(d) => panic!("{d}"),
    }
}

#[test]
fn docs_example_types() {
    let src = include_str!("testdata/simple.conf");
    let l = load("simple.conf", src, &NoIncludes, &no_env).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = l.config;
    assert_eq!(c.options.host, "127.0.0.1");
    assert_eq!(c.options.port, 4242);
    assert_eq!(c.options.server_name.as_deref(), Some("docs-example"));
    assert_eq!(c.monitoring.http_port, Some(8222));
    assert!(c.logging.trace && !c.logging.debug && c.logging.logtime);
    assert_eq!(c.logging.log_file.as_deref(), Some("/tmp/nats-server.log"));
    assert_eq!(c.pid_file.as_deref(), Some("/tmp/nats-server.pid"));
    assert_eq!(c.options.max_connections, 100);
    assert_eq!(c.options.max_control_line, 512);
    assert_eq!(c.options.max_payload, 65536);
    assert_eq!(c.options.max_pending, 10 << 20);
    assert_eq!(c.options.ping_interval, Duration::from_secs(120));
    assert_eq!(c.options.write_deadline, Duration::from_secs(2));
    assert_eq!(c.lame_duck_duration, Duration::from_secs(120));
    let a = &c.options.auth;
    assert_eq!(a.timeout, Duration::from_millis(1500));
    assert_eq!(a.users.len(), 3);
    assert_eq!(a.users[0].password, "s3cr3t");
    let perms = a.users[1].permissions.as_ref().unwrap();
    let publish = perms.publish.as_ref().unwrap();
    assert_eq!(
        publish.allow.as_deref(),
        Some(&["req.>".to_string(), "_INBOX.>".to_string()][..])
    );
    let sub = perms.subscribe.as_ref().unwrap();
    assert_eq!(sub.allow.as_deref(), Some(&["svc.*".to_string()][..]));
    assert_eq!(sub.deny, vec!["svc.secret".to_string()]);
    let rp = perms.allow_responses.unwrap();
    assert_eq!((rp.max, rp.expires), (5, Duration::from_secs(60)));
    let other = a.users[2].permissions.as_ref().unwrap();
    assert_eq!(
        other.subscribe.as_ref().unwrap().allow.as_ref().unwrap()[1],
        "y.* q"
    );
}

#[test]
fn toml_maps_onto_the_same_options() {
    let conf = load(
        "simple.conf",
        include_str!("testdata/simple.conf"),
        &NoIncludes,
        &no_env,
    )
    .unwrap()
    .config;
    let toml = load(
        "simple.toml",
        include_str!("testdata/simple.toml"),
        &NoIncludes,
        &no_env,
    )
    .unwrap()
    .config;
    assert_eq!(conf.options, toml.options);
    assert_eq!(conf.logging, toml.logging);
    assert_eq!(conf.monitoring, toml.monitoring);
    assert_eq!(conf.pid_file, toml.pid_file);
    // TOML errors and typing errors carry positions too.
    let e = toml::parse_toml("t.toml", "a = 1\nb = = 2\n").unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("t.toml", 2));
    let d = load("t.toml", "port = 1\nbogus = 2\n", &NoIncludes, &no_env).unwrap_err();
    assert_eq!(
        d.errors[0].to_string(),
        "t.toml:2:1: unknown field \"bogus\""
    );
    assert!(is_toml("X.TOML") && !is_toml("x.conf"));
}

#[test]
fn token_config() {
    let c = load(
        "token.conf",
        include_str!("testdata/token.conf"),
        &NoIncludes,
        &no_env,
    )
    .unwrap()
    .config;
    assert!(c
        .options
        .auth
        .token
        .as_deref()
        .unwrap()
        .starts_with("$2a$11$"));
    assert_eq!(c.options.auth.timeout, Duration::from_secs(2));
}

#[test]
fn listen_forms_and_aliases() {
    let c =
        typed("listen: 4333\nnet: 10.0.0.1\nmax_conn: 5\nmax_subs: 7\nno_sublist_cache: true\n");
    assert_eq!(
        (c.options.port, c.options.host.as_str()),
        (4333, "10.0.0.1")
    );
    assert_eq!(
        (c.options.max_connections, c.options.max_subscriptions),
        (5, 7)
    );
    assert!(c.options.disable_sublist_cache);
    let c = typed(
        "listen: \"[::1]:4444\"\nport: -1\nhttp: \"127.0.0.1:8222\"\nlog_file: x\nPID_FILE: y\n",
    );
    assert_eq!((c.options.host.as_str(), c.options.port), ("::1", 0));
    assert_eq!(
        (c.monitoring.host.as_deref(), c.monitoring.http_port),
        (Some("127.0.0.1"), Some(8222))
    );
    assert_eq!(c.logging.log_file.as_deref(), Some("x"));
    assert_eq!(c.pid_file.as_deref(), Some("y"));
    assert!(c.explicit.contains(&"pidfile") && c.explicit.contains(&"listen"));
    let c = typed("trace_verbose: true\nlogtime: false\nmonitor_port: -1\n");
    assert!(c.logging.trace && c.logging.trace_verbose && !c.logging.logtime);
    assert_eq!(c.monitoring.http_port, Some(0));
}

#[test]
fn durations_and_bare_seconds_warning() {
    // Go: `e.conf:1:0: invalid use of field "ping_interval": ping_interval should be
    // converted to a duration` (a warning; Go numbers the first line's columns from 0).
    let l = load_str("ping_interval = 5\nwrite_deadline = \"1.5s\"\n").unwrap();
    assert_eq!(l.config.options.ping_interval, Duration::from_secs(5));
    assert_eq!(l.config.options.write_deadline, Duration::from_millis(1500));
    assert_eq!(
        l.warnings[0].to_string(),
        "t.conf:1:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"
    );
    let d = load_str("ping_interval = \"5x\"\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "error parsing ping_interval: time: unknown unit \"x\" in duration \"5x\""
    );
    // Go: `q.conf:1:0: invalid lame_duck_duration of 10s, minimum is 30 seconds`.
    let d = load_str("lame_duck_duration = \"10s\"\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "invalid lame_duck_duration of 10s, minimum is 30 seconds"
    );
}

#[test]
fn unknown_keys_are_errors_with_positions() {
    // Go: `a.conf:1:0: unknown field "foo"` and `a.conf:2:3: unknown field "bar"`.
    let d = load_str("foo = 1\n  bar = 2\n").unwrap_err();
    let shown: Vec<String> = d.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "t.conf:1:1: unknown field \"foo\"",
            "t.conf:2:3: unknown field \"bar\""
        ]
    );
    // Go: `d.conf:3:39: unknown field "foo"` inside authorization.
    let d = load_str(
        "port = 4222\nping_interval = \"5s\"\nauthorization { user: a, password: b, foo: 1 }\n",
    )
    .unwrap_err();
    assert_eq!(
        d.errors[0].to_string(),
        "t.conf:3:39: unknown field \"foo\""
    );
    // Keys used as variables are not unknown (Go's IsUsedVariable).
    let c = typed("PASS = secret\nauthorization { user: a, password: $PASS }\n");
    assert_eq!(c.options.auth.password.as_deref(), Some("secret"));
}

#[test]
fn wrong_types_are_errors() {
    // Go: `c.conf:1:0: interface conversion: interface {} is string, not int64`.
    let d = load_str("port = \"x\"\n").unwrap_err();
    assert_eq!(
        d.errors[0].to_string(),
        "t.conf:1:1: \"port\" expects an integer, got string"
    );
    let d = load_str("listen = \"nocolon\"\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "could not parse address string \"nocolon\""
    );
    let d = load_str("max_payload = 3gb\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "max_payload value is too big");
    // Go checks this at startup (validateOptions), not in `-t`; we check it when loading.
    let d = load_str("max_payload = 10MB\nmax_pending = 1MB\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "max_payload (10485760) cannot be higher than max_pending (1048576)"
    );
}

#[test]
fn unsupported_keys_warn() {
    let l = load_str("port = 1\ngateway {\n  port: 7222\n}\njetstream: true\n").unwrap();
    let shown: Vec<String> = l.warnings.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "t.conf:2:1: \"gateway\" is not supported yet; ignored",
            "t.conf:5:1: \"jetstream\" is not supported yet; ignored",
        ]
    );
}

#[test]
fn cluster_block_as_go_reads_it() {
    let l = load_str(
        "cluster {\n  name: c1\n  listen: 127.0.0.1:6333\n  routes: [\n    nats-route://u:p@10.0.0.1:6222\n    nats://h2:7000\n  ]\n  authorization { user: ru, password: rp, timeout: 3 }\n  no_advertise: true\n  connect_retries: 5\n  pool_size: 3\n}\n",
    )
    .unwrap();
    let c = l.config.options.cluster.unwrap();
    assert_eq!(c.name.as_deref(), Some("c1"));
    assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 6333));
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[0].addr(), "10.0.0.1:6222");
    assert_eq!(c.routes[0].user.as_deref(), Some("u"));
    assert_eq!(c.routes[1].addr(), "h2:7000");
    assert_eq!(
        (c.user.as_deref(), c.password.as_deref()),
        (Some("ru"), Some("rp"))
    );
    assert_eq!(c.auth_timeout, Duration::from_secs(3));
    assert!(c.no_advertise);
    assert_eq!(c.connect_retries, 5);
    assert_eq!(l.warnings.len(), 1, "pool_size warns: {:?}", l.warnings);
    let e = load_str("cluster {\n  routes: [\"foo\"]\n  tls: {}\n}\n").unwrap_err();
    let shown: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown[0].starts_with("t.conf:2:12: error parsing route url"),
        "{shown:?}"
    );
    assert!(
        shown[1].starts_with("t.conf:3:3: \"tls\" is not supported yet"),
        "{shown:?}"
    );
}

/// Security features we lack are refused, not ignored: ignoring them would run the server
/// more open than configured (found when the nats.rs nkey/JWT tests "passed" against an
/// open server).
#[test]
fn unsupported_security_keys_are_errors() {
    for (conf, key) in [
        (
            "tls { cert_file: a, key_file: b, ocsp_peer: true }\n",
            "ocsp_peer",
        ),
        (
            "accounts { A { users: [{user: a, password: b}], jetstream: enabled } }\n",
            "jetstream",
        ),
        ("trusted_keys: [abc]\n", "trusted_keys"),
        (
            "authorization { users: [{user: a, password: b, allowed_connection_types: [MQTT]}] }\n",
            "allowed_connection_types",
        ),
        ("authorization { auth_hook: x }\n", "auth_hook"),
    ] {
        let d = load_str(conf).unwrap_err();
        assert!(
            d.errors
                .iter()
                .any(|e| e.msg.contains(&format!("{key:?} is not supported yet"))
                    && e.msg.contains("refusing")),
            "{conf}: {d}"
        );
    }
}

#[test]
fn authorization_checks() {
    // Go: `r.conf:1:0: Cannot have a user/pass and token`.
    let d = load_str("authorization { user: a, token: t }\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "Cannot have a user/pass and token");
    let d = load_str("authorization { user: a, users: [] }\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "Can not have a single user/pass and a users array"
    );
    let d = load_str("authorization { users: [{user: a}, {user: a}] }\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "Duplicate user \"a\" detected");
    let d = load_str("authorization { users: [{password: a}] }\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "User entry requires a user");
    let d = load_str("authorization { users: [{user: a, permissions: {publish: \"a..b\"}}] }\n")
        .unwrap_err();
    assert_eq!(d.errors[0].msg, "subject \"a..b\" is not a valid subject");
    let d = load_str("authorization { users: [{user: a, permissions: {foo: x}}] }\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "Unknown field \"foo\" parsing permissions");
    let c = typed(concat!(
        "authorization {\n default_permissions { publish: \"p.>\" }\n",
        " users: [{user: a}, {user: b, permissions: {subscribe: \"s\", allow_responses: true}}]\n}\n",
    ));
    let u = &c.options.auth.users;
    assert_eq!(
        u[0].permissions
            .as_ref()
            .unwrap()
            .publish
            .as_ref()
            .unwrap()
            .allow
            .as_ref()
            .unwrap()[0],
        "p.>"
    );
    let pb = u[1].permissions.as_ref().unwrap();
    assert_eq!(pb.publish.as_ref().unwrap().allow.as_deref(), Some(&[][..]));
    assert_eq!(
        pb.allow_responses,
        Some(crate::auth::ResponsePermission::default())
    );
}

#[test]
fn reload_diff_reloadable() {
    let old = typed(
        "port = 4222\ndebug = false\nauthorization { user: a, password: b }\nmax_payload = 1MB\n",
    );
    let new = typed(concat!(
        "port = 4222\ndebug = true\nauthorization { user: a, password: c, timeout: 3 }\n",
        "max_payload = 2MB\nping_interval = \"30s\"\npidfile = /tmp/p\n",
    ));
    let changes = diff(&old, &new).unwrap();
    let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "Reloaded: debug = true",
            "Reloaded: authorization password",
            "Reloaded: ping_interval = 30s",
            "Reloaded: authorization timeout = 3",
            "Reloaded: max_payload = 2097152",
            "Reloaded: pid_file = /tmp/p",
        ]
    );
    assert_eq!(diff(&old, &old).unwrap(), vec![]);
    // A new random port (0) is ignored, as in Go.
    let random = typed(
        "port = -1\ndebug = false\nauthorization { user: a, password: b }\nmax_payload = 1MB\n",
    );
    assert_eq!(diff(&old, &random).unwrap(), vec![]);
}

#[test]
fn reload_diff_not_reloadable() {
    let old = typed("port = 4222\nmax_pending = 10MB\n");
    let e = diff(&old, &typed("port = 4333\nmax_pending = 10MB\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config reload not supported for Port: old=4222, new=4333"
    );
    let e = diff(&old, &typed("port = 4222\nmax_pending = 20MB\n")).unwrap_err();
    assert_eq!(e.field, "MaxPending");
    let e = diff(
        &old,
        &typed("port = 4222\nmax_pending = 10MB\nserver_name = n\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config reload not supported for ServerName: old=, new=n"
    );
    let e = diff(
        &old,
        &typed("port = 4222\nmax_pending = 10MB\nlame_duck_duration = \"1m\"\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config reload not supported for LameDuckDuration: old=2m0s, new=1m0s"
    );
    let e = diff(
        &old,
        &typed("port = 4222\nmax_pending = 10MB\nhttp_port = 8222\n"),
    )
    .unwrap_err();
    assert_eq!(e.field, "HTTPPort");
}

#[test]
fn accounts_as_go_reads_them() {
    let l = load_str(
        "accounts {\n  A: { users: [{user: a, password: a}], exports: [{stream: \"news.>\"}, {service: \"help.>\", response: stream, threshold: \"5s\"}], limits: {max_connections: 2, max_payload: 100} }\n  B: { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: \"news.>\"}, prefix: p}, {service: {account: A, subject: \"help.me\"}, to: ask}] }\n}\nno_auth_user: b\nsystem_account: A\n",
    )
    .unwrap();
    let o = &l.config.options;
    assert_eq!(o.accounts.len(), 2);
    assert_eq!(
        o.auth
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.account.as_deref()))
            .collect::<Vec<_>>(),
        [("a", Some("A")), ("b", Some("B"))]
    );
    assert_eq!(o.auth.no_auth_user.as_deref(), Some("b"));
    assert_eq!(o.system_account.as_deref(), Some("A"));
    let a = &o.accounts[0];
    assert_eq!(a.limits.max_connections, Some(2));
    assert_eq!(a.limits.max_payload, Some(100));
    assert_eq!(
        a.exports[1].service,
        Some((
            crate::options::ResponseType::Stream,
            Some(Duration::from_secs(5))
        ))
    );
    let b = &o.accounts[1];
    assert_eq!(
        b.imports[1].kind,
        crate::options::ImportKind::Service { to: "ask".into() }
    );
}

/// Go's texts (positions are ours: Go points at the `accounts` block, `1:0`, for import
/// errors; we point at the import).
#[test]
fn bad_accounts_get_gos_errors() {
    for (conf, want) in [
        (
            "accounts {\n  A: { exports: [{stream: \"news.>\", accounts: [C]}] }\n  B: { imports: [{stream: {account: A, subject: \"news.>\"}}] }\n  C: {}\n}\n",
            "t.conf:3:18: Error adding stream import \"news.>\": stream import not authorized",
        ),
        (
            "accounts {\n  B: { imports: [{stream: {account: Z, subject: \"x\"}}] }\n}\n",
            "t.conf:2:18: \"Z\" account not defined for stream import",
        ),
        (
            "accounts {\n  A: { users: [{user: x, password: a}] }\n  B: { users: [{user: x, password: b}] }\n}\n",
            "t.conf:3:8: Duplicate user \"x\" detected",
        ),
        ("accounts {\n  $G: { }\n}\n", "t.conf:2:7: \"$G\" is a Reserved Account"),
        (
            "authorization { user: u, password: p }\naccounts {\n  A: { users: [{user: a, password: a}] }\n}\n",
            "t.conf:3:8: Can not have a single user/pass and accounts",
        ),
        (
            "accounts { A: { users: [{user: a, password: a}] } }\nno_auth_user: zz\n",
            "t.conf:2:1: no_auth_user: \"zz\" not present as user or nkey in authorization block or account configuration",
        ),
        // Stricter than Go (which starts and lets requests bounce): refused at load.
        (
            "accounts {\n  A: { exports: [{service: a}], imports: [{service: {account: B, subject: b}}] }\n  B: { exports: [{service: b}], imports: [{service: {account: A, subject: a}}] }\n}\n",
            "t.conf:1:1: Error adding service import: import forms a cycle (A -> B -> A)",
        ),
    ] {
        let d = load_str(conf).unwrap_err();
        let shown: Vec<String> = d.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown, [want], "{conf}");
    }
}

#[test]
fn publish_rate_at_three_levels() {
    let l = load_str(
        "publish_rate: { msgs: 1000, bytes: 1MB, burst_msgs: 100, burst_bytes: 64KB }\naccounts {\n  A: { users: [{user: a, password: a, publish_rate: {msgs: 10, action: drop}}], publish_rate: {bytes: 1KB, action: disconnect} }\n}\n",
    )
    .unwrap();
    let o = &l.config.options;
    let top = o.publish_rate.unwrap();
    assert_eq!(
        (top.msgs, top.bytes, top.burst_msgs, top.burst_bytes),
        (Some(1000), Some(1 << 20), Some(100), Some(64 << 10))
    );
    assert_eq!(
        top.action,
        crate::options::RateAction::Backpressure,
        "the default"
    );
    let u = o.auth.users[0].publish_rate.unwrap();
    assert_eq!(
        (u.msgs, u.action),
        (Some(10), crate::options::RateAction::Drop)
    );
    let a = o.accounts[0].publish_rate.unwrap();
    assert_eq!(
        (a.bytes, a.action),
        (Some(1024), crate::options::RateAction::Disconnect)
    );
    let e = load_str("publish_rate: { msgs: 0, action: slow }\n").unwrap_err();
    let shown: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        [
            "t.conf:1:17: msgs must be positive, got 0",
            "t.conf:1:26: unknown publish_rate action \"slow\" (expected backpressure, drop or disconnect)",
        ]
    );
}

/// Found by the reload-by-request test: `no_auth_user` written before `authorization` was
/// lost when `authorization` replaced the whole auth config (Go keeps it: keys are
/// independent of their order).
#[test]
fn no_auth_user_before_authorization_is_kept() {
    let conf = "no_auth_user: g\nauthorization { users: [{user: g, password: g}] }\n";
    let o = typed(conf).options;
    assert_eq!(o.auth.no_auth_user.as_deref(), Some("g"));
    assert_eq!(o.auth.users.len(), 1);
}

/// An account's `default_permissions` go to its users that have none of their own (Go's
/// `applyDefaultPermissions`), whichever key comes first.
#[test]
fn account_default_permissions() {
    let conf = concat!(
        "accounts {\n  A {\n    users: [{user: a, password: a}, ",
        "{user: b, password: b, permissions: {publish: \"b.>\"}}]\n",
        "    default_permissions: {publish: \"a.>\", subscribe: \"a.>\"}\n  }\n",
        "  B { default_permissions: {publish: \"x\"}, users: [{user: c, password: c}] }\n}\n"
    );
    let o = typed(conf).options;
    let perms = |name: &str| {
        let u = o.auth.users.iter().find(|u| u.name == name).unwrap();
        let p = u.permissions.as_ref().unwrap();
        p.publish.as_ref().unwrap().allow.clone().unwrap()
    };
    assert_eq!(perms("a"), ["a.>"]);
    assert_eq!(perms("b"), ["b.>"]);
    assert_eq!(perms("c"), ["x"]);
}

/// Accounts reload (Go: `Reloaded: accounts`); the system account and `no_auth_user` do
/// not.
#[test]
fn accounts_reload_but_the_system_account_does_not() {
    let old = typed("accounts { A { users: [{user: a, password: a}] } }\n");
    let new = typed(concat!(
        "accounts { A { users: [{user: a, password: a}], exports: [{stream: x}] }\n",
        "  B { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: x}}] } }\n"
    ));
    let lines: Vec<String> = diff(&old, &new)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        lines,
        ["Reloaded: accounts", "Reloaded: authorization users"]
    );
    let sys = typed("accounts { A { users: [{user: a, password: a}] } }\nsystem_account: A\n");
    assert_eq!(diff(&old, &sys).unwrap_err().field, "SystemAccount");
}

/// nkey users, with Go's checks and texts (`parseUsers`).
#[test]
fn nkey_users() {
    const U: &str = "UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE";
    let o = load_str(&format!(
        "authorization {{ users: [{{nkey: {U}, permissions: {{publish: foo}}}}, {{user: a, password: b}}] }}\n"
    ))
    .unwrap();
    let u = &o.config.options.auth.users[0];
    assert_eq!(u.nkey.as_deref(), Some(U));
    assert_eq!(u.name, U);
    assert!(u.permissions.is_some());
    assert!(o.config.options.auth.nonce_required());
    assert!(o.config.options.auth.users[1].nkey.is_none());
    for (conf, msg) in [
        (
            "authorization { users: [{nkey: UABC}] }\n".to_string(),
            "Not a valid public nkey for a user",
        ),
        (
            // An account key is not a user key.
            "authorization { users: [{nkey: ADTQS7ZCFVJNW5726GOYXW5TSCZFNIQSHK2ZGYUBCD5D77OTNLOOKZOZ}] }\n".to_string(),
            "Not a valid public nkey for a user",
        ),
        (
            format!("authorization {{ users: [{{nkey: {U}, user: x}}] }}\n"),
            "Nkey users do not take usernames or passwords",
        ),
        (
            format!("authorization {{ users: [{{nkey: {U}}}, {{nkey: {U}}}] }}\n"),
            "Duplicate nkey \"UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE\" detected",
        ),
    ] {
        let d = load_str(&conf).unwrap_err();
        assert_eq!(d.errors[0].msg, msg, "{conf}");
    }
}

/// `auth_callout`, with Go's texts (`parseAuthCallout`).
#[test]
fn auth_callout_block() {
    const ISSUER: &str = "ADTQS7ZCFVJNW5726GOYXW5TSCZFNIQSHK2ZGYUBCD5D77OTNLOOKZOZ";
    let o = load_str(&format!(
        "authorization {{ auth_callout {{ issuer: {ISSUER}, auth_users: [auth] }} }}\n"
    ))
    .unwrap()
    .config
    .options;
    let c = o.auth.callout.as_ref().unwrap();
    assert_eq!(c.account, "$G", "Go's default account");
    assert_eq!(c.auth_users, ["auth"]);
    assert!(o.auth.required());
    for (conf, msg) in [
        (
            "authorization { auth_callout { issuer: nope, auth_users: [a] } }\n".to_string(),
            "Expected callout user to be a valid public account nkey, got \"nope\"",
        ),
        (
            "authorization { auth_callout { auth_users: [a] } }\n".to_string(),
            "Authorization callouts require an issuer to be specified",
        ),
        (
            format!("authorization {{ auth_callout {{ issuer: {ISSUER} }} }}\n"),
            "Authorization callouts require authorized users to be specified",
        ),
        (
            format!("authorization {{ auth_callout {{ issuer: {ISSUER}, auth_users: [a], bogus: 1 }} }}\n"),
            "Unknown field \"bogus\" parsing authorization callout",
        ),
        (
            format!("accounts {{ A {{}} }}\nauthorization {{ auth_callout {{ issuer: {ISSUER}, auth_users: [a], allowed_accounts: [A, B] }} }}\n"),
            "auth_callout allowed account \"B\" not found in configured accounts",
        ),
        (
            format!("authorization {{ auth_callout {{ issuer: {ISSUER}, auth_users: [a], xkey: XNOPE }} }}\n"),
            "Expected callout xkey to be a valid public xkey, got \"XNOPE\"",
        ),
    ] {
        let d = load_str(&conf).unwrap_err();
        assert_eq!(d.errors[0].msg, msg, "{conf}");
    }
}
