//! natsd-tokio: drives the sans-IO [`natsd_core`] engine with tokio, and the `nats-server`
//! binary's command line, logging and signals.
//!
//! The adapter is thin: sockets, timers and tasks here, every decision in the core.
//!
//! # Layout
//!
//! - [`server`]: [`Server`]: bind, accept loop, per-connection tasks, bounded shutdown.
//! - `reader`: per connection, socket reads and the timer into the core's `Connection`.
//! - `writer`: per connection, the outbound queue into the socket, with a write deadline.
//! - [`background`]: [`BackgroundServer`], a server on its own thread for synchronous callers.
//! - `clock`: the core's [`natsd_core::Time`] from a process-wide monotonic origin.
//! - [`identity`]: the server id and the PRNG seed from real randomness.
//! - [`cli`]: the binary's pieces: Go-style flag parsing, usage text, logging, signals,
//!   pid and ports files.
//!
//! # Tasks per connection
//!
//! The reader owns the `Connection` (`&mut`, no locks). The writer is woken through the core's
//! `Notify`. Whichever ends first, the other follows: the core closing the queue wakes the
//! writer, which flushes (or not) and cancels the connection's token, which stops the reader.

#![warn(missing_docs)]

pub mod background;
pub mod cli;
mod clock;
pub mod identity;
mod reader;
pub mod server;
mod writer;

pub use background::BackgroundServer;
pub use server::Server;
