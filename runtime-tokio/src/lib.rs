//! natsd-tokio: drives the sans-IO [`natsd_core`] engine with tokio. The `nats-server`
//! program (`natsd-server`, above the runtimes) runs it as [`TokioLauncher`], its default.
//!
//! The adapter is thin: sockets, timers and tasks here, every decision in the core.
//!
//! # Layout
//!
//! - [`server`]: [`Server`]: bind, accept loop, per-connection tasks, bounded shutdown.
//! - `reader`: per connection, socket reads and the timer into the core's `Connection`.
//! - `writer`: per connection, the outbound queue into the socket, with a write deadline.
//! - [`background`]: [`BackgroundServer`], a server on its own thread for synchronous callers.
//! - [`monitor_http`]: the monitoring HTTP server (hyper) around `natsd_adapter::monitor`.
//! - [`launcher`]: [`TokioLauncher`], this runtime behind `--runtime tokio` (the default).
//! - `clock`: tokio instants for the core's [`natsd_core::Time`] (the origin is
//!   `natsd_adapter::clock`'s).
//!
//! Shared with its sibling `natsd-std` through `natsd-adapter` (beneath both): the startup
//! lines, core event logging, the writer's drain decisions, the listener, the server id.
//!
//! # Tasks per connection
//!
//! The reader owns the `Connection` (`&mut`, no locks). The writer is woken through the core's
//! `Notify`. Whichever ends first, the other follows: the core closing the queue wakes the
//! writer, which flushes (or not) and cancels the connection's token, which stops the reader.

#![warn(missing_docs)]

pub mod background;
mod clock;
pub mod launcher;
pub mod monitor_http;
mod reader;
pub mod server;
mod tls;
mod writer;

pub use background::BackgroundServer;
pub use launcher::TokioLauncher;
pub use natsd_adapter::StartInfo;
pub use server::Server;
