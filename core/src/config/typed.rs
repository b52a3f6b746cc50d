//! The value tree typed into [`ServerConfig`]: Go's keys and aliases (case-insensitive), its
//! defaults and checks, errors for unknown keys (`unknown field "x"`, as `nats-server -t`
//! reports) and warnings for keys of features this server does not have yet.

use std::fmt;
use std::time::Duration;

use super::duration::parse_go_duration;
use super::perms::authorization;
use super::value::{ConfigError, Entry, Map, Node, Value};
use crate::options::Options;

/// Logging settings (`debug`, `trace`, `logfile`, …). All reloadable.
#[derive(Debug, Clone, PartialEq)]
pub struct Logging {
    /// `debug`.
    pub debug: bool,
    /// `trace`.
    pub trace: bool,
    /// `trace_verbose` (also turns `trace` on).
    pub trace_verbose: bool,
    /// `logtime` (Go's default: true).
    pub logtime: bool,
    /// `logtime_utc` (not in Go 2.9.10; later versions).
    pub logtime_utc: bool,
    /// `logfile`/`log_file`.
    pub log_file: Option<String>,
    /// `logfile_size_limit`/`log_size_limit` in bytes; 0 means no rotation.
    pub log_size_limit: i64,
    /// `max_traced_msg_len`; 0 means no limit.
    pub max_traced_msg_len: usize,
    /// `syslog`.
    pub syslog: bool,
    /// `remote_syslog` (`udp://host:514`).
    pub remote_syslog: Option<String>,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            debug: false,
            trace: false,
            trace_verbose: false,
            logtime: true,
            logtime_utc: false,
            log_file: None,
            log_size_limit: 0,
            max_traced_msg_len: 0,
            syslog: false,
            remote_syslog: None,
        }
    }
}

/// Monitoring endpoint settings (`http`, `http_port`, …), kept for the monitoring server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Monitoring {
    /// Host from `http`/`https`; `None` means the client listen host (Go's default).
    pub host: Option<String>,
    /// `http_port`/`monitor_port`/`http`: `None` disabled, `Some(0)` random (`-1` in Go).
    pub http_port: Option<u16>,
    /// `https_port`/`https`, same encoding.
    pub https_port: Option<u16>,
    /// `http_base_path`.
    pub base_path: Option<String>,
}

/// Everything a config file sets: the core options plus runtime-level settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// What the engine needs (listen host/port, limits, auth, identity).
    pub options: Options,
    /// Logging.
    pub logging: Logging,
    /// `pidfile`/`pid_file`.
    pub pid_file: Option<String>,
    /// `ports_file_dir`.
    pub ports_file_dir: Option<String>,
    /// Monitoring endpoints.
    pub monitoring: Monitoring,
    /// `lame_duck_duration` (Go's default 2m, minimum 30s).
    pub lame_duck_duration: Duration,
    /// `lame_duck_grace_period` (Go's default 10s).
    pub lame_duck_grace_period: Duration,
    /// Canonical names of the options the file set (`"port"`, `"logtime"`, …), so a runtime
    /// can let command-line flags override only what it should.
    pub explicit: Vec<&'static str>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            options: Options::default(),
            logging: Logging::default(),
            pid_file: None,
            ports_file_dir: None,
            monitoring: Monitoring::default(),
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            explicit: Vec::new(),
        }
    }
}

/// A typed config and the warnings found while typing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The config.
    pub config: ServerConfig,
    /// Warnings: unsupported keys, durations given as bare seconds.
    pub warnings: Vec<ConfigError>,
}

/// Everything wrong with a config: errors (fatal) and warnings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    /// Errors, in file order.
    pub errors: Vec<ConfigError>,
    /// Warnings, in file order.
    pub warnings: Vec<ConfigError>,
}

