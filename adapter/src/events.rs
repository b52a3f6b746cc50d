//! The core's connection events into `tracing`, the same on every runtime.

use natsd_core::conn::{ConnEvent, Connection, LogLevel};

/// Logs the core's pending events. Returns true once the connection reported `Closed`.
/// Call after every `handle_*` on `conn`.
pub fn drain_events(conn: &mut Connection) -> bool {
    let mut closed = false;
    while let Some(ev) = conn.poll_event() {
        match ev {
            ConnEvent::Log(level, msg) => log(level, &msg),
            ConnEvent::Closed(_) => closed = true,
        }
    }
    closed
}

/// Sends a core log line to `tracing` at the matching level.
pub fn log(level: LogLevel, msg: &str) {
    match level {
        LogLevel::Debug => tracing::debug!("{msg}"),
        LogLevel::Info => tracing::info!("{msg}"),
        LogLevel::Warn => tracing::warn!("{msg}"),
        LogLevel::Error => tracing::error!("{msg}"),
        LogLevel::Trace => tracing::trace!("{msg}"),
    }
}
