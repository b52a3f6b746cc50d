//! `cluster { … }`: the route listener, explicit routes and route authorization, with Go's
//! keys, aliases and errors (`opts.go parseCluster`).

use super::typed::Typer;
use super::value::{Entry, Value};
use crate::options::{ClusterOptions, RouteUrl};

/// Types a `cluster` block. `None` if it had errors (already recorded).
pub(crate) fn cluster(t: &mut Typer, e: &Entry) -> Option<ClusterOptions> {
    let before = t.errors.len();
    let Value::Map(m) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(e, format!("Expected cluster to be a map/struct, got {got}"));
        return None;
    };
    let mut c = ClusterOptions::default();
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "name" => {
                if let Some(n) = t.string(x) {
                    if n.contains(' ') {
                        t.error(x, "cluster name cannot contain spaces or new lines");
                    }
                    c.name = Some(n);
                }
            }
            "listen" => {
                if let Some((host, port)) = t.listen(x) {
                    if let Some(h) = host {
                        c.host = h;
                    }
                    if let Some(p) = t.port(x, port, 6222) {
                        c.port = p;
                    }
                }
            }
            "host" | "net" => {
                if let Some(h) = t.string(x) {
                    c.host = h;
                }
            }
            "port" => {
                if let Some(p) = t.int(x).and_then(|p| t.port(x, p, 6222)) {
                    c.port = p;
                }
            }
            "authorization" => {
                if let Some(a) = super::perms::authorization(t, x) {
                    if a.token.is_some() {
                        t.error(x, "Cluster authorization does not support tokens");
                    }
                    if !a.users.is_empty() {
                        t.error(x, "Cluster authorization does not allow multiple users");
                    }
                    c.user = a.user;
                    c.password = a.password;
                    c.auth_timeout = a.timeout;
                }
            }
            "routes" => c.routes = routes(t, x),
            "cluster_advertise" | "advertise" => c.advertise = t.string(x),
            "no_advertise" => {
                if let Some(b) = t.bool(x) {
                    c.no_advertise = b;
                }
            }
            "connect_retries" => {
                if let Some(n) = t.count(x, u64::from(u32::MAX)) {
                    c.connect_retries = u32::try_from(n).unwrap_or(u32::MAX);
                }
            }
            // Route pooling (Go 2.10+): we keep one route per peer, which every Go version
            // accepts (an INFO without `route_pool_size` means "no pool"); accepted so Go
            // configs load, with a warning.
            "pool_size" => {
                t.int(x);
                t.warnings.push(super::ConfigError::at(
                    &x.key_pos,
                    "\"pool_size\" is not supported yet: one route per peer; ignored",
                ));
            }
            "compression" => compression(t, x),
            "rebalance" => c.rebalance = super::rebalance::rebalance(t, x),
            "accounts" => {
                t.warnings.push(super::ConfigError::at(
                    &x.key_pos,
                    "\"accounts\" (dedicated routes) is not supported yet: accounts share the route; ignored",
                ));
            }
            // Running without them would send or accept what the user asked to filter.
            "tls" | "permissions" => t.error(x, super::typed::refused(&x.key)),
            _ => t.unknown(x),
        }
    }
    if c.port == 0 && c.host.is_empty() {
        c.host = "0.0.0.0".into();
    }
    if t.errors.len() > before {
        return None;
    }
    Some(c)
}

/// `routes: [url, …]` (a single string is taken too).
fn routes(t: &mut Typer, e: &Entry) -> Vec<RouteUrl> {
    let items: Vec<&super::Node> = match &e.node.value {
        Value::Array(items) => items.iter().collect(),
        Value::String(_) => vec![&e.node],
        v => {
            let got = v.type_name();
            t.error(e, format!("Expected routes to be an array, got {got}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for n in items {
        match &n.value {
            Value::String(s) => match RouteUrl::parse(s) {
                Ok(u) => out.push(u),
                Err(m) => t.error_at(n, m),
            },
            v => {
                let got = v.type_name();
                t.error_at(n, format!("Expected route url to be a string, got {got}"));
            }
        }
    }
    out
}

/// `compression`: we send and take plain text only; `off`/`disabled`/`false` are what that
/// means, anything asking for compression is a warning (Go peers fall back to plain text
/// with a peer that does not offer it).
fn compression(t: &mut Typer, e: &Entry) {
    let off = match &e.node.value {
        Value::Bool(b) => !b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "off" | "disabled"),
        Value::Map(m) => m.iter().any(|x| {
            x.key.eq_ignore_ascii_case("mode")
                && matches!(&x.node.value, Value::String(s) if matches!(s.to_ascii_lowercase().as_str(), "off" | "disabled"))
        }),
        _ => false,
    };
    if !off {
        t.warnings.push(super::ConfigError::at(
            &e.key_pos,
            "route compression is not supported yet: routes stay uncompressed",
        ));
    }
}
