//! `/connz`: open and recently closed client connections, sorted, filtered and paged as the
//! Go server does it (see its `monitor.go` and `monitor_sort_opts.go`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use super::query::{Query, QueryError};
use super::subsz::SubDetail;
use super::timefmt::{rfc3339, uptime};
use super::{Clock, DEFAULT_LIST_SIZE};
use crate::client::Subscription;
use crate::shared::Shared;
use crate::{FastMap, Time};

/// The sort orders `sort=` takes. All but `cid`, `start`, `uptime` and `reason` are
/// descending, as in Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Connection id (the default).
    Cid,
    /// Start time (same as cid).
    Start,
    /// Subscription count.
    Subs,
    /// Pending bytes.
    Pending,
    /// Messages delivered to the client.
    MsgsTo,
    /// Messages received from it.
    MsgsFrom,
    /// Bytes delivered to it.
    BytesTo,
    /// Bytes received from it.
    BytesFrom,
    /// Last activity.
    Last,
    /// Go's "idle": last activity minus start.
    Idle,
    /// Time connected (ascending).
    Uptime,
    /// Stop time (closed only).
    Stop,
    /// Close reason (closed only, ascending).
    Reason,
}

impl SortBy {
    fn parse(s: &str) -> Option<SortBy> {
        Some(match s {
            "" | "cid" => SortBy::Cid,
            "start" => SortBy::Start,
            "subs" => SortBy::Subs,
            "pending" => SortBy::Pending,
            "msgs_to" => SortBy::MsgsTo,
            "msgs_from" => SortBy::MsgsFrom,
            "bytes_to" => SortBy::BytesTo,
            "bytes_from" => SortBy::BytesFrom,
            "last" => SortBy::Last,
            "idle" => SortBy::Idle,
            "uptime" => SortBy::Uptime,
            "stop" => SortBy::Stop,
            "reason" => SortBy::Reason,
            _ => return None,
        })
    }
}

/// `state=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Open connections (the default).
    Open,
    /// Closed connections, from the bounded history.
    Closed,
    /// Both (`any` or `all`).
    Any,
}

/// The decoded `/connz` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnzOptions {
    /// Order.
    pub sort: SortBy,
    /// Show `authorized_user`.
    pub auth: bool,
    /// List subscription subjects.
    pub subs: bool,
    /// List subscription details.
    pub subs_detail: bool,
    /// Page start.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
    /// Only this connection (0: all).
    pub cid: u64,
    /// Which connections.
    pub state: ConnState,
    /// Only this user.
    pub user: String,
    /// Only clients of this account (`acc=`).
    pub account: String,
}

impl ConnzOptions {
    /// Decodes the query as the Go server does, in its order, with its error texts.
    pub fn from_query(q: &Query) -> Result<ConnzOptions, QueryError> {
        let sort_raw = q.get("sort");
        let auth = q.bool("auth")?;
        let (subs, subs_detail) = q.subs()?;
        let offset = q.int("offset")?;
        let limit = q.int("limit")?;
        let cid = q.uint("cid")?;
        let state = match q.get("state").to_ascii_lowercase().as_str() {
            "" | "open" => ConnState::Open,
            "closed" => ConnState::Closed,
            "any" | "all" => ConnState::Any,
            _ => {
                return Err(QueryError(format!(
                    "Error decoding state for {}",
                    q.get("state")
                )))
            }
        };
        let sort = SortBy::parse(sort_raw)
            .ok_or_else(|| QueryError(format!("invalid sorting option: {sort_raw}")))?;
        if sort == SortBy::Stop && state != ConnState::Closed {
            return Err(QueryError(
                "sort by stop only valid on closed connections".into(),
            ));
        }
        if sort == SortBy::Reason && state != ConnState::Closed {
            return Err(QueryError(
                "sort by reason only valid on closed connections".into(),
            ));
        }
        let mut limit = match usize::try_from(limit) {
            Ok(0) | Err(_) => DEFAULT_LIST_SIZE,
            Ok(l) => l,
        };
        if cid > 0 {
            limit = 1;
        }
        Ok(ConnzOptions {
            sort,
            auth,
            subs,
            subs_detail,
            offset: usize::try_from(offset).unwrap_or(0),
            limit,
            cid,
            state,
            user: q.get("user").to_string(),
            account: q.get("acc").to_string(),
        })
    }
}

