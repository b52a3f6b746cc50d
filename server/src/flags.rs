//! The Go server's command-line flags, parsed with the Go `flag` package's syntax.
//!
//! Syntax (as Go's `flag`): every flag takes one or two dashes (`-user u`, `--user u`), a value
//! follows as `-flag=value` or as the next argument (even one starting with `-`, so `-p -1`
//! works); bool flags never take the next argument, only `-flag=false`. Parsing stops at the
//! first argument that is not a flag, or after `--`. The first such argument may be the
//! command `version` or `help`; anything else is an error.

use std::fmt;

/// Every flag the Go server 2.9.10 defines, by canonical meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Help,
    Port,
    Name,
    Host,
    ClientAdvertise,
    Debug,
    Trace,
    VerboseTrace,
    DebugTrace,
    DebugVerboseTrace,
    Logtime,
    User,
    Pass,
    Auth,
    HttpPort,
    HttpsPort,
    Config,
    CheckConfig,
    Signal,
    PidFile,
    PortsFileDir,
    LogFile,
    LogSizeLimit,
    Syslog,
    RemoteSyslog,
    Version,
    Profile,
    Routes,
    Cluster,
    ClusterAdvertise,
    NoAdvertise,
    ConnectRetries,
    ClusterName,
    HelpTls,
    Tls,
    TlsVerify,
    TlsCert,
    TlsKey,
    TlsCaCert,
    MaxTracedMsgLen,
    JetStream,
    StoreDir,
    /// Ours, not Go's: which runtime serves the clients.
    Runtime,
}

/// What a flag's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Str,
    Int,
}

/// Name → meaning and kind, exactly the names `server.ConfigureOptions` registers, plus our
/// `runtime`.
const TABLE: &[(&str, Flag, Kind)] = &[
    ("h", Flag::Help, Kind::Bool),
    ("help", Flag::Help, Kind::Bool),
    ("port", Flag::Port, Kind::Int),
    ("p", Flag::Port, Kind::Int),
    ("n", Flag::Name, Kind::Str),
    ("name", Flag::Name, Kind::Str),
    ("server_name", Flag::Name, Kind::Str),
    ("addr", Flag::Host, Kind::Str),
    ("a", Flag::Host, Kind::Str),
    ("net", Flag::Host, Kind::Str),
    ("client_advertise", Flag::ClientAdvertise, Kind::Str),
    ("D", Flag::Debug, Kind::Bool),
    ("debug", Flag::Debug, Kind::Bool),
    ("V", Flag::Trace, Kind::Bool),
    ("VV", Flag::VerboseTrace, Kind::Bool),
    ("trace", Flag::Trace, Kind::Bool),
    ("DV", Flag::DebugTrace, Kind::Bool),
    ("DVV", Flag::DebugVerboseTrace, Kind::Bool),
    ("T", Flag::Logtime, Kind::Bool),
    ("logtime", Flag::Logtime, Kind::Bool),
    ("user", Flag::User, Kind::Str),
    ("pass", Flag::Pass, Kind::Str),
    ("auth", Flag::Auth, Kind::Str),
    ("m", Flag::HttpPort, Kind::Int),
    ("http_port", Flag::HttpPort, Kind::Int),
    ("ms", Flag::HttpsPort, Kind::Int),
    ("https_port", Flag::HttpsPort, Kind::Int),
    ("c", Flag::Config, Kind::Str),
    ("config", Flag::Config, Kind::Str),
    ("t", Flag::CheckConfig, Kind::Bool),
    ("sl", Flag::Signal, Kind::Str),
    ("signal", Flag::Signal, Kind::Str),
    ("P", Flag::PidFile, Kind::Str),
    ("pid", Flag::PidFile, Kind::Str),
    ("ports_file_dir", Flag::PortsFileDir, Kind::Str),
    ("l", Flag::LogFile, Kind::Str),
    ("log", Flag::LogFile, Kind::Str),
    ("log_size_limit", Flag::LogSizeLimit, Kind::Int),
    ("s", Flag::Syslog, Kind::Bool),
    ("syslog", Flag::Syslog, Kind::Bool),
    ("r", Flag::RemoteSyslog, Kind::Str),
    ("remote_syslog", Flag::RemoteSyslog, Kind::Str),
    ("version", Flag::Version, Kind::Bool),
    ("v", Flag::Version, Kind::Bool),
    ("profile", Flag::Profile, Kind::Int),
    ("routes", Flag::Routes, Kind::Str),
    ("cluster", Flag::Cluster, Kind::Str),
    ("cluster_listen", Flag::Cluster, Kind::Str),
    ("cluster_advertise", Flag::ClusterAdvertise, Kind::Str),
    ("no_advertise", Flag::NoAdvertise, Kind::Bool),
    ("connect_retries", Flag::ConnectRetries, Kind::Int),
    ("cluster_name", Flag::ClusterName, Kind::Str),
    ("help_tls", Flag::HelpTls, Kind::Bool),
    ("tls", Flag::Tls, Kind::Bool),
    ("tlsverify", Flag::TlsVerify, Kind::Bool),
    ("tlscert", Flag::TlsCert, Kind::Str),
    ("tlskey", Flag::TlsKey, Kind::Str),
    ("tlscacert", Flag::TlsCaCert, Kind::Str),
    ("max_traced_msg_len", Flag::MaxTracedMsgLen, Kind::Int),
    ("js", Flag::JetStream, Kind::Bool),
    ("jetstream", Flag::JetStream, Kind::Bool),
    ("sd", Flag::StoreDir, Kind::Str),
    ("store_dir", Flag::StoreDir, Kind::Str),
    ("runtime", Flag::Runtime, Kind::Str),
];

