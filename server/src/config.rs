//! `-c/--config FILE`: reading the file (and its includes) from disk, typing it with the
//! core's pure parser, and laying the command-line flags over it (Go's semantics: a flag the
//! user gave wins over the file; one left at its default does not).

use natsd_core::config::{self, join_include_path, ConfigError, IncludeResolver, ServerConfig};

use super::flags::Flags;
use super::logging::LogConfig;
use super::oserror::go_error;
use super::settings::RANDOM_PORT;

/// Includes read from the file system, relative to the including file.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsIncludes;

impl IncludeResolver for FsIncludes {
    fn resolve(&self, including_file: &str, path: &str) -> Result<(String, String), String> {
        let full = join_include_path(including_file, path);
        std::fs::read_to_string(&full)
            .map(|text| (full.clone(), text))
            .map_err(|e| format!("error opening include file: {}", open_error(&full, &e)))
    }
}

/// Go's wording of a failed open: `open FILE: no such file or directory`.
fn open_error(path: &str, e: &std::io::Error) -> String {
    go_error(&format!("open {path}"), e)
}

/// True for our own "not supported yet" warnings (features this server lacks). Every other
/// warning is one the Go server reports too, and Go refuses `-t` and reloads over those.
pub fn is_unsupported_warning(w: &ConfigError) -> bool {
    w.msg.contains("not supported yet")
}

/// A config file that loaded, with its warnings split by kind.
#[derive(Debug, Clone)]
pub struct FileConfig {
    /// The typed config (flags not applied yet).
    pub config: ServerConfig,
    /// Warnings the Go server gives too (`-t` and reload fail over them, as in Go).
    pub go_warnings: Vec<String>,
    /// Our "not supported yet" warnings: logged as `[WRN]`, never fatal.
    pub unsupported: Vec<String>,
}

/// Reads and types `path`. Errors are the text Go prints after `nats-server: ` (a missing
/// file: `open FILE: no such file or directory`; otherwise one `file:line:col: msg` line per
/// warning and error, each ending in a newline).
pub fn load_file(path: &str) -> Result<FileConfig, String> {
    let src = std::fs::read_to_string(path).map_err(|e| open_error(path, &e))?;
    let env = |k: &str| std::env::var(k).ok();
    match config::load(path, &src, &FsIncludes, &env) {
        Ok(loaded) => {
            let (unsupported, go): (Vec<_>, Vec<_>) = loaded
                .warnings
                .iter()
                .partition(|w| is_unsupported_warning(w));
            Ok(FileConfig {
                config: loaded.config,
                go_warnings: go.iter().map(ToString::to_string).collect(),
                unsupported: unsupported.iter().map(ToString::to_string).collect(),
            })
        }
        Err(d) => {
            let mut out = String::new();
            let go = d.warnings.iter().filter(|w| !is_unsupported_warning(w));
            for e in go.chain(&d.errors) {
                out.push_str(&e.to_string());
                out.push('\n');
            }
            Err(out)
        }
    }
}

impl FileConfig {
    /// Go refuses a config with warnings of its own kind (`-t`, reload): that text.
    pub fn go_warnings_error(&self) -> Option<String> {
        if self.go_warnings.is_empty() {
            return None;
        }
        Some(self.go_warnings.iter().map(|w| format!("{w}\n")).collect())
    }
}

/// The config the server runs with when no file is given: defaults plus the flags.
pub fn from_flags(f: &Flags) -> Result<ServerConfig, String> {
    let mut c = ServerConfig::default();
    c.logging.logtime = f.logtime;
    apply_flags(&mut c, f)?;
    Ok(c)
}

