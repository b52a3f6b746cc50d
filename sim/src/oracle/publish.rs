//! The server side of the model: each op a node processes, in its order, and what it owes.

use std::collections::{BTreeMap, BTreeSet};

use natsd_core::proto::{Op, ParseError};
use natsd_core::subject;

use super::mapping::{publish_denied, Mapped};
use super::perms::quoted;
use super::{
    parse_body, parse_sid, ConnId, ModelSub, MsgId, NoResponders, NodeId, Oracle, Published,
    QueueOwed, Reply, SubKey, Violation, ViolationKind,
};

/// A client's PUB as the node read it.
pub(super) struct Msg<'a> {
    pub(super) from: ConnId,
    /// The subject it was published on (before any mapping).
    pub(super) original: &'a [u8],
    /// The mapping it went through, if any (account and rule index).
    pub(super) rule: Option<(usize, usize)>,
    pub(super) reply: Option<&'a [u8]>,
    pub(super) body: &'a [u8],
    pub(super) headers: bool,
}

/// What [`Oracle::match_local`] found for a publish on one node.
#[derive(Debug, Default)]
pub(super) struct Matched {
    /// Plain subscriptions that get it: owed (a message whose subject is known), or sure
    /// to get it if the draw picks this subject (a weighted mapping's).
    pub(super) sure: Vec<SubKey>,
    /// Some plain subscription may get it or not.
    pub(super) maybe: bool,
    /// Queue groups: their candidates, each with whether it has no limit.
    pub(super) groups: BTreeMap<Vec<u8>, Vec<(SubKey, bool)>>,
}

impl Oracle {
    /// The server has just processed `op` from connection `from` (called in server order).
    pub fn on_server_op(&mut self, from: ConnId, op: &Op<'_>) -> Result<(), Violation> {
        match *op {
            Op::Connect(_) => self.reply_ok(from),
            Op::Sub {
                subject,
                queue,
                sid,
            } => self.on_sub(from, subject, queue, parse_sid(sid)?, None)?,
            Op::SubMax {
                subject,
                queue,
                sid,
                max,
            } => self.on_sub(from, subject, queue, parse_sid(sid)?, Some(max))?,
            Op::Unsub { sid, max } => {
                let key = (from, parse_sid(sid)?);
                let node = self.conns[from].spec.node;
                if let Some(s) = self.nodes[node].subs.get_mut(&key).filter(|s| s.live) {
                    match max {
                        // Our clients never limit an MSUB again, except the late limit of
                        // `Sabotage::MsubAsSubUnsub`, which must not change what the oracle
                        // believes.
                        Some(_) if s.msub => {}
                        // A queue member stays a candidate: only the server knows whether
                        // the limit is already reached. It got at most `candidacies` so
                        // far, so it never gets more than max(limit, candidacies).
                        Some(m) if s.queue.is_some() => s.max = Some(m.max(s.candidacies)),
                        // Likewise a subscription that had deliveries the model is not
                        // sure of (weighted mappings): it got at most `owed + maybe`.
                        Some(m) if m > s.owed => s.max = Some(m.max(s.owed + s.maybe)),
                        _ => {
                            s.live = false;
                            self.cluster.interest_changes += 1;
                        }
                    }
                }
                self.reply_ok(from);
            }
            Op::Pub {
                subject,
                reply,
                payload,
            } => self.on_publish(from, subject, reply, payload, false)?,
            Op::HPub {
                subject,
                reply,
                header_len,
                payload,
            } => self.on_publish(from, subject, reply, &payload[header_len..], true)?,
            Op::Ping => {
                let lo = ((from, 0), (0, 0));
                let hi = ((from, u64::MAX), (usize::MAX, u64::MAX));
                let pending = self.pending.range(lo..=hi).copied().collect();
                self.conns[from].replies.push_back(Reply::Pong(pending));
            }
            _ => {}
        }
        Ok(())
    }

    /// The server's parser refused `from`'s input with `e`: the server answers and closes.
    /// Returns whether the model expected that (an oversized PUB: `Maximum Payload
    /// Violation`); any other parse error means the harness wrote garbage.
    pub fn on_parse_error(&mut self, from: ConnId, e: &ParseError) -> bool {
        match e {
            ParseError::MaxPayload { .. } => {
                let err = Reply::Err("Maximum Payload Violation".to_string());
                self.conns[from].replies.push_back(err);
                true
            }
            _ => false,
        }
    }

