//! The seam between the program and a runtime: the program parses flags, loads config, sets
//! up logging and handles signals; a [`Launcher`] starts the server on its runtime and hands
//! back a [`RunningServer`] the program reloads and stops. `natsd-std` launches on std
//! threads ([`crate::launcher::StdLauncher`]); `natsd-tokio` on a tokio runtime it owns.

use std::io;
use std::net::SocketAddr;

use natsd_core::options::Options;

use crate::StartInfo;

/// A server running on some runtime, driven from the program's (blocking) main thread.
pub trait RunningServer {
    /// The address the client listener is bound to (the real port when 0 was asked for).
    fn local_addr(&self) -> SocketAddr;

    /// Applies reloaded options (only the reloadable fields change) and makes every live
    /// connection re-check itself (limits, keep-alive, re-authentication). Returns once the
    /// change is published; idle connections act on it within the runtime's documented bound.
    fn reload(&self, opts: &Options);

    /// The server's shared state (clients, stats, options).
    fn shared(&self) -> &std::sync::Arc<natsd_core::shared::Shared>;

    /// The route listener's address, in a cluster (the real port when 0 was asked for).
    fn cluster_addr(&self) -> Option<SocketAddr>;

    /// Lame duck mode, run by the server's node (`Node::handle_lame_duck`, paced as Go):
    /// stop accepting, then close the clients one by one. Returns when the node says to
    /// shut down; the caller then calls [`shutdown`](Self::shutdown).
    fn lame_duck(&mut self, duration: std::time::Duration, grace: std::time::Duration);

    /// Graceful stop: stop accepting, flush and close every client (bounded by the write
    /// deadline plus slack), log `Server Exiting..`. Blocks until done.
    fn shutdown(self: Box<Self>);
}

/// One runtime the program can run a server on, chosen with `--runtime NAME`.
pub trait Launcher {
    /// The name `--runtime` takes (`tokio`, `std`).
    fn name(&self) -> &'static str;

    /// Binds and starts serving, logging the Go server's startup lines (see
    /// [`crate::startup`]). Called on the program's main thread, after the signal
    /// mask is set, so threads the runtime spawns inherit it. Errors: the bind failed, the OS
    /// had no randomness, or the runtime could not start.
    fn start(&self, opts: Options, start: StartInfo) -> io::Result<Box<dyn RunningServer>>;

    /// What this runtime would change or refuse in `opts`, as warnings (`-t` prints them;
    /// `start` logs them). None by default.
    fn warnings(&self, opts: &Options) -> Vec<String> {
        let _ = opts;
        Vec::new()
    }
}
