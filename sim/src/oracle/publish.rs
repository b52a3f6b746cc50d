//! The server side of the model: each op a node processes, in its order, and what it owes.

use std::collections::{BTreeMap, BTreeSet};

use natsd_core::proto::{Op, ParseError};
use natsd_core::subject;

use super::perms::quoted;
use super::{
    parse_body, parse_sid, ConnId, ModelSub, MsgId, NoResponders, NodeId, Oracle, Published,
    QueueOwed, Reply, SubKey, Violation, ViolationKind,
};

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
                        Some(m) if m > s.owed => s.max = Some(m),
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
                candidacies: 0,
            };
            subs.insert(key, sub);
            self.counts.msubs += u64::from(born_max.is_some());
            self.cluster.interest_changes += 1;
        }
        self.reply_ok(from);
        Ok(())
    }

    /// A PUB processed by the server: the pedantic and permission checks, then record it
    /// and compute every delivery it owes on its node.
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
        if let Some(p) = &spec.perms {
            if !p.can_publish(subject) {
                let text = format!("Permissions Violation for Publish to {}", quoted(subject));
                self.reply_err(from, text);
                return Ok(());
            }
        }
        self.reply_ok(from);
        let id = parse_body(body)?;
        if id.0 != spec.client {
            return Err(Violation::new(
                ViolationKind::Corrupt,
                "payload names another publisher",
            ));
        }
        let p = Published {
            node: spec.node,
            from,
            subject: subject.to_vec(),
            reply: reply.map(<[u8]>::to_vec),
            body: body.to_vec(),
            headers,
        };
        assert!(
            self.published.insert(id, p).is_none(),
            "harness bug: sequence reused {id:?}"
        );
        let (node, account) = (spec.node, spec.account);
        let (plain, mut groups) = self.match_local(node, account, Some(from), subject, id, None);
        // Beyond this node (cluster): the routes whose view matches.
        let (routed, mut route_groups) = self.forward(from, subject, id);
        let names: BTreeSet<Vec<u8>> = groups.keys().chain(route_groups.keys()).cloned().collect();
        // Who certainly takes the message: plain receivers, and each queue group's members
        // without a limit (a member with one may be used up without the model knowing);
        // through an import too.
        let mut takers: Vec<ConnId> = plain;
        let (cross_takers, mut maybe) = self.match_cross(node, account, subject, id);
        takers.extend(cross_takers);
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
            };
            self.queue_owed.insert((id, q), qo);
        }
        // A message that went to a route counts as delivered: no 503 then.
        if let (Some(reply), true, false) = (reply, spec.no_responders, routed) {
            self.expect_no_responders(from, reply, id, takers, maybe);
        }
        self.record_probe(from, subject, id);
        Ok(())
    }

    /// Matches `subject` against the live subscriptions of `node` in `account` only (the
    /// per-node and per-account rules): records each plain delivery owed, and returns the
    /// plain receivers and the queue groups' candidates (with whether each has no limit).
    /// `from` is the publishing connection when it is on this node (the echo rule);
    /// `queues`, for a routed message, the only queue groups it may go to.
    #[allow(clippy::type_complexity)]
    pub(super) fn match_local(
        &mut self,
        node: NodeId,
        account: Option<&'static str>,
        from: Option<ConnId>,
        subject: &[u8],
        id: MsgId,
        queues: Option<&[Vec<u8>]>,
    ) -> (Vec<ConnId>, BTreeMap<Vec<u8>, Vec<(SubKey, bool)>>) {
        let mut plain = Vec::new();
        let mut groups: BTreeMap<Vec<u8>, Vec<(SubKey, bool)>> = BTreeMap::new();
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
            match &s.queue {
                Some(q) => {
                    s.candidacies += 1;
                    groups
                        .entry(q.clone())
                        .or_default()
                        .push((key, s.max.is_none()));
                }
                None => {
                    self.pending.insert((key, id));
                    plain.push(key.0);
                    s.owed += 1;
                    if s.max == Some(s.owed) {
                        s.live = false;
                        self.counts.limits_reached += 1;
                    }
                }
            }
        }
        (plain, groups)
    }

    /// The stream import rule: a message in `account` on `subject` processed by `node`
    /// crosses the import whose subject matches it (if any) into the importer, renamed,
    /// and is owed there on this node as a local publish would be (plain subscriptions; one
    /// member of each queue group on this node). Returns who surely takes it and whether a
    /// queue group of limited members may.
    pub(super) fn match_cross(
        &mut self,
        node: NodeId,
        account: Option<&'static str>,
        subject: &[u8],
        id: MsgId,
    ) -> (Vec<ConnId>, bool) {
        let Some(i) = self.import_for(account, subject) else {
            return (Vec::new(), false);
        };
        let imp = &self.imports[i];
        let (importer, mapped) = (imp.importer, imp.map(subject));
        let (plain, groups) = self.match_local(node, importer, None, &mapped, id, None);
        self.counts.import_owed += plain.len() as u64;
        let mut takers = plain;
        let mut maybe = false;
        for (q, members) in groups {
            let exact = members.iter().any(|&(_, unlimited)| unlimited);
            maybe |= !exact;
            takers.extend(members.iter().filter(|&&(_, u)| u).map(|&(k, _)| k.0));
            let qo = QueueOwed {
                candidates: members.into_iter().map(|(k, _)| k).collect(),
                exact,
                got: 0,
                routes: Vec::new(),
                routed: None,
            };
            self.cross_queue.insert((id, node, q), qo);
        }
        (takers, maybe)
    }

    /// A request from a `no_responders` connection: if nobody can take it, the server
    /// sends a 503 status on one of the requester's own live plain subscriptions on the
    /// reply subject (if it has none, nothing). `takers` surely take it (while open);
    /// `maybe`: a group of limited members may or may not.
    fn expect_no_responders(
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
