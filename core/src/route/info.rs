//! The INFO and CONNECT a route sends, as JSON, field for field in the Go server's order
//! (2.9.10's `Info` and `connectInfo` structs: a Go peer reads them with `encoding/json`,
//! which ignores keys it does not know, and so do we).

use serde::{Deserialize, Serialize};

/// A route INFO, ours or a peer's (unknown keys ignored, missing ones defaulted).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RouteInfo {
    /// The server id: the route identity (duplicates are detected on it).
    pub server_id: String,
    /// The server name (must differ between peers).
    pub server_name: String,
    /// The version string.
    pub version: String,
    /// Route protocol level (2: accounts in every RS±/RMSG).
    pub proto: i64,
    /// The Go version there; our implementation name here.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub go: String,
    /// Route listen host (or the advertised one).
    pub host: String,
    /// Route listen port (or the advertised one).
    pub port: u16,
    /// Header support (HMSG on the route).
    pub headers: bool,
    /// The peer must send user and password in CONNECT.
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// Informational on routes (not enforced, as Go).
    pub max_payload: i64,
    /// `nats-route://host:port/` to dial this server at: set by `cluster_advertise`, and
    /// always in forwarded (gossip) INFO.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// The cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// The name was generated, not configured.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// This server's own client URLs (`host:port`), for clients' `connect_urls`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Sent once on entering lame duck mode.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Go 2.10+: route pool size. Absent or 0 means "no pool" to a 2.10+ peer, which then
    /// keeps one route with us; we never send it.
    #[serde(skip_serializing_if = "is_zero")]
    pub route_pool_size: i64,
    /// Go 2.10+: a route dedicated to one account (we never ask for one).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub route_account: String,
    /// A gateway's INFO: never valid on a route.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
}

/// A route CONNECT (the dialer's first op).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RouteConnect {
    /// Always true.
    pub echo: bool,
    /// Always false (true would make a Go peer `+OK` every op).
    pub verbose: bool,
    /// Always false.
    pub pedantic: bool,
    /// From the route URL's user info.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// From the route URL's user info.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// TLS in use on the route.
    pub tls_required: bool,
    /// Header support.
    pub headers: bool,
    /// The dialer's server id.
    pub name: String,
    /// The dialer's cluster name.
    pub cluster: String,
    /// The name was generated.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// Set by clients (a client dialled the route port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Set by gateways.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `INFO <json> \r\n` (with the trailing space Go's own INFO has) or, for a forwarded
/// (gossip) INFO, `INFO <json>\r\n`.
pub fn info_line(info: &RouteInfo, forwarded: bool) -> Vec<u8> {
    let json = serde_json::to_vec(info).expect("route INFO always serialises");
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"INFO ");
    out.extend_from_slice(&json);
    out.extend_from_slice(if forwarded { b"\r\n" } else { b" \r\n" });
    out
}

/// `CONNECT <json>\r\n`.
pub fn connect_line(c: &RouteConnect) -> Vec<u8> {
    let json = serde_json::to_vec(c).expect("route CONNECT always serialises");
    let mut out = Vec::with_capacity(json.len() + 10);
    out.extend_from_slice(b"CONNECT ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_go_route_info_parses_and_unknown_keys_are_ignored() {
        let line = r#"{"server_id":"NB","server_name":"B","version":"2.9.10","proto":2,"go":"go1.19.8","host":"127.0.0.1","port":25202,"headers":true,"max_payload":1048576,"nonce":"abc","cluster":"capt","connect_urls":["127.0.0.1:25102"],"lnoc":true}"#;
        let i: RouteInfo = serde_json::from_str(line).unwrap();
        assert_eq!(i.server_id, "NB");
        assert_eq!(i.cluster, "capt");
        assert_eq!(i.port, 25202);
        assert_eq!(i.connect_urls, ["127.0.0.1:25102"]);
        assert!(i.headers && !i.ldm);
    }

    #[test]
    fn our_connect_has_go_field_order() {
        let c = RouteConnect {
            echo: true,
            headers: true,
            name: "NA".into(),
            cluster: "c".into(),
            ..RouteConnect::default()
        };
        assert_eq!(
            connect_line(&c),
            b"CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"NA\",\"cluster\":\"c\"}\r\n"
        );
    }
}
