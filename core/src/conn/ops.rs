//! CONNECT, SUB, UNSUB and the error paths, as the Go server handles them.

use std::sync::Arc;

use super::{LogLevel, State};
use crate::auth::{self, Credentials};
use crate::client::Subscription;
use crate::errors::{text, CloseReason};
use crate::info::ConnectJson;
use crate::proto::encode::go_quote;
use crate::proto::ParseError;
use crate::shared::Shared;
use crate::{subject, Time};

/// CONNECT's JSON as Go's `encoding/json` reads it: invalid UTF-8 in a string becomes
/// U+FFFD and a repeated key keeps its last value (serde would refuse both; Go clients and
/// hand-written CONNECTs rely on neither being an error).
fn parse_connect(json: &[u8]) -> Result<ConnectJson, serde_json::Error> {
    let text = String::from_utf8_lossy(json);
    // Through a `Value`: its map keeps the last of repeated keys.
    let v: serde_json::Value = serde_json::from_str(&text)?;
    serde_json::from_value(v)
}

impl State {
    /// CONNECT: overlay the options, authenticate, check the protocol level and
    /// `no_responders`, then `+OK` if verbose.
    pub(super) fn process_connect(&mut self, json: &[u8], now: Time, sh: &Shared) {
        let c: ConnectJson = match parse_connect(json) {
            Ok(c) => c,
            Err(e) => {
                // The Go server closes on bad CONNECT JSON without an -ERR.
                self.log(LogLevel::Error, format!("Error processing CONNECT: {e}"));
                self.close(CloseReason::ProtocolViolation, now, sh);
                return;
            }
        };
        self.opts.overlay(&c);
        self.connect_received = true;
        self.parser_dirty = true;

        let creds = Credentials {
            token: c.auth_token.as_deref(),
            user: c.user.as_deref(),
            pass: c.pass.as_deref(),
            nkey: c.nkey.as_deref(),
            sig: c.sig.as_deref(),
            nonce: self.nonce.as_bytes(),
            cert_names: self
                .cfg
                .tls
                .as_ref()
                .filter(|t| t.verify_and_map)
                .map(|_| self.cert_names.as_slice()),
            jwt: c.jwt.as_deref(),
            now_unix: crate::events::wall_secs(sh, now),
            client_ip: self.addr.map(|a| a.ip()),
        };
        self.creds = super::reload::StoredCredentials::from(creds);
        // Account designation in CONNECT is refused by the Go server, auth or not.
        if c.account.is_some() || c.new_account == Some(true) {
            self.auth_violation(now, sh);
            return;
        }
        // An external provider: Go's callout (every client but its `auth_users`, or with
        // ours' `fallback` only those the built-in methods do not know), or ours' webhook.
        // (`knows` only asked with a `fallback`: most servers have no provider at all.)
        let known = || auth::knows(&self.cfg.auth, creds);
        // Operator mode: the callout of the JWT's account, when its account JWT has one.
        let operator = self
            .cfg
            .auth
            .operator
            .as_ref()
            .zip(c.jwt.as_deref())
            .and_then(|(m, token)| m.callout_for(token, c.nkey.as_deref(), c.user.as_deref()));
        let callout = operator.is_some()
            || self.cfg.auth.callout.as_ref().is_some_and(|callout| {
                let own = c
                    .user
                    .as_deref()
                    .is_some_and(|u| callout.auth_users.iter().any(|a| a == u));
                !(own || callout.fallback && known())
            });
        let webhook = !callout
            && self
                .cfg
                .auth
                .webhook
                .as_ref()
                .is_some_and(|w| !(w.fallback && known()));
        if callout || webhook {
            if !self.paced {
                // Only the runtimes can wait for a provider (see `crate::callout`).
                self.log(
                    LogLevel::Warn,
                    "an external auth provider needs a runtime to wait for it".to_string(),
                );
                self.auth_violation(now, sh);
                return;
            }
            self.auth_request = Some(Box::new(super::AuthRequest {
                cfg: Arc::clone(&self.cfg),
                creds: self.creds.clone(),
                callout: Some(Box::new(super::CalloutContext {
                    connect: c.clone(),
                    cid: self.cid,
                    client_ip: self.addr.map(|a| a.ip().to_string()).unwrap_or_default(),
                    nonce: self.nonce.to_string(),
                    tls: self.tls_session.as_deref().cloned(),
                    operator: operator.map(Box::new),
                })),
                webhook,
            }));
            return;
        }
        if self.paced && auth::is_slow(&self.cfg.auth, creds) {
            // Decided off the serving thread; nothing more is read until the decision
            // (`Connection::handle_auth_decision`). The auth timer keeps running meanwhile.
            self.auth_request = Some(Box::new(super::AuthRequest {
                cfg: Arc::clone(&self.cfg),
                creds: self.creds.clone(),
                callout: None,
                webhook: false,
            }));
            return;
        }
        let authorized = auth::authenticate(&self.cfg.auth, creds);
        self.finish_connect(authorized, now, sh);
    }

