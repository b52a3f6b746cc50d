//! Subject mappings on the publish path: the subject delivered, permissions on the mapped
//! subject, the reply left alone, drops, accounts apart, and a reload; ignored: where the
//! core still differs from Go (drops and wildcard tokens).

use super::test_util::{connected_with, recv, T0};
use super::*;
use crate::auth::{Permissions, User};
use crate::options::{AccountOptions, MapDest, MappingOptions, Options};

fn plain(src: &str, to: &str) -> MappingOptions {
    MappingOptions {
        src: src.into(),
        dests: vec![MapDest {
            subject: to.into(),
            weight: 100,
            cluster: None,
        }],
        weighted: false,
    }
}

const PLAIN: &str = r#"{"verbose":false,"pedantic":false}"#;

#[test]
fn a_mapped_subject_is_delivered_under_its_new_name() {
    let o = Options {
        mappings: vec![plain("foo", "bar"), plain("orders.*.*", "x.$2.$1")],
        ..Options::default()
    };
    let sh = Shared::new(o, "N".into(), T0);
    let sub = connected_with(&sh, PLAIN, "SUB bar 1\r\nSUB foo 2\r\nSUB x.> 3\r\n");
    let mut publ = connected_with(&sh, PLAIN, "");
    publ.handle_read(
        T0,
        b"PUB foo r.1 2\r\nhi\r\nPUB orders.a.b 0\r\n\r\nPUB zz 0\r\n\r\n",
        &sh,
    )
    .unwrap();
    // The reply subject is not mapped; `foo` itself gets nothing.
    assert_eq!(recv(&sub), "MSG bar 1 r.1 2\r\nhi\r\nMSG x.b.a 3 0\r\n\r\n");
}

