//! TLS on the std runtime: the start of a client (INFO then the handshake, the handshake
//! first, or plain text with `allow_non_tls`; see `natsd_tokio`'s twin for the rules), on a
//! short-lived thread of its own with a blocking socket, each step bounded by the TLS
//! timeout. The session it returns then lives in the connection's worker (`conn`), which
//! reads and writes it without blocking.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natsd_adapter::clock;
use natsd_adapter::events::drain_events;
use natsd_adapter::tls::{HandshakeFailure, HANDSHAKE_RECORD};
use natsd_core::conn::Connection;
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;
use natsd_core::tls::{HandshakeFirst, TlsOptions};
use rustls::{ServerConfig, ServerConnection};

/// How a TLS-capable client's connection goes on.
pub enum Settled {
    /// Over TLS.
    Tls(Box<ServerConnection>),
    /// In plain text (`allow_non_tls` and a plain client).
    Plain,
    /// Closed (logged).
    Closed,
}

/// The start of a client on a server with TLS, on the connection's reader thread:
/// blocking, each step bounded by the TLS timeout.
pub fn settle(
    conn: &mut Connection,
    stream: &TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    o: &TlsOptions,
    allow_non_tls: bool,
    sh: &Shared,
) -> Settled {
    let first = match o.handshake_first {
        HandshakeFirst::Off => false,
        HandshakeFirst::On => true,
        HandshakeFirst::Fallback(delay) => match first_byte(stream, delay) {
            Some(Some(b)) => b == HANDSHAKE_RECORD,
            Some(None) => return gone(conn, sh, CloseReason::ClientClosed),
            None => false,
        },
    };
    if !first {
        let mut info = Vec::new();
        conn.handle().take(&mut info);
        let wrote = stream
            .set_write_timeout(Some(o.timeout.max(Duration::from_millis(1))))
            .and_then(|()| (&mut &*stream).write_all(&info));
        if wrote.is_err() || conn.is_closed() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return gone(conn, sh, CloseReason::WriteError);
        }
    }
    let fail = |conn: &mut Connection, failure: HandshakeFailure| {
        natsd_adapter::tls::log_handshake_failure(peer, conn.cid(), &failure);
        gone(conn, sh, CloseReason::TlsHandshakeError)
    };
    // The first byte says whether the client speaks TLS at all: one that does not gets
    // nothing more (Go sends no alert and no -ERR), or plain text with `allow_non_tls`.
    let start = Instant::now();
    match first_byte(stream, o.timeout) {
        Some(Some(HANDSHAKE_RECORD)) => {}
        Some(Some(_)) if allow_non_tls && !first => {
            return match stream.set_read_timeout(None) {
                Ok(()) => Settled::Plain,
                Err(_) => gone(conn, sh, CloseReason::ReadError),
            };
        }
        Some(Some(_)) => return fail(conn, HandshakeFailure::NotTls),
        Some(None) => return gone(conn, sh, CloseReason::ClientClosed),
        None => return fail(conn, HandshakeFailure::Timeout),
    }
    match handshake(stream, config, o.timeout.saturating_sub(start.elapsed())) {
        Ok(session) => {
            if let Err(why) = natsd_adapter::tls::check_pinned(o, &session) {
                return fail(conn, HandshakeFailure::NotPinned(why));
            }
            let info = natsd_adapter::tls::session_info(&session);
            tracing::debug!(
                "{peer} - cid:{} - TLS handshake complete (version {}, {})",
                conn.cid(),
                info.version,
                info.cipher_suite
            );
            conn.handle_tls_established(info, first, sh);
            Settled::Tls(session)
        }
        Err(failure) => fail(conn, failure),
    }
}

/// The handshake on a blocking socket, within `timeout`.
fn handshake(
    stream: &TcpStream,
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> Result<Box<ServerConnection>, HandshakeFailure> {
    let mut tls =
        ServerConnection::new(config).map_err(|e| HandshakeFailure::Io(io::Error::other(e)))?;
    // The worker seals a whole drained buffer at once, bounded by the core's max_pending.
    tls.set_buffer_limit(None);
    let deadline = Instant::now() + timeout;
    let mut sock = stream;
    while tls.is_handshaking() || tls.wants_write() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HandshakeFailure::Timeout);
        }
        let timeouts = stream
            .set_read_timeout(Some(left))
            .and_then(|()| stream.set_write_timeout(Some(left)));
        if let Err(e) = timeouts {
            return Err(HandshakeFailure::Io(e));
        }
        match tls.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HandshakeFailure::Timeout);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HandshakeFailure::from_io(e)),
        }
    }
    // The worker makes the socket non-blocking; timeouts play no part there.
    Ok(Box::new(tls))
}

/// The first byte the client sent, waiting at most `wait`: `None` if nothing came in
/// time, `Some(None)` if it closed.
fn first_byte(stream: &TcpStream, wait: Duration) -> Option<Option<u8>> {
    if stream
        .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
        .is_err()
    {
        return Some(None);
    }
    let mut b = [0u8; 1];
    match stream.peek(&mut b) {
        Ok(1) => Some(Some(b[0])),
        Ok(_) => Some(None),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(_) => Some(None),
    }
}

fn gone(conn: &mut Connection, sh: &Shared, reason: CloseReason) -> Settled {
    conn.handle_close(clock::now(), sh, reason);
    drain_events(conn);
    Settled::Closed
}
