//! `/healthz` and `/routez`: small documents. `/routez` lists the registered routes (Go
//! 2.15.1's fields: `server_name`, `remote_name`, `compression`, `rtt` once a PING was
//! answered).

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
                    subject: String::from_utf8_lossy(s.subject()).into_owned(),
                    qgroup: s
                        .queue
                        .as_deref()
                        .map(|q| String::from_utf8_lossy(q).into_owned())
                        .unwrap_or_default(),
                    // Go 2.15.1's form (2.9.10 had no "R " prefix).
                    sid: match &s.queue {
                        Some(q) => format!(
                            "R {acc} {} {}",
                            String::from_utf8_lossy(s.subject()),
                            String::from_utf8_lossy(q)
                        ),
                        None => format!("R {acc} {}", String::from_utf8_lossy(s.subject())),
                    },
                    msgs: s.delivered(),
                    max: 0,
                    cid: r.cid,
                })
                .collect();
            (Vec::new(), d)
        } else if subs {
            let l = mine
                .map(|(_, s)| String::from_utf8_lossy(s.subject()).into_owned())
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
