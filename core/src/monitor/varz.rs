//! `/varz`: server identity, limits and counters, with the Go server's field names, types and
//! units (durations in nanoseconds, `auth_timeout`/`tls_timeout` in seconds, times RFC 3339).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{Clock, Empty, Env};
use crate::shared::Shared;
use crate::{PROTO, VERSION};

/// The `/varz` document.
#[derive(Debug, Clone, Serialize)]
pub struct Varz {
    /// Server id.
    pub server_id: String,
    /// Server name (the id unless configured).
    pub server_name: String,
    /// Version we report (the Go server's we are compatible with).
    pub version: &'static str,
    /// Client protocol level.
    pub proto: u8,
    /// The commit natsd was built from (Go's field: its own commit; omitted when unknown).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub git_commit: &'static str,
    /// Go: the Go version; ours: the implementation string INFO sends.
    pub go: &'static str,
    /// Client listen host.
    pub host: String,
    /// Client listen port.
    pub port: u16,
    /// Whether clients must authenticate (omitted when false, as Go).
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// Clients must use TLS (omitted when false, as Go; `allow_non_tls` makes it false).
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Clients must present a certificate.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// The cluster's client URLs as clients are told them (omitted when none, as Go).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// `max_connections`.
    pub max_connections: usize,
    /// `max_subscriptions` (omitted when 0, as Go).
    #[serde(skip_serializing_if = "is_zero")]
    pub max_subscriptions: usize,
    /// Nanoseconds.
    pub ping_interval: u64,
    /// `ping_max`.
    pub ping_max: u32,
    /// Monitoring host.
    pub http_host: String,
    /// Monitoring port (0 when off).
    pub http_port: u16,
    /// `http_base_path`.
    pub http_base_path: String,
    /// HTTPS monitoring port (always 0: no TLS yet).
    pub https_port: u16,
    /// Seconds.
    #[serde(serialize_with = "go_float")]
    pub auth_timeout: f64,
    /// `max_control_line`.
    pub max_control_line: usize,
    /// `max_payload`.
    pub max_payload: usize,
    /// `max_pending`.
    pub max_pending: usize,
    /// Cluster settings (`{}` without a cluster block).
    pub cluster: ClusterVarz,
    /// Gateway settings (none).
    pub gateway: Empty,
    /// Leaf node settings (none).
    pub leaf: Empty,
    /// MQTT settings (none).
    pub mqtt: Empty,
    /// Websocket settings (none).
    pub websocket: Empty,
    /// JetStream (none).
    pub jetstream: Empty,
    /// Seconds: the TLS handshake's (Go's default, 2, without TLS).
    #[serde(serialize_with = "go_float")]
    pub tls_timeout: f64,
    /// Nanoseconds.
    pub write_deadline: u64,
    /// Server start, RFC 3339.
    pub start: String,
    /// Now, RFC 3339.
    pub now: String,
    /// `1d2h3m4s`.
    pub uptime: String,
    /// Resident memory, bytes.
    pub mem: u64,
    /// CPUs.
    pub cores: usize,
    /// Go's GOMAXPROCS; ours: the CPUs the runtime may use (same as `cores`).
    pub gomaxprocs: usize,
    /// Percent CPU.
    #[serde(serialize_with = "go_float")]
    pub cpu: f64,
    /// Live client connections.
    pub connections: usize,
    /// Client connections since start.
    pub total_connections: u64,
    /// Route connections.
    pub routes: usize,
    /// Remote servers (one route each here; Go 2.10+ pools several per server).
    pub remotes: usize,
    /// Leaf nodes (0).
    pub leafnodes: usize,
    /// Messages received.
    pub in_msgs: u64,
    /// Messages delivered.
    pub out_msgs: u64,
    /// Payload bytes received.
    pub in_bytes: u64,
    /// Payload bytes delivered.
    pub out_bytes: u64,
    /// Connections closed as slow consumers.
    pub slow_consumers: u64,
    /// Subscriptions across accounts.
    pub subscriptions: u64,
    /// Requests per monitoring path.
    pub http_req_stats: BTreeMap<String, u64>,
    /// When the configuration was (re)loaded, RFC 3339.
    pub config_load_time: String,
    /// The system account's name (`$SYS`).
    pub system_account: String,
    /// Ours, with `cluster { rebalance }` only (so the document stays Go's otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceVarz>,
    /// Ours, with an external provider only (`auth_callout`, `auth_webhook`, or an
    /// account JWT's callout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_callout: Option<CalloutVarz>,
}

/// The auth callout in `/varz` (ours).
#[derive(Debug, Clone, Serialize)]
pub struct CalloutVarz {
    /// Requests sent to the service.
    pub requests: u64,
    /// Clients it let in.
    pub accepts: u64,
    /// Clients refused on its answer.
    pub rejects: u64,
    /// Requests it did not answer in time.
    pub timeouts: u64,
    /// Clients refused without asking (too many in flight).
    pub refused: u64,
    /// Clients accepted from the decision cache (`cache_ttl`), without asking.
    pub cache_hits: u64,
    /// Requests waiting for an answer now.
    pub in_flight: usize,
}

/// The rebalancer in `/varz` (ours).
#[derive(Debug, Clone, Serialize)]
pub struct RebalanceVarz {
    /// Clients moved away since start.
    pub clients_shed: u64,
    /// The share per server at the last tick.
    pub target: u64,
    /// This server's clients minus the target at the last tick.
    pub imbalance: i64,
    /// New clients are refused (`refuse_new_when_over`, over the target).
    pub refusing_new: bool,
    /// `dry_run`.
    pub dry_run: bool,
}

