//! A raw-protocol NATS client on a blocking socket, built on the core's own parser and
//! encoders so that it costs little CPU per message.
//!
//! Each [`Conn`] is owned by one thread, which both writes and reads it; the load generator
//! never shares a connection between threads, so a `PONG` answering a server `PING` can never
//! land in the middle of a batch another thread is writing.
//!
//! With a [`Tls`] a connection upgrades after INFO (rustls, blocking `StreamOwned`), as NATS
//! clients do; the plain path stays a bare `TcpStream` (one match per socket call).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natsd_core::proto::{encode, Limits, Op, Parser};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// What every scenario returns on failure: a sentence saying what went wrong.
pub type BenchResult<T> = Result<T, String>;

/// The CONNECT we send: quiet (no `+OK`), headers on.
const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"name\":\"natsd-bench\",\"lang\":\"rust\",\"version\":\"0.1.0\",\"protocol\":1}\r\n";

/// Size of each socket read.
const READ_BUF: usize = 256 * 1024;

/// How long a barrier or handshake may take before the scenario fails.
pub const BARRIER_TIMEOUT: Duration = Duration::from_secs(30);

/// What the op callback of [`Conn::read_some`] tells the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep parsing.
    Continue,
    /// Stop waiting once the current read is parsed (the rest of it is still handed over).
    Done,
}

/// What every connection of a run upgrades to after INFO: the CA that signed the server's
/// certificate and the name checked against it.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    /// Trusts the PEM certificates in `ca_file`, checks the server's certificate against
    /// `name` (a DNS name or an IP address), and offers rustls's (ring) cipher suites, or only
    /// `suite` (a rustls name such as `TLS13_AES_128_GCM_SHA256`).
    pub fn new(ca_file: &Path, name: &str, suite: Option<&str>) -> BenchResult<Tls> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
            .and_then(|it| it.collect())
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("{}: no usable CA certificate", ca_file.display()));
        }
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(suite) = suite {
            let names: Vec<String> = provider
                .cipher_suites
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect();
            provider
                .cipher_suites
                .retain(|s| format!("{:?}", s.suite()) == suite);
            if provider.cipher_suites.is_empty() {
                return Err(format!(
                    "unknown cipher suite {suite:?}; one of {}",
                    names.join(", ")
                ));
            }
        }
        let config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS config: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(name.to_owned())
            .map_err(|e| format!("bad TLS server name {name:?}: {e}"))?;
        Ok(Tls {
            config: Arc::new(config),
            name,
        })
    }
}

/// The socket: plain, or a TLS session over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(buf),
            Stream::Tls(s) => s.write_all(buf),
        }
    }
}

/// One client connection.
pub struct Conn {
    stream: Stream,
    parser: Parser,
    rbuf: Vec<u8>,
    /// Bytes to write; [`Conn::flush`] sends them.
    pub out: Vec<u8>,
}

impl Conn {
    /// Connects, reads INFO, upgrades to TLS if `tls` is given, sends CONNECT and waits for
    /// the PONG of a PING.
    pub fn connect(addr: SocketAddr, tls: Option<&Tls>) -> BenchResult<Conn> {
        let mut c = Conn::connect_raw(addr)?;
        if let Some(tls) = tls {
            c = c.upgrade(tls)?;
        }
        c.out.extend_from_slice(CONNECT);
        c.ping_pong()?;
        Ok(c)
    }

    /// Connects and reads INFO, nothing more (the caller sends CONNECT when it likes).
    pub fn connect_raw(addr: SocketAddr) -> BenchResult<Conn> {
        let stream =
            TcpStream::connect(addr).map_err(|e| format!("connect to {addr} failed: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let mut parser = Parser::new(Limits {
            max_control_line: 64 * 1024,
            max_payload: 64 * 1024 * 1024,
        });
        parser.set_headers(true);
        let mut c = Conn {
            stream: Stream::Plain(stream),
            parser,
            rbuf: vec![0; READ_BUF],
            out: Vec::with_capacity(64 * 1024),
        };
        c.set_timeout(Some(BARRIER_TIMEOUT))?;
        c.read_until(|op| match op {
            Op::Info(_) => Ok(Flow::Done),
            other => Err(format!("expected INFO, got {other:?}")),
        })?;
        Ok(c)
    }

    /// The TLS handshake, after INFO (the server sends nothing more until it is done).
    fn upgrade(self, tls: &Tls) -> BenchResult<Conn> {
        let Conn {
            stream,
            parser,
            rbuf,
            out,
        } = self;
        let Stream::Plain(mut sock) = stream else {
            return Err("already TLS".into());
        };
        let mut session = ClientConnection::new(Arc::clone(&tls.config), tls.name.clone())
            .map_err(|e| format!("TLS session: {e}"))?;
        while session.is_handshaking() {
            session
                .complete_io(&mut sock)
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
        }
        Ok(Conn {
            stream: Stream::Tls(Box::new(StreamOwned::new(session, sock))),
            parser,
            rbuf,
            out,
        })
    }

