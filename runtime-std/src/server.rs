//! The server: binds the client port, accepts connections, and shuts down cleanly.
//!
//! One accept thread blocks in `accept`. Per accepted socket it picks a worker (round robin),
//! creates the core's [`Connection`](natsd_core::conn::Connection) with that worker's
//! wake-up, and hands both over (`poller::Inbox::adopt`); a TLS client first settles its
//! start (INFO, handshake) on a short-lived thread of its own, bounded by the TLS timeout.
//! Every connection holds a `Tracker` guard until it is finished, so [`Server::shutdown`]
//! can wait for all of them with a bound.
//!
//! Stopping the accept thread: a stop flag, then a connection to our own listener so the
//! blocking `accept` returns and sees the flag. The accept thread owns the listener and drops
//! it on the way out, so once it is joined the port no longer accepts.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_core::shared::Shared;

use crate::conn::{Job, NewConn};
use crate::monitor_http::HttpMonitor;
use crate::poller::{ConnWake, Pool};
use crate::tracker::Tracker;
use natsd_adapter::accept::{open_connection, Backoff};
use natsd_adapter::startup::{self, StartInfo};
use natsd_adapter::{clock, listener};

/// Extra time, past the write deadline, that shutdown waits for connections to finish.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(1);
/// How long shutdown waits for aborted connections after the grace period.
const ABORT_WAIT: Duration = Duration::from_secs(2);
/// How long stopping waits for the accept thread (and its self-connection).
const ACCEPT_STOP_WAIT: Duration = Duration::from_secs(2);
/// Stack size of a TLS start's thread (virtual memory; a handshake is shallow).
const TLS_START_STACK: usize = 512 * 1024;
/// Most worker threads: past the cores, more workers only add context switches.
const MAX_WORKERS: usize = 64;

/// A running NATS server on std threads.
///
/// Dropping it without [`shutdown`](Self::shutdown) aborts it without waiting: the accept
/// thread is told to stop and every connection is closed at once ("close now").
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    control: Arc<Control>,
    tracker: Arc<Tracker>,
    /// The accept thread; `None` once stopped.
    accept: Option<JoinHandle<()>>,
    /// The monitoring HTTP listener, when enabled.
    monitor: Option<HttpMonitor>,
    /// The route listener's address and its accept thread's control, in a cluster.
    routes: Option<(SocketAddr, Arc<Control>)>,
    /// The node's driver (routes, lame duck).
    node: Option<natsd_adapter::node_driver::NodeDriver>,
    /// The client TLS config, shared with the acceptor.
    tls: Arc<natsd_adapter::tls::TlsState>,
    /// The worker threads that serve every connection.
    pool: Arc<Pool>,
}

/// Flags the accept thread checks after every `accept`, and its "ended" signal.
#[derive(Debug, Default)]
struct Control {
    stop: AtomicBool,
    /// Set with `stop` by `Drop`: clients accepted while stopping are aborted too.
    abort: AtomicBool,
    /// Set when the accept thread ends (however it ends: see [`AcceptDone`]).
    ended: Mutex<bool>,
    ended_cv: Condvar,
}

impl Control {
    /// Waits until the accept thread ended, at most `bound`. Returns whether it did.
    fn wait_ended(&self, bound: Duration) -> bool {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        let (ended, _) = self
            .ended_cv
            .wait_timeout_while(ended, bound, |ended| !*ended)
            .unwrap_or_else(|e| e.into_inner());
        *ended
    }
}

/// Held by the accept thread; dropping it (on return or a panic) signals that it ended.
struct AcceptDone(Arc<Control>);

impl Drop for AcceptDone {
    fn drop(&mut self) {
        *self.0.ended.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.ended_cv.notify_all();
    }
}

impl Server {
    /// Binds `opts.host:opts.port` (port 0 picks a free port), creates the shared state with a
    /// fresh server id, logs the Go server's startup lines, and starts the accept thread.
    ///
    /// `opts.port` is replaced by the bound port so INFO reports it; `opts.seed` 0 means
    /// "pick one from real randomness". Blocks only to bind. Errors: the bind failed, the OS
    /// had no randomness, or the accept thread could not be spawned.
    pub fn start(opts: Options) -> io::Result<Server> {
        Server::start_with(opts, StartInfo::default())
    }