/// The `cluster` block of `/varz` (Go 2.9.10's fields; 2.15.1 adds `pool_size`, which we
/// leave out: we keep one route per peer).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterVarz {
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Route listen host.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// Route listen port.
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub cluster_port: u16,
    /// Seconds.
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "go_float")]
    pub auth_timeout: f64,
    /// Configured routes as `host:port`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Seconds (Go's default, reported without TLS too).
    #[serde(skip_serializing_if = "is_zero_f64")]
    #[serde(serialize_with = "go_float")]
    pub tls_timeout: f64,
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

/// A number as Go's `encoding/json` writes a float64: no `.0` on a whole number (`2`, not
/// `2.0`), the shortest round-trip form otherwise.
pub(crate) fn go_float<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Builds `/varz` from the shared state. Takes each lock briefly and never two at once; no
/// walk over connections or subscriptions.
pub fn varz(sh: &Shared, clock: Clock, env: &Env) -> Varz {
    let o = sh.opts();
    let s = &sh.stats;
    Varz {
        server_id: sh.server_id().to_string(),
        server_name: sh.server_name(),
        version: VERSION,
        proto: PROTO,
        git_commit: crate::GIT_COMMIT.unwrap_or_default(),
        go: crate::info::IMPLEMENTATION,
        host: o.host.clone(),
        port: o.port,
        auth_required: o.auth.required(),
        tls_required: o.tls.is_some() && !o.allow_non_tls,
        tls_verify: o.tls.as_ref().is_some_and(|t| t.verifies_clients()),
        connect_urls: crate::info::client_connect_urls(sh, &o, true),
        max_connections: o.max_connections,
        max_subscriptions: o.max_subscriptions,
        ping_interval: nanos(o.ping_interval),
        ping_max: o.ping_max,
        http_host: env.http_host.clone(),
        http_port: env.http_port,
        http_base_path: env.http_base_path.clone(),
        https_port: 0,
        auth_timeout: o.auth.timeout.as_secs_f64(),
        max_control_line: o.max_control_line,
        max_payload: o.max_payload,
        max_pending: o.max_pending,
        cluster: match &o.cluster {
            Some(c) => ClusterVarz {
                name: c.name.clone().unwrap_or_default(),
                addr: c.host.clone(),
                cluster_port: c.port,
                auth_timeout: c.auth_timeout.as_secs_f64(),
                urls: c.routes.iter().map(|r| r.addr()).collect(),
                tls_timeout: 2.0,
            },
            None => ClusterVarz::default(),
        },
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: Empty {},
        jetstream: Empty {},
        tls_timeout: o.tls.as_ref().map_or(2.0, |t| t.timeout.as_secs_f64()),
        write_deadline: nanos(o.write_deadline),
        start: clock.rfc3339(sh.start_time()),
        now: super::timefmt::rfc3339(clock.wall_nanos),
        uptime: super::timefmt::uptime(clock.now - sh.start_time()),
        mem: env.mem,
        cores: env.cores,
        gomaxprocs: env.cores,
        cpu: env.cpu,
        connections: sh.num_clients(),
        total_connections: s.total_connections.load(Ordering::Relaxed),
        routes: sh.routes().len(),
        remotes: sh.routes().len(),
        leafnodes: 0,
        in_msgs: s.in_msgs.load(Ordering::Relaxed),
        out_msgs: s.out_msgs.load(Ordering::Relaxed),
        in_bytes: s.in_bytes.load(Ordering::Relaxed),
        out_bytes: s.out_bytes.load(Ordering::Relaxed),
        slow_consumers: s.slow_consumers.load(Ordering::Relaxed),
        // Every account's, internal subscriptions included, as Go counts them.
        subscriptions: sh.num_subscriptions() as u64,
        http_req_stats: env.http_req_stats.clone(),
        config_load_time: clock.rfc3339(env.config_load_time),
        system_account: sh.system_account().name.clone(),
        rebalance: o
            .cluster
            .as_ref()
            .and_then(|c| c.rebalance)
            .filter(|r| r.enabled)
            .map(|r| {
                use std::sync::atomic::Ordering;
                let st = &sh.rebalance;
                RebalanceVarz {
                    clients_shed: st.shed.load(Ordering::Relaxed),
                    target: st.target.load(Ordering::Relaxed),
                    imbalance: st.imbalance.load(Ordering::Relaxed),
                    refusing_new: st.refusing_new.load(Ordering::Relaxed),
                    dry_run: r.dry_run,
                }
            }),
        auth_callout: o.auth.has_provider().then(|| {
            use std::sync::atomic::Ordering;
            let s = &sh.callouts().stats;
            CalloutVarz {
                requests: s.requests.load(Ordering::Relaxed),
                accepts: s.accepts.load(Ordering::Relaxed),
                rejects: s.rejects.load(Ordering::Relaxed),
                timeouts: s.timeouts.load(Ordering::Relaxed),
                refused: s.refused.load(Ordering::Relaxed),
                cache_hits: s.cache_hits.load(Ordering::Relaxed),
                in_flight: sh.callouts().in_flight(),
            }
        }),
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod go_float_tests {
    #[derive(serde::Serialize)]
    struct T {
        #[serde(serialize_with = "super::go_float")]
        v: f64,
    }

    #[test]
    fn whole_numbers_have_no_fraction_as_in_go() {
        let j = |v: f64| serde_json::to_string(&T { v }).unwrap();
        assert_eq!(j(2.0), r#"{"v":2}"#);
        assert_eq!(j(0.0), r#"{"v":0}"#);
        assert_eq!(j(0.5), r#"{"v":0.5}"#);
    }
}