    fn reply_ok(&mut self, from: ConnId) {
        if self.conns[from].spec.verbose {
            self.conns[from].replies.push_back(Reply::Ok);
        }
    }

    fn reply_err(&mut self, from: ConnId, text: String) {
        self.conns[from].replies.push_back(Reply::Err(text));
    }

    /// SUB (or MSUB, born with limit `born_max`): permission, then the subscription limit,
    /// then a reused sid (ignored), as the server checks them.
    fn on_sub(
        &mut self,
        from: ConnId,
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: u64,
        born_max: Option<u64>,
    ) -> Result<(), Violation> {
        let spec = &self.conns[from].spec;
        let (node, max, perms) = (spec.node, spec.max_subs, spec.perms.clone());
        if let Some(p) = perms {
            if !p.can_subscribe(subject) {
                let text = match queue {
                    Some(q) => format!(
                        "Permissions Violation for Subscription to {} using queue {}",
                        quoted(subject),
                        quoted(q)
                    ),
                    None => format!(
                        "Permissions Violation for Subscription to {}",
                        quoted(subject)
                    ),
                };
                self.reply_err(from, text);
                return Ok(());
            }
        }
        let key = (from, sid);
        let subs = &mut self.nodes[node].subs;
        if max > 0 {
            let live = subs
                .range((from, 0)..=(from, u64::MAX))
                .filter(|(_, s)| s.live)
                .count();
            if live >= max {
                self.reply_err(from, "maximum subscriptions exceeded".to_string());
                return Ok(());
            }
        }
        // A reused live sid is ignored by the server; clients here never reuse one on a
        // connection.
        if !subs.get(&key).is_some_and(|s| s.live) {
            let sub = ModelSub {
                pattern: subject.to_vec(),
                queue: queue.map(<[u8]>::to_vec),
                live: true,
                max: born_max,
                msub: born_max.is_some(),
                owed: 0,
                maybe: 0,
                candidacies: 0,
            };
            subs.insert(key, sub);
            self.counts.msubs += u64::from(born_max.is_some());
            self.cluster.interest_changes += 1;
        }
        self.reply_ok(from);
        Ok(())
    }

    /// A PUB processed by the server: the pedantic check (on the subject as published),
    /// then the publisher's account's mappings (see `mapping.rs`), then the rest on the
    /// subject it maps to.
    fn on_publish(
        &mut self,
        from: ConnId,
        subject: &[u8],
        reply: Option<&[u8]>,
        body: &[u8],
        headers: bool,
    ) -> Result<(), Violation> {
        let spec = self.conns[from].spec.clone();
        if spec.pedantic && !subject::is_valid_literal_subject(subject) {
            // Go answers while parsing the line and still delivers the message.
            self.reply_err(from, "Invalid Publish Subject".to_string());
        }
        let mut msg = Msg {
            from,
            original: subject,
            rule: None,
            reply,
            body,
            headers,
        };
        match self.map_subject(spec.account, subject) {
            Mapped::Unmapped => self.publish_on(&msg, subject),
            Mapped::To(rule, to) => {
                self.counts.mapped += 1;
                msg.rule = Some(rule);
                self.publish_on(&msg, &to)
            }
            Mapped::Drawn(rule, outcomes) => {
                msg.rule = Some(rule);
                self.publish_drawn(&msg, rule, outcomes)
            }
        }
    }

    /// Publishes `msg` under `subject` (its own, or the one a mapping gave it; empty: a
    /// mapping dropped it): the permission check, then record it and compute every
    /// delivery it owes on its node.
    fn publish_on(&mut self, msg: &Msg<'_>, subject: &[u8]) -> Result<(), Violation> {
        let from = msg.from;
        let spec = self.conns[from].spec.clone();
        if let Some(text) = publish_denied(&spec, subject) {
            self.reply_err(from, text);
            return Ok(());
        }
        self.reply_ok(from);
        let id = self.record(msg, subject, false)?;
        if subject.is_empty() {
            // Dropped by its mapping: Go publishes it on the empty subject, which nobody
            // matches, so a request gets its 503.
            if let (Some(reply), true) = (msg.reply, spec.no_responders) {
                self.expect_no_responders(from, reply, id, Vec::new(), false);
            }
            return Ok(());
        }
        let (node, account) = (spec.node, spec.account);
        let (mut takers, mut maybe, mut routed) =
            self.deliver_at(node, account, Some(from), subject, id, true);
        // Through a service import into the exporter, and a response back to a requester.
        let (svc_takers, svc_maybe, svc_routed) = self.service_request(msg, subject, id)?;
        takers.extend(svc_takers);
        maybe |= svc_maybe;
        routed |= svc_routed;
        self.service_response(node, account, subject, id);
        // A message that went to a route counts as delivered: no 503 then.
        if let (Some(reply), true, false) = (msg.reply, spec.no_responders, routed) {
            self.expect_no_responders(from, reply, id, takers, maybe);
        }
        self.record_probe(from, subject, id);
        Ok(())
    }

