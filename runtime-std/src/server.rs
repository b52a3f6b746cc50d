//! The server: binds the client port, accepts connections, and shuts down cleanly.
//!
//! One accept thread blocks in `accept`. Per accepted socket it creates the core's
//! [`Connection`](natsd_core::conn::Connection) and spawns two threads, the `reader` (which owns the connection) and the
//! `writer`. Every connection thread holds a `Tracker` guard, so [`Server::shutdown`] can wait
//! for all of them with a bound.
//!
//! Stopping the accept thread: a stop flag, then a connection to our own listener so the
//! blocking `accept` returns and sees the flag. The accept thread owns the listener and drops
//! it on the way out, so once it is joined the port no longer accepts.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_core::shared::Shared;

use crate::monitor_http::HttpMonitor;
use crate::reader::ReaderJob;
use crate::writer::{Wake, WriterCtx};
use crate::{reader, writer};
use natsd_adapter::accept::{open_connection, Backoff};
use natsd_adapter::startup::{self, StartInfo};
use natsd_adapter::{clock, listener};

/// Extra time, past the write deadline, that shutdown waits for connections to finish.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(1);
/// How long shutdown waits for aborted connections after the grace period.
const ABORT_WAIT: Duration = Duration::from_secs(2);
/// How long stopping waits for the accept thread (and its self-connection).
const ACCEPT_STOP_WAIT: Duration = Duration::from_secs(2);
/// Stack sizes of connection threads (virtual memory; the core's work per read is shallow).
const READER_STACK: usize = 512 * 1024;
const WRITER_STACK: usize = 256 * 1024;

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
        if let Some(budget) = crate::budget::clamp(&mut opts) {
            tracing::warn!(
                "max_connections lowered to {budget} on the std runtime (two threads per connection; see vm.max_map_count)"
            );
        }
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
        let tls = Arc::new(natsd_adapter::tls::TlsState::default());
        tls.install(shared.opts().tls.as_ref())
            .map_err(io::Error::other)?;
        let acceptor = Acceptor {
            shared: Arc::clone(&shared),
            tls: Arc::clone(&tls),
            control: Arc::clone(&control),
            tracker: Arc::clone(&tracker),
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
            control: Arc::clone(&control),
            local_addr,
        });
        let node = natsd_adapter::node_driver::NodeDriver::start(Arc::clone(&shared), host_impl)?;
        startup::log_ready();
        Ok(Server {
            tls,
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
    /// `max_connections` (logging how many, as Go). Every reader thread then runs
    /// `Connection::handle_config_change` (limits, keep-alive, re-authentication) on its
    /// next read or timeout, at most [`RELOAD_CHECK`](crate::reader::RELOAD_CHECK) (100 ms)
    /// later for an idle connection. Returns at once.
    pub fn reload(&self, new: &Options) {
        // A certificate that no longer loads keeps the old one (the program checked the
        // new config before calling this).
        if let Err(e) = self.tls.install(new.tls.as_ref()) {
            tracing::error!("TLS not reloaded: {e}");
        }
        let mut new = new.clone();
        crate::budget::clamp(&mut new);
        natsd_adapter::reload::apply(&self.shared, &new);
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
    /// client to flush and close (`Server Shutdown`), and waits for all connection threads,
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
                    "{} connection threads still running; leaving them",
                    self.tracker.live()
                );
            }
        }
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
                            &self.tracker,
                            stream,
                            peer,
                            None,
                            |sh, _, wake| natsd_adapter::accept::open_route(sh, peer, wake, None),
                        );
                    } else {
                        spawn_connection(
                            &self.shared,
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

/// Creates the core connection and its reader and writer threads. A failure to spawn
/// closes the connection (the `ReaderJob` and the writer's socket are dropped).
fn spawn_connection(
    shared: &Arc<Shared>,
    tracker: &Arc<Tracker>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    make: impl FnOnce(&Arc<Shared>, io::Result<()>, Arc<Wake>) -> natsd_core::conn::Connection,
) {
    let wake = Arc::new(Wake::default());
    // Before accept: see `open_connection`.
    let generation = shared.options_generation();
    let nodelay = stream.set_nodelay(true);
    let conn = make(shared, nodelay, wake.clone());
    let cid = conn.cid();
    let ctx = WriterCtx {
        handle: Arc::clone(conn.handle()),
        wake,
        shared: Arc::clone(shared),
        peer,
    };
    let reader_job = ReaderJob::new(conn, Arc::clone(shared), CloseReason::ReadError, generation);
    if let Some(config) = tls {
        spawn_tls(shared, tracker, stream, peer, ctx, reader_job, config);
        return;
    }
    if !spawn_writer(tracker, &stream, ctx, None) {
        return; // drops `reader_job`: the connection closes
    }
    let guard = tracker.enter();
    let spawned = thread::Builder::new()
        .name(format!("natsd-r-{cid}"))
        .stack_size(READER_STACK)
        .spawn(move || {
            let _guard = guard;
            let mut rd = &stream;
            reader::run(reader_job, &stream, &mut rd);
        });
    if let Err(e) = spawned {
        // The dropped closure closed the connection; the writer flushes and ends.
        tracing::error!("{peer} - cid:{cid} - could not spawn the reader thread: {e}");
    }
}

/// Starts the writer thread of a connection (over `session` when TLS). False (logged) if
/// the socket could not be cloned or the thread not spawned: the caller drops the reader
/// job, which closes the connection.
fn spawn_writer(
    tracker: &Arc<Tracker>,
    stream: &TcpStream,
    ctx: WriterCtx,
    session: Option<Arc<crate::tls::Session>>,
) -> bool {
    let (peer, cid) = (ctx.peer, ctx.handle.cid);
    let write_half = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{peer} - cid:{cid} - could not clone the socket: {e}");
            return false;
        }
    };
    let guard = tracker.enter();
    let spawned = thread::Builder::new()
        .name(format!("natsd-w-{cid}"))
        .stack_size(WRITER_STACK)
        .spawn(move || {
            let _guard = guard;
            writer::run(&ctx, &write_half, session.as_deref());
        });
    if let Err(e) = spawned {
        tracing::error!("{peer} - cid:{cid} - could not spawn the writer thread: {e}");
        return false;
    }
    true
}

