//! `authorization { … }`: single user, token, timeout, users with permissions, default
//! permissions; Go's aliases, checks and error texts (`opts.go parseAuthorization` and
//! friends).

use std::time::Duration;

use super::duration::parse_go_duration;
use super::typed::Typer;
use super::value::{Entry, Map, Node, Value};
use crate::auth::{Permissions, ResponsePermission, SubjectPermission, User};
use crate::options::AuthConfig;
use crate::subject;

fn as_map<'a>(t: &mut Typer, e: &'a Entry, what: &str) -> Option<&'a Map> {
    match &e.node.value {
        Value::Map(m) => Some(m),
        v => {
            let got = v.type_name();
            t.error(e, format!("Expected {what} to be a map/struct, got {got}"));
            None
        }
    }
}

/// Types an `authorization` block. `None` if it had errors (already recorded).
pub(crate) fn authorization(t: &mut Typer, e: &Entry) -> Option<AuthConfig> {
    let before = t.errors.len();
    let m = as_map(t, e, "authorization")?;
    let mut a = AuthConfig {
        timeout: Duration::from_secs(2),
        ..AuthConfig::default()
    };
    let mut users: Option<Vec<User>> = None;
    let mut defaults: Option<Permissions> = None;
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "user" | "username" => a.user = t.string(x),
            "pass" | "password" => a.password = t.string(x),
            "token" => a.token = t.string(x),
            "timeout" => {
                if let Some(d) = auth_timeout(t, x) {
                    a.timeout = d;
                }
            }
            "users" => users = parse_users(t, x),
            "default_permission" | "default_permissions" | "permissions" => {
                defaults = permissions(t, x);
            }
            "auth_callout" | "callout" => a.callout = super::callout::auth_callout(t, x),
            "auth_webhook" => a.webhook = super::callout::auth_webhook(t, x),
            "nkey" | "nkeys" | "auth_hook" | "proxy_required" => {
                t.error(x, super::typed::refused(&x.key));
            }
            _ => t.unknown(x),
        }
    }
    if (a.user.is_some() || a.password.is_some()) && a.token.is_some() {
        t.error(e, "Cannot have a user/pass and token");
    }
    if let Some(mut users) = users {
        if a.user.is_some() {
            t.error(e, "Can not have a single user/pass and a users array");
        }
        if a.token.is_some() {
            t.error(e, "Can not have a token and a users array");
        }
        let mut seen = crate::FastSet::default();
        for u in &users {
            if !seen.insert(u.name.clone()) {
                let what = if u.nkey.is_some() { "nkey" } else { "user" };
                t.error(e, format!("Duplicate {what} {:?} detected", u.name));
            }
        }
        if let Some(d) = defaults {
            for u in users.iter_mut().filter(|u| u.permissions.is_none()) {
                u.permissions = Some(d.clone());
            }
        }
        a.users = users;
    }
    (t.errors.len() == before).then_some(a)
}

/// Go reads the auth timeout as (possibly fractional) seconds. A duration string is accepted
/// too (Go 2.9.10 silently uses 1s for one).
fn auth_timeout(t: &mut Typer, x: &Entry) -> Option<Duration> {
    let secs = match &x.node.value {
        Value::Integer(i) => *i as f64,
        Value::Float(f) => *f,
        Value::String(s) => match parse_go_duration(s) {
            Ok(ns) if ns >= 0 => return Some(Duration::from_nanos(ns as u64)),
            _ => {
                t.error(
                    x,
                    format!("error parsing authorization timeout: invalid {s:?}"),
                );
                return None;
            }
        },
        v => {
            let got = v.type_name();
            t.error(x, format!("\"timeout\" expects seconds, got {got}"));
            return None;
        }
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d.is_zero() => Some(Duration::from_secs(2)),
        Ok(d) => Some(d),
        Err(_) => {
            t.error(x, format!("invalid authorization timeout {secs}"));
            None
        }
    }
}

pub(crate) fn parse_users(t: &mut Typer, e: &Entry) -> Option<Vec<User>> {
    let Value::Array(items) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(e, format!("Expected users field to be an array, got {got}"));
        return None;
    };
    let mut users = Vec::new();
    for n in items {
        let Value::Map(um) = &n.value else {
            let got = n.value.type_name();
            t.error_at(
                n,
                format!("Expected user entry to be a map/struct, got {got}"),
            );
            continue;
        };
        let mut u = User::default();
        let (mut has_user, mut has_pass, mut refused) = (false, false, false);
        for x in um.iter() {
            match x.key.to_ascii_lowercase().as_str() {
                "user" | "username" => {
                    if let Some(s) = t.string(x) {
                        u.name = s;
                        has_user = true;
                    }
                }
                "pass" | "password" => {
                    if let Some(s) = t.string(x) {
                        u.password = s;
                        has_pass = true;
                    }
                }
                "nkey" => u.nkey = t.string(x),
                "permission" | "permissions" | "authorization" => u.permissions = permissions(t, x),
                "publish_rate" => u.publish_rate = super::rate::publish_rate(t, x),
                "allowed_connection_types" | "connection_types" | "clients" => {
                    refused = true;
                    t.error(x, super::typed::refused(&x.key));
                }
                _ => t.unknown(x),
            }
        }
        if refused {
            continue;
        }
        if let Some(key) = &u.nkey {
            // Go's checks and texts (`parseUsers`), at the entry.
            if !crate::nkey::is_valid(key, crate::nkey::Kind::User) {
                t.error_at(n, "Not a valid public nkey for a user");
                continue;
            }
            if has_user || has_pass {
                t.error_at(n, "Nkey users do not take usernames or passwords");
                continue;
            }
            u.name = key.clone();
            users.push(u);
            continue;
        }
        if !has_user {
            t.error_at(n, "User entry requires a user");
            continue;
        }
        users.push(u);
    }
    Some(users)
}

