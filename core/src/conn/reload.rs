//! Applying reloaded server options to a live connection.
//!
//! After `Shared::apply_reload` swapped the options, the runtime calls
//! [`Connection::handle_config_change`] on every live connection. The connection refreshes
//! its cached options, its parser limits and its keep-alive settings, and, if the auth
//! settings changed, re-authenticates with the credentials it presented in CONNECT: a client
//! the new config no longer authorises is closed with `Authorization Violation` (as Go's
//! `reloadAuthorization`); one still authorised gets its new permissions, and its
//! subscriptions the new permissions no longer allow are removed with a
//! `Permissions Violation` error (as Go's `processSubsOnConfigReload`).

use std::sync::Arc;

use super::{Connection, LogLevel, State};
use crate::auth::{self, Credentials};
use crate::client::Subscription;
use crate::proto::encode::go_quote;
use crate::proto::Limits;
use crate::shared::Shared;
use crate::Time;

/// The credentials of a CONNECT, owned. Kept for the connection's life (a reload
/// re-authenticates with them), so what most clients present, nothing but their address,
/// takes no heap and 40 bytes: the rest is boxed only when given (it was 216 bytes inline
/// in every connection; BENCHMARKS.md, issue 19's fourth session).
#[derive(Debug, Clone, Default)]
pub(super) struct StoredCredentials {
    given: Option<Box<Given>>,
    client_ip: Option<std::net::IpAddr>,
    now_unix: i64,
}

/// What a CONNECT presented to authenticate with, when it presented anything.
#[derive(Debug, Clone, Default)]
struct Given {
    token: Option<String>,
    user: Option<String>,
    pass: Option<String>,
    nkey: Option<String>,
    sig: Option<String>,
    nonce: Box<[u8]>,
    cert_names: Option<Vec<String>>,
    jwt: Option<String>,
}

impl From<Credentials<'_>> for StoredCredentials {
    fn from(c: Credentials<'_>) -> Self {
        let given = Given {
            token: c.token.map(str::to_string),
            user: c.user.map(str::to_string),
            pass: c.pass.map(str::to_string),
            nkey: c.nkey.map(str::to_string),
            sig: c.sig.map(str::to_string),
            nonce: c.nonce.into(),
            cert_names: c.cert_names.map(<[String]>::to_vec),
            jwt: c.jwt.map(str::to_string),
        };
        let nothing = given.token.is_none()
            && given.user.is_none()
            && given.pass.is_none()
            && given.nkey.is_none()
            && given.sig.is_none()
            && given.nonce.is_empty()
            && given.cert_names.is_none()
            && given.jwt.is_none();
        StoredCredentials {
            given: (!nothing).then(|| Box::new(given)),
            client_ip: c.client_ip,
            now_unix: c.now_unix,
        }
    }
}

impl StoredCredentials {
    pub(super) fn borrow(&self) -> Credentials<'_> {
        let g = self.given.as_deref();
        Credentials {
            token: g.and_then(|g| g.token.as_deref()),
            user: g.and_then(|g| g.user.as_deref()),
            pass: g.and_then(|g| g.pass.as_deref()),
            nkey: g.and_then(|g| g.nkey.as_deref()),
            sig: g.and_then(|g| g.sig.as_deref()),
            nonce: g.map_or(&[], |g| &g.nonce),
            cert_names: g.and_then(|g| g.cert_names.as_deref()),
            jwt: g.and_then(|g| g.jwt.as_deref()),
            now_unix: self.now_unix,
            client_ip: self.client_ip,
        }
    }
}

