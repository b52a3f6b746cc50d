//! What every runtime adapter shares, with no async in it: the startup log lines, logging the
//! core's connection events, and the writer's drain decisions. `natsd-tokio` uses these as
//! they are; only sockets, timers and waiting differ between the runtimes.
//!
//! - [`accept`]: the accept-error back-off; accepted socket → core `Connection`.
//! - [`startup`]: server id and seed, the Go server's banner, `Listening…`, [`StartInfo`].
//! - [`reload`]: the server-wide half of a config reload.
//! - [`events`]: the core's `ConnEvent`s to `tracing`.
//! - [`monitor`]: the monitoring HTTP endpoints as (status, type, body) from a request line;
//!   [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`drain`]: [`Outbox`], the writer's buffers and what to do after each `take`; the
//!   slow-consumer line; the reload-aware write deadline.

pub mod accept;
pub mod drain;
pub mod events;
pub mod metrics;
pub mod monitor;
pub mod reload;
pub mod startup;

pub use drain::{DeadlineCache, Outbox, Step};
pub use startup::{join_host_port, StartInfo};
