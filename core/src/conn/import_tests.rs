//! Imports on a reload: a removed import stops at once, an added one flows, and one left
//! unchanged keeps its subscriptions, so a request sent before the reload still gets its
//! response after it.

use super::test_util::{connected_with, recv, T0};
use super::*;
use crate::auth::User;
use crate::options::{
    AccountOptions, ExportOptions, ImportKind, ImportOptions, Options, ResponseType,
};

fn user(name: &str, account: &str) -> User {
    User {
        name: name.into(),
        password: "pw".into(),
        permissions: None,
        account: Some(account.into()),
        publish_rate: None,
        nkey: None,
    }
}

fn login(name: &str) -> String {
    format!(r#"{{"verbose":false,"user":"{name}","pass":"pw"}}"#)
}

fn stream_import(prefix: &str) -> ImportOptions {
    ImportOptions {
        account: "A".into(),
        subject: "news.>".into(),
        kind: ImportKind::Stream {
            prefix: Some(prefix.into()),
            to: None,
        },
    }
}

fn service_import() -> ImportOptions {
    ImportOptions {
        account: "A".into(),
        subject: "help.me".into(),
        kind: ImportKind::Service { to: "ask".into() },
    }
}

/// A exports a stream and a service; B imports `imports`.
fn options(imports: Vec<ImportOptions>) -> Options {
    let mut o = Options {
        accounts: vec![
            AccountOptions {
                name: "A".into(),
                exports: vec![
                    ExportOptions {
                        subject: "news.>".into(),
                        service: None,
                        accounts: None,
                    },
                    ExportOptions {
                        subject: "help.>".into(),
                        service: Some((ResponseType::Singleton, None)),
                        accounts: None,
                    },
                ],
                ..AccountOptions::default()
            },
            AccountOptions {
                name: "B".into(),
                imports,
                ..AccountOptions::default()
            },
        ],
        ..Options::default()
    };
    o.auth.users = vec![user("a", "A"), user("b", "B")];
    o
}

#[test]
fn a_removed_import_stops_and_an_added_one_flows() {
    let o = options(vec![stream_import("p")]);
    let sh = Shared::new(o, "N".into(), T0);
    let b = connected_with(&sh, &login("b"), "SUB > 1\r\n");
    let mut a = connected_with(&sh, &login("a"), "PUB news.x 1\r\n1\r\n");
    assert_eq!(recv(&b), "MSG p.news.x 1 1\r\n1\r\n");
    // Renamed: the old prefix stops, the new one flows.
    sh.apply_reload(&options(vec![stream_import("q")]));
    a.handle_read(T0, b"PUB news.x 1\r\n2\r\n", &sh).unwrap();
    assert_eq!(recv(&b), "MSG q.news.x 1 1\r\n2\r\n");
    // Removed: nothing.
    sh.apply_reload(&options(vec![]));
    a.handle_read(T0, b"PUB news.x 1\r\n3\r\n", &sh).unwrap();
    assert_eq!(recv(&b), "");
}

#[test]
fn an_unchanged_service_import_keeps_its_pending_requests() {
    let o = options(vec![service_import()]);
    let sh = Shared::new(o, "N".into(), T0);
    let mut a = connected_with(&sh, &login("a"), "SUB help.me 1\r\n");
    let _b = connected_with(
        &sh,
        &login("b"),
        "SUB _INBOX.b 1\r\nPUB ask _INBOX.b 1\r\nq\r\n",
    );
    let got = recv(&a);
    let reply = got
        .split_whitespace()
        .find(|w| w.starts_with("_R_."))
        .unwrap()
        .to_string();
    // A reload that changes something else (a new stream import).
    sh.apply_reload(&options(vec![service_import(), stream_import("p")]));
    a.handle_read(T0, format!("PUB {reply} 1\r\nr\r\n").as_bytes(), &sh)
        .unwrap();
    assert_eq!(recv(&_b), "MSG _INBOX.b 1 1\r\nr\r\n");
}

#[test]
fn an_account_added_by_a_reload_can_import() {
    let sh = Shared::new(options(vec![]), "N".into(), T0);
    let mut o = options(vec![]);
    o.accounts.push(AccountOptions {
        name: "C".into(),
        imports: vec![stream_import("c")],
        ..AccountOptions::default()
    });
    o.auth.users.push(user("c", "C"));
    sh.apply_reload(&o);
    let c = connected_with(&sh, &login("c"), "SUB > 1\r\n");
    let _a = connected_with(&sh, &login("a"), "PUB news.y 0\r\n\r\n");
    assert_eq!(recv(&c), "MSG c.news.y 1 0\r\n\r\n");
}

#[test]
fn the_exporters_mappings_apply_to_an_imported_request() {
    let mut o = options(vec![service_import()]);
    o.accounts[0].mappings = vec![crate::options::MappingOptions {
        src: "help.me".into(),
        dests: vec![crate::options::MapDest {
            subject: "help.v2".into(),
            weight: 100,
            cluster: None,
        }],
        weighted: false,
    }];
    let sh = Shared::new(o, "N".into(), T0);
    let a = connected_with(&sh, &login("a"), "SUB help.> 1\r\n");
    let _b = connected_with(&sh, &login("b"), "PUB ask _INBOX.b 1\r\nq\r\n");
    let got = recv(&a);
    assert!(got.starts_with("MSG help.v2 1 _R_."), "{got}");
}

/// Go never sends a message that came in through a service import (a request, or its
/// response) out again through a stream import (`pmrMsgImportedFromService`); found by the
/// simulator (reload seed 1951).
#[test]
fn an_imported_request_is_not_streamed_back_out() {
    let mut o = options(vec![service_import(), stream_import("p")]);
    o.accounts[0].exports.push(ExportOptions {
        subject: "help.>".into(),
        service: None,
        accounts: None,
    });
    o.accounts[1].imports.push(ImportOptions {
        account: "A".into(),
        subject: "help.>".into(),
        kind: ImportKind::Stream {
            prefix: Some("h".into()),
            to: None,
        },
    });
    let sh = Shared::new(o, "N".into(), T0);
    let a = connected_with(&sh, &login("a"), "SUB help.me 1\r\n");
    let b = connected_with(&sh, &login("b"), "SUB h.> 1\r\nPUB ask _INBOX.b 1\r\nq\r\n");
    assert!(recv(&a).starts_with("MSG help.me 1 _R_."));
    assert_eq!(
        recv(&b),
        "",
        "the request came back through the stream import"
    );
    // A plain publish in A still streams to B.
    let _a2 = connected_with(&sh, &login("a"), "PUB help.x 0\r\n\r\n");
    assert_eq!(recv(&b), "MSG h.help.x 1 0\r\n\r\n");
}
