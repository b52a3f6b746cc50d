//! TLS and nkeys, black-box, the same configs on ours (both runtimes) and on the Go servers:
//! the TLS upgrade after INFO, a plain-text client on a TLS port (nothing delivered, closed
//! at the TLS timeout), a TLS ClientHello on a plain port, client certificates (missing,
//! from another CA, mapped to a user with `verify_and_map`), the handshake first (Go
//! 2.10+ only), and nkey signatures (good, bad, replayed). Certificates are made per run.
//!
//! INTEROP: compared with Debian's Go 2.9.10 (`/usr/sbin/nats-server`) and Go 2.15.1
//! (`NATS_GO215_SERVER`); missing ones print SKIPPED, or fail under `NATSD_REQUIRE_GO=1`
//! (set by `.ci/run`). Ours is also checked against fixed expectations.

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use launch::io::{info_line, ping, servers, until_close};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

/// A missing Go server: SKIPPED on stderr and in the README test command's summary.
fn skip(what: &str) {
    common::report_skip(what);
}

/// A CA, a server certificate for localhost, and client certificates: `alice` and `bob`
/// from the CA, `mallory` from another CA. Files in a directory of their own.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    (p.self_signed(&key).unwrap(), key)
}

fn leaf(cn: &str, sans: &[&str], issuer: &(rcgen::Certificate, KeyPair)) -> (String, String) {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name.push(DnType::OrganizationName, "SecGo");
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "natsd-pki-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca1 = ca("SecGo CA1");
        let ca2 = ca("Other CA");
        let files = [
            (
                "server",
                leaf("localhost", &["localhost", "127.0.0.1"], &ca1),
            ),
            ("alice", leaf("alice", &[], &ca1)),
            ("bob", leaf("bob", &[], &ca1)),
            ("mallory", leaf("alice", &[], &ca2)),
        ];
        for (n, (cert, key)) in files {
            std::fs::write(dir.join(format!("{n}-cert.pem")), cert).unwrap();
            std::fs::write(dir.join(format!("{n}-key.pem")), key).unwrap();
        }
        let ca_pem = ca1.0.pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
        Pki { dir, ca_pem }
    }

    fn path(&self, f: &str) -> String {
        self.dir.join(f).to_str().unwrap().to_string()
    }

    /// A `tls { … }` block with `extra` lines.
    fn tls_block(&self, extra: &str) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  timeout: 1\n{extra}}}\n",
            self.path("server-cert.pem"),
            self.path("server-key.pem"),
            self.path("ca.pem")
        )
    }

    fn client_config(&self, who: Option<&str>) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let c = match who {
            None => b.with_no_client_auth(),
            Some(n) => {
                let cert = CertificateDer::from_pem_file(self.path(&format!("{n}-cert.pem")));
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{n}-key.pem")));
                b.with_client_auth_cert(vec![cert.unwrap()], key.unwrap())
                    .unwrap()
            }
        };
        Arc::new(c)
    }
}

/// INFO's security flags, in a fixed order, for comparing servers.
fn flags(info: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(info.trim_end().strip_prefix("INFO ").unwrap()).unwrap();
    let nonce = v["nonce"].as_str().map(str::len);
    format!(
        "auth_required={} tls_required={} tls_verify={} tls_available={} nonce_len={nonce:?}",
        v["auth_required"], v["tls_required"], v["tls_verify"], v["tls_available"]
    )
}

/// Connects, reads the plain-text INFO, then upgrades to TLS (the protocol's order).
async fn tls_after_info(
    port: u16,
    cfg: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut tcp = connect(port).await;
    info_line(&mut tcp).await;
    tls_upgrade(tcp, cfg).await
}

