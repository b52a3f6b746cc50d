//! The event documents (Go's `ConnectEventMsg`, `DisconnectEventMsg`, `AccountNumConns`,
//! `ServerStatsMsg`), their subjects, and the functions that publish them.
//!
//! Subjects (Go 2.9.10 and 2.15.1):
//! - `$SYS.ACCOUNT.<acc>.CONNECT` / `.DISCONNECT`: each client of the account, after its
//!   CONNECT was accepted and when it closes.
//! - `$SYS.ACCOUNT.<acc>.SERVER.CONNS` and the older `$SYS.SERVER.ACCOUNT.<acc>.CONNS`: the
//!   account's connection count on this server, on each change and while it has clients
//!   every [`ACCOUNT_CONNS_HEARTBEAT`] (never for `$G`, as Go).
//! - `$SYS.SERVER.<id>.CLIENT.AUTH.ERR`: a refused login.
//! - `$SYS.SERVER.<id>.STATSZ`: server statistics, first after [`STATSZ_FIRST`], the
//!   interval doubling up to [`STATSZ_MAX`] (Go's back-off).
//! - `$SYS.SERVER.<id>.LAMEDUCK`, `$SYS.SERVER.<id>.SHUTDOWN`: the server is leaving.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::{clock, event_id, publish_json, server_info, ServerInfo, Slow};
use crate::shared::{ClientInfo, ClosedClient, Shared};
use crate::Time;

/// The first `STATSZ` goes out this long after start (Go: 250 ms)...
pub const STATSZ_FIRST: Duration = Duration::from_millis(250);
/// ...and the interval doubles up to this (Go's `statsHBInterval`).
pub const STATSZ_MAX: Duration = Duration::from_secs(10);
/// An account with clients re-announces its count this often (Go's `eventsHBInterval`).
pub const ACCOUNT_CONNS_HEARTBEAT: Duration = Duration::from_secs(30);

const CONNECT_TYPE: &str = "io.nats.server.advisory.v1.client_connect";
const DISCONNECT_TYPE: &str = "io.nats.server.advisory.v1.client_disconnect";
const ACCOUNT_CONNS_TYPE: &str = "io.nats.server.advisory.v1.account_connections";

/// Go's `MsgBytes`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MsgBytes {
    /// Messages.
    pub msgs: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// Go's `ClientInfo` as events carry it (empty fields left out, as Go's `omitempty`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventClient {
    #[serde(skip_serializing_if = "String::is_empty")]
    start: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(skip_serializing_if = "is_zero")]
    id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    acc: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    ver: String,
    /// Round trip, nanoseconds (Go marshals a `time.Duration` as its integer).
    #[serde(skip_serializing_if = "is_zero")]
    rtt: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    stop: String,
    kind: &'static str,
    client_type: &'static str,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl EventClient {
    fn of(sh: &Shared, cid: u64, info: &ClientInfo, now: Time) -> EventClient {
        EventClient {
            start: clock(sh, now).rfc3339(info.start),
            host: info.addr.map(|a| a.ip().to_string()).unwrap_or_default(),
            id: cid,
            acc: info.account.clone(),
            user: info.user.clone().unwrap_or_default(),
            name: info.name.clone(),
            lang: info.lang.clone(),
            ver: info.version.clone(),
            kind: "Client",
            client_type: "nats",
            ..EventClient::default()
        }
    }
}

#[derive(Serialize)]
struct ConnectEvent {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    timestamp: String,
    server: ServerInfo,
    client: EventClient,
}

#[derive(Serialize)]
struct DisconnectEvent {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    timestamp: String,
    server: ServerInfo,
    client: EventClient,
    sent: MsgBytes,
    received: MsgBytes,
    reason: String,
}

/// `$SYS.ACCOUNT.<acc>.CONNECT` for a client whose CONNECT was accepted.
pub fn client_connect(sh: &Shared, cid: u64, info: &ClientInfo, now: Time) -> Slow {
    // Go sends the account's new count first, then the connect event.
    let mut slow = account_conns(sh, &info.account, now);
    let subject = format!("$SYS.ACCOUNT.{}.CONNECT", info.account);
    slow.extend(publish_json(sh, &subject, now, || ConnectEvent {
        kind: CONNECT_TYPE,
        id: event_id(sh),
        timestamp: clock(sh, now).rfc3339(now),
        server: server_info(sh, now),
        client: EventClient::of(sh, cid, info, now),
    }));
    slow
}