impl fmt::Display for Diagnostics {
    /// Warnings first, then errors, one per line (as Go prints them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.warnings.iter().chain(&self.errors) {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Top-level keys of security features we do not have yet. Running without them would leave
/// the server more open than its operator asked for (no TLS, no accounts' users, no
/// operator/JWT trust), so they are errors, not warnings.
const UNSUPPORTED_REFUSED: &[&str] = &[
    "roots",
    "root",
    "account_resolver",
    "accounts_resolver",
    "resolver_tls",
    "resolver_pinned_accounts",
    "trusted",
    "trusted_keys",
];

/// Message for a refused security key.
pub(super) fn refused(key: &str) -> String {
    format!("{key:?} is not supported yet, and running without it would weaken security: refusing this configuration")
}

/// Top-level keys of features we do not have yet: a warning each, never silently dropped.
const UNSUPPORTED: &[&str] = &[
    "gateway",
    "leaf",
    "leafnodes",
    "store_dir",
    "storedir",
    "jetstream",
    "ocsp",
    "no_system_account",
    "no_system",
    "no_sys_acc",
    "websocket",
    "ws",
    "mqtt",
    "server_tags",
    "default_js_domain",
    "prof_port",
    "max_sub_tokens",
    "max_subscription_tokens",
    "connect_error_reports",
    "reconnect_error_reports",
];

/// Types a parsed config. Keys are matched case-insensitively (as Go does) and processed in
/// file order; a later key wins. Returns all errors found, not just the first.
pub fn from_map(map: &Map) -> Result<Loaded, Diagnostics> {
    let mut t = Typer::default();
    let mut c = ServerConfig::default();
    let mut max_payload_at = None;
    let mut accounts = super::accounts::Parsed::default();
    let mut no_auth_pos = None;
    let mut operator = super::operator::Parsed::default();
    for e in map.iter() {
        let key = e.key.to_ascii_lowercase();
        match key.as_str() {
            "operator" | "operators" | "root_operators" | "root_operator" => {
                super::operator::operator(&mut t, e, &mut operator)
            }
            "resolver" => super::operator::resolver(&mut t, e, &mut operator),
            "resolver_preload" => super::operator::preload(&mut t, e, &mut operator),
            // Users of accounts join `authorization`'s once the whole file is read.
            "accounts" => accounts = super::accounts::accounts(&mut t, e, &mut c.options),
            "no_auth_user" => {
                c.options.auth.no_auth_user = t.string(e);
                no_auth_pos = Some(e.key_pos.clone());
            }
            "system_account" | "system" => c.options.system_account = t.string(e),
            "mappings" | "maps" => c.options.mappings = super::mappings::mappings(&mut t, e),
            _ => t.top_level(&key, e, &mut c, &mut max_payload_at),
        }
    }
    super::accounts::check(&mut t, &mut c.options, accounts, no_auth_pos);
    super::operator::finish(&mut t, &mut c.options, operator);
    if let Some(callout) = &c.options.auth.callout {
        // Go's post-processing: every allowed account must be a configured one (Go gives
        // no position; ours is the `authorization` key's).
        let at = map
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case("authorization"))
            .map(|e| e.key_pos.clone());
        for name in &callout.allowed_accounts {
            if !c.options.accounts.iter().any(|a| a.name == *name) {
                if let Some(pos) = &at {
                    t.errors.push(ConfigError::at(
                        pos,
                        format!("auth_callout allowed account {name:?} not found in configured accounts"),
                    ));
                }
            }
        }
    }
    if let Some(tls) = &c.options.tls {
        // Go's `getDefaultAuthTimeout`: with TLS the handshake counts against the auth
        // timeout, so unless one was written it is the TLS timeout plus a second.
        let written = map.iter().any(|e| {
            e.key.eq_ignore_ascii_case("authorization")
                && matches!(&e.node.value, Value::Map(m) if m.iter().any(|x| x.key.eq_ignore_ascii_case("timeout")))
        });
        if !written {
            c.options.auth.timeout = tls.timeout + std::time::Duration::from_secs(1);
        }
    }
    let o = &c.options;
    if let Some(e) = max_payload_at {
        if o.max_payload > o.max_pending {
            t.error(
                &e,
                format!(
                    "max_payload ({}) cannot be higher than max_pending ({})",
                    o.max_payload, o.max_pending
                ),
            );
        }
    }
    if t.errors.is_empty() {
        Ok(Loaded {
            config: c,
            warnings: t.warnings,
        })
    } else {
        Err(Diagnostics {
            errors: t.errors,
            warnings: t.warnings,
        })
    }
}

/// Collects errors and warnings while typing.
#[derive(Default)]
pub(crate) struct Typer {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

impl Typer {
    pub fn error(&mut self, e: &Entry, msg: impl Into<String>) {
        self.errors.push(ConfigError::at(&e.key_pos, msg));
    }

    pub fn error_at(&mut self, n: &Node, msg: impl Into<String>) {
        self.errors.push(ConfigError::at(&n.pos, msg));
    }

