//! The hot path: PUB/HPUB → permission check → match → deliver into receivers' queues.
//!
//! In the common case (match cached in this connection's L1, payload inside the read buffer)
//! this takes no lock but each receiver's own, and allocates nothing: the cached result is an
//! `Arc`, and MSG bytes are encoded straight into the receiver's buffer.

use std::sync::Arc;

use super::{LogLevel, State, L1_MAX, PERM_CACHE_MAX};
use crate::account::Account;
use crate::client::{Admit, Delivered, Delivery, Dest, Subscription};
use crate::errors::text;
use crate::internal::InternalMsg;
use crate::proto::encode::{self, go_quote};
use crate::sublist::MatchResult;
use crate::{subject, Time};

/// The header-only status message for a request nobody listens to (2.9.10's exact bytes).
const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";

impl State {
    /// A complete PUB or HPUB.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn process_pub(
        &mut self,
        subj: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        payload: &[u8],
        has_headers: bool,
        now: Time,
        sh: &crate::shared::Shared,
    ) {
        self.batch.in_msgs += 1;
        self.batch.in_bytes += payload.len() as u64;
        if self.rate_active && !self.rate_admit(payload.len() as u64, now, sh) {
            return;
        }
        if self.opts.pedantic && !subject::is_valid_literal_subject(subj) {
            // Go sends this while parsing the PUB line and still delivers the message.
            self.send_err(text::INVALID_PUBLISH_SUBJECT);
        }
        // Mappings: one relaxed load when the account has none (the common case).
        let mapped;
        let subj = if self.account.has_mappings() && self.route.is_none() {
            match self.map_published(subj) {
                crate::mapping::Mapped::Unmapped => subj,
                crate::mapping::Mapped::To(to) => {
                    mapped = to;
                    &mapped[..]
                }
                // Go publishes it on the empty subject: a publish allow list refuses that
                // (`Permissions Violation for Publish to ""`), nobody matches it, and a
                // `no_responders` request gets its 503 (found by the simulator).
                crate::mapping::Mapped::Drop => b"",
            }
        } else {
            subj
        };
        if !self.may_publish(subj, now) {
            let msg = format!("Permissions Violation for Publish to {}", go_quote(subj));
            self.log(LogLevel::Error, msg.clone());
            self.send_err(&msg);
            return;
        }
        self.send_ok();
        let result = self.lookup(subj);
        let d = Delivery {
            subject: subj,
            reply,
            header_len,
            payload,
            has_headers,
        };
        let delivered = self.deliver_all(&result, &d, now);
        if !delivered && self.opts.no_responders {
            if let Some(reply) = reply {
                self.send_no_responders(reply);
            }
        }
    }

    /// The subject a client's message in an account with mappings goes out under (before
    /// the permission check, so permissions see it, as in Go). Out of line: accounts
    /// without mappings never come here.
    #[cold]
    #[inline(never)]
    fn map_published(&mut self, subj: &[u8]) -> crate::mapping::Mapped {
        let m = self.account.map_subject(subj, &mut self.rng);
        if let crate::mapping::Mapped::To(to) = &m {
            if self.tracing() {
                let line = format!(
                    "<<- [MAPPING {} -> {}]",
                    String::from_utf8_lossy(subj),
                    String::from_utf8_lossy(to)
                );
                self.log(LogLevel::Trace, line);
            }
        }
        m
    }

    /// Publish permission: the static lists (cached), then `allow_responses`.
    fn may_publish(&mut self, subj: &[u8], now: Time) -> bool {
        let Some(p) = &self.perms else { return true };
        let allowed = match self.pub_perm_cache.get(subj) {
            Some(&a) => a,
            None => {
                let a = p.can_publish(subj);
                if self.pub_perm_cache.len() >= PERM_CACHE_MAX {
                    self.pub_perm_cache.clear();
                }
                self.pub_perm_cache.insert(subj.into(), a);
                a
            }
        };
        allowed || (p.responses.is_some() && self.handle.use_reply_permission(subj, now))
    }

    /// Matches through this connection's L1 cache, valid while the account's generation is.
    /// The last subject is checked first: a publisher usually repeats its subject, and a
    /// byte compare is cheaper than hashing.
    pub(super) fn lookup(&mut self, subj: &[u8]) -> Arc<MatchResult<Subscription>> {
        let generation = self.account.generation();
        if generation != self.l1_generation {
            self.l1.clear();
            self.l1_last = None;
            self.l1_generation = generation;
        } else if let Some(r) = self
            .l1_last
            .as_ref()
            .filter(|_| self.l1_last_subject == subj)
        {
            return Arc::clone(r);
        }
        let r = match self.l1.get(subj) {
            Some(r) => Arc::clone(r),
            None => {
                let r = self.account.match_subject(subj);
                if self.l1.len() >= L1_MAX {
                    self.l1.clear();
                }
                self.l1.insert(subj.into(), Arc::clone(&r));
                r
            }
        };
        // Reuses its buffer: no allocation once it has grown to the subjects in use.
        self.l1_last_subject.clear();
        self.l1_last_subject.extend_from_slice(subj);
        self.l1_last = Some(Arc::clone(&r));
        r
    }

    /// Delivers to every plain match and one member of each queue group, then once to each
    /// route that had a match (see [`Dest::Route`]). Returns true if anyone got it.
    fn deliver_all(&mut self, r: &MatchResult<Subscription>, d: &Delivery<'_>, now: Time) -> bool {
        let mut any = false;
        for sub in &r.psubs {
            any |= self.deliver_one(sub, d, now);
        }
        for group in &r.qsubs {
            // A random start, then the first member that takes it (as the Go server does).
            let n = group.len();
            let start = self.pick_member(group);
            for i in 0..n {
                if self.deliver_one(&group[(start + i) % n], d, now) {
                    any = true;
                    break;
                }
            }
        }
        if !self.route_targets.is_empty() {
            let account = Arc::clone(&self.account);
            self.deliver_to_routes(&account, d);
        }
        any
    }

    /// Where a queue group's draw starts: uniform over the members, or, in a cluster,
    /// weighted by each member's weight (a route's queue subscription stands for the
    /// peer's members, as Go repeats it `weight` times in the candidates).
    #[inline]
    fn pick_member(&mut self, group: &[Arc<Subscription>]) -> usize {
        let n = group.len() as u64;
        if !self.clustered {
            return self.rng.below(n) as usize;
        }
        self.pick_weighted(group)
    }

    /// [`pick_member`](Self::pick_member) in a cluster.
    #[inline(never)]
    fn pick_weighted(&mut self, group: &[Arc<Subscription>]) -> usize {
        let total: u64 = group.iter().map(|s| u64::from(s.weight())).sum();
        let mut x = self.rng.below(total.max(1));
        for (i, s) in group.iter().enumerate() {
            let w = u64::from(s.weight());
            if x < w {
                return i;
            }
            x -= w;
        }
        0
    }

    /// One `RMSG` per route that matched, with the queue groups picked there. Out of line:
    /// a standalone server never calls it, and the publish path stays as small as it was.
    #[cold]
    #[inline(never)]
    pub(super) fn deliver_to_routes(&mut self, account: &Account, d: &Delivery<'_>) {
        // Drained, then put back empty: the list keeps its allocation from one message to
        // the next (taking it whole cost an allocation and a free per routed message).
        let mut targets = std::mem::take(&mut self.route_targets);
        for (h, queues) in targets.drain(..) {
            let q = (!queues.is_empty()).then_some(&queues[..]);
            let result = h.deliver_routed(account.name.as_bytes(), d, q);
            self.note_delivery(&h, result);
            if matches!(
                result,
                Delivered::Queued { .. } | Delivered::QueuedStall { .. }
            ) {
                self.batch.out_msgs += 1;
                self.batch.out_bytes += d.payload.len() as u64;
            }
        }
        self.route_targets = targets;
    }

    /// Notes that a route's subscription matched: the route gets the message once, with
    /// this subscription's queue group named if it is one. Out of line (see
    /// `deliver_to_routes`).
    #[cold]
    #[inline(never)]
    fn add_route_target(&mut self, sub: &Subscription) {
        crate::route::add_target(&mut self.route_targets, sub);
    }

    pub(super) fn deliver_one(
        &mut self,
        sub: &Arc<Subscription>,
        d: &Delivery<'_>,
        now: Time,
    ) -> bool {
        if !self.opts.echo && sub.client.cid == self.cid {
            return false;
        }
        if sub.is_remote() {
            // One hop: what came from a route never goes to another route.
            if self.route.is_some() || sub.is_closed() {
                return false;
            }
            self.add_route_target(sub);
            return true;
        }
        // Go checks the receiver's deny list before counting the delivery (found by the
        // simulator: a filtered message used up an `UNSUB max` and the next one was lost).
        if sub.client.denies(d.subject) {
            return false;
        }
        match &sub.dest {
            // (A route's subscription went to `add_route_target` above.) Counted under the
            // receiver's lock (see `ClientHandle::deliver_sub`).
            Dest::Client | Dest::Route => {
                let (result, last) = sub.client.deliver_sub(d, sub, now);
                if last {
                    self.batch.exhausted.push(Arc::clone(sub));
                }
                self.delivered(sub, d, result)
            }
            Dest::Cross(c) => self.admitted(sub) && self.deliver_cross(c, d, now),
            Dest::Internal(handler) => {
                if !self.admitted(sub) {
                    return false;
                }
                self.batch.internal.push(super::InternalCall {
                    handler: Arc::clone(handler),
                    account: Arc::clone(&self.account),
                    msg: InternalMsg {
                        subject: d.subject.to_vec(),
                        reply: d.reply.map(<[u8]>::to_vec),
                        payload: d.payload[d.header_len..].to_vec(),
                        requester: None,
                    },
                    now,
                });
                true
            }
        }
    }

    /// Counts a delivery to a cross-account or internal subscription, which has no owner's
    /// queue to count under (see `Subscription::admit`). False: closed or past its limit.
    fn admitted(&mut self, sub: &Arc<Subscription>) -> bool {
        match sub.admit() {
            Admit::Deliver => true,
            Admit::DeliverLast => {
                self.batch.exhausted.push(Arc::clone(sub));
                true
            }
            // Closed: whoever closed it removes it (its owner on UNSUB or close, or the
            // publisher that got `DeliverLast`); a stale cached match may still hold it.
            Admit::Drop => false,
        }
    }

    /// Books a delivery into `sub`'s owner's queue.
    fn delivered(&mut self, sub: &Arc<Subscription>, d: &Delivery<'_>, result: Delivered) -> bool {
        self.note_delivery(&sub.client, result);
        match result {
            Delivered::Queued { .. } | Delivered::QueuedStall { .. } => {
                if self.tracing() {
                    self.trace_delivery(&sub.client, d.subject, sub.sid(), d.payload.len());
                }
                self.batch.out_msgs += 1;
                self.batch.out_bytes += d.payload.len() as u64;
                true
            }
            Delivered::Skipped | Delivered::SlowConsumer => false,
        }
    }

    /// Publishes an internal handler's reply into `account`, as the server (see
    /// [`crate::events::publish`]: no echo rule, no publish permission, never to another
    /// internal handler or an import, so no loops); logs the slow consumers it made.
    pub(super) fn deliver_internal_reply(
        &mut self,
        sh: &crate::shared::Shared,
        account: &Account,
        reply: &InternalMsg,
        now: Time,
    ) {
        // A reply to a request that came through a service import (a tenant asking the
        // system account about itself) goes back through the import's response side.
        let r = account.match_subject(&reply.subject);
        if r.psubs.iter().any(|s| matches!(s.dest, Dest::Cross(_))) {
            let d = Delivery {
                subject: &reply.subject,
                reply: reply.reply.as_deref(),
                header_len: 0,
                payload: &reply.payload,
                has_headers: false,
            };
            for sub in &r.psubs {
                if let Dest::Cross(c) = &sub.dest {
                    if matches!(**c, crate::imports::Cross::Response { .. }) {
                        self.deliver_cross(c, &d, now);
                    }
                }
            }
        }
        let slow = crate::events::publish(
            sh,
            account,
            &reply.subject,
            reply.reply.as_deref(),
            &reply.payload,
            now,
        );
        for h in slow {
            self.note_delivery(&h, Delivered::SlowConsumer);
        }
    }

    /// The 503 status to the publisher's own subscription on the reply subject, if it has one.
    fn send_no_responders(&mut self, reply: &[u8]) {
        let r = self.account.match_subject(reply);
        let Some(sub) = r
            .psubs
            .iter()
            .find(|s| s.client.cid == self.cid && !s.is_closed())
        else {
            return;
        };
        let mut out = Vec::with_capacity(64 + reply.len());
        encode::hmsg(
            &mut out,
            reply,
            sub.sid(),
            None,
            NO_RESPONDERS_HDR.len(),
            NO_RESPONDERS_HDR,
        );
        self.send(&out);
    }
}