/// A `permissions` map: `publish`/`pub`/`import`, `subscribe`/`sub`/`export`,
/// `allow_responses`/`publish_allow_responses`.
pub(crate) fn permissions(t: &mut Typer, e: &Entry) -> Option<Permissions> {
    let m = as_map(t, e, "permissions")?;
    let mut p = Permissions::default();
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "pub" | "publish" | "import" => p.publish = subject_permission(t, x),
            "sub" | "subscribe" | "export" => p.subscribe = subject_permission(t, x),
            "publish_allow_responses" | "allow_responses" => {
                p.allow_responses = match &x.node.value {
                    Value::Bool(true) => Some(ResponsePermission::default()),
                    Value::Bool(false) => None,
                    _ => allow_responses(t, x),
                };
                if p.allow_responses.is_some() {
                    let publish = p.publish.get_or_insert_with(SubjectPermission::default);
                    publish.allow.get_or_insert_with(Vec::new);
                }
            }
            _ => {
                if !x.used_as_variable {
                    t.error(x, format!("Unknown field {:?} parsing permissions", x.key));
                }
            }
        }
    }
    Some(p)
}

/// Old style (a subject or a list: the allow list) or `{allow, deny}`. An empty map means no
/// restriction (Go returns nil for it).
fn subject_permission(t: &mut Typer, e: &Entry) -> Option<SubjectPermission> {
    let Value::Map(m) = &e.node.value else {
        return subjects(t, &e.node).map(|allow| SubjectPermission {
            allow: Some(allow),
            deny: Vec::new(),
        });
    };
    if m.is_empty() {
        return None;
    }
    let mut p = SubjectPermission::default();
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "allow" => p.allow = subjects(t, &x.node),
            "deny" => p.deny = subjects(t, &x.node).unwrap_or_default(),
            _ => {
                if !x.used_as_variable {
                    t.error(
                        x,
                        format!(
                            "Unknown field name {:?} parsing subject permissions, only 'allow' \
                             or 'deny' are permitted",
                            x.key
                        ),
                    );
                }
            }
        }
    }
    Some(p)
}

/// A subject or a list of subjects, each a valid subject or `subject queue`.
fn subjects(t: &mut Typer, n: &Node) -> Option<Vec<String>> {
    let list: Vec<String> = match &n.value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => {
            let mut v = Vec::new();
            for i in items {
                match &i.value {
                    Value::String(s) => v.push(s.clone()),
                    _ => {
                        t.error_at(i, "Subject in permissions array cannot be cast to string");
                        return None;
                    }
                }
            }
            v
        }
        v => {
            let got = v.type_name();
            t.error_at(
                n,
                format!(
                    "Expected subject permissions to be a subject, or array of subjects, got {got}"
                ),
            );
            return None;
        }
    };
    for s in &list {
        if subject::is_valid_subject(s.as_bytes()) {
            continue;
        }
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.len() != 2 {
            t.error_at(n, format!("subject {s:?} is not a valid subject"));
            return None;
        }
        if !subject::is_valid_subject(parts[0].as_bytes()) {
            t.error_at(n, format!("subject {:?} is not a valid subject", parts[0]));
            return None;
        }
    }
    Some(list)
}

/// `allow_responses { max, expires }`. Zero means the default; negative means unlimited.
fn allow_responses(t: &mut Typer, e: &Entry) -> Option<ResponsePermission> {
    let Value::Map(m) = &e.node.value else {
        t.error(
            e,
            "error parsing response permissions, expected a boolean or a map",
        );
        return None;
    };
    let mut rp = ResponsePermission::default();
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "max" | "max_msgs" | "max_messages" | "max_responses" => {
                let max = t.int(x)?;
                if max < 0 {
                    rp.max = u32::MAX;
                } else if max > 0 {
                    rp.max = u32::try_from(max).unwrap_or(u32::MAX);
                }
            }
            "expires" | "expiration" | "ttl" => {
                let Value::String(s) = &x.node.value else {
                    t.error(x, "error parsing expires, not a duration string");
                    return None;
                };
                match parse_go_duration(s) {
                    // Negative means no expiry: about 136 years is close enough.
                    Ok(ns) if ns < 0 => rp.expires = Duration::from_secs(u64::from(u32::MAX)),
                    Ok(ns) if ns > 0 => rp.expires = Duration::from_nanos(ns as u64),
                    Ok(_) => {}
                    Err(m) => {
                        t.error(x, format!("error parsing expires: {m}"));
                        return None;
                    }
                }
            }
            _ => {
                if !x.used_as_variable {
                    t.error(x, format!("Unknown field {:?} parsing permissions", x.key));
                }
            }
        }
    }
    Some(rp)
}
