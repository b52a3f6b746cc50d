//! `$SYS.REQ.…`: the system account's request services (Go's `events.go` handlers), one
//! internal handler for all of them, dispatching on the subject:
//!
//! - `$SYS.REQ.SERVER.PING`: `{"server":…,"statsz":…}` from every server (Go's broadcast).
//! - `$SYS.REQ.SERVER.PING.<X>` (every server) and `$SYS.REQ.SERVER.<id>.<X>` (one), X in
//!   `STATSZ`, `IDZ`, `VARZ`, `CONNZ`, `SUBSZ`, `ROUTEZ`, `ACCOUNTZ`, `HEALTHZ`: the HTTP
//!   monitor's document in Go's envelope `{"server":…,"data":…}`, or `{"server":…,
//!   "error":{"code":…,"description":…}}`. A JSON body gives the options the query string
//!   gives over HTTP (Go's keys: `subscriptions`, `limit`, `acc`, …) and may filter which
//!   servers answer (`server_name`, `cluster`, `host`: substrings, as Go).
//! - `$SYS.REQ.ACCOUNT.<acc>.<X>`, X in `CONNZ`, `SUBSZ` (that account only), `CONNS`
//!   (its connection count), `STATZ` (`{"account_statz":[…]}`), `INFO` (as `/accountz?acc=`).
//! - `$SYS.REQ.ACCOUNT.PING.STATZ` / `.CONNZ`: every server, every account (with clients).
//! - `$SYS.REQ.SERVER.<id>.KICK` / `.LDM` (`{"cid":N}`) and `.RELOAD` (2.10+): the reload
//!   is the program's (installed with `Shared::set_reload_hook`), answered when it is done.
//! - `$SYS.REQ.SERVER.<id>.REBALANCEZ` / `.REBALANCE` (ours): the rebalancer's plan, and a
//!   one-off round now.
//! - `$SYS.REQ.USER.INFO` (2.15.1): the requester's user and account (`{"user","account",
//!   "account_name"}`). Other accounts reach it, and their own `CONNZ`/`STATZ`, through the
//!   service imports every account has from the system account (`imports::wire_system`;
//!   the account's imports land here as `$SYS.REQ.USER.<acc>.INFO` and
//!   `$SYS.REQ.ACCOUNT.<acc>.CONNZ|STATZ`).
//!
//! A request with no reply subject gets no answer (Go: `STATSZ` without a reply is a
//! broadcast, done here the same way).

use serde::Serialize;
use serde_json::Value;

use super::advisory::{account_conns_doc, account_stat, statsz_doc};
use super::{clock, env, server_info, ServerInfo};
use crate::internal::{InternalHandler, InternalMsg};
use crate::monitor::{self, ConnzOptions, Query, SubszOptions};
use crate::shared::Shared;
use crate::Time;

/// The subjects [`SysRequests`] subscribes to, given the server id.
pub fn subjects(server_id: &str) -> Vec<String> {
    vec![
        "$SYS.REQ.SERVER.PING".into(),
        "$SYS.REQ.SERVER.PING.*".into(),
        format!("$SYS.REQ.SERVER.{server_id}.*"),
        "$SYS.REQ.ACCOUNT.*.*".into(),
        "$SYS.REQ.USER.INFO".into(),
        "$SYS.REQ.USER.*.INFO".into(),
    ]
}

/// Go's refusal of a reload without a config file.
const NO_CONFIG_FILE: &str = "can only reload config when a file is provided using -c or --config";

/// The reply to `$SYS.REQ.SERVER.<id>.RELOAD` once the program reloaded (or failed to):
/// `{"server":…}`, or with `"error":{"code":500,"description":…}` (Go 2.10+).
pub fn reload_reply(sh: &Shared, to: Vec<u8>, outcome: Result<(), String>, now: Time) {
    let msg = match outcome {
        Ok(()) => server_only(sh, now, to),
        Err(e) => reply::<Value>(sh, now, to, Err((500, e))),
    };
    let sys = std::sync::Arc::clone(sh.system_account());
    let _ = super::publish(sh, &sys, &msg.subject, None, &msg.payload, now);
}

/// `{"server":…}` alone: Go's reply with neither data nor error.
fn server_only(sh: &Shared, now: Time, to: Vec<u8>) -> InternalMsg {
    #[derive(Serialize)]
    struct ServerOnly {
        server: ServerInfo,
    }
    let doc = ServerOnly {
        server: server_info(sh, now),
    };
    InternalMsg {
        subject: to,
        reply: None,
        payload: serde_json::to_vec(&doc).unwrap_or_default(),
        requester: None,
    }
}