/// Lays the flags the user gave over `c` (a file's config or the defaults): strings when
/// given and non-empty, `-p` when given and not 0 (`-1` means a random port), the bool
/// options when given at all (even `=false`). The same at start and on every reload.
pub fn apply_flags(c: &mut ServerConfig, f: &Flags) -> Result<(), String> {
    let o = &mut c.options;
    match f.port {
        None | Some(0) => {}
        Some(RANDOM_PORT) => o.port = 0,
        Some(p) => o.port = u16::try_from(p).map_err(|_| format!("invalid port: {p}"))?,
    }
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    if let Some(h) = given(&f.host) {
        o.host = h;
    }
    if let Some(n) = given(&f.server_name) {
        o.server_name = Some(n);
    }
    if let Some(a) = given(&f.client_advertise) {
        o.client_advertise = Some(a);
    }
    if let Some(u) = given(&f.user) {
        o.auth.user = Some(u);
    }
    if let Some(p) = given(&f.pass) {
        o.auth.password = Some(p);
    }
    if let Some(t) = given(&f.auth) {
        o.auth.token = Some(t);
    }
    o.cluster = super::settings::cluster_from_flags(o.cluster.take(), f)?;
    super::settings::tls_from_flags(o, f)?;
    if let Some(l) = given(&f.log_file) {
        c.logging.log_file = Some(l);
    }
    if let Some(p) = given(&f.pid_file) {
        c.pid_file = Some(p);
    }
    if let Some(d) = given(&f.ports_file_dir) {
        c.ports_file_dir = Some(d);
    }
    if let Some(p) = f.http_port.filter(|p| *p != 0) {
        c.monitoring.http_port = u16::try_from(p.max(0)).ok();
    }
    if let Some(p) = f.https_port.filter(|p| *p != 0) {
        c.monitoring.https_port = u16::try_from(p.max(0)).ok();
    }
    for name in &f.explicit {
        let l = &mut c.logging;
        match *name {
            "debug" => l.debug = f.debug,
            "trace" => l.trace = f.trace,
            "trace_verbose" => l.trace_verbose = f.trace_verbose,
            "logtime" => l.logtime = f.logtime,
            "syslog" => l.syslog = f.syslog,
            _ => {}
        }
    }
    Ok(())
}

/// Where monitoring listens (`http_port`/`http`/`-m`, `http_base_path`), or `None` when
/// it is off. Port 0 (Go's -1) picks a free port.
pub fn monitor_config(c: &ServerConfig) -> Option<natsd_adapter::monitor::MonitorConfig> {
    let m = &c.monitoring;
    Some(natsd_adapter::monitor::MonitorConfig {
        host: m.host.clone().unwrap_or_default(),
        port: m.http_port?,
        base_path: m.base_path.clone().unwrap_or_default(),
    })
}

/// The logger settings of a config.
pub fn log_config(c: &ServerConfig) -> LogConfig {
    LogConfig {
        file: c
            .logging
            .log_file
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(Into::into),
        logtime: c.logging.logtime,
        debug: c.logging.debug,
        trace: c.logging.trace || c.logging.trace_verbose,
    }
}

/// Warnings for config settings this server does not act on yet (monitoring, syslog, log
/// rotation, traced message length), as `[WRN]` lines.
pub fn unsupported_settings(c: &ServerConfig) -> Vec<String> {
    let mut w = Vec::new();
    let m = &c.monitoring;
    if m.https_port.is_some() {
        w.push("HTTPS monitoring (https, https_port) is not supported yet, ignored".to_string());
    }
    if c.logging.syslog || c.logging.remote_syslog.is_some() {
        w.push("Syslog (syslog, remote_syslog) is not supported yet, ignored".to_string());
    }
    if c.logging.log_size_limit != 0 {
        w.push("Log rotation (logfile_size_limit) is not supported yet, ignored".to_string());
    }
    if c.logging.max_traced_msg_len != 0 {
        w.push("max_traced_msg_len is not supported yet, ignored".to_string());
    }
    w
}

/// Go's warning for plain-text passwords in the config (`Plaintext passwords detected, use
/// nkeys or bcrypt`), when any configured password is not a bcrypt hash.
pub fn plaintext_password_warning(c: &ServerConfig) -> Option<String> {
    let a = &c.options.auth;
    let plain = |p: &str| !natsd_core::auth::is_bcrypt(p);
    // nkey users have no password (Go warns only for users that have one).
    let any = a.password.as_deref().is_some_and(plain)
        || a.users
            .iter()
            .any(|u| u.nkey.is_none() && plain(&u.password));
    any.then(|| "Plaintext passwords detected, use nkeys or bcrypt".to_string())
}
