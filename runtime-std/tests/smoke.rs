//! Raw-protocol smoke tests of the std-threads server over loopback.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{client, eventually, loopback_opts, parse_info, read_info, read_to_close, read_until};
use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_std::Server;

#[test]
fn pub_sub_ping_round_trip() {
    let server = Server::start(loopback_opts()).unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.shared().opts().port, addr.port());
    let id = server.server_id();
    assert_eq!(id.len(), 56);
    assert!(id.starts_with('N'));
    assert!(id
        .bytes()
        .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));

    let mut s = TcpStream::connect(addr).unwrap();
    let info = read_info(&mut s);
    assert_eq!(info["port"], u64::from(addr.port()));
    assert_eq!(info["server_id"], server.server_id());
    assert_eq!(info["version"], "2.9.10");

    s.write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"PONG\r\n");
    assert_eq!(buf, b"MSG foo 1 2\r\nhi\r\nPONG\r\n");
    server.shutdown();
}

#[test]
fn messages_cross_connections_and_parse_errors_close() {
    let server = Server::start(loopback_opts()).unwrap();
    let (mut sub, _) = client(server.local_addr(), "SUB a.* q 7\r\n");
    let (mut publ, _) = client(server.local_addr(), "");
    publ.write_all(b"PUB a.b reply 5\r\nhello\r\nPING\r\n")
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut publ, &mut buf, b"PONG\r\n");
    let mut got = Vec::new();
    read_until(&mut sub, &mut got, b"hello\r\n");
    assert_eq!(got, b"MSG a.b 7 reply 5\r\nhello\r\n");

    // A protocol error: the server sends -ERR, then closes the socket.
    publ.write_all(b"BOGUS\r\n").unwrap();
    let rest = read_to_close(&mut publ);
    assert_eq!(rest, b"-ERR 'Unknown Protocol Operation'\r\n");
    eventually("the closed client in the history", || {
        !server.shared().closed_clients().is_empty()
    });
    assert_eq!(server.shared().num_clients(), 1);
    server.shutdown();
}

#[test]
fn verbose_mode_and_split_ops_across_reads() {
    let server = Server::start(loopback_opts()).unwrap();
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_nodelay(true).unwrap();
    read_info(&mut s);
    // One op split over many writes (and so, likely, many reads).
    for piece in [
        &b"CONNECT {\"verbose\":true}\r\nSU"[..],
        b"B x 1\r\nPUB x 1",
        b"0\r\n01234",
        b"56789\r\nPI",
        b"NG\r\n",
    ] {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(5)); // spread the pieces over reads
    }
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"PONG\r\n");
    assert_eq!(
        buf,
        b"+OK\r\n+OK\r\n+OK\r\nMSG x 1 10\r\n0123456789\r\nPONG\r\n"
    );
    server.shutdown();
}

#[test]
fn client_eof_unregisters_it() {
    let server = Server::start(loopback_opts()).unwrap();
    let (s, _) = client(server.local_addr(), "SUB x 1\r\n");
    assert_eq!(server.shared().num_clients(), 1);
    drop(s);
    eventually("the server to see EOF", || {
        !server.shared().closed_clients().is_empty()
    });
    let closed = server.shared().closed_clients();
    assert_eq!(closed[0].reason, CloseReason::ClientClosed);
    assert_eq!(server.shared().num_clients(), 0);
    server.shutdown();
}

#[test]
fn graceful_shutdown_closes_clients_and_stops_accepting() {
    let server = Server::start(loopback_opts()).unwrap();
    let addr = server.local_addr();
    let mut clients: Vec<TcpStream> = (0..5)
        .map(|i| client(addr, &format!("SUB s.{i} {i}\r\n")).0)
        .collect();
    // One that never sent CONNECT, and one with a message still in flight.
    let mut raw = TcpStream::connect(addr).unwrap();
    read_info(&mut raw);
    clients[0].write_all(b"PUB s.1 3\r\nbye\r\n").unwrap();
    let mut buf = Vec::new();
    read_until(&mut clients[1], &mut buf, b"bye\r\n");
    let shared = std::sync::Arc::clone(server.shared());

    let started = Instant::now();
    server.shutdown();
    // Nothing was stuck: no need to wait for the write deadline (10s by default).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for c in clients.iter_mut().chain(std::iter::once(&mut raw)) {
        assert_eq!(read_to_close(c), b"");
    }
    assert_eq!(shared.num_clients(), 0);
    let closed = shared.closed_clients();
    assert_eq!(closed.len(), 6);
    assert!(
        closed
            .iter()
            .all(|c| c.reason == CloseReason::ServerShutdown),
        "{closed:?}"
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn dropping_the_server_aborts_clients() {
    let server = Server::start(loopback_opts()).unwrap();
    let shared = std::sync::Arc::clone(server.shared());
    let (mut s, _) = client(server.local_addr(), "SUB x 1\r\n");
    drop(server);
    read_to_close(&mut s);
    eventually("the client to be unregistered", || {
        shared.num_clients() == 0
    });
    assert_eq!(
        shared.closed_clients()[0].reason,
        CloseReason::ServerShutdown
    );
}

#[test]
fn max_connections_refuses_with_info_then_err() {
    let server = Server::start(Options {
        max_connections: 1,
        ..loopback_opts()
    })
    .unwrap();
    let (_first, _) = client(server.local_addr(), "");
    let mut second = TcpStream::connect(server.local_addr()).unwrap();
    let got = read_to_close(&mut second);
    let text = String::from_utf8_lossy(&got);
    let (info, rest) = text.split_once("\r\n").unwrap();
    parse_info(info.as_bytes());
    assert_eq!(rest, "-ERR 'maximum connections exceeded'\r\n");
    server.shutdown();
}

#[test]
fn bind_failure_is_an_error() {
    let server = Server::start(loopback_opts()).unwrap();
    let taken = Options {
        port: server.local_addr().port(),
        ..loopback_opts()
    };
    assert!(Server::start(taken).is_err());
    server.shutdown();
}
