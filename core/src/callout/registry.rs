//! Requests in flight: their reply inboxes, the internal subscription that catches the
//! responses, and the pure decision on a response (Go's `processReply` checks, in order,
//! with its texts).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::conn::{AuthDecision, AuthRequest};
use crate::internal::{InternalHandler, InternalMsg};
use crate::shared::Shared;
use crate::Time;

/// Most requests waiting for a response at once (per server); more are refused at once.
pub const MAX_IN_FLIGHT: usize = 1024;

/// The inbox prefix of responses (one wildcard subscription per callout account).
const INBOX: &str = "_INBOX.$CALLOUT";

/// Upper bounds of the latency histogram's buckets, in seconds (then `+Inf`).
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// What the callout did since start (`/varz`, `/metrics`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Clients let in.
    pub accepts: AtomicU64,
    /// Clients refused by the service's answer (or an answer that failed the checks).
    pub rejects: AtomicU64,
    /// No answer in time.
    pub timeouts: AtomicU64,
    /// Refused without asking: too many in flight, or the request could not be made.
    pub refused: AtomicU64,
    /// Accepted from the decision cache, without asking.
    pub cache_hits: AtomicU64,
    /// Latency histogram of answered requests: counts per bucket of [`LATENCY_BUCKETS`]
    /// (not cumulative), then the overflow.
    pub buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of answered requests' latencies, in microseconds.
    pub latency_micros: AtomicU64,
}

impl Stats {
    /// Counts one answered request's latency.
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.latency_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// The server's callout state (one in `Shared`).
#[derive(Default)]
pub struct Registry {
    pending: Mutex<crate::FastMap<String, SyncSender<Vec<u8>>>>,
    /// Accounts whose inbox subscription exists.
    wired: Mutex<Vec<String>>,
    seq: AtomicU64,
    /// Accepted decisions kept for reuse (`cache_ttl`).
    pub cache: super::cache::Cache,
    /// Counters and latencies.
    pub stats: Stats,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, crate::FastMap<String, SyncSender<Vec<u8>>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

/// The internal handler on the inboxes: hands a response to the request waiting for it
/// (a late or unknown one is dropped).
struct Replies;

impl InternalHandler for Replies {
    fn handle(&self, sh: &Shared, msg: &InternalMsg, _now: Time) -> Option<InternalMsg> {
        let subject = String::from_utf8_lossy(&msg.subject);
        if let Some(tx) = sh.callouts().lock().remove(subject.as_ref()) {
            // The waiter may be gone (timed out): nothing to do then.
            let _ = tx.try_send(msg.payload.clone());
        }
        None
    }
}

/// A request on its way: the runtime waits on [`replies`](Self::replies) for at most
/// [`timeout`](Self::timeout). Dropping it unregisters the inbox.
pub struct Pending {
    registry: Arc<Registry>,
    inbox: String,
    rx: Receiver<Vec<u8>>,
    timeout: Duration,
    user_nkey: String,
    account: String,
    /// When the request went out.
    started: Time,
}

impl Pending {
    /// Where the response arrives (one message).
    pub fn replies(&self) -> &Receiver<Vec<u8>> {
        &self.rx
    }

