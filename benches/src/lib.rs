//! natsd-benches: the `natsd-bench` load generator's pieces.
//!
//! The criterion micro-benchmarks live in `benches/` (run with `cargo bench -p
//! natsd-benches`); this library is the load generator used by the `natsd-bench` binary and
//! `benches/compare.sh`:
//!
//! - [`client`]: a raw-protocol client on blocking sockets, parsing with the core's
//!   [`natsd_core::proto::Parser`];
//! - [`server`]: launching the server under test (127.0.0.1, free port, optional CPU pin)
//!   and reading its RSS;
//! - [`scenarios`]: `pub`, `pubsub`, `fanout`, `queue`, `reqrep`, `conns`, `subs`, `startup`;
//! - [`stats`]: medians, percentiles and ratios;
//! - [`sys`]: the file-descriptor limit and CPU pinning of the load generator itself.

pub mod client;
pub mod scenarios;
pub mod server;
pub mod stats;
pub mod sys;
