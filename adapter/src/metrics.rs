//! `/metrics`: the Prometheus text format, built with the `prometheus` crate.
//!
//! The `gnatsd_*` series are the ones prometheus-nats-exporter derives from `/varz`,
//! `/connz`, `/subsz`, `/routez` and `/healthz` (every numeric field a gauge named
//! `gnatsd_<endpoint>_<field>`, labelled `server_id`), so NATS Grafana dashboards work
//! unchanged. `natsd_account_*` (labelled `server_id` and `account`) are ours: per-account
//! connections, subscriptions, messages and bytes in and out. `natsd_route_*` (labelled
//! `server_id`, `remote_id` and `remote_name`) too: per route, messages and bytes each way,
//! bytes queued and the peer's interest held here.
//!
//! A scrape builds `/varz` (atomics and short locks, no walk over connections), reads the
//! sublist statistics and each account's atomics, sets the gauges and encodes. Nothing here
//! walks connections or subscriptions.

use std::sync::atomic::Ordering;

use natsd_core::monitor::{self, Clock, Env, DEFAULT_LIST_SIZE};
use natsd_core::shared::Shared;
use prometheus::{CounterVec, Encoder, Gauge, GaugeVec, Opts, Registry, TextEncoder};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/varz` numeric fields exported as `gnatsd_varz_<field>`.
const VARZ: &[&str] = &[
    "connections",
    "total_connections",
    "subscriptions",
    "slow_consumers",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "mem",
    "cpu",
    "cores",
    "gomaxprocs",
    "max_connections",
    "max_payload",
    "max_pending",
    "max_control_line",
    "ping_interval",
    "ping_max",
    "write_deadline",
    "auth_timeout",
    "routes",
    "remotes",
    "leafnodes",
    "port",
    "http_port",
    "start",
    "config_load_time",
];

/// `/subsz` fields exported as `gnatsd_subsz_<field>`.
const SUBSZ: &[&str] = &[
    "num_subscriptions",
    "num_cache",
    "num_inserts",
    "num_removes",
    "num_matches",
    "cache_hit_rate",
    "max_fanout",
    "avg_fanout",
];

/// `/connz` top-level fields exported as `gnatsd_connz_<field>` (for the default query).
const CONNZ: &[&str] = &["num_connections", "total", "offset", "limit"];

/// Per-account series, `natsd_account_<name>`.
const ACCOUNT: &[(&str, &str)] = &[
    ("connections", "Client connections in the account"),
    ("subscriptions", "Subscriptions in the account"),
    ("in_msgs", "Messages published into the account"),
    ("in_bytes", "Payload bytes published into the account"),
    ("out_msgs", "Messages delivered from the account"),
    ("out_bytes", "Payload bytes delivered from the account"),
];

/// One server's registry and gauges.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    varz: Vec<Gauge>,
    subsz: Vec<Gauge>,
    connz: Vec<Gauge>,
    routez_num_routes: Gauge,
    healthz_status: Gauge,
    account: Vec<GaugeVec>,
    route: Vec<GaugeVec>,
    /// Publish rate limiting per (account, user): seconds throttled, messages dropped.
    throttled: CounterVec,
    dropped: CounterVec,
    /// Rebalancing (`cluster { rebalance }`): clients shed, the target, the imbalance.
    rebalance_shed: prometheus::Counter,
    rebalance_target: Gauge,
    rebalance_imbalance: Gauge,
}

/// The auth callout's families in the text format, from the core's counters (a
/// histogram of answered requests' latency; the counters are totals since start).
fn callout_text(sh: &natsd_core::shared::Shared) -> String {
    use std::fmt::Write;
    let s = &sh.callouts().stats;
    let id = sh.server_id();
    let mut out = String::new();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    for (name, help, v) in [
        ("requests", "Auth callout requests sent", load(&s.requests)),
        (
            "accepts",
            "Clients the auth callout let in",
            load(&s.accepts),
        ),
        (
            "rejects",
            "Clients refused on the auth callout's answer",
            load(&s.rejects),
        ),
        (
            "timeouts",
            "Auth callout requests not answered in time",
            load(&s.timeouts),
        ),
        (
            "refused",
            "Clients refused without asking (too many in flight)",
            load(&s.refused),
        ),
        (
            "cache_hits",
            "Clients accepted from the decision cache, without asking",
            load(&s.cache_hits),
        ),
    ] {
        let _ = writeln!(out, "# HELP natsd_auth_callout_{name}_total {help}");
        let _ = writeln!(out, "# TYPE natsd_auth_callout_{name}_total counter");
        let _ = writeln!(
            out,
            "natsd_auth_callout_{name}_total{{server_id=\"{id}\"}} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP natsd_auth_callout_in_flight Auth callout requests waiting for an answer"
    );
    let _ = writeln!(out, "# TYPE natsd_auth_callout_in_flight gauge");
    let _ = writeln!(
        out,
        "natsd_auth_callout_in_flight{{server_id=\"{id}\"}} {}",
        sh.callouts().in_flight()
    );
    let _ = writeln!(
        out,
        "# HELP natsd_auth_callout_latency_seconds Time from request to answer"
    );
    let _ = writeln!(out, "# TYPE natsd_auth_callout_latency_seconds histogram");
    let mut cumulative = 0;
    for (i, le) in natsd_core::callout::LATENCY_BUCKETS.iter().enumerate() {
        cumulative += load(&s.buckets[i]);
        let _ = writeln!(
            out,
            "natsd_auth_callout_latency_seconds_bucket{{server_id=\"{id}\",le=\"{le}\"}} {cumulative}"
        );
    }
    cumulative += load(&s.buckets[natsd_core::callout::LATENCY_BUCKETS.len()]);
    let _ = writeln!(
        out,
        "natsd_auth_callout_latency_seconds_bucket{{server_id=\"{id}\",le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(
        out,
        "natsd_auth_callout_latency_seconds_sum{{server_id=\"{id}\"}} {}",
        load(&s.latency_micros) as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "natsd_auth_callout_latency_seconds_count{{server_id=\"{id}\"}} {cumulative}"
    );
    out
}

/// Per-route series (`natsd_route_<field>`).
const ROUTE: &[(&str, &str)] = &[
    ("in_msgs", "Messages received over the route"),
    ("out_msgs", "Messages sent over the route"),
    ("in_bytes", "Payload bytes received over the route"),
    ("out_bytes", "Payload bytes sent over the route"),
    ("pending_bytes", "Bytes queued to the route"),
    ("subscriptions", "The peer's interest held here"),
];

impl Metrics {
    /// A registry with every series, labelled `server_id`.
    pub fn new(server_id: &str) -> Metrics {
        let registry = Registry::new();
        let gauge = |name: String, help: String| {
            let g = Gauge::with_opts(Opts::new(name, help).const_label("server_id", server_id))
                .expect("metric names are valid");
            registry
                .register(Box::new(g.clone()))
                .expect("each metric is registered once");
            g
        };
        let family = |ep: &str, fields: &[&str]| -> Vec<Gauge> {
            fields
                .iter()
                .map(|f| gauge(format!("gnatsd_{ep}_{f}"), format!("{f} from /{ep}")))
                .collect()
        };
        let varz = family("varz", VARZ);
        let subsz = family("subsz", SUBSZ);
        let connz = family("connz", CONNZ);
        let routez_num_routes = gauge(
            "gnatsd_routez_num_routes".into(),
            "num_routes from /routez".into(),
        );
        let healthz_status = gauge(
            "gnatsd_healthz_status".into(),
            "0 when /healthz is ok".into(),
        );
        let account = ACCOUNT
            .iter()
            .map(|(f, help)| {
                let opts = Opts::new(format!("natsd_account_{f}"), *help)
                    .const_label("server_id", server_id);
                let g = GaugeVec::new(opts, &["account"]).expect("metric names are valid");
                registry
                    .register(Box::new(g.clone()))
                    .expect("each metric is registered once");
                g
            })
            .collect();
        let route = ROUTE
            .iter()
            .map(|(f, help)| {
                let opts = Opts::new(format!("natsd_route_{f}"), *help)
                    .const_label("server_id", server_id);
                let g = GaugeVec::new(opts, &["remote_id", "remote_name"])
                    .expect("metric names are valid");
                registry
                    .register(Box::new(g.clone()))
                    .expect("each metric is registered once");
                g
            })
            .collect();
        let counter = |name: &str, help: &str| {
            let opts = Opts::new(name, help).const_label("server_id", server_id);
            let c = CounterVec::new(opts, &["account", "user"]).expect("metric names are valid");
            registry
                .register(Box::new(c.clone()))
                .expect("each metric is registered once");
            c
        };
        let throttled = counter(
            "natsd_publish_throttled_seconds_total",
            "Time publishers were not read for, over their publish_rate (backpressure)",
        );
        let dropped = counter(
            "natsd_publish_dropped_messages_total",
            "Messages dropped over a publish_rate with action drop",
        );
        let rb_gauge = |name: &str, help: &str| {
            let g = Gauge::with_opts(Opts::new(name, help).const_label("server_id", server_id))
                .expect("metric names are valid");
            registry
                .register(Box::new(g.clone()))
                .expect("each metric is registered once");
            g
        };
        let rebalance_target = rb_gauge(
            "natsd_rebalance_target_clients",
            "Clients per server the rebalancer aims at (0 before its first tick)",
        );
        let rebalance_imbalance = rb_gauge(
            "natsd_rebalance_imbalance_clients",
            "This server's clients minus the rebalancing target",
        );
        let rebalance_shed = prometheus::Counter::with_opts(
            Opts::new(
                "natsd_rebalance_clients_shed_total",
                "Clients moved to less-loaded servers by rebalancing",
            )
            .const_label("server_id", server_id),
        )
        .expect("metric names are valid");
        registry
            .register(Box::new(rebalance_shed.clone()))
            .expect("each metric is registered once");
        Metrics {
            registry,
            rebalance_shed,
            rebalance_target,
            rebalance_imbalance,
            varz,
            subsz,
            connz,
            routez_num_routes,
            healthz_status,
            account,
            route,
            throttled,
            dropped,
        }
    }

    /// Refreshes every gauge from the server's state and returns the text format.
    pub fn scrape(&self, sh: &Shared, clock: Clock, env: &Env) -> Vec<u8> {
        let v = serde_json::to_value(monitor::varz(sh, clock, env)).unwrap_or_default();
        for (g, f) in self.varz.iter().zip(VARZ) {
            let x = match &v[*f] {
                serde_json::Value::String(_) if *f == "start" => {
                    clock.wall_of(sh.start_time()) as f64 / 1e9
                }
                serde_json::Value::String(_) => clock.wall_of(env.config_load_time) as f64 / 1e9,
                other => other.as_f64().unwrap_or(0.0),
            };
            g.set(x);
        }
        let mut stats = natsd_core::sublist::SublistStats::default();
        for acc in sh.accounts() {
            stats.add(&acc.sublist_stats());
        }
        let s = serde_json::to_value(stats).unwrap_or_default();
        for (g, f) in self.subsz.iter().zip(SUBSZ) {
            g.set(s[*f].as_f64().unwrap_or(0.0));
        }
        let total = sh.num_clients();
        let values = [total.min(DEFAULT_LIST_SIZE), total, 0, DEFAULT_LIST_SIZE];
        for (g, x) in self.connz.iter().zip(values) {
            g.set(x as f64);
        }
        let routes = sh.routes().list();
        self.routez_num_routes.set(routes.len() as f64);
        for g in &self.route {
            // Routes come and go: only the live ones are exported.
            g.reset();
        }
        for r in &routes {
            let h = &r.handle;
            let (out_msgs, out_bytes) = h.out_stats();
            let values = [
                h.in_msgs.load(Ordering::Relaxed),
                out_msgs,
                h.in_bytes.load(Ordering::Relaxed),
                out_bytes,
                h.pending_bytes() as u64,
                h.subs.load(Ordering::Relaxed),
            ];
            for (g, x) in self.route.iter().zip(values) {
                g.with_label_values(&[&r.remote_id, &r.remote_name])
                    .set(x as f64);
            }
        }
        self.healthz_status.set(0.0);
        for acc in sh.accounts() {
            let name = acc.name.as_str();
            let values = [
                sh.num_clients_in(name) as u64,
                acc.num_subscriptions() as u64,
                acc.in_msgs.load(Ordering::Relaxed),
                acc.in_bytes.load(Ordering::Relaxed),
                acc.out_msgs.load(Ordering::Relaxed),
                acc.out_bytes.load(Ordering::Relaxed),
            ];
            for (g, x) in self.account.iter().zip(values) {
                g.with_label_values(&[name]).set(x as f64);
            }
        }
        for ((account, user), c) in sh.all_rate_counters() {
            let labels = [account.as_str(), user.as_str()];
            let secs = c.throttled_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let drops = c.dropped.load(Ordering::Relaxed) as f64;
            // Counters only go up: add what is new since the last scrape.
            for (m, now) in [(&self.throttled, secs), (&self.dropped, drops)] {
                let ctr = m.with_label_values(&labels);
                let seen = ctr.get();
                if now > seen {
                    ctr.inc_by(now - seen);
                }
            }
        }
        let rb = &sh.rebalance;
        self.rebalance_target
            .set(rb.target.load(Ordering::Relaxed) as f64);
        self.rebalance_imbalance
            .set(rb.imbalance.load(Ordering::Relaxed) as f64);
        let shed = rb.shed.load(Ordering::Relaxed) as f64;
        if shed > self.rebalance_shed.get() {
            self.rebalance_shed.inc_by(shed - self.rebalance_shed.get());
        }
        let mut out = Vec::new();
        // Encoding gauges into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        if sh.opts().auth.has_provider() {
            out.extend_from_slice(callout_text(sh).as_bytes());
        }
        out
    }
}
