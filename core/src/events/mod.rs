//! The system account's events and services, as the Go server has them (`server/events.go`):
//! advisories published on `$SYS.…` subjects, and requests answered on `$SYS.REQ.…`.
//!
//! - [`publish`]: a message from the server itself into an account, on any thread (a
//!   connection's, the node's): every plain match, one member of each queue group, the
//!   routes that asked; never internal handlers or imports (no loops).
//! - `advisory`: the event documents: client connect and disconnect, authentication
//!   errors, account connection counts, server statistics (`STATSZ`), lame duck and shutdown.
//! - `requests`: [`SysRequests`], the internal handler of `$SYS.REQ.SERVER.PING[.X]`,
//!   `$SYS.REQ.SERVER.<id>.X` and `$SYS.REQ.ACCOUNT.<acc>.X`, answering with the documents
//!   the HTTP monitor serves.
//!
//! Wall time and process figures come from the runtime through [`Host`] (the core reads no
//! clock); without one (unit tests, or before the runtime installed it) timestamps are the
//! Unix epoch and process figures zero. An event is only built when someone listens on its
//! subject (in this server or over a route), so a server nobody watches pays one match per
//! connect and disconnect.

mod advisory;
mod peers;
mod requests;

pub use advisory::{
    account_conns, account_stat, auth_error, callout_auth_error, client_connect, client_disconnect,
    lame_duck, shutdown, statsz, AccountStat, ServerStatsBody, ACCOUNT_CONNS_HEARTBEAT,
    STATSZ_FIRST, STATSZ_MAX,
};
pub use peers::{PeerLoad, PeerLoads, StatszListener, MAX_PEERS, STATSZ_ANY};
pub use requests::{reload_reply, subjects as request_subjects, SysRequests};

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use crate::account::Account;
use crate::client::{Admit, ClientHandle, Delivered, Delivery, Dest};
use crate::monitor::{Clock, Env};
use crate::rng::Rng;
use crate::shared::Shared;
use crate::Time;

/// Clients a server message made slow consumers (their connections close; whoever
/// published logs them).
pub type Slow = Vec<Arc<ClientHandle>>;

/// What the server's own services need from the runtime.
pub trait Host: Send + Sync {
    /// The wall clock at core time `now`.
    fn clock(&self, now: Time) -> Clock;
    /// Process figures and the monitoring listener, as `/varz` shows them.
    fn env(&self) -> Env;
}

/// The clock when no [`Host`] is installed: wall time counted from the Unix epoch at the
/// server's start (deterministic, for tests and the simulator).
pub fn clock(sh: &Shared, now: Time) -> Clock {
    match sh.host() {
        Some(h) => h.clock(now),
        None => Clock {
            now,
            wall_nanos: u64::try_from(now.saturating_since(sh.start_time()).as_nanos())
                .unwrap_or(u64::MAX),
        },
    }
}

/// The wall clock at core time `now`, in Unix seconds (JWT validity, callout requests).
pub fn wall_secs(sh: &Shared, now: Time) -> i64 {
    i64::try_from(clock(sh, now).wall_nanos / 1_000_000_000).unwrap_or(i64::MAX)
}

/// Process figures, zero without a [`Host`].
pub fn env(sh: &Shared) -> Env {
    sh.host().map(|h| h.env()).unwrap_or_default()
}

/// Go's `ServerInfo`: who sent an event or reply, with the sender's sequence and time.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Client listen host as configured.
    pub host: String,
    /// Server id.
    pub id: String,
    /// Cluster name, when in one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Version.
    pub ver: String,
    /// JetStream (never).
    pub jetstream: bool,
    /// Capability flags (none).
    pub flags: u64,
    /// This server's event sequence.
    pub seq: u64,
    /// When it was sent (RFC 3339).
    pub time: String,
}

/// The sender block of the next event or reply (takes a sequence number).
pub fn server_info(sh: &Shared, now: Time) -> ServerInfo {
    let opts = sh.opts();
    ServerInfo {
        name: sh.server_name(),
        host: opts.host.clone(),
        id: sh.server_id().to_string(),
        cluster: sh.cluster_name().unwrap_or_default(),
        ver: crate::VERSION.to_string(),
        jetstream: false,
        flags: 0,
        seq: sh.event_seq.fetch_add(1, Ordering::Relaxed) + 1,
        time: clock(sh, now).rfc3339(now),
    }
}

/// A fresh event id: 22 base-62 characters, like Go's NUID (not secret: drawn from the
/// core's seeded RNG, forked by the event sequence).
pub fn event_id(sh: &Shared) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let n = sh.event_seq.load(Ordering::Relaxed);
    let mut rng = Rng::fork(sh.opts().seed ^ 0x5eed_e7e7, n);
    (0..22)
        .map(|_| DIGITS[rng.below(62) as usize] as char)
        .collect()
}