/// What `$SYS.REQ.SERVER.<id>.REBALANCE[Z]` answers (ours).
#[derive(Serialize)]
struct RebalanceDoc {
    enabled: bool,
    shed: u64,
    refusing_new: bool,
    plan: Option<crate::node::Plan>,
}

fn rebalance_doc(sh: &Shared, enabled: bool) -> RebalanceDoc {
    use std::sync::atomic::Ordering;
    let st = &sh.rebalance;
    RebalanceDoc {
        enabled,
        shed: st.shed.load(Ordering::Relaxed),
        refusing_new: st.refusing_new.load(Ordering::Relaxed),
        plan: st.plan(),
    }
}

/// The handler of every `$SYS.REQ` subject this server answers.
#[derive(Debug, Default)]
pub struct SysRequests;

/// Go's `ServerAPIResponse`: `data`, or `error` (with `"data":null` when the handler
/// failed, and no `data` when the request body was bad, as Go writes them).
#[derive(Serialize)]
struct Response<T: Serialize> {
    server: ServerInfo,
    #[serde(skip_serializing_if = "Absent::is_absent")]
    data: Absent<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ApiError>,
}

/// A field that may be missing, `null`, or a value.
enum Absent<T> {
    Missing,
    Null,
    Value(T),
}

impl<T> Absent<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Absent::Missing)
    }
}

impl<T: Serialize> Serialize for Absent<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Absent::Value(v) => v.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

#[derive(Serialize)]
struct ApiError {
    code: u16,
    description: String,
}

/// The JSON request body, parsed (an empty body is `{}`, as Go).
fn body(payload: &[u8]) -> Result<Value, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let v: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    match v {
        Value::Object(_) => Ok(v),
        other => Err(format!(
            "json: cannot unmarshal {} into Go value",
            kind(&other)
        )),
    }
}

/// Go's JSON option names for `what` as the HTTP query's. Go's own quirks kept: `/connz`
/// filters by `acc`, `/subsz` and `/accountz` by `account` (the other is ignored), `state`
/// is a number (0 open, 1 closed, 2 any).
fn query_for(what: &str, v: &Value) -> Query {
    let mut pairs = Vec::new();
    let Value::Object(m) = v else {
        return Query::default();
    };
    for (k, val) in m {
        let text = match val {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        let key = match (what, k.as_str()) {
            (_, "subscriptions") => "subs",
            (_, "subscriptions_detail") => {
                if val.as_bool() == Some(true) {
                    pairs.push(("subs".to_string(), "detail".to_string()));
                }
                continue;
            }
            ("CONNZ", "acc") => "acc",
            ("CONNZ", "state") => {
                let state = match text.as_str() {
                    "1" => "closed",
                    "2" => "any",
                    _ => "open",
                };
                pairs.push(("state".to_string(), state.to_string()));
                continue;
            }
            ("SUBSZ" | "ACCOUNTZ", "account") => "acc",
            (_, "acc" | "account" | "state") => continue,
            (_, other) => other,
        };
        pairs.push((key.to_string(), text));
    }
    Query::from_pairs(pairs)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        _ => "null",
    }
}

/// Go's `filterRequest`: a request naming another server (by substring) is not for us.
fn filtered_out(sh: &Shared, v: &Value) -> bool {
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let name = field("server_name");
    let cluster = field("cluster");
    let host = field("host");
    (!name.is_empty() && !sh.server_name().contains(name))
        || (!cluster.is_empty() && !sh.cluster_name().unwrap_or_default().contains(cluster))
        || (!host.is_empty() && !sh.opts().host.contains(host))
}

fn reply<T: Serialize>(
    sh: &Shared,
    now: Time,
    to: Vec<u8>,
    data: Result<T, (u16, String)>,
) -> InternalMsg {
    let (data, error) = match data {
        Ok(d) => (Absent::Value(d), None),
        // A bad request body: no `data`; a failing handler: `"data":null` (Go).
        Err((400, description)) => (
            Absent::Missing,
            Some(ApiError {
                code: 400,
                description,
            }),
        ),
        Err((code, description)) => (Absent::Null, Some(ApiError { code, description })),
    };
    let doc = Response {
        server: server_info(sh, now),
        data,
        error,
    };
    InternalMsg {
        subject: to,
        reply: None,
        payload: serde_json::to_vec(&doc).unwrap_or_default(),
        requester: None,
    }
}

