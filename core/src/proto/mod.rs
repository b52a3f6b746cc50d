//! The NATS text protocol: a resumable parser for every op and encoders for the ones we send.
//!
//! # Layout
//! - [`op`]: the borrowed [`Op`] values the parser yields and its [`ParseError`]s.
//! - [`parser`]: [`Parser`], a byte-at-a-time state machine that never copies a payload that
//!   sits whole inside the read buffer and enforces `max_control_line`/`max_payload` as it goes.
//! - [`encode`]: appends ops to an output buffer without allocating beyond it.
//! - `route.rs`: the argument lines of the route verbs (`RS+`, `RS-`, `LS+`, `LS-`, and the
//!   fields of `RMSG` and a route's `HMSG`, whose queue-name lists have no fixed length).

pub mod encode;
pub mod op;
pub mod parser;
mod route;

pub use op::{ConnKind, Op, ParseError};
pub use parser::{BadArgs, Limits, Parser};

#[cfg(test)]
mod route_tests;
#[cfg(test)]
mod tests;
