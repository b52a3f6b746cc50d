//! The monitoring HTTP endpoints, runtime-neutral: a request line in, (status, content type,
//! body) out. Each runtime's HTTP server (`tiny_http` on std, hyper on tokio) is a thin
//! shell around [`Monitor::handle`]; the documents come from `natsd_core::monitor`.
//!
//! Never blocks the message path: the core builders take each lock briefly and copy; all
//! serialisation happens here, after every lock is released.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use natsd_core::monitor::{self, Clock, ConnzOptions, Env, Query, QueryError, SubszOptions};
use natsd_core::shared::Shared;
use natsd_core::Time;
use serde::Serialize;

use super::metrics::Metrics;
use crate::clock;

/// Where monitoring listens, from `-m`/`http_port`/`http`/`http_base_path`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Host (Go's default: the client listen host).
    pub host: String,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// `http_base_path` (`""` is `/`).
    pub base_path: String,
}

/// An answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

/// Headers every answer carries besides `Content-Type` (Go sets CORS on its JSON).
pub const EXTRA_HEADERS: &[(&str, &str)] = &[("Access-Control-Allow-Origin", "*")];

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// The endpoints we serve, relative to the base path, for the index page.
const ENDPOINTS: &[(&str, &str)] = &[
    ("varz", "General"),
    ("connz", "Connections"),
    ("accountz", "Accounts"),
    ("accstatz", "Account Stats"),
    ("subsz", "Subscriptions"),
    ("routez", "Routes"),
    ("healthz", "Health Probe"),
    ("metrics", "Prometheus Metrics"),
];

/// The monitoring state of one server: what `/varz` reports of the listener, request
/// counts, and the Prometheus registry.
#[derive(Debug)]
pub struct Monitor {
    shared: Arc<Shared>,
    host: String,
    port: u16,
    base: String,
    process: Arc<ProcessHost>,
    metrics: Metrics,
}

/// The wall clock and process figures the core's `$SYS` services and `/varz` use
/// (`natsd_core::events::Host`). With monitoring on, the monitor's own (it knows the
/// listener and counts requests); otherwise [`ProcessHost::plain`].
#[derive(Debug)]
pub struct ProcessHost {
    start: Time,
    /// Monitoring host, bound port and base path, when monitoring is on.
    http: Option<(String, u16, String)>,
    req_stats: Mutex<BTreeMap<String, u64>>,
}

impl ProcessHost {
    /// For a server without monitoring, started at `start`.
    pub fn plain(start: Time) -> ProcessHost {
        ProcessHost {
            start,
            http: None,
            req_stats: Mutex::new(BTreeMap::new()),
        }
    }
}

impl natsd_core::events::Host for ProcessHost {
    fn clock(&self, at: Time) -> Clock {
        let c = now();
        Clock {
            now: at,
            wall_nanos: c.wall_of(at),
        }
    }

    fn env(&self) -> Env {
        let (mem, cpu) = process_usage(self.start);
        let (http_host, http_port, http_base_path) = self.http.clone().unwrap_or_default();
        Env {
            http_host,
            http_port,
            http_base_path,
            mem,
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            http_req_stats: self
                .req_stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            config_load_time: self.start,
        }
    }
}

impl Monitor {
    /// Monitoring for `shared`, listening on `cfg.host` and the bound `port`.
    pub fn new(shared: Arc<Shared>, cfg: &MonitorConfig, port: u16) -> Monitor {
        let trimmed = cfg.base_path.trim_matches('/');
        let base = if trimmed.is_empty() {
            "/".to_string()
        } else {
            format!("/{trimmed}/")
        };
        let metrics = Metrics::new(shared.server_id());
        let process = Arc::new(ProcessHost {
            start: shared.start_time(),
            http: Some((cfg.host.clone(), port, cfg.base_path.clone())),
            req_stats: Mutex::new(BTreeMap::new()),
        });
        // The `$SYS` services report what `/varz` does (the first host installed stays).
        shared.set_host(Arc::clone(&process) as Arc<dyn natsd_core::events::Host>);
        Monitor {
            shared,
            host: cfg.host.clone(),
            port,
            base,
            process,
            metrics,
        }
    }