    /// [`start`](Self::start), with a config file name and warnings for the banner.
    pub fn start_with(mut opts: Options, start: StartInfo) -> io::Result<Server> {
        let server_key = startup::prepare(&mut opts, &start)?;
        let server_id = server_key.public_key();
        let listener = listener::bind(&opts.host, opts.port)?;
        let local_addr = listener.local_addr()?;
        opts.port = local_addr.port();
        let route_listener = startup::bind_routes(&mut opts)?;
        let host = opts.host.clone();
        let shared = Arc::new(Shared::new(opts, server_id, clock::now()));
        // Go starts monitoring before it logs the client listener.
        let monitor = match &start.monitor {
            Some(m) => Some(HttpMonitor::start(
                Arc::clone(&shared),
                &startup::monitor_config(m, &host),
            )?),
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
        let control = Arc::new(Control::default());
        let tracker = Arc::new(Tracker::default());
        let pool = Arc::new(Pool::start(workers(), &shared)?);
        let tls = Arc::new(natsd_adapter::tls::TlsState::default());
        tls.install(shared.opts().tls.as_ref())
            .map_err(io::Error::other)?;
        let acceptor = Acceptor {
            shared: Arc::clone(&shared),
            tls: Arc::clone(&tls),
            control: Arc::clone(&control),
            tracker: Arc::clone(&tracker),
            pool: Arc::clone(&pool),
            route: false,
        };
        let done = AcceptDone(Arc::clone(&control));
        let accept = thread::Builder::new()
            .name("natsd-accept".into())
            .spawn(move || {
                let _done = done;
                acceptor.run(listener);
            })?;
        let mut routes = None;
        if let Some(l) = route_listener {
            let addr = l.local_addr()?;
            let rcontrol = Arc::new(Control::default());
            let acceptor = Acceptor {
                shared: Arc::clone(&shared),
                tls: Arc::new(natsd_adapter::tls::TlsState::default()),
                control: Arc::clone(&rcontrol),
                tracker: Arc::clone(&tracker),
                pool: Arc::clone(&pool),
                route: true,
            };
            let done = AcceptDone(Arc::clone(&rcontrol));
            thread::Builder::new()
                .name("natsd-route-accept".into())
                .spawn(move || {
                    let _done = done;
                    acceptor.run(l);
                })?;
            routes = Some((addr, rcontrol));
        }
        let host_impl = Arc::new(Host {
            shared: Arc::clone(&shared),
            tracker: Arc::clone(&tracker),
            pool: Arc::clone(&pool),
            control: Arc::clone(&control),
            local_addr,
        });
        let node = natsd_adapter::node_driver::NodeDriver::start(Arc::clone(&shared), host_impl)?;
        startup::log_ready();
        Ok(Server {
            tls,
            pool,
            routes,
            node: Some(node),
            shared,
            local_addr,
            control,
            tracker,
            accept: Some(accept),
            monitor,
        })
    }

    /// Applies reloaded options: swaps them in the core (only the reloadable fields change;
    /// see `Shared::apply_reload`) and closes the newest clients over a lowered
    /// `max_connections` (logging how many, as Go), and wakes every worker, which runs
    /// `Connection::handle_config_change` (limits, keep-alive, re-authentication) on each of
    /// its connections. Returns at once.
    pub fn reload(&self, new: &Options) {
        // A certificate that no longer loads keeps the old one (the program checked the
        // new config before calling this).
        if let Err(e) = self.tls.install(new.tls.as_ref()) {
            tracing::error!("TLS not reloaded: {e}");
        }
        natsd_adapter::reload::apply(&self.shared, new);
        self.pool.wake_all();
    }

    /// The address the client listener is bound to (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The monitoring listener's address, when monitoring is on (the real port when 0 was
    /// asked for).
    pub fn monitor_addr(&self) -> Option<SocketAddr> {
        self.monitor.as_ref().map(HttpMonitor::addr)
    }

    /// The route listener's address, in a cluster (the real port when 0 was asked for).
    pub fn cluster_addr(&self) -> Option<SocketAddr> {
        self.routes.as_ref().map(|(a, _)| *a)
    }

    /// Lame duck mode, run by the node (see `Node::handle_lame_duck`): returns when the
    /// node says to shut down. Blocks the caller.
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

    /// Stops the server: stops accepting (the port is closed when this returns), asks every
    /// client to flush and close (`Server Shutdown`), and waits for all connections,
    /// at most the write deadline plus a second; stragglers are then closed at once and
    /// waited for two more seconds. Logs `Initiating Shutdown...` and `Server Exiting..` as
    /// the Go server does. Blocks the caller.
    pub fn shutdown(mut self) {
        tracing::info!("Initiating Shutdown...");
        if let Some(m) = self.monitor.take() {
            m.stop();
        }
        self.stop_accepting(true);
        if let Some(mut node) = self.node.take() {
            node.stop();
        }
        self.stop_routes();
        // Go announces the shutdown on `$SYS.SERVER.<id>.SHUTDOWN` before closing clients.
        let _ = natsd_core::events::shutdown(&self.shared, clock::now());
        self.shared.close_all(CloseReason::ServerShutdown);
        for r in self.shared.routes().list() {
            r.handle.close_after_flush(CloseReason::ServerShutdown);
        }
        let grace = self.shared.opts().write_deadline + SHUTDOWN_SLACK;
        if !self.tracker.wait_idle(grace) {
            tracing::warn!("Connections did not close within {grace:?}; aborting them");
            abort_all(&self.shared);
            if !self.tracker.wait_idle(ABORT_WAIT) {
                tracing::warn!(
                    "{} connections still open; leaving them",
                    self.tracker.live()
                );
            }
        }
        self.pool.stop(true);
        tracing::info!("Server Exiting..");
    }

    /// Stops accepting (lame duck mode): the listener closes, live clients stay. Idempotent;
    /// blocks until the accept thread ended (bounded).
    pub fn stop_accepting_now(&mut self) {
        self.stop_accepting(true);
    }

    /// Stops the route accept thread (bounded wait).
    fn stop_routes(&mut self) {
        if let Some((addr, control)) = self.routes.take() {
            control.stop.store(true, Ordering::Release);
            let _ = TcpStream::connect_timeout(&connectable(addr), ACCEPT_STOP_WAIT);
            control.wait_ended(ACCEPT_STOP_WAIT);
        }
    }

    /// Sets the stop flag and wakes the accept thread; with `wait`, joins it (bounded).
    fn stop_accepting(&mut self, wait: bool) {
        let Some(handle) = self.accept.take() else {
            return;
        };
        self.control.stop.store(true, Ordering::Release);
        // A blocking accept only returns for a connection: make one. If it fails the accept
        // thread is already gone or the OS is out of sockets; the wait below is bounded.
        let wake_timeout = if wait {
            ACCEPT_STOP_WAIT
        } else {
            Duration::from_millis(100)
        };
        let _ = TcpStream::connect_timeout(&connectable(self.local_addr), wake_timeout);
        if !wait {
            return;
        }
        if self.control.wait_ended(ACCEPT_STOP_WAIT) {
            // Ended: the listener is closed. A panic there was a bug, already reported.
            let _ = handle.join();
        } else {
            tracing::warn!("The accept thread did not stop within {ACCEPT_STOP_WAIT:?}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.accept.is_some() {
            // Not shut down: abort without waiting.
            self.control.abort.store(true, Ordering::Release);
            self.stop_accepting(false);
            abort_all(&self.shared);
        }
        // Idempotent: after `shutdown` the workers are already gone.
        self.pool.stop(false);
        if let Some((addr, control)) = self.routes.take() {
            control.stop.store(true, Ordering::Release);
            let _ = TcpStream::connect_timeout(&connectable(addr), Duration::from_millis(100));
        }
    }
}

/// Closes every client now, dropping what is queued; their threads then end promptly.
fn abort_all(shared: &Shared) {
    for (h, _) in shared.client_list() {
        h.close_now(CloseReason::ServerShutdown);
    }
    for r in shared.routes().list() {
        r.handle.close_now(CloseReason::ServerShutdown);
    }
}

/// An address we can connect to for `addr`: the loopback address when bound to "any".
fn connectable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// The accept thread's state: clients, or routes on the cluster port.
struct Acceptor {
    shared: Arc<Shared>,
    /// The client TLS config (swapped on reload).
    tls: Arc<natsd_adapter::tls::TlsState>,
    control: Arc<Control>,
    tracker: Arc<Tracker>,
    pool: Arc<Pool>,
    route: bool,
}

impl Acceptor {
    /// Accepts until the stop flag is set, then drops the listener.
    fn run(self, listener: TcpListener) {
        let mut backoff = Backoff::default();
        loop {
            let accepted = listener.accept();
            if self.control.stop.load(Ordering::Acquire) {
                // Our own wake-up connection, or a client too late: dropped (closed).
                break;
            }
            match accepted {
                Ok((stream, peer)) => {
                    backoff.reset();
                    if self.route {
                        spawn_connection(
                            &self.shared,
                            &self.pool,
                            &self.tracker,
                            stream,
                            peer,
                            None,
                            |sh, _, wake| natsd_adapter::accept::open_route(sh, peer, wake, None),
                        );
                    } else {
                        spawn_connection(
                            &self.shared,
                            &self.pool,
                            &self.tracker,
                            stream,
                            peer,
                            self.tls.current(),
                            |sh, nodelay, wake| open_connection(sh, peer, nodelay, wake),
                        );
                    }
                }
                Err(e) => thread::sleep(backoff.failed(&e)),
            }
        }
        drop(listener);
        if self.control.abort.load(Ordering::Acquire) {
            // A client registered while `Drop` was aborting the others.
            abort_all(&self.shared);
        }
        tracing::debug!("Client accept loop exiting..");
    }
}

/// How many workers: one per core the process may use.
fn workers() -> usize {
    thread::available_parallelism()
        .map_or(2, usize::from)
        .min(MAX_WORKERS)
}

/// Creates the core connection with a wake-up on the worker it goes to, and hands it over
/// (after its TLS start, when the server has TLS).
fn spawn_connection(
    shared: &Arc<Shared>,
    pool: &Pool,
    tracker: &Arc<Tracker>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    make: impl FnOnce(&Arc<Shared>, io::Result<()>, Arc<ConnWake>) -> natsd_core::conn::Connection,
) {
    let inbox = pool.pick();
    let wake = Arc::new(ConnWake::new(Arc::clone(&inbox)));
    // Before accept: see `open_connection`.
    let generation = shared.options_generation();
    let nodelay = stream.set_nodelay(true);
    let conn = make(shared, nodelay, Arc::clone(&wake));
    let nc = NewConn {
        job: Job::new(conn, Arc::clone(shared)),
        stream,
        tls: None,
        wake,
        peer,
        generation,
        guard: tracker.enter(),
    };
    match tls {
        None => inbox.adopt(nc),
        Some(config) => spawn_tls(shared, nc, config),
    }
}

/// A client on a server with TLS: a thread of its own settles the start (INFO, handshake,
/// each step bounded by the TLS timeout; see `tls::settle`), then hands the connection to
/// its worker. A thread that cannot be spawned closes the connection (`nc` is dropped).
fn spawn_tls(shared: &Arc<Shared>, mut nc: NewConn, config: Arc<rustls::ServerConfig>) {
    let (peer, cid) = (nc.peer, nc.job.conn().cid());
    let sh = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("natsd-tls-{cid}"))
        .stack_size(TLS_START_STACK)
        .spawn(move || {
            let opts = sh.opts();
            let Some(o) = opts.tls.as_ref() else {
                return; // TLS switched off by a reload meanwhile: dropping `nc` closes it.
            };
            let settled = crate::tls::settle(
                nc.job.conn(),
                &nc.stream,
                peer,
                config,
                o,
                opts.allow_non_tls,
                &sh,
            );
            match settled {
                crate::tls::Settled::Tls(s) => nc.tls = Some(s),
                crate::tls::Settled::Plain => {}
                crate::tls::Settled::Closed => return,
            }
            let inbox = Arc::clone(nc.wake.inbox());
            inbox.adopt(nc);
        });
    if let Err(e) = spawned {
        tracing::error!("{peer} - cid:{cid} - could not spawn the TLS start thread: {e}");
    }
}

/// The node's actions on this runtime.
struct Host {
    shared: Arc<Shared>,
    tracker: Arc<Tracker>,
    pool: Arc<Pool>,
    control: Arc<Control>,
    local_addr: SocketAddr,
}

impl natsd_adapter::node_driver::NodeHost for Host {
    fn dial(&self, url: natsd_core::options::RouteUrl) {
        let shared = Arc::clone(&self.shared);
        let tracker = Arc::clone(&self.tracker);
        let pool = Arc::clone(&self.pool);
        let spawned = thread::Builder::new()
            .name("natsd-dial".into())
            .spawn(move || {
                let dialled = url.addr().to_socket_addrs_first().and_then(|a| {
                    TcpStream::connect_timeout(&a, natsd_adapter::node_driver::ROUTE_DIAL_TIMEOUT)
                });
                match dialled.and_then(|s| s.peer_addr().map(|p| (s, p))) {
                    Ok((stream, peer)) => spawn_connection(
                        &shared,
                        &pool,
                        &tracker,
                        stream,
                        peer,
                        None,
                        |sh, _, wake| natsd_adapter::accept::open_route(sh, peer, wake, Some(url)),
                    ),
                    Err(e) => natsd_adapter::accept::dial_failed(&shared, url, &e),
                }
            });
        if let Err(e) = spawned {
            tracing::error!("could not spawn a route dial thread: {e}");
        }
    }

    fn stop_accepting(&self) {
        self.control.stop.store(true, Ordering::Release);
        // Wakes the blocking accept so it sees the flag (bounded).
        let _ = TcpStream::connect_timeout(&connectable(self.local_addr), ACCEPT_STOP_WAIT);
    }
}

/// The first address `host:port` resolves to.
trait FirstAddr {
    fn to_socket_addrs_first(&self) -> io::Result<SocketAddr>;
}

impl FirstAddr for String {
    fn to_socket_addrs_first(&self) -> io::Result<SocketAddr> {
        use std::net::ToSocketAddrs;
        self.to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Server>();
    }

    #[test]
    fn connectable_maps_any_to_loopback() {
        let a: SocketAddr = "0.0.0.0:99".parse().unwrap();
        assert_eq!(connectable(a), "127.0.0.1:99".parse().unwrap());
        let a: SocketAddr = "[::]:99".parse().unwrap();
        assert_eq!(connectable(a), "[::1]:99".parse().unwrap());
    }
}
