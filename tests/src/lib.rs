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

/// Declares one `#[tokio::test]` per runtime for each listed `async fn name(rt: Runtime)`:
/// `name::tokio` and `name::std`, so every black-box test runs on both runtimes.
#[macro_export]
macro_rules! runtimes {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn tokio() {
                    super::$name($crate::ours::Runtime::Tokio).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn std() {
                    super::$name($crate::ours::Runtime::Std).await
                }
            }
        )*
    };
}

use std::time::Duration;

/// The longest any single wait in a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
