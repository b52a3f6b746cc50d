//! `/healthz`, `/routez` and `/accountz`: small documents. `/routez` lists the registered
//! routes (Go 2.15.1's fields: `server_name`, `remote_name`, `compression`, `rtt` once a PING
//! was answered); `/accountz` lists every account (`$G`, `$SYS`, any a user names), in Go's shape.

use serde::Serialize;

use super::query::{Query, QueryError};
use super::Clock;
use crate::shared::Shared;

/// The `/healthz` document (`{"status":"ok"}`).
#[derive(Debug, Clone, Serialize)]
pub struct Healthz {
    /// `ok`.
    pub status: &'static str,
}

/// `/healthz`: validates Go's boolean parameters (`js-enabled`, `js-enabled-only`,
/// `js-server-only`); with no JetStream they change nothing. Errors: a bad boolean.
pub fn healthz(q: &Query) -> Result<Healthz, QueryError> {
    for key in ["js-enabled", "js-enabled-only", "js-server-only"] {
        q.bool(key)?;
    }
    Ok(Healthz { status: "ok" })
}

/// The `/routez` document.
#[derive(Debug, Clone, Serialize)]
pub struct Routez {
    /// Server id.
    pub server_id: String,
    /// Server name.
    pub server_name: String,
    /// Now, RFC 3339.
    pub now: String,
    /// Routes.
    pub num_routes: usize,
    /// Route details (`[]` when none, as Go).
    pub routes: Vec<RouteInfoz>,
}

/// One route in `/routez`.
#[derive(Debug, Clone, Serialize)]
pub struct RouteInfoz {
    /// Route connection id.
    pub rid: u64,
    /// The peer's server id.
    pub remote_id: String,
    /// The peer's server name.
    pub remote_name: String,
    /// We dialled it.
    pub did_solicit: bool,
    /// It is one of our configured routes.
    pub is_configured: bool,
    /// The peer's address.
    pub ip: String,
    /// The peer's port.
    pub port: u16,
    /// When the route was made, RFC 3339.
    pub start: String,
    /// Last read from it, RFC 3339.
    pub last_activity: String,
    /// The last round trip measured (our PING to its PONG), as Go writes it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rtt: String,
    /// `1d2h3m4s`.
    pub uptime: String,
    /// Since the last read.
    pub idle: String,
    /// Bytes queued to it.
    pub pending_size: usize,
    /// Messages received over it.
    pub in_msgs: u64,
    /// Messages sent over it.
    pub out_msgs: u64,
    /// Payload bytes received.
    pub in_bytes: u64,
    /// Payload bytes sent.
    pub out_bytes: u64,
    /// The peer's interest held here.
    pub subscriptions: u64,
    /// Its subjects (`subs=1`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<String>,
    /// Its subscriptions in detail (`subs=detail`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list_detail: Vec<super::SubDetail>,
    /// Route compression: we never compress.
    pub compression: &'static str,
}