    /// The rest of CONNECT once the credentials are decided: protocol level,
    /// `no_responders`, permissions, monitoring info, then `+OK` if verbose.
    pub(super) fn finish_connect(
        &mut self,
        authorized: Option<auth::Authorized>,
        now: Time,
        sh: &Shared,
    ) {
        let Some(authorized) = authorized else {
            self.auth_violation(now, sh);
            return;
        };
        let rtt = self.keepalive.connected(now, &self.cfg, &mut self.rng);
        // Go arms the expiry for (exp - the current Unix second): up to a second late.
        let expiry = authorized.expires.map(|exp| {
            let left = exp.saturating_sub(crate::events::wall_secs(sh, now)).max(0);
            now + std::time::Duration::from_secs(u64::try_from(left).unwrap_or(0))
        });
        self.keepalive.set_expiry(expiry);
        self.handle.set_rtt(rtt);
        if !(0..=1).contains(&self.opts.protocol) {
            self.send_err(text::INVALID_CLIENT_PROTOCOL);
            self.close(CloseReason::BadClientProtocolVersion, now, sh);
            return;
        }
        let headers = self.opts.headers && !self.cfg.no_header_support;
        if self.opts.no_responders && !headers {
            self.send_err(text::NO_RESPONDERS_REQUIRES_HEADERS);
            self.close(CloseReason::NoRespondersRequiresHeaders, now, sh);
            return;
        }
        if let Some(name) = &authorized.account {
            // Bound for the connection's life: no subscription exists yet (with auth
            // required nothing but CONNECT is accepted before it).
            if *name != self.account.name {
                self.account = sh.account_or_create(name);
                self.l1.clear();
                self.l1_last = None;
            }
        }
        let limits = self
            .cfg
            .accounts
            .iter()
            .find(|a| a.name == self.account.name)
            .map(|a| a.limits)
            .unwrap_or_default();
        if let Some(max) = limits.max_connections {
            // This client is not counted in its account yet (`update_info` below).
            if sh.num_clients_in(&self.account.name) as u64 >= max {
                self.log(LogLevel::Error, text::MAX_ACCOUNT_CONNECTIONS.to_string());
                self.send_err(text::MAX_ACCOUNT_CONNECTIONS);
                self.close(CloseReason::MaxAccountConnectionsExceeded, now, sh);
                return;
            }
        }
        // A user's own limits (a JWT's) tighten its account's, never loosen them.
        let mine = authorized.limits;
        self.account_limits = crate::options::AccountLimits {
            max_connections: limits.max_connections,
            max_subscriptions: crate::min_set(limits.max_subscriptions, mine.max_subscriptions),
            max_payload: crate::min_set(limits.max_payload, mine.max_payload),
        };
        self.parser_dirty = true;
        self.user_rate = authorized.publish_rate.map(Box::new);
        self.setup_rate(sh);
        let mut permissions = authorized.permissions;
        if self.in_callout_account() {
            // Go: whoever lands in the callout's own account may not publish requests
            // to its service (no spoofed authorization requests).
            let p = permissions.as_deref().cloned().unwrap_or_default();
            permissions = Some(Arc::new(p.deny_publish(crate::callout::SUBJECT)));
        }
        self.perms = permissions.clone();
        self.pub_perm_cache.clear();
        self.handle.configure(headers, permissions);
        self.handle.set_name(&self.opts.name);
        // Monitoring keeps `lang` and `version`; the connection does not need them again
        // (moved, not copied: two allocations less per idle client).
        let (name, lang, version) = (
            self.opts.name.clone(),
            std::mem::take(&mut self.opts.lang),
            std::mem::take(&mut self.opts.version),
        );
        let account = self.account.name.clone();
        self.user_tag = authorized
            .user
            .as_ref()
            .map(|u| format!("{account}/user:{u}"));
        sh.update_info(self.cid, move |i| {
            i.name = name;
            i.lang = lang;
            i.version = version;
            i.user = authorized.user;
            i.account = account;
        });
        self.send_ok();
        if let Some(info) = sh.client_info(self.cid) {
            for h in crate::events::client_connect(sh, self.cid, &info, now) {
                self.note_delivery(&h, crate::client::Delivered::SlowConsumer);
            }
        }
    }