    /// How long to wait: the auth timeout, as Go.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.inbox);
    }
}

/// Publishes `req`'s authorization request (see the module doc of [`super`]). `Err`: why
/// the connection is refused at once (`AuthDecision::reject_because` it).
pub fn begin(sh: &Shared, req: &AuthRequest, now: Time) -> Result<Pending, String> {
    let r = start(sh, req, now);
    if r.is_err() {
        sh.callouts().stats.refused.fetch_add(1, Ordering::Relaxed);
    }
    r
}

fn start(sh: &Shared, req: &AuthRequest, now: Time) -> Result<Pending, String> {
    let cfg = req.options();
    let Some(opts) = req.callout_options() else {
        return Err("no auth callout configured".into());
    };
    if cfg.auth.operator.is_some() {
        // Go calls out only for a user JWT that decodes (signature included); one that
        // does not is refused as any bad JWT.
        crate::jwt::decode_user(req.user_jwt().unwrap_or_default())
            .map_err(|e| format!("JWT not valid: {e}"))?;
    }
    let Some(key) = sh.server_key() else {
        return Err("the server has no key to sign auth callout requests with".into());
    };
    let registry = sh.callouts_arc();
    if registry.in_flight() >= MAX_IN_FLIGHT {
        return Err(format!(
            "too many auth callout requests in flight (at most {MAX_IN_FLIGHT})"
        ));
    }
    let acc = sh.account_or_create(&opts.account);
    {
        let mut wired = registry.wired.lock().unwrap_or_else(|e| e.into_inner());
        if !wired.contains(&opts.account) {
            let sub = crate::client::Subscription::internal(
                format!("{INBOX}.>").as_bytes(),
                crate::internal::internal_client(cfg.seed),
                Arc::new(Replies),
            );
            // A constant, valid subject: the insert cannot fail.
            let _ = acc.insert(Arc::new(sub));
            wired.push(opts.account.clone());
        }
    }
    // A fresh user key per attempt: the response must name it (no replays), as Go.
    let mut raw = [0u8; 32];
    sh.fill_secret(&mut raw);
    let user = nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::User, raw)
        .map_err(|e| format!("auth callout user key: {e}"))?;
    let user_nkey = user.public_key();
    let wall = crate::events::wall_secs(sh, now);
    let timeout = cfg.auth.timeout;
    let mut input = req.callout_input(sh, opts, &user_nkey, wall, timeout);
    if opts.xkey.is_some() {
        input.server_xkey = sh.server_xkey().public_key();
    }
    let token = crate::jwt::encode(&super::request_claims(&input), key).map_err(|e| {
        format!(
            "Error encoding auth request claim on account {:?}: {e}",
            opts.account
        )
    })?;
    let inbox = format!("{INBOX}.{}", registry.seq.fetch_add(1, Ordering::Relaxed));
    let (tx, rx) = sync_channel(1);
    registry.lock().insert(inbox.clone(), tx);
    let pending = Pending {
        registry,
        inbox,
        rx,
        timeout,
        user_nkey,
        account: opts.account.clone(),
        started: now,
    };
    pending
        .registry
        .stats
        .requests
        .fetch_add(1, Ordering::Relaxed);
    // With `xkey`: sealed to the service, the header naming our curve key (Go's).
    let (header, body) = match &opts.xkey {
        None => (None, token.into_bytes()),
        Some(x) => {
            let recipient = nkeys::XKey::from_public_key(x).map_err(|e| e.to_string())?;
            let mut nonce = [0u8; 24];
            sh.fill_secret(&mut nonce);
            let xkey = sh.server_xkey();
            let sealed = xkey
                .seal_with_nonce(token.as_bytes(), &recipient, nonce.into())
                .map_err(|e| {
                    format!(
                        "Error encrypting auth request claim on account {:?}: {e}",
                        opts.account
                    )
                })?;
            let header = format!(
                "NATS/1.0\r\n{}: {}\r\n\r\n",
                super::XKEY_HEADER,
                xkey.public_key()
            );
            (Some(header.into_bytes()), sealed)
        }
    };
    let slow = crate::events::publish_with_header(
        sh,
        &acc,
        super::SUBJECT.as_bytes(),
        Some(pending.inbox.as_bytes()),
        header.as_deref(),
        &body,
        now,
    );
    drop(slow);
    Ok(pending)
}

