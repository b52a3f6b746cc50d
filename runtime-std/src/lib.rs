//! natsd-std: drives the sans-IO [`natsd_core`] engine with `std::net` sockets and threads.
//!
//! The same server as `natsd-tokio`, with no async runtime anywhere in its dependency tree:
//! blocking sockets, one thread per direction per connection, socket timeouts as timers.
//! The adapter is thin: sockets, timers and threads here, every decision in the core.
//!
//! # Layout
//!
//! - [`server`]: [`Server`]: bind, the accept thread, per-connection threads, bounded
//!   shutdown, and the live-thread tracker that shutdown waits on.
//! - `reader`: per connection, socket reads and the connection's timer into the core's
//!   `Connection` (the timer is the socket's read timeout).
//! - `writer`: per connection, the outbound queue into the socket with a write deadline, and
//!   `Wake`, the Condvar-based `Notify` that wakes it.
//! - [`monitor_http`]: the monitoring HTTP server (`tiny_http`) around `adapter::monitor`.
//! - [`launcher`]: [`StdLauncher`], this runtime behind the program's `--runtime std`.
//! - [`budget`]: how many connections two threads each can afford (caps `max_connections`).
//!
//! What it shares with `natsd-tokio` (startup lines, event logging, drain decisions, the
//! listener, the clock, identity, the runtime traits) is in `natsd-adapter`, beneath both;
//! the `nats-server` program is `natsd-server`, above both.
//!
//! # Threads per connection
//!
//! The reader thread owns the `Connection` (`&mut`, no locks) and blocks in `read`. The writer
//! thread sleeps on its `Wake` until the core queues bytes or closes the queue. Whichever ends
//! first, the other follows:
//!
//! - the reader sees EOF, an error or the core closing the connection → `handle_close` (or
//!   the core already did) closes the outbound queue → the writer is woken, flushes, shuts the
//!   socket down and exits;
//! - the writer stops (queue closed now, write deadline, write error) → it shuts the socket
//!   down both ways → the reader's blocking `read` returns EOF → `handle_close`, which takes
//!   the reason already on the queue.
//!
//! Panics mean bugs, never bad input: nothing a client sends reaches an `unwrap` here.

#![warn(missing_docs)]

pub mod budget;
pub mod launcher;
pub mod monitor_http;
mod reader;
pub mod server;
mod tls;
mod writer;

pub use launcher::StdLauncher;
pub use server::Server;