    /// True if this client's account is a callout's own: the config's `auth_callout`
    /// account (clients without a JWT, as Go), or an account whose JWT has a callout.
    fn in_callout_account(&self) -> bool {
        let name = &self.account.name;
        let jwt = self.creds.borrow().jwt.is_some();
        match &self.cfg.auth.operator {
            Some(m) => jwt && m.callout_of(name).is_some(),
            None => {
                !jwt && self
                    .cfg
                    .auth
                    .callout
                    .as_ref()
                    .is_some_and(|c| c.account == *name)
            }
        }
    }

    /// Bad credentials or an op before CONNECT while auth is required.
    pub(super) fn auth_violation(&mut self, now: Time, sh: &Shared) {
        // Go 2.15.1's line: no client name (it is not trusted yet), the user it claimed.
        let name = std::mem::take(&mut self.opts.name);
        // Go 2.15.1: the user, else the nkey, the client claimed.
        let creds = self.creds.borrow();
        let msg = match (creds.user, creds.nkey) {
            (Some(u), _) => format!("authentication error - User {u:?}"),
            (None, Some(k)) => format!("authentication error - Nkey {k:?}"),
            (None, None) => "authentication error".to_string(),
        };
        self.log(LogLevel::Error, msg);
        self.opts.name = name;
        let send_reason = self
            .cfg
            .auth
            .callout
            .as_ref()
            .is_some_and(|c| c.send_reason);
        match self.auth_reason.clone().filter(|_| send_reason) {
            // Ours, opt-in: the provider's reason after Go's text.
            Some(why) => self.send_err(&format!("{}: {why}", text::AUTH_VIOLATION)),
            None => self.send_err(text::AUTH_VIOLATION),
        }
        self.close(CloseReason::AuthenticationViolation, now, sh);
    }

