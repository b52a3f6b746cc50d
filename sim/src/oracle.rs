//! The oracles: a naive model of the server that says what every client must receive.
//!
//! The model is driven at *server-processing time*: the world parses each client's
//! server-bound bytes with a second parser, chunk by chunk, exactly as they are handed to
//! `Connection::handle_read`, and calls [`Oracle::on_server_op`] for each op. Because one
//! chunk is processed by one connection without interleaving, the model sees ops in the same
//! global order as the server does, so at each PUB it can compute the exact deliveries owed
//! from its own linear list of live subscriptions (the naive matcher).
//!
//! Checks, as deliveries arrive ([`Oracle::on_delivery`]) and at the end ([`Oracle::finish`]):
//! 1. every MSG is for a sid that was live at publish time and whose pattern matches, and every
//!    owed delivery arrives (completeness, for clients that were never closed);
//! 2. per-publisher sequence numbers increase on each sid;
//! 3. no message arrives twice on one sid;
//! 4. one member per queue group per message (exactly one when no candidate was closed);
//! 5. a sid with `UNSUB sid N` never gets more than N messages;
//! 6. `echo:false` clients never get their own messages;
//! 7. PING is a flush barrier: the PONG a client gets comes after every plain delivery owed
//!    to it when the server processed that PING, and every PING gets its PONG.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use natsd_core::proto::Op;

/// A client index in the world (0-based).
pub type ClientId = usize;
/// (client, sid): a subscription.
pub type SubKey = (ClientId, u64);
/// (publisher, sequence): a message.
pub type MsgId = (ClientId, u64);

/// Which rule a run broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// A delivery the model does not owe: unknown sid, sid not live, or pattern mismatch.
    Unexpected,
    /// A delivery whose pattern does not match its subject under the naive matcher.
    NoMatch,
    /// The same message twice on one sid.
    Duplicate,
    /// A publisher's sequence numbers went backwards on a sid.
    OutOfOrder,
    /// Two members of one queue group got the same message.
    QueueTwice,
    /// No member of a queue group got a message although all candidates stayed connected.
    QueueMissing,
    /// More deliveries on a sid than its auto-unsubscribe limit.
    OverMax,
    /// An `echo:false` client got its own message.
    Echo,
    /// A PONG overtook a delivery queued before its PING, or never came.
    Flush,
    /// An owed delivery never arrived (liveness).
    Missing,
    /// Bytes stayed queued for a live client: a lost wake-up (liveness).
    Stuck,
    /// The run did not settle within its event budget (liveness).
    NoLiveness,
    /// The server sent `-ERR`, closed a well-behaved client, or refused its input.
    ServerError,
    /// A delivery whose subject, reply, payload or framing differs from what was published.
    Corrupt,
}

/// A broken rule, with enough detail to start debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub kind: ViolationKind,
    /// What happened, in words.
    pub detail: String,
}