async fn tls_upgrade(
    tcp: TcpStream,
    cfg: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

/// TLS with client verification: the upgrade works with a good certificate; a plain-text
/// client gets nothing past INFO and is closed at the TLS timeout; no certificate or one
/// from another CA never gets a PONG.
#[tokio::test]
async fn tls_upgrade_verification_and_plain_text_refused() {
    let pki = Pki::new("verify");
    let conf = pki.tls_block("  verify: true\n");
    for (label, mut cmd) in servers(
        BIN,
        "tls_upgrade_verification_and_plain_text_refused",
        false,
        skip,
    ) {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "tls-verify", &conf).await;

        let mut plain = connect(port).await;
        let info = info_line(&mut plain).await;
        assert_eq!(
            flags(&info),
            "auth_required=null tls_required=true tls_verify=true tls_available=null nonce_len=None",
            "{label}"
        );
        let _ = plain.write_all(b"CONNECT {}\r\nPING\r\n").await;
        let (rest, took) = until_close(&mut plain, Duration::from_secs(5)).await;
        assert_eq!(rest, "", "{label}: nothing for a plain-text client");
        assert!(took < Duration::from_secs(3), "{label}: closed promptly");

        let mut tls = tls_after_info(port, pki.client_config(Some("alice")))
            .await
            .unwrap_or_else(|e| panic!("{label}: handshake: {e}"));
        assert_eq!(
            ping(
                &mut tls,
                "CONNECT {\"verbose\":false}\r\nSUB x 1\r\nPUB x 2\r\nhi\r\n"
            )
            .await,
            "MSG x 1 2\r\nhi\r\nPONG\r\n",
            "{label}"
        );

        for who in [None, Some("mallory")] {
            // TLS 1.3: the client's side may finish before the server judged its
            // certificate; the refusal shows on the first read either way.
            let got = match tls_after_info(port, pki.client_config(who)).await {
                Ok(mut s) => ping(&mut s, "CONNECT {\"verbose\":false}\r\n").await,
                Err(_) => String::new(),
            };
            assert_eq!(got, "", "{label}: {who:?} refused");
        }
    }
}

/// A TLS ClientHello on a plain port is an unknown protocol operation, after INFO.
#[tokio::test]
async fn tls_client_on_a_plain_port() {
    for (label, mut cmd) in servers(BIN, "tls_client_on_a_plain_port", false, skip) {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "plain", "debug: false\n").await;
        let mut s = connect(port).await;
        // A TLS record header (handshake, TLS 1.0 record version) and a few bytes.
        s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00])
            .await
            .unwrap();
        let (got, _) = until_close(&mut s, Duration::from_secs(5)).await;
        let (info, rest) = got.split_once("\r\n").unwrap_or_default();
        assert!(info.starts_with("INFO {"), "{label}: {got:?}");
        assert_eq!(rest, "-ERR 'Unknown Protocol Operation'\r\n", "{label}");
    }
}

/// `handshake_first`: TLS before INFO (Go 2.10+; 2.9.10 refuses the key). A plain-text
/// client that waits for INFO gets nothing and is closed at the TLS timeout.
#[tokio::test]
async fn handshake_first() {
    let pki = Pki::new("first");
    let conf = pki.tls_block("  handshake_first: true\n");
    for (label, mut cmd) in servers(BIN, "handshake_first", true, skip) {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "tls-first", &conf).await;
        let mut tls = tls_upgrade(connect(port).await, pki.client_config(None))
            .await
            .unwrap_or_else(|e| panic!("{label}: handshake: {e}"));
        let info = info_line(&mut tls).await;
        assert!(flags(&info).contains("tls_required=true"), "{label}");
        assert_eq!(
            ping(&mut tls, "CONNECT {\"verbose\":false}\r\n").await,
            "PONG\r\n",
            "{label}"
        );
        let mut plain = connect(port).await;
        let (got, took) = until_close(&mut plain, Duration::from_secs(5)).await;
        assert_eq!(got, "", "{label}: no INFO in plain text");
        assert!(
            took >= Duration::from_millis(900),
            "{label}: held until the TLS timeout"
        );
    }
}

/// `verify_and_map`: the certificate's subject names the user; no password. Another
/// certificate of the same CA that names nobody is refused.
#[tokio::test]
async fn verify_and_map_names_the_user() {
    let pki = Pki::new("map");
    let conf = format!(
        "{}authorization {{ users: [{{user: \"CN=alice,O=SecGo\", permissions: {{publish: ok}}}}] }}\n",
        pki.tls_block("  verify_and_map: true\n")
    );
    for (label, mut cmd) in servers(BIN, "verify_and_map_names_the_user", false, skip) {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "tls-map", &conf).await;
        let mut alice = tls_after_info(port, pki.client_config(Some("alice")))
            .await
            .unwrap();
        assert_eq!(
            ping(
                &mut alice,
                "CONNECT {\"verbose\":false}\r\nPUB no 0\r\n\r\n"
            )
            .await,
            "-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n",
            "{label}: alice is the user, with its permissions"
        );
        let mut bob = tls_after_info(port, pki.client_config(Some("bob")))
            .await
            .unwrap();
        assert_eq!(
            ping(&mut bob, "CONNECT {\"verbose\":false}\r\n").await,
            "-ERR 'Authorization Violation'\r\n",
            "{label}: bob names nobody"
        );
    }
}