fn disconnect_doc(sh: &Shared, c: &ClosedClient, now: Time, rtt: u64) -> DisconnectEvent {
    let mut client = EventClient::of(sh, c.cid, &c.info, now);
    client.stop = clock(sh, now).rfc3339(c.stop);
    client.rtt = rtt;
    DisconnectEvent {
        kind: DISCONNECT_TYPE,
        id: event_id(sh),
        timestamp: clock(sh, now).rfc3339(now),
        server: server_info(sh, now),
        client,
        sent: MsgBytes {
            msgs: c.in_msgs,
            bytes: c.in_bytes,
        },
        received: MsgBytes {
            msgs: c.out_msgs,
            bytes: c.out_bytes,
        },
        reason: c.reason.to_string(),
    }
}

/// `$SYS.ACCOUNT.<acc>.DISCONNECT` for a client that closed (`rtt` in nanoseconds, 0 if
/// never measured).
pub fn client_disconnect(sh: &Shared, c: &ClosedClient, rtt: u64, now: Time) -> Slow {
    let mut slow = account_conns(sh, &c.info.account, now);
    let subject = format!("$SYS.ACCOUNT.{}.DISCONNECT", c.info.account);
    slow.extend(publish_json(sh, &subject, now, || {
        disconnect_doc(sh, c, now, rtt)
    }));
    slow
}

/// `$SYS.SERVER.<id>.CLIENT.AUTH.ERR` for a refused login (a disconnect document whose
/// reason is Go's `Authentication Failure`).
pub fn auth_error(sh: &Shared, c: &ClosedClient, now: Time) -> Slow {
    let subject = format!("$SYS.SERVER.{}.CLIENT.AUTH.ERR", sh.server_id());
    publish_json(sh, &subject, now, || {
        let mut d = disconnect_doc(sh, c, now, 0);
        d.reason = "Authentication Failure".into();
        d
    })
}

/// `$SYS.ACCOUNT.CLIENT.AUTH.ERR` in the auth callout's account, for a client the callout
/// refused: Go 2.15.1's, with the callout's detailed reason (its service can watch what it
/// refused and why).
pub fn callout_auth_error(
    sh: &Shared,
    c: &ClosedClient,
    account: &str,
    reason: &str,
    now: Time,
) -> Slow {
    const SUBJECT: &str = "$SYS.ACCOUNT.CLIENT.AUTH.ERR";
    let Some(acc) = sh.account(account) else {
        return Vec::new();
    };
    if !super::has_interest(&acc, SUBJECT.as_bytes()) {
        return Vec::new();
    }
    let mut d = disconnect_doc(sh, c, now, 0);
    d.reason = reason.to_string();
    d.client.acc = account.to_string();
    let body = serde_json::to_vec(&d).unwrap_or_default();
    super::publish(sh, &acc, SUBJECT.as_bytes(), None, &body, now)
}

/// Go's `AccountStat`: an account's figures on this server.
#[derive(Debug, Clone, Serialize)]
pub struct AccountStat {
    /// Account name.
    pub acc: String,
    /// Its name tag (the name, without JWTs).
    pub name: String,
    /// Client connections.
    pub conns: usize,
    /// Leaf node connections (none).
    pub leafnodes: usize,
    /// Both.
    pub total_conns: usize,
    /// Subscriptions in the account.
    pub num_subscriptions: usize,
    /// Messages delivered from the account.
    pub sent: MsgBytes,
    /// Messages published into the account.
    pub received: MsgBytes,
    /// Slow consumers among its clients.
    pub slow_consumers: u64,
}

/// The figures of account `name`, if it exists.
pub fn account_stat(sh: &Shared, name: &str) -> Option<AccountStat> {
    let acc = sh.account(name)?;
    let conns = sh.num_clients_in(name);
    Some(AccountStat {
        acc: acc.name.clone(),
        name: acc.name.clone(),
        conns,
        leafnodes: 0,
        total_conns: conns,
        num_subscriptions: acc.num_subscriptions(),
        sent: MsgBytes {
            msgs: acc.out_msgs.load(Ordering::Relaxed),
            bytes: acc.out_bytes.load(Ordering::Relaxed),
        },
        received: MsgBytes {
            msgs: acc.in_msgs.load(Ordering::Relaxed),
            bytes: acc.in_bytes.load(Ordering::Relaxed),
        },
        slow_consumers: acc.slow_consumers.load(Ordering::Relaxed),
    })
}

/// Go's `AccountNumConns`: the event, also the reply to `$SYS.REQ.ACCOUNT.<acc>.CONNS`.
#[derive(Serialize)]
pub struct AccountConnsEvent {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    timestamp: String,
    server: ServerInfo,
    #[serde(flatten)]
    stat: AccountStat,
}

