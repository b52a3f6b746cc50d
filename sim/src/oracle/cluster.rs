//! The cluster side of the model: route connections between nodes, the interest each node
//! learnt from its peers, and what a routed message owes.
//!
//! # The cluster rule
//!
//! In a cluster a message published on node P reaches node Q only through the route
//! between them, once, and never further (one hop). The model follows each route end's
//! *view*: the interest (`RS+` minus `RS-`, per account, subject and queue) that end's node
//! processed from its peer, cleared when the end closes. Driven in node-processing order
//! like the rest of the model, so it is exact:
//!
//! - when P processes a PUB, every open route end of P whose view has a plain key matching
//!   the subject (in the publisher's account) owes the peer that message (`forward_owed`:
//!   it must arrive unless that route closes); a matching queue key makes the route a
//!   candidate of that queue group (the message goes there only if the draw picks it);
//! - when Q processes an `RMSG`, it must come from the publisher's node (else
//!   [`ViolationKind::Hop`]), in the publisher's account, once per node (else
//!   [`ViolationKind::Duplicate`]), and be one the model expected P to route; it then owes
//!   every local subscription of Q live at that moment (the same rules as a local publish),
//!   and one member of each queue group it names;
//! - a queue group gets each message at most once cluster-wide (the routes named in
//!   `RMSG`s and the local members all count), exactly once when no candidate closed;
//! - *probes*: once the world has settled after the heal and the mesh is full, every
//!   client publishes on every literal subject; each probe must reach every live
//!   subscription without a limit on every node (in its account, matching, allowed), and
//!   each queue group with such members exactly once. This is the liveness rule "interest
//!   converged, so a message reaches every matching subscriber of the cluster".

use std::collections::{BTreeMap, BTreeSet};

use natsd_core::proto::Op;

use super::{
    parse_body, ConnId, MsgId, NodeId, Oracle, QueueOwed, SubKey, Violation, ViolationKind as K,
};

/// `(account, subject, queue)`: one key of interest, as routes name it.
type InterestKey = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// One end of a route connection (end `2l` is link `l`'s dialer, `2l + 1` its acceptor;
/// `end ^ 1` is the peer).
#[derive(Debug)]
struct RouteEndModel {
    node: NodeId,
    closed: bool,
    /// The interest this end's node processed from its peer on this connection.
    view: BTreeSet<InterestKey>,
}

/// A probe: a message published after the cluster settled, and everyone it must reach.
#[derive(Debug, Clone)]
struct Probe {
    id: MsgId,
    /// No subscription came or went anywhere since the probes started: interest had
    /// converged, so the probe is judged. (A client closed as a slow consumer by the probe
    /// flood, or coming back and subscribing again, changes interest while it crosses.)
    judged: bool,
    plain: Vec<SubKey>,
    groups: Vec<(Vec<u8>, Vec<SubKey>)>,
    /// Queue groups of the importer reached through a stream import, per node (each node
    /// imports for its own clients).
    cross_groups: Vec<(NodeId, Vec<u8>, Vec<SubKey>)>,
}

/// The model of the routes.
#[derive(Debug, Default)]
pub(super) struct ClusterModel {
    /// The nodes are in a cluster (otherwise each node is its own namespace).
    pub(super) enabled: bool,
    ends: Vec<RouteEndModel>,
    /// `(receiving end, message)`: a message the sending node surely routed.
    forward_owed: BTreeSet<(usize, MsgId)>,
    /// `(receiving end, message)`: a message the sending node may have routed (a queue
    /// group's draw may pick the route).
    forward_maybe: BTreeSet<(usize, MsgId)>,
    /// `(node, message)`: routed messages each node processed.
    routed_seen: BTreeSet<(NodeId, MsgId)>,
    probing: bool,
    probes: Vec<Probe>,
    /// Subscriptions that came or went (SUB, UNSUB, a close by the server), ever.
    pub(super) interest_changes: u64,
    /// `interest_changes` when the probes started.
    changes_at_probe: u64,
}

