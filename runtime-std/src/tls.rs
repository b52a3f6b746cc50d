//! TLS on std threads, with rustls's synchronous API: the start of a client (INFO then
//! the handshake, the handshake first, or plain text with `allow_non_tls`; see
//! `natsd_tokio`'s twin for the rules), then one [`Session`] shared by the connection's
//! two threads.
//!
//! # Sharing one session between the reader and the writer
//!
//! The reader reads ciphertext from the socket *outside* the session's lock, then feeds
//! it and takes plaintext under the lock; the writer encrypts under the lock and writes the
//! ciphertext outside it. Only the writer ever writes to the socket after the handshake,
//! so TLS records leave in the order they were sealed. Records the session makes on its
//! own (a TLS 1.3 key update's answer) leave with the writer's next batch.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use natsd_adapter::clock;
use natsd_adapter::events::drain_events;
use natsd_adapter::tls::{HandshakeFailure, HANDSHAKE_RECORD};
use natsd_core::conn::Connection;
use natsd_core::errors::CloseReason;
use natsd_core::shared::Shared;
use natsd_core::tls::{HandshakeFirst, TlsOptions};
use rustls::{ServerConfig, ServerConnection};

/// Ciphertext read per socket read.
const RAW_BUF: usize = 16 * 1024 + 256;

/// One TLS session, shared by a connection's reader and writer threads.
pub struct Session(Mutex<ServerConnection>);

impl Session {
    fn lock(&self) -> MutexGuard<'_, ServerConnection> {
        // Poisoned only by a panic while held (a bug); the state is still a session.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Encrypts `plain` and returns the records to write (with any the session queued by
    /// itself before them).
    pub fn seal(&self, plain: &[u8]) -> io::Result<Vec<u8>> {
        let mut s = self.lock();
        s.writer().write_all(plain)?;
        let mut out = Vec::with_capacity(plain.len() + 64);
        while s.wants_write() {
            s.write_tls(&mut out)?;
        }
        Ok(out)
    }

    /// The close_notify alert, to write before FIN.
    pub fn close_notify(&self) -> Vec<u8> {
        let mut s = self.lock();
        s.send_close_notify();
        let mut out = Vec::new();
        while s.wants_write() {
            if s.write_tls(&mut out).is_err() {
                break;
            }
        }
        out
    }
}

/// The reader's side of a [`Session`]: plaintext out of ciphertext from the socket.
pub struct Reader<'a> {
    session: Arc<Session>,
    sock: &'a TcpStream,
    raw: Vec<u8>,
    /// Ciphertext read but not yet taken by the session: `raw[start..end]`.
    start: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// Reads `session`'s records from `sock`.
    pub fn new(session: Arc<Session>, sock: &'a TcpStream) -> Reader<'a> {
        Reader {
            session,
            sock,
            raw: vec![0; RAW_BUF],
            start: 0,
            end: 0,
        }
    }
}

impl Read for Reader<'_> {
    /// Plaintext: `Ok(0)` once the client sent close_notify (or the socket closed); a
    /// socket read timeout comes back as the socket's own error (the reader's timer).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut s = self.session.lock();
                while self.start < self.end {
                    let n = s.read_tls(&mut &self.raw[self.start..self.end])?;
                    if n == 0 {
                        break;
                    }
                    self.start += n;
                    s.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                match s.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            // Everything fed and no plaintext yet: read more ciphertext, without the lock.
            let n = (&mut &*self.sock).read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.start = 0;
            self.end = n;
        }
    }
}

/// How a TLS-capable client's connection goes on.
pub enum Settled {
    /// Over TLS.
    Tls(Arc<Session>),
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
            let s = session.lock();
            if let Err(why) = natsd_adapter::tls::check_pinned(o, &s) {
                drop(s);
                return fail(conn, HandshakeFailure::NotPinned(why));
            }
            let info = natsd_adapter::tls::session_info(&s);
            drop(s);
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
) -> Result<Arc<Session>, HandshakeFailure> {
    let mut tls =
        ServerConnection::new(config).map_err(|e| HandshakeFailure::Io(io::Error::other(e)))?;
    // Drained into the socket at once by the writer: no need for rustls to bound it too.
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
    // The reader arms its own read timeouts; writes go back to the writer's slices.
    stream
        .set_read_timeout(None)
        .map_err(HandshakeFailure::Io)?;
    Ok(Arc::new(Session(Mutex::new(tls))))
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
