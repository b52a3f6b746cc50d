//! TLS for both runtimes, with rustls: the server config built from a `tls { … }` block
//! (certificates, client verification, Go's cipher and curve names), the reloadable copy
//! the acceptors read, and what a finished handshake tells the core (`TlsInfo`).
//!
//! Contract: [`TlsState::install`] at startup and after every reload (a failed build
//! keeps the old config and returns Go's error at the block's position); an acceptor
//! takes [`TlsState::current`] per connection, so a reload changes the certificate for new
//! connections while live ones keep their sessions. After a handshake the runtime calls
//! [`check_pinned`] (Go checks `pinned_certs` after the handshake too) and hands
//! [`session_info`] to `Connection::handle_tls_established`.

use std::io;
use std::sync::{Arc, RwLock};

use natsd_core::tls::{TlsInfo, TlsOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use sha2::Digest;

/// The first byte of a TLS record carrying a handshake (a ClientHello): how the acceptor
/// tells a TLS client from a plain one (handshake-first fallback, `allow_non_tls`).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// The server's TLS config, swapped whole on reload.
#[derive(Debug, Default)]
pub struct TlsState {
    current: RwLock<Option<Arc<ServerConfig>>>,
}

impl TlsState {
    /// Builds and installs the config for `tls` (or removes it: `None`). On error the
    /// previous config stays and the error is returned, positioned.
    pub fn install(&self, tls: Option<&TlsOptions>) -> Result<(), String> {
        let built = tls.map(server_config).transpose()?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = built;
        Ok(())
    }

    /// The config for a new connection, if clients talk TLS.
    pub fn current(&self) -> Option<Arc<ServerConfig>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// How a failed handshake is logged: Go 2.15.1's texts and levels. A client that did not
/// speak TLS at all (a probe, or a plain-text client) or timed out is `debug`; certificate
/// failures, resets and EOF are `error`.
pub fn log_handshake_failure(peer: std::net::SocketAddr, cid: u64, e: &HandshakeFailure) {
    match e {
        HandshakeFailure::Timeout => {
            tracing::debug!("{peer} - cid:{cid} - TLS handshake timeout");
        }
        HandshakeFailure::NotTls => tracing::debug!(
            "{peer} - cid:{cid} - TLS handshake error: tls: first record does not look like a TLS handshake"
        ),
        HandshakeFailure::Io(e) => {
            tracing::error!("{peer} - cid:{cid} - TLS handshake error: {}", go_text(e));
        }
        HandshakeFailure::NotPinned(why) => {
            tracing::error!("{peer} - cid:{cid} - TLS handshake error: {why}");
        }
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub enum HandshakeFailure {
    /// Not done within the TLS timeout.
    Timeout,
    /// The first record was not a TLS handshake (a plain-text client).
    NotTls,
    /// The handshake failed: bad certificate, reset, EOF...
    Io(io::Error),
    /// The client's certificate is not in `pinned_certs`.
    NotPinned(String),
}

impl HandshakeFailure {
    /// Classifies an error from a handshake (rustls's, inside an `io::Error`).
    pub fn from_io(e: io::Error) -> HandshakeFailure {
        let plain = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|r| {
                matches!(
                    r,
                    rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
                )
            });
        if plain {
            HandshakeFailure::NotTls
        } else {
            HandshakeFailure::Io(e)
        }
    }
}

/// Go's words for the handshake errors clients see most.
fn go_text(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return "EOF".into();
    }
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::NoCertificatesPresented) => {
            "tls: client didn't provide a certificate".into()
        }
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .into()
        }
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)) => {
            "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
                .into()
        }
        Some(r) => format!("tls: {r}"),
        None => e.to_string(),
    }
}

/// Go's wording for a file that cannot be opened.
fn open_error(path: &str, e: &io::Error) -> String {
    let what = match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    format!("open {path}: {what}")
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| open_error(path, &e))
}

