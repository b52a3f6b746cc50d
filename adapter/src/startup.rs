//! The start of a server, the same on every runtime: identity, seed and the Go server's
//! startup lines, in Go's order (banner, warnings, config file, listening, ready).

use std::io;

use natsd_core::options::Options;

use crate::identity;

/// Extra startup details for the log banner.
#[derive(Debug, Clone, Default)]
pub struct StartInfo {
    /// The config file in use (`Using configuration file: …`).
    pub config_file: Option<String>,
    /// Warnings to log after the banner (Go logs config warnings there).
    pub warnings: Vec<String>,
    /// Monitoring (`-m`, `http_port`, …): `None` leaves it off. An empty host means the
    /// client listen host, as in Go.
    pub monitor: Option<crate::monitor::MonitorConfig>,
}

/// Before binding: picks a fresh server key (its public key is the server id, as Go's) and,
/// when `opts.seed` is 0, a seed from real randomness; logs the banner, `start`'s warnings
/// and its config file. Returns the key; the runtime installs it in `Shared` with
/// `set_server_key`. Errors: the OS had no randomness.
pub fn prepare(opts: &mut Options, start: &StartInfo) -> io::Result<nkeys::KeyPair> {
    let key = identity::new_server_key()?;
    let server_id = key.public_key();
    if opts.seed == 0 {
        opts.seed = identity::new_seed()?;
    }
    log_banner(opts, &server_id);
    for w in &start.warnings {
        tracing::warn!("{w}");
    }
    // Go warns about passwords kept in the clear (users and the single user alike).
    let a = &opts.auth;
    let plain = |p: &str| !p.is_empty() && !natsd_core::auth::is_bcrypt(p);
    if a.password.as_deref().is_some_and(plain) || a.users.iter().any(|u| plain(&u.password)) {
        tracing::warn!("Plaintext passwords detected, use nkeys or bcrypt");
    }
    if let Some(f) = &start.config_file {
        tracing::info!("Using configuration file: {f}");
    }
    if let Some(c) = opts.cluster.as_mut() {
        if c.name.is_none() {
            // Go: a random NUID, "dynamic" (a peer with a configured name wins).
            let id = identity::new_server_id()?;
            c.name = Some(id[1..23].to_string());
            c.name_dynamic = true;
            tracing::warn!("Cluster name was dynamically generated, consider setting one");
        }
        tracing::info!("Cluster name is {}", c.name.as_deref().unwrap_or_default());
    }
    Ok(key)
}

/// Binds the route listener when `opts` has a cluster block, replacing its port with the
/// bound one (port 0 picks a free port) and logging Go's line. `None` without a cluster.
pub fn bind_routes(opts: &mut Options) -> io::Result<Option<std::net::TcpListener>> {
    let Some(c) = opts.cluster.as_mut() else {
        return Ok(None);
    };
    let l = crate::listener::bind(&c.host, c.port)?;
    c.port = l.local_addr()?.port();
    tracing::info!(
        "Listening for route connections on {}",
        join_host_port(&c.host, c.port)
    );
    Ok(Some(l))
}

/// After binding: `Listening for client connections on HOST:PORT` (the bound port).
pub fn log_listening(host: &str, port: u16) {
    tracing::info!(
        "Listening for client connections on {}",
        join_host_port(host, port)
    );
}

/// Once accepting: `Server is ready` (tools and tests wait for this line).
pub fn log_ready() {
    tracing::info!("Server is ready");
}

/// The monitoring config to bind: an empty host means the client listen `host` (Go's
/// default for `http_port`).
pub fn monitor_config(
    m: &crate::monitor::MonitorConfig,
    host: &str,
) -> crate::monitor::MonitorConfig {
    let mut m = m.clone();
    if m.host.is_empty() {
        m.host = host.to_string();
    }
    m
}

/// Logs the Go server's startup banner (the lines before the listener is bound).
fn log_banner(opts: &Options, server_id: &str) {
    tracing::info!("Starting nats-server");
    tracing::info!("  Version:  {}", natsd_core::VERSION);
    tracing::info!(
        "  Git:      [{}]",
        natsd_core::GIT_COMMIT.unwrap_or("not set")
    );
    // Which server this really is (Go's lines above keep their meaning for tools).
    tracing::info!("  Server:   natsd {}", natsd_core::NATSD_VERSION);
    tracing::info!(
        "  Name:     {}",
        opts.server_name.as_deref().unwrap_or(server_id)
    );
    tracing::info!("  ID:       {server_id}");
}

/// `host:port`, with brackets around an IPv6 host (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: u16) -> String {
    natsd_core::options::join_host_port(host, port)
}

/// The machine's non-loopback interface addresses (IPv6 link-local ones left out: they
/// need a zone to dial), for a server listening on every interface to list as its client
/// URLs, as Go does. Empty if the OS will not say.
pub fn interface_ips() -> Vec<std::net::IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out: Vec<std::net::IpAddr> = Vec::new();
    for a in addrs {
        let Some(sa) = a.address else { continue };
        let ip = if let Some(v4) = sa.as_sockaddr_in() {
            std::net::IpAddr::V4(v4.ip())
        } else if let Some(v6) = sa.as_sockaddr_in6() {
            std::net::IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        let link_local =
            matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if ip.is_loopback() || ip.is_unspecified() || link_local || out.contains(&ip) {
            continue;
        }
        out.push(ip);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_host_port_brackets_ipv6() {
        assert_eq!(join_host_port("::", 4222), "[::]:4222");
        assert_eq!(join_host_port("127.0.0.1", 1), "127.0.0.1:1");
    }

    #[test]
    fn prepare_picks_an_id_and_a_seed() {
        let mut o = Options::default();
        let id = prepare(&mut o, &StartInfo::default()).unwrap().public_key();
        assert_eq!(id.len(), identity::SERVER_ID_LEN);
        assert_ne!(o.seed, 0);
        o.seed = 7;
        prepare(&mut o, &StartInfo::default()).unwrap();
        assert_eq!(o.seed, 7);
    }
}
