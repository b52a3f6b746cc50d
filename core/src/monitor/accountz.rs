//! `/accountz` and `/accstatz`: the accounts, in Go's shapes. `/accountz` lists every account
//! (`$G`, the system account, the configured ones, any a user names) or, with `acc=`, one
//! account's details: its connections, subscriptions, mappings, imports and exports;
//! `/accstatz` each account's traffic on this server.

use serde::Serialize;

use super::query::{Query, QueryError};
use super::Clock;
use crate::shared::Shared;

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
    /// What it offers other accounts (Go's `ExtExport`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<ExportInfo>,
    /// What it takes from others, the system account's services included (Go's
    /// `ExtImport`, in 2.15.1's shape).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportInfo>,
    /// Its name (Go 2.15.1: the name tag, the account name without JWTs).
    pub name_tag: String,
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

/// An export in `/accountz?acc=NAME`.
#[derive(Debug, Clone, Serialize)]
pub struct ExportInfo {
    /// The exported subject.
    pub subject: String,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A service's response type (`Singleton`, `Stream`, `Chunked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<&'static str>,
    /// A service's response threshold, nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_threshold: Option<u64>,
    /// A private export's importers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_accounts: Option<Vec<String>>,
}

/// An import in `/accountz?acc=NAME` (2.15.1: `subject` is the exporter's, `to` and
/// `local_subject` the importer's).
#[derive(Debug, Clone, Serialize)]
pub struct ImportInfo {
    /// The subject in the exporting account.
    pub subject: String,
    /// The exporting account.
    pub account: String,
    /// The subject here (deprecated by Go in favour of `local_subject`, still sent).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub to: String,
    /// The subject here.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_subject: String,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Never: imports are checked at load.
    pub invalid: bool,
    /// Requester info shared with the responder (the system account's USER.INFO only).
    pub share: bool,
    /// Latency tracking (not supported).
    pub tracking: bool,
}

fn exports_of(sh: &Shared, account: &str) -> Vec<ExportInfo> {
    let opts = sh.opts();
    let Some(a) = opts.accounts.iter().find(|a| a.name == account) else {
        return Vec::new();
    };
    a.exports
        .iter()
        .map(|e| ExportInfo {
            subject: e.subject.clone(),
            kind: if e.service.is_some() {
                "service"
            } else {
                "stream"
            },
            response_type: e.service.map(|(r, _)| match r {
                crate::options::ResponseType::Singleton => "Singleton",
                crate::options::ResponseType::Stream => "Stream",
                crate::options::ResponseType::Chunked => "Chunked",
            }),
            response_threshold: e
                .service
                .and_then(|(_, t)| t)
                .map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)),
            approved_accounts: e.accounts.clone(),
        })
        .collect()
}

fn imports_of(sh: &Shared, account: &str) -> Vec<ImportInfo> {
    let opts = sh.opts();
    let mut out = Vec::new();
    if let Some(a) = opts.accounts.iter().find(|a| a.name == account) {
        for i in &a.imports {
            let (local, kind) = match &i.kind {
                crate::options::ImportKind::Stream { prefix, to } => {
                    let local = match (prefix, to) {
                        (Some(p), _) => format!("{p}.{}", i.subject),
                        (None, Some(t)) => t.clone(),
                        (None, None) => i.subject.clone(),
                    };
                    (local, "stream")
                }
                crate::options::ImportKind::Service { to } => (to.clone(), "service"),
            };
            out.push(ImportInfo {
                subject: i.subject.clone(),
                account: i.account.clone(),
                // Go leaves `to` empty on stream imports.
                to: if kind == "service" {
                    local.clone()
                } else {
                    String::new()
                },
                local_subject: local,
                kind,
                invalid: false,
                share: false,
                tracking: false,
            });
        }
    }
    let system = &sh.system_account().name;
    if account != system {
        for (local, remote) in crate::imports::system_imports(account) {
            out.push(ImportInfo {
                subject: remote,
                account: system.clone(),
                to: local.to_string(),
                local_subject: local.to_string(),
                kind: "service",
                invalid: false,
                share: local == "$SYS.REQ.USER.INFO",
                tracking: false,
            });
        }
    }
    out
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
                exports: exports_of(sh, &acc.name),
                imports: imports_of(sh, &acc.name),
                name_tag: acc.name.clone(),
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
    let only: Vec<&str> = Some(q.get("acc"))
        .filter(|a| !a.is_empty())
        .into_iter()
        .collect();
    Ok(accstatz_for(sh, clock, &only, unused))
}

/// The accounts' figures: those named in `only` (all when empty), with clients here
/// unless `unused` (`/accstatz` and the `$SYS` STATZ requests).
pub fn accstatz_for(sh: &Shared, clock: Clock, only: &[&str], unused: bool) -> Accstatz {
    let account_statz = sh
        .accounts()
        .iter()
        .filter(|a| only.is_empty() || only.contains(&a.name.as_str()))
        .filter(|a| unused || sh.num_clients_in(&a.name) > 0)
        .filter_map(|a| crate::events::account_stat(sh, &a.name))
        .collect();
    Accstatz {
        server_id: sh.server_id().to_string(),
        now: super::timefmt::rfc3339(clock.wall_nanos),
        account_statz,
    }
}