impl Violation {
    /// A violation of `kind` described by `detail`.
    pub fn new(kind: ViolationKind, detail: impl Into<String>) -> Violation {
        Violation {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}

/// A subscription as the model believes the server holds it.
#[derive(Debug, Clone)]
struct ModelSub {
    pattern: Vec<u8>,
    queue: Option<Vec<u8>>,
    live: bool,
    /// Auto-unsubscribe limit, once `UNSUB sid N` was processed.
    max: Option<u64>,
    /// Deliveries the model owes this sid so far (the server's `delivered` counter).
    owed: u64,
    /// Queue messages this member was a candidate for: an upper bound on what the server
    /// gave it (the model cannot know which member the server's random choice picked).
    candidacies: u64,
}

/// What was published, to check deliveries byte for byte.
#[derive(Debug, Clone)]
struct Published {
    subject: Vec<u8>,
    reply: Option<Vec<u8>>,
    body: Vec<u8>,
    headers: bool,
}

/// One message owed to one queue group.
#[derive(Debug, Clone)]
struct QueueOwed {
    candidates: Vec<SubKey>,
    /// Some candidate has no limit, so exactly one member must get it (else at most one).
    exact: bool,
    got: u32,
}

/// What a sid has received.
#[derive(Debug, Clone, Default)]
struct Received {
    count: u64,
    seen: BTreeSet<MsgId>,
    last_seq: BTreeMap<ClientId, u64>,
}

/// The pattern matcher the oracle trusts; replaceable so tests can prove the oracle bites.
pub type Matcher = fn(&[u8], &[u8]) -> bool;

/// The model of the server and the record of what clients received.
#[derive(Debug)]
pub struct Oracle {
    matcher: Matcher,
    echo: Vec<bool>,
    /// Clients that were closed at some point (by themselves or the server): nothing owed to
    /// them is required to arrive.
    excused: Vec<bool>,
    subs: BTreeMap<SubKey, ModelSub>,
    published: BTreeMap<MsgId, Published>,
    /// Plain deliveries owed: true once received.
    owed: BTreeMap<(SubKey, MsgId), bool>,
    queue_owed: BTreeMap<(MsgId, Vec<u8>), QueueOwed>,
    received: BTreeMap<SubKey, Received>,
    /// Per client, for each PING processed and not yet answered: the plain deliveries owed
    /// at that moment and not yet received.
    barriers: BTreeMap<ClientId, VecDeque<Vec<(SubKey, MsgId)>>>,
    /// Deliveries checked so far.
    pub deliveries: u64,
    /// Of which to queue subscriptions.
    pub queue_deliveries: u64,
    /// Of which as HMSG.
    pub hmsgs: u64,
    /// Auto-unsubscribe limits reached in the model.
    pub limits_reached: u64,
}

impl Oracle {
    /// An oracle for `echo.len()` clients, `echo[i]` being client i's CONNECT `echo`.
    pub fn new(echo: Vec<bool>, matcher: Matcher) -> Oracle {
        let n = echo.len();
        Oracle {
            matcher,
            echo,
            excused: vec![false; n],
            subs: BTreeMap::new(),
            published: BTreeMap::new(),
            owed: BTreeMap::new(),
            queue_owed: BTreeMap::new(),
            received: BTreeMap::new(),
            barriers: BTreeMap::new(),
            deliveries: 0,
            queue_deliveries: 0,
            hmsgs: 0,
            limits_reached: 0,
        }
    }

    /// Messages the server has processed so far.
    pub fn published(&self) -> usize {
        self.published.len()
    }

    /// Client `c` was closed (or stopped reading for good): deliveries owed to it become
    /// optional. Safety checks on what it did receive still apply.
    pub fn excuse(&mut self, c: ClientId) {
        self.excused[c] = true;
    }

    /// The server closed client `c`'s connection: its subscriptions are gone.
    pub fn server_closed(&mut self, c: ClientId) {
        self.excused[c] = true;
        for (_, s) in self.subs.range_mut((c, 0)..=(c, u64::MAX)) {
            s.live = false;
        }
    }

    /// The server has just processed `op` from client `from` (called in server order).
    pub fn on_server_op(&mut self, from: ClientId, op: &Op<'_>) -> Result<(), Violation> {
        match *op {
            Op::Sub {
                subject,
                queue,
                sid,
            } => {
                let key = (from, parse_sid(sid)?);
                // A reused live sid is ignored by the server; clients here never reuse sids.
                if !self.subs.get(&key).is_some_and(|s| s.live) {
                    let sub = ModelSub {
                        pattern: subject.to_vec(),
                        queue: queue.map(<[u8]>::to_vec),
                        live: true,
                        max: None,
                        owed: 0,
                        candidacies: 0,
                    };
                    self.subs.insert(key, sub);
                }
            }
            Op::Unsub { sid, max } => {
                let key = (from, parse_sid(sid)?);
                if let Some(s) = self.subs.get_mut(&key).filter(|s| s.live) {
                    match max {
                        // A queue member stays a candidate: only the server knows whether
                        // the limit is already reached. It got at most `candidacies` so
                        // far, so it never gets more than max(limit, candidacies).
                        Some(m) if s.queue.is_some() => s.max = Some(m.max(s.candidacies)),
                        Some(m) if m > s.owed => s.max = Some(m),
                        _ => s.live = false,
                    }
                }
            }
            Op::Pub {
                subject,
                reply,
                payload,
            } => {
                self.on_publish(from, subject, reply, payload, false)?;
            }
            Op::HPub {
                subject,
                reply,
                header_len,
                payload,
            } => {
                self.on_publish(from, subject, reply, &payload[header_len..], true)?;
            }
            Op::Ping => {
                let lo = ((from, 0), (0, 0));
                let hi = ((from, u64::MAX), (ClientId::MAX, u64::MAX));
                let pending: Vec<(SubKey, MsgId)> = self
                    .owed
                    .range(lo..=hi)
                    .filter(|(_, &got)| !got)
                    .map(|(&k, _)| k)
                    .collect();
                self.barriers.entry(from).or_default().push_back(pending);
            }
            _ => {}
        }
        Ok(())
    }

    /// A PUB processed by the server: record it and compute every delivery it owes.
    fn on_publish(
        &mut self,
        from: ClientId,
        subject: &[u8],
        reply: Option<&[u8]>,
        body: &[u8],
        headers: bool,
    ) -> Result<(), Violation> {
        let id = parse_body(body)?;
        if id.0 != from {
            return Err(Violation::new(
                ViolationKind::Corrupt,
                "payload names another publisher",
            ));
        }
        let p = Published {
            subject: subject.to_vec(),
            reply: reply.map(<[u8]>::to_vec),
            body: body.to_vec(),
            headers,
        };
        assert!(
            self.published.insert(id, p).is_none(),
            "harness bug: sequence reused {id:?}"
        );
        let mut groups: BTreeMap<Vec<u8>, Vec<(SubKey, bool)>> = BTreeMap::new();
        for (&key, s) in self.subs.iter_mut() {
            if !s.live || !(self.matcher)(&s.pattern, subject) {
                continue;
            }
            if key.0 == from && !self.echo[from] {
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
                    self.owed.insert((key, id), false);
                    s.owed += 1;
                    if s.max == Some(s.owed) {
                        s.live = false;
                        self.limits_reached += 1;
                    }
                }
            }
        }
        for (q, members) in groups {
            let exact = members.iter().any(|&(_, unlimited)| unlimited);
            let candidates = members.into_iter().map(|(k, _)| k).collect();
            self.queue_owed.insert(
                (id, q),
                QueueOwed {
                    candidates,
                    exact,
                    got: 0,
                },
            );
        }
        Ok(())
    }

    /// Client `to` received a MSG/HMSG. Checks oracles 1-6 for it.
    #[allow(clippy::too_many_arguments)]
    pub fn on_delivery(
        &mut self,
        to: ClientId,
        sid: &[u8],
        subject: &[u8],
        reply: Option<&[u8]>,
        body: &[u8],
        hmsg: bool,
    ) -> Result<(), Violation> {
        use ViolationKind as K;
        self.deliveries += 1;
        let key = (to, parse_sid(sid)?);
        let id = parse_body(body)?;
        let what = format!(
            "client {to} sid {} got {id:?} on {:?}",
            key.1,
            String::from_utf8_lossy(subject)
        );
        let Some(p) = self.published.get(&id) else {
            return Err(Violation::new(
                K::Corrupt,
                format!("{what}: never published"),
            ));
        };
        if p.subject != subject || p.reply.as_deref() != reply || p.body != body {
            return Err(Violation::new(
                K::Corrupt,
                format!("{what}: differs from the PUB"),
            ));
        }
        if p.headers != hmsg {
            return Err(Violation::new(
                K::Corrupt,
                format!("{what}: MSG/HMSG framing wrong"),
            ));
        }
        self.hmsgs += u64::from(hmsg);
        if id.0 == to && !self.echo[to] {
            return Err(Violation::new(K::Echo, format!("{what}: echo is off")));
        }
        let Some(sub) = self.subs.get(&key) else {
            return Err(Violation::new(
                K::Unexpected,
                format!("{what}: sid never subscribed"),
            ));
        };
        if !(self.matcher)(&sub.pattern, subject) {
            let pat = String::from_utf8_lossy(&sub.pattern);
            return Err(Violation::new(
                K::NoMatch,
                format!("{what}: pattern {pat:?} no match"),
            ));
        }
        let max = sub.max;
        let queue = sub.queue.clone();
        let rec = self.received.entry(key).or_default();
        if !rec.seen.insert(id) {
            return Err(Violation::new(K::Duplicate, format!("{what}: twice")));
        }
        if rec.last_seq.get(&id.0).is_some_and(|&last| last >= id.1) {
            return Err(Violation::new(
                K::OutOfOrder,
                format!("{what}: after a later seq"),
            ));
        }
        rec.last_seq.insert(id.0, id.1);
        rec.count += 1;
        if let Some(m) = max.filter(|&m| rec.count > m) {
            return Err(Violation::new(
                K::OverMax,
                format!("{what}: over UNSUB max {m}"),
            ));
        }
        match queue {
            None => match self.owed.get_mut(&(key, id)) {
                Some(got) => *got = true,
                None => {
                    let msg = format!("{what}: sid was not live when it was published");
                    return Err(Violation::new(K::Unexpected, msg));
                }
            },
            Some(q) => {
                let Some(qo) = self.queue_owed.get_mut(&(id, q)) else {
                    return Err(Violation::new(
                        K::Unexpected,
                        format!("{what}: no queue owed"),
                    ));
                };
                if !qo.candidates.contains(&key) {
                    let msg = format!("{what}: not a live queue member at publish time");
                    return Err(Violation::new(K::Unexpected, msg));
                }
                qo.got += 1;
                self.queue_deliveries += 1;
                if qo.got > 1 {
                    return Err(Violation::new(
                        K::QueueTwice,
                        format!("{what}: group got it twice"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Client `c` received a PONG: it answers its oldest unanswered PING, so everything
    /// owed to `c` when that PING was processed must already be here.
    pub fn on_pong(&mut self, c: ClientId) -> Result<(), Violation> {
        let Some(pending) = self.barriers.get_mut(&c).and_then(VecDeque::pop_front) else {
            let msg = format!("client {c} got a PONG it never asked for");
            return Err(Violation::new(ViolationKind::Flush, msg));
        };
        if let Some((key, id)) = pending.into_iter().find(|k| !self.owed[k]) {
            let msg = format!("client {c}: PONG overtook {id:?} owed to sid {}", key.1);
            return Err(Violation::new(ViolationKind::Flush, msg));
        }
        Ok(())
    }

    /// The end-of-run liveness check: everything owed to a never-closed client arrived, and
    /// each queue group whose candidates all stayed connected got each message once.
    pub fn finish(&self) -> Result<(), Violation> {
        for (&(key, id), &got) in &self.owed {
            if !got && !self.excused[key.0] {
                let s = &self.subs[&key];
                let detail = format!(
                    "client {} sid {} ({:?}) never got {id:?} on {:?}",
                    key.0,
                    key.1,
                    String::from_utf8_lossy(&s.pattern),
                    String::from_utf8_lossy(&self.published[&id].subject),
                );
                return Err(Violation::new(ViolationKind::Missing, detail));
            }
        }
        for (&c, pings) in &self.barriers {
            if !pings.is_empty() && !self.excused[c] {
                let msg = format!("client {c}: {} PINGs never answered", pings.len());
                return Err(Violation::new(ViolationKind::Flush, msg));
            }
        }
        for ((id, q), qo) in &self.queue_owed {
            if qo.got == 0 && qo.exact && qo.candidates.iter().all(|k| !self.excused[k.0]) {
                let detail = format!(
                    "queue {:?} never got {id:?} (candidates {:?})",
                    String::from_utf8_lossy(q),
                    qo.candidates
                );
                return Err(Violation::new(ViolationKind::QueueMissing, detail));
            }
        }
        Ok(())
    }
}

/// Sids are decimal in this simulation.
fn parse_sid(sid: &[u8]) -> Result<u64, Violation> {
    std::str::from_utf8(sid)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Violation::new(ViolationKind::Corrupt, format!("bad sid {sid:?}")))
}

/// Payloads start `P<publisher>.<seq>.` (see [`crate::client::payload`]).
pub fn parse_body(body: &[u8]) -> Result<MsgId, Violation> {
    let bad = || Violation::new(ViolationKind::Corrupt, "payload without an id".to_string());
    let rest = body.strip_prefix(b"P").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, |&b| b == b'.');
    let mut num = || -> Result<u64, Violation> {
        let t = parts.next().ok_or_else(bad)?;
        std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let publisher = num()?;
    let seq = num()?;
    Ok((publisher as ClientId, seq))
}
