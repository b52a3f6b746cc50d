//! The reload diff: which options changed between two configs, and whether all of them can be
//! applied to a running server (Go's `reload.go diffOptions`). Applying is the runtime's job.

use std::fmt;
use std::time::Duration;

use super::duration::format_go_duration;
use super::typed::ServerConfig;
use crate::auth::User;

/// One reloadable option that changed, with its new value.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `trace`.
    Trace(bool),
    /// `trace_verbose`.
    TraceVerbose(bool),
    /// `debug`.
    Debug(bool),
    /// `logtime`.
    Logtime(bool),
    /// `logtime_utc`.
    LogtimeUtc(bool),
    /// `logfile`.
    LogFile(Option<String>),
    /// `syslog`.
    Syslog(bool),
    /// `remote_syslog`.
    RemoteSyslog(Option<String>),
    /// `max_traced_msg_len`.
    MaxTracedMsgLen(usize),
    /// `authorization { user }`.
    Username(Option<String>),
    /// `authorization { password }`.
    Password(Option<String>),
    /// `authorization { token }`.
    Token(Option<String>),
    /// `authorization { timeout }`.
    AuthTimeout(Duration),
    /// `authorization { users }` (names, passwords or permissions).
    Users(Vec<User>),
    /// `max_connections`.
    MaxConnections(usize),
    /// `pidfile`.
    PidFile(Option<String>),
    /// `ports_file_dir`.
    PortsFileDir(Option<String>),
    /// `max_control_line`.
    MaxControlLine(usize),
    /// `max_payload`.
    MaxPayload(usize),
    /// `ping_interval`.
    PingInterval(Duration),
    /// `ping_max`.
    PingMax(u32),
    /// `write_deadline`.
    WriteDeadline(Duration),
    /// `client_advertise`.
    ClientAdvertise(Option<String>),
    /// `cluster { routes }`: routes added are dialled, routes removed are closed.
    ClusterRoutes(Vec<crate::options::RouteUrl>),
    /// `publish_rate` (top level, or `Some(account)` for an account's).
    PublishRate(Option<String>),
    /// `mappings` (top level, or `Some(account)` for an account's): the next message sees
    /// the new ones.
    Mappings(Option<String>),
    /// `accounts`: added or removed, or their exports, imports or limits changed (imports
    /// left unchanged keep flowing; removed ones stop).
    Accounts,
    /// `cluster { rebalance }` (ours): the node's next tick follows the new settings.
    Rebalance,
    /// `tls { … }` (true: TLS on after the reload).
    Tls(bool),
    /// `allow_non_tls`.
    AllowNonTls(bool),
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

impl fmt::Display for Change {
    /// The Go server's log line for this change, e.g. `Reloaded: trace = true`. Secrets are
    /// never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go 2.9.10 spells the client_advertise line "Reload:", every other "Reloaded:".
        f.write_str(match self {
            Change::ClientAdvertise(_) => "Reload: ",
            _ => "Reloaded: ",
        })?;
        match self {
            Change::Trace(v) => write!(f, "trace = {v}"),
            Change::TraceVerbose(v) => write!(f, "trace_verbose = {v}"),
            Change::Debug(v) => write!(f, "debug = {v}"),
            Change::Logtime(v) => write!(f, "logtime = {v}"),
            Change::LogtimeUtc(v) => write!(f, "logtime_utc = {v}"),
            Change::LogFile(v) => write!(f, "log_file = {}", opt(v)),
            Change::Syslog(v) => write!(f, "syslog = {v}"),
            Change::RemoteSyslog(v) => write!(f, "remote_syslog = {}", opt(v)),
            Change::MaxTracedMsgLen(v) => write!(f, "max_traced_msg_len = {v}"),
            Change::Username(_) => write!(f, "authorization username"),
            Change::Password(_) => write!(f, "authorization password"),
            Change::Token(_) => write!(f, "authorization token"),
            Change::AuthTimeout(v) => write!(f, "authorization timeout = {}", v.as_secs_f64()),
            Change::Users(_) => write!(f, "authorization users"),
            Change::MaxConnections(v) => write!(f, "max_connections = {v}"),
            Change::PidFile(v) => write!(f, "pid_file = {}", opt(v)),
            Change::PortsFileDir(v) => write!(f, "ports_file_dir = {}", opt(v)),
            Change::MaxControlLine(v) => write!(f, "max_control_line = {v}"),
            Change::MaxPayload(v) => write!(f, "max_payload = {v}"),
            Change::PingInterval(v) => write!(f, "ping_interval = {}", format_go_duration(*v)),
            Change::PingMax(v) => write!(f, "ping_max = {v}"),
            Change::WriteDeadline(v) => write!(f, "write_deadline = {}", format_go_duration(*v)),
            Change::ClientAdvertise(v) => write!(f, "client_advertise = {}", opt(v)),
            Change::ClusterRoutes(_) => write!(f, "cluster routes"),
            Change::PublishRate(None) => write!(f, "publish_rate"),
            Change::PublishRate(Some(a)) => write!(f, "publish_rate of account {a}"),
            Change::Mappings(None) => write!(f, "mappings"),
            Change::Mappings(Some(a)) => write!(f, "mappings of account {a}"),
            // Go's line for any account change.
            Change::Accounts => write!(f, "accounts"),
            Change::Rebalance => write!(f, "cluster rebalance"),
            // Go's `tlsOption`: enabled or disabled, whatever changed in the block.
            Change::Tls(on) => write!(f, "tls = {}", if *on { "enabled" } else { "disabled" }),
            Change::AllowNonTls(b) => write!(f, "allow_non_tls = {b}"),
        }
    }
}

