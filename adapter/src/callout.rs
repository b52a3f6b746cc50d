//! Auth decisions that wait: the auth callout's round trip to its service (see
//! `natsd_core::callout`'s contract), for both runtimes. Blocking: call it where blocking
//! is fine (tokio's blocking pool; a std connection's own reader thread).

use natsd_core::conn::{AuthDecision, AuthRequest};
use natsd_core::shared::Shared;

use crate::clock;

/// Decides `req`: the callout's request, the wait for its response (at most the auth
/// timeout), and the core's checks of it; or the built-in decision when no callout
/// applies.
pub fn decide(sh: &Shared, req: &AuthRequest) -> AuthDecision {
    if !req.needs_callout() {
        return req.decide();
    }
    match natsd_core::callout::begin(sh, req, clock::now()) {
        Err(why) => AuthDecision::reject_because(why),
        Ok(pending) => {
            let reply = pending.replies().recv_timeout(pending.timeout()).ok();
            natsd_core::callout::finish(sh, req, &pending, reply, clock::now())
        }
    }
}