    /// Answers `method target` (`target` is the path with its query). Never panics on input:
    /// unknown paths are 404, bad queries 400 with the Go server's text.
    pub fn handle(&self, method: &str, target: &str) -> Response {
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let q = Query::parse(raw_query);
        if method != "GET" && method != "HEAD" {
            return text(405, "Method Not Allowed\n");
        }
        if path == self.base || (self.base == "/" && path.is_empty()) {
            return Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: self.index().into_bytes(),
            };
        }
        let Some(name) = path.strip_prefix(self.base.as_str()) else {
            return not_found();
        };
        let name = match name {
            "subscriptionsz" => "subsz",
            n => n,
        };
        if !ENDPOINTS.iter().any(|(e, _)| *e == name) {
            return not_found();
        }
        self.count(&format!("/{name}"));
        let clock = now();
        let sh = &*self.shared;
        let result: Result<Vec<u8>, QueryError> = match name {
            "varz" => Ok(pretty(&monitor::varz(sh, clock, &self.env()))),
            "connz" => ConnzOptions::from_query(&q).map(|o| pretty(&monitor::connz(sh, clock, &o))),
            "subsz" => SubszOptions::from_query(&q).map(|o| pretty(&monitor::subsz(sh, clock, &o))),
            "routez" => monitor::routez(sh, clock, &q).map(|r| pretty(&r)),
            "accountz" => monitor::accountz(sh, clock, &q).map(|a| pretty(&a)),
            "accstatz" => monitor::accstatz(sh, clock, &q).map(|a| pretty(&a)),
            "healthz" => monitor::healthz(&q).map(|h| compact(&h)),
            "metrics" => {
                return Response {
                    status: 200,
                    content_type: super::metrics::CONTENT_TYPE,
                    body: self.metrics.scrape(sh, clock, &self.env()),
                }
            }
            _ => return not_found(),
        };
        match result {
            Ok(body) => json(body, q.get("callback")),
            Err(e) => text(400, &e.0),
        }
    }

    /// The monitoring host and bound port, as `/varz` reports them.
    pub fn addr(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    fn count(&self, path: &str) {
        let mut m = self
            .process
            .req_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *m.entry(path.to_string()).or_insert(0) += 1;
    }

    fn env(&self) -> Env {
        natsd_core::events::Host::env(&*self.process)
    }

    fn index(&self) -> String {
        let mut links = String::new();
        for (e, label) in ENDPOINTS {
            links.push_str(&format!("    <a href=.{}{e}>{label}</a>\n", self.base));
        }
        format!(
            "<html lang=\"en\">\n  <head><title>natsd monitoring</title></head>\n  <body>\n    \
             <h1>natsd v{}</h1>\n{links}    <a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring>Help</a>\n  </body>\n</html>\n",
            natsd_core::VERSION
        )
    }
}

/// The clock pair the core builders take.
pub fn now() -> Clock {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    Clock {
        now: clock::now(),
        wall_nanos: wall,
    }
}

fn pretty<T: Serialize>(v: &T) -> Vec<u8> {
    // Our documents are plain structs and maps with string keys: serialising cannot fail.
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn compact<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// JSON, or JSONP when `callback` is given (Go's `ResponseHandler`).
fn json(body: Vec<u8>, callback: &str) -> Response {
    if callback.is_empty() {
        return Response {
            status: 200,
            content_type: JSON,
            body,
        };
    }
    let mut b = Vec::with_capacity(body.len() + callback.len() + 2);
    b.extend_from_slice(callback.as_bytes());
    b.push(b'(');
    b.extend_from_slice(&body);
    b.push(b')');
    Response {
        status: 200,
        content_type: "application/javascript",
        body: b,
    }
}

fn text(status: u16, msg: &str) -> Response {
    Response {
        status,
        content_type: TEXT,
        body: msg.as_bytes().to_vec(),
    }
}

fn not_found() -> Response {
    text(404, "404 page not found\n")
}

/// Resident memory (bytes) and average CPU percent since `start`, from `/proc/self`
/// (zeros where it is unreadable).
fn process_usage(start: Time) -> (u64, f64) {
    let mem = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the `(comm)`; utime and stime are the 14th and 15th of the line.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        });
    let elapsed = (clock::now() - start).as_secs_f64();
    let cpu = match ticks {
        // Linux reports in USER_HZ, 100 on every platform we build for.
        Some(t) if elapsed > 0.0 => ((t as f64 / 100.0) / elapsed * 1000.0).round() / 10.0,
        _ => 0.0,
    };
    (mem, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use natsd_core::options::Options;

    fn mon(base: &str) -> Monitor {
        let sh = Arc::new(Shared::new(
            Options::default(),
            "NTEST".into(),
            clock::now(),
        ));
        let cfg = MonitorConfig {
            host: "127.0.0.1".into(),
            port: 0,
            base_path: base.into(),
        };
        Monitor::new(sh, &cfg, 8222)
    }

    #[test]
    fn routes_with_and_without_base_path() {
        let m = mon("");
        assert_eq!(m.handle("GET", "/varz").status, 200);
        assert_eq!(
            m.handle("GET", "/").content_type,
            "text/html; charset=utf-8"
        );
        assert_eq!(m.handle("GET", "/nope").status, 404);
        assert_eq!(m.handle("GET", "/subscriptionsz").status, 200);
        let r = m.handle("GET", "/connz?sort=bogus");
        assert_eq!(
            (r.status, r.body.as_slice()),
            (400, &b"invalid sorting option: bogus"[..])
        );
        let m = mon("/mon/");
        assert_eq!(m.handle("GET", "/mon/healthz").body, b"{\"status\":\"ok\"}");
        assert_eq!(m.handle("GET", "/varz").status, 404);
        assert_eq!(m.handle("GET", "/mon/").status, 200);
    }

    #[test]
    fn counts_requests_and_supports_jsonp() {
        let m = mon("");
        m.handle("GET", "/healthz");
        let r = m.handle("GET", "/varz?callback=cb");
        assert_eq!(r.content_type, "application/javascript");
        assert!(r.body.starts_with(b"cb({"));
        let v: serde_json::Value = serde_json::from_slice(&m.handle("GET", "/varz").body).unwrap();
        assert_eq!(v["http_req_stats"]["/varz"], 2);
        assert_eq!(v["http_req_stats"]["/healthz"], 1);
        assert_eq!(v["http_port"], 8222);
    }
}
