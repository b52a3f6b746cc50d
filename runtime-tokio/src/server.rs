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
    /// The route listener's address, in a cluster.
    cluster_addr: Option<SocketAddr>,
    /// Its accept loop.
    route_accept: Option<JoinHandle<()>>,
    /// The node's driver (routes, lame duck).
    node: Option<natsd_adapter::node_driver::NodeDriver>,
    /// The client TLS config, shared with the acceptor.
    tls: Arc<natsd_adapter::tls::TlsState>,
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
        let server_key = startup::prepare(&mut opts, &start)?;
        let server_id = server_key.public_key();
        // Bound like the std runtime, with the Go server's accept backlog (tokio's `bind`
        // listens with std's 128: a burst of connects overflowed it and waited 1s for a SYN
        // retry; found by natsd-bench's `conns` scenario).
        let std_listener = natsd_adapter::listener::bind(&opts.host, opts.port)?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let local_addr = listener.local_addr()?;
        opts.port = local_addr.port();
        let routes = startup::bind_routes(&mut opts)?;
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
        shared.set_interface_ips(natsd_adapter::startup::interface_ips());
        shared.set_entropy(natsd_adapter::identity::os_entropy());
        shared.set_server_key(server_key);
        // Without monitoring, the `$SYS` services still need a wall clock (a monitor
        // installed its own above; the first one stays).
        shared.set_host(Arc::new(natsd_adapter::monitor::ProcessHost::plain(
            shared.start_time(),
        )));
        startup::log_listening(&host, local_addr.port());
        let stop_accept = CancellationToken::new();
        let conns = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (reloaded, _) = watch::channel(shared.options_generation());
        let tls = Arc::new(natsd_adapter::tls::TlsState::default());
        tls.install(shared.opts().tls.as_ref())
            .map_err(io::Error::other)?;
        let spawner = Arc::new(Spawner {
            tls,
            shared: Arc::clone(&shared),
            conns: conns.clone(),
            tracker: tracker.clone(),
            reloaded: reloaded.clone(),
        });
        let accept = tokio::spawn(
            Acceptor {
                spawner: Arc::clone(&spawner),
                route: false,
            }
            .run(listener, stop_accept.clone()),
        );
        let mut cluster_addr = None;
        let mut route_accept = None;
        if let Some(l) = routes {
            l.set_nonblocking(true)?;
            let l = TcpListener::from_std(l)?;
            cluster_addr = Some(l.local_addr()?);
            let acceptor = Acceptor {
                spawner: Arc::clone(&spawner),
                route: true,
            };
            route_accept = Some(tokio::spawn(acceptor.run(l, conns.clone())));
        }
        let tls = Arc::clone(&spawner.tls);
        let host_impl = Arc::new(Host {
            spawner,
            rt: tokio::runtime::Handle::current(),
            stop_accept: stop_accept.clone(),
        });
        let node = natsd_adapter::node_driver::NodeDriver::start(Arc::clone(&shared), host_impl)?;
        startup::log_ready();
        Ok(Server {
            tls,
            cluster_addr,
            route_accept,
            node: Some(node),
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
        // A certificate that no longer loads keeps the old one (the program checked the
        // new config with `natsd_adapter::tls::server_config` before calling this).
        if let Err(e) = self.tls.install(new.tls.as_ref()) {
            tracing::error!("TLS not reloaded: {e}");
        }
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

    /// The route listener's address, in a cluster (the real port when 0 was asked for).
    pub fn cluster_addr(&self) -> Option<SocketAddr> {
        self.cluster_addr
    }

    /// Lame duck mode, run by the node (see `Node::handle_lame_duck`): returns when the
    /// node says to shut down. Blocks the calling thread: call it off the runtime.
    pub fn lame_duck(&self, duration: Duration, grace: Duration) {
        if let Some(n) = &self.node {
            n.lame_duck(duration, grace);
        }
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
        if let Some(mut node) = self.node.take() {
            // Off the workers: it joins a thread.
            let _ = tokio::task::spawn_blocking(move || node.stop()).await;
        }
        if let Some(a) = self.route_accept.take() {
            a.abort();
        }
        // Go announces the shutdown on `$SYS.SERVER.<id>.SHUTDOWN` before closing clients.
        let _ = natsd_core::events::shutdown(&self.shared, clock::now());
        self.shared.close_all(CloseReason::ServerShutdown);
        for r in self.shared.routes().list() {
            r.handle.close_after_flush(CloseReason::ServerShutdown);
        }
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
        if let Some(a) = &self.route_accept {
            a.abort();
        }
    }
}

/// Spawns the reader and writer tasks of a connection, client or route.
struct Spawner {
    shared: Arc<Shared>,
    /// The client TLS config (swapped on reload).
    tls: Arc<natsd_adapter::tls::TlsState>,
    conns: CancellationToken,
    tracker: TaskTracker,
    reloaded: watch::Sender<u64>,
}

impl Spawner {
    /// `make` builds the core connection from the writer's wake-up (after the reload
    /// marker is taken: see `open_connection`).
    fn spawn(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        make: impl FnOnce(&Arc<Shared>, std::io::Result<()>, Arc<Wake>) -> natsd_core::conn::Connection,
    ) {
        let wake = Arc::new(Wake::default());
        let reloaded = self.reloaded.subscribe();
        let nodelay = stream.set_nodelay(true);
        let conn = make(&self.shared, nodelay, wake.clone());
        let (rd, wr) = stream.into_split();
        let token = self.conns.child_token();
        self.start_tasks(conn, wake, reloaded, token, peer, rd, wr);
    }

    /// A client on a server with TLS: INFO, then the handshake (or the handshake first),
    /// in a task of its own; then the reader and writer over the TLS stream.
    fn spawn_tls(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        config: Arc<rustls::ServerConfig>,
    ) {
        let wake = Arc::new(Wake::default());
        let reloaded = self.reloaded.subscribe();
        let nodelay = stream.set_nodelay(true);
        let mut conn = open_connection(&self.shared, peer, nodelay, wake.clone());
        let opts = self.shared.opts();
        let Some(tls) = opts.tls.clone() else {
            // TLS was switched off by a reload since this accept began: plain text.
            let (rd, wr) = stream.into_split();
            let token = self.conns.child_token();
            self.start_tasks(conn, wake, reloaded, token, peer, rd, wr);
            return;
        };
        let me = Arc::clone(self);
        let token = self.conns.child_token();
        self.tracker.spawn(async move {
            let settled = tokio::select! {
                biased;
                () = token.cancelled() => {
                    conn.handle_close(clock::now(), &me.shared, CloseReason::ServerShutdown);
                    natsd_adapter::events::drain_events(&mut conn);
                    return;
                }
                s = crate::tls::settle(&mut conn, stream, peer, config, &tls, opts.allow_non_tls, &me.shared) => s,
            };
            match settled {
                crate::tls::Settled::Tls(s) => {
                    let (rd, wr) = tokio::io::split(*s);
                    me.start_tasks(conn, wake, reloaded, token, peer, rd, wr);
                }
                crate::tls::Settled::Plain(s) => {
                    let (rd, wr) = s.into_split();
                    me.start_tasks(conn, wake, reloaded, token, peer, rd, wr);
                }
                crate::tls::Settled::Closed => {}
            }
        });
    }

    /// The reader and writer tasks of a connection whose transport is ready.
    #[allow(clippy::too_many_arguments)]
    fn start_tasks(
        &self,
        conn: natsd_core::conn::Connection,
        wake: Arc<Wake>,
        reloaded: watch::Receiver<u64>,
        token: CancellationToken,
        peer: SocketAddr,
        rd: impl reader::Source,
        wr: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    ) {
        let ctx = WriterCtx {
            handle: Arc::clone(conn.handle()),
            wake,
            shared: Arc::clone(&self.shared),
            peer,
        };
        self.tracker.spawn(writer::run(ctx, token.clone(), wr));
        self.tracker.spawn(reader::run(
            Box::new(conn),
            rd,
            Arc::clone(&self.shared),
            token,
            reloaded,
        ));
    }
}

/// The accept loop's state: clients, or routes on the cluster port.
struct Acceptor {
    spawner: Arc<Spawner>,
    route: bool,
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
                    if self.route {
                        self.spawner.spawn(stream, peer, |sh, _, wake| {
                            natsd_adapter::accept::open_route(sh, peer, wake, None)
                        });
                    } else if let Some(config) = self.spawner.tls.current() {
                        self.spawner.spawn_tls(stream, peer, config);
                    } else {
                        self.spawner.spawn(stream, peer, |sh, nodelay, wake| {
                            open_connection(sh, peer, nodelay, wake)
                        });
                    }
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
}

/// The node's actions on this runtime.
struct Host {
    spawner: Arc<Spawner>,
    rt: tokio::runtime::Handle,
    stop_accept: CancellationToken,
}

impl natsd_adapter::node_driver::NodeHost for Host {
    fn dial(&self, url: natsd_core::options::RouteUrl) {
        let spawner = Arc::clone(&self.spawner);
        self.rt.spawn(async move {
            let addr = url.addr();
            let dialled = tokio::time::timeout(
                natsd_adapter::node_driver::ROUTE_DIAL_TIMEOUT,
                TcpStream::connect(addr.as_str()),
            )
            .await;
            match dialled {
                Ok(Ok(stream)) => match stream.peer_addr() {
                    Ok(peer) => spawner.spawn(stream, peer, |sh, _, wake| {
                        natsd_adapter::accept::open_route(sh, peer, wake, Some(url))
                    }),
                    Err(e) => natsd_adapter::accept::dial_failed(&spawner.shared, url, &e),
                },
                Ok(Err(e)) => natsd_adapter::accept::dial_failed(&spawner.shared, url, &e),
                Err(_) => natsd_adapter::accept::dial_failed(
                    &spawner.shared,
                    url,
                    &std::io::Error::new(std::io::ErrorKind::TimedOut, "i/o timeout"),
                ),
            }
        });
    }

    fn stop_accepting(&self) {
        self.stop_accept.cancel();
    }
}
