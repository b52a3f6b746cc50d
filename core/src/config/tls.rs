//! `tls { … }`, as Go's `parseTLS` reads it, with its error texts. What rustls cannot do
//! (insecure cipher suites, P-521, certificate stores, OCSP) is refused by name here, so a
//! config never runs weaker than written. The files themselves are read by the runtime
//! (`natsd_adapter::tls`), which reports their errors at [`TlsOptions::pos`].

use std::time::Duration;

use super::duration::parse_go_duration;
use super::typed::Typer;
use super::value::{Entry, Value};
use crate::tls::{HandshakeFirst, TlsOptions, CIPHER_SUITES, CURVES, DEFAULT_FALLBACK_DELAY};

/// Types a client `tls` block; `None` if it had errors (recorded).
pub(crate) fn tls(t: &mut Typer, e: &Entry) -> Option<TlsOptions> {
    let before = t.errors.len();
    let Value::Map(m) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(e, format!("Expected tls to be a map, got {got}"));
        return None;
    };
    let mut o = TlsOptions {
        timeout: crate::tls::DEFAULT_TIMEOUT,
        pos: e.key_pos.to_string(),
        ..TlsOptions::default()
    };
    let mut cert = None;
    let mut key = None;
    for x in m.iter() {
        let name = x.key.to_ascii_lowercase();
        match name.as_str() {
            "cert_file" | "key_file" | "ca_file" => {
                let Value::String(s) = &x.node.value else {
                    t.error(
                        x,
                        format!("error parsing tls config, expected '{name}' to be filename"),
                    );
                    continue;
                };
                match name.as_str() {
                    "cert_file" => cert = Some(s.clone()),
                    "key_file" => key = Some(s.clone()),
                    _ => o.ca_file = Some(s.clone()),
                }
            }
            "verify" | "verify_and_map" | "insecure" | "verify_cert_and_check_known_urls" => {
                let Value::Bool(b) = x.node.value else {
                    t.error(
                        x,
                        format!("error parsing tls config, expected '{name}' to be a boolean"),
                    );
                    continue;
                };
                match name.as_str() {
                    "verify" => o.verify = b,
                    "verify_and_map" => {
                        o.verify_and_map = b;
                        o.verify |= b;
                    }
                    // Go: only for the TLS a server dials with (routes, leafnodes).
                    "verify_cert_and_check_known_urls" => t.error(
                        x,
                        "verify_cert_and_check_known_urls not supported in this context",
                    ),
                    // Go: `insecure` skips the check of a server's certificate when this
                    // server is the client (routes); for clients it means nothing, and
                    // we never skip a check.
                    _ if b => t.error(
                        x,
                        "\"insecure\" is not supported: certificates are always verified",
                    ),
                    _ => {}
                }
            }
            "timeout" => {
                let secs = match &x.node.value {
                    Value::Integer(i) => Some(*i as f64),
                    Value::Float(f) => Some(*f),
                    Value::String(s) => match parse_go_duration(s) {
                        Ok(ns) => Some(ns as f64 / 1e9),
                        Err(m) => {
                            t.error(x, format!("error parsing tls config, 'timeout' {m}"));
                            continue;
                        }
                    },
                    _ => {
                        t.error(x, "error parsing tls config, 'timeout' wrong type");
                        continue;
                    }
                };
                match secs {
                    Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => {
                        o.timeout = Duration::from_secs_f64(s);
                    }
                    // Go takes zero as "the default"; negative makes no sense.
                    Some(0.0) => o.timeout = crate::tls::DEFAULT_TIMEOUT,
                    _ => t.error(x, "error parsing tls config, 'timeout' out of range"),
                }
            }
            "handshake_first" | "first" | "immediate" => {
                o.handshake_first = match &x.node.value {
                    Value::Bool(true) => HandshakeFirst::On,
                    Value::Bool(false) => HandshakeFirst::Off,
                    Value::String(s) => match s.to_ascii_lowercase().as_str() {
                        "true" | "on" => HandshakeFirst::On,
                        "false" | "off" => HandshakeFirst::Off,
                        "auto" | "auto_fallback" => {
                            HandshakeFirst::Fallback(DEFAULT_FALLBACK_DELAY)
                        }
                        _ => match parse_go_duration(s) {
                            Ok(ns) if ns >= 0 => HandshakeFirst::Fallback(Duration::from_nanos(
                                u64::try_from(ns).unwrap_or(u64::MAX),
                            )),
                            _ => {
                                t.error(
                                    x,
                                    format!("field {:?}'s value {s:?} is invalid", x.key),
                                );
                                continue;
                            }
                        },
                    },
                    v => {
                        t.error(
                            x,
                            format!(
                                "field {:?} should be a boolean or a string, got {}",
                                x.key,
                                v.type_name()
                            ),
                        );
                        continue;
                    }
                };
            }
            "cipher_suites" => o.cipher_suites = names(t, x, "cipher_suites", CIPHER_SUITES),
            "curve_preferences" => {
                o.curve_preferences = names(t, x, "curve_preferences", CURVES);
            }
            "pinned_certs" => o.pinned_certs = pinned(t, x),
            "allow_insecure_cipher_suites" => match x.node.value {
                Value::Bool(false) => {}
                Value::Bool(true) => t.error(
                    x,
                    "\"allow_insecure_cipher_suites\" is not supported: rustls has no insecure cipher suites",
                ),
                _ => t.error(
                    x,
                    "error parsing tls config, expected 'allow_insecure_cipher_suites' to be a boolean",
                ),
            },
            // Go features with no rustls equivalent here: refused, never ignored.
            "cert_store" | "cert_match_by" | "cert_match" | "ca_certs_match"
            | "cert_match_skip_invalid" | "ocsp_peer" | "certs" | "certificates"
            | "connection_rate_limit" | "min_version" => {
                t.error(x, super::typed::refused(&x.key));
            }
            _ => {
                if !x.used_as_variable {
                    t.error(
                        x,
                        format!("error parsing tls config, unknown field {:?}", x.key),
                    );
                }
            }
        }
    }
    // Go's `GenTLSConfig` checks, at the block.
    match (cert, key) {
        (Some(c), Some(k)) => {
            o.cert_file = c;
            o.key_file = k;
        }
        (Some(_), None) => t.error(e, "missing 'key_file' in TLS configuration"),
        (None, _) => t.error(e, "missing 'cert_file' in TLS configuration"),
    }
    (t.errors.len() == before).then_some(o)
}

