//! natsd-tests: the black-box harness shared by the tests in `tests/tests/`.
//!
//! # Layout
//! - [`raw`]: a raw-protocol TCP client that reads with deadlines and flush barriers.
//! - [`go`]: starting Debian's Go `nats-server` for side-by-side checks, or saying loudly why
//!   it cannot run.
//! - [`ours`]: starting our server in-process on a port-0 listener.
//!
//! Every wait in here is bounded by [`TIMEOUT`]: a hung server fails a test, never hangs it.

pub mod go;
pub mod ours;
pub mod raw;

use std::time::Duration;

/// The longest any single wait in a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
