//! Monitoring data: pure builders from the shared state to the Go server's monitoring JSON
//! documents (`/varz`, `/connz`, `/subsz`, `/healthz`, `/routez`, `/accountz`). No HTTP here:
//! the runtimes serve these (see `natsd_std::adapter::monitor`).
//!
//! Contract of every builder: it reads [`Shared`](crate::shared::Shared) through its
//! short-lock accessors and atomics (never two locks at once, never a lock while serialising),
//! takes "now" as a [`Clock`] (the core has no clock), and returns a `serde` struct whose
//! field names, JSON types and units are the Go server's 2.9.10. Query decoding
//! ([`query`], `*Options::from_query`) reproduces Go's error texts for the HTTP 400 answer.
//!
//! - [`timefmt`]: RFC 3339 from Unix nanoseconds, Go's uptime strings, [`Clock`].
//! - [`query`]: query strings and Go's `strconv` decoding.
//! - [`varz`], [`connz`], [`subsz`]: the main documents; [`misc`]: healthz, routez;
//!   [`accountz`]: accountz, accstatz.

pub mod accountz;
pub mod connz;
pub mod misc;
pub mod query;
pub mod subsz;
pub mod timefmt;
pub mod varz;

use std::collections::BTreeMap;

use serde::Serialize;

pub use accountz::{accountz, accstatz, Accountz, Accstatz};
pub use connz::{connz, ConnInfo, Connz, ConnzOptions};
pub use misc::{healthz, routez, Healthz, Routez};
pub use query::{Query, QueryError};
pub use subsz::{subsz, SubDetail, SubszOptions, SubszReply};
pub use timefmt::Clock;
pub use varz::{varz, Varz};

use crate::Time;

/// Default page size of `/connz` and `/subsz` (Go's `DefaultConnListSize`).
pub const DEFAULT_LIST_SIZE: usize = 1024;

/// An empty JSON object (`{}`): the shape Go gives `cluster`, `gateway`, … when unset.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Empty {}

/// What `/varz` needs from outside the core: the monitoring listener, process figures the
/// runtime measures, and request counts.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Monitoring host as configured (Go reports the configured host).
    pub http_host: String,
    /// Monitoring port (the bound one).
    pub http_port: u16,
    /// `http_base_path`.
    pub http_base_path: String,
    /// Resident memory, bytes.
    pub mem: u64,
    /// Percent CPU.
    pub cpu: f64,
    /// CPUs.
    pub cores: usize,
    /// Requests served per path (`/varz` → n).
    pub http_req_stats: BTreeMap<String, u64>,
    /// When the configuration was last (re)loaded.
    pub config_load_time: Time,
}