/// The parsed command line. `Option` fields are `Some` when the flag was given (the last
/// occurrence wins, as in Go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `-a/--addr/--net`.
    pub host: Option<String>,
    /// `-p/--port`, raw (0 = default 4222, -1 = random, as Go).
    pub port: Option<i64>,
    /// `-n/--name/--server_name`.
    pub server_name: Option<String>,
    /// `--client_advertise`.
    pub client_advertise: Option<String>,
    /// `-D/--debug` (or `-DV`, `-DVV`).
    pub debug: bool,
    /// `-V/--trace` (or `-DV`, `-VV`, `-DVV`).
    pub trace: bool,
    /// `-VV`/`-DVV`: trace the system account as well.
    pub trace_verbose: bool,
    /// `-T/--logtime`, default true.
    pub logtime: bool,
    /// `--user`.
    pub user: Option<String>,
    /// `--pass`.
    pub pass: Option<String>,
    /// `--auth` (token).
    pub auth: Option<String>,
    /// `-m/--http_port`.
    pub http_port: Option<i64>,
    /// `-ms/--https_port`.
    pub https_port: Option<i64>,
    /// `-c/--config`.
    pub config: Option<String>,
    /// `-t`.
    pub check_config: bool,
    /// `-sl/--signal` `<cmd>[=<pid>]`.
    pub signal: Option<String>,
    /// `-P/--pid`.
    pub pid_file: Option<String>,
    /// `--ports_file_dir`.
    pub ports_file_dir: Option<String>,
    /// `-l/--log`.
    pub log_file: Option<String>,
    /// `--log_size_limit`.
    pub log_size_limit: Option<i64>,
    /// `-s/--syslog`.
    pub syslog: bool,
    /// `-r/--remote_syslog`.
    pub remote_syslog: Option<String>,
    /// `-v/--version` (or the `version` command).
    pub show_version: bool,
    /// `-h/--help` (or the `help` command).
    pub show_help: bool,
    /// `--help_tls`.
    pub show_tls_help: bool,
    /// `--profile`.
    pub profile: Option<i64>,
    /// `--routes`.
    pub routes: Option<String>,
    /// `--cluster/--cluster_listen`.
    pub cluster: Option<String>,
    /// `--cluster_advertise`.
    pub cluster_advertise: Option<String>,
    /// `--no_advertise`, when given.
    pub no_advertise: Option<bool>,
    /// `--connect_retries`.
    pub connect_retries: Option<i64>,
    /// `--cluster_name`.
    pub cluster_name: Option<String>,
    /// `--tls`, when given.
    pub tls: Option<bool>,
    /// `--tlsverify`, when given.
    pub tls_verify: Option<bool>,
    /// `--tlscert`.
    pub tls_cert: Option<String>,
    /// `--tlskey`.
    pub tls_key: Option<String>,
    /// `--tlscacert`.
    pub tls_ca_cert: Option<String>,
    /// `--max_traced_msg_len`.
    pub max_traced_msg_len: Option<i64>,
    /// `-js/--jetstream`.
    pub jetstream: bool,
    /// `-sd/--store_dir`.
    pub store_dir: Option<String>,
    /// `--runtime` (ours): `tokio` or `std`; checked by the program against its launchers.
    pub runtime: Option<String>,
    /// Bool options given on the command line (`"debug"`, `"trace"`, `"trace_verbose"`,
    /// `"logtime"`, `"syslog"`), so they override a config file even when false (Go's
    /// `inCmdLine`). Other flags override when `Some` (or, for strings, non-empty).
    pub explicit: Vec<&'static str>,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            host: None,
            port: None,
            server_name: None,
            client_advertise: None,
            debug: false,
            trace: false,
            trace_verbose: false,
            logtime: true,
            user: None,
            pass: None,
            auth: None,
            http_port: None,
            https_port: None,
            config: None,
            check_config: false,
            signal: None,
            pid_file: None,
            ports_file_dir: None,
            log_file: None,
            log_size_limit: None,
            syslog: false,
            remote_syslog: None,
            show_version: false,
            show_help: false,
            show_tls_help: false,
            profile: None,
            routes: None,
            cluster: None,
            cluster_advertise: None,
            no_advertise: None,
            connect_retries: None,
            cluster_name: None,
            tls: None,
            tls_verify: None,
            tls_cert: None,
            tls_key: None,
            tls_ca_cert: None,
            max_traced_msg_len: None,
            jetstream: false,
            store_dir: None,
            runtime: None,
            explicit: Vec::new(),
        }
    }
}