impl Connection {
    /// Applies the server's current options if they changed since this connection last
    /// looked (`Shared::options_generation`); otherwise does nothing, so calling it
    /// spuriously is cheap and harmless.
    ///
    /// Contract: the runtime calls this on every live connection after
    /// `Shared::apply_reload`, at time `now`, then drains [`poll_event`](Self::poll_event)
    /// as after any `handle_*` call (the connection may now be closed). New limits apply
    /// to every op parsed afterwards; keep-alive changes take effect from the next timer, so
    /// the runtime should re-read [`poll_timeout`](Self::poll_timeout). A connection closed
    /// here has its `-ERR` queued for the writer, like any other close.
    pub fn handle_config_change(&mut self, now: Time, sh: &Shared) {
        if self.st.closed.is_some() {
            return;
        }
        let (cfg, generation) = sh.opts_with_generation();
        if generation == self.st.cfg_generation {
            return;
        }
        let old = std::mem::replace(&mut self.st.cfg, cfg);
        self.st.cfg_generation = generation;
        if self.st.route.is_some() {
            // A route keeps its own limits and has no client credentials to re-check; the
            // cluster block is not reloadable yet. Only the keep-alive settings apply.
            let cfg = Arc::clone(&self.st.cfg);
            self.st.keepalive.reconfigure(now, &cfg);
            return;
        }
        self.parser.set_limits(Limits {
            max_control_line: self.st.cfg.max_control_line,
            max_payload: self.st.cfg.max_payload,
        });
        let cfg = Arc::clone(&self.st.cfg);
        self.st.keepalive.reconfigure(now, &cfg);
        if old.auth != cfg.auth {
            self.st.reauthenticate(now, sh);
        }
        if self.st.connect_received && self.st.closed.is_none() {
            // New publish rates apply at once (an unchanged one keeps its buckets).
            self.st.setup_rate(sh);
        }
        self.st.finish_batch(sh);
    }
}

impl State {
    /// Auth changed: check this client against the new settings.
    fn reauthenticate(&mut self, now: Time, sh: &Shared) {
        if !self.connect_received {
            // CONNECT will be checked against the new settings when it comes.
            self.auth_required = self.cfg.auth.required();
            self.keepalive
                .auth_required_changed(now, self.auth_required, self.cfg.auth.timeout);
            return;
        }
        let mut creds = self.creds.borrow();
        creds.now_unix = crate::events::wall_secs(sh, now);
        let Some(authorized) = auth::authenticate(&self.cfg.auth, creds) else {
            self.auth_violation(now, sh);
            return;
        };
        let account = authorized
            .account
            .as_deref()
            .unwrap_or(crate::shared::GLOBAL_ACCOUNT);
        if account != self.account.name {
            // Its user moved to another account: a connection is bound to one for life, so
            // it goes, and reconnects into the new one (Go does the same).
            self.log(
                LogLevel::Info,
                format!("Account changed to {account:?} by a reload: disconnecting"),
            );
            self.close(crate::errors::CloseReason::Kicked, now, sh);
            return;
        }
        let headers = self.opts.headers && !self.cfg.no_header_support;
        self.user_rate = authorized.publish_rate.map(Box::new);
        self.perms = authorized.permissions.clone();
        self.pub_perm_cache.clear();
        self.handle.configure(headers, authorized.permissions);
        let user = authorized.user;
        sh.update_info(self.cid, move |i| i.user = user);
        self.drop_unauthorized_subs();
    }

    /// Removes the subscriptions the current permissions no longer allow, telling the
    /// client and the log about each, as the Go server does after a reload.
    fn drop_unauthorized_subs(&mut self) {
        let Some(perms) = self.perms.clone() else {
            return;
        };
        let mut removed: Vec<(Box<[u8]>, Arc<Subscription>)> = Vec::new();
        self.subs.retain(|s| {
            let allowed = s.is_closed()
                || perms.can_subscribe(s.subject(), None)
                || s.queue
                    .as_deref()
                    .is_some_and(|q| perms.can_subscribe(s.subject(), Some(q)));
            if !allowed {
                removed.push((s.sid().into(), Arc::clone(s)));
            }
            allowed
        });
        if removed.is_empty() {
            return;
        }
        self.account.remove(removed.iter().map(|(_, s)| s));
        let user = self.creds.borrow().user.unwrap_or_default().to_string();
        for (sid, s) in removed {
            let (subj, sid) = (go_quote(s.subject()), go_quote(&sid));
            self.send_err(&format!(
                "Permissions Violation for Subscription to {subj} (sid {sid})"
            ));
            self.log(
                LogLevel::Info,
                format!("Removed sub {subj} (sid {sid}) for {user} - not authorized"),
            );
        }
    }
}