impl ClusterModel {
    /// True if neither end of link `l` closed.
    fn link_open(&self, l: usize) -> bool {
        !self.ends[2 * l].closed && !self.ends[2 * l + 1].closed
    }

    /// Did node `n` process message `id` from a route?
    pub(super) fn reached(&self, n: NodeId, id: MsgId) -> bool {
        self.routed_seen.contains(&(n, id))
    }
}

/// The account name routes use for `account` (`None` is `$G`).
fn account_name(account: Option<&str>) -> &[u8] {
    account.unwrap_or("$G").as_bytes()
}

impl Oracle {
    /// The nodes form a cluster: messages cross routes (see the cluster rule above).
    pub fn enable_cluster(&mut self) {
        self.cluster.enabled = true;
    }

    /// A route connection opened from node `dialer` to node `acceptor` (possibly the
    /// same node): returns its link id; its ends are `2 * id` (dialer) and `2 * id + 1`.
    pub fn open_route(&mut self, dialer: NodeId, acceptor: NodeId) -> usize {
        for node in [dialer, acceptor] {
            self.cluster.ends.push(RouteEndModel {
                node,
                closed: false,
                view: BTreeSet::new(),
            });
        }
        self.cluster.ends.len() / 2 - 1
    }

    /// Route end `end` closed (or its node crashed): its view is gone, and what it or its
    /// peer was owed is forgiven.
    pub fn route_closed(&mut self, end: usize) {
        let e = &mut self.cluster.ends[end];
        e.closed = true;
        e.view.clear();
    }

    /// From now on every publish is a probe (see the cluster rule).
    pub fn start_probes(&mut self) {
        self.cluster.probing = true;
        self.cluster.changes_at_probe = self.cluster.interest_changes;
    }

    /// Probes judged so far (see `Probe::judged`).
    pub fn judged_probes(&self) -> usize {
        self.cluster.probes.iter().filter(|p| p.judged).count()
    }

    /// Probes recorded so far.
    pub fn probes(&self) -> usize {
        self.cluster.probes.len()
    }

