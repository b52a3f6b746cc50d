//! `authorization { auth_callout { issuer, account, auth_users, xkey, allowed_accounts } }`,
//! as Go's `parseAuthCallout` reads it, with its texts. Ours: `send_reason`, `fallback`,
//! `cache_ttl`.

use super::typed::Typer;
use super::value::{Entry, Value};
use crate::callout::CalloutOptions;

/// Types an `auth_callout` block; `None` if it had errors (recorded).
pub(crate) fn auth_callout(t: &mut Typer, e: &Entry) -> Option<CalloutOptions> {
    let before = t.errors.len();
    let Value::Map(m) = &e.node.value else {
        t.error(
            e,
            format!(
                "Expected authorization callout to be a map/struct, got {}",
                e.node.value.type_name()
            ),
        );
        return None;
    };
    let mut c = CalloutOptions::default();
    let list = |t: &mut Typer, x: &Entry, what: &str| -> Vec<String> {
        match &x.node.value {
            Value::Array(items) => items
                .iter()
                .filter_map(|n| match &n.value {
                    Value::String(s) => Some(s.clone()),
                    v => {
                        t.error_at(
                            n,
                            format!("{what} entries must be strings, got {}", v.type_name()),
                        );
                        None
                    }
                })
                .collect(),
            v => {
                t.error(
                    x,
                    format!(
                        "Expected {what} field to be an array, got {}",
                        v.type_name()
                    ),
                );
                Vec::new()
            }
        }
    };
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "issuer" => {
                let s = t.string(x).unwrap_or_default();
                if !crate::nkey::is_valid(&s, crate::nkey::Kind::Account) {
                    t.error(
                        x,
                        format!(
                            "Expected callout user to be a valid public account nkey, got {s:?}"
                        ),
                    );
                }
                c.issuer = s;
            }
            "account" | "acc" => c.account = t.string(x).unwrap_or_default(),
            "auth_users" | "users" => c.auth_users = list(t, x, "auth_users"),
            "allowed_accounts" => c.allowed_accounts = list(t, x, "allowed accounts"),
            "xkey" | "key" => {
                let s = t.string(x).unwrap_or_default();
                if nkeys::XKey::from_public_key(&s).is_err() {
                    t.error(
                        x,
                        format!("Expected callout xkey to be a valid public xkey, got {s:?}"),
                    );
                }
                c.xkey = Some(s);
            }
            "send_reason" => c.send_reason = t.bool(x).unwrap_or_default(),
            "fallback" => c.fallback = t.bool(x).unwrap_or_default(),
            "cache_ttl" => c.cache_ttl = t.duration(x, "cache_ttl"),
            _ => {
                if !x.used_as_variable {
                    t.error(
                        x,
                        format!("Unknown field {:?} parsing authorization callout", x.key),
                    );
                }
            }
        }
    }
    if c.account.is_empty() {
        c.account = crate::shared::GLOBAL_ACCOUNT.to_string();
    }
    if c.issuer.is_empty() && t.errors.len() == before {
        t.error(
            e,
            "Authorization callouts require an issuer to be specified",
        );
    }
    if c.auth_users.is_empty() && t.errors.len() == before {
        t.error(
            e,
            "Authorization callouts require authorized users to be specified",
        );
    }
    (t.errors.len() == before).then_some(c)
}

/// Types an `auth_webhook` block (ours): `url` (http or https, required), `timeout`
/// (default: the auth timeout), `fallback`, `cache_ttl`.
pub(crate) fn auth_webhook(t: &mut Typer, e: &Entry) -> Option<crate::callout::WebhookOptions> {
    let before = t.errors.len();
    let Value::Map(m) = &e.node.value else {
        t.error(e, "Expected auth_webhook to be a map");
        return None;
    };
    let mut w = crate::callout::WebhookOptions {
        url: String::new(),
        timeout: None,
        fallback: false,
        cache_ttl: None,
    };
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "url" => {
                let u = t.string(x).unwrap_or_default();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    t.error(
                        x,
                        format!("auth_webhook url must be http:// or https://, got {u:?}"),
                    );
                }
                w.url = u;
            }
            "timeout" => w.timeout = t.duration(x, "timeout"),
            "fallback" => w.fallback = t.bool(x).unwrap_or_default(),
            "cache_ttl" => w.cache_ttl = t.duration(x, "cache_ttl"),
            _ => t.unknown(x),
        }
    }
    if w.url.is_empty() && t.errors.len() == before {
        t.error(e, "auth_webhook needs a url");
    }
    (t.errors.len() == before).then_some(w)
}
