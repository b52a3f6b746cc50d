//! natsd-std: drives the sans-IO [`natsd_core`] engine with `std::net` sockets and threads.
//!
//! The same server as `natsd-tokio`, with no async runtime anywhere in its dependency tree:
//! a small fixed pool of worker threads, each a readiness loop over mio's epoll, and no
//! thread per connection. The adapter is thin: sockets, timers and threads here, every
//! decision in the core.
//!
//! # Layout
//!
//! - [`server`]: [`Server`]: bind, the accept threads, the hand-over of each connection to
//!   a worker, bounded shutdown.
//! - `poller`: the workers: their loop, their inbox (the one part other threads touch), the
//!   core's `Notify` for a connection (`ConnWake`), the timer heap.
//! - `conn`: one connection on its worker: non-blocking reads into the core with flow
//!   control, the writer's decisions (`natsd_adapter::drain`), TLS without blocking.
//! - `tls`: the start of a TLS client (INFO, handshake) on a short-lived thread.
//! - `tracker`: counts live connections so shutdown can wait for them.
//! - [`monitor_http`]: the monitoring HTTP server (`tiny_http`) around `adapter::monitor`.
//! - [`launcher`]: [`StdLauncher`], this runtime behind the program's `--runtime std`.
//!
//! What it shares with `natsd-tokio` (startup lines, event logging, drain decisions, the
//! listener, the clock, identity, the runtime traits) is in `natsd-adapter`, beneath both;
//! the `nats-server` program is `natsd-server`, above both.
//!
//! # Threads
//!
//! One worker per core (`available_parallelism`), an accept thread per listener, the node's
//! driver, the monitor's HTTP threads. Short-lived ones: a TLS client's start (at most the
//! TLS timeout), an auth decision that may block (bcrypt, the auth callout), a route dial.
//! An idle connection costs no thread and no CPU: its only timer is the core's keep-alive.
//!
//! Panics mean bugs, never bad input: nothing a client sends reaches an `unwrap` here.

#![warn(missing_docs)]

mod conn;
pub mod launcher;
pub mod monitor_http;
mod poller;
pub mod server;
mod tls;
mod tracker;

pub use launcher::StdLauncher;
pub use server::Server;
