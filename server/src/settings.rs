//! From parsed [`Flags`] to the core's [`Options`], and what we refuse or only warn about.

use natsd_core::options::Options;

use super::flags::Flags;

/// The client port when none is given, or 0 is (as the Go server).
pub const DEFAULT_PORT: u16 = 4222;
/// `-p -1`: any free port (Go's `RANDOM_PORT`).
pub const RANDOM_PORT: i64 = -1;

/// The result of checking flags against what this server supports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Harmless flags for features we lack: log a warning each and go on.
    pub warnings: Vec<String>,
    /// A flag we cannot honour without misleading the user: log `[FTL]` and exit.
    pub fatal: Option<String>,
}

/// Checks the flags for features this server does not have yet.
pub fn check_supported(f: &Flags) -> Checked {
    let mut c = Checked::default();
    let mut warn = |what: &str| {
        c.warnings
            .push(format!("{what} is not supported yet, ignored"))
    };
    if f.https_port.is_some_and(|p| p != 0) {
        warn("HTTPS monitoring (-ms/--https_port)");
    }
    if f.jetstream {
        warn("JetStream (-js/--jetstream)");
    }
    if f.store_dir.is_some() {
        warn("The JetStream store directory (-sd/--store_dir)");
    }
    if f.profile.is_some_and(|p| p != 0) {
        warn("Profiling (--profile)");
    }
    if f.syslog || f.remote_syslog.is_some() {
        warn("Syslog (-s/--syslog, -r/--remote_syslog)");
    }
    if f.log_size_limit.is_some_and(|l| l != 0) {
        warn("Log rotation (--log_size_limit)");
    }
    if f.max_traced_msg_len.is_some() {
        warn("--max_traced_msg_len");
    }
    c.fatal = fatal_reason(f);
    c
}

fn fatal_reason(_f: &Flags) -> Option<String> {
    None
}

/// Go's `overrideTLS`: any of `--tls`, `--tlsverify`, `--tlscert`, `--tlskey`,
/// `--tlscacert` (unless `--tls=false`) replaces the config file's `tls` block with one
/// made of the flags; it needs a certificate and a key. With TLS from the flags the auth
/// timeout defaults to the TLS timeout plus a second, as from a file.
pub fn tls_from_flags(o: &mut Options, f: &Flags) -> Result<(), String> {
    let wanted = f.tls != Some(false)
        && (f.tls == Some(true)
            || f.tls_verify == Some(true)
            || f.tls_cert.is_some()
            || f.tls_key.is_some()
            || f.tls_ca_cert.is_some());
    if !wanted {
        return Ok(());
    }
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let cert_file = given(&f.tls_cert).ok_or("TLS Server certificate must be present and valid")?;
    let key_file = given(&f.tls_key).ok_or("TLS Server private key must be present and valid")?;
    let had_tls = o.tls.is_some();
    o.tls = Some(natsd_core::tls::TlsOptions {
        cert_file,
        key_file,
        ca_file: given(&f.tls_ca_cert),
        verify: f.tls_verify == Some(true),
        timeout: natsd_core::tls::DEFAULT_TIMEOUT,
        pos: "command line".into(),
        ..Default::default()
    });
    if !had_tls && o.auth.timeout == std::time::Duration::from_secs(2) {
        o.auth.timeout = natsd_core::tls::DEFAULT_TIMEOUT + std::time::Duration::from_secs(1);
    }
    Ok(())
}