/// nkeys: the INFO nonce signed is accepted; a bad signature, none, or one of another
/// connection's nonce (a replay) is an Authorization Violation.
#[tokio::test]
async fn nkey_signatures() {
    const SEED: &str = "SUACH75SWCM5D2JMJM6EKLR2WDARVGZT4QC6LX3AGHSWOMVAKERABBBRWM";
    const PUBLIC: &str = "UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE";
    let kp = nkeys::KeyPair::from_seed(SEED).unwrap();
    let sign =
        |nonce: &str| data_encoding::BASE64URL_NOPAD.encode(&kp.sign(nonce.as_bytes()).unwrap());
    let nonce_of = |info: &str| {
        let v: serde_json::Value =
            serde_json::from_str(info.trim_end().strip_prefix("INFO ").unwrap()).unwrap();
        v["nonce"].as_str().unwrap().to_string()
    };
    let conf = format!("authorization {{ users: [{{nkey: {PUBLIC}}}] }}\n");
    let connect_line = |sig: &str| {
        format!("CONNECT {{\"verbose\":true,\"nkey\":\"{PUBLIC}\",\"sig\":\"{sig}\"}}\r\n")
    };
    for (label, mut cmd) in servers(BIN, "nkey_signatures", false, skip) {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "nkeys", &conf).await;
        let mut good = connect(port).await;
        let info = info_line(&mut good).await;
        assert_eq!(
            flags(&info),
            "auth_required=true tls_required=null tls_verify=null tls_available=null nonce_len=Some(15)",
            "{label}"
        );
        let n = nonce_of(&info);
        assert_eq!(
            ping(&mut good, &connect_line(&sign(&n))).await,
            "+OK\r\nPONG\r\n",
            "{label}"
        );
        for sig in [sign("another nonce"), String::new(), sign(&n)] {
            // The last is a replay: the first connection's signature on a new nonce.
            let mut bad = connect(port).await;
            info_line(&mut bad).await;
            assert_eq!(
                ping(&mut bad, &connect_line(&sig)).await,
                "-ERR 'Authorization Violation'\r\n",
                "{label}: sig {sig:?}"
            );
        }
    }
}

/// A client config trusting only `ca_pem` (no client certificate).
fn client_config_trusting(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Waits (10 s at most) until the log file holds `needle` at least `n` times.
async fn wait_log(path: &std::path::Path, needle: &str, n: usize) -> String {
    let fut = async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.matches(needle).count() >= n {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(t) => t,
        Err(_) => panic!(
            "log never showed {needle:?} x{n}:\n{}",
            std::fs::read_to_string(path).unwrap_or_default()
        ),
    }
}

/// Reloading (SIGHUP) to a server certificate from another CA: the TLS session open
/// before it keeps working; a new client trusting only the old CA fails the handshake; one
/// trusting the new CA connects. Ours only (both runtimes).
#[tokio::test]
async fn tls_reload_keeps_sessions() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pki = Pki::new("reload");
    // The second CA and its server certificate, in new files.
    let ca2 = ca("Reload CA2");
    let (cert2, key2) = leaf("localhost", &["localhost", "127.0.0.1"], &ca2);
    std::fs::write(pki.dir.join("server2-cert.pem"), cert2).unwrap();
    std::fs::write(pki.dir.join("server2-key.pem"), key2).unwrap();
    let ca2_pem = ca2.0.pem();
    std::fs::write(pki.dir.join("ca2.pem"), &ca2_pem).unwrap();
    let conf2 = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  timeout: 1\n}}\n",
        pki.path("server2-cert.pem"),
        pki.path("server2-key.pem"),
        pki.path("ca2.pem")
    );
    for rt in ["tokio", "std"] {
        let label = format!("ours ({rt})");
        let conf = pki.dir.join(format!("reload-{rt}.conf"));
        let log = pki.dir.join(format!("reload-{rt}.log"));
        std::fs::write(&conf, pki.tls_block("")).unwrap();
        let child = Command::new(BIN)
            .args(["--runtime", rt, "-c", conf.to_str().unwrap()])
            .args(["-l", log.to_str().unwrap(), "-a", "127.0.0.1", "-p", "-1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let text = wait_log(&log, "Server is ready", 1).await;
        let port: u16 = text
            .lines()
            .find_map(|l| {
                l.split("Listening for client connections on 127.0.0.1:")
                    .nth(1)
            })
            .expect("the listen line")
            .trim()
            .parse()
            .unwrap();

        let mut old = tls_after_info(port, pki.client_config(None))
            .await
            .unwrap_or_else(|e| panic!("{label}: handshake with CA1: {e}"));
        assert_eq!(
            ping(&mut old, "CONNECT {\"verbose\":false}\r\n").await,
            "PONG\r\n",
            "{label}: before the reload"
        );

        std::fs::write(&conf, &conf2).unwrap();
        kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGHUP).unwrap();
        wait_log(&log, "Reloaded server configuration", 1).await;

        assert_eq!(
            ping(&mut old, "").await,
            "PONG\r\n",
            "{label}: the session from before the reload"
        );
        let r = tls_after_info(port, pki.client_config(None)).await;
        assert!(
            r.is_err(),
            "{label}: a client trusting only CA1 completed the handshake"
        );
        let mut new = tls_after_info(port, client_config_trusting(&ca2_pem))
            .await
            .unwrap_or_else(|e| panic!("{label}: handshake with CA2: {e}"));
        assert_eq!(
            ping(&mut new, "CONNECT {\"verbose\":false}\r\n").await,
            "PONG\r\n",
            "{label}: a client trusting CA2"
        );
        drop(child);
    }
}

