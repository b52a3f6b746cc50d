//! TLS as the core sees it: the options (`tls { … }`, the `--tls*` flags), what INFO says
//! about them, and what a runtime reports once a handshake is done. The handshake itself,
//! certificates and keys are the runtimes' (rustls, in natsd-adapter): the core reads no
//! files and does no cryptography for TLS.

use std::time::Duration;

/// Go's `TLS_TIMEOUT`: how long a handshake may take unless `timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Go's `DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY` (`handshake_first: auto`).
pub const DEFAULT_FALLBACK_DELAY: Duration = Duration::from_millis(50);

/// The TLS 1.2 cipher suites of `cipher_suites` we can offer, by Go's names (rustls has
/// no CBC, RSA key exchange or 3DES suites; TLS 1.3's suites are not configurable in Go
/// either). The second name is rustls's where it differs.
pub const CIPHER_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// The `curve_preferences` we can offer, by Go's names (P-521 is not in rustls).
pub const CURVES: &[&str] = &["X25519", "CurveP256", "CurveP384"];

/// `handshake_first`: whether the TLS handshake comes before INFO (Go 2.10+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandshakeFirst {
    /// INFO in plain text, then the handshake (the protocol's classic order).
    #[default]
    Off,
    /// The client must start with its TLS ClientHello; INFO goes over TLS.
    On,
    /// Wait this long for a ClientHello; if none came, send INFO in plain text first and
    /// handshake after it, as with `Off` (Go's `auto` and durations).
    Fallback(Duration),
}

/// A `tls { … }` block, as Go reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsOptions {
    /// `cert_file` (PEM; the chain, leaf first). Paths are as written: relative to the
    /// working directory, as Go's.
    pub cert_file: String,
    /// `key_file` (PEM).
    pub key_file: String,
    /// `ca_file`: the roots client certificates are checked against.
    pub ca_file: Option<String>,
    /// `verify`: clients must present a certificate signed by `ca_file`'s roots.
    pub verify: bool,
    /// `verify_and_map`: `verify`, and the certificate names the user (its e-mail or DNS
    /// SANs, or its subject DN), no password needed.
    pub verify_and_map: bool,
    /// `timeout`: the handshake's.
    pub timeout: Duration,
    /// `handshake_first`.
    pub handshake_first: HandshakeFirst,
    /// `cipher_suites` (Go's names, from [`CIPHER_SUITES`]); empty for the defaults.
    pub cipher_suites: Vec<String>,
    /// `curve_preferences` (Go's names, from [`CURVES`]); empty for the defaults.
    pub curve_preferences: Vec<String>,
    /// `pinned_certs`: lower-case hex SHA-256 of the SubjectPublicKeyInfo of client
    /// certificates allowed (any when empty).
    pub pinned_certs: Vec<String>,
    /// Where the block was written (`file:line:col`), for errors found when loading the
    /// certificates (the runtime does that, after the config is read).
    pub pos: String,
}

impl TlsOptions {
    /// True if clients must present a certificate.
    pub fn verifies_clients(&self) -> bool {
        self.verify || self.verify_and_map
    }
}

/// What a runtime learnt from a finished handshake, for `/connz` and auth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// Go's names: `1.2`, `1.3`.
    pub version: String,
    /// Go's name of the suite (`TLS_AES_128_GCM_SHA256`, ...).
    pub cipher_suite: String,
    /// The names the client certificate gives its holder, in Go's order of trial for
    /// `verify_and_map`: e-mail addresses, DNS names, URIs, then the subject DN in
    /// RFC 2253 form. Empty without a client certificate.
    pub peer_identities: Vec<String>,
}