/// The account's connection count on both subjects (never for `$G`, as Go).
pub fn account_conns(sh: &Shared, account: &str, now: Time) -> Slow {
    let mut slow = Vec::new();
    if account == crate::shared::GLOBAL_ACCOUNT {
        return slow;
    }
    let Some(stat) = account_stat(sh, account) else {
        return slow;
    };
    for subject in [
        format!("$SYS.SERVER.ACCOUNT.{account}.CONNS"),
        format!("$SYS.ACCOUNT.{account}.SERVER.CONNS"),
    ] {
        slow.extend(publish_json(sh, &subject, now, || {
            account_conns_doc(sh, stat.clone(), now)
        }));
    }
    slow
}

/// The account-connections document for `stat`.
pub fn account_conns_doc(sh: &Shared, stat: AccountStat, now: Time) -> AccountConnsEvent {
    AccountConnsEvent {
        kind: ACCOUNT_CONNS_TYPE,
        id: event_id(sh),
        timestamp: clock(sh, now).rfc3339(now),
        server: server_info(sh, now),
        stat,
    }
}

/// Go's `ServerStats` (the fields this server has).
#[derive(Debug, Clone, Serialize)]
pub struct ServerStatsBody {
    start: String,
    mem: u64,
    cores: usize,
    #[serde(serialize_with = "crate::monitor::varz::go_float")]
    cpu: f64,
    connections: usize,
    total_connections: u64,
    active_accounts: usize,
    subscriptions: usize,
    sent: MsgBytes,
    received: MsgBytes,
    slow_consumers: u64,
    #[serde(skip_serializing_if = "is_zero_usize")]
    active_servers: usize,
}

fn is_zero_usize(v: &usize) -> bool {
    *v == 0
}

/// `{"server":…,"statsz":…}`: Go's `ServerStatsMsg`.
#[derive(Serialize)]
pub struct ServerStatsMsg {
    server: ServerInfo,
    statsz: ServerStatsBody,
}

/// The server's statistics now.
pub fn statsz_doc(sh: &Shared, now: Time) -> ServerStatsMsg {
    let s = &sh.stats;
    let env = super::env(sh);
    let routes = sh.routes().len();
    ServerStatsMsg {
        server: server_info(sh, now),
        statsz: ServerStatsBody {
            start: clock(sh, now).rfc3339(sh.start_time()),
            mem: env.mem,
            cores: env.cores,
            cpu: env.cpu,
            connections: sh.num_clients(),
            total_connections: s.total_connections.load(Ordering::Relaxed),
            // Go counts the accounts with clients.
            active_accounts: sh
                .accounts()
                .iter()
                .filter(|a| sh.num_clients_in(&a.name) > 0)
                .count(),
            subscriptions: sh.num_subscriptions(),
            sent: MsgBytes {
                msgs: s.out_msgs.load(Ordering::Relaxed),
                bytes: s.out_bytes.load(Ordering::Relaxed),
            },
            received: MsgBytes {
                msgs: s.in_msgs.load(Ordering::Relaxed),
                bytes: s.in_bytes.load(Ordering::Relaxed),
            },
            slow_consumers: s.slow_consumers.load(Ordering::Relaxed),
            // Go counts itself among the servers it knows.
            active_servers: routes + 1,
        },
    }
}

/// `$SYS.SERVER.<id>.STATSZ`, the periodic statistics.
pub fn statsz(sh: &Shared, now: Time) -> Slow {
    let subject = format!("$SYS.SERVER.{}.STATSZ", sh.server_id());
    publish_json(sh, &subject, now, || statsz_doc(sh, now))
}

#[derive(Serialize)]
struct Leaving {
    server: ServerInfo,
}

/// `$SYS.SERVER.<id>.LAMEDUCK`: the server entered lame duck mode.
pub fn lame_duck(sh: &Shared, now: Time) -> Slow {
    let subject = format!("$SYS.SERVER.{}.LAMEDUCK", sh.server_id());
    publish_json(sh, &subject, now, || Leaving {
        server: server_info(sh, now),
    })
}

/// `$SYS.SERVER.<id>.SHUTDOWN`: the server is shutting down.
pub fn shutdown(sh: &Shared, now: Time) -> Slow {
    let subject = format!("$SYS.SERVER.{}.SHUTDOWN", sh.server_id());
    publish_json(sh, &subject, now, || Leaving {
        server: server_info(sh, now),
    })
}
