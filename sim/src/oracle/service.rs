//! Service imports: requests into the exporter, responses back to the requester.
//!
//! # The service import rule
//!
//! Account Y imports service S from account X `to` the local subject T. A request (a
//! publish, usually with a reply inbox) in Y on T (after Y's own mappings), processed by
//! node N (its publisher's: a request that came over a route is not imported again), is
//! also a message in X on S as X's mappings make it: owed on N to X's subscriptions exactly
//! as a local publish there and beyond N through the routes whose view in X matches (the
//! responder may be on any node), but not through X's stream imports on N (Go never streams
//! on what came through a service import: `pmrMsgImportedFromService`; found at reload seed
//! 1951). Its reply is replaced by
//! `_R_.<id>.<n>`, which the model cannot know: every copy of one request carries the same
//! one (bound at its first sight, on a delivery or a routed copy) and no two requests
//! share one.
//!
//! A response is a publish in X on that `_R_` subject. When N (the requester's node, the
//! only one that knows the request) processes it, from the responder on N or from a
//! route, it is owed to the requester's subscriptions on its inbox in Y on N (plain
//! subscriptions; one member of each queue group), once for a singleton service (the first
//! N processes), each time for a stream one. Nothing else crosses: a request delivered in X
//! under another subject, a response delivered to another inbox or to another requester,
//! is `CrossAccount` (not owed and not allowed) or `Unexpected`.
//!
//! The copy in the other account is its own message to the model ([`derived`]: the same
//! payload, another id), so its deliveries, queue groups, routes and limits are counted as
//! those of any message.

use std::collections::{BTreeMap, BTreeSet};

use natsd_core::subject;

use super::publish::Msg;
use super::{ConnId, MsgId, NodeId, Oracle, Published, Violation};

/// The bit that marks the id of a service import's copy of a message.
const COPY: u64 = 1 << 62;

/// True for the id of a service import's copy (see [`derived`]).
pub(super) fn is_copy(id: MsgId) -> bool {
    id.1 & COPY != 0
}

/// The id of the copy a service import makes of message `id` (a request in the exporter,
/// or a response back in the importer).
pub(super) fn derived(id: MsgId) -> MsgId {
    (id.0, id.1 | COPY)
}

/// The publisher's sequence number of message `id` (or of the message `id` copies).
pub(super) fn seq(id: MsgId) -> u64 {
    id.1 & !COPY
}

/// A service import as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceModel {
    /// The account that answers (`None`: `$G`).
    pub exporter: Option<&'static str>,
    /// The account that asks.
    pub importer: Option<&'static str>,
    /// The exported subject.
    pub subject: Vec<u8>,
    /// The importer's local subject.
    pub to: Vec<u8>,
    /// One response per request.
    pub singleton: bool,
}

/// A request that crossed a service import.
#[derive(Debug, Clone)]
struct Request {
    import: usize,
    node: NodeId,
    /// The requester's reply subject (`None`: a publish without one, no `_R_` either).
    inbox: Option<Vec<u8>>,
    /// The `_R_` subject its copies carry, once seen.
    bound: Option<Vec<u8>>,
    /// A response already went back (singleton).
    answered: bool,
}

/// The model's service import state.
#[derive(Debug, Default)]
pub(super) struct ServiceState {
    /// Every service import ever configured; a reload appends the new ones and marks
    /// those it dropped in `removed` (indexes stay valid for the requests that crossed).
    imports: Vec<ServiceModel>,
    /// Service imports a reload took away: no request crosses them, no response comes
    /// back through them (the core unwires both at once).
    removed: BTreeSet<usize>,
    /// By the request copy's id.
    requests: BTreeMap<MsgId, Request>,
    /// `_R_` subject → the request copy it answers.
    bound: BTreeMap<Vec<u8>, MsgId>,
    /// The last request copy bound (for [`crate::Sabotage::LeakResponse`]).
    last_bound: Option<MsgId>,
    /// Sabotage: each `_R_` subject is believed to answer the request bound before it.
    leak: bool,
}

impl ServiceState {
    /// Is `id` a request's copy (else a response's)?
    pub(super) fn is_request(&self, id: MsgId) -> bool {
        self.requests.contains_key(&id)
    }
}

impl Oracle {
    /// The service imports every node is configured with; `leak`: believe each response
    /// answers the request seen before its own ([`crate::Sabotage::LeakResponse`]).
    pub fn set_services(&mut self, imports: Vec<ServiceModel>, leak: bool) {
        self.service.imports = imports;
        self.service.leak = leak;
    }

    /// A reload of the accounts: the service imports are now `imports`. One unchanged keeps
    /// its pending requests (their responses still come back); one dropped stops at once
    /// (its pending requests get no response); one added starts.
    pub fn reload_services(&mut self, imports: Vec<ServiceModel>) {
        let st = &mut self.service;
        for (i, imp) in st.imports.iter().enumerate() {
            if !imports.contains(imp) {
                st.removed.insert(i);
            }
        }
        for imp in imports {
            let live =
                (0..st.imports.len()).any(|i| st.imports[i] == imp && !st.removed.contains(&i));
            if !live {
                st.imports.push(imp);
            }
        }
    }