/// A handler's failure (Go answers 500 with the handler's words).
fn bad(e: impl std::fmt::Display) -> (u16, String) {
    (500, e.to_string())
}

/// Serialises a document to a JSON value, so one dispatch can return any of them.
fn value<T: Serialize>(d: T) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

#[derive(Serialize)]
struct ServerId {
    name: String,
    host: String,
    id: String,
}

impl SysRequests {
    /// A server-wide document (`$SYS.REQ.SERVER.{PING,<id>}.<what>`).
    fn server(
        &self,
        sh: &Shared,
        now: Time,
        what: &str,
        q: &Query,
    ) -> Option<Result<Value, (u16, String)>> {
        let c = clock(sh, now);
        Some(match what {
            "VARZ" => Ok(value(monitor::varz(sh, c, &env(sh)))),
            "CONNZ" => ConnzOptions::from_query(q)
                .map(|o| value(monitor::connz(sh, c, &o)))
                .map_err(bad),
            "SUBSZ" => SubszOptions::from_query(q)
                .map(|o| value(monitor::subsz(sh, c, &o)))
                .map_err(bad),
            "ROUTEZ" => monitor::routez(sh, c, q).map(value).map_err(bad),
            "ACCOUNTZ" => monitor::accountz(sh, c, q).map(value).map_err(bad),
            "HEALTHZ" => monitor::healthz(q).map(value).map_err(bad),
            _ => return None,
        })
    }

    /// An account's document (`$SYS.REQ.ACCOUNT.<acc>.<what>`).
    fn account(
        &self,
        sh: &Shared,
        now: Time,
        acc: &str,
        what: &str,
        q: &Query,
    ) -> Option<Result<Value, (u16, String)>> {
        let c = clock(sh, now);
        let mut q = q.clone();
        q.set("acc", acc);
        // Go lists an account's subscriptions without being asked.
        if what == "SUBSZ" && q.get("subs").is_empty() {
            q.set("subs", "true");
        }
        Some(match what {
            "CONNZ" => ConnzOptions::from_query(&q)
                .map(|o| value(monitor::connz(sh, c, &o)))
                .map_err(bad),
            "SUBSZ" => SubszOptions::from_query(&q)
                .map(|o| value(monitor::subsz(sh, c, &o)))
                .map_err(bad),
            "INFO" => monitor::accountz(sh, c, &q)
                .map(|a| value(a.account_detail))
                .map_err(bad),
            "STATZ" => Ok(value(monitor::accountz::accstatz_for(sh, c, &[acc], true))),
            _ => return None,
        })
    }
}

impl SysRequests {
    /// `$SYS.REQ.SERVER.<id>.KICK` / `.LDM` with `{"cid":N}` (Go 2.10+): close the client
    /// (no `-ERR`, as Go), or send it an INFO with `"ldm":true` (it stays connected).
    /// Without a `cid` there is no answer (Go).
    fn client_action(
        &self,
        sh: &Shared,
        now: Time,
        to: Vec<u8>,
        what: &str,
        v: &Value,
    ) -> Option<InternalMsg> {
        let cid = v.get("cid").and_then(Value::as_u64)?;
        let Some(h) = sh.client_handle(cid) else {
            let e = if what == "KICK" {
                "no such client or leafnode id"
            } else {
                "no such client id"
            };
            return Some(reply::<Value>(sh, now, to, Err((500, e.into()))));
        };
        if what == "KICK" {
            h.close_now(crate::errors::CloseReason::Kicked);
        } else {
            let opts = sh.opts();
            let addr = sh.client_info(cid).and_then(|i| i.addr);
            let line = crate::info::client_info_line(sh, &opts, cid, addr, true);
            if let crate::client::Delivered::Queued { wake: true } = h.send(&line) {
                h.wake();
            }
        }
        Some(server_only(sh, now, to))
    }
}

