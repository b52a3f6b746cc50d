//! Auth decisions that wait for an external provider, for both runtimes: the auth
//! callout's round trip to its NATS service (see `natsd_core::callout`'s contract) and
//! ours' HTTP(S) webhook (`natsd_core::callout::webhook`). Blocking: call it where blocking
//! is fine (tokio's blocking pool; a std connection's own reader thread).

use std::io::Read;
use std::sync::atomic::Ordering;
use std::time::Instant;

use natsd_core::callout::webhook;
use natsd_core::conn::{AuthDecision, AuthRequest};
use natsd_core::shared::Shared;

use crate::clock;

/// Decides `req`: by its provider (the callout: the request, the wait for the answer at
/// most the auth timeout, the core's checks; the webhook: a POST and its answer), or the
/// built-in decision when no provider applies. An acceptance cached for the same
/// credentials (`cache_ttl`, `natsd_core::callout::cache`) answers without asking.
pub fn decide(sh: &Shared, req: &AuthRequest) -> AuthDecision {
    if let Some(d) = natsd_core::callout::cached(sh, req, clock::now()) {
        return d;
    }
    let d = ask(sh, req);
    natsd_core::callout::remember(sh, req, &d, clock::now());
    d
}

/// [`decide`] without the decision cache.
fn ask(sh: &Shared, req: &AuthRequest) -> AuthDecision {
    if let Some(w) = req.webhook() {
        return ask_webhook(
            sh,
            req,
            &w.url,
            w.timeout.unwrap_or(req.options().auth.timeout),
        );
    }
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

/// POSTs the request to the webhook and decides on its answer; counted with the callout's
/// figures (`/varz`, `/metrics`).
fn ask_webhook(
    sh: &Shared,
    req: &AuthRequest,
    url: &str,
    timeout: std::time::Duration,
) -> AuthDecision {
    let stats = &sh.callouts().stats;
    let wall = natsd_core::events::wall_secs(sh, clock::now());
    let body = webhook::request_body(sh, req, wall);
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    let sent = agent
        .post(url)
        .set("Content-Type", "application/json")
        .send_bytes(&body);
    let answer = match sent {
        Ok(resp) | Err(ureq::Error::Status(_, resp)) => {
            let status = resp.status();
            let mut body = Vec::new();
            let limit = (webhook::MAX_ANSWER + 1) as u64;
            match resp.into_reader().take(limit).read_to_end(&mut body) {
                Ok(_) => Ok((status, body)),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(ureq::Error::Transport(t)) => Err(t.to_string()),
    };
    let answered = answer.is_ok();
    let decision = webhook::decide(req, answer);
    let counter = match (decision.is_accept(), answered) {
        (true, _) => &stats.accepts,
        (false, true) => &stats.rejects,
        (false, false) => &stats.timeouts,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if answered {
        stats.observe(started.elapsed());
    }
    decision
}