/// Lays the cluster flags over `base` (the config file's `cluster` block, if any), as Go:
/// `--cluster nats://[user:pass@]host:port` sets the route listener (and its
/// authorization), `--routes` (comma separated) replaces the routes, `--cluster_name`,
/// `--cluster_advertise`, `--no_advertise` and `--connect_retries` set theirs. Routes need a
/// cluster listener (Go's error when they have none).
pub fn cluster_from_flags(
    base: Option<natsd_core::options::ClusterOptions>,
    f: &Flags,
) -> Result<Option<natsd_core::options::ClusterOptions>, String> {
    use natsd_core::options::{ClusterOptions, RouteUrl};
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let mut c = base;
    if let Some(url) = given(&f.cluster) {
        let u = RouteUrl::parse(&url).map_err(|e| format!("cluster: {e}"))?;
        let cl = c.get_or_insert_with(ClusterOptions::default);
        cl.host = u.host;
        cl.port = u.port;
        if u.user.is_some() {
            cl.user = u.user;
            cl.password = u.pass;
        }
    }
    if let Some(routes) = given(&f.routes) {
        let Some(cl) = c.as_mut() else {
            return Err("solicited routes require cluster capabilities, e.g. --cluster".into());
        };
        cl.routes = routes
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(RouteUrl::parse)
            .collect::<Result<_, _>>()?;
    }
    if let Some(cl) = c.as_mut() {
        if let Some(n) = given(&f.cluster_name) {
            cl.name = Some(n);
        }
        if let Some(a) = given(&f.cluster_advertise) {
            cl.advertise = Some(a);
        }
        if let Some(b) = f.no_advertise {
            cl.no_advertise = b;
        }
        if let Some(n) = f.connect_retries {
            cl.connect_retries = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        }
    }
    Ok(c)
}

/// Builds the core options from the flags. Errors are fatal (`[FTL]`).
pub fn to_options(f: &Flags) -> Result<Options, String> {
    let mut o = Options::default();
    if let Some(h) = &f.host {
        o.host.clone_from(h);
    }
    o.port = match f.port {
        None | Some(0) => DEFAULT_PORT,
        Some(RANDOM_PORT) => 0,
        Some(p) => u16::try_from(p).map_err(|_| format!("invalid port: {p}"))?,
    };
    o.server_name = f.server_name.clone().filter(|n| !n.is_empty());
    o.client_advertise = f.client_advertise.clone().filter(|a| !a.is_empty());
    o.auth.user = f.user.clone().filter(|u| !u.is_empty());
    o.auth.password = f.pass.clone().filter(|p| !p.is_empty());
    o.auth.token = f.auth.clone().filter(|t| !t.is_empty());
    o.cluster = cluster_from_flags(None, f)?;
    tls_from_flags(&mut o, f)?;
    Ok(o)
}

