//! `accounts { … }`, `no_auth_user` and `system_account`, with Go's keys, aliases and errors
//! (`opts.go parseAccounts` and friends). Users inside an account are authorization users
//! bound to it; exports, imports and limits become [`AccountOptions`]. Checks that need every
//! account (an import of an undefined account, of something not exported, a private export,
//! a cycle) run once the whole file is read ([`check`]).

use super::typed::Typer;
use super::value::{Entry, Node, Pos, Value};
use crate::auth::User;
use crate::options::{
    AccountLimits, AccountOptions, ExportOptions, ImportKind, ImportOptions, Options, ResponseType,
};

/// What the `accounts` block gave, with positions for the checks made at the end.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Users of each account, already bound to it.
    pub users: Vec<(User, Pos)>,
    /// Where each import was written (same order as the accounts' imports).
    pub import_pos: Vec<Vec<Pos>>,
    /// Where the block starts.
    pub pos: Option<Pos>,
}

/// The account named `$G` is the global one: no block may define it (Go).
const RESERVED: &str = crate::shared::GLOBAL_ACCOUNT;

/// Types an `accounts` block into `o.accounts`; returns its users (bound) for the caller to
/// merge once `authorization` is known.
pub(crate) fn accounts(t: &mut Typer, e: &Entry, o: &mut Options) -> Parsed {
    let mut parsed = Parsed {
        pos: Some(e.key_pos.clone()),
        ..Parsed::default()
    };
    match &e.node.value {
        // A simple list of names.
        Value::Array(items) => {
            for n in items {
                let Value::String(name) = &n.value else {
                    t.error_at(n, "Expected account name to be a string");
                    continue;
                };
                add_account(t, n, name, o, &mut parsed);
            }
        }
        Value::Map(m) => {
            for x in m.iter() {
                if x.used_as_variable {
                    continue;
                }
                let Value::Map(am) = &x.node.value else {
                    t.error(x, "Expected map entries for accounts");
                    continue;
                };
                if !add_account(t, &x.node, &x.key, o, &mut parsed) {
                    continue;
                }
                let i = o.accounts.len() - 1;
                // The account's users, to receive its `default_permissions` at the end (the
                // key may come after `users`).
                let first_user = parsed.users.len();
                let mut defaults = None;
                for y in am.iter() {
                    let acc = &mut o.accounts[i];
                    match y.key.to_ascii_lowercase().as_str() {
                        "users" => {
                            for mut u in super::perms::parse_users(t, y).unwrap_or_default() {
                                u.account = Some(acc.name.clone());
                                parsed.users.push((u, y.key_pos.clone()));
                            }
                        }
                        "exports" => acc.exports = exports(t, y),
                        "imports" => {
                            let (imports, pos) = imports(t, y);
                            acc.imports = imports;
                            parsed.import_pos[i] = pos;
                        }
                        "limits" => acc.limits = limits(t, y),
                        "publish_rate" => acc.publish_rate = super::rate::publish_rate(t, y),
                        "mappings" | "maps" => acc.mappings = super::mappings::mappings(t, y),
                        "default_permissions" => defaults = super::perms::permissions(t, y),
                        // Running without these would route or authorize other than asked.
                        "nkey" | "jetstream" => {
                            t.error(y, super::typed::refused(&y.key));
                        }
                        _ => t.unknown(y),
                    }
                }
                // Go's `applyDefaultPermissions`: users without permissions of their own.
                if let Some(d) = defaults {
                    for (u, _) in parsed.users[first_user..].iter_mut() {
                        if u.permissions.is_none() {
                            u.permissions = Some(d.clone());
                        }
                    }
                }
            }
        }
        v => {
            let got = v.type_name();
            t.error(
                e,
                format!("Expected accounts to be a map or an array, got {got}"),
            );
        }
    }
    parsed
}

/// Adds an empty account `name` unless reserved or a duplicate; false if refused.
fn add_account(t: &mut Typer, n: &Node, name: &str, o: &mut Options, p: &mut Parsed) -> bool {
    if name == RESERVED {
        t.error_at(n, format!("{name:?} is a Reserved Account"));
        return false;
    }
    if o.accounts.iter().any(|a| a.name == name) {
        t.error_at(n, format!("Duplicate Account Entry: {name}"));
        return false;
    }
    o.accounts.push(AccountOptions {
        name: name.to_string(),
        ..AccountOptions::default()
    });
    p.import_pos.push(Vec::new());
    true
}

fn string_of(t: &mut Typer, x: &Entry, what: &str) -> Option<String> {
    match &x.node.value {
        Value::String(s) => Some(s.clone()),
        v => {
            let got = v.type_name();
            t.error(x, format!("Expected {what} to be string, got {got}"));
            None
        }
    }
}