/// A client on a server with TLS: its reader thread settles the start (INFO, handshake;
/// see `tls::settle`), then starts the writer and reads through the session.
fn spawn_tls(
    shared: &Arc<Shared>,
    tracker: &Arc<Tracker>,
    stream: TcpStream,
    peer: SocketAddr,
    ctx: WriterCtx,
    mut reader_job: ReaderJob,
    config: Arc<rustls::ServerConfig>,
) {
    let cid = reader_job.conn().cid();
    let sh = Arc::clone(shared);
    let tracker2 = Arc::clone(tracker);
    let guard = tracker.enter();
    let spawned = thread::Builder::new()
        .name(format!("natsd-r-{cid}"))
        .stack_size(READER_STACK)
        .spawn(move || {
            let _guard = guard;
            let opts = sh.opts();
            let Some(o) = opts.tls.as_ref() else {
                return; // TLS switched off by a reload meanwhile: the job closes it.
            };
            let settled = crate::tls::settle(
                reader_job.conn(),
                &stream,
                peer,
                config,
                o,
                opts.allow_non_tls,
                &sh,
            );
            let session = match settled {
                crate::tls::Settled::Tls(s) => Some(s),
                crate::tls::Settled::Plain => None,
                crate::tls::Settled::Closed => return,
            };
            if !spawn_writer(&tracker2, &stream, ctx, session.clone()) {
                return; // drops `reader_job`: the connection closes
            }
            match session {
                Some(s) => {
                    let mut rd = crate::tls::Reader::new(s, &stream);
                    reader::run(reader_job, &stream, &mut rd);
                }
                None => {
                    let mut rd = &stream;
                    reader::run(reader_job, &stream, &mut rd);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("{peer} - cid:{cid} - could not spawn the reader thread: {e}");
    }
}

/// The node's actions on this runtime.
struct Host {
    shared: Arc<Shared>,
    tracker: Arc<Tracker>,
    control: Arc<Control>,
    local_addr: SocketAddr,
}

impl natsd_adapter::node_driver::NodeHost for Host {
    fn dial(&self, url: natsd_core::options::RouteUrl) {
        let shared = Arc::clone(&self.shared);
        let tracker = Arc::clone(&self.tracker);
        let spawned = thread::Builder::new()
            .name("natsd-dial".into())
            .spawn(move || {
                let dialled = url.addr().to_socket_addrs_first().and_then(|a| {
                    TcpStream::connect_timeout(&a, natsd_adapter::node_driver::ROUTE_DIAL_TIMEOUT)
                });
                match dialled.and_then(|s| s.peer_addr().map(|p| (s, p))) {
                    Ok((stream, peer)) => {
                        spawn_connection(&shared, &tracker, stream, peer, None, |sh, _, wake| {
                            natsd_adapter::accept::open_route(sh, peer, wake, Some(url))
                        })
                    }
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

/// Counts live connection threads so shutdown can wait for them with a bound.
#[derive(Debug, Default)]
struct Tracker {
    live: Mutex<usize>,
    idle: Condvar,
}

/// Held by one connection thread; leaving (even by a panic) counts it out.
struct Tracked(Arc<Tracker>);

impl Tracker {
    /// Counts a thread in. Taken before spawning, so shutdown never misses a starting thread.
    fn enter(self: &Arc<Self>) -> Tracked {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Tracked(Arc::clone(self))
    }

    fn live(&self) -> usize {
        *self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until no thread is live, at most `bound`. Returns whether that happened.
    fn wait_idle(&self, bound: Duration) -> bool {
        let end = Instant::now() + bound;
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        while *live > 0 {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            live = self
                .idle
                .wait_timeout(live, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut live = self.0.live.lock().unwrap_or_else(|e| e.into_inner());
        *live -= 1;
        if *live == 0 {
            self.0.idle.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_waits_for_guards_with_a_bound() {
        let t = Arc::new(Tracker::default());
        assert!(t.wait_idle(Duration::ZERO));
        let g = t.enter();
        assert!(!t.wait_idle(Duration::from_millis(10)));
        let th = thread::spawn(move || drop(g));
        assert!(t.wait_idle(Duration::from_secs(10)));
        th.join().unwrap();
        assert_eq!(t.live(), 0);
    }

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
