//! The monitoring HTTP server on std threads: `tiny_http` (synchronous, no async runtime)
//! around the runtime-neutral [`Monitor`]. One thread answers requests in turn; the
//! documents are built from short-lock snapshots, so a slow client of this port never
//! holds anything the message path needs.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use natsd_core::shared::Shared;

use natsd_adapter::monitor::{Monitor, MonitorConfig, EXTRA_HEADERS};
use natsd_adapter::startup::join_host_port;

/// A running monitoring listener; stopped by [`stop`](Self::stop) or on drop.
pub struct HttpMonitor {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HttpMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMonitor")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl HttpMonitor {
    /// Binds `cfg.host:cfg.port` (0: a free port), logs `Starting http monitor on
    /// HOST:PORT` as Go does, and serves on a thread. Errors: the bind failed.
    pub fn start(shared: Arc<Shared>, cfg: &MonitorConfig) -> io::Result<HttpMonitor> {
        let server = tiny_http::Server::http(join_host_port(&cfg.host, cfg.port))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("monitoring listener has no IP address"))?;
        tracing::info!(
            "Starting http monitor on {}",
            join_host_port(&cfg.host, addr.port())
        );
        let monitor = Monitor::new(shared, cfg, addr.port());
        let server = Arc::new(server);
        let srv = Arc::clone(&server);
        let thread = thread::Builder::new()
            .name("natsd-http".into())
            .spawn(move || serve(&srv, &monitor))?;
        Ok(HttpMonitor {
            server,
            addr,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            // A panic there would be a bug, already reported by the panic hook.
            let _ = t.join();
        }
    }
}

impl Drop for HttpMonitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(server: &tiny_http::Server, monitor: &Monitor) {
    for rq in server.incoming_requests() {
        let r = monitor.handle(rq.method().as_str(), rq.url());
        let mut resp = tiny_http::Response::from_data(r.body).with_status_code(r.status);
        let headers =
            std::iter::once(("Content-Type", r.content_type)).chain(EXTRA_HEADERS.iter().copied());
        for (k, v) in headers {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                resp.add_header(h);
            }
        }
        if let Err(e) = rq.respond(resp) {
            tracing::debug!("monitoring: could not answer: {e}");
        }
    }
}
