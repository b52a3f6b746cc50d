//! `/subsz` (alias `/subscriptionsz`): sublist statistics, optionally with a paged list of
//! subscriptions, filtered by a `test` publish subject.

use std::sync::Arc;

use serde::Serialize;

use super::query::{Query, QueryError};
use super::{Clock, DEFAULT_LIST_SIZE};
use crate::client::Subscription;
use crate::shared::Shared;
use crate::sublist::SublistStats;

/// One subscription, as `/subsz` and `/connz?subs=detail` list it.
#[derive(Debug, Clone, Serialize)]
pub struct SubDetail {
    /// Its account (only in `/subsz`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Subject.
    pub subject: String,
    /// Queue group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub qgroup: String,
    /// Client's subscription id.
    pub sid: String,
    /// Messages delivered.
    pub msgs: u64,
    /// Auto-unsubscribe limit (omitted when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Owner connection.
    pub cid: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SubDetail {
    /// The detail of `s`; `account` is set for `/subsz`, not under a connection.
    pub fn of(s: &Subscription, account: Option<&str>) -> SubDetail {
        SubDetail {
            account: account.map(str::to_string),
            subject: String::from_utf8_lossy(s.subject()).into_owned(),
            qgroup: s
                .queue
                .as_deref()
                .map(|q| String::from_utf8_lossy(q).into_owned())
                .unwrap_or_default(),
            sid: String::from_utf8_lossy(s.sid()).into_owned(),
            msgs: s.delivered(),
            max: s.max(),
            cid: s.client.cid,
        }
    }
}

/// `/subsz` with a subscription list.
#[derive(Debug, Clone, Serialize)]
pub struct Subsz {
    /// Server id.
    pub server_id: String,
    /// Now, RFC 3339.
    pub now: String,
    /// The statistics, inline.
    #[serde(flatten)]
    pub stats: SublistStats,
    /// Entries in this page (Go counts the page, not the matches).
    pub total: usize,
    /// Page start.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
    /// The page.
    pub subscriptions_list: Vec<SubDetail>,
}

/// What `/subsz` answers: Go sends only the statistics when the list is empty.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SubszReply {
    /// No list asked for, or nothing in it.
    Stats(SublistStats),
    /// Statistics and a page of subscriptions.
    List(Subsz),
}

/// `/subsz` query: `subs`, `offset`, `limit`, `test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubszOptions {
    /// List subscriptions.
    pub subs: bool,
    /// Page start (negative means 0).
    pub offset: usize,
    /// Page size (0 or negative means 1024).
    pub limit: usize,
    /// Only subscriptions a message published to this literal subject would reach.
    pub test: Option<String>,
    /// Only this account (`acc=`; empty: all).
    pub account: String,
}

impl SubszOptions {
    /// Decodes the query as the Go server does. Errors: Go's texts for bad numbers and
    /// booleans, and `invalid test subject, must be valid publish subject: X`.
    pub fn from_query(q: &Query) -> Result<SubszOptions, QueryError> {
        let subs = q.bool("subs")?;
        let offset = q.int("offset")?;
        let limit = q.int("limit")?;
        let test = match q.get("test") {
            "" => None,
            t if crate::subject::is_valid_literal_subject(t.as_bytes()) => Some(t.to_string()),
            t => {
                return Err(QueryError(format!(
                    "invalid test subject, must be valid publish subject: {t}"
                )))
            }
        };
        Ok(SubszOptions {
            subs,
            offset: usize::try_from(offset).unwrap_or(0),
            limit: match usize::try_from(limit) {
                Ok(0) | Err(_) => DEFAULT_LIST_SIZE,
                Ok(l) => l,
            },
            test,
            account: q.get("acc").to_string(),
        })
    }
}

/// Builds `/subsz` over every account (as Go: the statistics summed, the list from all
/// accounts, each entry naming its account). Each account's sublist read lock is held only
/// to copy its statistics or subscription handles; details are built after.
pub fn subsz(sh: &Shared, clock: Clock, o: &SubszOptions) -> SubszReply {
    let mut accounts = sh.accounts();
    if !o.account.is_empty() {
        accounts.retain(|a| a.name == o.account);
    }
    let mut stats = SublistStats::default();
    for acc in &accounts {
        stats.add(&acc.sublist_stats());
    }
    if !o.subs {
        return SubszReply::Stats(stats);
    }
    let all: Vec<(Arc<Subscription>, &str)> = accounts
        .iter()
        .flat_map(|acc| {
            acc.all_subscriptions()
                .into_iter()
                .map(move |s| (s, acc.name.as_str()))
        })
        .collect();
    let matching = all.iter().filter(|(s, _)| match &o.test {
        Some(t) => crate::subject::matches(s.subject(), t.as_bytes()),
        None => true,
    });
    let page: Vec<SubDetail> = matching
        .skip(o.offset)
        .take(o.limit)
        .map(|(s, acc)| SubDetail::of(s, Some(acc)))
        .collect();
    if page.is_empty() {
        return SubszReply::Stats(stats);
    }
    SubszReply::List(Subsz {
        server_id: sh.server_id().to_string(),
        now: super::timefmt::rfc3339(clock.wall_nanos),
        stats,
        total: page.len(),
        offset: o.offset,
        limit: o.limit,
        subscriptions_list: page,
    })
}
