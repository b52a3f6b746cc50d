//! Delivery across accounts through imports (see [`crate::imports`]): a subscription of
//! kind `Dest::Cross` re-delivers the message in the other account, renamed, in the
//! publisher's batch. Depth-bounded ([`MAX_CROSS_DEPTH`]).

use std::sync::Arc;

use super::State;
use crate::account::Account;
use crate::client::{Delivery, Subscription};
use crate::imports::{Cross, MAX_CROSS_DEPTH};
use crate::Time;

impl State {
    /// Delivers `d` through import `c`. True if anyone got it.
    pub(super) fn deliver_cross(&mut self, c: &Cross, d: &Delivery<'_>, now: Time) -> bool {
        if self.cross_depth >= MAX_CROSS_DEPTH {
            return false;
        }
        match c {
            // A message from a service import is not streamed on (Go); see `from_service`.
            Cross::Stream { .. } if self.from_service => false,
            Cross::Stream { to, map } => {
                let Some(acc) = to.upgrade() else {
                    return false;
                };
                let subject = map.apply(d.subject);
                let d = Delivery {
                    subject: &subject,
                    ..*d
                };
                // The other servers' imports serve their own clients: no routes here.
                self.deliver_in(&acc, &d, now, false)
            }
            Cross::Request { to, map, replies } => {
                // A request from a route was imported on the requester's own server.
                if self.route.is_some() {
                    return false;
                }
                let Some(acc) = to.upgrade() else {
                    return false;
                };
                let mut subject = map.apply(d.subject);
                // The exporter's mappings apply to the request (Go: `selectMappedSubject`
                // of the service import's account).
                if acc.has_mappings() {
                    match acc.map_subject(&subject, &mut self.rng) {
                        crate::mapping::Mapped::To(to) => subject = to,
                        crate::mapping::Mapped::Unmapped => {}
                        crate::mapping::Mapped::Drop => return false,
                    }
                }
                let reply = d.reply.map(|r| replies.register(r, now));
                let d = Delivery {
                    subject: &subject,
                    reply: reply.as_deref(),
                    ..*d
                };
                // The responder may be on another server.
                let outer = std::mem::replace(&mut self.from_service, true);
                let any = self.deliver_in(&acc, &d, now, true);
                self.from_service = outer;
                any
            }
            Cross::Response { back, replies } => {
                let Some(acc) = back.upgrade() else {
                    return false;
                };
                let Some(orig) = replies.resolve(d.subject, now) else {
                    return false;
                };
                let d = Delivery {
                    subject: &orig,
                    ..*d
                };
                // The requester is here: its request was registered on this server.
                let outer = std::mem::replace(&mut self.from_service, true);
                let any = self.deliver_in(&acc, &d, now, false);
                self.from_service = outer;
                any
            }
        }
    }

    /// Delivers `d` in account `acc`: every plain match and one member of each queue
    /// group, routes included only with `routes` (then once per route, in `acc`'s name).
    pub(super) fn deliver_in(
        &mut self,
        acc: &Arc<Account>,
        d: &Delivery<'_>,
        now: Time,
        routes: bool,
    ) -> bool {
        let r = acc.match_subject(d.subject);
        // Internal handlers reached from here answer in `acc`; the outer message's route
        // targets wait until this one's are sent.
        let outer_account = std::mem::replace(&mut self.account, Arc::clone(acc));
        let outer_targets = std::mem::take(&mut self.route_targets);
        self.cross_depth += 1;
        let mut any = false;
        let eligible = |s: &&Arc<Subscription>| routes || !s.is_remote();
        for sub in r.psubs.iter().filter(eligible) {
            any |= self.deliver_one(sub, d, now);
        }
        for group in &r.qsubs {
            let n = group.iter().filter(eligible).count();
            if n == 0 {
                continue;
            }
            let start = self.rng.below(n as u64) as usize;
            let members = group.iter().filter(eligible).cycle().skip(start).take(n);
            for sub in members {
                if self.deliver_one(sub, d, now) {
                    any = true;
                    break;
                }
            }
        }
        if !self.route_targets.is_empty() {
            self.deliver_to_routes(acc, d);
            any = true;
        }
        self.cross_depth -= 1;
        self.route_targets = outer_targets;
        self.account = outer_account;
        any
    }
}