    pub fn unknown(&mut self, e: &Entry) {
        if !e.used_as_variable {
            self.error(e, format!("unknown field {:?}", e.key));
        }
    }

    fn wrong_type(&mut self, e: &Entry, want: &str) {
        let got = e.node.value.type_name();
        self.error(e, format!("{:?} expects {want}, got {got}", e.key));
    }

    pub fn bool(&mut self, e: &Entry) -> Option<bool> {
        match e.node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong_type(e, "a boolean");
                None
            }
        }
    }

    pub fn string(&mut self, e: &Entry) -> Option<String> {
        match &e.node.value {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.wrong_type(e, "a string");
                None
            }
        }
    }

    pub fn int(&mut self, e: &Entry) -> Option<i64> {
        match e.node.value {
            Value::Integer(i) => Some(i),
            _ => {
                self.wrong_type(e, "an integer");
                None
            }
        }
    }

    /// A non-negative integer that fits `max`.
    pub(crate) fn count(&mut self, e: &Entry, max: u64) -> Option<u64> {
        let i = self.int(e)?;
        match u64::try_from(i) {
            Err(_) => {
                self.error(e, format!("{} value can not be negative", e.key));
                None
            }
            Ok(v) if v > max => {
                self.error(e, format!("{} value is too big", e.key));
                None
            }
            Ok(v) => Some(v),
        }
    }

    /// Go's `parseDuration`: a duration string, or (deprecated, with a warning) an integer
    /// number of seconds.
    pub fn duration(&mut self, e: &Entry, field: &str) -> Option<Duration> {
        match &e.node.value {
            Value::String(s) => match parse_go_duration(s) {
                Ok(ns) if ns < 0 => {
                    self.error(e, format!("error parsing {field}: negative duration {s:?}"));
                    None
                }
                Ok(ns) => Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))),
                Err(m) => {
                    self.error(e, format!("error parsing {field}: {m}"));
                    None
                }
            },
            Value::Integer(i) => {
                self.warnings.push(ConfigError::at(
                    &e.key_pos,
                    format!(
                        "invalid use of field {field:?}: {field} should be converted to a duration"
                    ),
                ));
                match u64::try_from(*i) {
                    Ok(s) => Some(Duration::from_secs(s)),
                    Err(_) => {
                        self.error(e, format!("error parsing {field}: negative duration"));
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(e, "a duration string");
                None
            }
        }
    }

    /// A port: `-1` means random (0 here), `0` means the default.
    pub(crate) fn port(&mut self, e: &Entry, v: i64, default: u16) -> Option<u16> {
        match v {
            -1 => Some(0),
            0 => Some(default),
            1..=65535 => u16::try_from(v).ok(),
            _ => {
                self.error(e, format!("port {v} is out of range"));
                None
            }
        }
    }

    /// `listen`-style values: a port, or `host:port` (`[::1]:4222` for IPv6).
    pub(crate) fn listen(&mut self, e: &Entry) -> Option<(Option<String>, i64)> {
        match &e.node.value {
            Value::Integer(p) => Some((None, *p)),
            Value::String(s) => match split_host_port(s) {
                Some((h, p)) => match p.parse::<i64>() {
                    Ok(p) => Some((Some(h.to_string()), p)),
                    Err(_) => {
                        self.error(e, format!("could not parse port {p:?}"));
                        None
                    }
                },
                None => {
                    self.error(e, format!("could not parse address string {s:?}"));
                    None
                }
            },
            v => {
                let t = v.type_name();
                self.error(e, format!("expected port or host:port, got {t}"));
                None
            }
        }
    }

    fn top_level(
        &mut self,
        key: &str,
        e: &Entry,
        c: &mut ServerConfig,
        max_payload_at: &mut Option<Entry>,
    ) {
        let o = &mut c.options;
        let l = &mut c.logging;
        let canonical: &'static str = match key {
            "listen" => {
                if let Some((host, port)) = self.listen(e) {
                    if let Some(h) = host {
                        o.host = h;
                    }
                    if let Some(p) = self.port(e, port, 4222) {
                        o.port = p;
                    }
                }
                "listen"
            }
            "port" => {
                if let Some(p) = self.int(e).and_then(|p| self.port(e, p, 4222)) {
                    o.port = p;
                }
                "port"
            }
            "host" | "net" => {
                if let Some(h) = self.string(e) {
                    o.host = h;
                }
                "host"
            }
            "client_advertise" => {
                o.client_advertise = self.string(e);
                "client_advertise"
            }
            "server_name" => {
                if let Some(n) = self.string(e) {
                    if n.contains(' ') {
                        self.error(e, "server name can not contain spaces");
                    }
                    o.server_name = Some(n);
                }
                "server_name"
            }
            "debug" => set(&mut l.debug, self.bool(e), "debug"),
            "trace" => set(&mut l.trace, self.bool(e), "trace"),
            "trace_verbose" => {
                if let Some(b) = self.bool(e) {
                    l.trace_verbose = b;
                    l.trace = b;
                }
                "trace_verbose"
            }
            "logtime" => set(&mut l.logtime, self.bool(e), "logtime"),
            "logtime_utc" => set(&mut l.logtime_utc, self.bool(e), "logtime_utc"),
            "logfile" | "log_file" => {
                l.log_file = self.string(e);
                "logfile"
            }
            "logfile_size_limit" | "log_size_limit" => {
                set(&mut l.log_size_limit, self.int(e), "logfile_size_limit")
            }
            "max_traced_msg_len" => {
                let v = self.count(e, usize::MAX as u64).map(|v| v as usize);
                set(&mut l.max_traced_msg_len, v, "max_traced_msg_len")
            }
            "syslog" => set(&mut l.syslog, self.bool(e), "syslog"),
            "remote_syslog" => {
                l.remote_syslog = self.string(e);
                "remote_syslog"
            }
            "pidfile" | "pid_file" => {
                c.pid_file = self.string(e);
                "pidfile"
            }
            "ports_file_dir" => {
                c.ports_file_dir = self.string(e);
                "ports_file_dir"
            }
            "max_control_line" => {
                let v = self.count(e, i32::MAX as u64).map(|v| v as usize);
                set(
                    &mut o.max_control_line,
                    v.map(|v| or(v, 4096)),
                    "max_control_line",
                )
            }
            "max_payload" => {
                let v = self.count(e, i32::MAX as u64).map(|v| v as usize);
                *max_payload_at = Some(e.clone());
                set(&mut o.max_payload, v.map(|v| or(v, 1 << 20)), "max_payload")
            }
            "max_pending" => {
                let v = self.count(e, i64::MAX as u64).map(|v| v as usize);
                set(
                    &mut o.max_pending,
                    v.map(|v| or(v, 64 << 20)),
                    "max_pending",
                )
            }
            "max_connections" | "max_conn" => {
                let v = self.count(e, i64::MAX as u64).map(|v| v as usize);
                set(
                    &mut o.max_connections,
                    v.map(|v| or(v, 64 * 1024)),
                    "max_connections",
                )
            }
            "max_subscriptions" | "max_subs" => {
                let v = self.count(e, i64::MAX as u64).map(|v| v as usize);
                set(&mut o.max_subscriptions, v, "max_subscriptions")
            }
            "max_closed_clients" => {
                let v = self.count(e, i64::MAX as u64).map(|v| v as usize);
                set(&mut o.max_closed_clients, v, "max_closed_clients")
            }
            "ping_interval" => {
                let d = self.duration(e, "ping_interval");
                let d = d.map(|d| {
                    if d.is_zero() {
                        Duration::from_secs(120)
                    } else {
                        d
                    }
                });
                set(&mut o.ping_interval, d, "ping_interval")
            }
            "ping_max" => {
                let v = self.count(e, u32::MAX as u64).map(|v| or(v as u32, 2));
                set(&mut o.ping_max, v, "ping_max")
            }
            "write_deadline" => {
                let d = self.duration(e, "write_deadline");
                let d = d.map(|d| {
                    if d.is_zero() {
                        Duration::from_secs(10)
                    } else {
                        d
                    }
                });
                set(&mut o.write_deadline, d, "write_deadline")
            }
            "no_header_support" => set(&mut o.no_header_support, self.bool(e), "no_header_support"),
            "disable_sublist_cache" | "no_sublist_cache" => set(
                &mut o.disable_sublist_cache,
                self.bool(e),
                "disable_sublist_cache",
            ),
            "lame_duck_duration" => {
                if let Some(d) = self.strict_duration(e, "lame_duck_duration") {
                    if d < Duration::from_secs(30) {
                        let shown = super::duration::format_go_duration(d);
                        self.error(
                            e,
                            format!("invalid lame_duck_duration of {shown}, minimum is 30 seconds"),
                        );
                    } else {
                        c.lame_duck_duration = d;
                    }
                }
                "lame_duck_duration"
            }
            "lame_duck_grace_period" => {
                if let Some(d) = self.strict_duration(e, "lame_duck_grace_period") {
                    c.lame_duck_grace_period = d;
                }
                "lame_duck_grace_period"
            }
            "publish_rate" => {
                if let Some(r) = super::rate::publish_rate(self, e) {
                    o.publish_rate = Some(r);
                }
                "publish_rate"
            }
            "cluster" => {
                if let Some(cluster) = super::cluster::cluster(self, e) {
                    o.cluster = Some(cluster);
                }
                "cluster"
            }
            "tls" => {
                o.tls = super::tls::tls(self, e);
                "tls"
            }
            "allow_non_tls" => {
                if let Some(b) = self.bool(e) {
                    o.allow_non_tls = b;
                }
                "allow_non_tls"
            }
            "authorization" => {
                if let Some(mut config) = authorization(self, e) {
                    // `no_auth_user` is a top-level key of its own: keep it whatever the
                    // order the two were written in.
                    config.no_auth_user = o.auth.no_auth_user.take();
                    o.auth = config;
                }
                "authorization"
            }
            "http" | "https" => {
                if let Some((host, port)) = self.listen(e) {
                    c.monitoring.host = host.or(c.monitoring.host.take());
                    let p = monitor_port(self, e, port);
                    if key == "http" {
                        c.monitoring.http_port = p;
                    } else {
                        c.monitoring.https_port = p;
                    }
                }
                if key == "http" {
                    "http"
                } else {
                    "https"
                }
            }
            "http_port" | "monitor_port" => {
                if let Some(p) = self.int(e) {
                    c.monitoring.http_port = monitor_port(self, e, p);
                }
                "http_port"
            }
            "https_port" => {
                if let Some(p) = self.int(e) {
                    c.monitoring.https_port = monitor_port(self, e, p);
                }
                "https_port"
            }
            "http_base_path" => {
                c.monitoring.base_path = self.string(e);
                "http_base_path"
            }
            k if UNSUPPORTED_REFUSED.contains(&k) => {
                self.error(e, refused(&e.key));
                return;
            }
            k if UNSUPPORTED.contains(&k) => {
                self.warnings.push(ConfigError::at(
                    &e.key_pos,
                    format!("{:?} is not supported yet; ignored", e.key),
                ));
                return;
            }
            _ => {
                self.unknown(e);
                return;
            }
        };
        if !c.explicit.contains(&canonical) {
            c.explicit.push(canonical);
        }
    }

    /// A duration that must be a string (Go: `lame_duck_*`), not negative.
    fn strict_duration(&mut self, e: &Entry, field: &str) -> Option<Duration> {
        let s = self.string(e)?;
        match parse_go_duration(&s) {
            Ok(ns) if ns < 0 && field == "lame_duck_grace_period" => {
                self.error(e, "invalid lame_duck_grace_period, needs to be positive");
                None
            }
            Ok(ns) => match u64::try_from(ns) {
                Ok(ns) => Some(Duration::from_nanos(ns)),
                Err(_) => Some(Duration::ZERO),
            },
            Err(m) => {
                self.error(e, format!("error parsing {field}: {m}"));
                None
            }
        }
    }
}

fn set<T>(slot: &mut T, v: Option<T>, name: &'static str) -> &'static str {
    if let Some(v) = v {
        *slot = v;
    }
    name
}

/// Go's baseline: a zero limit means the default.
fn or<T: PartialEq + Default>(v: T, default: T) -> T {
    if v == T::default() {
        default
    } else {
        v
    }
}

/// Monitoring ports: 0 disabled, -1 random.
fn monitor_port(t: &mut Typer, e: &Entry, v: i64) -> Option<u16> {
    match v {
        0 => None,
        -1 => Some(0),
        1..=65535 => u16::try_from(v).ok(),
        _ => {
            t.error(e, format!("port {v} is out of range"));
            None
        }
    }
}

/// Splits `host:port` like Go's `net.SplitHostPort`: `[v6]:port`, or exactly one colon.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = s.split_once(':')?;
    if port.contains(':') {
        return None;
    }
    Some((host, port))
}
