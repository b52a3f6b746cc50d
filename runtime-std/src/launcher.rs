//! This runtime behind the program's `--runtime std`: [`StdLauncher`] starts a [`Server`],
//! which is the program's [`RunningServer`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use natsd_core::options::Options;
use natsd_core::shared::Shared;

use crate::Server;
use natsd_adapter::runtime::{Launcher, RunningServer};
use natsd_adapter::StartInfo;

/// Starts servers on std threads (`--runtime std`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdLauncher;

impl Launcher for StdLauncher {
    fn name(&self) -> &'static str {
        "std"
    }

    fn start(&self, opts: Options, start: StartInfo) -> io::Result<Box<dyn RunningServer>> {
        Ok(Box::new(Server::start_with(opts, start)?))
    }
}

impl RunningServer for Server {
    fn local_addr(&self) -> SocketAddr {
        Server::local_addr(self)
    }

    fn reload(&self, opts: &Options) {
        Server::reload(self, opts);
    }

    fn shared(&self) -> &Arc<Shared> {
        Server::shared(self)
    }

    fn cluster_addr(&self) -> Option<SocketAddr> {
        Server::cluster_addr(self)
    }

    fn lame_duck(&mut self, duration: std::time::Duration, grace: std::time::Duration) {
        Server::lame_duck(self, duration, grace);
    }

    fn shutdown(self: Box<Self>) {
        Server::shutdown(*self);
    }
}