/// The core options the `nats-server` binary would run with for these arguments (after the
/// program name): Go flag syntax, Go meanings, `-c FILE` read with the flags laid over it.
/// Errors: a flag error, a command such as `-v` that does not run a server, a flag this
/// server refuses, or a bad config file (its message).
pub fn options_from_args<S: AsRef<str>>(args: &[S]) -> Result<Options, String> {
    let f = super::flags::parse(args).map_err(|e| e.to_string())?;
    if f.show_version || f.show_help || f.show_tls_help || f.signal.is_some() || f.check_config {
        return Err("these arguments do not run a server".into());
    }
    if let Some(why) = check_supported(&f).fatal {
        return Err(why);
    }
    match &f.config {
        Some(path) => {
            let mut c = super::config::load_file(path)?.config;
            super::config::apply_flags(&mut c, &f)?;
            Ok(c.options)
        }
        None => to_options(&f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::parse;

    #[test]
    fn ports_follow_go_meaning() {
        assert_eq!(to_options(&parse::<&str>(&[]).unwrap()).unwrap().port, 4222);
        assert_eq!(
            to_options(&parse(&["-p", "0"]).unwrap()).unwrap().port,
            4222
        );
        assert_eq!(to_options(&parse(&["-p", "-1"]).unwrap()).unwrap().port, 0);
        assert_eq!(
            to_options(&parse(&["-p", "4333"]).unwrap()).unwrap().port,
            4333
        );
        assert!(to_options(&parse(&["-p", "70000"]).unwrap()).is_err());
        assert_eq!(
            to_options(&parse::<&str>(&[]).unwrap()).unwrap().host,
            "0.0.0.0"
        );
    }

    #[test]
    fn options_from_go_style_args() {
        let o = options_from_args(&["-a", "127.0.0.1", "-p", "-1", "-user", "u", "-pass", "p"]);
        let o = o.unwrap();
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 0));
        assert_eq!(o.auth.user.as_deref(), Some("u"));
        assert!(options_from_args(&["-v"]).is_err());
        assert!(options_from_args(&["-c", "/nonexistent/x.conf"]).is_err());
        assert!(options_from_args(&["--nope"]).is_err());
    }

    #[test]
    fn auth_flags() {
        let o = to_options(&parse(&["-user", "u", "-pass", "p"]).unwrap()).unwrap();
        assert_eq!(
            (o.auth.user.as_deref(), o.auth.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert!(o.auth.required());
        let o = to_options(&parse(&["--auth", "t"]).unwrap()).unwrap();
        assert_eq!(o.auth.token.as_deref(), Some("t"));
    }

    #[test]
    fn cluster_flags_as_go() {
        let f = parse(&[
            "--cluster",
            "nats://ru:rp@127.0.0.1:6333",
            "--routes",
            "nats://a:1, nats-route://b:2",
            "--cluster_name",
            "c9",
            "--no_advertise",
            "--connect_retries",
            "3",
        ])
        .unwrap();
        let c = to_options(&f).unwrap().cluster.unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 6333));
        assert_eq!(
            (c.user.as_deref(), c.password.as_deref()),
            (Some("ru"), Some("rp"))
        );
        assert_eq!(
            c.routes.iter().map(|r| r.addr()).collect::<Vec<_>>(),
            ["a:1", "b:2"]
        );
        assert_eq!(c.name.as_deref(), Some("c9"));
        assert!(c.no_advertise);
        assert_eq!(c.connect_retries, 3);
        assert_eq!(
            to_options(&parse(&["--routes", "nats://a:1"]).unwrap()).unwrap_err(),
            "solicited routes require cluster capabilities, e.g. --cluster"
        );
        assert_eq!(
            to_options(&parse::<&str>(&[]).unwrap()).unwrap().cluster,
            None
        );
    }

    #[test]
    fn unsupported_features() {
        let c = check_supported(&parse(&["-m", "8222", "-js", "-sd", "/x"]).unwrap());
        assert_eq!(c.warnings.len(), 2);
        assert_eq!(c.fatal, None);
        assert_eq!(
            check_supported(&parse(&["-c", "a.conf"]).unwrap()).fatal,
            None
        );
        // TLS flags are supported now; a certificate without a key is Go's error.
        assert_eq!(
            check_supported(&parse(&["--tlscert", "a"]).unwrap()).fatal,
            None
        );
        assert_eq!(
            to_options(&parse(&["--tlscert", "a"]).unwrap()).unwrap_err(),
            "TLS Server private key must be present and valid"
        );
        let o = to_options(&parse(&["--tlscert", "a", "--tlskey", "b", "--tlsverify"]).unwrap())
            .unwrap();
        let t = o.tls.unwrap();
        assert_eq!(
            (t.cert_file.as_str(), t.key_file.as_str(), t.verify),
            ("a", "b", true)
        );
        assert_eq!(
            o.auth.timeout,
            std::time::Duration::from_secs(3),
            "TLS timeout + 1 s"
        );
        assert!(
            to_options(&parse(&["--tls=false", "--tlscert", "a"]).unwrap())
                .unwrap()
                .tls
                .is_none()
        );
        assert_eq!(
            check_supported(&parse(&["--routes", "nats://x:1"]).unwrap()).fatal,
            None
        );
        assert_eq!(
            check_supported(&parse::<&str>(&[]).unwrap()),
            Checked::default()
        );
    }
}
