//! The asynchronous auth decision's two halves: the [`AuthRequest`] a CONNECT leaves for the
//! runtime (`Connection::poll_auth_request`) and the [`AuthDecision`] it hands back
//! (`Connection::handle_auth_decision`), with what an external provider needs of the client.

use std::sync::Arc;

use super::reload;
use crate::options::Options;
use crate::shared::Shared;

/// Credentials to check off the serving thread (a bcrypt hash), from a CONNECT that waits
/// for the answer: see [`Connection::poll_auth_request`].
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub(super) cfg: Arc<Options>,
    pub(super) creds: reload::StoredCredentials,
    /// What an auth callout request says of the client, when the callout (or the
    /// webhook) decides it.
    pub(super) callout: Option<Box<CalloutContext>>,
    /// The webhook decides it (ours), not the callout.
    pub(super) webhook: bool,
}

/// The client as an auth callout request describes it.
#[derive(Debug, Clone)]
pub(super) struct CalloutContext {
    pub(super) connect: crate::info::ConnectJson,
    pub(super) cid: u64,
    pub(super) client_ip: String,
    pub(super) nonce: String,
    pub(super) tls: Option<(String, String)>,
    /// Operator mode: the callout of the client's JWT account (from its account JWT's
    /// `authorization`); `None`: the config's `auth_callout`.
    pub(super) operator: Option<Box<crate::callout::CalloutOptions>>,
}

impl AuthRequest {
    /// The built-in decision: the server's users, token or single user, nkeys, JWTs, as in
    /// CONNECT (slow: it verifies a bcrypt hash or a signature). A request that
    /// [`needs_callout`](Self::needs_callout) is refused here: the callout decides it
    /// (`crate::callout`).
    pub fn decide(&self) -> AuthDecision {
        if self.callout.is_some() {
            return AuthDecision::reject_because(
                "auth callout requests are decided by the callout".into(),
            );
        }
        AuthDecision {
            authorized: crate::auth::authenticate(&self.cfg.auth, self.creds.borrow()),
            reason: None,
        }
    }

    /// True if the auth callout decides this client (see `crate::callout`'s contract).
    pub fn needs_callout(&self) -> bool {
        self.callout.is_some() && !self.webhook
    }

    /// The webhook that decides this client, if one does (ours; see
    /// `crate::callout::webhook`).
    pub fn webhook(&self) -> Option<&crate::callout::WebhookOptions> {
        self.cfg.auth.webhook.as_ref().filter(|_| self.webhook)
    }

    /// The callout that decides this client: in operator mode its JWT account's, else the
    /// config's `auth_callout` (`None` if neither: not a callout request).
    pub fn callout_options(&self) -> Option<&crate::callout::CalloutOptions> {
        let ctx = self.callout.as_deref().filter(|_| !self.webhook)?;
        ctx.operator.as_deref().or(self.cfg.auth.callout.as_ref())
    }

    /// How long an acceptance by this request's provider may be reused
    /// (`crate::callout::cache`); `None`: not at all.
    pub fn cache_ttl(&self) -> Option<std::time::Duration> {
        match self.webhook() {
            Some(w) => w.cache_ttl,
            None => self.callout_options()?.cache_ttl,
        }
    }

    /// The key of this request in the decision cache: a hash of the provider, the client's
    /// address and credentials; `None` for a client that signed the nonce (see
    /// `crate::callout::cache`).
    pub fn cache_key(&self) -> Option<[u8; 32]> {
        use sha2::{Digest, Sha256};
        let ctx = self.callout.as_deref()?;
        let c = &ctx.connect;
        if c.sig.is_some() {
            return None;
        }
        let mut h = Sha256::new();
        let provider = match self.callout_options() {
            Some(o) => format!("callout {}", o.account),
            None => "webhook".to_string(),
        };
        for field in [
            Some(provider.as_str()),
            Some(ctx.client_ip.as_str()),
            c.user.as_deref(),
            c.pass.as_deref(),
            c.auth_token.as_deref(),
            c.nkey.as_deref(),
            c.jwt.as_deref(),
        ] {
            // Length-prefixed, so no two different field lists hash the same bytes.
            let f = field.unwrap_or("\0absent");
            h.update((f.len() as u64).to_le_bytes());
            h.update(f.as_bytes());
        }
        Some(h.finalize().into())
    }

    /// The user JWT the client presented, if any.
    pub fn user_jwt(&self) -> Option<&str> {
        self.callout.as_deref()?.connect.jwt.as_deref()
    }

    /// The options in force when the client sent CONNECT.
    pub fn options(&self) -> &Arc<Options> {
        &self.cfg
    }

    /// The request's content for the callout (`user_nkey`: the fresh key the response
    /// must name; `wall`: Unix seconds now).
    pub fn callout_input(
        &self,
        sh: &Shared,
        opts: &crate::callout::CalloutOptions,
        user_nkey: &str,
        wall: i64,
        timeout: std::time::Duration,
    ) -> crate::callout::RequestInput {
        let ctx = self.callout.as_deref();
        crate::callout::RequestInput {
            subject: opts.issuer.clone(),
            server_name: sh.server_name(),
            server_host: self.cfg.host.clone(),
            server_id: sh.server_id().to_string(),
            cluster: self
                .cfg
                .cluster
                .as_ref()
                .and_then(|c| c.name.clone())
                .unwrap_or_default(),
            user_nkey: user_nkey.to_string(),
            client_host: ctx.map(|c| c.client_ip.clone()).unwrap_or_default(),
            client_id: ctx.map_or(0, |c| c.cid),
            connect: ctx.map(|c| c.connect.clone()).unwrap_or_default(),
            nonce: ctx.map(|c| c.nonce.clone()).unwrap_or_default(),
            tls: ctx.and_then(|c| c.tls.clone()),
            issued_at: wall,
            expires: wall + i64::try_from(timeout.as_secs()).unwrap_or(0).max(1),
            server_xkey: String::new(),
        }
    }

    /// The user name the client presented, if any.
    pub fn user(&self) -> Option<&str> {
        self.creds.borrow().user
    }
}

/// The answer to an [`AuthRequest`].
#[derive(Debug, Clone)]
pub struct AuthDecision {
    pub(super) authorized: Option<crate::auth::Authorized>,
    /// Why it was refused, for the log (an external provider's words).
    pub(super) reason: Option<String>,
}

impl AuthDecision {
    /// Let the client in, as `authorized`.
    pub fn accept(authorized: crate::auth::Authorized) -> AuthDecision {
        AuthDecision {
            authorized: Some(authorized),
            reason: None,
        }
    }

    /// Refuse it (`-ERR 'Authorization Violation'`, then close, as any failed CONNECT).
    pub fn reject() -> AuthDecision {
        AuthDecision {
            authorized: None,
            reason: None,
        }
    }

    /// Refuse it, saying why in the server's log (the client hears only Go's
    /// `Authorization Violation`, unless the callout's `send_reason` is on).
    pub fn reject_because(reason: String) -> AuthDecision {
        AuthDecision {
            authorized: None,
            reason: Some(reason),
        }
    }

    /// What it lets the client in as, if it does.
    pub fn accepted(&self) -> Option<&crate::auth::Authorized> {
        self.authorized.as_ref()
    }

    /// True if it lets the client in.
    pub fn is_accept(&self) -> bool {
        self.authorized.is_some()
    }

    /// The reason of a refusal, if one was given.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}