    /// Everything a message `id` in `account` on `subject` owes on `node` (the per-node
    /// and per-account rules; `from`, the publishing connection there, for echo), and
    /// beyond it through the routes whose view matches (with `routes`), and through a
    /// stream import. Returns who surely takes it, whether someone else may, and whether a
    /// route took it.
    pub(super) fn deliver_at(
        &mut self,
        node: NodeId,
        account: Option<&'static str>,
        from: Option<ConnId>,
        subject: &[u8],
        id: MsgId,
        routes: bool,
    ) -> (Vec<ConnId>, bool, bool) {
        let m = self.match_local(node, account, from, subject, id, None, false);
        let mut maybe = m.maybe;
        let mut groups = m.groups;
        // Beyond this node (cluster): the routes whose view matches.
        let (routed, mut route_groups) = if routes {
            self.forward_in(node, account, subject, id, false)
        } else {
            (false, BTreeMap::new())
        };
        let names: BTreeSet<Vec<u8>> = groups.keys().chain(route_groups.keys()).cloned().collect();
        // Who certainly takes the message: plain receivers, and each queue group's members
        // without a limit (a member with one may be used up without the model knowing);
        // through an import too.
        let mut takers: Vec<ConnId> = m.sure.iter().map(|k| k.0).collect();
        // A service import's copy is not streamed on by this node (Go; see `service.rs`).
        let (cross_takers, cross_maybe) = if super::service::is_copy(id) {
            (Vec::new(), false)
        } else {
            self.match_cross(node, account, subject, id, false)
        };
        takers.extend(cross_takers);
        maybe |= cross_maybe;
        for q in names {
            let members = groups.remove(&q).unwrap_or_default();
            let routes = route_groups.remove(&q).unwrap_or_default();
            let exact = members.iter().any(|&(_, unlimited)| unlimited);
            maybe |= !exact;
            takers.extend(members.iter().filter(|&&(_, u)| u).map(|&(k, _)| k.0));
            let candidates = members.into_iter().map(|(k, _)| k).collect();
            let qo = QueueOwed {
                candidates,
                exact,
                got: 0,
                routes,
                routed: None,
                drawn: false,
            };
            self.queue_owed.insert((id, q), qo);
        }
        (takers, maybe, routed)
    }

    /// Records the message of `msg`, published under `subject` (for a drawn mapping, its
    /// own subject until a delivery tells which destination it went to).
    pub(super) fn record(
        &mut self,
        msg: &Msg<'_>,
        subject: &[u8],
        drawn: bool,
    ) -> Result<MsgId, Violation> {
        let spec = &self.conns[msg.from].spec;
        let id = parse_body(msg.body)?;
        if id.0 != spec.client {
            return Err(Violation::new(
                ViolationKind::Corrupt,
                "payload names another publisher",
            ));
        }
        let p = Published {
            node: spec.node,
            from: msg.from,
            account: spec.account,
            subject: subject.to_vec(),
            original: msg.original.to_vec(),
            rule: msg.rule,
            drawn,
            reply: msg.reply.map(<[u8]>::to_vec),
            body: msg.body.to_vec(),
            headers: msg.headers,
            gen: self.gen(),
        };
        assert!(
            self.published.insert(id, p).is_none(),
            "harness bug: sequence reused {id:?}"
        );
        Ok(id)
    }

