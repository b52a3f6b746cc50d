//! The client side of the model: every delivery as it arrives, checked against what was
//! published and what the receiving connection's node (and account) owed it.

use super::{parse_body, parse_sid, ConnId, Oracle, Violation, ViolationKind as K};

impl Oracle {
    /// Connection `to` received a MSG/HMSG (`body` without headers). Checks oracles 1-6
    /// and 9 for it.
    #[allow(clippy::too_many_arguments)]
    pub fn on_delivery(
        &mut self,
        to: ConnId,
        sid: &[u8],
        subject: &[u8],
        reply: Option<&[u8]>,
        body: &[u8],
        hmsg: bool,
    ) -> Result<(), Violation> {
        self.counts.deliveries += 1;
        let key = (to, parse_sid(sid)?);
        let mut id = parse_body(body)?;
        let conn = &self.conns[to].spec;
        // The copy a service import made (a request in the exporter, a response back in
        // the importer), unless this is the message itself (see `service.rs`).
        let d = super::service::derived(id);
        let copy_fits = self.published.get(&d).is_some_and(|c| {
            let crossed = self
                .import_for(c.gen, c.account, &c.subject)
                .is_some_and(|i| i.importer == conn.account && i.map(&c.subject) == subject);
            (c.account == conn.account && c.subject == subject) || crossed
        });
        if copy_fits {
            id = d;
            if self.service.is_request(d) {
                self.counts.service_requests += 1;
            } else {
                self.counts.service_responses += 1;
            }
        }
        let what = format!(
            "connection {to} (client {}, node {}) sid {} got {id:?} on {:?}",
            conn.client,
            conn.node,
            key.1,
            String::from_utf8_lossy(subject)
        );
        let Some(p) = self.published.get(&id) else {
            return Err(Violation::new(
                K::Corrupt,
                format!("{what}: never published"),
            ));
        };
        // A message crosses nodes only through a route (cluster): the subscriber's node
        // must have taken it from the route to the publisher's.
        if p.node != conn.node {
            if !self.cluster.reached(conn.node, id) {
                let msg = format!("{what}: published on node {}", p.node);
                return Err(Violation::new(K::CrossNode, msg));
            }
            self.counts.remote_deliveries += 1;
        }
        if p.drawn {
            // Through a weighted mapping: the subject tells which destination, if any.
            let account = conn.account;
            self.seen_drawn(id, account, subject, &what)?;
        }
        let conn = &self.conns[to].spec;
        let p = &self.published[&id];
        let published_in = p.account;
        // Across accounts only through an import of the subscriber's account from the
        // publisher's whose subject matches, renamed by it.
        let mut expected = p.subject.clone();
        let mut imported = false;
        if published_in != conn.account {
            let import = self
                .import_for(p.gen, published_in, &p.subject)
                .filter(|i| i.importer == conn.account);
            let Some(import) = import else {
                let name = |a: Option<&str>| a.unwrap_or("$G").to_string();
                let msg = format!(
                    "{what}: published in account {} on {:?}, delivered in account {} (no import)",
                    name(published_in),
                    String::from_utf8_lossy(&p.subject),
                    name(conn.account)
                );
                return Err(Violation::new(K::CrossAccount, msg));
            };
            expected = import.map(&p.subject);
            imported = true;
            if subject != expected {
                let msg = format!(
                    "{what}: published in another account on {:?}, its import renames it {:?}",
                    String::from_utf8_lossy(&p.subject),
                    String::from_utf8_lossy(&expected)
                );
                return Err(Violation::new(K::CrossAccount, msg));
            }
        } else if subject != p.subject
            && self.imports[p.gen]
                .iter()
                .any(|i| i.importer == conn.account && i.map(&p.subject) == subject)
        {
            // Renamed by an import into its own account: it came from another account.
            let msg = format!(
                "{what}: renamed by an import into its account, but published there on {:?}",
                String::from_utf8_lossy(&p.subject)
            );
            return Err(Violation::new(K::CrossAccount, msg));
        }
        if expected != subject {
            let msg = format!(
                "{what}: published on {:?}, which its account maps to {:?}",
                String::from_utf8_lossy(&p.original),
                String::from_utf8_lossy(&expected)
            );
            return Err(Violation::new(K::Mapping, msg));
        }
        self.counts.mapped_deliveries += u64::from(p.subject != p.original);
        self.counts.first_mapping_deliveries += u64::from(p.rule == Some((0, 0)));
        let body_fits = p.body == body;
        if !self.reply_fits(id, reply) || !body_fits {
            let msg = format!("{what}: differs from the PUB");
            return Err(Violation::new(K::Corrupt, msg));
        }
        let conn = &self.conns[to].spec;
        let p = &self.published[&id];
        // Headers reach only subscribers that take them; the others get a plain MSG with
        // the body alone.
        if (p.headers && conn.headers) != hmsg {
            let msg = format!("{what}: MSG/HMSG framing wrong");
            return Err(Violation::new(K::Corrupt, msg));
        }
        self.counts.hmsgs += u64::from(hmsg);
        self.counts.stripped += u64::from(p.headers && !hmsg);
        if p.from == to && !conn.echo {
            return Err(Violation::new(K::Echo, format!("{what}: echo is off")));
        }
        if conn.perms.as_ref().is_some_and(|pm| pm.filters(subject)) {
            let msg = format!("{what}: its subscribe permissions deny the subject");
            return Err(Violation::new(K::Permission, msg));
        }
        let Some(sub) = self.nodes[conn.node].subs.get(&key) else {
            return Err(Violation::new(
                K::Unexpected,
                format!("{what}: sid never subscribed"),
            ));
        };
        if !(self.matcher)(&sub.pattern, subject) {
            let pat = String::from_utf8_lossy(&sub.pattern);
            let msg = format!("{what}: pattern {pat:?} no match");
            return Err(Violation::new(K::NoMatch, msg));
        }
        let (max, msub) = (sub.max, sub.msub);
        self.counts.imported += u64::from(imported);
        let queue = sub.queue.clone();
        let from = p.from;
        let rec = self.received.entry(key).or_default();
        if !rec.seen.insert(id) {
            return Err(Violation::new(K::Duplicate, format!("{what}: twice")));
        }
        // Order holds per publishing connection: a client's old connection may still
        // deliver its last publishes after its new one (to the same node) delivered others.
        // A service import's copy is in order with its publisher's other messages; a
        // request and its own copy (the same seq: `seen` rules out a true duplicate) may
        // reach one subscription in either order (reload seed 7319: `svc.b` in `A` to the
        // requester's own `>`, and its copy back through `B`'s `*.* -> $2.$1` and the
        // stream import of `c.*` to `A` as `a.c.rpc`, first, in the core's match order).
        let seq = super::service::seq(id);
        if rec.last_seq.get(&from).is_some_and(|&last| last > seq) {
            let msg = format!("{what}: after a later seq of connection {from}");
            return Err(Violation::new(K::OutOfOrder, msg));
        }
        rec.last_seq.insert(from, seq);
        rec.count += 1;
        self.counts.msub_deliveries += u64::from(msub);
        self.counts.msub_filled += u64::from(msub && queue.is_none() && max == Some(rec.count));
        if let Some(m) = max.filter(|&m| rec.count > m) {
            if msub {
                let msg = format!("{what}: delivery {} to an MSUB with max {m}", rec.count);
                return Err(Violation::new(K::MsubMax, msg));
            }
            let msg = format!("{what}: over UNSUB max {m}");
            return Err(Violation::new(K::OverMax, msg));
        }
        match queue {
            None => {
                if !self.pending.remove(&(key, id)) && !self.maybe.remove(&(key, id)) {
                    let msg = format!("{what}: sid was not live when it was published");
                    return Err(Violation::new(K::Unexpected, msg));
                }
            }
            Some(q) => {
                let owed = if imported {
                    self.cross_queue.get_mut(&(id, conn.node, q))
                } else {
                    self.queue_owed.get_mut(&(id, q))
                };
                let Some(qo) = owed else {
                    let msg = format!("{what}: no queue owed");
                    return Err(Violation::new(K::Unexpected, msg));
                };
                if !qo.candidates.contains(&key) {
                    let msg = format!("{what}: not a live queue member at publish time");
                    return Err(Violation::new(K::Unexpected, msg));
                }
                qo.got += 1;
                self.counts.queue_deliveries += 1;
                if qo.got > 1 {
                    let msg = format!("{what}: group got it twice");
                    return Err(Violation::new(K::QueueTwice, msg));
                }
            }
        }
        Ok(())
    }