    /// Does `reply` fit message `id`'s? For a request's copy: an `_R_` subject, the same on
    /// every copy of one request and never another request's (bound here at first sight);
    /// otherwise the PUB's reply.
    pub(super) fn reply_fits(&mut self, id: MsgId, reply: Option<&[u8]>) -> bool {
        let Some(req) = self.service.requests.get_mut(&id) else {
            return self.published[&id].reply.as_deref() == reply;
        };
        let (Some(_), Some(r)) = (&req.inbox, reply) else {
            return req.inbox.is_none() && reply.is_none();
        };
        if let Some(b) = &req.bound {
            return b == r;
        }
        let shape = r.strip_prefix(b"_R_.").is_some_and(|rest| {
            let mut t = rest.split(|&b| b == b'.');
            t.next().is_some_and(|id| !id.is_empty()) && t.next().is_some() && t.next().is_none()
        });
        if !shape || self.service.bound.contains_key(r) {
            return false;
        }
        req.bound = Some(r.to_vec());
        let target = match self.service.last_bound {
            Some(prev) if self.service.leak => prev,
            _ => id,
        };
        self.service.last_bound = Some(id);
        self.service.bound.insert(r.to_vec(), target);
        true
    }

    /// The service import rule's request side: `msg`, published on its node in its
    /// account under `subject` (after its account's mappings), crosses the service import
    /// whose local subject it is, into the exporter (see the module doc). Returns who
    /// surely takes it there, whether someone else may, and whether a route took it.
    pub(super) fn service_request(
        &mut self,
        msg: &Msg<'_>,
        subject: &[u8],
        id: MsgId,
    ) -> Result<(Vec<ConnId>, bool, bool), Violation> {
        let spec = self.conns[msg.from].spec.clone();
        let Some(i) = self.service.imports.iter().enumerate().position(|(i, s)| {
            !self.service.removed.contains(&i)
                && s.importer == spec.account
                && subject::matches(&s.to, subject)
        }) else {
            return Ok((Vec::new(), false, false));
        };
        let imp = self.service.imports[i].clone();
        // The exporter's mappings apply to the request.
        let (to, rule) = match self.map_subject(imp.exporter, &imp.subject) {
            super::mapping::Mapped::Unmapped => (imp.subject.clone(), None),
            super::mapping::Mapped::To(rule, to) => (to, Some(rule)),
            // Service subjects are drawn where no weighted mapping reaches.
            super::mapping::Mapped::Drawn(..) => return Ok((Vec::new(), true, false)),
        };
        if to.is_empty() {
            // Dropped by the exporter's mapping: nobody gets it.
            return Ok((Vec::new(), false, false));
        }
        let d = derived(id);
        self.published.insert(
            d,
            Published {
                node: spec.node,
                from: msg.from,
                account: imp.exporter,
                subject: to.clone(),
                original: imp.subject.clone(),
                rule,
                drawn: false,
                reply: msg.reply.map(<[u8]>::to_vec),
                body: msg.body.to_vec(),
                headers: msg.headers,
                gen: self.gen(),
            },
        );
        self.service.requests.insert(
            d,
            Request {
                import: i,
                node: spec.node,
                inbox: msg.reply.map(<[u8]>::to_vec),
                bound: None,
                answered: false,
            },
        );
        Ok(self.deliver_at(spec.node, imp.exporter, None, &to, d, true))
    }

    /// The service import rule's response side: message `id` in `account` on `subject`,
    /// processed by `node`, answers a request made on this node through the `_R_` subject
    /// bound to it: owed to the requester's inbox in the importer (once for a singleton).
    pub(super) fn service_response(
        &mut self,
        node: NodeId,
        account: Option<&'static str>,
        subj: &[u8],
        id: MsgId,
    ) {
        if !subj.starts_with(b"_R_.") || self.service.requests.contains_key(&id) {
            return;
        }
        let Some(&q) = self.service.bound.get(subj) else {
            return;
        };
        let req = &self.service.requests[&q];
        if self.service.removed.contains(&req.import) {
            // Its import was reloaded away: the response subscription went with it.
            return;
        }
        let imp = &self.service.imports[req.import];
        if imp.exporter != account || req.node != node || (imp.singleton && req.answered) {
            return;
        }
        let (importer, inbox) = (imp.importer, req.inbox.clone().expect("bound: a reply"));
        self.service
            .requests
            .get_mut(&q)
            .expect("just read")
            .answered = true;
        let p = &self.published[&id];
        let copy = Published {
            node,
            from: p.from,
            account: importer,
            subject: inbox.clone(),
            original: inbox.clone(),
            rule: None,
            drawn: false,
            reply: p.reply.clone(),
            body: p.body.clone(),
            headers: p.headers,
            gen: self.gen(),
        };
        let d = derived(id);
        self.published.insert(d, copy);
        self.deliver_at(node, importer, None, &inbox, d, false);
    }
}