fn exports(t: &mut Typer, e: &Entry) -> Vec<ExportOptions> {
    let Value::Array(items) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(e, format!("Exports should be an array, got {got}"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in items {
        let Value::Map(m) = &n.value else {
            let got = n.value.type_name();
            t.error_at(
                n,
                format!("Export Items should be a map with type entry, got {got}"),
            );
            continue;
        };
        let (mut stream, mut service) = (None::<String>, None::<String>);
        let (mut response, mut threshold, mut accounts) = (None, None, None);
        for x in m.iter() {
            match x.key.to_ascii_lowercase().as_str() {
                "stream" => {
                    if service.is_some() {
                        t.error(x, "Detected stream but already saw a service");
                        continue;
                    }
                    stream = string_of(t, x, "stream name");
                }
                "service" => {
                    if stream.is_some() {
                        t.error(x, "Detected service but already saw a stream");
                        continue;
                    }
                    service = string_of(t, x, "service name");
                }
                "response" | "response_type" => {
                    let Some(s) = string_of(t, x, "response type") else {
                        continue;
                    };
                    response = match s.to_ascii_lowercase().as_str() {
                        "single" | "singleton" => Some(ResponseType::Singleton),
                        "stream" => Some(ResponseType::Stream),
                        "chunk" | "chunked" => Some(ResponseType::Chunked),
                        _ => {
                            t.error(x, format!("Unknown response type: {s:?}"));
                            continue;
                        }
                    };
                }
                "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                    threshold = t.duration(x, "response threshold");
                }
                "accounts" => {
                    let Value::Array(names) = &x.node.value else {
                        t.error(x, "Expected accounts to be an array");
                        continue;
                    };
                    accounts = Some(
                        names
                            .iter()
                            .filter_map(|n| match &n.value {
                                Value::String(s) => Some(s.clone()),
                                _ => None,
                            })
                            .collect(),
                    );
                }
                "latency" | "account_token_position" | "advertise" => {
                    t.error(x, super::typed::refused(&x.key));
                }
                _ => t.unknown(x),
            }
        }
        if stream.is_some() && (response.is_some() || threshold.is_some()) {
            t.error_at(n, "Detected response directive on non-service");
            continue;
        }
        let (subject, svc) = match (stream, service) {
            (Some(s), None) => (s, None),
            (None, Some(s)) => (s, Some((response.unwrap_or_default(), threshold))),
            _ => {
                t.error_at(n, "Export Items should be a map with type entry");
                continue;
            }
        };
        if !crate::subject::is_valid_subject(subject.as_bytes()) {
            t.error_at(
                n,
                format!("Error adding export {subject:?}: invalid subject"),
            );
            continue;
        }
        out.push(ExportOptions {
            subject,
            service: svc,
            accounts,
        });
    }
    out
}

fn imports(t: &mut Typer, e: &Entry) -> (Vec<ImportOptions>, Vec<Pos>) {
    let Value::Array(items) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(e, format!("Imports should be an array, got {got}"));
        return (Vec::new(), Vec::new());
    };
    let (mut out, mut pos) = (Vec::new(), Vec::new());
    for n in items {
        let Value::Map(m) = &n.value else {
            let got = n.value.type_name();
            t.error_at(
                n,
                format!("Import Items should be a map with type entry, got {got}"),
            );
            continue;
        };
        let (mut source, mut is_service) = (None::<(String, String)>, false);
        let (mut prefix, mut to) = (None, None);
        for x in m.iter() {
            match x.key.to_ascii_lowercase().as_str() {
                k @ ("stream" | "service") => {
                    if source.is_some() {
                        let other = if is_service { "service" } else { "stream" };
                        t.error(x, format!("Detected {k} but already saw a {other}"));
                        continue;
                    }
                    is_service = k == "service";
                    let Value::Map(am) = &x.node.value else {
                        let what = if is_service { "Service" } else { "Stream" };
                        let got = x.node.value.type_name();
                        t.error(
                            x,
                            format!("{what} entry should be an account map, got {got}"),
                        );
                        continue;
                    };
                    let (mut account, mut subject) = (String::new(), String::new());
                    for y in am.iter() {
                        match y.key.to_ascii_lowercase().as_str() {
                            "account" => account = string_of(t, y, "account").unwrap_or_default(),
                            "subject" => subject = string_of(t, y, "subject").unwrap_or_default(),
                            _ => t.unknown(y),
                        }
                    }
                    if account.is_empty() || subject.is_empty() {
                        t.error(x, "Expect an account name and a subject");
                        continue;
                    }
                    source = Some((account, subject));
                }
                "prefix" => prefix = string_of(t, x, "prefix"),
                "to" => to = string_of(t, x, "to"),
                "share" => {
                    t.bool(x);
                }
                _ => t.unknown(x),
            }
        }
        let Some((account, subject)) = source else {
            t.error_at(n, "Import Items should be a map with type entry");
            continue;
        };
        let kind = if is_service {
            ImportKind::Service {
                to: to.unwrap_or_else(|| subject.clone()),
            }
        } else {
            if prefix.is_some() && to.is_some() {
                t.error_at(
                    n,
                    "Stream import can not have a 'prefix' and a 'to' property",
                );
                continue;
            }
            ImportKind::Stream { prefix, to }
        };
        out.push(ImportOptions {
            account,
            subject,
            kind,
        });
        pos.push(n.pos.clone());
    }
    (out, pos)
}