/// Go's `titleCase`: the first letter up.
fn title(s: String) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// Decides on `reply` (`None`: none came in time), Go's checks in Go's order. Pure.
pub fn finish(
    sh: &Shared,
    req: &AuthRequest,
    pending: &Pending,
    reply: Option<Vec<u8>>,
    now: Time,
) -> AuthDecision {
    let stats = &pending.registry.stats;
    let answered = reply.is_some();
    if answered {
        stats.observe(now.saturating_since(pending.started));
    }
    match decide(sh, req, pending, reply, now) {
        Ok(a) => {
            stats.accepts.fetch_add(1, Ordering::Relaxed);
            AuthDecision::accept(a)
        }
        Err(why) => {
            let counter = if answered {
                &stats.rejects
            } else {
                &stats.timeouts
            };
            counter.fetch_add(1, Ordering::Relaxed);
            AuthDecision::reject_because(title(why))
        }
    }
}

fn decide(
    sh: &Shared,
    req: &AuthRequest,
    p: &Pending,
    reply: Option<Vec<u8>>,
    now: Time,
) -> Result<crate::auth::Authorized, String> {
    let account = &p.account;
    let Some(msg) = reply else {
        return Err(format!(
            "Authorization callout response not received in time on account {account:?}"
        ));
    };
    if msg.is_empty() {
        return Err(format!(
            "auth callout violation: \"no reason supplied\" on account {account:?}"
        ));
    }
    let cfg = req.options();
    let Some(opts) = req.callout_options() else {
        return Err("no auth callout configured".into());
    };
    // A sealed request may get a sealed answer: anything not starting as a JWT is opened
    // (Go's rule).
    let sealed = opts.xkey.as_deref().filter(|_| !msg.starts_with(b"eyJ"));
    let msg = match sealed {
        Some(x) => {
            let sender = nkeys::XKey::from_public_key(x).map_err(|e| e.to_string())?;
            sh.server_xkey().open(&msg, &sender).map_err(|e| {
                format!("error decrypting auth callout response on account {account:?}: {e}")
            })?
        }
        None => msg,
    };
    let text =
        String::from_utf8(msg).map_err(|_| "auth callout response is not text".to_string())?;
    let jwt = crate::jwt::decode(text.trim()).map_err(|e| e.to_string())?;
    if jwt.claims.kind() != crate::jwt::ClaimKind::AuthorizationResponse {
        return Err("not an authorization response".into());
    }
    let claims: serde_json::Value =
        serde_json::from_str(&jwt.payload).map_err(|e| e.to_string())?;
    let common = jwt.claims.common();
    let wall = crate::events::wall_secs(sh, now);
    let nats = &claims["nats"];
    let error = nats["error"].as_str().unwrap_or_default();
    let user_jwt = nats["jwt"].as_str().unwrap_or_default();
    // Go's `Validate` of the response first: its times, one of `jwt` and `error`.
    crate::jwt::check_times(common, wall)
        .map_err(|e| format!("authorization response had validation errors: {e}"))?;
    if !error.is_empty() && !user_jwt.is_empty() {
        return Err(
            "authorization response had validation errors: Only Error or Jwt can be set".into(),
        );
    }
    if common.sub != p.user_nkey {
        return Err(
            "auth callout violation: auth callout response is not for expected user".into(),
        );
    }
    if common.aud != sh.server_id() {
        return Err("auth callout violation: auth callout response is not for server".into());
    }
    let operator = cfg.auth.operator.as_deref();
    let issuer = &opts.issuer;
    match operator {
        // Operator mode: signed by the callout account or one of its signing keys (or
        // naming it as `issuer_account`); a sealed answer is not checked (Go's rule: only
        // the service could seal it).
        Some(mode) if sealed.is_none() => {
            let named = nats["issuer_account"].as_str().filter(|s| !s.is_empty());
            let signer = named.unwrap_or(&common.iss);
            let known = signer == issuer
                || mode
                    .accounts
                    .get(issuer)
                    .is_some_and(|a| a.account.signing_keys.contains_key(signer));
            if !known {
                return Err("auth callout signing key is unknown".into());
            }
        }
        Some(_) => {}
        // Go 2.15.1 (captured): a response signed by another key than the issuer.
        None if common.iss != *issuer => {
            return Err("auth callout signing key is unknown".into());
        }
        None => {}
    }
    if !error.is_empty() {
        return Err(format!("auth callout service returned an error: {error}"));
    }
    let user = crate::jwt::decode_user(user_jwt).map_err(|e| e.to_string())?;
    crate::jwt::check_times(&user.common, wall)
        .map_err(|e| format!("Error validating user JWT: {e}"))?;
    user.validate(wall)
        .map_err(|e| format!("Error validating user JWT: {e}"))?;
    if user.common.sub != p.user_nkey {
        return Err(format!(
            "Expected authorized user of {:?} but got {:?} on account {account:?}",
            p.user_nkey, user.common.sub
        ));
    }
    if let Some(mode) = operator {
        return super::operator::place(mode, opts, &user, account, wall);
    }
    if !user.issuer_account.is_empty() {
        return Err(format!(
            "error non operator mode account {account:?}: attempted to use issuer_account"
        ));
    }
    if user.common.iss != *issuer {
        return Err(format!(
            "wrong issuer for auth callout response on account {account:?}, expected {issuer:?} got {:?}",
            user.common.iss
        ));
    }
    let window = connect_window(&user.user, account, wall)?;
    // Config mode: the user JWT's audience places the client.
    let placement = user.common.aud.clone();
    let known = placement == crate::shared::GLOBAL_ACCOUNT
        || cfg
            .system_account
            .as_deref()
            .unwrap_or(crate::shared::SYSTEM_ACCOUNT)
            == placement
        || cfg.accounts.iter().any(|a| a.name == placement);
    if !known {
        return Err(format!(
            "no valid account {placement:?} for auth callout response on account {account:?}: account missing"
        ));
    }
    let placement = (placement != crate::shared::GLOBAL_ACCOUNT).then_some(placement);
    Ok(admitted(
        &user,
        &user.user,
        user.permissions(),
        placement,
        window,
    ))
}