fn pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls: {e}"))?;
    if certs.is_empty() {
        return Err("tls: failed to find any PEM data in certificate input".into());
    }
    Ok(certs)
}

/// Builds the rustls config for `o`. Errors are Go's texts, prefixed with the block's
/// position.
pub fn server_config(o: &TlsOptions) -> Result<Arc<ServerConfig>, String> {
    build(o).map_err(|e| format!("{}: {e}", o.pos))
}

fn build(o: &TlsOptions) -> Result<Arc<ServerConfig>, String> {
    let pair = |e: String| format!("error parsing X509 certificate/key pair: {e}");
    let chain = read(&o.cert_file).map_err(pair)?;
    let key = read(&o.key_file).map_err(pair)?;
    let ca = match (&o.ca_file, o.verifies_clients()) {
        (Some(ca), true) => {
            Some(read(ca).map_err(|_| "failed to parse root ca certificate".to_string())?)
        }
        _ => None,
    };
    from_pem(o, &chain, &key, ca.as_deref())
}

/// [`server_config`] from PEM text instead of files (`ca`: the roots for client
/// verification; the system's when `None`). Errors are Go's texts, unpositioned.
pub fn from_pem(
    o: &TlsOptions,
    chain_pem: &[u8],
    key_pem: &[u8],
    ca_pem: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, String> {
    let pair = |e: String| format!("error parsing X509 certificate/key pair: {e}");
    let chain = pem_certs(chain_pem).map_err(pair)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| pair("tls: failed to find any PEM data in key input".into()))?;
    let provider = Arc::new(provider(o)?);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("error parsing tls config: {e}"))?;
    let builder = if o.verifies_clients() {
        let mut roots = RootCertStore::empty();
        match ca_pem {
            Some(ca) => {
                let (added, _) = roots.add_parsable_certificates(
                    pem_certs(ca).map_err(|_| "failed to parse root ca certificate".to_string())?,
                );
                if added == 0 {
                    return Err("failed to parse root ca certificate".into());
                }
            }
            None => {
                // Go: no `ca_file` means the system's roots.
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("error parsing tls config: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| pair(format!("tls: {e}")))?;
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// The ring provider, narrowed to the configured TLS 1.2 suites and curves (TLS 1.3's
/// suites always stay, as in Go, where they are not configurable).
fn provider(o: &TlsOptions) -> Result<rustls::crypto::CryptoProvider, String> {
    let mut p = rustls::crypto::ring::default_provider();
    // Go's preference (on CPUs with AES instructions): AES-128-GCM, AES-256-GCM, then
    // ChaCha20, and the server's order wins (see `ignore_client_order` below), so a client
    // gets the suite a Go server would pick.
    let rank = |s: &rustls::SupportedCipherSuite| {
        let name = format!("{:?}", s.suite());
        if name.contains("AES_128") {
            0
        } else if name.contains("AES_256") {
            1
        } else {
            2
        }
    };
    p.cipher_suites.sort_by_key(|s| rank(s));
    if !o.cipher_suites.is_empty() {
        let wanted: Vec<String> = o.cipher_suites.iter().map(|s| rustls_suite(s)).collect();
        p.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13 || wanted.contains(&format!("{:?}", s.suite()))
        });
    }
    if !o.curve_preferences.is_empty() {
        let all = std::mem::take(&mut p.kx_groups);
        for curve in &o.curve_preferences {
            let name = match curve.as_str() {
                "CurveP256" => "secp256r1",
                "CurveP384" => "secp384r1",
                other => other,
            };
            if let Some(g) = all.iter().find(|g| format!("{:?}", g.name()) == name) {
                p.kx_groups.push(*g);
            }
        }
        if p.kx_groups.is_empty() {
            return Err("error parsing tls config, no usable 'curve_preferences'".into());
        }
    }
    Ok(p)
}

/// rustls's name of a TLS 1.2 suite from Go's (Go drops `_SHA256` from ChaCha's).
fn rustls_suite(go: &str) -> String {
    if go.ends_with("CHACHA20_POLY1305") {
        format!("{go}_SHA256")
    } else {
        go.to_string()
    }
}

/// What a finished handshake tells the core: Go's version and suite names, and the
/// names the client certificate gives (for `verify_and_map`).
pub fn session_info(conn: &ServerConnection) -> TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
        _ => "",
    };
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()).replace("TLS13_", "TLS_"))
        .unwrap_or_default();
    let peer_identities = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|leaf| cert_names(leaf))
        .unwrap_or_default();
    TlsInfo {
        version: version.into(),
        cipher_suite,
        peer_identities,
    }
}

