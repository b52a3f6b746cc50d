//! This runtime behind the program's `--runtime tokio`: [`TokioLauncher`] builds a
//! multi-thread tokio runtime and starts a [`Server`] on it; the program's main thread drives
//! it through [`RunningServer`] (blocking on the runtime only to start and to shut down).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use natsd_adapter::runtime::{Launcher, RunningServer};
use natsd_adapter::StartInfo;
use natsd_core::options::Options;
use natsd_core::shared::Shared;
use tokio::runtime::Runtime;

use crate::Server;

/// Starts servers on a tokio multi-thread runtime of their own (`--runtime tokio`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioLauncher;

/// A [`Server`] and the runtime it runs on.
struct OnRuntime {
    runtime: Runtime,
    server: Server,
}

impl Launcher for TokioLauncher {
    fn name(&self) -> &'static str {
        "tokio"
    }

    fn start(&self, opts: Options, start: StartInfo) -> io::Result<Box<dyn RunningServer>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("natsd")
            .build()?;
        let server = runtime.block_on(Server::start_with(opts, start))?;
        Ok(Box::new(OnRuntime { runtime, server }))
    }
}

impl RunningServer for OnRuntime {
    fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn reload(&self, opts: &Options) {
        self.server.reload(opts);
    }

    fn shared(&self) -> &Arc<Shared> {
        self.server.shared()
    }

    fn cluster_addr(&self) -> Option<SocketAddr> {
        self.server.cluster_addr()
    }

    fn lame_duck(&mut self, duration: std::time::Duration, grace: std::time::Duration) {
        // Called on the program's main thread, not a runtime worker: it may block.
        self.server.lame_duck(duration, grace);
    }

    fn shutdown(self: Box<Self>) {
        let OnRuntime { runtime, server } = *self;
        runtime.block_on(server.shutdown());
    }
}