/// A command line the Go server would refuse, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// Bad flag syntax, unknown flag, missing or bad value: Go prints this, then the usage.
    Usage(String),
    /// A stray argument (`unrecognized command: "x"`): Go prints `nats-server: ` + this.
    Command(String),
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Usage(m) | FlagError::Command(m) => f.write_str(m),
        }
    }
}

/// A flag's value as parsed.
enum Value {
    Bool(bool),
    Str(String),
    Int(i64),
}

/// Parses the arguments after the program name.
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Flags, FlagError> {
    let mut flags = Flags::default();
    // `-DV`, `-DVV`, `-VV` apply after everything else, in Go's (sorted) order.
    let (mut dv, mut dvv, mut vv) = (None, None, None);
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        i += 1;
        if arg.len() < 2 || !arg.starts_with('-') {
            // A non-flag argument (including a lone "-") ends the flags.
            i -= 1;
            break;
        }
        let mut body = &arg[1..];
        if let Some(rest) = body.strip_prefix('-') {
            if rest.is_empty() {
                break; // "--" terminates the flags.
            }
            body = rest;
        }
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(FlagError::Usage(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(_, flag, kind)) = TABLE.iter().find(|(n, _, _)| *n == name) else {
            return Err(FlagError::Usage(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = match (kind, inline) {
            (Kind::Bool, None) => Value::Bool(true),
            (Kind::Bool, Some(v)) => Value::Bool(parse_bool(v).ok_or_else(|| {
                FlagError::Usage(format!(
                    "invalid boolean value {v:?} for -{name}: parse error"
                ))
            })?),
            (_, inline) => {
                let raw = match inline {
                    Some(v) => v.to_string(),
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].as_ref().to_string()
                    }
                    None => {
                        return Err(FlagError::Usage(format!("flag needs an argument: -{name}")))
                    }
                };
                if kind == Kind::Int {
                    Value::Int(parse_int(&raw).map_err(|why| {
                        FlagError::Usage(format!("invalid value {raw:?} for flag -{name}: {why}"))
                    })?)
                } else {
                    Value::Str(raw)
                }
            }
        };
        let named: &[&'static str] = match flag {
            Flag::Debug => &["debug"],
            Flag::Trace => &["trace"],
            Flag::Logtime => &["logtime"],
            Flag::Syslog => &["syslog"],
            Flag::DebugTrace => &["debug", "trace"],
            Flag::VerboseTrace => &["trace", "trace_verbose"],
            Flag::DebugVerboseTrace => &["debug", "trace", "trace_verbose"],
            _ => &[],
        };
        for n in named {
            if !flags.explicit.contains(n) {
                flags.explicit.push(n);
            }
        }
        match (flag, value) {
            (Flag::DebugTrace, Value::Bool(b)) => dv = Some(b),
            (Flag::DebugVerboseTrace, Value::Bool(b)) => dvv = Some(b),
            (Flag::VerboseTrace, Value::Bool(b)) => vv = Some(b),
            (flag, value) => set(&mut flags, flag, value),
        }
    }
    if let Some(b) = dv {
        (flags.debug, flags.trace) = (b, b);
    }
    if let Some(b) = dvv {
        (flags.debug, flags.trace, flags.trace_verbose) = (b, b, b);
    }
    if let Some(b) = vv {
        (flags.trace, flags.trace_verbose) = (b, b);
    }
    if let Some(cmd) = args.get(i) {
        let cmd = cmd.as_ref();
        match cmd.to_lowercase().as_str() {
            "version" => flags.show_version = true,
            "help" => flags.show_help = true,
            _ => return Err(FlagError::Command(format!("unrecognized command: {cmd:?}"))),
        }
    }
    Ok(flags)
}

/// Stores one value. Kinds always match the table, so other pairs cannot occur.
fn set(f: &mut Flags, flag: Flag, value: Value) {
    match value {
        Value::Bool(b) => match flag {
            Flag::Help => f.show_help = b,
            Flag::Debug => f.debug = b,
            Flag::Trace => f.trace = b,
            Flag::Logtime => f.logtime = b,
            Flag::CheckConfig => f.check_config = b,
            Flag::Syslog => f.syslog = b,
            Flag::Version => f.show_version = b,
            Flag::NoAdvertise => f.no_advertise = Some(b),
            Flag::HelpTls => f.show_tls_help = b,
            Flag::Tls => f.tls = Some(b),
            Flag::TlsVerify => f.tls_verify = Some(b),
            Flag::JetStream => f.jetstream = b,
            other => unreachable!("{other:?} is not a bool flag"),
        },
        Value::Int(n) => {
            let slot = match flag {
                Flag::Port => &mut f.port,
                Flag::HttpPort => &mut f.http_port,
                Flag::HttpsPort => &mut f.https_port,
                Flag::LogSizeLimit => &mut f.log_size_limit,
                Flag::Profile => &mut f.profile,
                Flag::ConnectRetries => &mut f.connect_retries,
                Flag::MaxTracedMsgLen => &mut f.max_traced_msg_len,
                other => unreachable!("{other:?} is not an int flag"),
            };
            *slot = Some(n);
        }
        Value::Str(s) => {
            let slot = match flag {
                Flag::Name => &mut f.server_name,
                Flag::Host => &mut f.host,
                Flag::ClientAdvertise => &mut f.client_advertise,
                Flag::User => &mut f.user,
                Flag::Pass => &mut f.pass,
                Flag::Auth => &mut f.auth,
                Flag::Config => &mut f.config,
                Flag::Signal => &mut f.signal,
                Flag::PidFile => &mut f.pid_file,
                Flag::PortsFileDir => &mut f.ports_file_dir,
                Flag::LogFile => &mut f.log_file,
                Flag::RemoteSyslog => &mut f.remote_syslog,
                Flag::Routes => &mut f.routes,
                Flag::Cluster => &mut f.cluster,
                Flag::ClusterAdvertise => &mut f.cluster_advertise,
                Flag::ClusterName => &mut f.cluster_name,
                Flag::TlsCert => &mut f.tls_cert,
                Flag::TlsKey => &mut f.tls_key,
                Flag::TlsCaCert => &mut f.tls_ca_cert,
                Flag::StoreDir => &mut f.store_dir,
                Flag::Runtime => &mut f.runtime,
                other => unreachable!("{other:?} is not a string flag"),
            };
            *slot = Some(s);
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then decimal, `0x` hex, `0o`/`0` octal
/// or `0b` binary. Errors carry Go's wording.
fn parse_int(s: &str) -> Result<i64, &'static str> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err("parse error");
    }
    let magnitude = u64::from_str_radix(body, radix).map_err(|_| "value out of range")?;
    let value = if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    };
    value.ok_or("value out of range")
}

#[cfg(test)]
#[path = "flags_tests.rs"]
mod tests;
