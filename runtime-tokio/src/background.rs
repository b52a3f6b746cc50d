//! A server on its own thread and runtime, for synchronous callers (tests, embedding).

use std::io;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use natsd_core::options::Options;
use natsd_core::shared::Shared;
use tokio::sync::oneshot;

use crate::Server;

/// Worker threads of a background server's runtime.
const WORKERS: usize = 2;

/// A [`Server`] running on a dedicated thread with its own multi-thread runtime.
///
/// Dropping it shuts the server down and joins the thread, like [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct BackgroundServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Starts a server for `opts` on a new thread and returns once it is listening.
    /// Errors: the runtime could not be built, the thread not spawned, or [`Server::start`]
    /// failed.
    pub fn start(opts: Options) -> io::Result<BackgroundServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("natsd-bg")
            .enable_all()
            .build()?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("natsd-bg-main".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let server = match Server::start(opts).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok((server.local_addr(), Arc::clone(server.shared()))));
                    // Either an explicit stop or the owner dropping the sender.
                    let _ = stop_rx.await;
                    server.shutdown().await;
                });
            })?;
        match ready_rx.recv() {
            Ok(Ok((local_addr, shared))) => Ok(BackgroundServer {
                local_addr,
                shared,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other(
                    "background server thread died while starting",
                ))
            }
        }
    }

    /// The address the client listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The core's shared state (stats, clients).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Shuts the server down gracefully (see [`Server::shutdown`]) and joins its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