/// True if a message on `subject` in `acc` would reach anyone: lets callers skip building
/// an event nobody listens to.
pub fn has_interest(acc: &Account, subject: &[u8]) -> bool {
    let r = acc.match_subject(subject);
    let reachable = |s: &&Arc<crate::client::Subscription>| {
        !matches!(s.dest, Dest::Internal(_) | Dest::Cross(_)) && !s.is_closed()
    };
    r.psubs.iter().any(|s| reachable(&s)) || r.qsubs.iter().flatten().any(|s| reachable(&s))
}

/// Publishes a message from the server into `acc`: to every plain match, one member of each
/// queue group, and once to each route with interest (the route takes it one hop, as any
/// message). Internal handlers and imports are skipped (no loops). Receivers are woken here.
/// Returns the clients the message made slow consumers (their connections close; the
/// caller logs them).
pub fn publish(
    sh: &Shared,
    acc: &Account,
    subject: &[u8],
    reply: Option<&[u8]>,
    payload: &[u8],
    now: Time,
) -> Vec<Arc<ClientHandle>> {
    publish_with_header(sh, acc, subject, reply, None, payload, now)
}

/// [`publish`] with a NATS header block (`NATS/1.0\r\n…\r\n\r\n`) before the payload.
pub fn publish_with_header(
    sh: &Shared,
    acc: &Account,
    subject: &[u8],
    reply: Option<&[u8]>,
    header: Option<&[u8]>,
    body: &[u8],
    now: Time,
) -> Vec<Arc<ClientHandle>> {
    let r = acc.match_subject(subject);
    let joined;
    let (payload, header_len) = match header {
        Some(h) => {
            joined = [h, body].concat();
            (&joined[..], h.len())
        }
        None => (body, 0),
    };
    let d = Delivery {
        subject,
        reply,
        header_len,
        payload,
        has_headers: header.is_some(),
    };
    let to_client = |s: &&Arc<crate::client::Subscription>| {
        !matches!(s.dest, Dest::Internal(_) | Dest::Cross(_))
    };
    let mut targets: Vec<&Arc<crate::client::Subscription>> =
        r.psubs.iter().filter(to_client).collect();
    if !r.qsubs.is_empty() {
        // Queue picks from the event sequence: deterministic, and spread over members.
        let mut rng = Rng::fork(sh.opts().seed, sh.event_seq.load(Ordering::Relaxed));
        for group in &r.qsubs {
            let members: Vec<&Arc<crate::client::Subscription>> =
                group.iter().filter(to_client).collect();
            if !members.is_empty() {
                targets.push(members[rng.below(members.len() as u64) as usize]);
            }
        }
    }
    let mut routes: Vec<(Arc<ClientHandle>, Vec<u8>)> = Vec::new();
    let mut slow = Vec::new();
    let (mut msgs, mut bytes) = (0u64, 0u64);
    let mut note = |h: &Arc<ClientHandle>, result: Delivered| match result {
        Delivered::Queued { wake } | Delivered::QueuedStall { wake } => {
            if wake {
                h.wake();
            }
            msgs += 1;
            bytes += payload.len() as u64;
        }
        Delivered::SlowConsumer => slow.push(Arc::clone(h)),
        Delivered::Skipped => {}
    };
    for sub in targets {
        if sub.is_remote() {
            if sub.is_closed() {
                continue;
            }
            crate::route::add_target(&mut routes, sub);
            continue;
        }
        if sub.client.denies(subject) {
            continue;
        }
        let (result, last) = if matches!(sub.dest, Dest::Client) {
            // Counted under the receiver's lock, as on the publish path.
            sub.client.deliver_sub(&d, sub, now)
        } else {
            let last = match sub.admit() {
                Admit::Drop => continue,
                Admit::DeliverLast => true,
                Admit::Deliver => false,
            };
            (sub.client.deliver(&d, sub.sid(), now), last)
        };
        if last {
            acc.remove(std::iter::once(sub));
        }
        note(&sub.client, result);
    }
    for (h, queues) in routes {
        let q = (!queues.is_empty()).then_some(&queues[..]);
        let result = h.deliver_routed(acc.name.as_bytes(), &d, q);
        note(&h, result);
    }
    sh.stats.out_msgs.fetch_add(msgs, Ordering::Relaxed);
    sh.stats.out_bytes.fetch_add(bytes, Ordering::Relaxed);
    slow
}

/// Publishes a JSON document into the system account if anyone listens on `subject`.
pub fn publish_json<T: Serialize>(
    sh: &Shared,
    subject: &str,
    now: Time,
    doc: impl FnOnce() -> T,
) -> Vec<Arc<ClientHandle>> {
    let sys = Arc::clone(sh.system_account());
    if !has_interest(&sys, subject.as_bytes()) {
        return Vec::new();
    }
    // Our documents are plain structs with string keys: serialising cannot fail.
    let body = serde_json::to_vec(&doc()).unwrap_or_default();
    publish(sh, &sys, subject.as_bytes(), None, &body, now)
}

#[cfg(test)]
mod tests;