/// The end of the user's connect window (Unix seconds; `None`: no window), or Go's refusal
/// when it is outside it now (`wall`).
pub(super) fn connect_window(
    limits: &crate::jwt::UserPermissionLimits,
    account: &str,
    wall: i64,
) -> Result<Option<i64>, String> {
    match limits
        .time_access(wall)
        .map_err(|e| format!("user JWT times: {e}"))?
    {
        crate::jwt::TimeAccess::Denied => Err(format!(
            "authorized user on account {account:?} outside of valid connect times"
        )),
        crate::jwt::TimeAccess::Unrestricted => Ok(None),
        crate::jwt::TimeAccess::Until(s) => Ok(Some(wall + i64::from(s))),
    }
}

/// The client the callout's user JWT lets in: named by the JWT's `name` (else its subject),
/// in `account` (`None`: `$G`), with `permissions` and `limits`' `subs` and `payload`, until
/// the JWT expires or its connect `window` ends, whichever comes first.
pub(super) fn admitted(
    user: &crate::jwt::UserClaims,
    limits: &crate::jwt::UserPermissionLimits,
    permissions: Option<crate::auth::Permissions>,
    account: Option<String>,
    window: Option<i64>,
) -> crate::auth::Authorized {
    let expires = crate::min_set((user.common.exp > 0).then_some(user.common.exp), window);
    let name = if user.common.name.is_empty() {
        user.common.sub.clone()
    } else {
        user.common.name.clone()
    };
    crate::auth::Authorized {
        user: Some(name),
        permissions: permissions.map(|p| Arc::new(crate::auth::CompiledPermissions::compile(&p))),
        account,
        publish_rate: None,
        expires,
        limits: crate::options::AccountLimits {
            max_connections: None,
            max_subscriptions: u64::try_from(limits.subs).ok(),
            max_payload: u64::try_from(limits.payload).ok(),
        },
    }
}