/// A change that cannot be applied while running. `field` is the Go `Options` field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReloadable {
    /// Go's field name (`Host`, `Port`, `ServerName`, `MaxPending`, …).
    pub field: &'static str,
    /// The running value, formatted as Go's `%v` would.
    pub old: String,
    /// The new value.
    pub new: String,
}

impl fmt::Display for NotReloadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "config reload not supported for {}: old={}, new={}",
            self.field, self.old, self.new
        )
    }
}

impl std::error::Error for NotReloadable {}

/// What changed from `old` to `new`. Fails on the first option (in Go's `Options` field
/// order) that cannot change while running; then nothing is to be applied. A new listen port
/// of 0 (random) is ignored, as in Go. Changes come in Go's field order.
pub fn diff(old: &ServerConfig, new: &ServerConfig) -> Result<Vec<Change>, NotReloadable> {
    let (o, n) = (&old.options, &new.options);
    let (ol, nl) = (&old.logging, &new.logging);
    let (om, nm) = (&old.monitoring, &new.monitoring);
    let s = |v: &Option<String>| opt(v).to_string();
    let p = |v: &Option<u16>| v.map_or(0, i32::from).to_string();
    let d = |v: &Duration| format_go_duration(*v);
    // Not reloadable, in Go's field order.
    let fixed: [(&'static str, bool, String, String); 14] = [
        (
            "ServerName",
            o.server_name != n.server_name,
            s(&o.server_name),
            s(&n.server_name),
        ),
        ("Host", o.host != n.host, o.host.clone(), n.host.clone()),
        (
            "Port",
            o.port != n.port && n.port != 0,
            o.port.to_string(),
            n.port.to_string(),
        ),
        (
            "NoSublistCache",
            o.disable_sublist_cache != n.disable_sublist_cache,
            o.disable_sublist_cache.to_string(),
            n.disable_sublist_cache.to_string(),
        ),
        (
            "NoHeaderSupport",
            o.no_header_support != n.no_header_support,
            o.no_header_support.to_string(),
            n.no_header_support.to_string(),
        ),
        (
            "MaxSubs",
            o.max_subscriptions != n.max_subscriptions,
            o.max_subscriptions.to_string(),
            n.max_subscriptions.to_string(),
        ),
        ("HTTPHost", om.host != nm.host, s(&om.host), s(&nm.host)),
        (
            "HTTPPort",
            om.http_port != nm.http_port,
            p(&om.http_port),
            p(&nm.http_port),
        ),
        (
            "HTTPBasePath",
            om.base_path != nm.base_path,
            s(&om.base_path),
            s(&nm.base_path),
        ),
        (
            "HTTPSPort",
            om.https_port != nm.https_port,
            p(&om.https_port),
            p(&nm.https_port),
        ),
        (
            "MaxPending",
            o.max_pending != n.max_pending,
            o.max_pending.to_string(),
            n.max_pending.to_string(),
        ),
        (
            "LogSizeLimit",
            ol.log_size_limit != nl.log_size_limit,
            ol.log_size_limit.to_string(),
            nl.log_size_limit.to_string(),
        ),
        (
            "MaxClosedClients",
            o.max_closed_clients != n.max_closed_clients,
            o.max_closed_clients.to_string(),
            n.max_closed_clients.to_string(),
        ),
        (
            "LameDuckDuration",
            old.lame_duck_duration != new.lame_duck_duration,
            d(&old.lame_duck_duration),
            d(&new.lame_duck_duration),
        ),
    ];
    for (field, changed, old, new) in fixed {
        if changed {
            return Err(NotReloadable { field, old, new });
        }
    }
    // Go reloads some cluster fields (routes added or removed, authorization, advertise);
    // we reload `routes` and refuse any other change rather than silently not apply it.
    let without_routes = |c: &Option<crate::options::ClusterOptions>| {
        c.clone().map(|mut c| {
            c.routes.clear();
            c.rebalance = None;
            c
        })
    };
    if without_routes(&o.cluster) != without_routes(&n.cluster) {
        let show = |c: &Option<crate::options::ClusterOptions>| match c {
            Some(c) => format!(
                "{{name:{} listen:{} routes:{}}}",
                opt(&c.name),
                crate::options::join_host_port(&c.host, c.port),
                c.routes.len()
            ),
            None => "<nil>".to_string(),
        };
        return Err(NotReloadable {
            field: "Cluster",
            old: show(&o.cluster),
            new: show(&n.cluster),
        });
    }
    // Accounts reload (their users with `authorization users`: a user moved to another
    // account is disconnected); the system account and `no_auth_user` are fixed for the
    // server's life.
    if o.system_account != n.system_account || o.auth.no_auth_user != n.auth.no_auth_user {
        let show = |s: &Option<String>| opt(s).to_string();
        let (field, old, new) = if o.system_account != n.system_account {
            (
                "SystemAccount",
                show(&o.system_account),
                show(&n.system_account),
            )
        } else {
            (
                "NoAuthUser",
                show(&o.auth.no_auth_user),
                show(&n.auth.no_auth_user),
            )
        };
        return Err(NotReloadable { field, old, new });
    }
    if old.lame_duck_grace_period != new.lame_duck_grace_period {
        return Err(NotReloadable {
            field: "LameDuckGracePeriod",
            old: d(&old.lame_duck_grace_period),
            new: d(&new.lame_duck_grace_period),
        });
    }

    let mut out = Vec::new();
    let mut push = |changed: bool, c: Change| {
        if changed {
            out.push(c);
        }
    };
    push(
        o.client_advertise != n.client_advertise,
        Change::ClientAdvertise(n.client_advertise.clone()),
    );
    push(o.publish_rate != n.publish_rate, Change::PublishRate(None));
    push(o.mappings != n.mappings, Change::Mappings(None));
    // Certificates, keys and client verification reload for new connections; live ones
    // keep their sessions (the runtime swaps its TLS config).
    push(o.tls != n.tls, Change::Tls(n.tls.is_some()));
    push(
        o.allow_non_tls != n.allow_non_tls,
        Change::AllowNonTls(n.allow_non_tls),
    );
    // Accounts: added, removed, or changed in what they export, import or limit (their
    // budgets and mappings have lines of their own).
    let structure = |a: &[crate::options::AccountOptions]| {
        a.iter()
            .map(|x| crate::options::AccountOptions {
                publish_rate: None,
                mappings: Vec::new(),
                ..x.clone()
            })
            .collect::<Vec<_>>()
    };
    push(
        structure(&o.accounts) != structure(&n.accounts),
        Change::Accounts,
    );
    for na in &n.accounts {
        let oa = o.accounts.iter().find(|a| a.name == na.name);
        push(
            oa.is_some_and(|oa| oa.publish_rate != na.publish_rate),
            Change::PublishRate(Some(na.name.clone())),
        );
        push(
            oa.is_some_and(|oa| oa.mappings != na.mappings),
            Change::Mappings(Some(na.name.clone())),
        );
    }
    if let (Some(oc), Some(nc)) = (&o.cluster, &n.cluster) {
        push(
            oc.routes != nc.routes,
            Change::ClusterRoutes(nc.routes.clone()),
        );
        push(oc.rebalance != nc.rebalance, Change::Rebalance);
    }
    push(ol.trace != nl.trace, Change::Trace(nl.trace));
    push(ol.debug != nl.debug, Change::Debug(nl.debug));
    push(
        ol.trace_verbose != nl.trace_verbose,
        Change::TraceVerbose(nl.trace_verbose),
    );
    push(ol.logtime != nl.logtime, Change::Logtime(nl.logtime));
    push(
        ol.logtime_utc != nl.logtime_utc,
        Change::LogtimeUtc(nl.logtime_utc),
    );
    push(
        o.max_connections != n.max_connections,
        Change::MaxConnections(n.max_connections),
    );
    push(
        o.auth.users != n.auth.users,
        Change::Users(n.auth.users.clone()),
    );
    push(
        o.auth.user != n.auth.user,
        Change::Username(n.auth.user.clone()),
    );
    push(
        o.auth.password != n.auth.password,
        Change::Password(n.auth.password.clone()),
    );
    push(
        o.auth.token != n.auth.token,
        Change::Token(n.auth.token.clone()),
    );
    push(
        o.ping_interval != n.ping_interval,
        Change::PingInterval(n.ping_interval),
    );
    push(o.ping_max != n.ping_max, Change::PingMax(n.ping_max));
    push(
        o.auth.timeout != n.auth.timeout,
        Change::AuthTimeout(n.auth.timeout),
    );
    push(
        o.max_control_line != n.max_control_line,
        Change::MaxControlLine(n.max_control_line),
    );
    push(
        o.max_payload != n.max_payload,
        Change::MaxPayload(n.max_payload),
    );
    push(
        old.pid_file != new.pid_file,
        Change::PidFile(new.pid_file.clone()),
    );
    push(
        old.ports_file_dir != new.ports_file_dir,
        Change::PortsFileDir(new.ports_file_dir.clone()),
    );
    push(
        ol.log_file != nl.log_file,
        Change::LogFile(nl.log_file.clone()),
    );
    push(ol.syslog != nl.syslog, Change::Syslog(nl.syslog));
    push(
        ol.remote_syslog != nl.remote_syslog,
        Change::RemoteSyslog(nl.remote_syslog.clone()),
    );
    push(
        o.write_deadline != n.write_deadline,
        Change::WriteDeadline(n.write_deadline),
    );
    push(
        ol.max_traced_msg_len != nl.max_traced_msg_len,
        Change::MaxTracedMsgLen(nl.max_traced_msg_len),
    );
    Ok(out)
}
