//! Ours: an HTTP(S) webhook as an auth provider, for deployments with no NATS service to
//! run the callout: the runtime POSTs the request as JSON and reads the decision as JSON.
//! Pure here: what to send ([`request_body`]) and what the answer means ([`decide`]); the
//! HTTP itself is the runtime's (`natsd_adapter::callout`).
//!
//! Request (`Content-Type: application/json`): the callout request's content without the
//! JWT: `{"server_id": {...}, "client_info": {...}, "connect_opts": {...},
//! "client_tls": {...}}` (the same fields as Go's authorization request claims).
//!
//! Answer, status 200:
//! `{"allow": true, "account": "APP", "user": "alice", "permissions": {"publish": {"allow":
//! [...], "deny": [...]}, "subscribe": {...}}, "expires": 1764460000}` (every key but
//! `allow` optional; no `account`: `$G`), or `{"allow": false, "reason": "..."}`. Any other
//! status, a body that is not such JSON, or no answer within `timeout` refuses the client.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{Authorized, CompiledPermissions, Permissions, SubjectPermission};
use crate::conn::{AuthDecision, AuthRequest};

/// Largest answer read (a decision is small; more is refused).
pub const MAX_ANSWER: usize = 64 * 1024;

/// `authorization { auth_webhook { url, timeout, fallback } }` (ours).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookOptions {
    /// Where to POST (`http://` or `https://`).
    pub url: String,
    /// How long to wait for the answer (default: the auth timeout).
    pub timeout: Option<Duration>,
    /// `true`: only clients the built-in methods do not know go to the webhook.
    pub fallback: bool,
    /// Reuse an acceptance this long (`cache_ttl`; see [`super::cache`]).
    pub cache_ttl: Option<Duration>,
}

/// The JSON body to POST for `req`.
pub fn request_body(sh: &crate::shared::Shared, req: &AuthRequest, wall: i64) -> Vec<u8> {
    let opts = super::CalloutOptions::default();
    let input = req.callout_input(sh, &opts, "", wall, Duration::ZERO);
    let claims = super::request_claims(&input);
    let nats = &claims["nats"];
    let mut body = serde_json::Map::new();
    for k in ["server_id", "client_info", "connect_opts", "client_tls"] {
        if !nats[k].is_null() {
            body.insert(k.into(), nats[k].clone());
        }
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize)]
struct Answer {
    allow: bool,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    permissions: Option<AnswerPermissions>,
    #[serde(default)]
    expires: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct AnswerPermissions {
    #[serde(default)]
    publish: Option<AnswerList>,
    #[serde(default)]
    subscribe: Option<AnswerList>,
}

#[derive(Deserialize, Default)]
struct AnswerList {
    #[serde(default)]
    allow: Option<Vec<String>>,
    #[serde(default)]
    deny: Vec<String>,
}

impl From<AnswerList> for SubjectPermission {
    fn from(l: AnswerList) -> Self {
        SubjectPermission {
            allow: l.allow,
            deny: l.deny,
        }
    }
}

/// The decision from the webhook's answer: `status` and `body`, or `None` when no answer
/// came (timeout, connection refused: `error` says which). Pure.
pub fn decide(req: &AuthRequest, answer: Result<(u16, Vec<u8>), String>) -> AuthDecision {
    let (status, body) = match answer {
        Ok(a) => a,
        Err(e) => return AuthDecision::reject_because(format!("Auth webhook: {e}")),
    };
    if status != 200 {
        return AuthDecision::reject_because(format!("Auth webhook answered status {status}"));
    }
    if body.len() > MAX_ANSWER {
        return AuthDecision::reject_because("Auth webhook answer too large".into());
    }
    let a: Answer = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return AuthDecision::reject_because(format!("Auth webhook answer: {e}")),
    };
    if !a.allow {
        let why = a.reason.unwrap_or_else(|| "no reason given".into());
        return AuthDecision::reject_because(format!("Auth webhook refused the client: {why}"));
    }
    let account = a.account.filter(|n| n != crate::shared::GLOBAL_ACCOUNT);
    if let Some(n) = &account {
        let cfg = req.options();
        let known = cfg.accounts.iter().any(|x| x.name == *n)
            || cfg
                .system_account
                .as_deref()
                .unwrap_or(crate::shared::SYSTEM_ACCOUNT)
                == n;
        if !known {
            return AuthDecision::reject_because(format!(
                "Auth webhook placed the client in an unknown account {n:?}"
            ));
        }
    }
    let permissions = a.permissions.map(|p| Permissions {
        publish: p.publish.map(Into::into),
        subscribe: p.subscribe.map(Into::into),
        allow_responses: None,
    });
    AuthDecision::accept(Authorized {
        user: a.user,
        permissions: permissions
            .as_ref()
            .map(|p| Arc::new(CompiledPermissions::compile(p))),
        account,
        publish_rate: None,
        expires: a.expires,
        limits: Default::default(),
    })
}