    /// Connection `to` received a 503 no-responders status on `sid` for the reply subject
    /// `subject`. Allowed once per request, on one of the requester's own subscriptions on
    /// the reply subject, when the request may have reached nobody: every connection that
    /// surely takes it was closed by the server since (a receiver that became a slow
    /// consumer while the request was delivered did not take it).
    pub fn on_no_responders(
        &mut self,
        to: ConnId,
        sid: &[u8],
        subject: &[u8],
    ) -> Result<(), Violation> {
        let key = (to, parse_sid(sid)?);
        let what = format!(
            "connection {to} sid {} got a 503 status on {:?}",
            key.1,
            String::from_utf8_lossy(subject)
        );
        let Some(nr) = self.no_responders.get_mut(&(to, subject.to_vec())) else {
            let msg = format!("{what}: no request of a no_responders connection");
            return Err(Violation::new(K::Unexpected, msg));
        };
        if !nr.own.contains(&key) {
            let msg = format!("{what}: not its subscription on the reply subject");
            return Err(Violation::new(K::Unexpected, msg));
        }
        if nr.got {
            return Err(Violation::new(K::Duplicate, format!("{what}: twice")));
        }
        if let Some(c) = nr.takers.iter().find(|&&c| !self.conns[c].server_closed) {
            let msg = format!("{what}: connection {c} could take the request");
            return Err(Violation::new(K::Unexpected, msg));
        }
        nr.got = true;
        self.counts.no_responders += 1;
        Ok(())
    }
}