impl Default for ConnzOptions {
    fn default() -> Self {
        ConnzOptions::from_query(&Query::default()).expect("the empty query is valid")
    }
}

/// The `/connz` document.
#[derive(Debug, Clone, Serialize)]
pub struct Connz {
    /// Server id.
    pub server_id: String,
    /// Now, RFC 3339.
    pub now: String,
    /// Connections in this page.
    pub num_connections: usize,
    /// Connections in the chosen state (before paging and filters, as Go).
    pub total: usize,
    /// Page start.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
    /// The page.
    pub connections: Vec<ConnInfo>,
}

/// One connection.
#[derive(Debug, Clone, Serialize)]
pub struct ConnInfo {
    /// Connection id.
    pub cid: u64,
    /// `Client`.
    pub kind: &'static str,
    /// `nats`.
    #[serde(rename = "type")]
    pub conn_type: &'static str,
    /// Remote IP.
    pub ip: String,
    /// Remote port.
    pub port: u16,
    /// Accepted at, RFC 3339.
    pub start: String,
    /// Last read from it, RFC 3339.
    pub last_activity: String,
    /// Closed at (closed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// Close reason (closed only).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'static str,
    /// The last round trip measured (INFO to CONNECT, then PING to PONG), as Go writes it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rtt: String,
    /// Time connected.
    pub uptime: String,
    /// Time since last activity.
    pub idle: String,
    /// Bytes queued for it.
    pub pending_bytes: u64,
    /// Messages from it.
    pub in_msgs: u64,
    /// Messages to it.
    pub out_msgs: u64,
    /// Bytes from it.
    pub in_bytes: u64,
    /// Bytes to it.
    pub out_bytes: u64,
    /// Live subscriptions.
    pub subscriptions: u64,
    /// CONNECT `name`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// CONNECT `lang`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    /// CONNECT `version`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// TLS version (`1.2`, `1.3`), for a TLS client.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tls_version: String,
    /// TLS cipher suite, Go's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tls_cipher_suite: String,
    /// The handshake came before INFO (Go 2.10+).
    #[serde(skip_serializing_if = "is_false")]
    pub tls_first: bool,
    /// Authenticated user (with `auth=1`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authorized_user: String,
    /// Subscribed subjects (with `subs=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_list: Option<Vec<String>>,
    /// Subscription details (with `subs=detail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_list_detail: Option<Vec<SubDetail>>,
    /// Ours: seconds it was not read for, over its publish rate (omitted when none).
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub publish_throttled_seconds: f64,
    /// Ours: messages of it dropped over its publish rate (omitted when none).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub publish_dropped: u64,
    #[serde(skip)]
    key: SortKey,
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// Raw values for sorting (times as core nanoseconds).
#[derive(Debug, Clone, Copy, Default)]
struct SortKey {
    start: u64,
    last: u64,
    stop: u64,
}

/// `acc=`: only that account's clients (empty: all).
fn account_matches(o: &ConnzOptions, account: &str) -> bool {
    o.account.is_empty() || o.account == account
}

/// Builds `/connz`. Locks are taken one at a time and only to copy: the client registry,
/// the closed history, the sublist (only when subscriptions are asked for), and each
/// client's queue for its pending bytes and delivery counts.
pub fn connz(sh: &Shared, clock: Clock, o: &ConnzOptions) -> Connz {
    let now = clock.now;
    let mut conns = Vec::new();
    let mut total = 0;
    let want_subs = o.subs || o.subs_detail;
    if o.state == ConnState::Open || o.state == ConnState::Any {
        let list = sh.client_list();
        total += list.len();
        // Go's quirk: with `cid` and state=any only the closed history is searched.
        let search_open = o.cid == 0 || o.state == ConnState::Open;
        let subs_by_cid = if want_subs && search_open {
            group_subs(
                sh.accounts()
                    .iter()
                    .flat_map(|a| a.all_subscriptions())
                    .collect(),
            )
        } else {
            FastMap::default()
        };
        for (h, info) in list.iter().filter(|_| search_open) {
            if (o.cid > 0 && h.cid != o.cid)
                || !user_matches(o, info.user.as_deref())
                || !account_matches(o, &info.account)
            {
                continue;
            }
            let last = Time::from_nanos(h.last_activity.load(Ordering::Relaxed));
            let (out_msgs, out_bytes) = h.out_stats();
            let mut ci = ConnInfo {
                cid: h.cid,
                kind: "Client",
                conn_type: "nats",
                ip: info.addr.map(|a| a.ip().to_string()).unwrap_or_default(),
                port: info.addr.map_or(0, |a| a.port()),
                start: clock.rfc3339(info.start),
                last_activity: clock.rfc3339(last),
                stop: None,
                reason: "",
                rtt: h.rtt_string(),
                uptime: uptime(now - info.start),
                idle: uptime(now - last),
                pending_bytes: h.pending_bytes() as u64,
                in_msgs: h.in_msgs.load(Ordering::Relaxed),
                out_msgs,
                in_bytes: h.in_bytes.load(Ordering::Relaxed),
                out_bytes,
                subscriptions: h.subs.load(Ordering::Relaxed),
                name: info.name.clone(),
                lang: info.lang.clone(),
                version: info.version.clone(),
                tls_version: info.tls.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
                tls_cipher_suite: info.tls.as_ref().map(|t| t.1.clone()).unwrap_or_default(),
                tls_first: info.tls_first,
                authorized_user: auth_user(o, info.user.as_deref()),
                subscriptions_list: None,
                subscriptions_list_detail: None,
                publish_throttled_seconds: h.rate_throttled_nanos.load(Ordering::Relaxed) as f64
                    / 1e9,
                publish_dropped: h.rate_dropped.load(Ordering::Relaxed),
                key: SortKey {
                    start: info.start.as_nanos(),
                    last: last.as_nanos(),
                    stop: 0,
                },
            };
            if let Some(subs) = subs_by_cid.get(&h.cid) {
                if o.subs_detail {
                    ci.subscriptions_list_detail =
                        Some(subs.iter().map(|s| SubDetail::of(s, None)).collect());
                } else if o.subs {
                    ci.subscriptions_list = Some(
                        subs.iter()
                            .map(|s| String::from_utf8_lossy(s.subject()).into_owned())
                            .collect(),
                    );
                }
            }
            conns.push(ci);
        }
    }
    if o.state == ConnState::Closed || o.state == ConnState::Any {
        let closed = sh.closed_clients();
        total += closed.len();
        for c in closed {
            if (o.cid > 0 && c.cid != o.cid)
                || !user_matches(o, c.info.user.as_deref())
                || !account_matches(o, &c.info.account)
            {
                continue;
            }
            let stop_wall = clock.wall_of(c.stop);
            let (mut list, mut detail) = (None, None);
            if !c.subs.is_empty() {
                // Go keeps closed connections' subscriptions with their account.
                let acc = c.info.account.as_str();
                if o.subs_detail {
                    detail = Some(
                        c.subs
                            .iter()
                            .map(|s| closed_detail(s, c.cid, acc))
                            .collect(),
                    );
                } else if o.subs {
                    list = Some(
                        c.subs
                            .iter()
                            .map(|s| String::from_utf8_lossy(&s.subject).into_owned())
                            .collect(),
                    );
                }
            }
            conns.push(ConnInfo {
                cid: c.cid,
                kind: "Client",
                conn_type: "nats",
                ip: c.info.addr.map(|a| a.ip().to_string()).unwrap_or_default(),
                port: c.info.addr.map_or(0, |a| a.port()),
                start: clock.rfc3339(c.info.start),
                last_activity: clock.rfc3339(c.last_activity),
                stop: Some(rfc3339(stop_wall)),
                reason: c.reason.as_str(),
                rtt: c.rtt.clone(),
                uptime: uptime(c.stop - c.info.start),
                idle: uptime(c.stop - c.last_activity),
                pending_bytes: 0,
                in_msgs: c.in_msgs,
                out_msgs: c.out_msgs,
                in_bytes: c.in_bytes,
                out_bytes: c.out_bytes,
                subscriptions: c.subs.len() as u64,
                name: c.info.name.clone(),
                lang: c.info.lang.clone(),
                version: c.info.version.clone(),
                tls_version: c.info.tls.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
                tls_cipher_suite: c.info.tls.as_ref().map(|t| t.1.clone()).unwrap_or_default(),
                tls_first: c.info.tls_first,
                authorized_user: auth_user(o, c.info.user.as_deref()),
                subscriptions_list: list,
                subscriptions_list_detail: detail,
                publish_throttled_seconds: 0.0,
                publish_dropped: 0,
                key: SortKey {
                    start: c.info.start.as_nanos(),
                    last: c.last_activity.as_nanos(),
                    stop: c.stop.as_nanos(),
                },
            });
        }
    }
    sort(&mut conns, o.sort, now);
    let page: Vec<ConnInfo> = conns.into_iter().skip(o.offset).take(o.limit).collect();
    Connz {
        server_id: sh.server_id().to_string(),
        now: rfc3339(clock.wall_nanos),
        num_connections: page.len(),
        total,
        offset: o.offset,
        limit: o.limit,
        connections: page,
    }
}

fn closed_detail(s: &crate::shared::ClosedSub, cid: u64, account: &str) -> SubDetail {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    SubDetail {
        account: Some(account.to_string()),
        subject: text(&s.subject),
        qgroup: s.queue.as_deref().map(text).unwrap_or_default(),
        sid: text(&s.sid),
        msgs: s.msgs,
        max: s.max,
        cid,
    }
}

fn user_matches(o: &ConnzOptions, user: Option<&str>) -> bool {
    o.user.is_empty() || user == Some(o.user.as_str())
}

fn auth_user(o: &ConnzOptions, user: Option<&str>) -> String {
    if o.auth {
        user.unwrap_or_default().to_string()
    } else {
        String::new()
    }
}

fn group_subs(all: Vec<Arc<Subscription>>) -> FastMap<u64, Vec<Arc<Subscription>>> {
    let mut m: FastMap<u64, Vec<Arc<Subscription>>> = FastMap::default();
    for s in all {
        m.entry(s.client.cid).or_default().push(s);
    }
    m
}

/// Go's orders; a stable sort after cid order, so ties stay in cid order.
fn sort(v: &mut [ConnInfo], by: SortBy, now: Time) {
    v.sort_by_key(|c| c.cid);
    let up = |c: &ConnInfo| {
        let end = if c.key.stop == 0 {
            now.as_nanos()
        } else {
            c.key.stop
        };
        end.saturating_sub(c.key.start)
    };
    match by {
        SortBy::Cid | SortBy::Start => {}
        SortBy::Subs => v.sort_by_key(|c| std::cmp::Reverse(c.subscriptions)),
        SortBy::Pending => v.sort_by_key(|c| std::cmp::Reverse(c.pending_bytes)),
        SortBy::MsgsTo => v.sort_by_key(|c| std::cmp::Reverse(c.out_msgs)),
        SortBy::MsgsFrom => v.sort_by_key(|c| std::cmp::Reverse(c.in_msgs)),
        SortBy::BytesTo => v.sort_by_key(|c| std::cmp::Reverse(c.out_bytes)),
        SortBy::BytesFrom => v.sort_by_key(|c| std::cmp::Reverse(c.in_bytes)),
        SortBy::Last => v.sort_by_key(|c| std::cmp::Reverse(c.key.last)),
        SortBy::Idle => {
            v.sort_by_key(|c| std::cmp::Reverse(c.key.last.saturating_sub(c.key.start)))
        }
        SortBy::Uptime => v.sort_by_key(|c| up(c)),
        SortBy::Stop => v.sort_by_key(|c| std::cmp::Reverse(c.key.stop)),
        SortBy::Reason => v.sort_by_key(|c| c.reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(q: &str) -> Result<ConnzOptions, QueryError> {
        ConnzOptions::from_query(&Query::parse(q))
    }

    #[test]
    fn query_errors_match_go() {
        assert_eq!(
            opts("sort=bogus").unwrap_err().0,
            "invalid sorting option: bogus"
        );
        assert_eq!(
            opts("sort=stop").unwrap_err().0,
            "sort by stop only valid on closed connections"
        );
        assert_eq!(
            opts("sort=reason&state=any").unwrap_err().0,
            "sort by reason only valid on closed connections"
        );
        assert_eq!(opts("state=x").unwrap_err().0, "Error decoding state for x");
        assert!(opts("sort=stop&state=closed").is_ok());
    }

    #[test]
    fn defaults_and_cid() {
        let o = opts("").unwrap();
        assert_eq!((o.limit, o.offset, o.sort), (1024, 0, SortBy::Cid));
        let o = opts("cid=3&limit=7&offset=-2").unwrap();
        assert_eq!((o.limit, o.offset, o.cid), (1, 0, 3));
        assert_eq!(opts("limit=-5").unwrap().limit, 1024);
        assert!(opts("subs=detail").unwrap().subs_detail);
    }
}
