//! The connection timer (the socket's read timeout): keep-alive PINGs, stale connections and
//! the auth timeout.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{eventually, loopback_opts, read_info, read_to_close, read_until};
use natsd_core::errors::CloseReason;
use natsd_core::options::{AuthConfig, Options};
use natsd_std::Server;

#[test]
fn unanswered_pings_close_a_stale_connection() {
    let server = Server::start(Options {
        ping_interval: Duration::from_millis(100),
        ping_max: 2,
        ..loopback_opts()
    })
    .unwrap();
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    read_info(&mut s);
    let started = Instant::now();
    s.write_all(b"CONNECT {\"verbose\":false}\r\n").unwrap();
    // Never answer: two PINGs, then the third would be one too many.
    let got = read_to_close(&mut s);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n"
    );
    // Three intervals (the first with up to 20% jitter), each fired at most a little late.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(290), "{took:?}");
    eventually("the stale client in the history", || {
        !server.shared().closed_clients().is_empty()
    });
    assert_eq!(
        server.shared().closed_clients()[0].reason,
        CloseReason::StaleConnection
    );
    server.shutdown();
}

#[test]
fn answered_pings_keep_the_connection() {
    let server = Server::start(Options {
        ping_interval: Duration::from_millis(50),
        ping_max: 1,
        ..loopback_opts()
    })
    .unwrap();
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    read_info(&mut s);
    s.write_all(b"CONNECT {\"verbose\":false}\r\n").unwrap();
    for _ in 0..5 {
        let mut buf = Vec::new();
        read_until(&mut s, &mut buf, b"PING\r\n");
        assert_eq!(buf, b"PING\r\n");
        s.write_all(b"PONG\r\n").unwrap();
    }
    assert_eq!(server.shared().num_clients(), 1);
    assert!(server.shared().closed_clients().is_empty());
    server.shutdown();
}

#[test]
fn no_connect_in_time_is_an_auth_timeout() {
    let server = Server::start(Options {
        auth: AuthConfig {
            token: Some("s3cret".into()),
            timeout: Duration::from_millis(200),
            ..AuthConfig::default()
        },
        ..loopback_opts()
    })
    .unwrap();
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    let started = Instant::now();
    let info = read_info(&mut s);
    assert_eq!(info["auth_required"], true);
    let got = read_to_close(&mut s);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR 'Authentication Timeout'\r\n"
    );
    assert!(started.elapsed() >= Duration::from_millis(190));
    eventually("the client in the history", || {
        !server.shared().closed_clients().is_empty()
    });
    assert_eq!(
        server.shared().closed_clients()[0].reason,
        CloseReason::AuthenticationTimeout
    );

    // With the token in time, it stays.
    let mut ok = TcpStream::connect(server.local_addr()).unwrap();
    read_info(&mut ok);
    ok.write_all(b"CONNECT {\"verbose\":false,\"auth_token\":\"s3cret\"}\r\nPING\r\n")
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut ok, &mut buf, b"PONG\r\n");
    std::thread::sleep(Duration::from_millis(300)); // past the auth timeout
    ok.write_all(b"PING\r\n").unwrap();
    let mut buf = Vec::new();
    read_until(&mut ok, &mut buf, b"PONG\r\n");
    server.shutdown();
}
