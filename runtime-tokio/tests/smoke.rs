//! Raw-protocol smoke tests of the tokio server over loopback.

mod common;

use std::io::{BufRead, BufReader};

use common::{client, loopback_opts, parse_info, read_to_close, read_until, WAIT};
use natsd_tokio::{BackgroundServer, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_ping_round_trip() {
    tokio::time::timeout(WAIT * 2, async {
        let server = Server::start(loopback_opts()).await.unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut buf = Vec::new();
        read_until(&mut s, &mut buf, b"\r\n").await;
        let info = parse_info(&buf);
        assert_eq!(info["port"], u64::from(addr.port()));
        assert_eq!(info["server_id"], server.server_id());
        assert_eq!(info["version"], "2.9.10");

        s.write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        read_until(&mut s, &mut buf, b"PONG\r\n").await;
        assert_eq!(buf, b"MSG foo 1 2\r\nhi\r\nPONG\r\n");

        // Shutdown closes clients; the client sees the socket end.
        server.shutdown().await;
        read_to_close(&mut s).await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "still accepting after shutdown"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_connections_and_parse_errors_close() {
    tokio::time::timeout(WAIT * 2, async {
        let server = Server::start(loopback_opts()).await.unwrap();
        let (mut sub, _) = client(server.local_addr(), "SUB a.* q 7\r\n").await;
        let (mut publ, _) = client(server.local_addr(), "").await;
        publ.write_all(b"PUB a.b reply 5\r\nhello\r\nPING\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        read_until(&mut publ, &mut buf, b"PONG\r\n").await;
        let mut got = Vec::new();
        read_until(&mut sub, &mut got, b"hello\r\n").await;
        assert_eq!(got, b"MSG a.b 7 reply 5\r\nhello\r\n");

        // A protocol error: the server sends -ERR, then closes the socket.
        publ.write_all(b"BOGUS\r\n").await.unwrap();
        let mut buf = Vec::new();
        read_until(
            &mut publ,
            &mut buf,
            b"-ERR 'Unknown Protocol Operation'\r\n",
        )
        .await;
        read_to_close(&mut publ).await;
        server.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_eof_unregisters_it() {
    tokio::time::timeout(WAIT, async {
        let server = Server::start(loopback_opts()).await.unwrap();
        let (s, _) = client(server.local_addr(), "SUB x 1\r\n").await;
        assert_eq!(server.shared().num_clients(), 1);
        drop(s);
        // Wait for the server to see EOF: the closed-connection history gets the client.
        while server.shared().closed_clients().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let closed = server.shared().closed_clients();
        assert_eq!(
            closed[0].reason,
            natsd_core::errors::CloseReason::ClientClosed
        );
        assert_eq!(server.shared().num_clients(), 0);
        server.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[test]
fn background_server_serves_synchronous_clients() {
    let server = BackgroundServer::start(loopback_opts()).unwrap();
    let s = std::net::TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO {"), "{line}");
    std::io::Write::write_all(&mut &s, b"CONNECT {\"verbose\":false}\r\nPING\r\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\r\n");
    server.shutdown();
    line.clear();
    // After shutdown the socket is closed: EOF (or a reset).
    assert!(matches!(r.read_line(&mut line), Ok(0) | Err(_)));
}