#[test]
fn publish_permissions_see_the_mapped_subject() {
    let mut o = Options {
        mappings: vec![plain("raw.*", "mapped.$1")],
        ..Options::default()
    };
    let perms = |allow: &str| {
        Some(Permissions {
            publish: Some(crate::auth::SubjectPermission {
                allow: Some(vec![allow.into()]),
                deny: Vec::new(),
            }),
            ..Permissions::default()
        })
    };
    let user = |name: &str, allow: &str| User {
        name: name.into(),
        password: "pw".into(),
        permissions: perms(allow),
        account: None,
        publish_rate: None,
        nkey: None,
    };
    o.auth.users = vec![user("m", "mapped.>"), user("r", "raw.>"), user("s", ">")];
    let sh = Shared::new(o, "N".into(), T0);
    let login = |u: &str| format!(r#"{{"verbose":false,"user":"{u}","pass":"pw"}}"#);
    let sub = connected_with(&sh, &login("s"), "SUB > 1\r\n");
    let mut m = connected_with(&sh, &login("m"), "PUB raw.x 1\r\nm\r\n");
    let mut r = connected_with(&sh, &login("r"), "PUB raw.y 1\r\nr\r\n");
    assert_eq!(recv(&sub), "MSG mapped.x 1 1\r\nm\r\n");
    assert_eq!(recv(&m), "");
    assert_eq!(
        recv(&r),
        "-ERR 'Permissions Violation for Publish to \"mapped.y\"'\r\n"
    );
    m.handle_read(T0, b"PING\r\n", &sh).unwrap();
    r.handle_read(T0, b"PING\r\n", &sh).unwrap();
}

#[test]
fn the_share_left_to_nobody_is_dropped_and_still_acknowledged() {
    // The source listed with 0%: every message is lost (Go: "they want loss").
    let o = Options {
        mappings: vec![MappingOptions {
            src: "loss".into(),
            dests: vec![MapDest {
                subject: "loss".into(),
                weight: 0,
                cluster: None,
            }],
            weighted: true,
        }],
        ..Options::default()
    };
    let sh = Shared::new(o, "N".into(), T0);
    let sub = connected_with(&sh, PLAIN, "SUB > 1\r\n");
    let p = connected_with(&sh, r#"{"verbose":true}"#, "PUB loss 1\r\nx\r\n");
    assert_eq!(recv(&sub), "");
    assert_eq!(recv(&p), "+OK\r\n+OK\r\n");
}

#[test]
fn each_account_has_its_own_mappings_and_a_reload_replaces_them() {
    let mut o = Options {
        accounts: vec![AccountOptions {
            name: "A".into(),
            mappings: vec![plain("foo", "a.foo")],
            ..AccountOptions::default()
        }],
        ..Options::default()
    };
    o.auth.users = vec![User {
        name: "a".into(),
        password: "pw".into(),
        permissions: None,
        account: Some("A".into()),
        publish_rate: None,
        nkey: None,
    }];
    o.auth.no_auth_user = None;
    let sh = Shared::new(o.clone(), "N".into(), T0);
    let a_login = r#"{"verbose":false,"user":"a","pass":"pw"}"#;
    let a_sub = connected_with(&sh, a_login, "SUB > 1\r\n");
    let mut a_pub = connected_with(&sh, a_login, "PUB foo 0\r\n\r\n");
    assert_eq!(recv(&a_sub), "MSG a.foo 1 0\r\n\r\n");
    o.accounts[0].mappings = vec![plain("foo", "b.foo")];
    sh.apply_reload(&o);
    a_pub.handle_read(T0, b"PUB foo 0\r\n\r\n", &sh).unwrap();
    assert_eq!(recv(&a_sub), "MSG b.foo 1 0\r\n\r\n");
    o.accounts[0].mappings.clear();
    sh.apply_reload(&o);
    a_pub.handle_read(T0, b"PUB foo 0\r\n\r\n", &sh).unwrap();
    assert_eq!(recv(&a_sub), "MSG foo 1 0\r\n\r\n");
}

/// `loss: [{destination: loss, weight: 0}]`: every message on `loss` is dropped.
fn loss_options() -> Options {
    Options {
        mappings: vec![MappingOptions {
            src: "loss".into(),
            dests: vec![MapDest {
                subject: "loss".into(),
                weight: 0,
                cluster: None,
            }],
            weighted: true,
        }],
        ..Options::default()
    }
}

/// Go 2.9.10 and 2.15.1 publish a dropped message on the empty subject, so the publish
/// permission is checked on `""`, which no allow pattern matches (not even `>`): the
/// publisher gets the violation, the connection stays. A deny-only list lets it through
/// (checked on both: nothing sent). Found while modelling mappings in the simulator; the
/// core sends nothing (or `+OK`) instead.
#[test]
fn a_dropped_message_is_refused_to_a_publisher_with_an_allow_list() {
    let mut o = loss_options();
    let perms = |allow: Option<Vec<String>>, deny: Vec<String>| {
        Some(Permissions {
            publish: Some(crate::auth::SubjectPermission { allow, deny }),
            ..Permissions::default()
        })
    };
    let user = |name: &str, permissions| User {
        name: name.into(),
        password: "pw".into(),
        permissions,
        account: None,
        publish_rate: None,
        nkey: None,
    };
    o.auth.users = vec![
        user("gt", perms(Some(vec![">".into()]), Vec::new())),
        user("deny", perms(None, vec!["zz".into()])),
    ];
    let sh = Shared::new(o, "N".into(), T0);
    let login = |u: &str| format!(r#"{{"verbose":false,"user":"{u}","pass":"pw"}}"#);
    let gt = connected_with(&sh, &login("gt"), "PUB loss 1\r\nx\r\n");
    let deny = connected_with(&sh, &login("deny"), "PUB loss 1\r\nx\r\n");
    assert_eq!(
        recv(&gt),
        "-ERR 'Permissions Violation for Publish to \"\"'\r\n"
    );
    assert_eq!(recv(&deny), "");
}

/// Go 2.9.10 and 2.15.1: a dropped request reached nobody, so a `no_responders`
/// requester gets its 503 status, as for any request nobody takes. The core sends
/// nothing.
#[test]
fn a_dropped_message_still_gets_the_no_responders_status() {
    let sh = Shared::new(loss_options(), "N".into(), T0);
    let nr = r#"{"verbose":false,"headers":true,"no_responders":true}"#;
    let ops = |subj: &str| format!("SUB _INBOX.1 7\r\nPUB {subj} _INBOX.1 1\r\nx\r\n");
    let unmapped = connected_with(&sh, nr, &ops("nobody"));
    let dropped = connected_with(&sh, nr, &ops("loss"));
    let status = recv(&unmapped);
    assert!(status.contains("503"), "{status}");
    assert_eq!(recv(&dropped), status);
}

/// A subject published with a `*` token (accepted without `pedantic`) keeps it through a
/// mapping: Go 2.9.10 and 2.15.1 deliver `PUB a.*` through `*.* -> $2.$1` as `*.a` (to
/// `>`, `*.*` and `*.a`). The core takes any mapped subject that is not a valid literal as
/// one to drop.
#[test]
fn a_mapped_wildcard_token_is_published_as_go_does() {
    let o = Options {
        mappings: vec![plain("*.*", "$2.$1"), plain("c.>", "d.>")],
        ..Options::default()
    };
    let sh = Shared::new(o, "N".into(), T0);
    let two = connected_with(&sh, PLAIN, "SUB *.* 1\r\n");
    let all = connected_with(&sh, PLAIN, "SUB > 2\r\n");
    let _p = connected_with(&sh, PLAIN, "PUB a.* 0\r\n\r\nPUB c.x.* 0\r\n\r\n");
    assert_eq!(recv(&two), "MSG *.a 1 0\r\n\r\n");
    assert_eq!(recv(&all), "MSG *.a 2 0\r\n\r\nMSG d.x.* 2 0\r\n\r\n");
}