/// A non-empty list of names, each one of `known` (case as Go writes them).
fn names(t: &mut Typer, x: &Entry, field: &str, known: &[&str]) -> Vec<String> {
    let Value::Array(items) = &x.node.value else {
        t.error(
            x,
            format!("error parsing tls config, '{field}' cannot be empty"),
        );
        return Vec::new();
    };
    if items.is_empty() {
        t.error(
            x,
            format!("error parsing tls config, '{field}' cannot be empty"),
        );
    }
    let mut out = Vec::new();
    for n in items {
        match &n.value {
            Value::String(s) if known.contains(&s.as_str()) => out.push(s.clone()),
            Value::String(s) => t.error_at(
                n,
                format!(
                    "unsupported {} {s:?}: rustls offers {}",
                    field.trim_end_matches('s').replace('_', " "),
                    known.join(", ")
                ),
            ),
            v => t.error_at(
                n,
                format!("{field} entries must be strings, got {}", v.type_name()),
            ),
        }
    }
    out
}

/// `pinned_certs`: hex SHA-256 digests, lower-cased, with Go's checks and texts.
fn pinned(t: &mut Typer, x: &Entry) -> Vec<String> {
    let Value::Array(items) = &x.node.value else {
        t.error(x, "error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded sha256 of DER encoded SubjectPublicKeyInfo");
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in items {
        let entry = match &n.value {
            Value::String(s) => s.to_ascii_lowercase(),
            v => v.type_name().to_string(),
        };
        if entry.len() == 64 && entry.bytes().all(|c| c.is_ascii_hexdigit()) {
            out.push(entry);
        } else {
            t.error_at(n, format!("error parsing tls config, 'pinned_certs' key {entry} does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"));
        }
    }
    out
}