    /// The negotiated protocol and cipher suite, e.g. `TLSv1_3 TLS13_AES_128_GCM_SHA256`
    /// (`None` for a plain connection).
    pub fn tls_session(&self) -> Option<String> {
        let Stream::Tls(s) = &self.stream else {
            return None;
        };
        Some(format!(
            "{:?} {:?}",
            s.conn.protocol_version()?,
            s.conn.negotiated_cipher_suite()?.suite()
        ))
    }

    /// Appends the CONNECT this client sends (for callers that pipeline it themselves).
    pub fn push_connect(&mut self) {
        self.out.extend_from_slice(CONNECT);
    }

    /// Sets the socket read timeout (`None` blocks forever).
    pub fn set_timeout(&self, t: Option<Duration>) -> BenchResult<()> {
        self.stream
            .tcp()
            .set_read_timeout(t)
            .map_err(|e| format!("set_read_timeout: {e}"))
    }

    /// Writes everything in [`Conn::out`].
    pub fn flush(&mut self) -> BenchResult<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.stream.write_all(&self.out);
        self.out.clear();
        r.map_err(|e| format!("write failed (server closed the connection?): {e}"))
    }

    /// Writes `bytes` directly (for pre-encoded batches).
    pub fn write_all(&mut self, bytes: &[u8]) -> BenchResult<()> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("write failed (server closed the connection?): {e}"))
    }

    /// Sends a PING (after anything queued) and waits for its PONG: every op sent before it
    /// has been processed by the server. Fails on anything but PONG/PING/INFO/+OK.
    pub fn ping_pong(&mut self) -> BenchResult<()> {
        self.out.extend_from_slice(encode::PING);
        self.flush()?;
        self.read_until(|op| match op {
            Op::Pong => Ok(Flow::Done),
            Op::Info(_) | Op::Ok => Ok(Flow::Continue),
            other => Err(format!("unexpected {other:?} while waiting for PONG")),
        })
    }

    /// Reads until `f` returns [`Flow::Done`] or fails; server PINGs are answered. Fails if the
    /// read timeout passes without the wait ending.
    pub fn read_until(
        &mut self,
        mut f: impl FnMut(Op<'_>) -> BenchResult<Flow>,
    ) -> BenchResult<()> {
        let deadline = Instant::now() + BARRIER_TIMEOUT;
        loop {
            match self.read_some(&mut f)? {
                Some(Flow::Done) => return Ok(()),
                _ if Instant::now() > deadline => {
                    return Err(format!("no answer within {BARRIER_TIMEOUT:?}"))
                }
                _ => {}
            }
        }
    }

    /// One socket read, unparsed: the bytes read (`None` if the read timed out). For
    /// `--saturate` subscribers, which step over fixed-size frames instead of parsing them.
    pub fn read_raw(&mut self) -> BenchResult<Option<&[u8]>> {
        Ok(self.read_buf()?.map(|n| &self.rbuf[..n]))
    }

    /// One socket read into `rbuf`: how many bytes (`None` if the read timed out or was
    /// interrupted).
    fn read_buf(&mut self) -> BenchResult<Option<usize>> {
        match self.stream.read(&mut self.rbuf) {
            Ok(0) => Err("server closed the connection".into()),
            Ok(n) => Ok(Some(n)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(format!("read failed: {e}")),
        }
    }

    /// One socket read, every complete op in it handed to `f` (an `-ERR` fails, a server
    /// `PING` is answered). Returns `None` if the read timed out, else whether `f` said done.
    pub fn read_some(
        &mut self,
        f: &mut impl FnMut(Op<'_>) -> BenchResult<Flow>,
    ) -> BenchResult<Option<Flow>> {
        let Some(n) = self.read_buf()? else {
            return Ok(None);
        };
        let mut pos = 0;
        let mut flow = Flow::Continue;
        let mut ping = false;
        while pos < n {
            match self.parser.parse(&self.rbuf[..n], &mut pos) {
                Ok(Some(Op::Ping)) => ping = true,
                Ok(Some(Op::Err(text))) => {
                    return Err(format!(
                        "server sent -ERR {}",
                        String::from_utf8_lossy(text)
                    ))
                }
                Ok(Some(op)) => {
                    if f(op)? == Flow::Done {
                        flow = Flow::Done;
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(format!("could not parse the server's bytes: {e:?}")),
            }
        }
        if ping {
            self.write_all(encode::PONG)?;
        }
        Ok(Some(flow))
    }
}
