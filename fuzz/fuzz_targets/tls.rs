//! The TLS-upgrade path of a client connection, minus the cryptography rustls owns:
//! arbitrary DER through our reading of a client certificate (`cert_names`: SANs, the
//! subject DN in RFC 2253), an arbitrary first flight into a server session built with
//! our config (verifying clients) and through our classification of its failure, and the
//! core's side: a connection told of an established session with arbitrary certificate
//! names (`verify_and_map`), then arbitrary bytes (CONNECT included). Never panics; a
//! connection authenticated by a certificate name is one of the configured users.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use natsd_core::auth::User;
use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::options::Options;
use natsd_core::shared::Shared;
use natsd_core::tls::{TlsInfo, TlsOptions};
use natsd_core::Time;

const CERT: &str = include_str!("../fixtures/server-cert.pem");
const KEY: &str = include_str!("../fixtures/server-key.pem");

struct Nop;

impl Notify for Nop {
    fn notify(&self) {}
}

#[derive(Debug, Arbitrary)]
struct Input {
    der: Vec<u8>,
    first_flight: Vec<u8>,
    names: Vec<String>,
    after: Vec<u8>,
}

fn tls_options() -> TlsOptions {
    TlsOptions {
        verify: true,
        verify_and_map: true,
        timeout: Duration::from_secs(1),
        ..TlsOptions::default()
    }
}

fuzz_target!(|input: Input| {
    let _ = natsd_adapter::tls::cert_names(&input.der);

    let o = tls_options();
    let config = natsd_adapter::tls::from_pem(&o, CERT.as_bytes(), KEY.as_bytes(), Some(CERT.as_bytes()))
        .expect("the fixture certificate loads");
    let mut session = rustls::ServerConnection::new(config).expect("a session");
    let mut flight = &input.first_flight[..];
    while !flight.is_empty() {
        match session.read_tls(&mut flight) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if let Err(e) = session.process_new_packets() {
                    let io = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
                    let _ = natsd_adapter::tls::HandshakeFailure::from_io(io);
                    break;
                }
            }
        }
    }

    let users = ["CN=alice,O=SecGo", "bob@example.com", "localhost"];
    let mut opts = Options {
        tls: Some(o),
        max_payload: 512,
        max_control_line: 256,
        ..Options::default()
    };
    opts.auth.users = users
        .iter()
        .map(|n| User {
            name: (*n).to_string(),
            ..User::default()
        })
        .collect();
    let now = Time::from_nanos(1_000_000_000);
    let sh = Shared::new(opts, "NFUZZ".into(), now);
    let mut conn = Connection::accept(&sh, now, None, Arc::new(Nop));
    let names: Vec<String> = input.names.into_iter().take(16).collect();
    conn.handle_tls_established(
        TlsInfo {
            version: "1.3".into(),
            cipher_suite: "TLS_AES_128_GCM_SHA256".into(),
            peer_identities: names,
        },
        false,
        &sh,
    );
    let _ = conn.handle_read(now, &input.after, &sh);
    if !conn.is_closed() {
        if let Some(user) = sh.client_info(conn.cid()).and_then(|i| i.user) {
            assert!(users.contains(&user.as_str()), "an unknown user {user:?} got in");
        }
    }
});
