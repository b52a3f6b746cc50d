//! natsd-adapter: what every runtime shares, beneath them all, with no async in it: the seam
//! between the program and a runtime ([`runtime`]: the [`Launcher`](runtime::Launcher) and
//! [`RunningServer`](runtime::RunningServer) traits), and the runtime-neutral adapter pieces.
//! `natsd-std` and `natsd-tokio` are siblings above it; only sockets, timers and waiting differ
//! between them. The program (`natsd-server`, the `nats-server` binary) sits above both.
//!
//! - [`runtime`]: the traits a runtime implements for the program.
//! - [`accept`]: the accept-error back-off; accepted socket → core `Connection`.
//! - [`startup`]: server id and seed, the Go server's banner, `Listening…`, [`StartInfo`].
//! - [`reload`]: the server-wide half of a config reload.
//! - [`events`]: the core's `ConnEvent`s to `tracing`.
//! - [`monitor`]: the monitoring HTTP endpoints as (status, type, body) from a request line;
//!   [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`drain`]: [`Outbox`], the writer's buffers and what to do after each `take`; the
//!   slow-consumer line; the reload-aware write deadline.
//! - [`listener`]: binding the client port with a large accept backlog (std's is 128).
//! - [`clock`]: the core's [`natsd_core::Time`] from a process-wide monotonic origin.
//! - [`identity`]: the server id and the PRNG seed from real randomness.

#![warn(missing_docs)]

pub mod accept;
pub mod callout;
pub mod clock;
pub mod drain;
pub mod events;
pub mod identity;
pub mod listener;
pub mod metrics;
pub mod monitor;
pub mod node_driver;
pub mod readbuf;
pub mod reload;
pub mod runtime;
pub mod startup;
pub mod tls;

pub use drain::{DeadlineCache, Outbox, Step};
pub use startup::{join_host_port, StartInfo};
