//! `/healthz`, `/routez` and `/accountz`: small documents. Routes do not exist yet, so
//! `/routez` lists none; `/accountz` lists every account (`$G`, `$SYS`, any a user names),
//! in Go's shape.

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
    /// Now, RFC 3339.
    pub now: String,
    /// Routes (0 until clustering exists).
    pub num_routes: usize,
    /// Route details (always empty for now).
    pub routes: Vec<serde_json::Value>,
}

/// `/routez`: validates `subs` (Go's `decodeSubs`). Errors: a bad `subs`.
pub fn routez(sh: &Shared, clock: Clock, q: &Query) -> Result<Routez, QueryError> {
    q.subs()?;
    Ok(Routez {
        server_id: sh.server_id().to_string(),
        now: super::timefmt::rfc3339(clock.wall_nanos),
        num_routes: 0,
        routes: Vec::new(),
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
    /// Its sublist statistics.
    pub sublist_stats: crate::sublist::SublistStats,
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
                is_system: acc.is_system,
                expired: false,
                complete: true,
                jetstream_enabled: false,
                leafnode_connections: 0,
                client_connections: sh.num_clients_in(&acc.name),
                subscriptions: acc.num_subscriptions() as u64,
                sublist_stats: acc.sublist_stats(),
            });
        }
    }
    Ok(a)
}