    /// A parse error closes the connection; some send an `-ERR` first, as in the Go server,
    /// whose read loop closes every parse failure but the size limits as a protocol violation.
    pub(super) fn parse_error(&mut self, e: ParseError, now: Time, sh: &Shared) {
        // Go's words for each, one line (Go 2.9.10 and 2.15.1 agree on these).
        let (err, reason, line) = match e {
            ParseError::UnknownOp => (
                Some(text::UNKNOWN_OP),
                CloseReason::ProtocolViolation,
                "Client parser ERROR: unknown protocol operation".to_string(),
            ),
            ParseError::MaxControlLine => (
                Some(text::MAX_CONTROL_LINE),
                CloseReason::MaxControlLineExceeded,
                text::MAX_CONTROL_LINE.to_string(),
            ),
            ParseError::MaxPayload { size } => (
                Some(text::MAX_PAYLOAD),
                CloseReason::MaxPayloadExceeded,
                format!(
                    "maximum payload exceeded: {size} vs {}",
                    self.cfg.max_payload
                ),
            ),
            ParseError::BadArgs => (
                None,
                CloseReason::ProtocolViolation,
                match self.bad_args.take() {
                    Some(b) => format!("{} {}: {}", b.op, b.what, go_quote(&b.line)),
                    None => "Client parser ERROR: bad arguments".to_string(),
                },
            ),
            ParseError::HeadersNotSupported => (
                None,
                CloseReason::ProtocolViolation,
                "message headers not supported".to_string(),
            ),
        };
        self.log(LogLevel::Error, line);
        if let Some(t) = err {
            self.send_err(t);
        }
        self.close(reason, now, sh);
    }

    /// SUB (and MSUB, with its `limit`): permissions, the subscription limit, duplicate
    /// sids, subject validity; `+OK`. An MSUB's limit is set before the subscription enters
    /// the sublist, so no publisher can ever see it without its limit.
    pub(super) fn process_sub(
        &mut self,
        subj: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
        limit: Option<u64>,
    ) {
        if let Some(p) = &self.perms {
            if !p.can_subscribe(subj, queue) {
                let msg = match queue {
                    Some(q) => format!(
                        "Permissions Violation for Subscription to {} using queue {}",
                        go_quote(subj),
                        go_quote(q)
                    ),
                    None => format!(
                        "Permissions Violation for Subscription to {}",
                        go_quote(subj)
                    ),
                };
                self.log(LogLevel::Error, msg.clone());
                self.send_err(&msg);
                return;
            }
        }
        // The tighter of the server's and the account's limit (Go: `c.msubs`).
        let max = match self.account_limits.max_subscriptions {
            Some(a) if self.cfg.max_subscriptions == 0 => usize::try_from(a).unwrap_or(usize::MAX),
            Some(a) => self
                .cfg
                .max_subscriptions
                .min(usize::try_from(a).unwrap_or(usize::MAX)),
            None => self.cfg.max_subscriptions,
        };
        if max > 0 && self.subs.len() >= max {
            // Subscriptions that ran out their auto-unsubscribe limit still sit in the map.
            self.subs.retain(|s| !s.is_closed());
            if self.subs.len() >= max {
                self.log(LogLevel::Error, text::MAX_SUBSCRIPTIONS.to_string());
                self.send_err(text::MAX_SUBSCRIPTIONS);
                return;
            }
        }
        if self.subs.get(sid).is_some_and(|s| !s.is_closed()) {
            // A reused sid is ignored; the first subscription stays (Go does the same).
            self.send_ok();
            return;
        }
        let sub = Arc::new(Subscription::new(
            subj,
            queue,
            sid,
            Arc::clone(&self.handle),
        ));
        if let Some(m) = limit {
            // Nothing delivered yet, and the parser takes only m >= 1: always set.
            sub.set_max(m);
        }
        if !subject::is_valid_subject(subj) || self.account.insert(Arc::clone(&sub)).is_err() {
            sub.close();
            self.send_err(text::INVALID_SUBJECT);
            return;
        }
        self.subs.insert(sub);
        self.send_ok();
    }

    /// UNSUB: remove now, or set the auto-unsubscribe limit (removing now if it is already
    /// reached). Unknown sids are fine. `+OK` if verbose.
    pub(super) fn process_unsub(&mut self, sid: &[u8], max: Option<u64>) {
        if let Some(sub) = self.subs.get(sid) {
            let keep = match max {
                Some(m) => !sub.is_closed() && sub.set_max(m),
                None => false,
            };
            if !keep {
                let sub = self.subs.remove(sid).expect("present: just looked it up");
                self.account.remove([&sub]);
            }
        }
        self.send_ok();
    }
}