fn limits(t: &mut Typer, e: &Entry) -> AccountLimits {
    let Value::Map(m) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(
            e,
            format!("Expected account limits to be a map/struct, got {got}"),
        );
        return AccountLimits::default();
    };
    let mut l = AccountLimits::default();
    for x in m.iter() {
        // Go: a negative limit means none.
        let v = |t: &mut Typer| t.int(x).and_then(|i| u64::try_from(i).ok());
        match x.key.to_ascii_lowercase().as_str() {
            "max_connections" | "max_conn" => l.max_connections = v(t),
            "max_subscriptions" | "max_subs" => l.max_subscriptions = v(t),
            "max_payload" | "max_pay" => l.max_payload = v(t),
            "max_leafnodes" | "max_leafs" => {
                t.int(x);
            }
            _ => {
                if !x.used_as_variable {
                    t.error(
                        x,
                        format!("Unknown field {:?} parsing account limits", x.key),
                    );
                }
            }
        }
    }
    l
}

/// The checks that need the whole file: users merged into `authorization` (no single
/// user/token beside account users, no user twice), `no_auth_user` known, imports of
/// defined accounts, of something exported, allowed by a private export's list, and no
/// cycle of service imports.
pub(crate) fn check(t: &mut Typer, o: &mut Options, p: Parsed, no_auth_pos: Option<Pos>) {
    let err = |t: &mut Typer, pos: &Pos, msg: String| {
        t.errors.push(super::ConfigError::at(pos, msg));
    };
    if let Some((_, pos)) = p.users.first() {
        if o.auth.user.is_some() {
            err(
                t,
                pos,
                "Can not have a single user/pass and accounts".into(),
            );
        } else if o.auth.token.is_some() {
            err(t, pos, "Can not have a token and accounts".into());
        }
    }
    for (u, pos) in p.users {
        if o.auth.users.iter().any(|x| x.name == u.name) {
            let what = if u.nkey.is_some() { "nkey" } else { "user" };
            err(t, &pos, format!("Duplicate {what} {:?} detected", u.name));
            continue;
        }
        o.auth.users.push(u);
    }
    if let (Some(name), Some(pos)) = (&o.auth.no_auth_user, &no_auth_pos) {
        if !o.auth.users.iter().any(|u| &u.name == name) {
            err(
                t,
                pos,
                format!("no_auth_user: {name:?} not present as user or nkey in authorization block or account configuration"),
            );
        }
    }
    let Some(block) = p.pos else { return };
    let names: Vec<String> = o.accounts.iter().map(|a| a.name.clone()).collect();
    for a in &o.accounts {
        for x in &a.exports {
            for n in x.accounts.iter().flatten() {
                if !names.contains(n) {
                    let what = if x.service.is_some() {
                        "service"
                    } else {
                        "stream"
                    };
                    err(
                        t,
                        &block,
                        format!("{n:?} account not defined for {what} export"),
                    );
                }
            }
        }
    }
    for (ai, a) in o.accounts.iter().enumerate() {
        for (ii, imp) in a.imports.iter().enumerate() {
            let pos = p.import_pos[ai].get(ii).unwrap_or(&block);
            let service = matches!(imp.kind, ImportKind::Service { .. });
            let what = if service { "service" } else { "stream" };
            let Some(from) = o.accounts.iter().find(|x| x.name == imp.account) else {
                err(
                    t,
                    pos,
                    format!("{:?} account not defined for {what} import", imp.account),
                );
                continue;
            };
            let exported = from.exports.iter().any(|x| {
                x.service.is_some() == service
                    && crate::subject::subset_of(imp.subject.as_bytes(), x.subject.as_bytes())
                    && x.accounts.as_ref().is_none_or(|l| l.contains(&a.name))
            });
            if !exported {
                err(
                    t,
                    pos,
                    format!(
                        "Error adding {what} import {:?}: {what} import not authorized",
                        imp.subject
                    ),
                );
            }
        }
    }
    // Service imports form a graph between accounts; a cycle would bounce requests forever.
    if let Some(cycle) = service_cycle(&o.accounts) {
        err(
            t,
            &block,
            format!(
                "Error adding service import: import forms a cycle ({})",
                cycle.join(" -> ")
            ),
        );
    }
}

/// A cycle of service imports between accounts, if any (account names in order).
fn service_cycle(accounts: &[AccountOptions]) -> Option<Vec<String>> {
    let edges = |a: &AccountOptions| -> Vec<String> {
        a.imports
            .iter()
            .filter(|i| matches!(i.kind, ImportKind::Service { .. }))
            .map(|i| i.account.clone())
            .collect()
    };
    for start in accounts {
        // Depth-first from `start`, iteratively; a path back to `start` is a cycle.
        let mut stack = vec![(start.name.clone(), vec![start.name.clone()])];
        let mut seen = Vec::new();
        while let Some((at, path)) = stack.pop() {
            let Some(acc) = accounts.iter().find(|a| a.name == at) else {
                continue;
            };
            for next in edges(acc) {
                if next == start.name {
                    let mut cycle = path.clone();
                    cycle.push(next);
                    return Some(cycle);
                }
                if !seen.contains(&next) {
                    seen.push(next.clone());
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next, p));
                }
            }
        }
    }
    None
}
