//! Wiring imports into accounts: at start ([`wire`]), on reload ([`rewire`]: an import
//! whose configuration did not change keeps its subscriptions, and so the requests still
//! waiting for their responses; a removed one stops at once), and the services every
//! account imports from the system account ([`wire_system`]).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::{Cross, Replies, ReplyState, SubjectMap, DEFAULT_RESPONSE_THRESHOLD};
use crate::account::Account;
use crate::client::{ClientHandle, Subscription};
use crate::options::{ImportKind, ImportOptions, Options, ResponseType};
use crate::rng::Rng;
use crate::subject;

/// What identifies a configured import across a reload: the importer, the import as
/// written, and the matching export's response settings.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    importer: String,
    import: ImportOptions,
    service: Option<(ResponseType, Option<Duration>)>,
}

/// The subscriptions one configured import made, for a reload to keep or take back.
#[derive(Debug)]
pub struct Wired {
    key: Key,
    subs: Vec<(Weak<Account>, Arc<Subscription>)>,
}

/// Every configured import of `opts`, with the service settings of its export.
fn keys(opts: &Options) -> Vec<Key> {
    let mut out = Vec::new();
    for a in &opts.accounts {
        for imp in &a.imports {
            let service = match imp.kind {
                ImportKind::Stream { .. } => None,
                ImportKind::Service { .. } => Some(
                    opts.accounts
                        .iter()
                        .find(|x| x.name == imp.account)
                        .and_then(|x| {
                            x.exports.iter().find(|e| {
                                e.service.is_some()
                                    && subject::subset_of(
                                        imp.subject.as_bytes(),
                                        e.subject.as_bytes(),
                                    )
                            })
                        })
                        .and_then(|e| e.service)
                        .unwrap_or((ResponseType::Singleton, None)),
                ),
            };
            out.push(Key {
                importer: a.name.clone(),
                import: imp.clone(),
                service,
            });
        }
    }
    out
}

/// Wires every configured import into the accounts (found by name): the subscriptions of
/// [`Cross`], owned by an internal client. `seed` makes the `_R_` prefixes differ between
/// servers. Returns what was wired, for [`rewire`].
pub fn wire(opts: &Options, find: impl Fn(&str) -> Option<Arc<Account>>, seed: u64) -> Vec<Wired> {
    let mut rng = Rng::fork(seed, u64::MAX - 1);
    let client = crate::internal::internal_client(seed);
    keys(opts)
        .into_iter()
        .filter_map(|k| wire_one(k, &find, &mut rng, &client))
        .collect()
}

/// After a reload: keeps the imports of `old` that `opts` still has unchanged, takes back
/// the subscriptions of the others (nothing flows through them from here on), and wires the
/// new ones. `stream` varies the `_R_` prefixes of new service imports from every earlier
/// wiring's (the options generation will do).
pub fn rewire(
    old: Vec<Wired>,
    opts: &Options,
    find: impl Fn(&str) -> Option<Arc<Account>>,
    seed: u64,
    stream: u64,
) -> Vec<Wired> {
    let want = keys(opts);
    let mut kept = Vec::with_capacity(want.len());
    for w in old {
        if want.contains(&w.key) {
            kept.push(w);
            continue;
        }
        for (acc, sub) in &w.subs {
            if let Some(acc) = acc.upgrade() {
                acc.remove(std::iter::once(sub));
            }
        }
    }
    let mut rng = Rng::fork(
        seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        u64::MAX - 3,
    );
    let client = crate::internal::internal_client(seed);
    for k in want {
        if kept.iter().any(|w| w.key == k) {
            continue;
        }
        if let Some(w) = wire_one(k, &find, &mut rng, &client) {
            kept.push(w);
        }
    }
    kept
}

/// Wires one import; `None` if either account does not exist.
fn wire_one(
    key: Key,
    find: &impl Fn(&str) -> Option<Arc<Account>>,
    rng: &mut Rng,
    client: &Arc<ClientHandle>,
) -> Option<Wired> {
    let importer = find(&key.importer)?;
    let imp = &key.import;
    let exporter = find(&imp.account)?;
    let subs = match &imp.kind {
        ImportKind::Stream { prefix, to } => {
            let map = match (prefix, to) {
                (Some(p), _) => SubjectMap::Prefix(p.as_bytes().into()),
                (None, Some(t)) => SubjectMap::To {
                    from: imp.subject.as_bytes().into(),
                    to: t.as_bytes().into(),
                },
                (None, None) => SubjectMap::Same,
            };
            let cross = Arc::new(Cross::Stream {
                to: Arc::downgrade(&importer),
                map,
            });
            let sub = Arc::new(Subscription::cross(
                imp.subject.as_bytes(),
                Arc::clone(client),
                cross,
            ));
            // Checked valid at load: the insert cannot fail.
            let _ = exporter.insert(Arc::clone(&sub));
            vec![(Arc::downgrade(&exporter), sub)]
        }
        ImportKind::Service { to } => wire_service(
            &importer,
            &exporter,
            to,
            &imp.subject,
            key.service.unwrap_or((ResponseType::Singleton, None)),
            rng,
            client,
        ),
    };
    Some(Wired { key, subs })
}

