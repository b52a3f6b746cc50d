//! The auth callout (Go 2.10+, config mode): a client's credentials go to an external
//! service as a signed authorization request JWT on `$SYS.REQ.USER.AUTH` in the callout
//! account; the service answers with an authorization response JWT that carries a user JWT
//! (placing the client in an account, with permissions) or an error.
//!
//! # Contract
//!
//! Sans-IO like the rest of the core: a CONNECT that needs the callout becomes an
//! `AuthRequest` (see `Connection::poll_auth_request`) with [`AuthRequest::needs_callout`].
//! The runtime then, off its serving threads:
//!
//! 1. calls [`begin`] (publishes the request, signed with the server's nkey, into the
//!    callout account, with a reply inbox this module listens on), which returns a
//!    [`Pending`] or, when the request could not go out (no server key, too many in flight),
//!    a refusal;
//! 2. waits for [`Pending::replies`] at most [`Pending::timeout`] (the auth timeout, as Go);
//! 3. hands what came (or `None`: the timeout) to [`finish`], pure, which returns the
//!    `AuthDecision` to give the connection.
//!
//! Dropping the [`Pending`] unregisters its inbox. The bound on decisions in flight is
//! [`MAX_IN_FLIGHT`]; past it a client is refused at once (Go has no bound).
//!
//! [`AuthRequest::needs_callout`]: crate::conn::AuthRequest::needs_callout

pub mod cache;
mod claims;
mod operator;
mod registry;
#[cfg(test)]
mod tests;
pub mod webhook;

pub use cache::{cached, remember};
pub use claims::{request_claims, RequestInput};
pub use registry::{begin, finish, Pending, Registry, Stats, LATENCY_BUCKETS, MAX_IN_FLIGHT};
pub use webhook::WebhookOptions;

/// The subject requests go to (Go's `AuthCalloutSubject`).
pub const SUBJECT: &str = "$SYS.REQ.USER.AUTH";
/// The header naming the server's curve key on a sealed request (Go's).
pub const XKEY_HEADER: &str = "Nats-Server-Xkey";
/// The audience of a request (Go's `AuthRequestSubject`).
pub const REQUEST_AUDIENCE: &str = "nats-authorization-request";

/// `authorization { auth_callout { … } }`, as Go reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CalloutOptions {
    /// `issuer`: the account public key whose key signs the user JWTs in responses.
    pub issuer: String,
    /// `account`: where requests are published (Go's default: `$G`).
    pub account: String,
    /// `auth_users`: users that authenticate as configured, without the callout (the
    /// service's own connection, at least).
    pub auth_users: Vec<String>,
    /// `xkey`: the service's curve key; requests are then sealed to it (Go's `xkv1`
    /// NaCl box, with the `Nats-Server-Xkey` header naming the server's curve key).
    pub xkey: Option<String>,
    /// `allowed_accounts`: checked to be configured accounts at load, as Go; Go uses
    /// them to place clients only in operator mode (not built yet).
    pub allowed_accounts: Vec<String>,
    /// Ours: the order of the providers. `false` (Go's): the callout decides every client
    /// but the `auth_users`. `true`: the built-in methods (users, nkeys, token) decide the
    /// clients they know, and the callout only those they do not.
    pub fallback: bool,
    /// Ours: send the service's reason to the client (`-ERR 'Authorization Violation:
    /// reason'`); Go sends only `Authorization Violation` (clients match that text, so the
    /// default is Go's).
    pub send_reason: bool,
    /// Ours: reuse an acceptance this long for the same credentials from the same address
    /// (`cache_ttl`; `None`, the default: ask every time). See [`cache`].
    pub cache_ttl: Option<std::time::Duration>,
}
