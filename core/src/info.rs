//! The INFO the server sends and the CONNECT a client sends, as JSON.

use serde::{Deserialize, Serialize};

/// The server's INFO, field for field in the Go server's order (interop tests compare bytes).
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo<'a> {
    /// Server id.
    pub server_id: &'a str,
    /// Server name.
    pub server_name: &'a str,
    /// Version string.
    pub version: &'a str,
    /// Protocol level.
    pub proto: u8,
    /// The Go server puts its Go version here; we name our implementation.
    pub go: &'a str,
    /// Advertised host.
    pub host: &'a str,
    /// Advertised port.
    pub port: u16,
    /// Headers supported.
    pub headers: bool,
    /// Authentication required.
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// Clients must upgrade to TLS (after this INFO, or before it with handshake-first).
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Clients must present a certificate.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Clients may upgrade to TLS (`allow_non_tls`).
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    /// Largest payload accepted.
    pub max_payload: usize,
    /// This client's connection id.
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    /// This client's IP as the server sees it.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub client_ip: &'a str,
    /// Nonce to sign (nkeys/JWT).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub nonce: &'a str,
    /// The cluster name, in a cluster.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub cluster: &'a str,
    /// Client URLs of other cluster members.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub connect_urls: &'a [String],
    /// Lame duck mode.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Ours: the server takes `MSUB` (a subscription born with its auto-unsubscribe
    /// limit; see `docs/msub.md`). Last, so every field before it is byte for byte Go's;
    /// clients ignore INFO keys they do not know.
    pub msub: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The full `INFO {...} \r\n` line for client `cid` at `addr`, with `opts` as in force for
/// it. `ldm` marks the lame-duck notice (sent once, to clients that take async INFO).
pub fn client_info_line(
    sh: &crate::shared::Shared,
    opts: &crate::options::Options,
    cid: u64,
    addr: Option<std::net::SocketAddr>,
    ldm: bool,
) -> Vec<u8> {
    let connect_urls = client_connect_urls(sh, opts, !ldm);
    client_info_line_with_urls(sh, opts, cid, addr, ldm, &connect_urls)
}

/// [`client_info_line`] with the `connect_urls` given (the rebalancer lists the
/// least-loaded servers first).
pub fn client_info_line_with_urls(
    sh: &crate::shared::Shared,
    opts: &crate::options::Options,
    cid: u64,
    addr: Option<std::net::SocketAddr>,
    ldm: bool,
    connect_urls: &[String],
) -> Vec<u8> {
    info_line(sh, opts, cid, addr, ldm, connect_urls, "")
}

/// The INFO a client gets on connecting: [`client_info_line`] with the `nonce` to sign
/// when there is one (later INFOs carry none, as Go's).
pub fn first_info_line(
    sh: &crate::shared::Shared,
    opts: &crate::options::Options,
    cid: u64,
    addr: Option<std::net::SocketAddr>,
    nonce: &str,
) -> Vec<u8> {
    let connect_urls = client_connect_urls(sh, opts, true);
    info_line(sh, opts, cid, addr, false, &connect_urls, nonce)
}

fn info_line(
    sh: &crate::shared::Shared,
    opts: &crate::options::Options,
    cid: u64,
    addr: Option<std::net::SocketAddr>,
    ldm: bool,
    connect_urls: &[String],
    nonce: &str,
) -> Vec<u8> {
    let (host, port) = advertise(opts);
    let server_name = sh.server_name();
    let ip = addr.map(|a| a.ip().to_string()).unwrap_or_default();
    let info = ServerInfo {
        server_id: sh.server_id(),
        server_name: &server_name,
        version: crate::VERSION,
        proto: crate::PROTO,
        go: IMPLEMENTATION,
        host: &host,
        port,
        headers: !opts.no_header_support,
        auth_required: opts.auth.required(),
        tls_required: opts.tls.is_some() && !opts.allow_non_tls,
        tls_verify: opts.tls.as_ref().is_some_and(|t| t.verifies_clients()),
        tls_available: opts.tls.is_some() && opts.allow_non_tls,
        max_payload: opts.max_payload,
        client_id: cid,
        client_ip: &ip,
        nonce,
        cluster: opts
            .cluster
            .as_ref()
            .and_then(|c| c.name.as_deref())
            .unwrap_or_default(),
        connect_urls,
        ldm,
        msub: true,
    };
    let json = serde_json::to_vec(&info).expect("INFO always serialises");
    let mut out = Vec::with_capacity(json.len() + 8);
    crate::proto::encode::info(&mut out, &json);
    out
}