/// Wires one service import: requests published on `local` in `importer` go to `remote` in
/// `exporter` with their reply mapped to `_R_.<id>.<n>`, and the responses come back.
/// Returns its two subscriptions with their accounts.
fn wire_service(
    importer: &Arc<Account>,
    exporter: &Arc<Account>,
    local: &str,
    remote: &str,
    (response, threshold): (ResponseType, Option<Duration>),
    rng: &mut Rng,
    client: &Arc<ClientHandle>,
) -> Vec<(Weak<Account>, Arc<Subscription>)> {
    let id: String = (0..6)
        .map(|_| char::from(b'A' + rng.below(26) as u8))
        .collect();
    let replies = Arc::new(Replies {
        prefix: format!("_R_.{id}.").into_bytes().into(),
        response,
        threshold: threshold.unwrap_or(DEFAULT_RESPONSE_THRESHOLD),
        state: Mutex::new(ReplyState::default()),
    });
    let map = if local == remote {
        SubjectMap::Same
    } else {
        SubjectMap::To {
            from: local.as_bytes().into(),
            to: remote.as_bytes().into(),
        }
    };
    let request = Arc::new(Cross::Request {
        to: Arc::downgrade(exporter),
        map,
        replies: Arc::clone(&replies),
    });
    // Checked valid at load (or constant): the inserts cannot fail.
    let req = Arc::new(Subscription::cross(
        local.as_bytes(),
        Arc::clone(client),
        request,
    ));
    let _ = importer.insert(Arc::clone(&req));
    let mut reply_sub = replies.prefix.to_vec();
    reply_sub.push(b'>');
    let response = Arc::new(Cross::Response {
        back: Arc::downgrade(importer),
        replies,
    });
    let resp = Arc::new(Subscription::cross(
        &reply_sub,
        Arc::clone(client),
        response,
    ));
    let _ = exporter.insert(Arc::clone(&resp));
    vec![
        (Arc::downgrade(importer), req),
        (Arc::downgrade(exporter), resp),
    ]
}

/// The (local, system account) subjects of the services account `acc` imports.
pub fn system_imports(acc: &str) -> [(&'static str, String); SYSTEM_IMPORTS] {
    [
        (
            "$SYS.REQ.ACCOUNT.PING.CONNZ",
            format!("$SYS.REQ.ACCOUNT.{acc}.CONNZ"),
        ),
        (
            "$SYS.REQ.SERVER.PING.CONNZ",
            format!("$SYS.REQ.ACCOUNT.{acc}.CONNZ"),
        ),
        (
            "$SYS.REQ.ACCOUNT.PING.STATZ",
            format!("$SYS.REQ.ACCOUNT.{acc}.STATZ"),
        ),
        ("$SYS.REQ.USER.INFO", format!("$SYS.REQ.USER.{acc}.INFO")),
    ]
}

/// How many subscriptions [`wire_system`] adds to each account (the four request sides; Go
/// counts them among the account's subscriptions too).
pub const SYSTEM_IMPORTS: usize = 4;

/// The services every account imports from the system account (Go, so a tenant can ask
/// about itself): `$SYS.REQ.ACCOUNT.PING.CONNZ` and `$SYS.REQ.SERVER.PING.CONNZ` answer with
/// the account's own connections, `$SYS.REQ.ACCOUNT.PING.STATZ` with its statistics, and
/// `$SYS.REQ.USER.INFO` (2.15.1) with the requester's user and account.
pub fn wire_system(importer: &Arc<Account>, system: &Arc<Account>, seed: u64) {
    // Forked by the account's name: each account's `_R_` prefixes differ.
    let name_hash = importer
        .name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let mut rng = Rng::fork(seed ^ name_hash, u64::MAX - 2);
    let client = crate::internal::internal_client(seed);
    for (local, remote) in system_imports(&importer.name) {
        wire_service(
            importer,
            system,
            local,
            &remote,
            (ResponseType::Singleton, None),
            &mut rng,
            &client,
        );
    }
}