impl InternalHandler for SysRequests {
    fn handle(&self, sh: &Shared, msg: &InternalMsg, now: Time) -> Option<InternalMsg> {
        let subject = std::str::from_utf8(&msg.subject).ok()?;
        let rest = subject.strip_prefix("$SYS.REQ.")?;
        let to = msg.reply.clone()?;
        let v = match body(&msg.payload) {
            Ok(v) => v,
            Err(e) => return Some(reply::<Value>(sh, now, to, Err((400, e)))),
        };
        if filtered_out(sh, &v) {
            return None;
        }
        if rest == "USER.INFO" || (rest.starts_with("USER.") && rest.ends_with(".INFO")) {
            #[derive(Serialize)]
            struct UserInfo {
                user: String,
                account: String,
                account_name: String,
            }
            let (account, user) = msg.requester.clone()?;
            let doc = UserInfo {
                user: user.unwrap_or_default(),
                account_name: account.clone(),
                account,
            };
            return Some(reply(sh, now, to, Ok(doc)));
        }
        if rest == "SERVER.PING" {
            // The old form: the statistics document itself, not in the envelope.
            return Some(InternalMsg {
                subject: to,
                reply: None,
                payload: serde_json::to_vec(&statsz_doc(sh, now)).unwrap_or_default(),
                requester: None,
            });
        }
        let mut parts = rest.splitn(3, '.');
        let (scope, who, what) = (parts.next()?, parts.next()?, parts.next()?);
        match (scope, who) {
            ("SERVER", who) if who == sh.server_id() && matches!(what, "KICK" | "LDM") => {
                self.client_action(sh, now, to, what, &v)
            }
            ("SERVER", who)
                if who == sh.server_id() && matches!(what, "REBALANCE" | "REBALANCEZ") =>
            {
                // Ours: the rebalancer's state, and (REBALANCE) a one-off round now, which
                // the node runs at once (the reply shows the plan it had).
                let enabled = sh
                    .opts()
                    .cluster
                    .as_ref()
                    .and_then(|c| c.rebalance)
                    .is_some_and(|r| r.enabled);
                if what == "REBALANCE" && enabled {
                    sh.to_node(crate::node::NodeInput::Rebalance);
                }
                Some(reply(sh, now, to, Ok(rebalance_doc(sh, enabled))))
            }
            ("SERVER", who) if who == sh.server_id() && what == "RELOAD" => {
                match sh.reload_hook() {
                    // Answered by the program once the reload is done (`reload_reply`).
                    Some(hook) => {
                        hook(to);
                        None
                    }
                    None => Some(reply::<Value>(
                        sh,
                        now,
                        to,
                        Err((500, NO_CONFIG_FILE.into())),
                    )),
                }
            }
            ("SERVER", who) if who == "PING" || who == sh.server_id() => match what {
                "STATSZ" => Some(InternalMsg {
                    subject: to,
                    reply: None,
                    payload: serde_json::to_vec(&statsz_doc(sh, now)).unwrap_or_default(),
                    requester: None,
                }),
                "IDZ" => {
                    let id = ServerId {
                        name: sh.server_name(),
                        host: sh.opts().host.clone(),
                        id: sh.server_id().to_string(),
                    };
                    Some(InternalMsg {
                        subject: to,
                        reply: None,
                        payload: serde_json::to_vec(&id).unwrap_or_default(),
                        requester: None,
                    })
                }
                w => {
                    let q = query_for(w, &v);
                    Some(reply(sh, now, to, self.server(sh, now, w, &q)?))
                }
            },
            ("ACCOUNT", "PING") => match what {
                "STATZ" => {
                    // Every account with clients here (Go answers only when it has some).
                    // Go's options: `accounts` (only these), `include_unused` (idle ones too).
                    let only: Vec<&str> = v
                        .get("accounts")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let unused = v.get("include_unused").and_then(Value::as_bool) == Some(true);
                    let stats = monitor::accountz::accstatz_for(sh, clock(sh, now), &only, unused);
                    (!stats.account_statz.is_empty()).then(|| reply(sh, now, to, Ok(stats)))
                }
                "CONNZ" => {
                    let q = query_for("CONNZ", &v);
                    Some(reply(sh, now, to, self.server(sh, now, "CONNZ", &q)?))
                }
                _ => None,
            },
            ("ACCOUNT", acc) => {
                sh.account(acc)?;
                if what == "CONNS" {
                    // The event itself, as the reply (Go).
                    let doc = account_conns_doc(sh, account_stat(sh, acc)?, now);
                    return Some(InternalMsg {
                        subject: to,
                        reply: None,
                        payload: serde_json::to_vec(&doc).unwrap_or_default(),
                        requester: None,
                    });
                }
                let q = query_for(what, &v);
                Some(reply(sh, now, to, self.account(sh, now, acc, what, &q)?))
            }
            _ => None,
        }
    }
}