    /// Route end `end`'s node just processed `op` from its peer.
    pub fn on_route_op(&mut self, end: usize, op: &Op<'_>) -> Result<(), Violation> {
        match *op {
            Op::RSub {
                account,
                subject,
                queue,
                ..
            } => {
                let key = (
                    account.to_vec(),
                    subject.to_vec(),
                    queue.map(|(q, _)| q.to_vec()),
                );
                self.cluster.ends[end].view.insert(key);
            }
            Op::RUnsub {
                account,
                subject,
                queue,
                ..
            } => {
                let key = (
                    account.to_vec(),
                    subject.to_vec(),
                    queue.map(<[u8]>::to_vec),
                );
                self.cluster.ends[end].view.remove(&key);
            }
            Op::RMsg {
                account,
                subject,
                reply,
                queues,
                header_len,
                payload,
                has_headers,
            } => {
                // The servers' own traffic in the system account (their STATSZ gossip), not
                // a client's message: outside the model.
                if account == natsd_core::account::SYSTEM_ACCOUNT.as_bytes() {
                    return Ok(());
                }
                let body = payload.get(header_len..).unwrap_or_default();
                let names: Vec<Vec<u8>> = queues
                    .map(|q| q.split(|&b| b == b' ').map(<[u8]>::to_vec).collect())
                    .unwrap_or_default();
                self.on_routed(end, account, subject, reply, &names, body, has_headers)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Where the publish `id` of connection `from` on `subject` goes beyond its node: the
    /// routes whose view matches (owed for a plain key, maybe for a queue key only; maybe
    /// for any, if a weighted mapping sends it to `subject` or not: `drawn`).
    /// Returns whether any route matched (then the node counts the message as delivered:
    /// no 503) and, per queue group, the links that are its candidates.
    pub(super) fn forward(
        &mut self,
        from: ConnId,
        subject: &[u8],
        id: MsgId,
        drawn: bool,
    ) -> (bool, BTreeMap<Vec<u8>, Vec<usize>>) {
        let spec = &self.conns[from].spec;
        self.forward_in(spec.node, spec.account, subject, id, drawn)
    }

    /// [`Oracle::forward`] of a message in `account` on `node` (a service request goes on
    /// in the exporter's name).
    pub(super) fn forward_in(
        &mut self,
        node: NodeId,
        account: Option<&'static str>,
        subject: &[u8],
        id: MsgId,
        drawn: bool,
    ) -> (bool, BTreeMap<Vec<u8>, Vec<usize>>) {
        let mut groups: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
        if !self.cluster.enabled {
            return (false, groups);
        }
        let account = account_name(account);
        let mut any = false;
        for (e, end) in self.cluster.ends.iter().enumerate() {
            if end.node != node || end.closed {
                continue;
            }
            let mut plain = false;
            let mut queue = false;
            for (acc, pattern, q) in &end.view {
                if acc != account || !(self.matcher)(pattern, subject) {
                    continue;
                }
                match q {
                    None => plain = true,
                    Some(q) => {
                        queue = true;
                        let links = groups.entry(q.clone()).or_default();
                        if !links.contains(&(e / 2)) {
                            links.push(e / 2);
                        }
                    }
                }
            }
            any |= plain || queue;
            if plain && !drawn {
                self.cluster.forward_owed.insert((e ^ 1, id));
            } else if plain || queue {
                self.cluster.forward_maybe.insert((e ^ 1, id));
            }
        }
        (any, groups)
    }

    /// With probes on: records who must get the publish `id` of `from` (a read-only scan
    /// of every node's live subscriptions without a limit).
    pub(super) fn record_probe(&mut self, from: ConnId, subject: &[u8], id: MsgId) {
        if !self.cluster.probing {
            return;
        }
        let spec = &self.conns[from].spec;
        let mut plain = Vec::new();
        let mut groups: BTreeMap<Vec<u8>, Vec<SubKey>> = BTreeMap::new();
        // Groups with a limited member anywhere (the draw may pick it, or the route to it,
        // while an earlier probe is using it up), or one whose deny list filters the
        // subject (a route to its node may be drawn; it then takes nothing): not judged.
        let mut limited: BTreeSet<Vec<u8>> = BTreeSet::new();
        for node in &self.nodes {
            for (&key, s) in &node.subs {
                let to = &self.conns[key.0];
                let wanted = s.live
                    && !to.server_closed
                    && to.spec.account == spec.account
                    && (self.matcher)(&s.pattern, subject)
                    && (key.0 != from || spec.echo);
                if !wanted {
                    continue;
                }
                let filtered = to.spec.perms.as_ref().is_some_and(|p| p.filters(subject));
                let sure = !filtered && s.max.is_none();
                match (&s.queue, sure) {
                    (None, true) => plain.push(key),
                    (None, false) => {}
                    (Some(q), true) => groups.entry(q.clone()).or_default().push(key),
                    (Some(q), false) => {
                        limited.insert(q.clone());
                    }
                }
            }
        }
        groups.retain(|q, _| !limited.contains(q));
        // Through a stream import: every node imports it for the importer's clients there.
        let mut cross_groups: BTreeMap<(NodeId, Vec<u8>), Vec<SubKey>> = BTreeMap::new();
        let mut cross_limited: BTreeSet<(NodeId, Vec<u8>)> = BTreeSet::new();
        if let Some(imp) = self.import_for(self.gen(), spec.account, subject) {
            let mapped = imp.map(subject);
            for (n, node) in self.nodes.iter().enumerate() {
                for (&key, s) in &node.subs {
                    let to = &self.conns[key.0];
                    let wanted = s.live
                        && !to.server_closed
                        && to.spec.account == imp.importer
                        && (self.matcher)(&s.pattern, &mapped);
                    if !wanted {
                        continue;
                    }
                    let filtered = to.spec.perms.as_ref().is_some_and(|p| p.filters(&mapped));
                    let sure = !filtered && s.max.is_none();
                    match (&s.queue, sure) {
                        (None, true) => plain.push(key),
                        (None, false) => {}
                        (Some(q), true) => {
                            cross_groups.entry((n, q.clone())).or_default().push(key)
                        }
                        (Some(q), false) => {
                            cross_limited.insert((n, q.clone()));
                        }
                    }
                }
            }
        }
        cross_groups.retain(|k, _| !cross_limited.contains(k));
        let judged = self.cluster.interest_changes == self.cluster.changes_at_probe;
        self.cluster.probes.push(Probe {
            id,
            judged,
            plain,
            groups: groups.into_iter().collect(),
            cross_groups: cross_groups
                .into_iter()
                .map(|((n, q), m)| (n, q, m))
                .collect(),
        });
    }

    /// An `RMSG` processed by route end `end`'s node: checked, then what it owes there.
    #[allow(clippy::too_many_arguments)]
    fn on_routed(
        &mut self,
        end: usize,
        account: &[u8],
        subject: &[u8],
        reply: Option<&[u8]>,
        queues: &[Vec<u8>],
        body: &[u8],
        headers: bool,
    ) -> Result<(), Violation> {
        self.counts.routed += 1;
        let node = self.cluster.ends[end].node;
        let peer = self.cluster.ends[end ^ 1].node;
        let mut id = parse_body(body)?;
        let what = format!(
            "node {node} took {id:?} on {:?} from its route to node {peer} (link {})",
            String::from_utf8_lossy(subject),
            end / 2
        );
        let Some(p) = self.published.get(&id) else {
            return Err(Violation::new(
                K::Corrupt,
                format!("{what}: never published"),
            ));
        };
        // A service request goes on in the exporter's name (see `service.rs`).
        let d = super::service::derived(id);
        if account != account_name(p.account)
            && self
                .published
                .get(&d)
                .is_some_and(|q| account == account_name(q.account))
        {
            id = d;
        }
        let p = &self.published[&id];
        if p.node != peer {
            let msg = format!("{what}: published on node {}, a second hop", p.node);
            return Err(Violation::new(K::Hop, msg));
        }
        let published_in = p.account;
        if account != account_name(published_in) {
            let msg = format!(
                "{what}: published in account {}, routed in account {}",
                String::from_utf8_lossy(account_name(published_in)),
                String::from_utf8_lossy(account)
            );
            return Err(Violation::new(K::CrossAccount, msg));
        }
        if p.drawn {
            self.seen_drawn(id, published_in, subject, &what)?;
        }
        let p = &self.published[&id];
        if p.subject != subject {
            let msg = format!(
                "{what}: published on {:?}, which its account maps to {:?}",
                String::from_utf8_lossy(&p.original),
                String::from_utf8_lossy(&p.subject)
            );
            return Err(Violation::new(K::Mapping, msg));
        }
        let reply_fits = self.reply_fits(id, reply);
        let p = &self.published[&id];
        if !reply_fits || p.body != body {
            return Err(Violation::new(
                K::Corrupt,
                format!("{what}: differs from the PUB"),
            ));
        }
        if p.headers != headers {
            return Err(Violation::new(K::Corrupt, format!("{what}: headers lost")));
        }
        if !self.cluster.routed_seen.insert((node, id)) {
            return Err(Violation::new(K::Duplicate, format!("{what}: twice")));
        }
        let owed = self.cluster.forward_owed.remove(&(end, id));
        let maybe = self.cluster.forward_maybe.remove(&(end, id));
        if !owed && !maybe {
            let msg = format!("{what}: that node had no interest from this one for it");
            return Err(Violation::new(K::Unexpected, msg));
        }
        for q in queues {
            let qo = self.queue_owed.get(&(id, q.clone()));
            if !qo.is_some_and(|qo| qo.routes.contains(&(end / 2))) {
                let msg = format!(
                    "{what}: names queue {:?}, not a candidate there",
                    String::from_utf8_lossy(q)
                );
                return Err(Violation::new(K::Unexpected, msg));
            }
            if let Some((n, _)) = qo.and_then(|qo| qo.routed) {
                let msg = format!(
                    "{what}: queue {:?} was already routed to node {n}",
                    String::from_utf8_lossy(q)
                );
                return Err(Violation::new(K::QueueTwice, msg));
            }
        }
        let mut groups = self
            .match_local(node, published_in, None, subject, id, Some(queues), false)
            .groups;
        // This node imports it for its own clients (stream imports), whatever the queues.
        self.match_cross(node, published_in, subject, id, false);
        // A response to a request made on this node goes back to its requester.
        self.service_response(node, published_in, subject, id);
        for q in queues {
            let members = groups.remove(q).unwrap_or_default();
            let exact = members.iter().any(|&(_, unlimited)| unlimited);
            let qo: &mut QueueOwed = self
                .queue_owed
                .get_mut(&(id, q.clone()))
                .expect("checked above");
            qo.routed = Some((node, exact));
            qo.candidates.extend(members.into_iter().map(|(k, _)| k));
        }
        Ok(())
    }

    /// The cluster's end-of-run checks: every message surely routed on a route that stayed
    /// open arrived, and every probe reached everyone it had to.
    pub(super) fn finish_cluster(&self) -> Result<(), Violation> {
        for &(end, id) in &self.cluster.forward_owed {
            if self.cluster.link_open(end / 2) {
                let msg = format!(
                    "node {} never took {id:?} from its open route to node {} (link {})",
                    self.cluster.ends[end].node,
                    self.cluster.ends[end ^ 1].node,
                    end / 2
                );
                return Err(Violation::new(K::Missing, msg));
            }
        }
        for p in self.cluster.probes.iter().filter(|p| p.judged) {
            for &key in &p.plain {
                let got = self
                    .received
                    .get(&key)
                    .is_some_and(|r| r.seen.contains(&p.id));
                if !got && !self.conns[key.0].excused {
                    let msg = format!(
                        "probe {:?} on {:?} never reached connection {} (node {}) sid {}",
                        p.id,
                        String::from_utf8_lossy(&self.published[&p.id].subject),
                        key.0,
                        self.conns[key.0].spec.node,
                        key.1
                    );
                    return Err(Violation::new(K::Missing, msg));
                }
            }
            for (n, q, members) in &p.cross_groups {
                if members.iter().any(|k| self.conns[k.0].excused) {
                    continue;
                }
                let qo = self.cross_queue.get(&(p.id, *n, q.clone()));
                let got = qo.map_or(0, |qo| qo.got);
                if got != 1 {
                    let msg = format!(
                        "probe {:?} reached queue {:?} on node {n} {got} times through its import (members {members:?})",
                        p.id,
                        String::from_utf8_lossy(q)
                    );
                    return Err(Violation::new(K::QueueMissing, msg));
                }
            }
            for (q, members) in &p.groups {
                if members.iter().any(|k| self.conns[k.0].excused) {
                    continue;
                }
                let qo = self.queue_owed.get(&(p.id, q.clone()));
                let got = qo.map_or(0, |qo| qo.got);
                if got != 1 {
                    let msg = format!(
                        "probe {:?} reached queue {:?} {got} times (members {members:?}; {qo:?})",
                        p.id,
                        String::from_utf8_lossy(q)
                    );
                    return Err(Violation::new(K::QueueMissing, msg));
                }
            }
        }
        Ok(())
    }

    /// May queue group `qo` have got nothing? Not when no candidate closed and, if it was
    /// routed, the node it went to had a member without a limit; or, if not, when some
    /// candidate here had no limit or a route could take it (a route always takes what
    /// the draw hands it) and those routes stayed open, unless a weighted mapping may have
    /// sent the message elsewhere.
    pub(super) fn queue_required(&self, qo: &QueueOwed) -> bool {
        let open = qo.candidates.iter().all(|k| !self.conns[k.0].excused);
        let routes_open = qo.routes.iter().all(|&l| self.cluster.link_open(l));
        let required = match qo.routed {
            Some((_, exact)) => exact,
            None => !qo.drawn && (qo.exact || !qo.routes.is_empty()) && routes_open,
        };
        open && required
    }
}