/// Go's `pinned_certs` check: the client certificate's SubjectPublicKeyInfo digest must be
/// listed. `Err` with Go's log text when it is not.
pub fn check_pinned(o: &TlsOptions, conn: &ServerConnection) -> Result<(), String> {
    if o.pinned_certs.is_empty() {
        return Ok(());
    }
    let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
        return Err("Peer certificate not pinned (no certificate)".into());
    };
    let digest = x509_parser::parse_x509_certificate(leaf)
        .ok()
        .map(|(_, c)| hex(&sha2::Sha256::digest(c.public_key().raw)));
    match digest {
        Some(d) if o.pinned_certs.contains(&d) => Ok(()),
        _ => Err("Peer certificate not pinned".into()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The names a certificate gives its holder, in the order Go tries them for
/// `verify_and_map`: e-mail SANs, DNS SANs, URI SANs, then the subject DN in RFC 2253 form
/// (last RDN first, as Go's `pkix.Name.String`).
pub fn cert_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        use x509_parser::extensions::GeneralName;
        let names = &san.value.general_names;
        let pick = |f: fn(&GeneralName<'_>) -> Option<String>| names.iter().filter_map(f);
        let emails: Vec<String> = pick(|g| match g {
            GeneralName::RFC822Name(s) => Some((*s).to_string()),
            _ => None,
        })
        .collect();
        let dns: Vec<String> = pick(|g| match g {
            GeneralName::DNSName(s) => Some((*s).to_string()),
            _ => None,
        })
        .collect();
        let uris: Vec<String> = pick(|g| match g {
            GeneralName::URI(s) => Some((*s).to_string()),
            _ => None,
        })
        .collect();
        out.extend(emails);
        out.extend(dns);
        out.extend(uris);
    }
    out.push(rfc2253(cert.subject()));
    out
}

/// A subject DN the way Go's `pkix.Name.String` writes it.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<&x509_parser::x509::RelativeDistinguishedName<'_>> = name.iter_rdn().collect();
    let mut parts = Vec::with_capacity(rdns.len());
    for rdn in rdns.iter().rev() {
        let attrs: Vec<String> = rdn
            .iter()
            .map(|a| {
                let oid = a.attr_type().to_id_string();
                let key = match oid.as_str() {
                    "2.5.4.3" => "CN".to_string(),
                    "2.5.4.6" => "C".to_string(),
                    "2.5.4.7" => "L".to_string(),
                    "2.5.4.8" => "ST".to_string(),
                    "2.5.4.9" => "STREET".to_string(),
                    "2.5.4.10" => "O".to_string(),
                    "2.5.4.11" => "OU".to_string(),
                    "2.5.4.5" => "SERIALNUMBER".to_string(),
                    "2.5.4.17" => "POSTALCODE".to_string(),
                    other => other.to_string(),
                };
                match a.as_str() {
                    Ok(v) => format!("{key}={}", escape_dn(v)),
                    Err(_) => format!("{key}=#{}", hex(a.attr_value().as_bytes())),
                }
            })
            .collect();
        parts.push(attrs.join("+"));
    }
    parts.join(",")
}

/// RFC 2253 escaping, as Go's `attributeTypeAndValue` string form does it.
fn escape_dn(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, ' ' | '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