/// `GET path` on `127.0.0.1:port` (HTTP/1.0): the body as JSON.
async fn http_json(port: u16, path: &str) -> serde_json::Value {
    let mut s = connect(port).await;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .expect("the response within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// TLS in the monitoring endpoints: `/varz` `tls_required`, `tls_verify` (as configured)
/// and `tls_timeout` (`1`, as written); `/connz` `tls_version` `1.3` and a `TLS_…` cipher
/// suite for a TLS client.
#[tokio::test]
async fn tls_in_monitoring() {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};
    let pki = Pki::new("monitor");
    let conf = format!(
        "http: \"127.0.0.1:-1\"\n{}",
        pki.tls_block("  verify: true\n")
    );
    let path = pki.dir.join("monitor.conf");
    std::fs::write(&path, &conf).unwrap();
    let mut suites = Vec::new();
    for (label, mut cmd) in servers(BIN, "tls_in_monitoring", false, skip) {
        let mut child = cmd
            .args(["-c", path.to_str().unwrap(), "-a", "127.0.0.1", "-p", "-1"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (port, http) = tokio::time::timeout(Duration::from_secs(10), async {
            let (mut port, mut http) = (None, None);
            while port.is_none() || http.is_none() {
                let line = lines
                    .next_line()
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{label} exited before listening"));
                let after = |tag: &str| {
                    line.split(tag)
                        .nth(1)
                        .and_then(|p| p.rsplit(':').next())
                        .and_then(|p| p.trim().parse::<u16>().ok())
                };
                port = port.or(after("Listening for client connections on "));
                http = http.or(after("Starting http monitor on "));
            }
            (port.unwrap(), http.unwrap())
        })
        .await
        .unwrap_or_else(|_| panic!("{label}: no client and http ports in the log"));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let varz = http_json(http, "/varz").await;
        let got = format!(
            "tls_required={} tls_verify={} tls_timeout={}",
            varz["tls_required"], varz["tls_verify"], varz["tls_timeout"]
        );
        assert_eq!(
            got, "tls_required=true tls_verify=true tls_timeout=1",
            "{label}: /varz"
        );

        let mut tls = tls_after_info(port, pki.client_config(Some("alice")))
            .await
            .unwrap_or_else(|e| panic!("{label}: handshake: {e}"));
        assert_eq!(
            ping(&mut tls, "CONNECT {\"verbose\":false}\r\n").await,
            "PONG\r\n",
            "{label}"
        );
        let connz = http_json(http, "/connz").await;
        let conns = connz["connections"].as_array().expect("connections");
        assert_eq!(conns.len(), 1, "{label}: {connz}");
        let c = &conns[0];
        eprintln!(
            "{label}: /connz tls_version={} tls_cipher_suite={}",
            c["tls_version"], c["tls_cipher_suite"]
        );
        assert_eq!(c["tls_version"], "1.3", "{label}: {c}");
        let suite = c["tls_cipher_suite"].as_str().unwrap_or_default();
        assert!(suite.starts_with("TLS_"), "{label}: {c}");
        suites.push((label, suite.to_string()));
        drop(tls);
        drop(child);
    }
    // The same client (rustls, its default order: AES-256-GCM first) gets the suite Go's
    // server prefers (Go: AES-128-GCM first where the CPU has AES, whatever the client's
    // order).
    if let Some((_, go)) = suites.iter().find(|(l, _)| l.starts_with("go")) {
        for (label, suite) in &suites {
            // Ours once followed the client's order (TLS_AES_256_GCM_SHA384 here); the
            // server's order now wins, as in Go.
            assert_eq!(suite, go, "{label}: cipher suite chosen vs Go's");
        }
    }
}