/// `/routez` (`subs=1`, `subs=detail`). Errors: a bad `subs`.
pub fn routez(sh: &Shared, clock: Clock, q: &Query) -> Result<Routez, QueryError> {
    use std::sync::atomic::Ordering;
    let (subs, detail) = q.subs()?;
    let now = clock.now;
    let mut routes = Vec::new();
    let all = if subs || detail {
        sh.accounts()
            .iter()
            .flat_map(|a| {
                a.all_subscriptions()
                    .into_iter()
                    .filter(|s| s.is_remote() && !s.is_closed())
                    .map(|s| (a.name.clone(), s))
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        Vec::new()
    };
    for r in sh.routes().list() {
        let h = &r.handle;
        let last = crate::Time::from_nanos(h.last_activity.load(Ordering::Relaxed));
        let (out_msgs, out_bytes) = h.out_stats();
        let mine = all.iter().filter(|(_, s)| s.client.cid == r.cid);
        let (list, list_detail) = if detail {
            let d = mine
                .map(|(acc, s)| super::SubDetail {
                    account: None,
                    subject: String::from_utf8_lossy(&s.subject).into_owned(),
                    qgroup: s
                        .queue
                        .as_deref()
                        .map(|q| String::from_utf8_lossy(q).into_owned())
                        .unwrap_or_default(),
                    // Go 2.15.1's form (2.9.10 had no "R " prefix).
                    sid: match &s.queue {
                        Some(q) => format!(
                            "R {acc} {} {}",
                            String::from_utf8_lossy(&s.subject),
                            String::from_utf8_lossy(q)
                        ),
                        None => format!("R {acc} {}", String::from_utf8_lossy(&s.subject)),
                    },
                    msgs: s.delivered(),
                    max: 0,
                    cid: r.cid,
                })
                .collect();
            (Vec::new(), d)
        } else if subs {
            let l = mine
                .map(|(_, s)| String::from_utf8_lossy(&s.subject).into_owned())
                .collect();
            (l, Vec::new())
        } else {
            (Vec::new(), Vec::new())
        };
        routes.push(RouteInfoz {
            rid: r.cid,
            remote_id: r.remote_id.clone(),
            remote_name: r.remote_name.clone(),
            did_solicit: r.solicited,
            is_configured: r.configured,
            ip: r.addr.map(|a| a.ip().to_string()).unwrap_or_default(),
            port: r.addr.map_or(0, |a| a.port()),
            start: clock.rfc3339(r.start),
            last_activity: clock.rfc3339(last),
            rtt: h.rtt_string(),
            uptime: super::timefmt::uptime(now.saturating_since(r.start)),
            idle: super::timefmt::uptime(now.saturating_since(last)),
            pending_size: h.pending_bytes(),
            in_msgs: h.in_msgs.load(Ordering::Relaxed),
            out_msgs,
            in_bytes: h.in_bytes.load(Ordering::Relaxed),
            out_bytes,
            subscriptions: h.subs.load(Ordering::Relaxed),
            subscriptions_list: list,
            subscriptions_list_detail: list_detail,
            compression: "off",
        });
    }
    Ok(Routez {
        server_id: sh.server_id().to_string(),
        server_name: sh.server_name(),
        now: super::timefmt::rfc3339(clock.wall_nanos),
        num_routes: routes.len(),
        routes,
    })
}

/// The `/accountz` document.
#[derive(Debug, Clone, Serialize)]
pub struct Accountz {
    /// Server id.
    pub server_id: String,
    /// Now, RFC 3339.
    pub now: String,
    /// The system account's name.
    pub system_account: String,
    /// Account names (without `acc=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    /// One account's details (with `acc=NAME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_detail: Option<AccountInfo>,
}

/// `/accountz?acc=NAME`: one account.
#[derive(Debug, Clone, Serialize)]
pub struct AccountInfo {
    /// Its name.
    pub account_name: String,
    /// Last update (the server start: accounts are not updated yet), RFC 3339.
    pub update_time: String,
    /// Whether it is the system account (Go sends the key only when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_system: bool,
    /// Whether it expired (never: no JWTs yet).
    pub expired: bool,
    /// Whether it is complete (always).
    pub complete: bool,
    /// JetStream (never).
    pub jetstream_enabled: bool,
    /// Leaf node connections (0).
    pub leafnode_connections: usize,
    /// Client connections.
    pub client_connections: usize,
    /// Subscriptions.
    pub subscriptions: u64,
    /// Subject mappings: each source's destinations with cumulative weights, the share the
    /// source keeps included, as Go shows them (`{"foo":[{"subject":"bar","weight":100}]}`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub mappings: std::collections::BTreeMap<String, Vec<MapDestInfo>>,
    /// Its sublist statistics.
    pub sublist_stats: crate::sublist::SublistStats,
    /// Ours: its publish rate limit and what it did, when it has one or its users were
    /// throttled (omitted otherwise, so the document is Go's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_rate: Option<RateInfo>,
}

/// One mapping destination in `/accountz?acc=NAME` (Go's `MapDest`).
#[derive(Debug, Clone, Serialize)]
pub struct MapDestInfo {
    /// The destination as written.
    pub subject: String,
    /// Cumulative weight (Go shows the weights after summing them in order).
    pub weight: u8,
}

/// An account's publish rate in `/accountz?acc=NAME` (ours).
#[derive(Debug, Clone, Serialize)]
pub struct RateInfo {
    /// The account's own shared limit, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<RateLimitInfo>,
    /// Seconds its publishers were not read for (all its users).
    pub throttled_seconds: f64,
    /// Messages dropped (all its users).
    pub dropped: u64,
}

/// A `publish_rate` as configured.
#[derive(Debug, Clone, Serialize)]
pub struct RateLimitInfo {
    /// Messages per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgs: Option<u64>,
    /// Bytes per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Burst, messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst_msgs: Option<u64>,
    /// Burst, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst_bytes: Option<u64>,
    /// `backpressure`, `drop` or `disconnect`.
    pub action: &'static str,
}

fn rate_info(sh: &Shared, account: &str) -> Option<RateInfo> {
    use std::sync::atomic::Ordering;
    let opts = sh.opts();
    let limit = opts
        .accounts
        .iter()
        .find(|a| a.name == account)
        .and_then(|a| a.publish_rate)
        .map(|l| RateLimitInfo {
            msgs: l.msgs,
            bytes: l.bytes,
            burst_msgs: l.burst_msgs,
            burst_bytes: l.burst_bytes,
            action: match l.action {
                crate::options::RateAction::Backpressure => "backpressure",
                crate::options::RateAction::Drop => "drop",
                crate::options::RateAction::Disconnect => "disconnect",
            },
        });
    let counters: Vec<_> = sh
        .all_rate_counters()
        .into_iter()
        .filter(|((a, _), _)| a == account)
        .collect();
    if limit.is_none() && counters.is_empty() {
        return None;
    }
    Some(RateInfo {
        limit,
        throttled_seconds: counters
            .iter()
            .map(|(_, c)| c.throttled_nanos.load(Ordering::Relaxed) as f64 / 1e9)
            .sum(),
        dropped: counters
            .iter()
            .map(|(_, c)| c.dropped.load(Ordering::Relaxed))
            .sum(),
    })
}

/// `/accountz`: the account list, or with `acc=NAME` that account's details. Errors: an
/// unknown account (Go: `Account X does not exist`).
pub fn accountz(sh: &Shared, clock: Clock, q: &Query) -> Result<Accountz, QueryError> {
    let mut a = Accountz {
        server_id: sh.server_id().to_string(),
        now: super::timefmt::rfc3339(clock.wall_nanos),
        system_account: sh.system_account().name.clone(),
        accounts: None,
        account_detail: None,
    };
    match q.get("acc") {
        "" => a.accounts = Some(sh.accounts().iter().map(|a| a.name.clone()).collect()),
        name => {
            let Some(acc) = sh.account(name) else {
                return Err(QueryError(format!("Account {name} does not exist")));
            };
            a.account_detail = Some(AccountInfo {
                account_name: acc.name.clone(),
                update_time: clock.rfc3339(sh.start_time()),
                is_system: std::sync::Arc::ptr_eq(&acc, sh.system_account()),
                expired: false,
                complete: true,
                jetstream_enabled: false,
                leafnode_connections: 0,
                client_connections: sh.num_clients_in(&acc.name),
                subscriptions: acc.num_subscriptions() as u64,
                mappings: acc
                    .mappings()
                    .describe()
                    .into_iter()
                    .map(|(src, dests)| {
                        let dests = dests
                            .into_iter()
                            .map(|(subject, weight)| MapDestInfo { subject, weight })
                            .collect();
                        (src, dests)
                    })
                    .collect(),
                sublist_stats: acc.sublist_stats(),
                publish_rate: rate_info(sh, &acc.name),
            });
        }
    }
    Ok(a)
}

/// `/accstatz`: each account's figures on this server (Go's `AccountStatz`).
#[derive(Debug, Clone, Serialize)]
pub struct Accstatz {
    /// Server id.
    pub server_id: String,
    /// Now, RFC 3339.
    pub now: String,
    /// The accounts: those with clients, or all with `unused=1`; only `acc=` if given.
    pub account_statz: Vec<crate::events::AccountStat>,
}

/// `/accstatz[?unused=1][&acc=NAME]`. Errors: a bad `unused` boolean (Go's text).
pub fn accstatz(sh: &Shared, clock: Clock, q: &Query) -> Result<Accstatz, QueryError> {
    let unused = q.bool("unused")?;
    let only = q.get("acc");
    let account_statz = sh
        .accounts()
        .iter()
        .filter(|a| only.is_empty() || a.name == only)
        .filter(|a| unused || sh.num_clients_in(&a.name) > 0)
        .filter_map(|a| crate::events::account_stat(sh, &a.name))
        .collect();
    Ok(Accstatz {
        server_id: sh.server_id().to_string(),
        now: super::timefmt::rfc3339(clock.wall_nanos),
        account_statz,
    })
}
