//! A TLS client's first moments on tokio: INFO in plain text then the handshake (the
//! protocol's order), or the handshake first (`handshake_first`, with its fallback delay),
//! or plain text after all (`allow_non_tls`, for a client whose first byte is not a TLS
//! record). Then the same reader and writer tasks as a plain client, over the TLS stream.
//!
//! The core's connection exists from the start (INFO and the nonce are in its queue); its
//! timers do not run until the reader starts, so the handshake is bounded by the TLS
//! `timeout` here. A failed or late handshake closes the connection as Go does
//! (`TLS Handshake Failure`, logged as Go's `TLS handshake error: ...`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use natsd_adapter::events::drain_events;
use natsd_adapter::tls::HandshakeFailure;
use natsd_core::conn::Connection;
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;
use natsd_core::tls::{HandshakeFirst, TlsOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::clock;

/// How the connection continues once its start is settled.
pub enum Settled {
    /// Over TLS.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// In plain text (`allow_non_tls` and a plain client).
    Plain(TcpStream),
    /// Closed (handshake failed, timed out, or the client left); already logged.
    Closed,
}

/// Runs the start of a TLS-capable client connection: see the module doc.
pub async fn settle(
    conn: &mut Connection,
    mut stream: TcpStream,
    peer: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    o: &TlsOptions,
    allow_non_tls: bool,
    sh: &Shared,
) -> Settled {
    let first = match o.handshake_first {
        HandshakeFirst::Off => false,
        HandshakeFirst::On => true,
        HandshakeFirst::Fallback(delay) => {
            // A client that speaks first is a TLS-first client; silence means it waits for
            // our INFO.
            match first_byte(&stream, delay).await {
                Some(Some(b)) => b == natsd_adapter::tls::HANDSHAKE_RECORD,
                Some(None) => return gone(conn, sh, CloseReason::ClientClosed),
                None => false,
            }
        }
    };
    if !first {
        // INFO in plain text (the client learns it must upgrade), then the handshake.
        let mut info = Vec::new();
        conn.handle().take(&mut info);
        let wrote = tokio::time::timeout(o.timeout, stream.write_all(&info)).await;
        if !matches!(wrote, Ok(Ok(()))) || conn.is_closed() {
            // Full server (INFO then -ERR, already queued and written) or a dead socket.
            let _ = stream.shutdown().await;
            return gone(conn, sh, CloseReason::WriteError);
        }
    }
    let failed = |conn: &mut Connection, why: HandshakeFailure| {
        natsd_adapter::tls::log_handshake_failure(peer, conn.cid(), &why);
        gone(conn, sh, CloseReason::TlsHandshakeError)
    };
    // The client's first byte says whether it speaks TLS at all: one that does not gets
    // nothing more (Go sends no alert and no -ERR), or plain text with `allow_non_tls`.
    let deadline = tokio::time::Instant::now() + o.timeout;
    match first_byte(&stream, o.timeout).await {
        Some(Some(natsd_adapter::tls::HANDSHAKE_RECORD)) => {}
        Some(Some(_)) if allow_non_tls && !first => return Settled::Plain(stream),
        Some(Some(_)) => return failed(conn, HandshakeFailure::NotTls),
        Some(None) => return gone(conn, sh, CloseReason::ClientClosed),
        None => return failed(conn, HandshakeFailure::Timeout),
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let session = tls.get_ref().1;
            if let Err(why) = natsd_adapter::tls::check_pinned(o, session) {
                return failed(conn, HandshakeFailure::NotPinned(why));
            }
            let info = natsd_adapter::tls::session_info(session);
            tracing::debug!(
                "{peer} - cid:{} - TLS handshake complete (version {}, {})",
                conn.cid(),
                info.version,
                info.cipher_suite
            );
            conn.handle_tls_established(info, first, sh);
            Settled::Tls(Box::new(tls))
        }
        Ok(Err(e)) => failed(conn, HandshakeFailure::from_io(e)),
        Err(_) => failed(conn, HandshakeFailure::Timeout),
    }
}

/// The first byte the client sent, waiting at most `wait`: `None` if it sent nothing in
/// time, `Some(None)` if it closed (or the socket failed).
async fn first_byte(stream: &TcpStream, wait: Duration) -> Option<Option<u8>> {
    let mut b = [0u8; 1];
    match tokio::time::timeout(wait, stream.peek(&mut b)).await {
        Ok(Ok(1)) => Some(Some(b[0])),
        Ok(_) => Some(None),
        Err(_) => None,
    }
}

/// Closes the core connection for `reason` and logs its events.
fn gone(conn: &mut Connection, sh: &Shared, reason: CloseReason) -> Settled {
    conn.handle_close(clock::now(), sh, reason);
    drain_events(conn);
    Settled::Closed
}