/// `connect_urls` for clients: absent until a peer advertised some (as Go); then this
/// server's own client URL first (unless `with_self` is false: the lame-duck notice lists
/// only the others), then the peers'. A server listening on every interface does not list
/// itself (Go lists each non-loopback address; the interface list is not known in core).
/// With `cluster.no_advertise`, peers' URLs are not passed on to clients.
pub fn client_connect_urls(
    sh: &crate::shared::Shared,
    opts: &crate::options::Options,
    with_self: bool,
) -> Vec<String> {
    let Some(cluster) = &opts.cluster else {
        return Vec::new();
    };
    if cluster.no_advertise {
        return Vec::new();
    }
    let learned = sh.routes().connect_urls();
    // Go: absent until the first peer advertised some; from then on at least our own,
    // even once every peer has gone.
    if learned.is_empty() && !sh.routes().ever_advertised() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(learned.len() + 1);
    if with_self {
        out.extend(own_client_urls(sh, opts));
    }
    for u in learned {
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

/// This server's client URL as peers should pass it on (`host:port`), if it has one that
/// means something elsewhere (not `0.0.0.0`).
pub fn own_client_url(opts: &crate::options::Options) -> Option<String> {
    let (host, port) = advertise(opts);
    if host.is_empty() || host == "0.0.0.0" || host == "::" {
        return None;
    }
    Some(crate::options::join_host_port(&host, port))
}

/// This server's client URLs as peers pass them on: the advertised or listen address, or,
/// listening on every interface, one per non-loopback interface address the runtime found
/// (Go's `getNonLocalIPsIfHostIsIPAny`; none known: none listed).
pub fn own_client_urls(sh: &crate::shared::Shared, opts: &crate::options::Options) -> Vec<String> {
    if let Some(u) = own_client_url(opts) {
        return vec![u];
    }
    let (host, port) = advertise(opts);
    if !(host.is_empty() || host == "0.0.0.0" || host == "::") {
        return Vec::new();
    }
    sh.interface_ips()
        .iter()
        .filter(|ip| host != "0.0.0.0" || ip.is_ipv4())
        .map(|ip| crate::options::join_host_port(&ip.to_string(), port))
        .collect()
}

/// The host and port INFO advertises: `client_advertise` when set, else the listen address.
pub fn advertise(opts: &crate::options::Options) -> (String, u16) {
    if let Some(adv) = &opts.client_advertise {
        if let Some((h, p)) = adv.rsplit_once(':') {
            if let Ok(port) = p.parse() {
                return (h.trim_matches(|c| c == '[' || c == ']').to_string(), port);
            }
        }
        return (adv.clone(), opts.port);
    }
    (opts.host.clone(), opts.port)
}

/// What we call ourselves in INFO's `go` field.
pub const IMPLEMENTATION: &str = concat!("natsd-rust-", env!("CARGO_PKG_VERSION"));

/// CONNECT as sent: every field optional, so a CONNECT overlays only what it names (the Go
/// server unmarshals each CONNECT over the current options).
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct ConnectJson {
    pub verbose: Option<bool>,
    pub pedantic: Option<bool>,
    pub tls_required: Option<bool>,
    pub auth_token: Option<String>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    pub protocol: Option<i64>,
    pub echo: Option<bool>,
    pub headers: Option<bool>,
    pub no_responders: Option<bool>,
    pub account: Option<String>,
    pub new_account: Option<bool>,
    pub nkey: Option<String>,
    pub sig: Option<String>,
    pub jwt: Option<String>,
}

/// A client's effective CONNECT options, starting from the Go server's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOpts {
    /// `+OK` after every op.
    pub verbose: bool,
    /// Check publish subjects.
    pub pedantic: bool,
    /// Deliver a client's own publishes to its own subscriptions.
    pub echo: bool,
    /// The client understands HMSG.
    pub headers: bool,
    /// The client wants 503 status messages for requests nobody answers.
    pub no_responders: bool,
    /// Protocol level (0 or 1).
    pub protocol: i64,
    /// Client name.
    pub name: String,
    /// Client language (moved to the client's monitoring record once CONNECT is done).
    pub lang: String,
    /// Client library version (moved likewise).
    pub version: String,
}

impl Default for ClientOpts {
    fn default() -> Self {
        // The Go server's defaultOpts: a client that sends no CONNECT (telnet) gets +OK.
        ClientOpts {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            protocol: 0,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
        }
    }
}

impl ClientOpts {
    /// Lays a CONNECT over the current options.
    pub fn overlay(&mut self, c: &ConnectJson) {
        let set = |dst: &mut bool, src: Option<bool>| {
            if let Some(v) = src {
                *dst = v;
            }
        };
        set(&mut self.verbose, c.verbose);
        set(&mut self.pedantic, c.pedantic);
        set(&mut self.echo, c.echo);
        set(&mut self.headers, c.headers);
        set(&mut self.no_responders, c.no_responders);
        if let Some(p) = c.protocol {
            self.protocol = p;
        }
        for (dst, src) in [
            (&mut self.name, &c.name),
            (&mut self.lang, &c.lang),
            (&mut self.version, &c.version),
        ] {
            if let Some(v) = src {
                dst.clone_from(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_overlays_defaults() {
        let mut o = ClientOpts::default();
        let c: ConnectJson =
            serde_json::from_str(r#"{"verbose":false,"name":"x","extra":1}"#).unwrap();
        o.overlay(&c);
        assert!(!o.verbose);
        assert!(o.pedantic, "omitted fields keep the default");
        assert_eq!(o.name, "x");
        assert!(serde_json::from_str::<ConnectJson>(r#"{"verbose":1}"#).is_err());
    }

    #[test]
    fn info_field_order_matches_go() {
        let i = ServerInfo {
            server_id: "N1",
            server_name: "n",
            version: "2.9.10",
            proto: 1,
            go: "g",
            host: "127.0.0.1",
            port: 4222,
            headers: true,
            auth_required: false,
            tls_required: false,
            tls_verify: false,
            tls_available: false,
            max_payload: 1048576,
            client_id: 4,
            client_ip: "127.0.0.1",
            nonce: "",
            cluster: "",
            connect_urls: &[],
            ldm: false,
            msub: true,
        };
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            r#"{"server_id":"N1","server_name":"n","version":"2.9.10","proto":1,"go":"g","host":"127.0.0.1","port":4222,"headers":true,"max_payload":1048576,"client_id":4,"client_ip":"127.0.0.1","msub":true}"#
        );
        // In a cluster (Go 2.9.10's bytes, captured): the name, then the client URLs.
        let urls = ["127.0.0.1:25100".to_string(), "127.0.0.1:25110".to_string()];
        let i = ServerInfo {
            cluster: "c1",
            connect_urls: &urls,
            ..i
        };
        assert!(serde_json::to_string(&i).unwrap().ends_with(
            r#""client_id":4,"client_ip":"127.0.0.1","cluster":"c1","connect_urls":["127.0.0.1:25100","127.0.0.1:25110"],"msub":true}"#
        ));
        // With TLS and nkeys: Go's order, the TLS flags after auth_required, the nonce
        // after the client's address.
        let i = ServerInfo {
            auth_required: true,
            tls_required: true,
            tls_verify: true,
            nonce: "abc",
            cluster: "",
            connect_urls: &[],
            ..i
        };
        assert!(serde_json::to_string(&i).unwrap().contains(
            r#""headers":true,"auth_required":true,"tls_required":true,"tls_verify":true,"max_payload":1048576,"client_id":4,"client_ip":"127.0.0.1","nonce":"abc","msub":true}"#
        ));
    }

    /// Listening on every interface, a server lists each non-loopback address the runtime
    /// found (Go's way; IPv4 only for `0.0.0.0`); a configured address lists itself alone.
    #[test]
    fn own_client_urls_on_every_interface() {
        use crate::options::Options;
        use crate::shared::Shared;
        let any = Options {
            host: "0.0.0.0".into(),
            port: 4222,
            ..Options::default()
        };
        let sh = Shared::new(any.clone(), "N".into(), crate::Time::from_nanos(1));
        assert!(own_client_urls(&sh, &any).is_empty(), "none known yet");
        sh.set_interface_ips(vec![
            "10.0.0.5".parse().unwrap(),
            "fd00::5".parse().unwrap(),
        ]);
        assert_eq!(own_client_urls(&sh, &any), ["10.0.0.5:4222"]);
        let v6 = Options {
            host: "::".into(),
            ..any.clone()
        };
        assert_eq!(
            own_client_urls(&sh, &v6),
            ["10.0.0.5:4222", "[fd00::5]:4222"]
        );
        let one = Options {
            host: "127.0.0.1".into(),
            ..any
        };
        assert_eq!(own_client_urls(&sh, &one), ["127.0.0.1:4222"]);
    }
}