    /// Matches `subject` against the live subscriptions of `node` in `account` only (the
    /// per-node and per-account rules). For a message whose subject is known, records
    /// each plain delivery owed; for one a weighted mapping sends to `subject` or not
    /// (`drawn`), each plain delivery allowed. `from` is the publishing connection when it
    /// is on this node (the echo rule); `queues`, for a routed message, the only queue
    /// groups it may go to.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn match_local(
        &mut self,
        node: NodeId,
        account: Option<&'static str>,
        from: Option<ConnId>,
        subject: &[u8],
        id: MsgId,
        queues: Option<&[Vec<u8>]>,
        drawn: bool,
    ) -> Matched {
        let mut m = Matched::default();
        for (&key, s) in self.nodes[node].subs.iter_mut() {
            if !s.live || !(self.matcher)(&s.pattern, subject) {
                continue;
            }
            let to = &self.conns[key.0].spec;
            // The per-account rule: another account's subscriptions never see it.
            if to.account != account {
                self.counts.isolated += 1;
                continue;
            }
            if from.is_some_and(|f| key.0 == f && !self.conns[f].spec.echo) {
                continue;
            }
            if let (Some(q), Some(named)) = (&s.queue, queues) {
                if !named.contains(q) {
                    continue;
                }
            }
            if to.perms.as_ref().is_some_and(|p| p.filters(subject)) {
                self.counts.filtered += 1;
                continue;
            }
            if let Some(q) = &s.queue {
                s.candidacies += 1;
                m.groups
                    .entry(q.clone())
                    .or_default()
                    .push((key, s.max.is_none()));
                continue;
            }
            let sure = s.surely_live();
            if sure && !drawn {
                self.pending.insert((key, id));
                m.sure.push(key);
                s.owed += 1;
                if s.max == Some(s.owed) {
                    s.live = false;
                    self.counts.limits_reached += 1;
                }
                continue;
            }
            // It may get it or not: the draw, or a limit that earlier uncertain messages
            // may have used up.
            self.maybe.insert((key, id));
            s.maybe += 1;
            m.maybe = true;
            if sure {
                m.sure.push(key);
            }
        }
        m
    }

    /// The stream import rule: a message in `account` on `subject` processed by `node`
    /// crosses the import whose subject matches it (if any) into the importer, renamed,
    /// and is owed there on this node as a local publish would be (plain subscriptions; one
    /// member of each queue group on this node); allowed only, if `drawn` (see
    /// [`Oracle::match_local`]). Returns who surely takes it (if it goes to `subject`) and
    /// whether someone else may.
    pub(super) fn match_cross(
        &mut self,
        node: NodeId,
        account: Option<&'static str>,
        subject: &[u8],
        id: MsgId,
        drawn: bool,
    ) -> (Vec<ConnId>, bool) {
        let Some(imp) = self.import_for(self.gen(), account, subject) else {
            return (Vec::new(), false);
        };
        let (importer, mapped) = (imp.importer, imp.map(subject));
        let m = self.match_local(node, importer, None, &mapped, id, None, drawn);
        if !drawn {
            self.counts.import_owed += m.sure.len() as u64;
        }
        let mut takers: Vec<ConnId> = m.sure.iter().map(|k| k.0).collect();
        let mut maybe = m.maybe;
        for (q, members) in m.groups {
            let exact = !drawn && members.iter().any(|&(_, unlimited)| unlimited);
            maybe |= !exact;
            takers.extend(members.iter().filter(|&&(_, u)| u).map(|&(k, _)| k.0));
            let candidates: Vec<SubKey> = members.into_iter().map(|(k, _)| k).collect();
            // A drawn message may cross here under each of its destinations: one entry.
            self.cross_queue
                .entry((id, node, q))
                .and_modify(|qo| qo.candidates.extend(candidates.iter().copied()))
                .or_insert(QueueOwed {
                    candidates,
                    exact,
                    got: 0,
                    routes: Vec::new(),
                    routed: None,
                    drawn,
                });
        }
        (takers, maybe)
    }

    /// A request from a `no_responders` connection: if nobody can take it, the server
    /// sends a 503 status on one of the requester's own live plain subscriptions on the
    /// reply subject (if it has none, nothing). `takers` surely take it (while open);
    /// `maybe`: a group of limited members may or may not.
    pub(super) fn expect_no_responders(
        &mut self,
        from: ConnId,
        reply: &[u8],
        id: MsgId,
        takers: Vec<ConnId>,
        maybe: bool,
    ) {
        let node = self.conns[from].spec.node;
        let own: Vec<SubKey> = self.nodes[node]
            .subs
            .range((from, 0)..=(from, u64::MAX))
            .filter(|(_, s)| s.live && s.queue.is_none() && (self.matcher)(&s.pattern, reply))
            .map(|(&k, _)| k)
            .collect();
        if own.is_empty() {
            return;
        }
        let nr = NoResponders {
            id,
            own,
            required: takers.is_empty() && !maybe,
            takers,
            got: false,
        };
        self.no_responders.insert((from, reply.to_vec()), nr);
    }
}
