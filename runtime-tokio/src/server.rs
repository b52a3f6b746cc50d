//! The server: binds the client port, accepts connections, and shuts down cleanly.
//!
//! Per accepted socket it creates the core's [`Connection`](natsd_core::conn::Connection) and spawns two tasks, the
//! [`reader`](crate::reader) (which owns the connection) and the [`writer`](crate::writer).
//! Every task is tracked, so [`Server::shutdown`] can wait for them with a bound.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use natsd_adapter::accept::{open_connection, Backoff};
use natsd_adapter::startup::{self, StartInfo};
use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_core::shared::Shared;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::writer::{Wake, WriterCtx};
use crate::{clock, reader, writer};

/// Extra time, past the write deadline, that shutdown waits for connections to finish.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(1);
/// How long shutdown waits for aborted tasks after the grace period.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// A running NATS server on tokio.
///
/// Dropping it without [`shutdown`](Self::shutdown) aborts it: the accept loop stops and
/// every connection is closed without waiting.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    /// Stops the accept loop.
    stop_accept: CancellationToken,
    /// Parent of every connection's token: cancelling it aborts all connections.
    conns: CancellationToken,
    tracker: TaskTracker,
    accept: Option<JoinHandle<()>>,
    /// The options generation after each reload; every reader task watches it.
    reloaded: watch::Sender<u64>,
    /// The monitoring listener's address and its stop token, when monitoring is on.
    monitor: Option<(SocketAddr, CancellationToken)>,
}

impl Server {
    /// Binds `opts.host:opts.port` (port 0 picks a free port), creates the shared state with a
    /// fresh server id, logs the Go server's startup lines, and starts accepting.
    ///
    /// `opts.port` is replaced by the bound port so INFO reports it; `opts.seed` 0 means
    /// "pick one from real randomness". Must be called inside a tokio runtime (with the time
    /// and I/O drivers). Errors: the bind failed, or the OS had no randomness.
    pub async fn start(opts: Options) -> io::Result<Server> {
        Server::start_with(opts, StartInfo::default()).await
    }

    /// [`start`](Self::start), with a config file name and warnings for the banner.
    pub async fn start_with(mut opts: Options, start: StartInfo) -> io::Result<Server> {
        let server_id = startup::prepare(&mut opts, &start)?;
        // Bound like the std runtime, with the Go server's accept backlog (tokio's `bind`
        // listens with std's 128: a burst of connects overflowed it and waited 1s for a SYN
        // retry; found by natsd-bench's `conns` scenario).
        let std_listener = natsd_adapter::listener::bind(&opts.host, opts.port)?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let local_addr = listener.local_addr()?;
        opts.port = local_addr.port();
        let host = opts.host.clone();
        let shared = Arc::new(Shared::new(opts, server_id, clock::now()));
        // Go starts monitoring before it logs the client listener.
        let monitor = match &start.monitor {
            Some(m) => {
                let stop = CancellationToken::new();
                let cfg = startup::monitor_config(m, &host);
                let addr =
                    crate::monitor_http::start(Arc::clone(&shared), &cfg, stop.clone()).await?;
                Some((addr, stop))
            }
            None => None,
        };
        startup::log_listening(&host, local_addr.port());
        let stop_accept = CancellationToken::new();
        let conns = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (reloaded, _) = watch::channel(shared.options_generation());
        let acceptor = Acceptor {
            shared: Arc::clone(&shared),
            conns: conns.clone(),
            tracker: tracker.clone(),
            reloaded: reloaded.clone(),
        };
        let accept = tokio::spawn(acceptor.run(listener, stop_accept.clone()));
        startup::log_ready();
        Ok(Server {
            shared,
            local_addr,
            stop_accept,
            conns,
            tracker,
            accept: Some(accept),
            reloaded,
            monitor,
        })
    }

    /// Applies reloaded options: swaps them in the core (only the reloadable fields change;
    /// see `Shared::apply_reload`), closes the newest clients over a lowered
    /// `max_connections` (logging how many, as Go), then tells every connection's reader,
    /// which runs `Connection::handle_config_change` (limits, keep-alive, re-authentication).
    /// Returns once every reader has been notified, not once each has acted.
    pub fn reload(&self, new: &Options) {
        let generation = natsd_adapter::reload::apply(&self.shared, new);
        self.reloaded.send_replace(generation);
    }

    /// The address the client listener is bound to (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The monitoring listener's address, when monitoring is on (the real port when 0 was
    /// asked for).
    pub fn monitor_addr(&self) -> Option<SocketAddr> {
        self.monitor.as_ref().map(|(a, _)| *a)
    }

    /// The server id (`N` + 55 base32 characters).
    pub fn server_id(&self) -> &str {
        self.shared.server_id()
    }

    /// The core's shared state: options, clients, stats (monitoring, tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting (lame duck mode): the accept loop ends and the listener closes; live
    /// clients stay. Idempotent.
    pub fn stop_accepting(&self) {
        self.stop_accept.cancel();
    }

    /// Stops the server: stops accepting, asks every client to flush and close
    /// (`Server Shutdown`), and waits for all connection tasks, at most the write deadline
    /// plus a second; stragglers are then aborted. Logs `Initiating Shutdown...` and
    /// `Server Exiting..` as the Go server does.
    pub async fn shutdown(mut self) {
        tracing::info!("Initiating Shutdown...");
        if let Some((_, stop)) = &self.monitor {
            stop.cancel();
        }
        self.stop_accept.cancel();
        if let Some(accept) = self.accept.take() {
            // The accept loop never panics on input; a JoinError here would be a bug or abort.
            let _ = accept.await;
        }
        self.shared.close_all(CloseReason::ServerShutdown);
        self.tracker.close();
        let grace = self.shared.opts().write_deadline + SHUTDOWN_SLACK;
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("Connections did not close within {grace:?}; aborting them");
            self.conns.cancel();
            let _ = tokio::time::timeout(ABORT_WAIT, self.tracker.wait()).await;
        }
        tracing::info!("Server Exiting..");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // After `shutdown` these are no-ops; otherwise they abort the server.
        self.stop_accept.cancel();
        self.conns.cancel();
        if let Some((_, stop)) = &self.monitor {
            stop.cancel();
        }
    }
}

/// The accept loop's state.
struct Acceptor {
    shared: Arc<Shared>,
    conns: CancellationToken,
    tracker: TaskTracker,
    reloaded: watch::Sender<u64>,
}

impl Acceptor {
    /// Accepts until `stop` is cancelled, then drops the listener.
    async fn run(self, listener: TcpListener, stop: CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            let accepted = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff.reset();
                    self.spawn_connection(stream, peer);
                }
                Err(e) => {
                    let delay = backoff.failed(&e);
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        tracing::debug!("Client accept loop exiting..");
    }

    fn spawn_connection(&self, stream: TcpStream, peer: SocketAddr) {
        let wake = Arc::new(Wake::default());
        // Before accept: see `open_connection`.
        let reloaded = self.reloaded.subscribe();
        let nodelay = stream.set_nodelay(true);
        let conn = open_connection(&self.shared, peer, nodelay, wake.clone());
        let (rd, wr) = stream.into_split();
        let token = self.conns.child_token();
        let ctx = WriterCtx {
            handle: Arc::clone(conn.handle()),
            wake,
            shared: Arc::clone(&self.shared),
            peer,
        };
        self.tracker.spawn(writer::run(ctx, token.clone(), wr));
        self.tracker.spawn(reader::run(
            conn,
            rd,
            Arc::clone(&self.shared),
            token,
            reloaded,
        ));
    }
}
